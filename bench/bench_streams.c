/* bench_streams: libweir streams against Kafka Streams 4.4, same broker, same topologies.
 *
 * One embedded Weir broker (weir_test_broker_start), pinned to CPU 0; each app runs alone in a
 * process of its own pinned to CPU 1 (taskset), with one processing thread: a libweir streams
 * app (this program with "child" first) or the Kafka Streams app of bench/java/StreamsBench.java
 * (one stream thread, at least once, commits every 100 ms, no record cache, linger 5 ms, the
 * same as libweir's defaults). Over N records of 100 bytes with 100k distinct keys, one
 * partition:
 *   1. count:   records/s through a count per key in tumbling 1-minute windows (every update
 *               produced), from the first record processed to the last;
 *   2. join:    records/s through a join with a table of the 100k keys (100-byte rows);
 *   3. build:   records/s through a running count per key, which fills a changelog of N
 *               records; then restore: a new instance on an empty state dir restores it,
 *               MB/s and records/s (key and value bytes of the changelog records read);
 *   4. latency: records produced at 10k/s with their send time as timestamp, through the
 *               windowed count; p50/p99 of (time the output is read - send time).
 * Figures are printed as a table, not asserted. WEIR_BENCH_QUICK=1: N = 100k and a 3 s latency
 * run (default N = 500k, 10 s); WEIR_BENCH_RECORDS sets N; WEIR_BENCH_ONLY=count,join,restore,
 * latency runs some; WEIR_BENCH_PASSTHROUGH=1 makes libweir's latency topology a plain copy (the
 * floor); WEIR_BENCH_LOG_INFO=1 shows libweir's slow commits. Kafka Streams needs Java and the jars
 * of `make deps` (build/compat/kafka.classpath); without them only libweir runs. */
#include "weir/streams.h"

#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEYS        100000
#define VALUE_BYTES 100
#define LAT_RATE    10000

extern char **environ;

static void unpin_all(void);
static void pin_to_cpu0_threads(void);

static const char *bootstrap;
static char self[1024], top[1024], scratch[512];
static long n_records = 500000;
static int lat_secs = 10, warm_secs = 5;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* This process's CPU time (every thread, user and system), in seconds. */
static double cpu_self_s(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
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
    for (size_t i = 0; kv && kv[i]; i += 2)
        rd_kafka_conf_set(c, kv[i], kv[i + 1], err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        exit(1);
    }
    return rk;
}

/* ---- the libweir side (the child) ------------------------------------------------------------ */

static int join_values(const weir_record *l, const weir_record *r, weir_collector *out, void *u)
{
    char buf[2 * VALUE_BYTES + 2];
    size_t a = l->value_len < VALUE_BYTES ? l->value_len : VALUE_BYTES;
    size_t b = r->value_len < VALUE_BYTES ? r->value_len : VALUE_BYTES;
    memcpy(buf, l->value, a);
    buf[a] = ':';
    memcpy(buf + a + 1, r->value, b);
    return weir_collect_value(out, buf, a + 1 + b);
}

static void child_topology(weir_streams *s, const char *mode, const char *in, const char *out,
                           const char *table)
{
    weir_stream *src = weir_streams_source(s, in, NULL, NULL);
    weir_aggregate_options o;
    if (getenv("WEIR_BENCH_PASSTHROUGH") && strcmp(mode, "latency") == 0) {
        weir_stream_to(src, out); /* the floor: no state */
        return;
    }
    if (strcmp(mode, "join") == 0) {
        weir_streams_table(s, "table", table);
        weir_stream_to(weir_stream_join_table(src, "table", join_values, NULL, false), out);
        return;
    }
    if (strcmp(mode, "count") == 0 || strcmp(mode, "latency") == 0) {
        weir_aggregate_options_init(&o, "count", WEIR_AGG_COUNT);
        o.window = weir_window_tumbling(60000, 0);
    } else {
        weir_aggregate_options_init(&o, "totals", WEIR_AGG_COUNT);
    }
    weir_stream_to(weir_stream_aggregate(src, &o), out);
}

