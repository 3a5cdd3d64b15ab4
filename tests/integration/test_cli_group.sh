#!/usr/bin/env bash
# `weir consume -g` and `weir group ...` against a broker started here. Committed offsets are
# checked with librdkafka through confluent-kafka (not with weir), so weir is not its own
# witness: -n and Ctrl-C commit exactly what was printed, `group seek` without --execute changes
# nothing and with it moves the offsets exactly, describe and list report them.
. "$(dirname "$0")/cli_helpers.bash"
cli_start_broker

"$WEIR" topic create gt -p 2 >/dev/null
seq 0 9 | "$WEIR" produce gt -p 0
seq 10 19 | "$WEIR" produce gt -p 1

# ---- consume -g commits what it printed -------------------------------------------------------
expect_rc "consume -g g1 -n 5" 0 "$WEIR" consume gt -g g1 -n 5 -f '%p %o\n'
cp "$work/out" "$work/g1.out"
check "  ... 5 records" test "$(wc -l <"$work/g1.out")" == 5
# The 5 printed records are from one or both partitions; what is committed must be one past the
# last printed offset of each partition (nothing for a partition not read).
want=$(awk '{last[$1] = $2 + 1} END {for (p = 0; p < 2; p++) print "gt", p, (p in last ? last[p] : -1001)}' \
    "$work/g1.out")
got=$(committed g1 gt:0 gt:1)
check "  ... committed = last printed + 1 (librdkafka sees: $(echo $got))" test "$got" == "$want"

expect_rc "consume -g g1 again continues where it stopped" 0 "$WEIR" consume gt -g g1 -e \
    -f '%p %o\n'
check "  ... the other 15, none twice" test "$(cat "$work/g1.out" "$work/out" | sort | uniq | wc -l)" \
    == 20
check "  ... committed to the end" test "$(committed g1 gt:0 gt:1 | xargs)" == "gt 0 10 gt 1 10"

# ---- describe and list -----------------------------------------------------------------------
seq 20 22 | "$WEIR" produce gt -p 0 # lag 3 on partition 0
expect_rc "group describe" 0 "$WEIR" group describe g1
golden group_describe
expect_rc "group describe -o json" 0 "$WEIR" group describe g1 -o json
jcheck "  ... fields" 'd["group"] == "g1" and d["state"] == "Empty" and d["members"] == [] and
  d["total_lag"] == 3 and d["coordinator"]["id"] == 1 and
  [(o["topic"], o["partition"], o["committed_offset"], o["log_end_offset"], o["lag"],
    o["member_id"]) for o in d["offsets"]] == [("gt", 0, 10, 13, 3, None), ("gt", 1, 10, 10, 0, None)]'
expect_rc "group list" 0 "$WEIR" group list
golden group_list
expect_rc "group list -o json" 0 "$WEIR" group list -o json
jcheck "  ... fields" 'd == [{"group": "g1", "state": "Empty", "simple": False}]'
expect_rc "group list -q" 0 "$WEIR" group list -q
check "  ... names only" test "$(cat "$work/out")" == g1
expect_rc "describe an unknown group: exit 3" 3 "$WEIR" group describe nope

# ---- seek: dry run, then --execute ----------------------------------------------------------
expect_rc "seek --to start (dry run)" 0 "$WEIR" group seek g1 --to start
golden group_seek_dry
check "  ... says nothing changed" grep -q "dry run" "$work/err"
check "  ... nothing changed (librdkafka)" test "$(committed g1 gt:0 gt:1 | xargs)" == \
    "gt 0 10 gt 1 10"
expect_rc "seek --to start --execute" 0 "$WEIR" group seek g1 --to start --execute -o json
jcheck "  ... json before/after/lag" 'd["group"] == "g1" and d["executed"] is True and
  [(p["topic"], p["partition"], p["before"], p["after"], p["log_end_offset"], p["lag"])
   for p in d["partitions"]] == [("gt", 0, 10, 0, 13, 13), ("gt", 1, 10, 0, 10, 10)]'
check "  ... committed offsets moved to 0 (librdkafka)" test \
    "$(committed g1 gt:0 gt:1 | xargs)" == "gt 0 0 gt 1 0"
expect_rc "seek --to 7 --execute" 0 "$WEIR" group seek g1 --to 7 --execute
check "  ... exactly 7 (librdkafka)" test "$(committed g1 gt:0 gt:1 | xargs)" == "gt 0 7 gt 1 7"
expect_rc "seek --to -2 --execute (2 before the end)" 0 "$WEIR" group seek g1 --to -2 --execute
check "  ... 11 and 8 (librdkafka)" test "$(committed g1 gt:0 gt:1 | xargs)" == "gt 0 11 gt 1 8"
expect_rc "seek --to end --execute" 0 "$WEIR" group seek g1 --to end --execute
check "  ... 13 and 10 (librdkafka)" test "$(committed g1 gt:0 gt:1 | xargs)" == "gt 0 13 gt 1 10"
expect_rc "seek --to 99 is clamped to the end" 0 "$WEIR" group seek g1 --to 99 -o json
jcheck "  ... after = log end" '[p["after"] for p in d["partitions"]] == [13, 10]'

