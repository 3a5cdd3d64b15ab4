"""The broker against the Python clients: kafka-python 2.0.2 (which probes with ApiVersions v0
and Metadata v0 pipelined, then guesses the broker version from the advertised ranges) and
confluent-kafka-python (librdkafka underneath). Produce and consume with exact content, keys,
headers and per-partition order; gzip from kafka-python (the only codec Debian's
python3-kafka can write); every codec from confluent-kafka; both admin clients: create,
describe, alter configs, add partitions, delete. Starts its own `weir serve` on port 0. TAP."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


def case(name):
    def deco(fn):
        def run():
            try:
                fn()
                tap(True, name)
            except Exception:
                traceback.print_exc()
                tap(False, name)
        return run
    return deco


class Broker:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="weir-test-py-")
        self.err = open(os.path.join(self.dir, "stderr"), "w")
        self.p = subprocess.Popen(
            [WEIR, "serve", "--data-dir", os.path.join(self.dir, "data"), "--listen",
             "127.0.0.1:0", "--http-listen", "127.0.0.1:0"] + list(args),
            stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError("broker did not start: %r" % line)
        self.addr = line.split()[-1]
        self.http = self.p.stdout.readline().split()[-1]

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


B = None


@case("kafka-python: probe, produce gzip and plain with keys and headers, consume exactly")
def kafka_python_produce_consume():
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    p = KafkaProducer(bootstrap_servers=B.addr, compression_type="gzip", linger_ms=5)
    assert p.config["api_version"] >= (0, 11), p.config["api_version"]
    futs = []
    for i in range(2000):
        futs.append(p.send("kp", key=b"k%d" % (i % 7), value=b"value %d" % i,
                           headers=[("h", b"%d" % i)]))
    p.flush()
    offsets = [f.get(10) for f in futs]
    p.close()
    p2 = KafkaProducer(bootstrap_servers=B.addr, acks="all")
    for i in range(2000, 2100):
        p2.send("kp", key=b"k%d" % (i % 7), value=b"value %d" % i, headers=[("h", b"%d" % i)])
    p2.flush()
    p2.close()
    c = KafkaConsumer(bootstrap_servers=B.addr, enable_auto_commit=False, group_id=None,
                      consumer_timeout_ms=5000)
    parts = c.partitions_for_topic("kp")
    assert parts == {0}, parts  # num.partitions=1 (the default) for an auto-created topic
    tp = TopicPartition("kp", 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = []
    for m in c:
        got.append(m)
        if len(got) == 2100:
            break
    c.close()
    assert len(got) == 2100, len(got)
    for i, m in enumerate(got):
        assert m.offset == i, (i, m.offset)
        assert m.value == b"value %d" % i, m.value
        assert m.key == b"k%d" % (i % 7)
        assert m.headers == [("h", b"%d" % i)], m.headers
    assert [o.offset for o in offsets] == list(range(2000))


@case("kafka-python: offsets_for_times, beginning and end offsets")
def kafka_python_offsets():
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    p = KafkaProducer(bootstrap_servers=B.addr)
    for i in range(10):
        p.send("kpt", value=b"x", timestamp_ms=1500000000000 + i * 10)
    p.flush()
    p.close()
    c = KafkaConsumer(bootstrap_servers=B.addr, enable_auto_commit=False, group_id=None)
    tp = TopicPartition("kpt", 0)
    assert c.beginning_offsets([tp]) == {tp: 0}
    assert c.end_offsets([tp]) == {tp: 10}
    r = c.offsets_for_times({tp: 1500000000000 + 45})
    assert r[tp].offset == 5 and r[tp].timestamp == 1500000000000 + 50, r
    r = c.offsets_for_times({tp: 1600000000000})
    assert r[tp] is None, r
    c.close()


@case("kafka-python KafkaAdminClient: create, describe configs, add partitions, delete")
def kafka_python_admin():
    from kafka.admin import (ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions,
                             NewTopic)
    from kafka.errors import TopicAlreadyExistsError
    a = KafkaAdminClient(bootstrap_servers=B.addr)
    r = a.create_topics([NewTopic("kpa", 2, 1, topic_configs={"retention.bytes": "1000000"})])
    assert r.topic_errors[0][1] == 0, r
    try:
        a.create_topics([NewTopic("kpa", 2, 1)])
        raise AssertionError("duplicate create succeeded")
    except TopicAlreadyExistsError:
        pass
    d = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kpa")])
    entries = {e[0]: e[1] for e in d[0].resources[0][4]}
    assert entries["retention.bytes"] == "1000000", entries
    assert entries["cleanup.policy"] == "delete", entries
    a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kpa",
                                    configs={"retention.ms": "60000"})])
    d = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kpa")])
    entries = {e[0]: e[1] for e in d[0].resources[0][4]}
    assert entries["retention.ms"] == "60000", entries
    assert entries["retention.bytes"] == "-1", entries  # AlterConfigs replaced the set
    d = a.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])
    entries = {e[0]: e[1] for e in d[0].resources[0][4]}
    assert entries["num.partitions"] == "1" and entries["message.max.bytes"] == "1048588"
    r = a.create_partitions({"kpa": NewPartitions(4)})
    assert r.topic_errors[0][1] == 0, r
    assert "kpa" in a.list_topics()
    r = a.delete_topics(["kpa"])
    assert r.topic_error_codes[0][1] == 0, r
    assert "kpa" not in a.list_topics()
    a.close()


@case("confluent-kafka: every codec, acks=all, keys and headers, read back in order")
def confluent_codecs():
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": B.addr})
    for t, f in a.create_topics([NewTopic("ckc", 3, 1)]).items():
        f.result()
    sent = {0: [], 1: [], 2: []}
    errs = []
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        p = Producer({"bootstrap.servers": B.addr, "acks": "all", "compression.codec": codec,
                      "linger.ms": 5})
        for i in range(600):
            v = ("%s-%d" % (codec, i)).encode()
            part = i % 3
            sent[part].append(v)
            p.produce("ckc", value=v, key=b"%d" % i, partition=part,
                      headers={"codec": codec.encode()},
                      on_delivery=lambda err, msg: errs.append(err) if err else None)
        assert p.flush(20) == 0
    assert not errs, errs
    c = Consumer({"bootstrap.servers": B.addr, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition("ckc", i, 0) for i in range(3)])
    got = {0: [], 1: [], 2: []}
    deadline = time.time() + 30
    while sum(len(v) for v in got.values()) < 3000 and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert not m.error(), m.error()
        assert m.offset() == len(got[m.partition()])
        assert m.headers() == [("codec", m.value().split(b"-")[0])], m.headers()
        got[m.partition()].append(m.value())
    c.close()
    assert got == sent


@case("confluent-kafka admin: create, alter, describe, partitions, delete")
def confluent_admin():
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
    a = AdminClient({"bootstrap.servers": B.addr})
    for t, f in a.create_topics([NewTopic("cka", 1, 1, config={"segment.bytes": "1048576"})]).items():
        f.result()
    r = ConfigResource("topic", "cka", set_config={"retention.ms": "5000"})
    for t, f in a.alter_configs([r]).items():
        f.result()
    for t, f in a.describe_configs([ConfigResource("topic", "cka")]).items():
        cfg = f.result()
        assert cfg["retention.ms"].value == "5000", cfg["retention.ms"]
        assert cfg["segment.bytes"].value == "1073741824"  # replaced by AlterConfigs
    for t, f in a.create_partitions([NewPartitions("cka", 3)]).items():
        f.result()
    assert len(a.list_topics(timeout=5).topics["cka"].partitions) == 3
    for t, f in a.delete_topics(["cka"]).items():
        f.result()
    assert "cka" not in a.list_topics(timeout=5).topics


@case("GET /health answers 200 with the cluster id")
def health():
    import json
    import urllib.request
    with urllib.request.urlopen("http://%s/health" % B.http, timeout=5) as r:
        assert r.status == 200
        j = json.loads(r.read())
    assert j["status"] == "ok" and len(j["cluster_id"]) == 22, j


def main():
    global B
    B = Broker()
    try:
        for t in [kafka_python_produce_consume, kafka_python_offsets, kafka_python_admin,
                  confluent_codecs, confluent_admin, health]:
            t()
    finally:
        B.stop()
    print("1..%d" % n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
