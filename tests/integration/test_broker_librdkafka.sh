#!/usr/bin/env bash
# Runs the librdkafka integration program (tests/integration/test_broker_librdkafka.c, built by
# make into $WEIR_BUILD), which starts its own broker in-process on port 0.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${WEIR_BUILD:-$top/build}
exec timeout 300 "$build/tests/integration/test_broker_librdkafka"
