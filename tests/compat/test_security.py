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
from compat import Tap, eq, TOP, WEIR  # noqa: E402
from security import (Weir, _die_with_parent, closed, kreq, kstr, read_frame,  # noqa: E402
                      roundtrip, sasl_auth)

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


@T.case("TLS: a request written as two records by a Nagle client is answered without 40 ms")
def _():
    # librdkafka writes a request as several TLS records, Nagle on: the second leaves only
    # once the first is acknowledged, so a broker that delays its ACK (40 ms) adds that to
    # every such request. The broker acknowledges at once after each TLS read (TCP_QUICKACK).
    import ssl
    import statistics
    ctx = ssl.create_default_context(cafile=CA)
    ctx.check_hostname = False
    s = ctx.wrap_socket(raw("SSL"), server_hostname="127.0.0.1")
    took = []
    for i in range(60):
        frame = kreq(18, 0, i, b"")
        t0 = time.perf_counter()
        s.sendall(frame[:6])  # two SSL_write calls: two records, two segments
        s.sendall(frame[6:])
        eq("answer %d" % i, (i, 0), struct.unpack(">ih", read_frame(s)[:6]))
        took.append(time.perf_counter() - t0)
    s.close()
    med = statistics.median(took[20:]) * 1000  # past the kernel's quick-ACK start of a connection
    print("# median round trip of the last 40: %.3f ms" % med)
    eq("median round trip under 15 ms (40 ms with delayed ACKs)", True, med < 15)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([ln for ln in f if ln.startswith("VmRSS:")][0].split()[1])


@T.case("hostile TLS: 200 stalled handshakes at once, renegotiation: closed, memory bounded")
def _():
    rss0 = rss_kb(B.p.pid)
    socks = []
    for _ in range(200):
        s = raw("SSL")
        s.sendall(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello's start, then nothing
        socks.append(s)
    rss1 = rss_kb(B.p.pid)
    s = raw("PLAINTEXT")
    t0 = time.time()
    s.sendall(kreq(18, 0, 5, b""))
    eq("ApiVersions answered while 200 handshakes stall", (5, 0),
       struct.unpack(">ih", read_frame(s)[:6]))
    eq("at once", True, time.time() - t0 < 0.5)
    s.close()
    eq("every stalled handshake closed by the timeout", [True] * 200,
       [closed(x, 10) for x in socks])
    print("# RSS %d KiB before, %d KiB with 200 stalled handshakes" % (rss0, rss1))
    eq("RSS grew by less than 32 MiB", True, rss1 - rss0 < 32 * 1024)
    eq("logged", True, B.log().count("TLS handshake not finished within 1000 ms") >= 200)
    # TLS 1.2 renegotiation (OpenSSL's s_client 'R'): refused, the connection closed
    r = subprocess.run(["openssl", "s_client", "-connect", B.addr("SSL"), "-tls1_2", "-CAfile",
                        CA], input="R\n", capture_output=True, text=True, timeout=20)
    eq("renegotiation refused", True, "no renegotiation" in r.stdout + r.stderr)
    eq("the broker closed it and said why", True,
       "TLS renegotiation asked for and refused, closing" in B.log())
    s = raw("PLAINTEXT")
    s.sendall(kreq(18, 0, 6, b""))
    eq("the broker still answers", (6, 0), struct.unpack(">ih", read_frame(s)[:6]))


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
                        ("SCRAM-SHA-512", b"n,,n=alice,r=abc,tokenauth=true"),
                        ("SCRAM-SHA-256", b"n,,n=" + b"u" * 300 + b",r=abc"),
                        ("SCRAM-SHA-256", b"n,,n=alice,r=ab\x7fc"),
                        ("SCRAM-SHA-256", b"n,,n=alice,r="),
                        ("PLAIN", b"\0" + b"u" * 300 + b"\0pw")]:
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


@T.case("connection.failed.authentication.delay.ms: failures answered late, the loop not blocked")
def _():
    d = Weir(os.path.join(W, "delay"), ["listeners=SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
                       "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
                       "connection.failed.authentication.delay.ms=1500"])
    try:
        def connect(listener):
            return socket.create_connection(("127.0.0.1", d.ports[listener]), timeout=5)

        waiting, sent = [], []
        for i in range(40):  # 40 wrong PLAIN passwords (unknown user), each on its connection
            s = connect("SASL_PLAINTEXT")
            s.sendall(kreq(17, 1, 1, kstr(b"PLAIN")))
            eq("handshake %d" % i, (1, 0), struct.unpack(">ih", read_frame(s)[:6]))
            tok = b"\0mallory\0guess%d" % i
            s.sendall(kreq(36, 1, 2, struct.pack(">i", len(tok)) + tok))
            sent.append(time.time())
            waiting.append(s)
        # meanwhile the loop answers others at once
        p = connect("PLAINTEXT")
        t0 = time.time()
        p.sendall(kreq(18, 0, 9, b""))
        eq("ApiVersions while 40 failures wait", (9, 0), struct.unpack(">ih", read_frame(p)[:6]))
        eq("answered within 300 ms", True, time.time() - t0 < 0.3)
        # a second try on a connection whose authentication failed is not read meanwhile
        waiting[0].sendall(kreq(36, 1, 3, struct.pack(">i", 12) + b"\0alice\0right"))
        late = []
        for s, t in zip(waiting, sent):
            r = read_frame(s)
            late.append(time.time() - t)
            c, err, mlen = struct.unpack(">ihh", r[:8])
            eq("answer", (2, 58, "Authentication failed: Invalid username or password"),
               (c, err, r[8:8 + mlen].decode()))
            eq("closed after the answer", True, closed(s))
        eq("every answer after >= 1.4 s", True, min(late) >= 1.4)
        eq("and not much later (< 4 s)", True, max(late) < 4)
        # SaslHandshake v0, a wrong raw SCRAM token: closed without an answer, after the delay
        s = connect("SASL_PLAINTEXT")
        s.sendall(kreq(17, 0, 1, kstr(b"SCRAM-SHA-256")))
        read_frame(s)
        t0 = time.time()
        tok = b"n,,n=nobody,r=abc"
        s.sendall(struct.pack(">i", len(tok)) + tok)
        eq("v0: closed without an answer", None, read_frame(s))
        eq("v0: after the delay", True, time.time() - t0 >= 1.4)
        eq("logged", True, "authentication failed for user 'nobody': unknown user" in d.log())
        # a client that leaves while its answer waits: nothing leaks (checked at stop, ASan)
        s = connect("SASL_PLAINTEXT")
        s.sendall(kreq(17, 1, 1, kstr(b"PLAIN")))
        read_frame(s)
        s.sendall(kreq(36, 1, 2, struct.pack(">i", 9) + b"\0eve\0bad"))
        s.close()
        time.sleep(0.2)
    finally:
        eq("the delay broker stops cleanly with an answer still waiting", 0, d.stop())


