#!/usr/bin/env bash
# The order flow of `make run`: inventory-service, payment-service and order-service
# (examples/order-flow) on a Weir broker, a generator placing orders, and a one-line summary
# every second (placed, confirmed, cancelled, pending, dead-lettered, consumer lag). It first
# prints where everything is and what to try. Ctrl-C stops everything cleanly and in order: the
# generator, the services (each finishes its handlers, commits and leaves its group), then the
# broker if this script started it; the exit status is then 0.
#
#   scripts/demo.sh [BOOTSTRAP]    use the broker at BOOTSTRAP; without it, start build/weir serve
#
# Environment: WEIR_BUILD (build dir, default build), WEIR_DATA_DIR (the broker's data, default
# ./data), WEIR_KAFKA_LISTEN (default 127.0.0.1:9092), WEIR_HTTP_LISTEN (default 127.0.0.1:8081;
# with a BOOTSTRAP given: that broker's HTTP address, whose admin API order-service keeps its
# event-sourced orders through, in the key-indexed topic order.events),
# WEIR_DEMO_DIR (service databases and logs, default <data>/order-flow), WEIR_DEMO_PORT
# (order-service HTTP port, default 8080), WEIR_DEMO_METRICS_PORT (first of the services' three
# /metrics ports, default 9464), WEIR_DEMO_RATE (orders per second, default 20), WEIR_REGISTRY
# (the schema registry the services register their event schemas with; default the started
# broker's, http://<HTTP>; with a BOOTSTRAP given and no WEIR_REGISTRY: none, plain JSON),
# WEIR_ORDER_FLOW (choreography, the default: the services react to each other's events; or
# orchestration: order-saga drives payment, inventory and shipping-service with commands and
# compensates; docs/order-flow.md compares the two).
#
# Logs are appended to, never truncated: a second `make run` on a data dir in use stops at once
# with a message, leaving the running broker and its logs alone.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${WEIR_BUILD:-build}
data=${WEIR_DATA_DIR:-data}
kafka=${WEIR_KAFKA_LISTEN:-127.0.0.1:9092}
http=${WEIR_HTTP_LISTEN:-127.0.0.1:8081}
dir=${WEIR_DEMO_DIR:-$data/order-flow}
port=${WEIR_DEMO_PORT:-8080}
mport=${WEIR_DEMO_METRICS_PORT:-9464}
rate=${WEIR_DEMO_RATE:-20}
bootstrap=${1:-}
registry=${WEIR_REGISTRY:-}
flow=${WEIR_ORDER_FLOW:-choreography}
if [[ $flow != choreography && $flow != orchestration ]]; then
    echo "make run: WEIR_ORDER_FLOW=$flow: expected choreography or orchestration" >&2
    exit 2
fi
export WEIR_ORDER_FLOW=$flow

# The broker holds an flock on <data>/.lock while it runs: test it before touching anything.
if [[ -z $bootstrap && -e $data/.lock ]] && ! flock -n "$data/.lock" true 2>/dev/null; then
    echo "make run: Weir is already running on $data (another 'make run'?); nothing was" \
        "started or changed. Stop it first, or use WEIR_DATA_DIR=other-dir." >&2
    exit 1
fi
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
trap 'exit 0' INT TERM # Ctrl-C is how a demo ends: not an error

# Every start appends to the logs, after a line saying when.
log_open() { # file
    printf -- '---- %s: make run started\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$1"
}

# Children run in their own sessions: Ctrl-C reaches this script only, which stops them in order.
if [[ -z $bootstrap ]]; then
    log_open "$dir/broker.log"
    : >"$dir/broker.out" # the address lines of this start only (read just below)
    setsid "$build/weir" serve --data-dir "$data" --listen "$kafka" --http-listen "$http" \
        >"$dir/broker.out" 2>>"$dir/broker.log" </dev/null &
    broker_pid=$!
    for _ in $(seq 100); do
        [[ $(wc -l <"$dir/broker.out") -ge 2 ]] && break
        kill -0 "$broker_pid" 2>/dev/null || break
        sleep 0.1
    done
    bootstrap=$(sed -n 's/^listening on //p' "$dir/broker.out")
    http=$(sed -n 's/^http on //p' "$dir/broker.out")
    registry=${registry:-http://$http}
    if [[ -z $bootstrap ]]; then
        echo "demo: the broker did not start (is $kafka or $http in use?):" >&2
        tail -5 "$dir/broker.log" >&2
        exit 1
    fi
fi

start() { # name, metrics port, args...
    local name=$1 mp=$2
    shift 2
    log_open "$dir/$name.log"
    setsid "$build/examples/$name" --bootstrap "$bootstrap" --db "$dir/$name.db" \
        --instance-id "$name-demo" --metrics-listen "127.0.0.1:$mp" \
        --otlp-endpoint "http://$http" ${registry:+--registry "$registry"} "$@" \
        >>"$dir/$name.out" 2>>"$dir/$name.log" </dev/null &
    pids+=($!)
}
start inventory-service $((mport + 2))
start payment-service $((mport + 1))
if [[ $flow == orchestration ]]; then
    start shipping-service $((mport + 3))
    start order-saga $((mport + 4))
fi
start order-service "$mport" --port "$port" --admin "http://$http"
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
done
if ! curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
    echo "demo: order-service did not start:" >&2
    tail -5 "$dir/order-service.log" >&2
    exit 1
fi
decode=--decode # registry-encoded values as JSON (the CLI's registry: $WEIR_REGISTRY, else :8081)
[[ -n $registry ]] && decode="--decode --registry $registry"
console=" (the web console, when built in: http://$http/ui/)"
curl -sf -o /dev/null "http://$http/ui/" 2>/dev/null && console=""
cat <<EOF
Weir is running, with the order flow on it ($flow). Where everything is:
  Kafka            $bootstrap
  HTTP             http://$http  (/health, /metrics, /api/v1/traces, schema registry)
  console          http://$http/ui/$console
  order service    http://127.0.0.1:$port/orders
  service metrics  http://127.0.0.1:$mport/metrics (order), :$((mport + 1)) (payment), :$((mport + 2)) (inventory)
  logs             $dir/*.log (each order's steps, with its trace id), $dir/broker.log
Try, in another terminal:
  export PATH="\$PWD/build:\$PATH"       # or: make install PREFIX=~/.local
  weir -b $bootstrap topic list
  weir -b $bootstrap consume orders --from end $decode -f '%k %v\\n'
  weir -b $bootstrap group describe payment-service
  build/examples/order-saga --bootstrap $bootstrap --show ORDER_ID   # orchestration: a saga
  curl -s http://$http/metrics | grep kafka_consumergroup_lag
  curl -s http://$http/api/v1/traces      # recent orders; then /api/v1/traces/<trace_id>
  tail -f $dir/order-service.log
Ctrl-C stops everything.
EOF

setsid "$build/examples/order-demo" --url "http://127.0.0.1:$port" --bootstrap "$bootstrap" \
    --rate "$rate" --summary </dev/null &
demo_pid=$!
wait "$demo_pid" || true
demo_pid=
