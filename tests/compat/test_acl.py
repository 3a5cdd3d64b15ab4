"""# timeout: 300
ACLs (docs/security.md, "Authorization (ACLs)") with clients nobody here wrote: confluent-kafka's
AdminClient (create_acls / describe_acls / delete_acls), its producer and consumer over
SASL_PLAINTEXT with SCRAM users alice and bob, and Kafka 4's kafka-acls.sh.

One broker with authorizer.class.name=StandardAuthorizer, a PLAINTEXT listener whose
User:ANONYMOUS is the super user (local administration) and a SASL_PLAINTEXT listener. Checked,
with exact counts and codes: the ACLs created, described (filters by principal, pattern MATCH)
and deleted; alice writes and reads what her ACLs allow (prefixed and literal), bob gets
TOPIC_AUTHORIZATION_FAILED (29) producing and GROUP_AUTHORIZATION_FAILED (30) consuming; a DENY
beats an ALLOW; Metadata lists only the topics alice may describe; a non-super user gets
CLUSTER_AUTHORIZATION_FAILED (31) on the ACL APIs; bad bindings get INVALID_REQUEST (42); the
ACLs survive a restart; without an authorizer the ACL APIs answer SECURITY_DISABLED (54). TAP."""
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from compat import Tap, eq, WEIR, TOP  # noqa: E402

from confluent_kafka import Consumer, Producer, KafkaException  # noqa: E402
from confluent_kafka.admin import (AdminClient, AclBinding, AclBindingFilter,  # noqa: E402
                                   AclOperation, AclPermissionType, NewTopic,
                                   ResourcePatternType, ResourceType, ScramCredentialInfo,
                                   ScramMechanism, UserScramCredentialUpsertion)

T = Tap()
W = tempfile.mkdtemp(prefix="weir-acl-")
PW = {"alice": "alice-pw", "bob": "bob-pw"}
SETTINGS = [
    "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
    "sasl.enabled.mechanisms=SCRAM-SHA-256",
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users=User:ANONYMOUS",
    "group.initial.rebalance.delay.ms=0",
]


class Weir:
    """`weir serve` with SETTINGS (plus extra) on data dir `data`; .ports by listener name."""

    def __init__(self, data, extra=()):
        cmd = [WEIR, "serve", "--data-dir", data, "--http-listen", "off"]
        settings = SETTINGS + list(extra)
        for s in settings:
            cmd += ["--set", s]
        self.err = open(os.path.join(W, "stderr"), "a")
        # (no PDEATHSIG: a restart happens on a case's thread, whose end would kill it)
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True)
        first = self.p.stdout.readline()
        if not first.startswith("listening on "):
            raise RuntimeError("broker did not start: %r" % first)
        self.p.stdout.readline()  # http on off
        self.ports = {}
        while len(self.ports) < 2:
            line = self.p.stdout.readline().strip()
            if not line.startswith("listener "):
                break
            name, hp = line.split()[1].split("://")
            self.ports[name] = int(hp.rsplit(":", 1)[1])

    def addr(self, listener):
        return "127.0.0.1:%d" % self.ports[listener]

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(30)
        self.err.close()


DATA = os.path.join(W, "data")
B = Weir(DATA)


_clients = []  # kept alive: a future outlives the expression that made its client


def admin(user=None):
    a = AdminClient({"bootstrap.servers": B.addr("PLAINTEXT")} if user is None else sasl(user))
    _clients.append(a)
    return a


def sasl(user, **extra):
    c = {"bootstrap.servers": B.addr("SASL_PLAINTEXT"), "security.protocol": "sasl_plaintext",
         "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": user, "sasl.password": PW[user],
         "log_level": 0}
    c.update(extra)
    return c


def acl(rtype, name, principal, op, perm=AclPermissionType.ALLOW,
        pattern=ResourcePatternType.LITERAL, host="*"):
    return AclBinding(rtype, name, pattern, principal, host, op, perm)


def produce(user, topic, n):
    """The error code of each delivery report (0 when delivered)."""
    codes = []
    p = Producer(sasl(user, **{"message.timeout.ms": 10000, "retries": 0}))
    for i in range(n):
        p.produce(topic, value=b"v%d" % i,
                  on_delivery=lambda e, m: codes.append(e.code() if e else 0))
    p.flush(20)
    return codes


def consume(user, topic, group, want, timeout_s=20):
    """(values read, error codes seen) by a group consumer."""
    c = Consumer(sasl(user, **{"group.id": group, "auto.offset.reset": "earliest",
                               "enable.auto.commit": False}))
    c.subscribe([topic])
    vals, errs = [], []
    end = time.time() + timeout_s
    while time.time() < end and len(vals) < want and not errs:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            errs.append(m.error().code())
        else:
            vals.append(m.value())
    c.close()
    return vals, errs


