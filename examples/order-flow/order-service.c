/*
 * order-service: the HTTP front of the order flow and the saga's decision maker.
 *
 *   POST /orders            {"user_id":"U001","items":[{"sku":"SKU-1","qty":2}],"amount":250.00}
 *                           -> 201 {"order_id":"..."}; the order row and its OrderPlaced event
 *                           are written in one transaction (outbox), the relay publishes it
 *   GET  /orders/{id}       -> {"order_id":...,"status":"PENDING|CONFIRMED|CANCELLED","reason":...}
 *   GET  /orders?status=S   -> {"orders":[...],"count":n} (at most ?limit=, default 100)
 *   GET  /stats             -> counts per status and the latency from POST to CONFIRMED
 *                           (?since_ms=T: of orders placed from T on)
 *   GET  /health            -> {"status":"ok"}
 *   bad input: 400 with {"error":"..."}; unknown paths 404; wrong methods 405.
 *
 * It consumes the payments and inventory topics and decides: both PaymentSucceeded and
 * StockReserved -> CONFIRMED (OrderConfirmed); PaymentFailed or StockRejected -> CANCELLED
 * (OrderCancelled, which makes the other services compensate). Decisions are made once, in the
 * handler's transaction (libweir's inbox), so a redelivered event cannot decide twice.
 *
 * Orchestrated (--flow orchestration): order-saga decides instead, and this service only takes
 * its verdict, orders/OrderConfirmed or OrderCancelled, into the orders table.
 *
 * HTTP runs on libmicrohttpd's thread pool, each thread with its own connection to the store;
 * the handlers run on libweir's worker thread.
 */
#include "order_flow.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NAME      OF_GROUP_ORDER
#define BODY_MAX  (64 * 1024)
#define ITEMS_MAX 50
#define LIST_MAX  1000

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS orders("
    "  order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, items TEXT NOT NULL,"
    "  amount REAL NOT NULL, status TEXT NOT NULL DEFAULT 'PENDING', reason TEXT,"
    "  payment TEXT, stock TEXT, refunded INTEGER NOT NULL DEFAULT 0,"
    "  released INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
    "  decided_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS orders_status ON orders(status, created_ms);";

static weir_app *app;
static pthread_key_t db_key;

/* ---- the store, one connection per HTTP thread ---------------------------------------------- */

static void db_close(void *p)
{
    sqlite3_close(p);
}

static sqlite3 *thread_db(void)
{
    sqlite3 *db = pthread_getspecific(db_key);
    if (!db && weir_app_db_open(app, &db) == 0)
        pthread_setspecific(db_key, db);
    return db;
}

/* ---- HTTP helpers --------------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    size_t n = text ? strlen(text) : 0;
    struct MHD_Response *r =
        text ? MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET, POST");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return reply(c, status, json_pack("{s:s}", "error", msg));
}

/* ---- POST /orders --------------------------------------------------------------------------- */

static bool id_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

/* Checks the body; returns NULL and the error text, or the normalized items array. */
static json_t *validate_order(json_t *j, const char **user_id, double *amount, const char **err)
{
    if (!json_is_object(j)) {
        *err = "body must be a JSON object";
        return NULL;
    }
    *user_id = of_json_str(j, "user_id");
    if (!id_ok(*user_id, 64)) {
        *err = "user_id must be a string of 1-64 letters, digits, '-', '_' or '.'";
        return NULL;
    }
    json_t *a = json_object_get(j, "amount");
    if (!json_is_number(a) || !(json_number_value(a) > 0) || json_number_value(a) > 1e9) {
        *err = "amount must be a number greater than 0 and at most 1000000000";
        return NULL;
    }
    *amount = json_number_value(a);
    json_t *items = json_object_get(j, "items");
    if (!json_is_array(items) || json_array_size(items) == 0 ||
        json_array_size(items) > ITEMS_MAX) {
        *err = "items must be an array of 1-50 items";
        return NULL;
    }
    json_t *norm = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *sku = json_is_object(it) ? of_json_str(it, "sku") : NULL;
        json_t *q = json_is_object(it) ? json_object_get(it, "qty") : NULL;
        if (!id_ok(sku, 64) || !json_is_integer(q) || json_integer_value(q) < 1 ||
            json_integer_value(q) > 1000) {
            json_decref(norm);
            *err = "each item needs a sku (1-64 letters, digits, '-', '_', '.') and an integer "
                   "qty of 1-1000";
            return NULL;
        }
        json_array_append_new(
            norm, json_pack("{s:s, s:I}", "sku", sku, "qty", (json_int_t)json_integer_value(q)));
    }
    return norm;
}

