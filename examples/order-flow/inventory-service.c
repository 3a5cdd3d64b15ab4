/*
 * inventory-service: reserves stock when an order is placed and releases it when the order is
 * cancelled.
 *
 *   orders/OrderPlaced     -> reserve all items or none -> inventory/StockReserved | StockRejected
 *   orders/OrderCancelled  -> release its reservation   -> inventory/StockReleased
 *
 * Stock and reservations are SQLite tables; each handler runs in libweir's inbox, so the stock
 * change, the reservation row and the event to publish commit together with the dedup record.
 * Invariant: for every SKU, initial = stock + quantities of RESERVED reservations.
 *
 * Orchestrated (--flow orchestration): the same handlers answer order-saga's commands,
 * inventory.commands/ReserveStock and ReleaseStock, with a reply in the same transaction. The
 * decision is kept per order id (reservations, rejections), so a command asked again gets the
 * first answer and moves no stock.
 */
#include "order_flow.h"

#include <stdlib.h>
#include <string.h>

#define NAME          OF_GROUP_INVENTORY
#define DEFAULT_STOCK "SKU-1=100000,SKU-2=100000,SKU-3=100000,SKU-4=100000,SKU-5=100000,SKU-OOS=0"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS stock(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL CHECK (qty >= 0),"
    "  initial INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS reservations(order_id TEXT NOT NULL, sku TEXT NOT NULL,"
    "  qty INTEGER NOT NULL, status TEXT NOT NULL, PRIMARY KEY (order_id, sku));"
    "CREATE TABLE IF NOT EXISTS rejections(order_id TEXT PRIMARY KEY, reason TEXT NOT NULL);";

typedef struct {
    bool found;
    int64_t v;
} i64_t;

static void row_i64(sqlite3_stmt *st, void *arg)
{
    i64_t *o = arg;
    o->found = true;
    o->v = sqlite3_column_int64(st, 0);
}

/* All items, or the first that cannot be had (its SKU in why). Quantities of one SKU listed
 * twice add up. */
static int check_items(sqlite3 *db, json_t *items, char *why, size_t whylen)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *sku = of_json_str(it, "sku");
        json_t *q = json_object_get(it, "qty");
        if (!sku || !json_is_integer(q) || json_integer_value(q) < 1) {
            snprintf(why, whylen, "bad item %zu", i);
            return 1;
        }
        int64_t want = 0;
        size_t k;
        json_t *other;
        json_array_foreach(items, k, other)
        {
            const char *s2 = of_json_str(other, "sku");
            if (s2 && strcmp(s2, sku) == 0)
                want += json_integer_value(json_object_get(other, "qty"));
        }
        i64_t have = {false, 0};
        if (of_sql(db, "SELECT qty FROM stock WHERE sku = ?", "t", row_i64, &have, sku) != 0)
            return -1;
        if (!have.found || have.v < want) {
            snprintf(why, whylen, "out of stock: %s", sku);
            return 1;
        }
    }
    return 0;
}

static void row_text(sqlite3_stmt *st, void *arg)
{
    snprintf(arg, 128, "%s", (const char *)sqlite3_column_text(st, 0));
}

/* A command asked again: the first decision, from the tables. */
static int answer_again(weir_ctx *ctx, const weir_event *ev, sqlite3 *db, const char *order_id)
{
    char why[128] = "";
    if (of_sql(db, "SELECT reason FROM rejections WHERE order_id = ?", "t", row_text, why,
               order_id) != 0)
        return -1;
    return of_saga_reply(ctx, ev, why[0] ? WEIR_SAGA_FAILED : WEIR_SAGA_OK, why[0] ? why : NULL);
}

