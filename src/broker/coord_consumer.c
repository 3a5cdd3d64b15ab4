/*
 * coord_consumer.c: consumer groups, the next-generation rebalance protocol of KIP-848
 * (ConsumerGroupHeartbeat), beside the classic groups of coord.c in the same coordinator.
 *
 * The broker computes the assignment. A group has an epoch, bumped whenever what the
 * assignment depends on changes (a member joins, leaves or changes its subscription; a
 * subscribed topic appears or grows); the target assignment is recomputed for the new epoch by
 * the group's assignor (coord_assign.c). Each member then moves to it on its own heartbeats,
 * revoking before assigning: a member that owns partitions its target no longer has is told
 * to give them up first (UNREVOKED_PARTITIONS, epoch unchanged) and only when a heartbeat shows
 * they are gone does it move to the new epoch with its new partitions; a partition still owned
 * by another member is withheld (UNRELEASED_PARTITIONS) until that member has released it. So
 * no partition ever has two owners. A member that does not revoke within its rebalance
 * timeout, or sends no heartbeat within group.consumer.session.timeout.ms, is removed (fenced)
 * and the group moves on without it.
 *
 * State is written to __consumer_offsets in Kafka's record layouts (coord_consumer_records.c):
 * the group epoch, each member's subscription, the target assignment and each member's current
 * assignment, so a restart resumes every group and member where it was. A heartbeat that
 * changed any of it is answered once its records are durable.
 *
 * Invariants: a partition is in the owners map exactly while one member has it assigned or
 * pending revocation, and that member is the map's value; a member's epoch never exceeds the
 * group's assignment epoch, which never exceeds the group epoch; a member with epoch -2 is a
 * static member away for a while, keeping its partitions until its session ends.
 *
 * Threads: one, the coordinator thread (see coord.h).
 */
#include "broker/coord_internal.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

/* ---- small helpers -----------------------------------------------------------------------------
 */

const char *broker_coord_intern(broker_coord_t *c, const char *topic)
{
    char *s = broker_kvmap_sget(&c->topic_names, topic);
    if (!s) {
        s = weir_strdup(topic);
        broker_kvmap_sput(&c->topic_names, s, s);
    }
    return s;
}

static void owner_key(const tp_t *tp, uint8_t *key, size_t *len)
{
    *len = broker_coord_offset_key(key, OFFSET_KEY_MAX, tp->topic, tp->partition);
}

static cmember_t *owner_get(cgroup_t *cg, const tp_t *tp)
{
    uint8_t key[OFFSET_KEY_MAX];
    size_t n;
    owner_key(tp, key, &n);
    return n ? broker_kvmap_get(&cg->owners, key, n) : NULL;
}

static void owner_set(cgroup_t *cg, const tp_t *tp, cmember_t *m)
{
    uint8_t key[OFFSET_KEY_MAX];
    size_t n;
    owner_key(tp, key, &n);
    if (n)
        broker_kvmap_put(&cg->owners, key, n, m);
}

/* Releases the partitions of a set that m owns. */
static void owners_release(cgroup_t *cg, const tpset_t *s, const cmember_t *m)
{
    for (size_t i = 0; i < s->n; i++) {
        uint8_t key[OFFSET_KEY_MAX];
        size_t n;
        owner_key(&s->v[i], key, &n);
        if (n && broker_kvmap_get(&cg->owners, key, n) == m)
            broker_kvmap_del(&cg->owners, key, n);
    }
}

static void owners_take(cgroup_t *cg, const tpset_t *s, cmember_t *m)
{
    for (size_t i = 0; i < s->n; i++)
        owner_set(cg, &s->v[i], m);
}

