#!/usr/bin/env python3
"""The order flow end to end: a Weir broker, order-service, payment-service and
inventory-service (examples/order-flow), 1,000 orders through the HTTP API.

Payments fail for about 10% of orders (declined by the simulated gateway), 5% of the orders ask
for an SKU that is out of stock, and 10% of gateway calls fail transiently (retried by libweir).
Checked at the end, from the services' own databases:
  - every order is CONFIRMED or CANCELLED, and CONFIRMED exactly when its payment succeeded and
    its stock was reserved; the out-of-stock and declined orders are the cancelled ones;
  - stock is conserved: initial = left + reserved by confirmed orders, per SKU;
  - no order is charged twice, no cancelled order is left charged (captures == refunds, in the
    gateway's ledger); payment-service runs exactly once, so `payments` read with
    read_committed holds exactly one PaymentSucceeded or PaymentFailed per order, and the
    gateway's captures and refunds match the `payments.ledger` topic's;
  - each order's records in order.events (order-service's event store) are OrderCreated first,
    then exactly one verdict, the one in its orders table; `orders` holds one OrderPlaced and
    that one verdict per order;
  - nothing was dead-lettered, and every process exits 0 when stopped (under ASan that also
    means no leak or error report).
Scenario "kill": the same while payment-service is killed with SIGKILL mid-run and restarted.

Usage: test_order_flow.py [normal|kill] (both by default). TAP on stdout.
"""
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, TopicPartition

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("WEIR_BUILD", os.path.join(TOP, "build"))
WEIR = os.environ.get("WEIR_BIN", os.path.join(BUILD, "weir"))
EXAMPLES = os.path.join(BUILD, "examples")
ORDERS = 1000
OOS_EVERY = 20
SKUS = {"SKU-1": 100000, "SKU-2": 100000, "SKU-3": 100000, "SKU-OOS": 0}
STOCK_ARG = ",".join("%s=%d" % kv for kv in SKUS.items())
ASAN = "asan" in BUILD
WAIT_S = 240 if ASAN else 120


