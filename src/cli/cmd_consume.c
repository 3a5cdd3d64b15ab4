/*
 * `weir consume <topic>...`: prints records, one JSON object a line by default or as -f says.
 *
 * Without -g it reads every partition (or -p) from the --from offset with librdkafka's simple
 * consumer: no group, nothing committed. With -g it joins the group; the group's committed
 * offsets say where to start unless --from is given, and the offsets of printed records are
 * committed every second and when it stops (Ctrl-C, -n, -e, --end-*, or a closed stdout);
 * --dry-run reads as the group and commits nothing. A topic argument starting with '^' is a
 * regular expression (POSIX extended) over the topic names, as librdkafka's subscriptions take
 * it. --end-offset / --end-time give each partition an end (exclusive): it prints no record at
 * or past it, and the run ends when every partition reached its end.
 *
 * Invariants: an offset is committed only after the record's line has been written to stdout
 * (the output buffer is flushed before each commit), so a crash may print a record twice but
 * never commits one that was not printed. Memory is bounded: librdkafka's prefetch queue is
 * capped (queued.max.messages.kbytes) and our output buffer is flushed at 64 KiB, so a slow
 * reader on the pipe slows the consumer down instead of filling memory.
 */
#include "cli/cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <regex.h>
#include <stdlib.h>
#include <unistd.h>

#define OUT_FLUSH_BYTES    65536
#define COMMIT_INTERVAL_MS 1000

enum {
    O_OFFSET = 1,
    O_NUM,
    O_GROUP,
    O_FORMAT,
    O_EXIT,
    O_PARTITION,
    O_DECODE,
    O_REGISTRY,
    O_END_OFFSET,
    O_END_TIME,
    O_DRY_RUN,
    O_KEY,
    O_ADMIN
};

/* A partition's end (--end-offset / --end-time): the first offset not to print. */
typedef struct {
    char *topic;
    int32_t partition;
    int64_t end;
} end_t;

typedef struct {
    cli_global_t *g;
    cli_client_t c;
    char **topics;
    int ntopics;
    const char *group;
    const char *offset_arg;
    cli_offset_spec_t spec;
    int64_t partition; /* -1: all */
    int64_t max_count, count;
    bool exit_at_end;
    cli_format_t fmt;
    bool use_fmt;
    buf_t out;
    bool out_broken; /* stdout closed (EPIPE): stop quietly */
    /* partitions being read, with their end-of-partition flags for -e */
    rd_kafka_topic_partition_list_t *assigned;
    bool *at_eof;
    bool ever_assigned;
    /* headers of the record being rendered */
    cli_header_t *hdrs;
    size_t hdrs_cap;
    bool stored;          /* offsets stored since the last commit */
    bool decode;          /* --decode: registry-encoded keys/values as JSON */
    const char *registry; /* --registry URL */
    cli_decoder_t *decoder;
    buf_t dkey, dval; /* decoded JSON of the record being rendered */
    rd_kafka_resp_err_t last_warned;
    int exit_code;
    bool dry_run; /* -g without commits */
    bool has_end; /* --end-offset or --end-time */
    cli_offset_spec_t end_spec;
    end_t *ends; /* every partition of the topics read, with its end */
    size_t nends;
    bool *at_end; /* per assigned partition: reached its end */
    char **names; /* the concrete topics (regular expressions expanded), owned */
    int nnames;
    const char *key;   /* --key: one key's records, through the admin API's key chain */
    const char *admin; /* --admin URL */
} consume_t;

/* Writes the output buffer to stdout. A reader that went away ends the run, not an error. */
static void out_flush(consume_t *cs)
{
    size_t off = 0;
    while (off < cs->out.len && !cs->out_broken) {
        ssize_t n = write(STDOUT_FILENO, cs->out.data + off, cs->out.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno != EPIPE) {
                cli_err(cs->g, "writing to stdout failed: %s", strerror(errno));
                cs->exit_code = CLI_ERROR;
            }
            cs->out_broken = true;
            break;
        }
        off += (size_t)n;
    }
    buf_reset(&cs->out);
}

/* Commits the stored offsets, after flushing what they stand for. */
static void commit(consume_t *cs, bool sync)
{
    if (!cs->group || !cs->stored || cs->dry_run)
        return;
    out_flush(cs);
    rd_kafka_resp_err_t err = rd_kafka_commit(cs->c.rk, NULL, sync ? 0 : 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        cli_err(cs->g, "committing offsets of group '%s' failed: %s", cs->group,
                rd_kafka_err2str(err));
        cs->exit_code = CLI_ERROR;
    }
    cs->stored = false;
}