/* A member id as Kafka makes one (a random UUID in base64url, 22 characters). */
static char *cmember_id_new(void)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t u[16];
    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
        uint64_t a = (uint64_t)clock_mono_ns(), b = (uint64_t)clock_wall_ms() ^ (uint64_t)&u;
        memcpy(u, &a, 8);
        memcpy(u + 8, &b, 8);
    }
    char *id = weir_malloc(23);
    uint32_t acc = 0;
    int bits = 0, k = 0;
    for (int i = 0; i < 16; i++) {
        acc = (acc << 8) | u[i];
        bits += 8;
        while (bits >= 6) {
            id[k++] = b64[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    id[k++] = b64[(acc << (6 - bits)) & 63];
    id[k] = 0;
    return id;
}

const char *broker_coord_cgroup_state_name(const group_t *g)
{
    const cgroup_t *cg = g->cg;
    if (!cg || cg->count == 0)
        return "Empty";
    if (cg->epoch > cg->assignment_epoch)
        return "Assigning";
    for (const cmember_t *m = cg->head; m; m = m->next)
        if (m->epoch != cg->assignment_epoch || m->state != CM_STABLE)
            return "Reconciling";
    return "Stable";
}

bool broker_coord_cgroup_empty(const group_t *g)
{
    return !g->cg || g->cg->count == 0;
}

/* g->state mirrors membership for the code both kinds share (offsets expiry, deletion). */
void broker_coord_cgroup_sync_state(group_t *g)
{
    broker_group_state_t s = g->cg->count ? BROKER_GROUP_STABLE : BROKER_GROUP_EMPTY;
    if (g->state != s) {
        g->state = s;
        g->state_ts_ms = clock_wall_ms();
    }
}

/* ---- members -----------------------------------------------------------------------------------
 */

static void cmember_session_expired(void *arg);
static void cmember_rebalance_expired(void *arg);

cgroup_t *broker_coord_cgroup_new(group_t *g)
{
    cgroup_t *cg = weir_calloc(1, sizeof(*cg));
    broker_kvmap_init(&cg->members);
    broker_kvmap_init(&cg->statics);
    broker_kvmap_init(&cg->owners);
    cg->assignor = (assignor_t)g->c->cfg.consumer_assignors[0];
    g->cg = cg;
    free(g->protocol_type);
    g->protocol_type = weir_strdup("consumer");
    return cg;
}

static void subs_free(cmember_t *m)
{
    for (size_t i = 0; i < m->nsubs; i++)
        free(m->subs[i]);
    free(m->subs);
    m->subs = NULL;
    m->nsubs = 0;
}

static void regex_set(cmember_t *m, const char *re)
{
    if (m->has_re)
        regfree(&m->re);
    m->has_re = false;
    broker_coord_replace_str(&m->regex, re);
    if (!re)
        return;
    /* Kafka matches the whole name (Java's Pattern.matches): anchor the expression */
    size_t n = strlen(re) + 5;
    char *anchored = weir_malloc(n);
    snprintf(anchored, n, "^(%s)$", re);
    m->has_re = regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB) == 0;
    free(anchored);
}

cmember_t *broker_coord_cmember_add(group_t *g, const char *id)
{
    broker_coord_t *c = g->c;
    cgroup_t *cg = g->cg;
    cmember_t *m = weir_calloc(1, sizeof(*m));
    m->grp = g;
    m->id = weir_strdup(id);
    m->client_id = weir_strdup("");
    m->client_host = weir_strdup("");
    m->rebalance_timeout_ms = 300000;
    c->env.timer_init(c->env.ctx, &m->session_timer, cmember_session_expired, m);
    c->env.timer_init(c->env.ctx, &m->rebalance_timer, cmember_rebalance_expired, m);
    m->prev = cg->tail;
    if (cg->tail)
        cg->tail->next = m;
    else
        cg->head = m;
    cg->tail = m;
    cg->count++;
    broker_kvmap_sput(&cg->members, m->id, m);
    broker_coord_cgroup_sync_state(g);
    return m;
}

void broker_coord_cmember_set_instance(cmember_t *m, const char *instance_id)
{
    cgroup_t *cg = m->grp->cg;
    if (m->instance_id && broker_kvmap_sget(&cg->statics, m->instance_id) == m)
        broker_kvmap_sdel(&cg->statics, m->instance_id);
    broker_coord_replace_str(&m->instance_id, instance_id);
    if (m->instance_id)
        broker_kvmap_sput(&cg->statics, m->instance_id, m);
}

/* Unlinks and frees a member; its partitions become free. */
static void cmember_free(cmember_t *m)
{
    group_t *g = m->grp;
    cgroup_t *cg = g->cg;
    broker_coord_t *c = g->c;
    c->env.timer_stop(c->env.ctx, &m->session_timer);
    c->env.timer_stop(c->env.ctx, &m->rebalance_timer);
    owners_release(cg, &m->assigned, m);
    owners_release(cg, &m->revoking, m);
    broker_kvmap_sdel(&cg->members, m->id);
    if (m->instance_id && broker_kvmap_sget(&cg->statics, m->instance_id) == m)
        broker_kvmap_sdel(&cg->statics, m->instance_id);
    if (m->prev)
        m->prev->next = m->next;
    else
        cg->head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    else
        cg->tail = m->prev;
    cg->count--;
    tpset_free(&m->assigned);
    tpset_free(&m->revoking);
    tpset_free(&m->target);
    subs_free(m);
    regex_set(m, NULL);
    free(m->resolved);
    free(m->assignor);
    free(m->id);
    free(m->instance_id);
    free(m->rack_id);
    free(m->client_id);
    free(m->client_host);
    free(m);
    broker_coord_cgroup_sync_state(g);
}

void broker_coord_cmember_unload(cmember_t *m)
{
    cmember_free(m);
}

/* Replay of a member record: takes every string (NULL for null). */
void broker_coord_cmember_load_meta(cmember_t *m, char *instance_id, char *rack_id,
                                    char *client_id, char *client_host, char **subs,
                                    size_t nsubs, char *regex, int32_t rebalance_timeout_ms,
                                    char *assignor)
{
    broker_coord_cmember_set_instance(m, instance_id);
    free(instance_id);
    free(m->rack_id);
    m->rack_id = rack_id;
    free(m->client_id);
    m->client_id = client_id ? client_id : weir_strdup("");
    free(m->client_host);
    m->client_host = client_host ? client_host : weir_strdup("");
    subs_free(m);
    m->subs = subs;
    m->nsubs = nsubs;
    regex_set(m, regex);
    free(regex);
    m->rebalance_timeout_ms = rebalance_timeout_ms > 0 ? rebalance_timeout_ms : 300000;
    free(m->assignor);
    m->assignor = assignor;
    m->loaded = true;
}

/* The group record's tombstone on replay: the consumer group is gone (its offsets stay). */
void broker_coord_cgroup_drop(group_t *g)
{
    broker_coord_cgroup_free(g);
    free(g->protocol_type);
    g->protocol_type = NULL;
    g->state = BROKER_GROUP_EMPTY;
}

void broker_coord_cgroup_free(group_t *g)
{
    cgroup_t *cg = g->cg;
    if (!cg)
        return;
    while (cg->head)
        cmember_free(cg->head);
    broker_kvmap_deinit(&cg->members);
    broker_kvmap_deinit(&cg->statics);
    broker_kvmap_deinit(&cg->owners);
    free(cg);
    g->cg = NULL;
}

/* A heartbeat is a sign of life: the session starts again. */
static void cmember_touch(cmember_t *m)
{
    broker_coord_t *c = m->grp->c;
    c->env.timer_stop(c->env.ctx, &m->session_timer);
    broker_coord_timer_start(c, &m->session_timer, c->cfg.consumer_session_timeout_ms);
}

cmember_t *broker_coord_cmember_find(group_t *g, const char *id)
{
    return g->cg && id && *id ? broker_kvmap_sget(&g->cg->members, id) : NULL;
}

/* ---- subscriptions and the target assignment ---------------------------------------------------
 */

typedef struct {
    cmember_t *m;
    const char **v;
    size_t n, cap;
} resolve_t;

static void resolved_add(resolve_t *r, const char *topic)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i] == topic)
            return;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->v = weir_realloc(r->v, r->cap * sizeof(*r->v));
    }
    r->v[r->n++] = topic;
}

