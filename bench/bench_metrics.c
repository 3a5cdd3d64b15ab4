/*
 * bench_metrics: what the metrics cost on the hot path, measured directly: one counter add
 * (alone, and with two threads adding to the same counter, the worst case of a per-topic
 * counter), one histogram observation, one monotonic clock read, and the whole set a Kafka
 * request pays in the dispatcher (two clock reads, a request counter, a latency observation) and
 * a produce batch pays in the broker (bytes and records of its topic). `make bench` runs it
 * (bench/harness.py runs every bench program) and puts its table in the report; with the
 * request rate of a run it bounds the metrics' share of the broker's CPU.
 *
 *   build/bench/bench_metrics [iterations]      (default 20,000,000; WEIR_BENCH_QUICK=1: 5,000,000)
 */
#include "base/base.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static metric_counter_t shared;
static volatile uint64_t sink;

static double ns_per(int64_t t0, uint64_t n)
{
    return (double)(clock_mono_ns() - t0) / (double)n;
}

static void *adder(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    for (uint64_t i = 0; i < n; i++)
        metric_counter_add(&shared, 1);
    return NULL;
}

static double contended(uint64_t n)
{
    pthread_t t;
    int64_t t0 = clock_mono_ns();
    pthread_create(&t, NULL, adder, &n);
    adder(&n);
    pthread_join(t, NULL);
    return ns_per(t0, n);
}

int main(int argc, char **argv)
{
    const char *q = getenv("WEIR_BENCH_QUICK");
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : q && *q == '1' ? 5000000 : 20000000;
    metric_counter_t c = {0};
    metric_hist_t h;
    metric_hist_init(&h, &metric_buckets_latency);

    int64_t t0 = clock_mono_ns();
    for (uint64_t i = 0; i < n; i++)
        metric_counter_add(&c, 1);
    double add = ns_per(t0, n);
    double add2 = contended(n / 4);
    t0 = clock_mono_ns();
    for (uint64_t i = 0; i < n; i++)
        metric_hist_observe(&h, i * 977 % 30000000);
    double obs = ns_per(t0, n);
    t0 = clock_mono_ns();
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc += (uint64_t)clock_mono_ns();
    sink = acc;
    double clk = ns_per(t0, n);
    t0 = clock_mono_ns();
    for (uint64_t i = 0; i < n; i++) { /* the dispatcher's share of one request */
        int64_t start = clock_mono_ns();
        metric_counter_add(&c, 1);
        metric_hist_observe(&h, (uint64_t)(clock_mono_ns() - start));
    }
    double req = ns_per(t0, n);
    printf("What one instrumentation step costs (ns, %llu iterations):\n\n", (unsigned long long)n);
    printf("| step | ns |\n|---|---:|\n");
    printf("| counter add | %.1f |\n| counter add, 2 threads on one counter | %.1f |\n", add, add2);
    printf("| histogram observation | %.1f |\n| monotonic clock read | %.1f |\n", obs, clk);
    printf("| a request's dispatch metrics (2 clock reads, 1 add, 1 observation) | %.1f |\n", req);
    printf("| a produce batch's topic counters (2 adds) | %.1f |\n", 2 * add2);
    printf("\nAt R requests/s the dispatch metrics take R x %.0f ns of CPU a second: at 100,000 "
           "requests/s, %.2f%% of one core.\n",
           req, 100000 * req / 1e7);
    return metric_counter_get(&c) == 2 * n ? 0 : 1;
}