static int find_assigned(const consume_t *cs, const char *topic, int32_t partition)
{
    if (!cs->assigned)
        return -1;
    for (int i = 0; i < cs->assigned->cnt; i++)
        if (cs->assigned->elems[i].partition == partition &&
            strcmp(cs->assigned->elems[i].topic, topic) == 0)
            return i;
    return -1;
}

static bool all_at_eof(const consume_t *cs)
{
    if (!cs->ever_assigned || !cs->assigned || cs->assigned->cnt == 0)
        return false;
    for (int i = 0; i < cs->assigned->cnt; i++)
        if (!cs->at_eof[i])
            return false;
    return true;
}

static void set_assigned(consume_t *cs, const rd_kafka_topic_partition_list_t *parts)
{
    if (cs->assigned)
        rd_kafka_topic_partition_list_destroy(cs->assigned);
    free(cs->at_eof);
    free(cs->at_end);
    cs->assigned = parts ? rd_kafka_topic_partition_list_copy(parts) : NULL;
    cs->at_eof = weir_calloc(parts ? (size_t)parts->cnt + 1 : 1, sizeof(bool));
    cs->at_end = weir_calloc(parts ? (size_t)parts->cnt + 1 : 1, sizeof(bool));
    cs->ever_assigned = cs->ever_assigned || parts;
}

/* ---- ends (--end-offset, --end-time) ----------------------------------------------------------
 */

static int64_t end_of(const consume_t *cs, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < cs->nends; i++)
        if (cs->ends[i].partition == partition && strcmp(cs->ends[i].topic, topic) == 0)
            return cs->ends[i].end;
    return INT64_MAX; /* a partition added after the start: no end known, read on */
}

static bool all_at_end(const consume_t *cs)
{
    if (!cs->has_end || !cs->ever_assigned || !cs->assigned)
        return false;
    for (int i = 0; i < cs->assigned->cnt; i++)
        if (!cs->at_end[i])
            return false;
    return true;
}