static void resolve_regex_one(void *arg, const char *topic)
{
    resolve_t *r = arg;
    if (regexec(&r->m->re, topic, 0, NULL, 0) == 0)
        resolved_add(r, broker_coord_intern(r->m->grp->c, topic));
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The topics m is subscribed to that exist: its names, and the topics its regex matches. */
void broker_coord_cmember_resolve(cmember_t *m)
{
    broker_coord_t *c = m->grp->c;
    resolve_t r = {.m = m};
    for (size_t i = 0; i < m->nsubs; i++)
        if (c->env.topic_partitions(c->env.ctx, m->subs[i]) > 0)
            resolved_add(&r, broker_coord_intern(c, m->subs[i]));
    if (m->has_re)
        c->env.topics_foreach(c->env.ctx, resolve_regex_one, &r);
    if (r.n > 1)
        qsort(r.v, r.n, sizeof(*r.v), str_ptr_cmp);
    free(m->resolved);
    m->resolved = r.v;
    m->nresolved = r.n;
}

/* The topics of every member's subscription with their partition counts, sorted, and a hash
 * of them: when it changes, the group epoch goes up and the assignment is computed again. */
static size_t group_topics(group_t *g, assign_topic_t **out, uint64_t *hash)
{
    broker_coord_t *c = g->c;
    size_t n = 0, cap = 0;
    assign_topic_t *v = NULL;
    for (cmember_t *m = g->cg->head; m; m = m->next) {
        for (size_t i = 0; i < m->nresolved; i++) {
            bool seen = false;
            for (size_t k = 0; k < n && !seen; k++)
                seen = v[k].topic == m->resolved[i];
            if (seen)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                v = weir_realloc(v, cap * sizeof(*v));
            }
            v[n++] = (assign_topic_t){m->resolved[i], 0};
        }
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), str_ptr_cmp); /* topic is the first member */
    uint64_t h = 1469598103934665603ULL;
    for (size_t k = 0; k < n; k++) {
        int32_t p = c->env.topic_partitions(c->env.ctx, v[k].topic);
        v[k].partitions = p > 0 ? p : 0;
        for (const char *s = v[k].topic; *s; s++)
            h = (h ^ (uint8_t)*s) * 1099511628211ULL;
        h = (h ^ (uint64_t)(uint32_t)v[k].partitions) * 1099511628211ULL;
    }
    *out = v;
    *hash = n ? h : 0;
    return n;
}

/* The assignor the members ask for most (ties: the configured order), else the default. */
static assignor_t group_pick_assignor(group_t *g)
{
    broker_coord_config_t *cfg = &g->c->cfg;
    size_t votes[2] = {0, 0};
    for (cmember_t *m = g->cg->head; m; m = m->next) {
        assignor_t a;
        if (m->assignor && broker_coord_assignor_parse(m->assignor, &a) == 0)
            votes[a]++;
    }
    assignor_t best = (assignor_t)cfg->consumer_assignors[0];
    for (size_t i = 0; i < cfg->consumer_assignor_count; i++) {
        assignor_t a = (assignor_t)cfg->consumer_assignors[i];
        if (votes[a] > votes[best])
            best = a;
    }
    return best;
}

/* Computes the target assignment of the current group epoch; the members whose target changed
 * get their records in rs. */
static void group_compute_target(group_t *g, recset_t *rs)
{
    cgroup_t *cg = g->cg;
    size_t n = cg->count;
    assign_topic_t *topics;
    uint64_t hash;
    size_t nt = group_topics(g, &topics, &hash);
    assign_member_t *am = weir_calloc(n ? n : 1, sizeof(*am));
    tpset_t *prev = weir_calloc(n ? n : 1, sizeof(*prev));
    tpset_t *out = weir_calloc(n ? n : 1, sizeof(*out));
    size_t i = 0;
    for (cmember_t *m = cg->head; m; m = m->next, i++) {
        am[i] = (assign_member_t){m->id, m->resolved, m->nresolved};
        prev[i] = m->target; /* a view: not freed here */
    }
    cg->assignor = group_pick_assignor(g);
    broker_coord_assign(cg->assignor, am, n, topics, nt, prev, out);
    i = 0;
    for (cmember_t *m = cg->head; m; m = m->next, i++) {
        if (!tpset_eq(&m->target, &out[i]))
            broker_coord_crec_target_member(rs, g, m, false);
        tpset_copy(&m->target, &out[i]);
        tpset_free(&out[i]);
    }
    cg->assignment_epoch = cg->epoch;
    broker_coord_crec_target_meta(rs, g, false);
    free(out);
    free(prev);
    free(am);
    free(topics);
}

/* The group epoch goes up (what the assignment depends on changed). */
static void group_bump(group_t *g, recset_t *rs, const char *why)
{
    cgroup_t *cg = g->cg;
    cg->epoch++;
    assign_topic_t *topics;
    group_topics(g, &topics, &cg->topics_hash);
    free(topics);
    log_info("group", "consumer group %s: epoch %d (%s), %zu members", g->id, cg->epoch, why,
             cg->count);
    broker_coord_crec_group(rs, g, false);
}

/* ---- reconciliation (revoke before assign) -------------------------------------------------------
 */

static bool owned_has_any(const tpset_t *owned, const tpset_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (tpset_has(owned, s->v[i].topic, s->v[i].partition))
            return true;
    return false;
}

/* Moves m toward its target; owned is what its heartbeat says it owns (NULL: not told).
 * Returns true when m's current assignment changed. */
