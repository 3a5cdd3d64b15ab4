/*
 * coord.c: the group coordinator, Kafka's classic rebalance protocol (see coord.h): groups,
 * membership and the rebalance, and the records it writes to __consumer_offsets. The committed
 * offsets themselves are in coord_commit.c.
 *
 * Each group moves Empty -> PreparingRebalance -> CompletingRebalance -> Stable and back, as
 * Kafka's GroupCoordinator does:
 *  - A new member, a leave, a session expiry or a change of subscription starts a rebalance
 *    (PreparingRebalance). JoinGroup requests are parked until every known member has rejoined
 *    or the largest rebalance timeout of the members passes; then members that did not rejoin
 *    are dropped (static members keep their place), the generation goes up, a protocol every
 *    member supports is chosen by vote, and every parked JoinGroup is answered, the leader's
 *    with all members' metadata (CompletingRebalance).
 *  - SyncGroup requests are parked until the leader's arrives with the assignments; those are
 *    written to __consumer_offsets and, once durable, every member gets its own (Stable).
 *  - The first rebalance of an Empty group waits group.initial.rebalance.delay.ms, extended
 *    while new members keep arriving, up to the rebalance timeout.
 *  - Static members (group.instance.id) that come back with a new member id replace their old
 *    id without a rebalance when the group is Stable and the protocol would not change.
 *
 * Invariants: a member's join_waiter / sync_waiter is non-NULL exactly while a request of it
 * is parked, and every waiter is completed exactly once; g->awaiting_join counts members with
 * a join_waiter; in CompletingRebalance and Stable the leader is a member and protocol_name
 * is set; a group in the coordinator's map is never Dead. Committed offsets enter the
 * in-memory table only after their records are durable, so OffsetFetch never returns a
 * commit a crash could lose.
 *
 * Threads: one (the coordinator thread, see coord.h). Timers are net_timer_t armed through
 * the env, one per member (session), per pending member, and two per group (join, sync): a
 * group costs memory, never a thread.
 */
#include "broker/coord_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

/* ---- small helpers -----------------------------------------------------------------------------
 */

const char *broker_group_state_name(broker_group_state_t s)
{
    switch (s) {
    case BROKER_GROUP_EMPTY:
        return "Empty";
    case BROKER_GROUP_PREPARING_REBALANCE:
        return "PreparingRebalance";
    case BROKER_GROUP_COMPLETING_REBALANCE:
        return "CompletingRebalance";
    case BROKER_GROUP_STABLE:
        return "Stable";
    case BROKER_GROUP_DEAD:
        return "Dead";
    }
    return "Unknown";
}

void broker_coord_config_default(broker_coord_config_t *cfg)
{
    cfg->min_session_timeout_ms = 6000;
    cfg->max_session_timeout_ms = 1800000;
    cfg->initial_rebalance_delay_ms = 3000;
    cfg->max_size = 1000;
    cfg->offsets_retention_ms = 7LL * 24 * 3600 * 1000;
    cfg->offsets_retention_check_interval_ms = 600000;
    cfg->offset_metadata_max_bytes = 4096;
    cfg->consumer_session_timeout_ms = 45000;
    cfg->consumer_heartbeat_interval_ms = 5000;
    cfg->consumer_assignors[0] = BROKER_ASSIGNOR_UNIFORM;
    cfg->consumer_assignors[1] = BROKER_ASSIGNOR_RANGE;
    cfg->consumer_assignor_count = 2;
    cfg->consumer_max_size = INT32_MAX;
}

bool broker_coord_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static char *dup_or_null(const char *s)
{
    return s ? weir_strdup(s) : NULL;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = weir_malloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

void broker_coord_replace_str(char **dst, const char *src)
{
    char *d = dup_or_null(src);
    free(*dst);
    *dst = d;
}

/* "<prefix>-<uuid v4>", as Kafka forms member ids. */
static char *member_id_new(const char *prefix)
{
    uint8_t u[16];
    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
        uint64_t a = (uint64_t)clock_mono_ns(), b = (uint64_t)clock_wall_ms() ^ (uint64_t)&u;
        memcpy(u, &a, 8);
        memcpy(u + 8, &b, 8);
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "%s-", prefix && *prefix ? prefix : "consumer");
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf_append_u8(&b, '-');
        buf_printf(&b, "%02x", u[i]);
    }
    buf_append_u8(&b, 0);
    return (char *)b.data;
}

size_t broker_coord_offset_key(uint8_t *out, size_t cap, const char *topic, int32_t partition)
{
    size_t n = strlen(topic);
    if (n + 5 > cap)
        return 0;
    memcpy(out, topic, n);
    out[n] = 0;
    be32_write(out + n + 1, (uint32_t)partition);
    return n + 5;
}

/* Maps a write failure to the ErrorCode Kafka gives for a failed append to its offsets topic. */
int16_t broker_coord_write_err_code(int err)
{
    switch (-err) {
    case WEIR_ECLOSED:
        return KAFKA_COORDINATOR_NOT_AVAILABLE;
    case WEIR_ETOOBIG:
        return KAFKA_INVALID_COMMIT_OFFSET_SIZE;
    default:
        return KAFKA_UNKNOWN_SERVER_ERROR;
    }
}

/* ---- env shorthands
 * ------------------------------------------------------------------------------ */

void broker_coord_timer_start(broker_coord_t *c, net_timer_t *t, int64_t delay_ms)
{
    c->env.timer_start(c->env.ctx, t, delay_ms < 0 ? 0 : delay_ms);
}

static void timer_stop(broker_coord_t *c, net_timer_t *t)
{
    c->env.timer_stop(c->env.ctx, t);
}

static void join_error(broker_coord_t *c, void *waiter, int16_t error, const char *member_id)
{
    broker_group_join_result_t r = {.error = error,
                                    .generation_id = -1,
                                    .leader_id = "",
                                    .member_id = member_id ? member_id : ""};
    c->env.join_done(c->env.ctx, waiter, &r);
}

/* A SyncGroup answered with an error (no assignment, no protocol). */
static void sync_reply(broker_coord_t *c, void *waiter, int16_t error)
{
    broker_group_sync_result_t r = {.error = error};
    c->env.sync_done(c->env.ctx, waiter, &r);
}

/* A member's assignment, with the group's protocol (SyncGroup v5+ answers it). */
static void sync_reply_ok(const group_t *g, void *waiter, const group_member_t *m)
{
    broker_group_sync_result_t r = {.protocol_type = g->protocol_type ? g->protocol_type : "",
                                    .protocol_name = g->protocol_name ? g->protocol_name : "",
                                    .assignment = m->assignment,
                                    .assignment_len = m->assignment_len};
    g->c->env.sync_done(g->c->env.ctx, waiter, &r);
}

/* ---- records
 * ------------------------------------------------------------------------------------- */

void broker_coord_recset_init(recset_t *rs)
{
    memset(rs, 0, sizeof(*rs));
}

void broker_coord_recset_deinit(recset_t *rs)
{
    buf_deinit(&rs->bytes);
    free(rs->r);
}

void broker_coord_recset_begin(recset_t *rs)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 8;
        rs->r = weir_realloc(rs->r, rs->cap * sizeof(*rs->r));
    }
    rs->r[rs->n].koff = rs->bytes.len;
}

void broker_coord_recset_value(recset_t *rs)
{
    rs->r[rs->n].klen = rs->bytes.len - rs->r[rs->n].koff;
    rs->r[rs->n].voff = rs->bytes.len;
}

