/* Unit tests of the group coordinator (src/broker/coord.c) without sockets or disk: a fake
 * clock and timers, a fake __consumer_offsets writer that keeps every record (so a "restart"
 * replays them into a new coordinator), and waiters that record the answers. */
#include "broker/coord.h"
#include "kafka/kafka.h"
#include "test.h"

#include <stdint.h>

/* ---- fake environment -------------------------------------------------------------------------
 */

enum { MAX_TIMERS = 20000, MAX_RECS = 32768, MAX_WRITES = 256 };

static int64_t now_ms;
static net_timer_t *timers[MAX_TIMERS];
static int ntimers;

typedef struct {
    uint8_t *key;
    size_t key_len;
    uint8_t *value;
    int32_t value_len;
} rec_t;
static rec_t recs[MAX_RECS];
static int nrecs;

/* Deferred writes: done callbacks run only at flush_writes(). */
static bool defer_writes;
static int fail_writes; /* the next N writes fail with -WEIR_EIO */
static struct {
    broker_coord_write_done_fn done;
    void *arg;
    int err;
} writes[MAX_WRITES];
static int nwrites;

static int64_t fake_now(void *ctx)
{
    return now_ms;
}

static void fake_timer_init(void *ctx, net_timer_t *t, net_fn fn, void *arg)
{
    memset(t, 0, sizeof(*t));
    t->fn = fn;
    t->arg = arg;
    t->heap_index = SIZE_MAX;
}

static void fake_timer_stop(void *ctx, net_timer_t *t)
{
    if (t->heap_index == SIZE_MAX)
        return;
    for (int i = 0; i < ntimers; i++) {
        if (timers[i] == t) {
            timers[i] = timers[--ntimers];
            break;
        }
    }
    t->heap_index = SIZE_MAX;
}

static void fake_timer_start(void *ctx, net_timer_t *t, int64_t delay_ms)
{
    fake_timer_stop(ctx, t);
    REQUIRE(ntimers < MAX_TIMERS);
    t->due_ms = now_ms + delay_ms;
    t->heap_index = (size_t)ntimers;
    timers[ntimers++] = t;
}

/* Moves the clock forward by ms, firing due timers in order. */
static void advance(int64_t ms)
{
    int64_t end = now_ms + ms;
    for (;;) {
        net_timer_t *first = NULL;
        for (int i = 0; i < ntimers; i++)
            if (timers[i]->due_ms <= end && (!first || timers[i]->due_ms < first->due_ms))
                first = timers[i];
        if (!first)
            break;
        now_ms = first->due_ms;
        fake_timer_stop(NULL, first);
        first->fn(first->arg);
    }
    now_ms = end;
}

static void fake_write(void *ctx, const char *group_id, const broker_coord_record_t *r, size_t n,
                       broker_coord_write_done_fn done, void *arg)
{
    int err = 0;
    if (fail_writes > 0) {
        fail_writes--;
        err = -WEIR_EIO;
    } else {
        for (size_t i = 0; i < n && nrecs < MAX_RECS; i++) {
            rec_t *x = &recs[nrecs++];
            x->key = weir_malloc(r[i].key_len);
            memcpy(x->key, r[i].key, r[i].key_len);
            x->key_len = r[i].key_len;
            x->value_len = r[i].value_len;
            x->value = NULL;
            if (r[i].value_len >= 0) {
                x->value = weir_malloc((size_t)r[i].value_len + 1);
                memcpy(x->value, r[i].value, (size_t)r[i].value_len);
            }
        }
    }
    if (defer_writes && nwrites < MAX_WRITES) {
        writes[nwrites].done = done;
        writes[nwrites].arg = arg;
        writes[nwrites].err = err;
        nwrites++;
        return;
    }
    done(arg, err);
}

static void flush_writes(void)
{
    int n = nwrites;
    nwrites = 0;
    for (int i = 0; i < n; i++)
        writes[i].done(writes[i].arg, writes[i].err);
}

static bool fake_partition_exists(void *ctx, const char *topic, int32_t partition)
{
    return strcmp(topic, "t") == 0 && partition >= 0 && partition < 6;
}

/* Answers, recorded. */
typedef struct {
    int calls;
    int16_t error;
    int32_t generation;
    char protocol[64];
    char leader[160];
    char member_id[160];
    int nmembers;
    char members[8][160];
} join_res_t;

typedef struct {
    int calls;
    int16_t error;
    char protocol[64];
    uint8_t asg[64];
    size_t len;
} sync_res_t;

typedef struct {
    int calls;
} done_res_t;

static void copy_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

static void fake_join_done(void *ctx, void *waiter, const broker_group_join_result_t *r)
{
    join_res_t *j = waiter;
    j->calls++;
    j->error = r->error;
    j->generation = r->generation_id;
    copy_str(j->protocol, sizeof(j->protocol), r->protocol_name);
    copy_str(j->leader, sizeof(j->leader), r->leader_id);
    copy_str(j->member_id, sizeof(j->member_id), r->member_id);
    j->nmembers = (int)r->member_count;
    for (size_t i = 0; i < r->member_count && i < 8; i++)
        copy_str(j->members[i], sizeof(j->members[i]), r->members[i].member_id);
}

static void fake_sync_done(void *ctx, void *waiter, const broker_group_sync_result_t *r)
{
    sync_res_t *s = waiter;
    const uint8_t *a = r->assignment;
    size_t len = r->assignment_len;
    s->calls++;
    s->error = r->error;
    copy_str(s->protocol, sizeof(s->protocol), r->protocol_name);
    s->len = len < sizeof(s->asg) ? len : sizeof(s->asg);
    if (len)
        memcpy(s->asg, a, s->len);
}

static void fake_done(void *ctx, void *waiter)
{
    ((done_res_t *)waiter)->calls++;
}

static const broker_coord_env_t fake_env = {.now_ms = fake_now,
                                            .timer_init = fake_timer_init,
                                            .timer_start = fake_timer_start,
                                            .timer_stop = fake_timer_stop,
                                            .write = fake_write,
                                            .partition_exists = fake_partition_exists,
                                            .join_done = fake_join_done,
                                            .sync_done = fake_sync_done,
                                            .done = fake_done};

static void reset_fakes(void)
{
    for (int i = 0; i < nrecs; i++) {
        free(recs[i].key);
        free(recs[i].value);
    }
    nrecs = 0;
    ntimers = 0;
    nwrites = 0;
    defer_writes = false;
    fail_writes = 0;
    now_ms = 1000;
    clock_wall_set_override(1700000000000LL);
}

