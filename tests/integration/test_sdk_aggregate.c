/*
 * libweir's event store against a broker started here with its HTTP listener (the admin API's
 * key-offsets): weir_store_load returns exactly one key's records in order (offsets, values,
 * headers) out of a partition where other keys interleave, and version -1 for an unknown key;
 * two aggregates racing on one key for 200 rounds each lose no update (every conflict reloaded
 * and decided again, the final history exactly 1..400); decisions of two events racing land
 * whole and adjacent, a decision over one batch is refused; a writer that always loses gives up
 * after max_attempts with WEIR_ERR_AGAIN; a topic without weir.key.index is refused; a load with
 * snapshots returns the latest snapshot and only the events after it.
 */
#include "test_sdk_util.h"
#include "weir/embed.h"

#include <stdlib.h>

static char admin_url[96];

/* Creates topic (one partition) with weir.key.index=true, or without it when indexed is false. */
static int create_topic(const char *topic, bool indexed)
{
    static const char *const key_index[] = {"weir.key.index", "true", NULL};
    return it_create_topic_with(topic, 1, indexed ? key_index : NULL);
}

static weir_store *store_open_with(const char *topic, int max_attempts, bool snapshots)
{
    weir_store_config sc;
    weir_store_config_init(&sc);
    sc.brokers = it_bootstrap;
    sc.admin_url = admin_url;
    sc.topic = topic;
    sc.max_attempts = max_attempts;
    sc.snapshots = snapshots;
    weir_store *st = NULL;
    char err[512];
    if (weir_store_new(&sc, &st, err, sizeof(err)) != 0)
        fprintf(stderr, "  weir_store_new: %s\n", err);
    return st;
}

static weir_store *store_open(const char *topic, int max_attempts)
{
    return store_open_with(topic, max_attempts, false);
}

/* A plain append (no expected offset) of key=value with one header "n" = value. */
static void produce_plain(const char *topic, const char *key, const char *value)
{
    it_event_t e = {topic, 0, key, value, value, "t", NULL};
    CHECK_EQ(it_produce(&e), 0);
}

