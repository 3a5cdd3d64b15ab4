/*
 * Helpers of the streams tests (tests/integration/test_streams_*.c), on top of the SDK's
 * (test_sdk_util.h: the embedded broker, topics, reading a partition): plain records with a
 * chosen event time, a streams app on a thread, waiting until it has processed n records, and
 * a topic read back as sorted lines "key value [start,end) @ts" to compare with what the test
 * computed by hand. Header-only, like test_sdk_util.h.
 */
#ifndef WEIR_TEST_STREAMS_UTIL_H
#define WEIR_TEST_STREAMS_UTIL_H

#include "test_sdk_util.h"
#include "weir/streams.h"

#include <dirent.h>
#include <stdatomic.h>
#include <sys/stat.h>

/* A record to produce: key and value strings (NULL: null), event time ts (ms). */
typedef struct {
    const char *key;
    const char *value;
    int64_t ts;
} st_in_t;

/* The shared test producer (it_producer), partitioning keys as Java clients do (murmur2). */
IT_FN rd_kafka_t *st_producer(void)
{
    if (!it_producer) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", it_bootstrap, err, sizeof(err));
        rd_kafka_conf_set(c, "linger.ms", "0", err, sizeof(err));
        rd_kafka_conf_set(c, "partitioner", "murmur2_random", err, sizeof(err));
        rd_kafka_conf_set_log_cb(c, it_rk_log);
        rd_kafka_conf_set_dr_msg_cb(c, it_dr);
        it_producer = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    }
    return it_producer;
}

IT_FN int st_produce_to(const char *topic, int32_t partition, const st_in_t *recs, size_t n)
{
    st_producer();
    for (size_t i = 0; i < n; i++) {
        const st_in_t *r = &recs[i];
        rd_kafka_resp_err_t e =
            rd_kafka_producev(it_producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(r->key, r->key ? strlen(r->key) : 0),
                              RD_KAFKA_V_VALUE((void *)r->value, r->value ? strlen(r->value) : 0),
                              RD_KAFKA_V_TIMESTAMP(r->ts), RD_KAFKA_V_END);
        if (e)
            return -1;
        /* One at a time keeps the order across partitions as written. */
        if (rd_kafka_flush(it_producer, 10000) != 0)
            return -1;
    }
    return 0;
}

/* A fresh empty directory under /tmp for an instance's state. */
IT_FN char *st_tmpdir(const char *name)
{
    char *d = malloc(256);
    snprintf(d, 256, "/tmp/weir-st-%s-XXXXXX", name);
    if (!mkdtemp(d)) {
        free(d);
        return NULL;
    }
    return d;
}

IT_FN void st_rmdir(char *d)
{
    if (!d)
        return;
    DIR *dir = opendir(d);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
        unlink(p);
    }
    if (dir)
        closedir(dir);
    rmdir(d);
    free(d);
}

IT_FN weir_streams *st_app(const char *app_id, const char *state_dir, weir_guarantee g)
{
    weir_streams_config cfg;
    weir_streams_config_init(&cfg);
    cfg.bootstrap = it_bootstrap;
    cfg.application_id = app_id;
    cfg.state_dir = state_dir;
    cfg.guarantee = g;
    cfg.session_timeout_ms = 6000;
    cfg.handle_signals = false;
    cfg.log = it_quiet_log;
    cfg.log_level = getenv("WEIR_TEST_VERBOSE") ? WEIR_LOG_DEBUG : WEIR_LOG_WARN;
    weir_streams *s;
    char err[256];
    if (weir_streams_new(&cfg, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "weir_streams_new: %s\n", err);
        return NULL;
    }
    return s;
}

typedef struct {
    weir_streams *s;
    pthread_t thread;
    int rc;
    atomic_bool done;
} st_runner_t;

IT_FN void *st_run_main(void *arg)
{
    st_runner_t *r = arg;
    r->rc = weir_streams_run(r->s);
    if (r->rc)
        fprintf(stderr, "  weir_streams_run: %d: %s\n", r->rc, weir_streams_errmsg(r->s));
    atomic_store(&r->done, true);
    return NULL;
}

IT_FN void st_run(st_runner_t *r, weir_streams *s)
{
    r->s = s;
    r->rc = 0;
    atomic_store(&r->done, false);
    pthread_create(&r->thread, NULL, st_run_main, r);
}

IT_FN int st_stop(st_runner_t *r)
{
    weir_streams_stop(r->s);
    pthread_join(r->thread, NULL);
    return r->rc;
}

IT_FN bool st_ready(void *arg)
{
    return weir_streams_ready(arg);
}

IT_FN bool st_processed_at_least(void *arg)
{
    void **a = arg;
    weir_streams_counters c;
    weir_streams_stats(a[0], &c);
    return c.processed >= (uint64_t)(uintptr_t)a[1];
}