static broker_coord_t *coord_new(int32_t initial_delay_ms)
{
    reset_fakes();
    broker_coord_config_t cfg;
    broker_coord_config_default(&cfg);
    cfg.initial_rebalance_delay_ms = initial_delay_ms;
    cfg.min_session_timeout_ms = 100;
    broker_coord_t *c;
    broker_coord_new(&cfg, &fake_env, &c);
    return c;
}

static void coord_free(broker_coord_t *c)
{
    flush_writes();
    broker_coord_free(c);
    WEIR_ASSERT(ntimers == 0);
    reset_fakes();
    clock_wall_set_override(-1);
}

/* ---- request helpers
 * ------------------------------------------------------------------------------ */

static const broker_group_protocol_t range_proto[] = {{"range", (const uint8_t *)"R", 1}};

static broker_group_join_req_t join_req(const char *group, const char *member, const char *instance)
{
    return (broker_group_join_req_t){.group_id = group,
                                     .session_timeout_ms = 10000,
                                     .rebalance_timeout_ms = 5000,
                                     .member_id = member,
                                     .instance_id = instance,
                                     .protocol_type = "consumer",
                                     .protocol_count = 1,
                                     .protocols = range_proto,
                                     .client_id = "cli",
                                     .client_host = "/127.0.0.1"};
}

static void join(broker_coord_t *c, const char *group, const char *member, const char *instance,
                 join_res_t *res)
{
    memset(res, 0, sizeof(*res));
    broker_group_join_req_t r = join_req(group, member, instance);
    broker_coord_join(c, &r, res);
}

static void sync_g(broker_coord_t *c, const char *group, int32_t gen, const char *member,
                   const broker_group_assignment_t *a, size_t n, sync_res_t *res)
{
    memset(res, 0, sizeof(*res));
    broker_group_sync_req_t r = {.group_id = group,
                                 .generation_id = gen,
                                 .member_id = member,
                                 .assignment_count = n,
                                 .assignments = a};
    broker_coord_sync(c, &r, res);
}

/* One member joins an empty group and becomes Stable; returns its member id in res. */
static void join_alone(broker_coord_t *c, const char *group, join_res_t *res)
{
    join(c, group, "", NULL, res);
    broker_group_assignment_t a = {res->member_id, (const uint8_t *)"A0", 2};
    sync_res_t s;
    sync_g(c, group, res->generation, res->member_id, &a, 1, &s);
}

static broker_group_state_t state_of(broker_coord_t *c, const char *group)
{
    broker_group_summary_t s;
    broker_coord_describe(c, group, &s);
    broker_group_state_t st = s.state;
    broker_group_summary_deinit(&s);
    return st;
}

/* ---- tests
 * ---------------------------------------------------------------------------------------- */

TEST(single_member_join_sync_heartbeat)
{
    broker_coord_t *c = coord_new(0);
    join_res_t j;
    join(c, "g", "", NULL, &j);
    CHECK_EQ(j.calls, 1);
    CHECK_EQ(j.error, KAFKA_NONE);
    CHECK_EQ(j.generation, 1);
    CHECK_STR(j.protocol, "range");
    CHECK_STR(j.leader, j.member_id);
    CHECK_EQ(j.nmembers, 1);
    CHECK_STR(j.members[0], j.member_id);
    CHECK(strncmp(j.member_id, "cli-", 4) == 0);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_COMPLETING_REBALANCE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 1, j.member_id, NULL), KAFKA_NONE);

    broker_group_assignment_t a = {j.member_id, (const uint8_t *)"xyz", 3};
    sync_res_t s;
    sync_g(c, "g", 1, j.member_id, &a, 1, &s);
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(s.error, KAFKA_NONE);
    CHECK_EQ(s.len, 3);
    CHECK_MEM(s.asg, "xyz", 3);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 1, j.member_id, NULL), KAFKA_NONE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, j.member_id, NULL), KAFKA_ILLEGAL_GENERATION);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 1, "nobody", NULL), KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_EQ(broker_coord_heartbeat(c, "nogroup", 1, j.member_id, NULL), KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_EQ(nrecs, 1); /* the group metadata, stored at sync */
    coord_free(c);
}

TEST(member_id_required_v4)
{
    broker_coord_t *c = coord_new(0);
    join_res_t j;
    broker_group_join_req_t r = join_req("g", "", NULL);
    r.require_known_member_id = true;
    memset(&j, 0, sizeof(j));
    broker_coord_join(c, &r, &j);
    CHECK_EQ(j.error, KAFKA_MEMBER_ID_REQUIRED);
    CHECK(j.member_id[0] != 0);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_EMPTY);
    char id[160];
    copy_str(id, sizeof(id), j.member_id);
    join(c, "g", id, NULL, &j);
    CHECK_EQ(j.error, KAFKA_NONE);
    CHECK_STR(j.member_id, id);
    CHECK_EQ(j.generation, 1);
    /* a member id never handed out */
    join(c, "g", "made-up", NULL, &j);
    CHECK_EQ(j.error, KAFKA_UNKNOWN_MEMBER_ID);
    coord_free(c);
}

TEST(pending_member_expires)
{
    broker_coord_t *c = coord_new(0);
    join_res_t j;
    broker_group_join_req_t r = join_req("g", "", NULL);
    r.require_known_member_id = true;
    memset(&j, 0, sizeof(j));
    broker_coord_join(c, &r, &j);
    CHECK_EQ(j.error, KAFKA_MEMBER_ID_REQUIRED);
    CHECK_EQ(broker_coord_group_count(c), 1);
    char id[160];
    copy_str(id, sizeof(id), j.member_id);
    advance(10001); /* the session timeout of the pending id */
    CHECK_EQ(broker_coord_group_count(c), 0);
    join(c, "g", id, NULL, &j);
    CHECK_EQ(j.error, KAFKA_UNKNOWN_MEMBER_ID);
    coord_free(c);
}

