/*
 * Topic administration: CreateTopics (key 19, v2-7), DeleteTopics (20, v1-6, by name or, from
 * v6, by topic id), CreatePartitions (37, v0-3) and DeleteRecords (21, v0-2).
 *
 * Each handler reads its request twice: a first pass only decodes (so a malformed request
 * changes nothing and closes the connection), the second acts and writes the response.
 * Errors are per topic (or per partition) with Kafka's codes and messages; one node means a
 * replication factor of 1 (or -1, the default) and assignments naming only this node.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_TOPICS 100000
#define MAX_ITEMS  1000000

/* ---- CreateTopics
 * -------------------------------------------------------------------------------- */

typedef struct {
    int16_t err;
    char msg[768];
} admin_result_t;

/* Records the first problem found (the one reported): `prefix` followed by arg. */
static void result_set(admin_result_t *res, int16_t err, const char *prefix, const char *arg)
{
    if (res->err)
        return;
    res->err = err;
    snprintf(res->msg, sizeof(res->msg), "%s%s", prefix, arg);
}

static void kv_free(broker_config_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)kv[i].key);
        free((char *)kv[i].value);
    }
    free(kv);
}

/* The v5+ tail of a created topic's answer: partitions, replication factor and its configs
 * (null, with the error in tagged field 0 of the topic, when they cannot be given). */
static void write_created_configs(kafka_req_t *req, const admin_result_t *res,
                                  const broker_topic_created_t *made, const broker_config_kv_t *kv,
                                  size_t nkv)
{
    wire_writer_t *w = &req->w;
    broker_config_list_t list = {0};
    broker_err_t err;
    bool have = !res->err && broker_configs_describe_new_topic(req->b, kv, nkv, &list, &err) == 0;
    wire_write_i32(w, res->err ? -1 : made->partitions);
    wire_write_i16(w, res->err ? -1 : 1);                /* replication factor */
    wire_write_array_len(w, have ? (int32_t)list.n : 0); /* Kafka: empty, not null, on errors */
    for (size_t i = 0; have && i < list.n; i++) {
        const broker_config_entry_t *e = &list.entries[i];
        wire_write_cstr(w, e->name);
        wire_write_cstr(w, e->sensitive ? NULL : e->value);
        wire_write_bool(w, e->read_only);
        wire_write_i8(w, e->source);
        wire_write_bool(w, e->sensitive);
        wire_write_tags(w);
    }
    broker_config_list_deinit(&list);
}

