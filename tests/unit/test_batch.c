/*
 * Tests for v2 record batches (src/storage/batch.c): a batch written out byte by byte from the
 * spec (header parse, CRC, and storage_batch_build reproducing it exactly), batches captured
 * from real clients (tests/fixtures/batches/, written by tests/fixtures/capture_batches.py:
 * librdkafka with every codec, kafka-python with gzip and xerial snappy), builds and round trips
 * with every codec, and a table of malformed batches, each run uncompressed and under every
 * codec, checking the exact error and reason.
 */
#include "storage/storage.h"
#include "test.h"

#include <libgen.h>
#include <limits.h>
#include <unistd.h>

static const int all_codecs[] = {CODEC_NONE, CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD};

/* ---- the golden batch ----------------------------------------------------------------------
 * Two records, written from the format description:
 *   record 0: key "k", value "v1", timestamp 1700000000000, no headers
 *   record 1: key null, value "hello", timestamp +5, one header "h" = "x"
 * Producer fields -1 (a plain producer), leader epoch -1, CRC-32C over attributes..end. */
/* clang-format off */
static const uint8_t golden[] = {
    /* baseOffset */ 0, 0, 0, 0, 0, 0, 0, 0,
    /* batchLength = 87 - 12 */ 0, 0, 0, 0x4b,
    /* partitionLeaderEpoch */ 0xff, 0xff, 0xff, 0xff,
    /* magic */ 2,
    /* crc */ 0xf3, 0x1f, 0x8f, 0xe2,
    /* attributes */ 0, 0,
    /* lastOffsetDelta */ 0, 0, 0, 1,
    /* baseTimestamp 1700000000000 */ 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,
    /* maxTimestamp */ 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05,
    /* producerId */ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    /* producerEpoch */ 0xff, 0xff,
    /* baseSequence */ 0xff, 0xff, 0xff, 0xff,
    /* recordCount */ 0, 0, 0, 2,
    /* record 0: length 9 (zigzag 0x12), attributes, tsDelta 0, offsetDelta 0 */
    0x12, 0, 0, 0,
    /* keyLength 1, "k", valueLength 2, "v1", headerCount 0 */
    0x02, 'k', 0x04, 'v', '1', 0x00,
    /* record 1: length 15 (0x1e), attributes, tsDelta 5 (0x0a), offsetDelta 1 (0x02) */
    0x1e, 0, 0x0a, 0x02,
    /* keyLength -1 (0x01), valueLength 5 (0x0a), "hello" */
    0x01, 0x0a, 'h', 'e', 'l', 'l', 'o',
    /* headerCount 1, keyLength 1 "h", valueLength 1 "x" */
    0x02, 0x02, 'h', 0x02, 'x'};
/* clang-format on */

TEST(golden_header_and_crc)
{
    storage_batch_header_t h;
    size_t total = 0;
    CHECK_EQ(storage_batch_header_read(golden, sizeof(golden), &h, &total), 0);
    CHECK_EQ(total, 87);
    CHECK_EQ(sizeof(golden), 87);
    CHECK_EQ(h.base_offset, 0);
    CHECK_EQ(h.length, 75);
    CHECK_EQ(h.leader_epoch, -1);
    CHECK_EQ(h.magic, 2);
    CHECK_EQ(h.crc, 0xf31f8fe2u);
    CHECK_EQ(h.attributes, 0);
    CHECK_EQ(h.last_offset_delta, 1);
    CHECK_EQ(h.base_timestamp, 1700000000000LL);
    CHECK_EQ(h.max_timestamp, 1700000000005LL);
    CHECK_EQ(h.producer_id, -1);
    CHECK_EQ(h.producer_epoch, -1);
    CHECK_EQ(h.base_sequence, -1);
    CHECK_EQ(h.record_count, 2);
    CHECK_EQ(crc32c(0, golden + BATCH_ATTRIBUTES, sizeof(golden) - BATCH_ATTRIBUTES), 0xf31f8fe2u);
    total = 0;
    CHECK_EQ(storage_batch_validate_header(golden, sizeof(golden), &total), 0);
    CHECK_EQ(total, 87);
    const char *why = "unset";
    CHECK_EQ(storage_batch_validate_records(golden, sizeof(golden), 1 << 20, &why), 0);
    CHECK(why == NULL);
}

TEST(golden_records)
{
    storage_record_iter_t it;
    storage_record_t r;
    REQUIRE(storage_record_iter_init(&it, golden, sizeof(golden), 1 << 20) == 0);
    CHECK_EQ(storage_record_iter_next(&it, &r), 1);
    CHECK_EQ(r.attributes, 0);
    CHECK_EQ(r.timestamp_delta, 0);
    CHECK_EQ(r.offset_delta, 0);
    CHECK(r.key_len == 1 && r.key && r.key[0] == 'k');
    CHECK(r.value_len == 2 && memcmp(r.value, "v1", 2) == 0);
    CHECK_EQ(r.header_count, 0);
    CHECK_EQ(r.headers_len, 0);
    CHECK(r.key == golden + 66); /* uncompressed: a view into the batch, not a copy */
    CHECK_EQ(storage_record_iter_next(&it, &r), 1);
    CHECK_EQ(r.timestamp_delta, 5);
    CHECK_EQ(r.offset_delta, 1);
    CHECK(r.key == NULL && r.key_len == -1);
    CHECK(r.value_len == 5 && memcmp(r.value, "hello", 5) == 0);
    CHECK_EQ(r.header_count, 1);
    CHECK(r.headers_len == 4 && memcmp(r.headers, "\x02h\x02x", 4) == 0);
    CHECK_EQ(storage_record_iter_next(&it, &r), 0);
    CHECK_EQ(storage_record_iter_next(&it, &r), 0);
    CHECK_EQ(it.scratch.cap, 0); /* nothing was allocated */
    storage_record_iter_deinit(&it);
}

