"""The group APIs at the byte level, against `weir serve` on port 0, with exact error codes and
messages as Apache Kafka 4.4 answers them (each case was first run against Kafka): the KIP-848
APIs (ConsumerGroupHeartbeat v0-v1, ConsumerGroupDescribe v0: join, revoke before assign, leave,
static members, Kafka's request checks, exact answer bytes), OffsetCommit v9 / OffsetFetch v9
member-epoch checks, the flexible Kafka 4 versions of the classic group APIs (FindCoordinator
v4-5 batched, JoinGroup v9, SyncGroup v5, Heartbeat v4, LeaveGroup v5, ListGroups v5 filters,
DescribeGroups v5, DeleteGroups v2), classic and consumer groups under one id, a consumer group
resumed after a restart, and malformed requests (connection closed, broker alive). TAP.
    WEIR_TEST_KAFKA=host:port   run the cases that hold for any Kafka against that broker"""
import os
import struct
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_wire  # noqa: E402
from kafka_wire.codec import Client, Rd, W, uvarint  # noqa: E402

T = kafka_wire.Tap()
KAFKA = os.environ.get("WEIR_TEST_KAFKA")
RUN = str(int(time.time() * 1000) % 100000)  # fresh names when run against a long-lived Kafka

HB, CGD = 68, 69


def name(x):
    return "%s-%s" % (x, RUN)


# ---- requests ------------------------------------------------------------------------------------

def create_topic(c, topic, parts):
    w = W(True).arr([0], lambda w, _: w.str(topic).i32(parts).i16(1).arr([]).arr([]).tags())
    w.i32(10000).bool(False).tags()
    r = c.call(19, 7, w)
    r.i32()
    res = r.arr(lambda r: (r.str(), r.uuid(), r.i16(), r.str(), r.i32(), r.i16(),
                           r.arr(lambda r: (r.str(), r.str(), r.bool(), r.i8(), r.bool(),
                                            r.tags())), r.tags()))
    return res[0][1], res[0][2]


def find_coordinator(c, group, key_type=0, ver=4):
    w = W(True).i8(key_type).arr([group], lambda w, g: w.str(g)).tags()
    r = c.call(10, ver, w)
    r.i32()
    return r.arr(lambda r: (r.str(), r.i32(), r.str(), r.i32(), r.i16(), r.str(), r.tags())[:6])


def wait_coordinator(c, group):
    for _ in range(100):
        if find_coordinator(c, group)[0][4] == 0:
            return
        time.sleep(0.2)
    raise AssertionError("no coordinator for %s" % group)


def hb_body(group, member, epoch, ver=1, inst=None, rack=None, rto=-1, topics=None, regex=None,
            assignor=None, owned=None):
    w = W(True).str(group).str(member).i32(epoch).nstr(inst).nstr(rack).i32(rto)
    w.arr(topics, lambda w, t: w.str(t))
    if ver >= 1:
        w.nstr(regex)
    w.nstr(assignor)
    w.arr(owned, lambda w, o: w.uuid(o[0]).arr(o[1], lambda w, p: w.i32(p)).tags())
    return w.tags()


def hb_read(r):
    out = dict(throttle=r.i32(), error=r.i16(), msg=r.str(), member=r.str(), epoch=r.i32(),
               interval=r.i32(), assignment=None)
    if r.i8() >= 0:
        out["assignment"] = r.arr(lambda r: (r.uuid(), r.arr(Rd.i32), r.tags())[:2])
        r.tags()
    r.tags()
    out["rest"] = r.left()
    return out


def hb(c, group, member, epoch, ver=1, **kw):
    return hb_read(c.call(HB, ver, hb_body(group, member, epoch, ver, **kw)))


def join(c, group, member, topics, **kw):
    return hb(c, group, member, 0, rto=30000, topics=topics, owned=[], **kw)


def describe(c, groups, with_ops=True):
    w = W(True).arr(groups, lambda w, g: w.str(g)).bool(with_ops).tags()
    r = c.call(CGD, 0, w)
    r.i32()

    def asg(r):
        a = r.arr(lambda r: (r.uuid(), r.str(), r.arr(Rd.i32), r.tags())[:3])
        r.tags()
        return a

    def mem(r):
        m = dict(id=r.str(), inst=r.str(), rack=r.str(), epoch=r.i32(), client=r.str(),
                 host=r.str(), subs=r.arr(Rd.str), regex=r.str(), asg=asg(r), target=asg(r))
        r.tags()
        return m

    def grp(r):
        g = dict(error=r.i16(), msg=r.str(), id=r.str(), state=r.str(), epoch=r.i32(),
                 aepoch=r.i32(), assignor=r.str(), members=r.arr(mem), ops=r.i32())
        r.tags()
        return g
    return r.arr(grp)


def commit(c, group, member, gen, topic, part, off, ver=9, meta=None):
    w = W(ver >= 8).str(group).i32(gen).str(member)
    if ver >= 7:
        w.nstr(None)
    if 2 <= ver <= 4:
        w.i64(-1)

    def p(w, x):
        w.i32(x).i64(off)
        if ver >= 6:
            w.i32(-1)
        w.nstr(meta).tags()
    w.arr([topic], lambda w, t: w.str(t).arr([part], p).tags()).tags()
    r = c.call(8, ver, w)
    if ver >= 3:
        r.i32()
    return r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i16(), r.tags())[:2]),
                            r.tags())[:2])[0][1][0][1]


