/* Unit tests of __consumer_offsets (src/broker/coord_records.c, coord_log.c): the record layouts
 * byte for byte, every value version Kafka wrote, malformed records (rejected, nothing
 * changed, no crash), the partition choice, and the log binding on the simulated disk:
 * a commit is acknowledged only once durable, a restart replays every commit, deletes and
 * compaction leave the same answer. */
#include "broker/coord.h"
#include "kafka/kafka.h"
#include "storage/storage.h"
#include "test.h"

#include <pthread.h>

/* ---- a minimal coordinator environment ---------------------------------------------------------
 */

static void t_init(void *ctx, net_timer_t *t, net_fn fn, void *arg)
{
    memset(t, 0, sizeof(*t));
    t->fn = fn;
    t->arg = arg;
}
static void t_start(void *ctx, net_timer_t *t, int64_t d) {}
static void t_stop(void *ctx, net_timer_t *t) {}
static int64_t t_now(void *ctx)
{
    return 0;
}
static bool t_exists(void *ctx, const char *topic, int32_t p)
{
    return true;
}
static void t_join(void *ctx, void *w, const broker_group_join_result_t *r) {}
static void t_sync(void *ctx, void *w, const broker_group_sync_result_t *r) {}
static void t_done(void *ctx, void *w)
{
    (*(int *)w)++;
}
static void t_write_none(void *ctx, const char *g, const broker_coord_record_t *r, size_t n,
                         broker_coord_write_done_fn done, void *arg)
{
    done(arg, 0);
}

static broker_coord_env_t env_base(void)
{
    return (broker_coord_env_t){.now_ms = t_now,
                                .timer_init = t_init,
                                .timer_start = t_start,
                                .timer_stop = t_stop,
                                .write = t_write_none,
                                .partition_exists = t_exists,
                                .join_done = t_join,
                                .sync_done = t_sync,
                                .done = t_done};
}

static broker_coord_t *coord(const broker_coord_env_t *env)
{
    broker_coord_config_t cfg;
    broker_coord_config_default(&cfg);
    cfg.initial_rebalance_delay_ms = 0;
    broker_coord_t *c;
    broker_coord_new(&cfg, env, &c);
    return c;
}

static int64_t fetched(broker_coord_t *c, const char *g, const char *t, int32_t p)
{
    broker_committed_t o;
    broker_coord_offset_fetch(c, g, t, p, &o);
    return o.offset;
}

/* ---- layouts --------------------------------------------------------------------------------- */

TEST(key_layouts)
{
    buf_t b = {0};
    broker_coord_key_offset_encode(&b, "g", "t", 3);
    static const uint8_t k1[] = {0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 3};
    CHECK_EQ(b.len, sizeof(k1));
    CHECK_MEM(b.data, k1, sizeof(k1));
    buf_reset(&b);
    broker_coord_key_group_encode(&b, "grp");
    static const uint8_t k2[] = {0, 2, 0, 3, 'g', 'r', 'p'};
    CHECK_EQ(b.len, sizeof(k2));
    CHECK_MEM(b.data, k2, sizeof(k2));
    buf_deinit(&b);
}

TEST(offset_value_layouts)
{
    buf_t b = {0};
    broker_committed_t o = {.offset = 0x0102030405060708LL,
                            .leader_epoch = 7,
                            .metadata = "m",
                            .metadata_len = 1,
                            .commit_ts_ms = 0x1122,
                            .expire_ts_ms = -1};
    broker_coord_value_offset_encode(&b, &o);
    static const uint8_t v3[] = {0, 3, 1, 2,   3, 4, 5, 6, 7, 8, 0,    0,   0,
                                 7, 0, 1, 'm', 0, 0, 0, 0, 0, 0, 0x11, 0x22};
    CHECK_EQ(b.len, sizeof(v3));
    CHECK_MEM(b.data, v3, sizeof(v3));
    buf_reset(&b);
    o.expire_ts_ms = 0x33;
    broker_coord_value_offset_encode(&b, &o); /* an explicit expiry is stored as v1 */
    static const uint8_t v1[] = {0, 1, 1, 2, 3,    4,    5, 6, 7, 8, 0, 1, 'm', 0,   0,
                                 0, 0, 0, 0, 0x11, 0x22, 0, 0, 0, 0, 0, 0, 0,   0x33};
    CHECK_EQ(b.len, sizeof(v1));
    CHECK_MEM(b.data, v1, sizeof(v1));
    buf_deinit(&b);
}

