#!/usr/bin/env bash
# The Kafka command-line tools (4.x, from the pinned jars; tests/compat/bin/) as an operator
# types them against the broker: kafka-topics, kafka-configs, kafka-console-producer/consumer,
# kafka-consumer-groups (describe with lag, --reset-offsets --to-earliest/--shift-by/
# --to-datetime --execute, delete-offsets, delete), kafka-get-offsets, kafka-delete-records,
# kafka-producer-perf-test, kafka-consumer-perf-test, kafka-log-dirs, kafka-transactions.
# Exact output lines where the tool prints the broker's answer.
#   WEIR_COMPAT_TARGET=kafka   the same commands against Apache Kafka (checks the test)
source "$(dirname "$0")/lib/compat.bash"
compat_start_broker cli
B=$BROKER
w=$compat_work

# --- kafka-topics -------------------------------------------------------------------------
out=$(kafka-topics.sh --bootstrap-server "$B" --create --topic ops --partitions 3 \
    --replication-factor 1 --config retention.ms=86400000 2>&1) || true
expect_eq "kafka-topics --create prints the created topic" "Created topic ops." "$out"
out=$(kafka-topics.sh --bootstrap-server "$B" --create --topic ops --partitions 3 2>&1) &&
    rc=0 || rc=$?
if ((rc != 0)) && grep -q "TopicExistsException: Topic 'ops' already exists." <<<"$out"; then
    ok "kafka-topics --create on an existing topic fails with TopicExistsException"
else
    not_ok "kafka-topics --create on an existing topic fails with TopicExistsException" "rc=$rc" "$out"
fi
kafka-topics.sh --bootstrap-server "$B" --create --topic ops2 --partitions 1 >/dev/null 2>&1 || true
out=$(kafka-topics.sh --bootstrap-server "$B" --list 2>&1 | grep -v '^__' || true)
expect_eq "kafka-topics --list" $'ops\nops2' "$out"
out=$(kafka-topics.sh --bootstrap-server "$B" --describe --topic ops 2>&1 || true)
# Kafka 4 (KIP-966) adds the cluster's min.insync.replicas to each new topic's configs: a
# replication setting, listed as a deliberate difference in docs/compatibility.md.
first=$(head -1 <<<"$out" | sed -E 's/TopicId: [A-Za-z0-9_-]{22}/TopicId: ID/; s/min\.insync\.replicas=1,?//')
expect_eq "kafka-topics --describe: the topic line (topic id, partitions, configs)" \
    $'Topic: ops\tTopicId: ID\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=86400000' "$first"
parts=$(tail -n +2 <<<"$out" | sed -E 's/^[[:space:]]+//' | sed -E 's/Elr: .*//; s/[[:space:]]+$//')
expect_eq "kafka-topics --describe: one line per partition with leader, replicas and ISR" \
    "$(printf 'Topic: ops\tPartition: %d\tLeader: 1\tReplicas: 1\tIsr: 1\n' 0 1 2)" "$parts"
kafka-topics.sh --bootstrap-server "$B" --alter --topic ops2 --partitions 4 >/dev/null 2>&1 || true
out=$(kafka-topics.sh --bootstrap-server "$B" --describe --topic ops2 2>&1 | head -1 |
    grep -o 'PartitionCount: [0-9]*' || true)
expect_eq "kafka-topics --alter --partitions 4" "PartitionCount: 4" "$out"

# --- kafka-configs ------------------------------------------------------------------------
out=$(kafka-configs.sh --bootstrap-server "$B" --entity-type topics --entity-name ops --alter \
    --add-config 'retention.ms=3600000,cleanup.policy=[compact,delete]' 2>&1 || true)
expect_eq "kafka-configs --alter --add-config" "Completed updating config for topic ops." "$out"
out=$(kafka-configs.sh --bootstrap-server "$B" --entity-type topics --entity-name ops --describe 2>&1 || true)
expect_eq "kafka-configs --describe shows the dynamic topic configs with their synonyms" \
    "Dynamic configs for topic ops are:
  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, DEFAULT_CONFIG:log.cleanup.policy=delete}
  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000}" "$out"
