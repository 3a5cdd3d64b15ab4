/*
 * bench_rabbitmq: the RabbitMQ side of `make bench`, on rabbitmq-c (Debian librabbitmq-dev),
 * speaking AMQP 0-9-1 (Debian has no client for RabbitMQ's stream protocol).
 *
 *   bench_rabbitmq publish     --addr H:P --topic Q --queue-type stream|quorum --count N
 *                              --msg-bytes B [--seconds S] [--pipeline WINDOW]
 *   bench_rabbitmq consume     --addr H:P --topic Q --count N --msg-bytes B [--seconds S]
 *                              [--batch PREFETCH]
 *   bench_rabbitmq latency_ack --addr H:P --topic Q --queue-type T --count N --msg-bytes B
 *   bench_rabbitmq latency_e2e --addr H:P --topic Q --rate R --msg-bytes B [--seconds S]
 *
 * Durable publish is a quorum queue with persistent messages and publisher confirms: RabbitMQ
 * confirms a quorum-queue message after its Raft log write is fsynced. Fast publish is a stream
 * queue with confirms (written, not fsynced). The backlog is read back from the stream queue
 * with basic.consume at x-stream-offset "first", a prefetch window (streams require one) and
 * manual acks, one ack with multiple=true per quarter window.
 *
 * Throughput settings follow the RabbitMQ publisher-confirms guide's fastest strategy: confirms
 * handled asynchronously while publishing, with a bounded window of unconfirmed messages
 * (WINDOW = 5000). One connection, one channel, one thread per role; rabbitmq-c connections are
 * not thread safe, so the e2e test gives the producer and the consumer a connection each.
 */
#include "../bench_common.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/time.h>

typedef struct {
    const char *addr, *topic, *queue_type;
    int64_t count, msg_bytes, pipeline, batch, rate;
    double seconds;
} opts_t;

static void rpc_check(amqp_connection_state_t conn, const char *what)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        bench_die("rabbitmq %s: %s", what, amqp_error_string2(r.library_error));
    if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *c = r.reply.decoded;
        bench_die("rabbitmq %s: channel closed: %d %.*s", what, c->reply_code,
                  (int)c->reply_text.len, (char *)c->reply_text.bytes);
    }
    bench_die("rabbitmq %s: server error (method 0x%08x)", what, r.reply.id);
}

static amqp_connection_state_t rconnect(const char *addr)
{
    char host[256];
    int port;
    bench_split_addr(addr, host, sizeof(host), &port);
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    if (!sock || amqp_socket_open(sock, host, port) != AMQP_STATUS_OK)
        bench_die("rabbitmq: cannot connect to %s", addr);
    amqp_rpc_reply_t r =
        amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        bench_die("rabbitmq: login failed");
    amqp_channel_open(conn, 1);
    rpc_check(conn, "channel.open");
    return conn;
}

static void rclose(amqp_connection_state_t conn)
{
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* Declares a durable queue of the given x-queue-type ("quorum" or "stream"). */
static void queue_declare(amqp_connection_state_t conn, const char *name, const char *type)
{
    amqp_table_entry_t e = {
        .key = amqp_cstring_bytes("x-queue-type"),
        .value = {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(type)}};
    amqp_table_t args = {.num_entries = 1, .entries = &e};
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    rpc_check(conn, "queue.declare");
}

/* ---- publishing with a window of unconfirmed messages --------------------------------------
 * Tags count from 1 per channel. confirmed is the highest tag below which every message is
 * settled (acks may cover many tags at once with multiple=true). */
typedef struct {
    amqp_connection_state_t conn;
    uint64_t published, confirmed;
    int64_t acked, nacked;
    const int64_t *t_sched; /* e2e: intended send time per tag, to time acks; may be NULL */
    bench_lat_t *ack_lat;
} pub_t;

static void pub_settle(pub_t *p, uint64_t tag, bool multiple, bool ok)
{
    uint64_t from = multiple ? p->confirmed + 1 : tag;
    if (tag < from)
        return;
    int64_t now = bench_now_ns();
    for (uint64_t t = from; t <= tag; t++) {
        if (ok)
            p->acked++;
        else
            p->nacked++;
        if (p->ack_lat && p->t_sched)
            bench_lat_add(p->ack_lat, now - p->t_sched[t]);
    }
    if (tag > p->confirmed)
        p->confirmed = tag;
}

/* Handles one frame: returns false on timeout. tv NULL blocks. */
static bool pub_wait(pub_t *p, const struct timeval *tv)
{
    amqp_frame_t f;
    int rc =
        tv ? amqp_simple_wait_frame_noblock(p->conn, &f, tv) : amqp_simple_wait_frame(p->conn, &f);
    if (rc == AMQP_STATUS_TIMEOUT)
        return false;
    if (rc != AMQP_STATUS_OK)
        bench_die("rabbitmq: waiting for confirms: %s", amqp_error_string2(rc));
    if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        amqp_basic_ack_t *a = f.payload.method.decoded;
        pub_settle(p, a->delivery_tag, a->multiple, true);
    } else if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        amqp_basic_nack_t *a = f.payload.method.decoded;
        pub_settle(p, a->delivery_tag, a->multiple, false);
    } else if (f.frame_type == AMQP_FRAME_METHOD &&
               f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
        bench_die("rabbitmq: the server closed the channel while publishing");
    }
    amqp_maybe_release_buffers(p->conn);
    return true;
}

