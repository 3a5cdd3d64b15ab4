/*
 * The HTTPS front: TLS on OpenSSL with the Kafka listeners' context (net_tls_ssl_new: the same
 * keystore, truststore, ssl.client.auth, protocols and ciphers, and the certificates reloaded
 * when their files change), in front of the HTTP server, which speaks plain HTTP on one end of
 * a socket pair per connection (libmicrohttpd's own TLS is GnuTLS: another library, other
 * settings, no reload).
 *
 * Each accepted connection gets a thread: the handshake, bounded by
 * weir.ssl.handshake.timeout.ms (a failure is logged with OpenSSL's reason and the connection
 * closed before the HTTP server sees it), then the pump: decrypted bytes to the HTTP side,
 * answers back through SSL_write, 16 KiB each way, the socket pair's end and the client's
 * socket non-blocking under poll. The HTTP server closes an idle connection after its timeout,
 * which ends the pump. A connection past HTTPS_FRONT_CONNS_MAX is closed at accept.
 *
 * Invariant: a connection's sockets are closed under the front's mutex, the one
 * https_front_stop shuts them down under, so stop never touches a number already reused. The
 * HTTP server's end of a pair is known by its number (http_fd) from before the server sees it;
 * a number the server closed and the system gave again is held by two connections for a
 * moment, and the newer hand-over (seq) is the one the server's connection is.
 */
#include "server/https_front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

enum { PUMP_BYTES = 16 * 1024 };

typedef struct front_conn front_conn_t;

struct https_front {
    int lfd;
    uint16_t port;
    net_tls_ctx_t *tls;
    http_server_t *http;
    pthread_t acceptor;
    pthread_mutex_t mu;  /* guards conns, nconns, stopping and every connection's fds */
    pthread_cond_t idle; /* signalled when a connection ends */
    front_conn_t *conns;
    size_t nconns;
    uint64_t handed; /* connections handed over so far */
    bool stopping;
};

struct front_conn {
    https_front_t *f;
    front_conn_t *next, *prev;
    int cfd;      /* the client's socket */
    int pfd;      /* our end of the pair to the HTTP server; -1 before the handshake is done */
    int http_fd;  /* the pair's other end, the HTTP server's (its number only: not ours) */
    uint64_t seq; /* when it was handed over: the newest holder of an http_fd number wins */
    char *dn;     /* the verified client certificate's subject, or NULL */
    SSL *ssl;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char peer_ip[64];
    /* client -> HTTP and HTTP -> client: bytes [off, len) wait to be written */
    uint8_t in[PUMP_BYTES], out[PUMP_BYTES];
    size_t in_off, in_len, out_off, out_len;
};

/* ---- one connection ---------------------------------------------------------------------------
 */

static void ssl_reason(char *out, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, out, cap);
    else
        snprintf(out, cap, "the connection closed");
    ERR_clear_error();
}

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc = poll(&p, 1, timeout_ms);
    return rc > 0 && !(p.revents & (POLLERR | POLLNVAL)) ? 0 : -1;
}

static int handshake(front_conn_t *c)
{
    int64_t limit = net_tls_handshake_timeout_ms(c->f->tls);
    int64_t deadline = clock_mono_ms() + limit;
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(c->ssl, r);
        int64_t left = deadline - clock_mono_ms();
        bool wants = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
        if (wants && left > 0 &&
            wait_fd(c->cfd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, (int)left) == 0)
            continue;
        char why[256];
        if (wants && clock_mono_ms() >= deadline)
            snprintf(why, sizeof(why), "not finished in %lld ms", (long long)limit);
        else
            ssl_reason(why, sizeof(why));
        log_warn("http", "HTTPS connection from %s closed: TLS handshake failed: %s", c->peer_ip,
                 why);
        return -1;
    }
}

/* The decrypted stream goes to the HTTP server through a socket pair: 0, or -1 (closed). */
static int hand_over(front_conn_t *c)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
        log_warn("http", "HTTPS connection from %s closed: socketpair: %s", c->peer_ip,
                 strerror(errno));
        return -1;
    }
    c->dn = net_tls_ssl_peer_dn(c->ssl);
    fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) | O_NONBLOCK);
    /* Known before the HTTP server can read a request on it (https_front_peer_dn). */
    pthread_mutex_lock(&c->f->mu);
    c->pfd = sp[0];
    c->http_fd = sp[1];
    c->seq = ++c->f->handed;
    pthread_mutex_unlock(&c->f->mu);
    if (http_server_add_connection(c->f->http, sp[1], (struct sockaddr *)&c->peer, c->peer_len) <
        0) {
        pthread_mutex_lock(&c->f->mu);
        c->http_fd = -1;
        pthread_mutex_unlock(&c->f->mu);
        log_warn("http", "HTTPS connection from %s closed: the HTTP server refused it", c->peer_ip);
        return -1;
    }
    return 0;
}

