#!/usr/bin/env python3
# timeout: 240
"""payment-service (examples/order-flow) in exactly-once mode through crashes, against a real
`weir serve` started here.

A feeder places ORDERS orders on the `orders` topic (OrderPlaced CloudEvents, every fifth one
followed by its OrderCancelled) at a steady rate, while payment-service (two workers, 10%
declines, 10% transient gateway errors, half of those after the gateway charged) is killed with
SIGKILL PAY_KILLS times and the broker with SIGKILL BROKER_KILLS times, each restarted at once
(the broker on the same data and port). Then, once the service's committed offsets cover the
input, it is stopped with SIGTERM and checked:
  - read_committed, `payments` holds exactly one PaymentSucceeded or PaymentFailed per order
    (none lost, none twice) and one PaymentRefunded per cancelled order that was captured;
  - read_committed, `payments.ledger` holds exactly one PaymentCaptured per succeeded order and
    one PaymentRefunded per refund, nothing else;
  - the gateway (an external system with idempotency keys, in payment.db) captured each order
    at most once, and its captures and refunds are exactly the ledger topic's;
  - the group's committed offsets on `orders` are the partitions' ends, and the service exits 0.
read_uncommitted copies beyond those (aborted transactions) are counted and reported.

WEIR_EOS_BROKER=kafka runs the same against Apache Kafka 4.4 (tests/compat/lib/kafka_oracle.sh).
TAP on stdout.
"""
import json
import os
import re
import signal
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("WEIR_BUILD", os.path.join(TOP, "build"))
WEIR = os.environ.get("WEIR_BIN", os.path.join(BUILD, "weir"))
PAYMENT = os.path.join(BUILD, "examples", "payment-service")
KAFKA = os.environ.get("WEIR_EOS_BROKER") == "kafka"
ASAN = "asan" in BUILD
ORDERS = int(os.environ.get("WEIR_EOS_ORDERS", "600"))
CANCEL_EVERY = 5
FEED_S = 24.0  # the orders arrive over this long
PAY_KILLS = 4
BROKER_KILLS = 2
NPART = 4
WORK = tempfile.mkdtemp(prefix="weir-test-flow-eos-")

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


class Broker:
    """weir serve (or Kafka 4.4) on one data directory; a restart keeps the port."""
    count = 0

    def __init__(self, port=0):
        Broker.count += 1
        self.err = open(os.path.join(WORK, "broker.%d.log" % Broker.count), "w")
        if KAFKA:
            args = [os.path.join(TOP, "tests/compat/lib/kafka_oracle.sh"),
                    "--dir", os.path.join(WORK, "kafka"), "--max-seconds", "900"]
            if port:
                args += ["--port", str(port)]
        else:
            args = [WEIR, "serve", "--data-dir", os.path.join(WORK, "data"),
                    "--listen", "127.0.0.1:%d" % port, "--http-listen", "off",
                    "--set", "group.initial.rebalance.delay.ms=0",
                    "--set", "group.min.session.timeout.ms=1000",
                    "--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000"]
        # A session of its own: a kill takes Kafka's JVM with its wrapper.
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  start_new_session=True)
        deadline = time.time() + 120
        line = ""
        while time.time() < deadline:
            line = self.p.stdout.readline()
            if not line or line.startswith("listening on "):
                break
        if not line.startswith("listening on "):
            raise RuntimeError("broker did not start: %r (see %s)" % (line, WORK))
        self.addr = line.split()[-1]
        self.port = int(self.addr.rsplit(":", 1)[1])
        threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()

    def kill(self):
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait()
        self.err.close()

    def stop(self):
        os.killpg(self.p.pid, signal.SIGTERM)
        rc = self.p.wait(120)
        self.err.close()
        return rc


