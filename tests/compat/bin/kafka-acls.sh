#!/usr/bin/env bash
# Apache Kafka's kafka-acls, from the pinned jars (see kafka-run-class.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/kafka-run-class.sh" org.apache.kafka.tools.AclCommand "$@"
