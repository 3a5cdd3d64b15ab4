"""Zero-copy Fetch (weir.fetch.zero.copy): batches this broker process verified go from the
segment file to the socket with sendfile, and weir_fetch_zero_copy_bytes_total counts them.
Against `weir serve` on port 0:
  - Fetch v4..v16 (classic and flexible, by name and by topic id, read_uncommitted and
    read_committed), two partitions in one answer: each partition's RECORDS field is exactly
    its segment file's bytes, the response parses to its last byte (size prefixes exact), and
    the counter moves by exactly the records' size; with the setting off it does not move and
    the bytes are the same;
  - confluent-kafka and kcat consume every record at its offset with it on;
  - after a restart, batches written before it are copied and verified (counter unmoved) until
    a read has verified them, then sent from the file; a batch corrupted on disk while the
    broker was down is refused with KAFKA_STORAGE_ERROR and none of its bytes is sent, while
    batches appended since go by sendfile;
  - with the buffer budget held by a stalled 50 MiB request, a Fetch is answered whole from the
    files (not shrunk), and cut to what the budget has left once the setting is turned off at
    run time;
  - 100 fetchers that never read hold no response memory (RSS, unsent-bytes gauge), and the
    answers of slow readers stay exact to the last byte although their topic is deleted
    meanwhile (the file stays open) or their connection is closed part way. TAP."""
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import shutil
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_wire  # noqa: E402
from kafka_wire.codec import Client, W  # noqa: E402

SANITIZED = os.environ.get("WEIR_PASS", "release") != "release" or "/asan/" in kafka_wire.WEIR
tap = kafka_wire.Tap()
KAFKA_STORAGE_ERROR = 56


class Weir(kafka_wire.Broker):
    """`weir serve` with its HTTP listener (for /metrics) on a data dir that outlives it."""

    def __init__(self, data, *sets):
        args = ["--http-listen", "127.0.0.1:0", "--set", "weir.log.preallocate.bytes=0"]
        for s in sets:
            args += ["--set", s]
        super().__init__(*args, data=data)
        self.http = self.p.stdout.readline().split()[-1]

    def metric(self, name, labels=""):
        text = urllib.request.urlopen("http://%s/metrics" % self.http, timeout=10).read().decode()
        m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
        return int(float(m.group(1))) if m else None

    def zc(self):
        return self.metric("weir_fetch_zero_copy_bytes_total")

    def zc_moved(self, before, want):
        """How far the counter moved from `before`, waiting up to 2 s for it to reach `want`
        (the loop counts a sendfile just after the bytes left: a reader may be quicker)."""
        deadline = time.time() + 2
        while self.zc() - before < want and time.time() < deadline:
            time.sleep(0.01)
        return self.zc() - before

    def rss(self):
        return self.rss_kb() * 1024


def produce(addr, topic, values, partition=None, **conf):
    p = Producer({"bootstrap.servers": addr, "linger.ms": 5, "batch.num.messages": 500,
                  "log_level": 3, **conf})
    for i, v in enumerate(values):
        p.produce(topic, v, partition=i % 2 if partition is None else partition)
    return p.flush(30)


def segment_bytes(data, topic, partition):
    """The partition's .log files' bytes, in offset order (the data as stored)."""
    d = os.path.join(data, "%s-%d" % (topic, partition))
    out = b""
    for name in sorted(x for x in os.listdir(d) if x.endswith(".log")):
        with open(os.path.join(d, name), "rb") as f:
            out += f.read()
    return out


def topic_id(addr, topic):
    """From Metadata v12 (flexible): the topic's UUID, for Fetch v13+."""
    c = Client(addr)
    w = W(flex=True).arr([topic], lambda w, t: w.uuid(b"\0" * 16).str(t).tags())
    r = c.call(3, 12, w.bool(False).bool(False).tags())
    r.i32()
    r.arr(lambda r: (r.i32(), r.str(), r.i32(), r.str(), r.tags()))
    r.str(), r.i32()
    n = r.uvar() - 1
    assert n == 1, n
    assert r.i16() == 0 and r.str() == topic
    uid = r.uuid()
    c.close()
    return uid


def fetch_body(ver, topic, tid, parts, iso, max_bytes):
    """A Fetch of `parts` [(partition, offset)] of one topic, any version 4..16."""
    w = W(flex=ver >= 12)
    if ver < 15:
        w.i32(-1)
    w.i32(0).i32(1).i32(max_bytes).i8(iso)
    if ver >= 7:
        w.i32(0).i32(-1)

    def part(w, po):
        w.i32(po[0])
        if ver >= 9:
            w.i32(-1)
        w.i64(po[1])
        if ver >= 12:
            w.i32(-1)
        if ver >= 5:
            w.i64(-1)
        w.i32(max_bytes).tags()

    def top(w, _):
        w.uuid(tid) if ver >= 13 else w.str(topic)
        w.arr(parts, part).tags()

    w.arr([0], top)
    if ver >= 7:
        w.arr([])
    if ver >= 11:
        w.str("")
    return w.tags()


