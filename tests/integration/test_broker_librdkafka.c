/*
 * The broker against librdkafka, in-process (weir_broker_start on port 0 with a temp data
 * dir): 100,000 keyed messages across 6 partitions read back with exact content, offsets and
 * per-key order; every compression codec with headers and timestamps; offsetsForTimes; a
 * LogAppendTime topic; MESSAGE_TOO_LARGE; the admin API (create, describe and alter configs,
 * add partitions, delete, and their errors); a long-poll fetch woken by an append; acks=0.
 * Run by test_broker_librdkafka.sh. TAP output.
 */
#include "weir/embed.h"

#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int tap_n, tap_failed;
static char bootstrap[128];
static char data_dir[64];

/* Counts the batches stored in <data_dir>/<topic>-<part>/00000000000000000000.log and how many
 * of them carry compression codec `codec` in their attributes: proof that the client really
 * compressed (librdkafka silently sends uncompressed to a broker it thinks can't decompress). */
static void stored_codecs(const char *topic, int part, int codec, int *batches, int *with_codec)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s-%d/00000000000000000000.log", data_dir, topic, part);
    *batches = *with_codec = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    unsigned char hdr[23];
    long pos = 0;
    while (fseek(f, pos, SEEK_SET) == 0 && fread(hdr, 1, sizeof(hdr), f) == sizeof(hdr)) {
        long len = (long)((uint32_t)hdr[8] << 24 | (uint32_t)hdr[9] << 16 | hdr[10] << 8 | hdr[11]);
        if (len <= 0)
            break;
        (*batches)++;
        *with_codec += (hdr[22] & 7) == codec;
        pos += 12 + len;
    }
    fclose(f);
}

static void tap(bool ok, const char *name)
{
    printf("%s %d - %s\n", ok ? "ok" : "not ok", ++tap_n, name);
    fflush(stdout);
    if (!ok)
        tap_failed++;
}

#define EXPECT(c)                                                                                  \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "  %s:%d: %s failed\n", __FILE__, __LINE__, #c);                       \
            ok = false;                                                                            \
        }                                                                                          \
    } while (0)

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "conf %s=%s: %s\n", k, v, err);
        exit(1);
    }
}

/* kv: NULL-terminated key, value pairs. */
static rd_kafka_t *client(rd_kafka_type_t type, const char *const *kv, rd_kafka_conf_t *c)
{
    if (!c)
        c = rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", bootstrap);
    conf_set(c, "log_level", "3");
    for (size_t i = 0; kv && kv[i]; i += 2)
        conf_set(c, kv[i], kv[i + 1]);
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        exit(1);
    }
    return rk;
}

/* ---- admin helpers
 * ------------------------------------------------------------------------------- */

static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type)
{
    for (;;) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
        if (!ev)
            return NULL;
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
}

/* Creates a topic; configs: NULL-terminated name, value pairs. Returns the topic's error. */
static rd_kafka_resp_err_t create_topic(rd_kafka_t *rk, const char *name, int parts, int rf,
                                        const char *const *configs, char *msg, size_t msg_len)
{
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, parts, rf, err, sizeof(err));
    if (!nt) {
        snprintf(msg, msg_len, "%s", err);
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    for (size_t i = 0; configs && configs[i]; i += 2)
        rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **r =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rc = rd_kafka_event_error(ev);
        if (!rc && n == 1) {
            rc = rd_kafka_topic_result_error(r[0]);
            if (msg)
                snprintf(msg, msg_len, "%s",
                         rd_kafka_topic_result_error_string(r[0])
                             ? rd_kafka_topic_result_error_string(r[0])
                             : "");
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static int partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == 0)
            n = md->topics[0].partition_cnt;
        else if (md->topic_cnt == 1)
            n = -md->topics[0].err;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

/* ---- producing and consuming
 * ---------------------------------------------------------------------- */

typedef struct {
    int32_t partition;
    int64_t offset;
    int err;
} dr_t;

static dr_t *g_drs;
static int g_dr_count, g_dr_errors;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    g_dr_count++;
    intptr_t i = (intptr_t)m->_private;
    if (m->err) {
        g_dr_errors++;
        if (g_drs && i >= 0)
            g_drs[i].err = m->err;
        return;
    }
    if (g_drs && i >= 0) {
        g_drs[i].partition = m->partition;
        g_drs[i].offset = m->offset;
    }
}

