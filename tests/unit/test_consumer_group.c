/* Unit tests of consumer groups (KIP-848: src/broker/coord_consumer*.c, coord_assign.c) without
 * sockets or disk: a fake clock and timers, a fake topic table with topic ids, a fake
 * __consumer_offsets writer that keeps every record (a "restart" replays them into a new
 * coordinator). The assignors are checked against hand-computed assignments; the state machine
 * against the answers Apache Kafka 4.4 gives (error codes and messages, revoke before assign,
 * static membership, timeouts, restarts). Sets are written "t:0,1 u:2" for readability. */
#include "broker/coord_internal.h"
#include "test.h"

#include <stdint.h>

/* ---- fake environment -------------------------------------------------------------------------
 */

enum { MAX_TIMERS = 4096, MAX_RECS = 16384, MAX_TOPICS = 16 };

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
static int fail_writes; /* the next N writes fail with -WEIR_EIO */

static struct {
    char name[32];
    int32_t partitions;
    uint8_t id[16];
} topics[MAX_TOPICS];
static int ntopics;

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
    if (fail_writes > 0) {
        fail_writes--;
        done(arg, -WEIR_EIO);
        return;
    }
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
    done(arg, 0);
}

static int topic_find(const char *name)
{
    for (int i = 0; i < ntopics; i++)
        if (strcmp(topics[i].name, name) == 0)
            return i;
    return -1;
}

static void topic_add(const char *name, int32_t partitions)
{
    int i = topic_find(name);
    if (i < 0) {
        i = ntopics++;
        snprintf(topics[i].name, sizeof(topics[i].name), "%s", name);
        memset(topics[i].id, 0, 16);
        topics[i].id[0] = 0xab;
        topics[i].id[15] = (uint8_t)(i + 1);
    }
    topics[i].partitions = partitions;
}

static bool fake_partition_exists(void *ctx, const char *topic, int32_t partition)
{
    int i = topic_find(topic);
    return i >= 0 && partition >= 0 && partition < topics[i].partitions;
}

static int32_t fake_topic_partitions(void *ctx, const char *topic)
{
    int i = topic_find(topic);
    return i < 0 ? -1 : topics[i].partitions;
}

static bool fake_topic_id(void *ctx, const char *topic, uint8_t id[16])
{
    int i = topic_find(topic);
    if (i >= 0)
        memcpy(id, topics[i].id, 16);
    return i >= 0;
}

static bool fake_topic_by_id(void *ctx, const uint8_t id[16], char *name, size_t cap)
{
    for (int i = 0; i < ntopics; i++) {
        if (memcmp(topics[i].id, id, 16) == 0) {
            snprintf(name, cap, "%s", topics[i].name);
            return true;
        }
    }
    return false;
}

static void fake_topics_foreach(void *ctx, void (*fn)(void *arg, const char *topic), void *arg)
{
    for (int i = 0; i < ntopics; i++)
        fn(arg, topics[i].name);
}

static void fake_done(void *ctx, void *waiter)
{
    (*(int *)waiter)++;
}

static void fake_join_done(void *ctx, void *waiter, const broker_group_join_result_t *r)
{
    *(int16_t *)waiter = r->error;
}

static void fake_sync_done(void *ctx, void *waiter, const broker_group_sync_result_t *r) {}

static const broker_coord_env_t fake_env = {.now_ms = fake_now,
                                            .timer_init = fake_timer_init,
                                            .timer_start = fake_timer_start,
                                            .timer_stop = fake_timer_stop,
                                            .write = fake_write,
                                            .partition_exists = fake_partition_exists,
                                            .topic_partitions = fake_topic_partitions,
                                            .topic_id = fake_topic_id,
                                            .topic_by_id = fake_topic_by_id,
                                            .topics_foreach = fake_topics_foreach,
                                            .join_done = fake_join_done,
                                            .sync_done = fake_sync_done,
                                            .done = fake_done};

static void reset_records(void)
{
    for (int i = 0; i < nrecs; i++) {
        free(recs[i].key);
        free(recs[i].value);
    }
    nrecs = 0;
}

static broker_coord_t *coord_new(void)
{
    reset_records();
    ntimers = 0;
    ntopics = 0;
    fail_writes = 0;
    now_ms = 1000;
    clock_wall_set_override(1700000000000LL);
    topic_add("t", 4);
    broker_coord_config_t cfg;
    broker_coord_config_default(&cfg);
    broker_coord_t *c;
    broker_coord_new(&cfg, &fake_env, &c);
    return c;
}

/* A coordinator rebuilt from every record written so far (a restart). */
static broker_coord_t *coord_restart(broker_coord_t *old)
{
    broker_coord_free(old);
    WEIR_ASSERT(ntimers == 0);
    broker_coord_config_t cfg;
    broker_coord_config_default(&cfg);
    broker_coord_t *c;
    broker_coord_new(&cfg, &fake_env, &c);
    for (int i = 0; i < nrecs; i++)
        CHECK_EQ(broker_coord_replay_record(c, recs[i].key, recs[i].key_len, recs[i].value,
                                            recs[i].value_len),
                 0);
    broker_coord_load_finish(c);
    return c;
}

static void coord_free(broker_coord_t *c)
{
    broker_coord_free(c);
    WEIR_ASSERT(ntimers == 0);
    reset_records();
    clock_wall_set_override(-1);
}

/* ---- sets as text ------------------------------------------------------------------------------
 */

/* "t:0,1 u:2" from topic-partition lists. */
static void parts_str(const broker_cg_topic_parts_t *t, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        char name[64] = "?";
        fake_topic_by_id(NULL, t[i].topic_id, name, sizeof(name));
        k += (size_t)snprintf(out + k, cap - k, "%s%s:", i ? " " : "", name);
        for (size_t j = 0; j < t[i].count && k < cap; j++)
            k += (size_t)snprintf(out + k, cap - k, "%s%d", j ? "," : "", t[i].partitions[j]);
    }
}

static void tpset_str(const tpset_t *s, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = 0;
    for (size_t i = 0; i < s->n && k < cap; i++) {
        bool first = i == 0 || s->v[i].topic != s->v[i - 1].topic;
        if (first)
            k += (size_t)snprintf(out + k, cap - k, "%s%s:", i ? " " : "", s->v[i].topic);
        k += (size_t)snprintf(out + k, cap - k, "%s%d", first ? "" : ",", s->v[i].partition);
    }
}

/* Owned partitions for a heartbeat, from "t:0,1 u:2" ("" = none). */
typedef struct {
    broker_cg_topic_parts_t t[4];
    int32_t p[4][16];
    size_t n;
} owned_t;

static void owned_parse(owned_t *o, const char *s)
{
    memset(o, 0, sizeof(*o));
    while (s && *s) {
        char name[32];
        size_t len = strcspn(s, ":");
        snprintf(name, sizeof(name), "%.*s", (int)len, s);
        s += len + 1;
        broker_cg_topic_parts_t *t = &o->t[o->n];
        fake_topic_id(NULL, name, t->topic_id);
        while (*s && *s != ' ') {
            o->p[o->n][t->count++] = (int32_t)strtol(s, (char **)&s, 10);
            if (*s == ',')
                s++;
        }
        t->partitions = o->p[o->n++];
        while (*s == ' ')
            s++;
    }
}

/* ---- heartbeats --------------------------------------------------------------------------------
 */

