"""A small Kafka codec for the raw-socket tests: a body writer and a response reader that know
both encodings (classic: int16/int32 lengths; flexible, KIP-482: unsigned varints, compact
strings and arrays, tagged-field sections), UUIDs, and a client that frames requests with
request header v1 or v2 and strips response header v0 or v1. Any broker address works, so a
test written with it can be checked against Apache Kafka first (tests/compat/lib/kafka_oracle.sh).

    c = Client("127.0.0.1:9092")
    w = W(flex=True); w.str("g"); w.tags()
    r = c.call(69, 0, w)            # flexible is taken from w
    r.i32(); ...
"""
import socket
import struct


def uvarint(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7


class W:
    """A request body. Methods return self so small bodies read as one chain."""

    def __init__(self, flex=False):
        self.flex = flex
        self.b = bytearray()

    def raw(self, b):
        self.b += b
        return self

    def i8(self, v): return self.raw(struct.pack(">b", v))
    def i16(self, v): return self.raw(struct.pack(">h", v))
    def i32(self, v): return self.raw(struct.pack(">i", v))
    def i64(self, v): return self.raw(struct.pack(">q", v))
    def bool(self, v): return self.i8(1 if v else 0)

    def uuid(self, u):
        assert len(u) == 16
        return self.raw(u)

    def _len(self, n):
        """A length: n + 1 as an unsigned varint when flexible (0 = null), else int16."""
        return self.raw(uvarint(n + 1)) if self.flex else self.i16(n)

    def nstr(self, s):
        if s is None:
            return self._len(-1)
        x = s.encode() if isinstance(s, str) else s
        return self._len(len(x)).raw(x)

    str = nstr

    def bytes(self, x):
        if x is None:
            return self.raw(uvarint(0)) if self.flex else self.i32(-1)
        return (self.raw(uvarint(len(x) + 1)) if self.flex else self.i32(len(x))).raw(x)

    def arr(self, items, fn=None):
        """items None: a null array. fn(w, item) writes one element (default: items are bytes
        already encoded)."""
        if items is None:
            return self.raw(uvarint(0)) if self.flex else self.i32(-1)
        self.raw(uvarint(len(items) + 1)) if self.flex else self.i32(len(items))
        for it in items:
            if fn:
                fn(self, it)
            else:
                self.raw(it)
        return self

    def tags(self):
        """An empty tagged-field section (flexible versions only)."""
        return self.raw(b"\x00") if self.flex else self


class Rd:
    def __init__(self, b, flex=False):
        self.b, self.p, self.flex = b, 0, flex

    def take(self, n):
        v = self.b[self.p:self.p + n]
        assert len(v) == n, "short response"
        self.p += n
        return v

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]
    def bool(self): return self.i8() != 0
    def uuid(self): return self.take(16)

    def uvar(self):
        v = s = 0
        while True:
            x = self.take(1)[0]
            v |= (x & 0x7F) << s
            s += 7
            if x < 0x80:
                return v

    def _len(self):
        return self.uvar() - 1 if self.flex else self.i16()

    def str(self):
        n = self._len()
        return None if n < 0 else self.take(n).decode()

    def bytes(self):
        n = self.uvar() - 1 if self.flex else self.i32()
        return None if n < 0 else self.take(n)

    def arr(self, fn):
        n = self.uvar() - 1 if self.flex else self.i32()
        return None if n < 0 else [fn(self) for _ in range(n)]

    def tags(self):
        """Skips a tagged-field section; returns {tag: bytes}."""
        if not self.flex:
            return {}
        out = {}
        for _ in range(self.uvar()):
            t = self.uvar()
            out[t] = self.take(self.uvar())
        return out

    def left(self): return len(self.b) - self.p


class Client:
    def __init__(self, addr, client_id="weir-test", timeout=15):
        h, p = addr.rsplit(":", 1)
        self.s = socket.create_connection((h, int(p)), timeout=timeout)
        self.client_id = client_id
        self.corr = 0

    def send(self, key, ver, w):
        self.corr += 1
        cid = self.client_id.encode()
        hdr = struct.pack(">hhih", key, ver, self.corr, len(cid)) + cid
        if w.flex:
            hdr += b"\x00"
        m = hdr + bytes(w.b)
        self.s.sendall(struct.pack(">i", len(m)) + m)
        return self.corr

    def recv(self, corr, flex, header_tags):
        n = struct.unpack(">i", self._read(4))[0]
        d = self._read(n)
        got = struct.unpack(">i", d[:4])[0]
        assert got == corr, (got, corr)
        r = Rd(d[4:], flex)
        if header_tags:
            r.tags()  # response header v1
        return r

    def call(self, key, ver, w):
        """Sends w as API key/version and returns the response body's reader (positioned
        after the response header: v1 for flexible versions, v0 for ApiVersions)."""
        return self.recv(self.send(key, ver, w), w.flex, w.flex and key != 18)

    def _read(self, n):
        d = b""
        while len(d) < n:
            x = self.s.recv(n - len(d))
            if not x:
                raise EOFError("connection closed")
            d += x
        return d

    def closed(self, wait=5):
        """True if the broker closed the connection."""
        try:
            self.s.settimeout(wait)
            return self.s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.s.close()
