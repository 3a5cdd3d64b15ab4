#!/usr/bin/env bash
# A static group leader that restarts, with the Java consumer (kafka-console-consumer 4.x,
# JoinGroup v9): back under a new member id within its session timeout, the broker tells it
# that it still leads and to skip the assignment (KIP-814), so it keeps its partition without a
# rebalance and, as leader, goes on watching the topic: a partition added afterwards is noticed
# (a metadata refresh every second), the group rebalances and the new partition's record is
# read. Were the returning leader answered as a follower, nobody would watch the topic and the
# record would never be read.
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
compat_done
