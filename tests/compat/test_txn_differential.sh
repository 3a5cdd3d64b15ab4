#!/usr/bin/env bash
# Differential tests of transactions: the weirdiff scenarios named txn_* (tests/go/cmd/weirdiff/
# txn.go: InitProducerId with transactional ids, AddPartitionsToTxn v3/v4, AddOffsetsToTxn,
# TxnOffsetCommit, EndTxn, transactional Produce, read_committed Fetch, ListOffsets isolation,
# DescribeTransactions, ListTransactions, DescribeProducers, WriteTxnMarkers) against Apache
# Kafka formatted at transaction.version 1 (the level Weir serves) and against Weir; their
# normalized transcripts must be equal, except for the deliberate differences
# docs/compatibility.md lists. One TAP line per scenario.
# Skips (1..0 # SKIP) when the broker does not advertise EndTxn (API key 26).
#   WEIR_COMPAT_TARGET=kafka   compare Kafka with a second, fresh Kafka (checks determinism)
#   WEIR_DIFF_KEEP=DIR         keep both transcript directories in DIR
source "$(dirname "$0")/lib/compat.bash"
COMPAT_KAFKA_FEATURES=${COMPAT_KAFKA_FEATURES:-transaction.version=1}
compat_require_api 26 "transactions not advertised"
compat_start_broker candidate # Weir, or the second Kafka
compat_go_build
ref=$compat_work/kafka cand=$compat_work/$COMPAT_TARGET-cand
mkdir -p "$ref" "$cand"
feats=()
for kv in $COMPAT_KAFKA_FEATURES; do feats+=(--feature "$kv"); done
"$compat_dir/lib/kafka_oracle.sh" --dir "$compat_work/oracle" --max-seconds 900 "${feats[@]}" \
    >"$compat_work/oracle.out" 2>"$compat_work/oracle.err" &
oracle_pid=$!
compat_pids+=("$oracle_pid")
for _ in $(seq 1800); do
    grep -q '^listening on ' "$compat_work/oracle.out" 2>/dev/null && break
    kill -0 "$oracle_pid" 2>/dev/null || break
    sleep 0.1
done
KAFKA=$(sed -n 's/^listening on //p' "$compat_work/oracle.out" | head -1)
if [[ -z $KAFKA ]]; then
    not_ok "Apache Kafka (the oracle) did not start" "$(tail -20 "$compat_work/oracle.err")"
    exit 1
fi
echo "# Apache Kafka on $KAFKA, $COMPAT_TARGET on $BROKER"
timeout 300 "$GO_BIN/weirdiff" -b "$KAFKA" -match '^txn_' -out "$ref" &
p1=$!
timeout 300 "$GO_BIN/weirdiff" -b "$BROKER" -match '^txn_' -out "$cand" &
p2=$!
wait "$p1" "$p2" || true
if [[ -n ${WEIR_DIFF_KEEP:-} ]]; then
    mkdir -p "$WEIR_DIFF_KEEP"
    rm -rf "$WEIR_DIFF_KEEP/kafka" "$WEIR_DIFF_KEEP/$COMPAT_TARGET"
    cp -r "$ref" "$WEIR_DIFF_KEEP/kafka"
    cp -r "$cand" "$WEIR_DIFF_KEEP/$COMPAT_TARGET"
fi
/usr/bin/python3 "$compat_dir/lib/diffcmp.py" "$ref" "$cand" "$compat_top/docs/compatibility.md" \
    kafka "$COMPAT_TARGET"
