/*
 * `weir topic`: create, list, describe, delete, alter-config, add-partitions, trim. Each is one
 * or two admin requests through librdkafka (CreateTopics, Metadata, DescribeConfigs,
 * DeleteTopics, AlterConfigs, CreatePartitions, ListOffsets, DeleteRecords), so they work
 * against any Kafka-compatible broker.
 *
 * Invariant: a command that names a topic checks it exists (exit 3 otherwise) before it asks
 * anything or changes anything; destructive ones ask on a terminal and need --yes otherwise.
 * Output rows are sorted (topics by name, partitions by id) so tables and JSON are stable.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_topic(const void *a, const void *b)
{
    return strcmp((*(const rd_kafka_metadata_topic_t *const *)a)->topic,
                  (*(const rd_kafka_metadata_topic_t *const *)b)->topic);
}

static int cmp_partition(const void *a, const void *b)
{
    const rd_kafka_metadata_partition_t *x = *(const rd_kafka_metadata_partition_t *const *)a;
    const rd_kafka_metadata_partition_t *y = *(const rd_kafka_metadata_partition_t *const *)b;
    return (x->id > y->id) - (x->id < y->id);
}

static int replication_factor(const rd_kafka_metadata_topic_t *t)
{
    int rf = 0;
    for (int i = 0; i < t->partition_cnt; i++)
        rf = WEIR_MAX(rf, t->partitions[i].replica_cnt);
    return rf;
}

/* Checks every named topic exists; prints the first missing one. */
static int topics_exist(cli_client_t *c, const rd_kafka_metadata_t *md, char **names, int n)
{
    for (int i = 0; i < n; i++) {
        if (!cli_metadata_topic(md, names[i])) {
            cli_err(c->g, "topic '%s' not found", names[i]);
            return CLI_NOT_FOUND;
        }
    }
    return 0;
}

/* Why a topic of a create, delete or add-partitions request failed, in one line. */
static const char *topic_result_why(const rd_kafka_topic_result_t *r)
{
    const char *msg = rd_kafka_topic_result_error_string(r);
    return msg && *msg ? msg : rd_kafka_err2str(rd_kafka_topic_result_error(r));
}

/* Prints the per-name outcome of create / delete: a NAME STATUS table or JSON. */
static void print_status(const cli_global_t *g, char **names, const char **status,
                         const char **errors, int n)
{
    if (g->output == CLI_OUT_JSON) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s?}", "name", names[i], "status",
                                                 status[i], "error", errors[i]));
        cli_json_print(arr, stdout);
        return;
    }
    static const char *const hdr[] = {"TOPIC", "STATUS"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    t.shrinkable = 1u << 1;
    for (int i = 0; i < n; i++)
        cli_table_addf(&t, "%s\t%s%s%s", names[i], status[i], errors[i] ? ": " : "",
                       errors[i] ? errors[i] : "");
    cli_table_print(&t, stdout);
    cli_table_deinit(&t);
}

/* ---- create -----------------------------------------------------------------------------------
 */

enum {
    O_PARTITIONS = 1,
    O_REPLICAS,
    O_CONFIG,
    O_IF_NOT_EXISTS,
    O_INTERNAL,
    O_QUIET,
    O_YES,
    O_SET,
    O_DELETE,
    O_NUM,
    O_BEFORE,
    O_PARTITION,
    O_COUNT
};

typedef struct {
    int64_t partitions, replicas;
    char *keys[CLI_XCONF_MAX], *values[CLI_XCONF_MAX];
    size_t nconf;
    bool if_not_exists;
} create_args_t;

static int create_parse(cli_global_t *g, cli_args_t *a, create_args_t *ca)
{
    static const cli_opt_t opts[] = {{'p', "partitions", true, O_PARTITIONS},
                                     {'r', "replicas", true, O_REPLICAS},
                                     {'c', "config", true, O_CONFIG},
                                     {0, "if-not-exists", false, O_IF_NOT_EXISTS},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        switch (id) {
        case CLI_OPT_HELP:
            return -1;
        case O_PARTITIONS:
            if (cli_parse_i64(arg, 1, 1000000, &ca->partitions) != 0)
                return cli_usage_err(g, "-p wants a partition count >= 1, got '%s'", arg);
            break;
        case O_REPLICAS:
            if (cli_parse_i64(arg, 1, 1000, &ca->replicas) != 0)
                return cli_usage_err(g, "-r wants a replication factor >= 1, got '%s'", arg);
            break;
        case O_CONFIG:
            if (ca->nconf >= CLI_XCONF_MAX ||
                cli_kv_split(arg, &ca->keys[ca->nconf], &ca->values[ca->nconf]) != 0)
                return cli_usage_err(g, "-c wants key=value, got '%s'", arg);
            ca->nconf++;
            break;
        case O_IF_NOT_EXISTS:
            ca->if_not_exists = true;
            break;
        }
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos < 1)
        return cli_usage_err(g, "which topic? give at least one name");
    return 0;
}