TEST(second_member_triggers_rebalance)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b;
    join_alone(c, "g", &a);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    join(c, "g", "", NULL, &b);
    CHECK_EQ(b.calls, 0); /* parked until a rejoins */
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_PREPARING_REBALANCE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 1, a.member_id, NULL), KAFKA_REBALANCE_IN_PROGRESS);
    char aid[160];
    copy_str(aid, sizeof(aid), a.member_id);
    join(c, "g", aid, NULL, &a);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(b.calls, 1);
    CHECK_EQ(a.generation, 2);
    CHECK_EQ(b.generation, 2);
    CHECK_STR(a.leader, aid);
    CHECK_STR(b.leader, aid);
    CHECK_EQ(a.nmembers, 2);
    CHECK_EQ(b.nmembers, 0); /* only the leader gets the members */

    sync_res_t sa, sb;
    sync_g(c, "g", 2, b.member_id, NULL, 0, &sb);
    CHECK_EQ(sb.calls, 0); /* the follower waits for the leader */
    broker_group_assignment_t asg[2] = {{aid, (const uint8_t *)"AA", 2},
                                        {b.member_id, (const uint8_t *)"BBB", 3}};
    sync_g(c, "g", 2, aid, asg, 2, &sa);
    CHECK_EQ(sa.calls, 1);
    CHECK_EQ(sb.calls, 1);
    CHECK_EQ(sa.len, 2);
    CHECK_EQ(sb.len, 3);
    CHECK_MEM(sb.asg, "BBB", 3);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    coord_free(c);
}

TEST(follower_rejoin_in_stable_keeps_generation)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b;
    join_alone(c, "g", &a);
    join(c, "g", "", NULL, &b);
    char aid[160], bid[160];
    copy_str(aid, sizeof(aid), a.member_id);
    join(c, "g", aid, NULL, &a);
    copy_str(bid, sizeof(bid), b.member_id);
    sync_res_t s;
    sync_g(c, "g", 2, aid, NULL, 0, &s);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    /* the follower rejoins with the same metadata: no rebalance, same generation */
    join(c, "g", bid, NULL, &b);
    CHECK_EQ(b.calls, 1);
    CHECK_EQ(b.error, KAFKA_NONE);
    CHECK_EQ(b.generation, 2);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    /* the leader rejoining does start one */
    join(c, "g", aid, NULL, &a);
    CHECK_EQ(a.calls, 0);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_PREPARING_REBALANCE);
    coord_free(c);
}

TEST(protocol_selection_by_vote)
{
    broker_coord_t *c = coord_new(0);
    const broker_group_protocol_t pa[] = {{"range", NULL, 0}, {"roundrobin", NULL, 0}};
    const broker_group_protocol_t pb[] = {{"roundrobin", NULL, 0}, {"range", NULL, 0}};
    const broker_group_protocol_t pc[] = {{"sticky", NULL, 0}, {"roundrobin", NULL, 0}};
    const broker_group_protocol_t pd[] = {{"sticky", NULL, 0}};
    join_res_t ra, rb, rc, rd;
    broker_group_join_req_t r = join_req("g", "", NULL);
    r.protocols = pa;
    r.protocol_count = 2;
    memset(&ra, 0, sizeof(ra));
    broker_coord_join(c, &r, &ra);
    CHECK_STR(ra.protocol, "range");
    /* b and c join; a rejoins: candidates are {roundrobin} only (c lacks range) */
    r.protocols = pb;
    memset(&rb, 0, sizeof(rb));
    broker_coord_join(c, &r, &rb);
    r.protocols = pc;
    memset(&rc, 0, sizeof(rc));
    broker_coord_join(c, &r, &rc);
    r.protocols = pa;
    r.member_id = ra.member_id;
    char aid[160];
    copy_str(aid, sizeof(aid), ra.member_id);
    r.member_id = aid;
    broker_coord_join(c, &r, &ra);
    CHECK_EQ(rb.calls, 1);
    CHECK_EQ(rc.calls, 1);
    CHECK_STR(rb.protocol, "roundrobin");
    CHECK_STR(ra.protocol, "roundrobin");
    /* nothing in common with everyone: INCONSISTENT_GROUP_PROTOCOL */
    r.member_id = "";
    r.protocols = pd;
    r.protocol_count = 1;
    memset(&rd, 0, sizeof(rd));
    broker_coord_join(c, &r, &rd);
    CHECK_EQ(rd.error, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
    /* another protocol type */
    r.protocols = pa;
    r.protocol_count = 2;
    r.protocol_type = "connect";
    memset(&rd, 0, sizeof(rd));
    broker_coord_join(c, &r, &rd);
    CHECK_EQ(rd.error, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
    coord_free(c);
}

TEST(invalid_requests)
{
    broker_coord_t *c = coord_new(0);
    join_res_t j;
    join(c, "", "", NULL, &j);
    CHECK_EQ(j.error, KAFKA_INVALID_GROUP_ID);
    broker_group_join_req_t r = join_req("g", "", NULL);
    r.session_timeout_ms = 50; /* below group.min.session.timeout.ms (100 here) */
    memset(&j, 0, sizeof(j));
    broker_coord_join(c, &r, &j);
    CHECK_EQ(j.error, KAFKA_INVALID_SESSION_TIMEOUT);
    r.session_timeout_ms = 2000000;
    memset(&j, 0, sizeof(j));
    broker_coord_join(c, &r, &j);
    CHECK_EQ(j.error, KAFKA_INVALID_SESSION_TIMEOUT);
    join(c, "g", "someone", NULL, &j);
    CHECK_EQ(j.error, KAFKA_UNKNOWN_MEMBER_ID);
    r = join_req("g", "", NULL);
    r.protocol_count = 0;
    memset(&j, 0, sizeof(j));
    broker_coord_join(c, &r, &j);
    CHECK_EQ(j.error, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
    CHECK_EQ(broker_coord_group_count(c), 0); /* failed joins leave nothing behind */
    sync_res_t s;
    sync_g(c, "g", 1, "x", NULL, 0, &s);
    CHECK_EQ(s.error, KAFKA_UNKNOWN_MEMBER_ID);
    coord_free(c);
}

TEST(session_timeout_evicts_member)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b;
    join_alone(c, "g", &a);
    join(c, "g", "", NULL, &b);
    char aid[160], bid[160];
    copy_str(aid, sizeof(aid), a.member_id);
    join(c, "g", aid, NULL, &a);
    copy_str(bid, sizeof(bid), b.member_id);
    sync_res_t s;
    sync_g(c, "g", 2, aid, NULL, 0, &s);
    sync_g(c, "g", 2, bid, NULL, 0, &s);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    /* a heartbeats every 3 s, b never: after 10 s b is gone */
    for (int i = 0; i < 3; i++) {
        advance(3000);
        CHECK_EQ(broker_coord_heartbeat(c, "g", 2, aid, NULL), KAFKA_NONE);
    }
    advance(1500);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_PREPARING_REBALANCE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, aid, NULL), KAFKA_REBALANCE_IN_PROGRESS);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, bid, NULL), KAFKA_UNKNOWN_MEMBER_ID);
    join(c, "g", aid, NULL, &a);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.generation, 3);
    CHECK_EQ(a.nmembers, 1);
    coord_free(c);
}

