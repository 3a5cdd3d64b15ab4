/*
 * bench_limits: the machine's own limits, measured in the same run as the brokers so every
 * broker figure can be read as a fraction of what the hardware gave at that moment.
 *
 *   bench_limits write_nosync    --dir D [--mib N] [--seconds S]   1 MiB write() loop, no sync
 *   bench_limits write_fdatasync --dir D [--mib N] [--seconds S]   1 MiB write() + fdatasync
 *   bench_limits loopback        [--seconds S] [--chunk-kib K]     one TCP stream on 127.0.0.1
 *   bench_limits rtt             [--seconds S] [--msg-bytes B]     TCP ping-pong on 127.0.0.1
 *   bench_limits memory          [--mib N]                        first touch of fresh memory
 *
 * Each prints one RESULT line (see bench_common.h) where a "message" is one chunk, so mb_per_s is
 * the bandwidth in 1e6 bytes/s. The write tests use a fresh file in D (the directory the brokers
 * use, so the same filesystem) and delete it; write_nosync also reports the rate including one
 * fdatasync at the end ("with_final_sync_mb_per_s"), since a buffered loop alone measures the
 * page cache more than the disk. write_nosync writes its bytes once untimed and truncates the
 * file first, so the timed pass reuses page-cache pages instead of paying the first touch of
 * fresh memory (which `memory` measures on its own). Every loop stops at its byte count or its
 * deadline, whichever comes first. rtt is the floor under every latency_ack row: two processes (a
 * client and an echo server, like a client and a broker) pass one message back and forth over
 * blocking sockets with TCP_NODELAY, one in flight; it reports the round trip's p50/p99/p99.9.
 * memory maps N MiB of anonymous memory and writes it twice, 1 MiB at a time: the first pass
 * is what every byte costs that lands in a page the process (or the page cache) has not used
 * yet, the second ("retouch_mb_per_s") plain memory bandwidth. On a VM whose host backs guest
 * memory lazily the first pass can be several times slower, and it is the ceiling of any
 * sustained write into a growing page cache.
 */
#include "bench_common.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static int write_test(const bench_args_t *a, bool sync_each)
{
    const char *dir = bench_arg_str(a, "--dir", NULL);
    if (!dir)
        bench_die("--dir is required");
    int64_t mib = bench_arg_i64(a, "--mib", sync_each ? 512 : 1024);
    double secs_max = bench_arg_f64(a, "--seconds", 4.0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/bench-limits-%d.tmp", dir, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        bench_die("open %s: %s", path, strerror(errno));
    uint8_t *chunk = bench_xmalloc(CHUNK);
    bench_payload_init(chunk, CHUNK);
    if (!sync_each) { /* an untimed pass first: the timed one then gets recycled pages */
        for (int64_t i = 0; i < mib; i++)
            if (write(fd, chunk, CHUNK) != CHUNK)
                break;
        if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
            bench_die("truncate %s: %s", path, strerror(errno));
    }

    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(secs_max * 1e9), n = 0, errors = 0;
    bool capped = false;
    for (; n < mib; n++) {
        if (bench_now_ns() > deadline) {
            capped = true;
            break;
        }
        if (write(fd, chunk, CHUNK) != CHUNK || (sync_each && fdatasync(fd) != 0)) {
            errors++;
            break;
        }
    }
    int64_t t1 = bench_now_ns();
    if (fdatasync(fd) != 0)
        errors++;
    int64_t t2 = bench_now_ns();
    close(fd);
    unlink(path);
    free(chunk);

    char extra[128];
    snprintf(extra, sizeof(extra), "\"with_final_sync_mb_per_s\":%.1f",
             (double)n * CHUNK / ((double)(t2 - t0) / 1e9) / 1e6);
    bench_result_t r = {
        .workload = sync_each ? "write_fdatasync" : "write_nosync",
        .config = sync_each ? "1 MiB write + fdatasync each" : "1 MiB buffered writes, no sync",
        .expected = mib,
        .msgs = n,
        .errors = errors,
        .msg_bytes = CHUNK,
        .partitions = 1,
        .secs = (double)(t1 - t0) / 1e9,
        .capped = capped,
        .extra = extra,
    };
    bench_result_print(&r);
    return bench_result_status(&r);
}

typedef struct {
    int listen_fd;
    size_t chunk;
    int64_t bytes;
} sink_t;

static void *sink_main(void *arg)
{
    sink_t *s = arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    uint8_t *buf = bench_xmalloc(s->chunk);
    ssize_t got;
    while ((got = read(fd, buf, s->chunk)) > 0)
        s->bytes += got;
    free(buf);
    close(fd);
    return NULL;
}

static int loopback_test(const bench_args_t *a)
{
    double secs_max = bench_arg_f64(a, "--seconds", 3.0);
    size_t chunk = (size_t)bench_arg_i64(a, "--chunk-kib", 128) * 1024;
    if (chunk < 1024 || chunk > CHUNK * 16)
        bench_die("--chunk-kib out of range");

    sink_t s = {.chunk = chunk};
    s.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    if (s.listen_fd < 0 || bind(s.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(s.listen_fd, 1) != 0 || getsockname(s.listen_fd, (struct sockaddr *)&sa, &slen) != 0)
        bench_die("listen on 127.0.0.1:0: %s", strerror(errno));
    pthread_t th;
    pthread_create(&th, NULL, sink_main, &s);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        bench_die("connect: %s", strerror(errno));
    uint8_t *buf = bench_xmalloc(chunk);
    bench_payload_init(buf, chunk);
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(secs_max * 1e9), sent = 0;
    int64_t errors = 0;
    while (bench_now_ns() < deadline) {
        ssize_t w = write(fd, buf, chunk);
        if (w <= 0) {
            errors++;
            break;
        }
        sent += w;
    }
    close(fd);
    pthread_join(th, NULL);
    int64_t t1 = bench_now_ns();
    close(s.listen_fd);
    free(buf);
    if (s.bytes != sent)
        errors++;

    char config[96];
    snprintf(config, sizeof(config), "one TCP stream on 127.0.0.1, %zu KiB writes", chunk / 1024);
    bench_result_t r = {
        .workload = "loopback",
        .config = config,
        .expected = s.bytes / (int64_t)chunk,
        .msgs = s.bytes / (int64_t)chunk,
        .errors = errors,
        .msg_bytes = (int64_t)chunk,
        .partitions = 1,
        .secs = (double)(t1 - t0) / 1e9,
    };
    bench_result_print(&r);
    return bench_result_status(&r);
}

static bool read_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static int rtt_test(const bench_args_t *a)
{
    double secs = bench_arg_f64(a, "--seconds", 3.0);
    size_t n = (size_t)bench_arg_i64(a, "--msg-bytes", 100);
    if (n < 1 || n > CHUNK)
        bench_die("--msg-bytes out of range");
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &slen) != 0)
        bench_die("listen on 127.0.0.1:0: %s", strerror(errno));
    uint8_t *buf = bench_xmalloc(n);
    bench_payload_init(buf, n);
    pid_t echo = fork();
    if (echo < 0)
        bench_die("fork: %s", strerror(errno));
    if (echo == 0) { /* the echo server: answers each message with itself */
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            _exit(1);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        while (read_exact(c, buf, n))
            if (write(c, buf, n) != (ssize_t)n)
                _exit(1);
        _exit(0);
    }
    close(lfd);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        bench_die("connect: %s", strerror(errno));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    bench_lat_t lat = {0};
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(secs * 1e9), count = 0, errors = 0;
    while (bench_now_ns() < deadline) {
        int64_t t = bench_now_ns();
        if (write(fd, buf, n) != (ssize_t)n || !read_exact(fd, buf, n)) {
            errors++;
            break;
        }
        bench_lat_add(&lat, bench_now_ns() - t);
        count++;
    }
    int64_t t1 = bench_now_ns();
    close(fd);
    int status;
    waitpid(echo, &status, 0);
    free(buf);
    char config[96];
    snprintf(config, sizeof(config), "TCP ping-pong on 127.0.0.1, two processes, %zu B", n);
    bench_result_t r = {.workload = "rtt",
                        .config = config,
                        .expected = count,
                        .msgs = count,
                        .errors = errors,
                        .msg_bytes = (int64_t)n,
                        .partitions = 1,
                        .secs = (double)(t1 - t0) / 1e9,
                        .lat = &lat};
    bench_result_print(&r);
    bench_lat_free(&lat);
    return bench_result_status(&r);
}