def offset_fetch9(c, groups):
    """groups: [(group, member or None, epoch, topic, [partitions])] -> [(group, parts, err)]"""
    w = W(True).arr(groups, lambda w, g: w.str(g[0]).nstr(g[1]).i32(g[2]).arr(
        [g[3]], lambda w, t: w.str(t).arr(g[4], lambda w, p: w.i32(p)).tags()).tags())
    w.bool(False).tags()
    r = c.call(9, 9, w)
    r.i32()
    out = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.str(), r.arr(
        lambda r: (r.i32(), r.i64(), r.i32(), r.str(), r.i16(), r.tags())[:5]), r.tags())[:2]),
        r.i16(), r.tags())[:3])
    r.tags()
    return out


SUB = struct.pack(">hih", 0, 1, 1) + b"x" + struct.pack(">i", -1)  # consumer protocol v0


def join_group(c, group, member, ver=9, ptype="consumer", inst=None):
    w = W(ver >= 6).str(group).i32(10000).i32(10000).str(member)
    if ver >= 5:
        w.nstr(inst)
    w.str(ptype).arr([("range", SUB)], lambda w, p: w.str(p[0]).bytes(p[1]).tags())
    if ver >= 8:
        w.nstr(None)
    r = c.call(11, ver, w.tags())
    return dict(thr=r.i32(), error=r.i16(), gen=r.i32(), ptype=r.str(), proto=r.str(),
                leader=r.str(), skip=r.bool(), member=r.str(),
                members=r.arr(lambda r: (r.str(), r.str(), r.bytes(), r.tags())[:3]))


def sync_group(c, group, member, gen, assignments, ptype="consumer", proto="range"):
    w = W(True).str(group).i32(gen).str(member).nstr(None).nstr(ptype).nstr(proto)
    w.arr(assignments, lambda w, a: w.str(a[0]).bytes(a[1]).tags()).tags()
    r = c.call(14, 5, w)
    return dict(thr=r.i32(), error=r.i16(), ptype=r.str(), proto=r.str(), asg=r.bytes())


def heartbeat4(c, group, member, gen):
    r = c.call(12, 4, W(True).str(group).i32(gen).str(member).nstr(None).tags())
    r.i32()
    return r.i16()


def leave5(c, group, members):
    w = W(True).str(group).arr(members, lambda w, m: w.str(m).nstr(None).nstr("bye").tags())
    r = c.call(13, 5, w.tags())
    r.i32()
    return r.i16(), r.arr(lambda r: (r.str(), r.str(), r.i16(), r.tags())[:3])


def list_groups5(c, states=(), types=()):
    w = W(True).arr(list(states), lambda w, s: w.str(s)).arr(list(types), lambda w, s: w.str(s))
    r = c.call(16, 5, w.tags())
    r.i32()
    e = r.i16()
    return e, r.arr(lambda r: (r.str(), r.str(), r.str(), r.str(), r.tags())[:4])


def describe_groups5(c, groups):
    r = c.call(15, 5, W(True).arr(groups, lambda w, g: w.str(g)).bool(True).tags())
    r.i32()
    return r.arr(lambda r: (dict(error=r.i16(), id=r.str(), state=r.str(), ptype=r.str(),
                                 proto=r.str(), members=r.arr(lambda r: (
                                     r.str(), r.str(), r.str(), r.str(), r.bytes(), r.bytes(),
                                     r.tags())[:4]), ops=r.i32()), r.tags())[0])


def delete_groups2(c, groups):
    r = c.call(42, 2, W(True).arr(groups, lambda w, g: w.str(g)).tags())
    r.i32()
    return r.arr(lambda r: (r.str(), r.i16(), r.tags())[:2])


def api_versions(c):
    r = c.call(18, 3, W(True).str("t").str("1").tags())
    err = r.i16()
    return err, {k: (lo, hi) for k, lo, hi, _ in r.arr(
        lambda r: (r.i16(), r.i16(), r.i16(), r.tags()))}


def case(fn):
    def run(*a):
        try:
            fn(*a)
        except Exception:
            traceback.print_exc()
            T(False, "%s raised" % fn.__name__)
    run.__name__ = fn.__name__
    return run


def until(call, done, first=None, seconds=5):
    """Kafka computes a new target at most every group.consumer.assignment.interval.ms: the
    answer of call() once done(answer) holds (first: an answer in hand already)."""
    r = first
    end = time.time() + seconds
    while (r is None or not done(r)) and time.time() < end:
        if r is not None:
            time.sleep(0.1)
        r = call()
    return r


def cstr(s):
    """A compact string, as the answers carry it (None: null)."""
    if s is None:
        return b"\x00"
    return uvarint(len(s) + 1) + s.encode()


def hb_bytes(error=0, msg=None, member=None, epoch=0, interval=0, assignment=None):
    """A ConsumerGroupHeartbeat answer, byte for byte (after the response header)."""
    b = struct.pack(">ih", 0, error) + cstr(msg) + cstr(member) + struct.pack(">ii", epoch,
                                                                               interval)
    if assignment is None:
        return b + b"\xff\x00"
    b += b"\x01" + uvarint(len(assignment) + 1)
    for tid, parts in assignment:
        b += tid + uvarint(len(parts) + 1) + b"".join(struct.pack(">i", p) for p in parts) + b"\x00"
    return b + b"\x00\x00"


