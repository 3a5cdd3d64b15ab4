/*
 * Each streams operator against output computed by hand (the comment above each case works it
 * out), on an embedded broker, with events out of order and late:
 *  - filter, flat_map, map_values, record timestamps set by a mapper;
 *  - a tumbling-window count emitted once per window when it closes, late records to a side
 *    topic;
 *  - a hopping-window sum emitting every update, a late record still counted in the windows
 *    that are open;
 *  - session windows: merges, retractions of merged sessions, final results;
 *  - running min, max, count and a custom reducer, queried from the store;
 *  - re-keying through a repartition topic;
 *  - a stream-table join (left), with a table update while running and a tombstone;
 *  - a windowed stream-stream join read in timestamp order, a late record left out.
 */
#include "test_streams_util.h"

typedef struct {
    weir_streams *s;
    st_runner_t run;
    char *dir;
} st_case_t;

/* Runs s until it has processed n records, then stops it (the stop commits). */
static bool run_until(st_case_t *c, uint64_t n)
{
    int64_t t0 = it_now_ms();
    st_run(&c->run, c->s);
    bool ok = st_wait_processed(c->s, n, 30000);
    int64_t t1 = it_now_ms();
    int rc = st_stop(&c->run);
    if (getenv("WEIR_TEST_VERBOSE"))
        fprintf(stderr, "  processed in %lld ms, stopped in %lld ms\n", (long long)(t1 - t0),
                (long long)(it_now_ms() - t1));
    return ok && rc == 0;
}

static bool case_start(st_case_t *c, const char *app)
{
    c->dir = st_tmpdir(app);
    c->s = c->dir ? st_app(app, c->dir, WEIR_AT_LEAST_ONCE) : NULL;
    return c->s != NULL;
}

static void case_end(st_case_t *c)
{
    weir_streams_free(c->s);
    st_rmdir(c->dir);
}

/* ---- stateless ------------------------------------------------------------------------------- */

static bool not_skip(const weir_record *r, void *user)
{
    return !r->value || strcmp(r->value, "skip") != 0;
}

/* Each word becomes a record keyed by the word; its value is the old key ("none" if null) and
 * the i-th word's event time is the line's plus i. */
static int words(const weir_record *r, weir_collector *out, void *user)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", r->value ? (const char *)r->value : "");
    int i = 0;
    for (char *save, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save), i++) {
        weir_collect_timestamp(out, r->timestamp + i);
        weir_collect_str(out, w, r->key ? (const char *)r->key : "none");
    }
    return 0;
}

static int upper(const weir_record *r, weir_collector *out, void *user)
{
    char buf[64];
    size_t n = r->value_len < sizeof(buf) ? r->value_len : sizeof(buf) - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(((const char *)r->value)[i] >= 'a' && ((const char *)r->value)[i] <= 'z'
                            ? ((const char *)r->value)[i] - 32
                            : ((const char *)r->value)[i]);
    return weir_collect_value(out, buf, n);
}

TEST(stateless_filter_flat_map_map_values)
{
    REQUIRE(it_create_topic("st-stateless", 1) == 0);
    st_in_t in[] = {
        {"k1", "hello world", 1000}, {"k2", "skip", 2000}, {"k3", "a", 3000}, {NULL, "b c", 4000}};
    REQUIRE(st_produce_to("st-stateless", 0, in, 4) == 0);
    st_case_t c;
    REQUIRE(case_start(&c, "st-stateless-app"));
    weir_stream *w = weir_stream_flat_map(
        weir_stream_filter(weir_streams_source(c.s, "st-stateless", NULL, NULL), not_skip, NULL),
        words, NULL);
    REQUIRE(weir_stream_to(weir_stream_map_values(w, upper, NULL), "st-stateless-out") == 0);
    CHECK(run_until(&c, 4));
    CHECK_TOPIC("st-stateless-out", 1, false,
                "hello K1 @1000\nworld K1 @1001\na K3 @3000\nb NONE @4000\nc NONE @4001\n");
    case_end(&c);
}

/* ---- tumbling, final ------------------------------------------------------------------------- */

