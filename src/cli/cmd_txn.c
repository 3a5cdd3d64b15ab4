/*
 * `weir txn`: transactions, as kafka-transactions.sh sees them (KIP-664): list, describe,
 * producers (DescribeProducers), abort (a hanging transaction, by writing an ABORT marker with
 * WriteTxnMarkers) and find-hanging. librdkafka 2.0's admin API has none of these calls, so
 * they go over rawkafka.c, the CLI's own small protocol client: ListTransactions to every
 * broker, DescribeTransactions to each id's coordinator, DescribeProducers and WriteTxnMarkers
 * to each partition's leader.
 *
 * Invariants: `abort` changes nothing without --yes (or a "y" on a terminal) and, given
 * --start-offset, aborts only the producer whose open transaction starts exactly there;
 * find-hanging reports what Kafka's tool reports: an open transaction idle longer than the
 * maximum transaction timeout whose producer id no coordinator lists, or whose coordinator's
 * description does not include the partition.
 */
#include "cli/rawkafka.h"

#include <inttypes.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

enum {
    O_STATE = 1,
    O_PRODUCER_ID,
    O_OLDER_THAN,
    O_TOPIC,
    O_PARTITION,
    O_START_OFFSET,
    O_PRODUCER_EPOCH,
    O_COORDINATOR_EPOCH,
    O_MAX_TIMEOUT,
    O_YES,
    O_QUIET,
};

#define FILTERS_MAX          64
#define PRODUCERS_BATCH_MAX  500    /* partitions in one DescribeProducers, as Kafka's tool */
#define MAX_TIMEOUT_DEFAULT  900000 /* transaction.max.timeout.ms */
#define COORD_RETRY_SLEEP_MS 100

static const char *const txn_states[] = {"Empty",        "Ongoing",          "PrepareCommit",
                                         "PrepareAbort", "CompleteCommit",   "CompleteAbort",
                                         "Dead",         "PrepareEpochFence"};

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A time span: plain milliseconds ("900000") or a duration ("15m"). */
static int parse_ms(const char *s, int64_t *ms)
{
    if (cli_parse_i64(s, 0, INT64_MAX, ms) == 0)
        return 0;
    return cli_duration_parse(s, ms);
}

static json_t *opt_int(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static json_t *opt_time(int64_t ms)
{
    char t[32];
    if (ms < 0)
        return json_null();
    cli_time_format(ms, t, sizeof(t));
    return json_string(t);
}

static const char *int_or_dash(int64_t v, char *buf, size_t n)
{
    if (v < 0)
        return "-";
    snprintf(buf, n, "%" PRId64, v);
    return buf;
}

static const char *time_or_dash(int64_t ms, char *buf, size_t n)
{
    if (ms < 0)
        return "-";
    cli_time_format(ms, buf, n);
    return buf;
}

static bool retriable(int16_t err)
{
    return err == KAFKA_COORDINATOR_NOT_AVAILABLE || err == KAFKA_COORDINATOR_LOAD_IN_PROGRESS ||
           err == KAFKA_NOT_COORDINATOR;
}

/* Parses a command's flags with cli_args_next; fn gets each (id, arg). -1 for --help. */
typedef int (*flag_fn)(cli_global_t *g, void *ctx, int id, const char *arg);

static int parse_flags(cli_args_t *a, const cli_opt_t *opts, flag_fn fn, void *ctx)
{
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP)
            return -1;
        if ((rc = fn(a->g, ctx, id, arg)) != 0)
            return rc;
    }
    return rc < 0 ? CLI_USAGE : 0;
}

/* ---- partitions and their producers ---------------------------------------------------------- */

typedef struct {
    cli_tp_t tp;
    int32_t leader;
} part_ref_t;

static void refs_free(part_ref_t *refs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(refs[i].tp.topic);
    free(refs);
}

static void refs_add(part_ref_t **refs, size_t *n, const cli_raw_topic_t *t,
                     const cli_raw_part_t *p)
{
    *refs = weir_realloc(*refs, (*n + 1) * sizeof(**refs));
    (*refs)[(*n)++] = (part_ref_t){{weir_strdup(t->name), p->partition}, p->leader};
}

/* The partitions to look at: of `topic` (those listed, or all), or of every topic but the
 * internal ones when topic is NULL. Exit 3 for an unknown topic or partition. */