/* The end of every partition in parts (offsets resolved from end_spec, clamped to the log). */
static int ends_resolve(consume_t *cs, cli_client_t *c, const rd_kafka_topic_partition_list_t *all)
{
    if (!cs->has_end)
        return 0;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_copy(all);
    int rc = cli_offsets_resolve(c, parts, &cs->end_spec, NULL, NULL);
    cs->ends = weir_calloc((size_t)parts->cnt + 1, sizeof(*cs->ends));
    for (int i = 0; rc == 0 && i < parts->cnt; i++)
        cs->ends[cs->nends++] = (end_t){weir_strdup(parts->elems[i].topic),
                                        parts->elems[i].partition, parts->elems[i].offset};
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

/* A record (or the end-of-partition offset) at `offset` of assigned partition idx: true when
 * the partition has reached its end, which it keeps. */
static bool reached_end(consume_t *cs, int idx, const char *topic, int32_t partition,
                        int64_t offset)
{
    if (!cs->has_end || idx < 0)
        return false;
    if (!cs->at_end[idx] && offset >= end_of(cs, topic, partition))
        cs->at_end[idx] = true;
    return cs->at_end[idx];
}

/* ---- topics: names and regular expressions ----------------------------------------------------
 */

/* The concrete topics the arguments name: names as they are, '^' regular expressions matched
 * against the cluster's topics (internal ones left out). 0, or an exit code after a message. */
static int topics_expand(consume_t *cs, const rd_kafka_metadata_t *md)
{
    cs->names = weir_calloc((size_t)md->topic_cnt + (size_t)cs->ntopics + 1, sizeof(char *));
    for (int i = 0; i < cs->ntopics; i++) {
        const char *arg = cs->topics[i];
        if (arg[0] != '^') {
            if (!cli_metadata_topic(md, arg)) {
                cli_err(cs->g, "topic '%s' not found", arg);
                return CLI_NOT_FOUND;
            }
            cs->names[cs->nnames++] = weir_strdup(arg);
            continue;
        }
        regex_t re;
        if (regcomp(&re, arg, REG_EXTENDED | REG_NOSUB) != 0)
            return cli_usage_err(cs->g, "'%s' is not a regular expression", arg);
        int before = cs->nnames;
        for (int t = 0; t < md->topic_cnt; t++) {
            const char *name = md->topics[t].topic;
            if (md->topics[t].err || cli_topic_internal(name) || regexec(&re, name, 0, NULL, 0))
                continue;
            bool dup = false;
            for (int k = 0; k < cs->nnames; k++)
                dup = dup || strcmp(cs->names[k], name) == 0;
            if (!dup)
                cs->names[cs->nnames++] = weir_strdup(name);
        }
        regfree(&re);
        if (cs->nnames == before) {
            cli_err(cs->g, "no topic matches '%s'", arg);
            return CLI_NOT_FOUND;
        }
    }
    return 0;
}

/* --decode: a registry-encoded key or value becomes its JSON; one that does not decode stays
 * as it is, with a warning on stderr (once per reason). */
static void decode_one(consume_t *cs, const void **p, ssize_t *n, bool *is_json, buf_t *dst)
{
    char why[256];
    if (!cs->decoder)
        cs->decoder = cli_decoder_new(cs->g, cs->registry);
    buf_reset(dst);
    int rc = *n < 0 ? 0 : cli_decoder_decode(cs->decoder, *p, (size_t)*n, dst, why, sizeof(why));
    if (rc == 1) {
        *p = dst->data;
        *n = (ssize_t)dst->len;
        *is_json = true;
    } else if (rc < 0) {
        cli_err(cs->g, "cannot decode a record: %s", why);
    }
}

static void decode_fields(consume_t *cs, cli_record_t *rec)
{
    decode_one(cs, &rec->key, &rec->key_len, &rec->key_is_json, &cs->dkey);
    decode_one(cs, &rec->value, &rec->value_len, &rec->value_is_json, &cs->dval);
}

static void render(consume_t *cs, const rd_kafka_message_t *m)
{
    cli_record_t rec = {0};
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_timestamp_type_t tstype;
    rec.topic = topic;
    rec.topic_len = strlen(topic);
    rec.partition = m->partition;
    rec.offset = m->offset;
    rec.timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    rec.key = m->key;
    rec.key_len = m->key ? (ssize_t)m->key_len : -1;
    rec.value = m->payload;
    rec.value_len = m->payload ? (ssize_t)m->len : -1;
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h) {
        size_t n = rd_kafka_header_cnt(h);
        if (n > cs->hdrs_cap) {
            cs->hdrs_cap = n;
            cs->hdrs = weir_realloc(cs->hdrs, n * sizeof(*cs->hdrs));
        }
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; i < n && !rd_kafka_header_get_all(h, i, &name, &val, &size); i++)
            cs->hdrs[rec.header_count++] =
                (cli_header_t){name, strlen(name), val, val ? (ssize_t)size : -1};
        rec.headers = cs->hdrs;
    }
    if (cs->decode)
        decode_fields(cs, &rec);
    if (cs->use_fmt)
        cli_format_render(&cs->fmt, &rec, &cs->out);
    else
        cli_record_render_json(&rec, &cs->out);
}

/* One message or event from librdkafka. Returns false when the run should stop. */
static bool handle(consume_t *cs, rd_kafka_message_t *m)
{
    int idx = m->rkt ? find_assigned(cs, rd_kafka_topic_name(m->rkt), m->partition) : -1;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (idx >= 0)
            cs->at_eof[idx] = true;
        if (m->rkt)
            reached_end(cs, idx, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
        return !(cs->exit_at_end && all_at_eof(cs)) && !all_at_end(cs);
    }
    if (m->err) {
        rd_kafka_resp_err_t err = m->err;
        const char *what = m->rkt ? rd_kafka_topic_name(m->rkt) : cs->g->brokers;
        if (cli_kafka_exit(err) == CLI_NOT_FOUND || rd_kafka_fatal_error(cs->c.rk, NULL, 0)) {
            cli_err(cs->g, "%s: %s", what, rd_kafka_message_errstr(m));
            cs->exit_code = cli_kafka_exit(err);
            return false;
        }
        /* Transient (a broker restarting, no group coordinator yet): librdkafka retries.
         * Say so once per kind of error, so a stuck consumer is not silent. */
        if (err != cs->last_warned || cs->g->verbose)
            fprintf(stderr, "weir consume: warning: %s: %s (retrying)\n", what,
                    rd_kafka_message_errstr(m));
        cs->last_warned = err;
        return true;
    }
    if (idx >= 0)
        cs->at_eof[idx] = false;
    if (reached_end(cs, idx, rd_kafka_topic_name(m->rkt), m->partition, m->offset))
        return !all_at_end(cs); /* past its end: not printed */
    render(cs, m);
    if (cs->group) {
        rd_kafka_offset_store(m->rkt, m->partition, m->offset); /* commits offset + 1 */
        cs->stored = true;
    }
    if (cs->out.len >= OUT_FLUSH_BYTES)
        out_flush(cs);
    cs->count++;
    if (reached_end(cs, idx, rd_kafka_topic_name(m->rkt), m->partition, m->offset + 1) &&
        all_at_end(cs))
        return false;
    return !(cs->max_count > 0 && cs->count >= cs->max_count) && !cs->out_broken;
}