def raw_hb(c, ver, body):
    r = c.call(HB, ver, body)
    return bytes(r.b[r.p:])  # the body after the response header


# ---- cases ---------------------------------------------------------------------------------------

@case
def t_api_versions(addr):
    c = Client(addr)
    err, v = api_versions(c)
    want = {68: (0, 1), 69: (0, 0), 8: (2, 9), 9: (1, 9), 10: (0, 5), 11: (0, 9), 12: (0, 4),
            13: (0, 5), 14: (0, 5), 15: (0, 5), 16: (0, 5), 42: (0, 2)}
    got = {k: v.get(k) for k in want}
    T(err == 0 and all(got[k] is not None and got[k][0] <= want[k][0] and got[k][1] >= want[k][1]
                       for k in want),
      "ApiVersions v3: ConsumerGroupHeartbeat 0-1, ConsumerGroupDescribe 0 and the Kafka 4 "
      "group versions (%s)" % got)
    c.close()


@case
def t_join_and_leave_bytes(addr):
    c = Client(addr, client_id="cg-bytes")
    g, t = name("cg-bytes"), name("cg-bytes-t")
    wait_coordinator(c, g)
    tid, err = create_topic(c, t, 2)
    member = "member-bytes-0000000001"
    got = raw_hb(c, 1, hb_body(g, member, 0, rto=30000, topics=[t], owned=[]))
    r = hb_read(Rd(got, True))
    T(r["error"] == 0 and r["member"] == member and r["epoch"] > 0 and r["interval"] == 5000,
      "join (v1, the member names itself): its id, a positive epoch, heartbeat interval 5000")
    if not KAFKA:
        T(got == hb_bytes(member=member, epoch=1, interval=5000, assignment=[(tid, [0, 1])]),
          "join: the answer byte for byte, assignment t:[0,1] by topic id (%s)" % got.hex())
    r = until(lambda: hb(c, g, member, r["epoch"]), lambda x: x["assignment"], r)
    epoch = r["epoch"]
    T(r["assignment"] == [(tid, [0, 1])], "the one member gets both partitions (%s)" % r)
    r = hb(c, g, member, epoch)
    T(r["error"] == 0 and r["assignment"] is None and r["epoch"] == epoch,
      "a heartbeat with nothing new: no assignment (null)")
    d = describe(c, [g])[0]
    m = d["members"][0] if d["members"] else {}
    T(d["error"] == 0 and d["state"] == "Stable" and d["assignor"] == "uniform" and
      d["aepoch"] == d["epoch"] and d["ops"] == 3400 and m.get("client") == "cg-bytes" and
      m.get("host") == "/127.0.0.1" and m.get("subs") == [t] and m.get("regex") == "" and
      m.get("asg") == [(tid, t, [0, 1])] and m.get("target") == [(tid, t, [0, 1])],
      "ConsumerGroupDescribe: Stable, uniform, the member with client, host, subscription, "
      "assignment and target (%s)" % d)
    got = raw_hb(c, 1, hb_body(g, member, -1))
    T(got == hb_bytes(member=member, epoch=-1), "leave (-1): id, epoch -1, no interval, null "
      "assignment, byte for byte (%s)" % got.hex())
    msg = "Member %s is not a member of group %s." % (member, g)
    got = raw_hb(c, 1, hb_body(g, member, epoch))
    T(got == hb_bytes(error=25, msg=msg), "after leaving: UNKNOWN_MEMBER_ID with Kafka's message")
    d = describe(c, [g])[0]
    T(d["state"] == "Empty" and d["members"] == [], "the group stays, Empty (%s)" % d["state"])
    c.close()


@case
def t_heartbeat_checks(addr):
    c = Client(addr)
    g, t = name("cg-checks"), name("cg-checks-t")
    wait_coordinator(c, g)
    cases = [
        ("no member id (v1)", dict(member="", epoch=0, rto=1000, topics=[t], owned=[]), 42,
         "MemberId can't be empty."),
        ("blank group id", dict(group=" ", epoch=1), 42, "GroupId can't be empty."),
        ("empty instance id", dict(epoch=1, inst=""), 42, "InstanceId can't be empty."),
        ("empty rack id", dict(epoch=1, rack=""), 42, "RackId can't be empty."),
        ("join without a rebalance timeout", dict(epoch=0, topics=[t], owned=[]), 42,
         "RebalanceTimeoutMs must be provided in first request."),
        ("join with null owned partitions", dict(epoch=0, rto=1000, topics=[t]), 42,
         "TopicPartitions must be empty when (re-)joining."),
        ("join without a subscription", dict(epoch=0, rto=1000, owned=[]), 42,
         "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when "
         "(re-)joining."),
        ("-2 without an instance id", dict(epoch=-2), 42, "InstanceId can't be null."),
        ("epoch -3", dict(epoch=-3), 42, "MemberEpoch is invalid."),
        ("an unknown assignor", dict(epoch=0, rto=1000, topics=[t], owned=[], assignor="sticky"),
         112, "ServerAssignor sticky is not supported. Supported assignors: uniform, range."),
        ("a bad regex", dict(epoch=0, rto=1000, regex="(", owned=[]), 128, None),
        ("an unknown group", dict(epoch=4), 69, "Consumer group %s not found." % g),
        ("leaving an unknown group", dict(epoch=-1), 69, "Group %s not found." % g),
    ]
    for what, kw, code, msg in cases:
        group = kw.pop("group", g)
        member = kw.pop("member", "member-checks-00000001")
        epoch = kw.pop("epoch")
        r = hb(c, group, member, epoch, **kw)
        T(r["error"] == code and (msg is None or r["msg"] == msg) and r["member"] is None and
          r["epoch"] == 0 and r["interval"] == 0 and r["assignment"] is None and r["rest"] == 0,
          "%s: %d %r (%s)" % (what, code, msg, r))
    r = hb(c, g, "", 0, ver=0, rto=1000, topics=[t], owned=[])
    T(r["error"] == 0 and len(r["member"] or "") == 22,
      "v0 join without a member id: the broker names it (22 characters: %r)" % r["member"])
    c.close()