void broker_coord_recset_end(recset_t *rs, bool tombstone)
{
    rs->r[rs->n].vlen = tombstone ? -1 : (int32_t)(rs->bytes.len - rs->r[rs->n].voff);
    rs->n++;
}

void broker_coord_recset_add_offset(recset_t *rs, const char *group, const char *topic,
                                    int32_t part, const broker_committed_t *o)
{
    broker_coord_recset_begin(rs);
    broker_coord_key_offset_encode(&rs->bytes, group, topic, part);
    broker_coord_recset_value(rs);
    if (o)
        broker_coord_value_offset_encode(&rs->bytes, o);
    broker_coord_recset_end(rs, o == NULL);
}

static void group_meta_fill(group_t *g, broker_group_meta_t *m, broker_group_meta_member_t *mm);

void broker_coord_recset_add_group(recset_t *rs, group_t *g, bool tombstone)
{
    broker_coord_recset_begin(rs);
    broker_coord_key_group_encode(&rs->bytes, g->id);
    broker_coord_recset_value(rs);
    if (!tombstone) {
        broker_group_meta_t m;
        broker_group_meta_member_t *mm = weir_calloc(g->member_count + 1, sizeof(*mm));
        group_meta_fill(g, &m, mm);
        broker_coord_value_group_encode(&rs->bytes, &m);
        free(mm);
    }
    broker_coord_recset_end(rs, tombstone);
}

static void group_ref(group_t *g)
{
    g->refs++;
}

static void group_unref(group_t *g);

static void write_done(void *arg, int err);

group_write_t *broker_coord_write_new(broker_coord_t *c, group_t *g, write_kind_t kind,
                                      void *waiter)
{
    group_write_t *w = weir_calloc(1, sizeof(*w));
    w->c = c;
    w->grp = g;
    w->kind = kind;
    w->waiter = waiter;
    w->generation = g->generation;
    group_ref(g);
    return w;
}

/* Hands the records to the env writer; w is finished in write_done, maybe before this
 * returns, so the caller must not touch w or depend on group state after this call. */
void broker_coord_recset_write(broker_coord_t *c, recset_t *rs, group_write_t *w)
{
    broker_coord_record_t *recs = weir_calloc(rs->n ? rs->n : 1, sizeof(*recs));
    for (size_t i = 0; i < rs->n; i++) {
        recs[i].key = rs->bytes.data + rs->r[i].koff;
        recs[i].key_len = rs->r[i].klen;
        recs[i].value = rs->r[i].vlen < 0 ? NULL : rs->bytes.data + rs->r[i].voff;
        recs[i].value_len = rs->r[i].vlen;
    }
    c->writes_pending++;
    if (w->kind == W_TXN_COMMIT)
        c->env.write_txn(c->env.ctx, w->grp->id, recs, rs->n, w->commit->producer_id,
                         w->commit->producer_epoch, write_done, w);
    else
        c->env.write(c->env.ctx, w->grp->id, recs, rs->n, write_done, w);
    free(recs);
    broker_coord_recset_deinit(rs);
}

/* Writes the group's metadata record (fire and forget unless w says otherwise). */
static void group_store(group_t *g, group_write_t *w)
{
    recset_t rs;
    broker_coord_recset_init(&rs);
    broker_coord_recset_add_group(&rs, g, false);
    broker_coord_recset_write(g->c, &rs, w ? w : broker_coord_write_new(g->c, g, W_PLAIN, NULL));
}

/* ---- members
 * ------------------------------------------------------------------------------------- */

static void protos_free(group_member_t *m)
{
    for (size_t i = 0; i < m->proto_count; i++) {
        free(m->protos[i].name);
        free(m->protos[i].meta);
    }
    free(m->protos);
    m->protos = NULL;
    m->proto_count = 0;
}

static void protos_set(group_member_t *m, const broker_group_protocol_t *p, size_t n)
{
    protos_free(m);
    m->protos = weir_calloc(n ? n : 1, sizeof(*m->protos));
    for (size_t i = 0; i < n; i++) {
        m->protos[i].name = weir_strdup(p[i].name);
        m->protos[i].meta = dup_bytes(p[i].metadata, p[i].metadata_len);
        m->protos[i].meta_len = p[i].metadata_len;
    }
    m->proto_count = n;
}

static bool protos_match(const group_member_t *m, const broker_group_protocol_t *p, size_t n)
{
    if (m->proto_count != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m->protos[i].name, p[i].name) != 0 ||
            m->protos[i].meta_len != p[i].metadata_len ||
            (p[i].metadata_len && memcmp(m->protos[i].meta, p[i].metadata, p[i].metadata_len) != 0))
            return false;
    }
    return true;
}

static const group_proto_t *member_proto(const group_member_t *m, const char *name)
{
    for (size_t i = 0; name && i < m->proto_count; i++)
        if (strcmp(m->protos[i].name, name) == 0)
            return &m->protos[i];
    return NULL;
}

static void member_session_expired(void *arg);

/* Restarts the member's session timer: a heartbeat, join or sync counts as a sign of life. */
void broker_coord_member_touch(group_member_t *m)
{
    broker_coord_t *c = m->grp->c;
    timer_stop(c, &m->session_timer);
    broker_coord_timer_start(c, &m->session_timer, m->session_timeout_ms);
}

/* Sets or clears the member's parked JoinGroup. A second JoinGroup while one is parked
 * replaces it; the first is answered REBALANCE_IN_PROGRESS so every request gets one answer. */
static void member_set_join_waiter(group_member_t *m, void *waiter)
{
    group_t *g = m->grp;
    void *old = m->join_waiter;
    m->join_waiter = waiter;
    if (old && !waiter)
        g->awaiting_join--;
    else if (!old && waiter)
        g->awaiting_join++;
    if (old && waiter)
        join_error(g->c, old, KAFKA_REBALANCE_IN_PROGRESS, m->id);
}

static group_member_t *member_add(group_t *g, const char *id, const broker_group_join_req_t *req)
{
    broker_coord_t *c = g->c;
    group_member_t *m = weir_calloc(1, sizeof(*m));
    m->grp = g;
    m->id = weir_strdup(id);
    m->instance_id = dup_or_null(req->instance_id);
    m->client_id = weir_strdup(req->client_id ? req->client_id : "");
    m->client_host = weir_strdup(req->client_host ? req->client_host : "");
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms;
    m->synced_generation = -1;
    m->assignment = dup_bytes(NULL, 0);
    protos_set(m, req->protocols, req->protocol_count);
    c->env.timer_init(c->env.ctx, &m->session_timer, member_session_expired, m);
    m->prev = g->tail;
    if (g->tail)
        g->tail->next = m;
    else
        g->head = m;
    g->tail = m;
    g->member_count++;
    broker_kvmap_sput(&g->members, m->id, m);
    if (m->instance_id)
        broker_kvmap_sput(&g->statics, m->instance_id, m);
    if (!g->leader_id)
        g->leader_id = weir_strdup(m->id);
    if (g->member_count == 1) /* the first member sets the type (an Empty group takes any) */
        broker_coord_replace_str(&g->protocol_type, req->protocol_type);
    return m;
}

