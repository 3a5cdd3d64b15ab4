#!/usr/bin/env python3
"""order-service's event-sourced orders: each order is the records of its id in order.events
(weir.key.index=true), each decided on the order loaded and appended with weir_store_execute.

A broker and order-service alone; the test plays payment-service and inventory-service, producing
their events (confluent-kafka) one at a time, so each order's history is known exactly:
  - happy path: `weir consume order.events --key A` prints OrderCreated, OrderPaid,
    StockReserved, OrderConfirmed (offsets rising), and `orders` holds OrderPlaced then one
    OrderConfirmed for A; a redelivered StockReserved (same ce_id: the inbox skips it) and a
    second copy (another ce_id: the aggregate has the fact) add nothing;
  - compensated: OrderCreated, OrderPaid, StockRejected, OrderCancelled (with the stock's
    reason), OrderRefunded; `orders`: OrderPlaced, one OrderCancelled;
  - racing cancels: two POST /orders/{id}/cancel at once on each of 10 PENDING orders: one 200
    and one 409 per order, exactly one OrderCancelled record per order and one OrderCancelled
    event on `orders` (weir.expected.offset refused the loser, which decided again);
  - bad input: cancel of an unknown order 404, of a confirmed one 409; order-service without
    --admin exits 2 and says why;
  - orchestrated (order-service restarted with --flow orchestration): PaymentSucceeded,
    StockReserved and OrderShipped are recorded but decide nothing; order-saga's OrderConfirmed
    (produced here) does: OrderCreated, OrderPaid, StockReserved, OrderShipped, OrderConfirmed,
    and nothing but OrderPlaced published by the service; a cancel is 409.
TAP on stdout.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_helpers  # noqa: E402
import test_order_flow as of  # noqa: E402
from cli_helpers import tap  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

RACES = 10


def call(addr, method, path, body=None):
    c = http.client.HTTPConnection(addr, timeout=30)
    c.request(method, path, body=json.dumps(body) if body is not None else None)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def wait_until(fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    return None


def place(addr, sku="SKU-1"):
    st, body = call(addr, "POST", "/orders",
                    {"user_id": "U-es", "items": [{"sku": sku, "qty": 1}], "amount": 10.0})
    return body["order_id"] if st == 201 else None


def fact(producer, topic, ce_type, oid, ce_id=None, reason=None):
    value = {"order_id": oid}
    if reason:
        value["reason"] = reason
    producer.produce(topic, key=oid, value=json.dumps(value),
                     headers=[("ce_specversion", "1.0"), ("ce_id", ce_id or str(uuid.uuid4())),
                              ("ce_type", ce_type), ("ce_source", "/tests/order-events"),
                              ("content-type", "application/json")])
    producer.flush(10)


def field(addr, oid, name):
    st, body = call(addr, "GET", "/orders/" + oid)
    return body.get(name) if st == 200 else None


def records_by_cli(flow, oid):
    """`weir consume order.events --key OID`: [(offset, record)]."""
    out = subprocess.run([of.WEIR, "consume", of_events, "--key", oid, "--admin", flow.admin,
                          "--brokers", flow.bootstrap, "-f", "%o %v\n"],
                         capture_output=True, text=True, timeout=30)
    rows = []
    for line in out.stdout.splitlines():
        off, _, value = line.partition(" ")
        rows.append((int(off), json.loads(value)))
    return rows, out


of_events = "order.events"


def orders_topic_types(bootstrap):
    """{order id: [ce_type, ...]} of the whole `orders` topic, in offset order."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "order-events-check",
                  "enable.auto.commit": False})
    parts = c.list_topics("orders", timeout=10).topics["orders"].partitions
    c.assign([TopicPartition("orders", p, 0) for p in parts])
    ends = {p: c.get_watermark_offsets(TopicPartition("orders", p))[1] for p in parts}
    seen = {p: 0 for p in parts}
    out = {}
    deadline = time.time() + 20
    while any(seen[p] < ends[p] for p in parts) and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        seen[m.partition()] = m.offset() + 1
        out.setdefault(m.key().decode(), []).append(dict(m.headers())["ce_type"].decode())
    c.close()
    return out


def handled_all(metrics_addr, expected):
    """The service's /metrics: every one of `expected` events received and handled (or
    skipped as a copy); the counts, or None while some are on their way."""
    try:
        c = http.client.HTTPConnection(metrics_addr, timeout=5)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
    except OSError:
        return None
    got = {}
    for name in ("received", "handled", "deduplicated", "dead_lettered"):
        m = re.search(r"^weir_app_events_%s(?:_total)?(?:\{[^}]*\})? (\d+)" % name, text, re.M)
        got[name] = int(m.group(1)) if m else 0
    done = got["received"] >= expected and \
        got["handled"] + got["deduplicated"] + got["dead_lettered"] == got["received"]
    return got if done else None


