#!/usr/bin/env bash
# A static group leader that restarts, with the Java consumer (kafka-console-consumer 4.x,
# JoinGroup v9): back under a new member id within its session timeout, the broker tells it
# that it still leads and to skip the assignment (KIP-814), so it keeps its partition without a
# rebalance and, as leader, goes on watching the topic: a partition added afterwards is noticed
# (a metadata refresh every second), the group rebalances and the new partition's record is
# read. Were the returning leader answered as a follower, nobody would watch the topic and the
# record would never be read. Then the same leader restarts with a wider subscription (t1, then
# t1 and t2 through --include): as with Kafka 4.x, it keeps its old assignment (t1 only) with no
# rebalance, and t2's record is not read (see docs/groups.md, "Static membership").
#   WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka (checks the test)
source "$(dirname "$0")/lib/compat.bash"
compat_start_broker staticleader
B=$BROKER
w=$compat_work

consume() { # OUT MAX: the static member x of group slg, reading topic sl
    kafka-console-consumer.sh --bootstrap-server "$B" --topic sl --group slg --from-beginning \
        --command-property group.instance.id=x --command-property session.timeout.ms=30000 \
        --command-property metadata.max.age.ms=1000 --max-messages "$2" --timeout-ms 25000 \
        >"$1" 2>"$1.err" || true
}

wait_for() { # FILE TEXT: until FILE has the line TEXT (20 s)
    for _ in $(seq 200); do
        grep -qx "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

kafka-topics.sh --bootstrap-server "$B" --create --topic sl --partitions 1 >/dev/null 2>&1
printf 'a\n' | kcat -P -b "$B" -t sl -p 0
consume "$w/c1.out" 1
expect_eq "the static member x reads the first record (it leads the group alone)" a \
    "$(cat "$w/c1.out")"

# x restarts within its session timeout (a static member sends no LeaveGroup)
consume "$w/c2.out" 2 &
c2=$!
printf 'b\n' | kcat -P -b "$B" -t sl -p 0
if wait_for "$w/c2.out" b; then
    ok "back under a new member id, x reads the next record of its partition"
else
    not_ok "back under a new member id, x reads the next record of its partition" \
        "$(cat "$w/c2.out" "$w/c2.out.err")"
fi
kafka-topics.sh --bootstrap-server "$B" --alter --topic sl --partitions 2 >/dev/null 2>&1
printf 'c\n' | kcat -P -b "$B" -t sl -p 1
wait "$c2" || true
expect_eq "x, still the leader, notices the new partition and reads its record" $'b\nc' \
    "$(cat "$w/c2.out")"

# A wider subscription on restart: the old assignment back, t2 not assigned (Kafka's rule).
kafka-topics.sh --bootstrap-server "$B" --create --topic t1 --partitions 1 >/dev/null 2>&1
kafka-topics.sh --bootstrap-server "$B" --create --topic t2 --partitions 1 >/dev/null 2>&1
printf 'a\n' | kcat -P -b "$B" -t t1 -p 0
printf 'r\n' | kcat -P -b "$B" -t t2 -p 0
wide() { # OUT MAX TIMEOUT_MS SUBSCRIPTION...: the static member y of group wg
    local out=$1 max=$2 ms=$3
    shift 3
    kafka-console-consumer.sh --bootstrap-server "$B" "$@" --group wg --from-beginning \
        --command-property group.instance.id=y --command-property session.timeout.ms=30000 \
        --max-messages "$max" --timeout-ms "$ms" >"$out" 2>"$out.err" || true
}
wide "$w/w1.out" 1 25000 --topic t1
expect_eq "the static member y, subscribed to t1, reads its record" a "$(cat "$w/w1.out")"
wide "$w/w2.out" 1 6000 --include 't[12]'
expect_eq "y restarts subscribed to t1 and t2: t2's record is not read" "" "$(cat "$w/w2.out")"
out=$(kafka-consumer-groups.sh --bootstrap-server "$B" --describe --group wg --members --verbose \
    2>&1 | awk '$3 == "y" {print $8}')
expect_eq "y keeps its old assignment (kafka-consumer-groups --describe --members)" t1:0 "$out"
compat_done
