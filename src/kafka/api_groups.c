/*
 * The classic group APIs, each version Kafka 4 serves: FindCoordinator 0-5 (v3+ flexible, v4+
 * batched coordinator_keys), JoinGroup 0-9 (v6+ flexible, v7 protocol type in the answer, v8
 * reason, v9 skip_assignment), SyncGroup 0-5 (v4+ flexible, v5 protocol type and name),
 * Heartbeat 0-4 (v4 flexible), LeaveGroup 0-5 (v3+ batched, v4+ flexible, v5 reason),
 * ListGroups 0-5 (v3+ flexible, v4 states filter and group_state (KIP-518), v5 types filter and
 * group_type (KIP-848)), DescribeGroups 0-5 (v5 flexible), DeleteGroups 0-2 (v2 flexible).
 *
 * FindCoordinator answers at once on the request's loop: this node coordinates every group
 * and every transactional id (key type 1; __transaction_state exists from the start, so the
 * first lookup needs no retry). Every other request
 * is decoded into a parked request (kafka.h) that owns copies of what it needs, handed to the
 * broker's group API, and answered from the coordinator's thread when the broker calls back;
 * JoinGroup and SyncGroup stay parked until the rebalance lets them go.
 *
 * Invariant: decoding checks every length and count against the bytes present before anything
 * is allocated (wire_read_array), and a request that fails to decode changes nothing and
 * closes the connection. Ids (group, member, instance, protocol names) are refused the same way
 * when they hold a NUL (they become C strings: two wire ids must never map to one) or are
 * longer than a classic string (they are stored in __consumer_offsets records, which use the
 * classic encoding). Reasons are read and dropped; metadata and assignments are bytes.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdio.h>
#include <stdlib.h>

enum {
    MAX_PROTOCOLS = 1000,
    MAX_MEMBERS = 100000,
    MAX_GROUPS = 100000,
    MAX_KEYS = 10000,
    /* READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: what Kafka without an authorizer
     * answers (3400) */
    GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)
};

/* An id: a C string that must not hold a NUL and must fit a classic string (see above). */
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

/* Kafka's check of JoinGroup, SyncGroup, Heartbeat and LeaveGroup (authz.c): READ on the
 * group, else GROUP_AUTHORIZATION_FAILED without asking the coordinator. */
static bool group_read_ok(const kafka_req_t *req, const char *group_id)
{
    const char *g = group_id ? group_id : "";
    return kafka_authz(req, KAFKA_RESOURCE_GROUP, g, strlen(g), KAFKA_ACL_OP_READ);
}

/* FindCoordinator's check: DESCRIBE on the group (key type 0) or the transactional id (1). */
static int16_t coordinator_authz(const kafka_req_t *req, int8_t key_type, wire_str_t key)
{
    if (key_type == 0 && !kafka_authz_str(req, KAFKA_RESOURCE_GROUP, key, KAFKA_ACL_OP_DESCRIBE))
        return KAFKA_GROUP_AUTHORIZATION_FAILED;
    if (key_type == 1 &&
        !kafka_authz_str(req, KAFKA_RESOURCE_TRANSACTIONAL_ID, key, KAFKA_ACL_OP_DESCRIBE))
        return KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    return KAFKA_NONE;
}

/* ---- FindCoordinator ----------------------------------------------------------------------------
 */

/* The answer for one key: this node, or the error Kafka gives for it, with Kafka's message:
 * v1-3 say "NONE" on success and Errors' default text on INVALID_REQUEST; v4+ say "" for both
 * (v4 per key). Like Kafka 4, an empty group id gets this node too. */
static int16_t coordinator_for(int16_t v, int8_t key_type, const char **msg)
{
    *msg = v >= 4 ? "" : "NONE";
    if (key_type != 0 && key_type != 1) {
        if (v < 4)
            *msg = "This most likely occurs because of a request being malformed by the client "
                   "library or the message was sent to an incompatible broker. See the broker "
                   "logs for more details.";
        return KAFKA_INVALID_REQUEST;
    }
    return KAFKA_NONE;
}

