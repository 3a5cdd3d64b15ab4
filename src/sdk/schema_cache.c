/*
 * Schemas by id, as the deserializer needs them on every record: a bounded cache, so a consumer
 * reading records of many schema versions asks the registry once per id and never grows without
 * bound. A hash table of chains finds an id; a doubly linked list keeps recency, and past `max`
 * the least recently used schema is dropped from the cache.
 *
 * Invariant: every cached schema is in exactly one bucket chain and on the recency list, and
 * holds one reference for the cache; users hold their own, so dropping one from the cache never
 * frees a schema that a serializer or a running decode still reads.
 */
#include "sdk/sdk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sdk_schema_t *sdk_schema_new(int32_t id, weir_schema_type type, const char *text, char *err,
                             size_t errlen)
{
    void *avro = NULL;
    if (type == WEIR_SCHEMA_AVRO) {
        avro = sdk_avro_parse(text, err, errlen);
        if (!avro)
            return NULL;
    }
    sdk_schema_t *s = weir_calloc(1, sizeof(*s));
    s->id = id;
    s->type = type;
    s->text = weir_strdup(text);
    s->avro = avro;
    atomic_init(&s->refs, 1);
    return s;
}

void sdk_schema_ref(sdk_schema_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void sdk_schema_unref(sdk_schema_t *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (s->avro)
        sdk_avro_free(s->avro);
    free(s->text);
    free(s);
}

void sdk_schema_cache_init(sdk_schema_cache_t *c, size_t max)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    c->max = max ? max : 1;
    /* About one schema per bucket when full; a power of two to mask the hash. */
    c->nbuckets = 16;
    while (c->nbuckets < c->max && c->nbuckets < ((size_t)1 << 20))
        c->nbuckets <<= 1;
    c->buckets = weir_calloc(c->nbuckets, sizeof(*c->buckets));
}

void sdk_schema_cache_deinit(sdk_schema_cache_t *c)
{
    for (sdk_schema_t *s = c->newest, *next; s; s = next) {
        next = s->lru_next;
        sdk_schema_unref(s);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    memset(c, 0, sizeof(*c));
}

static sdk_schema_t **bucket_of(sdk_schema_cache_t *c, int32_t id)
{
    uint32_t h = (uint32_t)id * 2654435761u; /* Knuth's multiplicative hash */
    return &c->buckets[(h >> 8) & (c->nbuckets - 1)];
}

static void lru_unlink(sdk_schema_cache_t *c, sdk_schema_t *s)
{
    if (s->lru_prev)
        s->lru_prev->lru_next = s->lru_next;
    else
        c->newest = s->lru_next;
    if (s->lru_next)
        s->lru_next->lru_prev = s->lru_prev;
    else
        c->oldest = s->lru_prev;
    s->lru_prev = s->lru_next = NULL;
}

static void lru_push_newest(sdk_schema_cache_t *c, sdk_schema_t *s)
{
    s->lru_prev = NULL;
    s->lru_next = c->newest;
    if (c->newest)
        c->newest->lru_prev = s;
    c->newest = s;
    if (!c->oldest)
        c->oldest = s;
}

static void drop_oldest(sdk_schema_cache_t *c)
{
    sdk_schema_t *s = c->oldest;
    lru_unlink(c, s);
    sdk_schema_t **pp = bucket_of(c, s->id);
    while (*pp != s)
        pp = &(*pp)->hash_next;
    *pp = s->hash_next;
    s->hash_next = NULL;
    c->len--;
    sdk_schema_unref(s);
}

static sdk_schema_t *find(sdk_schema_cache_t *c, int32_t id)
{
    for (sdk_schema_t *s = *bucket_of(c, id); s; s = s->hash_next)
        if (s->id == id)
            return s;
    return NULL;
}

sdk_schema_t *sdk_schema_cache_get(sdk_schema_cache_t *c, int32_t id)
{
    pthread_mutex_lock(&c->mu);
    sdk_schema_t *s = find(c, id);
    if (s) {
        c->hits++;
        lru_unlink(c, s);
        lru_push_newest(c, s);
        sdk_schema_ref(s);
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return s;
}

sdk_schema_t *sdk_schema_cache_put(sdk_schema_cache_t *c, sdk_schema_t *s)
{
    pthread_mutex_lock(&c->mu);
    sdk_schema_t *have = find(c, s->id);
    if (!have) {
        /* Another thread may have fetched the same id meanwhile: the first one in stays. */
        have = s;
        sdk_schema_ref(s); /* the cache's own */
        sdk_schema_t **b = bucket_of(c, s->id);
        s->hash_next = *b;
        *b = s;
        lru_push_newest(c, s);
        c->len++;
        while (c->len > c->max)
            drop_oldest(c);
    }
    sdk_schema_ref(have);
    pthread_mutex_unlock(&c->mu);
    return have;
}

size_t sdk_schema_cache_len(sdk_schema_cache_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->len;
    pthread_mutex_unlock(&c->mu);
    return n;
}
