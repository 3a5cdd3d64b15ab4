/*
 * Messages: read records by offset or time (one partition or all, newest or oldest first) with
 * key, header and value filters, and produce a test record. Payloads are rendered for people:
 * registry-encoded values (magic byte 0 and a schema id) are decoded through the schema
 * registry, valid UTF-8 is text (JSON when it parses as an object or array), anything else is
 * base64. Every read is bounded: records per answer, bytes scanned, bytes shown per payload.
 */
#include "admin/admin_internal.h"

#include <stdlib.h>

enum {
    MSG_LIMIT_MAX = 500,
    SCAN_BYTES_MAX = 32 << 20,   /* bytes of batches one read may look through, all partitions */
    SHOW_BYTES_MAX = 256 << 10,  /* a payload longer than this is cut (and says so) */
    ANSWER_BYTES_MAX = 16 << 20, /* payload bytes of one answer */
};

/* ---- base64 and payloads
 * --------------------------------------------------------------------------
 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *admin_b64_encode(const uint8_t *p, size_t n)
{
    char *out = weir_malloc(4 * ((n + 2) / 3) + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = 0;
    return out;
}

int admin_b64_decode(const char *s, size_t len, buf_t *out)
{
    if (len % 4)
        return -WEIR_EINVAL;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *c = s[i + k] ? strchr(b64, s[i + k]) : NULL;
            if (s[i + k] == '=' && i + 4 == len && k >= 2)
                pad++;
            else if (!c || pad)
                return -WEIR_EINVAL;
            v = v << 6 | (c ? (uint32_t)(c - b64) : 0);
        }
        uint8_t bytes[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        buf_append(out, bytes, (size_t)(3 - pad));
    }
    return 0;
}

static void set_kv(json_t *o, const char *name, const char *suffix, json_t *v)
{
    char key[64];
    snprintf(key, sizeof(key), "%s%s", name, suffix);
    json_object_set_new(o, key, v);
}

/* A registry-encoded payload through the registry: true when it decoded. */
static bool render_registry(admin_t *a, json_t *o, const char *name, const uint8_t *p, size_t n)
{
    int32_t id;
    if (!a->cfg.registry || registry_wire_header(p, n, &id) < 0)
        return false;
    buf_t js;
    buf_init(&js);
    char why[256];
    bool ok = registry_payload_decode(a->cfg.registry, p, n, &js, why, sizeof(why)) == 0;
    json_t *dec = ok ? json_loadb((const char *)js.data, js.len, JSON_DECODE_ANY, NULL) : NULL;
    if (dec) {
        char *text = json_dumps(dec, JSON_COMPACT | JSON_ENCODE_ANY);
        set_kv(o, name, "", json_string(text));
        set_kv(o, name, "_encoding", json_string("registry"));
        set_kv(o, name, "_decoded", dec);
        set_kv(o, name, "_schema_id", json_integer(id));
        free(text);
    }
    buf_deinit(&js);
    return dec != NULL;
}

