#!/usr/bin/env bash
# Issue 18's redrive rate: what `weir dlq` costs an operator. A `weir serve` gets COUNT dead
# letters of MSG_BYTES-byte values in 2 partitions of o.dlq, with the provenance headers libweir
# writes (origin o/0 and o/1, two errors, 3 attempts), written by `weir produce`. Then, timed
# with their peak RSS: `weir dlq list`, `weir dlq show o.dlq --error invalid -n 1000`,
# `weir dlq redrive o.dlq --dry-run`, the redrive of them all, and a rerun that has nothing to
# move.
# Each command's reported count is checked, and so is the origin topic's end offset after it
# (every dead letter back exactly once). Prints a table with records/s; REPS runs, medians.
#   bench/redrive_cost.sh [COUNT=200000] [MSG_BYTES=100] [REPS=3]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-200000} size=${2:-100} reps=${3:-3}
weir=${WEIR_BIN:-$top/build/weir}
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT

serve() {
    rm -rf "$work/data"
    "$weir" serve --data-dir "$work/data" --listen 127.0.0.1:0 --http-listen off \
        >"$work/out" 2>"$work/err" &
    pid=$!
    until [[ -s $work/out ]] && grep -q '^listening on' "$work/out"; do sleep 0.05; done
    addr=$(sed -n 's/^listening on //p' "$work/out")
}

fill() { # partition error n
    head -c "$size" /dev/zero | tr '\0' x >"$work/value"
    local v
    v=$(cat "$work/value")
    yes "$v" | head -n "$3" | "$weir" -b "$addr" produce o.dlq -p "$1" --acks 1 \
        -H weir.dlq.original.topic=o -H "weir.dlq.original.partition=$1" \
        -H "weir.dlq.original.offset=$1" -H weir.dlq.attempts=3 -H "weir.dlq.error=$2" \
        -H weir.dlq.group=bench -H weir.dlq.first.failure.timestamp=1765000000000
}

# timed NAME CMD...: runs CMD, prints "NAME seconds peak_kb" to $work/times, output to $work/o
timed() {
    local name=$1
    shift
    /usr/bin/time -f "$name %e %M" -a -o "$work/times" "$@" >"$work/o"
}

end_offsets() { # the origin topic's end offsets, summed
    "$weir" -b "$addr" topic describe o -o json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(p["high_watermark"] for p in d["partitions"]))'
}

run() {
    serve
    "$weir" -b "$addr" topic create o.dlq -p 2 >/dev/null
    "$weir" -b "$addr" topic create o -p 2 >/dev/null
    local half=$((count / 2)) quarter=$((count / 4))
    fill 0 "timeout talking to payments" "$half"
    fill 1 "invalid amount: 0" "$quarter"
    fill 1 "timeout talking to payments" "$((count - half - quarter))"
    : >"$work/times"
    timed list "$weir" -b "$addr" dlq list
    timed show "$weir" -b "$addr" dlq show o.dlq --error invalid -n 1000 -o json
    local shown dry moved again
    shown=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/o")
    timed dry "$weir" -b "$addr" dlq redrive o.dlq --dry-run -o json
    dry=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["redriven"])' "$work/o")
    timed all "$weir" -b "$addr" dlq redrive o.dlq -o json
    moved=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["redriven"])' "$work/o")
    timed again "$weir" -b "$addr" dlq redrive o.dlq -o json
    again=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["redriven"])' "$work/o")
    local ends
    ends=$(end_offsets)
    kill $pid
    wait $pid 2>/dev/null || true
    pid=
    local ok=yes
    [[ $shown == 1000 && $dry == "$count" && $moved == "$count" && $again == 0 &&
        $ends == "$count" ]] || ok="NO (show $shown, dry $dry, redrive $moved, rerun $again, origin end $ends)"
    awk -v ok="$ok" '{printf "%s %s %s ", $1, $2, $3} END {print ok}' "$work/times"
}

echo "redrive: $count dead letters of $size bytes in 2 partitions, $reps run(s)"
: >"$work/runs"
for r in $(seq "$reps"); do
    line=$(run)
    echo "run $r: $line"
    echo "$line" >>"$work/runs"
done
python3 - "$work/runs" "$count" <<'EOF'
import statistics, sys
runs = [l.split() for l in open(sys.argv[1]) if l.strip()]
count = int(sys.argv[2])
what = {"list": "weir dlq list", "show": "weir dlq show o.dlq --error invalid -n 1000",
        "dry": "weir dlq redrive o.dlq --dry-run", "all": "weir dlq redrive o.dlq",
        "again": "weir dlq redrive o.dlq (rerun: nothing to move)"}
print()
print("| command | time (median) | records read/s | peak RSS |")
print("|---|---:|---:|---:|")
for name in ("list", "show", "dry", "all", "again"):
    secs, kbs = [], []
    for r in runs:
        i = r.index(name)
        secs.append(float(r[i + 1]))
        kbs.append(int(r[i + 2]))
    s = statistics.median(secs)
    rate = f"{count / s:,.0f}" if name in ("list", "dry", "all") and s > 0 else "-"
    print(f"| `{what[name]}` | {s:.2f} s | {rate} | {max(kbs) / 1024:.0f} MB |")
ok = all(r[-1] == "yes" for r in runs)
print()
print(f"redrive rate: {count:,} records moved by `weir dlq redrive` in the 'all' row; every count "
      "exact (show 1000, dry run, redrive, rerun 0, the origin's end offsets):",
      "yes" if ok else "NO")
sys.exit(0 if ok else 1)
EOF