static void pub_send(pub_t *p, const char *queue, const uint8_t *payload, size_t n, bool durable)
{
    amqp_basic_properties_t props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
                                     .delivery_mode = durable ? 2 : 1};
    amqp_bytes_t body = {.len = n, .bytes = (void *)payload};
    if (amqp_basic_publish(p->conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0, &props,
                           body) != AMQP_STATUS_OK)
        bench_die("rabbitmq: basic.publish failed");
    p->published++;
}

static int run_publish(const opts_t *o)
{
    bool durable = strcmp(o->queue_type, "quorum") == 0;
    pub_t p = {.conn = rconnect(o->addr)};
    queue_declare(p.conn, o->topic, o->queue_type);
    amqp_confirm_select(p.conn, 1);
    rpc_check(p.conn, "confirm.select");
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    const struct timeval zero = {0, 0};

    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9);
    bool capped = false;
    while ((int64_t)p.published < o->count) {
        if ((p.published & 255) == 0 && bench_now_ns() > deadline) {
            capped = true;
            break;
        }
        bench_payload_stamp(payload, p.published, bench_now_ns());
        pub_send(&p, o->topic, payload, (size_t)o->msg_bytes, durable);
        while (p.published - p.confirmed >= (uint64_t)o->pipeline)
            pub_wait(&p, NULL);
        if ((p.published & 63) == 0)
            while (pub_wait(&p, &zero))
                ;
    }
    int64_t settle_deadline = bench_now_ns() + 30000000000LL;
    while (p.confirmed < p.published && bench_now_ns() < settle_deadline)
        pub_wait(&p, NULL);
    int64_t t1 = bench_now_ns();

    char config[128];
    snprintf(config, sizeof(config), "%s queue, %s messages, confirms window %" PRId64,
             o->queue_type, durable ? "persistent" : "transient", o->pipeline);
    bench_result_t r = {.workload = "publish",
                        .config = config,
                        .expected = capped ? (int64_t)p.published : o->count,
                        .msgs = p.acked,
                        .errors = p.nacked,
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped};
    bench_result_print(&r);
    rclose(p.conn);
    free(payload);
    return bench_result_status(&r);
}

/* ---- consuming from a stream queue -------------------------------------------------------- */
/* offset: x-stream-offset for stream queues, NULL for quorum queues. */
static void consume_start(amqp_connection_state_t conn, const char *queue, int64_t prefetch,
                          const char *offset)
{
    amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
    rpc_check(conn, "basic.qos");
    amqp_table_entry_t e = {.key = amqp_cstring_bytes("x-stream-offset"),
                            .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                      .value.bytes = amqp_cstring_bytes(offset ? offset : "")}};
    amqp_table_t args = {.num_entries = offset ? 1 : 0, .entries = &e};
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, args);
    rpc_check(conn, "basic.consume");
}

/* Receives one delivery into *env; false on timeout. */
static bool consume_one(amqp_connection_state_t conn, amqp_envelope_t *env, int timeout_ms)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    amqp_maybe_release_buffers(conn);
    amqp_rpc_reply_t r = amqp_consume_message(conn, env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        return false;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
        r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        amqp_frame_t f; /* a method other than basic.deliver: read it and go on */
        if (amqp_simple_wait_frame(conn, &f) != AMQP_STATUS_OK)
            bench_die("rabbitmq: consume: connection lost");
        if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD)
            bench_die("rabbitmq: the server closed the channel while consuming");
        return false;
    }
    bench_die("rabbitmq: consume failed (reply type %d)", r.reply_type);
}