/* size 10 s, grace 5 s:
 *   a@1000, b@5000            [0,10000): a=1 b=1
 *   a@12000  stream time 12000, watermark 7000: [10000,20000) a=1
 *   a@3000   out of order, its window ends at 10000 > 7000: [0,10000) a=2
 *   a@16000  watermark 11000: [10000,20000) a=2; [0,10000) closes: a 2, b 1 (@9999)
 *   b@4000   its window has closed: late
 *   c@30000  watermark 25000: [10000,20000) closes: a 2 (@19999) */
TEST(tumbling_count_final_with_late_events)
{
    REQUIRE(it_create_topic("st-tumble", 1) == 0);
    st_in_t in[] = {{"a", "x", 1000},  {"b", "x", 5000}, {"a", "x", 12000}, {"a", "x", 3000},
                    {"a", "x", 16000}, {"b", "x", 4000}, {"c", "x", 30000}};
    REQUIRE(st_produce_to("st-tumble", 0, in, 7) == 0);
    st_case_t c;
    REQUIRE(case_start(&c, "st-tumble-app"));
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "per10s", WEIR_AGG_COUNT);
    o.window = weir_window_tumbling(10000, 5000);
    o.emit = WEIR_EMIT_FINAL;
    o.late_topic = "st-tumble-late";
    weir_stream *agg = weir_stream_aggregate(weir_streams_source(c.s, "st-tumble", NULL, NULL), &o);
    REQUIRE(weir_stream_to(agg, "st-tumble-out") == 0);
    CHECK(run_until(&c, 7));
    CHECK_TOPIC("st-tumble-out", 1, false,
                "a 2 [0,10000) @9999\nb 1 [0,10000) @9999\na 2 [10000,20000) @19999\n");
    CHECK_TOPIC("st-tumble-late", 1, false, "b x @4000\n");
    weir_streams_counters st;
    weir_streams_stats(c.s, &st);
    CHECK_EQ(st.late, 1);
    case_end(&c);
}

/* ---- hopping, updates ------------------------------------------------------------------------ */

/* size 10 s, advance 5 s, grace 0, sum of the values:
 *   k 1 @2000    [0,10000) 1
 *   k 2 @7000    [0,10000) 3, [5000,15000) 2
 *   k 4 @11000   [5000,15000) 6, [10000,20000) 4; watermark 11000 closes [0,10000)
 *   k 8 @6000    [0,10000) is closed, [5000,15000) is open: 14 (not late: one window took it) */
TEST(hopping_sum_updates)
{
    REQUIRE(it_create_topic("st-hop", 1) == 0);
    st_in_t in[] = {{"k", "1", 2000}, {"k", "2", 7000}, {"k", "4", 11000}, {"k", "8", 6000}};
    REQUIRE(st_produce_to("st-hop", 0, in, 4) == 0);
    st_case_t c;
    REQUIRE(case_start(&c, "st-hop-app"));
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "hopsum", WEIR_AGG_SUM);
    o.window = weir_window_hopping(10000, 5000, 0);
    weir_stream *agg = weir_stream_aggregate(weir_streams_source(c.s, "st-hop", NULL, NULL), &o);
    REQUIRE(weir_stream_to(agg, "st-hop-out") == 0);
    CHECK(run_until(&c, 4));
    CHECK_TOPIC("st-hop-out", 1, false,
                "k 1 [0,10000) @2000\nk 3 [0,10000) @7000\nk 2 [5000,15000) @7000\n"
                "k 6 [5000,15000) @11000\nk 4 [10000,20000) @11000\nk 14 [5000,15000) @6000\n");
    weir_streams_counters st;
    weir_streams_stats(c.s, &st);
    CHECK_EQ(st.late, 0);
    case_end(&c);
}

/* ---- sessions -------------------------------------------------------------------------------- */

/* gap 5 s, grace 0, count; updates and final from the same input:
 *   u@1000   new session [1000,1000] = 1
 *   u@3000   joins it: [1000,1000] retracted, [1000,3000] = 2
 *   u@12000  new session [12000,12000] = 1; watermark 12000 closes [1000,3000]
 *            (3000 + 5000 < 12000): final u 2 [1000,3000] @3000
 *   u@8000   out of order, within the gap of [12000,12000]: retracted, [8000,12000] = 2
 *   v@30000  [30000,30000] = 1; closes [8000,12000]: final u 2 [8000,12000] @12000 */
