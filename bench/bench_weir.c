/*
 * bench_weir: the Weir side of `make bench`, driving the broker through librdkafka like any Kafka
 * application would. bench/harness.py starts `weir serve` and calls this once per run:
 *
 *   bench_weir publish     --addr H:P --topic T --partitions P --count N --msg-bytes B
 *                          --acks 1|-1 [--idempotent 0|1] [--max-in-flight N] [--linger-ms L]
 *                          [--seconds S] [--payload-file F]
 *                          [--keys K [--conditional 0|1] [--base-offset B]]
 *   bench_weir txn_publish --addr H:P --topic T --partitions P --count N --msg-bytes B
 *                          --txn-size K [--linger-ms L] [--seconds S]
 *   bench_weir consume     --addr H:P --topic T --partitions P --count N --msg-bytes B
 *                          [--isolation read_committed|read_uncommitted]
 *   (publish and consume: [--progress-ms MS] prints "PROGRESS secs msgs" lines as they go)
 *   bench_weir latency_ack --addr H:P --topic T --count N --msg-bytes B --acks A [--seconds S]
 *   bench_weir latency_e2e --addr H:P --topic T --partitions P --rate R --msg-bytes B --acks A
 *   bench_weir latency_ack_raw --addr H:P --topic T --count N --msg-bytes B --acks A [--seconds S]
 *   bench_weir latency_paced --addr H:P|mock --topic T --rate R --seconds S --msg-bytes B
 *                          --acks A [--timeline F]
 *   bench_weir group       --addr H:P --topic T --partitions P --count N --members M
 *   bench_weir rebalance   --addr H:P --topic T --partitions P --members M [--rate R]
 *   bench_weir idle_conns  --addr H:P --conns N [--seconds S]
 *   bench_weir store_load  --addr H:P --admin http://H:P --topic T --count N [--events E]
 *
 * --ssl-ca FILE (every librdkafka workload) speaks TLS to an SSL listener, trusting the PEM CA
 * FILE (bench/security_cost.sh: the TLS against plaintext rows). --rdkafka "k=v,k=v" sets
 * librdkafka properties after the bench's own (security_cost.sh's client-tuned rows).
 *
 * Message i goes to partition i % P (explicit, so every partition gets the same share whatever the
 * client's partitioner does), its value is the bench payload (bench_common.h), no key, no
 * compression. Publishing workloads create their topic with CreateTopics first and wait until the
 * metadata shows every partition with a leader. publish --payload-file sends the file's bytes
 * as every value, unstamped (a schema-registry-encoded record for the schema validation rows:
 * the harness made the topic with its configs already; --msg-bytes is then the file's size).
 * publish --keys K gives message i the key "key-%09d" of i % K; with --conditional 1 also the
 * header weir.expected.offset (docs/event-store.md) with the offset of its key's previous
 * message, i - K, or -1 for the first K: the event store rows, on a fresh one-partition topic
 * with weir.key.index=true where message i lands at offset i (every append succeeds).
 * --base-offset B continues such a topic that already holds B messages written the same way
 * (B a multiple of K): message i lands at B + i and expects B + i - K, so every key exists
 * already (the index at its steady size, no growth).
 *
 * store_load is the event store's read path through libweir (docs/event-store.md): it writes a
 * partition of N background records (librdkafka batching, keys i % (N / E)) with 5 aggregates
 * of E events each spread evenly through it, every event a batch of its own as a service
 * appending decisions writes them, then times weir_store_load of each aggregate 3 times (the
 * store's first load, which also connects its consumer, reported apart) and checks each load
 * gives exactly the aggregate's events in order; the topic must have weir.key.index=true.
 *
 * Throughput settings follow librdkafka's INTRODUCTION.md ("High throughput"): batching through
 * linger.ms (10 ms here) with batch.size 1 MB and a deep local queue; the consumer prefetches up
 * to 1M messages and fetches up to 4 MiB per partition. Latency runs use linger.ms=0.
 * Threads: main drives; librdkafka runs its own; delivery reports are served by whichever thread
 * calls rd_kafka_poll (main, or the one poller thread of latency_e2e).
 *
 * txn_publish is the transactional producer (transactional.id bench-TOPIC): init_transactions,
 * then begin / K messages / commit_transaction until N messages or the deadline; the RESULT's
 * latency is each commit_transaction call, from its start to its return (the flush of the
 * transaction's last messages, EndTxn, and the coordinator's answer).
 *
 * latency_ack_raw is the one workload without librdkafka: a synchronous client on a blocking
 * socket (as hiredis is for Redis) that writes a ProduceRequest v7 with one record and reads
 * the response, so the round trip has no client-library threads in it. It measures the
 * broker's own share of latency_ack. Its batches are encoded here, by hand, not with Weir's
 * code, so a codec mistake in the broker cannot cancel out.
 */
#include "bench_common.h"
#include "weir/weir.h"

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    const char *addr, *topic, *group;
    const char *isolation;    /* consume: isolation.level, "" for librdkafka's default */
    const char *payload_file; /* publish: every value is this file's bytes; "" for none */
    const char *timeline;     /* latency_paced: per-message latency file; "" for none */
    int64_t progress_ms;      /* publish, consume: a PROGRESS line this often (0: none) */
    const char *ssl_ca;       /* "" plaintext, else TLS trusting this PEM CA file */
    int64_t txn_size;         /* txn_publish: messages per transaction */
    int partitions;
    int64_t count, msg_bytes, acks, idempotent, linger_ms, rate, members, conns, heartbeat_ms;
    int64_t max_in_flight; /* 0: librdkafka's default (1000000; 5 with idempotence) */
    int64_t keys;          /* publish: distinct keys, 0 for none */
    int64_t conditional;   /* publish: the header weir.expected.offset (needs keys) */
    int64_t base_offset;   /* publish --conditional: the messages the topic holds already */
    const char *admin;     /* store_load: the admin API, http://host:port */
    int64_t events;        /* store_load: events per aggregate */
    double seconds;
} opts_t;

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        bench_die("librdkafka config %s=%s: %s", k, v, err);
}

static rd_kafka_conf_t *conf_base(const opts_t *o)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* --addr mock: librdkafka's in-process mock cluster (no disk, no other process), the
     * reference the paced latency rows compare Weir with. */
    if (strcmp(o->addr, "mock") == 0)
        conf_set(conf, "test.mock.num.brokers", "1");
    else
        conf_set(conf, "bootstrap.servers", o->addr);
    conf_set(conf, "client.id", "weir-bench");
    conf_set(conf, "log_level", "4");
    if (o->ssl_ca[0]) {
        conf_set(conf, "security.protocol", "ssl");
        conf_set(conf, "ssl.ca.location", o->ssl_ca);
    }
    return conf;
}

/* --rdkafka "k=v,k=v" (main sets it): set by client_new after everything else the workload
 * sets, so they win. */
static const char *conf_extra_list = "";

static void conf_extra(rd_kafka_conf_t *conf)
{
    char kv[512];
    for (const char *p = conf_extra_list; *p;) {
        size_t n = strcspn(p, ",");
        if (n >= sizeof(kv))
            bench_die("--rdkafka: '%.*s' too long", (int)n, p);
        memcpy(kv, p, n);
        kv[n] = 0;
        char *eq = strchr(kv, '=');
        if (!eq)
            bench_die("--rdkafka: '%s' is not key=value", kv);
        *eq = 0;
        conf_set(conf, kv, eq + 1);
        p += n + (p[n] == ',');
    }
}

static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char err[512];
    conf_extra(conf);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk)
        bench_die("rd_kafka_new: %s", err);
    return rk;
}

/* ---- topics ---------------------------------------------------------------------------------
 * CreateTopics, TOPIC_ALREADY_EXISTS accepted, then Metadata until every partition has a leader
 * (the broker may answer LEADER_NOT_AVAILABLE for a moment after creation). */
static void topic_wait(rd_kafka_t *rk, const char *name, int partitions)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, name, NULL);
    int64_t deadline = bench_now_ns() + 10000000000LL;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        bool ready = false;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ready = md->topic_cnt == 1 && md->topics[0].err == 0 &&
                    md->topics[0].partition_cnt == partitions;
            for (int i = 0; ready && i < md->topics[0].partition_cnt; i++)
                ready = md->topics[0].partitions[i].leader >= 0;
            rd_kafka_metadata_destroy(md);
        }
        if (ready)
            break;
        if (bench_now_ns() > deadline)
            bench_die("topic %s: no metadata with %d partitions after 10 s", name, partitions);
        bench_sleep_until_ns(bench_now_ns() + 50000000);
    }
    rd_kafka_topic_destroy(rkt);
}

