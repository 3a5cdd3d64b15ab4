#!/usr/bin/python3
"""Writes hand-made seed frames for the group, offset and producer-id APIs into the request
fuzzer's corpus (tests/fuzz/corpus/request/h-k<key>-v<version>-<hash>): FindCoordinator 0-2,
JoinGroup 0-5, SyncGroup 0-3, Heartbeat 0-3, LeaveGroup 0-3, OffsetCommit 0-7, OffsetFetch 0-5
(with and without a null topic list), ListGroups 0-2, DescribeGroups 0-4, DeleteGroups 0-1,
OffsetDelete 0, InitProducerId 0-1. Each file is a request without its size prefix: header v1
(api key, version, correlation id, client id) and body, as tests/fuzz/fuzz_request.c expects.

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


def main():
    os.makedirs(OUT, exist_ok=True)
    for key, v, body in SEEDS:
        frame = struct.pack(">hhi", key, v, 7) + s("seed") + body
        name = "h-k%d-v%d-%s" % (key, v, hashlib.sha1(frame).hexdigest()[:10])
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(frame)
    print("%d seeds in %s" % (len(SEEDS), OUT))


if __name__ == "__main__":
    main()
