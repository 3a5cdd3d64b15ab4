/*
 * coord_consumer_classic.c: members that speak the classic protocol (JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup) inside a consumer group (KIP-848's mixed groups), and the online
 * upgrade of a classic group when a consumer-protocol member joins it and the online downgrade
 * when the last consumer-protocol member leaves, as Kafka 4 does with its default
 * group.consumer.migration.policy (bidirectional).
 *
 * A classic member is a consumer-group member like the others: the broker assigns it its
 * partitions and it moves to its target revoking before assigning. It learns of a new target
 * only by rejoining: its heartbeat answers REBALANCE_IN_PROGRESS when the group epoch passed its
 * own (or a partition it waits for became free), its JoinGroup (with the partitions it still
 * owns in its subscription) reconciles it and answers with its epoch as the generation, and
 * its SyncGroup hands it its assigned partitions as a ConsumerProtocolAssignment in the version
 * of its subscription. Every member is a follower: the leader computes nothing. A member that
 * does not sync within its rebalance timeout after a JoinGroup, or does not rejoin within it
 * after being told to, or sends no heartbeat within its session timeout, is removed.
 *
 * The embedded consumer protocol (ConsumerProtocolSubscription v0-3, ConsumerProtocolAssignment
 * v0-3) is decoded here with bounds on every length and count; a subscription that does not
 * decode fails the JoinGroup as Kafka does (UNKNOWN_SERVER_ERROR).
 *
 * Threads: one, the coordinator thread (see coord.h).
 */
#include "broker/coord_internal.h"

#include <stdlib.h>

enum { MAX_SUB_TOPICS = 100000, MAX_SUB_PARTITIONS = 1000000 };

/* ---- the embedded consumer protocol ------------------------------------------------------------
 */

/* A decoded ConsumerProtocolSubscription: topics as sent, owned partitions of existing topics. */
typedef struct {
    int16_t version;
    char **topics;
    size_t ntopics;
    tpset_t owned;
    char *rack;
} csub_t;

static void csub_free(csub_t *s)
{
    for (size_t i = 0; i < s->ntopics; i++)
        free(s->topics[i]);
    free(s->topics);
    tpset_free(&s->owned);
    free(s->rack);
}

/* A C string of a classic string that holds no NUL, or NULL (bad or null). */
static char *read_name(wire_reader_t *r)
{
    wire_str_t v = wire_read_nstr(r);
    if (v.len < 0 || memchr(v.s, 0, (size_t)v.len))
        return NULL;
    return wire_str_dup(v);
}

/* [topic, [partition]] into out, for topics that exist (others are left out). */
static void read_topic_partitions(broker_coord_t *c, wire_reader_t *r, tpset_t *out, int32_t epoch)
{
    int32_t nt = wire_read_array(r, 2 + 4, MAX_SUB_TOPICS);
    for (int32_t i = 0; i < nt && wire_reader_ok(r); i++) {
        char *name = read_name(r);
        int32_t np = wire_read_array(r, 4, MAX_SUB_PARTITIONS);
        bool known = name && c->env.topic_partitions(c->env.ctx, name) > 0;
        const char *t = known ? broker_coord_intern(c, name) : NULL;
        for (int32_t k = 0; k < np && wire_reader_ok(r); k++) {
            int32_t p = wire_read_i32(r);
            if (t && p >= 0)
                tpset_add_epoch(out, t, p, epoch);
        }
        free(name);
    }
}