static int collect_parts(cli_raw_t *rk, const char *topic, const int64_t *parts, size_t nparts,
                         part_ref_t **out, size_t *n)
{
    char *names[1] = {(char *)topic};
    int rc = cli_raw_metadata(rk, topic ? names : NULL, topic ? 1 : 0);
    if (rc != 0)
        return rc;
    *out = NULL;
    *n = 0;
    for (size_t i = 0; !topic && i < rk->ntopics; i++) {
        const cli_raw_topic_t *t = &rk->topics[i];
        if (t->error == KAFKA_NONE && !t->internal && !cli_topic_internal(t->name))
            for (size_t j = 0; j < t->nparts; j++)
                refs_add(out, n, t, &t->parts[j]);
    }
    if (!topic)
        return 0;
    const cli_raw_topic_t *t = cli_raw_topic(rk, topic);
    if (!t) {
        cli_err(rk->g, "topic '%s' not found", topic);
        return CLI_NOT_FOUND;
    }
    if (t->error != KAFKA_NONE) {
        cli_err(rk->g, "reading the metadata of topic '%s' failed: %s", topic,
                wire_err_name(t->error));
        return CLI_ERROR;
    }
    for (size_t j = 0; j < t->nparts; j++) {
        bool want = nparts == 0;
        for (size_t k = 0; k < nparts && !want; k++)
            want = parts[k] == t->parts[j].partition;
        if (want)
            refs_add(out, n, t, &t->parts[j]);
    }
    for (size_t k = 0; k < nparts; k++) {
        bool found = false;
        for (size_t j = 0; j < *n && !found; j++)
            found = (*out)[j].tp.partition == parts[k];
        if (!found) {
            cli_err(rk->g, "partition %s/%" PRId64 " not found", topic, parts[k]);
            return CLI_NOT_FOUND;
        }
    }
    return 0;
}

/* Checks each partition's answer: the first error is printed and returned as an exit code. */
static int producers_check(cli_raw_t *rk, const cli_part_producers_t *pp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pp[i].error == KAFKA_NONE)
            continue;
        cli_err(rk->g, "describing the producers of %s/%" PRId32 " failed: %s%s%s", pp[i].topic,
                pp[i].partition, wire_err_name(pp[i].error), pp[i].error_message ? ": " : "",
                pp[i].error_message ? pp[i].error_message : "");
        return cli_raw_exit(pp[i].error);
    }
    return 0;
}

/* DescribeProducers for every partition, at its leader, PRODUCERS_BATCH_MAX at a time. */
static int producers_of(cli_raw_t *rk, const part_ref_t *refs, size_t n, cli_part_producers_t **out,
                        size_t *nout)
{
    *out = NULL;
    *nout = 0;
    bool *done = weir_calloc(n + 1, sizeof(bool));
    cli_tp_t *batch = weir_calloc(WEIR_MIN(n, PRODUCERS_BATCH_MAX) + 1, sizeof(*batch));
    int rc = 0;
    for (size_t i = 0; rc == 0; i++) {
        while (i < n && done[i])
            i++;
        if (i == n)
            break;
        int32_t leader = refs[i].leader;
        if (leader < 0) {
            cli_err(rk->g, "partition %s/%" PRId32 " has no leader", refs[i].tp.topic,
                    refs[i].tp.partition);
            rc = CLI_ERROR;
            break;
        }
        cli_raw_conn_t *c;
        if ((rc = cli_raw_node(rk, leader, &c)) != 0)
            break;
        size_t nb = 0; /* this leader's next partitions; i itself is among them */
        for (size_t j = i; j < n && nb < PRODUCERS_BATCH_MAX; j++) {
            if (!done[j] && refs[j].leader == leader) {
                batch[nb++] = refs[j].tp;
                done[j] = true;
            }
        }
        rc = cli_txn_producers(rk, c, batch, nb, out, nout);
    }
    free(batch);
    free(done);
    return rc ? rc : producers_check(rk, *out, *nout);
}

/* ---- coordinators ---------------------------------------------------------------------------- */

/* Describes n transactional ids, each at its coordinator, retrying while coordinators load or
 * move (until --timeout). out[i] is ids[i]'s description; its error may be
 * TRANSACTIONAL_ID_NOT_FOUND. */
static int describe_ids(cli_raw_t *rk, char *const *ids, size_t n, cli_txn_desc_t *out)
{
    cli_raw_coord_t *co = weir_calloc(n + 1, sizeof(*co));
    int64_t deadline = clock_mono_ms() + rk->g->timeout_ms;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (cli_txn_desc_t){.error = KAFKA_COORDINATOR_NOT_AVAILABLE};
    for (;;) {
        if ((rc = cli_raw_find_coordinators(rk, CLI_RAW_KEY_TRANSACTION, ids, n, co)) != 0)
            break;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!retriable(out[i].error))
                continue; /* answered in an earlier round */
            cli_raw_conn_t *c;
            if (co[i].error != KAFKA_NONE) {
                out[i].error = co[i].error;
            } else if ((rc = cli_raw_node_at(rk, co[i].node_id, co[i].host, co[i].port, &c)) == 0) {
                cli_txn_desc_deinit(&out[i]);
                rc = cli_txn_describe(rk, c, &ids[i], 1, &out[i]);
            }
        }
        size_t left = 0, first = n;
        for (size_t i = 0; i < n; i++) {
            free(co[i].host);
            co[i].host = NULL;
            if (retriable(out[i].error) && left++ == 0)
                first = i;
        }
        if (rc != 0 || left == 0)
            break;
        if (clock_mono_ms() + COORD_RETRY_SLEEP_MS > deadline) {
            cli_err(rk->g, "describing transactional id '%s' failed: %s (for %" PRId64 " ms)",
                    ids[first], wire_err_name(out[first].error), rk->g->timeout_ms);
            rc = CLI_ERROR;
            break;
        }
        sleep_ms(COORD_RETRY_SLEEP_MS);
    }
    free(co);
    return rc;
}

