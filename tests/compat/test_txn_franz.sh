#!/usr/bin/env bash
# franz-go transactions (tests/go/cmd/franztxn): kgo's transactional producer (commit, abort,
# exact offsets under read_committed and read_uncommitted; a zombie fenced by a second client
# with its transactional id; kadm DescribeTransactions / ListTransactions), then exactly-once
# consume-transform-produce with two GroupTransactSession workers in a group over 4 input
# partitions, one of them killed with SIGKILL mid-way and restarted (its transactional id
# fences its zombie): every input record exactly once in the read_committed output, in input
# order per partition, and the group's offsets at the ends of the input.
# Skips (1..0 # SKIP) when the broker does not advertise EndTxn (API key 26).
#   WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka at transaction.version 1
source "$(dirname "$0")/lib/compat.bash"
COMPAT_BROKER_SETTINGS="transaction.abort.timed.out.transaction.cleanup.interval.ms=500 $COMPAT_BROKER_SETTINGS"
COMPAT_KAFKA_FEATURES=${COMPAT_KAFKA_FEATURES:-transaction.version=1}
compat_require_api 26 "transactions not advertised"
compat_start_broker franztxn
compat_go_build
B=$BROKER
w=$compat_work
N=${WEIR_FRANZ_TXN_RECORDS:-3000}
t_start=$SECONDS
say() { echo "# [$((SECONDS - t_start))s] $*"; }

# relay FILE: the TAP lines of a sub-program, numbered on from here.
relay() {
    local line
    while IFS= read -r line; do
        case $line in
        "ok "*) ok "$(sed -E 's/^ok ([0-9]+ )?- //' <<<"$line")" ;;
        "not ok "*) n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $(sed -E 's/^not ok ([0-9]+ )?- //' <<<"$line")" ;;
        "1.."*) ;;
        *) echo "$line" ;;
        esac
    done <"$1"
}

timeout 180 "$GO_BIN/franztxn" -b "$B" -mode basics >"$w/basics.tap" 2>"$w/basics.err" || true
relay "$w/basics.tap"
grep -q '^1\.\.' "$w/basics.tap" || not_ok "franztxn basics ended without its plan" "$(tail -5 "$w/basics.err")"

if ! timeout 90 "$GO_BIN/franztxn" -b "$B" -mode setup -n "$N" 2>"$w/setup.err"; then
    not_ok "setup: topics and $N input records" "$(tail -5 "$w/setup.err")"
    compat_done
    exit
fi
say "$N input records written"
declare -A wpid
start_worker() {
    "$GO_BIN/franztxn" -b "$B" -mode worker -id "$1" >>"$w/worker$1.out" 2>>"$w/worker$1.err" &
    wpid[$1]=$!
    compat_pids+=("${wpid[$1]}")
}
progress() { # records committed by worker $1 so far (its last PROGRESS line)
    { grep '^PROGRESS' "$w/worker$1.out" 2>/dev/null || true; } | tail -1 | awk '{print $2 + 0}'
}
start_worker 1
start_worker 2
# Kill worker 1 once both have committed something and the total is past a third.
killed=0
for _ in $(seq 600); do
    p1=$(progress 1) p2=$(progress 2)
    if ((${p1:-0} > 0 && ${p2:-0} > 0 && ${p1:-0} + ${p2:-0} >= N / 3)); then
        kill -KILL "${wpid[1]}"
        wait "${wpid[1]}" 2>/dev/null || true
        killed=1
        say "worker 1 killed (SIGKILL) at ${p1} + ${p2} committed"
        break
    fi
    sleep 0.1
done
if ((killed)); then
    ok "both workers committed transactions, worker 1 killed mid-way"
else
    not_ok "both workers committed transactions, worker 1 killed mid-way" \
        "progress: worker 1 $(progress 1), worker 2 $(progress 2)" "$(tail -5 "$w/worker1.err" "$w/worker2.err")"
fi
echo "--- restarted" >>"$w/worker1.out"
start_worker 1
say "worker 1 restarted"
timeout 150 "$GO_BIN/franztxn" -b "$B" -mode verify -n "$N" -timeout 100s >"$w/verify.tap" 2>"$w/verify.err" || true
say "verified"
relay "$w/verify.tap"
grep -q 'committed offsets' "$w/verify.tap" || not_ok "the verifier ran" "$(tail -5 "$w/verify.err")"
kill -TERM "${wpid[1]}" "${wpid[2]}" 2>/dev/null || true
if ((fail > 0)); then
    for f in "$w"/worker*.err; do tail -3 "$f" | sed "s|^|# $(basename "$f"): |"; done
fi
compat_done