static void topic_create(rd_kafka_t *rk, const char *name, int partitions)
{
    rd_kafka_mock_cluster_t *mcluster = rd_kafka_handle_mock_cluster(rk);
    if (mcluster) {
        if (rd_kafka_mock_topic_create(mcluster, name, partitions, 1))
            bench_die("mock cluster: cannot create topic %s", name);
        topic_wait(rk, name, partitions);
        return;
    }
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, 1, err, sizeof(err));
    if (!nt)
        bench_die("NewTopic: %s", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    if (!ev)
        bench_die("CreateTopics %s: no answer in 15 s", name);
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    if (!res)
        bench_die("CreateTopics %s: %s", name, rd_kafka_event_error_string(ev));
    size_t n;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            bench_die("CreateTopics %s: %s", name, rd_kafka_err2str(e));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    topic_wait(rk, name, partitions);
}

/* ---- producing ---------------------------------------------------------------------------- */
typedef struct {
    atomic_int_fast64_t acked, failed;
    bench_lat_t *ack_lat; /* when set: publish->ack latency from the payload's send time */
    int64_t *lat_by_seq;  /* when set: the same latency by sequence number (the timeline) */
    int64_t seq_cap;      /* entries of lat_by_seq */
} dr_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    dr_t *d = opaque;
    if (m->err) {
        if (atomic_fetch_add(&d->failed, 1) < 5)
            fprintf(stderr, "bench_weir: delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    atomic_fetch_add(&d->acked, 1);
    if (d->ack_lat && m->len >= BENCH_HDR_BYTES) {
        int64_t ns = bench_now_ns() - bench_payload_time(m->payload);
        uint64_t seq = bench_payload_seq(m->payload);
        bench_lat_add(d->ack_lat, ns);
        if (d->lat_by_seq && seq < (uint64_t)d->seq_cap)
            d->lat_by_seq[seq] = ns;
    }
}

static rd_kafka_t *producer_new_txn(const opts_t *o, dr_t *d, int64_t linger_ms,
                                    const char *transactional_id);
static bool produce_keyed(rd_kafka_t *rk, const char *topic, int32_t partition, const void *p,
                          size_t n, int64_t key_no, const char *expected);

static rd_kafka_t *producer_new(const opts_t *o, dr_t *d, int64_t linger_ms)
{
    return producer_new_txn(o, d, linger_ms, NULL);
}

/* A producer; transactional (and so idempotent) when transactional_id is not NULL. */
static rd_kafka_t *producer_new_txn(const opts_t *o, dr_t *d, int64_t linger_ms,
                                    const char *transactional_id)
{
    rd_kafka_conf_t *conf = conf_base(o);
    char v[32];
    snprintf(v, sizeof(v), "%" PRId64, o->acks);
    conf_set(conf, "acks", v);
    snprintf(v, sizeof(v), "%" PRId64, linger_ms);
    conf_set(conf, "linger.ms", v);
    conf_set(conf, "batch.size", "1000000");
    conf_set(conf, "batch.num.messages", "100000");
    conf_set(conf, "queue.buffering.max.messages", "2000000");
    conf_set(conf, "queue.buffering.max.kbytes", "2097151");
    conf_set(conf, "compression.codec", "none");
    conf_set(conf, "enable.idempotence", o->idempotent || transactional_id ? "true" : "false");
    if (transactional_id) {
        conf_set(conf, "transactional.id", transactional_id);
        conf_set(conf, "transaction.timeout.ms", "60000");
    }
    if (o->max_in_flight > 0) {
        snprintf(v, sizeof(v), "%" PRId64, o->max_in_flight);
        conf_set(conf, "max.in.flight.requests.per.connection", v);
    }
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    return client_new(RD_KAFKA_PRODUCER, conf);
}

/* Produces one message, waiting for queue space if the local queue is full. */
static bool produce_one(rd_kafka_t *rk, const char *topic, int32_t partition, const void *p,
                        size_t n)
{
    return produce_keyed(rk, topic, partition, p, n, -1, NULL);
}

/* v in decimal at out (at most 20 bytes), zero-padded to `width` digits; returns the length.
 * Here rather than snprintf: the event store rows format a key and an offset per message, and
 * snprintf took a tenth of the producing thread. */
static int decimal_format(char *out, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* The same with key "key-%09d" of key_no (none if negative) and, when expected is not NULL, the
 * header weir.expected.offset with that text. */
static bool produce_keyed(rd_kafka_t *rk, const char *topic, int32_t partition, const void *p,
                          size_t n, int64_t key_no, const char *expected)
{
    char key[32] = "key-";
    int klen = key_no < 0 ? 0 : 4 + decimal_format(key + 4, (uint64_t)key_no, 9);
    const void *kp = klen ? key : NULL; /* RD_KAFKA_V_KEY casts its argument unparenthesised */
    for (;;) {
        rd_kafka_headers_t *hdrs = NULL;
        if (expected) {
            hdrs = rd_kafka_headers_new(1);
            rd_kafka_header_add(hdrs, "weir.expected.offset", -1, expected, -1);
        }
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_VALUE((void *)p, n), RD_KAFKA_V_KEY(kp, (size_t)klen),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
            rd_kafka_headers_destroy(hdrs); /* owned by the message only once produced */
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return true;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "bench_weir: produce: %s\n", rd_kafka_err2str(e));
            return false;
        }
        rd_kafka_poll(rk, 1);
    }
}

static void config_describe(char *out, size_t cap, const opts_t *o, int64_t linger_ms)
{
    char inflight[64] = "";
    if (o->max_in_flight > 0)
        snprintf(inflight, sizeof(inflight), ", max.in.flight=%" PRId64, o->max_in_flight);
    snprintf(out, cap, "librdkafka %s, acks=%" PRId64 "%s%s, linger.ms=%" PRId64 "%s",
             rd_kafka_version_str(), o->acks, o->idempotent ? ", idempotent" : "", inflight,
             linger_ms, linger_ms ? ", batch.size=1000000, no compression" : "");
}

/* The value of every record from --payload-file: its bytes and size (at most
 * BENCH_MSG_BYTES_MAX). */
static uint8_t *payload_read(const char *path, int64_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        bench_die("%s: cannot open", path);
    uint8_t *p = bench_xmalloc(BENCH_MSG_BYTES_MAX);
    size_t n = fread(p, 1, BENCH_MSG_BYTES_MAX, f);
    fclose(f);
    if (n == 0)
        bench_die("%s: empty", path);
    *len = (int64_t)n;
    return p;
}

/* Throughput over time (the sustained profile's charts): "PROGRESS <s since t0> <messages>"
 * on stdout every --progress-ms, messages acknowledged (publish) or received (consume). */
static void progress_tick(const opts_t *o, int64_t t0, int64_t *t_next, int64_t msgs)
{
    if (o->progress_ms <= 0)
        return;
    int64_t now = bench_now_ns();
    if (now < *t_next)
        return;
    printf("PROGRESS %.3f %" PRId64 "\n", (double)(now - t0) / 1e9, msgs);
    fflush(stdout);
    *t_next = now + o->progress_ms * 1000000;
}