/* Unlinks and frees a member, answering its parked requests with `error`. */
static void member_remove(group_t *g, group_member_t *m, int16_t error)
{
    broker_coord_t *c = g->c;
    if (m->join_waiter) {
        void *w = m->join_waiter;
        member_set_join_waiter(m, NULL);
        join_error(c, w, error, m->id);
    }
    if (m->sync_waiter) {
        void *w = m->sync_waiter;
        m->sync_waiter = NULL;
        sync_reply(c, w, error);
    }
    timer_stop(c, &m->session_timer);
    broker_kvmap_sdel(&g->members, m->id);
    if (m->instance_id && broker_kvmap_sget(&g->statics, m->instance_id) == m)
        broker_kvmap_sdel(&g->statics, m->instance_id);
    if (m->prev)
        m->prev->next = m->next;
    else
        g->head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    else
        g->tail = m->prev;
    g->member_count--;
    if (broker_coord_str_eq(g->leader_id, m->id))
        broker_coord_replace_str(&g->leader_id, g->head ? g->head->id : NULL);
    protos_free(m);
    free(m->assignment);
    free(m->id);
    free(m->instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m);
}

group_member_t *broker_coord_member_find(group_t *g, const char *id)
{
    return id && *id ? broker_kvmap_sget(&g->members, id) : NULL;
}

/* KIP-345 fencing: the instance id is known and belongs to another member id. */
bool broker_coord_member_fenced(group_t *g, const char *member_id, const char *instance_id)
{
    if (!instance_id)
        return false;
    group_member_t *m = broker_kvmap_sget(&g->statics, instance_id);
    return m && !broker_coord_str_eq(m->id, member_id);
}

/* ---- groups
 * -------------------------------------------------------------------------------------- */

static void group_join_timer_fired(void *arg);
static void group_sync_timer_fired(void *arg);

group_t *broker_coord_group_get(broker_coord_t *c, const char *id)
{
    return id ? broker_kvmap_sget(&c->groups, id) : NULL;
}

group_t *broker_coord_group_create(broker_coord_t *c, const char *id)
{
    group_t *g = weir_calloc(1, sizeof(*g));
    g->c = c;
    g->id = weir_strdup(id);
    g->state = BROKER_GROUP_EMPTY;
    g->state_ts_ms = clock_wall_ms();
    broker_kvmap_init(&g->members);
    broker_kvmap_init(&g->statics);
    broker_kvmap_init(&g->pending);
    broker_kvmap_init(&g->offsets);
    broker_kvmap_init(&g->txns);
    c->env.timer_init(c->env.ctx, &g->join_timer, group_join_timer_fired, g);
    c->env.timer_init(c->env.ctx, &g->sync_timer, group_sync_timer_fired, g);
    g->refs = 1;
    broker_kvmap_sput(&c->groups, g->id, g);
    return g;
}

static void group_set_state(group_t *g, broker_group_state_t s)
{
    if (g->state != s)
        log_debug("group", "group %s: %s -> %s (generation %d)", g->id,
                  broker_group_state_name(g->state), broker_group_state_name(s), g->generation);
    g->state = s;
    g->state_ts_ms = clock_wall_ms();
}

static void offsets_clear(group_t *g)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &g->offsets);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        group_offset_entry_t *o = e->value;
        free(o->topic);
        free(o->metadata);
        free(o);
    }
    broker_kvmap_deinit(&g->offsets);
}

static void pending_free(broker_coord_t *c, group_pending_t *p)
{
    timer_stop(c, &p->timer);
    free(p->id);
    free(p);
}

static void group_unref(group_t *g)
{
    if (--g->refs > 0)
        return;
    WEIR_ASSERT(g->state == BROKER_GROUP_DEAD && g->member_count == 0);
    broker_kvmap_deinit(&g->members);
    broker_kvmap_deinit(&g->statics);
    broker_kvmap_deinit(&g->pending);
    offsets_clear(g);
    broker_coord_txn_group_free(g);
    free(g->id);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader_id);
    free(g);
}

/* Takes a group out of the coordinator (Dead): parked requests are answered with `error`,
 * timers stopped; the memory goes when the last write holding it is done. */
void broker_coord_group_remove(group_t *g, int16_t error)
{
    broker_coord_t *c = g->c;
    while (g->head)
        member_remove(g, g->head, error);
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &g->pending);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        pending_free(c, e->value);
    broker_kvmap_deinit(&g->pending);
    timer_stop(c, &g->join_timer);
    timer_stop(c, &g->sync_timer);
    broker_coord_cgroup_free(g);
    group_set_state(g, BROKER_GROUP_DEAD);
    broker_kvmap_sdel(&c->groups, g->id);
    group_unref(g);
}

void broker_coord_group_clear_classic(group_t *g, int16_t error)
{
    while (g->head)
        member_remove(g, g->head, error);
    timer_stop(g->c, &g->join_timer);
    timer_stop(g->c, &g->sync_timer);
    g->awaiting_join = 0;
    g->leader_synced = false;
    broker_coord_replace_str(&g->protocol_name, NULL);
    broker_coord_replace_str(&g->leader_id, NULL);
    g->generation = 0;
    g->state = BROKER_GROUP_EMPTY;
}

static void group_prepare_rebalance(group_t *g, const char *reason);

void broker_coord_group_become_classic(group_t *g, const classic_member_spec_t *v, size_t n,
                                       int32_t generation, const char *protocol, recset_t *rs)
{
    broker_coord_replace_str(&g->protocol_type, "consumer");
    broker_coord_replace_str(&g->leader_id, NULL); /* the first member leads */
    for (size_t i = 0; i < n; i++) {
        broker_group_join_req_t req = {.session_timeout_ms = v[i].session_timeout_ms,
                                       .rebalance_timeout_ms = v[i].rebalance_timeout_ms,
                                       .instance_id = v[i].instance_id,
                                       .protocol_type = "consumer",
                                       .protocol_count = v[i].protocol_count,
                                       .protocols = v[i].protocols,
                                       .client_id = v[i].client_id,
                                       .client_host = v[i].client_host};
        group_member_t *m = member_add(g, v[i].id, &req);
        free(m->assignment);
        m->assignment = dup_bytes(v[i].assignment, v[i].assignment_len);
        m->assignment_len = v[i].assignment_len;
        m->synced_generation = generation;
        broker_coord_member_touch(m);
    }
    g->generation = generation;
    broker_coord_replace_str(&g->protocol_name, protocol);
    group_set_state(g, BROKER_GROUP_STABLE);
    broker_coord_recset_add_group(rs, g, false);
    group_prepare_rebalance(g, "the group became classic again");
}

/* An Empty group that holds nothing (no members, no offsets, never had a generation) is not
 * worth keeping: a failed first JoinGroup or a lone OffsetFetch must not leave garbage. */
void broker_coord_group_maybe_drop(group_t *g)
{
    if (g->state == BROKER_GROUP_EMPTY && g->member_count == 0 && g->pending.count == 0 &&
        g->offsets.count == 0 && g->txns.count == 0 && g->generation == 0 && g->refs == 1 &&
        (!g->cg || g->cg->epoch == 0))
        broker_coord_group_remove(g, KAFKA_COORDINATOR_NOT_AVAILABLE);
}

static int32_t group_rebalance_timeout(const group_t *g)
{
    int32_t t = 0;
    for (const group_member_t *m = g->head; m; m = m->next)
        t = WEIR_MAX(t, m->rebalance_timeout_ms);
    return t;
}

static bool all_members_support(const group_t *g, const char *name)
{
    for (const group_member_t *m = g->head; m; m = m->next)
        if (!member_proto(m, name))
            return false;
    return true;
}

/* Kafka's rule: an Empty group takes any non-empty protocol type and list; otherwise the type
 * must match and one of the offered protocols must be supported by every current member. */
static bool group_supports(const group_t *g, const char *type, const broker_group_protocol_t *p,
                           size_t n)
{
    if (!type || !*type || n == 0)
        return false;
    if (g->member_count == 0)
        return true;
    if (!broker_coord_str_eq(g->protocol_type, type))
        return false;
    for (size_t i = 0; i < n; i++)
        if (all_members_support(g, p[i].name))
            return true;
    return false;
}

