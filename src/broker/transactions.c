/*
 * transactions.c: the transaction coordinator wired into the broker, the transaction markers,
 * the produce path's check of transactional batches, and the broker's transaction API
 * (broker_txn_*) that the protocol handlers call.
 *
 * Threads. Like the group coordinator (groups.c), the transaction coordinator (txn.c) runs on
 * loop 0: each request is posted there; its writes to __transaction_state come back through
 * the flusher and are posted there too. Markers are written from loop 0 as well: for each
 * partition of a transaction, under the registry read lock and the partition's append lock,
 * the marker's epoch is checked, the control batch appended and the partition's producer state
 * told (producer_state.c closes the transaction and records an abort in the aborted index);
 * waiting fetches are woken; once every marker is durable the coordinator is told, and for
 * markers in __consumer_offsets the group coordinator first publishes or drops the
 * transaction's offsets.
 *
 * The produce path runs on any loop: it asks `open_txns` (a map under its own mutex, kept by
 * the coordinator's publish callback) whether a producer's transaction includes a partition
 * before the first transactional batch of that transaction goes into it.
 *
 * Start: __transaction_state is created (compacted, transaction.state.log.num.partitions) if
 * missing, replayed into a new coordinator on loop 0 before the listener opens, and
 * transactions left in PrepareCommit/PrepareAbort get their markers written again. Stop:
 * writes and markers in flight are flushed and finished first, while the loops still run.
 */
#include "broker/broker_internal.h"
#include "broker/coord.h"
#include "broker/kvmap.h"
#include "broker/producer_state.h"
#include "broker/txn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char TXN_TOPIC[] = "__transaction_state";
static const char OFFSETS_TOPIC[] = "__consumer_offsets";

/* A transactional producer as the produce path sees it: its epoch and the partitions of its
 * open transaction (none when it has none open). */
typedef struct {
    int16_t epoch;
    size_t n;
    char **keys; /* "topic\0" + be32 partition, as kvmap-style byte keys */
    size_t *lens;
} open_txn_t;

typedef struct broker_txns {
    broker_t *b;
    net_loop_t *loop;
    broker_txnc_t *coord;
    broker_coord_log_t *tlog;
    int32_t nparts;
    pthread_mutex_t open_mu;
    broker_kvmap_t open; /* be64(pid) -> open_txn_t */
    size_t markers_pending;
} broker_txns_t;

static broker_txns_t *txns_of(broker_t *b)
{
    return b->txns;
}

/* ---- the produce path's view of open transactions -------------------------------------------- */

static size_t tp_key(uint8_t *out, size_t cap, const char *topic, size_t len, int32_t partition)
{
    if (len + 5 > cap)
        return 0;
    memcpy(out, topic, len);
    out[len] = 0;
    be32_write(out + len + 1, (uint32_t)partition);
    return len + 5;
}

static void open_free(open_txn_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->keys[i]);
    free(o->keys);
    free(o->lens);
    free(o);
}

static void env_publish(void *ctx, int64_t pid, int16_t epoch, const broker_txn_tp_t *parts,
                        size_t nparts)
{
    broker_txns_t *tx = ctx;
    uint8_t k[8];
    be64_write(k, (uint64_t)pid);
    open_txn_t *o = NULL;
    if (epoch >= 0) { /* epoch -1: the producer id is no longer a transactional one */
        o = weir_calloc(1, sizeof(*o));
        o->epoch = epoch;
        o->keys = weir_calloc(nparts + 1, sizeof(*o->keys));
        o->lens = weir_calloc(nparts + 1, sizeof(*o->lens));
        for (size_t i = 0; i < nparts; i++) {
            uint8_t buf[512];
            size_t n = tp_key(buf, sizeof(buf), parts[i].topic, strlen(parts[i].topic),
                              parts[i].partition);
            o->keys[o->n] = weir_malloc(n ? n : 1);
            memcpy(o->keys[o->n], buf, n);
            o->lens[o->n++] = n;
        }
    }
    pthread_mutex_lock(&tx->open_mu);
    open_txn_t *old = o ? broker_kvmap_put(&tx->open, k, 8, o) : broker_kvmap_del(&tx->open, k, 8);
    pthread_mutex_unlock(&tx->open_mu);
    if (old)
        open_free(old);
}

