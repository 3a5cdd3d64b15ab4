#!/usr/bin/env bash
# `weir produce` and `weir consume` (without a group) against a broker started here: 100,000
# lines through and back in order, the JSON line format field by field, format strings both
# ways (binary safe with %K/%V), every -o form including @time, -n, -p, several topics, bounded
# memory on a large stream, Ctrl-C, and the error exit codes.
. "$(dirname "$0")/cli_helpers.bash"
cli_start_broker

# ---- 100,000 lines in order -------------------------------------------------------------------
"$WEIR" topic create lines -p 1 >/dev/null
seq 1 100000 | sed 's/^/line-/' >"$work/lines.in"
expect_rc "produce 100,000 lines" 0 "$WEIR" produce lines <"$work/lines.in"
expect_rc "consume -e" 0 "$WEIR" consume lines -e -f '%v\n'
check "  ... the same 100,000 lines in order" cmp "$work/lines.in" "$work/out"
expect_rc "consume -n 10" 0 "$WEIR" consume lines -n 10 -e -f '%o %v\n'
check "  ... exactly the first 10" diff <(seq 1 10 | awk '{print $1-1, "line-" $1}') "$work/out"
check "kcat reads the same lines" bash -c \
    "kcat -b $BROKER -C -t lines -o beginning -e -q | cmp - $work/lines.in"

# ---- the default JSON line --------------------------------------------------------------------
"$WEIR" topic create js -p 2 >/dev/null
printf 'hello\n' | "$WEIR" produce js -p 1 -k user-7 -H source=cli -H trace=abc
printf '\xff\xfe\n' | "$WEIR" produce js -p 0
expect_rc "consume default JSON" 0 "$WEIR" consume js -e -p 1
jcheck "  ... topic, partition, offset, timestamp, time, key, value, headers" \
    'set(d) == {"topic", "partition", "offset", "timestamp", "time", "key", "value", "headers"}
     and d["topic"] == "js" and d["partition"] == 1 and d["offset"] == 0 and
     d["key"] == "user-7" and d["value"] == "hello" and
     d["headers"] == [{"key": "source", "value": "cli"}, {"key": "trace", "value": "abc"}] and
     isinstance(d["timestamp"], int) and abs(d["timestamp"] / 1000 - __import__("time").time()) < 120
     and d["time"].endswith("Z") and len(d["time"]) == 24'
expect_rc "consume a binary value" 0 "$WEIR" consume js -e -p 0
jcheck "  ... base64 with value_encoding, null key" \
    'd["value"] == "//4=" and d["value_encoding"] == "base64" and d["key"] is None and
     "key_encoding" not in d and d["headers"] == []'
check "  ... time matches timestamp" $PY -c "
import json, datetime
d = json.loads(open('$work/out').read())
t = datetime.datetime.fromtimestamp(d['timestamp'] / 1000, datetime.timezone.utc)
assert d['time'] == t.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (d['timestamp'] % 1000)"

# ---- format strings ---------------------------------------------------------------------------
"$WEIR" topic create fmt -p 1 >/dev/null
printf 'k1\tv1\nk2\tv two\n\tnokey\n' >"$work/kv.in"
expect_rc "produce -f '%k\\t%v\\n'" 0 "$WEIR" produce fmt -f '%k\t%v\n' <"$work/kv.in"
expect_rc "consume -f '%k\\t%v\\n'" 0 "$WEIR" consume fmt -e -f '%k\t%v\n'
check "  ... round trip" cmp "$work/kv.in" "$work/out"
expect_rc "consume -f with every token" 0 "$WEIR" consume fmt -e -n 1 \
    -f '%t|%p|%o|%k|%K|%v|%V|%H|%%\n'
check "  ... rendered" diff <(printf 'fmt|0|0|k1|2|v1|2|0|%%\n') "$work/out"
expect_rc "kcat aliases %s %S" 0 "$WEIR" consume fmt -e -n 1 -f '%s:%S\n'
check "  ... rendered" diff <(printf 'v1:2\n') "$work/out"

# Binary records (newlines, tabs, NUL, null keys and values) through %K/%V and back.
"$WEIR" topic create bin -p 1 >/dev/null
"$WEIR" topic create bin2 -p 1 >/dev/null
$PY - "$work/bin.in" <<'EOF'
import os, random, sys
random.seed(7)
out = bytearray()
for i in range(300):
    k = None if i % 7 == 0 else bytes(random.randrange(256) for _ in range(random.randrange(0, 20)))
    v = None if i % 11 == 0 else bytes(random.randrange(256) for _ in range(random.randrange(0, 300)))
    out += b"%d %d " % (-1 if k is None else len(k), -1 if v is None else len(v))
    out += (k or b"") + (v or b"") + b"\n"
