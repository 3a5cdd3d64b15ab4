/*
 * payment-service: charges an order when it is placed and refunds it when it is cancelled after
 * a successful charge.
 *
 *   orders/OrderPlaced     -> charge -> payments/PaymentSucceeded | PaymentFailed
 *                                       (+ payments.ledger/PaymentCaptured)
 *   orders/OrderCancelled  -> refund if charged -> payments/PaymentRefunded
 *                                       (+ payments.ledger/PaymentRefunded)
 *
 * It runs exactly once (libweir's cfg.exactly_once, Kafka transactions): what a handler emits
 * and the offset of the order event it came from commit together, so each order's outcome and
 * its ledger entry appear once for read_committed readers however often the service or the
 * broker is killed. The gateway is the part outside that transaction, as a real one is: a
 * handler that runs again (a retry, an aborted transaction, a restart) calls it again, and the
 * gateway's idempotency key (the order id) is what keeps the card from being charged twice.
 *
 * The gateway's transient errors are retried by libweir (RETRY, with backoff); on the last
 * attempt the payment is failed instead ("gateway unavailable"), so every order gets an answer
 * and none is left waiting in a dead-letter topic.
 *
 * Orchestrated (--flow orchestration): the same two handlers answer order-saga's commands,
 * payment.commands/ChargePayment and RefundPayment, and also reply to the saga (in the same
 * Kafka transaction). A command sent again (another attempt, a resend after the orchestrator's
 * restart) reaches the gateway with the same idempotency key: it answers as the first time and
 * moves no money, and the reply repeats that answer without a second ledger entry.
 */
#include "order_flow.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NAME OF_GROUP_PAYMENT

static of_gateway_t gateway = {0.10, 0.05, 1};
static int max_attempts = 8;

/* The gateway client: one connection, one request at a time (handlers may run on several
 * workers). */
static sqlite3 *gw_db;
static pthread_mutex_t gw_lock = PTHREAD_MUTEX_INITIALIZER;

/* The input event, as the gateway's record of who asked. */
static void origin_of(const weir_event *ev, char *out, size_t len)
{
    snprintf(out, len, "%s/%d/%lld", weir_event_topic(ev), (int)weir_event_partition(ev),
             (long long)weir_event_offset(ev));
}

static int emit_ledger(weir_ctx *ctx, const char *type, const char *order_id, double amount)
{
    return of_emit_json(ctx, OF_TOPIC_LEDGER, type, order_id,
                        json_pack("{s:s, s:f}", "order_id", order_id, "amount", amount));
}

