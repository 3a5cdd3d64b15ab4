/*
 * Confluent's Schema Registry REST API over the registry's state: path and query parsing,
 * content negotiation, request bodies, and answers with Confluent's status codes and
 * {"error_code","message"} bodies. Reads take the state's read lock for the time of building
 * the answer; writes go through registry.c, which returns only once the change is durable.
 *
 * Invariant: every answer is complete JSON (or the raw schema text of a /schema path) with a
 * status that Confluent's clients understand; a bad request changes nothing.
 */
#include "registry/registry_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define CT_V1   "application/vnd.schemaregistry.v1+json"
#define CT_SR   "application/vnd.schemaregistry+json"
#define CT_JSON "application/json"

typedef struct {
    registry_t *r;
    const http_request_t *req;
    http_response_t *resp;
    char *segs[8]; /* path segments after the first, decoded by libmicrohttpd */
    int nsegs;
    char *subject; /* subject path part (may hold '/') */
} rest_t;

/* ---- answers ------------------------------------------------------------------------------- */

static void rest_error(rest_t *x, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void rest_error(rest_t *x, int status, int code, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_reset(&x->resp->body);
    x->resp->status = status;
    json_t *j = json_pack("{s:i, s:s}", "error_code", code, "message", msg);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    buf_append_str(&x->resp->body, s);
    free(s);
    json_decref(j);
}

static void rest_err(rest_t *x, const reg_err_t *e)
{
    rest_error(x, e->status, e->error_code, "%s", e->message);
}

static void rest_json(rest_t *x, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    x->resp->status = 200;
    buf_append_str(&x->resp->body, s);
    free(s);
    json_decref(j);
}

static void rest_not_found(rest_t *x)
{
    rest_error(x, 404, 404, "HTTP 404 Not Found");
}

static void rest_bad_method(rest_t *x)
{
    rest_error(x, 405, 405, "HTTP 405 Method Not Allowed");
}

static bool arg_true(rest_t *x, const char *name)
{
    const char *v = http_request_arg(x->req, name);
    return v && strcasecmp(v, "true") == 0;
}

static bool is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static json_t *refs_to_json(const reg_ref_t *refs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a,
                              json_pack("{s:s, s:s, s:i}", "name", refs[i].name, "subject",
                                        refs[i].subject, "version", (json_int_t)refs[i].version));
    return a;
}

static json_t *schema_text_json(const registry_schema_t *s, bool serialized)
{
    if (s->type != REGISTRY_PROTOBUF || !serialized)
        return json_string(s->canonical);
    buf_t d, b64;
    buf_init(&d);
    buf_init(&b64);
    reg_proto_descriptor(s, &d);
    reg_base64_encode(&b64, d.data, d.len);
    json_t *j = json_stringn((const char *)b64.data, b64.len);
    buf_deinit(&d);
    buf_deinit(&b64);
    return j;
}

/* {"subject","version","id","schemaType"?,"references"?,"schema"} */
static json_t *version_json_fmt(const char *subject, const reg_version_t *v, bool serialized)
{
    json_t *j = json_pack("{s:s, s:i, s:i}", "subject", subject, "version", (json_int_t)v->version,
                          "id", (json_int_t)v->e->id);
    if (v->e->s->type != REGISTRY_AVRO)
        json_object_set_new(j, "schemaType", json_string(registry_type_name(v->e->s->type)));
    if (v->e->nrefs)
        json_object_set_new(j, "references", refs_to_json(v->e->refs, v->e->nrefs));
    json_object_set_new(j, "schema", schema_text_json(v->e->s, serialized));
    return j;
}

static json_t *version_json(const char *subject, const reg_version_t *v)
{
    return version_json_fmt(subject, v, false);
}

static bool want_serialized(rest_t *x)
{
    const char *f = http_request_arg(x->req, "format");
    return f && is(f, "serialized");
}

/* ---- request bodies ------------------------------------------------------------------------ */

typedef struct {
    json_t *root;
    const char *schema;
    size_t schema_len;
    registry_type_t type;
    reg_ref_t *refs;
    size_t nrefs;
    int32_t id, version;
} rest_body_t;

static void body_free(rest_body_t *b)
{
    for (size_t i = 0; i < b->nrefs; i++) {
        free(b->refs[i].name);
        free(b->refs[i].subject);
    }
    free(b->refs);
    json_decref(b->root);
}

