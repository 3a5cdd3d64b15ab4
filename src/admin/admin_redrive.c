/*
 * Redrive of a dead-letter topic (see admin_dlq.c for the rules): per partition, from the
 * progress group's committed offset, records are copied out in chunks of REDRIVE_CHUNK, sent
 * back durably to their origin (one batch per origin partition), and the chunk's end is
 * committed. A record without a usable origin is skipped (and counted), so a bad record never
 * blocks the rest. With HTTP authorization, a chunk holding a record whose origin the principal
 * may not WRITE is not sent: the redrive stops there (403 when nothing was redriven).
 */
#include "admin/admin_internal.h"

#include <stdlib.h>

enum { CHUNK = 200, LIMIT_MAX = 100000 };

/* progress, as admin_dlq.c names it */
#define PROGRESS_PREFIX "weir-redrive."

/* One record copied out of the log, ready to be re-produced. */
typedef struct {
    char topic[256];
    int32_t partition; /* -1: no usable origin */
    int64_t offset;    /* in the dead-letter topic */
    int64_t timestamp;
    buf_t bytes; /* key, value, header names and values, back to back */
    int32_t key_len, value_len;
    size_t nheaders;
    broker_header_t headers[BROKER_RECORD_HEADERS_MAX];
} rd_rec_t;

typedef struct {
    rd_rec_t *recs;
    size_t n, cap;
    const char *dlq;
    int32_t dlq_partition;
} rd_chunk_t;

static bool header_is(const broker_header_t *h, const char *name)
{
    return h->name_len == strlen(name) && memcmp(h->name, name, h->name_len) == 0;
}

/* The origin partition from weir.dlq.original.partition, if the origin has it. */
static int32_t origin_partition(broker_t *b, const char *topic, const broker_header_t *h)
{
    char num[16];
    if (!h || !h->value || h->value_len <= 0 || h->value_len >= (int32_t)sizeof(num))
        return -1;
    memcpy(num, h->value, (size_t)h->value_len);
    num[h->value_len] = 0;
    char *end;
    long p = strtol(num, &end, 10);
    broker_topic_desc_t d;
    if (*end || p < 0 || broker_topic_describe(b, topic, strlen(topic), &d) < 0)
        return -1;
    int32_t np = d.partitions;
    broker_topic_desc_deinit(&d);
    return p < np ? (int32_t)p : -1;
}

/* Copies the record (less the weir.dlq.* headers) with its origin. */
static void rec_copy(broker_t *b, rd_rec_t *c, const broker_record_t *rec, const char *dlq)
{
    memset(c, 0, sizeof(*c));
    const broker_header_t *ot = NULL, *op = NULL;
    for (size_t i = 0; i < rec->nheaders; i++) {
        if (header_is(&rec->headers[i], "weir.dlq.original.topic"))
            ot = &rec->headers[i];
        if (header_is(&rec->headers[i], "weir.dlq.original.partition"))
            op = &rec->headers[i];
    }
    c->partition = -1;
    c->offset = rec->offset;
    c->timestamp = rec->timestamp;
    if (ot && ot->value && ot->value_len > 0 && ot->value_len < (int32_t)sizeof(c->topic)) {
        memcpy(c->topic, ot->value, (size_t)ot->value_len);
        c->partition = origin_partition(b, c->topic, op);
    }
    buf_init(&c->bytes);
    c->key_len = rec->key_len;
    c->value_len = rec->value_len;
    if (rec->key)
        buf_append(&c->bytes, rec->key, (size_t)rec->key_len);
    if (rec->value)
        buf_append(&c->bytes, rec->value, (size_t)rec->value_len);
    for (size_t i = 0; i < rec->nheaders; i++) {
        const broker_header_t *h = &rec->headers[i];
        if (h->name_len >= 9 && memcmp(h->name, "weir.dlq.", 9) == 0)
            continue;
        c->headers[c->nheaders++] = *h; /* pointers fixed up in rec_fix once bytes settle */
        buf_append(&c->bytes, h->name, h->name_len);
        if (h->value)
            buf_append(&c->bytes, h->value, (size_t)h->value_len);
    }
    if (c->nheaders < BROKER_RECORD_HEADERS_MAX) {
        char src[300];
        int n =
            snprintf(src, sizeof(src), "%s/%d/%lld", dlq, rec->partition, (long long)rec->offset);
        c->headers[c->nheaders++] = (broker_header_t){"weir.redrive.source", 19, NULL, n};
        buf_append(&c->bytes, "weir.redrive.source", 19);
        buf_append(&c->bytes, src, (size_t)n);
    }
}

