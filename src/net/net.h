/*
 * net: epoll event loops, timers, a TCP listener and framed connections.
 *
 * Threads. A net_loop_t is run by exactly one thread (net_loop_run). Everything attached to a
 * loop (connections, timers) is touched only by that thread. The only calls that may come from
 * any thread are net_loop_post(), net_loop_stop() and net_slot_complete_async(): they go
 * through a mutex-protected queue and an eventfd that wakes the loop.
 *
 * Connections carry length-prefixed frames (a 4-byte big-endian size, then that many bytes), as
 * the Kafka protocol does. The reader takes the size first and refuses sizes <= 0 or above
 * max_frame_bytes by closing the connection before allocating anything; a frame's buffer then
 * grows only with bytes actually received.
 *
 * Responses leave a connection strictly in request order. For every frame handed to on_frame
 * the connection reserves one response slot; the handler fills it at once or later (a parked
 * request: long-poll fetch, acks=-1 produce, JoinGroup), possibly from another thread through
 * net_slot_complete_async(). A slot may also be completed empty (Kafka acks=0: no response).
 * Bytes are written as soon as every earlier slot is done. A connection stays allocated until
 * all its slots are completed, even after the peer is gone, so a completer never races a free.
 *
 * Backpressure: when a connection has max_inflight uncompleted slots or more than
 * max_outbuf_bytes unsent, it stops being read until it drains; other connections are not
 * affected. No further frame is handed to on_frame while a connection is over a bound, so the
 * unsent bytes of one connection stay below max_outbuf_bytes plus the responses of the slots
 * that were already in flight when the bound was hit (at most max_inflight of them).
 *
 * Ownership. A connection, its slots and its buffers belong to its loop's thread. The handler
 * owns a slot from on_frame until it completes it; after that the connection owns the bytes.
 * net_conn_close() may be called from on_frame, from on_close of another connection, from a
 * timer or a posted function: it closes the socket at once, drops unsent responses, calls
 * on_close synchronously, and frees the connection later, at a point where no callback of the
 * loop is running and all its slots are completed.
 *
 * Peer half-close (EOF on read): the connection stops reading, answers what it already read,
 * then closes. Socket errors and EPOLLHUP close at once.
 *
 * Shutdown order: net_loop_stop(), join the loop thread, net_listener_close() for listeners on
 * that loop, complete (or have completed) every parked slot, then net_loop_free(). A slot left
 * uncompleted at net_loop_free() is freed with a warning; completing it afterwards is a
 * use-after-free, as is posting to a freed loop.
 */
#ifndef WEIR_NET_H
#define WEIR_NET_H

#include "base/base.h"

#include <netinet/in.h>

typedef struct net_loop net_loop_t;
typedef struct net_conn net_conn_t;
typedef struct net_slot net_slot_t;
typedef struct net_listener net_listener_t;

/* ---- loop ------------------------------------------------------------------------------------ */
typedef void (*net_fn)(void *arg);

int net_loop_new(net_loop_t **out);
void net_loop_free(net_loop_t *loop); /* after net_loop_run returned; closes what is left */
int net_loop_run(net_loop_t *loop);   /* blocks until net_loop_stop; returns 0 */
void net_loop_stop(net_loop_t *loop); /* any thread */
/* Runs fn(arg) on the loop's thread, soon. Any thread. FIFO per posting thread. One mutex and,
 * only when the queue was empty, one eventfd write. Posts still queued at net_loop_free() run
 * there, on the freeing thread. */
void net_loop_post(net_loop_t *loop, net_fn fn, void *arg);
/* Runs fn(arg) on the loop's thread and returns once it has run (fn NULL: once everything
 * posted before has run). On the loop's own thread it runs fn at once. Any other thread; the
 * loop must be running. */
void net_loop_call(net_loop_t *loop, net_fn fn, void *arg);
bool net_loop_is_current(const net_loop_t *loop); /* true on the thread inside net_loop_run */
/* For a response that may grow to may_need bytes (a fetch): when that is 1 MiB or more, swaps
 * in the loop's kept buffer, the largest recently sent response's (1 to 64 MiB, freed after 5 s
 * unused), if it is larger than b, keeping b's bytes. Reusing it spares mapping and faulting in
 * fresh pages for every response. Loop thread only. */
void net_loop_take_buf(net_loop_t *loop, buf_t *b, size_t may_need);
int64_t net_loop_now_ms(const net_loop_t *loop); /* monotonic ms cached per iteration */
/* A loop's counters since it was created, for metrics. Any thread; each number is read whole,
 * not all at one instant. */