def client_cert(name, subj):
    """A client certificate signed by the test CA: (cert, key) paths."""
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
       name + ".csr", "-subj", subj)
    sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", name + ".crt", "-days", "2")
    return os.path.join(W, name + ".crt"), os.path.join(W, name + ".key")


MAPPED = [
    "listeners=SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0",
    "ssl.keystore.location=" + os.path.join(W, "server.pem"),
    "ssl.key.password=keypass",
    "ssl.truststore.location=" + CA,
    "ssl.client.auth=required",
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users=User:ANONYMOUS",
]


@T.case("ssl.principal.mapping.rules: the mapped name is the principal ACLs see; no rule, refused")
def _():
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, NewTopic,
                                       ResourcePatternType, ResourceType)
    m = Weir(os.path.join(W, "mapped"), MAPPED + [
        "ssl.principal.mapping.rules=RULE:^CN=(.*?),OU=Service(.*)$/svc-$1/L,"
        "RULE:^CN=(alice|carol),O=Weir Test$/$1/U"])
    try:
        a = AdminClient({"bootstrap.servers": m.addr("PLAINTEXT")})
        a.create_topics([NewTopic("mapped", 1, 1)])["mapped"].result(20)
        acls = [AclBinding(ResourceType.TOPIC, "mapped", ResourcePatternType.LITERAL, who, "*",
                           AclOperation.WRITE, AclPermissionType.ALLOW)
                for who in ("User:ALICE", "User:svc-orders")]
        for f in a.create_acls(acls).values():
            f.result(20)
        base = {"bootstrap.servers": m.addr("SSL"), "security.protocol": "ssl",
                "ssl.ca.location": CA, "log_level": 0, "message.timeout.ms": 20000}
        svc_crt, svc_key = client_cert("svc", "/O=Weir Test/OU=Service Users/CN=Orders")
        bob_crt, bob_key = client_cert("bob", "/O=Weir Test/CN=bob")
        for who, crt, key in [("alice", os.path.join(W, "client.crt"),
                               os.path.join(W, "client.key")), ("svc", svc_crt, svc_key)]:
            reports = []
            p = Producer(dict(base, **{"ssl.certificate.location": crt, "ssl.key.location": key}))
            for i in range(3):
                p.produce("mapped", b"%d" % i, on_delivery=lambda e, msg: reports.append(e and e.code()))
            eq(who + ": nothing left", 0, p.flush(20))
            eq(who + ": 3 delivered (WRITE allowed to the mapped principal)", [None] * 3, reports)
        log = m.log()
        eq("alice mapped by the second rule (U)", True,
           "CN=alice,O=Weir Test: principal User:ALICE" in log)
        eq("the service mapped by the first rule (lazy group, L)", True,
           "CN=Orders,OU=Service Users,O=Weir Test: principal User:svc-orders" in log)
        codes, _ = auth_failure(dict(base, **{"ssl.certificate.location": bob_crt,
                                             "ssl.key.location": bob_key}), "bob (no rule)")
        eq("bob: refused, the reason logged", True,
           "TLS client certificate 'CN=bob,O=Weir Test': no ssl.principal.mapping.rules rule "
           "matches its subject, closing (failed authentication)" in m.log())
    finally:
        eq("the mapping broker stops cleanly", 0, m.stop())
    # a rule Weir cannot give Kafka's meaning is refused at start, with the reason
    r = subprocess.run([WEIR, "serve", "--data-dir", os.path.join(W, "badrules"),
                        "--http-listen", "off"] + sum([["--set", x] for x in MAPPED + [
                            "ssl.principal.mapping.rules=RULE:(?i)^cn=(.*)$/$1/"]], []),
                       capture_output=True, text=True, timeout=30, preexec_fn=_die_with_parent)
    eq("(?i) refused: exit code", True, r.returncode != 0)
    eq("(?i) refused: the reason", True,
       "ssl.principal.mapping.rules: rule 1 ('RULE:(?i)^cn=(.*)$/$1/'): pattern '(?i)^cn=(.*)$': "
       "(?...) other than (?:...) is not supported" in r.stderr)


@T.case("the broker stops cleanly (exit 0: no leak under ASan)")
def _():
    eq("exit code", 0, B.stop())



shutil.rmtree(W, ignore_errors=True)
T.done()