typedef struct {
    const char *group, *member, *instance;
    int32_t epoch;
    int32_t rebalance_timeout_ms; /* 0: -1 (unchanged), unless epoch 0 (then 30000) */
    const char *subs;             /* "t u" ("" = empty list, NULL = null) */
    const char *regex;
    const char *assignor;
    const char *owned; /* NULL = null; "" = empty; "t:0,1" */
    bool v0;           /* ConsumerGroupHeartbeat v0 (else v1) */
} hb_t;

typedef struct {
    int16_t error;
    char message[256];
    char member[64];
    int32_t epoch;
    int32_t interval;
    bool has_assignment;
    char assignment[256];
} hb_res_t;

static hb_res_t hb(broker_coord_t *c, hb_t p)
{
    broker_consumer_heartbeat_req_t r = {.api_version = p.v0 ? 0 : 1,
                                         .group_id = p.group ? p.group : "g",
                                         .member_id = p.member ? p.member : "",
                                         .member_epoch = p.epoch,
                                         .instance_id = p.instance,
                                         .rebalance_timeout_ms = -1,
                                         .topic_regex = p.regex,
                                         .server_assignor = p.assignor,
                                         .client_id = "cli",
                                         .client_host = "/127.0.0.1"};
    if (p.rebalance_timeout_ms)
        r.rebalance_timeout_ms = p.rebalance_timeout_ms;
    else if (p.epoch == 0)
        r.rebalance_timeout_ms = 30000;
    char buf[128], *names[8];
    if (p.subs) {
        snprintf(buf, sizeof(buf), "%s", p.subs);
        r.has_topics = true;
        for (char *save, *s = strtok_r(buf, " ", &save); s; s = strtok_r(NULL, " ", &save))
            names[r.ntopics++] = s;
        r.topics = (const char *const *)names;
    }
    owned_t o;
    if (p.owned) {
        owned_parse(&o, p.owned);
        r.has_owned = true;
        r.nowned = o.n;
        r.owned = o.t;
    }
    int calls = 0;
    broker_coord_consumer_heartbeat(c, &r, &calls);
    CHECK_EQ(calls, 1);
    hb_res_t res = {.error = r.err.code,
                    .epoch = r.out_member_epoch,
                    .interval = r.heartbeat_interval_ms,
                    .has_assignment = r.has_assignment};
    snprintf(res.message, sizeof(res.message), "%.*s", (int)sizeof(res.message) - 1, r.err.message);
    snprintf(res.member, sizeof(res.member), "%s", r.out_member_id ? r.out_member_id : "");
    if (r.has_assignment)
        parts_str(r.assigned, r.nassigned, res.assignment, sizeof(res.assignment));
    broker_coord_heartbeat_free(&r);
    return res;
}

/* A member joins group g subscribed to topics; its answer. */
static hb_res_t join(broker_coord_t *c, const char *member, const char *subs)
{
    return hb(c, (hb_t){.member = member, .subs = subs, .owned = ""});
}

static cmember_t *member_of(broker_coord_t *c, const char *group, const char *id)
{
    group_t *g = broker_coord_group_get(c, group);
    return g ? broker_coord_cmember_find(g, id) : NULL;
}

static const char *assigned_of(broker_coord_t *c, const char *id)
{
    static char out[256];
    cmember_t *m = member_of(c, "g", id);
    if (!m)
        return "(none)";
    tpset_str(&m->assigned, out, sizeof(out));
    return out;
}

/* No partition is assigned to (or being revoked by) two members. */
static bool owners_disjoint(broker_coord_t *c, const char *group)
{
    group_t *g = broker_coord_group_get(c, group);
    for (cmember_t *a = g->cg->head; a; a = a->next)
        for (cmember_t *b = a->next; b; b = b->next)
            for (size_t i = 0; i < a->assigned.n + a->revoking.n; i++) {
                const tp_t *tp =
                    i < a->assigned.n ? &a->assigned.v[i] : &a->revoking.v[i - a->assigned.n];
                if (tpset_has(&b->assigned, tp->topic, tp->partition) ||
                    tpset_has(&b->revoking, tp->topic, tp->partition))
                    return false;
            }
    return true;
}

/* ---- assignors (hand-computed) -----------------------------------------------------------------
 */

static const char *const T1 = "t1", *const T2 = "t2";

/* Runs an assignor; out[i] gets member i's partitions as text. prev may be NULL. */
static void assign(broker_assignor_t a, const assign_member_t *m, size_t n, const assign_topic_t *t,
                   size_t nt, const tpset_t *prev, char out[][128])
{
    tpset_t res[8] = {{0}};
    broker_coord_assign(a, m, n, t, nt, prev, res);
    for (size_t i = 0; i < n; i++) {
        tpset_str(&res[i], out[i], 128);
        tpset_free(&res[i]);
    }
}

TEST(uniform_fresh_alternates_by_load_then_member_id)
{
    const char *const both[] = {T1};
    assign_member_t m[] = {{"a", both, 1}, {"b", both, 1}, {"c", both, 1}};
    assign_topic_t t[] = {{T1, 7}};
    char out[3][128];
    assign(BROKER_ASSIGNOR_UNIFORM, m, 3, t, 1, NULL, out);
    /* each partition in order to the least loaded member, ties to the smallest id */
    CHECK_STR(out[0], "t1:0,3,6");
    CHECK_STR(out[1], "t1:1,4");
    CHECK_STR(out[2], "t1:2,5");
}

TEST(uniform_is_sticky_and_moves_the_fewest)
{
    const char *const sub[] = {T1};
    assign_member_t m[] = {{"a", sub, 1}, {"b", sub, 1}};
    assign_topic_t t[] = {{T1, 4}};
    tpset_t prev[2] = {{0}};
    for (int p = 0; p < 4; p++)
        tpset_add(&prev[0], T1, p); /* a had everything; b is new */
    char out[2][128];
    assign(BROKER_ASSIGNOR_UNIFORM, m, 2, t, 1, prev, out);
    CHECK_STR(out[0], "t1:0,1"); /* a keeps the first half: only two partitions move */
    CHECK_STR(out[1], "t1:2,3");
    /* b leaves: its partitions go to a, nothing else moves */
    tpset_clear(&prev[0]);
    tpset_add(&prev[0], T1, 0);
    tpset_add(&prev[0], T1, 1);
    assign(BROKER_ASSIGNOR_UNIFORM, m, 1, t, 1, prev, out);
    CHECK_STR(out[0], "t1:0,1,2,3");
    /* a member that leaves frees its partitions to the least loaded: a 0,3,6 / b 1,4 / c gone */
    assign_member_t m3[] = {{"a", sub, 1}, {"b", sub, 1}};
    assign_topic_t t7[] = {{T1, 7}};
    tpset_clear(&prev[0]);
    tpset_add(&prev[0], T1, 0), tpset_add(&prev[0], T1, 3), tpset_add(&prev[0], T1, 6);
    tpset_add(&prev[1], T1, 1), tpset_add(&prev[1], T1, 4);
    assign(BROKER_ASSIGNOR_UNIFORM, m3, 2, t7, 1, prev, out);
    CHECK_STR(out[0], "t1:0,3,5,6"); /* 2 to b (2 < 3), then 5 to a (3 = 3, a first) */
    CHECK_STR(out[1], "t1:1,2,4");
    tpset_free(&prev[0]);
    tpset_free(&prev[1]);
}

TEST(uniform_balances_uneven_subscriptions)
{
    const char *const ab[] = {T1, T2}, *const only1[] = {T1};
    assign_member_t m[] = {{"a", ab, 2}, {"b", only1, 1}};
    assign_topic_t t[] = {{T1, 2}, {T2, 2}};
    char out[2][128];
    assign(BROKER_ASSIGNOR_UNIFORM, m, 2, t, 2, NULL, out);
    /* first pass: t1:0 a, t1:1 b, t2:0 a, t2:1 a (only a takes t2); then t1:0 moves to b */
    CHECK_STR(out[0], "t2:0,1");
    CHECK_STR(out[1], "t1:0,1");
}

