"""OAUTHBEARER tokens' scopes and a JWKS over HTTPS (issue 16): the broker reads its signing keys
from https://127.0.0.1 (a test identity provider with its own CA,
weir.sasl.oauthbearer.jwks.endpoint.ca.location) and requires the scopes of
weir.sasl.oauthbearer.required.scopes in the sasl.oauthbearer.scope.claim.name claim, besides
the expected audience. confluent-kafka (librdkafka) produces with an ES256 token from its oauth_cb
(exact delivery count), and is refused, with the reason, for a token lacking a scope or for
another audience; the HTTP listener's Bearer tokens obey the same rule; a JWKS server whose
certificate the broker does not trust, and an https:// URL off loopback, stop the start. A second
listener verifies its tokens with its own audience and scopes
(listener.name.<l>.[oauthbearer.]sasl.oauthbearer.* and .weir.sasl.oauthbearer.*). TAP."""
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
import http.server  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

import cli_helpers  # noqa: E402
from cli_helpers import tap  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature  # noqa: E402

W = tempfile.mkdtemp(prefix="weir-oauth-scope-")
KEY = ec.generate_private_key(ec.SECP256R1())
SCOPES = "kafka.produce, kafka.describe"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(scope, aud="weir", sub="svc"):
    """An ES256 JWT for sub, valid for a minute, with the scope claim given (None: none)."""
    now = int(time.time())
    body = {"sub": sub, "aud": aud, "iat": now, "exp": now + 60}
    if scope is not None:
        body["scope"] = scope
    head = {"alg": "ES256", "typ": "JWT", "kid": "ec-1"}
    signed = (b64u(json.dumps(head).encode()) + "." + b64u(json.dumps(body).encode())).encode()
    r, s = decode_dss_signature(KEY.sign(signed, ec.ECDSA(hashes.SHA256())))
    return signed.decode() + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Jwks(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        e = KEY.public_key().public_numbers()
        body = json.dumps({"keys": [{"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256",
                                     "x": b64u(e.x.to_bytes(32, "big")),
                                     "y": b64u(e.y.to_bytes(32, "big"))}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=W)


def https_idp():
    """The identity provider: the JWKS over HTTPS on 127.0.0.1, with a certificate of W/ca.pem."""
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=IdP CA")
    with open(os.path.join(W, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", "idp.key", "-out", "idp.csr", "-subj", "/CN=idp")
    sh("openssl", "x509", "-req", "-in", "idp.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "idp.crt", "-days", "2", "-extfile", "san.cnf")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(W, "idp.crt"), os.path.join(W, "idp.key"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return "https://127.0.0.1:%d/jwks.json" % srv.server_port


def produce(kafka, tok, n=3):
    """(records delivered, error texts) of a producer whose oauth_cb hands out tok."""
    errs, done = [], []
    p = Producer({"bootstrap.servers": kafka, "security.protocol": "SASL_PLAINTEXT",
                  "sasl.mechanism": "OAUTHBEARER", "log_level": 0, "message.timeout.ms": 1500,
                  "oauth_cb": lambda _c: (tok, time.time() + 60, "svc"),
                  "error_cb": lambda e: errs.append(str(e))})
    for i in range(n):
        p.produce("scoped", b"r%d" % i,
                  on_delivery=lambda e, m: done.append(e is None))
    p.flush(10)
    del p
    return sum(done), errs


def bearer(http, tok):
    req = urllib.request.Request("http://%s/api/v1/topics" % http)
    req.add_header("Authorization", "Bearer " + tok)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def main():
    url = https_idp()
    args = ["listeners=SASL_PLAINTEXT://127.0.0.1:0,PARTNERS://127.0.0.1:0",
            "sasl.enabled.mechanisms=OAUTHBEARER",
            "sasl.oauthbearer.jwks.endpoint.url=" + url,
            "weir.sasl.oauthbearer.jwks.endpoint.ca.location=" + os.path.join(W, "ca.pem"),
            "sasl.oauthbearer.expected.audience=weir",
            "weir.sasl.oauthbearer.required.scopes=" + SCOPES,
            "weir.http.authentication.methods=BEARER",
            # PARTNERS verifies its tokens its own way (Kafka's listener and mechanism prefixes)
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,"
            "PARTNERS:SASL_PLAINTEXT",
            "listener.name.partners.oauthbearer.sasl.oauthbearer.expected.audience=partners",
            "listener.name.partners.weir.sasl.oauthbearer.required.scopes=partner.write"]
    p, kafka, http = cli_helpers.serve(W, "b", "127.0.0.1:0", *args, listen=None)
    try:
        ports = dict(p.stdout.readline().split()[1].split("://") for _ in range(2))
        partners = ports.get("PARTNERS")
        log = cli_helpers.stderr_of(W, "b")
        tap(kafka is not None and "OAUTHBEARER: 1 signing keys from " + url in log,
            "the broker reads its JWKS over HTTPS (its CA in "
            "weir.sasl.oauthbearer.jwks.endpoint.ca.location)", log[-800:])
        got = produce(kafka, token("openid kafka.describe kafka.produce"))
        tap(got == (3, []), "a token with both required scopes: 3 records produced", got)
        got = produce(kafka, token("openid kafka.produce"))
        why = "the token's scope claim lacks the required scope 'kafka.describe'"
        tap(got[0] == 0 and any(why in e for e in got[1]),
            "a token lacking kafka.describe: refused, the client told why", got)
        got = produce(kafka, token(None))
        tap(got[0] == 0 and any("lacks the required scope 'kafka.produce'" in e for e in got[1]),
            "a token without a scope claim: refused", got)
        got = produce(kafka, token("kafka.produce kafka.describe", aud="other"))
        tap(got[0] == 0 and any("the token's audience is not one of 'weir'" in e
                                for e in got[1]),
            "a token for another audience: refused (sasl.oauthbearer.expected.audience)", got)
        got = produce(partners, token("partner.write", aud="partners"))
        tap(got == (3, []), "PARTNERS: a token for audience partners with scope partner.write "
            "(listener.name.partners.* settings): 3 records produced", got)
        got = produce(kafka, token("partner.write", aud="partners"))
        tap(got[0] == 0 and any("the token's audience is not one of 'weir'" in e
                                for e in got[1]),
            "the same token on the shared listener: refused", got)
        got = produce(partners, token("kafka.produce kafka.describe"))
        tap(got[0] == 0 and any("the token's audience is not one of 'partners'" in e
                                for e in got[1]),
            "and the shared listener's token on PARTNERS: refused", got)
        st, body = bearer(http, token("kafka.produce kafka.describe"))
        tap(st == 200, "HTTP Bearer with the scopes: 200", (st, body))
        st, body = bearer(http, token("kafka.produce"))
        tap(st == 401 and why in body.get("message", ""), "HTTP Bearer lacking one: 401 saying "
            "which", (st, body))
        p.terminate()
        rc = p.wait(30)
        tap(rc == 0, "the broker stops cleanly (exit 0: no leak under ASan)",
            cli_helpers.stderr_of(W, "b")[-1500:])
    finally:
        if p.poll() is None:
            p.kill()
    for name, settings, want in (
            ("a JWKS server the broker does not trust", args[:3],
             "sasl.oauthbearer.jwks.endpoint.url: GET " + url + ": "),
            ("an https:// JWKS off loopback",
             args[:2] + ["sasl.oauthbearer.jwks.endpoint.url=https://idp.example.com/jwks"],
             "Weir reads a JWKS from a file:// URL or http:// or https:// on a loopback address")):
        q, _, _ = cli_helpers.serve(W, "bad", "off", *settings, listen=None)
        rc = q.wait(30)
        err = cli_helpers.stderr_of(W, "bad")
        tap(rc != 0 and want in err, "refused at start: " + name, err[-600:])


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        tap(False, "no exception", traceback.format_exc() + str(e))
    print("1..%d" % cli_helpers.count)
    if cli_helpers.failed == 0:
        shutil.rmtree(W, ignore_errors=True)
    sys.exit(1 if cli_helpers.failed else 0)
