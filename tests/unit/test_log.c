/* Unit tests of the partition log: append and its validation, read (whole batches, at least
 * one, ranges), the sparse indexes, lookups by time, segment rolls by size and time,
 * retention by bytes and time, DeleteRecords (persisted), flush and durability callbacks,
 * group commit through the flusher thread, fdatasync failure (offline), clean close and
 * reopen, scan, destroy, preallocation of the active segment (its zero tail is never read,
 * is cut at a roll, at close and by recovery after a crash). Most run on the simulated disk;
 * a few on real files. */
#include "test.h"
#include "test_log_util.h"

#include <pthread.h>

static storage_io_sim_t *sim;

static storage_log_t *open_sim(const storage_log_config_t *cfg)
{
    if (!sim)
        sim = storage_io_sim_new(1);
    storage_log_t *log = NULL;
    int rc = storage_log_open(storage_io_sim_io(sim), "/p", cfg, &log);
    if (rc)
        fprintf(stderr, "open: %s\n", weir_strerror(rc));
    return log;
}

static void sim_reset(void)
{
    storage_io_sim_free(sim);
    sim = NULL;
}

static void cfg_small(storage_log_config_t *cfg)
{
    storage_log_config_default(cfg);
    cfg->segment_bytes = 4096;
    cfg->index_interval_bytes = 256;
    cfg->retention_ms = -1;
}

TEST(append_assigns_offsets_and_reads_back)
{
    storage_log_t *log = open_sim(NULL);
    REQUIRE(log);
    CHECK_EQ(storage_log_start_offset(log), 0);
    CHECK_EQ(storage_log_end_offset(log), 0);
    buf_t b[3];
    int counts[3] = {1, 5, 2};
    int64_t bases[3];
    for (int i = 0; i < 3; i++) {
        buf_init(&b[i]);
        tl_batch(&b[i], counts[i], -1, 50, 1000 + i, (uint64_t)i);
        /* The producer's base offset is ignored: the log assigns it. */
        be64_write(b[i].data, 777);
        CHECK_EQ(storage_log_append(log, b[i].data, b[i].len, &bases[i]), 0);
    }
    CHECK_EQ(bases[0], 0);
    CHECK_EQ(bases[1], 1);
    CHECK_EQ(bases[2], 6);
    CHECK_EQ(storage_log_end_offset(log), 8);
    CHECK_EQ(be64_read(b[1].data), 1); /* written in place */

    storage_slice_t s;
    CHECK_EQ(storage_log_read(log, 0, 1 << 20, &s), 0);
    CHECK_EQ(s.pos, 0);
    CHECK_EQ(s.len, b[0].len + b[1].len + b[2].len);
    uint8_t *all = weir_malloc(s.len);
    CHECK_EQ(storage_slice_pread(log, &s, all), 0);
    CHECK_MEM(all, b[0].data, b[0].len);
    CHECK_MEM(all + b[0].len, b[1].data, b[1].len);
    CHECK_MEM(all + b[0].len + b[1].len, b[2].data, b[2].len);
    free(all);
    storage_slice_release(log, &s);

    /* Offset 3 lives inside the second batch: the slice starts at that batch. */
    CHECK_EQ(storage_log_read(log, 3, 1 << 20, &s), 0);
    CHECK_EQ(s.pos, b[0].len);
    CHECK_EQ(s.len, b[1].len + b[2].len);
    storage_slice_release(log, &s);
    CHECK_EQ(storage_log_read(log, 7, 1 << 20, &s), 0);
    CHECK_EQ(s.pos, b[0].len + b[1].len);
    storage_slice_release(log, &s);
    /* The end offset gives an empty slice; past it or below the start is out of range. */
    CHECK_EQ(storage_log_read(log, 8, 1 << 20, &s), 0);
    CHECK_EQ(s.len, 0);
    CHECK_EQ(storage_log_read(log, 9, 1 << 20, &s), -WEIR_ERANGE);
    CHECK_EQ(storage_log_read(log, -1, 1 << 20, &s), -WEIR_ERANGE);
    for (int i = 0; i < 3; i++)
        buf_deinit(&b[i]);
    storage_log_close(log);
    sim_reset();
}

TEST(read_returns_whole_batches_at_least_one)
{
    storage_log_t *log = open_sim(NULL);
    REQUIRE(log);
    buf_t b;
    buf_init(&b);
    size_t one = tl_batch(&b, 3, -1, 200, 1, 1);
    for (int i = 0; i < 4; i++) {
        int64_t base;
        buf_t c;
        buf_init(&c);
        tl_batch(&c, 3, -1, 200, 1, 1);
        CHECK_EQ(storage_log_append(log, c.data, c.len, &base), 0);
        buf_deinit(&c);
    }
    storage_slice_t s;
    CHECK_EQ(storage_log_read(log, 0, 1, &s), 0); /* max_bytes below one batch */
    CHECK_EQ(s.len, one);
    storage_slice_release(log, &s);
    CHECK_EQ(storage_log_read(log, 0, 2 * one + one / 2, &s), 0); /* whole batches only */
    CHECK_EQ(s.len, 2 * one);
    storage_slice_release(log, &s);
    CHECK_EQ(storage_log_read(log, 4, 0, &s), 0);
    CHECK_EQ(s.pos, one);
    CHECK_EQ(s.len, one);
    storage_slice_release(log, &s);
    buf_deinit(&b);
    storage_log_close(log);
    sim_reset();
}

