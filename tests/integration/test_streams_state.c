/*
 * Streams state that survives: on an embedded broker,
 *  - an instance on an empty state dir restores its store from the changelog and counts on
 *    from there; one restarted on its own dir restores nothing (its checkpoint is current);
 *  - a table resumes from its stored offsets and is rebuilt from the topic when its store is
 *    lost;
 *  - a changelog topic deleted by mistake: the app refuses to start and says why, then
 *    rebuilds the store from the input when asked, without producing old outputs again;
 *  - scaling out and in, 1 -> 3 -> 2 instances: partitions and their state move, and every
 *    key's counts come out exactly 1, 2, ..., n (none lost, none doubled);
 *  - exactly once against a broker without transactions fails with a clear error.
 */
#include "test_streams_util.h"

/* A count per key of topic, to topic-out. */
static weir_streams *count_app(const char *app, const char *dir, const char *topic, const char *out)
{
    weir_streams *s = st_app(app, dir, WEIR_AT_LEAST_ONCE);
    if (!s)
        return NULL;
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "counts", WEIR_AGG_COUNT);
    weir_stream_to(weir_stream_aggregate(weir_streams_source(s, topic, NULL, NULL), &o), out);
    return s;
}

static void produce_keys(const char *topic, int keys, int per_key, int64_t ts0)
{
    for (int r = 0; r < per_key; r++) {
        for (int k = 0; k < keys; k++) {
            char key[16];
            snprintf(key, sizeof(key), "k%d", k);
            st_in_t in = {key, "x", ts0 + r * 1000 + k};
            st_produce_to(topic, RD_KAFKA_PARTITION_UA, &in, 1);
        }
    }
}

static int64_t get_count(weir_streams *s, const char *key)
{
    void *v;
    size_t n;
    if (weir_streams_get(s, "counts", key, strlen(key), &v, &n) != 0)
        return -1;
    int64_t c = atoll(v);
    free(v);
    return c;
}

TEST(restore_from_changelog_on_an_empty_state_dir)
{
    REQUIRE(it_create_topic("sr-in", 2) == 0);
    produce_keys("sr-in", 10, 3, 1000);
    char *d1 = st_tmpdir("sr1"), *d2 = st_tmpdir("sr2");
    weir_streams *a = count_app("sr-app", d1, "sr-in", "sr-out");
    REQUIRE(a);
    st_runner_t ra;
    st_run(&ra, a);
    CHECK(st_wait_processed(a, 30, 30000));
    CHECK_EQ(st_stop(&ra), 0);
    CHECK_EQ(get_count(a, "k3"), 3);
    weir_streams_free(a);

    /* A second instance of the app on a new, empty state dir. */
    produce_keys("sr-in", 10, 1, 9000);
    weir_streams *b = count_app("sr-app", d2, "sr-in", "sr-out");
    REQUIRE(b);
    st_runner_t rb;
    st_run(&rb, b);
    CHECK(st_wait_processed(b, 10, 30000));
    CHECK_EQ(st_stop(&rb), 0);
    weir_streams_counters c;
    weir_streams_stats(b, &c);
    fprintf(stderr, "  restored %llu records, %llu bytes in %llu ms\n",
            (unsigned long long)c.restored_records, (unsigned long long)c.restored_bytes,
            (unsigned long long)c.restore_ms);
    CHECK(c.restored_records >= 10); /* the changelog holds at least each key's latest count */
    for (int k = 0; k < 10; k++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        CHECK_EQ(get_count(b, key), 4);
    }
    weir_streams_free(b);

    /* The same instance again on its own dir: its checkpoint is current, nothing to read. */
    weir_streams *b2 = count_app("sr-app", d2, "sr-in", "sr-out");
    REQUIRE(b2);
    st_run(&rb, b2);
    CHECK(it_wait(st_ready, b2, 30000));
    CHECK_EQ(st_stop(&rb), 0);
    weir_streams_stats(b2, &c);
    CHECK_EQ(c.restored_records, 0);
    CHECK_EQ(get_count(b2, "k9"), 4);
    weir_streams_free(b2);
    st_rmdir(d1);
    st_rmdir(d2);
}

