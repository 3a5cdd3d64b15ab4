"""Malformed input over raw sockets against `weir serve` on port 0: negative, zero and huge frame
sizes; truncated frames; frames shorter than a header; unknown API keys; a bad CRC; array
counts of 2^31-1 in tiny frames for every API; strings longer than the frame; topic names with
'/', '..' and NUL; a decompression bomb; seeded random garbage. After each, a good client must
be answered normally, and memory must not grow with sizes that were only announced. TAP."""
import os
import random
import socket
import struct
import sys
import time
import traceback
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_wire  # noqa: E402
from kafka_wire import crc32c, s16, varint  # noqa: E402


def batch(payload_records, nrec, attrs=0, bad_crc=False):
    after = struct.pack(">hiqqqhii", attrs, nrec - 1, 1, 1, -1, -1, -1, nrec) + payload_records
    crc = crc32c(after) ^ (1 if bad_crc else 0)
    rest = struct.pack(">ibI", -1, 2, crc) + after
    return struct.pack(">qi", 0, len(rest)) + rest


def record(i, value):
    body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(value)) + value + varint(0)
    return varint(len(body)) + body


def hdr(key, ver, corr=7, client=b"bad-input"):
    return struct.pack(">hhi", key, ver, corr) + s16(client)


def frame(body):
    return struct.pack(">i", len(body)) + body


def Broker(*args):
    return kafka_wire.Broker(*args, prefix="weir-test-bad-")


def connect(b):
    s = socket.create_connection(b.hp, timeout=5)
    return s


def read_frame(s):
    def rd(n):
        d = b""
        while len(d) < n:
            x = s.recv(n - len(d))
            if not x:
                raise EOFError
            d += x
        return d
    n = struct.unpack(">i", rd(4))[0]
    return rd(n)


def closed_by_broker(s, timeout=5):
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def good_client_ok(b):
    """A fresh client gets ApiVersions and Metadata answered."""
    s = connect(b)
    s.sendall(frame(hdr(18, 0, 1)) + frame(hdr(3, 1, 2) + struct.pack(">i", -1)))
    r1, r2 = read_frame(s), read_frame(s)
    s.close()
    return r1[:4] == b"\x00\x00\x00\x01" and r1[4:6] == b"\x00\x00" and r2[:4] == b"\x00\x00\x00\x02"


tap = kafka_wire.Tap()


def check(name, fn):
    try:
        ok = fn()
        ok = ok and good_client_ok(B)
    except Exception:
        traceback.print_exc()
        ok = False
    tap(ok, name)


B = None


def sizes():
    ok = True
    for raw in [b"\xff\xff\xff\xff", b"\x80\x00\x00\x00", b"\x00\x00\x00\x00",
                b"\x7f\xff\xff\xff", struct.pack(">i", 200 << 20)]:
        s = connect(B)
        s.sendall(raw + b"x" * 16)
        ok &= closed_by_broker(s)
        s.close()
    return ok


def announced_not_allocated():
    """20 connections announce 100 MiB - 1 frames and send 64 KiB each: the broker's memory
    follows the bytes received, not the sizes announced."""
    before = B.rss_kb()
    socks = []
    for _ in range(20):
        s = connect(B)
        s.sendall(struct.pack(">i", (100 << 20) - 1) + b"\x00" * 65536)
        socks.append(s)
    time.sleep(0.5)
    grown = B.rss_kb() - before
    ok = good_client_ok(B)
    for s in socks:
        s.close()
    print("  # rss grew %d KiB for 20 x 100 MiB announced" % grown)
    return ok and grown < 40 * 1024


def truncated():
    ok = True
    s = connect(B)  # half a frame, then hang up
    s.sendall(struct.pack(">i", 100) + hdr(18, 0))
    s.close()
    s = connect(B)  # half a frame, kept open: others are not held up
    s.sendall(struct.pack(">i", 100) + hdr(18, 0))
    ok &= good_client_ok(B)
    s.close()
    for body in [b"\x00", b"\x00\x12", b"\x00\x12\x00\x00", b"\x00\x12\x00\x00\x00\x00\x00"]:
        s = connect(B)  # shorter than a request header
        s.sendall(frame(body))
        ok &= closed_by_broker(s)
        s.close()
    return ok


