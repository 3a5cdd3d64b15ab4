/*
 * broker: the core of Weir, and its interface to the layers above (the Kafka protocol handlers
 * in src/kafka, the HTTP routes, the server). The broker owns the topics and their partitions
 * (each a storage log), the produce and fetch semantics (validation, idempotence, the acks=-1
 * durability wait, long-poll fetch waits, DeleteRecords), the group coordinator with the
 * committed offsets in __consumer_offsets, producer ids and the settings. It takes its own
 * locks and never hands out its internals: callers name topics and partitions and get copies
 * or results back.
 *
 * Errors. Functions return 0 or a negative WEIR_ code. Where Kafka distinguishes outcomes more
 * finely than that (which of INVALID_PARTITIONS or INVALID_CONFIG, say), the function also
 * fills a broker_err_t with the Kafka ErrorCode and a message: response data for the protocol
 * layer, never a C return value. kafka_err_from() in the protocol layer maps a bare WEIR code.
 *
 * Asynchronous operations (acks=-1 produce, long-poll fetch, group requests) take a completion
 * and say on which thread it runs. An operation that finishes at once says so in its return
 * value and then never calls its completion.
 *
 * Threads. Every function may be called from any io loop thread unless it says otherwise. The
 * broker's own threads: the io loops it is given (loop 0 also runs the group coordinator and the
 * maintenance timer), the storage flusher (group commit). broker_internal.h has the locks.
 */
#ifndef WEIR_BROKER_H
#define WEIR_BROKER_H

#include "auth/auth.h"
#include "base/base.h"
#include "kafka/wire/wire.h"
#include "net/net.h"

#include <stdatomic.h>

typedef struct broker broker_t;

/* A Kafka ErrorCode with its message, for the response. */
typedef struct {
    int16_t code;
    char message[512];
} broker_err_t;

/* ====================================== settings ============================================ */

/* Every broker setting, by its Kafka name: the whole catalogue of Apache Kafka's broker configs
 * (config_kafka.h, generated from Kafka's own definitions: names, types, defaults, bounds,
 * documentation), then Weir's own settings (weir.*). config.c says where Weir differs from
 * Kafka and which settings it honours; the others are accepted, checked by type and bounds,
 * stored and described, without effect on one node. To add a Weir setting: one enum value
 * here, one row in config.c's table. */
#include "broker/config_kafka.h"

enum {
    BCFG_LOG_PREALLOCATE_BYTES = BCFG__KAFKA_COUNT, /* weir.log.preallocate.bytes */
    BCFG_MAX_DECOMPRESSED_BYTES,                    /* weir.max.decompressed.bytes */
    BCFG_PRODUCER_SNAPSHOT_INTERVAL_OFFSETS,        /* weir.producer.snapshot.interval.offsets */
    /* read by the metrics exposition (src/metrics) */
    BCFG_METRICS_PARTITION_LABELS,   /* weir.metrics.partition.labels */
    BCFG_METRICS_PARTITION_MAX,      /* weir.metrics.partition.max */
    BCFG_METRICS_CONSUMERGROUP_SUMS, /* weir.metrics.consumergroup.sums */
    BCFG_TRACE_SPANS_MAX, /* weir.trace.spans.max: the span store behind /v1/traces (src/trace) */
    BCFG_TRANSACTIONAL_ID_MAX_COUNT,   /* weir.transactional.id.max.count */
    BCFG_SSL_HANDSHAKE_TIMEOUT_MS,     /* weir.ssl.handshake.timeout.ms */
    BCFG_OAUTHBEARER_UNSECURED_ENABLE, /* weir.sasl.oauthbearer.unsecured.enable */
    BCFG_OAUTHBEARER_REQUIRED_SCOPES,  /* weir.sasl.oauthbearer.required.scopes */
    BCFG_OAUTHBEARER_JWKS_CA_LOCATION, /* weir.sasl.oauthbearer.jwks.endpoint.ca.location */
    /* read by the server for the event loops and connections (src/net) */
    BCFG_MEMORY_BUFFERS_MAX_BYTES, /* weir.memory.buffers.max.bytes */
    BCFG_REQUEST_STALL_TIMEOUT_MS, /* weir.request.stall.timeout.ms */
    /* read by the Fetch handler (src/kafka/api_fetch.c) */
    BCFG_FETCH_ZERO_COPY, /* weir.fetch.zero.copy */
    /* the authorizer's own settings (Kafka's StandardAuthorizer reads them, not KafkaConfig) */
    BCFG_SUPER_USERS,                    /* super.users */
    BCFG_ALLOW_EVERYONE_IF_NO_ACL_FOUND, /* allow.everyone.if.no.acl.found */
    /* read by the server for the HTTP listener (server/http_auth.c) */
    BCFG_HTTP_AUTHENTICATION_METHODS, /* weir.http.authentication.methods */
    BCFG_HTTP_METRICS_OPEN,           /* weir.http.metrics.open */
    BCFG__COUNT
};
typedef int broker_cfg_key_t;

/* Topic configs: Kafka's (config_kafka.h), then those Weir adds; one row each in config.c.
 * Broker-side schema validation (docs/schemas.md), Confluent's names and Weir's; the key index
 * of the event store (docs/event-store.md). */
enum {
    TCFG_CONFLUENT_KEY_SCHEMA_VALIDATION = TCFG__KAFKA_COUNT, /* true|false */
    TCFG_CONFLUENT_KEY_SUBJECT_NAME_STRATEGY,                 /* a strategy's class name */
    TCFG_CONFLUENT_VALUE_SCHEMA_VALIDATION,
    TCFG_CONFLUENT_VALUE_SUBJECT_NAME_STRATEGY,
    TCFG_WEIR_KEY_SCHEMA_VALIDATION, /* none|id|full */
    TCFG_WEIR_VALUE_SCHEMA_VALIDATION,
    TCFG_WEIR_KEY_INDEX, /* true|false: the event store's key index (docs/event-store.md) */
    TCFG__COUNT
};

/* Where a setting's value came from (Kafka's DescribeConfigs ConfigSource numbering). */
enum {
    CFG_SOURCE_DYNAMIC_TOPIC = 1,
    CFG_SOURCE_DYNAMIC_BROKER = 2,
    CFG_SOURCE_DYNAMIC_DEFAULT_BROKER = 3,
    CFG_SOURCE_STATIC_BROKER = 4,
    CFG_SOURCE_DEFAULT = 5,
    CFG_SOURCE_DYNAMIC_BROKER_LOGGER = 6
};

/* The layers a broker setting can be set in, lowest precedence first: the config file and
 * --set (static), then AlterConfigs on the cluster-wide default ("") and on this broker (its
 * node id). The effective value is the highest layer's, else the default. */
enum {
    BCFG_LAYER_STATIC = 0,
    BCFG_LAYER_DYNAMIC_DEFAULT = 1,
    BCFG_LAYER_DYNAMIC_BROKER = 2,
    BCFG_LAYERS = 3
};

#define BCFG_UNSET INT64_MIN /* ival of a number setting without a value */

/* One listener-prefixed setting, Kafka's listener.name.<listener>.[<mechanism>.]<setting>: the
 * listener name lowercased as Kafka writes it, the SASL mechanism lowercased ("" when none), the
 * setting's key and its checked, normalized value. Static only (the config file and --set). */
typedef struct {
    char *listener;
    char *mechanism;
    int key;
    char *value;
} broker_listener_setting_t;

typedef struct {
    _Atomic int64_t ival[BCFG__COUNT]; /* INT/LONG/SHORT, BOOLEAN 0/1, a choice's index, a list's
                                          bitmask, a DOUBLE's bits; BCFG_UNSET without a value */
    char *sval[BCFG__COUNT];           /* the effective value as text, normalized; NULL = none */
    int source[BCFG__COUNT];           /* CFG_SOURCE_* of the effective value */
    char *layer[BCFG_LAYERS][BCFG__COUNT];   /* what each layer sets (normalized), NULL = nothing */
    broker_listener_setting_t *per_listener; /* listener.name.* settings, in the order given */
    size_t per_listener_n;
} broker_settings_t;

/* Defaults, then the config file, then "key=value" overrides, all in the static layer. Unknown
 * keys and bad values are errors (with a message in err, which must hold 256 bytes). */