/* ---- tables ---------------------------------------------------------------------------------- */

static weir_streams *table_app(const char *dir)
{
    weir_streams *s = st_app("st-table-app", dir, WEIR_AT_LEAST_ONCE);
    if (s)
        weir_streams_table(s, "prices", "st-prices");
    return s;
}

static char *price(weir_streams *s, const char *key)
{
    void *v;
    size_t n;
    return weir_streams_get(s, "prices", key, strlen(key), &v, &n) == 0 ? v : NULL;
}

static weir_streams_counters run_table(weir_streams *s)
{
    st_runner_t r;
    st_run(&r, s);
    CHECK(it_wait(st_ready, s, 30000));
    CHECK_EQ(st_stop(&r), 0);
    weir_streams_counters c;
    weir_streams_stats(s, &c);
    return c;
}

TEST(table_resumes_from_its_offsets_and_is_rebuilt_when_lost)
{
    REQUIRE(it_create_topic("st-prices", 2) == 0);
    st_in_t in[] = {{"apple", "1.0", 1},
                    {"pear", "2.0", 2},
                    {"plum", "3.0", 3},
                    {"apple", "1.5", 4},
                    {"plum", NULL, 5}};
    REQUIRE(st_produce_to("st-prices", RD_KAFKA_PARTITION_UA, in, 5) == 0);
    char *d = st_tmpdir("tbl");
    weir_streams *s = table_app(d);
    REQUIRE(s);
    weir_streams_counters c = run_table(s);
    CHECK_EQ(c.restored_records, 5);
    char *p = price(s, "apple");
    CHECK_STR(p, "1.5");
    free(p);
    CHECK(price(s, "plum") == NULL);
    weir_streams_free(s);

    st_in_t more[] = {{"kiwi", "4.0", 6}, {"pear", "2.5", 7}};
    REQUIRE(st_produce_to("st-prices", RD_KAFKA_PARTITION_UA, more, 2) == 0);
    s = table_app(d);
    c = run_table(s);
    CHECK_EQ(c.restored_records, 2); /* only what came after its stored offsets */
    p = price(s, "pear");
    CHECK_STR(p, "2.5");
    free(p);
    weir_streams_free(s);

    /* The store is lost: the next start reads the whole topic again. */
    st_rmdir(d);
    d = st_tmpdir("tbl");
    s = table_app(d);
    c = run_table(s);
    CHECK_EQ(c.restored_records, 7);
    p = price(s, "kiwi");
    CHECK_STR(p, "4.0");
    free(p);
    p = price(s, "apple");
    CHECK_STR(p, "1.5");
    free(p);
    weir_streams_free(s);
    st_rmdir(d);
}

/* ---- a deleted changelog --------------------------------------------------------------------- */

static int delete_topic(const char *topic)
{
    rd_kafka_t *rk = it_client(RD_KAFKA_PRODUCER, NULL);
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    int r = ev && !rd_kafka_event_error(ev) ? 0 : -1;
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_destroy(rk);
    return r;
}

