#!/usr/bin/env python3
"""A saga's state and history for operators: `weir saga list|show` and GET /api/v1/sagas[/{id}],
after a real run of the orchestrated order flow (order-saga with payment-, inventory- and
shipping-service, test_order_saga's set-up, on a broker with its HTTP listener).

Two orders with chosen ids: one confirmed (saga COMPLETED after its three steps) and one out of
stock (charged, StockRejected, refunded: COMPENSATED; an ended saga's phase is "action"
again, its step the one it ended at). Checked exactly: each saga's status,
step, phase, attempt, reason and its history of commands, replies and compensations, the same
from the CLI (-o json and the table) and the admin API; an unknown saga id exits 3 (not found)
with its reason and is a 404; an unknown --topic, a bad --status.
TAP on stdout.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_helpers  # noqa: E402
from cli_helpers import tap, weir  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from test_order_flow import Flow  # noqa: E402
from test_order_saga import CONFIRMED, REFUNDED, SagaFlow, order_id, place, wait_events  # noqa

HAPPY_HISTORY = [
    ("payment", "saga started"), ("payment", "ChargePayment sent (attempt 1)"),
    ("payment", "ChargePayment done"), ("inventory", "ReserveStock sent (attempt 1)"),
    ("inventory", "ReserveStock done"), ("shipping", "ShipOrder sent (attempt 1)"),
    ("shipping", "ShipOrder done"), ("shipping", "saga completed")]
OOS_REASON = "inventory: out of stock: SKU-OOS"
OOS_HISTORY = [
    ("payment", "saga started"), ("payment", "ChargePayment sent (attempt 1)"),
    ("payment", "ChargePayment done"), ("inventory", "ReserveStock sent (attempt 1)"),
    ("inventory", "failed: " + OOS_REASON), ("payment", "RefundPayment sent (attempt 1)"),
    ("payment", "RefundPayment done"), ("payment", "saga compensated")]


class QueryFlow(SagaFlow):
    def start_broker(self):
        Flow.start_broker(self, ["--set", "group.min.session.timeout.ms=1000"])


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def history(state):
    return [(h["step"], h["event"]) for h in state.get("history", [])]


def check_show(flow, oid, status, step, step_name, phase, reason, want_history, what):
    rc, out, err = weir(flow.bootstrap, "saga", "show", oid, "-o", "json")
    s = json.loads(out) if rc == 0 else {}
    times = [h["t_ms"] for h in s.get("history", [])]
    tap(rc == 0 and s.get("id") == oid and s.get("saga") == "order"
        and s.get("topic") == "order.sagas" and s.get("status") == status
        and s.get("step") == step and s.get("step_name") == step_name
        and s.get("phase") == phase and s.get("attempt") == 1 and s.get("reason") == reason
        and s.get("data", {}).get("order_id") == oid
        and times == sorted(times) and s.get("started_ms") == times[0]
        and s.get("updated_ms") == times[-1] and history(s) == want_history
        and "waiting" not in s and "due_ms" not in s,
        "weir saga show %s -o json: %s at %s (%s), attempt 1, its %d history entries"
        % (what, status, step_name, phase, len(want_history)), (rc, out, err))
    st, a = http_get("%s/api/v1/sagas/%s" % (flow.admin, oid))
    tap(st == 200 and a == s, "GET /api/v1/sagas/%s: the same document" % what, (st, a))
    return s


def check_list(flow, happy, oos):
    rc, out, err = weir(flow.bootstrap, "saga", "list", "-o", "json")
    rows = json.loads(out) if rc == 0 else []
    got = sorted((r["id"], r["status"], r["step_name"], r["phase"], r["attempt"], r["reason"])
                 for r in rows)
    want = sorted([(happy, "COMPLETED", "shipping", "action", 1, None),
                   (oos, "COMPENSATED", "payment", "action", 1, OOS_REASON)])
    tap(rc == 0 and got == want and all(r["topic"] == "order.sagas" and r["saga"] == "order"
                                        for r in rows),
        "weir saga list -o json: the 2 sagas, COMPLETED and COMPENSATED", (rc, out, err))
    st, body = http_get(flow.admin + "/api/v1/sagas")
    tap(st == 200 and sorted(body["sagas"], key=lambda r: r["id"])
        == sorted(rows, key=lambda r: r["id"]), "GET /api/v1/sagas: the same 2", (st, body))
    rc, out, _ = weir(flow.bootstrap, "saga", "list", "--status", "COMPENSATED", "-o", "json")
    tap(rc == 0 and [r["id"] for r in json.loads(out)] == [oos],
        "weir saga list --status COMPENSATED: only the refunded order's", out)
    st, body = http_get(flow.admin + "/api/v1/sagas?status=COMPLETED&topic=order.sagas")
    tap(st == 200 and [r["id"] for r in body["sagas"]] == [happy],
        "GET /api/v1/sagas?status=COMPLETED&topic=order.sagas: only the confirmed one", body)
    rc, out, _ = weir(flow.bootstrap, "saga", "list")
    lines = out.splitlines()
    tap(rc == 0 and lines[0].split() == ["ID", "SAGA", "STATUS", "STEP", "PHASE", "ATTEMPT",
                                         "STARTED", "UPDATED", "REASON"]
        and len(lines) == 3 and any(l.split()[:3] == [oos, "order", "COMPENSATED"]
                                    for l in lines),
        "weir saga list: a table of the 2", out)


def check_errors(flow):
    rc, out, err = weir(flow.bootstrap, "saga", "show", "no-such-saga")
    tap(rc == 3 and out == "" and "no saga 'no-such-saga' in any *.sagas topic" in err,
        "weir saga show of an unknown id: exit 3 (not found) and why", (rc, err))
    rc, _, err = weir(flow.bootstrap, "saga", "show", "no-such-saga", "--topic", "order.sagas")
    tap(rc == 3 and "no saga 'no-such-saga' in order.sagas" in err,
        "  ... with --topic: names the topic", (rc, err))
    st, body = http_get(flow.admin + "/api/v1/sagas/no-such-saga")
    tap(st == 404 and body.get("error") == "not_found" and "no-such-saga" in body.get("message"),
        "GET /api/v1/sagas/<unknown>: 404", (st, body))
    rc, _, err = weir(flow.bootstrap, "saga", "list", "--topic", "nope.sagas")
    tap(rc == 3 and "topic 'nope.sagas' not found" in err, "an unknown --topic: exit 3", err)
    st, body = http_get(flow.admin + "/api/v1/sagas?topic=nope.sagas")
    tap(st == 404, "  ... and ?topic=nope.sagas: 404", (st, body))
    rc, _, err = weir(flow.bootstrap, "saga", "list", "--status", "DONE")
    tap(rc == 2 and "--status is RUNNING, COMPENSATING, COMPLETED or COMPENSATED" in err,
        "a bad --status: exit 2", err)


def main():
    start = time.time()
    flow = QueryFlow("sagaq")
    ok = False
    try:
        flow.start_broker()
        flow.start_services()
        # a step timeout far above the groups' first join, so each command is sent once
        flow.start("order-saga", ["--step-timeout-ms", "20000"])
        producer = Producer({"bootstrap.servers": flow.bootstrap, "enable.idempotence": True})
        happy, oos = order_id("q-happy"), order_id("q-oos")
        place(producer, happy)
        place(producer, oos, oos=True)
        want = {happy: CONFIRMED, oos: REFUNDED}
        seen = wait_events(flow, want, 30)
        tap(seen == want, "the orchestrated flow ran: one order confirmed, one refunded", seen)
        check_show(flow, happy, "COMPLETED", 2, "shipping", "action", None, HAPPY_HISTORY,
                   "<confirmed>")
        check_show(flow, oos, "COMPENSATED", 0, "payment", "action", OOS_REASON,
                   OOS_HISTORY, "<refunded>")
        check_list(flow, happy, oos)
        check_errors(flow)
        ok = cli_helpers.failed == 0
    except Exception as e:  # a harness failure is a test failure
        tap(False, "the scenario ran", repr(e))
    finally:
        flow.stop_all()
        for name in ("order-saga", "shipping-service"):
            flow.stop(name)
        flow.cleanup(keep=not ok)
    print("1..%d" % cli_helpers.count)
    print("# %.1f s" % (time.time() - start))
    return 1 if cli_helpers.failed else 0


if __name__ == "__main__":
    sys.exit(main())
