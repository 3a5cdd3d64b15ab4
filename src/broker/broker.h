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

#include "base/base.h"
#include "kafka/wire/wire.h"
#include "net/net.h"

#include <stdatomic.h>

typedef struct broker broker_t;

/* A Kafka ErrorCode with its message, for the response. */
typedef struct {
    int16_t code;
    char message[256];
} broker_err_t;

/* ====================================== settings ============================================ */

/* Every broker setting, by its Kafka name (broker_setting_defs in config.c has names, types,
 * defaults, bounds and whether it can change at run time). To add a setting: one enum value
 * here, one row in the table. */
typedef enum {
    BCFG_NODE_ID,
    BCFG_BROKER_ID, /* alias of node.id */
    BCFG_LOG_DIRS,
    BCFG_LOG_DIR, /* alias of log.dirs */
    BCFG_LISTENERS,
    BCFG_ADVERTISED_LISTENERS,
    BCFG_NUM_IO_THREADS,
    BCFG_NUM_PARTITIONS,
    BCFG_DEFAULT_REPLICATION_FACTOR,
    BCFG_AUTO_CREATE_TOPICS_ENABLE,
    BCFG_DELETE_TOPIC_ENABLE,
    BCFG_LOG_RETENTION_MS,
    BCFG_LOG_RETENTION_MINUTES,
    BCFG_LOG_RETENTION_HOURS,
    BCFG_LOG_RETENTION_BYTES,
    BCFG_LOG_SEGMENT_BYTES,
    BCFG_LOG_ROLL_MS,
    BCFG_LOG_ROLL_HOURS,
    BCFG_LOG_CLEANUP_POLICY,
    BCFG_LOG_CLEANER_DELETE_RETENTION_MS,
    BCFG_LOG_CLEANER_MIN_COMPACTION_LAG_MS,
    BCFG_LOG_INDEX_INTERVAL_BYTES,
    BCFG_LOG_MESSAGE_TIMESTAMP_TYPE,
    BCFG_LOG_RETENTION_CHECK_INTERVAL_MS,
    BCFG_LOG_FLUSH_INTERVAL_MS,
    BCFG_LOG_PREALLOCATE_BYTES,
    BCFG_MESSAGE_MAX_BYTES,
    BCFG_FETCH_MAX_BYTES,
    BCFG_SOCKET_REQUEST_MAX_BYTES,
    BCFG_CONNECTIONS_MAX_IDLE_MS,
    BCFG_MAX_CONNECTIONS,
    BCFG_QUEUED_MAX_REQUESTS,
    BCFG_MAX_DECOMPRESSED_BYTES,
    /* the group coordinator's (read by src/broker/group*.c) */
    BCFG_GROUP_MIN_SESSION_TIMEOUT_MS,
    BCFG_GROUP_MAX_SESSION_TIMEOUT_MS,
    BCFG_GROUP_INITIAL_REBALANCE_DELAY_MS,
    BCFG_GROUP_MAX_SIZE,
    BCFG_OFFSETS_RETENTION_MINUTES,
    BCFG_OFFSETS_RETENTION_CHECK_INTERVAL_MS,
    BCFG_OFFSET_METADATA_MAX_BYTES,
    /* added by the groups/idempotence work (src/broker/groups.c) */
    BCFG_OFFSETS_TOPIC_NUM_PARTITIONS,
    BCFG_PRODUCER_ID_EXPIRATION_MS,
    BCFG_TRANSACTION_MAX_TIMEOUT_MS,
    BCFG_PRODUCER_SNAPSHOT_INTERVAL_OFFSETS,
    /* read by the metrics exposition (src/metrics) */
    BCFG_METRICS_PARTITION_LABELS,
    BCFG_METRICS_PARTITION_MAX,
    BCFG_METRICS_CONSUMERGROUP_SUMS,
    BCFG_TRACE_SPANS_MAX, /* the span store behind /v1/traces (src/trace) */
    BCFG__COUNT
} broker_cfg_key_t;

