/* The corruption matrix, on real files of a closed log: each kind of damage either recovers by
 * truncating a torn tail (past the recovery point) or refuses loudly (-WEIR_ECORRUPT: data that
 * was fsynced is damaged); no case ever serves a bad batch. Plus index and checkpoint damage
 * (rebuilt or ignored), leftovers of interrupted work, a zero-filled tail, and a valid batch
 * whose CRC is 0 (which must not be mistaken for zeros).
 *
 * The log: 20 batches of 3 records (offsets 0..59), 6 batches per segment: segments at 0, 18,
 * 36 and 54. A "crashed" log was flushed after 15 batches (recovery point 45, inside the
 * segment at 36) and abandoned with 5 more batches written; a "closed" log was closed cleanly
 * (recovery point 60 = the end). */
#include "test.h"
#include "test_log_util.h"

enum { NBATCH = 20, PER_SEG = 6, RECS = 3 };

typedef struct {
    char *tmp;
    char dir[600];
    storage_log_config_t cfg;
    buf_t batch[NBATCH];
    long pos[NBATCH]; /* position of batch i in its segment */
} fixture_t;

static int64_t seg_of(int i)
{
    return (int64_t)(i / PER_SEG) * PER_SEG * RECS;
}

static void path_of(fixture_t *f, int i, const char *ext, char *out, size_t cap)
{
    tl_seg_path(out, cap, f->dir, seg_of(i), ext);
}

static void fixture_build(fixture_t *f, bool closed)
{
    memset(f, 0, sizeof(*f));
    f->tmp = tl_tmpdir();
    snprintf(f->dir, sizeof(f->dir), "%s/t-0", f->tmp);
    storage_log_config_default(&f->cfg);
    f->cfg.index_interval_bytes = 300;
    f->cfg.recovery_checkpoint_ms = 0;
    f->cfg.retention_ms = -1;
    buf_t probe;
    buf_init(&probe);
    size_t one = tl_batch(&probe, RECS, -1, 100, 1000, 0);
    buf_deinit(&probe);
    f->cfg.segment_bytes = one * PER_SEG;
    storage_log_t *log;
    WEIR_ASSERT(storage_log_open(storage_io_real(), f->dir, &f->cfg, &log) == 0);
    for (int i = 0; i < NBATCH; i++) {
        buf_init(&f->batch[i]);
        tl_batch(&f->batch[i], RECS, -1, 100, 1000 + 10 * i, (uint64_t)i);
        f->pos[i] = (long)((size_t)(i % PER_SEG) * one);
        int64_t base;
        WEIR_ASSERT(storage_log_append(log, f->batch[i].data, f->batch[i].len, &base) == 0);
        WEIR_ASSERT(base == RECS * i);
        if (!closed && i == 14)
            WEIR_ASSERT(storage_log_flush(log) == 0);
    }
    WEIR_ASSERT(log->nsegs == 4);
    if (closed)
        storage_log_close(log);
    else
        storage_log_abandon(log);
}

static void fixture_free(fixture_t *f)
{
    for (int i = 0; i < NBATCH; i++)
        buf_deinit(&f->batch[i]);
    tl_rmrf(f->tmp);
}

static int reopen(fixture_t *f, storage_log_t **log)
{
    *log = NULL;
    return storage_log_open(storage_io_real(), f->dir, &f->cfg, log);
}

/* The log holds exactly batches 0..n-1, byte for byte, every CRC verified on the way. */
static void check_holds(fixture_t *f, storage_log_t *log, int n)
{
    CHECK_EQ(storage_log_start_offset(log), 0);
    CHECK_EQ(storage_log_end_offset(log), RECS * n);
    buf_t all;
    buf_init(&all);
    CHECK_EQ(tl_read_all(log, &all), n);
    size_t off = 0;
    for (int i = 0; i < n && off <= all.len; i++) {
        CHECK(off + f->batch[i].len <= all.len &&
              memcmp(all.data + off, f->batch[i].data, f->batch[i].len) == 0);
        off += f->batch[i].len;
    }
    CHECK_EQ(off, all.len);
    buf_deinit(&all);
}

static void expect_truncated_to(fixture_t *f, int n)
{
    storage_log_t *log;
    int rc = reopen(f, &log);
    CHECK_EQ(rc, 0);
    if (rc)
        return;
    check_holds(f, log, n);
    storage_log_close(log);
}

