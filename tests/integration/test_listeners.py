"""Per-listener security settings (issue 16), as Kafka has them: listener.name.<name>.ssl.* and
.sasl.enabled.mechanisms and .[<mechanism>.]connections.max.reauth.ms override the shared
settings for one listener. One broker with two SSL listeners on different certificates from
different CAs, mTLS required (TLS 1.3 only, its own principal mapping rules) on one of them
only, and two SASL_PLAINTEXT listeners with different mechanisms and reauth bounds. Checked with
confluent-kafka (produce and consume with exact payloads; ACLs that let only the mapped
principal in), kcat, openssl s_client and Python's ssl, and raw SaslHandshake/SaslAuthenticate
frames (the mechanisms each listener offers, the session lifetime each gives); each listener's
certificate reloads on its own; prefixes naming no listener, upper-case names, unknown settings
and bad values stop the start with the reason. Runs in build/compat/venv (confluent-kafka 2.16).
TAP."""
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PY = os.path.join(TOP, "build", "compat", "venv", "bin", "python3")
if os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(TOP, "build", "compat", "venv")):
    if not os.path.exists(VENV_PY):
        print("not ok 1 - build/compat/venv is missing: run make deps")
        print("1..1")
        sys.exit(1)
    os.execv(VENV_PY, [VENV_PY] + sys.argv)

import shutil  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

sys.path.insert(0, os.path.join(TOP, "tests", "compat", "lib"))
from security import Weir, kreq, kstr, read_frame, roundtrip, sasl_auth  # noqa: E402

import cli_helpers  # noqa: E402
from cli_helpers import WEIR, tap  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka import KafkaError, KafkaException  # noqa: E402
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,  # noqa: E402
                                   ConfigResource, ConfigSource)

# The client commands run on librdkafka, which ThreadSanitizer does not instrument: under the
# TSan pass they come from the release build, and only the broker is the TSan one.
CLI = os.path.join(TOP, "build", "weir") if os.environ.get("WEIR_PASS") == "tsan" else WEIR
W = tempfile.mkdtemp(prefix="weir-listeners-")
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=W)


def make_ca(name):
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj",
       "/CN=Weir listeners " + name)


def make_cert(name, subject, ca, password=None):
    """W/<name>.pem: a certificate for 127.0.0.1 with the subject, signed by ca, then its key
    (encrypted with password, if given)."""
    key = ["-passout", "pass:" + password] if password else ["-nodes"]
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", *key,
       "-keyout", name + ".key", "-out", name + ".csr", "-subj", subject)
    sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
       "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", "san.cnf")
    with open(os.path.join(W, name + ".pem"), "w") as f:
        f.write(open(os.path.join(W, name + ".crt")).read())
        f.write(open(os.path.join(W, name + ".key")).read())
    return os.path.join(W, name + ".pem")


def path(name):
    return os.path.join(W, name)


def peer_cn(port, ca, cert=None, tls12=False):
    """The CN of the certificate the listener shows a client trusting ca (with a client
    certificate, or limited to TLS 1.2, if asked); an exception when the handshake fails."""
    ctx = ssl.create_default_context(cafile=path(ca + ".pem"))
    if cert:
        ctx.load_cert_chain(path(cert + ".pem"))
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            # TLS 1.3 reports a refused client certificate only on the first read.
            t.sendall(bytes.fromhex("0000000a0012000000000007ffff"))  # ApiVersions v0
            if len(t.recv(4)) != 4:
                raise ConnectionError("closed after the handshake")
            return dict(x[0] for x in t.getpeercert()["subject"]).get("commonName")


def refused(fn):
    try:
        fn()
        return False
    except (OSError, ssl.SSLError, ConnectionError):
        return True


def ssl_conf(b, listener, ca, cert=None):
    c = {"bootstrap.servers": b.addr(listener), "security.protocol": "SSL",
         "ssl.ca.location": path(ca + ".pem")}
    if cert:
        c.update({"ssl.certificate.location": path(cert + ".crt"),
                  "ssl.key.location": path(cert + ".key")})
    return c


