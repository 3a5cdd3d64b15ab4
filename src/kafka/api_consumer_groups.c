/*
 * The consumer-group APIs of KIP-848, each version Kafka 4 serves: ConsumerGroupHeartbeat 0-1
 * (flexible; v1 adds subscribed_topic_regex and requires the member to name itself) and
 * ConsumerGroupDescribe 0 (flexible). The broker assigns the partitions (src/broker/
 * coord_consumer.c); these handlers only decode, hand the request to the broker's group API
 * (broker_consumer_heartbeat / broker_consumer_describe, answered on the coordinator's thread)
 * and encode the answer. Topics travel by topic id.
 *
 * Invariant: decoding checks every length and count against the bytes present before anything
 * is allocated (wire_read_array), and a request that fails to decode changes nothing and
 * closes the connection. Ids (group, member, instance) are refused the same way when they hold
 * a NUL or do not fit a classic string (they are keys of __consumer_offsets records); topic
 * names and the regex are C strings too, so a NUL there closes the connection as well.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

enum {
    MAX_TOPICS = 100000,
    MAX_PARTITIONS = 1000000,
    MAX_GROUPS = 100000,
    /* READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: what Kafka without an authorizer
     * answers (3400) */
    GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)
};

/* An id: a C string that must not hold a NUL and must fit a classic string. */
static char *group_str(kafka_park_t *pk, wire_str_t s)
{
    if (s.len > INT16_MAX)
        pk->bad = true;
    return kafka_park_str(pk, s);
}

/* "/127.0.0.1", as Kafka reports a member's host. */
static char *client_host(kafka_park_t *pk, net_conn_t *conn)
{
    const char *peer = net_conn_peer(conn);
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    char *h = kafka_park_alloc(pk, n + 2);
    h[0] = '/';
    memcpy(h + 1, peer, n);
    return h;
}

/* [topic_id, [partition], tags] of the request (owned partitions). */
static const broker_cg_topic_parts_t *read_topic_parts(kafka_park_t *pk, wire_reader_t *r,
                                                       bool *present, size_t *n)
{
    int32_t nt = wire_read_array(r, 16 + 1 + 1, MAX_TOPICS);
    *present = nt >= 0;
    *n = nt > 0 ? (size_t)nt : 0;
    broker_cg_topic_parts_t *v = kafka_park_alloc(pk, (*n ? *n : 1) * sizeof(*v));
    for (size_t i = 0; i < *n && wire_reader_ok(r); i++) {
        wire_read_uuid(r, v[i].topic_id);
        int32_t np = wire_read_array(r, 4, MAX_PARTITIONS);
        v[i].count = np > 0 ? (size_t)np : 0;
        int32_t *p = kafka_park_alloc(pk, (v[i].count ? v[i].count : 1) * sizeof(*p));
        for (size_t k = 0; k < v[i].count && wire_reader_ok(r); k++)
            p[k] = wire_read_i32(r);
        v[i].partitions = p;
        wire_read_tags(r);
    }
    return v;
}

/* [topic_id, (describe: name,) [partition], tags] of an answer. */
static void write_topic_parts(wire_writer_t *w, const broker_cg_topic_parts_t *t, size_t n,
                              bool with_names)
{
    wire_write_array_len(w, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        wire_write_uuid(w, t[i].topic_id);
        if (with_names)
            wire_write_cstr(w, t[i].topic);
        wire_write_array_len(w, (int32_t)t[i].count);
        for (size_t k = 0; k < t[i].count; k++)
            wire_write_i32(w, t[i].partitions[k]);
        wire_write_tags(w);
    }
}

/* ---- ConsumerGroupHeartbeat --------------------------------------------------------------------
 */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_consumer_heartbeat_req_t hr;
} cgh_park_t;