/* ListTransactions at every broker of the cluster, sorted by transactional id. */
static int cmp_listing(const void *a, const void *b)
{
    const cli_txn_listing_t *x = a, *y = b;
    int c = strcmp(x->transactional_id, y->transactional_id);
    return c ? c : (x->coordinator > y->coordinator) - (x->coordinator < y->coordinator);
}

static int list_all(cli_raw_t *rk, const cli_txn_filter_t *f, cli_txn_listing_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc = 0;
    char *unknown = NULL;
    for (size_t i = 0; i < rk->nnodes && rc == 0; i++) {
        cli_raw_conn_t *c;
        if ((rc = cli_raw_node(rk, rk->nodes[i].id, &c)) == 0)
            rc = cli_txn_list(rk, c, f, out, n, &unknown);
        if (rc == 0 && unknown) {
            cli_err(rk->g, "broker %" PRId32 " does not know the state '%s'", c->node_id, unknown);
            rc = CLI_ERROR;
        }
    }
    free(unknown);
    if (*n)
        qsort(*out, *n, sizeof(**out), cmp_listing);
    return rc;
}

/* ---- list ------------------------------------------------------------------------------------ */

typedef struct {
    const char *states[FILTERS_MAX];
    size_t nstates;
    int64_t pids[FILTERS_MAX];
    size_t npids;
    int64_t older_than_ms;
    bool quiet;
} list_args_t;

static int list_flag_state(cli_global_t *g, list_args_t *la, const char *arg)
{
    char *copy = weir_strdup(arg), *save = NULL;
    int rc = 0;
    for (char *s = strtok_r(copy, ",", &save); s && rc == 0; s = strtok_r(NULL, ",", &save)) {
        size_t k = 0;
        while (k < WEIR_ARRAY_LEN(txn_states) && strcasecmp(s, txn_states[k]) != 0)
            k++;
        if (k == WEIR_ARRAY_LEN(txn_states))
            rc = cli_usage_err(g,
                               "unknown state '%s' (Empty, Ongoing, PrepareCommit, "
                               "PrepareAbort, CompleteCommit, CompleteAbort, PrepareEpochFence)",
                               s);
        else if (la->nstates == FILTERS_MAX)
            rc = cli_usage_err(g, "too many --state filters (at most %d)", FILTERS_MAX);
        else
            la->states[la->nstates++] = txn_states[k];
    }
    free(copy);
    return rc;
}

static int list_flag(cli_global_t *g, void *ctx, int id, const char *arg)
{
    list_args_t *la = ctx;
    int64_t v;
    switch (id) {
    case O_STATE:
        return list_flag_state(g, la, arg);
    case O_QUIET:
        la->quiet = true;
        return 0;
    case O_PRODUCER_ID:
        if (cli_parse_i64(arg, 0, INT64_MAX, &v) != 0)
            return cli_usage_err(g, "--producer-id wants a producer id, got '%s'", arg);
        if (la->npids == FILTERS_MAX)
            return cli_usage_err(g, "too many --producer-id filters (at most %d)", FILTERS_MAX);
        la->pids[la->npids++] = v;
        return 0;
    case O_OLDER_THAN:
        if (parse_ms(arg, &v) != 0)
            return cli_usage_err(g,
                                 "--older-than wants milliseconds or a duration like 5m, "
                                 "got '%s'",
                                 arg);
        la->older_than_ms = v;
        return 0;
    }
    return 0;
}

static void list_print(const cli_global_t *g, const cli_txn_listing_t *l, size_t n)
{
    static const char *const hdr[] = {"TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE"};
    cli_table_t t;
    cli_table_init(&t, 4, hdr);
    t.shrinkable = 1;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        cli_table_addf(&t, "%s\t%" PRId32 "\t%" PRId64 "\t%s", l[i].transactional_id,
                       l[i].coordinator, l[i].producer_id, l[i].state);
        json_array_append_new(arr, json_pack("{s:s, s:i, s:I, s:s}", "transactional_id",
                                             l[i].transactional_id, "coordinator", l[i].coordinator,
                                             "producer_id", (json_int_t)l[i].producer_id, "state",
                                             l[i].state));
    }
    cli_output_print(g, arr, &t);
}

static int txn_list(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {{0, "state", true, O_STATE},
                                     {0, "producer-id", true, O_PRODUCER_ID},
                                     {0, "older-than", true, O_OLDER_THAN},
                                     {'q', "quiet", false, O_QUIET},
                                     {0, NULL, false, 0}};
    list_args_t la = {.older_than_ms = -1};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = parse_flags(&a, opts, list_flag, &la);
    int npos = a.npos;
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc == 0 && npos)
        rc = cli_usage_err(g, "takes no arguments");
    cli_raw_t rk;
    if (rc != 0 || (rc = cli_raw_open(&rk, g)) != 0)
        return rc;
    cli_txn_filter_t f = {la.states, la.nstates, la.pids, la.npids, la.older_than_ms};
    cli_txn_listing_t *l;
    size_t n;
    if ((rc = list_all(&rk, &f, &l, &n)) == 0 && la.quiet)
        for (size_t i = 0; i < n; i++)
            printf("%s\n", l[i].transactional_id);
    else if (rc == 0)
        list_print(g, l, n);
    cli_txn_listings_free(l, n);
    cli_raw_close(&rk);
    return rc;
}

