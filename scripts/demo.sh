#!/usr/bin/env bash
# The order flow of `make run`: inventory-service, payment-service and order-service
# (examples/order-flow) on a Weir broker, a generator placing orders, and a one-line summary
# every second (placed, confirmed, cancelled, pending, dead-lettered, consumer lag).
# Ctrl-C stops everything cleanly and in order: the generator, the services (each finishes its
# handlers, commits and leaves its group), then the broker if this script started it.
#
#   scripts/demo.sh [BOOTSTRAP]    use the broker at BOOTSTRAP; without it, start build/weir serve
#                                  on its defaults (127.0.0.1:9092, HTTP 127.0.0.1:8081, ./data)
#
# Environment: WEIR_BUILD (build dir, default build), WEIR_DEMO_DIR (service databases and logs,
# default data/order-flow), WEIR_DEMO_PORT (order-service HTTP port, default 8080),
# WEIR_DEMO_RATE (orders per second, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${WEIR_BUILD:-build}
dir=${WEIR_DEMO_DIR:-data/order-flow}
port=${WEIR_DEMO_PORT:-8080}
rate=${WEIR_DEMO_RATE:-20}
bootstrap=${1:-}
mkdir -p "$dir"

broker_pid=
demo_pid=
pids=()
stop() { # pid: SIGTERM, then wait for it
    kill -TERM "$1" 2>/dev/null || return 0
    wait "$1" 2>/dev/null || true
}
cleanup() {
    trap - EXIT INT TERM
    echo "stopping the order flow..." >&2
    [[ -n $demo_pid ]] && stop "$demo_pid"
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[i]}"; done
    [[ -n $broker_pid ]] && stop "$broker_pid"
    echo "stopped; logs and databases in $dir" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Children run in their own sessions: Ctrl-C reaches this script only, which stops them in order.
if [[ -z $bootstrap ]]; then
    setsid "$build/weir" serve >"$dir/broker.out" 2>"$dir/broker.log" </dev/null &
    broker_pid=$!
    for _ in $(seq 100); do
        grep -q '^listening on ' "$dir/broker.out" 2>/dev/null && break
        kill -0 "$broker_pid" 2>/dev/null || break
        sleep 0.1
    done
    bootstrap=$(sed -n 's/^listening on //p' "$dir/broker.out")
    if [[ -z $bootstrap ]]; then
        echo "demo: the broker did not start (is 127.0.0.1:9092 in use?):" >&2
        tail -5 "$dir/broker.log" >&2
        exit 1
    fi
fi
echo "broker on $bootstrap; order service on http://127.0.0.1:$port; logs in $dir" >&2

start() { # name, args...
    local name=$1
    shift
    setsid "$build/examples/$name" --bootstrap "$bootstrap" --db "$dir/$name.db" \
        --instance-id "$name-demo" "$@" >"$dir/$name.out" 2>"$dir/$name.log" </dev/null &
    pids+=($!)
}
start inventory-service
start payment-service
start order-service --port "$port"
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "${pids[2]}" 2>/dev/null || break
    sleep 0.1
done
if ! curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
    echo "demo: order-service did not start:" >&2
    tail -5 "$dir/order-service.log" >&2
    exit 1
fi

setsid "$build/examples/order-demo" --url "http://127.0.0.1:$port" --bootstrap "$bootstrap" \
    --rate "$rate" --summary </dev/null &
demo_pid=$!
wait "$demo_pid" || true
demo_pid=