TEST(build_reproduces_golden)
{
    storage_record_in_t recs[2] = {
        {.key = "k", .key_len = 1, .value = "v1", .value_len = 2, .timestamp = 1700000000000LL},
        {.key = NULL,
         .key_len = -1,
         .value = "hello",
         .value_len = 5,
         .timestamp = 1700000000005LL,
         .headers = "\x02h\x02x",
         .headers_len = 4,
         .header_count = 1}};
    buf_t b;
    buf_init(&b);
    buf_append(&b, "pre", 3); /* build appends */
    storage_batch_build(&b, recs, 2, NULL);
    CHECK_EQ(b.len, 3 + sizeof(golden));
    if (b.len == 3 + sizeof(golden))
        CHECK_MEM(b.data + 3, golden, sizeof(golden));
    /* the same with explicit options */
    storage_batch_opts_t opts = {.producer_id = -1, .producer_epoch = -1, .base_sequence = -1};
    b.len = 0;
    storage_batch_build(&b, recs, 2, &opts);
    CHECK(b.len == sizeof(golden) && memcmp(b.data, golden, sizeof(golden)) == 0);
    buf_deinit(&b);
}

TEST(header_read_partial)
{
    storage_batch_header_t h;
    size_t total = 0;
    CHECK_EQ(storage_batch_header_read(golden, 11, &h, &total), -WEIR_EAGAIN);
    CHECK_EQ(total, 0);
    /* the length field is enough to know the size */
    CHECK_EQ(storage_batch_header_read(golden, 12, &h, &total), -WEIR_EAGAIN);
    CHECK_EQ(total, 87);
    CHECK_EQ(storage_batch_header_read(golden, 61, &h, &total), -WEIR_EAGAIN);
    CHECK_EQ(h.record_count, 2);
    CHECK_EQ(storage_batch_header_read(golden, 86, &h, &total), -WEIR_EAGAIN);
    CHECK_EQ(storage_batch_validate_header(golden, 86, &total), -WEIR_EAGAIN);
    CHECK_EQ(storage_batch_validate_header(golden, 5, &total), -WEIR_EAGAIN);
    /* more bytes than the batch (the next batch follows): fine, total says where it ends */
    uint8_t two[2 * sizeof(golden)];
    memcpy(two, golden, sizeof(golden));
    memcpy(two + sizeof(golden), golden, sizeof(golden));
    CHECK_EQ(storage_batch_validate_header(two, sizeof(two), &total), 0);
    CHECK_EQ(total, sizeof(golden));
}

TEST(crc_update_after_rewrite)
{
    uint8_t b[sizeof(golden)];
    memcpy(b, golden, sizeof(b));
    /* LogAppendTime: attribute bit 3 and maxTimestamp change, so the CRC must be recomputed */
    be16_write(b + BATCH_ATTRIBUTES, BATCH_TIMESTAMP_LOG_APPEND);
    be64_write(b + BATCH_MAX_TIMESTAMP, 1800000000000ULL);
    size_t total;
    CHECK_EQ(storage_batch_validate_header(b, sizeof(b), &total), -WEIR_ECORRUPT);
    storage_batch_crc_update(b, sizeof(b));
    CHECK_EQ(storage_batch_validate_header(b, sizeof(b), &total), 0);
    CHECK_EQ(storage_batch_validate_records(b, sizeof(b), 1 << 20, NULL), 0);
    /* the base offset and leader epoch are outside the CRC: no update needed */
    be64_write(b + BATCH_BASE_OFFSET, 123456);
    be32_write(b + BATCH_LEADER_EPOCH, 7);
    CHECK_EQ(storage_batch_validate_header(b, sizeof(b), &total), 0);
}

/* ---- batches captured from real clients ------------------------------------------------------ */

static int fixture_try(const char *dir, const char *name, buf_t *out)
{
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "%s/%s", dir, name);
    buf_append_u8(&path, 0);
    FILE *f = fopen((const char *)path.data, "rb");
    buf_deinit(&path);
    if (!f)
        return -1;
    uint8_t chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(out, chunk, got);
    fclose(f);
    return 0;
}

/* Beside this source file (tests run from the top of the tree), or up from the test program
 * (build[/asan]/tests/unit/) when run from elsewhere. */
static int fixture_load(const char *name, buf_t *out)
{
    char file[] = __FILE__;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/../fixtures/batches", dirname(file));
    if (fixture_try(dir, name, out) == 0)
        return 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        char *d = dirname(exe);
        for (int up = 0; up < 6; up++) {
            buf_t cand;
            buf_init(&cand);
            buf_printf(&cand, "%s/tests/fixtures/batches", d);
            buf_append_u8(&cand, 0);
            int rc = fixture_try((const char *)cand.data, name, out);
            buf_deinit(&cand);
            if (rc == 0)
                return 0;
            d = dirname(d);
        }
    }
    fprintf(stderr, "  fixture %s not found\n", name);
    return -1;
}

/* What tests/fixtures/capture_batches.py sends (RECORDS there). */
#define FIX_TS0     1700000000000LL
#define FIX_BIG_LEN 33000
struct fix_header {
    const char *key, *value;
};
static const struct {
    const char *key; /* NULL = null */
    const char *value;
    size_t nh;
    struct fix_header h[2];
} fix_records[] = {
    {"key-0", "value-0", 2, {{"h1", "v1"}, {"h2", ""}}},
    {NULL, "value-1 with a null key", 0, {{0}}},
    {"key-2", NULL, 0, {{0}}},
    {"", "", 1, {{"empty", ""}}},
    {"key-4", "(big)", 1, {{"big", "yes"}}},
};

/* Walks raw header bytes and compares them with the expected list. */
static void check_headers(const storage_record_t *r, const struct fix_header *want, size_t nh)
{
    CHECK_EQ(r->header_count, (int)nh);
    const uint8_t *p = r->headers, *end = r->headers + r->headers_len;
    for (size_t i = 0; i < nh && i < (size_t)r->header_count; i++) {
        int32_t kl, vl;
        size_t n = varint_decode_i32(p, end, &kl);
        REQUIRE(n && kl >= 0 && (size_t)kl <= (size_t)(end - p) - n);
        CHECK((size_t)kl == strlen(want[i].key) && memcmp(p + n, want[i].key, (size_t)kl) == 0);
        p += n + (size_t)kl;
        n = varint_decode_i32(p, end, &vl);
        REQUIRE(n && vl >= 0 && (size_t)vl <= (size_t)(end - p) - n);
        CHECK((size_t)vl == strlen(want[i].value) && memcmp(p + n, want[i].value, (size_t)vl) == 0);
        p += n + (size_t)vl;
    }
    CHECK(p == end);
}

