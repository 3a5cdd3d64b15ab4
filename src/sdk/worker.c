/*
 * Handler threads. Each worker owns a fixed share of the partitions (by hash) and takes their
 * events straight from each partition's own librdkafka queue (no thread in between), round
 * robin, up to batch_max at a time. An eventfd, written by librdkafka when one of its queues
 * stops being empty, wakes it. Backpressure is librdkafka's: it fetches ahead per partition
 * up to queued.min.messages / queued.max.messages.kbytes and no further until the worker has
 * taken events off that partition's queue.
 *
 * Each partition's share runs as a batch. When the app has a store and
 * the batch needs it (dedup, inbox, projection), the batch runs in one SQLite transaction and
 * each transactional handler in a savepoint, so a RETRY or FAIL rolls back just that handler's
 * writes. A batch stops at the first RETRY that has attempts left: the events before it are
 * finished; it and the partition's later events wait in the partition's stash, the partition
 * is paused, and the worker serves its other partitions until the backoff has passed.
 *
 * Invariant: a partition's `done` moves past an event only after its handler returned OK (and
 * the batch transaction committed), or it was skipped (duplicate, unrouted), or it was handed to
 * the producer for the dead-letter topic with a pending entry that holds the commit back until
 * the broker acknowledges it.
 */
#include "sdk/sdk.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdlib.h>
#include <time.h>

#define SDK_PURGE_INTERVAL_MS 60000

typedef struct {
    size_t done;              /* events finished from the head of the batch */
    bool retry;               /* the event at done is to be retried */
    int attempts;             /* attempts made on it */
    int64_t backoff_ms;       /* before the next */
    int64_t first_failure_ms; /* wall clock of the retried event's first failure */
    bool kick_relay;          /* the batch wrote outbox rows */
} batch_res_t;

/* ---- partitions and pending deliveries ------------------------------------------------------ */

int64_t sdk_part_committable(const sdk_part_t *p)
{
    int64_t c = p->done;
    for (const sdk_pend_t *e = p->pend_head; e; e = e->next) {
        if (e->remaining > 0 || e->failed) {
            /* The event at offset_next - 1 waits for its records: commit up to it, not past. */
            if (e->offset_next - 1 < c)
                c = e->offset_next - 1;
            break;
        }
    }
    return c;
}

void sdk_part_free(sdk_part_t *p)
{
    sdk_part_stash_clear(p);
    free(p->stash);
    if (p->rkqu) {
        rd_kafka_queue_io_event_enable(p->rkqu, -1, NULL, 0);
        rd_kafka_queue_destroy(p->rkqu);
    }
    while (p->pend_head) {
        sdk_pend_t *e = p->pend_head;
        p->pend_head = e->next;
        free(e);
    }
    free(p->topic);
    free(p);
}

/* NULL in an exactly-once app: its records are acknowledged with the transaction. */
static sdk_pend_t *pend_add(weir_app *app, sdk_part_t *p, int64_t offset_next, int remaining)
{
    if (app->eos)
        return NULL;
    sdk_pend_t *e = weir_calloc(1, sizeof(*e));
    e->dr.kind = SDK_DR_PEND;
    e->part = p;
    e->offset_next = offset_next;
    e->remaining = remaining;
    pthread_mutex_lock(&app->lock);
    if (p->pend_tail)
        p->pend_tail->next = e;
    else
        p->pend_head = e;
    p->pend_tail = e;
    pthread_mutex_unlock(&app->lock);
    return e;
}

/* Records that will never be produced (a produce call failed): they count as failed. */
static void pend_abandon(weir_app *app, sdk_pend_t *e, int count)
{
    if (!e)
        return;
    pthread_mutex_lock(&app->lock);
    e->remaining -= count;
    e->failed = true;
    pthread_cond_broadcast(&app->cond);
    pthread_mutex_unlock(&app->lock);
}

/* Waits until the partition has no unacknowledged records (projections commit their offsets
 * only after their dead letters are safe). */
static int pend_wait_empty(weir_app *app, sdk_part_t *p)
{
    int r = 0;
    pthread_mutex_lock(&app->lock);
    for (;;) {
        bool pending = false;
        for (sdk_pend_t *e = p->pend_head; e; e = e->next) {
            if (e->failed) {
                r = -WEIR_EIO;
                break;
            }
            pending |= e->remaining > 0;
        }
        if (r || !pending || atomic_load(&app->fatal))
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&app->cond, &app->lock, &ts);
    }
    if (!r && atomic_load(&app->fatal))
        r = -WEIR_EIO;
    pthread_mutex_unlock(&app->lock);
    return r;
}

