/*
 * The order flow: three services on libweir and a load generator, sharing this header and the
 * *_lib.c files that the Makefile links into each program.
 *
 *   order-service      HTTP API; event-sourced orders (each the records of its id in
 *                      order.events, aggregate_lib.c) with the orders table as read model;
 *                      OrderPlaced through the outbox; reacts to payment and stock results
 *                      with OrderConfirmed or OrderCancelled (the saga's decisions)
 *   payment-service    charges on OrderPlaced (simulated gateway), refunds on OrderCancelled
 *   inventory-service  reserves stock on OrderPlaced, releases it on OrderCancelled
 *   order-demo         places orders at a rate and prints a one-line summary every second
 *
 * Topics (all keyed by order id, so one order's events stay in order):
 *   orders      OrderPlaced, OrderConfirmed, OrderCancelled        (order-service writes)
 *   payments    PaymentSucceeded, PaymentFailed, PaymentRefunded   (payment-service writes)
 *   inventory   StockReserved, StockRejected, StockReleased        (inventory-service writes)
 *   payments.ledger  PaymentCaptured, PaymentRefunded: money moved (payment-service writes)
 *   order.events     order-service's event store, read by no other service
 * order-service and inventory-service handlers are transactional (libweir's inbox): their
 * database writes, the events they emit (outbox) and the dedup record of the event they handled
 * commit together. payment-service runs exactly once (Kafka transactions): what it emits and
 * the offsets of the orders it handled commit together.
 */
#ifndef ORDER_FLOW_H
#define ORDER_FLOW_H

#include "weir/weir.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OF_TOPIC_ORDERS    "orders"
#define OF_TOPIC_PAYMENTS  "payments"
#define OF_TOPIC_INVENTORY "inventory"
#define OF_TOPIC_LEDGER    "payments.ledger"
/* order-service's event store: one aggregate per order id (weir.key.index=true, 1 partition) */
#define OF_TOPIC_ORDER_EVENTS "order.events"

/* The orchestrated flow (WEIR_ORDER_FLOW=orchestration): order-saga sends commands and takes
 * replies (libweir's saga orchestrator); the services answer them instead of reacting to orders.
 *   payment.commands    ChargePayment, RefundPayment         (order-saga writes)
 *   inventory.commands  ReserveStock, ReleaseStock           (order-saga writes)
 *   shipping.commands   ShipOrder, CancelShipment            (order-saga writes)
 *   order.replies       SagaReply                            (the services write)
 *   order.sagas         each saga's state, compacted         (order-saga writes)
 *   shipping            OrderShipped, ShipmentCancelled      (shipping-service writes)
 * and order-saga ends each saga with OrderConfirmed or OrderCancelled on orders. */
#define OF_TOPIC_PAYMENT_CMDS   "payment.commands"
#define OF_TOPIC_INVENTORY_CMDS "inventory.commands"
#define OF_TOPIC_SHIPPING_CMDS  "shipping.commands"
#define OF_TOPIC_SHIPPING       "shipping"
#define OF_SAGA_NAME            "order"

#define OF_GROUP_ORDER     "order-service"
#define OF_GROUP_PAYMENT   "payment-service"
#define OF_GROUP_INVENTORY "inventory-service"
#define OF_GROUP_SHIPPING  "shipping-service"
#define OF_GROUP_SAGA      "order-saga"

#define OF_SCHEMA_FILES_MAX 8

/* ---- common options (common_lib.c) -------------------------------------------------------------
 * Every service takes --bootstrap, --db, --partitions, --instance-id, --session-timeout-ms,
 * --workers, --log-level, --metrics-listen, --otlp-endpoint, --registry, --schema;
 * of_opts_parse() handles those and hands the others back. */
typedef struct {
    const char *name; /* program name, also the group id */
    const char *bootstrap;
    const char *db_path;
    int partitions;
    const char *instance_id;
    int session_timeout_ms;
    int workers;
    int log_level;
    const char *metrics_listen; /* GET /metrics of the service (libweir's), or NULL */
    const char *otlp_endpoint;  /* where spans go (OTLP/HTTP JSON), or NULL: $OTEL_* */
    bool exactly_once;          /* set by the program before of_app_new (payment-service) */
    const char *registry;       /* --registry: schema registry URL; NULL: plain JSON events */
    const char *schema_files[OF_SCHEMA_FILES_MAX]; /* --schema TOPIC=FILE, in the order given */
    int nschema_files;
    const char *const *writes; /* NULL-terminated topics the service writes (their schemas are
                                  registered at start); set by the program */
    const char *flow;          /* --flow, else $WEIR_ORDER_FLOW: "choreography" (default) or
                                  "orchestration"; of_app_new refuses anything else */
} of_opts_t;

/* True when the services run the orchestrated flow (order-saga's commands). */
bool of_orchestrated(const of_opts_t *o);

