"""The Kafka protocol at the byte level, against `weir serve` on port 0, with exact error codes:
ApiVersions (v0-v3, the KIP-511 fallback), pipelining, Metadata list semantics by version and
auto-creation, Produce errors (CRC, magic 0/1, invalid records, zstd below v7, acks, unknown
topic, acks=0 without a response), Fetch (out of range, at the high watermark, KIP-74, zstd
below v10), ListOffsets v0/v1/v5, DeleteRecords, and unknown keys/versions. TAP."""
import os
import socket
import struct
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_wire  # noqa: E402
from kafka_wire import arr, crc32c, s16, varint  # noqa: E402

# ---- record batches -------------------------------------------------------------------------


def record(i, value, ts_delta=0, key=None):
    body = b"\x00" + varint(ts_delta) + varint(i)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(len(value)) + value + varint(0)
    return varint(len(body)) + body


def batch(values, ts=1600000000000, attrs=0, count=None, magic=2, bad_crc=False, recs=None):
    if recs is None:
        recs = b"".join(record(i, v, i) for i, v in enumerate(values))
    n = len(values) if count is None else count
    after_crc = struct.pack(">hiqqqhii", attrs, len(values) - 1, ts, ts + len(values) - 1, -1,
                            -1, -1, n) + recs
    crc = crc32c(after_crc) ^ (1 if bad_crc else 0)
    rest = struct.pack(">ibI", -1, magic, crc) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


# ---- a raw client -----------------------------------------------------------------------------

