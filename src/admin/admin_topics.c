/*
 * Topics, partitions and topic configs: list (with message counts and sizes), describe,
 * create, delete, grow, configs get and alter. Each is one broker call, the same the Kafka
 * handlers make, so the API and Kafka's admin clients see one set of rules and messages.
 */
#include "admin/admin_internal.h"

#include <inttypes.h>
#include <stdlib.h>

static bool topic_name_ok(admin_req_t *r, const char *name)
{
    const char *why;
    if (!broker_topic_name_valid(name, strlen(name), &why)) {
        admin_fail(r, 400, "bad_request", "topic name '%.64s': %s", name, why);
        return false;
    }
    return true;
}

int admin_partitions_json(broker_t *b, const char *topic, json_t **out, int64_t *messages,
                          uint64_t *bytes)
{
    broker_topic_desc_t d;
    int rc = broker_topic_describe(b, topic, strlen(topic), &d);
    if (rc < 0)
        return rc;
    json_t *arr = json_array();
    *messages = 0;
    *bytes = 0;
    for (int32_t p = 0; p < d.partitions; p++) {
        broker_watermarks_t wm = {-1, -1, -1};
        uint64_t sz = 0;
        bool offline = broker_partition_watermarks(b, topic, strlen(topic), p, &wm) < 0;
        broker_partition_size(b, topic, strlen(topic), p, &sz);
        int64_t msgs = offline ? 0 : wm.high_watermark - wm.log_start_offset;
        *messages += msgs;
        *bytes += sz;
        json_array_append_new(
            arr, json_pack("{s:i, s:I, s:I, s:I, s:I, s:b, s:i}", "partition", (int)p,
                           "log_start_offset", (json_int_t)wm.log_start_offset, "high_watermark",
                           (json_int_t)wm.high_watermark, "messages", (json_int_t)msgs,
                           "size_bytes", (json_int_t)sz, "offline", offline, "leader", 0));
    }
    broker_topic_desc_deinit(&d);
    *out = arr;
    return 0;
}

static json_t *topic_summary(broker_t *b, const broker_topic_desc_t *d)
{
    json_t *parts;
    int64_t msgs = 0;
    uint64_t bytes = 0;
    if (admin_partitions_json(b, d->name, &parts, &msgs, &bytes) < 0)
        parts = json_array();
    size_t n = strlen(d->name);
    bool dlq = n > 4 && strcmp(d->name + n - 4, ".dlq") == 0;
    int64_t end = 0;
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p) end += json_integer_value(json_object_get(p, "high_watermark"));
    json_t *j = json_pack("{s:s, s:i, s:b, s:b, s:I, s:I, s:I}", "name", d->name, "partitions",
                          (int)d->partitions, "internal", d->internal, "dlq", dlq, "messages",
                          (json_int_t)msgs, "size_bytes", (json_int_t)bytes, "end_offsets_sum",
                          (json_int_t)end);
    json_decref(parts);
    return j;
}

