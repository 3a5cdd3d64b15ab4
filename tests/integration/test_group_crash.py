"""The broker is killed with SIGKILL mid-stream and restarted on the same port, twice.

Phase 1: an idempotent producer (confluent-kafka, enable.idempotence, acks=all) keeps sending
30,000 messages to 6 partitions through the crash, while a group consumer commits synchronously
every 500 messages. Checks: every message delivered without error, in the log exactly once, in
order per partition, at the offset its delivery report gave; the consumer read everything, and
anything it read twice lies at or after the last commit acknowledged before the crash.
Phase 2: after the consumer closed, kill -9 again and restart; a new consumer of the same group
(auto.offset.reset=earliest, so a lost commit would replay everything) reads exactly the 60
messages produced after the restart. TAP."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
WORK = tempfile.mkdtemp(prefix="weir-test-group-crash-")
KEEP = os.environ.get("WEIR_KEEP")
DATA = os.path.join(WORK, "data")
TOPIC = "idem"
NPART = 6
N = 30000

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


class Broker:
    count = 0

    def __init__(self, port=0):
        Broker.count += 1
        self.err = open(os.path.join(WORK, "broker.%d.log" % Broker.count), "w")
        self.p = subprocess.Popen(
            [WEIR, "serve", "--data-dir", DATA, "--listen", "127.0.0.1:%d" % port,
             "--http-listen", "off", "--set", "group.initial.rebalance.delay.ms=0",
             "--set", "weir.producer.snapshot.interval.offsets=2000"],
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError("no start: %r" % line)
        self.addr = line.split()[-1]
        self.port = int(self.addr.rsplit(":", 1)[1])

    def kill(self):
        self.p.kill()
        self.p.wait()
        self.err.close()

    def term(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(60)
        self.err.close()
        return rc


def consumer_conf(addr, group):
    return {"bootstrap.servers": addr, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 300, "fetch.wait.max.ms": 50}


def main():
    b = Broker()
    addr = b.addr
    admin = AdminClient({"bootstrap.servers": addr})
    admin.create_topics([NewTopic(TOPIC, NPART, 1)])[TOPIC].result(10)
    del admin

    # ---- phase 1: produce and consume through a kill -9 ------------------------------------
    delivered = {}  # value -> (partition, offset)
    errors = []

    def dr(err, m):
        if err:
            errors.append(str(err))
        else:
            delivered[m.value().decode()] = (m.partition(), m.offset())

    def produce():
        p = Producer({"bootstrap.servers": addr, "enable.idempotence": True, "acks": "all",
                      "linger.ms": 5, "message.timeout.ms": 60000,
                      "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200})
        for i in range(N):
            while True:
                try:
                    p.produce(TOPIC, value=b"v%06d" % i, partition=i % NPART, on_delivery=dr)
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 100 == 99:
                p.poll(0)
                time.sleep(0.01)  # about 10k messages/s: the crash lands mid-stream
        left = p.flush(90)
        if left:
            errors.append("%d messages never delivered" % left)

    reads = []  # (partition, offset, value)
    acked_commits = {}  # partition -> offset, from commits acknowledged before the crash
    crashed = threading.Event()
    stop = threading.Event()

    def consume():
        c = Consumer(consumer_conf(addr, "cg"))
        c.subscribe([TOPIC])
        since = 0
        while not stop.is_set():
            m = c.poll(0.1)
            if m is None or m.error():
                continue
            reads.append((m.partition(), m.offset(), m.value().decode()))
            since += 1
            if since >= 500:
                since = 0
                before_crash = not crashed.is_set()
                try:
                    done = c.commit(asynchronous=False)
                    if before_crash and not crashed.is_set():
                        for tp in done:
                            if tp.error is None and tp.offset >= 0:
                                acked_commits[tp.partition] = tp.offset
                except KafkaException:
                    pass  # the broker is down: this commit was never acknowledged
        for _ in range(20):
            try:
                c.commit(asynchronous=False)
                break
            except KafkaException:
                time.sleep(0.2)
        c.close()

    tp = threading.Thread(target=produce)
    tc = threading.Thread(target=consume)
    tc.start()
    tp.start()
    time.sleep(1.2)
    crashed.set()
    b.kill()
    time.sleep(0.5)
    b = Broker(port=b.port)
    tap(b.addr == addr, "the broker restarted on the same port after kill -9")
    tp.join(120)
    deadline = time.time() + 60
    while time.time() < deadline and len({r[2] for r in reads}) < N:
        time.sleep(0.1)
    stop.set()
    tc.join(60)

    tap(not errors and len(delivered) == N,
        "all %d messages delivered without error (%d errors: %s)" % (N, len(errors), errors[:3]))

    # The log, read from the beginning by partition.
    c = Consumer({"bootstrap.servers": addr, "group.id": "reader", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(NPART)])
    log = []
    last = time.time()
    while time.time() - last < 3 and len(log) < N + 10:
        ms = c.consume(1000, 0.5)
        for m in ms:
            if not m.error():
                log.append((m.partition(), m.offset(), m.value().decode()))
                last = time.time()
    c.close()
    values = [v for _, _, v in log]
    tap(len(log) == N and len(set(values)) == N,
        "the log holds every message exactly once (%d records, %d distinct)"
        % (len(log), len(set(values))))
    in_order = True
    for p in range(NPART):
        seq = [int(v[1:]) for q, _, v in sorted(log) if q == p]
        in_order &= seq == sorted(seq) and all(x % NPART == p for x in seq)
    tap(in_order, "each partition holds its messages in the order they were sent")
    tap(all(delivered.get(v) == (p, o) for p, o, v in log),
        "every delivery report gave the offset the message is stored at")

    seen = {}
    for p, o, v in reads:
        seen[(p, o)] = seen.get((p, o), 0) + 1
    dups = [k for k, cnt in seen.items() if cnt > 1]
    tap(len({r[2] for r in reads}) == N, "the group consumer read every message")
    bad = [k for k in dups if k[1] < acked_commits.get(k[0], 0)]
    print("# %d reads, %d offsets read twice, acknowledged commits before the crash: %s"
          % (len(reads), len(dups), sorted(acked_commits.items())))
    tap(not bad, "nothing committed before the crash was read twice (%s)" % bad[:5])

    # ---- phase 2: committed offsets survive a kill -9 ---------------------------------------
    b.kill()
    b = Broker(port=b.port)
    p = Producer({"bootstrap.servers": addr, "acks": "all"})
    for i in range(60):
        p.produce(TOPIC, value=b"late%02d" % i, partition=i % NPART)
    tap(p.flush(30) == 0, "60 more messages produced after the second restart")
    c = Consumer(consumer_conf(addr, "cg"))
    c.subscribe([TOPIC])
    got = []
    last = time.time()
    while time.time() - last < 4:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value().decode())
            last = time.time()
    c.close()
    tap(sorted(got) == sorted("late%02d" % i for i in range(60)),
        "a new member resumes at the committed offsets: exactly the 60 new messages (%d read)"
        % len(got))
    tap(b.term() == 0, "clean shutdown")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        tap(False, "no exception")
    finally:
        if not KEEP:
            shutil.rmtree(WORK, ignore_errors=True)
    print("1..%d" % n)
    sys.exit(1 if failed else 0)
