/* bench_net: the net layer alone, on 127.0.0.1, client and server in one process.
 *
 *   requests/s of an echo server (100-byte frames) with 1 and 8 clients, each pipelining a
 *   window of `depth` requests, over 1 and 2 server loops;
 *   RSS per idle connection with 1,000 idle connections (each after one round trip).
 *
 * Usage: bench_net [seconds_per_run=2] [depth=32]. Prints one line per measurement. The echo
 * handler answers at once on the loop thread, so this measures framing, slots, writev and the
 * loop, not the broker. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_BYTES 100

static void echo_frame(net_conn_t *conn, net_slot_t *slot, uint8_t *frame, size_t len, void *user)
{
    buf_t r = {0};
    buf_reserve(&r, 4 + len);
    buf_append_be32(&r, (uint32_t)len);
    buf_append(&r, frame, len);
    net_slot_complete(slot, &r);
}

typedef struct {
    net_loop_t *loops[2];
    pthread_t th[2];
    size_t n;
    net_listener_t *lst;
    uint16_t port;
} server_t;

static void *loop_main(void *arg)
{
    net_loop_run(arg);
    return NULL;
}

static void server_start(server_t *s, size_t n)
{
    memset(s, 0, sizeof(*s));
    s->n = n;
    for (size_t i = 0; i < n; i++)
        WEIR_ASSERT(net_loop_new(&s->loops[i]) == 0);
    net_conn_handler_t h = {.on_frame = echo_frame};
    net_conn_limits_default(&h.limits);
    WEIR_ASSERT(net_listener_open(s->loops[0], s->loops, n, "127.0.0.1", 0, &h, 0, &s->lst) == 0);
    s->port = net_listener_port(s->lst);
    for (size_t i = 0; i < n; i++)
        pthread_create(&s->th[i], NULL, loop_main, s->loops[i]);
}

static void server_stop(server_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        net_loop_stop(s->loops[i]);
    for (size_t i = 0; i < s->n; i++)
        pthread_join(s->th[i], NULL);
    net_listener_close(s->lst);
    for (size_t i = 0; i < s->n; i++)
        net_loop_free(s->loops[i]);
}

static int cli_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WEIR_ASSERT(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int io_all(int fd, void *p, size_t n, bool wr)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = wr ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

typedef struct {
    uint16_t port;
    int depth;
    _Atomic bool *stop;
    uint64_t done;
} client_t;

/* Sends a window of `depth` frames, reads the `depth` answers, repeats. */
static void *client_main(void *arg)
{
    client_t *c = arg;
    int fd = cli_connect(c->port);
    size_t fb = 4 + FRAME_BYTES;
    uint8_t *out = malloc(fb * (size_t)c->depth), *in = malloc(fb * (size_t)c->depth);
    for (int i = 0; i < c->depth; i++) {
        be32_write(out + fb * (size_t)i, FRAME_BYTES);
        memset(out + fb * (size_t)i + 4, 'a' + i % 26, FRAME_BYTES);
    }
    while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
        size_t n = fb * (size_t)c->depth;
        if (io_all(fd, out, n, true) != 0 || io_all(fd, in, n, false) != 0)
            break;
        if (memcmp(in, out, n) != 0) {
            fprintf(stderr, "echo mismatch\n");
            exit(1);
        }
        c->done += (uint64_t)c->depth;
    }
    close(fd);
    free(out);
    free(in);
    return NULL;
}

static void bench_rps(size_t loops, int clients, int depth, double seconds)
{
    server_t s;
    server_start(&s, loops);
    _Atomic bool stop = false;
    client_t c[8];
    pthread_t th[8];
    for (int i = 0; i < clients; i++) {
        c[i] = (client_t){.port = s.port, .depth = depth, .stop = &stop};
        pthread_create(&th[i], NULL, client_main, &c[i]);
    }
    int64_t t0 = clock_mono_ns();
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&stop, true);
    uint64_t total = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        total += c[i].done;
    }
    double el = (double)(clock_mono_ns() - t0) / 1e9;
    printf("echo %zu loop(s), %d client(s), depth %d, %d-byte frames: %.0f requests/s\n", loops,
           clients, depth, FRAME_BYTES, (double)total / el);
    server_stop(&s);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static void bench_idle_rss(int nconn)
{
    server_t s;
    server_start(&s, 2);
    usleep(50000);
    long before = rss_kib();
    int *fds = malloc(sizeof(int) * (size_t)nconn);
    uint8_t frame[4 + FRAME_BYTES], back[4 + FRAME_BYTES];
    be32_write(frame, FRAME_BYTES);
    memset(frame + 4, 'x', FRAME_BYTES);
    for (int i = 0; i < nconn; i++) {
        fds[i] = cli_connect(s.port);
        if (io_all(fds[i], frame, sizeof(frame), true) != 0 ||
            io_all(fds[i], back, sizeof(back), false) != 0) {
            fprintf(stderr, "round trip %d failed\n", i);
            exit(1);
        }
    }
    usleep(200000);
    long after = rss_kib();
    printf("idle connections: %d, RSS before %ld KiB, after %ld KiB: %.2f KiB per idle "
           "connection (process RSS; kernel socket buffers are not in it)\n",
           nconn, before, after, (double)(after - before) / nconn);
    for (int i = 0; i < nconn; i++)
        close(fds[i]);
    free(fds);
    server_stop(&s);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int depth = argc > 2 ? atoi(argv[2]) : 32;
    if (seconds <= 0 || depth <= 0 || depth > 4096) {
        fprintf(stderr, "usage: bench_net [seconds] [depth]\n");
        return 2;
    }
    bench_idle_rss(1000);
    for (size_t loops = 1; loops <= 2; loops++) {
        bench_rps(loops, 1, 1, seconds);
        bench_rps(loops, 1, depth, seconds);
        bench_rps(loops, 8, depth, seconds);
    }
    return 0;
}
