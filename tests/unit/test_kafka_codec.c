/*
 * The Kafka wire codec: golden bytes for each primitive in the classic and flexible encodings,
 * the bounds (lengths and counts checked against the bytes present, sticky errors), the
 * request header, and the ApiVersions answer generated from the API table.
 */
#include "kafka/kafka.h"
#include "test.h"

static wire_reader_t rd(const void *p, size_t n, bool flex)
{
    wire_reader_t r;
    wire_reader_init(&r, p, n, flex);
    return r;
}

TEST(read_fixed_width)
{
    const uint8_t b[] = {0x7f, 0x01, 0x02, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 1, 0, 1};
    wire_reader_t r = rd(b, sizeof(b), false);
    CHECK_EQ(wire_read_i8(&r), 0x7f);
    CHECK_EQ(wire_read_i16(&r), 0x0102);
    CHECK_EQ(wire_read_i32(&r), -2);
    CHECK_EQ(wire_read_i64(&r), 256);
    CHECK_EQ(wire_read_bool(&r), 1);
    CHECK(wire_reader_ok(&r));
    CHECK_EQ(wire_reader_left(&r), 0);
    CHECK_EQ(wire_read_i8(&r), 0); /* past the end: sticky error */
    CHECK(!wire_reader_ok(&r));
    CHECK_EQ(wire_read_i16(&r), 0);
}

TEST(read_short_fails_without_moving_past_end)
{
    const uint8_t b[] = {1, 2, 3};
    wire_reader_t r = rd(b, sizeof(b), false);
    CHECK_EQ(wire_read_i32(&r), 0);
    CHECK(!wire_reader_ok(&r));
    CHECK_EQ(wire_reader_left(&r), 0);
}

TEST(read_classic_strings)
{
    const uint8_t b[] = {0, 3, 'a', 'b', 'c', 0xff, 0xff, 0, 0};
    wire_reader_t r = rd(b, sizeof(b), false);
    wire_str_t s = wire_read_str(&r);
    CHECK(wire_str_eq(s, "abc"));
    wire_str_t n = wire_read_nstr(&r);
    CHECK_EQ(n.len, -1);
    CHECK(n.s == NULL);
    wire_str_t e = wire_read_str(&r);
    CHECK_EQ(e.len, 0);
    CHECK(wire_reader_ok(&r));
}

TEST(read_null_where_not_nullable_fails)
{
    const uint8_t b[] = {0xff, 0xff};
    wire_reader_t r = rd(b, sizeof(b), false);
    wire_str_t s = wire_read_str(&r);
    CHECK(!wire_reader_ok(&r));
    CHECK_EQ(s.len, 0); /* a valid empty view, never a NULL pointer with a length */
}

TEST(read_string_longer_than_frame_fails)
{
    const uint8_t b[] = {0x7f, 0xff, 'a', 'b'};
    wire_reader_t r = rd(b, sizeof(b), false);
    (void)wire_read_str(&r);
    CHECK(!wire_reader_ok(&r));
    const uint8_t c[] = {0x80, 0x00}; /* -32768 */
    r = rd(c, sizeof(c), false);
    (void)wire_read_nstr(&r);
    CHECK(!wire_reader_ok(&r));
}

TEST(read_compact_strings_and_bytes)
{
    /* "hi" = len+1 = 3; null = 0; bytes {9} = 2 */
    const uint8_t b[] = {3, 'h', 'i', 0, 2, 9, 0};
    wire_reader_t r = rd(b, sizeof(b), true);
    CHECK(wire_str_eq(wire_read_str(&r), "hi"));
    CHECK_EQ(wire_read_nstr(&r).len, -1);
    wire_bytes_t by = wire_read_nbytes(&r);
    CHECK_EQ(by.len, 1);
    CHECK_EQ(by.p[0], 9);
    CHECK_EQ(wire_read_nbytes(&r).len, -1);
    CHECK(wire_reader_ok(&r));
}

TEST(read_bytes_bounds)
{
    const uint8_t b[] = {0, 0, 0, 5, 1, 2};
    wire_reader_t r = rd(b, sizeof(b), false);
    (void)wire_read_nbytes(&r);
    CHECK(!wire_reader_ok(&r));
    const uint8_t c[] = {0xff, 0xff, 0xff, 0xfe}; /* -2 */
    r = rd(c, sizeof(c), false);
    (void)wire_read_nbytes(&r);
    CHECK(!wire_reader_ok(&r));
}

