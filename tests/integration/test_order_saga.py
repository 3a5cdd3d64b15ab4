#!/usr/bin/env python3
"""The orchestrated order flow (WEIR_ORDER_FLOW=orchestration) end to end: a Weir broker,
order-saga (libweir's saga orchestrator), payment-, inventory- and shipping-service answering
its commands. OrderPlaced events are produced here (confluent-kafka) with chosen order ids, so
each scenario's events are known exactly; they are read back per order from every topic of the
flow (read_committed) and compared with what the scenario must give:
  - happy path: charged, reserved, shipped, OrderConfirmed;
  - payment declined: PaymentFailed, nothing reserved, OrderCancelled (nothing to compensate);
  - out of stock: charged, StockRejected, refunded (the compensation), OrderCancelled;
  - a service down (inventory-service stopped for DOWN_S): the step times out and is tried
    again until the service is back; the order is confirmed, its stock reserved once;
  - a service killed mid-step (payment-service SIGKILLed with commands waiting and restarted):
    charged exactly once (exactly-once payment-service, the gateway's idempotency key);
  - order-saga killed with SIGKILL at every step boundary: restarted with --crash-after 1 (killed
    just after a change is stored, before its command leaves) and, in a second chain, 2 (just
    after the command left) until every saga ended; one confirmed and one refunded order per
    chain, each payment and refund exactly once (the ledger topic and the gateway's own ledger).
Also: order-saga --show prints a saga's state and history; a bad WEIR_ORDER_FLOW is refused.
TAP on stdout.
"""
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_helpers  # noqa: E402
from cli_helpers import tap  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from test_order_flow import EXAMPLES, Flow  # noqa: E402

SEED = 7
FAIL_RATE = 0.5
DOWN_S = 4
TOPICS = ("orders", "payments", "payments.ledger", "inventory", "shipping")
MASK = (1 << 64) - 1


def declines(order_id):
    """examples/order-flow/gateway_lib.c: of_gateway_declines, for --seed SEED."""
    h = 1469598103934665603 ^ SEED
    for b in order_id.encode():
        h = ((h ^ b) * 1099511628211) & MASK
    z = h
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
    z ^= z >> 31
    return (z >> 11) / 9007199254740992.0 < FAIL_RATE


def order_id(prefix, declined=False):
    for i in range(1000):
        oid = "%s-%d" % (prefix, i)
        if declines(oid) == declined:
            return oid
    raise RuntimeError("no id")


class SagaFlow(Flow):
    def start_broker(self):
        args = [os.environ.get("WEIR_BIN", os.path.join(os.path.dirname(EXAMPLES), "weir")),
                "serve", "--listen", "127.0.0.1:0", "--http-listen", "off",
                "--data-dir", os.path.join(self.dir, "data"), "--log-level", "warn",
                "--set", "group.initial.rebalance.delay.ms=0",
                "--set", "group.min.session.timeout.ms=1000"]
        self.bootstrap = self.spawn("broker", args, r"listening on (\S+)")

    def args(self, name):
        return ["--bootstrap", self.bootstrap, "--db", os.path.join(self.dir, name + ".db"),
                "--partitions", "2", "--session-timeout-ms", "3000", "--instance-id", name + "-1",
                "--flow", "orchestration"]

    def start(self, name, extra=()):
        self.spawn(name, [os.path.join(EXAMPLES, name)] + self.args(name.split("-")[0])
                   + list(extra))

    def start_saga(self, crash_after=None):
        extra = ["--step-timeout-ms", "1000", "--step-attempts", "12"]
        if crash_after:
            extra += ["--crash-after", str(crash_after)]
        self.start("order-saga", extra)

    def start_services(self):
        self.start("payment-service", ["--failure-rate", str(FAIL_RATE), "--seed", str(SEED),
                                       "--transient-rate", "0"])
        self.start("inventory-service")
        self.start("shipping-service")


def place(producer, oid, oos=False):
    items = [{"sku": "SKU-1", "qty": 2}] + ([{"sku": "SKU-OOS", "qty": 1}] if oos else [])
    value = json.dumps({"order_id": oid, "user_id": "U001", "items": items, "amount": 20.0})
    producer.produce("orders", key=oid, value=value,
                     headers=[("ce_specversion", "1.0"), ("ce_id", "placed-" + oid),
                              ("ce_type", "OrderPlaced"), ("ce_source", "/tests"),
                              ("content-type", "application/json")])
    producer.flush(10)


