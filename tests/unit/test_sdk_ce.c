/* Unit tests of the CloudEvents header codec (build, read back, limits, last header wins), the
 * time format, ids, and the outbox's header blob (round trip, and every truncation and
 * corruption refused without a crash). */
#include "sdk/sdk.h"
#include "test.h"

static const char *hdr(const rd_kafka_headers_t *h, const char *name)
{
    static char buf[512];
    const void *v;
    size_t n;
    if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (!v)
        return "(null)";
    snprintf(buf, sizeof(buf), "%.*s", (int)n, (const char *)v);
    return buf;
}

TEST(build_and_read_back)
{
    weir_message m;
    weir_message_init(&m);
    CHECK_EQ(m.partition, -1);
    m.topic = "orders";
    m.type = "OrderPlaced";
    m.subject = "O-1";
    const char *extra[] = {"x-tenant", "acme", NULL};
    m.headers = extra;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    REQUIRE(sdk_ce_headers_add(h, &m, "id-1", "/svc", tp, 1764165600123LL) == 0);
    CHECK_STR(hdr(h, "ce_specversion"), "1.0");
    CHECK_STR(hdr(h, "ce_id"), "id-1");
    CHECK_STR(hdr(h, "ce_type"), "OrderPlaced");
    CHECK_STR(hdr(h, "ce_source"), "/svc");
    CHECK_STR(hdr(h, "ce_time"), "2025-11-26T14:00:00.123Z");
    CHECK_STR(hdr(h, "ce_subject"), "O-1");
    CHECK_STR(hdr(h, "content-type"), "application/json");
    CHECK_STR(hdr(h, "traceparent"), tp);
    CHECK_STR(hdr(h, "x-tenant"), "acme");

    sdk_ce_t ce;
    sdk_ce_read(h, &ce);
    CHECK(sdk_ce_valid(&ce));
    CHECK_STR(ce.id, "id-1");
    CHECK_STR(ce.type, "OrderPlaced");
    CHECK_STR(ce.source, "/svc");
    CHECK_STR(ce.specversion, "1.0");
    CHECK_STR(ce.time, "2025-11-26T14:00:00.123Z");
    CHECK_STR(ce.subject, "O-1");
    CHECK_STR(ce.content_type, "application/json");
    CHECK(ce.has_trace);
    CHECK_STR(ce.traceparent, tp);
    rd_kafka_headers_destroy(h);
}

TEST(required_and_limits)
{
    weir_message m;
    weir_message_init(&m);
    m.topic = "t";
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    CHECK_EQ(sdk_ce_headers_add(h, &m, "id", "/s", NULL, 0), -WEIR_EINVAL); /* no type */
    m.type = "";
    CHECK_EQ(sdk_ce_headers_add(h, &m, "id", "/s", NULL, 0), -WEIR_EINVAL);
    m.type = "T";
    CHECK_EQ(sdk_ce_headers_add(h, &m, "", "/s", NULL, 0), -WEIR_EINVAL);
    CHECK_EQ(sdk_ce_headers_add(h, &m, "id", "", NULL, 0), -WEIR_EINVAL);
    CHECK_EQ(sdk_ce_headers_add(h, &m, "id", "/s", "00-bad", 0), -WEIR_EINVAL);
    char long_id[SDK_CE_ATTR_MAX + 2];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    CHECK_EQ(sdk_ce_headers_add(h, &m, long_id, "/s", NULL, 0), -WEIR_EINVAL);
    const char *bad_headers[] = {"", "v", NULL};
    m.headers = bad_headers;
    CHECK_EQ(sdk_ce_headers_add(h, &m, "id", "/s", NULL, 0), -WEIR_EINVAL);
    const char *long_name[] = {long_id, "v", NULL};
    m.headers = long_name;
    CHECK_EQ(sdk_ce_headers_add(h, &m, "id", "/s", NULL, 0), -WEIR_EINVAL);
    m.headers = NULL;
    long_id[SDK_CE_ATTR_MAX] = '\0'; /* exactly the maximum is fine */
    CHECK_EQ(rd_kafka_header_cnt(h), 0);
    CHECK_EQ(sdk_ce_headers_add(h, &m, long_id, "/s", NULL, 0), 0);
    sdk_ce_t ce;
    sdk_ce_read(h, &ce);
    CHECK_EQ(strlen(ce.id), SDK_CE_ATTR_MAX);
    CHECK(!ce.has_trace);
    rd_kafka_headers_destroy(h);
}

