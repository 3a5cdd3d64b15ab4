/*
 * The topology: the calls that build it (sources, operators, sinks) and st_topology_build(),
 * which cuts it into sub-topologies at the repartition topics and gives each store its
 * sub-topology.
 *
 * Invariant: a stateful node (aggregate, join side) only ever sees records that are in their
 * key's partition: if its input may carry changed keys (after map, flat_map or group_by's
 * mapper), a repartition topic is put in front of it. Building never fails half way: a bad call
 * records the first error, returns NULL, and every later call on a NULL input returns NULL.
 */
#include "sdk/streams_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define ST_NODES_MAX 1024

bool st_name_ok(const char *name)
{
    if (!name || !name[0] || strlen(name) > ST_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

__attribute__((format(printf, 2, 3))) static void *topo_fail(weir_streams *s, const char *fmt, ...)
{
    if (!s->topo_error) {
        va_list ap;
        va_start(ap, fmt);
        char msg[400];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        st_set_error(s, "topology: %s", msg);
    }
    s->topo_error = true;
    return NULL;
}

static bool topo_open(weir_streams *s)
{
    if (atomic_load(&s->running) || s->built) {
        topo_fail(s, "the topology is fixed once weir_streams_run() has started");
        return false;
    }
    return true;
}

static weir_stream *node_new(weir_streams *s, st_kind_t kind, weir_stream *parent)
{
    if (s->nnodes >= ST_NODES_MAX)
        return topo_fail(s, "more than %d nodes", ST_NODES_MAX);
    weir_stream *n = weir_calloc(1, sizeof(*n));
    n->s = s;
    n->kind = kind;
    n->id = (int)s->nnodes;
    n->input = -1;
    n->table = -1;
    n->parent = parent;
    s->nodes = weir_realloc(s->nodes, (s->nnodes + 1) * sizeof(*s->nodes));
    s->nodes[s->nnodes++] = n;
    if (parent) {
        parent->children =
            weir_realloc(parent->children, (parent->nchildren + 1) * sizeof(*parent->children));
        parent->children[parent->nchildren++] = n;
        n->key_changed = parent->key_changed;
    }
    return n;
}

static bool name_taken(weir_streams *s, const char *name)
{
    for (size_t i = 0; i < s->nstores; i++)
        if (strcmp(s->stores[i]->name, name) == 0)
            return true;
    for (size_t i = 0; i < s->ntables; i++)
        if (strcmp(s->tables[i]->name, name) == 0)
            return true;
    return false;
}

static char *internal_topic(weir_streams *s, const char *name, const char *suffix)
{
    size_t n = strlen(s->app_id) + strlen(name) + strlen(suffix) + 3;
    char *t = weir_malloc(n);
    snprintf(t, n, "%s-%s-%s", s->app_id, name, suffix);
    return t;
}

static bool topic_used_as_source(weir_streams *s, const char *topic)
{
    for (size_t i = 0; i < s->nnodes; i++)
        if (s->nodes[i]->kind == ST_SOURCE && strcmp(s->nodes[i]->topic, topic) == 0)
            return true;
    return false;
}

weir_stream *weir_streams_source(weir_streams *s, const char *topic, weir_timestamp_fn ts,
                                 void *user)
{
    if (!s || !topo_open(s))
        return NULL;
    if (!topic || !topic[0] || strlen(topic) > 249)
        return topo_fail(s, "weir_streams_source: a topic name of 1..249 bytes is required");
    if (topic_used_as_source(s, topic))
        return topo_fail(s, "topic %s is already a source (use the stream returned then)", topic);
    weir_stream *n = node_new(s, ST_SOURCE, NULL);
    if (!n)
        return NULL;
    n->topic = weir_strdup(topic);
    n->ts_fn = ts;
    n->user = user;
    return n;
}

static weir_stream *fn_node(weir_stream *in, st_kind_t kind, void *fn, void *user, const char *what)
{
    if (!in || !topo_open(in->s))
        return NULL;
    if (!fn)
        return topo_fail(in->s, "%s: a function is required", what);
    weir_stream *n = node_new(in->s, kind, in);
    if (!n)
        return NULL;
    n->user = user;
    return n;
}

weir_stream *weir_stream_filter(weir_stream *in, weir_predicate fn, void *user)
{
    weir_stream *n = fn_node(in, ST_FILTER, (void *)fn, user, "weir_stream_filter");
    if (n)
        n->pred = fn;
    return n;
}

weir_stream *weir_stream_map(weir_stream *in, weir_mapper fn, void *user)
{
    weir_stream *n = fn_node(in, ST_MAP, (void *)fn, user, "weir_stream_map");
    if (n) {
        n->mapper = fn;
        n->key_changed = true;
    }
    return n;
}

weir_stream *weir_stream_map_values(weir_stream *in, weir_mapper fn, void *user)
{
    weir_stream *n = fn_node(in, ST_MAP_VALUES, (void *)fn, user, "weir_stream_map_values");
    if (n)
        n->mapper = fn;
    return n;
}

weir_stream *weir_stream_flat_map(weir_stream *in, weir_mapper fn, void *user)
{
    weir_stream *n = fn_node(in, ST_FLAT_MAP, (void *)fn, user, "weir_stream_flat_map");
    if (n) {
        n->mapper = fn;
        n->key_changed = true;
    }
    return n;
}

/* in -> <app>-<name>-repartition -> a new source, returned. */
static weir_stream *repartition(weir_stream *in, const char *name)
{
    weir_streams *s = in->s;
    char *topic = internal_topic(s, name, "repartition");
    if (topic_used_as_source(s, topic)) {
        free(topic);
        return topo_fail(s, "two repartition topics named %s", name);
    }
    weir_stream *sink = node_new(s, ST_REPART_SINK, in);
    weir_stream *src = sink ? node_new(s, ST_SOURCE, NULL) : NULL;
    if (!src) {
        free(topic);
        return NULL;
    }
    sink->topic = topic;
    sink->internal = true;
    src->topic = weir_strdup(topic);
    src->internal = true;
    src->key_changed = false;
    return src;
}

weir_stream *weir_stream_group_by(weir_stream *in, const char *name, weir_mapper fn, void *user)
{
    if (!in)
        return NULL;
    if (!st_name_ok(name))
        return topo_fail(in->s,
                         "weir_stream_group_by: name '%s' must be 1..100 letters, digits, "
                         "'.', '_' or '-'",
                         name ? name : "(null)");
    weir_stream *m = weir_stream_map(in, fn, user);
    return m ? repartition(m, name) : NULL;
}

static st_store_t *store_new(weir_streams *s, const char *name, st_store_kind_t kind,
                             const char *late_topic)
{
    st_store_t *st = weir_calloc(1, sizeof(*st));
    st->name = weir_strdup(name);
    st->changelog = internal_topic(s, name, "changelog");
    st->late_topic = late_topic ? weir_strdup(late_topic) : NULL;
    st->kind = kind;
    st->windowed = kind != ST_STORE_KV;
    st->index = (int)s->nstores;
    s->stores = weir_realloc(s->stores, (s->nstores + 1) * sizeof(*s->stores));
    s->stores[s->nstores++] = st;
    return st;
}

static int agg_check(weir_streams *s, const weir_aggregate_options *o)
{
    char why[200];
    if (!o || !st_name_ok(o->name))
        return topo_fail(s, "weir_stream_aggregate: a name of 1..100 letters, digits, '.', '_' or "
                            "'-' is required"),
               -1;
    if (name_taken(s, o->name))
        return topo_fail(s, "weir_stream_aggregate: the name %s is taken", o->name), -1;
    if (o->kind < WEIR_AGG_COUNT || o->kind > WEIR_AGG_REDUCE)
        return topo_fail(s, "aggregate %s: unknown kind", o->name), -1;
    if (o->kind == WEIR_AGG_REDUCE && !o->reduce)
        return topo_fail(s, "aggregate %s: WEIR_AGG_REDUCE needs a reducer", o->name), -1;
    if (o->kind == WEIR_AGG_REDUCE && o->window.kind == WEIR_WINDOW_SESSION && !o->merge)
        return topo_fail(s, "aggregate %s: a session reducer needs a merger", o->name), -1;
    if (st_window_check(&o->window, o->emit, why, sizeof(why)) != 0)
        return topo_fail(s, "aggregate %s: %s", o->name, why), -1;
    if (o->late_topic && !o->late_topic[0])
        return topo_fail(s, "aggregate %s: late_topic is empty", o->name), -1;
    return 0;
}

void weir_aggregate_options_init(weir_aggregate_options *opt, const char *name, weir_agg_kind kind)
{
    memset(opt, 0, sizeof(*opt));
    opt->name = name;
    opt->kind = kind;
}

weir_stream *weir_stream_aggregate(weir_stream *in, const weir_aggregate_options *opt)
{
    if (!in || !topo_open(in->s))
        return NULL;
    weir_streams *s = in->s;
    if (agg_check(s, opt) != 0)
        return NULL;
    if (in->key_changed && !(in = repartition(in, opt->name)))
        return NULL;
    st_store_kind_t kind = opt->window.kind == WEIR_WINDOW_NONE      ? ST_STORE_KV
                           : opt->window.kind == WEIR_WINDOW_SESSION ? ST_STORE_SESSION
                                                                     : ST_STORE_WINDOW;
    weir_stream *n = node_new(s, ST_AGG, in);
    if (!n)
        return NULL;
    st_store_t *st = store_new(s, opt->name, kind, opt->late_topic);
    st->node = n;
    st->gap_ms = opt->window.gap_ms;
    n->store = st;
    n->agg = *opt;
    n->agg.name = st->name;
    n->agg.late_topic = st->late_topic;
    n->grace_ms = opt->window.grace_ms;
    n->key_changed = false;
    return n;
}

int weir_streams_table(weir_streams *s, const char *name, const char *topic)
{
    if (!s || !topo_open(s))
        return -WEIR_EINVAL;
    if (!st_name_ok(name) || !topic || !topic[0] || strlen(topic) > 249) {
        topo_fail(s, "weir_streams_table: a name (letters, digits, '.', '_', '-') and a topic are "
                     "required");
        return -WEIR_EINVAL;
    }
    if (name_taken(s, name)) {
        topo_fail(s, "weir_streams_table: the name %s is taken", name);
        return -WEIR_EEXIST;
    }
    st_table_t *t = weir_calloc(1, sizeof(*t));
    t->name = weir_strdup(name);
    t->topic = weir_strdup(topic);
    s->tables = weir_realloc(s->tables, (s->ntables + 1) * sizeof(*s->tables));
    s->tables[s->ntables++] = t;
    return 0;
}

weir_stream *weir_stream_join_table(weir_stream *in, const char *table, weir_joiner fn, void *user,
                                    bool left_join)
{
    if (!in || !topo_open(in->s))
        return NULL;
    int index;
    if (!table || !st_table_find(in->s, table, &index))
        return topo_fail(in->s,
                         "weir_stream_join_table: no table named %s (declare it with "
                         "weir_streams_table first)",
                         table ? table : "(null)");
    weir_stream *n = fn_node(in, ST_JOIN_TABLE, (void *)fn, user, "weir_stream_join_table");
    if (n) {
        n->joiner = fn;
        n->table = index;
        n->left_join = left_join;
    }
    return n;
}

static weir_stream *join_side(weir_stream *in, const weir_join_options *o, const char *side,
                              bool right)
{
    weir_streams *s = in->s;
    char name[ST_NAME_MAX + 8];
    snprintf(name, sizeof(name), "%s-%s", o->name, side);
    if (in->key_changed && !(in = repartition(in, name)))
        return NULL;
    weir_stream *n = node_new(s, ST_JOIN_SIDE, in);
    if (!n)
        return NULL;
    st_store_t *st = store_new(s, name, ST_STORE_BUFFER, o->late_topic);
    st->node = n;
    st->window_ms = o->window_ms;
    n->store = st;
    n->right = right;
    n->joiner = o->fn;
    n->user = o->user;
    n->join_window_ms = o->window_ms;
    n->grace_ms = o->grace_ms;
    n->late_topic = st->late_topic;
    return n;
}

weir_stream *weir_stream_join(weir_stream *left, weir_stream *right, const weir_join_options *opt)
{
    if (!left || !right || !topo_open(left->s))
        return NULL;
    weir_streams *s = left->s;
    if (right->s != s)
        return topo_fail(s, "weir_stream_join: both streams must belong to one app");
    if (!opt || !st_name_ok(opt->name) || strlen(opt->name) > ST_NAME_MAX - 6 || !opt->fn)
        return topo_fail(s, "weir_stream_join: a name (at most 94 bytes) and a joiner are "
                            "required");
    if (opt->window_ms < 0 || opt->grace_ms < 0)
        return topo_fail(s, "join %s: window_ms and grace_ms must not be negative", opt->name);
    char l[ST_NAME_MAX + 8], r[ST_NAME_MAX + 8];
    snprintf(l, sizeof(l), "%s-left", opt->name);
    snprintf(r, sizeof(r), "%s-right", opt->name);
    if (name_taken(s, l) || name_taken(s, r))
        return topo_fail(s, "weir_stream_join: the name %s is taken", opt->name);
    weir_stream *ln = join_side(left, opt, "left", false);
    weir_stream *rn = ln ? join_side(right, opt, "right", true) : NULL;
    if (!rn)
        return NULL;
    /* Results of both sides go to one pass-through node (a filter without a predicate). */
    weir_stream *out = node_new(s, ST_FILTER, NULL);
    if (!out)
        return NULL;
    ln->other = rn->store;
    rn->other = ln->store;
    ln->join = rn->join = out;
    out->parent = ln;
    out->key_changed = false;
    return out;
}

static weir_stream *sink_node(weir_stream *in, st_kind_t kind, const char *what)
{
    if (!in || !topo_open(in->s))
        return NULL;
    return node_new(in->s, kind, in);
}

int weir_stream_to(weir_stream *in, const char *topic)
{
    if (!topic || !topic[0] || strlen(topic) > 249) {
        if (in)
            topo_fail(in->s, "weir_stream_to: a topic name of 1..249 bytes is required");
        return -WEIR_EINVAL;
    }
    weir_stream *n = sink_node(in, ST_SINK, "weir_stream_to");
    if (!n)
        return -WEIR_EINVAL;
    n->topic = weir_strdup(topic);
    return 0;
}

int weir_stream_foreach(weir_stream *in, weir_foreach_fn fn, void *user)
{
    if (!fn) {
        if (in)
            topo_fail(in->s, "weir_stream_foreach: a function is required");
        return -WEIR_EINVAL;
    }
    weir_stream *n = sink_node(in, ST_FOREACH, "weir_stream_foreach");
    if (!n)
        return -WEIR_EINVAL;
    n->each = fn;
    n->user = user;
    return 0;
}

/* ---- sub-topologies -------------------------------------------------------------------------- */

static int uf_find(int *up, int x)
{
    while (up[x] != x) {
        up[x] = up[up[x]];
        x = up[x];
    }
    return x;
}

static void uf_union(int *up, int a, int b)
{
    a = uf_find(up, a);
    b = uf_find(up, b);
    if (a != b)
        up[a < b ? b : a] = a < b ? a : b;
}

static st_sub_t *sub_for_root(weir_streams *s, int *root_sub, int root)
{
    if (root_sub[root] >= 0)
        return s->subs[root_sub[root]];
    st_sub_t *sub = weir_calloc(1, sizeof(*sub));
    sub->index = (int)s->nsubs;
    s->subs = weir_realloc(s->subs, (s->nsubs + 1) * sizeof(*s->subs));
    s->subs[s->nsubs++] = sub;
    root_sub[root] = sub->index;
    return sub;
}

int st_topology_build(weir_streams *s)
{
    if (s->built)
        return 0;
    if (s->topo_error)
        return -WEIR_EINVAL;
    if (s->nnodes == 0 && s->ntables == 0) {
        st_set_error(s, "topology: nothing to run (no source and no table)");
        return -WEIR_EINVAL;
    }
    int *up = weir_calloc(s->nnodes + 1, sizeof(int));
    int *root_sub = weir_calloc(s->nnodes + 1, sizeof(int));
    for (size_t i = 0; i < s->nnodes; i++) {
        up[i] = (int)i;
        root_sub[i] = -1;
    }
    for (size_t i = 0; i < s->nnodes; i++) {
        weir_stream *n = s->nodes[i];
        for (size_t c = 0; c < n->nchildren; c++)
            uf_union(up, n->id, n->children[c]->id);
        if (n->kind == ST_JOIN_SIDE)
            uf_union(up, n->id, n->join->id);
        if (n->kind == ST_FILTER && !n->pred && n->parent)
            uf_union(up, n->id, n->parent->id);
    }
    int r = 0;
    for (size_t i = 0; i < s->nnodes && !r; i++) {
        weir_stream *n = s->nodes[i];
        n->sub = sub_for_root(s, root_sub, uf_find(up, n->id));
        if (n->kind == ST_SOURCE) {
            if (n->sub->ninputs >= ST_INPUTS_MAX) {
                st_set_error(s, "topology: more than %d input topics feed one sub-topology",
                             ST_INPUTS_MAX);
                r = -WEIR_EINVAL;
                break;
            }
            n->input = (int)n->sub->ninputs;
            n->sub->inputs[n->sub->ninputs++] = n;
        }
    }
    for (size_t i = 0; i < s->nstores && !r; i++) {
        st_store_t *st = s->stores[i];
        st_sub_t *sub = st->node->sub;
        st->sub = sub;
        st->sub_index = (int)sub->nstores;
        st->grace_ms = st->node->grace_ms;
        sub->stores = weir_realloc(sub->stores, (sub->nstores + 1) * sizeof(*sub->stores));
        sub->stores[sub->nstores++] = st;
    }
    free(up);
    free(root_sub);
    if (!r)
        s->built = true;
    return r;
}

void st_topology_free(weir_streams *s)
{
    for (size_t i = 0; i < s->nnodes; i++) {
        weir_stream *n = s->nodes[i];
        free(n->children);
        free(n->topic);
        free(n);
    }
    free(s->nodes);
    for (size_t i = 0; i < s->nstores; i++) {
        st_store_t *st = s->stores[i];
        free(st->name);
        free(st->changelog);
        free(st->late_topic);
        free(st);
    }
    free(s->stores);
    for (size_t i = 0; i < s->nsubs; i++) {
        free(s->subs[i]->stores);
        free(s->subs[i]->rebuild);
        free(s->subs[i]);
    }
    free(s->subs);
    for (size_t i = 0; i < s->ntables; i++) {
        st_table_t *t = s->tables[i];
        free(t->name);
        free(t->topic);
        free(t->next);
        free(t->eof);
        free(t);
    }
    free(s->tables);
}

st_store_t *st_store_find(weir_streams *s, const char *name)
{
    for (size_t i = 0; i < s->nstores; i++)
        if (strcmp(s->stores[i]->name, name) == 0)
            return s->stores[i];
    return NULL;
}

st_table_t *st_table_find(weir_streams *s, const char *name, int *index)
{
    for (size_t i = 0; i < s->ntables; i++) {
        if (strcmp(s->tables[i]->name, name) == 0) {
            if (index)
                *index = (int)i;
            return s->tables[i];
        }
    }
    return NULL;
}

st_sub_t *st_sub_of_topic(weir_streams *s, const char *topic, int *input)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        st_sub_t *sub = s->subs[i];
        for (size_t k = 0; k < sub->ninputs; k++) {
            if (strcmp(sub->inputs[k]->topic, topic) == 0) {
                *input = (int)k;
                return sub;
            }
        }
    }
    return NULL;
}