void admin_topics_list(admin_req_t *r)
{
    bool internal;
    if (!admin_arg_bool(r, "internal", &internal))
        return;
    broker_topic_desc_t *ts;
    size_t n;
    broker_topics_describe(r->b, &ts, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if ((internal || !ts[i].internal) &&
            admin_may(r, KAFKA_RESOURCE_TOPIC, ts[i].name, KAFKA_ACL_OP_DESCRIBE))
            json_array_append_new(arr, topic_summary(r->b, &ts[i]));
    broker_topic_descs_free(ts, n);
    admin_reply(r, 200, json_pack("{s:o}", "topics", arr));
}

static char *uuid_text(const uint8_t id[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[id[i] >> 4];
        *p++ = hex[id[i] & 15];
    }
    *p = 0;
    return out;
}

void admin_topic_get(admin_req_t *r)
{
    const char *name = r->seg[1];
    broker_topic_desc_t d;
    if (broker_topic_describe(r->b, name, strlen(name), &d) < 0) {
        admin_fail(r, 404, "not_found", "no topic '%s'", name);
        return;
    }
    json_t *parts;
    int64_t msgs;
    uint64_t bytes;
    if (admin_partitions_json(r->b, name, &parts, &msgs, &bytes) < 0) {
        broker_topic_desc_deinit(&d);
        admin_fail(r, 404, "not_found", "no topic '%s'", name);
        return;
    }
    char id[37];
    json_t *j = json_pack("{s:s, s:s, s:b, s:I, s:I, s:o}", "name", d.name, "id",
                          uuid_text(d.id, id), "internal", d.internal, "messages", (json_int_t)msgs,
                          "size_bytes", (json_int_t)bytes, "partitions", parts);
    broker_topic_desc_deinit(&d);
    admin_reply(r, 200, j);
}

void admin_topic_partitions_get(admin_req_t *r)
{
    json_t *parts;
    int64_t msgs;
    uint64_t bytes;
    if (admin_partitions_json(r->b, r->seg[1], &parts, &msgs, &bytes) < 0) {
        admin_fail(r, 404, "not_found", "no topic '%s'", r->seg[1]);
        return;
    }
    admin_reply(r, 200, json_pack("{s:o}", "partitions", parts));
}

/* {"name": "a", ...} -> key/value pairs (strings, numbers and booleans as text). */
static bool configs_from_json(admin_req_t *r, json_t *o, broker_config_kv_t **out, size_t *n,
                              char ***texts)
{
    *out = NULL;
    *n = 0;
    *texts = NULL;
    if (!o || json_is_null(o))
        return true;
    if (!json_is_object(o) || json_object_size(o) > 64) {
        admin_fail(r, 400, "bad_request", "'configs' must be an object of at most 64 entries");
        return false;
    }
    *out = weir_calloc(json_object_size(o) + 1, sizeof(**out));
    *texts = weir_calloc(json_object_size(o) + 1, sizeof(char *));
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        char *t = NULL;
        if (json_is_string(v))
            t = weir_strdup(json_string_value(v));
        else if (json_is_integer(v) || json_is_boolean(v))
            t = json_dumps(v, JSON_ENCODE_ANY);
        else if (!json_is_null(v)) {
            admin_fail(r, 400, "bad_request", "config '%.64s' must be a string or a number", k);
            return false;
        }
        (*texts)[*n] = t;
        (*out)[(*n)++] = (broker_config_kv_t){k, t};
    }
    return true;
}

static void configs_free(broker_config_kv_t *kv, size_t n, char **texts)
{
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(kv);
}

void admin_topics_create(admin_req_t *r)
{
    json_t *body;
    if (!admin_body(r, &body))
        return;
    const char *name;
    int64_t parts;
    bool dry;
    broker_config_kv_t *kv = NULL;
    char **texts = NULL;
    size_t n = 0;
    if (!admin_get_str(r, body, "name", &name) ||
        !admin_get_int(r, body, "partitions", -1, -1, 10000, &parts) ||
        !admin_get_bool(r, body, "dry_run", false, &dry) ||
        !configs_from_json(r, json_object_get(body, "configs"), &kv, &n, &texts))
        goto out;
    if (!name) {
        admin_fail(r, 400, "bad_request", "'name' is required");
        goto out;
    }
    if (!topic_name_ok(r, name))
        goto out;
    if (parts == 0) {
        admin_fail(r, 400, "bad_request", "'partitions' must be at least 1 (or -1: the default)");
        goto out;
    }
    broker_err_t err = {0};
    broker_topic_created_t made;
    int rc = broker_topic_create(r->b, name, (int32_t)parts, kv, n, dry, &made, &err);
    if (rc < 0 || err.code) {
        admin_fail_broker(r, rc, &err);
        goto out;
    }
    char id[37];
    admin_reply(r, dry ? 200 : 201,
                json_pack("{s:s, s:i, s:s, s:b}", "name", name, "partitions", (int)made.partitions,
                          "id", uuid_text(made.id, id), "dry_run", dry));
out:
    configs_free(kv, n, texts);
    json_decref(body);
}

