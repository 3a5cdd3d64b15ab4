/* Unit tests of log compaction: the latest record per key survives at its original offset,
 * older ones go; tombstones go after delete.retention.ms (and only then); only durable,
 * inactive segments older than min.compaction.lag.ms are touched; compressed batches that lose
 * records are rewritten uncompressed; transactional batches are kept whole; small segments
 * merge; a bounded key map cleans a prefix; and a crash at every single disk operation of a
 * compaction loses no key's latest value and leaves no half-done files after the reopen. */
#include "test.h"
#include "test_log_util.h"

typedef struct {
    int64_t offset;
    char key[16]; /* "" for a null key */
    char val[32]; /* "" with tomb set for a null value */
    bool tomb;
} rec_t;

typedef struct {
    rec_t *v;
    size_t n;
} recs_t;

static storage_io_sim_t *sim;
static int64_t now_ms = 1700000000000ll;

static void cfg_compact(storage_log_config_t *cfg)
{
    storage_log_config_default(cfg);
    cfg->segment_bytes = 700;
    cfg->index_interval_bytes = 100;
    cfg->cleanup_compact = true;
    cfg->cleanup_delete = false;
    cfg->retention_ms = -1;
    cfg->delete_retention_ms = -1;
}

static storage_log_t *open_log(const storage_log_config_t *cfg)
{
    storage_log_t *log = NULL;
    int rc = storage_log_open(storage_io_sim_io(sim), "/c", cfg, &log);
    if (rc)
        fprintf(stderr, "open: %s\n", weir_strerror(rc));
    return log;
}

/* Appends one batch of n records "k<key>" = "v<offset-to-be>" (value NULL when tomb[i]). */
static int64_t put(storage_log_t *log, int n, const int *keys, const bool *tomb, int16_t attrs)
{
    storage_record_in_t r[16];
    char k[16][16], v[16][32];
    int64_t base = storage_log_end_offset(log);
    for (int i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        if (keys[i] >= 0) {
            r[i].key_len = snprintf(k[i], sizeof(k[i]), "k%d", keys[i]);
            r[i].key = k[i];
        } else {
            r[i].key_len = -1;
        }
        if (tomb && tomb[i]) {
            r[i].value_len = -1;
        } else {
            r[i].value_len = snprintf(v[i], sizeof(v[i]), "v%lld", (long long)(base + i));
            r[i].value = v[i];
        }
        r[i].timestamp = now_ms;
    }
    storage_batch_opts_t o = {-1, -1, -1, attrs};
    buf_t b;
    buf_init(&b);
    storage_batch_build(&b, r, (size_t)n, &o);
    int64_t got;
    int rc = storage_log_append(log, b.data, b.len, &got);
    buf_deinit(&b);
    return rc ? rc : got;
}

static void put1(storage_log_t *log, int key)
{
    put(log, 1, &key, NULL, 0);
}

static void put_tomb(storage_log_t *log, int key)
{
    bool t = true;
    put(log, 1, &key, &t, 0);
}

/* Every record the log serves, in order, with its offset. */
static recs_t read_recs(storage_log_t *log)
{
    recs_t out = {NULL, 0};
    buf_t all;
    buf_init(&all);
    int64_t n = tl_read_all(log, &all);
    WEIR_ASSERT(n >= 0);
    for (size_t pos = 0; pos < all.len;) {
        storage_batch_header_t h;
        size_t t;
        WEIR_ASSERT(storage_batch_header_read(all.data + pos, all.len - pos, &h, &t) == 0);
        storage_record_iter_t it;
        WEIR_ASSERT(storage_record_iter_init(&it, all.data + pos, t, 1 << 20) == 0);
        storage_record_t r;
        while (storage_record_iter_next(&it, &r) == 1) {
            out.v = weir_realloc(out.v, (out.n + 1) * sizeof(*out.v));
            rec_t *x = &out.v[out.n++];
            memset(x, 0, sizeof(*x));
            x->offset = h.base_offset + r.offset_delta;
            if (r.key)
                snprintf(x->key, sizeof(x->key), "%.*s", r.key_len, (const char *)r.key);
            x->tomb = r.value == NULL;
            if (r.value)
                snprintf(x->val, sizeof(x->val), "%.*s", r.value_len, (const char *)r.value);
        }
        storage_record_iter_deinit(&it);
        pos += t;
    }
    buf_deinit(&all);
    return out;
}