static int create_send(cli_client_t *c, const create_args_t *ca, char **names, int n,
                       rd_kafka_event_t **ev)
{
    char errstr[256];
    rd_kafka_NewTopic_t **nt = weir_calloc((size_t)n, sizeof(*nt));
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        nt[i] =
            rd_kafka_NewTopic_new(names[i], ca->partitions ? (int)ca->partitions : -1,
                                  ca->replicas ? (int)ca->replicas : -1, errstr, sizeof(errstr));
        if (!nt[i]) {
            rc = cli_usage_err(c->g, "topic '%s': %s", names[i], errstr);
            break;
        }
        for (size_t j = 0; j < ca->nconf; j++)
            rd_kafka_NewTopic_set_config(nt[i], ca->keys[j], ca->values[j]);
    }
    if (rc == 0) {
        rd_kafka_CreateTopics(c->rk, nt, (size_t)n,
                              cli_admin_options(c, RD_KAFKA_ADMIN_OP_CREATETOPICS), c->q);
        rc = cli_admin_result(c, "creating topics", ev);
    }
    for (int i = 0; i < n; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return rc;
}

/* The topic results of create and delete, matched back to the names given. */
static int topic_results(cli_global_t *g, const rd_kafka_topic_result_t **res, size_t nres,
                         char **names, int n, const char *ok_status, bool exists_ok)
{
    const char **status = weir_calloc((size_t)n, sizeof(char *));
    const char **errors = weir_calloc((size_t)n, sizeof(char *));
    int worst = CLI_OK;
    for (int i = 0; i < n; i++) {
        status[i] = "unknown";
        for (size_t j = 0; j < nres; j++) {
            if (strcmp(rd_kafka_topic_result_name(res[j]), names[i]) != 0)
                continue;
            rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[j]);
            status[i] = ok_status;
            if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && exists_ok) {
                status[i] = "exists";
            } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                status[i] = "failed";
                errors[i] = topic_result_why(res[j]);
                cli_err(g, "topic '%s': %s", names[i], errors[i]);
                int code = cli_kafka_exit(err);
                worst = WEIR_MAX(worst, code);
            }
        }
    }
    print_status(g, names, status, errors, n);
    free(status);
    free(errors);
    return worst;
}

static int topic_create(cli_global_t *g, int argc, char **argv)
{
    create_args_t ca = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = create_parse(g, &a, &ca);
    cli_client_t c = {0};
    rd_kafka_event_t *ev = NULL;
    if (rc < 0)
        rc = cli_help_current(g);
    else if (rc == 0 && (rc = cli_admin_open(&c, g)) == 0 &&
             (rc = create_send(&c, &ca, a.pos, a.npos, &ev)) == 0) {
        size_t nres;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
        rc = topic_results(g, res, nres, a.pos, a.npos,
                           g->dry_run ? "would be created (dry run)" : "created", ca.if_not_exists);
    }
    rd_kafka_event_destroy(ev);
    cli_client_close(&c);
    cli_kv_free(ca.keys, ca.values, ca.nconf);
    cli_args_deinit(&a);
    return rc;
}

/* ---- list ------------------------------------------------------------------------------------ */

static int topic_list(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {
        {0, "internal", false, O_INTERNAL}, {'q', "quiet", false, O_QUIET}, {0, NULL, false, 0}};
    bool seen[O_COUNT] = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_switches(&a, opts, seen);
    int npos = a.npos;
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    if (npos > 0)
        return cli_usage_err(g, "takes no arguments");
    bool internal = seen[O_INTERNAL], quiet = seen[O_QUIET];

    cli_client_t c;
    const rd_kafka_metadata_t *md;
    if ((rc = cli_admin_open(&c, g)) != 0)
        return rc;
    if ((rc = cli_client_metadata(&c, &md)) != 0) {
        cli_client_close(&c);
        return rc;
    }
    const rd_kafka_metadata_topic_t **ts = weir_calloc((size_t)md->topic_cnt + 1, sizeof(*ts));
    size_t n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (internal || !cli_topic_internal(md->topics[i].topic))
            ts[n++] = &md->topics[i];
    qsort(ts, n, sizeof(*ts), cmp_topic);

    if (quiet) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", ts[i]->topic);
    } else if (g->output == CLI_OUT_JSON) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:b}", "name", ts[i]->topic,
                                                 "partition_count", ts[i]->partition_cnt,
                                                 "replication_factor", replication_factor(ts[i]),
                                                 "internal", cli_topic_internal(ts[i]->topic)));
        cli_json_print(arr, stdout);
    } else {
        static const char *const hdr[] = {"NAME", "PARTITIONS", "REPLICAS"};
        cli_table_t t;
        cli_table_init(&t, 3, hdr);
        t.shrinkable = 1;
        for (size_t i = 0; i < n; i++)
            cli_table_addf(&t, "%s\t%d\t%d", ts[i]->topic, ts[i]->partition_cnt,
                           replication_factor(ts[i]));
        cli_table_print(&t, stdout);
        cli_table_deinit(&t);
    }
    free(ts);
    rd_kafka_metadata_destroy(md);
    cli_client_close(&c);
    return CLI_OK;
}