static int body_json(rest_t *x, json_t **out)
{
    json_error_t je;
    *out = json_loadb((const char *)x->req->body, x->req->body_len, 0, &je);
    if (!*out) {
        rest_error(x, 400, 400, "Invalid JSON in the request body: %s", je.text);
        return -1;
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        rest_error(x, 422, 422, "The request body must be a JSON object");
        return -1;
    }
    return 0;
}

static int body_refs(rest_t *x, rest_body_t *b)
{
    json_t *a = json_object_get(b->root, "references");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a) || json_array_size(a) > (size_t)x->r->lim.refs_max) {
        rest_error(x, 422, 42201, "Invalid schema: references must be an array of at most %d",
                   x->r->lim.refs_max);
        return -1;
    }
    b->refs = weir_calloc(json_array_size(a) + 1, sizeof(*b->refs));
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *r = json_array_get(a, i);
        json_t *nm = json_object_get(r, "name"), *sb = json_object_get(r, "subject"),
               *vr = json_object_get(r, "version");
        if (!json_is_string(nm) || !json_is_string(sb) || !json_is_integer(vr) ||
            json_integer_value(vr) < -1 || json_integer_value(vr) == 0 ||
            json_integer_value(vr) > INT32_MAX) {
            rest_error(x, 422, 42201,
                       "Invalid schema: reference %zu needs a name, a subject and a version", i);
            return -1;
        }
        for (size_t k = 0; k < b->nrefs; k++)
            if (is(b->refs[k].name, json_string_value(nm))) {
                rest_error(x, 422, 42201, "Invalid schema: reference name '%s' appears twice",
                           json_string_value(nm));
                return -1;
            }
        b->refs[b->nrefs++] =
            (reg_ref_t){weir_strdup(json_string_value(nm)), weir_strdup(json_string_value(sb)),
                        (int32_t)json_integer_value(vr)};
    }
    return 0;
}

/* {"schema", "schemaType"?, "references"?, "id"?, "version"?} */
static int body_schema(rest_t *x, rest_body_t *b)
{
    memset(b, 0, sizeof(*b));
    b->id = b->version = -1;
    if (body_json(x, &b->root))
        return -1;
    json_t *s = json_object_get(b->root, "schema"), *t = json_object_get(b->root, "schemaType");
    if (!json_is_string(s) || json_string_length(s) == 0) {
        rest_error(x, 422, 42201, "Empty schema");
        return -1;
    }
    b->schema = json_string_value(s);
    b->schema_len = json_string_length(s);
    if (t && !json_is_null(t) &&
        (!json_is_string(t) || registry_type_parse(json_string_value(t), &b->type))) {
        rest_error(x, 422, 42201, "Invalid schema type %s; valid types are AVRO, JSON, PROTOBUF",
                   json_is_string(t) ? json_string_value(t) : "(not a string)");
        return -1;
    }
    json_t *id = json_object_get(b->root, "id"), *ver = json_object_get(b->root, "version");
    if (id && !json_is_null(id)) {
        if (!json_is_integer(id) || json_integer_value(id) < 1 ||
            json_integer_value(id) > INT32_MAX) {
            rest_error(x, 422, 42201, "Invalid schema: id must be between 1 and 2^31-1");
            return -1;
        }
        b->id = (int32_t)json_integer_value(id);
    }
    if (ver && !json_is_null(ver)) {
        if (!json_is_integer(ver) || json_integer_value(ver) < 1 ||
            json_integer_value(ver) > INT32_MAX) {
            rest_error(x, 422, 42202,
                       "The specified version is not a valid version id. Allowed values are "
                       "between [1, 2^31-1] and the string \"latest\"");
            return -1;
        }
        b->version = (int32_t)json_integer_value(ver);
    }
    return body_refs(x, b);
}

/* ---- /schemas ------------------------------------------------------------------------------- */

static int parse_id(const char *s, int32_t *id)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < INT32_MIN || v > INT32_MAX)
        return -1;
    *id = (int32_t)v;
    return 0;
}