TEST(session_windows_merge_and_close)
{
    REQUIRE(it_create_topic("st-sess", 1) == 0);
    st_in_t in[] = {
        {"u", "x", 1000}, {"u", "x", 3000}, {"u", "x", 12000}, {"u", "x", 8000}, {"v", "x", 30000}};
    REQUIRE(st_produce_to("st-sess", 0, in, 5) == 0);
    st_case_t c;
    REQUIRE(case_start(&c, "st-sess-app"));
    weir_stream *src = weir_streams_source(c.s, "st-sess", NULL, NULL);
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "sess-u", WEIR_AGG_COUNT);
    o.window = weir_window_session(5000, 0);
    REQUIRE(weir_stream_to(weir_stream_aggregate(src, &o), "st-sess-u") == 0);
    weir_aggregate_options_init(&o, "sess-f", WEIR_AGG_COUNT);
    o.window = weir_window_session(5000, 0);
    o.emit = WEIR_EMIT_FINAL;
    REQUIRE(weir_stream_to(weir_stream_aggregate(src, &o), "st-sess-f") == 0);
    CHECK(run_until(&c, 5));
    CHECK_TOPIC("st-sess-u", 1, false,
                "u 1 [1000,1000) @1000\nu - [1000,1000) @3000\nu 2 [1000,3000) @3000\n"
                "u 1 [12000,12000) @12000\nu - [12000,12000) @8000\nu 2 [8000,12000) @8000\n"
                "v 1 [30000,30000) @30000\n");
    CHECK_TOPIC("st-sess-f", 1, false, "u 2 [1000,3000) @3000\nu 2 [8000,12000) @12000\n");
    case_end(&c);
}

/* ---- running aggregates ---------------------------------------------------------------------- */

static int concat(const void *agg, size_t alen, const weir_record *r, weir_collector *out,
                  void *user)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "%.*s%s%.*s", (int)alen, agg ? (const char *)agg : "",
                     agg ? "," : "", (int)r->value_len, (const char *)r->value);
    return weir_collect_value(out, buf, (size_t)n);
}

static int count_rows(const weir_row *row, void *user)
{
    (*(int *)user)++;
    return 0;
}

/* a 5, b 3, a -2.5, a x (not a number: skipped by min and max). */
TEST(running_min_max_count_reduce_and_queries)
{
    REQUIRE(it_create_topic("st-kv", 1) == 0);
    st_in_t in[] = {{"a", "5", 1}, {"b", "3", 2}, {"a", "-2.5", 3}, {"a", "x", 4}};
    REQUIRE(st_produce_to("st-kv", 0, in, 4) == 0);
    st_case_t c;
    REQUIRE(case_start(&c, "st-kv-app"));
    weir_stream *src = weir_streams_source(c.s, "st-kv", NULL, NULL);
    const char *names[] = {"kv-min", "kv-max", "kv-count", "kv-cat"};
    weir_agg_kind kinds[] = {WEIR_AGG_MIN, WEIR_AGG_MAX, WEIR_AGG_COUNT, WEIR_AGG_REDUCE};
    for (int i = 0; i < 4; i++) {
        weir_aggregate_options o;
        weir_aggregate_options_init(&o, names[i], kinds[i]);
        o.reduce = concat;
        char topic[64];
        snprintf(topic, sizeof(topic), "st-%s", names[i]);
        REQUIRE(weir_stream_to(weir_stream_aggregate(src, &o), topic) == 0);
    }
    CHECK(run_until(&c, 4));
    CHECK_TOPIC("st-kv-min", 1, false, "a 5 @1\nb 3 @2\na -2.5 @3\n");
    CHECK_TOPIC("st-kv-max", 1, false, "a 5 @1\nb 3 @2\na 5 @3\n");
    CHECK_TOPIC("st-kv-count", 1, false, "a 1 @1\nb 1 @2\na 2 @3\na 3 @4\n");
    CHECK_TOPIC("st-kv-cat", 1, false, "a 5 @1\nb 3 @2\na 5,-2.5 @3\na 5,-2.5,x @4\n");
    weir_streams_counters st;
    weir_streams_stats(c.s, &st);
    CHECK_EQ(st.skipped, 2);
    void *v;
    size_t n;
    CHECK_EQ(weir_streams_get(c.s, "kv-cat", "a", 1, &v, &n), 0);
    CHECK_STR((char *)v, "5,-2.5,x");
    free(v);
    CHECK_EQ(weir_streams_get(c.s, "kv-min", "zz", 2, &v, &n), WEIR_ERR_NOENT);
    int rows = 0;
    CHECK_EQ(weir_streams_scan(c.s, "kv-count", count_rows, &rows), 0);
    CHECK_EQ(rows, 2);
    case_end(&c);
}

