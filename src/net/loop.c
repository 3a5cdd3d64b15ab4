/*
 * loop: one epoll event loop per thread, a cross-thread post queue woken by an eventfd, and a
 * timer min-heap.
 *
 * One iteration: run deferred work (flush connections with completed responses, free closed
 * connections whose slots are all done), sleep in epoll_wait until the next timer is due,
 * dispatch the events, run the due timers. Deferring flushes to one point per iteration lets a
 * burst of pipelined requests answered at once leave in a single writev; deferring frees to a
 * point where no callback is running means no callback ever sees a freed connection.
 *
 * Level-triggered epoll, on purpose: a connection reads a bounded number of bytes per event
 * (NET_READ_BUDGET_BYTES) so one fast pipelining client cannot starve the others, and level
 * triggering re-reports what it left unread without a ready list of our own. Backpressure is
 * then just removing EPOLLIN from the interest set; EPOLLOUT is in the set only while a write
 * hit EAGAIN. The cost, an epoll_ctl on each pause/resume transition, is paid rarely.
 *
 * The kept buffer: a sent response's buffer of 1 to 64 MiB is kept (the largest one) for the next
 * large response (net_loop_take_buf, used by Fetch), and freed once no response of 1 MiB or more
 * has gone out for NET_KEEP_IDLE_MS. Without it every multi-megabyte fetch maps fresh pages and
 * faults them in, which costs more than copying the records. It counts in the memory budget,
 * is kept only while that has room, and is dropped when a connection of its loop waits for room.
 *
 * The memory budget (net_budget_t, shared by the loops): a connection paused because its
 * partial request could not grow is looked at again every NET_BUDGET_RETRY_MS by a timer that
 * runs only while such a connection exists, so freeing memory on another loop needs no wake-up.
 *
 * Invariants: the heap holds exactly the armed timers, each at its heap_index; a connection is
 * on the free list only when closed with no slot left; deferred lists are empty when the loop
 * sleeps. Thread ownership is described in net_internal.h.
 */
#include "net/net_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static _Thread_local const net_loop_t *net_loop_current;

static void loop_kept_expire(void *arg);
static void loop_budget_retry(void *arg);

#define NET_EVENTS_PER_WAIT 256

static void loop_on_wake(net_io_t *io, uint32_t events);

/* ---- epoll registrations --------------------------------------------------------------------- */

int net_io_add(net_loop_t *loop, net_io_t *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) != 0) {
        log_error("net", "epoll_ctl add fd %d: %s", io->fd, strerror(errno));
        return -WEIR_EIO;
    }
    io->events = events;
    return 0;
}

int net_io_mod(net_loop_t *loop, net_io_t *io, uint32_t events)
{
    if (io->events == events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0) {
        log_error("net", "epoll_ctl mod fd %d: %s", io->fd, strerror(errno));
        return -WEIR_EIO;
    }
    io->events = events;
    return 0;
}

void net_io_del(net_loop_t *loop, net_io_t *io)
{
    /* Closing the fd would drop it from the set too, but only once every duplicate is closed;
     * deleting explicitly keeps stale events from arriving for it. */
    if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL) != 0)
        log_debug("net", "epoll_ctl del fd %d: %s", io->fd, strerror(errno));
    io->events = 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

int net_loop_new(net_loop_t **out)
{
    net_loop_t *loop = weir_calloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        log_error("net", "epoll_create1: %s", strerror(errno));
        goto out_free_loop;
    }
    loop->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wake.fd < 0) {
        log_error("net", "eventfd: %s", strerror(errno));
        goto out_close_epoll;
    }
    loop->wake.on_event = loop_on_wake;
    if (net_io_add(loop, &loop->wake, EPOLLIN) != 0)
        goto out_close_wake;
    pthread_mutex_init(&loop->post_mu, NULL);
    atomic_init(&loop->stop, false);
    atomic_init(&loop->running, false);
    loop->rbuf = weir_malloc(NET_RBUF_BYTES);
    net_timer_init(&loop->kept_timer, loop_kept_expire, loop);
    net_timer_init(&loop->budget_timer, loop_budget_retry, loop);
    loop->now_ms = clock_mono_ms();
    *out = loop;
    return 0;