def fetch(addr, ver, topic, tid, parts, iso=0, max_bytes=64 << 20):
    """{partition: (error, records)}; asserts the answer parses to its last byte."""
    c = Client(addr, timeout=30)
    r = c.call(1, ver, fetch_body(ver, topic, tid, parts, iso, max_bytes))
    r.i32()
    if ver >= 7:
        assert r.i16() == 0
        r.i32()
    out = {}

    def part(r):
        p, err = r.i32(), r.i16()
        r.i64(), r.i64()
        if ver >= 5:
            r.i64()
        r.arr(lambda r: (r.i64(), r.i64(), r.tags()))
        if ver >= 11:
            r.i32()
        out[p] = (err, r.bytes())
        r.tags()

    def top(r):
        assert (r.uuid() == tid) if ver >= 13 else (r.str() == topic)
        r.arr(part)
        r.tags()

    r.arr(top)
    r.tags()
    left = len(r.b) - r.p
    c.close()
    assert left == 0, "%d bytes left after the answer" % left
    return out


def versions_case(b, data):
    values = [b"v%05d-" % i + b"z" * 200 for i in range(4000)]
    admin = AdminClient({"bootstrap.servers": b.addr, "log_level": 3})
    admin.create_topics([NewTopic("zc", 2, 1)])["zc"].result(30)
    tap(produce(b.addr, "zc", values) == 0, "4000 records produced to two partitions")
    files = {p: segment_bytes(data, "zc", p) for p in (0, 1)}
    tid = topic_id(b.addr, "zc")
    bad = []
    for ver in range(4, 17):
        for iso in (0, 1):
            before = b.zc()
            got = fetch(b.addr, ver, "zc", tid, [(0, 0), (1, 0)], iso=iso)
            want = len(files[0]) + len(files[1])
            moved = b.zc_moved(before, want)
            if got != {0: (0, files[0]), 1: (0, files[1])} or moved != want:
                bad.append((ver, iso, moved, want))
    tap(not bad and len(files[0]) > 100000, "Fetch v4..v16, both isolation levels: each "
        "partition's records are its %d / %d file bytes, the counter moved by exactly that "
        "(%s)" % (len(files[0]), len(files[1]), bad or "every version"))
    before = b.zc()
    got = fetch(b.addr, 11, "zc", tid, [(0, 1000)])
    tap(got[0][0] == 0 and 0 < len(got[0][1]) < len(files[0]) and
        files[0].endswith(got[0][1]) and b.zc_moved(before, len(got[0][1])) == len(got[0][1]),
        "from an offset inside the partition: the tail of its file from that batch on (%d "
        "bytes, all by sendfile)" % len(got[0][1]))
    return values, files, tid