static bool cmember_reconcile(cmember_t *m, const tpset_t *owned)
{
    group_t *g = m->grp;
    cgroup_t *cg = g->cg;
    broker_coord_t *c = g->c;
    int32_t target_epoch = cg->assignment_epoch;
    if (m->state == CM_UNREVOKED) {
        if (!owned || owned_has_any(owned, &m->revoking))
            return false; /* still revoking */
        owners_release(cg, &m->revoking, m);
        tpset_clear(&m->revoking);
    } else if (m->state == CM_STABLE && m->epoch == target_epoch) {
        return false;
    }
    tpset_t kept = {0}, revoke = {0};
    for (size_t i = 0; i < m->assigned.n; i++) {
        const tp_t *tp = &m->assigned.v[i];
        tpset_add(tpset_has(&m->target, tp->topic, tp->partition) ? &kept : &revoke, tp->topic,
                  tp->partition);
    }
    bool changed;
    if (revoke.n > 0) {
        changed = true;
        tpset_copy(&m->assigned, &kept);
        tpset_copy(&m->revoking, &revoke);
        m->state = CM_UNREVOKED;
        c->env.timer_stop(c->env.ctx, &m->rebalance_timer);
        broker_coord_timer_start(c, &m->rebalance_timer, m->rebalance_timeout_ms);
    } else {
        bool unreleased = false;
        size_t before = m->assigned.n;
        for (size_t i = 0; i < m->target.n; i++) {
            const tp_t *tp = &m->target.v[i];
            cmember_t *owner = owner_get(cg, tp);
            if (owner && owner != m) {
                unreleased = true;
                continue;
            }
            tpset_add(&m->assigned, tp->topic, tp->partition);
            owner_set(cg, tp, m);
        }
        changed = m->assigned.n != before || m->epoch != target_epoch ||
                  m->state != (unreleased ? CM_UNRELEASED : CM_STABLE);
        if (m->epoch != target_epoch) {
            m->prev_epoch = m->epoch;
            m->epoch = target_epoch;
        }
        m->state = unreleased ? CM_UNRELEASED : CM_STABLE;
        c->env.timer_stop(c->env.ctx, &m->rebalance_timer);
    }
    tpset_free(&kept);
    tpset_free(&revoke);
    return changed;
}

/* ---- fencing -----------------------------------------------------------------------------------
 */

/* Removes m from the group for good (left, fenced, or its session ended): its records get
 * tombstones, its partitions become free and the group epoch goes up. */
void broker_coord_cmember_remove(cmember_t *m, recset_t *rs, const char *why)
{
    group_t *g = m->grp;
    log_info("group", "consumer group %s: member %s removed (%s)", g->id, m->id, why);
    broker_coord_crec_current(rs, g, m, true);
    broker_coord_crec_target_member(rs, g, m, true);
    broker_coord_crec_member(rs, g, m, true);
    cmember_free(m);
    group_bump(g, rs, why);
}

static void cmember_fence(cmember_t *m, const char *why)
{
    group_t *g = m->grp;
    recset_t rs;
    broker_coord_recset_init(&rs);
    broker_coord_cmember_remove(m, &rs, why);
    broker_coord_recset_write(g->c, &rs, broker_coord_write_new(g->c, g, W_PLAIN, NULL));
}

static void cmember_session_expired(void *arg)
{
    cmember_fence(arg, "session timeout");
}

static void cmember_rebalance_expired(void *arg)
{
    cmember_fence(arg, "rebalance timeout: partitions not revoked");
}

/* ---- ConsumerGroupHeartbeat ----------------------------------------------------------------------
 */

/* The answer's memory (req->priv): one block freed by broker_coord_heartbeat_free. */
typedef struct {
    char *member_id;
    broker_cg_topic_parts_t *topics;
    int32_t *parts;
} hb_out_t;

void broker_coord_heartbeat_free(broker_consumer_heartbeat_req_t *req)
{
    hb_out_t *o = req->priv;
    if (!o)
        return;
    free(o->member_id);
    free(o->topics);
    free(o->parts);
    free(o);
    req->priv = NULL;
}

/* A set as the wire wants it: per topic its id and partitions. */
size_t broker_coord_tpset_topics(broker_coord_t *c, const tpset_t *s,
                                 broker_cg_topic_parts_t **topics, int32_t **parts)
{
    size_t nt = 0;
    for (size_t i = 0; i < s->n; i++)
        nt += i == 0 || s->v[i].topic != s->v[i - 1].topic;
    *topics = weir_calloc(nt ? nt : 1, sizeof(**topics));
    *parts = weir_calloc(s->n ? s->n : 1, sizeof(**parts));
    size_t t = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i == 0 || s->v[i].topic != s->v[i - 1].topic) {
            broker_cg_topic_parts_t *tp = &(*topics)[t++];
            tp->topic = s->v[i].topic;
            tp->partitions = &(*parts)[i];
            c->env.topic_id(c->env.ctx, tp->topic, tp->topic_id);
        }
        (*parts)[i] = s->v[i].partition;
        (*topics)[t - 1].count++;
    }
    return nt;
}

static void hb_fail(broker_consumer_heartbeat_req_t *req, int16_t error, const char *msg)
{
    req->error = error;
    req->error_message = msg;
    req->out_member_id = NULL;
    req->out_member_epoch = 0;
    req->heartbeat_interval_ms = 0;
    req->has_assignment = false;
}

/* The answer of a member: its id and epoch, and its assignment when asked for. */
static void hb_answer(broker_coord_t *c, broker_consumer_heartbeat_req_t *req, const cmember_t *m,
                      bool with_assignment)
{
    hb_out_t *o = weir_calloc(1, sizeof(*o));
    req->priv = o;
    o->member_id = weir_strdup(m->id);
    req->error = KAFKA_NONE;
    req->out_member_id = o->member_id;
    req->out_member_epoch = m->epoch;
    req->heartbeat_interval_ms = c->cfg.consumer_heartbeat_interval_ms;
    req->has_assignment = with_assignment;
    if (with_assignment)
        req->nassigned = broker_coord_tpset_topics(c, &m->assigned, &o->topics, &o->parts);
    req->assigned = o->topics;
}

