/*
 * The event store's key index (broker/keyindex.c): exact answers for set/get/delete, keys that
 * differ only in length or in one byte, 200 000 keys through several doublings (so probe
 * chains are long and many keys share a start slot) checked against a plain array, the undo
 * contract of set (*old), the memory reported per key, and the iteration a snapshot of the
 * index writes (every key once, tombstoned ones with -1).
 */
#include "broker/keyindex.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TEST(keyindex_set_get_delete)
{
    broker_keyindex_t *ki = broker_keyindex_new();
    int64_t old = 99;
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"a", 1), -1);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"a", 1, 5, &old), 0);
    CHECK_EQ(old, -1);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"a", 1, 7, &old), 0);
    CHECK_EQ(old, 5);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"a", 1), 7);
    /* a prefix, an empty key and a key with a NUL are other keys */
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"ab", 2), -1);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"", 0), -1);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"", 0, 1, NULL), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"a\0", 2, 2, NULL), 0);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"", 0), 1);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"a\0", 2), 2);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"a", 1), 7);
    /* delete: absent again, the slot kept; deleting an absent key adds nothing */
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"a", 1, -1, &old), 0);
    CHECK_EQ(old, 7);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"a", 1), -1);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"zz", 2, -1, &old), 0);
    CHECK_EQ(old, -1);
    CHECK_EQ(broker_keyindex_count(ki), 3);
    broker_keyindex_free(ki);
}

TEST(keyindex_many_keys_match_a_model)
{
    enum { N = 200000 };
    broker_keyindex_t *ki = broker_keyindex_new();
    int64_t *model = calloc(N, sizeof(*model));
    char key[32];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < N; i++) {
            if ((i + round) % 7 == 0 && round > 0) { /* some keys deleted, later set again */
                model[i] = -1;
            } else {
                model[i] = (int64_t)round * N + i;
            }
            int n = snprintf(key, sizeof(key), "order-%d", i);
            int64_t old;
            REQUIRE(broker_keyindex_set(ki, (const uint8_t *)key, (size_t)n, model[i], &old) == 0);
        }
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof(key), "order-%d", i);
        wrong += broker_keyindex_get(ki, (const uint8_t *)key, (size_t)n) != model[i];
    }
    CHECK_EQ(wrong, 0);
    CHECK_EQ(broker_keyindex_count(ki), N);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"order-200000", 12), -1);
    /* the cost: 16-byte slots at most 3/4 full, each key stored once with 4 bytes of length */
    size_t bytes = broker_keyindex_bytes(ki);
    CHECK(bytes >= N * (16 + 4 + 11) && bytes <= N * (16 * 8 / 3 + 2 * (4 + 12)) + 65536);
    printf("# %d keys of 7-12 bytes: %zu bytes (%.1f per key)\n", N, bytes, (double)bytes / N);
    free(model);
    broker_keyindex_free(ki);
}

/* What the produce path does when a batch is refused: set, then put back each *old in
 * reverse order; the index is then as it was (the new key reads as absent). */
TEST(keyindex_undo_restores)
{
    broker_keyindex_t *ki = broker_keyindex_new();
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"k", 1, 3, NULL), 0);
    int64_t o1, o2, o3;
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"k", 1, 10, &o1), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"new", 3, 11, &o2), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"k", 1, 12, &o3), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"k", 1, o3, NULL), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"new", 3, o2, NULL), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"k", 1, o1, NULL), 0);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"k", 1), 3);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"new", 3), -1);
    broker_keyindex_free(ki);
}

/* Past its bounds an insert fails and changes nothing; keys already there still update. */
TEST(keyindex_bounds)
{
    broker_keyindex_t *ki = broker_keyindex_new_bounded(3, 1 << 20);
    int64_t old = 42;
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"a", 1, 1, NULL), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"b", 1, 2, NULL), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"c", 1, 3, NULL), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"d", 1, 4, &old), -WEIR_ENOMEM);
    CHECK_EQ(broker_keyindex_get(ki, (const uint8_t *)"d", 1), -1);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"a", 1, 5, &old), 0);
    CHECK_EQ(old, 1);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"e", 1, -1, NULL), 0); /* a no-op */
    CHECK_EQ(broker_keyindex_count(ki), 3);
    broker_keyindex_free(ki);
    ki = broker_keyindex_new_bounded(100, 10); /* 4 + 5 bytes fit, 4 + 6 more do not */
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"12345", 5, 0, NULL), 0);
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"x", 1, 0, NULL), -WEIR_ENOMEM);
    broker_keyindex_free(ki);
}

/* What a snapshot writes: every key once (a tombstoned one with -1), with its offset, through
 * two growths of the table (huge-page sized from 131072 slots on) and the arena's. */
TEST(keyindex_next_visits_every_key_once)
{
    enum { N = 100000 };
    broker_keyindex_t *ki = broker_keyindex_new();
    char key[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof(key), "agg-%d", i);
        REQUIRE(broker_keyindex_set(ki, (const uint8_t *)key, (size_t)n, i % 5 ? 3 * i : -1,
                                    NULL) == 0);
    }
    /* i % 5 == 0 was set to -1 on an absent key: not added */
    uint8_t *seen = calloc(N, 1);
    size_t cursor = 0, len, visited = 0, wrong = 0;
    const uint8_t *k;
    int64_t offset;
    while (broker_keyindex_next(ki, &cursor, &k, &len, &offset)) {
        char text[32] = {0};
        memcpy(text, k, len < 31 ? len : 31);
        int i = atoi(text + 4);
        wrong += strncmp(text, "agg-", 4) != 0 || i < 0 || i >= N || seen[i] || offset != 3 * i;
        if (i >= 0 && i < N)
            seen[i] = 1;
        visited++;
    }
    CHECK_EQ(visited, N - N / 5);
    CHECK_EQ(wrong, 0);
    CHECK_EQ(broker_keyindex_next(ki, &cursor, &k, &len, &offset), false); /* stays at the end */
    CHECK_EQ(broker_keyindex_set(ki, (const uint8_t *)"agg-1", 5, -1, NULL), 0);
    cursor = 0;
    int64_t tomb = 0;
    while (broker_keyindex_next(ki, &cursor, &k, &len, &offset))
        if (len == 5 && memcmp(k, "agg-1", 5) == 0)
            tomb = offset;
    CHECK_EQ(tomb, -1); /* a tombstoned key is kept, with -1 */
    free(seen);
    broker_keyindex_free(ki);
}

TEST_MAIN()