@case
def t_revoke_before_assign(addr):
    c = Client(addr)
    g, t = name("cg-two"), name("cg-two-t")
    wait_coordinator(c, g)
    tid, _ = create_topic(c, t, 4)
    a_id, b_id = "member-A-000000000001", "member-B-000000000001"
    a = join(c, g, a_id, [t])
    a = until(lambda: hb(c, g, a_id, a["epoch"]),
              lambda x: x["assignment"] and len(x["assignment"][0][1]) == 4, a)
    ea = a["epoch"]
    T(a["assignment"] == [(tid, [0, 1, 2, 3])], "A alone owns t:0-3")
    b = join(c, g, b_id, [t])
    T(b["error"] == 0 and b["assignment"] == [], "B joins and gets nothing yet: %s" % b)
    a = until(lambda: hb(c, g, a_id, ea), lambda x: x["assignment"] is not None)
    kept = a["assignment"][0][1] if a["assignment"] else []
    T(a["epoch"] == ea and len(kept) == 2, "A is told to give up two partitions, at its epoch "
      "(%s)" % a)
    b2 = hb(c, g, b_id, b["epoch"])
    T(b2["error"] == 0 and not b2["assignment"], "B gets nothing while A still owns them")
    a2 = hb(c, g, a_id, ea, owned=[(tid, [0, 1, 2, 3])])
    T(a2["epoch"] == ea, "A still owning them stays at its epoch")
    a3 = hb(c, g, a_id, ea, owned=[(tid, kept)])
    T(a3["error"] == 0 and a3["epoch"] > ea, "A acknowledges: a new epoch (%d)" % a3["epoch"])
    b3 = until(lambda: hb(c, g, b_id, b2["epoch"]), lambda x: x["assignment"] is not None)
    rest = sorted(set(range(4)) - set(kept))
    T(b3["assignment"] == [(tid, rest)], "then B gets the other two (%s)" % b3["assignment"])
    T(hb(c, g, a_id, a3["epoch"] + 5)["error"] == 110, "a greater epoch: FENCED_MEMBER_EPOCH")
    T(hb(c, g, a_id, ea)["error"] == 110,
      "the previous epoch without owned partitions: FENCED_MEMBER_EPOCH")
    T(hb(c, g, a_id, ea, owned=[(tid, kept[:1])])["error"] == 0,
      "the previous epoch with a subset of its partitions is accepted (a lost answer)")
    e = a3["epoch"]
    T(commit(c, g, a_id, e, t, 0, 5) == 0 and commit(c, g, a_id, e, t, 2, 5) == 0,
      "OffsetCommit v9 at the member epoch: NONE")
    revoked = rest[0]
    T(commit(c, g, a_id, e + 1, t, kept[0], 5) == 113 and
      commit(c, g, a_id, e - 1, t, revoked, 5) == 113,
      "OffsetCommit v9 from a later epoch, or from an older one for a partition it gave up: "
      "STALE_MEMBER_EPOCH")
    T(commit(c, g, a_id, e - 1, t, kept[0], 5) == 0,
      "OffsetCommit v9 from an older epoch for a partition held since then: NONE")
    T(commit(c, g, "nobody", e, t, 0, 5) == 25 and commit(c, g, "", -1, t, 0, 5) == 25,
      "OffsetCommit v9 by an unknown member, or anonymous while members are in: "
      "UNKNOWN_MEMBER_ID")
    T(commit(c, g, a_id, e, t, 0, 5, ver=8) == 35 and commit(c, g, a_id, e, t, 0, 5, ver=7) == 35,
      "OffsetCommit below v9 by a KIP-848 member: UNSUPPORTED_VERSION")
    f = offset_fetch9(c, [(g, a_id, e, t, [0, 1]), (g, a_id, e + 1, t, [0]),
                          (g, "nobody", e, t, [0]), (g, None, -1, t, [0]), (g, "", -1, t, [0]),
                          (name("cg-none"), "x", 3, t, [0])])
    T([x[2] for x in f] == [0, 113, 25, 0, 25, 0] and f[0][1] == [(t, [(0, 5, -1, '', 0),
                                                                       (1, -1, -1, '', 0)])],
      "OffsetFetch v9: at its epoch NONE; other epoch 113; unknown member 25; null/-1 NONE; "
      "\"\"/-1 25; unknown group NONE (%s)" % [x[2] for x in f])
    e, groups = list_groups5(c, types=["consumer"])
    mine = [x for x in groups if x[0] == g]
    T(e == 0 and mine == [(g, "consumer", mine[0][2] if mine else "", "consumer")],
      "ListGroups v5 (type consumer): protocol type consumer, type consumer (%s)" % mine)
    dg = describe_groups5(c, [g])[0]
    T(dg["error"] == 0 and dg["state"] == "Dead" and dg["members"] == [],
      "DescribeGroups v5 of a consumer group: Dead, as Kafka answers it")
    T(delete_groups2(c, [g]) == [(g, 68)], "DeleteGroups v2 with members in: NON_EMPTY_GROUP")
    c.close()


