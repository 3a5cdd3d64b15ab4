"""Static membership (KIP-345) with confluent-kafka (librdkafka, JoinGroup v5): two members with
group.instance.id share 6 partitions; one restarts (a new consumer with the same instance id,
no LeaveGroup) within the session timeout and gets exactly its partitions back without a
rebalance: the other member sees no revoke and no assign, and the broker starts no rebalance
and keeps the generation. Then the restarted member stays away past its session timeout and the
other member takes all 6 partitions. TAP."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
WORK = tempfile.mkdtemp(prefix="weir-test-group-static-")
LOG = os.path.join(WORK, "broker.log")
TOPIC = "st"
GROUP = "sg"
SESSION_MS = 4000

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


class Member:
    def __init__(self, addr, instance):
        self.events = []
        self.assigned = set()
        self.c = Consumer({"bootstrap.servers": addr, "group.id": GROUP,
                           "group.instance.id": instance, "session.timeout.ms": SESSION_MS,
                           "heartbeat.interval.ms": 300, "auto.offset.reset": "earliest",
                           "enable.auto.commit": True, "auto.commit.interval.ms": 200})
        self.c.subscribe([TOPIC], on_assign=self.on_assign, on_revoke=self.on_revoke)
        self.values = []

    def on_assign(self, c, parts):
        self.events.append("assign")
        self.assigned = {p.partition for p in parts}

    def on_revoke(self, c, parts):
        self.events.append("revoke")
        self.assigned = set()

    def poll(self):
        m = self.c.poll(0.05)
        if m is not None and not m.error():
            self.values.append(m.value().decode())


def pump(members, seconds, until=None):
    end = time.time() + seconds
    while time.time() < end:
        for m in members:
            m.poll()
        if until and until():
            return True
    return until() if until else True


def broker_log():
    with open(LOG) as f:
        return f.read()


def generations():
    return [int(g) for g in re.findall(r"group %s: generation (\d+)" % GROUP, broker_log())]


def main():
    err = open(LOG, "w")
    p = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(WORK, "data"), "--listen",
                          "127.0.0.1:0", "--http-listen", "off", "--set",
                          "group.initial.rebalance.delay.ms=0", "--set",
                          "group.min.session.timeout.ms=1000"],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        addr = p.stdout.readline().split()[-1]
        admin = AdminClient({"bootstrap.servers": addr})
        admin.create_topics([NewTopic(TOPIC, 6, 1)])[TOPIC].result(10)
        run(addr)
    finally:
        p.send_signal(signal.SIGTERM)
        tap(p.wait(60) == 0, "clean shutdown")
        err.close()


def run(addr):
    a = Member(addr, "inst-a")
    b = Member(addr, "inst-b")
    ok = pump([a, b], 20, lambda: len(a.assigned) == 3 and len(b.assigned) == 3)
    pump([a, b], 1.5)
    tap(ok and len(a.assigned | b.assigned) == 6, "two static members share 6 partitions 3 + 3")
    a_parts, b_parts = set(a.assigned), set(b.assigned)
    gens = generations()
    rebalances = broker_log().count("group %s: preparing rebalance" % GROUP)
    b.events.clear()

    # a restarts: closed without LeaveGroup, a new consumer with the same instance id
    a.c.close()
    a2 = Member(addr, "inst-a")
    back = pump([a2, b], 10, lambda: len(a2.assigned) == 3)
    pump([a2, b], 2)
    tap(back and a2.assigned == a_parts, "the restarted member gets its own partitions back "
        "(%s, had %s)" % (sorted(a2.assigned), sorted(a_parts)))
    tap(b.events == [] and b.assigned == b_parts,
        "the other member saw no revoke and no assign (%s)" % b.events)
    log = broker_log()
    tap("static member inst-a rejoined" in log and " left" not in log,
        "no LeaveGroup on close; the broker replaced the member id of inst-a")
    tap(log.count("group %s: preparing rebalance" % GROUP) == rebalances
        and generations() == gens,
        "no rebalance: the generation stayed %s" % (gens[-1] if gens else None))

    # both still consume: 10 new messages per partition go to their owners
    pr = Producer({"bootstrap.servers": addr})
    for i in range(60):
        pr.produce(TOPIC, value=b"x%02d" % i, partition=i % 6)
    pr.flush(10)
    pump([a2, b], 10, lambda: len(set(a2.values + b.values)) >= 60)
    tap(sorted(a2.values + b.values) == sorted("x%02d" % i for i in range(60))
        and all(int(v[1:]) % 6 in a_parts for v in a2.values),
        "after the restart each member consumes its own partitions (%d + %d)"
        % (len(a2.values), len(b.values)))

    # a goes away for longer than its session timeout: b takes everything
    a2.c.close()
    took = pump([b], SESSION_MS / 1000 + 10, lambda: len(b.assigned) == 6)
    tap(took, "past the session timeout the remaining member owns all 6 partitions")
    b.c.close()


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        tap(False, "no exception")
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print("1..%d" % n)
    sys.exit(1 if failed else 0)
