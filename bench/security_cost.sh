#!/usr/bin/env bash
# TLS against plaintext, side by side (issue 16's target: TLS throughput >= 70% of plaintext at
# 1 KiB), on one `weir serve` with a PLAINTEXT, an SSL and a SASL_PLAINTEXT listener:
#   - bench_weir publish (acks=1) and consume through librdkafka, and latency_ack (one record per
#     request, linger 0), over PLAINTEXT and SSL, REPS times alternating;
#   - with PEERS=1 (and the Kafka jars `make deps` resolves), the same publish and consume with
#     Kafka's own Java tools (kafka-producer-perf-test, kafka-consumer-perf-test), and then both
#     clients against Apache Kafka 4.x (tests/compat/lib/kafka_oracle.sh, the same certificate on
#     an SSL listener), so a TLS/plaintext ratio can be told Weir's or the client's;
#   - the handshake rate (bench/handshakes.py: connections per second, one client, each
#     authenticated and answered once) for plaintext, TLS, SASL PLAIN and SCRAM-SHA-256/512.
# Each run also records the server's CPU time (its /proc stat), as ms per MB moved. Prints one
# line per run, then the medians and the TLS/plaintext ratios. (bench_weir's complaints, such as
# Kafka's first records reordered by a retry right after topic creation, go to bench.err.)
#   bench/security_cost.sh [COUNT=1000000] [MSG_BYTES=1024] [PARTITIONS=4] [REPS=3] [HS_SECS=5]
#                          [PEERS=1]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-1000000} size=${2:-1024} parts=${3:-4} reps=${4:-3} hs_secs=${5:-5} peers=${6:-1}
weir=${WEIR_BIN:-$top/build/weir} bench=$top/build/bench/bench_weir
tools=$top/tests/compat/bin
work=$(mktemp -d)
pid= kpid=
trap 'kill $pid $kpid 2>/dev/null; wait $pid $kpid 2>/dev/null; rm -rf "$work"' EXIT
if [[ $peers == 1 && ! -s $top/build/compat/kafka.classpath ]]; then
    echo "note: no Kafka jars (build/compat/kafka.classpath: run make deps): Weir and librdkafka only"
    peers=0
fi

cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 \
    -subj "/CN=bench CA" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.cnf
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 \
    2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt \
    -days 1 -extfile san.cnf 2>/dev/null
cat server.crt server.key >server.pem
printf 'security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=%s\n' \
    "$work/ca.pem" >java-ssl.properties
printf 'security.protocol=PLAINTEXT\n' >java-plain.properties

"$weir" serve --data-dir data --http-listen off \
    --set "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0" \
    --set "ssl.keystore.location=$work/server.pem" --set "num.partitions=$parts" \
    --set "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" >out 2>err &
pid=$!
until [[ $(grep -c '^listener ' out) -ge 3 ]]; do sleep 0.05; done
addr_of() { sed -n "s|^listener $1://||p" out; }
plain=$(addr_of PLAINTEXT) tls=$(addr_of SSL) sasl=$(addr_of SASL_PLAINTEXT)
for m in SCRAM-SHA-256 SCRAM-SHA-512; do
    "$weir" -b "$plain" user create bench --password bench-pw --mechanism $m >/dev/null
done

field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The Java tools with the JIT they ship with (kafka-run-class.sh stops at C1 for the tests).
java_tool() { KAFKA_OPTS="-XX:TieredStopAtLevel=4" WEIR_KAFKA_TOOL_HEAP=512m "$tools/$1" "${@:2}"; }

# One workload; prints "MSGS_PER_S SERVER_CPU_TICKS". client: librdkafka | java.
one() { # system server-pid client workload listener addr topic
    local sys=$1 spid=$2 client=$3 wl=$4 lst=$5 a=$6 t=$7 c0 out rate
    local ssl=() jcfg=$work/java-plain.properties
    if [[ $lst == SSL ]]; then
        ssl=(--ssl-ca "$work/ca.pem")
        jcfg=$work/java-ssl.properties
    fi
    c0=$(cpu_ticks "$spid")
    case $client-$wl in
    librdkafka-publish)
        rate=$("$bench" publish --addr "$a" --topic "$t" --partitions "$parts" --count "$count" \
            --msg-bytes "$size" --acks 1 "${ssl[@]}" 2>>bench.err | field msgs_per_s) ;;
    librdkafka-consume)
        rate=$("$bench" consume --addr "$a" --topic "$t" --partitions "$parts" --count "$count" \
            --msg-bytes "$size" "${ssl[@]}" 2>>bench.err | field msgs_per_s) ;;
    java-publish)
        out=$(java_tool kafka-producer-perf-test.sh --topic "$t" --num-records "$count" \
            --record-size "$size" --throughput -1 --command-config "$jcfg" --producer-props \
            "bootstrap.servers=$a" acks=1 linger.ms=10 batch.size=1000000 \
            max.request.size=4000000 buffer.memory=268435456 2>&1 | grep 'records sent' | tail -1)
        rate=$(sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p' <<<"$out") ;;
    java-consume)
        out=$(java_tool kafka-consumer-perf-test.sh --bootstrap-server "$a" --topic "$t" \
            --num-records "$count" --timeout 30000 --hide-header --command-config "$jcfg" 2>&1 |
            grep -E '^[0-9]{4}-' | tail -1)
        rate=$(awk -F', *' '{print $10}' <<<"$out") ;; # fetch.nMsg.sec
    esac
    echo "${rate:-0} $(($(cpu_ticks "$spid") - c0))"
}

