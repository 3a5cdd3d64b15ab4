/* Unit tests of the SDK's SQLite store (dedup with TTL, outbox, projection offsets), of the
 * inbox's savepoint pattern on it, and of the app's config and route checks and
 * weir_outbox_add, which need no broker. */
#include "sdk/sdk.h"
#include "test.h"

#include <unistd.h>

static char db_path[64];

static int open_fresh(sdk_db_t *d)
{
    snprintf(db_path, sizeof(db_path), "/tmp/weir-sdk-store-XXXXXX");
    int fd = mkstemp(db_path);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(db_path);
    return sdk_db_open(db_path, d);
}

static void remove_db(void)
{
    char p[80];
    unlink(db_path);
    snprintf(p, sizeof(p), "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db_path);
    unlink(p);
}

TEST(dedup_with_ttl)
{
    sdk_db_t d;
    REQUIRE(open_fresh(&d) == 0);
    bool seen = true;
    CHECK_EQ(sdk_dedup_seen(&d, "e1", 1000, 500, &seen), 0);
    CHECK(!seen);
    CHECK_EQ(sdk_dedup_put(&d, "e1", 1000), 0);
    CHECK_EQ(sdk_dedup_seen(&d, "e1", 1000, 500, &seen), 0);
    CHECK(seen);
    CHECK_EQ(sdk_dedup_seen(&d, "e1", 1499, 500, &seen), 0);
    CHECK(seen);
    /* At the TTL the record no longer counts, even before a purge. */
    CHECK_EQ(sdk_dedup_seen(&d, "e1", 1500, 500, &seen), 0);
    CHECK(!seen);
    CHECK_EQ(sdk_dedup_seen(&d, "e2", 1000, 500, &seen), 0);
    CHECK(!seen);
    /* Recording again refreshes the time. */
    CHECK_EQ(sdk_dedup_put(&d, "e1", 1400), 0);
    CHECK_EQ(sdk_dedup_seen(&d, "e1", 1800, 500, &seen), 0);
    CHECK(seen);
    CHECK_EQ(sdk_dedup_put(&d, "e2", 100), 0);
    CHECK_EQ(sdk_dedup_put(&d, "e3", 200), 0);
    int purged = -1;
    CHECK_EQ(sdk_dedup_purge(&d, 1000, 500, &purged), 0); /* removes seen_ms <= 500 */
    CHECK_EQ(purged, 2);
    CHECK_EQ(sdk_dedup_purge(&d, 1000, 500, &purged), 0);
    CHECK_EQ(purged, 0);
    CHECK_EQ(sdk_dedup_seen(&d, "e1", 1500, 500, &seen), 0);
    CHECK(seen);
    sdk_db_close(&d);
    remove_db();
}

TEST(dedup_batched_lookup)
{
    /* One query for many ids: the ones recorded within the TTL are found, by exact bytes. */
    sdk_db_t d;
    REQUIRE(open_fresh(&d) == 0);
    CHECK_EQ(sdk_dedup_put(&d, "a", 1000), 0);
    CHECK_EQ(sdk_dedup_put(&d, "abc", 1000), 0);
    CHECK_EQ(sdk_dedup_put(&d, "old", 100), 0);
    const char *ids[SDK_DEDUP_LOOKUP_MAX];
    size_t lens[SDK_DEDUP_LOOKUP_MAX];
    bool seen[SDK_DEDUP_LOOKUP_MAX];
    char names[SDK_DEDUP_LOOKUP_MAX][16];
    for (int i = 0; i < SDK_DEDUP_LOOKUP_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "x%d", i);
        ids[i] = names[i];
        lens[i] = strlen(names[i]);
    }
    ids[3] = "abcdef"; /* only its first three bytes are the id: "abc" */
    lens[3] = 3;
    ids[10] = "a";
    lens[10] = 1;
    ids[20] = "old"; /* past the TTL */
    lens[20] = 3;
    ids[63] = "ab"; /* a prefix of a recorded id is another id */
    lens[63] = 2;
    REQUIRE(sdk_dedup_seen_many(&d, ids, lens, SDK_DEDUP_LOOKUP_MAX, 1200, 500, seen) == 0);
    for (int i = 0; i < SDK_DEDUP_LOOKUP_MAX; i++)
        CHECK_EQ(seen[i], i == 3 || i == 10);
    /* Fewer ids than slots: the unused ones match nothing. */
    REQUIRE(sdk_dedup_seen_many(&d, ids + 10, lens + 10, 1, 1200, 500, seen) == 0);
    CHECK(seen[0]);
    REQUIRE(sdk_dedup_seen_many(&d, ids, lens, 2, 1200, 500, seen) == 0);
    CHECK(!seen[0] && !seen[1]);
    sdk_db_close(&d);
    remove_db();
}

