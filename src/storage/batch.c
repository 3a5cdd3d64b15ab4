/*
 * batch: the Kafka v2 record batch (DefaultRecordBatch) as bytes: reading and validating the
 * header, iterating records, the deep validation Produce runs, and building batches.
 *
 * Invariant: nothing here reads a byte outside [batch, batch + total), and no length or count
 * read from a batch is used before it is checked against the bytes present. Records of an
 * uncompressed batch are walked in place (views into the caller's bytes, no copy); a compressed
 * batch is decompressed once into a buffer bounded by the caller's max_decompressed, and the
 * records are views into that buffer. Nothing allocates per record.
 */
#include "storage/storage.h"

#include <pthread.h>
#include <stdlib.h>

/* Reasons, as short static strings for INVALID_RECORD / CORRUPT_MESSAGE error messages. The
 * first group means a damaged batch (Kafka answers CORRUPT_MESSAGE), the rest invalid records. */
static const char why_truncated[] = "batch is shorter than its length field says";
static const char why_neg_length[] = "negative batch length";
static const char why_short_length[] = "batch length is below the v2 header size";
static const char why_crc[] = "CRC-32C mismatch";
static const char why_magic[] = "magic is not 2";
static const char why_extra[] = "bytes after the batch";
static const char why_neg_count[] = "negative record count";
static const char why_count_delta[] = "record count is not lastOffsetDelta + 1";
static const char why_control[] = "control batch does not hold exactly one record";
static const char why_count_bytes[] = "record count is larger than the records bytes can hold";
static const char why_codec[] = "unknown compression codec";
static const char why_decompress[] = "compressed records do not decompress";
static const char why_too_big[] = "records decompress past the size bound";
static const char why_fewer[] = "fewer records than the record count";
static const char why_rec_length[] = "malformed record length varint";
static const char why_rec_neg[] = "negative record length";
static const char why_rec_past[] = "record length runs past the records";
static const char why_rec_field[] = "malformed or truncated record field";
static const char why_key_len[] = "record key length below -1";
static const char why_value_len[] = "record value length below -1";
static const char why_hdr_count[] = "negative record header count";
static const char why_hdr_key[] = "null or negative header key length";
static const char why_hdr_value[] = "header value length below -1";
static const char why_rec_left[] = "record length does not match its fields";
static const char why_offsets[] = "record offset deltas are not 0..n-1 in order";
static const char why_trailing[] = "bytes after the last record";

bool storage_batch_why_corrupt(const char *why)
{
    return why == why_truncated || why == why_neg_length || why == why_short_length ||
           why == why_crc || why == why_extra;
}

/* The smallest record: length varint, attributes, timestampDelta, offsetDelta, keyLength,
 * valueLength, headerCount, one byte each. */
enum { BATCH_RECORD_MIN_SIZE = 7, BATCH_MIN_LENGTH = BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD };

int storage_batch_header_read(const uint8_t *p, size_t avail, storage_batch_header_t *h,
                              size_t *total)
{
    if (avail < BATCH_LOG_OVERHEAD)
        return -WEIR_EAGAIN;
    int32_t length = (int32_t)be32_read(p + BATCH_LENGTH);
    if (length < BATCH_MIN_LENGTH)
        return -WEIR_ECORRUPT;
    *total = (size_t)length + BATCH_LOG_OVERHEAD;
    if (avail < BATCH_HEADER_SIZE)
        return -WEIR_EAGAIN;
    h->base_offset = (int64_t)be64_read(p + BATCH_BASE_OFFSET);
    h->length = length;
    h->leader_epoch = (int32_t)be32_read(p + BATCH_LEADER_EPOCH);
    h->magic = (int8_t)p[BATCH_MAGIC];
    h->crc = be32_read(p + BATCH_CRC);
    h->attributes = (int16_t)be16_read(p + BATCH_ATTRIBUTES);
    h->last_offset_delta = (int32_t)be32_read(p + BATCH_LAST_OFFSET_DELTA);
    h->base_timestamp = (int64_t)be64_read(p + BATCH_BASE_TIMESTAMP);
    h->max_timestamp = (int64_t)be64_read(p + BATCH_MAX_TIMESTAMP);
    h->producer_id = (int64_t)be64_read(p + BATCH_PRODUCER_ID);
    h->producer_epoch = (int16_t)be16_read(p + BATCH_PRODUCER_EPOCH);
    h->base_sequence = (int32_t)be32_read(p + BATCH_BASE_SEQUENCE);
    h->record_count = (int32_t)be32_read(p + BATCH_RECORD_COUNT);
    return avail < *total ? -WEIR_EAGAIN : 0;
}

