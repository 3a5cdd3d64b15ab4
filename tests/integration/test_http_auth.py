"""The HTTP listener's TLS, authentication and ACLs (issue 16): `weir serve` on HTTPS with a test
CA, weir.http.authentication.methods=BASIC,BEARER and Kafka's StandardAuthorizer. Users are made
with `weir user create` and with confluent-kafka's AdminClient (AlterUserScramCredentials), ACLs
with `weir acl create`; then a matrix of exact statuses per user and route of the admin API,
/metrics and the schema registry (urllib, and confluent-kafka's SchemaRegistryClient with
basic.auth.user.info over https), the registry's JSON error shape, the 403 message naming the
operation and resource, /health open, a wrong CA and plaintext refused, the certificate
reloaded without a restart, mTLS required, and the settings' bad values refused at start. Runs in build/compat/venv (confluent-kafka 2.16). TAP."""
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

import base64  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo,  # noqa: E402
                                   ScramMechanism, UserScramCredentialUpsertion)
from confluent_kafka.schema_registry import (Schema, SchemaRegistryClient,  # noqa: E402
                                             SchemaRegistryError)

import cli_helpers  # noqa: E402
from cli_helpers import WEIR, tap  # noqa: E402

W = tempfile.mkdtemp(prefix="weir-http-auth-")
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "admin": "admin-pw"}

def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=W)


def make_cert(name, cn):
    """W/<name>.pem: a certificate for 127.0.0.1 with subject CN=cn signed by the test CA, then
    its key (Kafka's PEM keystore)."""
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
       name + ".csr", "-subj", "/CN=" + cn)
    sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", "san.cnf")
    with open(os.path.join(W, name + ".pem"), "w") as f:
        f.write(open(os.path.join(W, name + ".crt")).read())
        f.write(open(os.path.join(W, name + ".key")).read())


