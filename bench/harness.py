#!/usr/bin/python3
"""The `make bench` runner: Weir side by side with Redis Streams, NATS JetStream and RabbitMQ.

bench/run.sh calls this. It measures the machine's limits, then, for each repetition and each
system in turn (the order rotates every repetition), starts the server on 127.0.0.1 with a fresh
data directory on private ports, runs every workload against it through that system's own C
client (bench/bench_weir.c on librdkafka, bench/peers/bench_{redis,nats,rabbitmq}.c), samples
the server's CPU time and peak RSS from /proc around each workload, stops the server by its pid
and deletes its data. Then it aggregates the runs (median, min-max, Weir/peer ratio run by
run), writes bench/results/<date>-<host>.md, one PNG chart per workload (gnuplot) and
bench/results/latest.json, and prints the table.

Invariants: every process it starts is recorded at once and stopped by its pid on every exit
path (normal, error, Ctrl-C); every driver run has a deadline of its own and a hard timeout here;
nothing listens anywhere but 127.0.0.1.

    bench/run.sh [--quick] [--smoke] [--systems weir,redis,nats,rabbitmq] [--reps N]
                 [--out DIR] [--build DIR] [--schema-only] [--eventstore-only]
                 [--sustained] [--tail-latency] [--steady] [--volume-mb MB]

QUICK=1 in the environment means --quick. --sustained, --tail-latency (both: --steady) run the
steady-state profiles of bench/steady.py instead of the comparison (issue 17, docs/bench.md).
--schema-only runs only the schema validation rows (produce with weir.value.schema.validation
none, id, full) and prints them; --eventstore-only the event store rows (plain, key-indexed
and conditional appends, the key index's memory and rebuild time). --smoke runs every workload
against Weir alone with
small counts and checks counts, not speed (tests/integration/test_bench_smoke.sh).
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

WORKLOADS = ["durable_publish", "fast_publish", "consume", "latency_ack", "latency_e2e"]
# Weir-only rows outside the five compared workloads (not in latest.json).
EXTRA_WORKLOADS = ["latency_ack_raw", "idempotent_publish", "group", "rebalance", "txn_publish",
                   "txn_commit", "txn_consume"]
# Transactions (issue 13), Weir and Kafka side by side, paired by config (not in latest.json):
# txn_publish (msg/s; "idempotent, no transaction" is the baseline), txn_commit (the
# commit_transaction latency of the same runs), txn_consume (a transactional backlog read with
# read_committed and with read_uncommitted).
TXN_WORKLOADS = {"txn_publish", "txn_commit", "txn_consume"}
TXN_SIZES = [1, 10, 1000]
SYSTEMS = ["weir", "redis", "nats", "rabbitmq", "kafka"]
# Apache Kafka 4.x (the jars `make deps` pinned in tests/java/pom.xml), driven by the same
# librdkafka driver as Weir, plus both brokers driven by Kafka's own perf-test tools.
KAFKA_BIN = os.path.join(TOP, "tests", "compat", "bin")
THROUGHPUT = {"durable_publish", "fast_publish", "consume"}

# Run sizes per profile. count: messages per throughput run (the fast-publish run of each size
# and partition count is the backlog the consume run reads back); cap_s: deadline of one
# throughput run; lat_s / e2e_s: length of a latency run; rate: the fixed e2e rate.
# budget_s bounds the whole run; others_s of it is kept for the other bench programs (a
# repetition that would eat into it is not started).
PROFILES = {
    "default": dict(reps=3, count=1_000_000, cap_s=5.0, lat_s=1.0, e2e_s=1.5, rate=10_000,
                    sizes=[100, 1024], weir_partitions=[1, 6], conns=1000, group_count=1_000_000,
                    rebalance_rate=20_000, rebalance_s=20.0, budget_s=705, others_s=165, txn_max=20_000),
    "quick": dict(reps=1, count=200_000, cap_s=3.0, lat_s=0.7, e2e_s=1.0, rate=10_000,
                  sizes=[100, 1024], weir_partitions=[1, 6], conns=1000, group_count=200_000,
                  rebalance_rate=20_000, rebalance_s=15.0, budget_s=112, others_s=15, txn_max=5_000),
    "smoke": dict(reps=1, count=20_000, cap_s=10.0, lat_s=0.5, e2e_s=1.0, rate=2_000,
                  sizes=[100], weir_partitions=[1, 6], conns=50, group_count=20_000,
                  rebalance_rate=2_000, rebalance_s=20.0, budget_s=240, others_s=0, txn_max=100),
}

# Arguments of the other engineers' bench programs (bench/bench_<name>.c), by profile.
OTHER_ARGS = {
    "bench_storage": lambda scratch, quick: [scratch] + (["--quick"] if quick else []),
    "bench_net": lambda scratch, quick: ["1"] if quick else [],
    # issue 16's rows (bench/*_cost.sh): COUNT MSG_BYTES PARTITIONS REPS [HANDSHAKE_SECONDS]
    "acl_cost": lambda scratch, quick: ["100000", "1024", "4", "1"] if quick
    else ["500000", "1024", "4", "3"],
    # security_cost's peers (Kafka's Java tools, Apache Kafka) take minutes: by hand only
    "security_cost": lambda scratch, quick: ["100000", "1024", "4", "1", "2", "0"] if quick
    else ["500000", "1024", "4", "3", "5", "0"],
    # issue 18's redrive rate: COUNT MSG_BYTES REPS
    "redrive_cost": lambda scratch, quick: ["50000", "100", "1"] if quick
    else ["200000", "100", "3"],
    # issue 17's zero-copy fetch against the copy: COUNT MSG_BYTES PARTITIONS REPS
    "zero_copy_cost": lambda scratch, quick: ["200000", "1024", "4", "1"] if quick
    else ["1000000", "1024", "4", "3"],
}


def log(msg):
    print(msg, flush=True)


# ---- processes --------------------------------------------------------------------------------

class Procs:
    """Every process the runner starts, so each can be stopped by its pid whatever happens."""

    def __init__(self):
        self.live = []

    def spawn(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.live.append(p)
        return p

    def stop(self, p, grace_s=10.0):
        """SIGTERM, wait up to grace_s, then SIGKILL; returns the exit status."""
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in reversed(list(self.live)):
            self.stop(p, grace_s=5.0)


PROCS = Procs()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout_s, proc=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def descendants(pid):
    out = []
    for c in children(pid):
        out.append(c)
        out.extend(descendants(c))
    return out


class ProcStat:
    """CPU time and memory of a server process from /proc."""

    def __init__(self, pid):
        self.pid = pid

    def cpu_s(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
        except (OSError, IndexError, ValueError):
            return None

    def status_kb(self, key):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def rss_mb(self):
        kb = self.status_kb("VmRSS")
        return kb / 1024 if kb is not None else None

    def peak_mb(self):
        kb = self.status_kb("VmHWM")
        return kb / 1024 if kb is not None else None

    def reset_peak(self):
        """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False


# ---- servers ----------------------------------------------------------------------------------

class Server:
    name = "?"
    label = ""

    def __init__(self, root, logdir):
        self.root = root
        self.logdir = logdir
        self.proc = None
        self.addr = None
        self.stat_pid = None

    def log_file(self, what):
        return open(os.path.join(self.logdir, f"{self.name}-{what}.log"), "ab")

    def stop(self):
        if self.proc is not None:
            PROCS.stop(self.proc, grace_s=20.0)
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)


class WeirServer(Server):
    name = "weir"

    def __init__(self, root, logdir, weir_bin, sets):
        super().__init__(root, logdir)
        self.bin = weir_bin
        self.sets = sets

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        cmd = [self.bin, "serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
               "--data-dir", os.path.join(self.root, "data")]
        for kv in self.sets:
            cmd += ["--set", kv]
        self.proc = PROCS.spawn(cmd, stdout=subprocess.PIPE, stderr=self.log_file("server"),
                                stdin=subprocess.DEVNULL)
        line = [None]

        self.lines = []  # what it printed after the first line ("http on ...")

        def first_line():
            line[0] = self.proc.stdout.readline().decode(errors="replace").strip()
            for more in self.proc.stdout:  # keep draining so the broker never blocks on stdout
                if len(self.lines) < 16:
                    self.lines.append(more.decode(errors="replace").strip())

        threading.Thread(target=first_line, daemon=True).start()
        deadline = time.monotonic() + 15
        while line[0] is None and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.02)
        if not line[0] or not line[0].startswith("listening on "):
            raise RuntimeError(f"weir serve did not print 'listening on' (got {line[0]!r}); "
                               f"see {self.logdir}/weir-server.log")
        self.addr = line[0][len("listening on "):]
        self.stat_pid = self.proc.pid
        self.label = "weir serve"

    @staticmethod
    def version(weir_bin):
        try:
            out = subprocess.run([weir_bin, "--version"], capture_output=True, timeout=5)
            v = out.stdout.decode().strip() or out.stderr.decode().strip()
            if out.returncode == 0 and v:
                return v.splitlines()[0]
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            rev = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                                 capture_output=True, timeout=5).stdout.decode().strip()
            dirty = subprocess.run(["git", "-C", TOP, "status", "--porcelain", "--", "src"],
                                   capture_output=True, timeout=10).stdout.decode().strip()
            return f"weir (git {rev}{' + uncommitted changes' if dirty else ''})"
        except (OSError, subprocess.TimeoutExpired):
            return "weir (unknown revision)"