static void check_fixture(const char *name, int codec, bool xerial)
{
    buf_t f;
    buf_init(&f);
    REQUIRE(fixture_load(name, &f) == 0);
    storage_batch_header_t h;
    size_t total = 0;
    REQUIRE(storage_batch_header_read(f.data, f.len, &h, &total) == 0);
    CHECK_EQ(total, f.len); /* one batch per capture */
    CHECK_EQ(h.magic, 2);
    CHECK_EQ(h.attributes & BATCH_COMPRESSION_MASK, codec);
    CHECK_EQ(h.record_count, 5);
    CHECK_EQ(h.last_offset_delta, 4);
    CHECK_EQ(h.base_timestamp, FIX_TS0);
    CHECK_EQ(h.max_timestamp, FIX_TS0 + 4);
    CHECK_EQ(h.producer_id, -1);
    if (xerial)
        CHECK(f.len > 69 && memcmp(f.data + BATCH_HEADER_SIZE, "\x82SNAPPY\0", 8) == 0);
    CHECK_EQ(storage_batch_validate_header(f.data, f.len, &total), 0);
    const char *why = NULL;
    CHECK_EQ(storage_batch_validate_records(f.data, f.len, 1 << 20, &why), 0);
    CHECK(why == NULL);
    /* the decompressed records are about 33 KB: a 16 KiB bound must refuse them */
    if (codec != CODEC_NONE)
        CHECK_EQ(storage_batch_validate_records(f.data, f.len, 16 << 10, &why), -WEIR_ETOOBIG);

    storage_record_iter_t it;
    storage_record_t r;
    REQUIRE(storage_record_iter_init(&it, f.data, f.len, 1 << 20) == 0);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(fix_records); i++) {
        REQUIRE(storage_record_iter_next(&it, &r) == 1);
        CHECK_EQ(r.offset_delta, (int)i);
        CHECK_EQ(h.base_timestamp + r.timestamp_delta, FIX_TS0 + (int64_t)i);
        const char *k = fix_records[i].key, *v = fix_records[i].value;
        if (!k)
            CHECK(r.key == NULL && r.key_len == -1);
        else
            CHECK((size_t)r.key_len == strlen(k) && r.key && memcmp(r.key, k, r.key_len) == 0);
        if (!v) {
            CHECK(r.value == NULL && r.value_len == -1);
        } else if (strcmp(v, "(big)") == 0) {
            CHECK_EQ(r.value_len, FIX_BIG_LEN);
            bool same = r.value_len == FIX_BIG_LEN;
            for (int j = 0; same && j < FIX_BIG_LEN; j++)
                same = r.value[j] == "0123456789abcdef"[j % 16];
            CHECK(same);
        } else {
            CHECK((size_t)r.value_len == strlen(v) && r.value &&
                  memcmp(r.value, v, r.value_len) == 0);
        }
        check_headers(&r, fix_records[i].h, fix_records[i].nh);
    }
    CHECK_EQ(storage_record_iter_next(&it, &r), 0);
    CHECK(it.p == it.end);
    storage_record_iter_deinit(&it);

    /* flip one byte of the compressed payload: the CRC catches it first */
    f.data[f.len - 3] ^= 0x40;
    CHECK_EQ(storage_batch_validate_records(f.data, f.len, 1 << 20, &why), -WEIR_ECORRUPT);
    CHECK_STR(why, "CRC-32C mismatch");
    buf_deinit(&f);
}

TEST(fixture_librdkafka_none)
{
    check_fixture("librdkafka-none.bin", CODEC_NONE, false);
}
TEST(fixture_librdkafka_gzip)
{
    check_fixture("librdkafka-gzip.bin", CODEC_GZIP, false);
}
TEST(fixture_librdkafka_snappy)
{
    check_fixture("librdkafka-snappy.bin", CODEC_SNAPPY, false);
}
TEST(fixture_librdkafka_lz4)
{
    check_fixture("librdkafka-lz4.bin", CODEC_LZ4, false);
}
TEST(fixture_librdkafka_zstd)
{
    check_fixture("librdkafka-zstd.bin", CODEC_ZSTD, false);
}
TEST(fixture_kafka_python_gzip)
{
    check_fixture("kafka-python-gzip.bin", CODEC_GZIP, false);
}
TEST(fixture_kafka_python_snappy_xerial)
{
    check_fixture("kafka-python-snappy.bin", CODEC_SNAPPY, true);
}

/* ---- building with every codec --------------------------------------------------------------- */

