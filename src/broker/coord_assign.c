/*
 * coord_assign.c: the server-side assignors of consumer groups (KIP-848), `uniform` and
 * `range`, as Kafka names them, and the small sorted set of topic partitions the consumer-group
 * code works with.
 *
 * uniform: every partition of every subscribed topic goes to one member subscribed to its
 * topic, and the counts are as even as the subscriptions allow: no member could take a
 * partition from one holding two more than it. It is sticky: a partition stays with the member
 * that had it in the previous target assignment while that keeps the balance, so a rebalance
 * moves as few partitions as it can. Members subscribed to the same topics (the usual case)
 * end with floor or ceil of partitions / members each.
 *
 * range: per topic, the members subscribed to it, sorted by member id, take consecutive ranges
 * of its partitions; the first (partitions % members) take one more. Members subscribed to the
 * same topics thus get the same partition numbers of every topic (co-partitioning).
 *
 * Both are deterministic: the same members, subscriptions and previous assignment give the
 * same result. Topic names are interned (one pointer per name), so sets compare names by
 * strcmp only to order them.
 *
 * Threads: the coordinator's (pure functions of their arguments).
 */
#include "broker/coord_internal.h"

#include <stdlib.h>

/* ---- sets of topic partitions ------------------------------------------------------------------
 */

static int tp_cmp(const char *ta, int32_t pa, const char *tb, int32_t pb)
{
    int c = ta == tb ? 0 : strcmp(ta, tb);
    return c ? c : (pa > pb) - (pa < pb);
}

/* Index of the first element >= (topic, partition). */
static size_t tpset_lower(const tpset_t *s, const char *topic, int32_t partition)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tp_cmp(s->v[mid].topic, s->v[mid].partition, topic, partition) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const tp_t *tpset_find(const tpset_t *s, const char *topic, int32_t partition)
{
    size_t i = tpset_lower(s, topic, partition);
    return i < s->n && tp_cmp(s->v[i].topic, s->v[i].partition, topic, partition) == 0 ? &s->v[i]
                                                                                       : NULL;
}

bool tpset_has(const tpset_t *s, const char *topic, int32_t partition)
{
    return tpset_find(s, topic, partition) != NULL;
}

void tpset_add_epoch(tpset_t *s, const char *topic, int32_t partition, int32_t epoch)
{
    size_t i = tpset_lower(s, topic, partition);
    if (i < s->n && tp_cmp(s->v[i].topic, s->v[i].partition, topic, partition) == 0)
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = weir_realloc(s->v, s->cap * sizeof(*s->v));
    }
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
    s->v[i] = (tp_t){topic, partition, epoch};
    s->n++;
}

void tpset_add(tpset_t *s, const char *topic, int32_t partition)
{
    tpset_add_epoch(s, topic, partition, 0);
}

void tpset_clear(tpset_t *s)
{
    s->n = 0;
}

void tpset_free(tpset_t *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

void tpset_copy(tpset_t *dst, const tpset_t *src)
{
    if (dst->cap < src->n) {
        dst->cap = src->n;
        dst->v = weir_realloc(dst->v, dst->cap * sizeof(*dst->v));
    }
    if (src->n)
        memcpy(dst->v, src->v, src->n * sizeof(*src->v));
    dst->n = src->n;
}

bool tpset_eq(const tpset_t *a, const tpset_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].topic != b->v[i].topic || a->v[i].partition != b->v[i].partition)
            return false;
    return true;
}

/* ---- names -------------------------------------------------------------------------------------
 */

int broker_coord_assignor_parse(const char *name, size_t len)
{
    static const struct {
        const char *name;
        broker_assignor_t a;
    } names[] = {
        {"uniform", BROKER_ASSIGNOR_UNIFORM},
        {"org.apache.kafka.coordinator.group.assignor.UniformAssignor", BROKER_ASSIGNOR_UNIFORM},
        {"range", BROKER_ASSIGNOR_RANGE},
        {"org.apache.kafka.coordinator.group.assignor.RangeAssignor", BROKER_ASSIGNOR_RANGE}};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(names); i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0)
            return (int)names[i].a;
    return -1;
}

const char *broker_coord_assignor_name(broker_assignor_t a)
{
    return a == BROKER_ASSIGNOR_RANGE ? "range" : "uniform";
}

static bool subscribed(const assign_member_t *m, const char *topic)
{
    for (size_t i = 0; i < m->ntopics; i++)
        if (m->topics[i] == topic)
            return true;
    return false;
}

/* ---- range -------------------------------------------------------------------------------------
 */

static int member_idx_cmp(const void *a, const void *b, void *members)
{
    const assign_member_t *m = members;
    return strcmp(m[*(const size_t *)a].id, m[*(const size_t *)b].id);
}