static int csub_parse(broker_coord_t *c, const uint8_t *p, size_t n, csub_t *s)
{
    memset(s, 0, sizeof(*s));
    wire_reader_t r;
    wire_reader_init(&r, p, n, false);
    s->version = wire_read_i16(&r);
    int32_t nt = wire_read_array(&r, 2, MAX_SUB_TOPICS);
    s->topics = weir_calloc(nt > 0 ? (size_t)nt : 1, sizeof(*s->topics));
    for (int32_t i = 0; i < nt && wire_reader_ok(&r); i++) {
        s->topics[s->ntopics] = read_name(&r);
        if (!s->topics[s->ntopics++])
            wire_reader_fail(&r);
    }
    (void)wire_read_nbytes(&r); /* user data */
    if (s->version >= 1 && wire_reader_ok(&r))
        read_topic_partitions(c, &r, &s->owned, 0);
    if (s->version >= 2)
        (void)wire_read_i32(&r); /* generation id */
    if (s->version >= 3 && wire_reader_ok(&r)) {
        wire_str_t rack = wire_read_nstr(&r);
        if (rack.len > 0 && !memchr(rack.s, 0, (size_t)rack.len))
            s->rack = wire_str_dup(rack);
    }
    if (!wire_reader_ok(&r) || s->version < 0 || nt < 0) {
        csub_free(s);
        return -WEIR_ECORRUPT;
    }
    return 0;
}

/* A ConsumerProtocolAssignment of the partitions in s (version 0-3 share one layout). */
static void casg_write(buf_t *out, int16_t version, const tpset_t *s)
{
    wire_writer_t w;
    wire_writer_init(&w, out, false);
    wire_write_i16(&w, version < 0 ? 0 : version > 3 ? 3 : version);
    int32_t nt = 0;
    for (size_t i = 0; i < s->n; i++)
        nt += i == 0 || s->v[i].topic != s->v[i - 1].topic;
    wire_write_array_len(&w, nt);
    for (size_t i = 0; i < s->n;) {
        size_t j = i;
        while (j < s->n && s->v[j].topic == s->v[i].topic)
            j++;
        wire_write_cstr(&w, s->v[i].topic);
        wire_write_array_len(&w, (int32_t)(j - i));
        for (size_t k = i; k < j; k++)
            wire_write_i32(&w, s->v[k].partition);
        i = j;
    }
    wire_write_nbytes(&w, NULL, -1); /* user data */
}

/* The partitions of a ConsumerProtocolAssignment (of existing topics); nothing if it does not
 * decode. */
static void casg_parse(broker_coord_t *c, const uint8_t *p, size_t n, tpset_t *out, int32_t epoch)
{
    wire_reader_t r;
    wire_reader_init(&r, p, n, false);
    (void)wire_read_i16(&r);
    read_topic_partitions(c, &r, out, epoch);
    if (!wire_reader_ok(&r))
        tpset_clear(out);
}

/* ---- members -----------------------------------------------------------------------------------
 */

void broker_coord_cmember_free_protos(cmember_t *m)
{
    for (size_t i = 0; i < m->nprotos; i++) {
        free(m->protos[i].name);
        free(m->protos[i].meta);
    }
    free(m->protos);
    m->protos = NULL;
    m->nprotos = 0;
}

void broker_coord_cmember_set_protos(cmember_t *m, const group_proto_t *protos, size_t n)
{
    broker_coord_cmember_free_protos(m);
    m->protos = weir_calloc(n ? n : 1, sizeof(*m->protos));
    for (size_t i = 0; i < n; i++) {
        m->protos[i].name = weir_strdup(protos[i].name);
        m->protos[i].meta = weir_malloc(protos[i].meta_len ? protos[i].meta_len : 1);
        if (protos[i].meta_len)
            memcpy(m->protos[i].meta, protos[i].meta, protos[i].meta_len);
        m->protos[i].meta_len = protos[i].meta_len;
    }
    m->nprotos = n;
}

/* Replaces the member's subscribed topic names; true when they changed. */
static bool cmember_set_subs(cmember_t *m, char **topics, size_t n)
{
    bool same = n == m->nsubs;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(topics[i], m->subs[i]) == 0;
    if (same)
        return false;
    for (size_t i = 0; i < m->nsubs; i++)
        free(m->subs[i]);
    free(m->subs);
    m->subs = weir_calloc(n ? n : 1, sizeof(*m->subs));
    for (size_t i = 0; i < n; i++)
        m->subs[i] = weir_strdup(topics[i]);
    m->nsubs = n;
    return true;
}

static void classic_deadline(cmember_t *m, bool arm)
{
    broker_coord_t *c = m->grp->c;
    c->env.timer_stop(c->env.ctx, &m->classic_timer);
    if (arm)
        broker_coord_timer_start(c, &m->classic_timer, m->rebalance_timeout_ms);
}

