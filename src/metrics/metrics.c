/*
 * The /metrics exposition: a snapshot of topics, partitions and groups first (copied under the
 * broker's locks, formatted after), then kafka_exporter's families from it, then Weir's own
 * series (internals.c), then the process.
 *
 * Invariant: every family is written whole, its samples together; per-partition series exist
 * only for the first weir.metrics.partition.max partitions in topic order (the "labelled"
 * ones), and a group's per-partition series only for labelled partitions, so one cap bounds
 * both.
 */
#include "metrics/metrics_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- the snapshot ------------------------------------------------------------------------------
 */

static void snap_topic(void *arg, const broker_topic_stats_t *t)
{
    metrics_snap_t *s = arg;
    if (s->ntopics == s->captopics) {
        s->captopics = s->captopics ? s->captopics * 2 : 64;
        s->topics = weir_realloc(s->topics, s->captopics * sizeof(*s->topics));
    }
    metrics_topic_t *mt = &s->topics[s->ntopics++];
    mt->st = *t;
    mt->st.name = weir_strdup(t->name);
    mt->first_part = s->nparts;
    mt->size_bytes = 0;
}

static void snap_partition(void *arg, const broker_partition_stats_t *p)
{
    metrics_snap_t *s = arg;
    if (s->nparts == s->capparts) {
        s->capparts = s->capparts ? s->capparts * 2 : 256;
        s->parts = weir_realloc(s->parts, s->capparts * sizeof(*s->parts));
    }
    metrics_topic_t *mt = &s->topics[s->ntopics - 1];
    metrics_part_t *mp = &s->parts[s->nparts++];
    mp->st = *p;
    mp->st.topic = mt->st.name;
    mp->labelled = s->labels && s->nparts <= s->max_parts;
    snprintf(mp->pn, sizeof(mp->pn), "%" PRId32, p->partition);
    mt->size_bytes += p->size_bytes;
}

void metrics_snap_take(metrics_t *m, metrics_snap_t *s)
{
    memset(s, 0, sizeof(*s));
    const broker_settings_t *set = broker_settings(m->src.broker);
    s->labels = broker_settings_int(set, BCFG_METRICS_PARTITION_LABELS) != 0;
    s->max_parts = (size_t)broker_settings_int(set, BCFG_METRICS_PARTITION_MAX);
    s->sums = broker_settings_int(set, BCFG_METRICS_CONSUMERGROUP_SUMS) != 0;
    broker_stats_visit(m->src.broker, snap_topic, snap_partition, s);
    if (s->labels && s->nparts > s->max_parts)
        s->omitted = s->nparts - s->max_parts;
    s->groups_rc = broker_groups_snapshot(m->src.broker, METRICS_GROUPS_TIMEOUT_MS, &s->groups);
}

void metrics_snap_free(metrics_snap_t *s)
{
    for (size_t i = 0; i < s->ntopics; i++)
        free((char *)s->topics[i].st.name);
    free(s->topics);
    free(s->parts);
    broker_groups_snapshot_free(&s->groups);
    memset(s, 0, sizeof(*s));
}

static int topic_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const metrics_topic_t *)elem)->st.name);
}

const metrics_part_t *metrics_snap_part(const metrics_snap_t *s, const char *topic,
                                        int32_t partition)
{
    const metrics_topic_t *t = bsearch(topic, s->topics, s->ntopics, sizeof(*s->topics), topic_cmp);
    if (!t || partition < 0 || partition >= t->st.partitions)
        return NULL;
    return &s->parts[t->first_part + (size_t)partition];
}

/* ---- kafka_exporter's topic and partition families ----------------------------------------------
 */

typedef int64_t (*part_value_fn)(const metrics_t *m, const metrics_part_t *p);

static int64_t part_current(const metrics_t *m, const metrics_part_t *p)
{
    return p->st.high_watermark;
}
static int64_t part_oldest(const metrics_t *m, const metrics_part_t *p)
{
    return p->st.log_start_offset;
}
static int64_t part_leader(const metrics_t *m, const metrics_part_t *p)
{
    return broker_node_id(m->src.broker);
}
static int64_t part_one(const metrics_t *m, const metrics_part_t *p)
{
    return 1;
}
static int64_t part_under_replicated(const metrics_t *m, const metrics_part_t *p)
{
    return p->st.offline ? 1 : 0;
}
static int64_t part_isr(const metrics_t *m, const metrics_part_t *p)
{
    return p->st.offline ? 0 : 1;
}
static int64_t part_size(const metrics_t *m, const metrics_part_t *p)
{
    return (int64_t)p->st.size_bytes;
}

/* One gauge family with a sample per labelled partition. */
static void write_part_family(const metrics_t *m, metric_writer_t *w, const metrics_snap_t *s,
                              const char *name, const char *help, part_value_fn value)
{
    metric_family(w, name, METRIC_GAUGE, help);
    for (size_t i = 0; i < s->nparts; i++) {
        const metrics_part_t *p = &s->parts[i];
        if (!p->labelled)
            continue;
        metric_label_t l[] = {{"partition", p->pn}, {"topic", p->st.topic}};
        metric_sample_i64(w, l, 2, value(m, p));
    }
}