/* Kafka's checks of a heartbeat's fields (INVALID_REQUEST and its message, else 0). */
static int16_t hb_validate(broker_coord_t *c, const broker_consumer_heartbeat_req_t *req,
                           const char **msg)
{
    int32_t e = req->member_epoch;
    *msg = NULL;
    if (!req->group_id || !*req->group_id)
        *msg = "GroupId can't be empty.";
    else if (req->instance_id && !*req->instance_id)
        *msg = "InstanceId can't be empty.";
    else if (req->rack_id && !*req->rack_id)
        *msg = "RackId can't be empty.";
    else if ((req->api_version >= 1 || e > 0 || e == -1 || e == -2) &&
             (!req->member_id || !*req->member_id))
        *msg = "MemberId can't be empty.";
    else if (e == 0 && req->rebalance_timeout_ms == -1)
        *msg = "RebalanceTimeoutMs must be provided in first request.";
    else if (e == 0 && (!req->has_owned || req->nowned > 0))
        *msg = "TopicPartitions must be empty when (re-)joining.";
    else if (e == 0 && !req->has_topics && !req->topic_regex)
        *msg = "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.";
    else if (e == -2 && !req->instance_id)
        *msg = "InstanceId can't be null.";
    else if (e < -2)
        *msg = "MemberEpoch is invalid.";
    if (*msg)
        return KAFKA_INVALID_REQUEST;
    assignor_t a;
    if (req->server_assignor && broker_coord_assignor_parse(req->server_assignor, &a) < 0) {
        *msg = "the server assignor is not supported (uniform, range)";
        return KAFKA_UNSUPPORTED_ASSIGNOR;
    }
    for (size_t i = 0; req->server_assignor && i < c->cfg.consumer_assignor_count; i++)
        if (c->cfg.consumer_assignors[i] == (int)a)
            return KAFKA_NONE;
    if (req->server_assignor) {
        *msg = "the server assignor is not enabled (group.consumer.assignors)";
        return KAFKA_UNSUPPORTED_ASSIGNOR;
    }
    return KAFKA_NONE;
}

/* The group of a heartbeat: a consumer group, made on a join (an empty classic group holding
 * only offsets becomes one, as in Kafka). NULL with the error set. */
static group_t *hb_group(broker_coord_t *c, broker_consumer_heartbeat_req_t *req)
{
    group_t *g = broker_coord_group_get(c, req->group_id);
    bool join = req->member_epoch == 0;
    if (!g && !join) {
        hb_fail(req, KAFKA_UNKNOWN_MEMBER_ID, "the group is unknown");
        return NULL;
    }
    if (!g)
        g = broker_coord_group_create(c, req->group_id);
    if (g->cg)
        return g;
    bool empty_classic = g->member_count == 0 && g->pending.count == 0 &&
                         g->state == BROKER_GROUP_EMPTY;
    if (!empty_classic || !join) {
        hb_fail(req, empty_classic ? KAFKA_UNKNOWN_MEMBER_ID : KAFKA_GROUP_ID_NOT_FOUND,
                "the group is a classic group");
        return NULL;
    }
    broker_coord_cgroup_new(g);
    return g;
}

/* -1: the member leaves; -2: a static member leaves for a while and keeps its partitions. */
static void hb_leave(group_t *g, broker_consumer_heartbeat_req_t *req, recset_t *rs)
{
    cmember_t *m = NULL;
    if (req->instance_id) {
        m = broker_kvmap_sget(&g->cg->statics, req->instance_id);
        if (m && strcmp(m->id, req->member_id) != 0) {
            hb_fail(req, KAFKA_FENCED_INSTANCE_ID, "the instance id belongs to another member");
            return;
        }
    } else {
        m = broker_coord_cmember_find(g, req->member_id);
    }
    if (!m) {
        hb_fail(req, KAFKA_UNKNOWN_MEMBER_ID, "the member is not in the group");
        return;
    }
    hb_out_t *o = weir_calloc(1, sizeof(*o));
    req->priv = o;
    o->member_id = weir_strdup(m->id);
    req->error = KAFKA_NONE;
    req->out_member_id = o->member_id;
    req->out_member_epoch = req->member_epoch;
    req->heartbeat_interval_ms = 0;
    req->has_assignment = false;
    if (req->member_epoch == -2) {
        m->epoch = -2; /* keeps its partitions until its session ends or it comes back */
        broker_coord_crec_current(rs, g, m, false);
        cmember_touch(m);
        return;
    }
    broker_coord_cmember_remove(m, rs, "member left");
}

/* Updates the member's subscription from the fields the heartbeat carries (null: unchanged);
 * true when it changed. */
static bool hb_update_subscription(cmember_t *m, const broker_consumer_heartbeat_req_t *req)
{
    bool changed = false;
    if (req->has_topics) {
        char **v = weir_calloc(req->ntopics ? req->ntopics : 1, sizeof(*v));
        size_t n = 0;
        for (size_t i = 0; i < req->ntopics; i++)
            v[n++] = weir_strdup(req->topics[i]);
        if (n > 1)
            qsort(v, n, sizeof(*v), str_ptr_cmp);
        size_t k = 0; /* unique */
        for (size_t i = 0; i < n; i++) {
            if (k > 0 && strcmp(v[k - 1], v[i]) == 0)
                free(v[i]);
            else
                v[k++] = v[i];
        }
        bool same = k == m->nsubs;
        for (size_t i = 0; same && i < k; i++)
            same = strcmp(v[i], m->subs[i]) == 0;
        subs_free(m);
        m->subs = v;
        m->nsubs = k;
        changed |= !same;
    }
    if (req->topic_regex && !broker_coord_str_eq(req->topic_regex, m->regex)) {
        regex_set(m, req->topic_regex);
        changed = true;
    }
    if (req->server_assignor && !broker_coord_str_eq(req->server_assignor, m->assignor)) {
        broker_coord_replace_str(&m->assignor, req->server_assignor);
        changed = true;
    }
    return changed;
}