/* ---- describe -------------------------------------------------------------------------------- */

/* The one-resource answer of DescribeConfigs and AlterConfigs: 0, or the exit code after
 * saying "<what> '<topic>' failed: why". */
static int config_answer(cli_client_t *c, const char *what, const char *topic,
                         const rd_kafka_ConfigResource_t **rs, size_t nres)
{
    rd_kafka_resp_err_t err =
        nres ? rd_kafka_ConfigResource_error(rs[0]) : RD_KAFKA_RESP_ERR__BAD_MSG;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    const char *msg = nres ? rd_kafka_ConfigResource_error_string(rs[0]) : NULL;
    cli_err(c->g, "%s '%s' failed: %s", what, topic, msg && *msg ? msg : rd_kafka_err2str(err));
    return cli_kafka_exit(err);
}

/* DescribeConfigs for one topic. On success *ev holds the result (the entries live in it). */
static int describe_configs(cli_client_t *c, const char *topic, rd_kafka_event_t **ev,
                            const rd_kafka_ConfigEntry_t ***entries, size_t *n)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_DescribeConfigs(c->rk, &res, 1,
                             cli_admin_options(c, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS), c->q);
    rd_kafka_ConfigResource_destroy(res);
    int rc = cli_admin_result(c, "describing topic settings", ev);
    if (rc != 0)
        return rc;
    size_t nres;
    const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(*ev), &nres);
    if ((rc = config_answer(c, "describing settings of", topic, rs, nres)) != 0) {
        rd_kafka_event_destroy(*ev);
        *ev = NULL;
        return rc;
    }
    *entries = (const rd_kafka_ConfigEntry_t **)rd_kafka_ConfigResource_configs(rs[0], n);
    return 0;
}

typedef struct {
    const rd_kafka_metadata_partition_t *p;
    int64_t low, high;
} part_info_t;

static json_t *json_ids(const int32_t *ids, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_integer(ids[i]));
    return arr;
}

static char *ids_str(const int32_t *ids, int n)
{
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s%" PRId32, i ? "," : "", ids[i]);
    buf_append_u8(&b, '\0');
    return (char *)b.data;
}

static void describe_json(const rd_kafka_metadata_topic_t *t, part_info_t *pi,
                          const rd_kafka_ConfigEntry_t **ce, size_t nce)
{
    json_t *configs = json_array(), *parts = json_array();
    for (size_t i = 0; i < nce; i++) {
        const char *v = rd_kafka_ConfigEntry_value(ce[i]);
        json_array_append_new(
            configs, json_pack("{s:s, s:s?, s:s, s:b, s:b, s:b}", "name",
                               rd_kafka_ConfigEntry_name(ce[i]), "value", v, "source",
                               rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(ce[i])),
                               "default", rd_kafka_ConfigEntry_is_default(ce[i]) == 1, "read_only",
                               rd_kafka_ConfigEntry_is_read_only(ce[i]) == 1, "sensitive",
                               rd_kafka_ConfigEntry_is_sensitive(ce[i]) == 1));
    }
    for (int i = 0; i < t->partition_cnt; i++) {
        const rd_kafka_metadata_partition_t *p = pi[i].p;
        json_array_append_new(
            parts, json_pack("{s:i, s:i, s:o, s:o, s:I, s:I}", "partition", p->id, "leader",
                             p->leader, "replicas", json_ids(p->replicas, p->replica_cnt), "isr",
                             json_ids(p->isrs, p->isr_cnt), "log_start_offset",
                             (json_int_t)pi[i].low, "high_watermark", (json_int_t)pi[i].high));
    }
    cli_json_print(json_pack("{s:s, s:b, s:i, s:i, s:o, s:o}", "name", t->topic, "internal",
                             cli_topic_internal(t->topic), "partition_count", t->partition_cnt,
                             "replication_factor", replication_factor(t), "configs", configs,
                             "partitions", parts),
                   stdout);
}

