/*
 * Configs: DescribeConfigs (key 32, v0-2), AlterConfigs (33, v0-1) and
 * IncrementalAlterConfigs (44, v0) for topics (resource type 2) and this broker (type 4,
 * named by its node id, or "" for the cluster-wide default, which is the same thing on one
 * node). Topic configs are the ones in broker_topic_cfg_defs; broker configs that may change at run
 * time are the `dynamic` rows of broker_cfg_defs. AlterConfigs replaces a resource's whole set
 * of overrides; IncrementalAlterConfigs sets, deletes, appends to or subtracts from single
 * keys (append/subtract for list configs: cleanup.policy).
 *
 * Like the other admin handlers, a first pass decodes the whole request and a second acts, so
 * a malformed request changes nothing.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_RESOURCES 10000
#define MAX_CONFIGS   100000

enum { RES_TOPIC = 2, RES_BROKER = 4, RES_BROKER_LOGGER = 8 };
enum { OP_SET = 0, OP_DELETE = 1, OP_APPEND = 2, OP_SUBTRACT = 3 };

static bool broker_name_ok(broker_t *b, wire_str_t name)
{
    char id[16];
    snprintf(id, sizeof(id), "%d", broker_node_id(b));
    return name.len == 0 || wire_str_eq(name, id);
}

/* ---- DescribeConfigs
 * ----------------------------------------------------------------------------- */

/* Is `name` among the requested keys (NULL keys = all)? */
static bool key_wanted(const wire_str_t *keys, int32_t nkeys, const char *name)
{
    if (nkeys < 0)
        return true;
    for (int32_t i = 0; i < nkeys; i++)
        if (wire_str_eq(keys[i], name))
            return true;
    return false;
}

static void write_entry(wire_writer_t *w, int16_t v, const char *name, const char *value,
                        bool read_only, int source, bool synonyms, const char *syn_name,
                        const char *syn_value, int syn_source, const char *def_name,
                        const char *def_value)
{
    wire_write_cstr(w, name);
    wire_write_cstr(w, value);
    wire_write_bool(w, read_only);
    if (v == 0)
        wire_write_bool(w, source == CFG_SOURCE_DEFAULT); /* is_default */
    else
        wire_write_i8(w, (int8_t)source);
    wire_write_bool(w, false); /* is_sensitive */
    if (v >= 1) {
        int32_t n = 0;
        if (synonyms)
            n = (source != CFG_SOURCE_DEFAULT && syn_name ? 1 : 0) + (def_name ? 1 : 0);
        wire_write_array_len(w, n);
        if (n && source != CFG_SOURCE_DEFAULT && syn_name) {
            wire_write_cstr(w, syn_name);
            wire_write_cstr(w, syn_value);
            wire_write_i8(w, (int8_t)syn_source);
            wire_write_tags(w);
        }
        if (n && def_name) {
            wire_write_cstr(w, def_name);
            wire_write_cstr(w, def_value);
            wire_write_i8(w, CFG_SOURCE_DEFAULT);
            wire_write_tags(w);
        }
    }
    wire_write_tags(w);
}