static void get_schema_by_id(rest_t *x, reg_entry_t *e, const char *tail)
{
    const char *format = http_request_arg(x->req, "format");
    if (tail && is(tail, "schema")) {
        x->resp->status = 200;
        buf_append_str(&x->resp->body, e->s->canonical);
        return;
    }
    json_t *j = json_object();
    if (e->s->type != REGISTRY_AVRO)
        json_object_set_new(j, "schemaType", json_string(registry_type_name(e->s->type)));
    if (e->nrefs)
        json_object_set_new(j, "references", refs_to_json(e->refs, e->nrefs));
    json_object_set_new(j, "schema", schema_text_json(e->s, format && is(format, "serialized")));
    rest_json(x, j);
}

typedef struct {
    reg_entry_t *e;
    bool deleted;
    json_t *out;
    bool versions;
} id_uses_t;

static int id_uses_cb(void *arg, const char *key, void *val)
{
    id_uses_t *u = arg;
    reg_subject_t *sub = val;
    (void)key;
    for (size_t i = 0; i < sub->n; i++) {
        if (sub->v[i].e != u->e || (sub->v[i].deleted && !u->deleted))
            continue;
        if (u->versions) {
            json_array_append_new(u->out, json_pack("{s:s, s:i}", "subject", sub->name, "version",
                                                    (json_int_t)sub->v[i].version));
        } else {
            json_array_append_new(u->out, json_string(sub->name));
            break;
        }
    }
    return 0;
}

static int cmp_json_subject(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *sx =
        json_is_string(x) ? json_string_value(x) : json_string_value(json_object_get(x, "subject"));
    const char *sy =
        json_is_string(y) ? json_string_value(y) : json_string_value(json_object_get(y, "subject"));
    int c = strcmp(sx, sy);
    if (c || json_is_string(x))
        return c;
    json_int_t vx = json_integer_value(json_object_get(x, "version"));
    json_int_t vy = json_integer_value(json_object_get(y, "version"));
    return (vx > vy) - (vx < vy);
}

/* Sorts a JSON array of subject names or {subject, version} objects. */
static json_t *sorted(json_t *a)
{
    size_t n = json_array_size(a);
    json_t **items = weir_calloc(n + 1, sizeof(*items));
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(a, i));
    qsort(items, n, sizeof(*items), cmp_json_subject);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, items[i]);
    free(items);
    json_decref(a);
    return out;
}

static void filter_listed(rest_t *x, json_t *out);

static void schemas_ids(rest_t *x)
{
    int32_t id;
    if (x->nsegs < 2 || x->nsegs > 3 || parse_id(x->segs[1], &id)) {
        rest_not_found(x);
        return;
    }
    const char *tail = x->nsegs == 3 ? x->segs[2] : NULL;
    if (tail && !is(tail, "schema") && !is(tail, "subjects") && !is(tail, "versions")) {
        rest_not_found(x);
        return;
    }
    registry_t *r = x->r;
    json_t *uses = NULL; /* the subjects (versions) using the schema */
    pthread_rwlock_rdlock(&r->lock);
    reg_entry_t *e = reg_entry_by_id(r, id);
    const char *subject = http_request_arg(x->req, "subject");
    if (e && !e->gone && subject && *subject) {
        reg_subject_t *sub = reg_subject_get(r, subject);
        bool found = false;
        for (size_t i = 0; sub && i < sub->n; i++)
            found = found || sub->v[i].e == e;
        if (!found)
            e = NULL;
    }
    if (!e || e->gone) {
        rest_error(x, 404, 40403, "Schema %" PRId32 " not found", id);
    } else if (tail && (is(tail, "subjects") || is(tail, "versions"))) {
        id_uses_t u = {e, arg_true(x, "deleted"), json_array(), is(tail, "versions")};
        reg_map_each(&r->subjects, id_uses_cb, &u);
        if (json_array_size(u.out) == 0) {
            json_decref(u.out);
            rest_error(x, 404, 40403, "Schema %" PRId32 " not found", id);
        } else {
            uses = u.out; /* answered below, once filtered outside the lock */
        }
    } else {
        get_schema_by_id(x, e, tail);
    }
    pthread_rwlock_unlock(&r->lock);
    if (uses) {
        filter_listed(x, uses);
        rest_json(x, sorted(uses));
    }
}

typedef struct {
    json_t *out;
    const char *prefix;
    bool deleted;
    bool latest_only;
} list_t;