int broker_settings_load(broker_settings_t *s, const char *config_file,
                         const char *const *overrides, char *err, size_t err_len);
void broker_settings_free(broker_settings_t *s);
int broker_cfg_find(const char *name, size_t len); /* key or -1 */
const char *broker_cfg_name(int key);
/* Checks one value for a setting as Kafka's ConfigDef would (type, bounds, accepted values),
 * normalized into norm (as Kafka prints it back: "TRUE" -> "true", "a, b" -> "a,b").
 * -WEIR_EINVAL with Kafka's message ("Invalid value x for configuration k: ...") in err. */
int broker_cfg_check(int key, const char *value, char *norm, size_t norm_len, char *err,
                     size_t err_len);
/* Sets (value) or clears (NULL) one layer's value and recomputes the effective one.
 * -WEIR_EINVAL with a message for a bad value (nothing changes then). */
int broker_settings_layer_set(broker_settings_t *s, int layer, int key, const char *value,
                              char *err, size_t err_len);
/* A listener's own value of key (listener.name.<listener>.<mechanism>.<key>, then
 * listener.name.<listener>.<key> when mechanism is given), else NULL: the caller falls back on
 * the shared setting. listener is matched without regard to case; mechanism is a SASL
 * mechanism name ("SCRAM-SHA-256") or NULL. */
const char *broker_settings_listener(const broker_settings_t *s, const char *listener,
                                     const char *mechanism, int key);
static inline int64_t broker_settings_int(const broker_settings_t *s, broker_cfg_key_t k)
{
    return atomic_load_explicit(&s->ival[k], memory_order_relaxed);
}
double broker_settings_double(const broker_settings_t *s, broker_cfg_key_t k);
/* Effective log.retention.ms (ms, else minutes, else hours, as Kafka resolves them), the same
 * for log.roll.ms and log.roll.jitter.ms (ms, else hours). */
int64_t broker_settings_retention_ms(const broker_settings_t *s);
int64_t broker_settings_roll_ms(const broker_settings_t *s);
int64_t broker_settings_roll_jitter_ms(const broker_settings_t *s);
/* The data dir: log.dirs, else log.dir if set, else Weir's default. */
const char *broker_settings_data_dir(const broker_settings_t *s);

/* ======================================== life ================================================
 * The server (src/server) owns the event loops and listeners; the broker runs on them. */
typedef struct {
    broker_settings_t *settings; /* loaded (broker_settings_load); moved into the broker */
    const char *data_dir;        /* NULL: log.dirs */
    net_loop_t **loops;          /* running loops, alive until broker_close; loop 0 runs the
                                    group coordinator and the maintenance timer */
    int nloops;
} broker_open_args_t;

/* Opens the data dir (one broker per dir), loads topics, starts the flusher and the group
 * coordinator. Loop threads must be running. On error everything is undone. */
int broker_open(const broker_open_args_t *a, broker_t **out);
/* Stops serving: waiting fetches answer, acks=-1 produces are answered once durable, parked
 * group requests get COORDINATOR_NOT_AVAILABLE. The loops must still run; call it after the
 * listeners are closed. Idempotent. */
void broker_quiesce(broker_t *b);
/* After broker_quiesce and once no loop runs any more: closes every log (clean shutdown
 * marker) and frees the broker. */
void broker_close(broker_t *b);

const broker_settings_t *broker_settings(const broker_t *b);
/* What the broker actually runs with where flags or the port picked at start differ from the
 * settings (listeners, advertised.listeners): recorded as static settings, so DescribeConfigs
 * shows what is true, as Kafka shows its own. Called by the server after it listens. */
void broker_settings_observed(broker_t *b, int key, const char *value);
const char *broker_cluster_id(const broker_t *b);
int32_t broker_node_id(const broker_t *b);
bool broker_stopping(const broker_t *b);

/* ======================================= topics ===============================================
 */

/* Topic name rules (names are directory names): [a-zA-Z0-9._-], 1..249, not "." or "..". */
bool broker_topic_name_valid(const char *name, size_t len, const char **why);
/* Internal topic names per Kafka (Topic.isInternal): __consumer_offsets, __transaction_state. */
bool broker_topic_name_internal(const char *name);
size_t broker_topics_count(broker_t *b);

/* A topic as Metadata shows it: a copy, owned by the caller (broker_topic_desc_deinit). */
typedef struct {
    char *name;
    uint8_t id[16]; /* the topic id: a UUID, kept across restarts, new for a re-created topic */
    bool internal;
    int32_t partitions;
    bool *offline; /* per partition: its log is offline (a storage error) */
} broker_topic_desc_t;

/* One topic, by name or by id: 0, or -WEIR_ENOENT. */
int broker_topic_describe(broker_t *b, const char *name, size_t len, broker_topic_desc_t *out);
int broker_topic_describe_id(broker_t *b, const uint8_t id[16], broker_topic_desc_t *out);
/* Every live topic, sorted by name; the caller frees with broker_topic_descs_free. */
void broker_topics_describe(broker_t *b, broker_topic_desc_t **out, size_t *n);
void broker_topic_desc_deinit(broker_topic_desc_t *d);
void broker_topic_descs_free(broker_topic_desc_t *d, size_t n);

/* A config given with a request: key and value as the client sent them (value NULL = null). */
typedef struct {
    const char *key;
    const char *value;
} broker_config_kv_t;

/* What CreateTopics made (or, validating only, would make: the id is then all zeros). */
typedef struct {
    uint8_t id[16];
    int32_t partitions;
} broker_topic_created_t;

/* CreateTopics: nparts -1 = num.partitions; configs are checked by name and value first. With
 * validate_only, checks everything and creates nothing. out may be NULL. */
int broker_topic_create(broker_t *b, const char *name, int32_t nparts,
                        const broker_config_kv_t *configs, size_t nconfigs, bool validate_only,
                        broker_topic_created_t *out, broker_err_t *err);
/* Checks configs given by name and value as broker_topic_create would (INVALID_CONFIG naming
 * the first bad one). */
int broker_topic_configs_validate(const broker_config_kv_t *configs, size_t nconfigs,
                                  broker_err_t *err);
/* Auto-creation on Metadata or Produce: a valid unknown name gets the defaults. 0 when the
 * topic exists afterwards. */
int broker_topic_auto_create(broker_t *b, const char *name, size_t len);
int broker_topic_delete(broker_t *b, const char *name, size_t len, broker_err_t *err);
int broker_topic_add_partitions(broker_t *b, const char *name, size_t len, int32_t count,
                                bool validate_only, broker_err_t *err);

/* ====================================== partitions ============================================
 */

typedef struct {
    int64_t log_start_offset;
    int64_t high_watermark; /* = the log end: every append is committed on one node */
    int64_t last_stable_offset;
} broker_watermarks_t;

/* 0, -WEIR_ENOENT (no such topic or partition) or -WEIR_EOFFLINE (the log is offline). */
int broker_partition_watermarks(broker_t *b, const char *topic, size_t len, int32_t partition,
                                broker_watermarks_t *out);
/* The watermarks, and whether a fetch from offset would return data now (without reading it). */
int broker_partition_peek(broker_t *b, const char *topic, size_t len, int32_t partition,
                          int64_t offset, bool read_committed, broker_watermarks_t *out,
                          bool *has_data);
/* The name of the topic with this id into out (cap bytes, NUL-terminated): 0 or -WEIR_ENOENT. */
int broker_topic_name_of(broker_t *b, const uint8_t id[16], char *out, size_t cap);
/* ListOffsets by time: the first record whose timestamp is >= ts, its offset and timestamp;
 * with ts BROKER_TS_MAX, the first record with the largest timestamp (KIP-734).
 * -WEIR_ERANGE when there is none; -WEIR_ENOENT, -WEIR_EOFFLINE as above. */
enum { BROKER_TS_MAX = -3 };
int broker_offset_for_time(broker_t *b, const char *topic, size_t len, int32_t partition,
                           int64_t ts, int64_t *offset, int64_t *timestamp);
