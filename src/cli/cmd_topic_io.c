/*
 * `weir topic export` and `weir topic import`: a topic's records as JSON lines and back, for
 * recording traffic and replaying it into a test. One object per record: partition, offset,
 * timestamp, timestamp_type, key, value and headers; bytes are a JSON string when they are
 * valid UTF-8, else base64 with "<field>_encoding":"base64" beside them; null stays null.
 *
 * Invariant: import writes nothing unless every line of the file is valid: it reads the file
 * twice, first only to check each line (and that its partition exists in the target topic),
 * then to produce, with an idempotent producer, so a partition's records keep their order.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { O_FROM = 1, O_TO, O_PARTITION };
/* A line of import: a record of Kafka's default 1 MiB max, base64-encoded, with room to spare;
 * the broker's own limit is what matters, this only keeps a runaway file out of memory. */
enum { IMPORT_LINE_BYTES_MAX = 64 << 20 };

/* ---- export ---------------------------------------------------------------------------------- */

static const char *timestamp_type_name(rd_kafka_timestamp_type_t t)
{
    switch (t) {
    case RD_KAFKA_TIMESTAMP_CREATE_TIME:
        return "create_time";
    case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME:
        return "log_append_time";
    default:
        return "none";
    }
}

static int export_one(void *arg, const rd_kafka_message_t *m)
{
    buf_t *out = arg;
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    buf_reset(out);
    buf_printf(out,
               "{\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"timestamp\":%" PRId64
               ",\"timestamp_type\":\"%s\",",
               m->partition, m->offset, ts, timestamp_type_name(tt));
    cli_json_bytes_field(out, "key", m->key, m->key ? (ssize_t)m->key_len : -1);
    buf_append_u8(out, ',');
    cli_json_bytes_field(out, "value", m->payload, m->payload ? (ssize_t)m->len : -1);
    buf_append_str(out, ",\"headers\":[");
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; i++) {
            buf_append_str(out, i ? ",{\"key\":" : "{\"key\":");
            cli_json_escape(out, name, strlen(name));
            buf_append_u8(out, ',');
            cli_json_bytes_field(out, "value", val, val ? (ssize_t)size : -1);
            buf_append_u8(out, '}');
        }
    }
    buf_append_str(out, "]}\n");
    if (fwrite(out->data, 1, out->len, stdout) != out->len)
        return CLI_ERROR; /* a closed pipe: nothing more to say to it */
    return 0;
}

static int export_parse(cli_global_t *g, cli_args_t *a, const char **from, const char **to,
                        int64_t *partition)
{
    static const cli_opt_t opts[] = {{0, "from", true, O_FROM},
                                     {0, "to", true, O_TO},
                                     {'p', "partition", true, O_PARTITION},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP)
            return -1;
        if (id == O_FROM)
            *from = arg;
        if (id == O_TO)
            *to = arg;
        if (id == O_PARTITION && cli_parse_i64(arg, 0, INT32_MAX, partition) != 0)
            return cli_usage_err(g, "-p wants a partition number, got '%s'", arg);
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos != 1)
        return cli_usage_err(g, "give exactly one topic");
    return 0;
}

/* The ends of the range: --to as an offset or a time (exclusive), else each high watermark. */
static int export_ends(cli_client_t *c, const rd_kafka_topic_partition_list_t *parts,
                       const cli_offset_spec_t *to, int64_t *high, int64_t *end)
{
    if (!to) {
        memcpy(end, high, (size_t)parts->cnt * sizeof(int64_t));
        return 0;
    }
    rd_kafka_topic_partition_list_t *e = rd_kafka_topic_partition_list_copy(parts);
    int rc = cli_offsets_resolve(c, e, to, NULL, NULL);
    for (int i = 0; rc == 0 && i < e->cnt; i++)
        end[i] = e->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(e);
    return rc;
}

int cli_topic_export(cli_global_t *g, int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    int64_t partition = -1, now = clock_wall_ms(), *low = NULL, *high = NULL, *end = NULL;
    cli_offset_spec_t from_spec = {CLI_OFF_START, 0}, to_spec;
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    cli_client_t c = {0};
    rd_kafka_topic_partition_list_t *parts = NULL;
    int rc = export_parse(g, &a, &from, &to, &partition);
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && from && cli_offset_spec_parse(from, now, &from_spec) != 0)
        rc = cli_usage_err(g, "--from wants an offset or a time, got '%s'", from);
    if (rc == 0 && to && cli_offset_spec_parse(to, now, &to_spec) != 0)
        rc = cli_usage_err(g, "--to wants an offset or a time, got '%s'", to);
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0)
        goto out;
    if ((rc = cli_topic_parts(&c, a.pos[0], partition, &parts, &low, &high)) != 0)
        goto out;
    end = weir_calloc((size_t)parts->cnt, sizeof(int64_t));
    if ((rc = cli_offsets_resolve(&c, parts, &from_spec, NULL, NULL)) != 0 ||
        (rc = export_ends(&c, parts, to ? &to_spec : NULL, high, end)) != 0)
        goto out;
    cli_client_close(&c);
    buf_t line;
    buf_init(&line);
    rc = cli_scan(g, parts, end, export_one, &line);
    buf_deinit(&line);
    if (fflush(stdout) != 0 && rc == 0)
        rc = CLI_ERROR;
