/* Unit tests of the group-commit flusher (src/storage/flusher.c) and the durability callbacks
 * it fires (storage_log_flush_ex, storage_log_on_durable), on real files through an I/O
 * wrapper that watches every write and every fdatasync. What they pin down:
 *   - a callback for an offset fires only after an fdatasync that started after the bytes up
 *     to that offset were written, and succeeded (closed-loop appenders, as in the benchmark);
 *   - a failed fdatasync takes the log offline: no callback reports durability past the last
 *     good sync, every durable callback hears -WEIR_EOFFLINE;
 *   - several logs on one flusher thread all become durable (a gathering log does not stall
 *     the others);
 *   - after a group of producers stops, a lone append is still synced (the thread sleeping
 *     with a gathering deadline armed must not miss it: a lost wake-up would hang here);
 *   - durables share syncs (fewer fdatasyncs than appends);
 *   - appends nobody waits for cost no fdatasync at once: the background pass syncs them
 *     once they have waited the interval, and stopping the flusher syncs what is left;
 *   - a durable callback registered before its data is appended is synced when the append comes;
 *   - a paced producer's appends (open loop: they arrive whatever the syncs do) are not held
 *     back to gather a group: that only added latency (issue 17, tail latency). */
#include "test.h"
#include "test_log_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

enum { RECS = 2, VALUE_BYTES = 100 };

/* ---- the watching I/O: real files, counters ------------------------------------------- */

static storage_io_ops_t watch_ops;
static storage_io_t watch_io;
static atomic_uint_fast64_t written; /* bytes pwritten to .log files so far */
static atomic_uint_fast64_t covered; /* bytes written before the start of a sync that succeeded */
static atomic_int syncs, fail_after; /* fail_after < 0: never fail */

static atomic_bool is_log_fd[4096]; /* fds of open .log files: only their bytes count */

static int watch_open(storage_io_t *io, const char *path, int flags, int *fd)
{
    int rc = storage_io_real()->ops->open(io, path, flags, fd);
    size_t n = strlen(path);
    if (rc == 0 && *fd >= 0 && *fd < 4096)
        atomic_store(&is_log_fd[*fd], n > 4 && strcmp(path + n - 4, ".log") == 0);
    return rc;
}

static int watch_pwrite(storage_io_t *io, int fd, const void *p, size_t n, uint64_t off)
{
    int rc = storage_io_real()->ops->pwrite(io, fd, p, n, off);
    if (rc == 0 && fd >= 0 && fd < 4096 && atomic_load(&is_log_fd[fd]))
        atomic_fetch_add(&written, n);
    return rc;
}

static int watch_fdatasync(storage_io_t *io, int fd)
{
    uint64_t before = atomic_load(&written);
    int k = atomic_fetch_add(&syncs, 1), fail = atomic_load(&fail_after);
    if (fail >= 0 && k >= fail)
        return -WEIR_EIO;
    int rc = storage_io_real()->ops->fdatasync(io, fd);
    if (rc == 0) {
        uint64_t c = atomic_load(&covered);
        while (c < before && !atomic_compare_exchange_weak(&covered, &c, before))
            ;
    }
    return rc;
}

static storage_io_t *watch_reset(int fail)
{
    watch_ops = *storage_io_real()->ops;
    watch_ops.open = watch_open;
    watch_ops.pwrite = watch_pwrite;
    watch_ops.fdatasync = watch_fdatasync;
    watch_io.ops = &watch_ops;
    atomic_store(&written, 0);
    atomic_store(&covered, 0);
    atomic_store(&syncs, 0);
    atomic_store(&fail_after, fail);
    return &watch_io;
}

static storage_log_t *open_watched(char **dir, int fail)
{
    *dir = tl_tmpdir();
    char path[600];
    snprintf(path, sizeof(path), "%s/t-0", *dir);
    storage_log_t *log = NULL;
    int rc = storage_log_open(watch_reset(fail), path, NULL, &log);
    if (rc)
        fprintf(stderr, "open: %s\n", weir_strerror(rc));
    return log;
}

