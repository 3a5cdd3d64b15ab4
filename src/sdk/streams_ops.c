/*
 * Processing: a record goes depth first through the nodes below its source. Stateless nodes
 * call the user's function; an aggregate reads and writes its store's row for the key (and
 * window), a join side buffers the record and probes the other side, a sink produces.
 *
 * Every store write and every output happens while one input record is being processed (s->ctx):
 * its input and offset tag the changelog records (weir.src), and while rebuilding lost state
 * below the old committed offset (ctx.suppress) outputs are counted and not produced.
 *
 * Time: each store part keeps the largest event time it has seen (its stream time); its
 * watermark is stream time minus the grace period. A window whose end is at or behind the
 * watermark is closed: a record for it is late, and in final mode its result is emitted once,
 * ordered by window end, key and start. A session closes when its last event plus the gap is
 * behind the watermark; a join side's record expires when its time plus the window is.
 */
#include "sdk/streams_internal.h"

#include <stdio.h>
#include <stdlib.h>

static void forward(weir_streams *s, weir_stream *n, const weir_record *r)
{
    for (size_t i = 0; i < n->nchildren; i++)
        st_process(s, n->children[i], r);
}

/* A buffer's bytes, never NULL (SQLite and librdkafka read an empty non-NULL value as empty). */
static const char *bptr(const buf_t *b)
{
    return b->data ? (const char *)b->data : "";
}

static st_part_t *part_of(weir_streams *s, const st_store_t *st)
{
    return &s->ctx.task->parts[st->sub_index];
}

static void skip(weir_streams *s, const weir_stream *n, const char *why)
{
    atomic_fetch_add_explicit(&s->stats.skipped, 1, memory_order_relaxed);
    st_log(s, WEIR_LOG_DEBUG, "record at offset %lld skipped at node %d: %s",
           (long long)s->ctx.offset, n->id, why);
}

/* ---- collectors ------------------------------------------------------------------------------ */

static char *copy_nul(const void *p, size_t n)
{
    if (!p)
        return NULL;
    char *c = weir_malloc(n + 1);
    if (n)
        memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

static bool same_key(const weir_record *r, const void *key, size_t klen)
{
    if (!key || !r->key)
        return !key && !r->key;
    return klen == r->key_len && memcmp(key, r->key, klen) == 0;
}

static void collector_init(weir_collector *c, weir_streams *s, weir_stream *to,
                           const weir_record *in)
{
    memset(c, 0, sizeof(*c));
    c->s = s;
    c->node = to;
    c->in = in;
    buf_init(&c->held);
}

int weir_collect(weir_collector *c, const void *key, size_t key_len, const void *value,
                 size_t value_len)
{
    if (c->err)
        return c->err;
    if (c->hold) {
        buf_reset(&c->held);
        if (value && value_len)
            buf_append(&c->held, value, value_len);
        c->held_set = true;
        return 0;
    }
    if (c->value_only && !same_key(c->in, key, key_len))
        return c->err = -WEIR_EINVAL; /* this callback keeps the key */
    if ((c->single && c->count >= 1) || c->count >= ST_COLLECT_MAX)
        return c->err = -WEIR_ERANGE;
    c->count++;
    weir_record r = *c->in;
    char *k = copy_nul(key, key_len), *v = copy_nul(value, value_len);
    r.key = k;
    r.key_len = k ? key_len : 0;
    r.value = v;
    r.value_len = v ? value_len : 0;
    if (c->next_ts_set) {
        r.timestamp = c->next_ts;
        c->next_ts_set = false;
    }
    forward(c->s, c->node, &r);
    free(k);
    free(v);
    return 0;
}

int weir_collect_str(weir_collector *c, const char *key, const char *value)
{
    return weir_collect(c, key, key ? strlen(key) : 0, value, value ? strlen(value) : 0);
}

int weir_collect_value(weir_collector *c, const void *value, size_t value_len)
{
    return weir_collect(c, c->in->key, c->in->key_len, value, value_len);
}

void weir_collect_timestamp(weir_collector *c, int64_t timestamp)
{
    if (!c->value_only && !c->hold) {
        c->next_ts = timestamp;
        c->next_ts_set = true;
    }
}

static void do_map(weir_streams *s, weir_stream *n, const weir_record *r)
{
    weir_collector c;
    collector_init(&c, s, n, r);
    c.value_only = n->kind == ST_MAP_VALUES;
    c.single = n->kind != ST_FLAT_MAP;
    int rc = n->mapper(r, &c, n->user);
    if (c.err)
        skip(s, n, c.err == -WEIR_EINVAL ? "map_values changed the key" : "too many records");
    else if (rc)
        skip(s, n, "the mapper returned non-zero");
    buf_deinit(&c.held);
}

/* ---- outputs --------------------------------------------------------------------------------- */

static rd_kafka_headers_t *window_headers(const weir_record *r)
{
    if (r->window_start < 0)
        return NULL;
    char a[24], b[24];
    snprintf(a, sizeof(a), "%lld", (long long)r->window_start);
    snprintf(b, sizeof(b), "%lld", (long long)r->window_end);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, ST_WSTART_HDR, -1, a, -1);
    rd_kafka_header_add(h, ST_WEND_HDR, -1, b, -1);
    return h;
}