static rd_kafka_t *producer(const char *const *kv)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(c, on_dr);
    return client(RD_KAFKA_PRODUCER, kv, c);
}

static void drain(rd_kafka_t *p)
{
    rd_kafka_flush(p, 30000);
    rd_kafka_poll(p, 0);
}

/* A consumer assigned to partitions [0, nparts) of topic from the beginning (no group). */
static rd_kafka_t *consumer(const char *topic, int nparts, const char *const *kv)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    conf_set(c, "group.id", "weir-test-nogroup");
    conf_set(c, "enable.auto.commit", "false");
    conf_set(c, "enable.auto.offset.store", "false");
    conf_set(c, "enable.partition.eof", "false");
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, kv, c);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

static void consumer_close(rd_kafka_t *rk)
{
    rd_kafka_assign(rk, NULL);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* ---- tests
 * --------------------------------------------------------------------------------------- */

#define KEYED_N    100000
#define KEYED_KEYS 1000

static void test_keyed_100k(void)
{
    bool ok = true;
    rd_kafka_t *p = producer((const char *const[]){"acks", "all", "linger.ms", "5", NULL});
    char msg[256];
    EXPECT(create_topic(p, "keyed", 6, 1, NULL, msg, sizeof(msg)) == 0);
    g_drs = calloc(KEYED_N, sizeof(*g_drs));
    g_dr_count = g_dr_errors = 0;
    for (int i = 0; i < KEYED_N; i++) {
        char k[16], v[32];
        snprintf(k, sizeof(k), "k%d", i % KEYED_KEYS);
        snprintf(v, sizeof(v), "value-%d", i);
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC("keyed"), RD_KAFKA_V_KEY(k, strlen(k)),
                                      RD_KAFKA_V_VALUE(v, strlen(v)),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 10);
        EXPECT(e == 0);
        rd_kafka_poll(p, 0);
    }
    drain(p);
    EXPECT(g_dr_count == KEYED_N);
    EXPECT(g_dr_errors == 0);
    rd_kafka_destroy(p);

    /* Read everything back: exact bytes, the acknowledged offsets, per-key order. */
    int *last_i = calloc(KEYED_KEYS, sizeof(int));
    for (int k = 0; k < KEYED_KEYS; k++)
        last_i[k] = -1;
    int32_t *key_part = calloc(KEYED_KEYS, sizeof(int32_t));
    for (int k = 0; k < KEYED_KEYS; k++)
        key_part[k] = -1;
    char *seen = calloc(KEYED_N, 1);
    rd_kafka_t *c = consumer("keyed", 6, NULL);
    int got = 0, bad = 0;
    int64_t deadline = now_ms() + 60000;
    while (got < KEYED_N && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
        if (!m)
            continue;
        if (m->err) {
            fprintf(stderr, "  consume error: %s\n", rd_kafka_message_errstr(m));
            bad++;
            rd_kafka_message_destroy(m);
            continue;
        }
        int i = -1, k = -1;
        char buf[64];
        snprintf(buf, sizeof(buf), "%.*s", (int)m->len, (const char *)m->payload);
        if (sscanf(buf, "value-%d", &i) != 1 || i < 0 || i >= KEYED_N) {
            bad++;
        } else {
            char kb[32];
            snprintf(kb, sizeof(kb), "%.*s", (int)m->key_len, (const char *)m->key);
            k = i % KEYED_KEYS;
            char want_k[16];
            snprintf(want_k, sizeof(want_k), "k%d", k);
            if (strcmp(kb, want_k) != 0 || seen[i] || g_drs[i].partition != m->partition ||
                g_drs[i].offset != m->offset || i <= last_i[k] ||
                (key_part[k] >= 0 && key_part[k] != m->partition))
                bad++;
            seen[i] = 1;
            last_i[k] = i;
            key_part[k] = m->partition;
        }
        got++;
        rd_kafka_message_destroy(m);
    }
    consumer_close(c);
    EXPECT(got == KEYED_N);
    EXPECT(bad == 0);
    int parts_used = 0;
    for (int part = 0; part < 6; part++) {
        bool used = false;
        for (int k = 0; k < KEYED_KEYS; k++)
            used |= key_part[k] == part;
        parts_used += used;
    }
    EXPECT(parts_used == 6);
    if (!ok)
        fprintf(stderr, "  got %d bad %d parts %d\n", got, bad, parts_used);
    free(seen);
    free(last_i);
    free(key_part);
    free(g_drs);
    g_drs = NULL;
    tap(ok, "100,000 keyed messages over 6 partitions: exact content, offsets, per-key order");
}