/* Each member votes for its most preferred protocol among those all members support; the
 * most votes wins, ties going to the earlier one in the first member's order. */
static const char *group_select_protocol(const group_t *g)
{
    const char *best = NULL;
    size_t best_votes = 0;
    if (!g->head)
        return NULL;
    for (size_t i = 0; i < g->head->proto_count; i++) {
        const char *cand = g->head->protos[i].name;
        if (!all_members_support(g, cand))
            continue;
        size_t votes = 0;
        for (const group_member_t *m = g->head; m; m = m->next) {
            for (size_t j = 0; j < m->proto_count; j++) {
                if (all_members_support(g, m->protos[j].name)) {
                    votes += strcmp(m->protos[j].name, cand) == 0;
                    break;
                }
            }
        }
        if (!best || votes > best_votes) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

static void group_meta_fill(group_t *g, broker_group_meta_t *m, broker_group_meta_member_t *mm)
{
    size_t i = 0;
    for (group_member_t *x = g->head; x; x = x->next, i++) {
        const group_proto_t *p = member_proto(x, g->protocol_name);
        mm[i] = (broker_group_meta_member_t){.member_id = x->id,
                                             .instance_id = x->instance_id,
                                             .client_id = x->client_id,
                                             .client_host = x->client_host,
                                             .rebalance_timeout_ms = x->rebalance_timeout_ms,
                                             .session_timeout_ms = x->session_timeout_ms,
                                             .subscription = p ? p->meta : NULL,
                                             .subscription_len = p ? p->meta_len : 0,
                                             .assignment = x->assignment,
                                             .assignment_len = x->assignment_len};
    }
    *m = (broker_group_meta_t){.protocol_type = g->protocol_type ? g->protocol_type : "",
                               .generation = g->generation,
                               .protocol_name = g->protocol_name,
                               .leader_id = g->leader_id,
                               .state_ts_ms = g->state_ts_ms,
                               .member_count = g->member_count,
                               .members = mm};
}

/* ---- the rebalance
 * ------------------------------------------------------------------------------- */

static void group_complete_join(group_t *g);

/* Answers every parked SyncGroup with `error` and forgets the assignments (Kafka's
 * resetAndPropagateAssignmentError). */
static void group_reset_assignments(group_t *g, int16_t error)
{
    for (group_member_t *m = g->head; m; m = m->next) {
        free(m->assignment);
        m->assignment = dup_bytes(NULL, 0);
        m->assignment_len = 0;
        if (m->sync_waiter) {
            void *w = m->sync_waiter;
            m->sync_waiter = NULL;
            sync_reply(g->c, w, error);
        }
    }
}

static bool group_all_joined(const group_t *g)
{
    return g->awaiting_join == g->member_count && g->pending.count == 0;
}

static void group_try_complete_join(group_t *g)
{
    if (g->state == BROKER_GROUP_PREPARING_REBALANCE && !g->initial_join && group_all_joined(g))
        group_complete_join(g);
}

static void group_prepare_rebalance(group_t *g, const char *reason)
{
    broker_coord_t *c = g->c;
    if (g->state == BROKER_GROUP_COMPLETING_REBALANCE)
        group_reset_assignments(g, KAFKA_REBALANCE_IN_PROGRESS);
    timer_stop(c, &g->sync_timer);
    timer_stop(c, &g->join_timer);
    int32_t rebalance_ms = group_rebalance_timeout(g);
    if (g->state == BROKER_GROUP_EMPTY && c->cfg.initial_rebalance_delay_ms > 0) {
        g->initial_join = true;
        g->new_member_added = false;
        g->initial_remaining_ms = WEIR_MAX(rebalance_ms - c->cfg.initial_rebalance_delay_ms, 0);
        broker_coord_timer_start(c, &g->join_timer, c->cfg.initial_rebalance_delay_ms);
    } else {
        g->initial_join = false;
        broker_coord_timer_start(c, &g->join_timer, rebalance_ms);
    }
    log_info("group", "group %s: preparing rebalance (%s), generation %d, %zu members", g->id,
             reason, g->generation, g->member_count);
    group_set_state(g, BROKER_GROUP_PREPARING_REBALANCE);
    group_try_complete_join(g);
}

static void group_maybe_prepare_rebalance(group_t *g, const char *reason)
{
    if (g->state == BROKER_GROUP_STABLE || g->state == BROKER_GROUP_COMPLETING_REBALANCE ||
        g->state == BROKER_GROUP_EMPTY)
        group_prepare_rebalance(g, reason);
}

/* A member is gone (left, expired, fenced by the rebalance): the group rebalances. */
static void group_member_gone(group_t *g, group_member_t *m, const char *reason)
{
    member_remove(g, m, KAFKA_UNKNOWN_MEMBER_ID);
    if (g->state == BROKER_GROUP_PREPARING_REBALANCE)
        group_try_complete_join(g);
    else
        group_maybe_prepare_rebalance(g, reason);
}

/* The JoinGroup answer for a member of the current generation (the leader gets everyone).
 * skip_assignment (KIP-814): the leader is told to keep the current assignment rather than
 * compute one; it still gets everyone's metadata, so that it watches their topics. */
static void group_join_answer(group_t *g, group_member_t *m, void *waiter, const char *leader,
                              bool skip_assignment)
{
    broker_group_join_member_t *list = NULL;
    size_t n = 0;
    if (broker_coord_str_eq(m->id, g->leader_id) && broker_coord_str_eq(leader, g->leader_id)) {
        list = weir_calloc(g->member_count, sizeof(*list));
        for (group_member_t *x = g->head; x; x = x->next) {
            const group_proto_t *p = member_proto(x, g->protocol_name);
            list[n++] = (broker_group_join_member_t){.member_id = x->id,
                                                     .instance_id = x->instance_id,
                                                     .metadata = p ? p->meta : NULL,
                                                     .metadata_len = p ? p->meta_len : 0};
        }
    }
    broker_group_join_result_t r = {.error = KAFKA_NONE,
                                    .generation_id = g->generation,
                                    .protocol_type = g->protocol_type,
                                    .protocol_name = g->protocol_name,
                                    .leader_id = leader ? leader : "",
                                    .member_id = m->id,
                                    .member_count = n,
                                    .members = list,
                                    .skip_assignment = skip_assignment && list};
    g->c->env.join_done(g->c->env.ctx, waiter, &r);
    free(list);
}

static void group_join_reply(group_t *g, group_member_t *m, void *waiter, const char *leader)
{
    group_join_answer(g, m, waiter, leader, false);
}

static void group_complete_join(group_t *g)
{
    broker_coord_t *c = g->c;
    timer_stop(c, &g->join_timer);
    g->initial_join = false;
    if (g->member_count > 0 && g->awaiting_join == 0) {
        /* Only absent static members are left: wait for them to come back or expire. */
        broker_coord_timer_start(c, &g->join_timer, group_rebalance_timeout(g));
        return;
    }
    group_member_t *leader = broker_coord_member_find(g, g->leader_id);
    if (g->member_count > 0 && (!leader || !leader->join_waiter)) {
        for (group_member_t *m = g->head; m; m = m->next)
            if (m->join_waiter) {
                broker_coord_replace_str(&g->leader_id, m->id);
                break;
            }
    }
    g->generation++;
    if (g->member_count == 0) {
        broker_coord_replace_str(&g->protocol_name, NULL);
        broker_coord_replace_str(&g->leader_id, NULL);
        group_set_state(g, BROKER_GROUP_EMPTY);
        log_info("group", "group %s: empty, generation %d", g->id, g->generation);
        group_store(g, NULL);
        return;
    }
    broker_coord_replace_str(&g->protocol_name, group_select_protocol(g));
    g->leader_synced = false;
    group_set_state(g, BROKER_GROUP_COMPLETING_REBALANCE);
    log_info("group", "group %s: generation %d, protocol %s, leader %s, %zu members", g->id,
             g->generation, g->protocol_name, g->leader_id, g->member_count);
    for (group_member_t *m = g->head; m; m = m->next) {
        if (!m->join_waiter)
            continue;
        void *w = m->join_waiter;
        member_set_join_waiter(m, NULL);
        broker_coord_member_touch(m);
        group_join_reply(g, m, w, g->leader_id);
    }
    broker_coord_timer_start(c, &g->sync_timer, group_rebalance_timeout(g));
}

static void group_join_timer_fired(void *arg)
{
    group_t *g = arg;
    broker_coord_t *c = g->c;
    if (g->state != BROKER_GROUP_PREPARING_REBALANCE)
        return;
    if (g->initial_join && g->new_member_added && g->initial_remaining_ms > 0) {
        int32_t d = WEIR_MIN(c->cfg.initial_rebalance_delay_ms, g->initial_remaining_ms);
        g->initial_remaining_ms -= d;
        g->new_member_added = false;
        broker_coord_timer_start(c, &g->join_timer, d);
        return;
    }
    if (!g->initial_join) {
        /* The rebalance timeout passed: dynamic members that did not rejoin are out. */
        group_member_t *next;
        for (group_member_t *m = g->head; m; m = next) {
            next = m->next;
            if (!m->join_waiter && !m->instance_id) {
                log_info("group", "group %s: member %s did not rejoin in time", g->id, m->id);
                member_remove(g, m, KAFKA_UNKNOWN_MEMBER_ID);
            }
        }
    }
    group_complete_join(g);
}

/* The leader did not send SyncGroup within the rebalance timeout: members that did not sync
 * are dropped and the group rebalances again (Kafka's DelayedSync). */
static void group_sync_timer_fired(void *arg)
{
    group_t *g = arg;
    if (g->state != BROKER_GROUP_COMPLETING_REBALANCE || g->leader_synced)
        return;
    group_member_t *next;
    for (group_member_t *m = g->head; m; m = next) {
        next = m->next;
        if (m->synced_generation != g->generation) {
            log_info("group", "group %s: member %s did not sync in time", g->id, m->id);
            member_remove(g, m, KAFKA_UNKNOWN_MEMBER_ID);
        }
    }
    group_prepare_rebalance(g, "members did not sync in time");
}

static void member_session_expired(void *arg)
{
    group_member_t *m = arg;
    group_t *g = m->grp;
    if (m->join_waiter || m->sync_waiter) { /* parked: alive by definition */
        broker_coord_member_touch(m);
        return;
    }
    log_info("group", "group %s: member %s session timeout", g->id, m->id);
    group_member_gone(g, m, "session timeout");
}

static void pending_expired(void *arg)
{
    group_pending_t *p = arg;
    group_t *g = p->grp;
    broker_kvmap_sdel(&g->pending, p->id);
    pending_free(g->c, p);
    group_try_complete_join(g);
    broker_coord_group_maybe_drop(g);
}

/* ---- JoinGroup
 * ----------------------------------------------------------------------------------- */

static void group_add_member_and_rebalance(group_t *g, const char *id,
                                           const broker_group_join_req_t *req, void *waiter)
{
    group_member_t *m = member_add(g, id, req);
    member_set_join_waiter(m, waiter);
    broker_coord_member_touch(m);
    if (g->state == BROKER_GROUP_PREPARING_REBALANCE && g->initial_join)
        g->new_member_added = true;
    log_info("group", "group %s: member %s joined (%s)", g->id, m->id,
             m->instance_id ? m->instance_id : "dynamic");
    if (g->state == BROKER_GROUP_PREPARING_REBALANCE)
        group_try_complete_join(g);
    else
        group_maybe_prepare_rebalance(g, "member joined");
}

static void group_update_member_and_rebalance(group_t *g, group_member_t *m,
                                              const broker_group_join_req_t *req, void *waiter)
{
    protos_set(m, req->protocols, req->protocol_count);
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms;
    member_set_join_waiter(m, waiter);
    broker_coord_member_touch(m);
    if (g->state == BROKER_GROUP_PREPARING_REBALANCE)
        group_try_complete_join(g);
    else
        group_maybe_prepare_rebalance(g, "member rejoined");
}

/* A static member came back with no member id: it takes over its old entry under a new id
 * (the old incarnation is fenced). In a Stable group whose protocol would not change this is
 * not a rebalance: once the new id is durable the member gets the current generation, with
 * the old leader id so that it does not act as leader (Kafka's updateStaticMemberAndRebalance);
 * from JoinGroup v9 a returning leader is told it leads, with everyone's metadata and
 * skip_assignment (KIP-814), so that it goes on watching the group's topics. */
static void group_static_rejoin(group_t *g, group_member_t *m, const broker_group_join_req_t *req,
                                void *waiter)
{
    broker_coord_t *c = g->c;
    char *old_leader = dup_or_null(g->leader_id);
    if (m->join_waiter) {
        void *w = m->join_waiter;
        member_set_join_waiter(m, NULL);
        join_error(c, w, KAFKA_FENCED_INSTANCE_ID, m->id);
    }
    if (m->sync_waiter) {
        void *w = m->sync_waiter;
        m->sync_waiter = NULL;
        sync_reply(c, w, KAFKA_FENCED_INSTANCE_ID);
    }
    char *new_id = member_id_new(req->instance_id);
    broker_kvmap_sdel(&g->members, m->id);
    if (broker_coord_str_eq(g->leader_id, m->id))
        broker_coord_replace_str(&g->leader_id, new_id);
    log_info("group", "group %s: static member %s rejoined as %s (was %s)", g->id, m->instance_id,
             new_id, m->id);
    free(m->id);
    m->id = new_id;
    broker_kvmap_sput(&g->members, m->id, m);
    broker_coord_replace_str(&m->client_id, req->client_id ? req->client_id : "");
    broker_coord_replace_str(&m->client_host, req->client_host ? req->client_host : "");
    protos_set(m, req->protocols, req->protocol_count);
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms;
    broker_coord_member_touch(m);
    if (g->state == BROKER_GROUP_STABLE &&
        broker_coord_str_eq(group_select_protocol(g), g->protocol_name)) {
        group_write_t *w = broker_coord_write_new(c, g, W_STATIC_JOIN, waiter);
        w->member_id = weir_strdup(m->id);
        w->leader_id = old_leader;
        w->skip_assignment_ok = req->supports_skip_assignment;
        group_store(g, w);
        return;
    }
    free(old_leader);
    member_set_join_waiter(m, waiter);
    if (g->state == BROKER_GROUP_PREPARING_REBALANCE)
        group_try_complete_join(g);
    else
        group_prepare_rebalance(g, "static member rejoined");
}

static void group_join_new(group_t *g, const broker_group_join_req_t *req, void *waiter)
{
    broker_coord_t *c = g->c;
    if (!group_supports(g, req->protocol_type, req->protocols, req->protocol_count)) {
        join_error(c, waiter, KAFKA_INCONSISTENT_GROUP_PROTOCOL, "");
        return;
    }
    if (req->instance_id) {
        group_member_t *old = broker_kvmap_sget(&g->statics, req->instance_id);
        if (old) {
            group_static_rejoin(g, old, req, waiter);
            return;
        }
    }
    if (g->member_count + g->pending.count >= (size_t)c->cfg.max_size) {
        join_error(c, waiter, KAFKA_GROUP_MAX_SIZE_REACHED, "");
        return;
    }
    char *id = member_id_new(req->instance_id ? req->instance_id : req->client_id);
    if (!req->instance_id && req->require_known_member_id) {
        /* KIP-394: the id is handed out first and the member joins with it, so a client
         * that times out never leaves an anonymous member behind. */
        group_pending_t *p = weir_calloc(1, sizeof(*p));
        p->grp = g;
        p->id = id;
        c->env.timer_init(c->env.ctx, &p->timer, pending_expired, p);
        broker_coord_timer_start(c, &p->timer, req->session_timeout_ms);
        broker_kvmap_sput(&g->pending, p->id, p);
        join_error(c, waiter, KAFKA_MEMBER_ID_REQUIRED, p->id);
        return;
    }
    group_add_member_and_rebalance(g, id, req, waiter);
    free(id);
}

static void group_join_known(group_t *g, const broker_group_join_req_t *req, void *waiter)
{
    broker_coord_t *c = g->c;
    if (!group_supports(g, req->protocol_type, req->protocols, req->protocol_count)) {
        join_error(c, waiter, KAFKA_INCONSISTENT_GROUP_PROTOCOL, req->member_id);
        return;
    }
    group_pending_t *p = broker_kvmap_sget(&g->pending, req->member_id);
    if (p) {
        broker_kvmap_sdel(&g->pending, p->id);
        pending_free(c, p);
        group_add_member_and_rebalance(g, req->member_id, req, waiter);
        return;
    }
    group_member_t *m = broker_coord_member_find(g, req->member_id);
    int16_t err = KAFKA_NONE;
    if (broker_coord_member_fenced(g, req->member_id, req->instance_id))
        err = KAFKA_FENCED_INSTANCE_ID;
    else if (!m || g->state == BROKER_GROUP_EMPTY || g->state == BROKER_GROUP_DEAD)
        err = KAFKA_UNKNOWN_MEMBER_ID;
    if (err) {
        join_error(c, waiter, err, req->member_id);
        return;
    }
    bool same = protos_match(m, req->protocols, req->protocol_count);
    bool is_leader = broker_coord_str_eq(m->id, g->leader_id);
    if ((g->state == BROKER_GROUP_COMPLETING_REBALANCE && same) ||
        (g->state == BROKER_GROUP_STABLE && same && !is_leader)) {
        /* Nothing changed (a lost JoinGroup answer, or a follower's rejoin): the current
         * generation stands and the member can go on to SyncGroup. */
        broker_coord_member_touch(m);
        group_join_reply(g, m, waiter, g->leader_id);
        return;
    }
    group_update_member_and_rebalance(g, m, req, waiter);
}

void broker_coord_join(broker_coord_t *c, const broker_group_join_req_t *req, void *waiter)
{
    bool unknown = !req->member_id || !*req->member_id;
    if (!req->group_id || !*req->group_id) {
        join_error(c, waiter, KAFKA_INVALID_GROUP_ID, req->member_id);
        return;
    }
    if (req->session_timeout_ms < c->cfg.min_session_timeout_ms ||
        req->session_timeout_ms > c->cfg.max_session_timeout_ms) {
        join_error(c, waiter, KAFKA_INVALID_SESSION_TIMEOUT, req->member_id);
        return;
    }
    group_t *g = broker_coord_group_get(c, req->group_id);
    if (g && g->cg && !broker_coord_cgroup_to_classic(g)) {
        /* a consumer group with members: the member joins it with the classic protocol */
        broker_coord_cgroup_classic_join(g, req, waiter);
        return;
    }
    if (!g) {
        if (!unknown) {
            join_error(c, waiter, KAFKA_UNKNOWN_MEMBER_ID, req->member_id);
            return;
        }
        g = broker_coord_group_create(c, req->group_id);
    }
    if (unknown)
        group_join_new(g, req, waiter);
    else
        group_join_known(g, req, waiter);
    broker_coord_group_maybe_drop(g);
}

/* ---- SyncGroup, Heartbeat, LeaveGroup
 * -------------------------------------------------------------- */

static int16_t group_sync_check(group_t *g, group_member_t *m, const broker_group_sync_req_t *req)
{
    if (!g || !m)
        return KAFKA_UNKNOWN_MEMBER_ID;
    if (broker_coord_member_fenced(g, req->member_id, req->instance_id))
        return KAFKA_FENCED_INSTANCE_ID;
    if (req->generation_id != g->generation)
        return KAFKA_ILLEGAL_GENERATION;
    if ((req->protocol_type && !broker_coord_str_eq(req->protocol_type, g->protocol_type)) ||
        (req->protocol_name && g->protocol_name &&
         !broker_coord_str_eq(req->protocol_name, g->protocol_name)))
        return KAFKA_INCONSISTENT_GROUP_PROTOCOL;
    switch (g->state) {
    case BROKER_GROUP_EMPTY:
        return KAFKA_UNKNOWN_MEMBER_ID;
    case BROKER_GROUP_PREPARING_REBALANCE:
        return KAFKA_REBALANCE_IN_PROGRESS;
    case BROKER_GROUP_DEAD:
        return KAFKA_COORDINATOR_NOT_AVAILABLE;
    default:
        return KAFKA_NONE;
    }
}

/* The leader's assignments: every member gets its entry, or an empty one if the leader left
 * it out; entries for unknown member ids are ignored. */
static void group_set_assignments(group_t *g, const broker_group_sync_req_t *req)
{
    for (group_member_t *m = g->head; m; m = m->next) {
        free(m->assignment);
        m->assignment = dup_bytes(NULL, 0);
        m->assignment_len = 0;
    }
    for (size_t i = 0; i < req->assignment_count; i++) {
        const broker_group_assignment_t *a = &req->assignments[i];
        group_member_t *m = broker_coord_member_find(g, a->member_id);
        if (!m)
            continue;
        free(m->assignment);
        m->assignment = dup_bytes(a->assignment, a->assignment_len);
        m->assignment_len = a->assignment_len;
    }
}

void broker_coord_sync(broker_coord_t *c, const broker_group_sync_req_t *req, void *waiter)
{
    group_t *g = broker_coord_group_get(c, req->group_id);
    if (g && g->cg) {
        broker_coord_cgroup_classic_sync(g, req, waiter);
        return;
    }
    group_member_t *m = g ? broker_coord_member_find(g, req->member_id) : NULL;
    int16_t err = group_sync_check(g, m, req);
    if (err) {
        sync_reply(c, waiter, err);
        return;
    }
    broker_coord_member_touch(m);
    if (g->state == BROKER_GROUP_STABLE) {
        sync_reply_ok(g, waiter, m);
        return;
    }
    if (m->sync_waiter)
        sync_reply(c, m->sync_waiter, KAFKA_REBALANCE_IN_PROGRESS);
    m->sync_waiter = waiter;
    m->synced_generation = g->generation;
    if (broker_coord_str_eq(m->id, g->leader_id) && !g->leader_synced) {
        group_set_assignments(g, req);
        g->leader_synced = true;
        group_store(g, broker_coord_write_new(c, g, W_SYNC, NULL));
    }
}

/* The leader's assignments are durable: the group is Stable and every parked SyncGroup gets
 * its member's assignment. */
static void group_sync_stored(group_t *g, int32_t generation, int err)
{
    if (g->state != BROKER_GROUP_COMPLETING_REBALANCE || g->generation != generation)
        return; /* a rebalance started meanwhile and answered the parked SyncGroups */
    if (err) {
        group_reset_assignments(g, broker_coord_write_err_code(err));
        group_prepare_rebalance(g, "storing the assignments failed");
        return;
    }
    timer_stop(g->c, &g->sync_timer);
    group_set_state(g, BROKER_GROUP_STABLE);
    log_info("group", "group %s: stable, generation %d", g->id, g->generation);
    for (group_member_t *m = g->head; m; m = m->next) {
        if (!m->sync_waiter)
            continue;
        void *w = m->sync_waiter;
        m->sync_waiter = NULL;
        sync_reply_ok(g, w, m);
    }
}

int16_t broker_coord_heartbeat(broker_coord_t *c, const char *group_id, int32_t generation_id,
                               const char *member_id, const char *instance_id)
{
    group_t *g = broker_coord_group_get(c, group_id);
    if (!group_id || !*group_id)
        return KAFKA_INVALID_GROUP_ID;
    if (!g)
        return KAFKA_UNKNOWN_MEMBER_ID;
    if (g->cg)
        return broker_coord_cgroup_classic_heartbeat(g, generation_id, member_id, instance_id);
    if (broker_coord_member_fenced(g, member_id, instance_id))
        return KAFKA_FENCED_INSTANCE_ID;
    group_member_t *m = broker_coord_member_find(g, member_id);
    if (!m || g->state == BROKER_GROUP_EMPTY)
        return KAFKA_UNKNOWN_MEMBER_ID;
    if (generation_id != g->generation)
        return KAFKA_ILLEGAL_GENERATION;
    broker_coord_member_touch(m);
    return g->state == BROKER_GROUP_PREPARING_REBALANCE ? KAFKA_REBALANCE_IN_PROGRESS : KAFKA_NONE;
}

static int16_t group_leave_one(group_t *g, const broker_group_leave_member_t *lm)
{
    const char *mid = lm->member_id;
    if ((!mid || !*mid) && lm->instance_id) {
        group_member_t *s = broker_kvmap_sget(&g->statics, lm->instance_id);
        if (!s)
            return KAFKA_UNKNOWN_MEMBER_ID;
        mid = s->id;
    } else if (broker_coord_member_fenced(g, mid, lm->instance_id)) {
        return KAFKA_FENCED_INSTANCE_ID;
    }
    group_pending_t *p = mid ? broker_kvmap_sget(&g->pending, mid) : NULL;
    if (p) {
        broker_kvmap_sdel(&g->pending, p->id);
        pending_free(g->c, p);
        group_try_complete_join(g);
        return KAFKA_NONE;
    }
    group_member_t *m = broker_coord_member_find(g, mid);
    if (!m)
        return KAFKA_UNKNOWN_MEMBER_ID;
    log_info("group", "group %s: member %s left", g->id, m->id);
    group_member_gone(g, m, "member left");
    return KAFKA_NONE;
}

int16_t broker_coord_leave(broker_coord_t *c, const char *group_id,
                           broker_group_leave_member_t *members, size_t n)
{
    if (!group_id || !*group_id)
        return KAFKA_INVALID_GROUP_ID;
    group_t *g = broker_coord_group_get(c, group_id);
    if (g && g->cg) {
        broker_coord_cgroup_classic_leave(g, members, n);
        return KAFKA_NONE;
    }
    for (size_t i = 0; i < n; i++)
        members[i].error = g ? group_leave_one(g, &members[i]) : KAFKA_UNKNOWN_MEMBER_ID;
    return KAFKA_NONE;
}

/* ---- ListGroups, DescribeGroups, DeleteGroups, OffsetDelete
 * --------------------------------------- */

void broker_coord_list(broker_coord_t *c, broker_coord_list_fn fn, void *arg)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->groups);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        group_t *g = e->value;
        broker_group_listing_t l = {.group_id = g->id,
                                    .protocol_type = g->protocol_type ? g->protocol_type : "",
                                    .state = broker_group_state_name(g->state),
                                    .type = "classic"};
        if (g->cg)
            broker_coord_cgroup_list(g, &l);
        fn(arg, &l);
    }
}