def unknown_keys():
    ok = True
    for key, ver in [(-1, 0), (99, 0), (32767, 0), (8, 0), (0, 2), (1, 3), (3, 9), (18, -1)]:
        s = connect(B)
        s.sendall(frame(hdr(key, ver)))
        ok &= closed_by_broker(s)
        s.close()
    return ok


def huge_counts():
    """Every advertised API and version, with a body that is one count of 2^31-1: the
    connection is closed (or, for bodies the API ignores, answered), never an allocation."""
    ok = True
    apis = {0: range(3, 9), 1: range(4, 12), 2: range(0, 6), 3: range(0, 9), 18: range(0, 3),
            19: range(0, 5), 20: range(0, 4), 21: range(0, 2), 32: range(0, 3),
            33: range(0, 2), 37: range(0, 2), 44: range(0, 1)}
    for key, vers in apis.items():
        for v in vers:
            s = connect(B)
            body = hdr(key, v)
            if key == 0:
                body += struct.pack(">hhi", -1, 1, 1000)
            elif key == 1:
                body += struct.pack(">iiiib", -1, 0, 1, 100, 0) + (b"\0" * 8 if v >= 7 else b"")
            elif key == 2:
                body += struct.pack(">i", -1) + (b"\0" if v >= 2 else b"")
            body += b"\x7f\xff\xff\xff"
            s.sendall(frame(body))
            if key == 18:
                r = read_frame(s)
                ok &= r[:4] == struct.pack(">i", 7)
            else:
                c = closed_by_broker(s)
                if not c:
                    print("  # api %d v%d not closed" % (key, v))
                ok &= c
            s.close()
    # and the 8-byte frame of the issue: a header with no room for anything
    s = connect(B)
    s.sendall(frame(struct.pack(">hhi", 3, 1, 7) + b"\x7f\xff\xff\xff"))
    ok &= closed_by_broker(s)
    s.close()
    return ok


def long_strings():
    ok = True
    cases = [
        hdr(3, 1) + struct.pack(">i", 1) + struct.pack(">h", 32767) + b"abc",  # topic name
        struct.pack(">hhi", 18, 0, 7) + struct.pack(">h", 30000) + b"cl",  # client_id
        hdr(19, 1) + struct.pack(">i", 1) + struct.pack(">h", 1000) + b"t",
        hdr(0, 8) + struct.pack(">h", 500) + b"tx",  # transactional_id
        hdr(0, 8) + struct.pack(">hhi", -1, 1, 100) + struct.pack(">i", 1) + s16("t") +
        struct.pack(">ii", 1, 0) + struct.pack(">i", 1 << 30) + b"rec",  # RECORDS length
    ]
    for body in cases:
        s = connect(B)
        s.sendall(frame(body))
        ok &= closed_by_broker(s)
        s.close()
    return ok


def bad_crc():
    s = connect(B)
    s.sendall(frame(hdr(3, 1, 1) + struct.pack(">i", 1) + s16("bad-crc")))
    read_frame(s)
    recs = batch(record(0, b"v"), 1, bad_crc=True)
    body = hdr(0, 8, 2) + struct.pack(">hhi", -1, 1, 1000) + struct.pack(">i", 1) + \
        s16("bad-crc") + struct.pack(">ii", 1, 0) + struct.pack(">i", len(recs)) + recs
    s.sendall(frame(body))
    r = read_frame(s)
    s.close()
    # corr, [topic], [partition], index, error
    off = 4 + 4 + 2 + len("bad-crc") + 4 + 4
    return struct.unpack(">h", r[off:off + 2])[0] == 2


