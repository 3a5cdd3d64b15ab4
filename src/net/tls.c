/*
 * tls: TLS for connections, on OpenSSL: the server context built from PEM files (Kafka's
 * ssl.* settings) and the TLS transport that conn.c calls through its per-connection vtable.
 *
 * A plaintext connection's transport is plain_transport (recv/sendmsg): the only cost TLS adds
 * to it is one indirect call per system call, none per byte. A TLS connection does its
 * handshake inside its first reads (SSL_set_accept_state: SSL_read drives it), non-blocking,
 * on the connection's loop, with a timer that closes a handshake not finished in time. A
 * handshake that fails (a client speaking plaintext to a TLS port, an unknown CA, no client
 * certificate when one is required) closes the connection with the reason logged.
 *
 * Reads: OpenSSL reads from our own socket BIO (tls_in_*), which takes in up to 64 KiB with one
 * recv() and hands OpenSSL each record's header and body from there. Clients write many small
 * records (librdkafka one per buffer of a request, a few KiB each), and a plain socket BIO
 * costs two read() calls per record; OpenSSL's own read-ahead would do one, but moves the
 * bytes left in its buffer to the front before every record (a copy of up to the whole buffer
 * per record). The BIO's buffer is given back whenever a read leaves it empty, so an idle
 * connection holds none. tls_recv decrypts record after record into the caller's buffer until
 * OpenSSL wants bytes from a drained socket (then what waits is part of a record, and the rest
 * raises an epoll event) or the caller's buffer is full (then whole records may wait in the
 * BIO or the SSL object with the socket empty: tls_pending() says so, and conn.c reads again
 * at the end of the loop's iteration instead of waiting for an epoll event that will not
 * come). A read that needs to write (handshake records, a key update) with a full socket
 * buffer sets conn->tp_wants_write, so EPOLLOUT resumes the read.
 *
 * Writes: SSL_MODE_ENABLE_PARTIAL_WRITE and ACCEPT_MOVING_WRITE_BUFFER. A response of 16 KiB
 * or more goes to SSL_write from its own buffer, wherever in it the last write stopped (a
 * fetch response is never copied on the way to the cipher); smaller pending responses are
 * gathered into records of up to 16 KiB (pipelined small answers share a record). A write
 * that could not finish is retried with the same bytes from the same offset, as OpenSSL
 * requires: the response queue only moves by what was written, and the choice between the
 * two depends only on the bytes from that offset.
 *
 * Cipher: unless ssl.cipher.suites says otherwise, TLS 1.3 prefers AES-128-GCM (the server's
 * order wins): as safe for this use as AES-256-GCM and about a third cheaper per byte.
 *
 * Threads: a context is made before the loops accept and freed after the connections are
 * gone (SSL objects hold their own reference); a connection's SSL object is its loop's. The
 * OpenSSL context inside may be replaced when the PEM files change (maybe_reload), under the
 * context's mutex, which each new connection takes once.
 */
#include "net/net_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TLS_RECORD_BYTES (16 * 1024)
/* The read BIO's buffer: one recv() takes in up to four full records. */
#define TLS_IN_BYTES (64 * 1024)
/* TLS 1.3 suites when ssl.cipher.suites names none: OpenSSL's three, AES-128-GCM first. */
#define TLS_SUITES_DEFAULT                                                                         \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* The files a context was built from, as stat saw them: a change of any field means new
 * contents (a rename over the file changes the inode, an edit in place the mtime or size). */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} tls_file_id_t;

struct net_tls_ctx {
    pthread_mutex_t mu; /* guards ctx, files, checked_ms: loops start connections in parallel */
    SSL_CTX *ctx;
    int64_t handshake_timeout_ms;
    net_tls_config_t cfg;   /* a copy (owned strings), to build the context again */
    tls_file_id_t files[2]; /* keystore, truststore */
    int64_t checked_ms;     /* when the files were last looked at */
};

/* How often a new connection looks whether the PEM files changed (at most one stat each). */
#define TLS_RELOAD_CHECK_MS 1000

/* The read BIO's state: bytes received and not yet handed to OpenSSL are buf[off, len). */
typedef struct {
    int fd;
    bool eof; /* recv() returned 0 (BIO_eof: OpenSSL's "unexpected EOF" check) */
    uint8_t *buf;
    size_t off, len;
} tls_in_t;