TEST(uniform_leaves_unsubscribed_and_gone_partitions)
{
    const char *const sub1[] = {T1};
    assign_member_t m[] = {{"a", sub1, 1}, {"b", NULL, 0}};
    assign_topic_t t[] = {{T1, 2}};
    tpset_t prev[2] = {{0}};
    tpset_add(&prev[0], T1, 5); /* a partition the topic no longer has */
    tpset_add(&prev[1], T1, 0); /* b is no longer subscribed */
    char out[2][128];
    assign(BROKER_ASSIGNOR_UNIFORM, m, 2, t, 1, prev, out);
    CHECK_STR(out[0], "t1:0,1");
    CHECK_STR(out[1], "");
    tpset_free(&prev[0]);
    tpset_free(&prev[1]);
}

TEST(range_gives_consecutive_ranges_by_member_id)
{
    const char *const sub[] = {T1, T2};
    assign_member_t m[] = {{"b", sub, 2}, {"a", sub, 2}};
    assign_topic_t t[] = {{T1, 5}, {T2, 3}};
    char out[2][128];
    assign(BROKER_ASSIGNOR_RANGE, m, 2, t, 2, NULL, out);
    /* sorted by id: a first; 5 = 3 + 2, 3 = 2 + 1: the same numbers of both topics */
    CHECK_STR(out[1], "t1:0,1,2 t2:0,1");
    CHECK_STR(out[0], "t1:3,4 t2:2");
    const char *const only2[] = {T2};
    assign_member_t m2[] = {{"a", sub, 2}, {"b", only2, 1}, {"c", only2, 1}};
    char out3[3][128];
    assign(BROKER_ASSIGNOR_RANGE, m2, 3, t, 2, NULL, out3);
    CHECK_STR(out3[0], "t1:0,1,2,3,4 t2:0"); /* only a takes t1 */
    CHECK_STR(out3[1], "t2:1");
    CHECK_STR(out3[2], "t2:2");
}

TEST(assignor_names)
{
    CHECK_EQ(broker_coord_assignor_parse("uniform", 7), BROKER_ASSIGNOR_UNIFORM);
    CHECK_EQ(broker_coord_assignor_parse("range", 5), BROKER_ASSIGNOR_RANGE);
    const char *cls = "org.apache.kafka.coordinator.group.assignor.RangeAssignor";
    CHECK_EQ(broker_coord_assignor_parse(cls, strlen(cls)), BROKER_ASSIGNOR_RANGE);
    CHECK_EQ(broker_coord_assignor_parse("sticky", 6), -1);
    CHECK_EQ(broker_coord_assignor_parse("rangeX", 6), -1);
    CHECK_STR(broker_coord_assignor_name(BROKER_ASSIGNOR_UNIFORM), "uniform");
}

/* ---- the state machine -------------------------------------------------------------------------
 */

TEST(first_member_gets_everything)
{
    broker_coord_t *c = coord_new();
    hb_res_t r = join(c, "m-a", "t");
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_STR(r.member, "m-a");
    CHECK_EQ(r.epoch, 1);
    CHECK_EQ(r.interval, 5000);
    CHECK(r.has_assignment);
    CHECK_STR(r.assignment, "t:0,1,2,3");
    /* member, group epoch, target member, target epoch, current assignment */
    CHECK_EQ(nrecs, 5);
    group_t *g = broker_coord_group_get(c, "g");
    CHECK_STR(broker_coord_cgroup_state_name(g), "Stable");
    /* a heartbeat with nothing new: no assignment in the answer, nothing written */
    r = hb(c, (hb_t){.member = "m-a", .epoch = 1});
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK(!r.has_assignment);
    CHECK_EQ(nrecs, 5);
    /* a full heartbeat (rebalance timeout, subscription, owned) gets the assignment again */
    r = hb(c, (hb_t){.member = "m-a",
                     .epoch = 1,
                     .rebalance_timeout_ms = 30000,
                     .subs = "t",
                     .owned = "t:0,1,2,3"});
    CHECK(r.has_assignment);
    CHECK_STR(r.assignment, "t:0,1,2,3");
    /* v0: the broker names the member */
    r = hb(c, (hb_t){.group = "g0", .subs = "t", .owned = "", .v0 = true});
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(strlen(r.member), 22);
    coord_free(c);
}

TEST(revoke_before_assign)
{
    broker_coord_t *c = coord_new();
    join(c, "m-a", "t");
    hb_res_t b = join(c, "m-b", "t");
    /* b is at the new epoch but gets nothing yet: a still owns its share */
    CHECK_EQ(b.error, KAFKA_NONE);
    CHECK_EQ(b.epoch, 2);
    CHECK(b.has_assignment);
    CHECK_STR(b.assignment, "");
    CHECK_STR(broker_coord_cgroup_state_name(broker_coord_group_get(c, "g")), "Reconciling");
    /* a must first revoke t:2,3, at its old epoch */
    hb_res_t a = hb(c, (hb_t){.member = "m-a", .epoch = 1});
    CHECK_EQ(a.epoch, 1);
    CHECK(a.has_assignment);
    CHECK_STR(a.assignment, "t:0,1");
    CHECK_EQ(member_of(c, "g", "m-a")->state, CM_UNREVOKED);
    CHECK(owners_disjoint(c, "g"));
    /* b asks again: still unreleased */
    b = hb(c, (hb_t){.member = "m-b", .epoch = 2});
    CHECK(!b.has_assignment);
    CHECK_EQ(member_of(c, "g", "m-b")->state, CM_UNRELEASED);
    /* a says it still owns t:3: nothing moves; a null owned list says nothing either */
    a = hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,1,3"});
    CHECK_EQ(a.epoch, 1);
    a = hb(c, (hb_t){.member = "m-a", .epoch = 1});
    CHECK_EQ(a.epoch, 1);
    CHECK_STR(assigned_of(c, "m-b"), "");
    /* a acknowledges: it moves to epoch 2; then b gets t:2,3 */
    a = hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,1"});
    CHECK_EQ(a.epoch, 2);
    CHECK(!a.has_assignment); /* its partitions did not change */
    b = hb(c, (hb_t){.member = "m-b", .epoch = 2});
    CHECK(b.has_assignment);
    CHECK_STR(b.assignment, "t:2,3");
    CHECK(owners_disjoint(c, "g"));
    CHECK_STR(broker_coord_cgroup_state_name(broker_coord_group_get(c, "g")), "Stable");
    coord_free(c);
}