typedef struct {
    weir_streams *s;
    int rc;
} run_t;

static void *run_main(void *arg)
{
    run_t *r = arg;
    r->rc = weir_streams_run(r->s);
    return NULL;
}

static weir_streams_counters counters(weir_streams *s)
{
    weir_streams_counters c;
    weir_streams_stats(s, &c);
    return c;
}

/* child MODE APP_ID STATE_DIR N IN OUT [TABLE]: prints READY, then a RESULT line. */
static int child_main(int argc, char **argv)
{
    if (argc < 8)
        return 2;
    const char *mode = argv[2];
    long n = atol(argv[5]);
    weir_streams_config cfg;
    weir_streams_config_init(&cfg);
    cfg.bootstrap = bootstrap;
    cfg.application_id = argv[3];
    cfg.state_dir = argv[4];
    if (getenv("WEIR_BENCH_LOG_INFO"))
        cfg.log_level = WEIR_LOG_INFO;
    if (getenv("WEIR_BENCH_COMMIT_MS"))
        cfg.commit_interval_ms = atoi(getenv("WEIR_BENCH_COMMIT_MS"));
    weir_streams *s;
    char err[256];
    if (weir_streams_new(&cfg, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "child: %s\n", err);
        return 1;
    }
    child_topology(s, mode, argv[6], argv[7], argc > 8 ? argv[8] : NULL);
    run_t r = {s, 0};
    pthread_t th;
    pthread_create(&th, NULL, run_main, &r);
    while (!weir_streams_ready(s) && counters(s).processed == 0)
        sleep_ms(5);
    printf("READY\n");
    fflush(stdout);
    if (strcmp(mode, "restore") == 0) {
        weir_streams_counters c = counters(s);
        printf("RESULT restored_records=%llu restored_bytes=%llu restore_ms=%llu\n",
               (unsigned long long)c.restored_records, (unsigned long long)c.restored_bytes,
               (unsigned long long)c.restore_ms);
    } else if (strcmp(mode, "latency") != 0) {
        int64_t t0 = 0, t1 = 0;
        double c0 = 0, c1 = 0;
        for (;;) {
            uint64_t p = counters(s).processed;
            if (!t0 && p > 0) {
                t0 = now_ns();
                c0 = cpu_self_s();
            }
            if (p >= (uint64_t)n) {
                t1 = now_ns();
                c1 = cpu_self_s();
                break;
            }
            sleep_ms(5);
        }
        printf("RESULT records=%ld records_per_s=%.0f records_per_cpu_s=%.0f\n", n,
               (double)(n - 1) / ((double)(t1 - t0) / 1e9),
               c1 > c0 ? (double)(n - 1) / (c1 - c0) : -1.0);
    }
    fflush(stdout);
    if (strcmp(mode, "latency") != 0)
        weir_streams_stop(s); /* else SIGTERM stops it */
    pthread_join(th, NULL);
    weir_streams_free(s);
    return r.rc ? 1 : 0;
}

/* ---- running a child ------------------------------------------------------------------------- */

typedef struct {
    pid_t pid;
    FILE *out;
} proc_t;