TEST(append_rejects_bad_batches)
{
    storage_log_t *log = open_sim(NULL);
    REQUIRE(log);
    buf_t b;
    buf_init(&b);
    tl_batch(&b, 4, 0, 30, 5, 9);
    uint8_t *c = weir_malloc(b.len + 8);
    int64_t base = -5;

    memcpy(c, b.data, b.len);
    c[b.len - 1] ^= 1; /* a record byte: CRC mismatch */
    CHECK_EQ(storage_log_append(log, c, b.len, &base), -WEIR_ECORRUPT);
    memcpy(c, b.data, b.len);
    c[BATCH_MAGIC] = 1;
    CHECK_EQ(storage_log_append(log, c, b.len, &base), -WEIR_EUNSUPPORTED);
    memcpy(c, b.data, b.len);
    CHECK_EQ(storage_log_append(log, c, b.len - 1, &base), -WEIR_EAGAIN); /* bytes missing */
    memcpy(c, b.data, b.len);
    memset(c + b.len, 0, 8);
    CHECK_EQ(storage_log_append(log, c, b.len + 8, &base), -WEIR_EINVAL); /* trailing bytes */
    memcpy(c, b.data, b.len);
    be32_write(c + BATCH_LAST_OFFSET_DELTA, 9); /* count 4, delta 9 */
    storage_batch_crc_update(c, b.len);
    CHECK_EQ(storage_log_append(log, c, b.len, &base), -WEIR_ECORRUPT);
    memcpy(c, b.data, b.len);
    be32_write(c + BATCH_LENGTH, 0x7fffffff); /* length far past the bytes present */
    CHECK_EQ(storage_log_append(log, c, b.len, &base), -WEIR_EAGAIN);
    be32_write(c + BATCH_LENGTH, 0xffffffff); /* negative */
    CHECK_EQ(storage_log_append(log, c, b.len, &base), -WEIR_ECORRUPT);
    /* Nothing was assigned or written. */
    CHECK_EQ(base, -5);
    CHECK_EQ(storage_log_end_offset(log), 0);
    CHECK_EQ(storage_log_size_bytes(log), 0);
    memcpy(c, b.data, b.len);
    CHECK_EQ(storage_log_append(log, c, b.len, &base), 0);
    CHECK_EQ(base, 0);
    CHECK_EQ(storage_log_end_offset(log), 4);
    free(c);
    buf_deinit(&b);
    storage_log_close(log);
    sim_reset();
}

TEST(sparse_index_lookup_every_offset)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.segment_bytes = 1 << 20;
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    int64_t expect = 0;
    for (int i = 0; i < 200; i++) {
        CHECK_EQ(tl_append(log, 1 + i % 3, 40 + i % 50, 1000 + i, (uint64_t)i), expect);
        expect += 1 + i % 3;
    }
    /* The in-memory index is sparse: about one entry per index.interval.bytes. */
    size_t bytes = storage_log_size_bytes(log);
    storage_segment_t *seg = log->segs[0];
    CHECK(seg->nidx >= bytes / 256 / 2 && seg->nidx <= bytes / 256 + 1);
    int64_t end = storage_log_end_offset(log);
    for (int64_t off = 0; off < end; off++) {
        storage_slice_t s;
        REQUIRE(storage_log_read(log, off, 0, &s) == 0);
        uint8_t h[BATCH_HEADER_SIZE];
        size_t got;
        CHECK_EQ(log->io->ops->pread(log->io, s.fd, h, sizeof(h), s.pos, &got), 0);
        int64_t base = (int64_t)be64_read(h);
        int64_t last = base + (int32_t)be32_read(h + BATCH_LAST_OFFSET_DELTA);
        CHECK(base <= off && off <= last);
        storage_slice_release(log, &s);
    }
    storage_log_close(log);
    sim_reset();
}

TEST(offset_for_time)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    /* 60 batches of 2 records, max timestamps 10, 20, ... (plus one late straggler). */
    for (int i = 0; i < 60; i++) {
        int64_t ts = i == 30 ? 5 : 10 * (i + 1) - 1; /* batch max ts = ts + 1 */
        CHECK_EQ(tl_append(log, 2, 80, ts, (uint64_t)i), 2 * i);
    }
    REQUIRE(log->nsegs > 2);
    int64_t off, ts;
    CHECK_EQ(storage_log_offset_for_time(log, 0, &off, &ts), 0);
    CHECK_EQ(off, 0);
    CHECK_EQ(ts, 10);
    CHECK_EQ(storage_log_offset_for_time(log, 10, &off, &ts), 0);
    CHECK_EQ(off, 0);
    CHECK_EQ(storage_log_offset_for_time(log, 11, &off, &ts), 0);
    CHECK_EQ(off, 2);
    CHECK_EQ(ts, 20);
    CHECK_EQ(storage_log_offset_for_time(log, 305, &off, &ts), 0);
    CHECK_EQ(off, 2 * 30 + 2); /* batch 30 has ts 6: skipped; batch 31 has 320 */
    CHECK_EQ(ts, 320);
    CHECK_EQ(storage_log_offset_for_time(log, 591, &off, &ts), 0);
    CHECK_EQ(off, 2 * 59);
    CHECK_EQ(storage_log_offset_for_time(log, 601, &off, &ts), -WEIR_ENOENT);
    /* Every target, against a linear search. */
    for (int64_t t = 0; t <= 600; t += 7) {
        int64_t want = -1;
        for (int i = 0; i < 60 && want < 0; i++) {
            int64_t mts = i == 30 ? 6 : 10 * (i + 1);
            if (mts >= t)
                want = 2 * i;
        }
        CHECK_EQ(storage_log_offset_for_time(log, t, &off, &ts), 0);
        CHECK_EQ(off, want);
    }
    /* The result never falls below the log start offset. */
    CHECK_EQ(storage_log_delete_records(log, 5), 0);
    CHECK_EQ(storage_log_offset_for_time(log, 0, &off, &ts), 0);
    CHECK_EQ(off, 5);
    storage_log_close(log);
    sim_reset();
}

struct names {
    char list[64][64];
    int n;
};

static int names_add(const char *name, void *arg)
{
    struct names *ns = arg;
    if (ns->n < 64)
        snprintf(ns->list[ns->n++], 64, "%s", name);
    return 0;
}

