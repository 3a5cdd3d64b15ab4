/*
 * libweir against an embedded broker: what a handler emits, the outbox, shutdown, backpressure.
 *  - weir_emit() from a plain route: produced only when the handler returns OK (a RETRY drops
 *    that attempt's events), as CloudEvents with the app's source, a new ce_id, and the
 *    handler's span as traceparent (same trace id as the event);
 *  - weir_outbox_add() from another thread inside the caller's transaction: the relay publishes
 *    it and marks the row sent;
 *  - a stop commits: with no timed commits at all, the offset after the stop is the end;
 *  - with a small fetch-ahead bound a slow handler never has the whole topic fetched for it,
 *    and every event is handled once, in order.
 */
#include "test_sdk_util.h"

#include <sqlite3.h>

#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static struct {
    int calls;
    char span[8][64];
} emit_seen;

static weir_result echo_handler(weir_ctx *ctx, const weir_event *ev, void *user)
{
    int i = emit_seen.calls++;
    if (i < 8)
        snprintf(emit_seen.span[i], 64, "%s", weir_ctx_traceparent(ctx));
    size_t n;
    const char *v = weir_event_value(ev, &n);
    char body[128];
    snprintf(body, sizeof(body), "{\"echo\":%s,\"attempt\":%d}", v, weir_ctx_attempt(ctx));
    if (weir_emit(ctx, "echo-out", "Echoed", weir_event_key_str(ev), body) != 0)
        return WEIR_RESULT_FAIL;
    return weir_ctx_attempt(ctx) == 1 ? WEIR_RESULT_RETRY : WEIR_RESULT_OK;
}

TEST(emit_only_on_ok_with_trace)
{
    REQUIRE(it_create_topic("echo-in", 1) == 0);
    it_event_t e = {"echo-in", 0, "K-1", "{\"n\":1}", "echo-1", "Ping", TP};
    REQUIRE(it_produce(&e) == 0);
    weir_app *app = it_app("g-echo", NULL, 100, NULL);
    REQUIRE(app);
    weir_route_options o;
    weir_route_options_init(&o);
    o.retry.initial_backoff_ms = 20;
    REQUIRE(weir_app_route(app, "echo-in", "Ping", echo_handler, NULL, &o) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 1, 30000));
    for (int i = 0; i < 100 && it_committed("g-echo", "echo-in", 0) != 1; i++)
        it_sleep_ms(50);
    CHECK_EQ(it_stop(&run), 0);
    weir_stats s;
    weir_app_stats(app, &s);
    CHECK_EQ(emit_seen.calls, 2);
    CHECK_EQ(s.emitted, 1);
    it_record_t out[4];
    size_t n = it_read("echo-out", 0, out, 4, 10000);
    REQUIRE(n == 1);
    CHECK_STR(out[0].key, "K-1");
    CHECK_STR(out[0].value, "{\"echo\":{\"n\":1},\"attempt\":2}");
    CHECK_STR(it_hdr(&out[0], "ce_specversion"), "1.0");
    CHECK_STR(it_hdr(&out[0], "ce_type"), "Echoed");
    CHECK_STR(it_hdr(&out[0], "ce_source"), "/weir/g-echo");
    CHECK_STR(it_hdr(&out[0], "content-type"), "application/json");
    const char *id = it_hdr(&out[0], "ce_id");
    CHECK(id && strlen(id) == 36);
    CHECK(it_hdr(&out[0], "ce_time") != NULL);
    /* The emitted event's parent is the span of the attempt that succeeded. */
    CHECK_STR(it_hdr(&out[0], "traceparent"), emit_seen.span[1]);
    CHECK(strncmp(emit_seen.span[1], TP, 36) == 0);
    CHECK_EQ(it_committed("g-echo", "echo-in", 0), 1);
    it_records_free(out, n);
    weir_app_free(app);
}

static weir_result ignore_handler(weir_ctx *ctx, const weir_event *ev, void *user)
{
    return WEIR_RESULT_OK;
}

