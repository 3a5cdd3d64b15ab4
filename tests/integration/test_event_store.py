"""The event store's conditional append (docs/event-store.md): a topic with weir.key.index=true,
records carrying the header weir.expected.offset.

- the config: set at CreateTopics, described, turned on by AlterConfigs over a topic that
  already holds records (the index is built from them);
- raw Produce v8: a key's first record with -1, a conflict answered with INVALID_RECORD (87),
  record_errors and the message naming key, expected and actual offset; every bad header
  (not a number, negative other than -1, empty, null, on a keyless record, on a topic without
  key index) refused with its exact message and nothing appended (the high watermark checked);
  records earlier in the same batch count, and a batch refused at its second record leaves
  nothing of its first in the index; a tombstone makes its key absent; two keys in one
  partition never disturb each other;
- confluent-kafka (librdkafka, Produce v7: Kafka's CORRUPT_MESSAGE (2) for INVALID_RECORD):
  writers racing on one key, exactly one winner per round over 1000 rounds; an idempotent
  producer and a transactional one (an aborted record moves the key's offset too);
- kcat with -H: success, and exit 1 on a conflict;
- restart (SIGTERM), kill -9, and kill -9 with the last batch torn: the index is rebuilt from
  the log and answers exactly as before (the torn record is not there);
- compaction: after the cleaner dropped a key's old records the latest offset still holds,
  before and after a restart;
- `weir consume TOPIC --key K`: the key's records exactly, through the admin API;
- the admin API's GET /api/v1/topics/{topic}/key-offset: the latest offset from the index, -1
  after a tombstone or for an unknown key, and its 409/404/400 answers; .../key-offsets: every
  offset of a key through the key chain, oldest first, the same after a restart.
TAP."""
import gzip
import base64
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import (  # noqa: E402
    Consumer, KafkaError, KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import (  # noqa: E402
    AdminClient, ConfigResource, NewTopic)

from kafka_wire import WEIR, Broker, Tap, crc32c  # noqa: E402
from kafka_wire.client import E, Conn  # noqa: E402
from kafka_wire.client import produce_v8 as wire_produce_v8  # noqa: E402

INVALID_RECORD = 87
H = "weir.expected.offset"
T = 15
tap = Tap()


def zz(v):
    v = (v << 1) ^ (v >> 63)
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def record(i, key, value, headers):
    body = b"\x00" + zz(0) + zz(i)
    body += zz(-1) if key is None else zz(len(key)) + key
    body += zz(-1) if value is None else zz(len(value)) + value
    body += zz(len(headers))
    for hk, hv in headers:
        body += zz(len(hk)) + hk + (zz(-1) if hv is None else zz(len(hv)) + hv)
    return zz(len(body)) + body


NULL = "null"  # a header whose value is null


def batch(recs, pid=-1, epoch=-1, seq=-1, gzipped=False):
    """A v2 batch of (key, value, expected) records; expected None: no header, bytes: the
    header's value as it is, NULL: a null value. pid, epoch, seq: an idempotent producer's.
    gzipped: the records compressed with gzip (codec 1)."""
    body = b"".join(record(i, k, v, [] if e is None else [(H.encode(), None if e is NULL else e)])
                    for i, (k, v, e) in enumerate(recs))
    if gzipped:
        body = gzip.compress(body)
    n = len(recs)
    ts = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", 1 if gzipped else 0, n - 1, ts, ts, pid, epoch, seq,
                            n) + body
    rest = struct.pack(">ibI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


def produce_v8(addr, topic, recs, **producer):
    """(error_code, base_offset, record_errors, message) of a raw Produce v8 to partition 0."""
    return wire_produce_v8(addr, topic, batch(recs, **producer))


def init_producer_id(addr):
    """(producer id, epoch) from a raw InitProducerId v1 without transactional id."""
    e = E(False)
    c = Conn(addr)
    try:
        r = c.req(22, 1, e.str(None) + e.i32(60000))
    finally:
        c.close()
    r.i32()
    assert r.i16() == 0
    return r.i64(), r.i16()


def hwm(addr, topic):
    c = Consumer({"bootstrap.servers": addr, "group.id": "hwm"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=T)[1]
    finally:
        c.close()


def read_all(addr, topic):
    """(offset, key, value) of every record of partition 0."""
    c = Consumer({"bootstrap.servers": addr, "group.id": "r", "enable.auto.commit": False,
                  "isolation.level": "read_uncommitted"})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=T)
    c.assign([TopicPartition(topic, 0, lo)])
    out = []
    deadline = time.time() + T
    while (not out or out[-1][0] < hi - 1) and time.time() < deadline and hi > lo:
        m = c.poll(0.2)
        if m is not None and not m.error():
            out.append((m.offset(), m.key(), m.value()))
    c.close()
    return out


def create(addr, name, **cfg):
    a = AdminClient({"bootstrap.servers": addr})
    for f in a.create_topics([NewTopic(name, 1, 1, config=cfg)]).values():
        f.result(T)


def conflict(key, expected, actual, index=0):
    return [(index, "record %d: key '%s': expected offset %d, actual offset %d" %
             (index, key, expected, actual))]


# ---- config ---------------------------------------------------------------------------------

def check_config(addr):
    create(addr, "es", **{"weir.key.index": "true"})
    create(addr, "plain")
    a = AdminClient({"bootstrap.servers": addr})
    res = a.describe_configs([ConfigResource("topic", "es")])
    cfg = list(res.values())[0].result(T)
    tap(cfg["weir.key.index"].value == "true", "weir.key.index=true is described")
    cfg = list(a.describe_configs([ConfigResource("topic", "plain")]).values())[0].result(T)
    tap("weir.key.index" not in cfg, "a topic without it is described as Kafka describes it")
    r = a.create_topics([NewTopic("bad", 1, 1, config={"weir.key.index": "maybe"})])
    try:
        list(r.values())[0].result(T)
        tap(False, "weir.key.index=maybe is refused")
    except KafkaException as e:
        tap(e.args[0].code() == KafkaError.INVALID_CONFIG, "weir.key.index=maybe is refused")


def check_alter(addr):
    create(addr, "later")
    produce_v8(addr, "later", [(b"k", b"v0", None), (b"k", b"v1", None)])
    code, _, _, msg = produce_v8(addr, "later", [(b"k", b"v", b"1")])
    tap(code == INVALID_RECORD and "weir.key.index=true" in msg and hwm(addr, "later") == 2,
        "the header on a topic without key index: refused, nothing appended")
    a = AdminClient({"bootstrap.servers": addr})
    a.alter_configs([ConfigResource("topic", "later", set_config={"weir.key.index": "true"})])[
        ConfigResource("topic", "later")].result(T)
    code, _, errs, _ = produce_v8(addr, "later", [(b"k", b"v", b"0")])
    tap(code == INVALID_RECORD and errs == conflict("k", 0, 1),
        "turned on by AlterConfigs: the index is built from the records already there")
    code, base, _, _ = produce_v8(addr, "later", [(b"k", b"v", b"1")])
    tap(code == 0 and base == 2, "and the key's latest offset is accepted")


# ---- raw Produce v8 -------------------------------------------------------------------------

def check_raw(addr):
    code, base, errs, _ = produce_v8(addr, "es", [(b"order-1", b"created", b"-1")])
    tap(code == 0 and base == 0 and errs == [], "a new key with -1: appended at 0")
    code, base, errs, msg = produce_v8(addr, "es", [(b"order-1", b"again", b"-1")])
    want = conflict("order-1", -1, 0)
    tap(code == INVALID_RECORD and errs == want and msg == want[0][1],
        "-1 on an existing key: INVALID_RECORD naming key, expected and actual offset")
    code, base, errs, _ = produce_v8(addr, "es", [(b"order-1", b"paid", b"0")])
    tap(code == 0 and base == 1, "the latest offset expected: appended at 1")
    code, _, errs, _ = produce_v8(addr, "es", [(b"order-1", b"x", b"0")])
    tap(code == INVALID_RECORD and errs == conflict("order-1", 0, 1), "a stale offset: refused")
    code, base, _, _ = produce_v8(addr, "es", [(b"order-2", b"created", None)])
    tap(code == 0 and base == 2, "a record without the header is appended as usual")
    code, base, _, _ = produce_v8(addr, "es", [(b"order-2", b"paid", b"2")])
    tap(code == 0 and base == 3, "and indexed: its key's next conditional append holds")
    bad = [
        (b"abc", "header weir.expected.offset must be an offset (0 or more) or -1, not 'abc'"),
        (b"-2", "header weir.expected.offset must be an offset (0 or more) or -1, not '-2'"),
        (b"", "header weir.expected.offset must be an offset (0 or more) or -1, not ''"),
        (b" 3", "header weir.expected.offset must be an offset (0 or more) or -1, not ' 3'"),
        (NULL, "header weir.expected.offset must be an offset (0 or more) or -1, not '' (null)"),
    ]
    for value, why in bad:
        code, _, errs, msg = produce_v8(addr, "es", [(b"order-3", b"v", None),
                                                     (b"order-3", b"v", value)])
        tap(code == INVALID_RECORD and errs == [(1, "record 1: " + why)] and
            hwm(addr, "es") == 4, "header %r: INVALID_RECORD, nothing appended" % value)
    code, _, errs, _ = produce_v8(addr, "es", [(None, b"v", b"-1")])
    tap(code == INVALID_RECORD and
        errs == [(0, "record 0: header weir.expected.offset on a record without a key")] and
        hwm(addr, "es") == 4, "the header on a record without a key: refused, nothing appended")
    code, _, errs, _ = produce_v8(addr, "plain", [(b"k", b"v", b"-1")])
    tap(code == INVALID_RECORD and errs == [(0, "record 0: header weir.expected.offset needs a "
                                             "topic with weir.key.index=true; topic plain has "
                                             "none")] and hwm(addr, "plain") == 0,
        "the header on a topic without key index: refused, nothing appended")
    # records earlier in the batch count
    code, base, _, _ = produce_v8(addr, "es", [(b"order-4", b"a", b"-1"), (b"order-4", b"b", b"4"),
                                               (b"order-4", b"c", b"5")])
    tap(code == 0 and base == 4, "a batch whose records expect each other: appended")
    code, _, errs, _ = produce_v8(addr, "es", [(b"order-5", b"a", b"-1"),
                                               (b"order-5", b"b", b"-1")])
    tap(code == INVALID_RECORD and errs == conflict("order-5", -1, 7, 1) and
        hwm(addr, "es") == 7, "a batch refused at its second record: nothing appended")
    code, base, _, _ = produce_v8(addr, "es", [(b"order-5", b"a", b"-1")])
    tap(code == 0 and base == 7, "and its first record left nothing in the index")
    # a tombstone: the key no longer exists
    code, base, _, _ = produce_v8(addr, "es", [(b"order-5", None, b"7")])
    code2, base2, _, _ = produce_v8(addr, "es", [(b"order-5", b"again", b"-1")])
    tap(code == 0 and base == 8 and code2 == 0 and base2 == 9,
        "after a tombstone the key is absent: -1 is accepted")


def check_batches(addr):
    """The produce path takes each batch's keyed records from validation, or parses a compressed
    batch again: both give the same answers, and several batches of one request count in order."""
    create(addr, "es-batches", **{"weir.key.index": "true"})
    code, base, _, _ = wire_produce_v8(addr, "es-batches", batch(
        [(b"z-1", b"a", b"-1"), (b"z-1", b"b", b"0"), (b"z-2", b"c", b"-1")], gzipped=True))
    tap(code == 0 and base == 0, "a gzip batch whose records expect each other: appended at 0")
    code, _, errs, _ = wire_produce_v8(addr, "es-batches", batch(
        [(b"z-2", b"d", b"2"), (b"z-1", b"e", b"0")], gzipped=True))
    tap(code == INVALID_RECORD and errs == conflict("z-1", 0, 1, 1) and
        hwm(addr, "es-batches") == 3, "a gzip batch with a stale offset: refused, nothing appended")
    two = batch([(b"z-3", b"f", b"-1")]) + batch([(b"z-3", b"g", b"3"), (b"z-1", b"h", b"1")],
                                                  gzipped=True) + batch([(b"z-3", b"i", b"4")])
    code, base, _, _ = wire_produce_v8(addr, "es-batches", two)
    code2, base2, _, _ = produce_v8(addr, "es-batches", [(b"z-3", b"j", b"6"),
                                                         (b"z-1", b"k", b"5"),
                                                         (b"z-2", b"l", b"2")])
    tap(code == 0 and base == 3 and hwm(addr, "es-batches") == 10 and code2 == 0 and base2 == 7,
        "three batches in one request (plain, gzip, plain) count in order: appended at 3-6, "
        "then each key's latest offset holds")


# ---- confluent-kafka ------------------------------------------------------------------------

def send(p, topic, key, value, expected):
    out = []
    hdrs = None if expected is None else [(H, str(expected).encode())]
    p.produce(topic, key=key, value=value, headers=hdrs, partition=0,
              on_delivery=lambda e, m: out.append((e, m)))
    p.flush(T)
    e, m = out[0]
    return (0, m.offset()) if e is None else (e.code(), -1)


def check_race(addr, rounds=3000):
    create(addr, "race", **{"weir.key.index": "true"})
    prods = [Producer({"bootstrap.servers": addr, "linger.ms": 0, "acks": 1,
                       "message.send.max.retries": 0}) for _ in range(2)]
    for p in prods:
        send(p, "race", b"warmup", b"", None)
    version = [send(prods[0], "race", b"acct", b"open", -1)[1]]
    bar = threading.Barrier(3)
    results = [None, None]
    stop = [False]

    def writer(i):
        while True:
            bar.wait()
            if stop[0]:
                return
            results[i] = send(prods[i], "race", b"acct", b"w%d" % i, version[0])
            bar.wait()

    ths = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in ths:
        t.start()
    t0 = time.time()
    bad = 0
    wins = [0, 0]
    for _ in range(rounds):
        bar.wait()
        bar.wait()
        ok = [r for r in results if r[0] == 0]
        lost = [r for r in results if r[0] == KafkaError.INVALID_MSG]
        if len(ok) != 1 or len(lost) != 1 or ok[0][1] != version[0] + 1:
            bad += 1
            break
        wins[results.index(ok[0])] += 1
        version[0] = ok[0][1]
    stop[0] = True
    bar.wait()
    for t in ths:
        t.join()
    secs = time.time() - t0
    tap(bad == 0 and sum(wins) == rounds and hwm(addr, "race") == version[0] + 1,
        "two writers racing on one key: exactly one wins each of %d rounds (%.1f s, wins %s)" %
        (rounds, secs, wins))


def check_idempotent_raw(addr):
    """The sequence numbers of an idempotent producer, by hand: a retried conditional batch is
    answered as the duplicate it is (its original offset), never as a conflict; a refused batch
    leaves the producer's sequence where it was."""
    pid, epoch = init_producer_id(addr)
    rec = [(b"idem-k", b"v", b"-1")]
    a = produce_v8(addr, "idem", rec, pid=pid, epoch=epoch, seq=0)
    b = produce_v8(addr, "idem", rec, pid=pid, epoch=epoch, seq=0)  # a retry
    c = produce_v8(addr, "idem", rec, pid=pid, epoch=epoch, seq=1)  # -1 again: a conflict
    d = produce_v8(addr, "idem", [(b"idem-k", b"v", str(a[1]).encode())], pid=pid, epoch=epoch,
                   seq=1)
    tap(a[0] == 0 and b[:2] == (0, a[1]) and c[0] == INVALID_RECORD and
        c[2] == conflict("idem-k", -1, a[1]) and d[0] == 0 and d[1] == a[1] + 1,
        "a retried conditional batch is its duplicate, not a conflict; a refused one keeps "
        "the sequence")


def check_idempotent(addr):
    create(addr, "idem", **{"weir.key.index": "true"})
    p = Producer({"bootstrap.servers": addr, "enable.idempotence": True, "linger.ms": 0})
    a = send(p, "idem", b"cart", b"1", -1)
    b = send(p, "idem", b"cart", b"2", -1)
    c = send(p, "idem", b"cart", b"3", 0)
    tap(a == (0, 0) and b == (KafkaError.INVALID_MSG, -1) and c == (0, 1) and
        hwm(addr, "idem") == 2, "idempotent producer: a conflict refused, the next append holds")


def txn_send(p, key, expected, commit):
    """One transaction of one conditional record, committed or aborted: (code, offset) of the
    record. A conflict fails the transaction (aborted here). librdkafka then fails the next
    transaction once with OUT_OF_ORDER_SEQUENCE_NUMBER (the refused batch's sequence numbers
    were skipped; the abort bumps the epoch): such a failure is aborted and tried again."""
    for _ in range(3):
        p.begin_transaction()
        r = send(p, "txn", key, b"v", expected)
        try:
            if r[0] != 0:
                raise KafkaException(KafkaError(r[0]))
            p.commit_transaction(T) if commit else p.abort_transaction(T)
            return r
        except KafkaException:
            p.abort_transaction(T)
            if r[0] == KafkaError.INVALID_MSG:
                return r
    return (-1, -1)


def check_transactional(addr):
    create(addr, "txn", **{"weir.key.index": "true"})
    p = Producer({"bootstrap.servers": addr, "transactional.id": "es-txn", "linger.ms": 0})
    p.init_transactions(T)
    a = txn_send(p, b"acct", -1, True)  # acct@0, commit marker @1
    b = txn_send(p, b"acct", -1, True)  # refused; abort marker @2
    tap(a == (0, 0) and b == (KafkaError.INVALID_MSG, -1),
        "transactional producer: committed, then a conflict fails its transaction")
    c = txn_send(p, b"acct", 0, False)  # appended, then aborted
    d = produce_v8(addr, "txn", [(b"acct", b"x", b"0")])
    e = produce_v8(addr, "txn", [(b"acct", b"x", str(c[1]).encode())])
    tap(c[0] == 0 and c[1] > 2 and d[0] == INVALID_RECORD and d[2] == conflict("acct", 0, c[1])
        and e[0] == 0, "an aborted transaction's record stays the key's latest offset "
        "(documented)")
    f = txn_send(p, b"acct", e[1], True)
    tap(f[0] == 0 and f[1] == hwm(addr, "txn") - 2, "and the transactional producer goes on")


def check_kcat(addr):
    def kcat(key, expected):
        return subprocess.run(["kcat", "-b", addr, "-P", "-t", "es", "-p", "0", "-k", key, "-H",
                               "%s=%s" % (H, expected)], input=b"v\n", capture_output=True,
                              timeout=30)
    before = hwm(addr, "es")
    a = kcat("kc", "-1")
    b = kcat("kc", "-1")
    c = kcat("kc", str(before))
    tap(a.returncode == 0 and b.returncode == 1 and c.returncode == 0 and
        hwm(addr, "es") == before + 2, "kcat -H: appended, a conflict exits 1, then appended")


# ---- restarts -------------------------------------------------------------------------------

def last_batch_pos(data, topic):
    """(file, byte position) of the last batch of the partition's newest segment."""
    d = os.path.join(data, topic + "-0")
    f = os.path.join(d, sorted(x for x in os.listdir(d) if x.endswith(".log"))[-1])
    b = open(f, "rb").read()
    pos, last = 0, None
    while pos + 12 <= len(b):
        length = struct.unpack(">i", b[pos + 8:pos + 12])[0]
        if length <= 0:
            break
        last = pos
        pos += 12 + length
    return f, last


def check_restarts(w):
    """w: a Broker; returns the one running at the end."""
    data = w.data
    tap(w.stop() == 0, "the broker stops cleanly (exit 0, no sanitizer report)")
    w = Broker(data=data)
    code, _, errs, _ = produce_v8(w.addr, "es", [(b"order-1", b"x", b"0")])
    code2, base2, _, _ = produce_v8(w.addr, "es", [(b"order-1", b"shipped", b"1")])
    tap(code == INVALID_RECORD and errs == conflict("order-1", 0, 1) and code2 == 0,
        "after a restart: a stale offset is refused, the latest accepted")
    tap("es-0: key index loaded from its snapshot (offsets below %d) and 0 records" % base2
        in broker_log(w), "the clean stop wrote a snapshot of the index, the restart loaded it")
    w.p.send_signal(signal.SIGKILL)
    w.wait()
    w = Broker(data=data)
    code, _, errs, _ = produce_v8(w.addr, "es", [(b"order-1", b"x", b"1")])
    tap(code == INVALID_RECORD and errs == conflict("order-1", 1, base2),
        "after kill -9: the conflict still holds")
    tail = produce_v8(w.addr, "es", [(b"order-1", b"torn", str(base2).encode())])
    w.p.send_signal(signal.SIGKILL)
    w.wait()
    f, pos = last_batch_pos(data, "es")
    with open(f, "r+b") as fh:
        fh.truncate(pos + 30)  # the last batch torn in its header
    # A torn batch is one the disk never got: one the recovery point does not cover yet. The
    # flush after the acks=-1 produce wrote it into weir.recovery-point (docs/storage.md), which
    # would make the cut corruption (the partition refused, loudly); without the file the
    # checkpoint's older recovery point stands, as after a crash before that write.
    os.unlink(os.path.join(data, "es-0", "weir.recovery-point"))
    w = Broker(data=data)
    code, base, _, _ = produce_v8(w.addr, "es", [(b"order-1", b"again", str(base2).encode())])
    tap(tail[0] == 0 and code == 0 and base == tail[1],
        "after kill -9 and a torn last batch: the torn record is not in the index")
    tap("es-0: key index built (no snapshot)" in broker_log(w),
        "after kill -9 (the snapshot was read at the last start): rebuilt from the log")
    # a damaged snapshot: rebuilt, the reason logged, the answers the same
    tap(w.stop() == 0, "the broker stops cleanly again")
    with open(os.path.join(data, "es-0", "weir.key-index"), "r+b") as fh:
        fh.seek(20)
        b = fh.read(1)
        fh.seek(20)
        fh.write(bytes([b[0] ^ 0x40]))
    w = Broker(data=data)
    code, _, errs, _ = produce_v8(w.addr, "es", [(b"order-1", b"x", str(base2).encode())])
    tap(code == INVALID_RECORD and errs == conflict("order-1", base2, base) and
        "es-0: key index built (its snapshot is corrupt (CRC or size))" in broker_log(w) and
        not os.path.exists(os.path.join(data, "es-0", "weir.key-index")),
        "a damaged snapshot: rebuilt with the reason logged, removed, the conflict still exact")
    return w


def broker_log(w):
    with open(os.path.join(w.dir, "stderr"), errors="replace") as f:
        return f.read()


def check_compaction():
    w = Broker("--set", "log.cleaner.backoff.ms=100", prefix="weir-test-es-compact-")
    try:
        create(w.addr, "snap", **{"weir.key.index": "true", "cleanup.policy": "compact",
                                  "segment.bytes": "300", "min.cleanable.dirty.ratio": "0.01",
                                  "delete.retention.ms": "0"})
        latest = -1
        for i in range(20):
            code, latest, _, _ = produce_v8(w.addr, "snap", [(b"acct", b"v%02d" % i,
                                                               str(latest).encode())])
            produce_v8(w.addr, "snap", [(b"other-%d" % i, b"x" * 40, None)])
        for i in range(6):  # so the key's last records leave the active segment
            produce_v8(w.addr, "snap", [(b"filler-%d" % i, b"x" * 40, None)])
        deadline = time.time() + 20
        recs = read_all(w.addr, "snap")
        while time.time() < deadline and len([r for r in recs if r[1] == b"acct"]) > 1:
            time.sleep(0.3)
            recs = read_all(w.addr, "snap")
        acct = [r for r in recs if r[1] == b"acct"]
        tap(len(acct) == 1 and acct[0][0] == latest,
            "compaction kept only the key's latest record (at %d)" % latest)
        code, _, errs, _ = produce_v8(w.addr, "snap", [(b"acct", b"x", b"0")])
        tap(code == INVALID_RECORD and errs == conflict("acct", 0, latest),
            "after compaction a stale offset is still refused")
        data = w.data
        tap(w.stop() == 0, "the compacting broker stops cleanly")
        w = Broker(data=data)
        code, base, _, _ = produce_v8(w.addr, "snap", [(b"acct", b"v", str(latest).encode())])
        tap(code == 0 and base == hwm(w.addr, "snap") - 1,
            "after compaction and a restart the latest offset is accepted")
    finally:
        w.stop()
        w.cleanup()


def http_get(http, path, **query):
    """(status, JSON body) of GET http://http/api/v1/<path>?query."""
    url = "http://%s/api/v1/%s?%s" % (http, path, urllib.parse.urlencode(query))
    try:
        with urllib.request.urlopen(url, timeout=T) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def check_key_offset_api():
    """GET /api/v1/topics/{topic}/key-offset: a key's latest offset from the index."""
    w = Broker("--http-listen", "127.0.0.1:0", prefix="weir-test-es-http-")
    try:
        http = w.p.stdout.readline().split()[-1]
        create(w.addr, "acc", **{"weir.key.index": "true"})
        create(w.addr, "noidx")
        produce_v8(w.addr, "acc", [(b"a/1 x", b"v", b"-1"), (b"b", b"v", None),
                                   (b"a/1 x", b"v", b"0"), (b"b", None, None)])
        got = [http_get(http, "topics/acc/key-offset", partition=0, key=k)
               for k in ("a/1 x", "b", "never")]
        tap(got == [(200, {"topic": "acc", "partition": 0, "key": "a/1 x", "offset": 2}),
                    (200, {"topic": "acc", "partition": 0, "key": "b", "offset": -1}),
                    (200, {"topic": "acc", "partition": 0, "key": "never", "offset": -1})],
            "key-offset: the latest offset, -1 after a tombstone and for an unknown key")
        errs = [http_get(http, "topics/noidx/key-offset", key="a"),
                http_get(http, "topics/gone/key-offset", key="a"),
                http_get(http, "topics/acc/key-offset", partition=3, key="a"),
                http_get(http, "topics/acc/key-offset"),
                http_get(http, "topics/acc/key-offset", partition="x", key="a")]
        chains = [http_get(http, "topics/acc/key-offsets", key=k)[1].get("offsets")
                  for k in ("a/1 x", "b", "never")]
        produce_v8(w.addr, "acc", [(b"b", b"again", b"-1")])  # b's new life starts at 4
        recs = [(b"k%d" % (i % 3), b"e%d" % i, None) for i in range(300)]
        produce_v8(w.addr, "acc", recs)  # offsets 5..304, keys in turn
        k1 = http_get(http, "topics/acc/key-offsets", key="k1")[1]["offsets"]
        k1_last = http_get(http, "topics/acc/key-offsets", key="k1", limit=2)[1]["offsets"]
        b_now = http_get(http, "topics/acc/key-offsets", key="b")[1]["offsets"]
        tap(chains == [[0, 2], [], []] and k1 == list(range(6, 305, 3)) and
            k1_last == [300, 303] and b_now == [4],
            "key-offsets: a key's records oldest first (100 of 300 interleaved), limit keeps "
            "the newest, a tombstone starts a new chain")
        rk = http_get(http, "topics/acc/key-records", key="k1", after=297)
        ra = http_get(http, "topics/acc/key-records", key="a/1 x")
        rerr = [http_get(http, "topics/%s/key-records" % t, key="a")[0] for t in ("noidx", "gone")]
        b64 = base64.b64decode
        tap(rk[0] == 200 and rk[1]["version"] == 303 and
            [(r["offset"], b64(r["value"])) for r in rk[1]["records"]] ==
            [(300, b"e295"), (303, b"e298")] and
            [r["offset"] for r in ra[1]["records"]] == [0, 2] and ra[1]["version"] == 2 and
            [(h["name"], b64(h["value"])) for h in ra[1]["records"][1]["headers"]] ==
            [("weir.expected.offset", b"0")] and rerr == [409, 404],
            "key-records: the key's records past 'after' with their exact bytes and headers "
            "(base64) and its version; 409 without key index, 404 for a missing topic")
        cli = [subprocess.run([WEIR, "-b", w.addr, "consume", "acc", "--key", key, "--admin",
                               "http://" + http, "-f", "%o %k %v\n"] + extra,
                              capture_output=True, timeout=60)
               for key, extra in (("k1", []), ("k1", ["-n", "2"]), ("never", []))]
        want = "".join("%d k1 e%d\n" % (5 + i, i) for i in range(1, 300, 3))
        tap([c.returncode for c in cli] == [0, 0, 0] and cli[0].stdout.decode() == want and
            cli[1].stdout.decode() == "300 k1 e295\n303 k1 e298\n" and cli[2].stdout == b"",
            "weir consume --key: the key's 100 records exactly, -n 2 the newest two, none for "
            "an unknown key")
        bad = [subprocess.run([WEIR, "-b", w.addr, "consume", t, "--key", "k", "--admin",
                               "http://" + http], capture_output=True, timeout=60)
               for t in ("noidx", "gone")]
        tap([c.returncode for c in bad] == [1, 3] and
            bad[0].stderr.decode() == "weir consume: topic 'noidx' has no key index "
            "(weir.key.index=true)\n", "weir consume --key: exit 1 without key index, 3 for a "
            "missing topic, with the API's message")
        tap([e[0] for e in errs] == [409, 404, 404, 400, 400] and
            errs[0][1]["message"] == "topic 'noidx' has no key index (weir.key.index=true)" and
            errs[3][1]["message"] == "the query argument 'key' is required",
            "key-offset: 409 without key index, 404 for a missing topic or partition, 400 for "
            "bad arguments")
        data = w.data
        tap(w.stop() == 0, "the HTTP broker stops cleanly")
        w = Broker("--http-listen", "127.0.0.1:0", data=data)
        http = w.p.stdout.readline().split()[-1]
        after = [http_get(http, "topics/acc/key-offsets", key=k)[1].get("offsets")
                 for k in ("a/1 x", "b", "k1")]
        tap(after == [[0, 2], [4], list(range(6, 305, 3))],
            "key-offsets after a restart: the chain rebuilt from the log is the same")
    finally:
        w.stop()
        w.cleanup()


def main():
    t0 = time.time()
    w = Broker(prefix="weir-test-event-store-")
    try:
        check_config(w.addr)
        check_raw(w.addr)
        check_batches(w.addr)
        check_alter(w.addr)
        check_kcat(w.addr)
        check_idempotent(w.addr)
        check_idempotent_raw(w.addr)
        check_transactional(w.addr)
        check_race(w.addr)
        w = check_restarts(w)
    except Exception:
        tap(False, "no exception: " + traceback.format_exc().replace("\n", " | "))
    finally:
        rc = w.stop()
        w.cleanup()
    tap(rc == 0, "the restarted broker stops cleanly")
    try:
        check_key_offset_api()
    except Exception:
        tap(False, "no exception: " + traceback.format_exc().replace("\n", " | "))
    try:
        check_compaction()
    except Exception:
        tap(False, "no exception: " + traceback.format_exc().replace("\n", " | "))
    print("# %.1f s" % (time.time() - t0))
    tap.finish()


if __name__ == "__main__":
    main()