TEST(heartbeat_checks_in_kafka_order)
{
    broker_coord_t *c = coord_new();
    static const struct {
        hb_t p;
        int16_t error;
        const char *message;
    } cases[] = {
        {{.member = "", .epoch = 1}, KAFKA_INVALID_REQUEST, "MemberId can't be empty."},
        {{.group = " ", .member = "m", .epoch = 1},
         KAFKA_INVALID_REQUEST,
         "GroupId can't be empty."},
        {{.member = "m", .instance = "", .epoch = 1},
         KAFKA_INVALID_REQUEST,
         "InstanceId can't be empty."},
        {{.member = "m", .epoch = 0, .rebalance_timeout_ms = -1, .subs = "t", .owned = ""},
         KAFKA_INVALID_REQUEST,
         "RebalanceTimeoutMs must be provided in first request."},
        {{.member = "m", .epoch = 0, .subs = "t"},
         KAFKA_INVALID_REQUEST,
         "TopicPartitions must be empty when (re-)joining."},
        {{.member = "m", .epoch = 0, .subs = "t", .owned = "t:0"},
         KAFKA_INVALID_REQUEST,
         "TopicPartitions must be empty when (re-)joining."},
        {{.member = "m", .epoch = 0, .owned = ""},
         KAFKA_INVALID_REQUEST,
         "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when "
         "(re-)joining."},
        {{.member = "m", .epoch = -2}, KAFKA_INVALID_REQUEST, "InstanceId can't be null."},
        {{.member = "m", .epoch = -3}, KAFKA_INVALID_REQUEST, "MemberEpoch is invalid."},
        {{.member = "m", .epoch = 0, .subs = "t", .owned = "", .assignor = "sticky"},
         KAFKA_UNSUPPORTED_ASSIGNOR,
         "ServerAssignor sticky is not supported. Supported assignors: uniform, range."},
        {{.member = "m", .epoch = 0, .regex = "(", .owned = ""},
         KAFKA_INVALID_REGULAR_EXPRESSION,
         NULL},
        {{.group = "nosuch", .member = "m", .epoch = 3},
         KAFKA_GROUP_ID_NOT_FOUND,
         "Consumer group nosuch not found."},
        {{.group = "nosuch", .member = "m", .epoch = -1},
         KAFKA_GROUP_ID_NOT_FOUND,
         "Group nosuch not found."},
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(cases); i++) {
        hb_res_t r = hb(c, cases[i].p);
        CHECK_EQ(r.error, cases[i].error);
        if (cases[i].message)
            CHECK_STR(r.message, cases[i].message);
        CHECK_STR(r.member, "");
    }
    CHECK_EQ(nrecs, 0);
    CHECK_EQ(broker_coord_group_count(c), 0); /* failed joins leave nothing behind */
    /* v0 lets a joining member come without an id */
    CHECK_EQ(hb(c, (hb_t){.member = "", .subs = "t", .owned = "", .v0 = true}).error, 0);
    coord_free(c);
}