/* The fields that do not change the assignment: kept, and stored when they change. */
static bool hb_update_details(cmember_t *m, const broker_consumer_heartbeat_req_t *req)
{
    bool changed = false;
    if (req->rebalance_timeout_ms != -1 && req->rebalance_timeout_ms != m->rebalance_timeout_ms) {
        m->rebalance_timeout_ms = req->rebalance_timeout_ms;
        changed = true;
    }
    if (req->rack_id && !broker_coord_str_eq(req->rack_id, m->rack_id)) {
        broker_coord_replace_str(&m->rack_id, req->rack_id);
        changed = true;
    }
    if (req->client_id && strcmp(req->client_id, m->client_id) != 0) {
        broker_coord_replace_str(&m->client_id, req->client_id);
        changed = true;
    }
    if (req->client_host && strcmp(req->client_host, m->client_host) != 0) {
        broker_coord_replace_str(&m->client_host, req->client_host);
        changed = true;
    }
    return changed;
}

/* The partitions a heartbeat says the member owns, by topic id; ids of unknown topics are
 * left out. NULL when the heartbeat did not say (its field was null). */
static tpset_t *hb_owned(broker_coord_t *c, const broker_consumer_heartbeat_req_t *req,
                         tpset_t *out)
{
    if (!req->has_owned)
        return NULL;
    for (size_t i = 0; i < req->nowned; i++) {
        char name[256];
        if (!c->env.topic_by_id(c->env.ctx, req->owned[i].topic_id, name, sizeof(name)))
            continue;
        const char *t = broker_coord_intern(c, name);
        for (size_t k = 0; k < req->owned[i].count; k++)
            tpset_add(out, t, req->owned[i].partitions[k]);
    }
    return out;
}

/* A static member back under a new member id (epoch 0 with its instance id) takes over the
 * entry it left with epoch -2: its partitions and epoch, without a rebalance. NULL with the
 * error set when the instance id is still in use. */
static cmember_t *hb_static_join(group_t *g, broker_consumer_heartbeat_req_t *req,
                                 const char *id, recset_t *rs, bool *replaced)
{
    cmember_t *old = broker_kvmap_sget(&g->cg->statics, req->instance_id);
    *replaced = false;
    if (!old || strcmp(old->id, id) == 0)
        return old;
    if (old->epoch != -2) {
        hb_fail(req, KAFKA_UNRELEASED_INSTANCE_ID, "the instance id is still used by a member");
        return NULL;
    }
    cmember_t *m = broker_coord_cmember_add(g, id); /* epoch 0: it reconciles from there */
    m->state = old->state;
    tpset_copy(&m->assigned, &old->assigned);
    tpset_copy(&m->revoking, &old->revoking);
    tpset_copy(&m->target, &old->target);
    owners_take(g->cg, &m->assigned, m);
    owners_take(g->cg, &m->revoking, m);
    broker_coord_crec_current(rs, g, old, true);
    broker_coord_crec_target_member(rs, g, old, true);
    broker_coord_crec_member(rs, g, old, true);
    log_info("group", "consumer group %s: static member %s is back as %s (was %s)", g->id,
             req->instance_id, id, old->id);
    cmember_free(old);
    broker_coord_cmember_set_instance(m, req->instance_id);
    broker_coord_crec_target_member(rs, g, m, false);
    *replaced = true;
    return m;
}

/* Epoch 0: a new member, a static member back, or a member starting over (it lost its
 * partitions: they become free). */
static cmember_t *hb_join(group_t *g, broker_consumer_heartbeat_req_t *req, recset_t *rs,
                          bool *new_member)
{
    broker_coord_t *c = g->c;
    char *made = NULL;
    const char *id = req->member_id;
    if (!id || !*id)
        id = made = cmember_id_new(); /* v0: the broker names the member */
    *new_member = false;
    cmember_t *m = NULL;
    bool replaced = false;
    if (req->instance_id) {
        m = hb_static_join(g, req, id, rs, &replaced);
        if (!m && req->error) {
            free(made);
            return NULL;
        }
    }
    if (!m)
        m = broker_coord_cmember_find(g, id);
    if (!m) {
        if (g->cg->count >= (size_t)c->cfg.max_size) {
            hb_fail(req, KAFKA_GROUP_MAX_SIZE_REACHED, "the group is full (group.max.size)");
            free(made);
            return NULL;
        }
        m = broker_coord_cmember_add(g, id);
        broker_coord_cmember_set_instance(m, req->instance_id);
        *new_member = true;
        log_info("group", "consumer group %s: member %s joined", g->id, m->id);
    } else if (!replaced) {
        owners_release(g->cg, &m->assigned, m); /* epoch 0: it owns nothing any more */
        owners_release(g->cg, &m->revoking, m);
        tpset_clear(&m->assigned);
        tpset_clear(&m->revoking);
        m->epoch = 0;
        m->state = CM_STABLE;
    }
    free(made);
    return m;
}

/* Epoch > 0: a member of the group, at its epoch or the one before (a lost answer) with
 * nothing it should not own any more. */
static cmember_t *hb_known(group_t *g, broker_consumer_heartbeat_req_t *req,
                           const tpset_t *owned)
{
    cmember_t *m = broker_coord_cmember_find(g, req->member_id);
    if (!m) {
        hb_fail(req, KAFKA_UNKNOWN_MEMBER_ID, "the member is not in the group");
        return NULL;
    }
    if (req->instance_id && !broker_coord_str_eq(req->instance_id, m->instance_id)) {
        hb_fail(req, KAFKA_FENCED_INSTANCE_ID, "the instance id belongs to another member");
        return NULL;
    }
    int32_t e = req->member_epoch;
    bool ok = e == m->epoch;
    if (!ok && e < m->epoch && e == m->prev_epoch) {
        ok = true;
        for (size_t i = 0; owned && i < owned->n; i++)
            ok = ok && tpset_has(&m->assigned, owned->v[i].topic, owned->v[i].partition);
    }
    if (!ok) {
        hb_fail(req, KAFKA_FENCED_MEMBER_EPOCH, "the member epoch is fenced");
        return NULL;
    }
    return m;
}

/* Joins or heartbeats (epoch >= 0): updates the member, recomputes the target when the group
 * epoch moved, reconciles the member and fills the answer. */