/* Reads one CreatableTopic; when act, checks and creates it and writes its answer. */
static void create_one(kafka_req_t *req, bool act, bool validate_only)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int16_t v = req->hdr.api_version;
    broker_t *b = req->b;
    admin_result_t res = {0};
    wire_str_t name = wire_read_str(r);
    int32_t nparts = wire_read_i32(r);
    int16_t rf = wire_read_i16(r);
    int32_t nassign = wire_read_array(r, r->flexible ? 2 : 8, MAX_ITEMS);
    int32_t node = broker_node_id(b), assigned = 0;
    for (int32_t i = 0; i < nassign && wire_reader_ok(r); i++) {
        int32_t pidx = wire_read_i32(r);
        int32_t nb = wire_read_array(r, 4, MAX_ITEMS);
        bool ok = nb == 1 && pidx == assigned;
        for (int32_t j = 0; j < nb && wire_reader_ok(r); j++)
            ok &= wire_read_i32(r) == node;
        wire_read_tags(r);
        if (!ok)
            result_set(&res, KAFKA_INVALID_REPLICA_ASSIGNMENT,
                       "Replica assignments must name partitions 0..n-1 in order, each on "
                       "this broker only",
                       "");
        assigned++;
    }
    int32_t nconf = wire_read_array(r, r->flexible ? 2 : 4, MAX_ITEMS);
    broker_config_kv_t *kv = act && nconf > 0 ? weir_calloc((size_t)nconf, sizeof(*kv)) : NULL;
    size_t nkv = 0;
    for (int32_t i = 0; i < nconf && wire_reader_ok(r); i++) {
        wire_str_t key = wire_read_str(r);
        wire_str_t val = wire_read_nstr(r);
        wire_read_tags(r);
        if (!kv || !wire_reader_ok(r))
            continue;
        if (wire_str_has_nul(key) || wire_str_has_nul(val)) { /* never a shorter name */
            result_set(&res, KAFKA_INVALID_CONFIG, "Config names and values may not hold NUL", "");
            continue;
        }
        kv[nkv].key = wire_str_dup(key);
        kv[nkv++].value = wire_str_dup(val);
    }
    wire_read_tags(r);
    if (!act || !wire_reader_ok(r)) {
        kv_free(kv, nkv);
        return;
    }
    broker_err_t err;
    if (broker_topic_configs_validate(kv, nkv, &err) < 0)
        result_set(&res, err.code, "", err.message);
    if (nassign > 0) {
        if (nparts != -1 || rf != -1)
            result_set(&res, KAFKA_INVALID_REQUEST,
                       "Both numPartitions or replicationFactor and replicasAssignments were "
                       "set",
                       "");
        nparts = nassign;
    } else if (rf != -1 && rf != 1) {
        result_set(&res, KAFKA_INVALID_REPLICATION_FACTOR,
                   "Replication factor must be 1 (or -1 for the default): this cluster has ",
                   "one broker");
    }
    const char *why;
    if (!broker_topic_name_valid(name.s, (size_t)name.len, &why)) /* before any C string */
        result_set(&res, KAFKA_INVALID_TOPIC_EXCEPTION, why, "");
    if (!kafka_authz_cluster(req, KAFKA_ACL_OP_CREATE) &&
        !kafka_authz_str(req, KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_OP_CREATE))
        result_set(&res, KAFKA_TOPIC_AUTHORIZATION_FAILED, "Authorization failed.", "");
    char *ns = wire_str_dup(name);
    broker_topic_created_t made = {{0}, -1};
    if (res.err == KAFKA_NONE &&
        broker_topic_create(b, ns, nparts, kv, nkv, validate_only, &made, &err) < 0)
        result_set(&res, err.code, "", err.message);
    free(ns);
    wire_write_view(w, name);
    if (v >= 7)
        wire_write_uuid(w, made.id);
    wire_write_i16(w, res.err);
    wire_write_cstr(w, res.err ? res.msg : NULL);
    if (v >= 5)
        write_created_configs(req, &res, &made, kv, nkv);
    wire_write_tags(w);
    kv_free(kv, nkv);
}

int kafka_handle_create_topics(kafka_req_t *req)
{
    wire_reader_t *r = &req->r, start = *r;
    /* Pass 1 only decodes, and finds validate_only, which follows the topics. */
    int32_t n = wire_read_array(r, r->flexible ? 9 : 16, MAX_TOPICS);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++)
        create_one(req, false, false);
    (void)wire_read_i32(r); /* timeout_ms: creation is synchronous */
    bool validate_only = wire_read_bool(r);
    wire_read_tags(r);
    if (n < 0 || !wire_reader_ok(r))
        return -WEIR_EINVAL;
    /* Pass 2 acts. */
    *r = start;
    n = wire_read_array(r, r->flexible ? 9 : 16, MAX_TOPICS);
    wire_write_i32(&req->w, 0); /* throttle_time_ms */
    wire_write_array_len(&req->w, n);
    for (int32_t i = 0; i < n; i++)
        create_one(req, true, validate_only);
    wire_write_tags(&req->w);
    return KAFKA_RESPOND;
}

/* ---- DeleteTopics
 * --------------------------------------------------------------------------------- */

