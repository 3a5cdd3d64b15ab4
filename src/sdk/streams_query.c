/*
 * Queries from any thread, on a read-only connection of their own (s->qdb, one query at a time
 * under s->query_lock). SQLite's WAL gives each query the state of the last commit: never a half
 * processed record, at most commit_interval_ms behind the loop.
 */
#include "sdk/streams_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* The SQLite table of a store or table name, and whether it is a table from a topic. */
static int query_target(weir_streams *s, const char *name, char *table, size_t len, bool *is_table,
                        bool *windowed)
{
    if (!name || !st_name_ok(name))
        return -WEIR_EINVAL;
    st_store_t *st = st_store_find(s, name);
    if (st) {
        snprintf(table, len, "ws_%s", name);
        *is_table = false;
        *windowed = st->windowed;
        return 0;
    }
    if (st_table_find(s, name, NULL)) {
        snprintf(table, len, "wt_%s", name);
        *is_table = true;
        *windowed = false;
        return 0;
    }
    return -WEIR_ENOENT;
}

int weir_streams_get(weir_streams *s, const char *store, const void *key, size_t key_len,
                     void **value, size_t *value_len)
{
    *value = NULL;
    *value_len = 0;
    char table[ST_NAME_MAX + 8], sql[300];
    bool is_table, windowed;
    int r = query_target(s, store, table, sizeof(table), &is_table, &windowed);
    if (r)
        return r;
    if (windowed || key_len > INT32_MAX)
        return -WEIR_EINVAL; /* windowed stores: weir_streams_scan */
    snprintf(sql, sizeof(sql),
             is_table ? "SELECT value FROM \"%s\" WHERE key=?1"
                      : "SELECT value FROM \"%s\" WHERE key=?1 AND a=0 AND b=0",
             table);
    pthread_mutex_lock(&s->query_lock);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->qdb, sql, -1, &q, NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&s->query_lock);
        return -WEIR_ENOENT; /* not created yet: nothing stored */
    }
    sqlite3_bind_blob(q, 1, key_len ? key : "", (int)key_len, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(q, 0);
        char *v = malloc(n + 1);
        if (!v) {
            r = -WEIR_ENOMEM;
        } else {
            if (n)
                memcpy(v, sqlite3_column_blob(q, 0), n);
            v[n] = '\0';
            *value = v;
            *value_len = n;
        }
    } else {
        r = rc == SQLITE_DONE ? -WEIR_ENOENT : -WEIR_EIO;
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->query_lock);
    return r;
}

int weir_streams_scan(weir_streams *s, const char *store, weir_row_fn fn, void *user)
{
    char table[ST_NAME_MAX + 8], sql[300];
    bool is_table, windowed;
    int r = query_target(s, store, table, sizeof(table), &is_table, &windowed);
    if (r)
        return r;
    snprintf(sql, sizeof(sql),
             is_table ? "SELECT key, value, part, -1, -1 FROM \"%s\" ORDER BY key"
                      : "SELECT key, value, part, a, b FROM \"%s\" ORDER BY key, a, b, part",
             table);
    pthread_mutex_lock(&s->query_lock);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->qdb, sql, -1, &q, NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&s->query_lock);
        return 0; /* not created yet: no rows */
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        weir_row row;
        row.key = sqlite3_column_blob(q, 0);
        row.key_len = (size_t)sqlite3_column_bytes(q, 0);
        row.value = sqlite3_column_blob(q, 1);
        row.value_len = (size_t)sqlite3_column_bytes(q, 1);
        row.partition = sqlite3_column_int(q, 2);
        row.window_start = windowed ? sqlite3_column_int64(q, 3) : -1;
        row.window_end = windowed ? sqlite3_column_int64(q, 4) : -1;
        if (fn(&row, user) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    r = rc == SQLITE_DONE ? 0 : -WEIR_EIO;
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->query_lock);
    return r;
}
