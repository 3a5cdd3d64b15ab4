#!/usr/bin/env bash
# Runs every ```sh doctest block of docs/*.md and README.md against a broker started here, so
# documented examples cannot rot. Each block runs with bash -euo pipefail in a fresh temp dir,
# with `weir` on PATH, $BROKER the Kafka address and $HTTP the HTTP address. One TAP line per
# block: "ok N - docs/cli.md:42". $WEIR_REGISTRY is the schema registry: the test server
# (tests/integration/registry_server) until `weir serve` carries the registry, when it becomes
# http://$HTTP. WEIR_DOCS_FILTER=regex runs only the files whose path matches (e.g. order-flow).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
weir=${WEIR_BIN:-$top/build/weir}
work=$(mktemp -d)
trap 'kill $pid ${rpid:-} 2>/dev/null; wait $pid ${rpid:-} 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/data"
ln -s "$weir" "$work/bin/weir"
# The bench drivers too (docs/bench.md runs a workload and a machine limit by hand).
for prog in bench_weir bench_limits; do
    for b in "${WEIR_BUILD:-$top/build}/bench/$prog" "$top/build/bench/$prog"; do
        [[ -x $b ]] && { ln -s "$b" "$work/bin/$prog"; break; }
    done
done
"$weir" serve --data-dir "$work/data" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    --set group.initial.rebalance.delay.ms=0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
    [[ $(wc -l <"$work/out") -ge 2 ]] && break
    sleep 0.1
done
BROKER=$(sed -n 's/^listening on //p' "$work/out")
HTTP=$(sed -n 's/^http on //p' "$work/out")
if [[ -z $BROKER ]]; then
    echo "not ok 1 - broker did not start"
    cat "$work/err"
    exit 1
fi
registry_server=${WEIR_BUILD:-$top/build}/tests/integration/registry_server
"$registry_server" --store "$work/schemas.store" >"$work/rout" 2>"$work/rerr" &
rpid=$!
for _ in $(seq 50); do
    [[ -s $work/rout ]] && break
    sleep 0.1
done
WEIR_REGISTRY="http://$(sed -n 's/^http on //p' "$work/rout")"
export BROKER HTTP WEIR_BROKERS=$BROKER WEIR_REGISTRY PATH="$work/bin:$PATH"
# `python` is the venv `make deps` makes (confluent-kafka 2.16), for the consumer-protocol
# example of docs/groups.md; `python3` stays the system one.
if [[ -x $top/build/compat/venv/bin/python ]]; then
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$top/build/compat/venv/bin/python" >"$work/bin/python"
    chmod +x "$work/bin/python"
fi
n=0
fail=0
for doc in "$top"/README.md "$top"/docs/*.md; do
    [[ $doc =~ ${WEIR_DOCS_FILTER:-.} ]] || continue
    # Extract blocks: print "@@<line>" before each block's body.
    awk '/^```sh doctest/ {inb=1; print "@@" NR; next} /^```/ && inb {inb=0; next} inb {print}' \
        "$doc" >"$work/blocks"
    [[ -s $work/blocks ]] || continue
    csplit -s -z -f "$work/blk." "$work/blocks" '/^@@/' '{*}'
    for b in "$work"/blk.*; do
        line=$(head -1 "$b" | sed 's/^@@//')
        tail -n +2 "$b" >"$work/block.sh"
        n=$((n + 1))
        name="${doc#"$top"/}:$line"
        dir=$(mktemp -d -p "$work")
        if (cd "$dir" && bash -euo pipefail "$work/block.sh") >"$work/block.out" 2>&1; then
            echo "ok $n - $name"
        else
            echo "not ok $n - $name"
            sed 's/^/    # /' "$work/block.out" | tail -20
            fail=$((fail + 1))
        fi
        rm -f "$b"
    done
done
echo "1..$n"
((fail == 0))
