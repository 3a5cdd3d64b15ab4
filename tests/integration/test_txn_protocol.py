"""The transaction APIs at the byte level, against `weir serve` on port 0, with Kafka's error
codes: InitProducerId (v1, v3, v4: transactional ids, epoch bumps, KIP-360, bad timeouts and
ids, a 32,000-character id), AddPartitionsToTxn (v1, v2, v3, v4 with verify_only: unknown
producers, fencing and its pre-KIP-588 code, unknown partitions with OPERATION_NOT_ATTEMPTED),
Produce of transactional batches (a partition not in the transaction, no producer id, a plain
batch in the middle of a transaction), EndTxn (out of order, duplicates, fencing), Fetch
read_committed (data only below the LSO, the aborted_transactions list), ListOffsets with
isolation, DescribeTransactions, ListTransactions (state, producer and duration filters, unknown
states), DescribeProducers (the open transaction's start offset), WriteTxnMarkers (aborting a
hanging transaction as kafka-transactions.sh does), and a restart that keeps all of it. TAP."""
import os
import socket
import struct
import sys
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_wire  # noqa: E402
from kafka_wire import TAGS, arr, carr, crc32c, cstr, s16, uvarint, varint  # noqa: E402

NONE, UNKNOWN_TOPIC, INVALID_REQUEST = 0, 3, 42
CONCURRENT, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE = 51, 47, 48
INVALID_PID_MAPPING, INVALID_TXN_TIMEOUT, OPERATION_NOT_ATTEMPTED = 49, 50, 55
PRODUCER_FENCED, TXN_ID_NOT_FOUND, INVALID_RECORD = 90, 105, 87
UNSTABLE, UNKNOWN_MEMBER = 88, 25
tap = kafka_wire.Tap()


