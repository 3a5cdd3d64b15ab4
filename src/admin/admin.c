/*
 * The admin API's entry: the route table under /api/v1/, JSON answers and errors, the bounded
 * parsing of query arguments and bodies, broker info, the OpenAPI document and the seam for
 * the event journey.
 *
 * Invariant: a handler has checked every input before it changes anything, so a 4xx answer
 * always means nothing changed.
 */
#include "admin/admin_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

/* ---- answers -----------------------------------------------------------------------------------
 */

void admin_reply(admin_req_t *r, int status, json_t *json)
{
    char *s = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
    r->resp->status = status;
    buf_append_str(&r->resp->body, s ? s : "null");
    buf_append_str(&r->resp->body, "\n");
    free(s);
    json_decref(json);
}

void admin_fail(admin_req_t *r, int status, const char *word, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_reset(&r->resp->body);
    admin_reply(r, status, json_pack("{s:s, s:s}", "error", word, "message", msg));
}

void admin_fail_broker(admin_req_t *r, int rc, const broker_err_t *err)
{
    int16_t code = err ? err->code : 0;
    const char *msg = err && err->message[0] ? err->message : weir_strerror(rc);
    int status = 400;
    const char *word = "bad_request";
    if (code == KAFKA_UNKNOWN_TOPIC_OR_PARTITION || code == KAFKA_GROUP_ID_NOT_FOUND ||
        (!code && rc == -WEIR_ENOENT)) {
        status = 404;
        word = "not_found";
    } else if (code == KAFKA_TOPIC_ALREADY_EXISTS || code == KAFKA_NON_EMPTY_GROUP ||
               (!code && rc == -WEIR_EEXIST)) {
        status = 409;
        word = "conflict";
    } else if (code == KAFKA_MESSAGE_TOO_LARGE || code == KAFKA_RECORD_LIST_TOO_LARGE) {
        status = 413;
        word = "payload_too_large";
    } else if (code == KAFKA_COORDINATOR_NOT_AVAILABLE || code == KAFKA_REQUEST_TIMED_OUT ||
               rc == -WEIR_EOFFLINE || rc == -WEIR_ECLOSED) {
        status = 503;
        word = "unavailable";
    } else if (code == KAFKA_TOPIC_DELETION_DISABLED || code == KAFKA_POLICY_VIOLATION) {
        status = 403;
        word = "forbidden";
    } else if (!code && rc != -WEIR_EINVAL && rc != -WEIR_ERANGE) {
        status = 500;
        word = "internal";
    }
    admin_fail(r, status, word, "%s%s%s", code ? wire_err_name(code) : "", code ? ": " : "", msg);
}

/* ---- input -------------------------------------------------------------------------------------
 */

/* Nesting depth of JSON text, strings skipped; over max stops early. jansson's own limit is
 * compiled in (2048), too deep for a bound we promise. */
static bool json_depth_ok(const uint8_t *p, size_t n, int max)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

bool admin_body(admin_req_t *r, json_t **out)
{
    const http_request_t *req = r->req;
    *out = NULL;
    if (req->body_len > ADMIN_BODY_MAX) {
        admin_fail(r, 413, "payload_too_large", "the body is %zu bytes; at most %d", req->body_len,
                   ADMIN_BODY_MAX);
        return false;
    }
    if (req->body_len == 0) {
        *out = json_object();
        return true;
    }
    if (!json_depth_ok(req->body, req->body_len, ADMIN_JSON_DEPTH_MAX)) {
        admin_fail(r, 400, "bad_request", "the body nests deeper than %d levels",
                   ADMIN_JSON_DEPTH_MAX);
        return false;
    }
    json_error_t e;
    json_t *j = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        admin_fail(r, 400, "bad_request", "the body is not JSON: %s (line %d)", e.text, e.line);
        return false;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        admin_fail(r, 400, "bad_request", "the body must be a JSON object");
        return false;
    }
    *out = j;
    return true;
}

bool admin_arg(admin_req_t *r, const char *name, const char **out)
{
    *out = http_request_arg(r->req, name);
    if (*out && strlen(*out) > ADMIN_ARG_MAX) {
        admin_fail(r, 400, "bad_request", "'%s' is longer than %d bytes", name, ADMIN_ARG_MAX);
        return false;
    }
    return true;
}

static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return false;
    *out = v;
    return true;
}

bool admin_arg_int(admin_req_t *r, const char *name, int64_t def, int64_t min, int64_t max,
                   int64_t *out)
{
    const char *s;
    if (!admin_arg(r, name, &s))
        return false;
    *out = def;
    if (!s)
        return true;
    if (!parse_int(s, out) || *out < min || *out > max) {
        admin_fail(r, 400, "bad_request", "'%s' must be an integer from %lld to %lld", name,
                   (long long)min, (long long)max);
        return false;
    }
    return true;
}

bool admin_may(admin_req_t *r, int8_t rtype, const char *name, int8_t op)
{
    const admin_config_t *c = &r->a->cfg;
    return !c->may || c->may(c->may_arg, r->req, rtype, name, op);
}