typedef struct {
    SSL *ssl;
    tls_in_t *in; /* owned by the SSL object's read BIO */
    net_timer_t hs_timer;
    bool hs_done;
    bool more;     /* the last read stopped with the caller's buffer full: records may wait */
    bool err_next; /* the last read handed over bytes before an error, to report next time */
    char *peer_dn; /* the client certificate's subject (RFC 2253), or NULL */
} tls_state_t;

/* ---- context ------------------------------------------------------------------------------- */

static void tls_err(char *err, size_t err_len, const char *what, const char *path)
{
    unsigned long e = ERR_peek_last_error();
    char reason[256];
    ERR_error_string_n(e, reason, sizeof(reason));
    snprintf(err, err_len, "%s%s%s: %s", what, path ? " " : "", path ? path : "",
             e ? reason : "failed");
    ERR_clear_error();
}

static int tls_key_password_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pw = u;
    if (!pw)
        return 0;
    size_t n = strlen(pw);
    if (n > (size_t)size)
        return 0;
    memcpy(buf, pw, n);
    return (int)n;
}

/* "TLSv1.2,TLSv1.3" -> the lowest and highest enabled versions (OpenSSL has a range, not a
 * set: "TLSv1.3" alone or both are the usual choices). */
static int parse_protocols(const char *list, int *lo, int *hi)
{
    *lo = 0;
    *hi = 0;
    const char *p = list && *list ? list : "TLSv1.2,TLSv1.3";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t n = (size_t)(e - p);
        int v = 0;
        if (n == 7 && memcmp(p, "TLSv1.2", 7) == 0)
            v = TLS1_2_VERSION;
        else if (n == 7 && memcmp(p, "TLSv1.3", 7) == 0)
            v = TLS1_3_VERSION;
        else if (n > 0)
            return -WEIR_EINVAL; /* TLSv1, TLSv1.1, SSLv3: not offered */
        if (v) {
            *lo = *lo ? WEIR_MIN(*lo, v) : v;
            *hi = WEIR_MAX(*hi, v);
        }
        p = e;
    }
    return *lo ? 0 : -WEIR_EINVAL;
}

/* Kafka's ssl.cipher.suites is one list; OpenSSL takes TLS 1.3 suites (TLS_*) and TLS 1.2
 * ciphers separately. A list without TLS 1.3 suites leaves them at TLS_SUITES_DEFAULT. */
static int set_ciphers(SSL_CTX *ctx, const char *list, char *err, size_t err_len)
{
    buf_t v12 = {0}, v13 = {0};
    const char *p = list ? list : "";
    int rc = 0;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if (e > p) {
            buf_t *b = strncmp(p, "TLS_", 4) == 0 ? &v13 : &v12;
            if (b->len)
                buf_append_u8(b, ':');
            buf_append(b, p, (size_t)(e - p));
        }
        p = e;
    }
    if (v13.len == 0)
        buf_append(&v13, TLS_SUITES_DEFAULT, strlen(TLS_SUITES_DEFAULT));
    buf_append_u8(&v12, 0);
    buf_append_u8(&v13, 0);
    if (v12.len > 1 && SSL_CTX_set_cipher_list(ctx, (char *)v12.data) != 1) {
        tls_err(err, err_len, "ssl.cipher.suites", (char *)v12.data);
        rc = -WEIR_EINVAL;
    }
    if (rc == 0 && v13.len > 1 && SSL_CTX_set_ciphersuites(ctx, (char *)v13.data) != 1) {
        tls_err(err, err_len, "ssl.cipher.suites", (char *)v13.data);
        rc = -WEIR_EINVAL;
    }
    buf_deinit(&v12);
    buf_deinit(&v13);
    return rc;
}