static const rec_t *find_latest(const recs_t *rs, const char *key)
{
    const rec_t *l = NULL;
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].key, key) == 0)
            l = &rs->v[i];
    return l;
}

static int count_key(const recs_t *rs, const char *key)
{
    int n = 0;
    for (size_t i = 0; i < rs->n; i++)
        n += strcmp(rs->v[i].key, key) == 0;
    return n;
}

/* Offsets never change: every record's value names its own offset. */
static void check_offsets_kept(const recs_t *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        if (rs->v[i].tomb)
            continue;
        char want[32];
        snprintf(want, sizeof(want), "v%lld", (long long)rs->v[i].offset);
        CHECK_STR(rs->v[i].val, want);
        if (i > 0)
            CHECK(rs->v[i].offset > rs->v[i - 1].offset);
    }
}

static void setup(void)
{
    storage_io_sim_free(sim);
    sim = storage_io_sim_new(7);
    clock_wall_set_override(now_ms);
}

TEST(keeps_latest_per_key_and_offsets)
{
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    /* 10 keys updated 8 times each, round robin, one record per batch. */
    for (int round = 0; round < 8; round++)
        for (int k = 0; k < 10; k++)
            put1(log, k);
    REQUIRE(log->nsegs > 4);
    recs_t before = read_recs(log);
    CHECK_EQ(before.n, 80);
    /* Nothing is cleaned before it is durable. */
    CHECK_EQ(storage_log_compact(log, now_ms), 0);
    recs_t same = read_recs(log);
    CHECK_EQ(same.n, 80);
    free(same.v);
    CHECK_EQ(storage_log_flush(log), 0);
    uint64_t size0 = storage_log_size_bytes(log);
    storage_segment_t *active = log_active(log);
    int64_t active_base = active->base;
    uint64_t active_size = active->size;
    CHECK_EQ(storage_log_clean(log, now_ms), 1); /* never cleaned: all dirty, so due */
    recs_t after = read_recs(log);
    check_offsets_kept(&after);
    for (int k = 0; k < 10; k++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        const rec_t *a = find_latest(&after, key), *b = find_latest(&before, key);
        REQUIRE(a && b);
        CHECK_EQ(a->offset, b->offset);
        CHECK_STR(a->val, b->val);
    }
    /* Outside the active segment only one record per key is left (the latest there: the
     * key map covers the cleaned segments); the active segment is untouched. */
    for (size_t i = 0; i < after.n; i++)
        for (size_t j = i + 1; j < after.n && after.v[j].offset < active_base; j++)
            CHECK(strcmp(after.v[i].key, after.v[j].key) != 0);
    CHECK_EQ(log_active(log)->base, active_base);
    CHECK_EQ(log_active(log)->size, active_size);
    CHECK(storage_log_size_bytes(log) < size0);
    CHECK(after.n < 80);
    /* The log start and end offsets did not move. */
    CHECK_EQ(storage_log_start_offset(log), 0);
    CHECK_EQ(storage_log_end_offset(log), 80);
    /* Same after a clean reopen and after a crash (gaps are expected in compacted segments). */
    storage_log_close(log);
    log = open_log(&cfg);
    REQUIRE(log);
    recs_t again = read_recs(log);
    CHECK_EQ(again.n, after.n);
    free(again.v);
    storage_log_abandon(log);
    storage_io_sim_crash(sim);
    log = open_log(&cfg);
    REQUIRE(log);
    again = read_recs(log);
    CHECK_EQ(again.n, after.n);
    free(again.v);
    /* Reading an offset that compaction removed returns the next batch. */
    storage_slice_t s;
    CHECK_EQ(storage_log_read(log, 0, 0, &s), 0);
    CHECK(s.len > 0);
    storage_slice_release(log, &s);
    free(before.v);
    free(after.v);
    storage_log_close(log);
}

