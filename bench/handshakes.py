"""Handshake rate: connections per second that one client, one after the other, opens to a
broker, authenticates and gets one answer on (ApiVersions), then closes. bench/security_cost.sh
runs it against `weir serve`; a client of its own (Python's ssl module, hashlib for SCRAM), so
what is timed is the broker's handshake and one round trip, not a client library's start.

  handshakes.py KIND ADDR SECONDS [CA_FILE | USER:PASSWORD]
  KIND: plaintext | tls | scram-sha-256 | scram-sha-512 | plain

Prints one JSON line: kind, conns, secs, conns_per_s, p50_ms, p99_ms. Every connection must
succeed (an error ends the run with exit 1): a rate of failures would measure nothing."""
import base64
import hashlib
import hmac
import json
import os
import socket
import ssl
import struct
import sys
import time


def frame(key, version, corr, body):
    hdr = struct.pack(">hhih", key, version, corr, 5) + b"bench"
    return struct.pack(">i", len(hdr) + len(body)) + hdr + body


def read_frame(s):
    def need(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                raise RuntimeError("connection closed by the broker")
            b += c
        return b
    return need(struct.unpack(">i", need(4))[0])


def api_versions(s):
    s.sendall(frame(18, 0, 1, b""))
    r = read_frame(s)
    if struct.unpack(">ih", r[:6]) != (1, 0):
        raise RuntimeError("ApiVersions failed")


def sasl(s, corr, token):
    s.sendall(frame(36, 1, corr, struct.pack(">i", len(token)) + token))
    r = read_frame(s)
    _, err, mlen = struct.unpack(">ihh", r[:8])
    off = 8 + max(mlen, 0)
    if err:
        raise RuntimeError("SaslAuthenticate error %d: %s" % (err, r[8:off].decode()))
    blen = struct.unpack(">i", r[off:off + 4])[0]
    return r[off + 4:off + 4 + blen]


def handshake(s, mech):
    name = mech.encode()
    s.sendall(frame(17, 1, 2, struct.pack(">h", len(name)) + name))
    if struct.unpack(">ih", read_frame(s)[:6]) != (2, 0):
        raise RuntimeError("SaslHandshake %s refused" % mech)


def scram(s, hname, user, password):
    handshake(s, "SCRAM-SHA-" + hname[3:])
    cnonce = base64.b64encode(os.urandom(18)).decode()
    bare = "n=%s,r=%s" % (user, cnonce)
    sf = sasl(s, 3, ("n,," + bare).encode()).decode()
    attrs = dict(kv.split("=", 1) for kv in sf.split(","))
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", hname).digest()
    final_bare = "c=biws,r=" + attrs["r"]
    auth = ",".join((bare, sf, final_bare)).encode()
    sig = hmac.new(hashlib.new(hname, ckey).digest(), auth, hname).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(ckey, sig))).decode()
    sfin = sasl(s, 4, (final_bare + ",p=" + proof).encode()).decode()
    skey = hmac.new(salted, b"Server Key", hname).digest()
    want = base64.b64encode(hmac.new(skey, auth, hname).digest()).decode()
    if sfin != "v=" + want:
        raise RuntimeError("server signature does not verify")


def one(kind, host, port, extra, ctx):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if kind == "tls":
            s = ctx.wrap_socket(s, server_hostname=host)
        elif kind.startswith("scram"):
            user, pw = extra.split(":", 1)
            scram(s, "sha" + kind[-3:], user, pw)
        elif kind == "plain":
            user, pw = extra.split(":", 1)
            handshake(s, "PLAIN")
            sasl(s, 3, b"\0" + user.encode() + b"\0" + pw.encode())
        api_versions(s)
    finally:
        s.close()


def main():
    kind, addr, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    extra = sys.argv[4] if len(sys.argv) > 4 else ""
    host, port = addr.rsplit(":", 1)
    ctx = None
    if kind == "tls":
        ctx = ssl.create_default_context(cafile=extra)
        ctx.check_hostname = False  # the bench certificate names 127.0.0.1 only
    times = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < secs:
        a = time.perf_counter()
        one(kind, host, int(port), extra, ctx)
        times.append(time.perf_counter() - a)
    total = time.perf_counter() - t0
    times.sort()
    print(json.dumps({"kind": kind, "conns": len(times), "secs": round(total, 3),
                      "conns_per_s": round(len(times) / total, 1),
                      "p50_ms": round(times[len(times) // 2] * 1e3, 3),
                      "p99_ms": round(times[min(len(times) - 1, len(times) * 99 // 100)] * 1e3,
                                      3)}))


if __name__ == "__main__":
    main()
