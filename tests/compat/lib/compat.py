"""Shared by the Python tiers in tests/compat (run with the venv build/compat/venv/bin/python):
the broker under test on loopback with its own temp dir (Weir, or Apache Kafka when
WEIR_COMPAT_TARGET=kafka, through lib/kafka_oracle.sh), killed when the test ends, and TAP
cases with a deadline each."""
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LIB = os.path.dirname(os.path.abspath(__file__))
if LIB not in sys.path:
    sys.path.insert(0, LIB)
import apiprobe  # noqa: E402
TARGET = os.environ.get("WEIR_COMPAT_TARGET", "weir")
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


_brokers = []  # stopped (and their dirs removed) by Tap.done()


def _die_with_parent():
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the broker goes when this test dies


def skip(why):
    """The whole test is skipped: TAP plan 1..0 with the reason, exit 0."""
    print("1..0 # SKIP %s" % why, flush=True)
    os._exit(0)


class Broker:
    """`weir serve` (or Kafka) on 127.0.0.1:0; .addr is host:port. restart() stops it and
    starts it again on the same data and port.

    settings: ["k=v", ...] for both targets (`--set k=v` to Weir, server.properties lines for
    Kafka), plus the words of COMPAT_BROKER_SETTINGS; kafka_features: ["f=level", ...] Kafka is
    formatted with (e.g. transaction.version=1), plus COMPAT_KAFKA_FEATURES; require_api:
    (KEY, WHY) skips the whole test (skip()) when the broker does not advertise API KEY, a real
    ApiVersions probe (lib/apiprobe.py)."""

    def __init__(self, name="b", settings=(), kafka_features=(), require_api=None, _bare=False):
        if not _bare:
            settings = list(settings) + os.environ.get("COMPAT_BROKER_SETTINGS", "").split()
            kafka_features = list(kafka_features) + os.environ.get("COMPAT_KAFKA_FEATURES", "").split()
        if require_api and TARGET != "kafka" and settings:
            # Weir refuses settings it does not know, and a feature's settings are unknown
            # until the feature lands: probe a bare Weir first, so a missing feature skips.
            bare = Broker(name + "-probe", _bare=True)
            ok = require_api[0] in apiprobe.api_versions(bare.addr)
            bare.stop()
            if not ok:
                skip(require_api[1])
        self.settings = list(settings)
        self.kafka_features = list(kafka_features)
        self.dir = tempfile.mkdtemp(prefix="weir-compat-py-")
        self.err = open(os.path.join(self.dir, "stderr"), "w")
        self.port = 0
        self._start()
        _brokers.append(self)
        if require_api and require_api[0] not in apiprobe.api_versions(self.addr):
            self.stop()
            skip(require_api[1])

    def _start(self):
        if TARGET == "kafka":
            cmd = [os.path.join(LIB, "kafka_oracle.sh"), "--dir", os.path.join(self.dir, "kafka"),
                   "--max-seconds", "1200"]
            if self.port:
                cmd += ["--port", str(self.port)]
            for kv in self.settings:
                cmd += ["--set", kv]
            for kv in self.kafka_features:
                cmd += ["--feature", kv]
        else:
            cmd = [WEIR, "serve", "--data-dir", os.path.join(self.dir, "data"), "--listen",
                   "127.0.0.1:%d" % self.port, "--http-listen", "127.0.0.1:0",
                   "--set", "group.initial.rebalance.delay.ms=0"]
            for kv in self.settings:
                cmd += ["--set", kv]
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  preexec_fn=_die_with_parent)
        line = self.p.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError("%s broker did not start: %r" % (TARGET, line))
        self.addr = line.split()[-1]
        self.port = int(self.addr.rsplit(":", 1)[1])
        print("# %s broker on %s" % (TARGET, self.addr), flush=True)

    def _halt(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def restart(self):
        """A clean stop, then the same broker again (same data, same port); the stop's exit
        code."""
        rc = self._halt()
        self._start()
        return rc

    def stop(self):
        if self.err.closed:
            return
        self._halt()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def case(self, name, timeout_s=60):
        def deco(fn):
            box = {}

            def body():
                try:
                    fn()
                except BaseException:
                    box["err"] = traceback.format_exc()

            t0 = time.time()
            th = threading.Thread(target=body, daemon=True)
            th.start()
            th.join(timeout_s)
            err = "timed out after %ds" % timeout_s if th.is_alive() else box.get("err")
            self.n += 1
            ms = int((time.time() - t0) * 1000)
            if err is None:
                print("ok %d - %s # %d ms" % (self.n, name, ms), flush=True)
            else:
                self.failed += 1
                print("not ok %d - %s # %d ms" % (self.n, name, ms), flush=True)
                for line in err.strip().splitlines()[-12:]:
                    print("    # " + line, flush=True)
            return fn
        return deco

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.stdout.flush()
        for b in _brokers:
            try:
                b.stop()
            except Exception:  # the exit status is the cases' verdict, not the clean-up's
                pass
        os._exit(0 if self.failed == 0 else 1)


def eq(what, want, got):
    if want != got:
        raise AssertionError("%s: expected %r but was %r" % (what, want, got))