out=$(kafka-configs.sh --bootstrap-server "$B" --entity-type topics --entity-name ops --describe --all 2>&1 || true)
for want in \
    "  segment.bytes=1073741824 sensitive=false synonyms={DEFAULT_CONFIG:log.segment.bytes=1073741824}" \
    "  max.message.bytes=1048588 sensitive=false synonyms={DEFAULT_CONFIG:message.max.bytes=1048588}" \
    "  compression.type=producer sensitive=false synonyms={DEFAULT_CONFIG:compression.type=producer}" \
    "  retention.bytes=-1 sensitive=false synonyms={DEFAULT_CONFIG:log.retention.bytes=-1}" \
    "  min.cleanable.dirty.ratio=0.5 sensitive=false synonyms={DEFAULT_CONFIG:log.cleaner.min.cleanable.ratio=0.5}"; do
    if grep -qxF -- "$want" <<<"$out"; then ok "kafka-configs --describe --all:${want%% sensitive*}"; else
        not_ok "kafka-configs --describe --all:${want%% sensitive*}" "want: $want" \
            "got: $(grep -F -- "${want%%=*}=" <<<"$out" | head -2)"; fi
done
out=$(kafka-configs.sh --bootstrap-server "$B" --entity-type topics --entity-name ops --alter \
    --delete-config retention.ms 2>&1 || true)
expect_eq "kafka-configs --alter --delete-config" "Completed updating config for topic ops." "$out"
out=$(kafka-configs.sh --bootstrap-server "$B" --entity-type brokers --entity-name 1 --describe --all 2>&1 || true)
for want in \
    "  log.retention.hours=168 sensitive=true synonyms={DEFAULT_CONFIG:log.retention.hours=168}" \
    "  num.partitions=1 sensitive=false synonyms={STATIC_BROKER_CONFIG:num.partitions=1, DEFAULT_CONFIG:num.partitions=1}" \
    "  auto.create.topics.enable=true sensitive=false synonyms={DEFAULT_CONFIG:auto.create.topics.enable=true}"; do
    key=${want%%=*}
    got=$(grep -F -- "$key=" <<<"$out" | head -1)
    # Sensitivity and whether a value came from the properties file differ by set-up; the value
    # and the name of the setting must match.
    if [[ ${got%% *} == "${want%% *}" ]]; then ok "kafka-configs brokers --describe --all:${want%% sensitive*}"; else
        not_ok "kafka-configs brokers --describe --all:${want%% sensitive*}" "want: ${want%% *}" "got: $got"; fi
done
out=$(kafka-configs.sh --bootstrap-server "$B" --entity-type topics --entity-name ops --alter \
    --add-config retention.ms=later 2>&1) && rc=0 || rc=$?
if ((rc != 0)) && grep -q 'InvalidConfigurationException' <<<"$out"; then
    ok "kafka-configs refuses retention.ms=later with InvalidConfigurationException"
else
    not_ok "kafka-configs refuses retention.ms=later with InvalidConfigurationException" "rc=$rc" "$out"
fi

# --- console producer and consumer, consumer groups ----------------------------------------
seq 0 299 | awk '{printf "k%d:v%d\n", $1 % 3, $1}' >"$w/in.txt"
kafka-console-producer.sh --bootstrap-server "$B" --topic ops --reader-property parse.key=true \
    --reader-property key.separator=: <"$w/in.txt" >"$w/prod.out" 2>&1 || true
out=$(kafka-get-offsets.sh --bootstrap-server "$B" --topic ops 2>&1 | sort || true)
total=$(awk -F: '{s += $3} END {print s + 0}' <<<"$out")
expect_eq "kafka-console-producer wrote 300 records (kafka-get-offsets sums the end offsets)" 300 "$total"
kafka-console-consumer.sh --bootstrap-server "$B" --topic ops --group ops-cg --from-beginning \
    --max-messages 300 --timeout-ms 20000 --formatter-property print.key=true \
    --formatter-property key.separator=: \
    >"$w/cons.out" 2>"$w/cons.err" || true
expect_eq "kafka-console-consumer --group reads all 300 records with their keys" \
    "$(sort "$w/in.txt")" "$(sort "$w/cons.out")"
# Per key (one partition per key with the default partitioner), order is kept.
bad=0
for key in k0 k1 k2; do
    [[ $(grep "^$key:" "$w/in.txt") == "$(grep "^$key:" "$w/cons.out")" ]] || bad=1
done
((bad == 0)) && ok "kafka-console-consumer keeps the order of each key" ||
    not_ok "kafka-console-consumer keeps the order of each key" "$(head -5 "$w/cons.out")"