void admin_topic_delete(admin_req_t *r)
{
    const char *name = r->seg[1];
    broker_err_t err = {0};
    if (broker_topic_name_internal(name)) {
        admin_fail(r, 403, "forbidden", "'%s' is an internal topic", name);
        return;
    }
    int rc = broker_topic_delete(r->b, name, strlen(name), &err);
    if (rc < 0 || err.code) {
        admin_fail_broker(r, rc, &err);
        return;
    }
    admin_reply(r, 200, json_pack("{s:s}", "deleted", name));
}

void admin_topic_partitions_add(admin_req_t *r)
{
    json_t *body;
    if (!admin_body(r, &body))
        return;
    int64_t count;
    bool dry;
    if (admin_get_int(r, body, "count", 0, 1, 10000, &count) &&
        admin_get_bool(r, body, "dry_run", false, &dry)) {
        broker_err_t err = {0};
        int rc = count ? broker_topic_add_partitions(r->b, r->seg[1], strlen(r->seg[1]),
                                                     (int32_t)count, dry, &err)
                       : -WEIR_EINVAL;
        if (!count)
            admin_fail(r, 400, "bad_request", "'count' (the new total) is required");
        else if (rc < 0 || err.code)
            admin_fail_broker(r, rc, &err);
        else
            admin_reply(r, 200,
                        json_pack("{s:s, s:I, s:b}", "name", r->seg[1], "partitions",
                                  (json_int_t)count, "dry_run", dry));
    }
    json_decref(body);
}

static const char *source_name(int8_t s)
{
    switch (s) {
    case CFG_SOURCE_DYNAMIC_TOPIC:
        return "topic";
    case CFG_SOURCE_DYNAMIC_BROKER:
    case CFG_SOURCE_DYNAMIC_DEFAULT_BROKER:
        return "broker_dynamic";
    case CFG_SOURCE_STATIC_BROKER:
        return "broker";
    default:
        return "default";
    }
}

