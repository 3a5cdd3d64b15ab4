/* bench_saga: libweir's saga orchestrator, sagas completed per second and the duration of one
 * saga (start to COMPLETED, p50/p99), against an embedded broker (weir_test_broker_start).
 *
 * One app is the orchestrator and the participants of a three-step saga (each participant
 * answers its command at once, so what is measured is the orchestrator and the broker: per saga
 * 4 state writes at acks=all, waited for, 3 commands and 3 replies, and one outcome event).
 * A starter keeps WINDOW sagas in flight; the first WINDOW sagas warm up (topic metadata, group
 * join) and are left out of the figures. Figures are reported, not asserted. Environment:
 * WEIR_BENCH_QUICK=1 for a small count, WEIR_BENCH_SAGAS to choose it. */
#include "weir/weir.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WINDOW     64
#define PARTITIONS 4
#define WORKERS    4

static long nsagas;
static int64_t *start_ns, *done_ns;
static atomic_long completed;
static weir_app *app;
static weir_saga *saga;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static weir_result participant(weir_ctx *ctx, const weir_event *ev, void *user)
{
    return weir_saga_reply(ctx, ev, WEIR_SAGA_OK, NULL) == 0 ? WEIR_RESULT_OK : WEIR_RESULT_RETRY;
}

static void on_change(const char *id, const char *status, int step, bool sent, void *user)
{
    if (!sent || strcmp(status, "COMPLETED") != 0)
        return;
    long i = atol(id + 2); /* "s-<i>" */
    if (i >= 0 && i < nsagas && !done_ns[i]) {
        done_ns[i] = now_ns();
        if (atomic_fetch_add(&completed, 1) + 1 == nsagas)
            weir_app_stop(app);
    }
}

static void *starter(void *arg)
{
    char id[32];
    while (!weir_app_ready(app))
        sleep_us(1000);
    for (long i = 0; i < nsagas; i++) {
        while (i - atomic_load(&completed) >= WINDOW)
            sleep_us(200);
        snprintf(id, sizeof(id), "s-%ld", i);
        start_ns[i] = now_ns();
        if (weir_saga_start(saga, id, "{\"amount\":25}") != 0) {
            printf("# saga %s did not start\n", id);
            weir_app_stop(app);
            return NULL;
        }
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int app_setup(const char *bootstrap)
{
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    cfg.bootstrap = bootstrap;
    cfg.group = "bench-saga";
    cfg.workers = WORKERS;
    cfg.handle_signals = false;
    const char *settings[] = {"producer.linger.ms=1", NULL};
    cfg.settings = settings;
    char err[256];
    if (weir_app_new(&cfg, &app, err, sizeof(err)) != 0) {
        printf("app: %s\n", err);
        return -1;
    }
    static weir_saga_step steps[] = {
        {"payment", "bench-payment", "Charge", "Refund", 30000, {0}},
        {"inventory", "bench-inventory", "Reserve", "Release", 30000, {0}},
        {"shipping", "bench-shipping", "Ship", "Unship", 30000, {0}},
    };
    weir_saga_config sc;
    weir_saga_config_init(&sc);
    sc.name = "bench";
    sc.steps = steps;
    sc.nsteps = 3;
    sc.outcome_topic = "bench-outcomes";
    sc.partitions = PARTITIONS;
    sc.on_change = on_change;
    if (weir_saga_new(app, &sc, &saga, err, sizeof(err)) != 0) {
        printf("saga: %s\n", err);
        return -1;
    }
    for (int i = 0; i < 3; i++)
        weir_app_route(app, steps[i].topic, NULL, participant, NULL, NULL);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bool quick = getenv("WEIR_BENCH_QUICK") && strcmp(getenv("WEIR_BENCH_QUICK"), "1") == 0;
    nsagas = getenv("WEIR_BENCH_SAGAS") ? atol(getenv("WEIR_BENCH_SAGAS")) : quick ? 500 : 5000;
    if (nsagas < 1)
        return 2;
    start_ns = calloc((size_t)nsagas, sizeof(int64_t));
    done_ns = calloc((size_t)nsagas, sizeof(int64_t));
    weir_test_broker *tb;
    const char *settings[] = {"group.initial.rebalance.delay.ms=0", NULL};
    if (weir_test_broker_start(settings, &tb) != 0) {
        printf("embedded broker did not start\n");
        return 1;
    }
    printf("# saga benchmark: %ld sagas of 3 steps, %d in flight, %d partitions, %d workers, "
           "embedded broker on %s\n",
           nsagas, WINDOW, PARTITIONS, WORKERS, weir_test_broker_bootstrap(tb));
    if (app_setup(weir_test_broker_bootstrap(tb)) != 0)
        return 1;
    pthread_t t;
    pthread_create(&t, NULL, starter, NULL);
    int rc = weir_app_run(app);
    pthread_join(t, NULL);
    long done = atomic_load(&completed);
    long warm = nsagas > 2 * WINDOW ? WINDOW : 0;
    int64_t first = start_ns[warm], last = 0;
    int64_t *dur = calloc((size_t)nsagas, sizeof(int64_t));
    long nd = 0;
    for (long i = warm; i < nsagas; i++)
        if (done_ns[i]) {
            dur[nd++] = done_ns[i] - start_ns[i];
            last = done_ns[i] > last ? done_ns[i] : last;
        }
    qsort(dur, (size_t)nd, sizeof(int64_t), cmp_i64);
    double secs = (double)(last - first) / 1e9;
    if (nd > 0)
        printf("sagas: %ld of %ld completed; after %ld to warm up, %ld in %.2f s: %.0f sagas/s; "
               "duration p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
               done, nsagas, warm, nd, secs, secs > 0 ? (double)nd / secs : 0.0, dur[nd / 2] / 1e6,
               dur[(nd * 99) / 100 < nd ? (nd * 99) / 100 : nd - 1] / 1e6, dur[nd - 1] / 1e6);
    weir_saga_free(saga);
    weir_app_free(app);
    weir_test_broker_stop(tb);
    free(dur);
    free(start_ns);
    free(done_ns);
    return rc == 0 && done == nsagas ? 0 : 1;
}