class RedisServer(Server):
    name = "redis"
    MODES = {
        "noaof": (["--appendonly", "no"], "no persistence"),
        "everysec": (["--appendonly", "yes", "--appendfsync", "everysec"], "AOF, fsync every second"),
        "always": (["--appendonly", "yes", "--appendfsync", "always"], "AOF, fsync always"),
    }

    def __init__(self, root, logdir, mode):
        super().__init__(root, logdir)
        self.mode = mode
        self.label = self.MODES[mode][1]

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        port = free_port()
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", self.root,
               "--save", "", "--daemonize", "no", "--protected-mode", "no",
               "--logfile", "", "--maxmemory", "0"] + self.MODES[self.mode][0]
        self.proc = PROCS.spawn(cmd, stdout=self.log_file("server"), stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        if not wait_port(port, 10, self.proc):
            raise RuntimeError("redis-server did not start")
        self.addr = f"127.0.0.1:{port}"
        self.stat_pid = self.proc.pid

    @staticmethod
    def version():
        return cmd_first_line(["redis-server", "--version"])


class NatsServer(Server):
    name = "nats"
    label = "JetStream, file storage"

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        port = free_port()
        cmd = ["nats-server", "-a", "127.0.0.1", "-p", str(port), "-js",
               "-sd", os.path.join(self.root, "js")]
        self.proc = PROCS.spawn(cmd, stdout=self.log_file("server"), stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        if not wait_port(port, 10, self.proc):
            raise RuntimeError("nats-server did not start")
        self.addr = f"127.0.0.1:{port}"
        self.stat_pid = self.proc.pid

    @staticmethod
    def version():
        return cmd_first_line(["nats-server", "--version"])


class RabbitServer(Server):
    """rabbitmq-server with its own epmd, node name, ports, config and data under root."""
    name = "rabbitmq"
    label = "AMQP 0-9-1"
    SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"

    def __init__(self, root, logdir):
        super().__init__(root, logdir)
        self.epmd = None

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        amqp, dist, epmd_port = free_port(), free_port(), free_port()
        with open(os.path.join(self.root, "rabbitmq.conf"), "w") as f:
            f.write(f"listeners.tcp.default = 127.0.0.1:{amqp}\nloopback_users = none\n"
                    "disk_free_limit.absolute = 50MB\n")
        with open(os.path.join(self.root, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        env = dict(os.environ)
        env.update({
            "HOME": self.root,
            "RABBITMQ_NODENAME": f"weirbench{amqp}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp),
            "RABBITMQ_DIST_PORT": str(dist),
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": os.path.join(self.root, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.root, "log"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.root, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(self.root, "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": os.path.join(self.root, "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.root, "enabled_plugins"),
            "RABBITMQ_PID_FILE": os.path.join(self.root, "pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-start_epmd false",
        })
        # Our own epmd in the foreground, so it is our child and is stopped by its pid (a
        # daemonised epmd would outlive the run).
        self.epmd = PROCS.spawn(["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"],
                                stdout=self.log_file("epmd"), stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        wait_port(epmd_port, 5, self.epmd)
        self.proc = PROCS.spawn([self.SCRIPT], stdout=self.log_file("server"),
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        if not wait_port(amqp, 60, self.proc):
            raise RuntimeError("rabbitmq-server did not open its AMQP port within 60 s")
        self.addr = f"127.0.0.1:{amqp}"
        beams = [p for p in descendants(self.proc.pid) if proc_comm(p) == "beam.smp"]
        self.stat_pid = beams[0] if beams else self.proc.pid

    def stop(self):
        # The script forwards SIGTERM to the Erlang VM and waits for it; anything of the VM left
        # after that (a stuck shutdown) is killed by pid.
        if self.proc is not None:
            tree = descendants(self.proc.pid)
            PROCS.stop(self.proc, grace_s=30.0)
            self.proc = None
            for pid in tree:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.epmd is not None:
            PROCS.stop(self.epmd)
            self.epmd = None
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def version():
        v = dpkg_version("rabbitmq-server")
        e = dpkg_version("erlang-base")
        return f"RabbitMQ {v} (Erlang {e})"


class KafkaServer(Server):
    """Apache Kafka 4.x, single node KRaft (broker + controller), from the pinned jars, through
    tests/compat/lib/kafka_oracle.sh (loopback, free ports, its own data dir), with the JIT it
    ships with and a 2 GiB heap."""
    name = "kafka"

    def start(self):
        os.makedirs(self.root, exist_ok=True)
        env = dict(os.environ, WEIR_KAFKA_JIT="full", WEIR_KAFKA_HEAP="2g")
        cmd = [os.path.join(TOP, "tests", "compat", "lib", "kafka_oracle.sh"), "--dir",
               os.path.join(self.root, "k"), "--max-seconds", "3600"]
        self.proc = PROCS.spawn(cmd, stdout=subprocess.PIPE, stderr=self.log_file("server"),
                                stdin=subprocess.DEVNULL, env=env)
        line = self.proc.stdout.readline().decode(errors="replace").strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"Apache Kafka did not start (got {line!r}); see "
                               f"{self.logdir}/kafka-server.log")
        self.addr = line[len("listening on "):]
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        # CPU and memory are the JVM's, a child of the oracle script.
        kids = [c for c in descendants(self.proc.pid) if proc_comm(c) == "java"]
        self.stat_pid = kids[0] if kids else None
        self.label = "Apache Kafka 4.4.0 (KRaft, one node)"

    @staticmethod
    def version():
        try:
            with open(os.path.join(TOP, "tests", "java", "pom.xml")) as f:
                for line in f:
                    if "<kafka.version>" in line:
                        return "Apache Kafka " + line.split(">")[1].split("<")[0]
        except OSError:
            pass
        return "Apache Kafka (unknown version)"


def machine_busy_s():
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is already inside user)
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def children_cpu_s():
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def kafka_api_keys(addr):
    """The API keys a Kafka-protocol broker advertises (ApiVersions v0), or an empty set."""
    import struct
    host, port = addr.rsplit(":", 1)
    req = struct.pack(">hhih", 18, 0, 1, 5) + b"bench"
    try:
        with socket.create_connection((host, int(port)), timeout=5) as c:
            c.sendall(struct.pack(">i", len(req)) + req)
            buf = b""
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
                chunk = c.recv(65536)
                if not chunk:
                    return set()
                buf += chunk
    except OSError:
        return set()
    body = buf[4:]
    if len(body) < 10 or struct.unpack(">h", body[4:6])[0] != 0:
        return set()
    n = struct.unpack(">i", body[6:10])[0]
    keys = set()
    for i in range(max(0, min(n, (len(body) - 10) // 6))):
        keys.add(struct.unpack(">h", body[10 + 6 * i:12 + 6 * i])[0])
    return keys


API_INIT_PRODUCER_ID, API_JOIN_GROUP, API_END_TXN = 22, 11, 26


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cmd_first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=10)
        return (out.stdout.decode() or out.stderr.decode()).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


def dpkg_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                             timeout=10)
        return out.stdout.decode().strip() or "not installed"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


# ---- runs -------------------------------------------------------------------------------------

class Runner:
    def __init__(self, args, prof, build, out_dir, work):
        self.args = args
        self.p = prof
        self.build = build
        self.out_dir = out_dir
        self.work = work
        # Logs outlive the run (the scratch directory does not): build/bench-logs/<profile>/.
        self.logdir = (os.path.join(out_dir, "logs") if args.smoke else
                       os.path.join(build, "bench-logs", ("schema-" if args.schema_only else
                                                          "eventstore-" if args.eventstore_only
                                                          else "") + args.profile))
        shutil.rmtree(self.logdir, ignore_errors=True)
        os.makedirs(self.logdir, exist_ok=True)
        self.runs = []       # every run: dict with the RESULT fields and our own
        self.failures = []   # (what, detail)
        self.notes = []
        self.extra_outputs = []  # (program, text) of other bench programs
        self.t0 = time.monotonic()
        self.raw = open(os.path.join(out_dir if args.smoke else self.logdir, "runs.jsonl"), "w")

    def elapsed(self):
        return time.monotonic() - self.t0

    def freeze_binaries(self):
        """Copies the broker and the drivers into the scratch directory and runs the copies:
        other people rebuilding build/ in the shared tree during a run must not swap the broker
        between repetitions or catch a driver half written."""
        self.bin = os.path.join(self.work, "bin")
        os.makedirs(self.bin, exist_ok=True)
        srcs = {"weir": self.args.weir_bin or os.path.join(self.build, "weir"),
                "bench_weir": os.path.join(self.build, "bench", "bench_weir"),
                "bench_limits": os.path.join(self.build, "bench", "bench_limits")}
        for s in self.args.systems:
            if s not in ("weir", "kafka"):
                srcs[f"bench_{s}"] = os.path.join(self.build, "bench", "peers", f"bench_{s}")
        # The broker with its metrics compiled out (-DWEIR_METRICS_OFF), when `make bench` built it.
        nometrics = os.path.join(self.build, "nometrics", "weir")
        if os.path.exists(nometrics) and not self.args.weir_bin:
            srcs["weir-nometrics"] = nometrics
        for name, src in srcs.items():
            dst = os.path.join(self.bin, name)
            for _ in range(60):  # a program being relinked is briefly not executable
                st = os.stat(src)
                time.sleep(0.2)
                if os.access(src, os.X_OK) and os.stat(src).st_mtime_ns == st.st_mtime_ns:
                    shutil.copy2(src, dst)
                    if os.access(dst, os.X_OK) and os.stat(src).st_mtime_ns == st.st_mtime_ns:
                        break
            else:
                raise RuntimeError(f"{src} did not settle as an executable file")
        self.weir_bin = os.path.join(self.bin, "weir")

    def driver(self, system):
        return os.path.join(self.bin, "bench_weir" if system == "kafka" else f"bench_{system}")

    def run(self, system, workload, argv, timeout_s, row=None, server=None, stdin_hook=None):
        """Runs one driver; returns its RESULT dict (plus our fields) or None on failure."""
        cmd = [self.driver(system), argv[0]] + [str(x) for x in argv[1:]]
        stat = ProcStat(server.stat_pid) if server is not None and server.stat_pid else None
        busy0, kids0 = machine_busy_s(), children_cpu_s()
        cpu0 = stat.cpu_s() if stat else None
        peak_ok = stat.reset_peak() if stat else False
        t0 = time.monotonic()
        errlog = os.path.join(self.logdir, f"{system}-{workload}.stderr")
        with open(errlog, "ab") as err:
            err.write(f"\n$ {' '.join(cmd)}\n".encode())
            err.flush()
            p = PROCS.spawn(cmd, stdout=subprocess.PIPE, stderr=err,
                            stdin=subprocess.PIPE if stdin_hook else subprocess.DEVNULL)
            try:
                if stdin_hook:
                    stdin_hook(p)
                out, _ = p.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                PROCS.stop(p, grace_s=2)
                out = p.stdout.read() if p.stdout else b""
                self.fail(f"{system} {workload} {row or ''}", f"timed out after {timeout_s:.0f} s")
                return None
            finally:
                if p in PROCS.live:
                    PROCS.live.remove(p)
        wall = time.monotonic() - t0
        res = None
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("RESULT "):
                try:
                    res = json.loads(line[7:])
                except ValueError:
                    pass
        if res is None or p.returncode != 0:
            tail = open(errlog, "rb").read().decode(errors="replace").strip().splitlines()[-6:]
            detail = f"exit {p.returncode}" + (f", result {json.dumps(res)}" if res else "")
            self.fail(f"{system} {workload} {row or ''}", detail + "\n" + "\n".join(tail))
            if res is None:
                return None
            res["failed"] = True
        res["system"] = system
        res["wall_s"] = wall
        # CPU the rest of the machine used meanwhile (other people's builds and tests share
        # these cores): all busy time minus our server's and our driver's.
        other = machine_busy_s() - busy0 - (children_cpu_s() - kids0)
        if stat:
            cpu1 = stat.cpu_s()
            if cpu0 is not None and cpu1 is not None:
                res["server_cpu_s"] = cpu1 - cpu0
                other -= cpu1 - cpu0
            if peak_ok:
                res["server_peak_mb"] = stat.peak_mb()
            res["server_rss_mb"] = stat.rss_mb()
        res["others_cores"] = max(other, 0.0) / wall if wall > 0 else 0.0
        return res

    def fail(self, what, detail):
        self.failures.append((what, detail))
        log(f"  FAILED {what}: {detail.splitlines()[0] if detail else ''}")

    def record(self, rep, workload, system, config, msg_bytes, partitions, cls, res):
        """Stores one measured run as a row sample."""
        if res is None:
            return
        r = dict(res)
        r.update(rep=rep, row_workload=workload, row_system=system, row_config=config,
                 row_bytes=msg_bytes, row_partitions=partitions, cls=cls)
        self.runs.append(r)
        self.raw.write(json.dumps(r) + "\n")
        self.raw.flush()
        if workload in THROUGHPUT or workload in ("group", "idempotent_publish", "txn_publish",
                                                  "txn_consume"):
            shown = f"{r['msgs_per_s']:>12,.0f} msg/s {r['mb_per_s']:8.1f} MB/s"
        elif "p99_us" in r:
            shown = (f"p50 {r['p50_us']:8.1f} p99 {r['p99_us']:8.1f} "
                     f"p99.9 {r['p999_us']:8.1f} us")
        else:
            shown = ""
        cap = " (capped)" if r.get("capped") else ""
        fail = " FAILED" if r.get("failed") else ""
        log(f"[{self.elapsed():5.0f}s] rep {rep} {system:8} {workload:16} {msg_bytes:5} B "
            f"p{partitions} {config[:34]:34} {shown}{cap}{fail}")

    # ---- machine limits ----

    def limits(self):
        d = os.path.join(self.work, "limits")
        os.makedirs(d, exist_ok=True)
        prog = os.path.join(self.bin, "bench_limits")
        secs = {"default": 3.0, "quick": 1.5, "smoke": 0.3}[self.args.profile]
        mib = 64 if self.args.smoke else 1024
        out = {}
        for w, extra in (("write_nosync", ["--mib", str(mib)]),
                         ("write_fdatasync", ["--mib", str(mib // 2)]), ("loopback", []),
                         ("rtt", ["--msg-bytes", "100"]), ("memory", ["--mib", str(mib * 2)])):
            argv = [prog, w] + (["--seconds", str(secs)] if w != "memory" else []) + (
                ["--dir", d] if w.startswith("write") else [])
            try:
                cp = subprocess.run(argv + extra, capture_output=True, timeout=secs + 60)
            except subprocess.TimeoutExpired:
                self.fail(f"limits {w}", "timed out")
                continue
            for line in cp.stdout.decode().splitlines():
                if line.startswith("RESULT "):
                    out[w] = json.loads(line[7:])
            if w not in out:
                self.fail(f"limits {w}", cp.stderr.decode()[-300:])
        shutil.rmtree(d, ignore_errors=True)
        self.limits_result = out
        if out:
            log(f"[{self.elapsed():5.0f}s] machine limits: " + ", ".join(
                f"{k} {v['mb_per_s']:.0f} MB/s" if k != "rtt" else
                f"rtt p50 {v['p50_us']:.1f} p99 {v['p99_us']:.1f} us" for k, v in out.items()))
        return out

    # ---- per-system blocks ----

    def cap(self):
        return self.p["cap_s"]

    def hard(self, secs):
        return secs + 45

    def weir_block(self, rep):
        p = self.p
        srv = WeirServer(os.path.join(self.work, f"weir-{rep}"), self.logdir,
                         self.weir_bin, ["group.initial.rebalance.delay.ms=300"])
        srv.start()
        try:
            st = ProcStat(srv.stat_pid)
            self.weir_apis = kafka_api_keys(srv.addr)
            time.sleep(0.5)
            self.weir_idle.append(dict(rep=rep, idle_rss_mb=st.rss_mb()))
            self.weir_idle_conns(rep, srv, st)
            # Latency first, on a quiet broker, as for every system: the throughput runs leave
            # gigabytes of dirty pages whose writeback would land in the latency tail.
            for size in p["sizes"]:
                self.weir_latency(rep, srv, size)
            for size in p["sizes"]:
                for parts in p["weir_partitions"]:
                    self.weir_throughput(rep, srv, size, parts)
            self.weir_groups(rep, srv)
            self.txn_rows(rep, "weir", srv)
            if "kafka" in self.args.systems:
                self.perf_tests(rep, "weir", srv)
        finally:
            srv.stop()

    def weir_latency(self, rep, srv, size):
        p = self.p
        for acks, cls in ((1, "fast"), (-1, "durable")):
            topic = f"la{acks + 1}-{size}-r{rep}"
            res = self.run("weir", "latency_ack",
                           ["latency_ack", "--addr", srv.addr, "--topic", topic,
                            "--count", 10_000_000, "--msg-bytes", size, "--acks", acks,
                            "--seconds", p["lat_s"]],
                           self.hard(p["lat_s"]), server=srv)
            self.record(rep, "latency_ack", "weir", f"acks={acks}, linger.ms=0", size, 1, cls, res)
            # The broker's own share: the same round trip from a synchronous client on a raw
            # socket, as hiredis is for Redis (no client-library threads in the path).
            res = self.run("weir", "latency_ack_raw",
                           ["latency_ack_raw", "--addr", srv.addr, "--topic", topic + "-raw",
                            "--count", 10_000_000, "--msg-bytes", size, "--acks", acks,
                            "--seconds", p["lat_s"]],
                           self.hard(p["lat_s"]), server=srv)
            self.record(rep, "latency_ack_raw", "weir", f"acks={acks}, raw synchronous client",
                        size, 1, cls, res)
        for acks, cls in ((1, "fast"), (-1, "durable")):
            for parts in p["weir_partitions"]:
                if acks == -1 and parts != 1:
                    continue
                topic = f"le{acks + 1}-{size}-p{parts}-r{rep}"
                res = self.run("weir", "latency_e2e",
                               ["latency_e2e", "--addr", srv.addr, "--topic", topic,
                                "--partitions", parts, "--rate", p["rate"],
                                "--msg-bytes", size, "--acks", acks, "--seconds", p["e2e_s"]],
                               self.hard(p["e2e_s"]), server=srv)
                self.record(rep, "latency_e2e", "weir",
                            f"acks={acks}, linger.ms=0, {p['rate']} msg/s", size, parts, cls, res)

    def weir_idle_conns(self, rep, srv, st):
        n = self.p["conns"]
        sample = {}

        def hook(proc):
            # Wait (bounded) for "READY n", sample the broker, then return: communicate()
            # closes the driver's stdin, which tells it to let go of its connections.
            import select
            if select.select([proc.stdout], [], [], 40)[0]:
                line = proc.stdout.readline().decode().strip()
                if line.startswith("READY"):
                    time.sleep(0.5)
                    sample["rss_mb"] = st.rss_mb()
                    sample["open"] = int(line.split()[1])

        res = self.run("weir", "idle_conns", ["idle_conns", "--addr", srv.addr, "--conns", n,
                                              "--seconds", 30], 60, server=srv, stdin_hook=hook)
        if res is not None and "rss_mb" in sample:
            idle = self.weir_idle[-1]
            idle["conns"] = sample["open"]
            idle["conns_rss_mb"] = sample["rss_mb"]
            idle["still_open"] = res.get("still_open")
            if idle["idle_rss_mb"] is not None and sample["open"]:
                idle["kib_per_conn"] = ((sample["rss_mb"] - idle["idle_rss_mb"]) * 1024 /
                                        sample["open"])
            log(f"[{self.elapsed():5.0f}s] rep {rep} weir     idle RSS {idle['idle_rss_mb']:.1f} MB,"
                f" with {sample['open']} connections {sample['rss_mb']:.1f} MB")
            self.runs.append(dict(res, rep=rep, row_workload="idle_conns", row_system="weir",
                                  row_config="", row_bytes=0, row_partitions=0, cls="",
                                  system="weir"))
            self.raw.write(json.dumps(self.runs[-1]) + "\n")

    def weir_throughput(self, rep, srv, size, parts):
        p = self.p
        base = ["--addr", srv.addr, "--partitions", parts, "--msg-bytes", size,
                "--seconds", self.cap()]
        d_topic = f"d-{size}-p{parts}-r{rep}"
        res = self.run("weir", "durable_publish",
                       ["publish", "--topic", d_topic, "--count", p["count"], "--acks", -1] + base,
                       self.hard(self.cap()), server=srv)
        self.record(rep, "durable_publish", "weir", "acks=-1, linger.ms=10", size, parts,
                    "durable", res)
        self.weir_delete(srv, d_topic)
        f_topic = f"f-{size}-p{parts}-r{rep}"
        res = self.run("weir", "fast_publish",
                       ["publish", "--topic", f_topic, "--count", p["count"], "--acks", 1] + base,
                       self.hard(self.cap()), server=srv)
        self.record(rep, "fast_publish", "weir", "acks=1, linger.ms=10", size, parts, "fast", res)
        backlog = res["msgs"] if res and not res.get("failed") else 0
        if backlog:
            self.backlogs[(size, parts)] = (f_topic, backlog)
            res = self.run("weir", "consume",
                           ["consume", "--topic", f_topic, "--count", backlog] + base,
                           self.hard(self.cap()), server=srv)
            self.record(rep, "consume", "weir", "fetch 4 MiB/partition", size, parts, "fast", res)
        if (size, parts) != (100, max(p["weir_partitions"])):  # the group runs read that one
            self.weir_delete(srv, f_topic)
        if size == 100 and self.supports(API_INIT_PRODUCER_ID, "InitProducerId",
                                         "idempotent_publish", rep):
            i_topic = f"i-{size}-p{parts}-r{rep}"
            res = self.run("weir", "idempotent_publish",
                           ["publish", "--topic", i_topic, "--count", p["count"], "--acks", -1,
                            "--idempotent", 1] + base, self.hard(self.cap()), server=srv)
            self.record(rep, "idempotent_publish", "weir", "acks=-1, enable.idempotence=true",
                        size, parts, "durable", res)
            # Control: idempotence makes librdkafka keep at most 5 requests in flight; the same
            # cap without idempotence tells the client's share of the cost from the broker's.
            res = self.run("weir", "idempotent_publish",
                           ["publish", "--topic", i_topic + "-c", "--count", p["count"],
                            "--acks", -1, "--max-in-flight", 5] + base, self.hard(self.cap()),
                           server=srv)
            self.record(rep, "idempotent_publish", "weir", "acks=-1, plain, max.in.flight=5",
                        size, parts, "durable", res)
            self.weir_delete(srv, i_topic, i_topic + "-c")

    def weir_delete(self, srv, *topics):
        """Deletes topics whose rows are done. One broker serves a whole repetition; without
        this the later rows would write while the page cache still holds every earlier row's
        gigabyte, into pages never used before, which costs several times more on a VM (see
        the first-touch limit) and is no property of the row itself."""
        cmd = [self.weir_bin, "topic", "delete", *topics, "--yes", "-b", srv.addr]
        try:
            cp = subprocess.run(cmd, capture_output=True, timeout=60)
            ok = cp.returncode == 0
            why = cp.stderr.decode()[-300:]
        except subprocess.TimeoutExpired:
            ok, why = False, "timed out"
        if not ok:
            self.fail(f"weir topic delete {' '.join(topics)}", why)

    def supports(self, key, name, workload, rep):
        """False (and a skip record) when the broker does not advertise the API a workload
        needs yet, so the run says so instead of failing on a missing feature."""
        if key in self.weir_apis:
            return True
        why = f"the broker does not advertise {name} (API key {key})"
        note = f"{workload} skipped: {why}"
        if note not in self.notes:
            self.notes.append(note)
            log(f"[{self.elapsed():5.0f}s] {note}")
        self.raw.write(json.dumps(dict(rep=rep, row_workload=workload, row_system="weir",
                                       skipped=why)) + "\n")
        return False

    def weir_groups(self, rep, srv):
        p = self.p
        has_groups = self.supports(API_JOIN_GROUP, "JoinGroup", "group", rep)
        has_groups = self.supports(API_JOIN_GROUP, "JoinGroup", "rebalance", rep) and has_groups
        if not has_groups:
            return
        parts = max(p["weir_partitions"])
        if (100, parts) not in self.backlogs:
            self.notes.append("group benchmark skipped: no 100-byte backlog on "
                              f"{parts} partitions")
            return
        topic, backlog = self.backlogs[(100, parts)]
        for members in (1, 3):
            res = self.run("weir", "group",
                           ["group", "--addr", srv.addr, "--topic", topic, "--partitions", parts,
                            "--msg-bytes", 100, "--count", min(backlog, p["group_count"]),
                            "--members", members, "--group", f"g{members}-r{rep}",
                            "--seconds", self.cap() + 10],
                           self.hard(self.cap() + 10), server=srv)
            self.record(rep, "group", "weir", f"{members} member(s)", 100, parts, "fast", res)
        res = self.run("weir", "rebalance",
                       ["rebalance", "--addr", srv.addr, "--topic", f"rb-r{rep}",
                        "--partitions", parts, "--msg-bytes", 100, "--members", 3,
                        "--rate", p["rebalance_rate"], "--group", f"rb-r{rep}",
                        "--seconds", p["rebalance_s"]],
                       self.hard(p["rebalance_s"]), server=srv)
        self.record(rep, "rebalance", "weir", "3 members, 1 leaves", 100, parts, "fast", res)

    def txn_rows(self, rep, system, srv):
        """Transactions (issue 13), the same runs against Weir and Kafka: the idempotent
        producer (the baseline), the transactional producer with 1, 10 and 1000 messages per
        transaction (msg/s, and the commit_transaction latency of the same run), then the
        1000-per-transaction backlog read with read_committed and with read_uncommitted.
        100-byte messages, one partition, acks=-1 (Kafka's topics with flush.messages=1, as
        every durable row). Each run stops at half the throughput deadline: a transaction per
        message is slow on any broker."""
        p = self.p
        if system == "weir" and not self.supports(API_END_TXN, "EndTxn", "txn_publish", rep):
            return
        size, parts = 100, 1
        cap = max(1.0, self.cap() / 2)
        base = ["--addr", srv.addr, "--partitions", parts, "--msg-bytes", size, "--seconds", cap]

        def topic(name):
            t = f"{name}-r{rep}"
            if system == "kafka":
                self.kafka_create(srv, t, parts, True)
            return t

        t = topic("tx-idem")
        res = self.run(system, "txn_publish",
                       ["publish", "--topic", t, "--count", p["count"], "--acks", -1,
                        "--idempotent", 1, "--linger-ms", 5] + base, self.hard(cap), server=srv)
        self.record(rep, "txn_publish", system, "idempotent, no transaction", size, parts,
                    "durable", res)
        self.weir_delete(srv, t)
        backlog = None
        for k in TXN_SIZES:
            t = topic(f"tx-{k}")
            res = self.run(system, "txn_publish",
                           ["txn_publish", "--topic", t, "--count", min(p["count"], k * p["txn_max"]),
                            "--acks", -1, "--txn-size", k, "--linger-ms", 5] + base,
                           self.hard(cap), server=srv)
            self.record(rep, "txn_publish", system, f"{k} msg/txn", size, parts, "durable", res)
            self.record(rep, "txn_commit", system, f"{k} msg/txn", size, parts, "durable", res)
            if k == TXN_SIZES[-1] and res and not res.get("failed") and res.get("msgs"):
                backlog = (t, res["msgs"])
            else:
                self.weir_delete(srv, t)
        if backlog:
            t, n = backlog
            for iso in ("read_committed", "read_uncommitted"):
                res = self.run(system, "txn_consume",
                               ["consume", "--topic", t, "--count", n, "--isolation", iso] + base,
                               self.hard(cap), server=srv)
                self.record(rep, "txn_consume", system, f"{iso}, {TXN_SIZES[-1]} msg/txn backlog",
                            size, parts, "durable", res)
            self.weir_delete(srv, t)

    def kafka_create(self, srv, topic, parts, durable):
        """Durable rows: the topic gets flush.messages=1, so Kafka fsyncs each append before
        it acknowledges acks=all, as Weir does; fast rows keep Kafka's defaults."""
        cmd = [os.path.join(KAFKA_BIN, "kafka-topics.sh"), "--bootstrap-server", srv.addr,
               "--create", "--topic", topic, "--partitions", str(parts),
               "--replication-factor", "1"]
        if durable:
            cmd += ["--config", "flush.messages=1"]
        cp = subprocess.run(cmd, capture_output=True, timeout=60)
        if cp.returncode != 0:
            self.fail(f"kafka-topics --create {topic}", cp.stderr.decode()[-300:])
        # Kafka creates a topic through its controller: Metadata may name the leader a moment
        # before that broker serves the partitions, and an acks=1 retry in that moment reorders
        # records. Let leadership settle, as a deployment would before its load arrives.
        time.sleep(1.0)

    def kafka_block(self, rep):
        p = self.p
        srv = KafkaServer(os.path.join(self.work, f"kafka-{rep}"), self.logdir)
        srv.start()
        try:
            for size in p["sizes"]:
                for acks, cls in ((1, "fast"), (-1, "durable")):
                    topic = f"la{acks + 1}-{size}-r{rep}"
                    self.kafka_create(srv, topic, 1, acks == -1)
                    res = self.run("kafka", "latency_ack",
                                   ["latency_ack", "--addr", srv.addr, "--topic", topic,
                                    "--count", 10_000_000, "--msg-bytes", size, "--acks", acks,
                                    "--seconds", p["lat_s"]], self.hard(p["lat_s"]), server=srv)
                    self.record(rep, "latency_ack", "kafka", f"acks={acks}, linger.ms=0"
                                + (", flush.messages=1" if acks == -1 else ""), size, 1, cls, res)
                for acks, cls in ((1, "fast"), (-1, "durable")):
                    for parts in p["weir_partitions"]:
                        if acks == -1 and parts != 1:
                            continue
                        topic = f"le{acks + 1}-{size}-p{parts}-r{rep}"
                        self.kafka_create(srv, topic, parts, acks == -1)
                        res = self.run("kafka", "latency_e2e",
                                       ["latency_e2e", "--addr", srv.addr, "--topic", topic,
                                        "--partitions", parts, "--rate", p["rate"],
                                        "--msg-bytes", size, "--acks", acks,
                                        "--seconds", p["e2e_s"]], self.hard(p["e2e_s"]),
                                       server=srv)
                        self.record(rep, "latency_e2e", "kafka",
                                    f"acks={acks}, linger.ms=0, {p['rate']} msg/s"
                                    + (", flush.messages=1" if acks == -1 else ""),
                                    size, parts, cls, res)
            for size in p["sizes"]:
                for parts in p["weir_partitions"]:
                    base = ["--addr", srv.addr, "--partitions", parts, "--msg-bytes", size,
                            "--seconds", self.cap()]
                    d_topic = f"d-{size}-p{parts}-r{rep}"
                    self.kafka_create(srv, d_topic, parts, True)
                    res = self.run("kafka", "durable_publish",
                                   ["publish", "--topic", d_topic, "--count", p["count"],
                                    "--acks", -1] + base, self.hard(self.cap()), server=srv)
                    self.record(rep, "durable_publish", "kafka",
                                "acks=-1, linger.ms=10, flush.messages=1", size, parts,
                                "durable", res)
                    self.weir_delete(srv, d_topic)
                    f_topic = f"f-{size}-p{parts}-r{rep}"
                    self.kafka_create(srv, f_topic, parts, False)
                    res = self.run("kafka", "fast_publish",
                                   ["publish", "--topic", f_topic, "--count", p["count"],
                                    "--acks", 1] + base, self.hard(self.cap()), server=srv)
                    self.record(rep, "fast_publish", "kafka", "acks=1, linger.ms=10", size,
                                parts, "fast", res)
                    backlog = res["msgs"] if res and not res.get("failed") else 0
                    if backlog:
                        res = self.run("kafka", "consume",
                                       ["consume", "--topic", f_topic, "--count", backlog] + base,
                                       self.hard(self.cap()), server=srv)
                        self.record(rep, "consume", "kafka", "fetch 4 MiB/partition", size,
                                    parts, "fast", res)
                    self.weir_delete(srv, f_topic)
            self.txn_rows(rep, "kafka", srv)
            self.perf_tests(rep, "kafka", srv)
        finally:
            srv.stop()

    def perf_tests(self, rep, system, srv):
        """kafka-producer-perf-test and kafka-consumer-perf-test (Kafka's own Java tools) against
        either broker, 100-byte and 1 KiB records on one 6-partition topic per row: durable
        (acks=all; Kafka's topic with flush.messages=1) and fast (acks=1, defaults), then the
        consumer perf test reads the fast backlog."""
        p = self.p
        parts = max(p["weir_partitions"])
        n = p["count"]
        for size in p["sizes"]:
            for acks, cls in (("all", "durable"), ("1", "fast")):
                topic = f"pt{cls[0]}-{size}-r{rep}"
                if system == "kafka":
                    self.kafka_create(srv, topic, parts, cls == "durable")
                else:
                    self.perf_create_weir(srv, topic, parts)
                argv = [os.path.join(KAFKA_BIN, "kafka-producer-perf-test.sh"), "--topic", topic,
                        "--num-records", str(n), "--record-size", str(size), "--throughput", "-1",
                        "--producer-props", f"bootstrap.servers={srv.addr}", f"acks={acks}",
                        "linger.ms=10", "batch.size=1000000", "max.request.size=4000000",
                        "buffer.memory=268435456"]
                wl = "durable_publish" if cls == "durable" else "fast_publish"
                res = self.run_tool(system, wl, argv, self.hard(self.cap() * 6), srv,
                                    parse_producer_perf)
                cfg = (f"kafka-producer-perf-test acks={acks}" +
                       (", flush.messages=1" if system == "kafka" and cls == "durable" else ""))
                self.record(rep, wl, system, cfg, size, parts, cls, res)
                if cls == "fast" and res and not res.get("failed"):
                    argv = [os.path.join(KAFKA_BIN, "kafka-consumer-perf-test.sh"),
                            "--bootstrap-server", srv.addr, "--topic", topic, "--messages",
                            str(res["msgs"]), "--timeout", "30000", "--hide-header"]
                    res = self.run_tool(system, "consume", argv, self.hard(self.cap() * 6), srv,
                                        parse_consumer_perf)
                    self.record(rep, "consume", system, "kafka-consumer-perf-test", size, parts,
                                "fast", res)
                self.weir_delete(srv, topic)

    def perf_create_weir(self, srv, topic, parts):
        cp = subprocess.run([self.weir_bin, "-b", srv.addr, "topic", "create", topic, "-p",
                             str(parts)], capture_output=True, timeout=60)
        if cp.returncode != 0:
            self.fail(f"weir topic create {topic}", cp.stderr.decode()[-300:])

    def run_tool(self, system, workload, argv, timeout_s, server, parse):
        """Runs one of Kafka's perf-test tools; the parsed figures as a RESULT-like dict."""
        stat = ProcStat(server.stat_pid) if server is not None and server.stat_pid else None
        busy0, kids0 = machine_busy_s(), children_cpu_s()
        cpu0 = stat.cpu_s() if stat else None
        t0 = time.monotonic()
        errlog = os.path.join(self.logdir, f"{system}-{workload}-perftest.log")
        try:
            cp = subprocess.run(argv, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.fail(f"{system} {os.path.basename(argv[0])}", f"timed out after {timeout_s} s")
            return None
        wall = time.monotonic() - t0
        out = cp.stdout.decode(errors="replace")
        with open(errlog, "a") as f:
            f.write(f"$ {' '.join(argv)}\n{out}{cp.stderr.decode(errors='replace')}\n")
        res = parse(out)
        if res is None or cp.returncode != 0:
            self.fail(f"{system} {os.path.basename(argv[0])}", f"exit {cp.returncode}; see {errlog}")
            return None
        res.update(system=system, wall_s=wall, config=" ".join(argv[1:])[:200])
        other = machine_busy_s() - busy0 - (children_cpu_s() - kids0)
        if stat:
            cpu1 = stat.cpu_s()
            if cpu0 is not None and cpu1 is not None:
                res["server_cpu_s"] = cpu1 - cpu0
                other -= cpu1 - cpu0
        res["others_cores"] = max(other, 0.0) / wall if wall > 0 else 0.0
        return res

    def redis_block(self, rep):
        p = self.p
        for mode in ("noaof", "everysec", "always"):
            srv = RedisServer(os.path.join(self.work, f"redis-{mode}-{rep}"), self.logdir, mode)
            srv.start()
            try:
                if mode in ("everysec", "always"):
                    cls = "fast" if mode == "everysec" else "durable"
                    for size in p["sizes"]:
                        base = ["--addr", srv.addr, "--msg-bytes", size]
                        res = self.run("redis", "latency_ack",
                                       ["latency_ack", "--topic", f"la-{size}", "--count",
                                        10_000_000, "--seconds", p["lat_s"]] + base,
                                       self.hard(p["lat_s"]), server=srv)
                        self.record(rep, "latency_ack", "redis", srv.label, size, 1, cls, res)
                        res = self.run("redis", "latency_e2e",
                                       ["latency_e2e", "--topic", f"le-{size}", "--rate",
                                        p["rate"], "--seconds", p["e2e_s"]] + base,
                                       self.hard(p["e2e_s"]), server=srv)
                        self.record(rep, "latency_e2e", "redis", srv.label, size, 1, cls, res)
                for size in p["sizes"]:
                    base = ["--addr", srv.addr, "--msg-bytes", size]
                    if mode in ("noaof", "everysec"):
                        topic = f"f-{size}-{mode}"
                        res = self.run("redis", "fast_publish",
                                       ["publish", "--topic", topic, "--count", p["count"],
                                        "--seconds", self.cap(), "--pipeline", 1000] + base,
                                       self.hard(self.cap()), server=srv)
                        self.record(rep, "fast_publish", "redis", srv.label, size, 1, "fast",
                                    res)
                        if mode == "noaof" and res and not res.get("failed"):
                            res = self.run("redis", "consume",
                                           ["consume", "--topic", topic, "--count", res["msgs"],
                                            "--seconds", self.cap(), "--batch", 1000] + base,
                                           self.hard(self.cap()), server=srv)
                            self.record(rep, "consume", "redis", "XRANGE COUNT 1000", size, 1,
                                        "fast", res)
                    else:
                        res = self.run("redis", "durable_publish",
                                       ["publish", "--topic", f"d-{size}", "--count", p["count"],
                                        "--seconds", self.cap(), "--pipeline", 1000] + base,
                                       self.hard(self.cap()), server=srv)
                        self.record(rep, "durable_publish", "redis", srv.label, size, 1,
                                    "durable", res)
            finally:
                srv.stop()

    def nats_block(self, rep):
        p = self.p
        srv = NatsServer(os.path.join(self.work, f"nats-{rep}"), self.logdir)
        srv.start()
        try:
            for size in p["sizes"]:
                base = ["--addr", srv.addr, "--msg-bytes", size]
                res = self.run("nats", "latency_ack",
                               ["latency_ack", "--topic", f"la-{size}", "--count", 10_000_000,
                                "--seconds", p["lat_s"]] + base, self.hard(p["lat_s"]),
                               server=srv)
                self.record(rep, "latency_ack", "nats", srv.label, size, 1, "fast", res)
                res = self.run("nats", "latency_e2e",
                               ["latency_e2e", "--topic", f"le-{size}", "--rate", p["rate"],
                                "--seconds", p["e2e_s"]] + base, self.hard(p["e2e_s"]),
                               server=srv)
                self.record(rep, "latency_e2e", "nats", srv.label, size, 1, "fast", res)
            for size in p["sizes"]:
                base = ["--addr", srv.addr, "--msg-bytes", size]
                topic = f"f-{size}"
                res = self.run("nats", "fast_publish",
                               ["publish", "--topic", topic, "--count", p["count"], "--seconds",
                                self.cap(), "--pipeline", 4096] + base,
                               self.hard(self.cap()), server=srv)
                self.record(rep, "fast_publish", "nats", srv.label, size, 1, "fast", res)
                if res and not res.get("failed"):
                    res = self.run("nats", "consume",
                                   ["consume", "--topic", topic, "--count", res["msgs"],
                                    "--seconds", self.cap(), "--consumer", "ordered"] + base,
                                   self.hard(self.cap()), server=srv)
                    self.record(rep, "consume", "nats", "ordered push consumer", size, 1,
                                "fast", res)
        finally:
            srv.stop()

    def rabbitmq_block(self, rep):
        p = self.p
        srv = RabbitServer(os.path.join(self.work, f"rabbitmq-{rep}"), self.logdir)
        srv.start()
        try:
            for size in p["sizes"]:
                base = ["--addr", srv.addr, "--msg-bytes", size]
                for qt, cls in (("stream", "fast"), ("quorum", "durable")):
                    res = self.run("rabbitmq", "latency_ack",
                                   ["latency_ack", "--topic", f"la-{qt}-{size}", "--queue-type",
                                    qt, "--count", 10_000_000, "--seconds", p["lat_s"]] + base,
                                   self.hard(p["lat_s"]), server=srv)
                    self.record(rep, "latency_ack", "rabbitmq", f"{qt} queue, confirms", size, 1,
                                cls, res)
                    res = self.run("rabbitmq", "latency_e2e",
                                   ["latency_e2e", "--topic", f"le-{qt}-{size}", "--queue-type",
                                    qt, "--rate", p["rate"], "--seconds", p["e2e_s"],
                                    "--pipeline", 1000, "--batch", 10] + base,
                                   self.hard(p["e2e_s"] + 10), server=srv)
                    self.record(rep, "latency_e2e", "rabbitmq", f"{qt} queue, confirms", size, 1,
                                cls, res)
            for size in p["sizes"]:
                base = ["--addr", srv.addr, "--msg-bytes", size]
                res = self.run("rabbitmq", "durable_publish",
                               ["publish", "--topic", f"d-{size}", "--queue-type", "quorum",
                                "--count", p["count"], "--seconds", self.cap(),
                                "--pipeline", 5000] + base, self.hard(self.cap()), server=srv)
                self.record(rep, "durable_publish", "rabbitmq", "quorum queue, confirms", size, 1,
                            "durable", res)
                topic = f"f-{size}"
                res = self.run("rabbitmq", "fast_publish",
                               ["publish", "--topic", topic, "--queue-type", "stream",
                                "--count", p["count"], "--seconds", self.cap(),
                                "--pipeline", 5000] + base, self.hard(self.cap()), server=srv)
                self.record(rep, "fast_publish", "rabbitmq", "stream queue, confirms", size, 1,
                            "fast", res)
                if res and not res.get("failed"):
                    res = self.run("rabbitmq", "consume",
                                   ["consume", "--topic", topic, "--count", res["msgs"],
                                    "--seconds", self.cap(), "--batch", 2000] + base,
                                   self.hard(self.cap()), server=srv)
                    self.record(rep, "consume", "rabbitmq", "stream queue, prefetch 2000", size,
                                1, "fast", res)
        finally:
            srv.stop()

    # ---- other engineers' bench programs ----

    def others(self):
        """bench/bench_storage, bench_net, bench_sdk and any other bench/*.c program that is not
        one of ours: run with no arguments, WEIR_BENCH_QUICK=1 in quick mode and a scratch
        directory in WEIR_BENCH_DIR; stdout goes into the report verbatim."""
        ours = {"bench_weir", "bench_limits"}
        bdir = os.path.join(self.build, "bench")
        if not os.path.isdir(bdir):
            return
        first = ["bench_storage", "bench_net", "bench_sdk"]  # issue 2's is part of `make bench`
        names = sorted(os.listdir(bdir), key=lambda x: (first.index(x) if x in first else 99, x))
        progs = []
        for name in names:
            path = os.path.join(bdir, name)
            if name in ours or not name.startswith("bench_") or not os.access(path, os.X_OK) \
                    or os.path.isdir(path):
                continue
            progs.append((name, path, []))
        # bench/bench_*.mjs: node scripts (the console's page load in headless Chromium);
        # bench/*_cost.sh: what a feature costs Weir itself (the ACL check, TLS and handshakes,
        # zero-copy fetch against the copy)
        for f in sorted(os.listdir(os.path.join(TOP, "bench"))):
            if f.startswith("bench_") and f.endswith(".mjs"):
                progs.append((f[:-4], "/usr/bin/node", [os.path.join(TOP, "bench", f)]))
            elif f.endswith("_cost.sh"):
                progs.append((f[:-3], "/bin/bash", [os.path.join(TOP, "bench", f)]))
        for name, path, pre in progs:
            timeout = self.p["budget_s"] - self.elapsed()
            if timeout < 5:
                self.notes.append(f"{name} not run: the time budget was spent")
                continue
            scratch = os.path.join(self.work, f"scratch-{name}")
            os.makedirs(scratch, exist_ok=True)
            # Full runs when the budget allows, their quick variants otherwise: the three
            # repetitions of the comparison come first.
            quick = self.args.profile != "default" or timeout < 150
            if quick and self.args.profile == "default":
                self.notes.append(f"{name} ran in its quick mode: {timeout:.0f} s of the "
                                  "budget were left")
            env = dict(os.environ, WEIR_BENCH_DIR=scratch, WEIR_BIN=self.weir_bin,
                       WEIR_BENCH_QUICK="1" if quick else "0")
            argv = [path] + pre + OTHER_ARGS.get(name, lambda d, q: [])(scratch, quick)
            log(f"[{self.elapsed():5.0f}s] running {' '.join(argv[:1] + argv[2 if not pre else 1:])} "
                f"(at most {timeout:.0f} s)")
            # A session of its own: on a timeout its children go too (bench_streams' JVM app),
            # which would otherwise hold the output pipe open and hang the runner.
            p = PROCS.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=scratch, env=env,
                            start_new_session=True)
            try:
                out, _ = p.communicate(timeout=timeout)
                text = out.decode(errors="replace")
                if p.returncode != 0:
                    self.fail(name, f"exit {p.returncode}")
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                # communicate() again: what it read before the timeout is kept (a plain read
                # of p.stdout now would miss it).
                out, _ = p.communicate(timeout=30)
                text = out.decode(errors="replace")
                # A slow machine is not a failure of the run (issue 17): what the program
                # printed before its time was up is reported, and the cut is said.
                self.notes.append(f"{name} cut short: the time budget left it {timeout:.0f} s; "
                                  "its output above is what it measured until then")
                text += f"\n[cut short after {timeout:.0f} s: the run's time budget was spent]\n"
            finally:
                if p in PROCS.live:
                    PROCS.live.remove(p)
            self.extra_outputs.append((name, text))
            shutil.rmtree(scratch, ignore_errors=True)

    # ---- the whole run ----

    def main(self):
        self.freeze_binaries()
        if self.args.schema_only:
            self.schema_block()
            self.raw.close()
            return
        if self.args.eventstore_only:
            self.eventstore_block()
            self.raw.close()
            return
        self.weir_idle = []
        self.backlogs = {}
        systems = self.args.systems
        self.limits()
        reps = self.p["reps"]
        block_times = {}
        for rep in range(1, reps + 1):
            # Alternate: each repetition starts with the next system.
            order = systems[(rep - 1) % len(systems):] + systems[:(rep - 1) % len(systems)]
            if rep > 1:
                needed = sum(block_times.values())
                if self.elapsed() + needed > self.p["budget_s"] - self.p["others_s"]:
                    self.notes.append(f"stopped after {rep - 1} repetition(s) of {reps}: "
                                      f"another would pass the {self.p['budget_s']} s budget "
                                      f"(less {self.p['others_s']} s kept for the other bench "
                                      "programs)")
                    log(f"[{self.elapsed():5.0f}s] {self.notes[-1]}")
                    break
            for system in order:
                t = time.monotonic()
                log(f"[{self.elapsed():5.0f}s] rep {rep}/{reps}: {system}")
                try:
                    getattr(self, f"{system}_block")(rep)
                except Exception as e:  # a server that will not start fails its block only
                    self.fail(f"{system} rep {rep}", f"{type(e).__name__}: {e}")
                block_times[system] = time.monotonic() - t
        if not self.args.smoke:
            try:
                self.metrics_block()
            except Exception as e:
                self.fail("metrics", f"{type(e).__name__}: {e}")
            try:
                self.schema_block()
            except Exception as e:
                self.fail("schema validation", f"{type(e).__name__}: {e}")
            try:
                self.eventstore_block()
            except Exception as e:
                self.fail("event store", f"{type(e).__name__}: {e}")
            self.others()
        self.raw.close()

    # ---- /metrics: scrape cost, and what the instrumentation costs produce ----

    def metrics_server(self, name, weir_bin, data_root, sets):
        """A `weir serve` whose HTTP address we need too: (server, http address)."""
        srv = WeirServer(os.path.join(data_root, name), self.logdir, weir_bin, sets)
        srv.start()
        return srv

    def scrape(self, http, times):
        """Median and fastest wall ms of GET /metrics, and its size in bytes."""
        import urllib.request
        walls, size = [], 0
        for _ in range(times):
            t = time.monotonic()
            with urllib.request.urlopen(f"http://{http}/metrics", timeout=30) as r:
                size = len(r.read())
            walls.append((time.monotonic() - t) * 1000)
        return statistics.median(walls), min(walls), size

    def metrics_scrapes(self):
        """GET /metrics with 10 and 10,000 partitions (a group with a committed offset on each,
        so lag series are there too). The data lives on tmpfs when there is one: creating
        10,000 partitions costs ~30,000 fsyncs on a disk, a minute here, and scraping does not
        touch the disk."""
        shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else self.work
        root = tempfile.mkdtemp(prefix="weir-bench-metrics-", dir=shm)
        rows = []
        try:
            for parts in (10, 10000):
                srv = self.metrics_server(f"scrape-{parts}", self.weir_bin, root,
                                          ["weir.log.preallocate.bytes=0"])
                try:
                    http = self.http_of(srv)
                    t = time.monotonic()
                    cli = [self.weir_bin, "-b", srv.addr, "--timeout", "300s"]
                    subprocess.run(cli + ["topic", "create", "m", "-p", str(parts)], check=True,
                                   capture_output=True, timeout=600)
                    create_s = time.monotonic() - t
                    fill = "".join(f"{i % parts}:v{i}\n" for i in range(parts * 2))
                    subprocess.run(cli + ["produce", "m", "--acks", "1", "-f", "%p:%v\n"],
                                   input=fill.encode(), check=True, capture_output=True,
                                   timeout=300)
                    subprocess.run(cli + ["group", "seek", "bench-g", "--to", "-1", "--topics",
                                          "m", "--execute"], capture_output=True, timeout=300)
                    med, best, size = self.scrape(http, 20 if parts <= 10 else 10)
                    rows.append((parts, med, best, size, create_s))
                    log(f"[{self.elapsed():5.0f}s] /metrics with {parts} partitions: "
                        f"{med:.1f} ms median ({best:.1f} best), {size / 1e6:.2f} MB")
                finally:
                    srv.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return rows

    @staticmethod
    def http_of(srv):
        """The HTTP address: the "http on HOST:PORT" line weir serve prints second."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in list(srv.lines):
                if line.startswith("http on "):
                    return line[len("http on "):]
            time.sleep(0.02)
        raise RuntimeError("weir serve printed no 'http on' line")

    @staticmethod
    def cpu_ns(pid):
        """CPU time of every thread of a process, in ns (schedstat: finer than clock ticks)."""
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total

    def metrics_cost(self):
        """Produce throughput (100 B, 1 partition; acks=1 and acks=all) of the broker with its
        metrics and of the same sources built with -DWEIR_METRICS_OFF, alternating which goes
        first, `reps` times each."""
        off = os.path.join(self.bin, "weir-nometrics")
        if not os.path.exists(off):
            self.notes.append("metrics on/off not measured: build/nometrics/weir was not built "
                              "(make bench builds it)")
            return {}
        reps = 6 if self.args.profile == "default" else 3
        count = 2_000_000 if self.args.profile == "default" else 1_000_000
        got = {}
        for rep in range(1, reps + 1):
            order = [("on", self.weir_bin), ("off", off)]
            if rep % 2 == 0:
                order.reverse()
            for label, binary in order:
                srv = self.metrics_server(f"cost-{label}-{rep}", binary, self.work, [])
                try:
                    for acks in (1, -1):
                        ns0 = self.cpu_ns(srv.stat_pid)
                        res = self.run("weir", "metrics_cost", [
                            "publish", "--topic", f"mc-{acks}", "--count", count,
                            "--acks", acks, "--addr", srv.addr, "--partitions", 1,
                            "--msg-bytes", 100, "--seconds", self.cap()],
                            self.hard(self.cap()), server=srv)
                        ns1 = self.cpu_ns(srv.stat_pid)
                        if res and not res.get("failed") and res.get("msgs"):
                            cpu_us = (ns1 - ns0) / 1e3 / res["msgs"]
                            got.setdefault((label, acks), []).append((res["msgs_per_s"], cpu_us))
                            log(f"[{self.elapsed():5.0f}s] metrics {label:3} acks={acks:2} "
                                f"{res['msgs_per_s']:>12,.0f} msg/s, {cpu_us:.3f} us broker "
                                "CPU/msg")
                finally:
                    srv.stop()
        return got

    def metrics_block(self):
        scrapes = self.metrics_scrapes()
        cost = self.metrics_cost()
        lines = ["GET /metrics (median of 20 scrapes at 10 partitions, 10 at 10,000; a group "
                 "with a committed offset on every partition):", "",
                 "| partitions | scrape median | fastest | size | topic creation (tmpfs) |",
                 "|---:|---:|---:|---:|---:|"]
        for parts, med, best, size, create_s in scrapes:
            lines.append(f"| {parts:,} | {med:.1f} ms | {best:.1f} ms | {size / 1e6:.2f} MB "
                         f"| {create_s:.1f} s |")
        if cost:
            lines += ["", "Produce, 100 B records, 1 partition, the broker with its metrics "
                      "compiled in (on) and out (off, -DWEIR_METRICS_OFF), alternating; medians "
                      "of msg/s and of the broker's CPU time per record (the steadier measure "
                      "on a shared machine):", "",
                      "| acks | on msg/s | off msg/s | throughput cost | on CPU/msg | "
                      "off CPU/msg | CPU cost |", "|---|---:|---:|---:|---:|---:|---:|"]
            for acks in (1, -1):
                on, off = cost.get(("on", acks)), cost.get(("off", acks))
                if on and off:
                    t_on = statistics.median(x[0] for x in on)
                    t_off = statistics.median(x[0] for x in off)
                    c_on = statistics.median(x[1] for x in on)
                    c_off = statistics.median(x[1] for x in off)
                    lines.append(f"| {'all' if acks == -1 else acks} | {t_on:,.0f} | "
                                 f"{t_off:,.0f} | {100 * (t_off - t_on) / t_off:+.1f}% | "
                                 f"{c_on:.3f} us | {c_off:.3f} us | "
                                 f"{100 * (c_on - c_off) / c_off:+.1f}% |")
        self.extra_outputs.append(("metrics (bench/harness.py metrics_block)",
                                   "\n".join(lines) + "\n"))
        with open(os.path.join(self.logdir, "metrics.json"), "w") as f:
            json.dump({"scrapes": scrapes, "cost": {f"{k[0]} acks={k[1]}": v
                                                    for k, v in cost.items()}}, f)


    # ---- schema validation: produce to topics with it off, id and full ----

    # An order of six fields (~60 bytes), as Avro binary and as JSON, with its schemas: what
    # confluent-kafka's serializers would write after the 5-byte header.
    SCHEMA_ROWS = {
        "avro": ("AVRO", json.dumps({
            "type": "record", "name": "Order", "fields": [
                {"name": "id", "type": "string"}, {"name": "customer", "type": "string"},
                {"name": "cents", "type": "long"}, {"name": "qty", "type": "int"},
                {"name": "note", "type": ["null", "string"]}, {"name": "paid",
                                                                "type": "boolean"}]}),
            b"\x10o-100234\x0ecust-42\xd0\x0f\x06\x02\x0arush!\x01"),
        "json": ("JSON", json.dumps({
            "type": "object", "properties": {
                "id": {"type": "string"}, "customer": {"type": "string"},
                "cents": {"type": "integer", "minimum": 0}, "qty": {"type": "integer"},
                "note": {"type": ["string", "null"]}, "paid": {"type": "boolean"}},
            "required": ["id", "cents"], "additionalProperties": False}),
            b'{"id":"o-1002344","customer":"cust-42","cents":1000,"qty":3,"note":"rush!",'
            b'"paid":true}'),
    }

    def schema_topic(self, srv, http, kind, mode):
        """Topic sv-<kind>-<mode> with weir.value.schema.validation=<mode>, its schema
        registered under <topic>-value; returns the payload file (header + body)."""
        import urllib.request
        topic = f"sv-{kind}-{mode}"
        stype, schema, body = self.SCHEMA_ROWS[kind]
        req = urllib.request.Request(
            f"http://{http}/subjects/{topic}-value/versions", method="POST",
            data=json.dumps({"schemaType": stype, "schema": schema}).encode(),
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            sid = json.loads(r.read())["id"]
        subprocess.run([self.weir_bin, "topic", "create", topic, "-b", srv.addr, "-c",
                        f"weir.value.schema.validation={mode}"], check=True, timeout=30,
                       stdout=subprocess.DEVNULL)
        path = os.path.join(self.work, f"payload-{kind}")
        with open(path, "wb") as f:
            f.write(b"\0" + sid.to_bytes(4, "big") + body)
        return topic, path

    def schema_cost(self):
        """Produce throughput (acks=1, 1 partition, the records above) to topics with validation
        none, id and full, for Avro and JSON, in rotating order, `reps` times each; with the
        broker's CPU time per record. {(kind, mode): [(msg/s, us CPU/msg)]}"""
        reps = 5 if self.args.profile == "default" else 3
        count = 2_000_000 if self.args.profile == "default" else 500_000
        srv = self.metrics_server("schema", self.weir_bin, self.work, [])
        got = {}
        try:
            http = self.http_of(srv)
            rows = [(k, m) for k in ("avro", "json") for m in ("none", "id", "full")]
            files = {row: self.schema_topic(srv, http, *row) for row in rows}
            for rep in range(1, reps + 1):
                shift = rep % len(rows)
                for kind, mode in rows[shift:] + rows[:shift]:
                    topic, path = files[(kind, mode)]
                    ns0 = self.cpu_ns(srv.stat_pid)
                    res = self.run("weir", "schema_validation", [
                        "publish", "--topic", topic, "--count", count, "--acks", 1,
                        "--addr", srv.addr, "--partitions", 1, "--payload-file", path,
                        "--seconds", self.cap()], self.hard(self.cap()), server=srv)
                    ns1 = self.cpu_ns(srv.stat_pid)
                    if res and not res.get("failed") and res.get("msgs"):
                        cpu_us = (ns1 - ns0) / 1e3 / res["msgs"]
                        got.setdefault((kind, mode), []).append((res["msgs_per_s"], cpu_us))
                        log(f"[{self.elapsed():5.0f}s] schema {kind} {mode:4} "
                            f"{res['msgs_per_s']:>12,.0f} msg/s, {cpu_us:.3f} us broker CPU/msg")
        finally:
            srv.stop()
        return got

    def schema_block(self):
        cost = self.schema_cost()
        lines = ["Produce to a topic with weir.value.schema.validation none, id and full "
                 "(acks=1, 1 partition, librdkafka batching, a 6-field order of "
                 f"{5 + len(self.SCHEMA_ROWS['avro'][2])} B in Avro, "
                 f"{5 + len(self.SCHEMA_ROWS['json'][2])} B in JSON, registry-encoded); "
                 "medians of msg/s and of the broker's CPU time per record, cost against none:",
                 "", "| schema | mode | msg/s | throughput cost | CPU/msg | CPU cost |",
                 "|---|---|---:|---:|---:|---:|"]
        for kind in ("avro", "json"):
            base = cost.get((kind, "none"))
            for mode in ("none", "id", "full"):
                runs = cost.get((kind, mode))
                if not runs:
                    continue
                t = statistics.median(x[0] for x in runs)
                c = statistics.median(x[1] for x in runs)
                tc = cc = ""
                if base and mode != "none":
                    t0 = statistics.median(x[0] for x in base)
                    c0 = statistics.median(x[1] for x in base)
                    tc, cc = f"{100 * (t0 - t) / t0:+.1f}%", f"{100 * (c - c0) / c0:+.1f}%"
                lines.append(f"| {kind} | {mode} | {t:,.0f} | {tc} | {c:.3f} us | {cc} |")
        text = "\n".join(lines) + "\n"
        self.extra_outputs.append(("schema validation (bench/harness.py schema_block)", text))
        if self.args.schema_only:
            print(text)
        with open(os.path.join(self.logdir, "schema.json"), "w") as f:
            json.dump({f"{k[0]} {k[1]}": v for k, v in cost.items()}, f)


    # ---- the event store: conditional appends (docs/event-store.md) ----

    ES_KEYS = 1_000_000
    ES_ROWS = (("plain", None, 0), ("indexed", "weir.key.index=true", 0),
               ("conditional", "weir.key.index=true", 1))

    def eventstore_cost(self):
        """Produce throughput (acks=1, 1 partition, 100 B values, keys key-0..key-999999 in
        turn, two passes) to a plain topic, a key-indexed one without headers, and a key-indexed
        one where every record carries weir.expected.offset (its key's previous offset, so all
        are appended); with the broker's CPU time per record. Then the broker restarts on the
        same data and its log says what the key index of a partition of 1M keys (2M records)
        costs in memory and in time to rebuild. ({row: [(msg/s, us CPU/msg)]}, index line)"""
        reps = 3 if self.args.profile == "default" else 1
        count = 2 * self.ES_KEYS
        root = os.path.join(self.work, "eventstore")
        srv = WeirServer(root, self.logdir, self.weir_bin, [])
        srv.start()
        got, topic = {}, None
        try:
            for rep in range(1, reps + 1):
                shift = rep % len(self.ES_ROWS)
                for name, cfg, cond in self.ES_ROWS[shift:] + self.ES_ROWS[:shift]:
                    topic = f"es-{name}-{rep}"
                    argv = [self.weir_bin, "topic", "create", topic, "-b", srv.addr]
                    subprocess.run(argv + (["-c", cfg] if cfg else []), check=True, timeout=30,
                                   stdout=subprocess.DEVNULL)
                    ns0 = self.cpu_ns(srv.stat_pid)
                    res = self.run("weir", f"eventstore_{name}", [
                        "publish", "--topic", topic, "--count", count, "--acks", 1,
                        "--addr", srv.addr, "--partitions", 1, "--msg-bytes", 100,
                        "--keys", self.ES_KEYS, "--conditional", cond,
                        "--seconds", 60], self.hard(60), server=srv)  # whole passes only
                    ns1 = self.cpu_ns(srv.stat_pid)
                    if res and not res.get("failed") and res.get("msgs") == count:
                        cpu_us = (ns1 - ns0) / 1e3 / res["msgs"]
                        got.setdefault(name, []).append((res["msgs_per_s"], cpu_us))
                        log(f"[{self.elapsed():5.0f}s] event store {name:11} "
                            f"{res['msgs_per_s']:>12,.0f} msg/s, {cpu_us:.3f} us broker CPU/msg")
            PROCS.stop(srv.proc, grace_s=20.0)  # keeps the data: restart on it
            srv.proc = None
            srv = WeirServer(root, self.logdir, self.weir_bin, [])
            srv.start()
        finally:
            srv.stop()
        index = None
        with open(os.path.join(self.logdir, "weir-server.log"), errors="replace") as f:
            for line in f:
                if f"es-conditional-{reps}-0: key index built:" in line:
                    index = line.split("key index built: ", 1)[1].strip()
        return got, index

    def eventstore_load(self):
        """An aggregate of 100 events in a partition of 10M records (2M in the quick profile):
        bench_weir publish with keys key-0..key-(N/100 - 1) in turn gives every key 100 records,
        N/100 offsets apart. The load: GET key-offsets (the key chain) for one key, then its 100
        records read one by one with GET messages?offset=O&limit=1 (no client library in the
        way). Returns {records, lookup_ms, read_ms, ok} (medians of 5 keys)."""
        import urllib.request
        n = 10_000_000 if self.args.profile == "default" else 2_000_000
        keys = n // 100
        srv = WeirServer(os.path.join(self.work, "eventstore-load"), self.logdir, self.weir_bin, [])
        srv.start()
        try:
            http = self.http_of(srv)
            subprocess.run([self.weir_bin, "topic", "create", "es-load", "-b", srv.addr, "-c",
                            "weir.key.index=true"], check=True, timeout=30,
                           stdout=subprocess.DEVNULL)
            res = self.run("weir", "eventstore_load_publish", [
                "publish", "--topic", "es-load", "--count", n, "--acks", 1, "--addr", srv.addr,
                "--partitions", 1, "--msg-bytes", 100, "--keys", keys, "--seconds", 600],
                self.hard(600), server=srv)
            if not res or res.get("msgs") != n:
                raise RuntimeError("the load partition was not written whole")

            def get(path):
                with urllib.request.urlopen(f"http://{http}/api/v1/{path}", timeout=30) as r:
                    return json.loads(r.read())
            lookups, reads, ok = [], [], True
            for k in (7, keys // 3, keys // 2, keys - 1, 42):
                key = f"key-{k:09d}"
                t0 = time.monotonic()
                offsets = get(f"topics/es-load/key-offsets?partition=0&key={key}")["offsets"]
                t1 = time.monotonic()
                got = [get(f"topics/es-load/messages?partition=0&offset={o}&limit=1")
                       ["messages"][0] for o in offsets]
                t2 = time.monotonic()
                ok = ok and offsets == [k + i * keys for i in range(100)] and all(
                    m.get("key") == key for m in got)
                lookups.append((t1 - t0) * 1000)
                reads.append((t2 - t1) * 1000)
            return {"records": n, "lookup_ms": statistics.median(lookups),
                    "read_ms": statistics.median(reads), "ok": ok}
        finally:
            srv.stop()

    def eventstore_block(self):
        cost, index = self.eventstore_cost()
        try:
            load = self.eventstore_load()
        except Exception as e:
            self.fail("event store load", f"{type(e).__name__}: {e}")
            load = None
        lines = ["Produce (acks=1, 1 partition, 100 B values, 1M keys in turn, 2M records) to a "
                 "plain topic, a key-indexed one, and conditional appends (every record with "
                 "weir.expected.offset); medians, cost against plain:", "",
                 "| topic | msg/s | of plain | broker CPU/msg | CPU cost |",
                 "|---|---:|---:|---:|---:|"]
        base = cost.get("plain")
        for name, _, _ in self.ES_ROWS:
            runs = cost.get(name)
            if not runs:
                continue
            t = statistics.median(x[0] for x in runs)
            c = statistics.median(x[1] for x in runs)
            share = cc = ""
            if base and name != "plain":
                t0 = statistics.median(x[0] for x in base)
                c0 = statistics.median(x[1] for x in base)
                share, cc = f"{100 * t / t0:.0f}%", f"{100 * (c - c0) / c0:+.0f}%"
            lines.append(f"| {name} | {t:,.0f} | {share} | {c:.3f} us | {cc} |")
        lines += ["", f"Key index of the last topic at the restart: {index or 'not logged'}"]
        if load:
            lines += ["", f"Aggregate load, 100 events of one key in a partition of "
                      f"{load['records']:,} records (median of 5 keys): key-offsets "
                      f"{load['lookup_ms']:.2f} ms, then the 100 records one GET each "
                      f"{load['read_ms']:.1f} ms" + ("" if load["ok"] else " (WRONG ANSWER)")]
        text = "\n".join(lines) + "\n"
        self.extra_outputs.append(("event store (bench/harness.py eventstore_block)", text))
        if self.args.eventstore_only:
            print(text)
        with open(os.path.join(self.logdir, "eventstore.json"), "w") as f:
            json.dump({"rows": cost, "index": index, "load": load}, f)


# ---- aggregation ------------------------------------------------------------------------------

def parse_producer_perf(out):
    """The summary line of kafka-producer-perf-test: 'N records sent, X records/sec (Y MB/sec),
    A ms avg latency, M ms max latency, p50 ms 50th, p95 ms 95th, p99 ms 99th, p999 ms 99.9th.'"""
    m = None
    for line in out.splitlines():
        mm = re.match(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), "
                      r"([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, "
                      r"(\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th", line)
        if mm:
            m = mm
    if not m:
        return None
    return dict(msgs=int(m.group(1)), msgs_per_s=float(m.group(2)),
                mb_per_s=float(m.group(3)) * 1.048576, ack_p50_us=float(m.group(6)) * 1000,
                ack_p99_us=float(m.group(8)) * 1000, ack_p999_us=float(m.group(9)) * 1000)


def parse_consumer_perf(out):
    """kafka-consumer-perf-test --hide-header: start.time, end.time, data.consumed.in.MB,
    MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec,
    fetch.nMsg.sec."""
    for line in reversed(out.splitlines()):
        f = [x.strip() for x in line.split(",")]
        if len(f) >= 10:
            try:
                return dict(msgs=int(float(f[4])), msgs_per_s=float(f[9]),
                            mb_per_s=float(f[8]) * 1.048576)
            except ValueError:
                continue
    return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def aggregate(runs):
    """Groups runs into rows keyed by (workload, system, config, bytes, partitions)."""
    rows = {}
    for r in runs:
        if r["row_workload"] not in WORKLOADS + EXTRA_WORKLOADS:
            continue
        key = (r["row_workload"], r["row_system"], r["row_config"], r["row_bytes"],
               r["row_partitions"])
        rows.setdefault(key, []).append(r)
    out = []
    for key, rs in rows.items():
        ok = [r for r in rs if not r.get("failed")]
        row = dict(workload=key[0], system=key[1], config=key[2], msg_bytes=key[3],
                   partitions=key[4], cls=rs[0]["cls"], samples=ok, failed=len(rs) - len(ok))
        for f in ("msgs_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us", "ack_p50_us",
                  "ack_p99_us", "ack_p999_us", "server_cpu_s", "server_peak_mb", "msgs",
                  "leave_to_assign_ms", "leave_to_consume_ms", "join_ms", "duplicates",
                  "others_cores"):
            vals = [r.get(f) for r in ok if r.get(f) is not None]
            row[f] = med(vals)
            row[f + "_min"] = min(vals) if vals else None
            row[f + "_max"] = max(vals) if vals else None
        row["capped"] = any(r.get("capped") for r in ok)
        row["driver_config"] = ok[0]["config"] if ok else ""
        out.append(row)
    order = {w: i for i, w in enumerate(WORKLOADS + EXTRA_WORKLOADS)}
    sysorder = {s: i for i, s in enumerate(SYSTEMS)}
    out.sort(key=lambda r: (order[r["workload"]], r["msg_bytes"], r["cls"],
                            sysorder[r["system"]], r["partitions"], r["config"]))
    return out


def pair_ratios(rows):
    """Weir/peer ratio run by run for each peer row, against the Weir row of the same workload,
    size, durability class and partition count (peers have one partition)."""
    def tool(r):  # Kafka's perf-test rows pair with Weir's perf-test rows
        return "perf-test" if "perf-test" in r["config"] else "driver"

    def key(r):  # the transaction rows pair by their config too (several per workload)
        return (r["workload"], r["msg_bytes"], r["cls"], r["partitions"], tool(r),
                r["config"] if r["workload"] in TXN_WORKLOADS else "")

    weir = {key(r): r for r in rows if r["system"] == "weir"}
    for r in rows:
        r["ratio"] = r["ratio_min"] = r["ratio_max"] = None
        if r["system"] == "weir":
            continue
        w = weir.get(key(r))
        if not w:
            continue
        field = ("msgs_per_s" if r["workload"] in THROUGHPUT or
                 r["workload"] in ("txn_publish", "txn_consume") else "p99_us")
        wr = {s["rep"]: s.get(field) for s in w["samples"]}
        ratios = []
        for s in r["samples"]:
            a, b = wr.get(s["rep"]), s.get(field)
            if a and b:
                ratios.append(a / b)
        if ratios:
            r["ratio"], r["ratio_min"], r["ratio_max"] = med(ratios), min(ratios), max(ratios)


def json_rows(rows, not_comparable):
    out = []
    for r in rows:
        if r["workload"] not in WORKLOADS:
            continue
        lat = r["workload"] not in THROUGHPUT
        out.append(dict(
            workload=r["workload"], system=r["system"], msg_bytes=r["msg_bytes"],
            partitions=r["partitions"], config=short_config(r),
            msgs_per_s=rnd(r["msgs_per_s"]), mb_per_s=rnd(r["mb_per_s"], 3),
            p50_us=rnd(r["p50_us"], 1) if lat else None,
            p99_us=rnd(r["p99_us"], 1) if lat else None,
            p999_us=rnd(r["p999_us"], 1) if lat else None,
            runs=len(r["samples"]), ratio_vs_weir=rnd(r["ratio"], 3)))
    for nc in not_comparable:
        out.append(dict(workload=nc["workload"], system=nc["system"], msg_bytes=nc["msg_bytes"],
                        partitions=1, config=nc["config"], msgs_per_s=None, mb_per_s=None,
                        p50_us=None, p99_us=None, p999_us=None, runs=0, ratio_vs_weir=None))
    return out


def rnd(x, nd=1):
    return None if x is None else round(x, nd)


def short_config(r):
    if r["system"] == "weir" or not r["driver_config"] or r["driver_config"] == r["config"]:
        return r["config"]
    return f"{r['config']}; {r['driver_config']}"


# ---- report -----------------------------------------------------------------------------------

def fmt_rate(r, f="msgs_per_s", unit=""):
    v = r.get(f)
    if v is None:
        return "–"
    lo, hi = r.get(f + "_min"), r.get(f + "_max")
    if f == "msgs_per_s":
        s = f"{v:,.0f}"
        if len(r["samples"]) > 1:
            s += f" [{lo:,.0f}–{hi:,.0f}]"
    else:
        s = f"{v:,.1f}"
        if len(r["samples"]) > 1:
            s += f" [{lo:,.1f}–{hi:,.1f}]"
    return s + unit


BUSY_CORES = 0.25


def busy_note(r):
    """A row measured while other processes used a noticeable share of the machine."""
    v = r.get("others_cores_max")
    return [f"others used up to {v:.1f} cores"] if v is not None and v > BUSY_CORES else []


def fmt_ratio(r, lower_better):
    if r.get("ratio") is None:
        return "–"
    s = f"{r['ratio']:.2f}"
    if len(r["samples"]) > 1:
        s += f" [{r['ratio_min']:.2f}–{r['ratio_max']:.2f}]"
    return s


def fmt(v, nd=1, unit=""):
    return "–" if v is None else f"{v:,.{nd}f}{unit}"


def host_info():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30
    return dict(host=socket.gethostname(), cpu=cpu, cores=os.cpu_count(), mem_gib=mem,
                kernel=os.uname().release)


def versions(runner):
    v = {"weir": WeirServer.version(runner.weir_bin),
         "librdkafka (Weir's client)": dpkg_version("librdkafka1")}
    if "redis" in runner.args.systems:
        v["redis"] = RedisServer.version()
        v["hiredis"] = dpkg_version("libhiredis-dev")
    if "nats" in runner.args.systems:
        v["nats"] = NatsServer.version()
        v["libnats"] = dpkg_version("libnats-dev")
    if "rabbitmq" in runner.args.systems:
        v["rabbitmq"] = RabbitServer.version()
        v["librabbitmq"] = dpkg_version("librabbitmq-dev")
    if "kafka" in runner.args.systems:
        v["kafka"] = KafkaServer.version() + " (jars: tests/java/pom.xml; Java " + \
            cmd_first_line(["java", "-version"]) + ")"
    v["gnuplot"] = dpkg_version("gnuplot-nox")
    return v


def best_peer(rows, workload, size, cls):
    peers = [r for r in rows if r["system"] != "weir" and r["workload"] == workload and
             r["msg_bytes"] == size and r["cls"] == cls and r["samples"]]
    if not peers:
        return None
    if workload in THROUGHPUT:
        return max(peers, key=lambda r: r["msgs_per_s"] or 0)
    return min(peers, key=lambda r: r["p99_us"] if r["p99_us"] is not None else 1e18)


def write_report(runner, rows, not_comparable, path, charts):
    prof = runner.p
    hi = host_info()
    lim = runner.limits_result
    L = []
    w = L.append
    now = datetime.datetime.now().astimezone()
    w(f"# Weir benchmark, {now:%Y-%m-%d %H:%M %Z}, {hi['host']}\n")
    w(f"Profile **{runner.args.profile}**: {len(set(r['rep'] for r in runner.runs))} "
      f"repetition(s) (systems alternate, the starting system rotates), "
      f"{prof['count']:,} messages per throughput run (each run also stops at "
      f"{prof['cap_s']:.0f} s: rows marked *capped* sent fewer), latency runs of "
      f"{prof['lat_s']} s (one in flight) and {prof['e2e_s']} s at {prof['rate']:,} msg/s. "
      f"Total time {runner.elapsed():.0f} s.\n")
    w(f"Machine: {hi['cpu']}, {hi['cores']} cores, {hi['mem_gib']:.0f} GiB RAM, Linux "
      f"{hi['kernel']}. Servers and clients share the cores; everything runs on 127.0.0.1 "
      "with fresh data directories. MB = 10^6 bytes of message payload.\n")
    others = [r.get("others_cores") for r in runner.runs if r.get("others_cores") is not None]
    if others:
        busy = sum(1 for x in others if x > BUSY_CORES)
        w(f"Other processes on the machine used a median {med(others):.2f} and at most "
          f"{max(others):.2f} of the {hi['cores']} cores during the runs "
          f"({busy} of {len(others)} runs above {BUSY_CORES} core: those rows say so). "
          "Figures measured on a busy machine are lower bounds.\n")

    w("## Machine limits (measured in this run)\n")
    w("| What | MB/s | Notes |\n|---|---|---|")
    if "write_nosync" in lim:
        x = lim["write_nosync"]
        w(f"| Sequential write, 1 MiB, no sync | {x['mb_per_s']:,.0f} | "
          f"{x.get('with_final_sync_mb_per_s', 0):,.0f} MB/s counting one fdatasync at the end |")
    if "write_fdatasync" in lim:
        w(f"| Sequential write, 1 MiB + fdatasync each | {lim['write_fdatasync']['mb_per_s']:,.0f}"
          f" | {lim['write_fdatasync']['msgs_per_s']:,.0f} syncs/s |")
    if "loopback" in lim:
        w(f"| Loopback TCP, one stream | {lim['loopback']['mb_per_s']:,.0f} | 128 KiB writes |")
    if "memory" in lim:
        x = lim["memory"]
        w(f"| Fresh memory, first touch | {x['mb_per_s']:,.0f} | "
          f"{x['msgs']:,} MiB; {x.get('retouch_mb_per_s', 0):,.0f} MB/s writing it again |")
    w("")
    if "memory" in lim:
        w("Every byte a broker writes lands in page-cache pages, and a page used for the first "
          "time costs what the first-touch row says: on a VM whose host backs guest memory "
          "lazily, that can be a fraction of memory bandwidth, and it varies with what the "
          "machine touched before. A write run whose data goes into pages not used since boot "
          "is capped near it (the broker's time then goes into the kernel's copy into the "
          "page cache), whatever the broker does.\n")
    if "rtt" in lim:
        x = lim["rtt"]
        w(f"Loopback round trip (the floor under every latency_ack row: two processes passing "
          f"one 100-byte message back and forth over TCP, blocking sockets, TCP_NODELAY): "
          f"p50 {x['p50_us']:.1f} µs, p99 {x['p99_us']:.1f} µs, p99.9 {x['p999_us']:.1f} µs.\n")

    w("## Versions\n")
    for k, v in versions(runner).items():
        w(f"- {k}: {v}")
    w("")

    w("## Settings\n")
    w("- **Weir** (librdkafka): throughput runs use linger.ms=10, batch.size=1000000, "
      "batch.num.messages=100000, no compression, message i to partition i % P; acks=-1 for "
      "durable (the broker fsyncs before answering, group commit), acks=1 for fast. Consumers "
      "read from offset 0 with fetch.message.max.bytes=4 MiB, queued.min.messages=1M. Latency "
      "runs use linger.ms=0. The broker runs with group.initial.rebalance.delay.ms=300. One "
      "broker serves a repetition; each topic is deleted (`weir topic delete`) once its rows "
      "are done, so no row writes into a page cache still full of the rows before it.")
    w("- **Redis Streams** (hiredis): `XADD key * f <payload>`, pipelined 1000 commands at a "
      "time (Redis's documented way to amortise round trips); durable = `appendonly yes, "
      "appendfsync always` (one write+fsync per event-loop pass before replies); fast = no "
      "persistence, and AOF with `appendfsync everysec`; reads with `XRANGE key (last + COUNT "
      "1000`. One stream: Redis has no partitions.")
    w("- **NATS JetStream** (libnats): file storage, one replica; async publish with 4096 "
      "acks pending (the NATS docs' and `nats bench` way); reads with an ordered push "
      "consumer (AckNone). One stream, no partitions.")
    w("- **RabbitMQ** (rabbitmq-c, AMQP 0-9-1): durable = quorum queue, persistent messages, "
      "publisher confirms handled asynchronously with a window of 5000 unconfirmed (the "
      "publisher-confirms guide's fastest strategy); fast = stream queue with confirms; reads "
      "from the stream queue with basic.consume, x-stream-offset=first, prefetch 2000, acks "
      "multiple. Debian has no client for the stream protocol, so streams are driven over AMQP.")
    w("- Latency: `latency_ack` = one message in flight, publish→acknowledgement. "
      "`latency_e2e` = a producer paced at a fixed rate and a consumer reading at the same "
      "time; latency is measured from each message's *intended* send time (no coordinated "
      "omission), on the same clock, from a timestamp inside the payload.")
    for what in sorted({(nc["system"], nc["workload"], nc["config"]) for nc in not_comparable}):
        w(f"- {what[0]} {what[1]}: **not comparable**: {what[2]}")
    w("")

    w("## Results\n")
    w("Median of the runs, [min–max] when there are several. *Weir/peer*: Weir's value over "
      "the peer's, computed run by run (same repetition), then the median: higher is better "
      "for Weir on throughput, lower is better on latency (p99).\n")
    for wl in WORKLOADS:
        rs = [r for r in rows if r["workload"] == wl]
        if not rs:
            continue
        w(f"### {wl}\n")
        if charts.get(wl):
            w(f"![{wl}]({os.path.basename(charts[wl])})\n")
        if wl in THROUGHPUT:
            w("| System | Config | Msg B | Part. | msg/s | MB/s | Weir/peer | Notes |")
            w("|---|---|---|---|---|---|---|---|")
            for r in rs:
                notes = busy_note(r)
                if r["capped"]:
                    notes.append(f"capped: {fmt(r['msgs'], 0)} msgs")
                if r["failed"]:
                    notes.append(f"{r['failed']} run(s) failed")
                w(f"| {r['system']} | {r['config']} | {r['msg_bytes']} | {r['partitions']} | "
                  f"{fmt_rate(r)} | {fmt_rate(r, 'mb_per_s')} | {fmt_ratio(r, False)} | "
                  f"{'; '.join(notes)} |")
        else:
            w("| System | Config | Msg B | Part. | p50 µs | p99 µs | p99.9 µs | msg/s | "
              "Weir/peer (p99) | ack p50 / p99 / p99.9 µs | Notes |")
            w("|---|---|---|---|---|---|---|---|---|---|---|")
            for r in rs:
                ack = (f"{fmt(r['ack_p50_us'])} / {fmt(r['ack_p99_us'])} / "
                       f"{fmt(r['ack_p999_us'])}" if r.get("ack_p50_us") is not None else "–")
                notes = busy_note(r)
                if r["failed"]:
                    notes.append(f"{r['failed']} run(s) failed")
                notes = "; ".join(notes)
                w(f"| {r['system']} | {r['config']} | {r['msg_bytes']} | {r['partitions']} | "
                  f"{fmt_rate(r, 'p50_us')} | {fmt_rate(r, 'p99_us')} | "
                  f"{fmt_rate(r, 'p999_us')} | {fmt(r['msgs_per_s'], 0)} | "
                  f"{fmt_ratio(r, True)} | {ack} | {notes} |")
        w("")

    write_targets(L, rows, lim)
    write_raw_latency(L, rows, lim)
    write_weir_costs(L, rows, lim)
    write_issue3(L, rows, runner)
    write_issue4(L, rows)
    write_txn(L, rows)
    for name, text in runner.extra_outputs:
        w(f"## {name}\n")
        w("Output of `build/bench/" + name + "`, run by the bench runner:\n")
        w("```\n" + text.strip() + "\n```\n")
    if runner.notes or runner.failures:
        w("## Notes and failures\n")
        for n in runner.notes:
            w(f"- {n}")
        for what, detail in runner.failures:
            w(f"- **{what}**: " + detail.replace("\n", " / ")[:600])
        w("")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def write_targets(L, rows, lim):
    w = L.append
    w("## Targets (issue 7)\n")
    w("Weir ≥ 1.5× the best peer on every throughput row (Weir on 1 partition, as the peers), "
      "Weir's p99 ≤ the best peer's p99 on every latency row; fast publish of 1 KiB at ≥ 50% "
      "of min(loopback, disk).\n")
    w("| Row | Weir | Best peer | Ratio | Target | Met |\n|---|---|---|---|---|---|")
    for wl in WORKLOADS:
        for size in sorted({r["msg_bytes"] for r in rows if r["workload"] == wl}):
            for cls in ("durable", "fast"):
                weir = [r for r in rows if r["system"] == "weir" and r["workload"] == wl and
                        r["msg_bytes"] == size and r["cls"] == cls and r["partitions"] == 1 and
                        r["samples"]]
                bp = best_peer(rows, wl, size, cls)
                if not weir or not bp:
                    continue
                wr = weir[0]
                if wl in THROUGHPUT:
                    ratio = wr["msgs_per_s"] / bp["msgs_per_s"]
                    met = ratio >= 1.5
                    w(f"| {wl} {size} B ({cls}) | {fmt(wr['msgs_per_s'], 0)} msg/s | "
                      f"{bp['system']} ({bp['config']}) {fmt(bp['msgs_per_s'], 0)} | "
                      f"{ratio:.2f}× | ≥ 1.5× | {'yes' if met else '**no**'} |")
                else:
                    ratio = wr["p99_us"] / bp["p99_us"] if bp["p99_us"] else None
                    met = ratio is not None and ratio <= 1.0
                    w(f"| {wl} {size} B ({cls}) | p99 {fmt(wr['p99_us'])} µs | "
                      f"{bp['system']} ({bp['config']}) p99 {fmt(bp['p99_us'])} µs | "
                      f"{fmt(ratio, 2)}× | ≤ 1× | {'yes' if met else '**no**'} |")
    disk = (lim.get("write_nosync") or {}).get("with_final_sync_mb_per_s")
    loop = (lim.get("loopback") or {}).get("mb_per_s")
    fast1k = [r for r in rows if r["system"] == "weir" and r["workload"] == "fast_publish" and
              r["msg_bytes"] == 1024 and r["samples"]]
    if disk and loop and fast1k:
        limit = min(disk, loop)
        for r in fast1k:
            frac = r["mb_per_s"] / limit
            w(f"| fast_publish 1 KiB, {r['partitions']} part. vs min(loopback, disk) = "
              f"{limit:,.0f} MB/s | {r['mb_per_s']:,.1f} MB/s | – | {frac:.0%} | ≥ 50% | "
              f"{'yes' if frac >= 0.5 else '**no**'} |")
    w("")


def write_raw_latency(L, rows, lim):
    raw = [r for r in rows if r["workload"] == "latency_ack_raw" and r["samples"]]
    if not raw:
        return
    w = L.append
    w("## The broker's own share of latency_ack\n")
    w("librdkafka hands every message between threads twice on its way (the application "
      "thread to its broker thread, the delivery report back), and on this VM each hand-off "
      "to a sleeping core costs tens of microseconds; the peers' clients (hiredis, libnats, "
      "rabbitmq-c) answer on the calling thread. These rows send the same one-record "
      "ProduceRequest from a synchronous client on a blocking socket (bench_weir "
      "latency_ack_raw, encoded by hand, not with Weir's code), against the same broker in "
      "the same repetition: the round trip with no client-library threads in it.\n")
    rtt = lim.get("rtt")
    if rtt:
        w(f"The machine's floor, measured at the start of this run: a bare loopback round trip "
          f"of 100 bytes between two processes, p50 {rtt['p50_us']:.1f} µs, p99 "
          f"{rtt['p99_us']:.1f} µs.\n")
    w("| Msg B | Class | Weir, raw client p50 / p99 / p99.9 µs | Weir, librdkafka p50 / p99 µs "
      "| Best peer p50 / p99 µs | Raw p99 vs best peer |")
    w("|---|---|---|---|---|---|")
    for r in raw:
        lib = [x for x in rows if x["workload"] == "latency_ack" and x["system"] == "weir" and
               x["msg_bytes"] == r["msg_bytes"] and x["cls"] == r["cls"] and x["samples"]]
        bp = best_peer(rows, "latency_ack", r["msg_bytes"], r["cls"])
        libs = f"{fmt(lib[0]['p50_us'])} / {fmt(lib[0]['p99_us'])}" if lib else "–"
        bps = (f"{bp['system']} ({bp['config']}) {fmt(bp['p50_us'])} / {fmt(bp['p99_us'])}"
               if bp else "–")
        ratio = (f"{r['p99_us'] / bp['p99_us']:.2f}×" if bp and bp["p99_us"] and r["p99_us"]
                 else "–")
        w(f"| {r['msg_bytes']} | {r['cls']} ({r['config']}) | {fmt_rate(r, 'p50_us')} / "
          f"{fmt_rate(r, 'p99_us')} / {fmt_rate(r, 'p999_us')} | {libs} | {bps} | {ratio} |")
    w("")


def write_weir_costs(L, rows, lim):
    w = L.append
    w("## Weir against the machine, and what each workload cost the server\n")
    w("Server CPU = user+system time of the server process during the run (from /proc), "
      "peak RSS = VmHWM after resetting it before the run. Disk (no sync) is the 1 MiB "
      "write loop including one final fdatasync; disk (fdatasync) syncs every 1 MiB.\n")
    disk = (lim.get("write_nosync") or {}).get("with_final_sync_mb_per_s")
    dsync = (lim.get("write_fdatasync") or {}).get("mb_per_s")
    loop = (lim.get("loopback") or {}).get("mb_per_s")
    w("| System | Workload | Config | Msg B | Part. | MB/s | of disk (no sync) | "
      "of disk (fdatasync) | of loopback | server CPU s | CPU µs/msg | peak RSS MB |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if not r["samples"] or r["workload"] == "rebalance":
            continue
        tput = r["workload"] not in ("latency_ack", "latency_e2e", "latency_ack_raw")
        mb = r["mb_per_s"]
        n = r["msgs"]
        cpu = r["server_cpu_s"]
        per = cpu / n * 1e6 if cpu is not None and n else None

        # Only the limits a workload can hit: a consumer reads the page cache, not the disk;
        # a fast publish does not sync; a durable one does.
        applies = {"consume": {"loop"}, "fast_publish": {"disk", "loop"},
                   "durable_publish": {"dsync", "loop"},
                   "idempotent_publish": {"dsync", "loop"}}.get(r["workload"], set())

        def frac(limit, which, nd):
            return fmt(mb / limit * 100 if limit and tput and which in applies else None, nd,
                       "%")

        w(f"| {r['system']} | {r['workload']} | {r['config']} | {r['msg_bytes']} | "
          f"{r['partitions']} | {fmt(mb)} | {frac(disk, 'disk', 0)} | {frac(dsync, 'dsync', 0)} | "
          f"{frac(loop, 'loop', 1)} | {fmt(cpu, 2)} | {fmt(per, 2)} | "
          f"{fmt(r['server_peak_mb'])} |")
    w("")


def find(rows, workload, system="weir", size=100, parts=None, cls=None, config=None):
    for r in rows:
        if r["workload"] == workload and r["system"] == system and r["msg_bytes"] == size and \
                (parts is None or r["partitions"] == parts) and (cls is None or r["cls"] == cls) \
                and (config is None or config in r["config"]) and r["samples"]:
            return r
    return None


def verdict(ok):
    return "yes" if ok else "**no**"


def write_issue3(L, rows, runner):
    w = L.append
    w("## Issue 3: the Kafka-protocol broker (librdkafka, 100-byte messages)\n")
    w("| Measure | Part. | Result | Target | Met |\n|---|---|---|---|---|")
    for parts in runner.p["weir_partitions"]:
        for wl, target, label in (("fast_publish", 800_000, "produce acks=1"),
                                  ("durable_publish", 500_000, "produce acks=-1"),
                                  ("consume", 1_500_000, "consume")):
            r = find(rows, wl, parts=parts)
            if r:
                w(f"| {label} | {parts} | {fmt_rate(r)} msg/s, {fmt(r['mb_per_s'])} MB/s | "
                  f"≥ {target:,} msg/s | {verdict(r['msgs_per_s'] >= target)} |")
    for acks, target in ((1, 1000), (-1, 2000)):
        r = find(rows, "latency_e2e", parts=1, config=f"acks={acks},")
        if r and r.get("ack_p99_us") is not None:
            w(f"| produce latency at {runner.p['rate']:,} msg/s, acks={acks}, linger.ms=0: "
              f"p50 / p99 / p99.9 | 1 | {fmt(r['ack_p50_us'])} / {fmt(r['ack_p99_us'])} / "
              f"{fmt(r['ack_p999_us'])} µs | p99 ≤ {target} µs | "
              f"{verdict(r['ack_p99_us'] <= target)} |")
    idle = [x for x in runner.weir_idle if x.get("idle_rss_mb") is not None]
    if idle:
        rss = med([x["idle_rss_mb"] for x in idle])
        w(f"| broker idle RSS | – | {rss:.1f} MB | ≤ 20 MB | {verdict(rss <= 20)} |")
        per = [x["kib_per_conn"] for x in idle if x.get("kib_per_conn") is not None]
        if per:
            conns = idle[0].get("conns")
            crss = med([x["conns_rss_mb"] for x in idle if x.get("conns_rss_mb")])
            kib = med(per)
            w(f"| RSS with {conns} idle connections | – | {crss:.1f} MB, {kib:.1f} KiB per "
              f"connection | ≤ 16 KiB per connection | {verdict(kib <= 16)} |")
    w("")


def write_issue4(L, rows):
    w = L.append
    w("## Issue 4: consumer groups and the idempotent producer (100-byte messages)\n")
    w("| Measure | Result | Target |\n|---|---|---|")
    for members in (1, 3):
        r = find(rows, "group", config=f"{members} member")
        if r:
            w(f"| group of {members} over {r['partitions']} partitions, consume | "
              f"{fmt_rate(r)} msg/s (join {fmt(r['join_ms'], 0)} ms, "
              f"duplicates {fmt(r['duplicates'], 0)}) | – |")
    r = find(rows, "rebalance")
    if r:
        w(f"| one of 3 members leaves (LeaveGroup): until the others are reassigned | "
          f"{fmt_rate(r, 'leave_to_assign_ms')} ms | – |")
        w(f"| ... until every partition is consumed again | "
          f"{fmt_rate(r, 'leave_to_consume_ms')} ms | – |")
    for r in rows:
        if r["workload"] != "idempotent_publish" or r["system"] != "weir" or not r["samples"] \
                or "idempotence" not in r["config"]:
            continue
        plain = find(rows, "durable_publish", size=r["msg_bytes"], parts=r["partitions"])
        ctl = find(rows, "idempotent_publish", size=r["msg_bytes"], parts=r["partitions"],
                   config="max.in.flight=5")
        cost = (1 - r["msgs_per_s"] / plain["msgs_per_s"]) * 100 if plain else None
        w(f"| idempotent producer (acks=-1), {r['partitions']} part. | {fmt_rate(r)} msg/s vs "
          f"plain acks=-1 {fmt(plain['msgs_per_s'] if plain else None, 0)}: cost "
          f"{fmt(cost, 1, '%')} | ≤ 5% ({verdict(cost is not None and cost <= 5)}) |")
        if ctl:
            c2 = (1 - r["msgs_per_s"] / ctl["msgs_per_s"]) * 100
            w(f"| ... against plain acks=-1 with the same 5 requests in flight, "
              f"{r['partitions']} part. | {fmt_rate(ctl)} msg/s: idempotence itself costs "
              f"{fmt(c2, 1, '%')} | (control) |")
    w("")


def write_txn(L, rows):
    txn = [r for r in rows if r["workload"] in TXN_WORKLOADS and r["samples"]]
    if not txn:
        return
    w = L.append
    w("## Transactions (issue 13): Weir and Apache Kafka side by side\n")
    w("The same librdkafka driver against both brokers (bench_weir txn_publish / consume): 100-byte "
      "messages, one partition, acks=-1 (Weir syncs before answering; Kafka's topic has "
      "flush.messages=1, its __transaction_state keeps Kafka's defaults), linger.ms=5. "
      "*Weir/Kafka*: throughput Weir ÷ Kafka (above 1: Weir faster); commit latency Weir p99 ÷ "
      "Kafka p99 (below 1: Weir faster); *vs idempotent*: the system's transactional msg/s over "
      "its own idempotent producer's.\n")

    def pick(wl, system, cfg):
        for r in txn:
            if r["workload"] == wl and r["system"] == system and r["config"] == cfg:
                return r
        return None

    w("| Producer | Weir msg/s | Kafka msg/s | Weir/Kafka | Weir vs idempotent | "
      "Kafka vs idempotent |")
    w("|---|---|---|---|---|---|")
    cfgs = ["idempotent, no transaction"] + [f"{k} msg/txn" for k in TXN_SIZES]
    base = {s: pick("txn_publish", s, cfgs[0]) for s in ("weir", "kafka")}
    for cfg in cfgs:
        wr, kr = pick("txn_publish", "weir", cfg), pick("txn_publish", "kafka", cfg)

        def vs(r, s):
            b = base[s]
            if not (r and b and b["msgs_per_s"]):
                return "–"
            pct = r["msgs_per_s"] / b["msgs_per_s"] * 100
            return fmt(pct, 1 if pct >= 1 else 3, "%")
        cap = [f"{x['system']} capped" for x in (wr, kr) if x and x["capped"]]
        w(f"| {cfg}{' (' + ', '.join(cap) + ')' if cap else ''} | "
          f"{fmt_rate(wr) if wr else '–'} | {fmt_rate(kr) if kr else '–'} | "
          f"{fmt_ratio(kr, False) if kr else '–'} | {vs(wr, 'weir')} | {vs(kr, 'kafka')} |")
    w("")
    w("| commit_transaction latency | Weir p50 / p99 µs | Kafka p50 / p99 µs | Weir/Kafka (p99) |")
    w("|---|---|---|---|")
    for cfg in cfgs[1:]:
        wr, kr = pick("txn_commit", "weir", cfg), pick("txn_commit", "kafka", cfg)
        w(f"| {cfg} | {fmt_rate(wr, 'p50_us') + ' / ' + fmt_rate(wr, 'p99_us') if wr else '–'} | "
          f"{fmt_rate(kr, 'p50_us') + ' / ' + fmt_rate(kr, 'p99_us') if kr else '–'} | "
          f"{fmt_ratio(kr, True) if kr else '–'} |")
    w("")
    w("| Consumer of the 1000 msg/txn backlog | Weir msg/s | Kafka msg/s | Weir/Kafka |")
    w("|---|---|---|---|")
    for iso in ("read_committed", "read_uncommitted"):
        cfg = f"{iso}, {TXN_SIZES[-1]} msg/txn backlog"
        wr, kr = pick("txn_consume", "weir", cfg), pick("txn_consume", "kafka", cfg)
        w(f"| {iso} | {fmt_rate(wr) if wr else '–'} | {fmt_rate(kr) if kr else '–'} | "
          f"{fmt_ratio(kr, False) if kr else '–'} |")
    w("")


# ---- charts -----------------------------------------------------------------------------------

COLORS = {"weir": 0x1f77b4, "redis": 0xd62728, "nats": 0x2ca02c, "rabbitmq": 0xff7f0e,
          "kafka": 0x9467bd}


def charts(rows, stem, work):
    """One PNG per workload with gnuplot; returns {workload: path}."""
    if not shutil.which("gnuplot"):
        return {}
    out = {}
    for wl in WORKLOADS:
        rs = [r for r in rows if r["workload"] == wl and r["samples"]]
        if not rs:
            continue
        png = f"{stem}-{wl}.png"
        dat = os.path.join(work, f"{wl}.dat")
        gp = os.path.join(work, f"{wl}.gp")
        with open(dat, "w") as f:
            if wl in THROUGHPUT:
                f.write("label median min max color\n")
                for r in rs:
                    lab = f"{r['system']} {r['config'][:22]} {r['msg_bytes']}B p{r['partitions']}"
                    f.write(f"\"{lab}\" {r['msgs_per_s']:.0f} {r['msgs_per_s_min']:.0f} "
                            f"{r['msgs_per_s_max']:.0f} {COLORS[r['system']]}\n")
            else:
                f.write("label p50 p99 p999\n")
                for r in rs:
                    lab = f"{r['system']} {r['config'][:22]} {r['msg_bytes']}B p{r['partitions']}"
                    f.write(f"\"{lab}\" {r['p50_us']:.1f} {r['p99_us']:.1f} "
                            f"{r['p999_us']:.1f}\n")
        height = max(400, 28 * len(rs) + 150)
        with open(gp, "w") as f:
            f.write(f"set terminal pngcairo noenhanced size 1100,{height} font 'sans,9'\n")
            f.write(f"set output '{png}'\n")
            f.write("set style fill solid 0.8 border -1\n")
            f.write("set key outside bottom center horizontal\nset grid xtics\n")
            f.write("set ytics nomirror\nset datafile columnheaders\n")
            n = len(rs)
            f.write(f"set yrange [{n - 0.3}:-0.7]\n")  # reversed: first row on top
            if wl in THROUGHPUT:
                f.write(f"set title '{wl}: messages/s (median, bars min–max)'\n")
                f.write("set xlabel 'messages/s'\nset xrange [0:*]\n")
                f.write(f"plot '{dat}' using (0):0:(0):2:($0-0.35):($0+0.35):5:ytic(1) "
                        "with boxxyerror lc rgb variable title 'median (colour = system)', "
                        f"'' using 2:0:3:4 with xerrorbars lc rgb 'black' pt 0 title 'min–max'\n")
            else:
                f.write(f"set title '{wl}: latency µs (log scale)'\n")
                f.write("set xlabel 'microseconds'\nset logscale x\nset xrange [1:*]\n")
                f.write(f"plot '{dat}' using (1):0:(1):4:($0-0.35):($0-0.12):ytic(1) "
                        "with boxxyerror title 'p99.9', "
                        "'' using (1):0:(1):3:($0-0.11):($0+0.11) with boxxyerror title 'p99', "
                        "'' using (1):0:(1):2:($0+0.12):($0+0.35) with boxxyerror title 'p50'\n")
        cp = subprocess.run(["gnuplot", gp], capture_output=True, timeout=30)
        if cp.returncode == 0 and os.path.exists(png):
            out[wl] = png
        else:
            log(f"gnuplot failed for {wl}: {cp.stderr.decode()[-300:]}")
    return out


def print_table(rows):
    log("")
    log(f"{'workload':16} {'system':8} {'config':36} {'B':>5} {'P':>2} {'msg/s':>12} "
        f"{'MB/s':>8} {'p50us':>9} {'p99us':>9} {'p99.9us':>9} {'weir/peer':>9}")
    for r in rows:
        if r["workload"] not in WORKLOADS:
            continue
        lat = r["workload"] not in THROUGHPUT
        log(f"{r['workload']:16} {r['system']:8} {r['config'][:36]:36} {r['msg_bytes']:5} "
            f"{r['partitions']:2} {fmt(r['msgs_per_s'], 0):>12} {fmt(r['mb_per_s']):>8} "
            f"{fmt(r['p50_us'] if lat else None):>9} {fmt(r['p99_us'] if lat else None):>9} "
            f"{fmt(r['p999_us'] if lat else None):>9} {fmt(r['ratio'], 2):>9}")


# ---- main -------------------------------------------------------------------------------------

def raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--systems", default=None)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--build", default=os.environ.get("WEIR_BUILD", os.path.join(TOP, "build")))
    ap.add_argument("--weir-bin", default=os.environ.get("WEIR_BIN"))
    ap.add_argument("--schema-only", action="store_true",
                    help="only the schema validation rows, printed (no report written)")
    ap.add_argument("--sustained", action="store_true",
                    help="the sustained profile (bench/steady.py) instead of the comparison")
    ap.add_argument("--tail-latency", action="store_true",
                    help="paced acks=-1 produce, Weir beside librdkafka's mock broker")
    ap.add_argument("--steady", action="store_true", help="--sustained and --tail-latency")
    ap.add_argument("--volume-mb", type=int, default=None,
                    help="--sustained: MB written per row (default 16384, quick 1024)")
    ap.add_argument("--lat-variant", action="append", default=[],
                    help="--tail-latency: also a Weir broker with these settings (K=V[,K=V])")
    ap.add_argument("--eventstore-only", action="store_true",
                    help="only the event store rows, printed (no report written)")
    args = ap.parse_args()
    if os.environ.get("QUICK") not in (None, "", "0"):
        args.quick = True
    args.profile = "smoke" if args.smoke else "quick" if args.quick else "default"
    if args.steady:
        args.sustained = args.tail_latency = True
    if args.sustained or args.tail_latency:
        import steady
        out_dir = args.out or os.path.join(TOP, "bench", "results")
        os.makedirs(out_dir, exist_ok=True)
        work = tempfile.mkdtemp(prefix="weir-steady-", dir=os.environ.get("TMPDIR", "/tmp"))
        signal.signal(signal.SIGTERM, raise_interrupt)
        try:
            return steady.main(args, os.path.abspath(args.build), out_dir, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    prof = dict(PROFILES[args.profile])
    if args.reps:
        prof["reps"] = args.reps
    args.systems = (args.systems.split(",") if args.systems else
                    ["weir"] if args.smoke or args.schema_only or args.eventstore_only
                    else list(SYSTEMS))
    if "kafka" in args.systems and not args.smoke:
        # Kafka's block (its start-up, the driver rows, the perf tests) and the perf-test rows
        # against Weir: about 4 minutes a repetition by default, 100 s in the quick profile.
        prof["budget_s"] += {"default": 720, "quick": 100}[args.profile]
    for s in args.systems:
        if s not in SYSTEMS:
            sys.exit(f"unknown system {s}")
    out_dir = args.out or os.path.join(TOP, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    build = os.path.abspath(args.build)

    missing = [s for s in args.systems if s not in ("weir", "kafka") and
               not os.access(os.path.join(build, "bench", "peers", f"bench_{s}"), os.X_OK)]
    if missing:
        sys.exit(f"peer drivers not built: {', '.join(missing)} (run `make bench`, which builds "
                 "build/bench/peers/*)")
    work = tempfile.mkdtemp(prefix="weir-bench-", dir=os.environ.get("TMPDIR", "/tmp"))

    signal.signal(signal.SIGTERM, raise_interrupt)
    runner = Runner(args, prof, build, out_dir, work)
    ok = False
    try:
        runner.main()
        ok = True
    except KeyboardInterrupt:
        log("interrupted: stopping servers")
    finally:
        PROCS.stop_all()
    if args.schema_only or args.eventstore_only:
        shutil.rmtree(work, ignore_errors=True)
        for what, detail in runner.failures:
            log(f"failed: {what}: {detail}")
        return 0 if ok and not runner.failures else 1

    rows = aggregate(runner.runs)
    pair_ratios(rows)
    not_comparable = []
    if "nats" in args.systems:
        for size in prof["sizes"]:
            not_comparable.append(dict(
                workload="durable_publish", system="nats", msg_bytes=size,
                config="JetStream " + NatsServer.version().split()[-1] +
                       " has no setting to fsync every write (sync_interval came in 2.10)"))
    stamp = f"{datetime.date.today():%Y-%m-%d}-{socket.gethostname()}"
    stem = os.path.join(out_dir, stamp)
    pngs = {} if args.smoke else charts(rows, stem, work)
    report = stem + ".md"
    write_report(runner, rows, not_comparable, report, pngs)
    with open(os.path.join(out_dir, "latest.json" if not args.smoke else "smoke.json"), "w") as f:
        json.dump(json_rows(rows, not_comparable), f, indent=1)
        f.write("\n")
    print_table(rows)
    log(f"\nreport: {report}")
    if runner.failures:
        log(f"{len(runner.failures)} failure(s):")
        for what, detail in runner.failures:
            log(f"  {what}: {detail.splitlines()[0] if detail else ''}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok and not runner.failures else 1


if __name__ == "__main__":
    sys.exit(main())
