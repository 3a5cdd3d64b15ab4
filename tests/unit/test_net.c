/* Unit tests of src/net over real sockets on 127.0.0.1 (port 0): an in-process server whose
 * handler acts on the first byte of each frame, blocking clients in the test thread.
 *
 * Frame ops: 'e' echo the frame back at once; 'z' complete empty (acks=0); 'p' park the slot
 * (the test completes it later from another thread); 'c' complete empty and close the
 * connection; 'q' echo, then close after flushing; 'r' mark this connection for stats queries, then
 * echo; 'l' answer which loop serves the connection; 'B' answer BIG_RESP bytes of 'B' in a buffer
 * that starts from net_loop_take_buf (recording what that gave); 'f' answer heap bytes with two
 * ranges of g_file between them (net_slot_add_file: sendfile). A response is the request
 * frame with its size prefix, except 'l', 'B' and 'f'. */
#include "net/net.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- server fixture -------------------------------------------------------------------------- */

#define MAX_PARKED 256

static _Atomic int g_frames, g_closes;
static _Atomic size_t g_close_in_peak; /* largest input buffer a closed connection had */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static net_slot_t *g_parked[MAX_PARKED]; /* guarded by g_mu */
static buf_t g_parked_resp[MAX_PARKED];
static int g_nparked;
static net_conn_t *g_marked;               /* loop thread */
static _Atomic size_t g_marked_outbuf_max; /* largest queue the marked connection had */
static net_loop_t *g_loops[2];
#define BIG_RESP (2u << 20)
static _Atomic size_t g_big_taken_cap; /* 'B': capacity net_loop_take_buf handed over */
static uint8_t *_Atomic g_big_data;    /* 'B': the buffer the response was built in */
static net_budget_t *g_budget;         /* set on the loops server_start makes, or NULL */
static int g_file = -1;                /* 'f': the file whose ranges are sent */
static _Atomic int g_file_releases;    /* 'f': ranges released (sent, or the connection gone) */

/* 'f': [size] "head" file[FILE_A_POS, +FILE_A_LEN) "mid" file[0, FILE_B_LEN) "tail" */
#define FILE_BYTES (8u << 20)
#define FILE_A_POS 1000
#define FILE_A_LEN (6u << 20)
#define FILE_B_LEN 777

typedef struct {
    net_loop_t *loops[2];
    pthread_t th[2];
    size_t n;
    net_listener_t *lst;
    uint16_t port;
} server_t;

static void state_reset(void)
{
    atomic_store(&g_frames, 0);
    atomic_store(&g_closes, 0);
    atomic_store(&g_close_in_peak, 0);
    atomic_store(&g_marked_outbuf_max, 0);
    pthread_mutex_lock(&g_mu);
    g_nparked = 0;
    pthread_mutex_unlock(&g_mu);
    g_marked = NULL;
}

static void echo_resp(buf_t *r, const uint8_t *frame, size_t len)
{
    buf_init(r);
    buf_append_be32(r, (uint32_t)len);
    buf_append(r, frame, len);
}

static void file_release(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_file_releases, 1);
}

static void on_frame(net_conn_t *conn, net_slot_t *slot, uint8_t *frame, size_t len, void *user)
{
    atomic_fetch_add(&g_frames, 1);
    buf_t r;
    switch (frame[0]) {
    case 'z':
        net_slot_complete(slot, NULL);
        return;
    case 'c':
        net_slot_complete(slot, NULL);
        net_conn_close(conn);
        return;
    case 'p':
        echo_resp(&r, frame, len);
        pthread_mutex_lock(&g_mu);
        g_parked[g_nparked] = slot;
        g_parked_resp[g_nparked++] = r;
        pthread_mutex_unlock(&g_mu);
        return;
    case 'l': {
        uint8_t body[2] = {g_loops[1] && net_conn_loop(conn) == g_loops[1],
                           net_loop_is_current(net_conn_loop(conn))};
        echo_resp(&r, body, 2);
        net_slot_complete(slot, &r);
        return;
    }
    case 'r':
        g_marked = conn;
        break;
    case 'B':
        buf_init(&r);
        net_loop_take_buf(net_conn_loop(conn), &r, BIG_RESP);
        atomic_store(&g_big_taken_cap, r.cap);
        buf_append_be32(&r, BIG_RESP);
        memset(buf_extend(&r, BIG_RESP), 'B', BIG_RESP);
        atomic_store(&g_big_data, r.data);
        net_slot_complete(slot, &r);
        return;
    case 'f':
        buf_init(&r);
        buf_append_be32(&r, 0);
        buf_append(&r, "head", 4);
        net_slot_add_file(slot, r.len, g_file, FILE_A_POS, FILE_A_LEN, file_release, NULL);
        buf_append(&r, "mid", 3);
        net_slot_add_file(slot, r.len, g_file, 0, FILE_B_LEN, file_release, NULL);
        buf_append(&r, "tail", 4);
        be32_write(r.data, (uint32_t)(r.len - 4 + net_slot_file_bytes(slot)));
        net_slot_complete(slot, &r);
        return;
    case 'q':
        echo_resp(&r, frame, len);
        net_slot_complete(slot, &r);
        net_conn_close_after_flush(conn);
        return;
    default:
        break;
    }
    echo_resp(&r, frame, len);
    net_slot_complete(slot, &r);
    if (conn == g_marked) {
        net_conn_stats_t st;
        net_conn_stats(conn, &st);
        if (st.outbuf_bytes > atomic_load(&g_marked_outbuf_max))
            atomic_store(&g_marked_outbuf_max, st.outbuf_bytes);
    }
}

static void on_close(net_conn_t *conn, void *user)
{
    net_conn_stats_t st;
    net_conn_stats(conn, &st);
    if (st.inbuf_peak_bytes > atomic_load(&g_close_in_peak))
        atomic_store(&g_close_in_peak, st.inbuf_peak_bytes);
    if (conn == g_marked)
        g_marked = NULL;
    atomic_fetch_add(&g_closes, 1);
}

static void *loop_main(void *arg)
{
    net_loop_run(arg);
    return NULL;
}

static void server_start(server_t *s, size_t n, const net_conn_limits_t *lim, size_t max_conns)
{
    state_reset();
    memset(s, 0, sizeof(*s));
    s->n = n;
    g_loops[0] = g_loops[1] = NULL;
    for (size_t i = 0; i < n; i++) {
        WEIR_ASSERT(net_loop_new(&s->loops[i]) == 0);
        net_loop_set_budget(s->loops[i], g_budget);
        g_loops[i] = s->loops[i];
    }
    net_conn_handler_t h = {.on_frame = on_frame, .on_close = on_close};
    if (lim)
        h.limits = *lim;
    else
        net_conn_limits_default(&h.limits);
    WEIR_ASSERT(
        net_listener_open(s->loops[0], s->loops, n, "127.0.0.1", 0, &h, max_conns, &s->lst) == 0);
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
    g_loops[0] = g_loops[1] = NULL;
}

