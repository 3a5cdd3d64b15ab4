/* Unit tests of the idempotent-producer state (src/broker/producer_state.c) on a real partition
 * log over the simulated disk: sequence checks (duplicates answered with their original
 * offsets, gaps, unknown producers, old and new epochs, wrap at INT32_MAX, the window of 5
 * batches), snapshots and their recovery (clean close, kill -9, a crash that tears the log's
 * tail, a corrupt snapshot), expiry, the bound on producers, InitProducerId's ids that never
 * repeat across restarts, and transactions (the first unstable offset, markers, the aborted
 * index, their recovery). */
#include "broker/producer_state.h"
#include "kafka/kafka.h"
#include "storage/storage.h"
#include "test.h"

#include <fcntl.h>

static storage_io_sim_t *sim;
static storage_log_t *plog;
static broker_producer_state_t *ps;

static broker_producer_state_config_t cfg_default(void)
{
    broker_producer_state_config_t c;
    broker_producer_state_config_default(&c);
    return c;
}

static void open_all(const broker_producer_state_config_t *cfg)
{
    storage_log_config_t lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 8192;
    lc.retention_ms = -1;
    REQUIRE(storage_log_open(storage_io_sim_io(sim), "/p", &lc, &plog) == 0);
    REQUIRE(broker_producer_state_open(storage_io_sim_io(sim), "/p", plog, cfg, &ps) == 0);
}

static void setup(void)
{
    sim = storage_io_sim_new(7);
    broker_producer_state_config_t c = cfg_default();
    open_all(&c);
}

static void teardown(void)
{
    broker_producer_state_close(ps, plog);
    storage_log_close(plog);
    storage_io_sim_free(sim);
    ps = NULL;
    plog = NULL;
    sim = NULL;
}

typedef struct {
    int16_t error;
    bool duplicate;
    int64_t base; /* the offset appended at, or the duplicate's original */
} pr_t;

/* Builds a batch of n records from producer (pid, epoch) starting at seq, runs the check and,
 * if it passes, appends and records it, as the broker's produce path does (a transactional
 * batch opens its transaction before the append). */
static pr_t produce_attrs(int64_t pid, int16_t epoch, int32_t seq, int n, int64_t ts, int16_t attrs)
{
    storage_record_in_t recs[16];
    memset(recs, 0, sizeof(recs));
    for (int i = 0; i < n; i++) {
        recs[i].key_len = -1;
        recs[i].value = "v";
        recs[i].value_len = 1;
        recs[i].timestamp = ts;
    }
    storage_batch_opts_t o = {
        .producer_id = pid, .producer_epoch = epoch, .base_sequence = seq, .attributes = attrs};
    buf_t b = {0};
    storage_batch_build(&b, recs, (size_t)n, &o);
    storage_batch_header_t h;
    size_t total;
    pr_t r = {0};
    WEIR_ASSERT(storage_batch_header_read(b.data, b.len, &h, &total) == 0);
    broker_producer_check_t ck;
    broker_producer_state_check(ps, &h, &ck);
    r.error = ck.error;
    r.duplicate = ck.duplicate;
    r.base = ck.dup_base_offset;
    if (ck.error == KAFKA_NONE && !ck.duplicate) {
        int64_t base;
        broker_producer_state_txn_begin(ps, &h, storage_log_end_offset(plog));
        WEIR_ASSERT(storage_log_append(plog, b.data, b.len, &base) == 0);
        broker_producer_state_update(ps, &h, base, storage_log_end_offset(plog));
        r.base = base;
    }
    buf_deinit(&b);
    return r;
}

static pr_t produce(int64_t pid, int16_t epoch, int32_t seq, int n, int64_t ts)
{
    return produce_attrs(pid, epoch, seq, n, ts, 0);
}

static pr_t produce_txn(int64_t pid, int16_t epoch, int32_t seq, int n)
{
    return produce_attrs(pid, epoch, seq, n, 1000, BATCH_TRANSACTIONAL);
}

