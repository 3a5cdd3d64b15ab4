#!/usr/bin/python3
"""Writes hand-made seed frames for the configs and admin APIs into the request fuzzer's corpus
(tests/fuzz/corpus/request/h-k<key>-v<version>-<hash>), one or more per version, classic and
flexible: DescribeConfigs 1-4 (topic, broker, cluster default, broker logger), AlterConfigs 0-2,
IncrementalAlterConfigs 0-1 (every op, every resource type), CreatePartitions 0-3 (with and
without assignments), DeleteRecords 0-2, OffsetForLeaderEpoch 2-4, DescribeLogDirs 1-4 (null,
empty and given topics), ElectLeaders 0-2 (null and given partitions), Alter and
ListPartitionReassignments 0, DescribeCluster 0-2. Each file is a request without its size
prefix: header v1 (v2 for flexible versions: a tag section) and body, as
tests/fuzz/fuzz_request.c expects. The fuzzer's broker has topics "fz" (2 partitions) and "ck1"
(3), log.cleaner settings at Kafka's defaults.

Run: /usr/bin/python3 tests/fuzz/admin_seeds.py [DIR]"""
import hashlib
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus", "request")


def uvarint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


class E:
    def __init__(self, flex):
        self.flex = flex

    def i8(self, v): return struct.pack(">b", v)
    def i16(self, v): return struct.pack(">h", v)
    def i32(self, v): return struct.pack(">i", v)
    def i64(self, v): return struct.pack(">q", v)
    def bool(self, v): return b"\x01" if v else b"\x00"

    def str(self, x):
        if x is None:
            return uvarint(0) if self.flex else struct.pack(">h", -1)
        x = x.encode()
        return (uvarint(len(x) + 1) if self.flex else struct.pack(">h", len(x))) + x

    def arr(self, items):
        if items is None:
            return uvarint(0) if self.flex else struct.pack(">i", -1)
        return (uvarint(len(items) + 1) if self.flex else struct.pack(">i", len(items))) + \
            b"".join(items)

    def i32s(self, v):
        return self.arr(None if v is None else [self.i32(x) for x in v])

    def tags(self):
        return b"\x00" if self.flex else b""


def frame(key, ver, flex, body):
    hdr = struct.pack(">hhi", key, ver, 7) + struct.pack(">h", 4) + b"seed"
    return hdr + (b"\x00" if flex else b"") + body


def describe_configs(v):
    e = E(v >= 4)
    res = [(2, "fz", None), (2, "ck1", ["retention.ms", "cleanup.policy"]), (4, "1", None),
           (4, "", None), (8, "1", None), (2, "nope", [])]
    body = e.arr([e.i8(t) + e.str(n) + e.arr(None if k is None else [e.str(x) for x in k]) +
                  e.tags() for t, n, k in res]) + e.bool(True)
    if v >= 3:
        body += e.bool(True)
    return [body + e.tags()]


def alter_configs(v):
    e = E(v >= 2)
    res = [(2, "fz", [("retention.ms", "100000"), ("cleanup.policy", "compact,delete")]),
           (4, "1", [("log.retention.bytes", "1000000"), ("foo.bar", "x")]),
           (4, "", [("log.cleaner.backoff.ms", "15000")])]
    return [e.arr([e.i8(t) + e.str(n) + e.arr([e.str(k) + e.str(x) + e.tags() for k, x in c]) +
                   e.tags() for t, n, c in res]) + e.bool(True) + e.tags()]


def incremental_alter_configs(v):
    e = E(v >= 1)
    res = [(2, "fz", [("retention.ms", 0, "100000"), ("cleanup.policy", 2, "compact"),
                      ("segment.ms", 1, None), ("min.cleanable.dirty.ratio", 0, "0.25")]),
           (2, "ck1", [("cleanup.policy", 3, "delete"), ("compression.type", 0, "zstd")]),
           (4, "1", [("log.retention.ms", 0, "3600000"), ("log.cleanup.policy", 2, "compact")]),
           (4, "", [("log.retention.bytes", 1, None)]),
           (8, "1", [("root", 0, "INFO")])]
    return [e.arr([e.i8(t) + e.str(n) + e.arr([e.str(k) + e.i8(o) + e.str(x) + e.tags()
                                               for k, o, x in c]) + e.tags()
                   for t, n, c in res]) + e.bool(v == 0) + e.tags()]