static void coordinator_write(kafka_req_t *req, int16_t err)
{
    wire_writer_t *w = &req->w;
    wire_write_i32(w, err ? -1 : broker_node_id(req->b));
    wire_write_cstr(w, err ? "" : req->lst->adv_host);
    wire_write_i32(w, err ? -1 : req->lst->adv_port);
}

/* v4+: a batch of keys, one answer each. */
static int find_coordinators(kafka_req_t *req, int8_t key_type)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int32_t n = wire_read_array(r, 1, MAX_KEYS);
    wire_reader_t keys = *r; /* read the keys twice: once to check, once to answer */
    for (int32_t i = 0; i < n; i++)
        (void)wire_read_str(r);
    wire_read_tags(r);
    if (!wire_reader_ok(r) || n < 0)
        return -WEIR_EINVAL;
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, n);
    for (int32_t i = 0; i < n; i++) {
        wire_str_t key = wire_read_str(&keys);
        const char *msg;
        int16_t err = coordinator_for(req->hdr.api_version, key_type, &msg);
        if (err == KAFKA_NONE && (err = coordinator_authz(req, key_type, key)) != KAFKA_NONE)
            msg = NULL;
        wire_write_view(w, key);
        coordinator_write(req, err);
        wire_write_i16(w, err);
        wire_write_cstr(w, msg);
        wire_write_tags(w);
    }
    wire_write_tags(w);
    return KAFKA_RESPOND;
}

int kafka_handle_find_coordinator(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int16_t v = req->hdr.api_version;
    wire_str_t key = {"", 0};
    if (v < 4)
        key = wire_read_str(r); /* every key is coordinated here */
    int8_t key_type = v >= 1 ? wire_read_i8(r) : 0;
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    if (v >= 4)
        return find_coordinators(req, key_type);
    wire_read_tags(r);
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    const char *msg;
    int16_t err = coordinator_for(v, key_type, &msg);
    if (err == KAFKA_NONE && (err = coordinator_authz(req, key_type, key)) != KAFKA_NONE)
        msg = NULL;
    if (v >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, err);
    if (v >= 1)
        wire_write_cstr(w, msg);
    coordinator_write(req, err);
    wire_write_tags(w);
    return KAFKA_RESPOND;
}

/* ---- JoinGroup
 * ----------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_group_join_req_t jr;
} join_park_t;

static void join_answer(broker_group_op_t *op, const broker_group_join_result_t *r)
{
    join_park_t *j = WEIR_CONTAINER_OF(op, join_park_t, op);
    wire_writer_t *w = &j->pk.w;
    int16_t v = j->pk.version;
    if (v >= 2)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, r->error);
    kafka_park_count_error(&j->pk, r->error);
    wire_write_i32(w, r->generation_id);
    if (v >= 7) { /* nullable from v7: null with errors, as Kafka answers */
        wire_write_cstr(w, r->protocol_type);
        wire_write_cstr(w, r->protocol_name);
    } else {
        wire_write_cstr(w, r->protocol_name ? r->protocol_name : "");
    }
    wire_write_cstr(w, r->leader_id ? r->leader_id : "");
    if (v >= 9)
        wire_write_bool(w, r->skip_assignment);
    wire_write_cstr(w, r->member_id ? r->member_id : "");
    wire_write_array_len(w, (int32_t)r->member_count);
    for (size_t i = 0; i < r->member_count; i++) {
        const broker_group_join_member_t *m = &r->members[i];
        wire_write_cstr(w, m->member_id);
        if (v >= 5)
            wire_write_cstr(w, m->instance_id);
        wire_write_nbytes(w, m->metadata ? m->metadata : (const uint8_t *)"",
                          (int32_t)m->metadata_len);
        wire_write_tags(w);
    }
    wire_write_tags(w);
    kafka_park_finish(&j->pk);
}

