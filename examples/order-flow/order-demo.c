/*
 * order-demo: places orders on the order service at a steady rate and prints a one-line summary
 * every second: orders placed, confirmed, cancelled, pending, events dead-lettered, and the
 * consumer lag of the three services' groups (from the broker).
 *
 *   order-demo --rate 20 --summary                 until Ctrl-C (what `make run` shows)
 *   order-demo --rate 100 --count 1000 --summary   a fixed number, then waits for every order
 *                                                  to be decided and prints the totals and the
 *                                                  POST-to-CONFIRMED latency
 *
 * Every --oos-every'th order asks for SKU-OOS, which the inventory has none of, so those orders
 * are cancelled (and their payments refunded) by the saga.
 */
#include "order_flow.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAME "order-demo"

static struct {
    const char *url;
    const char *bootstrap;
    double rate; /* orders per second; 0: as fast as the threads go */
    long count;  /* 0: until stopped */
    int oos_every;
    int threads;
    bool summary;
    int wait_ms;
} opt = {"http://127.0.0.1:8080", NULL, 20.0, 0, 20, 4, false, 120000};

static atomic_long next_order;  /* the next order number to place */
static atomic_long placed_ok;   /* 201 answers */
static atomic_long post_errors; /* other answers */
static atomic_bool stop_flag;
static int64_t start_ms;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, true);
}

static void sleep_until(int64_t at_ms)
{
    int64_t d = at_ms - of_now_ms();
    if (d > 0) {
        struct timespec ts = {d / 1000, (long)(d % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

static char *order_body(long n, unsigned *rng)
{
    static const double price[] = {10.0, 25.0, 40.0, 99.5, 5.25};
    json_t *items = json_array();
    double amount = 0;
    int nitems = 1 + (int)(rand_r(rng) % 3);
    for (int i = 0; i < nitems; i++) {
        int sku = (int)(rand_r(rng) % 5);
        int qty = 1 + (int)(rand_r(rng) % 3);
        char name[16];
        snprintf(name, sizeof(name), "SKU-%d", sku + 1);
        json_array_append_new(items, json_pack("{s:s, s:i}", "sku", name, "qty", qty));
        amount += price[sku] * qty;
    }
    if (opt.oos_every > 0 && n % opt.oos_every == opt.oos_every - 1)
        json_array_append_new(items, json_pack("{s:s, s:i}", "sku", "SKU-OOS", "qty", 1));
    char user[16];
    snprintf(user, sizeof(user), "U%03d", (int)(rand_r(rng) % 100) + 1);
    json_t *o = json_pack("{s:s, s:o, s:f}", "user_id", user, "items", items, "amount", amount);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void *generator(void *arg)
{
    of_http_t http;
    if (of_http_init(&http, opt.url) != 0)
        return NULL;
    unsigned rng = (unsigned)(uintptr_t)arg * 2654435761u ^ (unsigned)of_now_ms();
    while (!atomic_load(&stop_flag)) {
        long n = atomic_fetch_add(&next_order, 1);
        if (opt.count && n >= opt.count)
            break;
        if (opt.rate > 0)
            sleep_until(start_ms + (int64_t)((double)n * 1000.0 / opt.rate));
        if (atomic_load(&stop_flag))
            break;
        char *body = order_body(n, &rng);
        char *resp = NULL;
        int st = of_http_request(&http, "POST", "/orders", body, &resp);
        if (st == 201) {
            atomic_fetch_add(&placed_ok, 1);
        } else {
            if (atomic_fetch_add(&post_errors, 1) < 5)
                of_log(NAME, "POST /orders: %d %s", st, resp ? resp : "(no answer)");
            if (st < 0) { /* the service is not there: do not spin */
                struct timespec ts = {0, 200 * 1000000};
                nanosleep(&ts, NULL);
            }
        }
        free(body);
        free(resp);
    }
    of_http_close(&http);
    return NULL;
}

/* ---- what the broker knows: dead letters and lag -------------------------------------------- */

typedef struct {
    rd_kafka_t *rk[3]; /* one per group, for its committed offsets */
} broker_view_t;

static const char *const groups[3] = {OF_GROUP_ORDER, OF_GROUP_PAYMENT, OF_GROUP_INVENTORY};

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

static int view_open(broker_view_t *v)
{
    memset(v, 0, sizeof(*v));
    for (int g = 0; g < 3; g++) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(c, quiet_log);
        if (rd_kafka_conf_set(c, "bootstrap.servers", opt.bootstrap, err, sizeof(err)) ||
            rd_kafka_conf_set(c, "group.id", groups[g], err, sizeof(err)) ||
            rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err)) ||
            !(v->rk[g] = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err)))) {
            of_log(NAME, "broker view: %s", err);
            return -1;
        }
    }
    return 0;
}

