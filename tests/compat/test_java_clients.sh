#!/usr/bin/env bash
# The Java client tier: Apache Kafka's kafka-clients 4.x (pinned in tests/java/pom.xml) as a
# Java service uses it: producer (acks 0/1/all, idempotence, the four codecs, headers, large
# batches, too-large records), consumer (assign/seek, offsetsForTimes, classic range and
# cooperative-sticky groups, the KIP-848 consumer protocol, pause/resume, commits) and Admin
# (topics, topic ids, cluster, configs, partitions, records, offsets, groups, log dirs). All
# cases run in one JVM (tests/java/src/weir/compat/Clients.java) against one broker.
#   WEIR_COMPAT_TARGET=kafka   the same cases against Apache Kafka (checks the test)
source "$(dirname "$0")/lib/compat.bash"
compat_java_classes
compat_start_broker clients
java -Xmx512m -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Dlog4j2.configurationFile="$compat_dir/lib/log4j2-tools.properties" \
    ${WEIR_JAVA_FILTER:+-Dweir.filter="$WEIR_JAVA_FILTER"} \
    -cp "$JAVA_CP" weir.compat.Clients "$BROKER"
