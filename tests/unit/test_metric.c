/*
 * Tests of base's metrics vocabulary: counters and histograms under concurrent updates (exact
 * totals), bucket placement at the bounds, and the exposition writer's exact bytes in the
 * Prometheus text format and in OpenMetrics (families, _total, escaping, le, # EOF).
 */
#include "base/base.h"
#include "test.h"

#include <pthread.h>

TEST(hist_buckets_at_bounds)
{
    static const metric_buckets_t b = {.n = 3, .le = {10, 20, 30}, .scale = 1};
    metric_hist_t h;
    metric_hist_init(&h, &b);
    uint64_t vals[] = {0, 10, 11, 20, 30, 31, 1000};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(vals); i++)
        metric_hist_observe(&h, vals[i]);
    metric_hist_snap_t s;
    metric_hist_read(&h, &s);
    CHECK_EQ(s.cumulative[0], 2); /* 0, 10 */
    CHECK_EQ(s.cumulative[1], 4); /* + 11, 20 */
    CHECK_EQ(s.cumulative[2], 5); /* + 30 */
    CHECK_EQ(s.cumulative[3], 7); /* + 31, 1000 (+Inf) */
    CHECK_EQ(s.count, 7);
    CHECK_EQ(s.sum, 0 + 10 + 11 + 20 + 30 + 31 + 1000);
    metric_hist_snap_t acc = {0};
    metric_hist_snap_add(&acc, &s);
    metric_hist_snap_add(&acc, &s);
    CHECK_EQ(acc.count, 14);
    CHECK_EQ(acc.cumulative[1], 8);
}

typedef struct {
    metric_counter_t *c;
    metric_hist_t *h;
} hammer_t;

static void *hammer(void *arg)
{
    hammer_t *hm = arg;
    for (int i = 0; i < 100000; i++) {
        metric_counter_add(hm->c, 1);
        metric_hist_observe(hm->h, (uint64_t)(i % 4) * 1000000);
    }
    return NULL;
}

TEST(concurrent_updates_are_exact)
{
    metric_counter_t c = {0};
    metric_hist_t h;
    metric_hist_init(&h, &metric_buckets_latency);
    hammer_t hm = {&c, &h};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, &hm);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(metric_counter_get(&c), 400000);
    metric_hist_snap_t s;
    metric_hist_read(&h, &s);
    CHECK_EQ(s.count, 400000);
    CHECK_EQ(s.sum, 4ull * 25000 * (0 + 1 + 2 + 3) * 1000000);
    /* 0 ns is in the first bucket (25 us); 1, 2, 3 ms in 1 ms, 2.5 ms and 5 ms */
    CHECK_EQ(s.cumulative[0], 100000);
}

static const char *render(bool om, void (*fill)(metric_writer_t *w), buf_t *b)
{
    buf_reset(b);
    metric_writer_t w;
    metric_writer_init(&w, b, om);
    fill(&w);
    metric_writer_finish(&w);
    buf_append_u8(b, 0);
    return (const char *)b->data;
}

static void fill_basic(metric_writer_t *w)
{
    metric_family(w, "x_requests", METRIC_COUNTER, "Requests, with a \\ and\na newline.");
    metric_label_t l[] = {{"api", "Produce"}, {"group", "a\"b\\c\nd"}};
    metric_sample_u64(w, l, 2, 7);
    metric_family(w, "x_level", METRIC_GAUGE, "A level.");
    metric_sample_i64(w, NULL, 0, -3);
    metric_sample_f64(w, l, 1, 0.25);
    static const metric_buckets_t b = {.n = 2, .le = {25000, 1000000000}, .scale = 1e-9};
    metric_hist_t h;
    metric_hist_init(&h, &b);
    metric_hist_observe(&h, 20000);
    metric_hist_observe(&h, 5000000000);
    metric_hist_snap_t s;
    metric_hist_read(&h, &s);
    metric_family(w, "x_seconds", METRIC_HISTOGRAM, "Durations.");
    metric_sample_hist(w, l, 1, &s);
}

TEST(writer_text_format)
{
    buf_t b = {0};
    CHECK_STR(render(false, fill_basic, &b),
              "# HELP x_requests_total Requests, with a \\\\ and\\na newline.\n"
              "# TYPE x_requests_total counter\n"
              "x_requests_total{api=\"Produce\",group=\"a\\\"b\\\\c\\nd\"} 7\n"
              "# HELP x_level A level.\n"
              "# TYPE x_level gauge\n"
              "x_level -3\n"
              "x_level{api=\"Produce\"} 0.25\n"
              "# HELP x_seconds Durations.\n"
              "# TYPE x_seconds histogram\n"
              "x_seconds_bucket{api=\"Produce\",le=\"0.000025\"} 1\n"
              "x_seconds_bucket{api=\"Produce\",le=\"1\"} 1\n"
              "x_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 2\n"
              "x_seconds_sum{api=\"Produce\"} 5.00002\n"
              "x_seconds_count{api=\"Produce\"} 2\n");
    buf_deinit(&b);
}

TEST(writer_openmetrics)
{
    buf_t b = {0};
    const char *s = render(true, fill_basic, &b);
    CHECK(strstr(s, "# HELP x_requests Requests") != NULL);
    CHECK(strstr(s, "# TYPE x_requests counter\n") != NULL);
    CHECK(strstr(s, "x_requests_total{api=\"Produce\"") != NULL);
    CHECK(strstr(s, "le=\"1.0\"} 1\n") != NULL);
    size_t n = strlen(s);
    CHECK(n > 6 && strcmp(s + n - 6, "# EOF\n") == 0);
    buf_deinit(&b);
}

TEST(accept_header)
{
    CHECK(!metric_accept_openmetrics(NULL));
    CHECK(!metric_accept_openmetrics("text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
    CHECK(metric_accept_openmetrics("application/openmetrics-text;version=1.0.0,"
                                    "application/openmetrics-text;version=0.0.1;q=0.75,"
                                    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
}

static void fill_process(metric_writer_t *w)
{
    metric_write_process(w);
}

TEST(process_series)
{
    buf_t b = {0};
    const char *s = render(false, fill_process, &b);
    CHECK(strstr(s, "\nprocess_cpu_seconds_total ") != NULL);
    CHECK(strstr(s, "\nprocess_resident_memory_bytes ") != NULL);
    CHECK(strstr(s, "\nprocess_open_fds ") != NULL);
    CHECK(strstr(s, "\nprocess_max_fds ") != NULL);
    CHECK(strstr(s, "\nprocess_start_time_seconds 1") != NULL);
    buf_deinit(&b);
}

TEST_MAIN()