static void join_read_protocols(kafka_park_t *pk, wire_reader_t *r, broker_group_join_req_t *jr)
{
    int32_t n = wire_read_array(r, 3, MAX_PROTOCOLS);
    if (n <= 0)
        return;
    broker_group_protocol_t *p = kafka_park_alloc(pk, (size_t)n * sizeof(*p));
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        p[i].name = group_str(pk, wire_read_str(r));
        wire_bytes_t meta = wire_read_bytes(r);
        p[i].metadata = kafka_park_bytes(pk, meta);
        p[i].metadata_len = meta.len > 0 ? (size_t)meta.len : 0;
        wire_read_tags(r);
    }
    jr->protocols = p;
    jr->protocol_count = (size_t)n;
}

int kafka_handle_join_group(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    join_park_t *j = kafka_park_new(req, sizeof(*j));
    kafka_park_t *pk = &j->pk;
    j->op.on_join = join_answer;
    broker_group_join_req_t *jr = &j->jr;
    jr->group_id = group_str(pk, wire_read_str(r));
    jr->session_timeout_ms = wire_read_i32(r);
    jr->rebalance_timeout_ms = v >= 1 ? wire_read_i32(r) : jr->session_timeout_ms;
    jr->member_id = group_str(pk, wire_read_str(r));
    jr->instance_id = v >= 5 ? group_str(pk, wire_read_nstr(r)) : NULL;
    jr->protocol_type = group_str(pk, wire_read_str(r));
    join_read_protocols(pk, r, jr);
    if (v >= 8)
        (void)wire_read_nstr(r); /* reason: logged by Kafka, not kept */
    wire_read_tags(r);
    jr->client_id = group_str(pk, req->hdr.client_id);
    if (!jr->client_id)
        jr->client_id = "";
    jr->client_host = client_host(pk, req->conn);
    jr->require_known_member_id = v >= 4;
    jr->supports_skip_assignment = v >= 9;
#ifdef WEIR_FUZZ
    jr->rebalance_timeout_ms = WEIR_MIN(jr->rebalance_timeout_ms, 50); /* answers come quickly */
#endif
    if (jr->instance_id && !*jr->instance_id)
        jr->instance_id = NULL; /* an empty group.instance.id means dynamic membership */
    bool allowed = group_read_ok(req, jr->group_id);
    int rc = kafka_park_take(req, pk);
    if (rc == KAFKA_PARKED && allowed) {
        broker_group_join(req->b, jr, &j->op);
    } else if (rc == KAFKA_PARKED) {
        broker_group_join_result_t res = {.error = KAFKA_GROUP_AUTHORIZATION_FAILED,
                                          .generation_id = -1,
                                          .leader_id = "",
                                          .member_id = ""};
        join_answer(&j->op, &res);
    }
    return rc;
}

