/*
 * The SDK's SQLite store: dedup records (ce_id -> when it was handled), the outbox (records
 * waiting to be published, then marked sent) and projection offsets (next offset per projection,
 * topic and partition). Every table lives in the same file as the service's own tables, so one
 * transaction can cover the service's writes and ours: that is the whole point of the inbox, the
 * outbox and exactly-once projections.
 *
 * A connection is used by one thread at a time. Connections the SDK opens keep their prepared
 * statements; a wrapped user connection prepares per call. Errors come back as -WEIR_EIO (or
 * -WEIR_EAGAIN when the database stayed locked past the busy timeout) with d->err filled.
 */
#include "sdk/sdk.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const sdk_sql[SDK_ST_COUNT] = {
    [SDK_ST_BEGIN] = "BEGIN IMMEDIATE",
    [SDK_ST_COMMIT] = "COMMIT",
    [SDK_ST_ROLLBACK] = "ROLLBACK",
    [SDK_ST_SAVEPOINT] = "SAVEPOINT weir_event",
    [SDK_ST_RELEASE] = "RELEASE weir_event",
    [SDK_ST_ROLLBACK_TO] = "ROLLBACK TO weir_event",
    [SDK_ST_DEDUP_SEEN] = "SELECT seen_ms FROM weir_dedup WHERE id = ?1",
    [SDK_ST_DEDUP_PUT] = "INSERT INTO weir_dedup(id, seen_ms) VALUES (?1, ?2) "
                         "ON CONFLICT(id) DO UPDATE SET seen_ms = excluded.seen_ms",
    [SDK_ST_DEDUP_PURGE] = "DELETE FROM weir_dedup WHERE seen_ms <= ?1",
    /* ?1 the oldest time that counts, then SDK_DEDUP_LOOKUP_MAX ids (unused ones NULL). */
    [SDK_ST_DEDUP_SEEN_MANY] =
        "SELECT id FROM weir_dedup WHERE seen_ms > ?1 AND id IN ("
        "?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,"
        "?25,?26,?27,?28,?29,?30,?31,?32,?33,?34,?35,?36,?37,?38,?39,?40,?41,?42,?43,?44,?45,"
        "?46,?47,?48,?49,?50,?51,?52,?53,?54,?55,?56,?57,?58,?59,?60,?61,?62,?63,?64,?65)",
    [SDK_ST_OUTBOX_PUT] = "INSERT INTO weir_outbox(topic, partition, key, value, headers, "
                          "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [SDK_ST_OUTBOX_FETCH] = "SELECT id, topic, partition, key, value, headers FROM weir_outbox "
                            "WHERE sent_ms IS NULL ORDER BY id LIMIT ?1",
    [SDK_ST_OUTBOX_SENT] = "UPDATE weir_outbox SET sent_ms = ?2 WHERE id = ?1",
    [SDK_ST_OUTBOX_PURGE] = "DELETE FROM weir_outbox WHERE sent_ms IS NOT NULL AND sent_ms < ?1",
    [SDK_ST_OFFSET_GET] = "SELECT next_offset FROM weir_offsets "
                          "WHERE name = ?1 AND topic = ?2 AND partition = ?3",
    [SDK_ST_OFFSET_PUT] = "INSERT INTO weir_offsets(name, topic, partition, next_offset) "
                          "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name, topic, partition) "
                          "DO UPDATE SET next_offset = excluded.next_offset",
};

static const char sdk_schema[] =
    "CREATE TABLE IF NOT EXISTS weir_dedup("
    "  id TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS weir_dedup_seen ON weir_dedup(seen_ms);"
    "CREATE TABLE IF NOT EXISTS weir_outbox("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    "  key BLOB, value BLOB, headers BLOB NOT NULL, created_ms INTEGER NOT NULL,"
    "  sent_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS weir_outbox_unsent ON weir_outbox(id) WHERE sent_ms IS NULL;"
    "CREATE TABLE IF NOT EXISTS weir_offsets("
    "  name TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL, PRIMARY KEY(name, topic, partition)) WITHOUT ROWID;";

