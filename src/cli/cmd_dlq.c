/*
 * `weir dlq list|show|redrive`: the dead-letter topics libweir writes ("<topic>.dlq"), read
 * through their provenance headers (weir.dlq.original.topic/partition/offset, weir.dlq.error,
 * weir.dlq.attempts, weir.dlq.group, and weir.dlq.first.failure.timestamp when the SDK knew it; a
 * dead letter's own timestamp is its last failure).
 *
 * Redrive has the admin API's semantics (src/admin/admin_dlq.c), on librdkafka so it works on
 * any Kafka broker: progress is the committed offsets of the consumer group
 * "weir-redrive.<dlq>", the same group the admin API uses, so the two never redrive one record
 * twice. Records go back to their original topic and partition (or --to TOPIC, partitioned by
 * key) with the weir.dlq.* headers removed and weir.redrive.source ("<dlq>/<partition>/<offset>")
 * added, durably (acks=all, idempotent), and only then is the progress committed, every
 * CHUNK records and at each partition's end. A crash between the two redrives that chunk again
 * (at least once); a rerun after a clean run moves nothing. With --error, records that do not
 * match are passed over: they stay in the dead-letter topic, and the progress moves past them.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

enum { O_NUM = 1, O_ERROR, O_TO };
enum { CHUNK = 200, TOP_ERRORS = 3 };

#define PROGRESS_PREFIX "weir-redrive."

static bool is_dlq(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".dlq") == 0;
}

/* A header's value as text in out ("" and false when absent or null). */
static bool hdr_text(const rd_kafka_message_t *m, const char *name, char *out, size_t cap)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    out[0] = '\0';
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h ||
        rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        return false;
    n = WEIR_MIN(n, cap - 1);
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

static int64_t hdr_int(const rd_kafka_message_t *m, const char *name)
{
    char s[32], *end;
    if (!hdr_text(m, name, s, sizeof(s)) || !s[0])
        return -1;
    long long v = strtoll(s, &end, 10);
    return *end ? -1 : (int64_t)v;
}

/* One dead letter's provenance. */
typedef struct {
    char topic[256], error[1024], group[256];
    int64_t partition, offset, attempts, first_failure, last_failure;
} prov_t;

static void prov_read(const rd_kafka_message_t *m, prov_t *p)
{
    rd_kafka_timestamp_type_t tt;
    hdr_text(m, "weir.dlq.original.topic", p->topic, sizeof(p->topic));
    hdr_text(m, "weir.dlq.error", p->error, sizeof(p->error));
    hdr_text(m, "weir.dlq.group", p->group, sizeof(p->group));
    p->partition = hdr_int(m, "weir.dlq.original.partition");
    p->offset = hdr_int(m, "weir.dlq.original.offset");
    p->attempts = hdr_int(m, "weir.dlq.attempts");
    p->last_failure = rd_kafka_message_timestamp(m, &tt);
    p->first_failure = hdr_int(m, "weir.dlq.first.failure.timestamp");
    if (p->first_failure < 0 && p->attempts == 1)
        p->first_failure = p->last_failure; /* one attempt: the first failure was the last */
}

/* Text for a table cell: control characters (a tab would split the cell, a newline the row)
 * become spaces, in place. */