TEST(member_epochs_are_fenced)
{
    broker_coord_t *c = coord_new();
    join(c, "m-a", "t");
    hb_res_t r = hb(c, (hb_t){.member = "m-a", .epoch = 6});
    CHECK_EQ(r.error, KAFKA_FENCED_MEMBER_EPOCH);
    CHECK_STR(r.message, "The consumer group member has a greater member epoch (6) than the one "
                         "known by the group coordinator (1). The member must abandon all its "
                         "partitions and rejoin.");
    CHECK_EQ(hb(c, (hb_t){.member = "nobody", .epoch = 1}).error, KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_STR(hb(c, (hb_t){.member = "nobody", .epoch = 1}).message,
              "Member nobody is not a member of group g.");
    join(c, "m-b", "t"); /* epoch 2 */
    hb(c, (hb_t){.member = "m-a", .epoch = 1});
    hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,1"}); /* a: 1 -> 2 */
    /* the answer that moved a to 2 was lost: epoch 1 again is fine with a subset of its
     * partitions, not without saying what it owns, nor with more */
    CHECK_EQ(hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0"}).error, 0);
    CHECK_EQ(hb(c, (hb_t){.member = "m-a", .epoch = 1}).error, KAFKA_FENCED_MEMBER_EPOCH);
    CHECK_EQ(hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,2"}).error,
             KAFKA_FENCED_MEMBER_EPOCH);
    /* a rejoin (epoch 0) of a member known at a later epoch that came from 0: accepted */
    r = join(c, "m-b", "t");
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(r.epoch, 2);
    coord_free(c);
}

TEST(leave_and_group_epoch)
{
    broker_coord_t *c = coord_new();
    join(c, "m-a", "t");
    join(c, "m-b", "t");
    hb(c, (hb_t){.member = "m-a", .epoch = 1});
    hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,1"});
    hb(c, (hb_t){.member = "m-b", .epoch = 2});
    hb_res_t r = hb(c, (hb_t){.member = "m-b", .epoch = -1});
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_STR(r.member, "m-b");
    CHECK_EQ(r.epoch, -1);
    CHECK_EQ(r.interval, 0);
    CHECK(!r.has_assignment);
    CHECK(member_of(c, "g", "m-b") == NULL);
    /* the group epoch went up; a picks up what b had */
    r = hb(c, (hb_t){.member = "m-a", .epoch = 2});
    CHECK_EQ(r.epoch, 3);
    CHECK_STR(r.assignment, "t:0,1,2,3");
    CHECK_EQ(hb(c, (hb_t){.member = "m-b", .epoch = 2}).error, KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_EQ(hb(c, (hb_t){.member = "m-b", .epoch = -1}).error, KAFKA_UNKNOWN_MEMBER_ID);
    hb(c, (hb_t){.member = "m-a", .epoch = -1});
    group_t *g = broker_coord_group_get(c, "g");
    REQUIRE(g != NULL); /* an empty consumer group stays (its epoch with it) */
    CHECK_STR(broker_coord_cgroup_state_name(g), "Empty");
    CHECK_EQ(g->cg->epoch, 4);
    coord_free(c);
}

TEST(static_member_leaves_for_a_while_and_comes_back)
{
    broker_coord_t *c = coord_new();
    hb_res_t r = hb(c, (hb_t){.member = "s-1", .instance = "i", .subs = "t", .owned = ""});
    CHECK_EQ(r.epoch, 1);
    join(c, "m-b", "t"); /* epoch 2: s must give up t:2,3 */
    hb(c, (hb_t){.member = "s-1", .instance = "i", .epoch = 1, .owned = "t:0,1,2,3"});
    hb(c, (hb_t){.member = "s-1", .instance = "i", .epoch = 1, .owned = "t:0,1"});
    hb(c, (hb_t){.member = "m-b", .epoch = 2});
    CHECK_EQ(hb(c, (hb_t){.member = "s-2", .instance = "i", .subs = "t", .owned = ""}).error,
             KAFKA_UNRELEASED_INSTANCE_ID);
    CHECK_EQ(hb(c, (hb_t){.member = "s-2", .instance = "i", .epoch = 2}).error,
             KAFKA_FENCED_INSTANCE_ID);
    r = hb(c, (hb_t){.member = "s-1", .instance = "x", .epoch = 2});
    CHECK_EQ(r.error, KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_STR(r.message, "Instance id x is unknown.");
    /* -2: it keeps its partitions, the group epoch stays */
    r = hb(c, (hb_t){.member = "s-1", .instance = "i", .epoch = -2});
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(r.epoch, -2);
    group_t *g = broker_coord_group_get(c, "g");
    CHECK_EQ(g->cg->epoch, 2);
    CHECK_STR(assigned_of(c, "s-1"), "t:0,1");
    /* back under a new member id: its partitions, no rebalance */
    r = hb(c, (hb_t){.member = "s-3", .instance = "i", .subs = "t", .owned = ""});
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(r.epoch, 2);
    CHECK_STR(r.assignment, "t:0,1");
    CHECK_EQ(g->cg->epoch, 2);
    CHECK(member_of(c, "g", "s-1") == NULL);
    CHECK_EQ(hb(c, (hb_t){.member = "s-1", .instance = "i", .epoch = 2}).error,
             KAFKA_FENCED_INSTANCE_ID);
    /* away for good (-2) and never back: the session ends it and b gets everything */
    hb(c, (hb_t){.member = "s-3", .instance = "i", .epoch = -2});
    hb(c, (hb_t){.member = "m-b", .epoch = 2}); /* keeps b's session */
    advance(40000);
    hb(c, (hb_t){.member = "m-b", .epoch = 2});
    advance(6000);
    CHECK(member_of(c, "g", "s-3") == NULL);
    r = hb(c, (hb_t){.member = "m-b", .epoch = 2});
    CHECK_STR(r.assignment, "t:0,1,2,3");
    coord_free(c);
}

TEST(session_timeout_removes_a_silent_member)
{
    broker_coord_t *c = coord_new();
    join(c, "m-a", "t");
    join(c, "m-b", "t");
    for (int i = 0; i < 9; i++) {
        advance(5000);
        hb(c, (hb_t){.member = "m-b", .epoch = 2});
    }
    CHECK(member_of(c, "g", "m-a") == NULL); /* 45 s without a heartbeat */
    CHECK_EQ(member_of(c, "g", "m-b")->epoch, 3);
    CHECK_STR(assigned_of(c, "m-b"), "t:0,1,2,3");
    coord_free(c);
}

TEST(rebalance_timeout_fences_a_member_that_does_not_revoke)
{
    broker_coord_t *c = coord_new();
    hb(c, (hb_t){.member = "m-a", .subs = "t", .owned = "", .rebalance_timeout_ms = 3000});
    join(c, "m-b", "t");
    hb(c, (hb_t){.member = "m-a", .epoch = 1}); /* told to revoke t:2,3 */
    advance(2000);
    hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,1,2,3"}); /* still owns them */
    advance(1500);
    CHECK(member_of(c, "g", "m-a") == NULL);
    hb_res_t r = hb(c, (hb_t){.member = "m-b", .epoch = 2});
    CHECK_STR(r.assignment, "t:0,1,2,3");
    CHECK_EQ(hb(c, (hb_t){.member = "m-a", .epoch = 1}).error, KAFKA_UNKNOWN_MEMBER_ID);
    coord_free(c);
}

TEST(subscription_and_topic_changes_bump_the_epoch)
{
    broker_coord_t *c = coord_new();
    topic_add("u", 2);
    hb_res_t r = join(c, "m-a", "t");
    r = hb(c, (hb_t){.member = "m-a", .epoch = 1, .subs = "t u"});
    CHECK_EQ(r.epoch, 2);
    CHECK_STR(r.assignment, "t:0,1,2,3 u:0,1");
    topic_add("u", 3); /* partitions added */
    r = hb(c, (hb_t){.member = "m-a", .epoch = 2});
    CHECK_EQ(r.epoch, 3);
    CHECK_STR(r.assignment, "t:0,1,2,3 u:0,1,2");
    /* a regex: every topic that matches the whole name, new ones too */
    r = hb(c, (hb_t){.member = "m-r", .group = "gr", .regex = "u|v.*", .owned = ""});
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_STR(r.assignment, "u:0,1,2");
    topic_add("vv", 1);
    topic_add("xv", 1);
    r = hb(c, (hb_t){.member = "m-r", .group = "gr", .epoch = r.epoch});
    CHECK_STR(r.assignment, "u:0,1,2 vv:0");
    /* \d reads as a digit, as in Java's patterns */
    topic_add("q7", 1);
    r = hb(c, (hb_t){.member = "m-d", .group = "gd", .regex = "q\\d", .owned = ""});
    CHECK_STR(r.assignment, "q7:0");
    /* an assignor asked for is used for the next target and described */
    r = hb(c, (hb_t){.member = "m-a", .epoch = 3, .assignor = "range"});
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(broker_coord_cgroup_assignor(broker_coord_group_get(c, "g")), BROKER_ASSIGNOR_RANGE);
    coord_free(c);
}

TEST(restart_resumes_groups_members_and_assignments)
{
    broker_coord_t *c = coord_new();
    join(c, "m-a", "t");
    hb(c, (hb_t){.member = "s-1", .instance = "i", .subs = "t", .owned = "", .regex = "t"});
    hb(c, (hb_t){.member = "m-a", .epoch = 1}); /* revoking t:2,3 when the broker stops */
    c = coord_restart(c);
    group_t *g = broker_coord_group_get(c, "g");
    REQUIRE(g != NULL && g->cg != NULL);
    CHECK_EQ(g->cg->epoch, 2);
    CHECK_EQ(g->cg->assignment_epoch, 2);
    CHECK_EQ(g->cg->count, 2);
    cmember_t *a = member_of(c, "g", "m-a");
    REQUIRE(a != NULL);
    CHECK_EQ(a->epoch, 1);
    CHECK_EQ(a->state, CM_UNREVOKED);
    CHECK_STR(assigned_of(c, "m-a"), "t:0,1");
    cmember_t *s = member_of(c, "g", "s-1");
    REQUIRE(s != NULL);
    CHECK_STR(s->instance_id, "i");
    CHECK_STR(s->regex, "t");
    CHECK_STR(s->client_host, "/127.0.0.1");
    CHECK(owners_disjoint(c, "g"));
    /* the members carry on where they were */
    hb_res_t r = hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,1"});
    CHECK_EQ(r.epoch, 2);
    r = hb(c, (hb_t){.member = "s-1", .instance = "i", .epoch = 2});
    CHECK_STR(r.assignment, "t:2,3");
    /* a group that emptied and was deleted does not come back */
    hb(c, (hb_t){.member = "m-a", .epoch = -1});
    hb(c, (hb_t){.member = "s-1", .instance = "i", .epoch = -1});
    broker_group_delete_item_t item = {.group_id = "g"};
    broker_group_delete_req_t del = {.count = 1, .items = &item};
    int calls = 0;
    broker_coord_delete(c, &del, &calls);
    CHECK_EQ(item.error, KAFKA_NONE);
    c = coord_restart(c);
    CHECK(broker_coord_group_get(c, "g") == NULL);
    coord_free(c);
}

TEST(failed_write_fails_the_heartbeat)
{
    broker_coord_t *c = coord_new();
    fail_writes = 1;
    hb_res_t r = join(c, "m-a", "t");
    CHECK_EQ(r.error, KAFKA_UNKNOWN_SERVER_ERROR);
    CHECK_STR(r.message, "");
    CHECK_STR(r.member, "");
    coord_free(c);
}

/* ---- what the rest of the coordinator asks -----------------------------------------------------
 */

static const broker_group_protocol_t range_proto[] = {{"range", (const uint8_t *)"R", 1}};

static int16_t commit(broker_coord_t *c, const char *member, int32_t epoch, int16_t version)
{
    broker_commit_part_t part = {
        .topic = "t", .partition = 0, .offset = 42, .leader_epoch = -1, .commit_ts_ms = -1};
    broker_commit_req_t r = {.group_id = "g",
                             .generation_id = epoch,
                             .member_id = member,
                             .retention_ms = -1,
                             .api_version = version,
                             .part_count = 1,
                             .parts = &part};
    int calls = 0;
    broker_coord_commit(c, &r, &calls);
    CHECK_EQ(calls, 1);
    return part.error;
}

static int16_t commit_part(broker_coord_t *c, const char *member, int32_t epoch, int32_t part)
{
    broker_commit_part_t p = {
        .topic = "t", .partition = part, .offset = 1, .leader_epoch = -1, .commit_ts_ms = -1};
    broker_commit_req_t r = {.group_id = "g",
                             .generation_id = epoch,
                             .member_id = member,
                             .retention_ms = -1,
                             .api_version = 9,
                             .part_count = 1,
                             .parts = &p};
    int calls = 0;
    broker_coord_commit(c, &r, &calls);
    return p.error;
}

TEST(offset_commit_and_fetch_check_the_member_epoch)
{
    broker_coord_t *c = coord_new();
    /* an empty consumer group takes anonymous commits */
    join(c, "m-a", "t");
    hb(c, (hb_t){.member = "m-a", .epoch = -1});
    CHECK_EQ(commit(c, "", -1, 9), KAFKA_NONE);
    join(c, "m-a", "t");
    int32_t e = member_of(c, "g", "m-a")->epoch;
    CHECK_EQ(commit(c, "m-a", e, 9), KAFKA_NONE);
    CHECK_EQ(commit(c, "m-a", e + 1, 9), KAFKA_STALE_MEMBER_EPOCH);
    CHECK_EQ(commit(c, "m-a", e - 1, 9), KAFKA_STALE_MEMBER_EPOCH); /* t:0 came at epoch e */
    CHECK_EQ(commit(c, "nobody", e, 9), KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_EQ(commit(c, "", -1, 9), KAFKA_UNKNOWN_MEMBER_ID); /* the group has members */
    CHECK_EQ(commit(c, "m-a", e, 8), KAFKA_UNSUPPORTED_VERSION);
    CHECK_EQ(broker_coord_offset_fetch_check(c, "g", "m-a", e), KAFKA_NONE);
    CHECK_EQ(broker_coord_offset_fetch_check(c, "g", "m-a", e + 1), KAFKA_STALE_MEMBER_EPOCH);
    CHECK_EQ(broker_coord_offset_fetch_check(c, "g", "nobody", e), KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_EQ(broker_coord_offset_fetch_check(c, "g", NULL, -1), KAFKA_NONE);
    CHECK_EQ(broker_coord_offset_fetch_check(c, "g", "", -1), KAFKA_UNKNOWN_MEMBER_ID);
    CHECK_EQ(broker_coord_offset_fetch_check(c, "nosuch", "x", 3), KAFKA_NONE);
    broker_committed_t o;
    CHECK_EQ(broker_coord_offset_fetch(c, "g", "t", 0, &o), KAFKA_NONE);
    CHECK_EQ(o.offset, 42);
    coord_free(c);
}

static void list_one(void *arg, const broker_group_listing_t *l)
{
    if (strcmp(l->group_id, "g") == 0)
        *(broker_group_listing_t *)arg = *l;
}

/* Kafka 4's assignment epochs: a commit from an older epoch lands for a partition the member
 * has held since then, not for one it gave up (a zombie's commit). */
TEST(older_epoch_commits_for_partitions_still_held)
{
    broker_coord_t *c = coord_new();
    join(c, "m-a", "t");                               /* a: epoch 1, t:0-3 at 1 */
    join(c, "m-b", "t");                               /* epoch 2 */
    hb(c, (hb_t){.member = "m-a", .epoch = 1});        /* a revokes t:2,3 */
    CHECK_EQ(commit_part(c, "m-a", 1, 3), KAFKA_NONE); /* still its epoch: commit on revoke */
    hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,1"});    /* a: epoch 2 */
    CHECK_EQ(commit_part(c, "m-a", 1, 0), KAFKA_NONE);               /* t:0 held since epoch 1 */
    CHECK_EQ(commit_part(c, "m-a", 1, 3), KAFKA_STALE_MEMBER_EPOCH); /* gave it up */
    CHECK_EQ(commit_part(c, "m-a", 3, 0), KAFKA_STALE_MEMBER_EPOCH); /* a later epoch */
    hb(c, (hb_t){.member = "m-b", .epoch = 2});                      /* b: t:2,3 at epoch 2 */
    CHECK_EQ(commit_part(c, "m-b", 1, 2), KAFKA_STALE_MEMBER_EPOCH);
    CHECK_EQ(commit_part(c, "m-b", 2, 2), KAFKA_NONE);
    /* the epochs survive a restart */
    c = coord_restart(c);
    CHECK_EQ(commit_part(c, "m-a", 1, 1), KAFKA_NONE);
    CHECK_EQ(commit_part(c, "m-b", 1, 3), KAFKA_STALE_MEMBER_EPOCH);
    coord_free(c);
}

TEST(describe_list_and_delete)
{
    broker_coord_t *c = coord_new();
    join(c, "m-a", "t");
    hb(c, (hb_t){.member = "m-b", .instance = "i", .subs = "t", .regex = "x.*", .owned = ""});
    const char *ids[] = {"g", "nosuch", "", "classic"};
    int16_t jerr = -1;
    broker_group_join_req_t j = {.group_id = "classic",
                                 .session_timeout_ms = 10000,
                                 .rebalance_timeout_ms = 10000,
                                 .member_id = "",
                                 .protocol_type = "consumer",
                                 .protocol_count = 1,
                                 .protocols = range_proto,
                                 .client_id = "c",
                                 .client_host = "/h"};
    broker_coord_join(c, &j, &jerr);
    broker_consumer_describe_req_t d = {.count = 4, .group_ids = ids};
    broker_coord_consumer_describe(c, &d);
    CHECK_EQ(d.groups[0].error, KAFKA_NONE);
    CHECK_STR(d.groups[0].state, "Reconciling");
    CHECK_EQ(d.groups[0].group_epoch, 2);
    CHECK_EQ(d.groups[0].assignment_epoch, 2);
    CHECK_STR(d.groups[0].assignor, "uniform");
    REQUIRE(d.groups[0].nmembers == 2);
    const broker_cg_member_desc_t *a = &d.groups[0].members[0], *b = &d.groups[0].members[1];
    CHECK_STR(a->member_id, "m-a");
    CHECK_EQ(a->member_epoch, 1);
    CHECK_STR(a->client_id, "cli");
    CHECK_STR(a->client_host, "/127.0.0.1");
    CHECK_STR(a->regex, "");
    char s[128];
    parts_str(a->assigned, a->nassigned, s, sizeof(s));
    CHECK_STR(s, "t:0,1,2,3");
    parts_str(a->target, a->ntarget, s, sizeof(s));
    CHECK_STR(s, "t:0,1");
    CHECK_STR(a->assigned[0].topic, "t");
    CHECK_STR(b->instance_id, "i");
    CHECK_STR(b->regex, "x.*");
    CHECK_EQ(b->nsubscribed, 1);
    CHECK_STR(b->subscribed[0], "t");
    CHECK_EQ(d.groups[1].error, KAFKA_GROUP_ID_NOT_FOUND);
    CHECK_STR(d.groups[1].error_message, "Group nosuch not found.");
    CHECK_STR(d.groups[1].state, "");
    CHECK_EQ(d.groups[2].error, KAFKA_INVALID_GROUP_ID);
    CHECK(d.groups[2].error_message == NULL);
    CHECK_EQ(d.groups[3].error, KAFKA_GROUP_ID_NOT_FOUND);
    CHECK_STR(d.groups[3].error_message, "Group classic is not a consumer group.");
    broker_coord_consumer_describe_free(&d);
    /* ListGroups: type and state; DescribeGroups (classic): Dead, as Kafka answers it */
    broker_group_listing_t l = {0};
    broker_coord_list(c, list_one, &l);
    CHECK_STR(l.type, "consumer");
    CHECK_STR(l.protocol_type, "consumer");
    CHECK_STR(l.state, "Reconciling");
    broker_group_summary_t sum;
    broker_coord_describe(c, "g", &sum);
    CHECK_EQ(sum.error, KAFKA_NONE);
    CHECK_EQ(sum.state, BROKER_GROUP_DEAD);
    broker_group_summary_deinit(&sum);
    /* DeleteGroups: NON_EMPTY_GROUP while it has members */
    broker_group_delete_item_t item = {.group_id = "g"};
    broker_group_delete_req_t del = {.count = 1, .items = &item};
    int calls = 0;
    broker_coord_delete(c, &del, &calls);
    CHECK_EQ(item.error, KAFKA_NON_EMPTY_GROUP);
    coord_free(c);
}

/* ConsumerProtocolSubscription v0 for topic "t", and an assignment of t's partitions. */
static const uint8_t SUB_T[] = {0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff};
static const broker_group_protocol_t classic_proto[] = {{"range", SUB_T, sizeof(SUB_T)}};

static size_t asg_bytes(uint8_t *out, const int32_t *parts, int n)
{
    size_t k = 0;
    out[k++] = 0, out[k++] = 0; /* version 0 */
    be32_write(out + k, n ? 1 : 0), k += 4;
    if (n) {
        out[k++] = 0, out[k++] = 1, out[k++] = 't';
        be32_write(out + k, (uint32_t)n), k += 4;
        for (int i = 0; i < n; i++)
            be32_write(out + k, (uint32_t)parts[i]), k += 4;
    }
    be32_write(out + k, 0xffffffffu), k += 4; /* null user data */
    return k;
}

typedef struct {
    int16_t error;
    int32_t generation;
    char member[64];
    char protocol[32];
    char leader[64];
} cjoin_t;

static void cjoin_done(void *ctx, void *waiter, const broker_group_join_result_t *r)
{
    cjoin_t *j = waiter;
    j->error = r->error;
    j->generation = r->generation_id;
    snprintf(j->member, sizeof(j->member), "%s", r->member_id ? r->member_id : "");
    snprintf(j->protocol, sizeof(j->protocol), "%s", r->protocol_name ? r->protocol_name : "");
    snprintf(j->leader, sizeof(j->leader), "%s", r->leader_id ? r->leader_id : "");
}

typedef struct {
    int16_t error;
    uint8_t asg[128];
    size_t len;
} csync_t;

static void csync_done(void *ctx, void *waiter, const broker_group_sync_result_t *r)
{
    csync_t *x = waiter;
    x->error = r->error;
    x->len = r->assignment_len < sizeof(x->asg) ? r->assignment_len : sizeof(x->asg);
    if (r->assignment && x->len)
        memcpy(x->asg, r->assignment, x->len);
}

/* A classic JoinGroup; out must outlive a join that parks (classic groups park it). */
static void cjoin_into(broker_coord_t *c, const char *member, bool require_known, cjoin_t *out)
{
    broker_group_join_req_t j = {.group_id = "g",
                                 .session_timeout_ms = 10000,
                                 .rebalance_timeout_ms = 20000,
                                 .member_id = member,
                                 .protocol_type = "consumer",
                                 .protocol_count = 1,
                                 .protocols = classic_proto,
                                 .client_id = "cc",
                                 .client_host = "/h",
                                 .require_known_member_id = require_known};
    *out = (cjoin_t){.error = -1};
    broker_coord_join(c, &j, out);
}

/* A classic JoinGroup to a consumer group: answered before the call returns. */
static cjoin_t cjoin(broker_coord_t *c, const char *member, bool require_known)
{
    cjoin_t r;
    cjoin_into(c, member, require_known, &r);
    return r;
}

static csync_t csync(broker_coord_t *c, const char *member, int32_t generation,
                     const broker_group_assignment_t *a, size_t n)
{
    broker_group_sync_req_t r = {.group_id = "g",
                                 .generation_id = generation,
                                 .member_id = member,
                                 .assignment_count = n,
                                 .assignments = a};
    csync_t x = {.error = -1};
    broker_coord_sync(c, &r, &x);
    return x;
}

/* With the env's classic callbacks swapped for recording ones. */
static broker_coord_t *coord_new_classic(void)
{
    static broker_coord_env_t env;
    env = fake_env;
    env.join_done = cjoin_done;
    env.sync_done = csync_done;
    reset_records();
    ntimers = 0;
    ntopics = 0;
    fail_writes = 0;
    now_ms = 1000;
    clock_wall_set_override(1700000000000LL);
    topic_add("t", 4);
    broker_coord_config_t cfg;
    broker_coord_config_default(&cfg);
    cfg.initial_rebalance_delay_ms = 100;
    broker_coord_t *c;
    broker_coord_new(&cfg, &env, &c);
    return c;
}

/* A classic member in a consumer group (Kafka 4's mixed groups): every member a follower,
 * the generation its epoch, its partitions in SyncGroup, REBALANCE_IN_PROGRESS to rejoin. */
TEST(classic_member_in_a_consumer_group)
{
    broker_coord_t *c = coord_new_classic();
    join(c, "m-a", "t"); /* a consumer-protocol member: epoch 1, t:0-3 */
    cjoin_t j = cjoin(c, "", true);
    CHECK_EQ(j.error, KAFKA_MEMBER_ID_REQUIRED);
    CHECK_EQ(strlen(j.member), 22);
    char id[64];
    snprintf(id, sizeof(id), "%s", j.member);
    j = cjoin(c, id, true);
    CHECK_EQ(j.error, KAFKA_NONE);
    CHECK_EQ(j.generation, 2); /* it joined: epoch 2; its share t:2,3 is still a's */
    CHECK_STR(j.protocol, "range");
    CHECK_STR(j.leader, "");
    csync_t x = csync(c, id, 2, NULL, 0);
    CHECK_EQ(x.error, KAFKA_NONE);
    uint8_t want[64];
    CHECK_EQ(x.len, asg_bytes(want, NULL, 0));
    CHECK_MEM(x.asg, want, x.len);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, id, NULL), KAFKA_NONE);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 1, id, NULL), KAFKA_ILLEGAL_GENERATION);
    /* a releases t:2,3; the classic member is told to rejoin and gets them */
    hb(c, (hb_t){.member = "m-a", .epoch = 1});
    hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,1"});
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, id, NULL), KAFKA_REBALANCE_IN_PROGRESS);
    j = cjoin(c, id, true);
    CHECK_EQ(j.generation, 2);
    x = csync(c, id, 2, NULL, 0);
    int32_t p23[] = {2, 3};
    CHECK_EQ(x.len, asg_bytes(want, p23, 2));
    CHECK_MEM(x.asg, want, x.len);
    CHECK(owners_disjoint(c, "g"));
    /* its commits carry its generation; a v8 commit is fine for a classic member */
    broker_commit_part_t part = {
        .topic = "t", .partition = 2, .offset = 9, .leader_epoch = -1, .commit_ts_ms = -1};
    broker_commit_req_t cr = {.group_id = "g",
                              .generation_id = 2,
                              .member_id = id,
                              .retention_ms = -1,
                              .api_version = 8,
                              .part_count = 1,
                              .parts = &part};
    int calls = 0;
    broker_coord_commit(c, &cr, &calls);
    CHECK_EQ(part.error, KAFKA_NONE);
    cr.generation_id = 3;
    broker_coord_commit(c, &cr, &calls);
    CHECK_EQ(part.error, KAFKA_ILLEGAL_GENERATION);
    /* it survives a restart as a classic member */
    c = coord_restart(c);
    cmember_t *m = member_of(c, "g", id);
    REQUIRE(m != NULL);
    CHECK(m->classic);
    CHECK_EQ(m->session_timeout_ms, 10000);
    CHECK_EQ(m->nprotos, 1);
    CHECK_STR(assigned_of(c, id), "t:2,3");
    coord_free(c);
}

