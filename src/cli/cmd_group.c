/*
 * `weir group`: list, describe, seek, delete consumer groups, with librdkafka's admin API
 * (ListConsumerGroups, DescribeConsumerGroups, ListConsumerGroupOffsets,
 * AlterConsumerGroupOffsets, DeleteGroups) and ListOffsets for log end offsets and lag.
 *
 * Invariants: `seek` changes nothing without --execute, and with it refuses while the group has
 * members (their next commit would undo the move); a group is "not found" (exit 3) when the
 * coordinator calls it Dead and it has no committed offsets, which is how Kafka answers for a
 * group id it never saw.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>

enum { O_QUIET = 1, O_TO, O_TOPICS, O_EXECUTE, O_YES, O_COUNT };

/* ---- requests -------------------------------------------------------------------------------- */

/* The one-group answers of describe and committed offsets: n results and the error of the first.
 * Anything but one clean result is a failure: printed, *ev released, the exit code returned. */
static int group_answer(cli_client_t *c, const char *what, const char *group, size_t n,
                        const rd_kafka_error_t *err, rd_kafka_event_t **ev)
{
    if (n == 1 && !err)
        return 0;
    rd_kafka_resp_err_t code = err ? rd_kafka_error_code(err) : RD_KAFKA_RESP_ERR__BAD_MSG;
    cli_err(c->g, "%s '%s' failed: %s", what, group,
            err ? rd_kafka_error_string(err) : "no answer for it");
    rd_kafka_event_destroy(*ev);
    *ev = NULL;
    return cli_kafka_exit(code);
}

/* DescribeConsumerGroups for one group; *desc lives in *ev. */
static int describe_group(cli_client_t *c, const char *group, rd_kafka_event_t **ev,
                          const rd_kafka_ConsumerGroupDescription_t **desc)
{
    rd_kafka_DescribeConsumerGroups(
        c->rk, &group, 1, cli_admin_options(c, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS), c->q);
    int rc = cli_admin_result(c, "describing the group", ev);
    if (rc != 0)
        return rc;
    size_t n;
    const rd_kafka_ConsumerGroupDescription_t **ds = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(*ev), &n);
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_ConsumerGroupDescription_error(ds[0]) : NULL;
    if ((rc = group_answer(c, "describing group", group, n, err, ev)) != 0)
        return rc;
    *desc = ds[0];
    return 0;
}

/* Every partition of every topic but the internal ones. */
static int all_partitions(cli_client_t *c, rd_kafka_topic_partition_list_t **out)
{
    const rd_kafka_metadata_t *md;
    int rc = cli_client_metadata(c, &md);
    if (rc != 0)
        return rc;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || cli_topic_internal(t->topic))
            continue;
        for (int j = 0; j < t->partition_cnt; j++)
            rd_kafka_topic_partition_list_add(parts, t->topic, t->partitions[j].id);
    }
    rd_kafka_metadata_destroy(md);
    *out = parts;
    return 0;
}

/* ListConsumerGroupOffsets: every committed offset of the group. *parts lives in *ev.
 *
 * The request names every partition of every topic: librdkafka 2.0 sends "no partitions"
 * as an empty topic array rather than the null array that asks a broker for all of them, and
 * an empty array rightly gets an empty answer. Partitions without a commit come back with
 * offset -1 and are skipped by the callers. */
static int group_offsets(cli_client_t *c, const char *group, rd_kafka_event_t **ev,
                         const rd_kafka_topic_partition_list_t **parts)
{
    rd_kafka_topic_partition_list_t *all;
    int rc = all_partitions(c, &all);
    if (rc != 0)
        return rc;
    if (all->cnt == 0) { /* no topics, so no offsets: answer without asking */
        rd_kafka_topic_partition_list_destroy(all);
        *ev = NULL;
        *parts = NULL;
        return 0;
    }
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, all);
    rd_kafka_topic_partition_list_destroy(all);
    rd_kafka_ListConsumerGroupOffsets(
        c->rk, &req, 1, cli_admin_options(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS), c->q);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rc = cli_admin_result(c, "reading committed offsets", ev);
    if (rc != 0)
        return rc;
    size_t n;
    const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(*ev), &n);
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_group_result_error(gr[0]) : NULL;
    if ((rc = group_answer(c, "reading committed offsets of", group, n, err, ev)) != 0)
        return rc;
    *parts = rd_kafka_group_result_partitions(gr[0]);
    return 0;
}