def clients_case(b, values):
    before = b.zc()  # before the consumer: it fetches as soon as it is assigned
    c = Consumer({"bootstrap.servers": b.addr, "group.id": "zc", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.assign([TopicPartition("zc", 0, 0), TopicPartition("zc", 1, 0)])
    seen, deadline = {}, time.time() + 30
    while len(seen) < len(values) and time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            seen[(m.partition(), m.offset())] = m.value()
    c.close()
    want = {(i % 2, i // 2): v for i, v in enumerate(values)}
    tap(seen == want and b.zc_moved(before, 1) > 0, "confluent-kafka (read_committed) consumed all %d "
        "records at their offsets, %d bytes by sendfile" % (len(seen), b.zc() - before))
    before = b.zc()
    r = subprocess.run(["timeout", "60", "kcat", "-b", b.addr, "-C", "-t", "zc", "-p", "1",
                        "-o", "beginning", "-e", "-q", "-f", "%o %s\n"],
                       capture_output=True, timeout=90)
    want = b"".join(b"%d %s\n" % (i // 2, v) for i, v in enumerate(values) if i % 2)
    tap(r.returncode == 0 and r.stdout == want and b.zc_moved(before, 1) > 0,
        "kcat read partition 1 exactly (%d bytes of output, %d by sendfile)" %
        (len(r.stdout), b.zc() - before))


def off_case(data):
    b = Weir(data, "weir.fetch.zero.copy=false")
    try:
        tid = topic_id(b.addr, "zc")
        files = {p: segment_bytes(data, "zc", p) for p in (0, 1)}
        got = fetch(b.addr, 16, "zc", tid, [(0, 0), (1, 0)])
        tap(got == {0: (0, files[0]), 1: (0, files[1])} and b.zc() == 0,
            "weir.fetch.zero.copy=false: the same bytes, none by sendfile")
    finally:
        b.stop()


def corrupt(data, topic, offset_in_file):
    path = os.path.join(data, "%s-0" % topic, "%020d.log" % 0)
    with open(path, "r+b") as f:
        f.seek(offset_in_file)
        x = f.read(1)
        f.seek(offset_in_file)
        f.write(bytes([x[0] ^ 0xFF]))


def restart_case(data):
    b = Weir(data)
    try:
        produce(b.addr, "cold", [b"c%04d" % i + b"y" * 300 for i in range(300)], partition=0)
        produce(b.addr, "rot", [b"r%04d" % i + b"q" * 300 for i in range(300)], partition=0,
                **{"batch.num.messages": 50})
    finally:
        tap(b.stop() == 0, "topics cold and rot written, broker stopped cleanly")
    cold = segment_bytes(data, "cold", 0)
    rot = segment_bytes(data, "rot", 0)
    # a byte in the last record of rot's second batch: its CRC fails, its header still reads
    second = struct.unpack(">i", rot[8:12])[0] + 12
    third = second + struct.unpack(">i", rot[second + 8:second + 12])[0] + 12
    corrupt(data, "rot", third - 2)
    bad_batch = open(os.path.join(data, "rot-0", "%020d.log" % 0), "rb").read()[second:third]
    b = Weir(data)
    try:
        cid, rid = topic_id(b.addr, "cold"), topic_id(b.addr, "rot")
        got1 = fetch(b.addr, 12, "cold", cid, [(0, 0)])
        n1 = b.zc()
        got2 = fetch(b.addr, 12, "cold", cid, [(0, 0)])
        tap(got1 == {0: (0, cold)} and n1 == 0 and got2 == got1 and
            b.zc_moved(0, len(cold)) == len(cold),
            "after a restart: written before it, copied and verified first (counter %d), then "
            "by sendfile (%d bytes)" % (n1, b.zc()))
        before = b.zc()
        got = fetch(b.addr, 12, "rot", rid, [(0, 0)])
        tap(got[0][0] == KAFKA_STORAGE_ERROR and not got[0][1] and b.zc() == before,
            "a batch corrupted on disk, not verified by this process: KAFKA_STORAGE_ERROR, "
            "nothing sent by sendfile (error %d)" % got[0][0])
        c = Client(b.addr, timeout=30)
        raw = b""
        for ver in (4, 11, 16):
            c.send(1, ver, fetch_body(ver, "rot", rid, [(0, 0)], 0, 1 << 20))
        c.s.settimeout(5)
        try:
            while True:
                x = c.s.recv(1 << 20)
                if not x:
                    break
                raw += x
        except socket.timeout:
            pass
        c.close()
        tap(bad_batch[-40:] not in raw and len(raw) > 0,
            "none of the corrupted batch's bytes in %d bytes of answers" % len(raw))
        produce(b.addr, "fresh", [b"f%04d" % i for i in range(500)], partition=0)
        fresh = segment_bytes(data, "fresh", 0)
        before = b.zc()
        got = fetch(b.addr, 16, "fresh", topic_id(b.addr, "fresh"), [(0, 0)])
        tap(got == {0: (0, fresh)} and b.zc_moved(before, len(fresh)) == len(fresh),
            "appended by this process: by sendfile at once (%d bytes)" % len(fresh))
    finally:
        tap(b.stop() == 0, "the broker stops cleanly (under ASan: no leak)")


def shrunk(b):
    return b.metric("weir_buffer_memory_throttled_total", '{kind="fetch_shrunk"}')


def set_zero_copy(b, value):
    """weir.fetch.zero.copy at run time (AlterConfigs on the broker)."""
    admin = AdminClient({"bootstrap.servers": b.addr, "log_level": 3})
    node = str(next(iter(admin.list_topics(timeout=10).brokers)))
    res = ConfigResource("broker", node, set_config={"weir.fetch.zero.copy": value})
    admin.alter_configs([res])[res].result(30)


def budget_case(b, tid, file, socks):
    """A 50 MiB request that stalls after 1 MiB holds 50 of the 64 MiB budget: a Fetch of the
    16 MiB partition is answered whole from the file (it needs no memory); with zero copy off it
    is cut to what the budget has left."""
    s = socket.create_connection(b.hp)
    s.sendall(struct.pack(">i", 50 << 20) + b"\0" * (1 << 20))
    socks.append(s)
    time.sleep(0.3)
    held = b.metric("weir_buffer_memory_bytes")
    got = fetch(b.addr, 11, "slow", tid, [(0, 0)], max_bytes=55 << 20)
    tap(held >= 50 << 20 and got == {0: (0, file)} and shrunk(b) == 0,
        "budget held %d MiB by a stalled request: the zero-copy answer is the whole %d bytes, "
        "not shrunk" % (held >> 20, len(file)))
    set_zero_copy(b, "false")
    got = fetch(b.addr, 11, "slow", tid, [(0, 0)], max_bytes=55 << 20)
    set_zero_copy(b, "true")
    n = len(got[0][1])
    tap(got[0][0] == 0 and 0 < n < (14 << 20) and file.startswith(got[0][1]) and shrunk(b) == 1,
        "set off at run time: the copy is cut to the budget's %d bytes (fetch_shrunk %s)" %
        (n, shrunk(b)))


def slow_case(data):
    b = Weir(data, "num.io.threads=2", "weir.memory.buffers.max.bytes=%d" % (64 << 20),
             "socket.request.max.bytes=%d" % (60 << 20))
    socks = []
    try:
        values = [b"s%06d-" % i + b"w" * 1000 for i in range(16384)]  # 16 MiB
        produce(b.addr, "slow", values, partition=0)
        tid = topic_id(b.addr, "slow")
        file = segment_bytes(data, "slow", 0)
        budget_case(b, tid, file, socks)
        body = fetch_body(11, "slow", tid, [(0, 0)], 0, 55 << 20)
        hdr = struct.pack(">hhih", 1, 11, 7, 4) + b"slow"
        frame = struct.pack(">i", len(hdr) + len(body.b)) + hdr + bytes(body.b)
        base = b.rss()
        for i in range(100):
            s = socket.socket()
            if i >= 3:  # the first 3 read their answers later: a usual window, filled now
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(b.hp)
            s.sendall(frame)
            socks.append(s)
        time.sleep(1.5)
        peak, unsent = b.rss(), b.metric("weir_response_buffer_bytes", '{kind="unsent"}')
        if SANITIZED:
            tap(True, "RSS %.1f MiB # SKIP RSS is not bounded under a sanitizer" % (peak / 2**20))
        else:
            tap(peak < base + (16 << 20), "100 fetchers of 16 MiB that do not read: RSS %.1f MiB "
                "(%.1f MiB before)" % (peak / 2**20, base / 2**20))
        tap(unsent is not None and unsent < 100 * 4096,
            "their unsent answers hold %s bytes of memory (the records stay in the file)" % unsent)
        admin = AdminClient({"bootstrap.servers": b.addr, "log_level": 3})
        admin.delete_topics(["slow"])["slow"].result(30)
        deadline = time.time() + 10
        while os.path.exists(os.path.join(data, "slow-0")) and time.time() < deadline:
            time.sleep(0.1)
        gone = not os.path.exists(os.path.join(data, "slow-0"))
        exact = 0
        for s in socks[1:4]:
            s.settimeout(30)
            buf = b""
            while True:
                x = s.recv(1 << 20)
                if not x:
                    break
                buf += x
                if len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">i", buf[:4])[0]:
                    break
            n = struct.unpack(">i", buf[:4])[0]
            exact += len(buf) == 4 + n and buf.endswith(file)
        tap(gone and exact == 3, "topic deleted meanwhile (files gone: %s): 3 slow readers still "
            "got answers ending in the exact %d bytes of the file" % (gone, len(file)))
        for s in socks:
            s.close()
        socks = []
        time.sleep(0.5)
        r = subprocess.run(["timeout", "30", "kcat", "-b", b.addr, "-L"], capture_output=True)
        tap(r.returncode == 0 and b.metric("weir_response_buffer_bytes", '{kind="unsent"}') == 0,
            "97 connections closed part way: the broker serves on, nothing left unsent")
    finally:
        for s in socks:
            s.close()
        tap(b.stop() == 0, "the broker stops cleanly (under ASan: every file released)")


def main():
    work = tempfile.mkdtemp(prefix="weir-test-zc-")
    data = os.path.join(work, "data")
    try:
        b = Weir(data)
        try:
            values, _, _ = versions_case(b, data)
            clients_case(b, values)
        finally:
            b.stop()
        off_case(data)
        restart_case(data)
        slow_case(os.path.join(work, "data2"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tap.finish()


if __name__ == "__main__":
    main()