static int run_consume(const opts_t *o)
{
    amqp_connection_state_t conn = rconnect(o->addr);
    bench_order_t ord;
    bench_order_init(&ord, 1);
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9);
    consume_start(conn, o->topic, o->batch, "first");
    int64_t got = 0, errors = 0, ack_every = BENCH_MAX(o->batch / 4, 1), t_last = t0;
    bool capped = false;
    while (got < o->count) {
        if (bench_now_ns() > deadline) {
            capped = true;
            break;
        }
        amqp_envelope_t env;
        if (!consume_one(conn, &env, 2000)) {
            if (bench_now_ns() - t_last > 2000000000LL)
                break; /* nothing for 2 s: the backlog is shorter than asked */
            continue;
        }
        const amqp_bytes_t *b = &env.message.body;
        if ((int64_t)b->len != o->msg_bytes ||
            !bench_order_check(&ord, 0, bench_payload_seq((const uint8_t *)b->bytes)))
            errors++;
        got++;
        t_last = bench_now_ns();
        if (got % ack_every == 0 || got == o->count)
            amqp_basic_ack(conn, 1, env.delivery_tag, 1);
        amqp_destroy_envelope(&env);
    }
    char config[128];
    snprintf(config, sizeof(config),
             "stream queue, basic.consume from first, prefetch %" PRId64 ", ack multiple",
             o->batch);
    bench_result_t r = {.workload = "consume",
                        .config = config,
                        .expected = o->count,
                        .msgs = got,
                        .errors = errors,
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = (double)(t_last - t0) / 1e9,
                        .capped = capped};
    bench_result_print(&r);
    rclose(conn);
    return bench_result_status(&r);
}

/* ---- latency ------------------------------------------------------------------------------ */
static int run_latency_ack(const opts_t *o)
{
    bool durable = strcmp(o->queue_type, "quorum") == 0;
    pub_t p = {.conn = rconnect(o->addr)};
    queue_declare(p.conn, o->topic, o->queue_type);
    amqp_confirm_select(p.conn, 1);
    rpc_check(p.conn, "confirm.select");
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    bench_lat_t lat = {0};
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9);
    bool capped = false;
    while ((int64_t)p.published < o->count) {
        int64_t ts = bench_now_ns();
        if (ts > deadline) {
            capped = true;
            break;
        }
        bench_payload_stamp(payload, p.published, ts);
        pub_send(&p, o->topic, payload, (size_t)o->msg_bytes, durable);
        while (p.confirmed < p.published)
            pub_wait(&p, NULL);
        bench_lat_add(&lat, bench_now_ns() - ts);
    }
    int64_t t1 = bench_now_ns();
    char config[128];
    snprintf(config, sizeof(config), "%s queue, confirms, one in flight", o->queue_type);
    bench_result_t r = {.workload = "latency_ack",
                        .config = config,
                        .expected = capped ? (int64_t)p.published : o->count,
                        .msgs = p.acked,
                        .errors = p.nacked,
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped,
                        .lat = &lat};
    bench_result_print(&r);
    bench_lat_free(&lat);
    rclose(p.conn);
    free(payload);
    return bench_result_status(&r);
}

typedef struct {
    const opts_t *o;
    int64_t total, deadline;
    bench_lat_t lat;
    atomic_int_fast64_t got, errors;
    atomic_bool ready;
    int64_t ack_every, prefetch;
} e2e_sink_t;

static void *e2e_consumer(void *arg)
{
    e2e_sink_t *k = arg;
    amqp_connection_state_t conn = rconnect(k->o->addr);
    bool stream = strcmp(k->o->queue_type, "stream") == 0;
    consume_start(conn, k->o->topic, k->prefetch, stream ? "first" : NULL);
    atomic_store(&k->ready, true);
    bench_order_t ord;
    bench_order_init(&ord, 1);
    while (atomic_load(&k->got) < k->total && bench_now_ns() < k->deadline) {
        amqp_envelope_t env;
        if (!consume_one(conn, &env, 100))
            continue;
        int64_t now = bench_now_ns();
        const amqp_bytes_t *b = &env.message.body;
        const uint8_t *p = b->bytes;
        if ((int64_t)b->len != k->o->msg_bytes || !bench_order_check(&ord, 0, bench_payload_seq(p)))
            atomic_fetch_add(&k->errors, 1);
        else
            bench_lat_add(&k->lat, now - bench_payload_time(p));
        int64_t got = atomic_fetch_add(&k->got, 1) + 1;
        if (got % k->ack_every == 0 || got == k->total)
            amqp_basic_ack(conn, 1, env.delivery_tag, 1);
        amqp_destroy_envelope(&env);
    }
    rclose(conn);
    return NULL;
}