/* Table-friendly names of librdkafka's config sources (JSON keeps librdkafka's names). */
static const char *source_short(rd_kafka_ConfigSource_t src)
{
    switch (src) {
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG:
        return "topic";
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG:
        return "broker";
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG:
        return "cluster";
    case RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG:
        return "broker-file";
    case RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG:
        return "default";
    default:
        return "unknown";
    }
}

static void describe_table(const rd_kafka_metadata_topic_t *t, part_info_t *pi,
                           const rd_kafka_ConfigEntry_t **ce, size_t nce, bool show_parts)
{
    printf("%-12s%s\n%-12s%s\n%-12s%d\n%-12s%d\n\n", "NAME", t->topic, "INTERNAL",
           cli_topic_internal(t->topic) ? "true" : "false", "PARTITIONS", t->partition_cnt,
           "REPLICAS", replication_factor(t));
    cli_table_t tab;
    if (show_parts) {
        static const char *const hdr[] = {"PARTITION", "LEADER",    "REPLICAS",
                                          "ISR",       "LOG-START", "HIGH-WATERMARK"};
        cli_table_init(&tab, 6, hdr);
        tab.shrinkable = 1u << 2 | 1u << 3;
        for (int i = 0; i < t->partition_cnt; i++) {
            const rd_kafka_metadata_partition_t *p = pi[i].p;
            char *r = ids_str(p->replicas, p->replica_cnt), *isr = ids_str(p->isrs, p->isr_cnt);
            cli_table_addf(&tab, "%" PRId32 "\t%" PRId32 "\t%s\t%s\t%" PRId64 "\t%" PRId64, p->id,
                           p->leader, r, isr, pi[i].low, pi[i].high);
            free(r);
            free(isr);
        }
    } else {
        static const char *const hdr[] = {"CONFIG", "VALUE", "SOURCE"};
        cli_table_init(&tab, 3, hdr);
        tab.shrinkable = 1u << 1;
        for (size_t i = 0; i < nce; i++) {
            const char *v = rd_kafka_ConfigEntry_value(ce[i]);
            cli_table_addf(&tab, "%s\t%s\t%s", rd_kafka_ConfigEntry_name(ce[i]),
                           v ? v
                             : (rd_kafka_ConfigEntry_is_sensitive(ce[i]) == 1 ? "(hidden)" : "-"),
                           source_short(rd_kafka_ConfigEntry_source(ce[i])));
        }
    }
    cli_table_print(&tab, stdout);
    cli_table_deinit(&tab);
}

static int topic_describe(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {{'p', "partitions", false, O_PARTITIONS}, {0, NULL, false, 0}};
    bool seen[O_COUNT] = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_switches(&a, opts, seen);
    const char *name = a.npos == 1 ? a.pos[0] : NULL;
    int npos = a.npos;
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    if (npos != 1)
        return cli_usage_err(g, "give exactly one topic");

    cli_client_t c;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_event_t *ev = NULL;
    part_info_t *pi = NULL;
    if ((rc = cli_admin_open(&c, g)) != 0)
        return rc;
    if ((rc = cli_client_metadata(&c, &md)) != 0)
        goto out;
    const rd_kafka_metadata_topic_t *t = cli_metadata_topic(md, name);
    if (!t) {
        cli_err(g, "topic '%s' not found", name);
        rc = CLI_NOT_FOUND;
        goto out;
    }
    pi = weir_calloc((size_t)t->partition_cnt + 1, sizeof(*pi));
    const rd_kafka_metadata_partition_t **ps =
        weir_calloc((size_t)t->partition_cnt + 1, sizeof(*ps));
    for (int i = 0; i < t->partition_cnt; i++)
        ps[i] = &t->partitions[i];
    qsort(ps, (size_t)t->partition_cnt, sizeof(*ps), cmp_partition);
    for (int i = 0; i < t->partition_cnt && rc == 0; i++) {
        pi[i].p = ps[i];
        rc = cli_watermarks(&c, name, ps[i]->id, &pi[i].low, &pi[i].high);
    }
    free(ps);
    const rd_kafka_ConfigEntry_t **ce = NULL;
    size_t nce = 0;
    if (rc == 0)
        rc = describe_configs(&c, name, &ev, &ce, &nce);
    if (rc == 0 && g->output == CLI_OUT_JSON)
        describe_json(t, pi, ce, nce);
    else if (rc == 0)
        describe_table(t, pi, ce, nce, seen[O_PARTITIONS]);
out:
    free(pi);
    rd_kafka_event_destroy(ev);
    if (md)
        rd_kafka_metadata_destroy(md);
    cli_client_close(&c);
    return rc;
}

/* ---- delete ---------------------------------------------------------------------------------- */

