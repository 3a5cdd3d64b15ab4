/*
 * Handler threads. Each worker owns a fixed share of the partitions (by hash) and runs their
 * queued events in batches: one partition at a time, in offset order, round robin among its
 * partitions that have events and are not waiting out a retry backoff.
 *
 * A batch is up to batch_max events from the head of one partition's queue. When the app has a
 * store and the batch needs it (dedup, inbox, projection), the whole batch runs in one SQLite
 * transaction and each transactional handler in a savepoint, so a RETRY or FAIL rolls back just
 * that handler's writes. The batch stops at the first RETRY that has attempts left: the events
 * before it are finished, it stays at the head, and the partition waits out the backoff
 * (paused) while the worker serves other partitions.
 *
 * Invariant: a partition's `done` moves past an event only after its handler returned OK (and
 * the batch transaction committed), or it was skipped (duplicate, unrouted), or it was handed to
 * the producer for the dead-letter topic with a pending entry that holds the commit back until
 * the broker acknowledges it.
 */
#include "sdk/sdk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SDK_PURGE_INTERVAL_MS 60000

typedef struct {
    size_t done;        /* events finished from the head of the batch */
    bool retry;         /* the event at done is to be retried */
    int attempts;       /* attempts made on it */
    int64_t backoff_ms; /* before the next */
    bool kick_relay;    /* the batch wrote outbox rows */
} batch_res_t;

/* ---- partitions and pending deliveries -------------------------------------------------------- */

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
    while (p->q_len) {
        rd_kafka_message_destroy(p->q[p->q_head]);
        p->q_head = (p->q_head + 1) % p->q_cap;
        p->q_len--;
    }
    free(p->q);
    while (p->pend_head) {
        sdk_pend_t *e = p->pend_head;
        p->pend_head = e->next;
        free(e);
    }
    free(p->topic);
    free(p);
}

static sdk_pend_t *pend_add(weir_app *app, sdk_part_t *p, int64_t offset_next, int remaining)
{
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

/* ---- one event -------------------------------------------------------------------------------- */

static void hdr_add_i64(rd_kafka_headers_t *h, const char *name, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
    rd_kafka_header_add(h, name, -1, buf, n);
}

static int dead_letter(sdk_worker_t *w, sdk_part_t *p, const rd_kafka_message_t *m,
                       const sdk_route_t *route, int attempts, const char *error)
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
    rd_kafka_header_add(h, "weir.dlq.error", -1, error, -1);
    /* The failed event's own traceparent is among the copied headers; one that had none gets
     * the handler's span, so the dead letter still leads back to this consumer's trace. */
    if (!w->ev.ce.has_trace)
        rd_kafka_header_add(h, "traceparent", -1, w->ctx.traceparent, -1);

    sdk_pend_t *e = pend_add(app, p, m->offset + 1, 1);
    int r = sdk_produce(app, route->dlq_topic, RD_KAFKA_PARTITION_UA, m->key,
                        m->key ? (ssize_t)m->key_len : -1, m->payload,
                        m->payload ? (ssize_t)m->len : -1, h, &e->dr);
    if (r) {
        pend_abandon(app, e, 1);
        return r;
    }
    atomic_fetch_add(&app->stats.dead_lettered, 1);
    sdk_app_log(app, WEIR_LOG_INFO, "dead-lettered %s [%d] offset %lld to %s: %s",
                rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset,
                route->dlq_topic, error);
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
                            em->value_null ? -1 : (ssize_t)em->value.len, h, &e->dr);
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
    sdk_trace_t child;
    sdk_trace_child(w->ev.ce.has_trace ? &w->ev.ce.trace : NULL, sdk_rng_thread(), &child);
    sdk_trace_format(&child, ctx->traceparent);
}

static int store_fail(sdk_worker_t *w, int r)
{
    sdk_app_fatal(w->app, r, "%s", w->db.err);
    return r;
}

/* Ids handled OK in a plain batch, recorded together at its end (so the write lock of the
 * store is held only for that short transaction, never across plain handlers). */
static bool pending_has(const sdk_worker_t *w, const char *id)
{
    for (size_t off = 0; off < w->dedup_ids.len;) {
        const char *s = (const char *)w->dedup_ids.data + off;
        if (strcmp(s, id) == 0)
            return true;
        off += strlen(s) + 1;
    }
    return false;
}

static int pending_flush(sdk_worker_t *w, int64_t now_ms)
{
    for (size_t off = 0; off < w->dedup_ids.len;) {
        const char *s = (const char *)w->dedup_ids.data + off;
        int r = sdk_dedup_put(&w->db, s, now_ms);
        if (r)
            return r;
        off += strlen(s) + 1;
    }
    return 0;
}

/* Runs msgs[0..n) of p. A batch is either transactional (projection, inbox routes: one store
 * transaction around everything) or plain (handlers outside any transaction); it ends early
 * where the kind changes. Returns 0, or a negative code after a fatal error (then res->done is
 * what may still be marked finished: nothing when the batch transaction did not commit). */