TEST(classic_member_leaves_and_times_out)
{
    broker_coord_t *c = coord_new_classic();
    join(c, "m-a", "t");
    cjoin_t j = cjoin(c, "c-1", false); /* v3-: no MEMBER_ID_REQUIRED, a given id is taken */
    CHECK_EQ(j.error, KAFKA_NONE);
    broker_group_leave_member_t lm[] = {{.member_id = "c-1"}, {.member_id = "nobody"}};
    CHECK_EQ(broker_coord_leave(c, "g", lm, 2), KAFKA_NONE);
    CHECK_EQ(lm[0].error, KAFKA_NONE);
    CHECK_EQ(lm[1].error, KAFKA_UNKNOWN_MEMBER_ID);
    CHECK(member_of(c, "g", "c-1") == NULL);
    broker_group_leave_member_t la = {.member_id = "m-x"}; /* LeaveGroup removes either kind */
    hb(c, (hb_t){.member = "m-x", .subs = "t", .owned = ""});
    broker_coord_leave(c, "g", &la, 1);
    CHECK_EQ(la.error, KAFKA_NONE);
    CHECK(member_of(c, "g", "m-x") == NULL);
    /* a classic member that never syncs is removed after its rebalance timeout */
    j = cjoin(c, "c-2", false);
    CHECK_EQ(j.error, KAFKA_NONE);
    hb(c, (hb_t){.member = "m-a", .epoch = member_of(c, "g", "m-a")->epoch});
    advance(20001);
    CHECK(member_of(c, "g", "c-2") == NULL);
    coord_free(c);
}

