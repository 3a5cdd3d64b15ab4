"""# timeout: 240
The configs and admin APIs at the byte level, against `weir serve` on port 0, with the codes,
messages and values Apache Kafka 4.4 gives for the same requests (each expectation below was
taken from a Kafka 4.4 broker in KRaft mode; docs/broker.md lists the deliberate differences):
DescribeConfigs v1-v4 (synonyms, sources, types, documentation; the cluster-default and
broker-logger resources), AlterConfigs v0-v2, IncrementalAlterConfigs v0-v1, every Kafka 4 topic
config accepted, dynamic configs kept across restarts, DescribeCluster v0-v2, DescribeLogDirs
v1-v4, ElectLeaders v0-v2, Alter/ListPartitionReassignments v0, OffsetForLeaderEpoch v2-v4 with
the leader-epoch checkpoint, CreatePartitions v0-v3, DeleteRecords v0-v2, compaction on the
cleaner's schedule, file.delete.delay.ms, and malformed frames for every new API. TAP."""
import json
import os
import struct
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_wire  # noqa: E402
from kafka_wire.client import E, Conn, batch  # noqa: E402

TOP = kafka_wire.TOP
KAFKA = {}  # (kind, name) -> Kafka 4.4's definition (scripts/kafka-configs)
with open(os.path.join(TOP, "scripts", "kafka-configs", "kafka-4.4.0.jsonl")) as f:
    for line in f:
        d = json.loads(line)
        KAFKA[(d["kind"], d["name"])] = d
TYPES = {"BOOLEAN": 1, "STRING": 2, "INT": 3, "SHORT": 4, "LONG": 5, "DOUBLE": 6, "LIST": 7,
         "CLASS": 8, "PASSWORD": 9}
TOPIC_NAMES = sorted(n for (k, n), d in KAFKA.items() if k == "topic" and not d["internal"])
BROKER_NAMES = sorted(n for (k, n), d in KAFKA.items() if k == "broker" and not d["internal"])

tap = kafka_wire.Tap()
TESTS = []


def case(name):
    def deco(fn):
        def run(ctx):
            try:
                fn(ctx)
                tap(True, name)
            except Exception:
                traceback.print_exc()
                tap(False, name)
        TESTS.append(run)
        return run
    return deco


# ---- requests ---------------------------------------------------------------------------------

def describe(c, resources, ver=4, syn=True, doc=True):
    """resources: [(type, name, keys or None)] -> [dict(err, msg, type, name, configs{name: entry})]"""
    e = E(ver >= 4)
    body = e.arr([e.i8(t) + e.str(n) + e.arr(None if k is None else [e.str(x) for x in k]) +
                  e.tags() for t, n, k in resources]) + e.bool(syn)
    if ver >= 3:
        body += e.bool(doc)
    r = c.req(32, ver, body + e.tags(), flex=ver >= 4)
    assert r.i32() == 0
    out = []
    for _ in range(r.n()):
        res = dict(err=r.i16(), msg=r.str(), type=r.i8(), name=r.str(), configs={})
        for _ in range(r.n()):
            ent = dict(name=r.str(), value=r.str(), read_only=r.bool(), source=r.i8(),
                       sensitive=r.bool())
            syns = []
            for _ in range(r.n()):
                syns.append((r.str(), r.str(), r.i8()))
                r.tags()
            ent["synonyms"] = syns
            if ver >= 3:
                ent["type"], ent["doc"] = r.i8(), r.str()
            r.tags()
            res["configs"][ent["name"]] = ent
        r.tags()
        out.append(res)
    r.tags()
    assert r.left() == 0
    return out


def _alter_answers(r):
    assert r.i32() == 0
    out = []
    for _ in range(r.n()):
        out.append((r.i16(), r.str(), r.i8(), r.str()))
        r.tags()
    r.tags()
    assert r.left() == 0
    return out


def iac(c, resources, ver=1, validate=False):
    """IncrementalAlterConfigs; resources: [(type, name, [(key, op, value)])]"""
    e = E(ver >= 1)
    body = e.arr([e.i8(t) + e.str(n) + e.arr([e.str(k) + e.i8(o) + e.str(v) + e.tags()
                                              for k, o, v in cfgs]) + e.tags()
                  for t, n, cfgs in resources]) + e.bool(validate) + e.tags()
    return _alter_answers(c.req(44, ver, body, flex=ver >= 1))


def ac(c, resources, ver=2, validate=False):
    """AlterConfigs; resources: [(type, name, [(key, value)])]"""
    e = E(ver >= 2)
    body = e.arr([e.i8(t) + e.str(n) + e.arr([e.str(k) + e.str(v) + e.tags() for k, v in cfgs]) +
                  e.tags() for t, n, cfgs in resources]) + e.bool(validate) + e.tags()
    return _alter_answers(c.req(33, ver, body, flex=ver >= 2))


def create_topic(c, name, nparts=1, configs=()):
    e = E(False)
    t = e.str(name) + e.i32(nparts) + e.i16(-1) + e.arr([]) + \
        e.arr([e.str(k) + e.str(v) for k, v in configs])
    r = c.req(19, 4, e.arr([t]) + e.i32(10000) + e.bool(False))
    r.i32()
    assert r.n() == 1 and r.str() == name
    return r.i16(), r.str()


def produce(c, topic, part, records):
    e = E(False)
    body = e.i16(-1) + e.i16(1) + e.i32(5000) + \
        e.arr([e.str(topic) + e.arr([e.i32(part) + e.i32(len(records)) + records])])
    r = c.req(0, 8, body)
    assert r.n() == 1 and r.str() == topic and r.n() == 1 and r.i32() == part
    err, base = r.i16(), r.i64()
    return err, base


def fetch_counts(c, topic, part, offset=0):
    """(high watermark, records served from offset) by Fetch v11."""
    e = E(False)
    p = e.i32(part) + e.i32(-1) + e.i64(offset) + e.i64(-1) + e.i32(1 << 20)
    body = e.i32(-1) + e.i32(0) + e.i32(1) + e.i32(1 << 20) + e.i8(0) + e.i32(0) + e.i32(-1) + \
        e.arr([e.str(topic) + e.arr([p])]) + e.arr([]) + e.str("")
    r = c.req(1, 11, body)
    r.i32(), r.i16(), r.i32()
    assert r.n() == 1 and r.str() == topic and r.n() == 1
    r.i32()
    err, hwm = r.i16(), r.i64()
    r.i64(), r.i64()
    for _ in range(max(r.n(), 0)):
        r.i64(), r.i64()
    r.i32()
    recs = r.take(r.i32())
    assert err == 0, err
    n, pos = 0, 0
    while pos + 61 <= len(recs):
        ln = struct.unpack(">i", recs[pos + 8:pos + 12])[0]
        n += struct.unpack(">i", recs[pos + 57:pos + 61])[0]
        pos += 12 + ln
    return hwm, n


