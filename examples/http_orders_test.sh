#!/usr/bin/env bash
# Runs examples/http_orders against its private redis-server and talks to it with curl:
# POST orders, read /metrics and /healthz, then SIGTERM: it must drain and exit 0.
set -euo pipefail
bin=$1
out=$(mktemp)
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
"$bin" --port 0 > "$out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q "listening on port" "$out" && break; sleep 0.1; done
port=$(sed -n 's/listening on port //p' "$out")
[ -n "$port" ] || { echo "http_orders did not start"; exit 1; }
base="http://127.0.0.1:$port"
for i in $(seq 50); do
  curl -sfS -X POST -d "{\"order\":$i}" "$base/orders" > /dev/null
done
handled=0
for _ in $(seq 100); do
  handled=$(curl -sfS "$base/metrics" | sed -n 's/^redstream_messages_acked_total{stream="orders",group="fulfilment"} //p')
  [ "$handled" = "50" ] && break
  sleep 0.1
done
[ "$handled" = "50" ] || { echo "expected 50 acked orders in /metrics, saw '$handled'"; exit 1; }
health=$(curl -sS "$base/healthz")
[ "$health" = '{"healthy":true,"reasons":[]}' ] || { echo "unexpected health: $health"; exit 1; }
kill -TERM $pid
wait $pid
grep -q "worker stopped: 50 handled, 50 acked" "$out" || { echo "no graceful stop:"; cat "$out"; exit 1; }
echo "http_orders: 50 orders posted, handled and acked; healthy; drained on SIGTERM"
