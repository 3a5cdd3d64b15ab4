/*
 * Helpers shared by the SDK's integration tests (tests/integration/test_sdk_*.c): an embedded
 * broker, a plain librdkafka producer and reader to set up and inspect topics from outside the
 * app, committed offsets as the group coordinator has them, running an app on a thread, and the
 * main that runs a program's cases against one broker (it_main).
 * Header-only (static functions) so each test stays one program.
 */
#ifndef WEIR_TEST_SDK_UTIL_H
#define WEIR_TEST_SDK_UTIL_H

#include "../unit/test.h"
#include "weir/weir.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#define IT_FN static __attribute__((unused))

static weir_test_broker *it_broker;
static const char *it_bootstrap;

IT_FN int64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

IT_FN void it_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

IT_FN void it_quiet_log(int level, const char *msg, void *user)
{
    (void)user;
    if (level >= WEIR_LOG_WARN || getenv("WEIR_TEST_VERBOSE"))
        fprintf(stderr, "  [sdk %d] %s\n", level, msg);
}

/* Fast group settings when the broker has them; the plain defaults otherwise. */
IT_FN void it_broker_start(void)
{
    const char *fast[] = {"group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=1000",
                          NULL};
    if (weir_test_broker_start(fast, &it_broker) != 0) {
        int r = weir_test_broker_start(NULL, &it_broker);
        if (r != 0) {
            printf("not ok 1 - embedded broker: %s\n", weir_strerror(r));
            exit(1);
        }
    }
    it_bootstrap = weir_test_broker_bootstrap(it_broker);
}

IT_FN void it_broker_stop(void)
{
    weir_test_broker_stop(it_broker);
    it_broker = NULL;
}

IT_FN void it_rk_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (getenv("WEIR_TEST_VERBOSE"))
        fprintf(stderr, "  [rdkafka %d %s] %s\n", level, fac, buf);
}

IT_FN rd_kafka_t *it_client(rd_kafka_type_t type, const char *group)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", it_bootstrap, err, sizeof(err));
    rd_kafka_conf_set_log_cb(c, it_rk_log);
    if (group) {
        rd_kafka_conf_set(c, "group.id", group, err, sizeof(err));
        rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err));
    }
    if (type == RD_KAFKA_PRODUCER)
        rd_kafka_conf_set(c, "linger.ms", "0", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        exit(1);
    }
    return rk;
}

/* Creates topic with its configs (NULL-terminated name, value pairs; NULL: none); an existing
 * topic counts as created. */
IT_FN int it_create_topic_with(const char *topic, int partitions, const char *const *configs)
{
    rd_kafka_t *rk = it_client(RD_KAFKA_PRODUCER, NULL);
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof(err));
    for (size_t i = 0; configs && configs[i]; i += 2)
        rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    int r = -1;
    if (ev && !rd_kafka_event_error(ev)) {
        size_t n;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        r = n == 1 && (rd_kafka_topic_result_error(tr[0]) == 0 ||
                       rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                ? 0
                : -1;
        if (r)
            fprintf(stderr, "  create %s: %s\n", topic,
                    n ? rd_kafka_err2str(rd_kafka_topic_result_error(tr[0])) : "no result");
    } else {
        fprintf(stderr, "  create %s: %s\n", topic,
                ev ? rd_kafka_event_error_string(ev) : "timeout");
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return r;
}

IT_FN int it_create_topic(const char *topic, int partitions)
{
    return it_create_topic_with(topic, partitions, NULL);
}

/* Produces one CloudEvent (ce_id, type) with an optional traceparent to topic/partition and
 * waits for the acknowledgement. */
typedef struct {
    const char *topic;
    int32_t partition;
    const char *key;
    const char *value;
    const char *id;
    const char *type;
    const char *traceparent;
} it_event_t;

static rd_kafka_t *it_producer;

IT_FN void it_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err)
        fprintf(stderr, "  delivery: %s\n", rd_kafka_err2str(m->err));
}