void of_opts_init(of_opts_t *o, const char *name);
/* Returns 1 when argv[*i] was a common option (consumed, *i advanced past its value), 0 when it
 * is not one, -1 on a bad value (message printed). */
int of_opts_parse(of_opts_t *o, int argc, char **argv, int *i);
const char *of_opts_usage(void);
/* The value of the option at argv[*i] ("--x v" or "--x=v"); NULL if missing. */
const char *of_opt_value(int argc, char **argv, int *i);
bool of_opt_is(const char *arg, const char *name);

/* An app for a service: with o->registry, the schemas of o->writes are registered first
 * (of_schemas_start; a refusal is logged and the app is not made). Group = name, store = db, topics
 * created with the partition count; exactly once when o->exactly_once (transactional id
 * "<name>-<instance id>", instance id "1" by default). Routes get the retry policy given;
 * of_route_tx makes them inbox routes. */
weir_app *of_app_new(const of_opts_t *o);
int of_topics_create(weir_app *app, int partitions);
/* The topics above and those of the orchestrated flow (commands, replies, shipping). */
int of_saga_topics_create(weir_app *app, int partitions);
/* Answers a saga command from a handler (weir_saga_reply); reason: NULL, or why it failed. */
int of_saga_reply(weir_ctx *ctx, const weir_event *cmd, weir_saga_outcome outcome,
                  const char *reason);
weir_route_options of_route(int max_attempts, int64_t initial_backoff_ms);
weir_route_options of_route_tx(int max_attempts, int64_t initial_backoff_ms);
/* Runs the app to the end and prints its counters on stderr. Returns the exit code. */
int of_app_run_and_report(weir_app *app, const char *name);

/* Emits a JSON object built by json_pack-like helpers; the object is consumed. */
int of_emit_json(weir_ctx *ctx, const char *topic, const char *type, const char *order_id,
                 json_t *obj);
/* The same into app's outbox, in the caller's transaction on db (a schema's refusal is logged as
 * name's). */
int of_outbox_json(weir_app *app, sqlite3 *db, const char *name, const char *topic,
                   const char *type, const char *order_id, json_t *obj);
/* Parses the event's value as a JSON object; NULL (and weir_ctx_set_error) if it is not one. */
json_t *of_event_json(weir_ctx *ctx, const weir_event *ev);
/* A string member or NULL. */
const char *of_json_str(const json_t *obj, const char *key);

