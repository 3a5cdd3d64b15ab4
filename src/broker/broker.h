/*
 * broker: the broker's state and its produce and fetch paths. The Kafka handlers (src/kafka)
 * decode requests and encode responses; this module owns what they act on: settings, the
 * topic registry and its partitions (each a storage_log_t), the event loops, the flusher, the
 * append path with its hooks and the fetch waiters.
 *
 * Threads and ownership.
 *  - io loops: b->loops[0..nloops), one thread each. A request is handled on its connection's
 *    loop thread from decode to response. Loop 0 also runs the listener (which hands sockets
 *    round-robin to all loops) and the maintenance timer (retention, segment.ms, compaction
 *    every log.retention.check.interval.ms).
 *  - the topic registry (name -> broker_topic_t) is under b->topics_lock, a writer-preferring
 *    rwlock. Every use of a topic, a partition or a partition's log happens with the read lock
 *    held; creating, deleting and growing topics and changing configs take the write lock. A
 *    deleted topic's logs are destroyed under the write lock (so no reader can be using them),
 *    its memory lives on while parked requests hold references (broker_topic_ref).
 *  - each storage_log_t has its own mutex (in storage); partition->append_mu serializes the
 *    produce hooks with the append so a check-then-append (idempotence) is atomic.
 *  - one storage flusher thread does group commit; its durable callbacks only post to loops.
 *  - the HTTP server runs on libmicrohttpd's own thread.
 *  - settings are atomics: dynamic ones change at run time (AlterConfigs) under the registry
 *    write lock, and are read anywhere without a lock.
 */
#ifndef WEIR_BROKER_INTERNAL_H
#define WEIR_BROKER_INTERNAL_H

#include "base/base.h"
#include "net/net.h"
#include "storage/storage.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct broker broker_t;
typedef struct broker_topic broker_topic_t;
typedef struct broker_partition broker_partition_t;

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
    /* added by the groups/idempotence work (src/broker/coordinator.c) */
    BCFG_OFFSETS_TOPIC_NUM_PARTITIONS,
    BCFG_PRODUCER_ID_EXPIRATION_MS,
    BCFG_TRANSACTION_MAX_TIMEOUT_MS,
    BCFG_PRODUCER_SNAPSHOT_INTERVAL_OFFSETS,
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

/* ---- topic configs --------------------------------------------------------------------------
 * The per-topic settings, each with the broker setting that gives its default. */
typedef enum {
    TCFG_RETENTION_MS,
    TCFG_RETENTION_BYTES,
    TCFG_SEGMENT_BYTES,
    TCFG_SEGMENT_MS,
    TCFG_CLEANUP_POLICY,
    TCFG_MAX_MESSAGE_BYTES,
    TCFG_MESSAGE_TIMESTAMP_TYPE,
    TCFG_DELETE_RETENTION_MS,
    TCFG_MIN_COMPACTION_LAG_MS,
    TCFG_INDEX_INTERVAL_BYTES,
    /* accepted and stored for client compatibility, without effect on one node: */
    TCFG_MIN_INSYNC_REPLICAS,
    TCFG_COMPRESSION_TYPE,
    TCFG_UNCLEAN_LEADER_ELECTION_ENABLE,
    TCFG_FLUSH_MESSAGES,
    TCFG_FLUSH_MS,
    TCFG__COUNT
} broker_topic_cfg_key_t;

typedef struct {
    const char *name;
    int broker_key; /* broker_cfg_key_t giving the default, or -1 (then def is used) */
    broker_cfg_type_t type;
    const char *def;
    int64_t min, max;
    const char *values; /* ENUM values, as in broker_cfg_def_t */
    bool is_list;       /* APPEND/SUBTRACT allowed (IncrementalAlterConfigs) */
    const char *doc;
} broker_topic_cfg_def_t;

extern const broker_topic_cfg_def_t broker_topic_cfg_defs[TCFG__COUNT];
int broker_topic_cfg_find(const char *name, size_t len); /* key or -1 */
/* Checks one value for a topic config, normalizing it into out (256 bytes). */
int broker_topic_cfg_check(int key, const char *value, char *out, size_t out_len, char *err,
                           size_t err_len);

/* A topic's overrides: text values, NULL = not set (the broker default applies). */
typedef struct {
    char *val[TCFG__COUNT];
} broker_topic_overrides_t;

void broker_topic_overrides_free(broker_topic_overrides_t *o);
void broker_topic_overrides_copy(broker_topic_overrides_t *dst,
                                 const broker_topic_overrides_t *src);
/* The effective value of a topic config as text (override, else broker setting, else default)
 * and its source; buf holds 64 bytes. */
const char *broker_topic_cfg_value(const broker_t *b, const broker_topic_overrides_t *o, int key,
                                   char *buf, size_t len, int *source);
/* The effective value parsed: INT as is, BOOL 0/1, ENUM its index, a list a bitmask. */
int64_t broker_topic_cfg_int(const broker_t *b, const broker_topic_overrides_t *o, int key);

