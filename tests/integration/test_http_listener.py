"""The HTTP listener on IPv6, its client certificates mapped by ssl.principal.mapping.rules, and
GET /schemas filtered by ACLs (issue 16). `weir serve --http-listen https://[::1]:0` with mTLS
required, weir.http.authentication.methods=BASIC and Kafka's StandardAuthorizer: a client
certificate's subject becomes the principal the rules give it (CN=Alice,O=Example -> alice),
a subject no rule matches gets 401 saying so; the registry's schema listing shows each principal
the schemas of the subjects whose topics it may DESCRIBE, as GET /subjects does, and so do
the lists of the subjects using a schema; plain HTTP on
[::1] and bad addresses refused at start. Runs in build/compat/venv. TAP."""
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

import json  # noqa: E402
import shutil  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

import cli_helpers  # noqa: E402
from cli_helpers import WEIR, tap  # noqa: E402

# The client commands run on librdkafka, which ThreadSanitizer does not instrument: under the
# TSan pass they come from the release build, and only the broker is the TSan one.
CLI = os.path.join(TOP, "build", "weir") if os.environ.get("WEIR_PASS") == "tsan" else WEIR
W = tempfile.mkdtemp(prefix="weir-http-listener-")
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
RULES = "RULE:^CN=(.*?),O=Example$/$1/L"


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=W)