/* Kafka 4's online upgrade: a consumer-protocol member joins a classic group with members; the
 * classic members keep their partitions at the group's generation, then rejoin. */
TEST(online_upgrade_of_a_classic_group)
{
    broker_coord_t *c = coord_new_classic();
    static cjoin_t j1, j2; /* parked until the rebalance completes */
    cjoin_into(c, "", false, &j1);
    cjoin_into(c, "", false, &j2);
    CHECK_EQ(j1.error, -1);
    advance(1000); /* group.initial.rebalance.delay.ms, extended once */
    CHECK_EQ(j1.error, KAFKA_NONE);
    CHECK_EQ(j2.error, KAFKA_NONE);
    char c1[64], c2[64];
    snprintf(c1, sizeof(c1), "%s", j1.member);
    snprintf(c2, sizeof(c2), "%s", j2.member);
    uint8_t a1[64], a2[64];
    int32_t p01[] = {0, 1}, p23[] = {2, 3};
    broker_group_assignment_t asg[] = {{c1, a1, asg_bytes(a1, p01, 2)},
                                       {c2, a2, asg_bytes(a2, p23, 2)}};
    group_t *g = broker_coord_group_get(c, "g");
    REQUIRE(g != NULL && g->generation == 1);
    csync_t s1 = csync(c, g->leader_id, 1, asg, 2);
    CHECK_EQ(s1.error, KAFKA_NONE);
    CHECK_EQ(g->state, BROKER_GROUP_STABLE);
    /* the upgrade */
    hb_res_t r = join(c, "m-x", "t");
    CHECK_EQ(r.error, KAFKA_NONE);
    REQUIRE(g->cg != NULL);
    CHECK_EQ(g->cg->count, 3);
    CHECK_STR(assigned_of(c, c1), "t:0,1");
    CHECK_STR(assigned_of(c, c2), "t:2,3");
    CHECK(member_of(c, "g", c1)->classic);
    CHECK_EQ(member_of(c, "g", c1)->epoch, 1);
    CHECK_EQ(r.epoch, 2);
    CHECK(owners_disjoint(c, "g"));
    /* the classic members are told to rejoin; c-1 gives up what the new member gets */
    CHECK_EQ(broker_coord_heartbeat(c, "g", 1, c1, NULL), KAFKA_REBALANCE_IN_PROGRESS);
    cjoin_t j = cjoin(c, c1, true);
    CHECK_EQ(j.error, KAFKA_NONE);
    CHECK_EQ(j.generation, 2);
    broker_group_listing_t l = {0};
    broker_coord_list(c, list_one, &l);
    CHECK_STR(l.type, "consumer");
    CHECK(owners_disjoint(c, "g"));
    /* a restart keeps the mixed group */
    c = coord_restart(c);
    g = broker_coord_group_get(c, "g");
    REQUIRE(g != NULL && g->cg != NULL);
    CHECK_EQ(g->cg->count, 3);
    CHECK(member_of(c, "g", c2)->classic);
    CHECK(!member_of(c, "g", "m-x")->classic);
    coord_free(c);
}

