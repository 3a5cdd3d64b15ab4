/*
 * libweir: the C SDK for event-driven services, on librdkafka.
 *
 * A service is an app that owns one consumer (in a consumer group) and one producer, and a set of
 * routes from a topic and an event type to a handler:
 *
 *   static weir_result on_order(weir_ctx *ctx, const weir_event *ev, void *user)
 *   {
 *       size_t n;
 *       const char *json = weir_event_value(ev, &n);
 *       ...
 *       weir_emit(ctx, "payments", "PaymentSucceeded", weir_event_key_str(ev), "{...}");
 *       return WEIR_RESULT_OK;       // or WEIR_RESULT_RETRY, WEIR_RESULT_FAIL
 *   }
 *
 *   weir_app_config cfg;
 *   weir_app_config_init(&cfg);
 *   cfg.bootstrap = "127.0.0.1:9092";
 *   cfg.group = "payment-service";
 *   cfg.db_path = "payment.db";        // dedup store, inbox, outbox (SQLite)
 *   weir_app *app;
 *   char err[256];
 *   if (weir_app_new(&cfg, &app, err, sizeof(err)) != 0) ...
 *   weir_app_route(app, "orders", "OrderPlaced", on_order, NULL, NULL);
 *   int rc = weir_app_run(app);        // until SIGINT/SIGTERM or weir_app_stop()
 *   weir_app_free(app);
 *
 * What the app does for the handler:
 * - Events follow the CloudEvents Kafka binary binding: the attributes travel in the headers
 *   ce_specversion, ce_id, ce_type, ce_source, ce_time and content-type; the value is the payload
 *   (JSON by default). Routes match the topic and, when given, ce_type.
 * - At least once: a partition's offset is committed only past events whose handler returned OK
 *   (or that were dead-lettered), and only once what the handler emitted has been acknowledged.
 *   Events of one partition are handled one after another, in offset order, also while retrying.
 * - Retries: RETRY runs the same event again after a backoff from the route's policy (initial,
 *   multiplier, maximum, jitter). Meanwhile its partition is paused; other partitions flow.
 * - Dead letters: FAIL, or RETRY on the last attempt, sends the event to the route's dead-letter
 *   topic ("<topic>.dlq" by default) with key, value and headers unchanged plus the provenance
 *   headers weir.dlq.original.topic, weir.dlq.original.partition, weir.dlq.original.offset,
 *   weir.dlq.original.timestamp, weir.dlq.group, weir.dlq.attempts, weir.dlq.error and
 *   weir.dlq.first.failure.timestamp (the first failed attempt; all UTF-8 text, numbers in
 *   decimal). The event's traceparent stays among its headers (the
 *   handler's is added when the event had none).
 * - Idempotent consumer: with a store (db_path), an event whose ce_id was handled OK within the
 *   TTL is skipped. A transactional route (the inbox) runs its handler inside a SQLite
 *   transaction on the store that also holds the dedup record, so the handler's own writes
 *   (through weir_ctx_db()) and "this event was handled" commit together or not at all.
 * - Transactional outbox: in a transactional route weir_emit() writes to the outbox table in the
 *   same transaction; outside handlers weir_outbox_add() does the same inside the caller's own
 *   transaction. A relay thread publishes outbox rows with the idempotent producer in order and
 *   marks them sent.
 * - Projections: an app with cfg.projection set joins no group; it reads every partition of its
 *   topics, runs each handler in a store transaction and stores the next offset in the same
 *   transaction, so the read model is exactly once and rebuilt by weir_projection_reset() and a
 *   replay from offset 0.
 * - Backpressure: handlers pull. A worker takes events off each partition's librdkafka queue
 *   only as fast as it handles them, and librdkafka fetches ahead per partition only up to its
 *   queued.min.messages / queued.max.messages.kbytes (settable in cfg.settings), then stops
 *   until the handler catches up. Events the SDK itself holds for a partition (behind a retry)
 *   are bounded by cfg.max_in_flight: at the bound the partition is paused.
 * - Exactly once (cfg.exactly_once): a transactional producer; per commit interval the emits,
 *   the dead letters and the consumed offsets commit in one Kafka transaction. An abortable
 *   error aborts it and rewinds the input to the committed offsets; a newer instance with the
 *   same transactional id fences this one, which then stops.
 * - Tracing: the W3C traceparent header of each event is read, the handler gets a child span
 *   (weir_ctx_traceparent()), and emitted and dead-lettered events carry the trace on. With an
 *   OTLP endpoint the app exports its spans (OTLP/HTTP JSON): "process <topic>" per handler
 *   call, "publish <topic>" per produced event (with the partition and offset it got), and
 *   "create <topic>" where an event starts a new trace; each carries the messaging attributes
 *   of OpenTelemetry's conventions (topic, partition, offset, group, event id and type).
 * - Metrics: with cfg.metrics_listen, GET /metrics in the Prometheus text format.
 * - Graceful shutdown: stop fetching, let running handlers finish, flush the producer, commit,
 *   leave the group, close.
 *
 * Errors: functions return 0 or a negative WEIR_ERR_* code; weir_strerror() names a code, and
 * weir_app_errmsg() says what went wrong in words. The library never exits the process and never
 * writes to stdout; it logs through cfg.log (default: warnings and errors on stderr).
 *
 * Threads: weir_app_run() runs on the caller's thread (the consumer loop: rebalances, commits)
 * and starts cfg.workers handler threads, a delivery thread and (with a store) the outbox
 * relay. A handler runs on a worker thread; all events of one partition go to the same worker,
 * one batch at a time. Each function says who may call it.
 */
