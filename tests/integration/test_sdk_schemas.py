"""libweir's serializers against real ones: confluent-kafka 2.16.1's AvroSerializer /
AvroDeserializer (fastavro) and JSONSerializer / JSONDeserializer (jsonschema), pinned in
tests/python/requirements.txt and run from build/compat/venv, with the schema registry of a
`weir serve` started here on free ports. Records libweir serializes (test_sdk_schemas.c, a
filter over stdin/stdout) are decoded by confluent-kafka to exactly the values given, and the
other way round; for Avro the payload bytes are identical. Also: the id cache asks the registry
once per id (also with 4 threads on one client), an unknown id, a wrong magic byte, a value the schema refuses, JSON Schema
validation, and an incompatible schema refused with 409 while nothing stored changes. TAP."""
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
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
import urllib.request  # noqa: E402

from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.schema_registry.json_schema import (  # noqa: E402
    JSONDeserializer, JSONSerializer)
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

BUILD = os.environ.get("WEIR_BUILD", os.path.join(TOP, "build"))
WEIR = os.environ.get("WEIR_BIN", os.path.join(BUILD, "weir"))
TOOL = os.path.join(BUILD, "tests", "integration", "test_sdk_schemas")

PAYMENT_AVSC = json.dumps({
    "type": "record", "name": "Payment", "namespace": "weir.test", "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "qty", "type": "int"},
        {"name": "seq", "type": "long"},
        {"name": "ok", "type": "boolean"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "state", "type": {"type": "enum", "name": "State",
                                   "symbols": ["NEW", "PAID", "VOID"]}},
        {"name": "lines", "type": {"type": "array", "items": {
            "type": "record", "name": "Line",
            "fields": [{"name": "sku", "type": "string"}, {"name": "n", "type": "int"}]}}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "raw", "type": "bytes"}]})

# Values as JSON (libweir's side); "raw" is bytes as code points 0..255, as Avro's JSON has it.
PAYMENTS = [
    {"id": "p-1", "amount": 12.5, "qty": 1, "seq": 1, "ok": True, "note": None, "state": "NEW",
     "lines": [{"sku": "SKU-1", "n": 2}], "attrs": {"try": 1}, "raw": ""},
    {"id": "café ☕", "amount": -0.1, "qty": -2147483648, "seq": 9007199254740993, "ok": False,
     "note": "first line\nsecond \"quoted\"", "state": "VOID", "lines": [],
     "attrs": {}, "raw": "\u0000\u0001\u00ff"},
    {"id": "p-3", "amount": 1e300, "qty": 2147483647, "seq": -9223372036854775808, "ok": True,
     "note": "", "state": "PAID",
     "lines": [{"sku": "a", "n": 0}, {"sku": "b", "n": -1}, {"sku": "ü", "n": 7}],
     "attrs": {"x": -1, "y": 4611686018427387904}, "raw": "binary\u0080"},
]

ORDER_JSON_SCHEMA = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#", "title": "OrderPlaced",
    "type": "object", "required": ["order_id", "amount"],
    "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"},
                   "items": {"type": "array", "items": {
                       "type": "object", "properties": {"sku": {"type": "string"},
                                                        "qty": {"type": "integer"}}}},
                   "note": {"type": ["string", "null"]}}})

ORDERS = [
    {"order_id": "o-1", "amount": 10.25, "items": [{"sku": "SKU-1", "qty": 2}], "note": None},
    {"order_id": "ö-2 ☕", "amount": 0, "items": [], "note": "tab\there"},
    {"order_id": "o-3", "amount": 99999.5},
]

n = 0
failed = 0


def tap(ok, name, detail=None):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)
    if not ok and detail is not None:
        for line in str(detail).splitlines()[:30]:
            print("#   " + line)


def tool(url, args, lines, check=True):
    p = subprocess.run([TOOL, url] + args, input="".join(l + "\n" for l in lines),
                       capture_output=True, text=True, timeout=60)
    if p.stderr.strip():
        print("# tool stderr: " + p.stderr.strip().replace("\n", "\n# "))
    if check and p.returncode != 0:
        raise RuntimeError("tool %s exited %d: %s" % (args, p.returncode, p.stdout + p.stderr))
    return p.stdout.splitlines(), p.returncode