TEST(build_round_trip_every_codec)
{
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 / 5);
    const char hdrs[] = "\x04k1\x04v1\x04k2\x01"; /* k1=v1, k2=null */
    storage_record_in_t recs[4] = {
        {.key = "a", .key_len = 1, .value = "1", .value_len = 1, .timestamp = 5000},
        {.key = NULL, .key_len = 0, .value = NULL, .value_len = 3, .timestamp = 4000},
        {.key = "",
         .key_len = 0,
         .value = big,
         .value_len = sizeof(big),
         .timestamp = 9000,
         .headers = hdrs,
         .headers_len = sizeof(hdrs) - 1,
         .header_count = 2},
        {.key = "d", .key_len = 1, .value = "", .value_len = 0, .timestamp = -1},
    };
    for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        storage_batch_opts_t opts = {.producer_id = 77,
                                     .producer_epoch = 3,
                                     .base_sequence = 10,
                                     .attributes = (int16_t)all_codecs[c]};
        buf_t b;
        buf_init(&b);
        storage_batch_build(&b, recs, 4, &opts);
        storage_batch_header_t h;
        size_t total;
        REQUIRE(storage_batch_header_read(b.data, b.len, &h, &total) == 0);
        CHECK_EQ(total, b.len);
        CHECK_EQ(h.attributes, all_codecs[c]);
        CHECK_EQ(h.base_timestamp, 5000);
        CHECK_EQ(h.max_timestamp, 9000);
        CHECK_EQ(h.producer_id, 77);
        CHECK_EQ(h.producer_epoch, 3);
        CHECK_EQ(h.base_sequence, 10);
        CHECK_EQ(h.record_count, 4);
        CHECK_EQ(h.last_offset_delta, 3);
        if (all_codecs[c] != CODEC_NONE)
            CHECK(b.len < sizeof(big) / 2);
        const char *why = NULL;
        CHECK_EQ(storage_batch_validate_records(b.data, b.len, 1 << 20, &why), 0);
        storage_record_iter_t it;
        storage_record_t r;
        REQUIRE(storage_record_iter_init(&it, b.data, b.len, 1 << 20) == 0);
        REQUIRE(storage_record_iter_next(&it, &r) == 1);
        CHECK(r.key_len == 1 && r.key[0] == 'a' && r.value_len == 1 && r.value[0] == '1');
        CHECK_EQ(r.timestamp_delta, 0);
        REQUIRE(storage_record_iter_next(&it, &r) == 1);
        CHECK(r.key == NULL && r.key_len == -1 && r.value == NULL && r.value_len == -1);
        CHECK_EQ(r.timestamp_delta, -1000);
        REQUIRE(storage_record_iter_next(&it, &r) == 1);
        CHECK(r.key != NULL && r.key_len == 0);
        CHECK(r.value_len == (int)sizeof(big) && memcmp(r.value, big, sizeof(big)) == 0);
        CHECK_EQ(r.header_count, 2);
        CHECK(r.headers_len == sizeof(hdrs) - 1 && memcmp(r.headers, hdrs, r.headers_len) == 0);
        REQUIRE(storage_record_iter_next(&it, &r) == 1);
        CHECK(r.value != NULL && r.value_len == 0);
        CHECK_EQ(r.timestamp_delta, -5001);
        CHECK_EQ(r.offset_delta, 3);
        CHECK_EQ(storage_record_iter_next(&it, &r), 0);
        storage_record_iter_deinit(&it);
        buf_deinit(&b);
    }
}

TEST(build_empty_batch)
{
    buf_t b;
    buf_init(&b);
    storage_batch_build(&b, NULL, 0, NULL);
    CHECK_EQ(b.len, BATCH_HEADER_SIZE);
    size_t total;
    CHECK_EQ(storage_batch_validate_header(b.data, b.len, &total), 0);
    CHECK_EQ(storage_batch_validate_records(b.data, b.len, 100, NULL), 0);
    storage_batch_header_t h;
    CHECK_EQ(storage_batch_header_read(b.data, b.len, &h, &total), 0);
    CHECK_EQ(h.record_count, 0);
    CHECK_EQ(h.last_offset_delta, -1);
    buf_deinit(&b);
}

/* Regression (fuzzer): compressed records that decompress to nothing left the iterator
 * pointing at a null scratch buffer. */
TEST(compressed_empty_records)
{
    for (size_t c = 1; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        storage_batch_opts_t opts = {.producer_id = -1, .attributes = (int16_t)all_codecs[c]};
        buf_t b;
        buf_init(&b);
        storage_batch_build(&b, NULL, 0, &opts);
        CHECK(b.len > BATCH_HEADER_SIZE);
        const char *why;
        CHECK_EQ(storage_batch_validate_records(b.data, b.len, 1 << 20, &why), 0);
        storage_record_iter_t it;
        storage_record_t r;
        CHECK_EQ(storage_record_iter_init(&it, b.data, b.len, 1 << 20), 0);
        CHECK_EQ(storage_record_iter_next(&it, &r), 0);
        storage_record_iter_deinit(&it);
        /* the same empty payload claiming one record */
        be32_write(b.data + BATCH_RECORD_COUNT, 1);
        be32_write(b.data + BATCH_LAST_OFFSET_DELTA, 0);
        storage_batch_crc_update(b.data, b.len);
        CHECK_EQ(storage_batch_validate_records(b.data, b.len, 1 << 20, &why), -WEIR_ECORRUPT);
        CHECK_STR(why, "fewer records than the record count");
        buf_deinit(&b);
    }
}

/* One iterator over several compressed batches keeps its scratch memory. */
TEST(iter_reset_reuses_scratch)
{
    storage_record_in_t rec = {.key = "k", .key_len = 1, .value = "value", .value_len = 5};
    buf_t z, n;
    buf_init(&z);
    buf_init(&n);
    storage_batch_opts_t opts = {.producer_id = -1, .attributes = CODEC_ZSTD};
    storage_batch_build(&z, &rec, 1, &opts);
    storage_batch_build(&n, &rec, 1, NULL);
    storage_record_iter_t it;
    storage_record_t r;
    REQUIRE(storage_record_iter_init(&it, z.data, z.len, 1 << 20) == 0);
    CHECK_EQ(storage_record_iter_next(&it, &r), 1);
    uint8_t *scratch = it.scratch.data;
    CHECK(scratch != NULL);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(storage_record_iter_reset(&it, z.data, z.len, 1 << 20), 0);
        CHECK_EQ(storage_record_iter_next(&it, &r), 1);
        CHECK(r.value_len == 5 && memcmp(r.value, "value", 5) == 0);
        CHECK(it.scratch.data == scratch);
        CHECK_EQ(storage_record_iter_reset(&it, n.data, n.len, 1 << 20), 0);
        CHECK_EQ(storage_record_iter_next(&it, &r), 1);
        CHECK(r.value == n.data + n.len - 6); /* in place */
    }
    /* a failed init still leaves an iterator that deinit accepts */
    storage_record_iter_deinit(&it);
    CHECK_EQ(storage_record_iter_init(&it, z.data, 20, 1 << 20), -WEIR_ECORRUPT);
    storage_record_iter_deinit(&it);
    buf_deinit(&z);
    buf_deinit(&n);
}

/* ---- malformed batches --------------------------------------------------------------------------
 * A batch around raw record bytes, compressed with `codec`, with a correct CRC: so each case
 * tests what it means to, not the checksum. */