/* ---- describe -------------------------------------------------------------------------------- */

static int cmp_tp(const void *a, const void *b)
{
    const cli_tp_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Ongoing and the Prepare states: a transaction is open (its start time is that of the last
 * transaction otherwise, so a duration would keep growing after it ended). */
static bool state_open(const char *state)
{
    return strcmp(state, "Ongoing") == 0 || strncmp(state, "Prepare", 7) == 0;
}

static void describe_print(const cli_global_t *g, cli_txn_desc_t *d)
{
    int64_t duration =
        d->start_ms >= 0 && state_open(d->state) ? WEIR_MAX(0, clock_wall_ms() - d->start_ms) : -1;
    if (d->nparts)
        qsort(d->parts, d->nparts, sizeof(*d->parts), cmp_tp);
    if (g->output == CLI_OUT_JSON) {
        json_t *parts = json_array();
        for (size_t i = 0; i < d->nparts; i++)
            json_array_append_new(parts, json_pack("{s:s, s:i}", "topic", d->parts[i].topic,
                                                   "partition", d->parts[i].partition));
        cli_json_print(
            json_pack("{s:s, s:i, s:s, s:I, s:i, s:i, s:o, s:o, s:o, s:o}", "transactional_id",
                      d->transactional_id, "coordinator", d->coordinator, "state", d->state,
                      "producer_id", (json_int_t)d->producer_id, "producer_epoch",
                      d->producer_epoch, "transaction_timeout_ms", d->timeout_ms,
                      "transaction_start_time_ms", opt_int(d->start_ms), "transaction_start_time",
                      opt_time(d->start_ms), "duration_ms", opt_int(duration), "partitions", parts),
            stdout);
        return;
    }
    char start[32], dur[24];
    printf("%-18s%s\n%-18s%" PRId32 "\n%-18s%s\n%-18s%" PRId64 "\n%-18s%" PRId32 "\n"
           "%-18s%" PRId32 "\n%-18s%s\n%-18s%s\n",
           "TRANSACTIONAL-ID", d->transactional_id, "COORDINATOR", d->coordinator, "STATE",
           d->state, "PRODUCER-ID", d->producer_id, "PRODUCER-EPOCH", d->producer_epoch,
           "TIMEOUT-MS", d->timeout_ms, "START-TIME",
           time_or_dash(d->start_ms, start, sizeof(start)), "DURATION-MS",
           int_or_dash(duration, dur, sizeof(dur)));
    if (d->nparts == 0)
        return;
    static const char *const hdr[] = {"TOPIC", "PARTITION"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    t.shrinkable = 1;
    for (size_t i = 0; i < d->nparts; i++)
        cli_table_addf(&t, "%s\t%" PRId32, d->parts[i].topic, d->parts[i].partition);
    putchar('\n');
    cli_table_print(&t, stdout);
    cli_table_deinit(&t);
}

static int txn_describe(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_none(&a);
    cli_raw_t rk = {0};
    cli_txn_desc_t d = {0};
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && a.npos != 1)
        rc = cli_usage_err(g, "give exactly one transactional id");
    if (rc != 0 || (rc = cli_raw_open(&rk, g)) != 0)
        goto out;
    if ((rc = describe_ids(&rk, &a.pos[0], 1, &d)) != 0)
        goto out;
    if (d.error == KAFKA_TRANSACTIONAL_ID_NOT_FOUND) {
        cli_err(g, "transactional id '%s' not found", a.pos[0]);
        rc = CLI_NOT_FOUND;
    } else if (d.error != KAFKA_NONE) {
        cli_err(g, "describing transactional id '%s' failed: %s", a.pos[0], wire_err_name(d.error));
        rc = CLI_ERROR;
    } else {
        describe_print(g, &d);
    }
out:
    cli_txn_desc_deinit(&d);
    cli_raw_close(&rk);
    cli_args_deinit(&a);
    return rc;
}

/* ---- producers ------------------------------------------------------------------------------- */

typedef struct {
    const char *topic; /* find-hanging --topic */
    int64_t parts[FILTERS_MAX];
    size_t nparts;
    int64_t max_timeout_ms;
} parts_args_t;

static int parts_flag(cli_global_t *g, void *ctx, int id, const char *arg)
{
    parts_args_t *pa = ctx;
    int64_t v;
    switch (id) {
    case O_TOPIC:
        pa->topic = arg;
        return 0;
    case O_PARTITION:
        if (cli_parse_i64(arg, 0, INT32_MAX, &v) != 0)
            return cli_usage_err(g, "--partition wants a partition number, got '%s'", arg);
        if (pa->nparts == FILTERS_MAX)
            return cli_usage_err(g, "too many --partition flags (at most %d)", FILTERS_MAX);
        pa->parts[pa->nparts++] = v;
        return 0;
    case O_MAX_TIMEOUT:
        if (parse_ms(arg, &v) != 0)
            return cli_usage_err(g,
                                 "--max-timeout wants milliseconds or a duration like 15m, "
                                 "got '%s'",
                                 arg);
        pa->max_timeout_ms = v;
        return 0;
    }
    return 0;
}

typedef struct {
    const cli_part_producers_t *part;
    const cli_producer_t *p;
} prow_t;

static int cmp_prow(const void *a, const void *b)
{
    const prow_t *x = a, *y = b;
    int c = strcmp(x->part->topic, y->part->topic);
    if (c == 0)
        c = (x->part->partition > y->part->partition) - (x->part->partition < y->part->partition);
    return c ? c
             : (x->p->producer_id > y->p->producer_id) - (x->p->producer_id < y->p->producer_id);
}

static json_t *producer_json(const prow_t *r)
{
    const cli_producer_t *p = r->p;
    return json_pack("{s:s, s:i, s:I, s:i, s:i, s:I, s:o, s:o, s:o}", "topic", r->part->topic,
                     "partition", r->part->partition, "producer_id", (json_int_t)p->producer_id,
                     "producer_epoch", p->producer_epoch, "last_sequence", p->last_sequence,
                     "last_timestamp", (json_int_t)p->last_timestamp, "last_time",
                     opt_time(p->last_timestamp), "coordinator_epoch",
                     opt_int(p->coordinator_epoch), "current_txn_start_offset",
                     opt_int(p->current_txn_start_offset));
}

static void producers_print(const cli_global_t *g, prow_t *rows, size_t n)
{
    static const char *const hdr[] = {"PARTITION",       "PRODUCER-ID",    "EPOCH",
                                      "LAST-SEQ",        "LAST-TIMESTAMP", "COORD-EPOCH",
                                      "TXN-START-OFFSET"};
    cli_table_t t;
    cli_table_init(&t, 7, hdr);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const cli_producer_t *p = rows[i].p;
        char ts[32], ce[24], so[24];
        cli_table_addf(&t, "%" PRId32 "\t%" PRId64 "\t%" PRId32 "\t%" PRId32 "\t%s\t%s\t%s",
                       rows[i].part->partition, p->producer_id, p->producer_epoch, p->last_sequence,
                       time_or_dash(p->last_timestamp, ts, sizeof(ts)),
                       int_or_dash(p->coordinator_epoch, ce, sizeof(ce)),
                       int_or_dash(p->current_txn_start_offset, so, sizeof(so)));
        json_array_append_new(arr, producer_json(&rows[i]));
    }
    cli_output_print(g, arr, &t);
}

