/*
 * bench_storage: the partition log's append throughput beside the disk's own limits, measured by
 * the same program in the same run.
 *
 *   build/bench/bench_storage DIR [--quick] [--reps N] [--secs S] [--only ROW] [--size 16k|1m]
 *                                 [--timeline] [--wait futex|cond]
 *   build/bench/bench_storage DIR --direct [--mib N] [--group-kib K] [--reps N]
 *                                 (O_DIRECT append against the page cache, see direct_main)
 *
 * Batches are Kafka v2 batches of 100-byte records, 16 KiB and 1 MiB. Six rows per size:
 *   write    raw write() loop         one thread, plain write() of batch-sized buffers into one
 *                                     file (page cache, no sync)
 *   nf       log append, no flush     one thread, storage_log_append, nothing waits for the disk
 *   sync1    raw write+fdatasync x1   ONE thread: write() one batch, fdatasync, repeat. This is
 *                                     "one fdatasync per append", the baseline: the
 *                                     group-commit target (>= 5x) is measured against this row
 *   sync8    raw write+fdatasync x8   the same 8 threads as group commit, each write()s its
 *                                     batch (under a mutex, so the file stays sequential) and then
 *                                     calls fdatasync itself: still one fdatasync per append, but
 *                                     the kernel may merge concurrent ones (ext4's journal does)
 *   gc       log group commit         8 appender threads, each appends and waits for its batch to
 *                                     be durable (storage_log_on_durable) before the next; the
 *                                     flusher thread syncs
 *   rawgc    raw group commit         the same 8 threads with a bare write() + one syncing thread
 *                                     and no log: what the disk and the scheduler allow without
 *                                     any log logic
 *
 * Each row runs --reps times (3 by default), rows interleaved so drift in this shared machine
 * (its fdatasync latency wanders by 10x within a minute) hits all rows alike; the table gives
 * the median and [min-max]. The sync rows are closed loops measured in steady state: threads
 * start, run for a warm-up that is not counted, then are counted for --secs seconds.
 * --timeline adds, for the group-commit rows, where one cycle's time goes: time in fdatasync,
 * the gap between one sync ending and the next starting, how long a waiter takes to run
 * after its callback fired, and how long its append takes.
 *
 * Between rows the page cache is written back (syncfs, not timed) so one row's writeback does
 * not slow the next.
 */
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { RECORD_BYTES = 100, APPENDERS = 8, REPS_MAX = 15, NROWS = 6 };
enum { ROW_WRITE, ROW_NF, ROW_SYNC1, ROW_SYNC8, ROW_GC, ROW_RAWGC };
static const char *row_keys[NROWS] = {"write", "nf", "sync1", "sync8", "gc", "rawgc"};

static const char *base_dir;
static double warm_secs, run_secs;
static bool timeline;
static bool wait_cond; /* --wait cond: appenders wait on a mutex + condvar (the bench's old way) */

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_storage: %s: %s\n", what, rc < 0 ? weir_strerror(rc) : strerror(rc));
    exit(2);
}

/* A batch of 100-byte records close to `target` bytes. */
static void make_batch(buf_t *b, size_t target)
{
    size_t n = target / (RECORD_BYTES + 8);
    storage_record_in_t *recs = weir_calloc(n, sizeof(*recs));
    uint8_t *vals = weir_malloc(n * RECORD_BYTES);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n * RECORD_BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        vals[i] = (uint8_t)x;
    }
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < n; i++) {
        recs[i].key_len = -1;
        recs[i].value = vals + i * RECORD_BYTES;
        recs[i].value_len = RECORD_BYTES;
        recs[i].timestamp = now;
    }
    storage_batch_build(b, recs, n, NULL);
    free(recs);
    free(vals);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fresh_dir(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/bench-storage-%s", base_dir, name);
    nftw(out, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (mkdir(out, 0755) != 0)
        die(out, errno);
}

/* Writes the page cache back (not timed) and removes the row's directory. */
static void settle_and_remove(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_all(int fd, const buf_t *b)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->data + off, b->len - off);
        if (w < 0)
            die("write", errno);
        off += (size_t)w;
    }
}

typedef struct {
    double secs;
    uint64_t batches;
    uint64_t bytes;
    uint64_t syncs;
} result_t;

static double mbps(const result_t *r)
{
    return r->secs > 0 ? (double)r->bytes / r->secs / 1e6 : 0;
}

static double bps(const result_t *r)
{
    return r->secs > 0 ? (double)r->batches / r->secs : 0;
}

/* ---- counting fdatasync (and the timeline of syncs) --------------------------------------- */

enum { TL_SYNCS_MAX = 1 << 18, TL_EVENTS_MAX = 1 << 17 };

typedef struct {
    int64_t start_ns, end_ns;
} span_t;

static atomic_ulong fdatasyncs;
static atomic_bool tl_on;
static span_t *tl_syncs;
static atomic_size_t tl_nsyncs;

