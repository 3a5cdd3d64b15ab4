/*
 * Avro binary to and from JSON values. Debian's libavro parses the schema text (and refuses
 * what the Avro spec refuses) and gives the schema tree this file walks; the binary encoding
 * itself is done here, directly between JSON values and bytes, so decoding is bounded by the
 * bytes present: a length or a block count is checked against what is left before anything is
 * allocated, nesting is capped (AVRO_DEPTH_MAX), and every byte must be used.
 *
 * JSON mapping (weir.h): records and maps are objects, enums their symbol, bytes and fixed a
 * string of code points 0..255, a union the value of its branch. When encoding, a union takes
 * its first branch that accepts the value, or the branch named by a one-member object
 * {"<type name>": value} (Avro's JSON encoding); a record field absent from the object is null.
 */
#include "sdk/sdk.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AVRO_DEPTH_MAX 128
#define AVRO_ITEMS_MAX (1u << 24) /* items in one array or map, also of zero-byte types */

typedef struct {
    avro_schema_t schema;
} sdk_avro_t;

void *sdk_avro_parse(const char *text, char *err, size_t errlen)
{
    avro_schema_t s;
    if (avro_schema_from_json_length(text, strlen(text), &s) != 0) {
        snprintf(err, errlen, "libavro: %s", avro_strerror());
        return NULL;
    }
    sdk_avro_t *a = weir_calloc(1, sizeof(*a));
    a->schema = s;
    return a;
}

void sdk_avro_free(void *avro)
{
    sdk_avro_t *a = avro;
    avro_schema_decref(a->schema);
    free(a);
}

/* ---- the path of a value, for errors ("$.items[2].qty") ------------------------------------- */

typedef struct {
    char *err;
    size_t errlen;
    char path[160]; /* short enough that the message after it fits in the error */
    size_t len;
    int depth;
} walk_t;

/* Appends ".name" (a field), "[i]" (an item) or "[\"key\"]" (a map key); returns where the
 * path ended before, for path_pop. A path longer than the buffer is cut short. */
static size_t path_push(walk_t *w, char kind, const char *name, size_t index)
{
    size_t at = w->len, room = sizeof(w->path) - at;
    int n = kind == '.'   ? snprintf(w->path + at, room, ".%s", name)
            : kind == '[' ? snprintf(w->path + at, room, "[%zu]", index)
                          : snprintf(w->path + at, room, "[\"%s\"]", name);
    if (n > 0)
        w->len = WEIR_MIN(at + (size_t)n, sizeof(w->path) - 1);
    return at;
}

static void path_pop(walk_t *w, size_t at)
{
    w->len = at;
    w->path[at] = '\0';
}

static int fail(walk_t *w, int rc, const char *what)
{
    snprintf(w->err, w->errlen, "$%s: %s", w->path, what);
    return rc;
}

/* ---- encoding ---------------------------------------------------------------------------------
 */

/* The bytes of a JSON string whose code points are 0..255 (Avro's JSON form of bytes). */
static int latin1_bytes(const json_t *v, buf_t *out)
{
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            buf_append_u8(out, s[i]);
        } else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < n) {
            buf_append_u8(out, (uint8_t)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f)));
            i++;
        } else {
            return -1;
        }
    }
    return 0;
}

/* A reference to a named type defined further out (a recursive record) is an AVRO_LINK node.
 * libavro's public headers have no accessor for its target, so this mirrors the layout of its
 * struct avro_link_schema_t (src/schema.h: the object header, then the target), unchanged
 * since avro-c 1.2. */
struct sdk_avro_link {
    struct avro_obj_t obj;
    avro_schema_t to;
};

static avro_schema_t resolve(avro_schema_t s)
{
    while (s && avro_typeof(s) == AVRO_LINK)
        s = ((struct sdk_avro_link *)(void *)s)->to;
    return s;
}

static const char *schema_name(avro_schema_t s)
{
    s = resolve(s);
    switch (avro_typeof(s)) {
    case AVRO_RECORD:
    case AVRO_ENUM:
    case AVRO_FIXED:
        return avro_schema_name(s);
    default:
        return avro_schema_type_name(s);
    }
}

