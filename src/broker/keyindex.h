/*
 * keyindex: per partition of a topic with weir.key.index=true, a map from a record's key to the
 * offset of the key's latest record (docs/event-store.md). The produce path reads it for a
 * conditional append (header weir.expected.offset) and updates it after every append, under
 * the partition's append_mu; internal to src/broker.
 *
 * Memory: an open-addressing table of 16-byte slots (kept at most 3/4 full, doubled when it
 * would pass that) and an arena holding each key once (4 bytes of length + the key). Bounded:
 * at most BROKER_KEYINDEX_KEYS_MAX keys and BROKER_KEYINDEX_ARENA_MAX bytes of keys per
 * partition; past either, set fails with -WEIR_ENOMEM and the caller stops trusting the index.
 * A key whose latest record is a tombstone (null value) keeps its slot with offset -1 ("does not
 * exist"), so its arena bytes are reclaimed only when the index is rebuilt.
 *
 * Not thread-safe: the owner locks (append_mu).
 */
#ifndef WEIR_BROKER_KEYINDEX_H
#define WEIR_BROKER_KEYINDEX_H

#include "base/base.h"

#define BROKER_KEYINDEX_KEYS_MAX  (16u * 1024 * 1024)
#define BROKER_KEYINDEX_ARENA_MAX ((size_t)1 << 30)

typedef struct broker_keyindex broker_keyindex_t;

broker_keyindex_t *broker_keyindex_new(void);
/* The same with smaller bounds (tests): at most max_keys keys, max_key_bytes of arena. */
broker_keyindex_t *broker_keyindex_new_bounded(size_t max_keys, size_t max_key_bytes);
void broker_keyindex_free(broker_keyindex_t *ki);
/* The key's latest offset, or -1 when the key is absent or its latest record is a tombstone. */
int64_t broker_keyindex_get(const broker_keyindex_t *ki, const uint8_t *key, size_t len);
/* Sets the key's latest offset (-1: it no longer exists); *old (if not NULL) gets what get()
 * answered before. 0, or -WEIR_ENOMEM past the bounds above (nothing changed). */
int broker_keyindex_set(broker_keyindex_t *ki, const uint8_t *key, size_t len, int64_t offset,
                        int64_t *old);
/* The same in steps, for a batch of keys: the key's hash (tag), a hint to load its slot into
 * the cache before the set (the sets of a batch then wait for memory together, not one after
 * the other), room for `more` new keys without growing in between, and set with the tag. */
uint32_t broker_keyindex_tag(const uint8_t *key, size_t len);
void broker_keyindex_prefetch(const broker_keyindex_t *ki, uint32_t tag);
/* Once the slot is in the cache: a hint to load the key its home slot holds, if the hash
 * matches (an existing key is compared with the one in the arena: a second miss otherwise). */
void broker_keyindex_prefetch_key(const broker_keyindex_t *ki, uint32_t tag);
void broker_keyindex_reserve(broker_keyindex_t *ki, size_t more);
int broker_keyindex_set_tagged(broker_keyindex_t *ki, const uint8_t *key, size_t len, uint32_t tag,
                               int64_t offset, int64_t *old);
/* Iterates the keys held (tombstoned ones included, with offset -1), in no particular order:
 * *cursor starts at 0; true with the next key, false at the end. The index must not change
 * meanwhile. */
bool broker_keyindex_next(const broker_keyindex_t *ki, size_t *cursor, const uint8_t **key,
                          size_t *len, int64_t *offset);
/* Keys held (tombstoned ones included) and bytes of memory used (table + arena). */
size_t broker_keyindex_count(const broker_keyindex_t *ki);
size_t broker_keyindex_bytes(const broker_keyindex_t *ki);

#endif
