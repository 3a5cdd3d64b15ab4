/*
 * Spans, exported as OTLP/HTTP JSON (the OpenTelemetry protocol's JSON encoding, POSTed to
 * <endpoint>/v1/traces): "process <topic>" for each handler call (a child of the event's
 * traceparent, with the handler's own span id, the one weir_ctx_traceparent() gives), "publish
 * <topic>" for each produced record once the broker acknowledged it (with its partition and
 * offset, a child of the traceparent the record carries), and "create <topic>" where an event
 * emitted outside a handler starts a new trace (its root). Attributes follow OpenTelemetry's
 * messaging conventions (messaging.system, messaging.destination.name,
 * messaging.kafka.destination.partition, messaging.kafka.message.offset,
 * messaging.consumer.group.name, messaging.message.id) plus weir.event.type, weir.attempt and
 * weir.result.
 *
 * Invariant: producers of spans (workers, the delivery thread, emitters) only copy a span into
 * a bounded ring under a mutex; the exporter thread alone talks to the collector, in batches,
 * with a timeout, and counts what it could not deliver as dropped. No allocation per span.
 */
#include "sdk/obs_internal.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void hex(buf_t *b, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        buf_append_u8(b, (uint8_t)digits[p[i] >> 4]);
        buf_append_u8(b, (uint8_t)digits[p[i] & 15]);
    }
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(buf_t *b, const char *s)
{
    buf_append_u8(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            buf_printf(b, "\\u%04x", c);
        else
            buf_append_u8(b, c);
    }
    buf_append_u8(b, '"');
}