@case
def t_static_members(addr):
    c = Client(addr)
    g, t = name("cg-static"), name("cg-static-t")
    wait_coordinator(c, g)
    create_topic(c, t, 2)
    s1 = join(c, g, "member-S1-00000000001", [t], inst="inst-1")
    T(s1["error"] == 0, "a static member joins")
    r = join(c, g, "member-S2-00000000001", [t], inst="inst-1")
    T(r["error"] == 111 and r["msg"] == "Static member member-S2-00000000001 with instance id "
      "inst-1 cannot join the group because the instance id is owned by "
      "member-S1-00000000001 member.", "its instance id in use: UNRELEASED_INSTANCE_ID")
    r = hb(c, g, "member-S2-00000000001", s1["epoch"], inst="inst-1")
    T(r["error"] == 82 and r["msg"] == "Static member member-S2-00000000001 with instance id "
      "inst-1 was fenced by member member-S1-00000000001.", "another member id: "
      "FENCED_INSTANCE_ID")
    r = hb(c, g, "member-S1-00000000001", s1["epoch"], inst="inst-9")
    T(r["error"] == 25 and r["msg"] == "Instance id inst-9 is unknown.", "unknown instance id")
    r = hb(c, g, "member-S1-00000000001", -2, inst="inst-1")
    T(r["error"] == 0 and r["epoch"] == -2 and r["member"] == "member-S1-00000000001",
      "-2: leaves for a while")
    d = describe(c, [g])[0]
    T([m["epoch"] for m in d["members"]] == [-2], "described at epoch -2")
    r = join(c, g, "member-S2-00000000001", [t], inst="inst-1")
    T(r["error"] == 0 and r["epoch"] > 0, "back under a new member id")
    T(hb(c, g, "member-S1-00000000001", r["epoch"], inst="inst-1")["error"] == 82,
      "the old member id is fenced")
    c.close()


@case
def t_describe_errors(addr):
    c = Client(addr)
    cg, classic, missing = name("cgd-c"), name("cgd-classic"), name("cgd-none")
    wait_coordinator(c, cg)
    create_topic(c, name("cgd-t"), 1)
    commit(c, classic, "", -1, name("cgd-t"), 0, 1)  # a classic group holding an offset
    join(c, cg, "member-D-000000000001", [name("cgd-t")])
    d = describe(c, [cg, missing, "", classic], with_ops=False)
    T([x["id"] for x in d] == ["", cg, missing, classic],
      "ConsumerGroupDescribe answers the empty id first, then in request order")
    T(d[0]["error"] == 24 and d[0]["msg"] is None and d[0]["state"] == "" and
      d[0]["ops"] == -2147483648, "an empty id: INVALID_GROUP_ID")
    T(d[1]["error"] == 0 and d[1]["ops"] == -2147483648,
      "authorized operations not asked for: INT32_MIN")
    T(d[2]["error"] == 69 and d[2]["msg"] == "Group %s not found." % missing and
      d[2]["state"] == "" and d[2]["assignor"] == "", "an unknown group: GROUP_ID_NOT_FOUND")
    T(d[3]["error"] == 69 and d[3]["msg"] == "Group %s is not a consumer group." % classic,
      "a classic group: GROUP_ID_NOT_FOUND, not a consumer group (%s)" % d[3]["msg"])
    c.close()


