/*
 * The event store's client: one aggregate is the records of one key of a key-indexed topic.
 * weir_store_load asks the admin API (GET .../key-offsets, libcurl, as registry_client.c) for
 * the key's offsets and fetches only those, with a simple consumer started once per store:
 * a seek where an offset does not follow the one before, so neighbouring offsets are one fetch.
 * weir_store_execute is the aggregate loop: load, the user's decide, append with the header
 * weir.expected.offset (idempotent producer), and on the broker's refusal (INVALID_RECORD, or
 * CORRUPT_MESSAGE for librdkafka's Produce v7) load and decide again, a bounded number of times.
 *
 * A decision's events are one record batch, so they are appended all or none: only the first
 * carries the expected offset, and the broker checks and appends a batch under the partition's
 * append lock, so nothing can land between them. The producer lingers (STORE_LINGER_MS) and the
 * append enqueues every event before it flushes (a flush sends at once, ignoring the linger),
 * so librdkafka puts them in one batch; a decision larger than one batch is refused up front,
 * and the delivered offsets are checked to follow one another.
 */
#include "sdk/sdk.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_BODY_MAX   (16u << 20)
#define STORE_LOAD_LIMIT 100000
#define STORE_HEADER     "weir.expected.offset"
/* A decision is one batch: at most this many events and bytes (librdkafka's batch limits are
 * 10,000 messages and batch.size, 1,000,000 bytes; the rest is room for keys and headers). */
#define STORE_DECISION_EVENTS 1000
#define STORE_DECISION_BYTES  (512u << 10)
#define STORE_LINGER_MS       "100"
/* A wanted offset at most this far past the next one is read through to rather than sought. */
#define STORE_READ_THROUGH 256

/* The consumer's view of one topic of the store: started while a load reads it. */
typedef struct {
    rd_kafka_topic_t *rkt;
    char *name;
    bool consuming;
} store_reader_t;

struct weir_store {
    char *admin_url; /* without a trailing '/' */
    char *topic;
    int32_t partition;
    int max_attempts;
    int timeout_ms;
    rd_kafka_t *consumer;
    store_reader_t events, snapshots; /* snapshots.rkt NULL: none */
    rd_kafka_t *producer;
    uint64_t conflicts;
};

/* One append's delivery report. */
typedef struct {
    bool done;
    rd_kafka_resp_err_t err;
    int64_t offset;
} store_delivery_t;

struct weir_store_decision {
    buf_t *values;
    size_t count, cap;
};

static int store_err(char *errmsg, size_t size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int store_err(char *errmsg, size_t size, int rc, const char *fmt, ...)
{
    if (errmsg && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, size, fmt, ap);
        va_end(ap);
    }
    return rc;
}

void weir_store_config_init(weir_store_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_attempts = 5;
    cfg->timeout_ms = 10000;
}

static void on_store_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* A librdkafka client on brokers with the given settings (NULL-terminated name, value pairs). */
static rd_kafka_t *store_client(rd_kafka_type_t type, const char *brokers,
                                const char *const *settings, char *errmsg, size_t size)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[256];
    bool ok =
        rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err)) == RD_KAFKA_CONF_OK;
    for (size_t i = 0; ok && settings[i]; i += 2)
        ok = rd_kafka_conf_set(c, settings[i], settings[i + 1], err, sizeof(err)) ==
             RD_KAFKA_CONF_OK;
    if (type == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set_dr_msg_cb(c, on_store_delivery);
    rd_kafka_t *rk = ok ? rd_kafka_new(type, c, err, sizeof(err)) : NULL;
    if (!rk) {
        if (!ok)
            rd_kafka_conf_destroy(c);
        store_err(errmsg, size, WEIR_ERR_INVAL, "librdkafka: %s", err);
    }
    return rk;
}

