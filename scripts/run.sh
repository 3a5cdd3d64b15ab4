#!/usr/bin/env bash
# `make run`: starts Weir on its embedded defaults (./data, 127.0.0.1:9092, HTTP 127.0.0.1:8081)
# and the order flow demo on it (examples/order-flow: order, payment and inventory services, a
# generator at 20 orders/s and a summary line every second), after printing where everything is.
# WEIR_RUN_DEMO=0 starts the broker alone. scripts/demo.sh lists the other settings.
#
# Ctrl-C stops everything cleanly, and `make` ends without an error: on a terminal the run is
# moved to a process group of its own and given the terminal (bash job control: `&` then `fg`),
# so Ctrl-C reaches the run and not make, and the run exits 0 after a Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -t 0 && -z ${WEIR_RUN_FOREGROUND:-} ]]; then
    set -m
    WEIR_RUN_FOREGROUND=1 "$0" "$@" &
    fg %1 >/dev/null
    exit $?
fi
if [[ ${WEIR_RUN_DEMO:-1} == 0 ]]; then
    trap 'exit 0' INT TERM
    build/weir serve --data-dir "${WEIR_DATA_DIR:-data}" \
        --listen "${WEIR_KAFKA_LISTEN:-127.0.0.1:9092}" \
        --http-listen "${WEIR_HTTP_LISTEN:-127.0.0.1:8081}" &
    pid=$!
    trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 0' INT TERM
    wait $pid
    exit $?
fi
exec scripts/demo.sh
