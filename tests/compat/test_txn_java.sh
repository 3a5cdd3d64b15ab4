#!/usr/bin/env bash
# The Java transactions tier: kafka-clients 4.x KafkaProducer transactions (commit, abort,
# sendOffsetsToTransaction with group metadata, stale generations), read_committed
# exactly-once checks, a zombie producer fenced, and the Admin API on a transaction left open
# by a producer killed with SIGKILL (tests/java/src/weir/compat/TxnClients.java, TxnHang.java).
# Then Kafka's kafka-transactions tool on another such transaction: list, describe,
# describe-producers, find-hanging and abort, its output parsed and compared exactly.
# Skips (1..0 # SKIP) when the broker does not advertise EndTxn (API key 26).
#   WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka at transaction.version 1
source "$(dirname "$0")/lib/compat.bash"
COMPAT_BROKER_SETTINGS="transaction.abort.timed.out.transaction.cleanup.interval.ms=500 $COMPAT_BROKER_SETTINGS"
COMPAT_KAFKA_FEATURES=${COMPAT_KAFKA_FEATURES:-transaction.version=1}
compat_require_api 26 "transactions not advertised"
compat_start_broker txn
compat_java_classes
B=$BROKER
w=$compat_work
jvm=(java -Xmx512m -XX:TieredStopAtLevel=1 -Xshare:auto
    -Dlog4j2.configurationFile="$compat_dir/lib/log4j2-tools.properties" -cp "$JAVA_CP")

# --- the Java client and Admin API (TAP from the program, numbered on from here) ----------
"${jvm[@]}" ${WEIR_JAVA_FILTER:+-Dweir.filter="$WEIR_JAVA_FILTER"} weir.compat.TxnClients "$B" \
    >"$w/java.tap" 2>"$w/java.err" || true
while IFS= read -r line; do
    case $line in
    "ok "*) ok "${line#ok [0-9]* - }" ;;
    "not ok "*) n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - ${line#not ok [0-9]* - }" ;;
    "1.."*) ;;
    *) echo "$line" ;;
    esac
done <"$w/java.tap"
if ! grep -q '^1\.\.' "$w/java.tap"; then
    not_ok "TxnClients ended without its plan" "$(tail -15 "$w/java.err")"
fi

# --- kafka-transactions on a transaction left open by a producer killed with SIGKILL ------
kafka-topics.sh --bootstrap-server "$B" --create --topic cli-hang --partitions 2 \
    --replication-factor 1 >/dev/null 2>&1 || true
start_ms=$(($(date +%s%N) / 1000000))
# open-0..7: 4 per partition at 0-3; after-0..3 (plain): 2 per partition at 4-5.
coproc HANG { exec "${jvm[@]}" weir.compat.TxnHang "$B" cli-hang cli-hang 2 8 4 120000 2>"$w/hang.err"; }
hang_pid=$HANG_PID
read -r -t 60 ready <&"${HANG[0]}" || ready=
kill -KILL "$hang_pid" 2>/dev/null || true
wait "$hang_pid" 2>/dev/null || true
if [[ $ready != READY ]]; then
    not_ok "the transactional producer (TxnHang) got ready" "$(tail -10 "$w/hang.err")"
    compat_done
    exit
fi
kt() { kafka-transactions.sh --bootstrap-server "$B" "$@"; }
cols() { tr -s ' \t' ' ' | sed 's/ $//'; } # the tool pads columns with spaces and a tab

out=$(kt describe --transactional-id cli-hang 2>&1 | cols || true)
expect_eq "describe: the header" \
    "CoordinatorId TransactionalId ProducerId ProducerEpoch TransactionState TransactionTimeoutMs CurrentTransactionStartTimeMs TransactionDurationMs TopicPartitions" \
    "$(head -1 <<<"$out")"
read -r coord tid pid epoch state timeout started dur parts <<<"$(sed -n 2p <<<"$out")"
now_ms=$(($(date +%s%N) / 1000000))
parts_sorted=$(tr ',' '\n' <<<"${parts:-}" | sort | tr '\n' ' ')
expect_eq "describe: coordinator, id, epoch, state, timeout, partitions" \
    "1 cli-hang 0 Ongoing 120000 cli-hang-0 cli-hang-1 " \
    "${coord:-} ${tid:-} ${epoch:-} ${state:-} ${timeout:-} $parts_sorted"
if [[ ${pid:-} =~ ^[0-9]+$ && ${started:-} =~ ^[0-9]+$ && ${dur:-} =~ ^[0-9]+$ ]] &&
    ((started >= start_ms - 1000 && started <= now_ms && dur >= 0 && dur <= now_ms - start_ms + 1000)); then
    ok "describe: a producer id, the start time and the duration within the test"
