/*
 * libweir projections against an embedded broker: a read model in SQLite built from a topic
 * with two partitions, its offsets stored in the same transactions. A second run handles only
 * what is new; after weir_projection_reset() and truncating the table a run rebuilds the same
 * read model from offset 0. A handler that fails dead-letters the event and the projection
 * moves on; the dead letter is on the broker before the offset passes it.
 */
#include "test_sdk_util.h"

#include <sqlite3.h>

static char db_path[64];

static weir_result project(weir_ctx *ctx, const weir_event *ev, void *user)
{
    sqlite3 *db = weir_ctx_db(ctx);
    CHECK(db != NULL);
    size_t n;
    const char *v = weir_event_value(ev, &n);
    if (v && strcmp(v, "bad") == 0)
        return WEIR_RESULT_FAIL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO totals(k, n) VALUES (?1, 1) "
                           "ON CONFLICT(k) DO UPDATE SET n = n + 1",
                           -1, &st, NULL) != SQLITE_OK)
        return WEIR_RESULT_RETRY;
    sqlite3_bind_text(st, 1, weir_event_key_str(ev), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? WEIR_RESULT_OK : WEIR_RESULT_RETRY;
}

static int64_t query_i64(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static weir_app *projection_app(void)
{
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    cfg.bootstrap = it_bootstrap;
    cfg.projection = "totals-view";
    cfg.db_path = db_path;
    cfg.handle_signals = false;
    cfg.log = it_quiet_log;
    weir_app *app;
    char err[256];
    if (weir_app_new(&cfg, &app, err, sizeof(err)) != 0) {
        fprintf(stderr, "weir_app_new: %s\n", err);
        return NULL;
    }
    weir_route_options o;
    weir_route_options_init(&o);
    o.retry.initial_backoff_ms = 10;
    if (weir_app_route(app, "proj-1", NULL, project, NULL, &o) != 0)
        return NULL;
    return app;
}

static void produce_batch(int from, int to)
{
    for (int i = from; i < to; i++) {
        char key[16], id[32];
        snprintf(key, sizeof(key), "k%d", i % 3);
        snprintf(id, sizeof(id), "proj-%d", i);
        it_event_t e = {"proj-1", i % 2, key, i == 7 ? "bad" : "{}", id, "Counted", NULL};
        CHECK(it_produce(&e) == 0);
    }
}

static uint64_t run_until(uint64_t finished)
{
    weir_app *app = projection_app();
    if (!app)
        return 0;
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, finished, 20000));
    it_sleep_ms(300); /* nothing more arrives */
    CHECK_EQ(it_stop(&run), 0);
    weir_stats s;
    weir_app_stats(app, &s);
    weir_app_free(app);
    return s.handler_calls;
}

TEST(build_resume_rebuild)
{
    snprintf(db_path, sizeof(db_path), "/tmp/weir-proj-XXXXXX");
    int fd = mkstemp(db_path);
    REQUIRE(fd >= 0);
    close(fd);
    sqlite3 *db;
    REQUIRE(sqlite3_open(db_path, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE totals(k TEXT PRIMARY KEY, n INTEGER)", NULL, NULL,
                         NULL) == SQLITE_OK);
    REQUIRE(it_create_topic("proj-1", 2) == 0);
    produce_batch(0, 10);

    CHECK_EQ(run_until(10), 10);
    CHECK_EQ(query_i64(db, "SELECT sum(n) FROM totals"), 9); /* one dead-lettered */
    CHECK_EQ(query_i64(db, "SELECT n FROM totals WHERE k = 'k0'"), 4);
    CHECK_EQ(query_i64(db, "SELECT next_offset FROM weir_offsets WHERE partition = 0"), 5);
    CHECK_EQ(query_i64(db, "SELECT next_offset FROM weir_offsets WHERE partition = 1"), 5);

    /* Only what is new. */
    produce_batch(10, 14);
    CHECK_EQ(run_until(4), 4);
    CHECK_EQ(query_i64(db, "SELECT sum(n) FROM totals"), 13);

    /* Rebuild from offset 0: the same read model. */
    REQUIRE(sqlite3_exec(db, "BEGIN; DELETE FROM totals;", NULL, NULL, NULL) == SQLITE_OK);
    REQUIRE(weir_projection_reset(db, "totals-view") == 0);
    REQUIRE(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_EQ(run_until(14), 14);
    CHECK_EQ(query_i64(db, "SELECT sum(n) FROM totals"), 13);
    CHECK_EQ(query_i64(db, "SELECT n FROM totals WHERE k = 'k1'"), 4);
    CHECK_EQ(query_i64(db, "SELECT sum(next_offset) FROM weir_offsets"), 14);

    /* The bad event was dead-lettered on each full pass over it (two: the first build and the
     * rebuild), each before its offset was stored. */
    it_record_t dlq[4];
    size_t nd = it_read("proj-1.dlq", 0, dlq, 4, 10000);
    CHECK_EQ(nd, 2);
    for (size_t i = 0; i < nd; i++) {
        CHECK_STR(it_hdr(&dlq[i], "ce_id"), "proj-7");
        CHECK_STR(it_hdr(&dlq[i], "weir.dlq.group"), "totals-view");
        CHECK_STR(it_hdr(&dlq[i], "weir.dlq.original.partition"), "1");
        CHECK_STR(it_hdr(&dlq[i], "weir.dlq.original.offset"), "3");
    }
    it_records_free(dlq, nd);
    sqlite3_close(db);
    char p[80];
    unlink(db_path);
    snprintf(p, sizeof(p), "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db_path);
    unlink(p);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return it_main(argc, argv);
}