TEST(rebalance_timeout_drops_members_that_do_not_rejoin)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b, x;
    join_alone(c, "g", &a);
    join(c, "g", "", NULL, &b);
    char aid[160], bid[160];
    copy_str(aid, sizeof(aid), a.member_id);
    join(c, "g", aid, NULL, &a);
    copy_str(bid, sizeof(bid), b.member_id);
    sync_res_t s;
    sync_g(c, "g", 2, aid, NULL, 0, &s);
    sync_g(c, "g", 2, bid, NULL, 0, &s);
    /* x joins: a rejoins at once, b keeps heartbeating but never rejoins */
    join(c, "g", "", NULL, &x);
    join(c, "g", aid, NULL, &a);
    CHECK_EQ(a.calls, 0);
    advance(4000);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, bid, NULL), KAFKA_REBALANCE_IN_PROGRESS);
    CHECK_EQ(a.calls, 0);
    advance(1001); /* the rebalance timeout (5 s) */
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(x.calls, 1);
    CHECK_EQ(a.generation, 3);
    CHECK_EQ(a.nmembers, 2);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 3, bid, NULL), KAFKA_UNKNOWN_MEMBER_ID);
    coord_free(c);
}

TEST(initial_rebalance_delay)
{
    broker_coord_t *c = coord_new(3000);
    join_res_t a, b;
    join(c, "g", "", NULL, &a); /* rebalance timeout 5 s */
    advance(1000);
    join(c, "g", "", NULL, &b);
    advance(1999);
    CHECK_EQ(a.calls, 0);
    advance(1); /* 3 s: b arrived meanwhile, so wait min(3 s, 5 - 3 s) more */
    CHECK_EQ(a.calls, 0);
    advance(1999);
    CHECK_EQ(a.calls, 0);
    advance(1);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(b.calls, 1);
    CHECK_EQ(a.generation, 1);
    CHECK_EQ(a.nmembers, 2);
    coord_free(c);

    /* alone: exactly the delay */
    c = coord_new(3000);
    join(c, "g", "", NULL, &a);
    advance(2999);
    CHECK_EQ(a.calls, 0);
    advance(1);
    CHECK_EQ(a.calls, 1);
    coord_free(c);
}

TEST(sync_errors)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b;
    join_alone(c, "g", &a);
    sync_res_t s;
    sync_g(c, "g", 7, a.member_id, NULL, 0, &s);
    CHECK_EQ(s.error, KAFKA_ILLEGAL_GENERATION);
    sync_g(c, "g", 1, "ghost", NULL, 0, &s);
    CHECK_EQ(s.error, KAFKA_UNKNOWN_MEMBER_ID);
    join(c, "g", "", NULL, &b); /* PreparingRebalance */
    sync_g(c, "g", 1, a.member_id, NULL, 0, &s);
    CHECK_EQ(s.error, KAFKA_REBALANCE_IN_PROGRESS);
    coord_free(c);
}

TEST(leader_never_syncs)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b;
    join(c, "g", "", NULL, &a);
    join(c, "g", "", NULL, &b);
    char aid[160], bid[160];
    copy_str(aid, sizeof(aid), a.member_id);
    join(c, "g", aid, NULL, &a);
    CHECK_EQ(b.calls, 1);
    copy_str(bid, sizeof(bid), b.member_id);
    sync_res_t sb;
    sync_g(c, "g", b.generation, bid, NULL, 0, &sb);
    CHECK_EQ(sb.calls, 0);
    advance(5001); /* the leader never sends SyncGroup: it is dropped, the follower rejoins */
    CHECK_EQ(sb.calls, 1);
    CHECK_EQ(sb.error, KAFKA_REBALANCE_IN_PROGRESS);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_PREPARING_REBALANCE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, aid, NULL), KAFKA_UNKNOWN_MEMBER_ID);
    join(c, "g", bid, NULL, &b);
    CHECK_EQ(b.calls, 1);
    CHECK_STR(b.leader, bid);
    coord_free(c);
}

TEST(failed_assignment_write_restarts_rebalance)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a;
    join(c, "g", "", NULL, &a);
    fail_writes = 1;
    sync_res_t s;
    broker_group_assignment_t asg = {a.member_id, (const uint8_t *)"x", 1};
    sync_g(c, "g", 1, a.member_id, &asg, 1, &s);
    CHECK_EQ(s.calls, 1);
    CHECK(s.error != KAFKA_NONE);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_PREPARING_REBALANCE);
    coord_free(c);
}

TEST(second_join_replaces_parked_one)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b, a2;
    join_alone(c, "g", &a);
    join(c, "g", "", NULL, &b);
    char aid[160];
    copy_str(aid, sizeof(aid), a.member_id);
    /* keep b parked by having a not rejoin yet; b sends its JoinGroup again */
    join_res_t b2;
    char bid[160];
    copy_str(bid, sizeof(bid), b.member_id);
    (void)bid;
    join(c, "g", aid, NULL, &a2);
    CHECK_EQ(a2.calls, 1);
    CHECK_EQ(b.calls, 1);
    memset(&b2, 0, sizeof(b2));
    /* now: b rejoins twice during a new rebalance, the first is answered, the second parks */
    join_res_t x;
    join(c, "g", "", NULL, &x);
    join(c, "g", b.member_id, NULL, &b2);
    join_res_t b3;
    join(c, "g", b.member_id, NULL, &b3);
    CHECK_EQ(b2.calls, 1);
    CHECK_EQ(b2.error, KAFKA_REBALANCE_IN_PROGRESS);
    CHECK_EQ(b3.calls, 0);
    join(c, "g", aid, NULL, &a2);
    CHECK_EQ(b3.calls, 1);
    CHECK_EQ(b3.error, KAFKA_NONE);
    CHECK_EQ(x.calls, 1);
    coord_free(c);
}

