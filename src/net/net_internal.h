/*
 * net_internal: the structures loop.c, conn.c and listener.c share. Other modules include only
 * net.h; nothing here is part of the API.
 *
 * Ownership, by thread. Everything in struct net_loop except post_mu/postq/stop belongs to the
 * thread inside net_loop_run (before the loop runs: the thread that set it up; during
 * net_loop_free: the freeing thread). postq is guarded by post_mu and is the only field other
 * threads write. A connection, its slots and its input buffer belong to its loop's thread; the
 * one exception is slot->resp of an uncompleted slot, which net_slot_complete_async fills from
 * another thread just before posting (the post's mutex orders that write before the loop
 * reads it).
 */
#ifndef WEIR_NET_INTERNAL_H
#define WEIR_NET_INTERNAL_H

#include "net/net.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The loop's shared read buffer: every connection reads into it, frames that arrive whole are
 * handed to on_frame straight from it, and only a partial frame's bytes are kept by the
 * connection. So an idle connection owns no read buffer at all. */
#define NET_RBUF_BYTES (64 * 1024)
/* Bytes one connection may read per readable event before others get their turn. */
#define NET_READ_BUDGET_BYTES (256 * 1024)
/* Recycled slots kept per loop. */
#define NET_SLOT_CACHE 1024
/* The kept response buffer (net_loop_take_buf): sent responses with a buffer of at least
 * NET_KEEP_MIN_BYTES and at most NET_KEEP_MAX_BYTES are candidates; the loop keeps the largest
 * and frees it after NET_KEEP_IDLE_MS without use. */
#define NET_KEEP_MIN_BYTES (1u << 20)
#define NET_KEEP_MAX_BYTES (64u << 20)
#define NET_KEEP_IDLE_MS   5000
/* A partial request's buffer grows by doubling but by at most this much at a time, so its
 * memory stays close to the bytes received (glibc grows large blocks with mremap: no copy). */
#define NET_GROW_STEP_MAX (4u << 20)
/* How often a loop with connections paused for the memory budget looks whether it freed. */
#define NET_BUDGET_RETRY_MS 20

#define NET_ASSERT_LOOP_THREAD(loop) WEIR_DASSERT(net_loop_owns(loop))

/* One epoll registration. data.ptr points here; on_event gets the epoll event bits. */
typedef struct net_io net_io_t;
struct net_io {
    int fd;
    uint32_t events; /* current interest, so unchanged interest costs no epoll_ctl */
    void (*on_event)(net_io_t *io, uint32_t events);
};

typedef struct {
    net_fn fn;
    void *arg;
} net_post_t;

typedef struct {
    net_post_t *items;
    size_t len, cap;
} net_postq_t;

/* A file range sent in the middle of a response (net_slot_add_file). */
typedef struct {
    size_t at; /* where in the response's heap bytes it goes */
    int fd;
    uint64_t pos;
    size_t len;
    net_fn release;
    void *arg;
} net_file_range_t;

struct net_slot {
    net_conn_t *conn;
    net_slot_t *prev, *next; /* the connection's queue, in request order */
    buf_t resp;              /* the response once completed (or while an async post is queued) */
    size_t held;             /* resp.cap as counted in the loop's budget once completed */
    bool done;
    /* Sent between the heap bytes, in order of `at`; released by net_loop_slot_put. A slot's
     * bytes are resp.len + file_bytes: its place in the queue's byte stream. */
    net_file_range_t *files;
    size_t nfiles, capfiles, file_bytes;
};

/* Shared by a listener and the connections it accepted: the open count and the handler outlive
 * the listener while connections (or queued accepts) still refer to them. */
typedef struct net_accept_ctx {
    _Atomic size_t open; /* accepted and not yet closed, across all loops */
    _Atomic size_t refs; /* listener + each queued accept + each open connection */
    net_conn_handler_t h;
} net_accept_ctx_t;

void net_accept_ctx_unref(net_accept_ctx_t *ctx);

/* How a connection moves bytes: plain_transport (recv/sendmsg, conn.c) or net_tls_transport
 * (tls.c). One indirect call per system call; nothing per byte.
 *   recv:   > 0 bytes read; 0 nothing now; NET_TP_EOF the peer is done; NET_TP_ERROR failed
 *           (the reason is logged by the transport). Fills as much of p as it can.
 *   sendv:  >= 0 bytes written (fewer than asked: the socket is full, wait for EPOLLOUT);
 *           NET_TP_ERROR failed.
 *   pending: NULL, or whether bytes already read from the socket wait inside the transport.
 *   close:  NULL, or frees the transport's state (the socket is still open). */
enum { NET_TP_EOF = -1, NET_TP_ERROR = -2 };
typedef struct net_transport {
    ssize_t (*recv)(net_conn_t *conn, uint8_t *p, size_t n);
    ssize_t (*sendv)(net_conn_t *conn, const struct iovec *iov, int cnt);
    /* NULL, or sends up to n bytes of fd from pos, as sendv (0: the socket is full). */
    ssize_t (*sendfile)(net_conn_t *conn, int fd, uint64_t pos, size_t n);
    bool (*pending)(const net_conn_t *conn);
    void (*close)(net_conn_t *conn);
} net_transport_t;

