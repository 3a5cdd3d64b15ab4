/*
 * bench_redis: the Redis Streams side of `make bench`, on hiredis (Debian libhiredis-dev).
 *
 *   bench_redis publish     --addr H:P --topic KEY --count N --msg-bytes B [--seconds S]
 *                           [--pipeline W]
 *   bench_redis consume     --addr H:P --topic KEY --count N --msg-bytes B [--seconds S]
 *                           [--batch C]
 *   bench_redis latency_ack --addr H:P --topic KEY --count N --msg-bytes B [--seconds S]
 *   bench_redis latency_e2e --addr H:P --topic KEY --rate R --msg-bytes B [--seconds S]
 *                           (XADDs at R per second on hiredis's async API, a reader in XREAD)
 *
 * A message is one stream entry `XADD KEY * f <payload>`; Redis's reply (the entry id) is its
 * acknowledgement, sent after the entry is in memory and, with `appendfsync always`, after the
 * AOF write and fsync of the event-loop pass that carried it. Durability is the server's
 * configuration (the runner starts redis-server with or without AOF); this program only drives.
 *
 * Throughput uses pipelining, Redis's documented way to amortise round trips: W commands are
 * written back to back, then their W replies read (W = 1000 by default). Consumption reads the
 * stream with XRANGE from the last id seen, exclusive, C entries per call. Streams have no
 * partitions: every run here is one stream on one connection (Redis executes commands on one
 * thread). One connection, one thread per role; nothing here is shared between threads except
 * the counters of latency_e2e, which are atomics.
 */
#include "../bench_common.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    const char *addr, *topic;
    int64_t count, msg_bytes, pipeline, batch, rate;
    double seconds;
} opts_t;

static redisContext *rconnect(const char *addr)
{
    char host[256];
    int port;
    bench_split_addr(addr, host, sizeof(host), &port);
    struct timeval tv = {.tv_sec = 5};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err)
        bench_die("redis connect %s: %s", addr, c ? c->errstr : "no memory");
    tv.tv_sec = 30;
    redisSetTimeout(c, tv);
    return c;
}

static void xadd_append(redisContext *c, const char *key, const uint8_t *payload, size_t n)
{
    const char *argv[5] = {"XADD", key, "*", "f", (const char *)payload};
    size_t lens[5] = {4, strlen(key), 1, 1, n};
    redisAppendCommandArgv(c, 5, argv, lens);
}

/* Reads one XADD reply; true if it is an entry id. */
static bool xadd_reply_ok(redisContext *c)
{
    redisReply *r = NULL;
    if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
        bench_die("redis: %s", c->errstr);
    bool ok = r->type == REDIS_REPLY_STRING;
    if (!ok && r->type == REDIS_REPLY_ERROR)
        fprintf(stderr, "bench_redis: XADD: %s\n", r->str);
    freeReplyObject(r);
    return ok;
}

static int run_publish(const opts_t *o)
{
    redisContext *c = rconnect(o->addr);
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9);
    int64_t sent = 0, acked = 0, errors = 0;
    bool capped = false;
    while (sent < o->count) {
        if (bench_now_ns() > deadline) {
            capped = true;
            break;
        }
        int64_t w = BENCH_MIN(o->pipeline, o->count - sent);
        for (int64_t i = 0; i < w; i++) {
            bench_payload_stamp(payload, (uint64_t)(sent + i), bench_now_ns());
            xadd_append(c, o->topic, payload, (size_t)o->msg_bytes);
        }
        for (int64_t i = 0; i < w; i++) {
            if (xadd_reply_ok(c))
                acked++;
            else
                errors++;
        }
        sent += w;
    }
    int64_t t1 = bench_now_ns();
    char config[96];
    snprintf(config, sizeof(config), "XADD, pipeline %" PRId64, o->pipeline);
    bench_result_t r = {.workload = "publish",
                        .config = config,
                        .expected = o->count,
                        .msgs = acked,
                        .errors = errors,
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped};
    bench_result_print(&r);
    redisFree(c);
    free(payload);
    return bench_result_status(&r);
}

/* Checks one XRANGE/XREAD entry [id, [f, payload]] and copies its id to last_id. Returns the
 * payload or NULL if the entry does not have the shape XADD gave it. */