#ifndef WEIR_WEIR_H
#define WEIR_WEIR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sqlite3 sqlite3;
typedef struct weir_app weir_app;
typedef struct weir_ctx weir_ctx;
typedef struct weir_event weir_event;
typedef struct weir_test_broker weir_test_broker;

/* ---- errors -----------------------------------------------------------------------------------
 * The same numbers as the broker's own codes, negated. */
#define WEIR_ERR_AGAIN       (-1)  /* try again later */
#define WEIR_ERR_INVAL       (-2)  /* bad argument or malformed input */
#define WEIR_ERR_NOMEM       (-3)  /* a memory bound was hit */
#define WEIR_ERR_IO          (-4)  /* the broker, the network or the store failed */
#define WEIR_ERR_CORRUPT     (-5)  /* stored data failed a check */
#define WEIR_ERR_NOENT       (-6)  /* no such thing */
#define WEIR_ERR_EXIST       (-7)  /* already exists */
#define WEIR_ERR_RANGE       (-8)  /* value out of range */
#define WEIR_ERR_CLOSED      (-9)  /* the app is stopping or not running */
#define WEIR_ERR_TIMEDOUT    (-10) /* a deadline passed */
#define WEIR_ERR_TOOBIG      (-11) /* a size bound was exceeded */
#define WEIR_ERR_UNSUPPORTED (-13) /* known but not available */

/* Any thread. Accepts a code or its negation; never NULL. */
const char *weir_strerror(int err);

/* ---- handlers ------------------------------------------------------------------------------- */
typedef enum weir_result {
    WEIR_RESULT_OK = 0,    /* done: commit past it */
    WEIR_RESULT_RETRY = 1, /* transient: run again after a backoff (dead letter after the last) */
    WEIR_RESULT_FAIL = 2   /* permanent: dead-letter now */
} weir_result;

/* Runs on a worker thread. `ev` and `ctx` are valid only during the call. */
typedef weir_result (*weir_handler)(weir_ctx *ctx, const weir_event *ev, void *user);

/* Log levels for weir_log_fn. */
enum { WEIR_LOG_DEBUG = 0, WEIR_LOG_INFO = 1, WEIR_LOG_WARN = 2, WEIR_LOG_ERROR = 3 };
/* Called from any of the app's threads (and librdkafka's) at once: must be thread safe. */
typedef void (*weir_log_fn)(int level, const char *message, void *user);

/* ---- the app -------------------------------------------------------------------------------- */
typedef struct weir_app_config {
    const char *bootstrap;  /* "host:port[,host:port]"; required */
    const char *group;      /* consumer group id; required unless projection is set */
    const char *projection; /* projection name: no group, offsets kept in the store */
    const char *client_id;  /* default: the group (or projection) name */
    const char *source;     /* ce_source of emitted events; default "/weir/<client_id>" */
    const char *db_path;    /* SQLite store (dedup, inbox, outbox, projection offsets); NULL: none.
                               Journal in WAL mode with synchronous=NORMAL: a commit survives a
                               process crash, not a power loss. */
    int64_t dedup_ttl_ms;   /* how long a handled ce_id is remembered; default 7 days */
    int max_in_flight;      /* events held per partition behind a retry before it is paused;
                               default 1000 */
    int workers;            /* handler threads; default 1 */
    int batch_max;          /* events per store transaction; default 64 */
    int commit_interval_ms; /* how often offsets are committed; default 500 */
    int session_timeout_ms; /* group session timeout; default 10000 */
    int outbox_poll_ms;     /* relay looks for unsent rows at least this often; default 200 */
    int create_topic_partitions; /* >0: weir_app_run() creates missing routed topics and their
                                    dead-letter topics with this many partitions; default 0 */
    bool handle_signals;         /* default true: SIGINT/SIGTERM stop weir_app_run() */
    /* librdkafka settings, NULL-terminated "key=value": plain keys go to both the consumer and the
     * producer, "consumer.key=value" or "producer.key=value" to one of them. */
    const char *const *settings;
    weir_log_fn log; /* default: WARN and ERROR lines on stderr */
    void *log_user;
    int log_level; /* lowest level passed to log; default WEIR_LOG_WARN */
    /* Observability. metrics_listen: "host:port" where GET /metrics answers in the Prometheus
     * text format (events handled, retried, dead-lettered, handler latency per route, consumer
     * lag per partition); port 0 picks a free one (weir_app_metrics_address); NULL: none.
     * otlp_endpoint: an OTLP/HTTP collector's base URL ("http://127.0.0.1:4318"): a span per
     * handler call, per produced event and per new trace is POSTed as OTLP JSON to
     * <endpoint>/v1/traces; NULL: $OTEL_EXPORTER_OTLP_ENDPOINT, and no export when that is
     * unset or empty. service_name: the spans' service.name; NULL: $OTEL_SERVICE_NAME, else
     * client_id. */
    const char *metrics_listen;
    const char *otlp_endpoint;
    const char *service_name;
    /* Exactly once (Kafka transactions, KIP-447): each commit interval's emits and dead letters
     * and the input offsets they came from commit in one Kafka transaction, or none of it does.
     * Needs group and instance_id; the consumer reads read_committed; dedup is off and
     * transactional (inbox) routes and the outbox are refused (docs/sdk.md, "Exactly once"). */
    bool exactly_once;
    /* This instance's name among the group's members, stable across its restarts and unique
     * among the running ones: the transactional id is "<group>-<instance_id>", so a restarted
     * instance fences its old self and aborts what it left open. Required with exactly_once. */
    const char *instance_id;
} weir_app_config;