bool admin_arg_bool(admin_req_t *r, const char *name, bool *out)
{
    const char *s;
    if (!admin_arg(r, name, &s))
        return false;
    *out = false;
    if (!s)
        return true;
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || !*s)
        *out = true;
    else if (strcmp(s, "false") != 0 && strcmp(s, "0") != 0) {
        admin_fail(r, 400, "bad_request", "'%s' must be true or false", name);
        return false;
    }
    return true;
}

bool admin_get_int(admin_req_t *r, json_t *o, const char *name, int64_t def, int64_t min,
                   int64_t max, int64_t *out)
{
    json_t *v = json_object_get(o, name);
    *out = def;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        admin_fail(r, 400, "bad_request", "'%s' must be an integer from %lld to %lld", name,
                   (long long)min, (long long)max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

bool admin_get_str(admin_req_t *r, json_t *o, const char *name, const char **out)
{
    json_t *v = json_object_get(o, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v)) {
        admin_fail(r, 400, "bad_request", "'%s' must be a string", name);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

bool admin_get_bool(admin_req_t *r, json_t *o, const char *name, bool def, bool *out)
{
    json_t *v = json_object_get(o, name);
    *out = def;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        admin_fail(r, 400, "bad_request", "'%s' must be true or false", name);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* ---- small resources ---------------------------------------------------------------------------
 */

void admin_broker_get(admin_req_t *r)
{
    broker_t *b = r->b;
    broker_topic_desc_t *ts;
    size_t n;
    broker_topics_describe(b, &ts, &n);
    int64_t parts = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        parts += ts[i].partitions;
        for (int32_t p = 0; p < ts[i].partitions; p++) {
            uint64_t sz = 0;
            if (broker_partition_size(b, ts[i].name, strlen(ts[i].name), p, &sz) == 0)
                bytes += sz;
        }
    }
    broker_topic_descs_free(ts, n);
    json_t *j =
        json_pack("{s:s, s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:s?}", "cluster_id",
                  broker_cluster_id(b), "node_id", (int)broker_node_id(b), "version", r->a->version,
                  "bootstrap", r->a->bootstrap, "topics", (json_int_t)n, "partitions",
                  (json_int_t)parts, "size_bytes", (json_int_t)bytes, "uptime_ms",
                  (json_int_t)(clock_mono_ms() - r->a->started_ms), "now_ms",
                  (json_int_t)clock_wall_ms(), "registry", r->a->cfg.registry != NULL, "tracing",
                  r->a->cfg.journey != NULL && r->a->cfg.traces != NULL, "metrics_path",
                  r->a->cfg.metrics_path);
    admin_reply(r, 200, j);
}

static bool tracing_available(admin_req_t *r)
{
    if (r->a->cfg.journey && r->a->cfg.traces)
        return true;
    admin_fail(r, 501, "not_implemented",
               "tracing is off on this broker: the event journey needs the span store "
               "(weir.trace.spans.max > 0)");
    return false;
}

void admin_trace_get(admin_req_t *r)
{
    if (!tracing_available(r))
        return;
    buf_t out;
    buf_init(&out);
    int rc = r->a->cfg.journey(r->a->cfg.journey_arg, r->seg[1], &out);
    if (rc == -WEIR_EINVAL)
        admin_fail(r, 400, "bad_request", "a trace id is 32 hex digits, not '%s'", r->seg[1]);
    else if (rc == -WEIR_ENOENT)
        admin_fail(r, 404, "not_found",
                   "no spans of trace '%s' are kept (do the services export their spans to "
                   "this broker's POST /v1/traces?)",
                   r->seg[1]);
    else if (rc < 0)
        admin_fail(r, 500, "internal", "%s", weir_strerror(rc));
    else
        buf_append(&r->resp->body, out.data, out.len);
    buf_deinit(&out);
}

/* GET /traces[?limit=N]: the newest traces (1-1000, default 50). */
static void admin_traces_list(admin_req_t *r)
{
    if (!tracing_available(r))
        return;
    int64_t limit;
    if (!admin_arg_int(r, "limit", 50, 1, 1000, &limit))
        return;
    r->a->cfg.traces(r->a->cfg.journey_arg, (size_t)limit, &r->resp->body);
}

static void openapi_get(admin_req_t *r)
{
    for (size_t i = 0; i < admin_files_count; i++) {
        if (strcmp(admin_files[i].path, "openapi.json") == 0) {
            r->resp->static_body = admin_files[i].data;
            r->resp->static_len = admin_files[i].len;
            http_response_header(r->resp, "Cache-Control", "no-cache");
            return;
        }
    }
    admin_fail(r, 404, "not_found", "no OpenAPI document in this build");
}

/* ---- routing -----------------------------------------------------------------------------------
 */

/* A pattern's segments: literal words, '*' for one path parameter. */
typedef struct {
    const char *method;
    const char *pattern;
    admin_handler_fn fn;
} admin_route_t;

static const admin_route_t routes[] = {
    {"GET", "openapi.json", openapi_get},
    {"GET", "broker", admin_broker_get},
    {"GET", "topics", admin_topics_list},
    {"POST", "topics", admin_topics_create},
    {"GET", "topics/*", admin_topic_get},
    {"DELETE", "topics/*", admin_topic_delete},
    {"GET", "topics/*/configs", admin_topic_configs_get},
    {"PATCH", "topics/*/configs", admin_topic_configs_alter},
    {"GET", "topics/*/partitions", admin_topic_partitions_get},
    {"POST", "topics/*/partitions", admin_topic_partitions_add},
    {"GET", "topics/*/key-offset", admin_topic_key_offset_get},
    {"GET", "topics/*/key-offsets", admin_topic_key_offsets_get},
    {"GET", "topics/*/messages", admin_messages_get},
    {"POST", "topics/*/messages", admin_messages_produce},
    {"GET", "groups", admin_groups_list},
    {"GET", "groups/*", admin_group_get},
    {"DELETE", "groups/*", admin_group_delete},
    {"POST", "groups/*/offsets/reset", admin_group_reset},
    {"GET", "dlq", admin_dlq_list},
    {"GET", "dlq/*/records", admin_dlq_records},
    {"POST", "dlq/*/redrive", admin_dlq_redrive},
    {"GET", "sagas", admin_sagas_list},
    {"GET", "sagas/*", admin_saga_get},
    {"GET", "traces", admin_traces_list},
    {"GET", "traces/*", admin_trace_get},
};

static bool pattern_match(const char *pat, admin_req_t *r)
{
    size_t i = 0;
    for (const char *p = pat; *p; i++) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (i >= r->nseg)
            return false;
        if (!(n == 1 && *p == '*') && (strlen(r->seg[i]) != n || memcmp(r->seg[i], p, n) != 0))
            return false;
        p += n + (slash ? 1 : 0);
    }
    return i == r->nseg;
}

/* Splits the path after /api/v1/ into r->seg; false (and an answer) when it cannot. */
static bool split_path(admin_req_t *r, const char *rest, char *copy, size_t cap)
{
    size_t n = strlen(rest);
    if (n >= cap) {
        admin_fail(r, 414, "uri_too_long", "the path is longer than %zu bytes", cap - 1);
        return false;
    }
    memcpy(copy, rest, n + 1);
    if (n && copy[n - 1] == '/')
        copy[n - 1] = 0;
    r->nseg = 0;
    for (char *p = copy; *p;) {
        if (r->nseg == ADMIN_SEGS_MAX) {
            admin_fail(r, 404, "not_found", "no such path");
            return false;
        }
        r->seg[r->nseg++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = 0;
        p = slash + 1;
    }
    for (size_t i = 0; i < r->nseg; i++) {
        if (!r->seg[i][0]) {
            admin_fail(r, 404, "not_found", "no such path (an empty segment)");
            return false;
        }
    }
    return true;
}

static void admin_http(void *arg, const http_request_t *req, http_response_t *resp)
{
    admin_t *a = arg;
    admin_req_t r = {.a = a, .b = a->cfg.broker, .req = req, .resp = resp};
    char copy[ADMIN_ARG_MAX * 3];
    if (!split_path(&r, req->path + strlen("/api/v1/"), copy, sizeof(copy)))
        return;
    bool path_known = false;
    for (size_t i = 0; i < WEIR_ARRAY_LEN(routes); i++) {
        if (!pattern_match(routes[i].pattern, &r))
            continue;
        path_known = true;
        if (strcmp(routes[i].method, req->method) == 0) {
            http_response_header(resp, "Cache-Control", "no-store");
            routes[i].fn(&r);
            return;
        }
    }
    if (path_known)
        admin_fail(&r, 405, "method_not_allowed", "%s is not allowed on %s", req->method,
                   req->path);
    else
        admin_fail(&r, 404, "not_found", "no such path: %s", req->path);
}

int admin_new(const admin_config_t *cfg, admin_t **out)
{
    admin_t *a = weir_calloc(1, sizeof(*a));
    a->cfg = *cfg;
    a->bootstrap = weir_strdup(cfg->bootstrap ? cfg->bootstrap : "");
    a->version = weir_strdup(cfg->version ? cfg->version : "");
    a->cfg.bootstrap = a->bootstrap;
    a->cfg.version = a->version;
    a->metrics_path = cfg->metrics_path ? weir_strdup(cfg->metrics_path) : NULL;
    a->cfg.metrics_path = a->metrics_path;
    a->started_ms = clock_mono_ms();
    pthread_mutex_init(&a->redrive_mu, NULL);
    *out = a;
    return 0;
}

void admin_routes(admin_t *a, http_server_t *s)
{
    http_server_route(s, NULL, "/api/v1/", admin_http, a);
}

void admin_free(admin_t *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->redrive_mu);
    free(a->bootstrap);
    free(a->version);
    free(a->metrics_path);
    free(a);
}