/* Member indexes sorted by member id (insertion sort: groups are small next to a screen). */
static void sort_by_id(size_t *idx, size_t n, const assign_member_t *members)
{
    for (size_t i = 1; i < n; i++) {
        size_t x = idx[i], j = i;
        while (j > 0 && member_idx_cmp(&idx[j - 1], &x, (void *)members) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
    }
}

static void assign_range(const assign_member_t *members, size_t nmembers,
                         const assign_topic_t *topics, size_t ntopics, tpset_t *out)
{
    size_t *idx = weir_calloc(nmembers ? nmembers : 1, sizeof(*idx));
    for (size_t t = 0; t < ntopics; t++) {
        size_t k = 0;
        for (size_t i = 0; i < nmembers; i++)
            if (subscribed(&members[i], topics[t].topic))
                idx[k++] = i;
        if (k == 0)
            continue;
        sort_by_id(idx, k, members);
        int32_t per = topics[t].partitions / (int32_t)k;
        int32_t extra = topics[t].partitions % (int32_t)k;
        int32_t p = 0;
        for (size_t j = 0; j < k; j++) {
            int32_t take = per + ((int32_t)j < extra ? 1 : 0);
            for (int32_t q = 0; q < take; q++)
                tpset_add(&out[idx[j]], topics[t].topic, p++);
        }
    }
    free(idx);
}

/* ---- uniform -----------------------------------------------------------------------------------
 */

/* The eligible member (subscribed to topic) with the fewest partitions, ties by member id; or
 * SIZE_MAX. */
static size_t least_loaded(const assign_member_t *members, size_t nmembers, const tpset_t *out,
                           const char *topic)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < nmembers; i++) {
        if (!subscribed(&members[i], topic))
            continue;
        if (best == SIZE_MAX || out[i].n < out[best].n ||
            (out[i].n == out[best].n && strcmp(members[i].id, members[best].id) < 0))
            best = i;
    }
    return best;
}

/* Removes one element (the set stays sorted). */
static void tpset_del_at(tpset_t *s, size_t i)
{
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
}

/* Moves partitions from the most loaded members to eligible ones holding two fewer, until no
 * such move is left. Each move lowers the sum of squared counts, so the loop ends; the bound
 * on rounds is a guard, not the limit in practice. */
static void uniform_balance(const assign_member_t *members, size_t nmembers, tpset_t *out,
                            size_t total)
{
    for (size_t round = 0; round < total * nmembers + 1; round++) {
        bool moved = false;
        for (size_t a = 0; a < nmembers && !moved; a++) {
            for (size_t k = out[a].n; k-- > 0 && !moved;) {
                tp_t tp = out[a].v[k];
                size_t b = least_loaded(members, nmembers, out, tp.topic);
                if (b == SIZE_MAX || out[b].n + 1 >= out[a].n)
                    continue;
                tpset_del_at(&out[a], k);
                tpset_add(&out[b], tp.topic, tp.partition);
                moved = true;
            }
        }
        if (!moved)
            return;
    }
}

static void assign_uniform(const assign_member_t *members, size_t nmembers,
                           const assign_topic_t *topics, size_t ntopics, const tpset_t *prev,
                           tpset_t *out)
{
    size_t total = 0;
    /* sticky: a partition stays where it was if that member is still subscribed */
    for (size_t i = 0; prev && i < nmembers; i++) {
        for (size_t k = 0; k < prev[i].n; k++) {
            const tp_t *tp = &prev[i].v[k];
            for (size_t t = 0; t < ntopics; t++)
                if (topics[t].topic == tp->topic && tp->partition < topics[t].partitions &&
                    subscribed(&members[i], tp->topic))
                    tpset_add(&out[i], tp->topic, tp->partition);
        }
    }
    /* the rest to the least loaded eligible member, in topic and partition order */
    for (size_t t = 0; t < ntopics; t++) {
        for (int32_t p = 0; p < topics[t].partitions; p++) {
            bool taken = false;
            for (size_t i = 0; i < nmembers && !taken; i++)
                taken = tpset_has(&out[i], topics[t].topic, p);
            size_t m = taken ? SIZE_MAX : least_loaded(members, nmembers, out, topics[t].topic);
            if (m != SIZE_MAX)
                tpset_add(&out[m], topics[t].topic, p);
            total += m != SIZE_MAX || taken;
        }
    }
    uniform_balance(members, nmembers, out, total);
}

void broker_coord_assign(broker_assignor_t a, const assign_member_t *members, size_t nmembers,
                         const assign_topic_t *topics, size_t ntopics, const tpset_t *prev,
                         tpset_t *out)
{
    for (size_t i = 0; i < nmembers; i++)
        tpset_clear(&out[i]);
    if (a == BROKER_ASSIGNOR_RANGE)
        assign_range(members, nmembers, topics, ntopics, out);
    else
        assign_uniform(members, nmembers, topics, ntopics, prev, out);
}