static prow_t *producer_rows(const cli_part_producers_t *pp, size_t npp, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < npp; i++)
        *n += pp[i].nproducers;
    prow_t *rows = weir_calloc(*n + 1, sizeof(*rows));
    size_t k = 0;
    for (size_t i = 0; i < npp; i++)
        for (size_t j = 0; j < pp[i].nproducers; j++)
            rows[k++] = (prow_t){&pp[i], &pp[i].producers[j]};
    if (*n)
        qsort(rows, *n, sizeof(*rows), cmp_prow);
    return rows;
}

static int txn_producers(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {{'p', "partition", true, O_PARTITION}, {0, NULL, false, 0}};
    parts_args_t pa = {0};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = parse_flags(&a, opts, parts_flag, &pa);
    cli_raw_t rk = {0};
    part_ref_t *refs = NULL;
    size_t nrefs = 0, npp = 0, nrows = 0;
    cli_part_producers_t *pp = NULL;
    prow_t *rows = NULL;
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc == 0 && a.npos != 1)
        rc = cli_usage_err(g, "give exactly one topic");
    if (rc != 0 || (rc = cli_raw_open(&rk, g)) != 0)
        goto out;
    if ((rc = collect_parts(&rk, a.pos[0], pa.parts, pa.nparts, &refs, &nrefs)) != 0 ||
        (rc = producers_of(&rk, refs, nrefs, &pp, &npp)) != 0)
        goto out;
    rows = producer_rows(pp, npp, &nrows);
    producers_print(g, rows, nrows);
out:
    free(rows);
    cli_part_producers_free(pp, npp);
    refs_free(refs, nrefs);
    cli_raw_close(&rk);
    cli_args_deinit(&a);
    return rc;
}

/* ---- abort ----------------------------------------------------------------------------------- */

typedef struct {
    const char *topic;
    int64_t partition, start_offset, producer_id, producer_epoch, coordinator_epoch;
    bool yes;
} abort_args_t;

static int abort_flag(cli_global_t *g, void *ctx, int id, const char *arg)
{
    abort_args_t *aa = ctx;
    static const struct {
        int id;
        const char *name;
        int64_t min, max;
        size_t off;
    } nums[] = {
        {O_PARTITION, "--partition", 0, INT32_MAX, offsetof(abort_args_t, partition)},
        {O_START_OFFSET, "--start-offset", 0, INT64_MAX, offsetof(abort_args_t, start_offset)},
        {O_PRODUCER_ID, "--producer-id", 0, INT64_MAX, offsetof(abort_args_t, producer_id)},
        {O_PRODUCER_EPOCH, "--producer-epoch", 0, INT16_MAX,
         offsetof(abort_args_t, producer_epoch)},
        {O_COORDINATOR_EPOCH, "--coordinator-epoch", -1, INT32_MAX,
         offsetof(abort_args_t, coordinator_epoch)},
    };
    if (id == O_TOPIC)
        aa->topic = arg;
    if (id == O_YES)
        aa->yes = true;
    for (size_t i = 0; i < WEIR_ARRAY_LEN(nums); i++) {
        if (nums[i].id != id)
            continue;
        int64_t v;
        if (cli_parse_i64(arg, nums[i].min, nums[i].max, &v) != 0)
            return cli_usage_err(g, "%s wants a number from %" PRId64 " to %" PRId64 ", got '%s'",
                                 nums[i].name, nums[i].min, nums[i].max, arg);
        *(int64_t *)(void *)((char *)aa + nums[i].off) = v;
    }
    return 0;
}

