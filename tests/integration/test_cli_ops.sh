#!/usr/bin/env bash
# The operator's commands and the first-run fixes of issue 15, against a live broker, with exact
# outcomes: cluster health (and its exit code on a dead address), cluster config get|set (dry
# run, read-only and unknown keys), cluster logdirs (sizes equal the broker's own /metrics, through
# DescribeLogDirs), consume --end-offset/--end-time
# and ^regex topics, --dry-run everywhere a command changes state (nothing changes), produce to
# a missing topic with a partition (no topic left behind), an empty -b (usage error at once),
# and profiles (~/.config/weir/weir.yaml through $WEIR_CONFIG).
. "$(dirname "$0")/cli_helpers.bash"
cli_start_broker
HTTP=$(sed -n 's/^http on //p' "$work/broker.out")

# ---- cluster health -----------------------------------------------------------------------------
expect_rc "cluster health: exit 0" 0 "$WEIR" cluster health
check "  ... four checks, all ok" test "$(grep -cE '^(brokers|partitions|replication|groups) +ok' \
    "$work/out")" == 4
expect_rc "cluster health -o json" 0 "$WEIR" -o json cluster health
jcheck "  ... healthy, checks named" 'd["healthy"] is True and [c["check"] for c in d["checks"]] ==
    ["brokers", "partitions", "replication", "groups"]'
t0=$SECONDS
expect_rc "cluster health of a dead address: exit 1" 1 "$WEIR" -b 127.0.0.1:1 --timeout 2s \
    cluster health
check "  ... within the timeout" test $((SECONDS - t0)) -le 5

# ---- cluster config -----------------------------------------------------------------------------
expect_rc "config get log.retention.ms" 0 "$WEIR" -o json cluster config get log.retention.ms
jcheck "  ... its value, source and dynamic flag" 'd == [{"name": "log.retention.ms", "value": None,
    "source": "default", "dynamic": True, "sensitive": False}] or (len(d) == 1 and
    d[0]["source"] == "default")'
expect_rc "config set --dry-run" 0 "$WEIR" cluster config set log.retention.ms=3600000 --dry-run
"$WEIR" -o json cluster config get log.retention.ms >"$work/cfg.json"
check "  ... nothing changed" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]));
sys.exit(d[0]["source"] != "default")' "$work/cfg.json"
expect_rc "config set log.retention.ms=3600000" 0 "$WEIR" -o json cluster config set \
    log.retention.ms=3600000
jcheck "  ... old and new" 'd["changes"] == [{"name": "log.retention.ms", "old": None,
    "new": "3600000"}] or d["changes"][0]["new"] == "3600000"'
expect_rc "config get --dynamic" 0 "$WEIR" -o json cluster config get --dynamic
jcheck "  ... exactly that one, dynamic" '[(c["name"], c["value"], c["source"]) for c in d] ==
    [("log.retention.ms", "3600000", "dynamic")]'
expect_rc "config set --delete" 0 "$WEIR" cluster config set --delete log.retention.ms
expect_rc "  ... gone from the dynamic ones" 0 "$WEIR" -o json cluster config get --dynamic
jcheck "  ... (empty)" 'd == []'
expect_rc "config set a read-only key: exit 2" 2 "$WEIR" cluster config set node.id=7
expect_rc "config set an unknown key: exit 3" 3 "$WEIR" cluster config set no.such.key=1
expect_rc "config get an unknown key: exit 3" 3 "$WEIR" cluster config get no.such.key

# ---- topics for what follows --------------------------------------------------------------------
"$WEIR" topic create ops-a -p 2 >/dev/null
"$WEIR" topic create ops-b >/dev/null
"$WEIR" topic create other >/dev/null
# offsets 0-9 stamped 1 s, 2 s ... 10 s after the epoch
seq 0 9 | awk '{print ($1 + 1) "000 v" $1}' | "$WEIR" produce ops-a -p 0 -f '%T %v\n'
printf 'b0\nb1\nb2\n' | "$WEIR" produce ops-b
echo x | "$WEIR" produce other

