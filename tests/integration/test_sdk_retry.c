/*
 * libweir against an embedded broker: retries and dead letters.
 *  - a handler failing twice then succeeding is called exactly three times, with attempts 1, 2,
 *    3 and the policy's backoffs between them, and the offset is committed once;
 *  - a poison event lands in <topic>.dlq with key, value and headers unchanged plus every
 *    provenance header, and the events after it are still handled, in order;
 *  - RETRY on every attempt dead-letters after max_attempts;
 *  - while one partition waits out a retry backoff (paused), another partition flows.
 */
#include "test_sdk_util.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* ---- fail twice, then OK -------------------------------------------------------------------- */

static struct {
    int calls;
    int attempts[8];
    int64_t at_ms[8];
    char traceparent[8][64];
} flaky;

static weir_result flaky_handler(weir_ctx *ctx, const weir_event *ev, void *user)
{
    int i = flaky.calls++;
    if (i < 8) {
        flaky.attempts[i] = weir_ctx_attempt(ctx);
        flaky.at_ms[i] = it_now_ms();
        snprintf(flaky.traceparent[i], 64, "%s", weir_ctx_traceparent(ctx));
    }
    return weir_ctx_attempt(ctx) < 3 ? WEIR_RESULT_RETRY : WEIR_RESULT_OK;
}

TEST(fail_twice_then_ok)
{
    REQUIRE(it_create_topic("retry-1", 1) == 0);
    it_event_t e = {"retry-1", 0, "k1", "{\"n\":1}", "id-retry-1", "Thing", TP};
    REQUIRE(it_produce(&e) == 0);
    weir_app *app = it_app("g-retry-1", NULL, 100, NULL);
    REQUIRE(app);
    weir_route_options o;
    weir_route_options_init(&o);
    o.retry.max_attempts = 5;
    o.retry.initial_backoff_ms = 200;
    o.retry.multiplier = 2.0;
    o.retry.jitter = 0.1;
    REQUIRE(weir_app_route(app, "retry-1", NULL, flaky_handler, NULL, &o) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 1, 30000));
    /* Wait for the commit to be acknowledged, then a little more to see no second one. */
    for (int i = 0; i < 100; i++) {
        weir_stats s;
        weir_app_stats(app, &s);
        if (s.offsets_committed >= 1)
            break;
        it_sleep_ms(50);
    }
    it_sleep_ms(400);
    CHECK_EQ(it_stop(&run), 0);
    weir_stats s;
    weir_app_stats(app, &s);
    CHECK_EQ(flaky.calls, 3);
    CHECK_EQ(s.handler_calls, 3);
    CHECK_EQ(s.handled, 1);
    CHECK_EQ(s.retried, 2);
    CHECK_EQ(s.dead_lettered, 0);
    CHECK_EQ(s.offsets_committed, 1);
    CHECK(s.paused >= 1); /* the partition was paused while it waited */
    CHECK_EQ(flaky.attempts[0], 1);
    CHECK_EQ(flaky.attempts[1], 2);
    CHECK_EQ(flaky.attempts[2], 3);
    /* Backoffs 200 ms then 400 ms, each within the 10% jitter. */
    int64_t d1 = flaky.at_ms[1] - flaky.at_ms[0], d2 = flaky.at_ms[2] - flaky.at_ms[1];
    fprintf(stderr, "  backoffs: %lld ms, %lld ms\n", (long long)d1, (long long)d2);
    CHECK(d1 >= 180 && d1 < 180 + 400);
    CHECK(d2 >= 360 && d2 < 360 + 400);
    /* Every attempt is a child span of the event's trace. */
    for (int i = 0; i < 3; i++) {
        CHECK(strncmp(flaky.traceparent[i], TP, 36) == 0);
        CHECK(strcmp(flaky.traceparent[i], TP) != 0);
    }
    CHECK_EQ(it_committed("g-retry-1", "retry-1", 0), 1);
    weir_app_free(app);
}

/* ---- poison event --------------------------------------------------------------------------- */

static struct {
    int64_t offsets[32];
    int n;
} seen;

static weir_result poison_handler(weir_ctx *ctx, const weir_event *ev, void *user)
{
    size_t len;
    const char *v = weir_event_value(ev, &len);
    if (seen.n < 32)
        seen.offsets[seen.n++] = weir_event_offset(ev);
    if (v && strstr(v, "poison")) {
        weir_ctx_set_error(ctx, "cannot parse order: %s", v);
        return WEIR_RESULT_FAIL;
    }
    return WEIR_RESULT_OK;
}