/* Kafka's rules: the transaction is named by its start offset, or (for brokers before 3.0) by
 * producer id, epoch and coordinator epoch; never both. */
static int abort_check(cli_global_t *g, const abort_args_t *aa, int npos)
{
    if (npos)
        return cli_usage_err(g, "takes no arguments (name the partition with --topic and "
                                "--partition)");
    if (!aa->topic || aa->partition < 0)
        return cli_usage_err(g, "which partition? give --topic and --partition");
    bool by_offset = aa->start_offset >= 0;
    bool by_id = aa->producer_id >= 0 || aa->producer_epoch >= 0 || aa->coordinator_epoch >= -1;
    if (by_offset && by_id)
        return cli_usage_err(g, "give --start-offset, or --producer-id with --producer-epoch and "
                                "--coordinator-epoch, not both");
    if (!by_offset && !by_id)
        return cli_usage_err(g, "which transaction? give --start-offset, or --producer-id with "
                                "--producer-epoch and --coordinator-epoch");
    if (by_id && (aa->producer_id < 0 || aa->producer_epoch < 0 || aa->coordinator_epoch < -1))
        return cli_usage_err(g, "--producer-id, --producer-epoch and --coordinator-epoch go "
                                "together");
    return 0;
}

/* --start-offset: the producer whose open transaction starts there (DescribeProducers). */
static int abort_find(cli_raw_t *rk, const part_ref_t *ref, abort_args_t *aa)
{
    cli_part_producers_t *pp = NULL;
    size_t npp = 0;
    int rc = producers_of(rk, ref, 1, &pp, &npp);
    const cli_producer_t *found = NULL;
    buf_t open;
    buf_init(&open);
    for (size_t i = 0; rc == 0 && i < npp; i++) {
        for (size_t j = 0; j < pp[i].nproducers; j++) {
            const cli_producer_t *p = &pp[i].producers[j];
            if (p->current_txn_start_offset == aa->start_offset && !found)
                found = p;
            if (p->current_txn_start_offset >= 0)
                buf_printf(&open, "%s%" PRId64, open.len ? ", " : "", p->current_txn_start_offset);
        }
    }
    buf_append_u8(&open, '\0');
    if (rc == 0 && !found) {
        cli_err(rk->g, "no open transaction starts at offset %" PRId64 " of %s/%" PRId64 " (%s%s)",
                aa->start_offset, aa->topic, aa->partition,
                open.len > 1 ? "open transactions start at " : "no open transactions",
                (char *)open.data);
        rc = CLI_NOT_FOUND;
    } else if (rc == 0) {
        aa->producer_id = found->producer_id;
        aa->producer_epoch = found->producer_epoch;
        aa->coordinator_epoch = found->coordinator_epoch;
    }
    buf_deinit(&open);
    cli_part_producers_free(pp, npp);
    return rc;
}

static void abort_print(const cli_global_t *g, const abort_args_t *aa, int32_t coordinator_epoch)
{
    static const char *const hdr[] = {"TOPIC",       "PARTITION",    "PRODUCER-ID", "EPOCH",
                                      "COORD-EPOCH", "START-OFFSET", "STATUS"};
    cli_table_t t;
    cli_table_init(&t, 7, hdr);
    t.shrinkable = 1;
    char so[24];
    cli_table_addf(&t, "%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId32 "\t%s\taborted",
                   aa->topic, aa->partition, aa->producer_id, aa->producer_epoch, coordinator_epoch,
                   int_or_dash(aa->start_offset, so, sizeof(so)));
    json_t *j = json_pack("{s:s, s:I, s:I, s:I, s:i, s:o, s:s}", "topic", aa->topic, "partition",
                          (json_int_t)aa->partition, "producer_id", (json_int_t)aa->producer_id,
                          "producer_epoch", (json_int_t)aa->producer_epoch, "coordinator_epoch",
                          coordinator_epoch, "start_offset", opt_int(aa->start_offset), "status",
                          "aborted");
    cli_output_print(g, j, &t);
}