static void describe_topic(kafka_req_t *req, wire_str_t name, const wire_str_t *keys, int32_t nkeys,
                           bool synonyms)
{
    wire_writer_t *w = &req->w;
    broker_t *b = req->b;
    int16_t v = req->hdr.api_version;
    broker_topics_rdlock(b);
    broker_topic_t *t = broker_topic_find(b, name.s, (size_t)name.len);
    wire_write_i16(w, t ? KAFKA_NONE : KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
    wire_write_cstr(w, t ? NULL : "Topic does not exist");
    wire_write_i8(w, RES_TOPIC);
    wire_write_view(w, name);
    int32_t n = 0;
    for (int k = 0; t && k < TCFG__COUNT; k++)
        n += key_wanted(keys, nkeys, broker_topic_cfg_defs[k].name);
    wire_write_array_len(w, n);
    for (int k = 0; t && k < TCFG__COUNT; k++) {
        const broker_topic_cfg_def_t *d = &broker_topic_cfg_defs[k];
        if (!key_wanted(keys, nkeys, d->name))
            continue;
        char buf[64], dbuf[64];
        int source, bsource;
        const char *val = broker_topic_cfg_value(b, &t->over, k, buf, sizeof(buf), &source);
        /* The broker-level value the override hides, for the synonym list. */
        const char *bval = broker_topic_cfg_value(b, NULL, k, dbuf, sizeof(dbuf), &bsource);
        const char *bname = d->broker_key >= 0 ? broker_cfg_defs[d->broker_key].name : NULL;
        if (source == CFG_SOURCE_DYNAMIC_TOPIC)
            write_entry(w, v, d->name, val, false, source, synonyms, d->name, val, source,
                        bname ? bname : d->name, bval);
        else
            write_entry(w, v, d->name, val, false, source, synonyms, bname, val, source,
                        bname ? bname : d->name,
                        bname ? broker_cfg_defs[d->broker_key].def : d->def);
    }
    broker_topics_unlock(b);
}

static void describe_broker(kafka_req_t *req, wire_str_t name, const wire_str_t *keys,
                            int32_t nkeys, bool synonyms)
{
    wire_writer_t *w = &req->w;
    broker_t *b = req->b;
    int16_t v = req->hdr.api_version;
    bool ok = broker_name_ok(b, name);
    wire_write_i16(w, ok ? KAFKA_NONE : KAFKA_INVALID_REQUEST);
    wire_write_cstr(w, ok ? NULL : "Unknown broker id");
    wire_write_i8(w, RES_BROKER);
    wire_write_view(w, name);
    broker_topics_rdlock(b); /* dynamic values change under the write lock */
    int32_t n = 0;
    for (int k = 0; ok && k < BCFG__COUNT; k++)
        n += broker_cfg_defs[k].alias_of < 0 && key_wanted(keys, nkeys, broker_cfg_defs[k].name);
    wire_write_array_len(w, n);
    for (int k = 0; ok && k < BCFG__COUNT; k++) {
        const broker_cfg_def_t *d = &broker_cfg_defs[k];
        if (d->alias_of >= 0 || !key_wanted(keys, nkeys, d->name))
            continue;
        int source = b->set.source[k];
        write_entry(w, v, d->name, b->set.sval[k], !d->dynamic, source, synonyms, d->name,
                    b->set.sval[k], source, d->name, d->def);
    }
    broker_topics_unlock(b);
}

/* Reads one DescribeConfigsResource; when act, writes its result. */
static void describe_one(kafka_req_t *req, bool act, bool synonyms)
{
    wire_reader_t *r = &req->r;
    int8_t type = wire_read_i8(r);
    wire_str_t name = wire_read_str(r);
    int32_t nkeys = wire_read_array(r, r->flexible ? 1 : 2, MAX_CONFIGS);
    wire_str_t *keys = nkeys > 0 ? weir_calloc((size_t)nkeys, sizeof(*keys)) : NULL;
    for (int32_t j = 0; j < nkeys && wire_reader_ok(r); j++)
        keys[j] = wire_read_str(r);
    wire_read_tags(r);
    if (act && wire_reader_ok(r)) {
        if (type == RES_TOPIC) {
            describe_topic(req, name, keys, nkeys, synonyms);
        } else if (type == RES_BROKER) {
            describe_broker(req, name, keys, nkeys, synonyms);
        } else {
            wire_writer_t *w = &req->w;
            wire_write_i16(w, KAFKA_INVALID_REQUEST);
            wire_write_cstr(w, "Unsupported resource type");
            wire_write_i8(w, type);
            wire_write_view(w, name);
            wire_write_array_len(w, 0);
            wire_write_tags(w);
        }
    }
    free(keys);
}

int kafka_handle_describe_configs(kafka_req_t *req)
{
    wire_reader_t *r = &req->r, start = *r;
    int16_t v = req->hdr.api_version;
    /* Pass 1 decodes, and finds include_synonyms, which follows the resources. */
    int32_t n = wire_read_array(r, r->flexible ? 3 : 7, MAX_RESOURCES);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++)
        describe_one(req, false, false);
    bool synonyms = v >= 1 ? wire_read_bool(r) : false;
    wire_read_tags(r);
    if (n < 0 || !wire_reader_ok(r))
        return -WEIR_EINVAL;
    *r = start;
    n = wire_read_array(r, r->flexible ? 3 : 7, MAX_RESOURCES);
    wire_write_i32(&req->w, 0); /* throttle_time_ms */
    wire_write_array_len(&req->w, n);
    for (int32_t i = 0; i < n; i++)
        describe_one(req, true, synonyms);
    wire_write_tags(&req->w);
    return KAFKA_RESPOND;
}

/* ---- AlterConfigs and IncrementalAlterConfigs -------------------------------------------------
 */

typedef struct {
    wire_str_t name;
    int8_t op;
    wire_str_t value;
} cfg_op_t;

typedef struct {
    int16_t err;
    char msg[256];
} alter_result_t;

/* Records the first error: the message is `prefix` followed by the name. */
static void alter_fail(alter_result_t *res, int16_t err, const char *prefix, wire_str_t arg)
{
    if (res->err)
        return;
    res->err = err;
    snprintf(res->msg, sizeof(res->msg), "%s%.*s", prefix, arg.len, arg.s);
}