static weir_result on_order_placed(weir_ctx *ctx, const weir_event *ev, void *user)
{
    bool command = user != NULL; /* a ReserveStock of order-saga: answer it */
    sqlite3 *db = weir_ctx_db(ctx);
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    weir_result res = WEIR_RESULT_RETRY;
    const char *order_id = of_json_str(j, "order_id");
    json_t *items = json_object_get(j, "items");
    if (!order_id || !json_is_array(items) || json_array_size(items) == 0) {
        weir_ctx_set_error(ctx, "OrderPlaced without order_id or items");
        res = WEIR_RESULT_FAIL;
        goto out;
    }
    i64_t done = {false, 0};
    if (of_sql(db,
               "SELECT 1 FROM reservations WHERE order_id = ?1 UNION ALL "
               "SELECT 1 FROM rejections WHERE order_id = ?1",
               "t", row_i64, &done, order_id) != 0)
        goto out;
    if (done.found) {
        if (command && answer_again(ctx, ev, db, order_id) != 0)
            goto out;
        res = WEIR_RESULT_OK; /* decided before */
        goto out;
    }
    char why[128];
    int r = check_items(db, items, why, sizeof(why));
    if (r < 0)
        goto out;
    if (r > 0) {
        if (of_sql(db, "INSERT INTO rejections(order_id, reason) VALUES (?, ?)", "tt", NULL, NULL,
                   order_id, why) != 0 ||
            of_emit_json(ctx, OF_TOPIC_INVENTORY, "StockRejected", order_id,
                         json_pack("{s:s, s:s}", "order_id", order_id, "reason", why)) != 0 ||
            (command && of_saga_reply(ctx, ev, WEIR_SAGA_FAILED, why) != 0))
            goto out;
        of_log_order(NAME, ctx, NULL, order_id, "stock REJECTED (%s)", why);
        res = WEIR_RESULT_OK;
        goto out;
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *sku = of_json_str(it, "sku");
        int64_t qty = json_integer_value(json_object_get(it, "qty"));
        if (of_sql(db, "UPDATE stock SET qty = qty - ? WHERE sku = ?", "it", NULL, NULL, qty,
                   sku) != 0 ||
            of_sql(db,
                   "INSERT INTO reservations(order_id, sku, qty, status) VALUES (?,?,?,"
                   "'RESERVED') ON CONFLICT(order_id, sku) DO UPDATE SET qty = qty + "
                   "excluded.qty",
                   "tti", NULL, NULL, order_id, sku, qty) != 0)
            goto out;
    }
    if (of_emit_json(ctx, OF_TOPIC_INVENTORY, "StockReserved", order_id,
                     json_pack("{s:s, s:O}", "order_id", order_id, "items", items)) != 0 ||
        (command && of_saga_reply(ctx, ev, WEIR_SAGA_OK, NULL) != 0))
        goto out;
    of_log_order(NAME, ctx, NULL, order_id, "stock RESERVED");
    res = WEIR_RESULT_OK;
out:
    json_decref(j);
    return res;
}

static weir_result on_order_cancelled(weir_ctx *ctx, const weir_event *ev, void *user)
{
    bool command = user != NULL; /* a ReleaseStock of order-saga: answer it */
    sqlite3 *db = weir_ctx_db(ctx);
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    weir_result res = WEIR_RESULT_RETRY;
    const char *order_id = of_json_str(j, "order_id");
    if (!order_id) {
        weir_ctx_set_error(ctx, "OrderCancelled without order_id");
        res = WEIR_RESULT_FAIL;
        goto out;
    }
    i64_t reserved = {false, 0};
    if (of_sql(db, "SELECT count(*) FROM reservations WHERE order_id = ? AND status = 'RESERVED'",
               "t", row_i64, &reserved, order_id) != 0)
        goto out;
    if (reserved.v == 0) {
        if (command && of_saga_reply(ctx, ev, WEIR_SAGA_OK, NULL) != 0)
            goto out;
        res = WEIR_RESULT_OK; /* rejected, or released already: nothing held */
        goto out;
    }
    if (of_sql(db,
               "UPDATE stock SET qty = qty + (SELECT r.qty FROM reservations r WHERE "
               "r.order_id = ?1 AND r.sku = stock.sku AND r.status = 'RESERVED') "
               "WHERE sku IN (SELECT sku FROM reservations WHERE order_id = ?1 AND "
               "status = 'RESERVED')",
               "t", NULL, NULL, order_id) != 0 ||
        of_sql(db, "UPDATE reservations SET status = 'RELEASED' WHERE order_id = ?", "t", NULL,
               NULL, order_id) != 0)
        goto out;
    if (of_emit_json(ctx, OF_TOPIC_INVENTORY, "StockReleased", order_id,
                     json_pack("{s:s}", "order_id", order_id)) != 0 ||
        (command && of_saga_reply(ctx, ev, WEIR_SAGA_OK, NULL) != 0))
        goto out;
    of_log_order(NAME, ctx, NULL, order_id, "stock RELEASED");
    res = WEIR_RESULT_OK;
out:
    json_decref(j);
    return res;
}