typedef struct {
    uint64_t bytes_in, bytes_out; /* on the sockets of its connections */
    uint64_t frames_in;           /* requests handed to on_frame */
    uint64_t conns_opened, conns_closed;
    int64_t outbuf_bytes;    /* completed responses not yet sent, over its connections */
    int64_t kept_bytes;      /* the kept large response buffer (net_loop_take_buf) */
    uint64_t stalled;        /* connections closed for a stalled partial request */
    uint64_t sendfile_bytes; /* of bytes_out, those sent from files (net_slot_add_file) */
} net_loop_stats_t;
void net_loop_stats(const net_loop_t *loop, net_loop_stats_t *st);

/* ---- the memory budget -------------------------------------------------------------------------
 * One bound on the memory held in connection buffers across every loop that shares it
 * (weir.memory.buffers.max.bytes): unsent responses, the loops' kept buffers, partially read
 * requests, and what a response builder reserved. A request larger than the shared read
 * buffer reserves its whole size before its buffer grows; when that does not fit, its
 * connection stops being read (until room frees, looked at every NET_BUDGET_RETRY_MS). A
 * Fetch reserves what is left (it then answers with less, at least its first batch). Any thread; a
 * NULL budget is an unlimited one. Created before the loops run (net_loop_set_budget) and freed
 * after net_loop_free. */
typedef struct net_budget net_budget_t;
void net_budget_new(size_t max_bytes, net_budget_t **out);
void net_budget_free(net_budget_t *bud);
size_t net_budget_default_bytes(void); /* an eighth of physical memory, in [64 MiB, 4 GiB] */
size_t net_budget_max(const net_budget_t *bud);
size_t net_budget_held(const net_budget_t *bud);
bool net_budget_full(const net_budget_t *bud);
/* Grants up to `want` bytes of what is left (0 when full) and holds them until released. */
size_t net_budget_reserve(net_budget_t *bud, size_t want);
/* Takes n bytes only if all of them fit (held + n <= max); true when taken. */
bool net_budget_try(net_budget_t *bud, size_t n);
void net_budget_add(net_budget_t *bud, size_t n); /* memory held already: no refusal */
void net_budget_release(net_budget_t *bud, size_t n);
void net_budget_note_shrunk(net_budget_t *bud); /* a response made smaller for the budget */
void net_budget_note_paused(net_budget_t *bud); /* a connection paused for the budget */
typedef struct {
    size_t max_bytes, held_bytes;
    uint64_t fetches_shrunk, reads_paused;
} net_budget_stats_t;
void net_budget_stats(const net_budget_t *bud, net_budget_stats_t *st);
/* The budget of every connection on the loop (and of its kept buffer). Before the loop runs. */
void net_loop_set_budget(net_loop_t *loop, net_budget_t *bud);
net_budget_t *net_loop_budget(const net_loop_t *loop); /* NULL: unlimited */

/* ---- timers ------------------------------------------------------------------------------------
 * Caller-owned storage; one-shot; loop thread only. A min-heap, so 10,000 timers cost memory
 * only; start and stop are O(log n). Timers due at the same ms fire in the order they were
 * started. Starting an armed timer re-arms it; stopping a timer that is not armed is a no-op.
 * A timer may be re-armed or its storage freed from inside its own fn. Delays count from
 * net_loop_now_ms(). */
typedef struct net_timer {
    int64_t due_ms;
    size_t heap_index; /* internal; SIZE_MAX when not armed */
    uint64_t seq;      /* internal; start order, breaks ties between equal due_ms */
    net_fn fn;
    void *arg;
} net_timer_t;

void net_timer_init(net_timer_t *t, net_fn fn, void *arg);
void net_timer_start(net_loop_t *loop, net_timer_t *t, int64_t delay_ms);
void net_timer_stop(net_loop_t *loop, net_timer_t *t);
bool net_timer_armed(const net_timer_t *t);

/* ---- connections ----------------------------------------------------------------------------- */
/* A zero in any of the first three fields means its default. A connection is idle when no byte
 * moved in either direction for idle_timeout_ms and it has no uncompleted slot (a long poll in
 * progress is not idle; a peer that stopped reading its responses is). A request is stalled
 * when part of it arrived and no further byte for stall_timeout_ms (whether or not the budget
 * paused reading): the connection is closed with a logged reason, freeing its buffer. */