def topic_names():
    ok = True
    for name in [b"a/b", b"..", b".", b"../escape", b"nul\x00byte", b"x" * 250, b"", b"sp ace"]:
        s = connect(B)
        body = hdr(19, 2) + struct.pack(">i", 1) + s16(name) + struct.pack(">ih", 1, 1) + \
            struct.pack(">ii", 0, 0) + struct.pack(">ib", 1000, 0)
        s.sendall(frame(body))
        r = read_frame(s)
        # corr, throttle, array 1, name, error
        off = 4 + 4 + 4 + 2 + len(name)
        err = struct.unpack(">h", r[off:off + 2])[0]
        ok &= err == 17
        if err != 17:
            print("  # %r -> %d" % (name, err))
        s.sendall(frame(hdr(3, 1) + struct.pack(">i", 1) + s16(name)))
        r = read_frame(s)
        s.close()
    parent = os.path.dirname(B.data)
    ok &= sorted(os.listdir(parent)) == ["data", "stderr"]
    ok &= not any(e.startswith("a") or "escape" in e for e in os.listdir(B.data))
    return ok


def bomb():
    """A gzip batch that inflates past weir.max.decompressed.bytes (1 MiB here): refused
    with INVALID_RECORD, nothing appended."""
    s = connect(B)
    s.sendall(frame(hdr(3, 1, 1) + struct.pack(">i", 1) + s16("bomb")))
    read_frame(s)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    payload = comp.compress(b"\x00" * (8 << 20)) + comp.flush()
    recs = batch(payload, 1, attrs=1)
    body = hdr(0, 8, 2) + struct.pack(">hhi", -1, 1, 1000) + struct.pack(">i", 1) + \
        s16("bomb") + struct.pack(">ii", 1, 0) + struct.pack(">i", len(recs)) + recs
    s.sendall(frame(body))
    r = read_frame(s)
    s.close()
    off = 4 + 4 + 2 + 4 + 4 + 4
    err = struct.unpack(">h", r[off:off + 2])[0]
    print("  # bomb of %d bytes -> error %d" % (len(payload), err))
    return err == 87


def garbage():
    rnd = random.Random(1234)
    for i in range(300):
        s = connect(B)
        key = rnd.choice([0, 1, 2, 3, 18, 19, 20, 21, 32, 33, 37, 44, rnd.randrange(-5, 200)])
        ver = rnd.randrange(-1, 13)
        body = struct.pack(">hhi", key, ver, i) + bytes(rnd.randrange(256) for _ in
                                                          range(rnd.randrange(0, 300)))
        s.sendall(frame(body))
        s.settimeout(2)
        try:
            s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
    return B.p.poll() is None


def limits():
    """max.connections caps open connections; connections.max.idle.ms closes idle ones."""
    b = Broker("--set", "max.connections=3", "--set", "connections.max.idle.ms=500")
    try:
        socks = [connect(b) for _ in range(3)]
        for s in socks:
            s.sendall(frame(hdr(18, 0, 1)))
            read_frame(s)
        extra = connect(b)
        over = closed_by_broker(extra, timeout=2)
        extra.close()
        t0 = time.time()
        idle_closed = all(closed_by_broker(s, timeout=5) for s in socks)
        dt = time.time() - t0
        for s in socks:
            s.close()
        print("  # 4th connection closed: %s; idle closed after %.2f s" % (over, dt))
        return over and idle_closed and dt < 3 and good_client_ok(b)
    finally:
        b.stop()
        b.cleanup()


def main():
    global B
    B = Broker("--set", "weir.max.decompressed.bytes=1048576")
    try:
        check("frame sizes negative, zero, 2^31-1 and above socket.request.max.bytes: closed",
              sizes)
        check("announced 100 MiB frames allocate only what arrives", announced_not_allocated)
        check("truncated frames and frames shorter than a header", truncated)
        check("unknown API keys and unsupported versions: closed", unknown_keys)
        check("array counts of 2^31-1 in tiny frames, every API and version", huge_counts)
        check("strings and RECORDS longer than the frame: closed", long_strings)
        check("bad CRC: CORRUPT_MESSAGE", bad_crc)
        check("topic names with '/', '..', NUL, too long: INVALID_TOPIC_EXCEPTION, no dirs",
              topic_names)
        check("decompression bomb: INVALID_RECORD", bomb)
        check("300 frames of seeded random garbage", garbage)
        check("max.connections and connections.max.idle.ms", limits)
    finally:
        rc = B.stop()
        tap(rc == 0, "broker still exits cleanly on SIGTERM")
        B.cleanup()
    tap.finish()


if __name__ == "__main__":
    main()