TEST(group_value_layout)
{
    broker_group_meta_member_t m = {.member_id = "m1",
                                    .instance_id = NULL,
                                    .client_id = "c",
                                    .client_host = "h",
                                    .rebalance_timeout_ms = 5,
                                    .session_timeout_ms = 6,
                                    .subscription = (const uint8_t *)"S",
                                    .subscription_len = 1,
                                    .assignment = (const uint8_t *)"",
                                    .assignment_len = 0};
    broker_group_meta_t g = {.protocol_type = "consumer",
                             .generation = 2,
                             .protocol_name = "range",
                             .leader_id = "m1",
                             .state_ts_ms = 9,
                             .member_count = 1,
                             .members = &m};
    buf_t b = {0};
    broker_coord_value_group_encode(&b, &g);
    static const uint8_t want[] = {
        0,   3,                                                     /* version */
        0,   8, 'c', 'o', 'n',  's',  'u', 'm', 'e', 'r',           /* protocol type */
        0,   0, 0,   2,                                             /* generation */
        0,   5, 'r', 'a', 'n',  'g',  'e', 0,   2,   'm', '1',      /* protocol, leader */
        0,   0, 0,   0,   0,    0,    0,   9,                       /* state timestamp */
        0,   0, 0,   1,                                             /* members */
        0,   2, 'm', '1', 0xff, 0xff, 0,   1,   'c', 0,   1,   'h', /* id, instance, client, host */
        0,   0, 0,   5,   0,    0,    0,   6,   0,   0,   0,   1,
        'S', 0, 0,   0,   0}; /* timeouts, bytes */
    CHECK_EQ(b.len, sizeof(want));
    CHECK_MEM(b.data, want, sizeof(want));
    buf_deinit(&b);
}

TEST(partition_for_matches_kafka)
{
    /* Java: "hello".hashCode() = 99162322; "polygenelubricants".hashCode() = Integer.MIN_VALUE,
     * which Kafka's Utils.abs maps to 0. */
    CHECK_EQ(broker_coord_partition_for("hello", 50), 99162322 % 50);
    CHECK_EQ(broker_coord_partition_for("polygenelubricants", 50), 0);
    CHECK_EQ(broker_coord_partition_for("anything", 1), 0);
    for (int i = 0; i < 1000; i++) {
        char g[16];
        snprintf(g, sizeof(g), "g%d", i * 7919);
        int32_t p = broker_coord_partition_for(g, 7);
        CHECK(p >= 0 && p < 7);
    }
}

/* ---- replay ---------------------------------------------------------------------------------- */

static int replay(broker_coord_t *c, const buf_t *k, const buf_t *v)
{
    return broker_coord_replay_record(c, k->data, k->len, v ? v->data : NULL,
                                      v ? (int32_t)v->len : -1);
}