TEST(poison_to_dlq_and_the_rest_flows)
{
    REQUIRE(it_create_topic("poison-1", 1) == 0);
    const char *values[] = {"{\"n\":0}", "{\"n\":1}", "poison", "{\"n\":3}", "{\"n\":4}"};
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof(id), "id-poison-%d", i);
        it_event_t e = {"poison-1", 0, "order-7", values[i], id, "OrderPlaced", TP};
        REQUIRE(it_produce(&e) == 0);
    }
    weir_app *app = it_app("g-poison-1", NULL, 100, NULL);
    REQUIRE(app);
    REQUIRE(weir_app_route(app, "poison-1", "OrderPlaced", poison_handler, NULL, NULL) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 5, 30000));
    for (int i = 0; i < 100 && it_committed("g-poison-1", "poison-1", 0) != 5; i++)
        it_sleep_ms(50);
    CHECK_EQ(it_stop(&run), 0);
    weir_stats s;
    weir_app_stats(app, &s);
    CHECK_EQ(s.handled, 4);
    CHECK_EQ(s.dead_lettered, 1);
    CHECK_EQ(s.handler_calls, 5); /* FAIL is not retried */
    CHECK_EQ(seen.n, 5);
    for (int i = 0; i < seen.n; i++)
        CHECK_EQ(seen.offsets[i], i);
    CHECK_EQ(it_committed("g-poison-1", "poison-1", 0), 5);

    it_record_t orig[8], dlq[8];
    size_t no = it_read("poison-1", 0, orig, 8, 10000);
    size_t nd = it_read("poison-1.dlq", 0, dlq, 8, 10000);
    REQUIRE(no == 5);
    REQUIRE(nd == 1);
    CHECK_STR(dlq[0].key, "order-7");
    CHECK_STR(dlq[0].value, "poison");
    /* The original headers, unchanged and in order, then the provenance. */
    size_t cnt_orig = rd_kafka_header_cnt(orig[2].headers);
    for (size_t i = 0; i < cnt_orig; i++) {
        const char *n1, *n2;
        const void *v1, *v2;
        size_t s1, s2;
        REQUIRE(rd_kafka_header_get_all(orig[2].headers, i, &n1, &v1, &s1) == 0);
        REQUIRE(rd_kafka_header_get_all(dlq[0].headers, i, &n2, &v2, &s2) == 0);
        CHECK_STR(n1, n2);
        CHECK(s1 == s2 && memcmp(v1, v2, s1) == 0);
    }
    CHECK_STR(it_hdr(&dlq[0], "ce_id"), "id-poison-2");
    CHECK_STR(it_hdr(&dlq[0], "traceparent"), TP);
    CHECK_STR(it_hdr(&dlq[0], "weir.dlq.original.topic"), "poison-1");
    CHECK_STR(it_hdr(&dlq[0], "weir.dlq.original.partition"), "0");
    CHECK_STR(it_hdr(&dlq[0], "weir.dlq.original.offset"), "2");
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", (long long)orig[2].timestamp);
    CHECK_STR(it_hdr(&dlq[0], "weir.dlq.original.timestamp"), ts);
    CHECK_STR(it_hdr(&dlq[0], "weir.dlq.group"), "g-poison-1");
    CHECK_STR(it_hdr(&dlq[0], "weir.dlq.attempts"), "1");
    CHECK_STR(it_hdr(&dlq[0], "weir.dlq.error"), "cannot parse order: poison");
    /* One attempt: the first failure is the moment it was dead-lettered. */
    const char *first = it_hdr(&dlq[0], "weir.dlq.first.failure.timestamp");
    REQUIRE(first);
    long long gap = (long long)dlq[0].timestamp - atoll(first);
    CHECK(gap >= 0 && gap < 5000);
    it_records_free(orig, no);
    it_records_free(dlq, nd);
    weir_app_free(app);
}

/* ---- retries exhausted ---------------------------------------------------------------------- */

static int always_calls;

static weir_result always_retry(weir_ctx *ctx, const weir_event *ev, void *user)
{
    always_calls++;
    CHECK_EQ(weir_ctx_max_attempts(ctx), 3);
    return WEIR_RESULT_RETRY;
}