int16_t broker_txn_verify(broker_t *b, int64_t producer_id, int16_t epoch, const char *topic,
                          size_t len, int32_t partition)
{
    broker_txns_t *tx = txns_of(b);
    if (!broker_settings_int(&b->set, BCFG_TRANSACTION_PARTITION_VERIFICATION_ENABLE))
        return KAFKA_NONE; /* Kafka's switch: transactional batches are not checked */
    if (!tx)
        return KAFKA_INVALID_TXN_STATE;
    uint8_t k[8], want[512];
    be64_write(k, (uint64_t)producer_id);
    size_t wn = tp_key(want, sizeof(want), topic, len, partition);
    int16_t err = KAFKA_INVALID_TXN_STATE;
    pthread_mutex_lock(&tx->open_mu);
    const open_txn_t *o = broker_kvmap_get(&tx->open, k, 8);
    if (!o)
        err = KAFKA_INVALID_PRODUCER_ID_MAPPING; /* not a transactional producer id */
    else if (epoch != o->epoch)
        err = KAFKA_INVALID_PRODUCER_EPOCH;
    else
        for (size_t i = 0; i < o->n && err; i++)
            if (o->lens[i] == wn && memcmp(o->keys[i], want, wn) == 0)
                err = KAFKA_NONE;
    pthread_mutex_unlock(&tx->open_mu);
    return err;
}

/* ---- markers
 * -------------------------------------------------------------------------------------- */

/* A marker batch: attributes transactional + control, one record with key [version 0, type]
 * and value [version 0, coordinator epoch], as Kafka's EndTransactionMarker. */
static void marker_build(buf_t *out, int64_t pid, int16_t epoch, bool commit,
                         int32_t coordinator_epoch, int64_t now)
{
    uint8_t key[4], value[6];
    be16_write(key, 0);
    be16_write(key + 2, commit ? 1 : 0);
    be16_write(value, 0);
    be32_write(value + 2, (uint32_t)coordinator_epoch);
    storage_record_in_t rec = {
        .key = key, .key_len = 4, .value = value, .value_len = 6, .timestamp = now};
    storage_batch_opts_t opts = {.producer_id = pid,
                                 .producer_epoch = epoch,
                                 .base_sequence = -1,
                                 .attributes = BATCH_TRANSACTIONAL | BATCH_CONTROL};
    storage_batch_build(out, &rec, 1, &opts);
    be32_write(out->data + BATCH_LEADER_EPOCH, 0); /* the leader's epoch, as produce stamps it */
}

typedef struct marker_run marker_run_t;

/* One partition's marker, waiting to be durable. */
typedef struct {
    marker_run_t *run;
    int err;
} marker_wait_t;

struct marker_run {
    broker_txns_t *tx;
    int64_t pid;
    bool commit;
    int outstanding; /* durable callbacks not back yet, + 1 while appending */
    int err;
    bool offsets;    /* a marker went to __consumer_offsets */
    int16_t *errors; /* WriteTxnMarkers: per partition, else NULL */
    broker_txn_done_fn done;
    void *arg;
};

static void run_finish(marker_run_t *mr)
{
    broker_txns_t *tx = mr->tx;
    if (mr->err == 0 && mr->offsets)
        broker_groups_txn_complete(tx->b, mr->pid, mr->commit);
    tx->markers_pending--;
    mr->done(mr->arg, mr->err);
    free(mr);
}

/* Loop 0. */
static void marker_durable_on_loop(void *arg)
{
    marker_wait_t *mw = arg;
    marker_run_t *mr = mw->run;
    if (mw->err && !mr->err)
        mr->err = mw->err;
    free(mw);
    if (--mr->outstanding == 0)
        run_finish(mr);
}

