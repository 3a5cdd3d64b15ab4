/*
 * flusher: the group-commit thread. storage_log_append() queues its log (once, however many
 * appends arrive); the thread takes logs off the queue one at a time and calls
 * storage_log_flush(), which fdatasyncs everything appended so far and fires the durability
 * callbacks. Appends that arrive while an fdatasync is on the disk queue the log again and
 * share the next one, so the number of syncs per second adapts to the load: one append alone
 * pays one sync, a hundred concurrent appends share a few.
 *
 * Invariants: a log is in the queue at most once (log->fl_queued); after detach returns, the
 * thread neither holds nor will touch that log, so it may be closed and freed.
 * Lock order: log->mu before f->mu (append notifies with its log locked); the thread never
 * holds f->mu while it flushes.
 */
#include "log_internal.h"

#include <stdlib.h>
#include <time.h>

struct storage_flusher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* queue not empty, stop, or an append to the log being gathered */
    pthread_cond_t idle; /* busy changed */
    storage_log_t *head, *tail;
    storage_log_t *busy;      /* being flushed now */
    storage_log_t *gathering; /* the log whose appends the thread is waiting for */
    uint32_t gather_target;   /* ... and how many of them */
    storage_log_t **attached;
    size_t nattached, capattached;
    bool stop;
};

/* Group commit's gathering step. The waiters the last flush released are usually about to
 * append again; syncing the moment the first of them has appended would leave the rest for the
 * sync after, so wait until as many appends as waiters were released have arrived, but never
 * longer than half the last sync took (bounded to 20 us .. 1 ms): a lone writer never waits,
 * and the wait costs less than the sync it saves. f->mu held. */
static void flusher_gather(storage_flusher_t *f, storage_log_t *log)
{
    pthread_mutex_unlock(&f->mu);
    pthread_mutex_lock(&log->mu);
    uint32_t expected = log->fl_last_fired;
    int64_t wait_ns = log->fl_last_sync_ns / 2;
    pthread_mutex_unlock(&log->mu);
    pthread_mutex_lock(&f->mu);
    if (expected <= 1)
        return;
    wait_ns = WEIR_MAX(20000, WEIR_MIN(wait_ns, 1000000));
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += wait_ns;
    until.tv_sec += until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    f->gathering = log;
    f->gather_target = expected;
    while (atomic_load_explicit(&log->fl_appends, memory_order_relaxed) < expected && !f->stop)
        if (pthread_cond_timedwait(&f->work, &f->mu, &until) != 0)
            break;
    f->gathering = NULL;
}

static void *flusher_main(void *arg)
{
    storage_flusher_t *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->head && !f->stop)
            pthread_cond_wait(&f->work, &f->mu);
        if (!f->head)
            break; /* stopping, and nothing left to flush */
        storage_log_t *log = f->head;
        f->head = log->fl_next;
        if (!f->head)
            f->tail = NULL;
        log->fl_next = NULL;
        f->busy = log;
        flusher_gather(f, log);
        log->fl_queued = false; /* appends from here on queue it again */
        pthread_mutex_unlock(&f->mu);
        /* Errors take the log offline and fail its waiters inside; nothing more to do here. */
        storage_log_flush(log);
        pthread_mutex_lock(&f->mu);
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
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
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
    f->stop = true;
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
        pthread_cond_signal(&f->work);
    } else if (f->gathering == log &&
               atomic_load_explicit(&log->fl_appends, memory_order_relaxed) >= f->gather_target) {
        pthread_cond_signal(&f->work); /* only the append that completes the group wakes it */
    }
    pthread_mutex_unlock(&f->mu);
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
    pthread_mutex_unlock(&f->mu);
}
