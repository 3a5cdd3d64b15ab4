#!/usr/bin/python3
"""Writes hand-made seed frames for the ACL APIs into the request fuzzer's corpus
(tests/fuzz/corpus/request/h-k<key>-v<version>-<hash>): DescribeAcls 1-3 (ANY, MATCH and exact
filters, null strings), CreateAcls 1-3 (LITERAL, PREFIXED, wildcard name and principal, DENY, a
host, and bad bindings: pattern MATCH, operation ANY, a principal without a type) and DeleteAcls
1-3 (an all-null filter, exact filters). Each file is a request without its size prefix, as
tests/fuzz/fuzz_request.c expects (its broker runs with the authorizer on and
allow.everyone.if.no.acl.found=true).

Run: /usr/bin/python3 tests/fuzz/acl_seeds.py [DIR]"""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from admin_seeds import E, frame  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus", "request")

# (resource type, name, pattern, principal, host, operation, permission)
GOOD = [(2, "fz", 3, "User:alice", "*", 3, 3),
        (2, "f", 4, "User:alice", "*", 4, 3),
        (2, "*", 3, "User:*", "*", 8, 3),
        (3, "g1", 3, "User:bob", "10.0.0.1", 2, 2),
        (4, "kafka-cluster", 3, "User:ANONYMOUS", "*", 7, 3),
        (5, "tx", 4, "User:carol", "*", 4, 3)]
BAD = [(2, "x", 2, "User:a", "*", 3, 3),       # MATCH is a filter's pattern only
       (2, "x", 3, "User:a", "*", 1, 3),       # ANY operation
       (2, "x", 3, "alice", "*", 3, 3),        # no principal type
       (9, "x", 3, "User:a", "*", 3, 3)]       # unknown resource type


def binding(e, b, filt):
    t, name, pat, princ, host, op, perm = b
    return e.i8(t) + e.str(name) + e.i8(pat) + e.str(princ) + e.str(host) + e.i8(op) + \
        e.i8(perm) + (e.tags() if filt is None else b"")


def describe(v):
    e = E(v >= 2)
    filters = [(1, None, 1, None, None, 1, 1), (2, "fz-1", 2, None, None, 1, 1),
               (3, "g1", 3, "User:bob", "10.0.0.1", 2, 2)]
    return [binding(e, f, True) + e.tags() for f in filters]


def create(v):
    e = E(v >= 2)
    return [e.arr([binding(e, b, None) for b in GOOD]) + e.tags(),
            e.arr([binding(e, b, None) for b in BAD + GOOD[:1]]) + e.tags()]


def delete(v):
    e = E(v >= 2)
    filters = [(1, None, 1, None, None, 1, 1), (2, "fz", 3, "User:alice", "*", 3, 3),
               (2, None, 4, None, None, 1, 3)]
    return [e.arr([binding(e, f, None) for f in filters]) + e.tags()]


APIS = [(29, range(1, 4), 2, describe), (30, range(1, 4), 2, create), (31, range(1, 4), 2, delete)]


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
