/*
 * flusher: the group-commit thread. storage_log_append() queues its log (once, however many
 * appends arrive); the thread takes a log off the queue and calls storage_log_flush_ex(), which
 * fdatasyncs everything appended so far and fires the durability callbacks. Appends that arrive
 * while an fdatasync is on the disk queue the log again and share the next one.
 *
 * Gathering. Producers that wait for durability before sending more (acks=-1 with one request
 * in flight, the benchmark's appenders) come back right after a flush releases them. Syncing
 * the moment the first of them has appended would leave the others for the sync after, and
 * the log would settle into two half-size groups taking turns. So when a flush released
 * several waiters, the log's next sync waits until as many appends have come back, or until a
 * deadline (about one sync's time, at most 1 ms) passes: a straggler costs the others less than
 * a whole extra sync would. A lone producer never waits, and a log that gathers never holds up
 * another: while any queued log is ready, the thread syncs that one, so the disk does not idle
 * while there is work.
 *
 * Wake-ups. The thread sleeps on its condition variable and is woken only when there is
 * something to do: a log queued that is ready at once, or the append that completes a gathered
 * group. Appends in between do not wake it (one futex call per group instead of one per
 * append), and it takes no log mutex between flushes, so appenders never queue behind it.
 *
 * Invariants: a log is in the queue at most once (log->fl_queued); after detach returns, the
 * thread neither holds nor will touch that log, so it may be closed and freed.
 * Lock order: log->mu before f->mu (append notifies with its log locked); the thread never
 * holds f->mu while it flushes.
 */
#include "log_internal.h"

#include <stdlib.h>
#include <time.h>

/* Bounds of the gathering wait: never longer than this, however slow the disk. */
#define GATHER_MIN_NS 20000
#define GATHER_MAX_NS 1000000

struct storage_flusher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* something to do: a ready log, or stop */
    pthread_cond_t idle; /* busy changed */
    storage_log_t *head, *tail;
    storage_log_t *busy; /* being flushed now */
    bool sleeping;       /* the thread waits on work: notify must signal it */
    storage_log_t **attached;
    size_t nattached, capattached;
    bool stop;
};

/* A queued log may be synced now: it gathers nothing, its group is complete, or time is up. */
static bool log_ready(storage_flusher_t *f, storage_log_t *log, int64_t now_ns)
{
    if (f->stop || log->fl_gather == 0)
        return true;
    return atomic_load_explicit(&log->fl_appends, memory_order_relaxed) >= log->fl_gather ||
           now_ns >= log->fl_gather_until_ns;
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

/* After a flush: how the log's next sync gathers. f->mu held. */
static int xp_pct = -1, xp_strag = 0;
static void flusher_plan(storage_log_t *log, const storage_flush_result_t *res)
{
    if (xp_pct < 0) {
        const char *e = getenv("XP_PCT");
        xp_pct = e ? atoi(e) : 100;
        e = getenv("XP_STRAG");
        xp_strag = e ? atoi(e) : 0;
    }
    if (res->sync_ns > 0) /* a moving average: one slow sync does not stretch the next wait */
        log->fl_sync_ns = log->fl_sync_ns ? (log->fl_sync_ns * 3 + res->sync_ns) / 4 : res->sync_ns;
    log->fl_gather = 0;
    if (res->released <= 1)
        return; /* a lone producer: sync its next append at once */
    if (xp_strag && res->stragglers >= res->released)
        return;
    if (xp_pct == 0)
        return;
    int64_t wait_ns = WEIR_MAX(GATHER_MIN_NS, WEIR_MIN(log->fl_sync_ns * xp_pct / 100, GATHER_MAX_NS));
    log->fl_gather = res->released;
    log->fl_gather_until_ns = clock_mono_ns() + wait_ns;
}

static void flusher_sleep(storage_flusher_t *f, int64_t wake_ns)
{
    f->sleeping = true;
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
        /* Errors take the log offline and fail its waiters inside; nothing more to do here. */
        storage_flush_result_t res;
        storage_log_flush_ex(log, &res);
        pthread_mutex_lock(&f->mu);
        flusher_plan(log, &res);
        f->busy = NULL;
        pthread_cond_broadcast(&f->idle);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int storage_flusher_start(storage_flusher_t **out)
{
    storage_flusher_t *f = weir_calloc(1, sizeof(*f));
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

void storage_flusher_stop(storage_flusher_t *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true; /* from now on every queued log is ready: nothing gathers */
    pthread_cond_signal(&f->work);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    /* Logs still attached keep working; their appends are simply no longer flushed for them. */
    for (size_t i = 0; i < f->nattached; i++) {
        storage_log_t *log = f->attached[i];
        pthread_mutex_lock(&log->mu);
        log->flusher = NULL;
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
    if (!log->fl_queued) {
        log->fl_queued = true;
        log->fl_next = NULL;
        if (f->tail)
            f->tail->fl_next = log;
        else
            f->head = log;
        f->tail = log;
    }
    /* A busy thread looks at the queue again before it sleeps; a sleeping one is woken only
     * when this log can be synced now (a passing deadline is its timer's business). */
    bool wake = f->sleeping && (log->fl_gather == 0 ||
                 atomic_load_explicit(&log->fl_appends, memory_order_relaxed) >= log->fl_gather);
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
    log->flusher = f;
    if (log->durable_offset < log->end_offset)
        storage_flusher_notify(f, log); /* appended before attaching */
    pthread_mutex_unlock(&log->mu);
}

void storage_flusher_detach(storage_flusher_t *f, storage_log_t *log)
{
    pthread_mutex_lock(&log->mu);
    log->flusher = NULL; /* no more notifications from appends */
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
