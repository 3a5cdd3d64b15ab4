"""The schema registry against real clients: confluent-kafka 2.16.1's SchemaRegistryClient,
AvroSerializer/AvroDeserializer (fastavro), JSONSerializer/JSONDeserializer (jsonschema) and
ProtobufSerializer/ProtobufDeserializer (protobuf), pinned in tests/requirements.txt and run
from build/compat/venv (scripts/deps-compat.sh makes it). The serializers' bytes also go through Weir's own
produce-path validator and decoder (the test server's /_weir routes), so both sides agree.
Also: restart from the store keeps everything, concurrent registrations of one schema get one
id, an incompatible change is refused with 409. Starts the test server on port 0. TAP."""
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

import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
import urllib.request  # noqa: E402

from confluent_kafka.schema_registry import (  # noqa: E402
    Schema, SchemaRegistryClient, SchemaRegistryError)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.schema_registry.json_schema import (  # noqa: E402
    JSONDeserializer, JSONSerializer)
from confluent_kafka.schema_registry.protobuf import (  # noqa: E402
    ProtobufDeserializer, ProtobufSerializer)
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool  # noqa: E402
from google.protobuf.message_factory import GetMessageClass  # noqa: E402

BUILD = os.environ.get("WEIR_BUILD", os.path.join(TOP, "build"))
WEIR = os.environ.get("WEIR_BIN", os.path.join(BUILD, "weir"))
SERVER = os.path.join(BUILD, "tests", "integration", "registry_server")

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


def case(fn):
    try:
        fn()
        tap(True, fn.__name__)
    except Exception:
        traceback.print_exc()
        tap(False, fn.__name__)


class Server:
    def __init__(self, store):
        self.err = open(store + ".stderr", "a")
        self.p = subprocess.Popen([SERVER, "--store", store], stdout=subprocess.PIPE,
                                  stderr=self.err, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("http on "):
            raise RuntimeError("registry server did not start: %r" % line)
        self.url = "http://" + line.split()[-1]

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=30)
        self.err.close()
        if rc != 0:
            with open(self.err.name) as f:
                sys.stdout.write("".join("#   " + line for line in f.readlines()[-30:]))
            raise RuntimeError("the registry server exited %d" % rc)


def post(url, body, ctype="application/octet-stream"):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype},
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


work = tempfile.mkdtemp(prefix="weir-test-registry-")
store = os.path.join(work, "schemas.store")
srv = Server(store)
client = SchemaRegistryClient({"url": srv.url})

ORDER_V1 = {
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": "long"},
        {"name": "lines", "type": {"type": "array", "items": {
            "type": "record", "name": "Line",
            "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "status", "type": {"type": "enum", "name": "Status",
                                    "symbols": ["NEW", "PAID"]}},
    ]}
ORDER = {"id": "o-1", "amount": 1250, "lines": [{"sku": "a", "qty": 2}], "note": None,
         "status": "PAID"}


def validate(topic, payload, mode="full", side="value", strategy="topic"):
    st, body = post("%s/_weir/validate?topic=%s&side=%s&mode=%s&strategy=%s"
                    % (srv.url, topic, side, mode, strategy), payload)
    assert st == 200, (st, body)
    return json.loads(body)


def decode(payload):
    st, body = post(srv.url + "/_weir/decode", payload)
    assert st == 200, (st, body)
    return json.loads(body)


def test_avro_serializer_roundtrip():
    ser = AvroSerializer(client, json.dumps(ORDER_V1))
    de = AvroDeserializer(client)
    ctx = SerializationContext("orders", MessageField.VALUE)
    data = ser(ORDER, ctx)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 1, data[:5]
    assert de(data, ctx) == ORDER
    assert validate("orders", data) == {"ok": True}
    assert decode(data) == ORDER
    # the same bytes under another topic's subject are refused, naming the subject
    v = validate("payments", data, mode="id")
    assert v["ok"] is False and "not registered under subject 'payments-value'" in v["why"], v
    # a corrupt body fails full mode but passes id mode
    bad = data[:-1]
    assert validate("orders", bad, mode="id") == {"ok": True}
    v = validate("orders", bad)
    assert v["ok"] is False and "Avro" in v["why"], v
    assert validate("orders", b"{}")["ok"] is False


