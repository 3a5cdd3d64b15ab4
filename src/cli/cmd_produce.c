/*
 * `weir produce <topic>`: reads records from stdin (a line each, or parsed by -f) and writes
 * them with librdkafka's producer.
 *
 * Invariant: memory stays bounded whatever the input size: the reader holds one record and one
 * read chunk, and librdkafka's queue is capped (queue.buffering.max.kbytes); when the queue is
 * full we serve delivery reports until there is room, so a fast pipe waits for the broker
 * instead of piling up. Ctrl-C stops reading; what was read is still delivered before exit.
 * The exit code says whether every record was acknowledged.
 *
 * A topic that does not exist is created by the broker (if it creates topics on first use),
 * unless a partition is named (-p, or %p in -f): a partition of a topic that is not there is a
 * mistake, and it must not leave a new topic behind. --dry-run parses the input and prints the
 * records it would send (JSON lines, as consume prints them) without connecting.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#define RECORD_BYTES_MAX (64u << 20)

enum { O_KEY = 1, O_HEADER, O_PARTITION, O_FORMAT, O_ACKS, O_COMPRESSION, O_DRY_RUN };

typedef struct {
    cli_global_t *g;
    const char *topic;
    const char *key;
    int64_t partition;
    const char *format;
    const char *acks;
    const char *compression;
    cli_header_t headers[32]; /* -H, on every record; name and value are heap copies */
    size_t nheaders;
    bool dry_run;
    bool explicit_partition; /* -p or %p: the topic must exist already */
    /* delivery */
    uint64_t sent, delivered, failed;
    rd_kafka_resp_err_t first_err;
    char first_errstr[256];
} produce_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    produce_t *p = m->_private;
    if (!p)
        return;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p->delivered++;
        return;
    }
    if (p->failed++ == 0) {
        p->first_err = m->err;
        snprintf(p->first_errstr, sizeof(p->first_errstr), "%s", rd_kafka_err2str(m->err));
    }
}

/* Reads stdin; returns EINTR (so the reader stops) once Ctrl-C was pressed. */
static ssize_t read_stdin(void *ctx, void *buf, size_t n)
{
    for (;;) {
        if (cli_stop) {
            errno = EINTR;
            return -1;
        }
        ssize_t got = read(STDIN_FILENO, buf, n);
        if (got >= 0 || errno != EINTR)
            return got;
    }
}

static int parse_flags(cli_global_t *g, cli_args_t *a, produce_t *p)
{
    static const cli_opt_t opts[] = {{'k', "key", true, O_KEY},
                                     {'H', "header", true, O_HEADER},
                                     {'p', "partition", true, O_PARTITION},
                                     {'f', "format", true, O_FORMAT},
                                     {0, "acks", true, O_ACKS},
                                     {'z', "compression", true, O_COMPRESSION},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    char *k, *v;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        switch (id) {
        case CLI_OPT_HELP:
            return -1;
        case O_KEY:
            p->key = arg;
            break;

        case O_FORMAT:
            p->format = arg;
            break;
        case O_COMPRESSION:
            if (strcmp(arg, "none") != 0 && strcmp(arg, "gzip") != 0 &&
                strcmp(arg, "snappy") != 0 && strcmp(arg, "lz4") != 0 && strcmp(arg, "zstd") != 0)
                return cli_usage_err(g, "-z wants none, gzip, snappy, lz4 or zstd, got '%s'", arg);
            p->compression = arg;
            break;
        case O_PARTITION:
            if (cli_parse_i64(arg, 0, INT32_MAX, &p->partition) != 0)
                return cli_usage_err(g, "-p wants a partition number, got '%s'", arg);
            break;
        case O_ACKS:
            if (strcmp(arg, "all") == 0 || strcmp(arg, "-1") == 0)
                p->acks = "-1";
            else if (strcmp(arg, "0") == 0 || strcmp(arg, "1") == 0)
                p->acks = arg;
            else
                return cli_usage_err(g, "--acks wants 0, 1 or all, got '%s'", arg);
            break;
        case O_HEADER:
            if (p->nheaders >= WEIR_ARRAY_LEN(p->headers) || cli_kv_split(arg, &k, &v) != 0)
                return cli_usage_err(g, "-H wants key=value, got '%s'", arg);
            p->headers[p->nheaders++] = (cli_header_t){k, strlen(k), v, (ssize_t)strlen(v)};
            break;
        }
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos != 1)
        return cli_usage_err(g, a->npos ? "give exactly one topic" : "which topic?");
    p->topic = a->pos[0];
    p->dry_run = g->dry_run;
    return 0;
}