static bool suppressed(weir_streams *s)
{
    if (!s->ctx.suppress)
        return false;
    atomic_fetch_add_explicit(&s->stats.suppressed, 1, memory_order_relaxed);
    return true;
}

static void do_sink(weir_streams *s, weir_stream *n, const weir_record *r)
{
    if (suppressed(s))
        return;
    st_produce(s, n->topic, RD_KAFKA_PARTITION_UA, r->key, r->key ? (ssize_t)r->key_len : -1,
               r->value, r->value ? (ssize_t)r->value_len : -1, r->timestamp, window_headers(r),
               NULL);
}

static void late(weir_streams *s, const st_store_t *st, const weir_record *r)
{
    atomic_fetch_add_explicit(&s->stats.late, 1, memory_order_relaxed);
    if (!st->late_topic || suppressed(s))
        return;
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "weir.late.store", -1, st->name, -1);
    st_produce(s, st->late_topic, RD_KAFKA_PARTITION_UA, r->key, r->key ? (ssize_t)r->key_len : -1,
               r->value, r->value ? (ssize_t)r->value_len : -1, r->timestamp, h, NULL);
}

/* Moves the store part's stream time; returns its watermark. */
static int64_t advance(weir_streams *s, st_part_t *sp, int64_t ts)
{
    if (ts > sp->stream_time || sp->stream_time == ST_TIME_NONE) {
        sp->stream_time = ts;
        sp->src_input = s->ctx.input;
        sp->src_offset = s->ctx.offset;
    }
    return sp->stream_time - sp->store->grace_ms;
}

/* A result of an aggregate, to the node's children. */
static void emit(weir_streams *s, weir_stream *n, const weir_record *in, const void *key,
                 size_t klen, const void *val, size_t vlen, int64_t ws, int64_t we, int64_t ts)
{
    weir_record out = *in;
    char *k = copy_nul(key, klen), *v = copy_nul(val, vlen);
    out.key = k;
    out.key_len = klen;
    out.value = v;
    out.value_len = v ? vlen : 0;
    out.window_start = ws;
    out.window_end = we;
    out.timestamp = ts;
    forward(s, n, &out);
    free(k);
    free(v);
}

/* ---- aggregates ------------------------------------------------------------------------------ */

/* The next aggregate into out: 0, 1 when it stays as it is, <0 to skip the record. */
static int agg_apply(weir_streams *s, weir_stream *n, const void *agg, size_t alen,
                     const weir_record *r, buf_t *out)
{
    const weir_aggregate_options *o = &n->agg;
    if (o->kind == WEIR_AGG_REDUCE) {
        weir_collector c;
        collector_init(&c, s, n, r);
        c.hold = true;
        int rc = o->reduce(agg, alen, r, &c, o->user);
        if (!rc && c.held_set) {
            buf_reset(out);
            buf_append(out, c.held.data ? c.held.data : (uint8_t *)"", c.held.len);
        }
        bool set = c.held_set;
        buf_deinit(&c.held);
        return rc ? -WEIR_EINVAL : set ? 0 : 1;
    }
    double x = 0;
    if (o->kind != WEIR_AGG_COUNT) {
        int rc =
            o->number ? o->number(r, &x, o->user) : st_parse_number(r->value, r->value_len, &x);
        if (rc)
            return -WEIR_EINVAL;
    }
    char num[32];
    if (st_agg_builtin(o->kind, agg, alen, x, num) != 0)
        return -WEIR_ECORRUPT;
    buf_reset(out);
    buf_append_str(out, num);
    return 0;
}

