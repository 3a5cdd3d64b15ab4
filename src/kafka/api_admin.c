/*
 * Cluster and admin APIs of one node: DescribeCluster (key 60, v0-2), DescribeLogDirs (35,
 * v1-4), ElectLeaders (43, v0-2), AlterPartitionReassignments (45, v0),
 * ListPartitionReassignments (46, v0) and OffsetForLeaderEpoch (23, v2-4), answered as a Kafka
 * 4 cluster of one broker answers them (src/broker/admin.c has the answers).
 *
 * None of them changes anything, so each decodes and answers in one pass: a request that fails
 * to decode part way closes the connection and the half-written answer is dropped. Every count
 * is bounded by the bytes present (wire_read_array) before anything is allocated, and no
 * allocation here grows with a count.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_TOPICS 100000
#define MAX_ITEMS  1000000

/* Kafka's AclOperation codes the cluster resource allows, all of them without an authorizer:
 * CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE. */
#define CLUSTER_OPERATIONS                                                                         \
    ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12))
#define OPERATIONS_NOT_ASKED INT32_MIN

/* ---- DescribeCluster ------------------------------------------------------------------------- */

int kafka_handle_describe_cluster(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int16_t v = req->hdr.api_version;
    bool ops = wire_read_bool(r);
    int8_t type = v >= 1 ? wire_read_i8(r) : 1;
    if (v >= 2)
        (void)wire_read_bool(r); /* include_fenced_brokers: this node is never fenced */
    wire_read_tags(r);
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    int16_t err = KAFKA_NONE;
    const char *msg = NULL;
    char buf[64];
    if (type == 2) {
        err = KAFKA_MISMATCHED_ENDPOINT_TYPE;
        msg = "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of "
              "type CONTROLLER";
    } else if (type != 1) {
        err = KAFKA_UNSUPPORTED_ENDPOINT_TYPE;
        snprintf(buf, sizeof(buf), "Unsupported endpoint type %d", type);
        msg = buf;
    }
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, err);
    wire_write_cstr(w, msg);
    if (v >= 1)
        wire_write_i8(w, 1); /* what was described: brokers */
    wire_write_cstr(w, err ? "" : broker_cluster_id(req->b));
    wire_write_i32(w, err ? -1 : broker_node_id(req->b)); /* the controller is this node */
    wire_write_array_len(w, err ? 0 : 1);
    if (!err) {
        wire_write_i32(w, broker_node_id(req->b));
        wire_write_cstr(w, req->lst->adv_host);
        wire_write_i32(w, req->lst->adv_port);
        wire_write_cstr(w, NULL); /* rack */
        if (v >= 2)
            wire_write_bool(w, false); /* is_fenced */
        wire_write_tags(w);
    }
    wire_write_i32(w, ops && !err ? CLUSTER_OPERATIONS : OPERATIONS_NOT_ASKED);
    wire_write_tags(w);
    return KAFKA_RESPOND;
}

/* ---- DescribeLogDirs ------------------------------------------------------------------------- */

/* Decodes the topics asked for into q (NULL for a null array: all); false on a decode error. The
 * partition lists point into scratch memory the caller frees (parts). */
static bool log_dirs_query(wire_reader_t *r, broker_logdir_query_t **q, int32_t *nq,
                           int32_t **parts)
{
    *q = NULL;
    *parts = NULL;
    *nq = wire_read_array(r, r->flexible ? 3 : 6, MAX_TOPICS);
    if (*nq <= 0)
        return wire_reader_ok(r);
    /* Every partition is 4 bytes of the request: at most this many. */
    size_t maxparts = wire_reader_left(r) / 4 + 1;
    *q = weir_calloc((size_t)*nq, sizeof(**q));
    *parts = weir_calloc(maxparts, sizeof(**parts));
    size_t used = 0;
    for (int32_t i = 0; i < *nq && wire_reader_ok(r); i++) {
        wire_str_t t = wire_read_str(r);
        int32_t np = wire_read_array(r, 4, MAX_ITEMS);
        (*q)[i] = (broker_logdir_query_t){t.s, t.len > 0 ? (size_t)t.len : 0, *parts + used, 0};
        for (int32_t j = 0; j < np && wire_reader_ok(r) && used < maxparts; j++)
            (*parts)[used++] = wire_read_i32(r), (*q)[i].nparts++;
        wire_read_tags(r);
    }
    return wire_reader_ok(r);
}