/* The header checks, with a reason. Magic is looked at before the length is judged, so a v0/v1
 * message (whose magic byte sits at the same offset 16, but which may be shorter than a v2
 * header) is reported as unsupported rather than corrupt. */
static int batch_check_header(const uint8_t *p, size_t avail, size_t *total, const char **why)
{
    if (avail < BATCH_LOG_OVERHEAD) {
        *why = why_truncated;
        return -WEIR_EAGAIN;
    }
    int32_t length = (int32_t)be32_read(p + BATCH_LENGTH);
    if (length < 0) {
        *why = why_neg_length;
        return -WEIR_ECORRUPT;
    }
    if (avail > BATCH_MAGIC && length > BATCH_MAGIC - BATCH_LOG_OVERHEAD && p[BATCH_MAGIC] != 2) {
        *why = why_magic;
        return -WEIR_EUNSUPPORTED;
    }
    storage_batch_header_t h;
    int rc = storage_batch_header_read(p, avail, &h, total);
    if (rc) {
        *why = rc == -WEIR_EAGAIN ? why_truncated : why_short_length;
        return rc;
    }
    if (crc32c(0, p + BATCH_ATTRIBUTES, *total - BATCH_ATTRIBUTES) != h.crc) {
        *why = why_crc;
        return -WEIR_ECORRUPT;
    }
    if (h.record_count < 0) {
        *why = why_neg_count;
        return -WEIR_ECORRUPT;
    }
    if ((int64_t)h.last_offset_delta + 1 != h.record_count) {
        *why = why_count_delta;
        return -WEIR_ECORRUPT;
    }
    if ((h.attributes & BATCH_CONTROL) && h.record_count != 1) {
        *why = why_control;
        return -WEIR_ECORRUPT;
    }
    if ((h.attributes & BATCH_COMPRESSION_MASK) == CODEC_NONE &&
        (size_t)h.record_count > (*total - BATCH_HEADER_SIZE) / BATCH_RECORD_MIN_SIZE) {
        *why = why_count_bytes;
        return -WEIR_ECORRUPT;
    }
    return 0;
}

int storage_batch_validate_header(const uint8_t *p, size_t avail, size_t *total)
{
    const char *why;
    return batch_check_header(p, avail, total, &why);
}

void storage_batch_crc_update(uint8_t *batch, size_t total)
{
    WEIR_ASSERT(total >= BATCH_HEADER_SIZE);
    be32_write(batch + BATCH_CRC, crc32c(0, batch + BATCH_ATTRIBUTES, total - BATCH_ATTRIBUTES));
}

/* ---- records --------------------------------------------------------------------------------- */

/* Points the iterator at the records of batch; it->scratch must be a valid buffer. Checks what
 * iteration relies on (length, magic, count, codec), not the CRC. */