static void marker_durable(void *arg, int err)
{
    marker_wait_t *mw = arg;
    mw->err = err;
    net_loop_post(mw->run->tx->loop, marker_durable_on_loop, mw);
}

/* Appends one marker (registry read lock held). Returns the Kafka error for the partition. */
static int16_t marker_append(marker_run_t *mr, broker_partition_t *p, int16_t epoch,
                             int32_t coordinator_epoch)
{
    if (!p->log || storage_log_offline(p->log))
        return KAFKA_KAFKA_STORAGE_ERROR;
    buf_t batch = {0};
    int64_t now = clock_wall_ms();
    marker_build(&batch, mr->pid, epoch, mr->commit, coordinator_epoch, now);
    pthread_mutex_lock(&p->append_mu);
    int16_t err = p->producers ? broker_producer_state_check_marker(p->producers, mr->pid, epoch)
                               : KAFKA_NONE;
    int64_t base = -1;
    if (!err) {
        int rc = storage_log_append(p->log, batch.data, batch.len, &base);
        if (rc < 0)
            err = KAFKA_KAFKA_STORAGE_ERROR;
        else if (p->producers)
            broker_producer_state_end_txn(p->producers, mr->pid, epoch, coordinator_epoch,
                                          mr->commit, base, now);
    }
    pthread_mutex_unlock(&p->append_mu);
    buf_deinit(&batch);
    if (err)
        return err;
    broker_watches_notify(p);
    if (p->topic->internal && strcmp(p->topic->name, OFFSETS_TOPIC) == 0)
        mr->offsets = true;
    marker_wait_t *mw = weir_calloc(1, sizeof(*mw));
    mw->run = mr;
    mr->outstanding++;
    storage_log_on_durable(p->log, base + 1, marker_durable, mw);
    return KAFKA_NONE;
}

/* Writes a marker to each partition (loop 0); done(arg, err) once all are durable. A partition
 * that does not exist is skipped (UNKNOWN_TOPIC_OR_PARTITION in errors); any other failure
 * makes err non-zero. */
static void markers_write(broker_txns_t *tx, int64_t pid, int16_t epoch, bool commit,
                          int32_t coordinator_epoch, const broker_txn_tp_t *parts, size_t n,
                          int16_t *errors, broker_txn_done_fn done, void *arg)
{
    marker_run_t *mr = weir_calloc(1, sizeof(*mr));
    mr->tx = tx;
    mr->pid = pid;
    mr->commit = commit;
    mr->outstanding = 1;
    mr->errors = errors;
    mr->done = done;
    mr->arg = arg;
    tx->markers_pending++;
    broker_t *b = tx->b;
    broker_topics_rdlock(b);
    for (size_t i = 0; i < n; i++) {
        broker_partition_t *p =
            broker_partition_find(b, parts[i].topic, strlen(parts[i].topic), parts[i].partition);
        int16_t err =
            p ? marker_append(mr, p, epoch, coordinator_epoch) : KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
        if (errors) /* WriteTxnMarkers: Kafka 4.4 answers a stale epoch with -1 */
            errors[i] = err == KAFKA_INVALID_PRODUCER_EPOCH ? KAFKA_UNKNOWN_SERVER_ERROR : err;
        if (err && err != KAFKA_UNKNOWN_TOPIC_OR_PARTITION && !mr->err)
            mr->err = -WEIR_EIO;
    }
    broker_topics_unlock(b);
    if (--mr->outstanding == 0)
        run_finish(mr);
}

static void env_write_markers(void *ctx, int64_t pid, int16_t epoch, bool commit,
                              const broker_txn_tp_t *parts, size_t nparts, broker_txn_done_fn done,
                              void *arg)
{
    markers_write(ctx, pid, epoch, commit, 0, parts, nparts, NULL, done, arg);
}