/* weir.key.index (docs/event-store.md): the offsets of the key's records in a partition since
 * it last did not exist (its first record, or the one after its latest tombstone), through
 * the key chain, without reading the log: its newest `max` records, oldest first, into out
 * (room for max); *n how many (0: the key is absent; with max 1, out[0] is the offset a
 * conditional append expects). Offsets below the log start are left out; offsets the cleaner
 * removed since the partition opened are still listed (a reader finds the next record
 * there). -WEIR_ENOENT (no such topic or partition), -WEIR_EINVAL (the topic has no key
 * index), -WEIR_EOFFLINE (the partition's log or index is not there), each with err's
 * message. Takes the registry read lock and the partition's append lock. */
int broker_key_offsets(broker_t *b, const char *topic, int32_t partition, const uint8_t *key,
                       size_t key_len, size_t max, int64_t *out, size_t *n, broker_err_t *err);

/* DeleteRecords: moves the log start to offset (-1 = the high watermark); *low is the new log
 * start. -WEIR_ERANGE for an offset outside [0, high watermark]. Waiting fetches are woken. */
int broker_delete_records(broker_t *b, const char *topic, size_t len, int32_t partition,
                          int64_t offset, int64_t *low);

/* ======================================= produce ==============================================
 * A Produce request as the broker sees it: the caller decodes it into these structs and keeps
 * them (and, for acks=-1, the topic names) alive until the produce finished. */
typedef struct {
    int16_t error_code;
    const char *error_message; /* static string, record_error_message below, or NULL */
    int64_t base_offset;       /* first offset of the first batch, -1 on error */
    int64_t log_append_time;   /* -1 unless LogAppendTime */
    int64_t log_start_offset;
    int32_t record_error_index;     /* a record that failed (Produce v8 record_errors), or -1 */
    char record_error_message[320]; /* its reason */
    bool unknown_append; /* refused before the log took it: log_start_offset -1, as Kafka */
} broker_produce_result_t;

typedef struct {
    int32_t index;
    uint8_t *records; /* the RECORDS field, rewritten in place (offsets, epoch, LogAppendTime) */
    size_t len;
    broker_produce_result_t res; /* out */
    int64_t end_offset;          /* internal: after the last appended batch */
    bool durable_pending;        /* internal: acks=-1 */
} broker_produce_part_t;

typedef struct {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    int32_t nparts;
    broker_produce_part_t *parts;
    int16_t refused; /* set by the caller: every partition answers this code, nothing appended
                        (the authorizer's TOPIC_AUTHORIZATION_FAILED, say) */
} broker_produce_topic_t;

typedef struct broker_produce_req {
    int16_t api_version;
    int16_t acks; /* -1, 0 or 1 (others: INVALID_REQUIRED_ACKS for every partition) */
    int32_t timeout_ms;
    const char *transactional_id; /* NULL for none */
    size_t transactional_id_len;
    int32_t ntopics;
    broker_produce_topic_t *topics;
    /* acks=-1: done(arg) runs on `loop` once every appended partition is durable, or at
     * timeout_ms (REQUEST_TIMED_OUT for the partitions not yet durable). */
    net_loop_t *loop;
    void (*done)(void *arg);
    void *arg;
} broker_produce_req_t;

/* Validates and appends every partition's batches and wakes waiting fetches. Returns true when
 * the request is finished (acks 0/1, or nothing left to wait for): the results are in the
 * parts and done is never called. Returns false when it waits for durability: done runs
 * later. Called on req->loop. */
bool broker_produce(broker_t *b, broker_produce_req_t *req);

/* ================================ schema validation hook ======================================
 * A topic may ask (TCFG_*_SCHEMA_VALIDATION) that every record's key and/or value be
 * schema-registry encoded: magic byte 0 and a schema id registered under the subject its
 * strategy names (id), and that the payload decode with that schema (full). The registry sits
 * above the broker, so the broker checks through this hook, which the server sets once the
 * registry runs. A topic with validation on and no hook refuses every batch (INVALID_RECORD):
 * an unchecked record must never reach it. */
typedef enum {
    BROKER_SCHEMA_NONE = 0,
    BROKER_SCHEMA_ID,  /* the wire header, and the id registered under the subject */
    BROKER_SCHEMA_FULL /* also: the payload decodes with that schema */
} broker_schema_mode_t;
typedef enum {
    BROKER_SUBJECT_TOPIC = 0,   /* TopicNameStrategy: "<topic>-key" / "<topic>-value" */
    BROKER_SUBJECT_RECORD,      /* RecordNameStrategy: the record's full name */
    BROKER_SUBJECT_TOPIC_RECORD /* TopicRecordNameStrategy: "<topic>-<record name>" */
} broker_subject_strategy_t;

typedef struct {
    void *arg;
    /* A checker for one side (key or value) of a topic: 0 and *out, or a negative code (the
     * topic then refuses every batch). Called under the broker's registry write lock. */
    int (*open)(void *arg, const char *topic, bool is_key, broker_subject_strategy_t strategy,
                broker_schema_mode_t mode, void **out);
    /* One key or value (p NULL for a null one): 0 when it passes, else a negative code and one
     * line in why ("value: schema id 7 is not registered under subject 'orders-value'"). Any
     * io loop thread, many at once; it must not allocate once it has seen an id. */
    int (*check)(void *checker, const uint8_t *p, size_t n, char *why, size_t why_size);
    void (*close)(void *checker);
} broker_schema_hook_t;

/* Sets the hook (hook NULL: removes it) and (re)makes the checkers of every topic with
 * validation on; takes the registry write lock. Remove it before what it points to is freed. */
void broker_schema_hook_set(broker_t *b, const broker_schema_hook_t *hook);

/* ======================================== fetch ===============================================
 * A Fetch is two steps: broker_fetch_wait waits until the request can be answered (min_bytes,
 * max_wait_ms, KIP-227's rules aside), then the caller writes the response, reading each
 * partition with broker_fetch_read. */
typedef struct {
    const char *topic; /* not NUL-terminated; may hold NULs (then no topic matches) */
    size_t topic_len;
    int32_t partition;
    int64_t offset;
    int32_t max_bytes;
    bool read_committed; /* isolation_level 1: only data below the LSO */
} broker_fetch_part_t;

typedef struct broker_fetch_wait broker_fetch_wait_t;

typedef struct {
    int32_t min_bytes;
    int32_t max_wait_ms;
    size_t nparts;
    const broker_fetch_part_t *parts; /* alive until done ran */
    net_loop_t *loop;                 /* the caller's: done runs here */
    void (*done)(void *arg);
    void *arg;
} broker_fetch_wait_req_t;

/* True when the fetch can be answered now (enough data, an error to report, no wait asked for,
 * or the broker stopping). Otherwise it waits for appends to its partitions or max_wait_ms and
 * calls done once on req->loop. */
bool broker_fetch_wait(broker_t *b, const broker_fetch_wait_req_t *req);

/* An aborted transaction overlapping what a read_committed fetch returned. */
typedef struct {
    int64_t producer_id;
    int64_t first_offset;
} broker_aborted_txn_t;

/* What broker_fetch_read found, for the partition's response fields. */
typedef struct {
    int16_t error_code;
    broker_watermarks_t wm; /* -1s when the partition is unknown */
    size_t naborted;        /* read_committed: the aborted transactions (caller frees) */
    broker_aborted_txn_t *aborted;
} broker_fetch_info_t;

/* Zero copy for broker_fetch_read: file ranges go to `slot` (the response's, on a plaintext
 * connection). What must still be copied takes at most copy_left bytes of memory (the buffer
 * budget's grant; KIP-74's first batch excepted), decreased by each copy; copy_short says a
 * copy was left out for it. The file ranges take no memory, so only max_bytes bounds them. */
typedef struct {
    net_slot_t *slot;
    size_t copy_left;
    bool copy_short;
} broker_zero_copy_t;

/* Appends whole batches of one partition from `offset` to out (no length prefix), at most
 * max_bytes unless `first` (KIP-74: the first batch of the first non-empty partition is
 * returned whole). Batches compressed with zstd stop the read when !allow_zstd. *got is the
 * number of bytes appended (0 when there is nothing at offset yet). read_committed reads stop
 * at the LSO and list the aborted transactions that overlap what was read. With zero_copy (NULL:
 * copy all), batches this process verified are added to its slot as file ranges
 * (net_slot_add_file) at out->len instead of being copied: *got counts both, and the response's
 * size prefix must count the ranges. */