/* Runs fn on the loop thread and waits for it. */
typedef struct {
    void (*fn)(void *);
    void *arg;
    _Atomic bool done;
} call_t;

static void call_trampoline(void *arg)
{
    call_t *c = arg;
    c->fn(c->arg);
    atomic_store(&c->done, true);
}

static void run_on_loop(net_loop_t *loop, void (*fn)(void *), void *arg)
{
    call_t c = {.fn = fn, .arg = arg};
    atomic_init(&c.done, false);
    net_loop_post(loop, call_trampoline, &c);
    while (!atomic_load(&c.done))
        usleep(200);
}

typedef struct {
    bool have;
    net_conn_stats_t st;
} marked_stats_t;

static void marked_stats_fn(void *arg)
{
    marked_stats_t *ms = arg;
    ms->have = g_marked != NULL;
    if (g_marked)
        net_conn_stats(g_marked, &ms->st);
}

static bool marked_stats(net_loop_t *loop, net_conn_stats_t *st)
{
    marked_stats_t ms = {0};
    run_on_loop(loop, marked_stats_fn, &ms);
    *st = ms.st;
    return ms.have;
}

static int parked_count(void)
{
    pthread_mutex_lock(&g_mu);
    int n = g_nparked;
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* Completes parked slot i from the calling thread (never the loop's). */
static void parked_complete(int i)
{
    pthread_mutex_lock(&g_mu);
    net_slot_t *slot = g_parked[i];
    buf_t r = g_parked_resp[i];
    buf_init(&g_parked_resp[i]); /* the bytes are the connection's now (LSan sees leaks) */
    pthread_mutex_unlock(&g_mu);
    net_slot_complete_async(slot, &r);
    CHECK(r.data == NULL && r.len == 0);
}

static int64_t now_ms(void)
{
    return clock_mono_ms();
}

#define WAIT_FOR(cond, ms)                                                                         \
    do {                                                                                           \
        int64_t wf_end_ = now_ms() + (ms);                                                         \
        while (!(cond) && now_ms() < wf_end_)                                                      \
            usleep(1000);                                                                          \
    } while (0)

/* ---- client helpers -------------------------------------------------------------------------- */

/* bufsize > 0 shrinks the client's socket buffers (set before connect to take effect). */
static int cli_connect_buf(uint16_t port, int bufsize)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    WEIR_ASSERT(fd >= 0);
    if (bufsize > 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    WEIR_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    tv.tv_sec = 10;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static int cli_connect(uint16_t port)
{
    return cli_connect_buf(port, 0);
}

static int send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int recv_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = recv(fd, b, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Appends a frame [size]['op'][idx be32][pad bytes of a pattern of idx] to b. */
static void frame_add(buf_t *b, char op, uint32_t idx, size_t pad)
{
    buf_append_be32(b, (uint32_t)(5 + pad));
    buf_append_u8(b, (uint8_t)op);
    buf_append_be32(b, idx);
    uint8_t *p = buf_extend(b, pad);
    for (size_t i = 0; i < pad; i++)
        p[i] = (uint8_t)(idx * 31 + i);
}

/* Receives one response and checks it is the echo of frame (op, idx, pad). */
static bool recv_echo(int fd, char op, uint32_t idx, size_t pad)
{
    buf_t want = {0};
    frame_add(&want, op, idx, pad);
    uint8_t *got = malloc(want.len);
    bool ok = recv_all(fd, got, want.len) == 0 && memcmp(got, want.data, want.len) == 0;
    if (!ok)
        fprintf(stderr, "  echo of %c#%u (%zu bytes) missing or wrong\n", op, idx, want.len);
    free(got);
    buf_deinit(&want);
    return ok;
}

static bool round_trip(int fd, char op, uint32_t idx, size_t pad)
{
    buf_t b = {0};
    frame_add(&b, op, idx, pad);
    bool ok = send_all(fd, b.data, b.len) == 0 && recv_echo(fd, op, idx, pad);
    buf_deinit(&b);
    return ok;
}

/* True if the server closed fd within ms: recv sees EOF or a reset. */
static bool expect_closed(int fd, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        int left = (int)(end - now_ms());
        if (left < 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            return false;
        uint8_t tmp[256];
        ssize_t r = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return true;
        if (r < 0 && errno != EAGAIN)
            return false;
    }
}

/* True if nothing is readable on fd for ms. */
static bool quiet_for(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 0;
}

/* ---- framing and order ----------------------------------------------------------------------- */

TEST(pipelined_frames_answered_in_order)
{
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fd = cli_connect(s.port);
    buf_t b = {0};
    for (uint32_t i = 0; i < 300; i++)
        frame_add(&b, 'e', i, (i * 37) % 1500);
    CHECK(send_all(fd, b.data, b.len) == 0);
    bool all = true;
    for (uint32_t i = 0; i < 300 && all; i++)
        all = recv_echo(fd, 'e', i, (i * 37) % 1500);
    CHECK(all);
    CHECK_EQ(atomic_load(&g_frames), 300);
    CHECK(quiet_for(fd, 20));
    buf_deinit(&b);
    close(fd);
    server_stop(&s);
}

/* Sends a 'B' frame and reads its BIG_RESP-byte answer. */
static bool big_round_trip(int fd)
{
    buf_t b = {0};
    frame_add(&b, 'B', 0, 0);
    uint8_t *got = malloc(4 + BIG_RESP);
    bool ok = send_all(fd, b.data, b.len) == 0 && recv_all(fd, got, 4 + BIG_RESP) == 0 &&
              got[0] == 0 && got[1] == 0x20 && got[4] == 'B' && got[3 + BIG_RESP] == 'B';
    free(got);
    buf_deinit(&b);
    return ok;
}

TEST(large_response_buffer_is_kept_for_the_next_and_freed_when_idle)
{
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fd = cli_connect(s.port);
    CHECK(big_round_trip(fd));
    CHECK_EQ(atomic_load(&g_big_taken_cap), 0); /* nothing kept yet */
    uint8_t *first = atomic_load(&g_big_data);
    CHECK(round_trip(fd, 'e', 1, 100)); /* a small response neither takes nor drops it */
    CHECK(big_round_trip(fd));
    CHECK(atomic_load(&g_big_taken_cap) >= 4 + BIG_RESP); /* the first one's buffer, reused */
    CHECK(atomic_load(&g_big_data) == first);
    usleep(5400 * 1000); /* NET_KEEP_IDLE_MS without a large response: the loop frees it */
    CHECK(big_round_trip(fd));
    CHECK_EQ(atomic_load(&g_big_taken_cap), 0);
    close(fd);
    server_stop(&s);
}

/* ---- file ranges (zero-copy fetch) ----------------------------------------------------------- */

static uint8_t file_byte(size_t i)
{
    return (uint8_t)(i * 7 + i / 251);
}

/* A FILE_BYTES file of file_byte(i), opened read-only in g_file (unlinked: only the fd holds
 * it, as a segment retention deleted while its range waits to be sent). */
static void file_make(void)
{
    char path[] = "/tmp/weir-test-net-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    uint8_t *p = malloc(FILE_BYTES);
    for (size_t i = 0; i < FILE_BYTES; i++)
        p[i] = file_byte(i);
    REQUIRE(write(fd, p, FILE_BYTES) == (ssize_t)FILE_BYTES);
    free(p);
    g_file = open(path, O_RDONLY | O_CLOEXEC);
    REQUIRE(g_file >= 0);
    close(fd);
    unlink(path);
    atomic_store(&g_file_releases, 0);
}

/* Reads one 'f' answer and checks every byte. */
static bool recv_file_answer(int fd)
{
    size_t total = 4 + 4 + FILE_A_LEN + 3 + FILE_B_LEN + 4;
    uint8_t *got = malloc(total);
    bool ok = recv_all(fd, got, total) == 0 && be32_read(got) == total - 4 &&
              memcmp(got + 4, "head", 4) == 0;
    for (size_t i = 0; ok && i < FILE_A_LEN; i++)
        ok = got[8 + i] == file_byte(FILE_A_POS + i);
    uint8_t *mid = got + 8 + FILE_A_LEN;
    ok = ok && memcmp(mid, "mid", 3) == 0;
    for (size_t i = 0; ok && i < FILE_B_LEN; i++)
        ok = mid[3 + i] == file_byte(i);
    ok = ok && memcmp(mid + 3 + FILE_B_LEN, "tail", 4) == 0;
    free(got);
    return ok;
}

static uint64_t sendfile_bytes(net_loop_t *loop)
{
    net_loop_stats_t st;
    net_loop_stats(loop, &st);
    return st.sendfile_bytes;
}

TEST(file_ranges_sent_between_heap_bytes_through_partial_writes)
{
    file_make();
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fd = cli_connect_buf(s.port, 4096); /* the socket fills: partial writes, EPOLLOUT */
    buf_t b = {0};
    frame_add(&b, 'f', 0, 0);
    frame_add(&b, 'e', 1, 300);
    frame_add(&b, 'f', 2, 0);
    CHECK(send_all(fd, b.data, b.len) == 0);
    usleep(100 * 1000); /* answered and stuck in the full socket meanwhile */
    CHECK(recv_file_answer(fd));
    CHECK(recv_echo(fd, 'e', 1, 300)); /* request order, heap answers between them intact */
    CHECK(recv_file_answer(fd));
    WAIT_FOR(atomic_load(&g_file_releases) == 4, 2000);
    CHECK_EQ(atomic_load(&g_file_releases), 4); /* each range released once sent */
    CHECK_EQ(sendfile_bytes(s.loops[0]), 2 * (FILE_A_LEN + FILE_B_LEN));
    CHECK(quiet_for(fd, 20));
    buf_deinit(&b);
    close(fd);
    server_stop(&s);
    close(g_file);
}

TEST(file_ranges_released_when_the_connection_closes_mid_send)
{
    file_make();
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fd = cli_connect_buf(s.port, 4096);
    buf_t b = {0};
    for (uint32_t i = 0; i < 3; i++)
        frame_add(&b, 'f', i, 0);
    CHECK(send_all(fd, b.data, b.len) == 0);
    usleep(100 * 1000);
    CHECK_EQ(atomic_load(&g_file_releases), 0); /* more than the socket buffers hold */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd); /* a reset: the next write fails and the connection closes */
    /* Two answers passed max_outbuf_bytes (8 MiB, file ranges count): the third frame was
     * never handed over. Both answers' ranges are released, none twice. */
    CHECK_EQ(atomic_load(&g_frames), 2);
    WAIT_FOR(atomic_load(&g_file_releases) == 4, 3000);
    CHECK_EQ(atomic_load(&g_file_releases), 4);
    WAIT_FOR(atomic_load(&g_closes) == 1, 2000);
    CHECK_EQ(atomic_load(&g_closes), 1);
    buf_deinit(&b);
    server_stop(&s);
    close(g_file);
}

TEST(out_of_order_completion_leaves_in_request_order)
{
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fd = cli_connect(s.port);
    buf_t b = {0};
    for (uint32_t i = 0; i < 50; i++)
        frame_add(&b, i % 2 ? 'p' : 'e', i, 100 + i);
    CHECK(send_all(fd, b.data, b.len) == 0);
    WAIT_FOR(parked_count() == 25 && atomic_load(&g_frames) == 50, 3000);
    REQUIRE(parked_count() == 25);
    /* Frame 0 is answered; frame 1 is parked, so nothing after it may leave yet. */
    CHECK(recv_echo(fd, 'e', 0, 100));
    CHECK(quiet_for(fd, 50));
    /* Complete the parked ones newest first, from this (non-loop) thread. */
    for (int i = 24; i >= 0; i--)
        parked_complete(i);
    bool all = true;
    for (uint32_t i = 1; i < 50 && all; i++)
        all = recv_echo(fd, i % 2 ? 'p' : 'e', i, 100 + i);
    CHECK(all);
    CHECK(quiet_for(fd, 20));
    buf_deinit(&b);
    close(fd);
    server_stop(&s);
}

TEST(empty_completion_sends_nothing)
{
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fd = cli_connect(s.port);
    buf_t b = {0};
    frame_add(&b, 'e', 0, 10);
    frame_add(&b, 'z', 1, 10);
    frame_add(&b, 'z', 2, 0);
    frame_add(&b, 'e', 3, 20);
    frame_add(&b, 'z', 4, 0);
    CHECK(send_all(fd, b.data, b.len) == 0);
    CHECK(recv_echo(fd, 'e', 0, 10));
    CHECK(recv_echo(fd, 'e', 3, 20));
    CHECK(quiet_for(fd, 50));
    WAIT_FOR(atomic_load(&g_frames) == 5, 1000);
    CHECK_EQ(atomic_load(&g_frames), 5);
    /* The connection still works after trailing empty completions. */
    CHECK(round_trip(fd, 'e', 5, 3));
    buf_deinit(&b);
    close(fd);
    server_stop(&s);
}

TEST(bad_sizes_close_without_allocating)
{
    net_conn_limits_t lim;
    net_conn_limits_default(&lim);
    lim.max_frame_bytes = 1 << 20;
    server_t s;
    server_start(&s, 1, &lim, 0);
    const uint32_t sizes[] = {0x7fffffffu, 0xffffffffu,    0x80000000u,
                              0,           (1u << 20) + 1, 0x47455420u /* "GET " */,
                              0x16030100u /* TLS ClientHello */};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(sizes); i++) {
        int fd = cli_connect(s.port);
        uint8_t msg[4 + 16];
        be32_write(msg, sizes[i]);
        memset(msg + 4, 'x', 16);
        /* Every other case splits the size itself, so it is kept across reads. */
        if (i % 2) {
            CHECK(send_all(fd, msg, 2) == 0);
            usleep(20000);
            CHECK(send_all(fd, msg + 2, sizeof(msg) - 2) == 0);
        } else {
            CHECK(send_all(fd, msg, sizeof(msg)) == 0);
        }
        if (!expect_closed(fd, 2000))
            fprintf(stderr, "  size 0x%08x not refused\n", sizes[i]);
        close(fd);
        WAIT_FOR(atomic_load(&g_closes) == (int)i + 1, 1000);
        CHECK_EQ(atomic_load(&g_closes), (int)i + 1);
    }
    CHECK_EQ(atomic_load(&g_frames), 0);
    /* Nothing near a declared size was ever allocated: at most the few bytes of a split size. */
    CHECK(atomic_load(&g_close_in_peak) <= 64);
    /* The largest legal frame still passes, and other clients are served. */
    int fd = cli_connect(s.port);
    CHECK(round_trip(fd, 'e', 7, (1 << 20) - 5));
    CHECK(round_trip(fd, 'e', 8, 0));
    close(fd);
    server_stop(&s);
}

TEST(frame_split_into_single_bytes_arrives_whole)
{
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fd = cli_connect(s.port);
    buf_t b = {0};
    frame_add(&b, 'e', 1, 300);
    frame_add(&b, 'e', 2, 7);
    for (size_t i = 0; i < b.len; i++) {
        CHECK(send_all(fd, b.data + i, 1) == 0);
        if (i < 40 || i % 50 == 0)
            usleep(300); /* let each of these arrive in its own read */
    }
    CHECK(recv_echo(fd, 'e', 1, 300));
    CHECK(recv_echo(fd, 'e', 2, 7));
    CHECK_EQ(atomic_load(&g_frames), 2);
    buf_deinit(&b);
    close(fd);
    server_stop(&s);
}

TEST(large_frame_buffer_grows_with_bytes_received)
{
    net_conn_limits_t lim;
    net_conn_limits_default(&lim);
    lim.max_frame_bytes = 8 << 20;
    server_t s;
    server_start(&s, 1, &lim, 0);
    int fd = cli_connect(s.port);
    CHECK(round_trip(fd, 'r', 0, 0));
    size_t pad = (4 << 20) - 5;
    buf_t b = {0};
    frame_add(&b, 'e', 9, pad);
    /* 200 KiB of a declared 4 MiB frame. */
    size_t part = 200 * 1024;
    CHECK(send_all(fd, b.data, part) == 0);
    net_conn_stats_t st = {0};
    int64_t end = now_ms() + 3000;
    do {
        usleep(2000);
        REQUIRE(marked_stats(s.loops[0], &st));
    } while (st.bytes_in < 9 + part && now_ms() < end);
    CHECK_EQ(st.bytes_in, 9 + part);
    CHECK(st.inbuf_bytes >= part - 64 * 1024);
    CHECK(st.inbuf_bytes <= 2 * part + 64 * 1024);
    CHECK(st.inbuf_peak_bytes <= 2 * part + 64 * 1024);
    CHECK(st.reading);
    CHECK(send_all(fd, b.data + part, b.len - part) == 0);
    CHECK(recv_echo(fd, 'e', 9, pad));
    /* Once the frame is handed over, the connection holds no input buffer. */
    CHECK(marked_stats(s.loops[0], &st));
    CHECK_EQ(st.inbuf_bytes, 0);
    CHECK_EQ(st.frames_in, 2);
    buf_deinit(&b);
    close(fd);
    server_stop(&s);
}

/* ---- bounds ---------------------------------------------------------------------------------- */

typedef struct {
    int fd;
    uint32_t n;
    size_t pad;
    int rc;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    buf_t b = {0};
    for (uint32_t i = 0; i < w->n && w->rc == 0; i++) {
        b.len = 0;
        frame_add(&b, 'e', i, w->pad);
        w->rc = send_all(w->fd, b.data, b.len);
    }
    buf_deinit(&b);
    return NULL;
}

#define NSTUCK 4000

TEST(backpressure_on_a_reader_that_never_reads)
{
    net_conn_limits_t lim;
    net_conn_limits_default(&lim);
    lim.max_inflight = 16;
    lim.max_outbuf_bytes = 128 * 1024;
    server_t s;
    server_start(&s, 1, &lim, 0);
    int stuck = cli_connect_buf(s.port, 64 * 1024);
    CHECK(round_trip(stuck, 'r', 0, 0));
    /* 4000 requests of 8 KiB whose 32 MB of answers it does not read: more than all the
     * socket buffers on the way can hold, so the writer must stall. */
    writer_t w = {.fd = stuck, .n = NSTUCK, .pad = 8192};
    pthread_t th;
    pthread_create(&th, NULL, writer_main, &w);
    /* Wait until the server stopped reading it and its byte count stands still. */
    net_conn_stats_t st = {0};
    uint64_t last = UINT64_MAX;
    int still = 0;
    for (int i = 0; i < 200 && still < 6; i++) {
        usleep(50000);
        REQUIRE(marked_stats(s.loops[0], &st));
        still = (!st.reading && st.bytes_in == last) ? still + 1 : 0;
        last = st.bytes_in;
    }
    CHECK(still >= 6);
    CHECK(!st.reading);
    CHECK(st.frames_in < NSTUCK + 1);
    size_t resp = 4 + 5 + 8192;
    CHECK(st.outbuf_bytes <= lim.max_outbuf_bytes + resp);
    CHECK(atomic_load(&g_marked_outbuf_max) <= lim.max_outbuf_bytes + resp);
    CHECK(st.inbuf_peak_bytes <= 64 * 1024);
    /* Another client is served normally meanwhile. */
    int other = cli_connect(s.port);
    int64_t t0 = now_ms();
    bool ok = true;
    for (uint32_t i = 0; i < 200 && ok; i++)
        ok = round_trip(other, 'e', i, 50);
    CHECK(ok);
    CHECK(now_ms() - t0 < 2000);
    close(other);
    /* Now the stuck client reads: everything arrives, in order. */
    bool all = true;
    for (uint32_t i = 0; i < NSTUCK && all; i++)
        all = recv_echo(stuck, 'e', i, 8192);
    CHECK(all);
    pthread_join(th, NULL);
    CHECK_EQ(w.rc, 0);
    CHECK(marked_stats(s.loops[0], &st));
    CHECK_EQ(st.frames_in, NSTUCK + 1);
    CHECK(st.reading);
    close(stuck);
    server_stop(&s);
}

TEST(inflight_bound_pauses_reading)
{
    net_conn_limits_t lim;
    net_conn_limits_default(&lim);
    lim.max_inflight = 8;
    server_t s;
    server_start(&s, 1, &lim, 0);
    int fd = cli_connect(s.port);
    CHECK(round_trip(fd, 'r', 0, 0));
    buf_t b = {0};
    for (uint32_t i = 1; i <= 20; i++)
        frame_add(&b, 'p', i, 3);
    CHECK(send_all(fd, b.data, b.len) == 0);
    WAIT_FOR(parked_count() == 8, 2000);
    usleep(50000);
    /* Exactly max_inflight frames were handed over; the rest wait, read or not. */
    CHECK_EQ(parked_count(), 8);
    net_conn_stats_t st;
    CHECK(marked_stats(s.loops[0], &st));
    CHECK_EQ(st.inflight, 8);
    CHECK(!st.reading);
    /* Completing parked slots lets exactly that many more in: never more than 8 open. */
    int done = 0;
    while (done < 20) {
        int have = parked_count();
        CHECK(have - done <= 8);
        for (; done < have; done++)
            parked_complete(done);
        if (have == 20)
            break;
        WAIT_FOR(parked_count() > have, 2000);
        if (parked_count() == have)
            break;
    }
    CHECK_EQ(done, 20);
    bool all = true;
    for (uint32_t i = 1; i <= 20 && all; i++)
        all = recv_echo(fd, 'p', i, 3);
    CHECK(all);
    buf_deinit(&b);
    close(fd);
    server_stop(&s);
}

TEST(idle_connection_closes)
{
    net_conn_limits_t lim;
    net_conn_limits_default(&lim);
    lim.idle_timeout_ms = 300;
    server_t s;
    server_start(&s, 1, &lim, 0);
    int fd = cli_connect(s.port);
    CHECK(round_trip(fd, 'e', 1, 1));
    int64_t t0 = now_ms();
    CHECK(expect_closed(fd, 3000));
    int64_t waited = now_ms() - t0;
    CHECK(waited >= 250);
    CHECK(waited < 2000);
    close(fd);
    /* A connection with a parked request (a long poll) is not idle. */
    fd = cli_connect(s.port);
    buf_t b = {0};
    frame_add(&b, 'p', 2, 0);
    CHECK(send_all(fd, b.data, b.len) == 0);
    WAIT_FOR(parked_count() == 1, 2000);
    CHECK(quiet_for(fd, 800));
    CHECK_EQ(atomic_load(&g_closes), 1);
    parked_complete(0);
    CHECK(recv_echo(fd, 'p', 2, 0));
    CHECK(expect_closed(fd, 3000));
    WAIT_FOR(atomic_load(&g_closes) == 2, 1000);
    CHECK_EQ(atomic_load(&g_closes), 2);
    buf_deinit(&b);
    close(fd);
    server_stop(&s);
}

TEST(connection_cap_refuses_extra)
{
    server_t s;
    server_start(&s, 1, NULL, 3);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = cli_connect(s.port);
        CHECK(round_trip(fds[i], 'e', (uint32_t)i, 4));
    }
    CHECK_EQ(net_listener_conn_count(s.lst), 3);
    int extra = cli_connect(s.port);
    CHECK(expect_closed(extra, 2000));
    close(extra);
    for (int i = 0; i < 3; i++)
        CHECK(round_trip(fds[i], 'e', 10 + (uint32_t)i, 4));
    close(fds[0]);
    WAIT_FOR(net_listener_conn_count(s.lst) == 2, 2000);
    CHECK_EQ(net_listener_conn_count(s.lst), 2);
    fds[0] = cli_connect(s.port);
    CHECK(round_trip(fds[0], 'e', 20, 4));
    CHECK_EQ(net_listener_conn_count(s.lst), 3);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    server_stop(&s);
}

/* ---- closing --------------------------------------------------------------------------------- */

static void *completer_main(void *arg)
{
    parked_complete((int)(intptr_t)arg);
    return NULL;
}

TEST(close_while_parked_then_complete_from_another_thread)
{
    server_t s;
    server_start(&s, 1, NULL, 0);
    /* 1. The peer resets the connection while its request is parked. */
    int fd = cli_connect(s.port);
    buf_t b = {0};
    frame_add(&b, 'e', 0, 1);
    frame_add(&b, 'p', 1, 1);
    frame_add(&b, 'p', 2, 1);
    CHECK(send_all(fd, b.data, b.len) == 0);
    WAIT_FOR(parked_count() == 2, 2000);
    CHECK(recv_echo(fd, 'e', 0, 1));
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    WAIT_FOR(atomic_load(&g_closes) == 1, 2000);
    CHECK_EQ(atomic_load(&g_closes), 1);
    pthread_t th;
    pthread_create(&th, NULL, completer_main, (void *)(intptr_t)1);
    pthread_join(th, NULL);
    pthread_create(&th, NULL, completer_main, (void *)(intptr_t)0);
    pthread_join(th, NULL);
    /* 2. The handler closes the connection while a request is parked. */
    fd = cli_connect(s.port);
    b.len = 0;
    frame_add(&b, 'p', 3, 1);
    frame_add(&b, 'c', 4, 1);
    CHECK(send_all(fd, b.data, b.len) == 0);
    CHECK(expect_closed(fd, 2000));
    WAIT_FOR(atomic_load(&g_closes) == 2, 2000);
    pthread_create(&th, NULL, completer_main, (void *)(intptr_t)2);
    pthread_join(th, NULL);
    close(fd);
    /* 3. The peer half-closes: what it asked is still answered, then the server closes. */
    fd = cli_connect(s.port);
    b.len = 0;
    frame_add(&b, 'p', 5, 1);
    frame_add(&b, 'e', 6, 1);
    CHECK(send_all(fd, b.data, b.len) == 0);
    WAIT_FOR(parked_count() == 4, 2000);
    shutdown(fd, SHUT_WR);
    usleep(50000);
    CHECK_EQ(atomic_load(&g_closes), 2);
    parked_complete(3);
    CHECK(recv_echo(fd, 'p', 5, 1));
    CHECK(recv_echo(fd, 'e', 6, 1));
    CHECK(expect_closed(fd, 2000));
    close(fd);
    WAIT_FOR(atomic_load(&g_closes) == 3, 2000);
    CHECK_EQ(atomic_load(&g_closes), 3);
    /* Give the loop a moment to free them; ASan's leak check covers the rest at exit. */
    usleep(20000);
    buf_deinit(&b);
    server_stop(&s);
}

TEST(close_after_flush_answers_then_closes)
{
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fd = cli_connect(s.port);
    buf_t b = {0};
    frame_add(&b, 'e', 0, 3);
    frame_add(&b, 'p', 1, 3);
    frame_add(&b, 'q', 2, 3);
    frame_add(&b, 'e', 3, 3); /* read with the others, never handed over */
    CHECK(send_all(fd, b.data, b.len) == 0);
    WAIT_FOR(parked_count() == 1, 2000);
    CHECK(recv_echo(fd, 'e', 0, 3));
    CHECK(quiet_for(fd, 50));
    CHECK_EQ(atomic_load(&g_closes), 0);
    parked_complete(0);
    CHECK(recv_echo(fd, 'p', 1, 3));
    CHECK(recv_echo(fd, 'q', 2, 3));
    CHECK(expect_closed(fd, 2000));
    WAIT_FOR(atomic_load(&g_closes) == 1, 2000);
    CHECK_EQ(atomic_load(&g_closes), 1);
    CHECK_EQ(atomic_load(&g_frames), 3);
    close(fd);
    /* Alone on its connection, it closes as soon as the answer is out. */
    fd = cli_connect(s.port);
    CHECK(round_trip(fd, 'q', 4, 0));
    CHECK(expect_closed(fd, 2000));
    close(fd);
    buf_deinit(&b);
    server_stop(&s);
}

TEST(loop_free_closes_remaining_connections)
{
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = cli_connect(s.port);
        CHECK(round_trip(fds[i], 'e', (uint32_t)i, 4));
    }
    server_stop(&s);
    CHECK_EQ(atomic_load(&g_closes), 3);
    for (int i = 0; i < 3; i++) {
        CHECK(expect_closed(fds[i], 1000));
        close(fds[i]);
    }
}