/* ---- the coordinator's environment -------------------------------------------------------------
 */

static int64_t env_now(void *ctx)
{
    (void)ctx;
    return clock_wall_ms();
}

static void env_timer_init(void *ctx, net_timer_t *t, net_fn fn, void *arg)
{
    (void)ctx;
    net_timer_init(t, fn, arg);
}

static void env_timer_start(void *ctx, net_timer_t *t, int64_t delay_ms)
{
    broker_txns_t *tx = ctx;
    net_timer_start(tx->loop, t, delay_ms);
}

static void env_timer_stop(void *ctx, net_timer_t *t)
{
    broker_txns_t *tx = ctx;
    net_timer_stop(tx->loop, t);
}

static int env_next_pid(void *ctx, int64_t *pid)
{
    broker_txns_t *tx = ctx;
    return tx->b->producer_ids ? broker_producer_ids_next(tx->b->producer_ids, pid) : -WEIR_ECLOSED;
}

static void env_write(void *ctx, const char *id, const uint8_t *key, size_t key_len,
                      const uint8_t *value, int32_t value_len, broker_txn_done_fn done, void *arg)
{
    broker_txns_t *tx = ctx;
    broker_coord_record_t rec = {
        .key = key, .key_len = key_len, .value = value, .value_len = value_len};
    broker_coord_log_write(tx->tlog, id, &rec, 1, done, arg);
}

/* ---- __transaction_state ----------------------------------------------------------------------
 */

static storage_log_t *tlog_acquire(void *ctx, int32_t part)
{
    broker_txns_t *tx = ctx;
    broker_topics_rdlock(tx->b);
    broker_partition_t *p = broker_partition_find(tx->b, TXN_TOPIC, sizeof(TXN_TOPIC) - 1, part);
    return p ? p->log : NULL;
}

static void tlog_release(void *ctx)
{
    broker_txns_t *tx = ctx;
    broker_topics_unlock(tx->b);
}

static void tlog_post(void *ctx, net_fn fn, void *arg)
{
    broker_txns_t *tx = ctx;
    net_loop_post(tx->loop, fn, arg);
}

static void tlog_appended(void *ctx, int32_t part)
{
    broker_txns_t *tx = ctx;
    broker_partition_t *p = broker_partition_find(tx->b, TXN_TOPIC, sizeof(TXN_TOPIC) - 1, part);
    if (p)
        broker_watches_notify(p);
}

static int txn_topic_ensure(broker_t *b, int32_t *nparts)
{
    broker_topics_rdlock(b);
    broker_topic_t *t = broker_topic_find(b, TXN_TOPIC, sizeof(TXN_TOPIC) - 1);
    *nparts = t ? t->npart : 0;
    broker_topics_unlock(b);
    if (t)
        return 0;
    broker_topic_overrides_t over;
    memset(&over, 0, sizeof(over));
    over.val[TCFG_CLEANUP_POLICY] = weir_strdup("compact");
    char seg[32];
    snprintf(seg, sizeof(seg), "%" PRId64,
             broker_settings_int(&b->set, BCFG_TRANSACTION_STATE_LOG_SEGMENT_BYTES));
    over.val[TCFG_SEGMENT_BYTES] = weir_strdup(seg);
    broker_err_t err;
    int32_t n = (int32_t)broker_settings_int(&b->set, BCFG_TRANSACTION_STATE_LOG_NUM_PARTITIONS);
    int rc = broker_topic_create_with(b, TXN_TOPIC, n, &over, false, NULL, &err);
    broker_topic_overrides_free(&over);
    if (rc < 0 && rc != -WEIR_EEXIST) {
        log_error("txn", "cannot create %s: %s (%s)", TXN_TOPIC, wire_err_name(err.code),
                  err.message);
        return -WEIR_EIO;
    }
    *nparts = n;
    return 0;
}