TEST(read_treats_bad_values_as_absent)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    char big[SDK_CE_ATTR_MAX + 1];
    memset(big, 'x', sizeof(big));
    rd_kafka_header_add(h, "ce_id", -1, big, sizeof(big)); /* one byte too long */
    rd_kafka_header_add(h, "ce_type", -1, "A\0B", 3);      /* NUL inside */
    rd_kafka_header_add(h, "ce_source", -1, NULL, 0);      /* null value */
    rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
    rd_kafka_header_add(h, "traceparent", -1, "garbage", -1);
    sdk_ce_t ce;
    sdk_ce_read(h, &ce);
    CHECK_STR(ce.id, "");
    CHECK_STR(ce.type, "");
    CHECK_STR(ce.source, "");
    CHECK(!ce.has_trace);
    CHECK(!sdk_ce_valid(&ce));
    sdk_ce_read(NULL, &ce);
    CHECK_STR(ce.specversion, "");
    rd_kafka_headers_destroy(h);
}

TEST(last_header_wins_and_case)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "ce_id", -1, "first", -1);
    rd_kafka_header_add(h, "ce_id", -1, "second", -1);
    rd_kafka_header_add(h, "Content-Type", -1, "text/plain", -1);
    rd_kafka_header_add(h, "CE_TYPE", -1, "ignored", -1); /* ce_ names are lower case */
    rd_kafka_header_add(h, "TraceParent", -1,
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", -1);
    sdk_ce_t ce;
    sdk_ce_read(h, &ce);
    CHECK_STR(ce.id, "second");
    CHECK_STR(ce.content_type, "text/plain");
    CHECK_STR(ce.type, "");
    CHECK(ce.has_trace);
    rd_kafka_headers_destroy(h);
}

TEST(time_format)
{
    char out[32];
    sdk_time_format(0, out);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    sdk_time_format(951782400999LL, out); /* 2000-02-29 */
    CHECK_STR(out, "2000-02-29T00:00:00.999Z");
    sdk_time_format(-5, out);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
}

TEST(uuid_v7)
{
    char a[37], b[37];
    weir_uuid(a);
    weir_uuid(b);
    CHECK_EQ(strlen(a), 36);
    CHECK(strcmp(a, b) != 0);
    CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    CHECK(a[14] == '7');
    CHECK(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
    /* The first 48 bits are the time in ms: ids made later sort later. */
    char c[37];
    sdk_uuid7_format(0x0123456789abLL, 0xfff, 0, c);
    CHECK_STR(c, "01234567-89ab-7fff-8000-000000000000");
    char d[37];
    sdk_uuid7_format(0x0123456789acLL, 0, ~0ull, d);
    CHECK_STR(d, "01234567-89ac-7000-bfff-ffffffffffff");
    CHECK(strcmp(c, d) < 0);
    char v4[37];
    sdk_uuid_format(0, 0, v4);
    CHECK_STR(v4, "00000000-0000-4000-8000-000000000000");
}

static rd_kafka_headers_t *sample_headers(void)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "ce_id", -1, "abc", -1);
    rd_kafka_header_add(h, "empty", -1, "", 0);
    rd_kafka_header_add(h, "null", -1, NULL, 0);
    rd_kafka_header_add(h, "bin", -1, "\x00\x01\xff", 3);
    return h;
}

