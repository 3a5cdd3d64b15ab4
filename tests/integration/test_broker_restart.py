"""Restarts: everything acknowledged with acks=-1 is read back at the same offsets after a clean
SIGTERM and after kill -9; the cluster id, topic configs, partition counts and topic deletions
survive; two brokers cannot share a data dir. Starts its own `weir serve` processes on port 0
with one temp data dir. TAP."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
WORK = tempfile.mkdtemp(prefix="weir-test-restart-")
DATA = os.path.join(WORK, "data")

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


class Broker:
    count = 0

    def __init__(self):
        Broker.count += 1
        self.err = open(os.path.join(WORK, "stderr.%d" % Broker.count), "w")
        self.p = subprocess.Popen([WEIR, "serve", "--data-dir", DATA, "--listen", "127.0.0.1:0",
                                   "--http-listen", "off"],
                                  stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError("no start: %r" % line)
        self.addr = line.split()[-1]

    def term(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(60)
        self.err.close()
        return rc

    def kill(self):
        self.p.kill()
        self.p.wait()
        self.err.close()


def admin(b):
    return AdminClient({"bootstrap.servers": b.addr})


def cluster_id(b):
    return admin(b).list_topics(timeout=10).cluster_id


def produce_acked(b, topic, count, start=0):
    """Produces count keyed messages with acks=all; returns {(partition, offset): value}."""
    acked = {}
    errs = []

    def dr(err, m):
        if err:
            errs.append(err)
        else:
            acked[(m.partition(), m.offset())] = m.value()
    p = Producer({"bootstrap.servers": b.addr, "acks": "all", "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(topic, key=b"k%d" % (i % 50), value=b"msg-%d" % i, on_delivery=dr)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    assert not errs, errs[:3]
    return acked


def read_all(b, topic, nparts):
    """Everything in the topic: {(partition, offset): value}, and the high watermarks."""
    c = Consumer({"bootstrap.servers": b.addr, "group.id": "unused", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    highs = {}
    for part in range(nparts):
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
        highs[part] = hi
    c.assign([TopicPartition(topic, part, 0) for part in range(nparts)])
    got = {}
    eof = set(part for part in range(nparts) if highs[part] == 0)
    deadline = time.time() + 60
    while len(eof) < nparts and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
            continue
        got[(m.partition(), m.offset())] = m.value()
    c.close()
    return got, highs


def main():
    try:
        b = Broker()
        cid = cluster_id(b)
        a = admin(b)
        for t, f in a.create_topics([NewTopic("dur", 3, 1, config={"retention.ms": "123456789"}),
                                     NewTopic("gone", 1, 1)]).items():
            f.result()
        for t, f in a.delete_topics(["gone"]).items():
            f.result()
        acked = produce_acked(b, "dur", 20000)
        tap(len(acked) == 20000, "20,000 messages acknowledged with acks=all")

        # Another broker on the same data dir is refused.
        other = subprocess.run([WEIR, "serve", "--data-dir", DATA, "--listen", "127.0.0.1:0",
                                "--http-listen", "off"], capture_output=True, text=True,
                               timeout=30)
        tap(other.returncode != 0 and "in use" in other.stderr,
            "a second broker on the same data dir refuses to start")

        tap(b.term() == 0, "SIGTERM: exit 0")
        b = Broker()
        got, highs = read_all(b, "dur", 3)
        tap(got == acked and sum(highs.values()) == 20000,
            "after SIGTERM and restart: every acknowledged message at its offset")
        tap(cluster_id(b) == cid and len(cid) == 22, "cluster id stable across restarts")
        a = admin(b)
        md = a.list_topics(timeout=10)
        cfg = list(a.describe_configs([ConfigResource("topic", "dur")]).values())[0].result()
        tap("gone" not in md.topics and len(md.topics["dur"].partitions) == 3 and
            cfg["retention.ms"].value == "123456789",
            "topic configs, partition count and deletions persist")

        # kill -9 in the middle of a stream of acks=all produces.
        acked2 = {}
        stop = threading.Event()

        def dr(err, m):
            if not err:
                acked2[(m.partition(), m.offset())] = m.value()
        p = Producer({"bootstrap.servers": b.addr, "acks": "all", "linger.ms": 1,
                      "message.timeout.ms": 3000, "retries": 0})

        def run():
            i = 0
            while not stop.is_set():
                try:
                    p.produce("dur", key=b"k%d" % (i % 50), value=b"late-%d" % i, on_delivery=dr)
                except BufferError:
                    pass
                p.poll(0.001 if i % 100 == 0 else 0)
                i += 1
        th = threading.Thread(target=run)
        th.start()
        time.sleep(1.5)
        b.kill()
        time.sleep(0.5)
        stop.set()
        th.join()
        p.flush(5)
        tap(len(acked2) > 0, "acks=all produces were acknowledged before kill -9 (%d)" % len(acked2))
        b = Broker()
        got, highs = read_all(b, "dur", 3)
        missing = [k for k, v in acked2.items() if got.get(k) != v]
        lost_old = [k for k, v in acked.items() if got.get(k) != v]
        tap(not missing and not lost_old,
            "after kill -9: every acknowledged message at its offset (%d missing)" %
            (len(missing) + len(lost_old)))
        # offsets stay dense: the log continues where it ended
        more = produce_acked(b, "dur", 300, start=10 ** 6)
        ok = all(off >= highs[part] for part, off in more)
        tap(ok, "after recovery new appends continue at the high watermark")
        tap(b.term() == 0, "final SIGTERM: exit 0")
    except Exception:
        traceback.print_exc()
        tap(False, "restart test crashed")
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
