/*
 * `weir cluster health` and `weir cluster config get|set`: an operator's first look at a
 * cluster (brokers and controller, partitions without a leader, replication, consumer groups
 * rebalancing), and the brokers' settings (DescribeConfigs, and AlterConfigs on the broker
 * resource for the dynamic ones).
 *
 * Invariants: health is read-only and its exit code is the verdict (0: no check failed, 1: one
 * did), so scripts and probes can use it; `config set` sends the broker's current dynamic
 * overrides plus the change (AlterConfigs replaces the whole set: librdkafka 2.0 has no
 * incremental form), checks every key before sending, and with --dry-run only validates.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>

/* ---- health ------------------------------------------------------------------------------------
 */

typedef struct {
    const char *name;
    const char *status; /* ok, warn, fail */
    char detail[256];
} check_t;

static void check_brokers(const rd_kafka_metadata_t *md, int32_t controller, check_t *c)
{
    c->name = "brokers";
    c->status = md->broker_cnt > 0 && controller >= 0 ? "ok" : "fail";
    snprintf(c->detail, sizeof(c->detail), "%d broker%s, controller %s%" PRId32, md->broker_cnt,
             md->broker_cnt == 1 ? "" : "s", controller >= 0 ? "" : "unknown ", controller);
}

static void check_partitions(const rd_kafka_metadata_t *md, check_t *parts, check_t *repl)
{
    int topics = 0, total = 0, leaderless = 0, under = 0;
    const char *first = NULL;
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        topics++;
        for (int j = 0; j < t->partition_cnt; j++) {
            const rd_kafka_metadata_partition_t *p = &t->partitions[j];
            total++;
            if (p->err || p->leader < 0) {
                leaderless++;
                first = first ? first : t->topic;
            }
            under += p->isr_cnt < p->replica_cnt;
        }
    }
    parts->name = "partitions";
    parts->status = leaderless ? "fail" : "ok";
    if (leaderless)
        snprintf(parts->detail, sizeof(parts->detail),
                 "%d of %d partitions offline (no leader or an error), first in '%s'", leaderless,
                 total, first);
    else
        snprintf(parts->detail, sizeof(parts->detail), "%d topics, %d partitions, all led", topics,
                 total);
    repl->name = "replication";
    repl->status = under ? "warn" : "ok";
    snprintf(repl->detail, sizeof(repl->detail),
             under ? "%d partitions under-replicated" : "every partition's replicas in sync",
             under);
}

/* Groups by state, from ListConsumerGroups: rebalancing ones are worth a look. */
static void check_groups(cli_client_t *c, check_t *chk)
{
    chk->name = "groups";
    rd_kafka_ListConsumerGroups(c->rk, cli_admin_options(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS),
                                c->q);
    rd_kafka_event_t *ev;
    if (cli_admin_result(c, "listing groups", &ev) != 0) {
        chk->status = "fail";
        snprintf(chk->detail, sizeof(chk->detail), "ListGroups failed");
        return;
    }
    size_t n;
    const rd_kafka_ConsumerGroupListing_t **gs =
        rd_kafka_ListConsumerGroups_result_valid(rd_kafka_event_ListConsumerGroups_result(ev), &n);
    int stable = 0, empty = 0, rebalancing = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupListing_state(gs[i]);
        stable += st == RD_KAFKA_CONSUMER_GROUP_STATE_STABLE;
        empty += st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY;
        rebalancing += st == RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE ||
                       st == RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE;
    }
    other = (int)n - stable - empty - rebalancing;
    chk->status = rebalancing ? "warn" : "ok";
    snprintf(chk->detail, sizeof(chk->detail), "%zu groups: %d stable, %d empty, %d rebalancing%s",
             n, stable, empty, rebalancing, other ? ", others unknown" : "");
    rd_kafka_event_destroy(ev);
}

static int health_print(const cli_global_t *g, const check_t *checks, size_t n)
{
    bool failed = false;
    static const char *const hdr[] = {"CHECK", "STATUS", "DETAIL"};
    cli_table_t t;
    cli_table_init(&t, 3, hdr);
    t.shrinkable = 1u << 2;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        failed |= strcmp(checks[i].status, "fail") == 0;
        cli_table_addf(&t, "%s\t%s\t%s", checks[i].name, checks[i].status, checks[i].detail);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "check", checks[i].name, "status",
                                             checks[i].status, "detail", checks[i].detail));
    }
    cli_output_print(g, json_pack("{s:b, s:o}", "healthy", !failed, "checks", arr), &t);
    return failed ? CLI_ERROR : CLI_OK;
}