static bool names_has(struct names *ns, const char *name)
{
    for (int i = 0; i < ns->n; i++)
        if (strcmp(ns->list[i], name) == 0)
            return true;
    return false;
}

TEST(roll_by_size_kafka_names)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.segment_bytes = 1000;
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    /* Each batch is 61 + 3 * (~10 + 100) bytes: about 400; two fit in a segment. */
    for (int i = 0; i < 7; i++)
        CHECK_EQ(tl_append(log, 3, 100, 1, (uint64_t)i), 3 * i);
    CHECK_EQ(log->nsegs, 4);
    CHECK_EQ(log->segs[1]->base, 6);
    CHECK_EQ(log->segs[3]->base, 18);
    for (size_t i = 0; i < log->nsegs; i++)
        CHECK(log->segs[i]->size <= 1000);
    struct names ns = {.n = 0};
    storage_io_t *io = storage_io_sim_io(sim);
    CHECK_EQ(io->ops->list(io, "/p", names_add, &ns), 0);
    CHECK(names_has(&ns, "00000000000000000000.log"));
    CHECK(names_has(&ns, "00000000000000000006.log"));
    CHECK(names_has(&ns, "00000000000000000006.index"));
    CHECK(names_has(&ns, "00000000000000000006.timeindex"));
    CHECK(names_has(&ns, "00000000000000000018.log"));
    /* A batch larger than segment.bytes still goes in, alone. */
    CHECK_EQ(tl_append(log, 20, 100, 1, 99), 21);
    CHECK(log_active(log)->size > 1000);
    CHECK_EQ(log_active(log)->base, 21);
    storage_log_close(log);
    sim_reset();
}

TEST(roll_by_time)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.segment_bytes = 1 << 20;
    cfg.segment_ms = 1000;
    clock_wall_set_override(50000);
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    CHECK_EQ(tl_append(log, 1, 10, 50000, 1), 0);
    clock_wall_set_override(50999);
    CHECK_EQ(tl_append(log, 1, 10, 50999, 2), 1);
    CHECK_EQ(log->nsegs, 1);
    clock_wall_set_override(51000); /* segment.ms after the first append: next append rolls */
    CHECK_EQ(tl_append(log, 1, 10, 51000, 3), 2);
    CHECK_EQ(log->nsegs, 2);
    CHECK_EQ(log_active(log)->base, 2);
    /* maintain() rolls an idle segment too, and never an empty one. */
    CHECK_EQ(storage_log_maintain(log, 51500), 0);
    CHECK_EQ(log->nsegs, 2);
    CHECK_EQ(storage_log_maintain(log, 52000), 0);
    CHECK_EQ(log->nsegs, 3);
    CHECK_EQ(storage_log_maintain(log, 99000), 0);
    CHECK_EQ(log->nsegs, 3);
    clock_wall_set_override(-1);
    storage_log_close(log);
    sim_reset();
}

/* Kafka's segment.jitter.ms: each active segment rolls up to its jitter early, never later. */
TEST(roll_with_jitter)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.segment_bytes = 1 << 20;
    cfg.segment_ms = 10000;
    cfg.segment_jitter_ms = 4000;
    bool early = false;
    for (int round = 0; round < 20; round++) {
        clock_wall_set_override(50000);
        storage_log_t *log = open_sim(&cfg);
        REQUIRE(log);
        int64_t jitter = log->roll_jitter_ms;
        CHECK(jitter >= 0 && jitter < 4000);
        early |= jitter > 0;
        CHECK_EQ(tl_append(log, 1, 10, 50000, 1), 0);
        CHECK_EQ(storage_log_maintain(log, 60000 - jitter - 1), 0);
        CHECK_EQ(log->nsegs, 1);
        CHECK_EQ(storage_log_maintain(log, 60000 - jitter), 0);
        CHECK_EQ(log->nsegs, 2);
        clock_wall_set_override(-1);
        storage_log_close(log);
        sim_reset();
    }
    CHECK(early);
}

/* Kafka's file.delete.delay.ms: deleted segments wait as *.deleted, then go; a restart removes
 * the ones left. */
TEST(file_delete_delay)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.segment_bytes = 1000;
    cfg.file_delete_delay_ms = 60000;
    clock_wall_set_override(100000);
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 8; i++)
        tl_append(log, 3, 100, 1, (uint64_t)i);
    REQUIRE(log->nsegs == 4);
    int64_t first = log->segs[0]->base, second = log->segs[1]->base;
    CHECK_EQ(storage_log_delete_records(log, log->segs[2]->base), 0);
    CHECK_EQ(log->nsegs, 2);
    storage_io_t *io = storage_io_sim_io(sim);
    char path[PATH_MAX_LEN];
    storage_segment_path(path, sizeof(path), log->dir, first, ".log.deleted");
    CHECK(io->ops->exists(io, path));
    storage_segment_path(path, sizeof(path), log->dir, first, ".log");
    CHECK(!io->ops->exists(io, path));
    storage_log_purge_deleted(log, 100000 + 59999);
    storage_segment_path(path, sizeof(path), log->dir, first, ".log.deleted");
    CHECK(io->ops->exists(io, path));
    storage_log_purge_deleted(log, 100000 + 60000);
    CHECK(!io->ops->exists(io, path));
    storage_segment_path(path, sizeof(path), log->dir, second, ".index.deleted");
    CHECK(!io->ops->exists(io, path));
    /* One more deletion, then a restart before its delay ran out: recovery removes it. */
    int64_t third = log->segs[0]->base;
    CHECK_EQ(storage_log_delete_records(log, log->segs[1]->base), 0);
    storage_segment_path(path, sizeof(path), log->dir, third, ".log.deleted");
    CHECK(io->ops->exists(io, path));
    storage_log_close(log);
    log = open_sim(&cfg);
    REQUIRE(log);
    CHECK_EQ(log->nsegs, 1);
    CHECK(!io->ops->exists(io, path));
    clock_wall_set_override(-1);
    storage_log_close(log);
    sim_reset();
}