class Payment:
    count = 0

    def __init__(self, bootstrap):
        Payment.count += 1
        self.log = os.path.join(WORK, "payment.%d.log" % Payment.count)
        self.p = subprocess.Popen(
            [PAYMENT, "--bootstrap", bootstrap, "--db", os.path.join(WORK, "payment.db"),
             "--partitions", str(NPART), "--session-timeout-ms", "6000",
             "--instance-id", "payment-1", "--workers", "2", "--failure-rate", "0.10",
             "--transient-rate", "0.10", "--seed", "7", "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), stdin=subprocess.DEVNULL,
            cwd=WORK)

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        return self.p.wait()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()

    def stopped_line(self):
        lines = [l for l in open(self.log).read().splitlines() if ": stopped" in l]
        return lines[-1] if lines else ""


def event(producer, order_id, ce_type, body):
    headers = [("ce_specversion", b"1.0"), ("ce_id", str(uuid.uuid4()).encode()),
               ("ce_type", ce_type.encode()), ("ce_source", b"/tests/order-flow-eos"),
               ("content-type", b"application/json")]
    while True:
        try:
            producer.produce("orders", key=order_id.encode(), value=json.dumps(body).encode(),
                             headers=headers)
            return
        except BufferError:
            producer.poll(0.1)


def feed(bootstrap, orders, errors):
    """Places the orders at a steady rate; an idempotent producer rides out broker kills."""
    def dr(err, msg):
        if err:
            errors.append(str(err))
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "message.timeout.ms": 120000, "linger.ms": 5, "on_delivery": dr})
    t0 = time.time()
    for i, (oid, amount, cancel) in enumerate(orders):
        time.sleep(max(0.0, t0 + i * FEED_S / len(orders) - time.time()))
        event(p, oid, "OrderPlaced", {"order_id": oid, "amount": amount})
        if cancel:
            event(p, oid, "OrderCancelled", {"order_id": oid, "reason": "customer changed mind"})
        p.poll(0)
    left = p.flush(180)
    if left:
        errors.append("%d orders not acknowledged" % left)


