/*
 * txn.c: the transaction coordinator's state machine (see txn.h).
 *
 * Every change of an entry is a write of its new value to __transaction_state; the value is
 * applied to memory only once the write is durable (write_done), and while it is in flight the
 * entry is `pending`. An entry in PrepareCommit/PrepareAbort has its markers written
 * (`markers`); when they are durable CompleteCommit/CompleteAbort is written. A failed marker
 * or Complete write is retried by the retry timer, so a transaction never stays undecided.
 *
 * Entries are freed only when no write or marker of theirs is in flight (expiry skips those;
 * the broker drains writes before broker_txnc_free).
 */
#include "broker/txn.h"

#include "broker/kvmap.h"

#include <inttypes.h>
#include <stdlib.h>

enum { RETRY_MS = 1000 };

typedef struct {
    broker_txnc_t *c;
    char *id;
    int64_t pid, last_pid;
    int16_t epoch, last_epoch;
    int32_t timeout_ms;
    broker_txn_state_t state;
    broker_txn_tp_t *parts;
    size_t nparts, capparts;
    int64_t start_ms, update_ms;
    bool pending;      /* a write of its value is in flight */
    bool markers;      /* its markers are being written */
    bool retry;        /* Prepare*: markers or Complete to be tried again */
    bool failed_fence; /* a fencing bump was not written: do not bump twice */
} txn_t;

struct broker_txnc {
    broker_txn_config_t cfg;
    broker_txn_env_t env;
    broker_kvmap_t txns; /* id -> txn_t */
    size_t writes_pending;
    net_timer_t abort_timer, expire_timer, retry_timer;
    bool retry_armed;
    /* answers of describe/list: valid until the next call */
    broker_txn_part_t *out_parts;
    broker_txn_listing_t *out_list;
    const char **out_unknown;
};

typedef enum { W_INIT, W_ADD, W_PREPARE, W_COMPLETE, W_EXPIRE } write_kind_t;

typedef struct {
    txn_t *t;
    write_kind_t kind;
    broker_txn_value_t v; /* the value written, applied once durable */
    int64_t last_pid;     /* W_INIT: the previous producer id and epoch, once applied */
    int16_t last_epoch;
    bool fence;               /* W_PREPARE: the epoch was bumped to fence the producer */
    broker_txn_reply_fn done; /* NULL: nobody waits */
    void *arg;
    void *req;           /* W_INIT, W_ADD: the request; W_PREPARE: an int16_t error out */
    int16_t reply_error; /* W_PREPARE: what the waiter gets on success */
} txn_write_t;

void broker_txn_config_default(broker_txn_config_t *cfg)
{
    cfg->max_timeout_ms = 900000;
    cfg->id_expiration_ms = 7LL * 24 * 3600 * 1000;
    cfg->abort_check_ms = 10000;
    cfg->expire_check_ms = 3600000;
    cfg->max_transactional_ids = 100000;
}

static bool epoch_exhausted(int16_t epoch)
{
    return epoch >= INT16_MAX - 1;
}

/* ---- entries ------------------------------------------------------------------------------------
 */

static txn_t *txn_find(broker_txnc_t *c, const char *id)
{
    return broker_kvmap_sget(&c->txns, id);
}

static txn_t *txn_add(broker_txnc_t *c, const char *id)
{
    txn_t *t = weir_calloc(1, sizeof(*t));
    t->c = c;
    t->id = weir_strdup(id);
    t->pid = t->last_pid = -1;
    t->epoch = t->last_epoch = -1;
    t->state = TXN_EMPTY;
    t->start_ms = -1;
    broker_kvmap_sput(&c->txns, id, t);
    return t;
}

static void parts_clear(txn_t *t)
{
    for (size_t i = 0; i < t->nparts; i++)
        free(t->parts[i].topic);
    t->nparts = 0;
}

static void txn_free(txn_t *t)
{
    parts_clear(t);
    free(t->parts);
    free(t->id);
    free(t);
}

static void txn_remove(txn_t *t)
{
    broker_kvmap_sdel(&t->c->txns, t->id);
    txn_free(t);
}

static bool parts_has(const broker_txn_tp_t *v, size_t n, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].partition == partition && strcmp(v[i].topic, topic) == 0)
            return true;
    return false;
}