int weir_store_new(const weir_store_config *cfg, weir_store **out, char *errmsg, size_t size)
{
    *out = NULL;
    if (!cfg || !cfg->brokers || !cfg->topic || !*cfg->topic || !cfg->admin_url ||
        (strncmp(cfg->admin_url, "http://", 7) && strncmp(cfg->admin_url, "https://", 8)))
        return store_err(errmsg, size, WEIR_ERR_INVAL,
                         "store: brokers, topic and admin_url (http://host:port) needed");
    if (cfg->partition < 0 || cfg->max_attempts < 1 || cfg->timeout_ms < 1)
        return store_err(errmsg, size, WEIR_ERR_INVAL,
                         "store: partition 0 or more, max_attempts and timeout_ms positive");
    /* short fetch waits: a seek waits for the fetch in flight; the consumer runs only in loads */
    static const char *const consumer_settings[] = {"enable.partition.eof",
                                                    "false",
                                                    "fetch.wait.max.ms",
                                                    "10",
                                                    "queued.max.messages.kbytes",
                                                    "4096",
                                                    NULL};
    static const char *const producer_settings[] = {
        "enable.idempotence", "true", "acks", "all", "linger.ms", STORE_LINGER_MS, NULL};
    weir_store *st = weir_calloc(1, sizeof(*st));
    st->consumer = store_client(RD_KAFKA_CONSUMER, cfg->brokers, consumer_settings, errmsg, size);
    st->producer = st->consumer ? store_client(RD_KAFKA_PRODUCER, cfg->brokers, producer_settings,
                                               errmsg, size)
                                : NULL;
    if (!st->producer) {
        weir_store_free(st);
        return WEIR_ERR_INVAL;
    }
    sdk_curl_init();
    st->admin_url = weir_strdup(cfg->admin_url);
    size_t n = strlen(st->admin_url);
    while (n > 0 && st->admin_url[n - 1] == '/')
        st->admin_url[--n] = '\0';
    st->topic = weir_strdup(cfg->topic);
    st->events.name = st->topic;
    st->partition = cfg->partition;
    st->max_attempts = cfg->max_attempts;
    st->timeout_ms = cfg->timeout_ms;
    st->events.rkt = rd_kafka_topic_new(st->consumer, st->topic, NULL);
    if (cfg->snapshots) {
        if (asprintf(&st->snapshots.name, "%s" WEIR_STORE_SNAPSHOTS_SUFFIX, st->topic) < 0)
            abort();
        st->snapshots.rkt = rd_kafka_topic_new(st->consumer, st->snapshots.name, NULL);
    }
    *out = st;
    return 0;
}

void weir_store_free(weir_store *st)
{
    if (!st)
        return;
    if (st->events.rkt)
        rd_kafka_topic_destroy(st->events.rkt);
    if (st->snapshots.rkt)
        rd_kafka_topic_destroy(st->snapshots.rkt);
    free(st->snapshots.name);
    if (st->consumer)
        rd_kafka_destroy(st->consumer);
    if (st->producer) {
        rd_kafka_flush(st->producer, st->timeout_ms);
        rd_kafka_destroy(st->producer);
    }
    free(st->admin_url);
    free(st->topic);
    free(st);
}

uint64_t weir_store_conflicts(const weir_store *st)
{
    return st->conflicts;
}

/* Delivery reports land in the store_delivery_t the message's opaque points to. */
static void on_store_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    store_delivery_t *dl = m->_private;
    dl->err = m->err;
    dl->offset = m->offset;
    dl->done = true;
}

/* ---- the key's offsets from the admin API --------------------------------------------------- */

/* GET .../key-offsets into *json (status 200), else an error naming what the API said. */
static int key_offsets_get(weir_store *st, const char *topic_name, const char *key, int limit,
                           json_t **json, char *errmsg, size_t size)
{
    *json = NULL;
    CURL *c = curl_easy_init();
    if (!c)
        return store_err(errmsg, size, WEIR_ERR_NOMEM, "load: curl_easy_init failed");
    char *topic = curl_easy_escape(c, topic_name, 0), *k = curl_easy_escape(c, key, 0);
    char *url = NULL;
    if (asprintf(&url, "%s/api/v1/topics/%s/key-offsets?partition=%" PRId32 "&key=%s&limit=%d",
                 st->admin_url, topic, st->partition, k, limit) < 0)
        abort();
    sdk_http_body_t a = {{0}, STORE_BODY_MAX, false};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)st->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sdk_http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    json_t *j = json_loadb((const char *)a.body.data, a.body.len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    int rc = 0;
    if (a.too_big)
        rc = store_err(errmsg, size, WEIR_ERR_TOOBIG, "load %s: answer over %u bytes", key,
                       STORE_BODY_MAX);
    else if (cc != CURLE_OK)
        rc = store_err(errmsg, size, WEIR_ERR_IO, "load %s: the admin API at %s: %s", key,
                       st->admin_url, curl_easy_strerror(cc));
    else if (status != 200 || !json_is_array(json_object_get(j, "offsets")))
        rc = store_err(errmsg, size,
                       status == 404   ? WEIR_ERR_NOENT
                       : status == 409 ? WEIR_ERR_INVAL
                                       : WEIR_ERR_IO,
                       "load %s: HTTP %ld: %s", key, status, msg ? msg : "no key offsets");
    if (rc == 0)
        *json = j;
    else
        json_decref(j);
    buf_deinit(&a.body);
    free(url);
    curl_free(topic);
    curl_free(k);
    curl_easy_cleanup(c);
    return rc;
}