out_close_wake:
    close(loop->wake.fd);
out_close_epoll:
    close(loop->epfd);
out_free_loop:
    free(loop);
    return -WEIR_EIO;
}

bool net_loop_is_current(const net_loop_t *loop)
{
    return net_loop_current == loop;
}

bool net_loop_owns(const net_loop_t *loop)
{
    return net_loop_current == loop || !atomic_load_explicit(&loop->running, memory_order_relaxed);
}

int64_t net_loop_now_ms(const net_loop_t *loop)
{
    return loop->now_ms;
}

/* ---- posts ----------------------------------------------------------------------------------- */

static void loop_wake(net_loop_t *loop)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop is awake anyway. */
    ssize_t w = write(loop->wake.fd, &one, sizeof(one));
    (void)w;
}

void net_loop_post(net_loop_t *loop, net_fn fn, void *arg)
{
    pthread_mutex_lock(&loop->post_mu);
    net_postq_t *q = &loop->postq;
    if (q->len == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->items = weir_realloc(q->items, q->cap * sizeof(q->items[0]));
    }
    q->items[q->len++] = (net_post_t){fn, arg};
    bool was_empty = q->len == 1;
    pthread_mutex_unlock(&loop->post_mu);
    if (was_empty)
        loop_wake(loop);
}

/* The caller's side of net_loop_call: a stack frame the loop signals when fn has run. */
typedef struct {
    net_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
} net_call_t;

