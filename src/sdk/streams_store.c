/*
 * Streams state in SQLite: one table per store ("ws_<name>": partition, key, a, b, the time t at
 * which the row closes, value), one per table from a topic ("wt_<name>"), the checkpoints
 * (weir_st_ckpt: per store and partition, the changelog offset the rows reflect and the store's
 * stream time) and the tables' topic offsets (weir_st_table_offsets). Everything the loop
 * writes between two commits is one SQLite transaction, committed after the Kafka side of the
 * commit, so the rows and their checkpoint never disagree.
 *
 * A changelog record is the row: key = the user key, then a and b (8 bytes each, big-endian)
 * unless the store is a plain key-value one; value = the row's value, or null when the row was
 * deleted; header weir.src = the input (1 byte) and offset (8 bytes) of the record that caused
 * it, so a restore can leave out what was never committed.
 */
#include "sdk/streams_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char st_schema[] =
    "CREATE TABLE IF NOT EXISTS weir_st_meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS weir_st_ckpt(store TEXT NOT NULL, part INTEGER NOT NULL,"
    "  changelog_next INTEGER NOT NULL, stream_time INTEGER NOT NULL,"
    "  PRIMARY KEY(store, part)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS weir_st_table_offsets(tbl TEXT NOT NULL, part INTEGER NOT NULL,"
    "  next INTEGER NOT NULL, PRIMARY KEY(tbl, part)) WITHOUT ROWID;";

static int db_err(weir_streams *s, const char *what)
{
    st_set_error(s, "store %s: %s: %s", s->db_path, what, sqlite3_errmsg(s->db));
    return -WEIR_EIO;
}

static int prep(weir_streams *s, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
        return db_err(s, sql);
    return 0;
}

static int exec(weir_streams *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        st_set_error(s, "store %s: %s", s->db_path, msg ? msg : "error");
        sqlite3_free(msg);
        return -WEIR_EIO;
    }
    return 0;
}

/* Runs a statement that returns no row, then resets it. */
static int step_done(weir_streams *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : db_err(s, what);
}