TEST(replay_every_offset_value_version)
{
    broker_coord_env_t env = env_base();
    broker_coord_t *c = coord(&env);
    buf_t k = {0}, v = {0};
    /* Kafka's v0 key with a v0 value: offset, metadata, timestamp */
    buf_append_be16(&k, 0);
    buf_append_be16(&k, 1);
    buf_append(&k, "g", 1);
    buf_append_be16(&k, 1);
    buf_append(&k, "t", 1);
    buf_append_be32(&k, 0);
    buf_append_be16(&v, 0);
    buf_append_be64(&v, 10);
    buf_append_be16(&v, 2);
    buf_append(&v, "md", 2);
    buf_append_be64(&v, 1234);
    CHECK_EQ(replay(c, &k, &v), 0);
    broker_committed_t o;
    broker_coord_offset_fetch(c, "g", "t", 0, &o);
    CHECK_EQ(o.offset, 10);
    CHECK_STR(o.metadata, "md");
    CHECK_EQ(o.commit_ts_ms, 1234);
    /* v2: offset, metadata, commit timestamp */
    buf_reset(&v);
    buf_append_be16(&v, 2);
    buf_append_be64(&v, 11);
    buf_append_be16(&v, 0);
    buf_append_be64(&v, 5);
    CHECK_EQ(replay(c, &k, &v), 0);
    CHECK_EQ(fetched(c, "g", "t", 0), 11);
    /* an unknown value version is refused and changes nothing */
    buf_reset(&v);
    buf_append_be16(&v, 9);
    buf_append_be64(&v, 99);
    CHECK(replay(c, &k, &v) < 0);
    CHECK_EQ(fetched(c, "g", "t", 0), 11);
    /* a tombstone deletes */
    CHECK_EQ(replay(c, &k, NULL), 0);
    CHECK_EQ(fetched(c, "g", "t", 0), -1);
    /* key versions Weir does not know (e.g. share-group records) are skipped */
    buf_reset(&k);
    buf_append_be16(&k, 10);
    CHECK_EQ(replay(c, &k, &v), 0);
    buf_deinit(&k);
    buf_deinit(&v);
    broker_coord_free(c);
}

TEST(replay_group_value_v0)
{
    broker_coord_env_t env = env_base();
    broker_coord_t *c = coord(&env);
    buf_t k = {0}, v = {0};
    broker_coord_key_group_encode(&k, "g");
    buf_append_be16(&v, 0);
    buf_append_be16(&v, 8);
    buf_append(&v, "consumer", 8);
    buf_append_be32(&v, 4);
    buf_append_be16(&v, 5);
    buf_append(&v, "range", 5);
    buf_append_be16(&v, 2);
    buf_append(&v, "m1", 2);
    buf_append_be32(&v, 1);
    buf_append_be16(&v, 2);
    buf_append(&v, "m1", 2);
    buf_append_be16(&v, 1);
    buf_append(&v, "c", 1);
    buf_append_be16(&v, 1);
    buf_append(&v, "h", 1);
    buf_append_be32(&v, 30000); /* session timeout (v0 has no rebalance timeout) */
    buf_append_be32(&v, 1);
    buf_append(&v, "S", 1);
    buf_append_be32(&v, 2);
    buf_append(&v, "AS", 2);
    CHECK_EQ(replay(c, &k, &v), 0);
    broker_coord_load_finish(c);
    broker_group_summary_t s;
    broker_coord_describe(c, "g", &s);
    CHECK_EQ(s.state, BROKER_GROUP_STABLE);
    CHECK_EQ(s.generation, 4);
    CHECK_EQ(s.member_count, 1);
    if (s.member_count == 1) {
        CHECK_STR(s.members[0].member_id, "m1");
        CHECK_EQ(s.members[0].assignment_len, 2);
        CHECK_MEM(s.members[0].assignment, "AS", 2);
    }
    broker_group_summary_deinit(&s);
    CHECK_EQ(broker_coord_heartbeat(c, "g", 4, "m1", NULL), KAFKA_NONE);
    buf_deinit(&k);
    buf_deinit(&v);
    broker_coord_free(c);
}

/* Every prefix of valid records, and random byte flips, must be refused or applied whole, and
 * never crash or read out of bounds (ASan). */