TEST(hdrblob_round_trip)
{
    rd_kafka_headers_t *h = sample_headers();
    buf_t b;
    buf_init(&b);
    sdk_hdrblob_encode(h, &b);
    const uint8_t want[] = {'W', 1, 0,   4,   0,   5,   'c', 'e', '_', 'i',  'd',  0,    0,
                            0,   3, 'a', 'b', 'c', 0,   5,   'e', 'm', 'p',  't',  'y',  0,
                            0,   0, 0,   0,   4,   'n', 'u', 'l', 'l', 0xff, 0xff, 0xff, 0xff,
                            0,   3, 'b', 'i', 'n', 0,   0,   0,   3,   0x00, 0x01, 0xff};
    CHECK_EQ(b.len, sizeof(want));
    CHECK_MEM(b.data, want, WEIR_MIN(b.len, sizeof(want)));
    rd_kafka_headers_t *back;
    REQUIRE(sdk_hdrblob_decode(b.data, b.len, &back) == 0);
    CHECK_EQ(rd_kafka_header_cnt(back), 4);
    const void *v;
    size_t n;
    CHECK_EQ(rd_kafka_header_get_last(back, "null", &v, &n), 0);
    CHECK(v == NULL);
    CHECK_EQ(rd_kafka_header_get_last(back, "empty", &v, &n), 0);
    CHECK(v != NULL && n == 0);
    CHECK_EQ(rd_kafka_header_get_last(back, "bin", &v, &n), 0);
    CHECK(n == 3 && memcmp(v, "\x00\x01\xff", 3) == 0);
    rd_kafka_headers_destroy(back);
    rd_kafka_headers_destroy(h);

    /* No headers at all is a valid blob too. */
    buf_reset(&b);
    sdk_hdrblob_encode(NULL, &b);
    CHECK_EQ(b.len, 4);
    REQUIRE(sdk_hdrblob_decode(b.data, b.len, &back) == 0);
    CHECK_EQ(rd_kafka_header_cnt(back), 0);
    rd_kafka_headers_destroy(back);
    buf_deinit(&b);
}

TEST(hdrblob_rejects_corruption)
{
    rd_kafka_headers_t *h = sample_headers();
    buf_t b;
    buf_init(&b);
    sdk_hdrblob_encode(h, &b);
    rd_kafka_headers_destroy(h);
    rd_kafka_headers_t *out;
    /* Every truncation. */
    for (size_t n = 0; n < b.len; n++) {
        out = (rd_kafka_headers_t *)1;
        CHECK_EQ(sdk_hdrblob_decode(b.data, n, &out), -WEIR_ECORRUPT);
        CHECK(out == NULL);
    }
    /* Trailing bytes. */
    uint8_t *p = weir_malloc(b.len + 1);
    memcpy(p, b.data, b.len);
    p[b.len] = 0;
    CHECK_EQ(sdk_hdrblob_decode(p, b.len + 1, &out), -WEIR_ECORRUPT);
    /* Bad magic, version, a count larger than what follows, a huge value length. */
    memcpy(p, b.data, b.len);
    p[0] = 'X';
    CHECK_EQ(sdk_hdrblob_decode(p, b.len, &out), -WEIR_ECORRUPT);
    memcpy(p, b.data, b.len);
    p[1] = 2;
    CHECK_EQ(sdk_hdrblob_decode(p, b.len, &out), -WEIR_ECORRUPT);
    memcpy(p, b.data, b.len);
    p[3] = 5;
    CHECK_EQ(sdk_hdrblob_decode(p, b.len, &out), -WEIR_ECORRUPT);
    memcpy(p, b.data, b.len);
    p[3] = 0xff;
    p[2] = 0xff;
    CHECK_EQ(sdk_hdrblob_decode(p, b.len, &out), -WEIR_ECORRUPT);
    memcpy(p, b.data, b.len);
    p[11] = 0x7f; /* the first value length */
    CHECK_EQ(sdk_hdrblob_decode(p, b.len, &out), -WEIR_ECORRUPT);
    memcpy(p, b.data, b.len);
    p[4] = 0;
    p[5] = 0; /* empty name */
    CHECK_EQ(sdk_hdrblob_decode(p, b.len, &out), -WEIR_ECORRUPT);
    memcpy(p, b.data, b.len);
    p[7] = 0; /* NUL inside a name */
    CHECK_EQ(sdk_hdrblob_decode(p, b.len, &out), -WEIR_ECORRUPT);
    /* Every single-byte flip either decodes or is refused, and never crashes. */
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(p, b.data, b.len);
            p[i] ^= (uint8_t)(1u << bit);
            if (sdk_hdrblob_decode(p, b.len, &out) == 0)
                rd_kafka_headers_destroy(out);
        }
    }
    free(p);
    buf_deinit(&b);
}

TEST_MAIN()