static int committed_count(const rd_kafka_topic_partition_list_t *parts)
{
    int n = 0;
    for (int i = 0; parts && i < parts->cnt; i++)
        n += parts->elems[i].offset >= 0 && !parts->elems[i].err;
    return n;
}

static bool group_missing(const rd_kafka_ConsumerGroupDescription_t *d,
                          const rd_kafka_topic_partition_list_t *offsets)
{
    return rd_kafka_ConsumerGroupDescription_state(d) == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD &&
           rd_kafka_ConsumerGroupDescription_member_count(d) == 0 && committed_count(offsets) == 0;
}

static const char *state_name(const rd_kafka_ConsumerGroupDescription_t *d)
{
    return rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d));
}

/* ---- list ------------------------------------------------------------------------------------ */

static int cmp_listing(const void *a, const void *b)
{
    return strcmp(
        rd_kafka_ConsumerGroupListing_group_id(*(const rd_kafka_ConsumerGroupListing_t *const *)a),
        rd_kafka_ConsumerGroupListing_group_id(*(const rd_kafka_ConsumerGroupListing_t *const *)b));
}

/* ListGroups answers before v4 (Kafka < 2.6, and brokers that stop at v2) carry no state, which
 * librdkafka reports as Unknown: ask DescribeGroups for those. states[i] is for ls[i]. */
static void list_states(cli_client_t *c, const rd_kafka_ConsumerGroupListing_t **ls, size_t n,
                        const char **states, rd_kafka_event_t **ev)
{
    const char **names = weir_calloc(n + 1, sizeof(char *));
    size_t nn = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupListing_state(ls[i]);
        states[i] = rd_kafka_consumer_group_state_name(st);
        if (st == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN)
            names[nn++] = rd_kafka_ConsumerGroupListing_group_id(ls[i]);
    }
    *ev = NULL;
    if (nn > 0) {
        rd_kafka_DescribeConsumerGroups(
            c->rk, names, nn, cli_admin_options(c, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS), c->q);
        if (cli_admin_result(c, "describing groups", ev) == 0) {
            size_t nd;
            const rd_kafka_ConsumerGroupDescription_t **ds =
                rd_kafka_DescribeConsumerGroups_result_groups(
                    rd_kafka_event_DescribeConsumerGroups_result(*ev), &nd);
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < nd; j++)
                    if (!rd_kafka_ConsumerGroupDescription_error(ds[j]) &&
                        strcmp(rd_kafka_ConsumerGroupDescription_group_id(ds[j]),
                               rd_kafka_ConsumerGroupListing_group_id(ls[i])) == 0)
                        states[i] = state_name(ds[j]);
        }
    }
    free(names);
}

static void list_print(const cli_global_t *g, const rd_kafka_ConsumerGroupListing_t **ls,
                       const char **states, size_t n, bool quiet)
{
    if (quiet) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", rd_kafka_ConsumerGroupListing_group_id(ls[i]));
    } else if (g->output == CLI_OUT_JSON) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                arr,
                json_pack("{s:s, s:s, s:b}", "group", rd_kafka_ConsumerGroupListing_group_id(ls[i]),
                          "state", states[i], "simple",
                          rd_kafka_ConsumerGroupListing_is_simple_consumer_group(ls[i])));
        cli_json_print(arr, stdout);
    } else {
        static const char *const hdr[] = {"GROUP", "STATE"};
        cli_table_t t;
        cli_table_init(&t, 2, hdr);
        t.shrinkable = 1;
        for (size_t i = 0; i < n; i++)
            cli_table_addf(&t, "%s\t%s", rd_kafka_ConsumerGroupListing_group_id(ls[i]), states[i]);
        cli_table_print(&t, stdout);
        cli_table_deinit(&t);
    }
}

