#!/usr/bin/env python3
"""Broker-side schema validation (docs/schemas.md) against real clients: confluent-kafka 2.16.1's
SerializingProducer with AvroSerializer, JSONSerializer and ProtobufSerializer (from the venv
build/compat/venv, pinned in tests/python/requirements.txt) produce to validated topics; raw
bytes, an unknown id, an id registered under another subject and (full mode) a payload that
does not decode are refused with INVALID_RECORD (87) and nothing of the refused batch is
readable; a raw Produce v8 shows record_errors and the message naming the record and the rule;
compressed batches, key validation, the three subject name strategies, the configs through the
admin client (set, described, refused when invalid, kept across a restart), kcat, the admin
API's produce, a broker without a registry (refuses everything on such a topic), and
weir_topic_schema_validation_failures_total counting exactly the refused batches. TAP.
# timeout: 120
"""
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PY = os.path.join(TOP, "build", "compat", "venv", "bin", "python3")
if os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(TOP, "build", "compat", "venv")):
    if not os.path.exists(VENV_PY):
        print("not ok 1 - build/compat/venv is missing: run make deps")
        print("1..1")
        sys.exit(1)
    os.execv(VENV_PY, [VENV_PY] + sys.argv)

import base64  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
import urllib.request  # noqa: E402

from confluent_kafka import (  # noqa: E402
    Consumer, KafkaError, KafkaException, Producer, SerializingProducer, TopicPartition)
from confluent_kafka.admin import (  # noqa: E402
    AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewTopic)
from confluent_kafka.schema_registry import (  # noqa: E402
    Schema, SchemaRegistryClient, record_subject_name_strategy,
    topic_record_subject_name_strategy)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.schema_registry.json_schema import JSONSerializer  # noqa: E402
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer  # noqa: E402
from confluent_kafka.serialization import (  # noqa: E402
    MessageField, SerializationContext, StringSerializer)
from google.protobuf import descriptor_pb2, descriptor_pool  # noqa: E402
from google.protobuf.message_factory import GetMessageClass  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kafka_wire import Tap  # noqa: E402
from kafka_wire.client import batch  # noqa: E402
from kafka_wire.client import produce_v8 as wire_produce_v8  # noqa: E402

WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
T = 15
INVALID_RECORD = 87
STRATEGY = "io.confluent.kafka.serializers.subject."

tap = Tap()


