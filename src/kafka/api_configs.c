/*
 * Configs: DescribeConfigs (key 32, v1-4; v4 flexible), AlterConfigs (33, v0-2; v2 flexible)
 * and IncrementalAlterConfigs (44, v0-1; v1 flexible) for topics (resource type 2), this broker
 * (type 4, named by its node id, or "" for the cluster-wide dynamic defaults) and its loggers
 * (type 8). DescribeConfigs v0 is gone, as in Kafka 4. What each resource holds and Kafka's
 * errors are the broker's (src/broker/config_admin.c, config_alter.c); this file decodes and
 * encodes.
 *
 * Like the other admin handlers, a first pass decodes the whole request and a second acts, so a
 * malformed request changes nothing. Every count is bounded by the bytes present before
 * anything is allocated.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_RESOURCES 10000
#define MAX_CONFIGS   100000

/* Kafka's checks (authz.c): op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on the topic (type 2) or on
 * the cluster (the broker, type 4, and its loggers, type 8). The ErrorCode when denied. */
static int16_t config_authz(const kafka_req_t *req, int8_t type, wire_str_t name, int8_t op)
{
    if (type == KAFKA_RESOURCE_TOPIC)
        return kafka_authz_str(req, KAFKA_RESOURCE_TOPIC, name, op)
                   ? KAFKA_NONE
                   : KAFKA_TOPIC_AUTHORIZATION_FAILED;
    return kafka_authz_cluster(req, op) ? KAFKA_NONE : KAFKA_CLUSTER_AUTHORIZATION_FAILED;
}

/* ---- DescribeConfigs ------------------------------------------------------------------------ */

/* Is `name` among the requested keys (null or empty = all, as Kafka reads it)? */
static bool key_wanted(const wire_str_t *keys, int32_t nkeys, const char *name)
{
    if (nkeys <= 0)
        return true;
    for (int32_t i = 0; i < nkeys; i++)
        if (wire_str_eq(keys[i], name))
            return true;
    return false;
}

typedef struct {
    bool synonyms;
    bool documentation;
} describe_opts_t;

static void write_entry(wire_writer_t *w, int16_t v, const broker_config_entry_t *e,
                        const describe_opts_t *o)
{
    wire_write_cstr(w, e->name);
    wire_write_cstr(w, e->value);
    wire_write_bool(w, e->read_only);
    wire_write_i8(w, e->source);
    wire_write_bool(w, e->sensitive);
    size_t n = o->synonyms ? e->nsynonyms : 0;
    wire_write_array_len(w, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        wire_write_cstr(w, e->synonyms[i].name);
        wire_write_cstr(w, e->synonyms[i].value);
        wire_write_i8(w, e->synonyms[i].source);
        wire_write_tags(w);
    }
    if (v >= 3) {
        wire_write_i8(w, e->type);
        wire_write_cstr(w, o->documentation ? e->doc : NULL);
    }
    wire_write_tags(w);
}

/* Reads one DescribeConfigsResource; when act, writes its result. */
static void describe_one(kafka_req_t *req, bool act, const describe_opts_t *o)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int8_t type = wire_read_i8(r);
    wire_str_t name = wire_read_str(r);
    int32_t nkeys = wire_read_array(r, r->flexible ? 1 : 2, MAX_CONFIGS);
    wire_str_t *keys = act && nkeys > 0 ? weir_calloc((size_t)nkeys, sizeof(*keys)) : NULL;
    for (int32_t j = 0; j < nkeys && wire_reader_ok(r); j++) {
        wire_str_t k = wire_read_str(r);
        if (keys)
            keys[j] = k;
    }
    wire_read_tags(r);
    if (act && wire_reader_ok(r)) {
        broker_config_list_t list = {0};
        broker_err_t err = {config_authz(req, type, name, KAFKA_ACL_OP_DESCRIBE_CONFIGS), ""};
        int rc = -WEIR_EINVAL;
        if (err.code == KAFKA_NONE)
            rc = broker_configs_describe(req->b, type, name.s, (size_t)name.len, &list, &err);
        wire_write_i16(w, rc < 0 ? err.code : KAFKA_NONE);
        wire_write_cstr(w, rc < 0 ? err.message : ""); /* Kafka sends "" rather than null */
        wire_write_i8(w, type);
        wire_write_view(w, name);
        int32_t n = 0;
        for (size_t k = 0; k < list.n; k++)
            n += key_wanted(keys, nkeys, list.entries[k].name);
        wire_write_array_len(w, n);
        for (size_t k = 0; k < list.n; k++)
            if (key_wanted(keys, nkeys, list.entries[k].name))
                write_entry(w, req->hdr.api_version, &list.entries[k], o);
        wire_write_tags(w);
        broker_config_list_deinit(&list);
    }
    free(keys);
}