/* Writes the ABORT marker at the partition's leader. */
static int abort_write(cli_raw_t *rk, const part_ref_t *ref, const abort_args_t *aa)
{
    /* A producer whose transaction hung before its first commit or abort has no coordinator
     * epoch (-1): 0 is at most any real one, as Kafka's tool does. */
    int32_t coordinator_epoch = (int32_t)WEIR_MAX(aa->coordinator_epoch, 0);
    cli_raw_conn_t *c;
    int16_t err = KAFKA_NONE;
    int rc = ref->leader < 0 ? CLI_ERROR : cli_raw_node(rk, ref->leader, &c);
    if (ref->leader < 0)
        cli_err(rk->g, "partition %s/%" PRId64 " has no leader", aa->topic, aa->partition);
    if (rc == 0)
        rc = cli_txn_write_abort(rk, c, aa->topic, (int32_t)aa->partition, aa->producer_id,
                                 (int16_t)aa->producer_epoch, coordinator_epoch, &err);
    if (rc == 0 && err != KAFKA_NONE) {
        cli_err(rk->g,
                "aborting the transaction of producer %" PRId64 " in %s/%" PRId64 " failed: %s",
                aa->producer_id, aa->topic, aa->partition, wire_err_name(err));
        rc = cli_raw_exit(err);
    }
    if (rc == 0)
        abort_print(rk->g, aa, coordinator_epoch);
    return rc;
}

static int txn_abort(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {{'t', "topic", true, O_TOPIC},
                                     {'p', "partition", true, O_PARTITION},
                                     {0, "start-offset", true, O_START_OFFSET},
                                     {0, "producer-id", true, O_PRODUCER_ID},
                                     {0, "producer-epoch", true, O_PRODUCER_EPOCH},
                                     {0, "coordinator-epoch", true, O_COORDINATOR_EPOCH},
                                     {'y', "yes", false, O_YES},
                                     {0, NULL, false, 0}};
    abort_args_t aa = {NULL, -1, -1, -1, -1, -2, false};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = parse_flags(&a, opts, abort_flag, &aa);
    int npos = a.npos;
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc == 0)
        rc = abort_check(g, &aa, npos);
    cli_raw_t rk;
    if (rc != 0 || (rc = cli_raw_open(&rk, g)) != 0)
        return rc;
    part_ref_t *ref = NULL;
    size_t nref = 0;
    rc = collect_parts(&rk, aa.topic, &aa.partition, 1, &ref, &nref);
    if (rc == 0 && aa.start_offset >= 0)
        rc = abort_find(&rk, ref, &aa);
    if (rc == 0) {
        char action[512];
        snprintf(action, sizeof(action),
                 "abort the transaction of producer %" PRId64 " (epoch %" PRId64 ") in %s/%" PRId64,
                 aa.producer_id, aa.producer_epoch, aa.topic, aa.partition);
        rc = cli_confirm(g, aa.yes, action);
    }
    if (rc == 0)
        rc = abort_write(&rk, ref, &aa);
    refs_free(ref, nref);
    cli_raw_close(&rk);
    return rc;
}

/* ---- find-hanging ---------------------------------------------------------------------------- */

/* One open transaction found in a partition, and what its coordinator says. */
typedef struct {
    prow_t row;
    const char *transactional_id; /* NULL: no coordinator lists the producer id */
    bool hanging;
} open_txn_t;

/* Kafka's test: hanging unless the producer id's transactional id is described by its
 * coordinator with this partition among the transaction's partitions. */
static void hanging_mark(open_txn_t *o, size_t n, const cli_txn_listing_t *l, size_t nl,
                         char *const *ids, const cli_txn_desc_t *descs, size_t nids)
{
    for (size_t i = 0; i < n; i++) {
        o[i].hanging = true;
        for (size_t k = 0; k < nl && !o[i].transactional_id; k++)
            if (l[k].producer_id == o[i].row.p->producer_id)
                o[i].transactional_id = l[k].transactional_id;
        for (size_t k = 0; k < nids && o[i].transactional_id; k++) {
            if (strcmp(ids[k], o[i].transactional_id) != 0 || descs[k].error != KAFKA_NONE)
                continue;
            for (size_t j = 0; j < descs[k].nparts; j++)
                if (descs[k].parts[j].partition == o[i].row.part->partition &&
                    strcmp(descs[k].parts[j].topic, o[i].row.part->topic) == 0)
                    o[i].hanging = false;
        }
    }
}

/* The coordinators' view of the candidates' producer ids: listings, then descriptions. */
static int hanging_check(cli_raw_t *rk, open_txn_t *o, size_t n)
{
    int64_t *pids = weir_calloc(n + 1, sizeof(*pids));
    for (size_t i = 0; i < n; i++)
        pids[i] = o[i].row.p->producer_id;
    cli_txn_filter_t f = {NULL, 0, pids, n, -1};
    cli_txn_listing_t *l = NULL;
    size_t nl = 0, nids = 0;
    int rc = list_all(rk, &f, &l, &nl);
    char **ids = weir_calloc(nl + 1, sizeof(*ids));
    for (size_t k = 0; k < nl; k++) {
        bool dup = false, asked = false;
        for (size_t j = 0; j < nids && !dup; j++)
            dup = strcmp(ids[j], l[k].transactional_id) == 0;
        for (size_t i = 0; i < n && !asked; i++)
            asked = pids[i] == l[k].producer_id; /* a broker may list more than asked */
        if (!dup && asked)
            ids[nids++] = l[k].transactional_id;
    }
    cli_txn_desc_t *descs = weir_calloc(nids + 1, sizeof(*descs));
    if (rc == 0 && nids)
        rc = describe_ids(rk, ids, nids, descs);
    for (size_t k = 0; rc == 0 && k < nids; k++) {
        if (descs[k].error != KAFKA_NONE && descs[k].error != KAFKA_TRANSACTIONAL_ID_NOT_FOUND) {
            cli_err(rk->g, "describing transactional id '%s' failed: %s", ids[k],
                    wire_err_name(descs[k].error));
            rc = CLI_ERROR;
        }
    }
    if (rc == 0)
        hanging_mark(o, n, l, nl, ids, descs, nids);
    for (size_t i = 0; i < n; i++) /* the listing's strings go: keep copies */
        if (o[i].transactional_id)
            o[i].transactional_id = weir_strdup(o[i].transactional_id);
    for (size_t k = 0; k < nids; k++)
        cli_txn_desc_deinit(&descs[k]);
    free(descs);
    free(ids);
    cli_txn_listings_free(l, nl);
    free(pids);
    return rc;
}

