#!/usr/bin/python3
"""Writes hand-made seed frames for the group, offset and producer-id APIs into the request
fuzzer's corpus (tests/fuzz/corpus/request/h-k<key>-v<version>-<hash>): FindCoordinator 0-5
(v4+ batched), JoinGroup 0-9, SyncGroup 0-5, Heartbeat 0-4, LeaveGroup 0-5, OffsetCommit 0-9,
OffsetFetch 0-9 (with and without a null topic list; v8+ batched groups, v9 member epochs),
ListGroups 0-5 (v4-5 filters), DescribeGroups 0-5, DeleteGroups 0-2, OffsetDelete 0,
InitProducerId 0-1, ConsumerGroupHeartbeat 0-1 (join, heartbeat with owned partitions, regex,
leave, static leave) and ConsumerGroupDescribe 0. Each file is a request without its size
prefix: header v1 (api key, version, correlation id, client id), or v2 (with a tagged-field
section) for flexible versions, and the body, as tests/fuzz/fuzz_request.c expects.

Run: /usr/bin/python3 tests/fuzz/group_seeds.py [DIR]"""
import hashlib
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus", "request")


def s(x):
    if x is None:
        return struct.pack(">h", -1)
    x = x.encode()
    return struct.pack(">h", len(x)) + x


def b(x):
    return struct.pack(">i", len(x)) + x


def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


# A "consumer" protocol subscription (v0) to topic "fz", as librdkafka sends it.
SUB = i16(0) + arr([s("fz")]) + b(b"")
ASG = i16(0) + arr([s("fz") + arr([i32(0)])]) + b(b"")


# ---- the flexible encoding (KIP-482) --------------------------------------------------------

def uv(n):
    out = b""
    while True:
        if n < 0x80:
            return out + bytes([n])
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7


def cs(x):
    """COMPACT_(NULLABLE_)STRING."""
    if x is None:
        return b"\x00"
    x = x.encode()
    return uv(len(x) + 1) + x


def cb(x):
    return uv(len(x) + 1) + x


def carr(items):
    """COMPACT_ARRAY (None: null)."""
    if items is None:
        return b"\x00"
    return uv(len(items) + 1) + b"".join(items)


T0 = b"\x00"  # an empty tagged-field section
FLEX = {10: 3, 11: 6, 14: 4, 12: 4, 13: 4, 8: 8, 9: 6, 16: 3, 15: 5, 42: 2, 68: 0, 69: 0}


def join(v):
    body = s("g") + i32(10000)
    if v >= 1:
        body += i32(100)
    body += s("")
    if v >= 5:
        body += s("inst")
    return body + s("consumer") + arr([s("range") + b(SUB), s("roundrobin") + b(SUB)])


def sync(v):
    body = s("g") + i32(1) + s("m")
    if v >= 3:
        body += s(None)
    return body + arr([s("m") + b(ASG)])


def heartbeat(v):
    return s("g") + i32(1) + s("m") + (s(None) if v >= 3 else b"")


def leave(v):
    if v < 3:
        return s("g") + s("m")
    return s("g") + arr([s("m") + s(None), s("") + s("inst")])


def commit(v):
    body = s("g")
    if v >= 1:
        body += i32(-1) + s("")
    if v >= 7:
        body += s(None)
    if 2 <= v <= 4:
        body += i64(-1)
    part = i32(0) + i64(5)
    if v == 1:
        part += i64(-1)
    if v >= 6:
        part += i32(-1)
    part += s("meta")
    return body + arr([s("fz") + arr([part])])


def fetch(v, null=False):
    if null:
        return s("g") + i32(-1)
    return s("g") + arr([s("fz") + arr([i32(0), i32(1)])])


def find_flex(v):
    if v == 3:
        return cs("g") + b"\x00" + T0
    return b"\x00" + carr([cs("g"), cs("h")]) + T0


def join_flex(v):
    body = cs("g") + i32(10000) + i32(100) + cs("") + cs("inst") + cs("consumer")
    body += carr([cs("range") + cb(SUB) + T0, cs("cooperative-sticky") + cb(SUB) + T0])
    if v >= 8:
        body += cs("reason")
    return body + T0


def sync_flex(v):
    body = cs("g") + i32(1) + cs("m") + cs(None)
    if v >= 5:
        body += cs("consumer") + cs("range")
    return body + carr([cs("m") + cb(ASG) + T0]) + T0


def commit_flex(v):
    part = i32(0) + i64(5) + i32(-1) + cs("meta") + T0
    return (cs("g") + i32(3 if v >= 9 else 1) + cs("m") + cs(None) +
            carr([cs("fz") + carr([part]) + T0]) + T0)


