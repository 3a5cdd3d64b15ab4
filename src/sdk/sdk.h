/*
 * sdk: libweir's insides, behind include/weir/weir.h. This header is what the SDK's files share
 * and what its unit tests call; users include only weir.h.
 *
 * Parts, one file each:
 *   rng.c       per-thread random numbers (jitter, ids, span ids)
 *   retry.c     the backoff schedule of a retry policy
 *   trace.c     W3C traceparent: parse, format, child span
 *   ce.c        CloudEvents Kafka binary binding: read and build headers; the outbox header blob
 *   store.c     the SQLite store: schema, dedup records, outbox rows, projection offsets
 *   app.c       the app: config, routes, consumer loop, rebalances, commits, stop
 *   worker.c    handler threads: partition queues, stashes, batches, retries, dead letters
 *   relay.c     producing, the delivery-report thread and the outbox relay thread
 *   event.c     the weir_event / weir_ctx accessors and weir_emit
 *   obs_metrics.c  GET /metrics of the app (Prometheus text), handler latency, consumer lag
 *   obs_trace.c    spans (process, publish, create) exported as OTLP/HTTP JSON
 *   eos.c       exactly once: the transactional producer, commit and abort cycles, rewinds
 *   testbroker.c  weir_test_broker_*
 *   schema_cache.c  schemas by id: bounded, least recently used first out, thread safe
 *   registry_client.c  the schema registry's REST API over libcurl (register, schema by id)
 *   serde.c     Confluent's wire format, weir_serializer_*, weir_serialize, weir_deserialize
 *   serde_avro.c   Avro binary <-> JSON values on libavro's generic values
 *   serde_json.c   the JSON Schema keywords a serializer checks with WEIR_SERDE_VALIDATE
 *
 * Locking: one mutex per app (app->lock) guards the partition table, every partition's state
 * and stash, and the pending-delivery lists. Handlers and the SQLite and producer calls run
 * outside it; a worker takes events off its partitions' librdkafka queues (non-blocking) while
 * holding it. The partition table changes only while every worker is parked
 * (sdk_workers_hold) or, for additions, under the lock. Counters are atomics.
 */
#ifndef WEIR_SDK_H
#define WEIR_SDK_H

#include "base/base.h"
#include "weir/weir.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/types.h>

/* ---- random numbers (rng.c) ----------------------------------------------------------------
 * splitmix64: fast, good enough for jitter and ids, not for secrets. Each thread seeds its own
 * state from getrandom() on first use. */
uint64_t sdk_rng_next(uint64_t *state);
double sdk_rng_unit(uint64_t *state);                         /* [0, 1) */
uint64_t *sdk_rng_thread(void);                               /* this thread's state */
void sdk_uuid_format(uint64_t hi, uint64_t lo, char out[37]); /* version 4 */
void sdk_uuid7_format(int64_t ms, uint64_t r1, uint64_t r2, char out[37]);

/* ---- reading a topic (replay.c) ------------------------------------------------------------
 * Every record of topic, partition after partition, from each start to each end as it is when
 * the partition is begun, handed to fn (valid during the call). 0, WEIR_ERR_NOENT (no such
 * topic) or WEIR_ERR_IO, with errmsg. Any thread. */
typedef void (*sdk_record_fn)(const rd_kafka_message_t *m, void *arg);
int sdk_topic_read(const char *brokers, const char *topic, sdk_record_fn fn, void *arg,
                   char *errmsg, size_t cap);

/* ---- retry policy (retry.c) ------------------------------------------------------------------
 * attempt is the number of attempts made so far (>= 1); the result is the delay before the next.
 * base(a) = min(initial * multiplier^(a-1), max); with jitter j the delay is drawn uniformly from
 * [base*(1-j), base*(1+j)] and capped at max. */
int sdk_retry_policy_check(const weir_retry_policy *p); /* 0 or -WEIR_EINVAL */
int64_t sdk_backoff_base_ms(const weir_retry_policy *p, int attempt);
int64_t sdk_backoff_ms(const weir_retry_policy *p, int attempt, uint64_t *rng);

/* ---- trace context (trace.c) -----------------------------------------------------------------
 * "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", lower-case hex. Parsing follows the
 * W3C rules: version ff is invalid, all-zero ids are invalid, a higher version may carry more
 * fields after a '-'. */