static void raw_batch(buf_t *b, const uint8_t *recs, size_t len, int32_t count, int codec,
                      int16_t attrs)
{
    b->len = 0;
    uint8_t *h = buf_extend(b, BATCH_HEADER_SIZE);
    memset(h, 0, BATCH_HEADER_SIZE);
    h[BATCH_MAGIC] = 2;
    be16_write(h + BATCH_ATTRIBUTES, (uint16_t)(attrs | codec));
    be32_write(h + BATCH_LAST_OFFSET_DELTA, (uint32_t)(count - 1));
    be64_write(h + BATCH_PRODUCER_ID, UINT64_MAX);
    be32_write(h + BATCH_RECORD_COUNT, (uint32_t)count);
    if (codec == CODEC_NONE)
        buf_append(b, recs, len);
    else
        WEIR_ASSERT(storage_codec_compress((storage_codec_t)codec, recs, len, b) == 0);
    be32_write(b->data + BATCH_LENGTH, (uint32_t)(b->len - BATCH_LOG_OVERHEAD));
    storage_batch_crc_update(b->data, b->len);
}

/* Record bytes in hex ("12 00 ..."), spaces ignored. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == ' ')
            continue;
        unsigned v;
        WEIR_ASSERT(n < cap && sscanf(s, "%2x", &v) == 1);
        out[n++] = (uint8_t)v;
        s++;
    }
    return n;
}

#define R0 "12 00 00 00 02 6b 04 76 31 00"                   /* key "k", value "v1", delta 0 */
#define R1 "1e 00 0a 02 01 0a 68 65 6c 6c 6f 02 02 68 02 78" /* as golden record 1, delta 1 */

static const struct {
    const char *name;
    const char *hex;
    int32_t count;
    const char *why;
} bad_records[] = {
    {"valid two records", R0 R1, 2, NULL},
    {"negative record length", "01 00 00 00 02 6b 04 76 31 00", 1, "negative record length"},
    {"key length -2", "12 00 00 00 03 6b 04 76 31 00", 1, "record key length below -1"},
    {"value length -2", "12 00 00 00 02 6b 03 76 31 00", 1, "record value length below -1"},
    {"key longer than record", "12 00 00 00 7e 6b 04 76 31 00", 1,
     "malformed or truncated record field"},
    {"truncated record", "12 00 00 00 02 6b 04 76", 1, "record length runs past the records"},
    {"trailing bytes", R0 "00", 1, "bytes after the last record"},
    {"fewer records than count", R0, 2, "fewer records than the record count"},
    {"no records at all", "", 1, "fewer records than the record count"},
    {"offset deltas skip", R0 "1e 00 0a 04 01 0a 68 65 6c 6c 6f 02 02 68 02 78", 2,
     "record offset deltas are not 0..n-1 in order"},
    {"offset deltas start at 1", "12 00 00 02 02 6b 04 76 31 00", 1,
     "record offset deltas are not 0..n-1 in order"},
    {"length longer than fields", "14 00 00 00 02 6b 04 76 31 00 00", 1,
     "record length does not match its fields"},
    {"length shorter than fields", "10 00 00 00 02 6b 04 76 31 00", 1,
     "malformed or truncated record field"},
    {"negative header count", "12 00 00 00 02 6b 04 76 31 01", 1, "negative record header count"},
    {"huge header count", "1a 00 00 00 02 6b 04 76 31 fe ff ff ff 0f", 1,
     "malformed or truncated record field"},
    {"null header key", "18 00 00 00 02 6b 04 76 31 02 01 02 78", 1,
     "null or negative header key length"},
    {"header value -2", "18 00 00 00 02 6b 04 76 31 02 02 68 03", 1,
     "header value length below -1"},
    {"over-long record length varint", "80 80 80 80 80 00 00 00 00 02 6b 04 76 31 00", 1,
     "malformed record length varint"},
    {"record length above int32", "ff ff ff ff 1f", 1, "malformed record length varint"},
    {"over-long timestamp varlong", "26 00 80 80 80 80 80 80 80 80 80 80 00 00 02 6b 04 76 31 00",
     1, "malformed or truncated record field"},
    {"record cut inside a varint", "12 00 80", 1, "record length runs past the records"},
    {"empty record body", "00", 1, "malformed or truncated record field"},
};

TEST(malformed_records_every_codec)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad_records); i++) {
        uint8_t raw[256];
        size_t len = unhex(bad_records[i].hex, raw, sizeof(raw));
        for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++) {
            buf_t b;
            buf_init(&b);
            raw_batch(&b, raw, len, bad_records[i].count, all_codecs[c], 0);
            size_t total;
            /* the header is fine: only the deep validation sees these */
            int hrc = storage_batch_validate_header(b.data, b.len, &total);
            const char *why = NULL;
            int rc = storage_batch_validate_records(b.data, b.len, 1 << 20, &why);
            int want = bad_records[i].why ? -WEIR_ECORRUPT : 0;
            /* uncompressed, a count that cannot fit (7 bytes a record) fails the header */
            bool header_refuses =
                all_codecs[c] == CODEC_NONE && (size_t)bad_records[i].count * 7 > len;
            if (header_refuses)
                CHECK(why && strcmp(why, "record count is larger than the records bytes can "
                                         "hold") == 0);
            if (rc != want || (why == NULL) != (bad_records[i].why == NULL) ||
                (why && strcmp(why, bad_records[i].why) != 0 && !header_refuses) ||
                (hrc != 0 && !header_refuses)) {
                fprintf(stderr, "  case '%s' codec %d: header rc %d, rc %d, why '%s'\n",
                        bad_records[i].name, all_codecs[c], hrc, rc, why ? why : "(null)");
                test_failed_now = 1;
            }
            if (why)
                CHECK(!storage_batch_why_corrupt(why) || header_refuses);
            buf_deinit(&b);
        }
    }
}