int cli_cluster_health(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_none(&a);
    int npos = a.npos;
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    if (npos)
        return cli_usage_err(g, "takes no arguments");
    cli_client_t c;
    if ((rc = cli_admin_open(&c, g)) != 0) /* unreachable brokers: one line, exit 1 */
        return rc;
    const rd_kafka_metadata_t *md;
    if ((rc = cli_client_metadata(&c, &md)) == 0) {
        check_t checks[4];
        memset(checks, 0, sizeof(checks));
        check_brokers(md, rd_kafka_controllerid(c.rk, (int)g->timeout_ms), &checks[0]);
        check_partitions(md, &checks[1], &checks[2]);
        check_groups(&c, &checks[3]);
        rc = health_print(g, checks, WEIR_ARRAY_LEN(checks));
        rd_kafka_metadata_destroy(md);
    }
    cli_client_close(&c);
    return rc;
}

/* ---- config ------------------------------------------------------------------------------------
 */

static const char *source_name(rd_kafka_ConfigSource_t s)
{
    switch (s) {
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG:
        return "dynamic";
    case RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG:
        return "dynamic-default";
    case RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG:
        return "static";
    case RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG:
        return "default";
    default:
        return "other";
    }
}

/* The broker to ask: --broker ID, else the first one the metadata names. */
static int broker_id(cli_client_t *c, int64_t want, char *out, size_t cap)
{
    if (want >= 0) {
        snprintf(out, cap, "%" PRId64, want);
        return 0;
    }
    const rd_kafka_metadata_t *md;
    int rc = cli_client_metadata(c, &md);
    if (rc != 0)
        return rc;
    if (md->broker_cnt < 1) {
        rd_kafka_metadata_destroy(md);
        cli_err(c->g, "the metadata names no broker");
        return CLI_ERROR;
    }
    snprintf(out, cap, "%" PRId32, md->brokers[0].id);
    rd_kafka_metadata_destroy(md);
    return 0;
}

static int describe_broker(cli_client_t *c, const char *id, rd_kafka_event_t **ev,
                           const rd_kafka_ConfigEntry_t ***entries, size_t *n)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, id);
    rd_kafka_DescribeConfigs(c->rk, &res, 1,
                             cli_admin_options(c, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS), c->q);
    rd_kafka_ConfigResource_destroy(res);
    int rc = cli_admin_result(c, "describing broker configs", ev);
    if (rc != 0)
        return rc;
    size_t nres;
    const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(*ev), &nres);
    if (nres != 1 || rd_kafka_ConfigResource_error(rs[0])) {
        cli_err(c->g, "broker %s: %s", id,
                nres ? rd_kafka_ConfigResource_error_string(rs[0]) : "no answer");
        return nres ? cli_kafka_exit(rd_kafka_ConfigResource_error(rs[0])) : CLI_ERROR;
    }
    *entries = rd_kafka_ConfigResource_configs(rs[0], n);
    return 0;
}

static const rd_kafka_ConfigEntry_t *entry_named(const rd_kafka_ConfigEntry_t **e, size_t n,
                                                 const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rd_kafka_ConfigEntry_name(e[i]), name) == 0)
            return e[i];
    return NULL;
}

enum { O_BROKER = 1, O_DYNAMIC, O_DELETE };

typedef struct {
    int64_t broker;
    bool dynamic_only;
    char *keys[CLI_XCONF_MAX], *values[CLI_XCONF_MAX]; /* set: heap copies */
    size_t nsets;
    const char *dels[CLI_XCONF_MAX];
    size_t ndels;
} config_args_t;

static int config_parse(cli_global_t *g, cli_args_t *a, config_args_t *ca, bool set)
{
    static const cli_opt_t opts[] = {{0, "broker", true, O_BROKER},
                                     {0, "dynamic", false, O_DYNAMIC},
                                     {'d', "delete", true, O_DELETE},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    ca->broker = -1;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP)
            return -1;
        if (id == O_BROKER && cli_parse_i64(arg, 0, INT32_MAX, &ca->broker) != 0)
            return cli_usage_err(g, "--broker wants a broker id, got '%s'", arg);
        if (id == O_DYNAMIC)
            ca->dynamic_only = true;
        if (id == O_DELETE && (!set || ca->ndels >= CLI_XCONF_MAX))
            return cli_usage_err(g, "--delete KEY is for 'config set'");
        if (id == O_DELETE)
            ca->dels[ca->ndels++] = arg;
    }
    if (rc < 0)
        return CLI_USAGE;
    for (int i = 0; set && i < a->npos; i++) {
        if (ca->nsets >= CLI_XCONF_MAX ||
            cli_kv_split(a->pos[i], &ca->keys[ca->nsets], &ca->values[ca->nsets]) != 0)
            return cli_usage_err(g, "config set wants KEY=VALUE, got '%s'", a->pos[i]);
        ca->nsets++;
    }
    if (set && ca->nsets + ca->ndels == 0)
        return cli_usage_err(g, "nothing to change: give KEY=VALUE or --delete KEY");
    return 0;
}