def ofle(c, ver, topics):
    """OffsetForLeaderEpoch; topics: [(name, [(partition, current_epoch, epoch)])]"""
    e = E(ver >= 4)
    body = (e.i32(-1) if ver >= 3 else b"") + e.arr(
        [e.str(t) + e.arr([e.i32(p) + e.i32(cur) + e.i32(ep) + e.tags() for p, cur, ep in ps]) +
         e.tags() for t, ps in topics]) + e.tags()
    r = c.req(23, ver, body, flex=ver >= 4)
    assert r.i32() == 0
    out = []
    for _ in range(r.n()):
        name, parts = r.str(), []
        for _ in range(r.n()):
            parts.append((r.i16(), r.i32(), r.i32(), r.i64()))
            r.tags()
        r.tags()
        out.append((name, parts))
    r.tags()
    assert r.left() == 0
    return out


def raw_response(c, key, ver, body, flex):
    """The whole response body after the header, for byte-exact checks."""
    r = c.req(key, ver, body, flex=flex)
    return r.b[r.p:]


# ---- the tests ----------------------------------------------------------------------------------

@case("ApiVersions advertises the admin APIs at Kafka 4's ranges (DescribeConfigs from v1)")
def t_api_versions(ctx):
    c = Conn(ctx.addr)
    r = c.req(18, 3, b"\x05weir\x041.0\x00", flex=True)
    # the ApiVersions response header has no tag section; Conn.recv read one: undo it
    r = kafka_wire.client.R(r.b, True)
    assert r.i16() == 0
    got = {}
    for _ in range(r.n()):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        r.tags()
        got[k] = (lo, hi)
    want = {21: (0, 2), 23: (2, 4), 32: (1, 4), 33: (0, 2), 35: (1, 4), 37: (0, 3), 43: (0, 2),
            44: (0, 1), 45: (0, 0), 46: (0, 0), 60: (0, 2)}
    for k, rng in want.items():
        assert got.get(k) == rng, (k, got.get(k))
    c.close()
    c = Conn(ctx.addr)
    e = E(False)
    c.send(32, 0, e.arr([e.i8(2) + e.str("x") + e.arr(None)]))  # v0: gone in Kafka 4
    assert c.closed()


@case("DescribeConfigs v4, one key: byte for byte what Kafka 4.4 sends")
def t_describe_exact(ctx):
    c = Conn(ctx.addr)
    assert create_topic(c, "adm-exact")[0] == 0
    e = E(True)
    body = e.arr([e.i8(2) + e.str("adm-exact") + e.arr([e.str("cleanup.policy")]) + e.tags()])
    got = raw_response(c, 32, 4, body + e.bool(True) + e.bool(True) + e.tags(), True)
    doc = KAFKA[("topic", "cleanup.policy")]["doc"]
    want = e.i32(0) + e.arr([
        e.i16(0) + e.str("") + e.i8(2) + e.str("adm-exact") + e.arr([
            e.str("cleanup.policy") + e.str("delete") + e.bool(False) + e.i8(5) + e.bool(False) +
            e.arr([e.str("log.cleanup.policy") + e.str("delete") + e.i8(5) + e.tags()]) +
            e.i8(7) + e.str(doc) + e.tags()]) + e.tags()]) + e.tags()
    assert got == want, (got[:80], want[:80])
    # v1: no type or documentation, the classic encoding
    e = E(False)
    body = e.arr([e.i8(2) + e.str("adm-exact") + e.arr([e.str("cleanup.policy")])]) + e.bool(True)
    got = raw_response(c, 32, 1, body, False)
    want = e.i32(0) + e.arr([
        e.i16(0) + e.str("") + e.i8(2) + e.str("adm-exact") + e.arr([
            e.str("cleanup.policy") + e.str("delete") + e.bool(False) + e.i8(5) + e.bool(False) +
            e.arr([e.str("log.cleanup.policy") + e.str("delete") + e.i8(5)])])])
    assert got == want
    c.close()


