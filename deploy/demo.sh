#!/usr/bin/env bash
# make demo: the whole path on one machine. edge-control with its embedded
# MQTT broker, one edge-agent registered as device demo-1, an operator key
# from `edgectl keygen`, `edgectl push` of the order service to the device,
# then the seed article's curl workflow against the device; then it keeps
# serving (dashboard included) until Ctrl-C. edgectl authenticates with the
# admin token the controller wrote to its data folder at its first start.
# Everything lives in a temporary folder that is removed on exit.
#
# DEMO_ONESHOT=1 exits after the workflow (tests/e2e TestDemoScript).
# BIN=folder picks the built programs (default bin).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DEMO=deploy/demo
DEVICE=demo-1
work=$(mktemp -d -t edge-demo.XXXXXX)
control_log="$work/edge-control.log"
agent_log="$work/edge-agent.log"

# stop PID: SIGTERM, then wait up to 10s before SIGKILL.
stop() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  # The agent first: it stops its module workers; then the controller.
  [[ -n "${agent:-}" ]] && stop "$agent"
  [[ -n "${control:-}" ]] && stop "$control"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

fail() { # message, logs to show...
  local msg=$1; shift
  for f in "$@"; do [[ -s "$f" ]] && { echo "--- $f" >&2; cat "$f" >&2; }; done
  echo "demo: $msg" >&2
  exit 1
}

