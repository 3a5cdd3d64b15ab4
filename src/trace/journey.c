/*
 * An event's journey and the recent traces, as JSON (the admin API serves them at
 * GET /api/v1/traces[/<id>]), and the trace module's own HTTP route: the OTLP receiver
 * (POST /v1/traces).
 *
 * Invariant: a journey is built from copies taken under the store's mutex, so formatting never
 * holds the lock; every string from a span is escaped before it reaches the output.
 */
#include "trace/trace_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

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

static const char *op_name(trace_op_t op)
{
    static const char *const names[] = {"other", "create", "publish", "process"};
    return names[op];
}

/* Appends s to a JSON array of distinct strings seen so far (kept in list, up to max). */
static void distinct_add(const char **list, size_t *n, size_t max, const char *s)
{
    if (!*s)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], s) == 0)
            return;
    if (*n < max)
        list[(*n)++] = s;
}

static void string_array(buf_t *b, const char **list, size_t n)
{
    buf_append_u8(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append_u8(b, ',');
        json_str(b, list[i]);
    }
    buf_append_u8(b, ']');
}

static void hop_json(buf_t *b, const trace_span_t *s, int64_t t0)
{
    buf_append_str(b, "{\"service\":");
    json_str(b, s->service);
    buf_printf(b, ",\"operation\":\"%s\",\"name\":", op_name(s->op));
    json_str(b, s->name);
    buf_append_str(b, ",\"topic\":");
    json_str(b, s->topic);
    buf_printf(b, ",\"partition\":%d,\"offset\":%" PRId64 ",\"group\":", (int)s->partition,
               s->offset);
    json_str(b, s->group);
    buf_append_str(b, ",\"event_type\":");
    json_str(b, s->event_type);
    buf_append_str(b, ",\"event_id\":");
    json_str(b, s->event_id);
    buf_append_str(b, ",\"result\":");
    json_str(b, s->result);
    buf_printf(b, ",\"error\":%s,\"start\":", s->error ? "true" : "false");
    trace_time_append(b, s->start_ns);
    buf_printf(b, ",\"at_ms\":%.3f,\"duration_ms\":%.3f,\"span_id\":\"",
               (double)(s->start_ns - t0) / 1e6, (double)(s->end_ns - s->start_ns) / 1e6);
    trace_hex_append(b, s->span_id, 8);
    buf_append_str(b, "\",\"parent_span_id\":");
    if (s->has_parent) {
        buf_append_u8(b, '"');
        trace_hex_append(b, s->parent_id, 8);
        buf_append_u8(b, '"');
    } else {
        buf_append_str(b, "null");
    }
    buf_append_u8(b, '}');
}

int trace_store_journey_json(trace_store_t *st, const char *trace_id, buf_t *out)
{
    uint8_t id[16];
    if (!trace_id || trace_hex_decode(trace_id, strlen(trace_id), id, 16) != 0)
        return -WEIR_EINVAL;
    trace_span_t *v;
    size_t n = trace_store_collect(st, id, &v);
    if (n == 0) {
        free(v);
        return -WEIR_ENOENT;
    }
    int64_t t0 = v[0].start_ns, t1 = v[0].end_ns;
    const char *services[64], *topics[64];
    size_t ns = 0, nt = 0;
    for (size_t i = 0; i < n; i++) {
        t0 = WEIR_MIN(t0, v[i].start_ns); /* parents go first, not always the earliest */
        t1 = WEIR_MAX(t1, v[i].end_ns);
        distinct_add(services, &ns, WEIR_ARRAY_LEN(services), v[i].service);
        distinct_add(topics, &nt, WEIR_ARRAY_LEN(topics), v[i].topic);
    }
    buf_append_str(out, "{\"trace_id\":\"");
    trace_hex_append(out, id, 16);
    buf_append_str(out, "\",\"started_at\":");
    trace_time_append(out, t0);
    buf_printf(out, ",\"duration_ms\":%.3f,\"services\":", (double)(t1 - t0) / 1e6);
    string_array(out, services, ns);
    buf_append_str(out, ",\"topics\":");
    string_array(out, topics, nt);
    buf_append_str(out, ",\"hops\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append_u8(out, ',');
        hop_json(out, &v[i], t0);
    }
    buf_append_str(out, "]}\n");
    free(v);
    return 0;
}

