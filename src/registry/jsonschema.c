/*
 * JSON Schema (draft-07 and 2020-12, the keywords used in practice), on jansson: a check of the
 * schema itself (keyword types, $ref targets, depth), a validator of JSON documents against it,
 * and the compatibility rules Confluent applies, built on open and closed content models: a
 * reader accepts what a writer produced when every instance valid for the writer is valid for
 * the reader, which we decide keyword by keyword.
 *
 * $ref may point into the same document ("#", "#/definitions/x", "#/$defs/x") or at a
 * reference of the registration by its name ("other.json", "other.json#/$defs/x"). Recursive
 * schemas are allowed; every walk is bounded by a depth limit.
 *
 * Invariant: a parsed model is {root, refs} where every $ref in root resolves; validation and
 * compatibility never allocate per keyword except regex compilation.
 */
#include "registry/registry_internal.h"

#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    json_t *root;
    const reg_refs_t *refs; /* the schema's own reference arrays (registry_schema_t.refs) */
} js_model_t;

enum { JS_DEPTH_MAX = 64 };

static const char *const js_types[] = {"null",   "boolean", "object", "array",
                                       "number", "string",  "integer"};

void reg_json_free(void *model)
{
    js_model_t *m = model;
    if (!m)
        return;
    json_decref(m->root);
    free(m);
}

/* ---- $ref resolution --------------------------------------------------------------------- */

/* Follows a JSON pointer ("/a/b~1c/0") from doc. */
static json_t *js_pointer(json_t *doc, const char *ptr)
{
    json_t *cur = doc;
    while (cur && *ptr == '/') {
        ptr++;
        char tok[256];
        size_t n = 0;
        while (*ptr && *ptr != '/' && n + 1 < sizeof(tok)) {
            if (ptr[0] == '~' && ptr[1] == '1') {
                tok[n++] = '/';
                ptr += 2;
            } else if (ptr[0] == '~' && ptr[1] == '0') {
                tok[n++] = '~';
                ptr += 2;
            } else {
                tok[n++] = *ptr++;
            }
        }
        tok[n] = 0;
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            cur = *tok && !*end ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
    }
    return *ptr ? NULL : cur;
}

/* The schema a $ref names, and the model it lives in (for refs inside it). */
static json_t *js_resolve(const js_model_t *m, const char *ref, const js_model_t **in)
{
    *in = m;
    if (!ref)
        return NULL;
    const char *hash = strchr(ref, '#');
    size_t base_len = hash ? (size_t)(hash - ref) : strlen(ref);
    if (base_len == 0)
        return js_pointer(m->root, hash ? hash + 1 : "");
    for (size_t i = 0; m->refs && i < m->refs->count; i++) {
        const char *name = m->refs->names[i];
        if (strlen(name) == base_len && strncmp(name, ref, base_len) == 0) {
            const js_model_t *o = m->refs->schemas[i]->model;
            *in = o;
            return js_pointer(o->root, hash ? hash + 1 : "");
        }
    }
    /* an $id-style absolute URL whose last segment is a reference name */
    return NULL;
}

/* ---- checking the schema itself ------------------------------------------------------------ */

typedef struct {
    const js_model_t *m;
    char *err;
    size_t err_size;
    int depth_max;
    json_t **seen; /* $ref targets in this document already checked (refs may form cycles) */
    size_t nseen, cap;
} js_check_t;

static int js_check(js_check_t *c, json_t *s, int depth);

static bool js_is_schema(json_t *s)
{
    return json_is_object(s) || json_is_boolean(s);
}

static int js_check_map(js_check_t *c, json_t *obj, const char *kw, int depth)
{
    if (!json_is_object(obj)) {
        reg_errf(c->err, c->err_size, "\"%s\" must be an object of schemas", kw);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) if (js_check(c, v, depth + 1)) return -1;
    return 0;
}

static int js_check_list(js_check_t *c, json_t *a, const char *kw, int depth)
{
    if (!json_is_array(a) || json_array_size(a) == 0) {
        reg_errf(c->err, c->err_size, "\"%s\" must be a non-empty array of schemas", kw);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (js_check(c, v, depth + 1)) return -1;
    return 0;
}

static int js_check_type(js_check_t *c, json_t *t)
{
    json_t *one[1] = {t};
    size_t n = json_is_array(t) ? json_array_size(t) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_is_array(t) ? json_array_get(t, i) : one[0];
        bool ok = false;
        for (size_t k = 0; json_is_string(x) && k < WEIR_ARRAY_LEN(js_types); k++)
            ok = ok || strcmp(json_string_value(x), js_types[k]) == 0;
        if (!ok) {
            reg_errf(c->err, c->err_size,
                     "\"type\" must name JSON types (null, boolean, object, "
                     "array, number, string, integer)");
            return -1;
        }
    }
    return 0;
}

