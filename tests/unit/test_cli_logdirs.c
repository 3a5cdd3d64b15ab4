/*
 * Golden-byte tests of the DescribeLogDirs codec of `weir cluster logdirs` (src/cli/logdirs.c):
 * the ApiVersions v0 and DescribeLogDirs v1 requests byte for byte, a v1 response decoded, and
 * short or lying responses refused before anything is allocated for them.
 */
#include "test.h"

#include "../../src/cli/logdirs.c"

TEST(requests_golden)
{
    buf_t b = {0};
    cli_api_versions_request(&b, 1);
    static const uint8_t av[] = {0, 0, 0, 18,  0,   18,  0,   0,   0,   0,   0,
                                 1, 0, 8, 'w', 'e', 'i', 'r', '-', 'c', 'l', 'i'};
    CHECK_EQ(b.len, sizeof(av));
    CHECK_MEM(b.data, av, sizeof(av));
    buf_reset(&b);
    cli_logdirs_request(&b, 2);
    static const uint8_t ld[] = {0, 0,   0,   22,  0,   35,  0,   1,   0,   0,    0,    2,    0,
                                 8, 'w', 'e', 'i', 'r', '-', 'c', 'l', 'i', 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ(b.len, sizeof(ld));
    CHECK_MEM(b.data, ld, sizeof(ld));
    buf_deinit(&b);
}

/* corr 2, throttle 0, one dir "/data" (error 0) with topic "t": partitions 0 (100 bytes) and
 * 1 (50 bytes, offset lag 3). */
static const uint8_t resp[] = {
    0, 0, 0, 2, 0,   0,   0,   0,   0,   0, 0, 1, /* corr, throttle, 1 dir */
    0, 0, 0, 5, '/', 'd', 'a', 't', 'a',          /* error, path */
    0, 0, 0, 1, 0,   1,   't',                    /* 1 topic: "t" */
    0, 0, 0, 2,                                   /* 2 partitions */
    0, 0, 0, 0, 0,   0,   0,   0,   0,   0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* p0 */
    0, 0, 0, 1, 0,   0,   0,   0,   0,   0, 0, 50,  0, 0, 0, 0, 0, 0, 0, 3, 0, /* p1 */
};

TEST(response_decoded)
{
    cli_logdirs_t l;
    REQUIRE(cli_logdirs_parse(resp, sizeof(resp), 2, &l) == 0);
    CHECK_EQ(l.ndirs, 1);
    CHECK_STR(l.dirs[0].path, "/data");
    CHECK_EQ(l.dirs[0].size, 150);
    CHECK_EQ(l.dirs[0].ntopics, 1);
    CHECK_STR(l.dirs[0].topics[0].name, "t");
    CHECK_EQ(l.dirs[0].topics[0].nparts, 2);
    CHECK_EQ(l.dirs[0].topics[0].parts[1].partition, 1);
    CHECK_EQ(l.dirs[0].topics[0].parts[1].size, 50);
    CHECK_EQ(l.dirs[0].topics[0].parts[1].offset_lag, 3);
    cli_logdirs_free(&l);
}

TEST(response_refused)
{
    cli_logdirs_t l;
    for (size_t n = 0; n < sizeof(resp); n++) /* every truncation */
        CHECK_EQ(cli_logdirs_parse(resp, n, 2, &l), -WEIR_ECORRUPT);
    CHECK_EQ(cli_logdirs_parse(resp, sizeof(resp), 3, &l), -WEIR_ECORRUPT); /* wrong corr */
    uint8_t lie[sizeof(resp)];
    memcpy(lie, resp, sizeof(resp));
    lie[8] = 0x7f; /* 2 billion dirs in a few bytes: refused before any allocation */
    CHECK_EQ(cli_logdirs_parse(lie, sizeof(lie), 2, &l), -WEIR_ECORRUPT);
}

TEST(api_versions_lookup)
{
    /* corr 1, error 0, 2 apis: (18, 0, 3), (35, 0, 2) */
    static const uint8_t av[] = {0,  0, 0, 1, 0, 0, 0,  0, 0, 2, 0,
                                 18, 0, 0, 0, 3, 0, 35, 0, 0, 0, 2};
    int16_t max = -1;
    CHECK(cli_api_versions_has(av, sizeof(av), 1, 35, &max));
    CHECK_EQ(max, 2);
    CHECK(!cli_api_versions_has(av, sizeof(av), 1, 36, &max));
    CHECK(!cli_api_versions_has(av, sizeof(av) - 1, 1, 35, &max));
}

TEST_MAIN()