static int list_schemas_cb(void *arg, const char *key, void *val)
{
    list_t *l = arg;
    reg_subject_t *sub = val;
    if (l->prefix && strncmp(key, l->prefix, strlen(l->prefix)) != 0)
        return 0;
    for (size_t i = sub->n; i > 0; i--) {
        reg_version_t *v = &sub->v[i - 1];
        if (v->deleted && !l->deleted)
            continue;
        json_array_append_new(l->out, version_json(sub->name, v));
        if (l->latest_only)
            break;
    }
    return 0;
}

static void schemas_path(rest_t *x)
{
    const char *m = x->req->method;
    if (!is(m, "GET")) {
        rest_bad_method(x);
        return;
    }
    if (x->nsegs == 0) { /* GET /schemas */
        list_t l = {json_array(), http_request_arg(x->req, "subjectPrefix"), arg_true(x, "deleted"),
                    arg_true(x, "latestOnly")};
        pthread_rwlock_rdlock(&x->r->lock);
        reg_map_each(&x->r->subjects, list_schemas_cb, &l);
        pthread_rwlock_unlock(&x->r->lock);
        filter_listed(x, l.out);
        rest_json(x, sorted(l.out));
    } else if (x->nsegs == 1 && is(x->segs[0], "types")) {
        rest_json(x, json_pack("[s,s,s]", "JSON", "PROTOBUF", "AVRO"));
    } else if (is(x->segs[0], "ids")) {
        schemas_ids(x);
    } else {
        rest_not_found(x);
    }
}

/* ---- /subjects ------------------------------------------------------------------------------ */

static int list_subjects_cb(void *arg, const char *key, void *val)
{
    list_t *l = arg;
    reg_subject_t *sub = val;
    if (sub->n == 0 || (!l->deleted && !reg_subject_live(sub)))
        return 0;
    if (l->prefix && strncmp(key, l->prefix, strlen(l->prefix)) != 0)
        return 0;
    json_array_append_new(l->out, json_string(key));
    return 0;
}

static void subjects_list(rest_t *x)
{
    list_t l = {json_array(), http_request_arg(x->req, "subjectPrefix"), arg_true(x, "deleted"),
                false};
    pthread_rwlock_rdlock(&x->r->lock);
    reg_map_each(&x->r->subjects, list_subjects_cb, &l);
    pthread_rwlock_unlock(&x->r->lock);
    filter_listed(x, l.out);
    rest_json(x, sorted(l.out));
}

/* Removes from a listing (subject names, or schema objects with a "subject") what the caller
 * may not see (the list filter: the authorizer's DESCRIBE on the subject's topic). Called
 * outside the registry's lock: the filter asks the broker's authorizer, which has its own. */
static void filter_listed(rest_t *x, json_t *out)
{
    for (size_t i = json_array_size(out); x->r->list_filter && i-- > 0;) {
        json_t *item = json_array_get(out, i);
        const char *subject = json_is_string(item)
                                  ? json_string_value(item)
                                  : json_string_value(json_object_get(item, "subject"));
        if (!x->r->list_filter(x->r->list_filter_arg, x->req, subject))
            json_array_remove(out, i);
    }
}

void registry_set_list_filter(registry_t *r, registry_list_filter_fn fn, void *arg)
{
    r->list_filter = fn;
    r->list_filter_arg = arg;
}

static void subject_lookup(rest_t *x)
{
    rest_body_t b;
    if (body_schema(x, &b) == 0) {
        registry_t *r = x->r;
        pthread_rwlock_rdlock(&r->lock);
        reg_subject_t *sub = reg_subject_get(r, x->subject);
        registry_schema_t *s = NULL;
        reg_err_t e;
        bool deleted = arg_true(x, "deleted");
        if (!sub || sub->n == 0 || (!deleted && !reg_subject_live(sub))) {
            rest_error(x, 404, 40401, "Subject '%s' not found.", x->subject);
        } else if (reg_schema_resolve(r, b.type, b.schema, b.schema_len, b.refs, b.nrefs,
                                      arg_true(x, "normalize"), &s, &e)) {
            rest_err(x, &e);
        } else {
            reg_version_t *v = reg_lookup(r, sub, s, b.refs, b.nrefs, deleted);
            if (v)
                rest_json(x, version_json_fmt(sub->name, v, want_serialized(x)));
            else
                rest_error(x, 404, 40403, "Schema not found");
        }
        registry_schema_free(s);
        pthread_rwlock_unlock(&r->lock);
    }
    body_free(&b);
}