static int instance_id_load(weir_streams *s)
{
    sqlite3_stmt *st;
    if (prep(s, "SELECT v FROM weir_st_meta WHERE k = 'instance'", &st))
        return -WEIR_EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(s->instance_id, sizeof(s->instance_id), "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    char id[37];
    weir_uuid(id);
    snprintf(s->instance_id, sizeof(s->instance_id), "%.8s", id + 28); /* the random tail */
    if (prep(s, "INSERT INTO weir_st_meta(k, v) VALUES ('instance', ?1)", &st))
        return -WEIR_EIO;
    sqlite3_bind_text(st, 1, s->instance_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_err(s, "instance id");
}

int st_db_open(weir_streams *s, char *err, size_t errlen)
{
    if (mkdir(s->state_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "state_dir %s: %s", s->state_dir, strerror(errno));
        return -WEIR_EIO;
    }
    if (sqlite3_open_v2(s->db_path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "store %s: %s", s->db_path, sqlite3_errmsg(s->db));
        return -WEIR_EIO;
    }
    sqlite3_busy_timeout(s->db, 10000);
    int r = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=10000;");
    if (!r)
        r = exec(s, st_schema);
    if (!r)
        r = instance_id_load(s);
    if (!r)
        r = prep(s,
                 "SELECT changelog_next, stream_time FROM weir_st_ckpt WHERE store=?1 AND part=?2",
                 &s->st_ckpt_get);
    if (!r)
        r = prep(s,
                 "INSERT INTO weir_st_ckpt(store, part, changelog_next, stream_time) VALUES "
                 "(?1, ?2, ?3, ?4) ON CONFLICT(store, part) DO UPDATE SET "
                 "changelog_next = excluded.changelog_next, stream_time = excluded.stream_time",
                 &s->st_ckpt_put);
    if (!r)
        r = prep(s, "DELETE FROM weir_st_ckpt WHERE store=?1 AND part=?2", &s->st_ckpt_del);
    if (!r)
        r = prep(s, "SELECT part, next FROM weir_st_table_offsets WHERE tbl=?1",
                 &s->st_tab_off_get);
    if (!r)
        r = prep(s,
                 "INSERT INTO weir_st_table_offsets(tbl, part, next) VALUES (?1, ?2, ?3) "
                 "ON CONFLICT(tbl, part) DO UPDATE SET next = excluded.next",
                 &s->st_tab_off_put);
    if (r) {
        snprintf(err, errlen, "%s", s->errmsg);
        return r;
    }
    if (sqlite3_open_v2(s->db_path, &s->qdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "store %s (query connection): %s", s->db_path,
                 sqlite3_errmsg(s->qdb));
        return -WEIR_EIO;
    }
    sqlite3_busy_timeout(s->qdb, 10000);
    return 0;
}

static void stmts_finalize(sqlite3_stmt **list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_finalize(list[i]);
        list[i] = NULL;
    }
}

void st_db_close(weir_streams *s)
{
    for (size_t i = 0; i < s->nstores; i++) {
        st_store_t *st = s->stores[i];
        sqlite3_stmt *l[] = {st->st_get,   st->st_put, st->st_del,  st->st_range,
                             st->st_close, st->st_min, st->st_wipe, st->st_purge};
        stmts_finalize(l, WEIR_ARRAY_LEN(l));
    }
    for (size_t i = 0; i < s->ntables; i++) {
        st_table_t *t = s->tables[i];
        sqlite3_stmt *l[] = {t->st_get, t->st_put, t->st_del};
        stmts_finalize(l, WEIR_ARRAY_LEN(l));
    }
    sqlite3_stmt *l[] = {s->st_ckpt_get, s->st_ckpt_put, s->st_ckpt_del, s->st_tab_off_get,
                         s->st_tab_off_put};
    stmts_finalize(l, WEIR_ARRAY_LEN(l));
    if (s->db_txn)
        st_db_rollback(s);
    sqlite3_close(s->db);
    sqlite3_close(s->qdb);
    s->db = s->qdb = NULL;
}

int st_db_begin(weir_streams *s)
{
    if (s->db_txn)
        return 0;
    int r = exec(s, "BEGIN IMMEDIATE");
    s->db_txn = r == 0;
    return r;
}

int st_db_commit(weir_streams *s)
{
    if (!s->db_txn)
        return 0;
    int r = exec(s, "COMMIT");
    s->db_txn = false;
    return r;
}

void st_db_rollback(weir_streams *s)
{
    if (s->db_txn)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->db_txn = false;
}

/* ---- stores ---------------------------------------------------------------------------------- */

int st_store_prepare(weir_streams *s, st_store_t *st)
{
    char sql[600];
    const char *n = st->name;
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS \"ws_%s\"(part INTEGER NOT NULL, key BLOB NOT NULL,"
             " a INTEGER NOT NULL, b INTEGER NOT NULL, t INTEGER, value BLOB NOT NULL,"
             " PRIMARY KEY(part, key, a, b)) WITHOUT ROWID;"
             "CREATE INDEX IF NOT EXISTS \"ws_%s_t\" ON \"ws_%s\"(part, t) WHERE t IS NOT NULL;",
             n, n, n);
    int r = exec(s, sql);
#define PREP(field, ...)                                                                           \
    do {                                                                                           \
        if (!r) {                                                                                  \
            snprintf(sql, sizeof(sql), __VA_ARGS__);                                               \
            r = prep(s, sql, &st->field);                                                          \
        }                                                                                          \
    } while (0)
    PREP(st_get, "SELECT value FROM \"ws_%s\" WHERE part=?1 AND key=?2 AND a=?3 AND b=?4", n);
    PREP(st_put,
         "INSERT INTO \"ws_%s\"(part, key, a, b, t, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
         "ON CONFLICT(part, key, a, b) DO UPDATE SET t = excluded.t, value = excluded.value",
         n);
    PREP(st_del, "DELETE FROM \"ws_%s\" WHERE part=?1 AND key=?2 AND a=?3 AND b=?4", n);
    if (st->kind == ST_STORE_SESSION)
        PREP(st_range,
             "SELECT a, b, value FROM \"ws_%s\" WHERE part=?1 AND key=?2 AND a<=?3 AND b>=?4 "
             "ORDER BY a, b",
             n);
    else
        PREP(st_range,
             "SELECT a, b, value FROM \"ws_%s\" WHERE part=?1 AND key=?2 AND a<=?3 AND a>=?4 "
             "ORDER BY a, b",
             n);
    PREP(st_close,
         "SELECT key, a, b, value FROM \"ws_%s\" WHERE part=?1 AND t IS NOT NULL AND t<=?2 "
         "ORDER BY t, key, a, b",
         n);
    PREP(st_min, "SELECT min(t) FROM \"ws_%s\" WHERE part=?1 AND t IS NOT NULL", n);
    PREP(st_wipe, "DELETE FROM \"ws_%s\" WHERE part=?1", n);
    PREP(st_purge, "DELETE FROM \"ws_%s\" WHERE part=?1 AND t IS NOT NULL AND t<=?2", n);
#undef PREP
    return r;
}

