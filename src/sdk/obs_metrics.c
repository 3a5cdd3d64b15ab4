/*
 * The app's own GET /metrics (libmicrohttpd, on its own thread), in the Prometheus text format:
 * the app's counters (received, handled, retried, dead-lettered ...), a handler latency
 * histogram per route, the consumer lag of each assigned partition, span export counts and the
 * process's series. Also the start and stop of the observability parts (obs_trace.c has spans).
 *
 * Invariant: a scrape takes app->lock only to copy the partition list; watermarks come from
 * librdkafka's cache (no broker round trip), so a scrape never waits on the network.
 */
#include "sdk/sdk.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>

/* obs_trace.c owns the rest of the struct's life; these are the metrics listener's parts. */
#include "sdk/obs_internal.h"

typedef uint64_t (*stat_fn)(const weir_stats *s);

typedef struct {
    const char *name;
    const char *help;
    size_t offset; /* in weir_stats */
} app_counter_t;

#define STAT(field) offsetof(weir_stats, field)
static const app_counter_t app_counters[] = {
    {"weir_app_events_received", "Events taken from the consumer.", STAT(received)},
    {"weir_app_events_handled", "Events whose handler returned OK.", STAT(handled)},
    {"weir_app_handler_calls", "Handler calls, retries included.", STAT(handler_calls)},
    {"weir_app_events_retried", "RETRY results followed by another attempt.", STAT(retried)},
    {"weir_app_events_dead_lettered", "Events sent to a dead-letter topic.", STAT(dead_lettered)},
    {"weir_app_events_deduplicated", "Events skipped because their ce_id was handled.",
     STAT(deduplicated)},
    {"weir_app_events_unrouted", "Events no route matched.", STAT(unrouted)},
    {"weir_app_events_emitted", "Events produced or written to the outbox by handlers.",
     STAT(emitted)},
    {"weir_app_outbox_published", "Outbox rows the relay published.", STAT(outbox_published)},
    {"weir_app_commits", "Offset commits acknowledged by the group coordinator.", STAT(commits)},
    {"weir_app_rebalances", "Partition assignments received.", STAT(rebalances)},
};

static void render_counters(weir_app *app, metric_writer_t *w)
{
    weir_stats st;
    weir_app_stats(app, &st);
    metric_label_t l[] = {{"group", app->group ? app->group : app->projection}};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(app_counters); i++) {
        metric_family(w, app_counters[i].name, METRIC_COUNTER, app_counters[i].help);
        uint64_t v;
        memcpy(&v, (const char *)&st + app_counters[i].offset, sizeof(v));
        metric_sample_u64(w, l, 1, v);
    }
    metric_family(w, "weir_app_ready", METRIC_GAUGE,
                  "1 once the app has its partitions assigned and until it stops.");
    metric_sample_u64(w, l, 1, weir_app_ready(app) ? 1 : 0);
}

static void render_latency(weir_app *app, metric_writer_t *w)
{
    metric_family(w, "weir_app_handler_duration_seconds", METRIC_HISTOGRAM,
                  "Time in a handler call, per route (topic and event type; \"*\" for any).");
    /* Routes may still be added (and the array moved) until weir_app_run begins. */
    for (size_t i = 0; atomic_load(&app->routes_fixed) && i < app->nroutes; i++) {
        const sdk_route_t *r = &app->routes[i];
        metric_hist_snap_t s;
        metric_hist_read(&r->latency, &s);
        metric_label_t l[] = {{"topic", r->topic}, {"type", r->type ? r->type : "*"}};
        metric_sample_hist(w, l, 2, &s);
    }
}

typedef struct {
    char *topic;
    int32_t partition;
    int64_t position; /* the next offset to finish, or -1 */
} lag_part_t;

/* Lag per assigned partition: the high watermark librdkafka last saw minus the offset after
 * the last event finished (or committed, before any finished). */
