/*
 * libweir's saga orchestrator against an embedded broker: an orchestrator app and a participant
 * app (one handler for the three steps' command topics, acting by the saga's data).
 *  - happy path: a, b, c done once each, COMPLETED, one SagaCompleted outcome event;
 *  - a step answering FAILED: the done steps are compensated in reverse order (-b then -a), the
 *    failed step is not, COMPENSATED with its reason;
 *  - a RETRY answer: the step runs again (attempt 2) after the backoff, then the saga completes;
 *  - a step that never answers: after its attempts time out, its own compensation runs too (it
 *    may have acted), then the earlier ones;
 *  - a second weir_saga_start of an id: -WEIR_ERR_EXIST, nothing sent; a copied reply changes
 *    nothing; the query of the state topic gives the same state as weir_saga_get;
 *  - recovery: an orchestrator stopped while a step is unanswered is replaced by a new one that
 *    reads the state topic back and sends the same command again; the saga completes and no
 *    step acted twice;
 *  - an ended saga is forgotten after ended_retention_ms (gone from the orchestrator, a
 *    tombstone in the state topic); a start beyond sagas_max is refused with -WEIR_ERR_NOMEM;
 *  - a bad definition (no name, no steps, two steps of one name, a bad retry policy, a step
 *    without an action) is refused with -WEIR_ERR_INVAL and a message saying what is wrong.
 */
#include "test_sdk_util.h"

#include <jansson.h>
#include <string.h>

#define SAGAS_MAX 16

static pthread_mutex_t part_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char id[32];
    char log[256];  /* "a b -b ..." every call that acted, in order */
    int calls[3];   /* action handler calls per step, every attempt */
    unsigned acted; /* bit per step (and 8 << step for compensations): acted once by saga id */
} sagas[SAGAS_MAX];

static int saga_slot(const char *id)
{
    for (int i = 0; i < SAGAS_MAX; i++) {
        if (strcmp(sagas[i].id, id) == 0)
            return i;
        if (!sagas[i].id[0]) {
            snprintf(sagas[i].id, sizeof(sagas[i].id), "%s", id);
            return i;
        }
    }
    abort();
}

static const char *const step_names[] = {"a", "b", "c"};

/* Does the step's side effect once per saga id; the log shows each. */
static void act_once(int slot, int step, bool comp)
{
    unsigned bit = comp ? 8u << step : 1u << step;
    if (sagas[slot].acted & bit)
        return;
    sagas[slot].acted |= bit;
    size_t n = strlen(sagas[slot].log);
    snprintf(sagas[slot].log + n, sizeof(sagas[slot].log) - n, "%s%s%s", n ? " " : "",
             comp ? "-" : "", step_names[step]);
}

static bool data_says(json_t *data, const char *what, int step)
{
    const char *v = json_string_value(json_object_get(data, what));
    return v && strcmp(v, step_names[step]) == 0;
}

static weir_result participant(weir_ctx *ctx, const weir_event *ev, void *user)
{
    weir_saga_command c;
    if (weir_saga_command_read(ev, &c) != 0 || c.step > 2)
        return WEIR_RESULT_FAIL;
    size_t n;
    const char *value = weir_event_value(ev, &n);
    json_t *data = json_loadb(value, n, 0, NULL);
    pthread_mutex_lock(&part_mu);
    int slot = saga_slot(c.saga_id);
    int calls = c.compensation ? 0 : ++sagas[slot].calls[c.step];
    weir_saga_outcome out = WEIR_SAGA_OK;
    const char *body = NULL;
    bool answer = true;
    if (!c.compensation && data_says(data, "silent", c.step) &&
        (calls == 1 || json_is_true(json_object_get(data, "always"))))
        answer = false; /* acts, but its answer is lost */
    if (!c.compensation && data_says(data, "fail", c.step)) {
        out = WEIR_SAGA_FAILED;
        body = "{\"reason\":\"no stock\"}";
    } else if (!c.compensation && data_says(data, "retry", c.step) && c.attempt == 1) {
        out = WEIR_SAGA_RETRY;
    } else {
        act_once(slot, c.step, c.compensation);
        if (!c.compensation)
            body = c.step == 0 ? "{\"ref\":\"A-1\"}" : NULL;
    }
    pthread_mutex_unlock(&part_mu);
    json_decref(data);
    if (answer && weir_saga_reply(ctx, ev, out, body) != 0)
        return WEIR_RESULT_RETRY;
    return WEIR_RESULT_OK;
}