TEST(retention_by_bytes)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.segment_bytes = 1000;
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 12; i++)
        tl_append(log, 3, 100, 1, (uint64_t)i); /* 6 segments of 2 batches, ~800 bytes each */
    CHECK_EQ(log->nsegs, 6);
    uint64_t seg_size = log->segs[0]->size;
    cfg.retention_bytes = (int64_t)(3 * seg_size);
    storage_log_set_config(log, &cfg);
    CHECK_EQ(storage_log_maintain(log, 0), 0);
    /* Deleting whole segments while what is left stays >= retention.bytes. */
    CHECK_EQ(log->nsegs, 3);
    CHECK_EQ(storage_log_start_offset(log), 18);
    storage_slice_t s;
    CHECK_EQ(storage_log_read(log, 17, 0, &s), -WEIR_ERANGE);
    CHECK_EQ(storage_log_read(log, 18, 0, &s), 0);
    CHECK_EQ(s.pos, 0);
    storage_slice_release(log, &s);
    /* The active segment is never deleted by size. */
    cfg.retention_bytes = 0;
    storage_log_set_config(log, &cfg);
    CHECK_EQ(storage_log_maintain(log, 0), 0);
    CHECK_EQ(log->nsegs, 1);
    CHECK_EQ(storage_log_start_offset(log), 30);
    CHECK_EQ(storage_log_end_offset(log), 36);
    storage_log_close(log);
    /* The start offset after retention survives a reopen (it is the first segment's base). */
    log = open_sim(&cfg);
    REQUIRE(log);
    CHECK_EQ(storage_log_start_offset(log), 30);
    CHECK_EQ(storage_log_end_offset(log), 36);
    storage_log_close(log);
    sim_reset();
}

TEST(retention_by_time_rolls_expired_active)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.segment_bytes = 1000;
    cfg.retention_ms = 1000;
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 8; i++)
        tl_append(log, 3, 100, 10000 + 1000 * i, (uint64_t)i); /* ts ~10000..17000 */
    CHECK_EQ(log->nsegs, 4);
    /* Segments whose max timestamp is older than now - retention.ms go, oldest first. */
    CHECK_EQ(storage_log_maintain(log, 13500), 0); /* first segment's max ts: 11002 */
    CHECK_EQ(log->nsegs, 3);
    CHECK_EQ(storage_log_start_offset(log), 6);
    CHECK_EQ(storage_log_maintain(log, 16000), 0);
    CHECK_EQ(log->nsegs, 2);
    /* Everything expired: the active segment is rolled first, then deleted. */
    CHECK_EQ(storage_log_maintain(log, 100000), 0);
    CHECK_EQ(log->nsegs, 1);
    CHECK_EQ(log_active(log)->size, 0);
    CHECK_EQ(storage_log_start_offset(log), 24);
    CHECK_EQ(storage_log_end_offset(log), 24);
    CHECK_EQ(tl_append(log, 1, 5, 100000, 1), 24);
    storage_log_close(log);
    sim_reset();
}

TEST(delete_records_persists_start_offset)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.segment_bytes = 1000;
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 8; i++)
        tl_append(log, 3, 100, 1, (uint64_t)i);
    CHECK_EQ(storage_log_delete_records(log, 25), -WEIR_ERANGE);
    CHECK_EQ(storage_log_delete_records(log, 7), 0);
    CHECK_EQ(storage_log_start_offset(log), 7);
    CHECK_EQ(log->nsegs, 3); /* [0,6) deleted, [6,12) holds the start */
    CHECK_EQ(log->segs[0]->base, 6);
    storage_slice_t s;
    CHECK_EQ(storage_log_read(log, 6, 0, &s), -WEIR_ERANGE);
    CHECK_EQ(storage_log_read(log, 7, 0, &s), 0); /* the batch holding 7 starts at 6 */
    storage_slice_release(log, &s);
    CHECK_EQ(storage_log_delete_records(log, 3), 0); /* never backwards */
    CHECK_EQ(storage_log_start_offset(log), 7);
    /* Survives a crash: the checkpoint is written (after a flush) before returning. */
    storage_log_abandon(log);
    storage_io_sim_crash(sim);
    log = open_sim(&cfg);
    REQUIRE(log);
    CHECK_EQ(storage_log_start_offset(log), 7);
    CHECK_EQ(storage_log_end_offset(log), 24);
    CHECK_EQ(storage_log_delete_records(log, 24), 0); /* up to the high watermark */
    CHECK_EQ(storage_log_start_offset(log), 24);
    CHECK_EQ(log->nsegs, 1);
    storage_log_close(log);
    sim_reset();
}

struct waited {
    int calls;
    int err;
};

static void on_durable_cb(void *arg, int err)
{
    struct waited *w = arg;
    w->calls++;
    w->err = err;
}