static int run_publish(const opts_t *o0)
{
    opts_t opts = *o0, *o = &opts;
    bool fixed = o->payload_file[0] != 0;
    dr_t d = {0};
    /* The event store rows (--keys): no glibc fast bins. librdkafka frees a whole batch of
     * messages, and with headers their header lists too, at once after delivery; in fast bins
     * those small chunks sent every later malloc down glibc's slow path (13% of this program's
     * CPU with a header per message). The same for the plain, key-indexed and conditional rows. */
    if (o->keys)
        mallopt(M_MXFAST, 0);
    rd_kafka_t *rk = producer_new(o, &d, o->linger_ms);
    topic_create(rk, o->topic, o->partitions);
    uint8_t *payload =
        fixed ? payload_read(o->payload_file, &o->msg_bytes) : bench_xmalloc((size_t)o->msg_bytes);
    if (!fixed)
        bench_payload_init(payload, (size_t)o->msg_bytes);

    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9), sent = 0;
    int64_t errors = 0, t_progress = t0;
    bool capped = false;
    for (; sent < o->count; sent++) {
        if ((sent & 1023) == 0) {
            if (bench_now_ns() > deadline) {
                capped = true;
                break;
            }
            rd_kafka_poll(rk, 0);
            progress_tick(o, t0, &t_progress, atomic_load(&d.acked));
        }
        if (!fixed)
            bench_payload_stamp(payload, (uint64_t)sent, bench_now_ns());
        char expected[24] = "-1";
        int64_t at = o->base_offset + sent; /* where this message lands */
        if (o->conditional && at >= o->keys)
            expected[decimal_format(expected, (uint64_t)(at - o->keys), 1)] = 0;
        if (!produce_keyed(rk, o->topic, (int32_t)(sent % o->partitions), payload,
                           (size_t)o->msg_bytes, o->keys ? sent % o->keys : -1,
                           o->conditional ? expected : NULL))
            errors++;
    }
    /* With --progress-ms the acknowledgements keep being counted while the local queue drains
     * (the whole run may sit in it: a flush would leave a flat line in the chart). */
    int64_t drain_deadline = bench_now_ns() + 60000000000LL;
    while (o->progress_ms > 0 && rd_kafka_outq_len(rk) > 0 && bench_now_ns() < drain_deadline) {
        rd_kafka_poll(rk, 50);
        progress_tick(o, t0, &t_progress, atomic_load(&d.acked));
    }
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        errors++;
    int64_t t1 = bench_now_ns();
    t_progress = t1;
    progress_tick(o, t0, &t_progress, atomic_load(&d.acked));
    char config[192];
    config_describe(config, sizeof(config), o, o->linger_ms);
    bench_result_t r = {.workload = "publish",
                        .config = config,
                        .expected = capped ? sent : o->count,
                        .msgs = atomic_load(&d.acked),
                        .errors = errors + atomic_load(&d.failed),
                        .msg_bytes = o->msg_bytes,
                        .partitions = o->partitions,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped};
    bench_result_print(&r);
    rd_kafka_destroy(rk);
    free(payload);
    return bench_result_status(&r);
}

/* ---- transactions ------------------------------------------------------------------------ */
static bool txn_check(rd_kafka_error_t *e, const char *what, int64_t *errors)
{
    if (!e)
        return true;
    if ((*errors)++ < 5)
        fprintf(stderr, "bench_weir: %s: %s\n", what, rd_kafka_error_string(e));
    bool fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    if (fatal)
        bench_die("%s: fatal transaction error", what);
    return false;
}

static int run_txn_publish(const opts_t *o)
{
    dr_t d = {0};
    char tid[256];
    snprintf(tid, sizeof(tid), "bench-%s", o->topic);
    rd_kafka_t *rk = producer_new_txn(o, &d, o->linger_ms, tid);
    topic_create(rk, o->topic, o->partitions);
    int64_t errors = 0;
    if (!txn_check(rd_kafka_init_transactions(rk, 30000), "init_transactions", &errors))
        bench_die("init_transactions failed");
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    bench_lat_t commit = {0};
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9), sent = 0;
    int64_t txns = 0;
    bool capped = false;
    while (sent < o->count) {
        if (bench_now_ns() > deadline) {
            capped = true;
            break;
        }
        if (!txn_check(rd_kafka_begin_transaction(rk), "begin_transaction", &errors))
            break;
        for (int64_t j = 0; j < o->txn_size && sent < o->count; j++, sent++) {
            bench_payload_stamp(payload, (uint64_t)sent, bench_now_ns());
            if (!produce_one(rk, o->topic, (int32_t)(sent % o->partitions), payload,
                             (size_t)o->msg_bytes))
                errors++;
        }
        int64_t c0 = bench_now_ns();
        rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, 60000);
        if (!e)
            bench_lat_add(&commit, bench_now_ns() - c0);
        else if (rd_kafka_error_txn_requires_abort(e)) {
            txn_check(e, "commit_transaction", &errors);
            txn_check(rd_kafka_abort_transaction(rk, 60000), "abort_transaction", &errors);
            break;
        } else if (!txn_check(e, "commit_transaction", &errors)) {
            break;
        }
        txns++;
    }
    int64_t t1 = bench_now_ns();
    char config[256], extra[96];
    snprintf(config, sizeof(config),
             "librdkafka %s, transactional, %" PRId64 " msg/txn, linger.ms=%" PRId64
             ", batch.size=1000000, no compression",
             rd_kafka_version_str(), o->txn_size, o->linger_ms);
    snprintf(extra, sizeof(extra), "\"txns\":%" PRId64 ",\"txn_size\":%" PRId64, txns, o->txn_size);
    bench_result_t r = {.workload = "txn_publish",
                        .config = config,
                        .expected = capped ? sent : o->count,
                        .msgs = atomic_load(&d.acked),
                        .errors = errors + atomic_load(&d.failed),
                        .msg_bytes = o->msg_bytes,
                        .partitions = o->partitions,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped,
                        .lat = &commit,
                        .extra = extra};
    bench_result_print(&r);
    bench_lat_free(&commit);
    rd_kafka_destroy(rk);
    free(payload);
    return bench_result_status(&r);
}

/* ---- consuming a backlog with the partition-queue consumer --------------------------------
 * No group: the backlog is read from offset 0 of every partition into one queue. */
typedef struct {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *q;
    int partitions;
} reader_t;

static void reader_open(reader_t *rd, const opts_t *o, bool for_latency)
{
    rd_kafka_conf_t *conf = conf_base(o);
    conf_set(conf, "enable.partition.eof", "false");
    conf_set(conf, "queued.min.messages", for_latency ? "1000" : "1000000");
    conf_set(conf, "fetch.message.max.bytes", "4194304");
    conf_set(conf, "fetch.wait.max.ms", "100");
    conf_set(conf, "fetch.error.backoff.ms", "10");
    if (o->isolation[0])
        conf_set(conf, "isolation.level", o->isolation);
    rd->rk = client_new(RD_KAFKA_CONSUMER, conf);
    rd_kafka_topic_conf_t *tconf = rd_kafka_topic_conf_new();
    char err[256];
    if (rd_kafka_topic_conf_set(tconf, "auto.commit.enable", "false", err, sizeof(err)) !=
        RD_KAFKA_CONF_OK)
        bench_die("topic config: %s", err);
    rd->rkt = rd_kafka_topic_new(rd->rk, o->topic, tconf);
    rd->q = rd_kafka_queue_new(rd->rk);
    rd->partitions = o->partitions;
    /* Connected before the clock starts, as the peers' drivers are: metadata needs the link. */
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rd->rk, 0, rd->rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        bench_die("consumer: no metadata for %s", o->topic);
    rd_kafka_metadata_destroy(md);
}

static void reader_start(reader_t *rd)
{
    for (int p = 0; p < rd->partitions; p++)
        if (rd_kafka_consume_start_queue(rd->rkt, p, RD_KAFKA_OFFSET_BEGINNING, rd->q) != 0)
            bench_die("consume_start partition %d: %s", p, rd_kafka_err2str(rd_kafka_last_error()));
}

static void reader_close(reader_t *rd)
{
    for (int p = 0; p < rd->partitions; p++)
        rd_kafka_consume_stop(rd->rkt, p);
    rd_kafka_queue_destroy(rd->q);
    rd_kafka_topic_destroy(rd->rkt);
    rd_kafka_destroy(rd->rk);
}

static int run_consume(const opts_t *o)
{
    reader_t rd;
    bench_order_t ord;
    bench_order_init(&ord, o->partitions);
    reader_open(&rd, o, false);
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9), t_last = t0;
    reader_start(&rd);
    rd_kafka_message_t *batch[4096];
    int64_t got = 0, errors = 0, t_progress = t0;
    bool capped = false;
    while (got < o->count) {
        progress_tick(o, t0, &t_progress, got);
        int64_t now = bench_now_ns();
        if (now > deadline) {
            capped = true;
            break;
        }
        if (now - t_last > 5000000000LL)
            break; /* 5 s without a message: the backlog is shorter than asked */
        /* consume_batch waits until it has all it asked for or the timeout passes: never ask
         * for more than is left, or the last call would add its timeout to the run. */
        size_t want = (size_t)BENCH_MIN((int64_t)BENCH_ARRAY_LEN(batch), o->count - got);
        ssize_t n = rd_kafka_consume_batch_queue(rd.q, 100, batch, want);
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            if (m->err) {
                if (errors++ < 5)
                    fprintf(stderr, "bench_weir: consume: %s\n", rd_kafka_message_errstr(m));
            } else if ((int64_t)m->len != o->msg_bytes ||
                       !bench_order_check(&ord, m->partition, bench_payload_seq(m->payload))) {
                errors++;
            } else {
                got++;
            }
            rd_kafka_message_destroy(m);
        }
        if (n > 0)
            t_last = bench_now_ns();
    }
    t_progress = bench_now_ns();
    progress_tick(o, t0, &t_progress, got);
    reader_close(&rd);
    char config[192];
    snprintf(config, sizeof(config),
             "partition queues from offset 0, fetch 4 MiB/partition, prefetch 1M messages%s%s",
             o->isolation[0] ? ", isolation.level=" : "", o->isolation);
    bench_result_t r = {.workload = "consume",
                        .config = config,
                        .expected = o->count,
                        .msgs = got,
                        .errors = errors,
                        .msg_bytes = o->msg_bytes,
                        .partitions = o->partitions,
                        .secs = (double)(t_last - t0) / 1e9,
                        .capped = capped};
    bench_result_print(&r);
    return bench_result_status(&r);
}

