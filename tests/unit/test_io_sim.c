/* Unit tests of the simulated disk: it must behave like a file system while nothing crashes,
 * keep exactly what was synced across a crash, and do every kind of damage to what was not
 * (dropped, torn, zero-filled, garbage, reordered writes; lost directory entries), decided by
 * the seed. Plus the real I/O implementation's basics, on a temporary directory. */
#include "test.h"
#include "test_log_util.h"

static storage_io_t *io_of(storage_io_sim_t *s)
{
    return storage_io_sim_io(s);
}

static int sim_read_all(storage_io_t *io, const char *path, uint8_t *buf, size_t cap, size_t *n)
{
    int fd;
    int rc = io->ops->open(io, path, O_RDONLY, &fd);
    if (rc)
        return rc;
    rc = io->ops->pread(io, fd, buf, cap, 0, n);
    io->ops->close(io, fd);
    return rc;
}

TEST(behaves_like_a_file_system)
{
    storage_io_sim_t *s = storage_io_sim_new(1);
    storage_io_t *io = io_of(s);
    int fd, fd2;
    CHECK_EQ(io->ops->open(io, "/d/f", O_CREAT | O_RDWR, &fd), -WEIR_ENOENT); /* no dir yet */
    CHECK_EQ(io->ops->mkdir(io, "/d"), 0);
    CHECK_EQ(io->ops->mkdir(io, "/d"), -WEIR_EEXIST);
    CHECK_EQ(io->ops->open(io, "/d/f", O_RDWR, &fd), -WEIR_ENOENT);
    CHECK_EQ(io->ops->open(io, "/d/f", O_CREAT | O_RDWR, &fd), 0);
    CHECK_EQ(io->ops->open(io, "/d/f", O_CREAT | O_EXCL | O_RDWR, &fd2), -WEIR_EEXIST);
    CHECK_EQ(io->ops->pwrite(io, fd, "hello", 5, 0), 0);
    CHECK_EQ(io->ops->pwrite(io, fd, "XY", 2, 10), 0); /* a hole reads as zeros */
    uint64_t size;
    CHECK_EQ(io->ops->fsize(io, fd, &size), 0);
    CHECK_EQ(size, 12);
    uint8_t buf[32];
    size_t got;
    CHECK_EQ(io->ops->pread(io, fd, buf, sizeof(buf), 0, &got), 0);
    CHECK_EQ(got, 12);
    CHECK_MEM(buf, "hello\0\0\0\0\0XY", 12);
    CHECK_EQ(io->ops->pread(io, fd, buf, 4, 100, &got), 0);
    CHECK_EQ(got, 0);
    CHECK_EQ(io->ops->ftruncate(io, fd, 3), 0);
    CHECK_EQ(io->ops->fsize(io, fd, &size), 0);
    CHECK_EQ(size, 3);
    CHECK(io->ops->exists(io, "/d/f"));
    CHECK_EQ(io->ops->rename(io, "/d/f", "/d/g"), 0);
    CHECK(!io->ops->exists(io, "/d/f"));
    CHECK(io->ops->exists(io, "/d/g"));
    /* The fd follows the file across the rename, and after an unlink. */
    CHECK_EQ(io->ops->unlink(io, "/d/g"), 0);
    CHECK_EQ(io->ops->pread(io, fd, buf, sizeof(buf), 0, &got), 0);
    CHECK_EQ(got, 3);
    CHECK_EQ(io->ops->close(io, fd), 0);
    CHECK_EQ(io->ops->close(io, fd), -WEIR_EINVAL);
    CHECK_EQ(io->ops->open(io, "/d/a", O_CREAT | O_RDWR, &fd), 0);
    io->ops->close(io, fd);
    CHECK_EQ(io->ops->rmdir(io, "/d"), -WEIR_EEXIST); /* not empty */
    CHECK_EQ(io->ops->unlink(io, "/d/a"), 0);
    CHECK_EQ(io->ops->rmdir(io, "/d"), 0);
    CHECK(!io->ops->exists(io, "/d"));
    storage_io_sim_free(s);
}