TEST(flush_advances_durable_and_fires_callbacks)
{
    storage_log_t *log = open_sim(NULL);
    REQUIRE(log);
    uint64_t syncs0 = storage_io_sim_sync_count(sim);
    struct waited w[3] = {{0, 99}, {0, 99}, {0, 99}};
    for (int i = 0; i < 10; i++)
        tl_append(log, 1, 20, 1, (uint64_t)i);
    CHECK_EQ(storage_log_durable_offset(log), 0);
    storage_log_on_durable(log, 5, on_durable_cb, &w[0]);
    storage_log_on_durable(log, 10, on_durable_cb, &w[1]);
    storage_log_on_durable(log, 11, on_durable_cb, &w[2]); /* not appended yet */
    CHECK_EQ(w[0].calls + w[1].calls + w[2].calls, 0);
    CHECK_EQ(storage_log_flush(log), 0);
    CHECK_EQ(storage_log_durable_offset(log), 10);
    CHECK_EQ(w[0].calls, 1);
    CHECK_EQ(w[0].err, 0);
    CHECK_EQ(w[1].calls, 1);
    CHECK_EQ(w[2].calls, 0);
    /* Ten appends, one fdatasync of the log (plus the directory's, not counted). */
    CHECK_EQ(storage_io_sim_sync_count(sim) - syncs0, 1);
    /* Already durable: called at once. */
    struct waited now = {0, 99};
    storage_log_on_durable(log, 3, on_durable_cb, &now);
    CHECK_EQ(now.calls, 1);
    CHECK_EQ(now.err, 0);
    /* A flush with nothing new syncs nothing. */
    CHECK_EQ(storage_log_flush(log), 0);
    CHECK_EQ(storage_io_sim_sync_count(sim) - syncs0, 1);
    tl_append(log, 1, 20, 1, 1);
    CHECK_EQ(storage_log_flush(log), 0);
    CHECK_EQ(w[2].calls, 1);
    CHECK_EQ(w[2].err, 0);
    /* Abandoned with a durable callback pending: ECLOSED. */
    struct waited late = {0, 99};
    tl_append(log, 1, 20, 1, 1);
    storage_log_on_durable(log, 12, on_durable_cb, &late);
    storage_log_abandon(log);
    CHECK_EQ(late.calls, 1);
    CHECK_EQ(late.err, -WEIR_ECLOSED);
    sim_reset();
}

TEST(fdatasync_failure_takes_log_offline)
{
    storage_log_t *log = open_sim(NULL);
    REQUIRE(log);
    tl_append(log, 2, 20, 1, 1);
    CHECK_EQ(storage_log_flush(log), 0);
    CHECK_EQ(storage_log_durable_offset(log), 2);
    tl_append(log, 2, 20, 1, 2);
    struct waited w = {0, 99};
    storage_log_on_durable(log, 4, on_durable_cb, &w);
    storage_io_sim_fail_sync(sim, 0);
    CHECK_EQ(storage_log_flush(log), -WEIR_EOFFLINE);
    CHECK(storage_log_offline(log));
    CHECK_EQ(w.calls, 1);
    CHECK_EQ(w.err, -WEIR_EOFFLINE);
    CHECK_EQ(storage_log_durable_offset(log), 2); /* never past the last good sync */
    /* It stays offline even though the disk would now accept a sync. */
    CHECK_EQ(storage_log_flush(log), -WEIR_EOFFLINE);
    CHECK_EQ(storage_log_durable_offset(log), 2);
    CHECK_EQ(tl_append(log, 1, 20, 1, 3), -WEIR_EOFFLINE);
    storage_slice_t s;
    CHECK_EQ(storage_log_read(log, 0, 0, &s), -WEIR_EOFFLINE);
    struct waited after = {0, 99};
    storage_log_on_durable(log, 1, on_durable_cb, &after);
    CHECK_EQ(after.err, -WEIR_EOFFLINE);
    /* Closing an offline log leaves no clean-shutdown marker: the next open recovers. */
    storage_log_close(log);
    storage_io_t *io = storage_io_sim_io(sim);
    CHECK(!io->ops->exists(io, "/p/" CLEAN_MARKER_NAME));
    log = open_sim(NULL);
    REQUIRE(log);
    CHECK(storage_log_end_offset(log) >= 2);
    storage_log_close(log);
    sim_reset();
}

TEST(clean_close_and_reopen)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 40; i++)
        tl_append(log, 1 + i % 4, 60, 100 + i, (uint64_t)i);
    buf_t before, after;
    buf_init(&before);
    buf_init(&after);
    int64_t n = tl_read_all(log, &before);
    CHECK_EQ(n, 40);
    int64_t end = storage_log_end_offset(log);
    size_t nsegs = log->nsegs;
    storage_log_close(log);
    storage_io_t *io = storage_io_sim_io(sim);
    CHECK(io->ops->exists(io, "/p/" CLEAN_MARKER_NAME));
    CHECK(io->ops->exists(io, "/p/" CHECKPOINT_NAME));
    log = open_sim(&cfg);
    REQUIRE(log);
    CHECK(!io->ops->exists(io, "/p/" CLEAN_MARKER_NAME)); /* a crash from now on recovers */
    CHECK_EQ(storage_log_end_offset(log), end);
    CHECK_EQ(storage_log_durable_offset(log), end);
    CHECK_EQ(log->nsegs, nsegs);
    CHECK_EQ(tl_read_all(log, &after), 40);
    CHECK_EQ(before.len, after.len);
    CHECK(before.len == after.len && memcmp(before.data, after.data, before.len) == 0);
    /* Appends continue where the log ended. */
    CHECK_EQ(tl_append(log, 1, 10, 1, 1), end);
    /* The time index came back too: batch i holds 1 + i % 4 records stamped 100 + i on, so
     * the first batch reaching 120 is batch 18 (max timestamp 118 + 2). */
    int64_t off, ts, want = 0;
    for (int i = 0; i < 18; i++)
        want += 1 + i % 4;
    CHECK_EQ(storage_log_offset_for_time(log, 120, &off, &ts), 0);
    CHECK_EQ(ts, 120);
    CHECK_EQ(off, want);
    buf_deinit(&before);
    buf_deinit(&after);
    storage_log_close(log);
    sim_reset();
}

struct scan_ctx {
    int batches;
    int64_t first;
    int stop_after;
};

static int scan_cb(void *arg, const storage_batch_header_t *h, const uint8_t *batch, size_t total)
{
    struct scan_ctx *c = arg;
    size_t t;
    if (storage_batch_validate_header(batch, total, &t) != 0 || t != total)
        return -1;
    if (c->batches == 0)
        c->first = h->base_offset;
    c->batches++;
    return c->stop_after && c->batches >= c->stop_after;
}

