/*
 * Crash simulation of transactions on the simulated disk (storage_io_sim): a data partition
 * (log + producer state + aborted-transaction index) and the transaction coordinator's log
 * (__transaction_state records replayed into a new coordinator).
 *
 * Each seed runs cycles of random operations by a few transactional producers: InitProducerId,
 * AddPartitionsToTxn, transactional batches (through the produce path's order: check, open the
 * transaction, append, update), plain batches, EndTxn commit/abort (the coordinator writes
 * PrepareX, the markers, CompleteX), flushes of either log, then a crash (unsynced writes
 * dropped, torn or reordered; "the machine dies after N more disk operations") or a clean
 * close, then a reopen. Checks against a model of what was made durable:
 *   - coordinator: every answer it gave survives (an acknowledged InitProducerId's epoch, an
 *     acknowledged EndTxn's outcome: PrepareX or CompleteX after the replay, CompleteX once the
 *     resumed markers ran);
 *   - partition: the first unstable offset after the reopen is exactly the first offset of the
 *     oldest transaction with durable data and no durable marker; every abort marker that is
 *     durable is in the aborted index with its first offset, and no other transaction is;
 *   - nothing a read_committed reader sees below the LSO belongs to an aborted transaction.
 *
 *   sim_txn                 the default run (seeds 1..N)
 *   sim_txn --seed N        one seed alone, verbose
 *   sim_txn --seeds N       N seeds
 */
#include "broker/producer_state.h"
#include "broker/txn.h"
#include "kafka/kafka.h"
#include "storage/storage.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

enum { PRODUCERS = 3, CYCLES = 12, OPS = 60, MAX_TXNS = 4096 };

typedef struct {
    int64_t pid;
    int16_t epoch;
    bool ready;          /* InitProducerId succeeded */
    bool open;           /* a transaction is open at the coordinator */
    int16_t acked_epoch; /* the newest epoch an answer gave it (fencing must survive) */
    int acked_end;       /* its last acknowledged EndTxn: 1 commit, 0 abort, -1 none since */
} mprod_t;

/* A transaction's fate in the partition, as the model knows it. */
typedef struct {
    int64_t pid;
    int64_t first, last; /* last: its marker's offset, -1 while open */
    bool abort;
} mtxn_t;

typedef struct {
    uint64_t rng;
    bool verbose;
    storage_io_sim_t *sim;
    storage_log_t *data, *tlog;
    broker_producer_state_t *ps;
    broker_txnc_t *coord;
    mprod_t prod[PRODUCERS];
    mtxn_t txns[MAX_TXNS];
    size_t ntxns;
    int64_t data_durable, tlog_durable;
    int64_t now;
    int64_t next_pid;
    char fail[512];
    uint64_t commits, aborts, crashes;
} sim_t;

static sim_t *S;