static void view_close(broker_view_t *v)
{
    for (int g = 0; g < 3; g++)
        if (v->rk[g])
            rd_kafka_destroy(v->rk[g]);
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    int n = 0;
    if (rd_kafka_metadata(rk, 0, t, &md, 2000) == 0) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

/* Records in topic not yet committed by the group (all of them if it committed nothing);
 * -1 if the broker did not answer. */
static long lag_of(rd_kafka_t *rk, const char *topic)
{
    int n = partitions_of(rk, topic);
    if (n <= 0)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    long lag = 0;
    if (rd_kafka_committed(rk, l, 2000) != 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return -1;
    }
    for (int p = 0; p < n; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 2000) != 0) {
            lag = -1;
            break;
        }
        int64_t c = l->elems[p].offset;
        lag += (long)(hi - (c >= 0 ? c : lo));
    }
    rd_kafka_topic_partition_list_destroy(l);
    return lag;
}

static long records_in(rd_kafka_t *rk, const char *topic)
{
    int n = partitions_of(rk, topic);
    long total = 0;
    for (int p = 0; p < n; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 2000) == 0)
            total += (long)(hi - lo);
    }
    return total;
}

static void view_sample(broker_view_t *v, long *dead, long *lag)
{
    *dead = records_in(v->rk[0], OF_TOPIC_ORDERS ".dlq") +
            records_in(v->rk[0], OF_TOPIC_PAYMENTS ".dlq") +
            records_in(v->rk[0], OF_TOPIC_INVENTORY ".dlq");
    /* The inputs of the three services' groups, in the flow that runs (WEIR_ORDER_FLOW). */
    const char *flow = getenv("WEIR_ORDER_FLOW");
    bool orch = flow && strcmp(flow, "orchestration") == 0;
    long l[4] = {lag_of(v->rk[0], orch ? OF_TOPIC_ORDERS : OF_TOPIC_PAYMENTS),
                 orch ? 0 : lag_of(v->rk[0], OF_TOPIC_INVENTORY),
                 lag_of(v->rk[1], orch ? OF_TOPIC_PAYMENT_CMDS : OF_TOPIC_ORDERS),
                 lag_of(v->rk[2], orch ? OF_TOPIC_INVENTORY_CMDS : OF_TOPIC_ORDERS)};
    *lag = 0;
    for (int i = 0; i < 4; i++) {
        if (l[i] < 0) {
            *lag = -1;
            return;
        }
        *lag += l[i];
    }
}

/* ---- the summary
 * --------------------------------------------------------------------------------- */

typedef struct {
    long placed, pending, confirmed, cancelled;
    long p50, p99;
    bool ok;
} stats_t;

static stats_t fetch_stats(of_http_t *http)
{
    stats_t s = {0};
    char *resp = NULL;
    char path[64];
    snprintf(path, sizeof(path), "/stats?since_ms=%lld", (long long)start_ms);
    if (of_http_request(http, "GET", path, NULL, &resp) == 200) {
        json_error_t jerr;
        json_t *j = json_loads(resp, 0, &jerr);
        if (j) {
            s.placed = (long)json_integer_value(json_object_get(j, "placed"));
            s.pending = (long)json_integer_value(json_object_get(j, "pending"));
            s.confirmed = (long)json_integer_value(json_object_get(j, "confirmed"));
            s.cancelled = (long)json_integer_value(json_object_get(j, "cancelled"));
            json_t *lat = json_object_get(j, "latency_ms");
            s.p50 = (long)json_integer_value(json_object_get(lat, "p50"));
            s.p99 = (long)json_integer_value(json_object_get(lat, "p99"));
            s.ok = true;
            json_decref(j);
        }
    }
    free(resp);
    return s;
}

static void print_line(const stats_t *s, long dead, long lag, double rate)
{
    char lagbuf[24];
    if (lag < 0)
        snprintf(lagbuf, sizeof(lagbuf), "?");
    else
        snprintf(lagbuf, sizeof(lagbuf), "%ld", lag);
    if (!s->ok) {
        printf("order service not answering at %s\n", opt.url);
    } else {
        printf("placed %ld  confirmed %ld  cancelled %ld  pending %ld  dead-lettered %ld  "
               "lag %s  (%.1f orders/s",
               s->placed, s->confirmed, s->cancelled, s->pending, dead, lagbuf, rate);
        if (atomic_load(&post_errors))
            printf(", %ld failed POSTs", atomic_load(&post_errors));
        printf(")\n");
    }
    fflush(stdout);
}