/* ---- SyncGroup
 * ----------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_group_sync_req_t sr;
} sync_park_t;

static void sync_answer(broker_group_op_t *op, const broker_group_sync_result_t *res)
{
    sync_park_t *s = WEIR_CONTAINER_OF(op, sync_park_t, op);
    wire_writer_t *w = &s->pk.w;
    int16_t v = s->pk.version;
    if (v >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, res->error);
    kafka_park_count_error(&s->pk, res->error);
    if (v >= 5) {
        wire_write_cstr(w, res->protocol_type);
        wire_write_cstr(w, res->protocol_name);
    }
    const uint8_t *a = res->assignment;
    wire_write_nbytes(w, a ? a : (const uint8_t *)"", a ? (int32_t)res->assignment_len : 0);
    wire_write_tags(w);
    kafka_park_finish(&s->pk);
}

int kafka_handle_sync_group(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    sync_park_t *s = kafka_park_new(req, sizeof(*s));
    kafka_park_t *pk = &s->pk;
    s->op.on_sync = sync_answer;
    broker_group_sync_req_t *sr = &s->sr;
    sr->group_id = group_str(pk, wire_read_str(r));
    sr->generation_id = wire_read_i32(r);
    sr->member_id = group_str(pk, wire_read_str(r));
    sr->instance_id = v >= 3 ? group_str(pk, wire_read_nstr(r)) : NULL;
    if (v >= 5) {
        sr->protocol_type = group_str(pk, wire_read_nstr(r));
        sr->protocol_name = group_str(pk, wire_read_nstr(r));
    }
    int32_t n = wire_read_array(r, 3, MAX_MEMBERS);
    if (n > 0) {
        broker_group_assignment_t *a = kafka_park_alloc(pk, (size_t)n * sizeof(*a));
        for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
            a[i].member_id = group_str(pk, wire_read_str(r));
            wire_bytes_t b = wire_read_bytes(r);
            a[i].assignment = kafka_park_bytes(pk, b);
            a[i].assignment_len = b.len > 0 ? (size_t)b.len : 0;
            wire_read_tags(r);
        }
        sr->assignments = a;
        sr->assignment_count = (size_t)n;
    }
    wire_read_tags(r);
    if (sr->instance_id && !*sr->instance_id)
        sr->instance_id = NULL;
    bool allowed = group_read_ok(req, sr->group_id);
    int rc = kafka_park_take(req, pk);
    if (rc == KAFKA_PARKED && allowed) {
        broker_group_sync(req->b, sr, &s->op);
    } else if (rc == KAFKA_PARKED) {
        broker_group_sync_result_t res = {.error = KAFKA_GROUP_AUTHORIZATION_FAILED};
        sync_answer(&s->op, &res);
    }
    return rc;
}

/* ---- Heartbeat
 * ----------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_group_heartbeat_req_t hr;
} hb_park_t;

static void heartbeat_answer(broker_group_op_t *op)
{
    hb_park_t *h = WEIR_CONTAINER_OF(op, hb_park_t, op);
    if (h->pk.version >= 1)
        wire_write_i32(&h->pk.w, 0); /* throttle_time_ms */
    wire_write_i16(&h->pk.w, h->hr.error);
    kafka_park_count_error(&h->pk, h->hr.error);
    wire_write_tags(&h->pk.w);
    kafka_park_finish(&h->pk);
}

int kafka_handle_heartbeat(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    hb_park_t *h = kafka_park_new(req, sizeof(*h));
    h->op.on_done = heartbeat_answer;
    h->hr.group_id = group_str(&h->pk, wire_read_str(r));
    h->hr.generation_id = wire_read_i32(r);
    h->hr.member_id = group_str(&h->pk, wire_read_str(r));
    h->hr.instance_id = req->hdr.api_version >= 3 ? group_str(&h->pk, wire_read_nstr(r)) : NULL;
    wire_read_tags(r);
    if (h->hr.instance_id && !*h->hr.instance_id)
        h->hr.instance_id = NULL;
    bool allowed = group_read_ok(req, h->hr.group_id);
    int rc = kafka_park_take(req, &h->pk);
    if (rc == KAFKA_PARKED && allowed) {
        broker_group_heartbeat(req->b, &h->hr, &h->op);
    } else if (rc == KAFKA_PARKED) {
        h->hr.error = KAFKA_GROUP_AUTHORIZATION_FAILED;
        heartbeat_answer(&h->op);
    }
    return rc;
}

/* ---- LeaveGroup
 * ---------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_group_leave_req_t lr;
} leave_park_t;

static void leave_answer(broker_group_op_t *op)
{
    leave_park_t *l = WEIR_CONTAINER_OF(op, leave_park_t, op);
    wire_writer_t *w = &l->pk.w;
    int16_t err = l->lr.error;
    kafka_park_count_error(&l->pk, err);
    if (l->pk.version >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    if (l->pk.version < 3) {  /* one member: its error is the answer */
        wire_write_i16(w, err ? err : l->lr.members[0].error);
    } else {
        wire_write_i16(w, err);
        wire_write_array_len(w, err ? 0 : (int32_t)l->lr.member_count);
        for (size_t i = 0; !err && i < l->lr.member_count; i++) {
            wire_write_cstr(w, l->lr.members[i].member_id);
            wire_write_cstr(w, l->lr.members[i].instance_id);
            wire_write_i16(w, l->lr.members[i].error);
            wire_write_tags(w);
        }
    }
    wire_write_tags(w);
    kafka_park_finish(&l->pk);
}

