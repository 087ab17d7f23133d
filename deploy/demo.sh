#!/usr/bin/env bash
# make demo: run the order service under edge-agent with a local SQLite file
# on a free port, walk through the seed article's curl workflow, then keep
# serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DEMO=deploy/demo
work=$(mktemp -d -t edge-demo.XXXXXX)
log="$work/agent.log"

cleanup() {
  [[ -n "${agent:-}" ]] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

"$BIN/edge-agent" serve "$BIN/orders.wasm" --http 127.0.0.1:0 --db "sqlite:$work/orders.db" --data "$work/state" >"$log" 2>&1 &
agent=$!

url=""
for _ in $(seq 1 300); do
  url=$(grep -o 'serving .* on http://[0-9.:]*' "$log" | grep -o 'http://[0-9.:]*' || true)
  [[ -n "$url" ]] && break
  kill -0 "$agent" 2>/dev/null || { cat "$log"; echo "edge-agent exited" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$url" ]] || { cat "$log"; echo "edge-agent did not become ready" >&2; exit 1; }
cat "$log"

step() { # description, curl args...
  local what=$1; shift
  printf '\n\033[1m$ curl %s\033[0m   # %s\n' "$*" "$what"
  curl -sS -w '\n(HTTP %{http_code})\n' "$@"
}

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
printf '\nThe order service keeps serving on %s (SQLite at %s). Ctrl-C to stop.\n' "$url" "$work/orders.db"
wait "$agent"