static char *one_line(char *text)
{
    for (char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    return text;
}

static json_t *json_ms(int64_t ms)
{
    return ms < 0 ? json_null() : json_integer(ms);
}

static void time_cell(int64_t ms, char *out, size_t cap)
{
    if (ms < 0)
        snprintf(out, cap, "-");
    else
        cli_time_format(ms, out, cap);
}

/* "3d4h", "5m10s", "12s": how long ago ms was. */
static void age_cell(int64_t now, int64_t ms, char *out, size_t cap)
{
    if (ms < 0) {
        snprintf(out, cap, "-");
        return;
    }
    int64_t s = WEIR_MAX(0, now - ms) / 1000;
    if (s >= 86400)
        snprintf(out, cap, "%" PRId64 "d%" PRId64 "h", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(out, cap, "%" PRId64 "h%" PRId64 "m", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, cap, "%" PRId64 "m%" PRId64 "s", s / 60, s % 60);
    else
        snprintf(out, cap, "%" PRId64 "s", s);
}

/* ---- the topic and its progress -------------------------------------------------------------- */

typedef struct {
    cli_global_t *g;
    const char *topic;
    rd_kafka_topic_partition_list_t *parts;
    int64_t *low, *high, *done; /* done: the progress group's offset, else the log start */
    char group[300];
} dlq_t;

static void dlq_deinit(dlq_t *d)
{
    free(d->low);
    free(d->high);
    free(d->done);
    if (d->parts)
        rd_kafka_topic_partition_list_destroy(d->parts);
    memset(d, 0, sizeof(*d));
}

/* The committed offsets of the progress group (the log start where there is none). */
static int progress_read(dlq_t *d)
{
    const char *const kv[] = {"group.id", d->group, "enable.auto.commit", "false", NULL};
    cli_client_t c;
    int rc = cli_client_open(&c, d->g, RD_KAFKA_CONSUMER, NULL, kv);
    if (rc != 0)
        return rc;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_copy(d->parts);
    rd_kafka_resp_err_t err = rd_kafka_committed(c.rk, l, (int)d->g->timeout_ms);
    d->done = weir_calloc((size_t)l->cnt, sizeof(int64_t));
    for (int i = 0; i < l->cnt; i++)
        d->done[i] = WEIR_MAX(d->low[i], l->elems[i].offset);
    rd_kafka_topic_partition_list_destroy(l);
    cli_client_close(&c);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err(d->g, "reading the progress of %s failed: %s", d->group, rd_kafka_err2str(err));
        return cli_kafka_exit(err);
    }
    return 0;
}

/* A dead-letter topic by name: CLI_USAGE for a name that is not one, CLI_NOT_FOUND for none. */
static int dlq_open(dlq_t *d, cli_client_t *c, cli_global_t *g, const char *topic)
{
    memset(d, 0, sizeof(*d));
    d->g = g;
    d->topic = topic;
    snprintf(d->group, sizeof(d->group), PROGRESS_PREFIX "%s", topic);
    if (!is_dlq(topic))
        return cli_usage_err(g, "'%s' is not a dead-letter topic (its name ends in .dlq)", topic);
    int rc = cli_topic_parts(c, topic, -1, &d->parts, &d->low, &d->high);
    return rc != 0 ? rc : progress_read(d);
}

static int regex_compile(cli_global_t *g, const char *src, regex_t *re)
{
    int err = regcomp(re, src, REG_EXTENDED | REG_NOSUB);
    if (err == 0)
        return 0;
    char why[256];
    regerror(err, re, why, sizeof(why));
    return cli_usage_err(g, "bad --error regex '%s': %s", src, why);
}

static int part_index(const dlq_t *d, int32_t partition)
{
    for (int i = 0; i < d->parts->cnt; i++)
        if (d->parts->elems[i].partition == partition)
            return i;
    return 0;
}

/* ---- list ------------------------------------------------------------------------------------ */

typedef struct {
    dlq_t *d;
    int64_t messages, pending, oldest, newest;
    json_t *errors; /* {"error": count} */
} summary_t;

static int summary_one(void *arg, const rd_kafka_message_t *m)
{
    summary_t *s = arg;
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    char error[1024];
    s->messages++;
    s->pending += m->offset >= s->d->done[part_index(s->d, m->partition)];
    if (ts >= 0 && (s->oldest < 0 || ts < s->oldest))
        s->oldest = ts;
    if (ts > s->newest)
        s->newest = ts;
    hdr_text(m, "weir.dlq.error", error, sizeof(error));
    json_t *n = json_object_get(s->errors, error);
    json_object_set_new(s->errors, error, json_integer(json_integer_value(n) + 1));
    return 0;
}

/* The most frequent errors, most first (then by text), as [{"error", "count"}]. */
static json_t *top_errors(json_t *errors)
{
    json_t *top = json_array();
    for (int k = 0; k < TOP_ERRORS; k++) {
        const char *best = NULL, *e;
        json_int_t best_n = 0;
        json_t *v;
        json_object_foreach(errors, e, v)
        {
            json_int_t n = json_integer_value(v);
            if (n > best_n || (n == best_n && best && strcmp(e, best) < 0)) {
                best = e;
                best_n = n;
            }
        }
        if (!best)
            break;
        json_array_append_new(top, json_pack("{s:s, s:I}", "error", best, "count", best_n));
        json_object_set_new(errors, best, json_integer(0));
    }
    return top;
}

static int list_one(cli_client_t *c, cli_global_t *g, const char *topic, int64_t now, json_t *out,
                    cli_table_t *t)
{
    dlq_t d;
    int rc = dlq_open(&d, c, g, topic);
    summary_t s = {&d, 0, 0, -1, -1, json_object()};
    if (rc == 0)
        rc = cli_scan(g, d.parts, d.high, summary_one, &s);
    if (rc == 0) {
        json_t *top = top_errors(s.errors);
        char old[32], new[32], errs[512] = "";
        size_t i;
        json_t *e;
        json_array_foreach(top, i, e)
        {
            size_t len = strlen(errs);
            snprintf(errs + len, sizeof(errs) - len, "%s%s (%" JSON_INTEGER_FORMAT ")",
                     i ? "; " : "", json_string_value(json_object_get(e, "error")),
                     json_integer_value(json_object_get(e, "count")));
        }
        age_cell(now, s.oldest, old, sizeof(old));
        age_cell(now, s.newest, new, sizeof(new));
        cli_table_addf(t, "%s\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%s", topic, s.messages, s.pending,
                       old, new, errs[0] ? one_line(errs) : "-");
        json_array_append_new(
            out, json_pack("{s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:s}", "topic", topic,
                           "partitions", d.parts->cnt, "messages", (json_int_t)s.messages,
                           "pending", (json_int_t)s.pending, "oldest_timestamp", json_ms(s.oldest),
                           "newest_timestamp", json_ms(s.newest), "oldest_age_ms",
                           json_ms(s.oldest < 0 ? -1 : now - s.oldest), "newest_age_ms",
                           json_ms(s.newest < 0 ? -1 : now - s.newest), "top_errors", top,
                           "progress_group", d.group));
    }
    json_decref(s.errors);
    dlq_deinit(&d);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dlq_list(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_none(&a);
    cli_client_t c = {0};
    const rd_kafka_metadata_t *md = NULL;
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && a.npos != 0)
        rc = cli_usage_err(g, "takes no arguments");
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0 || (rc = cli_client_metadata(&c, &md)) != 0)
        goto out;
    static const char *const headers[] = {"TOPIC",  "MESSAGES", "PENDING",
                                          "OLDEST", "NEWEST",   "TOP ERRORS"};
    cli_table_t t;
    cli_table_init(&t, 6, headers);
    t.shrinkable = 1u << 5;
    json_t *out = json_array();
    char **names = weir_calloc((size_t)md->topic_cnt + 1, sizeof(char *));
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (is_dlq(md->topics[i].topic))
            names[n++] = md->topics[i].topic;
    qsort(names, (size_t)n, sizeof(char *), name_cmp);
    int64_t now = clock_wall_ms();
    for (int i = 0; rc == 0 && i < n; i++)
        rc = list_one(&c, g, names[i], now, out, &t);
    free(names);
    if (rc == 0) {
        cli_output_print(g, out, &t);
    } else {
        json_decref(out);
        cli_table_deinit(&t);
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

/* ---- show ------------------------------------------------------------------------------------ */

typedef struct {
    dlq_t *d;
    regex_t *re;
    int64_t limit, shown;
    json_t *out;
    cli_table_t *t;
} show_t;

static int show_one(void *arg, const rd_kafka_message_t *m)
{
    show_t *s = arg;
    prov_t p;
    prov_read(m, &p);
    if (s->re && regexec(s->re, p.error, 0, NULL, 0) != 0)
        return 0;
    char first[40], last[40], origin[320], error[sizeof(p.error)];
    snprintf(error, sizeof(error), "%s", p.error);
    time_cell(p.first_failure, first, sizeof(first));
    time_cell(p.last_failure, last, sizeof(last));
    if (p.topic[0])
        snprintf(origin, sizeof(origin), "%s/%" PRId64 "/%" PRId64, p.topic, p.partition, p.offset);
    else
        snprintf(origin, sizeof(origin), "-");
    bool pending = m->offset >= s->d->done[part_index(s->d, m->partition)];
    cli_table_addf(s->t, "%" PRId32 "\t%" PRId64 "\t%s\t%" PRId64 "\t%s\t%s\t%s", m->partition,
                   m->offset, origin, p.attempts, first, last, one_line(error));
    json_array_append_new(
        s->out,
        json_pack("{s:i, s:I, s:{s:s?, s:o, s:o}, s:s?, s:o, s:s?, s:o, s:o, s:b}", "partition",
                  (int)m->partition, "offset", (json_int_t)m->offset, "origin", "topic",
                  p.topic[0] ? p.topic : NULL, "partition", json_ms(p.partition), "offset",
                  json_ms(p.offset), "error", p.error, "attempts", json_ms(p.attempts), "group",
                  p.group[0] ? p.group : NULL, "first_failure", json_ms(p.first_failure),
                  "last_failure", json_ms(p.last_failure), "pending", pending));
    return ++s->shown >= s->limit;
}

static int show_parse(cli_global_t *g, cli_args_t *a, int64_t *limit, const char **error,
                      const char **to)
{
    static const cli_opt_t opts[] = {{'n', "num", true, O_NUM},
                                     {0, "error", true, O_ERROR},
                                     {0, "to", true, O_TO},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP)
            return -1;
        if (id == O_ERROR)
            *error = arg;
        if (id == O_TO && !to)
            return cli_usage_err(g, "--to is a flag of 'weir dlq redrive'");
        if (id == O_TO)
            *to = arg;
        if (id == O_NUM && (!limit || cli_parse_i64(arg, 1, INT64_MAX, limit) != 0))
            return limit ? cli_usage_err(g, "-n wants a count >= 1, got '%s'", arg)
                         : cli_usage_err(g, "-n is a flag of 'weir dlq show'");
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos != 1)
        return cli_usage_err(g, "give exactly one dead-letter topic");
    return 0;
}

static int dlq_show(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int64_t limit = 100;
    const char *error = NULL;
    regex_t re;
    bool have_re = false;
    cli_client_t c = {0};
    dlq_t d = {0};
    int rc = show_parse(g, &a, &limit, &error, NULL);
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && error && (rc = regex_compile(g, error, &re)) == 0)
        have_re = true;
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0 || (rc = dlq_open(&d, &c, g, a.pos[0])) != 0)
        goto out;
    cli_client_close(&c);
    static const char *const headers[] = {"PARTITION",     "OFFSET",       "ORIGIN", "ATTEMPTS",
                                          "FIRST FAILURE", "LAST FAILURE", "ERROR"};
    cli_table_t t;
    cli_table_init(&t, 7, headers);
    t.shrinkable = 1u << 6;
    show_t s = {&d, have_re ? &re : NULL, limit, 0, json_array(), &t};
    if ((rc = cli_scan(g, d.parts, d.high, show_one, &s)) == 0) {
        cli_output_print(g, s.out, &t);
    } else {
        json_decref(s.out);
        cli_table_deinit(&t);
    }
