#!/usr/bin/env bash
# The steady-state profiles of `make bench` (issue 17, bench/steady.py) in their smoke size: the
# sustained rows (producers with consumers tailing, topics kept, a catch-up read of data dropped
# from the page cache, the O_DIRECT probe of the same run) and the paced acks=-1 latency rows
# against Weir and librdkafka's mock broker. Checks counts and files, not speed: every message
# published was acknowledged and read back by its tailing consumer and again by the catch-up
# read, every paced run delivered exactly rate x seconds messages, every row has its chart, and
# the timeline of a paced run has one line per message. Runs in about 20 s.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${WEIR_BUILD:-$top/build}
weir=${WEIR_BIN:-$build/weir}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The harness stops every server it starts by pid, also on SIGTERM, which timeout sends first.
timeout -k 10 150 /usr/bin/python3 "$top/bench/harness.py" --smoke --steady --build "$build" \
    --weir-bin "$weir" --out "$out" >"$out/harness.out" 2>&1
rc=$?

# One paced run by hand, for its timeline file (the harness keeps only the charts).
timeout -k 5 60 "$build/bench/bench_weir" latency_paced --addr mock --topic tl --rate 2000 \
    --seconds 1 --msg-bytes 100 --acks -1 --timeline "$out/timeline.txt" >"$out/paced.out" 2>&1
prc=$?

# The O_DIRECT append prototype against the page cache (bench_storage --direct), small.
timeout -k 5 60 "$build/bench/bench_storage" "$out" --direct --mib 8 --group-kib 64 --reps 1 \
    >"$out/direct.out" 2>&1
drc=$?

/usr/bin/python3 - "$out" "$rc" "$prc" "$drc" <<'PY'
import glob, json, os, re, sys

out, rc, prc, drc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
n = failed = 0


def tap(ok, name, why=""):
    global n, failed
    n += 1
    failed += not ok
    print(f"{'ok' if ok else 'not ok'} {n} - {name}")
    if not ok and why:
        print(f"    # {why}")


tap(rc == 0, "harness --smoke --steady exits 0", f"exit {rc}")
if rc != 0:
    for line in open(os.path.join(out, "harness.out")).read().splitlines()[-20:]:
        print("    # " + line)
path = os.path.join(out, "steady.json")
res = json.load(open(path)) if os.path.exists(path) else {}
tap(res.get("failures") == [], "no failures recorded", str(res.get("failures")))

# Smoke profile: 24 MiB per row, 2 producers of 1 KiB messages -> 12288 messages each.
PER, P = 24 * (1 << 20) // 1024 // 2, 2
rows = {r["row"]: r for r in res.get("rows", [])}
tap(sorted(rows) == ["sustained-acks-1", "sustained-acks-all", "sustained-catch-up"],
    "the three sustained rows", str(sorted(rows)))
for name in ("sustained-acks-all", "sustained-acks-1"):
    r = rows.get(name, {})
    tap(r.get("ok") is True and r.get("producers") == P and r.get("consumers") == P and
        r.get("volume_mb") == round(PER * P * 1024 / 1e6, 1),
        f"{name}: {P} producers x {PER} messages acknowledged, all read by tailing consumers",
        str(r))
    tap(r.get("publish_mb_s", 0) > 0 and r.get("pct_of_odirect", 0) > 0,
        f"{name}: MB/s and its share of the O_DIRECT bandwidth", str(r))
    svg = os.path.join(out, r.get("chart") or "missing")
    tap(os.path.exists(svg) and "<polyline" in open(svg).read(), f"{name}: chart", svg)
c = rows.get("sustained-catch-up", {})
tap(c.get("ok") is True and c.get("consumers") == P and c.get("cold_mb", 0) >= PER * P * 1024 / 1e6,
    "catch-up: every message read back after its segments left the page cache", str(c))
tap(c.get("disk_read_mb", 0) >= 0.9 * c.get("volume_mb", 1e9),
    "catch-up: the data came from the disk (pgpgin during the row >= 90% of it)", str(c))
d = res.get("disk") or {}
tap(d.get("write_mb_s", 0) > 0 and d.get("read_mb_s", 0) > 0, "O_DIRECT write and read measured",
    str(d))

lat = res.get("latency", [])
want = {(s, r) for s in ("weir", "mock") for r in (1000, 10000)}
got = {(r["system"], r["rate"]) for r in lat}
tap(got == want, "paced runs against Weir and the mock broker at 1k and 10k msg/s", str(got))
tap(all(r["msgs"] == r["rate"] * 1 and 0 < r["p50_us"] <= r["p99_us"] <= r["p999_us"] <=
        r["max_us"] for r in lat),
    "each paced run: rate x 1 s messages acknowledged, p50 <= p99 <= p999 <= max", str(lat))
for rate in (1000, 10000):
    svg = glob.glob(os.path.join(out, f"*-latency-paced-{rate}.svg"))
    tap(len(svg) == 1 and open(svg[0]).read().count("<polyline") == 2,
        f"latency chart at {rate} msg/s with a Weir and a mock line", str(svg))
md = glob.glob(os.path.join(out, "*-steady.md"))
text = open(md[0]).read() if md else ""
tap("weir p99 / mock p99" in text and "% of O_DIRECT" in text, "report written", md and md[0])

tl = os.path.join(out, "timeline.txt")
lines = open(tl).read().split("\n")[:-1] if os.path.exists(tl) else []
tap(prc == 0 and len(lines) == 2000 and all(float(l.split()[1]) > 0 for l in lines) and
    float(lines[-1].split()[0]) == 999.5,
    "latency_paced --timeline: one line per message, every one acknowledged",
    f"exit {prc}, {len(lines)} lines")
direct = open(os.path.join(out, "direct.out")).read()
rows_d = re.findall(r"^\| (pc-sync|direct|pc-nosync) \| (\d+) \[", direct, re.M)
tap(drc == 0 and [r for r, _ in rows_d] == ["pc-sync", "direct", "pc-nosync"] and
    all(int(v) > 0 for _, v in rows_d) and "8 MiB per row, groups of 64 KiB" in direct,
    "bench_storage --direct: the page-cache and O_DIRECT rows, each with its MB/s",
    f"exit {drc}: {direct[-300:]}")
tap(not glob.glob(os.path.join(out, "bench-storage-direct.*")),
    "bench_storage --direct leaves no file behind")
print(f"1..{n}")
sys.exit(1 if failed else 0)
PY