#define SDK_TRACEPARENT_LEN 55
typedef struct {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t flags;
} sdk_trace_t;

int sdk_trace_parse(const void *s, size_t len, sdk_trace_t *out); /* 0 or -WEIR_EINVAL */
void sdk_trace_format(const sdk_trace_t *t, char out[SDK_TRACEPARENT_LEN + 1]);
/* The child of parent (same trace, new span id, same flags); a new sampled root without one. */
void sdk_trace_child(const sdk_trace_t *parent, uint64_t *rng, sdk_trace_t *child);

/* ---- CloudEvents (ce.c) -----------------------------------------------------------------------
 * Kafka binary binding: attributes are headers "ce_<name>" with UTF-8 values, the data content
 * type is "content-type". Attribute values longer than SDK_CE_ATTR_MAX bytes, or holding a NUL,
 * are treated as absent. When a header repeats, the last one counts (as Kafka's lastHeader). */
#define SDK_CE_ATTR_MAX    255
#define SDK_CE_SPECVERSION "1.0"
#define SDK_CE_JSON        "application/json"
typedef struct {
    char specversion[SDK_CE_ATTR_MAX + 1];
    char id[SDK_CE_ATTR_MAX + 1];
    char type[SDK_CE_ATTR_MAX + 1];
    char source[SDK_CE_ATTR_MAX + 1];
    char time[SDK_CE_ATTR_MAX + 1];
    char subject[SDK_CE_ATTR_MAX + 1];
    char content_type[SDK_CE_ATTR_MAX + 1];
    char traceparent[SDK_TRACEPARENT_LEN + 1]; /* only when it parses */
    sdk_trace_t trace;
    bool has_trace;
} sdk_ce_t;

void sdk_ce_read(const rd_kafka_headers_t *h, sdk_ce_t *ce); /* h may be NULL */
/* Required attributes present (specversion 1.x, id, source, type). */
bool sdk_ce_valid(const sdk_ce_t *ce);
/* Adds the CloudEvents headers of m (and traceparent, m->headers) to h. id and source must be
 * set by the caller (defaults resolved). -WEIR_EINVAL when a required field is missing or an
 * attribute is too long. */
int sdk_ce_headers_add(rd_kafka_headers_t *h, const weir_message *m, const char *id,
                       const char *source, const char *traceparent, int64_t now_ms);
/* RFC 3339 UTC with milliseconds: "2026-11-26T14:00:00.123Z". */
void sdk_time_format(int64_t ms, char out[32]);

/* The outbox keeps a record's headers as one blob: 'W', 1, count (be16), then per header
 * name length (be16), name, value length (be32, 0xffffffff for null), value. */
#define SDK_HDRBLOB_HEADERS_MAX 1024
#define SDK_MSG_HEADERS_MAX     256 /* extra headers of one weir_message */
#define SDK_HDRBLOB_BYTES_MAX   (1u << 20)
void sdk_hdrblob_encode(const rd_kafka_headers_t *h, buf_t *out);
int sdk_hdrblob_decode(const void *p, size_t n, rd_kafka_headers_t **out); /* -WEIR_ECORRUPT */

/* ---- the store (store.c) ------------------------------------------------------------------------
 * One SQLite connection with its prepared statements. Connections opened by the SDK cache their
 * statements; a wrapped user connection prepares and finalizes each time. */
enum {
    SDK_ST_BEGIN = 0,
    SDK_ST_COMMIT,
    SDK_ST_ROLLBACK,
    SDK_ST_SAVEPOINT,
    SDK_ST_RELEASE,
    SDK_ST_ROLLBACK_TO,
    SDK_ST_DEDUP_SEEN,
    SDK_ST_DEDUP_PUT,
    SDK_ST_DEDUP_PURGE,
    SDK_ST_DEDUP_SEEN_MANY,
    SDK_ST_OUTBOX_PUT,
    SDK_ST_OUTBOX_FETCH,
    SDK_ST_OUTBOX_SENT,
    SDK_ST_OUTBOX_PURGE,
    SDK_ST_OFFSET_GET,
    SDK_ST_OFFSET_PUT,
    SDK_ST_COUNT
};

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *st[SDK_ST_COUNT];
    bool owned; /* opened by sdk_db_open: closes db and caches statements */
    char err[256];
} sdk_db_t;