out:
    if (have_re)
        regfree(&re);
    dlq_deinit(&d);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

/* ---- redrive --------------------------------------------------------------------------------- */

typedef struct {
    dlq_t *d;
    regex_t *re;
    const char *to;                /* --to, or NULL: each record's origin */
    const rd_kafka_metadata_t *md; /* every topic, for the origins' partition counts */
    cli_sender_t *s;               /* NULL on a dry run */
    cli_client_t *progress;        /* the progress group's consumer; NULL on a dry run */
    int32_t cur;                   /* the partition being read, -1 before the first */
    int64_t next;                  /* the offset after the last record looked at in cur */
    int64_t unsaved;               /* records looked at since the last commit */
    int64_t redriven, skipped, filtered;
    json_t *targets; /* {"topic": count} */
} redrive_t;

/* Sends what is queued and only then commits cur's progress. 0 or an exit code. */
static int checkpoint(redrive_t *r)
{
    if (r->cur < 0 || r->unsaved == 0 || !r->s)
        return 0;
    int rc = cli_sender_flush(r->s);
    if (rc != 0)
        return rc;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->d->topic, r->cur)->offset = r->next;
    rd_kafka_resp_err_t err = rd_kafka_commit(r->progress->rk, l, 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        err = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err(r->d->g, "committing the progress of %s failed: %s", r->d->group,
                rd_kafka_err2str(err));
        return CLI_ERROR;
    }
    r->unsaved = 0;
    return 0;
}