TEST(read_array_counts_checked_against_bytes)
{
    /* 2^31-1 elements in an 8-byte frame: refused before anything is sized from it. */
    const uint8_t b[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    wire_reader_t r = rd(b, sizeof(b), false);
    CHECK_EQ(wire_read_array(&r, 4, INT32_MAX), -1);
    CHECK(!wire_reader_ok(&r));
    /* exactly enough bytes for 1 element of 4 */
    const uint8_t c[] = {0, 0, 0, 1, 0, 0, 0, 7};
    r = rd(c, sizeof(c), false);
    CHECK_EQ(wire_read_array(&r, 4, 10), 1);
    CHECK(wire_reader_ok(&r));
    /* over the per-API cap */
    const uint8_t d[] = {0, 0, 0, 3, 1, 1, 1};
    r = rd(d, sizeof(d), false);
    CHECK_EQ(wire_read_array(&r, 1, 2), -1);
    CHECK(!wire_reader_ok(&r));
    /* null and negative */
    const uint8_t e[] = {0xff, 0xff, 0xff, 0xff};
    r = rd(e, sizeof(e), false);
    CHECK_EQ(wire_read_array(&r, 4, 10), -1);
    CHECK(wire_reader_ok(&r));
    const uint8_t f[] = {0xff, 0xff, 0xff, 0xfe};
    r = rd(f, sizeof(f), false);
    CHECK_EQ(wire_read_array(&r, 4, 10), -1);
    CHECK(!wire_reader_ok(&r));
}

TEST(read_compact_array_and_tags)
{
    /* compact array of 2 (encoded 3), each an i8, then tags: 2 fields (tag 0 size 1, tag 5
     * size 2) */
    const uint8_t b[] = {3, 10, 11, 2, 0, 1, 0xaa, 5, 2, 0xbb, 0xcc, 0x42};
    wire_reader_t r = rd(b, sizeof(b), true);
    CHECK_EQ(wire_read_array(&r, 1, 10), 2);
    CHECK_EQ(wire_read_i8(&r), 10);
    CHECK_EQ(wire_read_i8(&r), 11);
    wire_read_tags(&r);
    CHECK(wire_reader_ok(&r));
    CHECK_EQ(wire_read_i8(&r), 0x42);
    /* a tagged field claiming more bytes than present */
    const uint8_t c[] = {1, 0, 9, 1};
    r = rd(c, sizeof(c), true);
    wire_read_tags(&r);
    CHECK(!wire_reader_ok(&r));
    /* tags are a no-op on classic readers */
    r = rd(c, sizeof(c), false);
    wire_read_tags(&r);
    CHECK(wire_reader_ok(&r));
    CHECK_EQ(wire_reader_left(&r), 4);
}

TEST(read_uvarint_overlong_fails)
{
    const uint8_t b[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    wire_reader_t r = rd(b, sizeof(b), true);
    (void)wire_read_uvarint(&r);
    CHECK(!wire_reader_ok(&r));
}

TEST(write_classic_golden)
{
    buf_t b = {0};
    wire_writer_t w;
    wire_writer_init(&w, &b, false);
    wire_write_i16(&w, 18);
    wire_write_cstr(&w, "ab");
    wire_write_cstr(&w, NULL);
    wire_write_array_len(&w, 2);
    wire_write_nbytes(&w, "x", 1);
    wire_write_nbytes(&w, NULL, -1);
    wire_write_tags(&w); /* nothing in classic */
    const uint8_t want[] = {0, 18, 0, 2, 'a', 'b', 0xff, 0xff, 0,    0,   0,
                            2, 0,  0, 0, 1,   'x', 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ(b.len, sizeof(want));
    CHECK_MEM(b.data, want, sizeof(want));
    buf_deinit(&b);
}

TEST(write_flexible_golden)
{
    buf_t b = {0};
    wire_writer_t w;
    wire_writer_init(&w, &b, true);
    wire_write_cstr(&w, "ab");
    wire_write_cstr(&w, NULL);
    wire_write_array_len(&w, 2);
    wire_write_array_len(&w, -1);
    wire_write_nbytes(&w, "x", 1);
    wire_write_tags(&w);
    const uint8_t want[] = {3, 'a', 'b', 0, 3, 0, 2, 'x', 0};
    CHECK_EQ(b.len, sizeof(want));
    CHECK_MEM(b.data, want, sizeof(want));
    buf_deinit(&b);
}

TEST(round_trip_both_encodings)
{
    for (int flex = 0; flex < 2; flex++) {
        buf_t b = {0};
        wire_writer_t w;
        wire_writer_init(&w, &b, flex);
        wire_write_i64(&w, -5);
        wire_write_str(&w, "topic", 5);
        wire_write_array_len(&w, 1);
        wire_write_i32(&w, 7);
        wire_write_tags(&w);
        wire_reader_t r = rd(b.data, b.len, flex);
        CHECK_EQ(wire_read_i64(&r), -5);
        CHECK(wire_str_eq(wire_read_str(&r), "topic"));
        CHECK_EQ(wire_read_array(&r, 4, 10), 1);
        CHECK_EQ(wire_read_i32(&r), 7);
        wire_read_tags(&r);
        CHECK(wire_reader_ok(&r));
        CHECK_EQ(wire_reader_left(&r), 0);
        buf_deinit(&b);
    }
}

TEST(request_header_v1_and_v2)
{
    /* Metadata v1, correlation 7, client_id "c" */
    const uint8_t v1[] = {0, 3, 0, 1, 0, 0, 0, 7, 0, 1, 'c', 0xaa};
    wire_reader_t r = rd(v1, sizeof(v1), false);
    wire_req_header_t h;
    CHECK_EQ(wire_req_header_read(&r, &h), 0);
    CHECK_EQ(h.api_key, 3);
    CHECK_EQ(h.api_version, 1);
    CHECK_EQ(h.correlation_id, 7);
    CHECK(wire_str_eq(h.client_id, "c"));
    CHECK_EQ(wire_read_i8(&r), (int8_t)0xaa);
    /* ApiVersions v3 (header v2): client_id keeps its i16 length, then an empty tag section */
    const uint8_t v2[] = {0, 18, 0, 3, 0, 0, 0, 9, 0xff, 0xff, 0, 0x55};
    r = rd(v2, sizeof(v2), true);
    CHECK_EQ(wire_req_header_read(&r, &h), 0);
    CHECK_EQ(h.client_id.len, -1);
    CHECK_EQ(wire_read_i8(&r), 0x55);
    /* truncated */
    r = rd(v2, 6, true);
    CHECK(wire_req_header_read(&r, &h) < 0);
}

TEST(response_header_and_size)
{
    buf_t b = {0};
    wire_resp_begin(&b, 0x01020304, false);
    buf_append_u8(&b, 0xee);
    wire_resp_finish(&b);
    const uint8_t want[] = {0, 0, 0, 5, 1, 2, 3, 4, 0xee};
    CHECK_EQ(b.len, sizeof(want));
    CHECK_MEM(b.data, want, sizeof(want));
    buf_reset(&b);
    wire_resp_begin(&b, 1, true); /* header v1: a tag section after the id */
    wire_resp_finish(&b);
    const uint8_t want1[] = {0, 0, 0, 5, 0, 0, 0, 1, 0};
    CHECK_MEM(b.data, want1, sizeof(want1));
    buf_deinit(&b);
}

/* ApiVersions answers from the table: exactly the ranges the broker implements. */
TEST(api_versions_from_table)
{
    static const struct {
        int16_t key, min, max;
    } want[] = {{0, 0, 11}, {1, 4, 16}, {2, 1, 10}, {3, 0, 13}, {8, 2, 9},  {9, 1, 9},  {10, 0, 5},
                {11, 0, 9}, {12, 0, 4}, {13, 0, 5}, {14, 0, 5}, {15, 0, 5}, {16, 0, 5}, {18, 0, 4},
                {19, 2, 7}, {20, 1, 6}, {21, 0, 2}, {23, 2, 4}, {32, 1, 4}, {33, 0, 2}, {35, 1, 4},
                {37, 0, 3}, {42, 0, 2}, {43, 0, 2}, {44, 0, 1}, {45, 0, 0}, {46, 0, 0}, {47, 0, 0},
                {60, 0, 2}, {68, 0, 1}, {69, 0, 0}, {75, 0, 0}};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(want); i++) {
        const kafka_api_t *a = kafka_api_find(want[i].key);
        REQUIRE(a != NULL);
        CHECK_EQ(a->min_version, want[i].min);
        CHECK_EQ(a->max_version, want[i].max);
    }
    for (int v = 0; v <= 3; v++) {
        buf_t b = {0};
        wire_writer_t w;
        wire_writer_init(&w, &b, v >= 3);
        kafka_api_versions_write(&w, (int16_t)v, 0);
        wire_reader_t r = rd(b.data, b.len, v >= 3);
        CHECK_EQ(wire_read_i16(&r), 0);
        int32_t n = wire_read_array(&r, 6, 1000);
        CHECK_EQ(n, (int32_t)kafka_apis_count);
        bool saw18 = false;
        for (int32_t i = 0; i < n; i++) {
            int16_t key = wire_read_i16(&r), lo = wire_read_i16(&r), hi = wire_read_i16(&r);
            wire_read_tags(&r);
            const kafka_api_t *a = kafka_api_find(key);
            CHECK(a && a->min_version == lo && a->max_version == hi);
            saw18 |= key == 18;
        }
        CHECK(saw18);
        if (v >= 1)
            CHECK_EQ(wire_read_i32(&r), 0);
        wire_read_tags(&r);
        CHECK(wire_reader_ok(&r));
        CHECK_EQ(wire_reader_left(&r), 0);
        buf_deinit(&b);
    }
    /* sorted and unique, so lookups and the advertisement agree */
    for (size_t i = 1; i < kafka_apis_count; i++)
        CHECK(kafka_apis[i - 1].key < kafka_apis[i].key);
}

TEST(error_names)
{
    CHECK_STR(wire_err_name(KAFKA_UNKNOWN_TOPIC_OR_PARTITION), "UNKNOWN_TOPIC_OR_PARTITION");
    CHECK_STR(wire_err_name(KAFKA_INVALID_RECORD), "INVALID_RECORD");
    CHECK_STR(wire_err_name(12345), "UNKNOWN");
}

TEST_MAIN()
