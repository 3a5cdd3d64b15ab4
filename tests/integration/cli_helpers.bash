# Shared by tests/integration/test_cli_*.sh (sourced; not a test itself: the runner only runs
# *.sh). Starts a broker on a free port with its own data dir and kills it at exit; gives TAP
# helpers that print "ok N - name" / "not ok N - name" with the evidence as "# " lines.
#
#   WEIR_BIN              the weir binary under test (the runner sets it)
#   WEIR_GOLDEN_UPDATE=1  rewrite tests/integration/golden/cli/*.txt from this run
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WEIR=${WEIR_BIN:-$top/build/weir}
PY=/usr/bin/python3
golden_dir=$top/tests/integration/golden/cli
work=$(mktemp -d)
broker_pid=
n=0
fail=0

cli_cleanup() {
    if [[ -n $broker_pid ]]; then
        kill "$broker_pid" 2>/dev/null
        wait "$broker_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cli_cleanup EXIT

# Starts `weir serve` on 127.0.0.1:0 (extra serve flags may follow); sets BROKER and exports
# WEIR_BROKERS.
cli_start_broker() {
    mkdir -p "$work/data"
    # The background job opens broker.out itself, maybe after the loop below first reads it: a
    # restart must not find the previous broker's "listening on" line there.
    rm -f "$work/broker.out"
    "$WEIR" serve --data-dir "$work/data" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
        --set group.initial.rebalance.delay.ms=0 "$@" >"$work/broker.out" 2>"$work/broker.err" &
    broker_pid=$!
    for _ in $(seq 100); do
        grep -q '^listening on ' "$work/broker.out" 2>/dev/null && break
        sleep 0.1
    done
    BROKER=$(sed -n 's/^listening on //p' "$work/broker.out")
    if [[ -z $BROKER ]]; then
        echo "not ok 1 - broker did not start"
        sed 's/^/    # /' "$work/broker.err" | tail -20
        exit 1
    fi
    export WEIR_BROKERS=$BROKER
}

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}

not_ok() { # name, evidence lines...
    n=$((n + 1))
    fail=$((fail + 1))
    echo "not ok $n - $1"
    shift
    local l
    for l in "$@"; do
        printf '%s\n' "$l" | sed 's/^/    # /'
    done
}

# check NAME CMD...: ok when CMD succeeds.
check() {
    local name=$1
    shift
    if "$@" >"$work/check.out" 2>&1; then
        ok "$name"
    else
        not_ok "$name" "command: $*" "$(tail -20 "$work/check.out")"
    fi
}

# run CMD...: runs it with stdout in $work/out, stderr in $work/err, exit code in $rc. A
# command that hangs is killed after 120 s (exit 124) so a bug cannot stall the suite.
run() {
    timeout -k 5 120 "$@" >"$work/out" 2>"$work/err"
    rc=$?
}

# expect_rc NAME WANT CMD...: the exit code is WANT; for errors also exactly one stderr line.
expect_rc() {
    local name=$1 want=$2
    shift 2
    run "$@"
    local lines
    lines=$(wc -l <"$work/err")
    if [[ $rc != "$want" ]]; then
        not_ok "$name" "command: $*" "exit $rc, wanted $want" "stderr: $(cat "$work/err")"
    elif [[ $want != 0 && $lines != 1 ]]; then
        not_ok "$name" "command: $*" "wanted one stderr line, got $lines:" "$(cat "$work/err")"
    else
        ok "$name"
    fi
}

# jcheck NAME PYEXPR [FILE]: parses FILE (default $work/out) as JSON into `d` and checks that
# the Python expression is true.
jcheck() {
    local name=$1 expr=$2 file=${3:-$work/out}
    if $PY -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($expr) else 1)" \
        "$file" 2>"$work/jcheck.err"; then
        ok "$name"
    else
        not_ok "$name" "check: $expr" "json: $(head -c 2000 "$file")" "$(cat "$work/jcheck.err")"
    fi
}

# Replaces what changes from run to run: ports, cluster ids, times, member ids, hosts.
cli_mask() {
    sed -E -e "s/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/g" \
        -e 's/^(CLUSTER +)[^ ]+$/\1CLUSTER-ID/' \
        -e 's/^(1 +127\.0\.0\.1 +)[0-9]+$/\1PORT/' \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/TIME/g' \
        -e 's/weir-cli-[0-9a-f-]+/MEMBER-ID/g' \
        -e 's/librdkafka [0-9.]+/librdkafka VERSION/' \
        -e 's/^(TOPICS +[0-9]+) \(and [0-9]+ internal\)$/\1 (and N internal)/'
}

# golden NAME FILE: the masked file equals tests/integration/golden/cli/NAME.txt.
golden() {
    local name=$1 file=${2:-$work/out}
    cli_mask <"$file" >"$work/masked"
    if [[ ${WEIR_GOLDEN_UPDATE:-0} == 1 ]]; then
        mkdir -p "$golden_dir"
        cp "$work/masked" "$golden_dir/$name.txt"
    fi
    if diff -u "$golden_dir/$name.txt" "$work/masked" >"$work/diff" 2>&1; then
        ok "golden $name"
    else
        not_ok "golden $name" "$(head -40 "$work/diff")"
    fi
}

# Committed offsets of a group, read with librdkafka (confluent-kafka), not with weir:
# prints one "topic partition offset" line per partition given as topic:partition.
committed() { # group topic:partition...
    $PY - "$BROKER" "$@" <<'EOF'
import sys
from confluent_kafka import Consumer, TopicPartition
broker, group, parts = sys.argv[1], sys.argv[2], sys.argv[3:]
c = Consumer({"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False})
tps = [TopicPartition(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in parts]
for tp in c.committed(tps, timeout=10):
    print(tp.topic, tp.partition, tp.offset)
c.close()
EOF
}

cli_finish() {
    echo "1..$n"
    ((fail == 0))
}