void broker_fetch_read(broker_t *b, const broker_fetch_part_t *part, size_t max_bytes, bool first,
                       bool allow_zstd, broker_zero_copy_t *zero_copy, buf_t *out, size_t *got,
                       broker_fetch_info_t *info);

/* ======================================== configs =============================================
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics, this broker and its
 * loggers, with Kafka's answers (values, sources, synonyms, types, documentation, and the error
 * codes and messages Kafka gives). */
enum { BROKER_RESOURCE_TOPIC = 2, BROKER_RESOURCE_BROKER = 4, BROKER_RESOURCE_BROKER_LOGGER = 8 };
enum {
    BROKER_CONFIG_SET = 0,
    BROKER_CONFIG_DELETE = 1,
    BROKER_CONFIG_APPEND = 2,
    BROKER_CONFIG_SUBTRACT = 3
};

typedef struct {
    const char *name;
    char *value; /* owned; NULL = null */
    int8_t source;
} broker_config_synonym_t;

#define BROKER_CONFIG_SYNONYMS_MAX 16

typedef struct {
    const char *name; /* static, or owned (name_owned) */
    char *value;      /* owned; NULL = null */
    bool read_only;
    int8_t source; /* CFG_SOURCE_* */
    bool sensitive;
    int8_t type;     /* Kafka's ConfigType (0 unknown, 1 boolean ... 9 password) */
    const char *doc; /* static; NULL = none */
    bool name_owned;
    size_t nsynonyms; /* most specific first */
    broker_config_synonym_t synonyms[BROKER_CONFIG_SYNONYMS_MAX];
} broker_config_entry_t;

typedef struct {
    size_t n;
    broker_config_entry_t *entries; /* sorted by name */
} broker_config_list_t;

/* Every config of a resource: a topic by name, the broker by node id ("" = the cluster-wide
 * dynamic defaults only, as Kafka answers it), the broker's loggers by node id. On error
 * returns -WEIR_* with err filled (Kafka's code and message; the message may be ""). */
int broker_configs_describe(broker_t *b, int8_t type, const char *name, size_t len,
                            broker_config_list_t *out, broker_err_t *err);
/* The configs a topic created with these has (CreateTopics v5+ returns them). */
int broker_configs_describe_new_topic(broker_t *b, const broker_config_kv_t *configs,
                                      size_t nconfigs, broker_config_list_t *out,
                                      broker_err_t *err);
void broker_config_list_deinit(broker_config_list_t *l);

typedef struct {
    const char *name;
    int8_t op;         /* BROKER_CONFIG_* (AlterConfigs: SET) */
    const char *value; /* NULL = null */
} broker_config_op_t;

/* incremental false (AlterConfigs): the resource's overrides become exactly ops. Everything is
 * checked before anything changes. err->message may be "" (Kafka sends no message then). */
int broker_configs_alter(broker_t *b, int8_t type, const char *name, size_t len,
                         const broker_config_op_t *ops, size_t n, bool incremental,
                         bool validate_only, broker_err_t *err);

/* =================================== cluster and admin =======================================
 * The answers of a cluster of one node (broker/admin.c). */

/* OffsetForLeaderEpoch: where leader_epoch ended in the partition's log (Kafka's
 * LeaderEpochFileCache.endOffsetFor), after checking the client's current_leader_epoch (-1: no
 * check) against the partition's: FENCED_LEADER_EPOCH if older, UNKNOWN_LEADER_EPOCH if newer. */
typedef struct {
    int16_t error;        /* Kafka ErrorCode */
    int32_t leader_epoch; /* -1 when unknown */
    int64_t end_offset;   /* -1 when unknown */
} broker_epoch_end_t;
void broker_offset_for_leader_epoch(broker_t *b, const char *topic, size_t len, int32_t partition,
                                    int32_t current_leader_epoch, int32_t leader_epoch,
                                    broker_epoch_end_t *out);

/* DescribeLogDirs: the data dir (absolute), its file system's size and usable bytes (-1 and
 * KAFKA_STORAGE_ERROR if they cannot be read), and the size of every partition asked for. */
typedef struct {
    int32_t partition;
    int64_t size_bytes;
} broker_logdir_part_t;

typedef struct {
    char *name;
    size_t nparts;
    broker_logdir_part_t *parts;
} broker_logdir_topic_t;

typedef struct {
    char *path;
    int16_t error;
    int64_t total_bytes, usable_bytes;
    size_t ntopics;
    broker_logdir_topic_t *topics; /* sorted by name; only topics with a partition asked for */
} broker_logdir_t;

typedef struct {
    const char *topic; /* not NUL-terminated */
    size_t len;
    const int32_t *parts;
    size_t nparts;
} broker_logdir_query_t;

/* q NULL: every partition of every topic. */
int broker_log_dirs_describe(broker_t *b, const broker_logdir_query_t *q, size_t nq,
                             broker_logdir_t *out);
void broker_log_dir_deinit(broker_logdir_t *d);

/* ElectLeaders for one partition (type 0 preferred, 1 unclean): always err ELECTION_NOT_NEEDED
 * ("Leader election not needed for topic partition.") for a partition that exists, as Kafka
 * answers for a partition whose only replica leads; UNKNOWN_TOPIC_OR_PARTITION, or
 * INVALID_REQUEST for an unknown election type. Returns < 0 with err filled in every case. */
int broker_elect_leader(broker_t *b, int8_t type, const char *topic, size_t len, int32_t partition,
                        broker_err_t *err);
/* AlterPartitionReassignments for one partition: replicas naming this broker once are where the
 * partition is (0: done); nreplicas -1 (a cancellation) gives NO_REASSIGNMENT_IN_PROGRESS; an
 * empty list, another broker or a repeat INVALID_REPLICA_ASSIGNMENT with Kafka's messages. */
int broker_reassign_partition(broker_t *b, const char *topic, size_t len, int32_t partition,
                              const int32_t *replicas, int32_t nreplicas, broker_err_t *err);
/* The checks of a replica list for a new or moved partition (one node: just this broker). */
int broker_replicas_check(broker_t *b, const int32_t *replicas, int32_t n, broker_err_t *err);
/* DeleteRecords is refused (POLICY_VIOLATION) on a topic whose cleanup.policy lacks delete. */
int broker_delete_records_policy(broker_t *b, const char *topic, size_t len, broker_err_t *err);

/* ================================== idempotent producer ======================================= */

/* InitProducerId without a transactional id: a fresh producer id with epoch 0 (ids are made
 * durable in blocks before use, so they never repeat). err->code is the Kafka ErrorCode. */
int broker_init_producer_id(broker_t *b, int64_t *producer_id, int16_t *epoch, broker_err_t *err);

/* ================================ groups and committed offsets ===============================
 * The group coordinator (Kafka's classic rebalance protocol) and the committed offsets it keeps
 * in __consumer_offsets. */

typedef enum {
    BROKER_GROUP_EMPTY = 0,
    BROKER_GROUP_PREPARING_REBALANCE,
    BROKER_GROUP_COMPLETING_REBALANCE,
    BROKER_GROUP_STABLE,
    BROKER_GROUP_DEAD
} broker_group_state_t;

const char *
broker_group_state_name(broker_group_state_t s); /* Kafka's spelling: "PreparingRebalance" */

/* A committed offset, as stored. The metadata is data, not a name: bytes with a length that
 * may hold NULs (Kafka returns them byte for byte), never NULL in results ("" when none). */
typedef struct {
    int64_t offset;
    int32_t leader_epoch; /* -1 unknown */
    const char *metadata;
    size_t metadata_len;
    int64_t commit_ts_ms; /* wall clock */
    int64_t expire_ts_ms; /* -1: the broker's retention applies (OffsetCommit v2-4 may set it) */
} broker_committed_t;

typedef struct broker_group_join_member {
    const char *member_id;
    const char *instance_id; /* NULL: dynamic */
    const uint8_t *metadata;
    size_t metadata_len;
} broker_group_join_member_t;