static int record_iter_setup(storage_record_iter_t *it, const uint8_t *batch, size_t total,
                             size_t max_decompressed)
{
    it->p = it->end = NULL;
    it->remaining = 0;
    it->why = NULL;
    storage_batch_header_t h;
    size_t btotal;
    int rc = storage_batch_header_read(batch, total, &h, &btotal);
    if (rc) {
        it->why = rc == -WEIR_EAGAIN ? why_truncated : why_short_length;
        return -WEIR_ECORRUPT;
    }
    if (btotal != total) {
        it->why = why_extra;
        return -WEIR_ECORRUPT;
    }
    if (h.magic != 2) {
        it->why = why_magic;
        return -WEIR_EUNSUPPORTED;
    }
    if (h.record_count < 0) {
        it->why = why_neg_count;
        return -WEIR_ECORRUPT;
    }
    const uint8_t *records = batch + BATCH_HEADER_SIZE;
    size_t records_len = total - BATCH_HEADER_SIZE;
    int codec = h.attributes & BATCH_COMPRESSION_MASK;
    if (codec == CODEC_NONE) {
        it->p = records;
        it->end = records + records_len;
    } else {
        buf_reset(&it->scratch);
        rc = storage_codec_decompress((storage_codec_t)codec, records, records_len, &it->scratch,
                                      max_decompressed);
        if (rc) {
            it->why = rc == -WEIR_EUNSUPPORTED ? why_codec
                      : rc == -WEIR_ETOOBIG    ? why_too_big
                                               : why_decompress;
            return rc == -WEIR_EUNSUPPORTED || rc == -WEIR_ETOOBIG || rc == -WEIR_ENOMEM
                       ? rc
                       : -WEIR_ECORRUPT;
        }
        /* Nothing decompressed leaves scratch without memory: point at the batch instead. */
        it->p = it->scratch.len ? it->scratch.data : records;
        it->end = it->p + it->scratch.len;
    }
    it->remaining = h.record_count;
    return 0;
}

int storage_record_iter_init(storage_record_iter_t *it, const uint8_t *batch, size_t total,
                             size_t max_decompressed)
{
    buf_init(&it->scratch);
    return record_iter_setup(it, batch, total, max_decompressed);
}

int storage_record_iter_reset(storage_record_iter_t *it, const uint8_t *batch, size_t total,
                              size_t max_decompressed)
{
    return record_iter_setup(it, batch, total, max_decompressed);
}

void storage_record_iter_deinit(storage_record_iter_t *it)
{
    buf_deinit(&it->scratch);
    it->p = it->end = NULL;
    it->remaining = 0;
}

/* Varints with a one-byte fast path: nearly every varint in a record (attributes aside: the
 * deltas, lengths and counts of small records) fits in one byte. */
static inline size_t rec_varint_i32(const uint8_t *p, const uint8_t *end, int32_t *out)
{
    if (p < end && *p < 0x80) {
        *out = (int32_t)(*p >> 1) ^ -(int32_t)(*p & 1);
        return 1;
    }
    return varint_decode_i32(p, end, out);
}

static inline size_t rec_varint_i64(const uint8_t *p, const uint8_t *end, int64_t *out)
{
    if (p < end && *p < 0x80) {
        *out = (int64_t)(*p >> 1) ^ -(int64_t)(*p & 1);
        return 1;
    }
    return varint_decode_i64(p, end, out);
}

/* A length-prefixed byte field (key, value, header value): -1 is null, below -1 is invalid,
 * and the bytes must lie within the record. Returns bytes used or 0 with *why set. */
static size_t record_bytes_field(const uint8_t *p, const uint8_t *end, const uint8_t **data,
                                 int32_t *len, const char *why_below, const char **why)
{
    size_t n = rec_varint_i32(p, end, len);
    if (n == 0) {
        *why = why_rec_field;
        return 0;
    }
    if (*len < -1) {
        *why = why_below;
        return 0;
    }
    if (*len == -1) {
        *data = NULL;
        return n;
    }
    if ((size_t)*len > (size_t)(end - p) - n) {
        *why = why_rec_field;
        return 0;
    }
    *data = p + n;
    return n + (size_t)*len;
}

/* Parses the headers of a record: [keyLength varint, key, valueLength varint, value] * count.
 * Each header takes at least two bytes, so the loop is bounded by the bytes present. */