static int delete_run(cli_client_t *c, char **names, int n)
{
    rd_kafka_DeleteTopic_t **dt = weir_calloc((size_t)n, sizeof(*dt));
    for (int i = 0; i < n; i++)
        dt[i] = rd_kafka_DeleteTopic_new(names[i]);
    rd_kafka_DeleteTopics(c->rk, dt, (size_t)n,
                          cli_admin_options(c, RD_KAFKA_ADMIN_OP_DELETETOPICS), c->q);
    rd_kafka_DeleteTopic_destroy_array(dt, (size_t)n);
    free(dt);
    rd_kafka_event_t *ev;
    int rc = cli_admin_result(c, "deleting topics", &ev);
    if (rc != 0)
        return rc;
    size_t nres;
    const rd_kafka_topic_result_t **res =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &nres);
    rc = topic_results(c->g, res, nres, names, n, "deleted", false);
    rd_kafka_event_destroy(ev);
    return rc;
}

static int topic_delete(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {{'y', "yes", false, O_YES}, {0, NULL, false, 0}};
    bool seen[O_COUNT] = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_switches(&a, opts, seen);
    cli_client_t c = {0};
    const rd_kafka_metadata_t *md = NULL;
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && a.npos < 1)
        rc = cli_usage_err(g, "which topic? give at least one name");
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0)
        goto out;
    if ((rc = cli_client_metadata(&c, &md)) != 0 || (rc = topics_exist(&c, md, a.pos, a.npos)))
        goto out;
    qsort(a.pos, (size_t)a.npos, sizeof(char *), cmp_str);
    if (g->dry_run) {
        cli_print_status(g, "TOPIC", a.pos, a.npos, "would be deleted (dry run)");
        goto out;
    }
    rc = cli_confirm_names(g, seen[O_YES], "delete", "topic", a.pos, a.npos, " and all its records",
                           " and all their records");
    if (rc == 0)
        rc = delete_run(&c, a.pos, a.npos);
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

/* ---- alter-config ---------------------------------------------------------------------------- */

typedef struct {
    char *sets_k[CLI_XCONF_MAX], *sets_v[CLI_XCONF_MAX];
    size_t nsets;
    const char *dels[CLI_XCONF_MAX];
    size_t ndels;
} alter_args_t;

static const rd_kafka_ConfigEntry_t *entry_find(const rd_kafka_ConfigEntry_t **ce, size_t n,
                                                const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rd_kafka_ConfigEntry_name(ce[i]), name) == 0)
            return ce[i];
    return NULL;
}

static bool alter_deleted(const alter_args_t *aa, const char *name)
{
    for (size_t i = 0; i < aa->ndels; i++)
        if (strcmp(aa->dels[i], name) == 0)
            return true;
    for (size_t i = 0; i < aa->nsets; i++)
        if (strcmp(aa->sets_k[i], name) == 0)
            return true; /* replaced by the new value */
    return false;
}

/* AlterConfigs replaces a topic's whole set of settings (librdkafka 2.0 has no incremental
 * variant), so the request carries every setting made on the topic that stays, plus the new
 * ones. A concurrent change by someone else between the read and the write is lost. */
static int alter_send(cli_client_t *c, const char *topic, const alter_args_t *aa,
                      const rd_kafka_ConfigEntry_t **ce, size_t nce)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    for (size_t i = 0; i < nce; i++) {
        const char *name = rd_kafka_ConfigEntry_name(ce[i]);
        if (rd_kafka_ConfigEntry_source(ce[i]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG &&
            !alter_deleted(aa, name))
            rd_kafka_ConfigResource_set_config(res, name, rd_kafka_ConfigEntry_value(ce[i]));
    }
    for (size_t i = 0; i < aa->nsets; i++)
        rd_kafka_ConfigResource_set_config(res, aa->sets_k[i], aa->sets_v[i]);
    rd_kafka_AlterConfigs(c->rk, &res, 1, cli_admin_options(c, RD_KAFKA_ADMIN_OP_ALTERCONFIGS),
                          c->q);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_event_t *ev;
    int rc = cli_admin_result(c, "changing topic settings", &ev);
    if (rc != 0)
        return rc;
    size_t nres;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &nres);
    rc = config_answer(c, "changing settings of", topic, rs, nres);
    rd_kafka_event_destroy(ev);
    return rc;
}

