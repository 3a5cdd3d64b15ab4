#!/usr/bin/env bash
# `make bench` (after the Makefile has installed DEB_BENCH and built build/bench/*): Weir side by
# side with Redis Streams, NATS JetStream and RabbitMQ, plus the machine's own limits. Results go
# to bench/results/ (see docs/bench.md). QUICK=1 runs one short repetition (under 2 minutes).
#
#   bench/run.sh [--quick] [--systems weir,redis] [--reps N] [--out DIR] [--smoke] [--schema-only]
#   bench/run.sh [--quick] --sustained|--tail-latency|--steady [--volume-mb MB]
#                [--lat-variant K=V[,K=V]]      (the steady-state profiles, bench/steady.py)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/harness.py "$@"
