/*
 * order-service: the HTTP front of the order flow and the saga's decision maker. Its orders are
 * event-sourced: each order is an aggregate, the records of its id in order.events (a topic with
 * weir.key.index=true, made at start through the broker's admin API, --admin), and every change
 * of an order is decided on the order loaded from there and appended with libweir's
 * weir_store_execute, which expects the version loaded and decides again on a conflict. The
 * orders table is the read model: each decision writes the state it leads to there, in the same
 * transaction as the events it publishes (outbox or the handler's inbox).
 *
 *   POST /orders            {"user_id":"U001","items":[{"sku":"SKU-1","qty":2}],"amount":250.00}
 *                           -> 201 {"order_id":"..."}; OrderCreated is appended to the order,
 *                           then the read model row and its OrderPlaced event are written in
 *                           one transaction (outbox), the relay publishes it
 *   GET  /orders/{id}       -> {"order_id":...,"status":"PENDING|CONFIRMED|CANCELLED","reason":...}
 *                           folded from the order's records
 *   GET  /orders/{id}/events -> {"order_id","version","events":[{"offset","record"}]}
 *   POST /orders/{id}/cancel -> 200 with the order (now CANCELLED, OrderCancelled published);
 *                           409 when it is no longer PENDING (or the flow is orchestrated)
 *   GET  /orders?status=S   -> {"orders":[...],"count":n} (at most ?limit=, default 100)
 *   GET  /stats             -> counts per status and the latency from POST to CONFIRMED
 *                           (?since_ms=T: of orders placed from T on)
 *   GET  /health            -> {"status":"ok"}
 *   bad input: 400 with {"error":"..."}; unknown paths 404; wrong methods 405.
 *
 * It consumes the payments and inventory topics, records each result on the order and decides:
 * both PaymentSucceeded and StockReserved -> CONFIRMED (OrderConfirmed); PaymentFailed or
 * StockRejected -> CANCELLED (OrderCancelled, which makes the other services compensate). The
 * order's records decide once: a result recorded before, or a verdict given before, adds nothing
 * (aggregate_lib.c), and the handler's inbox skips a redelivered event.
 *
 * Orchestrated (--flow orchestration): order-saga decides instead; this service records the
 * same results and shipping/OrderShipped on the order, and takes order-saga's verdict,
 * orders/OrderConfirmed or OrderCancelled.
 *
 * HTTP runs on libmicrohttpd's thread pool, each thread with its own connection to the store and
 * its own weir_store; the handlers run on libweir's worker threads, each with the same.
 */
#include "order_flow.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NAME      OF_GROUP_ORDER
#define BODY_MAX  (64 * 1024)
#define ITEMS_MAX 50
#define LIST_MAX  1000