IT_FN int it_produce(const it_event_t *e)
{
    if (!it_producer) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", it_bootstrap, err, sizeof(err));
        rd_kafka_conf_set(c, "linger.ms", "0", err, sizeof(err));
        rd_kafka_conf_set_log_cb(c, it_rk_log);
        rd_kafka_conf_set_dr_msg_cb(c, it_dr);
        it_producer = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
    if (e->id)
        rd_kafka_header_add(h, "ce_id", -1, e->id, -1);
    rd_kafka_header_add(h, "ce_type", -1, e->type ? e->type : "TestEvent", -1);
    rd_kafka_header_add(h, "ce_source", -1, "/tests", -1);
    rd_kafka_header_add(h, "content-type", -1, "application/json", -1);
    if (e->traceparent)
        rd_kafka_header_add(h, "traceparent", -1, e->traceparent, -1);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        it_producer, RD_KAFKA_V_TOPIC(e->topic), RD_KAFKA_V_PARTITION(e->partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(e->key, e->key ? strlen(e->key) : 0),
        RD_KAFKA_V_VALUE((void *)e->value, e->value ? strlen(e->value) : 0), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h);
        return -1;
    }
    return rd_kafka_flush(it_producer, 10000) == 0 ? 0 : -1;
}

IT_FN void it_producer_close(void)
{
    if (it_producer) {
        rd_kafka_flush(it_producer, 5000);
        rd_kafka_destroy(it_producer);
        it_producer = NULL;
    }
}

/* The group's committed offset for topic/partition; -1001 (INVALID) if none. */
IT_FN int64_t it_committed(const char *group, const char *topic, int32_t partition)
{
    rd_kafka_t *rk = it_client(RD_KAFKA_CONSUMER, group);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    int64_t off = -2;
    if (rd_kafka_committed(rk, l, 10000) == 0)
        off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

/* Every record of topic/partition from offset 0 up to the high watermark (at most max). */
typedef struct {
    int64_t offset;
    int64_t timestamp;
    char *key;
    char *value;
    rd_kafka_headers_t *headers;
} it_record_t;

IT_FN const char *it_hdr(const it_record_t *r, const char *name)
{
    static char buf[4][512];
    static int slot;
    const void *v;
    size_t n;
    if (!r->headers || rd_kafka_header_get_last(r->headers, name, &v, &n) != 0 || !v)
        return NULL;
    char *b = buf[slot++ % 4];
    snprintf(b, 512, "%.*s", (int)n, (const char *)v);
    return b;
}

IT_FN size_t it_read(const char *topic, int32_t partition, it_record_t *out, size_t max,
                     int timeout_ms)
{
    /* assign() wants a group id; this reader never joins or commits. */
    rd_kafka_t *rk = it_client(RD_KAFKA_CONSUMER, "it-reader");
    int64_t lo = 0, hi = 0;
    int64_t deadline = it_now_ms() + timeout_ms;
    size_t n = 0;
    rd_kafka_resp_err_t werr =
        rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, 5000);
    if (getenv("WEIR_TEST_VERBOSE"))
        fprintf(stderr, "  %s [%d]: watermarks %lld..%lld (%s)\n", topic, partition, (long long)lo,
                (long long)hi, rd_kafka_err2str(werr));
    if (werr != 0 || hi == 0) {
        rd_kafka_destroy(rk);
        return 0;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = lo;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (n < max && it_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            it_record_t *r = &out[n++];
            memset(r, 0, sizeof(*r));
            r->offset = m->offset;
            r->timestamp = rd_kafka_message_timestamp(m, NULL);
            if (m->key) {
                r->key = malloc(m->key_len + 1);
                memcpy(r->key, m->key, m->key_len);
                r->key[m->key_len] = 0;
            }
            if (m->payload) {
                r->value = malloc(m->len + 1);
                memcpy(r->value, m->payload, m->len);
                r->value[m->len] = 0;
            }
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) == 0 && h)
                r->headers = rd_kafka_headers_copy(h);
            if (m->offset + 1 >= hi) {
                rd_kafka_message_destroy(m);
                break;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

IT_FN void it_records_free(it_record_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].key);
        free(r[i].value);
        if (r[i].headers)
            rd_kafka_headers_destroy(r[i].headers);
    }
}