/* What SSL_read / SSL_write asked for: the poll event to wait for, or -1 (the end). */
static int ssl_want(front_conn_t *c, int r)
{
    int e = SSL_get_error(c->ssl, r);
    return e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : -1;
}

/* One round of moving bytes both ways: 1 after progress, 0 when it must wait (*cev and *pev
 * say for what), -1 at the end of either side. */
static int pump_once(front_conn_t *c, short *cev, short *pev)
{
    int progress = 0, w;
    ERR_clear_error();
    if (c->in_len == 0) {
        int n = SSL_read(c->ssl, c->in, sizeof(c->in));
        if (n > 0) {
            c->in_off = 0;
            c->in_len = (size_t)n;
            progress = 1;
        } else if ((w = ssl_want(c, n)) < 0) {
            return -1; /* close_notify, a reset, or a TLS error: the client is gone */
        } else {
            *cev |= (short)w;
        }
    }
    if (c->in_len > c->in_off) {
        ssize_t k = send(c->pfd, c->in + c->in_off, c->in_len - c->in_off, MSG_NOSIGNAL);
        if (k > 0) {
            c->in_off += (size_t)k;
            if (c->in_off == c->in_len)
                c->in_off = c->in_len = 0;
            progress = 1;
        } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            *pev |= POLLOUT;
        } else if (!(k < 0 && errno == EINTR)) {
            return -1;
        }
    }
    if (c->out_len == 0) {
        ssize_t k = recv(c->pfd, c->out, sizeof(c->out), 0);
        if (k > 0) {
            c->out_off = 0;
            c->out_len = (size_t)k;
            progress = 1;
        } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            *pev |= POLLIN;
        } else if (!(k < 0 && errno == EINTR)) {
            return -1; /* the HTTP server closed the connection: all it wrote was sent */
        }
    }
    if (c->out_len > c->out_off) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
        if (n > 0) {
            c->out_off += (size_t)n;
            if (c->out_off == c->out_len)
                c->out_off = c->out_len = 0;
            progress = 1;
        } else if ((w = ssl_want(c, n)) < 0) {
            return -1;
        } else {
            *cev |= (short)w;
        }
    }
    return progress;
}