static int txn_record(void *arg, const storage_batch_header_t *h, const storage_record_t *rec)
{
    (void)h;
    return broker_txnc_replay(arg, rec->key, rec->key_len < 0 ? 0 : (size_t)rec->key_len,
                              rec->value, rec->value_len);
}

/* ---- start / stop ------------------------------------------------------------------------------
 */

typedef struct {
    broker_txns_t *tx;
    int rc;
} start_call_t;

static void start_on_loop0(void *arg)
{
    start_call_t *sc = arg;
    broker_txns_t *tx = sc->tx;
    broker_t *b = tx->b;
    broker_txn_config_t cfg;
    broker_txn_config_default(&cfg);
    cfg.max_timeout_ms = (int32_t)broker_settings_int(&b->set, BCFG_TRANSACTION_MAX_TIMEOUT_MS);
    cfg.id_expiration_ms = broker_settings_int(&b->set, BCFG_TRANSACTIONAL_ID_EXPIRATION_MS);
    cfg.abort_check_ms = broker_settings_int(
        &b->set, BCFG_TRANSACTION_ABORT_TIMED_OUT_TRANSACTION_CLEANUP_INTERVAL_MS);
    cfg.expire_check_ms = broker_settings_int(
        &b->set, BCFG_TRANSACTION_REMOVE_EXPIRED_TRANSACTION_CLEANUP_INTERVAL_MS);
    cfg.max_transactional_ids =
        (size_t)broker_settings_int(&b->set, BCFG_TRANSACTIONAL_ID_MAX_COUNT);
    broker_txn_env_t env = {.ctx = tx,
                            .now_ms = env_now,
                            .timer_init = env_timer_init,
                            .timer_start = env_timer_start,
                            .timer_stop = env_timer_stop,
                            .next_producer_id = env_next_pid,
                            .write = env_write,
                            .write_markers = env_write_markers,
                            .publish = env_publish};
    sc->rc = broker_txnc_new(&cfg, &env, &tx->coord);
    if (sc->rc == 0)
        sc->rc = broker_coord_log_replay(tx->tlog, txn_record, NULL, tx->coord);
    if (sc->rc == 0) {
        broker_txnc_load_finish(tx->coord);
        log_info("txn", "transaction coordinator: %zu transactional ids",
                 broker_txnc_count(tx->coord));
    }
}

int broker_txns_start(broker_t *b)
{
    broker_txns_t *tx = weir_calloc(1, sizeof(*tx));
    tx->b = b;
    tx->loop = b->loops[0];
    pthread_mutex_init(&tx->open_mu, NULL);
    broker_kvmap_init(&tx->open);
    b->txns = tx;
    int rc = txn_topic_ensure(b, &tx->nparts);
    if (rc < 0)
        return rc;
    broker_coord_log_config_t oc = {.count = tx->nparts,
                                    .acquire = tlog_acquire,
                                    .release = tlog_release,
                                    .post = tlog_post,
                                    .appended = tlog_appended,
                                    .ctx = tx,
                                    .topic = TXN_TOPIC,
                                    .max_decompressed_bytes = (size_t)broker_settings_int(
                                        &b->set, BCFG_MAX_DECOMPRESSED_BYTES)};
    rc = broker_coord_log_new(&oc, &tx->tlog);
    if (rc < 0)
        return rc;
    start_call_t sc = {tx, 0};
    net_loop_call(tx->loop, start_on_loop0, &sc);
    return sc.rc;
}

static void flush_on_loop0(void *arg)
{
    broker_txns_t *tx = arg;
    for (int32_t i = 0; tx->tlog && i < tx->nparts; i++) {
        storage_log_t *log = tlog_acquire(tx, i);
        if (log)
            storage_log_flush(log);
        tlog_release(tx);
    }
}

typedef struct {
    broker_txns_t *tx;
    size_t pending;
} pending_call_t;