static void loop_call_run(void *p)
{
    net_call_t *c = p;
    if (c->fn)
        c->fn(c->arg);
    pthread_mutex_lock(&c->mu);
    c->done = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void net_loop_call(net_loop_t *loop, net_fn fn, void *arg)
{
    if (net_loop_is_current(loop)) {
        if (fn)
            fn(arg);
        return;
    }
    net_call_t c = {.fn = fn, .arg = arg, .done = false};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    net_loop_post(loop, loop_call_run, &c);
    pthread_mutex_lock(&c.mu);
    while (!c.done)
        pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
}

/* Runs what was posted so far. Posts made while it runs wait for the next call, so a function
 * that posts itself cannot keep the loop here forever. Returns how many ran. */
static size_t loop_run_posts(net_loop_t *loop)
{
    pthread_mutex_lock(&loop->post_mu);
    net_postq_t batch = loop->postq;
    loop->postq = loop->spare;
    pthread_mutex_unlock(&loop->post_mu);
    for (size_t i = 0; i < batch.len; i++)
        batch.items[i].fn(batch.items[i].arg);
    size_t n = batch.len;
    batch.len = 0;
    loop->spare = batch;
    return n;
}

static void loop_on_wake(net_io_t *io, uint32_t events)
{
    net_loop_t *loop = (net_loop_t *)((char *)io - offsetof(net_loop_t, wake));
    uint64_t v;
    /* Reset the counter before draining: a post that lands after the drain finds the queue
     * empty and writes again, so no wake-up is lost. */
    ssize_t r = read(loop->wake.fd, &v, sizeof(v));
    (void)r;
    loop_run_posts(loop);
}

void net_loop_stop(net_loop_t *loop)
{
    atomic_store(&loop->stop, true);
    loop_wake(loop);
}

/* ---- deferred work --------------------------------------------------------------------------- */

void net_loop_flush_add(net_loop_t *loop, net_conn_t *conn)
{
    if (conn->in_flush)
        return;
    conn->in_flush = true;
    conn->flush_next = NULL;
    if (loop->flush_tail)
        loop->flush_tail->flush_next = conn;
    else
        loop->flush_head = conn;
    loop->flush_tail = conn;
}

void net_loop_free_add(net_loop_t *loop, net_conn_t *conn)
{
    WEIR_ASSERT(conn->closed && conn->nslots == 0);
    if (conn->in_free)
        return;
    conn->in_free = true;
    conn->free_next = loop->free_head;
    loop->free_head = conn;
}

/* Flushes first (a flush may close a connection, which may then be freed), frees last (a free
 * runs no callback, so nothing is added behind it). */
static void loop_run_deferred(net_loop_t *loop)
{
    while (loop->flush_head) {
        net_conn_t *conn = loop->flush_head;
        loop->flush_head = conn->flush_next;
        if (!loop->flush_head)
            loop->flush_tail = NULL;
        conn->in_flush = false;
        net_conn_flush(conn);
    }
    while (loop->free_head) {
        net_conn_t *conn = loop->free_head;
        loop->free_head = conn->free_next;
        net_conn_destroy(conn);
    }
}

/* ---- slot cache ------------------------------------------------------------------------------ */

net_slot_t *net_loop_slot_get(net_loop_t *loop)
{
    net_slot_t *slot = loop->slot_cache;
    if (slot) {
        loop->slot_cache = slot->next;
        loop->slot_cache_len--;
    } else {
        slot = weir_malloc(sizeof(*slot));
    }
    memset(slot, 0, sizeof(*slot));
    return slot;
}

/* ---- the kept response buffer -----------------------------------------------------------------
 */

/* Frees the kept buffer and gives its bytes back to the budget. */
void net_loop_kept_drop(net_loop_t *loop)
{
    net_budget_release(loop->budget, loop->kept.cap);
    buf_deinit(&loop->kept);
    metric_gauge_set(&loop->m.kept_bytes, 0);
}

static void loop_kept_expire(void *arg)
{
    net_loop_t *loop = arg;
    int64_t idle = loop->now_ms - loop->kept_used_ms;
    if (idle >= NET_KEEP_IDLE_MS) {
        net_loop_kept_drop(loop);
        metric_gauge_set(&loop->m.kept_bytes, 0);
    } else if (loop->kept.cap)
        net_timer_start(loop, &loop->kept_timer, NET_KEEP_IDLE_MS - idle);
}

/* A sent response's buffer: kept if it is the largest candidate and a large response went out
 * in the last NET_KEEP_IDLE_MS (small responses may borrow the buffer but do not keep it
 * alive); freed otherwise. */
static void loop_buf_release(net_loop_t *loop, buf_t *b)
{
    if (b->len >= NET_KEEP_MIN_BYTES)
        loop->kept_used_ms = loop->now_ms;
    /* Kept only while the budget has room: it must not keep requests from being read. */
    bool roomy = net_budget_held(loop->budget) + b->cap <= net_budget_max(loop->budget) / 2;
    if (b->cap < NET_KEEP_MIN_BYTES || b->cap > NET_KEEP_MAX_BYTES || b->cap <= loop->kept.cap ||
        loop->now_ms - loop->kept_used_ms >= NET_KEEP_IDLE_MS || !roomy) {
        buf_deinit(b);
        return;
    }
    net_loop_kept_drop(loop);
    loop->kept = *b;
    loop->kept.len = 0;
    net_budget_add(loop->budget, loop->kept.cap);
    metric_gauge_set(&loop->m.kept_bytes, (int64_t)loop->kept.cap);
    buf_init(b);
    if (!net_timer_armed(&loop->kept_timer))
        net_timer_start(loop, &loop->kept_timer,
                        NET_KEEP_IDLE_MS - (loop->now_ms - loop->kept_used_ms));
}

void net_loop_take_buf(net_loop_t *loop, buf_t *b, size_t may_need)
{
    NET_ASSERT_LOOP_THREAD(loop);
    if (may_need < NET_KEEP_MIN_BYTES || loop->kept.cap <= b->cap)
        return;
    buf_t k = loop->kept;
    net_budget_release(loop->budget, k.cap); /* the response counts it once completed */
    buf_init(&loop->kept);
    metric_gauge_set(&loop->m.kept_bytes, 0);
    if (b->len)
        memcpy(k.data, b->data, b->len);
    k.len = b->len;
    buf_deinit(b);
    *b = k;
}

void net_loop_slot_put(net_loop_t *loop, net_slot_t *slot)
{
    net_budget_release(loop->budget, slot->held);
    slot->held = 0;
    loop_buf_release(loop, &slot->resp);
    for (size_t i = 0; i < slot->nfiles; i++)
        slot->files[i].release(slot->files[i].arg);
    free(slot->files);
    slot->files = NULL;
    slot->nfiles = slot->capfiles = slot->file_bytes = 0;
    if (loop->slot_cache_len >= NET_SLOT_CACHE) {
        free(slot);
        return;
    }
    slot->next = loop->slot_cache;
    loop->slot_cache = slot;
    loop->slot_cache_len++;
}

/* ---- timers ---------------------------------------------------------------------------------- */

static bool timer_before(const net_timer_t *a, const net_timer_t *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_place(net_loop_t *loop, size_t i, net_timer_t *t)
{
    loop->heap[i] = t;
    t->heap_index = i;
}

static void heap_sift_up(net_loop_t *loop, size_t i)
{
    net_timer_t *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->heap[parent]))
            break;
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void heap_sift_down(net_loop_t *loop, size_t i)
{
    net_timer_t *t = loop->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loop->heap_len)
            break;
        if (c + 1 < loop->heap_len && timer_before(loop->heap[c + 1], loop->heap[c]))
            c++;
        if (!timer_before(loop->heap[c], t))
            break;
        heap_place(loop, i, loop->heap[c]);
        i = c;
    }
    heap_place(loop, i, t);
}

