/*
 * kvmap: chained hash map from byte keys to pointers (see kvmap.h).
 *
 * Invariant: bucket_count is 0 or a power of two, and count <= bucket_count once anything was
 * inserted (the table doubles when an insert would exceed load factor 1). Each entry keeps its
 * full hash, so growing never rehashes key bytes and lookups compare hashes before keys.
 */
#include "broker/kvmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>

static uint64_t kvmap_seed;
static pthread_once_t kvmap_seed_once = PTHREAD_ONCE_INIT;

static void kvmap_seed_init(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
        s = (uint64_t)clock_mono_ns() ^ 0x9e3779b97f4a7c15ull;
    kvmap_seed = s | 1;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* A seeded 8-bytes-at-a-time multiply/xorshift hash: cheap, and a client that does not know
 * the seed cannot aim many keys at one bucket. */
uint64_t broker_kvmap_hash(const void *key, size_t len)
{
    pthread_once(&kvmap_seed_once, kvmap_seed_init);
    const uint8_t *p = key;
    uint64_t h = kvmap_seed ^ (len * 0x9e3779b97f4a7c15ull);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = mix64(h ^ v);
        p += 8;
        len -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, len);
    return mix64(h ^ v ^ ((uint64_t)len << 56));
}

void broker_kvmap_init(broker_kvmap_t *m)
{
    m->buckets = NULL;
    m->bucket_count = 0;
    m->count = 0;
}

void broker_kvmap_deinit(broker_kvmap_t *m)
{
    for (size_t i = 0; i < m->bucket_count; i++) {
        broker_kvmap_entry_t *e = m->buckets[i];
        while (e) {
            broker_kvmap_entry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    broker_kvmap_init(m);
}

static broker_kvmap_entry_t **kvmap_slot(const broker_kvmap_t *m, const void *key, size_t len,
                                         uint64_t h)
{
    broker_kvmap_entry_t **pp = &m->buckets[h & (m->bucket_count - 1)];
    for (; *pp; pp = &(*pp)->next) {
        broker_kvmap_entry_t *e = *pp;
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return pp;
    }
    return pp;
}

void *broker_kvmap_get(const broker_kvmap_t *m, const void *key, size_t len)
{
    if (m->count == 0)
        return NULL;
    broker_kvmap_entry_t **pp = kvmap_slot(m, key, len, broker_kvmap_hash(key, len));
    return *pp ? (*pp)->value : NULL;
}

static void kvmap_grow(broker_kvmap_t *m)
{
    size_t n = m->bucket_count ? m->bucket_count * 2 : 8;
    broker_kvmap_entry_t **nb = weir_calloc(n, sizeof(*nb));
    for (size_t i = 0; i < m->bucket_count; i++) {
        broker_kvmap_entry_t *e = m->buckets[i];
        while (e) {
            broker_kvmap_entry_t *next = e->next;
            size_t j = e->hash & (n - 1);
            e->next = nb[j];
            nb[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->bucket_count = n;
}

void *broker_kvmap_put(broker_kvmap_t *m, const void *key, size_t len, void *value)
{
    uint64_t h = broker_kvmap_hash(key, len);
    if (m->bucket_count) {
        broker_kvmap_entry_t **pp = kvmap_slot(m, key, len, h);
        if (*pp) {
            void *old = (*pp)->value;
            (*pp)->value = value;
            return old;
        }
    }
    if (m->count + 1 > m->bucket_count)
        kvmap_grow(m);
    broker_kvmap_entry_t *e = weir_malloc(sizeof(*e) + len + 1);
    e->hash = h;
    e->value = value;
    e->key_len = len;
    memcpy(e->key, key, len);
    e->key[len] = 0;
    size_t j = h & (m->bucket_count - 1);
    e->next = m->buckets[j];
    m->buckets[j] = e;
    m->count++;
    return NULL;
}

void *broker_kvmap_del(broker_kvmap_t *m, const void *key, size_t len)
{
    if (m->count == 0)
        return NULL;
    broker_kvmap_entry_t **pp = kvmap_slot(m, key, len, broker_kvmap_hash(key, len));
    broker_kvmap_entry_t *e = *pp;
    if (!e)
        return NULL;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return v;
}

void broker_kvmap_iter_init(broker_kvmap_iter_t *it, broker_kvmap_t *m)
{
    it->m = m;
    it->bucket = 0;
    it->next = NULL;
}

broker_kvmap_entry_t *broker_kvmap_iter_next(broker_kvmap_iter_t *it)
{
    while (!it->next) {
        if (it->bucket >= it->m->bucket_count)
            return NULL;
        it->next = it->m->buckets[it->bucket++];
    }
    broker_kvmap_entry_t *e = it->next;
    it->next = e->next; /* read before the caller may delete e */
    return e;
}