/* The read model: each order's state as its latest decision left it (GET /orders, /stats). */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS orders("
    "  order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, items TEXT NOT NULL,"
    "  amount REAL NOT NULL, status TEXT NOT NULL DEFAULT 'PENDING', reason TEXT,"
    "  payment TEXT, stock TEXT, refunded INTEGER NOT NULL DEFAULT 0,"
    "  released INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
    "  decided_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS orders_status ON orders(status, created_ms);";

static weir_app *app;
static pthread_key_t db_key, store_key;
static weir_store_config store_cfg;
static bool orchestrated;

/* ---- the store and the event store, one of each per thread (HTTP and handlers) -------------- */

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

static void store_free(void *p)
{
    weir_store_free(p);
}

/* The thread's weir_store on order.events (a store is for one thread at a time). */
static weir_store *thread_store(char *err, size_t errlen)
{
    weir_store *st = pthread_getspecific(store_key);
    if (!st && weir_store_new(&store_cfg, &st, err, errlen) == 0)
        pthread_setspecific(store_key, st);
    return st;
}

/* Makes order.events (one partition: a weir_store reads one) with its key index; an existing
 * one is kept. */
static int events_topic_create(const char *admin_url)
{
    of_http_t h;
    char *resp = NULL;
    if (of_http_init(&h, admin_url) != 0) {
        of_log(NAME, "--admin %s: not an http://HOST:PORT URL", admin_url);
        return -1;
    }
    int status = of_http_request(&h, "POST", "/api/v1/topics",
                                 "{\"name\":\"" OF_TOPIC_ORDER_EVENTS "\",\"partitions\":1,"
                                 "\"configs\":{\"weir.key.index\":\"true\"}}",
                                 &resp);
    of_http_close(&h);
    bool ok = status == 201 || (status == 409 && resp && strstr(resp, "already exists"));
    if (!ok)
        of_log(NAME, "cannot create %s through %s: HTTP %d %s", OF_TOPIC_ORDER_EVENTS, admin_url,
               status, resp ? resp : "");
    free(resp);
    return ok ? 0 : -1;
}

/* Load, decide (of_order_decide), append: c->state is the order after the decision. */
static int order_execute(of_order_cmd_t *c, char *err, size_t errlen)
{
    weir_store *st = thread_store(err, errlen);
    if (!st)
        return WEIR_ERR_IO;
    int64_t version = -1;
    uint64_t conflicts = weir_store_conflicts(st);
    int rc = weir_store_execute(st, c->order_id, of_order_decide, c, &version, err, errlen);
    c->state.version = version;
    if (weir_store_conflicts(st) != conflicts)
        of_log(NAME, "order %s: another writer appended first; decided again (%" PRIu64 "x)",
               c->order_id, weir_store_conflicts(st) - conflicts);
    return rc;
}

/* The read model: the order's row as the state says (in the caller's transaction). */
static int read_model_write(sqlite3 *db, const char *order_id, const of_order_t *o)
{
    char *items = json_dumps(o->items ? o->items : json_array(), JSON_COMPACT);
    int rc = of_sql(db,
                    "INSERT OR REPLACE INTO orders(order_id, user_id, items, amount, status, "
                    "reason, payment, stock, refunded, released, created_ms, decided_ms) "
                    "VALUES (?,?,?,?,?,NULLIF(?,''),NULLIF(?,''),NULLIF(?,''),?,?,?,NULLIF(?,0))",
                    "tttdttttiiii", NULL, NULL, order_id, o->user_id, items ? items : "[]",
                    o->amount, o->status, o->reason, o->payment, o->stock, (int64_t)o->refunded,
                    (int64_t)o->released, o->created_ms, o->decided_ms);
    free(items);
    return rc;
}

/* Writes the read model and queues the event (data consumed) in one transaction. */
static int commit_with_event(const char *order_id, const of_order_t *o, const char *type,
                             json_t *data)
{
    sqlite3 *db = thread_db();
    if (!db || of_exec(db, "BEGIN IMMEDIATE") != 0) {
        json_decref(data);
        return -1;
    }
    bool ok = read_model_write(db, order_id, o) == 0;
    if (ok)
        ok = of_outbox_json(app, db, NAME, OF_TOPIC_ORDERS, type, order_id, data) == 0;
    else
        json_decref(data);
    ok = of_exec(db, ok ? "COMMIT" : "ROLLBACK") == 0 && ok;
    if (ok)
        weir_app_outbox_kick(app);
    return ok ? 0 : -1;
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
    char order_id[37], cause[48] = "http:";
    weir_uuid(order_id);
    weir_uuid(cause + 5);
    json_t *created =
        json_pack("{s:s, s:o, s:f}", "user_id", user_id, "items", items, "amount", amount);
    of_order_cmd_t cmd = {
        .kind = OF_CMD_CREATE, .order_id = order_id, .cause = cause, .created = created};
    char why[512] = "";
    bool ok = order_execute(&cmd, why, sizeof(why)) == 0;
    if (!ok)
        of_log(NAME, "order %s: OrderCreated not appended: %s", order_id, why);
    ok = ok &&
         commit_with_event(order_id, &cmd.state, "OrderPlaced",
                           json_pack("{s:s, s:s, s:O, s:f, s:I}", "order_id", order_id, "user_id",
                                     user_id, "items", cmd.state.items, "amount", amount,
                                     "created_ms", (json_int_t)cmd.state.created_ms)) == 0;
    if (ok)
        of_log_order(NAME, NULL, NULL, order_id, "PENDING (placed, %.2f)", amount);
    of_order_deinit(&cmd.state);
    json_decref(created);
    json_decref(j);
    if (!ok)
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "could not store the order");
    return reply(c, MHD_HTTP_CREATED, json_pack("{s:s}", "order_id", order_id));
}