void net_timer_init(net_timer_t *t, net_fn fn, void *arg)
{
    memset(t, 0, sizeof(*t));
    t->heap_index = SIZE_MAX;
    t->fn = fn;
    t->arg = arg;
}

bool net_timer_armed(const net_timer_t *t)
{
    return t->heap_index != SIZE_MAX;
}

void net_timer_stop(net_loop_t *loop, net_timer_t *t)
{
    NET_ASSERT_LOOP_THREAD(loop);
    if (!net_timer_armed(t))
        return;
    size_t i = t->heap_index;
    WEIR_ASSERT(i < loop->heap_len && loop->heap[i] == t);
    t->heap_index = SIZE_MAX;
    net_timer_t *last = loop->heap[--loop->heap_len];
    if (last == t)
        return;
    heap_place(loop, i, last);
    heap_sift_up(loop, i);
    heap_sift_down(loop, last->heap_index);
}

void net_timer_start(net_loop_t *loop, net_timer_t *t, int64_t delay_ms)
{
    NET_ASSERT_LOOP_THREAD(loop);
    net_timer_stop(loop, t);
    t->due_ms = loop->now_ms + (delay_ms > 0 ? delay_ms : 0);
    t->seq = loop->timer_seq++;
    if (loop->heap_len == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        loop->heap = weir_realloc(loop->heap, loop->heap_cap * sizeof(loop->heap[0]));
    }
    heap_place(loop, loop->heap_len++, t);
    heap_sift_up(loop, t->heap_index);
}

/* Fires timers due by now that were started before this call: one re-armed from its own fn
 * with delay 0 waits for the next iteration instead of spinning here. */
static void loop_run_timers(net_loop_t *loop)
{
    uint64_t seq_limit = loop->timer_seq;
    while (loop->heap_len > 0) {
        net_timer_t *t = loop->heap[0];
        if (t->due_ms > loop->now_ms || t->seq >= seq_limit)
            break;
        net_timer_stop(loop, t);
        t->fn(t->arg);
    }
}

static int loop_timeout_ms(const net_loop_t *loop)
{
    if (loop->heap_len == 0)
        return -1;
    int64_t d = loop->heap[0]->due_ms - loop->now_ms;
    if (d <= 0)
        return 0;
    return d > INT32_MAX ? INT32_MAX : (int)d;
}

/* ---- run ------------------------------------------------------------------------------------- */

/* A write to a peer that has gone raises SIGPIPE unless the call says not to: sendmsg does
 * (MSG_NOSIGNAL), but sendfile (zero-copy fetch) and OpenSSL's socket writes cannot. A process
 * that embeds the broker and did not ignore SIGPIPE would die of it, so the loop's thread blocks
 * it: the signal stays pending on this thread and the write fails with EPIPE, as sendmsg's does. */
static void loop_block_sigpipe(void)
{
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
}