int kafka_handle_leave_group(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    leave_park_t *l = kafka_park_new(req, sizeof(*l));
    kafka_park_t *pk = &l->pk;
    broker_group_leave_req_t *lr = &l->lr;
    l->op.on_done = leave_answer;
    lr->group_id = group_str(pk, wire_read_str(r));
    if (v < 3) {
        lr->member_count = 1;
        lr->members = kafka_park_alloc(pk, sizeof(*lr->members));
        lr->members[0].member_id = group_str(pk, wire_read_str(r));
    } else {
        int32_t n = wire_read_array(r, 3, MAX_MEMBERS);
        lr->member_count = n > 0 ? (size_t)n : 0;
        lr->members =
            kafka_park_alloc(pk, (lr->member_count ? lr->member_count : 1) * sizeof(*lr->members));
        for (size_t i = 0; i < lr->member_count && wire_reader_ok(r); i++) {
            lr->members[i].member_id = group_str(pk, wire_read_str(r));
            lr->members[i].instance_id = group_str(pk, wire_read_nstr(r));
            if (v >= 5)
                (void)wire_read_nstr(r); /* reason */
            wire_read_tags(r);
        }
    }
    wire_read_tags(r);
    bool allowed = group_read_ok(req, lr->group_id);
    int rc = kafka_park_take(req, pk);
    if (rc == KAFKA_PARKED && allowed) {
        broker_group_leave(req->b, lr, &l->op);
    } else if (rc == KAFKA_PARKED) {
        lr->error = KAFKA_GROUP_AUTHORIZATION_FAILED;
        leave_answer(&l->op);
    }
    return rc;
}

/* ---- ListGroups
 * ---------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_group_list_req_t lr;
    /* with an authorizer and no DESCRIBE on the cluster: list only the groups this principal
     * from this host may DESCRIBE (Kafka's check, authz.c) */
    bool filter;
    char *principal;
    char host[128];
} list_park_t;

static bool list_shows(const list_park_t *l, const char *group_id)
{
    return !l->filter || broker_acl_authorize(l->pk.b, l->principal, l->host, KAFKA_RESOURCE_GROUP,
                                              group_id, strlen(group_id), KAFKA_ACL_OP_DESCRIBE);
}

static void list_answer(broker_group_op_t *op)
{
    list_park_t *l = WEIR_CONTAINER_OF(op, list_park_t, op);
    wire_writer_t *w = &l->pk.w;
    int16_t v = l->pk.version;
    if (v >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, l->lr.error);
    int32_t shown = 0;
    for (size_t i = 0; i < l->lr.count; i++)
        shown += list_shows(l, l->lr.groups[i].group_id);
    wire_write_array_len(w, shown);
    for (size_t i = 0; i < l->lr.count; i++) {
        const broker_group_listing_t *g = &l->lr.groups[i];
        if (!list_shows(l, g->group_id))
            continue;
        wire_write_cstr(w, g->group_id);
        wire_write_cstr(w, g->protocol_type);
        if (v >= 4)
            wire_write_cstr(w, g->state);
        if (v >= 5)
            wire_write_cstr(w, g->type);
        wire_write_tags(w);
    }
    wire_write_tags(w);
    kafka_park_finish(&l->pk);
}

/* A filter: an array of strings (none: every group). */
static const char *const *list_read_filter(kafka_park_t *pk, wire_reader_t *r, size_t *n)
{
    int32_t cnt = wire_read_array(r, 1, MAX_KEYS);
    *n = cnt > 0 ? (size_t)cnt : 0;
    char **f = kafka_park_alloc(pk, (*n ? *n : 1) * sizeof(*f));
    for (size_t i = 0; i < *n && wire_reader_ok(r); i++)
        f[i] = group_str(pk, wire_read_str(r));
    return (const char *const *)f;
}

