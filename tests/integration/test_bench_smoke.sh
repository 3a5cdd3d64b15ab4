#!/usr/bin/env bash
# Smoke test of `make bench`: runs the bench harness (bench/harness.py --smoke) with every
# workload against Weir alone, small counts and about a second each, and checks that the harness
# works and the counts match: every message published was acknowledged, every message of a
# backlog was consumed once and in order, every latency run delivered all it sent. Speed is not
# checked. Needs none of the peer packages (redis, nats, rabbitmq).
#
# Workloads the broker does not advertise yet (JoinGroup for the group runs, InitProducerId for
# the idempotent producer, EndTxn for the transaction rows) are reported as TAP skips, never as
# passes.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${WEIR_BUILD:-$top/build}
weir=${WEIR_BIN:-$build/weir}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The harness stops every server it starts by pid, also on SIGTERM, which timeout sends first.
timeout -k 10 200 /usr/bin/python3 "$top/bench/harness.py" --smoke --build "$build" \
    --weir-bin "$weir" --out "$out" >"$out/harness.out" 2>&1
rc=$?

/usr/bin/python3 - "$out" "$rc" <<'PY'
import glob, json, os, sys

out, rc = sys.argv[1], int(sys.argv[2])
n = 0
failed = 0


def tap(ok, name, why=""):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    skip = ok and why.startswith("SKIP")
    print(f"{'ok' if ok else 'not ok'} {n} - {name}" + (f" # {why}" if skip else ""))
    if not ok and why:
        print(f"    # {why}")


runs = []
if os.path.exists(os.path.join(out, "runs.jsonl")):
    runs = [json.loads(l) for l in open(os.path.join(out, "runs.jsonl")) if l.strip()]
tap(rc == 0, "harness exits 0", f"exit {rc}")
if rc != 0:
    for line in open(os.path.join(out, "harness.out")).read().splitlines()[-25:]:
        print("    # " + line)

COUNT, RATE, E2E_S, CONNS = 20_000, 2_000, 1.0, 50


def find(workload, parts=None, config=None):
    return [r for r in runs if r.get("row_workload") == workload and not r.get("skipped") and
            (parts is None or r.get("row_partitions") == parts) and
            (config is None or config in r.get("row_config", ""))]


def check(name, rs, expected, skip_key=None):
    skipped = [r for r in runs if r.get("row_workload") == skip_key and r.get("skipped")]
    if not rs and skipped:
        tap(True, name, "SKIP " + skipped[0]["skipped"])
        return
    if len(rs) != 1:
        tap(False, name, f"{len(rs)} runs recorded, expected 1")
        return
    r = rs[0]
    problems = []
    if r.get("failed"):
        problems.append("the driver failed")
    if r.get("errors") != 0:
        problems.append(f"errors={r.get('errors')}")
    if r.get("capped"):
        problems.append("stopped at its deadline")
    if r.get("expected") != expected or r.get("msgs") != expected:
        problems.append(f"msgs={r.get('msgs')} expected={r.get('expected')}, wanted {expected}")
    tap(not problems, name, "; ".join(problems))
    return r


for parts in (1, 6):
    check(f"durable_publish (acks=-1) on {parts} partition(s): {COUNT} acknowledged",
          find("durable_publish", parts), COUNT)
    check(f"fast_publish (acks=1) on {parts} partition(s): {COUNT} acknowledged",
          find("fast_publish", parts), COUNT)
    check(f"consume on {parts} partition(s): the {COUNT}-message backlog read once, in order",
          find("consume", parts), COUNT)
    check(f"idempotent producer on {parts} partition(s): {COUNT} acknowledged",
          find("idempotent_publish", parts, "idempotence"), COUNT, "idempotent_publish")
    check(f"its control (plain, 5 requests in flight) on {parts} partition(s): {COUNT} "
          "acknowledged", find("idempotent_publish", parts, "max.in.flight=5"), COUNT,
          "idempotent_publish")
for acks in ("1", "-1"):
    rs = find("latency_ack", 1, f"acks={acks},")
    r = rs[0] if len(rs) == 1 else {}
    ok = (len(rs) == 1 and not r.get("failed") and r.get("errors") == 0 and r.get("msgs", 0) > 0
          and r.get("samples") == r.get("msgs") and r.get("p50_us", 0) > 0)
    tap(ok, f"latency_ack acks={acks}: every message acknowledged and timed",
        f"{len(rs)} runs; msgs={r.get('msgs')} samples={r.get('samples')} errors={r.get('errors')}")
    rs = find("latency_ack_raw", 1, f"acks={acks},")
    r = rs[0] if len(rs) == 1 else {}
    ok = (len(rs) == 1 and not r.get("failed") and r.get("errors") == 0 and r.get("msgs", 0) > 0
          and r.get("samples") == r.get("msgs") and r.get("expected") == r.get("msgs"))
    tap(ok, f"latency_ack_raw acks={acks}: every raw ProduceRequest answered at the next "
        "offset and timed",
        f"{len(rs)} runs; msgs={r.get('msgs')} samples={r.get('samples')} errors={r.get('errors')}")
