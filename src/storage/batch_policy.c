/*
 * batch_policy: what a topic's configs ask of a client's batch before it is appended, as
 * Kafka's LogValidator does it: compression.type other than "producer" (the batch rebuilt with
 * the topic's codec and level) and message.timestamp.before/after.max.ms (records whose
 * CreateTime lies too far from the broker's clock are found).
 *
 * Invariant: a rebuilt batch holds the same records, byte for byte once decompressed, under
 * the same header fields (offsets, epoch, timestamps, producer id, epoch, sequence, count,
 * transactional and timestamp-type bits); only the codec bits, the length and the CRC change.
 * Both functions run on batches that passed storage_batch_validate_records, and still check
 * every length they rely on.
 */
#include "storage/log_internal.h"

int storage_batch_recompress(const uint8_t *batch, size_t total, storage_codec_t codec, int level,
                             size_t max_decompressed, buf_t *out)
{
    if (codec > CODEC_ZSTD)
        return -WEIR_EUNSUPPORTED;
    storage_batch_header_t h;
    size_t t;
    if (storage_batch_header_read(batch, total, &h, &t) != 0 || t != total)
        return -WEIR_ECORRUPT;
    if ((h.attributes & BATCH_COMPRESSION_MASK) == (int)codec || (h.attributes & BATCH_CONTROL))
        return 0;
    storage_record_iter_t it;
    int rc = storage_record_iter_init(&it, batch, total, max_decompressed);
    if (rc == 0) {
        const uint8_t *raw = it.p;
        size_t raw_len = (size_t)(it.end - it.p);
        size_t start = out->len;
        buf_append(out, batch, BATCH_HEADER_SIZE);
        if (codec != CODEC_NONE)
            rc = raw_len ? storage_codec_compress_level(codec, level, raw, raw_len, out)
                         : -WEIR_ECORRUPT; /* no records: nothing to compress */
        else
            buf_append(out, raw, raw_len);
        size_t new_total = out->len - start;
        if (rc == 0 && new_total - BATCH_LOG_OVERHEAD > INT32_MAX)
            rc = -WEIR_ETOOBIG;
        if (rc == 0) {
            uint8_t *nb = out->data + start;
            uint16_t attrs = (uint16_t)h.attributes & (uint16_t)~BATCH_COMPRESSION_MASK;
            be16_write(nb + BATCH_ATTRIBUTES, (uint16_t)(attrs | (uint16_t)codec));
            be32_write(nb + BATCH_LENGTH, (uint32_t)(new_total - BATCH_LOG_OVERHEAD));
            storage_batch_crc_update(nb, new_total);
            rc = 1;
        } else {
            out->len = start;
        }
    }
    storage_record_iter_deinit(&it);
    return rc == -WEIR_EAGAIN ? -WEIR_ECORRUPT : rc;
}

static int64_t record_timestamp(const storage_batch_header_t *h, const storage_record_t *r)
{
    return (int64_t)((uint64_t)h->base_timestamp + (uint64_t)r->timestamp_delta); /* no UB */
}

int storage_batch_timestamps_outside(const uint8_t *batch, size_t total, size_t max_decompressed,
                                     int64_t lo, int64_t hi, storage_record_ts_fn fn, void *arg)
{
    storage_batch_header_t h;
    size_t t;
    if (storage_batch_header_read(batch, total, &h, &t) != 0 || t != total)
        return -WEIR_ECORRUPT;
    storage_record_iter_t it;
    int rc = storage_record_iter_init(&it, batch, total, max_decompressed);
    int n = 0;
    storage_record_t r;
    for (int32_t i = 0; rc == 0; i++) {
        int got = storage_record_iter_next(&it, &r);
        if (got <= 0) {
            rc = got;
            break;
        }
        int64_t ts = record_timestamp(&h, &r);
        if (ts == -1 || (ts >= lo && ts <= hi))
            continue;
        n++;
        if (fn)
            fn(arg, i, h.base_offset + r.offset_delta, ts);
    }
    storage_record_iter_deinit(&it);
    return rc < 0 ? rc : n;
}
