/* Unit tests of segments: Kafka's file names, the sparse offset and time indexes (lookups,
 * on-disk round trip in Kafka's big-endian entry layout, rejection of damaged files), and the
 * batch scanner's verdicts (clean end, torn, zeros, bad CRC, impossible lengths). */
#include "test.h"
#include "test_log_util.h"

TEST(names)
{
    char p[128];
    storage_segment_path(p, sizeof(p), "/data/orders-3", 0, ".log");
    CHECK_STR(p, "/data/orders-3/00000000000000000000.log");
    storage_segment_path(p, sizeof(p), "/x", 1234567890123ll, ".timeindex");
    CHECK_STR(p, "/x/00000001234567890123.timeindex");
    int64_t base;
    CHECK(storage_segment_parse_name("00000000000000000042.log", ".log", &base));
    CHECK_EQ(base, 42);
    CHECK(storage_segment_parse_name("00000000000000000042.log.swap", ".log.swap", &base));
    CHECK(!storage_segment_parse_name("00000000000000000042.log.swap", ".log", &base));
    CHECK(!storage_segment_parse_name("0000000000000000042.log", ".log", &base)); /* 19 digits */
    CHECK(!storage_segment_parse_name("0000000000000000004x.log", ".log", &base));
    CHECK(!storage_segment_parse_name("99999999999999999999.log", ".log", &base)); /* > int64 */
    CHECK(storage_segment_parse_name("09223372036854775807.log", ".log", &base));
    CHECK_EQ(base, INT64_MAX);
}

/* A segment with batches at known positions: batch i has base offset 100 + 2i, 2 records,
 * max timestamp ts[i]. */
static storage_segment_t *make_seg(int n, const int64_t *ts, uint32_t interval)
{
    storage_segment_t *seg = storage_segment_new(100, NULL);
    for (int i = 0; i < n; i++) {
        storage_batch_header_t h = {0};
        h.base_offset = 100 + 2 * i;
        h.last_offset_delta = 1;
        h.max_timestamp = ts ? ts[i] : -1;
        storage_segment_note_batch(seg, &h, 100, interval);
    }
    return seg;
}

TEST(offset_index_floor)
{
    storage_segment_t *seg = make_seg(50, NULL, 250); /* an entry every third batch */
    CHECK_EQ(seg->size, 5000);
    CHECK_EQ(seg->next, 200);
    CHECK(seg->nidx >= 15 && seg->nidx <= 17);
    for (int i = 1; i < (int)seg->nidx; i++) {
        CHECK(seg->idx[i].rel > seg->idx[i - 1].rel);
        CHECK(seg->idx[i].pos > seg->idx[i - 1].pos);
    }
    for (int64_t off = 90; off < 210; off++) {
        uint64_t pos = storage_segment_index_floor(seg, off);
        int64_t batch = (int64_t)pos / 100; /* the batch the scan starts at */
        int64_t start = 100 + 2 * batch;
        CHECK(pos % 100 == 0);
        CHECK(off < 100 ? pos == 0 : start <= off);
        /* ... and no more than one interval before the target. */
        if (off >= 100 && off < 200)
            CHECK((off - start) / 2 * 100 <= 250 + 100);
    }
    storage_segment_free(seg);
}

TEST(time_index_floor)
{
    int64_t ts[40];
    for (int i = 0; i < 40; i++)
        ts[i] = 1000 + 10 * i;
    ts[20] = 5; /* out of order: does not lower the max */
    storage_segment_t *seg = make_seg(40, ts, 300);
    CHECK_EQ(seg->max_ts, 1390);
    CHECK_EQ(seg->max_ts_offset, 178);
    storage_segment_seal_timeindex(seg);
    CHECK_EQ(seg->tidx[seg->ntidx - 1].ts, 1390);
    for (size_t i = 1; i < seg->ntidx; i++)
        CHECK(seg->tidx[i].ts > seg->tidx[i - 1].ts);
    /* The scan for ts starts at or before the first batch with max ts >= ts. */
    for (int64_t t = 900; t <= 1400; t += 5) {
        uint64_t pos = storage_segment_time_floor(seg, t);
        int first = -1;
        for (int i = 0; i < 40 && first < 0; i++)
            if (ts[i] >= t)
                first = i;
        if (first >= 0)
            CHECK(pos <= (uint64_t)first * 100);
    }
    storage_segment_free(seg);
}

