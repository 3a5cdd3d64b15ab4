#!/usr/bin/env bash
# `weir topic ...` and `weir cluster info` against a broker started here: golden tables, JSON
# checked field by field, exit codes, and the effect of each command seen through another
# command (and through kcat where weir would be checking itself).
. "$(dirname "$0")/cli_helpers.bash"
cli_start_broker

# ---- create --------------------------------------------------------------------------------------
expect_rc "create a topic" 0 "$WEIR" topic create orders -p 3
golden topic_create
expect_rc "create with settings" 0 "$WEIR" topic create audit -p 1 -c retention.ms=3600000 \
    -c cleanup.policy=compact
expect_rc "create an existing topic fails" 1 "$WEIR" topic create orders -p 3
check "  ... and says it exists" grep -qi "exists" "$work/err"
expect_rc "create --if-not-exists" 0 "$WEIR" topic create orders --if-not-exists -o json
jcheck "  ... reports exists" 'd == [{"name": "orders", "status": "exists", "error": None}]'
expect_rc "create -p 0 is a usage error" 2 "$WEIR" topic create x -p 0
expect_rc "create without a name" 2 "$WEIR" topic create

# ---- list -------------------------------------------------------------------------------------
expect_rc "list" 0 "$WEIR" topic list
golden topic_list
expect_rc "list -o json" 0 "$WEIR" topic list -o json
jcheck "  ... fields" 'd == [
  {"name": "audit", "partition_count": 1, "replication_factor": 1, "internal": False},
  {"name": "orders", "partition_count": 3, "replication_factor": 1, "internal": False}]'
expect_rc "list -q" 0 "$WEIR" topic list -q
check "  ... names only" diff <(printf 'audit\norders\n') "$work/out"
expect_rc "global -o json before the command" 0 "$WEIR" -o json topic list
jcheck "  ... is json too" 'len(d) == 2'

# ---- describe ---------------------------------------------------------------------------------
printf 'a\nb\nc\n' | "$WEIR" produce orders -p 0
printf 'z\n' | "$WEIR" produce orders -p 2
expect_rc "describe -p" 0 "$WEIR" topic describe orders -p
golden topic_describe_p
expect_rc "describe (settings)" 0 "$WEIR" topic describe audit
check "  ... shows retention.ms set on the topic" \
    grep -Eq '^retention\.ms +3600000 +topic$' "$work/out"
expect_rc "describe -o json" 0 "$WEIR" topic describe orders -o json
jcheck "  ... partitions" 'd["name"] == "orders" and d["partition_count"] == 3 and
  d["replication_factor"] == 1 and d["internal"] is False and
  [(p["partition"], p["log_start_offset"], p["high_watermark"], p["replicas"] == [p["leader"]],
    p["isr"] == [p["leader"]]) for p in d["partitions"]] ==
  [(0, 0, 3, True, True), (1, 0, 0, True, True), (2, 0, 1, True, True)]'
jcheck "  ... configs have name, value, source, default, read_only, sensitive" \
    'all(set(c) == {"name", "value", "source", "default", "read_only", "sensitive"}
         for c in d["configs"]) and len(d["configs"]) > 0'
expect_rc "describe audit -o json" 0 "$WEIR" topic describe audit -o json
jcheck "  ... the settings given at create" \
    '{c["name"]: (c["value"], c["source"]) for c in d["configs"]}["retention.ms"] ==
       ("3600000", "DYNAMIC_TOPIC_CONFIG") and
     {c["name"]: c["value"] for c in d["configs"]}["cleanup.policy"] == "compact"'
expect_rc "describe an unknown topic: exit 3" 3 "$WEIR" topic describe nope
expect_rc "describe two topics is a usage error" 2 "$WEIR" topic describe a b

# ---- alter-config -----------------------------------------------------------------------------
expect_rc "alter-config --set" 0 "$WEIR" topic alter-config audit --set retention.ms=7200000 \
    --set max.message.bytes=2000000
golden topic_alter_set
expect_rc "  ... describe sees it" 0 "$WEIR" topic describe audit -o json
jcheck "  ... new values, cleanup.policy kept" \
    '{c["name"]: c["value"] for c in d["configs"]}["retention.ms"] == "7200000" and
     {c["name"]: c["value"] for c in d["configs"]}["max.message.bytes"] == "2000000" and
     {c["name"]: c["value"] for c in d["configs"]}["cleanup.policy"] == "compact"'
expect_rc "alter-config --delete -o json" 0 "$WEIR" topic alter-config audit \
    --delete retention.ms -o json
jcheck "  ... old and new" 'd["name"] == "audit" and len(d["changes"]) == 1 and
  d["changes"][0]["name"] == "retention.ms" and d["changes"][0]["old"] == "7200000" and
  d["changes"][0]["new"] != "7200000"'
