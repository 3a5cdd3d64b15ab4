/*
 * listener: accepts TCP connections on one loop and deals them round-robin to N loops, which
 * is how the broker spreads connections over its cores.
 *
 * The accepting loop's thread owns the listening socket and the round-robin cursor. Each
 * accepted socket travels to its loop as a net_loop_post and is opened there, on its own
 * thread. The open-connection count (for max_conns) is atomic: the accepting thread adds,
 * whichever loop closes a connection subtracts. It lives in a small reference-counted context
 * shared with the connections, so a listener can be closed (stop accepting at shutdown) while
 * its connections finish their work.
 *
 * Invariant: ctx->open counts sockets accepted and not yet closed, including those still in a
 * post queue; ctx->refs counts the listener, each queued accept and each open connection.
 */
#include "net/net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define NET_ACCEPTS_PER_EVENT 64
#define NET_ACCEPT_BACKOFF_MS 100

struct net_listener {
    net_io_t io; /* first */
    net_loop_t *loop;
    net_loop_t **loops;
    size_t n, next;
    size_t max_conns;
    uint16_t port;
    net_accept_ctx_t *ctx;
    net_timer_t backoff;      /* re-enables accepting after EMFILE and friends */
    metric_counter_t refused; /* over max_conns */
};

typedef struct {
    int fd;
    net_loop_t *loop;
    net_accept_ctx_t *ctx;
} net_accepted_t;

void net_accept_ctx_unref(net_accept_ctx_t *ctx)
{
    if (atomic_fetch_sub(&ctx->refs, 1) == 1)
        free(ctx);
}

/* On the chosen loop's thread: the accepted socket becomes a connection there. */
static void listener_adopt(void *arg)
{
    net_accepted_t *acc = arg;
    net_conn_t *conn;
    if (net_conn_open(acc->loop, acc->fd, &acc->ctx->h, &conn) != 0) {
        close(acc->fd);
        atomic_fetch_sub(&acc->ctx->open, 1);
        net_accept_ctx_unref(acc->ctx);
    } else {
        conn->accept = acc->ctx; /* the queued accept's reference moves to the connection */
        if (conn->h.on_open)
            conn->h.on_open(conn, conn->h.user);
    }
    free(acc);
}

static void listener_backoff_end(void *arg)
{
    net_listener_t *lst = arg;
    net_io_mod(lst->loop, &lst->io, EPOLLIN);
}

/* Hands one accepted socket to the next loop in turn, or closes it when at the cap. */
static void listener_dispatch(net_listener_t *lst, int fd)
{
    if (lst->max_conns && atomic_load(&lst->ctx->open) >= lst->max_conns) {
        uint64_t refused = metric_counter_get(&lst->refused);
        metric_counter_add(&lst->refused, 1);
        if (refused % 1000 == 0)
            log_warn("net", "connection cap %zu reached, refusing (%" PRIu64 " so far)",
                     lst->max_conns, refused + 1);
        close(fd);
        return;
    }
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        log_debug("net", "TCP_NODELAY: %s", strerror(errno));
    atomic_fetch_add(&lst->ctx->open, 1);
    atomic_fetch_add(&lst->ctx->refs, 1);
    net_accepted_t *acc = weir_malloc(sizeof(*acc));
    acc->fd = fd;
    acc->loop = lst->loops[lst->next++ % lst->n];
    acc->ctx = lst->ctx;
    if (acc->loop == lst->loop)
        listener_adopt(acc); /* already on the right thread */
    else
        net_loop_post(acc->loop, listener_adopt, acc);
}

