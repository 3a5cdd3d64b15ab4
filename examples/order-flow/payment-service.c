/*
 * payment-service: charges an order when it is placed and refunds it when it is cancelled after
 * a successful charge.
 *
 *   orders/OrderPlaced     -> charge -> payments/PaymentSucceeded | PaymentFailed
 *   orders/OrderCancelled  -> refund if charged -> payments/PaymentRefunded
 *
 * The gateway's transient errors are retried by libweir (RETRY, with backoff); on the last
 * attempt the payment is failed instead ("gateway unavailable"), so every order gets an answer
 * and none is left waiting in a dead-letter topic. Each handler runs in libweir's inbox: the
 * payments row, the ledger entry and the event to publish commit with the dedup record, so a
 * redelivered event (after a crash) charges nobody twice.
 */
#include "order_flow.h"

#include <stdlib.h>
#include <string.h>

#define NAME OF_GROUP_PAYMENT

static of_gateway_t gateway = {0.10, 0.05, 1};
static int max_attempts = 8;

static const char schema[] = "CREATE TABLE IF NOT EXISTS payments("
                             "  order_id TEXT PRIMARY KEY, amount REAL NOT NULL,"
                             "  status TEXT NOT NULL, reason TEXT, refunded INTEGER NOT NULL "
                             "  DEFAULT 0, at_ms INTEGER NOT NULL);";

typedef struct {
    bool found;
    char status[16];
    double amount;
    bool refunded;
} payment_t;

static void row_payment(sqlite3_stmt *st, void *arg)
{
    payment_t *p = arg;
    p->found = true;
    snprintf(p->status, sizeof(p->status), "%s", (const char *)sqlite3_column_text(st, 0));
    p->amount = sqlite3_column_double(st, 1);
    p->refunded = sqlite3_column_int(st, 2) != 0;
}

static int payment_get(sqlite3 *db, const char *order_id, payment_t *p)
{
    memset(p, 0, sizeof(*p));
    return of_sql(db, "SELECT status, amount, refunded FROM payments WHERE order_id = ?", "t",
                  row_payment, p, order_id);
}

static weir_result on_order_placed(weir_ctx *ctx, const weir_event *ev, void *user)
{
    sqlite3 *db = weir_ctx_db(ctx);
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    const char *order_id = of_json_str(j, "order_id");
    json_t *amount_j = json_object_get(j, "amount");
    if (!order_id || !json_is_number(amount_j)) {
        weir_ctx_set_error(ctx, "OrderPlaced without order_id or amount");
        json_decref(j);
        return WEIR_RESULT_FAIL;
    }
    double amount = json_number_value(amount_j);
    weir_result res = WEIR_RESULT_RETRY;
    payment_t prev;
    if (payment_get(db, order_id, &prev) != 0)
        goto out;
    if (prev.found) {
        /* Already decided. libweir's dedup skips a redelivered event before it gets here; this
         * catches a copy under another ce_id, so that even then nobody is charged twice. */
        res = WEIR_RESULT_OK;
        goto out;
    }
    int r = of_gateway_charge(db, &gateway, order_id, amount);
    if (r < 0)
        goto out;
    const char *reason = NULL;
    if (r == OF_GW_TRANSIENT) {
        if (weir_ctx_attempt(ctx) < weir_ctx_max_attempts(ctx)) {
            weir_ctx_set_error(ctx, "gateway: transient error");
            goto out; /* RETRY */
        }
        reason = "payment gateway unavailable";
    } else if (r == OF_GW_DECLINED) {
        reason = "card declined";
    }
    const char *status = reason ? "FAILED" : "SUCCEEDED";
    if (of_sql(db,
               "INSERT INTO payments(order_id, amount, status, reason, at_ms) VALUES (?,?,?,?,?)",
               "tdtti", NULL, NULL, order_id, amount, status, reason, of_now_ms()) != 0)
        goto out;
    json_t *out = json_pack("{s:s, s:f}", "order_id", order_id, "amount", amount);
    if (reason)
        json_object_set_new(out, "reason", json_string(reason));
    if (of_emit_json(ctx, OF_TOPIC_PAYMENTS, reason ? "PaymentFailed" : "PaymentSucceeded",
                     order_id, out) != 0)
        goto out;
    of_log_order(NAME, ctx, NULL, order_id, "payment %s%s%s%s", status, reason ? " (" : "",
                 reason ? reason : "", reason ? ")" : "");
    res = WEIR_RESULT_OK;
out:
    json_decref(j);
    return res;
}