static void subject_register(rest_t *x)
{
    rest_body_t b;
    if (body_schema(x, &b) == 0) {
        reg_register_req_t rq = {.subject = x->subject,
                                 .schema = b.schema,
                                 .schema_len = b.schema_len,
                                 .type = b.type,
                                 .refs = b.refs,
                                 .nrefs = b.nrefs,
                                 .id = b.id,
                                 .version = b.version,
                                 .normalize = arg_true(x, "normalize")};
        reg_err_t e;
        int32_t id;
        if (reg_register(x->r, &rq, &id, &e))
            rest_err(x, &e);
        else
            rest_json(x, json_pack("{s:i}", "id", (json_int_t)id));
    }
    body_free(&b);
}

static void subject_versions(rest_t *x)
{
    registry_t *r = x->r;
    bool deleted = arg_true(x, "deleted");
    pthread_rwlock_rdlock(&r->lock);
    reg_subject_t *sub = reg_subject_get(r, x->subject);
    if (!sub || sub->n == 0 || (!deleted && !reg_subject_live(sub))) {
        rest_error(x, 404, 40401, "Subject '%s' not found.", x->subject);
    } else {
        json_t *a = json_array();
        for (size_t i = 0; i < sub->n; i++)
            if (deleted || !sub->v[i].deleted)
                json_array_append_new(a, json_integer(sub->v[i].version));
        rest_json(x, a);
    }
    pthread_rwlock_unlock(&r->lock);
}

static void version_invalid(rest_t *x, const char *v)
{
    rest_error(x, 422, 42202,
               "The specified version '%s' is not a valid version id. Allowed values are "
               "between [1, 2^31-1] and the string \"latest\"",
               v);
}

typedef struct {
    const char *subject;
    int32_t version;
    json_t *out;
} refby_t;

static void referenced_by(registry_t *r, refby_t *rb)
{
    for (size_t i = 0; i < r->nids; i++) {
        const reg_entry_t *e = r->ids[i];
        if (e->gone)
            continue;
        for (size_t k = 0; k < e->nrefs; k++)
            if (is(e->refs[k].subject, rb->subject) && e->refs[k].version == rb->version) {
                json_array_append_new(rb->out, json_integer(e->id));
                break;
            }
    }
}

static void subject_version_get(rest_t *x, const char *vs, const char *tail)
{
    int32_t vn;
    if (reg_version_parse(vs, &vn)) {
        version_invalid(x, vs);
        return;
    }
    registry_t *r = x->r;
    bool deleted = arg_true(x, "deleted");
    pthread_rwlock_rdlock(&r->lock);
    reg_subject_t *sub = reg_subject_get(r, x->subject);
    reg_version_t *v = NULL;
    if (sub && (deleted || reg_subject_live(sub)))
        v = vn == -1 ? reg_version_latest(sub, deleted) : reg_version_get(sub, vn);
    if (v && v->deleted && !deleted)
        v = NULL;
    if (!sub || sub->n == 0 || (!deleted && !reg_subject_live(sub))) {
        rest_error(x, 404, 40401, "Subject '%s' not found.", x->subject);
    } else if (!v) {
        rest_error(x, 404, 40402, "Version %s not found.", vs);
    } else if (!tail) {
        rest_json(x, version_json_fmt(sub->name, v, want_serialized(x)));
    } else if (is(tail, "schema")) {
        x->resp->status = 200;
        buf_append_str(&x->resp->body, v->e->s->canonical);
    } else {
        refby_t rb = {sub->name, v->version, json_array()};
        referenced_by(r, &rb);
        rest_json(x, rb.out);
    }
    pthread_rwlock_unlock(&r->lock);
}

static void subject_version_delete(rest_t *x, const char *vs)
{
    reg_err_t e;
    int32_t deleted;
    if (reg_delete_version(x->r, x->subject, vs, arg_true(x, "permanent"), &deleted, &e))
        rest_err(x, &e);
    else
        rest_json(x, json_integer(deleted));
}

static void subject_delete(rest_t *x)
{
    reg_err_t e;
    buf_t out;
    buf_init(&out);
    buf_append_u8(&out, '[');
    if (reg_delete_subject(x->r, x->subject, arg_true(x, "permanent"), &out, &e)) {
        rest_err(x, &e);
    } else {
        buf_append_u8(&out, ']');
        x->resp->status = 200;
        buf_append(&x->resp->body, out.data, out.len);
    }
    buf_deinit(&out);
}