int kafka_handle_describe_log_dirs(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int16_t v = req->hdr.api_version;
    broker_logdir_query_t *q;
    int32_t nq, *parts;
    bool ok = log_dirs_query(r, &q, &nq, &parts);
    wire_read_tags(r);
    if (!ok || !wire_reader_ok(r)) {
        free(q);
        free(parts);
        return -WEIR_EINVAL;
    }
    static const broker_logdir_query_t none; /* an empty list asks for nothing */
    /* Kafka's check (authz.c): DESCRIBE on the cluster; denied, v3+ answer the code and no
     * dir, older versions an empty list. */
    if (!kafka_authz_cluster(req, KAFKA_ACL_OP_DESCRIBE)) {
        free(q);
        free(parts);
        wire_write_i32(w, 0);
        if (v >= 3)
            wire_write_i16(w, KAFKA_CLUSTER_AUTHORIZATION_FAILED);
        wire_write_array_len(w, 0);
        wire_write_tags(w);
        return KAFKA_RESPOND;
    }
    broker_logdir_t d;
    broker_log_dirs_describe(req->b, nq < 0 ? NULL : q ? q : &none, nq < 0 ? 0 : (size_t)nq, &d);
    wire_write_i32(w, 0); /* throttle_time_ms */
    if (v >= 3)
        wire_write_i16(w, KAFKA_NONE);
    wire_write_array_len(w, 1);
    wire_write_i16(w, d.error);
    wire_write_cstr(w, d.path);
    wire_write_array_len(w, (int32_t)d.ntopics);
    for (size_t i = 0; i < d.ntopics; i++) {
        wire_write_cstr(w, d.topics[i].name);
        wire_write_array_len(w, (int32_t)d.topics[i].nparts);
        for (size_t j = 0; j < d.topics[i].nparts; j++) {
            wire_write_i32(w, d.topics[i].parts[j].partition);
            wire_write_i64(w, d.topics[i].parts[j].size_bytes);
            wire_write_i64(w, 0);      /* offset_lag: the high watermark is the log end */
            wire_write_bool(w, false); /* is_future_key */
            wire_write_tags(w);
        }
        wire_write_tags(w);
    }
    if (v >= 4) {
        wire_write_i64(w, d.total_bytes);
        wire_write_i64(w, d.usable_bytes);
    }
    wire_write_tags(w);
    wire_write_tags(w);
    broker_log_dir_deinit(&d);
    free(q);
    free(parts);
    return KAFKA_RESPOND;
}

/* ---- ElectLeaders ------------------------------------------------------------------------- */

static void elect_result(kafka_req_t *req, int8_t type, wire_str_t topic, int32_t partition)
{
    wire_writer_t *w = &req->w;
    broker_err_t err;
    broker_elect_leader(req->b, type, topic.s, (size_t)topic.len, partition, &err);
    wire_write_i32(w, partition);
    wire_write_i16(w, err.code);
    wire_write_cstr(w, err.code ? err.message : NULL);
    wire_write_tags(w);
}

/* topic_partitions null: every topic, each with the partitions an election changed (none). */
static void elect_all(kafka_req_t *req)
{
    broker_topic_desc_t *all;
    size_t n;
    broker_topics_describe(req->b, &all, &n);
    wire_write_array_len(&req->w, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        wire_write_cstr(&req->w, all[i].name);
        wire_write_array_len(&req->w, 0);
        wire_write_tags(&req->w);
    }
    broker_topic_descs_free(all, n);
}

int kafka_handle_elect_leaders(kafka_req_t *req)
{
    wire_reader_t *r = &req->r, start;
    wire_writer_t *w = &req->w;
    int16_t v = req->hdr.api_version;
    int8_t type = v >= 1 ? wire_read_i8(r) : 0;
    start = *r;
    /* Pass 1 only decodes (the response's top-level error comes before the topics). */
    int32_t n = wire_read_array(r, r->flexible ? 3 : 6, MAX_TOPICS);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        (void)wire_read_str(r);
        int32_t np = wire_read_array(r, 4, MAX_ITEMS);
        for (int32_t j = 0; j < np && wire_reader_ok(r); j++)
            (void)wire_read_i32(r);
        wire_read_tags(r);
    }
    (void)wire_read_i32(r); /* timeout_ms: elections are immediate */
    wire_read_tags(r);
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    *r = start;
    bool bad_type = type != 0 && type != 1;
    wire_write_i32(w, 0); /* throttle_time_ms */
    if (v >= 1)
        wire_write_i16(w, bad_type ? KAFKA_INVALID_REQUEST : KAFKA_NONE);
    n = wire_read_array(r, r->flexible ? 3 : 6, MAX_TOPICS);
    if (n < 0) {
        elect_all(req);
    } else {
        wire_write_array_len(w, n);
        for (int32_t i = 0; i < n; i++) {
            wire_str_t topic = wire_read_str(r);
            int32_t np = wire_read_array(r, 4, MAX_ITEMS);
            wire_write_view(w, topic);
            wire_write_array_len(w, np);
            for (int32_t j = 0; j < np; j++)
                elect_result(req, type, topic, wire_read_i32(r));
            wire_read_tags(r);
            wire_write_tags(w);
        }
    }
    wire_write_tags(w);
    return KAFKA_RESPOND;
}

/* ---- partition reassignments ---------------------------------------------------------------- */