class R:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        assert len(v) == n, "short response"
        self.p += n
        return v

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def uvar(self):
        v = s = 0
        while True:
            x = self.take(1)[0]
            v |= (x & 0x7F) << s
            s += 7
            if x < 0x80:
                return v

    def str(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def left(self): return len(self.b) - self.p


class Conn:
    def __init__(self, addr):
        h, p = addr.rsplit(":", 1)
        self.s = socket.create_connection((h, int(p)), timeout=10)
        self.corr = 100

    def send(self, key, ver, body, flex=False):
        self.corr += 1
        hdr = struct.pack(">hhi", key, ver, self.corr) + s16("proto-test")
        if flex:
            hdr += b"\x00"
        m = hdr + body
        self.s.sendall(struct.pack(">i", len(m)) + m)
        return self.corr

    def recv(self, corr=None):
        n = struct.unpack(">i", self._read(4))[0]
        d = self._read(n)
        got = struct.unpack(">i", d[:4])[0]
        if corr is not None:
            assert got == corr, (got, corr)
        return R(d[4:])

    def _read(self, n):
        d = b""
        while len(d) < n:
            x = self.s.recv(n - len(d))
            if not x:
                raise EOFError("connection closed")
            d += x
        return d

    def req(self, key, ver, body, flex=False):
        return self.recv(self.send(key, ver, body, flex))

    def closed(self):
        """True if the broker closed the connection."""
        try:
            self.s.settimeout(5)
            return self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.s.close()


def produce_body(topic, part, records, acks=1, timeout=5000, ver=3):
    txn = struct.pack(">h", -1) if ver >= 3 else b""
    return (txn + struct.pack(">hi", acks, timeout) +
            arr([s16(topic) + arr([struct.pack(">i", part) + struct.pack(">i", len(records)) +
                                   records])]))


def produce(c, ver, topic, part, records, acks=1):
    r = c.req(0, ver, produce_body(topic, part, records, acks, ver=ver))
    assert r.i32() == 1 and r.str() == topic and r.i32() == 1
    assert r.i32() == part
    err, base = r.i16(), r.i64()
    lat = r.i64() if ver >= 2 else None
    lso = r.i64() if ver >= 5 else None
    msg = None
    if ver >= 8:
        assert r.i32() == 0
        msg = r.str()
    if ver >= 1:
        assert r.i32() == 0  # throttle
    assert r.left() == 0
    return err, base, lat, lso, msg


def message_set_v0(value):
    """One magic-0 message (offset, size, crc, magic, attributes, key, value), as Produce v0-v2
    carry them: CRC-32 (IEEE) over magic..end."""
    import zlib
    body = struct.pack(">bb", 0, 0) + struct.pack(">i", -1) + struct.pack(">i", len(value)) + value
    msg = struct.pack(">I", zlib.crc32(body)) + body
    return struct.pack(">qi", 0, len(msg)) + msg




def fetch_body(ver, parts, max_bytes=1 << 20, wait=0, min_bytes=1, iso=0):
    b = struct.pack(">iiii", -1, wait, min_bytes, max_bytes) + struct.pack(">b", iso)
    if ver >= 7:
        b += struct.pack(">ii", 0, -1)
    topics = {}
    for t, p, off, pmax in parts:
        topics.setdefault(t, []).append((p, off, pmax))
    items = []
    for t, ps in topics.items():
        pl = []
        for p, off, pmax in ps:
            x = struct.pack(">i", p)
            if ver >= 9:
                x += struct.pack(">i", -1)
            x += struct.pack(">q", off)
            if ver >= 5:
                x += struct.pack(">q", -1)
            pl.append(x + struct.pack(">i", pmax))
        items.append(s16(t) + arr(pl))
    b += arr(items)
    if ver >= 7:
        b += arr([])
    if ver >= 11:
        b += s16("")
    return b


def fetch(c, ver, parts, **kw):
    r = c.req(1, ver, fetch_body(ver, parts, **kw))
    assert r.i32() == 0
    top_err = r.i16() if ver >= 7 else 0
    if ver >= 7:
        r.i32()
    out = []
    for _ in range(r.i32()):
        t = r.str()
        for _ in range(r.i32()):
            p, err, hwm, lso = r.i32(), r.i16(), r.i64(), r.i64()
            lstart = r.i64() if ver >= 5 else None
            na = r.i32()
            for _ in range(max(na, 0)):
                r.i64(), r.i64()
            pref = r.i32() if ver >= 11 else None
            recs = r.bytes()
            out.append(dict(topic=t, part=p, err=err, hwm=hwm, lso=lso, start=lstart,
                            pref=pref, records=recs))
    assert r.left() == 0
    return top_err, out


def batches(recs):
    """(base offset, last offset, attributes) of each batch in a RECORDS blob."""
    out, p = [], 0
    while p + 61 <= len(recs):
        base, ln = struct.unpack(">qi", recs[p:p + 12])
        attrs, lod = struct.unpack(">hi", recs[p + 21:p + 27])
        out.append((base, base + lod, attrs))
        p += 12 + ln
    return out


def metadata(c, ver, topics, auto=True):
    if topics is None:
        body = struct.pack(">i", -1)
    else:
        body = arr([s16(t) for t in topics])
    if ver >= 4:
        body += struct.pack(">b", 1 if auto else 0)
    if ver >= 8:
        body += b"\x00\x00"
    r = c.req(3, ver, body)
    if ver >= 3:
        r.i32()
    brokers = []
    for _ in range(r.i32()):
        b = (r.i32(), r.str(), r.i32())
        if ver >= 1:
            r.str()
        brokers.append(b)
    cluster = r.str() if ver >= 2 else None
    controller = r.i32() if ver >= 1 else None
    topics_out = {}
    for _ in range(r.i32()):
        err, name = r.i16(), r.str()
        internal = r.i8() if ver >= 1 else None
        parts = []
        for _ in range(r.i32()):
            perr, idx, leader = r.i16(), r.i32(), r.i32()
            if ver >= 7:
                r.i32()
            reps = [r.i32() for _ in range(r.i32())]
            isr = [r.i32() for _ in range(r.i32())]
            if ver >= 5:
                [r.i32() for _ in range(r.i32())]
            parts.append((perr, idx, leader, reps, isr))
        if ver >= 8:
            r.i32()
        topics_out[name] = (err, parts, internal)
    if ver >= 8:
        r.i32()
    assert r.left() == 0
    return brokers, cluster, controller, topics_out


# ---- the tests ----------------------------------------------------------------------------------

tap = kafka_wire.Tap()


TESTS = []


def case(name):
    def deco(fn):
        def run(addr):
            try:
                fn(addr)
                tap(True, name)
            except Exception:
                traceback.print_exc()
                tap(False, name)
        TESTS.append(run)
        return run
    return deco


def api_versions_entries(r, flex):
    ents = {}
    cnt = r.uvar() - 1 if flex else r.i32()
    for _ in range(cnt):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        if flex:
            assert r.uvar() == 0
        ents[k] = (lo, hi)
    return ents


# Kafka 4's floors (KIP-896) and at least the ceilings issue 12 asks for.
WANT_APIS = {0: (0, 11), 1: (4, 16), 2: (1, 10), 3: (0, 13), 18: (0, 4), 19: (2, 7), 20: (1, 6),
             21: (0, 2), 23: (2, 4), 32: (1, 4), 33: (0, 2), 35: (1, 4), 37: (0, 3), 43: (0, 2),
             44: (0, 1), 45: (0, 0), 46: (0, 0), 60: (0, 2), 75: (0, 0)}


@case("ApiVersions v0, v1, v2 and v3 (flexible) advertise exactly the implemented ranges")
def t_api_versions(addr):
    c = Conn(addr)
    for v in range(3):
        r = c.req(18, v, b"")
        assert r.i16() == 0
        ents = api_versions_entries(r, False)
        for k, rng in WANT_APIS.items():
            assert ents[k] == rng, (k, ents.get(k))
        if v >= 1:
            assert r.i32() == 0
        assert r.left() == 0
    body = b"\x05weir\x041.0\x00"  # compact strings + empty tags
    r = c.req(18, 3, body, flex=True)  # response header stays v0: no tag byte
    assert r.i16() == 0
    ents = api_versions_entries(r, True)
    assert ents[18] == (0, 4) and ents[1] == (4, 16), ents
    assert r.i32() == 0 and r.uvar() == 0 and r.left() == 0
    c.close()


@case("KIP-511: ApiVersions v9 gets a v0-format UNSUPPORTED_VERSION answer with key 18")
def t_kip511(addr):
    c = Conn(addr)
    r = c.req(18, 9, b"\x01\x02garbage body", flex=True)
    assert r.i16() == 35
    ents = api_versions_entries(r, False)
    assert ents[18] == (0, 4)
    assert r.left() == 0
    r = c.req(18, 0, b"")  # and the connection still works
    assert r.i16() == 0
    c.close()


@case("kafka-python's probe: ApiVersions v0 and Metadata v0 pipelined, answered in order")
def t_pipelined(addr):
    c = Conn(addr)
    c1 = c.send(18, 0, b"")
    c2 = c.send(3, 0, arr([]))
    c3 = c.send(18, 1, b"")
    assert c.recv(c1).i16() == 0
    c.recv(c2)
    assert c.recv(c3).i16() == 0
    c.close()


@case("Metadata: v0 empty = all, v1 null = all and empty = none, one broker, stable cluster id")
def t_metadata_lists(addr):
    c = Conn(addr)
    brokers, cluster, ctrl, topics = metadata(c, 1, ["md-a", "md-b"])
    assert topics["md-a"][0] == 0 and len(topics["md-a"][1]) == 1
    host, port = addr.rsplit(":", 1)
    assert brokers == [(1, host, int(port))], brokers
    assert ctrl == 1
    _, _, _, all0 = metadata(c, 0, [])
    assert "md-a" in all0 and "md-b" in all0
    _, _, _, all1 = metadata(c, 1, None)
    assert set(all0) == set(all1)
    _, _, _, none1 = metadata(c, 1, [])
    assert none1 == {}
    _, c1, _, _ = metadata(c, 2, ["md-a"])
    _, c2, _, t8 = metadata(c, 8, ["md-a"])
    assert c1 == c2 and c1 and len(c1) == 22
    err, parts, internal = t8["md-a"]
    assert parts == [(0, 0, 1, [1], [1])] and internal == 0
    c.close()


@case("Metadata: allow_auto_topic_creation=false -> UNKNOWN_TOPIC_OR_PARTITION; bad names -> 17")
def t_metadata_errors(addr):
    c = Conn(addr)
    _, _, _, t = metadata(c, 4, ["md-noauto"], auto=False)
    assert t["md-noauto"][0] == 3 and t["md-noauto"][1] == []
    _, _, _, t = metadata(c, 1, ["md-noauto"])  # v1-v3 always allow it: created now
    assert t["md-noauto"][0] == 0 and len(t["md-noauto"][1]) == 1
    for bad in ["a/b", "..", ".", "x" * 250, "nul\x00"]:
        _, _, _, t = metadata(c, 1, [bad])
        assert t[bad][0] == 17, (bad, t[bad])
    _, _, _, t = metadata(c, 1, ["x" * 249])
    assert t["x" * 249][0] == 0
    c.close()


@case("Produce v3..v8: offsets, log_append_time -1, log_start_offset; the batch is readable")
def t_produce_ok(addr):
    c = Conn(addr)
    metadata(c, 1, ["pr-ok"])
    for i, v in enumerate(range(3, 9)):
        err, base, lat, lso, msg = produce(c, v, "pr-ok", 0, batch([b"a", b"b"]))
        assert (err, base, lat) == (0, 2 * i, -1), (v, err, base, lat)
        if v >= 5:
            assert lso == 0
        if v >= 8:
            assert msg is None
    _, parts = fetch(c, 11, [("pr-ok", 0, 0, 1 << 20)])
    assert parts[0]["err"] == 0 and parts[0]["hwm"] == 12 and parts[0]["lso"] == 12
    assert parts[0]["start"] == 0 and parts[0]["pref"] == -1
    assert [b[:2] for b in batches(parts[0]["records"])] == [(2 * i, 2 * i + 1) for i in range(6)]
    c.close()


@case("Produce errors: CRC 2, magic 1 43, bad records 87/2, zstd < v7 76, acks 21, unknown 3")
def t_produce_errors(addr):
    c = Conn(addr)
    metadata(c, 1, ["pr-err"])
    assert produce(c, 8, "pr-err", 0, batch([b"x"], bad_crc=True))[0] == 2
    assert produce(c, 8, "pr-err", 0, batch([b"x"], magic=1))[0] == 43
    assert produce(c, 8, "pr-err", 0, batch([b"x"], magic=0))[0] == 43
    err, _, _, _, msg = produce(c, 8, "pr-err", 0, batch([b"x", b"y"], count=3))
    assert err in (2, 87) and msg, (err, msg)  # count vs lastOffsetDelta: a header check
    recs = record(0, b"x") + record(5, b"y")  # offset deltas must be 0..n-1
    err, _, _, _, msg = produce(c, 8, "pr-err", 0, batch([b"x", b"y"], recs=recs))
    assert err == 87 and msg, (err, msg)
    assert produce(c, 7, "pr-err", 0, batch([b"x", b"y"], recs=recs))[0] == 2
    assert produce(c, 6, "pr-err", 0, batch([b"x"], attrs=4))[0] == 76
    assert produce(c, 8, "pr-err", 0, batch([b"x"], attrs=7))[0] == 76
    assert produce(c, 8, "pr-err", 0, batch([b"x"]), acks=2)[0] == 21
    assert produce(c, 8, "pr-none", 0, batch([b"x"]))[0] == 3
    assert produce(c, 8, "pr-err", 7, batch([b"x"]))[0] == 3
    assert produce(c, 8, "pr-err", 0, batch([b"x"]) + b"\x00\x01")[0] == 2  # trailing junk
    assert produce(c, 8, "pr-err", 0, b"")[0] == 87
    # nothing of the above was appended
    _, parts = fetch(c, 11, [("pr-err", 0, 0, 1 << 20)])
    assert parts[0]["hwm"] == 0 and parts[0]["records"] == b""
    c.close()


@case("Produce v0..v2 (advertised for librdkafka's codec check, as Kafka 4 does): the "
      "connection is closed, nothing stored")
def t_produce_old_versions(addr):
    c = Conn(addr)
    metadata(c, 1, ["pr-old"])
    c.close()
    for v in (0, 1, 2):
        c = Conn(addr)
        c.send(0, v, produce_body("pr-old", 0, batch([b"new"]), ver=v))
        assert c.closed(), v
        c.close()
    c = Conn(addr)
    assert produce(c, 3, "pr-old", 0, message_set_v0(b"x"))[0] == 43  # v3+: magic 0/1 sets
    _, parts = fetch(c, 11, [("pr-old", 0, 0, 1 << 20)])
    assert parts[0]["hwm"] == 0 and parts[0]["records"] == b""
    c.close()


@case("internal topics: listed with is_internal, clients may not produce to them (17)")
def t_internal(addr):
    c = Conn(addr)
    _, _, _, t = metadata(c, 1, None)
    assert t["__consumer_offsets"][2] == 1, t.get("__consumer_offsets")
    internal = ("__consumer_offsets", "__transaction_state")
    assert t.get("__transaction_state", (0, 0, 1))[2] == 1, t.get("__transaction_state")
    assert all(v[2] == 0 for k, v in t.items() if k not in internal)
    assert produce(c, 8, "__consumer_offsets", 0, batch([b"x"]))[0] == 17
    if "__transaction_state" in t:
        assert produce(c, 8, "__transaction_state", 0, batch([b"x"]))[0] == 17
    c.close()


@case("Produce acks=0: no response at all; the next request is answered with its own id")
def t_produce_acks0(addr):
    c = Conn(addr)
    metadata(c, 1, ["pr-a0"])
    c.send(0, 8, produce_body("pr-a0", 0, batch([b"q"]), acks=0))
    cid = c.send(18, 0, b"")
    assert c.recv(cid).i16() == 0
    _, parts = fetch(c, 4, [("pr-a0", 0, 0, 1 << 20)])
    assert parts[0]["hwm"] == 1
    c.close()


@case("Produce acks=-1: answered once durable, offsets as acks=1")
def t_produce_acks_all(addr):
    c = Conn(addr)
    metadata(c, 1, ["pr-all"])
    for i in range(5):
        err, base, _, _, _ = produce(c, 8, "pr-all", 0, batch([b"d"]), acks=-1)
        assert (err, base) == (0, i)
    c.close()


@case("Fetch: OFFSET_OUT_OF_RANGE past the end, empty at the high watermark, v4..v11 layouts")
def t_fetch_ranges(addr):
    c = Conn(addr)
    metadata(c, 1, ["fe-r"])
    produce(c, 8, "fe-r", 0, batch([b"1", b"2", b"3"]))
    for v in (4, 5, 7, 9, 10, 11):
        _, p = fetch(c, v, [("fe-r", 0, 3, 1000)])
        assert p[0]["err"] == 0 and p[0]["hwm"] == 3 and p[0]["records"] == b"", (v, p)
        _, p = fetch(c, v, [("fe-r", 0, 4, 1000)])
        assert p[0]["err"] == 1, (v, p)
        _, p = fetch(c, v, [("fe-r", 0, 1, 1000)])  # mid-batch: the whole batch containing it
        assert batches(p[0]["records"]) == [(0, 2, 0)], p
    _, p = fetch(c, 11, [("fe-nope", 0, 0, 1000)])
    assert p[0]["err"] == 3
    c.close()


@case("Fetch KIP-74: the first batch is whole past max_bytes; later partitions respect it")
def t_fetch_kip74(addr):
    c = Conn(addr)
    metadata(c, 1, ["fe-big"])
    big = batch([b"z" * 3000])
    produce(c, 8, "fe-big", 0, big)
    produce(c, 8, "fe-big", 0, big)
    _, p = fetch(c, 11, [("fe-big", 0, 0, 100)], max_bytes=100)
    assert len(batches(p[0]["records"])) == 1 and len(p[0]["records"]) == len(big)
    # two partitions of one topic: the second gets nothing once the response is full
    brokers, _, _, _ = metadata(c, 1, ["fe-big2"])
    produce(c, 8, "fe-big2", 0, big)
    _, p = fetch(c, 11, [("fe-big", 0, 0, 1 << 20), ("fe-big2", 0, 0, 1 << 20)],
                 max_bytes=len(big) + 10)
    assert len(p[0]["records"]) == len(big) and p[1]["records"] == b"", p
    assert p[1]["hwm"] == 1
    c.close()


@case("Fetch long poll: max_wait honoured when nothing comes; min_bytes waits for enough")
def t_fetch_wait(addr):
    c = Conn(addr)
    metadata(c, 1, ["fe-w"])
    t0 = time.time()
    _, p = fetch(c, 11, [("fe-w", 0, 0, 1000)], wait=300)
    dt = time.time() - t0
    assert p[0]["records"] == b"" and 0.25 <= dt < 2.0, dt
    # a parked fetch with min_bytes > one small batch: answered at max_wait with what there is
    c2 = Conn(addr)
    cid = c.send(1, 11, fetch_body(11, [("fe-w", 0, 0, 1 << 20)], wait=800, min_bytes=100000))
    time.sleep(0.1)
    produce(c2, 8, "fe-w", 0, batch([b"small"]))
    t0 = time.time()
    r = c.recv(cid)
    dt = time.time() - t0
    assert dt > 0.4, dt
    c.close()
    c2.close()


@case("Fetch below v10 never returns zstd batches (76 when the first one is zstd)")
def t_fetch_zstd(addr):
    from confluent_kafka import Producer
    c = Conn(addr)
    metadata(c, 1, ["fe-z"])
    produce(c, 8, "fe-z", 0, batch([b"plain"]))
    pr = Producer({"bootstrap.servers": addr, "compression.codec": "zstd"})
    pr.produce("fe-z", value=b"zz" * 100, partition=0)
    assert pr.flush(10) == 0
    _, p = fetch(c, 9, [("fe-z", 0, 0, 1 << 20)])
    assert p[0]["err"] == 0 and batches(p[0]["records"]) == [(0, 0, 0)], p
    _, p = fetch(c, 9, [("fe-z", 0, 1, 1 << 20)])
    assert p[0]["err"] == 76 and p[0]["records"] == b"", p
    _, p = fetch(c, 10, [("fe-z", 0, 1, 1 << 20)])
    assert p[0]["err"] == 0 and batches(p[0]["records"])[0][2] & 7 == 4
    c.close()


@case("ListOffsets v1, v5, v7 (-3: max timestamp) and v8 (-4): earliest, latest, by time")
def t_list_offsets(addr):
    c = Conn(addr)
    metadata(c, 1, ["lo"])
    produce(c, 8, "lo", 0, batch([b"a", b"b", b"c"], ts=1000))  # timestamps 1000, 1001, 1002

    def lo(v, ts, part=0):
        flex = v >= 6
        body = struct.pack(">i", -1)
        if v >= 2:
            body += b"\x00"
        p = struct.pack(">i", part)
        if v >= 4:
            p += struct.pack(">i", -1)
        p += struct.pack(">q", ts)
        if flex:
            body += kafka_wire.carr([kafka_wire.cstr("lo") + kafka_wire.carr([p + b"\x00"]) +
                                     b"\x00"])
            body += (struct.pack(">i", 30000) if v >= 10 else b"") + b"\x00"
        else:
            body += arr([s16("lo") + arr([p])])
        r = c.req(2, v, body, flex=flex)
        if flex:
            assert r.uvar() == 0  # response header v1
        if v >= 2:
            r.i32()
        if flex:
            assert r.uvar() == 2 and r.take(r.uvar() - 1) == b"lo" and r.uvar() == 2
        else:
            assert r.i32() == 1 and r.str() == "lo" and r.i32() == 1
        assert r.i32() == part
        err = r.i16()
        res = (err, r.i64(), r.i64())
        if v >= 4:
            r.i32()
        if flex:
            assert r.uvar() == 0 and r.uvar() == 0 and r.uvar() == 0  # partition, topic, body
        assert r.left() == 0
        return res
    assert lo(1, -1) == (0, -1, 3) and lo(1, -2) == (0, -1, 0)
    assert lo(5, -3)[0] == 42, lo(5, -3)  # -3 needs v7
    assert lo(7, -3) == (0, 1002, 2), lo(7, -3)
    assert lo(5, -4)[0] == 42 and lo(7, -4)[0] == 42  # -4 needs v8
    assert lo(8, -4) == (0, -1, 0) and lo(10, -5) == (0, -1, -1)
    produce(c, 8, "lo", 0, batch([b"d", b"e"], ts=900))  # older timestamps do not count
    assert lo(7, -3) == (0, 1002, 2), lo(7, -3)
    assert lo(5, 1001) == (0, 1001, 1), lo(5, 1001)
    assert lo(5, 999) == (0, 1000, 0)
    assert lo(5, 5000) == (0, -1, -1)
    assert lo(5, -1, part=3)[0] == 3
    c.close()


@case("DeleteRecords moves the log start; fetching below it is OFFSET_OUT_OF_RANGE")
def t_delete_records(addr):
    c = Conn(addr)
    metadata(c, 1, ["dr"])
    for _ in range(4):
        produce(c, 8, "dr", 0, batch([b"r"]))

    def dr(part, off):
        body = arr([s16("dr") + arr([struct.pack(">iq", part, off)])]) + struct.pack(">i", 5000)
        r = c.req(21, 1, body)
        r.i32()
        assert r.i32() == 1 and r.str() == "dr" and r.i32() == 1 and r.i32() == part
        low, err = r.i64(), r.i16()
        assert r.left() == 0
        return err, low
    assert dr(0, 2) == (0, 2)
    assert dr(0, 9) == (1, -1)
    assert dr(0, -1) == (0, 4)
    assert dr(5, 1)[0] == 3
    _, p = fetch(c, 11, [("dr", 0, 1, 1000)])
    # Kafka answers a partition error with -1 watermarks; the client asks ListOffsets then
    assert p[0]["err"] == 1 and p[0]["start"] == -1 and p[0]["hwm"] == -1, p[0]
    c.close()


@case("unknown API key and unsupported versions close the connection; others carry on")
def t_unknown(addr):
    c = Conn(addr)
    c.send(99, 0, b"")
    assert c.closed()
    c = Conn(addr)
    c.send(0, 9, produce_body("x", 0, b""))  # Produce v9 is not advertised
    assert c.closed()
    c = Conn(addr)
    c.send(1, 12, b"")
    assert c.closed()
    c = Conn(addr)
    assert c.req(18, 0, b"").i16() == 0
    c.close()


def main():
    try:
        b = kafka_wire.Broker(prefix="weir-test-proto-")
    except RuntimeError:
        print("not ok 1 - broker did not start")
        sys.exit(1)
    c = cid = None
    try:
        addr = b.addr
        for t in TESTS:
            t(addr)
        # A fetch parked for 30 s is answered at once when the broker stops.
        c = Conn(addr)
        metadata(c, 1, ["stop-wait"])
        cid = c.send(1, 11, fetch_body(11, [("stop-wait", 0, 0, 1000)], wait=30000))
        time.sleep(0.2)
    finally:
        t0 = time.time()
        b.terminate()
        answered = False
        try:
            c.recv(cid)
            answered = True
        except Exception:
            traceback.print_exc()
        rc = b.wait()
        dt = time.time() - t0
        tap(answered and dt < 5, "SIGTERM answers a parked fetch at once (%.2f s)" % dt)
        tap(rc == 0, "SIGTERM: clean exit 0")
        b.cleanup()
    tap.finish()


if __name__ == "__main__":
    main()
