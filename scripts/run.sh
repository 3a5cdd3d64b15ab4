#!/usr/bin/env bash
# `make run`: starts Weir on its embedded defaults (./data, 127.0.0.1:9092, HTTP 127.0.0.1:8081)
# in the foreground. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/weir serve
