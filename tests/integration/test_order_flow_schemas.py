"""The order flow with schemas: a `weir serve` with its schema registry, and order-service,
payment-service and inventory-service started with --registry (examples/order-flow).

Checked: each service registers the JSON Schema of the topics it writes at start, under the
TopicNameStrategy subjects (orders-value, payments-value, inventory-value,
payments.ledger-value); 40 orders all reach CONFIRMED or CANCELLED with every event in the
schema registry's wire format, read back by confluent-kafka's JSONDeserializer (a real client)
with the ce_dataschema header naming the id each record carries. An incompatible new version of
OrderPlaced (a new required field) is refused with 409: order-service exits 1 and says so, and
orders-value keeps its one version. A compatible one (a new optional field) is registered as
version 2, and the other services read its events by the new id. TAP."""
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
import subprocess  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import urllib.request  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_order_flow as of  # noqa: E402

from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.json_schema import JSONDeserializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

ORDERS = 40
TOPICS = {"orders": {"OrderPlaced", "OrderConfirmed", "OrderCancelled"},
          "payments": {"PaymentSucceeded", "PaymentFailed", "PaymentRefunded"},
          "inventory": {"StockReserved", "StockRejected", "StockReleased"},
          "payments.ledger": {"PaymentCaptured", "PaymentRefunded"}}


class SchemaFlow(of.Flow):
    """The test_order_flow Flow, with the broker's HTTP listener (the registry) on."""

    registry = None

    def start_broker(self):
        super().start_broker()
        self.registry = self.admin

    def service_args(self, name):
        return super().service_args(name) + ["--registry", self.registry]

    def start_order(self, extra=()):
        self.http = self.spawn("order-service", self.order_args() + list(extra),
                               r"listening on (\S+)")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def read_topic(flow, topic, deser):
    """[(ce_type, value, schema id in the record, ce_dataschema)] of every record of topic."""
    c = Consumer({"bootstrap.servers": flow.bootstrap, "group.id": "schema-check",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, p, 0) for p in range(4)])
    out, eof = [], set()
    deadline = time.time() + 30
    ctx = SerializationContext(topic, MessageField.VALUE)
    while len(eof) < 4 and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            eof.add(m.partition())
            continue
        h = {k: v.decode() for k, v in (m.headers() or [])}
        raw = m.value()
        sid = int.from_bytes(raw[1:5], "big") if raw[:1] == b"\x00" else None
        out.append((h.get("ce_type"), deser(raw, ctx), sid, h.get("ce_dataschema")))
    c.close()
    return out


def wait_exit(p, secs):
    try:
        return p.wait(secs)
    except subprocess.TimeoutExpired:
        return None