/* Where a record goes: --to (partitioned by key), else its origin if that topic has the
 * partition. NULL when it has no usable origin. */
static const char *target_of(const redrive_t *r, const prov_t *p, int32_t *partition)
{
    *partition = RD_KAFKA_PARTITION_UA;
    if (r->to)
        return r->to;
    const rd_kafka_metadata_topic_t *t = p->topic[0] ? cli_metadata_topic(r->md, p->topic) : NULL;
    if (!t || p->partition < 0 || p->partition >= t->partition_cnt)
        return NULL;
    *partition = (int32_t)p->partition;
    return t->topic;
}

/* The record's headers less weir.dlq.*, plus weir.redrive.source. */
static rd_kafka_headers_t *redrive_headers(const redrive_t *r, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *in = NULL, *out = rd_kafka_headers_new(8);
    const char *name;
    const void *val;
    size_t size;
    if (rd_kafka_message_headers(m, &in) == RD_KAFKA_RESP_ERR_NO_ERROR && in)
        for (size_t i = 0; rd_kafka_header_get_all(in, i, &name, &val, &size) == 0; i++)
            if (strncmp(name, "weir.dlq.", 9) != 0)
                rd_kafka_header_add(out, name, -1, val, val ? (ssize_t)size : -1);
    char src[400];
    int n =
        snprintf(src, sizeof(src), "%s/%" PRId32 "/%" PRId64, r->d->topic, m->partition, m->offset);
    rd_kafka_header_add(out, "weir.redrive.source", -1, src, n);
    return out;
}

