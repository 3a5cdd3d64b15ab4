#!/usr/bin/env bash
# Event store rows at steady state: each topic gets 2M records over 1M keys (pass 1: the keys
# are new, the index grows), then 2M more over the same keys (pass 2: every key exists).
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench/bench_weir W=build/weir
work=$(mktemp -d)
$W serve --data-dir $work/data --listen 127.0.0.1:0 --http-listen off > $work/out 2> $work/err &
pid=$!
trap 'kill $pid; wait $pid 2>/dev/null; rm -rf $work' EXIT
until [[ -s $work/out ]] && grep -q '^listening on' $work/out; do sleep 0.05; done
addr=$(sed -n 's/^listening on //p' $work/out)
cpu() { awk '{print $14+$15}' /proc/$pid/stat; }
tck=$(getconf CLK_TCK)
pass() { # row topic cond base
  local c0 c1 r
  c0=$(cpu)
  r=$($B publish --topic $2 --count 2000000 --acks 1 --addr $addr --partitions 1 --msg-bytes 100 \
      --keys 1000000 --conditional $3 --base-offset $4 --seconds 120 |
      sed -n 's/.*"msgs":\([0-9]*\).*"msgs_per_s":\([0-9.]*\).*/\1 \2/p')
  c1=$(cpu)
  echo "$1 base=$4 msgs,msg/s=$r broker_us/msg=$(python3 -c "print(round(($c1-$c0)/$tck*1e6/2000000,3))")"
}
for rep in 1 2 3; do
  $W -b $addr topic create es-plain-$rep >/dev/null
  $W -b $addr topic create es-indexed-$rep -c weir.key.index=true >/dev/null
  $W -b $addr topic create es-cond-$rep -c weir.key.index=true >/dev/null
  pass plain es-plain-$rep 0 0; pass plain es-plain-$rep 0 0
  pass indexed es-indexed-$rep 0 0; pass indexed es-indexed-$rep 0 0
  pass conditional es-cond-$rep 1 0; pass conditional es-cond-$rep 1 2000000
done
