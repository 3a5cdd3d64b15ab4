#!/usr/bin/env bash
# Zero-copy fetch (weir.fetch.zero.copy, issue 17 item 4) side by side with the copy path, on
# one `weir serve`: bench_weir publish (acks=1) writes COUNT messages of MSG_BYTES once, then
# bench_weir consume reads them back REPS times with zero copy on and REPS times off,
# alternating (switched at run time with `weir cluster config set`); per run the consume msgs/s,
# MB/s and the broker's CPU seconds (utime + stime from /proc), then the medians. Last, 100 raw
# clients that each send one Fetch of the whole first partition (up to 55 MiB) and never read,
# with zero copy on and then off: the broker's RSS before and with them, and what
# weir_fetch_zero_copy_bytes_total counted.
#   bench/zero_copy_cost.sh [COUNT=1000000] [MSG_BYTES=1024] [PARTITIONS=4] [REPS=3]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-1000000} size=${2:-1024} parts=${3:-4} reps=${4:-3}
weir=${WEIR_BIN:-$top/build/weir} bench=$top/build/bench/bench_weir
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT

"$weir" serve --data-dir "$work/data" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    --set num.io.threads=2 >"$work/out" 2>"$work/err" &
pid=$!
until [[ $(wc -l <"$work/out") -ge 2 ]]; do sleep 0.05; done
addr=$(sed -n 's/^listening on //p' "$work/out")
http=$(sed -n 's/^http on //p' "$work/out")
cpu_s() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$pid/stat"; }
zc_bytes() { curl -s "http://$http/metrics" | sed -n 's/^weir_fetch_zero_copy_bytes_total //p'; }
set_zc() { "$weir" -b "$addr" cluster config set "weir.fetch.zero.copy=$1" >/dev/null; }

"$bench" publish --addr "$addr" --topic zc --partitions "$parts" --count "$count" \
    --msg-bytes "$size" --acks 1 >/dev/null
for r in $(seq "$reps"); do
    for zc in true false; do
        set_zc "$zc"
        c0=$(cpu_s)
        res=$("$bench" consume --addr "$addr" --topic zc --partitions "$parts" --count "$count" \
            --msg-bytes "$size")
        c1=$(cpu_s)
        echo "$zc $(sed -n 's/.*"msgs_per_s": *\([0-9.]*\).*"mb_per_s": *\([0-9.]*\).*/\1 \2/p' \
            <<<"$res") $(echo "$c1 - $c0" | bc)"
    done
done | tee "$work/results"
python3 - "$work/results" "$count" "$size" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
gb = int(sys.argv[2]) * int(sys.argv[3]) / 1e9
med = {zc: [statistics.median(float(r[i]) for r in rows if r[0] == zc) for i in (1, 2, 3)]
       for zc in ("true", "false")}
for zc, name in (("true", "zero copy"), ("false", "copy")):
    m = med[zc]
    print("consume, %s: %.0f msgs/s, %.1f MB/s, broker CPU %.2f s (%.2f s per GB)" %
          (name, m[0], m[1], m[2], m[2] / gb))
print("zero copy vs copy: %+.1f%% msgs/s, %+.1f%% broker CPU" %
      ((med["true"][0] / med["false"][0] - 1) * 100, (med["true"][2] / med["false"][2] - 1) * 100))
PY

# 100 slow readers: each asks for partition 0 from offset 0 (Fetch v11, 55 MiB) and reads nothing.
for zc in true false; do
    set_zc "$zc"
    before=$(zc_bytes)
    python3 - "$addr" "$pid" "$zc" "$before" "$http" <<'PY'
import socket, struct, sys, time, urllib.request, re
addr, pid, zc, before, http = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
def rss():
    with open("/proc/%d/status" % pid) as f:
        return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmRSS:"))
def s16(x): return struct.pack(">h", len(x)) + x.encode()
body = struct.pack(">iiiibii", -1, 0, 1, 55 << 20, 0, 0, -1)
body += struct.pack(">i", 1) + s16("zc") + struct.pack(">i", 1) + \
    struct.pack(">iiqqi", 0, -1, 0, -1, 55 << 20) + struct.pack(">i", 0) + s16("")
m = struct.pack(">hhih", 1, 11, 1, 4) + b"slow" + body
frame = struct.pack(">i", len(m)) + m
h, p = addr.rsplit(":", 1)
base, socks = rss(), []
for _ in range(100):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((h, int(p)))
    s.sendall(frame)
    socks.append(s)
peak = base
for _ in range(100):
    time.sleep(0.02)
    peak = max(peak, rss())
text = urllib.request.urlopen("http://%s/metrics" % http).read().decode()
sent = int(re.search(r"^weir_fetch_zero_copy_bytes_total (\d+)", text, re.M).group(1)) - before
print("100 slow readers, zero copy %s: RSS %.1f MiB before, %.1f MiB with them; %d bytes sent "
      "by sendfile meanwhile" % ("on" if zc == "true" else "off", base, peak, sent))
for s in socks:
    s.close()
time.sleep(1)
PY
done
