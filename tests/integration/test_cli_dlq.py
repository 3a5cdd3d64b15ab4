"""`weir dlq list|show|redrive` against a live `weir serve`. The dead letters are written by
confluent-kafka with exactly the provenance headers libweir writes (weir.dlq.original.topic,
.partition, .offset, .timestamp, weir.dlq.group, weir.dlq.attempts, weir.dlq.error; see
src/sdk/worker.c), so every field and timestamp is known; what the redrive sends back is read
with confluent-kafka. Checks exact counts, offsets, headers and exit codes: a dry run moves
nothing, --error filters, a rerun moves nothing, new dead letters are picked up where the last
run stopped, chunks of 200 are committed as they go, and the admin API sees the same progress.
Starts its own `weir serve` on port 0. TAP."""
import json
import os
import sys
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_helpers import run_with_broker, tap, weir  # noqa: E402

T0 = 1700000000000


def weir_json(broker, *args):
    rc, out, err = weir(broker, *args, "-o", "json")
    if rc != 0:
        raise RuntimeError("weir %s: rc %d: %s" % (" ".join(args), rc, err))
    return json.loads(out)


def dead_letter(p, i, error, origin=None, attempts=3, extra=()):
    """One dead letter as libweir writes it; origin = (topic, partition, offset) or None."""
    h = [("traceparent", "00-%032x-%016x-01" % (i, i))]
    if origin:
        h += [("weir.dlq.original.topic", origin[0]),
              ("weir.dlq.original.partition", str(origin[1])),
              ("weir.dlq.original.offset", str(origin[2])),
              ("weir.dlq.original.timestamp", str(T0 - 1000))]
    h += [("weir.dlq.group", "billing"), ("weir.dlq.attempts", str(attempts)),
          ("weir.dlq.error", error), *extra]
    p.produce("orders.dlq", key=b"k%d" % i, value=b"v%d" % i, headers=h, timestamp=T0 + i)


def read_all(broker, topic, partition):
    c = Consumer({"bootstrap.servers": broker, "group.id": "t-read", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, partition, 0)])
    out = []
    while True:
        m = c.poll(10)
        if m is None:
            raise RuntimeError("no end of %s/%d" % (topic, partition))
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                break
            raise RuntimeError(str(m.error()))
        out.append((m.key(), m.value(), m.headers() or [], m.timestamp()[1]))
    c.close()
    return out


def high(broker, topic, partition):
    c = Consumer({"bootstrap.servers": broker, "group.id": "t-wm"})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    c.close()
    return hi