void broker_coord_describe(broker_coord_t *c, const char *group_id, broker_group_summary_t *out)
{
    memset(out, 0, sizeof(*out));
    out->state = BROKER_GROUP_DEAD;
    out->protocol_type = "";
    out->protocol_name = "";
    out->generation = -1;
    if (!group_id || !*group_id) {
        out->error = KAFKA_INVALID_GROUP_ID;
        return;
    }
    group_t *g = broker_coord_group_get(c, group_id);
    if (!g || g->cg)
        return; /* a consumer group is Dead to the classic API, as in Kafka (before v6) */
    out->state = g->state;
    out->protocol_type = g->protocol_type ? g->protocol_type : "";
    out->protocol_name = g->protocol_name ? g->protocol_name : "";
    out->generation = g->generation;
    out->member_count = g->member_count;
    out->members = weir_calloc(g->member_count ? g->member_count : 1, sizeof(*out->members));
    bool full = g->state == BROKER_GROUP_STABLE;
    size_t i = 0;
    for (group_member_t *m = g->head; m; m = m->next, i++) {
        const group_proto_t *p = full ? member_proto(m, g->protocol_name) : NULL;
        out->members[i] =
            (broker_group_member_summary_t){.member_id = m->id,
                                            .instance_id = m->instance_id,
                                            .client_id = m->client_id,
                                            .client_host = m->client_host,
                                            .metadata = p ? p->meta : NULL,
                                            .metadata_len = p ? p->meta_len : 0,
                                            .assignment = full ? m->assignment : NULL,
                                            .assignment_len = full ? m->assignment_len : 0};
    }
}

