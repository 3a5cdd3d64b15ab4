"""Retention really deletes old segments: a topic with a small segment.bytes and
retention.bytes (and one with retention.ms) is filled one batch at a time; within a few
retention checks (log.retention.check.interval.ms=200) segment files are gone from disk, the
log start offset is the base offset of the oldest file left, reading below it is out of range,
and what is left reads back intact. Also: a dynamic broker config (log.retention.bytes through
AlterConfigs on the broker) applies to topics without an override. TAP."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


def segments(data, topic):
    """The partition's segments (base offset, bytes), oldest first. Retention may delete one
    between the listing and its stat: a segment gone by then is not counted."""
    d = os.path.join(data, topic + "-0")
    out = []
    for f in sorted(f for f in os.listdir(d) if f.endswith(".log")):
        try:
            out.append((int(f[:-4]), os.path.getsize(os.path.join(d, f))))
        except FileNotFoundError:
            pass
    return out


def fill(addr, topic, count, value, ts=None):
    p = Producer({"bootstrap.servers": addr, "linger.ms": 0, "acks": "all"})
    for i in range(count):
        if ts is None:
            p.produce(topic, value=value + b"-%d" % i, partition=0)
        else:
            p.produce(topic, value=value + b"-%d" % i, partition=0, timestamp=ts)
        p.flush(10)  # one batch per message: segment sizes are predictable


def watermarks(addr, topic):
    c = Consumer({"bootstrap.servers": addr, "group.id": "unused"})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.close()
    return lo, hi


def wait_for(cond, secs=10):
    end = time.time() + secs
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def read_from(addr, topic, offset, count):
    c = Consumer({"bootstrap.servers": addr, "group.id": "unused", "enable.auto.commit": False,
                  "auto.offset.reset": "error"})
    c.assign([TopicPartition(topic, 0, offset)])
    got = []
    end = time.time() + 20
    while len(got) < count and time.time() < end:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            got.append(("error", m.error().code()))
            break
        got.append((m.offset(), m.value()))
    c.close()
    return got


def main():
    work = tempfile.mkdtemp(prefix="weir-test-ret-")
    data = os.path.join(work, "data")
    err = open(os.path.join(work, "stderr"), "w")
    p = subprocess.Popen([WEIR, "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
                          "--http-listen", "off", "--set", "log.retention.check.interval.ms=200"],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        addr = p.stdout.readline().split()[-1]
        a = AdminClient({"bootstrap.servers": addr})
        fs = a.create_topics([
            NewTopic("rb", 1, 1, config={"segment.bytes": "2048", "retention.bytes": "6144"}),
            NewTopic("rt", 1, 1, config={"segment.bytes": "2048", "retention.ms": "1000"}),
            NewTopic("rdyn", 1, 1, config={"segment.bytes": "2048"}),
        ])
        for t, f in fs.items():
            f.result()

        fill(addr, "rb", 200, b"x" * 100)
        ok = wait_for(lambda: sum(s for _, s in segments(data, "rb")) <= 6144 + 2048)
        segs = segments(data, "rb")
        lo, hi = watermarks(addr, "rb")
        tap(ok and hi == 200 and lo > 0 and lo == segs[0][0] and len(segs) <= 5,
            "retention.bytes: old segments deleted on disk (%d left), log start %d = oldest "
            "file's base offset" % (len(segs), lo))
        got = read_from(addr, "rb", lo, hi - lo)
        tap(len(got) == hi - lo and all(v == b"x" * 100 + b"-%d" % o for o, v in got),
            "what retention kept reads back intact from the log start")
        got = read_from(addr, "rb", 0, 1)
        tap(got and got[0][0] == "error", "reading below the log start: offset out of range")

        old = int(time.time() * 1000) - 3600 * 1000
        fill(addr, "rt", 60, b"y" * 100, ts=old)
        ok = wait_for(lambda: watermarks(addr, "rt")[0] > 0)
        lo, hi = watermarks(addr, "rt")
        segs = segments(data, "rt")
        tap(ok and hi == 60 and lo == segs[0][0] and lo > 0,
            "retention.ms: segments of hour-old records deleted (log start %d)" % lo)

        r = ConfigResource("broker", "1", set_config={"log.retention.bytes": "4096"})
        for t, f in a.alter_configs([r]).items():
            f.result()
        fill(addr, "rdyn", 100, b"z" * 100)
        ok = wait_for(lambda: sum(s for _, s in segments(data, "rdyn")) <= 4096 + 2048)
        tap(ok and watermarks(addr, "rdyn")[0] > 0,
            "dynamic broker log.retention.bytes applies to topics without an override")
        cfg = list(a.describe_configs([ConfigResource("broker", "1")]).values())[0].result()
        tap(cfg["log.retention.bytes"].value == "4096" and
            cfg["log.retention.bytes"].source == 2,
            "DescribeConfigs shows the dynamic broker value")
        bad = ConfigResource("broker", "1", set_config={"num.io.threads": "4"})
        try:
            for t, f in a.alter_configs([bad]).items():
                f.result()
            tap(False, "a static broker setting cannot change at run time")
        except KafkaException as e:
            tap(e.args[0].code() == 42, "a static broker setting cannot change at run time")
    except Exception:
        traceback.print_exc()
        tap(False, "retention test crashed")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
        err.close()
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
