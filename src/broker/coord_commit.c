/*
 * coord_commit.c: the committed offsets of the group coordinator: OffsetCommit (checked against
 * the member's generation, or from a standalone consumer), OffsetFetch, OffsetDelete, their
 * expiry (offsets.retention.minutes, KIP-211) and their replay at start.
 *
 * Invariant: committed offsets enter a group's in-memory table only after their records are
 * durable in __consumer_offsets, so OffsetFetch never returns a commit a crash could lose.
 *
 * Threads: one (the coordinator thread, see coord.h).
 */
#include "broker/coord_internal.h"

#include <stdlib.h>

/* ---- committed offsets
 * --------------------------------------------------------------------------- */

group_offset_entry_t *broker_coord_offset_find(group_t *g, const char *topic, int32_t partition)
{
    uint8_t key[OFFSET_KEY_MAX];
    size_t n = broker_coord_offset_key(key, sizeof(key), topic, partition);
    return n ? broker_kvmap_get(&g->offsets, key, n) : NULL;
}

void broker_coord_offset_put(group_t *g, const char *topic, int32_t partition,
                             const broker_committed_t *o, uint64_t order)
{
    uint8_t key[OFFSET_KEY_MAX];
    size_t n = broker_coord_offset_key(key, sizeof(key), topic, partition);
    if (!n)
        return;
    group_offset_entry_t *e = broker_kvmap_get(&g->offsets, key, n);
    if (!e) {
        e = weir_calloc(1, sizeof(*e));
        e->topic = weir_strdup(topic);
        e->partition = partition;
        broker_kvmap_put(&g->offsets, key, n, e);
    }
    e->offset = o->offset;
    e->leader_epoch = o->leader_epoch;
    size_t mlen = o->metadata ? o->metadata_len : 0;
    char *meta = weir_malloc(mlen + 1);
    if (mlen)
        memcpy(meta, o->metadata, mlen);
    meta[mlen] = 0;
    free(e->metadata);
    e->metadata = meta;
    e->metadata_len = mlen;
    e->commit_ts_ms = o->commit_ts_ms;
    e->expire_ts_ms = o->expire_ts_ms;
    e->order = order ? order : ++g->c->order;
}

void broker_coord_offset_entry_free(group_offset_entry_t *e)
{
    free(e->topic);
    free(e->metadata);
    free(e);
}

static void offset_del(group_t *g, const char *topic, int32_t partition)
{
    uint8_t key[OFFSET_KEY_MAX];
    size_t n = broker_coord_offset_key(key, sizeof(key), topic, partition);
    group_offset_entry_t *e = n ? broker_kvmap_del(&g->offsets, key, n) : NULL;
    if (e)
        broker_coord_offset_entry_free(e);
}

static broker_committed_t offset_view(const group_offset_entry_t *e)
{
    return (broker_committed_t){.offset = e->offset,
                                .leader_epoch = e->leader_epoch,
                                .metadata = e->metadata,
                                .metadata_len = e->metadata_len,
                                .commit_ts_ms = e->commit_ts_ms,
                                .expire_ts_ms = e->expire_ts_ms};
}

/* Who may commit (Kafka's validateOffsetCommit): a standalone consumer (generation < 0) to a
 * group with no members, or a member of the current generation outside CompletingRebalance. A
 * standalone commit to an unknown group creates it. A transactional commit (TxnOffsetCommit)
 * that names no member, generation or instance is accepted whatever the group's state (Kafka:
 * the producer of an old client knows only the group id), and one that names them is checked
 * like any member's, in CompletingRebalance too. */
static int16_t group_commit_check(broker_coord_t *c, const broker_commit_req_t *req, group_t **out)
{
    *out = NULL;
    if (!req->group_id || !*req->group_id)
        return KAFKA_INVALID_GROUP_ID;
    group_t *g = broker_coord_group_get(c, req->group_id);
    if (!g) {
        if (req->generation_id >= 0)
            return KAFKA_ILLEGAL_GENERATION;
        g = broker_coord_group_create(c, req->group_id);
    }
    *out = g;
    if (g->cg)
        return broker_coord_cgroup_commit_check(g, req);
    if (req->generation_id < 0 && g->state == BROKER_GROUP_EMPTY)
        return KAFKA_NONE;
    if (req->transactional && req->generation_id < 0 && (!req->member_id || !*req->member_id) &&
        !req->instance_id)
        return KAFKA_NONE;
    if (broker_coord_member_fenced(g, req->member_id, req->instance_id))
        return KAFKA_FENCED_INSTANCE_ID;
    group_member_t *m = broker_coord_member_find(g, req->member_id);
    if (!m)
        return KAFKA_UNKNOWN_MEMBER_ID;
    if (req->generation_id != g->generation)
        return KAFKA_ILLEGAL_GENERATION;
    if (g->state == BROKER_GROUP_COMPLETING_REBALANCE && !req->transactional)
        return KAFKA_REBALANCE_IN_PROGRESS;
    broker_coord_member_touch(m);
    return KAFKA_NONE;
}