void broker_group_summary_deinit(broker_group_summary_t *s)
{
    free(s->members);
    s->members = NULL;
    s->member_count = 0;
}

static void multi_done(broker_coord_t *c, group_multi_t *mu)
{
    if (--mu->left > 0)
        return;
    c->env.done(c->env.ctx, mu->waiter);
    free(mu);
}

/* Tombstones for every committed offset of g (removed from memory now) and, with
 * `with_group`, for its metadata. */
static void recset_add_group_tombstones(recset_t *rs, group_t *g, bool with_group)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &g->offsets);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        group_offset_entry_t *o = e->value;
        broker_coord_recset_add_offset(rs, g->id, o->topic, o->partition, NULL);
    }
    offsets_clear(g);
    if (with_group)
        broker_coord_recset_add_group(rs, g, true);
    if (with_group && g->cg)
        broker_coord_cgroup_tombstones(rs, g);
}

void broker_coord_delete(broker_coord_t *c, broker_group_delete_req_t *req, void *waiter)
{
    group_multi_t *mu = weir_calloc(1, sizeof(*mu));
    mu->waiter = waiter;
    mu->left = 1; /* held until every write is handed out */
    for (size_t i = 0; i < req->count; i++) {
        broker_group_delete_item_t *it = &req->items[i];
        group_t *g = broker_coord_group_get(c, it->group_id);
        if (!it->group_id || !*it->group_id)
            it->error = KAFKA_INVALID_GROUP_ID;
        else if (!g)
            it->error = KAFKA_GROUP_ID_NOT_FOUND;
        else if (g->state != BROKER_GROUP_EMPTY)
            it->error = KAFKA_NON_EMPTY_GROUP;
        else
            it->error = KAFKA_NONE;
        if (it->error)
            continue;
        recset_t rs;
        broker_coord_recset_init(&rs);
        recset_add_group_tombstones(&rs, g, true);
        group_write_t *w = broker_coord_write_new(c, g, W_DELETE, NULL);
        w->multi = mu;
        w->error_out = &it->error;
        mu->left++;
        log_info("group", "group %s: deleted", g->id);
        broker_coord_group_remove(g, KAFKA_COORDINATOR_NOT_AVAILABLE);
        broker_coord_recset_write(c, &rs, w);
    }
    multi_done(c, mu);
}