extern const net_transport_t net_tls_transport;

struct net_conn {
    net_io_t io; /* first: the epoll event's data.ptr is the connection */
    net_loop_t *loop;
    const net_transport_t *tp;
    void *tp_state;         /* the transport's (TLS: the SSL object) */
    net_tls_ctx_t *tls_ctx; /* a TLS connection's context */
    bool tp_wants_write;    /* the transport's read needs the socket writable */
    void *session;          /* the protocol layer's per-connection state (net_conn_session) */
    uint64_t id;
    net_conn_handler_t h;
    net_accept_ctx_t *accept; /* counted by a listener until closed, or NULL */

    net_conn_t *prev, *next; /* loop->conns: every connection not yet freed */
    net_conn_t *flush_next;  /* loop->flush list */
    net_conn_t *free_next;   /* loop->free list */
    bool in_flush, in_free;  /* on those lists */
    bool closed, want_write;
    bool draining; /* reads no more (peer EOF or close_after_flush); closes once answered */

    buf_t in;           /* unparsed input: one partial frame, or frames left while paused */
    size_t in_peak;     /* the largest in.cap has been */
    size_t in_held;     /* what the loop's budget counts for `in` */
    size_t in_reserved; /* a large request's whole size, reserved before its buffer grows */
    bool budget_paused; /* not read until the budget frees (a partial request must grow) */
    net_slot_t *head, *tail;
    size_t nslots;       /* in the queue: uncompleted, plus completed and not yet sent */
    size_t inflight;     /* uncompleted */
    size_t outbuf;       /* completed bytes not yet sent (heap and file ranges) */
    size_t outbuf_files; /* of outbuf, those in file ranges (no memory) */
    size_t head_off;     /* bytes of head->resp already sent */

    int64_t last_active_ms;
    int64_t last_in_ms; /* the last byte received (the stalled-request timer) */
    net_timer_t idle;
    net_timer_t stall; /* armed while `in` holds part of a request */
    net_timer_t mute;  /* armed while muted: a quota's throttle time (net_conn_mute) */
    bool muted;
    uint64_t bytes_in, bytes_out, frames_in;
    char peer[64];
};

struct net_loop {
    int epfd;
    net_io_t wake; /* eventfd: posts and stop */
    _Atomic bool stop;
    _Atomic bool running;
    int64_t now_ms;

    net_timer_t **heap;
    size_t heap_len, heap_cap;
    uint64_t timer_seq;

    pthread_mutex_t post_mu;
    net_postq_t postq; /* guarded by post_mu */
    net_postq_t spare; /* loop thread: the drained array, kept for reuse */

    net_conn_t *conns; /* every connection not yet freed (open, or closed awaiting slots) */
    net_conn_t *flush_head, *flush_tail;
    net_conn_t *free_head;
    net_slot_t *slot_cache;
    size_t slot_cache_len;
    uint8_t *rbuf;

    buf_t kept;               /* a large sent response's buffer, for the next large response */
    net_budget_t *budget;     /* shared with other loops; NULL: unlimited */
    size_t budget_paused;     /* its connections paused for the budget */
    net_timer_t budget_timer; /* armed while budget_paused > 0 */
    /* metrics (net_loop_stats): written by the loop thread, read from any */
    struct {
        metric_counter_t bytes_in, bytes_out, frames_in, conns_opened, conns_closed;
        metric_gauge_t outbuf_bytes;     /* completed, unsent response bytes of its connections */
        metric_gauge_t kept_bytes;       /* kept.cap */
        metric_counter_t stalled;        /* closed for a stalled partial request */
        metric_counter_t sendfile_bytes; /* of bytes_out, sent from files */
    } m;
    int64_t kept_used_ms;
    net_timer_t kept_timer;
};

/* loop.c */
bool net_loop_owns(const net_loop_t *loop); /* current thread, or the loop is not running */
int net_io_add(net_loop_t *loop, net_io_t *io, uint32_t events);
int net_io_mod(net_loop_t *loop, net_io_t *io, uint32_t events);
void net_io_del(net_loop_t *loop, net_io_t *io);
void net_loop_flush_add(net_loop_t *loop, net_conn_t *conn);
void net_loop_free_add(net_loop_t *loop, net_conn_t *conn);
net_slot_t *net_loop_slot_get(net_loop_t *loop);
void net_loop_slot_put(net_loop_t *loop, net_slot_t *slot);
void net_loop_kept_drop(net_loop_t *loop); /* frees the kept buffer (budget given back) */

/* conn.c */
void net_conn_flush(net_conn_t *conn);
void net_conn_budget_retry(net_conn_t *conn); /* a paused connection: resume if it may */
/* tls.c: makes conn a TLS connection (its handshake starts with the first read). */
int net_tls_conn_start(net_conn_t *conn, net_tls_ctx_t *ctx);
void net_conn_destroy(net_conn_t *conn);

#endif