static int usage(FILE *f)
{
    fprintf(f, "usage: order-demo [options]\n"
               "  --url URL           the order service (default http://127.0.0.1:8080)\n"
               "  --bootstrap H:P     the broker, for dead letters and lag (default "
               "$WEIR_BROKERS or 127.0.0.1:9092)\n"
               "  --rate N            orders per second (default 20; 0: as fast as possible)\n"
               "  --count N           place N orders, wait until all are decided, print totals\n"
               "  --oos-every N       every Nth order asks for an out-of-stock SKU (default 20; "
               "0: never)\n"
               "  --threads N         concurrent requests (default 4)\n"
               "  --summary           print the summary line every second\n"
               "  --wait-ms N         with --count: how long to wait for decisions "
               "(default 120000)\n");
    return f == stdout ? 0 : 2;
}

static int parse_args(int argc, char **argv)
{
    opt.bootstrap = getenv("WEIR_BROKERS") ? getenv("WEIR_BROKERS") : "127.0.0.1:9092";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--summary") == 0) {
            opt.summary = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return usage(stdout) - 1;
        const char *v = of_opt_value(argc, argv, &i);
        char *end = NULL;
        double d = v ? strtod(v, &end) : 0;
        bool num = v && end && !*end && d >= 0;
        if (of_opt_is(a, "--url") && v)
            opt.url = v;
        else if (of_opt_is(a, "--bootstrap") && v)
            opt.bootstrap = v;
        else if (of_opt_is(a, "--rate") && num)
            opt.rate = d;
        else if (of_opt_is(a, "--count") && num)
            opt.count = (long)d;
        else if (of_opt_is(a, "--oos-every") && num)
            opt.oos_every = (int)d;
        else if (of_opt_is(a, "--threads") && num && d >= 1 && d <= 64)
            opt.threads = (int)d;
        else if (of_opt_is(a, "--wait-ms") && num)
            opt.wait_ms = (int)d;
        else {
            fprintf(stderr, "order-demo: bad option %s\n", a);
            return usage(stderr);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int r = parse_args(argc, argv);
    if (r)
        return r < 0 ? 0 : r;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    of_http_t http;
    if (of_http_init(&http, opt.url) != 0) {
        fprintf(stderr, "order-demo: bad --url %s\n", opt.url);
        return 2;
    }
    broker_view_t view;
    bool have_view = view_open(&view) == 0;
    start_ms = of_now_ms();
    pthread_t th[64];
    for (int i = 0; i < opt.threads; i++)
        pthread_create(&th[i], NULL, generator, (void *)(uintptr_t)(i + 1));

    long last_placed = 0;
    int64_t last_ms = start_ms, placed_done_ms = 0;
    bool all_decided = false;
    for (int64_t tick = start_ms + 1000; !atomic_load(&stop_flag); tick += 1000) {
        sleep_until(tick);
        stats_t s = fetch_stats(&http);
        long dead = 0, lag = -1;
        if (have_view && opt.summary)
            view_sample(&view, &dead, &lag);
        int64_t now = of_now_ms();
        long ok = atomic_load(&placed_ok);
        double rate = (double)(ok - last_placed) * 1000.0 / (double)(now - last_ms);
        last_placed = ok;
        last_ms = now;
        if (opt.summary)
            print_line(&s, dead, lag, rate);
        if (opt.count) {
            bool posted_all = ok + atomic_load(&post_errors) >= opt.count;
            if (posted_all && !placed_done_ms)
                placed_done_ms = now;
            if (posted_all && s.ok && s.pending == 0) {
                all_decided = true;
                break;
            }
            if (placed_done_ms && now - placed_done_ms > opt.wait_ms)
                break;
        }
    }
    atomic_store(&stop_flag, true);
    for (int i = 0; i < opt.threads; i++)
        pthread_join(th[i], NULL);
    int rc = 0;
    if (opt.count) {
        stats_t s = fetch_stats(&http);
        long dead = 0, lag = -1;
        if (have_view)
            view_sample(&view, &dead, &lag);
        double secs = (double)(of_now_ms() - start_ms) / 1000.0;
        double post_secs =
            (double)((placed_done_ms ? placed_done_ms : of_now_ms()) - start_ms) / 1000.0;
        printf("%s: %ld orders placed in %.1f s, all decided after %.1f s (%.1f orders/s); "
               "confirmed %ld, cancelled %ld, pending %ld, dead-lettered %ld; "
               "POST to CONFIRMED p50 %ld ms, p99 %ld ms\n",
               all_decided ? "done" : "NOT DONE", atomic_load(&placed_ok), post_secs, secs,
               secs > 0 ? (double)atomic_load(&placed_ok) / secs : 0.0, s.confirmed, s.cancelled,
               s.pending, dead, s.p50, s.p99);
        rc = all_decided && atomic_load(&post_errors) == 0 ? 0 : 1;
    }
    if (have_view)
        view_close(&view);
    of_http_close(&http);
    return rc;
}