/* ---- latency ------------------------------------------------------------------------------ */
static int run_latency_ack(const opts_t *o)
{
    dr_t d = {0};
    bench_lat_t lat = {0};
    d.ack_lat = &lat;
    rd_kafka_t *rk = producer_new(o, &d, 0);
    topic_create(rk, o->topic, o->partitions);
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9), n = 0, errors = 0;
    bool capped = false;
    for (; n < o->count; n++) {
        int64_t ts = bench_now_ns();
        if (ts > deadline) {
            capped = true;
            break;
        }
        bench_payload_stamp(payload, (uint64_t)n, ts);
        int64_t done = atomic_load(&d.acked) + atomic_load(&d.failed);
        if (!produce_one(rk, o->topic, (int32_t)(n % o->partitions), payload,
                         (size_t)o->msg_bytes)) {
            errors++;
            continue;
        }
        while (atomic_load(&d.acked) + atomic_load(&d.failed) == done)
            rd_kafka_poll(rk, 100);
    }
    int64_t t1 = bench_now_ns();
    char config[192];
    config_describe(config, sizeof(config), o, 0);
    strncat(config, ", one in flight", sizeof(config) - strlen(config) - 1);
    bench_result_t r = {.workload = "latency_ack",
                        .config = config,
                        .expected = capped ? n : o->count,
                        .msgs = atomic_load(&d.acked),
                        .errors = errors + atomic_load(&d.failed),
                        .msg_bytes = o->msg_bytes,
                        .partitions = o->partitions,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped,
                        .lat = &lat};
    bench_result_print(&r);
    bench_lat_free(&lat);
    rd_kafka_destroy(rk);
    free(payload);
    return bench_result_status(&r);
}

typedef struct {
    const opts_t *o;
    rd_kafka_t *producer;
    atomic_bool stop;
    int64_t total, deadline;
    bench_lat_t e2e;
    int64_t got, errors;
} e2e_t;

static void *e2e_poller(void *arg)
{
    e2e_t *e = arg;
    while (!atomic_load(&e->stop))
        rd_kafka_poll(e->producer, 50);
    return NULL;
}

static void *e2e_consumer(void *arg)
{
    e2e_t *e = arg;
    reader_t rd;
    bench_order_t ord;
    bench_order_init(&ord, e->o->partitions);
    reader_open(&rd, e->o, true);
    reader_start(&rd);
    while (e->got < e->total && bench_now_ns() < e->deadline) {
        /* One message at a time: a batch call would hold messages back until the batch fills. */
        rd_kafka_message_t *m = rd_kafka_consume_queue(rd.q, 100);
        if (!m)
            continue;
        int64_t now = bench_now_ns();
        if (m->err || (int64_t)m->len != e->o->msg_bytes ||
            !bench_order_check(&ord, m->partition, bench_payload_seq(m->payload))) {
            e->errors++;
        } else {
            bench_lat_add(&e->e2e, now - bench_payload_time(m->payload));
            e->got++;
        }
        rd_kafka_message_destroy(m);
    }
    reader_close(&rd);
    return NULL;
}

