"""The steady-state profiles of `make bench` (issue 17): sustained throughput and paced tail latency.

bench/harness.py calls main() for `bench/run.sh --sustained` and `bench/run.sh --tail-latency`
(both together with `--steady`). Each writes bench/results/<date>-<host>-steady.md, one SVG chart
per row (bench/results/<date>-<host>-<row>.svg) and bench/results/steady.json.

Sustained: one Weir broker for the whole profile, topics never deleted. First the disk's own
limits, measured in the same run with dd and O_DIRECT (1 MiB blocks, sequential write with
fdatasync at the end, then a sequential read of that file). Then each row runs P producers
(bench_weir publish, 1 KiB messages, 6 partitions, each its own topic) while P consumers tail
those topics as they are written, until --volume-mb in all is written; every 0.5 s it records
each driver's progress and the kernel's writeback counters (/proc/meminfo Dirty and Writeback,
/proc/vmstat pgpgout), so the chart shows throughput over time and what the page cache was doing.
The rows: acks=-1, then acks=1 on top of it (the data of the first row is still there), then a
catch-up read: the segment files of the first row's topics dropped from the page cache
(posix_fadvise DONTNEED, file by file: other people's cache on a shared machine is left alone)
and read back from offset 0 by P consumers at once. Each row reports MB/s and its share of the
O_DIRECT bandwidth of the same run.

Tail latency: bench_weir latency_paced (librdkafka, linger.ms=0, acks=-1, 100-byte messages)
paced at 1k and 10k msg/s, against Weir and against librdkafka's in-process mock broker, runs
alternating so drift hits both (--lat-variant K=V[,K=V] adds a Weir broker with those settings
beside the default one, to try a setting against it in the same run); p50/p99/p999 per run, the Weir/mock p99 ratio run by run, and a
chart of the worst latency per 50 ms window over the run.

Invariants: every process is started through harness.PROCS and stopped by pid on every exit
path; each driver has a deadline of its own and a hard timeout here; nothing listens anywhere
but 127.0.0.1.
"""

import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time
import urllib.request

import harness as h

PROFILES = {
    # volume_mb: bytes written per sustained row (all producers together); producers: P;
    # lat_s: length of one paced run; lat_reps: runs per system and rate.
    "default": dict(volume_mb=16384, producers=2, lat_s=10.0, lat_reps=3, dd_mb=4096,
                    cap_s=900),
    "quick": dict(volume_mb=1024, producers=2, lat_s=2.0, lat_reps=1, dd_mb=512, cap_s=240),
    "smoke": dict(volume_mb=24, producers=2, lat_s=1.0, lat_reps=1, dd_mb=16, cap_s=60),
}
MSG_BYTES = 1024
PARTITIONS = 6
LAT_RATES = [1000, 10000]
LAT_BYTES = 100
SAMPLE_S = 0.5


# ---- the disk's own limit ---------------------------------------------------------------------

def dd_rate(args):
    """Runs dd and returns (bytes, seconds) from its last line ("N bytes ... copied, S s, ...")."""
    cp = subprocess.run(["dd"] + args, capture_output=True, timeout=600)
    m = re.search(rb"^(\d+) bytes.*copied, ([0-9.eE+-]+) s", cp.stderr, re.M)
    if cp.returncode != 0 or not m:
        raise RuntimeError(f"dd {' '.join(args)}: {cp.stderr.decode(errors='replace').strip()}")
    return int(m.group(1)), float(m.group(2))


def odirect_probe(work, mb):
    """Sequential O_DIRECT write (1 MiB blocks, one fdatasync at the end) and read of the same
    file, in MB/s. The file is on the file system the broker's data directory is on."""
    path = os.path.join(work, "odirect.probe")
    try:
        n, s = dd_rate(["if=/dev/zero", f"of={path}", "bs=1M", f"count={mb}", "oflag=direct",
                        "conv=fdatasync"])
        write = n / s / 1e6
        n, s = dd_rate([f"if={path}", "of=/dev/null", "bs=1M", "iflag=direct"])
        read = n / s / 1e6
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return dict(write_mb_s=round(write, 1), read_mb_s=round(read, 1), mb=mb)


