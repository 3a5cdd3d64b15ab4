/*
 * shipping-service: the third step of the orchestrated order flow (WEIR_ORDER_FLOW=orchestration;
 * the choreographed flow has no shipping). It answers order-saga's commands:
 *
 *   shipping.commands/ShipOrder       -> a shipment row -> shipping/OrderShipped, reply ok
 *   shipping.commands/CancelShipment  -> cancel it      -> shipping/ShipmentCancelled, reply ok
 *
 * Each handler runs in libweir's inbox: the shipment row, the events and the reply commit with
 * the dedup record. The shipment is kept per order id, so a command asked again (another
 * attempt, a resend after the orchestrator's restart) ships nothing twice and gets the same
 * answer.
 */
#include "order_flow.h"

#include <stdlib.h>
#include <string.h>

#define NAME OF_GROUP_SHIPPING

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS shipments(order_id TEXT PRIMARY KEY, status TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL);";

static void row_status(sqlite3_stmt *st, void *arg)
{
    snprintf(arg, 16, "%s", (const char *)sqlite3_column_text(st, 0));
}

/* Moves order_id's shipment from `from` ("" for none yet) to `to`, emitting `type`; a shipment
 * elsewhere already changes nothing. Then answers the command. */
static weir_result ship(weir_ctx *ctx, const weir_event *ev, const char *from, const char *to,
                        const char *type)
{
    sqlite3 *db = weir_ctx_db(ctx);
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    weir_result res = WEIR_RESULT_RETRY;
    const char *order_id = of_json_str(j, "order_id");
    char status[16] = "";
    if (!order_id) {
        weir_ctx_set_error(ctx, "%s without order_id", weir_event_type(ev));
        res = WEIR_RESULT_FAIL;
        goto out;
    }
    if (of_sql(db, "SELECT status FROM shipments WHERE order_id = ?", "t", row_status, status,
               order_id) != 0)
        goto out;
    if (strcmp(status, from) == 0) {
        if (of_sql(db,
                   "INSERT INTO shipments(order_id, status, created_ms) VALUES (?, ?, ?) "
                   "ON CONFLICT(order_id) DO UPDATE SET status = excluded.status",
                   "tti", NULL, NULL, order_id, to, of_now_ms()) != 0 ||
            of_emit_json(ctx, OF_TOPIC_SHIPPING, type, order_id,
                         json_pack("{s:s}", "order_id", order_id)) != 0)
            goto out;
        of_log_order(NAME, ctx, NULL, order_id, "shipment %s", to);
    }
    if (of_saga_reply(ctx, ev, WEIR_SAGA_OK, NULL) != 0)
        goto out;
    res = WEIR_RESULT_OK;
out:
    json_decref(j);
    return res;
}

static weir_result on_ship(weir_ctx *ctx, const weir_event *ev, void *user)
{
    return ship(ctx, ev, "", "SHIPPED", "OrderShipped");
}

static weir_result on_cancel(weir_ctx *ctx, const weir_event *ev, void *user)
{
    return ship(ctx, ev, "SHIPPED", "CANCELLED", "ShipmentCancelled");
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
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: shipping-service [options]\n%s", of_opts_usage());
            return 0;
        }
        fprintf(stderr, "shipping-service: unknown option %s\n", argv[i]);
        return 2;
    }
    static const char *const writes[] = {NULL}; /* shipping has no registered schema */
    o.writes = writes;
    weir_app *app = of_app_new(&o);
    if (!app)
        return 1;
    sqlite3 *db;
    if (weir_app_db_open(app, &db) != 0 || of_exec(db, schema) != 0) {
        of_log(NAME, "cannot prepare the database");
        sqlite3_close(db);
        weir_app_free(app);
        return 1;
    }
    sqlite3_close(db);
    of_saga_topics_create(app, o.partitions);
    weir_route_options opt = of_route_tx(10, 50);
    weir_app_route(app, OF_TOPIC_SHIPPING_CMDS, "ShipOrder", on_ship, NULL, &opt);
    weir_app_route(app, OF_TOPIC_SHIPPING_CMDS, "CancelShipment", on_cancel, NULL, &opt);
    of_log(NAME, "running");
    int rc = of_app_run_and_report(app, NAME);
    weir_app_free(app);
    return rc;
}
