/*
 * conn: a framed TCP connection. Reads 4-byte-size-prefixed frames, hands each to on_frame
 * with a response slot, and writes the completed responses back strictly in request order.
 *
 * Reading. Bytes are read into the loop's shared 64 KiB buffer (loop->rbuf) and every frame
 * that arrived whole is handed to on_frame from there, without a copy. Only what is left over
 * (a partial frame, or frames not yet handed over because the connection hit a bound) is kept
 * in the connection's own buffer `in`, which is freed as soon as it is empty: an idle
 * connection holds no read buffer. A frame bigger than the shared buffer is read straight
 * into `in`, which grows geometrically only as bytes arrive (never to the declared size up
 * front). Every size is checked (1..max_frame_bytes) before a byte of its body is kept.
 *
 * Writing. Each frame gets a slot queued in request order. net_slot_complete moves the
 * response into its slot and puts the connection on the loop's flush list; the flush writes
 * the run of completed slots at the head of the queue with one sendmsg (an iovec per slot,
 * pointing at the slot's own buffer: no copy), and pops what was sent. A slot may also hold
 * file ranges between its heap bytes (a zero-copy Fetch, net_slot_add_file): the heap bytes
 * before a range go with sendmsg, the range itself with sendfile, each resuming where a
 * partial write stopped; the file stays referenced until the slot is popped or its
 * connection is gone (net_loop_slot_put releases it).
 *
 * Invariants: head..tail are the slots not yet sent (or, once closed, not yet completed), in
 * request order; nslots counts them and inflight counts the uncompleted ones; outbuf is the
 * sum of completed response bytes (heap bytes and file ranges) minus head_off, outbuf_files
 * the file ranges' part of it; while reading (not closed, not draining,
 * not over a bound) `in` holds at most one partial frame whose size has been checked. All of it
 * belongs to the loop thread (see net_internal.h).
 */
#include "net/net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define NET_IOV_MAX 64

static _Atomic uint64_t net_conn_next_id;

void net_conn_limits_default(net_conn_limits_t *lim)
{
    lim->max_frame_bytes = 100u * 1024 * 1024;
    lim->max_inflight = 64;
    lim->max_outbuf_bytes = 8u * 1024 * 1024;
    lim->idle_timeout_ms = 600000;
    lim->stall_timeout_ms = 30000;
}

static void conn_limits_fill(net_conn_limits_t *lim)
{
    net_conn_limits_t d;
    net_conn_limits_default(&d);
    if (lim->max_frame_bytes == 0)
        lim->max_frame_bytes = d.max_frame_bytes;
    /* The size field is an int32: nothing larger can be declared. */
    lim->max_frame_bytes = WEIR_MIN(lim->max_frame_bytes, (size_t)INT32_MAX);
    if (lim->max_inflight == 0)
        lim->max_inflight = d.max_inflight;
    if (lim->max_outbuf_bytes == 0)
        lim->max_outbuf_bytes = d.max_outbuf_bytes;
    if (lim->idle_timeout_ms < 0)
        lim->idle_timeout_ms = 0;
    if (lim->stall_timeout_ms == 0)
        lim->stall_timeout_ms = d.stall_timeout_ms;
}

static void conn_format_peer(net_conn_t *conn)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    snprintf(conn->peer, sizeof(conn->peer), "local");
    if (getpeername(conn->io.fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        if (inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host)))
            snprintf(conn->peer, sizeof(conn->peer), "%s:%u", host, ntohs(sin->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
        if (inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host)))
            snprintf(conn->peer, sizeof(conn->peer), "[%s]:%u", host, ntohs(sin6->sin6_port));
    }
}

static bool conn_over_bounds(const net_conn_t *conn)
{
    return conn->muted || conn->inflight >= conn->h.limits.max_inflight ||
           conn->outbuf > conn->h.limits.max_outbuf_bytes;
}

static void conn_update_interest(net_conn_t *conn)
{
    if (conn->closed)
        return;
    uint32_t ev = 0;
    if (!conn->draining && !conn_over_bounds(conn) && !conn->budget_paused)
        ev |= EPOLLIN;
    if (conn->want_write || conn->tp_wants_write)
        ev |= EPOLLOUT;
    if (net_io_mod(conn->loop, &conn->io, ev) != 0)
        net_conn_close(conn);
}

