/*
 * bench_nats: the NATS JetStream side of `make bench`, on the NATS C client (Debian libnats-dev).
 *
 *   bench_nats publish     --addr H:P --topic NAME --count N --msg-bytes B [--seconds S]
 *                          [--pipeline MAX_PENDING]
 *   bench_nats consume     --addr H:P --topic NAME --count N --msg-bytes B [--seconds S]
 *                          [--batch FETCH] [--consumer pull|ordered]
 *   bench_nats latency_ack --addr H:P --topic NAME --count N --msg-bytes B [--seconds S]
 *   bench_nats latency_e2e --addr H:P --topic NAME --rate R --msg-bytes B [--seconds S]
 *
 * A topic is a JetStream stream named NAME with the one subject NAME, file storage, one replica
 * (the server has no cluster), created by the publishing workloads. JetStream acknowledges a
 * publish once the message is in its file store's write buffer; it does not fsync per message
 * (the 2.9 server has no setting for that), so NATS has no durable-publish row.
 *
 * Throughput settings are the ones the NATS docs and `nats bench` use: asynchronous publish with
 * up to MAX_PENDING (4096) unacknowledged messages, and a pull consumer with AckNone fetching
 * FETCH messages per request (an ordered push consumer is available with --consumer ordered).
 * Threads: main drives; the client library runs its own reader threads, which call the ack and
 * message handlers below; counters they touch are atomics, each latency array has one writer.
 */
#include "../bench_common.h"

#include <nats/nats.h>
#include <stdatomic.h>

typedef struct {
    const char *addr, *topic, *consumer;
    int64_t count, msg_bytes, pipeline, batch, rate;
    double seconds;
} opts_t;

typedef struct {
    natsConnection *nc;
    jsCtx *js;
} conn_t;

static void nats_check(natsStatus s, const char *what)
{
    if (s != NATS_OK)
        bench_die("nats %s: %s (%s)", what, natsStatus_GetText(s), nats_GetLastError(NULL));
}

/* send_asap: write each publish at once instead of letting the client's flusher coalesce them,
 * the NATS client's setting for latency (as linger.ms=0 is librdkafka's). */
static void conn_open(conn_t *c, const char *addr, jsOptions *jo, bool send_asap)
{
    char url[300];
    snprintf(url, sizeof(url), "nats://%s", addr);
    natsOptions *no = NULL;
    nats_check(natsOptions_Create(&no), "options");
    nats_check(natsOptions_SetURL(no, url), "options");
    nats_check(natsOptions_SetSendAsap(no, send_asap), "options");
    nats_check(natsConnection_Connect(&c->nc, no), "connect");
    natsOptions_Destroy(no);
    nats_check(natsConnection_JetStream(&c->js, c->nc, jo), "jetstream context");
}

static void conn_close(conn_t *c)
{
    jsCtx_Destroy(c->js);
    natsConnection_Destroy(c->nc);
}

/* Creates the stream if it does not exist yet (file storage, one replica, no limits). */
static void stream_create(conn_t *c, const char *name)
{
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[1] = {name};
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = 1;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddStream(&si, c->js, &cfg, NULL, &jerr);
    if (s != NATS_OK && jerr != JSStreamNameExistErr)
        bench_die("js_AddStream %s: %s (jetstream error %d)", name, natsStatus_GetText(s),
                  (int)jerr);
    jsStreamInfo_Destroy(si);
}

/* ---- publish ------------------------------------------------------------------------------ */
typedef struct {
    atomic_int_fast64_t acked, errors;
    bench_lat_t *ack_lat; /* latency_e2e only: written by the library's reply thread */
} acks_t;

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    acks_t *a = closure;
    if (pa && !pae) {
        atomic_fetch_add(&a->acked, 1);
        if (a->ack_lat && natsMsg_GetDataLength(msg) >= BENCH_HDR_BYTES)
            bench_lat_add(a->ack_lat, bench_now_ns() - bench_payload_time(
                                                           (const uint8_t *)natsMsg_GetData(msg)));
    } else {
        atomic_fetch_add(&a->errors, 1);
    }
    natsMsg_Destroy(msg);
}

static int run_publish(const opts_t *o)
{
    acks_t acks = {0};
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = o->pipeline;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = &acks;
    conn_t c;
    conn_open(&c, o->addr, &jo, false);
    stream_create(&c, o->topic);
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);

    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9), sent = 0;
    int64_t errors = 0;
    bool capped = false;
    for (; sent < o->count; sent++) {
        if ((sent & 255) == 0 && bench_now_ns() > deadline) {
            capped = true;
            break;
        }
        bench_payload_stamp(payload, (uint64_t)sent, bench_now_ns());
        if (js_PublishAsync(c.js, o->topic, payload, (int)o->msg_bytes, NULL) != NATS_OK)
            errors++;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 30000;
    if (js_PublishAsyncComplete(c.js, &po) != NATS_OK)
        errors++;
    int64_t t1 = bench_now_ns();
    char config[96];
    snprintf(config, sizeof(config), "async publish, max pending %" PRId64, o->pipeline);
    bench_result_t r = {.workload = "publish",
                        .config = config,
                        .expected = o->count,
                        .msgs = atomic_load(&acks.acked),
                        .errors = errors + atomic_load(&acks.errors),
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped};
    if (capped)
        r.expected = sent; /* what was sent must all be acknowledged */
    bench_result_print(&r);
    conn_close(&c);
    free(payload);
    return bench_result_status(&r);
}