static void test_codec(const char *codec)
{
    bool ok = true;
    char topic[64], name[128];
    snprintf(topic, sizeof(topic), "codec-%s", codec);
    const int n = 3000;
    const int64_t ts0 = 1600000000000LL;
    rd_kafka_t *p = producer(
        (const char *const[]){"compression.codec", codec, "linger.ms", "20", "acks", "1", NULL});
    EXPECT(create_topic(p, topic, 2, 1, NULL, NULL, 0) == 0);
    g_dr_count = g_dr_errors = 0;
    for (int i = 0; i < n; i++) {
        char v[128], h[32];
        snprintf(v, sizeof(v), "%s payload %d %s", codec, i,
                 "padding padding padding padding padding padding");
        snprintf(h, sizeof(h), "hv%d", i);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % 2), RD_KAFKA_V_VALUE(v, strlen(v)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts0 + i),
            RD_KAFKA_V_HEADER("h1", h, -1), RD_KAFKA_V_HEADER("h2", NULL, 0),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1), RD_KAFKA_V_END);
        EXPECT(e == 0);
    }
    drain(p);
    EXPECT(g_dr_count == n && g_dr_errors == 0);
    rd_kafka_destroy(p);
    static const char *const codec_names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    int codec_id = 0;
    for (int k = 0; k < 5; k++)
        if (strcmp(codec, codec_names[k]) == 0)
            codec_id = k;
    int batches, with_codec;
    stored_codecs(topic, 0, codec_id, &batches, &with_codec);
    EXPECT(batches > 0 && with_codec == batches);
    if (batches == 0 || with_codec != batches)
        fprintf(stderr, "  %s: %d of %d stored batches use the codec\n", codec, with_codec,
                batches);

    rd_kafka_t *c = consumer(topic, 2, NULL);
    int got = 0, bad = 0, next[2] = {0, 1};
    int64_t deadline = now_ms() + 30000;
    while (got < n && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
        if (!m)
            continue;
        if (m->err) {
            bad++;
            rd_kafka_message_destroy(m);
            continue;
        }
        int i = next[m->partition];
        next[m->partition] += 2;
        char v[128];
        snprintf(v, sizeof(v), "%s payload %d %s", codec, i,
                 "padding padding padding padding padding padding");
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        rd_kafka_headers_t *hdrs = NULL;
        const void *hv = NULL;
        size_t hl = 0;
        char want_h[32];
        snprintf(want_h, sizeof(want_h), "hv%d", i);
        bool hok = rd_kafka_message_headers(m, &hdrs) == 0 && rd_kafka_header_cnt(hdrs) == 2 &&
                   rd_kafka_header_get_last(hdrs, "h1", &hv, &hl) == 0 && hl == strlen(want_h) &&
                   memcmp(hv, want_h, hl) == 0 &&
                   rd_kafka_header_get_last(hdrs, "h2", &hv, &hl) == 0 && hv == NULL;
        if (m->len != strlen(v) || memcmp(m->payload, v, m->len) != 0 || m->offset != i / 2 ||
            ts != ts0 + i || tt != RD_KAFKA_TIMESTAMP_CREATE_TIME || !hok)
            bad++;
        got++;
        rd_kafka_message_destroy(m);
    }
    consumer_close(c);
    EXPECT(got == n && bad == 0);
    if (!ok)
        fprintf(stderr, "  %s: got %d bad %d\n", codec, got, bad);
    snprintf(name, sizeof(name), "compression %s: values, headers, timestamps, offsets", codec);
    tap(ok, name);
}

