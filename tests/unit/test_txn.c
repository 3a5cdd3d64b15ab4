/* Unit tests of the transaction coordinator (src/broker/txn.c) and its records
 * (src/broker/txn_records.c) without sockets or disk: a fake clock and timers, a fake
 * __transaction_state writer that keeps every record (a "restart" replays them into a new
 * coordinator), deferred writes (to see CONCURRENT_TRANSACTIONS while one is in flight),
 * fake markers, and the errors Kafka's TransactionCoordinator answers. */
#include "broker/txn.h"
#include "kafka/kafka.h"
#include "test.h"

#include <stdlib.h>

enum { MAX_TIMERS = 64, MAX_RECS = 4096, MAX_DEFER = 64 };

static int64_t now_ms = 1700000000000;
static net_timer_t *timers[MAX_TIMERS];
static int ntimers;
static int64_t next_pid;

typedef struct {
    uint8_t *key, *value;
    size_t key_len;
    int32_t value_len;
} rec_t;
static rec_t recs[MAX_RECS];
static int nrecs;

static bool defer;
static int fail_writes;
static struct {
    broker_txn_done_fn done;
    void *arg;
    int err;
} deferred[MAX_DEFER];
static int ndeferred;

/* markers written: pid, epoch, commit, partitions */
static int nmarkers;
static int64_t marker_pid;
static int16_t marker_epoch;
static bool marker_commit;
static size_t marker_nparts;
static int fail_markers;
/* publish: the last publication */
static int64_t pub_pid;
static size_t pub_nparts;

static int64_t fake_now(void *ctx)
{
    (void)ctx;
    return now_ms;
}

static void fake_timer_init(void *ctx, net_timer_t *t, net_fn fn, void *arg)
{
    (void)ctx;
    memset(t, 0, sizeof(*t));
    t->fn = fn;
    t->arg = arg;
    t->heap_index = SIZE_MAX;
}

