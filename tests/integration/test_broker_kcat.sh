#!/usr/bin/env bash
# `weir serve` from the outside, with kcat: the two stdout lines, a config file plus --set, bad
# settings refused at start, produce and consume with keys and headers, partitions, offsets by
# time (-Q), relative offsets, metadata (-L), GET /health, SIGINT. TAP.
set -uo pipefail
# Every kcat call is bounded: a broker that stopped answering fails the test, never hangs it.
KCAT=$(type -P kcat)
export KCAT
kcat() { timeout 30 "$KCAT" -m 10 "$@"; }
export -f kcat
top=$(cd "$(dirname "$0")/../.." && pwd)
weir=${WEIR_BIN:-$top/build/weir}
work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; }
check() { # name, command...
    local name=$1
    shift
    if "$@"; then ok "$name"; else notok "$name"; fi
}

# ---- bad settings are refused at start ----
"$weir" serve --data-dir "$work/x" --listen 127.0.0.1:0 --http-listen off \
    --set no.such.setting=1 >"$work/o1" 2>"$work/e1"
rc=$?
check "unknown setting: exit 1 with its name" \
    bash -c "[[ $rc == 1 ]] && grep -q \"unknown setting 'no.such.setting'\" '$work/e1'"
"$weir" serve --data-dir "$work/x" --listen 127.0.0.1:0 --http-listen off \
    --set num.partitions=zero >"$work/o1" 2>"$work/e1"
rc=$?
check "bad value: exit 1 naming the setting" \
    bash -c "[[ $rc == 1 ]] && grep -q 'num.partitions' '$work/e1'"
"$weir" serve --help >"$work/help" 2>&1
check "--help: exit 0 and usage" grep -q 'usage: weir serve' "$work/help"

# ---- start with a config file and --set ----
cat >"$work/weir.conf" <<'EOF'
# comments and blank lines are fine

num.partitions = 3
auto.create.topics.enable=true
log.retention.hours = 48
EOF
"$weir" serve --config "$work/weir.conf" --data-dir "$work/data" --listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --set message.max.bytes=2000000 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
    [[ $(wc -l <"$work/out") -ge 2 ]] && break
    sleep 0.1
done
if ! grep -q '^listening on ' "$work/out"; then
    echo "not ok 1 - broker did not start"
    sed 's/^/    # /' "$work/err" | tail -20
    exit 1
fi
line1=$(sed -n 1p "$work/out")
line2=$(sed -n 2p "$work/out")
check "first stdout line: listening on HOST:PORT" \
    bash -c "[[ '$line1' =~ ^listening\ on\ 127\.0\.0\.1:[0-9]+$ ]]"
check "second stdout line: http on HOST:PORT" \
    bash -c "[[ '$line2' =~ ^http\ on\ 127\.0\.0\.1:[0-9]+$ ]]"
B=${line1#listening on }
H=${line2#http on }

check "GET /health" bash -c "curl -sf http://$H/health | grep -q '\"status\":\"ok\"'"
check "GET /nope is 404" bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://$H/nope) == 404 ]]"

# ---- produce and consume with keys and headers; num.partitions=3 from the file ----
for i in $(seq 1 30); do echo "key$((i % 5)):value $i"; done |
    kcat -b "$B" -P -t kc -K: -H source=kcat -H n=1 2>"$work/kerr"
kcat -b "$B" -L -t kc >"$work/md" 2>&1
check "auto-created with num.partitions=3 from the config file" \
    grep -q 'topic "kc" with 3 partitions' "$work/md"
kcat -b "$B" -C -t kc -o beginning -e -q -f '%p %o %k=%s [%h]\n' >"$work/c" 2>&1
check "30 messages consumed" bash -c "[[ \$(wc -l <'$work/c') == 30 ]]"
check "headers round trip" bash -c "[[ \$(grep -c '\[source=kcat,n=1\]' '$work/c') == 30 ]]"
# per key: one partition, values in produce order
perkey_ok=1
for k in 0 1 2 3 4; do
    parts=$(grep " key$k=" "$work/c" | cut -d' ' -f1 | sort -u | wc -l)
    want=$(for i in $(seq 1 30); do ((i % 5 == k)) && echo "value $i"; done)
    have=$(grep " key$k=" "$work/c" | sort -k1,1n -k2,2n | sed 's/.*=\(value [0-9]*\) .*/\1/')
    [[ $parts == 1 && "$want" == "$have" ]] || perkey_ok=0
done
check "each key on one partition, in order, exact values" test $perkey_ok = 1

# ---- explicit partition, offsets, relative offsets ----
printf 'a\nb\nc\nd\n' | kcat -b "$B" -P -t kp -p 0 2>/dev/null
check "-o -2 gives the last two" \
    bash -c "[[ \$(kcat -b '$B' -C -t kp -p 0 -o -2 -e -q 2>/dev/null | tr '\n' ,) == 'c,d,' ]]"
check "-o 1 -c 2 gives b,c" \
    bash -c "[[ \$(kcat -b '$B' -C -t kp -p 0 -o 1 -c 2 -e -q 2>/dev/null | tr '\n' ,) == 'b,c,' ]]"

# ---- offsets for times (-Q) ----
t0=1600000000000
for i in 0 1 2 3 4; do
    echo "at $i" | kcat -b "$B" -P -t kt -p 0 -k "k" -X 'api.version.request=true' 2>/dev/null
done
q=$(kcat -b "$B" -Q -t "kt:0:$t0" 2>&1)
check "-Q with a time before everything gives offset 0" bash -c "echo '$q' | grep -q 'offset 0'"
q=$(kcat -b "$B" -Q -t "kt:0:9999999999999" 2>&1)
check "-Q past the end gives offset -1" bash -c "echo '$q' | grep -q 'offset -1'"

# ---- metadata ----
check "kcat -L shows one broker, the controller" \
    bash -c "kcat -b '$B' -L 2>&1 | grep -q '1 brokers:' && kcat -b '$B' -L 2>&1 | grep -q '(controller)'"

# ---- SIGINT: clean exit ----
kill -INT $pid
wait $pid
rc=$?
pid=
check "SIGINT: exit 0" test $rc = 0
check "shutdown logged" grep -q 'broker: stopped' "$work/err"

echo "1..$n"
((fail == 0))