int sdk_db_open(const char *path, sdk_db_t *d);           /* d->err says why on failure */
int sdk_db_schema(sqlite3 *db, char *err, size_t errlen); /* creates the weir_* tables */
void sdk_db_wrap(sdk_db_t *d, sqlite3 *db);
void sdk_db_close(sdk_db_t *d);
int sdk_db_exec(sdk_db_t *d, int which); /* BEGIN IMMEDIATE, COMMIT, ROLLBACK, SAVEPOINT ... */

int sdk_dedup_seen(sdk_db_t *d, const char *id, int64_t now_ms, int64_t ttl_ms, bool *seen);
/* Looks up n ids (lengths given, n <= SDK_DEDUP_LOOKUP_MAX) in one query; seen[i] is set for
 * each found within the TTL. */
#define SDK_DEDUP_LOOKUP_MAX 64
int sdk_dedup_seen_many(sdk_db_t *d, const char *const *ids, const size_t *lens, size_t n,
                        int64_t now_ms, int64_t ttl_ms, bool *seen);
int sdk_dedup_put(sdk_db_t *d, const char *id, int64_t now_ms);
int sdk_dedup_purge(sdk_db_t *d, int64_t now_ms, int64_t ttl_ms, int *purged);

typedef struct {
    int64_t id;
    char *topic;
    int32_t partition;
    bool key_null, value_null;
    buf_t key, value, headers;
} sdk_outbox_row_t;

int sdk_outbox_put(sdk_db_t *d, const char *topic, int32_t partition, const void *key,
                   ssize_t key_len, const void *value, ssize_t value_len, const buf_t *hdrblob,
                   int64_t now_ms); /* lengths -1: null */
/* Up to max unsent rows in id order; rows[] are filled and must be deinited. */
int sdk_outbox_fetch(sdk_db_t *d, size_t max, sdk_outbox_row_t *rows, size_t *n);
void sdk_outbox_row_deinit(sdk_outbox_row_t *r);
int sdk_outbox_mark_sent(sdk_db_t *d, int64_t id, int64_t now_ms);
int sdk_outbox_purge(sdk_db_t *d, int64_t sent_before_ms, int *purged);
int sdk_outbox_unsent(sqlite3 *db, int64_t *count);

int sdk_offset_get(sdk_db_t *d, const char *name, const char *topic, int32_t partition,
                   int64_t *next); /* -WEIR_ENOENT when none is stored */
int sdk_offset_put(sdk_db_t *d, const char *name, const char *topic, int32_t partition,
                   int64_t next);

/* ---- the app (app.c, worker.c, relay.c, event.c) -------------------------------------------- */
#define SDK_ERRMSG_MAX      512
#define SDK_EMITS_MAX       1024 /* events one handler call may emit */
#define SDK_TOPICS_WARM_MAX 256

typedef struct sdk_route {
    char *topic;
    char *type; /* NULL: any */
    char *dlq_topic;
    weir_handler fn;
    void *user;
    weir_route_options opt;
    metric_hist_t latency; /* handler calls, ns (obs_metrics.c) */
} sdk_route_t;

struct sdk_part;

/* What a worker knows about each event of a batch before running handlers. */
typedef struct sdk_slot {
    const sdk_route_t *route; /* NULL: unrouted */
    const char *id;           /* ce_id in the message's headers, if dedup applies */
    size_t id_len;
    bool seen; /* the store already has the id */
} sdk_slot_t;

/* What a produced record's delivery report must update. */
enum { SDK_DR_PEND = 1, SDK_DR_RELAY };
typedef struct sdk_dr {
    int kind;
} sdk_dr_t;

/* Records produced on behalf of the event at offset_next - 1 (its emits or its dead letter):
 * the partition's commit may not pass that event until remaining is 0. Kept in offset order. */
typedef struct sdk_pend {
    sdk_dr_t dr;
    struct sdk_pend *next;
    struct sdk_part *part;
    int64_t offset_next;
    int remaining;
    bool failed;
} sdk_pend_t;