static int calls_of(const char *id, int step)
{
    pthread_mutex_lock(&part_mu);
    int n = sagas[saga_slot(id)].calls[step];
    pthread_mutex_unlock(&part_mu);
    return n;
}

/* A copy of the saga's log, taken under the lock (valid until the next call). */
static const char *saga_log(const char *id)
{
    static char copy[256];
    pthread_mutex_lock(&part_mu);
    snprintf(copy, sizeof(copy), "%s", sagas[saga_slot(id)].log);
    pthread_mutex_unlock(&part_mu);
    return copy;
}

/* ---- the two apps -----------------------------------------------------------------------------
 */

static weir_saga_step steps[3] = {
    {"a", "saga-a", "DoA", "UndoA", 0, {0}},
    {"b", "saga-b", "DoB", "UndoB", 0, {0}},
    {"c", "saga-c", "DoC", NULL, 0, {0}},
};

static int64_t retention_ms = 3600000;
static long sagas_max = 1000;

static weir_saga *orch_new(weir_app *app, int64_t timeout_ms)
{
    for (int i = 0; i < 3; i++) {
        steps[i].timeout_ms = timeout_ms;
        weir_retry_policy_init(&steps[i].retry);
        steps[i].retry.max_attempts = 2;
        steps[i].retry.initial_backoff_ms = 200;
        steps[i].retry.jitter = 0;
    }
    weir_saga_config sc;
    weir_saga_config_init(&sc);
    sc.name = "t";
    sc.steps = steps;
    sc.nsteps = 3;
    sc.outcome_topic = "saga-outcomes";
    sc.ended_retention_ms = retention_ms;
    sc.sagas_max = sagas_max;
    weir_saga *s;
    char err[256];
    if (weir_saga_new(app, &sc, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "weir_saga_new: %s\n", err);
        return NULL;
    }
    return s;
}

static weir_app *participant_new(void)
{
    weir_app *app = it_app("g-saga-part", NULL, 100, NULL);
    for (int i = 0; app && i < 3; i++)
        weir_app_route(app, steps[i].topic, NULL, participant, NULL, NULL);
    return app;
}

static char *status_of(weir_saga *s, const char *id)
{
    static char buf[32];
    char *j;
    if (weir_saga_get(s, id, &j) != 0)
        return "unknown";
    json_t *o = json_loads(j, 0, NULL);
    snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(o, "status")));
    json_decref(o);
    free(j);
    return buf;
}

typedef struct {
    weir_saga *s;
    const char *const *ids;
} ended_t;

static bool all_ended(void *arg)
{
    ended_t *e = arg;
    for (int i = 0; e->ids[i]; i++) {
        const char *st = status_of(e->s, e->ids[i]);
        if (strcmp(st, "COMPLETED") != 0 && strcmp(st, "COMPENSATED") != 0)
            return false;
    }
    return true;
}

/* Outcome events on saga-outcomes: count of type `type` for saga id (waiting up to 5 s for the
 * first: the outcome leaves just after the state that ends the saga). */
static int outcomes_count(const char *id, const char *type);

static int outcomes_of(const char *id, const char *type)
{
    int64_t deadline = it_now_ms() + 5000;
    int n;
    while ((n = outcomes_count(id, type)) == 0 && it_now_ms() < deadline)
        it_sleep_ms(50);
    return n;
}

