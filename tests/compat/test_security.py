"""# timeout: 600
Security with clients nobody here wrote: confluent-kafka (librdkafka 2.16, the compat venv),
Debian's kcat (its own librdkafka build) and Kafka 4's kafka-configs.sh. One broker with four
listeners (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL; each advertised as itself in Metadata), one
with mTLS required. Certificates are made here with openssl, on the fly, in a temp dir.

Checked: SCRAM users created with AlterUserScramCredentials (AdminClient and kafka-configs),
described, refused below 4096 iterations; produce and consume over SSL and over both SASL
listeners with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (exact counts and payloads); a wrong
password, an unknown user, a wrong CA, no client certificate where one is required, the mTLS
principal; and hostile bytes on raw sockets: plaintext to a TLS port, a stalled handshake,
requests before the SASL handshake, an unknown mechanism, oversized frames and tokens, v0 raw
tokens. Credentials survive a restart and the file holds no password. TAP."""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from compat import Tap, eq, TOP  # noqa: E402
from security import Weir, closed, kreq, kstr, read_frame, roundtrip, sasl_auth  # noqa: E402

from confluent_kafka import Producer, KafkaError, KafkaException  # noqa: E402
from confluent_kafka.admin import (AdminClient, UserScramCredentialUpsertion,  # noqa: E402
                                   UserScramCredentialDeletion, ScramCredentialInfo,
                                   ScramMechanism)

T = Tap()
W = tempfile.mkdtemp(prefix="weir-sec-")
PW = "alice-s3cret"


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=W)