seq 300 359 | awk '{printf "k%d:v%d\n", $1 % 3, $1}' |
    kafka-console-producer.sh --bootstrap-server "$B" --topic ops --reader-property parse.key=true \
        --reader-property key.separator=: >/dev/null 2>&1 || true
describe_lag() { # GROUP -> "TOPIC PARTITION CURRENT END LAG" lines, sorted
    kafka-consumer-groups.sh --bootstrap-server "$B" --describe --group "$1" 2>&1 |
        awk '$2 == "ops" {print $2, $3, $4, $5, $6}' | sort
}
out=$(describe_lag ops-cg)
lag=$(awk '{s += $5} END {print s + 0}' <<<"$out")
cur=$(awk '{s += $3} END {print s + 0}' <<<"$out")
rows=$(grep -c . <<<"$out" || true)
if [[ $rows == 3 && $cur == 300 && $lag == 60 ]]; then
    ok "kafka-consumer-groups --describe: 3 partitions, committed 300, lag 60"
else
    not_ok "kafka-consumer-groups --describe: 3 partitions, committed 300, lag 60" \
        "rows=$rows committed=$cur lag=$lag" "$(kafka-consumer-groups.sh --bootstrap-server "$B" --describe --group ops-cg 2>&1 | tail -8)"
fi
out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --list 2>&1 || true)
expect_eq "kafka-consumer-groups --list" "ops-cg" "$out"
out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --list --state 2>&1 | awk 'NR > 1 {print $1, $2}' || true)
expect_eq "kafka-consumer-groups --list --state (KIP-518 states)" "ops-cg Empty" "$out"
out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --describe --group ops-cg --state 2>&1 |
    awk '$1 == "ops-cg" {print $(NF-2), $(NF-1), $NF}' || true)
expect_eq "kafka-consumer-groups --describe --state: assignor, state, members" "- Empty 0" "$out"

out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --group ops-cg --topic ops --reset-offsets \
    --to-earliest --execute 2>&1 | awk '$2 == "ops" {print $2, $3, $4}' | sort || true)
expect_eq "kafka-consumer-groups --reset-offsets --to-earliest --execute prints new offsets 0" \
    $'ops 0 0\nops 1 0\nops 2 0' "$out"
out=$(describe_lag ops-cg | awk '{print $3}' | tr '\n' ' ')
expect_eq "kafka-consumer-groups --describe after --to-earliest: committed 0" "0 0 0 " "$out"
out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --group ops-cg --topic ops:0 --reset-offsets \
    --shift-by 7 --execute 2>&1 | awk '$2 == "ops" {print $2, $3, $4}' || true)
expect_eq "kafka-consumer-groups --reset-offsets --shift-by 7 --execute on partition 0" "ops 0 7" "$out"
# --to-datetime: records written after a remembered time; the reset lands on the first of them.
ends=$(kafka-get-offsets.sh --bootstrap-server "$B" --topic ops 2>&1 | sort | awk -F: '{print $3}' | tr '\n' ' ')
sleep 1.2
when=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 0.3
seq 360 362 | awk '{printf "k%d:v%d\n", $1 % 3, $1}' |
    kafka-console-producer.sh --bootstrap-server "$B" --topic ops --reader-property parse.key=true \
        --reader-property key.separator=: >/dev/null 2>&1 || true
out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --group ops-cg --topic ops --reset-offsets \
    --to-datetime "$when" --execute 2>&1 | awk '$2 == "ops" {print $4}' | sort -n | tr '\n' ' ' || true)
expect_eq "kafka-consumer-groups --reset-offsets --to-datetime lands on the first later record" \
    "$(tr ' ' '\n' <<<"$ends" | grep . | sort -n | tr '\n' ' ')" "$out"
out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --group ops-cg --topic ops:1 --delete-offsets 2>&1 || true)
if grep -qE '^ops +1 +Successful' <<<"$out"; then ok "kafka-consumer-groups --delete-offsets for partition 1"; else
    not_ok "kafka-consumer-groups --delete-offsets for partition 1" "$out"; fi
out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --delete --group ops-cg 2>&1 || true)
expect_eq "kafka-consumer-groups --delete" "Deletion of requested consumer groups ('ops-cg') was successful." \
    "$(grep -v '^$' <<<"$out")"
out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --list 2>&1 || true)
expect_eq "kafka-consumer-groups --list after --delete is empty" "" "$out"