/* Waits until the app has processed n input records (repartition topics count too). */
IT_FN bool st_wait_processed(weir_streams *s, uint64_t n, int timeout_ms)
{
    void *arg[2] = {s, (void *)(uintptr_t)n};
    bool ok = it_wait(st_processed_at_least, arg, timeout_ms);
    if (!ok) {
        weir_streams_counters c;
        weir_streams_stats(s, &c);
        fprintf(stderr, "  processed %llu of %llu\n", (unsigned long long)c.processed,
                (unsigned long long)n);
    }
    return ok;
}

/* Every record of topic/partition (read committed), up to max: like it_read, but it stops at
 * the partition's end as the consumer sees it, so a last transaction marker does not keep it
 * waiting. */
IT_FN size_t st_read_partition(const char *topic, int32_t partition, it_record_t *out, size_t max)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", it_bootstrap, err, sizeof(err));
    rd_kafka_conf_set(c, "group.id", "st-reader", err, sizeof(err));
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof(err));
    rd_kafka_conf_set(c, "isolation.level", "read_committed", err, sizeof(err));
    /* A fetch at the end (an empty partition) answered at once, not after the default 500 ms. */
    rd_kafka_conf_set(c, "fetch.wait.max.ms", "10", err, sizeof(err));
    rd_kafka_conf_set_log_cb(c, it_rk_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    rd_kafka_poll_set_consumer(rk);
    /* The leader known before the assignment: librdkafka would otherwise retry the offset
     * lookup of a partition without a known leader 500 ms later. */
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t n = 0;
    int64_t deadline = it_now_ms() + 20000;
    while (n < max && it_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (!m->err) {
            it_record_t *r = &out[n++];
            memset(r, 0, sizeof(*r));
            r->offset = m->offset;
            r->timestamp = rd_kafka_message_timestamp(m, NULL);
            r->key = m->key ? strndup(m->key, m->key_len) : NULL;
            r->value = m->payload ? strndup(m->payload, m->len) : NULL;
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) == 0 && h)
                r->headers = rd_kafka_headers_copy(h);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* Every record of a topic's partitions as lines "key value [start,end) @ts" (window part only
 * when the record has the window headers; "-" for null), in partition then offset order,
 * joined by '\n'. The caller frees it. */
IT_FN char *st_read_topic(const char *topic, int partitions, bool sorted)
{
    size_t cap = 1 << 16, n = 0;
    char **lines = malloc(sizeof(char *) * 100000);
    size_t nl = 0;
    for (int p = 0; p < partitions; p++) {
        it_record_t *recs = calloc(100000, sizeof(*recs));
        size_t got = st_read_partition(topic, p, recs, 100000);
        if (getenv("WEIR_TEST_VERBOSE"))
            fprintf(stderr, "  %s [%d]: %zu records\n", topic, p, got);
        for (size_t i = 0; i < got && nl < 100000; i++) {
            char line[1024];
            const char *ws = it_hdr(&recs[i], "weir.window.start");
            char win[96] = "";
            if (ws)
                snprintf(win, sizeof(win), " [%s,%s)", ws, it_hdr(&recs[i], "weir.window.end"));
            snprintf(line, sizeof(line), "%s %s%s @%lld", recs[i].key ? recs[i].key : "-",
                     recs[i].value ? recs[i].value : "-", win, (long long)recs[i].timestamp);
            lines[nl++] = strdup(line);
        }
        it_records_free(recs, got);
        free(recs);
    }
    if (sorted) {
        for (size_t i = 1; i < nl; i++)
            for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
                char *t = lines[j];
                lines[j] = lines[j - 1];
                lines[j - 1] = t;
            }
    }
    char *out = malloc(cap);
    out[0] = '\0';
    for (size_t i = 0; i < nl; i++) {
        size_t l = strlen(lines[i]);
        if (n + l + 2 > cap) {
            cap = (n + l + 2) * 2;
            out = realloc(out, cap);
        }
        memcpy(out + n, lines[i], l);
        n += l;
        out[n++] = '\n';
        out[n] = '\0';
        free(lines[i]);
    }
    free(lines);
    return out;
}

/* Compares a topic's content with the expected lines (each ending in '\n'). */
#define CHECK_TOPIC(topic, parts, sorted, expected)                                                \
    do {                                                                                           \
        char *got_ = st_read_topic(topic, parts, sorted);                                          \
        if (strcmp(got_, expected) != 0) {                                                         \
            fprintf(stderr, "  %s:%d: topic %s:\n--- expected\n%s--- got\n%s---\n", __FILE__,      \
                    __LINE__, topic, expected, got_);                                              \
            test_failed_now = 1;                                                                   \
        }                                                                                          \
        free(got_);                                                                                \
    } while (0)

#endif