static void agg_kv(weir_streams *s, weir_stream *n, st_part_t *sp, const weir_record *r)
{
    const void *agg = NULL;
    size_t alen = 0;
    int g = st_row_get(s, sp->store, sp->task->partition, r->key, r->key_len, 0, 0, &agg, &alen);
    if (g && g != -WEIR_ENOENT)
        return;
    buf_t next;
    buf_init(&next);
    int rc = agg_apply(s, n, g ? NULL : agg, alen, r, &next);
    if (rc < 0)
        skip(s, n, "the aggregate refused the record");
    else if (rc == 0 &&
             st_row_put(s, sp, r->key, r->key_len, 0, 0, bptr(&next), (ssize_t)next.len, true) == 0)
        emit(s, n, r, r->key, r->key_len, bptr(&next), next.len, -1, -1, r->timestamp);
    buf_deinit(&next);
}

static void agg_time_window(weir_streams *s, weir_stream *n, st_part_t *sp, const weir_record *r)
{
    const weir_window *w = &n->agg.window;
    int64_t wm = advance(s, sp, r->timestamp);
    int64_t starts[1000];
    size_t nw = st_windows_for(w, r->timestamp, starts, WEIR_ARRAY_LEN(starts));
    size_t applied = 0;
    buf_t next;
    buf_init(&next);
    for (size_t i = 0; i < nw; i++) {
        int64_t a = starts[i], b = a + w->size_ms;
        if (b <= wm)
            continue; /* this window is closed */
        applied++;
        const void *agg = NULL;
        size_t alen = 0;
        int g =
            st_row_get(s, sp->store, sp->task->partition, r->key, r->key_len, a, b, &agg, &alen);
        if (g && g != -WEIR_ENOENT)
            break;
        int rc = agg_apply(s, n, g ? NULL : agg, alen, r, &next);
        if (rc < 0) {
            skip(s, n, "the aggregate refused the record");
            break;
        }
        if (rc == 1)
            continue;
        if (st_row_put(s, sp, r->key, r->key_len, a, b, bptr(&next), (ssize_t)next.len, true) != 0)
            break;
        if (n->agg.emit == WEIR_EMIT_UPDATES)
            emit(s, n, r, r->key, r->key_len, bptr(&next), next.len, a, b, r->timestamp);
    }
    buf_deinit(&next);
    if (applied == 0)
        late(s, sp->store, r);
}

typedef struct {
    int64_t a, b;
    buf_t v;
} st_rowcopy_t;

/* Rows of key in [lo, hi] (sessions: overlapping; buffers: event time), copied out. */
static size_t range_rows(weir_streams *s, st_part_t *sp, const weir_record *r, int64_t hi,
                         int64_t lo, st_rowcopy_t **out)
{
    sqlite3_stmt *q = sp->store->st_range;
    sqlite3_bind_int(q, 1, sp->task->partition);
    sqlite3_bind_blob(q, 2, r->key_len ? r->key : "", (int)r->key_len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, hi);
    sqlite3_bind_int64(q, 4, lo);
    size_t n = 0, cap = 0;
    st_rowcopy_t *rows = NULL;
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            rows = weir_realloc(rows, cap * sizeof(*rows));
        }
        rows[n].a = sqlite3_column_int64(q, 0);
        rows[n].b = sqlite3_column_int64(q, 1);
        buf_init(&rows[n].v);
        st_buf_set(&rows[n].v, sqlite3_column_blob(q, 2), (size_t)sqlite3_column_bytes(q, 2));
        n++;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    *out = rows;
    return n;
}

static void rows_free(st_rowcopy_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_deinit(&rows[i].v);
    free(rows);
}

/* The sessions' aggregates combined, oldest first, into acc. */
static int session_merge(weir_streams *s, weir_stream *n, st_rowcopy_t *rows, size_t nrows,
                         buf_t *acc)
{
    buf_reset(acc);
    buf_append(acc, rows[0].v.data, rows[0].v.len);
    for (size_t i = 1; i < nrows; i++) {
        if (n->agg.kind == WEIR_AGG_REDUCE) {
            weir_record none = {0};
            weir_collector c;
            collector_init(&c, s, n, &none);
            c.hold = true;
            int rc =
                n->agg.merge(acc->data, acc->len, rows[i].v.data, rows[i].v.len, &c, n->agg.user);
            if (!rc && c.held_set) {
                buf_reset(acc);
                buf_append(acc, c.held.data ? c.held.data : (uint8_t *)"", c.held.len);
            }
            buf_deinit(&c.held);
            if (rc)
                return -WEIR_EINVAL;
        } else {
            char num[32];
            if (st_agg_merge(n->agg.kind, acc->data, acc->len, rows[i].v.data, rows[i].v.len,
                             num) != 0)
                return -WEIR_ECORRUPT;
            buf_reset(acc);
            buf_append_str(acc, num);
        }
    }
    return 0;
}