/* Deletes one topic named (v0-5) or named or identified (v6) and writes its answer. */
static void delete_one(kafka_req_t *req, bool act)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int16_t v = req->hdr.api_version;
    wire_str_t name = v >= 6 ? wire_read_nstr(r) : wire_read_str(r);
    uint8_t id[16] = {0};
    if (v >= 6) {
        wire_read_uuid(r, id);
        wire_read_tags(r);
    }
    if (!act || !wire_reader_ok(r))
        return;
    static const uint8_t zero[16];
    broker_err_t err = {KAFKA_NONE, ""};
    broker_topic_desc_t d = {0};
    /* A non-zero id names the topic (clients leave the name empty or null then). */
    bool by_id = memcmp(id, zero, 16) != 0;
    if (by_id && broker_topic_describe_id(req->b, id, &d) < 0) {
        err.code = KAFKA_UNKNOWN_TOPIC_ID;
        snprintf(err.message, sizeof(err.message), "This server does not host this topic ID.");
    } else if (!by_id && name.len < 0) {
        err.code = KAFKA_INVALID_REQUEST;
        snprintf(err.message, sizeof(err.message), "Neither a topic name nor a topic id.");
    } else {
        const char *n = by_id ? d.name : name.s;
        size_t len = by_id ? strlen(d.name) : (size_t)name.len;
        if (!by_id && broker_topic_describe(req->b, n, len, &d) == 0)
            memcpy(id, d.id, 16);
        if (!kafka_authz(req, KAFKA_RESOURCE_TOPIC, n, len, KAFKA_ACL_OP_DELETE)) {
            err.code = KAFKA_TOPIC_AUTHORIZATION_FAILED;
            snprintf(err.message, sizeof(err.message), "Authorization failed.");
        } else if (broker_topic_delete(req->b, n, len, &err) == 0) {
            err.code = KAFKA_NONE;
        }
    }
    if (by_id && d.name)
        wire_write_cstr(w, d.name);
    else
        wire_write_view(w, name);
    if (v >= 6)
        wire_write_uuid(w, id);
    wire_write_i16(w, err.code);
    if (v >= 5)
        wire_write_cstr(w, err.code ? err.message : NULL);
    wire_write_tags(w);
    broker_topic_desc_deinit(&d);
}

int kafka_handle_delete_topics(kafka_req_t *req)
{
    wire_reader_t *r = &req->r, start = *r;
    wire_writer_t *w = &req->w;
    int16_t v = req->hdr.api_version;
    size_t min = v >= 6 ? 1 + 16 + 1 : (r->flexible ? 1 : 2);
    int32_t n = wire_read_array(r, min, MAX_TOPICS);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++)
        delete_one(req, false);
    (void)wire_read_i32(r); /* timeout_ms: deletion is synchronous */
    wire_read_tags(r);
    if (n < 0 || !wire_reader_ok(r))
        return -WEIR_EINVAL;
    *r = start;
    n = wire_read_array(r, min, MAX_TOPICS);
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, n);
    for (int32_t i = 0; i < n; i++)
        delete_one(req, true);
    wire_write_tags(w);
    return KAFKA_RESPOND;
}

/* ---- CreatePartitions ----------------------------------------------------------------------
 * v0-3 (v2+ flexible), answered as Kafka 4 does: a topic named twice gets one answer,
 * INVALID_REQUEST "Duplicate topic name."; an unknown topic UNKNOWN_TOPIC_OR_PARTITION without a
 * message; a count that is no increase INVALID_PARTITIONS; more than 10000 new partitions in
 * one go POLICY_VIOLATION; assignments must give one list per new partition, each naming this
 * broker once. */

#define MAX_NEW_PARTITIONS 10000

typedef struct {
    wire_str_t name;
    int32_t index; /* in the request */
    bool dup;      /* named before in the request */
    bool repeat;   /* a later mention of a name: no answer of its own */
} cp_topic_t;

