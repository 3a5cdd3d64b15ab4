/*
 * metrics_internal: what the files of src/metrics share: the metrics_t, and the snapshot a
 * scrape takes of topics, partitions and groups before it formats anything.
 */
#ifndef WEIR_METRICS_INTERNAL_H
#define WEIR_METRICS_INTERNAL_H

#include "metrics/metrics.h"

/* How long a scrape waits for the group coordinator's answer before it leaves groups out. */
#define METRICS_GROUPS_TIMEOUT_MS 2000

struct metrics {
    metrics_sources_t src;
    char *advertised;
    _Atomic int64_t last_scrape_ns;
    _Atomic size_t omitted_warned; /* the omitted count last warned about */
};

typedef struct {
    broker_topic_stats_t st; /* name owned */
    size_t first_part;       /* index of its partition 0 in parts */
    uint64_t size_bytes;     /* sum over its partitions */
} metrics_topic_t;

typedef struct {
    broker_partition_stats_t st; /* topic points at its metrics_topic_t's name */
    bool labelled;               /* has per-partition series (the cap) */
    char pn[12];                 /* the partition number as a label value */
} metrics_part_t;

typedef struct {
    metrics_topic_t *topics; /* sorted by name */
    size_t ntopics, captopics;
    metrics_part_t *parts; /* by topic, then partition */
    size_t nparts, capparts;
    bool labels;      /* weir.metrics.partition.labels */
    size_t max_parts; /* weir.metrics.partition.max */
    bool sums;        /* weir.metrics.consumergroup.sums */
    size_t omitted;   /* partitions left without per-partition series */
    broker_groups_snapshot_t groups;
    int groups_rc; /* of broker_groups_snapshot: groups are missing unless 0 */
} metrics_snap_t;

void metrics_snap_take(metrics_t *m, metrics_snap_t *s);
void metrics_snap_free(metrics_snap_t *s);
/* A partition of the snapshot, or NULL. */
const metrics_part_t *metrics_snap_part(const metrics_snap_t *s, const char *topic,
                                        int32_t partition);

/* internals.c: the weir_* series. */
void metrics_write_internals(metrics_t *m, metric_writer_t *w, const metrics_snap_t *s);

#endif