/* ---- write completion
 * ---------------------------------------------------------------------------- */

static void write_done(void *arg, int err)
{
    group_write_t *w = arg;
    broker_coord_t *c = w->c;
    group_t *g = w->grp;
    c->writes_pending--;
    if (err)
        log_warn("group", "group %s: writing to __consumer_offsets failed: %s", g->id,
                 weir_strerror(err));
    switch (w->kind) {
    case W_PLAIN:
        break;
    case W_COMMIT:
        broker_coord_group_commit_stored(g, w->commit, err);
        c->env.done(c->env.ctx, w->waiter);
        break;
    case W_TXN_COMMIT:
        broker_coord_txn_stored(g, w->commit, err);
        c->env.done(c->env.ctx, w->waiter);
        break;
    case W_SYNC:
        if (g->state != BROKER_GROUP_DEAD)
            group_sync_stored(g, w->generation, err);
        break;
    case W_STATIC_JOIN: {
        group_member_t *m =
            g->state == BROKER_GROUP_STABLE ? broker_coord_member_find(g, w->member_id) : NULL;
        if (err || !m)
            join_error(c, w->waiter,
                       err ? broker_coord_write_err_code(err)
                           : (g->state == BROKER_GROUP_DEAD ? KAFKA_COORDINATOR_NOT_AVAILABLE
                                                            : KAFKA_REBALANCE_IN_PROGRESS),
                       w->member_id);
        else if (w->skip_assignment_ok) /* v9+: the current leader, itself if it led */
            group_join_answer(g, m, w->waiter, g->leader_id, true);
        else /* before v9 the old leader id, so that the member does not assign */
            group_join_reply(g, m, w->waiter, w->leader_id);
        break;
    }
    case W_DELETE:
        if (err)
            *w->error_out = broker_coord_write_err_code(err);
        multi_done(c, w->multi);
        break;
    case W_OFFSET_DELETE:
        if (err)
            *w->error_out = broker_coord_write_err_code(err);
        c->env.done(c->env.ctx, w->waiter);
        break;
    case W_CONSUMER_HEARTBEAT:
        broker_coord_heartbeat_stored(w->heartbeat, err);
        c->env.done(c->env.ctx, w->waiter);
        break;
    case W_CLASSIC_JOIN:
        broker_coord_cgroup_classic_join_stored(w, err);
        break;
    }
    free(w->member_id);
    free(w->leader_id);
    free(w->protocol_name);
    group_unref(g);
    free(w);
}

