"""# timeout: 240
Differential, security: Apache Kafka 4.x (lib/kafka_oracle.sh) and Weir configured the same
way (a PLAINTEXT listener whose User:ANONYMOUS is the super user, a SASL_PLAINTEXT listener
with SCRAM-SHA-256, StandardAuthorizer, no ACL for alice) answer alice's denied operations with
the same error codes, seen through confluent-kafka: produce, fetch, metadata of a topic,
create and delete topic, offset commit, describe and alter configs, the three ACL APIs; and a
wrong password and an unknown user fail the same way. Both brokers start in parallel (Kafka's
start is most of the time). One TAP line per operation: Kafka's code = Weir's code. TAP."""
import importlib.util
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from compat import Tap, eq, WEIR, _die_with_parent, skip, TOP  # noqa: E402

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,  # noqa: E402
                                   AclPermissionType, AdminClient, AlterConfigOpType,
                                   ConfigEntry, ConfigResource, NewTopic, ResourcePatternType,
                                   ResourceType, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

# The raw SCRAM client of bench/handshakes.py: SaslAuthenticate's own code and message, which a
# client library turns into one local error for every authentication failure.
_hs = importlib.util.spec_from_file_location("handshakes",
                                             os.path.join(TOP, "bench", "handshakes.py"))
handshakes = importlib.util.module_from_spec(_hs)
_hs.loader.exec_module(handshakes)

T = Tap()
W = tempfile.mkdtemp(prefix="weir-secdiff-")
PW = "alice-pw-123"
CLASSPATH = os.environ.get("WEIR_KAFKA_CLASSPATH",
                           os.path.join(TOP, "build", "compat", "kafka.classpath"))
if not os.path.exists(CLASSPATH):
    skip("no Apache Kafka class path (%s): make deps" % CLASSPATH)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def common(plain, sasl):
    return [
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=SCRAM-SHA-256",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:ANONYMOUS",
        "allow.everyone.if.no.acl.found=false",
        "connection.failed.authentication.delay.ms=0",
    ]


def start_kafka(out):
    plain, sasl, ctrl = free_port(), free_port(), free_port()
    sets = common(plain, sasl) + [
        "listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d,"
        "SASL_PLAINTEXT://127.0.0.1:%d" % (plain, ctrl, sasl),
        "advertised.listeners=PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d"
        % (plain, sasl),
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    ]
    cmd = [os.path.join(TOP, "tests", "compat", "lib", "kafka_oracle.sh"), "--dir",
           os.path.join(W, "kafka"), "--port", str(plain), "--controller-port", str(ctrl),
           "--max-seconds", "300"]
    for s in sets:
        cmd += ["--set", s]
    # Started from the main thread: the death signal follows the thread that forks, and a
    # helper thread that ends would take Kafka with it.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(os.path.join(W, "kafka.err"),
                                                                   "w"),
                         text=True, preexec_fn=_die_with_parent)

    def wait():
        line = p.stdout.readline()
        out["kafka"] = (p, "127.0.0.1:%d" % plain, "127.0.0.1:%d" % sasl) \
            if line.startswith("listening on ") else (p, None, None)
    return wait


def start_weir():
    cmd = [WEIR, "serve", "--data-dir", os.path.join(W, "weir"), "--http-listen", "off",
           "--set", "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"]
    for s in common(0, 0):
        if not s.startswith("listener.security.protocol.map"):
            cmd += ["--set", s]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                         stderr=open(os.path.join(W, "weir.err"), "w"), text=True,
                         preexec_fn=_die_with_parent)
    ports = {}
    while len(ports) < 2:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("weir did not start")
        if line.startswith("listener "):
            name, hp = line.split()[1].split("://")
            ports[name] = hp
    return p, ports["PLAINTEXT"], ports["SASL_PLAINTEXT"]


def sasl_conf(addr, user="alice", password=PW, **extra):
    c = {"bootstrap.servers": addr, "security.protocol": "sasl_plaintext",
         "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": user, "sasl.password": password,
         "log_level": 0}
    c.update(extra)
    return c


def code_of(fut_or_fn):
    """The Kafka error code a future (or a call) ends with; 0 when it succeeds."""
    try:
        fut_or_fn.result(20) if hasattr(fut_or_fn, "result") else fut_or_fn()
        return 0
    except KafkaException as e:
        return e.args[0].code()


def setup(admin_addr):
    a = AdminClient({"bootstrap.servers": admin_addr})
    # A Kafka that just started may still be catching up on its metadata: retry.
    end = time.time() + 60
    while True:
        try:
            a.create_topics([NewTopic("secret", 1, 1)], request_timeout=10)["secret"].result(15)
            break
        except Exception:
            if time.time() > end:
                raise
            time.sleep(1)
    for f in a.alter_user_scram_credentials([UserScramCredentialUpsertion(
            "alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
            PW.encode())]).values():
        f.result(30)
    acl = AclBinding(ResourceType.TOPIC, "secret", ResourcePatternType.LITERAL, "User:bob", "*",
                     AclOperation.READ, AclPermissionType.ALLOW)
    for f in a.create_acls([acl]).values():
        f.result(30)
    p = Producer({"bootstrap.servers": admin_addr})
    p.produce("secret", b"x")
    p.flush(20)


def kstr(v):
    return struct.pack(">h", len(v)) + v