static void expect_refused(fixture_t *f)
{
    storage_log_t *log;
    CHECK_EQ(reopen(f, &log), -WEIR_ECORRUPT);
    CHECK(log == NULL);
}

TEST(intact_logs_reopen)
{
    for (int closed = 0; closed < 2; closed++) {
        fixture_t f;
        fixture_build(&f, closed); /* crashed: the unflushed batches are in the page cache */
        storage_log_t *log;
        REQUIRE(reopen(&f, &log) == 0);
        check_holds(&f, log, NBATCH);
        CHECK_EQ(tl_append(log, 1, 10, 1, 1), RECS * NBATCH); /* appends go on from the end */
        storage_log_close(log);
        fixture_free(&f);
    }
}

TEST(tail_truncated_mid_batch)
{
    /* Inside the 12-byte offset+length prefix, inside the header, inside the records. */
    long cuts[] = {1, 8, 11, 12, 30, 60, 200, -1};
    for (size_t k = 0; k < WEIR_ARRAY_LEN(cuts); k++) {
        fixture_t f;
        fixture_build(&f, false);
        char p[800];
        path_of(&f, NBATCH - 1, ".log", p, sizeof(p));
        long cut = cuts[k] > 0 ? cuts[k] : (long)f.batch[NBATCH - 1].len - 1;
        REQUIRE(truncate(p, f.pos[NBATCH - 1] + cut) == 0);
        expect_truncated_to(&f, NBATCH - 1);
        CHECK_EQ(tl_file_size(p), f.pos[NBATCH - 1]); /* cut back to the last whole batch */
        fixture_free(&f);
    }
}

TEST(tail_truncated_on_closed_log_refuses)
{
    fixture_t f;
    fixture_build(&f, true);
    char p[800];
    path_of(&f, NBATCH - 1, ".log", p, sizeof(p));
    REQUIRE(truncate(p, f.pos[NBATCH - 1] + 40) == 0);
    expect_refused(&f); /* the close made those bytes durable: they are not a torn tail */
    fixture_free(&f);
}

TEST(flipped_byte_in_last_batch)
{
    /* Base offset, length, leader epoch, magic, CRC, attributes, count, a record byte. */
    long at[] = {
        7,   10, 13, BATCH_MAGIC, BATCH_CRC + 2, BATCH_ATTRIBUTES + 1, BATCH_RECORD_COUNT + 3,
        100, -1};
    for (size_t k = 0; k < WEIR_ARRAY_LEN(at); k++) {
        fixture_t f;
        fixture_build(&f, false);
        char p[800];
        path_of(&f, NBATCH - 1, ".log", p, sizeof(p));
        long pos = at[k] >= 0 ? at[k] : (long)f.batch[NBATCH - 1].len - 1;
        REQUIRE(tl_flip(p, f.pos[NBATCH - 1] + pos) == 0);
        if (at[k] == 13) {
            /* The leader epoch is outside the CRC (as in Kafka): the batch is still valid. */
            storage_log_t *log;
            REQUIRE(reopen(&f, &log) == 0);
            CHECK_EQ(storage_log_end_offset(log), RECS * NBATCH);
            storage_log_close(log);
        } else {
            expect_truncated_to(&f, NBATCH - 1);
        }
        fixture_free(&f);
    }
}

TEST(flipped_byte_below_recovery_point_refuses)
{
    /* Batch 13 (offsets 39..41) is below the recovery point 45, in the segment the open walks
     * by its batch headers up to the recovery point (and verifies from there): damage to a
     * header's offset or length stops the walk there, and the verifying scan refuses it. */
    long at[] = {3, 10};
    for (size_t k = 0; k < WEIR_ARRAY_LEN(at); k++) {
        fixture_t f;
        fixture_build(&f, false);
        char p[800];
        path_of(&f, 13, ".log", p, sizeof(p));
        REQUIRE(tl_flip(p, f.pos[13] + at[k]) == 0);
        expect_refused(&f);
        fixture_free(&f);
    }
}