static broker_committed_t commit_value(const broker_commit_req_t *req,
                                       const broker_commit_part_t *p)
{
    return (broker_committed_t){.offset = p->offset,
                                .leader_epoch = p->leader_epoch,
                                .metadata = p->metadata ? p->metadata : "",
                                .metadata_len = p->metadata ? p->metadata_len : 0,
                                .commit_ts_ms = p->commit_ts_ms,
                                .expire_ts_ms = req->retention_ms > 0 && !req->transactional
                                                    ? p->commit_ts_ms + req->retention_ms
                                                    : -1};
}

void broker_coord_commit(broker_coord_t *c, broker_commit_req_t *req, void *waiter)
{
    group_t *g;
    int16_t err = group_commit_check(c, req, &g);
    recset_t rs;
    broker_coord_recset_init(&rs);
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < req->part_count; i++) {
        broker_commit_part_t *p = &req->parts[i];
        size_t meta_len = p->metadata ? p->metadata_len : 0;
        if (err)
            p->error = err;
        else if (!p->topic || !c->env.partition_exists(c->env.ctx, p->topic, p->partition))
            p->error = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
        else if (meta_len > (size_t)c->cfg.offset_metadata_max_bytes || meta_len > INT16_MAX)
            p->error = KAFKA_OFFSET_METADATA_TOO_LARGE; /* records keep it as a classic string */
        else if (g->cg)
            p->error = broker_coord_cgroup_commit_part_check(g, req, p->topic, p->partition);
        else
            p->error = KAFKA_NONE;
        if (p->error)
            continue;
        if (p->commit_ts_ms < 0)
            p->commit_ts_ms = now;
        broker_committed_t o = commit_value(req, p);
        broker_coord_recset_add_offset(&rs, g->id, p->topic, p->partition, &o);
    }
    if (rs.n == 0) {
        broker_coord_recset_deinit(&rs);
        if (g)
            broker_coord_group_maybe_drop(g);
        c->env.done(c->env.ctx, waiter);
        return;
    }
    group_write_t *w =
        broker_coord_write_new(c, g, req->transactional ? W_TXN_COMMIT : W_COMMIT, waiter);
    w->commit = req;
    broker_coord_recset_write(c, &rs, w);
}

void broker_coord_group_commit_stored(group_t *g, broker_commit_req_t *req, int err)
{
    for (size_t i = 0; i < req->part_count; i++) {
        broker_commit_part_t *p = &req->parts[i];
        if (p->error)
            continue;
        if (err) {
            p->error = broker_coord_write_err_code(err);
        } else if (g->state != BROKER_GROUP_DEAD) {
            broker_committed_t o = commit_value(req, p);
            broker_coord_offset_put(g, p->topic, p->partition, &o, 0);
        }
    }
}

int16_t broker_coord_offset_fetch(broker_coord_t *c, const char *group_id, const char *topic,
                                  int32_t partition, broker_committed_t *out)
{
    *out = (broker_committed_t){
        .offset = -1, .leader_epoch = -1, .metadata = "", .commit_ts_ms = -1, .expire_ts_ms = -1};
    if (!group_id || !*group_id)
        return KAFKA_INVALID_GROUP_ID;
    group_t *g = broker_coord_group_get(c, group_id);
    group_offset_entry_t *e = g && topic ? broker_coord_offset_find(g, topic, partition) : NULL;
    if (e)
        *out = offset_view(e);
    return KAFKA_NONE;
}

void broker_coord_offset_foreach(broker_coord_t *c, const char *group_id, broker_coord_offset_fn fn,
                                 void *arg)
{
    group_t *g = broker_coord_group_get(c, group_id);
    if (!g)
        return;
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &g->offsets);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        group_offset_entry_t *o = e->value;
        broker_committed_t v = offset_view(o);
        fn(arg, o->topic, o->partition, &v);
    }
}

/* The topics a "consumer" protocol subscription names (ConsumerProtocolSubscription: version
 * i16, topics [string], ...), checked against the bytes present. Unreadable means "maybe". */
static bool subscription_has_topic(const uint8_t *p, size_t n, const char *topic)
{
    size_t tlen = strlen(topic);
    if (n < 6)
        return true;
    int32_t count = (int32_t)be32_read(p + 2);
    size_t off = 6;
    if (count < 0 || (size_t)count > (n - off) / 2)
        return true;
    for (int32_t i = 0; i < count; i++) {
        if (n - off < 2)
            return true;
        int16_t len = (int16_t)be16_read(p + off);
        off += 2;
        if (len < 0 || (size_t)len > n - off)
            return true;
        if ((size_t)len == tlen && memcmp(p + off, topic, tlen) == 0)
            return true;
        off += (size_t)len;
    }
    return false;
}

static bool group_subscribed(const group_t *g, const char *topic)
{
    for (const group_member_t *m = g->head; m; m = m->next) {
        for (size_t i = 0; i < m->proto_count; i++) {
            if (g->protocol_name && strcmp(m->protos[i].name, g->protocol_name) != 0)
                continue;
            if (subscription_has_topic(m->protos[i].meta, m->protos[i].meta_len, topic))
                return true;
        }
    }
    return false;
}