/* Appends a commit/abort marker for pid, as the transaction coordinator's marker writer does. */
static int64_t marker(int64_t pid, int16_t epoch, bool commit)
{
    uint8_t key[4] = {0, 0, 0, commit ? 1 : 0}, value[6] = {0, 0, 0, 0, 0, 7};
    storage_record_in_t rec = {
        .key = key, .key_len = 4, .value = value, .value_len = 6, .timestamp = 1000};
    storage_batch_opts_t o = {.producer_id = pid,
                              .producer_epoch = epoch,
                              .base_sequence = -1,
                              .attributes = BATCH_TRANSACTIONAL | BATCH_CONTROL};
    buf_t b = {0};
    storage_batch_build(&b, &rec, 1, &o);
    int64_t base;
    WEIR_ASSERT(broker_producer_state_check_marker(ps, pid, epoch) == KAFKA_NONE);
    WEIR_ASSERT(storage_log_append(plog, b.data, b.len, &base) == 0);
    broker_producer_state_end_txn(ps, pid, epoch, 7, commit, base, 1000);
    buf_deinit(&b);
    return base;
}

TEST(sequences)
{
    setup();
    pr_t r = produce(1, 0, 0, 3, 1000); /* seq 0..2 at offsets 0..2 */
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(r.base, 0);
    r = produce(1, 0, 3, 2, 1000); /* seq 3..4 */
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(r.base, 3);
    r = produce(1, 0, 0, 3, 1000); /* a retry of the first batch */
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK(r.duplicate);
    CHECK_EQ(r.base, 0);
    r = produce(1, 0, 3, 2, 1000);
    CHECK(r.duplicate);
    CHECK_EQ(r.base, 3);
    CHECK_EQ(storage_log_end_offset(plog), 5); /* nothing written twice */
    r = produce(1, 0, 7, 1, 1000);             /* gap: 5 expected */
    CHECK_EQ(r.error, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
    r = produce(1, 0, 1, 2, 1000); /* overlaps, not a cached batch */
    CHECK_EQ(r.error, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
    r = produce(2, 0, 5, 1, 1000); /* unknown producer not starting at 0 */
    CHECK_EQ(r.error, KAFKA_UNKNOWN_PRODUCER_ID);
    r = produce(2, 0, 0, 1, 1000);
    CHECK_EQ(r.error, KAFKA_NONE);
    /* a new epoch must start at 0; after it the old epoch is fenced */
    r = produce(1, 1, 5, 1, 1000);
    CHECK_EQ(r.error, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
    r = produce(1, 1, 0, 1, 1000);
    CHECK_EQ(r.error, KAFKA_NONE);
    r = produce(1, 0, 5, 1, 1000);
    CHECK_EQ(r.error, KAFKA_INVALID_PRODUCER_EPOCH);
    /* plain batches are not checked */
    r = produce(-1, -1, -1, 2, 1000);
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(broker_producer_state_count(ps), 2);
    teardown();
}

TEST(window_of_five_batches)
{
    setup();
    for (int i = 0; i < 7; i++)
        CHECK_EQ(produce(9, 0, i * 2, 2, 1000).error, KAFKA_NONE);
    /* batches 2..6 are remembered (offsets 4..13), 0 and 1 are not */
    for (int i = 2; i < 7; i++) {
        pr_t r = produce(9, 0, i * 2, 2, 1000);
        CHECK(r.duplicate);
        CHECK_EQ(r.base, i * 2);
    }
    pr_t r = produce(9, 0, 2, 2, 1000);
    CHECK(!r.duplicate);
    CHECK_EQ(r.error, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
    CHECK_EQ(produce(9, 0, 14, 1, 1000).error, KAFKA_NONE);
    teardown();
}

/* Writes a snapshot file by hand (the documented format) for one producer whose last batch
 * ended at sequence last_seq. */
static void write_snapshot(int64_t offset, int64_t pid, int32_t last_seq)
{
    buf_t b = {0};
    buf_append(&b, "WPS1", 4);
    buf_append_be32(&b, 0);
    buf_append_be64(&b, (uint64_t)offset);
    buf_append_be32(&b, 1);
    buf_append_be64(&b, (uint64_t)pid);
    buf_append_be16(&b, 0);
    buf_append_u8(&b, 1);
    buf_append_be32(&b, (uint32_t)last_seq);
    buf_append_be32(&b, (uint32_t)last_seq);
    buf_append_be64(&b, 0);
    buf_append_be32(&b, 0);
    buf_append_be64(&b, 1000);
    be32_write(b.data + 4, crc32c(0, b.data + 8, b.len - 8));
    storage_io_t *io = storage_io_sim_io(sim);
    char path[64];
    snprintf(path, sizeof(path), "/p/%020lld.snapshot", (long long)offset);
    int fd;
    WEIR_ASSERT(io->ops->open(io, path, O_CREAT | O_RDWR | O_TRUNC, &fd) == 0);
    WEIR_ASSERT(io->ops->pwrite(io, fd, b.data, b.len, 0) == 0);
    io->ops->close(io, fd);
    buf_deinit(&b);
}

TEST(sequence_wraps_at_int32_max)
{
    sim = storage_io_sim_new(3);
    broker_producer_state_config_t c = cfg_default();
    storage_log_config_t lc;
    storage_log_config_default(&lc);
    REQUIRE(storage_log_open(storage_io_sim_io(sim), "/p", &lc, &plog) == 0);
    /* one record at offset 0, so a snapshot at offset 1 is valid */
    storage_record_in_t rec = {.key_len = -1, .value = "v", .value_len = 1, .timestamp = 1};
    buf_t b = {0};
    storage_batch_build(&b, &rec, 1, NULL);
    int64_t base;
    REQUIRE(storage_log_append(plog, b.data, b.len, &base) == 0);
    buf_deinit(&b);
    write_snapshot(1, 5, INT32_MAX - 1);
    REQUIRE(broker_producer_state_open(storage_io_sim_io(sim), "/p", plog, &c, &ps) == 0);
    CHECK_EQ(broker_producer_state_loaded_snapshot(ps), 1);
    /* INT32_MAX, 0, 1: three records across the wrap */
    pr_t r = produce(5, 0, INT32_MAX, 3, 1000);
    CHECK_EQ(r.error, KAFKA_NONE);
    CHECK_EQ(produce(5, 0, 2, 1, 1000).error, KAFKA_NONE);
    CHECK(produce(5, 0, INT32_MAX, 3, 1000).duplicate);
    CHECK_EQ(produce(5, 0, 0, 1, 1000).error, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
    teardown();
}

TEST(clean_restart_uses_snapshot)
{
    setup();
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(produce(1, 0, i * 3, 3, 1000).error, KAFKA_NONE);
        CHECK_EQ(produce(2, 3, i, 1, 1000).error, KAFKA_NONE);
    }
    broker_producer_state_close(ps, plog);
    storage_log_close(plog);
    broker_producer_state_config_t c = cfg_default();
    open_all(&c);
    CHECK_EQ(broker_producer_state_loaded_snapshot(ps), 16);
    CHECK_EQ(broker_producer_state_replayed_batches(ps), 0);
    pr_t r = produce(1, 0, 9, 3, 1000);
    CHECK(r.duplicate);
    CHECK_EQ(r.base, 12);
    CHECK(produce(2, 3, 3, 1, 1000).duplicate);
    CHECK_EQ(produce(1, 0, 12, 1, 1000).error, KAFKA_NONE);
    CHECK_EQ(produce(2, 2, 4, 1, 1000).error, KAFKA_INVALID_PRODUCER_EPOCH);
    teardown();
}

TEST(kill9_rebuilds_from_snapshot_and_log)
{
    sim = storage_io_sim_new(11);
    broker_producer_state_config_t c = cfg_default();
    c.snapshot_interval_offsets = 10;
    open_all(&c);
    for (int i = 0; i < 30; i++)
        CHECK_EQ(produce(4, 0, i * 2, 2, 1000).error, KAFKA_NONE);
    /* the process dies: nothing closed, but the page cache (the sim's written bytes) stays */
    broker_producer_state_free(ps);
    storage_log_abandon(plog);
    open_all(&c);
    CHECK(broker_producer_state_loaded_snapshot(ps) >= 50);
    CHECK(broker_producer_state_replayed_batches(ps) < 30);
    for (int i = 25; i < 30; i++) {
        pr_t r = produce(4, 0, i * 2, 2, 1000);
        CHECK(r.duplicate);
        CHECK_EQ(r.base, i * 2);
    }
    CHECK_EQ(produce(4, 0, 60, 2, 1000).error, KAFKA_NONE);
    teardown();
}

TEST(crash_that_loses_the_tail)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        sim = storage_io_sim_new(seed);
        broker_producer_state_config_t c = cfg_default();
        c.snapshot_interval_offsets = 4;
        open_all(&c);
        for (int i = 0; i < 10; i++)
            produce(8, 0, i, 1, 1000);
        storage_log_flush(plog); /* offsets 0..9 durable */
        for (int i = 10; i < 20; i++)
            produce(8, 0, i, 1, 1000); /* snapshots up to 20 were written, unsynced */
        broker_producer_state_free(ps);
        storage_log_abandon(plog);
        storage_io_sim_crash(sim);
        open_all(&c);
        int64_t end = storage_log_end_offset(plog);
        CHECK(end >= 10 && end <= 20);
        /* every batch the log still holds is a duplicate; the first one it lost is next */
        for (int i = (int)WEIR_MAX(end - 5, 0); i < end; i++) {
            pr_t r = produce(8, 0, i, 1, 1000);
            CHECK(r.duplicate);
            CHECK_EQ(r.base, i);
        }
        pr_t r = produce(8, 0, (int32_t)end, 1, 1000);
        CHECK_EQ(r.error, KAFKA_NONE);
        CHECK(!r.duplicate);
        CHECK_EQ(r.base, end);
        teardown();
    }
}

TEST(corrupt_snapshot_falls_back_to_scan)
{
    setup();
    for (int i = 0; i < 5; i++)
        produce(3, 0, i, 1, 1000);
    broker_producer_state_close(ps, plog);
    storage_log_close(plog);
    storage_io_t *io = storage_io_sim_io(sim);
    int fd;
    REQUIRE(io->ops->open(io, "/p/00000000000000000005.snapshot", O_RDWR, &fd) == 0);
    io->ops->pwrite(io, fd, "X", 1, 30);
    io->ops->close(io, fd);
    broker_producer_state_config_t c = cfg_default();
    open_all(&c);
    CHECK_EQ(broker_producer_state_loaded_snapshot(ps), -1);
    CHECK_EQ(broker_producer_state_replayed_batches(ps), 5);
    CHECK(produce(3, 0, 4, 1, 1000).duplicate);
    CHECK_EQ(produce(3, 0, 5, 1, 1000).error, KAFKA_NONE);
    teardown();
}

TEST(expiry_and_bound)
{
    sim = storage_io_sim_new(5);
    broker_producer_state_config_t c = cfg_default();
    c.max_producers = 3;
    c.expiration_ms = 60000;
    open_all(&c);
    produce(1, 0, 0, 1, 1000);
    produce(2, 0, 0, 1, 2000);
    produce(3, 0, 0, 1, 3000);
    produce(4, 0, 0, 1, 4000); /* evicts producer 1, idle longest */
    CHECK_EQ(broker_producer_state_count(ps), 3);
    CHECK_EQ(produce(1, 0, 1, 1, 5000).error, KAFKA_UNKNOWN_PRODUCER_ID);
    broker_producer_state_expire(ps, 63500); /* 2 and 3 idle for more than 60 s */
    CHECK_EQ(broker_producer_state_count(ps), 1);
    CHECK_EQ(produce(4, 0, 1, 1, 5000).error, KAFKA_NONE);
    teardown();
}

TEST(producer_ids_never_repeat)
{
    sim = storage_io_sim_new(9);
    storage_io_t *io = storage_io_sim_io(sim);
    io->ops->mkdir(io, "/d");
    broker_producer_ids_t *p;
    REQUIRE(broker_producer_ids_open(io, "/d", &p) == 0);
    int64_t pid;
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(broker_producer_ids_next(p, &pid), 0);
        CHECK_EQ(pid, i);
    }
    /* the machine crashes: the block of ids was durable before any id of it went out */
    storage_io_sim_crash(sim);
    broker_producer_ids_close(p);
    REQUIRE(broker_producer_ids_open(io, "/d", &p) == 0);
    CHECK_EQ(broker_producer_ids_next(p, &pid), 0);
    CHECK_EQ(pid, BROKER_PRODUCER_IDS_BLOCK);
    /* a whole block used up moves to the next one */
    for (int i = 0; i < BROKER_PRODUCER_IDS_BLOCK; i++)
        broker_producer_ids_next(p, &pid);
    CHECK_EQ(pid, 2 * BROKER_PRODUCER_IDS_BLOCK);
    broker_producer_ids_close(p);
    REQUIRE(broker_producer_ids_open(io, "/d", &p) == 0);
    CHECK_EQ(broker_producer_ids_next(p, &pid), 0);
    CHECK_EQ(pid, 3 * BROKER_PRODUCER_IDS_BLOCK);
    broker_producer_ids_close(p);
    storage_io_sim_free(sim);
    sim = NULL;
}

/* Transactions in one partition: the first unstable offset (the LSO's bound) follows the
 * oldest open transaction, markers close them, aborts land in the aborted index with the LSO
 * after them, a producer with an open transaction may not write plain batches, and an old
 * epoch is refused after a fencing abort. */
TEST(transactions_lso_and_aborted_index)
{
    setup();
    CHECK_EQ(broker_producer_state_first_unstable(ps), -1);
    CHECK_EQ(produce(9, 0, 0, 2, 1000).error, KAFKA_NONE); /* offsets 0-1, not transactional */
    CHECK_EQ(produce_txn(1, 0, 0, 2).base, 2);             /* txn A at 2-3 */
    CHECK_EQ(broker_producer_state_first_unstable(ps), 2);
    CHECK(broker_producer_state_txn_open(ps, 1, 0));
    CHECK_EQ(produce_txn(2, 0, 0, 1).base, 4); /* txn B at 4 */
    CHECK_EQ(broker_producer_state_first_unstable(ps), 2);
    CHECK_EQ(produce(1, 0, 2, 1, 1000).error, KAFKA_INVALID_TXN_STATE); /* plain, mid-txn */
    CHECK_EQ(produce_txn(1, 0, 2, 1).base, 5);
    CHECK_EQ(marker(2, 0, false), 6); /* B aborts while A is open: LSO after it is 2 */
    CHECK_EQ(broker_producer_state_first_unstable(ps), 2);
    CHECK_EQ(marker(1, 0, true), 7); /* A commits */
    CHECK_EQ(broker_producer_state_first_unstable(ps), -1);
    storage_aborted_txn_t *v;
    size_t n = storage_log_aborted_collect(plog, 0, 100, &v);
    CHECK_EQ(n, 1);
    if (n == 1) {
        CHECK_EQ(v[0].producer_id, 2);
        CHECK_EQ(v[0].first_offset, 4);
        CHECK_EQ(v[0].last_offset, 6);
        CHECK_EQ(v[0].last_stable_offset, 2);
    }
    free(v);
    CHECK_EQ(storage_log_aborted_collect(plog, 7, 100, &v), 0); /* all before the fetch */
    CHECK_EQ(storage_log_aborted_collect(plog, 0, 4, &v), 0);   /* all after what was read */
    /* a fencing abort with a bumped epoch: the old epoch is refused from then on */
    CHECK_EQ(produce_txn(1, 0, 3, 1).base, 8);
    CHECK_EQ(marker(1, 1, false), 9);
    CHECK_EQ(produce_txn(1, 0, 4, 1).error, KAFKA_INVALID_PRODUCER_EPOCH);
    CHECK_EQ(produce_txn(1, 1, 0, 1).base, 10);
    broker_producer_desc_t *d;
    n = broker_producer_state_list(ps, &d);
    CHECK_EQ(n, 3);
    if (n == 3) {
        CHECK_EQ(d[0].producer_id, 1);
        CHECK_EQ(d[0].epoch, 1);
        CHECK_EQ(d[0].txn_start_offset, 10);
        CHECK_EQ(d[0].coordinator_epoch, 7);
        CHECK_EQ(d[1].txn_start_offset, -1);
    }
    free(d);
    teardown();
}

/* The open transactions and the aborted index survive a restart: from a snapshot (clean
 * close), and from a replay of the log after kill -9 with the index's unsynced tail lost. */
TEST(transactions_survive_restarts)
{
    setup();
    produce_txn(1, 0, 0, 2);               /* 0-1 */
    produce_txn(2, 0, 0, 1);               /* 2 */
    marker(2, 0, false);                   /* 3: abort B */
    produce_txn(3, 0, 0, 1);               /* 4: C stays open */
    broker_producer_state_close(ps, plog); /* clean: a snapshot at 5 */
    storage_log_close(plog);
    broker_producer_state_config_t c = cfg_default();
    open_all(&c);
    CHECK_EQ(broker_producer_state_loaded_snapshot(ps), 5);
    CHECK_EQ(broker_producer_state_first_unstable(ps), 0);
    marker(1, 0, true); /* 5: A commits; C (4) is still open */
    CHECK_EQ(broker_producer_state_first_unstable(ps), 4);
    marker(3, 0, false); /* 6 */
    /* kill -9: no snapshot, unsynced index writes may be lost; the replay restores them */
    broker_producer_state_free(ps);
    storage_log_flush(plog); /* the log itself is durable (acks=-1) */
    storage_log_abandon(plog);
    storage_io_sim_crash(sim);
    open_all(&c);
    CHECK_EQ(broker_producer_state_first_unstable(ps), -1);
    storage_aborted_txn_t *v;
    size_t n = storage_log_aborted_collect(plog, 0, 100, &v);
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_EQ(v[0].producer_id, 2);
        CHECK_EQ(v[0].last_offset, 3);
        CHECK_EQ(v[1].producer_id, 3);
        CHECK_EQ(v[1].first_offset, 4);
        CHECK_EQ(v[1].last_offset, 6);
    }
    free(v);
    teardown();
}

TEST(producer_ids_refuse_a_corrupt_file)
{
    sim = storage_io_sim_new(9);
    storage_io_t *io = storage_io_sim_io(sim);
    io->ops->mkdir(io, "/d");
    int fd;
    REQUIRE(io->ops->open(io, "/d/producer-ids", O_CREAT | O_RDWR, &fd) == 0);
    io->ops->pwrite(io, fd, "garbage-garbage", 15, 0);
    io->ops->close(io, fd);
    broker_producer_ids_t *p = NULL;
    CHECK(broker_producer_ids_open(io, "/d", &p) < 0);
    storage_io_sim_free(sim);
    sim = NULL;
}

TEST_MAIN()