/* "SKU-1=100,SKU-2=5": sets the initial stock of SKUs not in the table yet. */
static int seed_stock(sqlite3 *db, const char *spec)
{
    char *copy = strdup(spec), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        char *end;
        long long qty = eq ? strtoll(eq + 1, &end, 10) : -1;
        if (!eq || eq == tok || *end || qty < 0) {
            fprintf(stderr, "inventory-service: bad --stock entry '%s' (want SKU=QTY)\n", tok);
            rc = -1;
            break;
        }
        *eq = '\0';
        rc = of_sql(db, "INSERT OR IGNORE INTO stock(sku, qty, initial) VALUES (?, ?, ?)", "tii",
                    NULL, NULL, tok, (int64_t)qty, (int64_t)qty);
    }
    free(copy);
    return rc;
}

static int usage(FILE *f)
{
    fprintf(f,
            "usage: inventory-service [options]\n%s"
            "  --stock SKU=QTY,...       initial stock of SKUs not known yet\n"
            "                            (default " DEFAULT_STOCK ")\n",
            of_opts_usage());
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    of_opts_t o;
    of_opts_init(&o, NAME);
    const char *stock = DEFAULT_STOCK;
    for (int i = 1; i < argc; i++) {
        int r = of_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (of_opt_is(argv[i], "--stock")) {
            stock = of_opt_value(argc, argv, &i);
            if (!stock)
                return usage(stderr);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return usage(stdout);
        } else {
            fprintf(stderr, "inventory-service: unknown option %s\n", argv[i]);
            return usage(stderr);
        }
    }
    static const char *const writes[] = {OF_TOPIC_INVENTORY, NULL};
    o.writes = writes;
    weir_app *app = of_app_new(&o);
    if (!app)
        return 1;
    sqlite3 *db;
    if (weir_app_db_open(app, &db) != 0 || of_exec(db, schema) != 0 || seed_stock(db, stock) != 0) {
        of_log(NAME, "cannot prepare the database");
        weir_app_free(app);
        return 1;
    }
    sqlite3_close(db);
    weir_route_options opt = of_route_tx(10, 50);
    if (of_orchestrated(&o)) {
        static int answer = 1;
        of_saga_topics_create(app, o.partitions);
        weir_app_route(app, OF_TOPIC_INVENTORY_CMDS, "ReserveStock", on_order_placed, &answer,
                       &opt);
        weir_app_route(app, OF_TOPIC_INVENTORY_CMDS, "ReleaseStock", on_order_cancelled, &answer,
                       &opt);
    } else {
        of_topics_create(app, o.partitions);
        weir_app_route(app, OF_TOPIC_ORDERS, "OrderPlaced", on_order_placed, NULL, &opt);
        weir_app_route(app, OF_TOPIC_ORDERS, "OrderCancelled", on_order_cancelled, NULL, &opt);
    }
    of_log(NAME, "running (%s)", o.flow);
    int rc = of_app_run_and_report(app, NAME);
    weir_app_free(app);
    return rc;
}