static void config_row(cli_table_t *t, json_t *arr, const rd_kafka_ConfigEntry_t *e)
{
    const char *v = rd_kafka_ConfigEntry_value(e);
    const char *src = source_name(rd_kafka_ConfigEntry_source(e));
    bool ro = rd_kafka_ConfigEntry_is_read_only(e);
    cli_table_addf(t, "%s\t%s\t%s\t%s", rd_kafka_ConfigEntry_name(e), v ? v : "-", src,
                   ro ? "no" : "yes");
    json_array_append_new(arr, json_pack("{s:s, s:s?, s:s, s:b, s:b}", "name",
                                         rd_kafka_ConfigEntry_name(e), "value", v, "source", src,
                                         "dynamic", !ro, "sensitive",
                                         rd_kafka_ConfigEntry_is_sensitive(e)));
}

static int config_get_print(cli_global_t *g, const config_args_t *ca, char **names, int nnames,
                            const rd_kafka_ConfigEntry_t **e, size_t n)
{
    static const char *const hdr[] = {"CONFIG", "VALUE", "SOURCE", "DYNAMIC"};
    cli_table_t t;
    cli_table_init(&t, 4, hdr);
    t.shrinkable = 1u << 1;
    json_t *arr = json_array();
    int rc = 0;
    for (int i = 0; i < nnames; i++) {
        const rd_kafka_ConfigEntry_t *x = entry_named(e, n, names[i]);
        if (!x) {
            cli_err(g, "no broker config '%s'", names[i]);
            rc = CLI_NOT_FOUND;
        } else {
            config_row(&t, arr, x);
        }
    }
    for (size_t i = 0; nnames == 0 && i < n; i++)
        if (!ca->dynamic_only ||
            rd_kafka_ConfigEntry_source(e[i]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG)
            config_row(&t, arr, e[i]);
    cli_output_print(g, arr, &t);
    return rc;
}

static int config_get(cli_global_t *g, int argc, char **argv)
{
    config_args_t ca = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = config_parse(g, &a, &ca, false);
    cli_client_t c = {0};
    rd_kafka_event_t *ev = NULL;
    char id[24];
    const rd_kafka_ConfigEntry_t **e;
    size_t n;
    if (rc < 0)
        rc = cli_help_current(g);
    else if (rc == 0 && (rc = cli_admin_open(&c, g)) == 0 &&
             (rc = broker_id(&c, ca.broker, id, sizeof(id))) == 0 &&
             (rc = describe_broker(&c, id, &ev, &e, &n)) == 0)
        rc = config_get_print(g, &ca, a.pos, a.npos, e, n);
    if (ev)
        rd_kafka_event_destroy(ev);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

static bool deleted(const config_args_t *ca, const char *name)
{
    for (size_t i = 0; i < ca->ndels; i++)
        if (strcmp(ca->dels[i], name) == 0)
            return true;
    for (size_t i = 0; i < ca->nsets; i++)
        if (strcmp(ca->keys[i], name) == 0)
            return true; /* replaced by the new value */
    return false;
}

/* Every key known and changeable at run time: 0, or an exit code after the message. */
static int config_check(cli_global_t *g, const config_args_t *ca, const rd_kafka_ConfigEntry_t **e,
                        size_t n)
{
    for (size_t i = 0; i < ca->nsets + ca->ndels; i++) {
        const char *name = i < ca->nsets ? ca->keys[i] : ca->dels[i - ca->nsets];
        const rd_kafka_ConfigEntry_t *x = entry_named(e, n, name);
        if (!x) {
            cli_err(g, "no broker config '%s'", name);
            return CLI_NOT_FOUND;
        }
        if (rd_kafka_ConfigEntry_is_read_only(x))
            return cli_usage_err(g,
                                 "'%s' cannot change while the broker runs (set it in its "
                                 "config file)",
                                 name);
    }
    return 0;
}

static int config_send(cli_client_t *c, const char *id, const config_args_t *ca,
                       const rd_kafka_ConfigEntry_t **e, size_t n)
{
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, id);
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_ConfigEntry_source(e[i]) == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG &&
            !deleted(ca, rd_kafka_ConfigEntry_name(e[i])))
            rd_kafka_ConfigResource_set_config(res, rd_kafka_ConfigEntry_name(e[i]),
                                               rd_kafka_ConfigEntry_value(e[i]));
    for (size_t i = 0; i < ca->nsets; i++)
        rd_kafka_ConfigResource_set_config(res, ca->keys[i], ca->values[i]);
    rd_kafka_AlterConfigs(c->rk, &res, 1, cli_admin_options(c, RD_KAFKA_ADMIN_OP_ALTERCONFIGS),
                          c->q);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_event_t *ev;
    int rc = cli_admin_result(c, "changing broker configs", &ev);
    if (rc != 0)
        return rc;
    size_t nres;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &nres);
    if (nres == 1 && rd_kafka_ConfigResource_error(rs[0])) {
        cli_err(c->g, "broker %s: %s", id, rd_kafka_ConfigResource_error_string(rs[0]));
        rc = cli_kafka_exit(rd_kafka_ConfigResource_error(rs[0]));
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static void config_set_print(cli_global_t *g, const config_args_t *ca,
                             const rd_kafka_ConfigEntry_t **before, size_t nb,
                             const rd_kafka_ConfigEntry_t **after, size_t na)
{
    const char *hdr[] = {"CONFIG", "OLD", g->dry_run ? "NEW (DRY RUN)" : "NEW"};
    cli_table_t t;
    cli_table_init(&t, 3, hdr);
    t.shrinkable = 1u << 1 | 1u << 2;
    json_t *arr = json_array();
    for (size_t i = 0; i < ca->nsets + ca->ndels; i++) {
        const char *name = i < ca->nsets ? ca->keys[i] : ca->dels[i - ca->nsets];
        const rd_kafka_ConfigEntry_t *b = entry_named(before, nb, name);
        const rd_kafka_ConfigEntry_t *a = after ? entry_named(after, na, name) : NULL;
        const char *ov = b ? rd_kafka_ConfigEntry_value(b) : NULL;
        const char *nv = a ? rd_kafka_ConfigEntry_value(a) : i < ca->nsets ? ca->values[i] : NULL;
        cli_table_addf(&t, "%s\t%s\t%s", name, ov ? ov : "-", nv ? nv : "(static or default)");
        json_array_append_new(arr,
                              json_pack("{s:s, s:s?, s:s?}", "name", name, "old", ov, "new", nv));
    }
    cli_output_print(g, json_pack("{s:b, s:o}", "dry_run", g->dry_run, "changes", arr), &t);
}

static int config_set(cli_global_t *g, int argc, char **argv)
{
    config_args_t ca = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = config_parse(g, &a, &ca, true);
    cli_client_t c = {0};
    rd_kafka_event_t *ev_b = NULL, *ev_a = NULL;
    const rd_kafka_ConfigEntry_t **before = NULL, **after = NULL;
    size_t nb = 0, na = 0;
    char id[24];
    if (rc < 0) {
        cli_args_deinit(&a);
        return cli_help_current(g);
    }
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0 ||
        (rc = broker_id(&c, ca.broker, id, sizeof(id))) != 0 ||
        (rc = describe_broker(&c, id, &ev_b, &before, &nb)) != 0 ||
        (rc = config_check(g, &ca, before, nb)) != 0 ||
        (rc = config_send(&c, id, &ca, before, nb)) != 0)
        goto out;
    if (!g->dry_run && (rc = describe_broker(&c, id, &ev_a, &after, &na)) != 0)
        goto out;
    config_set_print(g, &ca, before, nb, after, na);
out:
    if (ev_b)
        rd_kafka_event_destroy(ev_b);
    if (ev_a)
        rd_kafka_event_destroy(ev_a);
    cli_client_close(&c);
    cli_kv_free(ca.keys, ca.values, ca.nsets);
    cli_args_deinit(&a);
    return rc;
}

int cli_cluster_config(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {{"get", config_get}, {"set", config_set}};
    /* `weir cluster config get ...`: argv[0] is "config"; the sub-subcommand follows. */
    return cli_dispatch(g, "cluster config", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
