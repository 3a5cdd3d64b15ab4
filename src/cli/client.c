/*
 * librdkafka set-up for the `weir` client commands: one rd_kafka_t per command with the
 * bootstrap servers and -X settings, a connection check that answers "broker down" in one line
 * and in bounded time, admin-result waiting, watermark and time lookups, offset-spec resolution,
 * and the Ctrl-C flag the streaming commands poll.
 *
 * Invariant: librdkafka's own log lines reach stderr only with -v; every failure a command
 * reports goes through cli_err() as one line, so scripts see exactly one line per error.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>

volatile sig_atomic_t cli_stop;

static void on_signal(int sig)
{
    if (cli_stop)
        signal(sig, SIG_DFL); /* a second Ctrl-C: the default action, now */
    cli_stop = 1;
}

void cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking read on stdin returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an EPIPE we handle, not a death */
}

void cli_json_print(json_t *j, FILE *f)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (s) {
        fputs(s, f);
        fputc('\n', f);
        free(s);
    }
    json_decref(j);
}

void cli_output_print(const cli_global_t *g, json_t *j, cli_table_t *t)
{
    if (g->output == CLI_OUT_JSON) {
        cli_json_print(j, stdout);
    } else {
        json_decref(j);
        cli_table_print(t, stdout);
    }
    cli_table_deinit(t);
}

void cli_print_status(const cli_global_t *g, const char *noun, char *const *names, int n,
                      const char *status)
{
    const char *hdr[] = {noun, "STATUS"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        cli_table_addf(&t, "%s\t%s", names[i], status);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "name", names[i], "status", status));
    }
    cli_output_print(g, arr, &t);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    cli_client_t *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        c->all_down++;
        return;
    }
    snprintf(c->last_error, sizeof(c->last_error), "%s", reason);
    if (c->g->verbose)
        fprintf(stderr, "weir: librdkafka: %s: %s\n", rd_kafka_err2name(err), reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *line)
{
    cli_client_t *c = rd_kafka_opaque(rk);
    if (c && c->g->verbose)
        fprintf(stderr, "weir: librdkafka %s %s: %s\n", rd_kafka_name(rk), fac, line);
}

static int conf_set(cli_client_t *c, rd_kafka_conf_t *conf, const char *k, const char *v, bool user)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return 0;
    if (user)
        return cli_usage_err(c->g, "bad -X %s=%s: %s", k, v, errstr);
    cli_err(c->g, "setting %s=%s: %s", k, v, errstr);
    return CLI_ERROR;
}

int cli_client_open(cli_client_t *c, cli_global_t *g, rd_kafka_type_t type, rd_kafka_conf_t *conf,
                    const char *const *kv)
{
    memset(c, 0, sizeof(*c));
    c->g = g;
    int rc = cli_global_resolve(g);
    if (rc != 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return rc;
    }
    if (!conf)
        conf = rd_kafka_conf_new();
    rc = conf_set(c, conf, "bootstrap.servers", g->brokers, false);
    if (rc == 0)
        rc = conf_set(c, conf, "client.id", "weir-cli", false);
    for (size_t i = 0; rc == 0 && kv && kv[i]; i += 2)
        rc = conf_set(c, conf, kv[i], kv[i + 1], false);
    for (size_t i = 0; rc == 0 && i < g->xconf_len; i++) {
        char *k, *v;
        if (cli_kv_split(g->xconf[i], &k, &v) != 0) {
            rc = cli_usage_err(g, "-X wants key=value, got '%s'", g->xconf[i]);
            break;
        }
        rc = conf_set(c, conf, k, v, true);
        free(k);
        free(v);
    }
    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    char errstr[512];
    c->rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        cli_err(g, "cannot create the Kafka client: %s", errstr);
        return CLI_ERROR;
    }
    c->q = rd_kafka_queue_new(c->rk);
    return 0;
}

int cli_admin_open(cli_client_t *c, cli_global_t *g)
{
    static const char *const kv[] = {"allow.auto.create.topics", "false", NULL};
    int rc = cli_client_open(c, g, RD_KAFKA_PRODUCER, NULL, kv);
    if (rc == 0 && (rc = cli_client_connect(c)) != 0)
        cli_client_close(c);
    return rc;
}

void cli_client_close(cli_client_t *c)
{
    if (c->opts)
        rd_kafka_AdminOptions_destroy(c->opts);
    c->opts = NULL;
    if (c->q)
        rd_kafka_queue_destroy(c->q);
    if (c->rk)
        rd_kafka_destroy(c->rk);
    c->q = NULL;
    c->rk = NULL;
}

/* "...Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)"
 * -> "Connection refused". */
static const char *short_reason(const char *reason, char *out, size_t n)
{
    const char *p = strstr(reason, "failed: ");
    if (!p)
        return reason;
    p += strlen("failed: ");
    const char *end = strstr(p, " (after");
    size_t len = end ? (size_t)(end - p) : strlen(p);
    snprintf(out, n, "%.*s", (int)len, p);
    return out;
}