/* ---- one event ------------------------------------------------------------------------------ */

static void hdr_add_i64(rd_kafka_headers_t *h, const char *name, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
    rd_kafka_header_add(h, name, -1, buf, n);
}

/* first_failure_ms: the wall clock of the event's first failed attempt (its last one is the
 * dead letter's own timestamp). */
static int dead_letter(sdk_worker_t *w, sdk_part_t *p, const rd_kafka_message_t *m,
                       const sdk_route_t *route, int attempts, int64_t first_failure_ms,
                       const char *error)
{
    weir_app *app = w->app;
    rd_kafka_headers_t *orig = NULL, *h;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "weir.dlq.original.topic", -1, rd_kafka_topic_name(m->rkt), -1);
    hdr_add_i64(h, "weir.dlq.original.partition", m->partition);
    hdr_add_i64(h, "weir.dlq.original.offset", m->offset);
    rd_kafka_timestamp_type_t tt;
    hdr_add_i64(h, "weir.dlq.original.timestamp", rd_kafka_message_timestamp(m, &tt));
    const char *group = app->group ? app->group : app->projection;
    rd_kafka_header_add(h, "weir.dlq.group", -1, group, -1);
    hdr_add_i64(h, "weir.dlq.attempts", attempts);
    hdr_add_i64(h, "weir.dlq.first.failure.timestamp", first_failure_ms);
    rd_kafka_header_add(h, "weir.dlq.error", -1, error, -1);
    /* The failed event's own traceparent is among the copied headers; one that had none gets
     * the handler's span, so the dead letter still leads back to this consumer's trace. */
    if (!sdk_event_ce(&w->ev)->has_trace)
        rd_kafka_header_add(h, "traceparent", -1, sdk_ctx_span(&w->ctx), -1);

    sdk_pend_t *e = pend_add(app, p, m->offset + 1, 1);
    int r = sdk_produce(app, route->dlq_topic, RD_KAFKA_PARTITION_UA, m->key,
                        m->key ? (ssize_t)m->key_len : -1, m->payload,
                        m->payload ? (ssize_t)m->len : -1, h, e ? &e->dr : NULL);
    if (r) {
        pend_abandon(app, e, 1);
        return r;
    }
    atomic_fetch_add(&app->stats.dead_lettered, 1);
    sdk_app_log(app, WEIR_LOG_INFO, "dead-lettered %s [%d] offset %lld to %s: %s",
                rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset, route->dlq_topic,
                error);
    return 0;
}

/* Produces what a plain route's handler emitted; the commit waits for all of it. */
static int produce_emits(sdk_worker_t *w, sdk_part_t *p, const rd_kafka_message_t *m)
{
    weir_ctx *ctx = &w->ctx;
    if (ctx->nemits == 0)
        return 0;
    sdk_pend_t *e = pend_add(w->app, p, m->offset + 1, (int)ctx->nemits);
    for (size_t i = 0; i < ctx->nemits; i++) {
        sdk_emit_t *em = &ctx->emits[i];
        rd_kafka_headers_t *h = em->headers;
        em->headers = NULL; /* sdk_produce owns it now */
        int r = sdk_produce(w->app, em->topic, em->partition, em->key.data,
                            em->key_null ? -1 : (ssize_t)em->key.len, em->value.data,
                            em->value_null ? -1 : (ssize_t)em->value.len, h, e ? &e->dr : NULL);
        if (r) {
            pend_abandon(w->app, e, (int)(ctx->nemits - i));
            return r;
        }
    }
    atomic_fetch_add(&w->app->stats.emitted, ctx->nemits);
    return 0;
}

static void ctx_prepare(sdk_worker_t *w, const sdk_route_t *route, int attempt, bool tx)
{
    weir_ctx *ctx = &w->ctx;
    sdk_ctx_reset(ctx);
    ctx->app = w->app;
    ctx->route = route;
    ctx->attempt = attempt;
    ctx->db = tx ? &w->db : NULL;
    ctx->ev = &w->ev;
}