static int redrive_one(void *arg, const rd_kafka_message_t *m)
{
    redrive_t *r = arg;
    int rc;
    if (m->partition != r->cur && (rc = checkpoint(r)) != 0)
        return rc;
    r->cur = m->partition;
    r->next = m->offset + 1;
    r->unsaved++;
    prov_t p;
    prov_read(m, &p);
    int32_t partition;
    const char *to = target_of(r, &p, &partition);
    if (r->re && regexec(r->re, p.error, 0, NULL, 0) != 0) {
        r->filtered++;
    } else if (!to) {
        r->skipped++;
    } else {
        rd_kafka_timestamp_type_t tt;
        if (r->s &&
            (rc = cli_sender_send(r->s, to, partition, m->key, m->key ? (ssize_t)m->key_len : -1,
                                  m->payload, m->payload ? (ssize_t)m->len : -1,
                                  rd_kafka_message_timestamp(m, &tt), redrive_headers(r, m))) != 0)
            return rc;
        r->redriven++;
        json_t *n = json_object_get(r->targets, to);
        json_object_set_new(r->targets, to, json_integer(json_integer_value(n) + 1));
    }
    return r->unsaved >= CHUNK ? checkpoint(r) : 0;
}

static void redrive_print(const redrive_t *r, int64_t remaining)
{
    const dlq_t *d = r->d;
    bool dry = !r->s;
    if (d->g->output == CLI_OUT_JSON) {
        cli_json_print(json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:O, s:s}", "topic", d->topic,
                                 "dry_run", dry, "redriven", (json_int_t)r->redriven, "skipped",
                                 (json_int_t)r->skipped, "filtered", (json_int_t)r->filtered,
                                 "remaining", (json_int_t)remaining, "targets", r->targets,
                                 "progress_group", d->group),
                       stdout);
        return;
    }
    printf("%s %" PRId64 " record%s from %s", dry ? "would redrive" : "redrove", r->redriven,
           r->redriven == 1 ? "" : "s", d->topic);
    const char *t;
    json_t *v;
    bool first = true;
    json_object_foreach(r->targets, t, v)
    {
        printf("%s%s: %" JSON_INTEGER_FORMAT, first ? " (" : ", ", t, json_integer_value(v));
        first = false;
    }
    printf("%s\n", first ? "" : ")");
    printf("skipped (no origin): %" PRId64 "\nnot matching --error: %" PRId64
           "\nremaining: %" PRId64 "\nprogress group: %s\n",
           r->skipped, r->filtered, remaining, d->group);
}