def events(flow, oids):
    """{order id: {topic: sorted [ce_type, ...]}} for the orders asked: every committed record
    of the flow's topics, read to their ends by one consumer."""
    c = Consumer({"bootstrap.servers": flow.bootstrap, "group.id": "saga-check",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed"})
    md = c.list_topics(timeout=10).topics
    parts = [TopicPartition(t, p, 0) for t in TOPICS if t in md for p in md[t].partitions]
    c.assign(parts)
    out = {oid: {} for oid in oids}
    eof = set()
    deadline = time.time() + 20
    while len(eof) < len(parts) and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add((m.topic(), m.partition()))
            continue
        oid = m.key().decode()
        if oid in out:
            t = dict(m.headers() or []).get("ce_type", b"").decode()
            out[oid].setdefault(m.topic(), []).append(t)
    c.close()
    for by in out.values():
        for types in by.values():
            types.sort()
    return out


CONFIRMED = {"orders": ["OrderConfirmed", "OrderPlaced"], "payments": ["PaymentSucceeded"],
             "payments.ledger": ["PaymentCaptured"], "inventory": ["StockReserved"],
             "shipping": ["OrderShipped"]}
DECLINED = {"orders": ["OrderCancelled", "OrderPlaced"], "payments": ["PaymentFailed"]}
REFUNDED = {"orders": ["OrderCancelled", "OrderPlaced"],
            "payments": ["PaymentRefunded", "PaymentSucceeded"],
            "payments.ledger": ["PaymentCaptured", "PaymentRefunded"],
            "inventory": ["StockRejected"]}


def wait_events(flow, want, timeout):
    """Waits until every order's events are what want says; returns what was seen."""
    deadline = time.time() + timeout
    while True:
        seen = events(flow, list(want))
        if seen == want or time.time() > deadline:
            return seen
        time.sleep(0.3)


def check(flow, want, timeout, name):
    t0 = time.time()
    seen = wait_events(flow, want, timeout)
    for oid in want:
        if seen[oid] != want[oid]:
            print("#   %s: want %s\n#   %s:  got %s" % (oid, want[oid], oid, seen[oid]))
    tap(seen == want, "%s (%.1f s)" % (name, time.time() - t0))


def gateway_counts(flow, oids):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(flow.dir, "payment.db"), uri=True,
                         timeout=10)
    rows = db.execute("SELECT order_id, kind, count(*) FROM gateway_ledger GROUP BY 1, 2")
    counts = {(o, k): c for o, k, c in rows if o in oids}
    db.close()
    return counts


def crash_chain(flow, producer, crash_after, timeout=40):
    """Places a confirmed and a refunded order, then restarts order-saga with --crash-after
    until both ended; returns (want, restarts, kills)."""
    ok_id = order_id("chain%d-ok" % crash_after)
    oos_id = order_id("chain%d-oos" % crash_after)
    want = {ok_id: CONFIRMED, oos_id: REFUNDED}
    place(producer, ok_id)
    place(producer, oos_id, oos=True)
    restarts = kills = 0
    deadline = time.time() + timeout
    last_look = 0
    while time.time() < deadline:
        p = flow.procs["order-saga"]
        try:
            rc = p.wait(0.1)
        except subprocess.TimeoutExpired:
            if time.time() - last_look > 2:  # alive for a while: both sagas may have ended
                last_look = time.time()
                if events(flow, list(want)) == want:
                    break
            continue
        kills += rc == -signal.SIGKILL
        restarts += 1
        last_look = time.time()
        flow.start_saga(crash_after)
    return want, restarts, kills


def wait_log(flow, name, pattern, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if re.search(pattern, open(os.path.join(flow.dir, name + ".err")).read()):
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def main():
    flow = SagaFlow("saga")
    try:
        flow.start_broker()
        env = dict(os.environ, WEIR_ORDER_FLOW="sideways")
        r = subprocess.run([os.path.join(EXAMPLES, "payment-service"), "--bootstrap",
                            flow.bootstrap], env=env, capture_output=True, text=True, timeout=30)
        tap(r.returncode == 1 and "unknown flow 'sideways'" in r.stderr,
            "WEIR_ORDER_FLOW=sideways is refused: %s" % r.stderr.strip()[:100])
        flow.start_services()
        flow.start_saga()
        producer = Producer({"bootstrap.servers": flow.bootstrap, "enable.idempotence": True})
        happy, declined, oos = order_id("happy"), order_id("declined", True), order_id("oos")
        for oid, is_oos in ((happy, False), (declined, False), (oos, True)):
            place(producer, oid, is_oos)
        check(flow, {happy: CONFIRMED, declined: DECLINED, oos: REFUNDED}, 30,
              "happy path, payment declined, out of stock (refunded): exact events")

        r = subprocess.run([os.path.join(EXAMPLES, "order-saga"), "--bootstrap", flow.bootstrap,
                            "--show", oos], capture_output=True, text=True, timeout=30)
        state = json.loads(r.stdout or "{}")
        hist = [h["event"] for h in state.get("history", [])]
        tap(r.returncode == 0 and state.get("status") == "COMPENSATED"
            and state.get("reason") == "inventory: out of stock: SKU-OOS"
            and hist[-3:] == ["RefundPayment sent (attempt 1)", "RefundPayment done",
                              "saga compensated"],
            "order-saga --show: COMPENSATED, reason, history ends with the refund (%s)"
            % hist[-3:])
        r = subprocess.run([os.path.join(EXAMPLES, "order-saga"), "--bootstrap", flow.bootstrap,
                            "--show", "nope"], capture_output=True, text=True, timeout=30)
        tap(r.returncode == 1 and "no saga nope in order.sagas" in r.stderr,
            "order-saga --show of an unknown saga: exit 1, %s" % r.stderr.strip())

        # A service down: its step times out and is tried again until it is back.
        flow.stop("inventory-service")
        down = order_id("down")
        place(producer, down)
        time.sleep(DOWN_S)
        flow.start("inventory-service")
        check(flow, {down: CONFIRMED}, 30,
              "inventory-service down for %d s: confirmed once it is back, reserved once"
              % DOWN_S)
        r = subprocess.run([os.path.join(EXAMPLES, "order-saga"), "--bootstrap", flow.bootstrap,
                            "--show", down], capture_output=True, text=True, timeout=30)
        timeouts = r.stdout.count("timed out; next attempt")
        tap(timeouts >= 2, "the inventory step timed out %d times while it was down" % timeouts)

        # A service killed while commands wait for it.
        killed = order_id("killed")
        flow.stop("payment-service", signal.SIGKILL)
        place(producer, killed)
        time.sleep(1.5)
        flow.start("payment-service", ["--failure-rate", str(FAIL_RATE), "--seed", str(SEED),
                                       "--transient-rate", "0"])
        check(flow, {killed: CONFIRMED}, 30,
              "payment-service killed with SIGKILL mid-step and restarted: charged once")

        # order-saga killed at every step boundary, two chains.
        flow.stop("order-saga")
        for crash_after, where in ((1, "after a change is stored"), (2, "after its command")):
            t0 = time.time()
            flow.start_saga(crash_after)
            want, restarts, kills = crash_chain(flow, producer, crash_after)
            seen = events(flow, list(want))
            gw = gateway_counts(flow, list(want))
            ok_id, oos_id = list(want)
            gw_ok = gw == {(ok_id, "capture"): 1, (oos_id, "capture"): 1,
                           (oos_id, "refund"): 1}
            if seen != want or not gw_ok:
                print("#   want %s\n#   got  %s\n#   gateway %s" % (want, seen, gw))
            tap(seen == want and gw_ok and kills >= 6,
                "order-saga SIGKILLed %d times %s, restarted each time: exact events, one "
                "payment each, one refund (%.1f s)" % (kills, where, time.time() - t0))
            flow.stop("order-saga", signal.SIGKILL)
        flow.start_saga()
        wait_log(flow, "order-saga", r"(?s)stopped.*running: step")
        time.sleep(1)
        codes = {name: flow.stop(name) for name in ("order-saga", "payment-service",
                                                    "inventory-service", "shipping-service")}
        tap(all(rc == 0 for rc in codes.values()), "every service stops cleanly: %s" % codes)
    except Exception as e:  # noqa: BLE001
        tap(False, "saga flow: %s" % e)
    finally:
        flow.stop("broker")
        flow.cleanup(keep=cli_helpers.failed > 0)
    print("1..%d" % cli_helpers.count)
    return 1 if cli_helpers.failed else 0


if __name__ == "__main__":
    sys.exit(main())