static const uint8_t *entry_payload(const redisReply *e, int64_t msg_bytes, char *last_id,
                                    size_t last_cap)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY ||
        e->element[1]->elements != 2 || e->element[1]->element[1]->type != REDIS_REPLY_STRING)
        return NULL;
    snprintf(last_id, last_cap, "%s", e->element[0]->str);
    const redisReply *v = e->element[1]->element[1];
    if ((int64_t)v->len != msg_bytes)
        return NULL;
    return (const uint8_t *)v->str;
}

static int run_consume(const opts_t *o)
{
    redisContext *c = rconnect(o->addr);
    bench_order_t ord;
    bench_order_init(&ord, 1);
    char last[64] = "-", start[80], cnt[32];
    snprintf(cnt, sizeof(cnt), "%" PRId64, o->batch);
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9);
    int64_t got = 0, errors = 0;
    bool capped = false;
    while (got < o->count) {
        if (bench_now_ns() > deadline) {
            capped = true;
            break;
        }
        if (strcmp(last, "-") == 0)
            snprintf(start, sizeof(start), "-");
        else
            snprintf(start, sizeof(start), "(%s", last);
        redisReply *r = redisCommand(c, "XRANGE %s %s + COUNT %s", o->topic, start, cnt);
        if (!r)
            bench_die("redis: %s", c->errstr);
        if (r->type != REDIS_REPLY_ARRAY)
            bench_die("XRANGE: unexpected reply type %d %s", r->type, r->str ? r->str : "");
        if (r->elements == 0) {
            freeReplyObject(r);
            break; /* the backlog is shorter than asked: counted as missing below */
        }
        for (size_t i = 0; i < r->elements; i++) {
            const uint8_t *p = entry_payload(r->element[i], o->msg_bytes, last, sizeof(last));
            if (!p || !bench_order_check(&ord, 0, bench_payload_seq(p)))
                errors++;
            got++;
        }
        freeReplyObject(r);
    }
    int64_t t1 = bench_now_ns();
    char config[96];
    snprintf(config, sizeof(config), "XRANGE COUNT %" PRId64, o->batch);
    bench_result_t res = {.workload = "consume",
                          .config = config,
                          .expected = o->count,
                          .msgs = got,
                          .errors = errors,
                          .msg_bytes = o->msg_bytes,
                          .partitions = 1,
                          .secs = (double)(t1 - t0) / 1e9,
                          .capped = capped};
    bench_result_print(&res);
    redisFree(c);
    return bench_result_status(&res);
}

static int run_latency_ack(const opts_t *o)
{
    redisContext *c = rconnect(o->addr);
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    bench_lat_t lat = {0};
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9);
    int64_t n = 0, errors = 0;
    bool capped = false;
    for (; n < o->count; n++) {
        int64_t ts = bench_now_ns();
        if (ts > deadline) {
            capped = true;
            break;
        }
        bench_payload_stamp(payload, (uint64_t)n, ts);
        xadd_append(c, o->topic, payload, (size_t)o->msg_bytes);
        if (!xadd_reply_ok(c))
            errors++;
        bench_lat_add(&lat, bench_now_ns() - ts);
    }
    int64_t t1 = bench_now_ns();
    bench_result_t r = {.workload = "latency_ack",
                        .config = "XADD, one in flight",
                        .expected = o->count,
                        .msgs = n - errors,
                        .errors = errors,
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped,
                        .lat = &lat};
    bench_result_print(&r);
    bench_lat_free(&lat);
    redisFree(c);
    free(payload);
    return bench_result_status(&r);
}

/* ---- latency_e2e: a paced producer thread and a blocking reader thread ------------------- */
typedef struct {
    const opts_t *o;
    int64_t total, t_start, deadline;
    bench_lat_t ack, e2e;
    atomic_int_fast64_t acked, received, errors;
} e2e_t;

/* hiredis's async API needs an event loop; this is the smallest one: hiredis says when it wants
 * to read or write, and aev_poll() waits on its one socket until a deadline. */
typedef struct {
    redisAsyncContext *ac;
    bool want_read, want_write;
} aev_t;

