/*
 * The fetch path: whole batches from a partition's log into a response buffer, and the waiter
 * lists that wake long-polling fetches when data arrives.
 *
 * Reading never parses records: storage_log_read gives a file range of whole batches starting
 * at the batch that holds the offset, storage_slice_pread copies it straight into the
 * response, and only batch headers are looked at (to continue into the next segment and to
 * stop before zstd batches for Fetch < v10).
 *
 * Waiters: p->waiters is a list under p->wait_mu; p->nwaiters mirrors its length so the append
 * path skips the lock when nobody waits. A waiter registers (nwaiters++, a full barrier) and
 * then looks at the log again; an appender appends and then (after a full barrier) reads
 * nwaiters. One of the two sees the other, so no wake-up is lost.
 */
#include "broker/broker.h"

#include "kafka/wire/wire.h"

#include <stdlib.h>

void broker_waiter_add(broker_partition_t *p, broker_waiter_t *w)
{
    WEIR_ASSERT(w->part == NULL);
    pthread_mutex_lock(&p->wait_mu);
    w->part = p;
    w->prev = NULL;
    w->next = p->waiters;
    if (p->waiters)
        p->waiters->prev = w;
    p->waiters = w;
    atomic_fetch_add(&p->nwaiters, 1);
    pthread_mutex_unlock(&p->wait_mu);
}

void broker_waiter_remove(broker_waiter_t *w)
{
    broker_partition_t *p = w->part;
    if (!p)
        return;
    pthread_mutex_lock(&p->wait_mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        p->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->part = NULL;
    atomic_fetch_sub(&p->nwaiters, 1);
    pthread_mutex_unlock(&p->wait_mu);
}

void broker_waiters_notify(broker_partition_t *p)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&p->nwaiters) == 0)
        return;
    pthread_mutex_lock(&p->wait_mu);
    for (broker_waiter_t *w = p->waiters; w; w = w->next)
        w->notify(w->owner);
    pthread_mutex_unlock(&p->wait_mu);
}

int64_t broker_partition_hwm(broker_partition_t *p)
{
    return p->log ? storage_log_end_offset(p->log) : -1;
}

int64_t broker_partition_lso(broker_partition_t *p)
{
    /* No transactions yet: every appended record is decided. */
    return broker_partition_hwm(p);
}

int64_t broker_partition_log_start(broker_partition_t *p)
{
    return p->log ? storage_log_start_offset(p->log) : -1;
}

int64_t broker_fetch_available(broker_partition_t *p, int64_t offset, size_t max_bytes)
{
    if (!p->log || storage_log_offline(p->log))
        return -1;
    storage_slice_t s;
    if (storage_log_read(p->log, offset, max_bytes ? max_bytes : 1, &s) < 0)
        return -1;
    int64_t n = (int64_t)s.len;
    storage_slice_release(p->log, &s);
    return n;
}

/* Walks the batch headers of [p, p+len): the bytes up to the first zstd batch (all of them
 * when zstd is allowed) and the offset after the last batch kept. */
static size_t scan_batches(const uint8_t *p, size_t len, bool allow_zstd, int64_t *next)
{
    size_t off = 0;
    while (off < len) {
        storage_batch_header_t h;
        size_t total;
        if (storage_batch_header_read(p + off, len - off, &h, &total) < 0)
            break;
        if (!allow_zstd && (h.attributes & BATCH_COMPRESSION_MASK) == CODEC_ZSTD)
            break;
        *next = h.base_offset + h.last_offset_delta + 1;
        off += total;
    }
    return off;
}

/* The RECORDS length prefix, reserved before the bytes are known: i32 classic; for flexible
 * versions a 5-byte unsigned varint (padded with continuation bits, which Kafka's and
 * librdkafka's decoders accept), so it can be filled in place afterwards. */
static size_t prefix_reserve(buf_t *out, bool flexible)
{
    size_t at = out->len;
    buf_extend(out, flexible ? 5 : 4);
    return at;
}

static void prefix_fill(buf_t *out, size_t at, bool flexible, size_t n)
{
    uint8_t *p = out->data + at;
    if (!flexible) {
        be32_write(p, (uint32_t)n);
        return;
    }
    uint64_t v = (uint64_t)n + 1;
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)((v & 0x7f) | 0x80);
        v >>= 7;
    }
    p[4] = (uint8_t)(v & 0x7f);
}

