#!/usr/bin/env bash
# The authorizer's cost on the produce and fetch paths (issue 16's target: <= 3% of throughput
# with 10,000 ACLs): bench_weir publish (acks=1) and consume against `weir serve` without an
# authorizer, then with one holding 10,000 ACLs (5,000 LITERAL and 5,000 PREFIXED topic ACLs of
# other principals, so every check searches both) plus the ALLOWs the bench's User:ANONYMOUS
# needs. Each configuration runs REPS times, alternating; prints per run publish and consume
# msgs/s and the p50 of a synchronous one-record produce (latency_ack_raw), then the medians.
#   bench/acl_cost.sh [COUNT=2000000] [MSG_BYTES=1024] [PARTITIONS=4] [REPS=3]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-2000000} size=${2:-1024} parts=${3:-4} reps=${4:-3}
weir=$top/build/weir bench=$top/build/bench/bench_weir
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT

serve() { # mode: off | acl
    rm -rf "$work/data"
    local extra=()
    [[ $1 == acl ]] && extra=(--set "authorizer.class.name=kafka.security.authorizer.AclAuthorizer"
        --set allow.everyone.if.no.acl.found=true)
    "$weir" serve --data-dir "$work/data" --listen 127.0.0.1:0 --http-listen off "${extra[@]}" \
        >"$work/out" 2>"$work/err" &
    pid=$!
    until grep -q '^listening on' "$work/out"; do sleep 0.05; done
    addr=$(sed -n 's/^listening on //p' "$work/out")
    if [[ $1 == acl ]]; then
        local users=() topics=() i
        for i in $(seq 50); do users+=(--allow-principal "User:u$i"); done
        for i in $(seq 25); do topics+=(--topic "other-$i"); done
        for pat in literal prefixed; do   # 50 x 25 x 4 = 5,000 of each
            "$weir" -b "$addr" acl create "${users[@]}" "${topics[@]}" --operation read \
                --operation write --operation describe --operation alter \
                --resource-pattern-type $pat >/dev/null
        done
        "$weir" -b "$addr" acl create --allow-principal User:ANONYMOUS --operation all \
            --topic bench --resource-pattern-type prefixed --cluster --group bench >/dev/null
        "$weir" -b "$addr" acl list -o json | grep -c '"principal"' >"$work/nacl"
    fi
}

run() { # mode rep
    serve "$1"
    local t=bench-$2
    local p c
    p=$("$bench" publish --addr "$addr" --topic "$t" --partitions "$parts" --count "$count" \
        --msg-bytes "$size" --acks 1 | sed -n 's/.*"msgs_per_s": *\([0-9.]*\).*/\1/p')
    c=$("$bench" consume --addr "$addr" --topic "$t" --partitions "$parts" --count "$count" \
        --msg-bytes "$size" | sed -n 's/.*"msgs_per_s": *\([0-9.]*\).*/\1/p')
    # one record per ProduceRequest, synchronous: where a per-request check weighs the most
    l=$("$bench" latency_ack_raw --addr "$addr" --topic "bench-lat-$2" --count 20000 --msg-bytes "$size" \
        --acks 1 | sed -n 's/.*"p50_us": *\([0-9.]*\).*/\1/p')
    kill $pid
    wait $pid 2>/dev/null || true
    echo "$1 $p $c $l"
}

for r in $(seq "$reps"); do
    run off "$r"
    run acl "$r"
done | tee "$work/results"
echo "ACLs held in the acl runs: $(cat "$work/nacl")"
python3 - "$work/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for i, what, unit in ((1, "publish", "msgs/s"), (2, "consume", "msgs/s"),
                      (3, "produce round trip p50", "us")):
    off = statistics.median(float(r[i]) for r in rows if r[0] == "off")
    acl = statistics.median(float(r[i]) for r in rows if r[0] == "acl")
    print("%s: off %.1f %s, 10k ACLs %.1f %s (%+.1f%%)" % (what, off, unit, acl, unit,
                                                        (acl / off - 1) * 100))
PY