void broker_coord_cmember_classic_expired(void *arg)
{
    cmember_t *m = arg;
    group_t *g = m->grp;
    recset_t rs;
    broker_coord_recset_init(&rs);
    broker_coord_cmember_remove(m, &rs, "classic member did not sync or rejoin in time", true);
    broker_coord_recset_write(g->c, &rs, broker_coord_write_new(g->c, g, W_PLAIN, NULL));
}

/* Kafka's validateConsumerGroupMember: by member id, or by instance id (the member id must then
 * be its). */
static int16_t any_member(group_t *g, const char *member_id, const char *instance_id,
                          cmember_t **out)
{
    cmember_t *m = instance_id ? broker_kvmap_sget(&g->cg->statics, instance_id)
                               : broker_coord_cmember_find(g, member_id ? member_id : "");
    *out = m;
    if (!m)
        return KAFKA_UNKNOWN_MEMBER_ID;
    return instance_id && !broker_coord_str_eq(m->id, member_id) ? KAFKA_FENCED_INSTANCE_ID
                                                                 : KAFKA_NONE;
}

/* ... and one that uses the classic protocol (SyncGroup and Heartbeat are theirs alone). */
static int16_t classic_member(group_t *g, const char *member_id, const char *instance_id,
                              cmember_t **out)
{
    int16_t err = any_member(g, member_id, instance_id, out);
    return err ? err : (*out)->classic ? KAFKA_NONE : KAFKA_UNKNOWN_MEMBER_ID;
}

/* A classic member must rejoin: the group moved past its epoch (unless it is still revoking:
 * it rejoins by itself then), or a partition it waits for is free now. */
static bool classic_must_rejoin(const group_t *g, const cmember_t *m)
{
    if (g->cg->epoch > m->epoch && m->state != CM_UNREVOKED)
        return true;
    if (m->state != CM_UNRELEASED)
        return false;
    for (size_t i = 0; i < m->target.n; i++) {
        uint8_t key[OFFSET_KEY_MAX];
        size_t n = broker_coord_offset_key(key, sizeof(key), m->target.v[i].topic,
                                           m->target.v[i].partition);
        if (n && !broker_kvmap_get(&g->cg->owners, key, n))
            return true;
    }
    return false;
}

/* ---- JoinGroup ---------------------------------------------------------------------------------
 */

static void join_answer_error(broker_coord_t *c, void *waiter, int16_t error, const char *id)
{
    broker_group_join_result_t r = {
        .error = error, .generation_id = -1, .leader_id = "", .member_id = id ? id : ""};
    c->env.join_done(c->env.ctx, waiter, &r);
}

/* Every member is a follower: no leader, no member list; the generation is its epoch. */
static void join_answer(broker_coord_t *c, void *waiter, const char *id, int32_t epoch,
                        const char *protocol)
{
    broker_group_join_result_t r = {.error = KAFKA_NONE,
                                    .generation_id = epoch,
                                    .protocol_type = "consumer",
                                    .protocol_name = protocol,
                                    .leader_id = "",
                                    .member_id = id};
    c->env.join_done(c->env.ctx, waiter, &r);
}

void broker_coord_cgroup_classic_join_stored(group_write_t *w, int err)
{
    broker_coord_t *c = w->c;
    if (err)
        join_answer_error(c, w->waiter, broker_coord_write_err_code(err), w->member_id);
    else
        join_answer(c, w->waiter, w->member_id, w->generation, w->protocol_name);
}

/* Kafka's supportsClassicProtocols: the consumer protocol type, and a protocol every classic
 * member of the group supports. */
static bool classic_protocols_ok(const group_t *g, const broker_group_join_req_t *req)
{
    if (!broker_coord_str_eq(req->protocol_type, "consumer") || req->protocol_count == 0)
        return false;
    for (size_t i = 0; i < req->protocol_count; i++) {
        bool everyone = true;
        for (const cmember_t *m = g->cg->head; m && everyone; m = m->next) {
            bool has = !m->classic;
            for (size_t k = 0; k < m->nprotos && !has; k++)
                has = strcmp(m->protos[k].name, req->protocols[i].name) == 0;
            everyone = has;
        }
        if (everyone)
            return true;
    }
    return false;
}

