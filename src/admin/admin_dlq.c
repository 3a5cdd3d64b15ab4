/*
 * Dead-letter topics (names ending in ".dlq", as libweir names them): counts, oldest record,
 * the error and origin of each record from the provenance headers the SDK writes
 * (weir.dlq.original.topic/partition/offset/timestamp, weir.dlq.group, weir.dlq.attempts,
 * weir.dlq.error), and redrive: each record goes back to its original topic and partition,
 * without the provenance headers and with weir.redrive.source ("<dlq>/<partition>/<offset>").
 *
 * Redrive keeps its progress as the committed offsets of the consumer group
 * "weir-redrive.<dlq topic>", so a rerun starts after what was already redriven: records are
 * re-produced durably (acks=-1) in chunks, then the chunk's end is committed. A crash between
 * the two redrives that chunk again on the next run (at least once); reruns without a crash
 * never duplicate. One redrive runs at a time per broker (admin->redrive_mu).
 */
#include "admin/admin_internal.h"

#include <regex.h>
#include <stdlib.h>

enum { REDRIVE_CHUNK = 200, REDRIVE_LIMIT_MAX = 100000 };

#define DLQ_PREFIX "weir.dlq."

static bool is_dlq(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".dlq") == 0;
}

static bool dlq_topic_ok(admin_req_t *r, const char *t)
{
    broker_topic_desc_t d;
    if (!is_dlq(t)) {
        admin_fail(r, 400, "bad_request", "'%s' is not a dead-letter topic (*.dlq)", t);
        return false;
    }
    if (broker_topic_describe(r->b, t, strlen(t), &d) < 0) {
        admin_fail(r, 404, "not_found", "no topic '%s'", t);
        return false;
    }
    broker_topic_desc_deinit(&d);
    return true;
}

static void progress_group(const char *dlq, char *out, size_t cap)
{
    snprintf(out, cap, "weir-redrive.%s", dlq);
}

/* The provenance headers of one record as {"error", "original_topic", ...}. */
static json_t *provenance_json(const broker_record_t *rec)
{
    static const char *const names[][2] = {
        {"weir.dlq.error", "error"},
        {"weir.dlq.original.topic", "original_topic"},
        {"weir.dlq.original.partition", "original_partition"},
        {"weir.dlq.original.offset", "original_offset"},
        {"weir.dlq.original.timestamp", "original_timestamp"},
        {"weir.dlq.group", "group"},
        {"weir.dlq.attempts", "attempts"},
        {"weir.dlq.first.failure.timestamp", "first_failure_timestamp"}};
    json_t *o = json_object();
    for (size_t k = 0; k < WEIR_ARRAY_LEN(names); k++) {
        json_t *v = json_null();
        for (size_t i = 0; i < rec->nheaders; i++) {
            const broker_header_t *h = &rec->headers[i];
            if (h->name_len == strlen(names[k][0]) &&
                memcmp(h->name, names[k][0], h->name_len) == 0 && h->value) {
                json_t *s = json_stringn((const char *)h->value, (size_t)h->value_len);
                if (s) {
                    json_decref(v);
                    v = s;
                }
            }
        }
        /* numbers in decimal text become numbers */
        if (k >= 2 && k != 5 && json_is_string(v)) {
            char *end;
            long long n = strtoll(json_string_value(v), &end, 10);
            if (!*end && *json_string_value(v)) {
                json_decref(v);
                v = json_integer(n);
            }
        }
        json_object_set_new(o, names[k][1], v);
    }
    return o;
}

/* ---- list
 * ----------------------------------------------------------------------------------------
 */

typedef struct {
    int64_t ts;
    json_t *prov;
} first_t;

static int last_ts(void *arg, const broker_record_t *rec)
{
    *(int64_t *)arg = rec->timestamp;
    return 0;
}

static int first_one(void *arg, const broker_record_t *rec)
{
    first_t *f = arg;
    f->ts = rec->timestamp;
    f->prov = provenance_json(rec);
    return 1;
}

static int64_t committed_of(json_t *offs, int32_t p)
{
    size_t i;
    json_t *o;
    json_array_foreach(offs, i, o)
    {
        if (json_integer_value(json_object_get(o, "partition")) == p)
            return json_integer_value(json_object_get(o, "offset"));
    }
    return -1;
}

