/*
 * The log cleaner: one thread that compacts logs on Kafka's cleaner schedule and removes the
 * files of deleted segments once their file.delete.delay.ms has passed.
 *
 * Every log.cleaner.backoff.ms (15 s by default, dynamic) it visits every partition: a log of a
 * compacted topic gets one cleaning pass if storage says it is due (its dirty part is more
 * than min.cleanable.dirty.ratio of the cleanable log, a dirty segment is older than
 * max.compaction.lag.ms, or a kept tombstone has passed delete.retention.ms: see
 * storage/clean_state.c); every log drops its *.deleted files that are due. With
 * log.cleaner.enable=false nothing is compacted (as in Kafka, __consumer_offsets then grows).
 *
 * Threads and locks: its own thread, so a long compaction never holds up an event loop. It
 * takes the registry read lock for one partition at a time (a topic cannot be deleted under a
 * running pass, and a writer waits at most one pass), holding a reference to each topic it
 * visits.
 */
#include "broker/broker_internal.h"

#include <stdlib.h>
#include <time.h>

struct broker_cleaner {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    uint64_t passes; /* compaction passes run (tests) */
};

/* The topics to visit this round, each with a reference, and their partition counts (read lock
 * held). */
static broker_topic_t **round_topics(broker_t *b, size_t *n, int32_t **nparts)
{
    broker_topic_t **v = broker_topics_list(b, n);
    *nparts = weir_calloc(*n + 1, sizeof(**nparts));
    for (size_t i = 0; i < *n; i++) {
        broker_topic_ref(v[i]);
        (*nparts)[i] = v[i]->npart;
    }
    return v;
}

/* One partition: a cleaning pass if due, then the deleted files that are due. */
static void visit(broker_t *b, broker_topic_t *t, int32_t i, bool compact, int64_t now)
{
    broker_topics_rdlock(b);
    broker_partition_t *p = !t->deleted && i < t->npart ? t->parts[i] : NULL;
    if (p && p->log) {
        int rc = compact && t->log_cfg.cleanup_compact ? storage_log_clean(p->log, now) : 0;
        if (rc < 0 && rc != -WEIR_EOFFLINE)
            log_warn("broker", "compaction of %s-%d: %s", t->name, i, weir_strerror(rc));
        if (rc == 1) {
            pthread_mutex_lock(&b->cleaner->mu);
            b->cleaner->passes++;
            pthread_mutex_unlock(&b->cleaner->mu);
        }
        storage_log_purge_deleted(p->log, now);
    }
    broker_topics_unlock(b);
}

static void cleaner_round(broker_t *b)
{
    bool compact = broker_settings_int(&b->set, BCFG_LOG_CLEANER_ENABLE) != 0;
    size_t n;
    int32_t *nparts;
    broker_topics_rdlock(b);
    broker_topic_t **topics = round_topics(b, &n, &nparts);
    broker_topics_unlock(b);
    for (size_t i = 0; i < n; i++) {
        for (int32_t j = 0; j < nparts[i] && !atomic_load(&b->stopping); j++)
            visit(b, topics[i], j, compact, clock_wall_ms());
        broker_topic_unref(topics[i]);
    }
    free(nparts);
    free(topics);
}

static void *cleaner_main(void *arg)
{
    broker_t *b = arg;
    struct broker_cleaner *c = b->cleaner;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        pthread_mutex_unlock(&c->mu);
        cleaner_round(b);
        pthread_mutex_lock(&c->mu);
        int64_t backoff = broker_settings_int(&b->set, BCFG_LOG_CLEANER_BACKOFF_MS);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t ns = until.tv_nsec + (backoff % 1000) * 1000000;
        until.tv_sec += (time_t)(backoff / 1000 + ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        if (!c->stop) /* a wake (or a spurious return) just runs the next round early */
            pthread_cond_timedwait(&c->cv, &c->mu, &until);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int broker_cleaner_start(broker_t *b)
{
    struct broker_cleaner *c = weir_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    b->cleaner = c;
    if (pthread_create(&c->thread, NULL, cleaner_main, b) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        b->cleaner = NULL;
        return -WEIR_ENOMEM;
    }
    return 0;
}

void broker_cleaner_stop(broker_t *b)
{
    struct broker_cleaner *c = b->cleaner;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
    b->cleaner = NULL;
}

void broker_cleaner_wake(broker_t *b)
{
    struct broker_cleaner *c = b->cleaner;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

uint64_t broker_cleaner_passes(broker_t *b)
{
    struct broker_cleaner *c = b->cleaner;
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->passes;
    pthread_mutex_unlock(&c->mu);
    return n;
}