typedef struct {
    size_t max_frame_bytes;   /* socket.request.max.bytes, default 100 MiB, at most INT32_MAX */
    size_t max_inflight;      /* uncompleted slots before reading pauses, default 64 */
    size_t max_outbuf_bytes;  /* unsent response bytes before reading pauses, default 8 MiB */
    int64_t idle_timeout_ms;  /* connections.max.idle.ms, default 600000; 0 = never */
    int64_t stall_timeout_ms; /* weir.request.stall.timeout.ms, default 30000; < 0 = never */
} net_conn_limits_t;

void net_conn_limits_default(net_conn_limits_t *lim);

/* Called on the loop thread for each complete frame (without its 4-byte size). `frame` is
 * valid only during the call; `slot` is this request's response slot and must be completed
 * exactly once, now or later. */
typedef void (*net_frame_fn)(net_conn_t *conn, net_slot_t *slot, uint8_t *frame, size_t len,
                             void *user);
/* Called once on the loop thread when the connection is closed (peer gone, error, limit,
 * idle timeout, or net_conn_close). Pending slots may still complete afterwards. */
typedef void (*net_close_fn)(net_conn_t *conn, void *user);
/* Called once on the loop thread when an accepted connection is ready, before any read; it may
 * close it (a connection-rate quota). */
typedef void (*net_open_fn)(net_conn_t *conn, void *user);

typedef struct net_tls_ctx net_tls_ctx_t;

typedef struct {
    net_frame_fn on_frame;
    net_close_fn on_close;
    net_open_fn on_open; /* optional; accepted connections only */
    void *user;
    net_conn_limits_t limits;
    net_tls_ctx_t *tls; /* NULL: plaintext; else TLS with this context (outlives the conns) */
} net_conn_handler_t;

/* Adopts a connected non-blocking socket on `loop`. Loop thread only (or before the loop runs).
 * On error the fd is left open and is still the caller's. */
int net_conn_open(net_loop_t *loop, int fd, const net_conn_handler_t *h, net_conn_t **out);
void net_conn_close(net_conn_t *conn); /* loop thread; idempotent */
/* Stops reading (frames already read but not yet handed over are dropped), sends the responses
 * of the frames already handed over as their slots complete, then closes: for an error answer
 * that ends the connection (a failed authentication). Loop thread; idempotent. */
void net_conn_close_after_flush(net_conn_t *conn);
/* Reads and hands over no frame for ms (KIP-219: a throttled client's connection is muted for
 * its throttle time); responses still go out. A longer mute extends it. Loop thread. */
void net_conn_mute(net_conn_t *conn, int64_t ms);
net_loop_t *net_conn_loop(const net_conn_t *conn);
void *net_conn_user(const net_conn_t *conn);
void net_conn_set_user(net_conn_t *conn, void *user);
bool net_conn_closed(const net_conn_t *conn);
const char *net_conn_peer(const net_conn_t *conn); /* "127.0.0.1:53412" */
uint64_t net_conn_id(const net_conn_t *conn);
/* The protocol layer's per-connection state (NULL at open). net only stores it: its owner
 * frees it, typically in on_close. Loop thread. */
void *net_conn_session(const net_conn_t *conn);
void net_conn_set_session(net_conn_t *conn, void *session);
bool net_conn_is_tls(const net_conn_t *conn);
/* A TLS client certificate's subject as RFC 2253 text ("CN=alice,O=Example"), once the
 * handshake verified it; NULL without one (or on plaintext). Loop thread. */
const char *net_conn_tls_peer_dn(const net_conn_t *conn);

/* A snapshot of one connection's counters, for metrics and tests. Loop thread only. */
typedef struct {
    size_t inflight;         /* slots handed to on_frame and not completed */
    size_t outbuf_bytes;     /* completed response bytes not yet sent */
    size_t inbuf_bytes;      /* capacity of the connection's own input buffer (0 when idle) */
    size_t inbuf_peak_bytes; /* the largest that capacity has been */
    uint64_t bytes_in, bytes_out, frames_in;
    bool reading; /* read interest on: not over a bound, not draining, not closed */
} net_conn_stats_t;
void net_conn_stats(const net_conn_t *conn, net_conn_stats_t *st);

/* Completes a slot with response bytes (ownership of *resp's buffer moves to the connection;
 * *resp is left empty). resp may be NULL or empty: no bytes are sent for this request (acks=0).
 * The bytes must include the 4-byte size prefix; they are sent from this buffer (sendmsg, no
 * copy). Never calls back into the handler; safe inside on_frame and on_close. Completing a
 * slot of a closed connection frees the bytes. Loop thread of the slot's connection only. */
void net_slot_complete(net_slot_t *slot, buf_t *resp);
/* The same from any thread: the bytes wait in the slot and a post to the connection's loop
 * completes it there. */