static void hb_member(group_t *g, broker_consumer_heartbeat_req_t *req, recset_t *rs)
{
    broker_coord_t *c = g->c;
    cgroup_t *cg = g->cg;
    tpset_t owned_set = {0};
    const tpset_t *owned = hb_owned(c, req, &owned_set);
    bool new_member = false;
    cmember_t *m = req->member_epoch == 0 ? hb_join(g, req, rs, &new_member)
                                          : hb_known(g, req, owned);
    if (!m) {
        tpset_free(&owned_set);
        return;
    }
    bool sub_changed = hb_update_subscription(m, req);
    if (sub_changed && req->topic_regex && !m->has_re) {
        hb_fail(req, KAFKA_INVALID_REGULAR_EXPRESSION, "the regular expression is not valid");
        if (new_member)
            cmember_free(m);
        tpset_free(&owned_set);
        return;
    }
    bool details = hb_update_details(m, req);
    if (sub_changed || details || new_member)
        broker_coord_crec_member(rs, g, m, false);
    cmember_touch(m);
    broker_coord_cmember_resolve(m);
    assign_topic_t *topics;
    uint64_t hash;
    group_topics(g, &topics, &hash);
    free(topics);
    if (new_member || sub_changed)
        group_bump(g, rs, new_member ? "member joined" : "subscription changed");
    else if (hash != cg->topics_hash)
        group_bump(g, rs, "subscribed topics changed");
    if (cg->epoch > cg->assignment_epoch)
        group_compute_target(g, rs);
    tpset_t before;
    memset(&before, 0, sizeof(before));
    tpset_copy(&before, &m->assigned);
    int32_t epoch_before = m->epoch;
    int8_t state_before = m->state;
    bool changed = cmember_reconcile(m, owned) || m->epoch != epoch_before ||
                   m->state != state_before || req->member_epoch == 0;
    if (changed)
        broker_coord_crec_current(rs, g, m, false);
    bool full = req->rebalance_timeout_ms != -1 && (req->has_topics || req->topic_regex) &&
                req->has_owned;
    hb_answer(c, req, m, req->member_epoch == 0 || full || !tpset_eq(&before, &m->assigned));
    tpset_free(&before);
    tpset_free(&owned_set);
}

void broker_coord_consumer_heartbeat(broker_coord_t *c, broker_consumer_heartbeat_req_t *req,
                                     void *waiter)
{
    const char *msg;
    req->priv = NULL;
    req->error = hb_validate(c, req, &msg);
    if (req->error) {
        hb_fail(req, req->error, msg);
        c->env.done(c->env.ctx, waiter);
        return;
    }
    group_t *g = hb_group(c, req);
    if (!g) {
        c->env.done(c->env.ctx, waiter);
        return;
    }
    recset_t rs;
    broker_coord_recset_init(&rs);
    if (req->member_epoch < 0)
        hb_leave(g, req, &rs);
    else
        hb_member(g, req, &rs);
    if (rs.n == 0) {
        broker_coord_recset_deinit(&rs);
        broker_coord_group_maybe_drop(g);
        c->env.done(c->env.ctx, waiter);
        return;
    }
    group_write_t *w = broker_coord_write_new(c, g, W_CONSUMER_HEARTBEAT, waiter);
    w->heartbeat = req;
    broker_coord_recset_write(c, &rs, w);
}

/* The records of a heartbeat are written: a failed write fails the heartbeat (the member will
 * rejoin), as Kafka answers a heartbeat whose records could not be appended. */
void broker_coord_heartbeat_stored(broker_consumer_heartbeat_req_t *req, int err)
{
    if (!err)
        return;
    broker_coord_heartbeat_free(req);
    hb_fail(req, broker_coord_write_err_code(err), "storing the group's state failed");
}

/* ---- the rest of the coordinator asks -------------------------------------------------------------
 */

void broker_coord_cgroup_list(group_t *g, broker_group_listing_t *out)
{
    *out = (broker_group_listing_t){.group_id = g->id,
                                    .protocol_type = "consumer",
                                    .state = broker_coord_cgroup_state_name(g),
                                    .type = "consumer"};
}

bool broker_coord_cgroup_subscribed(group_t *g, const char *topic)
{
    for (cmember_t *m = g->cg->head; m; m = m->next) {
        for (size_t i = 0; i < m->nresolved; i++)
            if (strcmp(m->resolved[i], topic) == 0)
                return true;
        for (size_t i = 0; i < m->nsubs; i++)
            if (strcmp(m->subs[i], topic) == 0)
                return true;
    }
    return false;
}

/* Kafka's ConsumerGroup.validateOffsetCommit: a standalone commit (no member id, epoch < 0) to
 * an empty group; else a member of the group, with OffsetCommit v9+, at its epoch (a newer one
 * is fenced, an older one stale). */
int16_t broker_coord_cgroup_commit_check(group_t *g, const broker_commit_req_t *req)
{
    bool anonymous = !req->member_id || !*req->member_id;
    if (anonymous && req->generation_id < 0 && g->cg->count == 0)
        return KAFKA_NONE;
    cmember_t *m = broker_coord_cmember_find(g, req->member_id);
    if (!m)
        return KAFKA_UNKNOWN_MEMBER_ID;
    if (req->api_version < 9)
        return KAFKA_UNSUPPORTED_VERSION;
    if (req->generation_id > m->epoch)
        return KAFKA_FENCED_MEMBER_EPOCH;
    if (req->generation_id < m->epoch)
        return KAFKA_STALE_MEMBER_EPOCH;
    return KAFKA_NONE;
}

/* Kafka's ConsumerGroup.validateOffsetFetch: no member id and epoch < 0 is an admin's fetch;
 * else a member at its epoch. */
int16_t broker_coord_cgroup_fetch_check(group_t *g, const char *member_id, int32_t member_epoch)
{
    if ((!member_id || !*member_id) && member_epoch < 0)
        return KAFKA_NONE;
    cmember_t *m = broker_coord_cmember_find(g, member_id);
    if (!m)
        return KAFKA_UNKNOWN_MEMBER_ID;
    return member_epoch == m->epoch ? KAFKA_NONE : KAFKA_STALE_MEMBER_EPOCH;
}

