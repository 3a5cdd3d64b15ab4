#!/usr/bin/env bash
# Runs the librdkafka consumer-group program (tests/integration/test_group_consumers.c, built by
# make into $WEIR_BUILD): it starts `$WEIR_BIN serve` on port 0 and its consumer processes.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${WEIR_BUILD:-$top/build}
export WEIR_BIN=${WEIR_BIN:-$build/weir}
exec timeout 240 "$build/tests/integration/test_group_consumers"