static int outcomes_count(const char *id, const char *type)
{
    it_record_t r[64];
    size_t n = it_read("saga-outcomes", 0, r, 64, 5000);
    int count = 0;
    for (size_t i = 0; i < n; i++)
        count += r[i].key && strcmp(r[i].key, id) == 0 && it_hdr(&r[i], "ce_type") &&
                 strcmp(it_hdr(&r[i], "ce_type"), type) == 0;
    it_records_free(r, n);
    return count;
}

/* Produces a copy of every record of t.replies into it; the number copied. */
static size_t replay_replies(void)
{
    static it_record_t r[256];
    size_t n = it_read("t.replies", 0, r, 256, 5000);
    rd_kafka_t *rk = it_client(RD_KAFKA_PRODUCER, NULL);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("t.replies"), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_KEY(r[i].key, strlen(r[i].key)),
                          RD_KAFKA_V_VALUE(r[i].value, strlen(r[i].value)),
                          RD_KAFKA_V_HEADERS(r[i].headers), RD_KAFKA_V_END);
        r[i].headers = NULL; /* the producer owns them */
    }
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    it_records_free(r, n);
    return n;
}

/* ---- the cases ------------------------------------------------------------------------------ */

static bool history_has(weir_saga *s, const char *id, const char *text)
{
    char *j;
    if (weir_saga_get(s, id, &j) != 0)
        return false;
    bool found = strstr(j, text) != NULL;
    free(j);
    return found;
}

TEST(paths_retries_timeouts_and_idempotence)
{
    weir_app *part = participant_new();
    weir_app *orch = it_app("g-saga-orch", NULL, 100, NULL);
    REQUIRE(part && orch);
    weir_saga *s = orch_new(orch, 2500);
    REQUIRE(s);
    it_runner_t rp, ro;
    it_run(&rp, part);
    it_run(&ro, orch);
    CHECK_EQ(weir_saga_start(s, "ok-1", "{\"n\":1}"), 0);
    CHECK_EQ(weir_saga_start(s, "fail-1", "{\"fail\":\"c\"}"), 0);
    CHECK_EQ(weir_saga_start(s, "retry-1", "{\"retry\":\"b\"}"), 0);
    CHECK_EQ(weir_saga_start(s, "lost-1", "{\"silent\":\"b\",\"always\":true}"), 0);
    CHECK_EQ(weir_saga_start(s, "ok-1", "{\"n\":2}"), WEIR_ERR_EXIST);
    CHECK_EQ(weir_saga_start(s, "bad/id", "{}"), WEIR_ERR_INVAL);
    CHECK_EQ(weir_saga_start(s, "bad-2", "[1]"), WEIR_ERR_INVAL);
    const char *const ids[] = {"ok-1", "fail-1", "retry-1", "lost-1", NULL};
    ended_t e = {s, ids};
    CHECK(it_wait(all_ended, &e, 20000));

    CHECK_STR(status_of(s, "ok-1"), "COMPLETED");
    CHECK_STR(saga_log("ok-1"), "a b c");
    CHECK(history_has(s, "ok-1", "\"a\":{\"ref\":\"A-1\"}")); /* a's answer is in the data */
    CHECK_STR(status_of(s, "fail-1"), "COMPENSATED");
    CHECK_STR(saga_log("fail-1"), "a b -b -a");
    CHECK(history_has(s, "fail-1", "\"reason\":\"c: no stock\""));
    CHECK_STR(status_of(s, "retry-1"), "COMPLETED");
    CHECK_STR(saga_log("retry-1"), "a b c");
    CHECK_EQ(calls_of("retry-1", 1), 2);
    CHECK(history_has(s, "retry-1", "b answered retry; next attempt in 200 ms"));

    CHECK_STR(status_of(s, "lost-1"), "COMPENSATED");
    CHECK_STR(saga_log("lost-1"), "a b -b -a"); /* b acted without answering: undone too */
    CHECK_EQ(calls_of("lost-1", 1), 2);
    CHECK(history_has(s, "lost-1", "b: timed out after 2 attempts"));
    uint64_t running, completed, compensated;
    weir_saga_counts(s, &running, &completed, &compensated);
    CHECK_EQ(running, 0);
    CHECK_EQ(completed, 2);
    CHECK_EQ(compensated, 2);
    CHECK_EQ(outcomes_of("ok-1", "SagaCompleted"), 1);
    CHECK_EQ(outcomes_of("fail-1", "SagaCompensated"), 1);

    /* The stored state, read from the topic, is the orchestrator's. */
    char *q, *g, err[256];
    CHECK_EQ(weir_saga_query(it_bootstrap, "t.sagas", "fail-1", &q, err, sizeof(err)), 0);
    CHECK_EQ(weir_saga_get(s, "fail-1", &g), 0);
    CHECK(q && strstr(q, "\"status\":\"COMPENSATED\"") && strstr(q, "UndoA done"));
    CHECK(g && strstr(g, "UndoA done"));
    free(q);
    free(g);
    CHECK_EQ(weir_saga_query(it_bootstrap, "t.sagas", "nope", &q, err, sizeof(err)),
             WEIR_ERR_NOENT);
    CHECK_STR(err, "no saga nope in t.sagas");

    /* Every reply once more: no saga moves, nothing acts, no second outcome. */
    size_t copied = replay_replies();
    CHECK(copied >= 14);
    it_sleep_ms(1000);
    CHECK_STR(saga_log("ok-1"), "a b c");
    CHECK_STR(saga_log("fail-1"), "a b -b -a");
    CHECK_STR(status_of(s, "ok-1"), "COMPLETED");
    CHECK_EQ(outcomes_of("ok-1", "SagaCompleted"), 1);
    CHECK_EQ(outcomes_of("fail-1", "SagaCompensated"), 1);

    CHECK_EQ(it_stop(&ro), 0);
    CHECK_EQ(it_stop(&rp), 0);
    weir_saga_free(s);
    weir_app_free(orch);
    weir_app_free(part);
}