void broker_coord_offset_delete(broker_coord_t *c, broker_offset_delete_req_t *req, void *waiter)
{
    group_t *g = broker_coord_group_get(c, req->group_id);
    req->error = KAFKA_NONE;
    if (!req->group_id || !*req->group_id)
        req->error = KAFKA_INVALID_GROUP_ID;
    else if (!g)
        req->error = KAFKA_GROUP_ID_NOT_FOUND;
    else if (g->member_count > 0 && !broker_coord_str_eq(g->protocol_type, "consumer"))
        req->error = KAFKA_NON_EMPTY_GROUP;
    bool live = g && (g->member_count > 0 || !broker_coord_cgroup_empty(g));
    recset_t rs;
    broker_coord_recset_init(&rs);
    for (size_t i = 0; !req->error && i < req->part_count; i++) {
        broker_offset_delete_part_t *p = &req->parts[i];
        p->error = KAFKA_NONE;
        if (live &&
            (g->cg ? broker_coord_cgroup_subscribed(g, p->topic) : group_subscribed(g, p->topic))) {
            p->error = KAFKA_GROUP_SUBSCRIBED_TO_TOPIC;
            continue;
        }
        if (broker_coord_offset_find(g, p->topic, p->partition)) {
            broker_coord_recset_add_offset(&rs, g->id, p->topic, p->partition, NULL);
            offset_del(g, p->topic, p->partition);
        }
    }
    if (rs.n == 0) {
        broker_coord_recset_deinit(&rs);
        c->env.done(c->env.ctx, waiter);
        return;
    }
    group_write_t *w = broker_coord_write_new(c, g, W_OFFSET_DELETE, waiter);
    w->error_out = &req->error;
    broker_coord_recset_write(c, &rs, w);
}

/* ---- offsets expiry
 * ------------------------------------------------------------------------------ */

/* Offsets of a group with no members expire offsets.retention.minutes after the later of the
 * commit and the group becoming Empty (KIP-211), or at the expiry time a v2-4 commit asked for.
 * A group left with no offsets and no members is removed (with its metadata tombstone). */
static void group_expire(group_t *g, int64_t now)
{
    broker_coord_t *c = g->c;
    if (g->state != BROKER_GROUP_EMPTY || g->member_count > 0 || g->pending.count > 0)
        return;
    recset_t rs;
    broker_coord_recset_init(&rs);
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &g->offsets);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        group_offset_entry_t *o = e->value;
        int64_t base = WEIR_MAX(o->commit_ts_ms, g->protocol_type ? g->state_ts_ms : INT64_MIN);
        bool expired = o->expire_ts_ms >= 0 ? now >= o->expire_ts_ms
                                            : now - base >= c->cfg.offsets_retention_ms;
        if (!expired || broker_coord_txn_pending(g, o->topic, o->partition))
            continue;
        broker_coord_recset_add_offset(&rs, g->id, o->topic, o->partition, NULL);
        offset_del(g, o->topic, o->partition);
    }
    bool drop = g->offsets.count == 0 && g->txns.count == 0 && g->refs == 1 &&
                (rs.n > 0 || now - g->state_ts_ms >= c->cfg.offsets_retention_ms);
    if (drop)
        broker_coord_recset_add_group(&rs, g, true);
    if (drop && g->cg)
        broker_coord_cgroup_tombstones(&rs, g);
    if (rs.n == 0) {
        broker_coord_recset_deinit(&rs);
        return;
    }
    log_info("group", "group %s: %zu offsets expired%s", g->id, rs.n - (drop ? 1 : 0),
             drop ? ", group removed" : "");
    group_write_t *w = broker_coord_write_new(c, g, W_PLAIN, NULL);
    if (drop)
        broker_coord_group_remove(g, KAFKA_COORDINATOR_NOT_AVAILABLE);
    broker_coord_recset_write(c, &rs, w);
}

void broker_coord_expire_offsets(broker_coord_t *c)
{
    int64_t now = clock_wall_ms();
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->groups);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        group_expire(e->value, now);
}

void broker_coord_expire_timer_fired(void *arg)
{
    broker_coord_t *c = arg;
    broker_coord_expire_offsets(c);
    broker_coord_timer_start(c, &c->expire_timer, c->cfg.offsets_retention_check_interval_ms);
}

void broker_coord_load_offset(broker_coord_t *c, const char *group, const char *topic,
                              int32_t partition, const broker_committed_t *o)
{
    group_t *g = broker_coord_group_get(c, group);
    if (c->replay_pid >= 0) { /* a transactional commit: pending until its marker */
        if (!o)
            return;
        if (!g)
            g = broker_coord_group_create(c, group);
        broker_coord_txn_load(g, c->replay_pid, topic, partition, o);
        return;
    }
    if (!o) {
        if (g)
            offset_del(g, topic, partition);
        return;
    }
    if (!g)
        g = broker_coord_group_create(c, group);
    broker_coord_offset_put(g, topic, partition, o, 0);
}
