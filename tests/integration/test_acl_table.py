"""# timeout: 240
The authorizer as a table: resource x operation x API (29 APIs, 235 cases). For each API a raw
request (the kafka_wire codec) goes over SASL_PLAINTEXT as User:alice (SASL PLAIN against her
SCRAM credential) to a broker with authorizer.class.name set, under a series of ACL sets made
with `weir acl` on the PLAINTEXT listener (User:ANONYMOUS, the super user): no ACL, the
operation the API needs, ALL, that operation plus a DENY of it, another operation, an operation
that implies it (READ for DESCRIBE, ALTER_CONFIGS for DESCRIBE_CONFIGS), a PREFIXED ACL, the
wildcard resource "*" for User:*, and another host. Each answer's ErrorCode is checked exactly:
Kafka's *_AUTHORIZATION_FAILED code when denied, the API's own answer when allowed. TAP."""
import os
import signal
import struct
import subprocess
import sys
import tempfile
import shutil

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_wire  # noqa: E402
from kafka_wire.client import E, Conn, batch  # noqa: E402

WEIR = kafka_wire.WEIR
# the `weir acl` / `weir topic` commands that set each case up (default: the same binary; the
# TSan build's CLI cannot run librdkafka, so a TSan run of the broker names a release CLI)
WEIR_CLI = os.environ.get("WEIR_CLI_BIN", WEIR)
tap = kafka_wire.Tap()
W = tempfile.mkdtemp(prefix="weir-acl-table-")


def start():
    cmd = [WEIR, "serve", "--data-dir", os.path.join(W, "data"), "--http-listen", "off",
           "--set", "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
           "--set", "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
           "--set", "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
           "--set", "super.users=User:admin;User:ANONYMOUS",
           "--set", "group.initial.rebalance.delay.ms=0"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(os.path.join(W, "err"), "w"),
                         text=True)
    ports = {}
    first = p.stdout.readline()
    assert first.startswith("listening on "), first
    p.stdout.readline()  # http
    while len(ports) < 2:
        name, hp = p.stdout.readline().split()[1].split("://")
        ports[name] = hp
    return p, ports


P, PORTS = start()
ADMIN = PORTS["PLAINTEXT"]


