/*
 * flusher: the group-commit thread. A durable callback (storage_log_on_durable, after every
 * acks=-1 append) queues its log (once, however many arrive); the thread takes a log off the
 * queue and calls storage_log_flush_ex(), which fdatasyncs everything appended so far and fires
 * the durability callbacks. Waiters that arrive while an fdatasync is on the disk queue the log
 * again and share the next one.
 *
 * Background pass. Appends nobody waits for (acks=1, acks=0) queue nothing: syncing them at
 * once would put an fdatasync on the disk, and a thread on the CPU, per request of traffic
 * that did not ask for it. Every `interval_ms` the thread queues the attached logs that have
 * held unsynced data for that long, so such data reaches the disk within about two intervals
 * (like Redis's appendfsync everysec) and the recovery point keeps up.
 *
 * Gathering. Producers that wait for durability before sending more (acks=-1 with one request
 * in flight, the benchmark's appenders) come back right after a flush releases them. Syncing
 * the moment the first of them has appended would leave the others for the sync after, and
 * the log would settle into two half-size groups taking turns. So when a flush released
 * several durables, the log's next sync waits until as many appends have come back, or until a
 * deadline (one sync's time on average, at most 1 ms) passes: a producer that misses a sync
 * waits a whole extra one, so waiting up to that long for it costs the group no more. Nothing
 * waits for producers that do not wait for their syncs (a paced producer with many requests
 * in flight: log_open_loop), and nothing waits when it would only idle the disk: a lone producer is
 * synced at once; so are appends that arrived during the last sync in at least the number it
 * released (they have waited a sync already, and producers that append independently do not come
 * back as a group); and while any queued log is ready, the thread syncs that one instead of waiting
 * for another.
 *
 * Wake-ups. The thread sleeps on its condition variable and is woken only when there is
 * something to do: a log queued that is ready at once, or the append that completes a gathered
 * group. Appends in between do not wake it (one futex call per group instead of one per
 * append), and it takes no log mutex between flushes, so appenders never queue behind it.
 *
 * Invariants: a log is in the queue at most once (log->fl_queued); after detach returns, the
 * thread neither holds nor will touch that log, so it may be closed and freed.
 * Lock order: log->mu and log->durable_mu before f->mu (append and on_durable notify with their
 * lock held); the thread never holds f->mu while it flushes.
 */
#include "storage/log_internal.h"

#include <stdlib.h>
#include <time.h>

/* Bounds of the gathering wait: never longer than this, however slow the disk. */
#define GATHER_MIN_NS 20000
#define GATHER_MAX_NS 1000000
/* Gathering saves the stragglers one sync's fixed cost (the device's flush and round trips,
 * a few hundred microseconds). A sync that moves more than this spends most of its time
 * moving bytes, which gathering does not save, while the producers' own appends (copying
 * those bytes) keep the disk idle: then two groups taking turns, each appending while the
 * other syncs, get more through. Measured on this project's VM (bench/bench_storage): fdatasync
 * of 16 KiB 0.17 ms, 128 KiB 0.21 ms; 8 appenders of 1 MiB batches got 11% more batches/s
 * without gathering, 8 of 16 KiB 7% more with it. */
#define GATHER_BYTES_MAX (256u << 10)

struct storage_flusher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* something to do: a ready log, or stop */
    pthread_cond_t idle; /* busy changed */
    storage_log_t *head, *tail;
    storage_log_t *busy;    /* being flushed now */
    bool sleeping;          /* the thread waits on work: notify must signal it */
    int64_t sleep_until_ns; /* ... until then at the latest (INT64_MAX: until signalled) */
    int64_t armed_until_ns; /* earliest deadline of a gathering log not queued yet */
    storage_log_t **attached;
    size_t nattached, capattached;
    int64_t interval_ms;  /* background pass period */
    int64_t next_pass_ms; /* monotonic ms of the next background pass */
    bool stop;
    /* metrics (storage_flusher_stats): written by the thread, read from any */
    metric_counter_t syncs, synced_bytes;
    metric_counter_t gathers; /* plans that made the next sync wait to gather */
    metric_hist_t sync_ns;    /* time in fdatasync */
    metric_hist_t released;   /* durable waits one sync released: the group-commit size */
};