static weir_result on_order_cancelled(weir_ctx *ctx, const weir_event *ev, void *user)
{
    sqlite3 *db = weir_ctx_db(ctx);
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    const char *order_id = of_json_str(j, "order_id");
    weir_result res = WEIR_RESULT_RETRY;
    payment_t prev;
    if (!order_id) {
        weir_ctx_set_error(ctx, "OrderCancelled without order_id");
        res = WEIR_RESULT_FAIL;
        goto out;
    }
    if (payment_get(db, order_id, &prev) != 0)
        goto out;
    /* Nothing charged (declined, failed) or already refunded: nothing to compensate. */
    if (!prev.found || strcmp(prev.status, "SUCCEEDED") != 0 || prev.refunded) {
        res = WEIR_RESULT_OK;
        goto out;
    }
    double amount = prev.amount;
    int r = of_gateway_refund(db, &gateway, order_id, amount);
    if (r == OF_GW_TRANSIENT) {
        weir_ctx_set_error(ctx, "gateway: transient error on refund");
        goto out; /* a refund must happen: RETRY, and the dead-letter topic if it never does */
    }
    if (r < 0 || of_sql(db, "UPDATE payments SET refunded = 1 WHERE order_id = ?", "t", NULL, NULL,
                        order_id) != 0)
        goto out;
    if (of_emit_json(ctx, OF_TOPIC_PAYMENTS, "PaymentRefunded", order_id,
                     json_pack("{s:s, s:f}", "order_id", order_id, "amount", amount)) != 0)
        goto out;
    of_log_order(NAME, ctx, NULL, order_id, "payment REFUNDED");
    res = WEIR_RESULT_OK;
out:
    json_decref(j);
    return res;
}

static int usage(FILE *f)
{
    fprintf(f,
            "usage: payment-service [options]\n%s"
            "  --failure-rate R          share of orders declined (default 0.10)\n"
            "  --transient-rate R        share of gateway calls failing transiently "
            "(default 0.05)\n"
            "  --seed N                  decides which orders are declined (default 1)\n"
            "  --max-attempts N          gateway attempts per order (default 8)\n",
            of_opts_usage());
    return f == stdout ? 0 : 2;
}

static int parse_rate(const char *v, double *out)
{
    char *end;
    double d = v ? strtod(v, &end) : -1;
    if (!v || *end || !(d >= 0.0 && d <= 1.0))
        return -1;
    *out = d;
    return 0;
}

int main(int argc, char **argv)
{
    of_opts_t o;
    of_opts_init(&o, NAME);
    for (int i = 1; i < argc; i++) {
        int r = of_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (of_opt_is(a, "--failure-rate")) {
            if (parse_rate(of_opt_value(argc, argv, &i), &gateway.failure_rate))
                return usage(stderr);
        } else if (of_opt_is(a, "--transient-rate")) {
            if (parse_rate(of_opt_value(argc, argv, &i), &gateway.transient_rate))
                return usage(stderr);
        } else if (of_opt_is(a, "--seed")) {
            const char *v = of_opt_value(argc, argv, &i);
            if (!v)
                return usage(stderr);
            gateway.seed = strtoull(v, NULL, 10);
        } else if (of_opt_is(a, "--max-attempts")) {
            const char *v = of_opt_value(argc, argv, &i);
            max_attempts = v ? atoi(v) : 0;
            if (max_attempts < 1 || max_attempts > 100)
                return usage(stderr);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return usage(stdout);
        } else {
            fprintf(stderr, "payment-service: unknown option %s\n", a);
            return usage(stderr);
        }
    }
    weir_app *app = of_app_new(&o);
    if (!app)
        return 1;
    sqlite3 *db;
    if (weir_app_db_open(app, &db) != 0 || of_exec(db, schema) != 0 || of_gateway_schema(db) != 0) {
        of_log(NAME, "cannot prepare the database");
        weir_app_free(app);
        return 1;
    }
    sqlite3_close(db);
    of_topics_create(app, o.partitions);
    weir_route_options placed = of_route_tx(max_attempts, 20);
    weir_route_options cancelled = of_route_tx(50, 50);
    weir_app_route(app, OF_TOPIC_ORDERS, "OrderPlaced", on_order_placed, NULL, &placed);
    weir_app_route(app, OF_TOPIC_ORDERS, "OrderCancelled", on_order_cancelled, NULL, &cancelled);
    of_log(NAME, "running: failure rate %.2f, transient rate %.2f", gateway.failure_rate,
           gateway.transient_rate);
    int rc = of_app_run_and_report(app, NAME);
    weir_app_free(app);
    return rc;
}