/* ---- threads and loops ---------------------------------------------------------------------- */

TEST(round_robin_across_two_loops)
{
    server_t s;
    server_start(&s, 2, NULL, 0);
    int fds[6];
    for (int i = 0; i < 6; i++) {
        fds[i] = cli_connect(s.port);
        buf_t b = {0};
        frame_add(&b, 'l', 0, 0);
        CHECK(send_all(fds[i], b.data, b.len) == 0);
        uint8_t got[6];
        CHECK(recv_all(fds[i], got, sizeof(got)) == 0);
        CHECK_EQ(be32_read(got), 2);
        CHECK_EQ(got[4], i % 2); /* loop 0, 1, 0, 1, ... */
        CHECK_EQ(got[5], 1);     /* on_frame runs on the connection's own loop thread */
        buf_deinit(&b);
    }
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    server_stop(&s);
}

#define POST_THREADS 4
#define POSTS_EACH   20000

static uint32_t post_last[POST_THREADS]; /* loop thread */
static _Atomic int post_count, post_fifo_errors;

static void post_fn(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    uint32_t t = (uint32_t)(v >> 24), seq = (uint32_t)(v & 0xffffff);
    if (seq != post_last[t] + 1)
        atomic_fetch_add(&post_fifo_errors, 1);
    post_last[t] = seq;
    atomic_fetch_add(&post_count, 1);
}