/* The entry's current value, with its partitions shared (not copied). */
static broker_txn_value_t value_of(const txn_t *t)
{
    return (broker_txn_value_t){.producer_id = t->pid,
                                .epoch = t->epoch,
                                .timeout_ms = t->timeout_ms,
                                .state = t->state,
                                .parts = t->parts,
                                .nparts = t->nparts,
                                .update_ms = t->update_ms,
                                .start_ms = t->start_ms};
}

static broker_txn_tp_t *parts_copy(const broker_txn_tp_t *v, size_t n)
{
    broker_txn_tp_t *out = weir_malloc((n ? n : 1) * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = (broker_txn_tp_t){weir_strdup(v[i].topic), v[i].partition};
    return out;
}

/* Applies a durable value to the entry (takes v's partitions). */
static void apply_value(txn_t *t, broker_txn_value_t *v)
{
    parts_clear(t);
    free(t->parts);
    t->parts = v->parts;
    t->nparts = t->capparts = v->nparts;
    v->parts = NULL;
    v->nparts = 0;
    t->pid = v->producer_id;
    t->epoch = v->epoch;
    t->timeout_ms = v->timeout_ms;
    t->state = v->state;
    t->update_ms = v->update_ms;
    t->start_ms = v->start_ms;
}

static void publish(txn_t *t)
{
    broker_txnc_t *c = t->c;
    if (!c->env.publish || t->pid < 0 || t->epoch < 0)
        return;
    bool open = t->state == TXN_ONGOING;
    c->env.publish(c->env.ctx, t->pid, t->epoch, open ? t->parts : NULL, open ? t->nparts : 0);
}

static void unpublish(broker_txnc_t *c, int64_t pid)
{
    if (c->env.publish && pid >= 0)
        c->env.publish(c->env.ctx, pid, -1, NULL, 0);
}

/* ---- writes -------------------------------------------------------------------------------------
 */

static void start_markers(txn_t *t);
static void retry_arm(broker_txnc_t *c);

static void write_done(void *arg, int err)
{
    txn_write_t *w = arg;
    txn_t *t = w->t;
    broker_txnc_t *c = t->c;
    c->writes_pending--;
    t->pending = false;
    int16_t code = err ? KAFKA_COORDINATOR_NOT_AVAILABLE : KAFKA_NONE;
    if (err)
        log_warn("txn", "writing the state of transactional id '%s' failed: %s", t->id,
                 weir_strerror(err));
    switch (w->kind) {
    case W_INIT: {
        broker_txn_init_req_t *req = w->req;
        if (!err) {
            if (w->v.producer_id != t->pid) /* rotated: the old id is gone */
                unpublish(c, t->pid);
            apply_value(t, &w->v);
            t->last_pid = w->last_pid;
            t->last_epoch = w->last_epoch;
            t->failed_fence = false;
            publish(t);
        }
        req->error = code;
        req->out_producer_id = err ? -1 : t->pid;
        req->out_epoch = err ? -1 : t->epoch;
        break;
    }
    case W_ADD: {
        broker_txn_add_req_t *req = w->req;
        if (!err) {
            apply_value(t, &w->v);
            publish(t);
        }
        req->error = code;
        for (size_t i = 0; i < req->part_count; i++)
            req->parts[i].error = code;
        break;
    }
    case W_PREPARE:
        if (!err) {
            apply_value(t, &w->v);
            t->failed_fence = false;
            publish(t); /* closed: no more transactional batches */
        } else if (w->fence) {
            t->failed_fence = true; /* the bump did not land: the next fence reuses it */
        }
        if (w->req)
            *(int16_t *)w->req = err ? code : w->reply_error;
        break;
    case W_COMPLETE:
        if (!err) {
            apply_value(t, &w->v);
        } else {
            t->retry = true;
            retry_arm(c);
        }
        break;
    case W_EXPIRE:
        break;
    }
    broker_txn_value_free(&w->v);
    if (w->done)
        w->done(w->arg);
    bool expired = w->kind == W_EXPIRE && !err;
    bool prepared = w->kind == W_PREPARE && !err;
    free(w);
    if (expired) {
        unpublish(c, t->pid);
        txn_remove(t);
    } else if (prepared)
        start_markers(t);
}

static txn_write_t *write_new(txn_t *t, write_kind_t kind, broker_txn_value_t *v, void *req,
                              broker_txn_reply_fn done, void *arg)
{
    txn_write_t *w = weir_calloc(1, sizeof(*w));
    w->t = t;
    w->kind = kind;
    w->v = *v;
    w->req = req;
    w->done = done;
    w->arg = arg;
    w->last_pid = t->last_pid;
    w->last_epoch = t->last_epoch;
    return w;
}

/* Writes w->v (which w owns) for its entry; write_done finishes the request. */
static void write_start(txn_write_t *w)
{
    txn_t *t = w->t;
    broker_txnc_t *c = t->c;
    write_kind_t kind = w->kind;
    buf_t key = {0}, value = {0};
    broker_txn_key_encode(&key, t->id);
    if (kind != W_EXPIRE)
        broker_txn_value_encode(&value, &w->v);
    t->pending = true;
    c->writes_pending++;
    c->env.write(c->env.ctx, t->id, key.data, key.len, kind == W_EXPIRE ? NULL : value.data,
                 kind == W_EXPIRE ? -1 : (int32_t)value.len, write_done, w);
    buf_deinit(&key);
    buf_deinit(&value);
}

static void txn_write(txn_t *t, write_kind_t kind, broker_txn_value_t *v, void *req,
                      broker_txn_reply_fn done, void *arg)
{
    write_start(write_new(t, kind, v, req, done, arg));
}

/* ---- markers and completion -------------------------------------------------------------------
 */

static void markers_done(void *arg, int err)
{
    txn_t *t = arg;
    broker_txnc_t *c = t->c;
    t->markers = false;
    if (err) {
        log_warn("txn", "markers of transactional id '%s' (producer %" PRId64 "): %s; retrying",
                 t->id, t->pid, weir_strerror(err));
        t->retry = true;
        retry_arm(c);
        return;
    }
    broker_txn_value_t v = value_of(t);
    v.state = t->state == TXN_PREPARE_COMMIT ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT;
    v.parts = NULL;
    v.nparts = 0;
    v.update_ms = c->env.now_ms(c->env.ctx);
    txn_write(t, W_COMPLETE, &v, NULL, NULL, NULL);
}

static void start_markers(txn_t *t)
{
    broker_txnc_t *c = t->c;
    if (t->state != TXN_PREPARE_COMMIT && t->state != TXN_PREPARE_ABORT)
        return;
    t->markers = true;
    t->retry = false;
    c->env.write_markers(c->env.ctx, t->pid, t->epoch, t->state == TXN_PREPARE_COMMIT, t->parts,
                         t->nparts, markers_done, t);
}

static void retry_fired(void *arg)
{
    broker_txnc_t *c = arg;
    c->retry_armed = false;
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->txns);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        txn_t *t = e->value;
        if (!t->retry || t->pending || t->markers)
            continue;
        start_markers(t); /* markers again (harmless twice), then Complete */
    }
}