TEST(batches_split_into_runs_keep_offsets)
{
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    cfg.segment_bytes = 4000;
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    /* One batch k0 k1 k2 k3 k4 k5; then k1, k2, k4 again: the first batch keeps k0, k3, k5 at
     * offsets 0, 3, 5, which become three single-record batches (counts stay dense). */
    int keys[6] = {0, 1, 2, 3, 4, 5};
    CHECK_EQ(put(log, 6, keys, NULL, 0), 0);
    put1(log, 1);
    put1(log, 2);
    put1(log, 4);
    REQUIRE(log->nsegs == 1);
    /* Make the segment inactive: only inactive segments are cleaned. */
    pthread_mutex_lock(&log->mu);
    CHECK_EQ(storage_log_roll_locked(log), 0);
    pthread_mutex_unlock(&log->mu);
    put1(log, 9);
    CHECK_EQ(storage_log_flush(log), 0);
    CHECK_EQ(storage_log_compact(log, now_ms), 0);
    recs_t rs = read_recs(log);
    check_offsets_kept(&rs);
    int64_t want[] = {0, 3, 5, 6, 7, 8, 9};
    CHECK_EQ(rs.n, WEIR_ARRAY_LEN(want));
    for (size_t i = 0; i < rs.n && i < WEIR_ARRAY_LEN(want); i++)
        CHECK_EQ(rs.v[i].offset, want[i]);
    free(rs.v);
    /* Offset 1 was removed: a read there starts at the batch holding 3. */
    storage_slice_t s;
    REQUIRE(storage_log_read(log, 1, 0, &s) == 0);
    uint8_t h[BATCH_HEADER_SIZE];
    size_t got;
    log->io->ops->pread(log->io, s.fd, h, sizeof(h), s.pos, &got);
    CHECK_EQ(be64_read(h), 3);
    storage_slice_release(log, &s);
    storage_log_close(log);
}

TEST(tombstones_expire_after_delete_retention)
{
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    cfg.delete_retention_ms = 60000;
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 6; i++)
        put1(log, 1);
    put_tomb(log, 1);
    for (int i = 0; i < 12; i++)
        put1(log, 2);
    CHECK_EQ(storage_log_flush(log), 0);
    /* Young tombstone: the values before it go, the tombstone stays. */
    CHECK_EQ(storage_log_compact(log, now_ms + 1000), 0);
    recs_t rs = read_recs(log);
    CHECK_EQ(count_key(&rs, "k1"), 1);
    const rec_t *t = find_latest(&rs, "k1");
    REQUIRE(t);
    CHECK(t->tomb);
    CHECK_EQ(t->offset, 6);
    free(rs.v);
    /* Past delete.retention.ms: the tombstone goes too, and the key is gone for good. */
    CHECK_EQ(storage_log_compact(log, now_ms + 60001), 0);
    rs = read_recs(log);
    CHECK_EQ(count_key(&rs, "k1"), 0);
    CHECK(count_key(&rs, "k2") >= 1);
    free(rs.v);
    storage_log_close(log);
}

TEST(min_compaction_lag)
{
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    cfg.min_compaction_lag_ms = 10000;
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 40; i++)
        put1(log, i % 3);
    CHECK_EQ(storage_log_flush(log), 0);
    CHECK_EQ(storage_log_compact(log, now_ms + 5000), 0); /* too young */
    recs_t rs = read_recs(log);
    CHECK_EQ(rs.n, 40);
    free(rs.v);
    CHECK_EQ(storage_log_compact(log, now_ms + 20000), 0);
    rs = read_recs(log);
    CHECK(rs.n < 40);
    free(rs.v);
    storage_log_close(log);
}

/* A transactional batch of producer pid (keys as put's). */
static int64_t put_txn(storage_log_t *log, int n, const int *keys, int64_t pid)
{
    storage_record_in_t r[16];
    char k[16][16], v[16][32];
    memset(r, 0, sizeof(r));
    int64_t base = storage_log_end_offset(log);
    for (int i = 0; i < n; i++) {
        r[i].key_len = snprintf(k[i], sizeof(k[i]), "k%d", keys[i]);
        r[i].key = k[i];
        r[i].value_len = snprintf(v[i], sizeof(v[i]), "v%lld", (long long)(base + i));
        r[i].value = v[i];
        r[i].timestamp = now_ms;
    }
    storage_batch_opts_t o = {pid, 0, 0, BATCH_TRANSACTIONAL};
    buf_t b;
    buf_init(&b);
    storage_batch_build(&b, r, (size_t)n, &o);
    int64_t got;
    WEIR_ASSERT(storage_log_append(log, b.data, b.len, &got) == 0);
    buf_deinit(&b);
    return got;
}

/* A commit or abort marker of producer pid; an abort is recorded in the aborted index, as the
 * broker's producer state does. */