/* ---- fetching those offsets ----------------------------------------------------------------- */

static void *mem_dup(const void *p, size_t n)
{
    if (!p)
        return NULL;
    void *d = weir_malloc(n + 1);
    memcpy(d, p, n);
    ((char *)d)[n] = '\0';
    return d;
}

static void record_copy(weir_store_record *r, const rd_kafka_message_t *m)
{
    memset(r, 0, sizeof(*r));
    r->key = mem_dup(m->key, m->key_len);
    r->key_len = m->key_len;
    r->value = mem_dup(m->payload, m->len);
    r->value_len = m->payload ? m->len : 0;
    r->offset = m->offset;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) || !hdrs)
        return;
    r->header_count = rd_kafka_header_cnt(hdrs);
    r->headers = weir_calloc(r->header_count + 1, sizeof(*r->headers));
    for (size_t i = 0; i < r->header_count; i++) {
        const char *name;
        const void *v;
        size_t vlen;
        rd_kafka_header_get_all(hdrs, i, &name, &v, &vlen);
        r->headers[i].name = weir_strdup(name);
        r->headers[i].value = mem_dup(v, vlen);
        r->headers[i].value_len = v ? vlen : 0;
    }
}

/* Positions the consumer at offset: started once, then a seek (dropping what was prefetched). */
static int consumer_at(weir_store *st, store_reader_t *rd, int64_t offset, char *errmsg,
                       size_t size)
{
    rd_kafka_resp_err_t err;
    if (!rd->consuming) {
        err = rd_kafka_consume_start(rd->rkt, st->partition, offset) ? rd_kafka_last_error()
                                                                     : RD_KAFKA_RESP_ERR_NO_ERROR;
        rd->consuming = !err;
    } else {
        err = rd_kafka_seek(rd->rkt, st->partition, offset, st->timeout_ms);
    }
    return err ? store_err(errmsg, size, WEIR_ERR_IO,
                           "load: reading %s/%" PRId32 " at %" PRId64 ": %s", rd->name,
                           st->partition, offset, rd_kafka_err2str(err))
               : 0;
}

/* Reads the records at offs[0..n) that are still the key's (the cleaner may have removed one:
 * the fetch then gives a later record, kept only when it is the next offset wanted). Records
 * between two wanted offsets close together are read and dropped, cheaper than a seek. */
static int fetch_offsets(weir_store *st, store_reader_t *rd, const char *key, const int64_t *offs,
                         size_t n, weir_store_events *out, char *errmsg, size_t size)
{
    size_t klen = strlen(key);
    int64_t next = -1; /* the offset the consumer reads next without a seek */
    out->records = weir_calloc(n + 1, sizeof(*out->records));
    for (size_t i = 0; i < n;) {
        bool near = next >= 0 && offs[i] >= next && offs[i] - next <= STORE_READ_THROUGH;
        int rc = near ? 0 : consumer_at(st, rd, offs[i], errmsg, size);
        if (rc)
            return rc;
        rd_kafka_message_t *m = rd_kafka_consume(rd->rkt, st->partition, st->timeout_ms);
        if (!m || m->err) {
            rc = store_err(errmsg, size, m ? WEIR_ERR_IO : WEIR_ERR_TIMEDOUT,
                           "load %s: %s/%" PRId32 " at %" PRId64 ": %s", key, rd->name,
                           st->partition, offs[i],
                           m ? rd_kafka_message_errstr(m) : "no record in time");
            if (m)
                rd_kafka_message_destroy(m);
            return rc;
        }
        next = m->offset + 1;
        while (i < n && offs[i] < m->offset) /* removed by the cleaner */
            i++;
        if (i < n && offs[i] == m->offset) {
            if (m->key && m->key_len == klen && memcmp(m->key, key, klen) == 0)
                record_copy(&out->records[out->count++], m);
            i++;
        }
        rd_kafka_message_destroy(m);
    }
    return 0;
}