/* A JoinGroup answer. Pointers are valid only during the join_done call. */
typedef struct {
    int16_t error;
    int32_t generation_id;     /* -1 with errors */
    const char *protocol_type; /* NULL with errors */
    const char *protocol_name; /* NULL with errors */
    const char *leader_id;     /* "" with errors */
    const char *member_id;     /* "" or the id assigned (MEMBER_ID_REQUIRED carries one) */
    size_t member_count;       /* only the leader gets the members */
    const broker_group_join_member_t *members;
    bool skip_assignment; /* KIP-814: a returning static leader keeps the current assignment */
} broker_group_join_result_t;

typedef struct {
    const char *name;
    const uint8_t *metadata;
    size_t metadata_len;
} broker_group_protocol_t;

typedef struct {
    const char *group_id;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms; /* JoinGroup v0: pass the session timeout */
    const char *member_id;        /* "" for a new member */
    const char *instance_id;      /* NULL: dynamic membership */
    const char *protocol_type;
    size_t protocol_count;
    const broker_group_protocol_t *protocols; /* in the member's order of preference */
    const char *client_id;
    const char *client_host;
    bool require_known_member_id;  /* JoinGroup v4+: MEMBER_ID_REQUIRED for new members */
    bool supports_skip_assignment; /* JoinGroup v9+: KIP-814, see broker_group_join_result_t */
} broker_group_join_req_t;

typedef struct {
    const char *member_id;
    const uint8_t *assignment;
    size_t assignment_len;
} broker_group_assignment_t;

/* A SyncGroup answer. Pointers are valid only during the on_sync call. */
typedef struct {
    int16_t error;
    const char *protocol_type; /* the group's, NULL with errors (SyncGroup v5+ answers them) */
    const char *protocol_name;
    const uint8_t *assignment; /* NULL with errors; len 0 is a valid empty assignment */
    size_t assignment_len;
} broker_group_sync_result_t;

typedef struct {
    const char *group_id;
    int32_t generation_id;
    const char *member_id;
    const char *instance_id;   /* NULL */
    const char *protocol_type; /* SyncGroup v5+, else NULL */
    const char *protocol_name; /* SyncGroup v5+, else NULL */
    size_t assignment_count;   /* the leader's assignments; followers send none */
    const broker_group_assignment_t *assignments;
} broker_group_sync_req_t;

typedef struct {
    const char *member_id;   /* "" with an instance id: leave by instance id */
    const char *instance_id; /* NULL */
    int16_t error;           /* out */
} broker_group_leave_member_t;

/* OffsetCommit. The request struct and its strings must stay valid until env->done(waiter);
 * each part's error is filled by then. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch; /* -1 */
    const char *metadata; /* NULL = null metadata, stored as ""; may hold NULs */
    size_t metadata_len;
    int64_t commit_ts_ms; /* -1: now (OffsetCommit v1 may carry one) */
    int16_t error;        /* out */
} broker_commit_part_t;

typedef struct {
    const char *group_id;
    /* a classic group's generation (-1 with "" member id: a standalone consumer), or, for a
     * consumer group (KIP-848, OffsetCommit v9+), the member's epoch */
    int32_t generation_id;
    const char *member_id;
    const char *instance_id;
    int64_t retention_ms; /* OffsetCommit v2-4 retention_time_ms; -1 = the broker default */
    int16_t api_version;  /* a consumer group's members must commit with v9+ */
    /* TxnOffsetCommit: the offsets belong to the producer's open transaction (its group
     * partition must be in it: AddOffsetsToTxn) and reach the group with its commit marker */
    bool transactional;
    const char *transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    size_t part_count;
    broker_commit_part_t *parts;
} broker_commit_req_t;

typedef struct {
    const char *member_id;
    const char *instance_id;
    const char *client_id;
    const char *client_host;
    const uint8_t *metadata;
    size_t metadata_len;
    const uint8_t *assignment;
    size_t assignment_len;
} broker_group_member_summary_t;

typedef struct {
    int16_t error;
    broker_group_state_t state;
    const char *protocol_type; /* "" */
    const char *protocol_name; /* "" unless Stable/CompletingRebalance */
    int32_t generation;
    size_t member_count;
    broker_group_member_summary_t *members;
} broker_group_summary_t;

/* DeleteGroups: each group must be Empty (NON_EMPTY_GROUP) and known (GROUP_ID_NOT_FOUND);
 * its offsets and metadata get tombstones, and done(waiter) comes once they are durable. */
typedef struct {
    const char *group_id;
    int16_t error; /* out */
} broker_group_delete_item_t;

typedef struct {
    size_t count;
    broker_group_delete_item_t *items;
} broker_group_delete_req_t;

/* OffsetDelete (v0): removes committed offsets of partitions the group is not subscribed to. */
typedef struct {
    const char *topic;
    int32_t partition;
    int16_t error; /* out */
} broker_offset_delete_part_t;

typedef struct {
    const char *group_id;
    int16_t error; /* out: group-level */
    size_t part_count;
    broker_offset_delete_part_t *parts;
} broker_offset_delete_req_t;
/* Heartbeat: error out. */
typedef struct {
    const char *group_id;
    int32_t generation_id;
    const char *member_id;
    const char *instance_id; /* NULL */
    int16_t error;           /* out */
} broker_group_heartbeat_req_t;

/* LeaveGroup: v0-2 leave one member; v3+ a batch, each identified by member id and/or
 * instance id. Each member's error and the group-level error are filled. */
typedef struct {
    const char *group_id;
    size_t member_count;
    broker_group_leave_member_t *members;
    int16_t error; /* out */
} broker_group_leave_req_t;

/* OffsetFetch of one group: the listed partitions (offset -1 and metadata "" when nothing is
 * committed), or with `all` every committed offset of the group (results in all_parts, valid
 * during on_done only). */
typedef struct {
    const char *topic;
    int32_t partition;
    broker_committed_t committed; /* out; metadata valid during on_done */
    int16_t error;                /* out */
} broker_offset_fetch_part_t;

typedef struct {
    const char *group_id;
    /* OffsetFetch v9+ from a member of a consumer group (KIP-848): its id and epoch are checked
     * (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH); NULL and -1 otherwise */
    const char *member_id;
    int32_t member_epoch;
    bool all;
    /* OffsetFetch v7+: a partition with transactional offsets pending answers
     * UNSTABLE_OFFSET_COMMIT (offset -1) instead of its last committed offset */
    bool require_stable;
    size_t part_count;
    broker_offset_fetch_part_t *parts;
    int16_t error;                         /* out: group-level */
    size_t all_count;                      /* out, with all */
    broker_offset_fetch_part_t *all_parts; /* out, with all; in no set order */
} broker_offset_fetch_req_t;

/* ListGroups: every group (valid during on_done only), with its state and type as Kafka names
 * them ("Stable", "Assigning"...; "classic" or "consumer"). */
typedef struct {
    const char *group_id;
    const char *protocol_type;
    const char *state;
    const char *type;
} broker_group_listing_t;

/* Filters (ListGroups v4+ states, v5+ types): a group is listed when its state (type) matches
 * one of them, ignoring case; none given lists every group. */
typedef struct {
    size_t nstates;
    const char *const *states;
    size_t ntypes;
    const char *const *types;
    int16_t error;                  /* out */
    size_t count;                   /* out */
    broker_group_listing_t *groups; /* out */
} broker_group_list_req_t;

/* DescribeGroups: one summary per id (valid during on_done only). */
typedef struct {
    size_t count;
    const char *const *group_ids;
    broker_group_summary_t *summaries; /* out, count entries */
} broker_group_describe_req_t;

/* ---- consumer groups (KIP-848: ConsumerGroupHeartbeat, ConsumerGroupDescribe) -------------
 * The broker assigns partitions itself (the `uniform` and `range` assignors of
 * group.consumer.assignors) and hands them out member by member, revoking before assigning:
 * a partition goes to its new owner only once the previous owner stopped owning it. Topics
 * are named by their topic ids on the wire. */

/* The partitions of one topic. */
typedef struct {
    uint8_t topic_id[16];
    const char *topic; /* the name; NULL in requests */
    size_t count;
    const int32_t *partitions;
} broker_cg_topic_parts_t;

