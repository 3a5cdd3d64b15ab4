"""# timeout: 120
Client quotas: AlterClientQuotas / DescribeClientQuotas 0 and 1 over the wire (the kafka_wire
codec: confluent-kafka has no client-quota admin calls), their bad input answered with Kafka's
INVALID_REQUEST / UNSUPPORTED_VERSION and messages, quotas kept across a kill -9, and
enforcement seen by real clients (confluent-kafka): a producer and a consumer over their
byte-rate quota get throttle_cb calls with a non-zero throttle time and their rate over the
steady part of a few seconds stays within 35% of the quota, while a client id without a quota
is never throttled; a request_percentage quota mutes its client's connection; an ip's
connection_creation_rate closes the connections over it; a SASL user's quota applies to that
principal only (a second broker with a SASL_PLAINTEXT listener). Starts its own
`weir serve` on port 0 with quota.window.num=3, quota.window.size.seconds=1. TAP."""
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_wire  # noqa: E402
from kafka_wire.client import E, Conn  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

WEIR = kafka_wire.WEIR
tap = kafka_wire.Tap()
W = tempfile.mkdtemp(prefix="weir-quotas-")
QUOTA = 64 * 1024  # bytes per second


def start():
    p = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(W, "data"),
                          "--listen", "127.0.0.1:0", "--http-listen", "off",
                          "--set", "quota.window.num=3", "--set", "quota.window.size.seconds=1"],
                         stdout=subprocess.PIPE, stderr=open(os.path.join(W, "err"), "a"),
                         text=True)
    line = p.stdout.readline()
    assert line.startswith("listening on "), line
    return p, line.split()[-1]


def f64(v):
    return struct.pack(">d", v)


def alter(addr, entries, validate_only=False, ver=1):
    """entries: [([(type, name)], [(key, value, remove)])] -> [(code, msg, [(type, name)])]"""
    e = E(ver >= 1)
    body = e.arr([e.arr([e.str(t) + e.str(n) + e.tags() for t, n in ent]) +
                  e.arr([e.str(k) + f64(v) + e.bool(rm) + e.tags() for k, v, rm in ops]) +
                  e.tags() for ent, ops in entries]) + e.bool(validate_only) + e.tags()
    c = Conn(addr)
    r = c.req(49, ver, body, flex=ver >= 1)
    c.close()
    r.i32()

    def entry():
        code, msg = r.i16(), r.str()
        ent = r.arr(lambda: (r.str(), r.str(), r.tags())[:2])
        r.tags()
        return code, msg, ent
    return r.arr(entry)


def describe(addr, comps, strict=False, ver=1):
    """comps: [(type, match_type, match)] -> (code, msg, {((type, name), ...): {key: value}})"""
    e = E(ver >= 1)
    body = e.arr([e.str(t) + e.i8(mt) + e.str(m) + e.tags() for t, mt, m in comps]) + \
        e.bool(strict) + e.tags()
    c = Conn(addr)
    r = c.req(48, ver, body, flex=ver >= 1)
    c.close()
    r.i32()
    code, msg = r.i16(), r.str()

    def entry():
        ent = tuple(r.arr(lambda: (r.str(), r.str(), r.tags())[:2]))
        vals = dict(r.arr(lambda: (r.str(), struct.unpack(">d", r.take(8))[0], r.tags())[:2]))
        r.tags()
        return ent, vals
    entries = r.arr(entry)
    return code, msg, None if entries is None else dict(entries)