TEST(malformed_records)
{
    broker_coord_env_t env = env_base();
    broker_coord_t *c = coord(&env);
    buf_t k = {0}, v = {0};
    broker_coord_key_offset_encode(&k, "g", "t", 1);
    broker_committed_t o = {
        .offset = 5, .leader_epoch = -1, .metadata = "meta", .metadata_len = 4, .expire_ts_ms = -1};
    broker_coord_value_offset_encode(&v, &o);
    for (size_t n = 0; n < k.len; n++)
        CHECK(broker_coord_replay_record(c, k.data, n, v.data, (int32_t)v.len) < 0);
    for (size_t n = 0; n < v.len; n++)
        CHECK(broker_coord_replay_record(c, k.data, k.len, v.data, (int32_t)n) < 0);
    CHECK_EQ(fetched(c, "g", "t", 1), -1);
    /* a NUL inside a name */
    buf_t bad = {0};
    buf_append_be16(&bad, 1);
    buf_append_be16(&bad, 3);
    buf_append(&bad, "a\0b", 3);
    buf_append_be16(&bad, 1);
    buf_append(&bad, "t", 1);
    buf_append_be32(&bad, 0);
    CHECK(broker_coord_replay_record(c, bad.data, bad.len, v.data, (int32_t)v.len) < 0);
    /* a group value claiming 2^31-1 members in a few bytes */
    buf_t gk = {0}, gv = {0};
    broker_coord_key_group_encode(&gk, "g2");
    buf_append_be16(&gv, 3);
    buf_append_be16(&gv, 0);
    buf_append_be32(&gv, 1);
    buf_append_be16(&gv, 0xffff);
    buf_append_be16(&gv, 0xffff);
    buf_append_be64(&gv, 0);
    buf_append_be32(&gv, 0x7fffffff);
    CHECK(broker_coord_replay_record(c, gk.data, gk.len, gv.data, (int32_t)gv.len) < 0);
    /* random flips over a valid group value */
    broker_group_meta_member_t m = {.member_id = "m",
                                    .client_id = "c",
                                    .client_host = "h",
                                    .subscription = (const uint8_t *)"sub",
                                    .subscription_len = 3,
                                    .assignment = (const uint8_t *)"asg",
                                    .assignment_len = 3};
    broker_group_meta_t g = {.protocol_type = "consumer",
                             .generation = 1,
                             .protocol_name = "range",
                             .leader_id = "m",
                             .member_count = 1,
                             .members = &m};
    buf_reset(&gv);
    broker_coord_value_group_encode(&gv, &g);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 5000; i++) {
        buf_t copy = {0};
        buf_append(&copy, gv.data, gv.len);
        for (int j = 0; j < 3; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            copy.data[x % copy.len] = (uint8_t)(x >> 32);
        }
        broker_coord_replay_record(c, gk.data, gk.len, copy.data, (int32_t)copy.len);
        buf_deinit(&copy);
    }
    broker_coord_load_finish(c);
    buf_deinit(&k);
    buf_deinit(&v);
    buf_deinit(&bad);
    buf_deinit(&gk);
    buf_deinit(&gv);
    broker_coord_free(c);
}

/* ---- the log binding on the simulated disk
 * ------------------------------------------------------- */

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    net_fn fn;
    void *arg;
} q[1024];
static int qn;

static void q_post(void *ctx, net_fn fn, void *arg)
{
    pthread_mutex_lock(&q_mu);
    WEIR_ASSERT(qn < 1024);
    q[qn].fn = fn;
    q[qn].arg = arg;
    qn++;
    pthread_mutex_unlock(&q_mu);
}

static int pump(void)
{
    pthread_mutex_lock(&q_mu);
    int n = qn;
    qn = 0;
    pthread_mutex_unlock(&q_mu);
    for (int i = 0; i < n; i++)
        q[i].fn(q[i].arg);
    return n;
}

static int appended_calls;
static void on_appended(void *ctx, int32_t part)
{
    appended_calls++;
}

typedef struct {
    storage_io_sim_t *sim;
    storage_log_t *logs[3];
    broker_coord_log_t *ol;
    broker_coord_t *c;
} world_t;

/* env.write_txn on the log binding: a transactional batch of the producer. */
static void t_write_txn(void *ctx, const char *g, const broker_coord_record_t *recs, size_t n,
                        int64_t pid, int16_t epoch, broker_coord_write_done_fn done, void *arg)
{
    storage_batch_opts_t opts = {.producer_id = pid,
                                 .producer_epoch = epoch,
                                 .base_sequence = -1,
                                 .attributes = BATCH_TRANSACTIONAL};
    broker_coord_log_write_batch(ctx, g, recs, n, &opts, done, arg);
}

