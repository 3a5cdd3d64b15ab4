"""Topic configs that change what a produce does, through confluent-kafka (librdkafka):

- message.timestamp.before.max.ms / message.timestamp.after.max.ms (KIP-937): a record whose
  CreateTime lies further from the broker's clock is refused with INVALID_TIMESTAMP (32) and
  nothing of its batch is stored; records within the bounds are stored; Kafka's default
  after.max.ms (one hour) refuses a record two hours ahead on any topic.
- compression.type other than "producer": what is stored on disk is the batch rebuilt with the
  topic's codec (the attributes' codec bits of every stored batch, read from the segment file),
  and consumers read the same records back.
TAP."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


def produce(addr, topic, records, compression="none"):
    """records: (value, timestamp_ms or None); one batch per call. Returns each delivery's error
    code (0 for success) in order."""
    p = Producer({"bootstrap.servers": addr, "linger.ms": 50, "acks": "all",
                  "compression.type": compression, "retries": 0,
                  "enable.idempotence": False})
    codes = []

    def cb(err, msg):
        codes.append(0 if err is None else err.code())
    for value, ts in records:
        if ts is None:
            p.produce(topic, value=value, partition=0, on_delivery=cb)
        else:
            p.produce(topic, value=value, partition=0, timestamp=ts, on_delivery=cb)
    p.flush(15)
    return codes


def read_all(addr, topic):
    c = Consumer({"bootstrap.servers": addr, "group.id": "g-" + topic,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    out = []
    deadline = time.time() + 15
    while len(out) < hi - lo and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            out.append((m.offset(), m.value()))
    c.close()
    return hi, out


def stored_codecs(data, topic):
    """The codec bits of every batch in the partition's segment files, in order."""
    d = os.path.join(data, topic + "-0")
    codecs = []
    for f in sorted(x for x in os.listdir(d) if x.endswith(".log")):
        b = open(os.path.join(d, f), "rb").read()
        pos = 0
        while pos + 61 <= len(b):
            length = struct.unpack(">i", b[pos + 8:pos + 12])[0]
            if length <= 0:
                break  # preallocated zeros after the last batch
            attrs = struct.unpack(">h", b[pos + 21:pos + 23])[0]
            codecs.append(attrs & 7)
            pos += 12 + length
    return codecs


def main():
    work = tempfile.mkdtemp(prefix="weir-test-policy-")
    data = os.path.join(work, "data")
    err = open(os.path.join(work, "stderr"), "w")
    p = subprocess.Popen([WEIR, "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
                          "--http-listen", "off"], stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        addr = p.stdout.readline().split()[-1]
        a = AdminClient({"bootstrap.servers": addr})
        fs = a.create_topics([
            NewTopic("ts", 1, 1, config={"message.timestamp.before.max.ms": "60000",
                                         "message.timestamp.after.max.ms": "60000"}),
            NewTopic("tsdefault", 1, 1),
            NewTopic("zs", 1, 1, config={"compression.type": "zstd"}),
            NewTopic("plain", 1, 1, config={"compression.type": "uncompressed"}),
        ])
        for f in fs.values():
            f.result(timeout=15)
        now = int(time.time() * 1000)

        codes = produce(addr, "ts", [(b"old", now - 3600_000)])
        tap(codes == [KafkaError.INVALID_TIMESTAMP],
            "a record an hour behind a 60 s before.max.ms: INVALID_TIMESTAMP (%s)" % codes)
        codes = produce(addr, "ts", [(b"future", now + 3600_000)])
        tap(codes == [KafkaError.INVALID_TIMESTAMP],
            "a record an hour ahead of a 60 s after.max.ms: INVALID_TIMESTAMP (%s)" % codes)
        codes = produce(addr, "ts", [(b"ok-1", now - 1000), (b"ok-2", None)])
        tap(codes == [0, 0], "records within the bounds are stored (%s)" % codes)
        hi, got = read_all(addr, "ts")
        tap(hi == 2 and [v for _, v in got] == [b"ok-1", b"ok-2"],
            "only the two good records are in the log, at offsets 0 and 1 (%s, %s)" % (hi, got))

        codes = produce(addr, "tsdefault", [(b"far", now + 2 * 3600_000)])
        codes += produce(addr, "tsdefault", [(b"near", now + 1800_000)])
        hi, got = read_all(addr, "tsdefault")
        tap(codes == [KafkaError.INVALID_TIMESTAMP, 0] and hi == 1 and got == [(0, b"near")],
            "Kafka's default after.max.ms (1 h) refuses a record 2 h ahead, keeps one 30 min "
            "ahead (%s, %s)" % (codes, got))

        values = [b"value-%04d-" % i + b"z" * 200 for i in range(300)]
        codes = produce(addr, "zs", [(v, None) for v in values], compression="none")
        codecs = stored_codecs(data, "zs")
        tap(codes == [0] * 300 and codecs and all(c == 4 for c in codecs),
            "compression.type=zstd: uncompressed batches stored as zstd (%s)" % codecs)
        hi, got = read_all(addr, "zs")
        tap(hi == 300 and [v for _, v in got] == values,
            "compression.type=zstd: the 300 records read back in order")

        codes = produce(addr, "plain", [(v, None) for v in values[:50]], compression="gzip")
        codecs = stored_codecs(data, "plain")
        tap(codes == [0] * 50 and codecs and all(c == 0 for c in codecs),
            "compression.type=uncompressed: gzip batches stored uncompressed (%s)" % codecs)
        hi, got = read_all(addr, "plain")
        tap(hi == 50 and [v for _, v in got] == values[:50],
            "compression.type=uncompressed: the 50 records read back in order")
    except Exception:
        traceback.print_exc()
        tap(False, "no exception")
    finally:
        p.terminate()
        p.wait(15)
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