static int64_t put_marker(storage_log_t *log, int64_t pid, bool commit, int64_t first)
{
    uint8_t key[4] = {0, 0, 0, commit ? 1 : 0}, value[6] = {0};
    storage_record_in_t r = {
        .key = key, .key_len = 4, .value = value, .value_len = 6, .timestamp = now_ms};
    storage_batch_opts_t o = {pid, 0, -1, BATCH_TRANSACTIONAL | BATCH_CONTROL};
    buf_t b;
    buf_init(&b);
    storage_batch_build(&b, &r, 1, &o);
    int64_t got;
    WEIR_ASSERT(storage_log_append(log, b.data, b.len, &got) == 0);
    buf_deinit(&b);
    if (!commit) {
        storage_aborted_txn_t t = {pid, first, got, got + 1};
        WEIR_ASSERT(storage_log_aborted_add(log, &t) == 0);
    }
    return got;
}

/* Compressed batches are rewritten only where they lose records; committed transactional
 * records are compacted like any other (and keep their flag when rewritten), an aborted
 * transaction's records are dropped and hide nothing, markers stay, and nothing at or past
 * the first unstable offset is cleaned. */
TEST(compressed_and_transactional_batches)
{
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    cfg.segment_bytes = 2000;
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    int a[4] = {0, 1, 2, 3}, b[4] = {4, 5, 6, 7}, c[2] = {4, 5};
    CHECK_EQ(put(log, 4, a, NULL, CODEC_GZIP), 0); /* all superseded by the committed txn */
    CHECK_EQ(put(log, 4, b, NULL, CODEC_LZ4), 4);  /* nothing superseded */
    CHECK_EQ(put_txn(log, 4, a, 77), 8);           /* committed: k1, k3 superseded below */
    CHECK_EQ(put_marker(log, 77, true, 8), 12);
    put1(log, 1);                         /* 13 */
    put1(log, 3);                         /* 14 */
    CHECK_EQ(put_txn(log, 2, c, 78), 15); /* aborted: dropped, hides k4, k5 of nobody */
    CHECK_EQ(put_marker(log, 78, false, 15), 17);
    pthread_mutex_lock(&log->mu);
    CHECK_EQ(storage_log_roll_locked(log), 0);
    pthread_mutex_unlock(&log->mu);
    put1(log, 9); /* 18 */
    CHECK_EQ(storage_log_flush(log), 0);
    /* an open transaction at 8 would keep everything: nothing at or past it is cleaned */
    storage_log_set_first_unstable(log, 4);
    CHECK_EQ(storage_log_compact(log, now_ms), 0);
    recs_t rs = read_recs(log);
    CHECK_EQ(rs.n, 19); /* every offset, markers included */
    free(rs.v);
    storage_log_set_first_unstable(log, -1);
    CHECK_EQ(storage_log_compact(log, now_ms), 0);
    rs = read_recs(log);
    int64_t want[] = {4, 5, 6, 7, 8, 10, 12, 13, 14, 17, 18};
    CHECK_EQ(rs.n, WEIR_ARRAY_LEN(want));
    for (size_t i = 0; i < rs.n && i < WEIR_ARRAY_LEN(want); i++)
        CHECK_EQ(rs.v[i].offset, want[i]);
    free(rs.v);
    struct {
        int64_t base;
        int16_t attrs;
    } seen[32];
    int ns = 0;
    buf_t all;
    buf_init(&all);
    tl_read_all(log, &all);
    for (size_t pos = 0; pos < all.len && ns < 32;) {
        storage_batch_header_t h;
        size_t t;
        REQUIRE(storage_batch_header_read(all.data + pos, all.len - pos, &h, &t) == 0);
        seen[ns].base = h.base_offset;
        seen[ns++].attrs = h.attributes;
        pos += t;
    }
    buf_deinit(&all);
    REQUIRE(ns >= 6);
    CHECK_EQ(seen[0].base, 4); /* the untouched lz4 batch is still lz4 */
    CHECK_EQ(seen[0].attrs & BATCH_COMPRESSION_MASK, CODEC_LZ4);
    CHECK_EQ(seen[1].base, 8); /* the committed txn batch, rewritten: still transactional */
    CHECK(seen[1].attrs & BATCH_TRANSACTIONAL);
    CHECK_EQ(seen[2].base, 10);
    CHECK(seen[2].attrs & BATCH_TRANSACTIONAL);
    CHECK_EQ(seen[3].base, 12); /* its commit marker */
    CHECK(seen[3].attrs & BATCH_CONTROL);
    /* the aborted transaction's index entry survives the rewrite */
    storage_aborted_txn_t *v;
    size_t n = storage_log_aborted_collect(log, 0, 100, &v);
    CHECK_EQ(n, 1);
    if (n == 1)
        CHECK_EQ(v[0].first_offset, 15);
    free(v);
    storage_log_close(log);
    /* ... and the restart */
    log = open_log(&cfg);
    REQUIRE(log);
    n = storage_log_aborted_collect(log, 0, 100, &v);
    CHECK_EQ(n, 1);
    free(v);
    storage_log_close(log);
}