def check_happy(flow, addr, producer):
    a = place(addr)
    fact(producer, "payments", "PaymentSucceeded", a)
    wait_until(lambda: field(addr, a, "payment") == "SUCCEEDED")
    reserved_id = str(uuid.uuid4())
    fact(producer, "inventory", "StockReserved", a, ce_id=reserved_id)
    tap(wait_until(lambda: field(addr, a, "status") == "CONFIRMED") is not None,
        "happy path: the order is CONFIRMED once paid and reserved")
    fact(producer, "inventory", "StockReserved", a, ce_id=reserved_id)  # redelivered
    fact(producer, "inventory", "StockReserved", a)  # a second copy, another ce_id
    return a


def check_compensated(addr, producer):
    b = place(addr, "SKU-OOS")
    fact(producer, "payments", "PaymentSucceeded", b)
    wait_until(lambda: field(addr, b, "payment") == "SUCCEEDED")
    fact(producer, "inventory", "StockRejected", b, reason="out of stock: SKU-OOS")
    wait_until(lambda: field(addr, b, "status") == "CANCELLED")
    fact(producer, "payments", "PaymentRefunded", b)
    tap(wait_until(lambda: field(addr, b, "refunded") is True) is not None,
        "compensated: the order is CANCELLED, then refunded")
    return b


def race_cancels(addr):
    ids = [place(addr) for _ in range(RACES)]
    answers = {oid: [] for oid in ids}
    for oid in ids:
        gate = threading.Barrier(2)

        def cancel(oid=oid, gate=gate):
            gate.wait()
            answers[oid].append(call(addr, "POST", "/orders/%s/cancel" % oid)[0])

        threads = [threading.Thread(target=cancel) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    codes = [sorted(v) for v in answers.values()]
    tap(codes == [[200, 409]] * RACES,
        "%d orders, two cancels racing on each: one 200 and one 409 per order" % RACES, codes)
    return ids


def check_histories(flow, a, b, races, addr):
    rows, out = records_by_cli(flow, a)
    types = [r["type"] for _, r in rows]
    offsets = [o for o, _ in rows]
    tap(types == ["OrderCreated", "OrderPaid", "StockReserved", "OrderConfirmed"]
        and offsets == sorted(offsets) and all(r["order_id"] == a for _, r in rows),
        "weir consume order.events --key A: OrderCreated, OrderPaid, StockReserved, "
        "OrderConfirmed (the two copies of StockReserved added nothing)", (types, out.stderr))
    rows, out = records_by_cli(flow, b)
    types = [r["type"] for _, r in rows]
    cancel = [r for _, r in rows if r["type"] == "OrderCancelled"]
    tap(types == ["OrderCreated", "OrderPaid", "StockRejected", "OrderCancelled", "OrderRefunded"]
        and cancel[0].get("reason") == "out of stock: SKU-OOS",
        "compensated order B: OrderCreated, OrderPaid, StockRejected, OrderCancelled (out of "
        "stock), OrderRefunded", (types, out.stderr))
    st, ev = call(addr, "GET", "/orders/%s/events" % b)
    tap(st == 200 and ev["version"] == rows[-1][0] and len(ev["events"]) == 5,
        "GET /orders/B/events: the same 5 records, version = the offset of the last", ev)
    hist = {oid: [e["record"]["type"] for e in call(addr, "GET", "/orders/%s/events" % oid)[1]
                  ["events"]] for oid in races}
    tap(all(h == ["OrderCreated", "OrderCancelled"] for h in hist.values()),
        "each raced order: OrderCreated and exactly one OrderCancelled", hist)
    types = orders_topic_types(flow.bootstrap)
    tap(types.get(a) == ["OrderPlaced", "OrderConfirmed"]
        and types.get(b) == ["OrderPlaced", "OrderCancelled"],
        "orders: A OrderPlaced, OrderConfirmed; B OrderPlaced, OrderCancelled (as before)",
        (types.get(a), types.get(b)))
    tap(all(types.get(oid) == ["OrderPlaced", "OrderCancelled"] for oid in races),
        "orders: one OrderCancelled per raced order", {oid: types.get(oid) for oid in races})


def check_bad_input(flow, addr, a):
    st, body = call(addr, "POST", "/orders/no-such-order/cancel")
    tap(st == 404 and body == {"error": "no such order"}, "cancel of an unknown order: 404", body)
    st, body = call(addr, "POST", "/orders/%s/cancel" % a)
    tap(st == 409 and body == {"error": "order %s is CONFIRMED, not PENDING" % a},
        "cancel of a confirmed order: 409 saying its status", body)
    st, _ = call(addr, "GET", "/orders/no-such-order/events")
    tap(st == 404, "GET /orders/<unknown>/events: 404")
    p = subprocess.run([os.path.join(of.EXAMPLES, "order-service")] + flow.service_args("x")
                       + ["--port", "0"], capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if k != "WEIR_ADMIN_URL"})
    tap(p.returncode == 2 and "--admin URL (or $WEIR_ADMIN_URL) is needed" in p.stderr,
        "order-service without --admin: exit 2 and why", (p.returncode, p.stderr))