TEST(scan_visits_batches_from_offset)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 50; i++)
        tl_append(log, 2, 70, 1, (uint64_t)i);
    REQUIRE(log->nsegs > 1);
    struct scan_ctx c = {0, -1, 0};
    CHECK_EQ(storage_log_scan(log, 0, scan_cb, &c), 0);
    CHECK_EQ(c.batches, 50);
    CHECK_EQ(c.first, 0);
    c = (struct scan_ctx){0, -1, 0};
    CHECK_EQ(storage_log_scan(log, 41, scan_cb, &c), 0);
    CHECK_EQ(c.batches, 30);
    CHECK_EQ(c.first, 40);
    c = (struct scan_ctx){0, -1, 3};
    CHECK_EQ(storage_log_scan(log, 10, scan_cb, &c), 0);
    CHECK_EQ(c.batches, 3);
    storage_log_close(log);
    sim_reset();
}

TEST(slice_survives_segment_deletion)
{
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.segment_bytes = 1000;
    storage_log_t *log = open_sim(&cfg);
    REQUIRE(log);
    for (int i = 0; i < 6; i++)
        tl_append(log, 3, 100, 1, (uint64_t)i);
    storage_slice_t s;
    REQUIRE(storage_log_read(log, 0, 1 << 20, &s) == 0);
    CHECK_EQ(storage_log_delete_records(log, 12), 0);
    CHECK_EQ(log->segs[0]->base, 12);
    uint8_t *p = weir_malloc(s.len);
    CHECK_EQ(storage_slice_pread(log, &s, p), 0); /* the deleted file is still readable */
    CHECK_EQ(be64_read(p), 0);
    free(p);
    storage_slice_release(log, &s);
    storage_log_close(log);
    sim_reset();
}

TEST(destroy_removes_everything)
{
    storage_log_t *log = open_sim(NULL);
    REQUIRE(log);
    tl_append(log, 1, 10, 1, 1);
    storage_io_t *io = storage_io_sim_io(sim);
    CHECK(io->ops->exists(io, "/p"));
    CHECK_EQ(storage_log_destroy(log), 0);
    CHECK(!io->ops->exists(io, "/p"));
    sim_reset();
}

TEST(empty_batch_rejected)
{
    storage_log_t *log = open_sim(NULL);
    REQUIRE(log);
    buf_t b;
    buf_init(&b);
    storage_batch_build(&b, NULL, 0, NULL); /* count 0, lastOffsetDelta -1 */
    int64_t base;
    CHECK_EQ(storage_log_append(log, b.data, b.len, &base), -WEIR_EINVAL);
    CHECK_EQ(storage_log_end_offset(log), 0);
    buf_deinit(&b);
    storage_log_close(log);
    sim_reset();
}

/* ---- the flusher thread --------------------------------------------------------------- */

struct appender {
    storage_log_t *log;
    int n;
    int ok, failed;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int err;
};

static void appender_cb(void *arg, int err)
{
    struct appender *a = arg;
    pthread_mutex_lock(&a->mu);
    a->done = 1;
    a->err = err;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void *appender_main(void *arg)
{
    struct appender *a = arg;
    for (int i = 0; i < a->n; i++) {
        buf_t b;
        buf_init(&b);
        tl_batch(&b, 2, -1, 100, 1, (uint64_t)i);
        int64_t base;
        int rc = storage_log_append(a->log, b.data, b.len, &base);
        buf_deinit(&b);
        if (rc) {
            a->failed++;
            continue;
        }
        pthread_mutex_lock(&a->mu);
        a->done = 0;
        pthread_mutex_unlock(&a->mu);
        storage_log_on_durable(a->log, base + 2, appender_cb, a);
        pthread_mutex_lock(&a->mu);
        while (!a->done)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->err == 0)
            a->ok++;
        else
            a->failed++;
        pthread_mutex_unlock(&a->mu);
    }
    return NULL;
}

TEST(flusher_group_commit)
{
    storage_log_t *log = open_sim(NULL);
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 1000) == 0);
    storage_flusher_attach(f, log);
    uint64_t syncs0 = storage_io_sim_sync_count(sim);
    enum { THREADS = 6, PER = 100 };
    struct appender a[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct appender){.log = log, .n = PER};
        pthread_mutex_init(&a[i].mu, NULL);
        pthread_cond_init(&a[i].cv, NULL);
        pthread_create(&t[i], NULL, appender_main, &a[i]);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += a[i].ok;
        CHECK_EQ(a[i].failed, 0);
        pthread_mutex_destroy(&a[i].mu);
        pthread_cond_destroy(&a[i].cv);
    }
    CHECK_EQ(ok, THREADS * PER);
    CHECK_EQ(storage_log_durable_offset(log), 2 * THREADS * PER);
    uint64_t syncs = storage_io_sim_sync_count(sim) - syncs0;
    /* Waiting appenders share syncs: fewer fdatasyncs than appends. */
    fprintf(stderr, "  %d durable appends, %llu fdatasyncs\n", ok, (unsigned long long)syncs);
    CHECK(syncs < (uint64_t)ok);
    storage_flusher_detach(f, log);
    storage_flusher_stop(f);
    storage_log_close(log);
    sim_reset();
}

TEST(flusher_sync_failure_fails_durables)
{
    storage_log_t *log = open_sim(NULL);
    REQUIRE(log);
    storage_flusher_t *f;
    REQUIRE(storage_flusher_start(&f, 1000) == 0);
    storage_flusher_attach(f, log);
    storage_io_sim_fail_sync(sim, 0);
    struct appender a = {.log = log, .n = 5};
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    appender_main(&a);
    CHECK_EQ(a.ok, 0);
    CHECK_EQ(a.failed, 5); /* the first waits and gets EOFFLINE; the rest cannot append */
    CHECK(storage_log_offline(log));
    CHECK_EQ(storage_log_durable_offset(log), 0);
    pthread_mutex_destroy(&a.mu);
    pthread_cond_destroy(&a.cv);
    /* Stop before close: the log outlives the flusher. */
    storage_flusher_stop(f);
    storage_log_close(log);
    sim_reset();
}