/* ---- GET /orders/{id}, GET /orders/{id}/events, POST /orders/{id}/cancel -------------------- */

static json_t *order_json(sqlite3_stmt *st)
{
    const char *reason = (const char *)sqlite3_column_text(st, 2);
    json_t *o = json_pack("{s:s, s:s, s:o}", "order_id", (const char *)sqlite3_column_text(st, 0),
                          "status", (const char *)sqlite3_column_text(st, 1), "reason",
                          reason ? json_string(reason) : json_null());
    return o;
}

/* The order's records (*h), or an answer already queued (*answered). */
static bool order_load(struct MHD_Connection *c, const char *id, weir_store_events *h,
                       enum MHD_Result *answered)
{
    char err[512];
    if (!id_ok(id, 64)) {
        *answered = reply_error(c, MHD_HTTP_BAD_REQUEST, "bad order id");
        return false;
    }
    weir_store *st = thread_store(err, sizeof(err));
    if (!st || weir_store_load(st, id, h, err, sizeof(err)) != 0) {
        of_log(NAME, "order %s: cannot load: %s", id, err);
        *answered = reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable");
        return false;
    }
    if (h->count == 0) {
        weir_store_events_free(h);
        *answered = reply_error(c, MHD_HTTP_NOT_FOUND, "no such order");
        return false;
    }
    return true;
}

static enum MHD_Result get_order(struct MHD_Connection *c, const char *id)
{
    weir_store_events h;
    enum MHD_Result answered;
    if (!order_load(c, id, &h, &answered))
        return answered;
    of_order_t o;
    int rc = of_order_fold(&h, &o);
    weir_store_events_free(&h);
    if (rc != 0 || !o.exists) {
        of_order_deinit(&o);
        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the order's records are damaged");
    }
    json_t *j = of_order_json(&o, id);
    of_order_deinit(&o);
    return reply(c, MHD_HTTP_OK, j);
}

static enum MHD_Result get_order_events(struct MHD_Connection *c, const char *id)
{
    weir_store_events h;
    enum MHD_Result answered;
    if (!order_load(c, id, &h, &answered))
        return answered;
    json_t *events = json_array();
    for (size_t i = 0; i < h.count; i++) {
        json_error_t jerr;
        json_t *rec = h.records[i].value
                          ? json_loadb(h.records[i].value, h.records[i].value_len, 0, &jerr)
                          : NULL;
        json_array_append_new(events,
                              json_pack("{s:I, s:o}", "offset", (json_int_t)h.records[i].offset,
                                        "record", rec ? rec : json_null()));
    }
    json_t *j = json_pack("{s:s, s:I, s:o}", "order_id", id, "version", (json_int_t)h.version,
                          "events", events);
    weir_store_events_free(&h);
    return reply(c, MHD_HTTP_OK, j);
}

/* The customer's cancel of a PENDING order: two at once append one OrderCancelled (the loser
 * of the race decides again on the cancelled order and gets 409). */