static void *poster_main(void *arg)
{
    void **a = arg;
    net_loop_t *loop = a[0];
    uintptr_t t = (uintptr_t)a[1];
    for (uintptr_t i = 1; i <= POSTS_EACH; i++)
        net_loop_post(loop, post_fn, (void *)(t << 24 | i));
    return NULL;
}

TEST(post_from_many_threads_is_fifo_per_thread)
{
    net_loop_t *loop;
    REQUIRE(net_loop_new(&loop) == 0);
    pthread_t lt, th[POST_THREADS];
    pthread_create(&lt, NULL, loop_main, loop);
    atomic_store(&post_count, 0);
    atomic_store(&post_fifo_errors, 0);
    memset(post_last, 0, sizeof(post_last));
    void *args[POST_THREADS][2];
    for (uintptr_t t = 0; t < POST_THREADS; t++) {
        args[t][0] = loop;
        args[t][1] = (void *)t;
        pthread_create(&th[t], NULL, poster_main, args[t]);
    }
    for (int t = 0; t < POST_THREADS; t++)
        pthread_join(th[t], NULL);
    WAIT_FOR(atomic_load(&post_count) == POST_THREADS * POSTS_EACH, 5000);
    CHECK_EQ(atomic_load(&post_count), POST_THREADS * POSTS_EACH);
    CHECK_EQ(atomic_load(&post_fifo_errors), 0);
    net_loop_stop(loop);
    pthread_join(lt, NULL);
    net_loop_free(loop);
}