static int timed_fdatasync(int fd)
{
    int64_t t0 = clock_mono_ns();
    int rc = fdatasync(fd);
    atomic_fetch_add_explicit(&fdatasyncs, 1, memory_order_relaxed);
    if (atomic_load_explicit(&tl_on, memory_order_relaxed)) {
        size_t i = atomic_fetch_add(&tl_nsyncs, 1);
        if (i < TL_SYNCS_MAX)
            tl_syncs[i] = (span_t){t0, clock_mono_ns()};
    }
    return rc;
}

/* ---- closed-loop rows: warm up, then count for run_secs ----------------------------------- */

typedef struct {
    atomic_bool stop;
    atomic_ulong batches; /* summed over the threads */
} loop_t;

/* Lets `threads` run (they count into l->batches and stop at l->stop), and measures their
 * rate in steady state: the warm-up and the stopping are not counted. */
static result_t loop_measure(loop_t *l, size_t bytes_per_batch)
{
    struct timespec w = {(time_t)warm_secs, (long)((warm_secs - (time_t)warm_secs) * 1e9)};
    nanosleep(&w, NULL);
    uint64_t b0 = atomic_load(&l->batches);
    unsigned long s0 = atomic_load(&fdatasyncs);
    int64_t t0 = clock_mono_ns();
    if (timeline) {
        atomic_store(&tl_nsyncs, 0);
        atomic_store(&tl_on, true);
    }
    struct timespec r = {(time_t)run_secs, (long)((run_secs - (time_t)run_secs) * 1e9)};
    nanosleep(&r, NULL);
    atomic_store(&tl_on, false);
    result_t res = {0};
    res.batches = atomic_load(&l->batches) - b0;
    res.syncs = atomic_load(&fdatasyncs) - s0;
    res.secs = (double)(clock_mono_ns() - t0) / 1e9;
    res.bytes = res.batches * bytes_per_batch;
    atomic_store(&l->stop, true);
    return res;
}

/* ---- raw disk ------------------------------------------------------------------------------ */

static result_t raw_write(const buf_t *b, uint64_t total)
{
    char dir[512], path[600];
    fresh_dir(dir, sizeof(dir), "raw");
    snprintf(path, sizeof(path), "%s/raw.bin", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0)
        die(path, errno);
    result_t r = {0};
    int64_t t0 = clock_mono_ns();
    while (r.bytes < total) {
        write_all(fd, b);
        r.bytes += b->len;
        r.batches++;
    }
    r.secs = (double)(clock_mono_ns() - t0) / 1e9;
    close(fd);
    settle_and_remove(dir);
    return r;
}

/* One fdatasync per append, by `nthreads` threads on one file. */
typedef struct {
    loop_t loop;
    int fd;
    const buf_t *b;
    pthread_mutex_t mu; /* write() order = file order, as in a log */
} rawsync_t;

static void *rawsync_thread(void *arg)
{
    rawsync_t *g = arg;
    while (!atomic_load_explicit(&g->loop.stop, memory_order_relaxed)) {
        pthread_mutex_lock(&g->mu);
        write_all(g->fd, g->b);
        pthread_mutex_unlock(&g->mu);
        if (timed_fdatasync(g->fd) != 0)
            die("fdatasync", errno);
        atomic_fetch_add_explicit(&g->loop.batches, 1, memory_order_relaxed);
    }
    return NULL;
}

static result_t raw_sync_each(const buf_t *b, int nthreads)
{
    char dir[512], path[600];
    fresh_dir(dir, sizeof(dir), "rawsync");
    snprintf(path, sizeof(path), "%s/raw.bin", dir);
    rawsync_t g = {.b = b};
    g.fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (g.fd < 0)
        die(path, errno);
    pthread_mutex_init(&g.mu, NULL);
    pthread_t t[APPENDERS];
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, rawsync_thread, &g);
    result_t r = loop_measure(&g.loop, b->len);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    close(g.fd);
    pthread_mutex_destroy(&g.mu);
    settle_and_remove(dir);
    return r;
}

/* A bare group commit for comparison: the same 8 threads, each write()s its batch
 * under one mutex and sleeps until a syncing thread's fdatasync covers it. No log, no CRC,
 * no callbacks, no gathering: what the disk and the scheduler allow without any log logic. */
typedef struct {
    loop_t loop;
    int fd;
    const buf_t *b;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    uint64_t written, synced;
    bool syncer_stop;
} rawgc_t;