/* ConsumerGroupHeartbeat. The fields a heartbeat may leave null (unchanged since the last one)
 * are NULL or have a flag. The out fields are valid during on_done only; err.message "" means
 * a null ErrorMessage. */
typedef struct {
    int16_t api_version;
    const char *group_id;
    const char *member_id; /* v0 may send "" with epoch 0: the broker makes one */
    int32_t member_epoch;  /* 0 join, -1 leave, -2 a static member leaves for a while */
    const char *instance_id;
    const char *rack_id;          /* kept and described, not used for placement (one node) */
    int32_t rebalance_timeout_ms; /* -1: unchanged */
    bool has_topics;
    size_t ntopics;
    const char *const *topics;
    const char *topic_regex; /* v1+ */
    const char *server_assignor;
    bool has_owned;
    size_t nowned;
    const broker_cg_topic_parts_t *owned;
    const char *client_id;
    const char *client_host;
    /* out */
    broker_err_t err;
    const char *out_member_id; /* NULL with errors */
    int32_t out_member_epoch;
    int32_t heartbeat_interval_ms;
    bool has_assignment; /* false: null (nothing changed) */
    size_t nassigned;
    const broker_cg_topic_parts_t *assigned;
    void *priv; /* the broker's */
} broker_consumer_heartbeat_req_t;

typedef struct {
    const char *member_id;
    const char *instance_id;
    const char *rack_id;
    int32_t member_epoch;
    const char *client_id;
    const char *client_host;
    size_t nsubscribed;
    const char *const *subscribed;
    const char *regex; /* "" when none, as Kafka describes it */
    size_t nassigned;
    const broker_cg_topic_parts_t *assigned;
    size_t ntarget;
    const broker_cg_topic_parts_t *target;
} broker_cg_member_desc_t;

typedef struct {
    int16_t error;
    const char *error_message; /* NULL: null */
    const char *state;         /* "Empty", "Assigning", "Reconciling", "Stable"; "" with errors */
    int32_t group_epoch;
    int32_t assignment_epoch;
    const char *assignor; /* "" with errors */
    size_t nmembers;
    const broker_cg_member_desc_t *members;
} broker_cg_desc_t;

/* ConsumerGroupDescribe: one answer per id, valid during on_done only. An unknown group, or a
 * classic one, answers GROUP_ID_NOT_FOUND, as Kafka does. */
typedef struct {
    size_t count;
    const char *const *group_ids;
    broker_cg_desc_t *groups; /* out */
    void *priv;               /* the broker's */
} broker_consumer_describe_req_t;

/* A group request in flight. The caller fills the callbacks its operation completes through
 * (JoinGroup: on_join; SyncGroup: on_sync; every other: on_done), and keeps the op, the request
 * struct and every string in it alive until that callback ran. Callbacks run on the group
 * coordinator's thread (loop 0), exactly once, possibly before the call returns; results passed
 * to them are valid only during the call, and a callback may free the op and its request (the
 * broker touches neither afterwards). When the coordinator is not available (not started,
 * stopping) the errors say COORDINATOR_NOT_AVAILABLE. */
typedef struct broker_group_op broker_group_op_t;
struct broker_group_op {
    void (*on_join)(broker_group_op_t *op, const broker_group_join_result_t *res);
    void (*on_sync)(broker_group_op_t *op, const broker_group_sync_result_t *res);
    void (*on_done)(broker_group_op_t *op);
    /* the broker's */
    broker_t *b;
    int kind;
    void *req;
};

void broker_group_join(broker_t *b, const broker_group_join_req_t *req, broker_group_op_t *op);
void broker_group_sync(broker_t *b, const broker_group_sync_req_t *req, broker_group_op_t *op);
void broker_group_heartbeat(broker_t *b, broker_group_heartbeat_req_t *req, broker_group_op_t *op);
void broker_group_leave(broker_t *b, broker_group_leave_req_t *req, broker_group_op_t *op);
void broker_group_list(broker_t *b, broker_group_list_req_t *req, broker_group_op_t *op);
void broker_group_describe(broker_t *b, broker_group_describe_req_t *req, broker_group_op_t *op);
void broker_group_delete(broker_t *b, broker_group_delete_req_t *req, broker_group_op_t *op);
void broker_offset_commit(broker_t *b, broker_commit_req_t *req, broker_group_op_t *op);
void broker_offset_fetch(broker_t *b, broker_offset_fetch_req_t *req, broker_group_op_t *op);
void broker_offset_delete(broker_t *b, broker_offset_delete_req_t *req, broker_group_op_t *op);
void broker_consumer_heartbeat(broker_t *b, broker_consumer_heartbeat_req_t *req,
                               broker_group_op_t *op);
void broker_consumer_describe(broker_t *b, broker_consumer_describe_req_t *req,
                              broker_group_op_t *op);

/* ============================ records for tools (admin_records.c) ============================
 * The admin API and the console read and write records one by one, not as Kafka batches: these
 * decode batches into records and build batches from records, through the same checks and
 * paths as Fetch and Produce. Any thread that is not an io loop (they wait); not the hot path. */

typedef struct {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    const uint8_t *value; /* NULL = null */
    int32_t value_len;    /* -1 = null */
} broker_header_t;

typedef struct {
    int32_t partition;
    int64_t offset;    /* reads: the record's offset; writes: ignored */
    int64_t timestamp; /* ms; writes: -1 = now */
    bool log_append_time;
    const uint8_t *key; /* NULL = null */
    int32_t key_len;    /* -1 = null */
    const uint8_t *value;
    int32_t value_len;
    size_t nheaders;
    const broker_header_t *headers;
} broker_record_t;

enum { BROKER_RECORD_HEADERS_MAX = 64 }; /* headers shown per record; the rest are dropped */

/* Called per record, in offset order; the record is valid during the call only. Non-zero stops
 * the read (and is returned by broker_records_read when it is negative). */
typedef int (*broker_record_fn)(void *arg, const broker_record_t *rec);

/* Reads one partition from `offset` (clamped to the log start) to the high watermark, at most
 * max_bytes of batches, calling fn per record (control records are skipped). *next is the
 * offset after the last record looked at. 0, a negative fn result, -WEIR_ENOENT, -WEIR_EOFFLINE
 * or -WEIR_ECORRUPT. */
int broker_records_read(broker_t *b, const char *topic, size_t len, int32_t partition,
                        int64_t offset, size_t max_bytes, broker_record_fn fn, void *arg,
                        int64_t *next);

/* Appends records to one partition as one batch (a plain producer's), through the produce path
 * (validation, max.message.bytes, waking fetches). durable: returns once fdatasynced (acks=-1).
 * *base_offset is the first record's offset. 0, or a negative code with err's Kafka ErrorCode
 * (UNKNOWN_TOPIC_OR_PARTITION, MESSAGE_TOO_LARGE, ...). */
int broker_records_append(broker_t *b, const char *topic, size_t len, int32_t partition,
                          const broker_record_t *recs, size_t n, bool durable, int64_t *base_offset,
                          broker_err_t *err);

/* The bytes a partition's log takes on disk. 0 or -WEIR_ENOENT. */
int broker_partition_size(broker_t *b, const char *topic, size_t len, int32_t partition,
                          uint64_t *bytes);

/* A snapshot of every group and its committed offsets, for metrics (consumer lag) and the admin
 * API: owned copies, groups sorted by id, offsets by topic and partition. Any thread except the
 * coordinator's own may call it (it posts to the coordinator and waits at most timeout_ms):
 * 0, -WEIR_ETIMEDOUT, or -WEIR_ECLOSED while the broker stops. `available` is false when the
 * coordinator is not running (the snapshot is then empty). */
typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
} broker_group_offset_t;

typedef struct {
    char *group_id;
    char *protocol_type; /* "" for groups that only commit offsets */
    char *state;         /* Kafka's name, as ListGroups: "Stable", "Empty", "Assigning", ... */
    char *type;          /* "classic", or "consumer" for a KIP-848 group */
    int32_t generation;  /* a classic group's generation, a consumer group's group epoch */
    int32_t members;
    size_t noffsets;
    broker_group_offset_t *offsets;
} broker_group_snap_t;

typedef struct {
    bool available;
    size_t count;
    broker_group_snap_t *groups;
} broker_groups_snapshot_t;

