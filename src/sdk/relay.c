/*
 * Producing: the one place records leave the app (emits, dead letters, outbox rows), the
 * delivery-report thread that serves the producer, and the outbox relay.
 *
 * The relay reads unsent outbox rows in id order, produces them with the idempotent producer
 * (which keeps their order per partition), waits for every acknowledgement of the pass, then
 * marks the acknowledged rows sent in one transaction. A crash between produce and mark means
 * the rows are produced again on the next start: the outbox is at least once, and the rows keep
 * their ce_id so a deduplicating consumer sees the repeat as one event.
 */
#include "sdk/sdk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SDK_RELAY_BATCH              256
#define SDK_OUTBOX_KEEP_MS           (3600 * 1000) /* sent rows are kept an hour, for inspection */
#define SDK_OUTBOX_PURGE_INTERVAL_MS 60000
#define SDK_RELAY_DRAIN_MS           5000 /* at stop: how long the relay keeps publishing */

typedef struct {
    sdk_dr_t dr;
    weir_app *app;
    int64_t row_id;
    int state; /* 0 in flight, 1 acknowledged, -1 failed */
} relay_item_t;

/* librdkafka looks up the metadata of a topic it has not produced to yet only at its next
 * one-second scan, so the first record to each new topic would wait up to a second. Asking for
 * the topic's metadata once, right away, costs one round trip instead. */
static void topic_warm(weir_app *app, const char *topic)
{
    pthread_mutex_lock(&app->topics_lock);
    for (size_t i = 0; i < app->ntopics; i++) {
        if (strcmp(app->topics[i], topic) == 0) {
            pthread_mutex_unlock(&app->topics_lock);
            return;
        }
    }
    pthread_mutex_unlock(&app->topics_lock);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(app->producer, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && rd_kafka_metadata(app->producer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    pthread_mutex_lock(&app->topics_lock);
    if (app->ntopics < SDK_TOPICS_WARM_MAX)
        app->topics[app->ntopics++] = weir_strdup(topic);
    pthread_mutex_unlock(&app->topics_lock);
}

int sdk_produce(weir_app *app, const char *topic, int32_t partition, const void *key,
                ssize_t key_len, const void *value, ssize_t value_len, rd_kafka_headers_t *hdrs,
                sdk_dr_t *dr)
{
    topic_warm(app, topic);
    /* NULL pointer: a null key or value; a non-NULL one with length 0: empty. */
    const void *k = key_len < 0 ? NULL : key ? key : "";
    size_t klen = key_len < 0 ? 0 : (size_t)key_len;
    void *v = value_len < 0 ? NULL : (void *)(value ? value : "");
    size_t vlen = value_len < 0 ? 0 : (size_t)value_len;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            app->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(k, klen),
            RD_KAFKA_V_VALUE(v, vlen), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(dr),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0; /* librdkafka owns hdrs now */
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !atomic_load(&app->fatal)) {
            /* Backpressure from the producer: the delivery thread frees room. */
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (err == RD_KAFKA_RESP_ERR__FATAL)
            sdk_client_fatal(app, app->producer); /* fenced, say, before the error callback */
        sdk_app_set_error(app, "produce to %s: %s", topic, rd_kafka_err2str(err));
        return -WEIR_EIO;
    }
}

void sdk_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    weir_app *app = opaque;
    sdk_obs_delivered(app, msg);
    sdk_dr_t *dr = msg->_private;
    if (!dr)
        return;
    const char *topic = rd_kafka_topic_name(msg->rkt);
    if (dr->kind == SDK_DR_PEND) {
        sdk_pend_t *e = (sdk_pend_t *)dr;
        pthread_mutex_lock(&app->lock);
        e->remaining--;
        if (msg->err)
            e->failed = true;
        /* Finished entries leave from the head only, so the list stays in offset order. */
        sdk_part_t *p = e->part;
        while (p->pend_head && p->pend_head->remaining == 0 && !p->pend_head->failed) {
            sdk_pend_t *done = p->pend_head;
            p->pend_head = done->next;
            if (!p->pend_head)
                p->pend_tail = NULL;
            free(done);
        }
        pthread_cond_broadcast(&app->cond);
        pthread_mutex_unlock(&app->lock);
    } else {
        relay_item_t *it = (relay_item_t *)dr;
        pthread_mutex_lock(&app->relay_lock);
        it->state = msg->err ? -1 : 1;
        app->relay_inflight--;
        pthread_cond_broadcast(&app->relay_cond);
        pthread_mutex_unlock(&app->relay_lock);
    }
    if (msg->err)
        sdk_app_fatal(app, -WEIR_EIO, "delivery to %s [%d] failed: %s", topic, msg->partition,
                      rd_kafka_err2str(msg->err));
}