static int store_fail(sdk_worker_t *w, int r)
{
    sdk_app_fatal(w->app, r, "%s", w->db.err);
    return r;
}

/* Ids handled OK in this batch, in a small open-addressing set of slot indexes: a repeat
 * later in the same batch is a duplicate too (a plain batch records its ids only at its end). */
static uint32_t id_hash(const char *id, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)id[i]) * 16777619u;
    return h;
}

static bool pending_has(const sdk_worker_t *w, const char *id, size_t len)
{
    size_t mask = w->done_cap - 1;
    for (size_t k = id_hash(id, len) & mask;; k = (k + 1) & mask) {
        int32_t i = w->done_set[k];
        if (i < 0)
            return false;
        const sdk_slot_t *sl = &w->slots[i];
        if (sl->id_len == len && memcmp(sl->id, id, len) == 0)
            return true;
    }
}

static void pending_add(sdk_worker_t *w, int32_t slot)
{
    const sdk_slot_t *sl = &w->slots[slot];
    size_t mask = w->done_cap - 1;
    size_t k = id_hash(sl->id, sl->id_len) & mask;
    while (w->done_set[k] >= 0)
        k = (k + 1) & mask;
    w->done_set[k] = slot;
    w->done_list[w->ndone++] = slot;
}

static int pending_flush(sdk_worker_t *w, int64_t now_ms)
{
    char id[SDK_CE_ATTR_MAX + 1];
    for (size_t j = 0; j < w->ndone; j++) {
        const sdk_slot_t *sl = &w->slots[w->done_list[j]];
        memcpy(id, sl->id, sl->id_len);
        id[sl->id_len] = '\0';
        int r = sdk_dedup_put(&w->db, id, now_ms);
        if (r)
            return r;
    }
    return 0;
}

/* Routes msgs[0..n) and decides how far the batch goes: every event up to the first whose
 * kind (transactional or plain) differs from the first routed one. Returns that count. */
static size_t plan_batch(sdk_worker_t *w, rd_kafka_message_t **msgs, size_t n, bool *tx_out)
{
    weir_app *app = w->app;
    bool kind_set = false, batch_tx = app->projection != NULL;
    size_t i;
    for (i = 0; i < n; i++) {
        sdk_slot_t *sl = &w->slots[i];
        memset(sl, 0, sizeof(*sl));
        sl->route = sdk_app_route_for(app, msgs[i]);
        if (!sl->route)
            continue;
        bool tx = app->projection || sl->route->opt.transactional;
        if (!kind_set) {
            kind_set = true;
            batch_tx = tx;
        } else if (tx != batch_tx) {
            break;
        }
        if (sl->route->opt.dedup)
            sl->id_len = sdk_msg_attr(msgs[i], "ce_id", &sl->id);
    }
    *tx_out = batch_tx;
    return i;
}

/* Asks the store, SDK_DEDUP_LOOKUP_MAX ids per query, which ids of the batch it has seen. */
static int lookup_batch(sdk_worker_t *w, size_t n, int64_t now_ms)
{
    const char *ids[SDK_DEDUP_LOOKUP_MAX];
    size_t lens[SDK_DEDUP_LOOKUP_MAX], idx[SDK_DEDUP_LOOKUP_MAX];
    bool seen[SDK_DEDUP_LOOKUP_MAX];
    size_t k = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && w->slots[i].id_len) {
            ids[k] = w->slots[i].id;
            lens[k] = w->slots[i].id_len;
            idx[k++] = i;
        }
        if (k && (k == SDK_DEDUP_LOOKUP_MAX || i == n)) {
            int r =
                sdk_dedup_seen_many(&w->db, ids, lens, k, now_ms, w->app->cfg.dedup_ttl_ms, seen);
            if (r)
                return r;
            for (size_t j = 0; j < k; j++)
                w->slots[idx[j]].seen = seen[j];
            k = 0;
        }
    }
    return 0;
}

typedef struct {
    uint64_t handled, calls, retried, unrouted, deduplicated;
} batch_counts_t;

static void counts_add(weir_app *app, const batch_counts_t *c)
{
    sdk_stats_t *s = &app->stats;
    if (c->handled)
        atomic_fetch_add_explicit(&s->handled, c->handled, memory_order_relaxed);
    if (c->calls)
        atomic_fetch_add_explicit(&s->handler_calls, c->calls, memory_order_relaxed);
    if (c->retried)
        atomic_fetch_add_explicit(&s->retried, c->retried, memory_order_relaxed);
    if (c->unrouted)
        atomic_fetch_add_explicit(&s->unrouted, c->unrouted, memory_order_relaxed);
    if (c->deduplicated)
        atomic_fetch_add_explicit(&s->deduplicated, c->deduplicated, memory_order_relaxed);
}