static int memory_test(const bench_args_t *a)
{
    int64_t mib = bench_arg_i64(a, "--mib", 2048);
    size_t len = (size_t)mib * CHUNK;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap %" PRId64 " MiB: %s", mib, strerror(errno));
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < mib; i++)
        memset(p + (size_t)i * CHUNK, 1, CHUNK);
    int64_t t1 = bench_now_ns();
    for (int64_t i = 0; i < mib; i++)
        memset(p + (size_t)i * CHUNK, 2, CHUNK);
    int64_t t2 = bench_now_ns();
    uint8_t check = p[len - 1]; /* keeps the second pass from being optimised away */
    munmap(p, len);
    char extra[96];
    snprintf(extra, sizeof(extra), "\"retouch_mb_per_s\":%.1f",
             (double)len / ((double)(t2 - t1) / 1e9) / 1e6);
    bench_result_t r = {.workload = "memory",
                        .config = "anonymous memory, first touch, 1 MiB memsets",
                        .expected = mib,
                        .msgs = mib,
                        .errors = check != 2,
                        .msg_bytes = CHUNK,
                        .partitions = 1,
                        .secs = (double)(t1 - t0) / 1e9,
                        .extra = extra};
    bench_result_print(&r);
    return bench_result_status(&r);
}

int main(int argc, char **argv)
{
    static const char *const known[] = {"--dir",       "--mib",       "--seconds",
                                        "--chunk-kib", "--msg-bytes", NULL};
    bench_args_t a = {argc, argv};
    if (argc < 2)
        bench_die(
            "usage: bench_limits write_nosync|write_fdatasync|loopback|rtt|memory [--options]");
    bench_args_check(&a, known);
    if (strcmp(argv[1], "write_nosync") == 0)
        return write_test(&a, false);
    if (strcmp(argv[1], "write_fdatasync") == 0)
        return write_test(&a, true);
    if (strcmp(argv[1], "loopback") == 0)
        return loopback_test(&a);
    if (strcmp(argv[1], "rtt") == 0)
        return rtt_test(&a);
    if (strcmp(argv[1], "memory") == 0)
        return memory_test(&a);
    bench_die("unknown workload %s", argv[1]);
}
