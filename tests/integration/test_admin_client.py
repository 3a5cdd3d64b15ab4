"""# timeout: 180
The admin APIs through a current real client: confluent-kafka 2.16.1 from PyPI (its bundled
librdkafka 2.16), installed by `make deps` into build/compat/venv (tests/python/requirements.txt).
describe_cluster, describe_configs (topic and broker, sources and synonyms),
incremental_alter_configs (SET, DELETE, APPEND, SUBTRACT, validate_only, errors), alter_configs,
create_partitions, delete_records, list_offsets, elect_leaders, against `weir serve` on port 0.
Skips (one "ok # skip" line) when the venv is not there. TAP."""
import os
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
VENV_PY = os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "compat", "venv", "bin",
                      "python")
if os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(VENV_PY))):
    if not os.path.exists(VENV_PY):
        print("ok 1 # skip build/compat/venv missing: run `make deps` (tests/python/requirements.txt)")
        print("1..1")
        sys.exit(0)
    os.execv(VENV_PY, [VENV_PY] + sys.argv)

sys.path.insert(0, HERE)
import kafka_wire  # noqa: E402
import confluent_kafka  # noqa: E402
from confluent_kafka import ElectionType, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,  # noqa: E402
                                   ConfigResource, ConfigSource, NewPartitions, NewTopic,
                                   OffsetSpec, ResourceType)

tap = kafka_wire.Tap()
TESTS = []
T = 30  # seconds for any one admin call


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


def one(futures):
    """The single future of an admin call's result dict, resolved."""
    assert len(futures) == 1, futures
    return list(futures.values())[0].result(T)


def topic_configs(a, name):
    return one(a.describe_configs([ConfigResource(ResourceType.TOPIC, name)],
                                  request_timeout=T))


@case("confluent-kafka is 2.16.1 with librdkafka 2.16")
def t_version(ctx):
    v = confluent_kafka.version()
    assert (v[0] if isinstance(v, tuple) else v) == "2.16.1", v
    assert confluent_kafka.libversion()[0].startswith("2.16"), confluent_kafka.libversion()


@case("describe_cluster: this node, as broker and controller")
def t_describe_cluster(ctx):
    # (librdkafka asks for the authorized operations with Metadata, not DescribeCluster.)
    d = ctx.admin.describe_cluster(request_timeout=T).result(T)
    host, port = ctx.addr.rsplit(":", 1)
    assert len(d.cluster_id) == 22 and d.controller.id == 1
    assert [(n.id, n.host, n.port) for n in d.nodes] == [(1, host, int(port))]


@case("describe_configs of a topic: Kafka's 37 names, defaults, sources and synonyms")
def t_describe_topic(ctx):
    a = ctx.admin
    for f in a.create_topics([NewTopic("cl-t", 3, 1, config={"retention.ms": "3600000"})],
                             request_timeout=T).values():
        f.result(T)
    cfg = topic_configs(a, "cl-t")
    assert len(cfg) == 37, len(cfg)
    assert cfg["retention.ms"].value == "3600000"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["min.cleanable.dirty.ratio"].value == "0.5"
    assert cfg["min.cleanable.dirty.ratio"].source == ConfigSource.DEFAULT_CONFIG.value
    syn = cfg["cleanup.policy"].synonyms
    assert [(s.name, s.value, s.source) for s in syn.values()] == \
        [("log.cleanup.policy", "delete", ConfigSource.DEFAULT_CONFIG.value)], syn


@case("describe_configs of the broker: 369 settings, secrets hidden, read-only ones marked")
def t_describe_broker(ctx):
    cfg = one(ctx.admin.describe_configs([ConfigResource(ResourceType.BROKER, "1")],
                                         request_timeout=T))
    assert len(cfg) == 369, len(cfg)  # Kafka's 350, weir.*, super.users, allow.everyone
    assert cfg["ssl.keystore.password"].is_sensitive and cfg["ssl.keystore.password"].value is None
    assert cfg["log.retention.hours"].is_read_only and not cfg["log.retention.ms"].is_read_only
    assert cfg["log.cleaner.backoff.ms"].value == "15000"