out:
    free(low);
    free(high);
    free(end);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

/* ---- import ---------------------------------------------------------------------------------- */

/* One line, decoded. */
typedef struct {
    int32_t partition;
    int64_t timestamp;
    buf_t key, value;
    ssize_t key_len, value_len;
    rd_kafka_headers_t *hdrs;
} imp_rec_t;

/* o[name] into out: a string (as text, or base64 when o[name_encoding] says so) or null. */
static int bytes_get(json_t *o, const char *name, buf_t *out, ssize_t *len, char *why, size_t cap)
{
    char enc_name[64];
    snprintf(enc_name, sizeof(enc_name), "%s_encoding", name);
    json_t *v = json_object_get(o, name), *enc = json_object_get(o, enc_name);
    buf_reset(out);
    if (!v) {
        snprintf(why, cap, "no \"%s\" (give null for none)", name);
        return -1;
    }
    if (json_is_null(v)) {
        *len = -1;
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(why, cap, "\"%s\" must be a string or null", name);
        return -1;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!enc) {
        buf_append(out, s, n);
    } else if (!json_is_string(enc) || strcmp(json_string_value(enc), "base64") != 0) {
        snprintf(why, cap, "\"%s\" must be \"base64\" when given", enc_name);
        return -1;
    } else if (cli_base64_decode(out, s, n) != 0) {
        snprintf(why, cap, "\"%s\" is not valid base64", name);
        return -1;
    }
    *len = (ssize_t)out->len;
    return 0;
}

static int headers_get(json_t *o, imp_rec_t *r, char *why, size_t cap)
{
    json_t *hs = json_object_get(o, "headers"), *h;
    size_t i;
    if (!hs || json_is_null(hs))
        return 0;
    if (!json_is_array(hs)) {
        snprintf(why, cap, "\"headers\" must be an array");
        return -1;
    }
    buf_t val;
    buf_init(&val);
    r->hdrs = rd_kafka_headers_new(json_array_size(hs) + 1);
    json_array_foreach(hs, i, h)
    {
        ssize_t len;
        json_t *name = json_object_get(h, "key");
        char sub[200];
        if (!json_is_object(h) || !json_is_string(name)) {
            snprintf(why, cap, "header %zu: needs a \"key\" string", i + 1);
            goto fail;
        }
        if (bytes_get(h, "value", &val, &len, sub, sizeof(sub)) != 0) {
            snprintf(why, cap, "header %zu: %s", i + 1, sub);
            goto fail;
        }
        rd_kafka_header_add(r->hdrs, json_string_value(name), (ssize_t)json_string_length(name),
                            len >= 0 ? (val.data ? (const void *)val.data : "") : NULL,
                            len >= 0 ? len : 0);
    }
    buf_deinit(&val);
    return 0;
fail:
    buf_deinit(&val);
    return -1;
}

/* Decodes one line against a topic of nparts partitions. 0, or -1 with why. */
static int line_parse(const char *line, size_t n, int32_t nparts, imp_rec_t *r, char *why,
                      size_t cap)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    int rc = -1;
    json_t *p, *ts, *tt;
    if (!o || !json_is_object(o)) {
        snprintf(why, cap, "not a JSON object%s%s", o ? "" : ": ", o ? "" : jerr.text);
        goto out;
    }
    p = json_object_get(o, "partition");
    ts = json_object_get(o, "timestamp");
    tt = json_object_get(o, "timestamp_type");
    if (!json_is_integer(p) || json_integer_value(p) < 0) {
        snprintf(why, cap, "\"partition\" must be a number >= 0");
        goto out;
    }
    if (json_integer_value(p) >= nparts) {
        snprintf(why, cap, "partition %" JSON_INTEGER_FORMAT " but the topic has %" PRId32,
                 json_integer_value(p), nparts);
        goto out;
    }
    if (!json_is_integer(ts) || json_integer_value(ts) < 0) {
        snprintf(why, cap, "\"timestamp\" must be a number >= 0 (ms since the epoch)");
        goto out;
    }
    if (tt && !(json_is_string(tt) && (strcmp(json_string_value(tt), "create_time") == 0 ||
                                       strcmp(json_string_value(tt), "log_append_time") == 0 ||
                                       strcmp(json_string_value(tt), "none") == 0))) {
        snprintf(why, cap, "\"timestamp_type\" must be create_time, log_append_time or none");
        goto out;
    }
    r->partition = (int32_t)json_integer_value(p);
    r->timestamp = json_integer_value(ts);
    if (bytes_get(o, "key", &r->key, &r->key_len, why, cap) != 0 ||
        bytes_get(o, "value", &r->value, &r->value_len, why, cap) != 0 ||
        headers_get(o, r, why, cap) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0 && r->hdrs) {
        rd_kafka_headers_destroy(r->hdrs);
        r->hdrs = NULL;
    }
    json_decref(o);
    return rc;
}