int kafka_handle_describe_configs(kafka_req_t *req)
{
    wire_reader_t *r = &req->r, start = *r;
    int16_t v = req->hdr.api_version;
    describe_opts_t o = {false, false};
    /* Pass 1 decodes, and finds the flags, which follow the resources. */
    int32_t n = wire_read_array(r, r->flexible ? 3 : 7, MAX_RESOURCES);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++)
        describe_one(req, false, &o);
    o.synonyms = wire_read_bool(r);
    o.documentation = v >= 3 ? wire_read_bool(r) : false;
    wire_read_tags(r);
    if (n < 0 || !wire_reader_ok(r))
        return -WEIR_EINVAL;
    *r = start;
    n = wire_read_array(r, r->flexible ? 3 : 7, MAX_RESOURCES);
    wire_write_i32(&req->w, 0); /* throttle_time_ms */
    wire_write_array_len(&req->w, n);
    for (int32_t i = 0; i < n; i++)
        describe_one(req, true, &o);
    wire_write_tags(&req->w);
    return KAFKA_RESPOND;
}

/* ---- AlterConfigs and IncrementalAlterConfigs --------------------------------------------------
 */

/* Reads one resource; when act, applies it and writes its result. */
static void alter_one(kafka_req_t *req, bool act, bool incremental, bool validate_only)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int8_t type = wire_read_i8(r);
    wire_str_t name = wire_read_str(r);
    int32_t n = wire_read_array(r, r->flexible ? 2 : (incremental ? 5 : 4), MAX_CONFIGS);
    broker_config_op_t *ops = act && n > 0 ? weir_calloc((size_t)n, sizeof(*ops)) : NULL;
    bool nul = false; /* a NUL in a name or value (a NUL in the resource name matches none) */
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        wire_str_t key = wire_read_str(r);
        int8_t op = incremental ? wire_read_i8(r) : BROKER_CONFIG_SET;
        wire_str_t value = wire_read_nstr(r);
        wire_read_tags(r);
        if (!ops || !wire_reader_ok(r))
            continue;
        nul |= wire_str_has_nul(key) || wire_str_has_nul(value);
        ops[i].name = wire_str_dup(key);
        ops[i].op = op;
        ops[i].value = wire_str_dup(value);
    }
    wire_read_tags(r);
    if (act && wire_reader_ok(r)) {
        broker_err_t err = {config_authz(req, type, name, KAFKA_ACL_OP_ALTER_CONFIGS), ""};
        if (err.code != KAFKA_NONE) {
            /* denied: nothing changes */
        } else if (nul) { /* names become C strings: "a\0b" must never become "a" */
            err.code = KAFKA_INVALID_REQUEST;
            snprintf(err.message, sizeof(err.message), "Names and values may not hold NUL");
        } else {
            broker_configs_alter(req->b, type, name.s, (size_t)name.len, ops, n > 0 ? (size_t)n : 0,
                                 incremental, validate_only, &err);
        }
        wire_write_i16(w, err.code);
        wire_write_cstr(w, err.code && err.message[0] ? err.message : NULL);
        wire_write_i8(w, type);
        wire_write_view(w, name);
        wire_write_tags(w);
    }
    for (int32_t i = 0; ops && i < n; i++) {
        free((char *)ops[i].name);
        free((char *)ops[i].value);
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