static void write_topics(metrics_t *m, metric_writer_t *w, const metrics_snap_t *s)
{
    metric_family(w, "kafka_brokers", METRIC_GAUGE, "Number of Brokers in the Kafka Cluster.");
    metric_sample_i64(w, NULL, 0, 1);
    char id[16];
    snprintf(id, sizeof(id), "%" PRId32, broker_node_id(m->src.broker));
    metric_family(w, "kafka_broker_info", METRIC_GAUGE, "Information about the Kafka Broker.");
    metric_label_t bl[] = {{"address", m->src.advertised ? m->src.advertised : ""}, {"id", id}};
    metric_sample_i64(w, bl, 2, 1);
    metric_family(w, "kafka_topic_partitions", METRIC_GAUGE, "Number of partitions for this Topic");
    for (size_t i = 0; i < s->ntopics; i++) {
        metric_label_t l[] = {{"topic", s->topics[i].st.name}};
        metric_sample_i64(w, l, 1, s->topics[i].st.partitions);
    }
    if (!s->labels)
        return;
    write_part_family(m, w, s, "kafka_topic_partition_current_offset",
                      "Current Offset of a Broker at Topic/Partition", part_current);
    write_part_family(m, w, s, "kafka_topic_partition_oldest_offset",
                      "Oldest Offset of a Broker at Topic/Partition", part_oldest);
    write_part_family(m, w, s, "kafka_topic_partition_in_sync_replica",
                      "Number of In-Sync Replicas for this Topic/Partition", part_isr);
    write_part_family(m, w, s, "kafka_topic_partition_leader",
                      "Leader Broker ID of this Topic/Partition", part_leader);
    write_part_family(m, w, s, "kafka_topic_partition_leader_is_preferred",
                      "1 if Topic/Partition is using the Preferred Broker", part_one);
    write_part_family(m, w, s, "kafka_topic_partition_replicas",
                      "Number of Replicas for this Topic/Partition", part_one);
    write_part_family(m, w, s, "kafka_topic_partition_under_replicated_partition",
                      "1 if Topic/Partition is under Replicated", part_under_replicated);
    write_part_family(m, w, s, "weir_partition_log_size_bytes",
                      "Bytes of a partition's log segments on disk.", part_size);
}

/* ---- kafka_exporter's consumer group families -------------------------------------------------
 */

/* A committed offset's lag: the high watermark minus the offset, never below 0; -1 when the
 * partition is gone or the group committed nothing usable. */
static int64_t lag_of(const metrics_snap_t *s, const broker_group_offset_t *o,
                      const metrics_part_t **pp)
{
    const metrics_part_t *p = metrics_snap_part(s, o->topic, o->partition);
    *pp = p;
    if (!p || p->st.offline || o->offset < 0)
        return -1;
    return o->offset >= p->st.high_watermark ? 0 : p->st.high_watermark - o->offset;
}

/* Per group and partition: the committed offset (lag false) or the lag (lag true). */
static void write_group_parts(metric_writer_t *w, const metrics_snap_t *s, bool lag)
{
    for (size_t i = 0; i < s->groups.count; i++) {
        const broker_group_snap_t *g = &s->groups.groups[i];
        for (size_t j = 0; j < g->noffsets; j++) {
            const metrics_part_t *p;
            int64_t l = lag_of(s, &g->offsets[j], &p);
            if (!p || !p->labelled || (lag && l < 0))
                continue;
            metric_label_t lb[] = {{"consumergroup", g->group_id},
                                   {"partition", p->pn},
                                   {"topic", g->offsets[j].topic}};
            metric_sample_i64(w, lb, 3, lag ? l : g->offsets[j].offset);
        }
    }
}

/* Per group and topic: the sum of committed offsets (lag false) or of lags. Offsets are sorted
 * by topic, so each topic is one run. */
static void write_group_sums(metric_writer_t *w, const metrics_snap_t *s, bool lag)
{
    for (size_t i = 0; i < s->groups.count; i++) {
        const broker_group_snap_t *g = &s->groups.groups[i];
        for (size_t j = 0; j < g->noffsets;) {
            const char *topic = g->offsets[j].topic;
            int64_t sum = 0;
            bool any = false;
            for (; j < g->noffsets && strcmp(g->offsets[j].topic, topic) == 0; j++) {
                const metrics_part_t *p;
                int64_t l = lag_of(s, &g->offsets[j], &p);
                if (lag && l >= 0) {
                    sum += l;
                    any = true;
                } else if (!lag && g->offsets[j].offset >= 0) {
                    sum += g->offsets[j].offset;
                    any = true;
                }
            }
            if (!any)
                continue;
            metric_label_t lb[] = {{"consumergroup", g->group_id}, {"topic", topic}};
            metric_sample_i64(w, lb, 2, sum);
        }
    }
}