static int db_fail(sdk_db_t *d, int rc, const char *what)
{
    snprintf(d->err, sizeof(d->err), "store: %s: %s", what,
             d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
    return (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? -WEIR_EAGAIN : -WEIR_EIO;
}

int sdk_db_schema(sqlite3 *db, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sdk_schema, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "store: creating tables: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -WEIR_EIO;
    }
    return 0;
}

int sdk_db_open(const char *path, sdk_db_t *d)
{
    memset(d, 0, sizeof(*d));
    d->owned = true;
    int rc = sqlite3_open_v2(
        path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int r = db_fail(d, rc, path);
        sdk_db_close(d);
        return r;
    }
    sqlite3_busy_timeout(d->db, 10000);
    /* WAL: readers never block the writer; NORMAL: a commit is durable against a process crash
     * (what at-least-once needs here), an fsync only at checkpoints. Dedup records have random
     * keys, so each batch dirties many pages: checkpoints every 10000 pages (40 MB of WAL)
     * rather than SQLite's 1000 cost ten times fewer fsyncs, and a 16 MB cache keeps more of
     * the key B-tree in memory. */
    char *msg = NULL;
    rc = sqlite3_exec(d->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                      "PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=10000;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(d->err, sizeof(d->err), "store: %s: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sdk_db_close(d);
        return -WEIR_EIO;
    }
    if (sdk_db_schema(d->db, d->err, sizeof(d->err)) != 0) {
        sdk_db_close(d);
        return -WEIR_EIO;
    }
    return 0;
}

void sdk_db_wrap(sdk_db_t *d, sqlite3 *db)
{
    memset(d, 0, sizeof(*d));
    d->db = db;
    d->owned = false;
}

void sdk_db_close(sdk_db_t *d)
{
    for (int i = 0; i < SDK_ST_COUNT; i++) {
        sqlite3_finalize(d->st[i]);
        d->st[i] = NULL;
    }
    if (d->owned && d->db)
        sqlite3_close(d->db);
    d->db = NULL;
}

static int stmt_get(sdk_db_t *d, int which, sqlite3_stmt **out)
{
    if (d->st[which]) {
        *out = d->st[which];
        return 0;
    }
    int rc = sqlite3_prepare_v3(d->db, sdk_sql[which], -1, d->owned ? SQLITE_PREPARE_PERSISTENT : 0,
                                out, NULL);
    if (rc != SQLITE_OK)
        return db_fail(d, rc, sdk_sql[which]);
    if (d->owned)
        d->st[which] = *out;
    return 0;
}

static void stmt_put(sdk_db_t *d, sqlite3_stmt *st)
{
    if (d->owned) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
}

/* Runs a statement that returns no rows. */
static int stmt_done(sdk_db_t *d, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int r = rc == SQLITE_DONE ? 0 : db_fail(d, rc, what);
    stmt_put(d, st);
    return r;
}

int sdk_db_exec(sdk_db_t *d, int which)
{
    WEIR_ASSERT(which >= SDK_ST_BEGIN && which <= SDK_ST_ROLLBACK_TO);
    sqlite3_stmt *st;
    int r = stmt_get(d, which, &st);
    return r ? r : stmt_done(d, st, sdk_sql[which]);
}

int sdk_dedup_seen(sdk_db_t *d, const char *id, int64_t now_ms, int64_t ttl_ms, bool *seen)
{
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_DEDUP_SEEN, &st);
    if (r)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        /* A record past its TTL no longer counts even if the purge has not run yet. */
        *seen = sqlite3_column_int64(st, 0) > now_ms - ttl_ms;
    } else if (rc == SQLITE_DONE) {
        *seen = false;
    } else {
        r = db_fail(d, rc, "dedup lookup");
    }
    stmt_put(d, st);
    return r;
}

int sdk_dedup_seen_many(sdk_db_t *d, const char *const *ids, const size_t *lens, size_t n,
                        int64_t now_ms, int64_t ttl_ms, bool *seen)
{
    WEIR_ASSERT(n <= SDK_DEDUP_LOOKUP_MAX);
    _Static_assert(SDK_DEDUP_LOOKUP_MAX == 64, "the statement has 64 id slots");
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_DEDUP_SEEN_MANY, &st);
    if (r)
        return r;
    sqlite3_bind_int64(st, 1, now_ms - ttl_ms);
    for (size_t i = 0; i < n; i++) {
        seen[i] = false;
        sqlite3_bind_text(st, (int)i + 2, ids[i], (int)lens[i], SQLITE_STATIC);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *found = (const char *)sqlite3_column_text(st, 0);
        size_t flen = (size_t)sqlite3_column_bytes(st, 0);
        for (size_t i = 0; i < n; i++)
            if (lens[i] == flen && memcmp(ids[i], found, flen) == 0)
                seen[i] = true;
    }
    if (rc != SQLITE_DONE)
        r = db_fail(d, rc, "dedup lookup");
    stmt_put(d, st); /* also clears the bindings: the next call's unused slots are NULL */
    return r;
}

int sdk_dedup_put(sdk_db_t *d, const char *id, int64_t now_ms)
{
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_DEDUP_PUT, &st);
    if (r)
        return r;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    return stmt_done(d, st, "dedup record");
}

int sdk_dedup_purge(sdk_db_t *d, int64_t now_ms, int64_t ttl_ms, int *purged)
{
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_DEDUP_PURGE, &st);
    if (r)
        return r;
    sqlite3_bind_int64(st, 1, now_ms - ttl_ms);
    r = stmt_done(d, st, "dedup purge");
    if (purged)
        *purged = r ? 0 : sqlite3_changes(d->db);
    return r;
}

