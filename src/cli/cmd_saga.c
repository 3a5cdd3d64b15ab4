/*
 * `weir saga list|show`: the sagas libweir's orchestrators keep, read from their state topics
 * ("<name>.sagas" by default, compacted): each saga's latest state is the last record of its
 * id, a JSON object {"saga","id","status","step","step_name","phase","attempt","reason","data",
 * "history":[{"t_ms","step","event"}],...}; a tombstone is an ended saga forgotten. The admin
 * API answers the same from inside the broker (src/admin/admin_sagas.c, GET /api/v1/sagas);
 * this one is on librdkafka, so it reads the sagas of any Kafka broker.
 *
 * Without --topic, every topic whose name ends in ".sagas" is read, each from its log start to
 * its end as it is when the command starts.
 */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { O_TOPIC = 1, O_STATUS };

#define SAGAS_SUFFIX ".sagas"

static bool is_saga_topic(const char *name)
{
    size_t n = strlen(name), k = strlen(SAGAS_SUFFIX);
    return n > k && strcmp(name + n - k, SAGAS_SUFFIX) == 0;
}

/* One record into {id: state}: the last one of a key wins, a tombstone forgets it. */
static int latest_one(void *arg, const rd_kafka_message_t *m)
{
    json_t *latest = arg;
    if (!m->key || m->key_len == 0)
        return 0;
    char *id = strndup(m->key, m->key_len);
    json_t *state = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    if (!m->payload)
        json_object_del(latest, id);
    else if (json_is_object(state))
        json_object_set(latest, id, state);
    json_decref(state);
    free(id);
    return 0;
}

/* The sagas of one state topic: 0 and *latest ({id: state}), or an exit code after saying why
 * (CLI_NOT_FOUND for no such topic). */
static int sagas_read(cli_client_t *c, cli_global_t *g, const char *topic, json_t **latest)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t *low = NULL, *high = NULL;
    *latest = NULL;
    int rc = cli_topic_parts(c, topic, -1, &parts, &low, &high);
    if (rc == 0) {
        *latest = json_object();
        rc = cli_scan(g, parts, high, latest_one, *latest);
    }
    if (rc != 0) {
        json_decref(*latest);
        *latest = NULL;
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    free(low);
    free(high);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --topic, else every *.sagas topic, sorted: a JSON array of names, or an exit code. */
static int saga_topics(cli_client_t *c, const char *topic, json_t **names)
{
    *names = json_array();
    if (topic) {
        json_array_append_new(*names, json_string(topic));
        return 0;
    }
    const rd_kafka_metadata_t *md = NULL;
    int rc = cli_client_metadata(c, &md);
    if (rc != 0) {
        json_decref(*names);
        *names = NULL;
        return rc;
    }
    const char **found = weir_calloc((size_t)md->topic_cnt + 1, sizeof(char *));
    size_t n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (is_saga_topic(md->topics[i].topic))
            found[n++] = md->topics[i].topic;
    qsort(found, n, sizeof(char *), name_cmp);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(*names, json_string(found[i]));
    free(found);
    rd_kafka_metadata_destroy(md);
    return 0;
}

static json_t *history_time(json_t *state, bool last)
{
    json_t *h = json_object_get(state, "history");
    size_t n = json_array_size(h);
    json_t *t = n ? json_object_get(json_array_get(h, last ? n - 1 : 0), "t_ms") : NULL;
    return json_is_integer(t) ? json_incref(t) : json_null();
}

static void time_cell(json_t *ms, char *out, size_t cap)
{
    if (json_is_integer(ms))
        cli_time_format(json_integer_value(ms), out, cap);
    else
        snprintf(out, cap, "-");
}

static const char *str_or_dash(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : "-";
}

static int saga_parse(cli_global_t *g, cli_args_t *a, const char **topic, const char **status,
                      int npos)
{
    static const cli_opt_t opts[] = {
        {0, "topic", true, O_TOPIC}, {0, "status", true, O_STATUS}, {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP)
            return -1;
        if (id == O_TOPIC)
            *topic = arg;
        if (id == O_STATUS && !status)
            return cli_usage_err(g, "--status is a flag of 'weir saga list'");
        if (id == O_STATUS)
            *status = arg;
    }
    if (rc < 0)
        return CLI_USAGE;
    if (status && *status && strcmp(*status, "RUNNING") != 0 &&
        strcmp(*status, "COMPENSATING") != 0 && strcmp(*status, "COMPLETED") != 0 &&
        strcmp(*status, "COMPENSATED") != 0)
        return cli_usage_err(g,
                             "--status is RUNNING, COMPENSATING, COMPLETED or COMPENSATED, not "
                             "'%s'",
                             *status);
    if (a->npos != npos)
        return cli_usage_err(g, npos ? "give exactly one saga id" : "takes no arguments");
    return 0;
}

/* ---- list ------------------------------------------------------------------------------------ */

static json_t *saga_summary(const char *topic, const char *id, json_t *state)
{
    static const char *const fields[] = {"saga",  "status",  "step",  "step_name",
                                         "phase", "attempt", "reason"};
    json_t *o = json_pack("{s:s, s:s}", "topic", topic, "id", id);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(fields); i++) {
        json_t *v = json_object_get(state, fields[i]);
        json_object_set_new(o, fields[i], v ? json_incref(v) : json_null());
    }
    json_object_set_new(o, "started_ms", history_time(state, false));
    json_object_set_new(o, "updated_ms", history_time(state, true));
    return o;
}