static void *rawgc_syncer(void *arg)
{
    rawgc_t *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->syncer_stop) {
        while (g->written == g->synced && !g->syncer_stop)
            pthread_cond_wait(&g->work, &g->mu);
        uint64_t w = g->written;
        pthread_mutex_unlock(&g->mu);
        if (timed_fdatasync(g->fd) != 0)
            die("fdatasync", errno);
        pthread_mutex_lock(&g->mu);
        g->synced = w;
        pthread_cond_broadcast(&g->done);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static void *rawgc_appender(void *arg)
{
    rawgc_t *g = arg;
    while (!atomic_load_explicit(&g->loop.stop, memory_order_relaxed)) {
        pthread_mutex_lock(&g->mu);
        write_all(g->fd, g->b);
        uint64_t me = ++g->written;
        pthread_cond_signal(&g->work);
        while (g->synced < me)
            pthread_cond_wait(&g->done, &g->mu);
        pthread_mutex_unlock(&g->mu);
        atomic_fetch_add_explicit(&g->loop.batches, 1, memory_order_relaxed);
    }
    return NULL;
}

static result_t raw_group_commit(const buf_t *b)
{
    char dir[512], path[600];
    fresh_dir(dir, sizeof(dir), "rawgc");
    snprintf(path, sizeof(path), "%s/raw.bin", dir);
    rawgc_t g = {.b = b};
    g.fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (g.fd < 0)
        die(path, errno);
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.work, NULL);
    pthread_cond_init(&g.done, NULL);
    pthread_t syncer, t[APPENDERS];
    pthread_create(&syncer, NULL, rawgc_syncer, &g);
    for (int i = 0; i < APPENDERS; i++)
        pthread_create(&t[i], NULL, rawgc_appender, &g);
    result_t r = loop_measure(&g.loop, b->len);
    for (int i = 0; i < APPENDERS; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_lock(&g.mu);
    g.syncer_stop = true;
    pthread_cond_signal(&g.work);
    pthread_mutex_unlock(&g.mu);
    pthread_join(syncer, NULL);
    close(g.fd);
    pthread_mutex_destroy(&g.mu);
    pthread_cond_destroy(&g.work);
    pthread_cond_destroy(&g.done);
    settle_and_remove(dir);
    return r;
}

/* ---- the log ----------------------------------------------------------------------------- */

/* The real file system, counting (and timing) fdatasyncs: how many batches share one. */
static storage_io_ops_t counting_ops;

static int counting_fdatasync(storage_io_t *io, int fd)
{
    (void)io;
    return timed_fdatasync(fd) == 0 ? 0 : -WEIR_EIO;
}

static storage_io_t *counting_io(void)
{
    static storage_io_t io;
    counting_ops = *storage_io_real()->ops;
    counting_ops.fdatasync = counting_fdatasync;
    io.ops = &counting_ops;
    return &io;
}

static storage_log_t *open_log(const char *name, char *dir, size_t cap)
{
    fresh_dir(dir, cap, name);
    char pdir[600];
    snprintf(pdir, sizeof(pdir), "%s/bench-0", dir);
    storage_log_config_t cfg;
    storage_log_config_default(&cfg);
    storage_log_t *log;
    int rc = storage_log_open(counting_io(), pdir, &cfg, &log);
    if (rc)
        die("storage_log_open", rc);
    return log;
}

static result_t log_no_flush(const buf_t *b, uint64_t total)
{
    char dir[512];
    storage_log_t *log = open_log("nf", dir, sizeof(dir));
    uint8_t *batch = weir_malloc(b->len);
    memcpy(batch, b->data, b->len);
    result_t r = {0};
    int64_t t0 = clock_mono_ns();
    while (r.bytes < total) {
        int64_t base;
        int rc = storage_log_append(log, batch, b->len, &base);
        if (rc)
            die("append", rc);
        r.bytes += b->len;
        r.batches++;
    }
    r.secs = (double)(clock_mono_ns() - t0) / 1e9;
    free(batch);
    storage_log_abandon(log); /* the close's flush is not part of the measurement */
    settle_and_remove(dir);
    return r;
}

/* One appender: appends, registers for durability, sleeps until the callback says so. The
 * callback (on the flusher thread) only stores the result and wakes this thread's futex: no
 * mutex the two would pass back and forth. Timeline events: when the callback fired, when this
 * thread ran again, when its next append returned. */
typedef struct {
    storage_log_t *log;
    const buf_t *b;
    loop_t *loop;
    _Atomic uint32_t state; /* 0 waiting, 1 done */
    atomic_int err;
    pthread_mutex_t mu; /* --wait cond only: the old way, a mutex and condvar per appender */
    pthread_cond_t cv;
    int64_t *ev; /* timeline: triples (fired, running, appended) */
    size_t nev;
    _Atomic int64_t fired_ns;
} appender_t;

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void appender_durable(void *arg, int err)
{
    appender_t *a = arg;
    if (timeline)
        atomic_store_explicit(&a->fired_ns, clock_mono_ns(), memory_order_relaxed);
    atomic_store_explicit(&a->err, err, memory_order_relaxed);
    if (wait_cond) {
        pthread_mutex_lock(&a->mu);
        atomic_store_explicit(&a->state, 1, memory_order_release);
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        return;
    }
    atomic_store_explicit(&a->state, 1, memory_order_release);
    futex_wake(&a->state);
}

static void appender_wait(appender_t *a)
{
    if (wait_cond) {
        pthread_mutex_lock(&a->mu);
        while (atomic_load_explicit(&a->state, memory_order_acquire) == 0)
            pthread_cond_wait(&a->cv, &a->mu);
        pthread_mutex_unlock(&a->mu);
        return;
    }
    while (atomic_load_explicit(&a->state, memory_order_acquire) == 0)
        futex_wait(&a->state, 0);
}

static void *appender_main(void *arg)
{
    appender_t *a = arg;
    uint8_t *batch = weir_malloc(a->b->len);
    memcpy(batch, a->b->data, a->b->len);
    int32_t delta = (int32_t)be32_read(batch + BATCH_LAST_OFFSET_DELTA);
    int64_t running_ns = 0;
    while (!atomic_load_explicit(&a->loop->stop, memory_order_relaxed)) {
        int64_t base;
        int rc = storage_log_append(a->log, batch, a->b->len, &base);
        if (rc)
            die("append", rc);
        if (running_ns && atomic_load_explicit(&tl_on, memory_order_relaxed) &&
            a->nev + 3 <= TL_EVENTS_MAX) {
            a->ev[a->nev++] = atomic_load_explicit(&a->fired_ns, memory_order_relaxed);
            a->ev[a->nev++] = running_ns;
            a->ev[a->nev++] = clock_mono_ns();
        }
        atomic_store_explicit(&a->state, 0, memory_order_relaxed);
        storage_log_on_durable(a->log, base + delta + 1, appender_durable, a);
        appender_wait(a);
        if (timeline)
            running_ns = clock_mono_ns();
        if (atomic_load_explicit(&a->err, memory_order_relaxed))
            die("durability", atomic_load(&a->err));
        atomic_fetch_add_explicit(&a->loop->batches, 1, memory_order_relaxed);
    }
    free(batch);
    return NULL;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* Median and 90th percentile of v[0..n) in microseconds (sorts v). */
static void pct_us(int64_t *v, size_t n, double *p50, double *p90)
{
    *p50 = *p90 = 0;
    if (n == 0)
        return;
    qsort(v, n, sizeof(*v), cmp_i64);
    *p50 = (double)v[n / 2] / 1e3;
    *p90 = (double)v[n * 9 / 10] / 1e3;
}

/* Where one group-commit cycle's time goes, from the syncs' spans and the appenders' events. */
static void timeline_print(const char *what, appender_t *a, int n)
{
    size_t ns = WEIR_MIN(atomic_load(&tl_nsyncs), (size_t)TL_SYNCS_MAX);
    if (ns < 2)
        return;
    int64_t *sync = weir_malloc(ns * sizeof(*sync)), *gap = weir_malloc(ns * sizeof(*gap));
    double total_sync = 0, total_gap = 0;
    for (size_t i = 0; i < ns; i++) {
        sync[i] = tl_syncs[i].end_ns - tl_syncs[i].start_ns;
        total_sync += (double)sync[i];
        if (i + 1 < ns) {
            gap[i] = tl_syncs[i + 1].start_ns - tl_syncs[i].end_ns;
            total_gap += (double)gap[i];
        }
    }
    size_t nev = 0;
    for (int i = 0; i < n; i++)
        nev += a[i].nev / 3;
    int64_t *fire = weir_malloc((nev + 1) * sizeof(*fire));
    int64_t *wake = weir_malloc((nev + 1) * sizeof(*wake));
    int64_t *app = weir_malloc((nev + 1) * sizeof(*app));
    size_t k = 0, kf = 0;
    for (int i = 0; i < n; i++)
        for (size_t e = 0; e + 2 < a[i].nev; e += 3, k++) {
            int64_t fired = a[i].ev[e], running = a[i].ev[e + 1], appended = a[i].ev[e + 2];
            wake[k] = running - fired;
            app[k] = appended - running;
            /* the sync whose end released it: the last one that ended before it fired */
            size_t lo = 0, hi = ns;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (tl_syncs[mid].end_ns <= fired)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo > 0)
                fire[kf++] = fired - tl_syncs[lo - 1].end_ns;
        }
    /* Per gap between two syncs: when the last callback fired, when the last append landed,
     * and how long the flusher then took to start the next sync. */
    int64_t *lastfire = weir_malloc(ns * sizeof(int64_t)),
            *lastapp = weir_malloc(ns * sizeof(int64_t));
    int64_t *react = weir_malloc(ns * sizeof(int64_t)),
            *firstapp = weir_malloc(ns * sizeof(int64_t));
    size_t ng = 0;
    for (size_t i = 0; i + 1 < ns; i++) {
        int64_t e = tl_syncs[i].end_ns, st = tl_syncs[i + 1].start_ns, lf = 0, la = 0;
        int64_t fa = INT64_MAX;
        for (int j = 0; j < n; j++)
            for (size_t q = 0; q + 2 < a[j].nev; q += 3) {
                if (a[j].ev[q] > e && a[j].ev[q] < st && a[j].ev[q] > lf)
                    lf = a[j].ev[q];
                if (a[j].ev[q + 2] > e && a[j].ev[q + 2] < st && a[j].ev[q + 2] > la)
                    la = a[j].ev[q + 2];
                if (a[j].ev[q + 2] > e && a[j].ev[q + 2] < st && a[j].ev[q + 2] < fa)
                    fa = a[j].ev[q + 2];
            }
        if (lf && la) {
            lastfire[ng] = lf - e;
            lastapp[ng] = la - e;
            firstapp[ng] = fa - e;
            react[ng++] = st - la;
        }
        if (i > 2000)
            break; /* quadratic: a sample is enough */
    }
    double lf50, lf90, la50, la90, r50, r90, fa50, fa90;
    pct_us(firstapp, ng, &fa50, &fa90);
    pct_us(lastfire, ng, &lf50, &lf90);
    pct_us(lastapp, ng, &la50, &la90);
    pct_us(react, ng, &r50, &r90);
    free(lastfire);
    free(lastapp);
    free(react);
    free(firstapp);
    double s50, s90, g50, g90, f50, f90, w50, w90, a50, a90;
    pct_us(sync, ns, &s50, &s90);
    pct_us(gap, ns - 1, &g50, &g90);
    pct_us(fire, kf, &f50, &f90);
    pct_us(wake, k, &w50, &w90);
    pct_us(app, k, &a50, &a90);
    printf("  timeline %s: %zu syncs; disk busy %.0f%% of the time (in fdatasync %.0f us/sync, "
           "between syncs %.0f us)\n",
           what, ns, 100.0 * total_sync / (total_sync + total_gap), total_sync / (double)ns / 1e3,
           total_gap / (double)(ns - 1) / 1e3);
    printf("    fdatasync p50 %.0f p90 %.0f us | sync end -> next sync start p50 %.0f p90 %.0f us"
           " | sync end -> callback p50 %.0f p90 %.0f us | callback -> waiter runs p50 %.0f "
           "p90 %.0f us | waiter runs -> append done p50 %.0f p90 %.0f us\n",
           s50, s90, g50, g90, f50, f90, w50, w90, a50, a90);
    printf("    within a gap: last callback fired p50 %.0f p90 %.0f us after the sync ended; first "
           "append done p50 %.0f p90 %.0f us after, last p50 %.0f p90 %.0f us after; next sync "
           "started p50 %.0f p90 %.0f us after that last append\n",
           lf50, lf90, fa50, fa90, la50, la90, r50, r90);
    free(sync);
    free(gap);
    free(fire);
    free(wake);
    free(app);
}

static result_t log_group_commit(const buf_t *b)
{
    char dir[512];
    storage_log_t *log = open_log("gc", dir, sizeof(dir));
    storage_flusher_t *f;
    int rc = storage_flusher_start(&f, 1000);
    if (rc)
        die("flusher", rc);
    storage_flusher_attach(f, log);
    loop_t loop = {0};
    appender_t a[APPENDERS];
    pthread_t t[APPENDERS];
    for (int i = 0; i < APPENDERS; i++) {
        a[i] = (appender_t){.log = log, .b = b, .loop = &loop};
        pthread_mutex_init(&a[i].mu, NULL);
        pthread_cond_init(&a[i].cv, NULL);
        if (timeline)
            a[i].ev = weir_malloc(TL_EVENTS_MAX * sizeof(int64_t));
        pthread_create(&t[i], NULL, appender_main, &a[i]);
    }
    result_t r = loop_measure(&loop, b->len);
    for (int i = 0; i < APPENDERS; i++)
        pthread_join(t[i], NULL);
    if (timeline)
        timeline_print(b->len >= (1u << 20) ? "log gc 1 MiB" : "log gc 16 KiB", a, APPENDERS);
    for (int i = 0; i < APPENDERS; i++) {
        free(a[i].ev);
        pthread_mutex_destroy(&a[i].mu);
        pthread_cond_destroy(&a[i].cv);
    }
    storage_flusher_detach(f, log);
    storage_flusher_stop(f);
    storage_log_close(log);
    settle_and_remove(dir);
    return r;
}

/* ---- the table ----------------------------------------------------------------------------- */

static int cmp_dbl(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The run whose batches/s is the median (runs are sorted by it), and the range. */
typedef struct {
    result_t r[REPS_MAX];
    int n;
} runs_t;

static double runs_median(const runs_t *rs, double (*f)(const result_t *), double *lo, double *hi)
{
    double v[REPS_MAX];
    for (int i = 0; i < rs->n; i++)
        v[i] = f(&rs->r[i]);
    qsort(v, (size_t)rs->n, sizeof(v[0]), cmp_dbl);
    *lo = v[0];
    *hi = v[rs->n - 1];
    return rs->n % 2 ? v[rs->n / 2] : (v[rs->n / 2 - 1] + v[rs->n / 2]) / 2;
}

static const char *size_name(size_t n)
{
    return n >= (1u << 20) ? "1 MiB" : "16 KiB";
}

static void row(const char *what, size_t bsize, const runs_t *rs, const char *vs, const char *extra)
{
    if (rs->n == 0)
        return;
    double mlo, mhi, blo, bhi;
    double m = runs_median(rs, mbps, &mlo, &mhi), b = runs_median(rs, bps, &blo, &bhi);
    printf("| %s | %s | %.0f [%.0f-%.0f] | %.0f [%.0f-%.0f] | %s | %s |\n", what, size_name(bsize),
           m, mlo, mhi, b, blo, bhi, vs, extra ? extra : "");
}

static double med_bps(const runs_t *rs)
{
    double lo, hi;
    return rs->n ? runs_median(rs, bps, &lo, &hi) : 0;
}

static double med_mbps(const runs_t *rs)
{
    double lo, hi;
    return rs->n ? runs_median(rs, mbps, &lo, &hi) : 0;
}

static double batches_per_sync(const runs_t *rs)
{
    uint64_t b = 0, s = 0;
    for (int i = 0; i < rs->n; i++) {
        b += rs->r[i].batches;
        s += rs->r[i].syncs;
    }
    return s ? (double)b / (double)s : 0;
}

/* "4.1x 1-thread; 1.6x 8-thread": a row's median batches/s against the two baselines that
 * ran (a baseline that did not run is left out). */
static void ratio(char *out, size_t cap, const runs_t *r, const runs_t *one, const runs_t *eight)
{
    int n = 0;
    out[0] = 0;
    if (r->n && one->n)
        n = snprintf(out, cap, "%.1fx 1-thread", med_bps(r) / med_bps(one));
    if (r->n && eight && eight->n)
        snprintf(out + n, cap - (size_t)n, "%s%.1fx 8-thread", n ? "; " : "",
                 med_bps(r) / med_bps(eight));
    if (!out[0])
        snprintf(out, cap, "-");
}

static void print_table(const size_t *sizes, int nsizes, const buf_t *batch, runs_t rs[][NROWS])
{
    printf("| workload | batch | MB/s median [min-max] | batches/s median [min-max] | compared "
           "with | notes |\n");
    printf("|---|---|---:|---:|---|---|\n");
    for (int s = 0; s < nsizes; s++) {
        runs_t *r = rs[s];
        char vs[160], extra[200];
        size_t sz = batch[s].len;
        (void)sizes;
        row("raw write() loop", sz, &r[ROW_WRITE], "-", "1 thread, page cache, no sync");
        snprintf(vs, sizeof(vs), "%.0f%% of raw write",
                 100.0 * med_mbps(&r[ROW_NF]) / med_mbps(&r[ROW_WRITE]));
        row("log append, no flush", sz, &r[ROW_NF], r[ROW_WRITE].n ? vs : "-",
            "1 thread; validates header + CRC per batch");
        snprintf(extra, sizeof(extra),
                 "1 thread: write() then fdatasync() for every batch; "
                 "%.3f ms per batch",
                 med_bps(&r[ROW_SYNC1]) > 0 ? 1000.0 / med_bps(&r[ROW_SYNC1]) : 0);
        row("raw write+fdatasync per batch, 1 thread", sz, &r[ROW_SYNC1], "baseline", extra);
        ratio(vs, sizeof(vs), &r[ROW_SYNC8], &r[ROW_SYNC1], NULL);
        row("raw write+fdatasync per batch, 8 threads", sz, &r[ROW_SYNC8],
            r[ROW_SYNC1].n ? vs : "-",
            "each thread write()s (under a mutex) then fdatasyncs its own batch; the kernel may "
            "merge concurrent syncs");
        ratio(vs, sizeof(vs), &r[ROW_GC], &r[ROW_SYNC1], &r[ROW_SYNC8]);
        snprintf(extra, sizeof(extra),
                 "%d appenders, each waits for durability before its next append; %.1f batches "
                 "per fdatasync",
                 APPENDERS, batches_per_sync(&r[ROW_GC]));
        row("log group commit", sz, &r[ROW_GC], vs, extra);
        ratio(vs, sizeof(vs), &r[ROW_RAWGC], &r[ROW_SYNC1], &r[ROW_SYNC8]);
        snprintf(extra, sizeof(extra),
                 "same 8 threads: write() + one syncing thread, no log; %.1f batches per "
                 "fdatasync",
                 batches_per_sync(&r[ROW_RAWGC]));
        row("raw group commit, no log", sz, &r[ROW_RAWGC], vs, extra);
    }
}

/* ---- --direct: an O_DIRECT append path against the page cache (issue 17, item 2) ------------
 * A prototype of the log's write path as Redpanda does it, measured beside the page-cache path
 * on the same disk in the same run, at steady state (--mib MiB per run, far more than one
 * group): 1 KiB-record batches are appended in groups of --group-kib, each group made durable
 * before the next (what acks=-1 traffic at full speed does). Rows:
 *   pc-sync   write() of the group, fdatasync          (the broker's path today)
 *   direct    the group copied into an aligned staging buffer and written with O_DIRECT as the
 *             4 KiB blocks that cover it, the partial last block padded with zeros (and written
 *             again, whole, by the next group), then fdatasync (the device's cache flush)
 *   pc-nosync write() only, one fdatasync at the end  (acks=1: what writeback allows)
 * Each file is preallocated (fallocate) to the run's size, as the log preallocates, so neither
 * path pays for growing the file. Rows alternate, --reps times. */
enum { DIRECT_BLOCK = 4096 };

static int64_t direct_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pwrite_all(int fd, const uint8_t *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0)
            die("pwrite", errno);
        p += w;
        n -= (size_t)w;
        off += w;
    }
}