static void bind_blob(sqlite3_stmt *st, int i, const void *p, ssize_t n)
{
    if (n < 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_blob(st, i, n ? p : "", (int)n, SQLITE_STATIC);
}

int sdk_outbox_put(sdk_db_t *d, const char *topic, int32_t partition, const void *key,
                   ssize_t key_len, const void *value, ssize_t value_len, const buf_t *hdrblob,
                   int64_t now_ms)
{
    if (key_len > INT32_MAX || value_len > INT32_MAX || hdrblob->len > SDK_HDRBLOB_BYTES_MAX)
        return -WEIR_ETOOBIG;
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_OUTBOX_PUT, &st);
    if (r)
        return r;
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, partition);
    bind_blob(st, 3, key, key_len);
    bind_blob(st, 4, value, value_len);
    bind_blob(st, 5, hdrblob->data, (ssize_t)hdrblob->len);
    sqlite3_bind_int64(st, 6, now_ms);
    return stmt_done(d, st, "outbox insert");
}

static void column_buf(sqlite3_stmt *st, int i, buf_t *b, bool *is_null)
{
    buf_init(b);
    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        if (is_null)
            *is_null = true;
        return;
    }
    if (is_null)
        *is_null = false;
    const void *p = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (n > 0)
        buf_append(b, p, (size_t)n);
}

int sdk_outbox_fetch(sdk_db_t *d, size_t max, sdk_outbox_row_t *rows, size_t *n)
{
    *n = 0;
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_OUTBOX_FETCH, &st);
    if (r)
        return r;
    sqlite3_bind_int64(st, 1, (int64_t)max);
    int rc;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        sdk_outbox_row_t *row = &rows[*n];
        row->id = sqlite3_column_int64(st, 0);
        const unsigned char *t = sqlite3_column_text(st, 1);
        row->topic = weir_strdup(t ? (const char *)t : "");
        row->partition = sqlite3_column_int(st, 2);
        column_buf(st, 3, &row->key, &row->key_null);
        column_buf(st, 4, &row->value, &row->value_null);
        column_buf(st, 5, &row->headers, NULL);
        (*n)++;
    }
    if (*n < max && rc != SQLITE_DONE)
        r = db_fail(d, rc, "outbox fetch");
    stmt_put(d, st);
    if (r) {
        for (size_t i = 0; i < *n; i++)
            sdk_outbox_row_deinit(&rows[i]);
        *n = 0;
    }
    return r;
}

void sdk_outbox_row_deinit(sdk_outbox_row_t *r)
{
    free(r->topic);
    r->topic = NULL;
    buf_deinit(&r->key);
    buf_deinit(&r->value);
    buf_deinit(&r->headers);
}

int sdk_outbox_mark_sent(sdk_db_t *d, int64_t id, int64_t now_ms)
{
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_OUTBOX_SENT, &st);
    if (r)
        return r;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now_ms);
    return stmt_done(d, st, "outbox mark sent");
}

int sdk_outbox_purge(sdk_db_t *d, int64_t sent_before_ms, int *purged)
{
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_OUTBOX_PURGE, &st);
    if (r)
        return r;
    sqlite3_bind_int64(st, 1, sent_before_ms);
    r = stmt_done(d, st, "outbox purge");
    if (purged)
        *purged = r ? 0 : sqlite3_changes(d->db);
    return r;
}

int sdk_outbox_unsent(sqlite3 *db, int64_t *count)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM weir_outbox WHERE sent_ms IS NULL", -1, &st,
                           NULL) != SQLITE_OK)
        return -WEIR_EIO;
    int rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -WEIR_EIO;
}

int sdk_offset_get(sdk_db_t *d, const char *name, const char *topic, int32_t partition,
                   int64_t *next)
{
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_OFFSET_GET, &st);
    if (r)
        return r;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *next = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        r = -WEIR_ENOENT;
    else
        r = db_fail(d, rc, "projection offset lookup");
    stmt_put(d, st);
    return r;
}

int sdk_offset_put(sdk_db_t *d, const char *name, const char *topic, int32_t partition,
                   int64_t next)
{
    sqlite3_stmt *st;
    int r = stmt_get(d, SDK_ST_OFFSET_PUT, &st);
    if (r)
        return r;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, partition);
    sqlite3_bind_int64(st, 4, next);
    return stmt_done(d, st, "projection offset store");
}

int weir_projection_reset(sqlite3 *db, const char *projection)
{
    if (!db || !projection)
        return -WEIR_EINVAL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM weir_offsets WHERE name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -WEIR_EIO;
    sqlite3_bind_text(st, 1, projection, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -WEIR_EIO;
}
