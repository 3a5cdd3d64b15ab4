#!/usr/bin/env bash
# The Go tier: Sarama (sync/async producer, partition consumer, consumer group, ClusterAdmin; tests/go/cmd/sarama),
# pinned in tests/go/go.mod, against one broker.
#   WEIR_COMPAT_TARGET=kafka   the same cases against Apache Kafka (checks the test)
source "$(dirname "$0")/lib/compat.bash"
compat_go_build
compat_start_broker sarama
timeout 300 "$GO_BIN/sarama" -b "$BROKER"