static void test_offsets_for_times(void)
{
    bool ok = true;
    const int64_t ts0 = 1700000000000LL;
    rd_kafka_t *p = producer((const char *const[]){"linger.ms", "50", NULL});
    EXPECT(create_topic(p, "times", 1, 1, NULL, NULL, 0) == 0);
    g_dr_count = g_dr_errors = 0;
    for (int i = 0; i < 100; i++) /* one batch: the lookup must go inside it */
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC("times"), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_TIMESTAMP(ts0 + i * 1000),
                          RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1), RD_KAFKA_V_END);
    drain(p);
    for (int i = 0; i < 100; i++) /* a second batch, later */
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC("times"), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE("y", 1), RD_KAFKA_V_TIMESTAMP(ts0 + 200000 + i * 1000),
                          RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1), RD_KAFKA_V_END);
    drain(p);
    EXPECT(g_dr_count == 200 && g_dr_errors == 0);
    struct {
        int64_t ts, want;
    } cases[] = {{0, 0},
                 {ts0, 0},
                 {ts0 + 50500, 51},
                 {ts0 + 99000, 99},
                 {ts0 + 99001, 100},
                 {ts0 + 250000, 150},
                 {ts0 + 299000, 199},
                 {ts0 + 299001, -1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, "times", 0)->offset = cases[i].ts;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(p, l, 5000);
        int64_t got = l->elems[0].offset;
        if (e || l->elems[0].err || got != cases[i].want) {
            fprintf(stderr, "  offsetsForTimes(%lld): %lld (err %d/%d), want %lld\n",
                    (long long)cases[i].ts, (long long)got, e, l->elems[0].err,
                    (long long)cases[i].want);
            ok = false;
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    int64_t lo = -5, hi = -5;
    EXPECT(rd_kafka_query_watermark_offsets(p, "times", 0, &lo, &hi, 5000) == 0);
    EXPECT(lo == 0 && hi == 200);
    rd_kafka_destroy(p);
    tap(ok, "offsetsForTimes finds the exact record inside a batch; watermarks");
}

static void test_log_append_time(void)
{
    bool ok = true;
    rd_kafka_t *p = producer(NULL);
    EXPECT(create_topic(p, "lat", 1, 1,
                        (const char *const[]){"message.timestamp.type", "LogAppendTime", NULL},
                        NULL, 0) == 0);
    int64_t before = now_ms();
    g_dr_count = g_dr_errors = 0;
    for (int i = 0; i < 10; i++)
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC("lat"), RD_KAFKA_V_VALUE("old", 3),
                          RD_KAFKA_V_TIMESTAMP(1000), RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1),
                          RD_KAFKA_V_END);
    drain(p);
    int64_t after = now_ms();
    EXPECT(g_dr_count == 10 && g_dr_errors == 0);
    rd_kafka_destroy(p);
    rd_kafka_t *c = consumer("lat", 1, (const char *const[]){"check.crcs", "true", NULL});
    int got = 0, bad = 0;
    int64_t deadline = now_ms() + 20000;
    while (got < 10 && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
        if (!m)
            continue;
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        if (m->err || tt != RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME || ts < before || ts > after)
            bad++;
        got++;
        rd_kafka_message_destroy(m);
    }
    consumer_close(c);
    EXPECT(got == 10 && bad == 0);
    tap(ok, "LogAppendTime topic: broker clock, timestamp type, CRC valid (check.crcs)");
}

static void test_message_too_large(void)
{
    bool ok = true;
    rd_kafka_t *p = producer((const char *const[]){"acks", "all", NULL});
    EXPECT(create_topic(p, "small", 1, 1, (const char *const[]){"max.message.bytes", "2000", NULL},
                        NULL, 0) == 0);
    char big[5000];
    memset(big, 'b', sizeof(big));
    g_dr_count = g_dr_errors = 0;
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("small"), RD_KAFKA_V_VALUE(big, sizeof(big)),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1), RD_KAFKA_V_END);
    drain(p);
    EXPECT(g_dr_count == 1 && g_dr_errors == 1);
    g_dr_count = g_dr_errors = 0;
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("small"), RD_KAFKA_V_VALUE(big, 100),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1), RD_KAFKA_V_END);
    drain(p);
    EXPECT(g_dr_count == 1 && g_dr_errors == 0);
    int64_t lo, hi;
    EXPECT(rd_kafka_query_watermark_offsets(p, "small", 0, &lo, &hi, 5000) == 0 && hi == 1);
    rd_kafka_destroy(p);
    tap(ok, "max.message.bytes: a bigger batch is refused, nothing appended");
}

/* ---- admin
 * ------------------------------------------------------------------------------------------ */

