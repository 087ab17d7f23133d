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

# free_port: a loopback TCP port nothing listens on right now.
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[1m$ %s\033[0m\n' "$*"; "$@"; }

say "controller with its embedded MQTT broker"
"$BIN/edge-control" --data "$work/control" --http 127.0.0.1:0 --mqtt 127.0.0.1:0 >"$control_log" 2>&1 &
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
"$BIN/edge-agent" run --id "$DEVICE" --broker "$mqtt_addr" --password "$password" \
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

if [[ -n "${DEMO_ONESHOT:-}" ]]; then exit 0; fi  # used by the end-to-end test
cat <<EOF

The order service runs on device $DEVICE at $url
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
