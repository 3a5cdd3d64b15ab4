#!/usr/bin/python3
"""Writes hand-made seed frames for the client-quota APIs into the request fuzzer's corpus
(tests/fuzz/corpus/request/h-k<key>-v<version>-<hash>): DescribeClientQuotas 0-1 (no filter,
EXACT, DEFAULT and SPECIFIED components, strict, a custom entity type) and AlterClientQuotas
0-1 (user, client-id, user+client-id, defaults, an ip, a removal, validate_only, and bad
entries: unknown key, negative and fractional values, ip mixed with user). Each file is a
request without its size prefix, as tests/fuzz/fuzz_request.c expects. The fuzzing build caps a
throttle at 100 ms, so a seed that sets a tiny quota does not stall the target.

Run: /usr/bin/python3 tests/fuzz/quota_seeds.py [DIR]"""
import hashlib
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from admin_seeds import E, frame  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus", "request")


def describe(v):
    e = E(v >= 1)

    def comp(t, mt, m):
        return e.str(t) + e.i8(mt) + e.str(m) + e.tags()
    filters = [([], False), ([comp("user", 0, "alice")], False),
               ([comp("user", 1, None), comp("client-id", 2, None)], True),
               ([comp("ip", 2, None)], False), ([comp("group", 2, None)], False)]
    return [e.arr(c) + e.bool(strict) + e.tags() for c, strict in filters]


def alter(v):
    e = E(v >= 1)

    def entry(ent, ops):
        return e.arr([e.str(t) + e.str(n) + e.tags() for t, n in ent]) + \
            e.arr([e.str(k) + struct.pack(">d", x) + e.bool(rm) + e.tags() for k, x, rm in ops]) + \
            e.tags()
    good = [entry([("user", "alice")], [("producer_byte_rate", 1048576, False)]),
            entry([("client-id", None)], [("consumer_byte_rate", 2097152, False)]),
            entry([("user", "alice"), ("client-id", "app")], [("request_percentage", 50.5, False)]),
            entry([("ip", "10.0.0.1")], [("connection_creation_rate", 10, False)]),
            entry([("user", "alice")], [("producer_byte_rate", 0, True)])]
    bad = [entry([("user", "a")], [("nope", 1, False)]),
           entry([("user", "a")], [("producer_byte_rate", -1, False)]),
           entry([("user", "a")], [("producer_byte_rate", 1.5, False)]),
           entry([("user", "a"), ("ip", "1.2.3.4")], [("producer_byte_rate", 1, False)])]
    return [e.arr(good) + e.bool(False) + e.tags(), e.arr(bad + good[:1]) + e.bool(True) + e.tags()]


APIS = [(48, range(0, 2), 1, describe), (49, range(0, 2), 1, alter)]


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