static const char *describe_one(rd_kafka_t *rk, const char *topic, const char *key, char *out,
                                size_t out_len, int *source)
{
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &cr, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT);
    const char *ret = NULL;
    if (ev && !rd_kafka_event_error(ev)) {
        size_t n;
        const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &n);
        if (n == 1 && rd_kafka_ConfigResource_error(rs[0]) == 0) {
            size_t ne;
            const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(rs[0], &ne);
            for (size_t i = 0; i < ne; i++) {
                if (strcmp(rd_kafka_ConfigEntry_name(es[i]), key) == 0) {
                    snprintf(out, out_len, "%s",
                             rd_kafka_ConfigEntry_value(es[i]) ? rd_kafka_ConfigEntry_value(es[i])
                                                               : "(null)");
                    *source = rd_kafka_ConfigEntry_source(es[i]);
                    ret = out;
                }
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(cr);
    return ret;
}

static rd_kafka_resp_err_t alter_one(rd_kafka_t *rk, const char *topic, const char *key,
                                     const char *value)
{
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_ConfigResource_set_config(cr, key, value);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AlterConfigs(rk, &cr, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT);
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (ev) {
        rc = rd_kafka_event_error(ev);
        size_t n;
        const rd_kafka_ConfigResource_t **rs =
            rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
        if (!rc && n == 1)
            rc = rd_kafka_ConfigResource_error(rs[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(cr);
    return rc;
}

static rd_kafka_resp_err_t add_partitions(rd_kafka_t *rk, const char *topic, int count)
{
    char err[256];
    rd_kafka_NewPartitions_t *np =
        rd_kafka_NewPartitions_new(topic, (size_t)count, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreatePartitions(rk, &np, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT);
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **r =
            rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
        rc = rd_kafka_event_error(ev);
        if (!rc && n == 1)
            rc = rd_kafka_topic_result_error(r[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewPartitions_destroy(np);
    return rc;
}

static rd_kafka_resp_err_t delete_topic(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
    if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **r =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        rc = rd_kafka_event_error(ev);
        if (!rc && n == 1)
            rc = rd_kafka_topic_result_error(r[0]);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    return rc;
}

static void test_admin(void)
{
    bool ok = true;
    rd_kafka_t *rk = producer(NULL);
    char msg[256], val[64];
    int src = -1;
    EXPECT(create_topic(rk, "adm", 2, 1, (const char *const[]){"retention.ms", "123456", NULL}, msg,
                        sizeof(msg)) == 0);
    EXPECT(partition_count(rk, "adm") == 2);
    EXPECT(describe_one(rk, "adm", "retention.ms", val, sizeof(val), &src) &&
           strcmp(val, "123456") == 0 && src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG);
    EXPECT(describe_one(rk, "adm", "segment.bytes", val, sizeof(val), &src) &&
           strcmp(val, "1073741824") == 0 && src == RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG);
    EXPECT(alter_one(rk, "adm", "cleanup.policy", "compact") == 0);
    EXPECT(describe_one(rk, "adm", "cleanup.policy", val, sizeof(val), &src) &&
           strcmp(val, "compact") == 0);
    /* AlterConfigs replaces the whole set: retention.ms is back to the default */
    EXPECT(describe_one(rk, "adm", "retention.ms", val, sizeof(val), &src) &&
           strcmp(val, "604800000") == 0);
    EXPECT(alter_one(rk, "adm", "no.such.config", "1") == RD_KAFKA_RESP_ERR_INVALID_CONFIG);
    EXPECT(alter_one(rk, "adm", "retention.ms", "soon") == RD_KAFKA_RESP_ERR_INVALID_CONFIG);
    EXPECT(add_partitions(rk, "adm", 5) == 0);
    EXPECT(partition_count(rk, "adm") == 5);
    EXPECT(add_partitions(rk, "adm", 3) == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS);
    EXPECT(create_topic(rk, "adm", 1, 1, NULL, msg, sizeof(msg)) ==
           RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);
    EXPECT(create_topic(rk, "bad/name", 1, 1, NULL, msg, sizeof(msg)) ==
           RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION);
    EXPECT(create_topic(rk, "..", 1, 1, NULL, msg, sizeof(msg)) ==
           RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION);
    EXPECT(create_topic(rk, "rf3", 1, 3, NULL, msg, sizeof(msg)) ==
           RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR);
    EXPECT(create_topic(rk, "badcfg", 1, 1, (const char *const[]){"retention.ms", "x", NULL}, msg,
                        sizeof(msg)) == RD_KAFKA_RESP_ERR_INVALID_CONFIG);
    EXPECT(partition_count(rk, "badcfg") == -RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
           partition_count(rk, "badcfg") > 0); /* auto-create may make it; not an error */
    EXPECT(delete_topic(rk, "adm") == 0);
    EXPECT(delete_topic(rk, "adm") == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    rd_kafka_destroy(rk);
    tap(ok, "admin: create with configs, describe, alter, add partitions, delete, and errors");
}

/* A consumer waits at the end of an empty topic with fetch.wait.max.ms=10s; an append must
 * answer its fetch at once, not at the timeout. */
static void test_long_poll_wakeup(void)
{
    bool ok = true;
    rd_kafka_t *p = producer((const char *const[]){"linger.ms", "0", NULL});
    EXPECT(create_topic(p, "poll", 1, 1, NULL, NULL, 0) == 0);
    rd_kafka_t *c = consumer("poll", 1, (const char *const[]){"fetch.wait.max.ms", "10000", NULL});
    /* Warm both clients up (metadata, connections), then let the consumer park a fetch. */
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("poll"), RD_KAFKA_V_VALUE("warm", 4),
                      RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1), RD_KAFKA_V_END);
    rd_kafka_flush(p, 5000);
    bool warm = false;
    for (int i = 0; i < 100 && !warm; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m) {
            warm = !m->err;
            rd_kafka_message_destroy(m);
        }
    }
    EXPECT(warm);
    for (int i = 0; i < 10; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
        if (m)
            rd_kafka_message_destroy(m);
    }
    int64_t t0 = now_ms();
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("poll"), RD_KAFKA_V_VALUE("wake!", 5),
                      RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1), RD_KAFKA_V_END);
    rd_kafka_flush(p, 5000);
    int64_t got_at = -1;
    while (now_ms() - t0 < 15000) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
        if (!m)
            continue;
        bool hit = !m->err && m->len == 5;
        rd_kafka_message_destroy(m);
        if (hit) {
            got_at = now_ms();
            break;
        }
    }
    consumer_close(c);
    rd_kafka_destroy(p);
    EXPECT(got_at > 0 && got_at - t0 < 500);
    fprintf(stderr, "  long poll delivered after %lld ms\n", (long long)(got_at - t0));
    tap(ok, "long-poll fetch is woken by the append, not by max_wait_ms");
}

static void test_acks0(void)
{
    bool ok = true;
    rd_kafka_t *p = producer((const char *const[]){"acks", "0", NULL});
    EXPECT(create_topic(p, "acks0", 1, 1, NULL, NULL, 0) == 0);
    g_dr_count = g_dr_errors = 0;
    for (int i = 0; i < 500; i++)
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC("acks0"), RD_KAFKA_V_VALUE("z", 1),
                          RD_KAFKA_V_OPAQUE((void *)(intptr_t)-1), RD_KAFKA_V_END);
    drain(p);
    EXPECT(g_dr_count == 500 && g_dr_errors == 0);
    int64_t lo, hi = 0;
    for (int i = 0; i < 50 && hi < 500; i++) {
        rd_kafka_query_watermark_offsets(p, "acks0", 0, &lo, &hi, 5000);
        usleep(20000);
    }
    EXPECT(hi == 500);
    rd_kafka_destroy(p);
    tap(ok, "acks=0: no responses, every message appended");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char dir[] = "/tmp/weir-test-rdk-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    weir_broker_config cfg;
    weir_broker_config_init(&cfg);
    cfg.data_dir = dir;
    snprintf(data_dir, sizeof(data_dir), "%s", dir);
    cfg.listen = "127.0.0.1:0";
    cfg.http_listen = NULL;
    const char *settings[] = {"num.partitions=1", NULL};
    cfg.settings = settings;
    weir_broker *b;
    int rc = weir_broker_start(&cfg, &b);
    if (rc < 0) {
        printf("not ok 1 - broker start: %s\n", weir_broker_strerror(rc));
        return 1;
    }
    snprintf(bootstrap, sizeof(bootstrap), "%s", weir_broker_bootstrap(b));
    test_keyed_100k();
    const char *codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    for (size_t i = 0; i < 5; i++)
        test_codec(codecs[i]);
    test_offsets_for_times();
    test_log_append_time();
    test_message_too_large();
    test_admin();
    test_long_poll_wakeup();
    test_acks0();
    weir_broker_stop(b);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}
