#!/usr/bin/env bash
# The Kafka Streams tier (4.x, at-least-once): a word count with a repartition topic and a
# changelog-backed count store reaches the exact counts, again after the app restarts on an
# empty state dir (restore from the changelog), and again after the broker restarts under the
# running app (tests/java/src/weir/compat/StreamsCount.java; this script restarts the broker
# when the program asks).
#   WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka (checks the test)
source "$(dirname "$0")/lib/compat.bash"
compat_java_classes
compat_start_broker streams
coproc APP {
    exec java -Xmx512m -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dlog4j2.configurationFile="$compat_dir/lib/log4j2-tools.properties" \
        -cp "$JAVA_CP" weir.compat.StreamsCount "$BROKER" 2>"$compat_work/streams.err"
}
app_pid=$APP_PID
compat_pids+=("$app_pid")
timeout_at=$((SECONDS + 300))
while IFS= read -r -t 300 line <&"${APP[0]}"; do
    if [[ $line == RESTART-BROKER ]]; then
        compat_stop_broker
        echo "# broker stopped"
        compat_start_broker streams
        echo restarted >&"${APP[1]}"
        continue
    fi
    echo "$line"
    ((SECONDS < timeout_at)) || break
done
wait "$app_pid"
rc=$?
if ((rc != 0)); then
    echo "# streams app exited $rc; its stderr:"
    grep -E 'ERROR|Exception' "$compat_work/streams.err" | head -20 | sed 's/^/# /'
fi
exit "$rc"
