/*
 * libweir's idempotent consumer against an embedded broker:
 *  - events repeating a ce_id already handled are skipped (plain route, dedup store);
 *  - in an inbox (transactional) route a RETRY rolls back the handler's writes and its outbox
 *    rows, and the OK attempt commits them with the dedup record;
 *  - a consumer killed with SIGKILL after its side effects but before any offset commit causes
 *    no second effect when it comes back: the events are delivered again and skipped.
 * The SIGKILL victim is this program re-executed as a child ("child" mode).
 */
#include "test_sdk_util.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

static void tmp_db(char *path, size_t n, const char *name)
{
    snprintf(path, n, "/tmp/weir-%s-XXXXXX", name);
    int fd = mkstemp(path);
    if (fd >= 0)
        close(fd);
}

static void rm_db(const char *path)
{
    char p[128];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static int64_t query_i64(const char *path, const char *sql)
{
    sqlite3 *db;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) == SQLITE_OK)
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
}

/* ---- duplicates skipped --------------------------------------------------------------------- */

static int dup_calls;

static weir_result count_handler(weir_ctx *ctx, const weir_event *ev, void *user)
{
    (*(int *)user)++;
    return WEIR_RESULT_OK;
}

TEST(duplicate_ids_skipped)
{
    char db[64];
    tmp_db(db, sizeof(db), "dedup");
    REQUIRE(it_create_topic("dup-1", 1) == 0);
    const char *ids[] = {"a", "b", "a", "c", "b", "a"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        it_event_t e = {"dup-1", 0, "k", "{}", ids[i], "Thing", NULL};
        REQUIRE(it_produce(&e) == 0);
    }
    it_event_t noid = {"dup-1", 0, "k", "{}", NULL, "Thing", NULL}; /* no ce_id: never deduped */
    REQUIRE(it_produce(&noid) == 0);
    REQUIRE(it_produce(&noid) == 0);
    weir_app *app = it_app("g-dup-1", db, 100, NULL);
    REQUIRE(app);
    REQUIRE(weir_app_route(app, "dup-1", NULL, count_handler, &dup_calls, NULL) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 8, 30000));
    CHECK_EQ(it_stop(&run), 0);
    weir_stats s;
    weir_app_stats(app, &s);
    CHECK_EQ(dup_calls, 5);
    CHECK_EQ(s.handled, 5);
    CHECK_EQ(s.deduplicated, 3);
    CHECK_EQ(query_i64(db, "SELECT count(*) FROM weir_dedup"), 3);
    CHECK_EQ(it_committed("g-dup-1", "dup-1", 0), 8);
    weir_app_free(app);
    rm_db(db);
}

/* ---- inbox: RETRY rolls back ---------------------------------------------------------------- */

static weir_result inbox_handler(weir_ctx *ctx, const weir_event *ev, void *user)
{
    sqlite3 *db = weir_ctx_db(ctx);
    if (!db)
        return WEIR_RESULT_FAIL;
    char sql[256];
    snprintf(sql, sizeof(sql), "INSERT INTO effects(id, attempt) VALUES ('%s', %d)",
             weir_event_id(ev), weir_ctx_attempt(ctx));
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return WEIR_RESULT_RETRY;
    if (weir_emit(ctx, "inbox-out", "Done", weir_event_key_str(ev), "{}") != 0)
        return WEIR_RESULT_RETRY;
    /* Odd offsets fail their first attempt after writing. */
    if (weir_event_offset(ev) % 2 == 1 && weir_ctx_attempt(ctx) == 1)
        return WEIR_RESULT_RETRY;
    return WEIR_RESULT_OK;
}