static int js_check_keywords(js_check_t *c, json_t *s, int depth)
{
    static const char *const maps[] = {"properties", "patternProperties", "definitions", "$defs",
                                       "dependentSchemas"};
    static const char *const lists[] = {"allOf", "anyOf", "oneOf", "prefixItems"};
    static const char *const subs[] = {"additionalProperties",
                                       "not",
                                       "if",
                                       "then",
                                       "else",
                                       "contains",
                                       "propertyNames",
                                       "additionalItems",
                                       "unevaluatedProperties",
                                       "unevaluatedItems"};
    static const char *const counts[] = {"minLength", "maxLength",     "minItems",
                                         "maxItems",  "minProperties", "maxProperties"};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(maps); i++) {
        json_t *v = json_object_get(s, maps[i]);
        if (v && js_check_map(c, v, maps[i], depth))
            return -1;
    }
    for (size_t i = 0; i < WEIR_ARRAY_LEN(lists); i++) {
        json_t *v = json_object_get(s, lists[i]);
        if (v && js_check_list(c, v, lists[i], depth))
            return -1;
    }
    for (size_t i = 0; i < WEIR_ARRAY_LEN(subs); i++) {
        json_t *v = json_object_get(s, subs[i]);
        if (v && js_check(c, v, depth + 1))
            return -1;
    }
    for (size_t i = 0; i < WEIR_ARRAY_LEN(counts); i++) {
        json_t *v = json_object_get(s, counts[i]);
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
            reg_errf(c->err, c->err_size, "\"%s\" must be a non-negative integer", counts[i]);
            return -1;
        }
    }
    json_t *items = json_object_get(s, "items");
    if (items && (json_is_array(items) ? js_check_list(c, items, "items", depth)
                                       : js_check(c, items, depth + 1)))
        return -1;
    return 0;
}

static int js_check_values(js_check_t *c, json_t *s)
{
    json_t *v;
    if ((v = json_object_get(s, "type")) && js_check_type(c, v))
        return -1;
    if ((v = json_object_get(s, "required"))) {
        size_t i;
        json_t *x;
        bool ok = json_is_array(v);
        json_array_foreach(v, i, x) ok = ok && json_is_string(x);
        if (!ok) {
            reg_errf(c->err, c->err_size, "\"required\" must be an array of strings");
            return -1;
        }
    }
    if ((v = json_object_get(s, "enum")) && !json_is_array(v)) {
        reg_errf(c->err, c->err_size, "\"enum\" must be an array");
        return -1;
    }
    if ((v = json_object_get(s, "multipleOf")) &&
        (!json_is_number(v) || json_number_value(v) <= 0)) {
        reg_errf(c->err, c->err_size, "\"multipleOf\" must be a number above 0");
        return -1;
    }
    static const char *const nums[] = {"minimum", "maximum"};
    for (size_t i = 0; i < 2; i++)
        if ((v = json_object_get(s, nums[i])) && !json_is_number(v)) {
            reg_errf(c->err, c->err_size, "\"%s\" must be a number", nums[i]);
            return -1;
        }
    if ((v = json_object_get(s, "pattern"))) {
        regex_t re;
        if (!json_is_string(v) || regcomp(&re, json_string_value(v), REG_EXTENDED | REG_NOSUB)) {
            reg_errf(c->err, c->err_size, "\"pattern\" is not a regular expression we can use");
            return -1;
        }
        regfree(&re);
    }
    return 0;
}

/* A $ref may point anywhere in the document, also where no keyword leads (e.g. "#/x"): the
 * target is checked as a schema once, so validation and compatibility meet only checked
 * schemas. Targets in referenced schemas were checked when those were registered. */
static int js_check_target(js_check_t *c, json_t *t, const js_model_t *in, int depth)
{
    if (in != c->m)
        return 0;
    for (size_t i = 0; i < c->nseen; i++)
        if (c->seen[i] == t)
            return 0;
    if (c->nseen == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->seen = weir_realloc(c->seen, c->cap * sizeof(*c->seen));
    }
    c->seen[c->nseen++] = t;
    return js_check(c, t, depth + 1);
}

static int js_check(js_check_t *c, json_t *s, int depth)
{
    if (depth > c->depth_max) {
        reg_errf(c->err, c->err_size, "schema nesting deeper than %d", c->depth_max);
        return -1;
    }
    if (json_is_boolean(s))
        return 0;
    if (!json_is_object(s)) {
        reg_errf(c->err, c->err_size, "a JSON Schema must be an object or a boolean");
        return -1;
    }
    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        const js_model_t *in;
        if (!json_is_string(ref) || !js_is_schema(js_resolve(c->m, json_string_value(ref), &in))) {
            reg_errf(c->err, c->err_size, "$ref %s does not resolve to a schema",
                     json_is_string(ref) ? json_string_value(ref) : "(not a string)");
            return -1;
        }
        if (js_check_target(c, js_resolve(c->m, json_string_value(ref), &in), in, depth))
            return -1;
    }
    if (js_check_values(c, s))
        return -1;
    return js_check_keywords(c, s, depth);
}