expect_rc "  ... describe: back to the default" 0 "$WEIR" topic describe audit -o json
jcheck "  ... source is not the topic any more" \
    '{c["name"]: c["source"] for c in d["configs"]}["retention.ms"] != "DYNAMIC_TOPIC_CONFIG"
     and {c["name"]: c["value"] for c in d["configs"]}["cleanup.policy"] == "compact"'
expect_rc "alter-config with nothing to do" 2 "$WEIR" topic alter-config audit
expect_rc "alter-config an unknown topic: exit 3" 3 "$WEIR" topic alter-config nope --set a=b

# ---- add-partitions ---------------------------------------------------------------------------
expect_rc "add-partitions -n 2" 0 "$WEIR" topic add-partitions orders -n 2
golden topic_add_partitions
expect_rc "  ... list shows 5" 0 "$WEIR" topic list -o json
jcheck "  ... partition_count 5" '[t["partition_count"] for t in d if t["name"] == "orders"] == [5]'
check "  ... kcat sees 5 partitions" bash -c \
    "kcat -b $BROKER -L -t orders | grep -c 'partition [0-9]' | grep -qx 5"
expect_rc "add-partitions an unknown topic: exit 3" 3 "$WEIR" topic add-partitions nope -n 1
expect_rc "add-partitions without -n" 2 "$WEIR" topic add-partitions orders

# ---- trim ------------------------------------------------------------------------------------
expect_rc "trim without --yes and no terminal: refused" 2 "$WEIR" topic trim orders \
    --before 2 -p 0
expect_rc "  ... nothing was deleted" 0 "$WEIR" topic describe orders -o json
jcheck "  ... log start still 0" 'd["partitions"][0]["log_start_offset"] == 0'
expect_rc "trim --before 2 -p 0 --yes" 0 "$WEIR" topic trim orders --before 2 -p 0 --yes
golden topic_trim
expect_rc "  ... consume starts at offset 2" 0 "$WEIR" consume orders -p 0 -e -f '%o %v\n'
check "  ... only c is left" diff <(printf '2 c\n') "$work/out"
expect_rc "trim --before end -o json (everything)" 0 "$WEIR" topic trim orders --before end \
    -p 2 --yes -o json
jcheck "  ... log start = high watermark" \
    'd == [{"topic": "orders", "partition": 2, "old_log_start_offset": 0, "log_start_offset": 1}]'
expect_rc "trim a missing partition: exit 3" 3 "$WEIR" topic trim orders --before 1 -p 9 --yes
expect_rc "trim a bad --before" 2 "$WEIR" topic trim orders --before soon --yes

# ---- cluster info ------------------------------------------------------------------------------
expect_rc "cluster info" 0 "$WEIR" cluster info
golden cluster_info
expect_rc "cluster info -o json" 0 "$WEIR" cluster info -o json
jcheck "  ... fields" 'd["topic_count"] == 2 and d["partition_count"] == 6 and
  d["internal_topic_count"] >= 0 and len(d["brokers"]) == 1 and
  "%s:%d" % (d["brokers"][0]["host"], d["brokers"][0]["port"]) == "'"$BROKER"'" and
  d["controller_id"] == d["brokers"][0]["id"] and isinstance(d["cluster_id"], str) and
  d["client_version"] and d["librdkafka_version"]'

# ---- delete ------------------------------------------------------------------------------------
expect_rc "delete without --yes and no terminal: refused" 2 "$WEIR" topic delete audit
expect_rc "  ... still there" 0 "$WEIR" topic describe audit
# On a terminal it asks: "n" keeps the topic (exit 1), "y" deletes it.
tty_answer() { # answer, command...: runs the command with a pseudo-terminal as stdin
    $PY - "$@" <<'EOF'
import os, subprocess, sys
master, slave = os.openpty()
p = subprocess.Popen(sys.argv[2:], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
os.write(master, sys.argv[1].encode() + b"\n")
out, err = p.communicate(timeout=60)
sys.stderr.write(err.decode())
sys.exit(p.returncode)
EOF
}
"$WEIR" topic create asked -p 1 >/dev/null
tty_answer n "$WEIR" topic delete asked 2>"$work/err"
check "delete on a terminal, answer n: exit 1" test $? == 1
check "  ... it asked" grep -q "delete topic asked and all its records? \[y/N\]" "$work/err"
expect_rc "  ... the topic is still there" 0 "$WEIR" topic describe asked
tty_answer y "$WEIR" topic delete asked 2>"$work/err"
check "delete on a terminal, answer y: exit 0" test $? == 0
expect_rc "  ... the topic is gone" 3 "$WEIR" topic describe asked

expect_rc "delete --yes" 0 "$WEIR" topic delete audit orders --yes
golden topic_delete
expect_rc "  ... gone" 0 "$WEIR" topic list -q
check "  ... list is empty" test ! -s "$work/out"
expect_rc "delete an unknown topic: exit 3" 3 "$WEIR" topic delete audit --yes

cli_finish
