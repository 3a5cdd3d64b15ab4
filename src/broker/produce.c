/*
 * The produce path: validate one partition's record batches, then append them.
 *
 * Validation happens before any append, for every batch of the partition (a Produce carries
 * one RECORDS field per partition, which may hold several batches): magic 2 only
 * (UNSUPPORTED_FOR_MESSAGE_FORMAT for 0/1), the batch within the bytes sent, its size within
 * max.message.bytes, zstd only from Produce v7, no control batches from clients, then the CRC
 * (CORRUPT_MESSAGE) and every record parsed, decompressing once with a bound (INVALID_RECORD
 * with the reason from v8, CORRUPT_MESSAGE before). Then, under the
 * partition's append_mu, each batch gets partitionLeaderEpoch 0 and, for LogAppendTime, the
 * broker's clock and a new CRC, passes the produce hooks and is appended verbatim. The only
 * per-record work is the validation pass; nothing is copied (the batch is rewritten in place
 * in the request frame and written from there).
 *
 * Runs on the request's loop thread with the registry read lock held.
 */
#include "broker/broker.h"

#include "kafka/wire/wire.h"

static void result_error(broker_produce_result_t *res, int16_t code, const char *msg)
{
    res->error_code = code;
    res->error_message = msg;
    res->base_offset = -1;
}

/* The error for a record-level problem: INVALID_RECORD exists from Produce v8. */
static int16_t invalid_record(const broker_produce_ctx_t *ctx)
{
    return ctx->api_version >= 8 ? KAFKA_INVALID_RECORD : KAFKA_CORRUPT_MESSAGE;
}

/* Checks one batch at p[0..avail); on success *total is its size. */
static bool validate_batch(broker_t *b, const broker_produce_ctx_t *ctx, int64_t max_message,
                           const uint8_t *p, size_t avail, size_t *total,
                           broker_produce_result_t *res)
{
    if (avail < BATCH_MAGIC + 1) {
        result_error(res, KAFKA_CORRUPT_MESSAGE, "truncated record batch");
        return false;
    }
    int8_t magic = (int8_t)p[BATCH_MAGIC]; /* at byte 16 in message sets v0/v1 as well */
    if (magic == 0 || magic == 1) {
        result_error(res, KAFKA_UNSUPPORTED_FOR_MESSAGE_FORMAT,
                     "message format v0/v1 is not supported; use record batches (magic 2)");
        return false;
    }
    if (magic != 2) {
        result_error(res, KAFKA_CORRUPT_MESSAGE, "unknown record batch magic");
        return false;
    }
    if (avail < BATCH_HEADER_SIZE) {
        result_error(res, KAFKA_CORRUPT_MESSAGE, "truncated record batch header");
        return false;
    }
    int32_t blen = (int32_t)be32_read(p + BATCH_LENGTH);
    if (blen < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
        (uint64_t)blen + BATCH_LOG_OVERHEAD > avail) {
        result_error(res, KAFKA_CORRUPT_MESSAGE, "record batch length out of bounds");
        return false;
    }
    *total = (size_t)blen + BATCH_LOG_OVERHEAD;
    if ((int64_t)*total > max_message) {
        result_error(res, KAFKA_MESSAGE_TOO_LARGE, "record batch larger than max.message.bytes");
        return false;
    }
    int16_t attrs = (int16_t)be16_read(p + BATCH_ATTRIBUTES);
    int codec = attrs & BATCH_COMPRESSION_MASK;
    if (codec > CODEC_ZSTD || (codec == CODEC_ZSTD && ctx->api_version < 7)) {
        result_error(res, KAFKA_UNSUPPORTED_COMPRESSION_TYPE,
                     codec == CODEC_ZSTD ? "zstd needs Produce v7 or later"
                                         : "unknown compression codec");
        return false;
    }
    if (attrs & BATCH_CONTROL) {
        result_error(res, invalid_record(ctx), "clients may not write control batches");
        return false;
    }
    /* One pass checks the header and CRC and parses every record (decompressing once). */
    const char *why = NULL;
    int rc = storage_batch_validate_records(p, *total, broker_max_decompressed(b), &why);
    if (rc == -WEIR_EUNSUPPORTED) {
        result_error(res, KAFKA_UNSUPPORTED_COMPRESSION_TYPE, "unsupported compression codec");
        return false;
    }
    if (rc == -WEIR_ETOOBIG) {
        result_error(res, invalid_record(ctx),
                     "batch decompresses past weir.max.decompressed.bytes");
        return false;
    }
    if (rc < 0) {
        if (why && storage_batch_why_corrupt(why))
            result_error(res, KAFKA_CORRUPT_MESSAGE, why);
        else
            result_error(res, invalid_record(ctx), why ? why : "invalid records");
        return false;
    }
    return true;
}