static void retry_arm(broker_txnc_t *c)
{
    if (c->retry_armed)
        return;
    c->retry_armed = true;
    c->env.timer_start(c->env.ctx, &c->retry_timer, RETRY_MS);
}

/* Ongoing -> PrepareCommit/PrepareAbort; *error_out (if any) gets reply_error once durable.
 * fence: bump the epoch first (a timeout, or InitProducerId finding the transaction open), so
 * the old producer's next request is refused. */
static void prepare_end(txn_t *t, bool commit, bool fence, int16_t *error_out, int16_t reply_error,
                        broker_txn_reply_fn done, void *arg)
{
    broker_txnc_t *c = t->c;
    broker_txn_value_t v = value_of(t);
    v.parts = parts_copy(t->parts, t->nparts);
    v.state = commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT;
    v.update_ms = c->env.now_ms(c->env.ctx);
    bool bump = fence && !t->failed_fence && t->epoch < INT16_MAX;
    if (bump) {
        v.epoch = (int16_t)(t->epoch + 1);
        t->last_epoch = -1;
    }
    txn_write_t *w = write_new(t, W_PREPARE, &v, error_out, done, arg);
    w->fence = fence;
    w->reply_error = reply_error;
    write_start(w);
}

/* ---- InitProducerId -----------------------------------------------------------------------------
 */

static bool valid_expected(const txn_t *t, const broker_txn_init_req_t *req)
{
    if (req->producer_id < 0)
        return true;
    return t->epoch < 0 || req->producer_id == t->pid ||
           (req->producer_id == t->last_pid && epoch_exhausted(req->producer_epoch));
}

