/*
 * keyindex: key -> offset of the key's latest record (see keyindex.h).
 *
 * Linear probing over a power-of-two table of slots {offset, the key's 32-bit hash, the key's
 * place in the arena}; a slot whose arena place is EMPTY is free. Nothing is ever removed
 * (a deleted key keeps its slot with offset -1), so probing never needs tombstone slots. The
 * hash is broker_kvmap_hash, seeded per process, so a client cannot aim many keys at one probe
 * chain. Growing moves slots by their stored hash, without reading the keys again.
 *
 * Invariant: count <= 3/4 of nslots, and every arena entry is referenced by exactly one slot.
 */
#include "broker/keyindex.h"
#include "broker/kvmap.h"

#include <stdlib.h>

#define EMPTY     UINT32_MAX
#define SLOTS_MIN 1024u

typedef struct {
    int64_t offset;
    uint32_t tag;     /* the key's 32-bit hash: its slot, and most mismatches end here */
    uint32_t key_pos; /* where the key's length and bytes begin in the arena, EMPTY if free */
} slot_t;

struct broker_keyindex {
    slot_t *slots;
    size_t nslots; /* a power of two */
    size_t count;
    buf_t arena; /* per key: u32 length (host order), then the bytes */
};

static void slots_alloc(broker_keyindex_t *ki, size_t n)
{
    ki->slots = weir_calloc(n, sizeof(slot_t));
    for (size_t i = 0; i < n; i++)
        ki->slots[i].key_pos = EMPTY;
    ki->nslots = n;
}

broker_keyindex_t *broker_keyindex_new(void)
{
    broker_keyindex_t *ki = weir_calloc(1, sizeof(*ki));
    slots_alloc(ki, SLOTS_MIN);
    return ki;
}

void broker_keyindex_free(broker_keyindex_t *ki)
{
    if (!ki)
        return;
    free(ki->slots);
    buf_deinit(&ki->arena);
    free(ki);
}

static const uint8_t *arena_key(const broker_keyindex_t *ki, uint32_t pos, uint32_t *len)
{
    memcpy(len, ki->arena.data + pos, sizeof(*len));
    return ki->arena.data + pos + sizeof(*len);
}

/* A key's 32-bit hash: its home slot is tag & (nslots - 1), so growing never hashes a key again
 * (a table holds at most 2^25 slots, so the bits above the mask still tell most keys apart). */
static uint32_t tag_of(const uint8_t *key, size_t len)
{
    uint64_t h = broker_kvmap_hash(key, len);
    return (uint32_t)(h ^ (h >> 32));
}

/* The slot holding key, or the free slot where it would go. */
static slot_t *find(const broker_keyindex_t *ki, const uint8_t *key, size_t len, uint32_t tag)
{
    size_t mask = ki->nslots - 1;
    for (size_t i = tag & mask;; i = (i + 1) & mask) {
        slot_t *s = &ki->slots[i];
        if (s->key_pos == EMPTY)
            return s;
        if (s->tag != tag)
            continue;
        uint32_t klen;
        const uint8_t *k = arena_key(ki, s->key_pos, &klen);
        if (klen == len && memcmp(k, key, len) == 0)
            return s;
    }
}

static void grow(broker_keyindex_t *ki)
{
    slot_t *old = ki->slots;
    size_t nold = ki->nslots;
    slots_alloc(ki, nold * 2);
    for (size_t i = 0; i < nold; i++) {
        if (old[i].key_pos == EMPTY)
            continue;
        size_t mask = ki->nslots - 1, j = old[i].tag & mask;
        while (ki->slots[j].key_pos != EMPTY) /* keys are distinct: the first free slot */
            j = (j + 1) & mask;
        ki->slots[j] = old[i];
    }
    free(old);
}

int64_t broker_keyindex_get(const broker_keyindex_t *ki, const uint8_t *key, size_t len)
{
    const slot_t *s = find(ki, key, len, tag_of(key, len));
    return s->key_pos == EMPTY ? -1 : s->offset;
}

int broker_keyindex_set(broker_keyindex_t *ki, const uint8_t *key, size_t len, int64_t offset,
                        int64_t *old)
{
    uint32_t tag = tag_of(key, len);
    slot_t *s = find(ki, key, len, tag);
    if (s->key_pos != EMPTY) {
        if (old)
            *old = s->offset;
        s->offset = offset;
        return 0;
    }
    if (old)
        *old = -1;
    if (offset < 0)
        return 0; /* deleting a key that is not there */
    if (ki->count >= BROKER_KEYINDEX_KEYS_MAX ||
        ki->arena.len + sizeof(uint32_t) + len > BROKER_KEYINDEX_ARENA_MAX)
        return -WEIR_ENOMEM;
    if ((ki->count + 1) * 4 > ki->nslots * 3) {
        grow(ki);
        s = find(ki, key, len, tag);
    }
    uint32_t len32 = (uint32_t)len;
    s->key_pos = (uint32_t)ki->arena.len;
    s->tag = tag;
    s->offset = offset;
    buf_append(&ki->arena, &len32, sizeof(len32));
    buf_append(&ki->arena, key, len);
    ki->count++;
    return 0;
}

size_t broker_keyindex_count(const broker_keyindex_t *ki)
{
    return ki->count;
}

size_t broker_keyindex_bytes(const broker_keyindex_t *ki)
{
    return sizeof(*ki) + ki->nslots * sizeof(slot_t) + ki->arena.cap;
}
