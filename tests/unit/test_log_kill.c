/* Real process crashes. Each round forks a driver that opens the log on real files (recovering
 * whatever the last round left), attaches the group-commit flusher and appends batches as fast
 * as it can, rolling segments and running retention; every durability callback writes the
 * durable end offset to a pipe. The parent kills the driver with SIGKILL at a random moment
 * (sometimes while it is still recovering), reopens the log itself and checks that everything
 * reported durable is there, byte for byte, with dense offsets and every CRC good, and that
 * nothing that was never appended appears.
 *
 * A batch's content is a function of its base offset, so the parent can regenerate what must be
 * at any offset. SIGKILL tests process crashes (the page cache survives); power loss is the
 * simulated disk's job (tests/sim). */
#include "test.h"
#include "test_log_util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

enum { ROUNDS = 50 };

static void batch_for(buf_t *b, int64_t base)
{
    int n = 1 + (int)(base % 4);
    int vlen = 50 + (int)(base % 700);
    tl_batch(b, n, -1, vlen, base, (uint64_t)base);
    be64_write(b->data, (uint64_t)base);
}

static void cfg_kill(storage_log_config_t *cfg)
{
    storage_log_config_default(cfg);
    cfg->segment_bytes = 48 * 1024;
    cfg->preallocate_bytes = 4096; /* zero tails to cut after a kill, trims at every roll */
    cfg->retention_bytes = 400 * 1024;
    cfg->retention_ms = -1;
    cfg->index_interval_bytes = 1024;
    cfg->recovery_checkpoint_ms = 5;
}

static int report_fd = -1;

static void child_durable(void *arg, int err)
{
    int64_t end = (int64_t)(intptr_t)arg;
    if (err == 0) {
        ssize_t w = write(report_fd, &end, sizeof(end));
        (void)w;
    }
}

static void child_main(const char *dir, int fd)
{
    report_fd = fd;
    log_set_level(LOG_ERROR);
    storage_log_config_t cfg;
    cfg_kill(&cfg);
    storage_log_t *log;
    if (storage_log_open(storage_io_real(), dir, &cfg, &log) != 0)
        _exit(3);
    storage_flusher_t *f;
    if (storage_flusher_start(&f, 1000) != 0)
        _exit(4);
    storage_flusher_attach(f, log);
    buf_t b;
    buf_init(&b);
    for (int i = 0;; i++) {
        int64_t end = storage_log_end_offset(log);
        buf_reset(&b);
        batch_for(&b, end);
        int64_t base;
        if (storage_log_append(log, b.data, b.len, &base) != 0 || base != end)
            _exit(5);
        int n = 1 + (int)(base % 4);
        storage_log_on_durable(log, base + n, child_durable, (void *)(intptr_t)(base + n));
        if (i % 64 == 63)
            storage_log_maintain(log, clock_wall_ms());
        if (i % 8 == 7) {
            /* Now and then wait a little, so kills also land while syncs are in flight. */
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
}

/* Reads reports until the deadline; returns the largest durable end offset seen. */
static int64_t collect(int fd, int64_t deadline_ms, int64_t best)
{
    for (;;) {
        int64_t left = deadline_ms - clock_mono_ms();
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, deadline_ms < 0 ? 1000 : (int)WEIR_MAX(left, 0));
        if (r <= 0)
            return best;
        int64_t v[256];
        ssize_t n = read(fd, v, sizeof(v));
        if (n <= 0)
            return best; /* EOF: the child is gone */
        for (size_t i = 0; i < (size_t)n / sizeof(int64_t); i++)
            best = WEIR_MAX(best, v[i]);
        if (deadline_ms >= 0 && left <= 0)
            return best;
    }
}

/* Everything from the start offset on is what was appended there; returns the end. */
static int64_t verify(const char *dir, int64_t durable, int *failures)
{
    storage_log_config_t cfg;
    cfg_kill(&cfg);
    storage_log_t *log;
    int rc = storage_log_open(storage_io_real(), dir, &cfg, &log);
    if (rc) {
        fprintf(stderr, "  reopen failed: %s\n", weir_strerror(rc));
        (*failures)++;
        return -1;
    }
    int64_t start = storage_log_start_offset(log), end = storage_log_end_offset(log);
    if (end < durable) {
        fprintf(stderr, "  end %lld below the reported durable end %lld\n", (long long)end,
                (long long)durable);
        (*failures)++;
    }
    buf_t all, want;
    buf_init(&all);
    buf_init(&want);
    int64_t n = tl_read_all(log, &all);
    if (n < 0) {
        fprintf(stderr, "  read back: %s\n", weir_strerror((int)n));
        (*failures)++;
    }
    int64_t off = -1;
    for (size_t pos = 0; n >= 0 && pos < all.len;) {
        storage_batch_header_t h;
        size_t t;
        if (storage_batch_header_read(all.data + pos, all.len - pos, &h, &t) != 0)
            break;
        if (off >= 0 && h.base_offset != off) {
            fprintf(stderr, "  gap: batch at %lld after %lld\n", (long long)h.base_offset,
                    (long long)off);
            (*failures)++;
            break;
        }
        if (off < 0 && !(h.base_offset <= start && start <= h.base_offset + h.last_offset_delta)) {
            fprintf(stderr, "  first batch %lld does not hold the start %lld\n",
                    (long long)h.base_offset, (long long)start);
            (*failures)++;
        }
        buf_reset(&want);
        batch_for(&want, h.base_offset);
        if (want.len != t || memcmp(want.data, all.data + pos, t) != 0) {
            fprintf(stderr, "  batch at %lld is not what was appended there\n",
                    (long long)h.base_offset);
            (*failures)++;
            break;
        }
        off = h.base_offset + h.last_offset_delta + 1;
        pos += t;
    }
    if (n >= 0 && off != -1 && off != end) {
        fprintf(stderr, "  read back ends at %lld, the log at %lld\n", (long long)off,
                (long long)end);
        (*failures)++;
    }
    buf_deinit(&all);
    buf_deinit(&want);
    storage_log_close(log);
    return end;
}

TEST(sigkill_rounds)
{
    char *tmp = tl_tmpdir();
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/events-0", tmp);
    uint64_t rng = (uint64_t)clock_mono_ns() | 1;
    int failures = 0, killed_during_work = 0;
    int64_t durable = 0, end = 0;
    for (int round = 0; round < ROUNDS && failures == 0; round++) {
        int p[2];
        REQUIRE(pipe(p) == 0);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_main(dir, p[1]);
            _exit(0);
        }
        close(p[1]);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int64_t wait_ms = (int64_t)(rng % 150); /* small: often still recovering */
        int64_t got = collect(p[0], clock_mono_ms() + wait_ms, durable);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        got = collect(p[0], -1, got); /* reports written before it died */
        close(p[0]);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            fprintf(stderr, "  round %d: the driver exited on its own (status %d)\n", round,
                    status);
            failures++;
        }
        killed_during_work += got > durable;
        durable = WEIR_MAX(durable, got);
        end = verify(dir, durable, &failures);
        if (failures)
            fprintf(stderr, "  round %d failed (durable %lld)\n", round, (long long)durable);
        durable = WEIR_MAX(durable, end); /* the reopen synced what it found */
    }
    fprintf(stderr, "  %d rounds, %d killed mid-append, log end %lld\n", ROUNDS, killed_during_work,
            (long long)end);
    CHECK_EQ(failures, 0);
    CHECK(killed_during_work > ROUNDS / 3);
    tl_rmrf(tmp);
}

TEST_MAIN()
