/*
 * libFuzzer target: arbitrary request frames through the whole request path of a live
 * in-process broker: framing, the header and body decoders, every handler, the produce and
 * fetch paths and the storage below them.
 *
 * The broker is started once (data in a fresh temp dir, port 0, one event loop, topics "fz"
 * and "ck1" created and filled), and a TCP connection to it is kept. Each input is sent as one
 * frame (the input is the frame's body: api key, version, correlation id, ...), followed by an
 * ApiVersions request with a fresh correlation id; the target reads until that answer arrives
 * or the broker closes the connection (reconnecting for the next input). So every input is
 * fully handled before the next, and a hang is a crash (poll timeout -> abort). The broker is
 * built with WEIR_FUZZ, which caps topic and partition counts and long-poll waits.
 *
 * Seeds: tests/fuzz/corpus/request/, frames captured from kcat, librdkafka, confluent-kafka and
 * kafka-python, plus hand-made frames for the versions those clients did not send.
 */
#include "weir/embed.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static weir_broker *g_broker;
static struct sockaddr_in g_addr;
static int g_fd = -1;
static uint32_t g_sentinel = 0x5e000000;

static int connect_broker(void)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            perror("fuzz_request: socket");
            abort();
        }
        if (connect(fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
        int e = errno;
        close(fd);
        if (e != EINTR) { /* SIGALRM from libFuzzer's -timeout: try again */
            errno = e;
            perror("fuzz_request: connect");
            abort();
        }
    }
    abort();
}

static void send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the broker closed: the read side notices */
        b += w;
        n -= (size_t)w;
    }
}

/* Reads exactly n bytes; false if the connection closed. Aborts after 10 s: a hang.
 * libFuzzer's -timeout works with SIGALRM, which interrupts poll and recv: retried. */
static bool read_all(int fd, uint8_t *p, size_t n)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (n) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long waited_ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (waited_ms > 10000) {
            fprintf(stderr, "fuzz_request: no answer within 10 s\n");
            abort();
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)(10000 - waited_ms));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr != 1)
            continue; /* the deadline check above decides */
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static void send_frame(int fd, const uint8_t *body, size_t n)
{
    uint8_t size[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    send_all(fd, size, 4);
    send_all(fd, body, n);
}

/* Sends an ApiVersions v0 with a fresh id and reads answers until its own; false if the
 * connection closed first. */
static bool sync_point(int fd)
{
    uint32_t id = ++g_sentinel;
    uint8_t req[10] = {
        0,           18,   0,   0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
        (uint8_t)id, 0xff, 0xff};
    send_frame(fd, req, sizeof(req));
    static uint8_t buf[64 << 20];
    for (;;) {
        uint8_t hdr[8];
        if (!read_all(fd, hdr, 8))
            return false;
        uint32_t len =
            (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
        uint32_t corr =
            (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 | hdr[7];
        if (len < 4 || len - 4 > sizeof(buf)) {
            fprintf(stderr, "fuzz_request: bad response size %u\n", len);
            abort();
        }
        if (!read_all(fd, buf, len - 4))
            return false;
        if (corr == id)
            return true;
    }
}

/* Frames that make the starting state: two topics with a few batches. */
static void seed_state(int fd)
{
    static const uint8_t
        create[] =
            {0, 19, 0,   2,   0, 0,   0,   1,   0xff, 0xff, /* CreateTopics v2 (v0-1: gone) */
             0, 0,  0,   2,                                 /* 2 topics */
             0, 2,  'f', 'z', 0, 0,   0,   2,   0,    1,    0,    0, 0, 0, 0,
             0, 0,  0,   0,   3, 'c', 'k', '1', 0,    0,    0,    3, 0, 1, 0,
             0, 0,  0,   0,   0, 0,   0,   0,   0,    0x13, 0x88, 0 /* timeout, validate_only */};
    send_frame(fd, create, sizeof(create));
    if (!sync_point(fd)) {
        fprintf(stderr, "fuzz_request: setup failed\n");
        abort();
    }
}

static void setup(void)
{
    static char dir[] = "/tmp/weir-fuzz-request-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("fuzz_request: mkdtemp");
        abort();
    }
    weir_broker_config cfg;
    weir_broker_config_init(&cfg);
    cfg.data_dir = dir;
    cfg.listen = "127.0.0.1:0";
    cfg.http_listen = NULL;
    cfg.io_threads = 1;
    /* The authorizer is on, allowing what no ACL names, so every request also runs its checks
     * and the ACL requests (acl_seeds.py) reach the store and its matching. */
    static const char *settings[] = {
        "auto.create.topics.enable=false", "log.retention.check.interval.ms=1000",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=true", NULL};
    cfg.settings = settings;
    if (weir_broker_start(&cfg, &g_broker) != 0) {
        fprintf(stderr, "fuzz_request: broker did not start\n");
        abort();
    }
    const char *bs = weir_broker_bootstrap(g_broker);
    const char *colon = strrchr(bs, ':');
    memset(&g_addr, 0, sizeof(g_addr));
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)atoi(colon + 1));
    g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_fd = connect_broker();
    seed_state(g_fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_broker)
        setup();
    if (size > (1 << 20))
        return 0;
    if (g_fd < 0)
        g_fd = connect_broker();
    send_frame(g_fd, data, size);
    if (!sync_point(g_fd)) {
        close(g_fd);
        g_fd = -1;
    }
    return 0;
}
