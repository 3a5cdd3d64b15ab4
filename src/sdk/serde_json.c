/*
 * The JSON Schema keywords a serializer checks before it sends a value (WEIR_SERDE_VALIDATE):
 * type, properties, required, additionalProperties, items, enum, const, minimum, maximum,
 * minLength, maxLength, minItems, maxItems. It catches the mistakes a producer makes (a missing
 * or misspelt field, a wrong type) at the source; the registry's full validator (and the
 * broker's schema validation on a topic) remain the authority. Keywords not listed, $ref
 * among them, are not checked.
 */
#include "sdk/sdk.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define JSON_DEPTH_MAX 64

typedef struct {
    char *err;
    size_t errlen;
    char path[256];
} check_t;

static int bad(check_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(check_t *c, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "$%s: %s", c->path, what);
    return -WEIR_EINVAL;
}

static bool type_is(const char *t, const json_t *v)
{
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v));
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    return true; /* an unknown type name is the registry's to refuse */
}

static int check(check_t *c, const json_t *s, const json_t *v, int depth);

static int check_type(check_t *c, const json_t *s, const json_t *v)
{
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t) && !type_is(json_string_value(t), v))
        return bad(c, "expected %s", json_string_value(t));
    if (json_is_array(t)) {
        size_t i;
        const json_t *x;
        json_array_foreach(t, i, x)
        {
            if (json_is_string(x) && type_is(json_string_value(x), v))
                return 0;
        }
        return bad(c, "%s", "not one of the types allowed");
    }
    return 0;
}

static int check_values(check_t *c, const json_t *s, const json_t *v)
{
    const json_t *e = json_object_get(s, "enum");
    if (json_is_array(e)) {
        size_t i;
        const json_t *x;
        bool found = false;
        json_array_foreach(e, i, x)
        {
            found = found || json_equal(x, v);
        }
        if (!found)
            return bad(c, "%s", "not one of the enum's values");
    }
    const json_t *k = json_object_get(s, "const");
    if (k && !json_equal(k, v))
        return bad(c, "%s", "not the const value");
    const json_t *lo = json_object_get(s, "minimum"), *hi = json_object_get(s, "maximum");
    if (json_is_number(v) && json_is_number(lo) && json_number_value(v) < json_number_value(lo))
        return bad(c, "%s", "below minimum");
    if (json_is_number(v) && json_is_number(hi) && json_number_value(v) > json_number_value(hi))
        return bad(c, "%s", "above maximum");
    size_t n = json_is_string(v) ? json_string_length(v) : json_array_size(v);
    const char *min = json_is_string(v) ? "minLength" : "minItems";
    const char *max = json_is_string(v) ? "maxLength" : "maxItems";
    if (!json_is_string(v) && !json_is_array(v))
        return 0;
    if (json_is_integer(json_object_get(s, min)) &&
        (json_int_t)n < json_integer_value(json_object_get(s, min)))
        return bad(c, "shorter than %s", min);
    if (json_is_integer(json_object_get(s, max)) &&
        (json_int_t)n > json_integer_value(json_object_get(s, max)))
        return bad(c, "longer than %s", max);
    return 0;
}

static int check_object(check_t *c, const json_t *s, const json_t *v, int depth)
{
    size_t i, at = strlen(c->path);
    const json_t *x;
    json_array_foreach(json_object_get(s, "required"), i, x)
    {
        if (json_is_string(x) && !json_object_get(v, json_string_value(x)))
            return bad(c, "required property \"%s\" is missing", json_string_value(x));
    }
    const json_t *props = json_object_get(s, "properties");
    const json_t *extra = json_object_get(s, "additionalProperties");
    const char *key;
    json_t *pv;
    json_object_foreach((json_t *)v, key, pv)
    {
        const json_t *ps = json_object_get(props, key);
        if (!ps && json_is_false(extra))
            return bad(c, "property \"%s\" is not allowed (additionalProperties: false)", key);
        if (!ps)
            ps = json_is_object(extra) ? extra : NULL;
        snprintf(c->path + at, sizeof(c->path) - at, ".%s", key);
        int rc = ps ? check(c, ps, pv, depth + 1) : 0;
        c->path[at] = '\0';
        if (rc)
            return rc;
    }
    return 0;
}

static int check(check_t *c, const json_t *s, const json_t *v, int depth)
{
    if (json_is_false(s))
        return bad(c, "%s", "no value is allowed here (schema false)");
    if (!json_is_object(s) || depth > JSON_DEPTH_MAX)
        return 0;
    int rc = check_type(c, s, v);
    if (!rc)
        rc = check_values(c, s, v);
    if (!rc && json_is_object(v))
        rc = check_object(c, s, v, depth);
    const json_t *items = json_object_get(s, "items");
    if (!rc && json_is_array(v) && json_is_object(items)) {
        size_t i, at = strlen(c->path);
        const json_t *x;
        json_array_foreach(v, i, x)
        {
            snprintf(c->path + at, sizeof(c->path) - at, "[%zu]", i);
            rc = check(c, items, x, depth + 1);
            c->path[at] = '\0';
            if (rc)
                break;
        }
    }
    return rc;
}

int sdk_json_validate(const json_t *schema, const json_t *v, char *err, size_t errlen)
{
    check_t c = {.err = err, .errlen = errlen};
    return check(&c, schema, v, 0);
}