def main():
    n = 0
    failed = 0

    def tap(ok, name, detail=None):
        nonlocal n, failed
        n += 1
        failed += 0 if ok else 1
        print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)
        if not ok and detail is not None:
            for line in str(detail).splitlines()[:20]:
                print("#   " + line)

    flow = SchemaFlow("schemas")
    try:
        flow.start_all()
        reg = flow.registry
        want = sorted(t + "-value" for t in TOPICS)
        # start_all waits for the order service only: the others register as they come up.
        deadline = time.time() + 30
        while True:
            subjects = get(reg + "/subjects")
            if set(want) <= set(subjects) or time.time() > deadline:
                break
            time.sleep(0.2)
        tap(sorted(s for s in subjects if s.endswith("-value")) == want,
            "each service registered the schemas of the topics it writes: %s" % ", ".join(want),
            subjects)
        latest = {t: get("%s/subjects/%s-value/versions/latest" % (reg, t)) for t in TOPICS}
        tap(all(v["version"] == 1 and v.get("schemaType") == "JSON" for v in latest.values()),
            "  ... as JSON Schema, version 1 each", latest)

        placed, errors = of.place_orders(flow, ORDERS)
        stats = of.wait_decided(flow, ORDERS)
        tap(not errors and len(placed) == ORDERS and stats.get("pending") == 0 and
            stats.get("confirmed", 0) + stats.get("cancelled", 0) == ORDERS,
            "%d orders placed, all decided (%s confirmed, %s cancelled)" %
            (ORDERS, stats.get("confirmed"), stats.get("cancelled")), (errors[:3], stats))

        deser = JSONDeserializer(None, schema_registry_client=SchemaRegistryClient({"url": reg}))
        records = {t: read_topic(flow, t, deser) for t in TOPICS}
        bad = [(t, r) for t, rs in records.items() for r in rs
               if r[0] not in TOPICS[t] or r[2] != latest[t]["id"] or
               r[3] != "%s/schemas/ids/%d" % (reg, latest[t]["id"])]
        tap(not bad and all(records.values()),
            "every event is in the wire format with its topic's schema id and ce_dataschema "
            "(%s records)" % sum(len(r) for r in records.values()), bad[:5])
        placed_events = {r[1]["order_id"]: r[1] for r in records["orders"]
                         if r[0] == "OrderPlaced"}
        decided = [r for r in records["payments"] if r[0] in ("PaymentSucceeded", "PaymentFailed")]
        tap(set(placed_events) == set(placed) and len(decided) == ORDERS and
            all(set(v) == {"order_id", "user_id", "items", "amount", "created_ms"}
                for v in placed_events.values()),
            "  ... confluent-kafka's JSONDeserializer reads one OrderPlaced per order, and one "
            "payment decision each", (len(placed_events), len(decided)))

        # A new version of OrderPlaced with a required field old events lack: refused.
        flow.stop("order-service")
        v1 = json.loads(latest["orders"]["schema"])
        incompatible = json.loads(json.dumps(v1))
        incompatible["properties"]["currency"] = {"type": "string"}
        incompatible["required"].append("currency")
        path = os.path.join(flow.dir, "orders-v2-bad.json")
        json.dump(incompatible, open(path, "w"))
        p = subprocess.Popen(flow.order_args() + ["--schema", "orders=" + path],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             cwd=flow.dir)
        rc = wait_exit(p, 30)
        err = p.stderr.read() if rc is not None else ""
        if rc is None:
            p.kill()
            p.wait()
        tap(rc == 1, "order-service with an incompatible OrderPlaced schema exits 1", err)
        print("# " + err.strip().replace("\n", "\n# "))
        tap("refused the schema of topic orders (subject orders-value): HTTP 409, error_code "
            "409: registering a schema under orders-value: Schema being registered is "
            "incompatible with an earlier schema" in err and
            "REQUIRED_PROPERTY_ADDED" in err and "add optional fields only" in err,
            "  ... and says which subject, the registry's 409 and why", err)
        tap(get(reg + "/subjects/orders-value/versions") == [1],
            "  ... orders-value keeps its one version")

        # A compatible one (an optional field, closed content model): version 2, and read.
        compatible = json.loads(json.dumps(v1))
        compatible["properties"]["currency"] = {"type": "string"}
        path = os.path.join(flow.dir, "orders-v2.json")
        json.dump(compatible, open(path, "w"))
        flow.start_order(["--schema", "orders=" + path])
        v2 = get(reg + "/subjects/orders-value/versions/latest")
        placed2, errors = of.place_orders(flow, 1)
        oid = next(iter(placed2), None)
        host, port = flow.http.split(":")
        status = None
        deadline = time.time() + 60
        while time.time() < deadline and status in (None, "PENDING"):
            conn = of.http.client.HTTPConnection(host, int(port), timeout=10)
            status = of.get_json(conn, "/orders/%s" % oid)[1].get("status")
            conn.close()
            time.sleep(0.1)
        tap(v2["version"] == 2 and not errors and status in ("CONFIRMED", "CANCELLED"),
            "a compatible new version (optional field) is registered as version 2, and its "
            "events are read by the other services (%s)" % status, (v2, errors))

        codes = flow.stop_all()
        tap(all(c == 0 for c in codes.values()), "every process exits 0 on SIGTERM", codes)
        lines = [flow.stats_line(s) for s in ("payment-service", "inventory-service")]
        tap(all("dead-lettered 0" in line for line in lines), "nothing was dead-lettered", lines)
    except Exception:
        tap(False, "unexpected exception", traceback.format_exc())
    finally:
        flow.cleanup(keep=failed > 0)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