static int redrive_run(redrive_t *r)
{
    dlq_t *d = r->d;
    int rc = 0;
    const char *const kv[] = {"group.id", d->group, "enable.auto.commit", "false", NULL};
    cli_client_t progress = {0};
    cli_sender_t s = {0};
    int64_t pending = 0;
    rd_kafka_topic_partition_list_t *from = rd_kafka_topic_partition_list_copy(d->parts);
    for (int i = 0; i < from->cnt; i++) {
        from->elems[i].offset = d->done[i];
        pending += WEIR_MAX(0, d->high[i] - d->done[i]);
    }
    if (!d->g->dry_run) {
        if ((rc = cli_client_open(&progress, d->g, RD_KAFKA_CONSUMER, NULL, kv)) != 0 ||
            (rc = cli_sender_open(&s, d->g)) != 0)
            goto out;
        r->progress = &progress;
        r->s = &s;
    }
    rc = cli_scan(d->g, from, d->high, redrive_one, r);
    if (rc == 0)
        rc = checkpoint(r);
    if (rc == 0) {
        int64_t looked = r->redriven + r->skipped + r->filtered;
        redrive_print(r, r->s ? 0 : WEIR_MAX(0, pending - looked));
    }
out:
    rd_kafka_topic_partition_list_destroy(from);
    if (r->s)
        cli_sender_close(&s);
    cli_client_close(&progress);
    return rc;
}

static int dlq_redrive(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    const char *error = NULL, *to = NULL;
    regex_t re;
    bool have_re = false;
    cli_client_t c = {0};
    dlq_t d = {0};
    const rd_kafka_metadata_t *md = NULL;
    int rc = show_parse(g, &a, NULL, &error, &to);
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && error && (rc = regex_compile(g, error, &re)) == 0)
        have_re = true;
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0 || (rc = dlq_open(&d, &c, g, a.pos[0])) != 0 ||
        (rc = cli_client_metadata(&c, &md)) != 0)
        goto out;
    if (to && !cli_metadata_topic(md, to)) {
        cli_err(g, "topic '%s' not found", to);
        rc = CLI_NOT_FOUND;
        goto out;
    }
    redrive_t r = {.d = &d,
                   .re = have_re ? &re : NULL,
                   .to = to,
                   .md = md,
                   .cur = -1,
                   .targets = json_object()};
    rc = redrive_run(&r);
    json_decref(r.targets);
out:
    if (have_re)
        regfree(&re);
    if (md)
        rd_kafka_metadata_destroy(md);
    dlq_deinit(&d);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

int cli_dlq_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {
        {"list", dlq_list},
        {"ls", dlq_list},
        {"show", dlq_show},
        {"redrive", dlq_redrive},
    };
    return cli_dispatch(g, "dlq", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
