"""Transactions through the newest librdkafka (confluent-kafka 2.16 from PyPI, the venv of
tests/python/requirements.txt): a transactional producer commits and aborts across two topics
and five partitions, and read_committed / read_uncommitted consumers see exactly what they
must, at exact offsets (the commit and abort markers take one offset each); consume-transform-
produce with send_offsets_to_transaction (the group's offsets appear with the commit, never
with an abort); a second producer with the same transactional.id fences the first; a
transaction left open by a producer killed with SIGKILL holds the last stable offset until
init_transactions of its successor aborts it; a transaction that outlives
transaction.timeout.ms is aborted by the broker, the read_committed consumer held at the LSO
proceeds within the timeout plus slack, and the idle producer is fenced. TAP.

Skips (1..0 # SKIP) when the broker does not advertise EndTxn (API key 26).
    WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka, formatted at transaction.version 1
                               (Weir does not advertise 2; Kafka 4.4 formats new clusters at 2)"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

# The child mode: a transactional producer that writes records in an open transaction, says
# so on stdout and waits to be killed (run by the cases below with this file's own python).
if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--open-txn":
    from confluent_kafka import Producer
    addr, tid, topic, parts, n, timeout_ms = sys.argv[2:8]
    p = Producer({"bootstrap.servers": addr, "transactional.id": tid, "linger.ms": 5,
                  "transaction.timeout.ms": int(timeout_ms)})
    p.init_transactions(30)
    p.begin_transaction()
    print("BEGIN %.3f" % time.time(), flush=True)
    for i in range(int(n)):
        p.produce(topic, b"open-%d" % i, partition=i % int(parts))
    if p.flush(20) != 0:
        sys.exit(1)
    print("READY %.3f" % time.time(), flush=True)
    time.sleep(600)
    sys.exit(0)

from compat import Broker, Tap, eq  # noqa: E402

import confluent_kafka  # noqa: E402
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaError,  # noqa: E402
                             KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

# The broker aborts timed-out transactions on this period (Kafka's default is 10 s); Weir
# takes the same setting name.
CLEANUP_MS = 500
B = Broker(settings=["transaction.abort.timed.out.transaction.cleanup.interval.ms=%d" % CLEANUP_MS],
           kafka_features=["transaction.version=1"],
           require_api=(26, "transactions not advertised"))
T = Tap()
print("# confluent-kafka %s, librdkafka %s" % (confluent_kafka.version()[0], confluent_kafka.libversion()[0]))
A = AdminClient({"bootstrap.servers": B.addr})
OPEN, READY = "open", "ready"


def create(name, parts):
    A.create_topics([NewTopic(name, parts, 1)], operation_timeout=10)[name].result(15)
    end = time.time() + 15
    while time.time() < end:
        md = A.list_topics(name, timeout=5).topics.get(name)
        if md and md.error is None and len(md.partitions) == parts and all(
                p.leader >= 0 for p in md.partitions.values()):
            # Metadata may name the leader a moment before it serves the partition: ask it.
            c = Consumer({"bootstrap.servers": B.addr, "group.id": "ready"})
            try:
                for p in range(parts):
                    c.get_watermark_offsets(TopicPartition(name, p), timeout=5)
                return
            except KafkaException:
                pass
            finally:
                c.close()
        time.sleep(0.05)
    raise AssertionError("topic %s not ready" % name)


def txn_producer(tid, **conf):
    p = Producer(dict({"bootstrap.servers": B.addr, "transactional.id": tid, "linger.ms": 5,
                       "transaction.timeout.ms": 30000}, **conf))
    p.init_transactions(30)
    return p


def consumer(isolation, **conf):
    return Consumer(dict({"bootstrap.servers": B.addr, "group.id": "reader-%f" % time.time(),
                          "enable.auto.commit": False, "auto.offset.reset": "earliest",
                          "isolation.level": isolation}, **conf))


def read_all(tps, isolation, want=None, timeout_s=10.0, settle_s=0.5):
    """(topic, partition, offset, value) of every record from the start of tps, read until
    `want` records arrived (then settle_s more, to catch extras) or timeout_s passed."""
    c = consumer(isolation)
    c.assign([TopicPartition(t, p, confluent_kafka.OFFSET_BEGINNING) for t, p in tps])
    out = []
    end = time.time() + timeout_s
    while time.time() < end:
        if want is not None and len(out) >= want:
            end = min(end, time.time() + settle_s)
        for m in c.consume(500, 0.1):
            if m.error():
                raise AssertionError("consume: %s" % m.error())
            out.append((m.topic(), m.partition(), m.offset(), m.value().decode()))
    pos = {(tp.topic, tp.partition): tp.offset for tp in c.position([TopicPartition(t, p) for t, p in tps])}
    c.close()
    return sorted(out), pos


def watermarks(tps, isolation):
    """The high watermark a consumer of that isolation level gets from ListOffsets: the last
    stable offset under read_committed."""
    c = consumer(isolation)
    try:
        return {(t, p): c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1] for t, p in tps}
    finally:
        c.close()


def group_offsets(group, tps, require_stable):
    f = A.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in tps])],
        require_stable=require_stable, request_timeout=10)
    r = f[group].result(15)
    return {(x.topic, x.partition): (x.offset, x.error.name() if x.error else None)
            for x in r.topic_partitions}


def stable_group_offsets(group, tps, timeout_s=10.0):
    """The group's offsets once no transactional commit is pending on them: the markers of an
    ended transaction reach __consumer_offsets after EndTxn answered (Kafka writes them
    asynchronously), so OffsetFetch with require_stable may say UNSTABLE_OFFSET_COMMIT for a
    moment after commit_transaction() returned."""
    end = time.time() + timeout_s
    while True:
        got = group_offsets(group, tps, True)
        if all(e is None for _, e in got.values()) or time.time() > end:
            return got
        time.sleep(0.05)


def fatal_code(fn):
    """Runs fn; returns (code name, fatal) of the KafkaException it raised, or None."""
    try:
        fn()
    except KafkaException as e:
        err = e.args[0]
        return (err.name(), err.fatal())
    return None


def open_txn_child(tid, topic, parts, n, timeout_ms):
    """A producer process that leaves a transaction open: returns (process, begin time)."""
    ch = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--open-txn", B.addr, tid,
                           topic, str(parts), str(n), str(timeout_ms)],
                          stdout=subprocess.PIPE, text=True)
    begin = ch.stdout.readline().split()
    ready = ch.stdout.readline().split()
    if len(begin) != 2 or begin[0] != "BEGIN" or len(ready) != 2 or ready[0] != "READY":
        ch.kill()
        raise AssertionError("the open-transaction producer did not get ready: %r %r" % (begin, ready))
    return ch, float(begin[1])


@T.case("commit and abort across 2 topics / 5 partitions: exact offsets, markers take one each", 90)
def commit_abort():
    create("tx-a", 3)
    create("tx-b", 2)
    tps = [("tx-a", 0), ("tx-a", 1), ("tx-a", 2), ("tx-b", 0), ("tx-b", 1)]
    p = txn_producer("ck-commit-abort")
    reports = []

    def dr(err, msg):
        reports.append((err.name() if err else None, msg.topic(), msg.partition(), msg.offset(),
                        msg.value().decode()))

    # 1: committed, 5 records on every partition (offsets 0-4, commit marker at 5)
    p.begin_transaction()
    for t, part in tps:
        for i in range(5):
            p.produce(t, ("c1-%s-%d-%d" % (t, part, i)).encode(), partition=part, on_delivery=dr)
    p.commit_transaction(30)
    # 2: aborted, 3 on every partition (6-8, abort marker at 9)
    p.begin_transaction()
    for t, part in tps:
        for i in range(3):
            p.produce(t, ("a2-%s-%d-%d" % (t, part, i)).encode(), partition=part, on_delivery=dr)
    eq("records left after flush in the aborted transaction", 0, p.flush(20))
    p.abort_transaction(30)
    # 3: committed, on two partitions only (10-11, marker at 12); the others get no marker
    touched = [("tx-a", 0), ("tx-b", 1)]
    p.begin_transaction()
    for t, part in touched:
        for i in range(2):
            p.produce(t, ("c3-%s-%d-%d" % (t, part, i)).encode(), partition=part, on_delivery=dr)
    p.commit_transaction(30)
    p.poll(0)

    committed, aborted = [], []
    for t, part in tps:
        committed += [(t, part, i, "c1-%s-%d-%d" % (t, part, i)) for i in range(5)]
        aborted += [(t, part, 6 + i, "a2-%s-%d-%d" % (t, part, i)) for i in range(3)]
    for t, part in touched:
        committed += [(t, part, 10 + i, "c3-%s-%d-%d" % (t, part, i)) for i in range(2)]
    eq("delivery reports (error, topic, partition, offset, value)",
       sorted((None,) + r for r in committed + aborted), sorted(reports))
    hw = {tp: (13 if tp in touched else 10) for tp in tps}
    got, pos = read_all(tps, "read_committed", want=len(committed))
    eq("read_committed: exactly the committed records at their offsets", sorted(committed), got)
    eq("read_committed: positions after the last record are past the markers", hw, pos)
    got, pos = read_all(tps, "read_uncommitted", want=len(committed) + len(aborted))
    eq("read_uncommitted: committed and aborted records, the markers' offsets skipped",
       sorted(committed + aborted), got)
    eq("read_uncommitted: positions", hw, pos)
    eq("high watermarks (markers counted)", hw, watermarks(tps, "read_uncommitted"))
    eq("last stable offsets == high watermarks once every transaction ended", hw,
       watermarks(tps, "read_committed"))


@T.case("consume-transform-produce: send_offsets_to_transaction; group offsets only with the commit", 90)
def consume_transform_produce():
    src, dst, group = "ctp-in", "ctp-out", "ctp-group"
    create(src, 2)
    create(dst, 2)
    plain = Producer({"bootstrap.servers": B.addr, "linger.ms": 5, "enable.idempotence": True})
    for i in range(40):
        plain.produce(src, b"v%d" % i, partition=i % 2)
    eq("input records left after flush", 0, plain.flush(20))
    in_tps = [(src, 0), (src, 1)]
    out_tps = [(dst, 0), (dst, 1)]
    c = Consumer({"bootstrap.servers": B.addr, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                  "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    c.subscribe([src])
    p = txn_producer("ck-ctp")

    def batch(n, timeout_s=20):
        out = []
        end = time.time() + timeout_s
        while len(out) < n and time.time() < end:
            for m in c.consume(n - len(out), 0.1):
                if m.error():
                    raise AssertionError("consume: %s" % m.error())
                out.append(m)
        return out

    def process(msgs):
        for m in msgs:
            p.produce(dst, b"T(" + m.value() + b")", partition=m.partition())
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)

    # An aborted round: its output and its offsets must never be seen.
    first = batch(10)
    eq("records in the first batch", 10, len(first))
    p.begin_transaction()
    process(first)
    eq("records left after flush", 0, p.flush(20))
    # Offsets go only for the partitions the batch came from (a position of a partition not
    # read yet is invalid, and send_offsets_to_transaction leaves it out).
    read_from = {(src, m.partition()) for m in first}
    pending = {tp: (-1001, "UNSTABLE_OFFSET_COMMIT" if tp in read_from else None) for tp in in_tps}
    eq("offsets pending in an open transaction: OffsetFetch require_stable says UNSTABLE_OFFSET_COMMIT",
       pending, group_offsets(group, in_tps, True))
    eq("offsets pending in an open transaction: OffsetFetch without require_stable shows none",
       {tp: (-1001, None) for tp in in_tps}, group_offsets(group, in_tps, False))
    p.abort_transaction(30)
    eq("after the abort: the group has no offsets",
       {tp: (-1001, None) for tp in in_tps}, stable_group_offsets(group, in_tps))
    eq("after the abort: read_committed sees no output", [], read_all(out_tps, "read_committed", timeout_s=2)[0])

    # Rewind to the committed offsets (none: the beginning), as an exactly-once loop does.
    for tp in c.assignment():
        c.seek(TopicPartition(tp.topic, tp.partition, confluent_kafka.OFFSET_BEGINNING))
    done = 0
    rounds = 0
    while done < 40:
        msgs = batch(min(7, 40 - done))
        if not msgs:
            raise AssertionError("no input after %d records" % done)
        p.begin_transaction()
        process(msgs)
        p.commit_transaction(30)
        done += len(msgs)
        rounds += 1
        if rounds == 1:
            want = {}
            for m in msgs:
                want[(src, m.partition())] = (max(m.offset() + 1, want.get((src, m.partition()), (0,))[0]), None)
            for tp in in_tps:
                want.setdefault(tp, (-1001, None))
            eq("after the first commit: the group's offsets are that batch's positions",
               want, stable_group_offsets(group, in_tps))
    c.close()
    eq("after the last commit: the group's offsets are the ends of the input",
       {tp: (20, None) for tp in in_tps}, stable_group_offsets(group, in_tps))
    got, _ = read_all(out_tps, "read_committed", want=40)
    vals = {part: [v for (_, pp, _, v) in got if pp == part] for part in (0, 1)}
    eq("read_committed output: each input once, in input order per partition",
       {part: ["T(v%d)" % i for i in range(part, 40, 2)] for part in (0, 1)}, vals)
    got, _ = read_all(out_tps, "read_uncommitted", want=50)
    eq("read_uncommitted output: the 10 aborted records too", 50, len(got))


@T.case("fencing: a second producer with the same transactional.id fences the first (fatal _FENCED)", 60)
def fencing():
    t = "fence"
    create(t, 1)
    p1 = txn_producer("ck-fence")
    p1.begin_transaction()
    p1.produce(t, b"zombie-1", partition=0)
    eq("zombie records left after flush", 0, p1.flush(20))
    p2 = txn_producer("ck-fence")  # bumps the epoch and aborts p1's open transaction
    p1.produce(t, b"zombie-2", partition=0)
    eq("the zombie's flush after the fence", ("_FENCED", True), fatal_code(lambda: p1.flush(20)))
    eq("the zombie's commit_transaction", ("_FENCED", True), fatal_code(lambda: p1.commit_transaction(20)))
    eq("the zombie's begin_transaction", ("_FENCED", True), fatal_code(p1.begin_transaction))
    p2.begin_transaction()
    p2.produce(t, b"successor", partition=0)
    p2.commit_transaction(30)
    # zombie-1 at 0, the abort marker p2's init_transactions wrote at 1, successor at 2,
    # its commit marker at 3.
    eq("read_committed: only the successor's record", [(t, 0, 2, "successor")],
       read_all([(t, 0)], "read_committed", want=1)[0])
    eq("read_uncommitted: the zombie's first record and the successor's",
       [(t, 0, 0, "zombie-1"), (t, 0, 2, "successor")], read_all([(t, 0)], "read_uncommitted", want=2)[0])
    eq("high watermark", {(t, 0): 4}, watermarks([(t, 0)], "read_uncommitted"))


@T.case("a producer killed with SIGKILL mid-transaction: LSO held, init_transactions of its successor aborts it", 60)
def killed_producer():
    t = "killed"
    create(t, 2)
    tps = [(t, 0), (t, 1)]
    ch, _ = open_txn_child("ck-killed", t, 2, 6, 60000)
    ch.send_signal(signal.SIGKILL)
    ch.wait()
    plain = Producer({"bootstrap.servers": B.addr, "linger.ms": 5})
    for i in range(4):
        plain.produce(t, b"after-%d" % i, partition=i % 2)
    eq("plain records left after flush", 0, plain.flush(20))
    # open-0..5 at 0-2 on each partition, after-* at 3-4.
    eq("read_uncommitted high watermarks", {tp: 5 for tp in tps}, watermarks(tps, "read_uncommitted"))
    eq("read_committed: the last stable offset is held at the open transaction's first offset",
       {tp: 0 for tp in tps}, watermarks(tps, "read_committed"))
    eq("read_committed sees nothing past the LSO", [], read_all(tps, "read_committed", timeout_s=2)[0])
    t0 = time.time()
    txn_producer("ck-killed")
    took = time.time() - t0
    if took > 20:
        raise AssertionError("init_transactions took %.1f s" % took)
    # The abort markers at 5.
    eq("after init_transactions: LSO == high watermark (abort marker counted)", {tp: 6 for tp in tps},
       watermarks(tps, "read_committed"))
    eq("read_committed: only the plain records after the aborted ones",
       sorted([(t, i % 2, 3 + i // 2, "after-%d" % i) for i in range(4)]),
       read_all(tps, "read_committed", want=4)[0])
    eq("read_uncommitted: the killed producer's records too", 10,
       len(read_all(tps, "read_uncommitted", want=10)[0]))


@T.case("transaction.timeout.ms=3000: the broker aborts, the read_committed consumer proceeds in time", 60)
def txn_timeout():
    t = "timeout"
    timeout_ms = 3000
    create(t, 2)
    tps = [(t, 0), (t, 1)]
    reader = consumer("read_committed")
    reader.assign([TopicPartition(tt, p, confluent_kafka.OFFSET_BEGINNING) for tt, p in tps])
    ch, begin = open_txn_child("ck-timeout", t, 2, 6, timeout_ms)
    ch.send_signal(signal.SIGKILL)
    ch.wait()
    plain = Producer({"bootstrap.servers": B.addr, "linger.ms": 5})
    for i in range(4):
        plain.produce(t, b"after-%d" % i, partition=i % 2)
    eq("plain records left after flush", 0, plain.flush(20))
    got = []
    first_at = None
    end = begin + timeout_ms / 1000.0 + CLEANUP_MS / 1000.0 + 15
    while len(got) < 4 and time.time() < end:
        for m in reader.consume(100, 0.05):
            if m.error():
                raise AssertionError("consume: %s" % m.error())
            if first_at is None:
                first_at = time.time()
            got.append((m.topic(), m.partition(), m.offset(), m.value().decode()))
    for m in reader.consume(100, 0.5):
        got.append((m.topic(), m.partition(), m.offset(), m.value().decode()))
    reader.close()
    eq("read_committed after the broker's abort: only the plain records, at their offsets",
       sorted([(t, i % 2, 3 + i // 2, "after-%d" % i) for i in range(4)]), sorted(got))
    waited = first_at - begin
    slack = 6.0
    if not (timeout_ms / 1000.0 - 0.2 <= waited <= timeout_ms / 1000.0 + CLEANUP_MS / 1000.0 + slack):
        raise AssertionError("the consumer proceeded %.2f s after the transaction began "
                             "(timeout %d ms, cleanup every %d ms)" % (waited, timeout_ms, CLEANUP_MS))
    print("# the read_committed consumer proceeded %.2f s after the transaction began" % waited, flush=True)
    eq("LSO == high watermark after the abort", {tp: 6 for tp in tps}, watermarks(tps, "read_committed"))

    # A live producer that idles past its timeout: the broker's abort bumped its epoch.
    idle = txn_producer("ck-timeout-idle", **{"transaction.timeout.ms": timeout_ms})
    idle.begin_transaction()
    idle.produce(t, b"idle-1", partition=0)
    eq("idle records left after flush", 0, idle.flush(20))
    time.sleep(timeout_ms / 1000.0 + CLEANUP_MS / 1000.0 + 2.5)
    idle.produce(t, b"idle-2", partition=0)
    eq("the idle producer's next write is fenced", ("_FENCED", True), fatal_code(lambda: idle.flush(20)))
    eq("and so is its commit", ("_FENCED", True), fatal_code(lambda: idle.commit_transaction(20)))
    got, _ = read_all([(t, 0)], "read_committed", want=2)
    eq("read_committed partition 0: nothing of the idle producer", [(t, 0, 3, "after-0"), (t, 0, 4, "after-2")], got)


T.done()