static void heartbeat_answer(broker_group_op_t *op)
{
    cgh_park_t *h = WEIR_CONTAINER_OF(op, cgh_park_t, op);
    broker_consumer_heartbeat_req_t *hr = &h->hr;
    wire_writer_t *w = &h->pk.w;
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, hr->err.code);
    kafka_park_count_error(&h->pk, hr->err.code);
    wire_write_cstr(w, hr->err.message[0] ? hr->err.message : NULL);
    wire_write_cstr(w, hr->err.code ? NULL : hr->out_member_id);
    wire_write_i32(w, hr->err.code ? 0 : hr->out_member_epoch);
    wire_write_i32(w, hr->err.code ? 0 : hr->heartbeat_interval_ms);
    if (!hr->err.code && hr->has_assignment) {
        wire_write_i8(w, 1); /* a nullable struct: present */
        write_topic_parts(w, hr->assigned, hr->nassigned, false);
        wire_write_tags(w);
    } else {
        wire_write_i8(w, -1);
    }
    wire_write_tags(w);
    kafka_park_finish(&h->pk);
}

static const char *const *read_topic_names(kafka_park_t *pk, wire_reader_t *r, bool *present,
                                           size_t *n)
{
    int32_t nt = wire_read_array(r, 1, MAX_TOPICS);
    *present = nt >= 0;
    *n = nt > 0 ? (size_t)nt : 0;
    char **v = kafka_park_alloc(pk, (*n ? *n : 1) * sizeof(*v));
    for (size_t i = 0; i < *n && wire_reader_ok(r); i++)
        v[i] = kafka_park_str(pk, wire_read_str(r));
    return (const char *const *)v;
}

int kafka_handle_consumer_group_heartbeat(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    cgh_park_t *h = kafka_park_new(req, sizeof(*h));
    kafka_park_t *pk = &h->pk;
    broker_consumer_heartbeat_req_t *hr = &h->hr;
    h->op.on_done = heartbeat_answer;
    hr->api_version = req->hdr.api_version;
    hr->group_id = group_str(pk, wire_read_str(r));
    hr->member_id = group_str(pk, wire_read_str(r));
    hr->member_epoch = wire_read_i32(r);
    hr->instance_id = group_str(pk, wire_read_nstr(r));
    hr->rack_id = kafka_park_str(pk, wire_read_nstr(r));
    hr->rebalance_timeout_ms = wire_read_i32(r);
    hr->topics = read_topic_names(pk, r, &hr->has_topics, &hr->ntopics);
    if (req->hdr.api_version >= 1)
        hr->topic_regex = kafka_park_str(pk, wire_read_nstr(r));
    hr->server_assignor = kafka_park_str(pk, wire_read_nstr(r));
    hr->owned = read_topic_parts(pk, r, &hr->has_owned, &hr->nowned);
    wire_read_tags(r);
    hr->client_id = kafka_park_str(pk, req->hdr.client_id);
    if (!hr->client_id)
        hr->client_id = "";
    hr->client_host = client_host(pk, req->conn);
    /* Kafka's check (authz.c): READ on the group. */
    const char *gid = hr->group_id ? hr->group_id : "";
    bool allowed = kafka_authz(req, KAFKA_RESOURCE_GROUP, gid, strlen(gid), KAFKA_ACL_OP_READ);
    int rc = kafka_park_take(req, pk);
    if (rc == KAFKA_PARKED && allowed) {
        broker_consumer_heartbeat(req->b, hr, &h->op);
    } else if (rc == KAFKA_PARKED) {
        hr->err.code = KAFKA_GROUP_AUTHORIZATION_FAILED;
        hr->err.message[0] = '\0';
        heartbeat_answer(&h->op);
    }
    return rc;
}

/* ---- ConsumerGroupDescribe ---------------------------------------------------------------------
 */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_consumer_describe_req_t dr;
    bool with_ops;
    bool *denied; /* per group: the principal may not DESCRIBE it */
} cgd_park_t;