/* An OpenSSL context from cfg's files and settings. */
static int build_ctx(const net_tls_config_t *cfg, SSL_CTX **out, char *err, size_t err_len)
{
    if (!cfg->keystore_location || !*cfg->keystore_location) {
        snprintf(err, err_len, "a TLS listener needs ssl.keystore.location (PEM chain and key)");
        return -WEIR_EINVAL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_err(err, err_len, "SSL_CTX_new", NULL);
        return -WEIR_ENOMEM;
    }
    int rc = -WEIR_EINVAL;
    int lo, hi;
    if (parse_protocols(cfg->enabled_protocols, &lo, &hi) < 0) {
        snprintf(err, err_len, "ssl.enabled.protocols '%s': only TLSv1.2 and TLSv1.3",
                 cfg->enabled_protocols);
        goto out_free_ctx;
    }
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, tls_key_password_cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)cfg->key_password);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->keystore_location) != 1) {
        tls_err(err, err_len, "ssl.keystore.location: no certificate chain in",
                cfg->keystore_location);
        goto out_free_ctx;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->keystore_location, SSL_FILETYPE_PEM) != 1) {
        tls_err(err, err_len,
                "ssl.keystore.location: no private key (or a wrong ssl.key.password) in",
                cfg->keystore_location);
        goto out_free_ctx;
    }
    /* The callback's user data points into cfg, which does not outlive this call. */
    SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_err(err, err_len, "ssl.keystore.location: the key does not match the certificate in",
                cfg->keystore_location);
        goto out_free_ctx;
    }
    if (set_ciphers(ctx, cfg->cipher_suites, err, err_len) < 0)
        goto out_free_ctx;
    if (cfg->client_auth != NET_TLS_CLIENT_AUTH_NONE) {
        if (!cfg->truststore_location || !*cfg->truststore_location) {
            snprintf(err, err_len, "ssl.client.auth needs ssl.truststore.location (PEM CAs)");
            goto out_free_ctx;
        }
        if (SSL_CTX_load_verify_locations(ctx, cfg->truststore_location, NULL) != 1) {
            tls_err(err, err_len, "ssl.truststore.location", cfg->truststore_location);
            goto out_free_ctx;
        }
        STACK_OF(X509_NAME) *cas = SSL_load_client_CA_file(cfg->truststore_location);
        if (cas)
            SSL_CTX_set_client_CA_list(ctx, cas);
        int mode = SSL_VERIFY_PEER;
        if (cfg->client_auth == NET_TLS_CLIENT_AUTH_REQUIRED)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
    }
    /* No session resumption across connections: each handshake authenticates afresh (a
     * ticket would carry a client certificate's identity past a truststore change). */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    *out = ctx;
    return 0;

out_free_ctx:
    SSL_CTX_free(ctx);
    return rc;
}