static bool fits(avro_schema_t s, const json_t *v, int depth);

static bool record_fits(avro_schema_t s, const json_t *v, int depth)
{
    if (!json_is_object(v))
        return false;
    for (size_t i = 0; i < avro_schema_record_size(s); i++) {
        const json_t *f = json_object_get(v, avro_schema_record_field_name(s, (int)i));
        if (!fits(avro_schema_record_field_get_by_index(s, (int)i), f ? f : json_null(), depth))
            return false;
    }
    return true;
}

/* Whether v can be encoded with s: what picks a union's branch. */
static bool fits(avro_schema_t s, const json_t *v, int depth)
{
    s = resolve(s);
    if (depth > AVRO_DEPTH_MAX)
        return false;
    size_t i;
    const char *key;
    const json_t *x;
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return json_is_null(v);
    case AVRO_BOOLEAN:
        return json_is_boolean(v);
    case AVRO_INT32:
        return json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
               json_integer_value(v) <= INT32_MAX;
    case AVRO_INT64:
        return json_is_integer(v);
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        return json_is_number(v);
    case AVRO_STRING:
    case AVRO_BYTES:
        return json_is_string(v);
    case AVRO_FIXED:
        return json_is_string(v); /* the length is checked when encoding */
    case AVRO_ENUM:
        return json_is_string(v) && avro_schema_enum_get_by_name(s, json_string_value(v)) >= 0;
    case AVRO_ARRAY:
        if (!json_is_array(v))
            return false;
        json_array_foreach(v, i, x)
        {
            if (!fits(avro_schema_array_items(s), x, depth + 1))
                return false;
        }
        return true;
    case AVRO_MAP:
        if (!json_is_object(v))
            return false;
        json_object_foreach((json_t *)v, key, x)
        {
            if (!fits(avro_schema_map_values(s), x, depth + 1))
                return false;
        }
        return true;
    case AVRO_RECORD:
        return record_fits(s, v, depth + 1);
    case AVRO_UNION:
        for (i = 0; i < avro_schema_union_size(s); i++)
            if (fits(avro_schema_union_branch(s, (int)i), v, depth + 1))
                return true;
        return false;
    default:
        return false;
    }
}

static int encode(walk_t *w, avro_schema_t s, const json_t *v, buf_t *out);