def http_json(http, method, path, body=None):
    req = urllib.request.Request("http://%s/api/v1/%s" % (http, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def check_list_show(b):
    lst = weir_json(b, "dlq", "list")
    tap(len(lst) == 1 and lst[0]["topic"] == "orders.dlq" and lst[0]["messages"] == 8
        and lst[0]["pending"] == 8 and lst[0]["oldest_timestamp"] == T0
        and lst[0]["newest_timestamp"] == T0 + 7 and lst[0]["partitions"] == 1,
        "list: one dead-letter topic, 8 records, 8 pending, oldest and newest", lst)
    tap(lst[0]["top_errors"] == [{"error": "invalid amount", "count": 3},
                                 {"error": "payment gateway timeout", "count": 3},
                                 {"error": "bad partition", "count": 1}],
        "list: the top three errors, most first, then by text", lst[0]["top_errors"])
    rc, out, _ = weir(b, "dlq", "list")
    lines = out.splitlines()
    tap(rc == 0 and lines[0].split() == ["TOPIC", "MESSAGES", "PENDING", "OLDEST", "NEWEST", "TOP",
                                         "ERRORS"] and lines[1].split()[:3] == ["orders.dlq", "8", "8"],
        "list: the table", out)
    show = weir_json(b, "dlq", "show", "orders.dlq")
    tap([(r["offset"], r["origin"]["topic"], r["origin"]["partition"], r["origin"]["offset"])
         for r in show] == [(0, "orders", 0, 10), (1, "orders", 1, 11), (2, "orders", 1, 12),
                            (3, "orders", 1, 13), (4, "orders", 0, 14), (5, None, None, None),
                            (6, "orders", 7, 16), (7, "orders", 0, 17)],
        "show: each record's origin topic/partition/offset", show)
    r0, r1 = show[0], show[1]
    tap(r0 == {"partition": 0, "offset": 0,
               "origin": {"topic": "orders", "partition": 0, "offset": 10},
               "error": "payment gateway timeout", "attempts": 3, "group": "billing",
               "first_failure": T0 - 500, "last_failure": T0, "pending": True},
        "show: error, attempts, group, first failure (header) and last failure (timestamp)", r0)
    tap(r1["attempts"] == 1 and r1["first_failure"] == T0 + 1 and r1["last_failure"] == T0 + 1,
        "show: one attempt: the first failure is the last", r1)
    tap(show[4]["first_failure"] is None, "show: no first-failure header, more attempts: null",
        show[4])
    got = weir_json(b, "dlq", "show", "orders.dlq", "--error", "time ?out", "-n", "2")
    tap([r["offset"] for r in got] == [0, 2], "show --error REGEX -n 2: offsets 0 and 2", got)
    rc, out, _ = weir(b, "dlq", "show", "orders.dlq", "-n", "1")
    tap(rc == 0 and len(out.splitlines()) == 2 and "orders/0/10" in out
        and "2023-11-14T22:13:20.000Z" in out, "show: the table", out)


def check_tab_in_error(b):
    """An error text with a tab and a newline stays in its cell and row of the tables."""
    weir(b, "topic", "create", "odd.dlq")
    p = Producer({"bootstrap.servers": b, "log.connection.close": False})
    p.produce("odd.dlq", value=b"v", headers=[("weir.dlq.error", "a\tb\nc")], timestamp=T0)
    p.flush()
    rc, out, _ = weir(b, "dlq", "show", "odd.dlq")
    rows = out.splitlines()
    tap(rc == 0 and len(rows) == 2 and rows[1].endswith("  a b c"), "show: a tab or newline in "
        "an error is a space in the table", out)
    rc, out, _ = weir(b, "dlq", "list")
    odd = [x for x in out.splitlines() if x.startswith("odd.dlq ")]
    tap(rc == 0 and len(out.splitlines()) == 3 and len(odd) == 1 and odd[0].endswith("a b c (1)"),
        "list: the same", out)
    got = weir_json(b, "dlq", "show", "odd.dlq")
    tap(got[0]["error"] == "a\tb\nc", "show -o json: the error as it is", got)
    weir(b, "topic", "delete", "odd.dlq", "--yes")


def check_errors(b):
    cases = [(("dlq", "show", "orders.dlq", "--error", "("), 2, "bad --error regex '('"),
             (("dlq", "redrive", "orders.dlq", "--error", "[a"), 2, "bad --error regex '[a'"),
             (("dlq", "show", "orders"), 2, "'orders' is not a dead-letter topic"),
             (("dlq", "redrive", "orders"), 2, "'orders' is not a dead-letter topic"),
             (("dlq", "show", "nope.dlq"), 3, "topic 'nope.dlq' not found"),
             (("dlq", "redrive", "nope.dlq"), 3, "topic 'nope.dlq' not found"),
             (("dlq", "redrive", "orders.dlq", "--to", "nope"), 3, "topic 'nope' not found"),
             (("dlq", "show", "orders.dlq", "-n", "0"), 2, "-n wants a count >= 1")]
    for args, want_rc, want_err in cases:
        rc, out, err = weir(b, *args)
        tap(rc == want_rc and want_err in err and out == "",
            "%s: exit %d, '%s'" % (" ".join(args), want_rc, want_err), "rc %d: %s" % (rc, err))


def check_redrive(b, http):
    dry = weir_json(b, "dlq", "redrive", "orders.dlq", "--dry-run")
    tap(dry == {"topic": "orders.dlq", "dry_run": True, "redriven": 6, "skipped": 2,
                "filtered": 0, "remaining": 0, "targets": {"orders": 6},
                "progress_group": "weir-redrive.orders.dlq"},
        "redrive --dry-run: 6 would go to orders, 2 without a usable origin", dry)
    moved = [high(b, "orders", p) for p in (0, 1)]
    pend = weir_json(b, "dlq", "list")[0]["pending"]
    tap(moved == [0, 0] and pend == 8, "redrive --dry-run moved nothing", (moved, pend))
    got = weir_json(b, "dlq", "redrive", "orders.dlq", "--error", "timeout")
    tap(got["redriven"] == 3 and got["filtered"] == 5 and got["skipped"] == 0
        and got["targets"] == {"orders": 3} and got["dry_run"] is False and got["remaining"] == 0,
        "redrive --error timeout: 3 moved, 5 passed over", got)
    p0, p1 = read_all(b, "orders", 0), read_all(b, "orders", 1)
    tap([(k, v) for k, v, _, _ in p0] == [(b"k0", b"v0"), (b"k4", b"v4")]
        and [(k, v) for k, v, _, _ in p1] == [(b"k2", b"v2")],
        "the timeouts are back in their original partitions, in order", (p0, p1))
    tap(p0[0][2] == [("traceparent", b"00-%032x-%016x-01" % (0, 0)),
                     ("weir.redrive.source", b"orders.dlq/0/0")] and p0[0][3] == T0
        and p0[1][2][1] == ("weir.redrive.source", b"orders.dlq/0/4"),
        "redriven: weir.dlq.* headers gone, traceparent kept, weir.redrive.source added",
        p0)
    again = weir_json(b, "dlq", "redrive", "orders.dlq")
    tap(again["redriven"] == 0 and again["skipped"] == 0 and again["filtered"] == 0
        and [high(b, "orders", p) for p in (0, 1)] == [2, 1],
        "a rerun moves nothing (the filtered run passed over the rest)", again)
    # New dead letters: the next run takes only them.
    p = Producer({"bootstrap.servers": b, "log.connection.close": False})
    dead_letter(p, 8, "payment gateway timeout", ("orders", 1, 18))
    dead_letter(p, 9, "no origin")
    dead_letter(p, 10, "invalid amount", ("orders", 0, 20))
    p.flush()
    lst = weir_json(b, "dlq", "list")[0]
    tap(lst["messages"] == 11 and lst["pending"] == 3, "list: 11 records, 3 pending", lst)
    got = weir_json(b, "dlq", "redrive", "orders.dlq")
    tap(got["redriven"] == 2 and got["skipped"] == 1 and got["targets"] == {"orders": 2}
        and [high(b, "orders", q) for q in (0, 1)] == [3, 2],
        "redrive resumes: only the 3 new records, 2 moved, 1 skipped", got)
    got = weir_json(b, "dlq", "redrive", "orders.dlq")
    tap(got["redriven"] == 0 and [high(b, "orders", q) for q in (0, 1)] == [3, 2],
        "a second rerun moves nothing", got)
    admin = http_json(http, "POST", "dlq/orders.dlq/redrive", {})
    tap(admin["redriven"] == 0 and admin["remaining"] == 0,
        "the admin API's redrive shares the progress: it moves nothing", admin)
    # --to, and 450 more to cross chunks of 200.
    for i in range(11, 461):
        dead_letter(p, i, "invalid amount", ("orders", i % 2, i))
    p.flush()
    got = weir_json(b, "dlq", "redrive", "orders.dlq", "--to", "retry", "--error", "amount")
    tap(got["redriven"] == 450 and got["targets"] == {"retry": 450} and high(b, "retry", 0) == 450,
        "redrive --to retry: 450 records in 3 chunks", got)
    rc, out, _ = weir(b, "dlq", "redrive", "orders.dlq")
    tap(rc == 0 and out.startswith("redrove 0 records from orders.dlq\n")
        and high(b, "retry", 0) == 450, "rerun after --to: nothing", out)
    admin = http_json(http, "GET", "dlq")["dlq_topics"][0]
    tap(admin["pending"] == 0 and admin["messages"] == 461,
        "the admin API sees the CLI's progress: 461 records, 0 pending", admin)


def main(b, http, work):
    weir(b, "topic", "create", "orders", "-p", "2")
    weir(b, "topic", "create", "orders.dlq", "retry")
    p = Producer({"bootstrap.servers": b, "log.connection.close": False})
    dead_letter(p, 0, "payment gateway timeout", ("orders", 0, 10),
                extra=[("weir.dlq.first.failure.timestamp", str(T0 - 500))])
    dead_letter(p, 1, "invalid amount", ("orders", 1, 11), attempts=1)
    dead_letter(p, 2, "payment gateway timeout", ("orders", 1, 12))
    dead_letter(p, 3, "invalid amount", ("orders", 1, 13))
    dead_letter(p, 4, "payment gateway timeout", ("orders", 0, 14))
    dead_letter(p, 5, "no origin")
    dead_letter(p, 6, "bad partition", ("orders", 7, 16))
    dead_letter(p, 7, "invalid amount", ("orders", 0, 17))
    p.flush()
    check_tab_in_error(b)
    check_list_show(b)
    check_errors(b)
    check_redrive(b, http)


run_with_broker(main, http=True)