/* ---- the delivery thread -------------------------------------------------------------------- */

static void *dr_main(void *arg)
{
    weir_app *app = arg;
    while (!atomic_load(&app->dr_stop))
        rd_kafka_poll(app->producer, 100);
    rd_kafka_poll(app->producer, 0);
    return NULL;
}

int sdk_dr_thread_start(weir_app *app)
{
    atomic_store(&app->dr_stop, false);
    if (pthread_create(&app->dr_thread, NULL, dr_main, app) != 0) {
        sdk_app_set_error(app, "delivery thread: %s", strerror(errno));
        return -WEIR_EIO;
    }
    app->dr_started = true;
    return 0;
}

void sdk_dr_thread_stop(weir_app *app)
{
    if (!app->dr_started)
        return;
    atomic_store(&app->dr_stop, true);
    pthread_join(app->dr_thread, NULL);
    app->dr_started = false;
}

/* ---- the outbox relay ----------------------------------------------------------------------- */

void weir_app_outbox_kick(weir_app *app)
{
    pthread_mutex_lock(&app->relay_lock);
    app->relay_kicked = true;
    pthread_cond_broadcast(&app->relay_cond);
    pthread_mutex_unlock(&app->relay_lock);
}

static void relay_wait(weir_app *app, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&app->relay_lock);
    if (!app->relay_kicked && !atomic_load(&app->relay_stop))
        pthread_cond_timedwait(&app->relay_cond, &app->relay_lock, &ts);
    app->relay_kicked = false;
    pthread_mutex_unlock(&app->relay_lock);
}

/* One pass: up to SDK_RELAY_BATCH rows produced, acknowledged and marked. Returns the number
 * of rows taken, or a negative code (fatal: the app stops). */
