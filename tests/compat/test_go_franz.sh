#!/usr/bin/env bash
# The Go tier: franz-go (kgo producer/consumers/groups incl. cooperative-sticky, kadm admin; tests/go/cmd/franz),
# pinned in tests/go/go.mod, against one broker.
#   WEIR_COMPAT_TARGET=kafka   the same cases against Apache Kafka (checks the test)
source "$(dirname "$0")/lib/compat.bash"
compat_go_build
compat_start_broker franz
timeout 300 "$GO_BIN/franz" -b "$BROKER"
