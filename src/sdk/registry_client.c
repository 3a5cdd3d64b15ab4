/*
 * The schema registry client: Confluent's REST API over HTTP (libcurl), as any client of a
 * registry speaks it; libweir never links the broker's registry. Two calls matter to
 * serializers: register a schema under a subject (its id), and the schema of an id, which is
 * cached (schema_cache.c) because every record a deserializer reads names one.
 *
 * Errors keep what the registry said: its HTTP status and the body's Confluent error_code and
 * message. Answers are bounded (SDK_REGISTRY_BODY_MAX) before they are parsed.
 */
#include "sdk/sdk.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SDK_REGISTRY_BODY_MAX (8u << 20)
#define SDK_REGISTRY_CT       "application/vnd.schemaregistry.v1+json"

struct weir_registry {
    char *url; /* without a trailing '/' */
    long timeout_ms;
    sdk_schema_cache_t cache;
};

int sdk_regerr(weir_registry_error *e, int rc, int http_status, int error_code, const char *fmt,
               ...)
{
    if (!e)
        return rc;
    e->http_status = http_status;
    e->error_code = error_code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return rc;
}

void weir_registry_config_init(weir_registry_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cache_max = 1000;
    cfg->timeout_ms = 10000;
}

int weir_registry_new(const weir_registry_config *cfg, weir_registry **out,
                      weir_registry_error *err)
{
    *out = NULL;
    if (!cfg || !cfg->url || (strncmp(cfg->url, "http://", 7) && strncmp(cfg->url, "https://", 8)))
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "registry url: expected http://host:port");
    if (cfg->cache_max < 1 || cfg->timeout_ms < 1)
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "cache_max and timeout_ms must be positive");
    sdk_curl_init();
    weir_registry *reg = weir_calloc(1, sizeof(*reg));
    reg->url = weir_strdup(cfg->url);
    size_t n = strlen(reg->url);
    while (n > 0 && reg->url[n - 1] == '/')
        reg->url[--n] = '\0';
    reg->timeout_ms = cfg->timeout_ms;
    sdk_schema_cache_init(&reg->cache, (size_t)cfg->cache_max);
    *out = reg;
    if (err)
        memset(err, 0, sizeof(*err));
    return 0;
}

void weir_registry_free(weir_registry *reg)
{
    if (!reg)
        return;
    sdk_schema_cache_deinit(&reg->cache);
    free(reg->url);
    free(reg);
}

void weir_registry_cache_stats(const weir_registry *reg, uint64_t *hits, uint64_t *misses)
{
    weir_registry *r = (weir_registry *)reg; /* the lock, not the data, changes */
    pthread_mutex_lock(&r->cache.mu);
    *hits = r->cache.hits;
    *misses = r->cache.misses;
    pthread_mutex_unlock(&r->cache.mu);
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

size_t sdk_http_on_body(char *p, size_t size, size_t n, void *arg)
{
    sdk_http_body_t *a = arg;
    if (a->body.len + size * n > a->max) {
        a->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    buf_append(&a->body, p, size * n);
    return size * n;
}

/* A registry error answer's error_code and message, else the status line's meaning. */
static int answer_error(weir_registry_error *e, int rc, long status, const sdk_http_body_t *a,
                        const char *what)
{
    json_t *j = json_loadb((const char *)a->body.data, a->body.len, 0, NULL);
    json_t *code = json_object_get(j, "error_code");
    json_t *msg = json_object_get(j, "message");
    if (json_is_integer(code) && json_is_string(msg)) {
        rc = sdk_regerr(e, rc, (int)status, (int)json_integer_value(code), "%s: %s", what,
                        json_string_value(msg));
    } else {
        rc = sdk_regerr(e, rc, (int)status, 0, "%s: HTTP %ld%s%.*s", what, status,
                        a->body.len ? ": " : "", (int)WEIR_MIN(a->body.len, (size_t)200),
                        a->body.len ? (const char *)a->body.data : "");
    }
    json_decref(j);
    return rc;
}

static int status_rc(long status)
{
    if (status == 404)
        return WEIR_ERR_NOENT;
    if (status >= 400 && status < 500)
        return WEIR_ERR_INVAL;
    return WEIR_ERR_IO;
}

/* One request; on 2xx 0 and *out the parsed JSON body. `what` names it in errors. */
static int request(weir_registry *reg, const char *path, const char *post, const char *what,
                   json_t **out, weir_registry_error *e)
{
    *out = NULL;
    CURL *c = curl_easy_init();
    if (!c)
        return sdk_regerr(e, WEIR_ERR_NOMEM, 0, 0, "%s: curl_easy_init failed", what);
    char *url = NULL;
    if (asprintf(&url, "%s%s", reg->url, path) < 0)
        abort();
    struct curl_slist *h = curl_slist_append(NULL, "Accept: " SDK_REGISTRY_CT);
    h = curl_slist_append(h, "Content-Type: " SDK_REGISTRY_CT);
    sdk_http_body_t a = {{0}, SDK_REGISTRY_BODY_MAX, false};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (post)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, reg->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sdk_http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    int rc = 0;
    if (a.too_big) {
        rc = sdk_regerr(e, WEIR_ERR_TOOBIG, (int)status, 0, "%s: answer larger than %u bytes", what,
                        SDK_REGISTRY_BODY_MAX);
    } else if (cc != CURLE_OK) {
        rc = sdk_regerr(e, cc == CURLE_OPERATION_TIMEDOUT ? WEIR_ERR_TIMEDOUT : WEIR_ERR_IO, 0, 0,
                        "%s: registry %s: %s", what, reg->url, curl_easy_strerror(cc));
    } else if (status < 200 || status >= 300) {
        rc = answer_error(e, status_rc(status), status, &a, what);
    } else {
        *out = json_loadb((const char *)a.body.data, a.body.len, 0, NULL);
        if (!*out)
            rc = sdk_regerr(e, WEIR_ERR_IO, (int)status, 0, "%s: the answer is not JSON", what);
    }
    buf_deinit(&a.body);
    curl_slist_free_all(h);
    free(url);
    curl_easy_cleanup(c);
    return rc;
}

/* Subjects go into the path: everything but unreserved characters is percent-encoded. */
static void path_escape(buf_t *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~')
            buf_append_u8(b, ch);
        else
            buf_printf(b, "%%%02X", ch);
    }
}

static const char *type_name(weir_schema_type t)
{
    return t == WEIR_SCHEMA_AVRO ? "AVRO" : t == WEIR_SCHEMA_JSON ? "JSON" : NULL;
}

int weir_registry_register(weir_registry *reg, const char *subject, weir_schema_type type,
                           const char *schema, int32_t *id, weir_registry_error *err)
{
    if (!reg || !subject || !*subject || !schema || !type_name(type))
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "register: subject, schema and type needed");
    json_t *req = json_pack("{s:s}", "schema", schema);
    if (!req)
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "register: the schema is not UTF-8 text");
    if (type != WEIR_SCHEMA_AVRO) /* AVRO is the registry's default; say it only for others */
        json_object_set_new(req, "schemaType", json_string(type_name(type)));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    buf_t path = {0};
    buf_append_str(&path, "/subjects/");
    path_escape(&path, subject);
    buf_append_str(&path, "/versions");
    buf_append_u8(&path, 0);
    char what[300];
    snprintf(what, sizeof(what), "registering a schema under %.200s", subject);
    json_t *ans;
    int rc = request(reg, (const char *)path.data, body, what, &ans, err);
    buf_deinit(&path);
    free(body);
    if (rc)
        return rc;
    json_t *j = json_object_get(ans, "id");
    if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > INT32_MAX)
        rc = sdk_regerr(err, WEIR_ERR_IO, 200, 0, "%s: the answer has no id", what);
    else
        *id = (int32_t)json_integer_value(j);
    json_decref(ans);
    return rc;
}