/* The member of a classic JoinGroup: by instance id (a static member takes the old entry's
 * place whatever its state, as Kafka lets classic members), else by member id, made if new. */
static cmember_t *classic_join_member(group_t *g, const broker_group_join_req_t *req,
                                      const char *id, recset_t *rs, bool *created)
{
    cmember_t *m = req->instance_id ? broker_kvmap_sget(&g->cg->statics, req->instance_id)
                                    : broker_coord_cmember_find(g, id);
    if (m && req->instance_id && strcmp(m->id, id) != 0) {
        tpset_t assigned = {0}, target = {0};
        tpset_copy(&assigned, &m->assigned);
        tpset_copy(&target, &m->target);
        broker_coord_crec_target_member(rs, g, m, true);
        broker_coord_cmember_remove(m, rs, "replaced by the same instance id", false);
        m = broker_coord_cmember_add(g, id);
        broker_coord_cmember_set_current(m, &assigned, &(tpset_t){0});
        tpset_copy(&m->target, &target);
        broker_coord_crec_target_member(rs, g, m, false);
        tpset_free(&assigned);
        tpset_free(&target);
        *created = true;
    } else if (!m) {
        m = broker_coord_cmember_add(g, id);
        *created = true;
        log_info("group", "consumer group %s: member %s joins with the classic protocol", g->id,
                 id);
    }
    broker_coord_cmember_set_instance(m, req->instance_id);
    return m;
}

/* The fields a JoinGroup sets on its member; true when the member record is due. */
static bool classic_update(cmember_t *m, const broker_group_join_req_t *req, const csub_t *sub)
{
    bool changed = !m->classic || m->session_timeout_ms != req->session_timeout_ms ||
                   m->rebalance_timeout_ms != req->rebalance_timeout_ms ||
                   !broker_coord_str_eq(m->client_id, req->client_id) ||
                   !broker_coord_str_eq(m->client_host, req->client_host) ||
                   !broker_coord_str_eq(m->rack_id, sub->rack) || m->nprotos != req->protocol_count;
    for (size_t i = 0; !changed && i < req->protocol_count; i++)
        changed = strcmp(m->protos[i].name, req->protocols[i].name) != 0 ||
                  m->protos[i].meta_len != req->protocols[i].metadata_len ||
                  memcmp(m->protos[i].meta, req->protocols[i].metadata, m->protos[i].meta_len);
    m->classic = true;
    m->session_timeout_ms = req->session_timeout_ms;
    m->rebalance_timeout_ms = req->rebalance_timeout_ms;
    broker_coord_replace_str(&m->client_id, req->client_id ? req->client_id : "");
    broker_coord_replace_str(&m->client_host, req->client_host ? req->client_host : "");
    broker_coord_replace_str(&m->rack_id, sub->rack);
    group_proto_t *p = weir_calloc(req->protocol_count, sizeof(*p));
    for (size_t i = 0; i < req->protocol_count; i++)
        p[i] =
            (group_proto_t){(char *)req->protocols[i].name, (uint8_t *)req->protocols[i].metadata,
                            req->protocols[i].metadata_len};
    broker_coord_cmember_set_protos(m, p, req->protocol_count);
    free(p);
    return changed;
}

/* The checks of a classic JoinGroup to a consumer group, in Kafka's order. */
static int16_t classic_join_check(group_t *g, const broker_group_join_req_t *req, bool unknown)
{
    broker_coord_t *c = g->c;
    bool known = !unknown && broker_coord_cmember_find(g, req->member_id);
    if (g->cg->count >= (size_t)c->cfg.consumer_max_size && !known)
        return KAFKA_GROUP_MAX_SIZE_REACHED;
    return classic_protocols_ok(g, req) ? KAFKA_NONE : KAFKA_INCONSISTENT_GROUP_PROTOCOL;
}

