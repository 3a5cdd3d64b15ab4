"""Static membership (KIP-345) when a restarted member changes its subscription, with
confluent-kafka (librdkafka), pinned to what Apache Kafka 4.x does (checked with
WEIR_COMPAT_TARGET=kafka: the same cases pass against Kafka 4.4's group coordinator).

Classic protocol (JoinGroup v5): static members x and y share t1 (2 partitions). x restarts
within its session timeout (a static member sends no LeaveGroup) subscribed to the same [t1]:
it gets its partition back without a rebalance (y sees no revoke and no assign; on Weir the
generation stays the same). x restarts again subscribed to [t1, t2]: Kafka's rule (a known
static member rejoining a Stable group rebalances only when the group's selected protocol
would change) gives it its old assignment back, again without a rebalance, so t2 stays
unassigned and its records unread until something else rebalances the group.

Consumer protocol (KIP-848): the same restart with [t1, t2] does take t2: the returning static
member's heartbeat carries its new subscription and the group's target assignment follows, and
the records of t2 are consumed. TAP.
    WEIR_COMPAT_TARGET=kafka   the same against Apache Kafka 4.x (the reference)"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from compat import TARGET, Broker, Tap, eq  # noqa: E402

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

# the KIP-848 heartbeat every 500 ms rather than 5 s: the consumer-protocol case converges fast
B = Broker(settings=["group.consumer.min.heartbeat.interval.ms=500",
                    "group.consumer.heartbeat.interval.ms=500"])
T = Tap()
A = AdminClient({"bootstrap.servers": B.addr})
GROUP = "static-resub"
SESSION_MS = 6000  # Kafka's group.min.session.timeout.ms


def create(name, parts):
    A.create_topics([NewTopic(name, parts, 1)], operation_timeout=10)[name].result(15)
    end = time.time() + 15
    while time.time() < end:
        md = A.list_topics(name, timeout=5).topics.get(name)
        if md and md.error is None and len(md.partitions) == parts:
            return
        time.sleep(0.05)
    raise AssertionError("topic %s not ready" % name)


class Member:
    def __init__(self, instance, topics, protocol="classic"):
        self.events, self.values = [], []
        conf = {"bootstrap.servers": B.addr, "group.id": GROUP + "-" + protocol,
                "group.instance.id": instance, "client.id": instance,
                "group.protocol": protocol, "auto.offset.reset": "earliest",
                "enable.auto.commit": False}
        if protocol == "classic":
            conf.update({"session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 300})
        self.c = Consumer(conf)
        self.c.subscribe(topics, on_assign=self.on_assign, on_revoke=self.on_revoke)

    def on_assign(self, c, parts):
        self.events.append("assign")

    def on_revoke(self, c, parts):
        self.events.append("revoke")

    @property
    def assigned(self):
        return {"%s-%d" % (p.topic, p.partition) for p in self.c.assignment()}

    def poll(self):
        m = self.c.poll(0.05)
        if m is not None and not m.error():
            self.values.append("%s:%s" % (m.topic(), m.value().decode()))


def pump(members, seconds, until=None):
    end = time.time() + seconds
    while time.time() < end:
        for m in members:
            m.poll()
        if until and until():
            return True
    return until() if until else True


def generations():
    """The generations Weir's log announced for the classic group (None on Kafka)."""
    if TARGET == "kafka":
        return None
    with open(os.path.join(B.dir, "stderr")) as f:
        return re.findall(r"group %s-classic: generation (\d+)" % GROUP, f.read())


state = {}


@T.case("classic: static x and y share t1's 2 partitions 1 + 1", 40)
def _():
    create("t1", 2)
    create("t2", 2)
    x, y = Member("x", ["t1"]), Member("y", ["t1"])
    pump([x, y], 30, lambda: len(x.assigned) == 1 and len(y.assigned) == 1)
    pump([x, y], 0.5)
    eq("x | y", {"t1-0", "t1-1"}, x.assigned | y.assigned)
    state.update(x=x, y=y, x_parts=x.assigned, y_parts=y.assigned, gens=generations())


def restart_x(topics):
    """x closes (no LeaveGroup: it is static) and comes back with `topics`; y keeps polling.
    Returns the new x once it has an assignment and 2 s more went by."""
    x, y = state["x"], state["y"]
    y.events.clear()
    x.c.close()
    x2 = Member("x", topics)
    pump([x2, y], 20, lambda: x2.assigned)
    pump([x2, y], 2)
    state["x"] = x2
    return x2, y


@T.case("classic: x restarts with the same [t1]: its partition back, no rebalance", 40)
def _():
    x, y = restart_x(["t1"])
    eq("x's partitions", state["x_parts"], x.assigned)
    eq("x's rebalance callbacks", ["assign"], x.events)
    eq("y's partitions", state["y_parts"], y.assigned)
    eq("y's rebalance callbacks (none: no rebalance)", [], y.events)
    eq("the generations Weir announced", state["gens"], generations())


@T.case("classic: x restarts with [t1, t2]: its old assignment, no rebalance (Kafka's rule)", 40)
def _():
    x, y = restart_x(["t1", "t2"])
    p = Producer({"bootstrap.servers": B.addr})
    for i in range(4):
        p.produce("t2", value=b"v%d" % i, partition=i % 2)
    eq("unsent records", 0, p.flush(10))
    pump([x, y], 2)
    eq("x's partitions (t2 not among them)", state["x_parts"], x.assigned)
    eq("y's partitions", state["y_parts"], y.assigned)
    eq("y's rebalance callbacks (none: no rebalance)", [], y.events)
    eq("the generations Weir announced", state["gens"], generations())
    eq("records of t2 consumed", [], [v for v in x.values + y.values if v.startswith("t2:")])
    x.c.close()
    y.c.close()


@T.case("KIP-848: x restarts with [t1, t2]: it gets t2 and reads its records", 40)
def _():
    x, y = Member("x", ["t1"], "consumer"), Member("y", ["t1"], "consumer")
    pump([x, y], 30, lambda: len(x.assigned) == 1 and len(y.assigned) == 1)
    eq("x | y before", {"t1-0", "t1-1"}, x.assigned | y.assigned)
    x.c.close()
    x2 = Member("x", ["t1", "t2"], "consumer")
    want = {"t1-0", "t1-1", "t2-0", "t2-1"}
    pump([x2, y], 20, lambda: {"t2-0", "t2-1"} <= x2.assigned
         and x2.assigned | y.assigned == want and len(x2.values) >= 4)
    eq("t2's partitions are x's", {"t2-0", "t2-1"}, x2.assigned & {"t2-0", "t2-1"})
    eq("x | y after", want, x2.assigned | y.assigned)
    eq("t2's records, read by x", ["t2:v0", "t2:v1", "t2:v2", "t2:v3"], sorted(x2.values))
    x2.c.close()
    y.c.close()


T.done()