int reg_json_parse(registry_schema_t *s, const char *text, size_t len, const reg_refs_t *refs,
                   bool normalize, const reg_bounds_t *b, char *err, size_t err_size)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        reg_errf(err, err_size, "Invalid JSON: %s (line %d)", je.text, je.line);
        return -WEIR_EINVAL;
    }
    for (size_t i = 0; refs && i < refs->count; i++)
        if (refs->schemas[i]->type != REGISTRY_JSON) {
            reg_errf(err, err_size, "a JSON schema can only reference JSON schemas");
            json_decref(j);
            return -WEIR_EINVAL;
        }
    js_model_t *m = weir_calloc(1, sizeof(*m));
    m->root = j;
    m->refs = refs;
    js_check_t c = {m, err, err_size, b->depth_max, NULL, 0, 0};
    int rc = js_check(&c, j, 0);
    free(c.seen);
    if (rc) {
        reg_json_free(m);
        return -WEIR_EINVAL;
    }
    size_t flags =
        JSON_COMPACT | JSON_ENCODE_ANY | (normalize ? JSON_SORT_KEYS : JSON_PRESERVE_ORDER);
    s->canonical = json_dumps(j, flags);
    s->model = m;
    return 0;
}

const char *reg_json_record_name(const registry_schema_t *s)
{
    const js_model_t *m = s->model;
    return json_string_value(json_object_get(m->root, "title"));
}

/* ---- validation of documents ---------------------------------------------------------------- */

typedef struct {
    char *why;
    size_t why_size;
    char path[256];
    int depth;
} js_val_t;

static int js_valid(js_val_t *v, const js_model_t *m, json_t *s, json_t *x);