TEST(a_new_orchestrator_resumes_and_nothing_acts_twice)
{
    weir_app *part = participant_new();
    weir_app *orch = it_app("g-saga-orch2", NULL, 100, NULL);
    REQUIRE(part && orch);
    weir_saga *s = orch_new(orch, 60000);
    REQUIRE(s);
    /* A long timeout: only the resend after the restart can move b on. */
    it_runner_t rp, ro;
    it_run(&rp, part);
    it_run(&ro, orch);
    CHECK_EQ(weir_saga_start(s, "resume-1", "{\"silent\":\"b\"}"), 0);
    int64_t deadline = it_now_ms() + 10000;
    while (it_now_ms() < deadline && calls_of("resume-1", 1) < 1)
        it_sleep_ms(10);
    CHECK_EQ(calls_of("resume-1", 1), 1);
    CHECK_EQ(it_stop(&ro), 0); /* b acted, its answer was lost; the orchestrator goes away */
    weir_saga_free(s);
    weir_app_free(orch);
    CHECK_STR(saga_log("resume-1"), "a b");

    orch = it_app("g-saga-orch2", NULL, 100, NULL);
    REQUIRE(orch);
    s = orch_new(orch, 60000);
    REQUIRE(s);
    CHECK_STR(status_of(s, "resume-1"), "RUNNING");
    it_run(&ro, orch);
    const char *const ids[] = {"resume-1", NULL};
    ended_t e = {s, ids};
    CHECK(it_wait(all_ended, &e, 15000));
    CHECK_STR(status_of(s, "resume-1"), "COMPLETED");
    CHECK_STR(saga_log("resume-1"), "a b c");
    CHECK_EQ(calls_of("resume-1", 1), 2); /* the same command, sent again */
    CHECK(history_has(s, "resume-1", "DoB sent (attempt 1)"));
    CHECK(!history_has(s, "resume-1", "DoB sent (attempt 2)"));
    CHECK_EQ(outcomes_of("resume-1", "SagaCompleted"), 1);
    CHECK_EQ(it_stop(&ro), 0);
    CHECK_EQ(it_stop(&rp), 0);
    weir_saga_free(s);
    weir_app_free(orch);
    weir_app_free(part);
}