TEST(leave_group_and_batch_leave)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b;
    join(c, "g", "", "inst-a", &a);
    join(c, "g", "", "inst-b", &b);
    char aid[160];
    copy_str(aid, sizeof(aid), a.member_id);
    join(c, "g", aid, "inst-a", &a);
    CHECK_EQ(b.calls, 1);
    CHECK_EQ(a.generation, 2);
    broker_group_leave_member_t lm[3] = {{"", "inst-b", 0}, {"nobody", NULL, 0}, {"", "inst-z", 0}};
    CHECK_EQ(broker_coord_leave(c, "g", lm, 3), KAFKA_NONE);
    CHECK_EQ(lm[0].error, KAFKA_NONE);
    CHECK_EQ(lm[1].error, KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_EQ(lm[2].error, KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_PREPARING_REBALANCE);
    /* fenced: the right instance id with a wrong member id */
    broker_group_leave_member_t f = {"wrong-id", "inst-a", 0};
    broker_coord_leave(c, "g", &f, 1);
    CHECK_EQ(f.error, KAFKA_FENCED_INSTANCE_ID);
    /* the last member leaves: the group ends Empty with a new generation */
    broker_group_leave_member_t l = {aid, NULL, 0};
    broker_coord_leave(c, "g", &l, 1);
    CHECK_EQ(l.error, KAFKA_NONE);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_EMPTY);
    broker_group_summary_t s;
    broker_coord_describe(c, "g", &s);
    CHECK_EQ(s.generation, 3);
    CHECK_EQ(s.member_count, 0);
    broker_group_summary_deinit(&s);
    broker_group_leave_member_t u = {"x", NULL, 0};
    CHECK_EQ(broker_coord_leave(c, "unknown", &u, 1), KAFKA_NONE);
    CHECK_EQ(u.error, KAFKA_UNKNOWN_MEMBER_ID);
    coord_free(c);
}

/* Two static members in a Stable group; returns their member ids. */
static void static_pair(broker_coord_t *c, char *aid, char *bid)
{
    join_res_t a, b;
    join(c, "g", "", "inst-a", &a);
    copy_str(aid, 160, a.member_id);
    join(c, "g", "", "inst-b", &b);
    join(c, "g", aid, "inst-a", &a);
    copy_str(bid, 160, b.member_id);
    broker_group_assignment_t asg[2] = {{aid, (const uint8_t *)"PA", 2},
                                        {bid, (const uint8_t *)"PB", 2}};
    sync_res_t s;
    sync_g(c, "g", 2, aid, asg, 2, &s);
    sync_g(c, "g", 2, bid, NULL, 0, &s);
}

TEST(static_member_rejoin_without_rebalance)
{
    broker_coord_t *c = coord_new(0);
    char aid[160], bid[160];
    static_pair(c, aid, bid);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    /* b restarts: new JoinGroup with no member id, same instance id */
    join_res_t b2;
    join(c, "g", "", "inst-b", &b2);
    CHECK_EQ(b2.calls, 1);
    CHECK_EQ(b2.error, KAFKA_NONE);
    CHECK_EQ(b2.generation, 2);
    CHECK(strcmp(b2.member_id, bid) != 0);
    CHECK_STR(b2.leader, aid);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, aid, "inst-a"), KAFKA_NONE);
    /* the old incarnation is fenced */
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, bid, "inst-b"), KAFKA_FENCED_INSTANCE_ID);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, bid, NULL), KAFKA_UNKNOWN_MEMBER_ID);
    sync_res_t s;
    sync_g(c, "g", 2, b2.member_id, NULL, 0, &s);
    CHECK_EQ(s.error, KAFKA_NONE);
    CHECK_EQ(s.len, 2);
    CHECK_MEM(s.asg, "PB", 2);

    /* the leader restarts: it is told the old leader id, so it does not reassign */
    join_res_t a2;
    join(c, "g", "", "inst-a", &a2);
    CHECK_EQ(a2.error, KAFKA_NONE);
    CHECK_EQ(a2.generation, 2);
    CHECK_STR(a2.leader, aid);
    CHECK(strcmp(a2.member_id, aid) != 0);
    CHECK_EQ(a2.nmembers, 0);
    sync_g(c, "g", 2, a2.member_id, NULL, 0, &s);
    CHECK_MEM(s.asg, "PA", 2);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    coord_free(c);
}

TEST(static_member_session_expiry_rebalances)
{
    broker_coord_t *c = coord_new(0);
    char aid[160], bid[160];
    static_pair(c, aid, bid);
    for (int i = 0; i < 4; i++) {
        advance(3000);
        broker_coord_heartbeat(c, "g", 2, aid, "inst-a");
    }
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_PREPARING_REBALANCE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, bid, "inst-b"), KAFKA_UNKNOWN_MEMBER_ID);
    coord_free(c);
}

TEST(static_member_absent_during_rebalance_keeps_its_place)
{
    broker_coord_t *c = coord_new(0);
    char aid[160], bid[160];
    static_pair(c, aid, bid);
    /* a new dynamic member joins; a rejoins, b (static) does not within the rebalance timeout */
    join_res_t x, a;
    join(c, "g", "", NULL, &x);
    join(c, "g", aid, "inst-a", &a);
    broker_coord_heartbeat(c, "g", 2, bid, "inst-b");
    advance(5001);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.nmembers, 3); /* b still counts */
    CHECK_EQ(a.generation, 3);
    coord_free(c);
}

/* ---- offsets
 * ------------------------------------------------------------------------------------- */

static void commit1(broker_coord_t *c, const char *group, int32_t gen, const char *member,
                    int32_t part, int64_t offset, const char *meta, int16_t *err, int *done)
{
    broker_commit_part_t p = {.topic = "t",
                              .partition = part,
                              .offset = offset,
                              .leader_epoch = -1,
                              .metadata = meta,
                              .metadata_len = meta ? strlen(meta) : 0,
                              .commit_ts_ms = -1};
    broker_commit_req_t r = {.group_id = group,
                             .generation_id = gen,
                             .member_id = member,
                             .retention_ms = -1,
                             .part_count = 1,
                             .parts = &p};
    done_res_t d = {0};
    broker_commit_part_t *pp = &p;
    broker_coord_commit(c, &r, &d);
    *done = d.calls;
    *err = pp->error;
}