def make_certs():
    """W/ca.pem signs the server's certificate for ::1 (W/server.pem, chain then key) and the
    clients' certificates W/<name>.crt + .key."""
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Weir CA")
    with open(os.path.join(W, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:::1,IP:127.0.0.1\n")
    for name, subject in (("server", "/CN=localhost"), ("alice", "/O=Example/CN=Alice"),
                          ("admin", "/O=Example/CN=admin"), ("stranger", "/CN=stranger")):
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", subject)
        sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
           "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", "san.cnf")
    with open(os.path.join(W, "server.pem"), "w") as f:
        f.write(open(os.path.join(W, "server.crt")).read())
        f.write(open(os.path.join(W, "server.key")).read())


def serve(name, http_listen, *settings):
    """Starts `weir serve`; returns (proc, kafka address, http address or None on exit)."""
    return cli_helpers.serve(W, name, http_listen, *settings)


def stderr_of(name):
    return cli_helpers.stderr_of(W, name)


def call(url, method="GET", cert=None, body=None):
    """(status, parsed JSON) of a request; HTTPS with the test CA and cert's certificate."""
    ctx = None
    if url.startswith("https://"):
        ctx = ssl.create_default_context(cafile=os.path.join(W, "ca.pem"))
        if cert:
            ctx.load_cert_chain(os.path.join(W, cert + ".crt"), os.path.join(W, cert + ".key"))
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if body is not None:
        req.add_header("Content-Type", "application/vnd.schemaregistry.v1+json")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def weir(kafka, *args):
    sh(CLI, "-b", kafka, *args)


def check_https_v6():
    p, kafka, http = serve("v6", "https://[::1]:0",
                           "ssl.keystore.location=" + os.path.join(W, "server.pem"),
                           "ssl.truststore.location=" + os.path.join(W, "ca.pem"),
                           "ssl.client.auth=required", "ssl.principal.mapping.rules=" + RULES,
                           "weir.http.authentication.methods=BASIC",
                           "authorizer.class.name=" + AUTHORIZER,
                           "super.users=User:ANONYMOUS;User:admin")
    try:
        tap(http is not None and http.startswith("[::1]:"),
            "https://[::1]:0: the HTTP address is printed as [::1]:PORT", (http, stderr_of("v6")))
        base = "https://" + http
        st, body = call(base + "/health", cert="alice")
        tap(st == 200 and body["status"] == "ok", "GET /health over HTTPS on ::1", (st, body))
        for t in ("orders", "payments"):
            weir(kafka, "topic", "create", t)
        weir(kafka, "acl", "create", "--allow-principal", "User:alice", "--operation", "read",
             "--topic", "orders")
        st, body = call(base + "/api/v1/topics/orders", cert="alice")
        tap(st == 200 and body["name"] == "orders",
            "alice's certificate (CN=Alice,O=Example) is User:alice, by the mapping rules: "
            "her ACL lets her describe orders", (st, body))
        st, body = call(base + "/api/v1/broker", cert="alice")
        tap(st == 403 and body["message"] == "User:alice is not authorized to DESCRIBE CLUSTER "
            "'kafka-cluster' (GET /api/v1/broker)", "and nothing more, named User:alice",
            (st, body))
        st, body = call(base + "/api/v1/topics/orders", cert="stranger")
        tap(st == 401 and body["message"] == "no ssl.principal.mapping.rules rule matches the "
            "client certificate's subject", "a subject no rule matches: 401 saying so",
            (st, body))
        tap("TLS client certificate 'CN=stranger': no ssl.principal.mapping.rules rule matches "
            "its subject (failed authentication)" in stderr_of("v6"), "and the broker logs it",
            stderr_of("v6")[-800:])
        check_schemas_list(base)
        p.terminate()
        rc = p.wait(30)
        tap(rc == 0 and "ERROR: AddressSanitizer" not in stderr_of("v6"),
            "the broker stops cleanly (exit 0: no leak under ASan)", stderr_of("v6")[-1500:])
    finally:
        if p.poll() is None:
            p.kill()


def check_schemas_list(base):
    schema = {"schema": '"string"'}
    for subject in ("orders-value", "orders-key", "payments-value"):
        st, body = call(base + "/subjects/%s/versions" % subject, "POST", "admin", schema)
        tap(st == 200 and body == {"id": 1}, "admin (a super user) registers " + subject,
            (st, body))

    def listed(cert):
        st, body = call(base + "/schemas", cert=cert)
        return st, sorted(s["subject"] for s in body) if st == 200 else body
    tap(listed("admin") == (200, ["orders-key", "orders-value", "payments-value"]),
        "GET /schemas: a super user sees every schema", listed("admin"))
    tap(listed("alice") == (200, ["orders-key", "orders-value"]),
        "GET /schemas: alice sees only the schemas of topics she may describe (orders)",
        listed("alice"))
    st, body = call(base + "/subjects", cert="alice")
    tap(st == 200 and sorted(body) == ["orders-key", "orders-value"],
        "as GET /subjects does", (st, body))
    st, body = call(base + "/schemas/ids/1/subjects", cert="alice")
    tap(st == 200 and body == ["orders-key", "orders-value"],
        "GET /schemas/ids/1/subjects: alice sees the subjects of orders only", (st, body))
    st, body = call(base + "/schemas/ids/1/versions", cert="admin")
    tap(st == 200 and [v["subject"] for v in body] == ["orders-key", "orders-value",
                                                       "payments-value"],
        "GET /schemas/ids/1/versions: a super user sees all three", (st, body))
    st, body = call(base + "/schemas?subjectPrefix=payments", cert="alice")
    tap(st == 200 and body == [], "GET /schemas?subjectPrefix=payments: nothing for alice",
        (st, body))


def check_plain_v6():
    p, _, http = serve("plain6", "[::1]:0")
    try:
        tap(http is not None and http.startswith("[::1]:"), "--http-listen [::1]:0 (plain HTTP)",
            http)
        st, body = call("http://%s/health" % http)
        tap(st == 200 and body["status"] == "ok", "GET /health over HTTP on ::1", (st, body))
    finally:
        p.terminate()
        p.wait()
    p, _, _ = serve("badrule", "127.0.0.1:0", "weir.http.authentication.methods=BASIC",
                    "ssl.principal.mapping.rules=RULE:(?i)^cn=(.*)$/$1/")
    rc = p.wait(30)
    tap(rc != 0 and "the HTTP listener: ssl.principal.mapping.rules: rule 1 ('RULE:(?i)^cn=(.*)$/"
        "$1/'): pattern '(?i)^cn=(.*)$': (?...) other than (?:...) is not supported"
        in stderr_of("badrule"), "a mapping rule Weir cannot read stops the start (HTTP only)",
        stderr_of("badrule")[-500:])
    for addr, want in (("[::1:0", "bad HTTP address '[::1:0'"),
                       ("https://nohost:0", "cannot listen on 'nohost': an IPv4 or IPv6 "
                        "address is needed")):
        p, _, _ = serve("bad", addr, "ssl.keystore.location=" + os.path.join(W, "server.pem"))
        rc = p.wait(30)
        tap(rc != 0 and want in stderr_of("bad"), "refused at start: --http-listen " + addr,
            stderr_of("bad")[-500:])


def main():
    make_certs()
    for fn in (check_https_v6, check_plain_v6):
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            tap(False, fn.__name__, traceback.format_exc() + str(e))
    print("1..%d" % cli_helpers.count)
    if cli_helpers.failed == 0:
        shutil.rmtree(W, ignore_errors=True)
    sys.exit(1 if cli_helpers.failed else 0)


if __name__ == "__main__":
    main()
