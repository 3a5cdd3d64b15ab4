"""TLS records of every size arrive whole, split and in bursts, and nothing waits (issue 16's
TLS throughput work): the broker reads a TLS connection through its own buffer of up to 64 KiB
per recv() (src/net/tls.c), so several records, or the end of one and the start of the next,
are taken in at once, and records left inside when the connection's read stops must be read
without a new epoll event. A client built on Python's ssl memory BIOs decides each record:
  - 7000 pipelined ApiVersions requests, each its own record, sent in one burst (280 KB: four
    buffers, more than a connection reads at one event): 7000 answers, in order;
  - one request cut into 1-byte records, and one in records that straddle its frame boundary;
  - a request of 1 MiB in one write (65 records), more than a connection reads at one event,
    then a small one: the rest of both waits inside with the socket empty;
and confluent-kafka (librdkafka) produces 3000 distinct 1 KiB records over TLS and reads them
back byte for byte (fetch responses larger than a record, written from the middle of their
buffer after the socket filled). TAP."""
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from confluent_kafka import Consumer, Producer

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
W = tempfile.mkdtemp(prefix="weir-tls-records-")

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=W)


def make_certs():
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
       "ca.pem", "-days", "2", "-subj", "/CN=test CA")
    with open(os.path.join(W, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
       "server.csr", "-subj", "/CN=127.0.0.1")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.cnf")
    with open(os.path.join(W, "server.pem"), "w") as f:
        f.write(open(os.path.join(W, "server.crt")).read())
        f.write(open(os.path.join(W, "server.key")).read())


def start_weir():
    p = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(W, "data"), "--http-listen",
                          "off", "--set", "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", "--set",
                          "ssl.keystore.location=" + os.path.join(W, "server.pem")],
                         stdout=subprocess.PIPE, stderr=open(os.path.join(W, "err"), "w"),
                         text=True)
    for _ in range(5):
        line = p.stdout.readline()
        if line.startswith("listener SSL://"):
            return p, int(line.strip().rsplit(":", 1)[1])
    raise RuntimeError("weir did not start: " + open(os.path.join(W, "err")).read())


class RecordClient:
    """TLS over memory BIOs: .records(chunks) encrypts each chunk as its own TLS record (one
    SSLObject.write each) and returns the ciphertext, which the caller sends as it likes."""

    def __init__(self, port):
        ctx = ssl.create_default_context(cafile=os.path.join(W, "ca.pem"))
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="127.0.0.1")
        self.plain = b""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                self.feed()
        self.sock.sendall(self.out.read())

    def feed(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError("the broker closed the connection")
        self.inc.write(data)

    def records(self, chunks):
        for c in chunks:
            self.tls.write(c)
        return self.out.read()

    def read_frames(self, count, deadline_s=20):
        """count response frames (without their size field), in arrival order."""
        frames = []
        end = time.time() + deadline_s
        while len(frames) < count:
            while len(self.plain) >= 4 and len(self.plain) >= 4 + struct.unpack(
                    ">i", self.plain[:4])[0]:
                size = struct.unpack(">i", self.plain[:4])[0]
                frames.append(self.plain[4:4 + size])
                self.plain = self.plain[4 + size:]
            if len(frames) >= count:
                break
            if time.time() > end:
                raise TimeoutError("%d of %d answers after %d s" % (len(frames), count,
                                                                    deadline_s))
            try:
                while True:
                    self.plain += self.tls.read(1 << 16)
            except ssl.SSLWantReadError:
                pass
            if len(self.plain) < 4 or len(self.plain) < 4 + struct.unpack(
                    ">i", self.plain[:4])[0]:
                self.feed()
        return frames

    def close(self):
        self.sock.close()


def api_versions(corr):
    body = struct.pack(">hhih", 18, 0, corr, 4) + b"test"
    return struct.pack(">i", len(body)) + body


def corr_and_error(frame):
    return struct.unpack(">ih", frame[:6])


def test_burst(port):
    c = RecordClient(port)
    reqs = [api_versions(i) for i in range(7000)]
    wire = c.records(reqs)
    # Sent from another thread while this one reads: the answers (about 1 MB) would otherwise
    # fill both socket buffers and stop the broker reading, with this client not reading yet.
    t = threading.Thread(target=c.sock.sendall, args=(wire,))
    t.start()
    frames = c.read_frames(7000)
    t.join()
    c.close()
    got = [corr_and_error(f) for f in frames]
    tap(len(wire) > 256 * 1024, "the burst is %d bytes of %d records, over four buffers"
        % (len(wire), len(reqs)))
    tap(got == [(i, 0) for i in range(7000)],
        "7000 pipelined requests, a record each, in one burst: 7000 answers in order")


def test_split(port):
    c = RecordClient(port)
    req = api_versions(7)
    c.sock.sendall(c.records([req[i:i + 1] for i in range(len(req))]))
    frames = c.read_frames(1)
    tap([corr_and_error(f) for f in frames] == [(7, 0)],
        "a request in %d records of one byte: answered" % len(req))
    two = api_versions(8) + api_versions(9)
    cut = [two[:3], two[3:len(two) - 5], two[len(two) - 5:]]
    c.sock.sendall(c.records(cut))
    frames = c.read_frames(2)
    tap([corr_and_error(f) for f in frames] == [(8, 0), (9, 0)],
        "two requests in three records that cut both frames: two answers in order")
    # A large request in one write: OpenSSL cuts it into full records (16 KiB each).
    body = struct.pack(">hhih", 18, 0, 10, 4) + b"test"
    big = struct.pack(">i", len(body) + 1024 * 1024) + body + b"\0" * (1024 * 1024)
    c.sock.sendall(c.records([big]) + c.records([api_versions(11)]))
    frames = c.read_frames(2)
    tap([corr_and_error(f)[0] for f in frames] == [10, 11],
        "a request of 1 MiB in 65 records, then a small one: both answered in order")
    c.close()


def test_librdkafka(port):
    conf = {"bootstrap.servers": "127.0.0.1:%d" % port, "security.protocol": "ssl",
            "ssl.ca.location": os.path.join(W, "ca.pem")}
    p = Producer(dict(conf, **{"linger.ms": 5, "acks": "all"}))
    sent = hashlib.sha256()
    for i in range(3000):
        v = (b"%06d" % i) * 171  # 1026 bytes, each record different
        sent.update(v)
        p.produce("recs", v, partition=0)
        if i % 500 == 0:
            p.poll(0)
    left = p.flush(30)
    tap(left == 0, "confluent-kafka over TLS: 3000 records of 1 KiB acknowledged")
    c = Consumer(dict(conf, **{"group.id": "recs", "auto.offset.reset": "earliest",
                               "fetch.min.bytes": 1000000, "fetch.wait.max.ms": 200}))
    c.subscribe(["recs"])
    got = hashlib.sha256()
    count = 0
    end = time.time() + 30
    while count < 3000 and time.time() < end:
        m = c.poll(1.0)
        if m is None or m.error():
            continue
        got.update(m.value())
        count += 1
    c.close()
    tap(count == 3000 and got.digest() == sent.digest(),
        "read back over TLS: %d records, the same bytes in the same order" % count)


def main():
    make_certs()
    p, port = start_weir()
    try:
        for t in (test_burst, test_split, test_librdkafka):
            try:
                t(port)
            except Exception:
                traceback.print_exc()
                tap(False, t.__name__ + " raised")
        tap(p.poll() is None, "the broker is still running")
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(W, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