static int parse_flags(cli_global_t *g, cli_args_t *a, consume_t *cs)
{
    static const cli_opt_t opts[] = {{0, "from", true, O_OFFSET},
                                     {0, "offset", true, O_OFFSET}, /* the older name */
                                     {0, "end-offset", true, O_END_OFFSET},
                                     {0, "end-time", true, O_END_TIME},
                                     {'n', "num", true, O_NUM},
                                     {'g', "group", true, O_GROUP},
                                     {'f', "format", true, O_FORMAT},
                                     {'e', "exit", false, O_EXIT},
                                     {'p', "partition", true, O_PARTITION},
                                     {0, "decode", false, O_DECODE},
                                     {0, "registry", true, O_REGISTRY},
                                     {0, "key", true, O_KEY},
                                     {0, "admin", true, O_ADMIN},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg, *format = NULL;
    char err[256];
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        switch (id) {
        case CLI_OPT_HELP:
            return -1;
        case O_OFFSET:
            cs->offset_arg = arg;
            if (cli_offset_spec_parse(arg, clock_wall_ms(), &cs->spec) != 0)
                return cli_usage_err(g,
                                     "--from is where to start: start, end, N, +N, -N or @TIME, "
                                     "got '%s'",
                                     arg);
            break;
        case O_END_OFFSET:
            if (cli_offset_spec_parse(arg, clock_wall_ms(), &cs->end_spec) != 0 ||
                cs->end_spec.kind == CLI_OFF_TIME)
                return cli_usage_err(g,
                                     "--end-offset is where to stop: N, end, +N or -N, got '%s' "
                                     "(a time goes to --end-time)",
                                     arg);
            cs->has_end = true;
            break;
        case O_END_TIME: {
            int64_t ms;
            if (cli_time_parse(arg[0] == '@' ? arg + 1 : arg, clock_wall_ms(), &ms) != 0)
                return cli_usage_err(g, "--end-time wants RFC 3339, epoch ms or -1h, got '%s'",
                                     arg);
            cs->end_spec = (cli_offset_spec_t){CLI_OFF_TIME, ms};
            cs->has_end = true;
            break;
        }

        case O_NUM:
            if (cli_parse_i64(arg, 1, INT64_MAX, &cs->max_count) != 0)
                return cli_usage_err(g, "-n wants a count >= 1, got '%s'", arg);
            break;
        case O_GROUP:
            cs->group = arg;
            break;
        case O_FORMAT:
            format = arg;
            break;
        case O_EXIT:
            cs->exit_at_end = true;
            break;
        case O_PARTITION:
            if (cli_parse_i64(arg, 0, INT32_MAX, &cs->partition) != 0)
                return cli_usage_err(g, "-p wants a partition number, got '%s'", arg);
            break;
        case O_DECODE:
            cs->decode = true;
            break;
        case O_REGISTRY:
            cs->registry = arg;
            break;
        case O_KEY:
            cs->key = arg;
            break;
        case O_ADMIN:
            cs->admin = arg;
            break;
        }
    }
    if (rc < 0)
        return CLI_USAGE;
    if (g->output_set && g->output != CLI_OUT_JSON)
        return cli_usage_err(g, "consume prints JSON lines (-o json); -f FORMAT prints others");
    if (a->npos < 1)
        return cli_usage_err(g, "which topic? give at least one");
    if (cs->group && cs->partition >= 0)
        return cli_usage_err(g, "-p and -g do not mix: a group assigns partitions itself");
    if (cs->key && (cs->group || a->npos != 1 || cs->offset_arg || cs->has_end))
        return cli_usage_err(g, "--key reads one key of one topic's partition (-p, default 0): "
                                "no -g, --from or --end-*");
    cs->dry_run = g->dry_run;
    if (cs->dry_run && !cs->group)
        return cli_usage_err(g, "--dry-run is for -g (commit nothing); without a group consume "
                                "changes nothing anyway");
    if (format) {
        if (cli_format_parse(&cs->fmt, format, false, err, sizeof(err)) != 0)
            return cli_usage_err(g, "bad -f format: %s", err);
        cs->use_fmt = true;
    }
    cs->topics = a->pos;
    cs->ntopics = a->npos;
    return 0;
}