# Seek by time: records of partition 0 written at known times (CreateTime).
"$WEIR" topic create tt -p 1 >/dev/null
printf '1000 a\n2000 b\n3000 c\n' | "$WEIR" produce tt -f '%T %v\n'
expect_rc "seek a new group by time --topics tt --execute" 0 "$WEIR" group seek g2 \
    --to 1970-01-01T00:00:01.500Z --topics tt --execute
check "  ... committed 1 (librdkafka)" test "$(committed g2 tt:0 | xargs)" == "tt 0 1"
expect_rc "  ... consume -g g2 starts there" 0 "$WEIR" consume tt -g g2 -e -f '%v'
check "  ... b c" test "$(cat "$work/out")" == bc
expect_rc "seek an unknown group without --topics: exit 3" 3 "$WEIR" group seek nope --to start
expect_rc "seek without --to: exit 2" 2 "$WEIR" group seek g1
expect_rc "seek --to soon: exit 2" 2 "$WEIR" group seek g1 --to soon
expect_rc "seek --topics with an unknown topic: exit 3" 3 "$WEIR" group seek g1 --to start \
    --topics nope

# ---- an active member: seek refuses, describe shows it ---------------------------------------
"$WEIR" consume gt -g g1 -f '%v\n' >"$work/member.out" 2>"$work/member.err" &
mpid=$!
for _ in $(seq 100); do
    "$WEIR" group describe g1 -o json >"$work/d.json" 2>/dev/null &&
        $PY -c 'import json,sys; d = json.load(open(sys.argv[1]))
sys.exit(0 if d["state"] == "Stable" and d["members"] and d["members"][0]["assignments"] else 1)' \
            "$work/d.json" && break
    sleep 0.1
done
jcheck "describe shows the member and its partitions" 'd["state"] == "Stable" and
  len(d["members"]) == 1 and d["members"][0]["client_id"] == "weir-cli" and
  sorted((a["topic"], a["partition"]) for a in d["members"][0]["assignments"]) ==
    [("gt", 0), ("gt", 1)] and
  all(o["member_id"] == d["members"][0]["member_id"] for o in d["offsets"])' "$work/d.json"
expect_rc "seek --execute with an active member: exit 1" 1 "$WEIR" group seek g1 --to start \
    --execute
check "  ... nothing moved" test "$(committed g1 gt:0 gt:1 | xargs)" == "gt 0 13 gt 1 10"
expect_rc "delete with an active member fails" 1 "$WEIR" group delete g1 --yes

# Ctrl-C: the member prints what arrives, then commits exactly that on the way out.
seq 100 199 | "$WEIR" produce gt -p 1
for _ in $(seq 100); do
    [[ $(wc -l <"$work/member.out") -ge 100 ]] && break
    sleep 0.1
done
kill -INT $mpid
wait $mpid
mrc=$?
check "Ctrl-C: exit 0 ($mrc), 100 records printed" test "$mrc" == 0 -a \
    "$(wc -l <"$work/member.out")" == 100
check "  ... committed 110 on partition 1 (librdkafka)" test \
    "$(committed g1 gt:0 gt:1 | xargs)" == "gt 0 13 gt 1 110"

# -o with -g wins over the committed offsets.
expect_rc "consume -g with -p: exit 2" 2 "$WEIR" consume gt -g g1 -p 0
expect_rc "consume -g g1 --from -1 -e" 0 "$WEIR" consume gt -g g1 --from -1 -e -f '%p:%v\n'
check "  ... one record from each partition's end" test "$(sort "$work/out" | xargs)" == \
    "0:22 1:199"

# ---- delete ---------------------------------------------------------------------------------
expect_rc "delete without --yes and no terminal: refused" 2 "$WEIR" group delete g1
expect_rc "delete --yes" 0 "$WEIR" group delete g1 g2 --yes
golden group_delete
expect_rc "  ... describe: exit 3" 3 "$WEIR" group describe g1
check "  ... no committed offsets (librdkafka)" test "$(committed g1 gt:0 gt:1 | xargs)" == \
    "gt 0 -1001 gt 1 -1001"
expect_rc "delete an unknown group: exit 3" 3 "$WEIR" group delete nope --yes

cli_finish