/* Reads the file once: check only (s == NULL), or send each record. 0 or an exit code. */
static int import_pass(cli_global_t *g, FILE *f, const char *path, const char *topic,
                       int32_t nparts, cli_sender_t *s, int64_t *count)
{
    char *line = NULL, why[512];
    size_t cap = 0;
    ssize_t n;
    int64_t lineno = 0;
    int rc = 0;
    imp_rec_t r = {0};
    buf_init(&r.key);
    buf_init(&r.value);
    *count = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > IMPORT_LINE_BYTES_MAX) {
            cli_err(g, "%s line %" PRId64 ": longer than %d MiB; nothing was imported", path,
                    lineno, IMPORT_LINE_BYTES_MAX >> 20);
            rc = CLI_ERROR;
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue; /* blank lines carry nothing */
        if (line_parse(line, (size_t)n, nparts, &r, why, sizeof(why)) != 0) {
            cli_err(g, "%s line %" PRId64 ": %s; nothing was imported", path, lineno, why);
            rc = CLI_ERROR;
            break;
        }
        (*count)++;
        if (!s) {
            if (r.hdrs)
                rd_kafka_headers_destroy(r.hdrs);
        } else {
            rc = cli_sender_send(s, topic, r.partition, r.key.data, r.key_len, r.value.data,
                                 r.value_len, r.timestamp, r.hdrs);
        }
        r.hdrs = NULL;
    }
    if (rc == 0 && ferror(f)) {
        cli_err(g, "reading %s failed", path);
        rc = CLI_ERROR;
    }
    free(line);
    buf_deinit(&r.key);
    buf_deinit(&r.value);
    return rc;
}

static int import_run(cli_global_t *g, FILE *f, const char *path, const char *topic)
{
    cli_client_t c = {0};
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t *low = NULL, *high = NULL, count;
    int rc = cli_admin_open(&c, g);
    if (rc == 0)
        rc = cli_topic_parts(&c, topic, -1, &parts, &low, &high);
    cli_client_close(&c);
    int32_t nparts = parts ? parts->elems[parts->cnt - 1].partition + 1 : 0;
    free(low);
    free(high);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (rc != 0 || (rc = import_pass(g, f, path, topic, nparts, NULL, &count)) != 0)
        return rc;
    if (g->dry_run) {
        printf("would import %" PRId64 " records into %s\n", count, topic);
        return 0;
    }
    cli_sender_t s;
    rewind(f);
    if ((rc = cli_sender_open(&s, g)) != 0)
        return rc;
    rc = import_pass(g, f, path, topic, nparts, &s, &count);
    int frc = cli_sender_flush(&s);
    cli_sender_close(&s);
    if (rc == 0 && (rc = frc) == 0) {
        if (g->output == CLI_OUT_JSON)
            cli_json_print(json_pack("{s:s, s:I}", "topic", topic, "records", (json_int_t)count),
                           stdout);
        else
            printf("imported %" PRId64 " records into %s\n", count, topic);
    }
    return rc;
}

int cli_topic_import(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_none(&a);
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc != 0)
        goto out;
    if (a.npos != 2) {
        rc = cli_usage_err(g, "give a file and a topic: weir topic import FILE TOPIC");
        goto out;
    }
    FILE *f = fopen(a.pos[0], "r");
    if (!f) {
        cli_err(g, "cannot read %s: %s", a.pos[0], strerror(errno));
        rc = CLI_NOT_FOUND;
        goto out;
    }
    rc = import_run(g, f, a.pos[0], a.pos[1]);
    fclose(f);
out:
    cli_args_deinit(&a);
    return rc;
}