@case
def t_classic_flexible_versions(addr):
    c = Client(addr)
    g, t = name("classic-v9"), name("classic-v9-t")
    fc = find_coordinator(c, g)
    T(fc[0][0] == g and fc[0][4] == 0, "FindCoordinator v4: the key, this node, NONE")
    fc = find_coordinator(c, "", ver=5)
    T(fc[0][4] == 0 and fc[0][5] == "" and fc[0][1] >= 0,
      "FindCoordinator v5: an empty key gets this node too, message \"\" (%s)" % fc)
    r = c.call(10, 1, W().str(g).i8(0))
    r.i32()
    T(r.i16() == 0 and r.str() == "NONE", "FindCoordinator v1: NONE says \"NONE\"")
    r = c.call(10, 4, W(True).i8(2).arr([g], lambda w, k: w.str(k)).tags())
    r.i32()
    fc = r.arr(lambda r: (r.str(), r.i32(), r.str(), r.i32(), r.i16(), r.str(), r.tags())[:6])
    T(fc == [(g, -1, "", -1, 42, "")], "FindCoordinator v4, key type 2: INVALID_REQUEST")
    if not KAFKA:
        fc = find_coordinator(c, "txn", key_type=1)
        T(fc[0][4] == 0 and fc[0][1] >= 0 and fc[0][3] > 0,
          "FindCoordinator(transaction): this node coordinates transactional ids too (%s)" % fc)
    create_topic(c, t, 1)
    j = join_group(c, g, "")
    T(j["error"] == 79 and j["gen"] == -1 and j["ptype"] is None and j["member"],
      "JoinGroup v9 without a member id: MEMBER_ID_REQUIRED with an id")
    j = join_group(c, g, j["member"])
    T(j["error"] == 0 and j["gen"] == 1 and j["ptype"] == "consumer" and j["proto"] == "range"
      and j["leader"] == j["member"] and j["skip"] is False and len(j["members"]) == 1,
      "JoinGroup v9 with it: generation 1, leader, protocol type and name")
    m = j["member"]
    s = sync_group(c, g, m, 1, [(m, b"\x00\x01asg")])
    T(s["error"] == 0 and s["ptype"] == "consumer" and s["proto"] == "range" and
      s["asg"] == b"\x00\x01asg", "SyncGroup v5: the assignment back, protocol type and name")
    T(sync_group(c, g, m, 2, [])["error"] == 22 and sync_group(c, g, "nobody", 1, [])["error"] ==
      25 and sync_group(c, g, m, 1, [], proto="roundrobin")["error"] == 23,
      "SyncGroup v5: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, INCONSISTENT_GROUP_PROTOCOL")
    T([heartbeat4(c, g, m, 1), heartbeat4(c, g, m, 5), heartbeat4(c, g, "nobody", 1),
       heartbeat4(c, name("nosuch"), "nobody", 1)] == [0, 22, 25, 25],
      "Heartbeat v4: NONE, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, unknown group 25")
    T(commit(c, g, m, 1, t, 0, 9, meta="meta\x00data") == 0 and commit(c, g, m, 4, t, 0, 9) == 22,
      "OffsetCommit v9 by a classic member: NONE; another generation ILLEGAL_GENERATION")
    f = offset_fetch9(c, [(g, None, -1, t, [0])])
    T(f[0][1][0][1][0][3] == "meta\x00data", "OffsetFetch v9: the metadata byte for byte")
    d = describe_groups5(c, [g, name("nosuch")])
    T(d[0]["state"] == "Stable" and d[0]["ops"] == 3400 and len(d[0]["members"]) == 1 and
      d[1]["state"] == "Dead", "DescribeGroups v5: Stable with its member, unknown: Dead")
    e, stable = list_groups5(c, states=["stable"])
    e2, empty = list_groups5(c, states=["Empty"], types=["classic"])
    T((g, "consumer", "Stable", "classic") in stable and g not in [x[0] for x in empty],
      "ListGroups v5: state filter (any case) and type filter")
    dg = delete_groups2(c, [g, name("nosuch")])
    T(sorted(dg) == sorted([(g, 68), (name("nosuch"), 69)]),  # Kafka's order varies
      "DeleteGroups v2: NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND (%s)" % dg)
    err, members = leave5(c, g, [m, "nobody"])
    T(err == 0 and members == [(m, None, 0), ("nobody", None, 25)],
      "LeaveGroup v5, two members: NONE and UNKNOWN_MEMBER_ID each (%s)" % members)
    T(delete_groups2(c, [g]) == [(g, 0)], "DeleteGroups v2 once it is empty: NONE")
    c.close()


@case
def t_static_leader_rejoin(addr):
    """KIP-814: the static leader back under a new member id with JoinGroup v9 is told that it
    leads, with everyone's metadata and skip_assignment; the generation stands and SyncGroup
    gives it the assignment it had."""
    c = Client(addr)
    g = name("classic-static-v9")
    wait_coordinator(c, g)
    j = join_group(c, g, "", inst="i1")
    m1 = j["member"]
    T(j["error"] == 0 and j["gen"] == 1 and j["leader"] == m1 and j["skip"] is False,
      "a static member joins with JoinGroup v9: generation 1, it leads, it assigns")
    T(sync_group(c, g, m1, 1, [(m1, b"\x00\x01asg")])["error"] == 0, "its SyncGroup: NONE")
    j = join_group(c, g, "", inst="i1")
    m2 = j["member"]
    T(j["error"] == 0 and j["gen"] == 1 and m2 != m1 and j["leader"] == m2 and
      j["skip"] is True and j["members"] == [(m2, "i1", SUB)],
      "back under a new id: generation 1 still, it leads, skip_assignment, its metadata (%s)"
      % {k: j[k] for k in ("error", "gen", "skip", "members")})
    s = sync_group(c, g, m2, 1, [])
    T(s["error"] == 0 and s["asg"] == b"\x00\x01asg",
      "its SyncGroup without assignments: the assignment it had (%s)" % s)
    T(heartbeat4(c, g, m2, 1) == 0 and heartbeat4(c, g, m1, 1) == 25,
      "Heartbeat v4: the new id NONE, the old one UNKNOWN_MEMBER_ID")
    c.close()


def asg_bytes(topic, parts):
    """A ConsumerProtocolAssignment v0 of one topic's partitions."""
    b = struct.pack(">hi", 0, 1 if parts else 0)
    if parts:
        b += struct.pack(">h", len(topic)) + topic.encode() + struct.pack(">i", len(parts))
        b += b"".join(struct.pack(">i", p) for p in parts)
    return b + struct.pack(">i", -1)


