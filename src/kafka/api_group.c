/*
 * The group APIs: FindCoordinator 0-2, JoinGroup 0-5, SyncGroup 0-3, Heartbeat 0-3,
 * LeaveGroup 0-3, ListGroups 0-2, DescribeGroups 0-4, DeleteGroups 0-1; and the parked-request
 * helper the offset APIs share (group_req.h).
 *
 * FindCoordinator answers at once on the request's loop: this node is the coordinator of every
 * group and transactional id. Every other request is decoded here into owned memory, run on the
 * coordinator thread (group.c's state machine) and answered from there; JoinGroup and SyncGroup
 * stay parked until the rebalance lets them go.
 *
 * Invariant: decoding checks every length and count against the bytes present before anything
 * is allocated (wire_read_array), and a request that fails to decode changes nothing and
 * closes the connection. Strings holding a NUL are refused the same way: ids become C strings,
 * so two wire ids must never map to one.
 */
#include "kafka/group_req.h"

#include <stdio.h>
#include <stdlib.h>

enum {
    MAX_PROTOCOLS = 1000,
    MAX_MEMBERS = 100000,
    MAX_GROUPS = 100000,
    GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8) /* READ, DELETE, DESCRIBE */
};

/* ---- the parked group request -----------------------------------------------------------------
 */

void *kafka_greq_new(kafka_req_t *req, size_t size, kafka_greq_run_fn run)
{
    WEIR_ASSERT(size >= sizeof(kafka_greq_t));
    kafka_greq_t *g = weir_calloc(1, size);
    g->b = req->b;
    g->version = req->hdr.api_version;
    g->run = run;
    return g;
}

static void *greq_own(kafka_greq_t *g, void *p)
{
    if (g->nowned == g->capowned) {
        g->capowned = g->capowned ? g->capowned * 2 : 16;
        g->owned = weir_realloc(g->owned, g->capowned * sizeof(*g->owned));
    }
    g->owned[g->nowned++] = p;
    return p;
}

void *kafka_greq_alloc(kafka_greq_t *g, size_t n)
{
    return greq_own(g, weir_calloc(1, n ? n : 1));
}

char *kafka_greq_str(kafka_greq_t *g, wire_str_t s)
{
    if (s.len < 0)
        return NULL;
    if (memchr(s.s, 0, (size_t)s.len))
        g->bad = true;
    return greq_own(g, wire_str_dup(s));
}

uint8_t *kafka_greq_bytes(kafka_greq_t *g, wire_bytes_t b)
{
    size_t n = b.len > 0 ? (size_t)b.len : 0;
    uint8_t *p = greq_own(g, weir_malloc(n ? n : 1));
    if (n)
        memcpy(p, b.p, n);
    return p;
}

static void greq_free(kafka_greq_t *g)
{
    for (size_t i = 0; i < g->nowned; i++)
        free(g->owned[i]);
    free(g->owned);
    buf_deinit(&g->resp);
    free(g);
}

static void greq_run(void *arg)
{
    kafka_greq_t *g = arg;
    g->run(g, broker_groups_coord(g->b));
}

int kafka_greq_park(kafka_req_t *req, kafka_greq_t *g)
{
    if (!wire_reader_ok(&req->r) || g->bad) {
        greq_free(g);
        return -WEIR_EINVAL;
    }
    kafka_req_take_resp(req, &g->resp);
    wire_writer_init(&g->w, &g->resp, req->flexible);
    g->slot = req->slot;
    broker_groups_run(req->b, greq_run, g);
    return KAFKA_PARKED;
}

void kafka_greq_finish(kafka_greq_t *g)
{
    net_conn_t *conn = net_slot_conn(g->slot);
    bool async = !net_loop_is_current(net_conn_loop(conn));
    kafka_parked_complete(g->slot, &g->resp, async);
    greq_free(g);
}

/* "/127.0.0.1", as Kafka reports a member's host. */
static char *client_host(kafka_greq_t *g, net_conn_t *conn)
{
    const char *peer = net_conn_peer(conn);
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    char *h = kafka_greq_alloc(g, n + 2);
    h[0] = '/';
    memcpy(h + 1, peer, n);
    return h;
}