static void alter_print(const cli_global_t *g, const char *topic, const alter_args_t *aa,
                        const rd_kafka_ConfigEntry_t **before, size_t nb,
                        const rd_kafka_ConfigEntry_t **after, size_t na)
{
    static const char *const hdr[] = {"CONFIG", "OLD", "NEW"};
    cli_table_t t;
    json_t *changes = json_array();
    cli_table_init(&t, 3, hdr);
    t.shrinkable = 1u << 1 | 1u << 2;
    for (size_t i = 0; i < aa->nsets + aa->ndels; i++) {
        const char *name = i < aa->nsets ? aa->sets_k[i] : aa->dels[i - aa->nsets];
        const rd_kafka_ConfigEntry_t *b = entry_find(before, nb, name);
        const rd_kafka_ConfigEntry_t *a = entry_find(after, na, name);
        const char *ov = b ? rd_kafka_ConfigEntry_value(b) : NULL;
        const char *nv = a ? rd_kafka_ConfigEntry_value(a) : NULL;
        cli_table_addf(&t, "%s\t%s\t%s", name, ov ? ov : "-", nv ? nv : "-");
        json_array_append_new(changes,
                              json_pack("{s:s, s:s?, s:s?}", "name", name, "old", ov, "new", nv));
    }
    cli_output_print(g, json_pack("{s:s, s:o}", "name", topic, "changes", changes), &t);
}

/* --dry-run: the old values and the ones asked for ("(default)" for a --delete). */
static void alter_print_planned(const cli_global_t *g, const char *topic, const alter_args_t *aa,
                                const rd_kafka_ConfigEntry_t **before, size_t nb)
{
    static const char *const hdr[] = {"CONFIG", "OLD", "NEW (DRY RUN)"};
    cli_table_t t;
    json_t *changes = json_array();
    cli_table_init(&t, 3, hdr);
    t.shrinkable = 1u << 1 | 1u << 2;
    for (size_t i = 0; i < aa->nsets + aa->ndels; i++) {
        const char *name = i < aa->nsets ? aa->sets_k[i] : aa->dels[i - aa->nsets];
        const rd_kafka_ConfigEntry_t *b = entry_find(before, nb, name);
        const char *ov = b ? rd_kafka_ConfigEntry_value(b) : NULL;
        const char *nv = i < aa->nsets ? aa->sets_v[i] : NULL;
        cli_table_addf(&t, "%s\t%s\t%s", name, ov ? ov : "-", nv ? nv : "(default)");
        json_array_append_new(changes,
                              json_pack("{s:s, s:s?, s:s?}", "name", name, "old", ov, "new", nv));
    }
    cli_output_print(
        g, json_pack("{s:s, s:b, s:o}", "name", topic, "dry_run", 1, "changes", changes), &t);
}

static int alter_parse(cli_global_t *g, cli_args_t *a, alter_args_t *aa)
{
    static const cli_opt_t opts[] = {
        {'s', "set", true, O_SET}, {'d', "delete", true, O_DELETE}, {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP)
            return -1;
        if (id == O_SET) {
            if (aa->nsets >= CLI_XCONF_MAX ||
                cli_kv_split(arg, &aa->sets_k[aa->nsets], &aa->sets_v[aa->nsets]) != 0)
                return cli_usage_err(g, "--set wants key=value, got '%s'", arg);
            aa->nsets++;
        } else if (aa->ndels < CLI_XCONF_MAX) {
            aa->dels[aa->ndels++] = arg;
        }
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos != 1)
        return cli_usage_err(g, "give exactly one topic");
    if (aa->nsets + aa->ndels == 0)
        return cli_usage_err(g, "nothing to change: give --set key=value or --delete key");
    return 0;
}

static int topic_alter_config(cli_global_t *g, int argc, char **argv)
{
    alter_args_t aa = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = alter_parse(g, &a, &aa);
    cli_client_t c = {0};
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_event_t *ev_before = NULL, *ev_after = NULL;
    const rd_kafka_ConfigEntry_t **before = NULL, **after = NULL;
    size_t nb = 0, na = 0;
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0)
        goto out;
    if ((rc = cli_client_metadata(&c, &md)) != 0 || (rc = topics_exist(&c, md, a.pos, 1)) != 0)
        goto out;
    if ((rc = describe_configs(&c, a.pos[0], &ev_before, &before, &nb)) != 0)
        goto out;
    if ((rc = alter_send(&c, a.pos[0], &aa, before, nb)) != 0)
        goto out;
    if (g->dry_run) { /* validated only: what would change */
        alter_print_planned(g, a.pos[0], &aa, before, nb);
        goto out;
    }
    if ((rc = describe_configs(&c, a.pos[0], &ev_after, &after, &na)) != 0)
        goto out;
    alter_print(g, a.pos[0], &aa, before, nb, after, na);
out:
    rd_kafka_event_destroy(ev_before);
    rd_kafka_event_destroy(ev_after);
    if (md)
        rd_kafka_metadata_destroy(md);
    cli_client_close(&c);
    cli_kv_free(aa.sets_k, aa.sets_v, aa.nsets);
    cli_args_deinit(&a);
    return rc;
}

/* ---- add-partitions -------------------------------------------------------------------------- */