TEST(flipped_byte_below_recovery_point_in_walked_part_never_served)
{
    /* Damage to batch 13's CRC or records is not read at open (the walk reads headers only:
     * what lies below the recovery point was checked at append and fsynced), as for an old
     * segment below: the read path verifies what it serves, so the batch is never returned;
     * the read fails and the log goes offline, loudly. The batches before it are served. */
    long at[] = {BATCH_CRC, 90};
    for (size_t k = 0; k < WEIR_ARRAY_LEN(at); k++) {
        fixture_t f;
        fixture_build(&f, false);
        char p[800];
        path_of(&f, 13, ".log", p, sizeof(p));
        REQUIRE(tl_flip(p, f.pos[13] + at[k]) == 0);
        storage_log_t *log;
        REQUIRE(reopen(&f, &log) == 0);
        storage_slice_t s;
        REQUIRE(storage_log_read(log, 36, 1 << 20, &s) == 0);
        uint8_t *buf = weir_malloc(s.len);
        CHECK_EQ(storage_slice_pread(log, &s, buf), -WEIR_ECORRUPT);
        free(buf);
        storage_slice_release(log, &s);
        CHECK(storage_log_offline(log));
        storage_log_close(log);
        fixture_free(&f);
    }
}

TEST(flipped_byte_in_old_segment_never_served)
{
    /* An old segment (wholly below the recovery point) is not rescanned at open, as in Kafka;
     * the read path verifies what it serves, so the bad batch is still never returned: the
     * read fails and the log goes offline, loudly. */
    for (int closed = 0; closed < 2; closed++) {
        fixture_t f;
        fixture_build(&f, closed);
        char p[800];
        path_of(&f, 2, ".log", p, sizeof(p));
        REQUIRE(tl_flip(p, f.pos[2] + 80) == 0);
        storage_log_t *log;
        REQUIRE(reopen(&f, &log) == 0);
        storage_slice_t s;
        REQUIRE(storage_log_read(log, 0, 1 << 20, &s) == 0);
        uint8_t *buf = weir_malloc(s.len);
        CHECK_EQ(storage_slice_pread(log, &s, buf), -WEIR_ECORRUPT);
        free(buf);
        storage_slice_release(log, &s);
        CHECK(storage_log_offline(log));
        CHECK_EQ(storage_log_read(log, 0, 1 << 20, &s), -WEIR_EOFFLINE);
        CHECK_EQ(tl_append(log, 1, 1, 1, 1), -WEIR_EOFFLINE);
        storage_log_close(log);
        fixture_free(&f);
    }
}

TEST(zero_filled_tail)
{
    static uint8_t zeros[8192];
    for (int closed = 0; closed < 2; closed++) {
        fixture_t f;
        fixture_build(&f, closed);
        char p[800];
        path_of(&f, NBATCH - 1, ".log", p, sizeof(p));
        long size = tl_file_size(p);
        REQUIRE(tl_append_file(p, zeros, sizeof(zeros)) == 0);
        expect_truncated_to(&f, NBATCH);
        CHECK_EQ(tl_file_size(p), size);
        fixture_free(&f);
    }
    /* The last batch itself zeroed (its pages never reached the disk). */
    fixture_t f;
    fixture_build(&f, false);
    char p[800];
    path_of(&f, NBATCH - 1, ".log", p, sizeof(p));
    REQUIRE(tl_poke(p, f.pos[NBATCH - 1], zeros, f.batch[NBATCH - 1].len) == 0);
    expect_truncated_to(&f, NBATCH - 1);
    fixture_free(&f);
}

TEST(garbage_length_fields)
{
    int32_t lens[] = {-1, INT32_MIN, 0, 48, 0x7fffffff, 1 << 20};
    for (size_t k = 0; k < WEIR_ARRAY_LEN(lens); k++) {
        for (int closed = 0; closed < 2; closed++) {
            /* Appended after the last batch: past the end, so cut. */
            fixture_t f;
            fixture_build(&f, closed);
            char p[800];
            path_of(&f, NBATCH - 1, ".log", p, sizeof(p));
            uint8_t junk[64];
            memset(junk, 0xab, sizeof(junk));
            be64_write(junk, RECS * NBATCH);
            be32_write(junk + BATCH_LENGTH, (uint32_t)lens[k]);
            REQUIRE(tl_append_file(p, junk, sizeof(junk)) == 0);
            expect_truncated_to(&f, NBATCH);
            fixture_free(&f);
            /* Written over the last batch's length: a torn tail if crashed, damage if closed. */
            fixture_build(&f, closed);
            path_of(&f, NBATCH - 1, ".log", p, sizeof(p));
            uint8_t be[4];
            be32_write(be, (uint32_t)lens[k]);
            REQUIRE(tl_poke(p, f.pos[NBATCH - 1] + BATCH_LENGTH, be, 4) == 0);
            if (closed)
                expect_refused(&f);
            else
                expect_truncated_to(&f, NBATCH - 1);
            fixture_free(&f);
        }
    }
}