static void file_id(const char *path, tls_file_id_t *id)
{
    struct stat st;
    memset(id, 0, sizeof(*id));
    if (path && *path && stat(path, &st) == 0)
        *id = (tls_file_id_t){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
}

static bool file_id_same(const tls_file_id_t *a, const tls_file_id_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static char *dup_or_null(const char *s)
{
    return s ? weir_strdup(s) : NULL;
}

int net_tls_ctx_new(const net_tls_config_t *cfg, net_tls_ctx_t **out, char *err, size_t err_len)
{
    net_tls_ctx_t *t = weir_calloc(1, sizeof(*t));
    file_id(cfg->keystore_location, &t->files[0]);
    file_id(cfg->truststore_location, &t->files[1]);
    int rc = build_ctx(cfg, &t->ctx, err, err_len);
    if (rc < 0) {
        free(t);
        return rc;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->cfg = *cfg;
    t->cfg.keystore_location = dup_or_null(cfg->keystore_location);
    t->cfg.key_password = dup_or_null(cfg->key_password);
    t->cfg.truststore_location = dup_or_null(cfg->truststore_location);
    t->cfg.enabled_protocols = dup_or_null(cfg->enabled_protocols);
    t->cfg.cipher_suites = dup_or_null(cfg->cipher_suites);
    t->handshake_timeout_ms = cfg->handshake_timeout_ms > 0 ? cfg->handshake_timeout_ms : 10000;
    t->checked_ms = clock_mono_ms();
    *out = t;
    return 0;
}

/* Certificates are reloaded without a restart: at most once a second a new connection looks
 * whether the keystore or truststore file changed, and if so builds a new context from them.
 * Connections already open keep the context they started with (each SSL holds a reference);
 * a new file that does not load is logged and the old context stays. mu held. */
static void maybe_reload(net_tls_ctx_t *t)
{
    int64_t now = clock_mono_ms();
    if (now - t->checked_ms < TLS_RELOAD_CHECK_MS)
        return;
    t->checked_ms = now;
    tls_file_id_t ks, ts;
    file_id(t->cfg.keystore_location, &ks);
    file_id(t->cfg.truststore_location, &ts);
    if (file_id_same(&ks, &t->files[0]) && file_id_same(&ts, &t->files[1]))
        return;
    t->files[0] = ks; /* tried once per change: a broken file is not parsed every second */
    t->files[1] = ts;
    SSL_CTX *ctx;
    char err[512];
    if (build_ctx(&t->cfg, &ctx, err, sizeof(err)) < 0) {
        log_error("net", "TLS files changed but do not load, keeping the previous ones: %s", err);
        return;
    }
    SSL_CTX_free(t->ctx);
    t->ctx = ctx;
    log_info("net", "TLS files changed: %s reloaded for new connections", t->cfg.keystore_location);
}

void net_tls_ctx_free(net_tls_ctx_t *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->mu);
    free((char *)t->cfg.keystore_location);
    free((char *)t->cfg.key_password);
    free((char *)t->cfg.truststore_location);
    free((char *)t->cfg.enabled_protocols);
    free((char *)t->cfg.cipher_suites);
    free(t);
}

/* ---- the read BIO ---------------------------------------------------------------------------- */

/* Like OpenSSL's socket BIO: retry flags on EAGAIN, 0 bytes and the EOF flag at the end, errno
 * left for SSL_ERROR_SYSCALL; but reads of less than a buffer come from the buffer. */
static int tls_in_read(BIO *b, char *out, size_t outl, size_t *readbytes)
{
    tls_in_t *in = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *readbytes = 0;
    if (in->off == in->len) {
        bool direct = outl >= TLS_IN_BYTES;
        if (!direct && !in->buf)
            in->buf = weir_malloc(TLS_IN_BYTES);
        ssize_t r;
        do
            r = recv(in->fd, direct ? (void *)out : in->buf, direct ? outl : TLS_IN_BYTES, 0);
        while (r < 0 && errno == EINTR);
        if (r <= 0) {
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                BIO_set_retry_read(b);
            else if (r == 0)
                in->eof = true;
            return 0;
        }
        if (direct) {
            *readbytes = (size_t)r;
            return 1;
        }
        in->off = 0;
        in->len = (size_t)r;
    }
    size_t n = WEIR_MIN(outl, in->len - in->off);
    memcpy(out, in->buf + in->off, n);
    in->off += n;
    *readbytes = n;
    return 1;
}

static long tls_in_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    tls_in_t *in = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_EOF:
        return in->eof;
    case BIO_CTRL_PENDING:
        return (long)(in->len - in->off);
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

static int tls_in_destroy(BIO *b)
{
    tls_in_t *in = BIO_get_data(b);
    if (in) {
        free(in->buf);
        free(in);
    }
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *tls_in_method;

static void tls_in_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "weir socket in");
    if (m && (BIO_meth_set_read_ex(m, tls_in_read) != 1 || BIO_meth_set_ctrl(m, tls_in_ctrl) != 1 ||
              BIO_meth_set_destroy(m, tls_in_destroy) != 1)) {
        BIO_meth_free(m);
        m = NULL;
    }
    tls_in_method = m;
}

/* A read BIO on fd; its state is *in (freed with the BIO). NULL if OpenSSL has no memory. */
static BIO *tls_in_new(int fd, tls_in_t **in)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tls_in_method_init);
    BIO *b = tls_in_method ? BIO_new(tls_in_method) : NULL;
    if (!b)
        return NULL;
    *in = weir_calloc(1, sizeof(**in));
    (*in)->fd = fd;
    BIO_set_data(b, *in);
    BIO_set_init(b, 1);
    return b;
}

/* Gives the buffer back once OpenSSL has taken every byte of it: idle connections hold none. */
static void tls_in_release(tls_in_t *in)
{
    if (in->buf && in->off == in->len) {
        free(in->buf);
        in->buf = NULL;
        in->off = in->len = 0;
    }
}

/* ---- the transport ------------------------------------------------------------------------- */

static tls_state_t *tls_of(const net_conn_t *conn)
{
    return conn->tp_state;
}

/* Logs why the connection fails (OpenSSL's reason: "wrong version number" for plaintext sent
 * to a TLS port, "certificate verify failed", "peer did not return a certificate") and
 * closes it. */
static void tls_fail(net_conn_t *conn, const char *when)
{
    tls_state_t *t = tls_of(conn);
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    if (!t->hs_done)
        log_warn("net", "%s: TLS handshake failed: %s, closing", conn->peer,
                 why ? why : "connection reset");
    else
        log_debug("net", "%s: TLS %s failed: %s, closing", conn->peer, when,
                  why ? why : "connection reset");
    ERR_clear_error();
}