/* Any thread. Fills the defaults above. */
void weir_app_config_init(weir_app_config *cfg);

/* Any thread. Creates the app, its consumer and producer, and opens (and creates the tables of)
 * the store. The config strings are copied. On error *out is NULL and errbuf says why. */
int weir_app_new(const weir_app_config *cfg, weir_app **out, char *errbuf, size_t errlen);

/* The thread that created the app, after weir_app_run() has returned (or was never called). */
void weir_app_free(weir_app *app);

typedef struct weir_retry_policy {
    int max_attempts;           /* attempts in all, the first included; default 3; 1: no retry */
    int64_t initial_backoff_ms; /* delay before the second attempt; default 100 */
    double multiplier;          /* each next delay is this times the last; default 2.0 */
    int64_t max_backoff_ms;     /* cap on a delay; default 10000 */
    double jitter;              /* 0..1: a delay d is drawn from [d*(1-jitter), d*(1+jitter)],
                                   then capped; default 0.2 */
} weir_retry_policy;

typedef struct weir_route_options {
    weir_retry_policy retry;
    const char *dlq_topic; /* default "<topic>.dlq" */
    bool dedup;            /* skip events whose ce_id was handled; default true (needs a store) */
    bool transactional;    /* the inbox: run the handler inside a store transaction with the dedup
                              record; weir_emit() goes through the outbox; default false */
} weir_route_options;

void weir_retry_policy_init(weir_retry_policy *p);
void weir_route_options_init(weir_route_options *opt);

/* Before weir_app_run(), on the thread that owns the app. `type` NULL matches any ce_type of the
 * topic; a route with a type wins over one without. Events that no route matches are skipped
 * and committed. `opt` NULL means the defaults; it is copied. */
int weir_app_route(weir_app *app, const char *topic, const char *type, weir_handler fn, void *user,
                   const weir_route_options *opt);

/* Blocks until weir_app_stop(), SIGINT/SIGTERM (cfg.handle_signals), or a fatal error. Returns 0
 * after a clean stop, else a negative code (weir_app_errmsg() says why); WEIR_ERR_CLOSED when
 * an exactly-once app was fenced by a newer instance with its transactional id. One call per
 * app. */
int weir_app_run(weir_app *app);

/* Any thread, also a signal handler: asks weir_app_run() to stop. */
void weir_app_stop(weir_app *app);

/* Any thread: true between the first successful assignment and the stop. */
bool weir_app_ready(const weir_app *app);

/* Any thread. The last error message; "" if none. Valid until the next error. */
const char *weir_app_errmsg(const weir_app *app);

typedef struct weir_stats {
    uint64_t received;          /* events taken from the consumer */
    uint64_t handled;           /* handler calls that returned OK */
    uint64_t handler_calls;     /* every handler call, retries included */
    uint64_t retried;           /* RETRY results followed by another attempt */
    uint64_t dead_lettered;     /* events sent to a dead-letter topic */
    uint64_t deduplicated;      /* events skipped because their ce_id was handled */
    uint64_t unrouted;          /* events no route matched */
    uint64_t emitted;           /* events produced or written to the outbox by handlers */
    uint64_t outbox_published;  /* outbox rows the relay published and marked sent */
    uint64_t commits;           /* offset commits acknowledged by the group coordinator */
    uint64_t offsets_committed; /* partition offsets that moved forward in those commits */
    uint64_t paused;            /* times a partition was paused (retry or backpressure) */
    uint64_t rebalances;        /* assignments received */
    uint64_t fetched_ahead_max; /* most events librdkafka held fetched for one partition */
    uint64_t transactions;      /* exactly once: Kafka transactions committed */
    uint64_t aborts;            /* exactly once: transactions aborted (and their input rewound) */
} weir_stats;

/* Any thread. A snapshot of the counters. */
void weir_app_stats(const weir_app *app, weir_stats *out);

/* Any thread: "host:port" of the app's /metrics listener (the port chosen for port 0), or NULL
 * without one. */
const char *weir_app_metrics_address(const weir_app *app);

/* Any thread: spans exported to the OTLP endpoint, and spans dropped (queue full or the
 * collector unreachable). */
void weir_app_span_counts(const weir_app *app, uint64_t *exported, uint64_t *dropped);

/* Any thread, while the app exists: creates a topic (no error if it exists). */
int weir_app_create_topic(weir_app *app, const char *topic, int partitions);

/* Any thread: a new connection to the app's store (WAL, busy timeout set), for the caller's
 * thread only. Close it with sqlite3_close(). -WEIR_ERR_NOENT without a store. */
int weir_app_db_open(weir_app *app, sqlite3 **out);