static int js_fail(js_val_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int js_fail(js_val_t *v, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reg_errf(v->why, v->why_size, "JSON Schema: at '%s': %s", *v->path ? v->path : "/", msg);
    return -1;
}

static bool js_type_is(json_t *x, const char *t)
{
    if (!strcmp(t, "null"))
        return json_is_null(x);
    if (!strcmp(t, "boolean"))
        return json_is_boolean(x);
    if (!strcmp(t, "object"))
        return json_is_object(x);
    if (!strcmp(t, "array"))
        return json_is_array(x);
    if (!strcmp(t, "string"))
        return json_is_string(x);
    if (!strcmp(t, "number"))
        return json_is_number(x);
    if (!strcmp(t, "integer"))
        return json_is_integer(x) ||
               (json_is_real(x) && json_real_value(x) == floor(json_real_value(x)));
    return false;
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t cps = 0;
    for (size_t i = 0; i < n; i++)
        cps += ((uint8_t)s[i] & 0xc0) != 0x80;
    return cps;
}

static bool js_equal(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

static int js_valid_type(js_val_t *v, json_t *s, json_t *x)
{
    json_t *t = json_object_get(s, "type");
    if (t) {
        bool ok = false;
        if (json_is_string(t))
            ok = js_type_is(x, json_string_value(t));
        for (size_t i = 0; json_is_array(t) && i < json_array_size(t); i++)
            ok = ok || js_type_is(x, json_string_value(json_array_get(t, i)));
        if (!ok)
            return js_fail(v, "the value is not of the type the schema names");
    }
    json_t *e = json_object_get(s, "enum");
    if (e) {
        bool ok = false;
        for (size_t i = 0; i < json_array_size(e) && !ok; i++)
            ok = js_equal(json_array_get(e, i), x);
        if (!ok)
            return js_fail(v, "the value is not one of the enum");
    }
    json_t *c = json_object_get(s, "const");
    if (c && !js_equal(c, x))
        return js_fail(v, "the value is not the const");
    return 0;
}

static int js_valid_number(js_val_t *v, json_t *s, json_t *x)
{
    double d = json_number_value(x);
    json_t *k;
    if ((k = json_object_get(s, "minimum")) && d < json_number_value(k))
        return js_fail(v, "below minimum");
    if ((k = json_object_get(s, "maximum")) && d > json_number_value(k))
        return js_fail(v, "above maximum");
    if ((k = json_object_get(s, "exclusiveMinimum")) && json_is_number(k) &&
        d <= json_number_value(k))
        return js_fail(v, "not above exclusiveMinimum");
    if ((k = json_object_get(s, "exclusiveMaximum")) && json_is_number(k) &&
        d >= json_number_value(k))
        return js_fail(v, "not below exclusiveMaximum");
    if ((k = json_object_get(s, "multipleOf"))) {
        double q = d / json_number_value(k);
        if (!isfinite(q) || fabs(q - round(q)) > 1e-9)
            return js_fail(v, "not a multiple of multipleOf");
    }
    return 0;
}

static bool js_regex_match(const char *pattern, const char *s)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
        return true; /* checked at parse time; stay permissive */
    bool m = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

static int js_valid_string(js_val_t *v, json_t *s, json_t *x)
{
    size_t n = utf8_len(json_string_value(x), json_string_length(x));
    json_t *k;
    if ((k = json_object_get(s, "minLength")) && n < (size_t)json_integer_value(k))
        return js_fail(v, "shorter than minLength");
    if ((k = json_object_get(s, "maxLength")) && n > (size_t)json_integer_value(k))
        return js_fail(v, "longer than maxLength");
    if ((k = json_object_get(s, "pattern")) &&
        !js_regex_match(json_string_value(k), json_string_value(x)))
        return js_fail(v, "does not match pattern %s", json_string_value(k));
    return 0;
}

static size_t path_push(js_val_t *v, const char *seg, size_t idx, bool is_idx)
{
    size_t old = strlen(v->path);
    if (is_idx)
        snprintf(v->path + old, sizeof(v->path) - old, "/%zu", idx);
    else
        snprintf(v->path + old, sizeof(v->path) - old, "/%s", seg);
    return old;
}

static bool js_pattern_props_cover(json_t *s, const char *key, json_t **sub_out)
{
    json_t *pp = json_object_get(s, "patternProperties");
    const char *pat;
    json_t *sub;
    bool hit = false;
    json_object_foreach(pp, pat, sub)
    {
        if (js_regex_match(pat, key)) {
            if (sub_out)
                *sub_out = sub;
            hit = true;
            break;
        }
    }
    return hit;
}

static int js_valid_object(js_val_t *v, const js_model_t *m, json_t *s, json_t *x)
{
    json_t *k;
    size_t n = json_object_size(x);
    if ((k = json_object_get(s, "minProperties")) && n < (size_t)json_integer_value(k))
        return js_fail(v, "fewer properties than minProperties");
    if ((k = json_object_get(s, "maxProperties")) && n > (size_t)json_integer_value(k))
        return js_fail(v, "more properties than maxProperties");
    json_t *req = json_object_get(s, "required");
    for (size_t i = 0; i < json_array_size(req); i++) {
        const char *name = json_string_value(json_array_get(req, i));
        if (name && !json_object_get(x, name))
            return js_fail(v, "required property '%s' is missing", name);
    }
    json_t *props = json_object_get(s, "properties"),
           *addl = json_object_get(s, "additionalProperties");
    json_t *pnames = json_object_get(s, "propertyNames");
    const char *key;
    json_t *val;
    json_object_foreach(x, key, val)
    {
        size_t old = path_push(v, key, 0, false);
        json_t *ps = json_object_get(props, key), *pat = NULL;
        int rc = 0;
        if (pnames) {
            json_t *ks = json_string(key);
            rc = js_valid(v, m, pnames, ks);
            json_decref(ks);
        }
        if (rc == 0 && ps)
            rc = js_valid(v, m, ps, val);
        if (rc == 0 && js_pattern_props_cover(s, key, &pat))
            rc = js_valid(v, m, pat, val);
        else if (rc == 0 && !ps && addl) {
            if (json_is_false(addl))
                rc = js_fail(v, "property '%s' is not allowed (additionalProperties false)", key);
            else
                rc = js_valid(v, m, addl, val);
        }
        v->path[old] = 0;
        if (rc)
            return rc;
    }
    return 0;
}

static int js_valid_array(js_val_t *v, const js_model_t *m, json_t *s, json_t *x)
{
    json_t *k;
    size_t n = json_array_size(x);
    if ((k = json_object_get(s, "minItems")) && n < (size_t)json_integer_value(k))
        return js_fail(v, "fewer items than minItems");
    if ((k = json_object_get(s, "maxItems")) && n > (size_t)json_integer_value(k))
        return js_fail(v, "more items than maxItems");
    if (json_is_true(json_object_get(s, "uniqueItems")))
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (js_equal(json_array_get(x, i), json_array_get(x, j)))
                    return js_fail(v, "items are not unique");
    json_t *items = json_object_get(s, "items");
    json_t *prefix = json_object_get(s, "prefixItems");
    json_t *tuple = json_is_array(items) ? items : prefix;
    json_t *rest = json_is_array(items) ? json_object_get(s, "additionalItems") : items;
    for (size_t i = 0; i < n; i++) {
        json_t *sub = i < json_array_size(tuple) ? json_array_get(tuple, i) : rest;
        if (!sub)
            continue;
        size_t old = path_push(v, NULL, i, true);
        int rc = json_is_false(sub) ? js_fail(v, "no item allowed here")
                                    : js_valid(v, m, sub, json_array_get(x, i));
        v->path[old] = 0;
        if (rc)
            return rc;
    }
    json_t *contains = json_object_get(s, "contains");
    if (contains) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++) {
            js_val_t probe = {NULL, 0, "", v->depth};
            found = js_valid(&probe, m, contains, json_array_get(x, i)) == 0;
        }
        if (!found)
            return js_fail(v, "no item matches contains");
    }
    return 0;
}

