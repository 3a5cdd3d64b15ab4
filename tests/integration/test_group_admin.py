"""Group administration with kafka-python 2.0.2 (KafkaConsumer: JoinGroup v2, SyncGroup v1,
OffsetCommit v2, OffsetFetch v1; KafkaAdminClient: ListGroups, DescribeGroups, OffsetFetch v3
with null topics, DeleteGroups): list, describe and delete groups, committed offsets of members
and of a standalone consumer, NON_EMPTY_GROUP and GROUP_ID_NOT_FOUND. TAP."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import GroupIdNotFoundError, NonEmptyGroupError
from kafka.structs import OffsetAndMetadata

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIR = os.environ.get("WEIR_BIN", os.path.join(TOP, "build", "weir"))
WORK = tempfile.mkdtemp(prefix="weir-test-group-admin-")
TOPIC = "adm"

n = 0
failed = 0


def tap(ok, name):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name), flush=True)


def main():
    err = open(os.path.join(WORK, "broker.log"), "w")
    p = subprocess.Popen([WEIR, "serve", "--data-dir", os.path.join(WORK, "data"), "--listen",
                          "127.0.0.1:0", "--http-listen", "off", "--set",
                          "group.initial.rebalance.delay.ms=0", "--set", "num.partitions=3"],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        addr = p.stdout.readline().split()[-1]
        run(addr)
    finally:
        p.send_signal(signal.SIGTERM)
        tap(p.wait(60) == 0, "clean shutdown")
        err.close()


def run(addr):
    prod = KafkaProducer(bootstrap_servers=addr)
    for i in range(30):
        prod.send(TOPIC, value=b"m%d" % i, partition=i % 3)
    prod.flush()
    prod.close()

    c = KafkaConsumer(TOPIC, bootstrap_servers=addr, group_id="kp", client_id="kp-client",
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      consumer_timeout_ms=3000, session_timeout_ms=10000,
                      heartbeat_interval_ms=500)
    got = [m.value for m in c]
    c.commit()
    tap(sorted(got) == sorted(b"m%d" % i for i in range(30)),
        "a kafka-python group member reads all 30 messages (%d)" % len(got))

    adm = KafkaAdminClient(bootstrap_servers=addr)
    groups = adm.list_consumer_groups()
    tap(("kp", "consumer") in groups, "ListGroups shows the group (%s)" % groups)
    d = adm.describe_consumer_groups(["kp"])[0]
    tap(d.error_code == 0 and d.state == "Stable" and d.protocol_type == "consumer"
        and len(d.members) == 1 and d.members[0].client_id == "kp-client"
        and d.members[0].client_host.startswith("/127.0.0.1"),
        "DescribeGroups: Stable, one member with its client id and host (%s)" % (d,))
    asg = d.members[0].member_assignment if d.members else None
    tap(asg is not None and sorted(asg.partitions()) == [(TOPIC, 0), (TOPIC, 1), (TOPIC, 2)],
        "the member's assignment round-trips as opaque bytes (%s)"
        % (asg.partitions() if asg else None))
    offs = adm.list_consumer_group_offsets("kp")
    tap({tp.partition: om.offset for tp, om in offs.items()} == {0: 10, 1: 10, 2: 10},
        "committed offsets of every partition (null topic list) are 10")

    res = adm.delete_consumer_groups(["kp"])
    tap(len(res) == 1 and res[0][1] is NonEmptyGroupError,
        "deleting an active group: NON_EMPTY_GROUP (%s)" % res)
    c.close()  # LeaveGroup: the group becomes Empty
    d = adm.describe_consumer_groups(["kp"])[0]
    tap(d.state == "Empty" and d.members == [], "after the member left: Empty (%s)" % d.state)
    res = adm.delete_consumer_groups(["kp"])
    tap(len(res) == 1 and res[0][0] == "kp" and res[0][1].errno == 0,
        "deleting the empty group succeeds (%s)" % res)
    tap("kp" not in [g for g, _ in adm.list_consumer_groups()], "it is gone from ListGroups")
    tap(adm.list_consumer_group_offsets("kp") == {}, "and so are its offsets")
    d = adm.describe_consumer_groups(["kp"])[0]
    tap(d.state == "Dead", "DescribeGroups of a deleted group: Dead")
    res = adm.delete_consumer_groups(["nosuch"])
    tap(res[0][1] is GroupIdNotFoundError, "deleting an unknown group: GROUP_ID_NOT_FOUND")

    # a standalone consumer: assign() and commit with generation -1
    s = KafkaConsumer(bootstrap_servers=addr, group_id="solo", enable_auto_commit=False)
    s.assign([TopicPartition(TOPIC, 1)])
    s.commit({TopicPartition(TOPIC, 1): OffsetAndMetadata(7, "meta-7")})
    s.close(autocommit=False)
    offs = adm.list_consumer_group_offsets("solo")
    tp1 = TopicPartition(TOPIC, 1)
    tap(tp1 in offs and offs[tp1].offset == 7 and offs[tp1].metadata == "meta-7",
        "a standalone commit is stored with its metadata (%s)" % offs)
    tap(("solo", "") in adm.list_consumer_groups(), "the standalone group is listed, no protocol")
    adm.close()


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