@case("incremental_alter_configs: SET, DELETE, APPEND, SUBTRACT on a topic and the broker")
def t_incremental(ctx):
    a = ctx.admin
    res = ConfigResource(ResourceType.TOPIC, "cl-t", incremental_configs=[
        ConfigEntry("compression.type", "zstd", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("min.cleanable.dirty.ratio", "0.2", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    one(a.incremental_alter_configs([res], request_timeout=T))
    cfg = topic_configs(a, "cl-t")
    assert cfg["compression.type"].value == "zstd"
    assert cfg["min.cleanable.dirty.ratio"].value == "0.2"
    assert cfg["cleanup.policy"].value == "delete,compact"
    assert cfg["retention.ms"].value == "604800000"
    res = ConfigResource(ResourceType.TOPIC, "cl-t", incremental_configs=[
        ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT)])
    one(a.incremental_alter_configs([res], request_timeout=T))
    assert topic_configs(a, "cl-t")["cleanup.policy"].value == "compact"
    b = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
        ConfigEntry("log.cleaner.backoff.ms", "20000", incremental_operation=AlterConfigOpType.SET)])
    one(a.incremental_alter_configs([b], request_timeout=T))
    cfg = one(a.describe_configs([ConfigResource(ResourceType.BROKER, "1")], request_timeout=T))
    assert cfg["log.cleaner.backoff.ms"].value == "20000"
    assert cfg["log.cleaner.backoff.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value


@case("incremental_alter_configs errors: INVALID_CONFIG, validate_only changes nothing")
def t_incremental_errors(ctx):
    a = ctx.admin
    bad = ConfigResource(ResourceType.TOPIC, "cl-t", incremental_configs=[
        ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET)])
    try:
        one(a.incremental_alter_configs([bad], request_timeout=T))
        raise AssertionError("accepted an unknown topic config")
    except KafkaException as e:
        err = e.args[0]
        assert err.code() == confluent_kafka.KafkaError.INVALID_CONFIG, err
        assert "Unknown topic config name: no.such.config" in err.str(), err.str()
    ok = ConfigResource(ResourceType.TOPIC, "cl-t", incremental_configs=[
        ConfigEntry("segment.ms", "100000", incremental_operation=AlterConfigOpType.SET)])
    one(a.incremental_alter_configs([ok], validate_only=True, request_timeout=T))
    assert topic_configs(a, "cl-t")["segment.ms"].value == "604800000"


@case("alter_configs replaces a topic's overrides")
def t_alter_configs(ctx):
    a = ctx.admin
    res = ConfigResource(ResourceType.TOPIC, "cl-t", set_config={"retention.bytes": "1048576"})
    one(a.alter_configs([res], request_timeout=T))
    cfg = topic_configs(a, "cl-t")
    assert cfg["retention.bytes"].value == "1048576" and cfg["compression.type"].value == "producer"


@case("create_partitions grows a topic; no increase is INVALID_PARTITIONS")
def t_create_partitions(ctx):
    a = ctx.admin
    one(a.create_partitions([NewPartitions("cl-t", 5)], request_timeout=T))
    md = a.list_topics("cl-t", timeout=T)
    assert len(md.topics["cl-t"].partitions) == 5
    try:
        one(a.create_partitions([NewPartitions("cl-t", 4)], request_timeout=T))
        raise AssertionError("shrinking was accepted")
    except KafkaException as e:
        assert e.args[0].code() == confluent_kafka.KafkaError.INVALID_PARTITIONS, e


@case("delete_records moves the low watermark; list_offsets sees it")
def t_delete_records(ctx):
    a = ctx.admin
    p = confluent_kafka.Producer({"bootstrap.servers": ctx.addr})
    for i in range(10):
        p.produce("cl-t", value=b"v%d" % i, partition=0)
    assert p.flush(T) == 0
    got = one(a.delete_records([TopicPartition("cl-t", 0, 4)], request_timeout=T))
    assert got.low_watermark == 4, got
    low = one(a.list_offsets({TopicPartition("cl-t", 0): OffsetSpec.earliest()},
                             request_timeout=T))
    high = one(a.list_offsets({TopicPartition("cl-t", 0): OffsetSpec.latest()},
                              request_timeout=T))
    assert (low.offset, high.offset) == (4, 10), (low, high)


@case("elect_leaders: nothing to elect on one node (ELECTION_NOT_NEEDED per partition)")
def t_elect(ctx):
    # (confluent-kafka 2.16.1's elect_leaders fails with a request_timeout keyword.)
    res = ctx.admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("cl-t", 0)]).result(T)
    err = res[TopicPartition("cl-t", 0)]
    assert err is not None and err.code() == confluent_kafka.KafkaError.ELECTION_NOT_NEEDED, res


class Ctx:
    pass


def main():
    try:
        b = kafka_wire.Broker(prefix="weir-test-admin-client-")
    except RuntimeError:
        print("not ok 1 - broker did not start")
        sys.exit(1)
    ctx = Ctx()
    ctx.addr = b.addr
    ctx.admin = AdminClient({"bootstrap.servers": b.addr})
    try:
        for t in TESTS:
            t(ctx)
    finally:
        ctx.admin = None
        tap(b.stop() == 0, "SIGTERM: clean exit 0")
        b.cleanup()
    tap.finish()


if __name__ == "__main__":
    main()
