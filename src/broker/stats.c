/*
 * stats.c: the broker's numbers for the metrics exposition: every topic with what clients wrote
 * and read, every partition's offsets and size, and the flusher's group-commit counters.
 *
 * Invariant: readers never block the hot path for long: the registry read lock is held while
 * the caller copies (appends take only a read lock too); log sizes and offsets come from the
 * logs' own getters.
 */
#include "broker/broker_internal.h"

#include <stdlib.h>

static void visit_topic(broker_topic_t *t,
                        void (*on_topic)(void *arg, const broker_topic_stats_t *ts),
                        void (*on_partition)(void *arg, const broker_partition_stats_t *ps),
                        void *arg)
{
    broker_topic_stats_t ts = {
        .name = t->name,
        .internal = t->internal,
        .partitions = t->npart,
        .produce_bytes = metric_counter_get(&t->m.produce_bytes),
        .produce_records = metric_counter_get(&t->m.produce_records),
        .schema_refused_batches = metric_counter_get(&t->m.schema_refused),
        .fetch_bytes = metric_counter_get(&t->m.fetch_bytes),
        .fetch_records = metric_counter_get(&t->m.fetch_records),
    };
    if (on_topic)
        on_topic(arg, &ts);
    for (int32_t i = 0; on_partition && i < t->npart; i++) {
        broker_partition_t *p = t->parts[i];
        storage_log_t *log = p->log;
        bool offline = !log || storage_log_offline(log);
        broker_partition_stats_t ps = {
            .topic = t->name,
            .partition = i,
            .log_start_offset = offline ? -1 : storage_log_start_offset(log),
            .high_watermark = offline ? -1 : storage_log_end_offset(log),
            .size_bytes = log ? storage_log_size_bytes(log) : 0,
            .offline = offline,
        };
        on_partition(arg, &ps);
    }
}

void broker_stats_visit(broker_t *b, void (*on_topic)(void *arg, const broker_topic_stats_t *t),
                        void (*on_partition)(void *arg, const broker_partition_stats_t *p),
                        void *arg)
{
    broker_topics_rdlock(b);
    size_t n;
    broker_topic_t **v = broker_topics_list(b, &n);
    for (size_t i = 0; i < n; i++)
        visit_topic(v[i], on_topic, on_partition, arg);
    broker_topics_unlock(b);
    free(v);
}

void broker_stats(broker_t *b, broker_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->parked = atomic_load(&b->parked);
    if (b->flusher) {
        storage_flusher_stats_t fs;
        storage_flusher_stats(b->flusher, &fs);
        out->fsyncs = fs.syncs;
        out->fsync_bytes = fs.synced_bytes;
        out->fsync_seconds = fs.sync_seconds;
        out->fsync_group_size = fs.group_size;
    }
}