static int js_valid_combined(js_val_t *v, const js_model_t *m, json_t *s, json_t *x)
{
    json_t *k;
    if ((k = json_object_get(s, "allOf")))
        for (size_t i = 0; i < json_array_size(k); i++)
            if (js_valid(v, m, json_array_get(k, i), x))
                return -1;
    size_t hits = 0;
    if ((k = json_object_get(s, "anyOf"))) {
        for (size_t i = 0; i < json_array_size(k) && !hits; i++) {
            js_val_t probe = {NULL, 0, "", v->depth};
            hits += js_valid(&probe, m, json_array_get(k, i), x) == 0;
        }
        if (!hits)
            return js_fail(v, "the value matches none of anyOf");
    }
    if ((k = json_object_get(s, "oneOf"))) {
        hits = 0;
        for (size_t i = 0; i < json_array_size(k); i++) {
            js_val_t probe = {NULL, 0, "", v->depth};
            hits += js_valid(&probe, m, json_array_get(k, i), x) == 0;
        }
        if (hits != 1)
            return js_fail(v, "the value matches %s of oneOf", hits ? "more than one" : "none");
    }
    if ((k = json_object_get(s, "not"))) {
        js_val_t probe = {NULL, 0, "", v->depth};
        if (js_valid(&probe, m, k, x) == 0)
            return js_fail(v, "the value matches the schema of not");
    }
    if ((k = json_object_get(s, "if"))) {
        js_val_t probe = {NULL, 0, "", v->depth};
        json_t *branch = json_object_get(s, js_valid(&probe, m, k, x) == 0 ? "then" : "else");
        if (branch && js_valid(v, m, branch, x))
            return -1;
    }
    return 0;
}

static int js_valid(js_val_t *v, const js_model_t *m, json_t *s, json_t *x)
{
    if (json_is_true(s))
        return 0;
    if (json_is_false(s))
        return js_fail(v, "the schema is false: no value is valid");
    if (++v->depth > JS_DEPTH_MAX) {
        v->depth--;
        return js_fail(v, "nesting deeper than the validator's limit");
    }
    int rc = 0;
    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        const js_model_t *in;
        json_t *target = js_resolve(m, json_string_value(ref), &in);
        rc = target ? js_valid(v, in, target, x) : js_fail(v, "unresolved $ref");
    }
    if (rc == 0)
        rc = js_valid_type(v, s, x);
    if (rc == 0 && json_is_number(x))
        rc = js_valid_number(v, s, x);
    if (rc == 0 && json_is_string(x))
        rc = js_valid_string(v, s, x);
    if (rc == 0 && json_is_object(x))
        rc = js_valid_object(v, m, s, x);
    if (rc == 0 && json_is_array(x))
        rc = js_valid_array(v, m, s, x);
    if (rc == 0)
        rc = js_valid_combined(v, m, s, x);
    v->depth--;
    return rc;
}

int reg_json_decode(const registry_schema_t *s, const uint8_t *p, size_t n, buf_t *json, char *why,
                    size_t why_size)
{
    json_error_t je;
    json_t *x = json_loadb((const char *)p, n, JSON_DECODE_ANY, &je);
    if (!x) {
        reg_errf(why, why_size, "JSON: the payload is not JSON: %s", je.text);
        return -WEIR_EINVAL;
    }
    const js_model_t *m = s->model;
    js_val_t v = {why, why_size, "", 0};
    int rc = js_valid(&v, m, m->root, x);
    if (rc == 0 && json)
        buf_append(json, p, n);
    json_decref(x);
    return rc ? -WEIR_EINVAL : 0;
}

/* ---- compatibility ---------------------------------------------------------------------------
 * Every instance the writer allows must be allowed by the reader. Each rule appends one
 * Confluent-style message (errorType as Confluent names its JSON Schema differences). */

typedef struct {
    buf_t *msgs;
    int count;
    char path[512];
    const js_model_t *rm, *wm;
    json_t *stack_r[64], *stack_w[64];
    int depth;
} js_compat_t;

#define JS_FAIL(c, type, ...)                                                                      \
    ((c)->count++, reg_compat_msg((c)->msgs, type, (c)->path[0] ? (c)->path : "#/", __VA_ARGS__))

static void js_cmp(js_compat_t *c, json_t *r, json_t *w);

static size_t cpath_push(js_compat_t *c, const char *a, const char *b)
{
    size_t old = strlen(c->path);
    snprintf(c->path + old, sizeof(c->path) - old, "%s%s%s", old ? "/" : "#/", a, b ? "/" : "");
    if (b) {
        size_t l = strlen(c->path);
        snprintf(c->path + l, sizeof(c->path) - l, "%s", b);
    }
    return old;
}