static void summary_row(cli_table_t *t, json_t *s)
{
    char started[40], updated[40];
    time_cell(json_object_get(s, "started_ms"), started, sizeof(started));
    time_cell(json_object_get(s, "updated_ms"), updated, sizeof(updated));
    cli_table_addf(t, "%s\t%s\t%s\t%s\t%s\t%" JSON_INTEGER_FORMAT "\t%s\t%s\t%s",
                   str_or_dash(s, "id"), str_or_dash(s, "saga"), str_or_dash(s, "status"),
                   str_or_dash(s, "step_name"), str_or_dash(s, "phase"),
                   json_integer_value(json_object_get(s, "attempt")), started, updated,
                   str_or_dash(s, "reason"));
}

static int saga_list(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    const char *topic = NULL, *status = NULL;
    cli_client_t c = {0};
    json_t *names = NULL, *out = json_array();
    int rc = saga_parse(g, &a, &topic, &status, 0);
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0 || (rc = saga_topics(&c, topic, &names)) != 0)
        goto out;
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name)
    {
        json_t *latest;
        if ((rc = sagas_read(&c, g, json_string_value(name), &latest)) != 0)
            goto out;
        const char *id;
        json_t *state;
        json_object_foreach(latest, id, state)
        {
            const char *st = json_string_value(json_object_get(state, "status"));
            if (!status || (st && strcmp(st, status) == 0))
                json_array_append_new(out, saga_summary(json_string_value(name), id, state));
        }
        json_decref(latest);
    }
    static const char *const headers[] = {"ID",      "SAGA",    "STATUS",  "STEP",  "PHASE",
                                          "ATTEMPT", "STARTED", "UPDATED", "REASON"};
    cli_table_t t;
    cli_table_init(&t, 9, headers);
    t.shrinkable = 1u << 8;
    json_array_foreach(out, i, name) summary_row(&t, name);
    cli_output_print(g, json_incref(out), &t);
out:
    json_decref(out);
    json_decref(names);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

/* ---- show ------------------------------------------------------------------------------------ */