static int add_partitions_run(cli_client_t *c, const rd_kafka_metadata_t *md, char **names, int n,
                              int64_t add)
{
    char errstr[256];
    rd_kafka_NewPartitions_t **np = weir_calloc((size_t)n, sizeof(*np));
    int *before = weir_calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        before[i] = cli_metadata_topic(md, names[i])->partition_cnt;
        np[i] =
            rd_kafka_NewPartitions_new(names[i], (size_t)(before[i] + add), errstr, sizeof(errstr));
    }
    rd_kafka_CreatePartitions(c->rk, np, (size_t)n,
                              cli_admin_options(c, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS), c->q);
    rd_kafka_NewPartitions_destroy_array(np, (size_t)n);
    free(np);
    rd_kafka_event_t *ev;
    int rc = cli_admin_result(c, "adding partitions", &ev);
    if (rc != 0) {
        free(before);
        return rc;
    }
    size_t nres;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &nres);
    const char *hdr[] = {"TOPIC", "OLD", c->g->dry_run ? "NEW (DRY RUN)" : "NEW"};
    cli_table_t t;
    cli_table_init(&t, 3, hdr);
    t.shrinkable = 1;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < nres; j++) {
            if (strcmp(rd_kafka_topic_result_name(res[j]), names[i]) != 0)
                continue;
            rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[j]);
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                cli_err(c->g, "topic '%s': %s", names[i], topic_result_why(res[j]));
                rc = WEIR_MAX(rc, cli_kafka_exit(err));
                continue;
            }
            cli_table_addf(&t, "%s\t%d\t%d", names[i], before[i], (int)(before[i] + add));
            json_array_append_new(arr, json_pack("{s:s, s:i, s:i}", "name", names[i],
                                                 "old_partition_count", before[i],
                                                 "partition_count", (int)(before[i] + add)));
        }
    }
    cli_output_print(c->g, arr, &t);
    rd_kafka_event_destroy(ev);
    free(before);
    return rc;
}

static int topic_add_partitions(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {{'n', "num", true, O_NUM}, {0, NULL, false, 0}};
    int64_t add = 0;
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int id, rc;
    const char *arg;
    cli_client_t c = {0};
    const rd_kafka_metadata_t *md = NULL;
    while ((rc = cli_args_next(&a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP) {
            rc = cli_help_current(g);
            goto out;
        }
        if (cli_parse_i64(arg, 1, 100000, &add) != 0) {
            rc = cli_usage_err(g, "-n wants a number of partitions to add (>= 1), got '%s'", arg);
            goto out;
        }
    }
    if (rc < 0) {
        rc = CLI_USAGE;
        goto out;
    }
    if (a.npos < 1 || add == 0) {
        rc = cli_usage_err(g, a.npos < 1 ? "which topic?" : "how many? give -n N");
        goto out;
    }
    if ((rc = cli_admin_open(&c, g)) != 0)
        goto out;
    if ((rc = cli_client_metadata(&c, &md)) == 0 && (rc = topics_exist(&c, md, a.pos, a.npos)) == 0)
        rc = add_partitions_run(&c, md, a.pos, a.npos, add);
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

/* ---- trim ------------------------------------------------------------------------------------ */

static int trim_run(cli_client_t *c, rd_kafka_topic_partition_list_t *parts, const int64_t *low)
{
    rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(parts);
    rd_kafka_DeleteRecords(c->rk, &dr, 1, cli_admin_options(c, RD_KAFKA_ADMIN_OP_DELETERECORDS),
                           c->q);
    rd_kafka_DeleteRecords_destroy(dr);
    rd_kafka_event_t *ev;
    int rc = cli_admin_result(c, "deleting records", &ev);
    if (rc != 0)
        return rc;
    const rd_kafka_topic_partition_list_t *res =
        rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
    static const char *const hdr[] = {"TOPIC", "PARTITION", "OLD-LOG-START", "LOG-START"};
    cli_table_t t;
    cli_table_init(&t, 4, hdr);
    t.shrinkable = 1;
    json_t *arr = json_array();
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        const rd_kafka_topic_partition_t *r =
            rd_kafka_topic_partition_list_find(res, p->topic, p->partition);
        if (!r || r->err) {
            rd_kafka_resp_err_t err = r ? r->err : RD_KAFKA_RESP_ERR__BAD_MSG;
            cli_err(c->g, "partition %s/%" PRId32 ": %s", p->topic, p->partition,
                    rd_kafka_err2str(err));
            rc = WEIR_MAX(rc, cli_kafka_exit(err));
            continue;
        }
        cli_table_addf(&t, "%s\t%" PRId32 "\t%" PRId64 "\t%" PRId64, p->topic, p->partition, low[i],
                       r->offset);
        json_array_append_new(arr,
                              json_pack("{s:s, s:i, s:I, s:I}", "topic", p->topic, "partition",
                                        p->partition, "old_log_start_offset", (json_int_t)low[i],
                                        "log_start_offset", (json_int_t)r->offset));
    }
    cli_output_print(c->g, arr, &t);
    rd_kafka_event_destroy(ev);
    return rc;
}

/* --dry-run: where each log would start, and how many records that removes. */
static void trim_print_planned(const cli_global_t *g, const rd_kafka_topic_partition_list_t *parts,
                               const int64_t *low)
{
    static const char *const hdr[] = {"TOPIC", "PARTITION", "LOG-START", "NEW-LOG-START (DRY RUN)",
                                      "RECORDS"};
    cli_table_t t;
    cli_table_init(&t, 5, hdr);
    t.shrinkable = 1;
    json_t *arr = json_array();
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t to = WEIR_MAX(p->offset, low[i]);
        cli_table_addf(&t, "%s\t%" PRId32 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64, p->topic,
                       p->partition, low[i], to, to - low[i]);
        json_array_append_new(arr, json_pack("{s:s, s:i, s:I, s:I, s:I}", "topic", p->topic,
                                             "partition", p->partition, "log_start_offset",
                                             (json_int_t)low[i], "new_log_start_offset",
                                             (json_int_t)to, "records", (json_int_t)(to - low[i])));
    }
    cli_output_print(g, arr, &t);
}