typedef enum { BCFG_TYPE_INT, BCFG_TYPE_BOOL, BCFG_TYPE_STRING, BCFG_TYPE_ENUM } broker_cfg_type_t;

/* Where a setting's value came from (Kafka's DescribeConfigs ConfigSource numbering). */
enum {
    CFG_SOURCE_DYNAMIC_TOPIC = 1,
    CFG_SOURCE_DYNAMIC_BROKER = 2,
    CFG_SOURCE_DYNAMIC_DEFAULT_BROKER = 3,
    CFG_SOURCE_STATIC_BROKER = 4,
    CFG_SOURCE_DEFAULT = 5
};

typedef struct {
    const char *name;
    broker_cfg_type_t type;
    const char *def;    /* default, as text */
    int64_t min, max;   /* INT bounds */
    const char *values; /* ENUM: '|'-separated accepted values; the value is the index */
    bool dynamic;       /* may change at run time (AlterConfigs on the broker) */
    int alias_of;       /* -1, or the key this name sets */
    const char *doc;
} broker_cfg_def_t;

extern const broker_cfg_def_t broker_cfg_defs[BCFG__COUNT];

typedef struct {
    _Atomic int64_t ival[BCFG__COUNT]; /* INT, BOOL (0/1), ENUM (index) */
    char *sval[BCFG__COUNT];           /* text of every value (STRING values live only here) */
    int source[BCFG__COUNT];           /* CFG_SOURCE_* */
} broker_settings_t;

/* Defaults, then the config file, then "key=value" overrides. Unknown keys and bad values are
 * errors (with a message in err, which must hold 256 bytes). */
int broker_settings_load(broker_settings_t *s, const char *config_file,
                         const char *const *overrides, char *err, size_t err_len);
void broker_settings_free(broker_settings_t *s);
int broker_cfg_find(const char *name, size_t len); /* key or -1; resolves aliases */
/* Parses and stores one value (source given); -WEIR_EINVAL with a message on a bad value. */
int broker_settings_set(broker_settings_t *s, int key, const char *value, int source, char *err,
                        size_t err_len);
/* Back to the default value (DeleteConfig of a dynamic setting). */
void broker_settings_reset(broker_settings_t *s, int key);
static inline int64_t broker_settings_int(const broker_settings_t *s, broker_cfg_key_t k)
{
    return atomic_load_explicit(&s->ival[k], memory_order_relaxed);
}
/* Effective log.retention.ms (ms, else minutes, else hours, as Kafka resolves them). */
int64_t broker_settings_retention_ms(const broker_settings_t *s);
int64_t broker_settings_roll_ms(const broker_settings_t *s);

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
                          int64_t offset, broker_watermarks_t *out, bool *has_data);
/* The name of the topic with this id into out (cap bytes, NUL-terminated): 0 or -WEIR_ENOENT. */
int broker_topic_name_of(broker_t *b, const uint8_t id[16], char *out, size_t cap);
/* ListOffsets by time: the first record whose timestamp is >= ts, its offset and timestamp;
 * with ts BROKER_TS_MAX, the first record with the largest timestamp (KIP-734).
 * -WEIR_ERANGE when there is none; -WEIR_ENOENT, -WEIR_EOFFLINE as above. */
enum { BROKER_TS_MAX = -3 };
int broker_offset_for_time(broker_t *b, const char *topic, size_t len, int32_t partition,
                           int64_t ts, int64_t *offset, int64_t *timestamp);
/* DeleteRecords: moves the log start to offset (-1 = the high watermark); *low is the new log
 * start. -WEIR_ERANGE for an offset outside [0, high watermark]. Waiting fetches are woken. */
int broker_delete_records(broker_t *b, const char *topic, size_t len, int32_t partition,
                          int64_t offset, int64_t *low);

/* ======================================= produce ==============================================
 * A Produce request as the broker sees it: the caller decodes it into these structs and keeps
 * them (and, for acks=-1, the topic names) alive until the produce finished. */