int broker_groups_snapshot(broker_t *b, int64_t timeout_ms, broker_groups_snapshot_t *out);
void broker_groups_snapshot_free(broker_groups_snapshot_t *s);

/* ======================================== metrics =============================================
 * What the broker measures, read by the metrics exposition (src/metrics) from any thread. */
typedef struct {
    const char *name; /* valid during the callback */
    bool internal;
    int32_t partitions;
    uint64_t produce_bytes, produce_records; /* appended (batches as stored) */
    uint64_t schema_refused_batches;         /* refused by schema validation */
    uint64_t fetch_bytes, fetch_records;     /* returned to fetches (whole batches) */
} broker_topic_stats_t;

typedef struct {
    const char *topic; /* valid during the callback */
    int32_t partition;
    int64_t log_start_offset; /* -1 when offline */
    int64_t high_watermark;   /* -1 when offline */
    uint64_t size_bytes;      /* of its segments on disk */
    bool offline;
} broker_partition_stats_t;

/* Visits every live topic, sorted by name, then (on_partition not NULL) its partitions, with the
 * registry read lock held: callbacks only copy what they need and never call the broker. */
void broker_stats_visit(broker_t *b, void (*on_topic)(void *arg, const broker_topic_stats_t *t),
                        void (*on_partition)(void *arg, const broker_partition_stats_t *p),
                        void *arg);

typedef struct {
    int parked;                          /* waiting fetches and acks=-1 produces */
    uint64_t fsyncs;                     /* the group-commit flusher's fdatasyncs */
    uint64_t fsync_bytes;                /* segment bytes they made durable */
    metric_hist_snap_t fsync_seconds;    /* time in each fdatasync */
    metric_hist_snap_t fsync_group_size; /* acks=-1 waits each fdatasync released */
} broker_stats_t;

void broker_stats(broker_t *b, broker_stats_t *out);
/* ===================================== transactions ===========================================
 * The transaction coordinator (KIP-98), reached like the group coordinator: each request is
 * posted to loop 0 and completes through op->on_done (on loop 0, exactly once, possibly before
 * the call returns); the request struct and its strings must live until then. Errors are Kafka's
 * (PRODUCER_FENCED is left for the handler to map for old versions). See docs/transactions.md. */

typedef struct broker_txn_op broker_txn_op_t;
struct broker_txn_op {
    void (*on_done)(broker_txn_op_t *op);
    /* the broker's */
    broker_t *b;
    int kind;
    void *req;
};

/* InitProducerId with a transactional id (without one: broker_init_producer_id). */
typedef struct {
    const char *transactional_id;
    int32_t timeout_ms;
    int64_t producer_id;    /* v3+ (KIP-360): the producer's current id, or -1 */
    int16_t producer_epoch; /* and epoch, or -1 */
    int16_t error;          /* out */
    int64_t out_producer_id;
    int16_t out_epoch;
} broker_txn_init_req_t;

typedef struct {
    const char *topic;
    int32_t partition;
    int16_t error; /* out */
} broker_txn_part_t;

/* AddPartitionsToTxn (and AddOffsetsToTxn, whose one partition is the group's partition of
 * __consumer_offsets: set group_id and no parts). */
typedef struct {
    const char *transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    bool verify_only;     /* v4: only check that the partitions are in the transaction */
    const char *group_id; /* AddOffsetsToTxn */
    size_t part_count;
    broker_txn_part_t *parts;
    int16_t error; /* out: AddOffsetsToTxn's answer, and the error every part got if shared */
} broker_txn_add_req_t;

typedef struct {
    const char *transactional_id;
    int64_t producer_id;
    int16_t producer_epoch;
    bool commit;
    int16_t error; /* out */
} broker_txn_end_req_t;

/* DescribeTransactions: one item per id; the out fields are valid during on_done only. */
typedef struct {
    const char *transactional_id;
    int16_t error;     /* out */
    const char *state; /* out: Kafka's state name */
    int32_t timeout_ms;
    int64_t start_ms; /* -1 */
    int64_t producer_id;
    int16_t producer_epoch;
    size_t part_count;
    const broker_txn_part_t *parts;
} broker_txn_describe_item_t;

typedef struct {
    size_t count;
    broker_txn_describe_item_t *items;
} broker_txn_describe_req_t;

typedef struct {
    const char *transactional_id;
    int64_t producer_id;
    const char *state;
} broker_txn_listing_t;

/* ListTransactions: filters in; the listing out (valid during on_done only). */
typedef struct {
    size_t state_count;
    const char *const *states; /* unknown names are listed in unknown_states */
    size_t pid_count;
    const int64_t *pids;
    int64_t min_duration_ms; /* v1: only transactions open longer than this; -1 all */
    int16_t error;           /* out */
    size_t count;
    broker_txn_listing_t *txns;
    size_t unknown_count;
    const char **unknown_states;
} broker_txn_list_req_t;

/* TxnOffsetCommit: offsets written in the producer's transaction, visible to the group once it
 * commits (dropped if it aborts). Each part's error is set; the group checks are
 * OffsetCommit's (generation, member id, instance id; v3+). */
typedef struct {
    const char *transactional_id;
    const char *group_id;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t generation_id; /* -1 */
    const char *member_id; /* "" */
    const char *instance_id;
    size_t part_count;
    broker_commit_part_t *parts;
} broker_txn_commit_req_t;

/* WriteTxnMarkers (kafka-transactions.sh abort): markers written straight to partitions. */
typedef struct {
    int64_t producer_id;
    int16_t producer_epoch;
    bool commit;
    int32_t coordinator_epoch;
    size_t part_count;
    broker_txn_part_t *parts; /* errors out */
} broker_txn_marker_t;

typedef struct {
    size_t count;
    broker_txn_marker_t *markers;
} broker_txn_markers_req_t;

void broker_txn_init_producer_id(broker_t *b, broker_txn_init_req_t *req, broker_txn_op_t *op);
void broker_txn_add_partitions(broker_t *b, broker_txn_add_req_t *req, broker_txn_op_t *op);
void broker_txn_end(broker_t *b, broker_txn_end_req_t *req, broker_txn_op_t *op);
void broker_txn_describe(broker_t *b, broker_txn_describe_req_t *req, broker_txn_op_t *op);
void broker_txn_list(broker_t *b, broker_txn_list_req_t *req, broker_txn_op_t *op);
void broker_txn_offset_commit(broker_t *b, broker_txn_commit_req_t *req, broker_txn_op_t *op);
void broker_txn_write_markers(broker_t *b, broker_txn_markers_req_t *req, broker_txn_op_t *op);

/* DescribeProducers of one partition: its producers (*out, caller frees). -WEIR_ENOENT for an
 * unknown partition, -WEIR_EOFFLINE. */
typedef struct {
    int64_t producer_id;
    int32_t epoch;
    int32_t last_sequence;
    int64_t last_timestamp;
    int32_t coordinator_epoch;
    int64_t txn_start_offset;
} broker_producer_desc_t;
int broker_describe_producers(broker_t *b, const char *topic, size_t len, int32_t partition,
                              broker_producer_desc_t **out, size_t *n);
/* ---- users: SCRAM credentials (users.c) -------------------------------------------------------
 * Kept in <data>/scram-credentials (salted and hashed, never a password), rewritten atomically
 * and durably on every change. Any thread. */
/* A user name Weir stores: 1..255 bytes, no control characters. */
bool broker_user_name_ok(const char *name);
/* The user's credential for mech: 0, or -WEIR_ENOENT. */
int broker_user_scram_get(broker_t *b, const char *user, auth_mech_t mech, auth_scram_cred_t *out);
/* SASL PLAIN: 0 when password matches one of the user's credentials, -WEIR_ENOENT for an unknown
 * user, -WEIR_EINVAL for a wrong password. Runs PBKDF2: milliseconds. */
int broker_user_check_password(broker_t *b, const char *user, const char *password,
                               size_t password_len);
/* Adds or replaces the user's credential for cred->mech and persists. 0, -WEIR_EINVAL (a name
 * broker_user_name_ok refuses), -WEIR_ETOOBIG (too many users), -WEIR_EIO. */