def test_client_calls():
    assert client.get_subjects() == ["orders-value"]
    reg = client.get_latest_version("orders-value")
    assert reg.version == 1 and reg.schema_id == 1 and reg.schema.schema_type == "AVRO"
    got = client.get_schema(1)
    assert json.loads(got.schema_str)["name"] == "Order"
    found = client.lookup_schema("orders-value", Schema(json.dumps(ORDER_V1), "AVRO"))
    assert found.schema_id == 1 and found.version == 1
    assert client.get_versions("orders-value") == [1]
    assert client.get_compatibility() == "BACKWARD"
    client.set_compatibility("orders-value", "FULL")
    assert client.get_compatibility("orders-value") == "FULL"
    v2 = dict(ORDER_V1, fields=ORDER_V1["fields"] + [
        {"name": "channel", "type": "string", "default": "web"}])
    assert client.test_compatibility("orders-value", Schema(json.dumps(v2), "AVRO")) is True
    v3 = dict(ORDER_V1, fields=ORDER_V1["fields"] + [{"name": "channel", "type": "string"}])
    assert client.test_compatibility("orders-value", Schema(json.dumps(v3), "AVRO")) is False
    assert client.register_schema("orders-value", Schema(json.dumps(v2), "AVRO")) == 2
    assert client.get_versions("orders-value") == [1, 2]
    uses = client.get_schema_versions(2)
    assert [(u.subject, u.version) for u in uses] == [("orders-value", 2)], uses


def test_incompatible_refused():
    v3 = dict(ORDER_V1, fields=[{"name": "id", "type": "int"}])
    try:
        client.register_schema("orders-value", Schema(json.dumps(v3), "AVRO"))
        raise AssertionError("an incompatible schema was registered")
    except SchemaRegistryError as e:
        assert e.http_status_code == 409 and e.error_code == 409, (e.http_status_code,
                                                                    e.error_code)
        assert "incompatible" in e.error_message
    assert client.get_versions("orders-value") == [1, 2]


def test_json_serializer_roundtrip():
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Payment",
              "type": "object",
              "properties": {"id": {"type": "string"}, "cents": {"type": "integer",
                                                                 "minimum": 0}},
              "required": ["id", "cents"], "additionalProperties": False}
    ser = JSONSerializer(json.dumps(schema), client)
    de = JSONDeserializer(json.dumps(schema), schema_registry_client=client)
    ctx = SerializationContext("payments", MessageField.VALUE)
    obj = {"id": "p-1", "cents": 500}
    data = ser(obj, ctx)
    sid = int.from_bytes(data[1:5], "big")
    assert client.get_schema(sid).schema_type == "JSON"
    assert de(data, ctx) == obj
    assert validate("payments", data) == {"ok": True}
    assert decode(data) == obj
    forged = data[:5] + json.dumps({"id": "p-2", "cents": -1}).encode()
    v = validate("payments", forged)
    assert v["ok"] is False and "minimum" in v["why"], v
    assert validate("payments", forged, mode="id") == {"ok": True}


def make_proto_class():
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "weir_test_sensor.proto"
    fdp.package = "iot"
    fdp.syntax = "proto3"
    m = fdp.message_type.add()
    m.name = "Reading"
    for name, num, typ, label in (("device", 1, 9, 1), ("celsius", 2, 1, 1),
                                  ("samples", 3, 5, 3), ("at", 4, 3, 1)):
        f = m.field.add()
        f.name, f.number, f.type, f.label = name, num, typ, label
    pool = descriptor_pool.DescriptorPool()
    fd = pool.Add(fdp)
    return GetMessageClass(pool.FindMessageTypeByName("iot.Reading")), fd


def test_protobuf_serializer_roundtrip():
    cls, _ = make_proto_class()
    ser = ProtobufSerializer(cls, client, {"use.deprecated.format": False})
    de = ProtobufDeserializer(cls, {"use.deprecated.format": False})
    ctx = SerializationContext("sensors", MessageField.VALUE)
    msg = cls(device="d-7", celsius=21.5, samples=[1, 2, 3], at=1700000000000)
    data = ser(msg, ctx)
    sid = int.from_bytes(data[1:5], "big")
    got = client.get_schema(sid)
    assert got.schema_type == "PROTOBUF"
    assert "message Reading" in got.schema_str and "repeated int32 samples = 3;" in \
        got.schema_str, got.schema_str
    assert de(data, ctx) == msg
    assert validate("sensors", data) == {"ok": True}
    assert decode(data) == {"device": "d-7", "celsius": 21.5, "samples": [1, 2, 3],
                            "at": "1700000000000"}, decode(data)
    # the deserializer with the registry reads the serialized descriptor back
    de2 = ProtobufDeserializer(cls, {"use.deprecated.format": False,
                                     "use.latest.version": False}, client)
    assert de2(data, ctx) == msg
    # wrong wire type for field 1 (varint instead of string)
    forged = data[:6] + b"\x08\x01"
    v = validate("sensors", forged)
    assert v["ok"] is False and "wire type" in v["why"], v