/* A checked JoinGroup with its decoded subscription: the member is updated, the group moves on
 * (epoch, target), the member reconciles with what its subscription says it still owns, and
 * the answer waits for the records; then it has its rebalance timeout to SyncGroup. */
static void classic_join_run(group_t *g, const broker_group_join_req_t *req, const char *id,
                             csub_t *sub, void *waiter)
{
    broker_coord_t *c = g->c;
    recset_t rs;
    broker_coord_recset_init(&rs);
    bool created = false;
    cmember_t *m = classic_join_member(g, req, id, &rs, &created);
    bool record = classic_update(m, req, sub) || created;
    bool sub_changed = cmember_set_subs(m, sub->topics, sub->ntopics);
    if (record || sub_changed)
        broker_coord_crec_member(&rs, g, m, false);
    broker_coord_cmember_touch(m);
    broker_coord_cmember_resolve(m);
    broker_coord_cgroup_advance(g, &rs, sub_changed, created);
    if (broker_coord_cmember_reconcile(m, &sub->owned) || created)
        broker_coord_crec_current(&rs, g, m, false);
    classic_deadline(m, true); /* until its SyncGroup */
    csub_free(sub);
    if (rs.n == 0) {
        broker_coord_recset_deinit(&rs);
        join_answer(c, waiter, m->id, m->epoch, m->protos[0].name);
        return;
    }
    group_write_t *w = broker_coord_write_new(c, g, W_CLASSIC_JOIN, waiter);
    w->member_id = weir_strdup(m->id);
    w->generation = m->epoch;
    w->protocol_name = weir_strdup(m->protos[0].name);
    broker_coord_recset_write(c, &rs, w);
}

void broker_coord_cgroup_classic_join(group_t *g, const broker_group_join_req_t *req, void *waiter)
{
    broker_coord_t *c = g->c;
    bool unknown = !req->member_id || !*req->member_id;
    int16_t err = classic_join_check(g, req, unknown);
    if (err) {
        join_answer_error(c, waiter, err, req->member_id);
        return;
    }
    char *id = unknown ? broker_coord_cmember_id_new() : weir_strdup(req->member_id);
    csub_t sub;
    if (unknown && !req->instance_id && req->require_known_member_id)
        join_answer_error(c, waiter, KAFKA_MEMBER_ID_REQUIRED, id);
    else if (csub_parse(c, req->protocols[0].metadata, req->protocols[0].metadata_len, &sub) < 0)
        join_answer_error(c, waiter, KAFKA_UNKNOWN_SERVER_ERROR, id);
    else
        classic_join_run(g, req, id, &sub, waiter);
    free(id);
}

/* ---- SyncGroup, Heartbeat, LeaveGroup ----------------------------------------------------------
 */

static void sync_answer_error(broker_coord_t *c, void *waiter, int16_t error)
{
    broker_group_sync_result_t r = {.error = error};
    c->env.sync_done(c->env.ctx, waiter, &r);
}

void broker_coord_cgroup_classic_sync(group_t *g, const broker_group_sync_req_t *req, void *waiter)
{
    broker_coord_t *c = g->c;
    cmember_t *m;
    int16_t err = classic_member(g, req->member_id, req->instance_id, &m);
    if (!err && req->generation_id != m->epoch)
        err = KAFKA_ILLEGAL_GENERATION;
    if (!err && ((req->protocol_type && strcmp(req->protocol_type, "consumer") != 0) ||
                 (req->protocol_name && strcmp(req->protocol_name, m->protos[0].name) != 0)))
        err = KAFKA_INCONSISTENT_GROUP_PROTOCOL;
    if (!err && classic_must_rejoin(g, m))
        err = KAFKA_REBALANCE_IN_PROGRESS;
    if (err) {
        sync_answer_error(c, waiter, err);
        return;
    }
    classic_deadline(m, false);
    broker_coord_cmember_touch(m);
    buf_t asg;
    buf_init(&asg);
    int16_t version = m->protos[0].meta_len >= 2 ? (int16_t)be16_read(m->protos[0].meta) : 0;
    casg_write(&asg, version, &m->assigned);
    broker_group_sync_result_t r = {.protocol_type = req->protocol_type,
                                    .protocol_name = req->protocol_name,
                                    .assignment = asg.data,
                                    .assignment_len = asg.len};
    c->env.sync_done(c->env.ctx, waiter, &r);
    buf_deinit(&asg);
}