static int run_batch(sdk_worker_t *w, sdk_part_t *p, rd_kafka_message_t **msgs, size_t n,
                     int attempts0, batch_res_t *res)
{
    weir_app *app = w->app;
    memset(res, 0, sizeof(*res));
    buf_reset(&w->dedup_ids);
    bool txn = false, dlq_in_txn = false, kind_set = false, batch_tx = false;
    int r = 0;
    int64_t now_ms = clock_wall_ms();
    if (app->projection) {
        /* Every event moves the projection's offset, routed or not. */
        if ((r = sdk_db_exec(&w->db, SDK_ST_BEGIN)) != 0)
            return store_fail(w, r);
        txn = true;
    }
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        sdk_event_set(&w->ev, m);
        const sdk_route_t *route = sdk_app_route_match(app, rd_kafka_topic_name(m->rkt),
                                                       w->ev.ce.type);
        if (!route) {
            atomic_fetch_add_explicit(&app->stats.unrouted, 1, memory_order_relaxed);
            res->done++;
            continue;
        }
        bool tx = app->projection || route->opt.transactional;
        if (!kind_set) {
            kind_set = true;
            batch_tx = tx;
        } else if (tx != batch_tx) {
            break;
        }
        if (tx && !txn) {
            if ((r = sdk_db_exec(&w->db, SDK_ST_BEGIN)) != 0)
                return store_fail(w, r);
            txn = true;
        }
        bool dedup = route->opt.dedup && w->ev.ce.id[0];
        if (dedup) {
            bool seen = false;
            if ((r = sdk_dedup_seen(&w->db, w->ev.ce.id, now_ms, app->cfg.dedup_ttl_ms, &seen)))
                goto store_error;
            if (seen || (!tx && pending_has(w, w->ev.ce.id))) {
                atomic_fetch_add_explicit(&app->stats.deduplicated, 1, memory_order_relaxed);
                res->done++;
                continue;
            }
        }
        int attempt = (i == 0 ? attempts0 : 0) + 1;
        ctx_prepare(w, route, attempt, tx);
        if (tx && (r = sdk_db_exec(&w->db, SDK_ST_SAVEPOINT)) != 0)
            goto store_error;
        weir_result result = route->fn(&w->ctx, &w->ev, route->user);
        atomic_fetch_add_explicit(&app->stats.handler_calls, 1, memory_order_relaxed);

        if (result == WEIR_RESULT_OK) {
            if (tx && (r = sdk_db_exec(&w->db, SDK_ST_RELEASE)) != 0)
                goto store_error;
            if (dedup && tx && (r = sdk_dedup_put(&w->db, w->ev.ce.id, now_ms)) != 0)
                goto store_error;
            if (dedup && !tx)
                buf_append(&w->dedup_ids, w->ev.ce.id, strlen(w->ev.ce.id) + 1);
            atomic_fetch_add_explicit(&app->stats.handled, 1, memory_order_relaxed);
            if (w->ctx.outboxed) {
                res->kick_relay = true;
                atomic_fetch_add(&app->stats.emitted, w->ctx.outboxed);
            }
            if ((r = produce_emits(w, p, m)) != 0) {
                sdk_app_fatal(app, r, "emit from %s [%d] offset %lld: %s",
                              rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset,
                              app->errmsg);
                goto abort;
            }
            res->done++;
            continue;
        }
        if (tx && ((r = sdk_db_exec(&w->db, SDK_ST_ROLLBACK_TO)) != 0 ||
                   (r = sdk_db_exec(&w->db, SDK_ST_RELEASE)) != 0))
            goto store_error;
        int max = route->opt.retry.max_attempts;
        if (result == WEIR_RESULT_RETRY && attempt < max) {
            atomic_fetch_add_explicit(&app->stats.retried, 1, memory_order_relaxed);
            res->retry = true;
            res->attempts = attempt;
            res->backoff_ms = sdk_backoff_ms(&route->opt.retry, attempt, sdk_rng_thread());
            break;
        }
        char why[SDK_ERRMSG_MAX];
        if (w->ctx.error[0])
            snprintf(why, sizeof(why), "%s", w->ctx.error);
        else if (result == WEIR_RESULT_RETRY)
            snprintf(why, sizeof(why), "handler returned RETRY on the last attempt (%d of %d)",
                     attempt, max);
        else if (result == WEIR_RESULT_FAIL)
            snprintf(why, sizeof(why), "handler returned FAIL");
        else
            snprintf(why, sizeof(why), "handler returned an invalid result (%d)", (int)result);
        if ((r = dead_letter(w, p, m, route, attempt, why)) != 0) {
            sdk_app_fatal(app, r, "dead letter to %s: %s", route->dlq_topic, app->errmsg);
            goto abort;
        }
        dlq_in_txn |= txn;
        res->done++;
    }
    if (w->dedup_ids.len && !txn) {
        if ((r = sdk_db_exec(&w->db, SDK_ST_BEGIN)) != 0)
            goto store_error;
        txn = true;
    }
    if (txn) {
        if ((r = pending_flush(w, now_ms)) != 0)
            goto store_error;
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
    sdk_ctx_reset(&w->ctx);
    return 0;
store_error:
    store_fail(w, r);
abort:
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

/* ---- the worker loop ------------------------------------------------------------------------- */

void sdk_worker_notify(weir_app *app, sdk_part_t *p)
{
    sdk_worker_t *w = &app->workers[p->worker];
    if (w->waiting)
        pthread_cond_signal(&w->cond);
}

/* Under app->lock: the next runnable partition of this worker, or NULL and *wake_ms, the
 * monotonic time the earliest backoff ends. */
static sdk_part_t *pick(sdk_worker_t *w, int64_t now_ms, int64_t *wake_ms)
{
    weir_app *app = w->app;
    size_t n = app->nparts;
    *wake_ms = INT64_MAX;
    for (size_t k = 0; k < n; k++) {
        size_t i = (w->rr + k) % n;
        sdk_part_t *p = app->parts[i];
        if (p->worker != w->index || p->busy || p->revoked || p->q_len == 0)
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

static void finish_batch(sdk_worker_t *w, sdk_part_t *p, const batch_res_t *res)
{
    weir_app *app = w->app;
    bool wake = false;
    for (size_t i = 0; i < res->done; i++) {
        rd_kafka_message_t *m = p->q[p->q_head];
        p->done = m->offset + 1;
        rd_kafka_message_destroy(m);
        p->q_head = (p->q_head + 1) % p->q_cap;
        p->q_len--;
    }
    if (res->done) {
        p->attempts = 0;
        if (p->retrying) {
            p->retrying = false;
            wake = true;
        }
    }
    if (res->retry) {
        p->attempts = res->attempts;
        p->retry_at_ms = clock_mono_ms() + res->backoff_ms;
        if (!p->retrying) {
            p->retrying = true;
            wake = true;
        }
    }
    p->busy = false;
    if (p->revoked)
        pthread_cond_broadcast(&app->cond);
    if (p->paused && !p->retrying && p->q_len <= (size_t)app->cfg.max_in_flight / 2)
        wake = true;
    if (wake)
        sdk_app_wake(app);
}

static void wait_until(sdk_worker_t *w, int64_t wake_mono_ms)
{
    int64_t now = clock_mono_ms();
    int64_t delta = wake_mono_ms == INT64_MAX ? 1000 : WEIR_MIN(wake_mono_ms - now, 1000);
    if (delta <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += delta / 1000;
    ts.tv_nsec += (delta % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    w->waiting = true;
    pthread_cond_timedwait(&w->cond, &w->app->lock, &ts);
    w->waiting = false;
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
    while (!app->workers_stop) {
        int64_t wake;
        sdk_part_t *p = pick(w, clock_mono_ms(), &wake);
        if (!p) {
            wait_until(w, wake);
            continue;
        }
        p->busy = true;
        size_t n = WEIR_MIN(p->q_len, (size_t)app->cfg.batch_max);
        for (size_t i = 0; i < n; i++)
            w->batch[i] = p->q[(p->q_head + i) % p->q_cap];
        int attempts = p->attempts;
        pthread_mutex_unlock(&app->lock);

        batch_res_t res;
        run_batch(w, p, w->batch, n, attempts, &res);
        if (res.kick_relay)
            weir_app_outbox_kick(app);
        maybe_purge(w);

        pthread_mutex_lock(&app->lock);
        finish_batch(w, p, &res);
        if (atomic_load(&app->fatal))
            break; /* the app is stopping; nothing more may be marked done */
    }
    pthread_mutex_unlock(&app->lock);
    return NULL;
}

int sdk_workers_start(weir_app *app)
{
    int n = app->cfg.workers;
    app->workers = weir_calloc((size_t)n, sizeof(*app->workers));
    for (int i = 0; i < n; i++) {
        sdk_worker_t *w = &app->workers[i];
        w->app = app;
        w->index = i;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);
        w->batch = weir_calloc((size_t)app->cfg.batch_max, sizeof(*w->batch));
        sdk_event_init(&w->ev);
        if (app->db_path && sdk_db_open(app->db_path, &w->db) != 0) {
            sdk_app_set_error(app, "%s", w->db.err);
            return -WEIR_EIO;
        }
    }
    for (int i = 0; i < n; i++) {
        sdk_worker_t *w = &app->workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
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
    for (int i = 0; i < app->cfg.workers; i++)
        pthread_cond_signal(&app->workers[i].cond);
    pthread_mutex_unlock(&app->lock);
    for (int i = 0; i < app->cfg.workers; i++) {
        sdk_worker_t *w = &app->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->cond);
        sdk_db_close(&w->db);
        sdk_event_deinit(&w->ev);
        sdk_ctx_deinit(&w->ctx);
        buf_deinit(&w->dedup_ids);
        free(w->batch);
    }
    free(app->workers);
    app->workers = NULL;
}