static void fake_timer_stop(void *ctx, net_timer_t *t)
{
    (void)ctx;
    if (t->heap_index == SIZE_MAX)
        return;
    for (int i = 0; i < ntimers; i++)
        if (timers[i] == t) {
            timers[i] = timers[--ntimers];
            break;
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

static int fake_next_pid(void *ctx, int64_t *pid)
{
    (void)ctx;
    *pid = next_pid++;
    return 0;
}

static void fake_write(void *ctx, const char *id, const uint8_t *key, size_t key_len,
                       const uint8_t *value, int32_t value_len, broker_txn_done_fn done, void *arg)
{
    (void)ctx;
    (void)id;
    int err = 0;
    if (fail_writes > 0) {
        fail_writes--;
        err = -WEIR_EIO;
    } else {
        REQUIRE(nrecs < MAX_RECS);
        rec_t *r = &recs[nrecs++];
        r->key = weir_malloc(key_len);
        memcpy(r->key, key, key_len);
        r->key_len = key_len;
        r->value_len = value_len;
        r->value = NULL;
        if (value_len >= 0) {
            r->value = weir_malloc((size_t)value_len + 1);
            memcpy(r->value, value, (size_t)value_len);
        }
    }
    if (defer && ndeferred < MAX_DEFER) {
        deferred[ndeferred].done = done;
        deferred[ndeferred].arg = arg;
        deferred[ndeferred++].err = err;
        return;
    }
    done(arg, err);
}

static void flush_deferred(void)
{
    int n = ndeferred;
    ndeferred = 0;
    for (int i = 0; i < n; i++)
        deferred[i].done(deferred[i].arg, deferred[i].err);
}

static void fake_markers(void *ctx, int64_t pid, int16_t epoch, bool commit,
                         const broker_txn_tp_t *parts, size_t nparts, broker_txn_done_fn done,
                         void *arg)
{
    (void)ctx;
    (void)parts;
    nmarkers++;
    marker_pid = pid;
    marker_epoch = epoch;
    marker_commit = commit;
    marker_nparts = nparts;
    int err = 0;
    if (fail_markers > 0) {
        fail_markers--;
        err = -WEIR_EIO;
    }
    done(arg, err);
}

static void fake_publish(void *ctx, int64_t pid, int16_t epoch, const broker_txn_tp_t *parts,
                         size_t nparts)
{
    (void)ctx;
    (void)epoch;
    (void)parts;
    pub_pid = pid;
    pub_nparts = nparts;
}

static broker_txnc_t *coord_new(void)
{
    broker_txn_config_t cfg;
    broker_txn_config_default(&cfg);
    cfg.max_timeout_ms = 60000;
    cfg.id_expiration_ms = 3600000;
    cfg.abort_check_ms = 1000;
    cfg.expire_check_ms = 60000;
    broker_txn_env_t env = {.now_ms = fake_now,
                            .timer_init = fake_timer_init,
                            .timer_start = fake_timer_start,
                            .timer_stop = fake_timer_stop,
                            .next_producer_id = fake_next_pid,
                            .write = fake_write,
                            .write_markers = fake_markers,
                            .publish = fake_publish};
    broker_txnc_t *c;
    WEIR_ASSERT(broker_txnc_new(&cfg, &env, &c) == 0);
    return c;
}

static broker_txnc_t *coord_start(void)
{
    broker_txnc_t *c = coord_new();
    broker_txnc_load_finish(c);
    return c;
}

/* A restart: a new coordinator replaying every record written so far. */
static broker_txnc_t *restart(broker_txnc_t *c)
{
    broker_txnc_free(c);
    ntimers = 0;
    c = coord_new();
    for (int i = 0; i < nrecs; i++)
        CHECK_EQ(
            broker_txnc_replay(c, recs[i].key, recs[i].key_len, recs[i].value, recs[i].value_len),
            0);
    broker_txnc_load_finish(c);
    return c;
}

static void reset(void)
{
    for (int i = 0; i < nrecs; i++) {
        free(recs[i].key);
        free(recs[i].value);
    }
    nrecs = 0;
    ntimers = 0;
    next_pid = 1000;
    defer = false;
    fail_writes = fail_markers = 0;
    nmarkers = 0;
}

static int ndone;
static void on_done(void *arg)
{
    (void)arg;
    ndone++;
}

static broker_txn_init_req_t init(broker_txnc_t *c, const char *id, int32_t timeout, int64_t pid,
                                  int16_t epoch)
{
    broker_txn_init_req_t r = {
        .transactional_id = id, .timeout_ms = timeout, .producer_id = pid, .producer_epoch = epoch};
    int before = ndone;
    broker_txnc_init_producer_id(c, &r, on_done, NULL);
    if (!defer)
        CHECK_EQ(ndone, before + 1);
    return r;
}

static int16_t add(broker_txnc_t *c, const char *id, int64_t pid, int16_t epoch, const char *topic,
                   int32_t part)
{
    broker_txn_part_t p = {topic, part, -1};
    broker_txn_add_req_t r = {.transactional_id = id,
                              .producer_id = pid,
                              .producer_epoch = epoch,
                              .part_count = 1,
                              .parts = &p};
    broker_txnc_add_partitions(c, &r, on_done, NULL);
    return p.error;
}

static int16_t end(broker_txnc_t *c, const char *id, int64_t pid, int16_t epoch, bool commit)
{
    broker_txn_end_req_t r = {
        .transactional_id = id, .producer_id = pid, .producer_epoch = epoch, .commit = commit};
    broker_txnc_end(c, &r, on_done, NULL);
    return r.error;
}

static const char *state_of(broker_txnc_t *c, const char *id)
{
    broker_txn_describe_item_t it = {.transactional_id = id};
    broker_txnc_describe(c, &it);
    return it.error ? wire_err_name(it.error) : it.state;
}

TEST(records_round_trip)
{
    broker_txn_tp_t parts[3] = {{"a", 0}, {"b", 2}, {"a", 1}};
    broker_txn_value_t v = {.producer_id = 77,
                            .epoch = 3,
                            .timeout_ms = 60000,
                            .state = TXN_ONGOING,
                            .parts = parts,
                            .nparts = 3,
                            .update_ms = 5,
                            .start_ms = 4};
    buf_t b = {0};
    broker_txn_value_encode(&b, &v);
    broker_txn_value_t w;
    REQUIRE(broker_txn_value_decode(b.data, b.len, &w) == 0);
    CHECK_EQ(w.producer_id, 77);
    CHECK_EQ(w.epoch, 3);
    CHECK_EQ(w.state, TXN_ONGOING);
    CHECK_EQ(w.nparts, 3);
    CHECK_STR(w.parts[0].topic, "a"); /* grouped by topic, first-seen order */
    CHECK_EQ(w.parts[1].partition, 1);
    CHECK_STR(w.parts[2].topic, "b");
    CHECK_EQ(w.start_ms, 4);
    broker_txn_value_free(&w);
    /* every truncation of a valid value is refused, nothing allocated */
    for (size_t k = 0; k < b.len; k++)
        CHECK(broker_txn_value_decode(b.data, k, &w) < 0);
    buf_reset(&b);
    broker_txn_key_encode(&b, "tx-1");
    char *id = broker_txn_key_decode(b.data, b.len);
    CHECK_STR(id, "tx-1");
    free(id);
    CHECK(broker_txn_key_decode(b.data, b.len - 1) == NULL);
    buf_deinit(&b);
}

TEST(init_add_commit_and_errors)
{
    reset();
    broker_txnc_t *c = coord_start();
    CHECK_EQ(init(c, "", 1000, -1, -1).error, KAFKA_INVALID_REQUEST);
    CHECK_EQ(init(c, "t", 60001, -1, -1).error, KAFKA_INVALID_TRANSACTION_TIMEOUT);
    CHECK_EQ(init(c, "t", 0, -1, -1).error, KAFKA_INVALID_TRANSACTION_TIMEOUT);
    CHECK_EQ(init(c, "t", 1000, 5, -1).error, KAFKA_INVALID_REQUEST);
    broker_txn_init_req_t r = init(c, "t", 10000, -1, -1);
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(r.out_producer_id, 1000);
    CHECK_EQ(r.out_epoch, 0);
    CHECK_STR(state_of(c, "t"), "Empty");
    CHECK_EQ(end(c, "t", 1000, 0, true), KAFKA_INVALID_TXN_STATE); /* nothing open */
    CHECK_EQ(add(c, "x", 1000, 0, "a", 0), KAFKA_INVALID_PRODUCER_ID_MAPPING);
    CHECK_EQ(add(c, "t", 999, 0, "a", 0), KAFKA_INVALID_PRODUCER_ID_MAPPING);
    CHECK_EQ(add(c, "t", 1000, 1, "a", 0), KAFKA_PRODUCER_FENCED);
    CHECK_EQ(add(c, "t", 1000, 0, "a", 0), KAFKA_NONE);
    CHECK_EQ(pub_pid, 1000);
    CHECK_EQ(pub_nparts, 1);
    CHECK_STR(state_of(c, "t"), "Ongoing");
    CHECK_EQ(add(c, "t", 1000, 0, "a", 0), KAFKA_NONE); /* already in: no write */
    int before = nrecs;
    CHECK_EQ(add(c, "t", 1000, 0, "a", 0), KAFKA_NONE);
    CHECK_EQ(nrecs, before);
    CHECK_EQ(add(c, "t", 1000, 0, "b", 3), KAFKA_NONE);
    CHECK_EQ(broker_txnc_check_partition(c, "t", 1000, 0, "b", 3), KAFKA_NONE);
    CHECK_EQ(broker_txnc_check_partition(c, "t", 1000, 0, "b", 4), KAFKA_INVALID_TXN_STATE);
    CHECK_EQ(end(c, "t", 1000, 0, true), KAFKA_NONE);
    CHECK_EQ(nmarkers, 1);
    CHECK(marker_commit);
    CHECK_EQ(marker_nparts, 2);
    CHECK_EQ(pub_nparts, 0); /* closed for produce */
    CHECK_STR(state_of(c, "t"), "CompleteCommit");
    CHECK_EQ(end(c, "t", 1000, 0, true), KAFKA_NONE); /* a retried commit */
    CHECK_EQ(end(c, "t", 1000, 0, false), KAFKA_INVALID_TXN_STATE);
    CHECK_EQ(add(c, "t", 1000, 0, "a", 1), KAFKA_NONE); /* the next transaction */
    CHECK_EQ(end(c, "t", 1000, 0, false), KAFKA_NONE);
    CHECK_STR(state_of(c, "t"), "CompleteAbort");
    CHECK(!marker_commit);
    CHECK_STR(state_of(c, "nope"), "TRANSACTIONAL_ID_NOT_FOUND");
    broker_txnc_free(c);
}

TEST(pending_writes_answer_concurrent_transactions)
{
    reset();
    broker_txnc_t *c = coord_start();
    init(c, "t", 10000, -1, -1);
    CHECK_EQ(add(c, "t", 1000, 0, "a", 0), KAFKA_NONE);
    defer = true;
    ndone = 0;
    broker_txn_end_req_t e = {.transactional_id = "t", .producer_id = 1000, .commit = true};
    broker_txnc_end(c, &e, on_done, NULL);
    CHECK_EQ(ndone, 0); /* waits for PrepareCommit to be durable */
    CHECK_EQ(add(c, "t", 1000, 0, "a", 1), KAFKA_CONCURRENT_TRANSACTIONS);
    CHECK_EQ(init(c, "t", 10000, -1, -1).error, KAFKA_CONCURRENT_TRANSACTIONS);
    flush_deferred();   /* PrepareCommit durable: answered; markers; Complete written (deferred) */
    CHECK_EQ(ndone, 3); /* the two refusals at once, then EndTxn */
    CHECK_EQ(e.error, KAFKA_NONE);
    CHECK_STR(state_of(c, "t"), "PrepareCommit");
    CHECK_EQ(end(c, "t", 1000, 0, true), KAFKA_CONCURRENT_TRANSACTIONS);
    flush_deferred();
    CHECK_STR(state_of(c, "t"), "CompleteCommit");
    /* a failed write changes nothing */
    defer = false;
    fail_writes = 1;
    CHECK_EQ(add(c, "t", 1000, 0, "a", 0), KAFKA_COORDINATOR_NOT_AVAILABLE);
    CHECK_STR(state_of(c, "t"), "CompleteCommit");
    broker_txnc_free(c);
}

TEST(fencing_kip360_and_epoch_exhaustion)
{
    reset();
    broker_txnc_t *c = coord_start();
    init(c, "t", 10000, -1, -1);                        /* epoch 0 */
    CHECK_EQ(init(c, "t", 10000, -1, -1).out_epoch, 1); /* a new incarnation */
    /* KIP-360: the producer's own id and epoch bump it */
    broker_txn_init_req_t r = init(c, "t", 10000, 1000, 1);
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(r.out_epoch, 2);
    CHECK_EQ(init(c, "t", 10000, 1000, 1).out_epoch, 2); /* a retry of that bump */
    CHECK_EQ(init(c, "t", 10000, 1000, 0).error, KAFKA_PRODUCER_FENCED);
    CHECK_EQ(init(c, "t", 10000, 555, 2).error, KAFKA_PRODUCER_FENCED);
    /* an open transaction is aborted with a fencing bump; the caller retries */
    CHECK_EQ(add(c, "t", 1000, 2, "a", 0), KAFKA_NONE);
    nmarkers = 0;
    CHECK_EQ(init(c, "t", 10000, -1, -1).error, KAFKA_CONCURRENT_TRANSACTIONS);
    CHECK_EQ(nmarkers, 1);
    CHECK(!marker_commit);
    CHECK_EQ(marker_epoch, 3); /* the zombie's next request is refused */
    CHECK_EQ(end(c, "t", 1000, 2, true), KAFKA_PRODUCER_FENCED);
    r = init(c, "t", 10000, -1, -1);
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(r.out_epoch, 4);
    broker_txnc_free(c);
    /* epoch exhaustion: a new producer id at epoch 0 */
    reset();
    c = coord_start();
    broker_txn_value_t v = {.producer_id = 42,
                            .epoch = INT16_MAX - 1,
                            .timeout_ms = 1000,
                            .state = TXN_COMPLETE_COMMIT,
                            .update_ms = now_ms,
                            .start_ms = -1};
    buf_t k = {0}, val = {0};
    broker_txn_key_encode(&k, "old");
    broker_txn_value_encode(&val, &v);
    CHECK_EQ(broker_txnc_replay(c, k.data, k.len, val.data, (int32_t)val.len), 0);
    buf_deinit(&k);
    buf_deinit(&val);
    r = init(c, "old", 1000, -1, -1);
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(r.out_producer_id, 1000);
    CHECK_EQ(r.out_epoch, 0);
    broker_txnc_free(c);
}

TEST(timeouts_restarts_and_expiry)
{
    reset();
    broker_txnc_t *c = coord_start();
    init(c, "t", 5000, -1, -1);
    CHECK_EQ(add(c, "t", 1000, 0, "a", 0), KAFKA_NONE);
    advance(4000);
    CHECK_STR(state_of(c, "t"), "Ongoing");
    nmarkers = 0;
    advance(2000); /* past 5 s: aborted with a fencing bump */
    CHECK_EQ(nmarkers, 1);
    CHECK(!marker_commit);
    CHECK_EQ(marker_epoch, 1);
    CHECK_STR(state_of(c, "t"), "CompleteAbort");
    CHECK_EQ(add(c, "t", 1000, 0, "a", 0), KAFKA_PRODUCER_FENCED);
    /* a crash between PrepareCommit and CompleteCommit: the restart writes the markers again */
    init(c, "t", 5000, -1, -1); /* epoch 2 */
    CHECK_EQ(add(c, "t", 1000, 2, "a", 0), KAFKA_NONE);
    fail_markers = 1; /* markers fail: retried by the timer */
    CHECK_EQ(end(c, "t", 1000, 2, true), KAFKA_NONE);
    CHECK_STR(state_of(c, "t"), "PrepareCommit");
    c = restart(c);
    CHECK_STR(state_of(c, "t"), "CompleteCommit"); /* markers written again at load */
    CHECK(marker_commit);
    /* an open transaction survives a restart and is published again */
    CHECK_EQ(add(c, "t", 1000, 2, "b", 1), KAFKA_NONE);
    pub_nparts = 0;
    c = restart(c);
    CHECK_EQ(pub_nparts, 1);
    CHECK_STR(state_of(c, "t"), "Ongoing");
    CHECK_EQ(end(c, "t", 1000, 2, false), KAFKA_NONE);
    /* idle past transactional.id.expiration.ms: a tombstone, gone after a restart too */
    advance(3600000 + 120000);
    CHECK_STR(state_of(c, "t"), "TRANSACTIONAL_ID_NOT_FOUND");
    c = restart(c);
    CHECK_STR(state_of(c, "t"), "TRANSACTIONAL_ID_NOT_FOUND");
    CHECK_EQ(broker_txnc_count(c), 0);
    broker_txnc_free(c);
    reset();
}

TEST(list_filters)
{
    reset();
    broker_txnc_t *c = coord_start();
    init(c, "a", 5000, -1, -1); /* pid 1000, Empty */
    init(c, "b", 5000, -1, -1); /* pid 1001 */
    CHECK_EQ(add(c, "b", 1001, 0, "x", 0), KAFKA_NONE);
    const char *states[] = {"Ongoing", "Bogus"};
    broker_txn_list_req_t l = {.state_count = 2, .states = states, .min_duration_ms = -1};
    broker_txnc_list(c, &l);
    CHECK_EQ(l.count, 1);
    CHECK_STR(l.txns[0].transactional_id, "b");
    CHECK_EQ(l.unknown_count, 1);
    CHECK_STR(l.unknown_states[0], "Bogus");
    int64_t pids[] = {1000};
    broker_txn_list_req_t l2 = {.pid_count = 1, .pids = pids, .min_duration_ms = -1};
    broker_txnc_list(c, &l2);
    CHECK_EQ(l2.count, 1);
    CHECK_STR(l2.txns[0].transactional_id, "a");
    advance(3000);
    broker_txn_list_req_t l3 = {.min_duration_ms = 2000};
    broker_txnc_list(c, &l3);
    /* Kafka's filter: now - start > 2 s, and an Empty one has start -1, so it counts too */
    CHECK_EQ(l3.count, 2);
    broker_txnc_free(c);
    reset();
}

TEST_MAIN()
