#!/usr/bin/env bash
# `make demo-load RATE=N COUNT=M`: places M orders at N per second on the order flow that
# `make run` is running (order-service on 127.0.0.1:$WEIR_DEMO_PORT, default 8080), prints the
# summary line every second, then waits until every order is decided and prints the totals and
# the latency from POST to CONFIRMED. Exits 1 if some order was not decided in time.
#
#   scripts/demo-load.sh [RATE] [COUNT]     defaults: 20 orders/s, 100 orders
set -euo pipefail
cd "$(dirname "$0")/.."
build=${WEIR_BUILD:-build}
port=${WEIR_DEMO_PORT:-8080}
rate=${1:-20}
count=${2:-100}
[[ $rate =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "demo-load: RATE must be a number" >&2; exit 2; }
[[ $count =~ ^[0-9]+$ && $count -gt 0 ]] || { echo "demo-load: COUNT must be a positive integer" >&2; exit 2; }
if ! curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
    echo "demo-load: no order service on 127.0.0.1:$port; start the flow with 'make run' in another terminal" >&2
    exit 1
fi
exec "$build/examples/order-demo" --url "http://127.0.0.1:$port" \
    --bootstrap "${WEIR_BROKERS:-127.0.0.1:9092}" --rate "$rate" --count "$count" --summary
