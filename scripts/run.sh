#!/usr/bin/env bash
# `make run`: starts Weir on its embedded defaults (./data, 127.0.0.1:9092, HTTP 127.0.0.1:8081)
# and the order flow demo on it (examples/order-flow: order, payment and inventory services, a
# generator at 20 orders/s and a summary line every second). Ctrl-C stops everything cleanly.
# WEIR_RUN_DEMO=0 starts the broker alone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ${WEIR_RUN_DEMO:-1} == 0 ]]; then
    exec build/weir serve
fi
exec scripts/demo.sh