static int relay_pass(weir_app *app, sdk_db_t *db, sdk_outbox_row_t *rows, relay_item_t *items)
{
    size_t n = 0;
    int64_t t0 = clock_mono_ms();
    int r = sdk_outbox_fetch(db, SDK_RELAY_BATCH, rows, &n);
    if (r) {
        sdk_app_fatal(app, r, "%s", db->err);
        return r;
    }
    if (n == 0)
        return 0;
    pthread_mutex_lock(&app->relay_lock);
    app->relay_inflight = 0;
    pthread_mutex_unlock(&app->relay_lock);
    size_t produced = 0;
    for (size_t i = 0; i < n; i++) {
        sdk_outbox_row_t *row = &rows[i];
        items[i] = (relay_item_t){{SDK_DR_RELAY}, app, row->id, 0};
        rd_kafka_headers_t *h = NULL;
        if (sdk_hdrblob_decode(row->headers.data, row->headers.len, &h) != 0) {
            /* A row we cannot read would block the outbox forever: mark it, say so loudly. */
            sdk_app_log(app, WEIR_LOG_ERROR, "outbox row %lld has corrupt headers; skipped",
                        (long long)row->id);
            items[i].state = 1;
            continue;
        }
        pthread_mutex_lock(&app->relay_lock);
        app->relay_inflight++;
        pthread_mutex_unlock(&app->relay_lock);
        r = sdk_produce(app, row->topic, row->partition, row->key.data,
                        row->key_null ? -1 : (ssize_t)row->key.len, row->value.data,
                        row->value_null ? -1 : (ssize_t)row->value.len, h, &items[i].dr);
        if (r) {
            pthread_mutex_lock(&app->relay_lock);
            app->relay_inflight--;
            pthread_mutex_unlock(&app->relay_lock);
            items[i].state = -1;
            sdk_app_fatal(app, r, "outbox: %s", app->errmsg);
            break;
        }
        produced++;
    }
    /* Every produced row gets a report (success, failure, or purge at destroy). */
    int64_t t1 = clock_mono_ms();
    pthread_mutex_lock(&app->relay_lock);
    while (app->relay_inflight > 0)
        pthread_cond_wait(&app->relay_cond, &app->relay_lock);
    pthread_mutex_unlock(&app->relay_lock);
    int64_t t2 = clock_mono_ms();

    size_t sent = 0;
    int64_t now = clock_wall_ms();
    if ((r = sdk_db_exec(db, SDK_ST_BEGIN)) == 0) {
        for (size_t i = 0; i < n && !r; i++) {
            if (items[i].state != 1)
                continue;
            r = sdk_outbox_mark_sent(db, items[i].row_id, now);
            sent++;
        }
        if (!r)
            r = sdk_db_exec(db, SDK_ST_COMMIT);
        else
            sdk_db_exec(db, SDK_ST_ROLLBACK);
    }
    for (size_t i = 0; i < n; i++)
        sdk_outbox_row_deinit(&rows[i]);
    if (r) {
        sdk_app_fatal(app, r, "%s", db->err);
        return r;
    }
    atomic_fetch_add(&app->stats.outbox_published, sent);
    sdk_app_log(app, WEIR_LOG_DEBUG,
                "outbox: %zu rows published (fetch+produce %lld ms, acks %lld ms, mark %lld ms)",
                sent, (long long)(t1 - t0), (long long)(t2 - t1),
                (long long)(clock_mono_ms() - t2));
    return (int)n;
}

static void *relay_main(void *arg)
{
    weir_app *app = arg;
    sdk_db_t db;
    if (sdk_db_open(app->db_path, &db) != 0) {
        sdk_app_fatal(app, -WEIR_EIO, "outbox relay: %s", db.err);
        return NULL;
    }
    sdk_outbox_row_t *rows = weir_calloc(SDK_RELAY_BATCH, sizeof(*rows));
    relay_item_t *items = weir_calloc(SDK_RELAY_BATCH, sizeof(*items));
    int64_t purge_at = 0, drain_until = 0;
    for (;;) {
        bool stopping = atomic_load(&app->relay_stop);
        if (stopping && !drain_until)
            drain_until = clock_mono_ms() + SDK_RELAY_DRAIN_MS;
        if (atomic_load(&app->fatal) || (stopping && clock_mono_ms() >= drain_until))
            break;
        int n = relay_pass(app, &db, rows, items);
        if (n < 0)
            break;
        if (n == SDK_RELAY_BATCH)
            continue; /* more waiting */
        if (stopping)
            break; /* drained */
        if (clock_mono_ms() >= purge_at) {
            purge_at = clock_mono_ms() + SDK_OUTBOX_PURGE_INTERVAL_MS;
            if (sdk_outbox_purge(&db, clock_wall_ms() - SDK_OUTBOX_KEEP_MS, NULL) != 0)
                sdk_app_log(app, WEIR_LOG_WARN, "%s", db.err);
        }
        relay_wait(app, app->cfg.outbox_poll_ms);
    }
    free(rows);
    free(items);
    sdk_db_close(&db);
    return NULL;
}

int sdk_relay_start(weir_app *app)
{
    atomic_store(&app->relay_stop, false);
    if (pthread_create(&app->relay_thread, NULL, relay_main, app) != 0) {
        sdk_app_set_error(app, "relay thread: %s", strerror(errno));
        return -WEIR_EIO;
    }
    app->relay_started = true;
    return 0;
}

void sdk_relay_stop(weir_app *app)
{
    if (!app->relay_started)
        return;
    atomic_store(&app->relay_stop, true);
    weir_app_outbox_kick(app);
    pthread_join(app->relay_thread, NULL);
    app->relay_started = false;
}