/* One run of one row; returns MB/s of log bytes made durable. */
static double direct_run(const char *row_name, const uint8_t *src, size_t src_len, size_t group,
                         uint64_t total)
{
    bool direct = strcmp(row_name, "direct") == 0, nosync = strcmp(row_name, "pc-nosync") == 0;
    char path[512];
    snprintf(path, sizeof(path), "%s/bench-storage-direct.%s", base_dir, row_name);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0)
        die(path, errno);
    if (fallocate(fd, 0, 0, (off_t)(total + group + DIRECT_BLOCK)) != 0)
        die("fallocate", errno);
    fsync(fd);
    uint8_t *stage = NULL;
    if (direct && posix_memalign((void **)&stage, DIRECT_BLOCK, group + 2 * DIRECT_BLOCK) != 0)
        die("posix_memalign", ENOMEM);
    size_t held = 0;     /* direct: bytes in stage, from file offset stage_off */
    off_t stage_off = 0; /* direct: block-aligned */
    uint64_t done = 0, src_at = 0;
    int64_t t0 = direct_now_ns();
    while (done < total) {
        /* The group: the next `group` bytes of the repeated batch stream. */
        size_t n = (size_t)(total - done < group ? total - done : group);
        for (size_t k = 0; k < n;) {
            size_t chunk = src_len - src_at < n - k ? src_len - src_at : n - k;
            if (direct)
                memcpy(stage + held + k, src + src_at, chunk);
            else
                pwrite_all(fd, src + src_at, chunk, (off_t)(done + k));
            k += chunk;
            src_at = (src_at + chunk) % src_len;
        }
        if (direct) {
            held += n;
            size_t len = (held + DIRECT_BLOCK - 1) / DIRECT_BLOCK * DIRECT_BLOCK;
            memset(stage + held, 0, len - held);
            pwrite_all(fd, stage, len, stage_off);
            size_t keep_from = held / DIRECT_BLOCK * DIRECT_BLOCK;
            memmove(stage, stage + keep_from, held - keep_from);
            held -= keep_from;
            stage_off += (off_t)keep_from;
        }
        if (!nosync && fdatasync(fd) != 0)
            die("fdatasync", errno);
        done += n;
    }
    if (nosync && fdatasync(fd) != 0)
        die("fdatasync", errno);
    double secs = (double)(direct_now_ns() - t0) / 1e9;
    close(fd);
    free(stage);
    unlink(path);
    return (double)total / secs / 1e6;
}