int16_t broker_coord_cgroup_classic_heartbeat(group_t *g, int32_t generation, const char *member_id,
                                              const char *instance_id)
{
    cmember_t *m;
    int16_t err = classic_member(g, member_id, instance_id, &m);
    if (err)
        return err;
    if (generation != m->epoch)
        return KAFKA_ILLEGAL_GENERATION;
    broker_coord_cmember_touch(m);
    if (!classic_must_rejoin(g, m))
        return KAFKA_NONE;
    classic_deadline(m, true); /* until it rejoins */
    return KAFKA_REBALANCE_IN_PROGRESS;
}

/* Kafka's classicGroupLeaveToConsumerGroup: each member by member id, or by instance id (an
 * admin's removal when the member id is empty); as Kafka 4.4 does, a member of either protocol
 * may be removed this way. One epoch bump for all who left. */
void broker_coord_cgroup_classic_leave(group_t *g, broker_group_leave_member_t *members, size_t n)
{
    recset_t rs;
    broker_coord_recset_init(&rs);
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
        broker_group_leave_member_t *lm = &members[i];
        bool admin = lm->instance_id && (!lm->member_id || !*lm->member_id);
        cmember_t *m;
        lm->error = admin ? KAFKA_NONE : any_member(g, lm->member_id, lm->instance_id, &m);
        if (admin) {
            m = broker_kvmap_sget(&g->cg->statics, lm->instance_id);
            lm->error = m ? KAFKA_NONE : KAFKA_UNKNOWN_MEMBER_ID;
        }
        if (lm->error)
            continue;
        broker_coord_cmember_remove(m, &rs, "member left", false);
        left++;
    }
    if (left)
        broker_coord_cgroup_advance(g, &rs, true, false);
    if (rs.n)
        broker_coord_recset_write(g->c, &rs, broker_coord_write_new(g->c, g, W_PLAIN, NULL));
    else
        broker_coord_recset_deinit(&rs);
}

/* ---- the online upgrade of a classic group ----------------------------------------------------
 */

/* Kafka's validateOnlineUpgrade (with its default policy): a group of the consumer protocol
 * type, not larger than a consumer group may be. */
bool broker_coord_cgroup_upgradable(const group_t *g)
{
    return g->member_count > 0 && broker_coord_str_eq(g->protocol_type, "consumer") &&
           g->member_count <= (size_t)g->c->cfg.consumer_max_size;
}

/* A classic member as the upgrade takes it over. */
typedef struct {
    char *id, *instance_id, *client_id, *client_host;
    int32_t session_timeout_ms, rebalance_timeout_ms;
    group_proto_t *protos;
    size_t nprotos, chosen;
    uint8_t *assignment;
    size_t assignment_len;
} upgrade_member_t;

static void upgrade_take(const group_t *g, const group_member_t *gm, upgrade_member_t *u)
{
    *u = (upgrade_member_t){
        .id = weir_strdup(gm->id),
        .instance_id = gm->instance_id ? weir_strdup(gm->instance_id) : NULL,
        .client_id = weir_strdup(gm->client_id ? gm->client_id : ""),
        .client_host = weir_strdup(gm->client_host ? gm->client_host : ""),
        .session_timeout_ms = gm->session_timeout_ms,
        .rebalance_timeout_ms = gm->rebalance_timeout_ms,
        .protos = weir_calloc(gm->proto_count ? gm->proto_count : 1, sizeof(group_proto_t)),
        .nprotos = gm->proto_count,
        .assignment = weir_malloc(gm->assignment_len ? gm->assignment_len : 1),
        .assignment_len = gm->assignment_len};
    for (size_t i = 0; i < gm->proto_count; i++) {
        u->protos[i] =
            (group_proto_t){weir_strdup(gm->protos[i].name),
                            weir_malloc(gm->protos[i].meta_len + 1), gm->protos[i].meta_len};
        memcpy(u->protos[i].meta, gm->protos[i].meta, gm->protos[i].meta_len);
        if (broker_coord_str_eq(gm->protos[i].name, g->protocol_name))
            u->chosen = i;
    }
    if (gm->assignment_len)
        memcpy(u->assignment, gm->assignment, gm->assignment_len);
}