static int group_list(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {{'q', "quiet", false, O_QUIET}, {0, NULL, false, 0}};
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
    if (npos)
        return cli_usage_err(g, "takes no arguments");
    bool quiet = seen[O_QUIET];
    cli_client_t c;
    rd_kafka_event_t *ev;
    if ((rc = cli_admin_open(&c, g)) != 0)
        return rc;
    rd_kafka_ListConsumerGroups(c.rk, cli_admin_options(&c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS),
                                c.q);
    if ((rc = cli_admin_result(&c, "listing groups", &ev)) == 0) {
        const rd_kafka_ListConsumerGroups_result_t *res =
            rd_kafka_event_ListConsumerGroups_result(ev);
        size_t n, nerr;
        const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
        for (size_t i = 0; i < nerr; i++) { /* a broker that did not answer: say, go on */
            cli_err(g, "%s", rd_kafka_error_string(errs[i]));
            rc = CLI_ERROR;
        }
        const rd_kafka_ConsumerGroupListing_t **ls =
            rd_kafka_ListConsumerGroups_result_valid(res, &n);
        const rd_kafka_ConsumerGroupListing_t **sorted = weir_calloc(n + 1, sizeof(*sorted));
        memcpy(sorted, ls, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), cmp_listing);
        const char **states = weir_calloc(n + 1, sizeof(char *));
        rd_kafka_event_t *ev_d = NULL;
        if (!quiet)
            list_states(&c, sorted, n, states, &ev_d);
        list_print(g, sorted, states, n, quiet);
        if (ev_d)
            rd_kafka_event_destroy(ev_d);
        free(states);
        free(sorted);
        rd_kafka_event_destroy(ev);
    }
    cli_client_close(&c);
    return rc;
}

/* ---- describe -------------------------------------------------------------------------------- */

typedef struct {
    char *topic;
    int32_t partition;
    int64_t committed; /* -1: none */
    int64_t high;      /* log end offset */
    const char *member_id, *client_id, *host;
} row_t;

static int cmp_row(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static row_t *row_get(row_t **rows, size_t *n, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < *n; i++)
        if ((*rows)[i].partition == partition && strcmp((*rows)[i].topic, topic) == 0)
            return &(*rows)[i];
    *rows = weir_realloc(*rows, (*n + 1) * sizeof(row_t));
    row_t *r = &(*rows)[(*n)++];
    *r = (row_t){weir_strdup(topic), partition, -1, -1, NULL, NULL, NULL};
    return r;
}

/* One row per partition that has a committed offset or an owner. */
static row_t *describe_rows(const rd_kafka_ConsumerGroupDescription_t *d,
                            const rd_kafka_topic_partition_list_t *offsets, size_t *nrows)
{
    row_t *rows = NULL;
    *nrows = 0;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &offsets->elems[i];
        if (p->err || p->offset < 0)
            continue;
        row_get(&rows, nrows, p->topic, p->partition)->committed = p->offset;
    }
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t m = 0; m < nm; m++) {
        const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(d, m);
        const rd_kafka_topic_partition_list_t *as =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
        for (int i = 0; as && i < as->cnt; i++) {
            row_t *r = row_get(&rows, nrows, as->elems[i].topic, as->elems[i].partition);
            r->member_id = rd_kafka_MemberDescription_consumer_id(md);
            r->client_id = rd_kafka_MemberDescription_client_id(md);
            r->host = rd_kafka_MemberDescription_host(md);
        }
    }
    if (*nrows)
        qsort(rows, *nrows, sizeof(row_t), cmp_row);
    return rows;
}

static json_t *members_json(const rd_kafka_ConsumerGroupDescription_t *d)
{
    json_t *arr = json_array();
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    for (size_t m = 0; m < nm; m++) {
        const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(d, m);
        const rd_kafka_topic_partition_list_t *as =
            rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
        json_t *asj = json_array();
        for (int i = 0; as && i < as->cnt; i++)
            json_array_append_new(asj, json_pack("{s:s, s:i}", "topic", as->elems[i].topic,
                                                 "partition", as->elems[i].partition));
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:s, s:o}", "member_id",
                                        rd_kafka_MemberDescription_consumer_id(md), "client_id",
                                        rd_kafka_MemberDescription_client_id(md), "host",
                                        rd_kafka_MemberDescription_host(md), "assignments", asj));
    }
    return arr;
}