static void world_open(world_t *w, bool compact)
{
    storage_log_config_t lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 2048;
    lc.cleanup_compact = compact;
    lc.cleanup_delete = !compact;
    lc.delete_retention_ms = 0;
    lc.retention_ms = -1;
    for (int i = 0; i < 3; i++) {
        char dir[32];
        snprintf(dir, sizeof(dir), "/__consumer_offsets-%d", i);
        WEIR_ASSERT(storage_log_open(storage_io_sim_io(w->sim), dir, &lc, &w->logs[i]) == 0);
    }
    broker_coord_log_config_t oc = {
        .logs = w->logs, .count = 3, .post = q_post, .appended = on_appended};
    WEIR_ASSERT(broker_coord_log_new(&oc, &w->ol) == 0);
    broker_coord_env_t env = env_base();
    env.ctx = w->ol;
    env.write = broker_coord_log_write;
    env.write_txn = t_write_txn;
    w->c = coord(&env);
    WEIR_ASSERT(broker_coord_log_load(w->ol, w->c) == 0);
    broker_coord_load_finish(w->c);
}

static void flush_all(world_t *w)
{
    for (int i = 0; i < 3; i++)
        storage_log_flush(w->logs[i]);
    pump();
}

static void world_close(world_t *w, bool crash)
{
    flush_all(w);
    broker_coord_free(w->c);
    broker_coord_log_free(w->ol);
    for (int i = 0; i < 3; i++) {
        if (crash)
            storage_log_abandon(w->logs[i]);
        else
            storage_log_close(w->logs[i]);
    }
}

/* A standalone commit of one partition, flushed and acknowledged. */
static void commit(world_t *w, const char *g, int32_t p, int64_t off, int *done)
{
    broker_commit_part_t part = {.topic = "orders",
                                 .partition = p,
                                 .offset = off,
                                 .leader_epoch = -1,
                                 .metadata = "x",
                                 .metadata_len = 1,
                                 .commit_ts_ms = -1};
    broker_commit_req_t r = {.group_id = g,
                             .generation_id = -1,
                             .member_id = "",
                             .retention_ms = -1,
                             .part_count = 1,
                             .parts = &part};
    broker_coord_commit(w->c, &r, done);
    flush_all(w);
    WEIR_ASSERT(*done == 1);
    WEIR_ASSERT(part.error == KAFKA_NONE);
}

/* A transactional commit (TxnOffsetCommit) of one partition by producer pid, flushed. */
static void txn_commit(world_t *w, const char *g, int32_t p, int64_t off, int64_t pid)
{
    broker_commit_part_t part = {
        .topic = "orders", .partition = p, .offset = off, .leader_epoch = -1, .commit_ts_ms = -1};
    broker_commit_req_t r = {.group_id = g,
                             .generation_id = -1,
                             .member_id = "",
                             .retention_ms = -1,
                             .transactional = true,
                             .transactional_id = "tid",
                             .producer_id = pid,
                             .producer_epoch = 0,
                             .part_count = 1,
                             .parts = &part};
    int done = 0;
    broker_coord_commit(w->c, &r, &done);
    flush_all(w);
    WEIR_ASSERT(done == 1 && part.error == KAFKA_NONE);
}

/* The transaction coordinator's marker for pid in g's partition, then the group told. */
static void txn_end(world_t *w, const char *g, int64_t pid, bool commit)
{
    uint8_t key[4] = {0, 0, 0, commit ? 1 : 0}, value[6] = {0};
    storage_record_in_t rec = {.key = key, .key_len = 4, .value = value, .value_len = 6};
    storage_batch_opts_t opts = {.producer_id = pid,
                                 .producer_epoch = 0,
                                 .base_sequence = -1,
                                 .attributes = BATCH_TRANSACTIONAL | BATCH_CONTROL};
    buf_t b = {0};
    storage_batch_build(&b, &rec, 1, &opts);
    int64_t base;
    WEIR_ASSERT(
        storage_log_append(w->logs[broker_coord_partition_for(g, 3)], b.data, b.len, &base) == 0);
    buf_deinit(&b);
    flush_all(w);
    broker_coord_txn_complete(w->c, pid, commit);
}

