/* Unit tests of src/base: CRC-32C (both paths, check value, against each other), varints,
 * buffers, clocks, error strings, the rate-limited log. */
#include "base/base.h"
#include "test.h"

TEST(crc32c_check_value)
{
    /* The standard check value of CRC-32C over "123456789". */
    CHECK_EQ(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
    if (crc32c_hw_available())
        CHECK_EQ(crc32c_hw(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ(crc32c(0, "", 0), 0);
}

TEST(crc32c_known_vectors)
{
    /* RFC 3720 (iSCSI) B.4 test vectors. */
    uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) {
        ones[i] = 0xff;
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    CHECK_EQ(crc32c(0, zeros, 32), 0x8A9136AAu);
    CHECK_EQ(crc32c(0, ones, 32), 0x62A8AB43u);
    CHECK_EQ(crc32c(0, inc, 32), 0x46DD794Eu);
    CHECK_EQ(crc32c(0, dec, 32), 0x113FDB5Cu);
}

TEST(crc32c_hw_matches_sw)
{
    uint8_t data[4099];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < sizeof(data); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (uint8_t)x;
    }
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof(data); n += 97) {
            uint32_t s = crc32c_sw(0, data + off, n);
            CHECK_EQ(crc32c(0, data + off, n), s);
            if (crc32c_hw_available())
                CHECK_EQ(crc32c_hw(0, data + off, n), s);
        }
    /* Incremental equals one-shot. */
    uint32_t inc = crc32c(crc32c(0, data, 1000), data + 1000, sizeof(data) - 1000);
    CHECK_EQ(inc, crc32c_sw(0, data, sizeof(data)));
}

/* The hardware path cuts buffers of 3 * 256 and 3 * 8192 bytes and more into three interleaved
 * blocks, and folds buffers of 4096 bytes and more with VPCLMULQDQ where the CPU has it: check
 * it at and around those sizes, at every alignment, with a running CRC. */
TEST(crc32c_hw_interleaved_blocks)
{
    if (!crc32c_hw_available())
        return;
    size_t cap = 3 * 8192 * 2 + 64;
    uint8_t *data = weir_malloc(cap);
    uint64_t x = 0x2545f4914f6cdd1dull;
    for (size_t i = 0; i < cap; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (uint8_t)x;
    }
    size_t lens[] = {767,  768,  769,  1535,  1536,  4095,  4096,
                     4097, 4111, 4352, 24575, 24576, 24577, 3 * 8192 * 2 + 7};
    for (size_t k = 0; k < WEIR_ARRAY_LEN(lens); k++)
        for (size_t off = 0; off < 9; off++)
            for (uint32_t init = 0; init < 2; init++)
                CHECK_EQ(crc32c_hw(init * 0x9e3779b9u, data + off, lens[k]),
                         crc32c_sw(init * 0x9e3779b9u, data + off, lens[k]));
    free(data);
}

struct varint_case {
    int64_t value;
    uint8_t bytes[10];
    size_t len;
};

TEST(varint_zigzag_table)
{
    static const struct varint_case cases[] = {
        {0, {0x00}, 1},
        {-1, {0x01}, 1},
        {1, {0x02}, 1},
        {-2, {0x03}, 1},
        {63, {0x7e}, 1},
        {-64, {0x7f}, 1},
        {64, {0x80, 0x01}, 2},
        {300, {0xd8, 0x04}, 2},
        {INT32_MAX, {0xfe, 0xff, 0xff, 0xff, 0x0f}, 5},
        {INT32_MIN, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
        {INT64_MAX, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
        {INT64_MIN, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(cases); i++) {
        uint8_t out[10];
        size_t n = varint_encode_i64(out, cases[i].value);
        CHECK_EQ(n, cases[i].len);
        CHECK_MEM(out, cases[i].bytes, n);
        CHECK_EQ(varint_size_i64(cases[i].value), cases[i].len);
        int64_t back;
        CHECK_EQ(varint_decode_i64(cases[i].bytes, cases[i].bytes + cases[i].len, &back),
                 cases[i].len);
        CHECK_EQ(back, cases[i].value);
        if (cases[i].value >= INT32_MIN && cases[i].value <= INT32_MAX) {
            int32_t b32;
            CHECK_EQ(varint_decode_i32(cases[i].bytes, cases[i].bytes + cases[i].len, &b32),
                     cases[i].len);
            CHECK_EQ(b32, cases[i].value);
        }
    }
}

TEST(varint_rejects_bad_input)
{
    uint8_t unterminated[3] = {0x80, 0x80, 0x80};
    uint64_t v;
    CHECK_EQ(varint_decode_u64(unterminated, unterminated + 3, &v), 0);
    uint8_t too_long32[6] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    uint32_t v32;
    CHECK_EQ(varint_decode_u32(too_long32, too_long32 + 6, &v32), 0);
    uint8_t over32[5] = {0xff, 0xff, 0xff, 0xff, 0x1f}; /* 2^35-1 */
    CHECK_EQ(varint_decode_u32(over32, over32 + 5, &v32), 0);
    uint8_t too_long64[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    CHECK_EQ(varint_decode_u64(too_long64, too_long64 + 11, &v), 0);
    CHECK_EQ(varint_decode_u64(too_long64, too_long64, &v), 0); /* empty */
}

TEST(buf_grows_and_encodes)
{
    buf_t b;
    buf_init(&b);
    buf_append_be16(&b, 0x0102);
    buf_append_be32(&b, 0x03040506);
    buf_append_be64(&b, 0x0708090a0b0c0d0eull);
    buf_append_varint(&b, -1);
    buf_append_uvarint(&b, 300);
    static const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0x01, 0xac, 0x02};
    CHECK_EQ(b.len, sizeof(want));
    CHECK_MEM(b.data, want, sizeof(want));
    for (int i = 0; i < 10000; i++)
        buf_append_u8(&b, (uint8_t)i);
    CHECK_EQ(b.len, sizeof(want) + 10000);
    buf_consume(&b, sizeof(want));
    CHECK_EQ(b.data[0], 0);
    CHECK_EQ(b.data[9999], (uint8_t)9999);
    buf_reset(&b);
    buf_printf(&b, "%s-%d", "x", 42);
    CHECK_EQ(b.len, 4);
    CHECK_MEM(b.data, "x-42", 4);
    buf_deinit(&b);
    CHECK(b.data == NULL && b.len == 0);
}

TEST(be_roundtrip)
{
    uint8_t p[8];
    be64_write(p, 0x8000000000000001ull);
    CHECK_EQ(be64_read(p) == 0x8000000000000001ull, 1);
    be32_write(p, 0xdeadbeef);
    CHECK_EQ(be32_read(p), 0xdeadbeef);
    be16_write(p, 0xfffe);
    CHECK_EQ(be16_read(p), 0xfffe);
}

TEST(clocks)
{
    int64_t a = clock_mono_ns(), b = clock_mono_ns();
    CHECK(b >= a);
    CHECK(clock_wall_ms() > 1600000000000LL);
    clock_wall_set_override(1234);
    CHECK_EQ(clock_wall_ms(), 1234);
    clock_wall_set_override(-1);
    CHECK(clock_wall_ms() > 1600000000000LL);
}

TEST(errors_and_log_levels)
{
    CHECK_STR(weir_strerror(-WEIR_ECORRUPT), "corrupt data");
    CHECK_STR(weir_strerror(WEIR_ECORRUPT), "corrupt data");
    CHECK_STR(weir_strerror(-999), "unknown error");
    CHECK_EQ(log_level_parse("debug"), LOG_DEBUG);
    CHECK_EQ(log_level_parse("WARN"), LOG_WARN);
    CHECK_EQ(log_level_parse("nope"), -1);
}

TEST(limited_log_counts_what_it_leaves_out)
{
    log_limit_t lim = {0};
    test_stderr_begin();
    for (int i = 0; i < 1000; i++)
        log_write_limited(&lim, LOG_ERROR, "test", "disk full on %s", "p-0");
    char *first = test_stderr_end();
    CHECK_EQ(test_count_of(first, "ERROR test: disk full on p-0\n"), 1);
    CHECK_EQ(test_count_of(first, "\n"), 1);
    CHECK_EQ(atomic_load(&lim.left_out), 999);
    /* The interval ends (as if 12 s had passed): the next line carries the count. */
    atomic_store(&lim.next_ms, clock_mono_ms() - 2000);
    test_stderr_begin();
    log_write_limited(&lim, LOG_ERROR, "test", "disk full on %s", "p-0");
    log_write_limited(&lim, LOG_ERROR, "test", "disk full on %s", "p-0");
    char *second = test_stderr_end();
    CHECK_EQ(test_count_of(second, "disk full on p-0 (and 999 more like this in 12 s)\n"), 1);
    CHECK_EQ(test_count_of(second, "\n"), 1);
    CHECK_EQ(atomic_load(&lim.left_out), 1);
    /* Below the log level nothing is written or counted. */
    log_set_level(LOG_FATAL);
    log_write_limited(&lim, LOG_ERROR, "test", "quiet");
    log_set_level(LOG_INFO);
    CHECK_EQ(atomic_load(&lim.left_out), 1);
    free(first);
    free(second);
}

TEST_MAIN()