TEST(outbox_from_another_thread)
{
    char db[64];
    snprintf(db, sizeof(db), "/tmp/weir-outbox-XXXXXX");
    int fd = mkstemp(db);
    REQUIRE(fd >= 0);
    close(fd);
    REQUIRE(it_create_topic("ob-in", 1) == 0);
    REQUIRE(it_create_topic("ob-out", 2) == 0);
    weir_app *app = it_app("g-outbox", db, 100, NULL);
    REQUIRE(app);
    REQUIRE(weir_app_route(app, "ob-in", NULL, ignore_handler, NULL, NULL) == 0);
    it_runner_t run;
    it_run(&run, app);
    sqlite3 *conn;
    REQUIRE(weir_app_db_open(app, &conn) == 0);
    REQUIRE(sqlite3_exec(conn, "CREATE TABLE IF NOT EXISTS orders(id TEXT)", NULL, NULL, NULL) ==
            SQLITE_OK);
    for (int i = 0; i < 10; i++) {
        char id[16], body[64];
        snprintf(id, sizeof(id), "O-%d", i);
        snprintf(body, sizeof(body), "{\"order_id\":\"%s\"}", id);
        REQUIRE(sqlite3_exec(conn, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
        char sql[64];
        snprintf(sql, sizeof(sql), "INSERT INTO orders VALUES ('%s')", id);
        CHECK(sqlite3_exec(conn, sql, NULL, NULL, NULL) == SQLITE_OK);
        weir_message m;
        weir_message_init(&m);
        m.topic = "ob-out";
        m.type = "OrderPlaced";
        m.key = id;
        m.value = body;
        m.partition = i % 2;
        CHECK_EQ(weir_outbox_add(app, conn, &m), 0);
        /* Every fifth transaction is rolled back: its event must never appear. */
        REQUIRE(sqlite3_exec(conn, i % 5 == 4 ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) ==
                SQLITE_OK);
        weir_app_outbox_kick(app);
    }
    weir_stats s;
    for (int i = 0; i < 200; i++) {
        weir_app_stats(app, &s);
        if (s.outbox_published >= 8)
            break;
        it_sleep_ms(25);
    }
    CHECK_EQ(it_stop(&run), 0);
    weir_app_stats(app, &s);
    CHECK_EQ(s.outbox_published, 8);
    sqlite3_stmt *st;
    REQUIRE(sqlite3_prepare_v2(conn, "SELECT count(*), count(sent_ms) FROM weir_outbox", -1, &st,
                               NULL) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK_EQ(sqlite3_column_int(st, 0), 8);
    CHECK_EQ(sqlite3_column_int(st, 1), 8);
    sqlite3_finalize(st);
    sqlite3_close(conn);
    it_record_t out[8];
    size_t n0 = it_read("ob-out", 0, out, 8, 10000);
    CHECK_EQ(n0, 4); /* O-0 O-2 O-6 O-8 */
    const char *want0[] = {"O-0", "O-2", "O-6", "O-8"};
    for (size_t i = 0; i < n0 && i < 4; i++)
        CHECK_STR(out[i].key, want0[i]);
    it_records_free(out, n0);
    size_t n1 = it_read("ob-out", 1, out, 8, 10000);
    CHECK_EQ(n1, 4); /* O-1 O-3 O-5 O-7 */
    it_records_free(out, n1);
    weir_app_free(app);
    char p[80];
    unlink(db);
    snprintf(p, sizeof(p), "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", db);
    unlink(p);
}

TEST(stop_commits)
{
    REQUIRE(it_create_topic("stop-1", 1) == 0);
    for (int i = 0; i < 10; i++) {
        it_event_t e = {"stop-1", 0, "k", "{}", NULL, "Thing", NULL};
        REQUIRE(it_produce(&e) == 0);
    }
    /* No timed commit within the test: only the stop can commit. */
    weir_app *app = it_app("g-stop-1", NULL, 3600000, NULL);
    REQUIRE(app);
    REQUIRE(weir_app_route(app, "stop-1", NULL, ignore_handler, NULL, NULL) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 10, 30000));
    weir_stats s;
    weir_app_stats(app, &s);
    CHECK_EQ(s.offsets_committed, 0);
    CHECK_EQ(it_stop(&run), 0);
    weir_app_stats(app, &s);
    CHECK_EQ(s.offsets_committed, 1);
    CHECK_EQ(it_committed("g-stop-1", "stop-1", 0), 10);
    weir_app_free(app);
}

static struct {
    int64_t last;
    int count;
    bool out_of_order;
} bp;

static weir_result slow_handler(weir_ctx *ctx, const weir_event *ev, void *user)
{
    if (weir_event_offset(ev) != bp.last + 1)
        bp.out_of_order = true;
    bp.last = weir_event_offset(ev);
    bp.count++;
    it_sleep_ms(2);
    return WEIR_RESULT_OK;
}

TEST(backpressure_bounded_fetch_ahead)
{
    /* A slow handler and a small fetch-ahead bound: librdkafka fetches a few events at a time
     * and stops at the bound until the handler has taken them; everything is still handled
     * once, in order. */
    REQUIRE(it_create_topic("bp-1", 1) == 0);
    for (int i = 0; i < 60; i++) {
        it_event_t e = {"bp-1", 0,       "k", "{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                        NULL,   "Thing", NULL};
        REQUIRE(it_produce(&e) == 0);
    }
    bp.last = -1;
    const char *settings[] = {
        "consumer.queued.min.messages=10", "consumer.max.partition.fetch.bytes=1024",
        "consumer.fetch.max.bytes=1024", "consumer.message.max.bytes=1024", NULL};
    weir_app *app = it_app("g-bp-1", NULL, 100, settings);
    REQUIRE(app);
    REQUIRE(weir_app_route(app, "bp-1", NULL, slow_handler, NULL, NULL) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 60, 30000));
    CHECK_EQ(it_stop(&run), 0);
    weir_stats s;
    weir_app_stats(app, &s);
    CHECK_EQ(bp.count, 60);
    CHECK(!bp.out_of_order);
    CHECK_EQ(s.received, 60);
    fprintf(stderr, "  at most %llu events fetched ahead\n",
            (unsigned long long)s.fetched_ahead_max);
    CHECK(s.fetched_ahead_max >= 1);
    CHECK(s.fetched_ahead_max < 40); /* never the whole topic at once */
    CHECK_EQ(it_committed("g-bp-1", "bp-1", 0), 60);
    weir_app_free(app);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return it_main(argc, argv);
}