/* Header-level damage, from a valid built batch. */
TEST(malformed_headers)
{
    storage_record_in_t recs[2] = {{.key = "k", .key_len = 1, .value = "v", .value_len = 1},
                                   {.key = "k", .key_len = 1, .value = "w", .value_len = 1}};
    buf_t good;
    buf_init(&good);
    storage_batch_build(&good, recs, 2, NULL);
    uint8_t b[256];
    size_t n = good.len, total;
    const char *why;
    REQUIRE(n <= sizeof(b));

    /* bad CRC */
    memcpy(b, good.data, n);
    b[n - 1] ^= 1;
    CHECK_EQ(storage_batch_validate_header(b, n, &total), -WEIR_ECORRUPT);
    CHECK_EQ(storage_batch_validate_records(b, n, 1 << 20, &why), -WEIR_ECORRUPT);
    CHECK_STR(why, "CRC-32C mismatch");
    CHECK(storage_batch_why_corrupt(why));

    /* wrong magic: 0, 1, 3 (outside the CRC, so only the magic check can see it) */
    const uint8_t magics[] = {0, 1, 3, 0xff};
    for (size_t i = 0; i < sizeof(magics); i++) {
        memcpy(b, good.data, n);
        b[BATCH_MAGIC] = magics[i];
        CHECK_EQ(storage_batch_validate_header(b, n, &total), -WEIR_EUNSUPPORTED);
        CHECK_EQ(storage_batch_validate_records(b, n, 1 << 20, &why), -WEIR_EUNSUPPORTED);
        CHECK_STR(why, "magic is not 2");
        storage_record_iter_t it;
        CHECK_EQ(storage_record_iter_init(&it, b, n, 1 << 20), -WEIR_EUNSUPPORTED);
        storage_record_iter_deinit(&it);
    }
    /* a v1 message shorter than a v2 header is still "unsupported", not "corrupt" */
    const uint8_t v1[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    0,    22,   1,    2, 3, 4, 1,
                          0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    CHECK_EQ(storage_batch_validate_header(v1, sizeof(v1), &total), -WEIR_EUNSUPPORTED);

    struct {
        const char *name;
        size_t off;
        uint32_t v;
        int rc;
        const char *why;
    } fields[] = {
        {"lastOffsetDelta != count - 1", BATCH_LAST_OFFSET_DELTA, 5, -WEIR_ECORRUPT,
         "record count is not lastOffsetDelta + 1"},
        {"count -1", BATCH_RECORD_COUNT, UINT32_MAX, -WEIR_ECORRUPT, "negative record count"},
        {"huge count", BATCH_RECORD_COUNT, 0x7fffffff, -WEIR_ECORRUPT,
         "record count is not lastOffsetDelta + 1"},
        {"negative length", BATCH_LENGTH, 0xfffffff0u, -WEIR_ECORRUPT, "negative batch length"},
        {"length below header", BATCH_LENGTH, 48, -WEIR_ECORRUPT,
         "batch length is below the v2 header size"},
        {"zero length (zero-filled tail)", BATCH_LENGTH, 0, -WEIR_ECORRUPT,
         "batch length is below the v2 header size"},
        {"length past the bytes", BATCH_LENGTH, 0x7fffffff, -WEIR_ECORRUPT,
         "batch is shorter than its length field says"},
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(fields); i++) {
        memcpy(b, good.data, n);
        be32_write(b + fields[i].off, fields[i].v);
        if (fields[i].off != BATCH_LENGTH)
            storage_batch_crc_update(b, n);
        int rc = storage_batch_validate_records(b, n, 1 << 20, &why);
        if (rc != fields[i].rc || !why || strcmp(why, fields[i].why) != 0) {
            fprintf(stderr, "  case '%s': rc %d why '%s'\n", fields[i].name, rc,
                    why ? why : "(null)");
            test_failed_now = 1;
        }
        int hrc = storage_batch_validate_header(b, n, &total);
        CHECK_EQ(hrc, fields[i].v == 0x7fffffff && fields[i].off == BATCH_LENGTH ? -WEIR_EAGAIN
                                                                                 : fields[i].rc);
    }

    /* huge count with a matching lastOffsetDelta: more records than the bytes can hold */
    memcpy(b, good.data, n);
    be32_write(b + BATCH_RECORD_COUNT, 0x7fffffff);
    be32_write(b + BATCH_LAST_OFFSET_DELTA, 0x7ffffffe);
    storage_batch_crc_update(b, n);
    CHECK_EQ(storage_batch_validate_header(b, n, &total), -WEIR_ECORRUPT);
    CHECK_EQ(storage_batch_validate_records(b, n, 1 << 20, &why), -WEIR_ECORRUPT);
    CHECK_STR(why, "record count is larger than the records bytes can hold");

    /* bytes after the batch given as part of it */
    memcpy(b, good.data, n);
    b[n] = 0;
    CHECK_EQ(storage_batch_validate_records(b, n + 1, 1 << 20, &why), -WEIR_ECORRUPT);
    CHECK_STR(why, "bytes after the batch");
    CHECK_EQ(storage_batch_validate_records(b, 10, 1 << 20, &why), -WEIR_ECORRUPT);
    CHECK_STR(why, "batch is shorter than its length field says");
    CHECK(storage_batch_why_corrupt(why));

    /* control batch with two records */
    memcpy(b, good.data, n);
    be16_write(b + BATCH_ATTRIBUTES, BATCH_CONTROL | BATCH_TRANSACTIONAL);
    storage_batch_crc_update(b, n);
    CHECK_EQ(storage_batch_validate_header(b, n, &total), -WEIR_ECORRUPT);
    CHECK_EQ(storage_batch_validate_records(b, n, 1 << 20, &why), -WEIR_ECORRUPT);
    CHECK_STR(why, "control batch does not hold exactly one record");
    buf_deinit(&good);
}

TEST(unknown_codec_ids)
{
    uint8_t raw[64];
    size_t len = unhex(R0, raw, sizeof(raw));
    for (int codec = 5; codec <= 7; codec++) {
        buf_t b;
        buf_init(&b);
        raw_batch(&b, raw, len, 1, CODEC_NONE, (int16_t)codec);
        size_t total;
        CHECK_EQ(storage_batch_validate_header(b.data, b.len, &total), 0);
        const char *why;
        CHECK_EQ(storage_batch_validate_records(b.data, b.len, 1 << 20, &why), -WEIR_EUNSUPPORTED);
        CHECK_STR(why, "unknown compression codec");
        storage_record_iter_t it;
        CHECK_EQ(storage_record_iter_init(&it, b.data, b.len, 1 << 20), -WEIR_EUNSUPPORTED);
        storage_record_iter_deinit(&it);
        buf_deinit(&b);
    }
}

/* 1 MiB of zeros in one record, gzipped (about 1 KB): bound 64 KiB gives ETOOBIG. */
TEST(decompression_bomb)
{
    size_t big = 1 << 20;
    buf_t raw;
    buf_init(&raw);
    /* length, attributes, timestampDelta 0, offsetDelta 0, key null (-1 = 0x01), value */
    buf_append_varint(&raw, (int64_t)(4 + varint_size_i64((int64_t)big) + big + 1));
    buf_append(&raw, "\0\0\0\x01", 4);
    buf_append_varint(&raw, (int64_t)big);
    memset(buf_extend(&raw, big), 0, big);
    buf_append_u8(&raw, 0); /* no headers */
    for (size_t c = 1; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        buf_t b;
        buf_init(&b);
        raw_batch(&b, raw.data, raw.len, 1, all_codecs[c], 0);
        CHECK(b.len < 64 << 10);
        const char *why;
        CHECK_EQ(storage_batch_validate_records(b.data, b.len, 64 << 10, &why), -WEIR_ETOOBIG);
        CHECK_STR(why, "records decompress past the size bound");
        storage_record_iter_t it;
        CHECK_EQ(storage_record_iter_init(&it, b.data, b.len, 64 << 10), -WEIR_ETOOBIG);
        CHECK(it.scratch.cap <= 256 << 10);
        storage_record_iter_deinit(&it);
        /* with room enough, the same batch is valid */
        CHECK_EQ(storage_batch_validate_records(b.data, b.len, 2 << 20, &why), 0);
        buf_deinit(&b);
    }
    buf_deinit(&raw);
}

TEST(compressed_garbage)
{
    uint8_t junk[100];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    for (size_t c = 1; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        buf_t b;
        buf_init(&b);
        raw_batch(&b, junk, sizeof(junk), 1, CODEC_NONE, (int16_t)all_codecs[c]);
        const char *why;
        CHECK_EQ(storage_batch_validate_records(b.data, b.len, 1 << 20, &why), -WEIR_ECORRUPT);
        CHECK_STR(why, "compressed records do not decompress");
        CHECK(!storage_batch_why_corrupt(why));
        buf_deinit(&b);
    }
}

/* Records of a batch as "key=value@ts" lines, for comparing two batches record by record. */
static void records_text(const uint8_t *batch, size_t total, buf_t *out)
{
    storage_batch_header_t h;
    size_t t;
    REQUIRE(storage_batch_header_read(batch, total, &h, &t) == 0 && t == total);
    storage_record_iter_t it;
    REQUIRE(storage_record_iter_init(&it, batch, total, 1 << 20) == 0);
    storage_record_t r;
    while (storage_record_iter_next(&it, &r) == 1)
        buf_printf(out, "%.*s=%.*s@%lld+%d/%d\n", r.key_len > 0 ? r.key_len : 0,
                   r.key ? (const char *)r.key : "", r.value_len > 0 ? r.value_len : 0,
                   r.value ? (const char *)r.value : "", (long long)h.base_timestamp,
                   (int)r.timestamp_delta, r.header_count);
    storage_record_iter_deinit(&it);
}

/* compression.type on the broker: every codec to every other, records and header fields kept,
 * a valid CRC, the same codec left alone. */
TEST(recompress_every_codec_pair)
{
    storage_record_in_t recs[20];
    char vals[20][64];
    for (int i = 0; i < 20; i++) {
        snprintf(vals[i], sizeof(vals[i]), "value %d value %d value %d", i, i, i);
        recs[i] = (storage_record_in_t){
            "key", 3, vals[i], (int32_t)strlen(vals[i]), 1700000000000 + i, NULL, 0, 0};
    }
    for (size_t a = 0; a < WEIR_ARRAY_LEN(all_codecs); a++) {
        for (size_t z = 0; z < WEIR_ARRAY_LEN(all_codecs); z++) {
            storage_batch_opts_t o = {12345, 3, 100,
                                      (int16_t)(all_codecs[a] | BATCH_TRANSACTIONAL)};
            buf_t in, out, t1, t2;
            buf_init(&in), buf_init(&out), buf_init(&t1), buf_init(&t2);
            storage_batch_build(&in, recs, 20, &o);
            be32_write(in.data + BATCH_LEADER_EPOCH, 7);
            int rc = storage_batch_recompress(in.data, in.len, (storage_codec_t)all_codecs[z], 0,
                                              1 << 20, &out);
            if (a == z) {
                CHECK_EQ(rc, 0);
                CHECK_EQ(out.len, 0);
            } else {
                CHECK_EQ(rc, 1);
                CHECK_EQ(storage_batch_validate_records(out.data, out.len, 1 << 20, NULL), 0);
                storage_batch_header_t hi, ho;
                size_t t;
                storage_batch_header_read(in.data, in.len, &hi, &t);
                storage_batch_header_read(out.data, out.len, &ho, &t);
                CHECK_EQ(ho.attributes & BATCH_COMPRESSION_MASK, all_codecs[z]);
                CHECK_EQ(ho.attributes & ~BATCH_COMPRESSION_MASK,
                         hi.attributes & ~BATCH_COMPRESSION_MASK);
                CHECK_EQ(ho.leader_epoch, 7);
                CHECK_EQ(ho.producer_id, 12345);
                CHECK_EQ(ho.producer_epoch, 3);
                CHECK_EQ(ho.base_sequence, 100);
                CHECK_EQ(ho.record_count, 20);
                CHECK_EQ(ho.last_offset_delta, 19);
                CHECK_EQ(ho.base_timestamp, hi.base_timestamp);
                CHECK_EQ(ho.max_timestamp, hi.max_timestamp);
                records_text(in.data, in.len, &t1);
                records_text(out.data, out.len, &t2);
                CHECK(t1.len == t2.len && memcmp(t1.data, t2.data, t1.len) == 0);
            }
            buf_deinit(&in), buf_deinit(&out), buf_deinit(&t1), buf_deinit(&t2);
        }
    }
    /* Levels reach the codec: zstd 19 is no larger than zstd 1 on repetitive data. */
    buf_t in, l1, l19;
    buf_init(&in), buf_init(&l1), buf_init(&l19);
    storage_batch_build(&in, recs, 20, NULL);
    CHECK_EQ(storage_batch_recompress(in.data, in.len, CODEC_ZSTD, 1, 1 << 20, &l1), 1);
    CHECK_EQ(storage_batch_recompress(in.data, in.len, CODEC_ZSTD, 19, 1 << 20, &l19), 1);
    CHECK(l19.len <= l1.len);
    CHECK_EQ(storage_batch_recompress(in.data, in.len, CODEC_GZIP, 9, 1 << 20, &l19), 1);
    /* A bound on decompression holds here too. */
    buf_t gz, none;
    buf_init(&gz), buf_init(&none);
    storage_batch_opts_t og = {-1, -1, -1, CODEC_GZIP};
    storage_batch_build(&gz, recs, 20, &og);
    CHECK_EQ(storage_batch_recompress(gz.data, gz.len, CODEC_NONE, 0, 100, &none), -WEIR_ETOOBIG);
    CHECK_EQ(none.len, 0);
    buf_deinit(&in), buf_deinit(&l1), buf_deinit(&l19), buf_deinit(&gz), buf_deinit(&none);
}

static void note_bad(void *arg, int32_t index, int64_t offset, int64_t ts)
{
    buf_printf(arg, "%d:%lld:%lld ", index, (long long)offset, (long long)ts);
}

/* message.timestamp.before/after.max.ms: every record outside the bounds is reported; records
 * without a timestamp (-1) never are. */
TEST(timestamps_outside)
{
    storage_record_in_t recs[5];
    int64_t ts[5] = {1000, 5000, -1, 2000, 9000};
    for (int i = 0; i < 5; i++)
        recs[i] = (storage_record_in_t){NULL, -1, "v", 1, ts[i], NULL, 0, 0};
    for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        storage_batch_opts_t o = {-1, -1, -1, (int16_t)all_codecs[c]};
        buf_t b, seen;
        buf_init(&b), buf_init(&seen);
        storage_batch_build(&b, recs, 5, &o);
        be64_write(b.data + BATCH_BASE_OFFSET, 40);
        CHECK_EQ(
            storage_batch_timestamps_outside(b.data, b.len, 1 << 20, 1500, 6000, note_bad, &seen),
            2);
        buf_append_u8(&seen, 0);
        CHECK_STR((const char *)seen.data, "0:40:1000 4:44:9000 ");
        CHECK_EQ(storage_batch_timestamps_outside(b.data, b.len, 1 << 20, 0, 10000, NULL, NULL), 0);
        buf_deinit(&b), buf_deinit(&seen);
    }
}