static size_t record_headers(const uint8_t *p, const uint8_t *end, int32_t count, const char **why)
{
    const uint8_t *q = p;
    for (int32_t i = 0; i < count; i++) {
        const uint8_t *data;
        int32_t len;
        size_t n = record_bytes_field(q, end, &data, &len, why_hdr_key, why);
        if (n == 0)
            return SIZE_MAX;
        if (len < 0) {
            *why = why_hdr_key;
            return SIZE_MAX;
        }
        q += n;
        n = record_bytes_field(q, end, &data, &len, why_hdr_value, why);
        if (n == 0)
            return SIZE_MAX;
        q += n;
    }
    return (size_t)(q - p);
}

/* Parses one record body [p, end) (after its length). */
static int record_parse(const uint8_t *p, const uint8_t *end, storage_record_t *rec,
                        const char **why)
{
    size_t n;
    if (p == end) {
        *why = why_rec_field;
        return -WEIR_ECORRUPT;
    }
    rec->attributes = (int8_t)*p++;
    if (!(n = rec_varint_i64(p, end, &rec->timestamp_delta)))
        goto bad_field;
    p += n;
    if (!(n = rec_varint_i32(p, end, &rec->offset_delta)))
        goto bad_field;
    p += n;
    if (!(n = record_bytes_field(p, end, &rec->key, &rec->key_len, why_key_len, why)))
        return -WEIR_ECORRUPT;
    p += n;
    if (!(n = record_bytes_field(p, end, &rec->value, &rec->value_len, why_value_len, why)))
        return -WEIR_ECORRUPT;
    p += n;
    if (!(n = rec_varint_i32(p, end, &rec->header_count)))
        goto bad_field;
    p += n;
    if (rec->header_count < 0) {
        *why = why_hdr_count;
        return -WEIR_ECORRUPT;
    }
    rec->headers = p;
    n = record_headers(p, end, rec->header_count, why);
    if (n == SIZE_MAX)
        return -WEIR_ECORRUPT;
    rec->headers_len = n;
    if (p + n != end) {
        *why = why_rec_left;
        return -WEIR_ECORRUPT;
    }
    return 0;

bad_field:
    *why = why_rec_field;
    return -WEIR_ECORRUPT;
}

int storage_record_iter_next(storage_record_iter_t *it, storage_record_t *rec)
{
    if (it->remaining <= 0)
        return 0;
    if (it->p == it->end) {
        it->why = why_fewer;
        return -WEIR_ECORRUPT;
    }
    int32_t len;
    size_t n = rec_varint_i32(it->p, it->end, &len);
    if (n == 0) {
        it->why = why_rec_length;
        return -WEIR_ECORRUPT;
    }
    if (len < 0) {
        it->why = why_rec_neg;
        return -WEIR_ECORRUPT;
    }
    const uint8_t *body = it->p + n;
    if ((size_t)len > (size_t)(it->end - body)) {
        it->why = why_rec_past;
        return -WEIR_ECORRUPT;
    }
    int rc = record_parse(body, body + len, rec, &it->why);
    if (rc)
        return rc;
    it->p = body + len;
    it->remaining--;
    return 1;
}

/* ---- deep validation ---------------------------------------------------------------------------
 * Compressed batches decompress into a per-thread scratch buffer that is kept between calls (a
 * Produce request with many compressed batches allocates once), unless one batch made it large. */

#define BATCH_SCRATCH_KEEP_BYTES (1u << 20)

static pthread_key_t batch_scratch_key;
static pthread_once_t batch_scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local buf_t *batch_scratch_tls;

static void batch_scratch_free(void *arg)
{
    buf_t *b = arg;
    if (b) {
        buf_deinit(b);
        free(b);
    }
    batch_scratch_tls = NULL;
}

static void batch_scratch_key_make(void)
{
    WEIR_ASSERT(pthread_key_create(&batch_scratch_key, batch_scratch_free) == 0);
}