int16_t broker_fetch_partition(broker_t *b, broker_partition_t *p, int64_t offset, size_t max_bytes,
                               bool first, bool allow_zstd, buf_t *out, bool flexible, size_t *got)
{
    (void)b;
    *got = 0;
    size_t at = prefix_reserve(out, flexible);
    int16_t err = KAFKA_NONE;
    storage_log_t *log = p->log;
    if (!log || storage_log_offline(log)) {
        err = KAFKA_KAFKA_STORAGE_ERROR;
        goto out;
    }
    int64_t start = storage_log_start_offset(log), end = storage_log_end_offset(log);
    if (offset < start || offset > end) {
        err = KAFKA_OFFSET_OUT_OF_RANGE;
        goto out;
    }
    size_t total = 0;
    int64_t cur = offset;
    while (cur < end) {
        size_t budget = max_bytes > total ? max_bytes - total : 0;
        bool whole_first = first && total == 0;
        if (budget == 0 && !whole_first)
            break;
        storage_slice_t s;
        int rc = storage_log_read(log, cur, budget ? budget : 1, &s);
        if (rc < 0) { /* retention moved the start past cur meanwhile */
            if (total == 0)
                err = rc == -WEIR_ERANGE ? KAFKA_OFFSET_OUT_OF_RANGE : KAFKA_KAFKA_STORAGE_ERROR;
            break;
        }
        if (s.len == 0 || (s.len > budget && !whole_first)) {
            storage_slice_release(log, &s);
            break;
        }
        size_t slen = s.len; /* release clears the slice */
        uint8_t *dst = buf_extend(out, slen);
        rc = storage_slice_pread(log, &s, dst);
        storage_slice_release(log, &s);
        if (rc < 0) {
            out->len -= slen;
            if (total == 0)
                err = KAFKA_KAFKA_STORAGE_ERROR;
            break;
        }
        int64_t next = cur;
        size_t kept = scan_batches(dst, slen, allow_zstd, &next);
        out->len -= slen - kept;
        total += kept;
        if (kept == 0) {
            if (total == 0 && !allow_zstd)
                err = KAFKA_UNSUPPORTED_COMPRESSION_TYPE;
            break;
        }
        if (kept < slen || next <= cur)
            break;
        cur = next;
    }
    *got = total;
out:
    prefix_fill(out, at, flexible, *got);
    return err;
}

/* Kafka answers a time lookup with the exact record: the first batch (in offset order) whose
 * max timestamp reaches ts, then the first record in it whose own timestamp does. The time
 * index finds the batch; the records of that one batch are read here. */
int broker_offset_for_time(broker_t *b, broker_partition_t *p, int64_t ts, int64_t *offset,
                           int64_t *timestamp)
{
    int64_t off, t;
    int rc = storage_log_offset_for_time(p->log, ts, &off, &t);
    if (rc < 0)
        return rc;
    *offset = off;
    *timestamp = t;
    storage_slice_t s;
    if (storage_log_read(p->log, off, 1, &s) < 0 || s.len == 0)
        return 0; /* the batch-level answer is still a correct lower bound */
    uint8_t *batch = weir_malloc(s.len);
    size_t slen = s.len;
    rc = storage_slice_pread(p->log, &s, batch);
    storage_slice_release(p->log, &s);
    storage_batch_header_t h;
    size_t total;
    if (rc < 0 || storage_batch_header_read(batch, slen, &h, &total) < 0 ||
        (h.attributes & BATCH_TIMESTAMP_LOG_APPEND)) {
        free(batch); /* LogAppendTime: every record has the batch's time */
        return 0;
    }
    storage_record_iter_t it;
    if (storage_record_iter_init(&it, batch, total, broker_max_decompressed(b)) == 0) {
        storage_record_t rec;
        while (storage_record_iter_next(&it, &rec) == 1) {
            int64_t roff = h.base_offset + rec.offset_delta;
            int64_t rts = h.base_timestamp + rec.timestamp_delta;
            if (roff >= off && rts >= ts) {
                *offset = roff;
                *timestamp = rts;
                break;
            }
        }
    }
    storage_record_iter_deinit(&it);
    free(batch);
    return 0;
}