/* Dynamic broker configs (AlterConfigs on the broker resource). value NULL = back to the
 * static value. replace (AlterConfigs) first resets every dynamic setting not listed. Checks
 * everything before changing anything; persists to <data>/dynamic.properties and reconfigures
 * every topic. Returns a Kafka ErrorCode with a message. */
typedef struct {
    int key;
    const char *value;
} broker_cfg_change_t;
int16_t broker_dynamic_alter(broker_t *b, const broker_cfg_change_t *ch, size_t n, bool replace,
                             bool validate_only, char *msg, size_t msg_len);

/* ================================== topics and partitions ===================================== */

struct broker_partition {
    broker_topic_t *topic;
    int32_t index;
    storage_log_t *log;            /* NULL once the topic is deleted (under the write lock) */
    pthread_mutex_t append_mu;     /* produce hooks + append, atomically */
    pthread_mutex_t wait_mu;       /* the fetch waiter list */
    struct broker_waiter *waiters; /* under wait_mu */
    _Atomic int nwaiters;          /* read without the lock on the append path */
    void *producer_state;          /* owned by the idempotence module (issue 4) */
};

struct broker_topic {
    char *name;
    _Atomic int refs;
    bool deleted;  /* under the write lock */
    bool internal; /* __consumer_offsets, __transaction_state */
    int32_t npart;
    broker_partition_t **parts; /* npart entries; grows under the write lock */
    broker_topic_overrides_t over;
    /* effective settings, recomputed under the write lock when configs change */
    storage_log_config_t log_cfg;
    _Atomic int64_t max_message_bytes;
    _Atomic bool log_append_time;
    broker_topic_t *hnext; /* registry hash chain */
};

void broker_topics_rdlock(broker_t *b);
void broker_topics_wrlock(broker_t *b);
void broker_topics_unlock(broker_t *b);

/* Lookups: the registry lock must be held. NULL if absent. */
broker_topic_t *broker_topic_find(broker_t *b, const char *name, size_t len);
broker_partition_t *broker_partition_find(broker_t *b, const char *name, size_t len, int32_t idx);
/* All live topics, sorted by name (lock held; caller frees the array). */
broker_topic_t **broker_topics_list(broker_t *b, size_t *n);
size_t broker_topics_count(broker_t *b);

void broker_topic_ref(broker_topic_t *t);
void broker_topic_unref(broker_topic_t *t);

/* Topic name rules (names are directory names): [a-zA-Z0-9._-], 1..249, not "." or "..". */
bool broker_topic_name_valid(const char *name, size_t len, const char **why);

/* Creates a topic (takes the write lock). nparts -1 = num.partitions. Returns a Kafka
 * ErrorCode (0 on success) and, on error, a message in msg (256 bytes). With validate_only,
 * checks everything and creates nothing. */
int16_t broker_topic_create(broker_t *b, const char *name, int32_t nparts,
                            const broker_topic_overrides_t *over, bool validate_only, char *msg,
                            size_t msg_len);
int16_t broker_topic_delete(broker_t *b, const char *name, char *msg, size_t msg_len);
int16_t broker_topic_add_partitions(broker_t *b, const char *name, int32_t count,
                                    bool validate_only, char *msg, size_t msg_len);
/* Replaces (incremental=false) or merges the overrides of a topic. Takes the write lock. */
int16_t broker_topic_set_configs(broker_t *b, const char *name,
                                 const broker_topic_overrides_t *over, bool validate_only,
                                 char *msg, size_t msg_len);
/* Recomputes every topic's effective config after a broker setting changed (write lock held). */
void broker_topics_reconfigure(broker_t *b);

/* Writes dir/name atomically (a temporary file, fdatasync, rename, fsync of dir). */
int broker_write_file_atomic(const char *dir, const char *name, const buf_t *content);

/* Loads topics from the data dir at start; removes orphan partition directories. */
int broker_topics_load(broker_t *b);
/* Closes every log (clean shutdown) and frees the registry. */
void broker_topics_close(broker_t *b);

/* Internal topic names per Kafka (Topic.isInternal). */
bool broker_topic_name_internal(const char *name);

/* ======================================= produce ============================================== */

/* Hooks for the idempotent/transactional producer (issue 4). Both run with the partition's
 * append_mu held, on the request's loop thread. */
typedef struct {
    const char *transactional_id; /* NULL for none */
    size_t transactional_id_len;
    int16_t api_version;
    int16_t acks;
} broker_produce_ctx_t;

typedef struct {
    /* Before one batch is appended. Returns a Kafka ErrorCode (0: append it). To answer a
     * duplicate batch with its original offset instead of appending, set *duplicate and
     * *dup_base_offset and return 0. */
    int16_t (*before_append)(void *arg, broker_partition_t *p, const broker_produce_ctx_t *ctx,
                             const storage_batch_header_t *h, bool *duplicate,
                             int64_t *dup_base_offset);
    /* After it was appended at base_offset. */
    void (*after_append)(void *arg, broker_partition_t *p, const broker_produce_ctx_t *ctx,
                         const storage_batch_header_t *h, int64_t base_offset);
    void *arg;
} broker_produce_hooks_t;