static void agg_session(weir_streams *s, weir_stream *n, st_part_t *sp, const weir_record *r)
{
    int64_t gap = n->agg.window.gap_ms, t = r->timestamp;
    int64_t wm = advance(s, sp, t);
    st_rowcopy_t *rows;
    size_t nrows = range_rows(s, sp, r, t + gap, t - gap, &rows);
    int64_t ms = t, me = t;
    for (size_t i = 0; i < nrows; i++) {
        ms = rows[i].a < ms ? rows[i].a : ms;
        me = rows[i].b > me ? rows[i].b : me;
    }
    if (me + gap + 1 <= wm) {
        rows_free(rows, nrows);
        late(s, sp->store, r);
        return;
    }
    buf_t acc, next;
    buf_init(&acc);
    buf_init(&next);
    int rc = nrows ? session_merge(s, n, rows, nrows, &acc) : 0;
    if (!rc)
        rc = agg_apply(s, n, nrows ? (bptr(&acc)) : NULL, acc.len, r, &next);
    if (rc == 1) { /* the reducer kept the merged aggregate */
        buf_reset(&next);
        buf_append(&next, acc.data ? acc.data : (uint8_t *)"", acc.len);
        rc = nrows ? 0 : 1;
    }
    if (rc < 0)
        skip(s, n, "the aggregate refused the record");
    for (size_t i = 0; rc == 0 && i < nrows; i++) {
        if (rows[i].a == ms && rows[i].b == me)
            continue;
        st_row_put(s, sp, r->key, r->key_len, rows[i].a, rows[i].b, NULL, -1, true);
        if (n->agg.emit == WEIR_EMIT_UPDATES)
            emit(s, n, r, r->key, r->key_len, NULL, 0, rows[i].a, rows[i].b, t);
    }
    if (rc == 0 &&
        st_row_put(s, sp, r->key, r->key_len, ms, me, bptr(&next), (ssize_t)next.len, true) == 0 &&
        n->agg.emit == WEIR_EMIT_UPDATES)
        emit(s, n, r, r->key, r->key_len, bptr(&next), next.len, ms, me, t);
    buf_deinit(&acc);
    buf_deinit(&next);
    rows_free(rows, nrows);
}

static void do_agg(weir_streams *s, weir_stream *n, const weir_record *r)
{
    if (!r->key) {
        skip(s, n, "aggregates need a key");
        return;
    }
    if (r->timestamp < 0) {
        skip(s, n, "negative event time");
        return;
    }
    st_part_t *sp = part_of(s, n->store);
    switch (n->agg.window.kind) {
    case WEIR_WINDOW_NONE:
        advance(s, sp, r->timestamp);
        agg_kv(s, n, sp, r);
        break;
    case WEIR_WINDOW_SESSION:
        agg_session(s, n, sp, r);
        break;
    default:
        agg_time_window(s, n, sp, r);
    }
}

/* ---- joins ----------------------------------------------------------------------------------- */

static void do_join_table(weir_streams *s, weir_stream *n, const weir_record *r)
{
    st_table_t *t = s->tables[n->table];
    const void *val = NULL;
    size_t vlen = 0;
    int64_t ts = 0;
    int g = r->key ? st_table_get(s, t, r->key, r->key_len, &val, &vlen, &ts) : -WEIR_ENOENT;
    if (g && g != -WEIR_ENOENT)
        return;
    if (g && !n->left_join)
        return;
    char *copy = g ? NULL : copy_nul(val, vlen); /* the table's scratch buffer is reused below */
    weir_record right = {0};
    right.key = r->key;
    right.key_len = r->key_len;
    right.value = copy;
    right.value_len = vlen;
    right.timestamp = ts;
    right.window_start = right.window_end = -1;
    right.topic = t->topic;
    right.partition = -1;
    right.offset = -1;
    weir_collector c;
    collector_init(&c, s, n, r);
    c.value_only = true;
    int rc = n->joiner(r, g ? NULL : &right, &c, n->user);
    if (c.err || rc)
        skip(s, n, c.err ? "the joiner changed the key" : "the joiner returned non-zero");
    buf_deinit(&c.held);
    free(copy);
}