def weir(*args):
    r = subprocess.run([WEIR_CLI, "-b", ADMIN] + list(args), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, (args, r.stderr)


def sasl_conn(user, password):
    c = Conn(PORTS["SASL_PLAINTEXT"], client_id="table")
    e = E(False)
    r = c.req(17, 1, e.str("PLAIN"))  # SaslHandshake v1
    assert r.i16() == 0
    tok = b"\0" + user.encode() + b"\0" + password.encode()
    r = c.req(36, 0, struct.pack(">i", len(tok)) + tok)  # SaslAuthenticate v0
    assert r.i16() == 0, "SASL PLAIN failed"
    return c


# ---- the requests: each returns the ErrorCode that answers for its resource --------------------

e = E(False)


def produce(c):
    body = e.i16(-1) + e.i16(1) + e.i32(5000) + \
        e.arr([e.str("t1") + e.arr([e.i32(0) + e.i32(len(batch([b"v"]))) + batch([b"v"])])])
    r = c.req(0, 8, body)
    r.n(), r.str(), r.n(), r.i32()
    return r.i16()


def fetch(c):
    part = e.i32(0) + e.i32(-1) + e.i64(0) + e.i64(-1) + e.i32(1 << 20)
    body = e.i32(-1) + e.i32(0) + e.i32(0) + e.i32(1 << 20) + e.i8(0) + e.i32(0) + e.i32(-1) + \
        e.arr([e.str("t1") + e.arr([part])]) + e.arr([]) + e.str("")
    r = c.req(1, 11, body)
    r.i32(), r.i16(), r.i32(), r.n(), r.str(), r.n(), r.i32()
    return r.i16()


def list_offsets(c):
    body = e.i32(-1) + e.i8(0) + e.arr([e.str("t1") + e.arr([e.i32(0) + e.i32(-1) + e.i64(-1)])])
    r = c.req(2, 5, body)
    r.i32(), r.n(), r.str(), r.n(), r.i32()
    return r.i16()


def metadata(c):
    r = c.req(3, 8, e.arr([e.str("t1")]) + e.bool(False) + e.bool(False) + e.bool(False))
    r.i32()
    r.arr(lambda: (r.i32(), r.str(), r.i32(), r.str()))
    r.str(), r.i32(), r.n()
    return r.i16()


def create_topics(c):
    t = e.str("made") + e.i32(1) + e.i16(-1) + e.arr([]) + e.arr([])
    r = c.req(19, 4, e.arr([t]) + e.i32(10000) + e.bool(False))
    r.i32(), r.n(), r.str()
    err = r.i16()
    if err == 0:  # for the next case
        weir("topic", "delete", "made", "--yes")
    return err


def delete_topics(c):
    weir("topic", "create", "doomed", "--if-not-exists")
    r = c.req(20, 3, e.arr([e.str("doomed")]) + e.i32(10000))
    r.i32(), r.n(), r.str()
    return r.i16()


def describe_configs(c):
    r = c.req(32, 2, e.arr([e.i8(2) + e.str("t1") + e.arr(None)]) + e.bool(False))
    r.i32(), r.n()
    return r.i16()


def create_partitions(c):
    r = c.req(37, 1, e.arr([e.str("t1") + e.i32(2) + e.arr(None)]) + e.i32(10000) +
              e.bool(True))  # validate_only: the answer without growing t1
    r.i32(), r.n(), r.str()
    return r.i16()


def delete_records(c):
    r = c.req(21, 1, e.arr([e.str("t1") + e.arr([e.i32(0) + e.i64(0)])]) + e.i32(10000))
    r.i32(), r.n(), r.str(), r.n(), r.i32(), r.i64()
    return r.i16()


def find_coordinator(c):
    r = c.req(10, 2, e.str("g1") + e.i8(0))
    r.i32()
    return r.i16()


def offset_fetch(c):
    r = c.req(9, 5, e.str("g1") + e.arr([e.str("t1") + e.i32s([0])]))
    r.i32()
    r.arr(lambda: (r.str(), r.arr(lambda: (r.i32(), r.i64(), r.i32(), r.str(), r.i16()))))
    return r.i16()


def describe_groups(c):
    r = c.req(15, 4, e.arr([e.str("g1")]) + e.bool(False))
    r.i32(), r.n()
    return r.i16()


def delete_groups(c):
    r = c.req(42, 1, e.arr([e.str("g1")]))
    r.i32(), r.n(), r.str()
    return r.i16()


def join_group(c):
    proto = e.str("range") + e.i32(4) + b"meta"
    r = c.req(11, 5, e.str("g1") + e.i32(10000) + e.i32(10000) + e.str("") + e.str(None) +
              e.str("consumer") + e.arr([proto]))
    r.i32()
    return r.i16()


def offset_commit(c):
    part = e.i32(0) + e.i64(0) + e.str("")
    r = c.req(8, 2, e.str("g1") + e.i32(-1) + e.str("") + e.i64(-1) +
              e.arr([e.str("t1") + e.arr([part])]))
    r.n(), r.str(), r.n(), r.i32()
    return r.i16()


def offset_delete(c):
    r = c.req(47, 0, e.str("g1") + e.arr([e.str("t1") + e.arr([e.i32(0)])]))
    top = r.i16()
    r.i32()
    parts = r.arr(lambda: (r.str(), r.arr(lambda: (r.i32(), r.i16()))))
    return top if top else parts[0][1][0][1]


def txn_offset_commit(c):
    part = e.i32(0) + e.i64(0) + e.str("")
    r = c.req(28, 0, e.str("tx1") + e.str("g1") + e.i64(1) + e.i16(0) +
              e.arr([e.str("t1") + e.arr([part])]))
    r.i32(), r.n(), r.str(), r.n(), r.i32()
    return r.i16()


def alter_configs(c):
    cfg = e.str("retention.ms") + e.str("600000")
    r = c.req(33, 1, e.arr([e.i8(2) + e.str("t1") + e.arr([cfg])]) + e.bool(True))
    r.i32(), r.n()
    return r.i16()


def describe_broker_configs(c):
    r = c.req(32, 2, e.arr([e.i8(4) + e.str("1") + e.arr(None)]) + e.bool(False))
    r.i32(), r.n()
    return r.i16()


def describe_topic_partitions(c):
    f = E(True)
    r = c.req(75, 0, f.arr([f.str("t1") + f.tags()]) + f.i32(100) + f.i8(-1) + f.tags(),
              flex=True)
    r.i32(), r.n()
    return r.i16()


def describe_scram_users(c):
    f = E(True)
    r = c.req(50, 0, f.arr(None) + f.tags(), flex=True)
    r.i32()
    return r.i16()


def describe_client_quotas(c):
    f = E(True)
    r = c.req(48, 1, f.arr([]) + f.bool(False) + f.tags(), flex=True)
    r.i32()
    return r.i16()


def alter_client_quotas(c):
    f = E(True)
    entry = f.arr([f.str("user") + f.str("x") + f.tags()]) + \
        f.arr([f.str("producer_byte_rate") + struct.pack(">d", 1024.0) + f.bool(False) +
               f.tags()]) + f.tags()
    r = c.req(49, 1, f.arr([entry]) + f.bool(True) + f.tags(), flex=True)  # validate_only
    r.i32(), r.n()
    return r.i16()


def alter_scram_users(c):
    f = E(True)
    r = c.req(51, 0, f.arr([f.str("nobody") + f.i8(1) + f.tags()]) + f.arr([]) + f.tags(),
              flex=True)
    r.i32(), r.n(), r.str()
    return r.i16()


def describe_log_dirs(c):
    f = E(True)
    r = c.req(35, 3, f.arr(None) + f.tags(), flex=True)
    r.i32()
    return r.i16()


def write_txn_markers(c):
    f = E(True)
    topic = f.str("t1") + f.i32s([0]) + f.tags()
    marker = f.i64(77) + f.i16(0) + f.bool(False) + f.arr([topic]) + f.i32(0) + f.tags()
    r = c.req(27, 1, f.arr([marker]) + f.tags(), flex=True)
    r.n(), r.i64(), r.n(), r.str(), r.n(), r.i32()
    return r.i16()


def describe_producers(c):
    f = E(True)
    r = c.req(61, 0, f.arr([f.str("t1") + f.i32s([0]) + f.tags()]) + f.tags(), flex=True)
    r.i32(), r.n(), r.str(), r.n(), r.i32()
    return r.i16()


def describe_transactions(c):
    f = E(True)
    r = c.req(65, 0, f.arr([f.str("tx1")]) + f.tags(), flex=True)
    r.i32(), r.n()
    return r.i16()


def init_producer_id(c):
    r = c.req(22, 1, e.str("tx1") + e.i32(60000))
    r.i32()
    return r.i16()


def describe_acls(c):
    r = c.req(29, 1, e.i8(1) + e.str(None) + e.i8(1) + e.str(None) + e.str(None) + e.i8(1) +
              e.i8(1))
    r.i32()
    return r.i16()


TOPIC, GROUP, TXN, CLUSTER = "--topic", "--group", "--transactional-id", "--cluster"
# API, request, resource flag, name, operation, ErrorCode when denied, ErrorCode when allowed
TABLE = [
    ("Produce", produce, TOPIC, "t1", "write", 29, 0),
    ("Fetch", fetch, TOPIC, "t1", "read", 29, 0),
    ("ListOffsets", list_offsets, TOPIC, "t1", "describe", 29, 0),
    ("Metadata", metadata, TOPIC, "t1", "describe", 29, 0),
    ("CreateTopics", create_topics, TOPIC, "made", "create", 29, 0),
    ("DeleteTopics", delete_topics, TOPIC, "doomed", "delete", 29, 0),
    ("DescribeConfigs", describe_configs, TOPIC, "t1", "describe_configs", 29, 0),
    ("CreatePartitions", create_partitions, TOPIC, "t1", "alter", 29, 0),
    ("DeleteRecords", delete_records, TOPIC, "t1", "delete", 29, 0),
    ("FindCoordinator", find_coordinator, GROUP, "g1", "describe", 30, 0),
    ("OffsetFetch", offset_fetch, GROUP, "g1", "read", 30, 0),
    ("DescribeGroups", describe_groups, GROUP, "g1", "describe", 30, 0),
    ("DeleteGroups", delete_groups, GROUP, "g1", "delete", 30, 69),  # GROUP_ID_NOT_FOUND
    ("InitProducerId", init_producer_id, TXN, "tx1", "write", 53, 0),
    ("DescribeAcls", describe_acls, CLUSTER, None, "describe", 31, 0),
    ("JoinGroup", join_group, GROUP, "g1", "read", 30, 79),  # MEMBER_ID_REQUIRED
    # allowed past the first check, the next one answers (READ on topic t1: not granted)
    ("OffsetCommit", offset_commit, GROUP, "g1", "read", 30, 29),
    ("OffsetDelete", offset_delete, GROUP, "g1", "delete", 30, 29),
    ("TxnOffsetCommit", txn_offset_commit, TXN, "tx1", "write", 53, 30),
    ("AlterConfigs", alter_configs, TOPIC, "t1", "alter_configs", 29, 0),
    ("DescribeUserScramCredentials", describe_scram_users, CLUSTER, None, "describe", 31, 0),
    # allowed: deleting a credential nobody has is RESOURCE_NOT_FOUND
    ("AlterUserScramCredentials", alter_scram_users, CLUSTER, None, "alter", 31, 91),
    ("DescribeLogDirs", describe_log_dirs, CLUSTER, None, "describe", 31, 0),
    ("DescribeClientQuotas", describe_client_quotas, CLUSTER, None, "describe_configs", 31, 0),
    ("AlterClientQuotas", alter_client_quotas, CLUSTER, None, "alter_configs", 31, 0),
    ("WriteTxnMarkers", write_txn_markers, CLUSTER, None, "cluster_action", 31, 0),
    ("DescribeTopicPartitions", describe_topic_partitions, TOPIC, "t1", "describe", 29, 0),
    ("DescribeProducers", describe_producers, TOPIC, "t1", "read", 29, 0),
    ("DescribeTransactions", describe_transactions, TXN, "tx1", "describe", 53, 0),
    ("DescribeConfigs (broker)", describe_broker_configs, CLUSTER, None, "describe_configs",
     31, 0),
]
IMPLIED_BY = {"describe": "read", "describe_configs": "alter_configs"}


def grant(flag, name, op, principal="User:alice", deny=False, prefixed=False, host=None):
    args = ["acl", "create", "--deny-principal" if deny else "--allow-principal", principal,
            "--operation", op, flag]
    if flag != CLUSTER:
        args.append(name)
    if prefixed:
        args += ["--resource-pattern-type", "prefixed"]
    if host:
        args += ["--host", host]
    weir(*args)


def reset():
    for who in ("User:alice", "User:*"):
        weir("acl", "delete", "--allow-principal", who)
        weir("acl", "delete", "--deny-principal", who)


def scenarios(flag, name, op):
    """(label, ACLs to make, allowed?)"""
    lit = name
    other = "create" if op not in ("create",) else "delete"
    if op == "describe":
        other = "alter_configs"
    s = [("no ACL", [], False),
         (op.upper(), [dict(name=lit, op=op)], True),
         ("ALL", [dict(name=lit, op="all")], True),
         (op.upper() + " and a DENY of it", [dict(name=lit, op=op),
                                            dict(name=lit, op=op, deny=True)], False),
         ("only " + other.upper(), [dict(name=lit, op=other)], False),
         ("User:* on resource *", [dict(name="*", op=op, principal="User:*")], True),
         (op.upper() + " from another host", [dict(name=lit, op=op, host="10.9.9.9")], False)]
    if op in IMPLIED_BY:
        s.append(("implied by " + IMPLIED_BY[op].upper(), [dict(name=lit, op=IMPLIED_BY[op])],
                  True))
    if flag in (TOPIC, GROUP):
        s.append(("PREFIXED", [dict(name=lit[:2], op=op, prefixed=True)], True))
    if flag == CLUSTER:
        s = [x for x in s if x[0] != "User:* on resource *"]
    return s


def main():
    weir("user", "create", "alice", "--password", "alice-pw")
    weir("topic", "create", "t1")
    c = sasl_conn("alice", "alice-pw")
    for api, fn, flag, name, op, denied, allowed in TABLE:
        for label, acls, ok in scenarios(flag, name, op):
            reset()
            for a in acls:
                grant(flag, a["name"], a["op"], a.get("principal", "User:alice"),
                      a.get("deny", False), a.get("prefixed", False), a.get("host"))
            want = allowed if ok else denied
            try:
                got = fn(c)
            except Exception as ex:  # a closed connection or a short answer
                got = "exception %r" % ex
            tap(got == want, "%s, %s on %s %s, ACL: %s -> %s%s" % (
                api, op.upper(), flag[2:], name or "kafka-cluster", label, want,
                "" if got == want else " # got %r" % (got,)))
    reset()
    c.close()
    # super.users: User:admin is one, without any ACL
    weir("user", "create", "admin", "--password", "admin-pw")
    a = sasl_conn("admin", "admin-pw")
    tap(produce(a) == 0 and describe_acls(a) == 0, "super user: Produce and DescribeAcls "
        "allowed without any ACL")
    a.close()


try:
    main()
finally:
    P.send_signal(signal.SIGTERM)
    tap(P.wait(30) == 0, "SIGTERM: clean exit 0")
    shutil.rmtree(W, ignore_errors=True)
tap.finish()