/* ---- timers ---------------------------------------------------------------------------------- */

typedef struct {
    net_loop_t *loop;
    net_timer_t t[6];
    int order[6];
    int64_t fired_at[6];
    int nfired;
    int64_t start;
} tcase_t;

static tcase_t g_tc;

static void tc_fire(void *arg)
{
    int i = (int)(intptr_t)arg;
    g_tc.order[g_tc.nfired++] = i;
    g_tc.fired_at[i] = net_loop_now_ms(g_tc.loop) - g_tc.start;
    if (i == 5)
        net_loop_stop(g_tc.loop);
}

static void tc_setup(void *arg)
{
    static const int64_t delays[6] = {50, 10, 30, 10, 20, 90};
    g_tc.start = net_loop_now_ms(g_tc.loop);
    for (int i = 0; i < 6; i++) {
        net_timer_init(&g_tc.t[i], tc_fire, (void *)(intptr_t)i);
        net_timer_start(g_tc.loop, &g_tc.t[i], delays[i]);
    }
    net_timer_stop(g_tc.loop, &g_tc.t[2]);
    net_timer_stop(g_tc.loop, &g_tc.t[2]);      /* not armed: a no-op */
    net_timer_start(g_tc.loop, &g_tc.t[4], 60); /* re-arm moves it */
}