static void upgrade_free(upgrade_member_t *u)
{
    for (size_t i = 0; i < u->nprotos; i++) {
        free(u->protos[i].name);
        free(u->protos[i].meta);
    }
    free(u->protos);
    free(u->assignment);
    free(u->id);
    free(u->instance_id);
    free(u->client_id);
    free(u->client_host);
}

/* One classic member as a consumer-group member that keeps the classic protocol: its
 * subscription (from the group's protocol), its assignment, at the group's generation. */
static void upgrade_add(group_t *g, const upgrade_member_t *u, int32_t generation, recset_t *rs)
{
    broker_coord_t *c = g->c;
    cmember_t *m = broker_coord_cmember_add(g, u->id);
    broker_coord_cmember_set_instance(m, u->instance_id);
    m->classic = true;
    m->session_timeout_ms = u->session_timeout_ms;
    m->rebalance_timeout_ms = u->rebalance_timeout_ms;
    broker_coord_replace_str(&m->client_id, u->client_id);
    broker_coord_replace_str(&m->client_host, u->client_host);
    broker_coord_cmember_set_protos(m, u->protos, u->nprotos);
    csub_t sub;
    const group_proto_t *p = &u->protos[u->chosen];
    if (u->nprotos && csub_parse(c, p->meta, p->meta_len, &sub) == 0) {
        cmember_set_subs(m, sub.topics, sub.ntopics);
        broker_coord_replace_str(&m->rack_id, sub.rack);
        csub_free(&sub);
    }
    tpset_t asg = {0};
    casg_parse(c, u->assignment, u->assignment_len, &asg, generation);
    broker_coord_cmember_set_current(m, &asg, &(tpset_t){0});
    tpset_copy(&m->target, &asg);
    tpset_free(&asg);
    m->epoch = m->prev_epoch = generation;
    broker_coord_cmember_resolve(m);
    broker_coord_cmember_touch(m);
    broker_coord_crec_member(rs, g, m, false);
    broker_coord_crec_target_member(rs, g, m, false);
    broker_coord_crec_current(rs, g, m, false);
}

/* Kafka's convertToConsumerGroup: the classic group's record gets a tombstone, its parked
 * JoinGroup and SyncGroup requests REBALANCE_IN_PROGRESS, and its members become members of a
 * consumer group at the group's generation, keeping their assignments as the first target. */
void broker_coord_cgroup_upgrade(group_t *g, recset_t *rs)
{
    int32_t generation = g->generation;
    size_t n = g->member_count, i = 0;
    upgrade_member_t *u = weir_calloc(n ? n : 1, sizeof(*u));
    for (const group_member_t *gm = g->head; gm; gm = gm->next)
        upgrade_take(g, gm, &u[i++]);
    broker_coord_recset_add_group(rs, g, true);
    broker_coord_group_clear_classic(g, KAFKA_REBALANCE_IN_PROGRESS);
    broker_coord_cgroup_new(g);
    g->cg->epoch = g->cg->assignment_epoch = generation;
    for (i = 0; i < n; i++) {
        upgrade_add(g, &u[i], generation, rs);
        upgrade_free(&u[i]);
    }
    free(u);
    broker_coord_cgroup_upgraded(g, rs);
    log_info("group",
             "group %s: the classic group (%zu members, generation %d) becomes a "
             "consumer group",
             g->id, n, generation);
}

/* ---- the online downgrade ----------------------------------------------------------------------
 */