static json_t *opt_int(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static void describe_print(const cli_global_t *g, const char *group,
                           const rd_kafka_ConsumerGroupDescription_t *d, row_t *rows, size_t n)
{
    int64_t total_lag = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].committed >= 0)
            total_lag += WEIR_MAX(0, rows[i].high - rows[i].committed);
    const rd_kafka_Node_t *coord = rd_kafka_ConsumerGroupDescription_coordinator(d);
    if (g->output == CLI_OUT_JSON) {
        json_t *offs = json_array();
        for (size_t i = 0; i < n; i++) {
            const row_t *r = &rows[i];
            json_array_append_new(
                offs,
                json_pack("{s:s, s:i, s:o, s:I, s:o, s:s?}", "topic", r->topic, "partition",
                          r->partition, "committed_offset", opt_int(r->committed), "log_end_offset",
                          (json_int_t)r->high, "lag",
                          opt_int(r->committed >= 0 ? WEIR_MAX(0, r->high - r->committed) : -1),
                          "member_id", r->member_id));
        }
        cli_json_print(json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:I}", "group", group, "state",
                                 state_name(d), "coordinator",
                                 coord ? json_pack("{s:i, s:s, s:i}", "id", rd_kafka_Node_id(coord),
                                                   "host", rd_kafka_Node_host(coord), "port",
                                                   (int)rd_kafka_Node_port(coord))
                                       : json_null(),
                                 "partition_assignor",
                                 rd_kafka_ConsumerGroupDescription_partition_assignor(d)
                                     ? rd_kafka_ConsumerGroupDescription_partition_assignor(d)
                                     : "",
                                 "members", members_json(d), "offsets", offs, "total_lag",
                                 (json_int_t)total_lag),
                       stdout);
        return;
    }
    printf("%-13s%s\n%-13s%s\n%-13s%zu\n%-13s%" PRId64 "\n\n", "GROUP", group, "STATE",
           state_name(d), "MEMBERS", rd_kafka_ConsumerGroupDescription_member_count(d), "TOTAL-LAG",
           total_lag);
    static const char *const hdr[] = {"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET",
                                      "LAG",   "MEMBER-ID", "CLIENT-ID",      "HOST"};
    cli_table_t t;
    cli_table_init(&t, 8, hdr);
    t.shrinkable = 1u << 0 | 1u << 5 | 1u << 6 | 1u << 7;
    for (size_t i = 0; i < n; i++) {
        const row_t *r = &rows[i];
        char cur[24] = "-", lag[24] = "-";
        if (r->committed >= 0) {
            snprintf(cur, sizeof(cur), "%" PRId64, r->committed);
            snprintf(lag, sizeof(lag), "%" PRId64, WEIR_MAX(0, r->high - r->committed));
        }
        cli_table_addf(&t, "%s\t%" PRId32 "\t%s\t%" PRId64 "\t%s\t%s\t%s\t%s", r->topic,
                       r->partition, cur, r->high, lag, r->member_id ? r->member_id : "-",
                       r->client_id ? r->client_id : "-", r->host ? r->host : "-");
    }
    cli_table_print(&t, stdout);
    cli_table_deinit(&t);
}

static void rows_free(row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rows[i].topic);
    free(rows);
}

static int group_describe(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t none[] = {{0, NULL, false, 0}};
    bool seen[O_COUNT] = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_switches(&a, none, seen);
    cli_client_t c = {0};
    rd_kafka_event_t *ev_d = NULL, *ev_o = NULL;
    const rd_kafka_ConsumerGroupDescription_t *d;
    const rd_kafka_topic_partition_list_t *offsets;
    row_t *rows = NULL;
    size_t n = 0;
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && a.npos != 1)
        rc = cli_usage_err(g, "give exactly one group");
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0)
        goto out;
    const char *group = a.pos[0];
    if ((rc = describe_group(&c, group, &ev_d, &d)) != 0 ||
        (rc = group_offsets(&c, group, &ev_o, &offsets)) != 0)
        goto out;
    if (group_missing(d, offsets)) {
        cli_err(g, "group '%s' not found", group);
        rc = CLI_NOT_FOUND;
        goto out;
    }
    rows = describe_rows(d, offsets, &n);
    int64_t low;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = cli_watermarks(&c, rows[i].topic, rows[i].partition, &low, &rows[i].high);
    if (rc == 0)
        describe_print(g, group, d, rows, n);