int64_t st_store_t_of(const st_store_t *st, int64_t a, int64_t b)
{
    switch (st->kind) {
    case ST_STORE_WINDOW:
        return b;
    case ST_STORE_SESSION:
        return b + st->gap_ms + 1;
    case ST_STORE_BUFFER:
        return a + st->window_ms + 1;
    default:
        return ST_TIME_NONE;
    }
}

void st_buf_set(buf_t *b, const void *p, size_t n)
{
    buf_reset(b);
    buf_reserve(b, n + 1);
    if (n)
        buf_append(b, p, n);
    b->data[n] = '\0';
}

int st_row_get(weir_streams *s, st_store_t *st, int32_t part, const void *key, size_t klen,
               int64_t a, int64_t b, const void **val, size_t *vlen)
{
    sqlite3_stmt *q = st->st_get;
    sqlite3_bind_int(q, 1, part);
    sqlite3_bind_blob(q, 2, klen ? key : "", (int)klen, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, a);
    sqlite3_bind_int64(q, 4, b);
    int rc = sqlite3_step(q);
    int r = 0;
    if (rc == SQLITE_ROW) {
        st_buf_set(&s->valbuf, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0));
        *val = s->valbuf.data;
        *vlen = s->valbuf.len;
    } else {
        r = rc == SQLITE_DONE ? -WEIR_ENOENT : db_err(s, "row lookup");
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return r;
}

void st_changelog_key(const st_store_t *st, const void *key, size_t klen, int64_t a, int64_t b,
                      buf_t *out)
{
    buf_reset(out);
    if (klen)
        buf_append(out, key, klen);
    if (st->kind != ST_STORE_KV) {
        buf_append_be64(out, (uint64_t)a);
        buf_append_be64(out, (uint64_t)b);
    }
}

int st_changelog_key_parse(const st_store_t *st, const void *ck, size_t cklen, size_t *klen,
                           int64_t *a, int64_t *b)
{
    if (st->kind == ST_STORE_KV) {
        *klen = cklen;
        *a = *b = 0;
        return 0;
    }
    if (!ck || cklen < 16)
        return -WEIR_ECORRUPT;
    const uint8_t *p = (const uint8_t *)ck + cklen - 16;
    *klen = cklen - 16;
    *a = (int64_t)be64_read(p);
    *b = (int64_t)be64_read(p + 8);
    return 0;
}

/* The row in SQLite alone (restores and the writer). */
static int row_write(weir_streams *s, st_store_t *st, int32_t part, const void *key, size_t klen,
                     int64_t a, int64_t b, const void *val, ssize_t vlen)
{
    sqlite3_stmt *q = val ? st->st_put : st->st_del;
    sqlite3_bind_int(q, 1, part);
    sqlite3_bind_blob(q, 2, klen ? key : "", (int)klen, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, a);
    sqlite3_bind_int64(q, 4, b);
    if (val) {
        int64_t t = st_store_t_of(st, a, b);
        if (t == ST_TIME_NONE)
            sqlite3_bind_null(q, 5);
        else
            sqlite3_bind_int64(q, 5, t);
        sqlite3_bind_blob(q, 6, vlen ? val : "", (int)vlen, SQLITE_STATIC);
    }
    return step_done(s, q, val ? "row write" : "row delete");
}

int st_row_put(weir_streams *s, st_part_t *sp, const void *key, size_t klen, int64_t a, int64_t b,
               const void *val, ssize_t vlen, bool changelog)
{
    st_store_t *st = sp->store;
    if (klen > INT32_MAX || vlen > INT32_MAX)
        return -WEIR_ETOOBIG;
    int r = row_write(s, st, sp->task->partition, key, klen, a, b, val, vlen);
    if (r)
        return r;
    if (val && st->windowed) {
        int64_t t = st_store_t_of(st, a, b);
        if (t < sp->next_close)
            sp->next_close = t;
    }
    s->dirty = true;
    if (!changelog)
        return 0;
    buf_t ck;
    buf_init(&ck);
    st_changelog_key(st, key, klen, a, b, &ck);
    uint8_t src[9];
    src[0] = (uint8_t)s->ctx.input;
    be64_write(src + 1, (uint64_t)s->ctx.offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, ST_SRC_HDR, -1, src, sizeof(src));
    r = st_produce(s, st->changelog, sp->task->partition, ck.data, (ssize_t)ck.len, val,
                   val ? vlen : -1, -1, h, sp);
    buf_deinit(&ck);
    return r;
}