/* Makes sure the topic exists, asking the broker to create it if it creates topics on first
 * use (Weir does by default) unless a partition is named (the producer is then set not to
 * create topics). Exit 3 when it neither has nor creates it, or lacks the -p partition. */
static int topic_check(cli_client_t *c, const produce_t *p)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, p->topic, NULL);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 0, rkt, &md, (int)c->g->timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err(c->g, "metadata request to %s failed: %s", c->g->brokers, rd_kafka_err2str(err));
        return CLI_ERROR;
    }
    err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    int nparts = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        if (p->explicit_partition)
            cli_err(c->g,
                    "topic '%s' not found; with a partition given it is not created (weir "
                    "topic create %s -p N, or leave out the partition)",
                    p->topic, p->topic);
        else
            cli_err(c->g, "topic '%s' not found (and the broker did not create it)", p->topic);
        return CLI_NOT_FOUND;
    }
    if (p->partition >= nparts) {
        cli_err(c->g, "topic '%s' has %d partition%s; there is no partition %" PRId64, p->topic,
                nparts, nparts == 1 ? "" : "s", p->partition);
        return CLI_NOT_FOUND;
    }
    return 0;
}

/* --dry-run: the record as it would go, one JSON line on stdout. */
static int dry_one(produce_t *p, const cli_record_t *rec)
{
    cli_header_t hs[32 + 64];
    size_t n = 0;
    for (size_t i = 0; i < p->nheaders && n < WEIR_ARRAY_LEN(hs); i++)
        hs[n++] = p->headers[i];
    for (size_t i = 0; i < rec->header_count && n < WEIR_ARRAY_LEN(hs); i++)
        hs[n++] = rec->headers[i];
    cli_record_t r = *rec;
    r.headers = hs;
    r.header_count = n;
    r.offset = -1;
    buf_t out = {0};
    cli_record_render_json(&r, &out);
    fwrite(out.data, 1, out.len, stdout);
    buf_deinit(&out);
    p->sent++;
    return 0;
}

static int produce_one(cli_client_t *c, produce_t *p, const cli_record_t *rec)
{
    char topic[256];
    if (rec->topic_len == 0 || rec->topic_len >= sizeof(topic)) {
        cli_err(p->g, "record %" PRIu64 ": bad topic name length %zu", p->sent + 1, rec->topic_len);
        return CLI_ERROR;
    }
    memcpy(topic, rec->topic, rec->topic_len);
    topic[rec->topic_len] = '\0';
    rd_kafka_headers_t *hdrs = NULL;
    if (rec->header_count + p->nheaders > 0) {
        hdrs = rd_kafka_headers_new(rec->header_count + p->nheaders);
        for (size_t i = 0; i < p->nheaders; i++)
            rd_kafka_header_add(hdrs, p->headers[i].name, (ssize_t)p->headers[i].name_len,
                                p->headers[i].value, p->headers[i].value_len);
        for (size_t i = 0; i < rec->header_count; i++) /* -H first, then the record's (%h) */
            rd_kafka_header_add(hdrs, rec->headers[i].name, (ssize_t)rec->headers[i].name_len,
                                rec->headers[i].value, rec->headers[i].value_len);
    }
    /* A length of -1 is null: librdkafka takes a NULL pointer for that. */
    const void *key = rec->key_len >= 0 ? rec->key : NULL;
    void *value = rec->value_len >= 0 ? (void *)rec->value : NULL;
    size_t key_len = rec->key_len >= 0 ? (size_t)rec->key_len : 0;
    size_t value_len = rec->value_len >= 0 ? (size_t)rec->value_len : 0;
    int32_t partition = rec->partition >= 0 ? rec->partition : RD_KAFKA_PARTITION_UA;
    int64_t ts = rec->timestamp_ms >= 0 ? rec->timestamp_ms : 0;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            c->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->sent++;
            rd_kafka_poll(c->rk, 0);
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            cli_err(p->g, "record %" PRIu64 ": %s", p->sent + 1, rd_kafka_err2str(err));
            return cli_kafka_exit(err);
        }
        rd_kafka_poll(c->rk, 100); /* the queue is full: wait for deliveries to make room */
    }
}