static void hanging_print(const cli_global_t *g, const open_txn_t *o, size_t n, int64_t now)
{
    static const char *const hdr[] = {"TOPIC",       "PARTITION",    "PRODUCER-ID",   "EPOCH",
                                      "COORD-EPOCH", "START-OFFSET", "LAST-TIMESTAMP"};
    cli_table_t t;
    cli_table_init(&t, 7, hdr);
    t.shrinkable = 1;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!o[i].hanging)
            continue;
        const cli_producer_t *p = o[i].row.p;
        char ce[24], ts[32];
        cli_table_addf(&t, "%s\t%" PRId32 "\t%" PRId64 "\t%" PRId32 "\t%s\t%" PRId64 "\t%s",
                       o[i].row.part->topic, o[i].row.part->partition, p->producer_id,
                       p->producer_epoch, int_or_dash(p->coordinator_epoch, ce, sizeof(ce)),
                       p->current_txn_start_offset,
                       time_or_dash(p->last_timestamp, ts, sizeof(ts)));
        json_array_append_new(
            arr,
            json_pack("{s:s, s:i, s:I, s:i, s:o, s:I, s:I, s:o, s:I, s:s?}", "topic",
                      o[i].row.part->topic, "partition", o[i].row.part->partition, "producer_id",
                      (json_int_t)p->producer_id, "producer_epoch", p->producer_epoch,
                      "coordinator_epoch", opt_int(p->coordinator_epoch), "start_offset",
                      (json_int_t)p->current_txn_start_offset, "last_timestamp",
                      (json_int_t)p->last_timestamp, "last_time", opt_time(p->last_timestamp),
                      "duration_ms", (json_int_t)(now - p->last_timestamp), "transactional_id",
                      o[i].transactional_id));
    }
    cli_output_print(g, arr, &t);
}

static int txn_find_hanging(cli_global_t *g, int argc, char **argv)
{
    static const cli_opt_t opts[] = {{'t', "topic", true, O_TOPIC},
                                     {'p', "partition", true, O_PARTITION},
                                     {0, "max-timeout", true, O_MAX_TIMEOUT},
                                     {0, NULL, false, 0}};
    parts_args_t pa = {.max_timeout_ms = MAX_TIMEOUT_DEFAULT};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = parse_flags(&a, opts, parts_flag, &pa);
    int npos = a.npos;
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc == 0 && npos)
        rc = cli_usage_err(g, "takes no arguments (name a topic with --topic)");
    if (rc == 0 && pa.nparts && !pa.topic)
        rc = cli_usage_err(g, "--partition needs --topic");
    cli_raw_t rk;
    if (rc != 0 || (rc = cli_raw_open(&rk, g)) != 0)
        return rc;
    part_ref_t *refs = NULL;
    size_t nrefs = 0, npp = 0, nrows = 0, n = 0;
    cli_part_producers_t *pp = NULL;
    prow_t *rows = NULL;
    open_txn_t *o = NULL;
    if ((rc = collect_parts(&rk, pa.topic, pa.parts, pa.nparts, &refs, &nrefs)) == 0 &&
        (rc = producers_of(&rk, refs, nrefs, &pp, &npp)) == 0) {
        int64_t now = clock_wall_ms();
        rows = producer_rows(pp, npp, &nrows);
        o = weir_calloc(nrows + 1, sizeof(*o));
        for (size_t i = 0; i < nrows; i++) /* candidates: open and idle past the max timeout */
            if (rows[i].p->current_txn_start_offset >= 0 &&
                now - rows[i].p->last_timestamp > pa.max_timeout_ms)
                o[n++].row = rows[i];
        if (n == 0 || (rc = hanging_check(&rk, o, n)) == 0)
            hanging_print(g, o, n, now);
    }
    for (size_t i = 0; i < n; i++)
        free((char *)o[i].transactional_id);
    free(o);
    free(rows);
    cli_part_producers_free(pp, npp);
    refs_free(refs, nrefs);
    cli_raw_close(&rk);
    return rc;
}

int cli_txn_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {
        {"list", txn_list},           {"ls", txn_list},     {"describe", txn_describe},
        {"producers", txn_producers}, {"abort", txn_abort}, {"find-hanging", txn_find_hanging},
    };
    return cli_dispatch(g, "txn", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
