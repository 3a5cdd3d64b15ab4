/*
 * coord_txn.c: consumer offsets committed inside a transaction (TxnOffsetCommit, exactly-once
 * consume-transform-produce).
 *
 * A transactional commit is written to the group's partition of __consumer_offsets as a
 * transactional batch of the producer, like the producer's own records in other partitions.
 * Once durable, its offsets wait in the group under the producer id (group_t.txns); the
 * transaction coordinator's marker in __consumer_offsets then either publishes them as the
 * group's committed offsets (commit) or drops them (abort). Replay at start does the same from
 * the log: records of a transactional batch go pending, a marker completes the producer.
 *
 * Invariant: OffsetFetch never returns a pending offset; with require_stable it answers
 * UNSTABLE_OFFSET_COMMIT for the partition instead, so a read_committed consumer starting up
 * waits for the outcome. When a plain commit of the same partition was stored after the
 * transactional one, the plain one stays (the newer record in the log wins, as on replay).
 *
 * The coordinator keeps an index from producer id to the groups holding its offsets, so a
 * marker touches only those groups. Threads: one (the coordinator thread, see coord.h).
 */
#include "broker/coord_internal.h"

#include <stdlib.h>

/* The groups that hold a producer's pending offsets (by id: a group may go away meanwhile). */
typedef struct {
    size_t n, cap;
    char **ids;
} txn_groups_t;

static void pid_key(uint8_t k[8], int64_t producer_id)
{
    be64_write(k, (uint64_t)producer_id);
}

static void index_add(broker_coord_t *c, int64_t producer_id, const char *group_id)
{
    uint8_t k[8];
    pid_key(k, producer_id);
    txn_groups_t *tg = broker_kvmap_get(&c->txn_groups, k, 8);
    if (!tg) {
        tg = weir_calloc(1, sizeof(*tg));
        broker_kvmap_put(&c->txn_groups, k, 8, tg);
    }
    for (size_t i = 0; i < tg->n; i++)
        if (strcmp(tg->ids[i], group_id) == 0)
            return;
    if (tg->n == tg->cap) {
        tg->cap = tg->cap ? tg->cap * 2 : 4;
        tg->ids = weir_realloc(tg->ids, tg->cap * sizeof(*tg->ids));
    }
    tg->ids[tg->n++] = weir_strdup(group_id);
}

static void txn_groups_free(txn_groups_t *tg)
{
    for (size_t i = 0; i < tg->n; i++)
        free(tg->ids[i]);
    free(tg->ids);
    free(tg);
}

void broker_coord_txn_index_free(broker_coord_t *c)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &c->txn_groups);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        txn_groups_free(e->value);
    broker_kvmap_deinit(&c->txn_groups);
}

static void group_txn_free(group_txn_t *t)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &t->offsets);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        broker_coord_offset_entry_free(e->value);
    broker_kvmap_deinit(&t->offsets);
    free(t);
}

void broker_coord_txn_group_free(group_t *g)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &g->txns);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        group_txn_free(e->value);
    broker_kvmap_deinit(&g->txns);
}

/* Puts one pending offset of the producer into the group (a later one for the same partition
 * in the same transaction replaces it). */
static void pending_put(group_t *g, int64_t producer_id, const char *topic, int32_t partition,
                        const broker_committed_t *o)
{
    uint8_t k[8], key[OFFSET_KEY_MAX];
    size_t n = broker_coord_offset_key(key, sizeof(key), topic, partition);
    if (!n)
        return;
    pid_key(k, producer_id);
    group_txn_t *t = broker_kvmap_get(&g->txns, k, 8);
    if (!t) {
        t = weir_calloc(1, sizeof(*t));
        t->producer_id = producer_id;
        broker_kvmap_init(&t->offsets);
        broker_kvmap_put(&g->txns, k, 8, t);
        index_add(g->c, producer_id, g->id);
    }
    group_offset_entry_t *e = broker_kvmap_get(&t->offsets, key, n);
    if (!e) {
        e = weir_calloc(1, sizeof(*e));
        e->topic = weir_strdup(topic);
        e->partition = partition;
        broker_kvmap_put(&t->offsets, key, n, e);
    }
    size_t mlen = o->metadata ? o->metadata_len : 0;
    char *meta = weir_malloc(mlen + 1);
    if (mlen)
        memcpy(meta, o->metadata, mlen);
    meta[mlen] = 0;
    free(e->metadata);
    e->metadata = meta;
    e->metadata_len = mlen;
    e->offset = o->offset;
    e->leader_epoch = o->leader_epoch;
    e->commit_ts_ms = o->commit_ts_ms;
    e->expire_ts_ms = o->expire_ts_ms;
    e->order = ++g->c->order;
}

