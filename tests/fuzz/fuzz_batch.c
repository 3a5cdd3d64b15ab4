/*
 * libFuzzer target for v2 record batches: header reading and validation, record iteration and
 * the deep validation Produce runs, on arbitrary bytes. A second pass fixes up the length field,
 * the magic and the CRC of the input, so the fuzzer gets past the checksum into the records and
 * the decompressors. A batch that validates is rebuilt from its parsed records with
 * storage_batch_build (uncompressed and with its own codec), and the rebuilt batch must
 * validate and hold the same records: an oracle, not only a crash test.
 *
 * Built by `make fuzz` into build/fuzz/fuzz_batch; it links every broker source, so it defines
 * nothing but LLVMFuzzerTestOneInput. Seeds: tests/fuzz/corpus/batch/ (real clients' batches).
 */
#include "storage/storage.h"

#include <stdlib.h>

enum { FUZZ_MAX_DECOMPRESSED = 1 << 20, FUZZ_MAX_REBUILD = 256 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte a record points at, so ASan checks the views really lie in the batch. */
static unsigned fuzz_touch(const storage_record_t *r)
{
    unsigned sum = 0;
    for (int32_t i = 0; i < r->key_len; i++)
        sum += r->key[i];
    for (int32_t i = 0; i < r->value_len; i++)
        sum += r->value[i];
    for (size_t i = 0; i < r->headers_len; i++)
        sum += r->headers[i];
    return sum;
}

static void fuzz_iterate(const uint8_t *b, size_t total)
{
    storage_record_iter_t it;
    storage_record_t r;
    volatile unsigned sink = 0;
    if (storage_record_iter_init(&it, b, total, FUZZ_MAX_DECOMPRESSED) == 0) {
        int rc;
        while ((rc = storage_record_iter_next(&it, &r)) == 1)
            sink += fuzz_touch(&r);
        if (rc < 0)
            WEIR_ASSERT(it.why != NULL);
    }
    storage_record_iter_deinit(&it);
    (void)sink;
}

static bool fuzz_same_record(const storage_record_t *a, int64_t ta, const storage_record_t *b,
                             int64_t tb)
{
    return ta == tb && a->offset_delta == b->offset_delta && a->key_len == b->key_len &&
           (a->key_len <= 0 || memcmp(a->key, b->key, (size_t)a->key_len) == 0) &&
           a->value_len == b->value_len &&
           (a->value_len <= 0 || memcmp(a->value, b->value, (size_t)a->value_len) == 0) &&
           a->header_count == b->header_count && a->headers_len == b->headers_len &&
           (a->headers_len == 0 || memcmp(a->headers, b->headers, a->headers_len) == 0);
}

static int64_t fuzz_ts(int64_t base, int64_t delta)
{
    return (int64_t)((uint64_t)base + (uint64_t)delta);
}

/* A valid batch, rebuilt from its records, validates and holds the same records. */
static void fuzz_rebuild(const uint8_t *b, size_t total, int codec)
{
    storage_batch_header_t h;
    size_t t;
    WEIR_ASSERT(storage_batch_header_read(b, total, &h, &t) == 0 && t == total);
    if (h.record_count > FUZZ_MAX_REBUILD || (h.attributes & BATCH_CONTROL))
        return;
    storage_record_iter_t it;
    storage_record_t recs[FUZZ_MAX_REBUILD];
    storage_record_in_t in[FUZZ_MAX_REBUILD];
    WEIR_ASSERT(storage_record_iter_init(&it, b, total, FUZZ_MAX_DECOMPRESSED) == 0);
    size_t n = 0;
    while (n < FUZZ_MAX_REBUILD && storage_record_iter_next(&it, &recs[n]) == 1) {
        storage_record_t *r = &recs[n];
        in[n] = (storage_record_in_t){.key = r->key,
                                      .key_len = r->key_len,
                                      .value = r->value,
                                      .value_len = r->value_len,
                                      .timestamp = fuzz_ts(h.base_timestamp, r->timestamp_delta),
                                      .headers = r->headers,
                                      .headers_len = r->headers_len,
                                      .header_count = r->header_count};
        n++;
    }
    WEIR_ASSERT(n == (size_t)h.record_count);

    int codecs[2] = {CODEC_NONE, codec};
    for (int k = 0; k < (codec == CODEC_NONE ? 1 : 2); k++) {
        storage_batch_opts_t opts = {.producer_id = h.producer_id,
                                     .producer_epoch = h.producer_epoch,
                                     .base_sequence = h.base_sequence,
                                     .attributes = (int16_t)codecs[k]};
        buf_t out;
        buf_init(&out);
        storage_batch_build(&out, in, n, &opts);
        const char *why = NULL;
        int rc = storage_batch_validate_records(out.data, out.len, 4 * FUZZ_MAX_DECOMPRESSED, &why);
        WEIR_ASSERT(rc == 0);
        storage_batch_header_t h2;
        WEIR_ASSERT(storage_batch_header_read(out.data, out.len, &h2, &t) == 0);
        storage_record_iter_t it2;
        storage_record_t r2;
        WEIR_ASSERT(storage_record_iter_init(&it2, out.data, out.len, 4 * FUZZ_MAX_DECOMPRESSED) ==
                    0);
        for (size_t i = 0; i < n; i++) {
            WEIR_ASSERT(storage_record_iter_next(&it2, &r2) == 1);
            WEIR_ASSERT(fuzz_same_record(&recs[i], in[i].timestamp, &r2,
                                         fuzz_ts(h2.base_timestamp, r2.timestamp_delta)));
        }
        WEIR_ASSERT(storage_record_iter_next(&it2, &r2) == 0);
        storage_record_iter_deinit(&it2);
        buf_deinit(&out);
    }
    storage_record_iter_deinit(&it);
}

static void fuzz_one(const uint8_t *b, size_t size)
{
    storage_batch_header_t h;
    size_t total = 0;
    int rc = storage_batch_header_read(b, size, &h, &total);
    if (rc == 0 || (rc == -WEIR_EAGAIN && total && total <= size))
        fuzz_iterate(b, total); /* the iterator must be safe without a CRC check */
    if (storage_batch_validate_header(b, size, &total) != 0)
        return;
    WEIR_ASSERT(total <= size);
    const char *why = NULL;
    rc = storage_batch_validate_records(b, total, FUZZ_MAX_DECOMPRESSED, &why);
    WEIR_ASSERT((rc == 0) == (why == NULL));
    if (rc == 0)
        fuzz_rebuild(b, total, be16_read(b + BATCH_ATTRIBUTES) & BATCH_COMPRESSION_MASK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_one(data, size);
    if (size < BATCH_HEADER_SIZE || size - BATCH_LOG_OVERHEAD > INT32_MAX)
        return 0;
    /* Second pass: the same bytes made to pass the length, magic and CRC checks. */
    uint8_t *b = malloc(size);
    if (!b)
        return 0;
    memcpy(b, data, size);
    be32_write(b + BATCH_LENGTH, (uint32_t)(size - BATCH_LOG_OVERHEAD));
    b[BATCH_MAGIC] = 2;
    storage_batch_crc_update(b, size);
    fuzz_one(b, size);
    free(b);
    return 0;
}