int kafka_handle_list_groups(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    list_park_t *l = kafka_park_new(req, sizeof(*l));
    l->op.on_done = list_answer;
    if (v >= 4)
        l->lr.states = list_read_filter(&l->pk, r, &l->lr.nstates);
    if (v >= 5)
        l->lr.types = list_read_filter(&l->pk, r, &l->lr.ntypes);
    wire_read_tags(r);
    l->filter = broker_acl_enabled(req->b) && !kafka_authz_cluster(req, KAFKA_ACL_OP_DESCRIBE);
    if (l->filter) {
        l->principal =
            kafka_park_str(&l->pk, (wire_str_t){kafka_conn_principal(req->conn),
                                                (int32_t)strlen(kafka_conn_principal(req->conn))});
        kafka_conn_host(req->conn, l->host, sizeof(l->host));
    }
    int rc = kafka_park_take(req, &l->pk);
    if (rc == KAFKA_PARKED)
        broker_group_list(req->b, &l->lr, &l->op);
    return rc;
}

/* ---- DescribeGroups
 * ------------------------------------------------------------------------------ */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_group_describe_req_t dr;
    bool with_ops;
    const char **denied; /* groups the principal may not DESCRIBE: answered without asking */
    size_t ndenied;
} describe_park_t;

static void describe_one(wire_writer_t *w, int16_t v, const char *id,
                         const broker_group_summary_t *s, bool with_ops)
{
    wire_write_i16(w, s->error);
    wire_write_cstr(w, id);
    wire_write_cstr(w, broker_group_state_name(s->state));
    wire_write_cstr(w, s->protocol_type);
    wire_write_cstr(w, s->protocol_name);
    wire_write_array_len(w, (int32_t)s->member_count);
    for (size_t i = 0; i < s->member_count; i++) {
        const broker_group_member_summary_t *m = &s->members[i];
        wire_write_cstr(w, m->member_id);
        if (v >= 4)
            wire_write_cstr(w, m->instance_id);
        wire_write_cstr(w, m->client_id);
        wire_write_cstr(w, m->client_host);
        wire_write_nbytes(w, m->metadata ? m->metadata : (const uint8_t *)"",
                          (int32_t)m->metadata_len);
        wire_write_nbytes(w, m->assignment ? m->assignment : (const uint8_t *)"",
                          (int32_t)m->assignment_len);
        wire_write_tags(w);
    }
    if (v >= 3)
        wire_write_i32(w, with_ops ? GROUP_OPERATIONS : INT32_MIN);
    wire_write_tags(w);
}

static void describe_answer(broker_group_op_t *op)
{
    describe_park_t *d = WEIR_CONTAINER_OF(op, describe_park_t, op);
    wire_writer_t *w = &d->pk.w;
    if (d->pk.version >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, (int32_t)(d->dr.count + d->ndenied));
    for (size_t i = 0; i < d->dr.count; i++)
        describe_one(w, d->pk.version, d->dr.group_ids[i], &d->dr.summaries[i], d->with_ops);
    for (size_t i = 0; i < d->ndenied; i++) {
        broker_group_summary_t s = {
            .error = KAFKA_GROUP_AUTHORIZATION_FAILED, .protocol_type = "", .protocol_name = ""};
        describe_one(w, d->pk.version, d->denied[i], &s, false);
    }
    wire_write_tags(w);
    kafka_park_finish(&d->pk);
}