/* The branch a union value goes to: named by a one-member object, or the first that fits. */
static int union_branch(avro_schema_t s, const json_t *v, const json_t **inner, int depth)
{
    size_t n = avro_schema_union_size(s);
    if (json_is_object(v) && json_object_size(v) == 1) {
        const char *key = json_object_iter_key(json_object_iter((json_t *)v));
        for (size_t i = 0; i < n; i++) {
            avro_schema_t b = avro_schema_union_branch(s, (int)i);
            const char *name = schema_name(b);
            const char *dot = strrchr(key, '.');
            if (name && (strcmp(name, key) == 0 || (dot && strcmp(name, dot + 1) == 0))) {
                *inner = json_object_iter_value(json_object_iter((json_t *)v));
                return (int)i;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (fits(avro_schema_union_branch(s, (int)i), v, depth)) {
            *inner = v;
            return (int)i;
        }
    }
    return -1;
}

static int encode_record(walk_t *w, avro_schema_t s, const json_t *v, buf_t *out)
{
    if (!json_is_object(v))
        return fail(w, -WEIR_EINVAL, "expected an object (record)");
    for (size_t i = 0; i < avro_schema_record_size(s); i++) {
        const char *name = avro_schema_record_field_name(s, (int)i);
        const json_t *f = json_object_get(v, name);
        size_t at = path_push(w, '.', name, 0);
        int rc =
            encode(w, avro_schema_record_field_get_by_index(s, (int)i), f ? f : json_null(), out);
        if (rc)
            return rc;
        path_pop(w, at);
    }
    return 0;
}

static int encode_array(walk_t *w, avro_schema_t s, const json_t *v, buf_t *out)
{
    if (!json_is_array(v))
        return fail(w, -WEIR_EINVAL, "expected an array");
    size_t i;
    const json_t *x;
    if (json_array_size(v))
        buf_append_varint(out, (int64_t)json_array_size(v));
    json_array_foreach(v, i, x)
    {
        size_t at = path_push(w, '[', NULL, i);
        int rc = encode(w, avro_schema_array_items(s), x, out);
        if (rc)
            return rc;
        path_pop(w, at);
    }
    buf_append_u8(out, 0);
    return 0;
}

static int encode_map(walk_t *w, avro_schema_t s, const json_t *v, buf_t *out)
{
    if (!json_is_object(v))
        return fail(w, -WEIR_EINVAL, "expected an object (map)");
    const char *key;
    json_t *x;
    if (json_object_size(v))
        buf_append_varint(out, (int64_t)json_object_size(v));
    json_object_foreach((json_t *)v, key, x)
    {
        buf_append_varint(out, (int64_t)strlen(key));
        buf_append_str(out, key);
        size_t at = path_push(w, 'k', key, 0);
        int rc = encode(w, avro_schema_map_values(s), x, out);
        if (rc)
            return rc;
        path_pop(w, at);
    }
    buf_append_u8(out, 0);
    return 0;
}

static int encode_scalar(walk_t *w, avro_schema_t s, const json_t *v, buf_t *out)
{
    if (!fits(s, v, 0)) {
        char what[96];
        if (avro_typeof(s) == AVRO_ENUM)
            snprintf(what, sizeof(what), "expected a symbol of enum %s", avro_schema_name(s));
        else
            snprintf(what, sizeof(what), "expected %s", avro_schema_type_name(s));
        return fail(w, -WEIR_EINVAL, what);
    }
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        buf_append_u8(out, json_is_true(v) ? 1 : 0);
        return 0;
    case AVRO_INT32:
    case AVRO_INT64:
        buf_append_varint(out, (int64_t)json_integer_value(v));
        return 0;
    case AVRO_FLOAT: {
        float f = (float)json_number_value(v);
        buf_append(out, &f, 4); /* little endian, as Avro and x86-64 and arm64 are */
        return 0;
    }
    case AVRO_DOUBLE: {
        double d = json_number_value(v);
        buf_append(out, &d, 8);
        return 0;
    }
    case AVRO_STRING:
        buf_append_varint(out, (int64_t)json_string_length(v));
        buf_append(out, json_string_value(v), json_string_length(v));
        return 0;
    case AVRO_ENUM:
        buf_append_varint(out, avro_schema_enum_get_by_name(s, json_string_value(v)));
        return 0;
    default:
        break;
    }
    buf_t b = {0};
    int rc = 0;
    if (latin1_bytes(v, &b) != 0)
        rc = fail(w, -WEIR_EINVAL, "bytes: a code point above 255");
    else if (avro_typeof(s) == AVRO_FIXED && (int64_t)b.len != avro_schema_fixed_size(s))
        rc = fail(w, -WEIR_EINVAL, "fixed: wrong number of bytes");
    if (!rc && avro_typeof(s) == AVRO_BYTES)
        buf_append_varint(out, (int64_t)b.len);
    if (!rc)
        buf_append(out, b.data, b.len);
    buf_deinit(&b);
    return rc;
}

static int encode(walk_t *w, avro_schema_t s, const json_t *v, buf_t *out)
{
    s = resolve(s);
    if (++w->depth > AVRO_DEPTH_MAX)
        return fail(w, -WEIR_EINVAL, "nested too deeply");
    int rc;
    switch (avro_typeof(s)) {
    case AVRO_RECORD:
        rc = encode_record(w, s, v, out);
        break;
    case AVRO_ARRAY:
        rc = encode_array(w, s, v, out);
        break;
    case AVRO_MAP:
        rc = encode_map(w, s, v, out);
        break;
    case AVRO_UNION: {
        const json_t *inner;
        int b = union_branch(s, v, &inner, w->depth);
        if (b < 0) {
            rc = fail(w, -WEIR_EINVAL, "no branch of the union accepts the value");
            break;
        }
        buf_append_varint(out, b);
        rc = encode(w, avro_schema_union_branch(s, b), inner, out);
        break;
    }
    default:
        rc = encode_scalar(w, s, v, out);
        break;
    }
    w->depth--;
    return rc;
}

int sdk_avro_encode(void *avro, const json_t *v, buf_t *out, char *err, size_t errlen)
{
    walk_t w = {.err = err, .errlen = errlen};
    size_t start = out->len;
    int rc = encode(&w, ((sdk_avro_t *)avro)->schema, v, out);
    if (rc)
        out->len = start;
    return rc;
}

/* ---- decoding ---------------------------------------------------------------------------------
 */

typedef struct {
    const uint8_t *p, *end;
    walk_t w;
} reader_t;

static int read_long(reader_t *r, int64_t *v)
{
    size_t n = varint_decode_i64(r->p, r->end, v);
    if (!n)
        return fail(&r->w, -WEIR_ECORRUPT, "truncated or overlong varint");
    r->p += n;
    return 0;
}

/* A length-prefixed run of bytes (string, bytes, map key): checked against what is left. */
static int read_len_bytes(reader_t *r, const uint8_t **p, size_t *n)
{
    int64_t len;
    if (read_long(r, &len))
        return -WEIR_ECORRUPT;
    if (len < 0 || len > r->end - r->p)
        return fail(&r->w, -WEIR_ECORRUPT, "length past the end of the record");
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}

static json_t *latin1_string(const uint8_t *p, size_t n)
{
    buf_t b = {0};
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            buf_append_u8(&b, p[i]);
        } else {
            buf_append_u8(&b, (uint8_t)(0xc0 | (p[i] >> 6)));
            buf_append_u8(&b, (uint8_t)(0x80 | (p[i] & 0x3f)));
        }
    }
    json_t *s = json_stringn(b.len ? (const char *)b.data : "", b.len);
    buf_deinit(&b);
    return s;
}