static void aev_add_read(void *p)
{
    ((aev_t *)p)->want_read = true;
}
static void aev_del_read(void *p)
{
    ((aev_t *)p)->want_read = false;
}
static void aev_add_write(void *p)
{
    ((aev_t *)p)->want_write = true;
}
static void aev_del_write(void *p)
{
    ((aev_t *)p)->want_write = false;
}
static void aev_cleanup(void *p)
{
    aev_t *ev = p;
    ev->want_read = ev->want_write = false;
    ev->ac = NULL;
}

static void aev_poll(aev_t *ev, int64_t until_ns)
{
    if (!ev->ac)
        return;
    struct pollfd pfd = {
        .fd = ev->ac->c.fd,
        .events = (short)((ev->want_read ? POLLIN : 0) | (ev->want_write ? POLLOUT : 0))};
    int64_t left = BENCH_MAX(until_ns - bench_now_ns(), 0);
    struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
    if (ppoll(&pfd, 1, &ts, NULL) <= 0)
        return;
    if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
        redisAsyncHandleRead(ev->ac);
    if (ev->ac && (pfd.revents & POLLOUT))
        redisAsyncHandleWrite(ev->ac);
}

static void on_xadd(redisAsyncContext *ac, void *reply, void *privdata)
{
    e2e_t *e = ac->data;
    const redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_STRING)
        atomic_fetch_add(&e->acked, 1);
    else
        atomic_fetch_add(&e->errors, 1);
    bench_lat_add(&e->ack, bench_now_ns() - (int64_t)(intptr_t)privdata);
}

/* The producer does not wait for one reply before sending the next (as Weir's and the other
 * peers' producers do not): XADDs go out at their scheduled times on hiredis's async API. */
static void *e2e_producer(void *arg)
{
    e2e_t *e = arg;
    char host[256];
    int port;
    bench_split_addr(e->o->addr, host, sizeof(host), &port);
    aev_t ev = {0};
    ev.ac = redisAsyncConnect(host, port);
    if (!ev.ac || ev.ac->err)
        bench_die("redis async connect %s: %s", e->o->addr, ev.ac ? ev.ac->errstr : "no memory");
    ev.ac->data = e;
    ev.ac->ev.data = &ev;
    ev.ac->ev.addRead = aev_add_read;
    ev.ac->ev.delRead = aev_del_read;
    ev.ac->ev.addWrite = aev_add_write;
    ev.ac->ev.delWrite = aev_del_write;
    ev.ac->ev.cleanup = aev_cleanup;
    uint8_t *payload = bench_xmalloc((size_t)e->o->msg_bytes);
    bench_payload_init(payload, (size_t)e->o->msg_bytes);
    const char *argv[5] = {"XADD", e->o->topic, "*", "f", (const char *)payload};
    size_t lens[5] = {4, strlen(e->o->topic), 1, 1, (size_t)e->o->msg_bytes};
    for (int64_t i = 0; i < e->total && ev.ac; i++) {
        /* The intended send time, not the actual one: a stall delays the messages behind it and
         * their latency counts the stall (no coordinated omission). */
        int64_t t_i = e->t_start + i * 1000000000 / e->o->rate;
        while (ev.ac && bench_now_ns() < t_i)
            aev_poll(&ev, t_i);
        bench_payload_stamp(payload, (uint64_t)i, t_i);
        if (!ev.ac ||
            redisAsyncCommandArgv(ev.ac, on_xadd, (void *)(intptr_t)t_i, 5, argv, lens) != REDIS_OK)
            atomic_fetch_add(&e->errors, 1);
        aev_poll(&ev, 0);
    }
    while (ev.ac && atomic_load(&e->acked) + atomic_load(&e->errors) < e->total &&
           bench_now_ns() < e->deadline)
        aev_poll(&ev, BENCH_MIN(bench_now_ns() + 100000000, e->deadline));
    if (ev.ac)
        redisAsyncFree(ev.ac);
    free(payload);
    return NULL;
}

