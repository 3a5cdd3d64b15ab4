#!/usr/bin/env bash
# Differential tests: the weirdiff scenarios (tests/go/cmd/weirdiff, one small scripted client
# session each, pinned request versions) run against Apache Kafka 4.x (started once) and
# against Weir; their normalized transcripts must be equal, except for the deliberate
# differences docs/compatibility.md lists. One TAP line per scenario.
#   WEIR_COMPAT_TARGET=kafka   compare Kafka with a second, fresh Kafka instead of Weir: checks
#                              that the scenarios and their normalization are deterministic
#   WEIR_DIFF_KEEP=DIR         keep both transcript directories in DIR
# The transaction scenarios (txn_*) run in test_txn_differential.sh, against a Kafka at
# transaction.version 1. Rerun one scenario by hand: build/compat/go/weirdiff -b HOST:PORT SCENARIO
source "$(dirname "$0")/lib/compat.bash"
compat_go_build
ref=$compat_work/kafka cand=$compat_work/$COMPAT_TARGET-cand
mkdir -p "$ref" "$cand"

# Kafka 4 formats a new cluster at transaction.version 2 (KIP-890 part 2), which Weir does not
# advertise (docs/compatibility.md): the oracle runs at the level Weir serves.
"$compat_dir/lib/kafka_oracle.sh" --dir "$compat_work/oracle" --max-seconds 900 \
    --feature transaction.version=1 >"$compat_work/oracle.out" 2>"$compat_work/oracle.err" &
oracle_pid=$!
compat_pids+=("$oracle_pid")
COMPAT_TARGET_SAVED=$COMPAT_TARGET
compat_start_broker candidate # Weir, or the second Kafka
for _ in $(seq 600); do
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
timeout 600 "$GO_BIN/weirdiff" -b "$KAFKA" -skip '^txn_' -out "$ref" &
p1=$!
timeout 600 "$GO_BIN/weirdiff" -b "$BROKER" -skip '^txn_' -out "$cand" &
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