/* ---- closed-loop appenders -------------------------------------------------------------- */

typedef struct {
    storage_log_t *log;
    int n;                  /* appends to make */
    size_t batch_bytes;     /* every batch has the same size, so offset -> file end is known */
    int ok, offline, early; /* early: a callback with 0 before a covering sync */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int err;
    int64_t end_bytes; /* file end of the batch waited for */
} appender_t;

static void appender_cb(void *arg, int err)
{
    appender_t *a = arg;
    if (err == 0 && (int64_t)atomic_load(&covered) < a->end_bytes)
        a->early++; /* no successful sync that started after this batch was written */
    pthread_mutex_lock(&a->mu);
    a->done = true;
    a->err = err;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Waits for the callback; false after 10 s (a lost wake-up), so the test fails, not hangs. */
static bool appender_wait(appender_t *a)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    while (!a->done && rc == 0)
        rc = pthread_cond_timedwait(&a->cv, &a->mu, &until);
    bool done = a->done;
    pthread_mutex_unlock(&a->mu);
    return done;
}

static void *appender_main(void *arg)
{
    appender_t *a = arg;
    for (int i = 0; i < a->n; i++) {
        buf_t b;
        buf_init(&b);
        tl_batch(&b, RECS, -1, VALUE_BYTES, 1, (uint64_t)i);
        a->batch_bytes = b.len;
        int64_t base;
        int rc = storage_log_append(a->log, b.data, b.len, &base);
        buf_deinit(&b);
        if (rc) {
            a->offline += rc == -WEIR_EOFFLINE;
            continue;
        }
        a->done = false;
        a->end_bytes = (base / RECS + 1) * (int64_t)a->batch_bytes;
        storage_log_on_durable(a->log, base + RECS, appender_cb, a);
        if (!appender_wait(a))
            return NULL; /* counted as missing by the test */
        if (a->err == 0)
            a->ok++;
        else
            a->offline += a->err == -WEIR_EOFFLINE;
    }
    return NULL;
}

/* Runs `threads` appenders per log, n appends each, to completion. */
static void run_appenders(storage_log_t **logs, int nlogs, int threads, int n, appender_t *a)
{
    pthread_t t[64];
    WEIR_ASSERT(nlogs * threads <= 64);
    for (int i = 0; i < nlogs * threads; i++) {
        a[i] = (appender_t){.log = logs[i / threads], .n = n};
        pthread_mutex_init(&a[i].mu, NULL);
        pthread_cond_init(&a[i].cv, NULL);
        pthread_create(&t[i], NULL, appender_main, &a[i]);
    }
    for (int i = 0; i < nlogs * threads; i++) {
        pthread_join(t[i], NULL);
        pthread_mutex_destroy(&a[i].mu);
        pthread_cond_destroy(&a[i].cv);
    }
}

TEST(callbacks_fire_only_after_a_covering_sync)
{
    char *dir;
    storage_log_t *log = open_watched(&dir, -1);
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 1000) == 0);
    storage_flusher_attach(f, log);
    enum { THREADS = 8, PER = 60 };
    appender_t a[THREADS];
    run_appenders(&log, 1, THREADS, PER, a);
    int ok = 0, early = 0;
    for (int i = 0; i < THREADS; i++) {
        ok += a[i].ok;
        early += a[i].early;
    }
    CHECK_EQ(ok, THREADS * PER);
    CHECK_EQ(early, 0);
    CHECK_EQ(storage_log_durable_offset(log), RECS * THREADS * PER);
    CHECK_EQ(atomic_load(&covered), (uint64_t)THREADS * PER * a[0].batch_bytes);
    fprintf(stderr, "  %d durable appends, %d fdatasyncs\n", ok, atomic_load(&syncs));
    CHECK(atomic_load(&syncs) < ok); /* durables share syncs */
    storage_flusher_detach(f, log);
    storage_flusher_stop(f);
    storage_log_close(log);
    tl_rmrf(dir);
}