typedef struct sdk_part {
    char *topic;
    int32_t partition;
    int worker;
    rd_kafka_queue_t *rkqu; /* the partition's own queue, read by its worker */
    /* Events taken from librdkafka that must wait their turn: the partition is retrying, or
     * they came through the consumer queue. While it is not empty, new events of the partition
     * join its end, so the partition's order holds. A ring. */
    rd_kafka_message_t **stash;
    size_t stash_head, stash_len, stash_cap;
    int attempts;             /* attempts made on the first stashed event while retrying */
    int64_t first_failure_ms; /* wall clock of that event's first failed attempt */
    int64_t retry_at_ms;      /* monotonic; meaningful while retrying */
    bool retrying;
    bool busy;           /* a worker is running a batch of it */
    bool revoked;        /* being taken away: workers leave it alone */
    bool paused;         /* as the consumer was last told */
    int64_t done;        /* offset after the last event finished in order; -1: none yet */
    int64_t committed;   /* last offset the coordinator acknowledged; -1: none */
    int64_t commit_sent; /* last offset sent in a commit; back to committed if it failed */
    sdk_pend_t *pend_head, *pend_tail;
} sdk_part_t;

typedef struct sdk_emit {
    char *topic;
    int32_t partition;
    bool key_null, value_null;
    buf_t key, value;
    rd_kafka_headers_t *headers;
} sdk_emit_t;

struct weir_event {
    const rd_kafka_message_t *msg;
    bool ce_ready; /* ce is read from the headers on first use */
    sdk_ce_t ce;
    char *key_str; /* lazily made by weir_event_key_str */
    buf_t key_buf;
    buf_t value_buf; /* NUL-terminated copy of the payload, made on first use */
    bool value_ready;
};

struct weir_ctx {
    weir_app *app;
    const sdk_route_t *route;
    weir_event *ev;
    int attempt;
    sdk_db_t *db;                              /* transactional routes and projections */
    char traceparent[SDK_TRACEPARENT_LEN + 1]; /* the handler's span, made on first use */
    char error[SDK_ERRMSG_MAX];
    sdk_emit_t *emits; /* non-transactional routes: held until OK */
    size_t nemits, emits_cap;
    size_t outboxed; /* rows written to the outbox by this call */
};

typedef struct sdk_worker {
    weir_app *app;
    int index;
    pthread_t thread;
    bool started;
    bool running; /* started and not yet returned */
    bool parked;  /* holding still for a rebalance */
    pthread_cond_t cond;
    int evfd; /* written when one of its partitions' queues gets events */
    sdk_db_t db;
    size_t rr;                    /* round-robin position of stash runs */
    size_t rr_queue;              /* and of queue takes */
    rd_kafka_message_t **batch;   /* the batch being run from a stash */
    rd_kafka_message_t **fetched; /* what the last take from a partition queue gave */
    weir_event ev;
    weir_ctx ctx;
    struct sdk_slot *slots; /* per event of the batch: route, kind, dedup */
    int32_t *done_set;      /* hash set of slots whose id was handled OK in this batch */
    size_t done_cap;
    int32_t *done_list; /* the same slots in order */
    size_t ndone;
    int64_t purge_at_ms;
} sdk_worker_t;

typedef struct sdk_stats {
    _Atomic uint64_t received, handled, handler_calls, retried, dead_lettered, deduplicated,
        unrouted, emitted, outbox_published, commits, offsets_committed, paused, rebalances,
        fetched_ahead_max, transactions, aborts;
} sdk_stats_t;

struct weir_app {
    /* config (strings owned) */
    char *bootstrap, *group, *projection, *client_id, *source, *db_path;
    weir_app_config cfg;
    char **settings;

    rd_kafka_t *consumer, *producer;
    rd_kafka_queue_t *cq; /* the consumer queue, to wake the loop */
    struct sdk_eos *eos;  /* exactly once (eos.c); NULL: at least once */
    sdk_route_t *routes;
    size_t nroutes;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* a partition went idle, a delivery landed */
    sdk_part_t **parts;
    size_t nparts;
    sdk_worker_t *workers;
    bool workers_stop;
    bool workers_hold; /* a rebalance wants them parked between batches */