TEST(deleted_changelog_is_an_error_then_rebuilt_on_request)
{
    REQUIRE(it_create_topic("sd-in", 1) == 0);
    produce_keys("sd-in", 5, 2, 1000); /* k0..k4 twice: counts 2 */
    char *d = st_tmpdir("sd");
    weir_streams *s = count_app("sd-app", d, "sd-in", "sd-out");
    REQUIRE(s);
    st_runner_t r;
    st_run(&r, s);
    CHECK(st_wait_processed(s, 10, 30000));
    CHECK_EQ(st_stop(&r), 0);
    weir_streams_free(s);
    REQUIRE(delete_topic("sd-app-counts-changelog") == 0);
    it_sleep_ms(500);

    s = count_app("sd-app", d, "sd-in", "sd-out");
    REQUIRE(s);
    CHECK_EQ(weir_streams_run(s), WEIR_ERR_NOENT);
    fprintf(stderr, "  the error: %s\n", weir_streams_errmsg(s));
    CHECK(strstr(weir_streams_errmsg(s), "sd-app-counts-changelog is missing") != NULL);
    CHECK(strstr(weir_streams_errmsg(s), "rebuild_lost_state") != NULL);
    weir_streams_free(s);

    /* Asked to rebuild: the input is read again without producing, then one more record. */
    produce_keys("sd-in", 1, 1, 5000); /* k0 once more: 3 */
    weir_streams_config cfg;
    weir_streams_config_init(&cfg);
    cfg.bootstrap = it_bootstrap;
    cfg.application_id = "sd-app";
    cfg.state_dir = d;
    cfg.rebuild_lost_state = true;
    cfg.handle_signals = false;
    cfg.log = it_quiet_log;
    char err[256];
    REQUIRE(weir_streams_new(&cfg, &s, err, sizeof(err)) == 0);
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "counts", WEIR_AGG_COUNT);
    weir_stream_to(weir_stream_aggregate(weir_streams_source(s, "sd-in", NULL, NULL), &o),
                   "sd-out");
    st_run(&r, s);
    CHECK(st_wait_processed(s, 11, 30000));
    CHECK_EQ(st_stop(&r), 0);
    weir_streams_counters c;
    weir_streams_stats(s, &c);
    CHECK_EQ(c.suppressed, 10); /* the ten old outputs were not produced again */
    CHECK_EQ(get_count(s, "k0"), 3);
    CHECK_EQ(get_count(s, "k4"), 2);
    CHECK_TOPIC("sd-out", 1, false,
                "k0 1 @1000\nk1 1 @1001\nk2 1 @1002\nk3 1 @1003\nk4 1 @1004\n"
                "k0 2 @2000\nk1 2 @2001\nk2 2 @2002\nk3 2 @2003\nk4 2 @2004\nk0 3 @5000\n");
    weir_streams_free(s);
    st_rmdir(d);
}

/* ---- scaling out and in ---------------------------------------------------------------------- */

#define SC_KEYS  60
#define SC_PARTS 6

static void produce_batch(int per_key, int64_t ts0)
{
    produce_keys("sc-in", SC_KEYS, per_key, ts0);
}

static bool group_settled(weir_streams **apps, int n)
{
    uint64_t tasks = 0;
    for (int i = 0; i < n; i++) {
        if (!weir_streams_ready(apps[i]))
            return false;
        weir_streams_counters c;
        weir_streams_stats(apps[i], &c);
        if (c.tasks == 0)
            return false;
        tasks += c.tasks;
    }
    return tasks == SC_PARTS;
}

static bool wait_settled(weir_streams **apps, int n)
{
    for (int i = 0; i < 1500; i++) {
        if (group_settled(apps, n))
            return true;
        it_sleep_ms(20);
    }
    return false;
}

static uint64_t processed_sum(weir_streams **apps, int n)
{
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        weir_streams_counters c;
        weir_streams_stats(apps[i], &c);
        sum += c.processed;
    }
    return sum;
}

static bool wait_processed_sum(weir_streams **apps, int n, uint64_t want)
{
    for (int i = 0; i < 1500; i++) {
        if (processed_sum(apps, n) >= want)
            return true;
        it_sleep_ms(20);
    }
    fprintf(stderr, "  processed %llu of %llu\n", (unsigned long long)processed_sum(apps, n),
            (unsigned long long)want);
    return false;
}

/* Each key's outputs must be 1, 2, ..., total in order. */
static void check_sequences(int total)
{
    int next[SC_KEYS];
    for (int k = 0; k < SC_KEYS; k++)
        next[k] = 1;
    int bad = 0;
    for (int p = 0; p < SC_PARTS; p++) {
        it_record_t *recs = calloc(20000, sizeof(*recs));
        size_t n = st_read_partition("sc-out", p, recs, 20000);
        for (size_t i = 0; i < n; i++) {
            int k = atoi(recs[i].key + 1);
            int v = atoi(recs[i].value);
            if (k < 0 || k >= SC_KEYS || v != next[k]) {
                if (bad++ < 5)
                    fprintf(stderr, "  %s: got %d, expected %d\n", recs[i].key, v,
                            k >= 0 && k < SC_KEYS ? next[k] : -1);
                continue;
            }
            next[k]++;
        }
        it_records_free(recs, n);
        free(recs);
    }
    CHECK_EQ(bad, 0);
    for (int k = 0; k < SC_KEYS; k++)
        CHECK_EQ(next[k], total + 1);
}