void broker_coord_txn_load(group_t *g, int64_t producer_id, const char *topic, int32_t partition,
                           const broker_committed_t *o)
{
    pending_put(g, producer_id, topic, partition, o);
}

void broker_coord_txn_stored(group_t *g, broker_commit_req_t *req, int err)
{
    for (size_t i = 0; i < req->part_count; i++) {
        broker_commit_part_t *p = &req->parts[i];
        if (p->error)
            continue;
        if (err) {
            p->error = broker_coord_write_err_code(err);
            continue;
        }
        if (g->state == BROKER_GROUP_DEAD)
            continue;
        broker_committed_t o = {.offset = p->offset,
                                .leader_epoch = p->leader_epoch,
                                .metadata = p->metadata ? p->metadata : "",
                                .metadata_len = p->metadata ? p->metadata_len : 0,
                                .commit_ts_ms = p->commit_ts_ms,
                                .expire_ts_ms = -1};
        pending_put(g, req->producer_id, p->topic, p->partition, &o);
    }
}

bool broker_coord_txn_pending(group_t *g, const char *topic, int32_t partition)
{
    if (g->txns.count == 0)
        return false;
    uint8_t key[OFFSET_KEY_MAX];
    size_t n = broker_coord_offset_key(key, sizeof(key), topic, partition);
    if (!n)
        return false;
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &g->txns);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        group_txn_t *t = e->value;
        if (broker_kvmap_get(&t->offsets, key, n))
            return true;
    }
    return false;
}

bool broker_coord_offset_unstable(broker_coord_t *c, const char *group_id, const char *topic,
                                  int32_t partition)
{
    group_t *g = broker_coord_group_get(c, group_id);
    return g && topic && broker_coord_txn_pending(g, topic, partition);
}

/* Publishes (commit) or drops one group's pending offsets of the producer. */
static void group_txn_end(group_t *g, group_txn_t *t, bool commit)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &t->offsets);
    for (broker_kvmap_entry_t *e; commit && (e = broker_kvmap_iter_next(&it));) {
        group_offset_entry_t *p = e->value;
        group_offset_entry_t *cur = broker_coord_offset_find(g, p->topic, p->partition);
        if (cur && cur->order > p->order)
            continue; /* a plain commit stored after it wins */
        broker_committed_t o = {.offset = p->offset,
                                .leader_epoch = p->leader_epoch,
                                .metadata = p->metadata,
                                .metadata_len = p->metadata_len,
                                .commit_ts_ms = p->commit_ts_ms,
                                .expire_ts_ms = p->expire_ts_ms};
        broker_coord_offset_put(g, p->topic, p->partition, &o, p->order);
    }
    group_txn_free(t);
}

void broker_coord_txn_complete(broker_coord_t *c, int64_t producer_id, bool commit)
{
    uint8_t k[8];
    pid_key(k, producer_id);
    txn_groups_t *tg = broker_kvmap_del(&c->txn_groups, k, 8);
    if (!tg)
        return;
    for (size_t i = 0; i < tg->n; i++) {
        group_t *g = broker_coord_group_get(c, tg->ids[i]);
        group_txn_t *t = g ? broker_kvmap_del(&g->txns, k, 8) : NULL;
        if (!t)
            continue;
        log_debug("group", "group %s: transactional offsets of producer %lld %s (%zu)", g->id,
                  (long long)producer_id, commit ? "committed" : "aborted", t->offsets.count);
        group_txn_end(g, t, commit);
        broker_coord_group_maybe_drop(g);
    }
    txn_groups_free(tg);
}

int broker_coord_replay_txn_record(broker_coord_t *c, int64_t producer_id, const uint8_t *key,
                                   size_t key_len, const uint8_t *value, int32_t value_len)
{
    c->replay_pid = producer_id;
    int rc = broker_coord_replay_record(c, key, key_len, value, value_len);
    c->replay_pid = -1;
    return rc;
}
