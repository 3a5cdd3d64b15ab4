"""Checks the arithmetic of `make bench`'s report (bench/harness.py) on synthetic runs: medians
and min-max per row, the Weir/peer ratio computed repetition by repetition (throughput: Weir
over peer; latency: Weir's p99 over the peer's), pairing by durability class, and the JSON rows
carrying exactly the fields issue 7 lists. No server is started."""
import importlib.util
import os
import sys

sys.dont_write_bytecode = True
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("harness", os.path.join(TOP, "bench", "harness.py"))
h = importlib.util.module_from_spec(spec)
spec.loader.exec_module(h)

n = 0
failed = 0


def check(ok, name, detail=""):
    global n, failed
    n += 1
    failed += not ok
    print(f"{'ok' if ok else 'not ok'} {n} - {name}")
    if not ok:
        print(f"    # {detail}")


def run(rep, workload, system, cls, rate=None, p99=None, parts=1, config="c", size=100):
    r = dict(rep=rep, row_workload=workload, row_system=system, row_config=config,
             row_bytes=size, row_partitions=parts, cls=cls, config="driver", msgs=1000,
             capped=False)
    if rate is not None:
        r.update(msgs_per_s=rate, mb_per_s=rate * size / 1e6)
    if p99 is not None:
        r.update(p50_us=p99 / 2, p99_us=p99, p999_us=p99 * 2, msgs_per_s=10000.0,
                 mb_per_s=1.0)
    return r


runs = [
    # fast_publish: Weir 300/200/400, Redis 100/100/200 -> ratios 3, 2, 2.
    run(1, "fast_publish", "weir", "fast", 300.0), run(2, "fast_publish", "weir", "fast", 200.0),
    run(3, "fast_publish", "weir", "fast", 400.0),
    run(1, "fast_publish", "redis", "fast", 100.0, config="no persistence"),
    run(2, "fast_publish", "redis", "fast", 100.0, config="no persistence"),
    run(3, "fast_publish", "redis", "fast", 200.0, config="no persistence"),
    # Weir on 6 partitions has no peer on 6 partitions: no ratio anywhere from it.
    run(1, "fast_publish", "weir", "fast", 900.0, parts=6),
    # latency_ack: durable and fast classes pair separately.
    run(1, "latency_ack", "weir", "fast", p99=100.0, config="acks=1"),
    run(2, "latency_ack", "weir", "fast", p99=300.0, config="acks=1"),
    run(1, "latency_ack", "weir", "durable", p99=1000.0, config="acks=-1"),
    run(2, "latency_ack", "weir", "durable", p99=1000.0, config="acks=-1"),
    run(1, "latency_ack", "nats", "fast", p99=200.0),
    run(2, "latency_ack", "nats", "fast", p99=200.0),
    run(1, "latency_ack", "redis", "durable", p99=500.0, config="always"),
    run(2, "latency_ack", "redis", "durable", p99=4000.0, config="always"),
]
failed_run = run(3, "latency_ack", "nats", "fast", p99=1.0)
failed_run["failed"] = True
runs.append(failed_run)

rows = h.aggregate(runs)
h.pair_ratios(rows)


def row(workload, system, parts=1, cls=None):
    rs = [r for r in rows if r["workload"] == workload and r["system"] == system and
          r["partitions"] == parts and (cls is None or r["cls"] == cls)]
    assert len(rs) == 1, (workload, system, parts, cls, len(rs))
    return rs[0]


w = row("fast_publish", "weir")
check(w["msgs_per_s"] == 300.0 and w["msgs_per_s_min"] == 200.0 and
      w["msgs_per_s_max"] == 400.0, "median and min-max of Weir's three runs",
      f"{w['msgs_per_s']} [{w['msgs_per_s_min']}-{w['msgs_per_s_max']}]")
r = row("fast_publish", "redis")
check(r["ratio"] == 2.0 and r["ratio_min"] == 2.0 and r["ratio_max"] == 3.0,
      "throughput ratio is Weir/peer per repetition, then the median",
      f"{r['ratio']} [{r['ratio_min']}-{r['ratio_max']}]")
check(row("fast_publish", "weir", parts=6)["ratio"] is None and w["ratio"] is None,
      "Weir rows carry no ratio")
nats = row("latency_ack", "nats")
check(nats["ratio"] == 1.0 and nats["ratio_min"] == 0.5 and nats["ratio_max"] == 1.5,
      "latency ratio is Weir's p99 over the peer's, paired with Weir's fast row",
      f"{nats['ratio']} [{nats['ratio_min']}-{nats['ratio_max']}]")
check(nats["failed"] == 1 and len(nats["samples"]) == 2 and nats["p99_us"] == 200.0,
      "a failed run is counted as failed and left out of the medians",
      f"failed={nats['failed']} samples={len(nats['samples'])} p99={nats['p99_us']}")
red = row("latency_ack", "redis")
check(red["ratio"] == 1.125 and red["ratio_min"] == 0.25 and red["ratio_max"] == 2.0,
      "durable latency rows pair with Weir's durable row",
      f"{red['ratio']} [{red['ratio_min']}-{red['ratio_max']}]")
bp = h.best_peer(rows, "latency_ack", 100, "fast")
check(bp is not None and bp["system"] == "nats", "best peer on latency is the lowest p99")

out = h.json_rows(rows, [dict(workload="durable_publish", system="nats", msg_bytes=100,
                              config="not comparable")])
fields = {"workload", "system", "msg_bytes", "partitions", "config", "msgs_per_s", "mb_per_s",
          "p50_us", "p99_us", "p999_us", "runs", "ratio_vs_weir"}
check(all(set(o) == fields for o in out), "JSON rows have exactly the issue's fields",
      str([sorted(set(o) ^ fields) for o in out]))
fp = [o for o in out if o["workload"] == "fast_publish" and o["system"] == "redis"][0]
check(fp["p99_us"] is None and fp["msgs_per_s"] == 100.0 and fp["runs"] == 3 and
      fp["ratio_vs_weir"] == 2.0, "a throughput row: medians, no latency, runs, ratio", str(fp))
nc = [o for o in out if o["system"] == "nats" and o["workload"] == "durable_publish"][0]
check(nc["msgs_per_s"] is None and nc["runs"] == 0, "a not-comparable row has no figures",
      str(nc))
# A bench program the time budget cuts short (bench_net under QUICK=1 on a loaded machine,
# issue 17) is a note with what it printed until then, not a failure of the run.
import tempfile, types  # noqa: E402
with tempfile.TemporaryDirectory() as tmp:
    os.makedirs(os.path.join(tmp, "build", "bench"))
    slow = os.path.join(tmp, "build", "bench", "bench_slow")
    with open(slow, "w") as f:
        f.write("#!/bin/sh\necho 'measured 42 things'\nexec sleep 60\n")
    os.chmod(slow, 0o755)
    args = types.SimpleNamespace(profile="quick", smoke=True, schema_only=False)
    runner = h.Runner(args, dict(budget_s=6), os.path.join(tmp, "build"), tmp, tmp)
    runner.weir_bin = "/bin/true"
    runner.others()
    h.PROCS.stop_all()
    text = dict(runner.extra_outputs).get("bench_slow", "")
    check(runner.failures == [], "a bench program cut short by the budget is not a failure",
          str(runner.failures))
    check("measured 42 things" in text and "[cut short after" in text,
          "its output until then is reported, and the cut is said", repr(text))
    check(any(n.startswith("bench_slow cut short") for n in runner.notes),
          "the report's notes name the program cut short", str(runner.notes))
print(f"1..{n}")
sys.exit(1 if failed else 0)