def case(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        tap(False, name, traceback.format_exc() + str(e))


def check_tls(b):
    tap(peer_cn(b.ports["INTERNAL"], "ca-a") == "internal",
        "INTERNAL shows the shared keystore's certificate (CA A), no client certificate asked")
    tap(refused(lambda: peer_cn(b.ports["INTERNAL"], "ca-b")),
        "a client trusting only CA B refuses INTERNAL's certificate")
    tap(peer_cn(b.ports["EXTERNAL"], "ca-b", "alice") == "external",
        "EXTERNAL shows its own certificate (listener.name.external.ssl.keystore.location, CA B)")
    tap(refused(lambda: peer_cn(b.ports["EXTERNAL"], "ca-b")),
        "EXTERNAL requires a client certificate (listener.name.external.ssl.client.auth)")
    tap(refused(lambda: peer_cn(b.ports["EXTERNAL"], "ca-b", "mallory")),
        "EXTERNAL refuses a client certificate of another CA (its own truststore)")
    tap(refused(lambda: peer_cn(b.ports["EXTERNAL"], "ca-b", "alice", tls12=True)),
        "EXTERNAL refuses TLS 1.2 (listener.name.external.ssl.enabled.protocols=TLSv1.3)")
    tap(peer_cn(b.ports["INTERNAL"], "ca-a", tls12=True) == "internal",
        "INTERNAL still speaks TLS 1.2 (the shared ssl.enabled.protocols)")


def s_client(port, *args):
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-brief",
                        *args], input=b"", capture_output=True, timeout=20)
    return p.returncode, p.stderr.decode() + p.stdout.decode()


def check_s_client(b):
    rc, out = s_client(b.ports["EXTERNAL"], "-CAfile", path("ca-b.pem"), "-cert",
                       path("alice.crt"), "-key", path("alice.key"), "-verify_return_error")
    tap(rc == 0 and "Verification: OK" in out and "CN = external" in out and "TLSv1.3" in out
        and "Ciphersuite: TLS_CHACHA20_POLY1305_SHA256" in out,
        "openssl s_client: EXTERNAL verifies against CA B over TLS 1.3 with alice's certificate, "
        "its own cipher suite (and its encrypted key opened with its own ssl.key.password)", out)
    rc, out = s_client(b.ports["INTERNAL"], "-CAfile", path("ca-a.pem"))
    tap(rc == 0 and "Ciphersuite: TLS_AES_128_GCM_SHA256" in out,
        "openssl s_client: INTERNAL keeps the broker's default TLS 1.3 order (AES-128-GCM "
        "first)", out)
    rc, out = s_client(b.ports["INTERNAL"], "-CAfile", path("ca-b.pem"), "-verify_return_error")
    tap(rc != 0 and "verify" in out.lower(),
        "openssl s_client: INTERNAL's certificate does not verify against CA B", out)


def check_clients(b):
    sh(CLI, "-b", b.addr("PLAINTEXT"), "topic", "create", "ext")
    for kind in ("--topic", "--group"):  # topics ext*, groups g-ext* (roundtrip's)
        sh(CLI, "-b", b.addr("PLAINTEXT"), "acl", "create", "--allow-principal", "User:alice",
           "--operation", "all", kind, "ext" if kind == "--topic" else "g-ext",
           "--resource-pattern-type", "prefixed")
    roundtrip(ssl_conf(b, "EXTERNAL", "ca-b", "alice"), "ext", 5)
    tap(True, "confluent-kafka over EXTERNAL with alice's certificate: 5 records produced and "
        "read back, as User:alice (EXTERNAL's own ssl.principal.mapping.rules)")
    roundtrip(ssl_conf(b, "INTERNAL", "ca-a"), "int", 3)
    tap(True, "confluent-kafka over INTERNAL (User:ANONYMOUS, a super user): 3 records")
    p = subprocess.run(["kcat", "-b", b.addr("EXTERNAL"), "-C", "-t", "ext", "-o", "beginning",
                        "-e", "-q", "-X", "security.protocol=SSL",
                        "-X", "ssl.ca.location=" + path("ca-b.pem"),
                        "-X", "ssl.certificate.location=" + path("alice.crt"),
                        "-X", "ssl.key.location=" + path("alice.key")],
                       capture_output=True, timeout=30)
    got = p.stdout.decode().split()
    tap(got == ["ext-%d" % i for i in range(5)], "kcat reads the 5 records over EXTERNAL",
        (got, p.stderr.decode()[-500:]))
    errs = []
    pr = Producer({"bootstrap.servers": b.addr("INTERNAL"), "security.protocol": "SSL",
                   "ssl.ca.location": path("ca-a.pem"), "message.timeout.ms": 5000,
                   "error_cb": lambda e: errs.append(e)})
    pr.produce("ext", b"x")
    tap(pr.flush(10) == 0, "(a super user may write ext over INTERNAL)", errs)