def error_code(fut):
    try:
        fut.result(20)
        return 0
    except KafkaException as e:
        return e.args[0].code()


@T.case("setup: SCRAM users alice and bob, topics orders, orders-eu, secret (super user)")
def _():
    a = admin()
    ups = [UserScramCredentialUpsertion(u, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256,
                                                               4096), PW[u].encode())
           for u in ("alice", "bob")]
    for f in a.alter_user_scram_credentials(ups).values():
        f.result(20)
    for f in a.create_topics([NewTopic(t, 1) for t in ("orders", "orders-eu",
                                                        "secret")]).values():
        f.result(20)


@T.case("AdminClient create_acls: 6 bindings created, describe_acls lists them exactly")
def _():
    a = admin()
    bindings = [
        acl(ResourceType.TOPIC, "orders", "User:alice", AclOperation.WRITE,
            pattern=ResourcePatternType.PREFIXED),
        acl(ResourceType.TOPIC, "orders", "User:alice", AclOperation.READ),
        acl(ResourceType.GROUP, "g-alice", "User:alice", AclOperation.READ),
        acl(ResourceType.TOPIC, "orders", "User:bob", AclOperation.ALL),
        acl(ResourceType.TOPIC, "orders", "User:bob", AclOperation.WRITE, AclPermissionType.DENY),
        acl(ResourceType.TOPIC, "orders", "User:bob", AclOperation.READ),
    ]
    for f in a.create_acls(bindings).values():
        eq("create result", None, f.result(20))
    got = a.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,
                                           None, None, AclOperation.ANY,
                                           AclPermissionType.ANY)).result(20)
    eq("acls listed", sorted(map(str, bindings)), sorted(map(str, got)))
    alice = a.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,
                                             "User:alice", None, AclOperation.ANY,
                                             AclPermissionType.ANY)).result(20)
    eq("alice's acls", 3, len(alice))
    # MATCH: the patterns that apply to topic orders-eu: only the PREFIXED "orders"
    m = a.describe_acls(AclBindingFilter(ResourceType.TOPIC, "orders-eu",
                                         ResourcePatternType.MATCH, None, None, AclOperation.ANY,
                                         AclPermissionType.ANY)).result(20)
    eq("MATCH orders-eu", ["PREFIXED"], [b.resource_pattern_type.name for b in m])


@T.case("bad bindings: INVALID_REQUEST (42), nothing stored")
def _():
    a = admin()
    bad = acl(ResourceType.TOPIC, "x", "alice-without-type", AclOperation.READ)
    eq("principal without Type:", 42, error_code(a.create_acls([bad])[bad]))
    got = a.describe_acls(AclBindingFilter(ResourceType.TOPIC, "x", ResourcePatternType.ANY,
                                           None, None, AclOperation.ANY,
                                           AclPermissionType.ANY)).result(20)
    eq("nothing on x", 0, len(got))


@T.case("alice produces to orders and orders-eu (PREFIXED WRITE), not to secret (29)")
def _():
    eq("orders", [0] * 5, produce("alice", "orders", 5))
    eq("orders-eu", [0] * 3, produce("alice", "orders-eu", 3))
    eq("secret", [29], produce("alice", "secret", 1))


@T.case("bob: a DENY WRITE beats his ALLOW ALL: TOPIC_AUTHORIZATION_FAILED (29)")
def _():
    eq("bob produce", [29, 29], produce("bob", "orders", 2))


@T.case("alice consumes orders in group g-alice: the 5 records")
def _():
    vals, errs = consume("alice", "orders", "g-alice", 5)
    eq("values", [b"v%d" % i for i in range(5)], vals)
    eq("errors", [], errs)


@T.case("bob may read orders but not group g-bob: GROUP_AUTHORIZATION_FAILED (30)")
def _():
    vals, errs = consume("bob", "orders", "g-bob", 1)
    eq("values", [], vals)
    eq("errors", [30], errs[:1])


@T.case("ListGroups lists only the groups the principal may describe; DescribeGroups: 30")
def _():
    from confluent_kafka import TopicPartition
    c = Consumer({"bootstrap.servers": B.addr("PLAINTEXT"), "group.id": "g-hidden",
                  "enable.auto.commit": False, "log_level": 0})
    c.commit(offsets=[TopicPartition("orders", 0, 1)], asynchronous=False)
    c.close()
    listed = admin("alice").list_consumer_groups().result(20).valid
    eq("alice lists", ["g-alice"], sorted(g.group_id for g in listed))
    every = admin().list_consumer_groups().result(20).valid
    eq("the super user lists", ["g-alice", "g-hidden"], sorted(g.group_id for g in every))
    f = admin("alice").describe_consumer_groups(["g-hidden"])["g-hidden"]
    eq("alice describes g-hidden", 30, error_code(f))


