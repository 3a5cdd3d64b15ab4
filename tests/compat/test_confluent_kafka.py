"""The newest librdkafka, through confluent-kafka from PyPI (the venv of tests/python/
requirements.txt; its wheel bundles librdkafka 2.16): idempotent producer with every codec,
classic and KIP-848 (group.protocol=consumer) consumer groups, offsets for times, and the
AdminClient (topics with ids, cluster, incremental configs, partitions, records, list offsets,
groups with states, group offsets). Then aiokafka 0.14 (asyncio, its own protocol code):
produce and a group consume with commits. Exact counts, offsets, bytes. TAP.
    WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka (checks the test)"""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from compat import Broker, Tap, eq  # noqa: E402

import confluent_kafka  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition, KafkaException  # noqa: E402
from confluent_kafka.admin import (AdminClient, NewTopic, NewPartitions, ConfigResource,  # noqa: E402
                                   ConfigEntry, AlterConfigOpType, OffsetSpec)
from confluent_kafka import ConsumerGroupState  # noqa: E402
from confluent_kafka import ConsumerGroupTopicPartitions  # noqa: E402

B = Broker()
T = Tap()
print("# confluent-kafka %s, librdkafka %s" % (confluent_kafka.version()[0], confluent_kafka.libversion()[0]))
A = AdminClient({"bootstrap.servers": B.addr})


def create(name, parts, config=None):
    fs = A.create_topics([NewTopic(name, parts, 1, config=config or {})], operation_timeout=10)
    fs[name].result(15)
    end = time.time() + 15
    while time.time() < end:
        md = A.list_topics(name, timeout=5).topics.get(name)
        if md and md.error is None and len(md.partitions) == parts and all(
                p.leader >= 0 for p in md.partitions.values()):
            return
        time.sleep(0.05)
    raise AssertionError("topic %s not ready" % name)


def produce(records, **conf):
    p = Producer(dict({"bootstrap.servers": B.addr, "linger.ms": 5,
                       "message.timeout.ms": 20000}, **conf))
    reports = [None] * len(records)

    def cb(i):
        def f(err, msg):
            reports[i] = (err, msg.partition() if msg else None, msg.offset() if msg else None)
        return f

    for i, r in enumerate(records):
        p.produce(on_delivery=cb(i), **r)
        p.poll(0)
    left = p.flush(30)
    eq("messages left after flush", 0, left)
    for i, (err, _, _) in enumerate(reports):
        if err is not None:
            raise AssertionError("record %d: %s" % (i, err))
    return reports


def read(topic, parts, n, **conf):
    c = Consumer(dict({"bootstrap.servers": B.addr, "group.id": "reader-%s-%f" % (topic, time.time()),
                       "enable.auto.commit": False, "auto.offset.reset": "earliest"}, **conf))
    c.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(parts)])
    out = []
    end = time.time() + 20
    while len(out) < n and time.time() < end:
        for m in c.consume(500, 0.2):
            if m.error():
                raise AssertionError("consume: %s" % m.error())
            out.append(m)
    c.close()
    eq("records read from %s" % topic, n, len(out))
    return out