def test_restart_keeps_state():
    global srv, client
    before = {s: client.get_versions(s) for s in client.get_subjects()}
    ids = {s: [client.get_version(s, v).schema_id for v in before[s]] for s in before}
    srv.stop()
    srv = Server(store)
    client = SchemaRegistryClient({"url": srv.url})
    after = {s: client.get_versions(s) for s in client.get_subjects()}
    assert after == before, (before, after)
    assert {s: [client.get_version(s, v).schema_id for v in after[s]] for s in after} == ids
    assert client.get_compatibility("orders-value") == "FULL"


def test_concurrent_registration_one_id():
    schema = Schema(json.dumps({"type": "record", "name": "Burst", "fields": [
        {"name": "k", "type": "string"}]}), "AVRO")
    results, errors = [], []

    def worker():
        try:
            c = SchemaRegistryClient({"url": srv.url})
            results.append(c.register_schema("burst-value", schema))
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(results)) == 1 and len(results) == 8, results
    assert client.get_versions("burst-value") == [1]


def test_delete_and_ids_never_reused():
    sid = client.register_schema("tmp-value", Schema('{"type":"fixed","name":"F","size":4}',
                                                     "AVRO"))
    assert client.delete_subject("tmp-value") == [1]
    assert client.delete_subject("tmp-value", permanent=True) == [1]
    try:
        client.get_schema(sid)
        raise AssertionError("a permanently deleted schema is still served")
    except SchemaRegistryError as e:
        assert e.http_status_code == 404 and e.error_code == 40403
    nid = SchemaRegistryClient({"url": srv.url}).register_schema(
        "tmp2-value", Schema('{"type":"fixed","name":"G","size":4}', "AVRO"))
    assert nid > sid, (nid, sid)


def test_consume_decode():
    """`weir consume --decode` prints registry-encoded values as JSON (Avro, JSON, Protobuf)."""
    from confluent_kafka import Producer
    d = os.path.join(work, "broker")
    b = subprocess.Popen([WEIR, "serve", "--data-dir", d, "--listen", "127.0.0.1:0",
                          "--http-listen", "off"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        addr = b.stdout.readline().split()[-1]
        p = Producer({"bootstrap.servers": addr})
        # one subject per type (a subject holds one type), the records in one topic
        ctx = SerializationContext("decoded-avro", MessageField.VALUE)
        jctx = SerializationContext("decoded-json", MessageField.VALUE)
        pctx = SerializationContext("decoded-proto", MessageField.VALUE)
        avro_ser = AvroSerializer(client, json.dumps(ORDER_V1))
        cls, _ = make_proto_class()
        pb_ser = ProtobufSerializer(cls, client, {"use.deprecated.format": False})
        json_ser = JSONSerializer(json.dumps({"type": "object"}), client)
        p.produce("decoded", key=b"k1", value=avro_ser(ORDER, ctx))
        p.produce("decoded", key=b"k2", value=json_ser({"a": [1, 2]}, jctx))
        p.produce("decoded", key=b"k3", value=pb_ser(cls(device="x", samples=[7]), pctx))
        p.produce("decoded", key=b"k4", value=b"plain text")
        assert p.flush(10) == 0
        out = subprocess.run([WEIR, "consume", "decoded", "-b", addr, "--from", "start", "-e",
                              "--decode", "--registry", srv.url], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        recs = [json.loads(line) for line in out.stdout.splitlines()]
        assert [r["key"] for r in recs] == ["k1", "k2", "k3", "k4"], recs
        assert recs[0]["value"] == ORDER, recs[0]
        assert recs[1]["value"] == {"a": [1, 2]}, recs[1]
        assert recs[2]["value"] == {"device": "x", "samples": [7]}, recs[2]
        assert recs[3]["value"] == "plain text", recs[3]
    finally:
        b.send_signal(signal.SIGTERM)
        b.wait(timeout=30)


try:
    for t in (test_avro_serializer_roundtrip, test_client_calls, test_incompatible_refused,
              test_json_serializer_roundtrip, test_protobuf_serializer_roundtrip,
              test_restart_keeps_state, test_concurrent_registration_one_id,
              test_delete_and_ids_never_reused, test_consume_decode):
        case(t)
finally:
    case(srv.stop)
    shutil.rmtree(work, ignore_errors=True)
print("1..%d" % n)
sys.exit(1 if failed else 0)