/* A schema without $ref at the top (follows refs within depth). */
static json_t *js_deref(const js_model_t *m, json_t *s, const js_model_t **in)
{
    *in = m;
    for (int i = 0; i < 16 && json_is_object(s) && json_object_get(s, "$ref"); i++) {
        const js_model_t *next;
        json_t *t = js_resolve(*in, json_string_value(json_object_get(s, "$ref")), &next);
        if (!t)
            break;
        s = t;
        *in = next;
    }
    return s;
}

static bool type_has(json_t *t, const char *name)
{
    if (!t)
        return true; /* no type: every type */
    if (json_is_string(t))
        return strcmp(json_string_value(t), name) == 0 ||
               (strcmp(name, "integer") == 0 && strcmp(json_string_value(t), "number") == 0);
    for (size_t i = 0; i < json_array_size(t); i++)
        if (type_has(json_array_get(t, i), name))
            return true;
    return false;
}

static void js_cmp_types(js_compat_t *c, json_t *r, json_t *w)
{
    json_t *rt = json_object_get(r, "type"), *wt = json_object_get(w, "type");
    if (!rt)
        return;
    if (!wt) {
        JS_FAIL(c, "TYPE_NARROWED", "The type at path '%s' was narrowed to a type", c->path);
        return;
    }
    size_t n = json_is_array(wt) ? json_array_size(wt) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_is_array(wt) ? json_array_get(wt, i) : wt;
        if (!type_has(rt, json_string_value(x))) {
            JS_FAIL(c, json_is_array(rt) || json_is_array(wt) ? "TYPE_NARROWED" : "TYPE_CHANGED",
                    "The type at path '%s' does not accept '%s' any more", c->path,
                    json_string_value(x));
            return;
        }
    }
}

/* A numeric bound: upper bounds must not decrease, lower bounds must not increase. */
static void js_cmp_bound(js_compat_t *c, json_t *r, json_t *w, const char *kw, bool upper,
                         const char *added, const char *changed)
{
    json_t *rv = json_object_get(r, kw), *wv = json_object_get(w, kw);
    if (!rv || !json_is_number(rv))
        return;
    if (!wv || !json_is_number(wv)) {
        JS_FAIL(c, added, "The keyword '%s' at path '%s' was added", kw, c->path);
        return;
    }
    double a = json_number_value(rv), b = json_number_value(wv);
    if (upper ? a < b : a > b)
        JS_FAIL(c, changed, "The keyword '%s' at path '%s' was made stricter", kw, c->path);
}

static void js_cmp_scalar(js_compat_t *c, json_t *r, json_t *w)
{
    js_cmp_bound(c, r, w, "maxLength", true, "MAX_LENGTH_ADDED", "MAX_LENGTH_DECREASED");
    js_cmp_bound(c, r, w, "minLength", false, "MIN_LENGTH_ADDED", "MIN_LENGTH_INCREASED");
    js_cmp_bound(c, r, w, "maximum", true, "MAXIMUM_ADDED", "MAXIMUM_DECREASED");
    js_cmp_bound(c, r, w, "minimum", false, "MINIMUM_ADDED", "MINIMUM_INCREASED");
    js_cmp_bound(c, r, w, "exclusiveMaximum", true, "EXCLUSIVE_MAXIMUM_ADDED",
                 "EXCLUSIVE_MAXIMUM_DECREASED");
    js_cmp_bound(c, r, w, "exclusiveMinimum", false, "EXCLUSIVE_MINIMUM_ADDED",
                 "EXCLUSIVE_MINIMUM_INCREASED");
    js_cmp_bound(c, r, w, "maxItems", true, "MAX_ITEMS_ADDED", "MAX_ITEMS_DECREASED");
    js_cmp_bound(c, r, w, "minItems", false, "MIN_ITEMS_ADDED", "MIN_ITEMS_INCREASED");
    js_cmp_bound(c, r, w, "maxProperties", true, "MAX_PROPERTIES_ADDED",
                 "MAX_PROPERTIES_DECREASED");
    js_cmp_bound(c, r, w, "minProperties", false, "MIN_PROPERTIES_ADDED",
                 "MIN_PROPERTIES_INCREASED");
    json_t *rp = json_object_get(r, "pattern"), *wp = json_object_get(w, "pattern");
    if (rp && !wp)
        JS_FAIL(c, "PATTERN_ADDED", "A pattern was added at path '%s'", c->path);
    else if (rp && !json_equal(rp, wp))
        JS_FAIL(c, "PATTERN_CHANGED", "The pattern at path '%s' changed", c->path);
    json_t *rm = json_object_get(r, "multipleOf"), *wm = json_object_get(w, "multipleOf");
    if (rm && !wm)
        JS_FAIL(c, "MULTIPLE_OF_ADDED", "multipleOf was added at path '%s'", c->path);
    else if (rm && wm) {
        double q = json_number_value(wm) / json_number_value(rm);
        if (fabs(q - round(q)) > 1e-9)
            JS_FAIL(c, "MULTIPLE_OF_CHANGED", "multipleOf at path '%s' changed", c->path);
    }
    json_t *re = json_object_get(r, "enum"), *we = json_object_get(w, "enum");
    if (re && !we)
        JS_FAIL(c, "ENUM_ARRAY_NARROWED", "An enum was added at path '%s'", c->path);
    for (size_t i = 0; re && i < json_array_size(we); i++) {
        bool found = false;
        for (size_t k = 0; k < json_array_size(re) && !found; k++)
            found = js_equal(json_array_get(re, k), json_array_get(we, i));
        if (!found) {
            JS_FAIL(c, "ENUM_ARRAY_NARROWED", "The enum at path '%s' lost values", c->path);
            break;
        }
    }
    if (json_is_true(json_object_get(r, "uniqueItems")) &&
        !json_is_true(json_object_get(w, "uniqueItems")))
        JS_FAIL(c, "UNIQUE_ITEMS_ADDED", "uniqueItems was added at path '%s'", c->path);
}