int broker_user_scram_set(broker_t *b, const char *user, const auth_scram_cred_t *cred);
/* Removes one credential (the user goes with its last). 0, -WEIR_ENOENT, -WEIR_EIO. */
int broker_user_scram_delete(broker_t *b, const char *user, auth_mech_t mech);

typedef struct {
    char *name;
    int32_t iterations[AUTH_SCRAM__COUNT]; /* 0: no credential for that mechanism */
} broker_user_info_t;
/* A snapshot of every user, in no particular order; free with broker_users_list_free. */
size_t broker_users_list(broker_t *b, broker_user_info_t **out);
void broker_users_list_free(broker_user_info_t *v, size_t n);

/* ---- client quotas (quotas.c) -------------------------------------------------------------------
 * Kafka's client quotas: values per entity, an entity being a user, a client id, both, or an IP,
 * each named or the default (Kafka's <default>, a null name on the wire). Kept in
 * <data>/client-quotas, rewritten atomically and durably on every change. Any thread. */
typedef enum {
    BROKER_QUOTA_PRODUCER_BYTE_RATE,
    BROKER_QUOTA_CONSUMER_BYTE_RATE,
    BROKER_QUOTA_REQUEST_PERCENTAGE,
    BROKER_QUOTA_CONTROLLER_MUTATION_RATE,
    BROKER_QUOTA_CONNECTION_CREATION_RATE,
    BROKER_QUOTA__COUNT
} broker_quota_key_t;
/* Kafka's key names: "producer_byte_rate", ...; broker_quota_key_parse gives -1 if unknown. */
extern const char *const broker_quota_key_names[BROKER_QUOTA__COUNT];
int broker_quota_key_parse(const char *name);

/* The entity components, Kafka's entity types "user", "client-id", "ip". */
typedef enum { BROKER_QE_USER, BROKER_QE_CLIENT, BROKER_QE_IP, BROKER_QE__COUNT } broker_qe_type_t;
extern const char *const broker_qe_type_names[BROKER_QE__COUNT];
typedef enum { BROKER_QE_ABSENT = 0, BROKER_QE_DEFAULT, BROKER_QE_NAMED } broker_qe_state_t;
typedef struct {
    broker_qe_state_t state[BROKER_QE__COUNT];
    const char *name[BROKER_QE__COUNT]; /* when NAMED */
} broker_quota_entity_t;

typedef struct {
    broker_quota_key_t key;
    double value;
    bool remove;
} broker_quota_op_t;

/* Checks an entity and its operations as Kafka's controller does (known entity combination
 * and keys, values > 0, integral values for the byte and connection rates), then, unless
 * validate_only, applies them all and persists. 0; -WEIR_EINVAL with err filled
 * (INVALID_REQUEST and Kafka's message); -WEIR_EIO (nothing changed). */
int broker_quota_alter(broker_t *b, const broker_quota_entity_t *e, const broker_quota_op_t *ops,
                       size_t nops, bool validate_only, broker_err_t *err);

/* One stored entity and its values (NAN: not set), for DescribeClientQuotas. */
typedef struct {
    broker_qe_state_t state[BROKER_QE__COUNT];
    char *name[BROKER_QE__COUNT];
    double value[BROKER_QUOTA__COUNT];
} broker_quota_entry_t;
size_t broker_quotas_list(broker_t *b, broker_quota_entry_t **out);
void broker_quotas_list_free(broker_quota_entry_t *v, size_t n);

/* The quota of `key` that applies to (user, client id) by Kafka's precedence (for
 * connection_creation_rate, user is an IP: its own quota, else the default IP's): user+client-id,
 * user+default client-id, user, default user+client-id, default user+default client-id,
 * default user, client-id, default client-id. NAN when none. */
double broker_quota_resolve(broker_t *b, broker_quota_key_t key, const char *user,
                            const char *client_id);
/* Whether any entity has a value of key: one relaxed load. */
bool broker_quota_active(broker_t *b, broker_quota_key_t key);
/* Records `amount` (bytes; or request time in ms for request_percentage) against the quota of
 * `key` for (user, client id) at now_ms and returns the throttle time in ms Kafka's windowed
 * rate gives (quota.window.num samples of quota.window.size.seconds), 0 when within the quota.
 * For connection_creation_rate, `user` is the peer's IP and the quota is the IP's or the default
 * IP's, rated per IP. With no quota of that key stored anywhere it is one relaxed load. */
int32_t broker_quota_record(broker_t *b, broker_quota_key_t key, const char *user,
                            const char *client_id, double amount, int64_t now_ms);

/* ---- ACLs: Kafka's authorizer (acl.c) ----------------------------------------------------------
 * Kafka's model and numbering (AclBinding): a resource pattern (type, name, LITERAL or PREFIXED)
 * and an entry (principal "User:alice" or "User:*", host "*" or an IP, operation, ALLOW or
 * DENY). On when authorizer.class.name names Kafka's StandardAuthorizer or AclAuthorizer;
 * super.users and allow.everyone.if.no.acl.found as Kafka. Kept in <data>/acls, rewritten
 * atomically and durably on every change; at most BROKER_ACLS_MAX. Any thread. */
enum { BROKER_ACLS_MAX = 100000 };
/* Kafka's numbering of the resource types, operations, pattern and permission types is the
 * codec's (KAFKA_RESOURCE_*, KAFKA_ACL_OP_*, KAFKA_PATTERN_*, KAFKA_ACL_PERM_*). */
#define BROKER_ACL_CLUSTER_NAME "kafka-cluster"

/* One ACL binding, or (in a filter) a pattern: NULL strings and the ANY values match
 * anything, MATCH matches the patterns that would apply to the name. */
typedef struct {
    int8_t resource_type;
    int8_t pattern_type;
    const char *resource_name;
    const char *principal;
    const char *host;
    int8_t operation;
    int8_t permission;
} broker_acl_t;

/* Whether an authorizer is configured. One relaxed load: the check's whole cost when off. */
bool broker_acl_enabled(const broker_t *b);
/* Kafka's decision for principal at host (an IP) doing op on the resource: super users pass;
 * a matching DENY wins over any ALLOW (ALLOW implies DESCRIBE for READ, WRITE, DELETE, ALTER
 * and DESCRIBE_CONFIGS for ALTER_CONFIGS, ALL everything); with no ACL at all on the resource,
 * allow.everyone.if.no.acl.found decides. True when no authorizer is configured. */
bool broker_acl_authorize(broker_t *b, const char *principal, const char *host, int8_t rtype,
                          const char *name, size_t name_len, int8_t op);
/* Kafka 3's authorizeByResourceType: whether op is allowed on some resource of rtype (an
 * ALLOW for the principal on any such resource, no DENY on the wildcard "*"). */
bool broker_acl_authorize_any(broker_t *b, const char *principal, const char *host, int8_t rtype,
                              int8_t op);
/* Checks a binding to create: KAFKA_NONE, or Kafka's code (INVALID_REQUEST) and a message. */
int16_t broker_acl_check(const broker_acl_t *acl, const char **msg);
/* Adds bindings (each already checked; an existing one is not added twice) and persists once.
 * 0, -WEIR_ETOOBIG (past BROKER_ACLS_MAX: nothing added), -WEIR_EIO (nothing added). */
int broker_acls_create(broker_t *b, const broker_acl_t *acls, size_t n);
/* The bindings a filter matches, copied (free with broker_acls_free); sorted by resource. */
size_t broker_acls_describe(broker_t *b, const broker_acl_t *filter, broker_acl_t **out);
/* Removes what any of the filters match and persists once; out[i] / nout[i]: what filter i
 * removed (one binding may be reported under several filters, as Kafka does). 0 or -WEIR_EIO
 * (nothing removed). */
int broker_acls_delete(broker_t *b, const broker_acl_t *filters, size_t nf, broker_acl_t **out,
                       size_t *nout);
void broker_acls_free(broker_acl_t *v, size_t n);
/* Kafka's names: "TOPIC", "PREFIXED", "READ", "ALLOW"; NULL for an unknown value. */
const char *broker_acl_resource_name(int8_t v);
const char *broker_acl_pattern_name(int8_t v);
const char *broker_acl_operation_name(int8_t v);
const char *broker_acl_permission_name(int8_t v);

#endif
