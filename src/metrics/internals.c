/*
 * Weir's own series (weir_*), in base units: the protocol layer's requests, errors and latency
 * per API, bytes and records per topic, log sizes, the flusher's fsyncs and group commits, the
 * event loops' connections, network bytes and response buffers.
 *
 * Invariant: only series with something to say are written (an API never called has no
 * latency histogram, an ErrorCode never answered no counter), so a quiet broker's scrape stays
 * small; counters only ever grow for as long as the broker runs.
 */
#include "metrics/metrics_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* The protocol layer's stats, summed over the Kafka listeners (a broker with a PLAINTEXT and a
 * SASL_SSL listener reports one number per API, as Kafka's RequestMetrics do). */
typedef struct {
    uint64_t requests[KAFKA_STATS_APIS_MAX];
    metric_hist_snap_t latency[KAFKA_STATS_APIS_MAX];
    uint64_t errors[KAFKA_STATS_APIS_MAX][KAFKA_STATS_ERROR_MAX];
    uint64_t refused[KAFKA_REFUSED__COUNT];
    int64_t parked;
} requests_sum_t;

static void requests_sum(const metrics_t *m, requests_sum_t *sum)
{
    for (size_t k = 0; k < m->src.nlisteners; k++) {
        const kafka_stats_t *st = m->src.listeners[k].kafka->stats;
        for (size_t i = 0; i < kafka_apis_count; i++) {
            sum->requests[i] += metric_counter_get(&st->requests[i]);
            metric_hist_snap_t h;
            metric_hist_read(&st->latency[i], &h);
            if (k == 0)
                sum->latency[i] = h;
            else
                metric_hist_snap_add(&sum->latency[i], &h);
            for (size_t e = 0; e < KAFKA_STATS_ERROR_MAX; e++)
                sum->errors[i][e] += metric_counter_get(&st->errors[i][e]);
        }
        for (size_t r = 0; r < KAFKA_REFUSED__COUNT; r++)
            sum->refused[r] += metric_counter_get(&st->refused[r]);
        sum->parked += metric_gauge_get(&st->parked);
    }
}

static void write_requests(metrics_t *m, metric_writer_t *w)
{
    if (m->src.nlisteners == 0)
        return;
    requests_sum_t *sum = weir_calloc(1, sizeof(*sum)); /* about 64 KiB: not on the stack */
    requests_sum(m, sum);
    metric_family(w, "weir_kafka_requests", METRIC_COUNTER,
                  "Kafka requests received, by API (requests refused by closing the "
                  "connection included).");
    for (size_t i = 0; i < kafka_apis_count; i++) {
        metric_label_t l[] = {{"api", kafka_apis[i].name}};
        metric_sample_u64(w, l, 1, sum->requests[i]);
    }
    metric_family(w, "weir_kafka_request_duration_seconds", METRIC_HISTOGRAM,
                  "Time from a Kafka request's dispatch to its response, waits included "
                  "(long-poll fetches, acks=all produces, rebalances).");
    for (size_t i = 0; i < kafka_apis_count; i++) {
        if (sum->latency[i].count == 0)
            continue;
        metric_label_t l[] = {{"api", kafka_apis[i].name}};
        metric_sample_hist(w, l, 1, &sum->latency[i]);
    }
    metric_family(w, "weir_kafka_request_errors", METRIC_COUNTER,
                  "ErrorCodes answered, by API and Kafka error name (Produce and Fetch per "
                  "partition; JoinGroup, SyncGroup, Heartbeat, LeaveGroup per request).");
    for (size_t i = 0; i < kafka_apis_count; i++) {
        for (int e = 0; e < KAFKA_STATS_ERROR_MAX; e++) {
            if (sum->errors[i][e] == 0)
                continue;
            metric_label_t l[] = {{"api", kafka_apis[i].name},
                                  {"error", wire_err_name((int16_t)(e - 1))}};
            metric_sample_u64(w, l, 2, sum->errors[i][e]);
        }
    }
    metric_family(w, "weir_kafka_requests_refused", METRIC_COUNTER,
                  "Requests answered by closing the connection, as Kafka does, by reason.");
    for (int r = 0; r < KAFKA_REFUSED__COUNT; r++) {
        metric_label_t l[] = {{"reason", kafka_refused_names[r]}};
        metric_sample_u64(w, l, 1, sum->refused[r]);
    }
    metric_family(w, "weir_kafka_requests_parked", METRIC_GAUGE,
                  "Requests waiting inside the broker now (long-poll fetches, acks=all "
                  "produces, group requests).");
    metric_sample_i64(w, NULL, 0, sum->parked);
    free(sum);
}