out:
    rows_free(rows, n);
    rd_kafka_event_destroy(ev_d);
    rd_kafka_event_destroy(ev_o);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

/* ---- seek ------------------------------------------------------------------------------------ */

typedef struct {
    const char *to;
    cli_offset_spec_t spec;
    char *topics[64];
    int ntopics;
    bool execute;
} seek_args_t;

static int seek_parse(cli_global_t *g, cli_args_t *a, seek_args_t *sa)
{
    static const cli_opt_t opts[] = {{0, "to", true, O_TO},
                                     {'t', "topics", true, O_TOPICS},
                                     {0, "execute", false, O_EXECUTE},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP)
            return -1;
        if (id == O_TO)
            sa->to = arg;
        if (id == O_EXECUTE)
            sa->execute = true;
        if (id != O_TOPICS)
            continue;
        char *copy = weir_strdup(arg), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (sa->ntopics < (int)WEIR_ARRAY_LEN(sa->topics))
                sa->topics[sa->ntopics++] = weir_strdup(t);
        free(copy);
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos != 1)
        return cli_usage_err(g, "give exactly one group");
    if (sa->execute && g->dry_run)
        return cli_usage_err(g, "--execute and --dry-run contradict each other (without "
                                "--execute, seek is a dry run)");
    if (!sa->to)
        return cli_usage_err(g, "where to? give --to start|end|OFFSET|TIME");
    if (cli_offset_spec_parse(sa->to, clock_wall_ms(), &sa->spec) != 0)
        return cli_usage_err(g, "--to wants start, end, an offset or a time, got '%s'", sa->to);
    return 0;
}

/* The partitions to move: every partition of --topics, else those with committed offsets. */
static int seek_partitions(cli_client_t *c, const seek_args_t *sa,
                           const rd_kafka_topic_partition_list_t *offsets,
                           rd_kafka_topic_partition_list_t **out)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    int rc = 0;
    if (sa->ntopics == 0) {
        for (int i = 0; offsets && i < offsets->cnt; i++)
            if (!offsets->elems[i].err && offsets->elems[i].offset >= 0)
                rd_kafka_topic_partition_list_add(parts, offsets->elems[i].topic,
                                                  offsets->elems[i].partition);
    } else {
        const rd_kafka_metadata_t *md;
        if ((rc = cli_client_metadata(c, &md)) != 0)
            goto out;
        for (int i = 0; i < sa->ntopics && rc == 0; i++) {
            const rd_kafka_metadata_topic_t *t = cli_metadata_topic(md, sa->topics[i]);
            if (!t) {
                cli_err(c->g, "topic '%s' not found", sa->topics[i]);
                rc = CLI_NOT_FOUND;
                break;
            }
            for (int j = 0; j < t->partition_cnt; j++)
                rd_kafka_topic_partition_list_add(parts, t->topic, t->partitions[j].id);
        }
        rd_kafka_metadata_destroy(md);
    }
    if (rc == 0 && parts->cnt == 0) {
        cli_err(c->g, "the group has no committed offsets to move; name topics with --topics");
        rc = CLI_NOT_FOUND;
    }
out:
    if (rc != 0) {
        rd_kafka_topic_partition_list_destroy(parts);
        return rc;
    }
    rd_kafka_topic_partition_list_sort(parts, NULL, NULL);
    *out = parts;
    return 0;
}