/* Brings the budget's count of `in` up to date after its capacity or reservation changed:
 * a large request counts its whole size from its start (in_reserved), a small one what its
 * buffer holds. */
static void conn_in_account(net_conn_t *conn)
{
    net_budget_t *bud = conn->loop->budget;
    conn->in_peak = WEIR_MAX(conn->in_peak, conn->in.cap);
    size_t want = WEIR_MAX(conn->in.cap, conn->in_reserved);
    if (want > conn->in_held)
        net_budget_add(bud, want - conn->in_held);
    else
        net_budget_release(bud, conn->in_held - want);
    conn->in_held = want;
}

static void conn_in_free(net_conn_t *conn)
{
    buf_deinit(&conn->in);
    conn->in_reserved = 0;
    conn_in_account(conn);
}

static void conn_slot_unlink(net_conn_t *conn, net_slot_t *slot)
{
    if (slot->prev)
        slot->prev->next = slot->next;
    else
        conn->head = slot->next;
    if (slot->next)
        slot->next->prev = slot->prev;
    else
        conn->tail = slot->prev;
    conn->nslots--;
    net_loop_slot_put(conn->loop, slot);
}

/* ---- reading --------------------------------------------------------------------------------- */

static void conn_deliver(net_conn_t *conn, uint8_t *frame, size_t len)
{
    net_slot_t *slot = net_loop_slot_get(conn->loop);
    slot->conn = conn;
    slot->prev = conn->tail;
    if (conn->tail)
        conn->tail->next = slot;
    else
        conn->head = slot;
    conn->tail = slot;
    conn->nslots++;
    conn->inflight++;
    conn->frames_in++;
    metric_counter_add(&conn->loop->m.frames_in, 1);
    conn->h.on_frame(conn, slot, frame, len, conn->h.user);
}

/* Hands every whole frame in p[0..len) to on_frame, in order, until the connection closes,
 * hits a bound or stops reading. A size outside 1..max_frame_bytes closes the connection:
 * nothing was allocated for it. Returns the bytes consumed; the caller must not touch the
 * connection's buffers if it closed (on_frame may close it). */
static size_t conn_parse(net_conn_t *conn, uint8_t *p, size_t len)
{
    size_t off = 0;
    while (!conn->closed && !conn->draining && !conn_over_bounds(conn) && len - off >= 4) {
        int32_t size = (int32_t)be32_read(p + off);
        if (size <= 0 || (size_t)size > conn->h.limits.max_frame_bytes) {
            log_warn_limited("net", "%s: frame size %" PRId32 " outside 1..%zu, closing",
                             conn->peer, size, conn->h.limits.max_frame_bytes);
            net_conn_close(conn);
            break;
        }
        if (len - off - 4 < (size_t)size)
            break;
        conn_deliver(conn, p + off + 4, (size_t)size);
        off += 4 + (size_t)size;
    }
    return off;
}

/* Hands over whatever whole frames `in` holds (left there while over a bound). */
static void conn_parse_in(net_conn_t *conn)
{
    if (conn->in.len < 4)
        return;
    size_t used = conn_parse(conn, conn->in.data, conn->in.len);
    if (conn->closed || conn->draining || used == 0)
        return; /* `in` is freed by close, or by the flush that follows draining */
    if (used == conn->in.len)
        conn_in_free(conn);
    else
        buf_consume(&conn->in, used);
    conn_in_account(conn);
}

/* Keeps the unparsed tail p[0..n) in `in`, releasing a buffer much larger than it needs. */
static void conn_stash(net_conn_t *conn, const uint8_t *p, size_t n)
{
    if (n == 0 || conn->in.cap > 2 * WEIR_MAX(n, (size_t)4096))
        conn_in_free(conn);
    conn->in.len = 0;
    buf_append(&conn->in, p, n);
    conn_in_account(conn);
}

/* Not during a parse: conn_recv is never called from inside on_frame. */
static void conn_on_eof(net_conn_t *conn)
{
    /* The peer will send nothing more: a partial frame never completes. Answer what was read,
     * then close (net_conn_flush closes once the queue is empty). */
    conn->draining = true;
    conn_in_free(conn);
    if (conn->nslots == 0)
        net_conn_close(conn);
}

/* ---- the plaintext transport ----------------------------------------------------------------- */

