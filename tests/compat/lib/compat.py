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
TARGET = os.environ.get("WEIR_COMPAT_TARGET", "weir")
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the broker goes when this test dies


class Broker:
    """`weir serve` (or Kafka) on 127.0.0.1:0; .addr is host:port. restart() stops it and
    starts it again on the same data and port."""

    def __init__(self, name="b"):
        self.dir = tempfile.mkdtemp(prefix="weir-compat-py-")
        self.err = open(os.path.join(self.dir, "stderr"), "w")
        self.port = 0
        self._start()

    def _start(self):
        if TARGET == "kafka":
            cmd = [os.path.join(LIB, "kafka_oracle.sh"), "--dir", os.path.join(self.dir, "kafka"),
                   "--max-seconds", "1200"]
        else:
            cmd = [WEIR, "serve", "--data-dir", os.path.join(self.dir, "data"), "--listen",
                   "127.0.0.1:%d" % self.port, "--http-listen", "127.0.0.1:0",
                   "--set", "group.initial.rebalance.delay.ms=0"]
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
        os._exit(0 if self.failed == 0 else 1)


def eq(what, want, got):
    if want != got:
        raise AssertionError("%s: expected %r but was %r" % (what, want, got))