/* ---- FindCoordinator ----------------------------------------------------------------------------
 */

int kafka_handle_find_coordinator(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    int16_t v = req->hdr.api_version;
    wire_str_t key = wire_read_str(r);
    int8_t key_type = v >= 1 ? wire_read_i8(r) : 0;
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    int16_t err = KAFKA_NONE;
    const char *msg = NULL;
    if (key_type != 0 && key_type != 1) {
        err = KAFKA_INVALID_REQUEST;
        msg = "unknown key type";
    } else if (key_type == 0 && key.len <= 0) {
        err = KAFKA_INVALID_GROUP_ID;
        msg = "the group id is empty";
    }
    if (v >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, err);
    if (v >= 1)
        wire_write_cstr(w, msg);
    wire_write_i32(w, err ? -1 : broker_node_id(req->b));
    wire_write_cstr(w, err ? "" : req->lst->adv_host);
    wire_write_i32(w, err ? -1 : req->lst->adv_port);
    return KAFKA_RESPOND;
}

/* ---- JoinGroup
 * ----------------------------------------------------------------------------------- */

typedef struct {
    kafka_greq_t g;
    broker_group_join_req_t jr;
} join_greq_t;

static void join_answer(broker_group_op_t *gw, const broker_group_join_result_t *r)
{
    join_greq_t *j = (join_greq_t *)gw;
    wire_writer_t *w = &j->g.w;
    int16_t v = j->g.version;
    if (v >= 2)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, r->error);
    wire_write_i32(w, r->generation_id);
    wire_write_cstr(w, r->protocol_name ? r->protocol_name : "");
    wire_write_cstr(w, r->leader_id ? r->leader_id : "");
    wire_write_cstr(w, r->member_id ? r->member_id : "");
    wire_write_array_len(w, (int32_t)r->member_count);
    for (size_t i = 0; i < r->member_count; i++) {
        const broker_group_join_member_t *m = &r->members[i];
        wire_write_cstr(w, m->member_id);
        if (v >= 5)
            wire_write_cstr(w, m->instance_id);
        wire_write_nbytes(w, m->metadata ? m->metadata : (const uint8_t *)"",
                          (int32_t)m->metadata_len);
    }
    kafka_greq_finish(&j->g);
}

static void join_run(kafka_greq_t *g, broker_coord_t *c)
{
    join_greq_t *j = (join_greq_t *)g;
    if (!c) {
        broker_group_join_result_t r = {.error = KAFKA_COORDINATOR_NOT_AVAILABLE,
                                        .generation_id = -1};
        join_answer(&g->gw, &r);
        return;
    }
    broker_coord_join(c, &j->jr, &g->gw);
}

int kafka_handle_join_group(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    join_greq_t *j = kafka_greq_new(req, sizeof(*j), join_run);
    kafka_greq_t *g = &j->g;
    g->gw.on_join = join_answer;
    broker_group_join_req_t *jr = &j->jr;
    jr->group_id = kafka_greq_str(g, wire_read_str(r));
    jr->session_timeout_ms = wire_read_i32(r);
    jr->rebalance_timeout_ms = v >= 1 ? wire_read_i32(r) : jr->session_timeout_ms;
    jr->member_id = kafka_greq_str(g, wire_read_str(r));
    jr->instance_id = v >= 5 ? kafka_greq_str(g, wire_read_nstr(r)) : NULL;
    jr->protocol_type = kafka_greq_str(g, wire_read_str(r));
    int32_t n = wire_read_array(r, 2 + 4, MAX_PROTOCOLS);
    if (n > 0) {
        broker_group_protocol_t *p = kafka_greq_alloc(g, (size_t)n * sizeof(*p));
        for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
            p[i].name = kafka_greq_str(g, wire_read_str(r));
            wire_bytes_t meta = wire_read_bytes(r);
            p[i].metadata = kafka_greq_bytes(g, meta);
            p[i].metadata_len = meta.len > 0 ? (size_t)meta.len : 0;
        }
        jr->protocols = p;
        jr->protocol_count = (size_t)n;
    }
    jr->client_id = kafka_greq_str(g, req->hdr.client_id);
    if (!jr->client_id)
        jr->client_id = "";
    jr->client_host = client_host(g, req->conn);
    jr->require_known_member_id = v >= 4;