static int decode(reader_t *r, avro_schema_t s, json_t **out);

/* Array and map blocks: a count (negative: its absolute value, then the block's byte size),
 * items, until a count of 0. */
static int decode_blocks(reader_t *r, avro_schema_t s, json_t *into)
{
    bool is_map = avro_typeof(s) == AVRO_MAP;
    avro_schema_t item = is_map ? avro_schema_map_values(s) : avro_schema_array_items(s);
    size_t total = 0;
    for (;;) {
        int64_t count, size;
        if (read_long(r, &count))
            return -WEIR_ECORRUPT;
        if (count == 0)
            return 0;
        if (count < 0) {
            if (count == INT64_MIN || read_long(r, &size))
                return fail(&r->w, -WEIR_ECORRUPT, "bad block count");
            count = -count;
        }
        if ((uint64_t)count > AVRO_ITEMS_MAX - total)
            return fail(&r->w, -WEIR_ECORRUPT, "too many items");
        total += (size_t)count;
        for (int64_t i = 0; i < count; i++) {
            const uint8_t *k = NULL;
            size_t kn = 0;
            if (is_map && read_len_bytes(r, &k, &kn))
                return -WEIR_ECORRUPT;
            json_t *x;
            if (decode(r, item, &x))
                return -WEIR_ECORRUPT;
            if (!is_map) {
                json_array_append_new(into, x);
                continue;
            }
            char *key = weir_strndup((const char *)k, kn);
            bool ok = strlen(key) == kn && json_object_set_new(into, key, x) == 0;
            free(key);
            if (!ok)
                return fail(&r->w, -WEIR_ECORRUPT, "map key is not UTF-8 text");
        }
    }
}

static int decode_record(reader_t *r, avro_schema_t s, json_t *into)
{
    for (size_t i = 0; i < avro_schema_record_size(s); i++) {
        const char *name = avro_schema_record_field_name(s, (int)i);
        size_t at = path_push(&r->w, '.', name, 0);
        json_t *x;
        if (decode(r, avro_schema_record_field_get_by_index(s, (int)i), &x))
            return -WEIR_ECORRUPT;
        json_object_set_new(into, name, x);
        path_pop(&r->w, at);
    }
    return 0;
}