static void describe_member(wire_writer_t *w, const broker_cg_member_desc_t *m)
{
    wire_write_cstr(w, m->member_id);
    wire_write_cstr(w, m->instance_id);
    wire_write_cstr(w, m->rack_id);
    wire_write_i32(w, m->member_epoch);
    wire_write_cstr(w, m->client_id);
    wire_write_cstr(w, m->client_host);
    wire_write_array_len(w, (int32_t)m->nsubscribed);
    for (size_t i = 0; i < m->nsubscribed; i++)
        wire_write_cstr(w, m->subscribed[i]);
    wire_write_cstr(w, m->regex);
    write_topic_parts(w, m->assigned, m->nassigned, true);
    wire_write_tags(w); /* Assignment */
    write_topic_parts(w, m->target, m->ntarget, true);
    wire_write_tags(w); /* TargetAssignment */
    wire_write_tags(w);
}

static void describe_group(wire_writer_t *w, const char *id, const broker_cg_desc_t *g,
                           bool with_ops)
{
    wire_write_i16(w, g->error);
    wire_write_cstr(w, g->error_message);
    wire_write_cstr(w, id ? id : "");
    wire_write_cstr(w, g->state);
    wire_write_i32(w, g->group_epoch);
    wire_write_i32(w, g->assignment_epoch);
    wire_write_cstr(w, g->assignor);
    wire_write_array_len(w, (int32_t)g->nmembers);
    for (size_t k = 0; k < g->nmembers; k++)
        describe_member(w, &g->members[k]);
    wire_write_i32(w, with_ops && !g->error ? GROUP_OPERATIONS : INT32_MIN);
    wire_write_tags(w);
}

/* Kafka answers the empty ids (INVALID_GROUP_ID) first, then the groups in request order. */
static void describe_answer(broker_group_op_t *op)
{
    cgd_park_t *d = WEIR_CONTAINER_OF(op, cgd_park_t, op);
    wire_writer_t *w = &d->pk.w;
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, (int32_t)d->dr.count);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < d->dr.count; i++) {
            const char *id = d->dr.group_ids[i];
            if ((pass == 0) != (!id || !*id))
                continue;
            broker_cg_desc_t denied = {.error = KAFKA_GROUP_AUTHORIZATION_FAILED,
                                       .state = "",
                                       .group_epoch = -1,
                                       .assignment_epoch = -1,
                                       .assignor = ""};
            describe_group(w, id, d->denied[i] ? &denied : &d->dr.groups[i], d->with_ops);
        }
    }
    wire_write_tags(w);
    kafka_park_finish(&d->pk);
}

int kafka_handle_consumer_group_describe(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    cgd_park_t *d = kafka_park_new(req, sizeof(*d));
    d->op.on_done = describe_answer;
    int32_t n = wire_read_array(r, 1, MAX_GROUPS);
    d->dr.count = n > 0 ? (size_t)n : 0;
    char **ids = kafka_park_alloc(&d->pk, (d->dr.count ? d->dr.count : 1) * sizeof(*ids));
    for (size_t i = 0; i < d->dr.count && wire_reader_ok(r); i++)
        ids[i] = group_str(&d->pk, wire_read_str(r));
    d->dr.group_ids = (const char *const *)ids;
    d->with_ops = wire_read_bool(r);
    wire_read_tags(r);
    /* Kafka's check (authz.c): DESCRIBE on each group; a denied one is answered here (its
     * description replaced once the coordinator answers: describe_denied). */
    d->denied = kafka_park_alloc(&d->pk, (d->dr.count ? d->dr.count : 1) * sizeof(*d->denied));
    for (size_t i = 0; i < d->dr.count && wire_reader_ok(r); i++) {
        const char *g = ids[i] ? ids[i] : "";
        d->denied[i] = !kafka_authz(req, KAFKA_RESOURCE_GROUP, g, strlen(g), KAFKA_ACL_OP_DESCRIBE);
    }
    int rc = kafka_park_take(req, &d->pk);
    if (rc == KAFKA_PARKED)
        broker_consumer_describe(req->b, &d->dr, &d->op);
    return rc;
}
