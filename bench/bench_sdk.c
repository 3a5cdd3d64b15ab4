/* bench_sdk: what libweir costs over plain librdkafka, and the order flow end to end.
 *
 * In one run, against one embedded broker (weir_test_broker_start), over the same topic of N
 * CloudEvents (4 partitions, 100-byte values):
 *   1. a plain librdkafka consumer loop (subscribe, poll, auto commit), events/s;
 *   2. a libweir app with a no-op handler (target: at least 85% of 1);
 *   3. the same with dedup on (SQLite store; target: at least 50% of 1);
 *   4. the plain loop again, to see the noise between runs;
 * once with librdkafka's default fetch-ahead and (not in quick mode) once with a fetch-ahead
 * so large that librdkafka 2.0 never pauses fetching, to compare the per-event cost alone.
 * Rates are taken from the first event received to the last, so joining the group is not
 * counted. Then the order flow: the three services (build/examples) and order-demo, first as
 * fast as it goes (orders/s until every order is decided), then at a steady rate for the
 * latency from POST to CONFIRMED (p50/p99).
 *
 * Figures are reported, not asserted. Environment: WEIR_BENCH_QUICK=1 for small counts,
 * WEIR_BENCH_EVENTS and WEIR_BENCH_ORDERS to choose, WEIR_BENCH_DIR for scratch files. */
#include "weir/weir.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOPIC       "bench-events"
#define PARTITIONS  4
#define VALUE_BYTES 100

static const char *bootstrap;
static char scratch[256];
static char bindir[512]; /* where this program is: build/bench */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void quiet(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (level <= 3)
        fprintf(stderr, "# rdkafka: %s: %s\n", fac, buf);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *const *kv)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, quiet);
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof(err));
    for (size_t i = 0; kv && kv[i]; i += 2) {
        if (rd_kafka_conf_set(c, kv[i], kv[i + 1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "conf %s: %s\n", kv[i], err);
            exit(1);
        }
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        exit(1);
    }
    return rk;
}

static int create_topic(const char *name, int partitions)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL);
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, -1, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    int rc = ev && !rd_kafka_event_error(ev) ? 0 : -1;
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return rc;
}

/* N CloudEvents with unique ids, spread over the partitions by key: UUIDv7 ids (time-ordered,
 * what libweir emits) or, with v4, fully random ones. */
static double produce_events(const char *topic, long n, bool v4)
{
    const char *kv[] = {
        "linger.ms", "5", "batch.num.messages", "10000", "queue.buffering.max.messages",
        "1000000",   NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, kv);
    char value[VALUE_BYTES + 1];
    memset(value, 'x', VALUE_BYTES);
    value[0] = '{';
    value[VALUE_BYTES - 1] = '}';
    value[VALUE_BYTES] = 0;
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        char id[37], key[16];
        if (v4) {
            static const char hex[] = "0123456789abcdef";
            weir_uuid(id);
            for (int k = 0; k < 36; k++) /* every digit random, then version 4 and variant */
                if (id[k] != '-')
                    id[k] = hex[rand() & 15];
            id[14] = '4';
            id[19] = hex[8 + (rand() & 3)];
        } else {
            weir_uuid(id);
        }
        snprintf(key, sizeof(key), "k%ld", i % 1000);
        rd_kafka_headers_t *h = rd_kafka_headers_new(6);
        rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
        rd_kafka_header_add(h, "ce_id", -1, id, -1);
        rd_kafka_header_add(h, "ce_type", -1, "BenchEvent", -1);
        rd_kafka_header_add(h, "ce_source", -1, "/bench", -1);
        rd_kafka_header_add(h, "content-type", -1, "application/json", -1);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE(value, VALUE_BYTES), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (e) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                exit(1);
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    double secs = (double)(now_ns() - t0) / 1e9;
    rd_kafka_destroy(rk);
    return (double)n / secs;
}

/* ---- 1. plain librdkafka -------------------------------------------------------------------- */

/* The fetch-ahead settings of a comparison; NULL values: librdkafka's defaults. */
static const char *ahead_msgs, *ahead_kb;