static bool in_required(json_t *s, const char *name)
{
    json_t *req = json_object_get(s, "required");
    for (size_t i = 0; i < json_array_size(req); i++)
        if (strcmp(json_string_value(json_array_get(req, i)), name) == 0)
            return true;
    return false;
}

static void js_cmp_object(js_compat_t *c, json_t *r, json_t *w)
{
    json_t *rprops = json_object_get(r, "properties"), *wprops = json_object_get(w, "properties");
    json_t *raddl = json_object_get(r, "additionalProperties");
    json_t *waddl = json_object_get(w, "additionalProperties");
    bool wopen =
        !waddl || json_is_true(waddl) || (json_is_object(waddl) && json_object_size(waddl) == 0);
    bool rclosed = json_is_false(raddl);
    const char *key;
    json_t *rs;
    json_object_foreach(rprops, key, rs)
    {
        json_t *ws = json_object_get(wprops, key);
        size_t old = cpath_push(c, "properties", key);
        if (ws) {
            js_cmp(c, rs, ws);
        } else if (wopen && !json_is_true(rs) && !js_pattern_props_cover(w, key, NULL)) {
            JS_FAIL(c, "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
                    "The new schema adds property '%s' at path '%s' to an open content model", key,
                    c->path);
        } else if (!wopen && json_is_object(waddl)) {
            js_cmp(c, rs, waddl); /* partially open: the writer's extra properties */
        } else if (in_required(r, key) && !json_object_get(rs, "default")) {
            JS_FAIL(c, "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
                    "The new schema requires an added property '%s' at path '%s'", key, c->path);
        }
        c->path[old] = 0;
    }
    json_t *ws;
    json_object_foreach(wprops, key, ws)
    {
        if (json_object_get(rprops, key))
            continue;
        size_t old = cpath_push(c, "properties", key);
        json_t *pat = NULL;
        if (js_pattern_props_cover(r, key, &pat))
            js_cmp(c, pat, ws);
        else if (rclosed)
            JS_FAIL(c, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                    "The new schema removes property '%s' at path '%s' from a closed content model",
                    key, c->path);
        else if (json_is_object(raddl))
            js_cmp(c, raddl, ws);
        c->path[old] = 0;
    }
    json_t *rreq = json_object_get(r, "required");
    for (size_t i = 0; i < json_array_size(rreq); i++) {
        const char *name = json_string_value(json_array_get(rreq, i));
        json_t *prop = json_object_get(rprops, name);
        if (!in_required(w, name) && !json_object_get(prop, "default") &&
            json_object_get(wprops, name)) {
            JS_FAIL(c, "REQUIRED_ATTRIBUTE_ADDED", "Property '%s' at path '%s' became required",
                    name, c->path);
        }
    }
    if (raddl && !json_is_true(raddl) && (wopen || !waddl)) {
        if (rclosed && wopen)
            JS_FAIL(c, "ADDITIONAL_PROPERTIES_REMOVED",
                    "The new schema closes the content model at path '%s'", c->path);
        else if (json_is_object(raddl) && json_object_size(raddl) && wopen)
            JS_FAIL(c, "ADDITIONAL_PROPERTIES_NARROWED",
                    "The new schema restricts additional properties at path '%s'", c->path);
    } else if (json_is_object(raddl) && json_is_object(waddl)) {
        size_t old = cpath_push(c, "additionalProperties", NULL);
        js_cmp(c, raddl, waddl);
        c->path[old] = 0;
    }
}