/* The outcome of producing one partition's records. */
typedef struct {
    int16_t error_code;
    const char *error_message; /* static string or NULL */
    int64_t base_offset;       /* first offset of the first batch, -1 on error */
    int64_t end_offset;        /* after the last appended batch (for acks=-1) */
    int64_t log_append_time;   /* -1 unless LogAppendTime */
    int64_t log_start_offset;
} broker_produce_result_t;

/* Validates and appends the record batches of one partition (records is the Produce request's
 * RECORDS field, modified in place: base offsets, leader epoch, LogAppendTime). Registry read
 * lock held by the caller. Wakes fetch waiters. */
void broker_produce_partition(broker_t *b, broker_partition_t *p, const broker_produce_ctx_t *ctx,
                              uint8_t *records, size_t len, broker_produce_result_t *res);

/* ======================================== fetch ===============================================
 * Long-poll fetch waiters. A waiting request registers one broker_waiter_t per partition; the
 * append path calls notify(owner) for each, from the appending thread with p->wait_mu held, so
 * notify must only post (net_loop_post) and never block or take registry locks. */
typedef struct broker_waiter {
    struct broker_waiter *prev, *next;
    broker_partition_t *part; /* set while registered */
    void (*notify)(void *owner);
    void *owner;
} broker_waiter_t;

void broker_waiter_add(broker_partition_t *p, broker_waiter_t *w);
void broker_waiter_remove(broker_waiter_t *w); /* no-op if not registered */
/* Calls notify for every waiter of p (append path; lock-free when there is none). */
void broker_waiters_notify(broker_partition_t *p);

/* Reads whole batches of one partition from `offset` into out as one RECORDS field body (the
 * caller wrote nothing for it yet: this appends the length prefix through w, then the bytes).
 * max_bytes bounds the bytes unless `first` (KIP-74: the first batch of the first non-empty
 * partition is returned whole). Batches compressed with zstd stop the read when !allow_zstd.
 * Registry read lock held. Returns the Kafka ErrorCode for the partition and the bytes written
 * in *got (0 when there is nothing at offset yet). */
int16_t broker_fetch_partition(broker_t *b, broker_partition_t *p, int64_t offset, size_t max_bytes,
                               bool first, bool allow_zstd, buf_t *out, bool flexible, size_t *got);
/* ListOffsets by time: the first record (offset and its timestamp) whose timestamp is >= ts.
 * -WEIR_ENOENT if none. Registry read lock held. */
int broker_offset_for_time(broker_t *b, broker_partition_t *p, int64_t ts, int64_t *offset,
                           int64_t *timestamp);
/* Bytes readable at offset without reading them (for min_bytes), 0 if none; -1 on error. */
int64_t broker_fetch_available(broker_partition_t *p, int64_t offset, size_t max_bytes);

/* ======================================== broker ============================================== */

struct broker {
    broker_settings_t set;
    char *static_sval[BCFG__COUNT]; /* values before dynamic configs, for reverting to them */
    int static_source[BCFG__COUNT];
    int lock_fd; /* flock on <data>/.lock: one broker per data dir */
    char *data_dir;
    char cluster_id[32];
    int32_t node_id;

    net_loop_t **loops; /* the server's event loops (not owned); loop 0 is the coordinator's */
    int nloops;
    net_timer_t maint_timer; /* loop 0 */
    storage_flusher_t *flusher;
    storage_io_t *io;

    pthread_rwlock_t topics_lock;
    broker_topic_t **buckets;
    size_t nbuckets, ntopics;

    _Atomic int parked;    /* requests waiting (fetch long polls, acks=-1 produces) */
    _Atomic bool stopping; /* set at stop: waiting fetches answer at once */

    broker_produce_hooks_t produce_hooks;
    void *groups; /* the group coordinator (issue 4) */
    void *txn;    /* the transaction coordinator (issue 4) */
};

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
bool broker_stopping(const broker_t *b);

/* ======================= group coordinator and idempotent producer ============================
 * coordinator.c (the groups/idempotence work). The coordinator runs on loop 0; see group.h. */
int broker_groups_start(broker_t *b); /* after the loops run, before the listener opens */
void broker_groups_stop(broker_t *b); /* before the loops stop; idempotent, safe if not started */
void broker_groups_free(broker_t *b); /* after the loop threads were joined */
/* A partition's producer state (p->producer_state), opened after its log, closed before it. */
void broker_partition_state_open(broker_t *b, broker_partition_t *p, const char *dir);
void broker_partition_state_close(broker_t *b, broker_partition_t *p, bool destroy);

/* The broker a request runs in; parked-request accounting for a clean stop. */
void broker_parked_inc(broker_t *b);
void broker_parked_dec(broker_t *b);
/* The loop the caller runs on (the loop of a request's connection). */
int32_t broker_node_id(const broker_t *b);

/* Maximum bytes a batch may decompress to during validation. */
size_t broker_max_decompressed(const broker_t *b);

/* Partition offsets for responses (read lock held). */
int64_t broker_partition_hwm(broker_partition_t *p);
int64_t broker_partition_lso(broker_partition_t *p); /* = HWM until transactions exist */
int64_t broker_partition_log_start(broker_partition_t *p);

#endif