static double plain_loop(long n, const char *group)
{
    const char *kv[] = {"group.id",
                        group,
                        "auto.offset.reset",
                        "earliest",
                        "fetch.wait.max.ms",
                        "100",
                        ahead_msgs ? "queued.min.messages" : NULL,
                        ahead_msgs,
                        "queued.max.messages.kbytes",
                        ahead_kb,
                        NULL};
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, kv);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, TOPIC, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    long got = 0;
    int64_t first = 0, last = 0, deadline = now_ns() + 120 * (int64_t)1000000000;
    size_t bytes = 0;
    while (got < n && now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (!first)
                first = now_ns();
            bytes += m->len; /* touch the message like a handler would get it */
            got++;
            last = now_ns();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (got < n) {
        printf("# plain loop: only %ld of %ld events\n", got, n);
        return 0;
    }
    (void)bytes;
    return (double)(n - 1) / ((double)(last - first) / 1e9);
}

/* ---- 2, 3. libweir
 * ------------------------------------------------------------------------------- */

static _Atomic int64_t sdk_first_ns;

static weir_result noop(weir_ctx *ctx, const weir_event *ev, void *user)
{
    int64_t zero = 0;
    if (atomic_load_explicit(&sdk_first_ns, memory_order_relaxed) == 0)
        atomic_compare_exchange_strong(&sdk_first_ns, &zero, now_ns());
    return WEIR_RESULT_OK;
}

static void sdk_log(int level, const char *msg, void *user)
{
    fprintf(stderr, "# sdk: %s\n", msg);
}

typedef struct {
    weir_app *app;
    int rc;
} runner_t;

static void *run_main(void *arg)
{
    runner_t *r = arg;
    r->rc = weir_app_run(r->app);
    return NULL;
}

static double sdk_run(const char *topic, long n, const char *group, const char *db_path,
                      weir_stats *out)
{
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    cfg.bootstrap = bootstrap;
    cfg.group = group;
    cfg.db_path = db_path;
    cfg.handle_signals = false;
    cfg.batch_max = 256;
    cfg.log = sdk_log;
    char s1[64], s2[64];
    const char *settings[3] = {NULL};
    if (ahead_msgs) {
        snprintf(s1, sizeof(s1), "consumer.queued.min.messages=%s", ahead_msgs);
        snprintf(s2, sizeof(s2), "consumer.queued.max.messages.kbytes=%s", ahead_kb);
        settings[0] = s1;
        settings[1] = s2;
        cfg.settings = settings;
    }
    weir_app *app;
    char err[256];
    if (weir_app_new(&cfg, &app, err, sizeof(err)) != 0) {
        printf("# weir_app_new: %s\n", err);
        return 0;
    }
    weir_app_route(app, topic, NULL, noop, NULL, NULL);
    atomic_store(&sdk_first_ns, 0);
    runner_t r = {app, 0};
    pthread_t th;
    pthread_create(&th, NULL, run_main, &r);
    weir_stats s;
    int64_t deadline = now_ns() + 120 * (int64_t)1000000000, last = 0;
    for (;;) {
        weir_app_stats(app, &s);
        if (s.handled + s.deduplicated >= (uint64_t)n) {
            last = now_ns();
            break;
        }
        if (now_ns() > deadline)
            break;
        struct timespec ts = {0, 200000}; /* 0.2 ms: the end time's resolution */
        nanosleep(&ts, NULL);
    }
    weir_app_stop(app);
    pthread_join(th, NULL);
    weir_app_stats(app, out);
    weir_app_free(app);
    if (!last) {
        printf("# %s: only %llu of %ld events\n", group, (unsigned long long)s.handled, n);
        return 0;
    }
    return (double)(n - 1) / ((double)(last - atomic_load(&sdk_first_ns)) / 1e9);
}

/* ---- 4. the order flow
 * --------------------------------------------------------------------------- */