static int direct_main(uint64_t total, size_t group, int reps)
{
    static const char *const rows[] = {"pc-sync", "direct", "pc-nosync"};
    enum { NDIRECT = 3 };
    buf_t batch;
    buf_init(&batch);
    make_batch(&batch, 1u << 20);
    double mbs[NDIRECT][REPS_MAX];
    for (int rep = 0; rep < reps; rep++)
        for (int r = 0; r < NDIRECT; r++) {
            mbs[r][rep] = direct_run(rows[r], batch.data, batch.len, group, total);
            int dfd = open(base_dir, O_RDONLY | O_DIRECTORY); /* writeback of one row, untimed */
            if (dfd >= 0) {
                syncfs(dfd);
                close(dfd);
            }
        }
    printf("O_DIRECT append against the page cache, %s: %d runs of %" PRIu64
           " MiB per row, groups of %zu KiB made durable one after another.\n\n",
           base_dir, reps, total >> 20, group >> 10);
    printf("| row | MB/s median [min-max] | vs pc-sync |\n|---|---|---|\n");
    double pc = 0;
    for (int r = 0; r < NDIRECT; r++) {
        qsort(mbs[r], (size_t)reps, sizeof(double), cmp_dbl);
        double med = mbs[r][reps / 2];
        if (r == 0)
            pc = med;
        printf("| %s | %.0f [%.0f-%.0f] | %.2fx |\n", rows[r], med, mbs[r][0], mbs[r][reps - 1],
               med / pc);
    }
    buf_deinit(&batch);
    return 0;
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: bench_storage DIR [--quick] [--reps N] [--secs S] [--only "
        "write|nf|sync1|sync8|gc|rawgc[,...]] [--size 16k|1m] [--timeline] [--wait futex|cond]\n"
        "       bench_storage DIR --direct [--mib N] [--group-kib K] [--reps N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    bool quick = false, want[NROWS], direct = false;
    int reps = 3, want_size = -1, direct_mib = 1024, group_kib = 256;
    double secs = -1;
    for (int i = 0; i < NROWS; i++)
        want[i] = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (strcmp(argv[i], "--timeline") == 0) {
            timeline = true;
        } else if (strcmp(argv[i], "--direct") == 0) {
            direct = true;
        } else if (strcmp(argv[i], "--mib") == 0 && i + 1 < argc) {
            direct_mib = atoi(argv[++i]);
            if (direct_mib < 1 || direct_mib > (1 << 20))
                usage();
        } else if (strcmp(argv[i], "--group-kib") == 0 && i + 1 < argc) {
            group_kib = atoi(argv[++i]);
            if (group_kib < 4 || group_kib > 65536)
                usage();
        } else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "cond") == 0)
                wait_cond = true;
            else if (strcmp(argv[i], "futex") != 0)
                usage();
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > REPS_MAX)
                usage();
        } else if (strcmp(argv[i], "--secs") == 0 && i + 1 < argc) {
            secs = atof(argv[++i]);
            if (secs <= 0 || secs > 600)
                usage();
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            i++;
            want_size = strcmp(argv[i], "16k") == 0 ? 0 : strcmp(argv[i], "1m") == 0 ? 1 : -2;
            if (want_size == -2)
                usage();
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            char *list = argv[++i];
            for (int r = 0; r < NROWS; r++) {
                want[r] = false;
                for (char *p = list; (p = strstr(p, row_keys[r])) != NULL; p++) {
                    size_t k = strlen(row_keys[r]);
                    if ((p == list || p[-1] == ',') && (p[k] == 0 || p[k] == ','))
                        want[r] = true;
                }
            }
        } else if (!base_dir && argv[i][0] != '-') {
            base_dir = argv[i];
        } else {
            usage();
        }
    }
    if (!base_dir)
        usage();
    log_set_level(LOG_WARN);
    if (direct)
        return direct_main((uint64_t)direct_mib << 20, (size_t)group_kib << 10, reps);
    uint64_t total = quick ? (128ull << 20) : (512ull << 20);
    run_secs = secs > 0 ? secs : quick ? 0.7 : 2.5;
    warm_secs = quick ? 0.15 : 0.3;
    if (timeline)
        tl_syncs = weir_malloc(TL_SYNCS_MAX * sizeof(*tl_syncs));
    size_t sizes[2] = {16u << 10, 1u << 20};
    static runs_t rs[2][NROWS];
    buf_t batch[2];
    for (int s = 0; s < 2; s++) {
        buf_init(&batch[s]);
        make_batch(&batch[s], sizes[s]);
    }
    int64_t t0 = clock_mono_ms();
    for (int s = 0; s < 2; s++) {
        if (want_size >= 0 && want_size != s)
            continue;
        /* Rows alternate within each repetition, so drift in the machine hits them alike. */
        for (int rep = 0; rep < reps; rep++) {
            for (int r = 0; r < NROWS; r++) {
                if (!want[r])
                    continue;
                result_t res;
                switch (r) {
                case ROW_WRITE:
                    res = raw_write(&batch[s], total);
                    break;
                case ROW_NF:
                    res = log_no_flush(&batch[s], total);
                    break;
                case ROW_SYNC1:
                    res = raw_sync_each(&batch[s], 1);
                    break;
                case ROW_SYNC8:
                    res = raw_sync_each(&batch[s], APPENDERS);
                    break;
                case ROW_GC:
                    res = log_group_commit(&batch[s]);
                    break;
                default:
                    res = raw_group_commit(&batch[s]);
                    break;
                }
                rs[s][r].r[rs[s][r].n++] = res;
            }
        }
    }
    printf("Partition log append throughput, %s (%s run, %.0f s; %d runs of each row, sync rows "
           "counted for %.1f s after %.2f s of warm-up). Batches of %d-byte records: %zu B (%d "
           "records) and %zu B (%d records).\n\n",
           base_dir, quick ? "quick" : "full", (double)(clock_mono_ms() - t0) / 1000.0, reps,
           run_secs, warm_secs, RECORD_BYTES, batch[0].len,
           (int)be32_read(batch[0].data + BATCH_RECORD_COUNT), batch[1].len,
           (int)be32_read(batch[1].data + BATCH_RECORD_COUNT));
    print_table(sizes, 2, batch, rs);
    if (rs[1][ROW_NF].n && rs[1][ROW_WRITE].n && rs[0][ROW_GC].n && rs[0][ROW_SYNC1].n) {
        double t1 = 100.0 * med_mbps(&rs[1][ROW_NF]) / med_mbps(&rs[1][ROW_WRITE]);
        double t2 = med_bps(&rs[0][ROW_GC]) / med_bps(&rs[0][ROW_SYNC1]);
        printf("\nTargets: no flush at 1 MiB >= 85%% of raw write: %.1f%% (%s); group commit at "
               "16 KiB >= 5x one fdatasync per append (1 thread): %.1fx (%s; a bare "
               "write+shared-fdatasync group commit gets %.1fx here).\n",
               t1, t1 >= 85 ? "met" : "MISSED", t2, t2 >= 5 ? "met" : "MISSED",
               med_bps(&rs[0][ROW_RAWGC]) / med_bps(&rs[0][ROW_SYNC1]));
    }
    for (int s = 0; s < 2; s++)
        buf_deinit(&batch[s]);
    free(tl_syncs);
    return 0;
}