/* kafka_exporter's own families, in its order. Its two "_sum" families are gauges whose names
 * promtool's linter reserves for histograms and summaries; weir.metrics.consumergroup.sums
 * leaves them out for a lint-clean exposition. */
static void write_groups(metric_writer_t *w, const metrics_snap_t *s)
{
    if (s->labels) {
        metric_family(w, "kafka_consumergroup_current_offset", METRIC_GAUGE,
                      "Current Offset of a ConsumerGroup at Topic/Partition");
        write_group_parts(w, s, false);
    }
    if (s->sums) {
        metric_family(w, "kafka_consumergroup_current_offset_sum", METRIC_GAUGE,
                      "Current Offset of a ConsumerGroup at Topic for all partitions");
        write_group_sums(w, s, false);
    }
    if (s->labels) {
        metric_family(w, "kafka_consumergroup_lag", METRIC_GAUGE,
                      "Current Approximate Lag of a ConsumerGroup at Topic/Partition");
        write_group_parts(w, s, true);
    }
    if (s->sums) {
        metric_family(w, "kafka_consumergroup_lag_sum", METRIC_GAUGE,
                      "Current Approximate Lag of a ConsumerGroup at Topic for all partitions");
        write_group_sums(w, s, true);
    }
    metric_family(w, "kafka_consumergroup_members", METRIC_GAUGE,
                  "Amount of members in a consumer group");
    for (size_t i = 0; i < s->groups.count; i++) {
        metric_label_t lb[] = {{"consumergroup", s->groups.groups[i].group_id}};
        metric_sample_i64(w, lb, 1, s->groups.groups[i].members);
    }
    metric_family(w, "weir_consumergroup_generation", METRIC_GAUGE,
                  "The group's generation: a classic group's generation id, a consumer group's "
                  "(KIP-848) group epoch.");
    for (size_t i = 0; i < s->groups.count; i++) {
        metric_label_t lb[] = {{"consumergroup", s->groups.groups[i].group_id}};
        metric_sample_i64(w, lb, 1, s->groups.groups[i].generation);
    }
    metric_family(w, "weir_consumergroup_state", METRIC_GAUGE,
                  "1 for the state a consumer group is in (Kafka's names: Stable, Empty, ...).");
    for (size_t i = 0; i < s->groups.count; i++) {
        const broker_group_snap_t *g = &s->groups.groups[i];
        metric_label_t lb[] = {{"consumergroup", g->group_id}, {"state", g->state}};
        metric_sample_i64(w, lb, 2, 1);
    }
}

/* ---- the whole exposition and the route -------------------------------------------------------
 */

static void warn_omitted(metrics_t *m, size_t omitted)
{
    size_t prev = atomic_exchange(&m->omitted_warned, omitted);
    if (omitted && omitted != prev)
        log_warn("metrics",
                 "%zu partitions have no per-partition series (weir.metrics.partition.max is "
                 "%lld); their topics and groups are still summed",
                 omitted,
                 (long long)broker_settings_int(broker_settings(m->src.broker),
                                                BCFG_METRICS_PARTITION_MAX));
}

void metrics_render(metrics_t *m, bool openmetrics, buf_t *out)
{
    int64_t t0 = clock_mono_ns();
    metrics_snap_t s;
    metrics_snap_take(m, &s);
    warn_omitted(m, s.omitted);
    buf_reserve(out, 16384 + s.nparts * (s.labels ? 700 : 0)); /* ~8 series of ~80 bytes */
    metric_writer_t w;
    metric_writer_init(&w, out, openmetrics);
    write_topics(m, &w, &s);
    write_groups(&w, &s);
    metrics_write_internals(m, &w, &s);
    metric_write_process(&w);
    metric_family(&w, "weir_metrics_scrape_duration_seconds", METRIC_GAUGE,
                  "Time the previous scrape of /metrics took to build.");
    metric_sample_f64(&w, NULL, 0, (double)atomic_load(&m->last_scrape_ns) * 1e-9);
    metric_writer_finish(&w);
    metrics_snap_free(&s);
    atomic_store(&m->last_scrape_ns, clock_mono_ns() - t0);
}

static void metrics_http(void *arg, const http_request_t *req, http_response_t *resp)
{
    metrics_t *m = arg;
    bool om = metric_accept_openmetrics(http_request_header(req, "Accept"));
    metrics_render(m, om, &resp->body);
    resp->content_type = om ? METRIC_CONTENT_TYPE_OPENMETRICS : METRIC_CONTENT_TYPE_TEXT;
}

void metrics_new(const metrics_sources_t *src, metrics_t **out)
{
    metrics_t *m = weir_calloc(1, sizeof(*m));
    m->src = *src;
    if (src->advertised)
        m->src.advertised = m->advertised = weir_strdup(src->advertised);
    *out = m;
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    free(m->advertised);
    free(m);
}

void metrics_route(metrics_t *m, http_server_t *h)
{
    http_server_route(h, "GET", "/metrics", metrics_http, m);
}