/* The protocol every member supports, in the first member's order of preference. */
static const char *downgrade_protocol(const cgroup_t *cg)
{
    const cmember_t *first = cg->head;
    for (size_t i = 0; i < first->nprotos; i++) {
        bool everyone = true;
        for (const cmember_t *m = first->next; m && everyone; m = m->next) {
            bool has = false;
            for (size_t k = 0; k < m->nprotos && !has; k++)
                has = strcmp(m->protos[k].name, first->protos[i].name) == 0;
            everyone = has;
        }
        if (everyone)
            return first->protos[i].name;
    }
    return NULL;
}

/* One classic member as the classic group will hold it (strings and bytes owned by the
 * caller's copies, freed in downgrade_free). */
static void downgrade_take(const cmember_t *m, classic_member_spec_t *v, buf_t *asg)
{
    broker_group_protocol_t *p = weir_calloc(m->nprotos ? m->nprotos : 1, sizeof(*p));
    for (size_t i = 0; i < m->nprotos; i++)
        p[i] = (broker_group_protocol_t){weir_strdup(m->protos[i].name),
                                         m->protos[i].meta_len
                                             ? memcpy(weir_malloc(m->protos[i].meta_len),
                                                      m->protos[i].meta, m->protos[i].meta_len)
                                             : NULL,
                                         m->protos[i].meta_len};
    buf_init(asg);
    int16_t version = m->protos[0].meta_len >= 2 ? (int16_t)be16_read(m->protos[0].meta) : 0;
    casg_write(asg, version, &m->assigned);
    *v = (classic_member_spec_t){.id = weir_strdup(m->id),
                                 .instance_id = m->instance_id ? weir_strdup(m->instance_id) : NULL,
                                 .client_id = weir_strdup(m->client_id),
                                 .client_host = weir_strdup(m->client_host),
                                 .session_timeout_ms = m->session_timeout_ms,
                                 .rebalance_timeout_ms = m->rebalance_timeout_ms,
                                 .protocols = p,
                                 .protocol_count = m->nprotos,
                                 .assignment = asg->data,
                                 .assignment_len = asg->len};
}

static void downgrade_free(classic_member_spec_t *v, buf_t *asg)
{
    for (size_t i = 0; i < v->protocol_count; i++) {
        free((char *)v->protocols[i].name);
        free((uint8_t *)v->protocols[i].metadata);
    }
    free((broker_group_protocol_t *)v->protocols);
    free((char *)v->id);
    free((char *)v->instance_id);
    free((char *)v->client_id);
    free((char *)v->client_host);
    buf_deinit(asg);
}

/* Kafka's convertToClassicGroup: the consumer group's records get tombstones; the classic
 * group of its members (their assignments kept, at the group epoch) is stored and rebalances,
 * so the members rejoin it. */
bool broker_coord_cgroup_maybe_downgrade(group_t *g, recset_t *rs)
{
    cgroup_t *cg = g->cg;
    if (!cg || cg->count == 0 || cg->count > (size_t)g->c->cfg.max_size)
        return false;
    for (const cmember_t *m = cg->head; m; m = m->next)
        if (!m->classic || m->nprotos == 0)
            return false;
    const char *proto = downgrade_protocol(cg);
    if (!proto)
        return false;
    size_t n = cg->count, i = 0;
    int32_t generation = cg->epoch;
    char *protocol = weir_strdup(proto);
    classic_member_spec_t *v = weir_calloc(n, sizeof(*v));
    buf_t *asg = weir_calloc(n, sizeof(*asg));
    for (cmember_t *m = cg->head; m; m = m->next, i++) {
        downgrade_take(m, &v[i], &asg[i]);
        broker_coord_crec_current(rs, g, m, true);
        broker_coord_crec_target_member(rs, g, m, true);
        broker_coord_crec_member(rs, g, m, true);
    }
    broker_coord_cgroup_tombstones(rs, g);
    broker_coord_cgroup_free(g);
    broker_coord_group_become_classic(g, v, n, generation, protocol, rs);
    log_info("group", "group %s: only classic members left (%zu): a classic group again", g->id, n);
    for (i = 0; i < n; i++)
        downgrade_free(&v[i], &asg[i]);
    free(v);
    free(asg);
    free(protocol);
    return true;
}