def raw_offset_commit(sasl_addr):
    """alice authenticated on a raw socket, OffsetCommit v2 of secret-0 for group g2: the
    partition's error code as the broker sends it (the client library answers this one from
    its own state once FindCoordinator was refused)."""
    host, port = sasl_addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    try:
        handshakes.scram(sock, "sha256", "alice", PW)
        body = (kstr(b"g2") + struct.pack(">i", -1) + kstr(b"") + struct.pack(">q", -1) +
                struct.pack(">i", 1) + kstr(b"secret") + struct.pack(">i", 1) +
                struct.pack(">iqh", 0, 1, -1))
        sock.sendall(handshakes.frame(8, 2, 7, body))
        r = handshakes.read_frame(sock)
        corr, ntopics = struct.unpack(">ii", r[:8])
        off = 8 + 2 + struct.unpack(">h", r[8:10])[0]
        nparts, part, err = struct.unpack(">iih", r[off:off + 10])
        return (corr, ntopics, nparts, part, err)
    finally:
        sock.close()


def denied(sasl_addr):
    """alice's error code for each operation, by name."""
    codes = {}
    reports = []
    p = Producer(sasl_conf(sasl_addr, **{"message.timeout.ms": 10000}))
    p.produce("secret", b"y", on_delivery=lambda e, m: reports.append(e.code() if e else 0))
    p.flush(15)
    codes["produce"] = reports[0] if reports else "no report"
    md = p.list_topics("secret", timeout=10)
    codes["metadata of the topic"] = md.topics["secret"].error.code() \
        if md.topics["secret"].error else 0
    c = Consumer(sasl_conf(sasl_addr, **{"group.id": "g1", "enable.auto.commit": False}))
    c.assign([TopicPartition("secret", 0, 0)])
    end, got = time.time() + 10, None
    while got is None and time.time() < end:
        m = c.poll(0.5)
        if m is not None:
            got = m.error().code() if m.error() else 0
    codes["fetch"] = got
    codes["offset commit"] = code_of(lambda: c.commit(offsets=[TopicPartition("secret", 0, 1)],
                                                      asynchronous=False))
    c.close()
    a = AdminClient(sasl_conf(sasl_addr))
    codes["create topic"] = code_of(a.create_topics([NewTopic("newt", 1, 1)])["newt"])
    codes["delete topic"] = code_of(a.delete_topics(["secret"])["secret"])
    res = ConfigResource(ResourceType.TOPIC, "secret")
    codes["describe configs"] = code_of(list(a.describe_configs([res]).values())[0])
    alt = ConfigResource(ResourceType.TOPIC, "secret", incremental_configs=[ConfigEntry(
        "retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    codes["incremental alter configs"] = code_of(list(a.incremental_alter_configs(
        [alt]).values())[0])
    flt = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                           AclOperation.ANY, AclPermissionType.ANY)
    try:  # Kafka answers with the bindings alice may see (none), not an error
        codes["describe acls"] = ("bindings", len(a.describe_acls(flt).result(20)))
    except KafkaException as e:
        codes["describe acls"] = e.args[0].code()
    acl = AclBinding(ResourceType.TOPIC, "secret", ResourcePatternType.LITERAL, "User:alice",
                     "*", AclOperation.READ, AclPermissionType.ALLOW)
    codes["create acls"] = code_of(list(a.create_acls([acl]).values())[0])
    codes["delete acls"] = code_of(list(a.delete_acls([flt]).values())[0])
    codes["offset commit (OffsetCommit v2)"] = raw_offset_commit(sasl_addr)
    for what, user, pw in (("wrong password", "alice", "nope"), ("unknown user", "zed", PW)):
        errs = []
        q = Producer(sasl_conf(sasl_addr, user=user, password=pw,
                               error_cb=lambda e: errs.append(e.code())))
        end = time.time() + 10
        while not errs and time.time() < end:
            q.poll(0.2)
        codes[what] = errs[0] if errs else "no error"
        host, port = sasl_addr.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=10)
        try:
            handshakes.scram(sock, "sha256", user, pw)
            codes[what + " (SaslAuthenticate)"] = "authenticated"
        except RuntimeError as e:  # "SaslAuthenticate error 58: <Kafka's message>"
            codes[what + " (SaslAuthenticate)"] = str(e)
        sock.close()
    return codes


started = {}
t = threading.Thread(target=start_kafka(started))
t.start()
weir = start_weir()
t.join(150)
kafka = started.get("kafka")
results = {}


@T.case("both brokers start and alice is set up on each", timeout_s=150)
def _():
    eq("Apache Kafka started", True, bool(kafka and kafka[1]))

    def both(fn, arg):  # the two brokers side by side: half the wall time
        errs = []

        def run(name, broker):
            try:
                results[name] = fn(broker[arg])
            except Exception as e:  # reported below, on the test's thread
                errs.append("%s: %r" % (name, e))
        ts = [threading.Thread(target=run, args=x) for x in (("weir", weir), ("kafka", kafka))]
        for x in ts:
            x.start()
        for x in ts:
            x.join(120)
        eq("no error", [], errs)
    both(setup, 1)
    both(denied, 2)
    print("# kafka %s" % results["kafka"])
    print("# weir  %s" % results["weir"])


for op in ("produce", "fetch", "metadata of the topic", "create topic", "delete topic",
           "offset commit", "offset commit (OffsetCommit v2)", "describe configs", "incremental alter configs", "describe acls",
           "create acls", "delete acls", "wrong password", "unknown user",
           "wrong password (SaslAuthenticate)", "unknown user (SaslAuthenticate)"):
    @T.case("alice, %s: the same error code" % op)
    def _(op=op):
        k, w = results["kafka"][op], results["weir"][op]
        if op != "describe acls":  # an answer listing what alice may see (bob's: nothing)
            eq("not a success on Kafka", True, k != 0)
        eq("Kafka's code %r, Weir's" % (k,), k, w)


for proc in (weir[0], kafka[0] if kafka else None):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
subprocess.run(["rm", "-rf", W]) if not os.environ.get("SECDIFF_KEEP") else None
T.done()