static int cp_cmp(const void *a, const void *b)
{
    const cp_topic_t *x = a, *y = b;
    int32_t n = WEIR_MIN(x->name.len, y->name.len);
    int c = memcmp(x->name.s, y->name.s, (size_t)n);
    if (c == 0)
        c = x->name.len < y->name.len ? -1 : x->name.len > y->name.len;
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int cp_by_index(const void *a, const void *b)
{
    const cp_topic_t *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* Checks the count and the assignments of one topic against its current partitions. */
static void cp_check(kafka_req_t *req, wire_str_t name, int32_t count, int32_t nassign,
                     bool bad_assign, admin_result_t *res)
{
    broker_topic_desc_t d;
    if (!kafka_authz_str(req, KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_OP_ALTER)) {
        result_set(res, KAFKA_TOPIC_AUTHORIZATION_FAILED, "Authorization failed.", "");
        return;
    }
    if (wire_str_has_nul(name) || broker_topic_describe(req->b, name.s, (size_t)name.len, &d) < 0) {
        res->err = KAFKA_UNKNOWN_TOPIC_OR_PARTITION; /* Kafka sends no message */
        return;
    }
    int32_t cur = d.partitions;
    broker_topic_desc_deinit(&d);
    char msg[512];
    if (count == cur) {
        snprintf(msg, sizeof(msg), "Topic already has %d partition(s).", cur);
        result_set(res, KAFKA_INVALID_PARTITIONS, msg, "");
    } else if (count < cur) {
        snprintf(msg, sizeof(msg),
                 "The topic %.*s currently has %d partition(s); %d would not be an increase.",
                 (int)name.len, name.s, cur, count);
        result_set(res, KAFKA_INVALID_PARTITIONS, msg, "");
    } else if ((int64_t)count - cur > MAX_NEW_PARTITIONS) {
        result_set(res, KAFKA_POLICY_VIOLATION,
                   "Excessively large number of additional partitions per request.", "");
    } else if (nassign >= 0 && nassign != count - cur) {
        snprintf(msg, sizeof(msg),
                 "Attempted to add %d additional partition(s), but only %d assignment(s) were "
                 "specified.",
                 count - cur, nassign);
        result_set(res, KAFKA_INVALID_REPLICA_ASSIGNMENT, msg, "");
    } else if (bad_assign) {
        res->err = KAFKA_INVALID_REPLICA_ASSIGNMENT; /* message set by the caller */
    }
}

/* Reads one topic; when act, checks and grows it and writes its answer. */
static void create_partitions_one(kafka_req_t *req, bool act, bool validate_only, bool dup)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    admin_result_t res = {0}, assign = {0};
    wire_str_t name = wire_read_str(r);
    int32_t count = wire_read_i32(r);
    int32_t nassign = wire_read_array(r, r->flexible ? 2 : 4, MAX_ITEMS); /* null = automatic */
    for (int32_t i = 0; i < nassign && wire_reader_ok(r); i++) {
        int32_t nb = wire_read_array(r, 4, MAX_ITEMS);
        int32_t ids[8], kept = 0; /* one node: the second entry is wrong at the latest */
        for (int32_t j = 0; j < nb && wire_reader_ok(r); j++) {
            int32_t id = wire_read_i32(r);
            if (kept < 8)
                ids[kept++] = id;
        }
        wire_read_tags(r);
        broker_err_t err;
        if (act && wire_reader_ok(r) && broker_replicas_check(req->b, ids, kept, &err) < 0)
            result_set(&assign, err.code, err.message, "");
    }
    wire_read_tags(r);
    if (!act || !wire_reader_ok(r))
        return;
    if (dup)
        result_set(&res, KAFKA_INVALID_REQUEST, "Duplicate topic name.", "");
    else
        cp_check(req, name, count, nassign, assign.err != KAFKA_NONE, &res);
    if (res.err == KAFKA_INVALID_REPLICA_ASSIGNMENT && !res.msg[0])
        res = assign;
    broker_err_t err;
    if (res.err == KAFKA_NONE && broker_topic_add_partitions(req->b, name.s, (size_t)name.len,
                                                             count, validate_only, &err) < 0)
        result_set(&res, err.code, "", err.message);
    wire_write_view(w, name);
    wire_write_i16(w, res.err);
    wire_write_cstr(w, res.err && res.msg[0] ? res.msg : NULL);
    wire_write_tags(w);
}

/* Pass 1: decodes every topic and marks the names given more than once. */
static cp_topic_t *cp_decode(kafka_req_t *req, int32_t *n, bool *validate_only)
{
    wire_reader_t *r = &req->r;
    *n = wire_read_array(r, r->flexible ? 6 : 10, MAX_TOPICS);
    cp_topic_t *t = *n > 0 ? weir_calloc((size_t)*n, sizeof(*t)) : NULL;
    for (int32_t i = 0; i < *n && wire_reader_ok(r); i++) {
        wire_reader_t at = *r;
        t[i].name = wire_read_str(&at);
        t[i].index = i;
        create_partitions_one(req, false, false, false);
    }
    (void)wire_read_i32(r); /* timeout_ms */
    *validate_only = wire_read_bool(r);
    wire_read_tags(r);
    if (*n > 1 && wire_reader_ok(r)) {
        qsort(t, (size_t)*n, sizeof(*t), cp_cmp);
        for (int32_t i = 1; i < *n; i++) {
            if (t[i].name.len == t[i - 1].name.len &&
                memcmp(t[i].name.s, t[i - 1].name.s, (size_t)t[i].name.len) == 0) {
                t[i].repeat = true;
                if (!t[i - 1].repeat)
                    t[i - 1].dup = true; /* the first mention answers for all */
            }
        }
        qsort(t, (size_t)*n, sizeof(*t), cp_by_index);
    }
    return t;
}

int kafka_handle_create_partitions(kafka_req_t *req)
{
    wire_reader_t *r = &req->r, start = *r;
    int32_t n;
    bool validate_only;
    cp_topic_t *t = cp_decode(req, &n, &validate_only);
    if (n < 0 || !wire_reader_ok(r)) {
        free(t);
        return -WEIR_EINVAL;
    }
    *r = start;
    n = wire_read_array(r, r->flexible ? 6 : 10, MAX_TOPICS);
    int32_t answers = 0;
    for (int32_t i = 0; i < n; i++)
        answers += !t[i].repeat;
    wire_write_i32(&req->w, 0); /* throttle_time_ms */
    wire_write_array_len(&req->w, answers);
    for (int32_t i = 0; i < n; i++) {
        if (!t[i].repeat) {
            create_partitions_one(req, true, validate_only, t[i].dup);
        } else { /* read past it without answering */
            create_partitions_one(req, false, false, false);
        }
    }
    wire_write_tags(&req->w);
    free(t);
    return KAFKA_RESPOND;
}

/* ---- DeleteRecords ----------------------------------------------------------------------------
 * v0-2 (v2 flexible). A topic whose cleanup.policy lacks delete refuses with POLICY_VIOLATION,
 * as Kafka 4 does. */

static void delete_records_part(kafka_req_t *req, wire_str_t name, bool act)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int32_t idx = wire_read_i32(r);
    int64_t offset = wire_read_i64(r);
    wire_read_tags(r);
    if (!act)
        return;
    broker_err_t perr;
    int64_t low = -1;
    int16_t err;
    if (!kafka_authz_str(req, KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_OP_DELETE))
        err = KAFKA_TOPIC_AUTHORIZATION_FAILED;
    else if (broker_delete_records_policy(req->b, name.s, (size_t)name.len, &perr) < 0)
        err = perr.code;
    else
        err = kafka_err_from(
            broker_delete_records(req->b, name.s, (size_t)name.len, idx, offset, &low));
    wire_write_i32(w, idx);
    wire_write_i64(w, low);
    wire_write_i16(w, err);
    wire_write_tags(w);
}

int kafka_handle_delete_records(kafka_req_t *req)
{
    wire_reader_t *r = &req->r, start = *r;
    wire_writer_t *w = &req->w;
    for (int pass = 0; pass < 2; pass++) {
        *r = start;
        int32_t n = wire_read_array(r, r->flexible ? 3 : 6, MAX_TOPICS);
        if (n < 0)
            return -WEIR_EINVAL;
        if (pass == 1) {
            wire_write_i32(w, 0); /* throttle_time_ms */
            wire_write_array_len(w, n);
        }
        for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
            wire_str_t name = wire_read_str(r);
            int32_t np = wire_read_array(r, r->flexible ? 13 : 12, MAX_ITEMS);
            if (pass == 1) {
                wire_write_view(w, name);
                wire_write_array_len(w, np);
            }
            for (int32_t j = 0; j < np && wire_reader_ok(r); j++)
                delete_records_part(req, name, pass == 1);
            wire_read_tags(r);
            if (pass == 1)
                wire_write_tags(w);
        }
        (void)wire_read_i32(r); /* timeout_ms */
        wire_read_tags(r);
        if (!wire_reader_ok(r))
            return -WEIR_EINVAL;
    }
    wire_write_tags(w);
    return KAFKA_RESPOND;
}