static int seek_apply(cli_client_t *c, const char *group, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_AlterConsumerGroupOffsets_t *req =
        rd_kafka_AlterConsumerGroupOffsets_new(group, parts);
    rd_kafka_AlterConsumerGroupOffsets(
        c->rk, &req, 1, cli_admin_options(c, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS), c->q);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev;
    int rc = cli_admin_result(c, "moving committed offsets", &ev);
    if (rc != 0)
        return rc;
    size_t n;
    const rd_kafka_group_result_t **gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
        rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
    const rd_kafka_error_t *err = n == 1 ? rd_kafka_group_result_error(gr[0]) : NULL;
    if (err) {
        cli_err(c->g, "moving offsets of '%s' failed: %s", group, rd_kafka_error_string(err));
        rc = cli_kafka_exit(rd_kafka_error_code(err));
    }
    const rd_kafka_topic_partition_list_t *res =
        n == 1 ? rd_kafka_group_result_partitions(gr[0]) : NULL;
    for (int i = 0; rc == 0 && res && i < res->cnt; i++) {
        if (res->elems[i].err) {
            cli_err(c->g, "moving %s/%" PRId32 " failed: %s", res->elems[i].topic,
                    res->elems[i].partition, rd_kafka_err2str(res->elems[i].err));
            rc = cli_kafka_exit(res->elems[i].err);
        }
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static int64_t committed_of(const rd_kafka_topic_partition_list_t *offsets, const char *topic,
                            int32_t partition)
{
    const rd_kafka_topic_partition_t *p =
        offsets ? rd_kafka_topic_partition_list_find(offsets, topic, partition) : NULL;
    return p && !p->err && p->offset >= 0 ? p->offset : -1;
}

static void seek_print(const cli_global_t *g, const char *group, bool executed,
                       const rd_kafka_topic_partition_list_t *parts,
                       const rd_kafka_topic_partition_list_t *offsets, const int64_t *high)
{
    if (g->output == CLI_OUT_JSON) {
        json_t *arr = json_array();
        for (int i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &parts->elems[i];
            json_array_append_new(
                arr, json_pack("{s:s, s:i, s:o, s:I, s:I, s:I}", "topic", p->topic, "partition",
                               p->partition, "before",
                               opt_int(committed_of(offsets, p->topic, p->partition)), "after",
                               (json_int_t)p->offset, "log_end_offset", (json_int_t)high[i], "lag",
                               (json_int_t)WEIR_MAX(0, high[i] - p->offset)));
        }
        cli_json_print(
            json_pack("{s:s, s:b, s:o}", "group", group, "executed", executed, "partitions", arr),
            stdout);
        return;
    }
    static const char *const hdr[] = {"TOPIC", "PARTITION", "BEFORE", "AFTER", "LAG"};
    cli_table_t t;
    cli_table_init(&t, 5, hdr);
    t.shrinkable = 1;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t before = committed_of(offsets, p->topic, p->partition);
        char b[24] = "-";
        if (before >= 0)
            snprintf(b, sizeof(b), "%" PRId64, before);
        cli_table_addf(&t, "%s\t%" PRId32 "\t%s\t%" PRId64 "\t%" PRId64, p->topic, p->partition, b,
                       p->offset, WEIR_MAX(0, high[i] - p->offset));
    }
    cli_table_print(&t, stdout);
    cli_table_deinit(&t);
}

static int group_seek(cli_global_t *g, int argc, char **argv)
{
    seek_args_t sa = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = seek_parse(g, &a, &sa);
    cli_client_t c = {0};
    rd_kafka_event_t *ev_d = NULL, *ev_o = NULL;
    const rd_kafka_ConsumerGroupDescription_t *d;
    const rd_kafka_topic_partition_list_t *offsets = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t *high = NULL;
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0)
        goto out;
    const char *group = a.pos[0];
    if ((rc = describe_group(&c, group, &ev_d, &d)) != 0 ||
        (rc = group_offsets(&c, group, &ev_o, &offsets)) != 0)
        goto out;
    if (sa.ntopics == 0 && group_missing(d, offsets)) {
        cli_err(g, "group '%s' not found (to start a new group's offsets, name --topics)", group);
        rc = CLI_NOT_FOUND;
        goto out;
    }
    if ((rc = seek_partitions(&c, &sa, offsets, &parts)) != 0)
        goto out;
    high = weir_calloc((size_t)parts->cnt + 1, sizeof(int64_t));
    if ((rc = cli_offsets_resolve(&c, parts, &sa.spec, NULL, high)) != 0)
        goto out;
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(d);
    if (sa.execute && members > 0) {
        cli_err(g, "group '%s' has %zu active member%s; stop %s first", group, members,
                members == 1 ? "" : "s", members == 1 ? "it" : "them");
        rc = CLI_ERROR;
        goto out;
    }
    if (sa.execute && (rc = seek_apply(&c, group, parts)) != 0)
        goto out;
    seek_print(g, group, sa.execute, parts, offsets, high);
    if (!sa.execute)
        fprintf(stderr, "weir group seek: dry run, nothing changed (add --execute to apply)%s\n",
                members ? "; the group has active members, stop them first" : "");
out:
    free(high);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_event_destroy(ev_d);
    rd_kafka_event_destroy(ev_o);
    cli_client_close(&c);
    for (int i = 0; i < sa.ntopics; i++)
        free(sa.topics[i]);
    cli_args_deinit(&a);
    return rc;
}

