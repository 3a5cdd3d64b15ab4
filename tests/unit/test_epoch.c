/*
 * Leader epochs (src/storage/epoch.c): Kafka's leader-epoch-checkpoint format, Kafka's answers
 * for OffsetForLeaderEpoch (endOffsetFor), the entries following the log start and end, a
 * damaged file rebuilt, and crash safety: on the simulated disk, a crash at every step of a
 * rewrite leaves the old or the new file, never anything else.
 */
#include "test.h"
#include "test_log_util.h"

static storage_io_sim_t *sim_new(uint64_t seed)
{
    storage_io_sim_t *sim = storage_io_sim_new(seed);
    storage_io_t *io = storage_io_sim_io(sim);
    io->ops->mkdir(io, "/data");
    io->ops->fsync_dir(io, "/");
    return sim;
}

static storage_log_t *open_on(storage_io_sim_t *sim)
{
    storage_log_config_t cfg;
    storage_log_config_default(&cfg);
    cfg.segment_bytes = 400;
    storage_log_t *log = NULL;
    int rc = storage_log_open(storage_io_sim_io(sim), "/data/t-0", &cfg, &log);
    return rc == 0 ? log : NULL;
}

/* Appends one batch stamped with leader epoch `epoch`; returns its base offset. */
static int64_t append_epoch(storage_log_t *log, int32_t epoch)
{
    buf_t b;
    buf_init(&b);
    tl_batch(&b, 1, -1, 20, 1000, 7);
    be32_write(b.data + BATCH_LEADER_EPOCH, (uint32_t)epoch); /* not covered by the CRC */
    int64_t base = -1;
    int rc = storage_log_append(log, b.data, b.len, &base);
    buf_deinit(&b);
    return rc ? rc : base;
}

/* The checkpoint file's text ("" if there is none). */
static void file_text(storage_io_sim_t *sim, char *out, size_t len)
{
    storage_io_t *io = storage_io_sim_io(sim);
    int fd;
    out[0] = 0;
    if (io->ops->open(io, "/data/t-0/leader-epoch-checkpoint", O_RDONLY, &fd) != 0)
        return;
    size_t got = 0;
    io->ops->pread(io, fd, out, len - 1, 0, &got);
    io->ops->close(io, fd);
    out[got] = 0;
}

static void end_for(storage_log_t *log, int32_t req, int32_t want_epoch, int64_t want_off)
{
    int32_t e;
    int64_t off;
    storage_log_epoch_end_offset(log, req, &e, &off);
    CHECK_EQ(e, want_epoch);
    CHECK_EQ(off, want_off);
}

TEST(kafka_format_and_end_offsets)
{
    storage_io_sim_t *sim = sim_new(1);
    storage_log_t *log = open_on(sim);
    REQUIRE(log);
    char text[256];
    CHECK_EQ(storage_log_epoch_latest(log), -1); /* an empty log starts without one */
    end_for(log, 0, -1, -1);
    CHECK_EQ(storage_log_epoch_assign(log, 0, 0), 0);
    file_text(sim, text, sizeof(text));
    CHECK_STR(text, "0\n1\n0 0\n");
    for (int i = 0; i < 3; i++)
        CHECK_EQ(append_epoch(log, 0), i);
    end_for(log, 0, 0, 3); /* the current epoch ends at the log end */
    CHECK_EQ(storage_log_epoch_assign(log, 3, 3), 0);
    CHECK_EQ(append_epoch(log, 3), 3);
    CHECK_EQ(append_epoch(log, 3), 4);
    file_text(sim, text, sizeof(text));
    CHECK_STR(text, "0\n2\n0 0\n3 3\n");
    end_for(log, 0, 0, 3);   /* ends where epoch 3 begins */
    end_for(log, 1, 0, 3);   /* unknown epoch 1: the largest before it, and the next start */
    end_for(log, 3, 3, 5);   /* current */
    end_for(log, 4, -1, -1); /* above every epoch */
    end_for(log, -1, -1, -1);
    end_for(log, -5, -5, 0); /* Kafka: below every epoch, the first start */
    CHECK_EQ(storage_log_epoch_assign(log, 2, 5), 0); /* older than the latest: ignored */
    CHECK_EQ(storage_log_epoch_latest(log), 3);
    storage_log_close(log);
    log = open_on(sim); /* kept across restarts */
    REQUIRE(log);
    CHECK_EQ(storage_log_epoch_latest(log), 3);
    end_for(log, 1, 0, 3);
    storage_log_close(log);
    storage_io_sim_free(sim);
}