/* A queued log may be synced now: it gathers nothing, its group is complete, or time is up. */
static bool log_ready(storage_flusher_t *f, storage_log_t *log, int64_t now_ns)
{
    if (f->stop || log->fl_gather == 0)
        return true;
    return atomic_load_explicit(&log->fl_appends, memory_order_relaxed) >= log->fl_gather ||
           now_ns >= log->fl_gather_until_ns;
}

/* Puts a log at the end of the queue unless it is there already. f->mu held. */
static void flusher_queue(storage_flusher_t *f, storage_log_t *log)
{
    if (log->fl_queued)
        return;
    log->fl_queued = true;
    log->fl_next = NULL;
    if (f->tail)
        f->tail->fl_next = log;
    else
        f->head = log;
    f->tail = log;
}

/* Queues every attached log that has held unsynced data for at least min_age_ms (all dirty
 * ones with 0). f->mu held. */
static void flusher_queue_dirty(storage_flusher_t *f, int64_t min_age_ms)
{
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < f->nattached; i++) {
        storage_log_t *log = f->attached[i];
        int64_t since = atomic_load_explicit(&log->dirty_since_ms, memory_order_relaxed);
        if (since != 0 && now - since >= min_age_ms)
            flusher_queue(f, log);
    }
}

/* Takes the first ready log off the queue; NULL if none, with *wake_ns the earliest deadline
 * of the gathering ones (INT64_MAX if nothing is queued). f->mu held. */
static storage_log_t *flusher_pick(storage_flusher_t *f, int64_t *wake_ns)
{
    *wake_ns = INT64_MAX;
    int64_t now = f->head ? clock_mono_ns() : 0;
    storage_log_t *prev = NULL;
    for (storage_log_t *log = f->head; log; prev = log, log = log->fl_next) {
        if (!log_ready(f, log, now)) {
            *wake_ns = WEIR_MIN(*wake_ns, log->fl_gather_until_ns);
            continue;
        }
        if (prev)
            prev->fl_next = log->fl_next;
        else
            f->head = log->fl_next;
        if (f->tail == log)
            f->tail = prev;
        log->fl_next = NULL;
        log->fl_queued = false; /* appends from here on queue it again */
        return log;
    }
    return NULL;
}

/* Open loop: the appends that came while the last syncs ran arrived at (at least half) the
 * rate of all the appends those syncs released, averaged over the last few flushes. Producers
 * that wait for their sync (closed loop) cannot append during it, so few of theirs do; a paced
 * producer with many requests in flight appends at its own pace whatever the syncs do, so
 * waiting for "as many as were released" would only delay its messages (before this, 396 of
 * 438 syncs of a producer paced at 10k appends/s waited to gather; test_flusher pins it). The
 * averages keep one late member of a closed group from looking like an open loop. */
static bool log_open_loop(storage_log_t *log, const storage_flush_result_t *res, int64_t now)
{
    int64_t cycle_ns = log->fl_plan_ns ? now - log->fl_plan_ns : 0;
    log->fl_plan_ns = now;
    if (cycle_ns <= 0 || res->sync_ns <= 0)
        return false;
    log->fl_cycle_ns = log->fl_cycle_ns ? (log->fl_cycle_ns * 3 + cycle_ns) / 4 : cycle_ns;
    log->fl_stragglers_avg = (log->fl_stragglers_avg * 3 + res->stragglers) / 4;
    log->fl_released_avg = (log->fl_released_avg * 3 + res->released) / 4;
    return log->fl_stragglers_avg * 2 * (double)log->fl_cycle_ns >=
           log->fl_released_avg * (double)log->fl_sync_ns;
}