class R:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        assert len(v) == n, "short response"
        self.p += n
        return v

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def uvar(self):
        v = s = 0
        while True:
            x = self.take(1)[0]
            v |= (x & 0x7F) << s
            s += 7
            if x < 0x80:
                return v

    def str(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def cstr(self):
        n = self.uvar() - 1
        return None if n < 0 else self.take(n).decode()

    def carr_len(self): return self.uvar() - 1

    def tags(self):
        for _ in range(self.uvar()):
            self.uvar()
            self.take(self.uvar())

    def bytes(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def left(self): return len(self.b) - self.p


class Conn:
    def __init__(self, addr):
        h, p = addr.rsplit(":", 1)
        self.s = socket.create_connection((h, int(p)), timeout=15)
        self.corr = 0

    def req(self, key, ver, body, flex=False):
        self.corr += 1
        hdr = struct.pack(">hhi", key, ver, self.corr) + s16("txn-test") + (TAGS if flex else b"")
        m = hdr + body
        self.s.sendall(struct.pack(">i", len(m)) + m)
        n = struct.unpack(">i", self._read(4))[0]
        d = self._read(n)
        assert struct.unpack(">i", d[:4])[0] == self.corr
        r = R(d[4:])
        if flex:
            r.tags()
        return r

    def _read(self, n):
        d = b""
        while len(d) < n:
            x = self.s.recv(n - len(d))
            if not x:
                raise EOFError("connection closed")
            d += x
        return d


# ---- requests -----------------------------------------------------------------------------

def init_pid(c, tid, timeout=60000, ver=1, pid=-1, epoch=-1):
    if ver >= 2:
        body = cstr(tid) + struct.pack(">i", timeout)
        if ver >= 3:
            body += struct.pack(">qh", pid, epoch)
        r = c.req(22, ver, body + TAGS, flex=True)
    else:
        t = s16(tid) if tid is not None else struct.pack(">h", -1)
        r = c.req(22, ver, t + struct.pack(">i", timeout))
    r.i32()
    return r.i16(), r.i64(), r.i16()


def add_parts(c, tid, pid, epoch, parts, ver=1):
    topics = {}
    for t, p in parts:
        topics.setdefault(t, []).append(p)
    if ver >= 3:
        body = cstr(tid) + struct.pack(">qh", pid, epoch)
        body += carr([cstr(t) + carr([struct.pack(">i", p) for p in ps]) + TAGS
                      for t, ps in topics.items()]) + TAGS
        r = c.req(24, ver, body, flex=True)
    else:
        body = s16(tid) + struct.pack(">qh", pid, epoch)
        body += arr([s16(t) + arr([struct.pack(">i", p) for p in ps])
                     for t, ps in topics.items()])
        r = c.req(24, ver, body)
    r.i32()
    out = {}
    if ver >= 3:
        for _ in range(r.carr_len()):
            t = r.cstr()
            for _ in range(r.carr_len()):
                p = r.i32()
                out[(t, p)] = r.i16()
                r.tags()
            r.tags()
    else:
        for _ in range(r.i32()):
            t = r.str()
            for _ in range(r.i32()):
                p = r.i32()
                out[(t, p)] = r.i16()
    return out


def add_parts_v4(c, txns):
    """txns: [(tid, pid, epoch, verify_only, [(topic, part)])] -> (top error, {tid: {tp: err}})."""
    items = []
    for tid, pid, epoch, verify, parts in txns:
        topics = {}
        for t, p in parts:
            topics.setdefault(t, []).append(p)
        items.append(cstr(tid) + struct.pack(">qhb", pid, epoch, 1 if verify else 0) +
                     carr([cstr(t) + carr([struct.pack(">i", p) for p in ps]) + TAGS
                           for t, ps in topics.items()]) + TAGS)
    r = c.req(24, 4, carr(items) + TAGS, flex=True)
    r.i32()
    top = r.i16()
    out = {}
    for _ in range(r.carr_len()):
        tid = r.cstr()
        res = out.setdefault(tid, {})
        for _ in range(r.carr_len()):
            t = r.cstr()
            for _ in range(r.carr_len()):
                p = r.i32()
                res[(t, p)] = r.i16()
                r.tags()
            r.tags()
        r.tags()
    return top, out


def end_txn(c, tid, pid, epoch, commit, ver=1):
    if ver >= 3:
        r = c.req(26, ver, cstr(tid) + struct.pack(">qhb", pid, epoch, commit) + TAGS, flex=True)
    else:
        r = c.req(26, ver, s16(tid) + struct.pack(">qhb", pid, epoch, commit))
    r.i32()
    return r.i16()


def record(i, value):
    body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(value)) + value + varint(0)
    return varint(len(body)) + body


def batch(values, pid=-1, epoch=-1, seq=-1, txn=False, ts=1700000000000):
    recs = b"".join(record(i, v) for i, v in enumerate(values))
    attrs = 0x10 if txn else 0
    after = struct.pack(">hiqqqhii", attrs, len(values) - 1, ts, ts, pid, epoch, seq,
                        len(values)) + recs
    rest = struct.pack(">ibI", -1, 2, crc32c(after)) + after
    return struct.pack(">qi", 0, len(rest)) + rest


def produce(c, topic, part, records, tid=None):
    t = s16(tid) if tid is not None else struct.pack(">h", -1)
    body = t + struct.pack(">hi", -1, 10000)
    body += arr([s16(topic) + arr([struct.pack(">i", part) + struct.pack(">i", len(records)) +
                                   records])])
    r = c.req(0, 3, body)
    r.i32(), r.str(), r.i32(), r.i32()
    return r.i16(), r.i64()


def fetch(c, topic, part, offset, iso):
    body = struct.pack(">iiiib", -1, 0, 1, 1 << 20, iso)
    body += arr([s16(topic) + arr([struct.pack(">iqqi", part, offset, -1, 1 << 20)])])
    r = c.req(1, 5, body)
    r.i32()
    r.i32(), r.str(), r.i32()
    p, err, hwm, lso, start = r.i32(), r.i16(), r.i64(), r.i64(), r.i64()
    na = r.i32()
    aborted = [(r.i64(), r.i64()) for _ in range(max(na, 0))]
    recs = r.bytes() or b""
    return dict(err=err, hwm=hwm, lso=lso, aborted=aborted if na >= 0 else None,
                batches=batches(recs))


def batches(recs):
    out, p = [], 0
    while p + 61 <= len(recs):
        base, ln = struct.unpack(">qi", recs[p:p + 12])
        attrs, lod = struct.unpack(">hi", recs[p + 21:p + 27])
        pid = struct.unpack(">q", recs[p + 43:p + 51])[0]
        out.append((base, base + lod, attrs, pid))
        p += 12 + ln
    return out


def list_offsets(c, topic, part, ts, iso):
    body = struct.pack(">ib", -1, iso) + arr([s16(topic) + arr([struct.pack(">iq", part, ts)])])
    r = c.req(2, 2, body)
    r.i32(), r.i32(), r.str(), r.i32()
    r.i32()
    return r.i16(), r.i64(), r.i64()


def describe_txns(c, tids):
    r = c.req(65, 0, carr([cstr(t) for t in tids]) + TAGS, flex=True)
    r.i32()
    out = {}
    for _ in range(r.carr_len()):
        err, tid, state, tmo, start, pid, epoch = (r.i16(), r.cstr(), r.cstr(), r.i32(), r.i64(),
                                                   r.i64(), r.i16())
        parts = []
        for _ in range(r.carr_len()):
            t = r.cstr()
            parts += [(t, r.i32()) for _ in range(r.carr_len())]
            r.tags()
        r.tags()
        out[tid] = dict(err=err, state=state, timeout=tmo, start=start, pid=pid, epoch=epoch,
                        parts=sorted(parts))
    return out


def list_txns(c, states=(), pids=(), duration=None):
    body = carr([cstr(s) for s in states]) + carr([struct.pack(">q", p) for p in pids])
    ver = 0
    if duration is not None:
        body += struct.pack(">q", duration)
        ver = 1
    r = c.req(66, ver, body + TAGS, flex=True)
    r.i32()
    err = r.i16()
    unknown = [r.cstr() for _ in range(r.carr_len())]
    txns = []
    for _ in range(r.carr_len()):
        txns.append((r.cstr(), r.i64(), r.cstr()))
        r.tags()
    return err, unknown, sorted(txns)


def describe_producers(c, topic, part):
    r = c.req(61, 0, carr([cstr(topic) + carr([struct.pack(">i", part)]) + TAGS]) + TAGS,
              flex=True)
    r.i32()
    out = []
    for _ in range(r.carr_len()):
        r.cstr()
        for _ in range(r.carr_len()):
            idx, err, msg = r.i32(), r.i16(), r.cstr()
            prods = []
            for _ in range(r.carr_len()):
                prods.append(dict(pid=r.i64(), epoch=r.i32(), seq=r.i32(), ts=r.i64(),
                                  coord_epoch=r.i32(), start=r.i64()))
                r.tags()
            r.tags()
            out.append((idx, err, prods))
        r.tags()
    return out


def write_markers(c, pid, epoch, commit, topic, part, coord_epoch=0):
    body = carr([struct.pack(">qhb", pid, epoch, commit) +
                 carr([cstr(topic) + carr([struct.pack(">i", part)]) + TAGS]) +
                 struct.pack(">i", coord_epoch) + TAGS]) + TAGS
    r = c.req(27, 1, body, flex=True)
    out = {}
    for _ in range(r.carr_len()):
        p = r.i64()
        for _ in range(r.carr_len()):
            t = r.cstr()
            for _ in range(r.carr_len()):
                q = r.i32()
                out[(p, t, q)] = r.i16()
                r.tags()
            r.tags()
        r.tags()
    return out


def find_txn_coordinator(c, tid):
    r = c.req(10, 3, cstr(tid) + b"\x01" + TAGS, flex=True)
    r.i32()
    err = r.i16()
    r.cstr()
    return err, r.i32(), r.cstr(), r.i32()


def add_offsets(c, tid, pid, epoch, group):
    r = c.req(25, 0, s16(tid) + struct.pack(">qh", pid, epoch) + s16(group))
    r.i32()
    return r.i16()


def txn_offset_commit(c, tid, group, pid, epoch, offsets, ver=3, gen=-1, member=""):
    """offsets: [(topic, partition, offset, metadata)] -> {(topic, partition): error}"""
    topics = {}
    for t, p, o, m in offsets:
        topics.setdefault(t, []).append((p, o, m))
    if ver >= 3:
        body = cstr(tid) + cstr(group) + struct.pack(">qhi", pid, epoch, gen) + cstr(member)
        body += b"\x00"  # group_instance_id null
        body += carr([cstr(t) + carr([struct.pack(">iqi", p, o, -1) + cstr(m) + TAGS
                                      for p, o, m in ps]) + TAGS for t, ps in topics.items()])
        r = c.req(28, ver, body + TAGS, flex=True)
    else:
        body = s16(tid) + s16(group) + struct.pack(">qh", pid, epoch)
        body += arr([s16(t) + arr([struct.pack(">iq", p, o) + s16(m) for p, o, m in ps])
                     for t, ps in topics.items()])
        r = c.req(28, ver, body)
    r.i32()
    out = {}
    flex = ver >= 3
    for _ in range(r.carr_len() if flex else r.i32()):
        t = r.cstr() if flex else r.str()
        for _ in range(r.carr_len() if flex else r.i32()):
            p = r.i32()
            out[(t, p)] = r.i16()
            if flex:
                r.tags()
        if flex:
            r.tags()
    return out


def offset_fetch(c, group, topic, parts, stable):
    """OffsetFetch v7 -> {partition: (offset, metadata, error)}"""
    body = cstr(group) + carr([cstr(topic) + carr([struct.pack(">i", p) for p in parts]) + TAGS])
    r = c.req(9, 7, body + struct.pack(">b", 1 if stable else 0) + TAGS, flex=True)
    r.i32()
    out = {}
    for _ in range(r.carr_len()):
        r.cstr()
        for _ in range(r.carr_len()):
            p, o = r.i32(), r.i64()
            r.i32()
            m = r.cstr()
            out[p] = (o, m, r.i16())
            r.tags()
        r.tags()
    assert r.i16() == 0
    return out


def offset_commit(c, group, topic, part, offset):
    body = cstr(group) + struct.pack(">i", -1) + cstr("") + b"\x00"
    body += carr([cstr(topic) + carr([struct.pack(">iqi", part, offset, -1) + cstr("") + TAGS])
                  + TAGS])
    r = c.req(8, 8, body + TAGS, flex=True)
    r.i32()
    r.carr_len()
    r.cstr()
    r.carr_len()
    r.i32()
    return r.i16()


def create_topic(c, name, nparts):
    body = arr([s16(name) + struct.pack(">ih", nparts, 1) + arr([]) + arr([])])
    body += struct.pack(">ib", 10000, 0)
    r = c.req(19, 2, body)
    r.i32(), r.i32()
    r.str()
    return r.i16()


# ---- the test -----------------------------------------------------------------------------

def run(b):
    c = Conn(b.addr)
    tap(create_topic(c, "tx", 2) == 0 and create_topic(c, "other", 1) == 0, "topics created")

    # InitProducerId
    err, pid, epoch = init_pid(c, "t1")
    tap(err == NONE and pid >= 0 and epoch == 0, "InitProducerId v1: a producer id, epoch 0")
    err2, pid2, epoch2 = init_pid(c, "t1")
    tap((err2, pid2, epoch2) == (NONE, pid, 1), "again: the same id, epoch 1 (fences epoch 0)")
    tap(init_pid(c, "t1", timeout=900001)[0] == INVALID_TXN_TIMEOUT and
        init_pid(c, "t1", timeout=0)[0] == INVALID_TXN_TIMEOUT,
        "timeout above transaction.max.timeout.ms or 0: INVALID_TRANSACTION_TIMEOUT")
    tap(init_pid(c, "", ver=2)[0] == INVALID_REQUEST, "an empty transactional id: INVALID_REQUEST")
    tap(init_pid(c, "t1", ver=3, pid=pid, epoch=-1)[0] == INVALID_REQUEST,
        "v3 with a producer id but no epoch: INVALID_REQUEST")
    err, p3, e3 = init_pid(c, "t1", ver=4, pid=pid, epoch=1)
    tap((err, p3, e3) == (NONE, pid, 2), "v4 KIP-360: the current id and epoch bump it (2)")
    tap(init_pid(c, "t1", ver=4, pid=pid + 999, epoch=2)[0] == PRODUCER_FENCED,
        "v4 with another producer id: PRODUCER_FENCED")
    tap(init_pid(c, "t1", ver=3, pid=pid + 999, epoch=2)[0] == INVALID_PRODUCER_EPOCH,
        "v3 with another producer id: INVALID_PRODUCER_EPOCH (before KIP-588)")
    long_id = "x" * 32000
    err, lp, le = init_pid(c, long_id, ver=2)
    tap(err == NONE and le == 0, "a 32,000-character transactional id works")
    idem = init_pid(c, None)
    tap(idem[0] == NONE and idem[2] == 0 and idem[1] not in (pid, lp),
        "no transactional id: a fresh idempotent producer id")
    epoch = 2

    # AddPartitionsToTxn
    tap(add_parts(c, "nobody", pid, epoch, [("tx", 0)]) == {("tx", 0): INVALID_PID_MAPPING},
        "an unknown transactional id: INVALID_PRODUCER_ID_MAPPING")
    tap(add_parts(c, "t1", pid, 1, [("tx", 0)]) == {("tx", 0): INVALID_PRODUCER_EPOCH},
        "an old epoch, v1: INVALID_PRODUCER_EPOCH")
    tap(add_parts(c, "t1", pid, 1, [("tx", 0)], ver=2) == {("tx", 0): PRODUCER_FENCED},
        "an old epoch, v2: PRODUCER_FENCED")
    r = add_parts(c, "t1", pid, epoch, [("tx", 0), ("tx", 9), ("nope", 0)])
    tap(r == {("tx", 0): OPERATION_NOT_ATTEMPTED, ("tx", 9): UNKNOWN_TOPIC,
              ("nope", 0): UNKNOWN_TOPIC},
        "an unknown partition fails the request; the others OPERATION_NOT_ATTEMPTED: %s" % r)
    d = describe_txns(c, ["t1"])["t1"]
    tap(d["state"] == "Empty" and d["parts"] == [], "and nothing was added (Empty)")
    r = add_parts(c, "t1", pid, epoch, [("tx", 0)], ver=3)
    tap(r == {("tx", 0): NONE}, "AddPartitionsToTxn v3: tx-0 added")
    top, res = add_parts_v4(c, [("t1", pid, epoch, True, [("tx", 0), ("tx", 1)])])
    tap(top == NONE and res == {"t1": {("tx", 0): NONE, ("tx", 1): 120}},
        "v4 verify_only: tx-0 is in the transaction, tx-1 is not (TRANSACTION_ABORTABLE, as "
        "Kafka 4.4 answers): %s" % res)

    # Produce
    err, _ = produce(c, "tx", 1, batch([b"x"], pid, epoch, 0, txn=True), tid="t1")
    tap(err == INVALID_TXN_STATE, "a transactional batch for a partition not added: "
        "INVALID_TXN_STATE (%d)" % err)
    err, _ = produce(c, "tx", 0, batch([b"x"], txn=True), tid="t1")
    tap(err in (INVALID_RECORD, 2), "a transactional batch without a producer id is refused "
        "(%d)" % err)
    produce(c, "tx", 0, batch([b"plain-0"]))  # offset 0, plain
    err, base = produce(c, "tx", 0, batch([b"c1", b"c2"], pid, epoch, 0, txn=True), tid="t1")
    tap((err, base) == (NONE, 1), "transactional batch appended at 1")
    err, _ = produce(c, "tx", 0, batch([b"plain"], pid, epoch, 2), tid="t1")
    tap(err == INVALID_TXN_STATE, "a plain batch from a producer mid-transaction: "
        "INVALID_TXN_STATE")
    produce(c, "tx", 0, batch([b"plain-3"]))  # offset 3
    f = fetch(c, "tx", 0, 0, 1)
    tap(f["lso"] == 1 and f["hwm"] == 4 and [x[0] for x in f["batches"]] == [0],
        "read_committed: LSO 1 (the open transaction), only offset 0 returned: %s" % f)
    tap(list_offsets(c, "tx", 0, -1, 1)[2] == 1 and list_offsets(c, "tx", 0, -1, 0)[2] == 4,
        "ListOffsets latest: 1 read_committed, 4 read_uncommitted")
    f = fetch(c, "tx", 0, 0, 0)
    tap([x[0] for x in f["batches"]] == [0, 1, 3], "read_uncommitted sees everything")
    dp = describe_producers(c, "tx", 0)
    prod = [p for p in dp[0][2] if p["pid"] == pid]
    tap(dp[0][1] == NONE and prod and prod[0]["start"] == 1 and prod[0]["epoch"] == epoch and
        prod[0]["seq"] == 1, "DescribeProducers: the producer, its open transaction at 1: %s"
        % prod)
    d = describe_txns(c, ["t1", "nobody"])
    tap(d["t1"]["state"] == "Ongoing" and d["t1"]["parts"] == [("tx", 0)] and
        d["t1"]["pid"] == pid and d["t1"]["epoch"] == epoch and d["t1"]["start"] > 0 and
        d["nobody"]["err"] == TXN_ID_NOT_FOUND,
        "DescribeTransactions: Ongoing with tx-0; an unknown id TRANSACTIONAL_ID_NOT_FOUND")

    # EndTxn
    tap(end_txn(c, "t1", pid + 1, epoch, True) == INVALID_PID_MAPPING,
        "EndTxn with another producer id: INVALID_PRODUCER_ID_MAPPING")
    tap(end_txn(c, "t1", pid, 1, True) == INVALID_PRODUCER_EPOCH and
        end_txn(c, "t1", pid, 1, True, ver=2) == PRODUCER_FENCED,
        "EndTxn with an old epoch: INVALID_PRODUCER_EPOCH (v1), PRODUCER_FENCED (v2)")
    tap(end_txn(c, "t1", pid, epoch, False) == NONE, "EndTxn abort")
    time.sleep(0.3)
    tap(end_txn(c, "t1", pid, epoch, False, ver=3) == NONE, "a repeated abort: NONE")
    tap(end_txn(c, "t1", pid, epoch, True) == INVALID_TXN_STATE,
        "commit after an abort: INVALID_TXN_STATE")
    f = fetch(c, "tx", 0, 0, 1)
    bs = f["batches"]
    tap(f["lso"] == f["hwm"] == 5 and f["aborted"] == [(pid, 1)] and
        [x[0] for x in bs] == [0, 1, 3, 4] and bs[3][2] == 0x30,
        "read_committed after the abort: LSO 5, aborted_transactions [(pid, 1)], the marker "
        "at 4: %s" % f)
    f = fetch(c, "tx", 0, 3, 1)
    tap(f["aborted"] == [(pid, 1)], "a fetch from 3 still lists it (its marker is at 4)")
    f = fetch(c, "tx", 0, 5, 1)
    tap(f["aborted"] == [] and f["batches"] == [], "a fetch from the end lists nothing")
    tap(add_parts(c, "t1", pid, epoch, [("tx", 0), ("other", 0)]) ==
        {("tx", 0): NONE, ("other", 0): NONE}, "a second transaction on two topics")
    produce(c, "tx", 0, batch([b"k1"], pid, epoch, 2, txn=True), tid="t1")
    produce(c, "other", 0, batch([b"k2"], pid, epoch, 0, txn=True), tid="t1")
    tap(end_txn(c, "t1", pid, epoch, True) == NONE, "EndTxn commit")
    time.sleep(0.3)
    tap(end_txn(c, "t1", pid, epoch, True) == NONE and
        end_txn(c, "t1", pid, epoch, False) == INVALID_TXN_STATE,
        "a repeated commit: NONE; an abort after it: INVALID_TXN_STATE")
    f = fetch(c, "tx", 0, 5, 1)
    tap(f["aborted"] == [] and [x[0] for x in f["batches"]] == [5, 6] and f["lso"] == 7,
        "the committed batch and its marker are read_committed")

    # ListTransactions
    init_pid(c, "t2")
    _, p2, e2 = init_pid(c, "t2")
    add_parts(c, "t2", p2, e2, [("tx", 1)])
    err, unknown, txns = list_txns(c)
    ids = [t[0] for t in txns]
    tap(err == NONE and unknown == [] and ids == sorted(["t1", "t2", long_id]),
        "ListTransactions: all three ids")
    err, unknown, txns = list_txns(c, states=["Ongoing", "Bogus"])
    tap(unknown == ["Bogus"] and txns == [("t2", p2, "Ongoing")],
        "state filter: t2 Ongoing; Bogus listed as unknown: %s %s" % (unknown, txns))
    tap(list_txns(c, pids=[pid])[2] == [("t1", pid, "CompleteCommit")], "producer id filter")
    time.sleep(1.1)
    tap([t[0] for t in list_txns(c, states=["Ongoing"], duration=1000)[2]] == ["t2"] and
        list_txns(c, states=["Ongoing"], duration=600000)[2] == [],
        "v1 duration filter: open longer than 1 s yes, than 10 min no")

    # consumer offsets inside a transaction (TxnOffsetCommit)
    err, node, host, port = find_txn_coordinator(c, "t3")
    tap(err == NONE and node >= 0 and port == int(b.addr.rsplit(":", 1)[1]),
        "FindCoordinator v3 key type 1 (transaction): this node")
    _, p3, e3 = init_pid(c, "t3")
    tap(txn_offset_commit(c, "t3", "g1", p3, e3, [("tx", 0, 5, "m")]) ==
        {("tx", 0): INVALID_TXN_STATE},
        "TxnOffsetCommit before AddOffsetsToTxn: INVALID_TXN_STATE")
    tap(add_offsets(c, "t3", p3, e3, "g1") == NONE, "AddOffsetsToTxn v0")
    tap(txn_offset_commit(c, "t3", "g1", p3, e3, [("tx", 0, 5, "m")]) == {("tx", 0): NONE} and
        txn_offset_commit(c, "t3", "g1", p3, e3, [("tx", 1, 7, "")], ver=0) ==
        {("tx", 1): NONE}, "TxnOffsetCommit v3 and v0 (generation -1: any group state)")
    tap(txn_offset_commit(c, "t3", "g1", p3, e3 - 1 if e3 else 99, [("tx", 0, 6, "")]) ==
        {("tx", 0): INVALID_PRODUCER_EPOCH}, "TxnOffsetCommit with another epoch: "
        "INVALID_PRODUCER_EPOCH")
    tap(txn_offset_commit(c, "t3", "g1", p3, e3, [("tx", 9, 6, ""), ("nope", 0, 1, "")]) ==
        {("tx", 9): UNKNOWN_TOPIC, ("nope", 0): UNKNOWN_TOPIC},
        "TxnOffsetCommit of unknown partitions: UNKNOWN_TOPIC_OR_PARTITION")
    tap(txn_offset_commit(c, "t3", "g1", p3, e3, [("tx", 0, 5, "")], gen=3, member="m-1") ==
        {("tx", 0): UNKNOWN_MEMBER}, "naming a member the group does not have: "
        "UNKNOWN_MEMBER_ID")
    tap(offset_fetch(c, "g1", "tx", [0, 1], True) == {0: (-1, "", UNSTABLE),
                                                      1: (-1, "", UNSTABLE)} and
        offset_fetch(c, "g1", "tx", [0, 1], False) == {0: (-1, "", NONE), 1: (-1, "", NONE)},
        "OffsetFetch require_stable: UNSTABLE_OFFSET_COMMIT while pending; without it the "
        "last committed (none)")
    tap(list_offsets(c, "__consumer_offsets", 0, -1, 1)[2] <
        list_offsets(c, "__consumer_offsets", 0, -1, 0)[2],
        "__consumer_offsets' LSO stays below its end while the commit is pending")
    tap(end_txn(c, "t3", p3, e3, True) == NONE, "EndTxn commit")
    time.sleep(0.3)
    tap(offset_fetch(c, "g1", "tx", [0, 1], True) == {0: (5, "m", NONE), 1: (7, "", NONE)},
        "after the commit marker: the offsets are the group's (5 with its metadata, 7)")
    tap(list_offsets(c, "__consumer_offsets", 0, -1, 1)[2] ==
        list_offsets(c, "__consumer_offsets", 0, -1, 0)[2], "__consumer_offsets is stable")
    add_offsets(c, "t3", p3, e3, "g1")
    txn_offset_commit(c, "t3", "g1", p3, e3, [("tx", 0, 50, "")])
    tap(end_txn(c, "t3", p3, e3, False) == NONE, "a transaction with offset 50, aborted")
    time.sleep(0.3)
    tap(offset_fetch(c, "g1", "tx", [0], True) == {0: (5, "m", NONE)},
        "the aborted offset never reaches the group (still 5)")
    add_offsets(c, "t3", p3, e3, "g1")
    txn_offset_commit(c, "t3", "g1", p3, e3, [("tx", 0, 60, "")])
    tap(offset_commit(c, "g1", "tx", 0, 70) == NONE, "a plain commit of 70 while 60 is pending")
    end_txn(c, "t3", p3, e3, True)
    time.sleep(0.3)
    tap(offset_fetch(c, "g1", "tx", [0], True) == {0: (70, "", NONE)},
        "the newer plain commit wins over the transaction's older one")
    add_offsets(c, "t3", p3, e3, "g1")
    tap(txn_offset_commit(c, "t3", "g1", p3, e3, [("tx", 1, 90, "r")]) == {("tx", 1): NONE},
        "offset 90 left pending in an open transaction across the restart")

    # a hanging transaction aborted with WriteTxnMarkers (kafka-transactions.sh abort)
    produce(c, "tx", 1, batch([b"h"], p2, e2, 0, txn=True), tid="t2")
    tap(fetch(c, "tx", 1, 0, 1)["lso"] == 0, "t2 holds tx-1 at LSO 0")
    r = write_markers(c, p2, e2, False, "tx", 1)
    tap(r == {(p2, "tx", 1): NONE}, "WriteTxnMarkers v1 abort: NONE")
    f = fetch(c, "tx", 1, 0, 1)
    tap(f["lso"] == f["hwm"] == 2 and f["aborted"] == [(p2, 0)],
        "tx-1 is readable past it, the batch listed as aborted: %s" % f)
    r = write_markers(c, p2, e2, False, "nope", 0)
    tap(r == {(p2, "nope", 0): UNKNOWN_TOPIC}, "a marker for an unknown partition")
    c.s.close()


def after_restart(b, pid):
    c = Conn(b.addr)
    d = describe_txns(c, ["t1", "t2"])
    tap(d["t1"]["state"] == "CompleteCommit" and d["t2"]["state"] == "Ongoing",
        "after a restart: t1 CompleteCommit, t2 still Ongoing (its coordinator never ended "
        "it): %s" % d)
    f = fetch(c, "tx", 0, 0, 1)
    tap(f["aborted"] == [(pid, 1)] and f["lso"] == f["hwm"] == 7,
        "tx-0's aborted index and LSO survive the restart: %s" % f)
    r = init_pid(c, "t1")
    tap(r[1] == pid and r[2] == 3, "t1's next epoch is 3: %s" % (r,))
    tap(offset_fetch(c, "g1", "tx", [0, 1], True) == {0: (70, "", NONE), 1: (-1, "", UNSTABLE)},
        "g1 after the restart: tx-0 at 70, tx-1 still pending (UNSTABLE_OFFSET_COMMIT)")
    p3 = describe_txns(c, ["t3"])["t3"]
    tap(end_txn(c, "t3", p3["pid"], p3["epoch"], True) == NONE, "t3 committed after the restart")
    time.sleep(0.3)
    tap(offset_fetch(c, "g1", "tx", [0, 1], True) == {0: (70, "", NONE), 1: (90, "r", NONE)},
        "its offset 90 reaches g1")
    c.s.close()


def main():
    b = kafka_wire.Broker()
    pid = None
    try:
        c = Conn(b.addr)
        create_topic(c, "warm", 1)
        c.s.close()
        run(b)
        c = Conn(b.addr)
        pid = describe_txns(c, ["t1"])["t1"]["pid"]
        c.s.close()
        tap(b.stop() == 0, "clean stop")
        b2 = kafka_wire.Broker("--data-dir", b.data)
        try:
            after_restart(b2, pid)
        finally:
            tap(b2.stop() == 0, "clean stop after the restart")
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        tap(False, "the test ran to its end")
        b.terminate()
        b.wait()
    finally:
        b.cleanup()
    tap.finish()


if __name__ == "__main__":
    main()