static int produce_loop(cli_client_t *c, produce_t *p, const cli_format_t *fmt)
{
    cli_reader_t r;
    cli_reader_init(&r, read_stdin, NULL, RECORD_BYTES_MAX);
    int rc = 0;
    char err[256];
    /* What a record is when the format does not say: -k, -p, the topic argument. */
    cli_record_t dflt = {.topic = p->topic,
                         .topic_len = strlen(p->topic),
                         .partition = (int32_t)p->partition,
                         .timestamp_ms = -1,
                         .key = p->key,
                         .key_len = p->key ? (ssize_t)strlen(p->key) : -1,
                         .value = NULL,
                         .value_len = -1,
                         .headers = NULL,
                         .header_count = 0};
    for (;;) {
        cli_record_t rec = dflt;
        int got = cli_format_read(fmt, &r, &rec, err, sizeof(err));
        if (got == 0 || got == -WEIR_ECLOSED)
            break;
        if (got < 0) {
            cli_err(p->g, "input record %" PRIu64 ": %s", p->sent + 1, err);
            rc = CLI_ERROR;
            break;
        }
        if ((rc = p->dry_run ? dry_one(p, &rec) : produce_one(c, p, &rec)) != 0)
            break;
    }
    cli_reader_deinit(&r);
    return rc;
}

/* Waits until every record is delivered or failed (message.timeout.ms bounds it). */
static void produce_flush(cli_client_t *c)
{
    while (rd_kafka_outq_len(c->rk) > 0)
        rd_kafka_flush(c->rk, 500);
}

static rd_kafka_conf_t *produce_conf(produce_t *p)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    return conf;
}

int cli_produce_main(cli_global_t *g, int argc, char **argv)
{
    cli_set_cmd(g, "produce", NULL);
    produce_t p = {.g = g, .partition = -1, .format = "%v\\n", .acks = "-1", .compression = "none"};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    cli_format_t fmt = {0};
    cli_client_t c = {0};
    char err[256];
    int rc = parse_flags(g, &a, &p);
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc != 0)
        goto out;
    if (cli_format_parse(&fmt, p.format, true, err, sizeof(err)) != 0) {
        rc = cli_usage_err(g, "bad -f format: %s", err);
        goto out;
    }
    for (size_t i = 0; i < fmt.ntoks; i++)
        p.explicit_partition |= fmt.toks[i].kind == CLI_TOK_PARTITION;
    p.explicit_partition |= p.partition >= 0;
    if (p.dry_run) {
        rc = produce_loop(NULL, &p, &fmt);
        fprintf(stderr, "weir produce: dry run: %" PRIu64 " records parsed, none sent\n", p.sent);
        goto out;
    }
    const char *const kv[] = {"allow.auto.create.topics",
                              p.explicit_partition ? "false" : "true",
                              "acks",
                              p.acks,
                              "compression.codec",
                              p.compression,
                              "queue.buffering.max.kbytes",
                              "32768",
                              "message.timeout.ms",
                              "30000",
                              NULL};
    if ((rc = cli_client_open(&c, g, RD_KAFKA_PRODUCER, produce_conf(&p), kv)) != 0)
        goto out;
    if ((rc = cli_client_connect(&c)) != 0 || (rc = topic_check(&c, &p)) != 0)
        goto out;
    cli_signals_install();
    rc = produce_loop(&c, &p, &fmt);
    produce_flush(&c);
    if (p.failed > 0) {
        cli_err(g, "%" PRIu64 " of %" PRIu64 " records failed: %s", p.failed, p.sent,
                p.first_errstr);
        rc = WEIR_MAX(rc, cli_kafka_exit(p.first_err));
    }
    if (g->verbose)
        fprintf(stderr, "weir produce: %" PRIu64 " records delivered\n", p.delivered);
out:
    if (c.rk)
        cli_client_close(&c);
    cli_format_deinit(&fmt);
    for (size_t i = 0; i < p.nheaders; i++) {
        free((void *)p.headers[i].name);
        free((void *)p.headers[i].value);
    }
    cli_args_deinit(&a);
    return rc;
}