TEST(failed_sync_takes_log_offline_for_every_durable)
{
    char *dir;
    storage_log_t *log = open_watched(&dir, 25); /* the 26th fdatasync fails */
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 1000) == 0);
    storage_flusher_attach(f, log);
    enum { THREADS = 8, PER = 100 };
    appender_t a[THREADS];
    run_appenders(&log, 1, THREADS, PER, a);
    int ok = 0, offline = 0, early = 0;
    for (int i = 0; i < THREADS; i++) {
        ok += a[i].ok;
        offline += a[i].offline;
        early += a[i].early;
    }
    CHECK(storage_log_offline(log));
    CHECK_EQ(ok + offline, THREADS * PER); /* every append either durable or refused/failed */
    CHECK(ok < THREADS * PER);
    CHECK_EQ(early, 0); /* nothing reported durable past the last good sync */
    uint64_t batch = a[0].batch_bytes;
    CHECK_EQ(storage_log_durable_offset(log), (int64_t)(atomic_load(&covered) / batch) * RECS);
    CHECK(storage_log_durable_offset(log) >= RECS * ok / THREADS);
    /* A durable callback registered now hears at once that the log is offline. */
    appender_t late = {.log = log};
    pthread_mutex_init(&late.mu, NULL);
    pthread_cond_init(&late.cv, NULL);
    storage_log_on_durable(log, storage_log_end_offset(log) + 1, appender_cb, &late);
    CHECK(late.done);
    CHECK_EQ(late.err, -WEIR_EOFFLINE);
    pthread_mutex_destroy(&late.mu);
    pthread_cond_destroy(&late.cv);
    storage_flusher_stop(f);
    storage_log_close(log);
    tl_rmrf(dir);
}

TEST(several_logs_on_one_thread)
{
    /* One log with a group of producers (it gathers), one with a pair, one with a lone one,
     * all on one flusher thread. */
    enum { LOGS = 3, PER = 40 };
    const int threads[LOGS] = {4, 2, 1};
    char *dirs[LOGS];
    storage_log_t *logs[LOGS];
    watch_reset(-1);
    for (int i = 0; i < LOGS; i++) {
        char path[600];
        dirs[i] = tl_tmpdir();
        snprintf(path, sizeof(path), "%s/t-%d", dirs[i], i);
        REQUIRE(storage_log_open(&watch_io, path, NULL, &logs[i]) == 0);
    }
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 1000) == 0);
    for (int i = 0; i < LOGS; i++)
        storage_flusher_attach(f, logs[i]);
    appender_t a[7];
    pthread_t t[7];
    int k = 0;
    for (int l = 0; l < LOGS; l++)
        for (int i = 0; i < threads[l]; i++, k++) {
            a[k] = (appender_t){.log = logs[l], .n = PER};
            pthread_mutex_init(&a[k].mu, NULL);
            pthread_cond_init(&a[k].cv, NULL);
            pthread_create(&t[k], NULL, appender_main, &a[k]);
        }
    for (int i = 0; i < k; i++)
        pthread_join(t[i], NULL);
    k = 0;
    for (int l = 0; l < LOGS; l++) {
        int ok = 0;
        for (int i = 0; i < threads[l]; i++, k++) {
            ok += a[k].ok;
            pthread_mutex_destroy(&a[k].mu);
            pthread_cond_destroy(&a[k].cv);
        }
        CHECK_EQ(ok, threads[l] * PER);
        CHECK_EQ(storage_log_durable_offset(logs[l]), RECS * threads[l] * PER);
    }
    for (int i = 0; i < LOGS; i++) {
        storage_flusher_detach(f, logs[i]);
        storage_log_close(logs[i]);
        tl_rmrf(dirs[i]);
    }
    storage_flusher_stop(f);
}