TEST(real_files_round_trip)
{
    char *dir = tl_tmpdir();
    char pdir[600];
    snprintf(pdir, sizeof(pdir), "%s/orders-0", dir);
    storage_log_config_t cfg;
    cfg_small(&cfg);
    storage_log_t *log;
    REQUIRE(storage_log_open(storage_io_real(), pdir, &cfg, &log) == 0);
    for (int i = 0; i < 30; i++)
        CHECK_EQ(tl_append(log, 2, 100, 1, (uint64_t)i), 2 * i);
    CHECK_EQ(storage_log_flush(log), 0);
    CHECK_EQ(storage_log_durable_offset(log), 60);
    storage_log_close(log);
    char path[800];
    tl_seg_path(path, sizeof(path), pdir, 0, ".log");
    CHECK(tl_file_size(path) > 0);
    tl_seg_path(path, sizeof(path), pdir, 0, ".index");
    CHECK(tl_file_size(path) > 0);
    CHECK_EQ(tl_file_size(path) % INDEX_ENTRY_SIZE, 0);
    tl_seg_path(path, sizeof(path), pdir, 0, ".timeindex");
    CHECK(tl_file_size(path) > 0);
    CHECK_EQ(tl_file_size(path) % TIMEINDEX_ENTRY_SIZE, 0);
    REQUIRE(storage_log_open(storage_io_real(), pdir, &cfg, &log) == 0);
    CHECK_EQ(storage_log_end_offset(log), 60);
    buf_t all;
    buf_init(&all);
    CHECK_EQ(tl_read_all(log, &all), 30);
    buf_deinit(&all);
    CHECK_EQ(storage_log_destroy(log), 0);
    CHECK_EQ(tl_file_size(pdir), -1);
    tl_rmrf(dir);
}

/* Zero-copy fetch: a slice may go by sendfile only when every batch in it was checked by this
 * process (appended, scanned by recovery, or read back through storage_slice_pread). */
static bool read_sendable(storage_log_t *log, int64_t offset, storage_slice_t *s)
{
    int rc = storage_log_read(log, offset, 1 << 20, s);
    CHECK_EQ(rc, 0);
    return rc == 0 && s->sendfile_ok;
}

