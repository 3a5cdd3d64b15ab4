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
#include <sys/mman.h>

#define EMPTY     UINT32_MAX
#define SLOTS_MIN 1024u
/* Past this size the table and the arena ask for 2 MiB pages: their reads land anywhere, and
 * with 4 KiB pages nearly every one of them also missed the TLB (a table of 1M keys spans 8,000
 * pages; the CPU's TLB covers a few thousand). */
#define HUGE_PAGE ((size_t)2 << 20)

typedef struct {
    int64_t offset;
    uint32_t tag;     /* the key's 32-bit hash: its slot, and most mismatches end here */
    uint32_t key_pos; /* where the key's length and bytes begin in the arena, EMPTY if free */
} slot_t;

struct broker_keyindex {
    slot_t *slots;
    size_t nslots; /* a power of two */
    size_t count;
    size_t max_keys, max_key_bytes; /* the bounds */
    /* per key: u32 length (host order), then the bytes; grown by a quarter at a time (not
     * doubled: it is the larger half of the index's memory) */
    uint8_t *arena;
    size_t arena_len, arena_cap;
};

/* Asks the kernel for huge pages under the 2 MiB-aligned part of [p, p + len): a hint only. */
static void huge_pages_hint(void *p, size_t len)
{
    uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

static void slots_alloc(broker_keyindex_t *ki, size_t n)
{
    size_t bytes = n * sizeof(slot_t);
    /* aligned, so the whole table can sit on huge pages (n is a power of two) */
    ki->slots = bytes >= HUGE_PAGE ? aligned_alloc(HUGE_PAGE, bytes) : NULL;
    if (ki->slots)
        huge_pages_hint(ki->slots, bytes);
    else
        ki->slots = weir_malloc(bytes); /* out of memory is fatal there, as everywhere */
    for (size_t i = 0; i < n; i++)
        ki->slots[i].key_pos = EMPTY;
    ki->nslots = n;
}

broker_keyindex_t *broker_keyindex_new_bounded(size_t max_keys, size_t max_key_bytes)
{
    WEIR_ASSERT(max_keys <= BROKER_KEYINDEX_KEYS_MAX && max_key_bytes <= BROKER_KEYINDEX_ARENA_MAX);
    broker_keyindex_t *ki = weir_calloc(1, sizeof(*ki));
    slots_alloc(ki, SLOTS_MIN);
    ki->max_keys = max_keys;
    ki->max_key_bytes = max_key_bytes;
    return ki;
}

broker_keyindex_t *broker_keyindex_new(void)
{
    return broker_keyindex_new_bounded(BROKER_KEYINDEX_KEYS_MAX, BROKER_KEYINDEX_ARENA_MAX);
}

void broker_keyindex_free(broker_keyindex_t *ki)
{
    if (!ki)
        return;
    free(ki->slots);
    free(ki->arena);
    free(ki);
}

static const uint8_t *arena_key(const broker_keyindex_t *ki, uint32_t pos, uint32_t *len)
{
    memcpy(len, ki->arena + pos, sizeof(*len));
    return ki->arena + pos + sizeof(*len);
}

/* A key's 32-bit hash: its home slot is tag & (nslots - 1), so growing never hashes a key again
 * (a table holds at most 2^25 slots, so the bits above the mask still tell most keys apart). */
uint32_t broker_keyindex_tag(const uint8_t *key, size_t len)
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

static void arena_reserve(broker_keyindex_t *ki, size_t n)
{
    if (ki->arena_len + n <= ki->arena_cap)
        return;
    size_t cap = WEIR_MAX(ki->arena_cap + ki->arena_cap / 4, (size_t)65536);
    cap = WEIR_MAX(cap, ki->arena_len + n);
    ki->arena = weir_realloc(ki->arena, cap);
    ki->arena_cap = cap;
    huge_pages_hint(ki->arena, cap);
}

int64_t broker_keyindex_get(const broker_keyindex_t *ki, const uint8_t *key, size_t len)
{
    const slot_t *s = find(ki, key, len, broker_keyindex_tag(key, len));
    return s->key_pos == EMPTY ? -1 : s->offset;
}

void broker_keyindex_prefetch(const broker_keyindex_t *ki, uint32_t tag)
{
    __builtin_prefetch(&ki->slots[tag & (ki->nslots - 1)]);
}

void broker_keyindex_prefetch_key(const broker_keyindex_t *ki, uint32_t tag)
{
    const slot_t *s = &ki->slots[tag & (ki->nslots - 1)];
    if (s->key_pos != EMPTY && s->tag == tag)
        __builtin_prefetch(ki->arena + s->key_pos);
}

void broker_keyindex_reserve(broker_keyindex_t *ki, size_t more)
{
    size_t want = WEIR_MIN(ki->count + more, ki->max_keys);
    while (want * 4 > ki->nslots * 3)
        grow(ki);
}

int broker_keyindex_set(broker_keyindex_t *ki, const uint8_t *key, size_t len, int64_t offset,
                        int64_t *old)
{
    return broker_keyindex_set_tagged(ki, key, len, broker_keyindex_tag(key, len), offset, old);
}

int broker_keyindex_set_tagged(broker_keyindex_t *ki, const uint8_t *key, size_t len, uint32_t tag,
                               int64_t offset, int64_t *old)
{
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
    if (ki->count >= ki->max_keys || ki->arena_len + sizeof(uint32_t) + len > ki->max_key_bytes)
        return -WEIR_ENOMEM;
    if ((ki->count + 1) * 4 > ki->nslots * 3) {
        grow(ki);
        s = find(ki, key, len, tag);
    }
    uint32_t len32 = (uint32_t)len;
    arena_reserve(ki, sizeof(len32) + len);
    s->key_pos = (uint32_t)ki->arena_len;
    s->tag = tag;
    s->offset = offset;
    memcpy(ki->arena + ki->arena_len, &len32, sizeof(len32));
    memcpy(ki->arena + ki->arena_len + sizeof(len32), key, len);
    ki->arena_len += sizeof(len32) + len;
    ki->count++;
    return 0;
}

bool broker_keyindex_next(const broker_keyindex_t *ki, size_t *cursor, const uint8_t **key,
                          size_t *len, int64_t *offset)
{
    for (size_t i = *cursor; i < ki->nslots; i++) {
        const slot_t *s = &ki->slots[i];
        if (s->key_pos == EMPTY)
            continue;
        uint32_t klen;
        *key = arena_key(ki, s->key_pos, &klen);
        *len = klen;
        *offset = s->offset;
        *cursor = i + 1;
        return true;
    }
    *cursor = ki->nslots;
    return false;
}

size_t broker_keyindex_count(const broker_keyindex_t *ki)
{
    return ki->count;
}

size_t broker_keyindex_bytes(const broker_keyindex_t *ki)
{
    return sizeof(*ki) + ki->nslots * sizeof(slot_t) + ki->arena_cap;
}