/* Points the record's key, value and headers into its bytes (which no longer move). */
static broker_record_t rec_fix(rd_rec_t *c)
{
    const uint8_t *p = c->bytes.data;
    broker_record_t out = {.timestamp = c->timestamp,
                           .key_len = c->key_len,
                           .value_len = c->value_len,
                           .nheaders = c->nheaders,
                           .headers = c->headers};
    if (c->key_len >= 0) {
        out.key = p ? p : (const uint8_t *)"";
        p += c->key_len;
    }
    if (c->value_len >= 0) {
        out.value = p ? p : (const uint8_t *)"";
        p += c->value_len;
    }
    for (size_t i = 0; i < c->nheaders; i++) {
        broker_header_t *h = &c->headers[i];
        h->name = (const char *)p;
        p += h->name_len;
        if (h->value_len >= 0) {
            h->value = p;
            p += h->value_len;
        }
    }
    return out;
}

/* ---- one chunk
 * ------------------------------------------------------------------------------------
 */

typedef struct {
    broker_t *b;
    rd_chunk_t *ch;
    size_t want;
} collect_t;

static int collect_one(void *arg, const broker_record_t *rec)
{
    collect_t *co = arg;
    rd_chunk_t *ch = co->ch;
    if (ch->n == ch->cap) {
        ch->cap = ch->cap ? ch->cap * 2 : 16;
        ch->recs = weir_realloc(ch->recs, ch->cap * sizeof(*ch->recs));
    }
    rec_copy(co->b, &ch->recs[ch->n++], rec, ch->dlq);
    return ch->n >= co->want;
}

static void chunk_clear(rd_chunk_t *ch)
{
    for (size_t i = 0; i < ch->n; i++)
        buf_deinit(&ch->recs[i].bytes);
    ch->n = 0;
}

typedef struct {
    json_t *targets; /* {"topic": count} */
    int64_t redriven, skipped;
} rd_stats_t;

/* Sends a chunk's records to their origins, one durable batch per origin partition, in the
 * dead-letter topic's order within each. 0 or the first failure (and its message). */
static int chunk_send(broker_t *b, rd_chunk_t *ch, bool dry, rd_stats_t *st, broker_err_t *err)
{
    bool *sent = weir_calloc(ch->n + 1, sizeof(bool));
    broker_record_t *batch = weir_calloc(ch->n + 1, sizeof(*batch));
    int rc = 0;
    for (size_t i = 0; i < ch->n && rc == 0; i++) {
        rd_rec_t *c = &ch->recs[i];
        if (sent[i])
            continue;
        if (c->partition < 0) {
            st->skipped++;
            continue;
        }
        size_t nb = 0;
        for (size_t j = i; j < ch->n; j++) {
            rd_rec_t *o = &ch->recs[j];
            if (!sent[j] && o->partition == c->partition && strcmp(o->topic, c->topic) == 0) {
                batch[nb++] = rec_fix(o);
                sent[j] = true;
            }
        }
        int64_t base;
        if (!dry)
            rc = broker_records_append(b, c->topic, strlen(c->topic), c->partition, batch, nb, true,
                                       &base, err);
        if (rc == 0) {
            st->redriven += (int64_t)nb;
            json_t *t = json_object_get(st->targets, c->topic);
            json_object_set_new(st->targets, c->topic,
                                json_integer(json_integer_value(t) + (json_int_t)nb));
        }
    }
    free(batch);
    free(sent);
    return rc;
}

/* Whether the request's principal may WRITE every origin of the chunk (the route's ACL row
 * checked READ on the dead-letter topic and its progress group): 0, or -WEIR_EINVAL with
 * TOPIC_AUTHORIZATION_FAILED and a message in err, before any of the chunk is sent. */
static int chunk_allowed(admin_req_t *r, const rd_chunk_t *ch, broker_err_t *err)
{
    for (size_t i = 0; i < ch->n; i++) {
        const rd_rec_t *c = &ch->recs[i];
        if (c->partition < 0 || admin_may(r, KAFKA_RESOURCE_TOPIC, c->topic, KAFKA_ACL_OP_WRITE))
            continue;
        err->code = KAFKA_TOPIC_AUTHORIZATION_FAILED;
        snprintf(err->message, sizeof(err->message),
                 "%.60s is not authorized to WRITE TOPIC '%.80s' (the origin of %.60s/%d/%lld)",
                 r->req->principal, c->topic, ch->dlq, ch->dlq_partition, (long long)c->offset);
        return -WEIR_EINVAL;
    }
    return 0;
}