TEST(lone_append_after_a_group_is_synced)
{
    char *dir;
    storage_log_t *log = open_watched(&dir, -1);
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 1000) == 0);
    storage_flusher_attach(f, log);
    for (int round = 0; round < 20; round++) {
        /* A group of four releases together, so the flusher arms a gathering deadline for
         * four appends; only one comes. It must be synced all the same, and soon. */
        appender_t a[4];
        run_appenders(&log, 1, 4, 3, a);
        for (int i = 0; i < 4; i++)
            CHECK_EQ(a[i].ok, 3);
        appender_t one;
        run_appenders(&log, 1, 1, 1, &one);
        CHECK_EQ(one.ok, 1);
        CHECK_EQ(one.early, 0);
    }
    CHECK_EQ(storage_log_durable_offset(log), storage_log_end_offset(log));
    CHECK_EQ(storage_log_end_offset(log), 20 * (4 * 3 + 1) * RECS);
    storage_flusher_detach(f, log);
    storage_flusher_stop(f);
    storage_log_close(log);
    tl_rmrf(dir);
}

/* Appends without a durable callback, then the number of fdatasyncs they caused by `ms` later. */
static int append_unwaited(storage_log_t *log, int n, int wait_ms)
{
    for (int i = 0; i < n; i++) {
        buf_t b;
        buf_init(&b);
        tl_batch(&b, RECS, -1, VALUE_BYTES, 1, (uint64_t)i);
        int64_t base;
        int rc = storage_log_append(log, b.data, b.len, &base);
        buf_deinit(&b);
        if (rc)
            return -1;
    }
    struct timespec ts = {.tv_sec = wait_ms / 1000, .tv_nsec = (wait_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return atomic_load(&syncs);
}

TEST(unwaited_appends_are_synced_by_the_background_pass)
{
    char *dir;
    storage_log_t *log = open_watched(&dir, -1);
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 400) == 0);
    storage_flusher_attach(f, log);
    /* 50 appends, nobody waits: nothing is synced within 100 ms (the pass is 400 ms away). */
    int opened = atomic_load(&syncs); /* creating the log synced its files */
    CHECK_EQ(append_unwaited(log, 50, 100), opened);
    CHECK_EQ(storage_log_durable_offset(log), 0);
    /* Within two intervals the pass has synced them all. */
    int64_t until = clock_mono_ms() + 2000;
    while (storage_log_durable_offset(log) < 50 * RECS && clock_mono_ms() < until) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(storage_log_durable_offset(log), 50 * RECS);
    CHECK(atomic_load(&syncs) >= 1);
    CHECK_EQ(atomic_load(&covered), atomic_load(&written));
    /* A clean log costs nothing: no sync in the next pass. */
    int before = atomic_load(&syncs);
    struct timespec ts = {0, 900000000};
    nanosleep(&ts, NULL);
    CHECK_EQ(atomic_load(&syncs), before);
    /* Stopping syncs what is still dirty. */
    CHECK_EQ(append_unwaited(log, 5, 0), before);
    storage_flusher_stop(f);
    CHECK_EQ(storage_log_durable_offset(log), 55 * RECS);
    storage_log_close(log);
    tl_rmrf(dir);
}

/* log.flush.interval.ms changed at run time: the new period takes effect at once. */
TEST(background_pass_period_changes_at_run_time)
{
    char *dir;
    storage_log_t *log = open_watched(&dir, -1);
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 3600000) == 0); /* an hour: no pass during the test */
    storage_flusher_attach(f, log);
    CHECK(append_unwaited(log, 10, 100) >= 0);
    CHECK_EQ(storage_log_durable_offset(log), 0);
    storage_flusher_set_interval(f, 50);
    int64_t until = clock_mono_ms() + 2000;
    while (storage_log_durable_offset(log) < 10 * RECS && clock_mono_ms() < until) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(storage_log_durable_offset(log), 10 * RECS);
    storage_flusher_detach(f, log);
    storage_flusher_stop(f);
    storage_log_close(log);
    tl_rmrf(dir);
}