TEST(dedup_record_rolls_back_with_handler_writes)
{
    /* The inbox: the handler's write and the dedup record are in one transaction; a RETRY
     * rolls back both, an OK keeps both. */
    sdk_db_t d;
    REQUIRE(open_fresh(&d) == 0);
    REQUIRE(sqlite3_exec(d.db, "CREATE TABLE effects(id TEXT)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_EQ(sdk_db_exec(&d, SDK_ST_BEGIN), 0);
    CHECK_EQ(sdk_db_exec(&d, SDK_ST_SAVEPOINT), 0);
    sqlite3_exec(d.db, "INSERT INTO effects VALUES('a')", NULL, NULL, NULL);
    CHECK_EQ(sdk_db_exec(&d, SDK_ST_ROLLBACK_TO), 0); /* handler said RETRY */
    CHECK_EQ(sdk_db_exec(&d, SDK_ST_RELEASE), 0);
    CHECK_EQ(sdk_db_exec(&d, SDK_ST_SAVEPOINT), 0);
    sqlite3_exec(d.db, "INSERT INTO effects VALUES('b')", NULL, NULL, NULL);
    CHECK_EQ(sdk_db_exec(&d, SDK_ST_RELEASE), 0); /* OK */
    CHECK_EQ(sdk_dedup_put(&d, "b", 10), 0);
    CHECK_EQ(sdk_db_exec(&d, SDK_ST_COMMIT), 0);
    sqlite3_stmt *st;
    REQUIRE(sqlite3_prepare_v2(d.db, "SELECT group_concat(id) FROM effects", -1, &st, NULL) ==
            SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "b");
    sqlite3_finalize(st);
    bool seen;
    CHECK_EQ(sdk_dedup_seen(&d, "b", 10, 100, &seen), 0);
    CHECK(seen);
    /* A transaction that is rolled back as a whole leaves no dedup record. */
    CHECK_EQ(sdk_db_exec(&d, SDK_ST_BEGIN), 0);
    CHECK_EQ(sdk_dedup_put(&d, "c", 10), 0);
    CHECK_EQ(sdk_db_exec(&d, SDK_ST_ROLLBACK), 0);
    CHECK_EQ(sdk_dedup_seen(&d, "c", 10, 100, &seen), 0);
    CHECK(!seen);
    sdk_db_close(&d);
    remove_db();
}

TEST(outbox_order_null_and_sent)
{
    sdk_db_t d;
    REQUIRE(open_fresh(&d) == 0);
    buf_t blob;
    buf_init(&blob);
    sdk_hdrblob_encode(NULL, &blob);
    CHECK_EQ(sdk_outbox_put(&d, "a", -1, "k1", 2, "v1", 2, &blob, 100), 0);
    CHECK_EQ(sdk_outbox_put(&d, "b", 3, NULL, -1, NULL, -1, &blob, 101), 0);
    CHECK_EQ(sdk_outbox_put(&d, "c", -1, "", 0, "", 0, &blob, 102), 0);
    int64_t unsent = 0;
    CHECK_EQ(sdk_outbox_unsent(d.db, &unsent), 0);
    CHECK_EQ(unsent, 3);
    sdk_outbox_row_t rows[4];
    size_t n = 0;
    REQUIRE(sdk_outbox_fetch(&d, 2, rows, &n) == 0);
    REQUIRE(n == 2);
    CHECK_STR(rows[0].topic, "a");
    CHECK_EQ(rows[0].partition, -1);
    CHECK(!rows[0].key_null && rows[0].key.len == 2 && memcmp(rows[0].key.data, "k1", 2) == 0);
    CHECK(!rows[0].value_null && rows[0].value.len == 2);
    CHECK_EQ(rows[0].headers.len, 4);
    CHECK_STR(rows[1].topic, "b");
    CHECK_EQ(rows[1].partition, 3);
    CHECK(rows[1].key_null && rows[1].value_null);
    CHECK(rows[0].id < rows[1].id);
    CHECK_EQ(sdk_outbox_mark_sent(&d, rows[0].id, 200), 0);
    int64_t first = rows[0].id;
    for (size_t i = 0; i < n; i++)
        sdk_outbox_row_deinit(&rows[i]);
    REQUIRE(sdk_outbox_fetch(&d, 4, rows, &n) == 0);
    REQUIRE(n == 2);
    CHECK_STR(rows[0].topic, "b");
    CHECK_STR(rows[1].topic, "c");
    CHECK(!rows[1].key_null && rows[1].key.len == 0); /* empty, not null */
    CHECK(!rows[1].value_null && rows[1].value.len == 0);
    for (size_t i = 0; i < n; i++)
        sdk_outbox_row_deinit(&rows[i]);
    CHECK_EQ(sdk_outbox_unsent(d.db, &unsent), 0);
    CHECK_EQ(unsent, 2);
    int purged = -1;
    CHECK_EQ(sdk_outbox_purge(&d, 200, &purged), 0); /* sent before 200: none */
    CHECK_EQ(purged, 0);
    CHECK_EQ(sdk_outbox_purge(&d, 201, &purged), 0);
    CHECK_EQ(purged, 1);
    CHECK_EQ(sdk_outbox_mark_sent(&d, first, 300), 0); /* already gone: no error */
    buf_deinit(&blob);
    sdk_db_close(&d);
    remove_db();
}

TEST(projection_offsets)
{
    sdk_db_t d;
    REQUIRE(open_fresh(&d) == 0);
    int64_t next = -7;
    CHECK_EQ(sdk_offset_get(&d, "view", "orders", 0, &next), -WEIR_ENOENT);
    CHECK_EQ(next, -7);
    CHECK_EQ(sdk_offset_put(&d, "view", "orders", 0, 10), 0);
    CHECK_EQ(sdk_offset_put(&d, "view", "orders", 1, 20), 0);
    CHECK_EQ(sdk_offset_put(&d, "other", "orders", 0, 5), 0);
    CHECK_EQ(sdk_offset_put(&d, "view", "orders", 0, 11), 0);
    CHECK_EQ(sdk_offset_get(&d, "view", "orders", 0, &next), 0);
    CHECK_EQ(next, 11);
    CHECK_EQ(sdk_offset_get(&d, "view", "orders", 1, &next), 0);
    CHECK_EQ(next, 20);
    CHECK_EQ(weir_projection_reset(d.db, "view"), 0);
    CHECK_EQ(sdk_offset_get(&d, "view", "orders", 0, &next), -WEIR_ENOENT);
    CHECK_EQ(sdk_offset_get(&d, "other", "orders", 0, &next), 0);
    CHECK_EQ(next, 5);
    CHECK_EQ(weir_projection_reset(NULL, "view"), -WEIR_EINVAL);
    sdk_db_close(&d);
    remove_db();
}

TEST(open_fails_cleanly)
{
    sdk_db_t d;
    CHECK_EQ(sdk_db_open("/nonexistent-dir/x/y.db", &d), -WEIR_EIO);
    CHECK(strstr(d.err, "store") != NULL);
    CHECK(d.db == NULL);
}

static void quiet_log(int level, const char *msg, void *user)
{
    (void)level;
    (void)msg;
    (void)user;
}

static weir_result noop(weir_ctx *ctx, const weir_event *ev, void *user)
{
    return WEIR_RESULT_OK;
}

TEST(app_config_checks)
{
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    cfg.log = quiet_log;
    weir_app *app = (weir_app *)1;
    char err[256];
    CHECK_EQ(weir_app_new(&cfg, &app, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK(app == NULL);
    CHECK(strstr(err, "bootstrap") != NULL);
    cfg.bootstrap = "127.0.0.1:1";
    CHECK_EQ(weir_app_new(&cfg, &app, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK(strstr(err, "group") != NULL);
    cfg.group = "g";
    cfg.projection = "p";
    CHECK_EQ(weir_app_new(&cfg, &app, err, sizeof(err)), WEIR_ERR_INVAL);
    cfg.group = NULL;
    CHECK_EQ(weir_app_new(&cfg, &app, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK(strstr(err, "db_path") != NULL);
    cfg.projection = NULL;
    cfg.group = "g";
    cfg.workers = 0;
    CHECK_EQ(weir_app_new(&cfg, &app, err, sizeof(err)), WEIR_ERR_INVAL);
    cfg.workers = 1;
    const char *bad_settings[] = {"no-equals-sign", NULL};
    cfg.settings = bad_settings;
    CHECK_EQ(weir_app_new(&cfg, &app, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK(strstr(err, "no-equals-sign") != NULL);
    const char *unknown[] = {"consumer.no.such.property=1", NULL};
    cfg.settings = unknown;
    CHECK_EQ(weir_app_new(&cfg, &app, err, sizeof(err)), WEIR_ERR_INVAL);
    const char *good[] = {"producer.linger.ms=1", "consumer.fetch.wait.max.ms=10",
                          "statistics.interval.ms=0", NULL};
    cfg.settings = good;
    REQUIRE(weir_app_new(&cfg, &app, err, sizeof(err)) == 0);
    CHECK_EQ(weir_app_run(app), WEIR_ERR_INVAL); /* no routes */
    CHECK(strstr(weir_app_errmsg(app), "no routes") != NULL);
    weir_app_free(app);
}

TEST(app_routes)
{
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    cfg.log = quiet_log;
    cfg.bootstrap = "127.0.0.1:1";
    cfg.group = "g";
    weir_app *app;
    char err[256];
    REQUIRE(weir_app_new(&cfg, &app, err, sizeof(err)) == 0);
    CHECK_EQ(weir_app_route(app, "orders", NULL, noop, NULL, NULL), 0);
    CHECK_EQ(weir_app_route(app, "orders", "OrderPlaced", noop, NULL, NULL), 0);
    CHECK_EQ(weir_app_route(app, "orders", "OrderPlaced", noop, NULL, NULL), WEIR_ERR_EXIST);
    CHECK_EQ(weir_app_route(app, "orders", NULL, noop, NULL, NULL), WEIR_ERR_EXIST);
    CHECK_EQ(weir_app_route(app, "", NULL, noop, NULL, NULL), WEIR_ERR_INVAL);
    CHECK_EQ(weir_app_route(app, "x", NULL, NULL, NULL, NULL), WEIR_ERR_INVAL);
    weir_route_options o;
    weir_route_options_init(&o);
    o.retry.max_attempts = 0;
    CHECK_EQ(weir_app_route(app, "x", NULL, noop, NULL, &o), WEIR_ERR_INVAL);
    weir_route_options_init(&o);
    o.dlq_topic = "poison";
    CHECK_EQ(weir_app_route(app, "payments", "PaymentFailed", noop, NULL, &o), 0);

    const sdk_route_t *r = sdk_app_route_match(app, "orders", "OrderPlaced");
    REQUIRE(r != NULL);
    CHECK_STR(r->type, "OrderPlaced");
    CHECK_STR(r->dlq_topic, "orders.dlq");
    r = sdk_app_route_match(app, "orders", "OrderCancelled");
    REQUIRE(r != NULL);
    CHECK(r->type == NULL);
    r = sdk_app_route_match(app, "orders", "");
    REQUIRE(r != NULL);
    CHECK(r->type == NULL);
    r = sdk_app_route_match(app, "payments", "PaymentFailed");
    REQUIRE(r != NULL);
    CHECK_STR(r->dlq_topic, "poison");
    /* Without a store dedup and the inbox are off whatever the options said. */
    CHECK(!r->opt.dedup && !r->opt.transactional);
    CHECK(sdk_app_route_match(app, "payments", "PaymentSucceeded") == NULL);
    CHECK(sdk_app_route_match(app, "nope", "OrderPlaced") == NULL);
    CHECK(!weir_app_ready(app));
    weir_stats st;
    weir_app_stats(app, &st);
    CHECK_EQ(st.received, 0);
    weir_app_free(app);
}

TEST(outbox_add_through_app)
{
    sdk_db_t d;
    REQUIRE(open_fresh(&d) == 0);
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    cfg.log = quiet_log;
    cfg.bootstrap = "127.0.0.1:1";
    cfg.group = "order-service";
    cfg.db_path = db_path;
    weir_app *app;
    char err[256];
    REQUIRE(weir_app_new(&cfg, &app, err, sizeof(err)) == 0);
    sqlite3 *db;
    REQUIRE(weir_app_db_open(app, &db) == 0);
    weir_message m;
    weir_message_init(&m);
    CHECK_EQ(weir_outbox_add(app, db, &m), WEIR_ERR_INVAL); /* no topic */
    m.topic = "orders";
    CHECK_EQ(weir_outbox_add(app, db, &m), WEIR_ERR_INVAL); /* no type */
    m.type = "OrderPlaced";
    m.key = "O-1";
    m.value = "{\"order_id\":\"O-1\"}";
    m.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    REQUIRE(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_EQ(weir_outbox_add(app, db, &m), 0);
    m.traceparent = NULL;
    m.id = "fixed-id";
    CHECK_EQ(weir_outbox_add(app, db, &m), 0);
    REQUIRE(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);

    sdk_outbox_row_t rows[4];
    size_t n;
    REQUIRE(sdk_outbox_fetch(&d, 4, rows, &n) == 0);
    REQUIRE(n == 2);
    CHECK_STR(rows[0].topic, "orders");
    CHECK(rows[0].key.len == 3 && memcmp(rows[0].key.data, "O-1", 3) == 0);
    CHECK_EQ(rows[0].value.len, strlen(m.value));
    rd_kafka_headers_t *h;
    REQUIRE(sdk_hdrblob_decode(rows[0].headers.data, rows[0].headers.len, &h) == 0);
    sdk_ce_t ce;
    sdk_ce_read(h, &ce);
    CHECK(sdk_ce_valid(&ce));
    CHECK_STR(ce.type, "OrderPlaced");
    CHECK_STR(ce.source, "/weir/order-service");
    CHECK_EQ(strlen(ce.id), 36);
    CHECK_STR(ce.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    rd_kafka_headers_destroy(h);
    REQUIRE(sdk_hdrblob_decode(rows[1].headers.data, rows[1].headers.len, &h) == 0);
    sdk_ce_read(h, &ce);
    CHECK_STR(ce.id, "fixed-id");
    CHECK(ce.has_trace); /* a new trace was started */
    rd_kafka_headers_destroy(h);
    for (size_t i = 0; i < n; i++)
        sdk_outbox_row_deinit(&rows[i]);
    sqlite3_close(db);
    weir_app_free(app);
    sdk_db_close(&d);
    remove_db();
}

TEST_MAIN()
