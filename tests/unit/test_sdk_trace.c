/* Unit tests of W3C traceparent handling: parse (valid, and each way to be invalid), format,
 * and the child span a handler gets. */
#include "sdk/sdk.h"
#include "test.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

TEST(parse_valid)
{
    sdk_trace_t t;
    REQUIRE(sdk_trace_parse(TP, strlen(TP), &t) == 0);
    const uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                             0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    const uint8_t sid[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    CHECK_MEM(t.trace_id, tid, 16);
    CHECK_MEM(t.span_id, sid, 8);
    CHECK_EQ(t.flags, 1);
    char out[SDK_TRACEPARENT_LEN + 1];
    sdk_trace_format(&t, out);
    CHECK_STR(out, TP);
}

TEST(parse_invalid)
{
    const char *bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* v00 must be exact */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero span id */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", /* not hex */
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", /* later version, no '-' */
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++) {
        sdk_trace_t t;
        if (sdk_trace_parse(bad[i], strlen(bad[i]), &t) != -WEIR_EINVAL) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            CHECK(0);
        }
    }
    /* A NUL inside the header value is not hex either. */
    char withnul[] = TP;
    withnul[10] = '\0';
    sdk_trace_t t;
    CHECK_EQ(sdk_trace_parse(withnul, SDK_TRACEPARENT_LEN, &t), -WEIR_EINVAL);
}

TEST(later_version_with_more_fields)
{
    const char *s = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future";
    sdk_trace_t t;
    REQUIRE(sdk_trace_parse(s, strlen(s), &t) == 0);
    char out[SDK_TRACEPARENT_LEN + 1];
    sdk_trace_format(&t, out);
    /* We answer in the version we speak. */
    CHECK_STR(out, TP);
    const char *exact = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    CHECK_EQ(sdk_trace_parse(exact, strlen(exact), &t), 0);
    CHECK_EQ(t.flags, 0);
}

TEST(child_keeps_trace_and_flags)
{
    sdk_trace_t parent, child;
    REQUIRE(sdk_trace_parse(TP, strlen(TP), &parent) == 0);
    parent.flags = 0; /* not sampled upstream: the child must not change that */
    uint64_t rng = 5;
    for (int i = 0; i < 1000; i++) {
        sdk_trace_child(&parent, &rng, &child);
        CHECK_MEM(child.trace_id, parent.trace_id, 16);
        CHECK(memcmp(child.span_id, parent.span_id, 8) != 0);
        CHECK_EQ(child.flags, 0);
        char out[SDK_TRACEPARENT_LEN + 1];
        sdk_trace_format(&child, out);
        sdk_trace_t back;
        CHECK_EQ(sdk_trace_parse(out, strlen(out), &back), 0);
        CHECK_MEM(back.span_id, child.span_id, 8);
    }
}

TEST(root_without_parent)
{
    uint64_t rng = 11;
    sdk_trace_t a, b;
    sdk_trace_child(NULL, &rng, &a);
    sdk_trace_child(NULL, &rng, &b);
    CHECK_EQ(a.flags, 1);
    CHECK(memcmp(a.trace_id, b.trace_id, 16) != 0);
    char out[SDK_TRACEPARENT_LEN + 1];
    sdk_trace_format(&a, out);
    CHECK_EQ(strlen(out), SDK_TRACEPARENT_LEN);
    sdk_trace_t back;
    CHECK_EQ(sdk_trace_parse(out, strlen(out), &back), 0);
}

TEST_MAIN()