/* ---- consume ------------------------------------------------------------------------------ */
typedef struct {
    const opts_t *o;
    bench_order_t ord;
    atomic_int_fast64_t got, errors;
    atomic_int_fast64_t t_last;
} sink_t;

static void sink_take(sink_t *k, natsMsg *m)
{
    const uint8_t *p = (const uint8_t *)natsMsg_GetData(m);
    if (natsMsg_GetDataLength(m) != (int)k->o->msg_bytes ||
        !bench_order_check(&k->ord, 0, bench_payload_seq(p)))
        atomic_fetch_add(&k->errors, 1);
    atomic_fetch_add(&k->got, 1);
}

static void on_ordered_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    sink_t *k = closure;
    sink_take(k, m);
    atomic_store(&k->t_last, bench_now_ns());
    natsMsg_Destroy(m);
}

static int run_consume(const opts_t *o)
{
    conn_t c;
    conn_open(&c, o->addr, NULL, false);
    sink_t k = {.o = o};
    bench_order_init(&k.ord, 1);
    bool ordered = strcmp(o->consumer, "ordered") == 0;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = o->topic;
    so.Config.DeliverPolicy = js_DeliverAll;
    if (!ordered)
        so.Config.AckPolicy = js_AckNone; /* ordered consumers are AckNone by definition */
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9);
    bool capped = false;
    if (ordered) {
        so.Ordered = true;
        nats_check(js_Subscribe(&sub, c.js, o->topic, on_ordered_msg, &k, NULL, &so, &jerr),
                   "ordered subscribe");
        natsSubscription_SetPendingLimits(sub, -1, -1);
        while (atomic_load(&k.got) < o->count) {
            if (bench_now_ns() > deadline) {
                capped = true;
                break;
            }
            nats_Sleep(1);
        }
    } else {
        nats_check(js_PullSubscribe(&sub, c.js, o->topic, NULL, NULL, &so, &jerr),
                   "pull subscribe");
        while (atomic_load(&k.got) < o->count) {
            if (bench_now_ns() > deadline) {
                capped = true;
                break;
            }
            natsMsgList list = {0};
            int want = (int)BENCH_MIN(o->batch, o->count - atomic_load(&k.got));
            natsStatus s = natsSubscription_Fetch(&list, sub, want, 2000, &jerr);
            if (s == NATS_TIMEOUT)
                break; /* the backlog is shorter than asked: counted as missing */
            nats_check(s, "fetch");
            for (int i = 0; i < list.Count; i++)
                sink_take(&k, list.Msgs[i]);
            natsMsgList_Destroy(&list);
        }
        atomic_store(&k.t_last, bench_now_ns());
    }
    int64_t t1 = atomic_load(&k.t_last);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    char config[96];
    if (ordered)
        snprintf(config, sizeof(config), "ordered push consumer, AckNone");
    else
        snprintf(config, sizeof(config), "pull consumer, AckNone, fetch %" PRId64, o->batch);
    bench_result_t r = {.workload = "consume",
                        .config = config,
                        .expected = o->count,
                        .msgs = atomic_load(&k.got),
                        .errors = atomic_load(&k.errors),
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped};
    bench_result_print(&r);
    conn_close(&c);
    return bench_result_status(&r);
}

/* ---- latency ------------------------------------------------------------------------------ */
static int run_latency_ack(const opts_t *o)
{
    conn_t c;
    conn_open(&c, o->addr, NULL, true);
    stream_create(&c, o->topic);
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    bench_lat_t lat = {0};
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9), n = 0, errors = 0;
    bool capped = false;
    for (; n < o->count; n++) {
        int64_t ts = bench_now_ns();
        if (ts > deadline) {
            capped = true;
            break;
        }
        bench_payload_stamp(payload, (uint64_t)n, ts);
        jsPubAck *pa = NULL;
        if (js_Publish(&pa, c.js, o->topic, payload, (int)o->msg_bytes, NULL, NULL) != NATS_OK)
            errors++;
        bench_lat_add(&lat, bench_now_ns() - ts);
        jsPubAck_Destroy(pa);
    }
    int64_t t1 = bench_now_ns();
    bench_result_t r = {.workload = "latency_ack",
                        .config = "sync publish, one in flight",
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
    conn_close(&c);
    free(payload);
    return bench_result_status(&r);
}

typedef struct {
    const opts_t *o;
    bench_order_t ord;
    bench_lat_t lat;
    atomic_int_fast64_t got, errors;
} e2e_sink_t;