for acks, parts in (("1", 1), ("1", 6), ("-1", 1)):
    want = int(RATE * E2E_S)
    r = check(f"latency_e2e acks={acks} on {parts} partition(s): all {want} paced messages "
              "consumed in order", find("latency_e2e", parts, f"acks={acks},"), want)
    if r is not None:
        tap(r.get("samples") == want and r.get("ack_samples") == want,
            f"latency_e2e acks={acks} p{parts}: one e2e and one ack sample per message",
            f"samples={r.get('samples')} ack_samples={r.get('ack_samples')}")
r = check(f"{CONNS} idle connections opened and answered", find("idle_conns"), CONNS)
if r is not None:
    tap(r.get("still_open") == CONNS, f"the {CONNS} idle connections are still open at the end",
        f"still_open={r.get('still_open')}")
for members in (1, 3):
    check(f"consumer group of {members} reads the {COUNT}-message backlog exactly once",
          find("group", 6, f"{members} member"), COUNT, "group")
# Transactions (issue 13): exact counts per transaction size, one commit timed per transaction.
TXN_MAX = 100  # the smoke profile's transactions per run
check("transaction rows' baseline: idempotent producer, 1 partition, all acknowledged",
      find("txn_publish", 1, "idempotent, no transaction"), COUNT, "txn_publish")
for k in (1, 10, 1000):
    want = min(COUNT, k * TXN_MAX)
    r = check(f"transactional producer, {k} msg/txn: {want} acknowledged",
              find("txn_publish", 1, f"{k} msg/txn"), want, "txn_publish")
    if r is not None:
        tap(r.get("txns") == -(-want // k) and r.get("samples") == r.get("txns"),
            f"transactional producer, {k} msg/txn: one commit timed per transaction",
            f"txns={r.get('txns')} samples={r.get('samples')}")
for iso in ("read_committed", "read_uncommitted"):
    check(f"the 1000 msg/txn backlog read with {iso}, once and in order",
          find("txn_consume", 1, iso), min(COUNT, 1000 * TXN_MAX), "txn_publish")
rs = find("rebalance")
skipped = [x for x in runs if x.get("row_workload") == "rebalance" and x.get("skipped")]
if not rs and skipped:
    tap(True, "rebalance after a LeaveGroup", "SKIP " + skipped[0]["skipped"])
else:
    r = rs[0] if len(rs) == 1 else {}
    ok = (len(rs) == 1 and not r.get("failed") and r.get("leave_to_consume_ms", -1) > 0 and
          r.get("leave_to_assign_ms", -1) > 0)
    tap(ok, "rebalance after a LeaveGroup: the other members consume every partition again",
        f"leave_to_assign_ms={r.get('leave_to_assign_ms')} "
        f"leave_to_consume_ms={r.get('leave_to_consume_ms')}")

# The report files and the JSON rows with exactly the fields issue 7 lists.
md = glob.glob(os.path.join(out, "*.md"))
tap(len(md) == 1 and "## Results" in open(md[0]).read(), "the markdown report is written")
text = open(md[0]).read() if len(md) == 1 else ""
limits = ("| Sequential write, 1 MiB, no sync |", "| Sequential write, 1 MiB + fdatasync each |",
          "| Loopback TCP, one stream |", "| Fresh memory, first touch |", "Loopback round trip")
missing = [k for k in limits if k not in text]
tap(not missing, "the report gives the machine's limits measured in the run (disk, loopback, "
    "round trip, first touch of memory)", f"missing {missing}")
FIELDS = {"workload", "system", "msg_bytes", "partitions", "config", "msgs_per_s", "mb_per_s",
          "p50_us", "p99_us", "p999_us", "runs", "ratio_vs_weir"}
rows = json.load(open(os.path.join(out, "smoke.json"))) if os.path.exists(
    os.path.join(out, "smoke.json")) else []
bad = [r for r in rows if set(r) != FIELDS]
tap(bool(rows) and not bad, "JSON rows carry exactly the issue's fields",
    f"{len(rows)} rows, {len(bad)} with other fields")
wls = {r["workload"] for r in rows}
tap(wls == {"durable_publish", "fast_publish", "consume", "latency_ack", "latency_e2e"},
    "JSON rows cover the five workloads", f"got {sorted(wls)}")
print(f"1..{n}")
sys.exit(1 if failed else 0)
PY
