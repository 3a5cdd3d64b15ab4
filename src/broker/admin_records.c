/*
 * Records for tools: the admin API's and the console's reads and writes of single records.
 * A read copies whole batches out of the log under the registry read lock (as a fetch does),
 * then decodes them with the lock released; a write builds one v2 batch and hands it to the
 * ordinary produce path on loop 0, so validation, max.message.bytes, idempotence bookkeeping
 * and the waking of waiting fetches are the produce path's own.
 *
 * Invariant: nothing here runs on an io loop thread: a write waits for loop 0 (and for the
 * flusher when durable), and a loop waiting for itself would never wake.
 */
#include "broker/broker_internal.h"

#include <pthread.h>
#include <stdlib.h>

enum { READ_CHUNK_BYTES = 1 << 20, DECOMPRESSED_MAX = 64 << 20 };

/* ---- reading ----------------------------------------------------------------------------------
 */

/* One record's raw headers into hs (at most BROKER_RECORD_HEADERS_MAX); -WEIR_ECORRUPT. */
static int headers_parse(const storage_record_t *r, broker_header_t *hs, size_t *n)
{
    const uint8_t *p = r->headers, *end = r->headers + r->headers_len;
    *n = 0;
    for (int32_t i = 0; i < r->header_count; i++) {
        int64_t klen, vlen;
        size_t k = varint_decode_i64(p, end, &klen);
        if (!k || klen < 0 || klen > end - p - (ptrdiff_t)k)
            return -WEIR_ECORRUPT;
        const uint8_t *key = p + k;
        p = key + klen;
        size_t v = varint_decode_i64(p, end, &vlen);
        if (!v || vlen < -1 || (vlen > 0 && vlen > end - p - (ptrdiff_t)v))
            return -WEIR_ECORRUPT;
        const uint8_t *val = vlen < 0 ? NULL : p + v;
        p += v + (vlen > 0 ? vlen : 0);
        if (*n < BROKER_RECORD_HEADERS_MAX)
            hs[(*n)++] = (broker_header_t){(const char *)key, (size_t)klen, val, (int32_t)vlen};
    }
    return 0;
}

/* The records of one batch at or past `from`, to fn. *next moves past the batch. */
static int read_batch(const uint8_t *batch, size_t total, int32_t partition, int64_t from,
                      storage_record_iter_t *it, broker_record_fn fn, void *arg, int64_t *next)
{
    storage_batch_header_t h;
    size_t tot;
    if (storage_batch_header_read(batch, total, &h, &tot) < 0)
        return -WEIR_ECORRUPT;
    int64_t last = h.base_offset + h.last_offset_delta;
    if (last < from)
        return 0;
    *next = last + 1;
    if (h.attributes & 0x20) /* a control batch (transaction markers) */
        return 0;
    int rc = storage_record_iter_reset(it, batch, total, DECOMPRESSED_MAX);
    if (rc < 0)
        return rc;
    broker_header_t hs[BROKER_RECORD_HEADERS_MAX];
    storage_record_t r;
    while ((rc = storage_record_iter_next(it, &r)) == 1) {
        int64_t off = h.base_offset + r.offset_delta;
        if (off < from)
            continue;
        broker_record_t rec = {.partition = partition,
                               .offset = off,
                               .timestamp = (h.attributes & 0x08)
                                                ? h.max_timestamp
                                                : h.base_timestamp + r.timestamp_delta,
                               .log_append_time = (h.attributes & 0x08) != 0,
                               .key = r.key,
                               .key_len = r.key_len,
                               .value = r.value,
                               .value_len = r.value_len,
                               .headers = hs};
        if (headers_parse(&r, hs, &rec.nheaders) < 0)
            return -WEIR_ECORRUPT;
        int frc = fn(arg, &rec);
        if (frc != 0) {
            *next = off + 1;
            return frc < 0 ? frc : 1;
        }
    }
    return rc < 0 ? rc : 0;
}

/* Copies the next slice of whole batches at `offset` into out (empty at the end). */
static int read_slice(broker_t *b, const char *topic, size_t len, int32_t partition,
                      int64_t *offset, size_t max_bytes, buf_t *out)
{
    int rc = 0;
    broker_topics_rdlock(b);
    broker_partition_t *p = broker_partition_find(b, topic, len, partition);
    if (!p) {
        rc = -WEIR_ENOENT;
    } else if (!p->log || storage_log_offline(p->log)) {
        rc = -WEIR_EOFFLINE;
    } else {
        int64_t start = storage_log_start_offset(p->log);
        if (*offset < start)
            *offset = start;
        storage_slice_t s;
        /* at least the one batch that holds offset (a reader of one record reads just it) */
        rc = storage_log_read(p->log, *offset, WEIR_MIN(max_bytes, READ_CHUNK_BYTES), &s);
        if (rc == -WEIR_ERANGE) {
            rc = 0; /* past the end: nothing to read */
        } else if (rc == 0) {
            if (s.len)
                rc = storage_slice_pread(p->log, &s, buf_extend(out, s.len));
            storage_slice_release(p->log, &s);
        }
    }
    broker_topics_unlock(b);
    return rc;
}