/* The input topic a node's records come from. */
static const char *source_topic(const weir_stream *n)
{
    while (n->parent && n->kind != ST_SOURCE)
        n = n->parent;
    return n->topic;
}

/* A buffered value keeps null apart from empty: one byte 0 (null) or 1, then the bytes. */
static void join_buffer_value(const weir_record *r, buf_t *out)
{
    buf_reset(out);
    buf_append_u8(out, r->value ? 1 : 0);
    if (r->value && r->value_len)
        buf_append(out, r->value, r->value_len);
}

static void join_probe(weir_streams *s, weir_stream *n, st_part_t *other, const weir_record *r)
{
    st_rowcopy_t *rows;
    size_t nrows = range_rows(s, other, r, r->timestamp + n->join_window_ms,
                              r->timestamp - n->join_window_ms, &rows);
    const char *other_topic = source_topic(other->store->node);
    for (size_t i = 0; i < nrows; i++) {
        weir_record o = *r;
        bool has = rows[i].v.len > 0 && rows[i].v.data[0] == 1;
        o.value = has ? (const char *)rows[i].v.data + 1 : NULL;
        o.value_len = has ? rows[i].v.len - 1 : 0;
        o.timestamp = rows[i].a;
        o.offset = rows[i].b / 1024;
        o.topic = other_topic;
        o.window_start = o.window_end = -1;
        const weir_record *left = n->right ? &o : r, *right = n->right ? r : &o;
        weir_collector c;
        collector_init(&c, s, n->join, left);
        c.value_only = true;
        c.next_ts = r->timestamp > o.timestamp ? r->timestamp : o.timestamp;
        c.next_ts_set = true;
        c.value_only = true;
        int rc = n->joiner(left, right, &c, n->user);
        if (c.err || rc)
            skip(s, n, c.err ? "the joiner changed the key" : "the joiner returned non-zero");
        buf_deinit(&c.held);
    }
    rows_free(rows, nrows);
}

static void do_join_side(weir_streams *s, weir_stream *n, const weir_record *r)
{
    if (!r->key) {
        skip(s, n, "joins need a key");
        return;
    }
    st_part_t *own = part_of(s, n->store), *other = part_of(s, n->other);
    /* Both sides share one stream time. */
    int64_t wm = advance(s, own, r->timestamp);
    if (own->stream_time > other->stream_time || other->stream_time == ST_TIME_NONE) {
        other->stream_time = own->stream_time;
        other->src_input = own->src_input;
        other->src_offset = own->src_offset;
    } else {
        own->stream_time = other->stream_time;
        own->src_input = other->src_input;
        own->src_offset = other->src_offset;
        wm = own->stream_time - own->store->grace_ms;
    }
    if (r->timestamp + n->join_window_ms + 1 <= wm) {
        late(s, own->store, r);
        return;
    }
    buf_t v;
    buf_init(&v);
    join_buffer_value(r, &v);
    int64_t b = s->ctx.offset * 1024 + (s->ctx.seq < 1023 ? s->ctx.seq : 1023);
    s->ctx.seq++;
    int rc = st_row_put(s, own, r->key, r->key_len, r->timestamp, b, v.data, (ssize_t)v.len, true);
    buf_deinit(&v);
    if (rc == 0)
        join_probe(s, n, other, r);
}

void st_process(weir_streams *s, weir_stream *n, const weir_record *r)
{
    if (s->ctx.depth >= ST_DEPTH_MAX) {
        st_fatal(s, -WEIR_ERANGE, "a record went through more than %d nodes", ST_DEPTH_MAX);
        return;
    }
    s->ctx.depth++;
    switch (n->kind) {
    case ST_SOURCE:
        forward(s, n, r);
        break;
    case ST_FILTER:
        if (!n->pred || n->pred(r, n->user))
            forward(s, n, r);
        break;
    case ST_MAP:
    case ST_MAP_VALUES:
    case ST_FLAT_MAP:
        do_map(s, n, r);
        break;
    case ST_REPART_SINK:
    case ST_SINK:
        do_sink(s, n, r);
        break;
    case ST_FOREACH:
        if (!suppressed(s))
            n->each(r, n->user);
        break;
    case ST_AGG:
        do_agg(s, n, r);
        break;
    case ST_JOIN_TABLE:
        do_join_table(s, n, r);
        break;
    case ST_JOIN_SIDE:
        do_join_side(s, n, r);
        break;
    }
    s->ctx.depth--;
}

/* ---- closing windows ------------------------------------------------------------------------- */