class Flow:
    """Starts the broker and the services in a temporary directory; stop() ends them all."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="weir-flow-%s-" % name)
        self.procs = {}
        self.bootstrap = None
        self.admin = None
        self.http = None

    def spawn(self, name, args, wait_line=None):
        out = open(os.path.join(self.dir, name + ".out"), "ab")
        err = open(os.path.join(self.dir, name + ".err"), "ab")
        p = subprocess.Popen(args, stdout=subprocess.PIPE if wait_line else out, stderr=err,
                             stdin=subprocess.DEVNULL, cwd=self.dir)
        self.procs[name] = p
        if not wait_line:
            return None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = p.stdout.readline().decode()
            if not line:
                break
            m = re.match(wait_line, line)
            if m:
                # keep draining stdout so the child never blocks on a full pipe
                threading.Thread(target=lambda: [out.write(l) for l in p.stdout],
                                 daemon=True).start()
                return m.group(1)
        raise RuntimeError("%s did not start (see %s)" % (name, self.dir))

    def start_broker(self, extra=()):
        """weir serve with its HTTP listener: order-service keeps its orders in order.events
        through the admin API (--admin). extra: more arguments (--set K=V)."""
        args = [WEIR, "serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                "--data-dir", os.path.join(self.dir, "data"), "--log-level", "warn",
                "--set", "group.initial.rebalance.delay.ms=0"] + list(extra)
        err = open(os.path.join(self.dir, "broker.err"), "ab")
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                             cwd=self.dir, text=True)
        self.procs["broker"] = p
        for _ in range(2):  # "listening on HOST:PORT", then "http on HOST:PORT"
            line = p.stdout.readline()
            if line.startswith("listening on "):
                self.bootstrap = line.split()[-1]
            elif line.startswith("http on "):
                self.admin = "http://" + line.split()[-1]
        if not self.bootstrap or not self.admin:
            raise RuntimeError("weir serve did not start (see %s)" % self.dir)

    def order_args(self):
        return [os.path.join(EXAMPLES, "order-service")] + self.service_args("order") + [
            "--port", "0", "--admin", self.admin]

    def service_args(self, name):
        return ["--bootstrap", self.bootstrap, "--db", os.path.join(self.dir, name + ".db"),
                "--partitions", "4", "--session-timeout-ms", "6000",
                "--instance-id", name + "-1"]

    def start_payment(self):
        self.spawn("payment-service",
                   [os.path.join(EXAMPLES, "payment-service")] + self.service_args("payment")
                   + ["--failure-rate", "0.10", "--transient-rate", "0.10", "--seed", "7"])

    def start_all(self):
        self.start_broker()
        self.spawn("inventory-service",
                   [os.path.join(EXAMPLES, "inventory-service")] + self.service_args("inventory")
                   + ["--stock", STOCK_ARG])
        self.start_payment()
        self.http = self.spawn("order-service", self.order_args(), r"listening on (\S+)")

    def db(self, name):
        c = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.dir, name + ".db"), uri=True,
                            timeout=10)
        return c

    def stop(self, name, sig=signal.SIGTERM, timeout=20):
        p = self.procs.get(name)
        if not p or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def stop_all(self):
        """Stops everything, services first; returns {name: exit code}."""
        return {name: self.stop(name)
                for name in ("order-service", "payment-service", "inventory-service", "broker")}

    def stats_line(self, name):
        try:
            text = open(os.path.join(self.dir, name + ".err")).read()
        except OSError:
            return ""
        lines = [l for l in text.splitlines() if ": stopped" in l]
        return lines[-1] if lines else ""

    def cleanup(self, keep):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        if keep:
            print("# kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def get_json(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, json.loads(r.read() or b"null")


def check_api(flow):
    """The HTTP API's refusals: (method, path, body, expected status, text in the error)."""
    host, port = flow.http.split(":")
    cases = [
        ("POST", "/orders", "not json", 400, "invalid JSON"),
        ("POST", "/orders", "[1]", 400, "JSON object"),
        ("POST", "/orders", '{"items":[{"sku":"SKU-1","qty":1}],"amount":1}', 400, "user_id"),
        ("POST", "/orders", '{"user_id":"U1","items":[],"amount":1}', 400, "items"),
        ("POST", "/orders", '{"user_id":"U1","items":[{"sku":"SKU-1","qty":0}],"amount":1}',
         400, "qty"),
        ("POST", "/orders", '{"user_id":"U1","items":[{"sku":"SKU-1","qty":1}],"amount":-5}',
         400, "amount"),
        ("POST", "/orders", '{"user_id":"U 1","items":[{"sku":"SKU-1","qty":1}],"amount":1}',
         400, "user_id"),
        ("POST", "/orders", "x" * 70000, 413, "64 KiB"),
        ("GET", "/orders?status=NOPE", None, 400, "status"),
        ("GET", "/orders?limit=0", None, 400, "limit"),
        ("GET", "/orders/does-not-exist", None, 404, "no such order"),
        ("GET", "/nope", None, 404, "no such resource"),
        ("DELETE", "/orders", None, 405, "use GET or POST"),
    ]
    bad = []
    for method, path, body, status, text in cases:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request(method, path, body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read().decode()
        conn.close()
        try:
            err = json.loads(data).get("error", "")
        except ValueError:
            err = None
        if r.status != status or err is None or text not in err:
            bad.append("%s %s -> %d %s" % (method, path[:40], r.status, data[:80]))
    return bad


def place_orders(flow, count, rate=0):
    """POSTs count orders from 8 threads (at most rate per second if rate);
    returns {order_id: oos?} and the errors."""
    host, port = flow.http.split(":")
    placed = {}
    lock = threading.Lock()
    errors = []
    counter = iter(range(count))
    t0 = time.time()

    def worker():
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            if rate:
                time.sleep(max(0.0, t0 + n / rate - time.time()))
            oos = n % OOS_EVERY == OOS_EVERY - 1
            items = [{"sku": "SKU-%d" % (1 + n % 3), "qty": 1 + n % 2}]
            if oos:
                items.append({"sku": "SKU-OOS", "qty": 1})
            body = json.dumps({"user_id": "U%03d" % (n % 100), "items": items,
                               "amount": 10.0 + n % 50})
            try:
                conn.request("POST", "/orders", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = json.loads(r.read())
                if r.status != 201:
                    raise RuntimeError("%d %s" % (r.status, data))
                with lock:
                    placed[data["order_id"]] = oos
            except Exception as e:  # noqa: BLE001 - any failure is a test failure
                with lock:
                    errors.append(str(e))
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return placed, errors


def wait_decided(flow, count):
    host, port = flow.http.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    deadline = time.time() + WAIT_S
    stats = {}
    while time.time() < deadline:
        status, stats = get_json(conn, "/stats")
        if status == 200 and stats["placed"] == count and stats["pending"] == 0:
            break
        time.sleep(0.2)
    conn.close()
    return stats


def read_committed(flow, topic, nparts=4):
    """{key: {ce_type: count}} of every committed record of topic."""
    c = Consumer({"bootstrap.servers": flow.bootstrap, "group.id": "flow-check",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, part, 0) for part in range(nparts)])
    by = {}
    eof = set()
    deadline = time.time() + 30
    while len(eof) < nparts and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
            continue
        t = dict(m.headers() or []).get("ce_type", b"").decode()
        k = by.setdefault(m.key().decode(), {})
        k[t] = k.get(t, 0) + 1
    c.close()
    return by


def order_records(flow):
    """{order id: [record type, ...]} of order.events, order-service's event store."""
    c = Consumer({"bootstrap.servers": flow.bootstrap, "group.id": "flow-check",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition("order.events", 0, 0)])
    by = {}
    deadline = time.time() + 30
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                break
            continue
        by.setdefault(m.key().decode(), []).append(json.loads(m.value())["type"])
    c.close()
    return by


def aggregate_violations(flow, orders):
    """Each order's records in order.events: OrderCreated first and once, one verdict that is
    the orders table's status; and `orders` holds one OrderPlaced and one verdict per order."""
    bad = []
    records = order_records(flow)
    published = read_committed(flow, "orders")
    for oid, (status, *_rest) in orders.items():
        types = records.get(oid, [])
        verdicts = [t for t in types if t in ("OrderConfirmed", "OrderCancelled")]
        want = "OrderConfirmed" if status == "CONFIRMED" else "OrderCancelled"
        if types[:1] != ["OrderCreated"] or types.count("OrderCreated") != 1 or \
                verdicts != [want]:
            bad.append("%s (%s): order.events holds %s" % (oid, status, types))
        ev = published.get(oid, {})
        if ev != {"OrderPlaced": 1, want: 1}:
            bad.append("%s (%s): orders holds %s" % (oid, status, ev))
    return bad


def violations(flow, placed):
    """Every broken invariant, as text; [] when all hold."""
    bad = []
    o = flow.db("order")
    p = flow.db("payment")
    i = flow.db("inventory")
    orders = {r[0]: r[1:] for r in o.execute(
        "SELECT order_id, status, reason, payment, stock FROM orders")}
    if set(orders) != set(placed):
        bad.append("orders table has %d orders, %d were placed" % (len(orders), len(placed)))
    # payment-service keeps no table of its own: its outcomes are its committed events.
    events = read_committed(flow, "payments")
    money = read_committed(flow, "payments.ledger")
    payments = {}
    for oid, ev in events.items():
        decisions = ev.get("PaymentSucceeded", 0) + ev.get("PaymentFailed", 0)
        if decisions != 1 or ev.get("PaymentRefunded", 0) > 1:
            bad.append("%s: payment events %s (exactly one decision, at most one refund)"
                       % (oid, ev))
        payments[oid] = ("SUCCEEDED" if ev.get("PaymentSucceeded") else "FAILED",
                         ev.get("PaymentRefunded", 0))
    ledger = {}
    for oid, kind, n in p.execute(
            "SELECT order_id, kind, count(*) FROM gateway_ledger GROUP BY order_id, kind"):
        ledger.setdefault(oid, {})[kind] = n
    reserved = {}
    for oid, status in i.execute("SELECT DISTINCT order_id, status FROM reservations"):
        reserved.setdefault(oid, set()).add(status)
    rejected = {r[0] for r in i.execute("SELECT order_id FROM rejections")}
    for oid, oos in placed.items():
        st = orders.get(oid)
        if not st:
            continue
        status, reason, pay, stock = st
        led = ledger.get(oid, {})
        captures, refunds, declines = (led.get("capture", 0), led.get("refund", 0),
                                       led.get("decline", 0))
        mled = money.get(oid, {})
        if (mled.get("PaymentCaptured", 0), mled.get("PaymentRefunded", 0)) != (captures,
                                                                                 refunds):
            bad.append("%s: gateway %s, payments.ledger %s" % (oid, led, mled))
        if status not in ("CONFIRMED", "CANCELLED"):
            bad.append("%s is %s" % (oid, status))
            continue
        if captures > 1:
            bad.append("%s charged %d times" % (oid, captures))
        if refunds > captures:
            bad.append("%s refunded %d times for %d captures" % (oid, refunds, captures))
        pay_row = payments.get(oid)
        if not pay_row:
            bad.append("%s has no payment" % oid)
            continue
        if status == "CONFIRMED":
            if oos:
                bad.append("%s asked for SKU-OOS but is CONFIRMED" % oid)
            if pay_row[0] != "SUCCEEDED" or captures != 1 or refunds != 0:
                bad.append("%s CONFIRMED with payment %s, %d captures, %d refunds"
                           % (oid, pay_row[0], captures, refunds))
            if reserved.get(oid) != {"RESERVED"}:
                bad.append("%s CONFIRMED with reservation %s" % (oid, reserved.get(oid)))
        else:
            if captures != refunds:
                bad.append("%s CANCELLED but charged (%d captures, %d refunds)"
                           % (oid, captures, refunds))
            if "RESERVED" in reserved.get(oid, set()):
                bad.append("%s CANCELLED but its stock is still reserved" % oid)
            if oos and oid not in rejected:
                bad.append("%s asked for SKU-OOS but was not rejected" % oid)
            if not oos and declines == 0 and pay_row[0] == "SUCCEEDED":
                bad.append("%s CANCELLED without a reason (%s)" % (oid, reason))
    # Stock: initial = left + reserved by confirmed orders.
    held = {}
    for oid, sku, qty in i.execute(
            "SELECT order_id, sku, qty FROM reservations WHERE status = 'RESERVED'"):
        if orders.get(oid, ("",))[0] == "CONFIRMED":
            held[sku] = held.get(sku, 0) + qty
    for sku, qty, initial in i.execute("SELECT sku, qty, initial FROM stock"):
        if initial != qty + held.get(sku, 0):
            bad.append("%s: initial %d != left %d + reserved %d"
                       % (sku, initial, qty, held.get(sku, 0)))
    for c in (o, p, i):
        c.close()
    return bad + aggregate_violations(flow, orders)


def check(flow, placed, tap, n):
    """Waits for the flow to settle, then reports the invariants as TAP lines from n."""
    stats = wait_decided(flow, len(placed))
    ok = stats.get("pending") == 0 and stats.get("placed") == len(placed)
    tap(ok, n, "every order decided: %s" % json.dumps(stats))
    # Compensations (refunds, releases) follow the decisions: give them time to land.
    deadline = time.time() + 60
    bad = violations(flow, placed)
    while bad and time.time() < deadline:
        time.sleep(0.5)
        bad = violations(flow, placed)
    for line in bad[:20]:
        print("#   %s" % line)
    tap(not bad, n + 1, "stock conserved, nobody charged twice or left charged, each order's "
        "records in order.events agree (%d violations)" % len(bad))
    p = flow.db("payment")
    declined = p.execute("SELECT count(*) FROM gateway_ledger WHERE kind='decline'").fetchone()[0]
    refunds = p.execute("SELECT count(*) FROM gateway_ledger WHERE kind='refund'").fetchone()[0]
    p.close()
    o = flow.db("order")
    confirmed, cancelled, oos_cancelled = o.execute(
        "SELECT sum(status='CONFIRMED'), sum(status='CANCELLED'), "
        "sum(reason='out of stock: SKU-OOS') FROM orders").fetchone()
    o.close()
    oos = sum(1 for v in placed.values() if v)
    print("# confirmed %s, cancelled %s (out of stock %s, declined %d), refunds %d"
          % (confirmed, cancelled, oos_cancelled, declined, refunds))
    tap(oos_cancelled is not None and oos_cancelled >= oos - declined and 50 <= declined <= 150
        and refunds > 0, n + 2, "the failures happened as configured (%d out of stock asked, "
        "%d declined)" % (oos, declined))
    return n + 3


def stopped_counters(flow, name):
    line = flow.stats_line(name)
    m = re.search(r"retried (\d+), dead-lettered (\d+), deduplicated (\d+)", line)
    return (tuple(int(x) for x in m.groups()), line) if m else (None, line)


def scenario(name, kill, tap, n):
    flow = Flow(name)
    failed_before = tap.failed
    try:
        flow.start_all()
        killed = {}

        def kill_and_restart():
            # Once payment-service has charged about a third of the orders, while orders are
            # still coming in, kill it hard and start it again.
            deadline = time.time() + WAIT_S
            while time.time() < deadline:
                pdb = flow.db("payment")
                try:
                    done = pdb.execute("SELECT count(*) FROM gateway_requests "
                                       "WHERE idem_key LIKE 'charge:%'").fetchone()[0]
                except sqlite3.Error:
                    done = 0
                pdb.close()
                if done >= ORDERS // 3:
                    break
                time.sleep(0.02)
            killed["payments_before"] = done
            killed["rc"] = flow.stop("payment-service", signal.SIGKILL)
            time.sleep(0.5)
            flow.start_payment()

        if not kill:
            bad = check_api(flow)
            for line in bad:
                print("#   %s" % line)
            tap(not bad, n, "%s: bad requests get 400/404/405/413 with a JSON error" % name)
            n += 1
        if kill:
            threading.Thread(target=kill_and_restart, daemon=True).start()
        placed, errors = place_orders(flow, ORDERS, rate=300 if kill else 0)
        for e in errors[:5]:
            print("#   POST failed: %s" % e)
        tap(not errors and len(placed) == ORDERS, n,
            "%s: %d orders placed over HTTP" % (name, len(placed)))
        n += 1
        if kill:
            deadline = time.time() + 10
            while "rc" not in killed and time.time() < deadline:
                time.sleep(0.1)
            tap(killed.get("rc") == -signal.SIGKILL, n,
                "%s: payment-service killed with SIGKILL after %s payments and restarted"
                % (name, killed.get("payments_before")))
            n += 1
        n = check(flow, placed, tap, n)
        codes = flow.stop_all()
        tap(all(rc == 0 for rc in codes.values()), n,
            "%s: every process stopped cleanly on SIGTERM (exit codes %s)" % (name, codes))
        n += 1
        dead = 0
        for svc in ("order-service", "payment-service", "inventory-service"):
            counters, line = stopped_counters(flow, svc)
            print("# %s" % line.strip())
            dead += counters[1] if counters else 1
        retried = (stopped_counters(flow, "payment-service")[0] or (0,))[0]
        tap(dead == 0 and retried > 0, n,
            "%s: nothing dead-lettered, transient gateway errors retried (%d)" % (name, retried))
        n += 1
    except Exception as e:  # noqa: BLE001
        tap(False, n, "%s: %s" % (name, e))
        n += 1
    finally:
        flow.cleanup(keep=tap.failed > failed_before)
    return n


class Tap:
    def __init__(self):
        self.failed = 0

    def __call__(self, ok, n, text):
        if not ok:
            self.failed += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", n, text), flush=True)


def main():
    which = sys.argv[1:] or ["normal", "kill"]
    tap = Tap()
    n = 1
    for name in which:
        t0 = time.time()
        n = scenario(name, name == "kill", tap, n)
        print("# %s took %.1f s" % (name, time.time() - t0))
    print("1..%d" % (n - 1))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