# wait_for LOG PID PATTERN: print the first match of PATTERN in LOG.
wait_for() {
  local log=$1 pid=$2 pattern=$3 line
  for _ in $(seq 1 600); do
    line=$(grep -m1 -oE "$pattern" "$log" 2>/dev/null || true)
    [[ -n "$line" ]] && { echo "$line"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# free_port: a loopback TCP port nothing listens on right now, below the
# kernel's ephemeral range (where outgoing connections take their source
# ports, so a port from there may be gone before the module binds it).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[1m$ %s\033[0m\n' "$*"; "$@"; }

say "controller with its embedded MQTT broker"
# The controller and the agent run in sessions of their own (setsid): a
# Ctrl-C reaches only this script, whose cleanup stops them in order.
setsid "$BIN/edge-control" --data "$work/control" --http 127.0.0.1:0 --mqtt 127.0.0.1:0 >"$control_log" 2>&1 &
control=$!
ready=$(wait_for "$control_log" "$control" 'edge-control: http on http://[0-9.:]+, mqtt on tcp://[0-9.:]+') ||
  fail "edge-control did not become ready" "$control_log"
echo "$ready"
control_url=$(grep -oE 'http://[0-9.:]+' <<<"$ready")
mqtt_addr=$(grep -oE 'tcp://[0-9.:]+' <<<"$ready")

say "operator token"
# The controller's first start created an admin token and wrote it to
# its data folder (0600). edgectl reads it from EDGE_TOKEN.
token_file="$work/control/admin.token"
[[ -s "$token_file" ]] || fail "edge-control wrote no $token_file" "$control_log"
printf '\033[1m$ export EDGE_TOKEN=$(cat %s)\033[0m\n' "$token_file"
EDGE_TOKEN=$(cat "$token_file")
export EDGE_TOKEN

say "operator signing key"
run "$BIN/edgectl" keygen --out "$work/keys"

say "register device $DEVICE"
printf '\033[1m$ %s\033[0m\n' "$BIN/edgectl device add $DEVICE --control $control_url --json"
cred=$("$BIN/edgectl" device add "$DEVICE" --control "$control_url" --json 2>"$work/device-add.err") ||
  fail "edgectl device add failed" "$work/device-add.err"
password=$(sed -n 's/.*"password": *"\([^"]*\)".*/\1/p' <<<"$cred")
[[ -n "$password" ]] || fail "no password in: $cred"
echo "device $DEVICE registered (password kept for the agent only)"

say "agent for $DEVICE"
# The password goes in a 0600 file, not on the command line (ps shows those).
(umask 077; printf '%s\n' "$password" >"$work/$DEVICE.pw")
setsid "$BIN/edge-agent" run --id "$DEVICE" --broker "$mqtt_addr" --password-file "$work/$DEVICE.pw" \
  --data "$work/agent" --trust "$work/keys/edge.pub" --listen 127.0.0.1 >"$agent_log" 2>&1 &
agent=$!
wait_for "$agent_log" "$agent" 'edge-agent: running as .*' ||
  fail "edge-agent did not start" "$agent_log" "$control_log"

port=$(free_port) || fail "no free port"
url="http://127.0.0.1:$port"

say "sign, upload and deploy the order service"
run "$BIN/edgectl" push "$BIN/orders.wasm" --control "$control_url" --key "$work/keys/edge.key" \
  --version 1.0.0 --node "$DEVICE" --db sqlite --port "$port" ||
  fail "edgectl push failed" "$agent_log" "$control_log"

step() { # description, curl args...
  local what=$1; shift
  printf '\n\033[1m$ curl %s\033[0m   # %s\n' "$*" "$what"
  curl -sS -w '\n(HTTP %{http_code})\n' "$@"
}

say "the seed's curl workflow against the device"
step "list the endpoints"             "$url/"
step "init the database table"        "$url/init"
step "insert a set of records"        "$url/create_orders" -X POST -d @$DEMO/orders.json
step "query the records"              "$url/orders"
step "delete the record with id 2"    "$url/delete_order?id=2"
step "query again"                    "$url/orders"
step "update order 3"                 "$url/update_order" -X POST -d @$DEMO/update_order.json
step "query again"                    "$url/orders"
step "insert one record"              "$url/create_order" -X POST -d @$DEMO/order.json
step "bad JSON is a 400, not a crash" "$url/create_order" -X POST -d '{"order_id":'

say "telemetry: a second module with MQTT triggers, key-value state and a call to the order service"
tport=$(free_port) || fail "no free port"
turl="http://127.0.0.1:$tport"
run "$BIN/edgectl" push "$BIN/telemetry.wasm" --control "$control_url" --key "$work/keys/edge.key" \
  --name telemetry --version 1.0.0 --node "$DEVICE" --port "$tport" --kv --call orders \
  --subscribe 'edge/v1/dev/+/app/sensor/readings/#' --publish 'alerts/#' --publish summary \
  --timer summary=5s --config threshold=30 ||
  fail "edgectl push telemetry failed" "$agent_log" "$control_log"
if command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null; then
  # A sensor board of its own publishes readings under its id, which the
  # broker lets every device read (demo-1's agent included); a second one,
  # a wall display, reads demo-1's alerts. The embedded broker binds a
  # client id to its device, so each has its own credentials.
  creds_of() { # device: its password
    local c
    c=$("$BIN/edgectl" device add "$1" --control "$control_url" --json 2>"$work/device-add.err") ||
      fail "edgectl device add $1 failed" "$work/device-add.err"
    sed -n 's/.*"password": *"\([^"]*\)".*/\1/p' <<<"$c"
  }
  spass=$(creds_of sensor-1)
  dpass=$(creds_of display-1)
  mhost=${mqtt_addr#tcp://}
  mopts=(-h "${mhost%:*}" -p "${mhost##*:}" -q 1)
  mosquitto_sub "${mopts[@]}" -i display-1 -u display-1 -P "$dpass" \
    -t "edge/v1/dev/$DEVICE/app/telemetry/alerts/#" -C 1 -W 30 -v >"$work/alert.txt" 2>&1 &
  sub=$!
  sleep 1
  for v in 21.5 22.0 23.25 35.5; do
    printf '\033[1m$ mosquitto_pub -t edge/v1/dev/sensor-1/app/sensor/readings/t1 -m %s\033[0m\n' "$v"
    mosquitto_pub "${mopts[@]}" -i sensor-1 -u sensor-1 -P "$spass" -t edge/v1/dev/sensor-1/app/sensor/readings/t1 -m "$v" ||
      fail "mosquitto_pub failed"
  done
  wait "$sub" || fail "no alert published within 30 s" "$work/alert.txt" "$agent_log"
  printf '\033[1malert received:\033[0m %s\n' "$(cat "$work/alert.txt")"
  for _ in $(seq 1 100); do # the readings are applied one at a time
    curl -sS "$turl/summary" | grep -q '"count":4' && break
    sleep 0.2
  done
  step "the rolling window per sensor, and the order count from the order service" "$turl/summary"
else
  echo "(mosquitto_pub/mosquitto_sub not installed: no readings sent)"
  step "the telemetry module's summary" "$turl/summary"
fi

if [[ -n "${DEMO_ONESHOT:-}" ]]; then exit 0; fi  # used by the end-to-end test
cat <<EOF

The order service runs on device $DEVICE at $url, telemetry at $turl
Dashboard: $control_url (sign in with the token in $token_file)
Token:     export EDGE_TOKEN=\$(cat $token_file)
Try:       $BIN/edgectl devices --control $control_url
           $BIN/edgectl deployments --control $control_url
Logs:      $control_log
           $agent_log
Ctrl-C to stop (everything in $work is removed).
EOF
# Serve until Ctrl-C, or until one of the two exits.
while kill -0 "$control" 2>/dev/null && kill -0 "$agent" 2>/dev/null; do sleep 1; done
fail "a process exited" "$agent_log" "$control_log"