int broker_records_read(broker_t *b, const char *topic, size_t len, int32_t partition,
                        int64_t offset, size_t max_bytes, broker_record_fn fn, void *arg,
                        int64_t *next)
{
    buf_t data;
    buf_init(&data);
    storage_record_iter_t it;
    memset(&it, 0, sizeof(it));
    buf_init(&it.scratch);
    size_t seen = 0;
    int rc = 0;
    *next = offset;
    while (rc == 0 && seen < max_bytes) {
        buf_reset(&data);
        int64_t from = *next;
        if ((rc = read_slice(b, topic, len, partition, &from, max_bytes - seen, &data)) < 0 ||
            data.len == 0)
            break;
        if (*next < from)
            *next = from;
        seen += data.len;
        size_t pos = 0;
        int64_t before = *next;
        while (rc == 0 && pos < data.len) {
            storage_batch_header_t h;
            size_t total;
            if (storage_batch_header_read(data.data + pos, data.len - pos, &h, &total) < 0) {
                rc = -WEIR_ECORRUPT;
                break;
            }
            rc = read_batch(data.data + pos, total, partition, *next, &it, fn, arg, next);
            pos += total;
        }
        if (rc == 0 && *next == before)
            break; /* no progress: the log ends here */
    }
    storage_record_iter_deinit(&it);
    buf_deinit(&data);
    return rc > 0 ? 0 : rc;
}

int broker_partition_size(broker_t *b, const char *topic, size_t len, int32_t partition,
                          uint64_t *bytes)
{
    int rc = 0;
    broker_topics_rdlock(b);
    broker_partition_t *p = broker_partition_find(b, topic, len, partition);
    if (!p || !p->log)
        rc = -WEIR_ENOENT;
    else
        *bytes = storage_log_size_bytes(p->log);
    broker_topics_unlock(b);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------------------
 */

/* A write in flight: built on the caller's thread, produced on loop 0, waited for here. */
typedef struct {
    broker_t *b;
    broker_produce_req_t req;
    broker_produce_topic_t topic;
    broker_produce_part_t part;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} append_call_t;

static void append_done(void *arg)
{
    append_call_t *c = arg;
    pthread_mutex_lock(&c->mu);
    c->done = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void append_on_loop(void *arg)
{
    append_call_t *c = arg;
    if (broker_produce(c->b, &c->req))
        append_done(c); /* finished at once: done is never called */
}

static void headers_encode(const broker_record_t *r, buf_t *out)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        const broker_header_t *h = &r->headers[i];
        buf_append_varint(out, (int64_t)h->name_len);
        buf_append(out, h->name, h->name_len);
        buf_append_varint(out, h->value ? h->value_len : -1);
        if (h->value)
            buf_append(out, h->value, (size_t)h->value_len);
    }
}

/* One batch of n records (their headers encoded into hdrs, which must outlive the batch). */
static void batch_build(const broker_record_t *recs, size_t n, buf_t *batch, buf_t *hdrs)
{
    storage_record_in_t *in = weir_calloc(n ? n : 1, sizeof(*in));
    size_t *at = weir_calloc(n ? n : 1, sizeof(*at));
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < n; i++) {
        at[i] = hdrs->len;
        headers_encode(&recs[i], hdrs);
    }
    for (size_t i = 0; i < n; i++) {
        const broker_record_t *r = &recs[i];
        size_t end = i + 1 < n ? at[i + 1] : hdrs->len;
        in[i] = (storage_record_in_t){.key = r->key,
                                      .key_len = r->key ? r->key_len : -1,
                                      .value = r->value,
                                      .value_len = r->value ? r->value_len : -1,
                                      .timestamp = r->timestamp >= 0 ? r->timestamp : now,
                                      .headers = hdrs->data ? hdrs->data + at[i] : NULL,
                                      .headers_len = end - at[i],
                                      .header_count = (int32_t)r->nheaders};
    }
    storage_batch_build(batch, in, n, NULL);
    free(at);
    free(in);
}

int broker_records_append(broker_t *b, const char *topic, size_t len, int32_t partition,
                          const broker_record_t *recs, size_t n, bool durable, int64_t *base_offset,
                          broker_err_t *err)
{
    WEIR_ASSERT(n > 0);
    for (int i = 0; i < b->nloops; i++)
        WEIR_ASSERT(!net_loop_is_current(b->loops[i]));
    buf_t batch, hdrs;
    buf_init(&batch);
    buf_init(&hdrs);
    batch_build(recs, n, &batch, &hdrs);
    append_call_t *c = weir_calloc(1, sizeof(*c));
    c->b = b;
    c->part = (broker_produce_part_t){.index = partition, .records = batch.data, .len = batch.len};
    c->topic = (broker_produce_topic_t){topic, len, 1, &c->part, KAFKA_NONE};
    c->req = (broker_produce_req_t){.api_version = 9,
                                    .acks = durable ? -1 : 1,
                                    .timeout_ms = 30000,
                                    .ntopics = 1,
                                    .topics = &c->topic,
                                    .loop = b->loops[0],
                                    .done = append_done,
                                    .arg = c};
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    net_loop_call(b->loops[0], append_on_loop, c);
    pthread_mutex_lock(&c->mu);
    while (!c->done)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    const broker_produce_result_t *res = &c->part.res;
    int rc = 0;
    if (res->error_code != KAFKA_NONE) {
        rc = res->error_code == KAFKA_UNKNOWN_TOPIC_OR_PARTITION ? -WEIR_ENOENT : -WEIR_EINVAL;
        broker_fail(err, rc, res->error_code, "%s",
                    res->record_error_message[0] ? res->record_error_message
                    : res->error_message         ? res->error_message
                                                 : wire_err_name(res->error_code));
    } else {
        *base_offset = res->base_offset;
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
    buf_deinit(&hdrs);
    buf_deinit(&batch);
    return rc;
}