/* Redrives one partition from its progress, at most *budget records. */
static int partition_redrive(admin_req_t *r, const char *grp, int32_t p, int64_t from, bool dry,
                             int64_t *budget, rd_stats_t *st, broker_err_t *err)
{
    rd_chunk_t ch = {.dlq = r->seg[1], .dlq_partition = p};
    int rc = 0;
    while (*budget > 0 && rc == 0) {
        collect_t co = {r->b, &ch, (size_t)WEIR_MIN(*budget, CHUNK)};
        int64_t next;
        rc = broker_records_read(r->b, ch.dlq, strlen(ch.dlq), p, from, 16 << 20, collect_one, &co,
                                 &next);
        if (rc < 0 || ch.n == 0)
            break;
        rc = chunk_allowed(r, &ch, err);
        if (rc == 0)
            rc = chunk_send(r->b, &ch, dry, st, err);
        int64_t end = ch.recs[ch.n - 1].offset + 1;
        *budget -= (int64_t)ch.n;
        chunk_clear(&ch);
        if (rc == 0 && !dry) {
            json_t *commit = json_pack("[{s:s, s:i, s:I}]", "topic", ch.dlq, "partition", (int)p,
                                       "offset", (json_int_t)end);
            int16_t cerr = admin_group_commit(r->b, grp, commit);
            json_decref(commit);
            if (cerr) {
                err->code = cerr;
                snprintf(err->message, sizeof(err->message), "committing the progress of %.200s",
                         grp);
                rc = -WEIR_EIO;
            }
        }
        from = end;
    }
    chunk_clear(&ch);
    free(ch.recs);
    return rc;
}

/* ---- the request
 * ------------------------------------------------------------------------------------
 */

static int64_t progress_of(json_t *offs, int32_t p)
{
    size_t i;
    json_t *o;
    json_array_foreach(offs, i, o)
    {
        if (json_integer_value(json_object_get(o, "partition")) == p)
            return json_integer_value(json_object_get(o, "offset"));
    }
    return 0; /* nothing redriven yet: from the log start (reads clamp to it) */
}

/* Records still to redrive after the run (dry: the plan's count is subtracted). */
static int64_t remaining_of(broker_t *b, const char *dlq, int32_t np, int64_t done_dry)
{
    char grp[300];
    int16_t err;
    snprintf(grp, sizeof(grp), PROGRESS_PREFIX "%s", dlq);
    json_t *offs = admin_group_offsets(b, grp, &err);
    int64_t left = 0;
    for (int32_t p = 0; p < np; p++) {
        broker_watermarks_t wm;
        if (broker_partition_watermarks(b, dlq, strlen(dlq), p, &wm) == 0)
            left += wm.high_watermark - WEIR_MAX(wm.log_start_offset, progress_of(offs, p));
    }
    json_decref(offs);
    return WEIR_MAX(0, left - done_dry);
}

void admin_dlq_redrive(admin_req_t *r)
{
    const char *dlq = r->seg[1];
    json_t *body;
    if (!admin_body(r, &body))
        return;
    bool dry;
    int64_t budget;
    broker_topic_desc_t d;
    size_t n = strlen(dlq);
    if (!admin_get_bool(r, body, "dry_run", false, &dry) ||
        !admin_get_int(r, body, "limit", LIMIT_MAX, 1, LIMIT_MAX, &budget))
        goto out;
    if (n <= 4 || strcmp(dlq + n - 4, ".dlq") != 0) {
        admin_fail(r, 400, "bad_request", "'%s' is not a dead-letter topic (*.dlq)", dlq);
        goto out;
    }
    if (broker_topic_describe(r->b, dlq, n, &d) < 0) {
        admin_fail(r, 404, "not_found", "no topic '%s'", dlq);
        goto out;
    }
    int32_t np = d.partitions;
    broker_topic_desc_deinit(&d);
    char grp[300];
    snprintf(grp, sizeof(grp), PROGRESS_PREFIX "%s", dlq);
    rd_stats_t st = {json_object(), 0, 0};
    broker_err_t err = {0};
    int rc = 0;
    pthread_mutex_lock(&r->a->redrive_mu);
    int16_t gerr;
    json_t *offs = admin_group_offsets(r->b, grp, &gerr);
    for (int32_t p = 0; p < np && rc == 0 && budget > 0; p++)
        rc = partition_redrive(r, grp, p, progress_of(offs, p), dry, &budget, &st, &err);
    json_decref(offs);
    pthread_mutex_unlock(&r->a->redrive_mu);
    if (rc < 0 && !st.redriven) {
        if (err.code == KAFKA_TOPIC_AUTHORIZATION_FAILED)
            admin_fail(r, 403, "forbidden", "%s", err.message);
        else
            admin_fail_broker(r, rc, &err);
        json_decref(st.targets);
        goto out;
    }
    int64_t left = remaining_of(r->b, dlq, np, dry ? st.redriven + st.skipped : 0);
    admin_reply(r, 200,
                json_pack("{s:s, s:b, s:I, s:I, s:I, s:o, s:s, s:s?}", "topic", dlq, "dry_run", dry,
                          "redriven", (json_int_t)st.redriven, "skipped", (json_int_t)st.skipped,
                          "remaining", (json_int_t)left, "targets", st.targets, "progress_group",
                          grp, "error", rc < 0 ? err.message : NULL));
out:
    json_decref(body);
}