static int run_latency_e2e(const opts_t *o)
{
    e2e_sink_t k = {.o = o,
                    .total = (int64_t)(o->seconds * (double)o->rate),
                    .ack_every = o->batch,
                    .prefetch = o->pipeline};
    k.deadline = bench_now_ns() + (int64_t)(o->seconds * 1e9) + 10000000000LL;
    int64_t *t_sched = bench_xmalloc((size_t)(k.total + 1) * sizeof(int64_t));
    bench_lat_t ack_lat = {0};
    pub_t p = {.conn = rconnect(o->addr), .t_sched = t_sched, .ack_lat = &ack_lat};
    bool durable = strcmp(o->queue_type, "quorum") == 0;
    queue_declare(p.conn, o->topic, o->queue_type);
    amqp_confirm_select(p.conn, 1);
    rpc_check(p.conn, "confirm.select");
    pthread_t th;
    pthread_create(&th, NULL, e2e_consumer, &k);
    while (!atomic_load(&k.ready))
        bench_sleep_until_ns(bench_now_ns() + 1000000);

    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    int64_t t_start = bench_now_ns() + 100000000;
    for (int64_t i = 0; i < k.total; i++) {
        int64_t t_i = t_start + i * 1000000000 / o->rate; /* intended time: see bench_redis */
        /* Until the send time, read confirms; then publish. */
        for (int64_t now = bench_now_ns(); now < t_i; now = bench_now_ns()) {
            int64_t wait_us = (t_i - now) / 1000;
            struct timeval tv = {.tv_sec = wait_us / 1000000, .tv_usec = wait_us % 1000000};
            if (wait_us == 0 || !pub_wait(&p, &tv))
                bench_sleep_until_ns(t_i);
        }
        t_sched[p.published + 1] = t_i;
        bench_payload_stamp(payload, (uint64_t)i, t_i);
        pub_send(&p, o->topic, payload, (size_t)o->msg_bytes, durable);
    }
    int64_t settle_deadline = bench_now_ns() + 10000000000LL;
    while (p.confirmed < p.published && bench_now_ns() < settle_deadline)
        pub_wait(&p, NULL);
    pthread_join(th, NULL);

    char config[128];
    snprintf(config, sizeof(config),
             "%s queue, publish at %" PRId64 "/s with confirms; basic.consume prefetch %" PRId64,
             o->queue_type, o->rate, o->pipeline);
    bench_result_t r = {.workload = "latency_e2e",
                        .config = config,
                        .expected = k.total,
                        .msgs = atomic_load(&k.got) - atomic_load(&k.errors),
                        .errors = atomic_load(&k.errors) + p.nacked,
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = o->seconds,
                        .lat = &k.lat,
                        .ack_lat = &ack_lat};
    if (p.acked != k.total)
        r.errors++;
    bench_result_print(&r);
    bench_lat_free(&k.lat);
    bench_lat_free(&ack_lat);
    rclose(p.conn);
    free(payload);
    free(t_sched);
    return bench_result_status(&r);
}

int main(int argc, char **argv)
{
    static const char *const known[] = {
        "--addr",     "--topic", "--queue-type", "--count",      "--msg-bytes", "--seconds",
        "--pipeline", "--batch", "--rate",       "--partitions", NULL};
    bench_args_t a = {argc, argv};
    if (argc < 2)
        bench_die("usage: bench_rabbitmq publish|consume|latency_ack|latency_e2e --addr H:P ...");
    bench_args_check(&a, known);
    opts_t o = {
        .addr = bench_arg_str(&a, "--addr", "127.0.0.1:5672"),
        .topic = bench_arg_str(&a, "--topic", "bench"),
        .queue_type = bench_arg_str(&a, "--queue-type", "stream"),
        .count = bench_arg_i64(&a, "--count", 100000),
        .msg_bytes = bench_arg_i64(&a, "--msg-bytes", 100),
        .pipeline = bench_arg_i64(&a, "--pipeline", 5000),
        .batch = bench_arg_i64(&a, "--batch", 2000),
        .rate = bench_arg_i64(&a, "--rate", 10000),
        .seconds = bench_arg_f64(&a, "--seconds", 10),
    };
    if (bench_arg_i64(&a, "--partitions", 1) != 1)
        bench_die("RabbitMQ 3.10 queues have no partitions: --partitions must be 1");
    if (strcmp(o.queue_type, "stream") != 0 && strcmp(o.queue_type, "quorum") != 0)
        bench_die("--queue-type is stream or quorum");
    if (o.msg_bytes < BENCH_HDR_BYTES || o.msg_bytes > BENCH_MSG_BYTES_MAX || o.count < 1 ||
        o.pipeline < 1 || o.batch < 1 || o.batch > 65535 || o.rate < 1 || o.seconds <= 0)
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