static ssize_t plain_recv(net_conn_t *conn, uint8_t *p, size_t n)
{
    for (;;) {
        ssize_t r = recv(conn->io.fd, p, n, 0);
        if (r > 0)
            return r;
        if (r == 0)
            return NET_TP_EOF;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        log_debug("net", "%s: recv: %s", conn->peer, strerror(errno));
        return NET_TP_ERROR;
    }
}

static ssize_t plain_sendv(net_conn_t *conn, const struct iovec *iov, int cnt)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
    for (;;) {
        ssize_t n = sendmsg(conn->io.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        log_debug("net", "%s: send: %s", conn->peer, strerror(errno));
        return NET_TP_ERROR;
    }
}

static ssize_t plain_sendfile(net_conn_t *conn, int fd, uint64_t pos, size_t n)
{
    off_t off = (off_t)pos;
    for (;;) {
        ssize_t r = sendfile(conn->io.fd, fd, &off, WEIR_MIN(n, (size_t)0x7ffff000));
        if (r > 0)
            return r;
        if (r == 0) { /* the file ends before the range: the frame cannot be finished */
            log_warn("net", "%s: sendfile: file shorter than the response's range", conn->peer);
            return NET_TP_ERROR;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        log_debug("net", "%s: sendfile: %s", conn->peer, strerror(errno));
        return NET_TP_ERROR;
    }
}

static const net_transport_t plain_transport = {
    .recv = plain_recv, .sendv = plain_sendv, .sendfile = plain_sendfile};

/* The transport's recv with the bookkeeping. Returns bytes read, 0 if none are available now,
 * or -1 if the connection closed or reached EOF. */
static ssize_t conn_recv(net_conn_t *conn, uint8_t *p, size_t n)
{
    ssize_t r = conn->tp->recv(conn, p, n);
    if (r > 0) {
        conn->bytes_in += (uint64_t)r;
        metric_counter_add(&conn->loop->m.bytes_in, (uint64_t)r);
        conn->last_active_ms = conn->loop->now_ms;
        conn->last_in_ms = conn->loop->now_ms;
        return r;
    }
    if (r == 0)
        return 0;
    if (r == NET_TP_EOF)
        conn_on_eof(conn);
    else
        net_conn_close(conn);
    return -1;
}

/* The common case: `in` holds at most a small partial frame. Puts it in front of the shared
 * buffer, reads behind it, hands over the whole frames, keeps the rest. */
static ssize_t conn_read_small(net_conn_t *conn, size_t *asked)
{
    uint8_t *rb = conn->loop->rbuf;
    size_t k = conn->in.len;
    WEIR_ASSERT(k < NET_RBUF_BYTES);
    if (k)
        memcpy(rb, conn->in.data, k);
    *asked = NET_RBUF_BYTES - k;
    ssize_t n = conn_recv(conn, rb + k, *asked);
    if (n <= 0)
        return n;
    size_t total = k + (size_t)n;
    size_t used = conn_parse(conn, rb, total);
    if (conn->closed)
        return -1;
    conn_stash(conn, rb + used, conn->draining ? 0 : total - used);
    return n;
}

/* A frame bigger than the shared buffer: read into `in`, growing its capacity only when it is
 * full, by doubling but at most NET_GROW_STEP_MAX at a time, so capacity stays under twice the
 * bytes received (plus one shared-buffer size), and never past the frame's end, so `in` never
 * holds the start of the next frame. */
static ssize_t conn_read_large(net_conn_t *conn, size_t total, size_t *asked)
{
    buf_t *in = &conn->in;
    if (in->cap == in->len) {
        size_t step =
            WEIR_MIN(WEIR_MAX(in->cap, (size_t)NET_RBUF_BYTES), (size_t)NET_GROW_STEP_MAX);
        size_t cap = WEIR_MIN(total, in->cap + step);
        in->data = weir_realloc(in->data, cap);
        in->cap = cap;
        conn_in_account(conn);
    }
    *asked = WEIR_MIN(in->cap, total) - in->len;
    ssize_t n = conn_recv(conn, in->data + in->len, *asked);
    if (n <= 0)
        return n;
    in->len += (size_t)n;
    if (in->len == total) {
        conn_deliver(conn, in->data + 4, total - 4);
        if (conn->closed)
            return -1;
        conn_in_free(conn);
    }
    return n;
}

static void conn_budget_unpause(net_conn_t *conn)
{
    if (!conn->budget_paused)
        return;
    conn->budget_paused = false;
    conn->loop->budget_paused--;
}

/* A request larger than the shared read buffer reserves its whole size in the budget before
 * its buffer grows past the first bytes, all or nothing (Kafka's memory pool does the same),
 * so requests that started always finish and two of them can never each hold half of the
 * budget waiting for the other. One that does not fit stops the connection being read until
 * the loop's retry timer finds room. Returns true when paused. */
static bool conn_budget_pause(net_conn_t *conn, size_t total)
{
    net_loop_t *loop = conn->loop;
    if (total <= NET_RBUF_BYTES || conn->in_reserved >= total)
        return false;
    size_t more = total > conn->in_held ? total - conn->in_held : 0;
    if (net_budget_try(loop->budget, more)) {
        conn->in_held += more;
        conn->in_reserved = total;
        conn_budget_unpause(conn);
        return false;
    }
    net_loop_kept_drop(loop); /* memory kept for speed gives way to a request */
    if (!conn->budget_paused) {
        conn->budget_paused = true;
        loop->budget_paused++;
        net_budget_note_paused(loop->budget);
        if (!net_timer_armed(&loop->budget_timer))
            net_timer_start(loop, &loop->budget_timer, NET_BUDGET_RETRY_MS);
    }
    return true;
}

static void conn_stall_fire(void *arg);

/* Arms the stalled-request timer while `in` holds part of a request. */
static void conn_stall_arm(net_conn_t *conn)
{
    if (conn->closed || conn->in.len == 0 || conn->h.limits.stall_timeout_ms <= 0 ||
        net_timer_armed(&conn->stall))
        return;
    int64_t quiet_ms = conn->loop->now_ms - conn->last_in_ms;
    net_timer_start(conn->loop, &conn->stall,
                    WEIR_MAX((int64_t)0, conn->h.limits.stall_timeout_ms - quiet_ms));
}

static void conn_read(net_conn_t *conn)
{
    size_t read_left = NET_READ_BUDGET_BYTES;
    for (;;) {
        if (conn->closed || conn->draining || conn_over_bounds(conn))
            break;
        /* Normally a no-op; it also re-checks the size of a frame kept in `in`. */
        conn_parse_in(conn);
        if (conn->closed || conn_over_bounds(conn))
            break;
        size_t total = conn->in.len >= 4 ? 4 + (size_t)be32_read(conn->in.data) : 0;
        if (conn_budget_pause(conn, total))
            break;
        size_t asked;
        ssize_t n = total > NET_RBUF_BYTES ? conn_read_large(conn, total, &asked)
                                           : conn_read_small(conn, &asked);
        /* A short read means the socket is (almost surely) empty; level triggering reports it
         * again if not. The budget keeps one busy peer from starving the others. */
        if (n <= 0 || (size_t)n < asked || (size_t)n >= read_left)
            break;
        read_left -= (size_t)n;
    }
    conn_stall_arm(conn);
    /* Bytes the transport already took off the socket (TLS) raise no epoll event: read them
     * at the end of this iteration (net_conn_flush). */
    if (conn->tp->pending && !conn->closed && conn->tp->pending(conn))
        net_loop_flush_add(conn->loop, conn);
    conn_update_interest(conn);
}

/* ---- writing --------------------------------------------------------------------------------- */

static size_t slot_bytes(const net_slot_t *s)
{
    return s->resp.len + s->file_bytes;
}

/* What a slot sends from byte `off` on: heap bytes up to the next file range, or the rest of
 * the file range `off` falls in. */
typedef struct {
    const net_file_range_t *file; /* NULL: heap bytes at p */
    const uint8_t *p;
    uint64_t file_pos;
    size_t len;
} net_piece_t;

static void slot_piece(const net_slot_t *s, size_t off, net_piece_t *pc)
{
    size_t before = 0; /* file bytes placed before range i */
    for (size_t i = 0; i < s->nfiles; i++) {
        const net_file_range_t *f = &s->files[i];
        size_t start = f->at + before;
        if (off < start) {
            *pc = (net_piece_t){NULL, s->resp.data + (off - before), 0, start - off};
            return;
        }
        if (off < start + f->len) {
            *pc = (net_piece_t){f, NULL, f->pos + (off - start), start + f->len - off};
            return;
        }
        before += f->len;
    }
    *pc = (net_piece_t){NULL, s->resp.data + (off - before), 0, s->resp.len + before - off};
}

/* Drops n sent bytes from the head of the queue, and completed empty slots (acks=0) found at
 * the head. */
static void conn_pop_sent(net_conn_t *conn, size_t n)
{
    while (conn->head && conn->head->done) {
        size_t rem = slot_bytes(conn->head) - conn->head_off;
        if (rem > n) {
            conn->head_off += n;
            return;
        }
        n -= rem;
        conn->head_off = 0;
        conn_slot_unlink(conn, conn->head);
    }
    WEIR_ASSERT(n == 0);
}

/* Gathers the heap bytes of the completed slots at the head into iov, up to the first file
 * range; *file is that range's piece when it comes first (nothing gathered). */
static int conn_gather(net_conn_t *conn, struct iovec *iov, size_t *want, net_piece_t *file)
{
    int cnt = 0;
    *want = 0;
    file->file = NULL;
    for (net_slot_t *s = conn->head; s && s->done && cnt < NET_IOV_MAX; s = s->next) {
        size_t off = s == conn->head ? conn->head_off : 0;
        while (off < slot_bytes(s) && cnt < NET_IOV_MAX) {
            net_piece_t pc;
            slot_piece(s, off, &pc);
            if (pc.file) {
                if (cnt == 0) {
                    *file = pc;
                    *want = pc.len;
                }
                return cnt;
            }
            iov[cnt].iov_base = (void *)pc.p;
            iov[cnt].iov_len = pc.len;
            *want += pc.len;
            off += pc.len;
            cnt++;
        }
    }
    return cnt;
}

static void conn_send(net_conn_t *conn)
{
    struct iovec iov[NET_IOV_MAX];
    for (;;) {
        conn_pop_sent(conn, 0);
        size_t want;
        net_piece_t file;
        int cnt = conn_gather(conn, iov, &want, &file);
        if (cnt == 0 && !file.file) {
            conn->want_write = false;
            return;
        }
        WEIR_ASSERT(cnt > 0 || conn->tp->sendfile); /* no file ranges on TLS */
        ssize_t n = cnt ? conn->tp->sendv(conn, iov, cnt)
                        : conn->tp->sendfile(conn, file.file->fd, file.file_pos, file.len);
        if (n < 0) {
            net_conn_close(conn);
            return;
        }
        if (cnt) { /* the gauge counts memory: heap bytes only */
            metric_gauge_add(&conn->loop->m.outbuf_bytes, -(int64_t)n);
        } else {
            metric_counter_add(&conn->loop->m.sendfile_bytes, (uint64_t)n);
            conn->outbuf_files -= (size_t)n;
        }
        conn->bytes_out += (uint64_t)n;
        conn->outbuf -= (size_t)n;
        metric_counter_add(&conn->loop->m.bytes_out, (uint64_t)n);
        conn->last_active_ms = conn->loop->now_ms;
        conn_pop_sent(conn, (size_t)n);
        if ((size_t)n < want) {
            conn->want_write = true; /* the socket buffer is full: wait for EPOLLOUT */
            return;
        }
    }
}

/* Called by the loop for connections on its flush list: sends, then, if the connection came
 * back under its bounds, hands over frames it had left in `in`, and closes it after EOF once
 * everything is answered. */
void net_conn_flush(net_conn_t *conn)
{
    if (conn->closed)
        return;
    if (conn->draining)
        conn_in_free(conn);
    conn_send(conn);
    if (conn->closed)
        return;
    if (!conn->draining && !conn_over_bounds(conn)) {
        conn_parse_in(conn);
        if (conn->closed)
            return;
    }
    if (conn->draining && conn->nslots == 0) {
        net_conn_close(conn);
        return;
    }
    if (conn->tp->pending && !conn->draining && !conn_over_bounds(conn) && !conn->budget_paused &&
        conn->tp->pending(conn)) {
        conn_read(conn); /* updates the interest */
        return;
    }
    conn_update_interest(conn);
}

/* ---- slots ----------------------------------------------------------------------------------- */

/* Counts a completed response in the budget until it is sent. A buffer much larger than its
 * bytes (a kept buffer under a small answer) is shrunk first when holding it all would pass
 * the budget: a slow reader would otherwise pin the whole capacity. */
static void conn_slot_hold(net_budget_t *bud, net_slot_t *slot)
{
    buf_t *b = &slot->resp;
    if (bud && b->cap - b->len >= NET_KEEP_MIN_BYTES &&
        net_budget_held(bud) + b->cap > net_budget_max(bud)) {
        b->data = weir_realloc(b->data, WEIR_MAX(b->len, (size_t)1));
        b->cap = WEIR_MAX(b->len, (size_t)1);
    }
    slot->held = b->cap;
    net_budget_add(bud, slot->held);
}

void net_slot_complete(net_slot_t *slot, buf_t *resp)
{
    net_conn_t *conn = slot->conn;
    NET_ASSERT_LOOP_THREAD(conn->loop);
    WEIR_ASSERT(!slot->done);
    slot->done = true;
    conn->inflight--;
    if (resp) {
        buf_deinit(&slot->resp);
        slot->resp = *resp;
        buf_init(resp);
    }
    if (slot->resp.len == 0)
        buf_deinit(&slot->resp);
    if (conn->closed) {
        conn_slot_unlink(conn, slot);
        if (conn->nslots == 0)
            net_loop_free_add(conn->loop, conn);
        return;
    }
    conn_slot_hold(conn->loop->budget, slot);
    conn->outbuf += slot_bytes(slot);
    conn->outbuf_files += slot->file_bytes;
    metric_gauge_add(&conn->loop->m.outbuf_bytes, (int64_t)slot->resp.len);
    net_loop_flush_add(conn->loop, conn);
}

void net_slot_add_file(net_slot_t *slot, size_t at, int fd, uint64_t pos, size_t len,
                       net_fn release, void *arg)
{
    WEIR_ASSERT(!slot->done && !net_conn_is_tls(slot->conn));
    WEIR_ASSERT(slot->nfiles == 0 || slot->files[slot->nfiles - 1].at <= at);
    if (slot->nfiles == slot->capfiles) {
        slot->capfiles = slot->capfiles ? slot->capfiles * 2 : 4;
        slot->files = weir_realloc(slot->files, slot->capfiles * sizeof(*slot->files));
    }
    slot->files[slot->nfiles++] = (net_file_range_t){at, fd, pos, len, release, arg};
    slot->file_bytes += len;
}

void net_slot_files_shift(net_slot_t *slot, size_t from, ptrdiff_t delta)
{
    for (size_t i = 0; i < slot->nfiles; i++)
        if (slot->files[i].at >= from)
            slot->files[i].at = (size_t)((ptrdiff_t)slot->files[i].at + delta);
}

size_t net_slot_file_bytes(const net_slot_t *slot)
{
    return slot->file_bytes;
}

static void slot_complete_posted(void *arg)
{
    net_slot_complete(arg, NULL);
}

void net_slot_complete_async(net_slot_t *slot, buf_t *resp)
{
    /* The loop does not look at an uncompleted slot's resp, so the bytes can wait there; the
     * post's mutex publishes them to the loop thread. */
    if (resp) {
        slot->resp = *resp;
        buf_init(resp);
    }
    net_loop_post(slot->conn->loop, slot_complete_posted, slot);
}

net_conn_t *net_slot_conn(const net_slot_t *slot)
{
    return slot->conn;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static void conn_on_event(net_io_t *io, uint32_t events)
{
    net_conn_t *conn = (net_conn_t *)io;
    if (conn->closed)
        return; /* closed earlier in this batch; freed only after it */
    if (events & (EPOLLERR | EPOLLHUP)) {
        log_debug("net", "%s: socket error or hang-up, closing", conn->peer);
        net_conn_close(conn);
        return;
    }
    if ((events & EPOLLIN) || (conn->tp_wants_write && (events & EPOLLOUT))) {
        conn->tp_wants_write = false;
        conn_read(conn);
    }
    if (!conn->closed && (events & EPOLLOUT))
        net_loop_flush_add(conn->loop, conn);
}

/* Idle means no byte either way for idle_timeout_ms and no uncompleted slot. Rather than
 * re-arming on every byte, the timer fires at the earliest possible expiry and re-arms itself
 * for the remainder. */
static void conn_idle_fire(void *arg)
{
    net_conn_t *conn = arg;
    int64_t idle_ms = conn->h.limits.idle_timeout_ms;
    int64_t quiet_ms = conn->loop->now_ms - conn->last_active_ms;
    if (conn->inflight == 0 && quiet_ms >= idle_ms) {
        log_debug("net", "%s: idle for %" PRId64 " ms, closing", conn->peer, quiet_ms);
        net_conn_close(conn);
        return;
    }
    net_timer_start(conn->loop, &conn->idle, conn->inflight ? idle_ms : idle_ms - quiet_ms);
}

/* The peer sent part of a request and nothing more for stall_timeout_ms: its buffer is given
 * back and the connection closed. Frames that arrived whole and wait for the connection to come
 * under its bounds, or a connection not read because of those bounds, are not stalled; the
 * timer looks again later. A pause for the memory budget does count: memory held by a request
 * that cannot finish is what the timeout is there to free. */
static void conn_stall_fire(void *arg)
{
    net_conn_t *conn = arg;
    int64_t timeout_ms = conn->h.limits.stall_timeout_ms;
    size_t have = conn->in.len, want = have >= 4 ? 4 + (size_t)be32_read(conn->in.data) : 0;
    if (have == 0)
        return;
    if ((want && have >= want) || conn_over_bounds(conn)) {
        /* Not read because of its own bounds (answers it has not taken): not the peer's
         * stall. The clock starts again when reading resumes. */
        conn->last_in_ms = conn->loop->now_ms;
        net_timer_start(conn->loop, &conn->stall, timeout_ms);
        return;
    }
    int64_t quiet_ms = conn->loop->now_ms - conn->last_in_ms;
    if (quiet_ms < timeout_ms) {
        net_timer_start(conn->loop, &conn->stall, timeout_ms - quiet_ms);
        return;
    }
    log_warn("net",
             "%s: request of %zu bytes stalled at %zu bytes received for %" PRId64 " ms, closing%s",
             conn->peer, want ? want - 4 : 0, have >= 4 ? have - 4 : 0, quiet_ms,
             conn->budget_paused ? " (reading was paused: no room in the memory budget)" : "");
    metric_counter_add(&conn->loop->m.stalled, 1);
    net_conn_close(conn);
}

static void conn_mute_fire(void *arg)
{
    net_conn_t *conn = arg;
    conn->muted = false;
    if (!conn->closed)
        conn_read(conn); /* hands over the frames kept in `in`, reads the socket again */
}

void net_conn_mute(net_conn_t *conn, int64_t ms)
{
    NET_ASSERT_LOOP_THREAD(conn->loop);
    if (conn->closed || ms <= 0)
        return;
    int64_t due = conn->loop->now_ms + ms;
    if (conn->muted && net_timer_armed(&conn->mute) && conn->mute.due_ms >= due)
        return;
    conn->muted = true;
    net_timer_start(conn->loop, &conn->mute, ms);
    conn_update_interest(conn);
}

void net_conn_budget_retry(net_conn_t *conn)
{
    if (!conn->closed)
        conn_read(conn); /* stays paused if it still does not fit; else reads what waits */
}

int net_conn_open(net_loop_t *loop, int fd, const net_conn_handler_t *h, net_conn_t **out)
{
    NET_ASSERT_LOOP_THREAD(loop);
    WEIR_ASSERT(h->on_frame);
    net_conn_t *conn = weir_calloc(1, sizeof(*conn));
    conn->io.fd = fd;
    conn->io.on_event = conn_on_event;
    conn->loop = loop;
    conn->h = *h;
    conn->tp = &plain_transport;
    conn_limits_fill(&conn->h.limits);
    conn->id = atomic_fetch_add(&net_conn_next_id, 1) + 1;
    conn_format_peer(conn);
    if (h->tls && net_tls_conn_start(conn, h->tls) != 0) {
        free(conn);
        return -WEIR_ENOMEM;
    }
    if (net_io_add(loop, &conn->io, EPOLLIN) != 0) {
        if (conn->tp->close)
            conn->tp->close(conn);
        free(conn);
        return -WEIR_EIO;
    }
    conn->next = loop->conns;
    if (loop->conns)
        loop->conns->prev = conn;
    loop->conns = conn;
    metric_counter_add(&loop->m.conns_opened, 1);
    conn->last_active_ms = loop->now_ms;
    conn->last_in_ms = loop->now_ms;
    net_timer_init(&conn->idle, conn_idle_fire, conn);
    net_timer_init(&conn->stall, conn_stall_fire, conn);
    net_timer_init(&conn->mute, conn_mute_fire, conn);
    if (conn->h.limits.idle_timeout_ms > 0)
        net_timer_start(loop, &conn->idle, conn->h.limits.idle_timeout_ms);
    *out = conn;
    return 0;
}

void net_conn_close(net_conn_t *conn)
{
    if (conn->closed)
        return;
    net_loop_t *loop = conn->loop;
    NET_ASSERT_LOOP_THREAD(loop);
    conn->closed = true;
    net_io_del(loop, &conn->io);
    if (conn->tp->close)
        conn->tp->close(conn);
    close(conn->io.fd);
    conn->io.fd = -1;
    net_timer_stop(loop, &conn->idle);
    net_timer_stop(loop, &conn->stall);
    net_timer_stop(loop, &conn->mute);
    conn_budget_unpause(conn);
    /* Answered responses have nowhere to go; uncompleted slots stay queued until their owner
     * completes them, and the connection stays allocated until then. */
    for (net_slot_t *s = conn->head, *next; s; s = next) {
        next = s->next;
        if (s->done)
            conn_slot_unlink(conn, s);
    }
    metric_gauge_add(&loop->m.outbuf_bytes, -(int64_t)(conn->outbuf - conn->outbuf_files));
    metric_counter_add(&loop->m.conns_closed, 1);
    conn->outbuf = 0;
    conn->outbuf_files = 0;
    conn->head_off = 0;
    conn->want_write = false;
    conn_in_free(conn);
    if (conn->accept) {
        atomic_fetch_sub(&conn->accept->open, 1);
        net_accept_ctx_unref(conn->accept);
        conn->accept = NULL;
    }
    if (conn->h.on_close)
        conn->h.on_close(conn, conn->h.user);
    if (conn->nslots == 0)
        net_loop_free_add(loop, conn);
}

void net_conn_close_after_flush(net_conn_t *conn)
{
    NET_ASSERT_LOOP_THREAD(conn->loop);
    if (conn->closed || conn->draining)
        return;
    /* Deferred to the flush: this may be called from on_frame, mid-parse of `in`. */
    conn->draining = true;
    net_loop_flush_add(conn->loop, conn);
}

/* Frees a closed connection. From the loop's deferred work once its slots are done, or from
 * net_loop_free, which also frees slots nobody completed. */
void net_conn_destroy(net_conn_t *conn)
{
    net_loop_t *loop = conn->loop;
    WEIR_ASSERT(conn->closed);
    while (conn->head)
        conn_slot_unlink(conn, conn->head);
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        loop->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    conn_in_free(conn);
    free(conn);
}

/* ---- accessors ------------------------------------------------------------------------------- */

net_loop_t *net_conn_loop(const net_conn_t *conn)
{
    return conn->loop;
}

void *net_conn_user(const net_conn_t *conn)
{
    return conn->h.user;
}

void net_conn_set_user(net_conn_t *conn, void *user)
{
    conn->h.user = user;
}

bool net_conn_closed(const net_conn_t *conn)
{
    return conn->closed;
}

const char *net_conn_peer(const net_conn_t *conn)
{
    return conn->peer;
}

uint64_t net_conn_id(const net_conn_t *conn)
{
    return conn->id;
}

void *net_conn_session(const net_conn_t *conn)
{
    return conn->session;
}

void net_conn_set_session(net_conn_t *conn, void *session)
{
    conn->session = session;
}

void net_conn_stats(const net_conn_t *conn, net_conn_stats_t *st)
{
    st->inflight = conn->inflight;
    st->outbuf_bytes = conn->outbuf;
    st->inbuf_bytes = conn->in.cap;
    st->inbuf_peak_bytes = conn->in_peak;
    st->bytes_in = conn->bytes_in;
    st->bytes_out = conn->bytes_out;
    st->frames_in = conn->frames_in;
    st->reading = !conn->closed && (conn->io.events & EPOLLIN);
}