def create_partitions(v):
    e = E(v >= 2)
    out = []
    for asg in (None, [[1], [1]]):
        out.append(e.arr([e.str("fz") + e.i32(4) + e.arr(None if asg is None else
                                                          [e.i32s(a) + e.tags() for a in asg]) +
                          e.tags(), e.str("nope") + e.i32(2) + e.arr(None) + e.tags()]) +
                   e.i32(5000) + e.bool(True) + e.tags())
    return out


def delete_records(v):
    e = E(v >= 2)
    return [e.arr([e.str("fz") + e.arr([e.i32(0) + e.i64(1) + e.tags(),
                                        e.i32(1) + e.i64(-1) + e.tags()]) + e.tags()]) +
            e.i32(5000) + e.tags()]


def offset_for_leader_epoch(v):
    e = E(v >= 4)
    return [(e.i32(-1) if v >= 3 else b"") +
            e.arr([e.str("fz") + e.arr([e.i32(0) + e.i32(-1) + e.i32(0) + e.tags(),
                                        e.i32(1) + e.i32(0) + e.i32(-1) + e.tags()]) + e.tags(),
                   e.str("ck1") + e.arr([e.i32(2) + e.i32(1) + e.i32(5) + e.tags()]) + e.tags()]) +
            e.tags()]


def describe_log_dirs(v):
    e = E(v >= 2)
    return [e.arr(None) + e.tags(), e.arr([]) + e.tags(),
            e.arr([e.str("fz") + e.i32s([0, 1, 7]) + e.tags()]) + e.tags()]


def elect_leaders(v):
    e = E(v >= 2)
    pre = e.i8(0) if v >= 1 else b""
    return [pre + e.arr(None) + e.i32(5000) + e.tags(),
            pre + e.arr([e.str("fz") + e.i32s([0, 1, 9]) + e.tags()]) + e.i32(5000) + e.tags()]


def alter_reassignments(v):
    e = E(True)
    return [e.i32(5000) + e.arr([e.str("fz") + e.arr([e.i32(0) + e.i32s([1]) + e.tags(),
                                                      e.i32(1) + e.i32s(None) + e.tags()]) +
                                 e.tags()]) + e.tags()]


def list_reassignments(v):
    e = E(True)
    return [e.i32(5000) + e.arr(None) + e.tags(),
            e.i32(5000) + e.arr([e.str("fz") + e.i32s([0]) + e.tags()]) + e.tags()]


def describe_cluster(v):
    e = E(True)
    return [e.bool(True) + (e.i8(1) if v >= 1 else b"") + (e.bool(False) if v >= 2 else b"") +
            e.tags()]


APIS = [  # key, versions, first flexible, bodies
    (32, range(1, 5), 4, describe_configs),
    (33, range(0, 3), 2, alter_configs),
    (44, range(0, 2), 1, incremental_alter_configs),
    (37, range(0, 4), 2, create_partitions),
    (21, range(0, 3), 2, delete_records),
    (23, range(2, 5), 4, offset_for_leader_epoch),
    (35, range(1, 5), 2, describe_log_dirs),
    (43, range(0, 3), 2, elect_leaders),
    (45, range(0, 1), 0, alter_reassignments),
    (46, range(0, 1), 0, list_reassignments),
    (60, range(0, 3), 0, describe_cluster),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for key, versions, flex_from, fn in APIS:
        for v in versions:
            for body in fn(v):
                data = frame(key, v, v >= flex_from, body)
                name = "h-k%d-v%d-%s" % (key, v, hashlib.sha1(data).hexdigest()[:10])
                with open(os.path.join(OUT, name), "wb") as f:
                    f.write(data)
                n += 1
    print("%d seeds in %s" % (n, OUT))


if __name__ == "__main__":
    main()