/* ---- events -----------------------------------------------------------------------------------
 * Read-only views, valid during the handler call. Strings are NUL-terminated; a CloudEvents
 * attribute that is absent (or longer than the SDK keeps: 255 bytes) reads as NULL. */
const char *weir_event_topic(const weir_event *ev);
int32_t weir_event_partition(const weir_event *ev);
int64_t weir_event_offset(const weir_event *ev);
int64_t weir_event_timestamp(const weir_event *ev);            /* ms since the epoch; -1 if none */
const void *weir_event_key(const weir_event *ev, size_t *len); /* NULL for a null key */
/* The key as a string (keys here are ids); NULL when null, too long or containing a NUL. */
const char *weir_event_key_str(const weir_event *ev);
/* The value; always followed by a NUL byte that is not counted, so JSON text can be parsed as
 * a C string. NULL for a null value (tombstone). */
const char *weir_event_value(const weir_event *ev, size_t *len);
const char *weir_event_id(const weir_event *ev);           /* ce_id */
const char *weir_event_type(const weir_event *ev);         /* ce_type */
const char *weir_event_source(const weir_event *ev);       /* ce_source */
const char *weir_event_time(const weir_event *ev);         /* ce_time (RFC 3339) */
const char *weir_event_specversion(const weir_event *ev);  /* ce_specversion */
const char *weir_event_content_type(const weir_event *ev); /* content-type */
const char *weir_event_traceparent(const weir_event *ev);  /* as received (version 00 form) */
/* Any header: 0 and its last value, or -WEIR_ERR_NOENT. */
int weir_event_header(const weir_event *ev, const char *name, const void **value, size_t *len);

/* ---- the handler's context ------------------------------------------------------------------ */
int weir_ctx_attempt(const weir_ctx *ctx);      /* 1 on the first call for an event */
int weir_ctx_max_attempts(const weir_ctx *ctx); /* the route's policy */
/* "00-<trace id>-<span id>-<flags>": the handler's own span, a child of the event's traceparent
 * (or the root of a new trace when the event had none). */
const char *weir_ctx_traceparent(const weir_ctx *ctx);
const char *weir_ctx_group(const weir_ctx *ctx);
weir_app *weir_ctx_app(weir_ctx *ctx); /* e.g. to weir_app_stop() it from a handler */
/* In a transactional route or a projection: the store connection, inside the transaction that
 * commits with the dedup record (or the projection offset) when the handler returns OK and is
 * rolled back otherwise. Do not BEGIN/COMMIT on it. NULL in other routes. */