static int run_latency_e2e(const opts_t *o)
{
    dr_t d = {0};
    bench_lat_t ack_lat = {0};
    d.ack_lat = &ack_lat;
    e2e_t e = {.o = o, .total = (int64_t)(o->seconds * (double)o->rate)};
    e.producer = producer_new(o, &d, 0);
    topic_create(e.producer, o->topic, o->partitions);
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    pthread_t poller, consumer;
    e.deadline = bench_now_ns() + (int64_t)(o->seconds * 1e9) + 10000000000LL;
    pthread_create(&consumer, NULL, e2e_consumer, &e);
    pthread_create(&poller, NULL, e2e_poller, &e);
    /* Give the consumer time to connect and start its fetches before the first message. */
    int64_t t_start = bench_now_ns() + 500000000, errors = 0;
    for (int64_t i = 0; i < e.total; i++) {
        /* The intended send time, not the actual one: a stall delays the messages behind it and
         * their latency counts the stall (no coordinated omission). */
        int64_t t_i = t_start + i * 1000000000 / o->rate;
        bench_sleep_until_ns(t_i);
        bench_payload_stamp(payload, (uint64_t)i, t_i);
        if (!produce_one(e.producer, o->topic, (int32_t)(i % o->partitions), payload,
                         (size_t)o->msg_bytes))
            errors++;
    }
    if (rd_kafka_flush(e.producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        errors++;
    pthread_join(consumer, NULL);
    atomic_store(&e.stop, true);
    pthread_join(poller, NULL);

    char config[192];
    config_describe(config, sizeof(config), o, 0);
    char tail[64];
    snprintf(tail, sizeof(tail), ", %" PRId64 " msg/s paced", o->rate);
    strncat(config, tail, sizeof(config) - strlen(config) - 1);
    bench_result_t r = {.workload = "latency_e2e",
                        .config = config,
                        .expected = e.total,
                        .msgs = e.got,
                        .errors = errors + e.errors + atomic_load(&d.failed),
                        .msg_bytes = o->msg_bytes,
                        .partitions = o->partitions,
                        .secs = o->seconds,
                        .lat = &e.e2e,
                        .ack_lat = &ack_lat};
    if (atomic_load(&d.acked) != e.total)
        r.errors++;
    bench_result_print(&r);
    bench_lat_free(&e.e2e);
    bench_lat_free(&ack_lat);
    rd_kafka_destroy(e.producer);
    free(payload);
    return bench_result_status(&r);
}

/* ---- paced durable produce (issue 17, tail latency) -----------------------------------------
 * latency_paced: one producer (linger.ms=0) sends --rate msg/s for --seconds, each message
 * stamped with its intended send time (a stall delays the messages behind it and their latency
 * counts it: no coordinated omission); a poller thread serves the delivery reports. --timeline F
 * writes "ms_since_start latency_us" per message (-1: never acknowledged) for the chart. With
 * --addr mock the same run goes to librdkafka's in-process mock broker. */
typedef struct {
    rd_kafka_t *producer;
    atomic_bool stop;
} paced_poller_t;

static void *paced_poller(void *arg)
{
    paced_poller_t *pp = arg;
    while (!atomic_load(&pp->stop))
        rd_kafka_poll(pp->producer, 50);
    rd_kafka_poll(pp->producer, 0);
    return NULL;
}

static void paced_timeline_write(const char *path, const int64_t *lat_ns, int64_t n, int64_t rate)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die("%s: cannot create", path);
    for (int64_t i = 0; i < n; i++)
        fprintf(f, "%.3f %.1f\n", (double)i * 1000.0 / (double)rate,
                lat_ns[i] < 0 ? -1.0 : (double)lat_ns[i] / 1000.0);
    if (fclose(f) != 0)
        bench_die("%s: write failed", path);
}

static int run_latency_paced(const opts_t *o)
{
    int64_t total = (int64_t)(o->seconds * (double)o->rate);
    bench_lat_t lat = {0};
    dr_t d = {.ack_lat = &lat, .seq_cap = total};
    d.lat_by_seq = bench_xmalloc((size_t)BENCH_MAX(total, 1) * sizeof(int64_t));
    for (int64_t i = 0; i < total; i++)
        d.lat_by_seq[i] = -1;
    paced_poller_t pp = {.producer = producer_new(o, &d, 0)};
    topic_create(pp.producer, o->topic, o->partitions);
    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    /* A warm-up message so the connection and the partition's leader are known. */
    bench_payload_stamp(payload, UINT64_MAX, bench_now_ns());
    produce_one(pp.producer, o->topic, 0, payload, (size_t)o->msg_bytes);
    if (rd_kafka_flush(pp.producer, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        bench_die("warm-up message not acknowledged in 10 s");
    lat.n = 0;
    atomic_store(&d.acked, 0);
    pthread_t poller;
    pthread_create(&poller, NULL, paced_poller, &pp);
    int64_t t_start = bench_now_ns() + 100000000, errors = 0;
    for (int64_t i = 0; i < total; i++) {
        int64_t t_i = t_start + i * 1000000000 / o->rate;
        bench_sleep_until_ns(t_i);
        bench_payload_stamp(payload, (uint64_t)i, t_i);
        if (!produce_one(pp.producer, o->topic, (int32_t)(i % o->partitions), payload,
                         (size_t)o->msg_bytes))
            errors++;
    }
    if (rd_kafka_flush(pp.producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        errors++;
    atomic_store(&pp.stop, true);
    pthread_join(poller, NULL);
    if (o->timeline[0])
        paced_timeline_write(o->timeline, d.lat_by_seq, total, o->rate);

    char config[192];
    config_describe(config, sizeof(config), o, 0);
    char tail[96];
    snprintf(tail, sizeof(tail), ", %" PRId64 " msg/s paced%s", o->rate,
             strcmp(o->addr, "mock") == 0 ? ", librdkafka mock broker" : "");
    strncat(config, tail, sizeof(config) - strlen(config) - 1);
    bench_result_t r = {.workload = "latency_paced",
                        .config = config,
                        .expected = total,
                        .msgs = atomic_load(&d.acked),
                        .errors = errors + atomic_load(&d.failed),
                        .msg_bytes = o->msg_bytes,
                        .partitions = o->partitions,
                        .secs = o->seconds,
                        .lat = &lat};
    bench_result_print(&r);
    bench_lat_free(&lat);
    free(d.lat_by_seq);
    rd_kafka_destroy(pp.producer);
    free(payload);
    return bench_result_status(&r);
}

/* ---- consumer groups (issue 4) -------------------------------------------------------------
 * Members are threads, each with its own high-level consumer (rd_kafka_consumer_poll, eager
 * rebalancing with librdkafka's default range,roundrobin assignors). The group workload counts
 * unique sequence numbers in a shared bitmap, so a message read twice (possible around a
 * rebalance before a commit) shows as a duplicate instead of inflating the rate. */
typedef struct group group_t;

typedef struct {
    group_t *g;
    int idx;
    atomic_bool leave;
    atomic_int_fast64_t got, t_assigned, assigned_cnt;
} member_t;

struct group {
    const opts_t *o;
    member_t m[16];
    atomic_uchar *seen; /* group: one byte per sequence number */
    atomic_int_fast64_t unique, dups, errors, t_first, t_last;
    atomic_bool stop;
    atomic_int_fast64_t t_leave;         /* rebalance: when the last member was told to leave */
    atomic_int_fast64_t part_resume[64]; /* rebalance: first message per partition after it */
};

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    member_t *m = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        atomic_store(&m->assigned_cnt, parts->cnt);
        atomic_store(&m->t_assigned, bench_now_ns());
    } else {
        rd_kafka_assign(rk, NULL);
        atomic_store(&m->assigned_cnt, 0);
    }
}

static void member_take(member_t *m, const rd_kafka_message_t *msg)
{
    group_t *g = m->g;
    int64_t now = bench_now_ns();
    if ((int64_t)msg->len != g->o->msg_bytes || msg->partition < 0 ||
        msg->partition >= g->o->partitions) {
        atomic_fetch_add(&g->errors, 1);
        return;
    }
    atomic_fetch_add(&m->got, 1);
    int64_t zero = 0;
    atomic_compare_exchange_strong(&g->t_first, &zero, now);
    atomic_store(&g->t_last, now);
    if (g->seen) {
        uint64_t seq = bench_payload_seq(msg->payload);
        if (seq >= (uint64_t)g->o->count) {
            atomic_fetch_add(&g->errors, 1);
        } else if (atomic_exchange(&g->seen[seq], 1)) {
            atomic_fetch_add(&g->dups, 1);
        } else {
            atomic_fetch_add(&g->unique, 1);
        }
    }
    /* Rebalance: a partition counts as consuming again once a member that was reassigned after
     * the leave receives from it. */
    int64_t t_leave = atomic_load(&g->t_leave);
    if (t_leave && atomic_load(&m->t_assigned) > t_leave) {
        int64_t none = 0;
        atomic_compare_exchange_strong(&g->part_resume[msg->partition], &none, now);
    }
}

static void *member_main(void *arg)
{
    member_t *m = arg;
    const opts_t *o = m->g->o;
    rd_kafka_conf_t *conf = conf_base(o);
    char v[32];
    conf_set(conf, "group.id", o->group);
    conf_set(conf, "auto.offset.reset", "earliest");
    conf_set(conf, "enable.partition.eof", "false");
    conf_set(conf, "queued.min.messages", "1000000");
    conf_set(conf, "fetch.message.max.bytes", "4194304");
    conf_set(conf, "fetch.wait.max.ms", "100");
    snprintf(v, sizeof(v), "%" PRId64, o->heartbeat_ms);
    conf_set(conf, "heartbeat.interval.ms", v);
    conf_set(conf, "session.timeout.ms", "10000");
    rd_kafka_conf_set_opaque(conf, m);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, conf);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, o->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        bench_die("subscribe: %s", rd_kafka_err2str(e));
    while (!atomic_load(&m->g->stop) && !atomic_load(&m->leave)) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (!msg)
            continue;
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                atomic_fetch_add(&m->g->errors, 1) < 5)
                fprintf(stderr, "bench_weir: member %d: %s\n", m->idx,
                        rd_kafka_message_errstr(msg));
        } else {
            member_take(m, msg);
        }
        rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(rk); /* LeaveGroup */
    rd_kafka_destroy(rk);
    return NULL;
}

static void group_start(group_t *g, pthread_t *th)
{
    for (int i = 0; i < g->o->members; i++) {
        g->m[i].g = g;
        g->m[i].idx = i;
        pthread_create(&th[i], NULL, member_main, &g->m[i]);
    }
}

static int run_group(const opts_t *o)
{
    group_t *g = calloc(1, sizeof(*g));
    if (!g)
        bench_die("out of memory");
    g->o = o;
    g->seen = calloc((size_t)o->count, 1);
    if (!g->seen)
        bench_die("out of memory for %" PRId64 " sequence flags", o->count);
    pthread_t th[16];
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9);
    group_start(g, th);
    bool capped = false;
    while (atomic_load(&g->unique) < o->count) {
        if (bench_now_ns() > deadline) {
            capped = true;
            break;
        }
        bench_sleep_until_ns(bench_now_ns() + 1000000);
    }
    atomic_store(&g->stop, true);
    for (int i = 0; i < o->members; i++)
        pthread_join(th[i], NULL);
    int64_t t_first = atomic_load(&g->t_first), t_last = atomic_load(&g->t_last);
    char config[160], extra[256];
    snprintf(config, sizeof(config),
             "%" PRId64 " member(s), one thread each, rd_kafka_consumer_poll, eager rebalance",
             o->members);
    snprintf(extra, sizeof(extra),
             "\"members\":%" PRId64 ",\"join_ms\":%.1f,\"duplicates\":%" PRId64 ",\"per_member\":[",
             o->members, t_first ? (double)(t_first - t0) / 1e6 : -1.0,
             (int64_t)atomic_load(&g->dups));
    for (int i = 0; i < o->members; i++)
        snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), "%s%" PRId64, i ? "," : "",
                 (int64_t)atomic_load(&g->m[i].got));
    strncat(extra, "]", sizeof(extra) - strlen(extra) - 1);
    bench_result_t r = {.workload = "group",
                        .config = config,
                        .expected = o->count,
                        .msgs = atomic_load(&g->unique),
                        .errors = atomic_load(&g->errors),
                        .msg_bytes = o->msg_bytes,
                        .partitions = o->partitions,
                        .secs = t_first ? (double)(t_last - t_first) / 1e9 : 0,
                        .capped = capped,
                        .extra = extra};
    bench_result_print(&r);
    free(g->seen);
    free(g);
    return bench_result_status(&r);
}

typedef struct {
    const opts_t *o;
    atomic_bool stop;
    atomic_int_fast64_t sent;
} feeder_t;

/* Keeps the topic flowing at o->rate so the remaining members have something to consume. */
static void *feeder_main(void *arg)
{
    feeder_t *f = arg;
    dr_t d = {0};
    rd_kafka_t *rk = producer_new(f->o, &d, 1);
    uint8_t *payload = bench_xmalloc((size_t)f->o->msg_bytes);
    bench_payload_init(payload, (size_t)f->o->msg_bytes);
    int64_t t_start = bench_now_ns();
    for (int64_t i = 0; !atomic_load(&f->stop); i++) {
        int64_t t_i = t_start + i * 1000000000 / f->o->rate;
        bench_sleep_until_ns(t_i);
        bench_payload_stamp(payload, (uint64_t)i, t_i);
        produce_one(rk, f->o->topic, (int32_t)(i % f->o->partitions), payload,
                    (size_t)f->o->msg_bytes);
        rd_kafka_poll(rk, 0);
        atomic_store(&f->sent, i + 1);
    }
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    free(payload);
    return NULL;
}