TEST(index_files_round_trip_and_checks)
{
    storage_io_sim_t *sim = storage_io_sim_new(2);
    storage_io_t *io = storage_io_sim_io(sim);
    io->ops->mkdir(io, "/s");
    /* A real segment file, so the last entry can be checked against it. */
    storage_segment_t *seg;
    REQUIRE(storage_segment_create(io, "/s", 0, &seg) == 0);
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < 30; i++) {
        size_t at = b.len;
        tl_batch(&b, 2, -1, 60, 500 + i, (uint64_t)i);
        be64_write(b.data + at, (uint64_t)(2 * i));
        storage_batch_header_t h;
        size_t t;
        storage_batch_header_read(b.data + at, b.len - at, &h, &t);
        storage_segment_note_batch(seg, &h, t, 400);
    }
    REQUIRE(io->ops->pwrite(io, seg->file->fd, b.data, b.len, 0) == 0);
    storage_segment_seal_timeindex(seg);
    REQUIRE(seg->nidx > 3);
    CHECK_EQ(storage_segment_write_indexes(io, "/s", seg), 0);
    storage_segment_t *copy = storage_segment_new(0, storage_file_ref(seg->file));
    CHECK_EQ(storage_segment_load_indexes(io, "/s", copy, b.len), 0);
    CHECK_EQ(copy->nidx, seg->nidx);
    CHECK_EQ(copy->ntidx, seg->ntidx);
    CHECK(memcmp(copy->idx, seg->idx, seg->nidx * sizeof(*seg->idx)) == 0);
    for (size_t i = 0; i < seg->ntidx; i++) {
        CHECK_EQ(copy->tidx[i].ts, seg->tidx[i].ts);
        CHECK_EQ(copy->tidx[i].rel, seg->tidx[i].rel);
    }
    CHECK_EQ(copy->max_ts, seg->max_ts);
    /* On disk: Kafka's layout, big endian (relative offset, position). */
    int fd;
    uint8_t e[8];
    size_t got;
    REQUIRE(io->ops->open(io, "/s/00000000000000000000.index", O_RDWR, &fd) == 0);
    io->ops->pread(io, fd, e, 8, 0, &got);
    CHECK_EQ(be32_read(e), seg->idx[0].rel);
    CHECK_EQ(be32_read(e + 4), seg->idx[0].pos);
    /* Damage: the loader refuses, so recovery rebuilds. */
    CHECK_EQ(storage_segment_load_indexes(io, "/s", copy, b.len / 2), -WEIR_ECORRUPT);
    uint8_t bad[8];
    be32_write(bad, seg->idx[1].rel);
    be32_write(bad + 4, seg->idx[1].pos + 3); /* not a batch start */
    uint64_t size;
    io->ops->fsize(io, fd, &size);
    io->ops->pwrite(io, fd, bad, 8, size - 8);
    CHECK_EQ(storage_segment_load_indexes(io, "/s", copy, b.len), -WEIR_ECORRUPT);
    io->ops->ftruncate(io, fd, 12);
    CHECK_EQ(storage_segment_load_indexes(io, "/s", copy, b.len), -WEIR_ECORRUPT);
    io->ops->close(io, fd);
    CHECK_EQ(copy->nidx, 0); /* a refused load leaves nothing half loaded */
    io->ops->unlink(io, "/s/00000000000000000000.index");
    CHECK_EQ(storage_segment_load_indexes(io, "/s", copy, b.len), -WEIR_ENOENT);
    storage_segment_free(copy);
    storage_segment_free(seg);
    buf_deinit(&b);
    storage_io_sim_free(sim);
}

static int scan_verdict(storage_io_t *io, const uint8_t *p, size_t n, int *batches)
{
    int fd;
    io->ops->unlink(io, "/s/f");
    WEIR_ASSERT(io->ops->open(io, "/s/f", O_CREAT | O_RDWR, &fd) == 0);
    if (n)
        io->ops->pwrite(io, fd, p, n, 0);
    storage_scan_t sc;
    storage_scan_init(&sc, io, fd, n, 0);
    const uint8_t *batch;
    size_t total;
    storage_batch_header_t h;
    int rc;
    *batches = 0;
    while ((rc = storage_scan_next(&sc, true, &batch, &total, &h)) == 1)
        (*batches)++;
    storage_scan_deinit(&sc);
    io->ops->close(io, fd);
    return rc;
}

TEST(scanner_verdicts)
{
    storage_io_sim_t *sim = storage_io_sim_new(3);
    storage_io_t *io = storage_io_sim_io(sim);
    io->ops->mkdir(io, "/s");
    buf_t b;
    buf_init(&b);
    tl_batch(&b, 3, 0, 500, 1, 1);
    size_t one = b.len;
    tl_batch(&b, 2, 5, 300000, 1, 2); /* larger than the scanner's read chunk */
    int n;
    CHECK_EQ(scan_verdict(io, b.data, b.len, &n), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(scan_verdict(io, b.data, 0, &n), 0);
    CHECK_EQ(scan_verdict(io, b.data, b.len - 1, &n), -WEIR_EAGAIN); /* torn */
    CHECK_EQ(n, 1);
    CHECK_EQ(scan_verdict(io, b.data, one + 5, &n), -WEIR_EAGAIN); /* torn in the prefix */
    uint8_t *c = weir_malloc(b.len + 4096);
    memcpy(c, b.data, b.len);
    memset(c + b.len, 0, 4096);
    CHECK_EQ(scan_verdict(io, c, b.len + 4096, &n), -WEIR_ECORRUPT); /* zero tail: length 0 */
    CHECK_EQ(n, 2);
    memcpy(c, b.data, b.len);
    c[one + 100] ^= 1;
    CHECK_EQ(scan_verdict(io, c, b.len, &n), -WEIR_ECORRUPT); /* CRC */
    CHECK_EQ(n, 1);
    memcpy(c, b.data, b.len);
    be32_write(c + one + BATCH_LENGTH, 0x7fffffff);
    CHECK_EQ(scan_verdict(io, c, b.len, &n), -WEIR_EAGAIN); /* runs past the file */
    be32_write(c + one + BATCH_LENGTH, 0x80000000u);
    CHECK_EQ(scan_verdict(io, c, b.len, &n), -WEIR_ECORRUPT);
    memcpy(c, b.data, b.len);
    c[one + BATCH_MAGIC] = 1;
    CHECK_EQ(scan_verdict(io, c, b.len, &n), -WEIR_EUNSUPPORTED);
    free(c);
    buf_deinit(&b);
    storage_io_sim_free(sim);
}

TEST_MAIN()