static enum MHD_Result post_order(struct MHD_Connection *c, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    if (!j) {
        char msg[256];
        snprintf(msg, sizeof(msg), "invalid JSON: %s", jerr.text);
        return reply_error(c, MHD_HTTP_BAD_REQUEST, msg);
    }
    const char *user_id = NULL, *err = NULL;
    double amount = 0;
    json_t *items = validate_order(j, &user_id, &amount, &err);
    if (!items) {
        json_decref(j);
        return reply_error(c, MHD_HTTP_BAD_REQUEST, err);
    }
    sqlite3 *db = thread_db();
    char order_id[37];
    weir_uuid(order_id);
    int64_t now = of_now_ms();
    char *items_text = json_dumps(items, JSON_COMPACT);
    json_t *ev = json_pack("{s:s, s:s, s:O, s:f, s:I}", "order_id", order_id, "user_id", user_id,
                           "items", items, "amount", amount, "created_ms", (json_int_t)now);
    char *ev_text = json_dumps(ev, JSON_COMPACT);
    void *value = NULL;
    size_t value_len = 0;
    const char *schema_url = NULL;
    char why[512] = "";
    bool ok = db && items_text && ev_text &&
              of_value_encode(OF_TOPIC_ORDERS, ev_text, &value, &value_len, &schema_url, why,
                              sizeof(why)) == 0 &&
              of_exec(db, "BEGIN IMMEDIATE") == 0;
    if (ok) {
        const char *headers[] = {"ce_dataschema", schema_url, NULL};
        weir_message m;
        weir_message_init(&m);
        m.topic = OF_TOPIC_ORDERS;
        m.type = "OrderPlaced";
        m.key = order_id;
        m.value = value;
        m.value_len = value_len;
        m.subject = order_id;
        m.headers = schema_url ? headers : NULL;
        ok = of_sql(db,
                    "INSERT INTO orders(order_id, user_id, items, amount, created_ms) "
                    "VALUES (?,?,?,?,?)",
                    "tttdi", NULL, NULL, order_id, user_id, items_text, amount, now) == 0 &&
             weir_outbox_add(app, db, &m) == 0;
        ok = of_exec(db, ok ? "COMMIT" : "ROLLBACK") == 0 && ok;
    }
    if (why[0])
        of_log(NAME, "OrderPlaced refused by its schema: %s", why);
    free(value);
    if (ok)
        of_log_order(NAME, NULL, NULL, order_id, "PENDING (placed, %.2f)", amount);
    free(items_text);
    free(ev_text);
    json_decref(ev);
    json_decref(items);
    json_decref(j);
    if (!ok)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "could not store the order");
    weir_app_outbox_kick(app);
    return reply(c, MHD_HTTP_CREATED, json_pack("{s:s}", "order_id", order_id));
}

/* ---- GET ------------------------------------------------------------------------------------ */

static json_t *order_json(sqlite3_stmt *st)
{
    const char *reason = (const char *)sqlite3_column_text(st, 2);
    json_t *o = json_pack("{s:s, s:s, s:o}", "order_id", (const char *)sqlite3_column_text(st, 0),
                          "status", (const char *)sqlite3_column_text(st, 1), "reason",
                          reason ? json_string(reason) : json_null());
    return o;
}