static buf_t *batch_scratch(void)
{
    if (batch_scratch_tls)
        return batch_scratch_tls;
    pthread_once(&batch_scratch_once, batch_scratch_key_make);
    buf_t *b = weir_calloc(1, sizeof(*b));
    WEIR_ASSERT(pthread_setspecific(batch_scratch_key, b) == 0);
    batch_scratch_tls = b;
    return b;
}

static int batch_check_records(storage_record_iter_t *it, storage_record_check_fn check, void *arg,
                               const storage_record_memo_t *memo, int32_t *bad_index,
                               const char **why)
{
    storage_record_t rec;
    for (int32_t i = 0;; i++) {
        int rc = storage_record_iter_next(it, &rec);
        if (rc < 0) {
            *why = it->why;
            return rc;
        }
        if (rc == 0)
            break;
        if (rec.offset_delta != i) {
            *why = why_offsets;
            return -WEIR_ECORRUPT;
        }
        if (check && !(memo && rec.header_count == 0 && storage_record_memo_hit(memo, &rec)) &&
            (rc = check(arg, i, &rec, why)) < 0) {
            *bad_index = i;
            return rc;
        }
    }
    if (it->p != it->end) {
        *why = why_trailing;
        return -WEIR_ECORRUPT;
    }
    return 0;
}

int storage_batch_validate_records(const uint8_t *batch, size_t total, size_t max_decompressed,
                                   const char **why)
{
    return storage_batch_validate_records_checked(batch, total, max_decompressed, NULL, NULL, NULL,
                                                  NULL, why);
}

int storage_batch_validate_records_checked(const uint8_t *batch, size_t total,
                                           size_t max_decompressed, storage_record_check_fn check,
                                           void *arg, const storage_record_memo_t *memo,
                                           int32_t *bad_index, const char **why)
{
    const char *dummy;
    int32_t dummy_index;
    if (!why)
        why = &dummy;
    if (!bad_index)
        bad_index = &dummy_index;
    *why = NULL;
    *bad_index = -1;
    size_t btotal;
    int rc = batch_check_header(batch, total, &btotal, why);
    if (rc)
        return rc == -WEIR_EAGAIN ? -WEIR_ECORRUPT : rc;
    if (btotal != total) {
        *why = why_extra;
        return -WEIR_ECORRUPT;
    }
    storage_record_iter_t it;
    buf_t *scratch = NULL;
    int codec = (int)(be16_read(batch + BATCH_ATTRIBUTES) & BATCH_COMPRESSION_MASK);
    if (codec == CODEC_NONE) {
        buf_init(&it.scratch);
    } else {
        scratch = batch_scratch();
        it.scratch = *scratch;
    }
    rc = record_iter_setup(&it, batch, total, max_decompressed);
    if (rc)
        *why = it.why;
    else
        rc = batch_check_records(&it, check, arg, memo, bad_index, why);
    if (scratch) {
        if (it.scratch.cap > BATCH_SCRATCH_KEEP_BYTES)
            buf_deinit(&it.scratch);
        *scratch = it.scratch;
    }
    return rc;
}

/* ---- building -------------------------------------------------------------------------------- */

static size_t batch_record_body_size(const storage_record_in_t *r, int64_t ts_delta, int32_t i)
{
    return 1 + varint_size_i64(ts_delta) + varint_size_i64(i) + varint_size_i64(r->key_len) +
           (r->key_len > 0 ? (size_t)r->key_len : 0) + varint_size_i64(r->value_len) +
           (r->value_len > 0 ? (size_t)r->value_len : 0) + varint_size_i64(r->header_count) +
           r->headers_len;
}