/* ---- without a group: the simple consumer ---------------------------------------------------- */

/* The partitions to read and their start offsets, asked with a short-lived admin client: the
 * consumer's prefetch bound depends on how many there are (see consume_open). */
static int simple_partitions(consume_t *cs, rd_kafka_topic_partition_list_t **out)
{
    static const char *const kv[] = {"allow.auto.create.topics", "false", NULL};
    cli_client_t c;
    const rd_kafka_metadata_t *md = NULL;
    int rc = cli_client_open(&c, cs->g, RD_KAFKA_PRODUCER, NULL, kv);
    if (rc != 0)
        return rc;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    if ((rc = cli_client_connect(&c)) == 0)
        rc = cli_client_metadata(&c, &md);
    if (rc == 0)
        rc = topics_expand(cs, md);
    for (int i = 0; rc == 0 && i < cs->nnames; i++) {
        const rd_kafka_metadata_topic_t *t = cli_metadata_topic(md, cs->names[i]);
        int before = parts->cnt;
        for (int j = 0; j < t->partition_cnt; j++)
            if (cs->partition < 0 || t->partitions[j].id == cs->partition)
                rd_kafka_topic_partition_list_add(parts, t->topic, t->partitions[j].id);
        if (parts->cnt == before) {
            cli_err(cs->g, "topic '%s' has no partition %" PRId64, t->topic, cs->partition);
            rc = CLI_NOT_FOUND;
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rc == 0) {
        rd_kafka_topic_partition_list_sort(parts, NULL, NULL);
        rc = ends_resolve(cs, &c, parts);
    }
    if (rc == 0)
        rc = cli_offsets_resolve(&c, parts, &cs->spec, NULL, NULL);
    cli_client_close(&c);
    if (rc != 0) {
        rd_kafka_topic_partition_list_destroy(parts);
        return rc;
    }
    *out = parts;
    return 0;
}

static int run_simple(consume_t *cs, rd_kafka_topic_partition_list_t *parts)
{
    set_assigned(cs, parts);
    rd_kafka_queue_t *q = rd_kafka_queue_new(cs->c.rk);
    rd_kafka_topic_t **rkts = weir_calloc((size_t)parts->cnt + 1, sizeof(*rkts));
    bool go = !(cs->exit_at_end && parts->cnt == 0);
    for (int i = 0; i < parts->cnt; i++) {
        rkts[i] = rd_kafka_topic_new(cs->c.rk, parts->elems[i].topic, NULL);
        if (rd_kafka_consume_start_queue(rkts[i], parts->elems[i].partition, parts->elems[i].offset,
                                         q) != 0) {
            cli_err(cs->g, "reading %s/%" PRId32 " failed: %s", parts->elems[i].topic,
                    parts->elems[i].partition, rd_kafka_err2str(rd_kafka_last_error()));
            cs->exit_code = CLI_ERROR;
            go = false;
        }
    }
    while (go && !cli_stop) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, 100);
        if (!m) {
            out_flush(cs); /* idle: let the reader see what we have */
            go = !cs->out_broken;
            continue;
        }
        go = handle(cs, m);
        rd_kafka_message_destroy(m);
    }
    out_flush(cs);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_consume_stop(rkts[i], parts->elems[i].partition);
        rd_kafka_topic_destroy(rkts[i]);
    }
    free(rkts);
    rd_kafka_queue_destroy(q);
    return cs->exit_code;
}

