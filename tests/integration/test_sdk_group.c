/*
 * libweir in a consumer group against an embedded broker: rebalances and
 * signals.
 *  - a second app joining the group mid-stream takes over some partitions: the
 * first commits what it finished before giving them up, so every event is
 * handled exactly once by the two together and the group's offsets end at the
 * end of every partition;
 *  - SIGTERM stops weir_app_run() (handle_signals) and the stop commits.
 */
#include "test_sdk_util.h"

#include <signal.h>

#define EVENTS 400
#define PARTS  4

static struct {
    pthread_mutex_t lock;
    int seen[EVENTS];
    int by_app[2];
} rb = {PTHREAD_MUTEX_INITIALIZER, {0}, {0, 0}};

static weir_result count_event(weir_ctx *ctx, const weir_event *ev, void *user)
{
    size_t n;
    const char *v = weir_event_value(ev, &n);
    int i = v ? atoi(v) : -1;
    pthread_mutex_lock(&rb.lock);
    if (i >= 0 && i < EVENTS)
        rb.seen[i]++;
    rb.by_app[(intptr_t)user]++;
    pthread_mutex_unlock(&rb.lock);
    it_sleep_ms(10); /* slow enough that the second app joins mid-stream */
    return WEIR_RESULT_OK;
}

TEST(second_member_takes_over_without_doubles)
{
    REQUIRE(it_create_topic("rb-1", PARTS) == 0);
    for (int i = 0; i < EVENTS; i++) {
        char v[16], id[32];
        snprintf(v, sizeof(v), "%d", i);
        snprintf(id, sizeof(id), "rb-%d", i);
        it_event_t e = {"rb-1", i % PARTS, v, v, id, "Thing", NULL};
        REQUIRE(it_produce(&e) == 0);
    }
    weir_app *a = it_app("g-rb-1", NULL, 100, NULL);
    weir_app *b = it_app("g-rb-1", NULL, 100, NULL);
    REQUIRE(a && b);
    REQUIRE(weir_app_route(a, "rb-1", NULL, count_event, (void *)0, NULL) == 0);
    REQUIRE(weir_app_route(b, "rb-1", NULL, count_event, (void *)1, NULL) == 0);
    it_runner_t ra, rb_run;
    it_run(&ra, a);
    CHECK(it_wait_finished(a, EVENTS / 8, 30000));
    it_run(&rb_run, b);
    bool done = false;
    for (int i = 0; i < 1500 && !done; i++) {
        pthread_mutex_lock(&rb.lock);
        int total = rb.by_app[0] + rb.by_app[1];
        pthread_mutex_unlock(&rb.lock);
        done = total >= EVENTS;
        if (!done)
            it_sleep_ms(20);
    }
    CHECK(done);
    CHECK_EQ(it_stop(&rb_run), 0);
    CHECK_EQ(it_stop(&ra), 0);
    weir_stats sa, sb;
    weir_app_stats(a, &sa);
    weir_app_stats(b, &sb);
    fprintf(stderr, "  first app handled %d, second %d; rebalances %llu and %llu\n", rb.by_app[0],
            rb.by_app[1], (unsigned long long)sa.rebalances, (unsigned long long)sb.rebalances);
    CHECK(sa.rebalances >= 2); /* it had the whole topic, then a share of it */
    CHECK(rb.by_app[1] > 0);   /* the second app got work */
    int missing = 0, doubled = 0;
    for (int i = 0; i < EVENTS; i++) {
        missing += rb.seen[i] == 0;
        doubled += rb.seen[i] > 1;
    }
    CHECK_EQ(missing, 0);
    CHECK_EQ(doubled, 0);
    for (int p = 0; p < PARTS; p++)
        CHECK_EQ(it_committed("g-rb-1", "rb-1", p), EVENTS / PARTS);
    weir_app_free(b);
    weir_app_free(a);
}

static int sig_calls;

static weir_result count_only(weir_ctx *ctx, const weir_event *ev, void *user)
{
    sig_calls++;
    return WEIR_RESULT_OK;
}

TEST(sigterm_stops_and_commits)
{
    REQUIRE(it_create_topic("sig-1", 1) == 0);
    for (int i = 0; i < 5; i++) {
        it_event_t e = {"sig-1", 0, "k", "{}", NULL, "Thing", NULL};
        REQUIRE(it_produce(&e) == 0);
    }
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    cfg.bootstrap = it_bootstrap;
    cfg.group = "g-sig-1";
    cfg.commit_interval_ms = 3600000; /* only the stop commits */
    cfg.session_timeout_ms = 6000;
    cfg.log = it_quiet_log;
    REQUIRE(cfg.handle_signals);
    weir_app *app;
    char err[256];
    REQUIRE(weir_app_new(&cfg, &app, err, sizeof(err)) == 0);
    REQUIRE(weir_app_route(app, "sig-1", NULL, count_only, NULL, NULL) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 5, 30000));
    /* The signal goes to the process; the app's handler asks weir_app_run() to
     * stop. */
    kill(getpid(), SIGTERM);
    pthread_join(run.thread, NULL);
    CHECK_EQ(run.rc, 0);
    CHECK_EQ(sig_calls, 5);
    CHECK_EQ(it_committed("g-sig-1", "sig-1", 0), 5);
    /* weir_app_run() put the previous disposition back: SIGTERM would kill us
     * again. */
    struct sigaction sa;
    sigaction(SIGTERM, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL);
    weir_app_free(app);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return it_main(argc, argv);
}