/* Writes a synced prefix and an unsynced suffix; crashes; reports what is left. */
static size_t crash_once(uint64_t seed, uint8_t *out, size_t cap, bool *exists)
{
    storage_io_sim_t *s = storage_io_sim_new(seed);
    storage_io_t *io = io_of(s);
    io->ops->mkdir(io, "/d");
    io->ops->fsync_dir(io, "/");
    int fd;
    io->ops->open(io, "/d/f", O_CREAT | O_RDWR, &fd);
    io->ops->fsync_dir(io, "/d");
    uint8_t a[1000], b[1000];
    memset(a, 'a', sizeof(a));
    memset(b, 'b', sizeof(b));
    io->ops->pwrite(io, fd, a, sizeof(a), 0);
    io->ops->fdatasync(io, fd);
    for (int i = 0; i < 4; i++)
        io->ops->pwrite(io, fd, b, 250, 1000 + 250 * (uint64_t)i);
    storage_io_sim_crash(s);
    size_t n = 0;
    *exists = io->ops->exists(io, "/d/f");
    if (*exists)
        sim_read_all(io, "/d/f", out, cap, &n);
    CHECK_EQ(io->ops->close(io, fd), -WEIR_EINVAL); /* fds die with the process */
    storage_io_sim_free(s);
    return n;
}

TEST(crash_keeps_synced_and_damages_the_rest)
{
    int whole = 0, none = 0, torn = 0, zeros = 0, garbage = 0, holes = 0;
    uint8_t buf[4096];
    for (uint64_t seed = 1; seed <= 400; seed++) {
        bool exists;
        size_t n = crash_once(seed, buf, sizeof(buf), &exists);
        REQUIRE(exists);
        REQUIRE(n >= 1000 && n <= 2000);
        for (int i = 0; i < 1000; i++)
            REQUIRE(buf[i] == 'a'); /* what was synced survives, always */
        bool all_b = true, any_zero = false, any_other = false, zero_then_b = false;
        for (size_t i = 1000; i < n; i++) {
            all_b = all_b && buf[i] == 'b';
            any_zero = any_zero || buf[i] == 0;
            any_other = any_other || (buf[i] != 0 && buf[i] != 'b');
            if (buf[i] == 'b' && buf[i - 1] == 0)
                zero_then_b = true;
        }
        whole += n == 2000 && all_b;
        none += n == 1000;
        torn += n > 1000 && n < 2000;
        zeros += any_zero;
        garbage += any_other;
        holes += zero_then_b; /* a later write survived an earlier one: reordering */
    }
    fprintf(stderr,
            "  400 crashes: %d whole, %d nothing, %d torn, %d with zeros, %d garbage, "
            "%d reordered\n",
            whole, none, torn, zeros, garbage, holes);
    CHECK(whole > 0);
    CHECK(none > 0);
    CHECK(torn > 0);
    CHECK(zeros > 0);
    CHECK(garbage > 0);
    CHECK(holes > 0);
    /* The same seed does the same damage. */
    uint8_t b1[4096], b2[4096];
    bool e1, e2;
    size_t n1 = crash_once(77, b1, sizeof(b1), &e1), n2 = crash_once(77, b2, sizeof(b2), &e2);
    CHECK_EQ(n1, n2);
    CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
}

