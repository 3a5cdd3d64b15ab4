"""What the raw-socket broker tests (test_broker_protocol.py, test_broker_badinput.py) share:
the weir binary under test, CRC-32C and zig-zag varints for record batches, Kafka's int16
strings and int32 arrays, a `weir serve` on 127.0.0.1:0 with its own temp data dir, and TAP
counting.

A package (a folder) rather than kafka_wire.py because tests/run.sh runs every *.py in
tests/integration as a test. Import it with the folder of the test on sys.path."""
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))

# ---- record batch checksums and varints -------------------------------------------------------

_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = _T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(v):
    v = (v << 1) ^ (v >> 63)
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7


def s16(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack(">h", len(x)) + x


def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


# ---- flexible versions (KIP-482): unsigned varints, compact strings and arrays, tags ----------

def uvarint(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7


def cstr(x):
    """COMPACT_STRING (None: null)."""
    if x is None:
        return b"\x00"
    x = x.encode() if isinstance(x, str) else x
    return uvarint(len(x) + 1) + x


def carr(items):
    """COMPACT_ARRAY (None: null)."""
    if items is None:
        return b"\x00"
    return uvarint(len(items) + 1) + b"".join(items)


TAGS = b"\x00"  # an empty tagged-field section


# ---- the broker -------------------------------------------------------------------------------

class Broker:
    """`weir serve` on 127.0.0.1:0 (no HTTP listener) with a fresh temp dir; args are extra
    flags. Raises RuntimeError, leaving nothing behind, when it does not say where it listens.
    stop() (or terminate() then wait()) ends it; cleanup() removes the dir."""

    def __init__(self, *args, prefix="weir-test-", data=None):
        """data: the data dir of an earlier Broker to start on (a restart): its dir is reused,
        so the last one's cleanup() removes everything; default a fresh dir."""
        self.dir = os.path.dirname(data) if data else tempfile.mkdtemp(prefix=prefix)
        self.data = data or os.path.join(self.dir, "data")
        self.err = open(os.path.join(self.dir, "stderr"), "a")
        self.p = subprocess.Popen([WEIR, "serve", "--data-dir", self.data, "--listen",
                                   "127.0.0.1:0", "--http-listen", "off"] + list(args),
                                  stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("listening on "):
            self.p.kill()
            self.p.wait()
            self.err.close()
            self.cleanup()
            raise RuntimeError("broker did not start: %r" % line)
        self.addr = line.split()[-1]
        h, p = self.addr.rsplit(":", 1)
        self.hp = (h, int(p))

    def rss_kb(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def terminate(self):
        self.p.send_signal(signal.SIGTERM)

    def wait(self):
        """The exit code; killed after 30 s."""
        try:
            rc = self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.err.close()
        return rc

    def stop(self):
        self.terminate()
        return self.wait()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- TAP --------------------------------------------------------------------------------------

class Tap:
    """tap(ok, name) prints "ok N - name" / "not ok N - name"; finish() prints the plan and
    exits 1 if anything failed."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def __call__(self, ok, name):
        self.n += 1
        self.failed += 0 if ok else 1
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, name), flush=True)

    def finish(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)