int kafka_handle_describe_groups(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    describe_park_t *d = kafka_park_new(req, sizeof(*d));
    d->op.on_done = describe_answer;
    int32_t n = wire_read_array(r, 1, MAX_GROUPS);
    d->dr.count = n > 0 ? (size_t)n : 0;
    char **ids = kafka_park_alloc(&d->pk, (d->dr.count ? d->dr.count : 1) * sizeof(*ids));
    for (size_t i = 0; i < d->dr.count && wire_reader_ok(r); i++)
        ids[i] = group_str(&d->pk, wire_read_str(r));
    /* Kafka's check (authz.c): DESCRIBE on each group; the others are answered here. */
    d->denied = kafka_park_alloc(&d->pk, (d->dr.count ? d->dr.count : 1) * sizeof(*d->denied));
    size_t kept = 0;
    for (size_t i = 0; i < d->dr.count && wire_reader_ok(r); i++) {
        const char *g = ids[i] ? ids[i] : "";
        if (kafka_authz(req, KAFKA_RESOURCE_GROUP, g, strlen(g), KAFKA_ACL_OP_DESCRIBE))
            ids[kept++] = ids[i];
        else
            d->denied[d->ndenied++] = g;
    }
    if (wire_reader_ok(r))
        d->dr.count = kept;
    d->dr.group_ids = (const char *const *)ids;
    d->with_ops = req->hdr.api_version >= 3 ? wire_read_bool(r) : false;
    wire_read_tags(r);
    int rc = kafka_park_take(req, &d->pk);
    if (rc == KAFKA_PARKED)
        broker_group_describe(req->b, &d->dr, &d->op);
    return rc;
}

/* ---- DeleteGroups
 * -------------------------------------------------------------------------------- */

typedef struct {
    kafka_park_t pk;
    broker_group_op_t op;
    broker_group_delete_req_t dr;
    const char **denied; /* groups the principal may not DELETE: answered without deleting */
    size_t ndenied;
} delete_park_t;

static void delete_answer(broker_group_op_t *op)
{
    delete_park_t *d = WEIR_CONTAINER_OF(op, delete_park_t, op);
    wire_writer_t *w = &d->pk.w;
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, (int32_t)(d->dr.count + d->ndenied));
    for (size_t i = 0; i < d->dr.count; i++) {
        wire_write_cstr(w, d->dr.items[i].group_id);
        wire_write_i16(w, d->dr.items[i].error);
        wire_write_tags(w);
    }
    for (size_t i = 0; i < d->ndenied; i++) {
        wire_write_cstr(w, d->denied[i]);
        wire_write_i16(w, KAFKA_GROUP_AUTHORIZATION_FAILED);
        wire_write_tags(w);
    }
    wire_write_tags(w);
    kafka_park_finish(&d->pk);
}

int kafka_handle_delete_groups(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    delete_park_t *d = kafka_park_new(req, sizeof(*d));
    d->op.on_done = delete_answer;
    int32_t n = wire_read_array(r, 1, MAX_GROUPS);
    d->dr.count = n > 0 ? (size_t)n : 0;
    d->dr.items = kafka_park_alloc(&d->pk, (d->dr.count ? d->dr.count : 1) * sizeof(*d->dr.items));
    for (size_t i = 0; i < d->dr.count && wire_reader_ok(r); i++)
        d->dr.items[i].group_id = group_str(&d->pk, wire_read_str(r));
    wire_read_tags(r);
    /* Kafka's check (authz.c): DELETE on each group; the others are answered here. */
    d->denied = kafka_park_alloc(&d->pk, (d->dr.count ? d->dr.count : 1) * sizeof(*d->denied));
    size_t kept = 0;
    for (size_t i = 0; i < d->dr.count && wire_reader_ok(r); i++) {
        const char *g = d->dr.items[i].group_id ? d->dr.items[i].group_id : "";
        if (kafka_authz(req, KAFKA_RESOURCE_GROUP, g, strlen(g), KAFKA_ACL_OP_DELETE))
            d->dr.items[kept++] = d->dr.items[i];
        else
            d->denied[d->ndenied++] = g;
    }
    if (wire_reader_ok(r))
        d->dr.count = kept;
    int rc = kafka_park_take(req, &d->pk);
    if (rc == KAFKA_PARKED)
        broker_group_delete(req->b, &d->dr, &d->op);
    return rc;
}