void weir_store_events_free(weir_store_events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->count; i++) {
        weir_store_record *r = &ev->records[i];
        for (size_t h = 0; h < r->header_count; h++) {
            free(r->headers[h].name);
            free(r->headers[h].value);
        }
        free(r->headers);
        free(r->key);
        free(r->value);
    }
    free(ev->records);
    free(ev->snapshot);
    memset(ev, 0, sizeof(*ev));
}

/* The offsets of key in rd's topic past `after` (its newest `limit`), and the records at them,
 * appended to out; the consumer stops afterwards (no fetching in the background). */
static int load_from(weir_store *st, store_reader_t *rd, const char *key, int limit, int64_t after,
                     weir_store_events *out, char *errmsg, size_t size)
{
    json_t *j;
    int rc = key_offsets_get(st, rd->name, key, limit, &j, errmsg, size);
    if (rc)
        return rc;
    json_t *arr = json_object_get(j, "offsets");
    size_t n = 0;
    int64_t *offs = weir_calloc(json_array_size(arr) + 1, sizeof(*offs));
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (json_integer_value(json_array_get(arr, i)) > after)
            offs[n++] = json_integer_value(json_array_get(arr, i));
    json_decref(j);
    rc = fetch_offsets(st, rd, key, offs, n, out, errmsg, size);
    if (rd->consuming) {
        rd_kafka_consume_stop(rd->rkt, st->partition);
        rd->consuming = false;
    }
    if (rc == 0 && n > 0)
        out->version = offs[n - 1];
    free(offs);
    return rc;
}

/* The key's latest snapshot into out (value and the version in its header), if any. */
static int load_snapshot(weir_store *st, const char *key, weir_store_events *out, char *errmsg,
                         size_t size)
{
    weir_store_events snap = {NULL, 0, -1, NULL, 0, -1};
    int rc = load_from(st, &st->snapshots, key, 1, -1, &snap, errmsg, size);
    for (size_t i = 0; rc == 0 && snap.count == 1 && i < snap.records[0].header_count; i++) {
        weir_store_header *h = &snap.records[0].headers[i];
        if (strcmp(h->name, WEIR_STORE_SNAPSHOT_HEADER) == 0 && h->value && h->value_len < 24) {
            out->snapshot_version = strtoll(h->value, NULL, 10);
            out->snapshot = snap.records[0].value;
            out->snapshot_len = snap.records[0].value_len;
            snap.records[0].value = NULL;
        }
    }
    weir_store_events_free(&snap);
    return rc;
}

int weir_store_load(weir_store *st, const char *key, weir_store_events *out, char *errmsg,
                    size_t size)
{
    memset(out, 0, sizeof(*out));
    out->version = out->snapshot_version = -1;
    if (!st || !key || !*key)
        return store_err(errmsg, size, WEIR_ERR_INVAL, "load: a store and a key needed");
    int rc = st->snapshots.rkt ? load_snapshot(st, key, out, errmsg, size) : 0;
    if (rc == 0)
        rc = load_from(st, &st->events, key, STORE_LOAD_LIMIT, out->snapshot_version, out, errmsg,
                       size);
    if (rc == 0 && out->version < out->snapshot_version) /* nothing after the snapshot */
        out->version = out->snapshot_version;
    if (rc) {
        weir_store_events_free(out);
        out->version = out->snapshot_version = -1;
    }
    return rc;
}

/* ---- the aggregate loop --------------------------------------------------------------------- */

void weir_store_decision_add(weir_store_decision *d, const void *value, size_t value_len)
{
    if (d->count == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 4;
        d->values = weir_realloc(d->values, d->cap * sizeof(*d->values));
    }
    buf_t *b = &d->values[d->count++];
    memset(b, 0, sizeof(*b));
    buf_append(b, value, value_len);
}