class Weir:
    """`weir serve` with its Kafka and HTTP listeners on free loopback ports (http=False: no
    HTTP listener, so no schema registry)."""

    def __init__(self, data, http=True):
        self.err = open(data + ".stderr", "a")
        self.p = subprocess.Popen([WEIR, "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
                                   "--http-listen", "127.0.0.1:0" if http else "off"],
                                  stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.addr = self.p.stdout.readline().split()[-1]
        self.admin = AdminClient({"bootstrap.servers": self.addr})
        if http:
            self.http = self.p.stdout.readline().split()[-1]
            self.registry = SchemaRegistryClient({"url": "http://" + self.http})

    def stop(self):
        self.p.terminate()
        rc = self.p.wait(30)
        self.err.close()
        assert rc == 0, "weir serve exited %d" % rc


ORDER = {"type": "record", "name": "Order", "namespace": "shop",
         "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "long"}]}
REFUND = {"type": "record", "name": "Refund", "namespace": "shop",
          "fields": [{"name": "order", "type": "string"}]}
PAYMENT = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Payment",
           "type": "object", "properties": {"id": {"type": "string"},
                                            "cents": {"type": "integer", "minimum": 0}},
           "required": ["id", "cents"]}


def create(w, topic, config, partitions=1):
    for f in w.admin.create_topics([NewTopic(topic, partitions, 1, config=config)],
                                   request_timeout=T).values():
        f.result(T)


def describe(w, topic):
    res = w.admin.describe_configs([ConfigResource("TOPIC", topic)], request_timeout=T)
    return list(res.values())[0].result(T)


def send(w, topic, value, key=None, **conf):
    """One record in its own batch: None when it was appended, else the KafkaError."""
    out = []
    p = Producer({"bootstrap.servers": w.addr, "acks": "all", "linger.ms": 0,
                  "message.send.max.retries": 0, **conf})
    p.produce(topic, value=value, key=key, on_delivery=lambda e, m: out.append(e))
    p.flush(T)
    assert len(out) == 1, out
    return out[0]


def refused(err):
    return err is not None and err.code() == INVALID_RECORD


def high(w, topic, partition=0):
    c = Consumer({"bootstrap.servers": w.addr, "group.id": "sv-probe"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=T)[1]
    finally:
        c.close()


def read_all(w, topic):
    """(offset, key, value) of every record of partition 0."""
    end = high(w, topic)
    c = Consumer({"bootstrap.servers": w.addr, "group.id": "sv-read", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    try:
        while len(out) < end:
            m = c.poll(T)
            assert m is not None and not m.error(), m and m.error()
            out.append((m.offset(), m.key(), m.value()))
    finally:
        c.close()
    return out


def failures(w, topic):
    with urllib.request.urlopen("http://%s/metrics" % w.http, timeout=T) as r:
        text = r.read().decode()
    m = re.search(r'^weir_topic_schema_validation_failures_total\{topic="%s"\} (\S+)$'
                  % re.escape(topic), text, re.M)
    return None if m is None else float(m.group(1))


def produce_v8(w, topic, records_field):
    """A raw Produce v8 of one partition: (error_code, base_offset, record_errors, message)."""
    return wire_produce_v8(w.addr, topic, records_field)


def wire(sid, body):
    return b"\x00" + struct.pack(">i", sid) + body


def avro_producer(w, subject_strategy=None, key_serializer=None):
    conf = {"auto.register.schemas": True}
    if subject_strategy:
        conf["subject.name.strategy"] = subject_strategy
    return lambda schema: SerializingProducer({
        "bootstrap.servers": w.addr, "acks": "all", "linger.ms": 0,
        "message.send.max.retries": 0,
        "key.serializer": key_serializer or StringSerializer(),
        "value.serializer": AvroSerializer(w.registry, json.dumps(schema), conf=conf)})


def sp_send(p, topic, value, key=None):
    out = []
    p.produce(topic, key=key, value=value, on_delivery=lambda e, m: out.append((e, m)))
    p.flush(T)
    assert len(out) == 1
    return out[0]


def proto_class():
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "weir_sv_reading.proto"
    fdp.package = "iot"
    fdp.syntax = "proto3"
    m = fdp.message_type.add()
    m.name = "Reading"
    for name, num, typ in (("device", 1, 9), ("celsius", 2, 1)):
        f = m.field.add()
        f.name, f.number, f.type, f.label = name, num, typ, 1
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return GetMessageClass(pool.FindMessageTypeByName("iot.Reading"))


# ---- the cases ---------------------------------------------------------------------------------

def case_configs(w):
    create(w, "sv-avro", {"weir.value.schema.validation": "full"})
    create(w, "sv-idonly", {"confluent.value.schema.validation": "true"})
    create(w, "sv-plain", {})
    cfg = describe(w, "sv-avro")
    e = cfg["weir.value.schema.validation"]
    assert e.value == "full" and e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, e
    assert len(cfg) == 38 and "confluent.value.schema.validation" not in cfg, sorted(cfg)
    assert len(describe(w, "sv-plain")) == 37  # a topic without them: Kafka's 37 names
    # set through IncrementalAlterConfigs, shown by DescribeConfigs
    res = ConfigResource("TOPIC", "sv-plain", incremental_configs=[
        ConfigEntry("confluent.key.schema.validation", "TRUE",
                    incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("confluent.key.subject.name.strategy", STRATEGY + "RecordNameStrategy",
                    incremental_operation=AlterConfigOpType.SET)])
    for f in w.admin.incremental_alter_configs([res], request_timeout=T).values():
        f.result(T)
    cfg = describe(w, "sv-plain")
    assert cfg["confluent.key.schema.validation"].value == "true", cfg
    assert cfg["confluent.key.subject.name.strategy"].value == STRATEGY + "RecordNameStrategy"
    # ... and removed again
    res = ConfigResource("TOPIC", "sv-plain", incremental_configs=[
        ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
        for k in ("confluent.key.schema.validation", "confluent.key.subject.name.strategy")])
    for f in w.admin.incremental_alter_configs([res], request_timeout=T).values():
        f.result(T)
    assert len(describe(w, "sv-plain")) == 37


def expect_invalid_config(fut, words):
    try:
        fut.result(T)
    except KafkaException as ex:
        err = ex.args[0]
        assert err.code() == KafkaError.INVALID_CONFIG, err
        for word in words:
            assert word in err.str(), (word, err.str())
        return
    raise AssertionError("an invalid config was accepted")


def case_invalid_configs(w):
    bad = [("weir.value.schema.validation", "maybe", ["maybe", "none, id, full"]),
           ("weir.key.schema.validation", "ID", ["ID"]),
           ("confluent.value.schema.validation", "yes", ["yes"]),
           ("confluent.value.subject.name.strategy", "TopicNameStrategy", ["TopicNameStrategy"])]
    for key, val, words in bad:
        futs = w.admin.create_topics([NewTopic("sv-bad", 1, 1, config={key: val})],
                                     request_timeout=T)
        expect_invalid_config(futs["sv-bad"], [key] + words)
        res = ConfigResource("TOPIC", "sv-avro", incremental_configs=[
            ConfigEntry(key, val, incremental_operation=AlterConfigOpType.SET)])
        expect_invalid_config(w.admin.incremental_alter_configs([res], request_timeout=T)[res],
                              [key] + words)
    assert "sv-bad" not in w.admin.list_topics(timeout=T).topics
    assert describe(w, "sv-avro")["weir.value.schema.validation"].value == "full"


def case_serializers_accepted(w):
    p = avro_producer(w)(ORDER)
    for i in range(3):
        e, m = sp_send(p, "sv-avro", {"id": "o-%d" % i, "cents": 100 * i}, key="k%d" % i)
        assert e is None and m.offset() == i, (e, m.offset())
    de = AvroDeserializer(w.registry)
    got = [(o, k, de(v, SerializationContext("sv-avro", MessageField.VALUE)))
           for o, k, v in read_all(w, "sv-avro")]
    assert got == [(i, b"k%d" % i, {"id": "o-%d" % i, "cents": 100 * i}) for i in range(3)], got
    create(w, "sv-json", {"weir.value.schema.validation": "full"})
    pj = SerializingProducer({"bootstrap.servers": w.addr, "linger.ms": 0,
                              "value.serializer": JSONSerializer(json.dumps(PAYMENT), w.registry)})
    for i in range(2):
        e, m = sp_send(pj, "sv-json", {"id": "p-%d" % i, "cents": i})
        assert e is None and m.offset() == i, (e, m.offset())
    create(w, "sv-proto", {"weir.value.schema.validation": "full"})
    cls = proto_class()
    pp = SerializingProducer({"bootstrap.servers": w.addr, "linger.ms": 0, "value.serializer":
                              ProtobufSerializer(cls, w.registry,
                                                 {"use.deprecated.format": False})})
    e, m = sp_send(pp, "sv-proto", cls(device="d-1", celsius=20.5))
    assert e is None and m.offset() == 0, (e, m.offset())
    # the JSON serializer checks before it sends; a forged payload is refused by the broker
    sid = w.registry.get_latest_version("sv-json-value").schema_id
    assert refused(send(w, "sv-json", wire(sid, b'{"id": "p-9", "cents": -1}')))
    assert high(w, "sv-json") == 2 and failures(w, "sv-json") == 1


def case_refused(w):
    sid = w.registry.get_latest_version("sv-avro-value").schema_id
    other = w.registry.register_schema("elsewhere-value", Schema(json.dumps(REFUND), "AVRO"))
    assert other != sid
    cases = [b"not avro at all",                  # raw bytes
             wire(9999, b"\x02a\x02"),            # an id nobody registered
             wire(other, b"\x02a"),               # registered, under another subject
             wire(sid, b"\x02a"),                 # the right id, a body that does not decode
             b""]                                 # empty
    for v in cases:
        err = send(w, "sv-avro", v)
        assert refused(err), (v, err)
    err = send(w, "sv-avro", None)                # null value
    assert refused(err), err
    assert high(w, "sv-avro") == 3 and [o for o, _, _ in read_all(w, "sv-avro")] == [0, 1, 2]
    assert failures(w, "sv-avro") == 6, failures(w, "sv-avro")
    # id mode takes what full mode refuses: the id is right, the body is not looked at
    assert send(w, "sv-idonly", wire(sid, b"\x02a")) is not None  # sv-idonly-value: nothing
    w.registry.register_schema("sv-idonly-value", Schema(json.dumps(ORDER), "AVRO"))
    assert send(w, "sv-idonly", wire(sid, b"\x02a")) is None
    assert high(w, "sv-idonly") == 1 and failures(w, "sv-idonly") == 1
    assert failures(w, "sv-plain") == 0


def case_raw_produce(w):
    sid = w.registry.get_latest_version("sv-avro-value").schema_id
    good = wire(sid, b"\x06o-9\x02")
    code, base, rec, msg = produce_v8(w, "sv-avro", batch([good, good, good, b"raw", good]))
    assert (code, base) == (INVALID_RECORD, -1), (code, base)
    want = "record 3: value: no schema registry wire header (magic byte 0 and a 4-byte schema id)"
    assert rec == [(3, want)] and msg == want, (rec, msg)
    code, _, rec, msg = produce_v8(w, "sv-avro", batch([wire(424242, b"")]))
    want = "record 0: value: schema id 424242 is not registered"
    assert code == INVALID_RECORD and rec == [(0, want)] and msg == want, (code, rec, msg)
    other = w.registry.get_latest_version("elsewhere-value").schema_id
    code, _, rec, msg = produce_v8(w, "sv-avro", batch([good, wire(other, b"\x02a")]))
    want = ("record 1: value: schema id %d is not registered under subject 'sv-avro-value'"
            % other)
    assert code == INVALID_RECORD and rec == [(1, want)], (code, rec)
    code, _, rec, msg = produce_v8(w, "sv-avro", batch([wire(sid, b"\x06o-9")]))
    assert code == INVALID_RECORD and rec[0][0] == 0 and \
        rec[0][1].startswith("record 0: value: does not decode with schema id %d: " % sid), rec
    # two batches in one partition, the second bad: neither is appended
    code, _, rec, _ = produce_v8(w, "sv-avro", batch([good]) + batch([good, b"x"]))
    assert code == INVALID_RECORD and rec[0][0] == 1, (code, rec)
    assert high(w, "sv-avro") == 3 and failures(w, "sv-avro") == 11
    code, base, rec, _ = produce_v8(w, "sv-avro", batch([good, good]))
    assert (code, base, rec) == (0, 3, []), (code, base, rec)


def case_compressed(w):
    sid = w.registry.get_latest_version("sv-avro-value").schema_id
    before = high(w, "sv-avro")
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        assert send(w, "sv-avro", wire(sid, b"\x06o-c\x04"), **{"compression.type": codec}) \
            is None, codec
        assert refused(send(w, "sv-avro", b"plain text, compressed",
                            **{"compression.type": codec})), codec
    assert high(w, "sv-avro") == before + 4 and failures(w, "sv-avro") == 15


def case_keys(w):
    create(w, "sv-keys", {"confluent.key.schema.validation": "true"})
    key_ser = AvroSerializer(w.registry, json.dumps({"type": "string"}))
    p = SerializingProducer({"bootstrap.servers": w.addr, "linger.ms": 0,
                             "key.serializer": key_ser, "value.serializer": StringSerializer()})
    e, m = sp_send(p, "sv-keys", "any value, values are not checked", key="customer-1")
    assert e is None and m.offset() == 0, e
    assert [s for s in w.registry.get_subjects() if s.startswith("sv-keys")] == ["sv-keys-key"]
    assert refused(send(w, "sv-keys", b"v", key=b"raw-key"))
    assert refused(send(w, "sv-keys", b"v", key=None))
    code, _, rec, _ = produce_v8(w, "sv-keys", batch([b"v"], keys=[b"raw"]))
    want = "record 0: key: no schema registry wire header (magic byte 0 and a 4-byte schema id)"
    assert code == INVALID_RECORD and rec == [(0, want)], rec
    assert high(w, "sv-keys") == 1 and failures(w, "sv-keys") == 3


def case_strategies(w):
    create(w, "sv-rec", {"confluent.value.schema.validation": "true",
                         "confluent.value.subject.name.strategy": STRATEGY + "RecordNameStrategy"})
    create(w, "sv-trec", {"weir.value.schema.validation": "full",
                          "confluent.value.subject.name.strategy":
                          STRATEGY + "TopicRecordNameStrategy"})
    rec_p = avro_producer(w, record_subject_name_strategy)(ORDER)
    e, m = sp_send(rec_p, "sv-rec", {"id": "r-1", "cents": 1})
    assert e is None and m.offset() == 0, e
    trec_p = avro_producer(w, topic_record_subject_name_strategy)(ORDER)
    e, m = sp_send(trec_p, "sv-trec", {"id": "t-1", "cents": 2})
    assert e is None and m.offset() == 0, e
    subjects = w.registry.get_subjects()
    assert "shop.Order" in subjects and "sv-trec-shop.Order" in subjects, subjects
    # Refund, registered only under elsewhere-value: not under shop.Refund, nor sv-*-shop.Refund
    other = w.registry.get_latest_version("elsewhere-value").schema_id
    code, _, rec, _ = produce_v8(w, "sv-rec", batch([wire(other, b"\x02a")]))
    assert code == INVALID_RECORD and rec[0][1].endswith(
        "is not registered under subject 'shop.Refund'"), rec
    code, _, rec, _ = produce_v8(w, "sv-trec", batch([wire(other, b"\x02a")]))
    assert code == INVALID_RECORD and rec[0][1].endswith(
        "is not registered under subject 'sv-trec-shop.Refund'"), rec
    # TopicNameStrategy's subject does not count under the record strategies, and back
    topic_p = avro_producer(w)(REFUND)
    e, _ = sp_send(topic_p, "sv-rec", {"order": "o-1"})  # registers sv-rec-value
    assert refused(e), e
    assert high(w, "sv-rec") == 1 and high(w, "sv-trec") == 1
    assert failures(w, "sv-rec") == 2 and failures(w, "sv-trec") == 1


def case_kcat(w):
    r = subprocess.run(["kcat", "-P", "-b", w.addr, "-t", "sv-avro", "-X",
                        "message.send.max.retries=0"],
                       input=b"a line of text\n", capture_output=True, timeout=60)
    # Debian's kcat speaks Produce v7, which has no INVALID_RECORD: Kafka answers
    # CORRUPT_MESSAGE ("Invalid message") there, and so does Weir
    assert r.returncode != 0 and \
        r.stderr.strip().endswith(b"Delivery failed for message: Broker: Invalid message"), r
    assert failures(w, "sv-avro") == 16


def case_restart(w, data):
    hw = high(w, "sv-avro")
    w.stop()
    w2 = Weir(data)
    try:
        assert describe(w2, "sv-avro")["weir.value.schema.validation"].value == "full"
        assert describe(w2, "sv-rec")["confluent.value.subject.name.strategy"].value == \
            STRATEGY + "RecordNameStrategy"
        assert refused(send(w2, "sv-avro", b"raw"))
        sid = w2.registry.get_latest_version("sv-avro-value").schema_id
        assert send(w2, "sv-avro", wire(sid, b"\x06o-r\x02")) is None
        assert high(w2, "sv-avro") == hw + 1 and failures(w2, "sv-avro") == 1
    finally:
        w2.stop()


def admin_post(w, path, body):
    req = urllib.request.Request("http://%s%s" % (w.http, path), method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=T) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def case_admin_api(w):
    """The admin API's produce goes through the same check: 400 with the rule, or 201."""
    hw = high(w, "sv-avro")
    st, body = admin_post(w, "/api/v1/topics/sv-avro/messages", {"value": "plain text"})
    want = ("INVALID_RECORD: record 0: value: no schema registry wire header (magic byte 0 and "
            "a 4-byte schema id)")
    assert st == 400 and want in json.dumps(body), (st, body)
    sid = w.registry.get_latest_version("sv-avro-value").schema_id
    good = base64.b64encode(wire(sid, b"\x06o-a\x02")).decode()
    st, body = admin_post(w, "/api/v1/topics/sv-avro/messages",
                          {"value": good, "value_encoding": "base64"})
    assert st == 201 and body["offset"] == hw, (st, body)
    assert high(w, "sv-avro") == hw + 1 and failures(w, "sv-avro") == 17


def case_no_registry(data):
    """Without the HTTP listener there is no registry: a validated topic takes nothing."""
    w = Weir(data + "-noreg", http=False)
    try:
        create(w, "sv-noreg", {"confluent.value.schema.validation": "true"})
        code, base, rec, _ = produce_v8(w, "sv-noreg", batch([wire(1, b"")]))
        want = ("record 0: value: schema validation is on for this topic but no schema "
                "registry is there to check it")
        assert (code, base, rec) == (INVALID_RECORD, -1, [(0, want)]), (code, base, rec)
        create(w, "sv-noreg-off", {})  # a topic without validation is unchanged
        assert produce_v8(w, "sv-noreg-off", batch([b"x"]))[:3] == (0, 0, [])
        assert high(w, "sv-noreg") == 0
    finally:
        w.stop()


def main():
    work = tempfile.mkdtemp(prefix="weir-test-schemaval-")
    data = os.path.join(work, "data")
    w = Weir(data)
    stopped = False
    try:
        for fn in (case_configs, case_invalid_configs, case_serializers_accepted, case_refused,
                   case_raw_produce, case_compressed, case_keys, case_strategies, case_kcat,
                   case_admin_api):
            try:
                fn(w)
                tap(True, fn.__name__)
            except Exception:
                traceback.print_exc(file=sys.stdout)
                tap(False, fn.__name__)
        try:
            case_no_registry(data)
            tap(True, "case_no_registry")
        except Exception:
            traceback.print_exc(file=sys.stdout)
            tap(False, "case_no_registry")
        try:
            stopped = True
            case_restart(w, data)
            tap(True, "case_restart")
        except Exception:
            traceback.print_exc(file=sys.stdout)
            tap(False, "case_restart")
    finally:
        if not stopped:
            w.stop()
        shutil.rmtree(work, ignore_errors=True)
    tap.finish()


if __name__ == "__main__":
    main()