TEST(timers_fire_in_order_and_stop_works)
{
    memset(&g_tc, 0, sizeof(g_tc));
    REQUIRE(net_loop_new(&g_tc.loop) == 0);
    net_loop_post(g_tc.loop, tc_setup, NULL);
    net_loop_run(g_tc.loop); /* this thread is the loop's; timer 5 stops it */
    const int want[] = {1, 3, 0, 4, 5};
    CHECK_EQ(g_tc.nfired, 5);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(g_tc.order[i], want[i]);
    CHECK(!net_timer_armed(&g_tc.t[2]));
    CHECK(g_tc.fired_at[1] >= 10 && g_tc.fired_at[0] >= 50 && g_tc.fired_at[4] >= 60);
    CHECK(g_tc.fired_at[5] >= 90 && g_tc.fired_at[5] < 1000);
    net_loop_free(g_tc.loop);
}

#define NTIMERS 10000

typedef struct {
    net_loop_t *loop;
    net_timer_t *t;
    int fired, stopped_fired, out_of_order;
    int64_t last_due;
    uint64_t last_seq;
    net_timer_t done;
} many_t;

static many_t g_many;

static void many_fire(void *arg)
{
    size_t i = (size_t)arg;
    net_timer_t *t = &g_many.t[i];
    if (i % 3 == 0)
        g_many.stopped_fired++;
    if (t->due_ms < g_many.last_due || (t->due_ms == g_many.last_due && t->seq < g_many.last_seq))
        g_many.out_of_order++;
    g_many.last_due = t->due_ms;
    g_many.last_seq = t->seq;
    g_many.fired++;
}