static json_t *dlq_summary(broker_t *b, const broker_topic_desc_t *d)
{
    char grp[300];
    int16_t err;
    progress_group(d->name, grp, sizeof(grp));
    json_t *offs = admin_group_offsets(b, grp, &err);
    int64_t msgs = 0, pending = 0, oldest = -1, newest = -1;
    json_t *origin = json_null();
    for (int32_t p = 0; p < d->partitions; p++) {
        broker_watermarks_t wm;
        if (broker_partition_watermarks(b, d->name, strlen(d->name), p, &wm) < 0)
            continue;
        msgs += wm.high_watermark - wm.log_start_offset;
        int64_t done = WEIR_MAX(committed_of(offs, p), wm.log_start_offset);
        pending += WEIR_MAX(0, wm.high_watermark - done);
        first_t f = {-1, NULL};
        int64_t nx;
        broker_records_read(b, d->name, strlen(d->name), p, wm.log_start_offset, 1 << 20, first_one,
                            &f, &nx);
        if (f.prov && (oldest < 0 || f.ts < oldest)) {
            oldest = f.ts;
            json_decref(origin);
            origin = json_incref(json_object_get(f.prov, "original_topic"));
        }
        json_decref(f.prov);
        int64_t ts = -1;
        if (wm.high_watermark > wm.log_start_offset)
            broker_records_read(b, d->name, strlen(d->name), p, wm.high_watermark - 1, 1 << 20,
                                last_ts, &ts, &nx);
        newest = WEIR_MAX(newest, ts);
    }
    json_decref(offs);
    return json_pack("{s:s, s:i, s:I, s:I, s:I, s:o, s:o, s:o, s:s}", "topic", d->name,
                     "partitions", (int)d->partitions, "messages", (json_int_t)msgs, "pending",
                     (json_int_t)pending, "redriven", (json_int_t)(msgs - pending),
                     "oldest_timestamp", oldest < 0 ? json_null() : json_integer(oldest),
                     "newest_timestamp", newest < 0 ? json_null() : json_integer(newest),
                     "origin_topic", origin, "progress_group", grp);
}

void admin_dlq_list(admin_req_t *r)
{
    broker_topic_desc_t *ts;
    size_t n;
    broker_topics_describe(r->b, &ts, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (is_dlq(ts[i].name) &&
            admin_may(r, KAFKA_RESOURCE_TOPIC, ts[i].name, KAFKA_ACL_OP_DESCRIBE))
            json_array_append_new(arr, dlq_summary(r->b, &ts[i]));
    broker_topic_descs_free(ts, n);
    admin_reply(r, 200, json_pack("{s:o}", "dlq_topics", arr));
}

/* ---- records
 * ----------------------------------------------------------------------------------------
 */

typedef struct {
    admin_t *a;
    json_t *out;
    size_t limit;
    int64_t done;      /* the redrive progress of this partition */
    const regex_t *re; /* ?error=: only records whose weir.dlq.error matches; NULL: all */
} dlq_read_t;

static int dlq_one(void *arg, const broker_record_t *rec)
{
    dlq_read_t *dr = arg;
    json_t *prov = provenance_json(rec);
    const char *error = json_string_value(json_object_get(prov, "error"));
    if (dr->re && regexec(dr->re, error ? error : "", 0, NULL, 0) != 0) {
        json_decref(prov);
        return 0;
    }
    json_t *m = admin_record_json(dr->a, rec);
    json_object_set_new(m, "dlq", prov);
    json_object_set_new(m, "redriven", json_boolean(rec->offset < dr->done));
    json_array_append_new(dr->out, m);
    return json_array_size(dr->out) >= dr->limit;
}

void admin_dlq_records(admin_req_t *r)
{
    const char *t = r->seg[1], *error = NULL;
    int64_t limit, from;
    regex_t re;
    if (!admin_arg_int(r, "limit", 100, 1, 500, &limit) ||
        !admin_arg_int(r, "offset", 0, 0, INT64_MAX, &from) || !admin_arg(r, "error", &error) ||
        !dlq_topic_ok(r, t))
        return;
    int rerr = error ? regcomp(&re, error, REG_EXTENDED | REG_NOSUB) : 0;
    if (rerr != 0) {
        char why[200];
        regerror(rerr, &re, why, sizeof(why));
        admin_fail(r, 400, "bad_request", "bad error regex '%s': %s", error, why);
        return;
    }
    broker_topic_desc_t d;
    if (broker_topic_describe(r->b, t, strlen(t), &d) < 0) {
        admin_fail(r, 404, "not_found", "no topic '%s'", t);
        if (error)
            regfree(&re);
        return;
    }
    char grp[300];
    int16_t err;
    progress_group(t, grp, sizeof(grp));
    json_t *offs = admin_group_offsets(r->b, grp, &err);
    dlq_read_t dr = {r->a, json_array(), (size_t)limit, 0, error ? &re : NULL};
    for (int32_t p = 0; p < d.partitions && json_array_size(dr.out) < (size_t)limit; p++) {
        int64_t nx;
        dr.done = committed_of(offs, p);
        broker_records_read(r->b, t, strlen(t), p, from, 8 << 20, dlq_one, &dr, &nx);
    }
    broker_topic_desc_deinit(&d);
    json_decref(offs);
    if (error)
        regfree(&re);
    admin_reply(r, 200, json_pack("{s:s, s:o}", "topic", t, "records", dr.out));
}