static void *e2e_consumer(void *arg)
{
    e2e_t *e = arg;
    redisContext *c = rconnect(e->o->addr);
    bench_order_t ord;
    bench_order_init(&ord, 1);
    char last[64] = "0-0";
    while (atomic_load(&e->received) < e->total && bench_now_ns() < e->deadline) {
        redisReply *r =
            redisCommand(c, "XREAD COUNT 1000 BLOCK 100 STREAMS %s %s", e->o->topic, last);
        if (!r)
            bench_die("redis: %s", c->errstr);
        int64_t now = bench_now_ns();
        /* Reply: nil on timeout, else [[key, [entries...]]]. */
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
            const redisReply *entries = r->element[0]->element[1];
            for (size_t i = 0; i < entries->elements; i++) {
                const uint8_t *p =
                    entry_payload(entries->element[i], e->o->msg_bytes, last, sizeof(last));
                if (!p || !bench_order_check(&ord, 0, bench_payload_seq(p))) {
                    atomic_fetch_add(&e->errors, 1);
                    continue;
                }
                bench_lat_add(&e->e2e, now - bench_payload_time(p));
                atomic_fetch_add(&e->received, 1);
            }
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static int run_latency_e2e(const opts_t *o)
{
    e2e_t e = {.o = o};
    e.total = (int64_t)(o->seconds * (double)o->rate);
    pthread_t prod, cons;
    e.t_start = bench_now_ns() + 100000000; /* the reader is blocked in XREAD by then */
    e.deadline = e.t_start + (int64_t)(o->seconds * 1e9) + 5000000000LL;
    pthread_create(&cons, NULL, e2e_consumer, &e);
    pthread_create(&prod, NULL, e2e_producer, &e);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    int64_t received = atomic_load(&e.received);
    char config[96];
    snprintf(config, sizeof(config), "async XADD at %" PRId64 "/s; XREAD BLOCK", o->rate);
    bench_result_t r = {.workload = "latency_e2e",
                        .config = config,
                        .expected = e.total,
                        .msgs = received,
                        .errors = atomic_load(&e.errors),
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = o->seconds,
                        .lat = &e.e2e,
                        .ack_lat = &e.ack};
    if (atomic_load(&e.acked) != e.total)
        r.errors++;
    bench_result_print(&r);
    bench_lat_free(&e.ack);
    bench_lat_free(&e.e2e);
    return bench_result_status(&r);
}

int main(int argc, char **argv)
{
    static const char *const known[] = {"--addr",       "--topic",    "--count", "--msg-bytes",
                                        "--seconds",    "--pipeline", "--batch", "--rate",
                                        "--partitions", NULL};
    bench_args_t a = {argc, argv};
    if (argc < 2)
        bench_die("usage: bench_redis publish|consume|latency_ack|latency_e2e --addr H:P ...");
    bench_args_check(&a, known);
    opts_t o = {
        .addr = bench_arg_str(&a, "--addr", "127.0.0.1:6379"),
        .topic = bench_arg_str(&a, "--topic", "bench"),
        .count = bench_arg_i64(&a, "--count", 100000),
        .msg_bytes = bench_arg_i64(&a, "--msg-bytes", 100),
        .pipeline = bench_arg_i64(&a, "--pipeline", 1000),
        .batch = bench_arg_i64(&a, "--batch", 1000),
        .rate = bench_arg_i64(&a, "--rate", 10000),
        .seconds = bench_arg_f64(&a, "--seconds", 10),
    };
    if (bench_arg_i64(&a, "--partitions", 1) != 1)
        bench_die("Redis streams have no partitions: --partitions must be 1");
    if (o.msg_bytes < BENCH_HDR_BYTES || o.msg_bytes > BENCH_MSG_BYTES_MAX || o.count < 1 ||
        o.pipeline < 1 || o.batch < 1 || o.rate < 1 || o.seconds <= 0)
        bench_die("option out of range");
    const char *w = argv[1];
    if (strcmp(w, "publish") == 0)
        return run_publish(&o);
    if (strcmp(w, "consume") == 0)
        return run_consume(&o);
    if (strcmp(w, "latency_ack") == 0)
        return run_latency_ack(&o);
    if (strcmp(w, "latency_e2e") == 0)
        return run_latency_e2e(&o);
    bench_die("unknown workload %s", w);
}