static void tls_handshake_expired(void *arg)
{
    net_conn_t *conn = arg;
    log_warn("net", "%s: TLS handshake not finished within %" PRId64 " ms, closing", conn->peer,
             conn->tls_ctx->handshake_timeout_ms);
    net_conn_close(conn);
}

char *net_tls_ssl_peer_dn(SSL *ssl)
{
    char *dn = NULL;
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert) {
        BIO *bio = BIO_new(BIO_s_mem());
        if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
            char *p;
            long n = BIO_get_mem_data(bio, &p);
            if (n > 0)
                dn = weir_strndup(p, (size_t)n);
        }
        BIO_free(bio);
        X509_free(cert);
    }
    return dn;
}

static void tls_handshake_done(net_conn_t *conn, tls_state_t *t)
{
    t->hs_done = true;
    net_timer_stop(conn->loop, &t->hs_timer);
    t->peer_dn = net_tls_ssl_peer_dn(t->ssl);
    log_debug("net", "%s: TLS %s, %s%s%s", conn->peer, SSL_get_version(t->ssl),
              SSL_get_cipher_name(t->ssl), t->peer_dn ? ", client " : "",
              t->peer_dn ? t->peer_dn : "");
}

/* The socket is drained: acknowledge what was read now rather than after the kernel's delayed
 * ACK (40 ms). Clients that write one request as several TLS records, one system call each
 * (librdkafka writes a record per buffer), with Nagle on (librdkafka's default) send the
 * second record only once the first is acknowledged: without this a TLS request waits 40 ms
 * where a plaintext one (one sendmsg) does not. TCP_QUICKACK does not stick, so it is set
 * again after each read; one system call per read, on TLS connections only. */
static void tls_ack_now(const net_conn_t *conn)
{
    int one = 1;
    (void)setsockopt(conn->io.fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static ssize_t tls_recv(net_conn_t *conn, uint8_t *p, size_t n)
{
    tls_state_t *t = tls_of(conn);
    size_t got = 0;
    t->more = false;
    t->err_next = false;
    /* The error queue is empty after a call that succeeded: cleared once, not per record. */
    ERR_clear_error();
    /* Fill the buffer from as many records as are there (see the top of the file). */
    while (got < n) {
        size_t r = 0;
        int ok = SSL_read_ex(t->ssl, p + got, n - got, &r);
        if (!t->hs_done && SSL_is_init_finished(t->ssl)) {
            tls_handshake_done(conn, t);
            ERR_clear_error(); /* nothing the certificate's printing left may look like ours */
        }
        if (ok == 1) {
            got += r;
            continue;
        }
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_WANT_READ) {
            tls_ack_now(conn);
            tls_in_release(t->in);
            return (ssize_t)got;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            conn->tp_wants_write = true;
            return (ssize_t)got;
        }
        if (got > 0) {
            t->more = t->err_next = true; /* hand over what was read; the error next */
            return (ssize_t)got;
        }
        if (e == SSL_ERROR_ZERO_RETURN)
            return NET_TP_EOF;
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
            if (!t->hs_done)
                log_warn("net", "%s: TLS handshake failed: connection closed by the peer",
                         conn->peer);
            return NET_TP_EOF;
        }
        tls_fail(conn, "read");
        return NET_TP_ERROR;
    }
    t->more = true;
    tls_in_release(t->in);
    return (ssize_t)got;
}

/* Where the next SSL_write starts and how many bytes it takes: a response of a record or more
 * from its own buffer, from wherever the last write stopped in it; smaller ones gathered into
 * rec. Depends only on the bytes from (i, ioff), so a retry after WANT_WRITE passes the same
 * bytes again, as OpenSSL requires. */
static const uint8_t *tls_next_chunk(const struct iovec *iov, int cnt, int i, size_t ioff,
                                     uint8_t *rec, size_t *len)
{
    if (iov[i].iov_len - ioff >= TLS_RECORD_BYTES) {
        *len = iov[i].iov_len - ioff;
        return (const uint8_t *)iov[i].iov_base + ioff;
    }
    size_t n = 0;
    while (i < cnt && n < TLS_RECORD_BYTES) {
        size_t take = WEIR_MIN(iov[i].iov_len - ioff, TLS_RECORD_BYTES - n);
        memcpy(rec + n, (const uint8_t *)iov[i].iov_base + ioff, take);
        n += take;
        ioff += take;
        if (ioff == iov[i].iov_len) {
            i++;
            ioff = 0;
        }
    }
    *len = n;
    return rec;
}