static void row_order_full(sqlite3_stmt *st, void *arg)
{
    json_t *o = order_json(st);
    json_object_set_new(o, "user_id", json_string((const char *)sqlite3_column_text(st, 3)));
    json_error_t jerr;
    json_t *items = json_loads((const char *)sqlite3_column_text(st, 4), 0, &jerr);
    json_object_set_new(o, "items", items ? items : json_array());
    json_object_set_new(o, "amount", json_real(sqlite3_column_double(st, 5)));
    const char *pay = (const char *)sqlite3_column_text(st, 6);
    const char *stock = (const char *)sqlite3_column_text(st, 7);
    json_object_set_new(o, "payment", pay ? json_string(pay) : json_null());
    json_object_set_new(o, "stock", stock ? json_string(stock) : json_null());
    json_object_set_new(o, "refunded", json_boolean(sqlite3_column_int(st, 8)));
    json_object_set_new(o, "released", json_boolean(sqlite3_column_int(st, 9)));
    json_object_set_new(o, "created_ms", json_integer(sqlite3_column_int64(st, 10)));
    if (sqlite3_column_type(st, 11) != SQLITE_NULL)
        json_object_set_new(o, "decided_ms", json_integer(sqlite3_column_int64(st, 11)));
    *(json_t **)arg = o;
}

static enum MHD_Result get_order(struct MHD_Connection *c, const char *id)
{
    if (!id_ok(id, 64))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "bad order id");
    sqlite3 *db = thread_db();
    json_t *o = NULL;
    if (!db || of_sql(db,
                      "SELECT order_id, status, reason, user_id, items, amount, payment, stock, "
                      "refunded, released, created_ms, decided_ms FROM orders WHERE order_id = ?",
                      "t", row_order_full, &o, id) != 0) {
        json_decref(o);
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable");
    }
    if (!o)
        return reply_error(c, MHD_HTTP_NOT_FOUND, "no such order");
    return reply(c, MHD_HTTP_OK, o);
}

static void row_append(sqlite3_stmt *st, void *arg)
{
    json_array_append_new(arg, order_json(st));
}

static enum MHD_Result list_orders(struct MHD_Connection *c)
{
    const char *status = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
    const char *limit_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (status && strcmp(status, "PENDING") != 0 && strcmp(status, "CONFIRMED") != 0 &&
        strcmp(status, "CANCELLED") != 0)
        return reply_error(c, MHD_HTTP_BAD_REQUEST,
                           "status must be PENDING, CONFIRMED or CANCELLED");
    long limit = 100;
    if (limit_s) {
        char *end;
        limit = strtol(limit_s, &end, 10);
        if (*end || limit < 1 || limit > LIST_MAX)
            return reply_error(c, MHD_HTTP_BAD_REQUEST, "limit must be 1-1000");
    }
    sqlite3 *db = thread_db();
    json_t *arr = json_array();
    int rc = !db      ? -1
             : status ? of_sql(db,
                               "SELECT order_id, status, reason FROM orders WHERE status = ? "
                               "ORDER BY created_ms LIMIT ?",
                               "ti", row_append, arr, status, (int64_t)limit)
                      : of_sql(db,
                               "SELECT order_id, status, reason FROM orders ORDER BY created_ms "
                               "LIMIT ?",
                               "i", row_append, arr, (int64_t)limit);
    if (rc != 0) {
        json_decref(arr);
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable");
    }
    return reply(c, MHD_HTTP_OK,
                 json_pack("{s:o, s:I}", "orders", arr, "count", (json_int_t)json_array_size(arr)));
}

typedef struct {
    int64_t *v;
    size_t n, cap;
} lat_t;

static void row_count(sqlite3_stmt *st, void *arg)
{
    json_object_set_new(arg, (const char *)sqlite3_column_text(st, 0),
                        json_integer(sqlite3_column_int64(st, 1)));
}

