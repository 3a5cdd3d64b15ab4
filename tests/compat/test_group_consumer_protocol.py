"""Consumer groups through rebalances with the newest librdkafka (confluent-kafka from the venv
of tests/python/requirements.txt), group.protocol=consumer (KIP-848) and classic: one member,
then three, then two leave; records keep arriving; every record is delivered exactly once
(each member commits what it read when a partition is revoked); the committed offsets are
resumed by a new member after a broker restart. Prints the measured times ("# time ...": the
first assignment, the rebalance to 3 members, the two leaves) for both protocols. TAP.
    WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka (checks the test, gives its times)"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from compat import Broker, Tap, eq  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

B = Broker()
T = Tap()
A = AdminClient({"bootstrap.servers": B.addr})
PARTS = 6


def create(name):
    A.create_topics([NewTopic(name, PARTS, 1)], operation_timeout=10)[name].result(15)
    end = time.time() + 15
    while time.time() < end:
        md = A.list_topics(name, timeout=5).topics.get(name)
        if md and md.error is None and len(md.partitions) == PARTS:
            return
        time.sleep(0.05)
    raise AssertionError("topic %s not ready" % name)


def produce(topic, first, count):
    """count records, round robin over the partitions, values first..first+count-1."""
    p = Producer({"bootstrap.servers": B.addr, "linger.ms": 5})
    for i in range(first, first + count):
        p.produce(topic, value=b"%d" % i, partition=i % PARTS)
    eq("unsent records", 0, p.flush(30))


class Member:
    """A group member that commits, when a partition is revoked (or lost to a close), the
    position after the last record it read: its successor starts exactly there."""

    def __init__(self, name, group, topic, protocol, seen):
        conf = {"bootstrap.servers": B.addr, "group.id": group, "client.id": name,
                "group.protocol": protocol, "enable.auto.commit": False,
                "auto.offset.reset": "earliest"}
        if protocol == "classic":
            conf.update({"session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
        self.name, self.seen, self.pos = name, seen, {}
        self.c = Consumer(conf)
        self.c.subscribe([topic], on_revoke=self.on_revoke, on_lost=self.on_lost)

    def on_revoke(self, c, parts):
        offs = [TopicPartition(p.topic, p.partition, self.pos[p.partition])
                for p in parts if p.partition in self.pos]
        if offs:
            c.commit(offsets=offs, asynchronous=False)
        for p in parts:
            self.pos.pop(p.partition, None)

    def on_lost(self, c, parts):
        for p in parts:
            self.pos.pop(p.partition, None)

    def poll(self):
        for m in self.c.consume(200, 0.02):
            if m.error():
                raise AssertionError("%s: %s" % (self.name, m.error()))
            key = (m.partition(), m.offset())
            self.seen[key] = self.seen.get(key, 0) + 1
            self.pos[m.partition()] = m.offset() + 1

    def size(self):
        return len(self.c.assignment())


def poll_until(members, cond, seconds, what):
    t0 = time.time()
    while time.time() - t0 < seconds:
        for m in members:
            m.poll()
        if cond():
            return time.time() - t0
    raise AssertionError("%s not reached within %d s (sizes %s)"
                         % (what, seconds, [m.size() for m in members]))


def rebalance_run(protocol):
    topic, group = "rb-" + protocol, "rb-g-" + protocol
    create(topic)
    produce(topic, 0, 600)
    seen = {}
    m1 = Member("m1", group, topic, protocol, seen)
    t_first = poll_until([m1], lambda: m1.size() == PARTS, 30, "m1 owning every partition")
    poll_until([m1], lambda: len(seen) >= 150, 20, "m1 reading")
    m2 = Member("m2", group, topic, protocol, seen)
    m3 = Member("m3", group, topic, protocol, seen)
    produce(topic, 600, 300)
    ms = [m1, m2, m3]
    t_three = poll_until(ms, lambda: [m.size() for m in ms] == [2, 2, 2], 60, "2+2+2")
    produce(topic, 900, 300)
    poll_until(ms, lambda: len(seen) == 1200, 30, "1200 records read")
    if protocol == "consumer":
        d = A.describe_consumer_groups([group])[group].result(10)
        eq("members described", 3, len(d.members))
        eq("group type", "CONSUMER", d.type.name)
    t0 = time.time()
    m2.c.close()
    m3.c.close()
    poll_until([m1], lambda: m1.size() == PARTS, 60, "m1 alone")
    t_leave = time.time() - t0
    produce(topic, 1200, 300)
    poll_until([m1], lambda: len(seen) == 1500, 30, "1500 records read")
    twice = sorted(k for k, n in seen.items() if n > 1)
    eq("records read more than once", [], twice[:10])
    eq("distinct records read", 1500, len(seen))
    m1.c.close()  # commits what it read
    print("# time %s: first member owns all %.2f s, 3 members at 2+2+2 %.2f s, 2 leave -> 1 "
          "member owns all %.2f s" % (protocol, t_first, t_three, t_leave), flush=True)
    return topic, group


@T.case("classic protocol, the same run (the times to compare)", 240)
def classic_protocol():
    rebalance_run("classic")


@T.case("classic members, then a consumer-protocol member joins (online upgrade to a mixed "
        "group) and leaves (online downgrade): 1500 records each read exactly once", 240)
def mixed():
    topic, group = "rb-mixed", "rb-g-mixed"
    create(topic)
    produce(topic, 0, 600)
    seen = {}
    c1 = Member("c1", group, topic, "classic", seen)
    c2 = Member("c2", group, topic, "classic", seen)
    cs = [c1, c2]
    poll_until(cs, lambda: [m.size() for m in cs] == [3, 3], 30, "3+3 (classic)")
    poll_until(cs, lambda: len(seen) >= 200, 20, "reading")
    k = Member("k", group, topic, "consumer", seen)
    produce(topic, 600, 300)
    ms = [c1, c2, k]
    t0 = time.time()
    poll_until(ms, lambda: [m.size() for m in ms] == [2, 2, 2], 60, "2+2+2 (mixed)")
    t_mixed = time.time() - t0
    d = A.describe_consumer_groups([group])[group].result(10)
    eq("group type once a consumer-protocol member joined", "CONSUMER", d.type.name)
    eq("members described", 3, len(d.members))
    produce(topic, 900, 300)
    poll_until(ms, lambda: len(seen) == 1200, 30, "1200 records read")
    k.c.close()
    t0 = time.time()
    poll_until(cs, lambda: [m.size() for m in cs] == [3, 3], 60, "3+3 again")
    t_down = time.time() - t0
    d = A.describe_consumer_groups([group])[group].result(10)
    eq("group type once only classic members are left (online downgrade)", "CLASSIC",
       d.type.name)
    produce(topic, 1200, 300)
    poll_until(cs, lambda: len(seen) == 1500, 30, "1500 records read")
    eq("records read more than once", [], sorted(x for x, n in seen.items() if n > 1)[:10])
    eq("distinct records read", 1500, len(seen))
    for m in cs:
        m.c.close()
    print("# time mixed: 2 classic members + 1 consumer-protocol member at 2+2+2 %.2f s, the "
          "consumer-protocol member leaves -> 3+3 classic %.2f s" % (t_mixed, t_down), flush=True)


@T.case("group.protocol=consumer: 1 then 3 members then 1 again, 1500 records each read "
        "exactly once through the rebalances", 240)
def consumer_protocol():
    rebalance_run("consumer")


@T.case("group.protocol=consumer: the committed offsets are resumed after a broker restart", 120)
def consumer_restart():
    topic, group = "rb-consumer", "rb-g-consumer"
    eq("exit code of the stop", 0, B.restart())
    global A
    A = AdminClient({"bootstrap.servers": B.addr})
    seen = {}
    m = Member("m4", group, topic, "consumer", seen)
    poll_until([m], lambda: m.size() == PARTS, 60, "the new member owning every partition")
    got = m.c.committed([TopicPartition(topic, p) for p in range(PARTS)], timeout=10)
    eq("committed offsets after the restart", [250] * PARTS, [tp.offset for tp in got])
    produce(topic, 1500, 60)
    poll_until([m], lambda: len(seen) == 60, 30, "60 new records")
    eq("only the new records, from the committed offsets on",
       sorted((p, o) for p in range(PARTS) for o in range(250, 260)), sorted(seen))
    m.c.close()


B.stop()
T.done()