TEST(standalone_commit_and_fetch)
{
    broker_coord_t *c = coord_new(0);
    int16_t err;
    int done;
    commit1(c, "solo", -1, "", 3, 42, "meta-3", &err, &done);
    CHECK_EQ(done, 1);
    CHECK_EQ(err, KAFKA_NONE);
    broker_committed_t o;
    CHECK_EQ(broker_coord_offset_fetch(c, "solo", "t", 3, &o), KAFKA_NONE);
    CHECK_EQ(o.offset, 42);
    CHECK_STR(o.metadata, "meta-3");
    CHECK_EQ(o.commit_ts_ms, 1700000000000LL);
    broker_coord_offset_fetch(c, "solo", "t", 4, &o);
    CHECK_EQ(o.offset, -1);
    CHECK_STR(o.metadata, "");
    broker_coord_offset_fetch(c, "nogroup", "t", 3, &o);
    CHECK_EQ(o.offset, -1);
    commit1(c, "solo", -1, "", 9, 1, NULL, &err, &done); /* no such partition */
    CHECK_EQ(err, KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
    commit1(c, "other", 3, "m", 0, 1, NULL, &err, &done); /* unknown group, real generation */
    CHECK_EQ(err, KAFKA_ILLEGAL_GENERATION);
    CHECK_EQ(state_of(c, "solo"), BROKER_GROUP_EMPTY);
    coord_free(c);
}

TEST(commit_visible_only_when_durable)
{
    broker_coord_t *c = coord_new(0);
    defer_writes = true;
    broker_commit_part_t p = {
        .topic = "t", .partition = 0, .offset = 10, .leader_epoch = 5, .commit_ts_ms = -1};
    broker_commit_req_t r = {.group_id = "g",
                             .generation_id = -1,
                             .member_id = "",
                             .retention_ms = -1,
                             .part_count = 1,
                             .parts = &p};
    done_res_t d = {0};
    broker_coord_commit(c, &r, &d);
    CHECK_EQ(d.calls, 0);
    broker_committed_t o;
    broker_coord_offset_fetch(c, "g", "t", 0, &o);
    CHECK_EQ(o.offset, -1);
    flush_writes();
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(p.error, KAFKA_NONE);
    broker_coord_offset_fetch(c, "g", "t", 0, &o);
    CHECK_EQ(o.offset, 10);
    CHECK_EQ(o.leader_epoch, 5);
    /* a failed write: an error and nothing stored */
    defer_writes = false;
    fail_writes = 1;
    p.offset = 20;
    p.commit_ts_ms = -1;
    d.calls = 0;
    broker_coord_commit(c, &r, &d);
    CHECK_EQ(d.calls, 1);
    CHECK(p.error != KAFKA_NONE);
    broker_coord_offset_fetch(c, "g", "t", 0, &o);
    CHECK_EQ(o.offset, 10);
    coord_free(c);
}

TEST(member_commits)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b;
    join_alone(c, "g", &a);
    int16_t err;
    int done;
    commit1(c, "g", 1, a.member_id, 0, 100, NULL, &err, &done);
    CHECK_EQ(err, KAFKA_NONE);
    commit1(c, "g", 0, a.member_id, 0, 100, NULL, &err, &done);
    CHECK_EQ(err, KAFKA_ILLEGAL_GENERATION);
    commit1(c, "g", 1, "intruder", 0, 100, NULL, &err, &done);
    CHECK_EQ(err, KAFKA_UNKNOWN_MEMBER_ID);
    commit1(c, "g", -1, "", 0, 100, NULL, &err, &done); /* standalone into a live group */
    CHECK_EQ(err, KAFKA_UNKNOWN_MEMBER_ID);
    /* PreparingRebalance: a member of the current generation may still commit */
    join(c, "g", "", NULL, &b);
    commit1(c, "g", 1, a.member_id, 1, 7, NULL, &err, &done);
    CHECK_EQ(err, KAFKA_NONE);
    /* CompletingRebalance: REBALANCE_IN_PROGRESS */
    char aid[160];
    copy_str(aid, sizeof(aid), a.member_id);
    join(c, "g", aid, NULL, &a);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_COMPLETING_REBALANCE);
    commit1(c, "g", 2, aid, 1, 8, NULL, &err, &done);
    CHECK_EQ(err, KAFKA_REBALANCE_IN_PROGRESS);
    broker_committed_t o;
    broker_coord_offset_fetch(c, "g", "t", 1, &o);
    CHECK_EQ(o.offset, 7);
    coord_free(c);
}

TEST(metadata_too_large)
{
    broker_coord_t *c = coord_new(0);
    char big[5000];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    int16_t err;
    int done;
    commit1(c, "g", -1, "", 0, 1, big, &err, &done);
    CHECK_EQ(err, 12);
    CHECK_EQ(done, 1);
    CHECK_EQ(broker_coord_group_count(c), 0);
    coord_free(c);
}

/* Issue 12 4b: metadata is data. A NUL inside is kept, returned with its length, written to
 * __consumer_offsets and read back by a restart byte for byte. */
TEST(metadata_with_nul_round_trips)
{
    broker_coord_t *c = coord_new(0);
    static const char meta[] = "before\0after";
    broker_commit_part_t p = {.topic = "t",
                              .partition = 1,
                              .offset = 9,
                              .leader_epoch = -1,
                              .metadata = meta,
                              .metadata_len = sizeof(meta), /* the trailing NUL too */
                              .commit_ts_ms = -1};
    broker_commit_req_t r = {.group_id = "g",
                             .generation_id = -1,
                             .member_id = "",
                             .retention_ms = -1,
                             .part_count = 1,
                             .parts = &p};
    done_res_t d = {0};
    broker_coord_commit(c, &r, &d);
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(p.error, KAFKA_NONE);
    broker_committed_t o;
    broker_coord_offset_fetch(c, "g", "t", 1, &o);
    CHECK_EQ(o.offset, 9);
    CHECK_EQ(o.metadata_len, sizeof(meta));
    CHECK_MEM(o.metadata, meta, sizeof(meta));
    /* a restart replays the record */
    broker_coord_config_t cfg;
    broker_coord_config_default(&cfg);
    broker_coord_t *c2;
    broker_coord_new(&cfg, &fake_env, &c2);
    for (int i = 0; i < nrecs; i++)
        CHECK_EQ(broker_coord_replay_record(c2, recs[i].key, recs[i].key_len, recs[i].value,
                                            recs[i].value_len),
                 0);
    broker_coord_load_finish(c2);
    broker_coord_offset_fetch(c2, "g", "t", 1, &o);
    CHECK_EQ(o.metadata_len, sizeof(meta));
    CHECK_MEM(o.metadata, meta, sizeof(meta));
    broker_coord_free(c2);
    coord_free(c);
}