static void configs_reply(admin_req_t *r, const char *topic)
{
    broker_config_list_t l = {0};
    broker_err_t err = {0};
    int rc = broker_configs_describe(r->b, BROKER_RESOURCE_TOPIC, topic, strlen(topic), &l, &err);
    if (rc < 0 || err.code) {
        admin_fail_broker(r, rc, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++) {
        const broker_config_entry_t *e = &l.entries[i];
        json_array_append_new(arr, json_pack("{s:s, s:s?, s:s, s:b, s:b, s:s?}", "name", e->name,
                                             "value", e->sensitive ? NULL : e->value, "source",
                                             source_name(e->source), "read_only", e->read_only,
                                             "sensitive", e->sensitive, "doc", e->doc));
    }
    broker_config_list_deinit(&l);
    admin_reply(r, 200, json_pack("{s:s, s:o}", "topic", topic, "configs", arr));
}

void admin_topic_configs_get(admin_req_t *r)
{
    configs_reply(r, r->seg[1]);
}

/* Body: {"set": {"retention.ms": "1000"}, "delete": ["cleanup.policy"], "dry_run": false}:
 * an incremental change, checked whole before anything changes. */
void admin_topic_configs_alter(admin_req_t *r)
{
    json_t *body;
    if (!admin_body(r, &body))
        return;
    const char *topic = r->seg[1];
    broker_config_kv_t *kv = NULL;
    char **texts = NULL;
    size_t n = 0;
    broker_config_op_t *ops = NULL;
    bool dry;
    json_t *del = json_object_get(body, "delete");
    if (!admin_get_bool(r, body, "dry_run", false, &dry) ||
        !configs_from_json(r, json_object_get(body, "set"), &kv, &n, &texts))
        goto out;
    if (del && (!json_is_array(del) || json_array_size(del) > 64)) {
        admin_fail(r, 400, "bad_request", "'delete' must be an array of at most 64 names");
        goto out;
    }
    size_t nd = del ? json_array_size(del) : 0;
    ops = weir_calloc(n + nd + 1, sizeof(*ops));
    for (size_t i = 0; i < n; i++)
        ops[i] = (broker_config_op_t){kv[i].key, BROKER_CONFIG_SET, kv[i].value};
    for (size_t i = 0; i < nd; i++) {
        json_t *v = json_array_get(del, i);
        if (!json_is_string(v)) {
            admin_fail(r, 400, "bad_request", "'delete' must hold config names");
            goto out;
        }
        ops[n + i] = (broker_config_op_t){json_string_value(v), BROKER_CONFIG_DELETE, NULL};
    }
    if (n + nd == 0) {
        admin_fail(r, 400, "bad_request", "nothing to change: give 'set' or 'delete'");
        goto out;
    }
    broker_err_t err = {0};
    int rc = broker_configs_alter(r->b, BROKER_RESOURCE_TOPIC, topic, strlen(topic), ops, n + nd,
                                  true, dry, &err);
    if (rc < 0 || err.code)
        admin_fail_broker(r, rc, &err);
    else
        configs_reply(r, topic);
out:
    free(ops);
    configs_free(kv, n, texts);
    json_decref(body);
}

/* The arguments of the key calls: partition (default 0), key (required), limit. False after
 * answering 400. */
static bool key_args(admin_req_t *r, int64_t *partition, const char **key, int64_t *limit)
{
    *key = NULL;
    if (!admin_arg_int(r, "partition", 0, 0, INT32_MAX, partition) ||
        !admin_arg_int(r, "limit", 1000, 1, 100000, limit) || !admin_arg(r, "key", key))
        return false;
    if (!*key) {
        admin_fail(r, 400, "bad_request", "the query argument 'key' is required");
        return false;
    }
    return true;
}

/* The key's newest `limit` offsets, oldest first, into a new array (*out, caller frees); false
 * after answering the broker's error (404, 409 without key index, 503). */
static bool key_offsets(admin_req_t *r, int64_t partition, const char *key, int64_t limit,
                        int64_t **out, size_t *n)
{
    *out = weir_calloc((size_t)limit, sizeof(**out));
    broker_err_t err = {0};
    int rc = broker_key_offsets(r->b, r->seg[1], (int32_t)partition, (const uint8_t *)key,
                                strlen(key), (size_t)limit, *out, n, &err);
    if (rc == 0)
        return true;
    if (rc == -WEIR_ENOENT)
        admin_fail(r, 404, "not_found", "%s", err.message);
    else if (rc == -WEIR_EINVAL)
        admin_fail(r, 409, "no_key_index", "%s", err.message);
    else
        admin_fail(r, 503, "unavailable", "%s", err.message);
    return false;
}

/* GET topics/{topic}/key-offset?partition=P&key=K: the offset of the key's latest record (the
 * version a conditional append expects, docs/event-store.md), -1 when the key is absent. */
void admin_topic_key_offset_get(admin_req_t *r)
{
    int64_t partition, limit, *offsets = NULL;
    const char *key;
    size_t n = 0;
    if (key_args(r, &partition, &key, &limit) && key_offsets(r, partition, key, 1, &offsets, &n))
        admin_reply(r, 200,
                    json_pack("{s:s, s:I, s:s, s:I}", "topic", r->seg[1], "partition",
                              (json_int_t)partition, "key", key, "offset",
                              (json_int_t)(n ? offsets[0] : -1)));
    free(offsets);
}

/* One record of a key-records answer: exact bytes, base64. */
typedef struct {
    int64_t wanted; /* the offset looked for */
    const char *key;
    json_t *out;  /* the record's JSON once found */
    size_t bytes; /* payload bytes of the answer so far */
} key_record_ctx_t;

static json_t *b64_or_null(const uint8_t *p, int32_t len)
{
    if (!p || len < 0)
        return json_null();
    char *t = weir_malloc(base64_encoded_len((size_t)len) + 1);
    base64_encode(p, (size_t)len, t);
    json_t *j = json_string(t);
    free(t);
    return j;
}

static int key_record_one(void *arg, const broker_record_t *rec)
{
    key_record_ctx_t *c = arg;
    if (rec->offset < c->wanted)
        return 0;
    size_t kl = strlen(c->key);
    /* Past it: the cleaner removed the record since the chain was read. */
    if (rec->offset == c->wanted && rec->key && (size_t)rec->key_len == kl &&
        memcmp(rec->key, c->key, kl) == 0) {
        json_t *hs = json_array();
        for (size_t i = 0; i < rec->nheaders; i++) {
            const broker_header_t *h = &rec->headers[i];
            json_array_append_new(hs, json_pack("{s:s%, s:o}", "name", h->name, h->name_len,
                                                "value", b64_or_null(h->value, h->value_len)));
            c->bytes += h->name_len + (size_t)WEIR_MAX(h->value_len, 0);
        }
        c->out = json_pack("{s:I, s:I, s:o, s:o}", "offset", (json_int_t)rec->offset, "timestamp",
                           (json_int_t)rec->timestamp, "value",
                           b64_or_null(rec->value, rec->value_len), "headers", hs);
        c->bytes += (size_t)WEIR_MAX(rec->value_len, 0);
    }
    return 1;
}

enum { KEY_RECORDS_BYTES_MAX = 16 << 20 };

/* GET topics/{topic}/key-records?partition=P&key=K[&limit=N][&after=O]: the key's records (its
 * newest N, oldest first, only those past offset O) with their exact bytes (value and header
 * values base64, null for null), read on the broker through the key chain: one request loads
 * an aggregate (libweir's weir_store_load). "version" is the key's latest offset (-1: absent). */
void admin_topic_key_records_get(admin_req_t *r)
{
    int64_t partition, limit, after, *offsets = NULL;
    const char *key;
    size_t n = 0;
    if (!admin_arg_int(r, "after", -1, -1, INT64_MAX, &after) ||
        !key_args(r, &partition, &key, &limit) ||
        !key_offsets(r, partition, key, limit, &offsets, &n)) {
        free(offsets);
        return;
    }
    json_t *arr = json_array();
    key_record_ctx_t c = {.key = key};
    const char *topic = r->seg[1];
    for (size_t i = 0; i < n; i++) {
        if (offsets[i] <= after)
            continue;
        c.wanted = offsets[i];
        c.out = NULL;
        int64_t next;
        int rc = broker_records_read(r->b, topic, strlen(topic), (int32_t)partition, offsets[i], 1,
                                     key_record_one, &c, &next);
        if (rc < 0 && rc != -WEIR_ERANGE) {
            json_decref(arr);
            free(offsets);
            admin_fail(r, 503, "unavailable", "reading %s-%" PRId64 " at %" PRId64 ": %s", topic,
                       partition, offsets[i], weir_strerror(rc));
            return;
        }
        if (c.out)
            json_array_append_new(arr, c.out);
        if (c.bytes > KEY_RECORDS_BYTES_MAX) {
            json_decref(arr);
            free(offsets);
            admin_fail(r, 413, "too_large",
                       "the records of key '%s' pass %d bytes: ask for fewer (limit, after)", key,
                       KEY_RECORDS_BYTES_MAX);
            return;
        }
    }
    admin_reply(r, 200,
                json_pack("{s:s, s:I, s:s, s:I, s:o}", "topic", topic, "partition",
                          (json_int_t)partition, "key", key, "version",
                          (json_int_t)(n ? offsets[n - 1] : -1), "records", arr));
    free(offsets);
}

/* GET topics/{topic}/key-offsets?partition=P&key=K[&limit=N]: the offsets of the key's records
 * (its newest N, oldest first) through the key chain, without reading the log. */
void admin_topic_key_offsets_get(admin_req_t *r)
{
    int64_t partition, limit, *offsets = NULL;
    const char *key;
    size_t n = 0;
    if (key_args(r, &partition, &key, &limit) &&
        key_offsets(r, partition, key, limit, &offsets, &n)) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_integer((json_int_t)offsets[i]));
        admin_reply(r, 200,
                    json_pack("{s:s, s:I, s:s, s:o}", "topic", r->seg[1], "partition",
                              (json_int_t)partition, "key", key, "offsets", arr));
    }
    free(offsets);
}