int16_t broker_coord_offset_fetch_check(broker_coord_t *c, const char *group_id,
                                        const char *member_id, int32_t member_epoch)
{
    group_t *g = broker_coord_group_get(c, group_id);
    if (g && g->cg)
        return broker_coord_cgroup_fetch_check(g, member_id, member_epoch);
    if ((!member_id || !*member_id) && member_epoch < 0)
        return KAFKA_NONE;
    /* a member id at a classic or unknown group: Kafka answers for the classic group's
     * generation, which OffsetFetch does not carry; an unknown group knows no member */
    return g ? KAFKA_NONE : KAFKA_UNKNOWN_MEMBER_ID;
}

/* DeleteGroups: tombstones for everything the group stored (it is empty). */
void broker_coord_cgroup_tombstones(recset_t *rs, group_t *g)
{
    broker_coord_crec_target_meta(rs, g, true);
    broker_coord_crec_group(rs, g, true);
}

/* A classic JoinGroup to an empty consumer group: it becomes classic (its offsets stay). */
bool broker_coord_cgroup_to_classic(group_t *g)
{
    if (!broker_coord_cgroup_empty(g))
        return false;
    recset_t rs;
    broker_coord_recset_init(&rs);
    broker_coord_cgroup_tombstones(&rs, g);
    broker_coord_recset_write(g->c, &rs, broker_coord_write_new(g->c, g, W_PLAIN, NULL));
    broker_coord_cgroup_free(g);
    free(g->protocol_type);
    g->protocol_type = NULL;
    return true;
}

/* After replay: members whose member record was never read are dropped; the others start
 * their sessions now and own their partitions. */
void broker_coord_cgroup_load_finish(group_t *g)
{
    cgroup_t *cg = g->cg;
    for (cmember_t *m = cg->head, *next; m; m = next) {
        next = m->next;
        if (!m->loaded) {
            cmember_free(m);
            continue;
        }
        owners_take(cg, &m->assigned, m);
        owners_take(cg, &m->revoking, m);
        broker_coord_cmember_resolve(m);
        cmember_touch(m);
    }
    assign_topic_t *topics;
    group_topics(g, &topics, &cg->topics_hash);
    free(topics);
    broker_coord_cgroup_sync_state(g);
}

/* ---- ConsumerGroupDescribe -----------------------------------------------------------------------
 */

/* Memory of a describe (req->priv): every block, freed together. */
typedef struct {
    void **p;
    size_t n, cap;
} desc_mem_t;

static void *desc_keep(desc_mem_t *dm, void *p)
{
    if (dm->n == dm->cap) {
        dm->cap = dm->cap ? dm->cap * 2 : 16;
        dm->p = weir_realloc(dm->p, dm->cap * sizeof(*dm->p));
    }
    dm->p[dm->n++] = p;
    return p;
}

static size_t desc_set(broker_coord_t *c, desc_mem_t *dm, const tpset_t *s,
                       const broker_cg_topic_parts_t **out)
{
    broker_cg_topic_parts_t *topics;
    int32_t *parts;
    size_t n = broker_coord_tpset_topics(c, s, &topics, &parts);
    desc_keep(dm, topics);
    desc_keep(dm, parts);
    *out = topics;
    return n;
}

static void desc_group(broker_coord_t *c, desc_mem_t *dm, group_t *g, broker_cg_desc_t *d)
{
    cgroup_t *cg = g->cg;
    d->state = broker_coord_cgroup_state_name(g);
    d->group_epoch = cg->epoch;
    d->assignment_epoch = cg->assignment_epoch;
    d->assignor = broker_coord_assignor_name(cg->assignor);
    d->nmembers = cg->count;
    broker_cg_member_desc_t *ms =
        desc_keep(dm, weir_calloc(cg->count ? cg->count : 1, sizeof(*ms)));
    size_t i = 0;
    for (cmember_t *m = cg->head; m; m = m->next, i++) {
        broker_cg_member_desc_t *x = &ms[i];
        *x = (broker_cg_member_desc_t){.member_id = m->id,
                                       .instance_id = m->instance_id,
                                       .rack_id = m->rack_id,
                                       .member_epoch = m->epoch,
                                       .client_id = m->client_id,
                                       .client_host = m->client_host,
                                       .nsubscribed = m->nsubs,
                                       .subscribed = (const char *const *)m->subs,
                                       .regex = m->regex};
        x->nassigned = desc_set(c, dm, &m->assigned, &x->assigned);
        x->ntarget = desc_set(c, dm, &m->target, &x->target);
    }
    d->members = ms;
}

void broker_coord_consumer_describe(broker_coord_t *c, broker_consumer_describe_req_t *req)
{
    desc_mem_t *dm = weir_calloc(1, sizeof(*dm));
    req->priv = dm;
    req->groups = desc_keep(dm, weir_calloc(req->count + 1, sizeof(*req->groups)));
    for (size_t i = 0; i < req->count; i++) {
        broker_cg_desc_t *d = &req->groups[i];
        const char *id = req->group_ids[i];
        group_t *g = id ? broker_coord_group_get(c, id) : NULL;
        d->state = "Dead";
        d->assignor = "";
        if (!id || !*id) {
            d->error = KAFKA_INVALID_GROUP_ID;
            d->error_message = "the group id is empty";
        } else if (!g) {
            d->error = KAFKA_GROUP_ID_NOT_FOUND;
            d->error_message = "the group is unknown";
        } else if (!g->cg) {
            d->error = KAFKA_GROUP_ID_NOT_FOUND;
            d->error_message = "the group is not a consumer group";
        } else {
            desc_group(c, dm, g, d);
        }
    }
}

void broker_coord_consumer_describe_free(broker_consumer_describe_req_t *req)
{
    desc_mem_t *dm = req->priv;
    if (!dm)
        return;
    for (size_t i = 0; i < dm->n; i++)
        free(dm->p[i]);
    free(dm->p);
    free(dm);
    req->priv = NULL;
}