def avro_py(v):
    """The fastavro form of a libweir JSON value: bytes as bytes."""
    return dict(v, raw=v["raw"].encode("latin-1"))


def avro_json(v):
    return dict(v, raw=v["raw"].decode("latin-1"))


def start_weir(work):
    p = subprocess.Popen([WEIR, "serve", "--listen", "127.0.0.1:0", "--http-listen",
                          "127.0.0.1:0", "--data-dir", os.path.join(work, "data"),
                          "--log-level", "warn"], stdout=subprocess.PIPE,
                         stderr=open(os.path.join(work, "weir.err"), "w"), text=True)
    http = None
    for _ in range(2):
        line = p.stdout.readline()
        if line.startswith("http on "):
            http = line.split()[-1]
    if not http:
        raise RuntimeError("weir serve did not start")
    return p, "http://" + http


def versions(url, subject):
    with urllib.request.urlopen("%s/subjects/%s/versions" % (url, subject), timeout=10) as r:
        return json.loads(r.read())


def main():
    work = tempfile.mkdtemp(prefix="weir-sdk-schemas-")
    proc = None
    try:
        proc, url = start_weir(work)
        sr = SchemaRegistryClient({"url": url})
        avsc = os.path.join(work, "payment.avsc")
        open(avsc, "w").write(PAYMENT_AVSC)
        jsc = os.path.join(work, "order.json")
        open(jsc, "w").write(ORDER_JSON_SCHEMA)
        ctx = SerializationContext("payments", MessageField.VALUE)

        # Avro, libweir -> confluent-kafka
        out, _ = tool(url, ["ser", "payments-value", "avro", avsc],
                      [json.dumps(v, ensure_ascii=False) for v in PAYMENTS])
        weir_bytes = [bytes.fromhex(h) if not h.startswith("error") else b"" for h in out]
        tap(len(out) == 3 and all(weir_bytes), "Avro: libweir serializes 3 values", out)
        de = AvroDeserializer(sr)
        got = [de(b, ctx) for b in weir_bytes]
        tap(got == [avro_py(v) for v in PAYMENTS],
            "  ... confluent-kafka's AvroDeserializer reads exactly the values", got)
        # confluent-kafka -> libweir
        ser = AvroSerializer(sr, PAYMENT_AVSC)
        ck_bytes = [ser(avro_py(v), ctx) for v in PAYMENTS]
        tap([b[5:] for b in ck_bytes] == [b[5:] for b in weir_bytes] and ck_bytes[0][0] == 0,
            "  ... and writes the same Avro payload bytes as AvroSerializer",
            [(a.hex(), b.hex()) for a, b in zip(ck_bytes, weir_bytes)])
        out, _ = tool(url, ["de"], [b.hex() for b in ck_bytes])
        got = [json.loads(l) for l in out[:3]]
        tap(got == PAYMENTS, "  ... libweir reads AvroSerializer's records exactly", out)

        # JSON Schema, both ways
        out, _ = tool(url, ["ser", "orders-value", "json", jsc, "validate"],
                      [json.dumps(v, ensure_ascii=False) for v in ORDERS])
        jde = JSONDeserializer(None, schema_registry_client=sr)
        octx = SerializationContext("orders", MessageField.VALUE)
        got = [jde(bytes.fromhex(h), octx) if not h.startswith("error") else h for h in out]
        tap(got == ORDERS, "JSON Schema: confluent-kafka's JSONDeserializer reads libweir's "
            "records exactly", out)
        jser = JSONSerializer(ORDER_JSON_SCHEMA, sr)
        ck = [jser(v, octx) for v in ORDERS]
        out, _ = tool(url, ["de"], [b.hex() for b in ck])
        tap([json.loads(l) for l in out[:3]] == ORDERS and out[3] == "cache hits=2 misses=1",
            "  ... libweir reads JSONSerializer's records exactly, asking the registry once", out)

        # the id cache: many records of two ids, one request each
        lines = [b.hex() for b in ck_bytes] * 20 + [b.hex() for b in ck] * 20
        out, _ = tool(url, ["de"], lines)
        tap(len(out) == 121 and out[-1] == "cache hits=118 misses=2" and
            not any(l.startswith("error") for l in out),
            "120 records of 2 schema ids: 2 registry lookups, 118 from the cache", out[-3:])

        # four threads on one client: the cache and the client under contention agree
        out, _ = tool(url, ["de-threads", "4"], lines)
        single = [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in PAYMENTS]
        hits, misses = [int(x.split("=")[1]) for x in out[-1].split()[1:]]
        tap(len(out) == 121 and "differ" not in out and
            [json.loads(l) for l in out[:3]] == PAYMENTS and hits + misses == 480 and
            2 <= misses <= 8,
            "4 threads decode the same 120 records alike (%d lookups of 480 asked the registry)"
            % misses, (out[:3], out[-1], single[:1]))

        # errors
        ids = [int.from_bytes(b[1:5], "big") for b in (ck_bytes[0], ck[0])]
        unknown = b"\x00" + (max(ids) + 1000).to_bytes(4, "big") + b"{}"
        out, _ = tool(url, ["de"], [unknown.hex(), b'{"a":1}'.hex(), "0000"])
        tap(out[0].startswith("error %s 404 40403 schema id %d: " %
                              (err_name("NOENT", url), max(ids) + 1000)),
            "an unknown id: NOENT with the registry's 404 / 40403 and message", out[0])
        tap(out[1] == "error %s 0 0 not in the schema registry's wire format: magic byte 0x7b,"
            " expected 0x00" % err_name("INVAL", url), "a wrong magic byte: a clear error", out[1])
        tap(out[2].startswith("error %s 0 0 not in the schema registry's wire format: 2 bytes"
                              % err_name("INVAL", url)), "a 2-byte record: a clear error", out[2])
        bad = dict(PAYMENTS[0], lines=[{"sku": "s", "n": "two"}])
        out, _ = tool(url, ["ser", "payments-value", "avro", avsc], [json.dumps(bad), "{nope"])
        tap(out[0].endswith(": $.lines[0].n: expected int") and out[0].startswith("error")
            and out[1].startswith("error %s 0 0 value is not JSON" % err_name("INVAL", url)),
            "Avro: a value the schema refuses names the field; text that is not JSON too", out)
        missing = json.dumps({"amount": 1})
        out, _ = tool(url, ["ser", "orders-value", "json", jsc, "validate"], [missing])
        out2, _ = tool(url, ["ser", "orders-value", "json", jsc], [missing])
        tap(out[0].endswith('$: required property "order_id" is missing')
            and not out2[0].startswith("error"),
            "JSON Schema: validation refuses a missing required field; off, it is sent", out + out2)

        # an incompatible change: 409, and the subject keeps its one version
        before = versions(url, "payments-value")
        incompatible = json.loads(PAYMENT_AVSC)
        incompatible["fields"][2] = {"name": "qty", "type": "string"}
        bad_avsc = os.path.join(work, "bad.avsc")
        open(bad_avsc, "w").write(json.dumps(incompatible))
        out, rc = tool(url, ["register", "payments-value", "avro", bad_avsc], [], check=False)
        tap(rc == 1 and out[0].startswith("error %s 409 409 registering a schema under "
                                          "payments-value: " % err_name("INVAL", url)),
            "an incompatible schema is refused: 409 with the registry's message", out)
        tap(versions(url, "payments-value") == before == [1],
            "  ... and the subject still has its one version", versions(url, "payments-value"))
        out, rc = tool(url, ["register", "payments-value", "avro", avsc], [], check=False)
        tap(rc == 0 and out == ["id %d" % ids[0]], "registering the same schema again: same id",
            out)
    except Exception:
        tap(False, "unexpected exception", traceback.format_exc())
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


# WEIR_ERR_* of weir.h, as the tool prints them
_codes = {"INVAL": -2, "NOENT": -6}


def err_name(code, url):
    return _codes[code]


if __name__ == "__main__":
    raise SystemExit(main())