TEST(small_segments_merge)
{
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    cfg.segment_bytes = 300; /* about three single-record batches */
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 60; i++)
        put1(log, i % 4);
    CHECK_EQ(storage_log_flush(log), 0);
    size_t before = log->nsegs;
    cfg.segment_bytes = 100000;
    storage_log_set_config(log, &cfg);
    CHECK_EQ(storage_log_compact(log, now_ms), 0);
    CHECK(log->nsegs < before);
    CHECK(log->nsegs <= 3);
    recs_t rs = read_recs(log);
    check_offsets_kept(&rs);
    for (int k = 0; k < 4; k++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        const rec_t *l = find_latest(&rs, key);
        REQUIRE(l);
        CHECK_EQ(l->offset, 56 + k);
    }
    free(rs.v);
    /* A second pass with nothing new does nothing. */
    uint64_t muts = storage_io_sim_mutation_count(sim);
    CHECK_EQ(storage_log_compact(log, now_ms), 0);
    CHECK_EQ(storage_io_sim_mutation_count(sim), muts);
    storage_log_close(log);
}

TEST(bounded_key_map_cleans_a_prefix)
{
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    cfg.cleaner_map_bytes = 4096; /* 1024 slots would not fit: the map holds only a few keys */
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 300; k++)
            put1(log, k);
    CHECK_EQ(storage_log_flush(log), 0);
    recs_t before = read_recs(log);
    CHECK_EQ(storage_log_compact(log, now_ms), 0);
    recs_t after = read_recs(log);
    check_offsets_kept(&after);
    for (int k = 0; k < 300; k++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        const rec_t *a = find_latest(&after, key), *b = find_latest(&before, key);
        REQUIRE(a && b);
        CHECK_EQ(a->offset, b->offset);
    }
    free(before.v);
    free(after.v);
    storage_log_close(log);
}

TEST(policy_change_after_compaction_keeps_gaps)
{
    /* A compacted topic switched to cleanup.policy=delete: after an unclean restart the offset
     * gaps compaction left must not read as missing data. */
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    for (int round = 0; round < 6; round++)
        for (int k = 0; k < 5; k++)
            put1(log, k);
    CHECK_EQ(storage_log_flush(log), 0);
    CHECK_EQ(storage_log_compact(log, now_ms), 0);
    recs_t before = read_recs(log);
    REQUIRE(before.n < 30);
    for (int k = 0; k < 3; k++)
        put1(log, k); /* not yet durable */
    storage_log_abandon(log);
    storage_io_sim_crash(sim);
    cfg.cleanup_compact = false;
    log = open_log(&cfg);
    REQUIRE(log);
    recs_t after = read_recs(log);
    CHECK(after.n >= before.n);
    for (size_t i = 0; i < before.n && i < after.n; i++)
        CHECK_EQ(after.v[i].offset, before.v[i].offset);
    free(before.v);
    free(after.v);
    storage_log_close(log);
}

TEST(batch_with_bad_record_deltas_kept_whole)
{
    /* Append checks headers only; a batch whose records repeat an offset delta must not be
     * split (its runs would get wrong offsets): compaction keeps it as it is. */
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    storage_record_in_t r[2] = {{.key = "k0", .key_len = 2, .value = "a", .value_len = 1},
                                {.key = "k0", .key_len = 2, .value = "b", .value_len = 1}};
    buf_t b;
    buf_init(&b);
    storage_batch_build(&b, r, 2, NULL);
    /* Second record: length, attributes, timestamp delta, then the offset delta (zigzag 1 = 2). */
    uint8_t *rec2 = b.data + BATCH_HEADER_SIZE + 1 + b.data[BATCH_HEADER_SIZE] / 2;
    REQUIRE(rec2[3] == 2);
    rec2[3] = 0;
    storage_batch_crc_update(b.data, b.len);
    int64_t base;
    REQUIRE(storage_log_append(log, b.data, b.len, &base) == 0);
    for (int i = 0; i < 30; i++)
        put1(log, 0);
    CHECK_EQ(storage_log_flush(log), 0);
    CHECK_EQ(storage_log_compact(log, now_ms), 0);
    storage_slice_t sl;
    REQUIRE(storage_log_read(log, 0, 0, &sl) == 0);
    CHECK_EQ(sl.pos, 0);
    CHECK_EQ(sl.len, b.len); /* the odd batch is still first, whole */
    storage_slice_release(log, &sl);
    buf_deinit(&b);
    storage_log_close(log);
}