def check_orchestrated(flow, producer):
    """order-service --flow orchestration: the results are recorded, order-saga's verdict
    decides; the service publishes nothing on orders but OrderPlaced."""
    flow.stop("order-service")
    # another static member: the first one's assignment (payments, inventory) would come back
    # as it was, without the topics the new subscription adds
    args = flow.order_args()
    args[args.index("--instance-id") + 1] = "order-orchestrated-1"
    addr = flow.spawn("order-service", args + ["--flow", "orchestration"], r"listening on (\S+)")
    d = place(addr)
    fact(producer, "payments", "PaymentSucceeded", d)
    wait_until(lambda: field(addr, d, "payment") == "SUCCEEDED")
    fact(producer, "inventory", "StockReserved", d)
    wait_until(lambda: field(addr, d, "stock") == "RESERVED")
    tap(field(addr, d, "status") == "PENDING",
        "orchestrated: paid and reserved, the order waits for order-saga's verdict (PENDING)")
    fact(producer, "shipping", "OrderShipped", d)
    wait_until(lambda: field(addr, d, "shipped") is True)
    fact(producer, "orders", "OrderConfirmed", d)
    tap(wait_until(lambda: field(addr, d, "status") == "CONFIRMED") is not None,
        "  ... and takes it: CONFIRMED")
    rows, out = records_by_cli(flow, d)
    types = [r["type"] for _, r in rows]
    tap(types == ["OrderCreated", "OrderPaid", "StockReserved", "OrderShipped", "OrderConfirmed"],
        "orchestrated order: OrderCreated, OrderPaid, StockReserved, OrderShipped, "
        "OrderConfirmed", (types, out.stderr))
    st, body = call(addr, "POST", "/orders/%s/cancel" % d)
    tap(st == 409 and "orchestrated" in body.get("error", ""),
        "orchestrated: POST /orders/{id}/cancel is 409 (order-saga decides)", (st, body))
    return addr, d


def main():
    start = time.time()
    flow = of.Flow("events")
    ok = False
    try:
        flow.start_broker()
        addr = flow.spawn("order-service",
                          flow.order_args() + ["--metrics-listen", "127.0.0.1:0"],
                          r"listening on (\S+)")
        metrics = wait_until(lambda: re.search(r"metrics on http://([^/\s]+)", open(os.path.join(
            flow.dir, "order-service.err")).read()), 10)
        producer = Producer({"bootstrap.servers": flow.bootstrap, "enable.idempotence": True})
        a = check_happy(flow, addr, producer)
        b = check_compensated(addr, producer)
        counts = wait_until(lambda: handled_all(metrics.group(1), 7), 30)
        tap(counts is not None and counts["deduplicated"] == 1 and counts["dead_lettered"] == 0,
            "the service took all 7 events: 1 skipped as handled, none dead-lettered", counts)
        races = race_cancels(addr)
        check_histories(flow, a, b, races, addr)
        check_bad_input(flow, addr, a)
        _, d = check_orchestrated(flow, producer)
        types = orders_topic_types(flow.bootstrap)
        tap(types.get(d) == ["OrderPlaced", "OrderConfirmed"],
            "orders: the orchestrated order's OrderPlaced and the verdict, nothing more",
            types.get(d))
        log = open(os.path.join(flow.dir, "order-service.err")).read()
        print("# %d decisions made again after a conflict" % log.count("decided again"))
        codes = flow.stop_all()
        tap(codes.get("order-service") == 0 and codes.get("broker") == 0,
            "order-service and the broker exit 0", codes)
        ok = cli_helpers.failed == 0
    except Exception as e:  # a harness failure is a test failure
        tap(False, "the scenario ran", repr(e))
    finally:
        flow.stop_all()
        flow.cleanup(keep=not ok)
    print("1..%d" % cli_helpers.count)
    print("# %.1f s" % (time.time() - start))
    return 1 if cli_helpers.failed else 0


if __name__ == "__main__":
    sys.exit(main())