static void dead_letter_reason(char *why, size_t len, const weir_ctx *ctx, weir_result result,
                               int attempt, int max)
{
    if (ctx->error[0])
        snprintf(why, len, "%s", ctx->error);
    else if (result == WEIR_RESULT_RETRY)
        snprintf(why, len, "handler returned RETRY on the last attempt (%d of %d)", attempt, max);
    else if (result == WEIR_RESULT_FAIL)
        snprintf(why, len, "handler returned FAIL");
    else
        snprintf(why, len, "handler returned an invalid result (%d)", (int)result);
}

/* Runs msgs[0..n) of p. A batch is either transactional (projection, inbox routes: one store
 * transaction around everything, a savepoint around each handler) or plain (handlers outside
 * any transaction, their dedup records written together at the end); it ends early where the
 * kind changes. Returns 0, or a negative code after a fatal error (then res->done is what may
 * still be marked finished: nothing when the batch transaction did not commit). */
static int run_batch(sdk_worker_t *w, sdk_part_t *p, rd_kafka_message_t **msgs, size_t n,
                     int attempts0, batch_res_t *res)
{
    weir_app *app = w->app;
    memset(res, 0, sizeof(*res));
    memset(w->done_set, 0xff, w->done_cap * sizeof(*w->done_set));
    w->ndone = 0;
    bool batch_tx, txn = false, dlq_in_txn = false, any_dedup = false;
    batch_counts_t cnt = {0};
    int r = 0;
    int64_t now_ms = clock_wall_ms();
    n = plan_batch(w, msgs, n, &batch_tx);
    for (size_t i = 0; i < n; i++)
        any_dedup |= w->slots[i].id_len > 0;
    if (batch_tx || any_dedup) {
        /* A plain batch reads the dedup records outside any transaction; a transactional one
         * reads them in the transaction its handlers write in. */
        if (batch_tx) {
            if ((r = sdk_db_exec(&w->db, SDK_ST_BEGIN)) != 0)
                return store_fail(w, r);
            txn = true;
        }
        if (any_dedup && (r = lookup_batch(w, n, now_ms)) != 0)
            goto store_error;
    }
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        sdk_slot_t *sl = &w->slots[i];
        const sdk_route_t *route = sl->route;
        if (!route) {
            cnt.unrouted++;
            res->done++;
            continue;
        }
        if (sl->id_len && (sl->seen || pending_has(w, sl->id, sl->id_len))) {
            cnt.deduplicated++;
            res->done++;
            continue;
        }
        sdk_event_set(&w->ev, m);
        int attempt = (i == 0 ? attempts0 : 0) + 1;
        ctx_prepare(w, route, attempt, batch_tx);
        if (batch_tx && (r = sdk_db_exec(&w->db, SDK_ST_SAVEPOINT)) != 0)
            goto store_error;
        int64_t t0_mono = clock_mono_ns();
        struct timespec t0_wall;
        clock_gettime(CLOCK_REALTIME, &t0_wall);
        weir_result result = route->fn(&w->ctx, &w->ev, route->user);
        cnt.calls++;
        sdk_obs_handled(app, &w->ctx, m, result, attempt,
                        (int64_t)t0_wall.tv_sec * 1000000000 + t0_wall.tv_nsec,
                        clock_mono_ns() - t0_mono);

        if (result == WEIR_RESULT_OK) {
            if (batch_tx && (r = sdk_db_exec(&w->db, SDK_ST_RELEASE)) != 0)
                goto store_error;
            if (sl->id_len) {
                char id[SDK_CE_ATTR_MAX + 1];
                memcpy(id, sl->id, sl->id_len);
                id[sl->id_len] = '\0';
                if (batch_tx && (r = sdk_dedup_put(&w->db, id, now_ms)) != 0)
                    goto store_error;
                pending_add(w, (int32_t)i);
            }
            cnt.handled++;
            if (w->ctx.outboxed) {
                res->kick_relay = true;
                atomic_fetch_add(&app->stats.emitted, w->ctx.outboxed);
            }
            if ((r = produce_emits(w, p, m)) != 0) {
                sdk_produce_failed(app, r, "emit from %s [%d] offset %lld: %s",
                                   rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset,
                                   app->errmsg);
                goto abort;
            }
            res->done++;
            continue;
        }
        if (batch_tx && ((r = sdk_db_exec(&w->db, SDK_ST_ROLLBACK_TO)) != 0 ||
                         (r = sdk_db_exec(&w->db, SDK_ST_RELEASE)) != 0))
            goto store_error;
        int max = route->opt.retry.max_attempts;
        /* Only the head of a batch can be an event on its second or later attempt. */
        int64_t first_failure_ms = attempt > 1 ? p->first_failure_ms : clock_wall_ms();
        if (result == WEIR_RESULT_RETRY && attempt < max) {
            cnt.retried++;
            res->retry = true;
            res->attempts = attempt;
            res->first_failure_ms = first_failure_ms;
            res->backoff_ms = sdk_backoff_ms(&route->opt.retry, attempt, sdk_rng_thread());
            break;
        }
        char why[SDK_ERRMSG_MAX];
        dead_letter_reason(why, sizeof(why), &w->ctx, result, attempt, max);
        if ((r = dead_letter(w, p, m, route, attempt, first_failure_ms, why)) != 0) {
            sdk_produce_failed(app, r, "dead letter to %s: %s", route->dlq_topic, app->errmsg);
            goto abort;
        }
        dlq_in_txn |= txn;
        res->done++;
    }
    if (!batch_tx && w->ndone) {
        if ((r = sdk_db_exec(&w->db, SDK_ST_BEGIN)) != 0)
            goto store_error;
        txn = true;
        if ((r = pending_flush(w, now_ms)) != 0)
            goto store_error;
    }
    if (txn) {
        if (app->projection && res->done > 0) {
            const rd_kafka_message_t *last = msgs[res->done - 1];
            if ((r = sdk_offset_put(&w->db, app->projection, p->topic, p->partition,
                                    last->offset + 1)) != 0)
                goto store_error;
        }
        /* A projection stores its offset in this transaction: its dead letters must be safe
         * on the broker before the offset moves past them. */
        if (app->projection && dlq_in_txn && (r = pend_wait_empty(app, p)) != 0) {
            sdk_app_fatal(app, r, "dead letters of %s [%d] not acknowledged", p->topic,
                          p->partition);
            goto abort;
        }
        if ((r = sdk_db_exec(&w->db, SDK_ST_COMMIT)) != 0)
            goto store_error;
    }
    counts_add(app, &cnt);
    sdk_ctx_reset(&w->ctx);
    return 0;
