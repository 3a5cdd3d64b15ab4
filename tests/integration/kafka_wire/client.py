"""A raw Kafka client for byte-level tests: builds request bodies in the classic and the
flexible (KIP-482) encodings, sends them with any header version, and reads responses field by
field. Used by test_admin_protocol.py; also handy against a real Apache Kafka to see what it
answers (`python3 -c 'from kafka_wire.client import *; ...'`).

Encoders are small functions over one value; E builds a body from a version's flexibility so
one request function serves classic and flexible versions alike."""
import socket
import struct

# ---- encoders -------------------------------------------------------------------------------


def uvarint(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7


class E:
    """Encoders for one version: E(flex).str("x") is a STRING or a COMPACT_STRING."""

    def __init__(self, flex):
        self.flex = flex

    def i8(self, v): return struct.pack(">b", v)
    def i16(self, v): return struct.pack(">h", v)
    def i32(self, v): return struct.pack(">i", v)
    def i64(self, v): return struct.pack(">q", v)
    def bool(self, v): return b"\x01" if v else b"\x00"

    def str(self, s):
        if s is None:
            return uvarint(0) if self.flex else struct.pack(">h", -1)
        b = s.encode() if isinstance(s, str) else s
        if self.flex:
            return uvarint(len(b) + 1) + b
        return struct.pack(">h", len(b)) + b

    def arr(self, items):
        """items: a list of already encoded elements, or None for a null array."""
        if items is None:
            return uvarint(0) if self.flex else struct.pack(">i", -1)
        n = uvarint(len(items) + 1) if self.flex else struct.pack(">i", len(items))
        return n + b"".join(items)

    def i32s(self, vals):
        return self.arr(None if vals is None else [self.i32(v) for v in vals])

    def tags(self):
        return b"\x00" if self.flex else b""


# ---- record batches -------------------------------------------------------------------------


def _zigzag(v):
    return uvarint((v << 1) ^ (v >> 63))


def record(i, value, ts_delta=0, key=None):
    body = b"\x00" + _zigzag(ts_delta) + _zigzag(i)
    body += _zigzag(-1) if key is None else _zigzag(len(key)) + key
    body += _zigzag(len(value)) + value + _zigzag(0)
    return _zigzag(len(body)) + body


def batch(values, ts=1600000000000, keys=None):
    """An uncompressed v2 batch of values (bytes), optional keys, timestamps ts, ts+1, ..."""
    from kafka_wire import crc32c
    recs = b"".join(record(i, v, i, None if keys is None else keys[i])
                    for i, v in enumerate(values))
    n = len(values)
    after_crc = struct.pack(">hiqqqhii", 0, n - 1, ts, ts + n - 1, -1, -1, -1, n) + recs
    rest = struct.pack(">ibI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


# ---- reader ---------------------------------------------------------------------------------


class R:
    """Reads a response body; flex switches strings/arrays to the compact forms and tags()
    to a real tagged-field section."""

    def __init__(self, b, flex=False):
        self.b, self.p, self.flex = b, 0, flex

    def take(self, n):
        v = self.b[self.p:self.p + n]
        assert len(v) == n, "short response"
        self.p += n
        return v

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def bool(self): return self.take(1) != b"\x00"
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
        if self.flex:
            n = self.uvar() - 1
        else:
            n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def n(self):
        """An array's element count (-1 for null)."""
        return self.uvar() - 1 if self.flex else self.i32()

    def arr(self, fn):
        k = self.n()
        return None if k < 0 else [fn() for _ in range(k)]

    def i32s(self):
        return self.arr(self.i32)

    def tags(self):
        if self.flex:
            for _ in range(self.uvar()):
                self.uvar()
                self.take(self.uvar())

    def left(self): return len(self.b) - self.p


# ---- connection -----------------------------------------------------------------------------


class Conn:
    def __init__(self, addr, client_id="admin-test"):
        h, p = addr.rsplit(":", 1)
        self.s = socket.create_connection((h, int(p)), timeout=15)
        self.corr = 1000
        self.client_id = client_id

    def send(self, key, ver, body, flex=False):
        """Request header v1, or v2 (a tagged-field section) when flex."""
        self.corr += 1
        cid = self.client_id.encode()
        hdr = struct.pack(">hhih", key, ver, self.corr, len(cid)) + cid
        if flex:
            hdr += b"\x00"
        m = hdr + body
        self.s.sendall(struct.pack(">i", len(m)) + m)
        return self.corr

    def recv(self, corr=None, flex=False):
        """The response body after its header (v1 with a tag section when flex)."""
        n = struct.unpack(">i", self._read(4))[0]
        d = self._read(n)
        got = struct.unpack(">i", d[:4])[0]
        if corr is not None:
            assert got == corr, (got, corr)
        r = R(d[4:], flex)
        r.tags()
        return r

    def _read(self, n):
        d = b""
        while len(d) < n:
            x = self.s.recv(n - len(d))
            if not x:
                raise EOFError("connection closed")
            d += x
        return d

    def req(self, key, ver, body, flex=False):
        return self.recv(self.send(key, ver, body, flex), flex)

    def closed(self):
        """True if the broker closed the connection (within 5 s)."""
        try:
            self.s.settimeout(5)
            return self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.s.close()


# ---- requests -------------------------------------------------------------------------------


def produce_v8(addr, topic, records_field, partition=0):
    """A raw Produce v8 (acks=-1) of one partition's RECORDS field: (error_code, base_offset,
    record_errors as [(index, message)], error_message)."""
    e = E(False)
    body = (e.str(None) + e.i16(-1) + e.i32(10000) +
            e.arr([e.str(topic) + e.arr([e.i32(partition) + e.i32(len(records_field)) +
                                         records_field])]))
    c = Conn(addr)
    try:
        r = c.req(0, 8, body)
    finally:
        c.close()
    assert r.n() == 1 and r.str() == topic and r.n() == 1 and r.i32() == partition
    code, base = r.i16(), r.i64()
    r.i64()  # log_append_time
    r.i64()  # log_start_offset
    rec_errors = r.arr(lambda: (r.i32(), r.str()))
    return code, base, rec_errors, r.str()