/* Appends one validated batch (append_mu held). Returns false after setting an error. */
static bool append_batch(broker_t *b, broker_partition_t *p, const broker_produce_ctx_t *ctx,
                         uint8_t *batch, size_t total, int64_t now, bool first,
                         broker_produce_result_t *res)
{
    be32_write(batch + BATCH_LEADER_EPOCH, 0);
    if (now >= 0) { /* LogAppendTime: the broker's clock, and a new CRC */
        uint16_t attrs = be16_read(batch + BATCH_ATTRIBUTES);
        be16_write(batch + BATCH_ATTRIBUTES, attrs | BATCH_TIMESTAMP_LOG_APPEND);
        be64_write(batch + BATCH_MAX_TIMESTAMP, (uint64_t)now);
        storage_batch_crc_update(batch, total);
    }
    storage_batch_header_t h;
    size_t t2;
    int rc = storage_batch_header_read(batch, total, &h, &t2);
    WEIR_ASSERT(rc == 0); /* validated above */
    const broker_produce_hooks_t *hk = &b->produce_hooks;
    if (hk->before_append) {
        bool dup = false;
        int64_t dup_base = -1;
        int16_t err = hk->before_append(hk->arg, p, ctx, &h, &dup, &dup_base);
        if (err) {
            result_error(res, err, NULL);
            return false;
        }
        if (dup) {
            if (first)
                res->base_offset = dup_base;
            /* acks=-1 answers a retried batch only once its original is durable */
            res->end_offset = WEIR_MAX(res->end_offset, dup_base + h.last_offset_delta + 1);
            return true;
        }
    }
    int64_t base;
    rc = storage_log_append(p->log, batch, total, &base);
    if (rc < 0) {
        log_warn("broker", "append to %s-%d: %s", p->topic->name, p->index, weir_strerror(rc));
        result_error(res, rc == -WEIR_ECORRUPT ? KAFKA_CORRUPT_MESSAGE : KAFKA_KAFKA_STORAGE_ERROR,
                     NULL);
        return false;
    }
    if (first)
        res->base_offset = base;
    res->end_offset = base + h.last_offset_delta + 1;
    if (hk->after_append)
        hk->after_append(hk->arg, p, ctx, &h, base);
    return true;
}

void broker_produce_partition(broker_t *b, broker_partition_t *p, const broker_produce_ctx_t *ctx,
                              uint8_t *records, size_t len, broker_produce_result_t *res)
{
    res->error_code = KAFKA_NONE;
    res->error_message = NULL;
    res->base_offset = -1;
    res->end_offset = -1;
    res->log_append_time = -1;
    res->log_start_offset = -1;
    if (p->topic->internal) { /* the broker writes those itself; clients may not (Kafka) */
        result_error(res, KAFKA_INVALID_TOPIC_EXCEPTION, "Cannot append to internal topic");
        return;
    }
    if (!p->log || storage_log_offline(p->log)) {
        result_error(res, KAFKA_KAFKA_STORAGE_ERROR, "the partition's log is offline");
        return;
    }
    if (!records || len == 0) {
        result_error(res, invalid_record(ctx), "no record batches");
        return;
    }
    broker_topic_t *t = p->topic;
    int64_t max_message = atomic_load(&t->max_message_bytes);
    size_t off = 0, total;
    while (off < len) {
        if (!validate_batch(b, ctx, max_message, records + off, len - off, &total, res))
            return;
        off += total;
    }

    pthread_mutex_lock(&p->append_mu);
    int64_t now = atomic_load(&t->log_append_time) ? clock_wall_ms() : -1;
    bool appended = false;
    for (off = 0; off < len; off += total) {
        total = (size_t)be32_read(records + off + BATCH_LENGTH) + BATCH_LOG_OVERHEAD;
        if (!append_batch(b, p, ctx, records + off, total, now, off == 0, res))
            break;
        appended = true;
    }
    pthread_mutex_unlock(&p->append_mu);
    res->log_start_offset = storage_log_start_offset(p->log);
    if (res->error_code == KAFKA_NONE)
        res->log_append_time = now;
    if (appended)
        broker_waiters_notify(p);
}