open(sys.argv[1], "wb").write(out)
EOF
expect_rc "produce binary with -f '%K %V %k%v\\n'" 0 "$WEIR" produce bin -f '%K %V %k%v\n' \
    <"$work/bin.in"
expect_rc "consume it with the same format" 0 "$WEIR" consume bin -e -f '%K %V %k%v\n'
check "  ... byte for byte" cmp "$work/bin.in" "$work/out"
cp "$work/out" "$work/bin.out"
expect_rc "and once more through another topic" 0 "$WEIR" produce bin2 -f '%K %V %k%v\n' \
    <"$work/bin.out"
check "  ... still byte for byte" bash -c "'$WEIR' consume bin2 -e -f '%K %V %k%v\n' | cmp - '$work/bin.in'"
expect_rc "  ... 300 records, nulls kept (JSON)" 0 "$WEIR" consume bin -e -n 1
jcheck "  ... the first has a null key and value" 'd["key"] is None and d["value"] is None'
expect_rc "hex and base64 modifiers round trip" 0 bash -c \
    "'$WEIR' consume bin -e -f '%k{hex} %v{base64}\n' > '$work/enc' &&
     '$WEIR' topic create bin3 -p 1 >/dev/null &&
     '$WEIR' produce bin3 -f '%k{hex} %v{base64}\n' < '$work/enc' &&
     '$WEIR' consume bin3 -e -f '%k{hex} %v{base64}\n' | cmp - '$work/enc'"
expect_rc "produce -f with %h headers and %p" 0 bash -c \
    "printf '0|a=1,b|v\n' | '$WEIR' produce js -f '%p|%h|%v\n'"
expect_rc "  ... headers arrive" 0 "$WEIR" consume js -p 0 --from 1 -e
jcheck "  ... a=1 and b (null)" \
    'd["headers"] == [{"key": "a", "value": "1"}, {"key": "b", "value": None}]'
expect_rc "produce with input not matching -f: exit 1" 1 bash -c \
    "printf 'no tab here\n' | '$WEIR' produce fmt -f '%k\t%v\n'"
expect_rc "produce -f that cannot be parsed back: exit 2" 2 "$WEIR" produce fmt -f '%k%v'
expect_rc "consume -f with a bad token: exit 2" 2 "$WEIR" consume fmt -f '%q'