/* After a flush: how the log's next sync gathers. f->mu held. */
static void flusher_plan(storage_flusher_t *f, storage_log_t *log,
                         const storage_flush_result_t *res)
{
    if (res->sync_ns > 0) /* a moving average: one slow sync does not stretch the next wait */
        log->fl_sync_ns = log->fl_sync_ns ? (log->fl_sync_ns * 3 + res->sync_ns) / 4 : res->sync_ns;
    log->fl_gather = 0;
    int64_t now = clock_mono_ns();
    bool open_loop = log_open_loop(log, res, now);
    /* A lone producer is synced at once; so are appends that queued up during this sync in
     * at least the number it released: they have waited a whole sync already, and that many
     * arrivals mean producers that do not wait for each other (or enough of them to fill the
     * next sync), so waiting would only idle the disk. So are big groups (GATHER_BYTES_MAX),
     * and producers that append at their own pace (log_open_loop). */
    if (res->released <= 1 || res->stragglers >= res->released || res->bytes > GATHER_BYTES_MAX ||
        open_loop)
        return;
    metric_counter_add(&f->gathers, 1);
    log->fl_gather = res->released;
    log->fl_gather_until_ns =
        now + WEIR_MAX(GATHER_MIN_NS, WEIR_MIN(log->fl_sync_ns, GATHER_MAX_NS));
    /* The thread will sleep until then even before the first append queues the log, so that
     * append need not wake it. */
    if (f->armed_until_ns <= now || log->fl_gather_until_ns < f->armed_until_ns)
        f->armed_until_ns = log->fl_gather_until_ns;
}

static void flusher_sleep(storage_flusher_t *f, int64_t wake_ns)
{
    if (wake_ns == INT64_MAX && f->armed_until_ns > clock_mono_ns())
        wake_ns = f->armed_until_ns;
    wake_ns = WEIR_MIN(wake_ns, f->next_pass_ms * 1000000);
    f->sleeping = true;
    f->sleep_until_ns = wake_ns;
    if (wake_ns == INT64_MAX) {
        pthread_cond_wait(&f->work, &f->mu);
    } else {
        struct timespec until = {.tv_sec = wake_ns / 1000000000, .tv_nsec = wake_ns % 1000000000};
        pthread_cond_timedwait(&f->work, &f->mu, &until);
    }
    f->sleeping = false;
}

static void *flusher_main(void *arg)
{
    storage_flusher_t *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        if (clock_mono_ms() >= f->next_pass_ms) {
            flusher_queue_dirty(f, f->interval_ms);
            f->next_pass_ms = clock_mono_ms() + f->interval_ms;
        }
        int64_t wake_ns;
        storage_log_t *log = flusher_pick(f, &wake_ns);
        if (!log) {
            if (f->stop && !f->head)
                break; /* stopping, and nothing left to flush */
            flusher_sleep(f, wake_ns);
            continue;
        }
        f->busy = log;
        pthread_mutex_unlock(&f->mu);
        /* Errors take the log offline and fail its durables inside; nothing more to do here. */
        storage_flush_result_t res;
        storage_log_flush_ex(log, &res);
        if (res.sync_ns > 0) {
            metric_counter_add(&f->syncs, 1);
            metric_counter_add(&f->synced_bytes, res.bytes);
            metric_hist_observe(&f->sync_ns, (uint64_t)res.sync_ns);
            metric_hist_observe(&f->released, res.released);
        }
        pthread_mutex_lock(&f->mu);
        flusher_plan(f, log, &res);
        f->busy = NULL;
        pthread_cond_broadcast(&f->idle);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int storage_flusher_start(storage_flusher_t **out, int64_t interval_ms)
{
    storage_flusher_t *f = weir_calloc(1, sizeof(*f));
    f->interval_ms = WEIR_MAX(interval_ms, 1);
    f->next_pass_ms = clock_mono_ms() + f->interval_ms;
    metric_hist_init(&f->sync_ns, &metric_buckets_latency);
    metric_hist_init(&f->released, &metric_buckets_count);
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* clock_mono_ns() deadlines */
    pthread_cond_init(&f->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&f->idle, NULL);
    if (pthread_create(&f->thread, NULL, flusher_main, f) != 0) {
        log_error(LOG_MOD, "cannot start the flusher thread");
        pthread_cond_destroy(&f->idle);
        pthread_cond_destroy(&f->work);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return -WEIR_ENOMEM;
    }
    *out = f;
    return 0;
}

/* A new background pass period (log.flush.interval.ms changed at run time): the next pass is
 * one new interval from now, and a sleeping thread wakes to take the new deadline. */
void storage_flusher_set_interval(storage_flusher_t *f, int64_t interval_ms)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    interval_ms = WEIR_MAX(interval_ms, 1);
    if (interval_ms != f->interval_ms) {
        f->interval_ms = interval_ms;
        f->next_pass_ms = clock_mono_ms() + interval_ms;
        pthread_cond_signal(&f->work);
    }
    pthread_mutex_unlock(&f->mu);
}