TEST(slice_sendfile_ok_only_for_verified_batches)
{
    char *dir = tl_tmpdir();
    char pdir[600], seg0[800];
    snprintf(pdir, sizeof(pdir), "%s/p-0", dir);
    storage_log_config_t cfg;
    cfg_small(&cfg);
    cfg.preallocate_bytes = 0;
    storage_log_t *log;
    REQUIRE(storage_log_open(storage_io_real(), pdir, &cfg, &log) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(tl_append(log, 2, 100, 1, (uint64_t)i), 2 * i);
    storage_slice_t s;
    CHECK(read_sendable(log, 0, &s)); /* appended by this process */
    CHECK_EQ(s.first_offset, 0);
    CHECK_EQ(s.next_offset, 6);
    CHECK_EQ(s.records, 6);
    CHECK_EQ(s.len, storage_log_size_bytes(log));
    CHECK(!s.compressed_zstd);
    storage_slice_release(log, &s);
    storage_log_close(log);

    REQUIRE(storage_log_open(storage_io_real(), pdir, &cfg, &log) == 0);
    CHECK(!read_sendable(log, 2, &s)); /* clean restart: nothing checked yet */
    CHECK_EQ(s.first_offset, 2);
    uint8_t *copy = malloc(s.len);
    CHECK_EQ(storage_slice_pread(log, &s, copy), 0); /* checked now, from 2 to the end */
    storage_slice_release(log, &s);
    CHECK(read_sendable(log, 4, &s));
    storage_slice_release(log, &s);
    CHECK(!read_sendable(log, 0, &s)); /* the batch below was not read */
    storage_slice_release(log, &s);
    CHECK_EQ(tl_append(log, 2, 100, 1, 9), 6);
    CHECK(read_sendable(log, 6, &s));
    storage_slice_release(log, &s);
    storage_log_close(log);

    /* The first batch rotted while the log was closed (recovery trusts it: an index entry
     * follows it): not sendable, and the copy refuses it. */
    tl_seg_path(seg0, sizeof(seg0), pdir, 0, ".log");
    CHECK_EQ(tl_flip(seg0, 100), 0);
    REQUIRE(storage_log_open(storage_io_real(), pdir, &cfg, &log) == 0);
    CHECK(!read_sendable(log, 0, &s));
    copy = realloc(copy, s.len);
    CHECK_EQ(storage_slice_pread(log, &s, copy), -WEIR_ECORRUPT);
    storage_slice_release(log, &s);
    CHECK(storage_log_offline(log));
    free(copy);
    storage_log_close(log);
    tl_rmrf(dir);
}

TEST(slice_on_the_simulated_disk_is_never_sendable)
{
    sim_reset();
    storage_log_t *log = open_sim(NULL);
    CHECK_EQ(tl_append(log, 2, 100, 1, 1), 0);
    storage_slice_t s;
    CHECK(!read_sendable(log, 0, &s)); /* its fds are not the OS's */
    CHECK_EQ(s.next_offset, 2);
    storage_slice_release(log, &s);
    storage_log_close(log);
}

/* Preallocation on real files: the active segment's file runs ahead of its data in steps. */
static void cfg_prealloc(storage_log_config_t *cfg)
{
    cfg_small(cfg);
    cfg->segment_bytes = 64 << 10;
    cfg->preallocate_bytes = 8 << 10;
}

TEST(preallocation_runs_ahead_and_is_trimmed)
{
    char *dir = tl_tmpdir();
    char pdir[600], seg0[800], seg1[800];
    snprintf(pdir, sizeof(pdir), "%s/p-0", dir);
    storage_log_config_t cfg;
    cfg_prealloc(&cfg);
    storage_log_t *log;
    REQUIRE(storage_log_open(storage_io_real(), pdir, &cfg, &log) == 0);
    tl_seg_path(seg0, sizeof(seg0), pdir, 0, ".log");
    CHECK_EQ(tl_append(log, 2, 100, 1, 1), 0);
    uint64_t data = storage_log_size_bytes(log);
    CHECK(data > 0 && data < (8 << 10));
    CHECK_EQ(tl_file_size(seg0), 8 << 10); /* one step ahead */
    /* Reads stop at the data, never at the file's end. */
    buf_t all;
    buf_init(&all);
    CHECK_EQ(tl_read_all(log, &all), 1);
    /* Fill past the first step: the file grows by steps. */
    int n = 1;
    while (storage_log_size_bytes(log) < (10 << 10)) {
        CHECK_EQ(tl_append(log, 2, 100, 1, (uint64_t)n), 2 * n);
        n++;
    }
    CHECK_EQ(tl_file_size(seg0), 16 << 10);
    /* A roll cuts the old segment back to its data. */
    pthread_mutex_lock(&log->mu);
    CHECK_EQ(storage_log_roll_locked(log), 0);
    int64_t base1 = log_active(log)->base;
    uint64_t size0 = log->segs[0]->size;
    pthread_mutex_unlock(&log->mu);
    CHECK_EQ(tl_file_size(seg0), (long)size0);
    CHECK_EQ(tl_append(log, 2, 100, 1, 99), base1);
    tl_seg_path(seg1, sizeof(seg1), pdir, base1, ".log");
    CHECK_EQ(tl_file_size(seg1), 8 << 10);
    /* Close trims the active one too; reopening gives every batch back. */
    storage_log_close(log);
    CHECK(tl_file_size(seg1) > 0 && tl_file_size(seg1) < (8 << 10));
    REQUIRE(storage_log_open(storage_io_real(), pdir, &cfg, &log) == 0);
    buf_reset(&all);
    CHECK_EQ(tl_read_all(log, &all), n + 1);
    CHECK_EQ(storage_log_end_offset(log), base1 + 2);
    storage_log_close(log);
    buf_deinit(&all);
    tl_rmrf(dir);
}

TEST(preallocated_zero_tail_after_a_crash_is_kept)
{
    /* After a crash the zeros past the active segment's data are preallocated space, as before
     * the crash: recovery changes nothing on disk, appends go on using the space, and the
     * close trims it. The flush before the crash wrote the recovery point, so the durable
     * offset starts at the end. */
    char *dir = tl_tmpdir();
    char pdir[600], seg0[800];
    snprintf(pdir, sizeof(pdir), "%s/p-0", dir);
    storage_log_config_t cfg;
    cfg_prealloc(&cfg);
    storage_log_t *log;
    REQUIRE(storage_log_open(storage_io_real(), pdir, &cfg, &log) == 0);
    int64_t now = clock_wall_ms(); /* recent timestamps: no roll by age */
    for (int i = 0; i < 5; i++)
        CHECK_EQ(tl_append(log, 2, 100, now, (uint64_t)i), 2 * i);
    CHECK_EQ(storage_log_flush(log), 0);
    uint64_t data = storage_log_size_bytes(log);
    storage_log_abandon(log); /* a crash: no trim, no clean marker */
    tl_seg_path(seg0, sizeof(seg0), pdir, 0, ".log");
    CHECK_EQ(tl_file_size(seg0), 8 << 10);
    REQUIRE(storage_log_open(storage_io_real(), pdir, &cfg, &log) == 0);
    CHECK_EQ(storage_log_end_offset(log), 10);
    CHECK_EQ(storage_log_durable_offset(log), 10);
    CHECK_EQ(tl_file_size(seg0), 8 << 10); /* nothing cut */
    CHECK_EQ(tl_append(log, 2, 100, now, 7), 10);
    CHECK_EQ(tl_file_size(seg0), 8 << 10); /* the append used the space */
    buf_t all;
    buf_init(&all);
    CHECK_EQ(tl_read_all(log, &all), 6);
    buf_deinit(&all);
    uint64_t data6 = storage_log_size_bytes(log);
    CHECK(data6 > data);
    storage_log_close(log);
    CHECK_EQ(tl_file_size(seg0), (long)data6); /* the close trimmed it */
    tl_rmrf(dir);
}

static int no_prealloc(storage_io_t *io, int fd, uint64_t off, uint64_t len)
{
    (void)io, (void)fd, (void)off, (void)len;
    return -WEIR_EUNSUPPORTED;
}

TEST(preallocation_unsupported_appends_anyway)
{
    char *dir = tl_tmpdir();
    char pdir[600], seg0[800];
    snprintf(pdir, sizeof(pdir), "%s/p-0", dir);
    storage_io_ops_t ops = *storage_io_real()->ops;
    ops.preallocate = no_prealloc;
    storage_io_t io = {&ops};
    storage_log_config_t cfg;
    cfg_prealloc(&cfg);
    storage_log_t *log;
    REQUIRE(storage_log_open(&io, pdir, &cfg, &log) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(tl_append(log, 2, 100, 1, (uint64_t)i), 2 * i);
    tl_seg_path(seg0, sizeof(seg0), pdir, 0, ".log");
    CHECK_EQ(tl_file_size(seg0), (long)storage_log_size_bytes(log));
    storage_log_close(log);
    tl_rmrf(dir);
}

TEST_MAIN()
