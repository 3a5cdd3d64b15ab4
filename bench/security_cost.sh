#!/usr/bin/env bash
# TLS against plaintext, side by side, on one `weir serve` with a PLAINTEXT, an SSL and a
# SASL_PLAINTEXT listener (issue 16's target: TLS throughput >= 70% of plaintext at 1 KiB):
# bench_weir publish (acks=1) and consume through librdkafka, and latency_ack (one record per
# request, linger 0), over each of PLAINTEXT and SSL, REPS times alternating; then the
# handshake rate (bench/handshakes.py: connections per second, one client, each authenticated
# and answered once) for plaintext, TLS, SASL PLAIN and SCRAM-SHA-256/512 (4096 iterations).
# Prints one line per run, then the medians and the TLS/plaintext ratios.
#   bench/security_cost.sh [COUNT=1000000] [MSG_BYTES=1024] [PARTITIONS=4] [REPS=3] [HS_SECS=5]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-1000000} size=${2:-1024} parts=${3:-4} reps=${4:-3} hs_secs=${5:-5}
weir=${WEIR_BIN:-$top/build/weir} bench=$top/build/bench/bench_weir
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT

cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 \
    -subj "/CN=bench CA" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.cnf
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 \
    2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt \
    -days 1 -extfile san.cnf 2>/dev/null
cat server.crt server.key >server.pem

"$weir" serve --data-dir data --http-listen off \
    --set "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0" \
    --set "ssl.keystore.location=$work/server.pem" \
    --set "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" >out 2>err &
pid=$!
until [[ $(grep -c '^listener ' out) -ge 3 ]]; do sleep 0.05; done
addr_of() { sed -n "s|^listener $1://||p" out; }
plain=$(addr_of PLAINTEXT) tls=$(addr_of SSL) sasl=$(addr_of SASL_PLAINTEXT)
for m in SCRAM-SHA-256 SCRAM-SHA-512; do
    "$weir" -b "$plain" user create bench --password bench-pw --mechanism $m >/dev/null
done

field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
run() { # listener rep
    local a=$plain ssl=()
    [[ $1 == SSL ]] && a=$tls ssl=(--ssl-ca "$work/ca.pem")
    local t=bench-$1-$2 p c l
    p=$("$bench" publish --addr "$a" --topic "$t" --partitions "$parts" --count "$count" \
        --msg-bytes "$size" --acks 1 "${ssl[@]}" | field msgs_per_s)
    c=$("$bench" consume --addr "$a" --topic "$t" --partitions "$parts" --count "$count" \
        --msg-bytes "$size" "${ssl[@]}" | field msgs_per_s)
    l=$("$bench" latency_ack --addr "$a" --topic "$t-lat" --count 5000 --msg-bytes "$size" \
        --acks 1 --seconds 5 "${ssl[@]}" | field p50_us)
    echo "$1 $p $c $l"
}

for r in $(seq "$reps"); do
    run PLAINTEXT "$r"
    run SSL "$r"
done | tee results
for k in plaintext tls plain scram-sha-256 scram-sha-512; do
    a=$plain extra=
    case $k in
    tls) a=$tls extra=$work/ca.pem ;;
    plain | scram*) a=$sasl extra=bench:bench-pw ;;
    esac
    python3 "$top/bench/handshakes.py" $k "$a" "$hs_secs" $extra
done | tee handshakes
python3 - results handshakes "$size" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
size = int(sys.argv[3])
for i, what, unit in ((1, "publish", "msgs/s"), (2, "consume", "msgs/s"),
                      (3, "produce ack latency p50", "us")):
    pt = statistics.median(float(r[i]) for r in rows if r[0] == "PLAINTEXT")
    tl = statistics.median(float(r[i]) for r in rows if r[0] == "SSL")
    mb = "" if i == 3 else " (%.0f / %.0f MB/s)" % (pt * size / 1e6, tl * size / 1e6)
    print("%s at %d B: plaintext %.1f %s, TLS %.1f %s = %.0f%% of plaintext%s"
          % (what, size, pt, unit, tl, unit, tl / pt * 100, mb))
for line in open(sys.argv[2]):
    h = json.loads(line)
    print("handshakes %s: %.0f conns/s (p50 %.2f ms, p99 %.2f ms, %d conns)"
          % (h["kind"], h["conns_per_s"], h["p50_ms"], h["p99_ms"], h["conns"]))
PY