typedef struct {
    int16_t error_code;
    const char *error_message; /* static string or NULL */
    int64_t base_offset;       /* first offset of the first batch, -1 on error */
    int64_t log_append_time;   /* -1 unless LogAppendTime */
    int64_t log_start_offset;
    int32_t record_error_index;     /* a record that failed (Produce v8 record_errors), or -1 */
    char record_error_message[160]; /* its reason */
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

/* What broker_fetch_read found, for the partition's response fields. */
typedef struct {
    int16_t error_code;
    broker_watermarks_t wm; /* -1s when the partition is unknown */
} broker_fetch_info_t;

/* Appends whole batches of one partition from `offset` to out (no length prefix), at most
 * max_bytes unless `first` (KIP-74: the first batch of the first non-empty partition is
 * returned whole). Batches compressed with zstd stop the read when !allow_zstd. *got is the
 * number of bytes appended (0 when there is nothing at offset yet). */
void broker_fetch_read(broker_t *b, const broker_fetch_part_t *part, size_t max_bytes, bool first,
                       bool allow_zstd, buf_t *out, size_t *got, broker_fetch_info_t *info);

/* ======================================== configs =============================================
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics and this broker. */
enum { BROKER_RESOURCE_TOPIC = 2, BROKER_RESOURCE_BROKER = 4 };
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

typedef struct {
    const char *name;
    char *value; /* owned */
    bool read_only;
    int8_t source; /* CFG_SOURCE_* */
    bool sensitive;
    const char *doc;
    size_t nsynonyms; /* most specific first */
    broker_config_synonym_t synonyms[2];
} broker_config_entry_t;

typedef struct {
    size_t n;
    broker_config_entry_t *entries;
} broker_config_list_t;

/* Every config of a resource (a topic by name, the broker by node id or "" for the cluster
 * default). -WEIR_ENOENT / -WEIR_EINVAL with err filled for an unknown resource. */
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
 * checked before anything changes. */
int broker_configs_alter(broker_t *b, int8_t type, const char *name, size_t len,
                         const broker_config_op_t *ops, size_t n, bool incremental,
                         bool validate_only, broker_err_t *err);

/* ================================== idempotent producer ======================================= */

/* InitProducerId: a fresh producer id with epoch 0, or (transactional_id) the id's producer with
 * the next epoch. err->code is the Kafka ErrorCode. */
int broker_init_producer_id(broker_t *b, const char *transactional_id, int32_t txn_timeout_ms,
                            int64_t *producer_id, int16_t *epoch, broker_err_t *err);

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

/* A committed offset, as stored. */
typedef struct {
    int64_t offset;
    int32_t leader_epoch; /* -1 unknown */
    const char *metadata; /* never NULL in results ("" when none) */
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
    bool require_known_member_id; /* JoinGroup v4+: MEMBER_ID_REQUIRED for new members */
} broker_group_join_req_t;

typedef struct {
    const char *member_id;
    const uint8_t *assignment;
    size_t assignment_len;
} broker_group_assignment_t;

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
    const char *metadata; /* NULL = null metadata, stored as "" */
    int64_t commit_ts_ms; /* -1: now (OffsetCommit v1 may carry one) */
    int16_t error;        /* out */
} broker_commit_part_t;

typedef struct {
    const char *group_id;
    int32_t generation_id; /* -1 with "" member id: a standalone consumer */
    const char *member_id;
    const char *instance_id;
    int64_t retention_ms; /* OffsetCommit v2-4 retention_time_ms; -1 = the broker default */
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
    bool all;
    size_t part_count;
    broker_offset_fetch_part_t *parts;
    int16_t error;                         /* out: group-level */
    size_t all_count;                      /* out, with all */
    broker_offset_fetch_part_t *all_parts; /* out, with all; in no set order */
} broker_offset_fetch_req_t;

/* ListGroups: every group (valid during on_done only). */
typedef struct {
    const char *group_id;
    const char *protocol_type;
    broker_group_state_t state;
} broker_group_listing_t;

typedef struct {
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
    void (*on_sync)(broker_group_op_t *op, int16_t error, const uint8_t *assignment, size_t len);
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
    broker_group_state_t state;
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

#endif