void of_log(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One line per step of an order's life ("order <id>: PENDING -> CONFIRMED trace=<id>"), with
 * the trace id of the handler's span (ctx NULL: traceparent, or none) to find its journey. */
void of_log_order(const char *name, weir_ctx *ctx, const char *traceparent, const char *order_id,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int64_t of_now_ms(void);
/* Runs a statement without results; prints the SQLite error. 0 or -1. */
int of_exec(sqlite3 *db, const char *sql);
/* Binds "?" parameters from a format of 't' (text), 'i' (int64), 'd' (double) and runs the
 * statement; for a SELECT, step_row gets called per row. Returns 0 or -1. */
typedef void (*of_row_fn)(sqlite3_stmt *st, void *arg);
int of_sql(sqlite3 *db, const char *sql, const char *types, of_row_fn row, void *arg, ...);

/* ---- the order aggregate (aggregate_lib.c) ---------------------------------------------------
 * An order is the records of its id in order.events, each a JSON object {"type","order_id",
 * "t_ms","cause",...}: OrderCreated, then the facts the other services report (OrderPaid,
 * PaymentDeclined, StockReserved, StockRejected, OrderRefunded, StockReleased, and OrderShipped
 * when orchestrated) and one verdict (OrderConfirmed or OrderCancelled with its reason).
 * of_order_decide is the one weir_store_decide_fn of the service. */
typedef struct {
    bool exists;
    char status[16]; /* PENDING, CONFIRMED or CANCELLED */
    char reason[256];
    char payment[16]; /* "", SUCCEEDED or FAILED */
    char stock[16];   /* "", RESERVED or REJECTED */
    bool refunded, released, shipped;
    char user_id[65];
    json_t *items; /* owned */
    double amount;
    int64_t created_ms, decided_ms;
    int64_t version;      /* the offset of the order's latest record */
    char decided_by[256]; /* the cause of the verdict */
} of_order_t;

typedef enum {
    OF_CMD_CREATE,  /* created: the order data (user_id, items, amount) */
    OF_CMD_FACT,    /* type: the ce_type of another service's event (PaymentSucceeded ...);
                       record_only: recorded, never decides (orchestrated) */
    OF_CMD_VERDICT, /* type: OrderConfirmed or OrderCancelled (the orchestrator's) */
    OF_CMD_CANCEL   /* the customer's cancel: only a PENDING order */
} of_order_cmd_kind;

typedef struct {
    of_order_cmd_kind kind;
    const char *order_id;
    const char *type;
    const char *reason; /* NULL or why (a failure fact, a verdict, a cancel) */
    const char *cause;  /* ce_id of the input, or "http:<uuid>" */
    const json_t *created;
    bool record_only;
    of_order_t state; /* out: the state after the decision (of_order_deinit it) */
    bool refused;     /* out: a cancel of an order no longer PENDING */
} of_order_cmd_t;

/* The state of a history (0), or WEIR_ERR_CORRUPT for a record that is not a JSON object. */
int of_order_fold(const weir_store_events *h, of_order_t *o);
void of_order_deinit(of_order_t *o);
/* GET /orders/{id}'s answer. */
json_t *of_order_json(const of_order_t *o, const char *order_id);
/* weir_store_decide_fn; user is an of_order_cmd_t. WEIR_ERR_NOENT: no such order;
 * WEIR_ERR_EXIST: create of a known id. */
int of_order_decide(const weir_store_events *h, weir_store_decision *d, void *user);
/* After the decision: the verdict this command's cause made (new, or found after a rollback of
 * the transaction that should have published it), to publish on orders; else NULL. */
const char *of_order_verdict_of(const of_order_cmd_t *c);

/* ---- event schemas (schemas_lib.c) -----------------------------------------------------------
 * JSON Schema per topic, registered under "<topic>-value" when the service has --registry. */
const char *of_schema_builtin(const char *topic); /* NULL for a topic not of the flow */
/* Registers the schemas of o->writes (nothing without o->registry); -1 after logging why. */
int of_schemas_start(const of_opts_t *o);
/* The value to produce for JSON text on topic: in the wire format (checked against the schema;
 * *schema_url names it) when the topic's schema is registered, else the text. *out is
 * malloc'd. -1 with err when the schema refuses the value. Any thread. */
int of_value_encode(const char *topic, const char *json, void **out, size_t *len,
                    const char **schema_url, char *err, size_t errlen);
/* A value read: wire format (decoded by its schema id) or plain JSON text. NULL with err. */
json_t *of_value_decode(const void *value, size_t len, char *err, size_t errlen);

/* ---- the simulated payment gateway (gateway_lib.c) -------------------------------------------
 * An external service, as a real card gateway is: it keeps its records (the gateway_ledger of
 * captures, declines and refunds, and its requests by idempotency key) in its own transactions,
 * in tables of the payment service's database file, outside any Kafka or handler transaction.
 * So, as with a real gateway, a handler that runs again (after a retry, an aborted transaction or
 * a crash) calls it again, and only the idempotency key keeps the money from moving twice: a
 * request whose key the gateway has seen returns the first answer and changes nothing. Requests
 * remember their origin (the input event's topic/partition/offset), so the caller can tell its
 * own redo of the same event (publish the outcome again: the first publication was aborted)
 * from a second copy of the input (already published: publish nothing). */
typedef struct {
    double failure_rate;   /* share of orders the gateway declines (decided by order id) */
    double transient_rate; /* share of calls that fail transiently: half before the gateway did
                              anything, half after it did and lost its answer */
    uint64_t seed;
} of_gateway_t;

enum {
    OF_GW_CAPTURED = 0,
    OF_GW_DECLINED = 1,
    OF_GW_TRANSIENT = 2,
    OF_GW_REFUNDED = 3,
    OF_GW_NOT_CAPTURED = 4 /* a refund of an order never captured: nothing to do */
};

int of_gateway_schema(sqlite3 *db);
/* Charges order_id (idempotency key "charge:<order_id>"). OF_GW_CAPTURED, OF_GW_DECLINED,
 * OF_GW_TRANSIENT or -1 (database error). *duplicate: the key was first used from another
 * origin. */
int of_gateway_charge(sqlite3 *db, const of_gateway_t *gw, const char *order_id, double amount,
                      const char *origin, bool *duplicate);
/* Refunds order_id's capture ("refund:<order_id>"): OF_GW_REFUNDED (with *amount),
 * OF_GW_NOT_CAPTURED, OF_GW_TRANSIENT or -1. */
int of_gateway_refund(sqlite3 *db, const of_gateway_t *gw, const char *order_id, const char *origin,
                      bool *duplicate, double *amount);
bool of_gateway_declines(const of_gateway_t *gw, const char *order_id);

/* ---- a small HTTP/1.1 client (http_lib.c) --------------------------------------------------- */
typedef struct {
    char host[64];
    int port;
    int fd; /* -1 when not connected; reconnects on demand */
} of_http_t;

int of_http_init(of_http_t *c, const char *url); /* "http://127.0.0.1:8080" */
/* Sends one request (keep-alive) and reads the answer; body may be NULL. Returns the status or
 * -1; *resp (malloc'd, NUL-terminated) holds the body. */
int of_http_request(of_http_t *c, const char *method, const char *path, const char *body,
                    char **resp);
void of_http_close(of_http_t *c);

#endif