else
    not_ok "describe: a producer id, the start time and the duration within the test" \
        "pid=${pid:-} started=${started:-} duration=${dur:-} (test window $start_ms..$now_ms)"
fi

out=$(kt list 2>&1 | cols || true)
expect_eq "list: the header" "TransactionalId Coordinator ProducerId TransactionState" "$(head -1 <<<"$out")"
# Sorted rows without producer ids (those come from the broker), then cli-hang's id checked.
rows=$(tail -n +2 <<<"$out" | awk '{print $1, $2, $4}' | sort)
expect_eq "list: every transactional id of this test with its coordinator and state" \
    "cli-hang 1 Ongoing
jt-commit-abort 1 CompleteCommit
jt-ctp 1 CompleteCommit
jt-empty 1 Empty
jt-hang 1 Ongoing
jt-stale 1 CompleteCommit
jt-zombie 1 CompleteCommit" "$rows"
expect_eq "list: cli-hang's producer id is describe's" "${pid:-}" \
    "$(awk '$1 == "cli-hang" {print $3}' <<<"$out")"

dp() { kt describe-producers --topic cli-hang --partition "$1" 2>&1 | cols || true; }
out=$(dp 0)
expect_eq "describe-producers: the header" \
    "ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset" \
    "$(head -1 <<<"$out")"
# The killed transactional producer (start offset 0) and the plain idempotent one (None).
expect_eq "describe-producers partition 0: the open transaction from offset 0, the plain producer" \
    "plain 0 -1 1 None
txn 0 -1 3 0" \
    "$(tail -n +2 <<<"$out" | awk -v pid="${pid:-}" '{print ($1 == pid ? "txn" : "plain"), $2, $3, $4, $6}' | sort)"

out=$(kt find-hanging --broker-id 1 --max-transaction-timeout 0 2>&1 | cols || true)
# Open for more than 0 minutes, but its coordinator still tracks that partition in the
# transaction: not hanging (the coordinator will write the marker).
expect_eq "find-hanging --max-transaction-timeout 0: a transaction its coordinator tracks is not hanging" \
    "Topic Partition ProducerId ProducerEpoch CoordinatorEpoch StartOffset LastTimestamp Duration(min)" "$out"
out=$(kt find-hanging --topic cli-hang 2>&1 | cols || true)
expect_eq "find-hanging --topic (15 minutes): nothing" \
    "Topic Partition ProducerId ProducerEpoch CoordinatorEpoch StartOffset LastTimestamp Duration(min)" "$out"

read_committed() { # PARTITION: values a read_committed consumer gets, with their offsets
    kafka-console-consumer.sh --bootstrap-server "$B" --topic cli-hang --partition "$1" \
        --offset earliest --isolation-level read_committed --timeout-ms 4000 \
        --formatter-property print.offset=true 2>/dev/null | sed 's/^Offset://; s/\t/ /' || true
}
expect_eq "read_committed partition 0 before the abort: nothing (held at the LSO)" "" "$(read_committed 0)"

out=$(kt abort --topic cli-hang --partition 0 --start-offset 0 2>&1) && rc=0 || rc=$?
expect_eq "abort --start-offset 0 on partition 0: exit 0, no output" "0:" "$rc:$out"
out=$(dp 0)
expect_eq "describe-producers partition 0 after the abort: no open transaction, coordinator epoch 0" \
    "${pid:-} 0 0 3 None" "$(awk -v pid="${pid:-}" '$1 == pid {print $1, $2, $3, $4, $6}' <<<"$out")"
expect_eq "read_committed partition 0 after the abort: the plain records at 4 and 5" \
    $'4 after-0\n5 after-2' "$(read_committed 0)"
out=$(kt abort --topic cli-hang --partition 1 --start-offset 2 2>&1) && rc=0 || rc=$?
expect_eq "abort at a start offset with no transaction: exit 1 and the tool's message" \
    "1:Could not find any open transactions starting at offset 2 on partition cli-hang-1" "$rc:$out"
out=$(kt describe --transactional-id cli-nope 2>&1) && rc=0 || rc=$?
# The Admin client's words for TRANSACTIONAL_ID_NOT_FOUND (105).
expect_eq "describe of an unknown transactional id: exit 1, TRANSACTIONAL_ID_NOT_FOUND" \
    '1:Failed to describe transaction state of transactional-id `cli-nope`: DescribeTransactions request for transactionalId `cli-nope` failed because the ID could not be found. Enable debug logging for additional detail.' \
    "$rc:$out"
compat_done
