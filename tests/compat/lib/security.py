"""Shared by the security tiers (test_security.py, test_oauth.py): `weir serve` with several
listeners, and a raw Kafka client for what no real client sends (requests before the SASL
handshake, tokens a client library would not build, a client that never re-authenticates)."""
import os
import signal
import socket
import struct
import subprocess
import time

from compat import WEIR, _die_with_parent, eq
from confluent_kafka import Consumer, Producer


class Weir:
    """`weir serve` with the given --set settings; .ports maps listener name -> port."""

    def __init__(self, path, settings):
        self.dir = path
        self.settings = settings
        self.ports = {}
        self.start()

    def start(self):
        cmd = [WEIR, "serve", "--data-dir", os.path.join(self.dir, "data"), "--http-listen",
               "off", "--log-level", "debug"]
        for s in self.settings:
            cmd += ["--set", s]
        os.makedirs(self.dir, exist_ok=True)
        self.errpath = os.path.join(self.dir, "stderr")
        self.err = open(self.errpath, "a")
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  preexec_fn=_die_with_parent)
        first = self.p.stdout.readline()
        if not first.startswith("listening on "):
            raise RuntimeError("broker did not start: %r\n%s" % (first, self.log()))
        self.p.stdout.readline()  # http on off
        lines = 0
        while lines < len([s for s in self.settings if s.startswith("listeners=")][0].split(",")):
            line = self.p.stdout.readline().strip()
            if not line.startswith("listener "):
                break
            name, hp = line.split()[1].split("://")
            self.ports[name] = int(hp.rsplit(":", 1)[1])
            lines += 1
        print("# %s: %s" % (os.path.basename(self.dir), self.ports), flush=True)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(30)
        self.err.close()
        return self.p.returncode

    def log(self):
        with open(self.errpath) as f:
            return f.read()

    def addr(self, listener):
        return "127.0.0.1:%d" % self.ports[listener]


def kreq(key, version, corr, body, client_id=b"raw"):
    """A classic (header v1) request frame."""
    h = struct.pack(">hhih", key, version, corr, len(client_id)) + client_id
    return struct.pack(">i", len(h) + len(body)) + h + body


def read_frame(s):
    def need(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                return None
            b += c
        return b
    hd = need(4)
    if hd is None:
        return None
    return need(struct.unpack(">i", hd)[0])


def closed(s, timeout=5):
    """True when the peer closes (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def kstr(v):
    return struct.pack(">h", len(v)) + v


def sasl_auth(s, corr, token, lifetime=False):
    """SaslAuthenticate v1: (correlation id, error code, message, auth bytes), and the
    session_lifetime_ms last when lifetime is true; None when the connection closed."""
    s.sendall(kreq(36, 1, corr, struct.pack(">i", len(token)) + token))
    r = read_frame(s)
    if r is None:
        return None
    c, err, mlen = struct.unpack(">ihh", r[:8])
    off = 8
    msg = None
    if mlen >= 0:
        msg = r[off:off + mlen].decode()
        off += mlen
    blen = struct.unpack(">i", r[off:off + 4])[0]
    if lifetime:
        life = struct.unpack(">q", r[off + 4 + blen:off + 12 + blen])[0]
        return c, err, msg, r[off + 4:off + 4 + blen], life
    return c, err, msg, r[off + 4:off + 4 + blen]


def roundtrip(c, topic, n):
    """Produces n records and reads them back with a group consumer: the payloads, in order."""
    errs = []
    p = Producer(dict(c, **{"linger.ms": 5, "message.timeout.ms": 20000,
                            "error_cb": lambda e: errs.append(e)}))
    for i in range(n):
        p.produce(topic, ("%s-%d" % (topic, i)).encode())
    eq("messages left after flush", 0, p.flush(30))
    cons = Consumer(dict(c, **{"group.id": "g-" + topic, "auto.offset.reset": "earliest",
                               "enable.auto.commit": False}))
    cons.subscribe([topic])
    got = []
    end = time.time() + 30
    while len(got) < n and time.time() < end:
        m = cons.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    cons.close()
    eq("records read back from " + topic, ["%s-%d" % (topic, i) for i in range(n)], got)
