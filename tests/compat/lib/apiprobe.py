"""The API keys a Kafka-protocol broker advertises: one ApiVersions v0 request on a fresh
connection (every Kafka broker and Weir answer v0). A capability probe for tests that need an
API the broker under test may not serve yet (lib/compat.bash compat_require_api, lib/compat.py
Broker(require_api=...)).

    apiprobe.py HOST:PORT KEY    exit 0 when KEY is advertised, 1 when not, 2 on no answer
    apiprobe.py HOST:PORT        the advertised keys with their version ranges, one a line"""
import socket
import struct
import sys


def api_versions(addr, timeout_s=10.0):
    """{api_key: (min_version, max_version)}; raises OSError when the broker does not answer."""
    host, port = addr.rsplit(":", 1)
    cid = b"weir-apiprobe"
    req = struct.pack(">hhih", 18, 0, 1, len(cid)) + cid
    with socket.create_connection((host, int(port)), timeout=timeout_s) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("connection closed before the ApiVersions answer")
            buf += chunk
    body = buf[4:4 + struct.unpack(">i", buf[:4])[0]]
    corr, err, n = struct.unpack(">ihi", body[:10])
    if corr != 1 or err != 0:
        raise OSError("ApiVersions v0 answered error %d" % err)
    out = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", body[10 + 6 * i:16 + 6 * i])
        out[k] = (lo, hi)
    return out


def main():
    try:
        have = api_versions(sys.argv[1])
    except (OSError, struct.error) as e:
        print("apiprobe: %s" % e, file=sys.stderr)
        sys.exit(2)
    if len(sys.argv) > 2:
        sys.exit(0 if int(sys.argv[2]) in have else 1)
    for k in sorted(have):
        print(k, *have[k])


if __name__ == "__main__":
    main()