TEST(transactional_offsets_wait_for_the_marker)
{
    world_t w = {.sim = storage_io_sim_new(8)};
    world_open(&w, false);
    int done = 0;
    txn_commit(&w, "g1", 0, 10, 7);
    CHECK_EQ(fetched(w.c, "g1", "orders", 0), -1); /* pending: not the group's yet */
    CHECK(broker_coord_offset_unstable(w.c, "g1", "orders", 0));
    CHECK(!broker_coord_offset_unstable(w.c, "g1", "orders", 1));
    commit(&w, "g1", 1, 5, &done);
    txn_end(&w, "g1", 7, true);
    CHECK_EQ(fetched(w.c, "g1", "orders", 0), 10);
    CHECK(!broker_coord_offset_unstable(w.c, "g1", "orders", 0));
    /* a plain commit stored after the transactional one wins when the transaction commits */
    txn_commit(&w, "g1", 0, 20, 8);
    done = 0;
    commit(&w, "g1", 0, 30, &done);
    txn_end(&w, "g1", 8, true);
    CHECK_EQ(fetched(w.c, "g1", "orders", 0), 30);
    /* an abort drops the offsets; a later transaction's offset stays pending */
    txn_commit(&w, "g1", 0, 40, 9);
    txn_end(&w, "g1", 9, false);
    CHECK_EQ(fetched(w.c, "g1", "orders", 0), 30);
    txn_commit(&w, "g1", 1, 50, 10);
    txn_commit(&w, "g2", 1, 60, 10); /* two groups in one transaction */
    CHECK_EQ(fetched(w.c, "g1", "orders", 1), 5);
    /* kill -9: the replay rebuilds the same answers, 50 and 60 still pending */
    world_close(&w, true);
    world_open(&w, false);
    CHECK_EQ(fetched(w.c, "g1", "orders", 0), 30);
    CHECK_EQ(fetched(w.c, "g1", "orders", 1), 5);
    CHECK(broker_coord_offset_unstable(w.c, "g1", "orders", 1));
    CHECK(broker_coord_offset_unstable(w.c, "g2", "orders", 1));
    CHECK(!broker_coord_offset_unstable(w.c, "g1", "orders", 0));
    txn_end(&w, "g1", 10, true);
    CHECK_EQ(fetched(w.c, "g1", "orders", 1), 50);
    CHECK_EQ(fetched(w.c, "g2", "orders", 1), 60);
    CHECK(!broker_coord_offset_unstable(w.c, "g2", "orders", 1));
    world_close(&w, false);
    storage_io_sim_free(w.sim);
}

TEST(commit_acknowledged_only_once_durable)
{
    world_t w = {.sim = storage_io_sim_new(2)};
    world_open(&w, false);
    broker_commit_part_t part = {
        .topic = "orders", .partition = 0, .offset = 77, .leader_epoch = -1, .commit_ts_ms = -1};
    broker_commit_req_t r = {.group_id = "g1",
                             .generation_id = -1,
                             .member_id = "",
                             .retention_ms = -1,
                             .part_count = 1,
                             .parts = &part};
    int done = 0;
    appended_calls = 0;
    broker_coord_commit(w.c, &r, &done);
    CHECK_EQ(appended_calls, 1);
    CHECK_EQ(done, 0);
    CHECK_EQ(fetched(w.c, "g1", "orders", 0), -1);
    CHECK_EQ(broker_coord_log_writes_pending(w.ol), 1);
    CHECK_EQ(pump(), 0); /* not durable yet: nothing posted */
    int32_t p = broker_coord_partition_for("g1", 3);
    storage_log_flush(w.logs[p]);
    CHECK_EQ(pump(), 1);
    CHECK_EQ(done, 1);
    CHECK_EQ(part.error, KAFKA_NONE);
    CHECK_EQ(fetched(w.c, "g1", "orders", 0), 77);
    CHECK_EQ(storage_log_end_offset(w.logs[p]), 1);
    world_close(&w, false);
    storage_io_sim_free(w.sim);
}