# One repetition on one system: each client publishes then consumes over each listener.
rep_rows() { # system server-pid plaintext-addr tls-addr rep clients...
    local sys=$1 spid=$2 pa=$3 ta=$4 r=$5 client lst a t p c l
    for client in "${@:6}"; do
        for lst in PLAINTEXT SSL; do
            a=$pa
            [[ $lst == SSL ]] && a=$ta
            t=bench-$client-$lst-$r
            p=$(one "$sys" "$spid" "$client" publish "$lst" "$a" "$t")
            c=$(one "$sys" "$spid" "$client" consume "$lst" "$a" "$t")
            l=-
            if [[ $sys == weir && $client == librdkafka ]]; then
                local ssl=()
                [[ $lst == SSL ]] && ssl=(--ssl-ca "$work/ca.pem")
                l=$("$bench" latency_ack --addr "$a" --topic "$t-lat" --count 5000 \
                    --msg-bytes "$size" --acks 1 --seconds 5 "${ssl[@]}" 2>>bench.err |
                    field p50_us)
            fi
            echo "$sys $client $lst $p $c $l"
        done
    done
}

clients=(librdkafka)
[[ $peers == 1 ]] && clients+=(java)
for r in $(seq "$reps"); do
    rep_rows weir "$pid" "$plain" "$tls" "$r" "${clients[@]}"
done | tee results
for k in plaintext tls plain scram-sha-256 scram-sha-512; do
    a=$plain extra=
    case $k in
    tls) a=$tls extra=$work/ca.pem ;;
    plain | scram*) a=$sasl extra=bench:bench-pw ;;
    esac
    python3 "$top/bench/handshakes.py" $k "$a" "$hs_secs" $extra
done | tee handshakes
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=

if [[ $peers == 1 ]]; then
    free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
    kp=$(free_port) ks=$(free_port) kc=$(free_port)
    WEIR_KAFKA_JIT=full WEIR_KAFKA_HEAP=1g "$top/tests/compat/lib/kafka_oracle.sh" \
        --dir "$work/kafka" --port "$kp" --controller-port "$kc" --max-seconds 3600 \
        --set "listeners=PLAINTEXT://127.0.0.1:$kp,CONTROLLER://127.0.0.1:$kc,SSL://127.0.0.1:$ks" \
        --set "advertised.listeners=PLAINTEXT://127.0.0.1:$kp,SSL://127.0.0.1:$ks" \
        --set "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL" \
        --set ssl.keystore.type=PEM --set "ssl.keystore.location=$work/server.pem" \
        --set "num.partitions=$parts" >kafka.out 2>kafka.err &
    kpid=$!
    for _ in $(seq 1200); do
        grep -q '^listening on ' kafka.out 2>/dev/null && break
        kill -0 $kpid 2>/dev/null || break
        sleep 0.1
    done
    jpid=$(pgrep -P "$kpid" java || true)
    if [[ -n $jpid ]] && grep -q '^listening on ' kafka.out; then
        for r in $(seq "$reps"); do
            rep_rows kafka "$jpid" "127.0.0.1:$kp" "127.0.0.1:$ks" "$r" "${clients[@]}"
        done | tee -a results
    else
        echo "note: Apache Kafka did not start: $(tail -3 kafka.err)"
    fi
    kill "$kpid"
    wait "$kpid" 2>/dev/null || true
    kpid=
fi

python3 - results handshakes "$size" "$count" <<'PY'
import json, statistics, sys
# results: system client listener publish-rate publish-ticks consume-rate consume-ticks p50|-
rows = [l.split() for l in open(sys.argv[1])]
size, count = int(sys.argv[3]), int(sys.argv[4])
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
mb = count * size / 1e6
for sys_, client in dict.fromkeys((r[0], r[1]) for r in rows):
    for i, what in ((3, "publish"), (5, "consume")):
        rate, cpu = {}, {}
        for lst in ("PLAINTEXT", "SSL"):
            rs = [r for r in rows if r[0] == sys_ and r[1] == client and r[2] == lst
                  and float(r[i]) > 0]
            rate[lst] = med([float(r[i]) for r in rs])
            cpu[lst] = med([float(r[i + 1]) * 10 / mb for r in rs])  # ticks are 10 ms
        pt, tl = rate["PLAINTEXT"], rate["SSL"]
        if not pt or not tl:
            print("%s at %d B, %s / %s: no figures (a run failed)" % (what, size, sys_, client))
            continue
        print("%s at %d B, %s / %s: plaintext %.0f msgs/s, TLS %.0f msgs/s = %.0f%% of "
              "plaintext (%.0f / %.0f MB/s; server CPU %.2f / %.2f ms per MB)"
              % (what, size, sys_, client, pt, tl, tl / pt * 100, pt * size / 1e6,
                 tl * size / 1e6, cpu["PLAINTEXT"], cpu["SSL"]))
lat = {lst: med([float(r[7]) for r in rows if r[0] == "weir" and r[1] == "librdkafka"
                 and r[2] == lst and r[7] != "-"]) for lst in ("PLAINTEXT", "SSL")}
if lat["PLAINTEXT"] and lat["SSL"]:
    print("produce ack latency p50 at %d B, weir / librdkafka: plaintext %.1f us, TLS %.1f us"
          % (size, lat["PLAINTEXT"], lat["SSL"]))
for line in open(sys.argv[2]):
    h = json.loads(line)
    print("handshakes %s: %.0f conns/s (p50 %.2f ms, p99 %.2f ms, %d conns)"
          % (h["kind"], h["conns_per_s"], h["p50_ms"], h["p99_ms"], h["conns"]))
PY