/* ---- with a group ---------------------------------------------------------------------------- */

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    /* The client's opaque is the cli_client_t embedded in consume_t: step back to it. */
    cli_client_t *c = opaque;
    consume_t *cs = (consume_t *)(void *)((char *)c - offsetof(consume_t, c));
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* An explicit -o wins over the committed offsets. */
        if (cs->offset_arg && cli_offsets_resolve(&cs->c, parts, &cs->spec, NULL, NULL) != 0)
            cs->exit_code = CLI_ERROR;
        rd_kafka_assign(rk, parts);
        set_assigned(cs, parts);
    } else {
        commit(cs, true); /* what we printed from these partitions, before they go */
        rd_kafka_assign(rk, NULL);
        set_assigned(cs, NULL);
    }
}

/* The topics exist (or their expressions match), and their partitions' ends are known. */
static int check_topics(consume_t *cs)
{
    const rd_kafka_metadata_t *md = NULL;
    int rc = cli_client_metadata(&cs->c, &md);
    if (rc == 0)
        rc = topics_expand(cs, md);
    if (rc == 0 && cs->has_end) {
        rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(16);
        for (int i = 0; i < cs->nnames; i++) {
            const rd_kafka_metadata_topic_t *t = cli_metadata_topic(md, cs->names[i]);
            for (int j = 0; t && j < t->partition_cnt; j++)
                rd_kafka_topic_partition_list_add(all, t->topic, t->partitions[j].id);
        }
        rc = ends_resolve(cs, &cs->c, all);
        rd_kafka_topic_partition_list_destroy(all);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    return rc;
}

static int run_group(consume_t *cs)
{
    int rc = check_topics(cs);
    if (rc != 0)
        return rc;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(cs->ntopics);
    for (int i = 0; i < cs->ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, cs->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_poll_set_consumer(cs->c.rk);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(cs->c.rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        cli_err(cs->g, "joining group '%s' failed: %s", cs->group, rd_kafka_err2str(err));
        return CLI_ERROR;
    }
    int64_t next_commit = clock_mono_ms() + COMMIT_INTERVAL_MS;
    int64_t warn_at = clock_mono_ms() + cs->g->timeout_ms;
    bool go = true;
    while (go && !cli_stop && cs->exit_code == 0) {
        if (!cs->ever_assigned && warn_at && clock_mono_ms() >= warn_at) {
            /* Not silent when the group never forms (no coordinator, a broker without
             * group support): say what we wait for, and keep waiting. */
            fprintf(stderr,
                    "weir consume: warning: still waiting to join group '%s' after %" PRId64
                    " ms\n",
                    cs->group, cs->g->timeout_ms);
            warn_at = 0;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cs->c.rk, 100);
        if (m) {
            go = handle(cs, m);
            rd_kafka_message_destroy(m);
        } else {
            out_flush(cs);
            go = !cs->out_broken;
        }
        if (clock_mono_ms() >= next_commit) {
            commit(cs, false);
            next_commit = clock_mono_ms() + COMMIT_INTERVAL_MS;
        }
    }
    commit(cs, true);
    out_flush(cs); /* what a dry run printed last (commit flushes only before committing) */
    rd_kafka_consumer_close(cs->c.rk);
    return cs->exit_code;
}

/* The prefetch bound: librdkafka's simple consumer keeps up to queued.min.messages and
 * queued.max.messages.kbytes *per partition*, so both are split among the partitions read:
 * about 64 MB and 100,000 records in all, whatever the number of partitions. (Much smaller
 * bounds make librdkafka 2.0 stall after each refill: 16 MB reads 3 times slower.) In a group
 * the kbytes bound already covers the whole consumer queue. */
static int consume_open(consume_t *cs, int nparts)
{
    char kbytes[24], min_msgs[24];
    int n = WEIR_MAX(nparts, 1);
    snprintf(kbytes, sizeof(kbytes), "%d", WEIR_MAX(65536 / n, 1024));
    snprintf(min_msgs, sizeof(min_msgs), "%d", WEIR_MAX(100000 / n, 1000));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *eof = cs->exit_at_end || cs->has_end ? "true" : "false";
    const char *const simple_kv[] = {"enable.partition.eof",
                                     eof,
                                     "queued.max.messages.kbytes",
                                     kbytes,
                                     "queued.min.messages",
                                     min_msgs,
                                     "allow.auto.create.topics",
                                     "false",
                                     NULL};
    const char *const group_kv[] = {"group.id",
                                    cs->group,
                                    "enable.auto.commit",
                                    "false",
                                    "enable.auto.offset.store",
                                    "false",
                                    "auto.offset.reset",
                                    "earliest",
                                    "enable.partition.eof",
                                    eof,
                                    "allow.auto.create.topics",
                                    "false",
                                    NULL};
    /* --key: a fetch per offset after a seek; librdkafka's defaults would wait up to 500 ms
     * (fetch.wait.max.ms) and back off 500 ms (fetch.error.backoff.ms) between them */
    const char *const key_kv[] = {"enable.partition.eof",
                                  "true",
                                  "fetch.wait.max.ms",
                                  "10",
                                  "fetch.error.backoff.ms",
                                  "1",
                                  "allow.auto.create.topics",
                                  "false",
                                  NULL};
    if (cs->group)
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    int rc = cli_client_open(&cs->c, cs->g, RD_KAFKA_CONSUMER, conf,
                             cs->key     ? key_kv
                             : cs->group ? group_kv
                                         : simple_kv);
    if (rc == 0 && cs->group && (rc = cli_client_connect(&cs->c)) != 0)
        cli_client_close(&cs->c);
    return rc;
}

/* ---- --key: one key's records through the key chain (docs/event-store.md) ---------------- */

static size_t on_http_body(char *p, size_t size, size_t n, void *arg)
{
    buf_t *b = arg;
    if (b->len + size * n > ((size_t)1 << 24))
        return 0; /* not an answer of the admin API */
    buf_append(b, p, size * n);
    return size * n;
}

/* The admin API's base URL: --admin, else $WEIR_ADMIN, else the registry's (`weir serve`
 * serves both on one HTTP listener). */
static const char *admin_base(const consume_t *cs)
{
    const char *env = getenv("WEIR_ADMIN"), *reg = cli_registry_default(cs->g);
    return cs->admin ? cs->admin : env && *env ? env : reg ? reg : "http://127.0.0.1:8081";
}

/* GET .../topics/T/key-offsets: the key's newest `limit` offsets, oldest first, into body. */
static int key_offsets_fetch(consume_t *cs, int32_t partition, int64_t limit, buf_t *body,
                             long *status)
{
    CURL *c = curl_easy_init();
    if (!c) {
        cli_err(cs->g, "cannot start libcurl");
        return CLI_ERROR;
    }
    char *topic = curl_easy_escape(c, cs->topics[0], 0), *key = curl_easy_escape(c, cs->key, 0);
    buf_t url = {0};
    const char *base = admin_base(cs);
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    buf_printf(&url,
               "%.*s/api/v1/topics/%s/key-offsets?partition=%" PRId32 "&key=%s&limit=%" PRId64,
               (int)blen, base, topic, partition, key, limit);
    buf_append_u8(&url, 0);
    curl_easy_setopt(c, CURLOPT_URL, (char *)url.data);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_http_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_free(topic);
    curl_free(key);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK)
        cli_err(cs->g, "the admin API at %.*s: %s", (int)blen, base, curl_easy_strerror(rc));
    buf_deinit(&url);
    return rc == CURLE_OK ? 0 : CLI_ERROR;
}

/* The key's offsets (*offs, caller frees), or an exit code after the API's message. */
static int key_offsets(consume_t *cs, int32_t partition, int64_t **offs, size_t *n)
{
    buf_t body = {0};
    long status = 0;
    int64_t limit = cs->max_count > 0 ? WEIR_MIN(cs->max_count, 100000) : 100000;
    int rc = key_offsets_fetch(cs, partition, limit, &body, &status);
    json_t *j = rc ? NULL : json_loadb((const char *)body.data, body.len, 0, NULL);
    json_t *arr = json_object_get(j, "offsets");
    if (rc == 0 && (status != 200 || !json_is_array(arr))) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        cli_err(cs->g, "%s", msg ? msg : "the admin API gave no key offsets");
        rc = status == 404 ? CLI_NOT_FOUND : CLI_ERROR;
    }
    *n = 0;
    *offs = NULL;
    if (rc == 0) {
        *offs = weir_calloc(json_array_size(arr) + 1, sizeof(**offs));
        for (size_t i = 0; i < json_array_size(arr); i++)
            (*offs)[(*n)++] = json_integer_value(json_array_get(arr, i));
    }
    json_decref(j);
    buf_deinit(&body);
    return rc;
}

