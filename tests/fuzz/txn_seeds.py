#!/usr/bin/python3
"""Writes hand-made seed frames for the transaction APIs into the request fuzzer's corpus
(tests/fuzz/corpus/request/t-k<key>-v<version>-<hash>): InitProducerId 0-5 (null, short,
long and empty transactional ids; KIP-360 producer ids), AddPartitionsToTxn 0-4 (v4: two
transactions, verify_only), AddOffsetsToTxn 0-3, EndTxn 0-4, WriteTxnMarkers 1,
TxnOffsetCommit 0-4, DescribeTransactions 0, ListTransactions 0-1, DescribeProducers 0, and
read_committed Fetch and ListOffsets. Each file is a request without its size prefix: header
v1, or v2 (a tagged-field section after the client id) for flexible versions, and the body,
as tests/fuzz/fuzz_request.c expects.

Run: /usr/bin/python3 tests/fuzz/txn_seeds.py [DIR]"""
import hashlib
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus", "request")
TAGS = b"\x00"


def s(x):
    if x is None:
        return struct.pack(">h", -1)
    x = x.encode()
    return struct.pack(">h", len(x)) + x


def uv(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7


def cs(x):
    if x is None:
        return b"\x00"
    x = x.encode()
    return uv(len(x) + 1) + x


def arr(items):
    return struct.pack(">i", len(items)) + b"".join(items)


def carr(items):
    return uv(len(items) + 1) + b"".join(items)


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def init(v, tid="tx", pid=-1, epoch=-1):
    if v < 2:
        return s(tid) + i32(60000)
    body = cs(tid) + i32(60000)
    if v >= 3:
        body += i64(pid) + i16(epoch)
    return body + TAGS


def topics(v, flex, parts):
    if flex:
        return carr([cs(t) + carr([i32(p) for p in ps]) + TAGS for t, ps in parts])
    return arr([s(t) + arr([i32(p) for p in ps]) for t, ps in parts])


def add_parts(v):
    parts = [("fz", [0, 1]), ("nope", [0])]
    if v >= 4:
        one = cs("tx") + i64(0) + i16(0) + i8(0) + topics(v, True, parts) + TAGS
        two = cs("tx2") + i64(1) + i16(3) + i8(1) + topics(v, True, parts[:1]) + TAGS
        return carr([one, two]) + TAGS
    if v >= 3:
        return cs("tx") + i64(0) + i16(0) + topics(v, True, parts) + TAGS
    return s("tx") + i64(0) + i16(0) + topics(v, False, parts)


def add_offsets(v):
    if v >= 3:
        return cs("tx") + i64(0) + i16(0) + cs("g") + TAGS
    return s("tx") + i64(0) + i16(0) + s("g")


def end(v, commit):
    if v >= 3:
        return cs("tx") + i64(0) + i16(0) + i8(commit) + TAGS
    return s("tx") + i64(0) + i16(0) + i8(commit)


def txn_commit(v):
    flex = v >= 3
    st = cs if flex else s
    body = st("tx") + st("g") + i64(0) + i16(0)
    if v >= 3:
        body += i32(-1) + cs("") + cs(None)
    part = i32(0) + i64(5)
    if v >= 2:
        part += i32(-1)
    part += st("meta")
    if flex:
        return body + carr([cs("fz") + carr([part + TAGS]) + TAGS]) + TAGS
    return body + arr([s("fz") + arr([part])])


MARKERS = carr([i64(0) + i16(0) + i8(0) + carr([cs("fz") + carr([i32(0)]) + TAGS]) + i32(0) +
                TAGS, i64(7) + i16(1) + i8(1) + carr([cs("__consumer_offsets") + carr([i32(0)]) +
                                                      TAGS]) + i32(0) + TAGS]) + TAGS
DESCRIBE = carr([cs("tx"), cs(""), cs("x" * 300)]) + TAGS
LIST0 = carr([cs("Ongoing"), cs("Bogus")]) + carr([i64(0)]) + TAGS
LIST1 = carr([]) + carr([]) + i64(1000) + TAGS
PRODUCERS = carr([cs("fz") + carr([i32(0), i32(99)]) + TAGS, cs("nope") + carr([i32(0)]) +
                  TAGS]) + TAGS
FETCH_RC = (i32(-1) + i32(0) + i32(1) + i32(1 << 20) + i8(1) +
            arr([s("fz") + arr([i32(0) + i64(0) + i64(-1) + i32(1 << 20)])]))
LIST_OFFSETS_RC = i32(-1) + i8(1) + arr([s("fz") + arr([i32(0) + i64(-1), i32(0) + i64(0)])])

SEEDS = []  # (key, version, flexible, body)
SEEDS += [(22, v, v >= 2, init(v)) for v in range(6)]
SEEDS += [(22, v, v >= 2, init(v, "")) for v in (2, 5)]
SEEDS += [(22, 4, True, init(4, "tx", 0, 0)), (22, 3, True, init(3, None, 5, 2))]
SEEDS += [(22, 2, True, init(2, "L" * 2000))]
SEEDS += [(24, v, v >= 3, add_parts(v)) for v in range(5)]
SEEDS += [(25, v, v >= 3, add_offsets(v)) for v in range(4)]
SEEDS += [(26, v, v >= 3, end(v, c)) for v in range(5) for c in (0, 1)]
SEEDS += [(27, 1, True, MARKERS)]
SEEDS += [(28, v, v >= 3, txn_commit(v)) for v in range(5)]
SEEDS += [(65, 0, True, DESCRIBE), (66, 0, True, LIST0), (66, 1, True, LIST1)]
SEEDS += [(61, 0, True, PRODUCERS)]
SEEDS += [(1, 5, False, FETCH_RC), (2, 2, False, LIST_OFFSETS_RC)]


def main():
    os.makedirs(OUT, exist_ok=True)
    for key, v, flex, body in SEEDS:
        frame = struct.pack(">hhi", key, v, 7) + s("seed") + (TAGS if flex else b"") + body
        name = "t-k%d-v%d-%s" % (key, v, hashlib.sha1(frame).hexdigest()[:10])
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(frame)
    print("%d seeds in %s" % (len(SEEDS), OUT))


if __name__ == "__main__":
    main()