static void reassign_one(kafka_req_t *req, wire_str_t topic)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int32_t idx = wire_read_i32(r);
    int32_t nrep = wire_read_array(r, 4, MAX_ITEMS); /* -1: cancel */
    /* One node takes one replica: a longer list is refused for its second entry at the
     * latest (a repeat or another broker), so the first few decide. */
    int32_t reps[8], kept = 0;
    for (int32_t k = 0; k < nrep && wire_reader_ok(r); k++) {
        int32_t id = wire_read_i32(r);
        if (kept < (int32_t)WEIR_ARRAY_LEN(reps))
            reps[kept++] = id;
    }
    wire_read_tags(r);
    if (!wire_reader_ok(r))
        return;
    broker_err_t err = {KAFKA_NONE, ""};
    broker_reassign_partition(req->b, topic.s, (size_t)topic.len, idx, reps, nrep < 0 ? -1 : kept,
                              &err);
    wire_write_i32(w, idx);
    wire_write_i16(w, err.code);
    wire_write_cstr(w, err.code && err.message[0] ? err.message : NULL);
    wire_write_tags(w);
}

int kafka_handle_alter_partition_reassignments(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    (void)wire_read_i32(r); /* timeout_ms */
    int32_t n = wire_read_array(r, 3, MAX_TOPICS);
    if (n < 0 || !wire_reader_ok(r))
        return -WEIR_EINVAL;
    wire_write_i32(w, 0);          /* throttle_time_ms */
    wire_write_i16(w, KAFKA_NONE); /* Kafka: "" when nothing was asked, null otherwise */
    wire_write_cstr(w, n == 0 ? "" : NULL);
    wire_write_array_len(w, n);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        wire_str_t topic = wire_read_str(r);
        int32_t np = wire_read_array(r, 6, MAX_ITEMS);
        wire_write_view(w, topic);
        wire_write_array_len(w, np < 0 ? 0 : np);
        for (int32_t j = 0; j < np && wire_reader_ok(r); j++)
            reassign_one(req, topic);
        wire_read_tags(r);
        wire_write_tags(w);
    }
    wire_read_tags(r);
    wire_write_tags(w);
    return wire_reader_ok(r) ? KAFKA_RESPOND : -WEIR_EINVAL;
}

int kafka_handle_list_partition_reassignments(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    (void)wire_read_i32(r); /* timeout_ms */
    int32_t n = wire_read_array(r, 3, MAX_TOPICS);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        (void)wire_read_str(r);
        int32_t np = wire_read_array(r, 4, MAX_ITEMS);
        for (int32_t j = 0; j < np && wire_reader_ok(r); j++)
            (void)wire_read_i32(r);
        wire_read_tags(r);
    }
    wire_read_tags(r);
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    /* A reassignment is done as soon as it is asked for: none is ever in progress. */
    wire_write_i32(&req->w, 0);
    wire_write_i16(&req->w, KAFKA_NONE);
    wire_write_cstr(&req->w, NULL);
    wire_write_array_len(&req->w, 0);
    wire_write_tags(&req->w);
    return KAFKA_RESPOND;
}

/* ---- OffsetForLeaderEpoch ------------------------------------------------------------------- */

int kafka_handle_offset_for_leader_epoch(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    if (req->hdr.api_version >= 3)
        (void)wire_read_i32(r); /* replica_id: -1 for a consumer; one node has no followers */
    int32_t n = wire_read_array(r, r->flexible ? 3 : 6, MAX_TOPICS);
    if (n < 0 || !wire_reader_ok(r))
        return -WEIR_EINVAL;
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, n);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        wire_str_t topic = wire_read_str(r);
        int32_t np = wire_read_array(r, r->flexible ? 13 : 12, MAX_ITEMS);
        wire_write_view(w, topic);
        wire_write_array_len(w, np < 0 ? 0 : np);
        /* Kafka's check (authz.c): DESCRIBE on the topic. */
        bool denied = !kafka_authz_str(req, KAFKA_RESOURCE_TOPIC, topic, KAFKA_ACL_OP_DESCRIBE);
        for (int32_t j = 0; j < np && wire_reader_ok(r); j++) {
            int32_t part = wire_read_i32(r);
            int32_t current = wire_read_i32(r);
            int32_t epoch = wire_read_i32(r);
            wire_read_tags(r);
            broker_epoch_end_t res = {
                .error = KAFKA_TOPIC_AUTHORIZATION_FAILED, .leader_epoch = -1, .end_offset = -1};
            if (!denied)
                broker_offset_for_leader_epoch(req->b, topic.s, (size_t)WEIR_MAX(topic.len, 0),
                                               part, current, epoch, &res);
            wire_write_i16(w, res.error);
            wire_write_i32(w, part);
            wire_write_i32(w, res.leader_epoch);
            wire_write_i64(w, res.end_offset);
            wire_write_tags(w);
        }
        wire_read_tags(r);
        wire_write_tags(w);
    }
    wire_read_tags(r);
    wire_write_tags(w);
    return wire_reader_ok(r) ? KAFKA_RESPOND : -WEIR_EINVAL;
}