/* The record check's memo: a record whose value starts with the proved prefix is accepted in
 * the loop without a call; a record that does not is passed to the check, which may refuse it
 * (its index reported) or prove a new prefix. With no memo every record is checked. */
typedef struct {
    storage_record_memo_t memo;
    int calls;
} memo_check_t;

static int memo_check(void *arg, int32_t index, const storage_record_t *rec, const char **why)
{
    memo_check_t *c = arg;
    (void)index;
    c->calls++;
    if (rec->value_len < STORAGE_MEMO_PREFIX || rec->value[0] != 0) {
        *why = "no header";
        return -WEIR_EINVAL;
    }
    memcpy(c->memo.prefix[1], rec->value, STORAGE_MEMO_PREFIX);
    c->memo.ok[1] = true;
    return 0;
}

TEST(record_check_memo)
{
    static const char *const values[] = {"\0\0\0\0\1a", "\0\0\0\0\1bc", "\0\0\0\0\2d",
                                         "\0\0\0\0\2",  "\0\0\0\0\1e",  "x-no-header"};
    static const int32_t lens[] = {6, 7, 6, 5, 6, 11};
    storage_record_in_t recs[6];
    for (int i = 0; i < 6; i++)
        recs[i] = (storage_record_in_t){NULL, -1, values[i], lens[i], 1000 + i, NULL, 0, 0};
    for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        storage_batch_opts_t o = {-1, -1, -1, (int16_t)all_codecs[c]};
        buf_t b;
        buf_init(&b);
        /* five good records: ids 1, 1, 2, 2, 1: three calls (each change of id) */
        storage_batch_build(&b, recs, 5, &o);
        memo_check_t mc = {.memo = {.on = {false, true}}};
        int32_t bad = 7;
        const char *why = NULL;
        CHECK_EQ(storage_batch_validate_records_checked(b.data, b.len, 1 << 20, memo_check, &mc,
                                                        &mc.memo, &bad, &why),
                 0);
        CHECK_EQ(mc.calls, 3);
        CHECK_EQ(bad, -1);
        /* without the memo: one call per record */
        mc = (memo_check_t){.memo = {.on = {false, true}}};
        CHECK_EQ(storage_batch_validate_records_checked(b.data, b.len, 1 << 20, memo_check, &mc,
                                                        NULL, &bad, &why),
                 0);
        CHECK_EQ(mc.calls, 5);
        /* the sixth record has no header: refused, its index reported, after four calls */
        b.len = 0;
        storage_batch_build(&b, recs, 6, &o);
        mc = (memo_check_t){.memo = {.on = {false, true}}};
        CHECK_EQ(storage_batch_validate_records_checked(b.data, b.len, 1 << 20, memo_check, &mc,
                                                        &mc.memo, &bad, &why),
                 -WEIR_EINVAL);
        CHECK_EQ(bad, 5);
        CHECK_EQ(mc.calls, 4);
        CHECK_STR(why, "no header");
        buf_deinit(&b);
    }
}

TEST_MAIN()