/* An app configured for tests: fast commits, short sessions, quiet logs. */
IT_FN weir_app *it_app(const char *group, const char *db_path, int commit_interval_ms,
                       const char *const *settings)
{
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    cfg.bootstrap = it_bootstrap;
    cfg.group = group;
    cfg.db_path = db_path;
    cfg.commit_interval_ms = commit_interval_ms;
    cfg.session_timeout_ms = 6000;
    cfg.handle_signals = false;
    cfg.log = it_quiet_log;
    cfg.log_level = getenv("WEIR_TEST_VERBOSE") ? WEIR_LOG_DEBUG : WEIR_LOG_WARN;
    cfg.settings = settings;
    weir_app *app;
    char err[256];
    if (weir_app_new(&cfg, &app, err, sizeof(err)) != 0) {
        fprintf(stderr, "weir_app_new: %s\n", err);
        return NULL;
    }
    return app;
}

typedef struct {
    weir_app *app;
    pthread_t thread;
    int rc;
} it_runner_t;

IT_FN void *it_run_main(void *arg)
{
    it_runner_t *r = arg;
    r->rc = weir_app_run(r->app);
    return NULL;
}

IT_FN void it_run(it_runner_t *r, weir_app *app)
{
    r->app = app;
    r->rc = 0;
    pthread_create(&r->thread, NULL, it_run_main, r);
}

IT_FN int it_stop(it_runner_t *r)
{
    weir_app_stop(r->app);
    pthread_join(r->thread, NULL);
    return r->rc;
}

/* Polls cond(arg) every 20 ms until it holds or timeout_ms pass. */
IT_FN bool it_wait(bool (*cond)(void *), void *arg, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    while (it_now_ms() < deadline) {
        if (cond(arg))
            return true;
        it_sleep_ms(20);
    }
    return cond(arg);
}

IT_FN bool it_handled_at_least(void *arg)
{
    weir_app **pa = arg;
    weir_stats s;
    weir_app_stats(pa[0], &s);
    return s.handled + s.dead_lettered + s.deduplicated + s.unrouted >= (uint64_t)(uintptr_t)pa[1];
}

/* Waits until the app has finished n events (handled, dead-lettered, skipped). */
IT_FN bool it_wait_finished(weir_app *app, uint64_t n, int timeout_ms)
{
    void *arg[2] = {app, (void *)(uintptr_t)n};
    return it_wait(it_handled_at_least, arg, timeout_ms);
}

IT_FN bool it_ready(void *arg)
{
    return weir_app_ready(arg);
}

IT_FN bool it_wait_ready(weir_app *app, int timeout_ms)
{
    return it_wait(it_ready, app, timeout_ms);
}

/* The main of every SDK test program after stdout is set up: starts the embedded broker, runs
 * every case (or only the one named by argv[1]; a program that set it_bootstrap has started its
 * own broker, and stops it) printing a TAP line with its time, stops what it
 * started, and returns the exit code (1 when any case failed). */
IT_FN int it_main(int argc, char **argv)
{
    if (!it_bootstrap) /* else the program started a broker of its own */
        it_broker_start();
    int failed = 0, n = 0;
    for (int i = 0; i < test_count; i++) {
        if (argc > 1 && strcmp(argv[1], test_cases[i].name) != 0)
            continue;
        test_failed_now = 0;
        int64_t t0 = it_now_ms();
        test_cases[i].fn();
        n++;
        printf("%s %d - %s (%lld ms)\n", test_failed_now ? "not ok" : "ok", n, test_cases[i].name,
               (long long)(it_now_ms() - t0));
        failed += test_failed_now;
    }
    printf("1..%d\n", n);
    it_producer_close();
    it_broker_stop();
    return failed ? 1 : 0;
}

#endif