/* ---- re-keying ------------------------------------------------------------------------------- */

static int word_ones(const weir_record *r, weir_collector *out, void *user)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", (const char *)r->value);
    for (char *save, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
        weir_collect_str(out, w, "1");
    return 0;
}

/* Lines l1 "a b a" @100 and l2 "b c" @200 (one partition, so in that order) become words; the
 * count per word goes through st-gb-app-wc-repartition (2 partitions, by word). */
TEST(group_by_word_through_a_repartition_topic)
{
    REQUIRE(it_create_topic("st-lines", 2) == 0);
    st_in_t in[] = {{"l1", "a b a", 100}, {"l2", "b c", 200}};
    REQUIRE(st_produce_to("st-lines", 0, in, 2) == 0);
    st_case_t c;
    REQUIRE(case_start(&c, "st-gb-app"));
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "wc", WEIR_AGG_COUNT);
    weir_stream *w =
        weir_stream_flat_map(weir_streams_source(c.s, "st-lines", NULL, NULL), word_ones, NULL);
    REQUIRE(weir_stream_to(weir_stream_aggregate(w, &o), "st-wc-out") == 0);
    CHECK(run_until(&c, 2 + 5));
    CHECK_TOPIC("st-wc-out", 2, true, "a 1 @100\na 2 @100\nb 1 @100\nb 2 @200\nc 1 @200\n");
    char *rep = st_read_topic("st-gb-app-wc-repartition", 2, true);
    CHECK_STR(rep, "a 1 @100\na 1 @100\nb 1 @100\nb 1 @200\nc 1 @200\n");
    free(rep);
    case_end(&c);
}

/* ---- stream-table join ----------------------------------------------------------------------- */

static int order_customer(const weir_record *l, const weir_record *r, weir_collector *out,
                          void *user)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%s:%s", (const char *)l->value,
                     r ? (const char *)r->value : "?");
    return weir_collect_value(out, buf, (size_t)n);
}

static bool table_updated(void *arg)
{
    weir_streams_counters c;
    weir_streams_stats(arg, &c);
    return c.table_updates >= 1;
}

/* Table: c1 Ada, c2 Bob then a tombstone. Orders c1, c2, c3 find Ada, nothing, nothing; then
 * c3 Cy arrives in the table and order o4 of c3 finds it. */
TEST(stream_table_left_join_follows_the_table)
{
    REQUIRE(it_create_topic("st-customers", 1) == 0);
    REQUIRE(it_create_topic("st-orders", 1) == 0);
    st_in_t cust[] = {{"c1", "Ada", 1}, {"c2", "Bob", 2}, {"c2", NULL, 3}};
    REQUIRE(st_produce_to("st-customers", 0, cust, 3) == 0);
    st_in_t ord[] = {{"c1", "o1", 1000}, {"c2", "o2", 2000}, {"c3", "o3", 3000}};
    REQUIRE(st_produce_to("st-orders", 0, ord, 3) == 0);
    st_case_t c;
    REQUIRE(case_start(&c, "st-join-app"));
    REQUIRE(weir_streams_table(c.s, "customers", "st-customers") == 0);
    weir_stream *j = weir_stream_join_table(weir_streams_source(c.s, "st-orders", NULL, NULL),
                                            "customers", order_customer, NULL, true);
    REQUIRE(weir_stream_to(j, "st-orders-out") == 0);
    st_run(&c.run, c.s);
    CHECK(st_wait_processed(c.s, 3, 30000));
    st_in_t cy = {"c3", "Cy", 4};
    REQUIRE(st_produce_to("st-customers", 0, &cy, 1) == 0);
    CHECK(it_wait(table_updated, c.s, 10000));
    st_in_t o4 = {"c3", "o4", 4000};
    REQUIRE(st_produce_to("st-orders", 0, &o4, 1) == 0);
    CHECK(st_wait_processed(c.s, 4, 10000));
    CHECK_EQ(st_stop(&c.run), 0);
    CHECK_TOPIC("st-orders-out", 1, false,
                "c1 o1:Ada @1000\nc2 o2:? @2000\nc3 o3:? @3000\nc3 o4:Cy @4000\n");
    void *v;
    size_t n;
    CHECK_EQ(weir_streams_get(c.s, "customers", "c1", 2, &v, &n), 0);
    CHECK_STR((char *)v, "Ada");
    free(v);
    CHECK_EQ(weir_streams_get(c.s, "customers", "c2", 2, &v, &n), WEIR_ERR_NOENT);
    case_end(&c);
}