static void pending_on_loop0(void *arg)
{
    pending_call_t *pc = arg;
    broker_txns_t *tx = pc->tx;
    pc->pending = tx->markers_pending + (tx->coord ? broker_txnc_writes_pending(tx->coord) : 0);
}

static void stop_on_loop0(void *arg)
{
    broker_txns_t *tx = arg;
    if (!tx->coord && !tx->tlog)
        return;
    pending_call_t pc = {tx, 0};
    pending_on_loop0(&pc);
    if (pc.pending == 0) {
        broker_txnc_free(tx->coord);
        broker_coord_log_free(tx->tlog);
    } else {
        log_warn("txn", "%zu transaction writes never completed", pc.pending);
    }
    tx->coord = NULL;
    tx->tlog = NULL;
}

void broker_txns_stop(broker_t *b)
{
    broker_txns_t *tx = txns_of(b);
    if (!tx || !tx->loop || b->nloops == 0)
        return;
    for (int i = 0; i < 5000; i++) { /* writes and markers in flight finish once durable */
        net_loop_call(tx->loop, flush_on_loop0, tx);
        pending_call_t pc = {tx, 0};
        net_loop_call(tx->loop, pending_on_loop0, &pc);
        if (pc.pending == 0)
            break;
        usleep(1000);
    }
    net_loop_call(tx->loop, stop_on_loop0, tx);
}

void broker_txns_free(broker_t *b)
{
    broker_txns_t *tx = txns_of(b);
    if (!tx)
        return;
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &tx->open);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        open_free(e->value);
    broker_kvmap_deinit(&tx->open);
    pthread_mutex_destroy(&tx->open_mu);
    free(tx);
    b->txns = NULL;
}

/* ---- the transaction API: every request runs on loop 0 ------------------------------------------
 */

enum { OP_INIT, OP_ADD, OP_END, OP_DESCRIBE, OP_LIST, OP_MARKERS };

static void op_done(void *arg)
{
    broker_txn_op_t *op = arg;
    op->on_done(op);
}

static void add_unavailable(broker_txn_add_req_t *r, int16_t err)
{
    r->error = err;
    for (size_t i = 0; i < r->part_count; i++)
        r->parts[i].error = err;
}

/* AddPartitionsToTxn's checks before the coordinator (Kafka's KafkaApis): an unknown partition
 * fails the whole request, the others answer OPERATION_NOT_ATTEMPTED. */
static bool add_check_partitions(broker_t *b, broker_txn_add_req_t *r)
{
    bool bad = false;
    broker_topics_rdlock(b);
    for (size_t i = 0; i < r->part_count; i++) {
        broker_txn_part_t *p = &r->parts[i];
        p->error = broker_partition_find(b, p->topic, strlen(p->topic), p->partition)
                       ? KAFKA_NONE
                       : KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
        bad |= p->error != KAFKA_NONE;
    }
    broker_topics_unlock(b);
    if (bad)
        for (size_t i = 0; i < r->part_count; i++)
            if (!r->parts[i].error)
                r->parts[i].error = KAFKA_OPERATION_NOT_ATTEMPTED;
    return !bad;
}

typedef struct {
    broker_txn_op_t *op;
    broker_txn_add_req_t *req;
    broker_txn_part_t part; /* AddOffsetsToTxn's one partition */
    char topic[sizeof(OFFSETS_TOPIC)];
} add_offsets_t;

static void add_offsets_done(void *arg)
{
    add_offsets_t *ao = arg;
    ao->req->error = ao->part.error;
    ao->req->parts = NULL;
    ao->req->part_count = 0;
    broker_txn_op_t *op = ao->op;
    free(ao);
    op->on_done(op);
}

