/*
 * coord_consumer.c: consumer groups, the next-generation rebalance protocol of KIP-848
 * (ConsumerGroupHeartbeat), beside the classic groups of coord.c in the same coordinator.
 *
 * The broker computes the assignment. A group has an epoch, bumped whenever what the
 * assignment depends on changes (a member joins, leaves or changes its subscription; a
 * subscribed topic appears or grows); the target assignment is recomputed for the new epoch by
 * the group's assignor (coord_assign.c). Each member then moves to it on its own heartbeats,
 * revoking before assigning: a member that owns partitions its target no longer has is told
 * to give them up first (its epoch unchanged) and only once a heartbeat shows they are gone
 * does it move to the new epoch with its new partitions; a partition still owned by another
 * member is withheld until that member has released it. So no partition ever has two owners.
 * A member that does not revoke within its rebalance timeout, or sends no heartbeat within
 * group.consumer.session.timeout.ms, is removed (fenced) and the group moves on without it.
 * The checks, their order and the error each gives follow Kafka 4's GroupMetadataManager.
 *
 * State is written to __consumer_offsets in Kafka's record layouts (coord_consumer_records.c):
 * the group epoch, each member's subscription, the target assignment and each member's current
 * assignment, so a restart resumes every group and member where it was. A heartbeat that
 * changed any of it is answered once its records are durable. coord_consumer_admin.c answers
 * what the rest of the coordinator asks of consumer groups (describe, list, offset checks).
 *
 * Invariants: a partition is in the owners map exactly while one member has it assigned or
 * pending revocation, and that member is the map's value; a member's epoch never exceeds the
 * group's assignment epoch, which never exceeds the group epoch; a member with epoch -2 is a
 * static member away for a while, keeping its partitions until its session ends.
 *
 * Threads: one, the coordinator thread (see coord.h).
 */
#include "broker/coord_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

enum { LEAVE_EPOCH = -1, LEAVE_STATIC_EPOCH = -2, DEFAULT_REBALANCE_TIMEOUT_MS = 300000 };

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

static cmember_t *owner_get(cgroup_t *cg, const tp_t *tp)
{
    uint8_t key[OFFSET_KEY_MAX];
    size_t n = broker_coord_offset_key(key, sizeof(key), tp->topic, tp->partition);
    return n ? broker_kvmap_get(&cg->owners, key, n) : NULL;
}

/* Sets (m) or clears (NULL, only if owned by `only`) the owner of each partition of s. */
static void owners_set(cgroup_t *cg, const tpset_t *s, cmember_t *m, const cmember_t *only)
{
    for (size_t i = 0; i < s->n; i++) {
        uint8_t key[OFFSET_KEY_MAX];
        size_t n = broker_coord_offset_key(key, sizeof(key), s->v[i].topic, s->v[i].partition);
        if (!n)
            continue;
        if (m)
            broker_kvmap_put(&cg->owners, key, n, m);
        else if (broker_kvmap_get(&cg->owners, key, n) == only)
            broker_kvmap_del(&cg->owners, key, n);
    }
}

/* The member's current assignment becomes (assigned, revoking); the owners map follows. */
void broker_coord_cmember_set_current(cmember_t *m, const tpset_t *assigned,
                                      const tpset_t *revoking)
{
    cgroup_t *cg = m->grp->cg;
    owners_set(cg, &m->assigned, NULL, m);
    owners_set(cg, &m->revoking, NULL, m);
    if (assigned != &m->assigned)
        tpset_copy(&m->assigned, assigned);
    if (revoking != &m->revoking)
        tpset_copy(&m->revoking, revoking);
    owners_set(cg, &m->assigned, m, NULL);
    owners_set(cg, &m->revoking, m, NULL);
}

/* A member id as Kafka makes one (a random UUID in base64url, 22 characters). */
char *broker_coord_cmember_id_new(void)
{
    uint8_t u[16];
    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
        uint64_t a = (uint64_t)clock_mono_ns(), b = (uint64_t)clock_wall_ms() ^ (uint64_t)&u;
        memcpy(u, &a, 8);
        memcpy(u + 8, &b, 8);
    }
    char *id = weir_malloc(32);
    base64url_encode(u, sizeof(u), id);
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
static void cgroup_sync_state(group_t *g)
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
    cg->assignor = (broker_assignor_t)g->c->cfg.consumer_assignors[0];
    g->cg = cg;
    broker_coord_replace_str(&g->protocol_type, "consumer");
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

/* Kafka's patterns (Java/RE2 syntax) as a POSIX extended expression that must match the whole
 * name (Pattern.matcher().matches()): anchored, with the classes \d and \D spelled out. NULL
 * for an expression that does not compile; its reason goes to why. */
