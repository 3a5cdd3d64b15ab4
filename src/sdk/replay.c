/*
 * The replay test harness: a file written by `weir topic export` (one JSON record a line) is
 * produced into a topic, a service handles it, and what the service emitted is compared with a
 * golden file. The golden form of a record leaves out what differs from run to run (offset,
 * timestamp, the headers the caller names, e.g. ce_id, ce_time, traceparent, and the order of
 * records: the golden file's lines are sorted).
 *
 * Invariant: weir_replay_file writes nothing unless every line of the file is valid (all lines
 * are decoded before the first record is produced).
 */
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { REPLAY_FILE_BYTES_MAX = 64 << 20, REPLAY_WAIT_MS = 30000 };

/* o[name] decoded into a malloc'd *out (NULL for JSON null): text, or base64 when
 * o[name_encoding] is "base64". 0 or -1. */
static int replay_bytes(json_t *o, const char *name, uint8_t **out, ssize_t *len)
{
    char enc_name[64];
    snprintf(enc_name, sizeof(enc_name), "%s_encoding", name);
    json_t *v = json_object_get(o, name), *enc = json_object_get(o, enc_name);
    *out = NULL;
    *len = -1;
    if (!v)
        return -1;
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    size_t n = json_string_length(v);
    *out = weir_malloc(n + 1);
    if (!enc) {
        memcpy(*out, json_string_value(v), n);
        *len = (ssize_t)n;
        return 0;
    }
    int got = json_is_string(enc) && strcmp(json_string_value(enc), "base64") == 0
                  ? base64_decode(json_string_value(v), n, *out, n + 1)
                  : -WEIR_EINVAL;
    if (got < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    *len = got;
    return 0;
}

typedef struct {
    int32_t partition;
    int64_t timestamp;
    uint8_t *key, *value;
    ssize_t key_len, value_len;
    rd_kafka_headers_t *hdrs;
} replay_rec_t;

static void replay_rec_free(replay_rec_t *r)
{
    free(r->key);
    free(r->value);
    if (r->hdrs)
        rd_kafka_headers_destroy(r->hdrs);
}

static int replay_headers(json_t *o, replay_rec_t *r)
{
    json_t *hs = json_object_get(o, "headers"), *h;
    size_t i;
    if (!hs || json_is_null(hs))
        return 0;
    if (!json_is_array(hs))
        return -1;
    r->hdrs = rd_kafka_headers_new(json_array_size(hs) + 1);
    json_array_foreach(hs, i, h)
    {
        json_t *name = json_object_get(h, "key");
        uint8_t *v;
        ssize_t n;
        if (!json_is_string(name) || replay_bytes(h, "value", &v, &n) != 0)
            return -1;
        rd_kafka_header_add(r->hdrs, json_string_value(name), (ssize_t)json_string_length(name),
                            n >= 0 ? (v ? (const void *)v : "") : NULL, n >= 0 ? n : 0);
        free(v);
    }
    return 0;
}

static int replay_line(const char *line, size_t n, replay_rec_t *r)
{
    json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    json_t *p = json_object_get(o, "partition"), *ts = json_object_get(o, "timestamp");
    int rc = -1;
    memset(r, 0, sizeof(*r));
    if (json_is_object(o) && json_is_integer(p) && json_integer_value(p) >= 0 &&
        json_integer_value(p) <= INT32_MAX && json_is_integer(ts) && json_integer_value(ts) >= 0 &&
        replay_bytes(o, "key", &r->key, &r->key_len) == 0 &&
        replay_bytes(o, "value", &r->value, &r->value_len) == 0 && replay_headers(o, r) == 0) {
        r->partition = (int32_t)json_integer_value(p);
        r->timestamp = json_integer_value(ts);
        rc = 0;
    }
    json_decref(o);
    return rc;
}

static void replay_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    if (m->err)
        (*(int64_t *)opaque)++;
}

/* Produces the decoded records, idempotent and acks=all, and waits for every one. */
static int replay_produce(const char *brokers, const char *topic, replay_rec_t *recs, size_t n,
                          char *errmsg, size_t cap)
{
    char why[256];
    int64_t failed = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof(why));
    rd_kafka_conf_set(conf, "enable.idempotence", "true", why, sizeof(why));
    rd_kafka_conf_set_dr_msg_cb(conf, replay_dr);
    rd_kafka_conf_set_opaque(conf, &failed);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errmsg, cap, "producer: %s", why);
        return WEIR_ERR_IO;
    }
    for (size_t i = 0; i < n; i++) {
        replay_rec_t *r = &recs[i];
        size_t kn = r->key_len >= 0 ? (size_t)r->key_len : 0;
        size_t vn = r->value_len >= 0 ? (size_t)r->value_len : 0;
        /* librdkafka: a NULL pointer is a null key or value, any other an empty one */
        const void *k = r->key_len >= 0 ? (r->key ? (const void *)r->key : "") : NULL;
        void *v = r->value_len >= 0 ? (r->value ? (void *)r->value : (void *)"") : NULL;
        rd_kafka_resp_err_t err =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(r->partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(k, kn),
                              RD_KAFKA_V_VALUE(v, vn), RD_KAFKA_V_TIMESTAMP(r->timestamp),
                              RD_KAFKA_V_HEADERS(r->hdrs), RD_KAFKA_V_END);
        if (err) {
            failed++;
            continue;
        }
        r->hdrs = NULL; /* the producer owns them now */
    }
    rd_kafka_flush(rk, REPLAY_WAIT_MS);
    if (rd_kafka_outq_len(rk) > 0)
        failed++;
    rd_kafka_destroy(rk);
    if (failed) {
        snprintf(errmsg, cap, "%lld record(s) were not written to %s", (long long)failed, topic);
        return WEIR_ERR_IO;
    }
    return 0;
}