def sync_floor(work, n=1000, size=170):
    """The disk's own floor for one durable append: write() of one small record (the size of a
    one-record 100-byte batch) and fdatasync, into a zero-filled file, n times; p50/p99 in us."""
    path = os.path.join(work, "sync.probe")
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"\0" * (n * size + 4096))
        os.fsync(fd)
        ts = []
        for i in range(n):
            t = time.perf_counter()
            os.pwrite(fd, b"x" * size, i * size)
            os.fdatasync(fd)
            ts.append((time.perf_counter() - t) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    ts.sort()
    return dict(p50_us=round(ts[n // 2], 1), p99_us=round(ts[int(n * 0.99)], 1), n=n)


def fsync_hist(http):
    """weir_fsync_duration_seconds from the broker's /metrics: {le: count}."""
    out = {}
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=30) as r:
        for line in r.read().decode().splitlines():
            m = re.match(r'weir_fsync_duration_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
            if m:
                out[float(m.group(1))] = int(m.group(2))
    return out


def hist_pct(before, after, p):
    """The upper bound of the bucket holding percentile p of the observations in between."""
    diff = sorted((le, after.get(le, 0) - before.get(le, 0)) for le in after)
    total = diff[-1][1] if diff else 0
    for le, n in diff:
        if total and n >= p * total:
            return le
    return None


# ---- samplers ---------------------------------------------------------------------------------

def kernel_counters():
    """Dirty, Writeback, MemFree, Cached (MB) from /proc/meminfo; pgpgout and pgpgin (MB written
    to and read from block devices so far) from /proc/vmstat."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("Dirty", "Writeback", "MemFree", "Cached"):
                out[k.lower() + "_mb"] = int(v.split()[0]) / 1024
    with open("/proc/vmstat") as f:
        for line in f:
            k, v = line.split()
            if k in ("pgpgout", "pgpgin"):
                out[k + "_mb"] = int(v) / 1024  # both count KiB
    return out


class Driver:
    """One bench_weir process whose PROGRESS lines are read as they come."""

    def __init__(self, argv, deadline_s):
        self.argv = argv
        self.deadline_s = deadline_s
        self.progress = []  # (secs since its t0, messages)
        self.result = None
        self.rc = None
        self.t_start = time.monotonic()
        self.p = h.PROCS.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
        self.err = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.err_reader = threading.Thread(target=self._read_err, daemon=True)
        self.err_reader.start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("PROGRESS "):
                _, secs, msgs = line.split()
                self.progress.append((float(secs), int(msgs)))
            elif line.startswith("RESULT "):
                self.result = json.loads(line[len("RESULT "):])

    def _read_err(self):
        self.err = self.p.stderr.read()

    def wait(self):
        left = self.deadline_s - (time.monotonic() - self.t_start)
        try:
            self.rc = self.p.wait(timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            h.PROCS.stop(self.p, grace_s=2)
            self.rc = "timeout"
        self.reader.join(5)
        self.err_reader.join(5)
        if self.p in h.PROCS.live:
            h.PROCS.live.remove(self.p)
        return self


# ---- charts -----------------------------------------------------------------------------------

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def svg_chart(path, title, xlabel, ylabel, series):
    """A line chart: series is [(name, [(x, y), ...])]. Plain SVG, no dependencies."""
    W, H, L, R, T, B = 760, 340, 70, 20, 36, 46
    pts = [p for _, s in series for p in s]
    if not pts:
        return None
    xmax = max(x for x, _ in pts) or 1
    ymax = max(y for _, y in pts) or 1
    ymax *= 1.08

    def sx(x):
        return L + (W - L - R) * x / xmax

    def sy(y):
        return H - B - (H - T - B) * y / ymax

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
         f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">{xlabel}</text>',
         f'<text x="14" y="{(T + H - B) / 2}" text-anchor="middle" '
         f'transform="rotate(-90 14 {(T + H - B) / 2})">{ylabel}</text>']
    for i in range(6):
        yv = ymax * i / 5
        xv = xmax * i / 5
        o.append(f'<text x="{L - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
        o.append(f'<line x1="{L}" y1="{sy(yv):.1f}" x2="{W - R}" y2="{sy(yv):.1f}" '
                 f'stroke="#ddd"/>')
        o.append(f'<text x="{sx(xv):.1f}" y="{H - B + 16}" text-anchor="middle">{xv:.3g}</text>')
    for k, (name, s) in enumerate(series):
        c = COLORS[k % len(COLORS)]
        if s:
            d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s)
            o.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{d}"/>')
        o.append(f'<rect x="{L + 10 + 170 * k}" y="{T - 2}" width="12" height="3" fill="{c}"/>')
        o.append(f'<text x="{L + 26 + 170 * k}" y="{T + 3}">{name}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")
    return path


def sparkline(values):
    """The same series as a one-line text chart for the report and the terminal."""
    bars = "▁▂▃▄▅▆▇█"
    if not values:
        return ""
    top = max(values) or 1
    return "".join(bars[min(len(bars) - 1, int(v / top * (len(bars) - 1) + 0.5))] for v in values)


def sum_series(drivers, msg_bytes, t_origin, step=SAMPLE_S):
    """Total MB/s of several drivers on one time axis (seconds since t_origin), per step."""
    if not any(d.progress for d in drivers):
        return []
    end = max(d.t_start - t_origin + d.progress[-1][0] for d in drivers if d.progress)
    out = []
    t = step
    while t <= end + step / 2:
        total = 0.0
        for d in drivers:
            total += (msgs_at(d, t, t_origin) - msgs_at(d, t - step, t_origin))
        out.append((round(t, 3), total * msg_bytes / step / 1e6))
        t += step
    return out


def msgs_at(d, t, t_origin):
    """Messages a driver had at time t (seconds since t_origin), linearly between samples."""
    t_local = t - (d.t_start - t_origin)
    prev = (0.0, 0)
    for s, m in d.progress:
        if s >= t_local:
            if s == prev[0]:
                return m
            return prev[1] + (m - prev[1]) * (t_local - prev[0]) / (s - prev[0])
        prev = (s, m)
    return prev[1]


# ---- the profile runner -----------------------------------------------------------------------

class Steady:
    def __init__(self, args, build, out_dir, work, weir_bin, bench_weir):
        self.args = args
        self.p = dict(PROFILES[args.profile])
        if args.volume_mb:
            self.p["volume_mb"] = args.volume_mb
        self.build = build
        self.out_dir = out_dir
        self.work = work
        self.weir_bin = weir_bin
        self.bench_weir = bench_weir
        self.logdir = os.path.join(work, "logs")
        os.makedirs(self.logdir, exist_ok=True)
        self.stamp = f"{datetime.date.today():%Y-%m-%d}-{socket.gethostname()}"
        self.rows = []
        self.failures = []
        self.notes = []
        self.charts = []
        self.t0 = time.monotonic()

    def fail(self, what, detail):
        self.failures.append((what, detail))
        h.log(f"FAILED {what}: {detail}")

    def chart_path(self, name):
        return os.path.join(self.out_dir, f"{self.stamp}-{name}.svg")

    # ---- sustained ----

    def sustained(self):
        disk = odirect_probe(self.work, self.p["dd_mb"])
        h.log(f"O_DIRECT: write {disk['write_mb_s']} MB/s, read {disk['read_mb_s']} MB/s "
              f"({disk['mb']} MiB)")
        self.disk = disk
        srv = h.WeirServer(os.path.join(self.work, "weir"), self.logdir, self.weir_bin, [])
        srv.start()
        try:
            first = self.sustained_row(srv, "sustained-acks-all", -1)
            self.sustained_row(srv, "sustained-acks-1", 1)
            if first:
                self.catch_up_row(srv, first)
        finally:
            srv.stop()

    def sustained_row(self, srv, name, acks):
        P = self.p["producers"]
        per = max(1, self.p["volume_mb"] * (1 << 20) // MSG_BYTES // P)
        topics = [f"{name}-{i}" for i in range(P)]
        cap = self.p["cap_s"]
        h.log(f"[{time.monotonic() - self.t0:5.0f}s] {name}: {P} producers x {per} msgs "
              f"of {MSG_BYTES} B, acks={acks}, {P} consumers tailing")
        t_origin = time.monotonic()
        base = kernel_counters()
        prods = [Driver([self.bench_weir, "publish", "--addr", srv.addr, "--topic", t,
                         "--partitions", str(PARTITIONS), "--count", str(per), "--msg-bytes",
                         str(MSG_BYTES), "--acks", str(acks), "--seconds", str(cap),
                         "--progress-ms", str(int(SAMPLE_S * 1000))], cap + 90) for t in topics]
        kern = []
        stop = threading.Event()

        def sample():
            while not stop.wait(SAMPLE_S):
                k = kernel_counters()
                k["t"] = time.monotonic() - t_origin
                kern.append(k)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # The consumers start once the producers have created their topics.
        time.sleep(1.0)
        cons = [Driver([self.bench_weir, "consume", "--addr", srv.addr, "--topic", t,
                        "--partitions", str(PARTITIONS), "--count", str(per), "--msg-bytes",
                        str(MSG_BYTES), "--seconds", str(cap), "--progress-ms",
                        str(int(SAMPLE_S * 1000))], cap + 90) for t in topics]
        for d in prods + cons:
            d.wait()
        stop.set()
        sampler.join(5)
        ok = self.check_drivers(name, prods + cons, per)
        row = self.row_from(name, acks, prods, cons, per, t_origin, base, kern)
        row["ok"] = ok
        self.rows.append(row)
        return topics if ok else None

    def check_drivers(self, name, drivers, per):
        ok = True
        for d in drivers:
            r = d.result or {}
            if d.rc != 0 or r.get("msgs") != per or r.get("errors") != 0:
                ok = False
                self.fail(f"{name} {d.argv[1]} {d.argv[d.argv.index('--topic') + 1]}",
                          f"exit {d.rc}, msgs {r.get('msgs')} of {per}, errors {r.get('errors')}"
                          f"{', capped' if r.get('capped') else ''}: "
                          f"{d.err.decode(errors='replace').strip()[-300:]}")
        return ok

    def row_from(self, name, acks, prods, cons, per, t_origin, base, kern):
        vol = per * len(prods) * MSG_BYTES / 1e6
        pub_s = max((d.result or {}).get("secs", 0) for d in prods) or 1e-9
        con_s = max((d.result or {}).get("secs", 0) for d in cons) if cons else 0
        pub = sum_series(prods, MSG_BYTES, t_origin)
        con = sum_series(cons, MSG_BYTES, t_origin)
        chart = svg_chart(self.chart_path(name),
                          f"{name}: {len(prods)} producers + {len(cons)} tailing consumers, "
                          f"{MSG_BYTES} B, acks={acks}",
                          "seconds", "MB/s (and MB dirty)",
                          [("produce MB/s", pub), ("consume MB/s", con),
                           ("Dirty MB", [(k["t"], k["dirty_mb"]) for k in kern]),
                           ("Writeback MB", [(k["t"], k["writeback_mb"]) for k in kern])])
        if chart:
            self.charts.append(chart)
        written = (kern[-1]["pgpgout_mb"] - base["pgpgout_mb"]) if kern else 0
        mb_s = vol / pub_s
        return dict(row=name, acks=acks, producers=len(prods), consumers=len(cons),
                    msg_bytes=MSG_BYTES, volume_mb=round(vol, 1), publish_s=round(pub_s, 2),
                    publish_mb_s=round(mb_s, 1),
                    consume_mb_s=round(vol / con_s, 1) if con_s else None,
                    pct_of_odirect=round(100 * mb_s / self.disk["write_mb_s"], 1),
                    dirty_mb_max=round(max((k["dirty_mb"] for k in kern), default=0), 1),
                    writeback_mb_max=round(max((k["writeback_mb"] for k in kern), default=0), 1),
                    memfree_mb_min=round(min((k["memfree_mb"] for k in kern), default=0), 1),
                    disk_written_mb=round(written, 1),
                    spark=sparkline([y for _, y in pub]), chart=chart and os.path.basename(chart))

    def catch_up_row(self, srv, topics):
        """Drops the first row's segment files from the page cache, then reads them back."""
        data = os.path.join(srv.root, "data")
        dropped = 0
        for top, _, files in os.walk(data):
            if not any(os.path.basename(top).startswith(t + "-") for t in topics):
                continue
            for f in files:
                fd = os.open(os.path.join(top, f), os.O_RDONLY)
                try:
                    os.fsync(fd)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    dropped += os.fstat(fd).st_size
                finally:
                    os.close(fd)
        if dropped == 0:
            self.fail("catch-up", f"no segment files of {topics} under {data}")
            return
        P = len(topics)
        per = max(1, self.p["volume_mb"] * (1 << 20) // MSG_BYTES // P)
        h.log(f"[{time.monotonic() - self.t0:5.0f}s] catch-up: {dropped / 1e6:.0f} MB dropped "
              f"from the page cache, {P} consumers read from offset 0")
        t_origin = time.monotonic()
        base = kernel_counters()
        cons = [Driver([self.bench_weir, "consume", "--addr", srv.addr, "--topic", t,
                        "--partitions", str(PARTITIONS), "--count", str(per), "--msg-bytes",
                        str(MSG_BYTES), "--seconds", str(self.p["cap_s"]), "--progress-ms",
                        str(int(SAMPLE_S * 1000))], self.p["cap_s"] + 90) for t in topics]
        for d in cons:
            d.wait()
        ok = self.check_drivers("catch-up", cons, per)
        # Read from the disk during the row (the whole machine's): the data really was cold.
        disk_read = kernel_counters()["pgpgin_mb"] - base["pgpgin_mb"]
        vol = per * P * MSG_BYTES / 1e6
        secs = max((d.result or {}).get("secs", 0) for d in cons) or 1e-9
        series = sum_series(cons, MSG_BYTES, t_origin)
        chart = svg_chart(self.chart_path("sustained-catch-up"),
                          f"catch-up read of cold data: {P} consumers from offset 0",
                          "seconds", "MB/s", [("consume MB/s", series)])
        if chart:
            self.charts.append(chart)
        self.rows.append(dict(row="sustained-catch-up", producers=0, consumers=P,
                              msg_bytes=MSG_BYTES, volume_mb=round(vol, 1),
                              consume_mb_s=round(vol / secs, 1),
                              pct_of_odirect_read=round(100 * vol / secs / self.disk["read_mb_s"],
                                                        1),
                              cold_mb=round(dropped / 1e6, 1), ok=ok,
                              disk_read_mb=round(disk_read * 1.048576, 1),
                              spark=sparkline([y for _, y in series]),
                              chart=chart and os.path.basename(chart)))

    # ---- tail latency ----

    def tail_latency(self):
        self.floor = sync_floor(self.work, n=200 if self.args.profile == "smoke" else 2000)
        h.log(f"disk floor: write+fdatasync of 170 B p50 {self.floor['p50_us']} us, "
              f"p99 {self.floor['p99_us']} us")
        # Weir as configured by default, plus one broker per --lat-variant (its --set list), to
        # try a setting against the default side by side; "mock" needs no server.
        variants = [("weir", [])] + [(f"weir {v}", v.split(",")) for v in self.args.lat_variant]
        self.lat_systems = [name for name, _ in variants] + ["mock"]
        servers = {}
        self.lat_runs = []
        try:
            for i, (name, sets) in enumerate(variants):
                srv = h.WeirServer(os.path.join(self.work, f"weir-lat-{i}"), self.logdir,
                                   self.weir_bin, sets)
                srv.start()
                servers[name] = (srv, h.Runner.http_of(srv))
            for rate in LAT_RATES:
                timelines = {}
                for rep in range(self.p["lat_reps"]):
                    k = rep % len(self.lat_systems)  # the first system rotates, like drift
                    for system in self.lat_systems[k:] + self.lat_systems[:k]:
                        r = self.paced_run(servers.get(system), system, rate, rep, timelines)
                        if r:
                            self.lat_runs.append(r)
                self.lat_chart(rate, timelines)
        finally:
            for srv, _ in servers.values():
                srv.stop()

    def paced_run(self, server, system, rate, rep, timelines):
        """One paced run; server is (WeirServer, http address), None for the mock broker."""
        secs = self.p["lat_s"]
        tl = os.path.join(self.work, f"timeline-{len(timelines)}-{rate}-{rep}.txt")
        argv = [self.bench_weir, "latency_paced", "--addr", server[0].addr if server else
                "mock", "--topic", f"paced-{rate}-{rep}", "--rate", str(rate), "--seconds",
                str(secs), "--msg-bytes", str(LAT_BYTES), "--acks", "-1", "--timeline", tl]
        h.log(f"[{time.monotonic() - self.t0:5.0f}s] latency_paced {system} {rate} msg/s "
              f"{secs:g} s")
        before = fsync_hist(server[1]) if server else None
        d = Driver(argv, secs + 60).wait()
        after = fsync_hist(server[1]) if server else None
        r = d.result or {}
        want = int(secs * rate)
        if d.rc != 0 or r.get("msgs") != want or r.get("errors") != 0:
            self.fail(f"latency_paced {system} {rate}",
                      f"exit {d.rc}, msgs {r.get('msgs')} of {want}, errors {r.get('errors')}: "
                      f"{d.err.decode(errors='replace').strip()[-300:]}")
            return None
        if rep == 0 and os.path.exists(tl):
            timelines[system] = tl
        out = dict(system=system, rate=rate, rep=rep, msgs=r["msgs"], p50_us=r["p50_us"],
                   p99_us=r["p99_us"], p999_us=r["p999_us"], max_us=r["max_us"],
                   config=r.get("config", ""))
        if before is not None:
            # The broker's own fdatasync calls during the run: how much of the tail is the disk.
            out["syncs"] = (max(after.values(), default=0) - max(before.values(), default=0))
            for k, p in (("fsync_p50_le_s", 0.5), ("fsync_p99_le_s", 0.99)):
                out[k] = hist_pct(before, after, p)
        return out

    def lat_chart(self, rate, timelines):
        series = []
        for system in self.lat_systems:
            if system not in timelines:
                continue
            worst = {}
            with open(timelines[system]) as f:
                for line in f:
                    ms, us = line.split()
                    w = int(float(ms) // 50)
                    worst[w] = max(worst.get(w, 0.0), float(us) / 1000)
            series.append((f"{system}: worst per 50 ms",
                           [((w + 1) * 0.05, v) for w, v in sorted(worst.items())]))
        chart = svg_chart(self.chart_path(f"latency-paced-{rate}"),
                          f"acks=-1 produce paced at {rate} msg/s, {LAT_BYTES} B, linger.ms=0",
                          "seconds", "latency ms", series)
        if chart:
            self.charts.append(chart)

    # ---- report ----

    def report(self):
        L = []
        w = L.append
        w(f"# Weir steady-state benchmark ({self.args.profile} profile), {self.stamp}")
        w("")
        hi = h.host_info()
        w(f"Host: {hi['host']}, {hi['cpu']}, {hi['cores']} cores, {hi['mem_gib']:.1f} GiB, Linux "
          f"{hi['kernel']}. Load average at the end: "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}.")
        w("")
        if getattr(self, "disk", None):
            d = self.disk
            w("## Sustained throughput")
            w("")
            w(f"Disk, same run (dd, 1 MiB blocks, O_DIRECT, {d['mb']} MiB): write "
              f"{d['write_mb_s']} MB/s, read {d['read_mb_s']} MB/s.")
            w("")
            w("| row | volume MB | publish MB/s | % of O_DIRECT write | tail-consume MB/s | "
              "max Dirty MB | max Writeback MB | min MemFree MB | MB/s over time |")
            w("|---|---|---|---|---|---|---|---|---|")
            for r in self.rows:
                if r["row"] == "sustained-catch-up":
                    w(f"| {r['row']} ({r['cold_mb']} MB cold, {r['disk_read_mb']} MB read from "
                      f"disk) | {r['volume_mb']} | - | "
                      f"{r['pct_of_odirect_read']}% of O_DIRECT read | {r['consume_mb_s']} | - | "
                      f"- | - | `{r['spark']}` |")
                else:
                    w(f"| {r['row']} | {r['volume_mb']} | {r['publish_mb_s']} | "
                      f"{r['pct_of_odirect']}% | {r['consume_mb_s']} | {r['dirty_mb_max']} | "
                      f"{r['writeback_mb_max']} | {r['memfree_mb_min']:.0f} | `{r['spark']}` |")
            w("")
        if getattr(self, "lat_runs", None):
            w("## Tail latency of paced acks=-1 produce (librdkafka, linger.ms=0, 100 B)")
            w("")
            f = self.floor
            w(f"Disk floor, same run: write+fdatasync of 170 B into a zero-filled file, "
              f"{f['n']} times: p50 {f['p50_us'] / 1000:.2f} ms, p99 {f['p99_us'] / 1000:.2f} ms. "
              "Weir's fdatasync calls during its runs (weir_fsync_duration_seconds, bucket "
              "bounds) are in the last columns.")
            w("")
            w("| rate msg/s | system | runs | p50 ms | p99 ms | p999 ms | max ms | syncs | "
              "sync p50 <= ms | sync p99 <= ms |")
            w("|---|---|---|---|---|---|---|---|---|---|")
            for rate in LAT_RATES:
                for system in self.lat_systems:
                    rs = [r for r in self.lat_runs if r["rate"] == rate and r["system"] == system]
                    if not rs:
                        continue

                    def m(k):
                        return statistics.median(r[k] for r in rs) / 1000
                    sy = ["-", "-", "-"]
                    if system != "mock" and all(r.get("fsync_p99_le_s") for r in rs):
                        sy = [str(int(statistics.median(r["syncs"] for r in rs))),
                              f"{statistics.median(r['fsync_p50_le_s'] for r in rs) * 1000:g}",
                              f"{statistics.median(r['fsync_p99_le_s'] for r in rs) * 1000:g}"]
                    w(f"| {rate} | {system} | {len(rs)} | {m('p50_us'):.2f} | {m('p99_us'):.2f} "
                      f"| {m('p999_us'):.2f} | {m('max_us'):.2f} | {' | '.join(sy)} |")
            w("")
            for rate in LAT_RATES:
                for system in self.lat_systems[:-1]:
                    ratios = []
                    for rep in range(self.p["lat_reps"]):
                        a = [r for r in self.lat_runs if (r["rate"], r["rep"], r["system"]) ==
                             (rate, rep, system)]
                        b = [r for r in self.lat_runs if (r["rate"], r["rep"], r["system"]) ==
                             (rate, rep, "mock")]
                        if a and b:
                            ratios.append(a[0]["p99_us"] / b[0]["p99_us"])
                    if ratios:
                        med = statistics.median(ratios)
                        w(f"- {rate} msg/s: {system} p99 / mock p99 = {med:.2f} (run by run: "
                          f"{', '.join(f'{x:.2f}' for x in ratios)}); target <= 2: "
                          f"{'met' if med <= 2 else 'NOT met'}")
            w("")
        if self.charts:
            w("Charts: " + ", ".join(os.path.basename(c) for c in self.charts))
            w("")
        for n in self.notes:
            w(f"- {n}")
        for what, detail in self.failures:
            w(f"- FAILED {what}: {detail}")
        path = os.path.join(self.out_dir, f"{self.stamp}-steady.md")
        with open(path, "w") as f:
            f.write("\n".join(L) + "\n")
        with open(os.path.join(self.out_dir, "steady.json"), "w") as f:
            json.dump(dict(profile=self.args.profile, disk=getattr(self, "disk", None),
                           rows=self.rows, latency=getattr(self, "lat_runs", []),
                           sync_floor=getattr(self, "floor", None),
                           failures=self.failures), f, indent=1)
            f.write("\n")
        print("\n".join(L))
        h.log(f"report: {path}")


def main(args, build, out_dir, work):
    """Runs the profiles args asks for; returns the exit status (0: nothing failed)."""
    weir_bin = args.weir_bin or os.path.join(build, "weir")
    bench_weir = os.path.join(build, "bench", "bench_weir")
    # Copies, so a rebuild of build/ during the run cannot swap a binary under it.
    os.makedirs(os.path.join(work, "bin"), exist_ok=True)
    for src in (weir_bin, bench_weir):
        shutil.copy2(src, os.path.join(work, "bin", os.path.basename(src)))
    st = Steady(args, build, out_dir, work, os.path.join(work, "bin", os.path.basename(weir_bin)),
                os.path.join(work, "bin", "bench_weir"))
    ok = False
    try:
        if args.sustained:
            st.sustained()
        if args.tail_latency:
            st.tail_latency()
        ok = True
    except KeyboardInterrupt:
        h.log("interrupted: stopping servers")
    except RuntimeError as e:
        st.fail("steady", str(e))
    finally:
        h.PROCS.stop_all()
    st.report()
    return 0 if ok and not st.failures else 1