void net_slot_complete_async(net_slot_t *slot, buf_t *resp);
net_conn_t *net_slot_conn(const net_slot_t *slot);
/* Zero copy: the response sends len bytes of the file fd from pos where its heap bytes reach
 * `at` (at most the length of the response's bytes when completed; ranges added in order of
 * `at`). The frame's size prefix must count them (net_slot_file_bytes). They are written with
 * sendfile, never copied into the heap or counted in the budget; release(arg) runs once they
 * are sent or the connection is gone, so the file stays open until then (a deleted file still
 * reads). Plaintext connections only (net_conn_is_tls: none with TLS). Before completing the
 * slot, on the thread that owns it. */
void net_slot_add_file(net_slot_t *slot, size_t at, int fd, uint64_t pos, size_t len,
                       net_fn release, void *arg);
/* Moves the ranges placed at `from` or later by delta (heap bytes inserted or removed there). */
void net_slot_files_shift(net_slot_t *slot, size_t from, ptrdiff_t delta);
size_t net_slot_file_bytes(const net_slot_t *slot); /* the ranges' total length */

/* ---- TLS ---------------------------------------------------------------------------------------
 * A server context from PEM files, with Kafka's settings' meaning. Made before the listener that
 * uses it and freed after every connection that used it is closed. It keeps a copy of the
 * config and builds itself again when the PEM files change (checked at most once a second, as
 * a connection starts); connections already open keep what they started with. */
typedef enum {
    NET_TLS_CLIENT_AUTH_NONE = 0,  /* no client certificate asked for */
    NET_TLS_CLIENT_AUTH_REQUESTED, /* asked for; verified if sent; the handshake goes on without */
    NET_TLS_CLIENT_AUTH_REQUIRED   /* a verified client certificate or no connection (mTLS) */
} net_tls_client_auth_t;

typedef struct {
    const char *keystore_location;   /* PEM: the certificate chain and the private key */
    const char *key_password;        /* the private key's passphrase, or NULL */
    const char *truststore_location; /* PEM: the CAs client certificates must chain to */
    net_tls_client_auth_t client_auth;
    const char *enabled_protocols; /* "TLSv1.2,TLSv1.3" (NULL: both) */
    const char *cipher_suites;     /* Kafka's list, TLS 1.2 names and TLS 1.3 TLS_* names; "" */
    int64_t handshake_timeout_ms;  /* a handshake not done by then closes; <= 0: 10000 */
} net_tls_config_t;

/* err gets a sentence on failure (the file, OpenSSL's reason). Any thread. */
int net_tls_ctx_new(const net_tls_config_t *cfg, net_tls_ctx_t **out, char *err, size_t err_len);
void net_tls_ctx_free(net_tls_ctx_t *ctx);
/* A server-side SSL object (OpenSSL's SSL) from the context as it is now (the PEM files looked
 * at first, as for a new connection), for a transport outside net_conn_t: the HTTPS front
 * (server/https_front.c). NULL when OpenSSL fails. Any thread. */
struct ssl_st *net_tls_ssl_new(net_tls_ctx_t *ctx);
int64_t net_tls_handshake_timeout_ms(const net_tls_ctx_t *ctx);
/* The verified client certificate's subject (RFC 2253, as Kafka's principal names it) after
 * the handshake, malloc'd; NULL without one. */
char *net_tls_ssl_peer_dn(struct ssl_st *ssl);

/* ---- listener -----------------------------------------------------------------------------------
 * Accepts on `loop` and hands each new socket to one of `loops[n]` in turn (through
 * net_loop_post), where it is opened with `h`. host:port with port 0 picks a free port;
 * net_listener_port() tells which. max_conns caps open connections across all loops (extra
 * accepts are closed at once; 0 = no cap). Accepted sockets get TCP_NODELAY. Open and close on
 * the listener loop's thread (or before it runs). If accept fails for lack of descriptors, the
 * listener pauses accepting for 100 ms instead of spinning. */
int net_listener_open(net_loop_t *loop, net_loop_t **loops, size_t n, const char *host,
                      uint16_t port, const net_conn_handler_t *h, size_t max_conns,
                      net_listener_t **out);
void net_listener_close(net_listener_t *lst); /* loop thread of the listener */
uint16_t net_listener_port(const net_listener_t *lst);
size_t net_listener_conn_count(const net_listener_t *lst); /* any thread; includes queued */
uint64_t net_listener_refused(const net_listener_t *lst);  /* any thread: closed at the cap */

/* Splits "host:port" (host may be empty for 0.0.0.0; "[::1]:9092" gives host "::1"). */
int net_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port);

#endif