def make_certs():
    """W/ca.pem signs the server's W/server.pem, W/reloaded.pem (a second server certificate)
    and W/client.pem (alice's, for mTLS); W/other-ca.pem signs nothing the broker shows."""
    for ca in ("ca", "other-ca"):
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key",
           "-out", ca + ".pem", "-days", "2", "-subj", "/CN=Weir HTTP " + ca)
    with open(os.path.join(W, "san.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    make_cert("server", "localhost")
    make_cert("reloaded", "reloaded")
    make_cert("client", "alice")


def peer_cn(http):
    host, port = http.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        with CTX.wrap_socket(s, server_hostname=host) as t:
            return dict(x[0] for x in t.getpeercert()["subject"]).get("commonName")


def check_reload(http):
    """The keystore replaced the way certificate tools do (a new file renamed over it): new
    connections get the new certificate within a few seconds, without a restart."""
    keystore = os.path.join(W, "server.pem")
    shutil.copyfile(os.path.join(W, "reloaded.pem"), keystore + ".new")
    os.rename(keystore + ".new", keystore)
    deadline, cn = time.time() + 10, None
    while time.time() < deadline and cn != "reloaded":
        time.sleep(0.2)
        cn = peer_cn(http)
    tap(cn == "reloaded", "a replaced keystore is served to new connections without a restart",
        cn)
    st = call(http, "GET", "/api/v1/topics/orders", "alice")[0]
    tap(st == 200, "and requests go on over it", st)


def check_stall(http):
    """A client that connects and says nothing is closed after weir.ssl.handshake.timeout.ms."""
    host, port = http.rsplit(":", 1)
    t0 = time.time()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        try:
            closed = s.recv(1) == b""
        except OSError:
            closed = True
    took = time.time() - t0
    tap(closed and 0.4 < took < 5, "a stalled handshake is closed after 500 ms (%.1f s)" % took)
    tap("TLS handshake failed: not finished in 500 ms" in stderr_of("mtls"),
        "and the broker logs why", stderr_of("mtls")[-800:])


def check_password_change(http, kafka):
    """Checked passwords are remembered (PBKDF2 is slow by design), but never past a change."""
    path = "/api/v1/topics/orders"
    before = [call(http, "GET", path, "alice")[0] for _ in range(3)]
    weir(kafka, "user", "passwd", "alice", "--password", "alice-new")
    after = (call(http, "GET", path, "alice")[0], call(http, "GET", path, "alice", "alice-new")[0])
    tap(before == [200, 200, 200] and after == (401, 200),
        "after `weir user passwd` the old password gets 401 at once, the new one 200",
        (before, after))
    weir(kafka, "user", "delete", "alice")
    st = call(http, "GET", path, "alice", "alice-new")[0]
    tap(st == 401, "after `weir user delete` the user gets 401", st)


def check_mtls():
    """The Kafka listeners' ssl.* settings apply to HTTPS: ssl.client.auth=required (no client
    certificate, no connection), ssl.enabled.protocols, the handshake timeout; the certificate's
    DN is the principal of a request without an Authorization header."""
    global CTX
    p, kafka, http = serve("mtls", "https://127.0.0.1:0",
                           "ssl.keystore.location=" + os.path.join(W, "server.pem"),
                           "ssl.truststore.location=" + os.path.join(W, "ca.pem"),
                           "ssl.client.auth=required", "ssl.enabled.protocols=TLSv1.3",
                           "weir.ssl.handshake.timeout.ms=500",
                           "weir.http.authentication.methods=BASIC",
                           "authorizer.class.name=" + AUTHORIZER, "super.users=User:ANONYMOUS")
    try:
        weir(kafka, "topic", "create", "orders")
        weir(kafka, "acl", "create", "--allow-principal", "User:CN=alice", "--operation",
             "describe", "--topic", "orders")
        check_stall(http)
        old = ssl.create_default_context(cafile=os.path.join(W, "ca.pem"))
        old.load_cert_chain(os.path.join(W, "client.pem"))
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        try:
            urllib.request.urlopen("https://%s/health" % http, context=old, timeout=10)
            refused = False
        except Exception:
            refused = True
        tap(refused, "ssl.enabled.protocols=TLSv1.3: a TLS 1.2 client is refused")
        try:
            urllib.request.urlopen("https://%s/health" % http, context=CTX, timeout=10)
            refused = False
        except Exception:
            refused = True
        tap(refused, "mTLS required: a client without a certificate is refused")
        ctx = ssl.create_default_context(cafile=os.path.join(W, "ca.pem"))
        ctx.load_cert_chain(os.path.join(W, "client.pem"))
        with urllib.request.urlopen("https://%s/health" % http, context=ctx, timeout=10) as r:
            tap(r.status == 200, "mTLS required: a client with a certificate of the CA gets in")
        plain, CTX = CTX, ctx
        try:
            st, body, _ = call(http, "GET", "/api/v1/topics/orders")
            tap(st == 200 and body["name"] == "orders",
                "without an Authorization header the certificate's DN is the principal "
                "(User:CN=alice may describe orders)", (st, body))
            st, body, _ = call(http, "GET", "/api/v1/broker")
            tap(st == 403 and body["message"] == "User:CN=alice is not authorized to DESCRIBE "
                "CLUSTER 'kafka-cluster' (GET /api/v1/broker)", "and is refused the rest", body)
            st = call(http, "GET", "/api/v1/topics/orders", "nobody", "x")[0]
            tap(st == 401, "an Authorization header, when sent, is what counts", st)
        finally:
            CTX = plain
    finally:
        p.terminate()
        p.wait()


def serve(name, http_listen, *settings):
    """Starts `weir serve`; returns (proc, kafka address, http address or None on exit)."""
    return cli_helpers.serve(W, name, http_listen, *settings)


def stderr_of(name):
    return cli_helpers.stderr_of(W, name)


# The client commands run on librdkafka, which ThreadSanitizer does not instrument: under the
# TSan pass they come from the release build, and only the broker is the TSan one.
CLI = os.path.join(TOP, "build", "weir") if os.environ.get("WEIR_PASS") == "tsan" else WEIR


def weir(broker, *args):
    p = subprocess.run([CLI, "-b", broker, *args], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("weir %s: %s" % (" ".join(args), p.stderr))
    return p.stdout


CTX = None


def call(http, method, path, user=None, password=None, body=None, header=None):
    """(status, parsed JSON or text, headers) of an HTTPS request with the test CA."""
    req = urllib.request.Request("https://%s%s" % (http, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if user:
        pw = password if password is not None else PASSWORDS.get(user, "")
        token = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if header:
        req.add_header(*header)
    try:
        with urllib.request.urlopen(req, context=CTX, timeout=30) as r:
            status, raw, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, hdrs = e.code, e.read(), e.headers
    try:
        return status, json.loads(raw), hdrs
    except ValueError:
        return status, raw.decode(errors="replace"), hdrs


def setup_users_and_acls(kafka):
    for u in ("alice", "bob", "admin"):
        weir(kafka, "user", "create", u, "--password", PASSWORDS[u])
    # carol through Kafka's AlterUserScramCredentials, as kafka-configs does
    admin = AdminClient({"bootstrap.servers": kafka})
    up = UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512,
                                                                   8192), b"carol-pw")
    for f in admin.alter_user_scram_credentials([up]).values():
        f.result(30)
    for t in ("orders", "dead", "dead.dlq"):
        weir(kafka, "topic", "create", t)
    acls = [("alice", "write", "--topic", "orders"), ("bob", "read", "--topic", "orders"),
            ("bob", "read", "--group", "billing"), ("carol", "read", "--topic", "dead.dlq"),
            ("carol", "read", "--group", "weir-redrive.dead.dlq")]
    for user, op, kind, name in acls:
        weir(kafka, "acl", "create", "--allow-principal", "User:" + user, "--operation", op,
             kind, name)


def matrix(http):
    """(method, path, body, {user: status}) rows; None is no credential."""
    msg = {"partition": 0, "key": "k", "value": "paid"}
    return [
        ("GET", "/health", None, {None: 200}),
        ("GET", "/api/v1/topics/orders", None,
         {None: 401, "alice": 200, "bob": 200, "carol": 403, "admin": 200}),
        ("POST", "/api/v1/topics/orders/messages", msg,
         {"alice": 201, "bob": 403, "carol": 403, "admin": 201}),
        ("GET", "/api/v1/topics/orders/messages?partition=0", None,
         {"alice": 403, "bob": 200, "admin": 200}),
        ("GET", "/api/v1/topics/orders/configs", None, {"alice": 403, "admin": 200}),
        ("PATCH", "/api/v1/topics/orders/configs", {"set": {"retention.ms": "86400000"}},
         {"alice": 403, "bob": 403, "admin": 200}),
        ("POST", "/api/v1/topics/orders/partitions", {"count": 2}, {"alice": 403, "bob": 403}),
        ("DELETE", "/api/v1/topics/orders", None, {"alice": 403, "bob": 403}),
        ("GET", "/api/v1/topics", None, {None: 401, "alice": 200, "admin": 200}),
        ("POST", "/api/v1/topics", {"name": "fresh"}, {"alice": 403, "admin": 201}),
        ("GET", "/api/v1/broker", None, {"bob": 403, "admin": 200}),
        ("GET", "/api/v1/groups/billing", None, {"alice": 403, "bob": 404}),
        ("DELETE", "/api/v1/groups/billing", None, {"bob": 403}),
        ("GET", "/api/v1/groups", None, {"bob": 200, "admin": 200}),
        ("GET", "/api/v1/dlq", None, {"carol": 200, "admin": 200}),
        ("GET", "/api/v1/dlq/dead.dlq/records", None, {"alice": 403, "carol": 200}),
        ("GET", "/api/v1/openapi.json", None, {None: 401, "carol": 200}),
        ("GET", "/metrics", None, {None: 401, "alice": 403, "admin": 200}),
        ("GET", "/subjects", None, {None: 401, "alice": 200, "admin": 200}),
        ("GET", "/config", None, {"alice": 403, "admin": 200}),
        ("PUT", "/config", {"compatibility": "BACKWARD"}, {"alice": 403, "admin": 200}),
        ("GET", "/config/orders-value", None, {"bob": 403}),
        ("PUT", "/config/orders-value", {"compatibility": "FULL"}, {"alice": 403, "admin": 200}),
        ("GET", "/api/v1/nope", None, {"alice": 403, "admin": 404}),
    ]


def check_matrix(http):
    got, want = {}, {}
    for method, path, body, expect in matrix(http):
        for user, status in expect.items():
            key = "%s %s as %s" % (method, path, user or "nobody")
            want[key] = status
            got[key] = call(http, method, path, user, body=body)[0]
    wrong = ["%s: %s (want %s)" % (k, got[k], want[k]) for k in want if got[k] != want[k]]
    tap(not wrong, "%d requests of the user x route matrix answer the exact status" % len(want),
        "\n".join(wrong))


def jwt_none(sub, expires_in):
    """An unsecured JWT (alg none) for sub, expiring expires_in seconds from now."""
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return "%s.%s." % (b64({"alg": "none"}),
                       b64({"sub": sub, "iat": int(time.time()) - 60,
                            "exp": int(time.time()) + expires_in}))


def check_messages(http):
    st, body, hdrs = call(http, "GET", "/api/v1/topics/orders")
    tap(st == 401 and hdrs.get_all("WWW-Authenticate") == ['Basic realm="weir"',
                                                           'Bearer realm="weir"']
        and body == {"error": "unauthorized",
                     "message": "authentication required: send an Authorization header"},
        "no credential: 401, a challenge per scheme, the admin API's error shape", (st, body))
    st, body, _ = call(http, "GET", "/api/v1/topics/orders", "alice", "wrong")
    tap(st == 401 and body["message"] == "authentication failed: unknown user or wrong password",
        "a wrong password: 401", (st, body))
    tap("HTTP Basic authentication failed for user 'alice': wrong password" in stderr_of("main"),
        "the broker logs the failed login and why")
    st, body, _ = call(http, "GET", "/api/v1/topics/orders", "mallory", "x")
    tap(st == 401, "an unknown user: 401", (st, body))
    st, body, _ = call(http, "GET", "/api/v1/topics/orders",
                       header=("Authorization", "Basic %%%not-base64"))
    tap(st == 401 and "not base64" in body["message"], "a malformed Basic credential: 401",
        (st, body))
    # Bearer: JWTs verified as SASL OAUTHBEARER's (unsecured ones allowed on this broker)
    st, body, _ = call(http, "GET", "/api/v1/topics/orders",
                       header=("Authorization", "Bearer " + jwt_none("bob", 600)))
    tap(st == 200 and body.get("name") == "orders",
        "a bearer token naming bob: bob's ACLs (READ implies DESCRIBE), 200", (st, body))
    st, body, _ = call(http, "POST", "/api/v1/topics/orders/messages", body={"value": "x"},
                       header=("Authorization", "Bearer " + jwt_none("bob", 600)))
    tap(st == 403 and "User:bob is not authorized to WRITE TOPIC 'orders'" in body["message"],
        "a bearer token naming bob: 403 where bob has no ACL", (st, body))
    st, body, _ = call(http, "GET", "/api/v1/topics/orders",
                       header=("Authorization", "Bearer " + jwt_none("bob", -600)))
    tap(st == 401 and body["message"].startswith("invalid bearer token: ")
        and "expired" in body["message"], "an expired bearer token: 401 saying so", (st, body))
    st, body, _ = call(http, "GET", "/api/v1/topics/orders",
                       header=("Authorization", "Bearer eyJhbGciOiJub25lIn0.e30."))
    tap(st == 401 and body["message"].startswith("invalid bearer token: "),
        "a bearer token without exp or sub: 401", (st, body))
    st, body, _ = call(http, "POST", "/api/v1/topics/orders/messages", "bob",
                       body={"value": "x"})
    tap(st == 403 and body == {
        "error": "forbidden",
        "message": "User:bob is not authorized to WRITE TOPIC 'orders' "
                   "(POST /api/v1/topics/orders/messages)"},
        "403 names the principal, operation and resource", (st, body))
    st, body, _ = call(http, "GET", "/subjects/orders-value/versions")
    tap(st == 401 and body["error_code"] == 40101, "a registry path answers 401 in the "
        "registry's shape", (st, body))
    st, body, _ = call(http, "GET", "/api/v1/topics/orders/messages?partition=0", "bob")
    tap(st == 200 and [m["value"] for m in body["messages"]] == ["paid", "paid"],
        "bob reads the two records alice and admin wrote", (st, body))


def check_lists(http, kafka):
    """The lists show what the principal may DESCRIBE, as Kafka's Metadata does."""
    def names(user, path, key, field):
        st, body, _ = call(http, "GET", path, user)
        return st, sorted(x[field] for x in body[key]) if st == 200 else body
    got = {u: names(u, "/api/v1/topics", "topics", "name") for u in ("alice", "carol", "admin")}
    tap(got == {"alice": (200, ["orders"]), "carol": (200, ["dead.dlq"]),
                "admin": (200, ["_schemas", "dead", "dead.dlq", "fresh", "orders"])},
        "GET /api/v1/topics lists the topics each user may describe", got)
    for group in ("billing", "other"):  # committed by the loopback super user
        c = Consumer({"bootstrap.servers": kafka, "group.id": group})
        c.commit(offsets=[TopicPartition("orders", 0, 1)], asynchronous=False)
        c.close()
    got = {u: names(u, "/api/v1/groups", "groups", "group_id") for u in ("bob", "admin")}
    tap(got == {"bob": (200, ["billing"]), "admin": (200, ["billing", "other"])},
        "GET /api/v1/groups lists the groups each user may describe", got)
    path = "/api/v1/groups/billing/offsets/reset"
    st, body, _ = call(http, "POST", path, "bob", body={"topic": "orders", "to": "earliest"})
    tap(st == 200 and body["changes"] == [{"topic": "orders", "partition": 0, "previous": 1,
                                           "offset": 0}],
        "bob (READ on group billing and topic orders) resets its offsets", (st, body))
    st, body, _ = call(http, "POST", path, "bob", body={"topic": "dead", "to": "earliest"})
    tap(st == 403 and body["message"] == "User:bob is not authorized to READ TOPIC 'dead' "
        "(offsets of group 'billing')", "but not on a topic he may not read: 403", (st, body))
    got = {u: names(u, "/api/v1/dlq", "dlq_topics", "topic") for u in ("alice", "carol")}
    tap(got == {"alice": (200, []), "carol": (200, ["dead.dlq"])},
        "GET /api/v1/dlq lists the DLQ topics each user may describe", got)


def check_redrive(http, kafka):
    call(http, "POST", "/api/v1/topics/dead.dlq/messages", "admin",
         body={"partition": 0, "key": "o-1", "value": "x",
               "headers": {"weir.dlq.original.topic": "dead",
                           "weir.dlq.original.partition": "0"}})
    st, body, _ = call(http, "POST", "/api/v1/dlq/dead.dlq/redrive", "carol", body={})
    tap(st == 403 and body["message"] == "User:carol is not authorized to WRITE TOPIC 'dead' "
        "(the origin of dead.dlq/0/0)",
        "redrive without WRITE on the target: 403", (st, body))
    weir(kafka, "acl", "create", "--allow-principal", "User:carol", "--operation", "write",
         "--topic", "dead")
    st, body, _ = call(http, "POST", "/api/v1/dlq/dead.dlq/redrive", "carol", body={})
    tap(st == 200 and body.get("redriven") == 1, "with READ on the DLQ and WRITE on the target "
        "it redrives the record", (st, body))
    call(http, "POST", "/api/v1/topics/dead.dlq/messages", "admin",
         body={"partition": 0, "key": "o-2", "value": "y",
               "headers": {"weir.dlq.original.topic": "orders",
                           "weir.dlq.original.partition": "0"}})
    st, body, _ = call(http, "POST", "/api/v1/dlq/dead.dlq/redrive", "carol", body={})
    tap(st == 403 and body["message"] == "User:carol is not authorized to WRITE TOPIC 'orders' "
        "(the origin of dead.dlq/0/1)", "each record's own origin is checked: 403", (st, body))
    st, body, _ = call(http, "GET", "/api/v1/dlq", "admin")
    left = [d.get("pending") for d in body["dlq_topics"] if d["topic"] == "dead.dlq"]
    tap(st == 200 and left == [1], "and the refused record is still pending", (st, body))


def registry(http, user, password=None, ca="ca.pem"):
    conf = {"url": "https://" + http, "ssl.ca.location": os.path.join(W, ca)}
    if user:
        conf["basic.auth.user.info"] = "%s:%s" % (user, password or PASSWORDS[user])
    return SchemaRegistryClient(conf)


def sr_status(fn):
    try:
        fn()
        return 200, 0
    except SchemaRegistryError as e:
        return e.http_status_code, e.error_code


def check_registry(http):
    avro = Schema('{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}',
                  "AVRO")
    sid = registry(http, "alice").register_schema("orders-value", avro)
    tap(sid == 1, "alice (WRITE on orders) registers orders-value over https: id 1", sid)
    registry(http, "admin").register_schema("dead-value", avro)
    got = {u: sorted(registry(http, u).get_subjects()) for u in ("alice", "carol", "admin")}
    tap(got == {"alice": ["orders-value"], "carol": ["dead-value"],
                "admin": ["dead-value", "orders-value"]},
        "GET /subjects lists the subjects of the topics each user may describe", got)
    latest = registry(http, "bob").get_latest_version("orders-value")
    tap(latest.schema_id == 1 and latest.version == 1, "bob (READ on orders) reads it", latest)
    tap(registry(http, "bob").get_schema(1).schema_str == avro.schema_str,
        "bob reads the schema by id")
    st = sr_status(lambda: registry(http, "bob").register_schema("orders-value", avro))
    tap(st == (403, 40301), "bob may not register: 403 / 40301", st)
    st = sr_status(lambda: registry(http, "carol").get_latest_version("orders-value"))
    tap(st == (403, 40301), "carol (no ACL on orders) may not read: 403 / 40301", st)
    st = sr_status(lambda: registry(http, "alice", "nope").get_latest_version("orders-value"))
    tap(st == (401, 40101), "a wrong password: 401 / 40101", st)
    st = sr_status(lambda: registry(http, None).get_latest_version("orders-value"))
    tap(st == (401, 40101), "no credential: 401 / 40101", st)
    st = sr_status(lambda: registry(http, "admin").delete_subject("orders-value"))
    tap(st == (200, 0), "a super user deletes the subject", st)


def check_tls(http):
    wrong = ssl.create_default_context(cafile=os.path.join(W, "other-ca.pem"))
    try:
        urllib.request.urlopen("https://%s/health" % http, context=wrong, timeout=10)
        refused = False
    except urllib.error.URLError as e:
        refused = isinstance(e.reason, ssl.SSLCertVerificationError)
    tap(refused, "a client trusting another CA refuses the certificate")
    try:
        urllib.request.urlopen("http://%s/health" % http, timeout=10)
        plain = False
    except Exception:
        plain = True
    tap(plain, "plain HTTP to the HTTPS port gets no answer")
    tap("HTTPS connection from 127.0.0.1 closed: TLS handshake failed" in stderr_of("main"),
        "the broker logs the failed handshake and its reason")
    try:
        registry(http, "admin", ca="other-ca.pem").get_subjects()
        why = "no error"
    except Exception as e:  # httpx's ConnectError, with the verification failure in its text
        why = str(e)
    tap("CERTIFICATE_VERIFY_FAILED" in why, "SchemaRegistryClient with the wrong CA fails", why)


def check_settings():
    p, _, http = serve("open-metrics", "https://127.0.0.1:0", "ssl.keystore.location=" +
                       os.path.join(W, "server.pem"), "weir.http.authentication.methods=basic",
                       "weir.http.metrics.open=true", "authorizer.class.name=" + AUTHORIZER)
    try:
        st_m = call(http, "GET", "/metrics")[0]
        st_a = call(http, "GET", "/api/v1/broker")[0]
        tap((st_m, st_a) == (200, 401), "weir.http.metrics.open: /metrics open, the API not",
            (st_m, st_a))
    finally:
        p.terminate()
        p.wait()
    bad = [("digest", ["weir.http.authentication.methods=digest"], []),
           ("nojwks", ["weir.http.authentication.methods=bearer"], []),
           ("token", ["weir.http.authentication.methods=basic"], ["--http-token", "t"]),
           ("nokeystore", [], [])]
    for name, settings, extra in bad:
        args = [WEIR, "serve", "--data-dir", os.path.join(W, name), "--listen", "127.0.0.1:0",
                "--http-listen", "https://127.0.0.1:0" if name == "nokeystore" else
                "127.0.0.1:0"] + extra
        for s in settings:
            args += ["--set", s]
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        want = {"digest": "Invalid value digest for configuration "
                          "weir.http.authentication.methods",
                "token": "--http-token and weir.http.authentication.methods cannot be combined",
                "nojwks": "BEARER in weir.http.authentication.methods) but no way to verify a "
                          "token: set sasl.oauthbearer.jwks.endpoint.url",
                "nokeystore": "the HTTPS listener: a TLS listener needs ssl.keystore.location"}[name]
        tap(r.returncode != 0 and want in r.stderr, "refused at start: " + want,
            r.stderr[-500:])


def main():
    global CTX
    make_certs()
    CTX = ssl.create_default_context(cafile=os.path.join(W, "ca.pem"))
    p, kafka, http = serve("main", "https://127.0.0.1:0",
                           "ssl.keystore.location=" + os.path.join(W, "server.pem"),
                           "weir.http.authentication.methods=BASIC,BEARER",
                           "weir.sasl.oauthbearer.unsecured.enable=true",
                           "authorizer.class.name=" + AUTHORIZER,
                           "super.users=User:admin;User:ANONYMOUS")
    try:
        setup_users_and_acls(kafka)
        check_matrix(http)
        check_messages(http)
        check_lists(http, kafka)
        check_redrive(http, kafka)
        check_registry(http)
        check_tls(http)
        check_reload(http)
        check_password_change(http, kafka)
    finally:
        p.terminate()
        rc = p.wait()
    err = stderr_of("main")
    tap(rc == 0 and "Sanitizer" not in err and "runtime error" not in err,
        "the broker stops cleanly (exit 0, no sanitizer report)", (rc, err[-1500:]))
    check_mtls()
    check_settings()
    reports = [f for f in os.listdir(W) if f.endswith(".err") and
               ("Sanitizer" in stderr_of(f[:-4]) or "runtime error" in stderr_of(f[:-4]))]
    tap(not reports, "no broker of the test printed a sanitizer report", reports)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        tap(False, "no exception", traceback.format_exc())
    finally:
        shutil.rmtree(W, ignore_errors=True)
    print("1..%d" % cli_helpers.count)
    sys.exit(1 if cli_helpers.failed else 0)