/* Chooses 4 bytes at b[at..at+4) so that the batch's CRC-32C is 0 (CRC is affine over GF(2):
 * solve a 32x32 linear system). */
static bool force_crc_zero(uint8_t *b, size_t total, size_t at)
{
    const uint8_t *p = b + BATCH_ATTRIBUTES;
    size_t n = total - BATCH_ATTRIBUTES;
    uint32_t base = crc32c(0, p, n), col[32];
    for (int i = 0; i < 32; i++) {
        b[at + i / 8] ^= (uint8_t)(1u << (i % 8));
        col[i] = crc32c(0, p, n) ^ base;
        b[at + i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* Row r: which unknowns flip output bit r; rhs: bit r of base. */
    uint64_t row[32];
    for (int r = 0; r < 32; r++) {
        row[r] = (uint64_t)((base >> r) & 1) << 32;
        for (int i = 0; i < 32; i++)
            row[r] |= (uint64_t)((col[i] >> r) & 1) << i;
    }
    int where[32];
    int rank = 0;
    for (int c = 0; c < 32; c++) {
        where[c] = -1;
        int piv = -1;
        for (int r = rank; r < 32 && piv < 0; r++)
            if (row[r] >> c & 1)
                piv = r;
        if (piv < 0)
            continue;
        uint64_t t = row[piv];
        row[piv] = row[rank];
        row[rank] = t;
        for (int r = 0; r < 32; r++)
            if (r != rank && (row[r] >> c & 1))
                row[r] ^= row[rank];
        where[c] = rank++;
    }
    for (int r = rank; r < 32; r++)
        if (row[r] >> 32 & 1)
            return false;
    for (int c = 0; c < 32; c++)
        if (where[c] >= 0 && (row[where[c]] >> 32 & 1))
            b[at + c / 8] ^= (uint8_t)(1u << (c % 8));
    if (crc32c(0, p, n) != 0)
        return false;
    be32_write(b + BATCH_CRC, 0);
    return true;
}

TEST(valid_batch_with_crc_zero)
{
    /* redpanda#4113: a parser that took "CRC == 0" for a zeroed header lost valid data. */
    buf_t b;
    bool ok = false;
    for (uint64_t seed = 1; seed < 20 && !ok; seed++) {
        buf_init(&b);
        tl_batch(&b, 1, -1, 64, 5000, seed);
        /* The value's last 4 bytes sit just before the record's header count (1 byte). */
        ok = force_crc_zero(b.data, b.len, b.len - 5);
        if (!ok)
            buf_deinit(&b);
    }
    REQUIRE(ok);
    size_t t;
    CHECK_EQ(storage_batch_validate_header(b.data, b.len, &t), 0);
    CHECK_EQ(be32_read(b.data + BATCH_CRC), 0);
    for (int closed = 0; closed < 2; closed++) {
        char *tmp = tl_tmpdir();
        char dir[600];
        snprintf(dir, sizeof(dir), "%s/t-0", tmp);
        storage_log_config_t cfg;
        storage_log_config_default(&cfg);
        storage_log_t *log;
        REQUIRE(storage_log_open(storage_io_real(), dir, &cfg, &log) == 0);
        CHECK_EQ(tl_append(log, 2, 10, 1, 1), 0);
        int64_t base;
        CHECK_EQ(storage_log_append(log, b.data, b.len, &base), 0);
        CHECK_EQ(base, 2);
        if (closed)
            storage_log_close(log);
        else
            storage_log_abandon(log); /* the CRC-0 batch is the torn-tail candidate */
        REQUIRE(storage_log_open(storage_io_real(), dir, &cfg, &log) == 0);
        CHECK_EQ(storage_log_end_offset(log), 3);
        buf_t all;
        buf_init(&all);
        CHECK_EQ(tl_read_all(log, &all), 2);
        CHECK(all.len > b.len && memcmp(all.data + all.len - b.len, b.data, b.len) == 0);
        buf_deinit(&all);
        storage_log_close(log);
        tl_rmrf(tmp);
    }
    buf_deinit(&b);
}

static void damage_index_and_check(void (*damage)(fixture_t *f))
{
    for (int closed = 0; closed < 2; closed++) {
        fixture_t f;
        fixture_build(&f, closed);
        damage(&f);
        expect_truncated_to(&f, NBATCH);
        /* The rebuilt index is on disk and consistent again. */
        char p[800];
        path_of(&f, 0, ".index", p, sizeof(p));
        long size = tl_file_size(p);
        CHECK(size > 0 && size % INDEX_ENTRY_SIZE == 0);
        path_of(&f, 0, ".timeindex", p, sizeof(p));
        size = tl_file_size(p);
        CHECK(size > 0 && size % TIMEINDEX_ENTRY_SIZE == 0);
        fixture_free(&f);
    }
}

static void idx_delete(fixture_t *f)
{
    char p[800];
    path_of(f, 0, ".index", p, sizeof(p));
    unlink(p);
}

static void idx_odd_size(fixture_t *f)
{
    char p[800];
    path_of(f, 0, ".index", p, sizeof(p));
    truncate(p, 5);
}

static void idx_past_eof(fixture_t *f)
{
    char p[800];
    path_of(f, 0, ".index", p, sizeof(p));
    uint8_t e[8];
    be32_write(e, 17);
    be32_write(e + 4, 1u << 30);
    tl_append_file(p, e, 8);
}

static void idx_wrong_target(fixture_t *f)
{
    /* A plausible entry (increasing, inside the file) that does not point at a batch start. */
    char p[800];
    path_of(f, 0, ".index", p, sizeof(p));
    long size = tl_file_size(p);
    uint8_t e[8];
    be32_write(e, 16);
    be32_write(e + 4, (uint32_t)(f->pos[5] + 7));
    tl_poke(p, size - 8, e, 8);
}

static void tidx_garbage(fixture_t *f)
{
    char p[800];
    path_of(f, 0, ".timeindex", p, sizeof(p));
    uint8_t e[24];
    memset(e, 0, sizeof(e));
    be64_write(e, 500);
    be64_write(e + 12, 400); /* timestamps going backwards */
    tl_poke(p, 0, e, sizeof(e));
}

TEST(index_damage_rebuilt)
{
    damage_index_and_check(idx_delete);
    damage_index_and_check(idx_odd_size);
    damage_index_and_check(idx_past_eof);
    damage_index_and_check(idx_wrong_target);
    damage_index_and_check(tidx_garbage);
}

TEST(checkpoint_damage_means_full_verification)
{
    for (int closed = 0; closed < 2; closed++) {
        fixture_t f;
        fixture_build(&f, closed);
        char p[800];
        snprintf(p, sizeof(p), "%s/%s", f.dir, CHECKPOINT_NAME);
        REQUIRE(tl_flip(p, 30) == 0);
        expect_truncated_to(&f, NBATCH);
        fixture_free(&f);
    }
    /* A torn temporary checkpoint is ignored and removed. */
    fixture_t f;
    fixture_build(&f, false);
    char p[800];
    snprintf(p, sizeof(p), "%s/%s", f.dir, CHECKPOINT_TMP_NAME);
    FILE *fp = fopen(p, "w");
    REQUIRE(fp);
    fputs("weir-log-checkpoint 1\nrecovery-po", fp);
    fclose(fp);
    expect_truncated_to(&f, NBATCH);
    CHECK_EQ(tl_file_size(p), -1);
    fixture_free(&f);
}

TEST(missing_middle_segment_refuses)
{
    fixture_t f;
    fixture_build(&f, false);
    char p[800];
    path_of(&f, 7, ".log", p, sizeof(p)); /* the segment at 18 */
    REQUIRE(unlink(p) == 0);
    expect_refused(&f);
    fixture_free(&f);
}

TEST(segment_name_disagrees_with_its_batches)
{
    fixture_t f;
    fixture_build(&f, false);
    char from[800], to[800];
    path_of(&f, 7, ".log", from, sizeof(from)); /* the segment at 18 claims to start at 20 */
    tl_seg_path(to, sizeof(to), f.dir, 20, ".log");
    REQUIRE(rename(from, to) == 0);
    expect_refused(&f);
    fixture_free(&f);
}

TEST(leftovers_of_interrupted_work_removed)
{
    fixture_t f;
    fixture_build(&f, false);
    char p1[800], p2[800], p3[800];
    tl_seg_path(p1, sizeof(p1), f.dir, 0, ".log.cleaned");
    tl_seg_path(p2, sizeof(p2), f.dir, 0, ".index.cleaned");
    tl_seg_path(p3, sizeof(p3), f.dir, 999, ".index"); /* an index without its .log */
    for (const char *p = p1; p; p = p == p1 ? p2 : p == p2 ? p3 : NULL) {
        FILE *fp = fopen(p, "w");
        REQUIRE(fp);
        fputs("half-written", fp);
        fclose(fp);
    }
    expect_truncated_to(&f, NBATCH);
    CHECK_EQ(tl_file_size(p1), -1);
    CHECK_EQ(tl_file_size(p2), -1);
    CHECK_EQ(tl_file_size(p3), -1);
    fixture_free(&f);
}

/* weir.recovery-point, written by hand in its documented format. */
static void write_rpfile(fixture_t *f, int64_t rp, bool garble)
{
    char text[128], path[700];
    int n = snprintf(text, sizeof(text), "weir-recovery-point 1\nrecovery-point %020lld\n",
                     (long long)rp);
    n += snprintf(text + n, sizeof(text) - (size_t)n, "crc32c %08x\n", crc32c(0, text, (size_t)n));
    if (garble)
        text[30] ^= 1;
    snprintf(path, sizeof(path), "%s/weir.recovery-point", f->dir);
    FILE *fp = fopen(path, "w");
    REQUIRE(fp && fwrite(text, 1, (size_t)n, fp) == (size_t)n && fclose(fp) == 0);
}

TEST(recovery_point_file)
{
    /* Batch 16 (offsets 48..50) has a damaged header. The checkpoint's recovery point is 45,
     * so without the file (or with a garbled one) that is a torn tail: cut, the log ends at 48.
     * With the file saying 51 (the batch's end), the batch was fsynced: refused. A file
     * claiming less than the checkpoint changes nothing. */
    struct {
        int64_t rp; /* 0: no file */
        bool garble;
        bool refused;
    } cases[] = {{0, false, false}, {51, false, true}, {51, true, false}, {30, false, false}};
    for (size_t k = 0; k < WEIR_ARRAY_LEN(cases); k++) {
        fixture_t f;
        fixture_build(&f, false);
        char p[800];
        path_of(&f, 16, ".log", p, sizeof(p));
        REQUIRE(tl_flip(p, f.pos[16] + 3) == 0);
        if (cases[k].rp)
            write_rpfile(&f, cases[k].rp, cases[k].garble);
        if (cases[k].refused)
            expect_refused(&f);
        else
            expect_truncated_to(&f, 16);
        fixture_free(&f);
    }
}

TEST(recovery_point_file_written_after_flush)
{
    /* With recovery_point_ms = 0 and the checkpoint far off, each flush that moves the durable
     * offset writes the file; storage_log_recovery_point_read gives it back. */
    fixture_t f;
    fixture_build(&f, true);
    f.cfg.recovery_checkpoint_ms = 3600 * 1000;
    f.cfg.recovery_point_ms = 0;
    storage_log_t *log;
    REQUIRE(reopen(&f, &log) == 0);
    int64_t rp = -1;
    CHECK_EQ(storage_log_recovery_point_read(storage_io_real(), f.dir, &rp), -WEIR_ENOENT);
    /* the first append rolls a segment (the fixture's timestamps are old), so its flush
     * writes the checkpoint instead; the second's writes the file */
    CHECK_EQ(tl_append(log, 1, 10, 1, 1), RECS * NBATCH);
    REQUIRE(storage_log_flush(log) == 0);
    CHECK_EQ(storage_log_recovery_point_read(storage_io_real(), f.dir, &rp), -WEIR_ENOENT);
    CHECK_EQ(tl_append(log, 1, 10, 1, 1), RECS * NBATCH + 1);
    REQUIRE(storage_log_flush(log) == 0);
    CHECK_EQ(storage_log_recovery_point_read(storage_io_real(), f.dir, &rp), 0);
    CHECK_EQ(rp, RECS * NBATCH + 2);
    storage_log_close(log);
    fixture_free(&f);
}

TEST_MAIN()