static void js_cmp_array(js_compat_t *c, json_t *r, json_t *w)
{
    json_t *ri = json_object_get(r, "items"), *wi = json_object_get(w, "items");
    if (ri && !json_is_array(ri)) {
        size_t old = cpath_push(c, "items", NULL);
        if (!wi || json_is_array(wi))
            JS_FAIL(c, "ITEMS_NARROWED", "The items at path '%s' were restricted", c->path);
        else
            js_cmp(c, ri, wi);
        c->path[old] = 0;
    }
    json_t *rp = json_is_array(ri) ? ri : json_object_get(r, "prefixItems");
    json_t *wp = json_is_array(wi) ? wi : json_object_get(w, "prefixItems");
    for (size_t i = 0; i < json_array_size(rp); i++) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        size_t old = cpath_push(c, "prefixItems", idx);
        if (i < json_array_size(wp))
            js_cmp(c, json_array_get(rp, i), json_array_get(wp, i));
        else
            JS_FAIL(c, "ITEM_ADDED_TO_OPEN_CONTENT_MODEL", "An item was added at path '%s'",
                    c->path);
        c->path[old] = 0;
    }
}

/* Each writer branch must be accepted by some reader branch. */
static void js_cmp_sum(js_compat_t *c, json_t *r, json_t *w, const char *kw)
{
    json_t *ra = json_object_get(r, kw), *wa = json_object_get(w, kw);
    if (!ra)
        return;
    if (!wa) {
        JS_FAIL(c, "COMBINED_TYPE_CHANGED", "The keyword '%s' was added at path '%s'", kw, c->path);
        return;
    }
    for (size_t i = 0; i < json_array_size(wa); i++) {
        bool ok = false;
        for (size_t k = 0; k < json_array_size(ra) && !ok; k++) {
            js_compat_t probe = *c;
            probe.msgs = NULL;
            probe.count = 0;
            js_cmp(&probe, json_array_get(ra, k), json_array_get(wa, i));
            ok = probe.count == 0;
        }
        if (!ok) {
            JS_FAIL(c, "SUM_TYPE_NARROWED",
                    "A branch of '%s' at path '%s' is not accepted by the new schema", kw, c->path);
            return;
        }
    }
}

static void js_cmp(js_compat_t *c, json_t *r, json_t *w)
{
    const js_model_t *rin, *win;
    r = js_deref(c->rm, r, &rin);
    w = js_deref(c->wm, w, &win);
    if (json_is_true(r) || json_is_false(w) || r == w)
        return;
    if (json_is_false(r) || json_is_true(w)) {
        if (!(json_is_object(r) && json_object_size(r) == 0))
            JS_FAIL(c, "TYPE_NARROWED", "The schema at path '%s' accepts fewer values", c->path);
        return;
    }
    for (int i = 0; i < c->depth; i++)
        if (c->stack_r[i] == r && c->stack_w[i] == w)
            return;
    if (c->depth >= (int)WEIR_ARRAY_LEN(c->stack_r))
        return;
    c->stack_r[c->depth] = r;
    c->stack_w[c->depth] = w;
    c->depth++;
    const js_model_t *save_r = c->rm, *save_w = c->wm;
    c->rm = rin;
    c->wm = win;
    js_cmp_types(c, r, w);
    js_cmp_scalar(c, r, w);
    json_t *rc = json_object_get(r, "const"), *wc = json_object_get(w, "const");
    if (rc && !(wc && js_equal(rc, wc)))
        JS_FAIL(c, "CONST_CHANGED", "The const at path '%s' changed", c->path);
    if (type_has(json_object_get(r, "type"), "object") &&
        (json_object_get(r, "properties") || json_object_get(w, "properties") ||
         json_object_get(r, "additionalProperties")))
        js_cmp_object(c, r, w);
    if (type_has(json_object_get(r, "type"), "array"))
        js_cmp_array(c, r, w);
    js_cmp_sum(c, r, w, "anyOf");
    js_cmp_sum(c, r, w, "oneOf");
    json_t *rall = json_object_get(r, "allOf");
    for (size_t i = 0; i < json_array_size(rall); i++) {
        js_compat_t probe = *c;
        probe.msgs = NULL;
        probe.count = 0;
        js_cmp(&probe, json_array_get(rall, i), w);
        if (probe.count) {
            JS_FAIL(c, "PRODUCT_TYPE_EXTENDED", "A part of allOf at path '%s' is stricter",
                    c->path);
            break;
        }
    }
    if (json_object_get(r, "not") &&
        !json_equal(json_object_get(r, "not"), json_object_get(w, "not")))
        JS_FAIL(c, "NOT_TYPE_EXTENDED", "The schema of not at path '%s' changed", c->path);
    c->rm = save_r;
    c->wm = save_w;
    c->depth--;
}

int reg_json_compat(const registry_schema_t *reader, const registry_schema_t *writer, buf_t *msgs)
{
    js_compat_t *c = weir_calloc(1, sizeof(*c));
    c->msgs = msgs;
    c->rm = reader->model;
    c->wm = writer->model;
    js_cmp(c, c->rm->root, c->wm->root);
    int n = c->count;
    free(c);
    return n;
}