static void many_done(void *arg)
{
    net_loop_stop(g_many.loop);
}

static void many_setup(void *arg)
{
    uint64_t x = 12345;
    for (size_t i = 0; i < NTIMERS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        net_timer_init(&g_many.t[i], many_fire, (void *)i);
        net_timer_start(g_many.loop, &g_many.t[i], (int64_t)(x % 200));
    }
    for (size_t i = 0; i < NTIMERS; i += 3)
        net_timer_stop(g_many.loop, &g_many.t[i]);
    net_timer_init(&g_many.done, many_done, NULL);
    net_timer_start(g_many.loop, &g_many.done, 300);
}

TEST(ten_thousand_timers)
{
    memset(&g_many, 0, sizeof(g_many));
    g_many.t = calloc(NTIMERS, sizeof(net_timer_t));
    REQUIRE(net_loop_new(&g_many.loop) == 0);
    net_loop_post(g_many.loop, many_setup, NULL);
    int64_t t0 = now_ms();
    net_loop_run(g_many.loop);
    CHECK(now_ms() - t0 < 2000);
    CHECK_EQ(g_many.fired, NTIMERS - (NTIMERS + 2) / 3);
    CHECK_EQ(g_many.stopped_fired, 0);
    CHECK_EQ(g_many.out_of_order, 0);
    for (size_t i = 0; i < NTIMERS; i++)
        CHECK(!net_timer_armed(&g_many.t[i]));
    net_loop_free(g_many.loop);
    free(g_many.t);
}

/* ---- the memory budget ------------------------------------------------------------------------
 */

TEST(budget_reserve_grants_what_is_left)
{
    net_budget_t *bud;
    net_budget_new(1000, &bud);
    CHECK_EQ(net_budget_reserve(bud, 600), 600);
    CHECK_EQ(net_budget_reserve(bud, 600), 400); /* only what is left */
    CHECK(net_budget_full(bud));
    CHECK_EQ(net_budget_reserve(bud, 1), 0);
    net_budget_add(bud, 50); /* held already: counted past the limit */
    CHECK_EQ(net_budget_held(bud), 1050);
    net_budget_release(bud, 650);
    CHECK_EQ(net_budget_held(bud), 400);
    CHECK(!net_budget_full(bud));
    net_budget_note_shrunk(bud);
    net_budget_note_paused(bud);
    net_budget_note_paused(bud);
    net_budget_stats_t st;
    net_budget_stats(bud, &st);
    CHECK_EQ(st.max_bytes, 1000);
    CHECK_EQ(st.held_bytes, 400);
    CHECK_EQ(st.fetches_shrunk, 1);
    CHECK_EQ(st.reads_paused, 2);
    net_budget_release(bud, 400);
    CHECK_EQ(net_budget_held(bud), 0);
    net_budget_free(bud);
    /* No budget: everything granted, nothing counted. */
    CHECK_EQ(net_budget_reserve(NULL, 12345), 12345);
    CHECK(!net_budget_full(NULL));
    size_t d = net_budget_default_bytes();
    CHECK(d >= (64u << 20) && d <= ((size_t)4 << 30));
}

typedef struct {
    net_budget_t *bud;
    _Atomic int done;
} budget_race_t;

static void *budget_racer(void *arg)
{
    budget_race_t *r = arg;
    for (int i = 0; i < 100000; i++) {
        size_t g = net_budget_reserve(r->bud, 7);
        net_budget_add(r->bud, 3);
        net_budget_release(r->bud, g + 3);
    }
    atomic_fetch_add(&r->done, 1);
    return NULL;
}

TEST(budget_counts_exactly_across_threads)
{
    budget_race_t r = {0};
    net_budget_new(50, &r.bud);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, budget_racer, &r);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&r.done), 4);
    CHECK_EQ(net_budget_held(r.bud), 0);
    net_budget_free(r.bud);
}

static size_t budget_held_now(void)
{
    return net_budget_held(g_budget);
}

typedef struct {
    int fd;
    const uint8_t *p;
    size_t n;
    int rc;
} sender_t;

/* Sends the rest of its request, then reads the echo: a client reads every connection at
 * at once, as responses held for one it is not reading yet count in the budget. */
static void *echo_client_main(void *arg)
{
    sender_t *w = arg;
    w->rc = send_all(w->fd, w->p, w->n);
    if (w->rc == 0 && !recv_echo(w->fd, 'e', 1, (4 << 20) - 5))
        w->rc = -1;
    return NULL;
}

