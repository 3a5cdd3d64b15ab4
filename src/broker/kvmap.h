/*
 * kvmap: a small chained hash map from byte-string keys to pointers, internal to src/broker
 * (groups by id, members by id, committed offsets by topic+partition, producers by id).
 *
 * The map owns a copy of each key; it never owns the values. Keys come from clients (group
 * ids, member ids), so the hash is seeded per process: a client cannot precompute colliding
 * ids. Not thread-safe: each map belongs to whoever owns the structure it sits in.
 */
#ifndef WEIR_BROKER_KVMAP_H
#define WEIR_BROKER_KVMAP_H

#include "base/base.h"

typedef struct broker_kvmap_entry {
    struct broker_kvmap_entry *next;
    uint64_t hash;
    void *value;
    size_t key_len;
    uint8_t key[]; /* key_len bytes, then a NUL so string keys can be read as C strings */
} broker_kvmap_entry_t;

typedef struct {
    broker_kvmap_entry_t **buckets;
    size_t bucket_count; /* 0 or a power of two */
    size_t count;
} broker_kvmap_t;

void broker_kvmap_init(broker_kvmap_t *m);
/* The map's seeded hash of key bytes (also the key index's, keyindex.c). */
uint64_t broker_kvmap_hash(const void *key, size_t len);
/* Frees the entries and the bucket array (not the values). */
void broker_kvmap_deinit(broker_kvmap_t *m);
void *broker_kvmap_get(const broker_kvmap_t *m, const void *key, size_t len);
/* Inserts or replaces; returns the previous value or NULL. */
void *broker_kvmap_put(broker_kvmap_t *m, const void *key, size_t len, void *value);
/* Removes; returns the value that was there or NULL. */
void *broker_kvmap_del(broker_kvmap_t *m, const void *key, size_t len);

static inline void *broker_kvmap_sget(const broker_kvmap_t *m, const char *key)
{
    return broker_kvmap_get(m, key, strlen(key));
}
static inline void *broker_kvmap_sput(broker_kvmap_t *m, const char *key, void *value)
{
    return broker_kvmap_put(m, key, strlen(key), value);
}
static inline void *broker_kvmap_sdel(broker_kvmap_t *m, const char *key)
{
    return broker_kvmap_del(m, key, strlen(key));
}

/* Iteration in bucket order. Deleting the entry just returned is allowed; any other change
 * to the map during an iteration is not. */
typedef struct {
    broker_kvmap_t *m;
    size_t bucket;
    broker_kvmap_entry_t *next;
} broker_kvmap_iter_t;

void broker_kvmap_iter_init(broker_kvmap_iter_t *it, broker_kvmap_t *m);
/* Returns the next entry or NULL at the end. */
broker_kvmap_entry_t *broker_kvmap_iter_next(broker_kvmap_iter_t *it);

#endif