void broker_txnc_init_producer_id(broker_txnc_t *c, broker_txn_init_req_t *req,
                                  broker_txn_reply_fn done, void *arg)
{
    req->out_producer_id = -1;
    req->out_epoch = -1;
    req->error = KAFKA_NONE;
    const char *id = req->transactional_id;
    if (!id || !*id) {
        req->error = KAFKA_INVALID_REQUEST;
    } else if (req->timeout_ms <= 0 || req->timeout_ms > c->cfg.max_timeout_ms) {
        req->error = KAFKA_INVALID_TRANSACTION_TIMEOUT;
    } else if ((req->producer_id < 0) != (req->producer_epoch < 0)) {
        req->error = KAFKA_INVALID_REQUEST;
    }
    if (req->error) {
        done(arg);
        return;
    }
    txn_t *t = txn_find(c, id);
    if (!t) {
        int64_t pid;
        if (c->txns.count >= c->cfg.max_transactional_ids) {
            log_warn("txn",
                     "%zu transactional ids (weir.transactional.id.max.count): refusing "
                     "'%s' until some expire",
                     c->txns.count, id);
            req->error = KAFKA_COORDINATOR_NOT_AVAILABLE;
        } else if (c->env.next_producer_id(c->env.ctx, &pid) < 0) {
            req->error = KAFKA_COORDINATOR_NOT_AVAILABLE;
        } else {
            t = txn_add(c, id);
            t->pid = pid;
            t->timeout_ms = req->timeout_ms;
        }
        if (req->error) {
            done(arg);
            return;
        }
    }
    if (t->pending || t->markers) {
        req->error = KAFKA_CONCURRENT_TRANSACTIONS;
    } else if (!valid_expected(t, req)) {
        req->error = KAFKA_PRODUCER_FENCED;
    } else if (t->state == TXN_PREPARE_COMMIT || t->state == TXN_PREPARE_ABORT) {
        req->error = KAFKA_CONCURRENT_TRANSACTIONS;
    } else if (t->state == TXN_ONGOING) {
        /* Abort it with the epoch bumped (the old producer is fenced), and answer
         * CONCURRENT_TRANSACTIONS once that is durable: the client retries and then gets
         * the epoch after it. */
        prepare_end(t, false, true, &req->error, KAFKA_CONCURRENT_TRANSACTIONS, done, arg);
        return;
    }
    if (req->error) {
        done(arg);
        return;
    }
    /* Empty, CompleteCommit, CompleteAbort: the next epoch (or a new producer id). */
    int64_t now = c->env.now_ms(c->env.ctx);
    broker_txn_value_t v = {.producer_id = t->pid,
                            .epoch = t->epoch,
                            .timeout_ms = req->timeout_ms,
                            .state = TXN_EMPTY,
                            .update_ms = now,
                            .start_ms = -1};
    int64_t last_pid = t->last_pid;
    int16_t last_epoch;
    if (epoch_exhausted(t->epoch) && (req->producer_id < 0 || req->producer_epoch == t->epoch)) {
        int64_t pid;
        if (c->env.next_producer_id(c->env.ctx, &pid) < 0) {
            req->error = KAFKA_COORDINATOR_NOT_AVAILABLE;
            done(arg);
            return;
        }
        last_pid = t->pid;
        v.producer_id = pid;
        v.epoch = 0;
        last_epoch = req->producer_id >= 0 ? t->epoch : -1;
    } else if (req->producer_id < 0 || t->epoch < 0 || req->producer_epoch == t->epoch) {
        last_epoch = req->producer_id >= 0 ? t->epoch : -1;
        v.epoch = (int16_t)(t->epoch + 1);
    } else if (req->producer_epoch == t->last_epoch) {
        /* a retry of a bump whose answer was lost: the same epoch again */
        last_epoch = t->last_epoch;
    } else {
        req->error = KAFKA_PRODUCER_FENCED;
        done(arg);
        return;
    }
    txn_write_t *w = write_new(t, W_INIT, &v, req, done, arg);
    w->last_pid = last_pid;
    w->last_epoch = last_epoch;
    write_start(w);
}

/* ---- AddPartitionsToTxn / AddOffsetsToTxn -------------------------------------------------------
 */

static int16_t check_producer(const txn_t *t, int64_t pid, int16_t epoch)
{
    if (!t || t->pid != pid)
        return KAFKA_INVALID_PRODUCER_ID_MAPPING;
    if (t->epoch != epoch)
        return KAFKA_PRODUCER_FENCED;
    return KAFKA_NONE;
}