def fetch_flex(v, null=False):
    topics = None if null else [cs("fz") + carr([i32(0), i32(1)]) + T0]
    if v < 8:
        return cs("g") + carr(topics) + (b"\x01" if v >= 7 else b"") + T0
    member = cs("m") + i32(3) if v >= 9 else b""
    return carr([cs("g") + member + carr(topics) + T0, cs("h") + (cs(None) + i32(-1) if v >= 9
                                                                   else b"") + carr(None) + T0]) + b"\x01" + T0


def list_flex(v):
    body = b""
    if v >= 4:
        body += carr([cs("Stable"), cs("empty")])
    if v >= 5:
        body += carr([cs("consumer")])
    return body + T0


UUID = bytes(range(16))


def cgh(v, epoch=0, regex=False, owned=True, static=False, leave=False):
    body = cs("g") + cs("member-0000000000000001") + i32(-1 if leave else epoch)
    body += cs("inst" if static else None) + cs(None) + i32(30000 if epoch == 0 else -1)
    body += carr(None if regex else [cs("fz"), cs("ck1")])
    if v >= 1:
        body += cs("f.*" if regex else None)
    body += cs("uniform" if epoch == 0 else None)
    if epoch == 0:
        body += carr([])
    elif owned:
        body += carr([UUID + carr([i32(0), i32(1)]) + T0])
    else:
        body += carr(None)
    return body + T0


SEEDS = []
SEEDS += [(10, v, s("g") + (b"\x00" if v >= 1 else b"")) for v in range(3)]
SEEDS += [(11, v, join(v)) for v in range(6)]
SEEDS += [(14, v, sync(v)) for v in range(4)]
SEEDS += [(12, v, heartbeat(v)) for v in range(4)]
SEEDS += [(13, v, leave(v)) for v in range(4)]
SEEDS += [(8, v, commit(v)) for v in range(8)]
SEEDS += [(9, v, fetch(v)) for v in range(6)] + [(9, v, fetch(v, True)) for v in range(2, 6)]
SEEDS += [(16, v, b"") for v in range(3)]
SEEDS += [(15, v, arr([s("g"), s("none")]) + (b"\x01" if v >= 3 else b"")) for v in range(5)]
SEEDS += [(42, v, arr([s("g"), s("none")])) for v in range(2)]
SEEDS += [(47, 0, s("g") + arr([s("fz") + arr([i32(0)])]))]
SEEDS += [(22, v, s(None) + i32(60000)) for v in range(2)] + [(22, 1, s("tx") + i32(60000))]


SEEDS += [(10, v, find_flex(v)) for v in range(3, 6)] + [(10, 1, s("tx") + b"\x01")]
SEEDS += [(11, v, join_flex(v)) for v in range(6, 10)]
SEEDS += [(14, v, sync_flex(v)) for v in range(4, 6)]
SEEDS += [(12, 4, cs("g") + i32(1) + cs("m") + cs(None) + T0)]
SEEDS += [(13, v, cs("g") + carr([cs("m") + cs(None) + (cs("bye") if v >= 5 else b"") + T0,
                                  cs("") + cs("inst") + (cs(None) if v >= 5 else b"") + T0]) + T0)
          for v in range(4, 6)]
SEEDS += [(8, v, commit_flex(v)) for v in range(8, 10)]
SEEDS += [(9, v, fetch_flex(v)) for v in range(6, 10)] + [(9, v, fetch_flex(v, True))
                                                           for v in range(6, 10)]
SEEDS += [(16, v, list_flex(v)) for v in range(3, 6)]
SEEDS += [(15, 5, carr([cs("g"), cs("none")]) + b"\x01" + T0)]
SEEDS += [(42, 2, carr([cs("g"), cs("none")]) + T0)]
SEEDS += [(68, v, cgh(v)) for v in range(2)]
SEEDS += [(68, v, cgh(v, epoch=1)) for v in range(2)]
SEEDS += [(68, 1, cgh(1, epoch=1, owned=False)), (68, 1, cgh(1, regex=True)),
          (68, 1, cgh(1, static=True)), (68, 1, cgh(1, leave=True)),
          (68, 1, cgh(1, epoch=-2, static=True)), (68, 0, cs("g") + cs("") + i32(0) + cs(None) +
                                                   cs(None) + i32(1000) + carr([cs("fz")]) +
                                                   cs(None) + carr([]) + T0)]
SEEDS += [(69, 0, carr([cs("g"), cs(""), cs("none")]) + b"\x01" + T0)]


def main():
    os.makedirs(OUT, exist_ok=True)
    for key, v, body in SEEDS:
        frame = struct.pack(">hhi", key, v, 7) + s("seed") + body
        if key in FLEX and v >= FLEX[key]:
            frame = struct.pack(">hhi", key, v, 7) + s("seed") + T0 + body
        name = "h-k%d-v%d-%s" % (key, v, hashlib.sha1(frame).hexdigest()[:10])
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(frame)
    print("%d seeds in %s" % (len(SEEDS), OUT))


if __name__ == "__main__":
    main()