static void render_lag(weir_app *app, metric_writer_t *w)
{
    pthread_mutex_lock(&app->lock);
    size_t n = app->nparts;
    lag_part_t *v = weir_calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        const sdk_part_t *p = app->parts[i];
        v[i] = (lag_part_t){weir_strdup(p->topic), p->partition,
                            p->done >= 0 ? p->done : p->committed};
    }
    pthread_mutex_unlock(&app->lock);
    metric_family(w, "weir_app_consumer_lag", METRIC_GAUGE,
                  "Events of an assigned partition not yet finished: the high watermark minus "
                  "the next offset to finish.");
    for (size_t i = 0; i < n; i++) {
        int64_t lo = -1, hi = -1;
        if (app->consumer && v[i].position >= 0 &&
            rd_kafka_get_watermark_offsets(app->consumer, v[i].topic, v[i].partition, &lo, &hi) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi >= 0) {
            char pn[16];
            snprintf(pn, sizeof(pn), "%d", (int)v[i].partition);
            metric_label_t l[] = {{"partition", pn}, {"topic", v[i].topic}};
            metric_sample_i64(w, l, 2, hi > v[i].position ? hi - v[i].position : 0);
        }
        free(v[i].topic);
    }
    free(v);
}

void sdk_obs_render(weir_app *app, buf_t *out)
{
    metric_writer_t w;
    metric_writer_init(&w, out, false);
    render_counters(app, &w);
    render_latency(app, &w);
    render_lag(app, &w);
    uint64_t exported = 0, dropped = 0;
    weir_app_span_counts(app, &exported, &dropped);
    metric_family(&w, "weir_app_spans_exported", METRIC_COUNTER,
                  "Spans the OTLP collector accepted.");
    metric_sample_u64(&w, NULL, 0, exported);
    metric_family(&w, "weir_app_spans_dropped", METRIC_COUNTER,
                  "Spans dropped: the export queue was full or the collector failed.");
    metric_sample_u64(&w, NULL, 0, dropped);
    metric_write_process(&w);
    metric_writer_finish(&w);
}

/* ---- the listener ------------------------------------------------------------------------------
 */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    weir_app *app = cls;
    if (!*con_cls) { /* headers only: answer on the next call */
        *con_cls = (void *)1;
        return MHD_YES;
    }
    *upload_size = 0;
    buf_t body = {0};
    unsigned status = MHD_HTTP_OK;
    if (strcmp(url, "/metrics") != 0) {
        status = MHD_HTTP_NOT_FOUND;
        buf_append_str(&body, "only /metrics here\n");
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        buf_append_str(&body, "use GET\n");
    } else {
        sdk_obs_render(app, &body);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        body.len, body.data ? body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type",
                            status == MHD_HTTP_OK ? METRIC_CONTENT_TYPE_TEXT : "text/plain");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    buf_deinit(&body);
    return rc;
}

/* Parses "host:port" (IPv4 or "localhost"; empty host = every address). */
static int parse_listen(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return -WEIR_EINVAL;
    char host[64];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof(host))
        return -WEIR_EINVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return -WEIR_EINVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (!host[0])
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
                       &sa->sin_addr) != 1)
        return -WEIR_EINVAL;
    return 0;
}

int sdk_obs_metrics_start(weir_app *app, sdk_obs_t *o, const char *listen, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    if (parse_listen(listen, &sa) != 0) {
        snprintf(err, errlen, "metrics_listen '%s': expected HOST:PORT with an IPv4 host", listen);
        return -WEIR_EINVAL;
    }
    o->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, ntohs(sa.sin_port), NULL, NULL,
                              on_request, app, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!o->mhd) {
        snprintf(err, errlen, "metrics_listen '%s': cannot listen there", listen);
        return -WEIR_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(o->mhd, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
    snprintf(o->metrics_addr, sizeof(o->metrics_addr), "%s:%u", host,
             info ? info->port : ntohs(sa.sin_port));
    return 0;
}

void sdk_obs_metrics_stop(sdk_obs_t *o)
{
    if (o->mhd)
        MHD_stop_daemon(o->mhd);
    o->mhd = NULL;
}

const char *weir_app_metrics_address(const weir_app *app)
{
    return app->obs && app->obs->mhd ? app->obs->metrics_addr : NULL;
}

void sdk_obs_handled(weir_app *app, weir_ctx *ctx, const rd_kafka_message_t *m, weir_result result,
                     int attempt, int64_t start_wall_ns, int64_t dur_ns)
{
    metric_hist_observe((metric_hist_t *)&ctx->route->latency, (uint64_t)dur_ns);
    if (sdk_obs_tracing(app))
        sdk_obs_trace_handled(app, ctx, m, result, attempt, start_wall_ns, dur_ns);
}