static void decision_clear(weir_store_decision *d)
{
    for (size_t i = 0; i < d->count; i++)
        buf_deinit(&d->values[i]);
    d->count = 0;
}

/* Waits for the delivery report of each of n messages. */
static void deliveries_wait(weir_store *st, const store_delivery_t *dl, size_t n)
{
    rd_kafka_flush(st->producer, st->timeout_ms);
    for (size_t i = 0; i < n; i++)
        while (!dl[i].done) /* librdkafka reports every message, at the latest at its timeout */
            rd_kafka_poll(st->producer, 100);
}

static bool refused(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_INVALID_RECORD || err == RD_KAFKA_RESP_ERR_INVALID_MSG;
}

/* What the deliveries of a decision's n events say: 0 (all appended, one after another), 1 (the
 * batch was refused: a conflict), or an error, WEIR_ERR_CORRUPT if only some were appended. */
static int deliveries_judge(const store_delivery_t *dl, size_t n, const char *key, char *errmsg,
                            size_t size)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += dl[i].err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (ok != 0 && ok != n)
        return store_err(errmsg, size, WEIR_ERR_CORRUPT,
                         "key %s: %zu of the decision's %zu events were appended (the decision "
                         "was split across batches)",
                         key, ok, n);
    if (ok == 0 && refused(dl[0].err))
        return 1;
    if (ok == 0)
        return store_err(errmsg, size, WEIR_ERR_IO, "append %s: %s", key,
                         rd_kafka_err2str(dl[0].err));
    for (size_t i = 1; i < n; i++)
        if (dl[i].offset != dl[0].offset + (int64_t)i)
            return store_err(errmsg, size, WEIR_ERR_CORRUPT,
                             "key %s: the decision's events landed at offsets %" PRId64
                             " and %" PRId64 ", not one after another",
                             key, dl[i - 1].offset, dl[i].offset);
    return 0;
}

/* Appends a decision's events as one batch, the first expecting the key at `expected`: 0 and
 * *last (the offset of the last event), 1 on a conflict (the broker refused the expected
 * offset; nothing appended), or a negative WEIR_ERR_*. */
static int append_decision(weir_store *st, const char *key, const weir_store_decision *d,
                           int64_t expected, int64_t *last, char *errmsg, size_t size)
{
    size_t bytes = 0;
    for (size_t i = 0; i < d->count; i++)
        bytes += d->values[i].len + strlen(key);
    if (d->count > STORE_DECISION_EVENTS || bytes > STORE_DECISION_BYTES)
        return store_err(errmsg, size, WEIR_ERR_INVAL,
                         "key %s: a decision of %zu events and %zu bytes is larger than one "
                         "batch (at most %d events, %u bytes), so it cannot be appended at once",
                         key, d->count, bytes, STORE_DECISION_EVENTS, STORE_DECISION_BYTES);
    char hv[24];
    snprintf(hv, sizeof(hv), "%" PRId64, expected);
    store_delivery_t *dl = weir_calloc(d->count, sizeof(*dl));
    size_t queued = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (; queued < d->count && !err; queued++) {
        dl[queued] = (store_delivery_t){false, RD_KAFKA_RESP_ERR_NO_ERROR, -1};
        const buf_t *v = &d->values[queued];
        err = queued == 0 ? rd_kafka_producev(st->producer, RD_KAFKA_V_TOPIC(st->topic),
                                              RD_KAFKA_V_PARTITION(st->partition),
                                              RD_KAFKA_V_KEY(key, strlen(key)),
                                              RD_KAFKA_V_VALUE(v->data, v->len),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_HEADER(STORE_HEADER, hv, -1),
                                              RD_KAFKA_V_OPAQUE(&dl[queued]), RD_KAFKA_V_END)
                          : rd_kafka_producev(st->producer, RD_KAFKA_V_TOPIC(st->topic),
                                              RD_KAFKA_V_PARTITION(st->partition),
                                              RD_KAFKA_V_KEY(key, strlen(key)),
                                              RD_KAFKA_V_VALUE(v->data, v->len),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_OPAQUE(&dl[queued]), RD_KAFKA_V_END);
    }
    if (err) {
        /* Not all could be queued: the queued ones, still lingering, are dropped unsent. */
        queued--;
        rd_kafka_purge(st->producer, RD_KAFKA_PURGE_F_QUEUE);
        deliveries_wait(st, dl, queued);
        size_t sent = 0;
        for (size_t i = 0; i < queued; i++)
            sent += dl[i].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        free(dl);
        return store_err(errmsg, size, sent ? WEIR_ERR_CORRUPT : WEIR_ERR_IO,
                         "append %s: %s (%zu of %zu events appended)", key, rd_kafka_err2str(err),
                         sent, d->count);
    }
    deliveries_wait(st, dl, queued);
    int rc = deliveries_judge(dl, d->count, key, errmsg, size);
    if (rc == 0)
        *last = dl[d->count - 1].offset;
    free(dl);
    return rc;
}