static void add_run(broker_txns_t *tx, broker_txn_op_t *op)
{
    broker_txn_add_req_t *r = op->req;
    if (r->group_id) { /* AddOffsetsToTxn: the group's partition of __consumer_offsets */
        add_offsets_t *ao = weir_calloc(1, sizeof(*ao));
        ao->op = op;
        ao->req = r;
        memcpy(ao->topic, OFFSETS_TOPIC, sizeof(OFFSETS_TOPIC));
        ao->part = (broker_txn_part_t){
            ao->topic,
            broker_coord_partition_for(
                r->group_id,
                (int32_t)broker_settings_int(&tx->b->set, BCFG_OFFSETS_TOPIC_NUM_PARTITIONS)),
            0};
        r->parts = &ao->part;
        r->part_count = 1;
        broker_txnc_add_partitions(tx->coord, r, add_offsets_done, ao);
        return;
    }
    if (!r->verify_only && !add_check_partitions(tx->b, r)) {
        r->error = KAFKA_NONE;
        op->on_done(op);
        return;
    }
    broker_txnc_add_partitions(tx->coord, r, op_done, op);
}

static void describe_run(broker_txns_t *tx, broker_txn_op_t *op)
{
    broker_txn_describe_req_t *r = op->req;
    /* Each item's partitions live in the coordinator until its next call: copy them. */
    broker_txn_part_t **copies = weir_calloc(r->count + 1, sizeof(*copies));
    for (size_t i = 0; i < r->count; i++) {
        broker_txn_describe_item_t *it = &r->items[i];
        if (!tx->coord) {
            it->error = KAFKA_COORDINATOR_NOT_AVAILABLE;
            it->part_count = 0;
            continue;
        }
        broker_txnc_describe(tx->coord, it);
        copies[i] = weir_calloc(it->part_count + 1, sizeof(**copies));
        if (it->part_count)
            memcpy(copies[i], it->parts, it->part_count * sizeof(**copies));
        it->parts = copies[i];
    }
    size_t n = r->count;
    op->on_done(op); /* may free r */
    for (size_t i = 0; i < n; i++)
        free(copies[i]);
    free(copies);
}

typedef struct {
    broker_txn_op_t *op;
    broker_txn_markers_req_t *req;
    size_t left;
    int16_t **errors;
    broker_txn_tp_t **parts;
} markers_req_t;

static void markers_req_one_done(void *arg, int err)
{
    markers_req_t *m = arg;
    (void)err;
    if (--m->left > 0)
        return;
    broker_txn_markers_req_t *r = m->req;
    for (size_t i = 0; i < r->count; i++) {
        for (size_t j = 0; j < r->markers[i].part_count; j++)
            r->markers[i].parts[j].error = m->errors[i][j];
        free(m->errors[i]);
        free(m->parts[i]);
    }
    free(m->errors);
    free(m->parts);
    broker_txn_op_t *op = m->op;
    free(m);
    op->on_done(op);
}

static void markers_run(broker_txns_t *tx, broker_txn_op_t *op)
{
    broker_txn_markers_req_t *r = op->req;
    markers_req_t *m = weir_calloc(1, sizeof(*m));
    m->op = op;
    m->req = r;
    m->left = r->count + 1;
    m->errors = weir_calloc(r->count + 1, sizeof(*m->errors));
    m->parts = weir_calloc(r->count + 1, sizeof(*m->parts));
    for (size_t i = 0; i < r->count; i++) {
        broker_txn_marker_t *mk = &r->markers[i];
        m->errors[i] = weir_calloc(mk->part_count + 1, sizeof(int16_t));
        m->parts[i] = weir_calloc(mk->part_count + 1, sizeof(broker_txn_tp_t));
        for (size_t j = 0; j < mk->part_count; j++)
            m->parts[i][j] = (broker_txn_tp_t){(char *)mk->parts[j].topic, mk->parts[j].partition};
        markers_write(tx, mk->producer_id, mk->producer_epoch, mk->commit, mk->coordinator_epoch,
                      m->parts[i], mk->part_count, m->errors[i], markers_req_one_done, m);
    }
    markers_req_one_done(m, 0);
}