def handshake(port, mech):
    """SaslHandshake v1 naming mech: (error code, the mechanisms the listener offers), and the
    open socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(kreq(17, 1, 1, kstr(mech)))
    r = read_frame(s)
    err, n = struct.unpack(">hi", r[4:10])
    mechs, off = [], 10
    for _ in range(n):
        ln = struct.unpack(">h", r[off:off + 2])[0]
        mechs.append(r[off + 2:off + 2 + ln].decode())
        off += 2 + ln
    return err, mechs, s


def check_sasl(b):
    err, mechs, s = handshake(b.ports["SASLA"], b"PLAIN")
    r = sasl_auth(s, 2, b"\0alice\0alice-pw", lifetime=True)
    s.close()
    tap(err == 0 and mechs == ["PLAIN"] and r[1] == 0 and r[4] == 45000,
        "SASLA offers PLAIN (shared sasl.enabled.mechanisms); its session lifetime is "
        "listener.name.sasla.plain.connections.max.reauth.ms (45000)", (err, mechs, r))
    err, mechs, s = handshake(b.ports["SASLB"], b"PLAIN")
    s.close()
    tap(err == 33 and mechs == ["SCRAM-SHA-256"],
        "SASLB offers only SCRAM-SHA-256 (listener.name.saslb.sasl.enabled.mechanisms): "
        "PLAIN gets UNSUPPORTED_SASL_MECHANISM (33)", (err, mechs))
    base = {"security.protocol": "SASL_PLAINTEXT", "sasl.username": "alice",
            "sasl.password": "alice-pw"}
    roundtrip(dict(base, **{"bootstrap.servers": b.addr("SASLB"),
                            "sasl.mechanism": "SCRAM-SHA-256"}), "ext-b", 5)
    tap(True, "confluent-kafka SCRAM-SHA-256 over SASLB: 5 records produced and read back")
    errs = []
    pr = Producer(dict(base, **{"bootstrap.servers": b.addr("SASLB"), "sasl.mechanism": "PLAIN",
                                "message.timeout.ms": 3000, "log_level": 0,
                                "error_cb": lambda e: errs.append(e)}))
    delivered = []
    pr.produce("ext-b", b"x", on_delivery=lambda e, m: delivered.append(e))
    pr.flush(10)
    del pr
    why = "Unsupported SASL mechanism: broker's supported mechanisms: SCRAM-SHA-256"
    tap(len(delivered) == 1 and delivered[0] is not None and any(why in str(e) for e in errs),
        "confluent-kafka PLAIN over SASLB is refused: " + why, (delivered, errs[:2]))
    roundtrip(dict(base, **{"bootstrap.servers": b.addr("SASLA"), "sasl.mechanism": "PLAIN"}),
              "ext-a", 5)
    tap(True, "confluent-kafka PLAIN over SASLA: 5 records produced and read back")


def check_describe(b):
    """DescribeConfigs lists a listener's own settings as Kafka lists listener-prefixed names:
    static, with the type of the setting they override, a password hidden."""
    admin = AdminClient({"bootstrap.servers": b.addr("PLAINTEXT")})
    res = ConfigResource(ConfigResource.Type.BROKER, "1")
    cfg = list(admin.describe_configs([res]).values())[0].result(30)
    got = {n: (e.value, e.source, e.is_sensitive, e.is_read_only) for n, e in cfg.items()
           if n.startswith("listener.name.")}
    static = ConfigSource.STATIC_BROKER_CONFIG.value
    want = {
        "listener.name.external.ssl.client.auth": ("required", static, False, True),
        "listener.name.external.ssl.key.password": (None, static, True, True),
        "listener.name.saslb.sasl.enabled.mechanisms": ("SCRAM-SHA-256", static, False, True),
        "listener.name.sasla.plain.connections.max.reauth.ms": ("45000", static, False, True),
    }
    tap(len(got) == 9 and all(got.get(k) == v for k, v in want.items()),
        "DescribeConfigs lists the 9 listener.name.* settings, static, the key password "
        "hidden", got)
    name = "listener.name.external.ssl.client.auth"
    res = ConfigResource(ConfigResource.Type.BROKER, "1", incremental_configs=[
        ConfigEntry(name, "none", incremental_operation=AlterConfigOpType.SET)])
    try:
        list(admin.incremental_alter_configs([res]).values())[0].result(30)
        err = None
    except KafkaException as e:
        err = e.args[0]
    tap(err is not None and err.code() == KafkaError.INVALID_REQUEST and
        err.str() == "Cannot update these configs dynamically: [%s]" % name,
        "IncrementalAlterConfigs of a listener's setting: INVALID_REQUEST, it is static", err)


def install(src, dst):
    shutil.copyfile(src, dst + ".new")
    os.rename(dst + ".new", dst)


def check_reload(b):
    install(path("external2.pem"), path("external-live.pem"))
    deadline, cn = time.time() + 10, None
    while time.time() < deadline and cn != "external2":
        time.sleep(0.2)
        cn = peer_cn(b.ports["EXTERNAL"], "ca-b", "alice")
    tap(cn == "external2", "EXTERNAL's replaced keystore is served to new connections", cn)
    tap(peer_cn(b.ports["INTERNAL"], "ca-a") == "internal",
        "and INTERNAL goes on with its own certificate")
    install(path("internal2.pem"), path("internal-live.pem"))
    deadline, cn = time.time() + 10, None
    while time.time() < deadline and cn != "internal2":
        time.sleep(0.2)
        cn = peer_cn(b.ports["INTERNAL"], "ca-a")
    tap(cn == "internal2" and peer_cn(b.ports["EXTERNAL"], "ca-b", "alice") == "external2",
        "INTERNAL's (the shared keystore) reloads on its own too", cn)
    install(path("ca-a.pem"), path("external-trust-live.pem"))
    deadline, ok = time.time() + 10, False
    while time.time() < deadline and not ok:
        time.sleep(0.2)
        ok = not refused(lambda: peer_cn(b.ports["EXTERNAL"], "ca-b", "mallory"))
    tap(ok and refused(lambda: peer_cn(b.ports["EXTERNAL"], "ca-b", "alice")),
        "EXTERNAL's replaced truststore (now CA A): mallory's certificate gets in, alice's not")


def refused_start(name, settings, want):
    """`weir serve` with the settings exits non-zero, logging want."""
    args = [WEIR, "serve", "--data-dir", path("bad-" + name), "--http-listen", "off"]
    for s in settings:
        args += ["--set", s]
    p = subprocess.run(args, capture_output=True, timeout=30)
    err = p.stderr.decode()
    tap(p.returncode != 0 and want in err, "refused at start: " + name, err[-600:])


def check_bad_settings():
    two = ["listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
           "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SSL",
           "ssl.keystore.location=" + path("internal.pem")]
    refused_start("a prefix naming no listener",
                  two + ["listener.name.externl.ssl.keystore.location=" + path("external.pem")],
                  "listener.name.externl.ssl.keystore.location: there is no listener named "
                  "externl (listeners: PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0)")
    refused_start("a prefix without a setting", two + ["listener.name.internal=x"],
                  "'listener.name.internal': expected listener.name.<listener>.<setting>")
    refused_start("a listener name in upper case",
                  two + ["listener.name.INTERNAL.ssl.client.auth=required"],
                  "the listener name in listener.name.<listener>. is written in lower case")
    refused_start("an unknown setting after the prefix",
                  two + ["listener.name.internal.ssl.keystore.locaton=x"],
                  "unknown setting 'ssl.keystore.locaton' (after listener.name.internal.)")
    refused_start("a bad value", two + ["listener.name.internal.ssl.client.auth=maybe"],
                  "listener.name.internal.ssl.client.auth: Invalid value maybe for configuration "
                  "ssl.client.auth")
    refused_start("a listener's keystore that does not load",
                  two + ["listener.name.internal.ssl.keystore.location=" + path("nothing.pem")],
                  "listener INTERNAL: ssl.keystore.location: no certificate chain in " +
                  path("nothing.pem"))
    refused_start("a listener's keystore type other than PEM",
                  two + ["listener.name.internal.ssl.keystore.type=JKS"],
                  "listener INTERNAL: Weir reads PEM files only (ssl.keystore.type=JKS")
    refused_start("a listener's encrypted key without its password",
                  two + ["listener.name.internal.ssl.keystore.location=" + path("external.pem")],
                  "listener INTERNAL: ssl.keystore.location: no private key (or a wrong "
                  "ssl.key.password)")
    refused_start("a listener's mechanism Weir lacks",
                  ["listeners=SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms=PLAIN",
                   "listener.name.sasl_plaintext.sasl.enabled.mechanisms=GSSAPI"],
                  "listener SASL_PLAINTEXT: sasl.enabled.mechanisms: 'GSSAPI' is not supported")


def main():
    make_ca("ca-a")
    make_ca("ca-b")
    with open(path("san.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    make_cert("internal", "/CN=internal", "ca-a")
    make_cert("internal2", "/CN=internal2", "ca-a")
    make_cert("external", "/CN=external", "ca-b", "ext-pw")
    make_cert("external2", "/CN=external2", "ca-b", "ext-pw")
    make_cert("alice", "/O=Weir Test/CN=alice", "ca-b")
    make_cert("mallory", "/O=Weir Test/CN=alice", "ca-a")
    shutil.copyfile(path("internal.pem"), path("internal-live.pem"))
    shutil.copyfile(path("external.pem"), path("external-live.pem"))
    shutil.copyfile(path("ca-b.pem"), path("external-trust-live.pem"))
    b = Weir(path("broker"), [
        "listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0,"
        "SASLA://127.0.0.1:0,SASLB://127.0.0.1:0",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SSL,EXTERNAL:SSL,"
        "SASLA:SASL_PLAINTEXT,SASLB:SASL_PLAINTEXT",
        "ssl.keystore.location=" + path("internal-live.pem"),
        "ssl.principal.mapping.rules=DEFAULT",
        "listener.name.external.ssl.keystore.location=" + path("external-live.pem"),
        "listener.name.external.ssl.truststore.location=" + path("external-trust-live.pem"),
        "listener.name.external.ssl.client.auth=required",
        "listener.name.external.ssl.enabled.protocols=TLSv1.3",
        "listener.name.external.ssl.key.password=ext-pw",
        "listener.name.external.ssl.cipher.suites=TLS_CHACHA20_POLY1305_SHA256",
        "listener.name.external.ssl.principal.mapping.rules=RULE:^CN=(.*?),O=Weir Test$/$1/L",
        "sasl.enabled.mechanisms=PLAIN",
        "listener.name.saslb.sasl.enabled.mechanisms=SCRAM-SHA-256",
        "connections.max.reauth.ms=0",
        "listener.name.sasla.plain.connections.max.reauth.ms=45000",
        "authorizer.class.name=" + AUTHORIZER,
        "super.users=User:ANONYMOUS",
    ])
    try:
        sh(CLI, "-b", b.addr("PLAINTEXT"), "user", "create", "alice", "--password", "alice-pw")
        for name, fn in [("tls", lambda: check_tls(b)), ("s_client", lambda: check_s_client(b)),
                         ("clients", lambda: check_clients(b)), ("sasl", lambda: check_sasl(b)),
                         ("describe", lambda: check_describe(b)),
                         ("reload", lambda: check_reload(b))]:
            case(name, fn)
        rc = b.stop()
        tap(rc == 0, "the broker stops cleanly", b.log()[-1500:])
    finally:
        if b.p.poll() is None:
            b.p.kill()
    case("bad settings", check_bad_settings)
    print("1..%d" % cli_helpers.count)
    if cli_helpers.failed == 0:
        shutil.rmtree(W, ignore_errors=True)
    sys.exit(1 if cli_helpers.failed else 0)


if __name__ == "__main__":
    main()