store_error:
    store_fail(w, r);
abort:
    counts_add(app, &cnt);
    sdk_ctx_reset(&w->ctx);
    if (txn) {
        sdk_db_exec(&w->db, SDK_ST_ROLLBACK);
        /* Nothing of the batch is committed in the store: none of it is finished. Plain
         * handlers may have run; at least once allows them to run again. */
        res->done = 0;
    }
    res->retry = false;
    return r;
}

/* ---- stashes -------------------------------------------------------------------------------- */

bool sdk_part_stash(weir_app *app, sdk_part_t *p, rd_kafka_message_t *m)
{
    if (p->stash_len == p->stash_cap) {
        size_t cap = p->stash_cap ? p->stash_cap * 2 : 64;
        rd_kafka_message_t **q = weir_malloc(cap * sizeof(*q));
        for (size_t i = 0; i < p->stash_len; i++)
            q[i] = p->stash[(p->stash_head + i) % p->stash_cap];
        free(p->stash);
        p->stash = q;
        p->stash_cap = cap;
        p->stash_head = 0;
    }
    p->stash[(p->stash_head + p->stash_len) % p->stash_cap] = m;
    p->stash_len++;
    if (app->workers)
        sdk_worker_wake(&app->workers[p->worker]);
    if (p->paused || p->stash_len < (size_t)app->cfg.max_in_flight)
        return false;
    p->paused = true;
    return true;
}

static rd_kafka_message_t *stash_pop(sdk_part_t *p)
{
    rd_kafka_message_t *m = p->stash[p->stash_head];
    p->stash_head = (p->stash_head + 1) % p->stash_cap;
    p->stash_len--;
    return m;
}