/* Sends up to n bytes without blocking for longer than ms: a paused connection's bytes stay
 * in TCP. Returns what was sent. */
static size_t send_some(int fd, const uint8_t *p, size_t n, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    size_t off = 0;
    int64_t end = now_ms() + ms;
    while (off < n && now_ms() < end) {
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        ssize_t k = send(fd, p + off, n - off, MSG_DONTWAIT);
        if (k > 0)
            off += (size_t)k;
    }
    return off;
}

/* Three connections each start a 4 MiB request under a 6 MiB budget: one reserves its whole
 * size, the other two are not read (a small frame still is), and as each request finishes the
 * next one gets its room, so all three are answered (no two requests each holding half the
 * budget waiting for the other). */
TEST(budget_admits_large_requests_one_that_fits_at_a_time)
{
    net_budget_new(6u << 20, &g_budget);
    net_conn_limits_t lim;
    net_conn_limits_default(&lim);
    lim.max_frame_bytes = 8 << 20;
    server_t s;
    server_start(&s, 2, &lim, 0);
    int fds[3];
    buf_t b = {0};
    frame_add(&b, 'e', 1, (4 << 20) - 5);
    size_t sent[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = cli_connect(s.port);
        sent[i] = send_some(fds[i], b.data, 1u << 20, 1000);
    }
    usleep(200000);
    net_budget_stats_t st;
    net_budget_stats(g_budget, &st);
    /* One whole request reserved, two stashes of at most the shared buffer. */
    CHECK(st.held_bytes >= b.len - 4 && st.held_bytes <= b.len + 2 * 64 * 1024);
    CHECK(st.reads_paused >= 2);
    int other = cli_connect(s.port);
    CHECK(round_trip(other, 'e', 7, 100)); /* a small frame passes */
    close(other);
    sender_t w[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (sender_t){.fd = fds[i], .p = b.data + sent[i], .n = b.len - sent[i]};
        pthread_create(&th[i], NULL, echo_client_main, &w[i]);
    }
    int answered = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        answered += w[i].rc == 0;
        close(fds[i]);
    }
    CHECK_EQ(answered, 3);
    buf_deinit(&b);
    server_stop(&s);
    CHECK_EQ(budget_held_now(), 0);
    net_budget_free(g_budget);
    g_budget = NULL;
}

/* A request that stops arriving part way is dropped after stall_timeout_ms, whether it was
 * being read or paused for the budget, and its reservation is given back. */
TEST(stalled_partial_requests_are_dropped_and_freed)
{
    net_budget_new(6u << 20, &g_budget);
    net_conn_limits_t lim;
    net_conn_limits_default(&lim);
    lim.max_frame_bytes = 8 << 20;
    lim.stall_timeout_ms = 600;
    server_t s;
    server_start(&s, 2, &lim, 0);
    buf_t b = {0};
    frame_add(&b, 'e', 1, (4 << 20) - 5);
    int fds[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = cli_connect(s.port);
        send_some(fds[i], b.data, 1u << 20, 1000);
    }
    WAIT_FOR(budget_held_now() >= b.len - 4, 1000);
    CHECK(budget_held_now() >= b.len - 4);
    int64_t t0 = now_ms();
    int closed = 0;
    for (int i = 0; i < 2; i++)
        closed += expect_closed(fds[i], 3000);
    CHECK_EQ(closed, 2);
    CHECK(now_ms() - t0 >= 300); /* not before its time (600 ms after the last byte) */
    WAIT_FOR(budget_held_now() == 0, 2000);
    CHECK_EQ(budget_held_now(), 0);
    net_loop_stats_t ls[2];
    net_loop_stats(s.loops[0], &ls[0]);
    net_loop_stats(s.loops[1], &ls[1]);
    CHECK_EQ(ls[0].stalled + ls[1].stalled, 2);
    for (int i = 0; i < 2; i++)
        close(fds[i]);
    buf_deinit(&b);
    server_stop(&s);
    net_budget_free(g_budget);
    g_budget = NULL;
}

/* A response counts while it waits for a reader that does not read, and is given back when
 * the connection closes. */
TEST(budget_counts_unsent_responses)
{
    net_budget_new(64u << 20, &g_budget);
    server_t s;
    server_start(&s, 1, NULL, 0);
    int fd = cli_connect_buf(s.port, 4096);
    buf_t b = {0};
    frame_add(&b, 'B', 1, 0);
    CHECK(send_all(fd, b.data, b.len) == 0);
    WAIT_FOR(budget_held_now() >= BIG_RESP - (1u << 20), 2000);
    CHECK(budget_held_now() >= BIG_RESP - (1u << 20)); /* what the socket did not take */
    CHECK(budget_held_now() <= 2 * BIG_RESP + (1u << 20));
    close(fd);
    /* The closed connection gives it back; the loop may keep the buffer (counted) for 5 s. */
    WAIT_FOR(budget_held_now() == 0 || budget_held_now() == atomic_load(&g_big_taken_cap), 2000);
    net_loop_stats_t ls;
    net_loop_stats(s.loops[0], &ls);
    CHECK_EQ(budget_held_now(), (size_t)ls.kept_bytes);
    buf_deinit(&b);
    server_stop(&s);
    CHECK_EQ(budget_held_now(), 0); /* net_loop_free gave the kept buffer back too */
    net_budget_free(g_budget);
    g_budget = NULL;
}

/* ---- addresses ------------------------------------------------------------------------------- */

TEST(parse_hostport)
{
    char host[64];
    uint16_t port = 1;
    CHECK_EQ(net_parse_hostport("127.0.0.1:9092", host, sizeof(host), &port), 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_EQ(port, 9092);
    CHECK_EQ(net_parse_hostport(":0", host, sizeof(host), &port), 0);
    CHECK_STR(host, "");
    CHECK_EQ(port, 0);
    CHECK_EQ(net_parse_hostport("[::1]:65535", host, sizeof(host), &port), 0);
    CHECK_STR(host, "::1");
    CHECK_EQ(port, 65535);
    CHECK_EQ(net_parse_hostport("localhost:8081", host, sizeof(host), &port), 0);
    CHECK_STR(host, "localhost");
    const char *bad[] = {"127.0.0.1", "host:",     "host:65536", "host:12a",
                         "::1:9092",  "[::1]9092", "h:-1",       "h:123456"};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++)
        CHECK_EQ(net_parse_hostport(bad[i], host, sizeof(host), &port), -WEIR_EINVAL);
    CHECK_EQ(net_parse_hostport("abcdefgh:1", host, 8, &port), -WEIR_EINVAL);
}

TEST_MAIN()