    pthread_t dr_thread, relay_thread;
    bool dr_started, relay_started;
    atomic_bool dr_stop, relay_stop;
    pthread_mutex_t relay_lock;
    pthread_cond_t relay_cond;
    bool relay_kicked;
    int relay_inflight;
    bool relay_failed;

    atomic_bool stop;
    atomic_bool ready;
    atomic_bool running;
    bool consumer_closed; /* weir_app_run() has run: the consumer cannot rejoin */
    atomic_int fatal;     /* first fatal error, 0 if none */
    sdk_stats_t stats;
    sdk_db_t db; /* the consumer loop's own connection (projection offsets) */

    pthread_mutex_t topics_lock;
    char *topics[SDK_TOPICS_WARM_MAX]; /* topics the producer has metadata for */
    size_t ntopics;

    pthread_mutex_t err_lock;
    char errmsg[SDK_ERRMSG_MAX];
    bool errmsg_final; /* the fatal error's message: later errors do not replace it */

    struct sdk_obs *obs;      /* /metrics listener and span exporter (obs_*.c); NULL: neither */
    atomic_bool routes_fixed; /* weir_app_run began: no more weir_app_route */
};

/* app.c */
void sdk_app_log(weir_app *app, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sdk_app_set_error(weir_app *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a fatal error (the first one wins) and asks the app to stop. */
void sdk_app_fatal(weir_app *app, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A librdkafka client's fatal error (rd_kafka_fatal_error()) stops the app with it. */
void sdk_client_fatal(weir_app *app, rd_kafka_t *rk);
const sdk_route_t *sdk_app_route_match(const weir_app *app, const char *topic, const char *type);
const sdk_route_t *sdk_app_route_for(const weir_app *app, const rd_kafka_message_t *m);
void sdk_app_wake(weir_app *app); /* out of the consumer loop's wait */
sdk_part_t *sdk_part_find(weir_app *app, const char *topic, int32_t partition); /* app->lock */

/* worker.c */
int sdk_workers_start(weir_app *app);
void sdk_workers_stop(weir_app *app); /* lets running batches finish, joins */
void sdk_workers_free(weir_app *app); /* their queues; after the consumer is closed */
/* Parks every running worker between batches (the caller then owns all partitions), and lets
 * them go again. From the consumer loop's thread. */
void sdk_workers_hold(weir_app *app);
void sdk_worker_wake(sdk_worker_t *w); /* any thread */
void sdk_workers_release(weir_app *app);
/* Under app->lock: adds a message to the end of p's stash and wakes its worker. True when the
 * stash reached max_in_flight and p is now to be paused: call sdk_part_pause() after unlocking
 * (p->paused is already set). */
bool sdk_part_stash(weir_app *app, sdk_part_t *p, rd_kafka_message_t *m);
void sdk_part_pause(weir_app *app, const sdk_part_t *p, bool pause); /* not under app->lock */
void sdk_part_stash_clear(sdk_part_t *p);
int64_t sdk_part_committable(const sdk_part_t *p); /* under app->lock */
void sdk_part_free(sdk_part_t *p);                 /* under app->lock, nothing pending */

/* Producing (relay.c). Takes ownership of hdrs (also on error). Blocks while the producer queue
 * is full. key_len / value_len -1: null. */
int sdk_produce(weir_app *app, const char *topic, int32_t partition, const void *key,
                ssize_t key_len, const void *value, ssize_t value_len, rd_kafka_headers_t *hdrs,
                sdk_dr_t *dr);
void sdk_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
int sdk_dr_thread_start(weir_app *app);
void sdk_dr_thread_stop(weir_app *app);
int sdk_relay_start(weir_app *app);
void sdk_relay_stop(weir_app *app); /* publishes what it has taken, then stops */

/* ---- observability (obs_metrics.c, obs_trace.c) ---------------------------------------------
 * Started by weir_app_new, stopped by weir_app_free. Spans go through a bounded queue (copied,
 * dropped and counted when it is full) to an exporter thread that POSTs batches of OTLP JSON;
 * nothing on a handler's path waits for the network. */
typedef struct sdk_span {
    uint8_t trace_id[16], span_id[8], parent_id[8];
    bool has_parent, error;
    uint8_t kind;             /* OTLP SpanKind: 4 producer, 5 consumer */
    char name[64];            /* "process orders" */
    int64_t start_ns, end_ns; /* ns since the epoch */
    char topic[250];
    int32_t partition; /* -1: unknown */
    int64_t offset;    /* -1: unknown */
    int attempt;       /* handler calls: 1, 2 ...; 0 otherwise */
    char result[8];    /* handler calls: "ok", "retry", "fail" */
    char event_id[SDK_CE_ATTR_MAX + 1];
    char event_type[SDK_CE_ATTR_MAX + 1];
} sdk_span_t;

typedef struct sdk_obs sdk_obs_t;
int sdk_obs_start(weir_app *app, char *err, size_t errlen);
void sdk_obs_stop(weir_app *app); /* sends what is queued (a few seconds at most) */
bool sdk_obs_tracing(const weir_app *app);
void sdk_obs_span(weir_app *app, const sdk_span_t *s); /* any thread; copies */
/* Hooks: a handler call finished (worker), a produced record was acknowledged (delivery
 * thread), a record started a new trace (emit outside a handler). */
void sdk_obs_handled(weir_app *app, weir_ctx *ctx, const rd_kafka_message_t *m, weir_result result,
                     int attempt, int64_t start_wall_ns, int64_t dur_ns);
void sdk_obs_delivered(weir_app *app, const rd_kafka_message_t *msg);
void sdk_obs_new_trace(weir_app *app, const weir_message *m, const sdk_trace_t *t);
/* The exposition of the app's metrics (what GET /metrics answers). */
void sdk_obs_render(weir_app *app, buf_t *out);
/* Exactly once (eos.c). On the consumer loop's thread, but for sdk_eos_doomed and
 * sdk_produce_failed (any thread) and sdk_eos_fatal (librdkafka's error callback). */
int sdk_eos_new(weir_app *app, char *err, size_t errlen); /* after config_check */
void sdk_eos_free(weir_app *app);
/* Settings of the transactional producer and the read_committed consumer (before the user's). */
int sdk_eos_conf(weir_app *app, rd_kafka_conf_t *conf, bool producer, char *err, size_t errlen);
int sdk_eos_route_check(weir_app *app, weir_route_options *o); /* dedup off; no inbox */
int sdk_eos_start(weir_app *app); /* init_transactions (fences older selves), begin */
/* Commits the open transaction with the finished offsets, or aborts it and rewinds when it is
 * doomed or abort is set (a lost assignment); then begins the next one. Holds the workers
 * itself unless held is set (the caller has parked them). */
void sdk_eos_end(weir_app *app, bool abort, bool held);
bool sdk_eos_doomed(weir_app *app); /* any thread */
/* A record could not be handed to the producer: in an exactly-once app that dooms the open
 * transaction (the workers park until the loop has aborted it and rewound); otherwise it is
 * fatal. Any thread. */
void sdk_produce_failed(weir_app *app, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The producer's fatal error: fenced means a newer instance took over (-WEIR_ECLOSED). */
void sdk_eos_fatal(weir_app *app, rd_kafka_resp_err_t code, const char *reason);

/* ---- schemas (schema_cache.c, registry_client.c, serde*.c) -----------------------------------
 * Confluent's wire format: magic byte 0, the schema id as a big-endian int32, the payload. */
#define SDK_WIRE_MAGIC      0
#define SDK_WIRE_HEADER_LEN 5
void sdk_wire_header(uint8_t out[SDK_WIRE_HEADER_LEN], int32_t id);
/* 0 with the id and the payload, or -WEIR_EINVAL (too short, magic byte not 0, negative id)
 * with err saying which. */
int sdk_wire_parse(const void *data, size_t len, int32_t *id, const uint8_t **payload,
                   size_t *payload_len, char *err, size_t errlen);

/* Fills e (when not NULL) and returns rc. */
int sdk_regerr(weir_registry_error *e, int rc, int http_status, int error_code, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

/* A schema the registry named by id, shared by reference: the cache holds one, each user
 * another. Immutable after sdk_schema_new (avro is parsed there), so any thread may read it. */
typedef struct sdk_schema {
    int32_t id;
    weir_schema_type type;
    char *text;
    void *avro; /* AVRO: the parsed schema (serde_avro.c), else NULL */
    atomic_int refs;
    struct sdk_schema *hash_next;           /* the cache's bucket chain */
    struct sdk_schema *lru_prev, *lru_next; /* the cache's recency list, newest first */
} sdk_schema_t;

/* A new schema with one reference; AVRO text is parsed here. NULL (err says why) when it does
 * not parse. */
sdk_schema_t *sdk_schema_new(int32_t id, weir_schema_type type, const char *text, char *err,
                             size_t errlen);
void sdk_schema_ref(sdk_schema_t *s);
void sdk_schema_unref(sdk_schema_t *s); /* the last one frees it */

/* At most `max` schemas by id; beyond it the least recently used one is dropped (its users keep
 * their references). One mutex; lookups and inserts are O(1). */
typedef struct {
    pthread_mutex_t mu;
    sdk_schema_t **buckets;
    size_t nbuckets;
    size_t len, max;
    sdk_schema_t *newest, *oldest;
    uint64_t hits, misses;
} sdk_schema_cache_t;

void sdk_schema_cache_init(sdk_schema_cache_t *c, size_t max);
void sdk_schema_cache_deinit(sdk_schema_cache_t *c);
/* A reference to the schema with this id (now the most recent), or NULL; counts a hit or miss. */
sdk_schema_t *sdk_schema_cache_get(sdk_schema_cache_t *c, int32_t id);
/* Adds s (the cache takes a reference of its own) unless its id is there already; returns a
 * reference to the one cached, which the caller must unref (s itself stays the caller's). */
sdk_schema_t *sdk_schema_cache_put(sdk_schema_cache_t *c, sdk_schema_t *s);
size_t sdk_schema_cache_len(sdk_schema_cache_t *c);

/* registry_client.c: the schema of an id, from the cache or the registry; a reference. */
int sdk_registry_schema(weir_registry *reg, int32_t id, sdk_schema_t **out,
                        weir_registry_error *err);
/* obs_trace.c: curl_global_init, once per process, before the first curl handle. */
void sdk_curl_init(void);
/* An HTTP answer's body as libcurl hands it over (CURLOPT_WRITEFUNCTION sdk_http_on_body,
 * CURLOPT_WRITEDATA the sdk_http_body_t): past max bytes too_big is set and the transfer stops. */
typedef struct {
    buf_t body;
    size_t max;
    bool too_big;
} sdk_http_body_t;
size_t sdk_http_on_body(char *p, size_t size, size_t n, void *arg);

/* serde_avro.c: the parsed schema and its generic value class, for any number of threads. */
void *sdk_avro_parse(const char *text, char *err, size_t errlen); /* NULL: err says why */
void sdk_avro_free(void *avro);
/* v to Avro binary appended to out; -WEIR_EINVAL with err naming the path of the bad value. */
int sdk_avro_encode(void *avro, const json_t *v, buf_t *out, char *err, size_t errlen);
/* Exactly len bytes of Avro binary to a JSON value; -WEIR_ECORRUPT when they do not decode. */
int sdk_avro_decode(void *avro, const uint8_t *p, size_t len, json_t **out, char *err,
                    size_t errlen);

/* serde_json.c: 0, or -WEIR_EINVAL with err naming the path and the keyword that failed. */
int sdk_json_validate(const json_t *schema, const json_t *v, char *err, size_t errlen);

/* event.c */
void sdk_event_init(weir_event *ev);
void sdk_event_deinit(weir_event *ev);
void sdk_event_set(weir_event *ev, const rd_kafka_message_t *msg);
const sdk_ce_t *sdk_event_ce(weir_event *ev); /* reads the CloudEvents headers once */
const char *sdk_ctx_span(weir_ctx *ctx);      /* the handler's traceparent, made once */
/* A header's value straight from the message, if it is a usable attribute (1..255 bytes, no
 * NUL): its length, else 0. */
size_t sdk_msg_attr(const rd_kafka_message_t *m, const char *name, const char **val);
void sdk_ctx_reset(weir_ctx *ctx); /* drops held emits */
void sdk_ctx_deinit(weir_ctx *ctx);
/* A record's headers for m: CloudEvents attributes with the defaults resolved. */
int sdk_message_headers(weir_app *app, const weir_message *m, const char *traceparent,
                        rd_kafka_headers_t **out, char *err, size_t errlen);

#endif