TEST(restart_replays_commits_and_deletes)
{
    world_t w = {.sim = storage_io_sim_new(4)};
    world_open(&w, false);
    int done;
    char g[16];
    for (int i = 0; i < 20; i++) {
        snprintf(g, sizeof(g), "grp-%d", i % 5);
        done = 0;
        commit(&w, g, i % 4, 100 + i, &done);
        CHECK_EQ(done, 1);
    }
    broker_group_delete_item_t del = {"grp-3", 0};
    broker_group_delete_req_t dr = {1, &del};
    done = 0;
    broker_coord_delete(w.c, &dr, &done);
    flush_all(&w);
    CHECK_EQ(done, 1);
    CHECK_EQ(del.error, KAFKA_NONE);
    /* kill -9: nothing closed cleanly */
    world_close(&w, true);
    world_open(&w, false);
    for (int i = 0; i < 20; i++) {
        snprintf(g, sizeof(g), "grp-%d", i % 5);
        int64_t want = i % 5 == 3 ? -1 : 100 + i; /* (group, partition) pairs are unique */
        CHECK_EQ(fetched(w.c, g, "orders", i % 4), want);
    }
    CHECK_EQ(broker_coord_group_count(w.c), 4);
    world_close(&w, false);
    storage_io_sim_free(w.sim);
}

TEST(compaction_keeps_the_answer)
{
    world_t w = {.sim = storage_io_sim_new(6)};
    world_open(&w, true);
    int done;
    for (int i = 0; i < 300; i++) {
        done = 0;
        commit(&w, "busy", i % 3, i, &done);
    }
    done = 0;
    commit(&w, "gone", 0, 5, &done);
    broker_group_delete_item_t del = {"gone", 0};
    broker_group_delete_req_t dr = {1, &del};
    done = 0;
    broker_coord_delete(w.c, &dr, &done);
    flush_all(&w);
    int32_t p = broker_coord_partition_for("busy", 3);
    uint64_t before = storage_log_size_bytes(w.logs[p]);
    for (int i = 0; i < 3; i++)
        storage_log_compact(w.logs[i], clock_wall_ms() + 1000);
    uint64_t after = storage_log_size_bytes(w.logs[p]);
    CHECK(after < before / 4);
    world_close(&w, false);
    world_open(&w, true);
    CHECK_EQ(fetched(w.c, "busy", "orders", 0), 297);
    CHECK_EQ(fetched(w.c, "busy", "orders", 1), 298);
    CHECK_EQ(fetched(w.c, "busy", "orders", 2), 299);
    CHECK_EQ(fetched(w.c, "gone", "orders", 0), -1);
    world_close(&w, false);
    storage_io_sim_free(w.sim);
}

TEST(crash_loses_only_unacknowledged_commits)
{
    for (uint64_t seed = 1; seed <= 10; seed++) {
        world_t w = {.sim = storage_io_sim_new(seed)};
        world_open(&w, false);
        int done = 0;
        commit(&w, "g", 0, 10, &done); /* acknowledged (flushed) */
        CHECK_EQ(done, 1);
        broker_commit_part_t part = {.topic = "orders",
                                     .partition = 0,
                                     .offset = 20,
                                     .leader_epoch = -1,
                                     .commit_ts_ms = -1};
        broker_commit_req_t r = {.group_id = "g",
                                 .generation_id = -1,
                                 .member_id = "",
                                 .retention_ms = -1,
                                 .part_count = 1,
                                 .parts = &part};
        int done2 = 0;
        broker_coord_commit(w.c, &r, &done2); /* never acknowledged: the machine dies */
        CHECK_EQ(done2, 0);
        for (int i = 0; i < 3; i++)
            storage_log_abandon(w.logs[i]);
        storage_io_sim_crash(w.sim);
        pump(); /* abandoned logs fail their waiters */
        CHECK_EQ(done2, 1);
        CHECK(part.error != KAFKA_NONE);
        broker_coord_free(w.c);
        broker_coord_log_free(w.ol);
        world_open(&w, false);
        int64_t got = fetched(w.c, "g", "orders", 0);
        CHECK(got == 10 || got == 20); /* the acknowledged one is never lost */
        world_close(&w, false);
        storage_io_sim_free(w.sim);
    }
}

TEST_MAIN()