/* ---- delete ---------------------------------------------------------------------------------- */

static int groups_exist(cli_client_t *c, char **groups, int n)
{
    for (int i = 0; i < n; i++) {
        rd_kafka_event_t *ev_d = NULL, *ev_o = NULL;
        const rd_kafka_ConsumerGroupDescription_t *d;
        const rd_kafka_topic_partition_list_t *offsets;
        int rc = describe_group(c, groups[i], &ev_d, &d);
        if (rc == 0)
            rc = group_offsets(c, groups[i], &ev_o, &offsets);
        if (rc == 0 && group_missing(d, offsets)) {
            cli_err(c->g, "group '%s' not found", groups[i]);
            rc = CLI_NOT_FOUND;
        }
        rd_kafka_event_destroy(ev_d);
        rd_kafka_event_destroy(ev_o);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int delete_run(cli_client_t *c, char **groups, int n)
{
    rd_kafka_DeleteGroup_t **dg = weir_calloc((size_t)n, sizeof(*dg));
    for (int i = 0; i < n; i++)
        dg[i] = rd_kafka_DeleteGroup_new(groups[i]);
    rd_kafka_DeleteGroups(c->rk, dg, (size_t)n,
                          cli_admin_options(c, RD_KAFKA_ADMIN_OP_DELETEGROUPS), c->q);
    rd_kafka_DeleteGroup_destroy_array(dg, (size_t)n);
    free(dg);
    rd_kafka_event_t *ev;
    int rc = cli_admin_result(c, "deleting groups", &ev);
    if (rc != 0)
        return rc;
    size_t nres;
    const rd_kafka_group_result_t **gr =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &nres);
    static const char *const hdr[] = {"GROUP", "STATUS"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    t.shrinkable = 1 | 1u << 1;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const char *status = "unknown", *msg = NULL;
        for (size_t j = 0; j < nres; j++) {
            if (strcmp(rd_kafka_group_result_name(gr[j]), groups[i]) != 0)
                continue;
            const rd_kafka_error_t *err = rd_kafka_group_result_error(gr[j]);
            status = err ? "failed" : "deleted";
            if (err) {
                msg = rd_kafka_error_string(err);
                cli_err(c->g, "group '%s': %s", groups[i], msg);
                rc = WEIR_MAX(rc, cli_kafka_exit(rd_kafka_error_code(err)));
            }
        }
        cli_table_addf(&t, "%s\t%s%s%s", groups[i], status, msg ? ": " : "", msg ? msg : "");
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s?}", "group", groups[i], "status", status, "error", msg));
    }
    cli_output_print(c->g, arr, &t);
    rd_kafka_event_destroy(ev);
    return rc;
}

static int group_delete(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {{'y', "yes", false, O_YES}, {0, NULL, false, 0}};
    bool seen[O_COUNT] = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_switches(&a, opts, seen);
    cli_client_t c = {0};
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && a.npos < 1)
        rc = cli_usage_err(g, "which group? give at least one");
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0)
        goto out;
    if ((rc = groups_exist(&c, a.pos, a.npos)) != 0)
        goto out;
    if (g->dry_run) {
        cli_print_status(g, "GROUP", a.pos, a.npos, "would be deleted (dry run)");
        goto out;
    }
    rc = cli_confirm_names(g, seen[O_YES], "delete", "group", a.pos, a.npos,
                           " and its committed offsets", " and their committed offsets");
    if (rc == 0)
        rc = delete_run(&c, a.pos, a.npos);
out:
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

int cli_group_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {
        {"list", group_list}, {"ls", group_list},       {"describe", group_describe},
        {"seek", group_seek}, {"delete", group_delete},
    };
    return cli_dispatch(g, "group", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