#ifdef WEIR_FUZZ
    jr->rebalance_timeout_ms = WEIR_MIN(jr->rebalance_timeout_ms, 50); /* answers come quickly */
#endif
    if (jr->instance_id && !*jr->instance_id)
        jr->instance_id = NULL; /* an empty group.instance.id means dynamic membership */
    return kafka_greq_park(req, g);
}

/* ---- SyncGroup
 * ----------------------------------------------------------------------------------- */

typedef struct {
    kafka_greq_t g;
    broker_group_sync_req_t sr;
} sync_greq_t;

static void sync_answer(broker_group_op_t *gw, int16_t error, const uint8_t *a, size_t len)
{
    sync_greq_t *s = (sync_greq_t *)gw;
    wire_writer_t *w = &s->g.w;
    if (s->g.version >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, error);
    wire_write_nbytes(w, a ? a : (const uint8_t *)"", a ? (int32_t)len : 0);
    kafka_greq_finish(&s->g);
}

static void sync_run(kafka_greq_t *g, broker_coord_t *c)
{
    sync_greq_t *s = (sync_greq_t *)g;
    if (!c) {
        sync_answer(&g->gw, KAFKA_COORDINATOR_NOT_AVAILABLE, NULL, 0);
        return;
    }
    broker_coord_sync(c, &s->sr, &g->gw);
}

int kafka_handle_sync_group(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    int16_t v = req->hdr.api_version;
    sync_greq_t *s = kafka_greq_new(req, sizeof(*s), sync_run);
    kafka_greq_t *g = &s->g;
    g->gw.on_sync = sync_answer;
    broker_group_sync_req_t *sr = &s->sr;
    sr->group_id = kafka_greq_str(g, wire_read_str(r));
    sr->generation_id = wire_read_i32(r);
    sr->member_id = kafka_greq_str(g, wire_read_str(r));
    sr->instance_id = v >= 3 ? kafka_greq_str(g, wire_read_nstr(r)) : NULL;
    int32_t n = wire_read_array(r, 2 + 4, MAX_MEMBERS);
    if (n > 0) {
        broker_group_assignment_t *a = kafka_greq_alloc(g, (size_t)n * sizeof(*a));
        for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
            a[i].member_id = kafka_greq_str(g, wire_read_str(r));
            wire_bytes_t b = wire_read_bytes(r);
            a[i].assignment = kafka_greq_bytes(g, b);
            a[i].assignment_len = b.len > 0 ? (size_t)b.len : 0;
        }
        sr->assignments = a;
        sr->assignment_count = (size_t)n;
    }
    if (sr->instance_id && !*sr->instance_id)
        sr->instance_id = NULL;
    return kafka_greq_park(req, g);
}

/* ---- Heartbeat
 * ----------------------------------------------------------------------------------- */

typedef struct {
    kafka_greq_t g;
    char *group_id, *member_id, *instance_id;
    int32_t generation;
} hb_greq_t;

static void heartbeat_run(kafka_greq_t *g, broker_coord_t *c)
{
    hb_greq_t *h = (hb_greq_t *)g;
    int16_t err =
        c ? broker_coord_heartbeat(c, h->group_id, h->generation, h->member_id, h->instance_id)
          : KAFKA_COORDINATOR_NOT_AVAILABLE;
    if (g->version >= 1)
        wire_write_i32(&g->w, 0); /* throttle_time_ms */
    wire_write_i16(&g->w, err);
    kafka_greq_finish(g);
}

int kafka_handle_heartbeat(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    hb_greq_t *h = kafka_greq_new(req, sizeof(*h), heartbeat_run);
    h->group_id = kafka_greq_str(&h->g, wire_read_str(r));
    h->generation = wire_read_i32(r);
    h->member_id = kafka_greq_str(&h->g, wire_read_str(r));
    h->instance_id = req->hdr.api_version >= 3 ? kafka_greq_str(&h->g, wire_read_nstr(r)) : NULL;
    if (h->instance_id && !*h->instance_id)
        h->instance_id = NULL;
    return kafka_greq_park(req, &h->g);
}