typedef uint64_t (*topic_value_fn)(const metrics_topic_t *t);
static uint64_t t_prod_bytes(const metrics_topic_t *t)
{
    return t->st.produce_bytes;
}
static uint64_t t_prod_records(const metrics_topic_t *t)
{
    return t->st.produce_records;
}
static uint64_t t_schema_refused(const metrics_topic_t *t)
{
    return t->st.schema_refused_batches;
}
static uint64_t t_fetch_bytes(const metrics_topic_t *t)
{
    return t->st.fetch_bytes;
}
static uint64_t t_fetch_records(const metrics_topic_t *t)
{
    return t->st.fetch_records;
}
static uint64_t t_size(const metrics_topic_t *t)
{
    return t->size_bytes;
}

static void write_topic_family(metric_writer_t *w, const metrics_snap_t *s, const char *name,
                               metric_type_t type, const char *help, topic_value_fn value)
{
    metric_family(w, name, type, help);
    for (size_t i = 0; i < s->ntopics; i++) {
        metric_label_t l[] = {{"topic", s->topics[i].st.name}};
        metric_sample_u64(w, l, 1, value(&s->topics[i]));
    }
}

static void write_topics(metric_writer_t *w, const metrics_snap_t *s)
{
    write_topic_family(w, s, "weir_topic_produced_bytes", METRIC_COUNTER,
                       "Bytes of record batches appended to a topic by Produce requests.",
                       t_prod_bytes);
    write_topic_family(w, s, "weir_topic_produced_records", METRIC_COUNTER,
                       "Records appended to a topic by Produce requests.", t_prod_records);
    write_topic_family(w, s, "weir_topic_schema_validation_failures", METRIC_COUNTER,
                       "Record batches a topic's schema validation refused (INVALID_RECORD).",
                       t_schema_refused);
    write_topic_family(w, s, "weir_topic_fetched_bytes", METRIC_COUNTER,
                       "Bytes of record batches returned by Fetch requests.", t_fetch_bytes);
    write_topic_family(w, s, "weir_topic_fetched_records", METRIC_COUNTER,
                       "Records in the batches returned by Fetch requests.", t_fetch_records);
    write_topic_family(w, s, "weir_topic_log_size_bytes", METRIC_GAUGE,
                       "Bytes of a topic's log segments on disk, all partitions.", t_size);
    size_t offline = 0;
    for (size_t i = 0; i < s->nparts; i++)
        offline += s->parts[i].st.offline;
    metric_family(w, "weir_partitions_offline", METRIC_GAUGE,
                  "Partitions whose log is offline after a storage error.");
    metric_sample_u64(w, NULL, 0, offline);
    metric_family(w, "weir_metrics_partitions_omitted", METRIC_GAUGE,
                  "Partitions left without per-partition series by weir.metrics.partition.max.");
    metric_sample_u64(w, NULL, 0, s->omitted);
    metric_family(w, "weir_metrics_groups_complete", METRIC_GAUGE,
                  "1 when this scrape got the consumer groups from the coordinator, else 0.");
    metric_sample_u64(w, NULL, 0, s->groups_rc == 0 && s->groups.available);
}

static void write_storage(metrics_t *m, metric_writer_t *w)
{
    broker_stats_t bs;
    broker_stats(m->src.broker, &bs);
    metric_family(w, "weir_fsyncs", METRIC_COUNTER,
                  "fdatasync calls of the group-commit flusher on partition logs.");
    metric_sample_u64(w, NULL, 0, bs.fsyncs);
    metric_family(w, "weir_fsync_bytes", METRIC_COUNTER,
                  "Log bytes made durable by the flusher's fdatasync calls.");
    metric_sample_u64(w, NULL, 0, bs.fsync_bytes);
    metric_family(w, "weir_fsync_duration_seconds", METRIC_HISTOGRAM,
                  "Time in each fdatasync of a partition log.");
    metric_sample_hist(w, NULL, 0, &bs.fsync_seconds);
    metric_family(w, "weir_group_commit_size", METRIC_HISTOGRAM,
                  "acks=all waits released by one fdatasync (group commit).");
    metric_sample_hist(w, NULL, 0, &bs.fsync_group_size);
}