/* /subjects/{s}[/versions[/{v}[/schema|/referencedby]]]; a subject may hold '/'. */
static void subjects_path(rest_t *x, const char *rest)
{
    const char *m = x->req->method;
    size_t n = strlen(rest);
    const char *v = NULL, *tail = NULL;
    bool versions = false;
    char *s = weir_strdup(rest);
    char *p1 = strrchr(s, '/');
    if (p1 && is(p1 + 1, "versions")) {
        *p1 = 0;
        versions = true;
    } else if (p1) {
        char *last = p1 + 1;
        *p1 = 0;
        char *p2 = strrchr(s, '/');
        if (p2 && is(p2 + 1, "versions")) {
            *p2 = 0;
            v = last;
            versions = true;
        } else if (p2 && (is(last, "schema") || is(last, "referencedby"))) {
            char *vv = p2 + 1;
            *p2 = 0;
            char *p3 = strrchr(s, '/');
            if (p3 && is(p3 + 1, "versions")) {
                *p3 = 0;
                v = vv;
                tail = last;
                versions = true;
            }
        }
        if (!versions)
            memcpy(s, rest, n + 1); /* a subject name with '/' in it */
    }
    x->subject = s;
    if (!*s) {
        rest_not_found(x);
    } else if (!versions) {
        if (is(m, "POST"))
            subject_lookup(x);
        else if (is(m, "DELETE"))
            subject_delete(x);
        else
            rest_bad_method(x);
    } else if (!v) {
        if (is(m, "GET"))
            subject_versions(x);
        else if (is(m, "POST"))
            subject_register(x);
        else
            rest_bad_method(x);
    } else if (is(m, "GET")) {
        subject_version_get(x, v, tail);
    } else if (is(m, "DELETE") && !tail) {
        subject_version_delete(x, v);
    } else {
        rest_bad_method(x);
    }
    free(s);
    x->subject = NULL;
}

/* ---- /compatibility -------------------------------------------------------------------------- */