static void add_fail(broker_txn_add_req_t *req, int16_t err, broker_txn_reply_fn done, void *arg)
{
    req->error = err;
    for (size_t i = 0; i < req->part_count; i++)
        req->parts[i].error = err;
    done(arg);
}

void broker_txnc_add_partitions(broker_txnc_t *c, broker_txn_add_req_t *req,
                                broker_txn_reply_fn done, void *arg)
{
    const char *id = req->transactional_id;
    if (!id || !*id) {
        add_fail(req, KAFKA_INVALID_REQUEST, done, arg);
        return;
    }
    txn_t *t = txn_find(c, id);
    int16_t err = check_producer(t, req->producer_id, req->producer_epoch);
    if (err) {
        add_fail(req, err, done, arg);
        return;
    }
    if (req->verify_only) {
        req->error = KAFKA_NONE;
        for (size_t i = 0; i < req->part_count; i++)
            req->parts[i].error =
                t->state == TXN_ONGOING &&
                        parts_has(t->parts, t->nparts, req->parts[i].topic, req->parts[i].partition)
                    ? KAFKA_NONE
                    : KAFKA_TRANSACTION_ABORTABLE; /* Kafka 4.4's answer, even at v4 */
        done(arg);
        return;
    }
    if (t->pending || t->markers || t->state == TXN_PREPARE_COMMIT ||
        t->state == TXN_PREPARE_ABORT) {
        add_fail(req, KAFKA_CONCURRENT_TRANSACTIONS, done, arg);
        return;
    }
    bool subset = t->state == TXN_ONGOING;
    for (size_t i = 0; i < req->part_count && subset; i++)
        subset = parts_has(t->parts, t->nparts, req->parts[i].topic, req->parts[i].partition);
    if (subset) {
        add_fail(req, KAFKA_NONE, done, arg);
        return;
    }
    int64_t now = c->env.now_ms(c->env.ctx);
    broker_txn_value_t v = value_of(t);
    size_t n = t->state == TXN_ONGOING ? t->nparts : 0;
    v.parts = parts_copy(t->parts, n);
    v.parts = weir_realloc(v.parts, (n + req->part_count + 1) * sizeof(*v.parts));
    v.nparts = n;
    for (size_t i = 0; i < req->part_count; i++) {
        const broker_txn_part_t *p = &req->parts[i];
        if (!parts_has(v.parts, v.nparts, p->topic, p->partition))
            v.parts[v.nparts++] = (broker_txn_tp_t){weir_strdup(p->topic), p->partition};
    }
    if (t->state != TXN_ONGOING)
        v.start_ms = now;
    v.state = TXN_ONGOING;
    v.update_ms = now;
    txn_write(t, W_ADD, &v, req, done, arg);
}

int16_t broker_txnc_check_partition(broker_txnc_t *c, const char *transactional_id,
                                    int64_t producer_id, int16_t epoch, const char *topic,
                                    int32_t partition)
{
    if (!transactional_id || !*transactional_id)
        return KAFKA_INVALID_REQUEST;
    txn_t *t = txn_find(c, transactional_id);
    int16_t err = check_producer(t, producer_id, epoch);
    if (err)
        return err;
    if (t->state != TXN_ONGOING || !parts_has(t->parts, t->nparts, topic, partition))
        return KAFKA_INVALID_TXN_STATE;
    return KAFKA_NONE;
}

/* ---- EndTxn ------------------------------------------------------------------------------------
 */

