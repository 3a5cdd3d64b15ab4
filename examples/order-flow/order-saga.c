/*
 * order-saga: the orchestrator of the orchestrated order flow (WEIR_ORDER_FLOW=orchestration),
 * on libweir's saga orchestrator. For each orders/OrderPlaced it starts saga "order" (keyed by
 * order id) with three steps, each a command and its compensation:
 *
 *   payment    payment.commands    ChargePayment   / RefundPayment
 *   inventory  inventory.commands  ReserveStock    / ReleaseStock
 *   shipping   shipping.commands   ShipOrder       / CancelShipment
 *
 * and ends it with orders/OrderConfirmed, or, after compensating the steps done in reverse order
 * (a refund when the stock is short), orders/OrderCancelled with the reason. Each saga's state
 * and history is in the compacted topic order.sagas; a restarted order-saga resumes every
 * unfinished saga from there. `order-saga --show ORDER_ID` prints one saga's state and history.
 */
#include "order_flow.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define NAME OF_GROUP_SAGA

static weir_saga *saga;
static long crash_after; /* tests: SIGKILL at this change (0: never) */
static long changes;

static weir_result on_order_placed(weir_ctx *ctx, const weir_event *ev, void *user)
{
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    const char *order_id = of_json_str(j, "order_id");
    char *data = json_dumps(j, JSON_COMPACT);
    weir_result res = WEIR_RESULT_RETRY;
    int r = order_id && data ? weir_saga_start(saga, order_id, data) : WEIR_ERR_INVAL;
    if (r == 0 || r == WEIR_ERR_EXIST) { /* EXIST: a copy of the event, the saga runs */
        res = WEIR_RESULT_OK;
    } else if (r == WEIR_ERR_INVAL) {
        weir_ctx_set_error(ctx, "OrderPlaced without a usable order_id");
        res = WEIR_RESULT_FAIL;
    }
    free(data);
    json_decref(j);
    return res;
}

static void on_change(const char *id, const char *status, int step, bool sent, void *user)
{
    static const char *const names[] = {"payment", "inventory", "shipping"};
    if (!sent)
        of_log_order(NAME, NULL, NULL, id, "saga %s at %s", status, names[step]);
    if (crash_after > 0 && __atomic_add_fetch(&changes, 1, __ATOMIC_SEQ_CST) == crash_after) {
        of_log(NAME, "crashing on purpose at change %ld (--crash-after)", crash_after);
        raise(SIGKILL);
    }
}

static int show(const of_opts_t *o, const char *id)
{
    char *json, err[256];
    int r = weir_saga_query(o->bootstrap, OF_SAGA_NAME ".sagas", id, &json, err, sizeof(err));
    if (r != 0) {
        fprintf(stderr, "order-saga: %s\n", err);
        return 1;
    }
    json_t *j = json_loads(json, 0, NULL);
    json_dumpf(j, stdout, JSON_INDENT(2));
    printf("\n");
    json_decref(j);
    free(json);
    return 0;
}

static int usage(FILE *f)
{
    fprintf(f,
            "usage: order-saga [options]\n"
            "       order-saga --show ORDER_ID [--bootstrap H:P]   one saga's state and history\n"
            "%s"
            "  --step-timeout-ms N       wait this long for a step's answer (default 10000)\n"
            "  --step-attempts N         attempts of a step before it fails (default 10)\n",
            of_opts_usage());
    return f == stdout ? 0 : 2;
}

static int parse_long(const char *v, long min, long max, long *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : min - 1;
    if (!v || *end || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

static int saga_open(weir_app *app, const of_opts_t *o, long timeout_ms, long attempts)
{
    static weir_saga_step steps[] = {
        {"payment", OF_TOPIC_PAYMENT_CMDS, "ChargePayment", "RefundPayment", 0, {0}},
        {"inventory", OF_TOPIC_INVENTORY_CMDS, "ReserveStock", "ReleaseStock", 0, {0}},
        {"shipping", OF_TOPIC_SHIPPING_CMDS, "ShipOrder", "CancelShipment", 0, {0}},
    };
    for (int i = 0; i < 3; i++) {
        steps[i].timeout_ms = timeout_ms;
        weir_retry_policy_init(&steps[i].retry);
        steps[i].retry.max_attempts = (int)attempts;
        steps[i].retry.initial_backoff_ms = 500;
        steps[i].retry.max_backoff_ms = 5000;
    }
    weir_saga_config sc;
    weir_saga_config_init(&sc);
    sc.name = OF_SAGA_NAME;
    sc.steps = steps;
    sc.nsteps = 3;
    sc.outcome_topic = OF_TOPIC_ORDERS;
    sc.completed_type = "OrderConfirmed";
    sc.compensated_type = "OrderCancelled";
    sc.partitions = o->partitions;
    sc.on_change = on_change;
    char err[256];
    if (weir_saga_new(app, &sc, &saga, err, sizeof(err)) != 0) {
        of_log(NAME, "cannot start the orchestrator: %s", err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    of_opts_t o;
    of_opts_init(&o, NAME);
    o.flow = "orchestration";
    long timeout_ms = 10000, attempts = 10;
    const char *show_id = NULL;
    for (int i = 1; i < argc; i++) {
        int r = of_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (of_opt_is(a, "--step-timeout-ms")) {
            if (parse_long(of_opt_value(argc, argv, &i), 1, 3600000, &timeout_ms))
                return usage(stderr);
        } else if (of_opt_is(a, "--step-attempts")) {
            if (parse_long(of_opt_value(argc, argv, &i), 1, 1000, &attempts))
                return usage(stderr);
        } else if (of_opt_is(a, "--crash-after")) {
            if (parse_long(of_opt_value(argc, argv, &i), 1, 1000000, &crash_after))
                return usage(stderr);
        } else if (of_opt_is(a, "--show")) {
            if (!(show_id = of_opt_value(argc, argv, &i)))
                return usage(stderr);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return usage(stdout);
        } else {
            fprintf(stderr, "order-saga: unknown option %s\n", a);
            return usage(stderr);
        }
    }
    if (show_id)
        return show(&o, show_id);
    static const char *const writes[] = {NULL};
    o.writes = writes;
    weir_app *app = of_app_new(&o);
    if (!app)
        return 1;
    of_saga_topics_create(app, o.partitions);
    if (saga_open(app, &o, timeout_ms, attempts) != 0) {
        weir_app_free(app);
        return 1;
    }
    weir_route_options opt = of_route(10, 50);
    weir_app_route(app, OF_TOPIC_ORDERS, "OrderPlaced", on_order_placed, NULL, &opt);
    of_log(NAME, "running: step timeout %ld ms, %ld attempts", timeout_ms, attempts);
    int rc = of_app_run_and_report(app, NAME);
    weir_saga_free(saga);
    weir_app_free(app);
    return rc;
}