@case("DescribeConfigs v1-v4: every Kafka 4.4 topic config, with Kafka's types and docs")
def t_describe_topic_all(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-all")
    for ver in (1, 2, 3, 4):
        res = describe(c, [(2, "adm-all", None)], ver=ver)[0]
        assert res["err"] == 0 and res["msg"] == "", res
        assert sorted(res["configs"]) == TOPIC_NAMES, set(res["configs"]) ^ set(TOPIC_NAMES)
        for name, ent in res["configs"].items():
            k = KAFKA[("topic", name)]
            assert ent["read_only"] is False and ent["sensitive"] is False
            if ver >= 3:
                assert ent["type"] == TYPES[k["type"]] and ent["doc"] == k["doc"], name
    cfg = describe(c, [(2, "adm-all", None)])[0]["configs"]
    # Kafka's defaults where Weir's broker settings are Kafka's
    for name, want in [("retention.ms", "604800000"), ("segment.bytes", "1073741824"),
                       ("min.cleanable.dirty.ratio", "0.5"), ("compression.type", "producer"),
                       ("max.compaction.lag.ms", "9223372036854775807"),
                       ("message.timestamp.after.max.ms", "3600000"),
                       ("file.delete.delay.ms", "60000"), ("local.retention.ms", "-2"),
                       ("errors.deadletterqueue.group.enable", "false")]:
        assert cfg[name]["value"] == want, (name, cfg[name])
    assert cfg["retention.ms"]["synonyms"] == [] and cfg["retention.ms"]["source"] == 5
    assert cfg["flush.ms"]["value"] == "9223372036854775807" and cfg["flush.ms"]["synonyms"] == []
    assert cfg["file.delete.delay.ms"]["synonyms"] == [("log.segment.delete.delay.ms", "60000", 5)]
    # doc off: null documentation
    ent = describe(c, [(2, "adm-all", ["retention.ms"])], doc=False)[0]["configs"]["retention.ms"]
    assert ent["doc"] is None and ent["type"] == 5
    # keys: an empty list is every key (Kafka), unknown keys are skipped; no synonyms asked
    assert len(describe(c, [(2, "adm-all", [])])[0]["configs"]) == len(TOPIC_NAMES)
    res = describe(c, [(2, "adm-all", ["segment.ms", "nope"])], syn=False)[0]["configs"]
    assert list(res) == ["segment.ms"] and res["segment.ms"]["synonyms"] == []
    c.close()


@case("DescribeConfigs broker: Kafka 4.4's 350 broker configs (plus weir.*), types, docs, secrets")
def t_describe_broker(ctx):
    c = Conn(ctx.addr)
    cfg = describe(c, [(4, "1", None)])[0]["configs"]
    weir = sorted(n for n in cfg if n.startswith("weir."))
    # the authorizer's own settings (Kafka's StandardAuthorizer reads them, not KafkaConfig)
    authz = ["allow.everyone.if.no.acl.found", "super.users"]
    assert sorted(set(cfg) - set(weir) - set(authz)) == BROKER_NAMES, \
        set(cfg) ^ set(BROKER_NAMES)
    assert all(a in cfg for a in authz) and cfg["allow.everyone.if.no.acl.found"]["value"] == \
        "false", [cfg.get(a) for a in authz]
    assert weir == ["weir.fetch.zero.copy",
                    "weir.http.authentication.methods", "weir.http.metrics.open",
                    "weir.log.preallocate.bytes", "weir.max.decompressed.bytes",
                    "weir.memory.buffers.max.bytes",
                    "weir.metrics.consumergroup.sums", "weir.metrics.partition.labels",
                    "weir.metrics.partition.max", "weir.producer.snapshot.interval.offsets",
                    "weir.request.stall.timeout.ms",
                    "weir.sasl.oauthbearer.jwks.endpoint.ca.location",
                    "weir.sasl.oauthbearer.required.scopes",
                    "weir.sasl.oauthbearer.unsecured.enable",
                    "weir.ssl.handshake.timeout.ms", "weir.trace.spans.max",
                    "weir.transactional.id.max.count"], weir
    for name in BROKER_NAMES:
        k, ent = KAFKA[("broker", name)], cfg[name]
        assert ent["type"] == TYPES[k["type"]] and ent["doc"] == k["doc"], name
        if k["type"] == "PASSWORD":
            assert ent["sensitive"] and ent["value"] is None, name
        if not k["dynamic"]:
            assert ent["read_only"], name  # Weir changes at run time only what Kafka can
    for name, want in [("log.cleaner.backoff.ms", "15000"), ("log.cleaner.min.cleanable.ratio", "0.5"),
                       ("log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308"),
                       ("sasl.kerberos.ticket.renew.jitter", "0.05"), ("ssl.protocol", "TLSv1.3"),
                       ("log.retention.ms", None), ("log.retention.hours", "168"),
                       ("process.roles", "broker,controller"), ("broker.id", "1"), ("node.id", "1"),
                       ("offsets.topic.replication.factor", "1"), ("compression.type", "producer"),
                       ("log.flush.interval.ms", None)]:
        assert cfg[name]["value"] == want, (name, cfg[name])
    assert cfg["log.retention.ms"]["synonyms"] == [] and not cfg["log.retention.ms"]["read_only"]
    assert cfg["listeners"]["value"] == "PLAINTEXT://" + ctx.addr  # what it listens on
    assert cfg["listeners"]["source"] == 4
    assert cfg["broker.id"]["synonyms"] == [("broker.id", "1", 4), ("broker.id", "-1", 5)]
    c.close()


@case("DescribeConfigs errors: unknown topic, bad names, broker ids, loggers, resource types")
def t_describe_errors(ctx):
    c = Conn(ctx.addr)
    res = describe(c, [(2, "adm-nope", None), (2, "bad/name", None), (2, "", None),
                       (4, "2", None), (4, "x", None), (8, "", None), (8, "2", None),
                       (3, "x", None)])
    got = [(x["err"], x["msg"], len(x["configs"])) for x in res]
    assert got == [
        (3, "", 0),
        (17, "Topic name is invalid: 'bad/name' contains one or more characters other than ASCII "
             "alphanumerics, '.', '_' and '-'", 0),
        (17, "Topic name is invalid: the empty string is not allowed", 0),
        (42, "Unexpected broker id, expected 1 or empty string, but received 2", 0),
        (42, "Broker id must be an integer, but it is: x", 0),
        (42, "Broker id must not be empty", 0),
        (42, "Unexpected broker id, expected 1 but received 2", 0),
        (42, "This most likely occurs because of a request being malformed by the client library "
             "or the message was sent to an incompatible broker. See the broker logs for more "
             "details.", 0)], got
    c.close()


@case("Synonyms and sources as Kafka lists them: topic, broker, cluster default layers")
def t_synonyms(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-syn")
    assert iac(c, [(4, "1", [("log.retention.ms", 0, "3600000")]),
                   (4, "", [("log.retention.bytes", 0, "12345"), ("log.cleaner.backoff.ms", 0, "200")]),
                   (2, "adm-syn", [("retention.ms", 0, "1000")])]) == \
        [(0, None, 4, "1"), (0, None, 4, ""), (0, None, 2, "adm-syn")]
    t = describe(c, [(2, "adm-syn", ["retention.ms", "retention.bytes"])])[0]["configs"]
    assert t["retention.ms"]["value"] == "1000" and t["retention.ms"]["source"] == 1
    assert t["retention.ms"]["synonyms"] == [("retention.ms", "1000", 1),
                                             ("log.retention.ms", "3600000", 2),
                                             ("log.retention.hours", "168", 5)], t["retention.ms"]
    assert t["retention.bytes"]["value"] == "12345" and t["retention.bytes"]["source"] == 3
    assert t["retention.bytes"]["synonyms"] == [("log.retention.bytes", "12345", 3),
                                                ("log.retention.bytes", "-1", 5)]
    b = describe(c, [(4, "1", ["log.retention.ms", "log.retention.hours"])])[0]["configs"]
    assert b["log.retention.ms"]["synonyms"] == [("log.retention.ms", "3600000", 2),
                                                 ("log.retention.hours", "168", 5)]
    assert b["log.retention.hours"]["synonyms"] == [("log.retention.hours", "168", 5)]
    d = describe(c, [(4, "", None)])[0]["configs"]  # only the cluster-wide dynamic defaults
    # (min.insync.replicas is one from the start, as in a freshly formatted Kafka 4 cluster)
    assert sorted(d) == ["log.cleaner.backoff.ms", "log.retention.bytes", "min.insync.replicas"], d
    assert d["log.retention.bytes"]["synonyms"] == [("log.retention.bytes", "12345", 3)]
    t = describe(c, [(2, "adm-syn", ["min.insync.replicas"])])[0]["configs"]["min.insync.replicas"]
    assert t["source"] == 3 and t["synonyms"] == [("min.insync.replicas", "1", 3),
                                                 ("min.insync.replicas", "1", 5)], t
    assert iac(c, [(4, "1", [("log.retention.ms", 1, None)]),
                   (4, "", [("log.retention.bytes", 1, None)])]) == [(0, None, 4, "1"), (0, None, 4, "")]
    t = describe(c, [(2, "adm-syn", ["retention.bytes"])])[0]["configs"]["retention.bytes"]
    assert t["value"] == "-1" and t["source"] == 5
    # log.flush.interval.ms changes at run time (the flusher's period) and feeds flush.ms
    assert iac(c, [(4, "1", [("log.flush.interval.ms", 0, "500")])]) == [(0, None, 4, "1")]
    f = describe(c, [(4, "1", ["log.flush.interval.ms"])])[0]["configs"]["log.flush.interval.ms"]
    assert f["value"] == "500" and f["source"] == 2 and not f["read_only"], f
    t = describe(c, [(2, "adm-syn", ["flush.ms"])])[0]["configs"]["flush.ms"]
    assert t["value"] == "500" and t["synonyms"] == [
        ("log.flush.interval.ms", "500", 2),
        ("log.flush.scheduler.interval.ms", "9223372036854775807", 5)], t
    assert iac(c, [(4, "1", [("log.flush.interval.ms", 1, None)])]) == [(0, None, 4, "1")]
    c.close()


# (request, expected answer): each expectation is Kafka 4.4's own answer to the request.
IAC_CASES = [
    ([(2, "adm-alt", [("foo.bar", 0, "1")])], (40, "Unknown topic config name: foo.bar")),
    ([(2, "adm-alt", [("retention.ms", 0, "abc")])],
     (40, "Invalid value abc for configuration retention.ms: Not a number of type LONG")),
    ([(2, "adm-alt", [("retention.ms", 0, "-5")])],
     (40, "Invalid value -5 for configuration retention.ms: Value must be at least -1")),
    ([(2, "adm-alt", [("retention.ms", 0, None)])],
     (42, "Null value not supported for : retention.ms")),
    ([(2, "adm-alt", [("retention.ms", 7, "1")])], (-1, None)),
    ([(2, "adm-alt", [("retention.ms", 2, "5")])],
     (40, "Can't APPEND to key retention.ms because its type is not LIST.")),
    ([(2, "adm-alt", [("retention.ms", 0, "5"), ("retention.ms", 0, "6")])],
     (42, "Error due to duplicate config keys")),
    ([(2, "adm-alt", [("cleanup.policy", 0, "compact,bogus")])],
     (40, "Invalid value bogus for configuration cleanup.policy: String must be one of: compact, "
          "delete")),
    ([(2, "adm-alt", [("compression.gzip.level", 0, "10")])],
     (40, "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 "
          "and 9 or equal to -1")),
    ([(2, "adm-alt", [("foo.bar", 1, None)])], (0, None)),
    ([(2, "adm-nope", [("retention.ms", 0, "5")])], (3, "The topic 'adm-nope' does not exist.")),
    ([(2, "adm-nope", [("foo.bar", 0, "5")])], (40, "Unknown topic config name: foo.bar")),
    ([(2, "", [("retention.ms", 0, "5")])], (42, "Default topic resources are not allowed.")),
    ([(2, "..", [("retention.ms", 0, "5")])], (17, "Topic name is invalid: '..' is not allowed")),
    ([(4, "1", [("log.retention.hours", 0, "5")])],
     (42, "Cannot update these configs dynamically: [log.retention.hours]")),
    ([(4, "1", [("log.retention.hours", 1, None)])], (0, None)),
    ([(4, "1", [("log.retention.ms", 0, "x")])],
     (42, "Invalid value x for configuration log.retention.ms: Not a number of type LONG")),
    ([(4, "1", [("log.retention.ms", 0, "x"), ("log.retention.hours", 0, "5")])],
     (42, "Cannot update these configs dynamically: [log.retention.hours]")),
    ([(4, "1", [("log.cleaner.min.cleanable.ratio", 0, "2")])],
     (42, "Invalid value 2.0 for configuration log.cleaner.min.cleanable.ratio: Value must be "
          "no more than 1")),
    ([(4, "1", [("log.retention.ms", 7, "1")])], (42, "Unknown operations type 7")),
    ([(4, "1", [("log.retention.ms", 2, "1")])],
     (40, "Config value append is not allowed for config key: log.retention.ms")),
    ([(4, "1", [("foo.bar", 2, "1")])], (40, "Unknown config name: foo.bar")),
    ([(4, "1", [("foo.bar", 0, "1")])], (0, None)),
    ([(4, "2", [("log.retention.ms", 0, "1")])],
     (42, "Unexpected broker id, expected 1, but received 2")),
    ([(4, "x", [("log.retention.ms", 0, "1")])], (42, "Node id must be an integer, but it is: x")),
    ([(8, "1", [("root", 0, "BOGUS")])],
     (40, "Cannot set the log level of root to BOGUS as it is not a supported log level. Valid "
          "log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN")),
    ([(8, "1", [("nosuch.logger", 0, "INFO")])], (40, "Logger nosuch.logger does not exist!")),
    ([(8, "1", [("root", 1, None)])],
     (42, "Removing the log level of the root logger is not allowed")),
    ([(8, "1", [("root", 2, "INFO")])],
     (42, "APPEND operation is not allowed for the BROKER_LOGGER resource")),
    ([(8, "", [("root", 0, "INFO")])], (42, "Node id must be an integer, but it is: ")),
    ([(8, "2", [("root", 0, "INFO")])], (42, "Unexpected node id. Expected 1, but received 2")),
    ([(3, "x", [("a", 0, "1")])], (42, "Unknown resource type 3")),
]


@case("IncrementalAlterConfigs v0 and v1: Kafka 4.4's code and message for 32 requests")
def t_iac_errors(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-alt")
    for ver in (0, 1):
        for req, want in IAC_CASES:
            got = iac(c, req, ver=ver, validate=True)
            assert len(got) == 1 and got[0][:2] == want and got[0][2:] == req[0][:2], \
                (ver, req, got)
    c.close()


@case("AlterConfigs v0-v2: the overrides replaced as a whole; Kafka's errors")
def t_alter_configs(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-ac", configs=[("retention.ms", "1000"), ("cleanup.policy", "compact")])
    for ver in (0, 1, 2):
        assert ac(c, [(2, "adm-ac", [("segment.ms", "100000")])], ver=ver) == \
            [(0, None, 2, "adm-ac")]
        cfg = describe(c, [(2, "adm-ac", None)])[0]["configs"]
        assert cfg["segment.ms"]["value"] == "100000" and cfg["segment.ms"]["source"] == 1
        assert cfg["retention.ms"]["source"] == 5 and cfg["cleanup.policy"]["value"] == "delete"
    for req, want in [
            ([(2, "adm-ac", [("foo.bar", "1")])], (40, "Unknown topic config name: foo.bar")),
            ([(2, "adm-ac", [("retention.ms", None)])],
             (42, "Null value not supported for : retention.ms")),
            ([(2, "adm-nope", [("foo.bar", "1")])], (40, "Unknown topic config name: foo.bar")),
            ([(4, "1", [("log.retention.hours", "1")])],
             (42, "Cannot update these configs dynamically: [log.retention.hours]")),
            ([(8, "1", [("root", "INFO")])], (42, "Unknown resource type 8")),
            ([(4, "", [("log.retention.ms", "5")])],
             (40, "Cluster-level min.insync.replicas cannot be removed while ELR is enabled."))]:
        got = ac(c, req, validate=True)
        assert got[0][:2] == want, (req, got)
    c.close()


@case("validate_only checks everything and changes nothing; APPEND/SUBTRACT on lists")
def t_validate_only_and_lists(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-v")
    assert iac(c, [(2, "adm-v", [("retention.ms", 0, "5000")])], validate=True) == \
        [(0, None, 2, "adm-v")]
    assert ac(c, [(2, "adm-v", [("retention.ms", "5000")])], validate=True)[0][0] == 0
    assert iac(c, [(4, "1", [("log.retention.bytes", 0, "7")])], validate=True)[0][0] == 0
    cfg = describe(c, [(2, "adm-v", ["retention.ms", "retention.bytes"])])[0]["configs"]
    assert cfg["retention.ms"]["source"] == 5 and cfg["retention.bytes"]["value"] == "-1"
    assert iac(c, [(2, "adm-v", [("cleanup.policy", 2, "compact")])])[0][0] == 0
    cfg = describe(c, [(2, "adm-v", ["cleanup.policy"])])[0]["configs"]["cleanup.policy"]
    assert cfg["value"] == "delete,compact", cfg
    assert iac(c, [(2, "adm-v", [("cleanup.policy", 3, "delete")])])[0][0] == 0
    cfg = describe(c, [(2, "adm-v", ["cleanup.policy"])])[0]["configs"]["cleanup.policy"]
    assert cfg["value"] == "compact", cfg
    c.close()


# A value every Kafka 4 topic config accepts (issue 12: templates from Terraform, Strimzi or
# Helm set them all).
ALL_TOPIC_VALUES = {
    "cleanup.policy": "compact,delete", "compression.gzip.level": "5", "compression.lz4.level": "4",
    "compression.type": "zstd", "compression.zstd.level": "7", "delete.retention.ms": "3600000",
    "errors.deadletterqueue.group.enable": "true", "file.delete.delay.ms": "1000",
    "flush.messages": "10000", "flush.ms": "1000", "follower.replication.throttled.replicas": "*",
    "index.interval.bytes": "2048", "leader.replication.throttled.replicas": "0:1",
    "local.retention.bytes": "-2", "local.retention.ms": "-2",
    "max.compaction.lag.ms": "86400000", "max.decompressed.message.bytes": "1000000",
    "max.message.bytes": "2000000", "message.timestamp.after.max.ms": "60000",
    "message.timestamp.before.max.ms": "86400000", "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": "0.1", "min.compaction.lag.ms": "1000",
    "min.insync.replicas": "1", "preallocate": "true", "remote.copy.lag.bytes": "-1",
    "remote.copy.lag.ms": "0", "remote.log.copy.disable": "false",
    "remote.log.delete.on.disable": "false", "remote.storage.enable": "false",
    "retention.bytes": "1073741824", "retention.ms": "86400000", "segment.bytes": "104857600",
    "segment.index.bytes": "1048576", "segment.jitter.ms": "1000", "segment.ms": "3600000",
    "unclean.leader.election.enable": "true"}


@case("every Kafka 4 topic config is accepted by CreateTopics and IncrementalAlterConfigs")
def t_all_topic_configs(ctx):
    assert sorted(ALL_TOPIC_VALUES) == TOPIC_NAMES, set(ALL_TOPIC_VALUES) ^ set(TOPIC_NAMES)
    c = Conn(ctx.addr)
    assert create_topic(c, "adm-every", configs=sorted(ALL_TOPIC_VALUES.items())) == (0, None)
    cfg = describe(c, [(2, "adm-every", None)])[0]["configs"]
    for k, v in ALL_TOPIC_VALUES.items():
        assert cfg[k]["value"] == v and cfg[k]["source"] == 1, (k, cfg[k])
    create_topic(c, "adm-every2")
    ops = [(k, 0, v) for k, v in sorted(ALL_TOPIC_VALUES.items())]
    assert iac(c, [(2, "adm-every2", ops)]) == [(0, None, 2, "adm-every2")]
    c.close()


@case("broker-logger: root described (source 6), set and checked, as Kafka answers")
def t_logger(ctx):
    c = Conn(ctx.addr)
    res = describe(c, [(8, "1", None)])[0]
    assert res["err"] == 0 and list(res["configs"]) == ["root"]
    root = res["configs"]["root"]
    assert root["value"] == "INFO" and root["source"] == 6 and root["type"] == 0
    assert root["doc"] == "" and root["synonyms"] == [] and not root["read_only"]
    assert iac(c, [(8, "1", [("root", 0, "WARN")])]) == [(0, None, 8, "1")]
    assert describe(c, [(8, "1", None)])[0]["configs"]["root"]["value"] == "WARN"
    assert iac(c, [(8, "1", [("root", 0, "INFO")])])[0][0] == 0
    c.close()


@case("DescribeCluster v0-v2: byte for byte; controller type refused (114), 3 unsupported (115)")
def t_describe_cluster(ctx):
    c = Conn(ctx.addr)
    e = E(True)
    host, port = ctx.addr.rsplit(":", 1)
    cid = describe_cluster_id = None
    for ver in (0, 1, 2):
        for ops in (False, True):
            body = e.bool(ops) + (e.i8(1) if ver >= 1 else b"") + \
                (e.bool(False) if ver >= 2 else b"") + e.tags()
            got = raw_response(c, 60, ver, body, True)
            cid = got[7 + (1 if ver >= 1 else 0):][1:23].decode()
            want = e.i32(0) + e.i16(0) + e.str(None) + (e.i8(1) if ver >= 1 else b"") + \
                e.str(cid) + e.i32(1) + \
                e.arr([e.i32(1) + e.str(host) + e.i32(int(port)) + e.str(None) +
                       (e.bool(False) if ver >= 2 else b"") + e.tags()]) + \
                e.i32(8096 if ops else -2147483648) + e.tags()
            assert got == want, (ver, ops, got, want)
            describe_cluster_id = cid
    assert len(describe_cluster_id) == 22
    for et, code, msg in [(2, 114, "The request was sent to an endpoint of type BROKER, but we "
                                   "wanted an endpoint of type CONTROLLER"),
                          (3, 115, "Unsupported endpoint type 3")]:
        got = raw_response(c, 60, 1, e.bool(True) + e.i8(et) + e.tags(), True)
        want = e.i32(0) + e.i16(code) + e.str(msg) + e.i8(1) + e.str("") + e.i32(-1) + \
            e.arr([]) + e.i32(-2147483648) + e.tags()
        assert got == want, (et, got)
    c.close()


def log_dirs(c, ver, topics):
    e = E(ver >= 2)
    body = e.arr(None if topics is None else [e.str(t) + e.i32s(ps) + e.tags() for t, ps in topics])
    r = c.req(35, ver, body + e.tags(), flex=ver >= 2)
    assert r.i32() == 0
    top = r.i16() if ver >= 3 else 0
    dirs = []
    for _ in range(r.n()):
        d = dict(err=r.i16(), path=r.str(), topics={})
        for _ in range(r.n()):
            name, parts = r.str(), {}
            for _ in range(r.n()):
                p, size, lag, fut = r.i32(), r.i64(), r.i64(), r.bool()
                assert lag == 0 and fut is False
                parts[p] = size
                r.tags()
            d["topics"][name] = parts
            r.tags()
        if ver >= 4:
            d["total"], d["usable"] = r.i64(), r.i64()
        r.tags()
        dirs.append(d)
    r.tags()
    assert r.left() == 0
    return top, dirs


@case("DescribeLogDirs v1-v4: the data dir, partition sizes from the logs, file system bytes")
def t_log_dirs(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-ld", 2)
    for ver in (1, 2, 3, 4):
        top, dirs = log_dirs(c, ver, None)
        assert top == 0 and len(dirs) == 1
        d = dirs[0]
        assert d["err"] == 0 and d["path"] == os.path.realpath(ctx.broker.data), d["path"]
        assert d["topics"]["adm-ld"] == {0: 0, 1: 0} and "__consumer_offsets" in d["topics"]
        if ver >= 4:
            st = os.statvfs(ctx.broker.data)
            assert d["total"] == st.f_blocks * st.f_frsize and 0 < d["usable"] <= d["total"]
    b = batch([b"x" * 100] * 5)
    assert produce(c, "adm-ld", 1, b)[0] == 0
    _, dirs = log_dirs(c, 4, [("adm-ld", [1, 7]), ("adm-nope", [0])])
    assert dirs[0]["topics"] == {"adm-ld": {1: len(b)}}, dirs[0]["topics"]
    _, dirs = log_dirs(c, 4, [])
    assert dirs[0]["topics"] == {}
    c.close()


def elect(c, ver, topics, etype=0):
    e = E(ver >= 2)
    body = (e.i8(etype) if ver >= 1 else b"") + e.arr(
        None if topics is None else [e.str(t) + e.i32s(ps) + e.tags() for t, ps in topics]) + \
        e.i32(5000) + e.tags()
    r = c.req(43, ver, body, flex=ver >= 2)
    assert r.i32() == 0
    top = r.i16() if ver >= 1 else None
    out = []
    for _ in range(r.n()):
        name, parts = r.str(), []
        for _ in range(r.n()):
            parts.append((r.i32(), r.i16(), r.str()))
            r.tags()
        r.tags()
        out.append((name, parts))
    r.tags()
    assert r.left() == 0
    return top, out


@case("ElectLeaders v0-v2: ELECTION_NOT_NEEDED for every partition, Kafka's errors")
def t_elect(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-el", 2)
    nn = "Leader election not needed for topic partition."
    assert elect(c, 0, [("adm-el", [0, 1, 5])]) == (None, [("adm-el", [
        (0, 84, nn), (1, 84, nn), (5, 3, "No such partition as adm-el-5")])])
    assert elect(c, 1, [("adm-el", [0])], etype=1) == (0, [("adm-el", [(0, 84, nn)])])
    assert elect(c, 2, [("adm-nope", [0])]) == (0, [("adm-nope", [(0, 3, "No such topic as adm-nope")])])
    top, res = elect(c, 2, None)
    assert top == 0 and ("adm-el", []) in res and all(p == [] for _, p in res)
    assert elect(c, 2, [("adm-el", [0])], etype=2) == \
        (42, [("adm-el", [(0, 42, "Unknown election type 2")])])
    c.close()


@case("Alter/ListPartitionReassignments v0: done at once on the only broker; Kafka's errors")
def t_reassign(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-ra", 1)
    e = E(True)

    def alter(topics):
        body = e.i32(5000) + e.arr([e.str(t) + e.arr([e.i32(p) + e.i32s(reps) + e.tags()
                                                      for p, reps in ps]) + e.tags()
                                    for t, ps in topics]) + e.tags()
        return raw_response(c, 45, 0, body, True)

    def answer(topics, msg=None):
        return e.i32(0) + e.i16(0) + e.str(msg) + e.arr(
            [e.str(t) + e.arr([e.i32(p) + e.i16(code) + e.str(m) + e.tags()
                               for p, code, m in ps]) + e.tags() for t, ps in topics]) + e.tags()

    assert alter([("adm-ra", [(0, [1])])]) == answer([("adm-ra", [(0, 0, None)])])
    assert alter([]) == answer([], "")
    assert alter([("adm-ra", [(0, None), (0, []), (0, [2]), (0, [1, 1]), (9, [1])]),
                  ("adm-nope", [(0, [1])])]) == answer([
                      ("adm-ra", [(0, 85, None),
                                  (0, 39, "The manual partition assignment includes an empty "
                                          "replica list."),
                                  (0, 39, "The manual partition assignment includes broker 2, but "
                                          "no such broker is registered."),
                                  (0, 39, "The manual partition assignment includes the broker 1 "
                                          "more than once."),
                                  (9, 3, "Unable to find partition adm-ra:9.")]),
                      ("adm-nope", [(0, 3, "Unable to find a topic named adm-nope.")])])
    for topics in (None, [("adm-ra", [0])], [("adm-nope", [0])]):
        body = e.i32(5000) + e.arr(None if topics is None else
                                   [e.str(t) + e.i32s(ps) + e.tags() for t, ps in topics]) + e.tags()
        assert raw_response(c, 46, 0, body, True) == \
            e.i32(0) + e.i16(0) + e.str(None) + e.arr([]) + e.tags()
    c.close()


@case("OffsetForLeaderEpoch v2-v4: epoch 0 from the start, Kafka's answers and fencing")
def t_offset_for_leader_epoch(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-ep", 2)
    for _ in range(3):
        produce(c, "adm-ep", 0, batch([b"a", b"b"]))
    for ver in (2, 3, 4):
        res = ofle(c, ver, [("adm-ep", [(0, -1, 0), (0, -1, -1), (0, -1, 5), (0, 0, 0),
                                        (0, 1, 0), (0, -1, -5), (1, -1, 0), (9, -1, 0)]),
                            ("adm-nope", [(0, -1, 0)])])
        assert res == [("adm-ep", [(0, 0, 0, 6), (0, 0, -1, -1), (0, 0, -1, -1), (0, 0, 0, 6),
                                   (75, 0, -1, -1), (0, 0, -5, 0), (0, 1, 0, 0),
                                   (3, 9, -1, -1)]),
                       ("adm-nope", [(3, 0, -1, -1)])], (ver, res)
    with open(os.path.join(ctx.broker.data, "adm-ep-0", "leader-epoch-checkpoint")) as f:
        assert f.read() == "0\n1\n0 0\n"
    c.close()


def create_partitions(c, ver, topics, validate=False):
    e = E(ver >= 2)
    body = e.arr([e.str(t) + e.i32(n) + e.arr(None if asg is None else
                                              [e.i32s(a) + e.tags() for a in asg]) + e.tags()
                  for t, n, asg in topics]) + e.i32(5000) + e.bool(validate) + e.tags()
    r = c.req(37, ver, body, flex=ver >= 2)
    assert r.i32() == 0
    out = []
    for _ in range(r.n()):
        out.append((r.str(), r.i16(), r.str()))
        r.tags()
    r.tags()
    assert r.left() == 0
    return out


@case("CreatePartitions v0-v3: growth, validate_only and Kafka's answers to bad requests")
def t_create_partitions(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-cp", 1)
    for ver in (0, 1, 2, 3):
        n = ver + 2
        assert create_partitions(c, ver, [("adm-cp", n, [[1]])], validate=True) == \
            [("adm-cp", 0, None)]
        assert create_partitions(c, ver, [("adm-cp", n, None)]) == [("adm-cp", 0, None)]
    assert create_partitions(c, 3, [("adm-cp", 5, None)]) == \
        [("adm-cp", 37, "Topic already has 5 partition(s).")]
    assert create_partitions(c, 3, [("adm-cp", 2, None)]) == \
        [("adm-cp", 37, "The topic adm-cp currently has 5 partition(s); 2 would not be an increase.")]
    assert create_partitions(c, 3, [("adm-cp", 10006, None)], validate=True) == \
        [("adm-cp", 44, "Excessively large number of additional partitions per request.")]
    assert create_partitions(c, 3, [("adm-cp", 7, [[1]])], validate=True) == \
        [("adm-cp", 39, "Attempted to add 2 additional partition(s), but only 1 assignment(s) "
                        "were specified.")]
    assert create_partitions(c, 3, [("adm-cp", 6, [[2]])], validate=True) == \
        [("adm-cp", 39, "The manual partition assignment includes broker 2, but no such broker "
                        "is registered.")]
    assert create_partitions(c, 3, [("adm-cp", 6, [[1], [1]]), ("adm-nope", 3, None),
                                    ("adm-cp", 7, None)], validate=True) == \
        [("adm-cp", 42, "Duplicate topic name."), ("adm-nope", 3, None)]
    _, dirs = log_dirs(c, 4, [("adm-cp", list(range(6)))])
    assert sorted(dirs[0]["topics"]["adm-cp"]) == [0, 1, 2, 3, 4]
    c.close()


def delete_records(c, ver, topics):
    e = E(ver >= 2)
    body = e.arr([e.str(t) + e.arr([e.i32(p) + e.i64(o) + e.tags() for p, o in ps]) + e.tags()
                  for t, ps in topics]) + e.i32(5000) + e.tags()
    r = c.req(21, ver, body, flex=ver >= 2)
    assert r.i32() == 0
    out = []
    for _ in range(r.n()):
        name, parts = r.str(), []
        for _ in range(r.n()):
            parts.append((r.i32(), r.i64(), r.i16()))
            r.tags()
        r.tags()
        out.append((name, parts))
    r.tags()
    assert r.left() == 0
    return out


@case("DeleteRecords v0-v2, and POLICY_VIOLATION on a compact-only topic (as Kafka 4)")
def t_delete_records(ctx):
    c = Conn(ctx.addr)
    create_topic(c, "adm-dr", 1)
    create_topic(c, "adm-drc", 1, configs=[("cleanup.policy", "compact")])
    for _ in range(6):
        produce(c, "adm-dr", 0, batch([b"r"]))
    for ver in (0, 1, 2):
        assert delete_records(c, ver, [("adm-dr", [(0, ver + 1)])]) == [("adm-dr", [(0, ver + 1, 0)])]
    assert delete_records(c, 2, [("adm-dr", [(0, 99), (0, -1), (3, 0)]), ("adm-drc", [(0, 0)])]) == \
        [("adm-dr", [(0, -1, 1), (0, 6, 0), (3, -1, 3)]), ("adm-drc", [(0, -1, 44)])]
    # the leader epoch now begins at the new log start (Kafka's truncateFromStart)
    assert ofle(c, 4, [("adm-dr", [(0, -1, 0)])]) == [("adm-dr", [(0, 0, 0, 6)])]
    c.close()


@case("malformed frames for every new API close the connection; the broker stays up")
def t_bad_input(ctx):
    frames = [
        (60, 0, b"", True), (60, 1, b"\x01", True),
        (35, 2, b"\x02\x05adm-x\xff\xff\xff\x7f", True),  # a partition count past the bytes
        (35, 1, struct.pack(">i", 0x7FFFFFFF), False),
        (43, 2, b"\x00\x02\x02x\x05", True),
        (45, 0, struct.pack(">i", 1) + b"\xff\xff\xff\xff\x0f", True),
        (46, 0, struct.pack(">i", 1) + b"\x80\x80\x80\x80\x10", True),
        (23, 4, struct.pack(">i", -1) + b"\x02\x02x\x03" + b"\x00" * 5, True),
        (23, 2, struct.pack(">i", 1) + struct.pack(">h", 5) + b"ab", False),
        (37, 3, b"\x02\x03ab\x00\x00\x00\x02\x05", True),
        (21, 2, b"\x02\x02a\xff\xff\xff\xff\x0f", True),
        (32, 4, b"\x02\x02\x02x\xff\xff\xff\xff\x0f", True),
        (44, 1, b"\x02\x02\x02x\x02\x02k\x00", True),
        (33, 0, struct.pack(">i", 2) + b"\x02", False),
    ]
    for key, ver, body, flex in frames:
        c = Conn(ctx.addr)
        c.send(key, ver, body, flex=flex)
        assert c.closed(), (key, ver)
    c = Conn(ctx.addr)
    assert c.req(18, 0, b"").i16() == 0
    c.close()


# ---- with a broker of their own ------------------------------------------------------------------

@case("compaction runs on the cleaner's schedule (log.cleaner.backoff.ms, dirty ratio)")
def t_cleaner_schedule(ctx):
    b = kafka_wire.Broker("--set", "log.cleaner.backoff.ms=200", "--set",
                          "log.flush.interval.ms=100", prefix="weir-test-admin-cl-")
    try:
        c = Conn(b.addr)
        assert create_topic(c, "adm-compact", 1, configs=[
            ("cleanup.policy", "compact"), ("segment.bytes", "1000"),
            ("min.cleanable.dirty.ratio", "0.01"), ("file.delete.delay.ms", "0")]) == (0, None)
        for i in range(60):
            produce(c, "adm-compact", 0, batch([b"v%d" % i], keys=[b"k%d" % (i % 3)]))
        hwm, n = fetch_counts(c, "adm-compact", 0)
        assert hwm == 60 and n == 60
        deadline = time.time() + 20
        while time.time() < deadline and n >= 30:  # passes may clean a prefix at a time
            time.sleep(0.2)
            hwm, n = fetch_counts(c, "adm-compact", 0)
        assert hwm == 60 and n < 30, (hwm, n)  # the active segment keeps its records
        c.close()
    finally:
        b.stop()
        b.cleanup()


@case("file.delete.delay.ms: deleted segments wait as *.deleted, then go")
def t_file_delete_delay(ctx):
    b = kafka_wire.Broker("--set", "log.cleaner.backoff.ms=200", prefix="weir-test-admin-fd-")
    try:
        c = Conn(b.addr)
        create_topic(c, "adm-fd", 1, configs=[("segment.bytes", "1000"),
                                              ("file.delete.delay.ms", "1500")])
        for i in range(20):
            produce(c, "adm-fd", 0, batch([b"x" * 200]))
        assert delete_records(c, 2, [("adm-fd", [(0, 15)])])[0][1][0][2] == 0
        pdir = os.path.join(b.data, "adm-fd-0")
        deleted = [f for f in os.listdir(pdir) if f.endswith(".deleted")]
        assert any(f.endswith(".log.deleted") for f in deleted), os.listdir(pdir)
        deadline = time.time() + 15
        while time.time() < deadline and deleted:
            time.sleep(0.2)
            deleted = [f for f in os.listdir(pdir) if f.endswith(".deleted")]
        assert not deleted, deleted
        c.close()
    finally:
        b.stop()
        b.cleanup()


@case("dynamic configs (both layers) and leader epochs are kept across a restart")
def t_restart(ctx):
    b = kafka_wire.Broker(prefix="weir-test-admin-rs-")
    data = b.data
    try:
        c = Conn(b.addr)
        create_topic(c, "adm-rs", 1)
        produce(c, "adm-rs", 0, batch([b"a", b"b", b"c"]))
        assert iac(c, [(4, "1", [("log.retention.bytes", 0, "5555")]),
                       (4, "", [("log.cleaner.backoff.ms", 0, "30000"), ("foo.bar", 0, "x")])]) == \
            [(0, None, 4, "1"), (0, None, 4, "")]
        c.close()
        assert b.stop() == 0
        b2 = kafka_wire.Broker(data=data, prefix="weir-test-admin-rs2-")
        try:
            c = Conn(b2.addr)
            cfg = describe(c, [(4, "1", ["log.retention.bytes", "log.cleaner.backoff.ms", "foo.bar"])])[0]["configs"]
            assert (cfg["log.retention.bytes"]["value"], cfg["log.retention.bytes"]["source"]) == ("5555", 2)
            assert (cfg["log.cleaner.backoff.ms"]["value"], cfg["log.cleaner.backoff.ms"]["source"]) == ("30000", 3)
            d = describe(c, [(4, "", None)])[0]["configs"]
            assert sorted(d) == ["foo.bar", "log.cleaner.backoff.ms", "min.insync.replicas"], d
            assert d["foo.bar"]["value"] is None and d["foo.bar"]["sensitive"]  # as Kafka keeps it
            assert ofle(c, 4, [("adm-rs", [(0, 0, 0)])]) == [("adm-rs", [(0, 0, 0, 3)])]
            c.close()
        finally:
            b2.stop()
            b2.cleanup()
    finally:
        b.cleanup()


class Ctx:
    pass


def main():
    try:
        b = kafka_wire.Broker(prefix="weir-test-admin-")
    except RuntimeError:
        print("not ok 1 - broker did not start")
        sys.exit(1)
    ctx = Ctx()
    ctx.broker, ctx.addr = b, b.addr
    try:
        for t in TESTS:
            t(ctx)
    finally:
        tap(b.stop() == 0, "SIGTERM: clean exit 0")
        b.cleanup()
    tap.finish()


if __name__ == "__main__":
    main()