static void op_unavailable(broker_txn_op_t *op)
{
    const int16_t na = KAFKA_COORDINATOR_NOT_AVAILABLE;
    switch (op->kind) {
    case OP_INIT:
        ((broker_txn_init_req_t *)op->req)->error = na;
        break;
    case OP_ADD:
        add_unavailable(op->req, na);
        break;
    case OP_END:
        ((broker_txn_end_req_t *)op->req)->error = na;
        break;
    case OP_LIST:
        ((broker_txn_list_req_t *)op->req)->error = na;
        ((broker_txn_list_req_t *)op->req)->count = 0;
        ((broker_txn_list_req_t *)op->req)->unknown_count = 0;
        break;
    default:
        break;
    }
    op->on_done(op);
}

static void op_run(void *arg)
{
    broker_txn_op_t *op = arg;
    broker_txns_t *tx = txns_of(op->b);
    if (op->kind == OP_DESCRIBE) {
        describe_run(tx, op);
        return;
    }
    if (!tx || !tx->coord) {
        op_unavailable(op);
        return;
    }
    switch (op->kind) {
    case OP_INIT:
        broker_txnc_init_producer_id(tx->coord, op->req, op_done, op);
        break;
    case OP_ADD:
        add_run(tx, op);
        break;
    case OP_END:
        broker_txnc_end(tx->coord, op->req, op_done, op);
        break;
    case OP_LIST:
        broker_txnc_list(tx->coord, op->req);
        op->on_done(op);
        break;
    case OP_MARKERS:
        markers_run(tx, op);
        break;
    default:
        WEIR_ASSERT(!"unknown transaction op");
    }
}

static void op_post(broker_t *b, int kind, void *req, broker_txn_op_t *op)
{
    op->b = b;
    op->kind = kind;
    op->req = req;
    net_loop_t *loop = b->loops[0];
    if (net_loop_is_current(loop))
        op_run(op);
    else
        net_loop_post(loop, op_run, op);
}

void broker_txn_init_producer_id(broker_t *b, broker_txn_init_req_t *req, broker_txn_op_t *op)
{
    op_post(b, OP_INIT, req, op);
}

void broker_txn_add_partitions(broker_t *b, broker_txn_add_req_t *req, broker_txn_op_t *op)
{
    op_post(b, OP_ADD, req, op);
}

void broker_txn_end(broker_t *b, broker_txn_end_req_t *req, broker_txn_op_t *op)
{
    op_post(b, OP_END, req, op);
}

void broker_txn_describe(broker_t *b, broker_txn_describe_req_t *req, broker_txn_op_t *op)
{
    op_post(b, OP_DESCRIBE, req, op);
}

void broker_txn_list(broker_t *b, broker_txn_list_req_t *req, broker_txn_op_t *op)
{
    op_post(b, OP_LIST, req, op);
}

void broker_txn_write_markers(broker_t *b, broker_txn_markers_req_t *req, broker_txn_op_t *op)
{
    op_post(b, OP_MARKERS, req, op);
}

int16_t broker_txn_check_offsets(broker_t *b, const char *transactional_id, int64_t producer_id,
                                 int16_t epoch, int32_t offsets_partition)
{
    broker_txns_t *tx = txns_of(b);
    if (!tx || !tx->coord)
        return KAFKA_COORDINATOR_NOT_AVAILABLE;
    return broker_txnc_check_partition(tx->coord, transactional_id, producer_id, epoch,
                                       OFFSETS_TOPIC, offsets_partition);
}

int broker_describe_producers(broker_t *b, const char *topic, size_t len, int32_t partition,
                              broker_producer_desc_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc = 0;
    broker_topics_rdlock(b);
    broker_partition_t *p = broker_partition_find(b, topic, len, partition);
    if (!p)
        rc = -WEIR_ENOENT;
    else if (!p->log || storage_log_offline(p->log))
        rc = -WEIR_EOFFLINE;
    else if (p->producers)
        *n = broker_producer_state_list(p->producers, out);
    broker_topics_unlock(b);
    return rc;
}