def sub_bytes(topic):
    """A ConsumerProtocolSubscription v0 to one topic."""
    return struct.pack(">hih", 0, 1, len(topic)) + topic.encode() + struct.pack(">i", -1)


@case
def t_one_id_two_kinds(addr):
    """Classic and consumer groups under one id, as Kafka 4 (default migration policy) answers:
    an empty group changes kind; a classic member joins a consumer group as a follower that
    the broker assigns (a mixed group)."""
    global SUB
    c = Client(addr)
    g, t = name("kinds"), name("kinds-t")
    wait_coordinator(c, g)
    tid, _ = create_topic(c, t, 2)
    SUB = sub_bytes(t)
    T(commit(c, g, "", -1, t, 0, 3) == 0, "a standalone commit makes an empty classic group")
    r = join(c, g, "member-K-000000000001", [t])
    T(r["error"] == 0, "a consumer-group join turns the empty classic group into a consumer group")
    f = offset_fetch9(c, [(g, "member-K-000000000001", r["epoch"], t, [0])])
    T(f[0][1][0][1][0][1] == 3, "its committed offset stays")
    j = join_group(c, g, "", ptype="connect")
    T(j["error"] == 23 and j["member"] == "", "JoinGroup of another protocol type: "
      "INCONSISTENT_GROUP_PROTOCOL, no member id")
    j = join_group(c, g, "")
    T(j["error"] == 79 and len(j["member"]) == 22, "a classic JoinGroup v9 to the consumer group: "
      "MEMBER_ID_REQUIRED with a 22-character id")
    j = join_group(c, g, j["member"])
    T(j["error"] == 0 and j["gen"] > 0 and j["ptype"] == "consumer" and j["proto"] == "range" and
      j["leader"] == "" and j["members"] == [], "with it: a follower (no leader, no members), the "
      "generation its member epoch (%s)" % j)
    cm, gen = j["member"], j["gen"]
    s = sync_group(c, g, cm, gen, [])
    T(s["error"] == 0 and s["asg"] is not None and s["asg"][:2] == b"\x00\x00",
      "SyncGroup v5: its assignment from the broker, a ConsumerProtocolAssignment v0")
    T(heartbeat4(c, g, cm, gen + 7) == 22, "Heartbeat at another generation: ILLEGAL_GENERATION")
    T(sync_group(c, g, cm, gen, [], proto="roundrobin")["error"] == 23,
      "SyncGroup with another protocol: INCONSISTENT_GROUP_PROTOCOL")
    d = describe(c, [g])[0]
    T(sorted(m["id"] for m in d["members"]) == sorted([cm, "member-K-000000000001"]),
      "ConsumerGroupDescribe lists both members")
    err, members = leave5(c, g, [cm])
    T(err == 0 and members == [(cm, None, 0)], "LeaveGroup v5 of the classic member: NONE")
    hb(c, g, "member-K-000000000001", -1)
    j = join_group(c, g, "")
    T(j["error"] == 79, "once it is empty, a JoinGroup turns it into a classic group")
    j = join_group(c, g, j["member"])
    T(j["error"] == 0 and j["gen"] >= 1 and j["leader"] == j["member"],
      "and the classic member joins it as its leader")
    c.close()


@case
def t_online_upgrade(addr):
    """Kafka 4's online upgrade: a consumer-protocol member joins a classic group with members;
    the classic member keeps its partitions, is told to rejoin, and rejoins as a follower. The
    downgrade: when the consumer-protocol member leaves, the group is classic again."""
    global SUB
    c = Client(addr)
    g, t = name("upgrade"), name("upgrade-t")
    wait_coordinator(c, g)
    tid, _ = create_topic(c, t, 4)
    SUB = sub_bytes(t)
    j = join_group(c, g, "")
    j = join_group(c, g, j["member"])
    cm, gen = j["member"], j["gen"]
    s = sync_group(c, g, cm, gen, [(cm, asg_bytes(t, [0, 1, 2, 3]))])
    T(j["error"] == 0 and j["leader"] == cm and s["error"] == 0, "a classic group, one member "
      "owning t:0-3")
    r = join(c, g, "member-U-000000000001", [t])
    T(r["error"] == 0 and r["member"] == "member-U-000000000001",
      "a consumer-protocol member joins it: the group is upgraded")
    e, groups = list_groups5(c)
    T([x[3] for x in groups if x[0] == g] == ["consumer"], "ListGroups: now of type consumer")
    T(heartbeat4(c, g, cm, gen) == 27, "the classic member's heartbeat: REBALANCE_IN_PROGRESS")
    j = join_group(c, g, cm)
    T(j["error"] == 0 and j["leader"] == "" and j["gen"] > gen,
      "it rejoins as a follower at a new generation (%s)" % j)
    s = sync_group(c, g, cm, j["gen"], [])
    T(s["error"] == 0, "and syncs")
    gen = j["gen"]
    r = hb(c, g, "member-U-000000000001", -1)
    T(r["error"] == 0 and r["epoch"] == -1, "the consumer-protocol member leaves")
    e, groups = list_groups5(c)
    T([x[3] for x in groups if x[0] == g] == ["classic"], "ListGroups: only a classic member left,"
      " the group is classic again (the online downgrade)")
    T(heartbeat4(c, g, cm, gen) == 27, "the classic member's heartbeat: REBALANCE_IN_PROGRESS")
    j = join_group(c, g, cm)
    T(j["error"] == 0 and j["leader"] == cm and j["gen"] == gen + 1 and len(j["members"]) == 1,
      "it rejoins the classic group as its leader, the generation one up (%s)" % j)
    s = sync_group(c, g, cm, j["gen"], [(cm, asg_bytes(t, [0, 1, 2, 3]))])
    T(s["error"] == 0, "and syncs its own assignment")
    c.close()


