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
 * affected.
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
/* Runs fn(arg) on the loop's thread, soon. Any thread. FIFO per posting thread. */
void net_loop_post(net_loop_t *loop, net_fn fn, void *arg);
bool net_loop_is_current(const net_loop_t *loop); /* true on the loop's own thread */
int64_t net_loop_now_ms(const net_loop_t *loop);  /* monotonic ms cached per iteration */

/* ---- timers ------------------------------------------------------------------------------------
 * Caller-owned storage; one-shot; loop thread only. A min-heap, so 10,000 timers cost memory
 * only. Stopping a timer that is not armed is a no-op. */
typedef struct net_timer {
    int64_t due_ms;
    size_t heap_index; /* internal; SIZE_MAX when not armed */
    net_fn fn;
    void *arg;
} net_timer_t;

void net_timer_init(net_timer_t *t, net_fn fn, void *arg);
void net_timer_start(net_loop_t *loop, net_timer_t *t, int64_t delay_ms);
void net_timer_stop(net_loop_t *loop, net_timer_t *t);
bool net_timer_armed(const net_timer_t *t);

/* ---- connections ------------------------------------------------------------------------------ */
typedef struct {
    size_t max_frame_bytes;  /* socket.request.max.bytes, default 100 MiB */
    size_t max_inflight;     /* uncompleted slots before reading pauses, default 64 */
    size_t max_outbuf_bytes; /* unsent response bytes before reading pauses, default 8 MiB */
    int64_t idle_timeout_ms; /* connections.max.idle.ms, default 600000; 0 = never */
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

typedef struct {
    net_frame_fn on_frame;
    net_close_fn on_close;
    void *user;
    net_conn_limits_t limits;
} net_conn_handler_t;

/* Adopts a connected non-blocking socket on `loop`. Loop thread only. */
int net_conn_open(net_loop_t *loop, int fd, const net_conn_handler_t *h, net_conn_t **out);
void net_conn_close(net_conn_t *conn); /* loop thread; idempotent */
net_loop_t *net_conn_loop(const net_conn_t *conn);
void *net_conn_user(const net_conn_t *conn);
void net_conn_set_user(net_conn_t *conn, void *user);
bool net_conn_closed(const net_conn_t *conn);
const char *net_conn_peer(const net_conn_t *conn); /* "127.0.0.1:53412" */
uint64_t net_conn_id(const net_conn_t *conn);

/* Completes a slot with response bytes (ownership of *resp's buffer moves to the connection;
 * *resp is left empty). resp may be NULL or empty: no bytes are sent for this request (acks=0).
 * The bytes must include the 4-byte size prefix. Loop thread of the slot's connection only. */
void net_slot_complete(net_slot_t *slot, buf_t *resp);
/* The same from any thread: posts to the connection's loop. */
void net_slot_complete_async(net_slot_t *slot, buf_t *resp);
net_conn_t *net_slot_conn(const net_slot_t *slot);

/* ---- listener -----------------------------------------------------------------------------------
 * Accepts on `loop` and hands each new socket to one of `loops[n]` in turn (through
 * net_loop_post), where it is opened with `h`. host:port with port 0 picks a free port;
 * net_listener_port() tells which. max_conns caps open connections across all loops (extra
 * accepts are closed at once). */
int net_listener_open(net_loop_t *loop, net_loop_t **loops, size_t n, const char *host,
                      uint16_t port, const net_conn_handler_t *h, size_t max_conns,
                      net_listener_t **out);
void net_listener_close(net_listener_t *lst); /* loop thread of the listener */
uint16_t net_listener_port(const net_listener_t *lst);
size_t net_listener_conn_count(const net_listener_t *lst);

/* Splits "host:port" (host may be empty for 0.0.0.0; "[::1]:9092" not supported). */
int net_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port);

#endif