def make_certs():
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate for alice, and a
    second CA nobody trusts."""
    for ca in ("ca", "otherca"):
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key",
           "-out", ca + ".pem", "-days", "2", "-subj", "/CN=Weir Test " + ca)
    with open(os.path.join(W, "san.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("openssl", "req", "-newkey", "rsa:2048", "-keyout", "server.key", "-out", "server.csr",
       "-subj", "/CN=localhost", "-passout", "pass:keypass")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.cnf")
    with open(os.path.join(W, "server.pem"), "w") as f:  # chain + (encrypted) key, Kafka's PEM
        f.write(open(os.path.join(W, "server.crt")).read())
        f.write(open(os.path.join(W, "server.key")).read())
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out",
       "client.csr", "-subj", "/O=Weir Test/CN=alice")
    sh("openssl", "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "client.crt", "-days", "2")


make_certs()
B = Weir(os.path.join(W, "main"), [
    "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,"
    "SASL_SSL://127.0.0.1:0",
    "ssl.keystore.location=" + os.path.join(W, "server.pem"),
    "ssl.key.password=keypass",
    "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    "weir.ssl.handshake.timeout.ms=1000",
    "group.initial.rebalance.delay.ms=0",
])
CA = os.path.join(W, "ca.pem")


def conf(listener, mech=None, user="alice", password=PW, ca=CA, **extra):
    proto = {"PLAINTEXT": "plaintext", "SSL": "ssl", "SASL_PLAINTEXT": "sasl_plaintext",
             "SASL_SSL": "sasl_ssl"}[listener]
    c = {"bootstrap.servers": B.addr(listener), "security.protocol": proto, "log_level": 0}
    if "SSL" in listener:
        c["ssl.ca.location"] = ca
    if mech:
        c.update({"sasl.mechanism": mech, "sasl.username": user, "sasl.password": password})
    c.update(extra)
    return c


def admin():
    return AdminClient({"bootstrap.servers": B.addr("PLAINTEXT")})


def auth_failure(c, what):
    """A producer that must fail to connect: the librdkafka error codes it reported (its record
    must time out undelivered)."""
    errs, reports = [], []
    p = Producer(dict(c, **{"message.timeout.ms": 3000, "log_level": 0,
                            "error_cb": lambda e: errs.append(e)}))
    p.produce("never", b"x", on_delivery=lambda err, msg: reports.append(err))
    eq(what + ": nothing left after the timeout", 0, p.flush(10))
    eq(what + ": the record failed", [KafkaError._MSG_TIMED_OUT], [e.code() for e in reports])
    return set(e.code() for e in errs), errs


@T.case("each listener advertises its own endpoint in Metadata")
def _():
    for name, c in [("PLAINTEXT", conf("PLAINTEXT")), ("SSL", conf("SSL"))]:
        md = AdminClient(c).list_topics(timeout=10)
        eq(name + " brokers", [(1, "127.0.0.1", B.ports[name])],
           [(b.id, b.host, b.port) for b in md.brokers.values()])
    out = subprocess.run(["kcat", "-L", "-b", B.addr("SSL"), "-X", "security.protocol=ssl",
                          "-X", "ssl.ca.location=" + CA], capture_output=True, text=True,
                         timeout=30).stdout
    eq("kcat over SSL sees the SSL endpoint", True,
       "broker 1 at 127.0.0.1:%d" % B.ports["SSL"] in out)


@T.case("AlterUserScramCredentials: users made, iterations bounded, described")
def _():
    a = admin()
    fs = a.alter_user_scram_credentials([
        UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256,
                                                                  8192), PW.encode()),
        UserScramCredentialUpsertion("alice", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512,
                                                                  4096), PW.encode()),
        UserScramCredentialUpsertion("weak", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256,
                                                                 4095), b"x"),
        UserScramCredentialUpsertion("huge", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256,
                                                                 16385), b"x"),
    ])
    eq("alice", None, fs["alice"].result(10))
    for u, msg in [("weak", "Too few iterations"), ("huge", "Too many iterations")]:
        try:
            fs[u].result(10)
            raise AssertionError(u + " accepted")
        except KafkaException as e:
            eq(u + " error", (KafkaError.UNACCEPTABLE_CREDENTIAL, msg),
               (e.args[0].code(), e.args[0].str()))
    d = a.describe_user_scram_credentials(["alice"])["alice"].result(10)
    eq("alice's credentials", [(ScramMechanism.SCRAM_SHA_256, 8192),
                               (ScramMechanism.SCRAM_SHA_512, 4096)],
       sorted((i.mechanism, i.iterations) for i in d.scram_credential_infos))
    try:
        a.describe_user_scram_credentials(["nobody"])["nobody"].result(10)
        raise AssertionError("nobody described")
    except KafkaException as e:
        eq("unknown user", KafkaError.RESOURCE_NOT_FOUND, e.args[0].code())
    # a deletion of something absent fails that user only
    fs = a.alter_user_scram_credentials([UserScramCredentialDeletion(
        "nobody", ScramMechanism.SCRAM_SHA_512)])
    try:
        fs["nobody"].result(10)
        raise AssertionError("deleted nothing")
    except KafkaException as e:
        eq("delete unknown", KafkaError.RESOURCE_NOT_FOUND, e.args[0].code())


@T.case("kafka-configs.sh --alter --add-config SCRAM-SHA-256=[password=...] --entity-type users")
def _():
    tool = os.path.join(TOP, "tests", "compat", "bin", "kafka-configs.sh")
    if not os.path.exists(os.path.join(TOP, "build", "compat", "kafka.classpath")):
        raise AssertionError("build/compat/kafka.classpath missing: make deps")
    r = subprocess.run([tool, "--bootstrap-server", B.addr("PLAINTEXT"), "--alter",
                        "--add-config", "SCRAM-SHA-256=[iterations=4096,password=carol-pw]",
                        "--entity-type", "users", "--entity-name", "carol"],
                       capture_output=True, text=True, timeout=120)
    eq("kafka-configs --alter output", "Completed updating config for user carol.",
       r.stdout.strip())
    # (kafka-configs --describe --entity-type users also asks DescribeClientQuotas, which comes
    # with the quota work: the AdminClient describes the credential instead.)
    a = admin()  # kept: a client destroyed before its future resolves fails it with _DESTROY
    d = a.describe_user_scram_credentials(["carol"])["carol"].result(10)
    eq("carol's credential", [(ScramMechanism.SCRAM_SHA_256, 4096)],
       [(i.mechanism, i.iterations) for i in d.scram_credential_infos])
    roundtrip(conf("SASL_PLAINTEXT", "SCRAM-SHA-256", user="carol", password="carol-pw"),
              "carol-topic", 3)


@T.case("SSL: produce and consume 100 records")
def _():
    roundtrip(conf("SSL"), "over-ssl", 100)


for _listener in ("SASL_PLAINTEXT", "SASL_SSL"):
    for _mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        def _case(listener=_listener, mech=_mech):
            roundtrip(conf(listener, mech), ("%s-%s" % (listener, mech)).lower(), 20)
        T.case("%s %s: produce and consume 20 records" % (_listener, _mech))(_case)


@T.case("kcat over SASL_SSL with SCRAM-SHA-512 reads what was produced")
def _():
    out = subprocess.run(["kcat", "-C", "-b", B.addr("SASL_SSL"), "-t", "over-ssl", "-o",
                          "beginning", "-c", "100", "-e", "-q", "-X", "security.protocol=sasl_ssl",
                          "-X", "ssl.ca.location=" + CA, "-X", "sasl.mechanisms=SCRAM-SHA-512",
                          "-X", "sasl.username=alice", "-X", "sasl.password=" + PW],
                         capture_output=True, text=True, timeout=60).stdout.split()
    eq("kcat records", ["over-ssl-%d" % i for i in range(100)], out)


@T.case("wrong password and unknown user: SASL_AUTHENTICATION_FAILED, nothing delivered")
def _():
    cases = [("SCRAM-SHA-256", "alice", "wrong"), ("SCRAM-SHA-512", "mallory", PW),
             ("PLAIN", "alice", "wrong"), ("PLAIN", "mallory", PW)]
    for mech, user, pw in cases:
        codes, errs = auth_failure(conf("SASL_PLAINTEXT", mech, user=user, password=pw),
                                   "%s %s" % (mech, user))
        eq("%s %s codes" % (mech, user), True, KafkaError._AUTHENTICATION in codes)
        want = ("Authentication failed during authentication due to invalid credentials with "
                "SASL mechanism " + mech) if mech != "PLAIN" else \
            "Authentication failed: Invalid username or password"
        eq("%s %s message" % (mech, user), True, any(want in e.str() for e in errs))
    log = B.log()
    eq("log: unknown user", True,
       "SASL SCRAM-SHA-512 authentication failed for user 'mallory': unknown user" in log)
    eq("log: wrong password", True,
       "SASL SCRAM-SHA-256 authentication failed for user 'alice': wrong password" in log)


@T.case("wrong CA: the client refuses the server's certificate")
def _():
    codes, _ = auth_failure(conf("SSL", ca=os.path.join(W, "otherca.pem")), "wrong CA")
    eq("codes", True, KafkaError._SSL in codes)


def raw(listener):
    return socket.create_connection(("127.0.0.1", B.ports[listener]), timeout=5)


@T.case("plaintext to a TLS port: closed, the reason logged")
def _():
    s = raw("SSL")
    s.sendall(kreq(18, 0, 1, b""))
    eq("closed", True, closed(s))
    eq("logged", True, "TLS handshake failed: " in B.log())


@T.case("a TLS handshake that stalls is closed after weir.ssl.handshake.timeout.ms")
def _():
    s = raw("SASL_SSL")
    s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
    t0 = time.time()
    eq("closed", True, closed(s, 10))
    took = time.time() - t0
    eq("closed after about 1 s", True, 0.5 < took < 5)
    eq("logged", True, "TLS handshake not finished within 1000 ms, closing" in B.log())


@T.case("SASL gate: requests before authentication close the connection")
def _():
    for key, ver, body in [(3, 1, struct.pack(">i", 0)),   # Metadata
                           (36, 1, struct.pack(">i", 0)),  # SaslAuthenticate before handshake
                           (0, 3, b"")]:                  # Produce
        s = raw("SASL_PLAINTEXT")
        s.sendall(kreq(key, ver, 7, body))
        eq("api %d closes" % key, True, closed(s))
    # ApiVersions passes, then a frame over sasl.server.max.receive.size closes
    s = raw("SASL_PLAINTEXT")
    s.sendall(kreq(18, 0, 1, b""))
    r = read_frame(s)
    eq("ApiVersions answered", (1, 0), struct.unpack(">ih", r[:6]))
    s.sendall(struct.pack(">i", 600 * 1024) + b"\0" * (600 * 1024))
    eq("oversized frame closes", True, closed(s))


@T.case("SaslHandshake: unknown mechanism (UNSUPPORTED_SASL_MECHANISM, then closed)")
def _():
    s = raw("SASL_PLAINTEXT")
    s.sendall(kreq(17, 1, 2, kstr(b"GSSAPI")))
    r = read_frame(s)
    corr, err, n = struct.unpack(">ihi", r[:10])
    mechs, off = [], 10
    for _ in range(n):
        ln = struct.unpack(">h", r[off:off + 2])[0]
        mechs.append(r[off + 2:off + 2 + ln].decode())
        off += 2 + ln
    eq("answer", (2, 33, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]), (corr, err, mechs))
    eq("closed", True, closed(s))
    # on a PLAINTEXT listener: ILLEGAL_SASL_STATE, and the connection stays
    s = raw("PLAINTEXT")
    s.sendall(kreq(17, 1, 3, kstr(b"PLAIN")))
    eq("PLAINTEXT answer", (3, 34, 0), struct.unpack(">ihi", read_frame(s)[:10]))
    s.sendall(kreq(18, 0, 4, b""))
    eq("still open", (4, 0), struct.unpack(">ih", read_frame(s)[:6]))


@T.case("SaslAuthenticate: oversized token and bad SCRAM messages fail with 58, then close")
def _():
    for mech, token in [("PLAIN", b"\0alice\0" + b"p" * 9000),
                        ("SCRAM-SHA-256", b"n,,n=alice,r=" + b"x" * 9000),
                        ("SCRAM-SHA-256", b"p=tls-unique,,n=alice,r=abc"),
                        ("SCRAM-SHA-512", b"n,,n=alice,r=abc,tokenauth=true")]:
        s = raw("SASL_PLAINTEXT")
        s.sendall(kreq(17, 1, 1, kstr(mech.encode())))
        eq("handshake", (1, 0), struct.unpack(">ih", read_frame(s)[:6]))
        c, err, msg, _ = sasl_auth(s, 2, token)
        eq(mech + " error", (2, 58), (c, err))
        eq(mech + " closed", True, closed(s))
    # a SCRAM client-final whose nonce is not the server's
    s = raw("SASL_PLAINTEXT")
    s.sendall(kreq(17, 1, 1, kstr(b"SCRAM-SHA-256")))
    read_frame(s)
    c, err, msg, sf = sasl_auth(s, 2, b"n,,n=alice,r=clientnonce")
    eq("server-first", (2, 0, True), (c, err, sf.startswith(b"r=clientnonce")))
    eq("iterations as stored", True, sf.endswith(b",i=8192"))
    c, err, msg, _ = sasl_auth(s, 3, b"c=biws,r=clientnonceFORGED,p=" + b"A" * 44)
    eq("forged nonce", (3, 58), (c, err))
    eq("closed", True, closed(s))


@T.case("SaslHandshake v0 then a raw PLAIN token, then requests work")
def _():
    s = raw("SASL_PLAINTEXT")
    s.sendall(kreq(17, 0, 1, kstr(b"PLAIN")))
    eq("handshake v0", (1, 0), struct.unpack(">ih", read_frame(s)[:6]))
    tok = b"\0alice\0" + PW.encode()
    s.sendall(struct.pack(">i", len(tok)) + tok)
    eq("raw answer: an empty token", b"", read_frame(s))
    s.sendall(kreq(18, 0, 5, b""))
    eq("ApiVersions after", (5, 0), struct.unpack(">ih", read_frame(s)[:6]))
    s.sendall(kreq(17, 1, 6, kstr(b"PLAIN")))
    eq("a second handshake: ILLEGAL_SASL_STATE", (6, 34), struct.unpack(">ih", read_frame(s)[:6]))
    # a wrong raw token closes without an answer
    s = raw("SASL_PLAINTEXT")
    s.sendall(kreq(17, 0, 1, kstr(b"PLAIN")))
    read_frame(s)
    tok = b"\0alice\0nope"
    s.sendall(struct.pack(">i", len(tok)) + tok)
    eq("wrong raw token closes", None, read_frame(s))


@T.case("credentials survive a restart; the file holds no password")
def _():
    eq("clean stop", 0, B.stop())
    data = open(os.path.join(B.dir, "data", "scram-credentials"), "rb").read()
    eq("no password in the file", False, PW.encode() in data or b"carol-pw" in data)
    eq("users in the file", [b"alice", b"alice", b"carol"],
       sorted(line.split(b"\t")[0] for line in data.splitlines()[1:]))
    B.start()
    roundtrip(conf("SASL_SSL", "SCRAM-SHA-256"), "after-restart", 5)


@T.case("mTLS (ssl.client.auth=required): a client certificate is the principal, none is refused")
def _():
    m = Weir(os.path.join(W, "mtls"), [
        "listeners=SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
        "ssl.keystore.location=" + os.path.join(W, "server.pem"),
        "ssl.key.password=keypass",
        "ssl.truststore.location=" + CA,
        "ssl.client.auth=required",
        "ssl.enabled.protocols=TLSv1.3",
    ])
    try:
        c = {"bootstrap.servers": m.addr("SSL"), "security.protocol": "ssl",
             "ssl.ca.location": CA, "log_level": 0}
        codes, _ = auth_failure(c, "no client certificate")
        eq("no certificate: codes", True, KafkaError._SSL in codes or
           KafkaError._TRANSPORT in codes)
        eq("no certificate: logged", True, "TLS handshake failed: " in m.log())
        c.update({"ssl.certificate.location": os.path.join(W, "client.crt"),
                  "ssl.key.location": os.path.join(W, "client.key")})
        p = Producer(c)
        p.produce("mtls", b"hi")
        eq("delivered with a certificate", 0, p.flush(20))
        eq("principal", True, "principal User:CN=alice,O=Weir Test" in m.log())
        r = subprocess.run(["openssl", "s_client", "-connect", m.addr("SSL"), "-tls1_2",
                            "-CAfile", CA], input="", capture_output=True, text=True,
                           timeout=20)
        eq("TLSv1.2 refused when only TLSv1.3 is enabled", True,
           "Cipher is (NONE)" in r.stdout or "no protocols available" in r.stderr
           or r.returncode != 0)
    finally:
        rc = m.stop()
    eq("the mTLS broker stops cleanly (exit 0: no leak under ASan)", 0, rc)


@T.case("the broker stops cleanly (exit 0: no leak under ASan)")
def _():
    eq("exit code", 0, B.stop())



shutil.rmtree(W, ignore_errors=True)
T.done()