# --- kafka-get-offsets, kafka-delete-records ----------------------------------------------
out=$(kafka-get-offsets.sh --bootstrap-server "$B" --topic ops --time -2 2>&1 | sort || true)
expect_eq "kafka-get-offsets --time -2 (earliest)" $'ops:0:0\nops:1:0\nops:2:0' "$out"
printf '{"partitions":[{"topic":"ops","partition":0,"offset":10}],"version":1}\n' >"$w/del.json"
out=$(kafka-delete-records.sh --bootstrap-server "$B" --offset-json-file "$w/del.json" 2>&1 || true)
if grep -qxF $'partition: ops-0\tlow_watermark: 10' <<<"$out"; then
    ok "kafka-delete-records moves partition 0's low watermark to 10"
else
    not_ok "kafka-delete-records moves partition 0's low watermark to 10" "$out"
fi
out=$(kafka-get-offsets.sh --bootstrap-server "$B" --topic ops --partitions 0 --time earliest 2>&1 || true)
expect_eq "kafka-get-offsets --time earliest after delete-records" "ops:0:10" "$out"
out=$(kafka-get-offsets.sh --bootstrap-server "$B" --topic ops --partitions 0 --time max-timestamp 2>&1 || true)
if [[ $out =~ ^ops:0:[0-9]+$ ]]; then ok "kafka-get-offsets --time max-timestamp"; else
    not_ok "kafka-get-offsets --time max-timestamp" "$out"; fi

# --- perf tests ---------------------------------------------------------------------------
kafka-topics.sh --bootstrap-server "$B" --create --topic perf --partitions 2 >/dev/null 2>&1 || true
out=$(kafka-producer-perf-test.sh --topic perf --num-records 50000 --record-size 100 --throughput -1 \
    --producer-props bootstrap.servers="$B" acks=all linger.ms=5 2>&1 | tail -1 || true)
if [[ $out =~ ^50000\ records\ sent ]]; then ok "kafka-producer-perf-test sends 50000 records"; else
    not_ok "kafka-producer-perf-test sends 50000 records" "$out"; fi
out=$(kafka-get-offsets.sh --bootstrap-server "$B" --topic perf 2>&1 | awk -F: '{s += $3} END {print s + 0}')
expect_eq "kafka-get-offsets: 50000 records in perf" 50000 "$out"
out=$(kafka-consumer-perf-test.sh --bootstrap-server "$B" --topic perf --messages 50000 --timeout 20000 \
    --hide-header 2>&1 | tail -1 || true)
# start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, ...
nmsg=$(awk -F', ' '{print $5}' <<<"$out")
expect_eq "kafka-consumer-perf-test consumes 50000 records (4.77 MB)" "50000 4.7684" \
    "$nmsg $(awk -F', ' '{print $3}' <<<"$out")"

# --- kafka-log-dirs, kafka-transactions ---------------------------------------------------
raw=$(kafka-log-dirs.sh --bootstrap-server "$B" --describe --topic-list perf 2>&1 || true)
out=$(grep '^{' <<<"$raw" || true)
summary=$(/usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
parts = sorted((p["partition"], p["size"] > 0) for b in d["brokers"] for ld in b["logDirs"] for p in ld["partitions"])
print(len(d["brokers"]), sum(len(b["logDirs"]) for b in d["brokers"]), parts)' "$out" 2>/dev/null ||
    tail -3 <<<"$raw")
expect_eq "kafka-log-dirs --describe: one broker, one dir, both perf partitions with data" \
    "1 1 [('perf-0', True), ('perf-1', True)]" "$summary"
out=$(kafka-transactions.sh --bootstrap-server "$B" list 2>&1 || true)
expect_eq "kafka-transactions list: the header and no transactions" \
    "TransactionalId Coordinator ProducerId TransactionState" "$(tr -s ' \t' ' ' <<<"$out" | sed 's/ $//')"

# --- delete -------------------------------------------------------------------------------
kafka-topics.sh --bootstrap-server "$B" --delete --topic ops2 >/dev/null 2>&1 || true
for _ in $(seq 20); do
    kafka-topics.sh --bootstrap-server "$B" --list 2>/dev/null | grep -qx ops2 || break
    sleep 0.2
done
out=$(kafka-topics.sh --bootstrap-server "$B" --list 2>&1 | grep -v '^__' || true)
expect_eq "kafka-topics --delete" $'ops\nperf' "$out"
compat_done