static bool regex_compile(const char *re, regex_t *out, char *why, size_t why_len)
{
    size_t n = strlen(re);
    char *x = weir_malloc(n * 5 + 8);
    size_t k = 0;
    x[k++] = '^';
    x[k++] = '(';
    for (size_t i = 0; i < n; i++) {
        if (re[i] == '\\' && (re[i + 1] == 'd' || re[i + 1] == 'D')) {
            const char *cls = re[i + 1] == 'd' ? "[0-9]" : "[^0-9]";
            memcpy(x + k, cls, strlen(cls));
            k += strlen(cls);
            i++;
            continue;
        }
        x[k++] = re[i];
        if (re[i] == '\\' && i + 1 < n)
            x[k++] = re[++i];
    }
    x[k++] = ')';
    x[k++] = '$';
    x[k] = 0;
    int rc = regcomp(out, x, REG_EXTENDED | REG_NOSUB);
    free(x);
    if (rc != 0 && why) {
        regerror(rc, out, why, why_len);
        why[0] = (char)tolower((unsigned char)why[0]);
    }
    if (rc != 0)
        regfree(out);
    return rc == 0;
}

/* The member's regex ("" and NULL: none). */
static void cmember_set_regex(cmember_t *m, const char *re)
{
    if (m->has_re)
        regfree(&m->re);
    m->has_re = false;
    broker_coord_replace_str(&m->regex, re && *re ? re : NULL);
    if (m->regex)
        m->has_re = regex_compile(m->regex, &m->re, NULL, 0);
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
    m->rebalance_timeout_ms = DEFAULT_REBALANCE_TIMEOUT_MS;
    c->env.timer_init(c->env.ctx, &m->session_timer, cmember_session_expired, m);
    c->env.timer_init(c->env.ctx, &m->rebalance_timer, cmember_rebalance_expired, m);
    c->env.timer_init(c->env.ctx, &m->classic_timer, broker_coord_cmember_classic_expired, m);
    m->prev = cg->tail;
    if (cg->tail)
        cg->tail->next = m;
    else
        cg->head = m;
    cg->tail = m;
    cg->count++;
    broker_kvmap_sput(&cg->members, m->id, m);
    cgroup_sync_state(g);
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
    c->env.timer_stop(c->env.ctx, &m->classic_timer);
    owners_set(cg, &m->assigned, NULL, m);
    owners_set(cg, &m->revoking, NULL, m);
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
    cmember_set_regex(m, NULL);
    broker_coord_cmember_free_protos(m);
    free(m->resolved);
    free(m->assignor);
    free(m->id);
    free(m->instance_id);
    free(m->rack_id);
    free(m->client_id);
    free(m->client_host);
    free(m);
    cgroup_sync_state(g);
}

void broker_coord_cmember_unload(cmember_t *m)
{
    cmember_free(m);
}

void broker_coord_cmember_load_meta(cmember_t *m, char *instance_id, char *rack_id, char *client_id,
                                    char *client_host, char **subs, size_t nsubs, char *regex,
                                    int32_t rebalance_timeout_ms, char *assignor)
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
    cmember_set_regex(m, regex);
    free(regex);
    m->rebalance_timeout_ms =
        rebalance_timeout_ms > 0 ? rebalance_timeout_ms : DEFAULT_REBALANCE_TIMEOUT_MS;
    free(m->assignor);
    m->assignor = assignor;
    m->loaded = true;
}

/* While loading, owners are not tracked: load_finish takes them once every record is in. */
void broker_coord_cmember_load_current(cmember_t *m, int32_t epoch, int32_t prev_epoch,
                                       int8_t state, const tpset_t *assigned,
                                       const tpset_t *revoking)
{
    m->epoch = epoch;
    m->prev_epoch = prev_epoch;
    m->state = state >= CM_STABLE && state <= CM_UNRELEASED ? state : CM_STABLE;
    tpset_copy(&m->assigned, assigned);
    tpset_copy(&m->revoking, revoking);
}

/* The end of a load: the member owns its partitions, its session starts now, and a member
 * still revoking gets its rebalance timeout again. */
void broker_coord_cmember_loaded(cmember_t *m)
{
    broker_coord_t *c = m->grp->c;
    broker_coord_cmember_set_current(m, &m->assigned, &m->revoking);
    broker_coord_cmember_resolve(m);
    broker_coord_cmember_touch(m);
    if (m->state == CM_UNREVOKED)
        broker_coord_timer_start(c, &m->rebalance_timer, m->rebalance_timeout_ms);
}