TEST(directory_entries_need_fsync_dir)
{
    int lost = 0, kept = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        storage_io_sim_t *s = storage_io_sim_new(seed);
        storage_io_t *io = io_of(s);
        io->ops->mkdir(io, "/d");
        io->ops->fsync_dir(io, "/");
        int fd;
        io->ops->open(io, "/d/synced", O_CREAT | O_RDWR, &fd);
        io->ops->pwrite(io, fd, "x", 1, 0);
        io->ops->fdatasync(io, fd);
        io->ops->close(io, fd);
        io->ops->fsync_dir(io, "/d");
        /* Data synced, entry not: the file may vanish with its data. */
        io->ops->open(io, "/d/unsynced", O_CREAT | O_RDWR, &fd);
        io->ops->pwrite(io, fd, "y", 1, 0);
        io->ops->fdatasync(io, fd);
        io->ops->close(io, fd);
        /* An unsynced rename: either name, never both, never neither. */
        io->ops->rename(io, "/d/synced", "/d/renamed");
        storage_io_sim_crash(s);
        CHECK(io->ops->exists(io, "/d/synced") != io->ops->exists(io, "/d/renamed"));
        if (io->ops->exists(io, "/d/unsynced"))
            kept++;
        else
            lost++;
        storage_io_sim_free(s);
    }
    CHECK(lost > 0);
    CHECK(kept > 0);
}

TEST(fsync_dir_makes_entries_durable)
{
    for (uint64_t seed = 1; seed <= 100; seed++) {
        storage_io_sim_t *s = storage_io_sim_new(seed);
        storage_io_t *io = io_of(s);
        io->ops->mkdir(io, "/d");
        io->ops->fsync_dir(io, "/");
        int fd;
        io->ops->open(io, "/d/a", O_CREAT | O_RDWR, &fd);
        io->ops->close(io, fd);
        io->ops->open(io, "/d/b", O_CREAT | O_RDWR, &fd);
        io->ops->close(io, fd);
        io->ops->rename(io, "/d/a", "/d/c");
        io->ops->unlink(io, "/d/b");
        io->ops->fsync_dir(io, "/d");
        storage_io_sim_crash(s);
        CHECK(!io->ops->exists(io, "/d/a"));
        CHECK(!io->ops->exists(io, "/d/b"));
        CHECK(io->ops->exists(io, "/d/c"));
        storage_io_sim_free(s);
    }
}

static int count_name(const char *name, void *arg)
{
    (void)name;
    (*(int *)arg)++;
    return 0;
}

TEST(list_and_exists)
{
    storage_io_sim_t *s = storage_io_sim_new(3);
    storage_io_t *io = io_of(s);
    io->ops->mkdir(io, "/d");
    io->ops->mkdir(io, "/d/sub");
    for (int i = 0; i < 5; i++) {
        char p[32];
        snprintf(p, sizeof(p), "/d/f%d", i);
        int fd;
        io->ops->open(io, p, O_CREAT | O_RDWR, &fd);
        io->ops->close(io, fd);
    }
    int n = 0;
    CHECK_EQ(io->ops->list(io, "/d", count_name, &n), 0);
    CHECK_EQ(n, 6); /* five files and the subdirectory, not its contents */
    n = 0;
    CHECK_EQ(io->ops->list(io, "/nope", count_name, &n), -WEIR_ENOENT);
    storage_io_sim_free(s);
}

TEST(injected_sync_failure)
{
    storage_io_sim_t *s = storage_io_sim_new(5);
    storage_io_t *io = io_of(s);
    io->ops->mkdir(io, "/d");
    int fd;
    io->ops->open(io, "/d/f", O_CREAT | O_RDWR, &fd);
    storage_io_sim_fail_sync(s, 2);
    CHECK_EQ(io->ops->fdatasync(io, fd), 0);
    CHECK_EQ(io->ops->fdatasync(io, fd), 0);
    CHECK_EQ(io->ops->fdatasync(io, fd), -WEIR_EIO);
    CHECK_EQ(io->ops->fdatasync(io, fd), 0); /* one failure, then it is disarmed */
    CHECK_EQ(storage_io_sim_sync_count(s), 3);
    storage_io_sim_free(s);
}

