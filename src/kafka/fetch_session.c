/*
 * fetch_session.c: incremental fetch sessions (KIP-227). A consumer that fetches the same
 * partitions again and again opens a session with a full fetch (session id 0, epoch 0) and
 * then sends only what changed (epoch 1, 2, ...); the broker remembers the partitions and
 * answers only those with news: records, an error, or watermarks that moved since it last told
 * the client. Epoch -1 closes a session (a sessionless full fetch).
 *
 * The cache belongs to a listener and is shared by its connections (a client may reconnect and
 * go on with its session). It is bounded (FETCH_SESSION_SLOTS, Kafka's
 * max.incremental.fetch.session.cache.slots): when full, a new session takes the slot of the
 * least recently used one idle for at least FETCH_SESSION_EVICT_MS, or none is created (id 0 in
 * the answer) and the client goes on with full fetches, as Kafka does.
 *
 * Session ids are random (positive, not in use), as Kafka's: a client that kept its session
 * across a broker restart must not find its id given to another client's new session, whose
 * epoch could match its own and answer for other partitions.
 *
 * Threads: any io loop; one mutex guards the cache and every session in it. A session is
 * "busy" while a fetch that uses it waits for data: a second request for it then gets
 * INVALID_FETCH_SESSION_EPOCH (its epoch cannot match), which is what Kafka answers too.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>

enum { FETCH_SESSION_SLOTS = 1000, FETCH_SESSION_EVICT_MS = 120000 };

struct kafka_fetch_sessions {
    pthread_mutex_t mu;
    kafka_fetch_session_t **slots; /* FETCH_SESSION_SLOTS entries, NULL when free */
    uint64_t rng;                  /* splitmix64 state, seeded from getrandom */
};

/* A random 32-bit value (mutex held). */
static uint32_t random_u32(kafka_fetch_sessions_t *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

void kafka_fetch_sessions_new(kafka_fetch_sessions_t **out)
{
    kafka_fetch_sessions_t *c = weir_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    c->slots = weir_calloc(FETCH_SESSION_SLOTS, sizeof(*c->slots));
    if (getrandom(&c->rng, sizeof(c->rng), GRND_NONBLOCK) != (ssize_t)sizeof(c->rng))
        c->rng = (uint64_t)clock_wall_ms() ^ ((uint64_t)(uintptr_t)c << 16);
    *out = c;
}

static void session_free(kafka_fetch_session_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->parts[i].topic);
    free(s->parts);
    free(s);
}

void kafka_fetch_sessions_free(kafka_fetch_sessions_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < FETCH_SESSION_SLOTS; i++)
        if (c->slots[i])
            session_free(c->slots[i]);
    free(c->slots);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void kafka_fetch_sessions_lock(kafka_fetch_sessions_t *c)
{
    pthread_mutex_lock(&c->mu);
}

void kafka_fetch_sessions_unlock(kafka_fetch_sessions_t *c)
{
    pthread_mutex_unlock(&c->mu);
}

static kafka_fetch_session_t **slot_of(kafka_fetch_sessions_t *c, int32_t id)
{
    for (size_t i = 0; i < FETCH_SESSION_SLOTS; i++)
        if (c->slots[i] && c->slots[i]->id == id)
            return &c->slots[i];
    return NULL;
}

/* A free slot, or the least recently used idle session's (evicted). NULL: the cache is full of
 * sessions in use. */
static kafka_fetch_session_t **free_slot(kafka_fetch_sessions_t *c, int64_t now_ms)
{
    kafka_fetch_session_t **lru = NULL;
    for (size_t i = 0; i < FETCH_SESSION_SLOTS; i++) {
        kafka_fetch_session_t *s = c->slots[i];
        if (!s)
            return &c->slots[i];
        if (!s->busy && now_ms - s->last_used_ms >= FETCH_SESSION_EVICT_MS &&
            (!lru || s->last_used_ms < (*lru)->last_used_ms))
            lru = &c->slots[i];
    }
    if (lru) {
        session_free(*lru);
        *lru = NULL;
    }
    return lru;
}

kafka_fetch_session_t *kafka_fetch_session_find(kafka_fetch_sessions_t *c, int32_t id)
{
    kafka_fetch_session_t **sp = slot_of(c, id);
    return sp ? *sp : NULL;
}

void kafka_fetch_session_remove(kafka_fetch_sessions_t *c, int32_t id)
{
    kafka_fetch_session_t **sp = slot_of(c, id);
    if (sp && !(*sp)->busy) {
        session_free(*sp);
        *sp = NULL;
    }
}

kafka_fetch_session_t *kafka_fetch_session_create(kafka_fetch_sessions_t *c, bool uses_ids,
                                                  int64_t now_ms)
{
    kafka_fetch_session_t **sp = free_slot(c, now_ms);
    if (!sp)
        return NULL;
    kafka_fetch_session_t *s = weir_calloc(1, sizeof(*s));
    do { /* ids are random, positive and not in use */
        s->id = (int32_t)(random_u32(c) & 0x7fffffff);
    } while (s->id == 0 || slot_of(c, s->id));
    s->epoch = 1;
    s->uses_ids = uses_ids;
    s->last_used_ms = now_ms;
    *sp = s;
    return s;
}

kafka_fetch_session_part_t *kafka_fetch_session_part(kafka_fetch_session_t *s, const char *topic,
                                                     size_t topic_len, const uint8_t id[16],
                                                     int32_t partition, bool add)
{
    for (size_t i = 0; i < s->n; i++) {
        kafka_fetch_session_part_t *p = &s->parts[i];
        if (p->partition != partition)
            continue;
        if (s->uses_ids ? memcmp(p->topic_id, id, 16) == 0
                        : p->topic_len == topic_len && memcmp(p->topic, topic, topic_len) == 0)
            return p;
    }
    if (!add)
        return NULL;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->parts = weir_realloc(s->parts, s->cap * sizeof(*s->parts));
    }
    kafka_fetch_session_part_t *p = &s->parts[s->n++];
    memset(p, 0, sizeof(*p));
    p->topic = weir_malloc(topic_len + 1);
    memcpy(p->topic, topic, topic_len);
    p->topic[topic_len] = 0;
    p->topic_len = topic_len;
    if (id)
        memcpy(p->topic_id, id, 16);
    p->partition = partition;
    p->sent_hwm = p->sent_lso = p->sent_log_start = -2; /* never sent: always answered first */
    return p;
}

void kafka_fetch_session_forget(kafka_fetch_session_t *s, kafka_fetch_session_part_t *p)
{
    free(p->topic);
    size_t i = (size_t)(p - s->parts);
    memmove(p, p + 1, (s->n - i - 1) * sizeof(*p));
    s->n--;
}

void kafka_fetch_session_rotate(kafka_fetch_session_t *s, size_t i)
{
    if (i + 1 >= s->n)
        return;
    kafka_fetch_session_part_t p = s->parts[i];
    memmove(&s->parts[i], &s->parts[i + 1], (s->n - i - 1) * sizeof(p));
    s->parts[s->n - 1] = p;
}

int32_t kafka_fetch_session_next_epoch(int32_t epoch)
{
    return epoch == INT32_MAX ? 1 : epoch + 1;
}