@case
def t_restart_resumes(addr_unused):
    """A consumer group and its offsets come back after a restart (Weir only)."""
    b = kafka_wire.Broker("--set", "group.initial.rebalance.delay.ms=0", prefix="weir-cgr-")
    data = b.data
    try:
        c = Client(b.addr)
        g, t = "restart-g", "restart-t"
        wait_coordinator(c, g)
        tid, _ = create_topic(c, t, 3)
        r = hb(c, g, "member-R-000000000001", 0, rto=30000, topics=[t], owned=[], inst="i-1")
        e = r["epoch"]
        T(commit(c, g, "member-R-000000000001", e, t, 2, 77) == 0, "commit at the member epoch")
        c.close()
        T(b.stop() == 0, "clean stop")
        b2 = kafka_wire.Broker("--set", "group.initial.rebalance.delay.ms=0", prefix="weir-cgr-")
        b2.p.terminate()
        b2.wait()
        b2.cleanup()
        import subprocess
        b2.dir = b.dir
        err = open(os.path.join(b.dir, "stderr2"), "w")
        b2.p = subprocess.Popen([kafka_wire.WEIR, "serve", "--data-dir", data, "--listen",
                                 "127.0.0.1:0", "--http-listen", "off"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        b2.err = err
        addr2 = b2.p.stdout.readline().split()[-1]
        c = Client(addr2)
        wait_coordinator(c, g)
        r = hb(c, g, "member-R-000000000001", e, inst="i-1")
        T(r["error"] == 0 and r["epoch"] == e, "after the restart the member heartbeats at its "
          "epoch (%s)" % r)
        d = describe(c, [g])[0]
        m = d["members"][0] if d["members"] else {}
        T(d["state"] == "Stable" and d["epoch"] == e and m.get("inst") == "i-1" and
          m.get("asg") == [(tid, t, [0, 1, 2])], "the group, its member and assignment are "
          "back (%s)" % d)
        f = offset_fetch9(c, [(g, "member-R-000000000001", e, t, [2])])
        T(f[0][1][0][1][0][1] == 77, "and the committed offset")
        c.close()
        T(b2.stop() == 0, "clean stop after the restart")
    finally:
        b.cleanup()


@case
def t_malformed(addr):
    def frame(key, ver, body):
        hdr = struct.pack(">hhih", key, ver, 7, 1) + b"x" + b"\x00"
        return struct.pack(">i", len(hdr) + len(body)) + hdr + body

    def closes(what, payload):
        c = Client(addr)
        c.s.sendall(payload)
        T(c.closed(), "%s: the connection is closed" % what)
        c.close()

    good = bytes(hb_body("g", "m", 1).b)
    closes("ConsumerGroupHeartbeat cut short", frame(HB, 1, good[:-4]))
    closes("a NUL in the group id", frame(HB, 1, bytes(hb_body("g\x00x", "m", 1).b)))
    w = W(True).str("g").str("m").i32(1).nstr(None).nstr(None).i32(-1).raw(uvarint(1 << 30))
    closes("a topic count past the bytes present", frame(HB, 1, bytes(w.b)))
    w = W(True).str("g").str("m").i32(1).nstr(None).nstr(None).i32(-1).arr(None).nstr(None)
    w.nstr(None).raw(uvarint(2) + b"\x00" * 16 + uvarint(1 << 28))
    closes("a partition count past the bytes present", frame(HB, 1, bytes(w.b)))
    closes("ConsumerGroupDescribe with a huge group count", frame(CGD, 0, uvarint(1 << 30)))
    c = Client(addr)
    T(api_versions(c)[0] == 0, "the broker still answers")
    c.close()


def main():
    if KAFKA:
        for t in (t_api_versions, t_join_and_leave_bytes, t_heartbeat_checks,
                  t_revoke_before_assign, t_static_members, t_describe_errors,
                  t_classic_flexible_versions, t_static_leader_rejoin, t_one_id_two_kinds,
                  t_online_upgrade):
            t(KAFKA)
        T.finish()
    b = kafka_wire.Broker("--set", "group.initial.rebalance.delay.ms=0", prefix="weir-cgp-")
    try:
        for t in (t_api_versions, t_join_and_leave_bytes, t_heartbeat_checks,
                  t_revoke_before_assign, t_static_members, t_describe_errors,
                  t_classic_flexible_versions, t_static_leader_rejoin, t_one_id_two_kinds,
                  t_online_upgrade, t_malformed):
            t(b.addr)
        T(b.p.poll() is None, "the broker is still running")
        T(b.stop() == 0, "clean shutdown")
    finally:
        b.cleanup()
    t_restart_resumes(None)
    T.finish()


if __name__ == "__main__":
    main()