void admin_payload_render(admin_t *a, json_t *o, const char *name, const uint8_t *p, int32_t n,
                          bool try_registry)
{
    if (!p || n < 0) {
        set_kv(o, name, "", json_null());
        set_kv(o, name, "_encoding", json_null());
        return;
    }
    size_t len = (size_t)n;
    if (try_registry && render_registry(a, o, name, p, len))
        return;
    bool cut = len > SHOW_BYTES_MAX;
    size_t show = cut ? SHOW_BYTES_MAX : len;
    if (cut)
        set_kv(o, name, "_truncated", json_true());
    /* jansson checks UTF-8: text when it is (a cut payload may end inside a character) and
     * holds no control character but tab and newlines */
    bool ctrl = false;
    for (size_t i = 0; i < show; i++)
        ctrl |= (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') || p[i] == 0x7f;
    json_t *text = NULL;
    for (size_t back = 0; !ctrl && !text && back <= (cut ? 3u : 0u) && back < show + 1; back++)
        text = json_stringn((const char *)p, show - back);
    if (text) {
        json_t *dec = NULL;
        if (!cut && show && (p[0] == '{' || p[0] == '['))
            dec = json_loadb((const char *)p, show, 0, NULL);
        set_kv(o, name, "", text);
        set_kv(o, name, "_encoding", json_string(dec ? "json" : "text"));
        if (dec)
            set_kv(o, name, "_decoded", dec);
        return;
    }
    char *e = admin_b64_encode(p, show);
    set_kv(o, name, "", json_string(e));
    set_kv(o, name, "_encoding", json_string("base64"));
    free(e);
}

json_t *admin_record_json(admin_t *a, const broker_record_t *rec)
{
    json_t *o = json_pack(
        "{s:i, s:I, s:I, s:s, s:i, s:i}", "partition", (int)rec->partition, "offset",
        (json_int_t)rec->offset, "timestamp", (json_int_t)rec->timestamp, "timestamp_type",
        rec->log_append_time ? "LogAppendTime" : "CreateTime", "key_size",
        (int)WEIR_MAX(rec->key_len, 0), "value_size", (int)WEIR_MAX(rec->value_len, 0));
    admin_payload_render(a, o, "key", rec->key, rec->key_len, true);
    admin_payload_render(a, o, "value", rec->value, rec->value_len, true);
    json_t *hs = json_array();
    for (size_t i = 0; i < rec->nheaders; i++) {
        const broker_header_t *h = &rec->headers[i];
        json_t *ho = json_pack("{s:s%}", "name", h->name, h->name_len);
        if (!json_is_object(ho)) /* a name that is not UTF-8 */
            ho = json_pack("{s:s}", "name", "?");
        admin_payload_render(a, ho, "value", h->value, h->value_len, false);
        json_object_del(ho, "value_decoded");
        json_array_append_new(hs, ho);
    }
    json_object_set_new(o, "headers", hs);
    return o;
}

/* ---- reading
 * -------------------------------------------------------------------------------------
 */

typedef struct {
    admin_t *a;
    const char *key;         /* exact key, or NULL */
    const char *header_name; /* a header that must be there, or NULL */
    const char *header_value;
    const char *contains; /* a substring of the value, or NULL */
    size_t limit;         /* records wanted from this partition */
    json_t *out;
    size_t shown_bytes;
    char name_buf[ADMIN_ARG_MAX + 1];
} read_ctx_t;

static bool header_match(const read_ctx_t *rc, const broker_record_t *rec)
{
    if (!rc->header_name)
        return true;
    size_t nl = strlen(rc->header_name);
    for (size_t i = 0; i < rec->nheaders; i++) {
        const broker_header_t *h = &rec->headers[i];
        if (h->name_len != nl || memcmp(h->name, rc->header_name, nl) != 0)
            continue;
        if (!rc->header_value)
            return true;
        size_t vl = strlen(rc->header_value);
        if (h->value && (size_t)h->value_len == vl && memcmp(h->value, rc->header_value, vl) == 0)
            return true;
    }
    return false;
}

static bool record_match(const read_ctx_t *rc, const broker_record_t *rec)
{
    if (rc->key && (!rec->key || (size_t)rec->key_len != strlen(rc->key) ||
                    memcmp(rec->key, rc->key, (size_t)rec->key_len) != 0))
        return false;
    if (rc->contains && (!rec->value || !memmem(rec->value, (size_t)rec->value_len, rc->contains,
                                                strlen(rc->contains))))
        return false;
    return header_match(rc, rec);
}

static int read_one(void *arg, const broker_record_t *rec)
{
    read_ctx_t *rc = arg;
    if (!record_match(rc, rec))
        return 0;
    json_array_append_new(rc->out, admin_record_json(rc->a, rec));
    rc->shown_bytes += (size_t)WEIR_MAX(rec->value_len, 0) + (size_t)WEIR_MAX(rec->key_len, 0);
    return json_array_size(rc->out) >= rc->limit || rc->shown_bytes > ANSWER_BYTES_MAX;
}

typedef struct {
    const char *position; /* "earliest", "latest", or NULL with offset/timestamp */
    int64_t offset;       /* -1: not given */
    int64_t timestamp;    /* -1: not given */
    size_t limit;
} read_from_t;

/* Where one partition's read starts. */
static int64_t start_of(broker_t *b, const char *topic, int32_t p, const read_from_t *f)
{
    broker_watermarks_t wm;
    if (broker_partition_watermarks(b, topic, strlen(topic), p, &wm) < 0)
        return -1;
    if (f->timestamp >= 0) {
        int64_t off, ts;
        return broker_offset_for_time(b, topic, strlen(topic), p, f->timestamp, &off, &ts) == 0
                   ? off
                   : wm.high_watermark;
    }
    if (f->offset >= 0)
        return f->offset;
    if (f->position && strcmp(f->position, "latest") == 0)
        return WEIR_MAX(wm.log_start_offset, wm.high_watermark - (int64_t)f->limit);
    return wm.log_start_offset;
}

static int by_time(const void *x, const void *y)
{
    json_t *const *a = x, *const *b = y;
    int64_t ta = json_integer_value(json_object_get(*a, "timestamp"));
    int64_t tb = json_integer_value(json_object_get(*b, "timestamp"));
    if (ta != tb)
        return ta < tb ? -1 : 1;
    int64_t pa = json_integer_value(json_object_get(*a, "partition"));
    int64_t pb = json_integer_value(json_object_get(*b, "partition"));
    if (pa != pb)
        return pa < pb ? -1 : 1;
    int64_t oa = json_integer_value(json_object_get(*a, "offset"));
    int64_t ob = json_integer_value(json_object_get(*b, "offset"));
    return oa < ob ? -1 : oa > ob;
}

/* Sorts msgs (by time across partitions, else by offset) and keeps `limit` of them: the newest
 * with latest, else the oldest. */
static json_t *merge_sorted(json_t *msgs, size_t limit, bool newest, bool by_time_order)
{
    size_t n = json_array_size(msgs), i;
    json_t **v = weir_calloc(n + 1, sizeof(*v));
    json_t *m;
    json_array_foreach(msgs, i, m) v[i] = m;
    if (by_time_order)
        qsort(v, n, sizeof(*v), by_time);
    size_t from = newest && n > limit ? n - limit : 0;
    json_t *out = json_array();
    for (i = from; i < n && i - from < limit; i++)
        json_array_append(out, v[i]);
    free(v);
    return out;
}

static bool read_args(admin_req_t *r, read_ctx_t *rc, read_from_t *f, int64_t *partition)
{
    int64_t limit;
    const char *header;
    if (!admin_arg_int(r, "partition", -1, -1, INT32_MAX, partition) ||
        !admin_arg_int(r, "limit", 50, 1, MSG_LIMIT_MAX, &limit) ||
        !admin_arg_int(r, "timestamp", -1, 0, INT64_MAX, &f->timestamp) ||
        !admin_arg(r, "key", &rc->key) || !admin_arg(r, "header", &header) ||
        !admin_arg(r, "contains", &rc->contains) || !admin_arg(r, "offset", &f->position))
        return false;
    f->limit = (size_t)limit;
    f->offset = -1;
    if (f->position && strcmp(f->position, "earliest") != 0 && strcmp(f->position, "latest")) {
        if (!admin_arg_int(r, "offset", -1, 0, INT64_MAX, &f->offset))
            return false;
        f->position = NULL;
    }
    if (header) {
        const char *eq = strchr(header, '=');
        size_t n = eq ? (size_t)(eq - header) : strlen(header);
        memcpy(rc->name_buf, header, n);
        rc->name_buf[n] = 0;
        rc->header_name = rc->name_buf;
        rc->header_value = eq ? eq + 1 : NULL;
    }
    return true;
}

/* Reads each wanted partition into one array; next_offsets says where each read stopped. */
static json_t *read_partitions(admin_req_t *r, const char *topic, int32_t first, int32_t last,
                               read_ctx_t *rc, const read_from_t *f, json_t *next)
{
    json_t *all = json_array();
    size_t scan = WEIR_MAX(SCAN_BYTES_MAX / (size_t)(last - first + 1), (size_t)1 << 20);
    for (int32_t p = first; p <= last; p++) {
        rc->out = json_array();
        int64_t from = start_of(r->b, topic, p, f), nx = from;
        if (from >= 0)
            broker_records_read(r->b, topic, strlen(topic), p, from, scan, read_one, rc, &nx);
        char pk[16];
        snprintf(pk, sizeof(pk), "%d", p);
        json_object_set_new(next, pk, json_integer(nx));
        json_array_extend(all, rc->out);
        json_decref(rc->out);
        rc->out = NULL;
    }
    return all;
}

void admin_messages_get(admin_req_t *r)
{
    const char *topic = r->seg[1];
    read_ctx_t rc = {.a = r->a};
    read_from_t f;
    int64_t partition;
    broker_topic_desc_t d;
    if (!read_args(r, &rc, &f, &partition))
        return;
    if (broker_topic_describe(r->b, topic, strlen(topic), &d) < 0) {
        admin_fail(r, 404, "not_found", "no topic '%s'", topic);
        return;
    }
    int32_t np = d.partitions;
    broker_topic_desc_deinit(&d);
    if (partition >= np) {
        admin_fail(r, 404, "not_found", "topic '%s' has %d partition(s)", topic, np);
        return;
    }
    rc.limit = f.limit;
    json_t *next = json_object();
    json_t *all = partition >= 0 ? read_partitions(r, topic, (int32_t)partition, (int32_t)partition,
                                                   &rc, &f, next)
                                 : read_partitions(r, topic, 0, np - 1, &rc, &f, next);
    bool newest = f.position && strcmp(f.position, "latest") == 0;
    json_t *msgs = merge_sorted(all, f.limit, newest, partition < 0);
    json_decref(all);
    admin_reply(
        r, 200,
        json_pack("{s:s, s:o, s:o}", "topic", topic, "messages", msgs, "next_offsets", next));
}

/* ---- producing
 * -------------------------------------------------------------------------------------
 */

/* Kafka's default partitioner for keyed records (murmur2, as the Java client hashes). */
static uint32_t murmur2(const uint8_t *data, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    uint32_t h = 0x9747b28c ^ (uint32_t)len;
    size_t i = 0;
    for (; i + 4 <= len; i += 4) {
        uint32_t k = (uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16 |
                     (uint32_t)data[i + 3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    size_t rest = len & 3;
    if (rest >= 3)
        h ^= (uint32_t)data[i + 2] << 16;
    if (rest >= 2)
        h ^= (uint32_t)data[i + 1] << 8;
    if (rest >= 1) {
        h ^= data[i];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

/* A payload from the body: o[name] in o[name_encoding] ("text" default, "base64", "json": any
 * JSON, serialized). *present false for null. */
static bool payload_of(admin_req_t *r, json_t *o, const char *name, buf_t *out, bool *present)
{
    char enc_key[64];
    snprintf(enc_key, sizeof(enc_key), "%s_encoding", name);
    const char *enc;
    json_t *v = json_object_get(o, name);
    if (!admin_get_str(r, o, enc_key, &enc))
        return false;
    *present = v && !json_is_null(v);
    if (!*present)
        return true;
    if (enc && strcmp(enc, "json") == 0) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        buf_append_str(out, s);
        free(s);
        return true;
    }
    if (!json_is_string(v)) {
        admin_fail(r, 400, "bad_request", "'%s' must be a string (or use %s=json)", name, enc_key);
        return false;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!enc || strcmp(enc, "text") == 0) {
        buf_append(out, s, n);
        return true;
    }
    if (strcmp(enc, "base64") == 0 && admin_b64_decode(s, n, out) == 0)
        return true;
    admin_fail(r, 400, "bad_request",
               strcmp(enc, "base64") == 0 ? "'%s' is not valid base64"
                                          : "'%s': the encoding must be text, base64 or json",
               name);
    return false;
}

/* Headers from {"name": "value", ...} or [{"name": ..., "value": ...}]; at most 64. */
static bool headers_of(admin_req_t *r, json_t *hs, broker_header_t *out, size_t *n)
{
    *n = 0;
    if (!hs || json_is_null(hs))
        return true;
    bool obj = json_is_object(hs);
    size_t count = obj ? json_object_size(hs) : json_is_array(hs) ? json_array_size(hs) : 999;
    if (count > BROKER_RECORD_HEADERS_MAX) {
        admin_fail(r, 400, "bad_request", "'headers' must be an object or array of at most %d",
                   BROKER_RECORD_HEADERS_MAX);
        return false;
    }
    void *it = obj ? json_object_iter(hs) : NULL;
    for (size_t i = 0; i < count; i++) {
        const char *name = obj ? json_object_iter_key(it) : NULL;
        json_t *v = obj ? json_object_iter_value(it) : NULL;
        if (!obj) {
            json_t *h = json_array_get(hs, i);
            name = json_string_value(json_object_get(h, "name"));
            v = json_object_get(h, "value");
        }
        if (!name || (v && !json_is_null(v) && !json_is_string(v))) {
            admin_fail(r, 400, "bad_request", "a header needs a name and a string (or null) value");
            return false;
        }
        bool null = !v || json_is_null(v);
        out[(*n)++] = (broker_header_t){name, strlen(name),
                                        null ? NULL : (const uint8_t *)json_string_value(v),
                                        null ? -1 : (int32_t)json_string_length(v)};
        it = obj ? json_object_iter_next(hs, it) : NULL;
    }
    return true;
}

void admin_messages_produce(admin_req_t *r)
{
    const char *topic = r->seg[1];
    json_t *body;
    if (!admin_body(r, &body))
        return;
    buf_t key, value;
    buf_init(&key);
    buf_init(&value);
    bool has_key, has_value;
    int64_t partition, ts;
    broker_header_t hs[BROKER_RECORD_HEADERS_MAX];
    size_t nh;
    broker_topic_desc_t d;
    if (!admin_get_int(r, body, "partition", -1, -1, INT32_MAX, &partition) ||
        !admin_get_int(r, body, "timestamp", -1, -1, INT64_MAX, &ts) ||
        !payload_of(r, body, "key", &key, &has_key) ||
        !payload_of(r, body, "value", &value, &has_value) ||
        !headers_of(r, json_object_get(body, "headers"), hs, &nh))
        goto out;
    if (broker_topic_describe(r->b, topic, strlen(topic), &d) < 0) {
        admin_fail(r, 404, "not_found",
                   "no topic '%s' (the admin API does not create topics "
                   "by producing)",
                   topic);
        goto out;
    }
    int32_t np = d.partitions;
    broker_topic_desc_deinit(&d);
    if (partition >= np) {
        admin_fail(r, 404, "not_found", "topic '%s' has %d partition(s)", topic, np);
        goto out;
    }
    if (partition < 0)
        partition = has_key ? (int64_t)((murmur2(key.data, key.len) & 0x7fffffff) % (uint32_t)np)
                            : (int64_t)((uint64_t)clock_mono_ns() % (uint64_t)np);
    broker_record_t rec = {.timestamp = ts,
                           .key = has_key ? (key.data ? key.data : (const uint8_t *)"") : NULL,
                           .key_len = has_key ? (int32_t)key.len : -1,
                           .value =
                               has_value ? (value.data ? value.data : (const uint8_t *)"") : NULL,
                           .value_len = has_value ? (int32_t)value.len : -1,
                           .nheaders = nh,
                           .headers = hs};
    broker_err_t err = {0};
    int64_t offset;
    int rc = broker_records_append(r->b, topic, strlen(topic), (int32_t)partition, &rec, 1, true,
                                   &offset, &err);
    if (rc < 0)
        admin_fail_broker(r, rc, &err);
    else
        admin_reply(r, 201,
                    json_pack("{s:s, s:I, s:I}", "topic", topic, "partition", (json_int_t)partition,
                              "offset", (json_int_t)offset));
out:
    buf_deinit(&key);
    buf_deinit(&value);
    json_decref(body);
}