int64_t weir_replay_file(const char *brokers, const char *path, const char *topic, char *errmsg,
                         size_t errmsg_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errmsg, errmsg_size, "cannot read %s", path);
        return WEIR_ERR_NOENT;
    }
    replay_rec_t *recs = NULL;
    size_t n = 0, cap = 0, line_cap = 0, total = 0;
    char *line = NULL;
    ssize_t len;
    int64_t lineno = 0, rc = 0;
    while (rc == 0 && (len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        total += (size_t)len;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            recs = weir_realloc(recs, cap * sizeof(*recs));
        }
        if (total > REPLAY_FILE_BYTES_MAX) {
            snprintf(errmsg, errmsg_size, "%s is over %d MiB", path, REPLAY_FILE_BYTES_MAX >> 20);
            rc = WEIR_ERR_TOOBIG;
        } else if (replay_line(line, (size_t)len, &recs[n]) != 0) {
            replay_rec_free(&recs[n]);
            snprintf(errmsg, errmsg_size, "%s line %lld: not a record of weir topic export", path,
                     (long long)lineno);
            rc = WEIR_ERR_INVAL;
        } else {
            n++;
        }
    }
    free(line);
    fclose(f);
    if (rc == 0)
        rc = replay_produce(brokers, topic, recs, n, errmsg, errmsg_size);
    for (size_t i = 0; i < n; i++)
        replay_rec_free(&recs[i]);
    free(recs);
    return rc == 0 ? (int64_t)n : rc;
}

/* ---- the golden file ------------------------------------------------------------------------- */

/* Bytes as a JSON string when they are UTF-8, else base64 with "<name>_encoding". */
static void golden_bytes(json_t *o, const char *name, const void *p, size_t n, bool present)
{
    json_t *s = present ? json_stringn(p ? (const char *)p : "", n) : json_null();
    if (!s) { /* not UTF-8 */
        char *b64 = weir_malloc(base64_encoded_len(n) + 1);
        base64_encode(p, n, b64);
        s = json_string(b64);
        free(b64);
        char enc[64];
        snprintf(enc, sizeof(enc), "%s_encoding", name);
        json_object_set_new(o, name, s);
        json_object_set_new(o, enc, json_string("base64"));
        return;
    }
    json_object_set_new(o, name, s);
}

static bool golden_ignored(const char *name, const char *const *ignore)
{
    for (size_t i = 0; ignore && ignore[i]; i++)
        if (strcmp(name, ignore[i]) == 0)
            return true;
    return false;
}

static void golden_line(const rd_kafka_message_t *m, const char *const *ignore, buf_t *out)
{
    json_t *o = json_object(), *hs = json_array();
    json_object_set_new(o, "partition", json_integer(m->partition));
    golden_bytes(o, "key", m->key, m->key_len, m->key != NULL);
    golden_bytes(o, "value", m->payload, m->len, m->payload != NULL);
    rd_kafka_headers_t *h = NULL;
    const char *name;
    const void *val;
    size_t size;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
        for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++) {
            if (golden_ignored(name, ignore))
                continue;
            json_t *e = json_pack("{s:s}", "key", name);
            golden_bytes(e, "value", val, size, val != NULL);
            json_array_append_new(hs, e);
        }
    json_object_set_new(o, "headers", hs);
    char *s = json_dumps(o, JSON_COMPACT);
    buf_append_str(out, s);
    buf_append_u8(out, '\n');
    free(s);
    json_decref(o);
}