int cli_client_connect(cli_client_t *c)
{
    int64_t deadline = clock_mono_ms() + c->g->timeout_ms;
    int slice_ms = 250;
    for (;;) {
        const struct rd_kafka_metadata *md;
        rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 0, NULL, &md, slice_ms);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
            return 0;
        }
        rd_kafka_poll(c->rk, 0); /* serve error callbacks */
        char tmp[256];
        if (c->all_down && c->last_error[0]) {
            cli_err(c->g, "cannot connect to %s: %s", c->g->brokers,
                    short_reason(c->last_error, tmp, sizeof(tmp)));
            return CLI_ERROR;
        }
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0 || cli_stop) {
            cli_err(c->g, "no answer from %s within %" PRId64 " ms%s%s", c->g->brokers,
                    c->g->timeout_ms, c->last_error[0] ? ": " : "", c->last_error);
            return CLI_ERROR;
        }
        slice_ms = (int)WEIR_MIN((int64_t)slice_ms * 2, left);
    }
}

int cli_client_metadata(cli_client_t *c, const rd_kafka_metadata_t **md)
{
    rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 1, NULL, md, (int)c->g->timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err(c->g, "metadata request to %s failed: %s", c->g->brokers, rd_kafka_err2str(err));
        return CLI_ERROR;
    }
    return 0;
}

const rd_kafka_metadata_topic_t *cli_metadata_topic(const rd_kafka_metadata_t *md, const char *name)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, name) == 0 &&
            md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            return &md->topics[i];
    return NULL;
}

bool cli_topic_internal(const char *name)
{
    return strncmp(name, "__", 2) == 0;
}

rd_kafka_AdminOptions_t *cli_admin_options(cli_client_t *c, rd_kafka_admin_op_t op)
{
    char errstr[256];
    if (c->opts)
        rd_kafka_AdminOptions_destroy(c->opts);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(c->rk, op);
    rd_kafka_AdminOptions_set_request_timeout(o, (int)c->g->timeout_ms, errstr, sizeof(errstr));
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS || op == RD_KAFKA_ADMIN_OP_DELETERECORDS)
        rd_kafka_AdminOptions_set_operation_timeout(o, (int)c->g->timeout_ms, errstr,
                                                    sizeof(errstr));
    /* --dry-run: the broker checks the request and changes nothing (Kafka's validateOnly). */
    if (c->g->dry_run &&
        (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS ||
         op == RD_KAFKA_ADMIN_OP_ALTERCONFIGS))
        rd_kafka_AdminOptions_set_validate_only(o, 1, errstr, sizeof(errstr));
    c->opts = o;
    return o;
}

int cli_kafka_exit(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR__UNKNOWN_GROUP:
        return CLI_NOT_FOUND;
    default:
        return CLI_ERROR;
    }
}

int cli_admin_result(cli_client_t *c, const char *what, rd_kafka_event_t **ev)
{
    /* The request times out inside librdkafka after --timeout; wait a little longer so its
     * own, more precise error arrives first. */
    *ev = rd_kafka_queue_poll(c->q, (int)c->g->timeout_ms + 2000);
    if (!*ev) {
        cli_err(c->g, "%s: no answer from %s within %" PRId64 " ms", what, c->g->brokers,
                c->g->timeout_ms);
        return CLI_ERROR;
    }
    rd_kafka_resp_err_t err = rd_kafka_event_error(*ev);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err(c->g, "%s failed: %s", what, rd_kafka_event_error_string(*ev));
        rd_kafka_event_destroy(*ev);
        *ev = NULL;
        return cli_kafka_exit(err);
    }
    return 0;
}

int cli_watermarks(cli_client_t *c, const char *topic, int32_t partition, int64_t *low,
                   int64_t *high)
{
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(c->rk, topic, partition, low, high, (int)c->g->timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_err(c->g, "reading the offsets of %s/%" PRId32 " failed: %s", topic, partition,
                rd_kafka_err2str(err));
        return cli_kafka_exit(err);
    }
    return 0;
}

/* For a time spec: the first offset at or after the time in each partition (-1 when none). */
static int offsets_for_time(cli_client_t *c, const rd_kafka_topic_partition_list_t *parts,
                            int64_t ms, int64_t *out)
{
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(parts);
    for (int i = 0; i < q->cnt; i++)
        q->elems[i].offset = ms;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(c->rk, q, (int)c->g->timeout_ms);
    for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < q->cnt; i++) {
        err = q->elems[i].err;
        out[i] = q->elems[i].offset;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        cli_err(c->g, "looking up offsets by time failed: %s", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(q);
    return err == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : cli_kafka_exit(err);
}

int cli_offsets_resolve(cli_client_t *c, rd_kafka_topic_partition_list_t *parts,
                        const cli_offset_spec_t *spec, int64_t *low, int64_t *high)
{
    size_t n = (size_t)parts->cnt;
    int64_t *lo = weir_calloc(n + 1, sizeof(int64_t)), *hi = weir_calloc(n + 1, sizeof(int64_t));
    int64_t *at = weir_calloc(n + 1, sizeof(int64_t));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = cli_watermarks(c, parts->elems[i].topic, parts->elems[i].partition, &lo[i], &hi[i]);
    if (rc == 0 && spec->kind == CLI_OFF_TIME)
        rc = offsets_for_time(c, parts, spec->value, at);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        parts->elems[i].offset = cli_offset_spec_resolve(spec, lo[i], hi[i], at[i]);
        if (low)
            low[i] = lo[i];
        if (high)
            high[i] = hi[i];
    }
    free(lo);
    free(hi);
    free(at);
    return rc;
}