int st_part_next_close(weir_streams *s, st_part_t *sp)
{
    sp->next_close = INT64_MAX;
    if (!sp->store->windowed)
        return 0;
    sqlite3_stmt *q = sp->store->st_min;
    sqlite3_bind_int(q, 1, sp->task->partition);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
        sp->next_close = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_err(s, "next close");
}

int st_part_purge_closed(weir_streams *s, st_part_t *sp, int64_t wm)
{
    sqlite3_stmt *q = sp->store->st_purge;
    sqlite3_bind_int(q, 1, sp->task->partition);
    sqlite3_bind_int64(q, 2, wm);
    int r = step_done(s, q, "closing windows");
    s->dirty = true;
    return r ? r : st_part_next_close(s, sp);
}

int st_part_wipe(weir_streams *s, st_store_t *st, int32_t part)
{
    sqlite3_bind_int(st->st_wipe, 1, part);
    int r = step_done(s, st->st_wipe, "wipe");
    return r ? r : st_ckpt_del(s, st->name, part);
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

int st_ckpt_get(weir_streams *s, const char *store, int32_t part, int64_t *changelog_next,
                int64_t *stream_time)
{
    sqlite3_stmt *q = s->st_ckpt_get;
    sqlite3_bind_text(q, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, part);
    int rc = sqlite3_step(q);
    int r = 0;
    if (rc == SQLITE_ROW) {
        *changelog_next = sqlite3_column_int64(q, 0);
        *stream_time = sqlite3_column_int64(q, 1);
    } else {
        r = rc == SQLITE_DONE ? -WEIR_ENOENT : db_err(s, "checkpoint lookup");
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return r;
}

int st_ckpt_put(weir_streams *s, const char *store, int32_t part, int64_t changelog_next,
                int64_t stream_time)
{
    sqlite3_stmt *q = s->st_ckpt_put;
    sqlite3_bind_text(q, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, part);
    sqlite3_bind_int64(q, 3, changelog_next);
    sqlite3_bind_int64(q, 4, stream_time);
    return step_done(s, q, "checkpoint");
}

int st_ckpt_del(weir_streams *s, const char *store, int32_t part)
{
    sqlite3_stmt *q = s->st_ckpt_del;
    sqlite3_bind_text(q, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, part);
    return step_done(s, q, "checkpoint delete");
}

int st_ckpt_each(weir_streams *s, st_ckpt_fn fn, void *user)
{
    sqlite3_stmt *q;
    if (prep(s, "SELECT store, part FROM weir_st_ckpt ORDER BY store, part", &q))
        return -WEIR_EIO;
    /* Collected first: fn may delete checkpoints. */
    char **names = NULL;
    int32_t *parts = NULL;
    size_t n = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        names = weir_realloc(names, (n + 1) * sizeof(*names));
        parts = weir_realloc(parts, (n + 1) * sizeof(*parts));
        names[n] = weir_strdup((const char *)sqlite3_column_text(q, 0));
        parts[n++] = sqlite3_column_int(q, 1);
    }
    sqlite3_finalize(q);
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        if (!r)
            r = fn(names[i], parts[i], user);
        free(names[i]);
    }
    free(names);
    free(parts);
    return r;
}

/* ---- restore --------------------------------------------------------------------------------- */

static bool header_get(const rd_kafka_message_t *m, const char *name, const void **v, size_t *n)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h)
        return false;
    return rd_kafka_header_get_last(h, name, v, n) == RD_KAFKA_RESP_ERR_NO_ERROR && *v;
}

/* The record was made by processing an input record that the group never committed: a crash
 * came before the commit, and the rerun makes it again. */
static bool uncommitted(const st_part_t *sp, const rd_kafka_message_t *m)
{
    const void *v;
    size_t n;
    if (!header_get(m, ST_SRC_HDR, &v, &n) || n != 9)
        return false;
    const uint8_t *p = v;
    size_t input = p[0];
    int64_t offset = (int64_t)be64_read(p + 1);
    const st_task_t *t = sp->task;
    return input < t->sub->ninputs && offset >= t->in[input].committed;
}