int net_loop_run(net_loop_t *loop)
{
    loop_block_sigpipe();
    const net_loop_t *prev = net_loop_current;
    net_loop_current = loop;
    atomic_store(&loop->running, true);
    struct epoll_event events[NET_EVENTS_PER_WAIT];
    loop->now_ms = clock_mono_ms();
    while (!atomic_load_explicit(&loop->stop, memory_order_acquire)) {
        loop_run_deferred(loop);
        int n = epoll_wait(loop->epfd, events, NET_EVENTS_PER_WAIT, loop_timeout_ms(loop));
        loop->now_ms = clock_mono_ms();
        if (n < 0 && errno != EINTR) {
            /* Only EBADF/EFAULT/EINVAL are possible: programmer errors. */
            log_error("net", "epoll_wait: %s", strerror(errno));
            WEIR_ASSERT(0);
        }
        for (int i = 0; i < n; i++) {
            net_io_t *io = events[i].data.ptr;
            io->on_event(io, events[i].events);
        }
        loop_run_timers(loop);
    }
    /* Send what is already answered before returning; net_loop_free closes the rest. */
    loop_run_deferred(loop);
    atomic_store(&loop->running, false);
    net_loop_current = prev;
    return 0;
}

void net_loop_free(net_loop_t *loop)
{
    if (!loop)
        return;
    WEIR_ASSERT(!atomic_load(&loop->running));
    const net_loop_t *prev = net_loop_current;
    net_loop_current = loop;
    loop->now_ms = clock_mono_ms();
    /* Posts may open connections (queued accepts) or complete slots; closing may post. A few
     * rounds settle it; anything posted after that is the poster's bug (see net.h). */
    for (int round = 0; round < 4; round++) {
        loop_run_posts(loop);
        for (net_conn_t *conn = loop->conns; conn; conn = conn->next)
            net_conn_close(conn);
        loop_run_deferred(loop);
    }
    while (loop->conns) {
        net_conn_t *conn = loop->conns;
        log_warn("net", "freeing connection %" PRIu64 " with %zu uncompleted slot(s)", conn->id,
                 conn->inflight);
        net_conn_destroy(conn);
    }
    for (size_t i = 0; i < loop->heap_len; i++)
        loop->heap[i]->heap_index = SIZE_MAX;
    free(loop->heap);
    while (loop->slot_cache) {
        net_slot_t *slot = loop->slot_cache;
        loop->slot_cache = slot->next;
        free(slot);
    }
    free(loop->postq.items);
    free(loop->spare.items);
    pthread_mutex_destroy(&loop->post_mu);
    close(loop->wake.fd);
    close(loop->epfd);
    free(loop->rbuf);
    net_loop_kept_drop(loop);
    free(loop);
    net_loop_current = prev;
}

void net_loop_stats(const net_loop_t *loop, net_loop_stats_t *st)
{
    st->bytes_in = metric_counter_get(&loop->m.bytes_in);
    st->bytes_out = metric_counter_get(&loop->m.bytes_out);
    st->frames_in = metric_counter_get(&loop->m.frames_in);
    st->conns_opened = metric_counter_get(&loop->m.conns_opened);
    st->conns_closed = metric_counter_get(&loop->m.conns_closed);
    st->outbuf_bytes = metric_gauge_get(&loop->m.outbuf_bytes);
    st->kept_bytes = metric_gauge_get(&loop->m.kept_bytes);
    st->stalled = metric_counter_get(&loop->m.stalled);
    st->sendfile_bytes = metric_counter_get(&loop->m.sendfile_bytes);
}

void net_loop_set_budget(net_loop_t *loop, net_budget_t *bud)
{
    WEIR_ASSERT(!atomic_load(&loop->running));
    loop->budget = bud;
}

net_budget_t *net_loop_budget(const net_loop_t *loop)
{
    return loop->budget;
}

static void loop_budget_retry(void *arg)
{
    net_loop_t *loop = arg;
    for (net_conn_t *conn = loop->conns, *next; conn; conn = next) {
        next = conn->next; /* a retry may close it; it is freed only later */
        if (conn->budget_paused)
            net_conn_budget_retry(conn);
    }
    if (loop->budget_paused > 0)
        net_timer_start(loop, &loop->budget_timer, NET_BUDGET_RETRY_MS);
}