static void row_latency(sqlite3_stmt *st, void *arg)
{
    lat_t *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = sqlite3_column_int64(st, 0);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static enum MHD_Result get_stats(struct MHD_Connection *c)
{
    /* ?since_ms=T: the latency of orders placed from T on only (a benchmark's own orders). */
    const char *since_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since_ms");
    int64_t since = since_s ? strtoll(since_s, NULL, 10) : 0;
    sqlite3 *db = thread_db();
    json_t *by = json_object();
    lat_t lat = {NULL, 0, 0};
    /* Latency over the last 10000 confirmed orders: POST to the CONFIRMED decision. */
    if (!db ||
        of_sql(db, "SELECT status, count(*) FROM orders GROUP BY status", NULL, row_count, by) ||
        of_sql(db,
               "SELECT decided_ms - created_ms FROM orders WHERE status = 'CONFIRMED' "
               "AND created_ms >= ? ORDER BY decided_ms DESC LIMIT 10000",
               "i", row_latency, &lat, since)) {
        json_decref(by);
        free(lat.v);
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable");
    }
    json_int_t pending = json_integer_value(json_object_get(by, "PENDING"));
    json_int_t confirmed = json_integer_value(json_object_get(by, "CONFIRMED"));
    json_int_t cancelled = json_integer_value(json_object_get(by, "CANCELLED"));
    json_decref(by);
    json_t *l = json_object();
    if (lat.n) {
        qsort(lat.v, lat.n, sizeof(*lat.v), cmp_i64);
        json_object_set_new(l, "count", json_integer((json_int_t)lat.n));
        json_object_set_new(l, "p50", json_integer(lat.v[(lat.n - 1) * 50 / 100]));
        json_object_set_new(l, "p99", json_integer(lat.v[(lat.n - 1) * 99 / 100]));
        json_object_set_new(l, "max", json_integer(lat.v[lat.n - 1]));
    }
    free(lat.v);
    return reply(c, MHD_HTTP_OK,
                 json_pack("{s:I, s:I, s:I, s:I, s:o}", "placed", pending + confirmed + cancelled,
                           "pending", pending, "confirmed", confirmed, "cancelled", cancelled,
                           "latency_ms", l));
}

/* ---- the request callback ------------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len;
    bool too_big;
} body_t;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state)
{
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (post && !*state) {
        *state = calloc(1, sizeof(body_t));
        return MHD_YES;
    }
    if (post && *upload_size) {
        body_t *b = *state;
        if (!b->too_big && b->len + *upload_size <= BODY_MAX) {
            b->data = realloc(b->data, b->len + *upload_size + 1);
            memcpy(b->data + b->len, upload_data, *upload_size);
            b->len += *upload_size;
        } else {
            b->too_big = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/orders") == 0) {
        if (post) {
            body_t *b = *state;
            if (b->too_big)
                return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body over 64 KiB");
            return post_order(c, b->data ? b->data : "", b->len);
        }
        if (get)
            return list_orders(c);
        return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET or POST");
    }
    if (strncmp(url, "/orders/", 8) == 0) {
        if (!get)
            return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return get_order(c, url + 8);
    }
    if (strcmp(url, "/stats") == 0 && get)
        return get_stats(c);
    if (strcmp(url, "/health") == 0 && get)
        return reply(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such resource");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode code)
{
    body_t *b = *state;
    if (b) {
        free(b->data);
        free(b);
        *state = NULL;
    }
}

/* ---- the saga's decisions ------------------------------------------------------------------- */

typedef struct {
    bool found;
    char status[16];
    char payment[16];
    char stock[16];
} order_state_t;

static void row_state(sqlite3_stmt *st, void *arg)
{
    order_state_t *o = arg;
    o->found = true;
    snprintf(o->status, sizeof(o->status), "%s", (const char *)sqlite3_column_text(st, 0));
    const char *p = (const char *)sqlite3_column_text(st, 1);
    const char *s = (const char *)sqlite3_column_text(st, 2);
    snprintf(o->payment, sizeof(o->payment), "%s", p ? p : "");
    snprintf(o->stock, sizeof(o->stock), "%s", s ? s : "");
}

/* Each event type: which column it sets, and to what. */
typedef struct {
    const char *type;
    const char *column; /* payment, stock, refunded, released */
    const char *value;
    bool failure;
} outcome_t;

static const outcome_t outcomes[] = {
    {"PaymentSucceeded", "payment", "SUCCEEDED", false},
    {"PaymentFailed", "payment", "FAILED", true},
    {"PaymentRefunded", "refunded", "1", false},
    {"StockReserved", "stock", "RESERVED", false},
    {"StockRejected", "stock", "REJECTED", true},
    {"StockReleased", "released", "1", false},
};

static weir_result on_outcome(weir_ctx *ctx, const weir_event *ev, void *user)
{
    const outcome_t *oc = user;
    sqlite3 *db = weir_ctx_db(ctx);
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    weir_result res = WEIR_RESULT_RETRY;
    const char *order_id = of_json_str(j, "order_id");
    order_state_t o = {0};
    if (!order_id || of_sql(db, "SELECT status, payment, stock FROM orders WHERE order_id = ?", "t",
                            row_state, &o, order_id) != 0)
        goto out;
    if (!o.found) {
        weir_ctx_set_error(ctx, "%s for unknown order %s", oc->type, order_id);
        res = WEIR_RESULT_FAIL;
        goto out;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE orders SET %s = ? WHERE order_id = ?", oc->column);
    if (of_sql(db, sql, "tt", NULL, NULL, oc->value, order_id) != 0)
        goto out;
    if (strcmp(oc->column, "payment") == 0)
        snprintf(o.payment, sizeof(o.payment), "%s", oc->value);
    if (strcmp(oc->column, "stock") == 0)
        snprintf(o.stock, sizeof(o.stock), "%s", oc->value);
    if (strcmp(o.status, "PENDING") != 0) {
        res = WEIR_RESULT_OK; /* decided before: only the record above changes */
        goto out;
    }
    if (oc->failure) {
        const char *reason = of_json_str(j, "reason");
        if (of_sql(db,
                   "UPDATE orders SET status = 'CANCELLED', reason = ?, decided_ms = ? "
                   "WHERE order_id = ?",
                   "tit", NULL, NULL, reason ? reason : oc->type, of_now_ms(), order_id) != 0 ||
            of_emit_json(ctx, OF_TOPIC_ORDERS, "OrderCancelled", order_id,
                         json_pack("{s:s, s:s}", "order_id", order_id, "reason",
                                   reason ? reason : oc->type)) != 0)
            goto out;
        of_log_order(NAME, ctx, NULL, order_id, "PENDING -> CANCELLED (%s)",
                     reason ? reason : oc->type);
    } else if (strcmp(o.payment, "SUCCEEDED") == 0 && strcmp(o.stock, "RESERVED") == 0) {
        if (of_sql(db, "UPDATE orders SET status = 'CONFIRMED', decided_ms = ? WHERE order_id = ?",
                   "it", NULL, NULL, of_now_ms(), order_id) != 0 ||
            of_emit_json(ctx, OF_TOPIC_ORDERS, "OrderConfirmed", order_id,
                         json_pack("{s:s}", "order_id", order_id)) != 0)
            goto out;
        of_log_order(NAME, ctx, NULL, order_id, "PENDING -> CONFIRMED");
    }
    res = WEIR_RESULT_OK;
out:
    json_decref(j);
    return res;
}

/* Orchestrated: order-saga's verdict (user: the status it sets) decides a PENDING order. */
static weir_result on_saga_verdict(weir_ctx *ctx, const weir_event *ev, void *user)
{
    const char *status = user;
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    const char *order_id = of_json_str(j, "order_id");
    const char *reason = of_json_str(j, "reason");
    weir_result res = WEIR_RESULT_RETRY;
    order_state_t o = {0};
    if (!order_id || of_sql(weir_ctx_db(ctx),
                            "SELECT status, payment, stock FROM orders "
                            "WHERE order_id = ?",
                            "t", row_state, &o, order_id) != 0)
        goto out;
    if (!o.found) {
        weir_ctx_set_error(ctx, "%s for unknown order %s", weir_event_type(ev), order_id);
        res = WEIR_RESULT_FAIL;
        goto out;
    }
    if (strcmp(o.status, "PENDING") == 0) {
        if (of_sql(weir_ctx_db(ctx),
                   "UPDATE orders SET status = ?, reason = NULLIF(?, ''), decided_ms = ? "
                   "WHERE order_id = ?",
                   "ttit", NULL, NULL, status, reason ? reason : "", of_now_ms(), order_id) != 0)
            goto out;
        of_log_order(NAME, ctx, NULL, order_id, "PENDING -> %s%s%s%s", status, reason ? " (" : "",
                     reason ? reason : "", reason ? ")" : "");
    }
    res = WEIR_RESULT_OK;
out:
    json_decref(j);
    return res;
}

/* ---- main ----------------------------------------------------------------------------------- */

static int usage(FILE *f)
{
    fprintf(f,
            "usage: order-service [options]\n%s"
            "  --port N                  HTTP port on 127.0.0.1 (default 8080; 0: a free one)\n"
            "  --http-threads N          HTTP threads (default 4)\n"
            "Prints \"listening on 127.0.0.1:PORT\" on stdout once it serves.\n",
            of_opts_usage());
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    of_opts_t o;
    of_opts_init(&o, NAME);
    int port = 8080, threads = 4;
    for (int i = 1; i < argc; i++) {
        int r = of_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (of_opt_is(a, "--port") || of_opt_is(a, "--http-threads")) {
            const char *v = of_opt_value(argc, argv, &i);
            char *end;
            long x = v ? strtol(v, &end, 10) : -1;
            bool is_port = of_opt_is(a, "--port");
            if (!v || *end || x < (is_port ? 0 : 1) || x > (is_port ? 65535 : 64))
                return usage(stderr);
            *(is_port ? &port : &threads) = (int)x;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return usage(stdout);
        } else {
            fprintf(stderr, "order-service: unknown option %s\n", a);
            return usage(stderr);
        }
    }
    static const char *const writes[] = {OF_TOPIC_ORDERS, NULL};
    o.writes = writes;
    app = of_app_new(&o);
    if (!app)
        return 1;
    sqlite3 *db;
    if (weir_app_db_open(app, &db) != 0 || of_exec(db, schema) != 0) {
        of_log(NAME, "cannot prepare the database");
        weir_app_free(app);
        return 1;
    }
    sqlite3_close(db);
    weir_route_options opt = of_route_tx(10, 50);
    if (of_orchestrated(&o)) {
        static char confirmed[] = "CONFIRMED", cancelled[] = "CANCELLED";
        of_saga_topics_create(app, o.partitions);
        weir_app_route(app, OF_TOPIC_ORDERS, "OrderConfirmed", on_saga_verdict, confirmed, &opt);
        weir_app_route(app, OF_TOPIC_ORDERS, "OrderCancelled", on_saga_verdict, cancelled, &opt);
    } else {
        of_topics_create(app, o.partitions);
        for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
            const char *topic = outcomes[i].type[0] == 'P' ? OF_TOPIC_PAYMENTS : OF_TOPIC_INVENTORY;
            weir_app_route(app, topic, outcomes[i].type, on_outcome, (void *)&outcomes[i], &opt);
        }
    }

    pthread_key_create(&db_key, db_close);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!d) {
        of_log(NAME, "cannot listen on 127.0.0.1:%d", port);
        weir_app_free(app);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on 127.0.0.1:%u\n", info ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);
    of_log(NAME, "serving HTTP on 127.0.0.1:%u", info ? (unsigned)info->port : (unsigned)port);
    int rc = of_app_run_and_report(app, NAME);
    MHD_stop_daemon(d);
    weir_app_free(app);
    return rc;
}