/* Load, decide, append the decision; 1 when it met a conflict (decide again). */
static int attempt_once(weir_store *st, const char *key, weir_store_decide_fn decide, void *user,
                        weir_store_decision *d, int64_t *version, char *errmsg, size_t size)
{
    weir_store_events h;
    int rc = weir_store_load(st, key, &h, errmsg, size);
    if (rc)
        return rc;
    decision_clear(d);
    rc = decide(&h, d, user);
    int64_t at = h.version;
    weir_store_events_free(&h);
    if (rc)
        return store_err(errmsg, size, rc < 0 ? rc : WEIR_ERR_INVAL, "key %s: decide gave up (%s)",
                         key, weir_strerror(rc));
    *version = at;
    if (d->count == 0)
        return 0;
    return append_decision(st, key, d, at, version, errmsg, size);
}

int weir_store_execute(weir_store *st, const char *key, weir_store_decide_fn decide, void *user,
                       int64_t *version, char *errmsg, size_t size)
{
    if (!st || !key || !*key || !decide)
        return store_err(errmsg, size, WEIR_ERR_INVAL, "execute: a store, a key and decide needed");
    weir_store_decision d = {0};
    int64_t v = -1;
    int rc = 1, attempts = 0;
    while (rc == 1 && attempts < st->max_attempts) {
        attempts++;
        rc = attempt_once(st, key, decide, user, &d, &v, errmsg, size);
        if (rc == 1)
            st->conflicts++;
    }
    if (rc == 1)
        rc =
            store_err(errmsg, size, WEIR_ERR_AGAIN,
                      "key %s: a conflict on each of %d attempts (the last expected offset %" PRId64
                      ", another writer appended after it)",
                      key, attempts, v);
    decision_clear(&d);
    free(d.values);
    if (rc == 0 && version)
        *version = v;
    return rc;
}

int weir_store_snapshot(weir_store *st, const char *key, int64_t version, const void *state,
                        size_t state_len, char *errmsg, size_t size)
{
    if (!st || !key || !*key || version < 0 || !state)
        return store_err(errmsg, size, WEIR_ERR_INVAL,
                         "snapshot: a store, a key, a version (0 or more) and a state needed");
    if (!st->snapshots.rkt)
        return store_err(errmsg, size, WEIR_ERR_INVAL,
                         "snapshot: the store was opened without snapshots");
    char hv[24];
    snprintf(hv, sizeof(hv), "%" PRId64, version);
    store_delivery_t dl = {false, RD_KAFKA_RESP_ERR_NO_ERROR, -1};
    rd_kafka_resp_err_t err = rd_kafka_producev(
        st->producer, RD_KAFKA_V_TOPIC(st->snapshots.name), RD_KAFKA_V_PARTITION(st->partition),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)state, state_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER(WEIR_STORE_SNAPSHOT_HEADER, hv, -1), RD_KAFKA_V_OPAQUE(&dl),
        RD_KAFKA_V_END);
    if (!err)
        deliveries_wait(st, &dl, 1); /* the flush sends it now, not after the linger */
    err = err ? err : dl.err;
    return err ? store_err(errmsg, size, WEIR_ERR_IO, "snapshot %s to %s: %s", key,
                           st->snapshots.name, rd_kafka_err2str(err))
               : 0;
}