void broker_txnc_end(broker_txnc_t *c, broker_txn_end_req_t *req, broker_txn_reply_fn done,
                     void *arg)
{
    const char *id = req->transactional_id;
    req->error = KAFKA_NONE;
    txn_t *t = id && *id ? txn_find(c, id) : NULL;
    if (!id || !*id)
        req->error = KAFKA_INVALID_REQUEST;
    else if (!t || t->pid != req->producer_id)
        req->error = KAFKA_INVALID_PRODUCER_ID_MAPPING;
    else if (req->producer_epoch != t->epoch)
        req->error = KAFKA_PRODUCER_FENCED;
    else if (t->pending)
        req->error = KAFKA_CONCURRENT_TRANSACTIONS;
    else if (t->state == TXN_ONGOING) {
        prepare_end(t, req->commit, false, &req->error, KAFKA_NONE, done, arg);
        return;
    } else if (t->state == TXN_COMPLETE_COMMIT)
        req->error = req->commit ? KAFKA_NONE : KAFKA_INVALID_TXN_STATE;
    else if (t->state == TXN_COMPLETE_ABORT)
        req->error = req->commit ? KAFKA_INVALID_TXN_STATE : KAFKA_NONE;
    else if (t->state == TXN_PREPARE_COMMIT)
        req->error = req->commit ? KAFKA_CONCURRENT_TRANSACTIONS : KAFKA_INVALID_TXN_STATE;
    else if (t->state == TXN_PREPARE_ABORT)
        req->error = req->commit ? KAFKA_INVALID_TXN_STATE : KAFKA_CONCURRENT_TRANSACTIONS;
    else
        req->error = KAFKA_INVALID_TXN_STATE; /* Empty */
    done(arg);
}

/* ---- timers: timed-out transactions, expired ids -----------------------------------------------
 */

static void abort_fired(void *arg)
{
    broker_txnc_t *c = arg;
    int64_t now = c->env.now_ms(c->env.ctx);
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->txns);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        txn_t *t = e->value;
        if (t->state != TXN_ONGOING || t->pending || t->markers ||
            now - t->start_ms <= t->timeout_ms)
            continue;
        log_info("txn",
                 "transactional id '%s' (producer %" PRId64 ", epoch %d): open %" PRId64
                 " ms, past its timeout of %d ms: aborting it and fencing the producer",
                 t->id, t->pid, t->epoch, now - t->start_ms, t->timeout_ms);
        prepare_end(t, false, true, NULL, KAFKA_NONE, NULL, NULL);
    }
    c->env.timer_start(c->env.ctx, &c->abort_timer, c->cfg.abort_check_ms);
}

static void expire_fired(void *arg)
{
    broker_txnc_t *c = arg;
    int64_t now = c->env.now_ms(c->env.ctx);
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->txns);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        txn_t *t = e->value;
        bool idle = t->state == TXN_EMPTY || t->state == TXN_COMPLETE_COMMIT ||
                    t->state == TXN_COMPLETE_ABORT;
        if (!idle || t->pending || t->markers || now - t->update_ms <= c->cfg.id_expiration_ms)
            continue;
        broker_txn_value_t v = {0};
        txn_write(t, W_EXPIRE, &v, NULL, NULL, NULL);
    }
    c->env.timer_start(c->env.ctx, &c->expire_timer, c->cfg.expire_check_ms);
}

/* ---- describe / list ----------------------------------------------------------------------------
 */

/* A transaction's partitions are described by topic, then partition (Kafka's order for one topic).
 */
static int cmp_part(const void *a, const void *b)
{
    const broker_txn_part_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

void broker_txnc_describe(broker_txnc_t *c, broker_txn_describe_item_t *item)
{
    const char *id = item->transactional_id;
    txn_t *t = id && *id ? txn_find(c, id) : NULL;
    item->state = NULL;
    item->part_count = 0;
    item->parts = NULL;
    if (!id || !*id) {
        item->error = KAFKA_INVALID_REQUEST;
        return;
    }
    if (!t || t->epoch < 0) {
        item->error = KAFKA_TRANSACTIONAL_ID_NOT_FOUND;
        return;
    }
    item->error = KAFKA_NONE;
    item->state = broker_txn_state_name(t->state);
    item->timeout_ms = t->timeout_ms;
    item->start_ms = t->start_ms;
    item->producer_id = t->pid;
    item->producer_epoch = t->epoch;
    free(c->out_parts);
    c->out_parts = weir_calloc(t->nparts ? t->nparts : 1, sizeof(*c->out_parts));
    for (size_t i = 0; i < t->nparts; i++)
        c->out_parts[i] = (broker_txn_part_t){t->parts[i].topic, t->parts[i].partition, 0};
    qsort(c->out_parts, t->nparts, sizeof(*c->out_parts), cmp_part);
    item->parts = c->out_parts;
    item->part_count = t->nparts;
}

static int cmp_listing(const void *a, const void *b)
{
    return strcmp(((const broker_txn_listing_t *)a)->transactional_id,
                  ((const broker_txn_listing_t *)b)->transactional_id);
}

void broker_txnc_list(broker_txnc_t *c, broker_txn_list_req_t *req)
{
    free(c->out_list);
    free(c->out_unknown);
    c->out_list = weir_calloc(c->txns.count ? c->txns.count : 1, sizeof(*c->out_list));
    c->out_unknown = weir_calloc(req->state_count ? req->state_count : 1, sizeof(char *));
    req->error = KAFKA_NONE;
    req->unknown_count = 0;
    for (size_t i = 0; i < req->state_count; i++)
        if (broker_txn_state_parse(req->states[i]) < 0)
            c->out_unknown[req->unknown_count++] = req->states[i];
    int64_t now = c->env.now_ms(c->env.ctx);
    size_t n = 0;
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->txns);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        const txn_t *t = e->value;
        if (t->epoch < 0 || t->state == TXN_DEAD)
            continue;
        bool ok = req->pid_count == 0;
        for (size_t i = 0; i < req->pid_count && !ok; i++)
            ok = req->pids[i] == t->pid;
        bool st = req->state_count == 0;
        for (size_t i = 0; i < req->state_count && !st; i++)
            st = strcmp(req->states[i], broker_txn_state_name(t->state)) == 0;
        if (!ok || !st)
            continue;
        if (req->min_duration_ms >= 0 && now - t->start_ms <= req->min_duration_ms)
            continue;
        c->out_list[n++] = (broker_txn_listing_t){t->id, t->pid, broker_txn_state_name(t->state)};
    }
    qsort(c->out_list, n, sizeof(*c->out_list), cmp_listing);
    req->count = n;
    req->txns = c->out_list;
    req->unknown_states = c->out_unknown;
}

