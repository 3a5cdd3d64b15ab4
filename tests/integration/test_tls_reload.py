"""TLS certificates are reloaded without a restart (issue 16): a broker with an SSL listener
serves certificate A; the keystore file is replaced by certificate B (renamed over it, as
certificate tools do) and, within about a second, new connections get B while a connection
opened before keeps working; a keystore that does not load is logged and the broker keeps
serving B; confluent-kafka (librdkafka) produces and consumes over the reloaded certificate.
Certificates are made with openssl in a temp dir. TAP."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

from confluent_kafka import Consumer, Producer, TopicPartition

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
W = tempfile.mkdtemp(prefix="weir-tls-reload-")

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=W)


def make_server_pem(cn):
    """A certificate for 127.0.0.1 with subject CN=cn, signed by the test CA: W/<cn>.pem holds
    the chain and the key (Kafka's PEM keystore)."""
    with open(os.path.join(W, "san.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", cn + ".key", "-out",
       cn + ".csr", "-subj", "/CN=" + cn)
    sh("openssl", "x509", "-req", "-in", cn + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", cn + ".crt", "-days", "2", "-extfile", "san.cnf")
    path = os.path.join(W, cn + ".pem")
    with open(path, "w") as f:
        f.write(open(os.path.join(W, cn + ".crt")).read())
        f.write(open(os.path.join(W, cn + ".key")).read())
    return path


def install(src, dst):
    """Replaces dst by src's contents the way certificate tools do: a new file renamed over."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.rename(tmp, dst)


def peer_cn(port):
    ctx = ssl.create_default_context(cafile=os.path.join(W, "ca.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            subject = dict(x[0] for x in t.getpeercert()["subject"])
            return subject.get("commonName")


def wait_cn(port, want, seconds=10):
    deadline = time.time() + seconds
    cn = None
    while time.time() < deadline:
        cn = peer_cn(port)
        if cn == want:
            return cn
        time.sleep(0.2)
    return cn


def client_conf(port):
    return {"bootstrap.servers": "127.0.0.1:%d" % port, "security.protocol": "SSL",
            "ssl.ca.location": os.path.join(W, "ca.pem")}


def main():
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
       "ca.pem", "-days", "2", "-subj", "/CN=Weir Reload CA")
    a, b = make_server_pem("cert-a"), make_server_pem("cert-b")
    keystore = os.path.join(W, "keystore.pem")
    install(a, keystore)
    err = open(os.path.join(W, "stderr"), "w")
    p = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(W, "data"), "--http-listen",
                          "off", "--set", "listeners=SSL://127.0.0.1:0",
                          "--set", "ssl.keystore.location=" + keystore],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        line = p.stdout.readline()
        port = int(line.split()[-1].rsplit(":", 1)[1])
        tap(peer_cn(port) == "cert-a", "the broker serves certificate A")

        pr = Producer(client_conf(port))
        pr.produce("reload", b"before")
        tap(pr.flush(15) == 0, "confluent-kafka produces over TLS with A")

        ctx = ssl.create_default_context(cafile=os.path.join(W, "ca.pem"))
        held = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                               server_hostname="127.0.0.1")
        install(b, keystore)
        t0 = time.time()
        cn = wait_cn(port, "cert-b")
        took = time.time() - t0
        tap(cn == "cert-b" and took < 5,
            "after the keystore is replaced, new connections get B (%.1f s)" % took)
        # An ApiVersions request (v0, correlation id 7) on the connection opened with A.
        held.sendall(bytes.fromhex("0000000a0012000000000007ffff"))
        answer = held.recv(4)
        tap(len(answer) == 4 and int.from_bytes(answer, "big") > 0,
            "a connection opened before the reload still works")
        held.close()

        pr.produce("reload", b"after")
        tap(pr.flush(15) == 0, "the same producer goes on producing after the reload")
        c = Consumer(dict(client_conf(port), **{"group.id": "g", "auto.offset.reset": "earliest"}))
        c.assign([TopicPartition("reload", 0, 0)])
        got = []
        deadline = time.time() + 15
        while len(got) < 2 and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value())
        c.close()
        tap(got == [b"before", b"after"], "a new consumer reads both records over B (%s)" % got)

        with open(keystore + ".new", "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        os.rename(keystore + ".new", keystore)
        time.sleep(1.5)
        tap(wait_cn(port, "cert-b", 2) == "cert-b",
            "a keystore that does not load: the broker keeps serving B")
        err.flush()
        log = open(os.path.join(W, "stderr")).read()
        tap("TLS files changed but do not load, keeping the previous ones" in log,
            "... and says so in its log")
        tap(log.count("TLS files changed: ") == 1, "exactly one reload logged (A to B)")
        install(a, keystore)
        tap(wait_cn(port, "cert-a") == "cert-a", "a good keystore again: new connections get A")
    except Exception:
        traceback.print_exc()
        tap(False, "no exception")
    finally:
        p.terminate()
        p.wait(15)
        shutil.rmtree(W, ignore_errors=True)
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