static enum MHD_Result cancel_order(struct MHD_Connection *c, const char *id)
{
    if (!id_ok(id, 64))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "bad order id");
    if (orchestrated)
        return reply_error(c, MHD_HTTP_CONFLICT,
                           "the flow is orchestrated: order-saga decides the orders");
    char cause[48] = "http:", err[512] = "";
    weir_uuid(cause + 5);
    of_order_cmd_t cmd = {.kind = OF_CMD_CANCEL,
                          .order_id = id,
                          .reason = "cancelled by the customer",
                          .cause = cause};
    int rc = order_execute(&cmd, err, sizeof(err));
    enum MHD_Result res;
    if (rc == WEIR_ERR_NOENT) {
        res = reply_error(c, MHD_HTTP_NOT_FOUND, "no such order");
    } else if (rc != 0) {
        of_log(NAME, "order %s: cancel not decided: %s", id, err);
        res = reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store unavailable");
    } else if (cmd.refused) {
        snprintf(err, sizeof(err), "order %s is %s, not PENDING", id, cmd.state.status);
        res = reply_error(c, MHD_HTTP_CONFLICT, err);
    } else if (commit_with_event(id, &cmd.state, "OrderCancelled",
                                 json_pack("{s:s, s:s}", "order_id", id, "reason", cmd.reason)) !=
               0) {
        of_log(NAME, "order %s: cancelled, but OrderCancelled could not be queued", id);
        res = reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "could not publish the cancel");
    } else {
        of_log_order(NAME, NULL, NULL, id, "PENDING -> CANCELLED (%s)", cmd.reason);
        res = reply(c, MHD_HTTP_OK, of_order_json(&cmd.state, id));
    }
    of_order_deinit(&cmd.state);
    return res;
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

/* /orders/{id}, /orders/{id}/events, /orders/{id}/cancel */
static enum MHD_Result order_request(struct MHD_Connection *c, const char *path, bool get,
                                     bool post)
{
    const char *slash = strchr(path, '/');
    if (!slash) {
        if (!get)
            return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return get_order(c, path);
    }
    char id[80];
    if ((size_t)(slash - path) >= sizeof(id))
        return reply_error(c, MHD_HTTP_BAD_REQUEST, "bad order id");
    snprintf(id, sizeof(id), "%.*s", (int)(slash - path), path);
    if (strcmp(slash, "/events") == 0) {
        if (!get)
            return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
        return get_order_events(c, id);
    }
    if (strcmp(slash, "/cancel") == 0) {
        if (!post)
            return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        return cancel_order(c, id);
    }
    return reply_error(c, MHD_HTTP_NOT_FOUND, "no such resource");
}

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
    if (strncmp(url, "/orders/", 8) == 0)
        return order_request(c, url + 8, get, post);
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

/* Choreographed: a fact of payments or inventory (PaymentSucceeded ... StockReleased), recorded
 * on the order once, may decide it: both PaymentSucceeded and StockReserved -> OrderConfirmed, a
 * failure -> OrderCancelled, published here. Orchestrated: the facts (and shipping's
 * OrderShipped) are only recorded, and order-saga's verdict on orders decides a PENDING order
 * (it is published already). */