TEST(retries_exhausted_to_dlq)
{
    REQUIRE(it_create_topic("exhaust-1", 1) == 0);
    /* No traceparent on this one: the dead letter gets the handler's. */
    it_event_t e = {"exhaust-1", 0, "k", "v", "id-exhaust-1", "Thing", NULL};
    REQUIRE(it_produce(&e) == 0);
    weir_app *app = it_app("g-exhaust-1", NULL, 100, NULL);
    REQUIRE(app);
    weir_route_options o;
    weir_route_options_init(&o);
    o.retry.initial_backoff_ms = 20;
    o.dlq_topic = "exhaust-dead";
    REQUIRE(weir_app_route(app, "exhaust-1", NULL, always_retry, NULL, &o) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 1, 30000));
    for (int i = 0; i < 100 && it_committed("g-exhaust-1", "exhaust-1", 0) != 1; i++)
        it_sleep_ms(50);
    CHECK_EQ(it_stop(&run), 0);
    CHECK_EQ(always_calls, 3);
    CHECK_EQ(it_committed("g-exhaust-1", "exhaust-1", 0), 1);
    it_record_t dlq[2];
    size_t nd = it_read("exhaust-dead", 0, dlq, 2, 10000);
    REQUIRE(nd == 1);
    CHECK_STR(it_hdr(&dlq[0], "weir.dlq.attempts"), "3");
    CHECK_STR(it_hdr(&dlq[0], "weir.dlq.error"),
              "handler returned RETRY on the last attempt (3 of 3)");
    /* Three attempts, 20 ms then 40 ms apart (jitter 20%): the first failure is at least
     * 48 ms before the last, which is the dead letter's timestamp. */
    const char *first = it_hdr(&dlq[0], "weir.dlq.first.failure.timestamp");
    REQUIRE(first);
    long long gap = (long long)dlq[0].timestamp - atoll(first);
    CHECK(gap >= 48 && gap < 10000);
    const char *tp = it_hdr(&dlq[0], "traceparent");
    CHECK(tp && strlen(tp) == 55 && strncmp(tp, "00-", 3) == 0);
    it_records_free(dlq, nd);
    weir_app_free(app);
}

/* ---- one partition retries, the other flows ------------------------------------------------- */

static struct {
    pthread_mutex_t lock;
    int64_t p0_done_ms;
    int64_t p1_last_ms;
    int p1_count;
} iso = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};

static weir_result iso_handler(weir_ctx *ctx, const weir_event *ev, void *user)
{
    pthread_mutex_lock(&iso.lock);
    weir_result r = WEIR_RESULT_OK;
    if (weir_event_partition(ev) == 0) {
        if (weir_ctx_attempt(ctx) < 3)
            r = WEIR_RESULT_RETRY;
        else
            iso.p0_done_ms = it_now_ms();
    } else {
        iso.p1_count++;
        iso.p1_last_ms = it_now_ms();
    }
    pthread_mutex_unlock(&iso.lock);
    return r;
}

TEST(retrying_partition_paused_others_flow)
{
    REQUIRE(it_create_topic("iso-1", 2) == 0);
    it_event_t e0 = {"iso-1", 0, "a", "slow", "id-iso-p0", "Thing", NULL};
    REQUIRE(it_produce(&e0) == 0);
    for (int i = 0; i < 20; i++) {
        char id[32];
        snprintf(id, sizeof(id), "id-iso-p1-%d", i);
        it_event_t e1 = {"iso-1", 1, "b", "fast", id, "Thing", NULL};
        REQUIRE(it_produce(&e1) == 0);
    }
    weir_app *app = it_app("g-iso-1", NULL, 100, NULL);
    REQUIRE(app);
    weir_route_options o;
    weir_route_options_init(&o);
    o.retry.initial_backoff_ms = 1000;
    o.retry.multiplier = 1.0;
    o.retry.jitter = 0.0;
    REQUIRE(weir_app_route(app, "iso-1", NULL, iso_handler, NULL, &o) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 21, 30000));
    CHECK_EQ(it_stop(&run), 0);
    CHECK_EQ(iso.p1_count, 20);
    /* All of partition 1 was handled while partition 0 waited its two seconds of backoff. */
    CHECK(iso.p1_last_ms > 0 && iso.p0_done_ms > 0);
    CHECK(iso.p1_last_ms < iso.p0_done_ms);
    fprintf(stderr, "  p1 finished %lld ms before p0\n",
            (long long)(iso.p0_done_ms - iso.p1_last_ms));
    weir_app_free(app);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return it_main(argc, argv);
}