static int run_rebalance(const opts_t *o)
{
    if (o->members < 2)
        bench_die("rebalance needs at least 2 members");
    {
        dr_t d = {0};
        rd_kafka_t *rk = producer_new(o, &d, 1);
        topic_create(rk, o->topic, o->partitions);
        rd_kafka_destroy(rk);
    }
    group_t *g = calloc(1, sizeof(*g));
    if (!g)
        bench_die("out of memory");
    g->o = o;
    feeder_t f = {.o = o};
    pthread_t feeder, th[16];
    pthread_create(&feeder, NULL, feeder_main, &f);
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9);
    group_start(g, th);

    /* Steady state first: every member assigned and receiving, for half a second. */
    int64_t steady_since = 0;
    bool ok = false;
    while (bench_now_ns() < deadline) {
        bool all = true;
        for (int i = 0; i < o->members; i++)
            all = all && atomic_load(&g->m[i].assigned_cnt) > 0 && atomic_load(&g->m[i].got) > 0;
        int64_t now = bench_now_ns();
        steady_since = all ? (steady_since ? steady_since : now) : 0;
        if (steady_since && now - steady_since > 500000000) {
            ok = true;
            break;
        }
        bench_sleep_until_ns(now + 10000000);
    }
    int64_t t_leave = 0, t_assigned = 0, t_resumed = 0;
    if (ok) {
        t_leave = bench_now_ns();
        atomic_store(&g->t_leave, t_leave);
        atomic_store(&g->m[o->members - 1].leave, true);
        while (bench_now_ns() < deadline) {
            bool all = true;
            for (int p = 0; p < o->partitions; p++)
                all = all && atomic_load(&g->part_resume[p]) > 0;
            if (all)
                break;
            bench_sleep_until_ns(bench_now_ns() + 1000000);
        }
        for (int i = 0; i + 1 < o->members; i++)
            t_assigned = BENCH_MAX(t_assigned, (int64_t)atomic_load(&g->m[i].t_assigned));
        for (int p = 0; p < o->partitions; p++) {
            int64_t t = atomic_load(&g->part_resume[p]);
            t_resumed = t && t_resumed >= 0 ? BENCH_MAX(t_resumed, t) : -1;
        }
    }
    atomic_store(&g->stop, true);
    for (int i = 0; i < o->members; i++)
        pthread_join(th[i], NULL);
    atomic_store(&f.stop, true);
    pthread_join(feeder, NULL);

    char config[192], extra[192];
    snprintf(config, sizeof(config),
             "%" PRId64 " members, one leaves (LeaveGroup) while %" PRId64
             " msg/s flow; heartbeat.interval.ms=%" PRId64,
             o->members, o->rate, o->heartbeat_ms);
    bool resumed = ok && t_resumed > 0 && t_assigned > t_leave;
    snprintf(extra, sizeof(extra), "\"leave_to_assign_ms\":%.1f,\"leave_to_consume_ms\":%.1f",
             resumed ? (double)(t_assigned - t_leave) / 1e6 : -1.0,
             resumed ? (double)(t_resumed - t_leave) / 1e6 : -1.0);
    int64_t got = 0;
    for (int i = 0; i < o->members; i++)
        got += atomic_load(&g->m[i].got);
    bench_result_t r = {.workload = "rebalance",
                        .config = config,
                        .expected = got,
                        .msgs = got,
                        .errors = atomic_load(&g->errors) + (resumed ? 0 : 1),
                        .msg_bytes = o->msg_bytes,
                        .partitions = o->partitions,
                        .secs = (double)(bench_now_ns() - t0) / 1e9,
                        .extra = extra};
    if (!ok)
        fprintf(stderr, "bench_weir: the group never reached a steady state\n");
    bench_result_print(&r);
    free(g);
    return bench_result_status(&r);
}

/* ---- idle connections (issue 3: RSS per idle connection) ----------------------------------
 * Opens N plain TCP connections, sends each an ApiVersions v0 request so the broker has set up a
 * real Kafka connection (not just an accepted socket), reads every answer, prints "READY n" and
 * holds them until stdin closes or the deadline passes; the runner reads the broker's RSS
 * meanwhile. */
