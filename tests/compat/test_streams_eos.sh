#!/usr/bin/env bash
# Kafka Streams 4.x with processing.guarantee=exactly_once_v2 under crashes
# (tests/java/src/weir/compat/StreamsEos.java): per-account running sums through a repartition
# topic and a changelog-backed store, fed 3000 records at 100 a second. While the input flows
# the app is killed with SIGKILL three times (restarted on the same state dir each time: the
# same transactional id fences its zombie) and the broker once (restarted on the same data
# and port under the running app). The read_committed output must be exactly one running sum
# per input record, in input order per account: no duplicate, no loss, exact final sums.
# Skips (1..0 # SKIP) when the broker does not advertise EndTxn (API key 26).
#   WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka at transaction.version 1
source "$(dirname "$0")/lib/compat.bash"
COMPAT_BROKER_SETTINGS="transaction.abort.timed.out.transaction.cleanup.interval.ms=500 $COMPAT_BROKER_SETTINGS"
# Kafka 4.4 formats a cluster with eligible leader replicas (KIP-966): after a SIGKILL the one
# broker's partitions stay leaderless for about 10 s after its restart, and the transaction
# coordinator drops abort markers for partitions without a leader ("likely deleted"), leaving
# transactions hanging forever (seen here: the app's restore blocked at the changelog's LSO).
# Weir has no ELR; the oracle runs without it (see also the app's transaction timeout).
COMPAT_KAFKA_FEATURES=${COMPAT_KAFKA_FEATURES:-transaction.version=1 eligible.leader.replicas.version=0}
compat_require_api 26 "transactions not advertised"
compat_start_broker eos
compat_java_classes
B=$BROKER
w=$compat_work
N=${WEIR_EOS_RECORDS:-3000}
RATE=${WEIR_EOS_RATE:-100}
t_start=$SECONDS
jvm=(java -Xmx384m -XX:TieredStopAtLevel=1 -Xshare:auto
    -Dlog4j2.configurationFile="$compat_dir/lib/log4j2-tools.properties" -cp "$JAVA_CP"
    weir.compat.StreamsEos)
say() { echo "# [$((SECONDS - t_start))s] $*"; }

if ! "${jvm[@]}" setup "$B" >"$w/setup.out" 2>&1; then
    not_ok "creating eos-in and eos-out" "$(tail -5 "$w/setup.out")"
    compat_done
    exit
fi
"${jvm[@]}" produce "$B" "$N" "$RATE" >"$w/produce.out" 2>"$w/produce.err" &
prod_pid=$!
compat_pids+=("$prod_pid")

apps=0
app_pid=
start_app() {
    apps=$((apps + 1))
    "${jvm[@]}" app "$B" "$w/state" >"$w/app$apps.out" 2>"$w/app$apps.err" &
    app_pid=$!
    compat_pids+=("$app_pid")
}
wait_running() { # the current app reaches RUNNING within 90 s
    local i
    for i in $(seq 900); do
        grep -q '^RUNNING' "$w/app$apps.out" 2>/dev/null && { say "app $apps RUNNING"; return 0; }
        kill -0 "$app_pid" 2>/dev/null || break
        sleep 0.1
    done
    say "app $apps did not reach RUNNING"
    return 1
}
kill_app() {
    kill -KILL "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    say "app $apps killed (SIGKILL)"
}

running=0
start_app
wait_running && running=$((running + 1))
sleep 4
kill_app
start_app
wait_running && running=$((running + 1))
sleep 3
compat_kill_broker
say "broker killed (SIGKILL)"
compat_start_broker eos
say "broker restarted on $BROKER"
sleep 5
kill_app
start_app
wait_running && running=$((running + 1))
sleep 3
kill_app
start_app
wait_running && running=$((running + 1))
expect_eq "the app reached RUNNING after each of its 4 starts" 4 "$running"

if wait "$prod_pid" && grep -q "^PRODUCED $N" "$w/produce.out"; then
    ok "the producer wrote all $N input records (idempotent, through the broker restart)"
else
    not_ok "the producer wrote all $N input records (idempotent, through the broker restart)" \
        "$(grep -E 'Exception|ERROR' "$w/produce.err" | head -5)"
fi
say "input complete"
"${jvm[@]}" verify "$B" "$N" 90000 >"$w/verify.out" 2>"$w/verify.err" || true
say "verified"
while IFS= read -r line; do
    case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - ${line#not ok - }" ;;
    *) echo "$line" ;;
    esac
done <"$w/verify.out"
grep -q 'final sum' "$w/verify.out" || not_ok "the verifier ran" "$(tail -10 "$w/verify.err")"
kill -TERM "$app_pid" 2>/dev/null || true
if ((fail > 0)); then
    for f in "$w"/app*.err; do
        grep -E 'ERROR|Exception' "$f" | head -3 | sed "s|^|# $(basename "$f"): |"
    done
fi
compat_done