void broker_coord_cgroup_drop(group_t *g)
{
    broker_coord_cgroup_free(g);
    broker_coord_replace_str(&g->protocol_type, NULL);
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
void broker_coord_cmember_touch(cmember_t *m)
{
    broker_coord_t *c = m->grp->c;
    broker_coord_timer_start(c, &m->session_timer,
                             m->classic ? m->session_timeout_ms
                                        : c->cfg.consumer_session_timeout_ms);
}

cmember_t *broker_coord_cmember_find(group_t *g, const char *id)
{
    return g->cg && id ? broker_kvmap_sget(&g->cg->members, id) : NULL;
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

/* The topics m is subscribed to that exist: its names, and the topics its regex matches
 * (internal topics never match, as in Kafka). */
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
 * of them (Kafka's metadata hash, in spirit): when it changes, the group epoch goes up and the
 * assignment is computed again. */
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

static uint64_t group_topics_hash(group_t *g)
{
    assign_topic_t *topics;
    uint64_t hash;
    group_topics(g, &topics, &hash);
    free(topics);
    return hash;
}

/* The assignor the members ask for most (ties: the configured order), else the default. */
broker_assignor_t broker_coord_cgroup_assignor(group_t *g)
{
    broker_coord_config_t *cfg = &g->c->cfg;
    size_t votes[2] = {0, 0};
    for (cmember_t *m = g->cg->head; m; m = m->next) {
        int a = m->assignor ? broker_coord_assignor_parse(m->assignor, strlen(m->assignor)) : -1;
        if (a >= 0)
            votes[a]++;
    }
    broker_assignor_t best = (broker_assignor_t)cfg->consumer_assignors[0];
    for (size_t i = 0; i < cfg->consumer_assignor_count; i++) {
        broker_assignor_t a = (broker_assignor_t)cfg->consumer_assignors[i];
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
    cg->assignor = broker_coord_cgroup_assignor(g);
    broker_coord_assign(cg->assignor, am, n, topics, nt, prev, out);
    i = 0;
    for (cmember_t *m = cg->head; m; m = m->next, i++) {
        if (!tpset_eq(&m->target, &out[i])) {
            tpset_copy(&m->target, &out[i]);
            broker_coord_crec_target_member(rs, g, m, false);
        }
        tpset_free(&out[i]);
    }
    cg->assignment_epoch = cg->epoch;
    broker_coord_crec_target_meta(rs, g, false);
    log_info("group", "consumer group %s: target assignment of epoch %d (%s, %zu members)", g->id,
             cg->epoch, broker_coord_assignor_name(cg->assignor), n);
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
    cg->topics_hash = group_topics_hash(g);
    log_info("group", "consumer group %s: epoch %d (%s), %zu members", g->id, cg->epoch, why,
             cg->count);
    broker_coord_crec_group(rs, g, false);
}

/* After the online upgrade (coord_consumer_classic.c): the group's own records. */
void broker_coord_cgroup_upgraded(group_t *g, recset_t *rs)
{
    g->cg->topics_hash = group_topics_hash(g);
    broker_coord_crec_group(rs, g, false);
    broker_coord_crec_target_meta(rs, g, false);
}

void broker_coord_cgroup_advance(group_t *g, recset_t *rs, bool sub_changed, bool created)
{
    cgroup_t *cg = g->cg;
    if (cg->epoch == 0 || sub_changed)
        group_bump(g, rs, created ? "member joined" : "subscription changed");
    else if (group_topics_hash(g) != cg->topics_hash)
        group_bump(g, rs, "subscribed topics changed");
    if (cg->epoch > cg->assignment_epoch)
        group_compute_target(g, rs);
}

/* ---- reconciliation (revoke before assign): Kafka's CurrentAssignmentBuilder -----------------
 */

/* Whether the member may still own any partition of s: it does unless its heartbeat said what
 * it owns (owned non-NULL) and none of s is there. */
static bool owns_any(const tpset_t *owned, const tpset_t *s)
{
    if (!owned)
        return true;
    for (size_t i = 0; i < s->n; i++)
        if (tpset_has(owned, s->v[i].topic, s->v[i].partition))
            return true;
    return false;
}

static void cmember_set_epoch(cmember_t *m, int32_t epoch)
{
    m->prev_epoch = m->epoch;
    m->epoch = epoch;
}

/* Moves m toward its target from its assigned partitions: it keeps what both have; what it
 * has beyond the target it must revoke first (same epoch); otherwise it moves to the target
 * epoch and takes the target's partitions that no other member owns. */
static void cmember_next(cmember_t *m, const tpset_t *owned)
{
    group_t *g = m->grp;
    cgroup_t *cg = g->cg;
    broker_coord_t *c = g->c;
    tpset_t kept = {0}, revoke = {0};
    for (size_t i = 0; i < m->assigned.n; i++) {
        const tp_t *tp = &m->assigned.v[i];
        tpset_add_epoch(tpset_has(&m->target, tp->topic, tp->partition) ? &kept : &revoke,
                        tp->topic, tp->partition, tp->epoch);
    }
    tpset_t none = {0};
    if (revoke.n > 0 && owns_any(owned, &revoke)) {
        cmember_set_epoch(m, m->epoch);
        m->state = CM_UNREVOKED;
        broker_coord_cmember_set_current(m, &kept, &revoke);
        broker_coord_timer_start(c, &m->rebalance_timer, m->rebalance_timeout_ms);
    } else {
        bool unreleased = false;
        for (size_t i = 0; i < m->target.n; i++) {
            const tp_t *tp = &m->target.v[i];
            if (tpset_has(&kept, tp->topic, tp->partition))
                continue;
            cmember_t *owner = owner_get(cg, tp);
            if (owner && owner != m)
                unreleased = true;
            else
                tpset_add_epoch(&kept, tp->topic, tp->partition, cg->assignment_epoch);
        }
        cmember_set_epoch(m, cg->assignment_epoch);
        m->state = unreleased ? CM_UNRELEASED : CM_STABLE;
        broker_coord_cmember_set_current(m, &kept, &none);
        c->env.timer_stop(c->env.ctx, &m->rebalance_timer);
    }
    tpset_free(&kept);
    tpset_free(&revoke);
}

/* One reconciliation step on a heartbeat; owned is what the heartbeat says m owns (NULL: not
 * told). True when m's current assignment, epoch or state changed. */
bool broker_coord_cmember_reconcile(cmember_t *m, const tpset_t *owned)
{
    cgroup_t *cg = m->grp->cg;
    int32_t epoch = m->epoch, prev = m->prev_epoch;
    int8_t state = m->state;
    tpset_t before = {0};
    tpset_copy(&before, &m->assigned);
    size_t revoking = m->revoking.n;
    if (m->state == CM_UNREVOKED) {
        if (!owns_any(owned, &m->revoking))
            cmember_next(m, owned);
    } else if (m->state == CM_UNRELEASED || m->epoch != cg->assignment_epoch) {
        cmember_next(m, owned);
    }
    bool changed = m->epoch != epoch || m->prev_epoch != prev || m->state != state ||
                   m->revoking.n != revoking || !tpset_eq(&before, &m->assigned);
    tpset_free(&before);
    return changed;
}

/* ---- removal -----------------------------------------------------------------------------------
 */

/* Removes m from the group for good (left, fenced, or its session ended): its records get
 * tombstones, its partitions become free and (bump) the group epoch goes up. */
void broker_coord_cmember_remove(cmember_t *m, recset_t *rs, const char *why, bool bump)
{
    group_t *g = m->grp;
    log_info("group", "consumer group %s: member %s removed (%s)", g->id, m->id, why);
    broker_coord_crec_current(rs, g, m, true);
    broker_coord_crec_target_member(rs, g, m, true);
    broker_coord_crec_member(rs, g, m, true);
    cmember_free(m);
    if (bump)
        group_bump(g, rs, why);
}

/* Removes m; when it was the last member on the consumer protocol and only classic members
 * are left, the group becomes classic again (Kafka's online downgrade), otherwise the group
 * epoch goes up. */
static void cmember_remove_or_downgrade(cmember_t *m, recset_t *rs, const char *why)
{
    group_t *g = m->grp;
    bool consumer = !m->classic;
    broker_coord_cmember_remove(m, rs, why, false);
    if (!consumer || !broker_coord_cgroup_maybe_downgrade(g, rs))
        group_bump(g, rs, why);
}

static void cmember_fence(cmember_t *m, const char *why)
{
    group_t *g = m->grp;
    recset_t rs;
    broker_coord_recset_init(&rs);
    cmember_remove_or_downgrade(m, &rs, why);
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

/* ---- ConsumerGroupHeartbeat: checks ------------------------------------------------------------
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

/* Fails the heartbeat with a Kafka ErrorCode and Kafka's message for it. Returns false, so
 * checks read `if (...) return hb_fail(...)`. */
__attribute__((format(printf, 3, 4))) static bool hb_fail(broker_consumer_heartbeat_req_t *req,
                                                          int16_t code, const char *fmt, ...)
{
    req->err.code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->err.message, sizeof(req->err.message), fmt, ap);
    va_end(ap);
    req->out_member_id = NULL;
    req->out_member_epoch = 0;
    req->heartbeat_interval_ms = 0;
    req->has_assignment = false;
    return false;
}

/* Utils.throwIfEmptyString: present, but nothing but blanks. */
static bool blank(const char *s)
{
    if (!s)
        return false;
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == 0;
}

/* Kafka's checks of a heartbeat's fields, in Kafka's order. */
static bool hb_validate(broker_coord_t *c, broker_consumer_heartbeat_req_t *req)
{
    int32_t e = req->member_epoch;
    int16_t bad = KAFKA_INVALID_REQUEST;
    if ((req->api_version >= 1 || e > 0 || e == LEAVE_EPOCH) && blank(req->member_id))
        return hb_fail(req, bad, "MemberId can't be empty.");
    if (blank(req->group_id))
        return hb_fail(req, bad, "GroupId can't be empty.");
    if (blank(req->instance_id))
        return hb_fail(req, bad, "InstanceId can't be empty.");
    if (blank(req->rack_id))
        return hb_fail(req, bad, "RackId can't be empty.");
    if (e == 0 && req->rebalance_timeout_ms == -1)
        return hb_fail(req, bad, "RebalanceTimeoutMs must be provided in first request.");
    if (e == 0 && (!req->has_owned || req->nowned > 0))
        return hb_fail(req, bad, "TopicPartitions must be empty when (re-)joining.");
    if (e == 0 && !req->has_topics && !req->topic_regex)
        return hb_fail(req, bad,
                       "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null "
                       "when (re-)joining.");
    if (e == LEAVE_STATIC_EPOCH && !req->instance_id)
        return hb_fail(req, bad, "InstanceId can't be null.");
    if (e < LEAVE_STATIC_EPOCH)
        return hb_fail(req, bad, "MemberEpoch is invalid.");
    const char *a = req->server_assignor;
    int which = a ? broker_coord_assignor_parse(a, strlen(a)) : 0;
    bool enabled = false;
    for (size_t i = 0; a && which >= 0 && i < c->cfg.consumer_assignor_count; i++)
        enabled |= c->cfg.consumer_assignors[i] == which;
    if (a && !enabled) {
        const char *names[2];
        for (size_t i = 0; i < c->cfg.consumer_assignor_count; i++)
            names[i] = broker_coord_assignor_name(c->cfg.consumer_assignors[i]);
        return hb_fail(req, KAFKA_UNSUPPORTED_ASSIGNOR,
                       "ServerAssignor %s is not supported. Supported assignors: %s%s%s.", a,
                       names[0], c->cfg.consumer_assignor_count > 1 ? ", " : "",
                       c->cfg.consumer_assignor_count > 1 ? names[1] : "");
    }
    regex_t re;
    char why[128];
    if (req->topic_regex && *req->topic_regex) {
        if (!regex_compile(req->topic_regex, &re, why, sizeof(why)))
            return hb_fail(req, KAFKA_INVALID_REGULAR_EXPRESSION,
                           "SubscribedTopicRegex `%s` is not a valid regular expression: %s.",
                           req->topic_regex, why);
        regfree(&re);
    }
    return true;
}

/* An empty classic group (it holds offsets only) becomes a consumer group on a join, as in
 * Kafka; its classic record gets a tombstone. */
static void hb_convert_empty_classic(group_t *g, recset_t *rs)
{
    broker_coord_recset_add_group(rs, g, true);
    broker_coord_group_clear_classic(g, KAFKA_REBALANCE_IN_PROGRESS);
    broker_coord_cgroup_new(g);
    log_info("group", "group %s: the empty classic group becomes a consumer group", g->id);
}

/* The group of a heartbeat: a consumer group, made on a join. NULL with the error set. */
static group_t *hb_group(broker_coord_t *c, broker_consumer_heartbeat_req_t *req, recset_t *rs)
{
    group_t *g = broker_coord_group_get(c, req->group_id);
    bool join = req->member_epoch == 0;
    if (!g && req->member_epoch < 0)
        return hb_fail(req, KAFKA_GROUP_ID_NOT_FOUND, "Group %s not found.", req->group_id), NULL;
    if (!g && !join)
        return hb_fail(req, KAFKA_GROUP_ID_NOT_FOUND, "Consumer group %s not found.",
                       req->group_id),
               NULL;
    if (!g) {
        g = broker_coord_group_create(c, req->group_id);
        broker_coord_cgroup_new(g);
    }
    if (g->cg)
        return g;
    bool empty_classic =
        g->member_count == 0 && g->pending.count == 0 && g->state == BROKER_GROUP_EMPTY;
    if (join && empty_classic) {
        hb_convert_empty_classic(g, rs);
        return g;
    }
    if (join && broker_coord_cgroup_upgradable(g)) {
        broker_coord_cgroup_upgrade(g, rs); /* Kafka 4's online upgrade */
        return g;
    }
    if (join)
        hb_fail(req, KAFKA_GROUP_ID_NOT_FOUND,
                "Cannot upgrade classic group %s to consumer group because the group does not "
                "use the consumer embedded protocol.",
                req->group_id);
    else
        hb_fail(req, KAFKA_GROUP_ID_NOT_FOUND, "Group %s is not a consumer group.", req->group_id);
    return NULL;
}

/* Kafka's check of a known member's epoch: the current one, or the one before with nothing
 * beyond its assignment (the answer that bumped it was lost). */
static bool hb_check_epoch(broker_consumer_heartbeat_req_t *req, const cmember_t *m,
                           const tpset_t *owned)
{
    int32_t e = req->member_epoch;
    bool subset = owned != NULL;
    for (size_t i = 0; owned && i < owned->n; i++)
        subset = subset && tpset_has(&m->assigned, owned->v[i].topic, owned->v[i].partition);
    if (e > m->epoch || (e < m->epoch && (e != m->prev_epoch || !subset)))
        return hb_fail(req, KAFKA_FENCED_MEMBER_EPOCH,
                       "The consumer group member has a %s member epoch (%d) than the one known "
                       "by the group coordinator (%d). The member must abandon all its "
                       "partitions and rejoin.",
                       e > m->epoch ? "greater" : "smaller", e, m->epoch);
    return true;
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

/* ---- ConsumerGroupHeartbeat: the member ------------------------------------------------------
 */

/* The member of a heartbeat without an instance id: made on a join, else known, at an epoch
 * Kafka accepts. NULL with the error set. */
static cmember_t *hb_dynamic(group_t *g, broker_consumer_heartbeat_req_t *req, const char *id,
                             const tpset_t *owned, bool *created)
{
    cmember_t *m = broker_coord_cmember_find(g, id);
    if (!m && req->member_epoch != 0)
        return hb_fail(req, KAFKA_UNKNOWN_MEMBER_ID, "Member %s is not a member of group %s.", id,
                       g->id),
               NULL;
    if (m)
        return hb_check_epoch(req, m, owned) ? m : NULL;
    *created = true;
    log_info("group", "consumer group %s: member %s joins", g->id, id);
    return broker_coord_cmember_add(g, id);
}

/* What a static member's new entry takes over from the one it left with epoch -2. */
typedef struct {
    char *instance_id, *rack_id, *assignor, *regex;
    char **subs;
    size_t nsubs;
    int32_t rebalance_timeout_ms;
    int8_t state;
    tpset_t assigned, revoking, target;
} static_carry_t;

/* A static member back under a member id (epoch 0) takes over the entry it left with epoch
 * -2: its subscription and assignment, at epoch 0, from where it reconciles without a
 * rebalance. The old entry's records get tombstones, the new one's are written. */
static cmember_t *hb_static_replace(group_t *g, cmember_t *old, const char *id, recset_t *rs)
{
    static_carry_t k = {.instance_id = weir_strdup(old->instance_id),
                        .rack_id = old->rack_id ? weir_strdup(old->rack_id) : NULL,
                        .assignor = old->assignor ? weir_strdup(old->assignor) : NULL,
                        .regex = old->regex ? weir_strdup(old->regex) : NULL,
                        .subs = old->subs,
                        .nsubs = old->nsubs,
                        .rebalance_timeout_ms = old->rebalance_timeout_ms,
                        .state = old->state};
    old->subs = NULL, old->nsubs = 0;
    tpset_copy(&k.assigned, &old->assigned);
    tpset_copy(&k.revoking, &old->revoking);
    tpset_copy(&k.target, &old->target);
    broker_coord_crec_current(rs, g, old, true);
    broker_coord_crec_target_member(rs, g, old, true);
    broker_coord_crec_member(rs, g, old, true);
    log_info("group", "consumer group %s: static member %s is back as %s (was %s)", g->id,
             k.instance_id, id, old->id);
    cmember_free(old);
    cmember_t *m = broker_coord_cmember_add(g, id);
    broker_coord_cmember_set_instance(m, k.instance_id);
    m->rack_id = k.rack_id, m->assignor = k.assignor;
    m->subs = k.subs, m->nsubs = k.nsubs;
    cmember_set_regex(m, k.regex);
    m->rebalance_timeout_ms = k.rebalance_timeout_ms;
    m->state = k.state;
    broker_coord_cmember_set_current(m, &k.assigned, &k.revoking);
    tpset_copy(&m->target, &k.target);
    broker_coord_crec_member(rs, g, m, false);
    broker_coord_crec_target_member(rs, g, m, false);
    free(k.instance_id);
    free(k.regex);
    tpset_free(&k.assigned);
    tpset_free(&k.revoking);
    tpset_free(&k.target);
    return m;
}

/* The member of a heartbeat with an instance id (static membership, KIP-345 as KIP-848 keeps
 * it). NULL with the error set. */
static cmember_t *hb_static(group_t *g, broker_consumer_heartbeat_req_t *req, const char *id,
                            const tpset_t *owned, recset_t *rs, bool *created)
{
    const char *inst = req->instance_id;
    cmember_t *old = broker_kvmap_sget(&g->cg->statics, inst);
    if (req->member_epoch == 0) {
        if (!old) {
            cmember_t *m = broker_coord_cmember_find(g, id);
            if (!m) {
                m = broker_coord_cmember_add(g, id);
                *created = true;
                log_info("group", "consumer group %s: static member %s (%s) joins", g->id, id,
                         inst);
            }
            broker_coord_cmember_set_instance(m, inst);
            return m;
        }
        if (old->epoch != LEAVE_STATIC_EPOCH)
            return hb_fail(req, KAFKA_UNRELEASED_INSTANCE_ID,
                           "Static member %s with instance id %s cannot join the group because "
                           "the instance id is owned by %s member.",
                           id, inst, old->id),
                   NULL;
        return hb_static_replace(g, old, id, rs);
    }
    if (!old)
        return hb_fail(req, KAFKA_UNKNOWN_MEMBER_ID, "Instance id %s is unknown.", inst), NULL;
    if (strcmp(old->id, id) != 0)
        return hb_fail(req, KAFKA_FENCED_INSTANCE_ID,
                       "Static member %s with instance id %s was fenced by member %s.", id, inst,
                       old->id),
               NULL;
    return hb_check_epoch(req, old, owned) ? old : NULL;
}

/* -1: the member leaves; -2: a static member leaves for a while and keeps its partitions. */
static void hb_leave(group_t *g, broker_consumer_heartbeat_req_t *req, recset_t *rs)
{
    cmember_t *m;
    const char *inst = req->instance_id;
    if (!inst) {
        m = broker_coord_cmember_find(g, req->member_id);
        if (!m) {
            hb_fail(req, KAFKA_UNKNOWN_MEMBER_ID, "Member %s is not a member of group %s.",
                    req->member_id, g->id);
            return;
        }
    } else {
        m = broker_kvmap_sget(&g->cg->statics, inst);
        if (!m) {
            hb_fail(req, KAFKA_UNKNOWN_MEMBER_ID, "Instance id %s is unknown.", inst);
            return;
        }
        if (strcmp(m->id, req->member_id) != 0) {
            hb_fail(req, KAFKA_FENCED_INSTANCE_ID,
                    "Static member %s with instance id %s was fenced by member %s.", req->member_id,
                    inst, m->id);
            return;
        }
    }
    hb_out_t *o = weir_calloc(1, sizeof(*o));
    req->priv = o;
    o->member_id = weir_strdup(req->member_id);
    req->out_member_id = o->member_id;
    req->out_member_epoch = req->member_epoch;
    if (req->member_epoch == LEAVE_STATIC_EPOCH) {
        /* it keeps its assignment (not what it was revoking) until its session ends */
        log_info("group", "consumer group %s: static member %s (%s) leaves for a while", g->id,
                 m->id, inst);
        tpset_t none = {0};
        m->epoch = LEAVE_STATIC_EPOCH;
        broker_coord_cmember_set_current(m, &m->assigned, &none);
        broker_coord_crec_current(rs, g, m, false);
        return;
    }
    cmember_remove_or_downgrade(m, rs, "member left");
}

/* The subscription fields of a heartbeat (null: unchanged); true when names or regex changed.
 * The member record is due when anything it holds changed (*record). */
static bool hb_update_subscription(cmember_t *m, const broker_consumer_heartbeat_req_t *req,
                                   bool *record)
{
    bool changed = false;
    if (req->has_topics) {
        bool same = req->ntopics == m->nsubs;
        for (size_t i = 0; same && i < req->ntopics; i++)
            same = strcmp(req->topics[i], m->subs[i]) == 0;
        if (!same) {
            subs_free(m);
            m->subs = weir_calloc(req->ntopics ? req->ntopics : 1, sizeof(*m->subs));
            for (size_t i = 0; i < req->ntopics; i++)
                m->subs[i] = weir_strdup(req->topics[i]);
            m->nsubs = req->ntopics;
            changed = true;
        }
    }
    const char *re = req->topic_regex && *req->topic_regex ? req->topic_regex : NULL;
    if (req->topic_regex && !broker_coord_str_eq(re, m->regex)) {
        cmember_set_regex(m, re);
        changed = true;
    }
    if (req->server_assignor && !broker_coord_str_eq(req->server_assignor, m->assignor)) {
        broker_coord_replace_str(&m->assignor, req->server_assignor);
        *record = true;
    }
    *record |= changed;
    return changed;
}

/* The fields that do not change the assignment: kept, and stored when they change. */
static bool hb_update_details(cmember_t *m, const broker_consumer_heartbeat_req_t *req)
{
    bool changed = m->classic; /* a classic member that now speaks the consumer protocol */
    if (m->classic) {
        m->classic = false;
        broker_coord_cmember_free_protos(m);
        m->grp->c->env.timer_stop(m->grp->c->env.ctx, &m->classic_timer);
    }
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

/* ---- ConsumerGroupHeartbeat --------------------------------------------------------------------
 */

size_t broker_coord_tpset_topics(broker_coord_t *c, const tpset_t *s,
                                 broker_cg_topic_parts_t **topics, int32_t **parts)
{
    *topics = weir_calloc(s->n ? s->n : 1, sizeof(**topics));
    *parts = weir_calloc(s->n ? s->n : 1, sizeof(**parts));
    size_t nt = 0, np = 0;
    for (size_t i = 0; i < s->n;) {
        size_t j = i;
        while (j < s->n && s->v[j].topic == s->v[i].topic)
            j++;
        broker_cg_topic_parts_t *tp = &(*topics)[nt];
        if (c->env.topic_id(c->env.ctx, s->v[i].topic, tp->topic_id)) {
            tp->topic = s->v[i].topic;
            tp->partitions = &(*parts)[np];
            for (size_t k = i; k < j; k++)
                (*parts)[np++] = s->v[k].partition;
            tp->count = j - i;
            nt++;
        }
        i = j;
    }
    return nt;
}

/* The answer of a member: its id and epoch, and its assignment when asked for. */
static void hb_answer(broker_coord_t *c, broker_consumer_heartbeat_req_t *req, const cmember_t *m,
                      bool with_assignment)
{
    hb_out_t *o = weir_calloc(1, sizeof(*o));
    req->priv = o;
    o->member_id = weir_strdup(m->id);
    req->err.code = KAFKA_NONE;
    req->err.message[0] = 0;
    req->out_member_id = o->member_id;
    req->out_member_epoch = m->epoch;
    req->heartbeat_interval_ms = c->cfg.consumer_heartbeat_interval_ms;
    req->has_assignment = with_assignment;
    if (with_assignment)
        req->nassigned = broker_coord_tpset_topics(c, &m->assigned, &o->topics, &o->parts);
    req->assigned = o->topics;
}

/* The member, created or found and checked (Kafka: group size, then the member). */
static cmember_t *hb_find_member(group_t *g, broker_consumer_heartbeat_req_t *req,
                                 const tpset_t *owned, recset_t *rs, bool *created)
{
    broker_coord_t *c = g->c;
    const char *id = req->member_id;
    bool known = broker_coord_cmember_find(g, id) != NULL;
    if (g->cg->count >= (size_t)c->cfg.consumer_max_size && (!*id || !known))
        return hb_fail(req, KAFKA_GROUP_MAX_SIZE_REACHED,
                       "The consumer group has reached its maximum capacity of %d members.",
                       c->cfg.consumer_max_size),
               NULL;
    char *made = NULL;
    if (!*id)
        id = made = broker_coord_cmember_id_new(); /* v0: the broker names the member */
    cmember_t *m = req->instance_id ? hb_static(g, req, id, owned, rs, created)
                                    : hb_dynamic(g, req, id, owned, created);
    free(made);
    return m;
}

/* Joins or heartbeats (epoch >= 0): updates the member, bumps the group epoch when what the
 * assignment depends on changed, recomputes the target, reconciles the member, answers. */
static void hb_member(group_t *g, broker_consumer_heartbeat_req_t *req, recset_t *rs)
{
    broker_coord_t *c = g->c;
    tpset_t owned_set = {0};
    const tpset_t *owned = hb_owned(c, req, &owned_set);
    bool created = false;
    cmember_t *m = hb_find_member(g, req, owned, rs, &created);
    if (!m) {
        tpset_free(&owned_set);
        return;
    }
    tpset_t before = {0};
    tpset_copy(&before, &m->assigned);
    bool record = created;
    bool sub_changed = hb_update_subscription(m, req, &record);
    record |= hb_update_details(m, req);
    if (record)
        broker_coord_crec_member(rs, g, m, false);
    broker_coord_cmember_touch(m);
    broker_coord_cmember_resolve(m);
    broker_coord_cgroup_advance(g, rs, sub_changed, created);
    if (broker_coord_cmember_reconcile(m, owned) || created)
        broker_coord_crec_current(rs, g, m, false);
    bool full = req->member_epoch == 0 || (req->rebalance_timeout_ms != -1 &&
                                           (req->has_topics || req->topic_regex) && req->has_owned);
    hb_answer(c, req, m, full || !tpset_eq(&before, &m->assigned));
    tpset_free(&before);
    tpset_free(&owned_set);
}

void broker_coord_consumer_heartbeat(broker_coord_t *c, broker_consumer_heartbeat_req_t *req,
                                     void *waiter)
{
    req->priv = NULL;
    req->err.code = KAFKA_NONE;
    req->err.message[0] = 0;
    recset_t rs;
    broker_coord_recset_init(&rs);
    group_t *g = hb_validate(c, req) ? hb_group(c, req, &rs) : NULL;
    if (g && req->member_epoch < 0)
        hb_leave(g, req, &rs);
    else if (g)
        hb_member(g, req, &rs);
    if (req->err.code)
        broker_coord_heartbeat_free(req);
    if (rs.n == 0) {
        broker_coord_recset_deinit(&rs);
        if (g)
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
    hb_fail(req, broker_coord_write_err_code(err), "%s", "");
}