static void attr_str(buf_t *b, bool *first, const char *key, const char *v)
{
    if (!v || !*v)
        return;
    buf_append_str(b, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    json_str(b, key);
    buf_append_str(b, ",\"value\":{\"stringValue\":");
    json_str(b, v);
    buf_append_str(b, "}}");
}

static void attr_int(buf_t *b, bool *first, const char *key, int64_t v)
{
    buf_append_str(b, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    json_str(b, key);
    buf_printf(b, ",\"value\":{\"intValue\":\"%" PRId64 "\"}}", v);
}

static void span_json(buf_t *b, const sdk_span_t *s, const char *group)
{
    buf_append_str(b, "{\"traceId\":\"");
    hex(b, s->trace_id, 16);
    buf_append_str(b, "\",\"spanId\":\"");
    hex(b, s->span_id, 8);
    if (s->has_parent) {
        buf_append_str(b, "\",\"parentSpanId\":\"");
        hex(b, s->parent_id, 8);
    }
    buf_append_str(b, "\",\"name\":");
    json_str(b, s->name);
    buf_printf(b,
               ",\"kind\":%d,\"startTimeUnixNano\":\"%" PRId64 "\",\"endTimeUnixNano\":\"%" PRId64
               "\",\"attributes\":[",
               s->kind, s->start_ns, s->end_ns);
    bool first = true;
    attr_str(b, &first, "messaging.system", "kafka");
    attr_str(b, &first, "messaging.operation", s->kind == 5 ? "process" : "publish");
    attr_str(b, &first, "messaging.destination.name", s->topic);
    if (s->partition >= 0)
        attr_int(b, &first, "messaging.kafka.destination.partition", s->partition);
    if (s->offset >= 0)
        attr_int(b, &first, "messaging.kafka.message.offset", s->offset);
    if (s->kind == 5)
        attr_str(b, &first, "messaging.consumer.group.name", group);
    attr_str(b, &first, "messaging.message.id", s->event_id);
    attr_str(b, &first, "weir.event.type", s->event_type);
    if (s->attempt > 0)
        attr_int(b, &first, "weir.attempt", s->attempt);
    attr_str(b, &first, "weir.result", s->result);
    buf_printf(b, "],\"status\":{\"code\":%d}}", s->error ? 2 : 1);
}

static void batch_json(buf_t *b, const sdk_obs_t *o, const weir_app *app, const sdk_span_t *v,
                       size_t n)
{
    buf_append_str(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    bool first = true;
    attr_str(b, &first, "service.name", o->service_name);
    attr_str(b, &first, "service.instance.id", app->client_id);
    buf_append_str(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"libweir\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append_u8(b, ',');
        span_json(b, &v[i], app->group ? app->group : app->projection);
    }
    buf_append_str(b, "]}]}]}");
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    return size * n;
}

/* One POST; true when the collector took it (2xx). */
static bool post(CURL *c, const sdk_obs_t *o, const buf_t *body)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, o->traces_url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body->data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body->len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return rc == CURLE_OK && status >= 200 && status < 300;
}

/* Takes up to SDK_SPAN_BATCH_MAX spans off the ring into v (o->mu held). */
static size_t take(sdk_obs_t *o, sdk_span_t *v)
{
    size_t n = WEIR_MIN(o->len, (size_t)SDK_SPAN_BATCH_MAX);
    for (size_t i = 0; i < n; i++)
        v[i] = o->queue[(o->head + i) % SDK_SPAN_QUEUE_MAX];
    o->head = (o->head + n) % SDK_SPAN_QUEUE_MAX;
    o->len -= n;
    return n;
}

static void *exporter_main(void *arg)
{
    weir_app *app = arg;
    sdk_obs_t *o = app->obs;
    sdk_span_t *batch = weir_malloc(SDK_SPAN_BATCH_MAX * sizeof(*batch));
    CURL *c = curl_easy_init();
    buf_t body = {0};
    int64_t last_warn_ms = 0;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        if (o->len < SDK_SPAN_BATCH_MAX && !o->stop) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += SDK_SPAN_FLUSH_MS * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000;
            until.tv_nsec %= 1000000000;
            pthread_cond_timedwait(&o->cv, &o->mu, &until);
        }
        size_t n = take(o, batch);
        bool stop = o->stop;
        pthread_mutex_unlock(&o->mu);
        if (n) {
            buf_reset(&body);
            batch_json(&body, o, app, batch, n);
            buf_append_u8(&body, '\0');
            body.len--;
            bool ok = c && post(c, o, &body);
            atomic_fetch_add(ok ? &o->exported : &o->dropped, n);
            if (!ok && clock_mono_ms() - last_warn_ms > 60000) {
                last_warn_ms = clock_mono_ms();
                sdk_app_log(app, WEIR_LOG_WARN, "OTLP export to %s failed: %zu spans dropped",
                            o->traces_url, n);
            }
        }
        pthread_mutex_lock(&o->mu);
        if (stop && o->len == 0)
            break;
    }
    pthread_mutex_unlock(&o->mu);
    buf_deinit(&body);
    if (c)
        curl_easy_cleanup(c);
    free(batch);
    return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void sdk_curl_init(void)
{
    pthread_once(&curl_once, curl_init_once);
}

/* The endpoint from the config or the OpenTelemetry environment variables. */
static char *traces_url(const weir_app_config *cfg)
{
    const char *e = cfg->otlp_endpoint;
    if (!e) {
        const char *t = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        if (t && *t)
            return weir_strdup(t); /* the full URL, as OpenTelemetry defines it */
        e = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    }
    if (!e || !*e)
        return NULL;
    size_t n = strlen(e);
    while (n && e[n - 1] == '/')
        n--;
    char *url = weir_malloc(n + 11);
    snprintf(url, n + 11, "%.*s/v1/traces", (int)n, e);
    return url;
}

int sdk_obs_start(weir_app *app, char *err, size_t errlen)
{
    const weir_app_config *cfg = &app->cfg;
    char *url = traces_url(cfg);
    if (!url && !cfg->metrics_listen)
        return 0;
    sdk_obs_t *o = weir_calloc(1, sizeof(*o));
    app->obs = o;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    o->traces_url = url;
    const char *svc = cfg->service_name ? cfg->service_name : getenv("OTEL_SERVICE_NAME");
    o->service_name = weir_strdup(svc && *svc ? svc : app->client_id);
    if (cfg->metrics_listen) {
        int r = sdk_obs_metrics_start(app, o, cfg->metrics_listen, err, errlen);
        if (r)
            return r;
    }
    if (url) {
        sdk_curl_init();
        o->queue = weir_malloc(SDK_SPAN_QUEUE_MAX * sizeof(*o->queue));
        if (pthread_create(&o->thread, NULL, exporter_main, app) != 0) {
            snprintf(err, errlen, "cannot start the span exporter thread");
            return -WEIR_ENOMEM;
        }
        o->started = true;
    }
    return 0;
}

void sdk_obs_stop(weir_app *app)
{
    sdk_obs_t *o = app->obs;
    if (!o)
        return;
    sdk_obs_metrics_stop(o);
    if (o->started) {
        pthread_mutex_lock(&o->mu);
        o->stop = true;
        pthread_cond_signal(&o->cv);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->thread, NULL);
    }
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    free(o->queue);
    free(o->traces_url);
    free(o->service_name);
    free(o);
    app->obs = NULL;
}

bool sdk_obs_tracing(const weir_app *app)
{
    return app->obs && app->obs->started;
}