/* ---- stream-stream join ---------------------------------------------------------------------- */

static int click_view(const weir_record *l, const weir_record *r, weir_collector *out, void *user)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "%s+%s", (const char *)l->value, (const char *)r->value);
    return weir_collect_value(out, buf, (size_t)n);
}

/* window 1 s, grace 0; read in event-time order across the two topics:
 *   L c1@1000  buffered
 *   R v1@1500  finds c1: u1 c1+v1 @1500
 *   R v2@3000  nothing within [2000,4000]; c1 and v1 expire
 *   L c2@5000  nothing within [4000,6000]
 *   L c3@2000  2000 + 1000 is behind the watermark 5000: late
 *   R v4@5500  finds c2: u1 c2+v4 @5500
 *   R v3@9000  nothing for u2 */
TEST(windowed_stream_stream_join_in_time_order)
{
    REQUIRE(it_create_topic("st-clicks", 1) == 0);
    REQUIRE(it_create_topic("st-views", 1) == 0);
    st_in_t l[] = {{"u1", "c1", 1000}, {"u1", "c2", 5000}, {"u2", "c3", 2000}};
    st_in_t r[] = {{"u1", "v1", 1500}, {"u1", "v2", 3000}, {"u1", "v4", 5500}, {"u2", "v3", 9000}};
    REQUIRE(st_produce_to("st-clicks", 0, l, 3) == 0);
    REQUIRE(st_produce_to("st-views", 0, r, 4) == 0);
    st_case_t c;
    REQUIRE(case_start(&c, "st-ssj-app"));
    weir_join_options o = {"cv", 1000, 0, click_view, NULL, "st-ssj-late"};
    weir_stream *j = weir_stream_join(weir_streams_source(c.s, "st-clicks", NULL, NULL),
                                      weir_streams_source(c.s, "st-views", NULL, NULL), &o);
    REQUIRE(weir_stream_to(j, "st-ssj-out") == 0);
    CHECK(run_until(&c, 7));
    CHECK_TOPIC("st-ssj-out", 1, false, "u1 c1+v1 @1500\nu1 c2+v4 @5500\n");
    CHECK_TOPIC("st-ssj-late", 1, false, "u2 c3 @2000\n");
    case_end(&c);
}

/* ---- topology errors ------------------------------------------------------------------------- */

TEST(topology_mistakes_are_reported_once_at_run)
{
    char *dir = st_tmpdir("topo");
    weir_streams *s = st_app("st-topo-app", dir, WEIR_AT_LEAST_ONCE);
    REQUIRE(s);
    weir_aggregate_options o;
    weir_aggregate_options_init(&o, "bad name!", WEIR_AGG_COUNT);
    weir_stream *a = weir_stream_aggregate(weir_streams_source(s, "st-kv", NULL, NULL), &o);
    CHECK(a == NULL);
    CHECK(weir_stream_to(a, "x") != 0);
    CHECK_EQ(weir_streams_run(s), WEIR_ERR_INVAL);
    CHECK(strstr(weir_streams_errmsg(s), "weir_stream_aggregate: a name") != NULL);
    weir_streams_free(s);
    st_rmdir(dir);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return it_main(argc, argv);
}