static void show_print(const cli_global_t *g, json_t *s)
{
    if (g->output == CLI_OUT_JSON) {
        cli_json_print(s, stdout);
        return;
    }
    static const char *const fh[] = {"FIELD", "VALUE"};
    cli_table_t f;
    cli_table_init(&f, 2, fh);
    f.shrinkable = 1u << 1;
    char started[40], updated[40];
    time_cell(json_object_get(s, "started_ms"), started, sizeof(started));
    time_cell(json_object_get(s, "updated_ms"), updated, sizeof(updated));
    char *data = json_dumps(json_object_get(s, "data"), JSON_COMPACT);
    cli_table_addf(&f, "id\t%s", str_or_dash(s, "id"));
    cli_table_addf(&f, "saga\t%s", str_or_dash(s, "saga"));
    cli_table_addf(&f, "topic\t%s", str_or_dash(s, "topic"));
    cli_table_addf(&f, "status\t%s", str_or_dash(s, "status"));
    cli_table_addf(&f, "step\t%" JSON_INTEGER_FORMAT " (%s, %s)",
                   json_integer_value(json_object_get(s, "step")), str_or_dash(s, "step_name"),
                   str_or_dash(s, "phase"));
    cli_table_addf(&f, "attempt\t%" JSON_INTEGER_FORMAT,
                   json_integer_value(json_object_get(s, "attempt")));
    cli_table_addf(&f, "reason\t%s", str_or_dash(s, "reason"));
    cli_table_addf(&f, "started\t%s", started);
    cli_table_addf(&f, "updated\t%s", updated);
    cli_table_addf(&f, "data\t%s", data ? data : "-");
    free(data);
    cli_table_print(&f, stdout);
    cli_table_deinit(&f);
    static const char *const hh[] = {"TIME", "STEP", "EVENT"};
    cli_table_t h;
    cli_table_init(&h, 3, hh);
    h.shrinkable = 1u << 2;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(s, "history"), i, e)
    {
        char t[40];
        time_cell(json_object_get(e, "t_ms"), t, sizeof(t));
        cli_table_addf(&h, "%s\t%s\t%s", t, str_or_dash(e, "step"), str_or_dash(e, "event"));
    }
    printf("\n");
    cli_table_print(&h, stdout);
    cli_table_deinit(&h);
    json_decref(s);
}

/* The first of names (in order) holding id: its state as shown, or NULL. rc: an exit code. */
static json_t *saga_find(cli_client_t *c, cli_global_t *g, json_t *names, const char *id, int *rc)
{
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name)
    {
        json_t *latest;
        if ((*rc = sagas_read(c, g, json_string_value(name), &latest)) != 0)
            return NULL;
        json_t *state = json_object_get(latest, id);
        json_t *found = state ? json_deep_copy(state) : NULL;
        json_decref(latest);
        if (!found)
            continue;
        /* what the orchestrator keeps for itself is not part of the answer */
        json_object_del(found, "waiting");
        json_object_del(found, "notified");
        json_object_del(found, "due_ms");
        json_object_set(found, "topic", name);
        json_object_set_new(found, "started_ms", history_time(found, false));
        json_object_set_new(found, "updated_ms", history_time(found, true));
        return found;
    }
    return NULL;
}

static int saga_show(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    const char *topic = NULL;
    cli_client_t c = {0};
    json_t *names = NULL;
    int rc = saga_parse(g, &a, &topic, NULL, 1);
    if (rc < 0) {
        rc = cli_help_current(g);
        goto out;
    }
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0 || (rc = saga_topics(&c, topic, &names)) != 0)
        goto out;
    json_t *found = saga_find(&c, g, names, a.pos[0], &rc);
    if (found) {
        show_print(g, found);
    } else if (rc == 0) {
        if (topic)
            cli_err(g, "no saga '%s' in %s", a.pos[0], topic);
        else
            cli_err(g, "no saga '%s' in any *.sagas topic (%zu read; --topic names another)",
                    a.pos[0], json_array_size(names));
        rc = CLI_NOT_FOUND;
    }
out:
    json_decref(names);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}

int cli_saga_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {
        {"list", saga_list},
        {"ls", saga_list},
        {"show", saga_show},
    };
    return cli_dispatch(g, "saga", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