void sdk_part_stash_clear(sdk_part_t *p)
{
    while (p->stash_len)
        rd_kafka_message_destroy(stash_pop(p));
    p->retrying = false;
    p->attempts = 0;
}

/* ---- the worker loop ------------------------------------------------------------------------ */

void sdk_part_pause(weir_app *app, const sdk_part_t *p, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    if (pause) {
        rd_kafka_pause_partitions(app->consumer, l);
        atomic_fetch_add(&app->stats.paused, 1);
    } else {
        rd_kafka_resume_partitions(app->consumer, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Under app->lock, after a batch of p: msgs[0..res->done) are finished, msgs[res->done..n) are
 * not. from_stash: the batch was the head of p's stash (else it came from the queue). Returns
 * +1 if p must be paused, -1 resumed, 0 neither (the caller does it outside the lock). */
static int finish_batch(sdk_worker_t *w, sdk_part_t *p, rd_kafka_message_t **msgs, size_t n,
                        bool from_stash, const batch_res_t *res)
{
    weir_app *app = w->app;
    for (size_t i = 0; i < res->done; i++) {
        p->done = msgs[i]->offset + 1;
        if (from_stash)
            stash_pop(p);
        rd_kafka_message_destroy(msgs[i]);
    }
    int action = 0;
    if (!from_stash) {
        /* What the batch did not finish waits its turn at the front of the stash. Only a
         * retry leaves events behind (or a fatal stop, when nothing matters any more). */
        for (size_t i = res->done; i < n; i++)
            if (sdk_part_stash(app, p, msgs[i]))
                action = 1;
    }
    if (res->done)
        p->attempts = 0;
    if (res->retry) {
        p->attempts = res->attempts;
        p->first_failure_ms = res->first_failure_ms;
        p->retry_at_ms = clock_mono_ms() + res->backoff_ms;
        if (!p->retrying) {
            p->retrying = true;
            if (!p->paused) {
                p->paused = true;
                action = 1;
            }
        }
    } else if (res->done && p->retrying) {
        p->retrying = false;
    }
    /* Resumed once it is not retrying and its stash is down to half the bound, so a busy
     * partition does not flap between the two on every event. */
    if (!p->retrying && p->paused && p->stash_len <= (size_t)app->cfg.max_in_flight / 2) {
        p->paused = false;
        action = -1;
    }
    p->busy = false;
    if (p->revoked)
        pthread_cond_broadcast(&app->cond);
    return action;
}

/* Runs one partition's batch (from the stash or from the queue) with the lock released. */
static void run_part(sdk_worker_t *w, sdk_part_t *p, rd_kafka_message_t **msgs, size_t n,
                     int attempts, bool from_stash)
{
    weir_app *app = w->app;
    p->busy = true;
    pthread_mutex_unlock(&app->lock);
    batch_res_t res;
    run_batch(w, p, msgs, n, attempts, &res);
    if (res.kick_relay)
        weir_app_outbox_kick(app);
    pthread_mutex_lock(&app->lock);
    int action = finish_batch(w, p, msgs, n, from_stash, &res);
    if (action) {
        /* Safe without the lock: the consumer loop changes partitions only while workers are
         * parked, and this one is not. */
        pthread_mutex_unlock(&app->lock);
        sdk_part_pause(app, p, action > 0);
        pthread_mutex_lock(&app->lock);
    }
}

/* Under app->lock: a partition of this worker whose stash may run now, or NULL and *wake_ms,
 * the monotonic time the earliest backoff ends. */
static sdk_part_t *pick_stash(sdk_worker_t *w, int64_t now_ms, int64_t *wake_ms)
{
    weir_app *app = w->app;
    size_t n = app->nparts;
    *wake_ms = INT64_MAX;
    for (size_t k = 0; k < n; k++) {
        size_t i = (w->rr + k) % n;
        sdk_part_t *p = app->parts[i];
        if (p->worker != w->index || p->busy || p->revoked || p->stash_len == 0)
            continue;
        if (p->retrying && p->retry_at_ms > now_ms) {
            if (p->retry_at_ms < *wake_ms)
                *wake_ms = p->retry_at_ms;
            continue;
        }
        w->rr = i + 1;
        return p;
    }
    return NULL;
}

static void run_stash(sdk_worker_t *w, sdk_part_t *p)
{
    size_t n = WEIR_MIN(p->stash_len, (size_t)w->app->cfg.batch_max);
    for (size_t i = 0; i < n; i++)
        w->batch[i] = p->stash[(p->stash_head + i) % p->stash_cap];
    run_part(w, p, w->batch, n, p->retrying ? p->attempts : 0, true);
}

/* Under app->lock: takes what p's queue holds (up to batch_max) and runs it. Returns whether
 * there was anything. A partition with a stash is left alone: its new events wait in
 * librdkafka's queue until the stash has run, which keeps its order. */
static bool run_queue(sdk_worker_t *w, sdk_part_t *p)
{
    weir_app *app = w->app;
    if (p->worker != w->index || p->busy || p->revoked || p->stash_len || !p->rkqu)
        return false;
    size_t ahead = rd_kafka_queue_length(p->rkqu);
    ssize_t n = rd_kafka_consume_batch_queue(p->rkqu, 0, w->fetched, (size_t)app->cfg.batch_max);
    if (n <= 0)
        return false;
    uint64_t seen = atomic_load_explicit(&app->stats.fetched_ahead_max, memory_order_relaxed);
    while (ahead > seen &&
           !atomic_compare_exchange_weak(&app->stats.fetched_ahead_max, &seen, (uint64_t)ahead))
        continue;
    size_t ok = 0;
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = w->fetched[i];
        if (m->err) {
            /* Fetch errors (offset out of range, ...) come in the queue; librdkafka handles
             * them (auto.offset.reset) and we say so. */
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sdk_app_log(app, WEIR_LOG_WARN, "consume %s [%d]: %s", p->topic, p->partition,
                            rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        w->fetched[ok++] = m;
    }
    if (ok) {
        atomic_fetch_add_explicit(&app->stats.received, ok, memory_order_relaxed);
        run_part(w, p, w->fetched, ok, 0, false);
    }
    return true;
}

/* Under app->lock: one pass over this worker's partitions. */
static bool run_queues(sdk_worker_t *w)
{
    weir_app *app = w->app;
    bool any = false;
    /* Partitions change only while workers are parked, so the array holds still while
     * run_part lets go of the lock. */
    size_t n = app->nparts;
    size_t start = w->rr_queue++;
    for (size_t k = 0; k < n && !app->workers_hold && !app->workers_stop; k++)
        any |= run_queue(w, app->parts[(start + k) % n]);
    return any;
}

void sdk_worker_wake(sdk_worker_t *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->evfd, &one, sizeof(one));
    (void)r; /* a full counter still wakes the reader */
}

static void wait_events(sdk_worker_t *w, int timeout_ms)
{
    struct pollfd pfd = {w->evfd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) > 0) {
        uint64_t v;
        ssize_t r = read(w->evfd, &v, sizeof(v));
        (void)r;
    }
}

static void park(sdk_worker_t *w)
{
    weir_app *app = w->app;
    w->parked = true;
    pthread_cond_broadcast(&app->cond);
    while (app->workers_hold && !app->workers_stop)
        pthread_cond_wait(&w->cond, &app->lock);
    w->parked = false;
}

static void maybe_purge(sdk_worker_t *w)
{
    weir_app *app = w->app;
    int64_t now = clock_mono_ms();
    if (w->index != 0 || !w->db.db || now < w->purge_at_ms)
        return;
    w->purge_at_ms = now + SDK_PURGE_INTERVAL_MS;
    int purged = 0;
    if (sdk_dedup_purge(&w->db, clock_wall_ms(), app->cfg.dedup_ttl_ms, &purged) != 0)
        sdk_app_log(app, WEIR_LOG_WARN, "%s", w->db.err);
    else if (purged)
        sdk_app_log(app, WEIR_LOG_DEBUG, "purged %d expired dedup records", purged);
}

static void *worker_main(void *arg)
{
    sdk_worker_t *w = arg;
    weir_app *app = w->app;
    pthread_mutex_lock(&app->lock);
    while (!app->workers_stop && !atomic_load(&app->fatal)) {
        if (app->workers_hold) {
            park(w);
            continue;
        }
        int64_t wake;
        sdk_part_t *p = pick_stash(w, clock_mono_ms(), &wake);
        if (p) {
            run_stash(w, p);
            continue;
        }
        if (run_queues(w))
            continue;
        pthread_mutex_unlock(&app->lock);
        maybe_purge(w);
        int64_t now = clock_mono_ms();
        int timeout = wake == INT64_MAX ? 100 : (int)WEIR_MAX(0, WEIR_MIN(wake - now, 100));
        wait_events(w, timeout);
        pthread_mutex_lock(&app->lock);
    }
    w->running = false;
    pthread_cond_broadcast(&app->cond);
    pthread_mutex_unlock(&app->lock);
    return NULL;
}

void sdk_workers_hold(weir_app *app)
{
    if (!app->workers)
        return;
    pthread_mutex_lock(&app->lock);
    app->workers_hold = true;
    for (;;) {
        bool moving = false;
        for (int i = 0; i < app->cfg.workers; i++) {
            sdk_worker_t *w = &app->workers[i];
            if (w->running && !w->parked) {
                moving = true;
                sdk_worker_wake(w); /* out of its wait for events */
            }
        }
        if (!moving)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&app->cond, &app->lock, &ts);
    }
    pthread_mutex_unlock(&app->lock);
}

void sdk_workers_release(weir_app *app)
{
    if (!app->workers)
        return;
    pthread_mutex_lock(&app->lock);
    app->workers_hold = false;
    for (int i = 0; i < app->cfg.workers; i++)
        pthread_cond_signal(&app->workers[i].cond);
    pthread_mutex_unlock(&app->lock);
}

int sdk_workers_start(weir_app *app)
{
    int n = app->cfg.workers;
    app->workers = weir_calloc((size_t)n, sizeof(*app->workers));
    for (int i = 0; i < n; i++) {
        sdk_worker_t *w = &app->workers[i];
        w->app = app;
        w->index = i;
        pthread_cond_init(&w->cond, NULL);
        w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->evfd < 0) {
            sdk_app_set_error(app, "eventfd: %s", strerror(errno));
            return -WEIR_EIO;
        }
        w->batch = weir_calloc((size_t)app->cfg.batch_max, sizeof(*w->batch));
        w->fetched = weir_calloc((size_t)app->cfg.batch_max, sizeof(*w->fetched));
        w->slots = weir_calloc((size_t)app->cfg.batch_max, sizeof(*w->slots));
        /* A power of two at least twice the batch: the set never fills. */
        for (w->done_cap = 16; w->done_cap < 2 * (size_t)app->cfg.batch_max;)
            w->done_cap *= 2;
        w->done_set = weir_calloc(w->done_cap, sizeof(*w->done_set));
        w->done_list = weir_calloc((size_t)app->cfg.batch_max, sizeof(*w->done_list));
        sdk_event_init(&w->ev);
        if (app->db_path && sdk_db_open(app->db_path, &w->db) != 0) {
            sdk_app_set_error(app, "%s", w->db.err);
            return -WEIR_EIO;
        }
    }
    for (int i = 0; i < n; i++) {
        sdk_worker_t *w = &app->workers[i];
        w->running = true;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            w->running = false;
            sdk_app_set_error(app, "worker thread: %s", strerror(errno));
            return -WEIR_EIO;
        }
        w->started = true;
    }
    return 0;
}

void sdk_workers_stop(weir_app *app)
{
    if (!app->workers)
        return;
    pthread_mutex_lock(&app->lock);
    app->workers_stop = true;
    for (int i = 0; i < app->cfg.workers; i++) {
        pthread_cond_signal(&app->workers[i].cond);
        sdk_worker_wake(&app->workers[i]);
    }
    pthread_mutex_unlock(&app->lock);
    for (int i = 0; i < app->cfg.workers; i++) {
        sdk_worker_t *w = &app->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        w->started = false;
    }
}

void sdk_workers_free(weir_app *app)
{
    if (!app->workers)
        return;
    for (int i = 0; i < app->cfg.workers; i++) {
        sdk_worker_t *w = &app->workers[i];
        WEIR_ASSERT(!w->started);
        if (w->evfd >= 0)
            close(w->evfd);
        pthread_cond_destroy(&w->cond);
        sdk_db_close(&w->db);
        sdk_event_deinit(&w->ev);
        sdk_ctx_deinit(&w->ctx);
        free(w->done_set);
        free(w->done_list);
        free(w->batch);
        free(w->fetched);
        free(w->slots);
    }
    free(app->workers);
    app->workers = NULL;
}