/* Reads the record at each offset (a fetch each, no scan) and prints those of the key (the
 * cleaner may have removed one: the fetch then starts at a later record, not printed). */
static int run_key(consume_t *cs, int32_t partition, const int64_t *offs, size_t n)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(cs->c.rk, cs->topics[0], NULL);
    size_t klen = strlen(cs->key);
    bool started = n > 0 && rd_kafka_consume_start(rkt, partition, offs[0]) == 0;
    if (n > 0 && !started) {
        cli_err(cs->g, "reading %s/%" PRId32 ": %s", cs->topics[0], partition,
                rd_kafka_err2str(rd_kafka_last_error()));
        cs->exit_code = CLI_ERROR;
    }
    for (size_t i = 0; started && i < n && !cli_stop && !cs->out_broken && !cs->exit_code; i++) {
        /* one fetch at each offset: seek there (dropping what was prefetched) and take one */
        rd_kafka_resp_err_t err =
            i == 0 ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_seek(rkt, partition, offs[i], 10000);
        rd_kafka_message_t *m = err ? NULL : rd_kafka_consume(rkt, partition, 10000);
        if (!m || (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
            cli_err(cs->g, "%s/%" PRId32 " at %" PRId64 ": %s", cs->topics[0], partition, offs[i],
                    m     ? rd_kafka_message_errstr(m)
                    : err ? rd_kafka_err2str(err)
                          : "no answer in 10 s");
            cs->exit_code = CLI_ERROR;
        } else if (!m->err && m->offset == offs[i] && m->key && m->key_len == klen &&
                   memcmp(m->key, cs->key, klen) == 0)
            render(cs, m);
        if (m)
            rd_kafka_message_destroy(m);
    }
    if (started)
        rd_kafka_consume_stop(rkt, partition);
    out_flush(cs);
    rd_kafka_topic_destroy(rkt);
    return cs->exit_code;
}