/* One partition from its start to its end as it is now. */
static int topic_read_partition(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *topic, int32_t p,
                                sdk_record_fn fn, void *arg, char *errmsg, size_t cap)
{
    int64_t low, high;
    if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, REPLAY_WAIT_MS) ||
        (high > low && rd_kafka_consume_start(rkt, p, low) != 0)) {
        snprintf(errmsg, cap, "cannot read %s [%d]", topic, (int)p);
        return WEIR_ERR_IO;
    }
    int rc = 0;
    int64_t next = low;
    while (rc == 0 && next < high) {
        rd_kafka_message_t *m = rd_kafka_consume(rkt, p, REPLAY_WAIT_MS);
        if (!m || (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
            snprintf(errmsg, cap, "reading %s [%d] stopped before offset %lld", topic, (int)p,
                     (long long)high);
            rc = WEIR_ERR_IO;
        } else if (!m->err) {
            fn(m, arg);
            next = m->offset + 1;
        } else {
            next = high; /* the end, past a gap (compaction, markers) */
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    if (high > low)
        rd_kafka_consume_stop(rkt, p);
    return rc;
}

int sdk_topic_read(const char *brokers, const char *topic, sdk_record_fn fn, void *arg,
                   char *errmsg, size_t cap)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof(why));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(errmsg, cap, "consumer: %s", why);
        return WEIR_ERR_IO;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    int rc = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, REPLAY_WAIT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(errmsg, cap, "no topic %s", topic);
        rc = WEIR_ERR_NOENT;
    }
    for (int i = 0; rc == 0 && i < md->topics[0].partition_cnt; i++)
        rc = topic_read_partition(rk, rkt, topic, md->topics[0].partitions[i].id, fn, arg, errmsg,
                                  cap);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return rc;
}

typedef struct {
    const char *const *ignore;
    buf_t *out;
} golden_read_t;

static void golden_record(const rd_kafka_message_t *m, void *arg)
{
    golden_read_t *g = arg;
    golden_line(m, g->ignore, g->out);
}

/* Every record of topic, partition after partition, up to each end as it is now. */
static int golden_read(const char *brokers, const char *topic, const char *const *ignore,
                       buf_t *out, char *errmsg, size_t cap)
{
    golden_read_t g = {ignore, out};
    return sdk_topic_read(brokers, topic, golden_record, &g, errmsg, cap);
}

static int line_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the lines of b (each ending in '\n') in byte order: the order in which a service
 * handles its input partitions varies from run to run, and with it the order of what it emits
 * from different ones. */
static void lines_sort(buf_t *b)
{
    size_t n = 0, cap = 64;
    char **lines = weir_malloc(cap * sizeof(char *));
    buf_append_u8(b, '\0');
    for (char *p = (char *)b->data; *p; n++) {
        char *nl = strchr(p, '\n');
        if (n == cap) {
            cap *= 2;
            lines = weir_realloc(lines, cap * sizeof(char *));
        }
        lines[n] = p;
        *nl = '\0';
        p = nl + 1;
    }
    qsort(lines, n, sizeof(char *), line_cmp);
    buf_t out;
    buf_init(&out);
    for (size_t i = 0; i < n; i++) {
        buf_append_str(&out, lines[i]);
        buf_append_u8(&out, '\n');
    }
    free(lines);
    buf_deinit(b);
    *b = out;
}

/* The first line where a and b differ, 1-based. */
static int64_t first_difference(const char *a, size_t an, const char *b, size_t bn)
{
    int64_t line = 1;
    for (size_t i = 0; i < an && i < bn; i++) {
        if (a[i] != b[i])
            return line;
        line += a[i] == '\n';
    }
    return line;
}

int weir_golden_compare(const char *brokers, const char *topic, const char *const *ignore_headers,
                        const char *golden_path, char *errmsg, size_t errmsg_size)
{
    buf_t got, want;
    buf_init(&got);
    buf_init(&want);
    int rc = golden_read(brokers, topic, ignore_headers, &got, errmsg, errmsg_size);
    if (rc == 0)
        lines_sort(&got);
    const char *update = getenv("WEIR_GOLDEN_UPDATE");
    if (rc == 0 && update && strcmp(update, "1") == 0) {
        FILE *f = fopen(golden_path, "w");
        if (!f || fwrite(got.data, 1, got.len, f) != got.len) {
            snprintf(errmsg, errmsg_size, "cannot write %s", golden_path);
            rc = WEIR_ERR_IO;
        }
        if (f && fclose(f) != 0)
            rc = WEIR_ERR_IO;
        goto out;
    }
    FILE *f = rc == 0 ? fopen(golden_path, "r") : NULL;
    if (rc == 0 && !f) {
        snprintf(errmsg, errmsg_size, "cannot read %s (WEIR_GOLDEN_UPDATE=1 writes it)",
                 golden_path);
        rc = WEIR_ERR_NOENT;
    }
    char chunk[65536];
    size_t k;
    while (f && (k = fread(chunk, 1, sizeof(chunk), f)) > 0 && want.len <= REPLAY_FILE_BYTES_MAX)
        buf_append(&want, chunk, k);
    if (f)
        fclose(f);
    if (rc == 0 &&
        (got.len != want.len || (got.len && memcmp(got.data, want.data, got.len) != 0))) {
        snprintf(errmsg, errmsg_size, "%s differs from %s at line %lld", topic, golden_path,
                 (long long)first_difference((const char *)got.data, got.len,
                                             (const char *)want.data, want.len));
        rc = 1;
    }
out:
    buf_deinit(&got);
    buf_deinit(&want);
    return rc;
}
