/*
 * metrics: the broker's GET /metrics on the HTTP listener, in the Prometheus text format 0.0.4,
 * or OpenMetrics 1.0 when the scraper's Accept header asks for it (Prometheus does).
 *
 * Topics, partitions and consumer groups carry kafka_exporter's names and labels
 * (kafka_brokers, kafka_topic_partitions, kafka_topic_partition_current_offset,
 * kafka_consumergroup_lag, ...), so dashboards made for it work unchanged; Weir's own internals
 * are weir_* series in base units (seconds, bytes), read from the modules that measure them:
 * the protocol layer (requests, errors, latency per API), the broker (bytes and records per
 * topic, log sizes, parked requests), storage's flusher (fsyncs, group commit), the event loops
 * (connections, network bytes, response buffers) and the process (/proc/self).
 *
 * Cardinality: per-partition series (partition offsets, log size, a group's lag per partition)
 * are off with weir.metrics.partition.labels=false and capped at weir.metrics.partition.max
 * partitions (in topic name order; a warning is logged when the cap cuts series, and
 * weir_metrics_partitions_omitted says how many). Per-topic and per-group sums are always there.
 *
 * Threads: a scrape runs on the HTTP thread; it takes the broker's registry read lock while it
 * copies partition numbers, posts one call to the group coordinator for committed offsets, and
 * reads every counter without a lock. Several scrapes may run at once.
 */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include "base/base.h"
#include "broker/broker.h"
#include "http/http.h"
#include "kafka/kafka.h"
#include "net/net.h"

typedef struct metrics metrics_t;

/* Where the numbers come from; everything must outlive the metrics_t (the server frees the
 * metrics after the HTTP listener stopped). */
#define METRICS_LISTENERS_MAX 8

/* One Kafka listener: its protocol context (its stats) and its TCP listener (open and refused
 * connections). The series sum every listener's numbers. */
typedef struct {
    const kafka_listener_t *kafka;
    const net_listener_t *net;
} metrics_listener_t;

typedef struct {
    broker_t *broker;
    net_loop_t **loops; /* the io loops */
    int nloops;
    const net_budget_t *budget;                          /* their memory budget */
    metrics_listener_t listeners[METRICS_LISTENERS_MAX]; /* the Kafka listeners */
    size_t nlisteners;
    const char *advertised; /* "host:port" clients are told (the first listener's), for
                             * kafka_broker_info */
} metrics_sources_t;

void metrics_new(const metrics_sources_t *src, metrics_t **out);
void metrics_free(metrics_t *m);
/* Registers GET /metrics. Before the HTTP server starts. */
void metrics_route(metrics_t *m, http_server_t *h);
/* One whole exposition into out (what GET /metrics answers; tests and benchmarks call it). */
void metrics_render(metrics_t *m, bool openmetrics, buf_t *out);

#endif