typedef struct {
    buf_t key;
    int64_t a, b;
    buf_t v;
} st_closed_t;

/* Closed rows leave SQLite in one statement and are not tombstoned in the changelog: it is
 * compacted and also deleted by time (st_part_purge_closed drops them again after a restore).
 * In final mode each closed window's result goes out first, in order of end, key, start. */
static void close_part(weir_streams *s, st_part_t *sp, int64_t wm)
{
    st_store_t *st = sp->store;
    weir_stream *n = st->node;
    if (n->kind == ST_AGG && n->agg.emit == WEIR_EMIT_FINAL) {
        sqlite3_stmt *q = st->st_close;
        sqlite3_bind_int(q, 1, sp->task->partition);
        sqlite3_bind_int64(q, 2, wm);
        st_closed_t *rows = NULL;
        size_t nrows = 0, cap = 0;
        while (sqlite3_step(q) == SQLITE_ROW) {
            if (nrows == cap) {
                cap = cap ? cap * 2 : 64;
                rows = weir_realloc(rows, cap * sizeof(*rows));
            }
            st_closed_t *c = &rows[nrows++];
            buf_init(&c->key);
            buf_init(&c->v);
            st_buf_set(&c->key, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0));
            c->a = sqlite3_column_int64(q, 1);
            c->b = sqlite3_column_int64(q, 2);
            st_buf_set(&c->v, sqlite3_column_blob(q, 3), (size_t)sqlite3_column_bytes(q, 3));
        }
        sqlite3_reset(q);
        weir_record none = {0};
        none.topic = sp->task->in[s->ctx.input].topic;
        none.partition = sp->task->partition;
        none.offset = s->ctx.offset;
        for (size_t i = 0; i < nrows; i++) {
            st_closed_t *c = &rows[i];
            int64_t ts = st->kind == ST_STORE_SESSION ? c->b : c->b - 1;
            emit(s, n, &none, bptr(&c->key), c->key.len, bptr(&c->v), c->v.len, c->a, c->b, ts);
            buf_deinit(&c->key);
            buf_deinit(&c->v);
        }
        free(rows);
    }
    st_part_purge_closed(s, sp, wm);
}

void st_task_close_windows(weir_streams *s, st_task_t *t)
{
    for (size_t i = 0; i < t->sub->nstores; i++) {
        st_part_t *sp = &t->parts[i];
        if (!sp->store->windowed || sp->stream_time == ST_TIME_NONE)
            continue;
        int64_t wm = sp->stream_time - sp->store->grace_ms;
        if (sp->next_close <= wm)
            close_part(s, sp, wm);
    }
}

int st_task_save_stream_times(weir_streams *s, st_task_t *t)
{
    for (size_t i = 0; i < t->sub->nstores; i++) {
        st_part_t *sp = &t->parts[i];
        if (sp->stream_time == sp->stream_time_saved)
            continue;
        uint8_t v[8], src[9];
        be64_write(v, (uint64_t)sp->stream_time);
        src[0] = (uint8_t)sp->src_input;
        be64_write(src + 1, (uint64_t)sp->src_offset);
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, ST_META_HDR, -1, "stream-time", -1);
        rd_kafka_header_add(h, ST_SRC_HDR, -1, src, sizeof(src));
        int r = st_produce(s, sp->store->changelog, t->partition, ST_META_KEY, ST_META_KEY_LEN, v,
                           sizeof(v), -1, h, sp);
        if (r)
            return r;
        sp->stream_time_saved = sp->stream_time;
    }
    return 0;
}

bool st_record_headers_window(const rd_kafka_message_t *m, int64_t *start, int64_t *end)
{
    rd_kafka_headers_t *h = NULL;
    const void *a, *b;
    size_t an, bn;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h ||
        rd_kafka_header_get_last(h, ST_WSTART_HDR, &a, &an) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, ST_WEND_HDR, &b, &bn) != RD_KAFKA_RESP_ERR_NO_ERROR || !a ||
        !b || an == 0 || an > 20 || bn == 0 || bn > 20)
        return false;
    char sa[24], sb[24];
    memcpy(sa, a, an);
    sa[an] = '\0';
    memcpy(sb, b, bn);
    sb[bn] = '\0';
    char *ea, *eb;
    long long x = strtoll(sa, &ea, 10), y = strtoll(sb, &eb, 10);
    if (*ea || *eb || x < 0 || y < x)
        return false;
    *start = x;
    *end = y;
    return true;
}
