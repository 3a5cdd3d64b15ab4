/*
 * What a topic's configs ask of a client's batch on the produce path, for broker/produce.c to
 * call per batch after validation and before the append (the topic's settings are atomics
 * recomputed by broker_topic_effective, so these read them without more locking than the
 * produce path's registry read lock):
 *
 *   message.timestamp.before.max.ms / after.max.ms (KIP-937): on a CreateTime topic, every
 *   record whose timestamp is further than that from the broker's clock is refused, as Kafka 4
 *   refuses it: INVALID_TIMESTAMP for the partition, "One or more records have been rejected due
 *   to invalid timestamp", and one record error per record with Kafka's message;
 *
 *   compression.type other than "producer": the batch is rebuilt with the topic's codec and
 *   compression.<codec>.level (storage_batch_recompress) and that is what is appended.
 */
#include "broker/broker_internal.h"

#include <stdio.h>

typedef struct {
    broker_record_error_fn fn;
    void *arg;
    int64_t lo, hi;
} ts_report_t;

static void ts_bad(void *arg, int32_t index, int64_t offset, int64_t ts)
{
    ts_report_t *r = arg;
    char msg[200];
    snprintf(msg, sizeof(msg),
             "Timestamp %lld of message with offset %lld is out of range. The timestamp should be "
             "within [%lld, %lld]",
             (long long)ts, (long long)offset, (long long)r->lo, (long long)r->hi);
    if (r->fn)
        r->fn(r->arg, index, msg);
}

int broker_produce_check_timestamps(broker_t *b, broker_topic_t *t, const uint8_t *batch,
                                    size_t total, int64_t now_ms, broker_record_error_fn fn,
                                    void *arg)
{
    if (atomic_load(&t->log_append_time) || total < BATCH_HEADER_SIZE)
        return 0; /* the broker's clock stamps LogAppendTime batches */
    int64_t before = atomic_load(&t->ts_before_max_ms), after = atomic_load(&t->ts_after_max_ms);
    if (before == INT64_MAX && after == INT64_MAX)
        return 0;
    /* Kafka's bounds, printed as Java computes them (now + after may wrap there too). */
    ts_report_t r = {fn, arg, now_ms - before, (int64_t)((uint64_t)now_ms + (uint64_t)after)};
    if (now_ms < 0)
        return 0;
    int64_t lo = before == INT64_MAX ? INT64_MIN : now_ms - before;
    int64_t hi = after > INT64_MAX - now_ms ? INT64_MAX : now_ms + after;
    /* No record is later than the batch's maxTimestamp says: when only the upper bound is set
     * (Kafka's default: one hour ahead) and the batch is within it, no record needs reading. */
    int64_t max_ts = (int64_t)be64_read(batch + BATCH_MAX_TIMESTAMP);
    if (lo == INT64_MIN && max_ts <= hi)
        return 0;
    int n = storage_batch_timestamps_outside(
        batch, total, (size_t)broker_settings_int(&b->set, BCFG_MAX_DECOMPRESSED_BYTES), lo, hi,
        ts_bad, &r);
    return n < 0 ? 0 : n; /* records that do not decode were refused by validation already */
}

int broker_produce_recompress(broker_t *b, broker_topic_t *t, const uint8_t *batch, size_t total,
                              buf_t *out)
{
    int codec = atomic_load(&t->compression_codec);
    if (codec < 0)
        return 0; /* compression.type=producer: stored as it came */
    return storage_batch_recompress(
        batch, total, (storage_codec_t)codec, atomic_load(&t->compression_level),
        (size_t)broker_settings_int(&b->set, BCFG_MAX_DECOMPRESSED_BYTES), out);
}