void storage_flusher_stop(storage_flusher_t *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true; /* from now on every queued log is ready: nothing gathers */
    flusher_queue_dirty(f, 0);
    pthread_cond_signal(&f->work);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    /* Logs still attached keep working; their appends are simply no longer flushed for them. */
    for (size_t i = 0; i < f->nattached; i++) {
        storage_log_t *log = f->attached[i];
        pthread_mutex_lock(&log->mu);
        pthread_mutex_lock(&log->durable_mu);
        log->flusher = NULL;
        pthread_mutex_unlock(&log->durable_mu);
        log->fl_queued = false; /* queued after the thread ended: nothing will take it off */
        log->fl_next = NULL;
        log->fl_gather = 0;
        pthread_mutex_unlock(&log->mu);
    }
    free(f->attached);
    pthread_cond_destroy(&f->idle);
    pthread_cond_destroy(&f->work);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void storage_flusher_notify(storage_flusher_t *f, storage_log_t *log)
{
    pthread_mutex_lock(&f->mu);
    flusher_queue(f, log);
    /* A busy thread looks at the queue again before it sleeps; a sleeping one is woken only
     * when this log can be synced now, or when its timer would ring after this log's
     * gathering deadline. */
    bool wake = f->sleeping &&
                (log->fl_gather == 0 ||
                 atomic_load_explicit(&log->fl_appends, memory_order_relaxed) >= log->fl_gather ||
                 log->fl_gather_until_ns < f->sleep_until_ns);
    if (wake)
        f->sleeping = false; /* one signal is enough */
    pthread_mutex_unlock(&f->mu);
    if (wake)
        pthread_cond_signal(&f->work);
}

void storage_flusher_attach(storage_flusher_t *f, storage_log_t *log)
{
    pthread_mutex_lock(&f->mu);
    if (f->nattached == f->capattached) {
        f->capattached = f->capattached ? f->capattached * 2 : 16;
        f->attached = weir_realloc(f->attached, f->capattached * sizeof(*f->attached));
    }
    f->attached[f->nattached++] = log;
    pthread_mutex_unlock(&f->mu);
    pthread_mutex_lock(&log->mu);
    WEIR_ASSERT(log->flusher == NULL || log->flusher == f);
    pthread_mutex_lock(&log->durable_mu);
    log->flusher = f;
    pthread_mutex_unlock(&log->durable_mu);
    if (log->durable_offset < log->end_offset)
        storage_flusher_notify(f, log); /* appended before attaching */
    pthread_mutex_unlock(&log->mu);
}

void storage_flusher_detach(storage_flusher_t *f, storage_log_t *log)
{
    pthread_mutex_lock(&log->mu);
    pthread_mutex_lock(&log->durable_mu);
    log->flusher = NULL; /* no more notifications from appends or durables */
    pthread_mutex_unlock(&log->durable_mu);
    pthread_mutex_unlock(&log->mu);
    pthread_mutex_lock(&f->mu);
    if (log->fl_queued) {
        storage_log_t **pp = &f->head, *prev = NULL;
        while (*pp && *pp != log) {
            prev = *pp;
            pp = &(*pp)->fl_next;
        }
        if (*pp) {
            *pp = log->fl_next;
            if (f->tail == log)
                f->tail = prev;
        }
        log->fl_queued = false;
        log->fl_next = NULL;
    }
    for (size_t i = 0; i < f->nattached; i++)
        if (f->attached[i] == log) {
            f->attached[i] = f->attached[--f->nattached];
            break;
        }
    while (f->busy == log)
        pthread_cond_wait(&f->idle, &f->mu);
    log->fl_gather = 0;
    pthread_mutex_unlock(&f->mu);
}

void storage_flusher_stats(const storage_flusher_t *f, storage_flusher_stats_t *st)
{
    st->syncs = metric_counter_get(&f->syncs);
    st->synced_bytes = metric_counter_get(&f->synced_bytes);
    st->gathers = metric_counter_get(&f->gathers);
    metric_hist_read(&f->sync_ns, &st->sync_seconds);
    metric_hist_read(&f->released, &st->group_size);
}