# ---- cluster logdirs ----------------------------------------------------------------------------
run "$WEIR" -o json cluster logdirs ops-a
if [[ $rc == 0 ]]; then
    curl -s "http://$HTTP/metrics" >"$work/metrics.txt"
    "$PY" - "$work/out" "$work/metrics.txt" >"$work/cmp.txt" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
got = {p["partition"]: p["size"] for b in d for t in b["topics"] if t["name"] == "ops-a"
       for p in t["partitions"]}
want = {int(m.group(1)): int(m.group(2)) for m in re.finditer(
    r'^weir_partition_log_size_bytes\{partition="(\d+)",topic="ops-a"\} (\d+)$',
    open(sys.argv[2]).read(), re.M)}
print(got, want)
sys.exit(0 if got == want and got[0] > 0 else 1)
EOF
    check "cluster logdirs: sizes of ops-a equal the broker's weir_partition_log_size_bytes" \
        test $? == 0
else
    # Weir answers DescribeLogDirs (API 35) since the admin work: a failure here is a failure.
    not_ok "cluster logdirs ops-a: exit 0" "exit $rc" "stderr: $(cat "$work/err")"
fi

# ---- consume: ends and regular expressions -----------------------------------------------------
expect_rc "consume --end-offset 4: offsets 0-3 of partition 0, then it ends" 0 "$WEIR" consume \
    ops-a -p 0 --end-offset 4 -f '%o '
check "  ... exactly" test "$(cat "$work/out")" == "0 1 2 3 "
expect_rc "consume --end-offset -2 over both partitions" 0 "$WEIR" consume ops-a \
    --end-offset -2 -f '%p:%o '
check "  ... 0-7 of partition 0, none of the empty one" test "$(cat "$work/out")" == \
    "0:0 0:1 0:2 0:3 0:4 0:5 0:6 0:7 "
expect_rc "consume --end-time @5000 (records stamped 1000..10000 ms)" 0 "$WEIR" consume ops-a \
    -p 0 --end-time @5000 -f '%o '
check "  ... the records before 5 s" test "$(cat "$work/out")" == "0 1 2 3 "
expect_rc "consume '^ops-.*' (a regular expression)" 0 "$WEIR" consume '^ops-.*' -e -f '%t\n'
check "  ... ops-a and ops-b, not 'other'" test "$(sort -u "$work/out" | xargs)" == "ops-a ops-b"
expect_rc "consume '^nothing.*': exit 3" 3 "$WEIR" consume '^nothing.*' -e
expect_rc "consume '^(' (not an expression): exit 2" 2 "$WEIR" consume '^(' -e
expect_rc "consume -o start: exit 2 naming --from" 2 "$WEIR" consume ops-b -o start
check "  ... says --from" grep -q -- "--from" "$work/err"

# ---- --dry-run: nothing changes ------------------------------------------------------------------
expect_rc "consume -g --dry-run reads" 0 "$WEIR" consume ops-b -g dry-g --dry-run -e -f '%v '
check "  ... all three" test "$(cat "$work/out")" == "b0 b1 b2 "
"$WEIR" -o json group describe dry-g >"$work/g.json" 2>/dev/null
check "  ... and committed nothing" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]));
sys.exit(any(p.get("current_offset", -1) not in (-1, None) for p in d.get("partitions", [])))' \
    "$work/g.json"
expect_rc "topic create --dry-run" 0 "$WEIR" topic create dry-t -p 3 --dry-run
expect_rc "topic delete ops-b --dry-run" 0 "$WEIR" topic delete ops-b --dry-run
expect_rc "topic add-partitions ops-b -n 2 --dry-run" 0 "$WEIR" topic add-partitions ops-b -n 2 \
    --dry-run