TEST(ended_sagas_are_forgotten_and_the_count_is_bounded)
{
    weir_app *part = participant_new();
    weir_app *orch = it_app("g-saga-orch3", NULL, 100, NULL);
    REQUIRE(part && orch);
    retention_ms = 500;
    sagas_max = 2;
    weir_saga *s = orch_new(orch, 5000);
    retention_ms = 3600000;
    sagas_max = 1000;
    REQUIRE(s);
    it_runner_t rp, ro;
    it_run(&rp, part);
    it_run(&ro, orch);
    /* The sagas of the cases before, read back, ended over 500 ms ago: forgotten at once. */
    uint64_t running, completed, compensated;
    int64_t wait_until = it_now_ms() + 5000;
    do {
        it_sleep_ms(50);
        weir_saga_counts(s, &running, &completed, &compensated);
    } while (running + completed + compensated > 0 && it_now_ms() < wait_until);
    CHECK_EQ(running + completed + compensated, 0);
    CHECK_EQ(weir_saga_start(s, "gone-1", "{}"), 0);
    int64_t deadline = it_now_ms() + 15000;
    char *j = NULL;
    while (it_now_ms() < deadline && weir_saga_get(s, "gone-1", &j) != WEIR_ERR_NOENT) {
        free(j);
        j = NULL;
        it_sleep_ms(50);
    }
    CHECK_EQ(weir_saga_get(s, "gone-1", &j), WEIR_ERR_NOENT);
    CHECK_STR(saga_log("gone-1"), "a b c");
    char err[256];
    CHECK_EQ(weir_saga_query(it_bootstrap, "t.sagas", "gone-1", &j, err, sizeof(err)),
             WEIR_ERR_NOENT); /* the latest record of the id is a tombstone */
    weir_saga_counts(s, &running, &completed, &compensated);
    CHECK_EQ(running + completed + compensated, 0);
    /* At most two at once: a slow step keeps them running. */
    CHECK_EQ(weir_saga_start(s, "cap-1", "{\"silent\":\"a\",\"always\":true}"), 0);
    CHECK_EQ(weir_saga_start(s, "cap-2", "{\"silent\":\"a\",\"always\":true}"), 0);
    CHECK_EQ(weir_saga_start(s, "cap-3", "{}"), WEIR_ERR_NOMEM);
    CHECK_EQ(it_stop(&ro), 0);
    CHECK_EQ(it_stop(&rp), 0);
    weir_saga_free(s);
    weir_app_free(orch);
    weir_app_free(part);
}

TEST(bad_definitions_are_refused_with_a_reason)
{
    weir_app *app = it_app("g-saga-bad", NULL, 100, NULL);
    REQUIRE(app);
    weir_saga_config sc;
    weir_saga_config_init(&sc);
    weir_saga *s = (weir_saga *)1;
    char err[256];
    CHECK_EQ(weir_saga_new(app, &sc, &s, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK(s == NULL);
    CHECK_STR(err, "a saga needs a name (1..100 bytes)");
    sc.name = "bad";
    sc.steps = steps;
    sc.nsteps = 0;
    CHECK_EQ(weir_saga_new(app, &sc, &s, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK_STR(err, "a saga needs 1..32 steps");
    weir_saga_step twice[2] = {steps[0], steps[0]};
    sc.steps = twice;
    sc.nsteps = 2;
    CHECK_EQ(weir_saga_new(app, &sc, &s, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK_STR(err, "two steps have the same name");
    twice[1].name = "other";
    twice[1].retry.max_attempts = 1;
    twice[1].retry.multiplier = 0.5;
    CHECK_EQ(weir_saga_new(app, &sc, &s, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK_STR(err, "a step's retry policy is out of range");
    twice[1].retry.multiplier = 2.0;
    twice[1].action = NULL;
    CHECK_EQ(weir_saga_new(app, &sc, &s, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK_STR(err, "each step needs a name, a topic and an action (and timeout_ms >= 0)");
    weir_app_free(app);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return it_main(argc, argv);
}