/* ---- recent traces ------------------------------------------------------------------------------
 */

typedef struct {
    uint8_t id[16];
    int64_t start, end;
    size_t spans;
    const char *services[8];
    size_t nservices;
    const char *first_type;
    int64_t first_type_at;
} recent_t;

static int recent_cmp(const void *a, const void *b)
{
    const recent_t *x = a, *y = b;
    return (x->start < y->start) - (x->start > y->start); /* newest first */
}

static void recent_fold(recent_t *r, const trace_span_t *s)
{
    r->start = r->spans ? WEIR_MIN(r->start, s->start_ns) : s->start_ns;
    r->end = r->spans ? WEIR_MAX(r->end, s->end_ns) : s->end_ns;
    r->spans++;
    distinct_add(r->services, &r->nservices, WEIR_ARRAY_LEN(r->services), s->service);
    if (s->event_type[0] && (!r->first_type || s->start_ns < r->first_type_at)) {
        r->first_type = s->event_type;
        r->first_type_at = s->start_ns;
    }
}

/* Groups the ring by trace (store locked), newest first. */
static size_t recent_collect(trace_store_t *st, recent_t **out)
{
    recent_t *v = weir_calloc(st->len + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < st->len; i++) {
        const trace_span_t *s = &st->ring[(st->head + i) % st->cap];
        size_t k = n;
        for (size_t j = n; j-- > 0;) /* recent spans are near the end: search backwards */
            if (memcmp(v[j].id, s->trace_id, 16) == 0) {
                k = j;
                break;
            }
        if (k == n)
            memcpy(v[n++].id, s->trace_id, 16);
        recent_fold(&v[k], s);
    }
    qsort(v, n, sizeof(*v), recent_cmp);
    *out = v;
    return n;
}

void trace_store_recent_json(trace_store_t *st, size_t limit, buf_t *out)
{
    pthread_mutex_lock(&st->mu); /* the summaries point into the ring */
    recent_t *v;
    size_t n = recent_collect(st, &v);
    buf_append_str(out, "{\"traces\":[");
    for (size_t i = 0; i < n && i < limit; i++) {
        buf_append_str(out, i ? ",{\"trace_id\":\"" : "{\"trace_id\":\"");
        trace_hex_append(out, v[i].id, 16);
        buf_append_str(out, "\",\"started_at\":");
        trace_time_append(out, v[i].start);
        buf_printf(out, ",\"duration_ms\":%.3f,\"spans\":%zu,\"services\":",
                   (double)(v[i].end - v[i].start) / 1e6, v[i].spans);
        string_array(out, v[i].services, v[i].nservices);
        buf_append_str(out, ",\"first_event_type\":");
        json_str(out, v[i].first_type ? v[i].first_type : "");
        buf_append_u8(out, '}');
    }
    buf_append_str(out, "]}\n");
    pthread_mutex_unlock(&st->mu);
    free(v);
}

/* ---- routes -------------------------------------------------------------------------------------
 */

static void error_json(http_response_t *resp, int status, const char *msg)
{
    resp->status = status;
    buf_append_str(&resp->body, "{\"error\":");
    json_str(&resp->body, msg);
    buf_append_str(&resp->body, "}\n");
}

static void route_ingest(void *arg, const http_request_t *req, http_response_t *resp)
{
    const char *ct = http_request_header(req, "Content-Type");
    if (ct && strncmp(ct, "application/json", 16) != 0) {
        error_json(resp, 415, "only OTLP/HTTP JSON (Content-Type: application/json)");
        return;
    }
    size_t accepted;
    char err[256];
    if (trace_store_ingest_otlp_json(arg, req->body, req->body_len, &accepted, err, sizeof(err)) !=
        0) {
        error_json(resp, 400, err);
        return;
    }
    buf_append_str(&resp->body, "{\"partialSuccess\":{}}\n");
}

void trace_routes(trace_store_t *st, http_server_t *h)
{
    http_server_route(h, "POST", "/v1/traces", route_ingest, st);
}