TEST(entries_follow_the_log_start)
{
    storage_io_sim_t *sim = sim_new(2);
    storage_log_t *log = open_on(sim);
    REQUIRE(log);
    storage_log_epoch_assign(log, 0, 0);
    for (int i = 0; i < 4; i++)
        append_epoch(log, 0);
    storage_log_epoch_assign(log, 3, 4);
    for (int i = 0; i < 4; i++)
        append_epoch(log, 3);
    CHECK_EQ(storage_log_delete_records(log, 2), 0);
    char text[256];
    file_text(sim, text, sizeof(text));
    CHECK_STR(text, "0\n2\n0 2\n3 4\n"); /* epoch 0 now begins at the new log start */
    CHECK_EQ(storage_log_delete_records(log, 6), 0);
    file_text(sim, text, sizeof(text));
    CHECK_STR(text, "0\n1\n3 6\n");
    end_for(log, 0, 0, 6); /* below every epoch: Kafka answers the first epoch's start */
    storage_log_close(log);
    storage_io_sim_free(sim);
}

TEST(missing_or_damaged_file_rebuilt_from_the_first_batch)
{
    storage_io_sim_t *sim = sim_new(3);
    storage_log_t *log = open_on(sim);
    REQUIRE(log);
    append_epoch(log, 0);
    append_epoch(log, 0);
    storage_log_close(log);
    storage_io_t *io = storage_io_sim_io(sim);
    int fd;
    REQUIRE(io->ops->open(io, "/data/t-0/leader-epoch-checkpoint", O_CREAT | O_RDWR | O_TRUNC,
                          &fd) == 0);
    io->ops->pwrite(io, fd, "0\n2\n5 0\n4 1\n", 12, 0); /* epochs must increase */
    io->ops->close(io, fd);
    log = open_on(sim);
    REQUIRE(log);
    char text[256];
    file_text(sim, text, sizeof(text));
    CHECK_STR(text, "0\n1\n0 0\n");
    CHECK_EQ(storage_log_epoch_latest(log), 0);
    storage_log_close(log);
    storage_io_sim_free(sim);
}

/* A rewrite interrupted by a crash after each of its mutating steps (and with the seed's
 * choice of what unsynced writes survive) leaves the old entries or the new ones. */
TEST(crash_at_every_step_leaves_old_or_new)
{
    int saw_old = 0, saw_new = 0;
    for (int seed = 1; seed <= 8; seed++) {
        for (int64_t k = 0; k < 12; k++) {
            storage_io_sim_t *sim = sim_new((uint64_t)seed * 100 + (uint64_t)k);
            storage_log_t *log = open_on(sim);
            REQUIRE(log);
            storage_log_epoch_assign(log, 0, 0);
            append_epoch(log, 0);
            REQUIRE(storage_log_flush(log) == 0);
            storage_io_sim_crash_after(sim, k);
            storage_log_epoch_assign(log, 4, 1);
            storage_log_abandon(log);
            storage_io_sim_crash(sim);
            log = open_on(sim);
            REQUIRE(log);
            char text[256];
            file_text(sim, text, sizeof(text));
            bool old = strcmp(text, "0\n1\n0 0\n") == 0,
                 neu = strcmp(text, "0\n2\n0 0\n4 1\n") == 0;
            if (!old && !neu)
                fprintf(stderr, "  seed %d step %lld: %s\n", seed, (long long)k, text);
            CHECK(old || neu);
            saw_old += old;
            saw_new += neu;
            int32_t latest = storage_log_epoch_latest(log);
            CHECK(latest == (neu ? 4 : 0));
            storage_log_close(log);
            storage_io_sim_free(sim);
        }
    }
    CHECK(saw_old > 0 && saw_new > 0);
}

TEST_MAIN()