static weir_result on_order_event(weir_ctx *ctx, const weir_event *ev, void *user)
{
    json_t *j = of_event_json(ctx, ev);
    if (!j)
        return WEIR_RESULT_FAIL;
    const char *type = weir_event_type(ev);
    bool verdict_in =
        type && (strcmp(type, "OrderConfirmed") == 0 || strcmp(type, "OrderCancelled") == 0);
    of_order_cmd_t cmd = {.kind = verdict_in ? OF_CMD_VERDICT : OF_CMD_FACT,
                          .order_id = of_json_str(j, "order_id"),
                          .type = type,
                          .reason = of_json_str(j, "reason"),
                          .cause = weir_event_id(ev),
                          .record_only = orchestrated};
    weir_result res = WEIR_RESULT_RETRY;
    char err[512] = "";
    if (!cmd.order_id || !cmd.type || !cmd.cause) {
        weir_ctx_set_error(ctx, "an event without order_id, ce_type or ce_id");
        res = WEIR_RESULT_FAIL;
        goto out;
    }
    int rc = order_execute(&cmd, err, sizeof(err));
    if (rc == WEIR_ERR_NOENT || rc == WEIR_ERR_INVAL) {
        weir_ctx_set_error(ctx, "%s for unknown order %s", cmd.type, cmd.order_id);
        res = WEIR_RESULT_FAIL;
        goto out;
    }
    if (rc != 0) {
        weir_ctx_set_error(ctx, "order %s: %s", cmd.order_id, err);
        goto out;
    }
    const char *verdict = of_order_verdict_of(&cmd);
    const char *reason = cmd.state.reason[0] ? cmd.state.reason : NULL;
    if (read_model_write(weir_ctx_db(ctx), cmd.order_id, &cmd.state) != 0)
        goto out;
    if (verdict && !orchestrated &&
        of_emit_json(ctx, OF_TOPIC_ORDERS, verdict, cmd.order_id,
                     reason ? json_pack("{s:s, s:s}", "order_id", cmd.order_id, "reason", reason)
                            : json_pack("{s:s}", "order_id", cmd.order_id)) != 0)
        goto out;
    if (verdict)
        of_log_order(NAME, ctx, NULL, cmd.order_id, "PENDING -> %s%s%s%s", cmd.state.status,
                     reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
    res = WEIR_RESULT_OK;
out:
    of_order_deinit(&cmd.state);
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
            "  --admin URL               the broker's admin API, http://HOST:PORT (default\n"
            "                            $WEIR_ADMIN_URL): the orders' records in order.events\n"
            "Prints \"listening on 127.0.0.1:PORT\" on stdout once it serves.\n",
            of_opts_usage());
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    of_opts_t o;
    of_opts_init(&o, NAME);
    int port = 8080, threads = 4;
    const char *admin = getenv("WEIR_ADMIN_URL");
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
        } else if (of_opt_is(a, "--admin")) {
            if (!(admin = of_opt_value(argc, argv, &i)))
                return usage(stderr);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return usage(stdout);
        } else {
            fprintf(stderr, "order-service: unknown option %s\n", a);
            return usage(stderr);
        }
    }
    if (!admin || !*admin) {
        fprintf(stderr,
                "order-service: --admin URL (or $WEIR_ADMIN_URL) is needed: the orders "
                "are kept in %s through the broker's admin API\n",
                OF_TOPIC_ORDER_EVENTS);
        return 2;
    }
    static const char *const writes[] = {OF_TOPIC_ORDERS, NULL};
    o.writes = writes;
    orchestrated = of_orchestrated(&o);
    weir_store_config_init(&store_cfg);
    store_cfg.brokers = o.bootstrap;
    store_cfg.admin_url = admin;
    store_cfg.topic = OF_TOPIC_ORDER_EVENTS;
    store_cfg.max_attempts = 8;
    app = of_app_new(&o);
    if (!app)
        return 1;
    if (events_topic_create(admin) != 0) {
        weir_app_free(app);
        return 1;
    }
    sqlite3 *db;
    if (weir_app_db_open(app, &db) != 0 || of_exec(db, schema) != 0) {
        of_log(NAME, "cannot prepare the database");
        weir_app_free(app);
        return 1;
    }
    sqlite3_close(db);
    weir_route_options opt = of_route_tx(10, 50);
    static const char *const facts[][2] = {
        {OF_TOPIC_PAYMENTS, "PaymentSucceeded"}, {OF_TOPIC_PAYMENTS, "PaymentFailed"},
        {OF_TOPIC_PAYMENTS, "PaymentRefunded"},  {OF_TOPIC_INVENTORY, "StockReserved"},
        {OF_TOPIC_INVENTORY, "StockRejected"},   {OF_TOPIC_INVENTORY, "StockReleased"}};
    for (size_t i = 0; i < sizeof(facts) / sizeof(facts[0]); i++)
        weir_app_route(app, facts[i][0], facts[i][1], on_order_event, NULL, &opt);
    if (orchestrated) {
        of_saga_topics_create(app, o.partitions);
        weir_app_route(app, OF_TOPIC_SHIPPING, "OrderShipped", on_order_event, NULL, &opt);
        weir_app_route(app, OF_TOPIC_ORDERS, "OrderConfirmed", on_order_event, NULL, &opt);
        weir_app_route(app, OF_TOPIC_ORDERS, "OrderCancelled", on_order_event, NULL, &opt);
    } else {
        of_topics_create(app, o.partitions);
    }

    pthread_key_create(&db_key, db_close);
    pthread_key_create(&store_key, store_free);
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