int st_restore_apply(weir_streams *s, st_part_t *sp, const rd_kafka_message_t *m, bool *skipped)
{
    *skipped = uncommitted(sp, m);
    if (*skipped)
        return 0;
    const void *v;
    size_t n;
    if (header_get(m, ST_META_HDR, &v, &n)) {
        if (m->len == 8) {
            int64_t t = (int64_t)be64_read(m->payload);
            if (t > sp->stream_time)
                sp->stream_time = t;
        }
        return 0;
    }
    size_t klen;
    int64_t a, b;
    if (st_changelog_key_parse(sp->store, m->key, m->key_len, &klen, &a, &b) != 0) {
        st_set_error(s,
                     "changelog %s [%d] offset %lld: a key of %zu bytes is too short for the "
                     "store's row key",
                     sp->store->changelog, (int)m->partition, (long long)m->offset, m->key_len);
        return -WEIR_ECORRUPT;
    }
    return row_write(s, sp->store, sp->task->partition, m->key, klen, a, b, m->payload,
                     m->payload ? (ssize_t)m->len : -1);
}

/* ---- tables from topics ---------------------------------------------------------------------- */

int st_table_prepare(weir_streams *s, st_table_t *t)
{
    char sql[400];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS \"wt_%s\"(key BLOB PRIMARY KEY, value BLOB NOT NULL,"
             " part INTEGER NOT NULL, ts INTEGER NOT NULL) WITHOUT ROWID",
             t->name);
    int r = exec(s, sql);
    if (!r) {
        snprintf(sql, sizeof(sql), "SELECT value, ts FROM \"wt_%s\" WHERE key=?1", t->name);
        r = prep(s, sql, &t->st_get);
    }
    if (!r) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO \"wt_%s\"(key, value, part, ts) VALUES (?1, ?2, ?3, ?4) ON "
                 "CONFLICT(key) DO UPDATE SET value=excluded.value, part=excluded.part, "
                 "ts=excluded.ts",
                 t->name);
        r = prep(s, sql, &t->st_put);
    }
    if (!r) {
        snprintf(sql, sizeof(sql), "DELETE FROM \"wt_%s\" WHERE key=?1", t->name);
        r = prep(s, sql, &t->st_del);
    }
    return r;
}

int st_table_apply(weir_streams *s, st_table_t *t, const rd_kafka_message_t *m)
{
    if (m->partition >= 0 && m->partition < t->partitions)
        t->next[m->partition] = m->offset + 1;
    s->dirty = true;
    if (!m->key) /* a table row needs a key; Kafka refuses keyless records on compacted topics */
        return 0;
    if (m->key_len > INT32_MAX || m->len > INT32_MAX)
        return -WEIR_ETOOBIG;
    sqlite3_stmt *q = m->payload ? t->st_put : t->st_del;
    sqlite3_bind_blob(q, 1, m->key, (int)m->key_len, SQLITE_STATIC);
    if (m->payload) {
        sqlite3_bind_blob(q, 2, m->len ? m->payload : "", (int)m->len, SQLITE_STATIC);
        sqlite3_bind_int(q, 3, m->partition);
        sqlite3_bind_int64(q, 4, rd_kafka_message_timestamp(m, NULL));
    }
    return step_done(s, q, "table row");
}

int st_table_offsets_load(weir_streams *s, st_table_t *t)
{
    for (int p = 0; p < t->partitions; p++)
        t->next[p] = 0;
    sqlite3_stmt *q = s->st_tab_off_get;
    sqlite3_bind_text(q, 1, t->name, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int p = sqlite3_column_int(q, 0);
        if (p >= 0 && p < t->partitions)
            t->next[p] = sqlite3_column_int64(q, 1);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_DONE ? 0 : db_err(s, "table offsets");
}

int st_table_offset_put(weir_streams *s, st_table_t *t, int32_t part, int64_t next)
{
    sqlite3_stmt *q = s->st_tab_off_put;
    sqlite3_bind_text(q, 1, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, part);
    sqlite3_bind_int64(q, 3, next);
    return step_done(s, q, "table offset");
}

int st_table_get(weir_streams *s, st_table_t *t, const void *key, size_t klen, const void **val,
                 size_t *vlen, int64_t *ts)
{
    sqlite3_stmt *q = t->st_get;
    sqlite3_bind_blob(q, 1, klen ? key : "", (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    int r = 0;
    if (rc == SQLITE_ROW) {
        st_buf_set(&s->valbuf, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0));
        *val = s->valbuf.data;
        *vlen = s->valbuf.len;
        *ts = sqlite3_column_int64(q, 1);
    } else {
        r = rc == SQLITE_DONE ? -WEIR_ENOENT : db_err(s, "table lookup");
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return r;
}