static uint64_t rnd(sim_t *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fail(sim_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(sim_t *s, const char *fmt, ...)
{
    if (s->fail[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail, sizeof(s->fail), fmt, ap);
    va_end(ap);
}

/* ---- the coordinator's environment: its records go to tlog, synced at once ---------------- */

static int64_t env_now(void *ctx)
{
    return ((sim_t *)ctx)->now;
}
static void env_timer_init(void *ctx, net_timer_t *t, net_fn fn, void *arg)
{
    memset(t, 0, sizeof(*t));
    t->fn = fn;
    t->arg = arg;
}
static void env_timer_start(void *ctx, net_timer_t *t, int64_t ms) {}
static void env_timer_stop(void *ctx, net_timer_t *t) {}

static int env_pid(void *ctx, int64_t *pid)
{
    *pid = ((sim_t *)ctx)->next_pid++;
    return 0;
}

static void env_write(void *ctx, const char *id, const uint8_t *key, size_t klen,
                      const uint8_t *value, int32_t vlen, broker_txn_done_fn done, void *arg)
{
    sim_t *s = ctx;
    storage_record_in_t rec = {.key = key,
                               .key_len = (int32_t)klen,
                               .value = value,
                               .value_len = vlen,
                               .timestamp = s->now};
    buf_t b = {0};
    storage_batch_build(&b, &rec, 1, NULL);
    int64_t base;
    int rc = storage_log_append(s->tlog, b.data, b.len, &base);
    buf_deinit(&b);
    if (rc == 0)
        rc = storage_log_flush(s->tlog);
    if (rc == 0)
        s->tlog_durable = storage_log_durable_offset(s->tlog);
    done(arg, rc);
}

static void marker_append(sim_t *s, int64_t pid, int16_t epoch, bool commit, int *err)
{
    uint8_t key[4] = {0, 0, 0, commit ? 1 : 0}, value[6] = {0};
    storage_record_in_t rec = {
        .key = key, .key_len = 4, .value = value, .value_len = 6, .timestamp = s->now};
    storage_batch_opts_t o = {.producer_id = pid,
                              .producer_epoch = epoch,
                              .base_sequence = -1,
                              .attributes = BATCH_TRANSACTIONAL | BATCH_CONTROL};
    buf_t b = {0};
    storage_batch_build(&b, &rec, 1, &o);
    int64_t base;
    int rc = storage_log_append(s->data, b.data, b.len, &base);
    buf_deinit(&b);
    if (rc == 0) {
        broker_producer_state_end_txn(s->ps, pid, epoch, 0, commit, base, s->now);
        for (size_t i = 0; i < s->ntxns; i++)
            if (s->txns[i].pid == pid && s->txns[i].last < 0) {
                s->txns[i].last = base;
                s->txns[i].abort = !commit;
            }
        rc = storage_log_flush(s->data);
        if (rc == 0)
            s->data_durable = storage_log_durable_offset(s->data);
    }
    if (rc)
        *err = rc;
}

static void env_markers(void *ctx, int64_t pid, int16_t epoch, bool commit,
                        const broker_txn_tp_t *parts, size_t nparts, broker_txn_done_fn done,
                        void *arg)
{
    sim_t *s = ctx;
    int err = 0;
    if (nparts > 0) /* the one partition of this simulation */
        marker_append(s, pid, epoch, commit, &err);
    done(arg, err);
}

static void coord_open(sim_t *s)
{
    broker_txn_config_t cfg;
    broker_txn_config_default(&cfg);
    broker_txn_env_t env = {.ctx = s,
                            .now_ms = env_now,
                            .timer_init = env_timer_init,
                            .timer_start = env_timer_start,
                            .timer_stop = env_timer_stop,
                            .next_producer_id = env_pid,
                            .write = env_write,
                            .write_markers = env_markers};
    WEIR_ASSERT(broker_txnc_new(&cfg, &env, &s->coord) == 0);
}

static int replay_rec(void *arg, const storage_batch_header_t *h, const uint8_t *batch,
                      size_t total)
{
    sim_t *s = arg;
    storage_record_iter_t it;
    if (storage_record_iter_init(&it, batch, total, 1 << 20) == 0) {
        storage_record_t r;
        while (storage_record_iter_next(&it, &r) == 1)
            broker_txnc_replay(s->coord, r.key, (size_t)r.key_len, r.value, r.value_len);
    }
    storage_record_iter_deinit(&it);
    return 0;
}

/* The model forgets what a crash took from the partition (end: its recovered end offset). */
static void model_truncate(sim_t *s, int64_t end)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->ntxns; i++) {
        mtxn_t t = s->txns[i];
        if (t.first >= end)
            continue;
        if (t.last >= end)
            t.last = -1; /* its marker was lost: open again until the coordinator resumes it */
        s->txns[keep++] = t;
    }
    s->ntxns = keep;
}

/* ---- open / close ------------------------------------------------------------------------- */

static void open_all(sim_t *s)
{
    storage_io_t *io = storage_io_sim_io(s->sim);
    storage_log_config_t lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 2048 + rnd(s) % 4096;
    lc.retention_ms = -1;
    lc.preallocate_bytes = 0;
    if (storage_log_open(io, "/d", &lc, &s->data) || storage_log_open(io, "/t", &lc, &s->tlog)) {
        fail(s, "reopen failed");
        return;
    }
    broker_producer_state_config_t pc;
    broker_producer_state_config_default(&pc);
    pc.snapshot_interval_offsets = 1 + (int64_t)(rnd(s) % 40);
    if (broker_producer_state_open(io, "/d", s->data, &pc, &s->ps)) {
        fail(s, "producer state reopen failed");
        return;
    }
    model_truncate(s, storage_log_end_offset(s->data));
    coord_open(s);
    storage_log_scan(s->tlog, 0, replay_rec, s);
    broker_txnc_load_finish(s->coord); /* resumes the markers of Prepare states */
    s->data_durable = storage_log_end_offset(s->data);
    s->tlog_durable = storage_log_end_offset(s->tlog);
}

static void close_all(sim_t *s, bool crash)
{
    broker_txnc_free(s->coord);
    s->coord = NULL;
    if (crash) {
        broker_producer_state_free(s->ps);
        storage_log_abandon(s->data);
        storage_log_abandon(s->tlog);
        storage_io_sim_crash(s->sim);
    } else {
        broker_producer_state_close(s->ps, s->data);
        storage_log_close(s->data);
        storage_log_close(s->tlog);
    }
    s->ps = NULL;
    s->data = s->tlog = NULL;
}

/* ---- operations --------------------------------------------------------------------------- */

static char *tid_of(int k)
{
    static char buf[PRODUCERS][16];
    snprintf(buf[k], sizeof(buf[k]), "p%d", k);
    return buf[k];
}

static void reply(void *arg)
{
    *(bool *)arg = true;
}

/* InitProducerId, retried as clients do while it answers CONCURRENT_TRANSACTIONS (it aborts an
 * open transaction with a fencing epoch first). */
static void op_init(sim_t *s, int k)
{
    s->prod[k].open = false;
    for (int attempt = 0; attempt < 4; attempt++) {
        broker_txn_init_req_t r = {.transactional_id = tid_of(k),
                                   .timeout_ms = 60000,
                                   .producer_id = -1,
                                   .producer_epoch = -1};
        bool done = false;
        broker_txnc_init_producer_id(s->coord, &r, reply, &done);
        if (done && r.error == KAFKA_NONE) {
            s->prod[k].pid = r.out_producer_id;
            s->prod[k].epoch = s->prod[k].acked_epoch = r.out_epoch;
            s->prod[k].ready = true;
            s->prod[k].acked_end = -1;
            return;
        }
        if (!done || r.error != KAFKA_CONCURRENT_TRANSACTIONS)
            break;
    }
    s->prod[k].ready = false;
}

static void op_produce(sim_t *s, int k, bool txn)
{
    mprod_t *p = &s->prod[k];
    if (txn && !p->ready)
        return;
    if (txn && !p->open) {
        broker_txn_part_t part = {"d", 0, 0};
        broker_txn_add_req_t r = {.transactional_id = tid_of(k),
                                  .producer_id = p->pid,
                                  .producer_epoch = p->epoch,
                                  .part_count = 1,
                                  .parts = &part};
        bool done = false;
        broker_txnc_add_partitions(s->coord, &r, reply, &done);
        if (!done || part.error)
            return;
        p->open = true;
        p->acked_end = -1;
    }
    storage_record_in_t rec = {.key_len = -1, .value = "v", .value_len = 1, .timestamp = s->now};
    /* (sequences are not the subject here: the idempotence checks have their own tests) */
    storage_batch_opts_t o = {.producer_id = txn ? p->pid : -1,
                              .producer_epoch = txn ? p->epoch : -1,
                              .base_sequence = -1,
                              .attributes = txn ? BATCH_TRANSACTIONAL : 0};
    buf_t b = {0};
    storage_batch_build(&b, &rec, 1, &o);
    storage_batch_header_t h;
    size_t total;
    storage_batch_header_read(b.data, b.len, &h, &total);
    bool opened =
        txn && broker_producer_state_txn_begin(s->ps, &h, storage_log_end_offset(s->data));
    int64_t base;
    if (storage_log_append(s->data, b.data, b.len, &base) == 0) {
        if (opened && s->ntxns < MAX_TXNS)
            s->txns[s->ntxns++] = (mtxn_t){p->pid, base, -1, false};
    } else if (opened) {
        broker_producer_state_txn_undo(s->ps, p->pid);
    }
    buf_deinit(&b);
}

static void op_end(sim_t *s, int k, bool commit)
{
    mprod_t *p = &s->prod[k];
    if (!p->open)
        return;
    broker_txn_end_req_t r = {.transactional_id = tid_of(k),
                              .producer_id = p->pid,
                              .producer_epoch = p->epoch,
                              .commit = commit};
    bool done = false;
    broker_txnc_end(s->coord, &r, reply, &done);
    if (done && r.error == KAFKA_NONE) {
        p->open = false;
        p->acked_end = commit;
        commit ? s->commits++ : s->aborts++;
    }
}

/* ---- checks after a reopen ---------------------------------------------------------------- */

/* Every answer the coordinator gave survives the restart: no epoch older than one handed out,
 * and an acknowledged EndTxn's outcome is what the entry shows (complete, since load_finish
 * resumed its markers), unless a later transaction's write landed. */
static void check_coordinator(sim_t *s)
{
    for (int k = 0; k < PRODUCERS; k++) {
        mprod_t *p = &s->prod[k];
        if (!p->ready)
            continue;
        broker_txn_describe_item_t it = {.transactional_id = tid_of(k)};
        broker_txnc_describe(s->coord, &it);
        if (it.error) {
            fail(s, "%s: lost from the coordinator (%d)", tid_of(k), it.error);
            continue;
        }
        if (it.producer_epoch < p->acked_epoch)
            fail(s, "%s: epoch %d after the restart, %d was handed out", tid_of(k),
                 it.producer_epoch, p->acked_epoch);
        if (p->acked_end >= 0 && it.producer_epoch == p->acked_epoch) {
            const char *want = p->acked_end ? "CompleteCommit" : "CompleteAbort";
            const char *other = p->acked_end ? "CompleteAbort" : "CompleteCommit";
            if (strcmp(it.state, other) == 0 || strncmp(it.state, "Prepare", 7) == 0)
                fail(s, "%s: acknowledged %s, found %s", tid_of(k), want, it.state);
        }
    }
}

static void check(sim_t *s)
{
    check_coordinator(s);
    /* the open transactions after load_finish (resumed markers closed some) */
    int64_t want = -1;
    for (size_t i = 0; i < s->ntxns; i++)
        if (s->txns[i].last < 0 && (want < 0 || s->txns[i].first < want))
            want = s->txns[i].first;
    int64_t got = broker_producer_state_first_unstable(s->ps);
    if (got != want)
        fail(s, "first unstable offset %" PRId64 ", want %" PRId64, got, want);
    storage_aborted_txn_t *v;
    size_t n = storage_log_aborted_collect(s->data, 0, INT64_MAX, &v);
    size_t nab = 0;
    for (size_t i = 0; i < s->ntxns; i++) {
        const mtxn_t *t = &s->txns[i];
        if (t->last < 0 || !t->abort)
            continue;
        nab++;
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = v[j].producer_id == t->pid && v[j].first_offset == t->first &&
                    v[j].last_offset == t->last;
        if (!found)
            fail(s,
                 "aborted transaction of %" PRId64 " at %" PRId64 "-%" PRId64
                 " is not in the index",
                 t->pid, t->first, t->last);
    }
    /* markers without data (resumed twice) add entries first==last: count only real ones */
    size_t real = 0;
    for (size_t j = 0; j < n; j++)
        real += v[j].first_offset != v[j].last_offset;
    if (real != nab)
        fail(s, "%zu aborted entries with data in the index, want %zu", real, nab);
    free(v);
}

/* ---- one seed ------------------------------------------------------------------------------ */

static bool run_seed(uint64_t seed, bool verbose)
{
    sim_t s;
    memset(&s, 0, sizeof(s));
    S = &s;
    s.rng = seed;
    s.verbose = verbose;
    s.now = 1700000000000;
    s.next_pid = 1000;
    s.sim = storage_io_sim_new(seed);
    storage_io_t *io = storage_io_sim_io(s.sim);
    io->ops->mkdir(io, "/d");
    io->ops->mkdir(io, "/t");
    open_all(&s);
    for (int k = 0; k < PRODUCERS; k++)
        op_init(&s, k);
    for (int cycle = 0; cycle < CYCLES && !s.fail[0]; cycle++) {
        for (int i = 0; i < OPS; i++) {
            int k = (int)(rnd(&s) % PRODUCERS);
            s.now += 10;
            switch (rnd(&s) % 10) {
            case 0:
                op_init(&s, k); /* fences the old epoch, aborting an open transaction */
                break;
            case 1:
            case 2:
            case 3:
                op_produce(&s, k, true);
                break;
            case 4:
                op_produce(&s, k, false);
                break;
            case 5:
            case 6:
                op_end(&s, k, rnd(&s) % 2);
                break;
            case 7:
                storage_log_flush(s.data);
                break;
            default:
                break;
            }
        }
        bool crash = rnd(&s) % 4 != 0;
        if (crash && rnd(&s) % 3 == 0)
            storage_io_sim_crash_after(s.sim, (int64_t)(rnd(&s) % 30));
        close_all(&s, crash);
        s.crashes += crash;
        open_all(&s);
        if (s.fail[0])
            break;
        check(&s);
        for (int k = 0; k < PRODUCERS; k++) /* clients reconnect: a fresh epoch each */
            op_init(&s, k);
    }
    if (verbose || s.fail[0])
        printf("seed %" PRIu64 ": %" PRIu64 " commits, %" PRIu64 " aborts, %" PRIu64
               " crashes%s%s\n",
               seed, s.commits, s.aborts, s.crashes, s.fail[0] ? ": FAIL: " : "", s.fail);
    if (s.coord)
        close_all(&s, false);
    storage_io_sim_free(s.sim);
    return !s.fail[0];
}

int main(int argc, char **argv)
{
    log_set_level(LOG_ERROR);
    uint64_t first = 1, nseeds = 200;
    bool verbose = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seed") == 0) {
            first = strtoull(argv[i + 1], NULL, 10);
            nseeds = 1;
            verbose = true;
        } else if (strcmp(argv[i], "--seeds") == 0) {
            nseeds = strtoull(argv[i + 1], NULL, 10);
        }
    }
    int failed = 0;
    for (uint64_t seed = first; seed < first + nseeds; seed++)
        if (!run_seed(seed, verbose))
            failed++;
    printf("%s 1 - sim_txn: %" PRIu64 " seeds x %d crash/close cycles, %d failed\n",
           failed ? "not ok" : "ok", nseeds, CYCLES, failed);
    printf("1..1\n");
    return failed ? 1 : 0;
}