static weir_result on_order_placed(weir_ctx *ctx, const weir_event *ev, void *user)
{
    bool command = user != NULL; /* a ChargePayment of order-saga: answer it */
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
    char origin[320];
    origin_of(ev, origin, sizeof(origin));
    bool duplicate;
    pthread_mutex_lock(&gw_lock);
    int r = of_gateway_charge(gw_db, &gateway, order_id, amount, origin, &duplicate);
    pthread_mutex_unlock(&gw_lock);
    weir_result res = WEIR_RESULT_RETRY;
    const char *reason = NULL;
    if (r < 0)
        goto out;
    if (duplicate) {
        /* A second copy of an OrderPlaced this service published the outcome of before (an
         * at-least-once producer upstream sent it twice): the gateway did nothing, nor do we.
         * A command asked again gets the first answer. */
        if (command && of_saga_reply(ctx, ev, r == OF_GW_CAPTURED ? WEIR_SAGA_OK : WEIR_SAGA_FAILED,
                                     r == OF_GW_CAPTURED ? NULL : "card declined") != 0)
            goto out;
        res = WEIR_RESULT_OK;
        goto out;
    }
    if (r == OF_GW_TRANSIENT) {
        if (weir_ctx_attempt(ctx) < weir_ctx_max_attempts(ctx)) {
            weir_ctx_set_error(ctx, "gateway: transient error");
            goto out; /* RETRY */
        }
        reason = "payment gateway unavailable";
    } else if (r == OF_GW_DECLINED) {
        reason = "card declined";
    }
    json_t *o = json_pack("{s:s, s:f}", "order_id", order_id, "amount", amount);
    if (reason)
        json_object_set_new(o, "reason", json_string(reason));
    /* Both land in the open Kafka transaction with this event's offset. */
    if (of_emit_json(ctx, OF_TOPIC_PAYMENTS, reason ? "PaymentFailed" : "PaymentSucceeded",
                     order_id, o) != 0 ||
        (!reason && emit_ledger(ctx, "PaymentCaptured", order_id, amount) != 0) ||
        (command && of_saga_reply(ctx, ev, reason ? WEIR_SAGA_FAILED : WEIR_SAGA_OK, reason) != 0))
        goto out;
    of_log_order(NAME, ctx, NULL, order_id, "payment %s%s%s%s", reason ? "FAILED" : "SUCCEEDED",
                 reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
    res = WEIR_RESULT_OK;
out:
    json_decref(j);
    return res;
}

static weir_result on_order_cancelled(weir_ctx *ctx, const weir_event *ev, void *user)
{
    bool command = user != NULL; /* a RefundPayment of order-saga: answer it */
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    const char *order_id = of_json_str(j, "order_id");
    weir_result res = WEIR_RESULT_RETRY;
    if (!order_id) {
        weir_ctx_set_error(ctx, "OrderCancelled without order_id");
        res = WEIR_RESULT_FAIL;
        goto out;
    }
    char origin[320];
    origin_of(ev, origin, sizeof(origin));
    bool duplicate;
    double amount;
    pthread_mutex_lock(&gw_lock);
    int r = of_gateway_refund(gw_db, &gateway, order_id, origin, &duplicate, &amount);
    pthread_mutex_unlock(&gw_lock);
    if (r < 0)
        goto out;
    if (r == OF_GW_TRANSIENT) {
        weir_ctx_set_error(ctx, "gateway: transient error on refund");
        goto out; /* a refund must happen: RETRY, and the dead-letter topic if it never does */
    }
    /* Nothing charged (declined, failed), or a copy of a cancellation already answered. */
    if (r == OF_GW_NOT_CAPTURED || duplicate) {
        if (command && of_saga_reply(ctx, ev, WEIR_SAGA_OK, NULL) != 0)
            goto out;
        res = WEIR_RESULT_OK;
        goto out;
    }
    if (of_emit_json(ctx, OF_TOPIC_PAYMENTS, "PaymentRefunded", order_id,
                     json_pack("{s:s, s:f}", "order_id", order_id, "amount", amount)) != 0 ||
        emit_ledger(ctx, "PaymentRefunded", order_id, amount) != 0 ||
        (command && of_saga_reply(ctx, ev, WEIR_SAGA_OK, NULL) != 0))
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
    o.exactly_once = true;
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
    static const char *const writes[] = {OF_TOPIC_PAYMENTS, OF_TOPIC_LEDGER, NULL};
    o.writes = writes;
    weir_app *app = of_app_new(&o);
    if (!app)
        return 1;
    if (weir_app_db_open(app, &gw_db) != 0 || of_gateway_schema(gw_db) != 0) {
        of_log(NAME, "cannot prepare the gateway's database");
        sqlite3_close(gw_db);
        weir_app_free(app);
        return 1;
    }
    weir_route_options placed = of_route(max_attempts, 20);
    weir_route_options cancelled = of_route(50, 50);
    if (of_orchestrated(&o)) {
        static int answer = 1;
        of_saga_topics_create(app, o.partitions);
        weir_app_route(app, OF_TOPIC_PAYMENT_CMDS, "ChargePayment", on_order_placed, &answer,
                       &placed);
        weir_app_route(app, OF_TOPIC_PAYMENT_CMDS, "RefundPayment", on_order_cancelled, &answer,
                       &cancelled);
    } else {
        of_topics_create(app, o.partitions);
        weir_app_route(app, OF_TOPIC_ORDERS, "OrderPlaced", on_order_placed, NULL, &placed);
        weir_app_route(app, OF_TOPIC_ORDERS, "OrderCancelled", on_order_cancelled, NULL,
                       &cancelled);
    }
    of_log(NAME, "running (%s): failure rate %.2f, transient rate %.2f", o.flow,
           gateway.failure_rate, gateway.transient_rate);
    int rc = of_app_run_and_report(app, NAME);
    weir_app_free(app);
    sqlite3_close(gw_db);
    return rc;
}