/* ---- loading
 * ------------------------------------------------------------------------------------- */

void broker_coord_load_group(broker_coord_t *c, const char *group, const broker_group_meta_t *m)
{
    group_t *g = broker_coord_group_get(c, group);
    if (!g && !m)
        return;
    if (g && g->cg && !m)
        return; /* the classic record of a group that became a consumer group */
    if (!g)
        g = broker_coord_group_create(c, group);
    if (g->cg)
        broker_coord_cgroup_drop(g); /* a consumer group that became classic */
    while (g->head)
        member_remove(g, g->head, KAFKA_COORDINATOR_NOT_AVAILABLE);
    broker_coord_replace_str(&g->protocol_type, m && *m->protocol_type ? m->protocol_type : NULL);
    broker_coord_replace_str(&g->protocol_name, m ? m->protocol_name : NULL);
    broker_coord_replace_str(&g->leader_id, NULL);
    g->generation = m ? m->generation : 0;
    g->state_ts_ms = m ? m->state_ts_ms : clock_wall_ms();
    for (size_t i = 0; m && i < m->member_count; i++) {
        const broker_group_meta_member_t *x = &m->members[i];
        broker_group_protocol_t proto = {.name = m->protocol_name ? m->protocol_name : "",
                                         .metadata = x->subscription,
                                         .metadata_len = x->subscription_len};
        broker_group_join_req_t req = {.instance_id = x->instance_id,
                                       .client_id = x->client_id,
                                       .client_host = x->client_host,
                                       .session_timeout_ms = x->session_timeout_ms,
                                       .rebalance_timeout_ms = x->rebalance_timeout_ms,
                                       .protocol_type = m->protocol_type,
                                       .protocol_count = 1,
                                       .protocols = &proto};
        group_member_t *mem = member_add(g, x->member_id, &req);
        free(mem->assignment);
        mem->assignment = dup_bytes(x->assignment, x->assignment_len);
        mem->assignment_len = x->assignment_len;
    }
    if (m && m->leader_id && broker_coord_member_find(g, m->leader_id))
        broker_coord_replace_str(&g->leader_id, m->leader_id);
}

void broker_coord_load_finish(broker_coord_t *c)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->groups);
    size_t stable = 0;
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        group_t *g = e->value;
        if (g->cg) {
            broker_coord_cgroup_load_finish(g);
            if (g->cg->count > 0)
                stable++;
            else
                broker_coord_group_maybe_drop(g);
            continue;
        }
        if (g->member_count > 0 && !g->protocol_name)
            while (g->head)
                member_remove(g, g->head, KAFKA_COORDINATOR_NOT_AVAILABLE);
        if (g->member_count > 0) {
            g->state = BROKER_GROUP_STABLE; /* keeps the stored state timestamp */
            for (group_member_t *m = g->head; m; m = m->next)
                broker_coord_member_touch(m);
            stable++;
        } else {
            g->state = BROKER_GROUP_EMPTY;
            broker_coord_group_maybe_drop(g);
        }
    }
    log_info("group", "loaded %zu groups (%zu stable)", c->groups.count, stable);
}

/* ---- the coordinator
 * ----------------------------------------------------------------------------- */

int broker_coord_new(const broker_coord_config_t *cfg, const broker_coord_env_t *env,
                     broker_coord_t **out)
{
    broker_coord_t *c = weir_calloc(1, sizeof(*c));
    c->cfg = *cfg;
    c->env = *env;
    broker_kvmap_init(&c->groups);
    broker_kvmap_init(&c->topic_names);
    broker_kvmap_init(&c->txn_groups);
    c->replay_pid = -1;
    c->env.timer_init(c->env.ctx, &c->expire_timer, broker_coord_expire_timer_fired, c);
    broker_coord_timer_start(c, &c->expire_timer, c->cfg.offsets_retention_check_interval_ms);
    *out = c;
    return 0;
}

void broker_coord_free(broker_coord_t *c)
{
    if (!c)
        return;
    WEIR_ASSERT(c->writes_pending == 0);
    timer_stop(c, &c->expire_timer);
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->groups);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        broker_coord_group_remove(e->value, KAFKA_COORDINATOR_NOT_AVAILABLE);
    broker_kvmap_deinit(&c->groups);
    broker_kvmap_iter_init(&it, &c->topic_names);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        free(e->value);
    broker_kvmap_deinit(&c->topic_names);
    broker_coord_txn_index_free(c);
    free(c);
}

size_t broker_coord_writes_pending(const broker_coord_t *c)
{
    return c->writes_pending;
}

size_t broker_coord_group_count(const broker_coord_t *c)
{
    return c->groups.count;
}

void broker_coord_set_config(broker_coord_t *c, const broker_coord_config_t *cfg)
{
    c->cfg = *cfg;
}