sqlite3 *weir_ctx_db(weir_ctx *ctx);
/* The error text carried in weir.dlq.error if this attempt ends in the dead-letter topic. */
void weir_ctx_set_error(weir_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An event to publish. Zero the struct with weir_message_init() and set what you need. */
typedef struct weir_message {
    const char *topic;          /* required */
    const char *type;           /* ce_type; required */
    const void *key;            /* NULL: null key */
    size_t key_len;             /* 0 with a non-NULL key: strlen(key) */
    const void *value;          /* the payload; NULL: null value */
    size_t value_len;           /* 0 with a non-NULL value: strlen(value) */
    const char *id;             /* ce_id; NULL: a fresh random UUID */
    const char *source;         /* ce_source; NULL: the app's */
    const char *content_type;   /* NULL: "application/json" */
    const char *subject;        /* ce_subject; optional */
    const char *traceparent;    /* NULL: the handler's span, or a new trace outside handlers */
    int32_t partition;          /* -1: by key */
    const char *const *headers; /* optional extra NULL-terminated name, value, name, value, ...;
                                   at most 256 pairs, names of 1..255 bytes */
} weir_message;

void weir_message_init(weir_message *m);

/* From a handler (the worker thread running it). Non-transactional route: the event is held and
 * produced when the handler returns OK (dropped on RETRY/FAIL), and the offset is committed only
 * after the broker acknowledged it (exactly once: produced in the Kafka transaction that commits
 * the offset). Transactional route: the event goes to the outbox in the handler's transaction.
 * `key` and `json` are strings (NULL for null). */
int weir_emit(weir_ctx *ctx, const char *topic, const char *type, const char *key,
              const char *json);
int weir_emit_message(weir_ctx *ctx, const weir_message *m);

/* Any thread, with its own connection to the app's store, inside the caller's transaction:
 * queues an event in the outbox. Call weir_app_outbox_kick() after COMMIT so the relay publishes
 * at once rather than at its next poll. -WEIR_ERR_UNSUPPORTED in an exactly-once app (it has no
 * relay: its records leave in Kafka transactions only). */
int weir_outbox_add(weir_app *app, sqlite3 *db, const weir_message *m);
void weir_app_outbox_kick(weir_app *app);

/* On a connection to a projection's store, outside a transaction: forgets the projection's
 * offsets so the next run replays from offset 0 (truncate the read model tables in the same
 * transaction if you like: BEGIN; DELETE ...; then this; COMMIT is done by the caller). */
int weir_projection_reset(sqlite3 *db, const char *projection);

/* Any thread: a UUID as 36 characters and a NUL, version 7 (RFC 9562: the time in ms, then
 * random bits), the default ce_id. Ids that sort by creation time keep a dedup store's inserts
 * together instead of all over its index. */
void weir_uuid(char out[37]);

/* ---- schemas: the registry client and the serializers -----------------------------------------
 * Confluent's wire format and Schema Registry REST API, so records interoperate with every
 * Confluent serializer (confluent-kafka, the Java KafkaAvroSerializer family, ...) and with any
 * Confluent-compatible registry (Weir's own on `weir serve`'s HTTP listener, Confluent's,
 * Redpanda's). A serialized record is the magic byte 0, the schema id (4 bytes, big endian) and
 * the payload: Avro binary for AVRO, the JSON text for JSON Schema.
 *
 *   weir_registry_config rc;
 *   weir_registry_config_init(&rc);
 *   rc.url = "http://127.0.0.1:8081";
 *   weir_registry *reg;
 *   weir_registry_error e;
 *   weir_registry_new(&rc, &reg, &e);
 *   weir_serializer *ser;     // registers the schema under the subject: "<topic>-value"
 *   weir_serializer_new(reg, "orders-value", WEIR_SCHEMA_AVRO, schema_text, 0, &ser, &e);
 *   weir_serialize(ser, "{\"id\":\"o-1\",\"amount\":12.5}", 0, &bytes, &n, &e);   // free(bytes)
 *   weir_deserialize(reg, bytes, n, &json, &id, &e);                // free(json)
 *
 * Values cross the API as JSON text. For Avro it maps as fastavro and Avro's Java GenericData
 * print them: records and maps are objects, arrays arrays, enums their symbol, bytes and fixed
 * a string of code points 0..255 (one per byte), a union the value of its branch (when encoding,
 * also {"<branch type name>": value}, Avro's JSON encoding, to pick a branch). Errors fill an
 * optional weir_registry_error: the registry's HTTP status, Confluent's error_code (40401
 * subject not found, 40403 schema not found, 409 incompatible, 42201 invalid schema, ...) and
 * its message, or the SDK's own message for local failures (http_status and error_code 0). */
typedef struct weir_registry weir_registry;
typedef struct weir_serializer weir_serializer;

typedef enum weir_schema_type { WEIR_SCHEMA_AVRO = 1, WEIR_SCHEMA_JSON = 2 } weir_schema_type;

typedef struct weir_registry_error {
    int http_status;   /* the registry's answer; 0 when none (a local error, no connection) */
    int error_code;    /* Confluent's error_code from the answer's body; 0 when none */
    char message[512]; /* the registry's message, or what went wrong here */
} weir_registry_error;

typedef struct weir_registry_config {
    const char *url; /* base URL, "http://host:port[/prefix]"; required */
    int cache_max;   /* schemas kept by id (least recently used go first); default 1000 */
    int timeout_ms;  /* per HTTP request; default 10000 */
} weir_registry_config;

/* Any thread. */
void weir_registry_config_init(weir_registry_config *cfg);
/* Any thread. Makes the client (no request is sent yet). err may be NULL. */
int weir_registry_new(const weir_registry_config *cfg, weir_registry **out,
                      weir_registry_error *err);
/* After every serializer made on it is freed and no call is running. */
void weir_registry_free(weir_registry *reg);

/* Any thread (all of the registry's functions are thread safe). Registers `schema` under
 * `subject` (POST /subjects/{subject}/versions) and sets *id; the registry answers the same id
 * for the same schema. An incompatible schema: -WEIR_ERR_INVAL with err->http_status and
 * err->error_code 409; an invalid one: 422 / 42201. A registry that cannot be reached:
 * -WEIR_ERR_IO (or -WEIR_ERR_TIMEDOUT). */
int weir_registry_register(weir_registry *reg, const char *subject, weir_schema_type type,
                           const char *schema, int32_t *id, weir_registry_error *err);
/* Any thread. The schema with this id (GET /schemas/ids/{id}), asked of the registry once and
 * then served from the cache. *schema is a copy: free() it. An unknown id: -WEIR_ERR_NOENT
 * (error_code 40403). */
int weir_registry_schema(weir_registry *reg, int32_t id, weir_schema_type *type, char **schema,
                         weir_registry_error *err);
/* Any thread: lookups by id answered from the cache, and those that asked the registry. */
void weir_registry_cache_stats(const weir_registry *reg, uint64_t *hits, uint64_t *misses);

enum {
    /* JSON Schema: check each value against the schema before it is serialized (the keywords
     * type, properties, required, additionalProperties, items, enum, const, minimum, maximum,
     * minLength, maxLength, minItems, maxItems; others are not checked). */
    WEIR_SERDE_VALIDATE = 1
};

/* Any thread. A serializer for one subject and schema: registers the schema (as Confluent's
 * serializers do with auto.register.schemas) and keeps its id; an Avro schema is parsed once
 * here. flags: WEIR_SERDE_*. */
int weir_serializer_new(weir_registry *reg, const char *subject, weir_schema_type type,
                        const char *schema, unsigned flags, weir_serializer **out,
                        weir_registry_error *err);
void weir_serializer_free(weir_serializer *ser);
int32_t weir_serializer_id(const weir_serializer *ser);
/* Any thread. `json` (len bytes; 0: strlen) becomes a record value in the wire format, in
 * *out (malloc'd: free() it) of *out_len bytes. A value the schema does not accept:
 * -WEIR_ERR_INVAL and err->message says where ("$.items[2].qty: expected int"). */
int weir_serialize(weir_serializer *ser, const char *json, size_t len, void **out, size_t *out_len,
                   weir_registry_error *err);

/* Any thread. A record value in the wire format, decoded with the schema its id names (asked
 * of the registry the first time, then cached): *json is the value as JSON text (malloc'd,
 * NUL-terminated: free() it); id may be NULL. A value that is not in the wire format (too short,
 * magic byte not 0): -WEIR_ERR_INVAL; an id the registry does not know: -WEIR_ERR_NOENT; Avro
 * bytes that do not decode with the schema: -WEIR_ERR_CORRUPT. */
int weir_deserialize(weir_registry *reg, const void *data, size_t len, char **json, int32_t *id,
                     weir_registry_error *err);

/* ---- sagas: an orchestrator and its participants ----------------------------------------------
 * A saga is a sequence of steps, each a command sent to a participant service and its reply; a
 * step that fails makes the orchestrator run the compensations of the steps done before it, in
 * reverse order. The orchestrator lives in an app (weir_saga_new routes the reply topic to it):
 *
 *   static const weir_saga_step steps[] = {
 *       {"payment",   "payment.commands",   "ChargePayment", "RefundPayment", 5000, {0}},
 *       {"inventory", "inventory.commands", "ReserveStock",  "ReleaseStock",  5000, {0}},
 *   };
 *   weir_saga_config sc;
 *   weir_saga_config_init(&sc);
 *   sc.name = "order";  sc.steps = steps;  sc.nsteps = 2;
 *   weir_saga *saga;
 *   weir_saga_new(app, &sc, &saga, err, sizeof(err));  // recovers the unfinished sagas
 *   weir_saga_start(saga, "o-1", "{\"order_id\":\"o-1\",\"amount\":25}");
 *   weir_app_run(app);  ...  weir_saga_free(saga);  weir_app_free(app);
 *
 * - Durable state: every change of a saga is written (acks=all, idempotent producer, waited for)
 *   to the compacted topic state_topic ("<name>.sagas"), keyed by saga id, before the command it
 *   leads to is sent. weir_saga_new reads that topic to its end: every unfinished saga resumes
 *   by sending its current command again, with the same ce_id.
 * - Commands: CloudEvents on the step's topic, keyed by saga id, the saga's data as value (with
 *   each done step's reply merged in under the step's name), ce_id
 *   "<name>/<saga id>/<step>/<action|compensation>/<attempt>", and the headers weir.saga.id,
 *   weir.saga.name, weir.saga.step (index), weir.saga.phase ("action" or "compensation"),
 *   weir.saga.attempt and weir.saga.reply_to. A participant answers with weir_saga_reply().
 * - Timeouts and retries: an attempt not answered within the step's timeout_ms, or answered
 *   with WEIR_SAGA_RETRY, is tried again after the step's backoff, up to retry.max_attempts;
 *   then the step counts as failed, and since its action may have happened, its own
 *   compensation runs too. A compensation is retried until it succeeds (its backoff capped).
 * - Idempotence by saga id: a replayed reply, or one for a step the saga is no longer at, changes
 *   nothing; weir_saga_start of a known id changes nothing (-WEIR_ERR_EXIST). A participant must
 *   make its side effect idempotent by saga id (a command may come again: another attempt, or a
 *   resend after a crash); the SDK's dedup by ce_id already skips a copy of the same attempt.
 * - Outcome: when a saga ends (COMPLETED, or COMPENSATED after a failure) an event goes to
 *   outcome_topic if set (types completed_type / compensated_type, ce_id "<name>/<id>/<status>",
 *   value: the data with "saga_status" and, when compensated, "reason" added).
 */
typedef enum weir_saga_outcome {
    WEIR_SAGA_OK = 0,     /* the step (or compensation) is done */
    WEIR_SAGA_FAILED = 1, /* the step cannot be done: compensate */
    WEIR_SAGA_RETRY = 2   /* not now: ask again after the step's backoff */
} weir_saga_outcome;

typedef struct weir_saga_step {
    const char *name;         /* e.g. "payment"; unique in the saga */
    const char *topic;        /* where its commands go */
    const char *action;       /* ce_type of the command, e.g. "ChargePayment" */
    const char *compensation; /* ce_type of the undo, e.g. "RefundPayment"; NULL: nothing to undo */
    int64_t timeout_ms;       /* per attempt; 0: 30000 */
    weir_retry_policy retry;  /* attempts and backoff; max_attempts 0: the defaults */
} weir_saga_step;

/* What the orchestrator tells on_change: after a change is stored (sent = false) and after the
 * commands it leads to are handed to the producer (sent = true). */
typedef void (*weir_saga_change_fn)(const char *saga_id, const char *status, int step, bool sent,
                                    void *user);

typedef struct weir_saga_config {
    const char *name;             /* the saga type, e.g. "order"; required */
    const weir_saga_step *steps;  /* in order; copied */
    int nsteps;                   /* 1..32 */
    const char *state_topic;      /* default "<name>.sagas" (created compacted) */
    const char *reply_topic;      /* default "<name>.replies" */
    const char *outcome_topic;    /* NULL: no outcome event */
    const char *completed_type;   /* default "SagaCompleted" */
    const char *compensated_type; /* default "SagaCompensated" */
    int partitions;               /* of the topics it creates; default 1 */
    int history_max;              /* entries kept per saga (the oldest go); default 64 */
    /* Bounds: an ended saga is forgotten this long after it ended (a tombstone in the state
     * topic, so compaction removes it; a later start of its id is a new saga); default 7 days.
     * At most sagas_max are known at once: a start beyond is refused with -WEIR_ERR_NOMEM;
     * default 1000000. */
    int64_t ended_retention_ms;
    long sagas_max;
    weir_saga_change_fn on_change; /* optional; called on the thread that made the change */
    void *on_change_user;
} weir_saga_config;

typedef struct weir_saga weir_saga;

/* Any thread. Fills the defaults above. */
void weir_saga_config_init(weir_saga_config *cfg);
/* Before weir_app_run(app), on its thread: creates the topics, reads the saga state back,
 * routes the reply topic to the orchestrator and starts its timer thread (which resumes the
 * unfinished sagas at once). On error *out is NULL and errbuf says why. */
int weir_saga_new(weir_app *app, const weir_saga_config *cfg, weir_saga **out, char *errbuf,
                  size_t errlen);
/* After weir_app_run() has returned, before weir_app_free(). */
void weir_saga_free(weir_saga *s);
/* Any thread (a handler too). Starts saga id with data (a JSON object), stored before its first
 * command is sent: 0, -WEIR_ERR_EXIST if the id is known (nothing changes), -WEIR_ERR_INVAL,
 * -WEIR_ERR_NOMEM at sagas_max, -WEIR_ERR_IO when the state could not be stored. */
int weir_saga_start(weir_saga *s, const char *id, const char *data_json);
/* Any thread. The saga's state and history as JSON (malloc'd: free() it): {"saga","id",
 * "status" (RUNNING, COMPENSATING, COMPLETED, COMPENSATED), "step", "phase", "attempt",
 * "reason", "data", "history":[{"t_ms","step","event"},...]}; -WEIR_ERR_NOENT if unknown. */
int weir_saga_get(weir_saga *s, const char *id, char **json);
/* Any thread: sagas known, by status (any pointer may be NULL); a saga in the middle of a change
 * counts as running. */
void weir_saga_counts(weir_saga *s, uint64_t *running, uint64_t *completed, uint64_t *compensated);
/* Any thread, no orchestrator needed: the latest state of saga id read from state_topic on
 * brokers, as weir_saga_get gives it. -WEIR_ERR_NOENT (no such saga or topic), -WEIR_ERR_IO. */
int weir_saga_query(const char *brokers, const char *state_topic, const char *id, char **json,
                    char *errmsg, size_t errmsg_size);

/* In a participant's handler of a command. Fills what the command says about its saga;
 * -WEIR_ERR_INVAL when the event is not a saga command. Pointers valid during the call. */
typedef struct weir_saga_command {
    const char *saga_id;
    const char *saga_name;
    int step;
    bool compensation; /* false: the action */
    int attempt;
} weir_saga_command;
int weir_saga_command_read(const weir_event *ev, weir_saga_command *out);
/* From the handler of a command: emits the reply (with weir_emit_message, so in the handler's
 * transaction or outbox like any emit); json: a JSON object or NULL, "reason" is what a failure
 * is reported with. Its ce_id is the command's plus "/reply", so a handler that runs again
 * answers with the same id. */
int weir_saga_reply(weir_ctx *ctx, const weir_event *cmd, weir_saga_outcome outcome,
                    const char *json);

/* ---- event store: aggregates on a key-indexed topic (docs/event-store.md) ----------------------
 * One aggregate is the records of one key in one partition of a topic with weir.key.index=true.
 * A weir_store reads them without scanning the partition (the admin API's key-offsets, then a
 * fetch at each offset, neighbouring offsets read in one go) and appends with the header
 * weir.expected.offset, so a writer that decided on a stale state is refused by the broker.
 *
 *   weir_store_config sc;
 *   weir_store_config_init(&sc);
 *   sc.brokers = "127.0.0.1:9092"; sc.admin_url = "http://127.0.0.1:8081"; sc.topic = "orders";
 *   weir_store *st;
 *   char err[512];
 *   weir_store_new(&sc, &st, err, sizeof(err));
 *   weir_store_events h;
 *   weir_store_load(st, "order-7", &h, err, sizeof(err));   // h.count records, h.version
 *
 * A store is used by one thread at a time; use one per thread. Errors are a negative WEIR_ERR_*
 * with errmsg (may be NULL) saying what went wrong. */
typedef struct weir_store weir_store;

typedef struct weir_store_config {
    const char *brokers;   /* bootstrap servers */
    const char *admin_url; /* the admin API, "http://host:port" (`weir serve`'s HTTP listener) */
    const char *topic;     /* a topic with weir.key.index=true */
    int32_t partition;     /* the partition of the aggregates (default 0) */
    int max_attempts;      /* weir_store_execute: decisions tried before giving up (default 5) */
    int timeout_ms;        /* per request, fetch or append (default 10000) */
    bool snapshots;        /* loads start at the key's latest snapshot in TOPIC.snapshots */
} weir_store_config;

/* The companion topic of snapshots (create it compacted, with weir.key.index=true and the
 * events topic's partition count) and the header giving the version a snapshot is of. */
#define WEIR_STORE_SNAPSHOTS_SUFFIX ".snapshots"
#define WEIR_STORE_SNAPSHOT_HEADER  "weir.snapshot.offset"

typedef struct weir_store_header {
    char *name;
    void *value; /* NULL for a null header value */
    size_t value_len;
} weir_store_header;

typedef struct weir_store_record {
    char *key;
    size_t key_len;
    void *value; /* NULL for a tombstone */
    size_t value_len;
    weir_store_header *headers;
    size_t header_count;
    int64_t offset;
} weir_store_record;

/* The records of one key, oldest first, and its version: the offset of its latest record
 * (-1 when the key has none), which the next append expects. With snapshots: the key's latest
 * snapshot (NULL when none) of the events up to snapshot_version, and only the records after. */
typedef struct weir_store_events {
    weir_store_record *records;
    size_t count;
    int64_t version;
    void *snapshot;
    size_t snapshot_len;
    int64_t snapshot_version; /* -1: no snapshot */
} weir_store_events;

void weir_store_config_init(weir_store_config *cfg);
int weir_store_new(const weir_store_config *cfg, weir_store **out, char *errmsg,
                   size_t errmsg_size);
void weir_store_free(weir_store *st);
/* The records of key (its newest 100000 at most), in order; out->version as above. An unknown
 * key: 0 records, version -1. Free with weir_store_events_free. WEIR_ERR_INVAL: a topic without
 * key index (the admin API's 409); WEIR_ERR_NOENT: no such topic or partition. */
int weir_store_load(weir_store *st, const char *key, weir_store_events *out, char *errmsg,
                    size_t errmsg_size);
void weir_store_events_free(weir_store_events *ev);

/* What a decision appends: the values weir_store_decision_add copied, in order. */
typedef struct weir_store_decision weir_store_decision;
void weir_store_decision_add(weir_store_decision *d, const void *value, size_t value_len);
/* Decides on the aggregate's history what happens next: adds the new events to d (none: nothing
 * to append) and returns 0, or a negative WEIR_ERR_* to give up (weir_store_execute returns it).
 * Called again on a reloaded history after a conflict, so it must not have other effects. */
typedef int (*weir_store_decide_fn)(const weir_store_events *history, weir_store_decision *d,
                                    void *user);
/* Load, decide, append: the decision's events are appended all or none, as one record batch
 * (idempotent producer, acks=all) whose first event expects the version loaded; nothing can
 * land between them. A conflict (another writer appended since the load) reloads and decides
 * again, up to max_attempts decisions; then WEIR_ERR_AGAIN with errmsg "key K: a conflict on
 * each of N attempts (...)". A decision of more than 1,000 events or 512 KiB is refused with
 * WEIR_ERR_INVAL (it would not fit one batch); no events: nothing appended, 0. *version (may be
 * NULL): the key's version after the append (the offset of the decision's last event). */
int weir_store_execute(weir_store *st, const char *key, weir_store_decide_fn decide, void *user,
                       int64_t *version, char *errmsg, size_t errmsg_size);
/* Writes state as key's snapshot of its events up to offset version (the version of the history
 * it was computed from) to TOPIC.snapshots, and waits for the write; a store opened with
 * snapshots. The next load starts there. */
int weir_store_snapshot(weir_store *st, const char *key, int64_t version, const void *state,
                        size_t state_len, char *errmsg, size_t errmsg_size);
/* The conflicts this store met (each made weir_store_execute reload and decide again). */
uint64_t weir_store_conflicts(const weir_store *st);

/* ---- test support -----------------------------------------------------------------------------
 * A complete Weir broker inside the calling process, on 127.0.0.1 with a free port and a fresh
 * temporary data directory that weir_test_broker_stop() removes. `settings` is an optional
 * NULL-terminated list of broker "key=value" settings. Any thread, not concurrently for one
 * broker. */
int weir_test_broker_start(const char *const *settings, weir_test_broker **out);
const char *weir_test_broker_bootstrap(const weir_test_broker *tb); /* "127.0.0.1:PORT" */
void weir_test_broker_stop(weir_test_broker *tb);

/* Replay and golden files (libweir; any thread). weir_replay_file produces the records of a file
 * written by `weir topic export` into topic on brokers, each to its partition with its key,
 * value, headers and timestamp (idempotent, acks=all), and waits until all are written: the
 * number of records, or a negative WEIR_ERR_* with errmsg (WEIR_ERR_INVAL names the bad line;
 * then nothing was written). weir_golden_compare reads topic from its start to its end now and
 * compares it with golden_path, one JSON line a record: partition, key, value and headers
 * (UTF-8 text, else base64 with "<field>_encoding"), without offsets, timestamps and the
 * headers named in ignore_headers (NULL-terminated; NULL: none), which differ from run to run;
 * the lines are sorted, since the order of what a service emits from different input
 * partitions varies too. 0 equal, 1 different (errmsg names the first different line), or a
 * negative WEIR_ERR_*. With WEIR_GOLDEN_UPDATE=1 in the environment it writes golden_path instead
 * and returns 0. */
int64_t weir_replay_file(const char *brokers, const char *path, const char *topic, char *errmsg,
                         size_t errmsg_size);
int weir_golden_compare(const char *brokers, const char *topic, const char *const *ignore_headers,
                        const char *golden_path, char *errmsg, size_t errmsg_size);

#ifdef __cplusplus
}
#endif
#endif