static int consume_key(consume_t *cs)
{
    int32_t partition = cs->partition < 0 ? 0 : (int32_t)cs->partition;
    int64_t *offs;
    size_t n;
    int rc = key_offsets(cs, partition, &offs, &n);
    if (rc == 0 && (rc = consume_open(cs, 1)) == 0) {
        rc = run_key(cs, partition, offs, n);
        cli_client_close(&cs->c);
    }
    free(offs);
    return rc;
}

/* Without a group: partitions and offsets first, then the consumer sized for them. */
static int consume_simple(consume_t *cs)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int rc = simple_partitions(cs, &parts);
    if (rc == 0 && (rc = consume_open(cs, parts->cnt)) == 0) {
        rc = run_simple(cs, parts);
        cli_client_close(&cs->c);
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

int cli_consume_main(cli_global_t *g, int argc, char **argv)
{
    cli_set_cmd(g, "consume", NULL);
    consume_t *cs = weir_calloc(1, sizeof(*cs));
    cs->g = g;
    cs->partition = -1;
    cs->spec = (cli_offset_spec_t){CLI_OFF_START, 0};
    buf_init(&cs->out);
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = parse_flags(g, &a, cs);
    if (rc < 0)
        rc = cli_help_current(g);
    else if (rc == 0 && cs->key) {
        cli_signals_install();
        rc = consume_key(cs);
    } else if (rc == 0 && !cs->group) {
        cli_signals_install();
        rc = consume_simple(cs);
    } else if (rc == 0 && (rc = consume_open(cs, 0)) == 0) {
        cli_signals_install();
        if (cs->dry_run)
            fprintf(stderr, "weir consume: dry run: nothing is committed for group '%s'\n",
                    cs->group);
        rc = run_group(cs);
        cli_client_close(&cs->c);
    }
    cli_format_deinit(&cs->fmt);
    cli_decoder_free(cs->decoder);
    buf_deinit(&cs->dkey);
    buf_deinit(&cs->dval);
    buf_deinit(&cs->out);
    set_assigned(cs, NULL);
    free(cs->at_eof);
    free(cs->at_end);
    for (size_t i = 0; i < cs->nends; i++)
        free(cs->ends[i].topic);
    free(cs->ends);
    for (int i = 0; i < cs->nnames; i++)
        free(cs->names[i]);
    free(cs->names);
    free(cs->hdrs);
    free(cs);
    cli_args_deinit(&a);
    return rc;
}