TEST(crash_after_freezes_the_disk)
{
    storage_io_sim_t *s = storage_io_sim_new(9);
    storage_io_t *io = io_of(s);
    io->ops->mkdir(io, "/d");
    io->ops->fsync_dir(io, "/");
    int fd;
    io->ops->open(io, "/d/f", O_CREAT | O_RDWR, &fd);
    io->ops->fsync_dir(io, "/d");
    storage_io_sim_crash_after(s, 2);
    CHECK_EQ(io->ops->pwrite(io, fd, "1", 1, 0), 0);
    CHECK_EQ(io->ops->fdatasync(io, fd), 0);
    CHECK(!storage_io_sim_frozen(s));
    CHECK_EQ(io->ops->pwrite(io, fd, "2", 1, 1), -WEIR_EIO); /* dead from here on */
    CHECK(storage_io_sim_frozen(s));
    CHECK_EQ(io->ops->fdatasync(io, fd), -WEIR_EIO);
    CHECK_EQ(io->ops->rename(io, "/d/f", "/d/g"), -WEIR_EIO);
    storage_io_sim_crash(s);
    CHECK(!storage_io_sim_frozen(s));
    uint8_t buf[8];
    size_t n;
    CHECK_EQ(sim_read_all(io, "/d/f", buf, sizeof(buf), &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(buf[0], '1');
    storage_io_sim_free(s);
}

TEST(real_io_basics)
{
    char *dir = tl_tmpdir();
    storage_io_t *io = storage_io_real();
    char p[600], q[600];
    snprintf(p, sizeof(p), "%s/sub", dir);
    CHECK_EQ(io->ops->mkdir(io, p), 0);
    CHECK_EQ(io->ops->mkdir(io, p), -WEIR_EEXIST);
    snprintf(p, sizeof(p), "%s/sub/f", dir);
    int fd;
    CHECK_EQ(io->ops->open(io, p, O_RDWR, &fd), -WEIR_ENOENT);
    CHECK_EQ(io->ops->open(io, p, O_CREAT | O_RDWR, &fd), 0);
    CHECK_EQ(io->ops->pwrite(io, fd, "abcdef", 6, 0), 0);
    CHECK_EQ(io->ops->fdatasync(io, fd), 0);
    uint64_t size;
    CHECK_EQ(io->ops->fsize(io, fd, &size), 0);
    CHECK_EQ(size, 6);
    uint8_t buf[16];
    size_t got;
    CHECK_EQ(io->ops->pread(io, fd, buf, sizeof(buf), 2, &got), 0);
    CHECK_EQ(got, 4);
    CHECK_MEM(buf, "cdef", 4);
    CHECK_EQ(io->ops->ftruncate(io, fd, 2), 0);
    CHECK_EQ(io->ops->close(io, fd), 0);
    snprintf(q, sizeof(q), "%s/sub/g", dir);
    CHECK_EQ(io->ops->rename(io, p, q), 0);
    CHECK(!io->ops->exists(io, p));
    CHECK(io->ops->exists(io, q));
    snprintf(p, sizeof(p), "%s/sub", dir);
    CHECK_EQ(io->ops->fsync_dir(io, p), 0);
    int n = 0;
    CHECK_EQ(io->ops->list(io, p, count_name, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(io->ops->unlink(io, q), 0);
    CHECK_EQ(io->ops->unlink(io, q), -WEIR_ENOENT);
    CHECK_EQ(io->ops->rmdir(io, p), 0);
    tl_rmrf(dir);
}

/* A full disk: every write fails with WEIR_ENOSPC, and the log gets one line naming the file,
 * not one per write. /dev/full answers every write with ENOSPC. */
TEST(real_io_full_disk_logs_once)
{
    storage_io_t *io = storage_io_real();
    int fd;
    CHECK_EQ(io->ops->open(io, "/dev/full", O_WRONLY, &fd), 0);
    test_stderr_begin();
    int enospc = 0;
    for (int i = 0; i < 500; i++)
        enospc += io->ops->pwrite(io, fd, "x", 1, 0) == -WEIR_ENOSPC;
    char *text = test_stderr_end();
    CHECK_EQ(enospc, 500);
    CHECK_EQ(test_count_of(text, "ERROR storage: pwrite /dev/full: No space left on device\n"), 1);
    CHECK_EQ(test_count_of(text, "\n"), 1);
    CHECK_EQ(io->ops->close(io, fd), 0);
    free(text);
}

TEST_MAIN()