void sdk_obs_span(weir_app *app, const sdk_span_t *s)
{
    sdk_obs_t *o = app->obs;
    if (!o || !o->started)
        return;
    pthread_mutex_lock(&o->mu);
    bool full = o->len == SDK_SPAN_QUEUE_MAX;
    if (!full) {
        o->queue[(o->head + o->len) % SDK_SPAN_QUEUE_MAX] = *s;
        if (++o->len == SDK_SPAN_BATCH_MAX)
            pthread_cond_signal(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
    if (full)
        atomic_fetch_add(&o->dropped, 1);
}

void weir_app_span_counts(const weir_app *app, uint64_t *exported, uint64_t *dropped)
{
    *exported = app->obs ? atomic_load(&app->obs->exported) : 0;
    *dropped = app->obs ? atomic_load(&app->obs->dropped) : 0;
}

/* ---- the hooks --------------------------------------------------------------------------------
 */

static void span_event(sdk_span_t *s, const rd_kafka_message_t *m, const char *verb)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    snprintf(s->name, sizeof(s->name), "%s %s", verb, topic);
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    s->partition = m->partition;
    s->offset = m->offset;
    const char *v;
    size_t n = sdk_msg_attr(m, "ce_id", &v);
    snprintf(s->event_id, sizeof(s->event_id), "%.*s", (int)n, v ? v : "");
    n = sdk_msg_attr(m, "ce_type", &v);
    snprintf(s->event_type, sizeof(s->event_type), "%.*s", (int)n, v ? v : "");
}

void sdk_obs_trace_handled(weir_app *app, weir_ctx *ctx, const rd_kafka_message_t *m,
                           weir_result result, int attempt, int64_t start_wall_ns, int64_t dur_ns)
{
    sdk_trace_t self;
    const char *tp = sdk_ctx_span(ctx);
    if (sdk_trace_parse(tp, strlen(tp), &self) != 0)
        return;
    sdk_span_t s;
    memset(&s, 0, sizeof(s));
    memcpy(s.trace_id, self.trace_id, 16);
    memcpy(s.span_id, self.span_id, 8);
    const sdk_ce_t *ce = sdk_event_ce(ctx->ev);
    if (ce->has_trace) {
        memcpy(s.parent_id, ce->trace.span_id, 8);
        s.has_parent = true;
    }
    s.kind = 5;
    span_event(&s, m, "process");
    s.start_ns = start_wall_ns;
    s.end_ns = start_wall_ns + dur_ns;
    s.attempt = attempt;
    static const char *const results[] = {"ok", "retry", "fail"};
    snprintf(s.result, sizeof(s.result), "%s", (unsigned)result < 3 ? results[result] : "invalid");
    s.error = result != WEIR_RESULT_OK;
    sdk_obs_span(app, &s);
}

void sdk_obs_delivered(weir_app *app, const rd_kafka_message_t *msg)
{
    if (!sdk_obs_tracing(app) || msg->err)
        return;
    const char *v;
    size_t n = sdk_msg_attr(msg, "traceparent", &v);
    sdk_trace_t t;
    if (!n || sdk_trace_parse(v, n, &t) != 0)
        return;
    sdk_span_t s;
    memset(&s, 0, sizeof(s));
    memcpy(s.trace_id, t.trace_id, 16);
    memcpy(s.parent_id, t.span_id, 8);
    s.has_parent = true;
    uint64_t id = sdk_rng_next(sdk_rng_thread());
    memcpy(s.span_id, &id, 8);
    s.kind = 4;
    span_event(&s, msg, "publish");
    s.end_ns = wall_ns();
    rd_kafka_timestamp_type_t tt;
    int64_t ts_ms = rd_kafka_message_timestamp(msg, &tt);
    s.start_ns = ts_ms > 0 && ts_ms * 1000000 <= s.end_ns ? ts_ms * 1000000 : s.end_ns;
    sdk_obs_span(app, &s);
}

void sdk_obs_new_trace(weir_app *app, const weir_message *m, const sdk_trace_t *t)
{
    if (!sdk_obs_tracing(app))
        return;
    sdk_span_t s;
    memset(&s, 0, sizeof(s));
    memcpy(s.trace_id, t->trace_id, 16);
    memcpy(s.span_id, t->span_id, 8);
    s.kind = 4;
    snprintf(s.name, sizeof(s.name), "create %s", m->topic ? m->topic : "");
    snprintf(s.topic, sizeof(s.topic), "%s", m->topic ? m->topic : "");
    s.partition = m->partition >= 0 ? m->partition : -1;
    s.offset = -1;
    snprintf(s.event_id, sizeof(s.event_id), "%s", m->id ? m->id : "");
    snprintf(s.event_type, sizeof(s.event_type), "%s", m->type ? m->type : "");
    s.start_ns = s.end_ns = wall_ns();
    sdk_obs_span(app, &s);
}