/* ---- crashes inside compaction ---------------------------------------------------------- */

static storage_log_t *crash_fixture(storage_log_config_t *cfg, uint64_t seed)
{
    storage_io_sim_free(sim);
    sim = storage_io_sim_new(seed);
    cfg_compact(cfg);
    cfg->delete_retention_ms = 0;
    storage_log_t *log = open_log(cfg);
    WEIR_ASSERT(log);
    for (int round = 0; round < 6; round++) {
        for (int k = 0; k < 8; k++) {
            if (round == 4 && k == 3)
                put_tomb(log, k);
            else if (round < 5 || k != 3)
                put1(log, k);
        }
    }
    put1(log, 0); /* the active segment */
    WEIR_ASSERT(storage_log_flush(log) == 0);
    return log;
}

static int list_bad(const char *name, void *arg)
{
    int *bad = arg;
    size_t n = strlen(name);
    if ((n > 8 && strcmp(name + n - 8, ".cleaned") == 0) ||
        (n > 5 && strcmp(name + n - 5, ".swap") == 0))
        (*bad)++;
    return 0;
}

TEST(crash_at_every_step_of_compaction)
{
    /* The latest value of every key, before compaction. */
    storage_log_config_t cfg;
    storage_log_t *log = crash_fixture(&cfg, 1);
    recs_t want = read_recs(log);
    storage_log_close(log);
    int steps = 0, completed = 0;
    for (int64_t n = 0; n < 400 && !completed; n++) {
        for (uint64_t seed = 1; seed <= 6; seed++) {
            log = crash_fixture(&cfg, seed * 1000 + (uint64_t)n);
            storage_io_sim_crash_after(sim, n);
            int rc = storage_log_compact(log, now_ms + 10);
            bool frozen = storage_io_sim_frozen(sim);
            if (!frozen) {
                CHECK_EQ(rc, 0);
                completed = 1;
            }
            storage_log_abandon(log);
            storage_io_sim_crash(sim);
            log = open_log(&cfg);
            REQUIRE(log);
            recs_t got = read_recs(log);
            check_offsets_kept(&got);
            for (int k = 0; k < 8; k++) {
                char key[16];
                snprintf(key, sizeof(key), "k%d", k);
                const rec_t *w = find_latest(&want, key), *g = find_latest(&got, key);
                if (k == 3) {
                    /* The tombstone may go (delete.retention.ms is 0), but no older value of
                     * k3 may come back. */
                    CHECK(!g || (g->tomb && g->offset == w->offset));
                } else {
                    REQUIRE(g != NULL);
                    CHECK_EQ(g->offset, w->offset);
                }
            }
            int bad = 0;
            storage_io_t *io = storage_io_sim_io(sim);
            io->ops->list(io, "/c", list_bad, &bad);
            CHECK_EQ(bad, 0);
            free(got.v);
            storage_log_close(log);
        }
        steps++;
    }
    CHECK(completed);
    fprintf(stderr, "  compaction crashed at each of %d disk operations, 6 crash fates each\n",
            steps);
    free(want.v);
}

TEST(cleanup)
{
    storage_io_sim_free(sim);
    sim = NULL;
    clock_wall_set_override(-1);
}

/* Kafka's cleaner schedule: a pass when the dirty part passes min.cleanable.dirty.ratio of the
 * cleanable log, when a dirty segment is older than max.compaction.lag.ms (which also rolls
 * the active segment), not before min.compaction.lag.ms. */