/* The schema of id, cached: a reference the caller unrefs. */
static int schema_get(weir_registry *reg, int32_t id, sdk_schema_t **out, weir_registry_error *e)
{
    *out = sdk_schema_cache_get(&reg->cache, id);
    if (*out)
        return 0;
    char path[64], what[64];
    snprintf(path, sizeof(path), "/schemas/ids/%d", (int)id);
    snprintf(what, sizeof(what), "schema id %d", (int)id);
    json_t *ans;
    int rc = request(reg, path, NULL, what, &ans, e);
    if (rc)
        return rc;
    const char *text = json_string_value(json_object_get(ans, "schema"));
    const char *tname = json_string_value(json_object_get(ans, "schemaType"));
    weir_schema_type type = !tname || strcmp(tname, "AVRO") == 0 ? WEIR_SCHEMA_AVRO
                            : strcmp(tname, "JSON") == 0         ? WEIR_SCHEMA_JSON
                                                                 : 0;
    char perr[256] = "";
    sdk_schema_t *s = NULL;
    if (!text)
        rc = sdk_regerr(e, WEIR_ERR_IO, 200, 0, "%s: the answer has no schema", what);
    else if (!type)
        rc = sdk_regerr(e, WEIR_ERR_UNSUPPORTED, 200, 0,
                        "%s: schema type %s is not supported "
                        "by libweir's serializers (AVRO, JSON)",
                        what, tname);
    else if (!(s = sdk_schema_new(id, type, text, perr, sizeof(perr))))
        rc = sdk_regerr(e, WEIR_ERR_CORRUPT, 200, 0, "%s: %s", what, perr);
    json_decref(ans);
    if (rc)
        return rc;
    *out = sdk_schema_cache_put(&reg->cache, s);
    sdk_schema_unref(s);
    return 0;
}

int sdk_registry_schema(weir_registry *reg, int32_t id, sdk_schema_t **out,
                        weir_registry_error *err)
{
    if (id < 0)
        return sdk_regerr(err, WEIR_ERR_INVAL, 0, 0, "schema id %d: ids are not negative", (int)id);
    return schema_get(reg, id, out, err);
}

int weir_registry_schema(weir_registry *reg, int32_t id, weir_schema_type *type, char **schema,
                         weir_registry_error *err)
{
    sdk_schema_t *s;
    int rc = sdk_registry_schema(reg, id, &s, err);
    if (rc)
        return rc;
    if (type)
        *type = s->type;
    if (schema)
        *schema = weir_strdup(s->text);
    sdk_schema_unref(s);
    return 0;
}