/* cur +/- the comma-separated tokens of val, into out (a list config's APPEND/SUBTRACT). */
static void list_op(const char *cur, const char *val, bool append, char *out, size_t out_len)
{
    buf_t res = {0};
    char *c = weir_strdup(cur ? cur : ""), *save = NULL;
    for (char *tok = strtok_r(c, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        bool in_val = false;
        char *v = weir_strdup(val), *s2 = NULL;
        for (char *t2 = strtok_r(v, ", ", &s2); t2; t2 = strtok_r(NULL, ", ", &s2))
            in_val |= strcmp(tok, t2) == 0;
        free(v);
        if (append || !in_val)
            buf_printf(&res, "%s%s", res.len ? "," : "", tok);
    }
    free(c);
    if (append) {
        char *v = weir_strdup(val), *s2 = NULL;
        for (char *t2 = strtok_r(v, ", ", &s2); t2; t2 = strtok_r(NULL, ", ", &s2)) {
            buf_append_u8(&res, 0);
            res.len--;
            bool have = false;
            char *c2 = weir_strdup((char *)res.data), *s3 = NULL;
            for (char *t3 = strtok_r(c2, ",", &s3); t3; t3 = strtok_r(NULL, ",", &s3))
                have |= strcmp(t3, t2) == 0;
            free(c2);
            if (!have)
                buf_printf(&res, "%s%s", res.len ? "," : "", t2);
        }
        free(v);
    }
    snprintf(out, out_len, "%.*s", (int)res.len, res.data ? (char *)res.data : "");
    buf_deinit(&res);
}

static void alter_topic(kafka_req_t *req, wire_str_t name, const cfg_op_t *ops, int32_t n,
                        bool incremental, bool validate_only, alter_result_t *res)
{
    broker_t *b = req->b;
    broker_topic_overrides_t over = {0};
    if (wire_str_has_nul(name)) {
        alter_fail(res, KAFKA_UNKNOWN_TOPIC_OR_PARTITION, "Topic does not exist: ", name);
        return;
    }
    if (incremental) {
        broker_topics_rdlock(b);
        broker_topic_t *t = broker_topic_find(b, name.s, (size_t)name.len);
        if (t)
            broker_topic_overrides_copy(&over, &t->over);
        broker_topics_unlock(b);
        if (!t) {
            alter_fail(res, KAFKA_UNKNOWN_TOPIC_OR_PARTITION, "Topic does not exist: ", name);
            return;
        }
    }
    for (int32_t i = 0; i < n && !res->err; i++) {
        int k = broker_topic_cfg_find(ops[i].name.s, (size_t)ops[i].name.len);
        if (k < 0) {
            alter_fail(res, KAFKA_INVALID_CONFIG, "Unknown topic config name: ", ops[i].name);
            break;
        }
        char *val = wire_str_dup(ops[i].value), norm[256], err[256], lbuf[256];
        const char *check = val;
        if (ops[i].op == OP_DELETE) {
            free(over.val[k]);
            over.val[k] = NULL;
            free(val);
            continue;
        }
        if (ops[i].op == OP_APPEND || ops[i].op == OP_SUBTRACT) {
            if (!broker_topic_cfg_defs[k].is_list || !val) {
                alter_fail(
                    res, KAFKA_INVALID_CONFIG,
                    "Config value append/subtract is not allowed for config key: ", ops[i].name);
                free(val);
                break;
            }
            char cbuf[64];
            int src;
            const char *cur = broker_topic_cfg_value(b, &over, k, cbuf, sizeof(cbuf), &src);
            list_op(cur, val, ops[i].op == OP_APPEND, lbuf, sizeof(lbuf));
            check = lbuf;
        } else if (ops[i].op != OP_SET) {
            alter_fail(res, KAFKA_INVALID_REQUEST, "Unknown config operation for ", ops[i].name);
            free(val);
            break;
        }
        if (broker_topic_cfg_check(k, check, norm, sizeof(norm), err, sizeof(err)) < 0) {
            res->err = KAFKA_INVALID_CONFIG;
            snprintf(res->msg, sizeof(res->msg), "%s", err);
        } else {
            free(over.val[k]);
            over.val[k] = weir_strdup(norm);
        }
        free(val);
    }
    if (!res->err) {
        char *ns = wire_str_dup(name);
        res->err =
            broker_topic_set_configs(b, ns, &over, validate_only, res->msg, sizeof(res->msg));
        free(ns);
    }
    broker_topic_overrides_free(&over);
}

static void alter_broker(kafka_req_t *req, wire_str_t name, const cfg_op_t *ops, int32_t n,
                         bool incremental, bool validate_only, alter_result_t *res)
{
    broker_t *b = req->b;
    if (!broker_name_ok(b, name)) {
        alter_fail(res, KAFKA_INVALID_REQUEST, "Unknown broker id ", name);
        return;
    }
    broker_cfg_change_t *ch = weir_calloc((size_t)n + 1, sizeof(*ch));
    char(*vals)[256] = weir_calloc((size_t)n + 1, 256);
    for (int32_t i = 0; i < n && !res->err; i++) {
        int k = broker_cfg_find(ops[i].name.s, (size_t)ops[i].name.len);
        if (k < 0) {
            alter_fail(res, KAFKA_INVALID_CONFIG, "Unknown broker config name: ", ops[i].name);
            break;
        }
        ch[i].key = k;
        if (ops[i].op == OP_DELETE) {
            ch[i].value = NULL;
            continue;
        }
        if (ops[i].value.len < 0 || ops[i].value.len >= 256) {
            alter_fail(res, KAFKA_INVALID_CONFIG, "Bad value for ", ops[i].name);
            break;
        }
        snprintf(vals[i], 256, "%.*s", ops[i].value.len, ops[i].value.s);
        if (ops[i].op == OP_APPEND || ops[i].op == OP_SUBTRACT) {
            if (k != BCFG_LOG_CLEANUP_POLICY) {
                alter_fail(
                    res, KAFKA_INVALID_CONFIG,
                    "Config value append/subtract is not allowed for config key: ", ops[i].name);
                break;
            }
            char out[256];
            broker_topics_rdlock(b);
            list_op(b->set.sval[k], vals[i], ops[i].op == OP_APPEND, out, sizeof(out));
            broker_topics_unlock(b);
            snprintf(vals[i], 256, "%s", out);
        } else if (ops[i].op != OP_SET) {
            alter_fail(res, KAFKA_INVALID_REQUEST, "Unknown config operation for ", ops[i].name);
            break;
        }
        ch[i].value = vals[i];
    }
    if (!res->err)
        res->err = broker_dynamic_alter(b, ch, (size_t)n, !incremental, validate_only, res->msg,
                                        sizeof(res->msg));
    free(vals);
    free(ch);
}

/* Reads one resource; when act, applies it and writes its result. */
static void alter_one(kafka_req_t *req, bool act, bool incremental, bool validate_only)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int8_t type = wire_read_i8(r);
    wire_str_t name = wire_read_str(r);
    int32_t n = wire_read_array(r, r->flexible ? 2 : (incremental ? 5 : 4), MAX_CONFIGS);
    cfg_op_t *ops = weir_calloc(n > 0 ? (size_t)n : 1, sizeof(*ops));
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        ops[i].name = wire_read_str(r);
        ops[i].op = incremental ? wire_read_i8(r) : OP_SET;
        ops[i].value = wire_read_nstr(r);
        wire_read_tags(r);
        if (!incremental && ops[i].value.len < 0)
            ops[i].op = -1; /* null values are not allowed in AlterConfigs */
    }
    wire_read_tags(r);
    if (act && wire_reader_ok(r)) {
        alter_result_t res = {0};
        if (type == RES_TOPIC)
            alter_topic(req, name, ops, n, incremental, validate_only, &res);
        else if (type == RES_BROKER)
            alter_broker(req, name, ops, n, incremental, validate_only, &res);
        else
            alter_fail(&res, KAFKA_INVALID_REQUEST, "Unsupported resource type for ", name);
        wire_write_i16(w, res.err);
        wire_write_cstr(w, res.err ? res.msg : NULL);
        wire_write_i8(w, type);
        wire_write_view(w, name);
        wire_write_tags(w);
    }
    free(ops);
}

static int handle_alter(kafka_req_t *req, bool incremental)
{
    wire_reader_t *r = &req->r, start = *r;
    int32_t n = wire_read_array(r, r->flexible ? 3 : 7, MAX_RESOURCES);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++)
        alter_one(req, false, incremental, false);
    bool validate_only = wire_read_bool(r);
    wire_read_tags(r);
    if (n < 0 || !wire_reader_ok(r))
        return -WEIR_EINVAL;
    *r = start;
    n = wire_read_array(r, r->flexible ? 3 : 7, MAX_RESOURCES);
    wire_write_i32(&req->w, 0); /* throttle_time_ms */
    wire_write_array_len(&req->w, n);
    for (int32_t i = 0; i < n; i++)
        alter_one(req, true, incremental, validate_only);
    wire_write_tags(&req->w);
    return KAFKA_RESPOND;
}

int kafka_handle_alter_configs(kafka_req_t *req)
{
    return handle_alter(req, false);
}

int kafka_handle_incremental_alter_configs(kafka_req_t *req)
{
    return handle_alter(req, true);
}