/* ---- LeaveGroup
 * ---------------------------------------------------------------------------------- */

typedef struct {
    kafka_greq_t g;
    char *group_id;
    size_t n;
    broker_group_leave_member_t *members;
} leave_greq_t;

static void leave_run(kafka_greq_t *g, broker_coord_t *c)
{
    leave_greq_t *l = (leave_greq_t *)g;
    wire_writer_t *w = &g->w;
    int16_t err =
        c ? broker_coord_leave(c, l->group_id, l->members, l->n) : KAFKA_COORDINATOR_NOT_AVAILABLE;
    if (g->version >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    if (g->version < 3) {     /* one member: its error is the answer */
        wire_write_i16(w, err ? err : l->members[0].error);
    } else {
        wire_write_i16(w, err);
        wire_write_array_len(w, err ? 0 : (int32_t)l->n);
        for (size_t i = 0; !err && i < l->n; i++) {
            wire_write_cstr(w, l->members[i].member_id);
            wire_write_cstr(w, l->members[i].instance_id);
            wire_write_i16(w, l->members[i].error);
        }
    }
    kafka_greq_finish(g);
}

int kafka_handle_leave_group(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    leave_greq_t *l = kafka_greq_new(req, sizeof(*l), leave_run);
    kafka_greq_t *g = &l->g;
    l->group_id = kafka_greq_str(g, wire_read_str(r));
    if (req->hdr.api_version < 3) {
        l->n = 1;
        l->members = kafka_greq_alloc(g, sizeof(*l->members));
        l->members[0].member_id = kafka_greq_str(g, wire_read_str(r));
        return kafka_greq_park(req, g);
    }
    int32_t n = wire_read_array(r, 2 + 2, MAX_MEMBERS);
    l->n = n > 0 ? (size_t)n : 0;
    l->members = kafka_greq_alloc(g, (l->n ? l->n : 1) * sizeof(*l->members));
    for (size_t i = 0; i < l->n && wire_reader_ok(r); i++) {
        l->members[i].member_id = kafka_greq_str(g, wire_read_str(r));
        l->members[i].instance_id = kafka_greq_str(g, wire_read_nstr(r));
    }
    return kafka_greq_park(req, g);
}

/* ---- ListGroups
 * ---------------------------------------------------------------------------------- */

typedef struct {
    wire_writer_t *w;
    int32_t n;
} list_ctx_t;

static void list_one(void *arg, const char *id, const char *type, broker_group_state_t st)
{
    list_ctx_t *lc = arg;
    if (lc->w) {
        wire_write_cstr(lc->w, id);
        wire_write_cstr(lc->w, type);
    }
    lc->n++;
}

static void list_run(kafka_greq_t *g, broker_coord_t *c)
{
    wire_writer_t *w = &g->w;
    if (g->version >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, c ? KAFKA_NONE : KAFKA_COORDINATOR_NOT_AVAILABLE);
    list_ctx_t lc = {NULL, 0};
    if (c)
        broker_coord_list(c, list_one, &lc); /* count first: the array length comes first */
    wire_write_array_len(w, lc.n);
    lc.w = w;
    if (c)
        broker_coord_list(c, list_one, &lc);
    kafka_greq_finish(g);
}

int kafka_handle_list_groups(kafka_req_t *req)
{
    kafka_greq_t *g = kafka_greq_new(req, sizeof(*g), list_run);
    return kafka_greq_park(req, g);
}

/* ---- DescribeGroups
 * ------------------------------------------------------------------------------ */

typedef struct {
    kafka_greq_t g;
    size_t n;
    char **ids;
    bool with_ops;
} describe_greq_t;

static void describe_one(kafka_greq_t *g, broker_coord_t *c, const char *id, bool with_ops)
{
    wire_writer_t *w = &g->w;
    broker_group_summary_t s;
    if (c) {
        broker_coord_describe(c, id, &s);
    } else {
        memset(&s, 0, sizeof(s));
        s.error = KAFKA_COORDINATOR_NOT_AVAILABLE;
        s.state = BROKER_GROUP_DEAD;
        s.protocol_type = s.protocol_name = "";
    }
    wire_write_i16(w, s.error);
    wire_write_cstr(w, id);
    wire_write_cstr(w, broker_group_state_name(s.state));
    wire_write_cstr(w, s.protocol_type);
    wire_write_cstr(w, s.protocol_name);
    wire_write_array_len(w, (int32_t)s.member_count);
    for (size_t i = 0; i < s.member_count; i++) {
        const broker_group_member_summary_t *m = &s.members[i];
        wire_write_cstr(w, m->member_id);
        if (g->version >= 4)
            wire_write_cstr(w, m->instance_id);
        wire_write_cstr(w, m->client_id);
        wire_write_cstr(w, m->client_host);
        wire_write_nbytes(w, m->metadata ? m->metadata : (const uint8_t *)"",
                          (int32_t)m->metadata_len);
        wire_write_nbytes(w, m->assignment ? m->assignment : (const uint8_t *)"",
                          (int32_t)m->assignment_len);
    }
    if (g->version >= 3)
        wire_write_i32(w, with_ops ? GROUP_OPERATIONS : INT32_MIN);
    broker_group_summary_deinit(&s);
}

static void describe_run(kafka_greq_t *g, broker_coord_t *c)
{
    describe_greq_t *d = (describe_greq_t *)g;
    if (g->version >= 1)
        wire_write_i32(&g->w, 0); /* throttle_time_ms */
    wire_write_array_len(&g->w, (int32_t)d->n);
    for (size_t i = 0; i < d->n; i++)
        describe_one(g, c, d->ids[i], d->with_ops);
    kafka_greq_finish(g);
}

int kafka_handle_describe_groups(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    describe_greq_t *d = kafka_greq_new(req, sizeof(*d), describe_run);
    int32_t n = wire_read_array(r, 2, MAX_GROUPS);
    d->n = n > 0 ? (size_t)n : 0;
    d->ids = kafka_greq_alloc(&d->g, (d->n ? d->n : 1) * sizeof(*d->ids));
    for (size_t i = 0; i < d->n && wire_reader_ok(r); i++)
        d->ids[i] = kafka_greq_str(&d->g, wire_read_str(r));
    d->with_ops = req->hdr.api_version >= 3 ? wire_read_bool(r) : false;
    return kafka_greq_park(req, &d->g);
}

/* ---- DeleteGroups
 * -------------------------------------------------------------------------------- */

typedef struct {
    kafka_greq_t g;
    broker_group_delete_req_t dr;
} delete_greq_t;

static void delete_answer(broker_group_op_t *gw)
{
    delete_greq_t *d = (delete_greq_t *)gw;
    wire_writer_t *w = &d->g.w;
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, (int32_t)d->dr.count);
    for (size_t i = 0; i < d->dr.count; i++) {
        wire_write_cstr(w, d->dr.items[i].group_id);
        wire_write_i16(w, d->dr.items[i].error);
    }
    kafka_greq_finish(&d->g);
}

static void delete_run(kafka_greq_t *g, broker_coord_t *c)
{
    delete_greq_t *d = (delete_greq_t *)g;
    if (!c) {
        for (size_t i = 0; i < d->dr.count; i++)
            d->dr.items[i].error = KAFKA_COORDINATOR_NOT_AVAILABLE;
        delete_answer(&g->gw);
        return;
    }
    broker_coord_delete(c, &d->dr, &g->gw);
}

int kafka_handle_delete_groups(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    delete_greq_t *d = kafka_greq_new(req, sizeof(*d), delete_run);
    d->g.gw.on_done = delete_answer;
    int32_t n = wire_read_array(r, 2, MAX_GROUPS);
    d->dr.count = n > 0 ? (size_t)n : 0;
    d->dr.items = kafka_greq_alloc(&d->g, (d->dr.count ? d->dr.count : 1) * sizeof(*d->dr.items));
    for (size_t i = 0; i < d->dr.count && wire_reader_ok(r); i++)
        d->dr.items[i].group_id = kafka_greq_str(&d->g, wire_read_str(r));
    return kafka_greq_park(req, &d->g);
}