/* The memory budget of the connections' buffers (weir.memory.buffers.max.bytes). */
static void write_budget(metrics_t *m, metric_writer_t *w, uint64_t stalled)
{
    net_budget_stats_t bs;
    net_budget_stats(m->src.budget, &bs);
    metric_family(w, "weir_buffer_memory_bytes", METRIC_GAUGE,
                  "Memory held in connection buffers, counted against "
                  "weir.memory.buffers.max.bytes: unsent responses, kept buffers, partially "
                  "read requests.");
    metric_sample_u64(w, NULL, 0, bs.held_bytes);
    metric_family(w, "weir_buffer_memory_limit_bytes", METRIC_GAUGE,
                  "weir.memory.buffers.max.bytes in effect.");
    metric_sample_u64(w, NULL, 0, bs.max_bytes);
    metric_family(w, "weir_buffer_memory_throttled", METRIC_COUNTER,
                  "Times the buffer budget was full: a Fetch answered with less "
                  "(fetch_shrunk), a connection with a partial request stopped being read "
                  "(read_paused).");
    metric_label_t shrunk[] = {{"kind", "fetch_shrunk"}}, paused[] = {{"kind", "read_paused"}};
    metric_sample_u64(w, shrunk, 1, bs.fetches_shrunk);
    metric_sample_u64(w, paused, 1, bs.reads_paused);
    metric_family(w, "weir_requests_stalled", METRIC_COUNTER,
                  "Connections closed because a request stopped arriving part way "
                  "(weir.request.stall.timeout.ms).");
    metric_sample_u64(w, NULL, 0, stalled);
}

static void write_network(metrics_t *m, metric_writer_t *w)
{
    net_loop_stats_t sum;
    memset(&sum, 0, sizeof(sum));
    for (int i = 0; i < m->src.nloops; i++) {
        net_loop_stats_t st;
        net_loop_stats(m->src.loops[i], &st);
        sum.bytes_in += st.bytes_in;
        sum.bytes_out += st.bytes_out;
        sum.conns_opened += st.conns_opened;
        sum.conns_closed += st.conns_closed;
        sum.outbuf_bytes += st.outbuf_bytes;
        sum.kept_bytes += st.kept_bytes;
        sum.stalled += st.stalled;
        sum.sendfile_bytes += st.sendfile_bytes;
    }
    metric_family(w, "weir_connections", METRIC_GAUGE, "Open Kafka client connections.");
    uint64_t open = 0, refused = 0;
    for (size_t i = 0; i < m->src.nlisteners; i++) {
        if (m->src.listeners[i].net) {
            open += net_listener_conn_count(m->src.listeners[i].net);
            refused += net_listener_refused(m->src.listeners[i].net);
        }
    }
    metric_sample_u64(w, NULL, 0, open);
    metric_family(w, "weir_connections_opened", METRIC_COUNTER, "Kafka connections accepted.");
    metric_sample_u64(w, NULL, 0, sum.conns_opened);
    metric_family(w, "weir_connections_closed", METRIC_COUNTER, "Kafka connections closed.");
    metric_sample_u64(w, NULL, 0, sum.conns_closed);
    metric_family(w, "weir_connections_refused", METRIC_COUNTER,
                  "Connections closed at once because max.connections was reached.");
    metric_sample_u64(w, NULL, 0, refused);
    metric_family(w, "weir_network_received_bytes", METRIC_COUNTER,
                  "Bytes read from Kafka client connections.");
    metric_sample_u64(w, NULL, 0, sum.bytes_in);
    metric_family(w, "weir_network_sent_bytes", METRIC_COUNTER,
                  "Bytes written to Kafka client connections.");
    metric_sample_u64(w, NULL, 0, sum.bytes_out);
    metric_family(w, "weir_fetch_zero_copy_bytes", METRIC_COUNTER,
                  "Of the bytes sent, the record batches sent from segment files by sendfile, "
                  "without a copy in memory (weir.fetch.zero.copy).");
    metric_sample_u64(w, NULL, 0, sum.sendfile_bytes);
    metric_family(w, "weir_response_buffer_bytes", METRIC_GAUGE,
                  "Memory in response buffers: answers not yet sent (unsent), and the large "
                  "buffers the event loops keep for the next fetch (kept).");
    metric_label_t unsent[] = {{"kind", "unsent"}}, kept[] = {{"kind", "kept"}};
    metric_sample_i64(w, unsent, 1, sum.outbuf_bytes);
    metric_sample_i64(w, kept, 1, sum.kept_bytes);
    write_budget(m, w, sum.stalled);
}

void metrics_write_internals(metrics_t *m, metric_writer_t *w, const metrics_snap_t *s)
{
    write_requests(m, w);
    write_topics(w, s);
    write_storage(m, w);
    write_network(m, w);
}