static void count_offset(void *arg, const char *topic, int32_t partition,
                         const broker_committed_t *o)
{
    (*(int *)arg)++;
}

TEST(delete_groups)
{
    broker_coord_t *c = coord_new(0);
    int16_t err;
    int done;
    commit1(c, "solo", -1, "", 0, 5, NULL, &err, &done);
    commit1(c, "solo", -1, "", 1, 6, NULL, &err, &done);
    join_res_t a;
    join_alone(c, "live", &a);
    broker_group_delete_item_t items[4] = {{"solo", 0}, {"live", 0}, {"nope", 0}, {"", 0}};
    broker_group_delete_req_t r = {4, items};
    done_res_t d = {0};
    int before = nrecs;
    broker_coord_delete(c, &r, &d);
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(items[0].error, KAFKA_NONE);
    CHECK_EQ(items[1].error, KAFKA_NON_EMPTY_GROUP);
    CHECK_EQ(items[2].error, KAFKA_GROUP_ID_NOT_FOUND);
    CHECK_EQ(items[3].error, KAFKA_INVALID_GROUP_ID);
    CHECK_EQ(nrecs - before, 3); /* two offset tombstones and the group's */
    for (int i = before; i < nrecs; i++)
        CHECK_EQ(recs[i].value_len, -1);
    int n = 0;
    broker_coord_offset_foreach(c, "solo", count_offset, &n);
    CHECK_EQ(n, 0);
    CHECK_EQ(state_of(c, "solo"), BROKER_GROUP_DEAD);
    coord_free(c);
}

TEST(offset_delete)
{
    broker_coord_t *c = coord_new(0);
    /* a member subscribed to topic "t" (ConsumerProtocolSubscription v0) */
    static const uint8_t sub[] = {0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff};
    broker_group_protocol_t proto = {"range", sub, sizeof(sub)};
    broker_group_join_req_t r = join_req("g", "", NULL);
    r.protocols = &proto;
    join_res_t a;
    memset(&a, 0, sizeof(a));
    broker_coord_join(c, &r, &a);
    sync_res_t s;
    sync_g(c, "g", 1, a.member_id, NULL, 0, &s);
    int16_t err;
    int done;
    commit1(c, "g", 1, a.member_id, 0, 5, NULL, &err, &done);
    broker_offset_delete_part_t parts[1] = {{"t", 0, 0}};
    broker_offset_delete_req_t od = {"g", 0, 1, parts};
    done_res_t d = {0};
    broker_coord_offset_delete(c, &od, &d);
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(od.error, KAFKA_NONE);
    CHECK_EQ(parts[0].error, 86); /* GROUP_SUBSCRIBED_TO_TOPIC */
    /* once the member left, the offset can go */
    broker_group_leave_member_t l = {a.member_id, NULL, 0};
    broker_coord_leave(c, "g", &l, 1);
    broker_coord_offset_delete(c, &od, &d);
    CHECK_EQ(parts[0].error, KAFKA_NONE);
    broker_committed_t o;
    broker_coord_offset_fetch(c, "g", "t", 0, &o);
    CHECK_EQ(o.offset, -1);
    od.group_id = "missing";
    broker_coord_offset_delete(c, &od, &d);
    CHECK_EQ(od.error, KAFKA_GROUP_ID_NOT_FOUND);
    coord_free(c);
}

TEST(offsets_expire_for_empty_groups_only)
{
    broker_coord_t *c = coord_new(0);
    int16_t err;
    int done;
    commit1(c, "solo", -1, "", 0, 5, NULL, &err, &done);
    join_res_t a;
    join_alone(c, "live", &a);
    commit1(c, "live", 1, a.member_id, 0, 9, NULL, &err, &done);
    /* 8 days later (retention 7 days); the live member keeps heartbeating */
    clock_wall_set_override(1700000000000LL + 8LL * 24 * 3600 * 1000);
    CHECK_EQ(broker_coord_heartbeat(c, "live", 1, a.member_id, NULL), KAFKA_NONE);
    int before = nrecs;
    broker_coord_expire_offsets(c);
    broker_committed_t o;
    broker_coord_offset_fetch(c, "solo", "t", 0, &o);
    CHECK_EQ(o.offset, -1);
    broker_coord_offset_fetch(c, "live", "t", 0, &o);
    CHECK_EQ(o.offset, 9);
    CHECK_EQ(nrecs - before, 2); /* offset tombstone + group tombstone of "solo" */
    CHECK_EQ(state_of(c, "solo"), BROKER_GROUP_DEAD);
    coord_free(c);
}

TEST(commit_retention_time_v2)
{
    broker_coord_t *c = coord_new(0);
    broker_commit_part_t p = {
        .topic = "t", .partition = 0, .offset = 10, .leader_epoch = -1, .commit_ts_ms = -1};
    broker_commit_req_t r = {.group_id = "g",
                             .generation_id = -1,
                             .member_id = "",
                             .retention_ms = 60000,
                             .part_count = 1,
                             .parts = &p};
    done_res_t d = {0};
    broker_coord_commit(c, &r, &d);
    broker_committed_t o;
    broker_coord_offset_fetch(c, "g", "t", 0, &o);
    CHECK_EQ(o.expire_ts_ms, 1700000000000LL + 60000);
    clock_wall_set_override(1700000000000LL + 60001);
    broker_coord_expire_offsets(c);
    broker_coord_offset_fetch(c, "g", "t", 0, &o);
    CHECK_EQ(o.offset, -1);
    coord_free(c);
}

/* ---- restart: replay what was written
 * -------------------------------------------------------------- */

static broker_coord_t *restart(broker_coord_t *c)
{
    flush_writes();
    broker_coord_free(c);
    ntimers = 0;
    broker_coord_config_t cfg;
    broker_coord_config_default(&cfg);
    cfg.initial_rebalance_delay_ms = 0;
    cfg.min_session_timeout_ms = 100;
    broker_coord_new(&cfg, &fake_env, &c);
    for (int i = 0; i < nrecs; i++)
        CHECK_EQ(broker_coord_replay_record(c, recs[i].key, recs[i].key_len, recs[i].value,
                                            recs[i].value_len),
                 0);
    broker_coord_load_finish(c);
    return c;
}