static void listener_on_event(net_io_t *io, uint32_t events)
{
    net_listener_t *lst = (net_listener_t *)io;
    for (int i = 0; i < NET_ACCEPTS_PER_EVENT; i++) {
        int fd = accept4(lst->io.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            listener_dispatch(lst, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        /* Out of descriptors or memory: level triggering would report the pending connection
         * again at once, so stop listening for a moment instead of spinning. */
        log_warn("net", "accept: %s; pausing accepts for %d ms", strerror(errno),
                 NET_ACCEPT_BACKOFF_MS);
        net_io_mod(lst->loop, &lst->io, 0);
        net_timer_start(lst->loop, &lst->backoff, NET_ACCEPT_BACKOFF_MS);
        return;
    }
}

/* Resolves host (numeric, or a name such as "localhost"; empty = every IPv4 address) and
 * binds a listening socket to the first address that works. */
static int listener_bind(const char *host, uint16_t port, int *out_fd)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    if (!host || !*host) {
        hints.ai_family = AF_INET;
        host = NULL;
    }
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    struct addrinfo *res;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        log_error("net", "listen address %s: %s", host ? host : "", gai_strerror(rc));
        return -WEIR_EINVAL;
    }
    int err = -WEIR_EIO;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
            *out_fd = fd;
            err = 0;
            break;
        }
        log_error("net", "listen on %s:%u: %s", host ? host : "0.0.0.0", port, strerror(errno));
        close(fd);
    }
    freeaddrinfo(res);
    return err;
}

static uint16_t listener_bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int net_listener_open(net_loop_t *loop, net_loop_t **loops, size_t n, const char *host,
                      uint16_t port, const net_conn_handler_t *h, size_t max_conns,
                      net_listener_t **out)
{
    NET_ASSERT_LOOP_THREAD(loop);
    WEIR_ASSERT(n > 0 && loops && h && h->on_frame);
    int fd;
    int err = listener_bind(host, port, &fd);
    if (err != 0)
        return err;
    net_listener_t *lst = weir_calloc(1, sizeof(*lst));
    lst->io.fd = fd;
    lst->io.on_event = listener_on_event;
    lst->loop = loop;
    lst->loops = weir_malloc(n * sizeof(loops[0]));
    memcpy(lst->loops, loops, n * sizeof(loops[0]));
    lst->n = n;
    lst->max_conns = max_conns;
    lst->port = listener_bound_port(fd);
    lst->ctx = weir_calloc(1, sizeof(*lst->ctx));
    atomic_init(&lst->ctx->open, 0);
    atomic_init(&lst->ctx->refs, 1);
    lst->ctx->h = *h;
    net_timer_init(&lst->backoff, listener_backoff_end, lst);
    err = net_io_add(loop, &lst->io, EPOLLIN);
    if (err != 0)
        goto out_free_lst;
    *out = lst;
    return 0;

out_free_lst:
    net_accept_ctx_unref(lst->ctx);
    free(lst->loops);
    free(lst);
    close(fd);
    return err;
}

void net_listener_close(net_listener_t *lst)
{
    if (!lst)
        return;
    NET_ASSERT_LOOP_THREAD(lst->loop);
    net_timer_stop(lst->loop, &lst->backoff);
    net_io_del(lst->loop, &lst->io);
    close(lst->io.fd);
    net_accept_ctx_unref(lst->ctx);
    free(lst->loops);
    free(lst);
}

uint16_t net_listener_port(const net_listener_t *lst)
{
    return lst->port;
}

size_t net_listener_conn_count(const net_listener_t *lst)
{
    return atomic_load(&lst->ctx->open);
}

/* ---- addresses ------------------------------------------------------------------------------- */

int net_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port)
{
    const char *colon, *h = s;
    size_t hlen;
    if (s[0] == '[') {
        const char *close_br = strchr(s, ']');
        if (!close_br || close_br[1] != ':')
            return -WEIR_EINVAL;
        h = s + 1;
        hlen = (size_t)(close_br - h);
        colon = close_br + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -WEIR_EINVAL;
        hlen = (size_t)(colon - s);
        if (memchr(s, ':', hlen))
            return -WEIR_EINVAL; /* a bare IPv6 address needs brackets */
    }
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return -WEIR_EINVAL;
    unsigned v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -WEIR_EINVAL;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > 65535 || hlen >= host_len)
        return -WEIR_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)v;
    return 0;
}

uint64_t net_listener_refused(const net_listener_t *lst)
{
    return metric_counter_get(&lst->refused);
}