static int decode_scalar(reader_t *r, avro_schema_t s, json_t **out)
{
    int64_t v;
    const uint8_t *p;
    size_t n;
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        *out = json_null();
        return 0;
    case AVRO_BOOLEAN:
        if (r->p >= r->end || *r->p > 1)
            return fail(&r->w, -WEIR_ECORRUPT, "bad boolean");
        *out = json_boolean(*r->p++);
        return 0;
    case AVRO_INT32:
    case AVRO_INT64:
        if (read_long(r, &v))
            return -WEIR_ECORRUPT;
        if (avro_typeof(s) == AVRO_INT32 && (v < INT32_MIN || v > INT32_MAX))
            return fail(&r->w, -WEIR_ECORRUPT, "int out of range");
        *out = json_integer(v);
        return 0;
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
        size_t width = avro_typeof(s) == AVRO_FLOAT ? 4 : 8;
        if ((size_t)(r->end - r->p) < width)
            return fail(&r->w, -WEIR_ECORRUPT, "truncated number");
        float f;
        double d;
        if (width == 4)
            memcpy(&f, r->p, 4), d = f;
        else
            memcpy(&d, r->p, 8);
        r->p += width;
        *out = json_real(d); /* NULL for NaN and infinities: JSON has none */
        return *out ? 0 : fail(&r->w, -WEIR_ECORRUPT, "NaN or infinity has no JSON form");
    }
    case AVRO_STRING:
        if (read_len_bytes(r, &p, &n))
            return -WEIR_ECORRUPT;
        *out = json_stringn((const char *)p, n);
        return *out ? 0 : fail(&r->w, -WEIR_ECORRUPT, "string is not UTF-8");
    case AVRO_BYTES:
        if (read_len_bytes(r, &p, &n))
            return -WEIR_ECORRUPT;
        *out = latin1_string(p, n);
        return 0;
    case AVRO_FIXED:
        n = (size_t)avro_schema_fixed_size(s);
        if ((size_t)(r->end - r->p) < n)
            return fail(&r->w, -WEIR_ECORRUPT, "truncated fixed");
        *out = latin1_string(r->p, n);
        r->p += n;
        return 0;
    case AVRO_ENUM:
        if (read_long(r, &v))
            return -WEIR_ECORRUPT;
        if (v < 0 || v >= avro_schema_enum_number_of_symbols(s))
            return fail(&r->w, -WEIR_ECORRUPT, "enum index out of range");
        *out = json_string(avro_schema_enum_get(s, (int)v));
        return 0;
    default:
        return fail(&r->w, -WEIR_EUNSUPPORTED, "unsupported schema type");
    }
}

static int decode(reader_t *r, avro_schema_t s, json_t **out)
{
    *out = NULL;
    s = resolve(s);
    if (++r->w.depth > AVRO_DEPTH_MAX)
        return fail(&r->w, -WEIR_ECORRUPT, "nested too deeply");
    int rc = 0;
    int64_t b;
    switch (avro_typeof(s)) {
    case AVRO_RECORD:
        *out = json_object();
        rc = decode_record(r, s, *out);
        break;
    case AVRO_ARRAY:
        *out = json_array();
        rc = decode_blocks(r, s, *out);
        break;
    case AVRO_MAP:
        *out = json_object();
        rc = decode_blocks(r, s, *out);
        break;
    case AVRO_UNION:
        if (read_long(r, &b))
            rc = -WEIR_ECORRUPT;
        else if (b < 0 || (size_t)b >= avro_schema_union_size(s))
            rc = fail(&r->w, -WEIR_ECORRUPT, "union branch out of range");
        else
            rc = decode(r, avro_schema_union_branch(s, (int)b), out);
        break;
    default:
        rc = decode_scalar(r, s, out);
        break;
    }
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    r->w.depth--;
    return rc;
}

int sdk_avro_decode(void *avro, const uint8_t *p, size_t len, json_t **out, char *err,
                    size_t errlen)
{
    reader_t r = {.p = p, .end = p + len, .w = {.err = err, .errlen = errlen}};
    int rc = decode(&r, ((sdk_avro_t *)avro)->schema, out);
    if (rc == 0 && r.p != r.end) {
        json_decref(*out);
        *out = NULL;
        snprintf(err, errlen, "%zu bytes left after the value", (size_t)(r.end - r.p));
        rc = -WEIR_ECORRUPT;
    }
    return rc;
}