P, ADDR = start()
try:
    # ---- the admin APIs ----------------------------------------------------------------------
    res = alter(ADDR, [([("client-id", "slow")], [("producer_byte_rate", QUOTA, False)]),
                       ([("client-id", "slowc")], [("consumer_byte_rate", QUOTA, False)]),
                       ([("user", "ANONYMOUS"), ("client-id", None)],
                        [("request_percentage", 250.5, False)])], ver=0)
    tap(res == [(0, None, [("client-id", "slow")]), (0, None, [("client-id", "slowc")]),
                (0, None, [("user", "ANONYMOUS"), ("client-id", None)])],
        "AlterClientQuotas v0 sets three entities: %r" % res)
    res = alter(ADDR, [([("user", "")], [("controller_mutation_rate", 1000, False)])])
    tap(res == [(0, None, [("user", "")])], "v1: an empty user name is the default user")
    res = alter(ADDR, [([("ip", "10.1.2.3")], [("connection_creation_rate", 5, False)])],
                validate_only=True)
    tap(res == [(0, None, [("ip", "10.1.2.3")])], "validate_only answers without storing")
    want_all = {(("client-id", "slow"),): {"producer_byte_rate": QUOTA},
                (("client-id", "slowc"),): {"consumer_byte_rate": QUOTA},
                (("user", "ANONYMOUS"), ("client-id", None)): {"request_percentage": 250.5},
                (("user", None),): {"controller_mutation_rate": 1000}}
    got = describe(ADDR, [], ver=0)
    tap(got == (0, None, want_all), "DescribeClientQuotas v0, no filter: everything %r" % (got,))
    cases = [
        ([("client-id", 0, "slow")], False, {(("client-id", "slow"),): want_all[(("client-id",
                                                                                "slow"),)]}),
        ([("user", 1, None)], False,
         {k: v for k, v in want_all.items() if k[0] == ("user", None)}),
        ([("user", 1, None)], True, {(("user", None),): {"controller_mutation_rate": 1000}}),
        ([("user", 2, None)], False,
         {k: v for k, v in want_all.items() if k[0][0] == "user"}),
        ([("client-id", 2, None)], True,
         {k: v for k, v in want_all.items() if len(k) == 1 and k[0][0] == "client-id"}),
        ([("user", 0, "ANONYMOUS"), ("client-id", 1, None)], True,
         {(("user", "ANONYMOUS"), ("client-id", None)): {"request_percentage": 250.5}}),
        ([("client-id", 0, "nobody")], False, {}),
        ([("ip", 2, None)], False, {}),
    ]
    for comps, strict, want in cases:
        got = describe(ADDR, comps, strict)
        tap(got == (0, None, want), "describe %r strict=%s: %r" % (comps, strict, got))

    # ---- bad input: Kafka's codes and messages -----------------------------------------------
    bad = [
        ([("user", "a")], [("producer_byte_rat", 10, False)],
         "Invalid configuration key producer_byte_rat"),
        ([("user", "a")], [("producer_byte_rate", -5, False)],
         "Quota producer_byte_rate must be greater than 0"),
        ([("user", "a")], [("producer_byte_rate", 10.5, False)],
         "producer_byte_rate cannot be a fractional value."),
        ([("group", "a")], [("producer_byte_rate", 10, False)],
         "Unhandled client quota entity type: group"),
        ([("user", "a"), ("user", "b")], [("producer_byte_rate", 10, False)],
         "Duplicate entity type: user"),
        ([("user", "a"), ("ip", "1.2.3.4")], [("producer_byte_rate", 10, False)],
         "Invalid quota entity combination, IP entity should not be combined with User or "
         "ClientId"),
        ([("ip", "not-an-ip")], [("connection_creation_rate", 10, False)],
         "not-an-ip is not a valid IP"),
        ([("ip", "1.2.3.4")], [("producer_byte_rate", 10, False)],
         "Invalid configuration key producer_byte_rate"),
        ([], [("producer_byte_rate", 10, False)], "Invalid empty client quota entity"),
    ]
    for ent, ops, msg in bad:
        res = alter(ADDR, [(ent, ops)])
        tap(res == [(42, msg, ent)], "INVALID_REQUEST %r: %r" % (msg, res))
    # one bad entry does not stop the good one beside it
    res = alter(ADDR, [([("user", "a")], [("nope", 1, False)]),
                       ([("user", "good")], [("producer_byte_rate", 2048, False)])])
    tap([x[0] for x in res] == [42, 0], "entries answered on their own: %r" % res)
    got = describe(ADDR, [("user", 0, "good")])
    tap(got == (0, None, {(("user", "good"),): {"producer_byte_rate": 2048}}),
        "the good entry is stored")
    tap(describe(ADDR, [("user", 0, "a")]) == (0, None, {}), "the bad entry stored nothing")
    bad_filters = [
        ([("group", 2, None)], 35, "Custom entity type group not supported."),
        ([("user", 2, None), ("user", 1, None)], 42,
         "Entity type user cannot appear more than once in the filter."),
        ([("user", 0, None)], 42,
         "Request specified MATCH_TYPE_EXACT, but set match string to null."),
        ([("user", 1, "x")], 42,
         "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."),
        ([("user", 7, None)], 42, "Unknown match type 7"),
        ([("user", 2, None), ("ip", 2, None)], 42,
         "Invalid entity filter component combination. IP filter component should not be used "
         "with user or clientId filter component."),
    ]
    for comps, code, msg in bad_filters:
        got = describe(ADDR, comps)
        tap(got == (code, msg, None), "describe refuses %r: %r" % (comps, got))
    # a null (not nullable) ops array is malformed: the connection is closed, as Kafka does
    # (the fuzzer found it read as a huge count)
    e1 = E(True)
    c = Conn(ADDR)
    c.send(49, 1, e1.arr([e1.arr([e1.str("user") + e1.str("x") + e1.tags()]) + e1.arr(None) +
                          e1.tags()]) + e1.bool(False) + e1.tags(), flex=True)
    tap(c.closed(), "AlterClientQuotas with a null ops array closes the connection")
    c.close()
    res = alter(ADDR, [([("user", "good")], [("producer_byte_rate", 0, True)])])
    tap(res == [(0, None, [("user", "good")])] and
        describe(ADDR, [("user", 0, "good")]) == (0, None, {}), "remove drops a value")

    # ---- kill -9 and restart keeps them ------------------------------------------------------
    P.kill()
    P.wait()
    P, ADDR = start()
    got = describe(ADDR, [])
    tap(got == (0, None, want_all), "after kill -9 and a restart: %r" % (got,))

    # ---- enforcement: request_percentage --------------------------------------------------
    # 0.000001% of a thread is 10 ns a second: the first Metadata request is over it, the
    # connection is muted for the whole window (3 s), so the second answer comes after it;
    # another client id is answered at once. (user ANONYMOUS + client id: a bare client-id
    # quota would lose to the user=ANONYMOUS,client-id=<default> one above, Kafka's precedence)
    res = alter(ADDR, [([("user", "ANONYMOUS"), ("client-id", "rq")],
                        [("request_percentage", 0.000001, False)])])
    assert res[0][0] == 0, res

    def two_metadata(client_id):
        c = Conn(ADDR, client_id=client_id)
        t0 = time.monotonic()
        for _ in range(2):
            r = c.req(3, 1, E(False).arr([]))
        c.close()
        return time.monotonic() - t0
    slow, fast = two_metadata("rq"), two_metadata("rq-free")
    tap(slow >= 2.5 and fast < 1.0,
        "request_percentage mutes its client id: 2 requests in %.2f s, another's in %.2f s"
        % (slow, fast))

    # ---- enforcement: produce ----------------------------------------------------------------
    def run_producer(client_id, seconds, measure_from, max_msgs=None):
        throttles, acked = [], []
        lock = threading.Lock()

        def dr(err, msg):
            if err is None:
                with lock:
                    acked.append((time.monotonic(), len(msg.value())))
        # small requests (16 KiB), so the rate is not measured in lumps of a whole queue
        p = Producer({"bootstrap.servers": ADDR, "client.id": client_id, "linger.ms": 5,
                      "queue.buffering.max.messages": 64, "batch.size": 16384, "acks": 1,
                      "throttle_cb": lambda ev: throttles.append(ev.throttle_time)})
        value = b"x" * 1024
        t0 = time.monotonic()
        sent = 0
        while time.monotonic() - t0 < seconds and sent != max_msgs:
            try:
                p.produce("qt", value, on_delivery=dr)
                sent += 1
            except BufferError:
                p.poll(0.02)
            p.poll(0)
        if max_msgs:
            p.flush(10)
        t1 = time.monotonic()
        p.purge()
        p.flush(10)
        with lock:
            got = sum(n for t, n in acked if t0 + measure_from <= t <= t1)
        return got / (t1 - t0 - measure_from), throttles

    rate, throttles = run_producer("slow", 6.0, 2.0)
    tap(max(throttles or [0]) > 0, "producer over its quota gets throttle_cb: %d calls, max %s s"
        % (len(throttles), max(throttles or [0])))
    tap(0.65 * QUOTA <= rate <= 1.35 * QUOTA,
        "throttled producer's rate %.0f B/s within 35%% of %d" % (rate, QUOTA))
    rate, throttles = run_producer("fast", 5.0, 0.0, max_msgs=2000)
    tap(not [t for t in throttles if t > 0] and rate > 3 * QUOTA,
        "client id without a quota: never throttled, %.0f B/s" % rate)

    # ---- enforcement: fetch ------------------------------------------------------------------
    seen = []
    c = Consumer({"bootstrap.servers": ADDR, "client.id": "slowc", "group.id": "qg",
                  "enable.auto.commit": False, "fetch.max.bytes": 16384,
                  "message.max.bytes": 16384,
                  "max.partition.fetch.bytes": 16384, "fetch.wait.max.ms": 100,
                  "throttle_cb": lambda ev: seen.append(ev.throttle_time)})
    c.assign([TopicPartition("qt", 0, 0)])
    t0 = time.monotonic()
    got = 0
    while time.monotonic() - t0 < 6.0:
        m = c.poll(0.1)
        if m is not None and m.error() is None and time.monotonic() - t0 >= 2.0:
            got += len(m.value())
    rate = got / (time.monotonic() - t0 - 2.0)
    c.close()
    tap(max(seen or [0]) > 0, "consumer over its quota gets throttle_cb: %d calls, max %s s"
        % (len(seen), max(seen or [0])))
    tap(0.65 * QUOTA <= rate <= 1.35 * QUOTA,
        "throttled consumer's rate %.0f B/s within 35%% of %d" % (rate, QUOTA))

    # ---- connection_creation_rate per ip (last: it shuts loopback out for a while) -----------
    # 2 a second over at least 2 s: the first 4 connections are answered, the next 6 closed
    res = alter(ADDR, [([("ip", "127.0.0.1")], [("connection_creation_rate", 2, False)])])
    assert res[0][0] == 0, res
    answered = 0
    for _ in range(10):
        c = Conn(ADDR)
        try:
            r = c.req(18, 0, b"")  # ApiVersions
            answered += r.i16() == 0
        except (EOFError, ConnectionResetError):
            pass
        c.close()
    tap(answered == 4, "connection_creation_rate=2 for 127.0.0.1: %d of 10 new connections "
        "answered (4 wanted)" % answered)

    # ---- a SASL user's quota: User:alice is throttled, ANONYMOUS with the same client id not -
    P2 = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(W, "data2"),
                           "--http-listen", "off",
                           "--set", "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
                           "--set", "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
                           "--set", "quota.window.num=3", "--set", "quota.window.size.seconds=1"],
                          stdout=subprocess.PIPE, stderr=open(os.path.join(W, "err2"), "a"),
                          text=True)
    try:
        lines = [P2.stdout.readline() for _ in range(4)]  # listening, http, 2 listeners
        ports = dict(ln.split()[1].split("://") for ln in lines[2:])
        plain, sasl = ports["PLAINTEXT"], ports["SASL_PLAINTEXT"]
        subprocess.run([WEIR, "-b", plain, "user", "create", "alice", "--password", "pw"],
                       check=True, capture_output=True, timeout=60)
        res = alter(plain, [([("user", "alice")], [("producer_byte_rate", 4096, False)])])
        assert res[0][0] == 0, res

        def throttled(addr, extra):
            seen = []
            conf = {"bootstrap.servers": addr, "client.id": "same", "batch.size": 16384,
                    "throttle_cb": lambda ev: seen.append(ev.throttle_time)}
            conf.update(extra)
            p = Producer(conf)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3 and not seen:
                try:
                    p.produce("sq", b"x" * 1024)
                except BufferError:
                    pass
                p.poll(0.001)
            p.purge()
            p.flush(5)
            return max(seen or [0])
        t_alice = throttled(sasl, {"security.protocol": "sasl_plaintext",
                                   "sasl.mechanism": "PLAIN", "sasl.username": "alice",
                                   "sasl.password": "pw"})
        t_anon = throttled(plain, {})
        tap(t_alice > 0 and t_anon == 0,
            "user=alice's quota throttles User:alice (%.3f s), not ANONYMOUS with the same "
            "client id" % t_alice)
    finally:
        P2.send_signal(signal.SIGTERM)
        P2.wait(30)
finally:
    P.send_signal(signal.SIGTERM)
    try:
        P.wait(30)
    except subprocess.TimeoutExpired:
        P.kill()
    if not tap.failed:
        shutil.rmtree(W, ignore_errors=True)
    else:
        sys.stderr.write(open(os.path.join(W, "err")).read()[-3000:])
tap.finish()