/* ---- lifecycle ----------------------------------------------------------------------------------
 */

int broker_txnc_new(const broker_txn_config_t *cfg, const broker_txn_env_t *env,
                    broker_txnc_t **out)
{
    if (!env->write || !env->write_markers || !env->next_producer_id || !env->now_ms)
        return -WEIR_EINVAL;
    broker_txnc_t *c = weir_calloc(1, sizeof(*c));
    c->cfg = *cfg;
    c->env = *env;
    broker_kvmap_init(&c->txns);
    c->env.timer_init(c->env.ctx, &c->abort_timer, abort_fired, c);
    c->env.timer_init(c->env.ctx, &c->expire_timer, expire_fired, c);
    c->env.timer_init(c->env.ctx, &c->retry_timer, retry_fired, c);
    *out = c;
    return 0;
}

void broker_txnc_free(broker_txnc_t *c)
{
    if (!c)
        return;
    c->env.timer_stop(c->env.ctx, &c->abort_timer);
    c->env.timer_stop(c->env.ctx, &c->expire_timer);
    c->env.timer_stop(c->env.ctx, &c->retry_timer);
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->txns);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        txn_free(e->value);
    broker_kvmap_deinit(&c->txns);
    free(c->out_parts);
    free(c->out_list);
    free(c->out_unknown);
    free(c);
}

int broker_txnc_replay(broker_txnc_t *c, const uint8_t *key, size_t key_len, const uint8_t *value,
                       int32_t value_len)
{
    char *id = broker_txn_key_decode(key, key_len);
    if (!id)
        return -WEIR_ECORRUPT;
    txn_t *t = txn_find(c, id);
    if (!value || value_len < 0) {
        if (t)
            txn_remove(t);
        free(id);
        return 0;
    }
    broker_txn_value_t v;
    int rc = broker_txn_value_decode(value, (size_t)value_len, &v);
    if (rc == 0) {
        if (!t)
            t = txn_add(c, id);
        apply_value(t, &v);
    }
    free(id);
    return rc;
}

void broker_txnc_load_finish(broker_txnc_t *c)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->txns);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        txn_t *t = e->value;
        publish(t);
        if (t->state == TXN_PREPARE_COMMIT || t->state == TXN_PREPARE_ABORT)
            start_markers(t);
    }
    c->env.timer_start(c->env.ctx, &c->abort_timer, c->cfg.abort_check_ms);
    c->env.timer_start(c->env.ctx, &c->expire_timer, c->cfg.expire_check_ms);
}

size_t broker_txnc_writes_pending(broker_txnc_t *c)
{
    size_t n = c->writes_pending;
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->txns);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        n += ((txn_t *)e->value)->markers;
    return n;
}

size_t broker_txnc_count(broker_txnc_t *c)
{
    return c->txns.count;
}