# ---- where to start: -o -----------------------------------------------------------------------
"$WEIR" topic create offs -p 1 >/dev/null
seq 0 9 | "$WEIR" produce offs
for c in "start:0 1 2 3 4 5 6 7 8 9" "end:" "3:3 4 5 6 7 8 9" "+4:4 5 6 7 8 9" "-2:8 9" \
    "99:" "beginning:0 1 2 3 4 5 6 7 8 9"; do
    spec=${c%%:*}
    want=${c#*:}
    run "$WEIR" consume offs --from "$spec" -e -f '%v '
    if [[ $rc == 0 && "$(cat "$work/out")" == "${want:+$want }" ]]; then
        ok "consume --from $spec"
    else
        not_ok "consume --from $spec" "rc $rc, got '$(cat "$work/out")' want '$want'" "$(cat "$work/err")"
    fi
done
"$WEIR" topic trim offs --before 5 --yes >/dev/null
run "$WEIR" consume offs --from +2 -e -f '%v '
check "consume --from +2 counts from the log start (5)" test "$(cat "$work/out")" == "7 8 9 "
run "$WEIR" consume offs --from 1 -e -f '%v '
check "consume --from 1 below the log start starts at it" test "$(cat "$work/out")" == "5 6 7 8 9 "

# Timestamps: four records with CreateTime 1000..4000 ms, each produced on its own so each is
# its own batch; then four more in a single batch (one produce call).
"$WEIR" topic create ts -p 1 >/dev/null
for t in 1000 2000 3000 4000; do
    printf '%s r%s\n' "$t" "$t" | "$WEIR" produce ts -f '%T %v\n'
done
printf '5000 s5000\n6000 s6000\n7000 s7000\n8000 s8000\n' | "$WEIR" produce ts -f '%T %v\n'
expect_rc "timestamps were kept" 0 "$WEIR" consume ts -e -f '%o:%T '
check "  ... offsets and times" test "$(cat "$work/out")" == \
    "0:1000 1:2000 2:3000 3:4000 4:5000 5:6000 6:7000 7:8000 "
for c in "@2000 1" "@2500 2" "@1970-01-01T00:00:03Z 2" "@1970-01-01T00:00:03.001Z 3" "@0 0" \
    "@99999 "; do
    spec=${c% *}
    want=${c#* }
    run "$WEIR" consume ts --from "$spec" -e -n 1 -f '%o'
    if [[ $rc == 0 && "$(cat "$work/out")" == "$want" ]]; then
        ok "consume --from $spec starts at offset ${want:-end (none)}"
    else
        not_ok "consume --from $spec starts at offset $want" "rc $rc, got '$(cat "$work/out")'" \
            "$(cat "$work/err")"
    fi
done
# Inside one batch: Kafka answers ListOffsets by time with the first *record* at or after the
# time, not the batch's first offset.
run "$WEIR" consume ts --from @6500 -e -n 1 -f '%o'
check "consume --from @6500 (inside a batch) starts at offset 6" test "$(cat "$work/out")" == 6
now=$(date +%s%3N)
printf 'late\n' | "$WEIR" produce ts
run "$WEIR" consume ts --from @-1h -e -f '%v\n'
check "consume --from @-1h: only the record of this hour" test "$(cat "$work/out")" == late
run "$WEIR" consume ts --from "@$now" -e -f '%v\n'
check "consume --from @<now ms>" test "$(cat "$work/out")" == late

# ---- several topics, one partition ----------------------------------------------------------
expect_rc "consume two topics" 0 "$WEIR" consume offs fmt -e -f '%t\n'
check "  ... 5 + 3 records" test "$(sort "$work/out" | uniq -c | awk '{print $2 "=" $1}' | xargs)" \
    == "fmt=3 offs=5"
expect_rc "consume -p 1" 0 "$WEIR" consume js -p 1 -e -f '%p:%v\n'
check "  ... only partition 1" test "$(cat "$work/out")" == "1:hello"

# ---- errors -----------------------------------------------------------------------------------
expect_rc "consume an unknown topic: exit 3" 3 "$WEIR" consume nope -e
expect_rc "consume a missing partition: exit 3" 3 "$WEIR" consume js -p 7 -e
expect_rc "produce to a missing partition: exit 3" 3 bash -c "echo x | '$WEIR' produce js -p 7"
expect_rc "consume -o start (the old offset flag, now --from): exit 2" 2 "$WEIR" consume js -o start
check "  ... the message says --from" grep -q -- "--from" "$work/err"
expect_rc "consume -o table: exit 2 (records print as JSON or -f)" 2 "$WEIR" consume js -o table
expect_rc "consume with global -o json: the default JSON lines" 0 "$WEIR" -o json consume js -e
expect_rc "consume -n 0: exit 2" 2 "$WEIR" consume js -n 0
expect_rc "produce --acks 2: exit 2" 2 "$WEIR" produce js --acks 2
expect_rc "produce -z brotli: exit 2" 2 "$WEIR" produce js -z brotli
expect_rc "produce two topics: exit 2" 2 "$WEIR" produce a b
expect_rc "produce --acks 0 -z lz4" 0 bash -c "seq 1 100 | '$WEIR' produce offs --acks 0 -z lz4"
expect_rc "produce --acks 1 -z zstd" 0 bash -c "seq 1 100 | '$WEIR' produce offs --acks 1 -z zstd"
expect_rc "produce -z gzip, -z snappy" 0 bash -c \
    "seq 1 100 | '$WEIR' produce offs -z gzip && seq 1 100 | '$WEIR' produce offs -z snappy"
expect_rc "  ... all 400 arrived" 0 "$WEIR" consume offs --from 10 -e -f '%v\n'
check "  ... in order" diff <(for _ in 1 2 3 4; do seq 1 100; done) "$work/out"
expect_rc "produce auto-creates a topic" 0 bash -c "echo x | '$WEIR' produce fresh"
expect_rc "  ... it is there" 0 "$WEIR" consume fresh -e -f '%v'
check "  ... with the record" test "$(cat "$work/out")" == x

# ---- streaming: bounded memory, Ctrl-C, closed pipe -------------------------------------------
"$WEIR" topic create stream -p 1 >/dev/null
# The bound is what librdkafka's queues hold (32 MB producer queue, 64 MB prefetch) plus the
# program; ASan's shadow memory and quarantine roughly double it.
mb=${WEIR_CLI_STREAM_MB:-300}
rss_max=200
if [[ ${WEIR_PASS:-release} == asan ]]; then
    mb=${WEIR_CLI_STREAM_MB:-60}
    rss_max=450
fi
$PY - "$WEIR" "$mb" "$rss_max" >"$work/stream.txt" 2>&1 <<'EOF'
import resource, subprocess, sys, time
weir, mb, rss_max = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line = b"x" * 1023 + b"\n"
t = time.time()
p = subprocess.Popen([weir, "produce", "stream"], stdin=subprocess.PIPE)
for _ in range(mb * 1024):
    p.stdin.write(line)
p.stdin.close()
rc = p.wait()
produce_s = time.time() - t
produce_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
t = time.time()
c = subprocess.Popen([weir, "consume", "stream", "-e", "-f", "%v\n"], stdout=subprocess.PIPE)
n = 0
while True:
    b = c.stdout.read(1 << 20)
    if not b:
        break
    n += len(b)
crc = c.wait()
consume_s = time.time() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
print(f"{mb} MB: produce rc={rc} {produce_s:.1f}s rss={produce_rss}MB; "
      f"consume rc={crc} bytes={n} {consume_s:.1f}s max rss={rss}MB")
ok = rc == 0 and crc == 0 and n == mb * 1024 * 1024 and rss < rss_max
sys.exit(0 if ok else 1)
EOF
if [[ $? == 0 ]]; then
    ok "stream $mb MB through pipes in bounded memory ($(cat "$work/stream.txt"))"
else
    not_ok "stream $mb MB through pipes in bounded memory" "$(cat "$work/stream.txt")"
fi

# Ctrl-C: a following consumer (no -e) stops at once, exit 0, whole lines written.
"$WEIR" consume lines -f '%v\n' >"$work/follow.out" 2>"$work/follow.err" &
cpid=$!
for _ in $(seq 100); do
    [[ $(wc -l <"$work/follow.out") -ge 100000 ]] && break
    sleep 0.1
done
t0=$(date +%s%N)
kill -INT $cpid
wait $cpid
crc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [[ $crc == 0 && $ms -lt 3000 ]] && cmp -s "$work/follow.out" "$work/lines.in"; then
    ok "Ctrl-C stops a following consume in ${ms} ms, exit 0, all lines whole"
else
    not_ok "Ctrl-C stops a following consume" "rc $crc after $ms ms" "$(cat "$work/follow.err")" \
        "$(wc -l <"$work/follow.out") lines"
fi

# A closed pipe (| head) ends consume quietly with exit 0.
run bash -c "'$WEIR' consume lines -f '%v\n' | head -3"
check "consume | head -3 ends, exit 0" test "$rc" == 0 -a "$(cat "$work/out")" == \
    "$(printf 'line-1\nline-2\nline-3')"

# Ctrl-C on produce reading a terminal-like endless stdin: what was read is delivered.
"$WEIR" topic create ctrlc -p 1 >/dev/null
mkfifo "$work/fifo"
"$WEIR" produce ctrlc <"$work/fifo" 2>"$work/pc.err" &
ppid=$!
exec 7>"$work/fifo"
printf 'one\ntwo\n' >&7
sleep 1
kill -INT $ppid
wait $ppid
prc=$?
exec 7>&-
run "$WEIR" consume ctrlc -e -f '%v\n'
check "Ctrl-C on produce: exit $prc, both lines delivered" test "$prc" == 0 -a \
    "$(cat "$work/out")" == "$(printf 'one\ntwo')"

# ---- the broker goes away ----------------------------------------------------------------------
kill "$broker_pid"
wait "$broker_pid" 2>/dev/null
broker_pid=
t0=$(date +%s%N)
expect_rc "consume with the broker down: exit 1" 1 "$WEIR" consume lines -e
expect_rc "produce with the broker down: exit 1" 1 bash -c "echo x | '$WEIR' produce lines"
ms=$((($(date +%s%N) - t0) / 1000000))
check "  ... both within 5 s (took $ms ms)" test $ms -lt 5000
check "  ... says it cannot connect" grep -q "cannot connect to $BROKER" "$work/err"

cli_finish
