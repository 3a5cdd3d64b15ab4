/*
 * coord_consumer_admin.c: what the rest of the coordinator and the admin APIs ask of consumer
 * groups (KIP-848; the state machine is coord_consumer.c): ConsumerGroupDescribe, the
 * ListGroups entry, the member and epoch checks of OffsetCommit v9 and OffsetFetch v9, the
 * topics a group is subscribed to (OffsetDelete), the tombstones of a deleted group, the change
 * back to a classic group, and the end of a load from __consumer_offsets.
 *
 * The answers are Kafka 4's, checked against a running Apache Kafka 4.4: an unknown or classic
 * group is GROUP_ID_NOT_FOUND to ConsumerGroupDescribe (and Dead, no error, to DescribeGroups:
 * coord.c); a member's commit at another epoch is STALE_MEMBER_EPOCH, by an unknown member (or
 * an anonymous one while the group has members) UNKNOWN_MEMBER_ID, by a KIP-848 member below
 * OffsetCommit v9 UNSUPPORTED_VERSION.
 *
 * Threads: one, the coordinator thread (see coord.h).
 */
#include "broker/coord_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- ListGroups, OffsetDelete ------------------------------------------------------------------
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

/* ---- OffsetCommit and OffsetFetch --------------------------------------------------------------
 */

/* Kafka's ConsumerGroup.validateOffsetCommit: an anonymous commit (epoch < 0) to an empty
 * group; else a member of the group, with OffsetCommit v9+, not from a later epoch. */
int16_t broker_coord_cgroup_commit_check(group_t *g, const broker_commit_req_t *req)
{
    if (req->generation_id < 0 && g->cg->count == 0)
        return KAFKA_NONE;
    /* TxnOffsetCommit need not name a member: checked only when it does (Kafka) */
    if (req->transactional && req->generation_id < 0 && (!req->member_id || !*req->member_id) &&
        !req->instance_id)
        return KAFKA_NONE;
    cmember_t *m = broker_coord_cmember_find(g, req->member_id ? req->member_id : "");
    if (!m)
        return KAFKA_UNKNOWN_MEMBER_ID;
    if (m->classic) /* its generation is its epoch */
        return req->generation_id == m->epoch ? KAFKA_NONE : KAFKA_ILLEGAL_GENERATION;
    if (req->api_version < 9 && !req->transactional)
        return KAFKA_UNSUPPORTED_VERSION;
    return req->generation_id > m->epoch ? KAFKA_STALE_MEMBER_EPOCH : KAFKA_NONE;
}

/* A commit at the member's epoch, or (Kafka 4's assignment epochs) at an older one for a
 * partition the member got at or before that epoch and still has: a commit that raced a
 * rebalance lands, a zombie's commit for a partition it lost does not. */
int16_t broker_coord_cgroup_commit_part_check(group_t *g, const broker_commit_req_t *req,
                                              const char *topic, int32_t partition)
{
    if (req->generation_id < 0 && (g->cg->count == 0 || req->transactional))
        return KAFKA_NONE;
    cmember_t *m = broker_coord_cmember_find(g, req->member_id ? req->member_id : "");
    if (!m || req->generation_id == m->epoch)
        return KAFKA_NONE;
    char *name = broker_kvmap_sget(&g->c->topic_names, topic);
    const tp_t *tp = name ? tpset_find(&m->assigned, name, partition) : NULL;
    return tp && tp->epoch <= req->generation_id ? KAFKA_NONE : KAFKA_STALE_MEMBER_EPOCH;
}

/* Kafka's ConsumerGroup.validateOffsetFetch: a null member id with a negative epoch is an
 * admin's (or a standalone consumer's) fetch; else a member at its epoch. */
int16_t broker_coord_cgroup_fetch_check(group_t *g, const char *member_id, int32_t member_epoch)
{
    if (!member_id && member_epoch < 0)
        return KAFKA_NONE;
    cmember_t *m = broker_coord_cmember_find(g, member_id ? member_id : "");
    if (!m)
        return KAFKA_UNKNOWN_MEMBER_ID;
    if (member_epoch == m->epoch)
        return KAFKA_NONE;
    return m->classic ? KAFKA_ILLEGAL_GENERATION : KAFKA_STALE_MEMBER_EPOCH;
}

/* Only consumer groups check the member of a fetch; an unknown group answers no error. */
int16_t broker_coord_offset_fetch_check(broker_coord_t *c, const char *group_id,
                                        const char *member_id, int32_t member_epoch)
{
    group_t *g = broker_coord_group_get(c, group_id);
    return g && g->cg ? broker_coord_cgroup_fetch_check(g, member_id, member_epoch) : KAFKA_NONE;
}

/* ---- deletion, change of kind, load ------------------------------------------------------------
 */

/* DeleteGroups and offsets expiry: tombstones for what an empty consumer group stored. */
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
    broker_coord_replace_str(&g->protocol_type, NULL);
    log_info("group", "group %s: the empty consumer group becomes a classic group", g->id);
    return true;
}

/* After replay: members whose member record was never read are dropped; the others own their
 * partitions, their sessions start now, and a member still revoking gets its rebalance timeout
 * again. The stored topics hash stays: topics that changed while the broker was down bump the
 * epoch on the next heartbeat. */
void broker_coord_cgroup_load_finish(group_t *g)
{
    cgroup_t *cg = g->cg;
    for (cmember_t *m = cg->head, *next; m; m = next) {
        next = m->next;
        if (!m->loaded)
            broker_coord_cmember_unload(m);
    }
    for (cmember_t *m = cg->head; m; m = m->next)
        broker_coord_cmember_loaded(m);
    g->state = cg->count ? BROKER_GROUP_STABLE : BROKER_GROUP_EMPTY;
}

/* ---- ConsumerGroupDescribe ---------------------------------------------------------------------
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
    d->assignor = broker_coord_assignor_name(broker_coord_cgroup_assignor(g));
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
                                       .regex = m->regex ? m->regex : ""};
        x->nassigned = desc_set(c, dm, &m->assigned, &x->assigned);
        x->ntarget = desc_set(c, dm, &m->target, &x->target);
    }
    d->members = ms;
}

/* Kafka's message for a group that cannot be described: "Group <id> <why>". */
static const char *desc_message(desc_mem_t *dm, const char *id, const char *why)
{
    size_t n = strlen(id) + strlen(why) + 8;
    char *s = desc_keep(dm, weir_malloc(n));
    snprintf(s, n, "Group %s %s", id, why);
    return s;
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
        d->state = "";
        d->assignor = "";
        if (!id || !*id) {
            d->error = KAFKA_INVALID_GROUP_ID;
        } else if (!g) {
            d->error = KAFKA_GROUP_ID_NOT_FOUND;
            d->error_message = desc_message(dm, id, "not found.");
        } else if (!g->cg) {
            d->error = KAFKA_GROUP_ID_NOT_FOUND;
            d->error_message = desc_message(dm, id, "is not a consumer group.");
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
