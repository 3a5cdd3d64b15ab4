#!/usr/bin/env bash
# timeout: 600
# Consumer groups through rebalances with kafka-clients 4.x (pinned in tests/java/pom.xml),
# group.protocol=consumer (KIP-848) and classic: 1 then 3 members then 1 again with every record
# read exactly once, the rebalance times ("# time ..."), and the committed offsets resumed after
# a broker restart (tests/java/src/weir/compat/GroupRebalance.java; this script restarts the
# broker when the program asks).
#   WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka (checks the test, gives its times)
source "$(dirname "$0")/lib/compat.bash"
compat_java_classes
compat_start_broker rebalance
coproc APP {
    exec java -Xmx512m -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dlog4j2.configurationFile="$compat_dir/lib/log4j2-tools.properties" \
        -cp "$JAVA_CP" weir.compat.GroupRebalance "$BROKER" 2>"$compat_work/rebalance.err"
}
app_pid=$APP_PID
compat_pids+=("$app_pid")
while IFS= read -r -t 300 line <&"${APP[0]}"; do
    if [[ $line == RESTART-BROKER ]]; then
        compat_stop_broker
        echo "# broker stopped"
        compat_start_broker rebalance
        echo restarted >&"${APP[1]}"
        continue
    fi
    echo "$line"
done
wait "$app_pid"
rc=$?
if ((rc != 0)); then
    echo "# the program exited $rc; its stderr:"
    grep -E 'ERROR|Exception' "$compat_work/rebalance.err" | head -20 | sed 's/^/# /'
fi
exit "$rc"