/* Kafka's online downgrade: when the last consumer-protocol member leaves and only classic
 * members are left, the group is a classic group again at the group epoch; its members keep
 * their partitions and rejoin. */
TEST(online_downgrade_when_the_last_consumer_member_leaves)
{
    broker_coord_t *c = coord_new_classic();
    join(c, "m-a", "t");
    cjoin_t j = cjoin(c, "c-1", false);
    CHECK_EQ(j.error, KAFKA_NONE);
    hb(c, (hb_t){.member = "m-a", .epoch = 1});
    hb(c, (hb_t){.member = "m-a", .epoch = 1, .owned = "t:0,1"});
    j = cjoin(c, "c-1", false);
    CHECK_EQ(csync(c, "c-1", 2, NULL, 0).error, KAFKA_NONE);
    CHECK_STR(assigned_of(c, "c-1"), "t:2,3");
    int before = nrecs;
    hb(c, (hb_t){.member = "m-a", .epoch = -1});
    group_t *g = broker_coord_group_get(c, "g");
    REQUIRE(g != NULL);
    CHECK(g->cg == NULL);
    CHECK_EQ(g->member_count, 1);
    CHECK_EQ(g->generation, 2);
    CHECK_EQ(g->state, BROKER_GROUP_PREPARING_REBALANCE);
    CHECK(nrecs > before);
    broker_group_listing_t l = {0};
    broker_coord_list(c, list_one, &l);
    CHECK_STR(l.type, "classic");
    /* the member rejoins the classic group and leads it */
    CHECK_EQ(broker_coord_heartbeat(c, "g", 2, "c-1", NULL), KAFKA_REBALANCE_IN_PROGRESS);
    j = cjoin(c, "c-1", false);
    CHECK_EQ(j.error, KAFKA_NONE);
    CHECK_EQ(j.generation, 3);
    CHECK_STR(j.leader, "c-1");
    /* a restart finds a classic group */
    c = coord_restart(c);
    g = broker_coord_group_get(c, "g");
    REQUIRE(g != NULL);
    CHECK(g->cg == NULL);
    CHECK_EQ(g->member_count, 1);
    coord_free(c);
}

TEST(group_max_size)
{
    broker_coord_t *c = coord_new();
    broker_coord_config_t cfg;
    broker_coord_config_default(&cfg);
    cfg.consumer_max_size = 1;
    broker_coord_set_config(c, &cfg);
    join(c, "m-a", "t");
    hb_res_t r = join(c, "m-b", "t");
    CHECK_EQ(r.error, KAFKA_GROUP_MAX_SIZE_REACHED);
    CHECK_STR(r.message, "The consumer group has reached its maximum capacity of 1 members.");
    CHECK_EQ(hb(c, (hb_t){.member = "m-a", .epoch = 1}).error, KAFKA_NONE);
    coord_free(c);
}

TEST_MAIN()