@T.case("producer: idempotent acks=all, 3 partitions, 3000 records, offsets exact in delivery reports")
def idempotent():
    create("ck-idem", 3)
    recs = [{"topic": "ck-idem", "partition": i % 3, "key": b"k%d" % i, "value": b"v%d" % i}
            for i in range(3000)]
    rep = produce(recs, **{"enable.idempotence": True, "acks": "all"})
    for i, (_, part, off) in enumerate(rep):
        if (part, off) != (i % 3, i // 3):
            raise AssertionError("record %d at %s/%s" % (i, part, off))


@T.case("producer: gzip, snappy, lz4, zstd with headers, read back byte for byte")
def codecs():
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        t = "ck-" + codec
        create(t, 1)
        recs = [{"topic": t, "key": b"key%d" % (i % 7), "value": (b"%s %d " % (codec.encode(), i)) * 20,
                 "headers": [("i", b"%d" % i), ("dup", b"a"), ("dup", b"b")]} for i in range(800)]
        produce(recs, **{"compression.codec": codec, "linger.ms": 50})
        got = read(t, 1, 800)
        for i, m in enumerate(got):
            if (m.key(), m.value(), m.headers()) != (recs[i]["key"], recs[i]["value"], recs[i]["headers"]):
                raise AssertionError("%s record %d differs: %r" % (codec, i, (m.key(), m.headers())))


def group_split(protocol):
    t, g = "ck-split-" + protocol, "ck-g-" + protocol
    create(t, 4)
    produce([{"topic": t, "partition": i % 4, "value": b"%d" % i} for i in range(400)])
    conf = {"bootstrap.servers": B.addr, "group.id": g, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "group.protocol": protocol}
    if protocol == "classic":
        conf.update({"session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                     "partition.assignment.strategy": "range"})
    cs = [Consumer(conf), Consumer(conf)]
    for c in cs:
        c.subscribe([t])
    seen = set()
    pos = {}
    end = time.time() + 45
    first_assignment_by = time.time() + 20  # librdkafka waits silently when the broker lacks an API
    while time.time() < end:
        if time.time() > first_assignment_by and not any(c.assignment() for c in cs):
            raise AssertionError("no member got an assignment within 20 s")
        for idx, c in enumerate(cs):
            for m in c.consume(100, 0.05):
                if m.error():
                    raise AssertionError("consume: %s" % m.error())
                seen.add((m.partition(), m.offset()))
                pos[(idx, m.partition())] = m.offset() + 1
        sizes = [len(c.assignment()) for c in cs]
        done = all(pos.get((i, tp.partition)) == 100 for i, c in enumerate(cs) for tp in c.assignment())
        if sizes == [2, 2] and len(seen) == 400 and done:
            break
    eq("partitions per member", [2, 2], [len(c.assignment()) for c in cs])
    eq("distinct records", 400, len(seen))
    for c in cs:
        c.commit(asynchronous=False)
    committed = cs[0].committed([TopicPartition(t, p) for p in range(4)], timeout=10)
    eq("committed offsets", [100] * 4, [tp.offset for tp in committed])
    d = A.describe_consumer_groups([g])[g].result(10)
    eq("group state", ConsumerGroupState.STABLE, d.state)
    eq("members", 2, len(d.members))
    for c in cs:
        c.close()


@T.case("classic group (range): 2 members 2+2, 400 records once, commit, committed()")
def classic():
    group_split("classic")


@T.case("group.protocol=consumer (KIP-848): 2 members 2+2, 400 records once, commit, committed()")
def kip848():
    group_split("consumer")


@T.case("consumer: offsets_for_times, get_watermark_offsets, seek")
def times():
    create("ck-times", 1)
    base = int(time.time() * 1000) - 3600_000
    produce([{"topic": "ck-times", "value": b"%d" % i, "timestamp": base + i * 1000} for i in range(10)])
    c = Consumer({"bootstrap.servers": B.addr, "group.id": "ck-times-g"})
    r = c.offsets_for_times([TopicPartition("ck-times", 0, base + 4500)], timeout=10)
    eq("offset for base+4.5s", 5, r[0].offset)
    r = c.offsets_for_times([TopicPartition("ck-times", 0, base + 60_000)], timeout=10)
    eq("offset past the last timestamp (end)", -1, r[0].offset)
    eq("watermarks", (0, 10), c.get_watermark_offsets(TopicPartition("ck-times", 0), timeout=10))
    c.assign([TopicPartition("ck-times", 0, 7)])
    m = c.consume(1, 10)[0]
    eq("offset after assign at 7", (7, b"7"), (m.offset(), m.value()))
    c.close()


@T.case("admin: create (errors), describe_topics with ids, describe_cluster, partitions, delete")
def admin_topics():
    create("ck-adm", 2, {"retention.ms": "7200000"})
    try:
        A.create_topics([NewTopic("ck-adm", 1, 1)])["ck-adm"].result(10)
        raise AssertionError("re-create succeeded")
    except KafkaException as e:
        eq("re-create error", "TOPIC_ALREADY_EXISTS", e.args[0].name())
    try:
        A.create_topics([NewTopic("ck-rf3", 1, 3)])["ck-rf3"].result(10)
        raise AssertionError("replication factor 3 succeeded")
    except KafkaException as e:
        eq("rf 3 error", "INVALID_REPLICATION_FACTOR", e.args[0].name())
    from confluent_kafka import TopicCollection
    d = A.describe_topics(TopicCollection(["ck-adm"]))["ck-adm"].result(10)
    eq("partitions", 2, len(d.partitions))
    if d.topic_id is None or str(d.topic_id) == "AAAAAAAAAAAAAAAAAAAAAA":
        raise AssertionError("no topic id: %r" % d.topic_id)
    cl = A.describe_cluster().result(10)
    eq("nodes", 1, len(cl.nodes))
    eq("controller", cl.nodes[0].id, cl.controller.id)
    if not cl.cluster_id:
        raise AssertionError("no cluster id")
    A.create_partitions([NewPartitions("ck-adm", 5)])["ck-adm"].result(10)
    eq("partitions after create_partitions", 5, len(A.list_topics("ck-adm", timeout=5).topics["ck-adm"].partitions))
    A.delete_topics(["ck-adm"])["ck-adm"].result(10)
    try:
        A.delete_topics(["ck-adm-missing"])["ck-adm-missing"].result(10)
        raise AssertionError("deleting a missing topic succeeded")
    except KafkaException as e:
        eq("delete missing", "UNKNOWN_TOPIC_OR_PART", e.args[0].name())


@T.case("admin: incremental_alter_configs SET/DELETE, describe_configs values, sources, synonyms")
def admin_configs():
    create("ck-cfg", 1)
    res = ConfigResource("TOPIC", "ck-cfg", incremental_configs=[
        ConfigEntry("retention.ms", "1234567", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.compaction.lag.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
    A.incremental_alter_configs([res])[res].result(10)
    cfg = A.describe_configs([ConfigResource("TOPIC", "ck-cfg")])
    entries = list(cfg.values())[0].result(10)
    eq("retention.ms", "1234567", entries["retention.ms"].value)
    eq("retention.ms source", confluent_kafka.admin.ConfigSource.DYNAMIC_TOPIC_CONFIG.value,
       entries["retention.ms"].source)
    eq("segment.bytes default", ("1073741824", confluent_kafka.admin.ConfigSource.DEFAULT_CONFIG.value),
       (entries["segment.bytes"].value, entries["segment.bytes"].source))
    eq("max.compaction.lag.ms", "86400000", entries["max.compaction.lag.ms"].value)
    res = ConfigResource("TOPIC", "ck-cfg", incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    A.incremental_alter_configs([res])[res].result(10)
    entries = list(A.describe_configs([ConfigResource("TOPIC", "ck-cfg")]).values())[0].result(10)
    eq("retention.ms after DELETE", "604800000", entries["retention.ms"].value)


@T.case("admin: list_offsets earliest/latest/max_timestamp, delete_records")
def admin_offsets():
    create("ck-lo", 1)
    base = int(time.time() * 1000) - 600_000
    produce([{"topic": "ck-lo", "value": b"x", "timestamp": base + t} for t in (3000, 9000, 1000, 5000)])
    tp = TopicPartition("ck-lo", 0)

    def lo(spec):
        r = A.list_offsets({tp: spec})[tp].result(10)
        return r.offset, r.timestamp

    eq("earliest", 0, lo(OffsetSpec.earliest())[0])
    eq("latest", 4, lo(OffsetSpec.latest())[0])
    eq("max timestamp", (1, base + 9000), lo(OffsetSpec.max_timestamp()))
    eq("for timestamp", (1, base + 9000), lo(OffsetSpec.for_timestamp(base + 6000)))
    r = A.delete_records([TopicPartition("ck-lo", 0, 2)])[TopicPartition("ck-lo", 0, 2)].result(10)
    eq("low watermark", 2, r.low_watermark)
    eq("earliest after delete", 2, lo(OffsetSpec.earliest())[0])


@T.case("admin: list/describe groups with states, alter/list/delete group offsets, delete group")
def admin_groups():
    create("ck-ga", 2)
    produce([{"topic": "ck-ga", "partition": i % 2, "value": b"g"} for i in range(20)])
    c = Consumer({"bootstrap.servers": B.addr, "group.id": "ck-ga-g", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 10000, "client.id": "ck-member"})
    c.subscribe(["ck-ga"])
    n = 0
    end = time.time() + 20
    while n < 20 and time.time() < end:
        n += len([m for m in c.consume(100, 0.2) if not m.error()])
    eq("consumed", 20, n)
    c.commit(asynchronous=False)
    lg = A.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(10)
    eq("stable groups", ["ck-ga-g"], sorted(g.group_id for g in lg.valid if g.group_id.startswith("ck-ga")))
    d = A.describe_consumer_groups(["ck-ga-g"])["ck-ga-g"].result(10)
    eq("describe", (ConsumerGroupState.STABLE, 1, "ck-member"), (d.state, len(d.members), d.members[0].client_id))
    c.close()
    lg = A.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(10)
    eq("ck-ga-g listed as Empty once its member left", True, "ck-ga-g" in [g.group_id for g in lg.valid])
    req = ConsumerGroupTopicPartitions("ck-ga-g", [TopicPartition("ck-ga", 0, 4), TopicPartition("ck-ga", 1, 9)])
    A.alter_consumer_group_offsets([req])["ck-ga-g"].result(10)
    got = A.list_consumer_group_offsets([ConsumerGroupTopicPartitions("ck-ga-g")])["ck-ga-g"].result(10)
    eq("offsets", [(0, 4), (1, 9)], sorted((tp.partition, tp.offset) for tp in got.topic_partitions))
    A.delete_consumer_groups(["ck-ga-g"])["ck-ga-g"].result(10)
    lg = A.list_consumer_groups().result(10)
    eq("groups after delete", [], [g.group_id for g in lg.valid if g.group_id == "ck-ga-g"])


@T.case("aiokafka 0.14: produce 500 (send_and_wait, gzip, idempotent), group consume with commits", 60)
def aiokafka_case():
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition as ATP
    create("ck-aio", 2)

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=B.addr, compression_type="gzip", acks="all",
                             enable_idempotence=True, request_timeout_ms=10000)
        await p.start()
        try:
            offs = {0: [], 1: []}
            for i in range(500):
                md = await p.send_and_wait("ck-aio", b"aio %d" % i, key=b"k", partition=i % 2)
                offs[md.partition].append(md.offset)
            eq("partition 0 offsets", list(range(250)), offs[0])
        finally:
            await p.stop()
        c = AIOKafkaConsumer("ck-aio", bootstrap_servers=B.addr, group_id="ck-aio-g",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=10000, heartbeat_interval_ms=500)
        await c.start()
        try:
            got = []
            while len(got) < 500:
                batch = await asyncio.wait_for(c.getmany(timeout_ms=500), 20)
                for tp, msgs in batch.items():
                    got.extend(m.value for m in msgs)
            eq("distinct values", {b"aio %d" % i for i in range(500)}, set(got))
            eq("count", 500, len(got))
            await c.commit()
            eq("committed p1", 250, await c.committed(ATP("ck-aio", 1)))
        finally:
            await c.stop()

    asyncio.run(asyncio.wait_for(run(), 50))


B.stop()
T.done()