static void compat_answer(rest_t *x, int problems, buf_t *msgs)
{
    json_t *j = json_pack("{s:b}", "is_compatible", problems == 0);
    if (arg_true(x, "verbose")) {
        json_t *a = json_array();
        const char *p = msgs->len ? (const char *)msgs->data : "", *end = p + msgs->len;
        while (p < end) {
            const char *nl = memchr(p, REG_MSG_SEP, (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            json_array_append_new(a, json_stringn(p, len));
            p += len + 1;
        }
        json_object_set_new(j, "messages", a);
    }
    rest_json(x, j);
}

static void compatibility_path(rest_t *x, const char *rest)
{
    /* subjects/{s}/versions[/{v}] */
    if (!is(x->req->method, "POST")) {
        rest_bad_method(x);
        return;
    }
    if (strncmp(rest, "subjects/", 9) != 0) {
        rest_not_found(x);
        return;
    }
    char *s = weir_strdup(rest + 9);
    char *p = strrchr(s, '/');
    const char *vs = NULL;
    if (p && is(p + 1, "versions")) {
        *p = 0;
    } else if (p) {
        vs = p + 1;
        *p = 0;
        char *q = strrchr(s, '/');
        if (!q || !is(q + 1, "versions")) {
            free(s);
            rest_not_found(x);
            return;
        }
        *q = 0;
    } else {
        free(s);
        rest_not_found(x);
        return;
    }
    int32_t vn = 0;
    rest_body_t b;
    if (vs && reg_version_parse(vs, &vn)) {
        version_invalid(x, vs);
    } else if (body_schema(x, &b) == 0) {
        registry_t *r = x->r;
        pthread_rwlock_rdlock(&r->lock);
        reg_subject_t *sub = reg_subject_get(r, s);
        reg_version_t *v =
            vs && sub ? (vn == -1 ? reg_version_latest(sub, false) : reg_version_get(sub, vn))
                      : NULL;
        registry_schema_t *sc = NULL;
        reg_err_t e;
        if (vs && (!sub || !reg_subject_live(sub))) {
            rest_error(x, 404, 40401, "Subject '%s' not found.", s);
        } else if (vs && (!v || v->deleted)) {
            rest_error(x, 404, 40402, "Version %s not found.", vs);
        } else if (reg_schema_resolve(r, b.type, b.schema, b.schema_len, b.refs, b.nrefs,
                                      arg_true(x, "normalize"), &sc, &e)) {
            rest_err(x, &e);
        } else {
            buf_t msgs;
            buf_init(&msgs);
            int level = reg_subject_compat(r, sub, s);
            int problems = reg_check_compat(r, sub, v, sc, level, &msgs);
            compat_answer(x, problems, &msgs);
            buf_deinit(&msgs);
        }
        registry_schema_free(sc);
        pthread_rwlock_unlock(&r->lock);
        body_free(&b);
    } else {
        body_free(&b);
    }
    free(s);
}

/* ---- /config and /mode ------------------------------------------------------------------------
 */

static void config_path(rest_t *x, const char *subject)
{
    registry_t *r = x->r;
    const char *m = x->req->method;
    if (subject && !*subject)
        subject = NULL;
    reg_err_t e;
    int prev;
    if (is(m, "GET")) {
        pthread_rwlock_rdlock(&r->lock);
        reg_subject_t *sub = subject ? reg_subject_get(r, subject) : NULL;
        int c = subject ? (sub ? sub->compat : -1) : r->compat;
        if (c < 0 && arg_true(x, "defaultToGlobal"))
            c = r->compat;
        pthread_rwlock_unlock(&r->lock);
        if (c < 0)
            rest_error(x, 404, 40408,
                       "Subject '%s' does not have subject-level compatibility configured",
                       subject);
        else
            rest_json(x, json_pack("{s:s}", "compatibilityLevel",
                                   registry_compat_name((registry_compat_t)c)));
    } else if (is(m, "PUT")) {
        json_t *j;
        if (body_json(x, &j))
            return;
        registry_compat_t c;
        json_t *jc = json_object_get(j, "compatibility");
        if (!json_is_string(jc) || registry_compat_parse(json_string_value(jc), &c))
            rest_error(x, 422, 42203,
                       "Invalid compatibility level. Valid values are none, backward, forward, "
                       "full, backward_transitive, forward_transitive, and full_transitive");
        else if (reg_set_config(r, subject, (int)c, &prev, &e))
            rest_err(x, &e);
        else
            rest_json(x, json_pack("{s:s}", "compatibility", registry_compat_name(c)));
        json_decref(j);
    } else if (is(m, "DELETE")) {
        if (reg_set_config(r, subject, -1, &prev, &e))
            rest_err(x, &e);
        else if (prev < 0)
            rest_error(x, 404, 40408,
                       "Subject '%s' does not have subject-level compatibility configured",
                       subject);
        else
            rest_json(x, json_pack("{s:s}", "compatibilityLevel",
                                   registry_compat_name((registry_compat_t)prev)));
    } else {
        rest_bad_method(x);
    }
}

static void mode_path(rest_t *x, const char *subject)
{
    registry_t *r = x->r;
    const char *m = x->req->method;
    if (subject && !*subject)
        subject = NULL;
    reg_err_t e;
    int prev;
    if (is(m, "GET")) {
        pthread_rwlock_rdlock(&r->lock);
        reg_subject_t *sub = subject ? reg_subject_get(r, subject) : NULL;
        int md = subject ? (sub ? sub->mode : -1) : r->mode;
        if (md < 0 && arg_true(x, "defaultToGlobal"))
            md = r->mode;
        pthread_rwlock_unlock(&r->lock);
        if (md < 0)
            rest_error(x, 404, 40409, "Subject '%s' does not have subject-level mode configured",
                       subject);
        else
            rest_json(x, json_pack("{s:s}", "mode", reg_mode_name(md)));
    } else if (is(m, "PUT")) {
        json_t *j;
        if (body_json(x, &j))
            return;
        json_t *jm = json_object_get(j, "mode");
        int md = json_is_string(jm) ? reg_mode_parse(json_string_value(jm)) : -1;
        if (md < 0)
            rest_error(x, 422, 42204,
                       "Invalid mode. Valid values are READWRITE, READONLY and IMPORT");
        else if (reg_set_mode(r, subject, md, arg_true(x, "force"), &prev, &e))
            rest_err(x, &e);
        else
            rest_json(x, json_pack("{s:s}", "mode", reg_mode_name(md)));
        json_decref(j);
    } else if (is(m, "DELETE")) {
        if (reg_set_mode(r, subject, -1, false, &prev, &e))
            rest_err(x, &e);
        else if (prev < 0)
            rest_error(x, 404, 40409, "Subject '%s' does not have subject-level mode configured",
                       subject);
        else
            rest_json(x, json_pack("{s:s}", "mode", reg_mode_name(prev)));
    } else {
        rest_bad_method(x);
    }
}

/* ---- entry -------------------------------------------------------------------------------------
 */

/* Picks the answer's content type from Accept; false: nothing acceptable (406). */
static bool negotiate(rest_t *x)
{
    const char *accept = http_request_header(x->req, "Accept");
    x->resp->content_type = CT_V1;
    if (!accept || !*accept || strstr(accept, CT_V1) || strstr(accept, "*/*") ||
        strstr(accept, "application/*"))
        return true;
    if (strstr(accept, CT_SR)) {
        x->resp->content_type = CT_SR;
        return true;
    }
    if (strstr(accept, CT_JSON)) {
        x->resp->content_type = CT_JSON;
        return true;
    }
    return false;
}

static bool content_type_ok(const char *ct)
{
    if (!ct || !*ct)
        return true;
    static const char *const ok[] = {CT_V1, CT_SR, CT_JSON, "application/octet-stream"};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(ok); i++) {
        size_t n = strlen(ok[i]);
        if (strncasecmp(ct, ok[i], n) == 0 && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' '))
            return true;
    }
    return false;
}