TEST(restart_restores_offsets_and_stable_group)
{
    broker_coord_t *c = coord_new(0);
    char aid[160], bid[160];
    static_pair(c, aid, bid);
    int16_t err;
    int done;
    commit1(c, "g", 2, aid, 0, 111, "m0", &err, &done);
    commit1(c, "g", 2, bid, 1, 222, NULL, &err, &done);
    commit1(c, "g", 2, bid, 1, 223, NULL, &err, &done);
    commit1(c, "solo", -1, "", 2, 5, NULL, &err, &done);
    broker_group_delete_item_t del = {"solo", 0};
    broker_group_delete_req_t dr = {1, &del};
    done_res_t d = {0};
    broker_coord_delete(c, &dr, &d);
    CHECK_EQ(del.error, KAFKA_NONE);

    c = restart(c);
    broker_committed_t o;
    broker_coord_offset_fetch(c, "g", "t", 0, &o);
    CHECK_EQ(o.offset, 111);
    CHECK_STR(o.metadata, "m0");
    broker_coord_offset_fetch(c, "g", "t", 1, &o);
    CHECK_EQ(o.offset, 223);
    CHECK_EQ(state_of(c, "solo"), BROKER_GROUP_DEAD);
    /* the group is Stable in generation 2 with both members and their assignments */
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_STABLE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, aid, "inst-a"), KAFKA_NONE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, bid, "inst-b"), KAFKA_NONE);
    sync_res_t s;
    sync_g(c, "g", 2, bid, NULL, 0, &s);
    CHECK_EQ(s.error, KAFKA_NONE);
    CHECK_MEM(s.asg, "PB", 2);
    broker_group_summary_t sum;
    broker_coord_describe(c, "g", &sum);
    CHECK_EQ(sum.member_count, 2);
    CHECK_STR(sum.protocol_name, "range");
    CHECK_EQ(sum.generation, 2);
    if (sum.member_count == 2) {
        CHECK_STR(sum.members[0].instance_id, "inst-a");
        CHECK_EQ(sum.members[0].metadata_len, 1);
        CHECK_STR(sum.members[0].client_host, "/127.0.0.1");
    }
    broker_group_summary_deinit(&sum);
    /* members that never come back expire after their session timeout */
    advance(10001);
    CHECK_EQ(state_of(c, "g"), BROKER_GROUP_EMPTY);
    coord_free(c);
}

TEST(restart_after_static_replacement)
{
    broker_coord_t *c = coord_new(0);
    char aid[160], bid[160];
    static_pair(c, aid, bid);
    join_res_t b2;
    join(c, "g", "", "inst-b", &b2);
    CHECK_EQ(b2.error, KAFKA_NONE);
    c = restart(c);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, b2.member_id, "inst-b"), KAFKA_NONE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, bid, "inst-b"), KAFKA_FENCED_INSTANCE_ID);
    coord_free(c);
}

/* ---- ListGroups, DescribeGroups
 * --------------------------------------------------------------------- */

static void list_cb(void *arg, const broker_group_listing_t *g)
{
    buf_t *b = arg;
    buf_printf(b, "%s/%s/%s/%s;", g->group_id, g->protocol_type, g->state, g->type);
}

TEST(list_and_describe)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a;
    join_alone(c, "g1", &a);
    int16_t err;
    int done;
    commit1(c, "g2", -1, "", 0, 1, NULL, &err, &done);
    buf_t b = {0};
    broker_coord_list(c, list_cb, &b);
    buf_append_u8(&b, 0);
    CHECK(strstr((char *)b.data, "g1/consumer/Stable/classic;") != NULL);
    CHECK(strstr((char *)b.data, "g2//Empty/classic;") != NULL);
    buf_deinit(&b);
    broker_group_summary_t s;
    broker_coord_describe(c, "g1", &s);
    CHECK_EQ(s.error, KAFKA_NONE);
    CHECK_EQ(s.state, BROKER_GROUP_STABLE);
    CHECK_STR(s.protocol_type, "consumer");
    CHECK_STR(s.protocol_name, "range");
    CHECK_EQ(s.member_count, 1);
    CHECK_STR(s.members[0].member_id, a.member_id);
    CHECK_STR(s.members[0].client_id, "cli");
    CHECK_EQ(s.members[0].assignment_len, 2);
    CHECK_MEM(s.members[0].assignment, "A0", 2);
    broker_group_summary_deinit(&s);
    broker_coord_describe(c, "none", &s);
    CHECK_EQ(s.error, KAFKA_NONE);
    CHECK_EQ(s.state, BROKER_GROUP_DEAD);
    broker_group_summary_deinit(&s);
    coord_free(c);
}

TEST(group_max_size)
{
    reset_fakes();
    broker_coord_config_t cfg;
    broker_coord_config_default(&cfg);
    cfg.initial_rebalance_delay_ms = 0;
    cfg.min_session_timeout_ms = 100;
    cfg.max_size = 2;
    broker_coord_t *c;
    broker_coord_new(&cfg, &fake_env, &c);
    join_res_t a, b, x;
    join(c, "g", "", NULL, &a);
    join(c, "g", "", NULL, &b);
    join(c, "g", "", NULL, &x);
    CHECK_EQ(x.calls, 1);
    CHECK_EQ(x.error, KAFKA_GROUP_MAX_SIZE_REACHED);
    coord_free(c);
}

TEST(free_answers_parked_requests)
{
    broker_coord_t *c = coord_new(0);
    join_res_t a, b;
    join_alone(c, "g", &a);
    join(c, "g", "", NULL, &b);
    CHECK_EQ(b.calls, 0);
    flush_writes();
    broker_coord_free(c);
    CHECK_EQ(b.calls, 1);
    CHECK_EQ(b.error, KAFKA_COORDINATOR_NOT_AVAILABLE);
    CHECK_EQ(ntimers, 0);
    reset_fakes();
}

/* Many groups cost timers only in the loop's heap: no thread, no fd. */
TEST(ten_thousand_groups)
{
    broker_coord_t *c = coord_new(0);
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "g%d", i);
        join_res_t a;
        join_alone(c, name, &a);
    }
    CHECK_EQ(broker_coord_group_count(c), 10000);
    CHECK_EQ(ntimers, 10001 - 0); /* one session timer each + the expiry timer */
    advance(10001);
    CHECK_EQ(state_of(c, "g9999"), BROKER_GROUP_EMPTY);
    coord_free(c);
}

TEST_MAIN()