typedef struct {
    const char *before;
    int64_t partition;
    bool yes;
} trim_args_t;

static int trim_parse(cli_global_t *g, cli_args_t *a, trim_args_t *ta)
{
    static const cli_opt_t opts[] = {{0, "before", true, O_BEFORE},
                                     {'p', "partition", true, O_PARTITION},
                                     {'y', "yes", false, O_YES},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    ta->partition = -1;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP)
            return -1;
        if (id == O_BEFORE)
            ta->before = arg;
        if (id == O_YES)
            ta->yes = true;
        if (id == O_PARTITION && cli_parse_i64(arg, 0, INT32_MAX, &ta->partition) != 0)
            return cli_usage_err(g, "-p wants a partition number, got '%s'", arg);
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos != 1)
        return cli_usage_err(g, "give exactly one topic");
    if (!ta->before)
        return cli_usage_err(g, "where should the log start? give --before OFFSET|TIME");
    return 0;
}

static int topic_trim(cli_global_t *g, int argc, char **argv)
{
    trim_args_t ta = {0};
    cli_offset_spec_t spec;
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = trim_parse(g, &a, &ta);
    cli_client_t c = {0};
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t *low = NULL;
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && cli_offset_spec_parse(ta.before, clock_wall_ms(), &spec) != 0)
        rc = cli_usage_err(g, "--before wants an offset or a time, got '%s'", ta.before);
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0)
        goto out;
    if ((rc = cli_client_metadata(&c, &md)) != 0 || (rc = topics_exist(&c, md, a.pos, 1)) != 0)
        goto out;
    const rd_kafka_metadata_topic_t *t = cli_metadata_topic(md, a.pos[0]);
    parts = rd_kafka_topic_partition_list_new(t->partition_cnt);
    for (int i = 0; i < t->partition_cnt; i++)
        if (ta.partition < 0 || t->partitions[i].id == ta.partition)
            rd_kafka_topic_partition_list_add(parts, t->topic, t->partitions[i].id);
    if (parts->cnt == 0) {
        cli_err(g, "topic '%s' has no partition %" PRId64, t->topic, ta.partition);
        rc = CLI_NOT_FOUND;
        goto out;
    }
    rd_kafka_topic_partition_list_sort(parts, NULL, NULL);
    low = weir_calloc((size_t)parts->cnt, sizeof(int64_t));
    if ((rc = cli_offsets_resolve(&c, parts, &spec, low, NULL)) != 0)
        goto out;
    char q[512];
    snprintf(q, sizeof(q), "delete the records of '%s' before %s%s", t->topic, ta.before,
             ta.partition < 0 ? " in every partition" : "");
    if (g->dry_run)
        trim_print_planned(g, parts, low);
    else if ((rc = cli_confirm(g, ta.yes, q)) == 0)
        rc = trim_run(&c, parts, low);
out:
    free(low);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

int cli_topic_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {
        {"create", topic_create},
        {"list", topic_list},
        {"ls", topic_list},
        {"describe", topic_describe},
        {"delete", topic_delete},
        {"alter-config", topic_alter_config},
        {"add-partitions", topic_add_partitions},
        {"trim", topic_trim},
        {"export", cli_topic_export},
        {"import", cli_topic_import},
    };
    return cli_dispatch(g, "topic", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