static void split_segments(rest_t *x, char *path)
{
    x->nsegs = 0;
    char *save = NULL;
    for (char *p = strtok_r(path, "/", &save); p && x->nsegs < (int)WEIR_ARRAY_LEN(x->segs);
         p = strtok_r(NULL, "/", &save))
        x->segs[x->nsegs++] = p;
}

void registry_http(registry_t *r, const http_request_t *req, http_response_t *resp)
{
    rest_t x = {.r = r, .req = req, .resp = resp};
    if (!negotiate(&x)) {
        resp->content_type = CT_V1;
        rest_error(&x, 406, 406, "HTTP 406 Not Acceptable");
        return;
    }
    bool has_body = is(req->method, "POST") || is(req->method, "PUT");
    if (has_body && !content_type_ok(http_request_header(req, "Content-Type"))) {
        rest_error(&x, 415, 415, "HTTP 415 Unsupported Media Type");
        return;
    }
    const char *path = req->path;
    char *copy = NULL;
    if (strncmp(path, "/subjects/", 10) == 0 && path[10]) {
        subjects_path(&x, path + 10);
    } else if (is(path, "/subjects") || is(path, "/subjects/")) {
        if (is(req->method, "GET"))
            subjects_list(&x);
        else
            rest_bad_method(&x);
    } else if (strncmp(path, "/schemas", 8) == 0 && (path[8] == 0 || path[8] == '/')) {
        copy = weir_strdup(path + 8);
        split_segments(&x, copy);
        schemas_path(&x);
    } else if (strncmp(path, "/compatibility/", 15) == 0) {
        compatibility_path(&x, path + 15);
    } else if (strncmp(path, "/config", 7) == 0 && (path[7] == 0 || path[7] == '/')) {
        config_path(&x, path[7] ? path + 8 : NULL);
    } else if (strncmp(path, "/mode", 5) == 0 && (path[5] == 0 || path[5] == '/')) {
        mode_path(&x, path[5] ? path + 6 : NULL);
    } else if (is(path, "/contexts")) {
        if (is(req->method, "GET"))
            rest_json(&x, json_pack("[s]", "."));
        else
            rest_bad_method(&x);
    } else {
        rest_not_found(&x);
    }
    free(copy);
}

static void route_cb(void *arg, const http_request_t *req, http_response_t *resp)
{
    registry_http(arg, req, resp);
}

void registry_http_routes(registry_t *r, http_server_t *s)
{
    static const char *const paths[] = {"/subjects",       "/subjects/", "/schemas", "/schemas/",
                                        "/config",         "/config/",   "/mode",    "/mode/",
                                        "/compatibility/", "/contexts"};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(paths); i++)
        http_server_route(s, NULL, paths[i], route_cb, r);
}