TEST(inbox_retry_rolls_back)
{
    char db[64];
    tmp_db(db, sizeof(db), "inbox");
    exec_sql(db, "CREATE TABLE effects(id TEXT, attempt INTEGER)");
    REQUIRE(it_create_topic("inbox-1", 1) == 0);
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof(id), "in-%d", i);
        it_event_t e = {"inbox-1", 0, id, "{}", id, "Thing", NULL};
        REQUIRE(it_produce(&e) == 0);
    }
    weir_app *app = it_app("g-inbox-1", db, 100, NULL);
    REQUIRE(app);
    weir_route_options o;
    weir_route_options_init(&o);
    o.transactional = true;
    o.retry.initial_backoff_ms = 20;
    REQUIRE(weir_app_route(app, "inbox-1", NULL, inbox_handler, NULL, &o) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 4, 30000));
    /* Let the relay publish. */
    for (int i = 0; i < 100 && query_i64(db, "SELECT count(*) FROM weir_outbox WHERE sent_ms "
                                             "IS NULL") != 0;
         i++)
        it_sleep_ms(50);
    CHECK_EQ(it_stop(&run), 0);
    weir_stats s;
    weir_app_stats(app, &s);
    CHECK_EQ(s.handler_calls, 6);
    CHECK_EQ(s.handled, 4);
    CHECK_EQ(s.retried, 2);
    /* Only the OK attempts left rows: one per event, the retried ones from attempt 2. */
    CHECK_EQ(query_i64(db, "SELECT count(*) FROM effects"), 4);
    CHECK_EQ(query_i64(db, "SELECT count(*) FROM effects WHERE attempt = 2"), 2);
    CHECK_EQ(query_i64(db, "SELECT count(*) FROM weir_outbox"), 4);
    CHECK_EQ(query_i64(db, "SELECT count(*) FROM weir_outbox WHERE sent_ms IS NOT NULL"), 4);
    CHECK_EQ(query_i64(db, "SELECT count(*) FROM weir_dedup"), 4);
    CHECK_EQ(s.outbox_published, 4);
    it_record_t out[8];
    size_t n = it_read("inbox-out", 0, out, 8, 10000);
    CHECK_EQ(n, 4);
    for (size_t i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof(key), "in-%zu", i);
        CHECK_STR(out[i].key, key);
        CHECK_STR(it_hdr(&out[i], "ce_type"), "Done");
        CHECK_STR(it_hdr(&out[i], "ce_source"), "/weir/g-inbox-1");
    }
    it_records_free(out, n);
    weir_app_free(app);
    rm_db(db);
}

/* ---- SIGKILL after the effect, before the commit -------------------------------------------- */

static const char *const kill_settings[] = {"consumer.group.instance.id=kill-member", NULL};
static int kill_calls;

static weir_result effect_handler(weir_ctx *ctx, const weir_event *ev, void *user)
{
    kill_calls++;
    char sql[256];
    snprintf(sql, sizeof(sql), "INSERT INTO effects(id, pid) VALUES ('%s', %d)", weir_event_id(ev),
             (int)getpid());
    return sqlite3_exec(weir_ctx_db(ctx), sql, NULL, NULL, NULL) == SQLITE_OK ? WEIR_RESULT_OK
                                                                              : WEIR_RESULT_RETRY;
}

static weir_app *kill_app(const char *db)
{
    /* Offsets are never committed on a timer: only at a clean stop (which SIGKILL prevents). */
    weir_app *app = it_app("g-kill-1", db, 3600000, kill_settings);
    if (!app)
        return NULL;
    weir_route_options o;
    weir_route_options_init(&o);
    o.transactional = true;
    if (weir_app_route(app, "kill-1", NULL, effect_handler, NULL, &o) != 0)
        return NULL;
    return app;
}

static int child_main(const char *bootstrap, const char *db)
{
    it_bootstrap = bootstrap;
    weir_app *app = kill_app(db);
    if (!app)
        return 2;
    weir_app_run(app); /* until killed */
    weir_app_free(app);
    return 0;
}

TEST(sigkill_before_commit_no_second_effect)
{
    char db[64];
    tmp_db(db, sizeof(db), "kill");
    exec_sql(db, "CREATE TABLE effects(id TEXT, pid INTEGER)");
    REQUIRE(it_create_topic("kill-1", 1) == 0);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof(id), "kill-%d", i);
        it_event_t e = {"kill-1", 0, id, "{}", id, "Charge", NULL};
        REQUIRE(it_produce(&e) == 0);
    }
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* A fresh process image: librdkafka must not be used across fork(). */
        execl("/proc/self/exe", "test_sdk_dedup", "child", it_bootstrap, db, (char *)NULL);
        _exit(127);
    }
    bool effects = false;
    for (int i = 0; i < 600 && !effects; i++) {
        effects = query_i64(db, "SELECT count(*) FROM effects") == 3;
        if (!effects)
            it_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    REQUIRE(effects);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Nothing was committed: the events will come again. */
    CHECK_EQ(it_committed("g-kill-1", "kill-1", 0), RD_KAFKA_OFFSET_INVALID);

    weir_app *app = kill_app(db);
    REQUIRE(app);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 3, 40000));
    CHECK_EQ(it_stop(&run), 0);
    weir_stats s;
    weir_app_stats(app, &s);
    CHECK_EQ(s.received, 3);     /* delivered again... */
    CHECK_EQ(s.deduplicated, 3); /* ...and recognised */
    CHECK_EQ(kill_calls, 0);     /* no second effect */
    CHECK_EQ(query_i64(db, "SELECT count(*) FROM effects"), 3);
    CHECK_EQ(query_i64(db, "SELECT count(DISTINCT id) FROM effects"), 3);
    CHECK_EQ(it_committed("g-kill-1", "kill-1", 0), 3);
    weir_app_free(app);
    rm_db(db);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "child") == 0)
        return child_main(argv[2], argv[3]);
    return it_main(argc, argv);
}