TEST(clean_when_dirty_enough_or_overdue)
{
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    for (int round = 0; round < 6; round++)
        for (int k = 0; k < 10; k++)
            put1(log, k);
    REQUIRE(storage_log_flush(log) == 0);
    storage_clean_state_t st;
    CHECK_EQ(storage_log_clean_state(log, now_ms, &st), 0);
    CHECK_EQ(st.clean_bytes, 0);
    CHECK(st.dirty_bytes > 0 && st.dirty_ratio == 1.0 && st.due);
    CHECK_EQ(storage_log_clean(log, now_ms), 1);
    CHECK_EQ(storage_log_clean_state(log, now_ms, &st), 0);
    CHECK(st.clean_bytes > 0 && st.dirty_bytes == 0 && !st.due);
    CHECK_EQ(storage_log_clean(log, now_ms), 0); /* nothing new: no pass */
    uint64_t clean = st.clean_bytes;
    /* A little new data: under the default ratio (0.5), not due. */
    int k0 = 0;
    while (st.dirty_bytes == 0) {
        put1(log, k0++ % 10);
        REQUIRE(storage_log_flush(log) == 0);
        storage_log_clean_state(log, now_ms, &st);
    }
    CHECK(st.dirty_ratio < 0.5 && !st.due);
    CHECK_EQ(storage_log_clean(log, now_ms), 0);
    /* A lower ratio makes it due. */
    cfg.min_cleanable_ratio = st.dirty_ratio / 2;
    storage_log_set_config(log, &cfg);
    storage_log_clean_state(log, now_ms, &st);
    CHECK(st.due);
    cfg.min_cleanable_ratio = 0.9;
    storage_log_set_config(log, &cfg);
    storage_log_clean_state(log, now_ms, &st);
    CHECK(!st.due && st.overdue_ms <= 0);
    /* max.compaction.lag.ms: the dirty segment has waited too long. */
    cfg.max_compaction_lag_ms = 60000;
    storage_log_set_config(log, &cfg);
    storage_log_clean_state(log, now_ms + 60001, &st);
    CHECK(st.overdue_ms > 0 && st.due);
    /* min.compaction.lag.ms keeps young segments out of the dirty part. */
    cfg.min_compaction_lag_ms = 3600000;
    storage_log_set_config(log, &cfg);
    storage_log_clean_state(log, now_ms + 60001, &st);
    CHECK(st.dirty_bytes == 0 && !st.due);
    CHECK(st.clean_bytes <= clean + 1000);
    cfg.min_compaction_lag_ms = 0;
    storage_log_set_config(log, &cfg);
    CHECK_EQ(storage_log_clean(log, now_ms + 60001), 1);
    /* The active segment of a compacted log rolls by max.compaction.lag.ms. */
    int64_t active = log_active(log)->base;
    put1(log, 3);
    CHECK_EQ(storage_log_maintain(log, now_ms + 30000), 0);
    CHECK_EQ(log_active(log)->base, active);
    clock_wall_set_override(now_ms + 120000);
    CHECK_EQ(storage_log_maintain(log, now_ms + 120000), 0);
    CHECK(log_active(log)->base > active);
    clock_wall_set_override(now_ms);
    storage_log_close(log);
}

/* A kept tombstone makes the log due once delete.retention.ms has passed, even without new
 * data, so it is dropped on Kafka's schedule. */
TEST(tombstones_due_after_delete_retention)
{
    setup();
    storage_log_config_t cfg;
    cfg_compact(&cfg);
    cfg.delete_retention_ms = 10000;
    storage_log_t *log = open_log(&cfg);
    REQUIRE(log);
    for (int k = 0; k < 10; k++)
        put1(log, k);
    put_tomb(log, 3);
    for (int round = 0; round < 5; round++)
        for (int k = 4; k < 10; k++)
            put1(log, k);
    REQUIRE(storage_log_flush(log) == 0);
    CHECK_EQ(storage_log_clean(log, now_ms), 1);
    storage_clean_state_t st;
    storage_log_clean_state(log, now_ms + 5000, &st);
    CHECK(!st.tombstones_due && !st.due);
    storage_log_clean_state(log, now_ms + 10001, &st);
    CHECK(st.tombstones_due && st.due);
    CHECK_EQ(storage_log_clean(log, now_ms + 10001), 1);
    recs_t after = read_recs(log);
    CHECK_EQ(count_key(&after, "k3"), 0);
    free(after.v);
    storage_log_clean_state(log, now_ms + 10001, &st);
    CHECK(!st.tombstones_due);
    storage_log_close(log);
}

TEST_MAIN()