static bool send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool read_frame(int fd)
{
    uint8_t hdr[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(fd, hdr + got, 4 - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    int64_t size =
        (int64_t)((uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3]);
    if (size <= 0 || size > (1 << 20))
        return false;
    uint8_t buf[4096];
    while (size > 0) {
        ssize_t r = read(fd, buf, (size_t)BENCH_MIN(size, (int64_t)sizeof(buf)));
        if (r <= 0)
            return false;
        size -= r;
    }
    return true;
}

/* ---- the event store: loading one aggregate (libweir's weir_store_load) -----------------------
 */

#define STORE_AGGREGATES 5 /* aggregates written and loaded */
#define STORE_LOAD_REPS  3 /* loads of each */

/* The value of event `round` of aggregate `agg`: what a load must give back, in order. */
static size_t store_event_value(char *out, size_t cap, int agg, int64_t round)
{
    return (size_t)snprintf(out, cap, "agg-%d event %" PRId64 " %s", agg, round,
                            "................................................................");
}

/* Writes the partition: --count records in --events rounds, each round a share of background
 * records (keys "key-%09d" of i % (count / events), 100-byte values, librdkafka batching),
 * then one event of each aggregate "agg-N", each in a batch of its own (linger.ms=0, flushed),
 * as a service appending its decisions one at a time does. */
static void store_write(const opts_t *o)
{
    dr_t d = {0}, d1 = {0};
    rd_kafka_t *bulk = producer_new(o, &d, 10), *one = producer_new(o, &d1, 0);
    topic_create(bulk, o->topic, 1);
    uint8_t payload[100];
    bench_payload_init(payload, sizeof(payload));
    int64_t per_round = o->count / o->events, keys = per_round > 0 ? per_round : 1, sent = 0;
    for (int64_t r = 0; r < o->events; r++) {
        for (int64_t i = 0; i < per_round; i++, sent++)
            if (!produce_keyed(bulk, o->topic, 0, payload, sizeof(payload), sent % keys, NULL))
                bench_die("store_load: produce failed");
        if (rd_kafka_flush(bulk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            bench_die("store_load: flush failed");
        for (int a = 0; a < STORE_AGGREGATES; a++) {
            char key[16], value[128];
            int klen = snprintf(key, sizeof(key), "agg-%d", a);
            size_t vlen = store_event_value(value, sizeof(value), a, r);
            if (rd_kafka_producev(one, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(0),
                                  RD_KAFKA_V_KEY(key, (size_t)klen), RD_KAFKA_V_VALUE(value, vlen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ||
                rd_kafka_flush(one, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
                bench_die("store_load: an event was not written");
        }
    }
    if (atomic_load(&d.failed) || atomic_load(&d1.failed))
        bench_die("store_load: deliveries failed");
    rd_kafka_destroy(bulk);
    rd_kafka_destroy(one);
}

/* True if ev holds exactly the events of aggregate agg, in order. */
static bool store_events_ok(const weir_store_events *ev, int agg, int64_t events)
{
    if ((int64_t)ev->count != events || ev->count == 0 ||
        ev->version != ev->records[ev->count - 1].offset)
        return false;
    for (size_t i = 0; i < ev->count; i++) {
        char want[128];
        size_t n = store_event_value(want, sizeof(want), agg, (int64_t)i);
        if (ev->records[i].value_len != n || memcmp(ev->records[i].value, want, n) != 0)
            return false;
    }
    return true;
}

static int run_store_load(const opts_t *o)
{
    int64_t t0 = bench_now_ns();
    store_write(o);
    double write_s = (double)(bench_now_ns() - t0) / 1e9;
    weir_store_config sc;
    weir_store_config_init(&sc);
    sc.brokers = o->addr;
    sc.admin_url = o->admin;
    sc.topic = o->topic;
    weir_store *st;
    char err[512];
    if (weir_store_new(&sc, &st, err, sizeof(err)))
        bench_die("store_load: %s", err);
    bench_lat_t lat = {0};
    int64_t ok = 0, errors = 0, first_ns = -1, t1 = bench_now_ns();
    for (int rep = 0; rep < STORE_LOAD_REPS; rep++) {
        for (int a = 0; a < STORE_AGGREGATES; a++) {
            char key[16];
            snprintf(key, sizeof(key), "agg-%d", a);
            weir_store_events ev;
            int64_t l0 = bench_now_ns();
            int rc = weir_store_load(st, key, &ev, err, sizeof(err));
            int64_t ns = bench_now_ns() - l0;
            if (rc == 0 && store_events_ok(&ev, a, o->events))
                ok++;
            else if (errors++ < 3)
                fprintf(stderr, "bench_weir: load %s: %s\n", key,
                        rc ? err : "not exactly its events");
            if (first_ns < 0) /* the store's first load also connects its consumer */
                first_ns = ns;
            else
                bench_lat_add(&lat, ns);
            weir_store_events_free(&ev);
        }
    }
    double secs = (double)(bench_now_ns() - t1) / 1e9;
    weir_store_free(st);
    char extra[192];
    snprintf(extra, sizeof(extra),
             "\"records\":%" PRId64 ",\"events\":%" PRId64 ",\"first_load_ms\":%.2f,"
             "\"write_s\":%.1f",
             o->count + o->events * STORE_AGGREGATES, o->events, (double)first_ns / 1e6, write_s);
    bench_result_t r = {.workload = "store_load",
                        .config = "weir_store_load, the aggregate's events one batch each",
                        .expected = STORE_AGGREGATES * STORE_LOAD_REPS,
                        .msgs = ok,
                        .errors = errors,
                        .msg_bytes = 100,
                        .partitions = 1,
                        .secs = secs,
                        .lat = &lat,
                        .extra = extra};
    bench_result_print(&r);
    bench_lat_free(&lat);
    return bench_result_status(&r);
}

static int run_idle_conns(const opts_t *o)
{
    char host[256];
    int port;
    bench_split_addr(o->addr, host, sizeof(host), &port);
    bench_raise_nofile();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        bench_die("idle_conns needs a numeric IPv4 address, got %s", host);
    /* ApiVersions v0: size, api_key 18, version 0, correlation id, client id "bench". */
    static const uint8_t req[] = {0, 0, 0, 15, 0,   18,  0,   0,   0,  0,
                                  0, 1, 0, 5,  'b', 'e', 'n', 'c', 'h'};
    int *fds = bench_xmalloc((size_t)o->conns * sizeof(int));
    int64_t open_ok = 0, errors = 0, t0 = bench_now_ns();
    for (int64_t i = 0; i < o->conns; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            !send_all(fds[i], req, sizeof(req)) || !read_frame(fds[i])) {
            if (errors++ < 5)
                fprintf(stderr, "bench_weir: connection %" PRId64 ": %s\n", i, strerror(errno));
            continue;
        }
        open_ok++;
    }
    int64_t t1 = bench_now_ns();
    printf("READY %" PRId64 "\n", open_ok);
    fflush(stdout);
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    int64_t deadline = t1 + (int64_t)(o->seconds * 1e9);
    while (bench_now_ns() < deadline) {
        int left_ms = (int)((deadline - bench_now_ns()) / 1000000);
        if (poll(&pfd, 1, left_ms > 0 ? left_ms : 1) > 0) {
            char c;
            if (read(0, &c, 1) <= 0)
                break;
        }
    }
    /* Still open at the end means the broker did not close idle connections under us. */
    int64_t still_open = 0;
    for (int64_t i = 0; i < o->conns; i++) {
        if (fds[i] < 0)
            continue;
        struct pollfd q = {.fd = fds[i], .events = POLLIN};
        if (poll(&q, 1, 0) == 0)
            still_open++;
        close(fds[i]);
    }
    free(fds);
    char extra[96];
    snprintf(extra, sizeof(extra), "\"still_open\":%" PRId64, still_open);
    bench_result_t r = {.workload = "idle_conns",
                        .config = "ApiVersions v0 then idle",
                        .expected = o->conns,
                        .msgs = open_ok,
                        .errors = errors,
                        .msg_bytes = sizeof(req),
                        .partitions = 0,
                        .secs = (double)(t1 - t0) / 1e9,
                        .extra = extra};
    bench_result_print(&r);
    return bench_result_status(&r);
}

/* ---- latency_ack_raw: a synchronous Kafka client ------------------------------------------- */

static uint32_t crc32c_table[256];

static uint32_t raw_crc32c(const uint8_t *p, size_t n)
{
    if (!crc32c_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            crc32c_table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    while (n--)
        c = crc32c_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
} raw_buf_t;

static void raw_put(raw_buf_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap)
        bench_die("raw request buffer too small");
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void raw_be(raw_buf_t *b, uint64_t v, int bytes)
{
    uint8_t t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    raw_put(b, t, (size_t)bytes);
}

static void raw_varint(raw_buf_t *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    do {
        uint8_t c = (uint8_t)(z & 0x7F);
        z >>= 7;
        if (z)
            c |= 0x80;
        raw_put(b, &c, 1);
    } while (z);
}

static void raw_patch32(uint8_t *at, uint32_t v)
{
    at[0] = (uint8_t)(v >> 24);
    at[1] = (uint8_t)(v >> 16);
    at[2] = (uint8_t)(v >> 8);
    at[3] = (uint8_t)v;
}

/* A whole ProduceRequest v7 frame: one topic, partition 0, one v2 batch of one record. */
static void raw_produce_frame(raw_buf_t *b, const opts_t *o, int32_t corr, const uint8_t *value,
                              size_t n, int64_t ts_ms)
{
    b->n = 0;
    raw_be(b, 0, 4); /* frame size, patched */
    raw_be(b, 0, 2); /* Produce */
    raw_be(b, 7, 2);
    raw_be(b, (uint32_t)corr, 4);
    raw_be(b, 9, 2);
    raw_put(b, "bench-raw", 9);
    raw_be(b, 0xFFFF, 2); /* transactional_id null */
    raw_be(b, (uint16_t)(int16_t)o->acks, 2);
    raw_be(b, 30000, 4);
    raw_be(b, 1, 4);
    size_t tlen = strlen(o->topic);
    raw_be(b, tlen, 2);
    raw_put(b, o->topic, tlen);
    raw_be(b, 1, 4);
    raw_be(b, 0, 4); /* partition 0 */
    size_t records_len_at = b->n;
    raw_be(b, 0, 4); /* records bytes, patched */
    size_t batch_at = b->n;
    raw_be(b, 0, 8);           /* base offset */
    raw_be(b, 0, 4);           /* batch length, patched */
    raw_be(b, 0xFFFFFFFFu, 4); /* partition leader epoch */
    raw_be(b, 2, 1);           /* magic */
    raw_be(b, 0, 4);           /* crc, patched */
    size_t crc_from = b->n;
    raw_be(b, 0, 2);               /* attributes */
    raw_be(b, 0, 4);               /* last offset delta */
    raw_be(b, (uint64_t)ts_ms, 8); /* base timestamp */
    raw_be(b, (uint64_t)ts_ms, 8); /* max timestamp */
    raw_be(b, UINT64_MAX, 8);      /* producer id -1 */
    raw_be(b, 0xFFFF, 2);          /* producer epoch -1 */
    raw_be(b, 0xFFFFFFFFu, 4);     /* base sequence -1 */
    raw_be(b, 1, 4);               /* one record */
    uint8_t rec[16];
    raw_buf_t r = {rec, 0, sizeof(rec)};
    raw_be(&r, 0, 1);   /* attributes */
    raw_varint(&r, 0);  /* timestamp delta */
    raw_varint(&r, 0);  /* offset delta */
    raw_varint(&r, -1); /* key null */
    raw_varint(&r, (int64_t)n);
    size_t body = r.n + n + 1; /* + headers count (0) */
    raw_varint(b, (int64_t)body);
    raw_put(b, rec, r.n);
    raw_put(b, value, n);
    raw_varint(b, 0);
    raw_patch32(b->p + batch_at + 8, (uint32_t)(b->n - batch_at - 12));
    raw_patch32(b->p + batch_at + 17, raw_crc32c(b->p + crc_from, b->n - crc_from));
    raw_patch32(b->p + records_len_at, (uint32_t)(b->n - batch_at));
    raw_patch32(b->p, (uint32_t)(b->n - 4));
}

static bool raw_read_all(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static uint64_t raw_get(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads a ProduceResponse v7 for one topic and one partition; false unless it has the
 * correlation id and error code 0. *base is the partition's base offset. */
static bool raw_read_produce_response(int fd, int32_t corr, const opts_t *o, int64_t *base)
{
    uint8_t hdr[4], body[512];
    if (!raw_read_all(fd, hdr, 4))
        return false;
    size_t size = (size_t)raw_get(hdr, 4);
    size_t tlen = strlen(o->topic);
    /* corr, topics count, name, partitions count, index, error, base, append time, start. */
    size_t want = 4 + 4 + 2 + tlen + 4 + 4 + 2 + 8 + 8 + 8;
    if (size < want || size > sizeof(body) || !raw_read_all(fd, body, size))
        return false;
    const uint8_t *q = body;
    if ((int32_t)raw_get(q, 4) != corr || raw_get(q + 4, 4) != 1 || raw_get(q + 8, 2) != tlen)
        return false;
    q += 10 + tlen;
    if (raw_get(q, 4) != 1 || raw_get(q + 4, 4) != 0)
        return false;
    int16_t err = (int16_t)raw_get(q + 8, 2);
    if (err != 0) {
        fprintf(stderr, "bench_weir: ProduceResponse error %d\n", err);
        return false;
    }
    *base = (int64_t)raw_get(q + 10, 8);
    return true;
}

static int run_latency_ack_raw(const opts_t *o)
{
    if (o->acks == 0)
        bench_die("latency_ack_raw needs acks 1 or -1 (acks=0 has no response)");
    rd_kafka_conf_t *conf = conf_base(o);
    rd_kafka_t *admin = client_new(RD_KAFKA_PRODUCER, conf);
    topic_create(admin, o->topic, 1);
    rd_kafka_destroy(admin);

    char host[256];
    int port;
    bench_split_addr(o->addr, host, sizeof(host), &port);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        bench_die("latency_ack_raw needs a numeric IPv4 address, got %s", host);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        bench_die("connect %s: %s", o->addr, strerror(errno));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    uint8_t *payload = bench_xmalloc((size_t)o->msg_bytes);
    bench_payload_init(payload, (size_t)o->msg_bytes);
    raw_buf_t req = {bench_xmalloc((size_t)o->msg_bytes + 512), 0, (size_t)o->msg_bytes + 512};
    bench_lat_t lat = {0};
    int64_t t0 = bench_now_ns(), deadline = t0 + (int64_t)(o->seconds * 1e9), n = 0, errors = 0;
    int64_t expect_base = -1;
    bool capped = false;
    for (; n < o->count; n++) {
        int64_t ts = bench_now_ns();
        if (ts > deadline) {
            capped = true;
            break;
        }
        bench_payload_stamp(payload, (uint64_t)n, ts);
        raw_produce_frame(&req, o, (int32_t)n, payload, (size_t)o->msg_bytes, ts / 1000000);
        int64_t base;
        if (!send_all(fd, req.p, req.n) || !raw_read_produce_response(fd, (int32_t)n, o, &base))
            bench_die("latency_ack_raw: request %" PRId64 " failed", n);
        bench_lat_add(&lat, bench_now_ns() - ts);
        if (expect_base >= 0 && base != expect_base)
            errors++; /* offsets must be dense: one record per request */
        expect_base = base + 1;
    }
    int64_t t1 = bench_now_ns();
    close(fd);
    char config[128];
    snprintf(config, sizeof(config),
             "synchronous raw Kafka client, ProduceRequest v7, acks=%" PRId64 ", one in flight",
             o->acks);
    bench_result_t r = {.workload = "latency_ack_raw",
                        .config = config,
                        .expected = n,
                        .msgs = n - errors,
                        .errors = errors,
                        .msg_bytes = o->msg_bytes,
                        .partitions = 1,
                        .secs = (double)(t1 - t0) / 1e9,
                        .capped = capped,
                        .lat = &lat};
    bench_result_print(&r);
    bench_lat_free(&lat);
    free(req.p);
    free(payload);
    return bench_result_status(&r);
}

int main(int argc, char **argv)
{
    static const char *const known[] = {
        "--addr",      "--topic",        "--partitions",    "--count",
        "--msg-bytes", "--acks",         "--seconds",       "--idempotent",
        "--linger-ms", "--rate",         "--members",       "--conns",
        "--group",     "--heartbeat-ms", "--max-in-flight", "--txn-size",
        "--isolation", "--payload-file", "--timeline",      "--progress-ms",
        "--ssl-ca",    "--keys",         "--conditional",   "--rdkafka",
        "--admin",     "--base-offset",  "--events",        NULL};
    bench_args_t a = {argc, argv};
    if (argc < 2)
        bench_die("usage: bench_weir "
                  "publish|txn_publish|consume|latency_ack|latency_ack_raw|latency_e2e|latency_"
                  "paced|group|"
                  "rebalance|idle_conns|store_load --addr H:P ...");
    bench_args_check(&a, known);
    opts_t o = {
        .addr = bench_arg_str(&a, "--addr", "127.0.0.1:9092"),
        .topic = bench_arg_str(&a, "--topic", "bench"),
        .group = bench_arg_str(&a, "--group", "weir-bench"),
        .partitions = (int)bench_arg_i64(&a, "--partitions", 1),
        .count = bench_arg_i64(&a, "--count", 100000),
        .msg_bytes = bench_arg_i64(&a, "--msg-bytes", 100),
        .acks = bench_arg_i64(&a, "--acks", 1),
        .idempotent = bench_arg_i64(&a, "--idempotent", 0),
        .linger_ms = bench_arg_i64(&a, "--linger-ms", 10),
        .rate = bench_arg_i64(&a, "--rate", 10000),
        .members = bench_arg_i64(&a, "--members", 1),
        .conns = bench_arg_i64(&a, "--conns", 1000),
        .heartbeat_ms = bench_arg_i64(&a, "--heartbeat-ms", 500),
        .max_in_flight = bench_arg_i64(&a, "--max-in-flight", 0),
        .seconds = bench_arg_f64(&a, "--seconds", 10),
        .isolation = bench_arg_str(&a, "--isolation", ""),
        .payload_file = bench_arg_str(&a, "--payload-file", ""),
        .txn_size = bench_arg_i64(&a, "--txn-size", 1),
        .timeline = bench_arg_str(&a, "--timeline", ""),
        .progress_ms = bench_arg_i64(&a, "--progress-ms", 0),
        .ssl_ca = bench_arg_str(&a, "--ssl-ca", ""),
        .keys = bench_arg_i64(&a, "--keys", 0),
        .conditional = bench_arg_i64(&a, "--conditional", 0),
        .base_offset = bench_arg_i64(&a, "--base-offset", 0),
        .admin = bench_arg_str(&a, "--admin", "http://127.0.0.1:8081"),
        .events = bench_arg_i64(&a, "--events", 100),
    };
    conf_extra_list = bench_arg_str(&a, "--rdkafka", "");
    if (o.msg_bytes < BENCH_HDR_BYTES || o.msg_bytes > BENCH_MSG_BYTES_MAX || o.count < 1 ||
        o.partitions < 1 || o.partitions > 64 || (o.acks != 0 && o.acks != 1 && o.acks != -1) ||
        o.rate < 1 || o.members < 1 || o.members > 16 || o.conns < 1 || o.conns > 100000 ||
        o.seconds <= 0 || o.linger_ms < 0 || o.max_in_flight < 0 || o.max_in_flight > 1000000 ||
        o.txn_size < 1 || o.txn_size > 1000000 || o.progress_ms < 0 || o.keys < 0 ||
        (o.conditional && (o.keys < 1 || o.partitions != 1)) || o.base_offset < 0 ||
        (o.base_offset && (!o.conditional || o.base_offset % o.keys != 0)) || o.events < 1 ||
        o.events > 100000 ||
        (o.isolation[0] && strcmp(o.isolation, "read_committed") != 0 &&
         strcmp(o.isolation, "read_uncommitted") != 0))
        bench_die("option out of range");
    const char *w = argv[1];
    if (strcmp(w, "publish") == 0)
        return run_publish(&o);
    if (strcmp(w, "consume") == 0)
        return run_consume(&o);
    if (strcmp(w, "txn_publish") == 0)
        return run_txn_publish(&o);
    if (strcmp(w, "latency_ack") == 0)
        return run_latency_ack(&o);
    if (strcmp(w, "latency_e2e") == 0)
        return run_latency_e2e(&o);
    if (strcmp(w, "latency_ack_raw") == 0)
        return run_latency_ack_raw(&o);
    if (strcmp(w, "latency_paced") == 0)
        return run_latency_paced(&o);
    if (strcmp(w, "group") == 0)
        return run_group(&o);
    if (strcmp(w, "rebalance") == 0)
        return run_rebalance(&o);
    if (strcmp(w, "idle_conns") == 0)
        return run_idle_conns(&o);
    if (strcmp(w, "store_load") == 0)
        return run_store_load(&o);
    bench_die("unknown workload %s", w);
}