TEST(durable_registered_before_its_append)
{
    char *dir;
    storage_log_t *log = open_watched(&dir, -1);
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 100000) == 0); /* no background pass in this test */
    storage_flusher_attach(f, log);
    appender_t w = {.log = log};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    storage_log_on_durable(log, RECS, appender_cb, &w);
    CHECK(!w.done);
    int64_t t0 = clock_mono_ms();
    CHECK(append_unwaited(log, 1, 0) >= 0);
    CHECK(appender_wait(&w));
    CHECK_EQ(w.err, 0);
    CHECK(clock_mono_ms() - t0 < 5000);
    CHECK_EQ(storage_log_durable_offset(log), RECS);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    storage_flusher_detach(f, log);
    storage_flusher_stop(f);
    storage_log_close(log);
    tl_rmrf(dir);
}

/* ---- open-loop (paced) appends ------------------------------------------------------------ */
static atomic_int paced_done;

static void paced_cb(void *arg, int err)
{
    (void)arg;
    if (err == 0)
        atomic_fetch_add(&paced_done, 1);
}

TEST(paced_appends_are_not_held_back_to_gather)
{
    /* One append every 100 us, each with a durable callback, never waiting for it (a librdkafka
     * producer with acks=-1, linger.ms=0 and many requests in flight, paced). A sync releases
     * the appends that came while the one before ran; the next ones come at the same pace
     * whatever the flusher does, so gathering "as many as were released" only delays them. */
    enum { N = 1500, GAP_NS = 100000 };
    char *dir;
    storage_log_t *log = open_watched(&dir, -1);
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 100000) == 0); /* no background pass in this test */
    storage_flusher_attach(f, log);
    storage_flusher_stats_t st0, st1;
    storage_flusher_stats(f, &st0);
    atomic_store(&paced_done, 0);
    int64_t t = clock_mono_ns();
    for (int i = 0; i < N; i++) {
        t += GAP_NS;
        struct timespec ts = {.tv_sec = t / 1000000000, .tv_nsec = t % 1000000000};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        buf_t b;
        buf_init(&b);
        tl_batch(&b, RECS, -1, VALUE_BYTES, 1, (uint64_t)i);
        int64_t base;
        REQUIRE(storage_log_append(log, b.data, b.len, &base) == 0);
        buf_deinit(&b);
        storage_log_on_durable(log, base + RECS, paced_cb, NULL);
    }
    int64_t until = clock_mono_ms() + 10000;
    while (atomic_load(&paced_done) < N && clock_mono_ms() < until) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ(atomic_load(&paced_done), N);
    storage_flusher_stats(f, &st1);
    uint64_t syncs_n = st1.syncs - st0.syncs, gathers = st1.gathers - st0.gathers;
    printf("# %d paced appends: %llu syncs, %llu of them waited to gather\n", N,
           (unsigned long long)syncs_n, (unsigned long long)gathers);
    CHECK(syncs_n > 0);
    CHECK(gathers * 10 <= syncs_n); /* a few at most, from scheduling noise (was ~90%) */
    storage_flusher_detach(f, log);
    storage_flusher_stop(f);
    storage_log_close(log);
    tl_rmrf(dir);
}

TEST(closed_loop_group_still_gathers)
{
    /* Four producers that each wait for their sync before appending again: the flusher still
     * gathers them (the open-loop test above must not have turned gathering off). */
    char *dir;
    storage_log_t *log = open_watched(&dir, -1);
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 100000) == 0);
    storage_flusher_attach(f, log);
    storage_flusher_stats_t st0, st1;
    storage_flusher_stats(f, &st0);
    appender_t a[4];
    run_appenders(&log, 1, 4, 100, a);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(a[i].ok, 100);
    storage_flusher_stats(f, &st1);
    uint64_t syncs_n = st1.syncs - st0.syncs, gathers = st1.gathers - st0.gathers;
    printf("# 4 closed-loop producers x 100: %llu syncs, %llu of them waited to gather\n",
           (unsigned long long)syncs_n, (unsigned long long)gathers);
    /* They shared syncs, and the flusher still waits to gather a group: how many of its syncs
     * do depends on the scheduling (27 of 161 on a loaded machine, most when it is idle). */
    CHECK(syncs_n < 400);
    CHECK(gathers > 0);
    storage_flusher_detach(f, log);
    storage_flusher_stop(f);
    storage_log_close(log);
    tl_rmrf(dir);
}

TEST_MAIN()