@T.case("Metadata lists only the topics the principal may describe")
def _():
    alice = sorted(admin("alice").list_topics(timeout=20).topics)
    eq("alice sees", ["orders", "orders-eu"], alice)
    eq("super user sees", ["orders", "orders-eu", "secret"],
       sorted(t for t in admin().list_topics(timeout=20).topics if not t.startswith("__")))


@T.case("ACL APIs from a non-super user: CLUSTER_AUTHORIZATION_FAILED (31)")
def _():
    # (librdkafka drops DescribeAcls' top-level ErrorCode; create and delete answer per item)
    b = acl(ResourceType.TOPIC, "secret", "User:alice", AclOperation.READ)
    eq("create", 31, error_code(admin("alice").create_acls([b])[b]))
    f = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                         AclOperation.ANY, AclPermissionType.ANY)
    eq("delete", 31, error_code(admin("alice").delete_acls([f])[f]))


@T.case("kafka-acls.sh --add / --list / --remove on Weir")
def _():
    tool = os.path.join(TOP, "tests", "compat", "bin", "kafka-acls.sh")
    bs = ["--bootstrap-server", B.addr("PLAINTEXT")]

    def run(*args):
        r = subprocess.run([tool] + bs + list(args), capture_output=True, text=True, timeout=120)
        eq("kafka-acls %s exit" % args[0], 0, r.returncode)
        return r.stdout

    run("--add", "--allow-principal", "User:carol", "--operation", "Read", "--operation",
        "Describe", "--topic", "ledger", "--resource-pattern-type", "prefixed")
    out = run("--list", "--topic", "ledger", "--resource-pattern-type", "prefixed")
    eq("listed", True, "(principal=User:carol, host=*, operation=READ, permissionType=ALLOW)"
       in out and "operation=DESCRIBE" in out)
    got = admin().describe_acls(AclBindingFilter(ResourceType.TOPIC, "ledger",
                                                 ResourcePatternType.PREFIXED, "User:carol",
                                                 None, AclOperation.ANY,
                                                 AclPermissionType.ANY)).result(20)
    eq("carol's acls seen by the AdminClient", 2, len(got))
    run("--remove", "--force", "--allow-principal", "User:carol", "--operation", "Read",
        "--topic", "ledger", "--resource-pattern-type", "prefixed")
    got = admin().describe_acls(AclBindingFilter(ResourceType.TOPIC, "ledger",
                                                 ResourcePatternType.ANY, None, None,
                                                 AclOperation.ANY,
                                                 AclPermissionType.ANY)).result(20)
    eq("left after --remove", ["DESCRIBE"], [b.operation.name for b in got])


@T.case("restart keeps the ACLs: alice still writes orders, bob still denied")
def _():
    global B
    B.stop()
    B = Weir(DATA)
    got = admin().describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,
                                                 None, None, AclOperation.ANY,
                                                 AclPermissionType.ANY)).result(20)
    eq("acls after restart", 7, len(got))
    eq("alice", [0], produce("alice", "orders", 1))
    eq("bob", [29], produce("bob", "orders", 1))


@T.case("delete_acls: bob's DENY removed (1 binding), then bob writes orders")
def _():
    f = AclBindingFilter(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:bob",
                         None, AclOperation.WRITE, AclPermissionType.DENY)
    deleted = admin().delete_acls([f])[f].result(20)
    eq("deleted", 1, len(deleted))
    eq("bob", [0], produce("bob", "orders", 1))


def describe_acls_raw(addr):
    """DescribeAcls v1 (every ACL) on a raw socket: (ErrorCode, ErrorMessage)."""
    h, port = addr.rsplit(":", 1)
    s = socket.create_connection((h, int(port)), timeout=10)
    body = struct.pack(">bhbhhbb", 1, -1, 1, -1, -1, 1, 1)
    msg = struct.pack(">hhih", 29, 1, 7, 3) + b"raw" + body
    s.sendall(struct.pack(">i", len(msg)) + msg)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
        data += s.recv(65536)
    s.close()
    err, mlen = struct.unpack(">hh", data[12:16])
    return err, data[16:16 + mlen].decode()


@T.case("no authorizer: the ACL APIs answer SECURITY_DISABLED (54)")
def _():
    global B
    B.stop()
    B = Weir(os.path.join(W, "data2"), ["authorizer.class.name="])
    eq("describe", (54, "No Authorizer is configured."), describe_acls_raw(B.addr("PLAINTEXT")))
    b = acl(ResourceType.TOPIC, "t", "User:alice", AclOperation.READ)
    eq("create", 54, error_code(admin().create_acls([b])[b]))


try:
    B.stop()
finally:
    T.done()