static pid_t spawn(char *const argv[], const char *out_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(out_path, "w", stdout);
        FILE *g = freopen(out_path, "a", stderr);
        (void)f;
        (void)g;
        if (chdir(scratch) != 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int wait_line(const char *path, const char *prefix, char *out, size_t outlen, int ms)
{
    for (int waited = 0; waited < ms; waited += 50) {
        FILE *f = fopen(path, "r");
        char line[512];
        while (f && fgets(line, sizeof(line), f)) {
            if (strncmp(line, prefix, strlen(prefix)) == 0) {
                snprintf(out, outlen, "%s", line + strlen(prefix));
                out[strcspn(out, "\r\n")] = 0;
                fclose(f);
                return 0;
            }
        }
        if (f)
            fclose(f);
        sleep_ms(50);
    }
    return -1;
}

static void stop_pid(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int order_demo(const char *url, const char *rate, long count, char *result, size_t len)
{
    char exe[600], cnt[32], out[300];
    snprintf(exe, sizeof(exe), "%s/../examples/order-demo", bindir);
    snprintf(cnt, sizeof(cnt), "%ld", count);
    snprintf(out, sizeof(out), "%s/demo-%s.out", scratch, rate);
    char *argv[] = {exe,      "--url",      (char *)url, "--bootstrap", (char *)bootstrap,
                    "--rate", (char *)rate, "--count",   cnt,           "--threads",
                    "8",      NULL};
    pid_t pid = spawn(argv, out);
    int status = 0;
    waitpid(pid, &status, 0);
    if (wait_line(out, "done: ", result, len, 100) != 0 &&
        wait_line(out, "NOT DONE: ", result, len, 100) != 0)
        snprintf(result, len, "(no result; see %s)", out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void order_flow(long orders, bool quick)
{
    const char *names[3] = {"inventory-service", "payment-service", "order-service"};
    pid_t pids[3] = {0};
    char url[64] = "";
    for (int i = 0; i < 3; i++) {
        char exe[600], db[300], out[300];
        snprintf(exe, sizeof(exe), "%s/../examples/%s", bindir, names[i]);
        snprintf(db, sizeof(db), "%s/%s.db", scratch, names[i]);
        snprintf(out, sizeof(out), "%s/%s.out", scratch, names[i]);
        if (access(exe, X_OK) != 0) {
            printf("order flow: not run, %s is not built\n", exe);
            goto out;
        }
        char *argv[] = {exe, "--bootstrap", (char *)bootstrap, "--db", db, "--port", "0", NULL};
        if (i < 2)
            argv[5] = NULL; /* --port is order-service's */
        pids[i] = spawn(argv, out);
        if (i == 2 && wait_line(out, "listening on ", url, sizeof(url), 20000) != 0) {
            printf("order flow: order-service did not start (see %s)\n", out);
            goto out;
        }
    }
    char full[80];
    snprintf(full, sizeof(full), "http://%s", url);
    char res[512];
    int rc = order_demo(full, "0", orders, res, sizeof(res));
    printf("order flow, as fast as it goes (%ld orders, 8 concurrent clients): %s%s\n", orders, res,
           rc ? " [order-demo failed]" : "");
    if (!quick) {
        rc = order_demo(full, "100", 1000, res, sizeof(res));
        printf("order flow, steady 100 orders/s (1000 orders): %s%s\n", res,
               rc ? " [order-demo failed]" : "");
    }
out:
    for (int i = 2; i >= 0; i--)
        stop_pid(pids[i]);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    bool quick = getenv("WEIR_BENCH_QUICK") && strcmp(getenv("WEIR_BENCH_QUICK"), "1") == 0;
    long events = quick ? 100000 : 1000000, orders = quick ? 300 : 3000;
    if (getenv("WEIR_BENCH_EVENTS"))
        events = atol(getenv("WEIR_BENCH_EVENTS"));
    if (getenv("WEIR_BENCH_ORDERS"))
        orders = atol(getenv("WEIR_BENCH_ORDERS"));
    const char *dir = getenv("WEIR_BENCH_DIR");
    if (dir && *dir) {
        snprintf(scratch, sizeof(scratch), "%s", dir);
    } else {
        snprintf(scratch, sizeof(scratch), "/tmp/weir-bench-sdk-XXXXXX");
        if (!mkdtemp(scratch)) {
            perror("mkdtemp");
            return 1;
        }
    }
    ssize_t n = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);
    if (n <= 0)
        return 1;
    bindir[n] = 0;
    *strrchr(bindir, '/') = 0;

    weir_test_broker *tb;
    const char *settings[] = {"group.initial.rebalance.delay.ms=0", NULL};
    if (weir_test_broker_start(settings, &tb) != 0 && weir_test_broker_start(NULL, &tb) != 0) {
        printf("embedded broker did not start\n");
        return 1;
    }
    bootstrap = weir_test_broker_bootstrap(tb);
    printf("# libweir benchmark: %ld events of %d bytes with CloudEvents headers, %d partitions, "
           "embedded broker on %s\n",
           events, VALUE_BYTES, PARTITIONS, bootstrap);
    if (create_topic(TOPIC, PARTITIONS) != 0) {
        printf("cannot create the topic\n");
        return 1;
    }
    printf("# produced at %.0f events/s (UUIDv7 ids)\n", produce_events(TOPIC, events, false));

    double plain = 0, sdk = 0, dedup = 0;
    for (int round = 0; round < (quick ? 1 : 2); round++) {
        /* Round 0: librdkafka's defaults. Round 1: a fetch-ahead large enough that librdkafka
         * 2.0 never stops fetching (when its queue is full it waits a whole second before the
         * next fetch), so the comparison is of the per-event cost alone. */
        ahead_msgs = round ? "1000000" : NULL;
        ahead_kb = round ? "1048576" : NULL;
        printf("%s\n", round ? "fetch-ahead 1,000,000 events / 1 GiB (no refill pauses):"
                             : "fetch-ahead: librdkafka defaults (100,000 events / 64 MiB):");
        char g[64];
        snprintf(g, sizeof(g), "bench-plain-a%d", round);
        double plain1 = plain_loop(events, g);
        weir_stats s1, s2;
        snprintf(g, sizeof(g), "bench-sdk-%d", round);
        double r_sdk = sdk_run(TOPIC, events, g, NULL, &s1);
        char db[300];
        snprintf(db, sizeof(db), "%s/bench-dedup-%d.db", scratch, round);
        snprintf(g, sizeof(g), "bench-sdk-dedup-%d", round);
        double r_dedup = sdk_run(TOPIC, events, g, db, &s2);
        snprintf(g, sizeof(g), "bench-plain-b%d", round);
        double plain2 = plain_loop(events, g);
        double r_plain = (plain1 + plain2) / 2;
        printf("  plain librdkafka consumer loop: %.0f events/s (runs before and after: %.0f, "
               "%.0f)\n",
               r_plain, plain1, plain2);
        printf("  libweir, no-op handler: %.0f events/s = %.0f%% of plain (target >= 85%%)\n",
               r_sdk, r_plain > 0 ? 100 * r_sdk / r_plain : 0);
        printf("  libweir, no-op handler, dedup on (SQLite): %.0f events/s = %.0f%% of plain "
               "(target >= 50%%)\n",
               r_dedup, r_plain > 0 ? 100 * r_dedup / r_plain : 0);
        printf("# sdk runs handled %llu and %llu events, committed %llu and %llu offsets\n",
               (unsigned long long)s1.handled, (unsigned long long)s2.handled,
               (unsigned long long)s1.offsets_committed, (unsigned long long)s2.offsets_committed);
        if (round == 0) {
            plain = r_plain;
            sdk = r_sdk;
            dedup = r_dedup;
        }
    }

    if (!quick) {
        /* Random (v4) ids: every dedup insert lands on another page of the key index. */
        if (create_topic(TOPIC "-v4", PARTITIONS) == 0) {
            produce_events(TOPIC "-v4", events, true);
            char db[300];
            snprintf(db, sizeof(db), "%s/bench-dedup-v4.db", scratch);
            weir_stats s3;
            ahead_msgs = ahead_kb = NULL;
            double r = sdk_run(TOPIC "-v4", events, "bench-sdk-dedup-v4", db, &s3);
            printf("libweir, dedup on, random UUIDv4 ids instead: %.0f events/s = %.0f%% of plain "
                   "(the store's index grows by random inserts)\n",
                   r, plain > 0 ? 100 * r / plain : 0);
        }
    }
    order_flow(orders, quick);
    printf("RESULT {\"plain_events_per_s\": %.0f, \"sdk_events_per_s\": %.0f, "
           "\"sdk_dedup_events_per_s\": %.0f, \"sdk_ratio\": %.3f, \"dedup_ratio\": %.3f}\n",
           plain, sdk, dedup, plain > 0 ? sdk / plain : 0, plain > 0 ? dedup / plain : 0);
    weir_test_broker_stop(tb);
    return 0;
}