static void pump(front_conn_t *c)
{
    for (;;) {
        short cev = 0, pev = 0;
        int rc = pump_once(c, &cev, &pev);
        if (rc < 0)
            break;
        if (rc > 0)
            continue;
        struct pollfd p[2] = {{.fd = c->cfd, .events = cev}, {.fd = c->pfd, .events = pev}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if ((p[0].revents | p[1].revents) & (POLLERR | POLLNVAL))
            break;
    }
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* best effort: one close_notify, no wait for the client's */
}

static void conn_end(front_conn_t *c)
{
    https_front_t *f = c->f;
    SSL_free(c->ssl);
    free(c->dn);
    pthread_mutex_lock(&f->mu);
    close(c->cfd);
    if (c->pfd >= 0)
        close(c->pfd);
    if (c->prev)
        c->prev->next = c->next;
    else
        f->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    f->nconns--;
    pthread_cond_broadcast(&f->idle);
    pthread_mutex_unlock(&f->mu); /* f may be freed from here on */
    free(c);
}

static void *conn_main(void *arg)
{
    front_conn_t *c = arg;
    if (handshake(c) == 0 && hand_over(c) == 0)
        pump(c);
    conn_end(c);
    return NULL;
}

/* ---- accepting ----------------------------------------------------------------------------------
 */

static void peer_ip(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)(const void *)ss)->sin_addr;
    if (!inet_ntop(ss->ss_family, a, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

/* Starts fd's thread, or closes fd (over the bound, stopping, no memory for a thread). */
static void conn_start(https_front_t *f, int fd, const struct sockaddr_storage *ss, socklen_t sl)
{
    front_conn_t *c = weir_calloc(1, sizeof(*c));
    c->f = f;
    c->cfd = fd;
    c->pfd = -1;
    c->http_fd = -1;
    c->peer = *ss;
    c->peer_len = sl;
    peer_ip(ss, c->peer_ip, sizeof(c->peer_ip));
    c->ssl = net_tls_ssl_new(f->tls);
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
        goto out_close;
    SSL_set_accept_state(c->ssl);
    pthread_mutex_lock(&f->mu);
    if (f->stopping || f->nconns >= HTTPS_FRONT_CONNS_MAX) {
        pthread_mutex_unlock(&f->mu);
        log_warn("http", "HTTPS connection from %s closed: %s", c->peer_ip,
                 f->stopping ? "stopping" : "too many connections");
        goto out_close;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = pthread_create(&t, &attr, conn_main, c);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        c->next = f->conns;
        if (f->conns)
            f->conns->prev = c;
        f->conns = c;
        f->nconns++;
    }
    pthread_mutex_unlock(&f->mu); /* the thread's conn_end waits for this lock */
    if (rc == 0)
        return;
    log_warn("http", "HTTPS connection from %s closed: no thread", c->peer_ip);
out_close:
    SSL_free(c->ssl);
    close(fd);
    free(c);
}

static void *accept_main(void *arg)
{
    https_front_t *f = arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(f->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_start(f, fd, &ss, sl);
            continue;
        }
        pthread_mutex_lock(&f->mu);
        bool stop = f->stopping;
        pthread_mutex_unlock(&f->mu);
        if (stop)
            return NULL;
        if (errno != EINTR && errno != ECONNABORTED)
            usleep(10000); /* out of descriptors: let connections end before trying again */
    }
}

static int listen_on(const char *host, uint16_t port, int *out_fd, uint16_t *out_port)
{
    struct sockaddr_storage sa;
    size_t len;
    if (http_listen_addr(host, port, &sa, &len) < 0)
        return -WEIR_EINVAL;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    socklen_t sl = sizeof(sa);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, (socklen_t)len) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        log_error("http", "cannot listen on %s:%u: %s", host ? host : "", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -WEIR_EIO;
    }
    *out_fd = fd;
    *out_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)(void *)&sa)->sin_port);
    return 0;
}

int https_front_start(const char *host, uint16_t port, net_tls_ctx_t *tls, http_server_t *http,
                      https_front_t **out)
{
    https_front_t *f = weir_calloc(1, sizeof(*f));
    int rc = listen_on(host, port, &f->lfd, &f->port);
    if (rc < 0) {
        free(f);
        return rc;
    }
    f->tls = tls;
    f->http = http;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->idle, NULL);
    *out = f; /* before the first connection: the auth check may ask for a peer's DN */
    if (pthread_create(&f->acceptor, NULL, accept_main, f) != 0) {
        *out = NULL;
        close(f->lfd);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->idle);
        free(f);
        return -WEIR_ENOMEM;
    }
    return 0;
}

bool https_front_peer_dn(https_front_t *f, int http_fd, char *out, size_t cap)
{
    const front_conn_t *best = NULL;
    pthread_mutex_lock(&f->mu);
    for (const front_conn_t *c = f->conns; c; c = c->next)
        if (c->http_fd == http_fd && http_fd >= 0 && (!best || c->seq > best->seq))
            best = c;
    bool found = best && best->dn;
    if (found)
        snprintf(out, cap, "%s", best->dn);
    pthread_mutex_unlock(&f->mu);
    return found;
}

uint16_t https_front_port(const https_front_t *f)
{
    return f->port;
}

void https_front_stop(https_front_t *f)
{
    if (!f || f->stopping)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_mutex_unlock(&f->mu);
    shutdown(f->lfd, SHUT_RDWR); /* wakes accept4 */
    pthread_join(f->acceptor, NULL);
    pthread_mutex_lock(&f->mu);
    for (front_conn_t *c = f->conns; c; c = c->next) {
        shutdown(c->cfd, SHUT_RDWR); /* wakes its poll; the thread ends and closes */
        if (c->pfd >= 0)
            shutdown(c->pfd, SHUT_RDWR);
    }
    while (f->nconns > 0)
        pthread_cond_wait(&f->idle, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

void https_front_free(https_front_t *f)
{
    if (!f)
        return;
    close(f->lfd);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->idle);
    free(f);
}