def read_topic(bootstrap, topic, isolation):
    """Every record of every partition up to its end: [(key, ce_type, value)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "eos-check-" + isolation,
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": isolation})
    c.assign([TopicPartition(topic, part, 0) for part in range(NPART)])
    out = []
    eof = set()
    deadline = time.time() + 60
    while len(eof) < NPART and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
            continue
        ce_type = dict(m.headers() or []).get("ce_type", b"").decode()
        out.append((m.key().decode(), ce_type, json.loads(m.value())))
    c.close()
    if len(eof) < NPART:
        raise RuntimeError("%s (%s): partitions %s never reached their end"
                           % (topic, isolation, sorted(set(range(NPART)) - eof)))
    return out


def committed_and_ends(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "payment-service",
                  "enable.auto.commit": False})
    tps = [TopicPartition("orders", part) for part in range(NPART)]
    committed = {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
    ends = {part: c.get_watermark_offsets(TopicPartition("orders", part), timeout=10)[1]
            for part in range(NPART)}
    c.close()
    return committed, ends


def count_by(records):
    by = {}
    for key, ce_type, _ in records:
        by.setdefault(key, {}).setdefault(ce_type, 0)
        by[key][ce_type] += 1
    return by


def main():
    broker = None
    pay = None
    t_start = time.time()
    try:
        broker = Broker()
        bs = broker.addr
        a = AdminClient({"bootstrap.servers": bs})
        for f in a.create_topics([NewTopic(t, NPART, 1) for t in
                                  ("orders", "payments", "payments.ledger")]).values():
            f.result()
        orders = [(str(uuid.uuid4()), float(10 + i % 50), i % CANCEL_EVERY == CANCEL_EVERY - 1)
                  for i in range(ORDERS)]
        pay = Payment(bs)
        errors = []
        feeder = threading.Thread(target=feed, args=(bs, orders, errors))
        feeder.start()

        # The kills, spread over the feed: the service PAY_KILLS times, the broker BROKER_KILLS
        # times (the service keeps running through those, reconnecting).
        schedule = sorted([("pay", FEED_S * (k + 0.5) / PAY_KILLS) for k in range(PAY_KILLS)] +
                          [("broker", FEED_S * (k + 0.8) / (BROKER_KILLS + 0.5))
                           for k in range(BROKER_KILLS)], key=lambda x: x[1])
        kill_codes = []
        broker_kills = 0
        t0 = time.time()
        for what, at in schedule:
            time.sleep(max(0.0, t0 + at - time.time()))
            if what == "pay":
                kill_codes.append(pay.kill())
                print("# %.1f s: payment-service killed (SIGKILL), restarted" % (time.time() - t0))
                pay = Payment(bs)
            else:
                broker.kill()
                broker_kills += 1
                print("# %.1f s: broker killed (SIGKILL), restarting" % (time.time() - t0))
                broker = Broker(broker.port)
        feeder.join()
        tap(not errors, "%d orders (%d cancellations) placed while payment-service was killed "
            "%d times and the broker %d times (%s)"
            % (ORDERS, sum(1 for o in orders if o[2]), len(kill_codes), broker_kills,
               errors[:3] if errors else "all acknowledged"))
        tap(kill_codes == [-signal.SIGKILL] * PAY_KILLS,
            "payment-service died of SIGKILL each time (%s)" % kill_codes)

        # Drained: the committed offsets reach the ends of `orders`.
        deadline = time.time() + (180 if ASAN else 90)
        committed, ends = {}, {}
        while time.time() < deadline:
            committed, ends = committed_and_ends(bs)
            if committed == ends:
                break
            time.sleep(0.5)
        input_total = sum(ends.values())
        tap(committed == ends and input_total >= ORDERS + ORDERS // CANCEL_EVERY,
            "committed offsets of payment-service on orders %s = ends %s (%d input events)"
            % (committed, ends, input_total))
        rc = pay.stop()
        stopped = pay.stopped_line()
        print("# last run: %s" % stopped.strip())
        tap(rc == 0, "payment-service stops cleanly on SIGTERM (exit %s)" % rc)

        payments = read_topic(bs, "payments", "read_committed")
        ledger = read_topic(bs, "payments.ledger", "read_committed")
        raw_payments = read_topic(bs, "payments", "read_uncommitted")
        raw_ledger = read_topic(bs, "payments.ledger", "read_uncommitted")
        pby, lby = count_by(payments), count_by(ledger)
        placed = {o[0]: o for o in orders}
        lost = [oid for oid in placed
                if pby.get(oid, {}).get("PaymentSucceeded", 0)
                + pby.get(oid, {}).get("PaymentFailed", 0) == 0]
        twice = [oid for oid in placed
                 if pby.get(oid, {}).get("PaymentSucceeded", 0)
                 + pby.get(oid, {}).get("PaymentFailed", 0) > 1]
        stray = [k for k in pby if k not in placed]
        succeeded = {oid for oid in placed if pby.get(oid, {}).get("PaymentSucceeded", 0) == 1}
        for oid in (lost + twice)[:5]:
            print("#   %s: %s" % (oid, pby.get(oid)))
        tap(not lost and not twice and not stray,
            "payments (read_committed): one decision per order: %d orders, %d succeeded, "
            "%d failed, lost %d, duplicates %d"
            % (len(placed), len(succeeded), len(placed) - len(succeeded) - len(lost),
               len(lost), len(twice)))

        # Money: the ledger topic has exactly the captures and refunds, once each.
        bad = []
        gw = sqlite3.connect("file:%s?mode=ro" % os.path.join(WORK, "payment.db"), uri=True,
                             timeout=10)
        gledger = {}
        for oid, kind, cnt in gw.execute(
                "SELECT order_id, kind, count(*) FROM gateway_ledger GROUP BY order_id, kind"):
            gledger.setdefault(oid, {})[kind] = cnt
        gw.close()
        refunds_expected = 0
        for oid, (_, _, cancel) in placed.items():
            led = lby.get(oid, {})
            caps, refs = led.get("PaymentCaptured", 0), led.get("PaymentRefunded", 0)
            pay_refs = pby.get(oid, {}).get("PaymentRefunded", 0)
            want_cap = 1 if oid in succeeded else 0
            want_ref = 1 if (cancel and want_cap) else 0
            refunds_expected += want_ref
            g = gledger.get(oid, {})
            if caps != want_cap or refs != want_ref or pay_refs != want_ref:
                bad.append("%s: ledger %s, payments %s, cancelled %s"
                           % (oid, led, pby.get(oid), cancel))
            if g.get("capture", 0) != caps or g.get("refund", 0) != refs:
                bad.append("%s: gateway %s but ledger topic %s" % (oid, g, led))
        stray_types = {t for _, t, _ in ledger} - {"PaymentCaptured", "PaymentRefunded"}
        for b in bad[:10]:
            print("#   %s" % b)
        captured = sum(lby.get(oid, {}).get("PaymentCaptured", 0) for oid in placed)
        refunded = sum(lby.get(oid, {}).get("PaymentRefunded", 0) for oid in placed)
        tap(not bad and not stray_types,
            "payments.ledger (read_committed): %d captures, %d refunds, each order charged "
            "exactly once (%d refunds expected), the gateway agrees; %d violations"
            % (captured, refunded, refunds_expected, len(bad)))
        aborted = (len(raw_payments) - len(payments)) + (len(raw_ledger) - len(ledger))
        m = re.search(r"transactions (\d+), aborted (\d+)", stopped)
        print("# read_uncommitted sees %d more records (of aborted transactions); last run: "
              "%s transactions, %s aborted; %.0f s in all"
              % (aborted, m.group(1) if m else "?", m.group(2) if m else "?",
                 time.time() - t_start))
    except Exception as e:  # noqa: BLE001 - any failure is a test failure
        import traceback
        traceback.print_exc()
        tap(False, "exception: %s" % e)
    finally:
        if pay and pay.p.poll() is None:
            pay.kill()
        if broker and broker.p.poll() is None:
            try:
                broker.stop()
            except Exception:  # noqa: BLE001
                broker.kill()
        if failed:
            print("# kept %s" % WORK)
        else:
            shutil.rmtree(WORK, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