static void on_e2e_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    e2e_sink_t *k = closure;
    int64_t now = bench_now_ns();
    const uint8_t *p = (const uint8_t *)natsMsg_GetData(m);
    if (natsMsg_GetDataLength(m) != (int)k->o->msg_bytes ||
        !bench_order_check(&k->ord, 0, bench_payload_seq(p))) {
        atomic_fetch_add(&k->errors, 1);
    } else {
        bench_lat_add(&k->lat, now - bench_payload_time(p));
        atomic_fetch_add(&k->got, 1);
    }
    natsMsg_Destroy(m);
}

static int run_latency_e2e(const opts_t *o)
{
    bench_lat_t ack_lat = {0};
    acks_t acks = {.ack_lat = &ack_lat};
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 100000;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = &acks;
    conn_t pc, cc;
    conn_open(&pc, o->addr, &jo, true);
    conn_open(&cc, o->addr, NULL, true);
    stream_create(&pc, o->topic);

    e2e_sink_t k = {.o = o};
    bench_order_init(&k.ord, 1);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    nats_check(js_Subscribe(&sub, cc.js, o->topic, on_e2e_msg, &k, NULL, &so, &jerr),
               "ordered subscribe");

    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    int64_t total = (int64_t)(o->seconds * (double)o->rate), errors = 0;
    int64_t t_start = bench_now_ns() + 100000000;
    for (int64_t i = 0; i < total; i++) {
        int64_t t_i = t_start + i * 1000000000 / o->rate; /* intended time: see bench_redis */
        bench_sleep_until_ns(t_i);
        bench_payload_stamp(payload, (uint64_t)i, t_i);
        if (js_PublishAsync(pc.js, o->topic, payload, (int)o->msg_bytes, NULL) != NATS_OK)
            errors++;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    if (js_PublishAsyncComplete(pc.js, &po) != NATS_OK)
        errors++;
    int64_t deadline = bench_now_ns() + 5000000000LL;
    while (atomic_load(&k.got) + atomic_load(&k.errors) < total && bench_now_ns() < deadline)
        nats_Sleep(1);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);

    char config[96];
    snprintf(config, sizeof(config), "async publish at %" PRId64 "/s; ordered push consumer",
             o->rate);
    bench_result_t r = {.workload = "latency_e2e",
                        .config = config,
                        .expected = total,
                        .msgs = atomic_load(&k.got),
                        .errors = errors + atomic_load(&k.errors) + atomic_load(&acks.errors),
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = o->seconds,
                        .lat = &k.lat,
                        .ack_lat = &ack_lat};
    if (atomic_load(&acks.acked) != total)
        r.errors++;
    bench_result_print(&r);
    conn_close(&pc);
    conn_close(&cc);
    bench_lat_free(&k.lat);
    bench_lat_free(&ack_lat);
    free(payload);
    return bench_result_status(&r);
}

int main(int argc, char **argv)
{
    static const char *const known[] = {"--addr",     "--topic",      "--count", "--msg-bytes",
                                        "--seconds",  "--pipeline",   "--batch", "--rate",
                                        "--consumer", "--partitions", NULL};
    bench_args_t a = {argc, argv};
    if (argc < 2)
        bench_die("usage: bench_nats publish|consume|latency_ack|latency_e2e --addr H:P ...");
    bench_args_check(&a, known);
    opts_t o = {
        .addr = bench_arg_str(&a, "--addr", "127.0.0.1:4222"),
        .topic = bench_arg_str(&a, "--topic", "bench"),
        .consumer = bench_arg_str(&a, "--consumer", "pull"),
        .count = bench_arg_i64(&a, "--count", 100000),
        .msg_bytes = bench_arg_i64(&a, "--msg-bytes", 100),
        .pipeline = bench_arg_i64(&a, "--pipeline", 4096),
        .batch = bench_arg_i64(&a, "--batch", 1000),
        .rate = bench_arg_i64(&a, "--rate", 10000),
        .seconds = bench_arg_f64(&a, "--seconds", 10),
    };
    if (bench_arg_i64(&a, "--partitions", 1) != 1)
        bench_die("a JetStream stream has no partitions: --partitions must be 1");
    if (o.msg_bytes < BENCH_HDR_BYTES || o.msg_bytes > BENCH_MSG_BYTES_MAX || o.count < 1 ||
        o.pipeline < 1 || o.batch < 1 || o.rate < 1 || o.seconds <= 0)
        bench_die("option out of range");
    int rc;
    const char *w = argv[1];
    if (strcmp(w, "publish") == 0)
        rc = run_publish(&o);
    else if (strcmp(w, "consume") == 0)
        rc = run_consume(&o);
    else if (strcmp(w, "latency_ack") == 0)
        rc = run_latency_ack(&o);
    else if (strcmp(w, "latency_e2e") == 0)
        rc = run_latency_e2e(&o);
    else
        bench_die("unknown workload %s", w);
    nats_Close();
    return rc;
}