expect_rc "topic alter-config --dry-run" 0 "$WEIR" topic alter-config ops-b \
    --set retention.ms=1000 --dry-run
expect_rc "topic trim --dry-run" 0 "$WEIR" -o json topic trim ops-b --before 2 --dry-run
jcheck "  ... would remove 2 records" '[(p["log_start_offset"], p["new_log_start_offset"],
    p["records"]) for p in d] == [(0, 2, 2)]'
"$WEIR" consume ops-a -g real-g -e -n 1 >/dev/null
expect_rc "group delete --dry-run" 0 "$WEIR" group delete real-g --dry-run
expect_rc "group seek --execute --dry-run: exit 2" 2 "$WEIR" group seek real-g --to start \
    --execute --dry-run
echo y | "$WEIR" produce no-such-topic --dry-run >/dev/null 2>&1
expect_rc "after all the dry runs" 0 "$WEIR" -o json topic list
jcheck "  ... the same topics, partition counts" '[(t["name"], t["partition_count"]) for t in d] ==
    [("ops-a", 2), ("ops-b", 1), ("other", 1)]'
expect_rc "  ... ops-b keeps its records and settings" 0 "$WEIR" consume ops-b -e -f '%o '
check "  ... from 0" test "$(cat "$work/out")" == "0 1 2 "
"$WEIR" -o json topic describe ops-b >"$work/d.json"
check "  ... retention.ms untouched" "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]));
c={x["name"]: x for x in d["configs"]}; sys.exit(c["retention.ms"]["value"] == "1000")' \
    "$work/d.json"
expect_rc "  ... the group is still there" 0 "$WEIR" group describe real-g

# ---- produce to a missing topic with a partition: nothing is created -----------------------------
expect_rc "produce -p 0 to a missing topic: exit 3" 3 bash -c "echo x | '$WEIR' produce ghost -p 0"
check "  ... says it is not created" grep -q "not created" "$work/err"
expect_rc "produce -f '%p:%v' to a missing topic: exit 3" 3 bash -c \
    "echo 0:x | '$WEIR' produce ghost2 -f '%p:%v\n'"
run "$WEIR" topic list -q
check "  ... and no topic 'ghost' or 'ghost2' appeared" test "$(grep -c ghost "$work/out")" == 0

# ---- an empty -b: a usage error at once, not a wait -------------------------------------------------
t0=$SECONDS
expect_rc "weir -b \"\" topic list: exit 2" 2 "$WEIR" -b "" topic list
check "  ... at once, naming the cause" grep -q "is empty" "$work/err"
check "  ... within a second" test $((SECONDS - t0)) -le 1

# ---- profiles -----------------------------------------------------------------------------------------
cat >"$work/weir.yaml" <<EOF
current: here
profiles:
  here:
    brokers: $BROKER
  nowhere:
    brokers: 127.0.0.1:1
    settings:
      socket.timeout.ms: "1500"
EOF
export WEIR_CONFIG=$work/weir.yaml
(unset WEIR_BROKERS; "$WEIR" topic list -q >"$work/out" 2>"$work/err")
check "the current profile's brokers (no -b, no \$WEIR_BROKERS)" grep -qx ops-a "$work/out"
(unset WEIR_BROKERS; "$WEIR" --profile nowhere --timeout 2s topic list >"$work/out" 2>"$work/err")
check "--profile nowhere: its brokers (unreachable) are used" grep -q "127.0.0.1:1" "$work/err"
(unset WEIR_BROKERS; WEIR_PROFILE=missing "$WEIR" topic list >"$work/out" 2>"$work/err")
check "\$WEIR_PROFILE naming a missing profile: a clear error" grep -q "no profile 'missing'" \
    "$work/err"
expect_rc "profile list" 0 "$WEIR" -o json profile list
jcheck "  ... both, 'here' current" '[(p["name"], p["current"]) for p in d] == [("here", True),
    ("nowhere", False)]'
unset WEIR_CONFIG

cli_finish
