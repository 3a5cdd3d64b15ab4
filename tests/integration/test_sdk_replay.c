/*
 * The replay harness of libweir against an embedded broker: a recorded file (as `weir topic
 * export` writes it, tests/fixtures/replay/orders.jsonl) is replayed into a topic, a handler
 * checks each order and emits a verdict, and what it emitted is compared with a golden file
 * (tests/fixtures/replay/orders.golden.jsonl; WEIR_GOLDEN_UPDATE=1 rewrites it), leaving out
 * the headers that differ from run to run. A changed golden file is reported with its line; a
 * file with a bad line is refused with its number and nothing is written.
 */
#include "test_sdk_util.h"

#include <stdlib.h>

#define FIXTURE "tests/fixtures/replay/orders.jsonl"
#define GOLDEN  "tests/fixtures/replay/orders.golden.jsonl"

static const char *const volatile_headers[] = {"ce_id", "ce_time", "ce_source", "traceparent",
                                               NULL};

static weir_result check_order(weir_ctx *ctx, const weir_event *ev, void *user)
{
    (void)user;
    size_t n;
    const char *v = weir_event_value(ev, &n);
    char body[256];
    bool ok = !strstr(v, "\"total\":-") && !strstr(v, "\"total\":0}");
    snprintf(body, sizeof(body), "{\"order\":%.*s,\"accepted\":%s}", (int)n, v,
             ok ? "true" : "false");
    return weir_emit(ctx, "rp-verdicts", ok ? "OrderAccepted" : "OrderRejected",
                     weir_event_key_str(ev), body) == 0
               ? WEIR_RESULT_OK
               : WEIR_RESULT_FAIL;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

TEST(replay_then_golden)
{
    char err[512] = "";
    REQUIRE(it_create_topic("rp-orders", 2) == 0);
    REQUIRE(it_create_topic("rp-verdicts", 1) == 0);
    CHECK_EQ(weir_replay_file(it_bootstrap, FIXTURE, "rp-orders", err, sizeof(err)), 4);
    weir_app *app = it_app("g-replay", NULL, 100, NULL);
    REQUIRE(app);
    REQUIRE(weir_app_route(app, "rp-orders", NULL, check_order, NULL, NULL) == 0);
    it_runner_t run;
    it_run(&run, app);
    CHECK(it_wait_finished(app, 4, 30000));
    CHECK_EQ(it_stop(&run), 0);
    weir_app_free(app);
    int rc = weir_golden_compare(it_bootstrap, "rp-verdicts", volatile_headers, GOLDEN, err,
                                 sizeof(err));
    if (rc != 0)
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ(rc, 0);

    /* A golden file that says otherwise on its third line is caught, and named. */
    FILE *f = fopen(GOLDEN, "r");
    REQUIRE(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *third = strchr(strchr(text, '\n') + 1, '\n') + 1;
    char *accepted = strstr(third, "\\\"accepted\\\":");
    REQUIRE(accepted);
    accepted[14] = accepted[14] == 't' ? 'f' : 't'; /* true <-> f..., false <-> t... */
    char changed[] = "/tmp/weir-golden-XXXXXX";
    int fd = mkstemp(changed);
    REQUIRE(fd >= 0);
    close(fd);
    write_file(changed, text);
    CHECK_EQ(weir_golden_compare(it_bootstrap, "rp-verdicts", volatile_headers, changed, err,
                                 sizeof(err)),
             1);
    CHECK(strstr(err, "differs from") && strstr(err, "at line 3"));
    unlink(changed);
}

TEST(bad_line_writes_nothing)
{
    char err[512] = "", path[] = "/tmp/weir-replay-XXXXXX", empty[] = "/tmp/weir-empty-XXXXXX";
    REQUIRE(it_create_topic("rp-bad", 1) == 0);
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    write_file(path, "{\"partition\":0,\"timestamp\":1,\"key\":null,\"value\":\"ok\"}\n"
                     "{\"partition\":0,\"timestamp\":1,\"key\":\"%%\",\"key_encoding\":\"base64\","
                     "\"value\":null}\n");
    CHECK_EQ(weir_replay_file(it_bootstrap, path, "rp-bad", err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK(strstr(err, "line 2: not a record of weir topic export") != NULL);
    fd = mkstemp(empty);
    REQUIRE(fd >= 0);
    close(fd);
    CHECK_EQ(weir_golden_compare(it_bootstrap, "rp-bad", NULL, empty, err, sizeof(err)), 0);
    CHECK_EQ(weir_replay_file(it_bootstrap, "/nonexistent.jsonl", "rp-bad", err, sizeof(err)),
             WEIR_ERR_NOENT);
    unlink(path);
    unlink(empty);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return it_main(argc, argv);
}
