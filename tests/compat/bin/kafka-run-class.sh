#!/usr/bin/env bash
# Runs a main class of Apache Kafka 4.x from the jars `make deps` resolved into ~/.m2 (class path
# in build/compat/kafka.classpath), as bin/kafka-run-class.sh does in a Kafka distribution. The
# kafka-*.sh scripts beside this one are the operator commands, each naming its main class.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cpfile=${WEIR_KAFKA_CLASSPATH:-$top/build/compat/kafka.classpath}
if [[ ! -s $cpfile ]]; then
    echo "kafka-run-class: $cpfile missing: run 'make deps' first" >&2
    exit 2
fi
log4j=$top/tests/compat/lib/log4j2-tools.properties
# Tools log warnings and errors to stderr only, as the distribution's tools-log4j2 does.
exec "${JAVA:-java}" -Xmx${WEIR_KAFKA_TOOL_HEAP:-256m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Xshare:auto -Djava.awt.headless=true -Dlog4j2.configurationFile="$log4j" \
    ${KAFKA_OPTS:-} -cp "$(<"$cpfile")" "$@"