TEST(scale_out_and_in_moves_state_with_partitions)
{
    REQUIRE(it_create_topic("sc-in", SC_PARTS) == 0);
    char *dirs[3];
    weir_streams *apps[3];
    st_runner_t run[3];
    for (int i = 0; i < 3; i++) {
        dirs[i] = st_tmpdir("sc");
        apps[i] = count_app("sc-app", dirs[i], "sc-in", "sc-out");
        REQUIRE(apps[i]);
    }
    produce_batch(2, 1000);
    st_run(&run[0], apps[0]);
    CHECK(wait_processed_sum(apps, 1, SC_KEYS * 2));
    CHECK(wait_settled(apps, 1));

    st_run(&run[1], apps[1]);
    st_run(&run[2], apps[2]);
    CHECK(wait_settled(apps, 3));
    weir_streams_counters c1, c2;
    weir_streams_stats(apps[1], &c1);
    weir_streams_stats(apps[2], &c2);
    fprintf(stderr, "  1 -> 3: tasks %llu+%llu, restored %llu+%llu records\n",
            (unsigned long long)c1.tasks, (unsigned long long)c2.tasks,
            (unsigned long long)c1.restored_records, (unsigned long long)c2.restored_records);
    CHECK(c1.restored_records > 0 && c2.restored_records > 0);
    produce_batch(2, 5000);
    CHECK(wait_processed_sum(apps, 3, SC_KEYS * 4));

    CHECK_EQ(st_stop(&run[0]), 0); /* leaves the group: its partitions go to the others */
    CHECK(wait_settled(apps + 1, 2));
    produce_batch(2, 9000);
    CHECK(wait_processed_sum(apps, 3, SC_KEYS * 6));
    CHECK_EQ(st_stop(&run[1]), 0);
    CHECK_EQ(st_stop(&run[2]), 0);
    check_sequences(6);
    /* The stores of the last two instances hold every key, each with its full count. */
    int found = 0;
    for (int k = 0; k < SC_KEYS; k++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        int64_t b = get_count(apps[1], key), c = get_count(apps[2], key);
        found += (b == 6) + (c == 6);
        CHECK(b == -1 || c == -1);
    }
    CHECK_EQ(found, SC_KEYS);
    for (int i = 0; i < 3; i++) {
        weir_streams_free(apps[i]);
        st_rmdir(dirs[i]);
    }
}

/* ---- exactly once without transactions ------------------------------------------------------- */

TEST(exactly_once_without_broker_transactions_is_a_clear_error)
{
    REQUIRE(it_create_topic("st-eos-in", 1) == 0);
    char *d = st_tmpdir("eos");
    weir_streams *s = st_app("st-eos-app", d, WEIR_EXACTLY_ONCE);
    REQUIRE(s);
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "counts", WEIR_AGG_COUNT);
    weir_stream_to(weir_stream_aggregate(weir_streams_source(s, "st-eos-in", NULL, NULL), &o),
                   "st-eos-out");
    st_runner_t r;
    st_run(&r, s);
    for (int i = 0; i < 2000 && !atomic_load(&r.done) && !weir_streams_ready(s); i++)
        it_sleep_ms(20);
    int rc = st_stop(&r);
    fprintf(stderr, "  run: %d: %s\n", rc, weir_streams_errmsg(s));
    if (rc == 0) {
        printf("# the broker serves transactions: nothing to check here\n");
    } else {
        CHECK_EQ(rc, WEIR_ERR_UNSUPPORTED);
        CHECK(strstr(weir_streams_errmsg(s), "exactly once needs a broker that serves "
                                             "transactions") != NULL);
    }
    weir_streams_free(s);
    st_rmdir(d);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return it_main(argc, argv);
}