static void batch_append_records(buf_t *out, const storage_record_in_t *recs, size_t n,
                                 int64_t base_ts)
{
    for (size_t i = 0; i < n; i++) {
        const storage_record_in_t *r = &recs[i];
        int32_t key_len = r->key ? r->key_len : -1;
        int32_t value_len = r->value ? r->value_len : -1;
        WEIR_ASSERT(key_len >= -1 && value_len >= -1 && r->header_count >= 0);
        storage_record_in_t norm = *r;
        norm.key_len = key_len;
        norm.value_len = value_len;
        /* Two's complement wrap, as Kafka's long arithmetic does: a delta between extreme
         * timestamps must not be signed overflow. */
        int64_t ts_delta = (int64_t)((uint64_t)r->timestamp - (uint64_t)base_ts);
        buf_append_varint(out, (int64_t)batch_record_body_size(&norm, ts_delta, (int32_t)i));
        buf_append_u8(out, 0); /* record attributes: unused */
        buf_append_varint(out, ts_delta);
        buf_append_varint(out, (int64_t)i);
        buf_append_varint(out, key_len);
        if (key_len > 0)
            buf_append(out, r->key, (size_t)key_len);
        buf_append_varint(out, value_len);
        if (value_len > 0)
            buf_append(out, r->value, (size_t)value_len);
        buf_append_varint(out, r->header_count);
        if (r->headers_len)
            buf_append(out, r->headers, r->headers_len);
    }
}

void storage_batch_build(buf_t *out, const storage_record_in_t *recs, size_t n,
                         const storage_batch_opts_t *opts)
{
    WEIR_ASSERT(n <= INT32_MAX);
    storage_batch_opts_t defaults = {
        .producer_id = -1, .producer_epoch = -1, .base_sequence = -1, .attributes = 0};
    if (!opts)
        opts = &defaults;
    int codec = opts->attributes & BATCH_COMPRESSION_MASK;
    WEIR_ASSERT(codec <= CODEC_ZSTD);
    int64_t base_ts = n ? recs[0].timestamp : -1, max_ts = base_ts;
    for (size_t i = 1; i < n; i++)
        max_ts = WEIR_MAX(max_ts, recs[i].timestamp);

    size_t start = out->len;
    uint8_t *h = buf_extend(out, BATCH_HEADER_SIZE);
    memset(h, 0, BATCH_HEADER_SIZE);
    be32_write(h + BATCH_LEADER_EPOCH, UINT32_MAX); /* -1: producers do not know it */
    h[BATCH_MAGIC] = 2;
    be16_write(h + BATCH_ATTRIBUTES, (uint16_t)opts->attributes);
    be32_write(h + BATCH_LAST_OFFSET_DELTA, (uint32_t)((int32_t)n - 1));
    be64_write(h + BATCH_BASE_TIMESTAMP, (uint64_t)base_ts);
    be64_write(h + BATCH_MAX_TIMESTAMP, (uint64_t)max_ts);
    be64_write(h + BATCH_PRODUCER_ID, (uint64_t)opts->producer_id);
    be16_write(h + BATCH_PRODUCER_EPOCH, (uint16_t)opts->producer_epoch);
    be32_write(h + BATCH_BASE_SEQUENCE, (uint32_t)opts->base_sequence);
    be32_write(h + BATCH_RECORD_COUNT, (uint32_t)n);

    if (codec == CODEC_NONE) {
        batch_append_records(out, recs, n, base_ts);
    } else {
        buf_t raw;
        buf_init(&raw);
        batch_append_records(&raw, recs, n, base_ts);
        int rc = storage_codec_compress((storage_codec_t)codec, raw.data, raw.len, out);
        WEIR_ASSERT(rc == 0); /* compressing bytes in memory fails only on a programming error */
        buf_deinit(&raw);
    }
    size_t total = out->len - start;
    WEIR_ASSERT(total - BATCH_LOG_OVERHEAD <= INT32_MAX);
    uint8_t *b = out->data + start; /* out may have moved */
    be32_write(b + BATCH_LENGTH, (uint32_t)(total - BATCH_LOG_OVERHEAD));
    storage_batch_crc_update(b, total);
}