/* Starts argv, pinned to CPU 1 when asked (and there are two), stdout to a pipe. */
static int proc_start(proc_t *p, char *const *argv, bool pin_it)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char *args[32];
    int n = 0;
    bool pin =
        pin_it && sysconf(_SC_NPROCESSORS_ONLN) >= 2 && access("/usr/bin/taskset", X_OK) == 0;
    if (pin) {
        args[n++] = "/usr/bin/taskset";
        args[n++] = "-c";
        args[n++] = "1";
    }
    for (int i = 0; argv[i] && n < 31; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    int r = posix_spawnp(&p->pid, args[0], &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (r != 0) {
        close(fds[0]);
        return -1;
    }
    p->out = fdopen(fds[0], "r");
    return 0;
}

/* Reads lines until one starts with prefix (copied to line); false at end of output. */
static bool proc_line(proc_t *p, const char *prefix, char *line, size_t len)
{
    while (fgets(line, (int)len, p->out))
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

static int proc_end(proc_t *p, bool term)
{
    if (term)
        kill(p->pid, SIGTERM);
    int st = 0;
    waitpid(p->pid, &st, 0);
    fclose(p->out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double field(const char *line, const char *name)
{
    const char *p = strstr(line, name);
    return p ? atof(p + strlen(name) + 1) : -1;
}

static char java_cp[65536];

/* The argv of a child app: the libweir one or the Kafka Streams one. */
static void app_argv(bool ks, const char *mode, const char *app, const char *dir, long n,
                     const char *in, const char *out, const char *table, char **argv)
{
    static char nbuf[32];
    snprintf(nbuf, sizeof(nbuf), "%ld", n);
    int i = 0;
    if (ks) {
        argv[i++] = "java";
        argv[i++] = "-Xms512m";
        argv[i++] = "-Xmx1g";
        argv[i++] = "-cp";
        argv[i++] = java_cp;
        argv[i++] = "weir.bench.StreamsBench";
        argv[i++] = (char *)bootstrap;
    } else {
        argv[i++] = self;
        argv[i++] = "child";
    }
    argv[i++] = (char *)mode;
    argv[i++] = (char *)app;
    argv[i++] = (char *)dir;
    argv[i++] = nbuf;
    argv[i++] = (char *)in;
    argv[i++] = (char *)out;
    if (table)
        argv[i++] = (char *)table;
    argv[i] = NULL;
}

/* Runs one throughput scenario; returns the RESULT line's field or -1. */
static double run_scenario(bool ks, const char *mode, const char *app, const char *in,
                           const char *out, const char *table, const char *what, char *result,
                           size_t rlen)
{
    char dir[600], *argv[24];
    snprintf(dir, sizeof(dir), "%s/%s", scratch, app);
    mkdir(dir, 0755);
    app_argv(ks, mode, app, dir, n_records, in, out, table, argv);
    proc_t p;
    if (proc_start(&p, argv, true) != 0)
        return -1;
    bool ok = proc_line(&p, "RESULT", result, rlen);
    int rc = proc_end(&p, false);
    fprintf(stderr, "# %s %s: %s", ks ? "kafka-streams" : "libweir", mode, ok ? result : "-\n");
    if (!ok || rc != 0) {
        fprintf(stderr, "# %s %s: failed (exit %d)\n", ks ? "kafka-streams" : "libweir", mode, rc);
        return -1;
    }
    return field(result, what);
}

/* ---- input ----------------------------------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int create_topic(const char *name, bool compact)
{
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL);
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, 1, -1, err, sizeof(err));
    if (compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    int r = ev && !rd_kafka_event_error(ev) ? 0 : -1;
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return r;
}

static void produce(rd_kafka_t *rk, const char *topic, const char *key, const char *value,
                    int64_t ts)
{
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_VALUE((void *)value, VALUE_BYTES),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
    rd_kafka_poll(rk, 0);
}

/* The table (every key once) and N input records (keys at random, times 1 ms apart). */
static void produce_input(void)
{
    const char *kv[] = {
        "linger.ms", "10", "batch.num.messages", "10000", "queue.buffering.max.messages",
        "1000000",   NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, kv);
    char value[VALUE_BYTES + 1], key[16];
    memset(value, 'v', VALUE_BYTES);
    value[VALUE_BYTES] = '\0';
    int64_t base = (wall_ms() / 60000 - 120) * 60000;
    for (int k = 0; k < KEYS; k++) {
        snprintf(key, sizeof(key), "k%05d", k);
        produce(rk, "bs-table", key, value, base);
    }
    for (long i = 0; i < n_records; i++) {
        snprintf(key, sizeof(key), "k%05d", (int)(rng() % KEYS));
        produce(rk, "bs-in", key, value, base + i);
    }
    rd_kafka_flush(rk, 120000);
    rd_kafka_destroy(rk);
}

/* Key and value bytes of every record of a topic (partition 0). */
static long long topic_bytes(const char *topic, long long *records)
{
    const char *kv[] = {"group.id", "bench-streams-reader", "enable.partition.eof", "true", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, kv);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    long long bytes = 0;
    *records = 0;
    int64_t deadline = now_ns() + 60 * 1000000000LL;
    while (now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (!m->err) {
            bytes += (long long)(m->key_len + m->len);
            (*records)++;
        }
        rd_kafka_message_destroy(m);
        if (eof)
            break;
    }
    rd_kafka_destroy(rk);
    return bytes;
}

/* ---- latency --------------------------------------------------------------------------------- */

typedef struct {
    const char *topic;
    int64_t from_ms; /* records sent before this are the warm-up */
    int64_t *lat;
    size_t n, cap;
    atomic_bool stop;
} lat_t;

static void *lat_reader(void *arg)
{
    lat_t *l = arg;
    const char *kv[] = {"group.id", "bench-streams-lat", "fetch.wait.max.ms", "5", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, kv);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(pl, l->topic, 0)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_assign(rk, pl);
    rd_kafka_topic_partition_list_destroy(pl);
    while (!atomic_load(&l->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (!m)
            continue;
        int64_t now = wall_ms(), ts = rd_kafka_message_timestamp(m, NULL);
        if (!m->err && ts >= l->from_ms && l->n < l->cap)
            l->lat[l->n++] = now - ts;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_destroy(rk);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* p50 and p99 in ms, and how many outputs were read of how many sent after the warm-up. */
static bool run_latency(bool ks, double *p50, double *p99, size_t *got, long *sent)
{
    const char *in = ks ? "bs-lat-ks" : "bs-lat-weir";
    char out[64], dir[600], line[512], *argv[24];
    snprintf(out, sizeof(out), "%s-out", in);
    snprintf(dir, sizeof(dir), "%s/%s-app", scratch, in);
    mkdir(dir, 0755);
    app_argv(ks, "latency", ks ? "bs-ks-lat" : "bs-weir-lat", dir, 0, in, out, NULL, argv);
    proc_t p;
    if (proc_start(&p, argv, false) != 0 || !proc_line(&p, "READY", line, sizeof(line))) {
        fprintf(stderr, "# latency: the app did not start\n");
        return false;
    }
    lat_t l = {out, 0, NULL, 0, (size_t)LAT_RATE * (size_t)(lat_secs + warm_secs + 5), false};
    l.lat = malloc(l.cap * sizeof(int64_t));
    l.from_ms = INT64_MAX;
    pthread_t th;
    pthread_create(&th, NULL, lat_reader, &l);
    const char *kv[] = {"linger.ms", "1", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, kv);
    char value[VALUE_BYTES + 1], key[16];
    memset(value, 'v', VALUE_BYTES);
    value[VALUE_BYTES] = '\0';
    sleep_ms(1000); /* the reader assigned, the app fetching */
    /* A warm-up at the same rate first (a JIT compiles, caches fill), then the measured part. */
    int64_t start = now_ns(), start_ms = wall_ms();
    l.from_ms = start_ms + (int64_t)warm_secs * 1000;
    *sent = 0;
    for (long i = 0; i < (long)LAT_RATE * (lat_secs + warm_secs); i++) {
        /* Sleeping, not spinning: the broker shares this CPU. 10 records a millisecond. */
        int64_t due = start + (i / (LAT_RATE / 1000)) * 1000000;
        if (i % (LAT_RATE / 1000) == 0 && now_ns() < due) {
            struct timespec ts = {due / 1000000000, due % 1000000000};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        snprintf(key, sizeof(key), "k%05d", (int)(rng() % KEYS));
        int64_t ts = wall_ms();
        produce(rk, in, key, value, ts);
        *sent += ts >= l.from_ms;
    }
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    sleep_ms(2000);
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    proc_end(&p, true);
    qsort(l.lat, l.n, sizeof(int64_t), cmp_i64);
    *got = l.n;
    *p50 = l.n ? (double)l.lat[l.n / 2] : -1;
    *p99 = l.n ? (double)l.lat[(l.n * 99) / 100] : -1;
    free(l.lat);
    return l.n > 0;
}

/* ---- Kafka Streams ----------------------------------------------------------------------------
 */

static bool java_ready(void)
{
    char cpfile[1200], src[1200], outdir[1200], cls[1400];
    snprintf(cpfile, sizeof(cpfile), "%s/build/compat/kafka.classpath", top);
    snprintf(src, sizeof(src), "%s/bench/java/StreamsBench.java", top);
    snprintf(outdir, sizeof(outdir), "%s/build/bench/java", top);
    snprintf(cls, sizeof(cls), "%s/weir/bench/StreamsBench.class", outdir);
    FILE *f = fopen(cpfile, "r");
    if (!f)
        return false;
    size_t n = fread(java_cp + strlen(outdir) + 1, 1, sizeof(java_cp) - strlen(outdir) - 2, f);
    fclose(f);
    memcpy(java_cp, outdir, strlen(outdir));
    java_cp[strlen(outdir)] = ':';
    java_cp[strlen(outdir) + 1 + n] = '\0';
    char *nl = strchr(java_cp, '\n');
    if (nl)
        *nl = '\0';
    struct stat ss, sc;
    if (stat(src, &ss) != 0)
        return false;
    if (stat(cls, &sc) == 0 && sc.st_mtime >= ss.st_mtime)
        return true;
    mkdir(outdir, 0755);
    char *argv[] = {"javac", "-nowarn", "-d", outdir, "-cp", java_cp + strlen(outdir) + 1,
                    src,     NULL};
    pid_t pid;
    int st;
    if (posix_spawnp(&pid, "javac", NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return false;
    return true;
}

/* ---- the whole run --------------------------------------------------------------------------- */

typedef struct {
    double count, join, build, restore_mb, restore_rec, p50, p99;
    double count_cpu, join_cpu, build_cpu; /* records per CPU-second of the app */
    size_t lat_got;
    long lat_sent;
} results_t;

/* WEIR_BENCH_ONLY=count,join,restore,latency runs some of them (all by default). */
static bool wanted(const char *what)
{
    const char *only = getenv("WEIR_BENCH_ONLY");
    return !only || strstr(only, what) != NULL;
}

/* One throughput scenario into *rate and *cpu (records per CPU-second); line gets its RESULT. */
static void scenario(bool ks, const char *mode, const char *app, const char *table, double *rate,
                     double *cpu, char *line, size_t len)
{
    char out[80];
    snprintf(out, sizeof(out), "%s-out", app);
    *rate = run_scenario(ks, mode, app, "bs-in", out, table, "records_per_s", line, len);
    *cpu = *rate > 0 ? field(line, "records_per_cpu_s") : -1;
}

/* A second instance of the app, on an empty state dir, restores the store the build filled. */
static void restore(bool ks, const char *app, results_t *r)
{
    char dir[600], out[80], line[512], *argv[24];
    snprintf(out, sizeof(out), "%s-out", app);
    snprintf(dir, sizeof(dir), "%s/%s-2", scratch, app);
    mkdir(dir, 0755);
    app_argv(ks, "restore", app, dir, n_records, "bs-in", out, NULL, argv);
    proc_t p;
    if (proc_start(&p, argv, true) != 0)
        return;
    bool ok = proc_line(&p, "RESULT", line, sizeof(line));
    proc_end(&p, false);
    fprintf(stderr, "# %s restore: %s", ks ? "kafka-streams" : "libweir", ok ? line : "-\n");
    double ms = field(line, "restore_ms");
    double recs = field(line, "restored_records");
    double bytes = field(line, "restored_bytes");
    if (ks) { /* Kafka Streams counts records, not bytes: the bytes of its changelog */
        char chg[128];
        long long crecs;
        snprintf(chg, sizeof(chg), "%s-totals-changelog", app);
        bytes = (double)topic_bytes(chg, &crecs);
    }
    if (ok && ms > 0) {
        r->restore_mb = bytes / 1e6 / (ms / 1000);
        r->restore_rec = recs / (ms / 1000);
    }
}

static void run_system(bool ks, results_t *r)
{
    const char *sys = ks ? "ks" : "weir";
    char app[64], line[512];
    memset(r, 0, sizeof(*r));
    r->count = r->join = r->build = r->restore_mb = r->restore_rec = r->p50 = r->p99 = -1;
    r->count_cpu = r->join_cpu = r->build_cpu = -1;
    if (wanted("count")) {
        snprintf(app, sizeof(app), "bs-%s-count", sys);
        scenario(ks, "count", app, NULL, &r->count, &r->count_cpu, line, sizeof(line));
    }
    if (wanted("join")) {
        snprintf(app, sizeof(app), "bs-%s-join", sys);
        scenario(ks, "join", app, "bs-table", &r->join, &r->join_cpu, line, sizeof(line));
    }
    if (wanted("restore")) {
        snprintf(app, sizeof(app), "bs-%s-restore", sys);
        scenario(ks, "build", app, NULL, &r->build, &r->build_cpu, line, sizeof(line));
        if (r->build > 0)
            restore(ks, app, r);
    }
    if (wanted("latency")) {
        unpin_all();
        run_latency(ks, &r->p50, &r->p99, &r->lat_got, &r->lat_sent);
        pin_to_cpu0_threads();
    }
}

static void cell(char *buf, size_t n, double v, int decimals)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.*f", decimals, v);
}

static void ratio(char *buf, size_t n, double a, double b)
{
    if (a <= 0 || b <= 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.2fx", a / b);
}

static void row(const char *what, double w, double k, int decimals)
{
    char a[64], b[64], c[32];
    cell(a, sizeof(a), w, decimals);
    cell(b, sizeof(b), k, decimals);
    ratio(c, sizeof(c), w, k);
    printf("| %s | %s | %s | %s |\n", what, a, b, c);
}

static void report(const results_t *w, const results_t *k, bool have_ks)
{
    printf("\n### libweir streams and Kafka Streams 4.4, one processing thread each\n\n");
    printf("%ld records of %d bytes, %d keys, 1 partition; embedded Weir broker on CPU 0, each "
           "app in turn on CPU 1 (latency runs unpinned);\nat least once, commits every 100 ms, "
           "every update produced (Kafka Streams: cache 0, linger 5 ms). Records/s is wall "
           "time from the first record processed to the last; per CPU-second divides by the "
           "app process's CPU time over the same span (so it does not depend on what else the "
           "machine runs).\n\n",
           n_records, VALUE_BYTES, KEYS);
    printf("| | libweir streams | Kafka Streams | libweir / Kafka Streams |\n|---|---|---|---|\n");
    row("count per key, tumbling 1 min windows: records/s", w->count, k->count, 0);
    row("the same, per CPU-second of the app (all its threads)", w->count_cpu, k->count_cpu, 0);
    row("join with a table of 100k rows: records/s", w->join, k->join, 0);
    row("the same, per CPU-second", w->join_cpu, k->join_cpu, 0);
    row("running count per key (fills the changelog): records/s", w->build, k->build, 0);
    row("the same, per CPU-second", w->build_cpu, k->build_cpu, 0);
    row("restore of that store on an empty state dir: MB/s", w->restore_mb, k->restore_mb, 1);
    row("restore: records/s", w->restore_rec, k->restore_rec, 0);
    char a[64], b[64];
    snprintf(a, sizeof(a), "%.0f / %.0f", w->p50, w->p99);
    snprintf(b, sizeof(b), "%.0f / %.0f", k->p50, k->p99);
    printf("| latency at %d records/s through the windowed count, p50 / p99 ms | %s | %s | "
           "|\n",
           LAT_RATE, w->p50 >= 0 ? a : "-", have_ks && k->p50 >= 0 ? b : "-");
    printf("\nlatency runs: %d s measured after %d s of warm-up at the same rate; outputs read "
           "in time: libweir %zu of %ld, Kafka Streams %zu of %ld. Restore MB/s counts the key and "
           "value bytes of the "
           "changelog records read (libweir keeps counts as decimal text, Kafka Streams as 8-byte "
           "longs).\n",
           lat_secs, warm_secs, w->lat_got, w->lat_sent, k->lat_got, k->lat_sent);
    if (!have_ks)
        printf("\nKafka Streams not run: Java or build/compat/kafka.classpath (make deps) "
               "missing.\n");
}

static bool find_top(void)
{
    snprintf(top, sizeof(top), "%s", self);
    for (int up = 0; up < 6; up++) {
        char *slash = strrchr(top, '/');
        if (!slash)
            return false;
        *slash = '\0';
        char probe[1200];
        snprintf(probe, sizeof(probe), "%s/bench/java/StreamsBench.java", top);
        if (access(probe, R_OK) == 0)
            return true;
    }
    return false;
}

/* Every thread of this process (the broker's) back on every CPU. */
static void unpin_all(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = 0; c < CPU_SETSIZE && c < sysconf(_SC_NPROCESSORS_ONLN); c++)
        CPU_SET(c, &set);
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            sched_setaffinity((pid_t)atoi(e->d_name), sizeof(set), &set);
    if (d)
        closedir(d);
}

static void pin_to_cpu0(void)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

/* The same for every thread already running (after a latency run). */
static void pin_to_cpu0_threads(void)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            sched_setaffinity((pid_t)atoi(e->d_name), sizeof(set), &set);
    if (d)
        closedir(d);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0)
        return 1;
    self[sl] = '\0';
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        bootstrap = getenv("WEIR_BENCH_BOOTSTRAP");
        return bootstrap ? child_main(argc, argv) : 2;
    }
    bool quick = getenv("WEIR_BENCH_QUICK") && strcmp(getenv("WEIR_BENCH_QUICK"), "1") == 0;
    n_records = getenv("WEIR_BENCH_RECORDS") ? atol(getenv("WEIR_BENCH_RECORDS"))
                : quick                      ? 100000
                                             : 500000;
    lat_secs = quick ? 3 : 10;
    warm_secs = quick ? 2 : 5;
    const char *sd = getenv("WEIR_BENCH_DIR");
    if (sd) {
        snprintf(scratch, sizeof(scratch), "%s", sd);
    } else {
        snprintf(scratch, sizeof(scratch), "/tmp/bench-streams-XXXXXX");
        if (!mkdtemp(scratch))
            return 1;
    }
    bool have_top = find_top();
    pin_to_cpu0(); /* the broker's threads, started below, inherit it */
    const char *fast[] = {"group.initial.rebalance.delay.ms=0", NULL};
    weir_test_broker *tb;
    if (weir_test_broker_start(fast, &tb) != 0) {
        fprintf(stderr, "embedded broker did not start\n");
        return 1;
    }
    bootstrap = weir_test_broker_bootstrap(tb);
    setenv("WEIR_BENCH_BOOTSTRAP", bootstrap, 1);
    const char *topics[] = {"bs-in", "bs-lat-weir", "bs-lat-ks", "bs-lat-weir-out",
                            "bs-lat-ks-out"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        create_topic(topics[i], false);
    create_topic("bs-table", true);
    int64_t t0 = now_ns();
    produce_input();
    fprintf(stderr, "# %ld records and %d table rows produced in %.1f s\n", n_records, KEYS,
            (double)(now_ns() - t0) / 1e9);
    bool have_ks = have_top && java_ready();
    results_t w, k = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 0};
    run_system(false, &w);
    if (have_ks)
        run_system(true, &k);
    report(&w, &k, have_ks);
    weir_test_broker_stop(tb);
    if (!sd) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
        if (system(cmd) != 0)
            fprintf(stderr, "# could not remove %s\n", scratch);
    }
    return 0;
}