TEST(load_one_key_in_order)
{
    REQUIRE(create_topic("agg-load", true) == 0);
    char v[32];
    int64_t p0 = it_now_ms();
    for (int i = 0; i < 30; i++) { /* a-i at even offsets, b-i between, then a-30..a-39 in a row */
        snprintf(v, sizeof(v), "a-%d", i);
        produce_plain("agg-load", "a", v);
        snprintf(v, sizeof(v), "b-%d", i);
        produce_plain("agg-load", "b", v);
    }
    for (int i = 30; i < 40; i++) {
        snprintf(v, sizeof(v), "a-%d", i);
        produce_plain("agg-load", "a", v);
    }
    printf("# 70 produces: %lld ms\n", (long long)(it_now_ms() - p0));
    weir_store *st = store_open("agg-load", 5);
    REQUIRE(st);
    weir_store_events h;
    char err[512] = "";
    int64_t t0 = it_now_ms();
    CHECK_EQ(weir_store_load(st, "a", &h, err, sizeof(err)), 0);
    printf("# load of 40 records: %lld ms\n", (long long)(it_now_ms() - t0));
    CHECK_EQ(h.count, 40u);
    CHECK_EQ(h.version, 69);
    for (size_t i = 0; i < h.count && i < 40; i++) {
        snprintf(v, sizeof(v), "a-%zu", i);
        CHECK_STR((char *)h.records[i].value, v);
        CHECK_EQ(h.records[i].value_len, strlen(v));
        CHECK_EQ(h.records[i].offset, (int64_t)(i < 30 ? 2 * i : 60 + (i - 30)));
        CHECK_STR(h.records[i].key, "a");
        bool has_id = false; /* it_produce writes the value as the header ce_id */
        for (size_t k = 0; k < h.records[i].header_count; k++)
            if (strcmp(h.records[i].headers[k].name, "ce_id") == 0)
                has_id = h.records[i].headers[k].value_len == strlen(v) &&
                         memcmp(h.records[i].headers[k].value, v, strlen(v)) == 0;
        CHECK(has_id);
    }
    weir_store_events_free(&h);
    /* the other key, then an unknown one: no records, version -1 */
    CHECK_EQ(weir_store_load(st, "b", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.count, 30u);
    CHECK_EQ(h.version, 59);
    CHECK_STR((char *)h.records[29].value, "b-29");
    weir_store_events_free(&h);
    CHECK_EQ(weir_store_load(st, "nobody", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.count, 0u);
    CHECK_EQ(h.version, -1);
    weir_store_events_free(&h);
    weir_store_free(st);
}

/* decide for a counter: the next value is the last event's (else the snapshot's) plus one. */
static int next_count(const weir_store_events *h, weir_store_decision *d, void *user)
{
    (void)user;
    const char *last_text = h->count ? h->records[h->count - 1].value : h->snapshot;
    long last = last_text ? strtol(last_text, NULL, 10) : 0;
    char v[32];
    int n = snprintf(v, sizeof(v), "%ld", last + 1);
    weir_store_decision_add(d, v, (size_t)n);
    return 0;
}

#define RACE_ROUNDS 200

static pthread_barrier_t race_start; /* both writers begin each round together */

typedef struct {
    weir_store *st;
    int failures;
    char err[512];
    weir_store_decide_fn decide;
    const char *key;
    int rounds;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    for (int i = 0; i < r->rounds; i++) {
        pthread_barrier_wait(&race_start);
        int64_t version = -2;
        if (weir_store_execute(r->st, r->key, r->decide, NULL, &version, r->err, sizeof(r->err)) !=
                0 ||
            version < 0)
            r->failures++;
    }
    return NULL;
}

static void race_run(racer_t r[2])
{
    pthread_t t[2];
    pthread_barrier_init(&race_start, NULL, 2);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, race, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&race_start);
    CHECK_EQ(r[0].failures, 0);
    CHECK_EQ(r[1].failures, 0);
    if (r[0].failures || r[1].failures)
        fprintf(stderr, "  %s / %s\n", r[0].err, r[1].err);
}

TEST(two_writers_race_on_one_key)
{
    REQUIRE(create_topic("agg-race", true) == 0);
    racer_t r[2] = {{store_open("agg-race", 1000), 0, "", next_count, "counter", RACE_ROUNDS},
                    {store_open("agg-race", 1000), 0, "", next_count, "counter", RACE_ROUNDS}};
    REQUIRE(r[0].st && r[1].st);
    race_run(r);
    uint64_t conflicts = weir_store_conflicts(r[0].st) + weir_store_conflicts(r[1].st);
    printf("# %d rounds each, %llu conflicts retried\n", RACE_ROUNDS,
           (unsigned long long)conflicts);
    CHECK(conflicts >= 10); /* each round starts together: about one a round */
    weir_store_events h;
    char err[512];
    CHECK_EQ(weir_store_load(r[0].st, "counter", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.count, (size_t)2 * RACE_ROUNDS); /* every update kept, in order, none twice */
    for (size_t i = 0; i < h.count; i++) {
        char v[32];
        snprintf(v, sizeof(v), "%zu", i + 1);
        CHECK_STR((char *)h.records[i].value, v);
    }
    /* the refused appends left nothing: the partition holds exactly the 400 */
    CHECK_EQ(h.version, 2 * RACE_ROUNDS - 1);
    weir_store_events_free(&h);
    weir_store_free(r[0].st);
    weir_store_free(r[1].st);
}

/* A decision of 1,001 events: more than one batch may hold. */
static int decide_too_many(const weir_store_events *h, weir_store_decision *d, void *user)
{
    (void)h;
    (void)user;
    for (int i = 0; i < 1001; i++)
        weir_store_decision_add(d, "x", 1);
    return 0;
}

/* decide for a pair counter: each decision appends "N-a" and "N-b", N one more than the last. */
static int next_pair(const weir_store_events *h, weir_store_decision *d, void *user)
{
    (void)user;
    long last = h->count ? strtol(h->records[h->count - 1].value, NULL, 10) : 0;
    char v[32];
    int n = snprintf(v, sizeof(v), "%ld-a", last + 1);
    weir_store_decision_add(d, v, (size_t)n);
    n = snprintf(v, sizeof(v), "%ld-b", last + 1);
    weir_store_decision_add(d, v, (size_t)n);
    return 0;
}

#define PAIR_ROUNDS 100

/* Decisions of two events racing: each decision lands whole, its two events next to each other,
 * never another writer's between them (they are one batch), and none is lost or partial. */
TEST(two_event_decisions_race_whole)
{
    REQUIRE(create_topic("agg-pairs", true) == 0);
    racer_t r[2] = {{store_open("agg-pairs", 1000), 0, "", next_pair, "pairs", PAIR_ROUNDS},
                    {store_open("agg-pairs", 1000), 0, "", next_pair, "pairs", PAIR_ROUNDS}};
    REQUIRE(r[0].st && r[1].st);
    race_run(r);
    uint64_t conflicts = weir_store_conflicts(r[0].st) + weir_store_conflicts(r[1].st);
    printf("# %d rounds each of 2-event decisions, %llu conflicts retried\n", PAIR_ROUNDS,
           (unsigned long long)conflicts);
    CHECK(conflicts >= 5);
    weir_store_events h;
    char err[512];
    CHECK_EQ(weir_store_load(r[0].st, "pairs", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.count, (size_t)4 * PAIR_ROUNDS);
    for (size_t i = 0; i < h.count; i++) {
        char v[32];
        snprintf(v, sizeof(v), "%zu-%c", i / 2 + 1, i % 2 ? 'b' : 'a');
        CHECK_STR((char *)h.records[i].value, v);
        CHECK_EQ(h.records[i].offset, (int64_t)i); /* nothing refused was left behind */
    }
    weir_store_events_free(&h);
    /* a decision over one batch is refused before anything is sent */
    weir_store_free(r[1].st);
    int64_t version = -2;
    CHECK_EQ(
        weir_store_execute(r[0].st, "pairs", decide_too_many, NULL, &version, err, sizeof(err)),
        WEIR_ERR_INVAL);
    CHECK(strstr(err, "larger than one batch") != NULL);
    CHECK_EQ(weir_store_load(r[0].st, "pairs", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.count, (size_t)4 * PAIR_ROUNDS);
    weir_store_events_free(&h);
    weir_store_free(r[0].st);
}

/* A decide that, each time, lets another writer append to the key first: always a conflict. */
static int decide_then_overtaken(const weir_store_events *h, weir_store_decision *d, void *user)
{
    int *calls = user;
    (*calls)++;
    produce_plain("agg-lose", "k", "overtaken");
    return next_count(h, d, NULL);
}

TEST(attempts_exhausted)
{
    REQUIRE(create_topic("agg-lose", true) == 0);
    weir_store *st = store_open("agg-lose", 3);
    REQUIRE(st);
    int calls = 0;
    int64_t version = -2;
    char err[512] = "";
    CHECK_EQ(weir_store_execute(st, "k", decide_then_overtaken, &calls, &version, err, sizeof(err)),
             WEIR_ERR_AGAIN);
    CHECK_STR(err, "key k: a conflict on each of 3 attempts (the last expected offset 1, another "
                   "writer appended after it)");
    CHECK_EQ(calls, 3);
    CHECK_EQ(version, -2);
    CHECK_EQ(weir_store_conflicts(st), 3u);
    weir_store_events h;
    CHECK_EQ(weir_store_load(st, "k", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.count, 3u); /* only the other writer's three */
    CHECK_EQ(h.version, 2);
    weir_store_events_free(&h);
    weir_store_free(st);
}

static int decide_refuses(const weir_store_events *h, weir_store_decision *d, void *user)
{
    (void)h;
    (void)d;
    (void)user;
    return WEIR_ERR_RANGE;
}

TEST(topic_without_key_index_and_decide_giving_up)
{
    REQUIRE(create_topic("agg-plain", false) == 0);
    weir_store *st = store_open("agg-plain", 3);
    REQUIRE(st);
    weir_store_events h;
    char err[512] = "";
    CHECK_EQ(weir_store_load(st, "k", &h, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK(strstr(err, "HTTP 409") != NULL);
    CHECK_EQ(h.count, 0u);
    weir_store_free(st);
    st = store_open("agg-race", 3);
    REQUIRE(st);
    CHECK_EQ(weir_store_execute(st, "counter", decide_refuses, NULL, NULL, err, sizeof(err)),
             WEIR_ERR_RANGE);
    CHECK(strstr(err, "key counter: decide gave up") != NULL);
    weir_store_free(st);
}

static int decide_two(const weir_store_events *h, weir_store_decision *d, void *user)
{
    (void)h;
    (void)user;
    weir_store_decision_add(d, "first", 5);
    weir_store_decision_add(d, "second", 6);
    return 0;
}

static const char *header_of(const weir_store_record *r, const char *name)
{
    for (size_t i = 0; i < r->header_count; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

TEST(decision_of_two_events)
{
    REQUIRE(create_topic("agg-two", true) == 0);
    weir_store *st = store_open("agg-two", 3);
    REQUIRE(st);
    char err[512] = "";
    int64_t version = -2;
    produce_plain("agg-two", "other", "x"); /* offset 0: another key */
    CHECK_EQ(weir_store_execute(st, "k", decide_two, NULL, &version, err, sizeof(err)), 0);
    CHECK_EQ(version, 2);
    CHECK_EQ(weir_store_execute(st, "k", decide_two, NULL, &version, err, sizeof(err)), 0);
    CHECK_EQ(version, 4);
    weir_store_events h;
    CHECK_EQ(weir_store_load(st, "k", &h, err, sizeof(err)), 0);
    REQUIRE(h.count == 4);
    static const char *const want[] = {"first", "second", "first", "second"};
    /* one batch a decision: its first event expects the version loaded, the next none */
    static const char *const expected[] = {"-1", NULL, "2", NULL};
    for (size_t i = 0; i < 4; i++) {
        CHECK_STR((char *)h.records[i].value, want[i]);
        CHECK_EQ(h.records[i].offset, (int64_t)(i + 1));
        const char *e = header_of(&h.records[i], "weir.expected.offset");
        if (expected[i])
            CHECK(e && strcmp(e, expected[i]) == 0);
        else
            CHECK(e == NULL);
    }
    weir_store_events_free(&h);
    weir_store_free(st);
}

TEST(load_from_a_snapshot)
{
    static const char *const snap_cfg[] = {"weir.key.index", "true", "cleanup.policy", "compact",
                                           NULL};
    REQUIRE(create_topic("agg-snap", true) == 0);
    REQUIRE(it_create_topic_with("agg-snap.snapshots", 1, snap_cfg) == 0);
    weir_store *st = store_open_with("agg-snap", 3, true);
    REQUIRE(st);
    char err[512] = "";
    int64_t version = -2;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(weir_store_execute(st, "s", next_count, NULL, &version, err, sizeof(err)), 0);
    weir_store_events h;
    CHECK_EQ(weir_store_load(st, "s", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.count, 10u); /* no snapshot yet: every event */
    CHECK_EQ(h.snapshot_version, -1);
    CHECK(h.snapshot == NULL);
    CHECK_EQ(h.version, 9);
    weir_store_events_free(&h);
    CHECK_EQ(weir_store_snapshot(st, "s", 9, "10", 2, err, sizeof(err)), 0);
    CHECK_EQ(weir_store_load(st, "s", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.count, 0u); /* the snapshot covers all, the version stays */
    CHECK_EQ(h.snapshot_version, 9);
    CHECK_EQ(h.version, 9);
    weir_store_events_free(&h);
    for (int i = 0; i < 3; i++) /* decided from the snapshot, then from the events after it */
        CHECK_EQ(weir_store_execute(st, "s", next_count, NULL, &version, err, sizeof(err)), 0);
    CHECK_EQ(version, 12);
    CHECK_EQ(weir_store_load(st, "s", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.snapshot_len, 2u);
    CHECK_MEM(h.snapshot, "10", 2);
    CHECK_EQ(h.snapshot_version, 9);
    CHECK_EQ(h.count, 3u);
    for (size_t i = 0; i < h.count && i < 3; i++) {
        char v[8];
        snprintf(v, sizeof(v), "%zu", 11 + i);
        CHECK_STR((char *)h.records[i].value, v);
        CHECK_EQ(h.records[i].offset, (int64_t)(10 + i));
    }
    CHECK_EQ(h.version, 12);
    weir_store_events_free(&h);
    /* a store without snapshots reads all 13; snapshot() on it is refused */
    weir_store *plain = store_open("agg-snap", 3);
    REQUIRE(plain);
    CHECK_EQ(weir_store_load(plain, "s", &h, err, sizeof(err)), 0);
    CHECK_EQ(h.count, 13u);
    CHECK_STR((char *)h.records[12].value, "13");
    weir_store_events_free(&h);
    CHECK_EQ(weir_store_snapshot(plain, "s", 12, "13", 2, err, sizeof(err)), WEIR_ERR_INVAL);
    CHECK_STR(err, "snapshot: the store was opened without snapshots");
    weir_store_free(plain);
    weir_store_free(st);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char dir[] = "/tmp/weir-agg-XXXXXX";
    if (!mkdtemp(dir)) {
        printf("not ok 1 - mkdtemp\n");
        return 1;
    }
    weir_broker_config cfg;
    weir_broker_config_init(&cfg);
    cfg.data_dir = dir;
    cfg.listen = "127.0.0.1:0";
    cfg.http_listen = "127.0.0.1:0";
    cfg.io_threads = 1;
    weir_broker *b;
    if (weir_broker_start(&cfg, &b) != 0) {
        printf("not ok 1 - broker start\n");
        return 1;
    }
    it_bootstrap = weir_broker_bootstrap(b);
    snprintf(admin_url, sizeof(admin_url), "http://%s", weir_broker_http_address(b));
    int rc = it_main(argc, argv);
    weir_broker_stop(b);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? rc : 1;
}