static ssize_t tls_sendv(net_conn_t *conn, const struct iovec *iov, int cnt)
{
    tls_state_t *t = tls_of(conn);
    uint8_t rec[TLS_RECORD_BYTES];
    size_t sent = 0;
    int i = 0;
    size_t ioff = 0;
    ERR_clear_error();
    while (i < cnt) {
        size_t len, w = 0;
        const uint8_t *src = tls_next_chunk(iov, cnt, i, ioff, rec, &len);
        if (SSL_write_ex(t->ssl, src, len, &w) != 1) {
            int e = SSL_get_error(t->ssl, 0);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                break;
            tls_fail(conn, "write");
            return NET_TP_ERROR;
        }
        sent += w;
        /* Advance through the iovecs by w. */
        while (w > 0) {
            size_t rem = iov[i].iov_len - ioff;
            if (w < rem) {
                ioff += w;
                w = 0;
            } else {
                w -= rem;
                i++;
                ioff = 0;
            }
        }
    }
    return (ssize_t)sent;
}

/* Only after a read that filled the caller's buffer: after one that stopped for want of bytes
 * what OpenSSL holds is part of a record, and the rest raises an epoll event. */
static bool tls_pending(const net_conn_t *conn)
{
    tls_state_t *t = tls_of(conn);
    return t->more && (t->err_next || SSL_has_pending(t->ssl) || t->in->off < t->in->len);
}

static void tls_close(net_conn_t *conn)
{
    tls_state_t *t = tls_of(conn);
    net_timer_stop(conn->loop, &t->hs_timer);
    if (t->hs_done && conn->io.fd >= 0)
        (void)SSL_shutdown(t->ssl); /* close_notify, best effort: never waits */
    ERR_clear_error();
    SSL_free(t->ssl);
    free(t->peer_dn);
    free(t);
    conn->tp_state = NULL;
}

/* No sendfile: the bytes must pass through OpenSSL (no kTLS here), so no file ranges. */
const net_transport_t net_tls_transport = {
    .recv = tls_recv, .sendv = tls_sendv, .pending = tls_pending, .close = tls_close};

SSL *net_tls_ssl_new(net_tls_ctx_t *ctx)
{
    pthread_mutex_lock(&ctx->mu);
    maybe_reload(ctx);
    SSL *ssl = SSL_new(ctx->ctx); /* takes its own reference to the context */
    pthread_mutex_unlock(&ctx->mu);
    return ssl;
}

int64_t net_tls_handshake_timeout_ms(const net_tls_ctx_t *ctx)
{
    return ctx->handshake_timeout_ms;
}

int net_tls_conn_start(net_conn_t *conn, net_tls_ctx_t *ctx)
{
    SSL *ssl = net_tls_ssl_new(ctx);
    if (!ssl)
        return -WEIR_ENOMEM;
    tls_in_t *in = NULL;
    BIO *rbio = tls_in_new(conn->io.fd, &in);
    BIO *wbio = BIO_new_socket(conn->io.fd, BIO_NOCLOSE);
    if (!rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        return -WEIR_ENOMEM;
    }
    SSL_set_bio(ssl, rbio, wbio); /* the SSL object owns both now */
    SSL_set_accept_state(ssl);
    tls_state_t *t = weir_calloc(1, sizeof(*t));
    t->ssl = ssl;
    t->in = in;
    net_timer_init(&t->hs_timer, tls_handshake_expired, conn);
    net_timer_start(conn->loop, &t->hs_timer, ctx->handshake_timeout_ms);
    conn->tp = &net_tls_transport;
    conn->tp_state = t;
    conn->tls_ctx = ctx;
    return 0;
}

/* ---- accessors ------------------------------------------------------------------------------ */

bool net_conn_is_tls(const net_conn_t *conn)
{
    return conn->tp == &net_tls_transport;
}

const char *net_conn_tls_peer_dn(const net_conn_t *conn)
{
    return net_conn_is_tls(conn) && conn->tp_state ? tls_of(conn)->peer_dn : NULL;
}
