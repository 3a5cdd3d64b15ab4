/*
 * broker_internal: what the files of src/broker share among themselves (and white-box tests):
 * the broker, topic and partition structs, the topic registry and its lock, topic configs, the
 * partition watch list that wakes waiting fetches, and the wiring of the group coordinator.
 * No other module includes this header; they use broker.h.
 *
 * Threads and locks.
 *  - io loops: one thread each (owned by the server). A request is handled on its connection's
 *    loop thread from decode to response. Loop 0 also runs the group coordinator (groups.c)
 *    and the maintenance timer (retention, segment.ms, compaction).
 *  - the topic registry (name -> broker_topic_t) is under b->topics_lock, a writer-preferring
 *    rwlock. Every use of a topic, a partition or a partition's log happens with the read lock
 *    held; creating, deleting and growing topics and changing configs take the write lock. A
 *    deleted topic's logs are destroyed under the write lock (so no reader can be using them),
 *    its memory lives on while waiting requests hold references (broker_topic_ref). Public
 *    functions take the lock themselves; functions here say when the caller must hold it.
 *  - each storage_log_t has its own mutex (in storage); partition->append_mu serializes the
 *    idempotence check with the append so a check-then-append is atomic.
 *  - partition->watch_mu guards the partition's watch list (waiting fetches).
 *  - one storage flusher thread does group commit; its durable callbacks only post to loops.
 *  - settings are atomics: dynamic ones change at run time (AlterConfigs) under the registry
 *    write lock, and are read anywhere without a lock.
 *  Lock order: topics_lock, then append_mu, then the log's own locks; watch_mu is taken alone
 *  (the append path takes it after releasing append_mu).
 */
#ifndef WEIR_BROKER_INTERNAL_H
#define WEIR_BROKER_INTERNAL_H

#include "broker/broker.h"
#include "storage/storage.h"

#include <pthread.h>

typedef struct broker_topic broker_topic_t;
typedef struct broker_partition broker_partition_t;

/* ====================================== topic configs
 * -------------------------------------------------------------------------- The per-topic
 * settings, each with the broker setting that gives its default. */
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

/* ================================== topics and partitions ===================================== */

struct broker_partition {
    broker_topic_t *topic;
    int32_t index;
    storage_log_t *log;           /* NULL once the topic is deleted (under the write lock) */
    pthread_mutex_t append_mu;    /* the idempotence check + append, atomically */
    pthread_mutex_t watch_mu;     /* the watch list */
    struct broker_watch *watches; /* under watch_mu: waiting fetches */
    _Atomic int nwatches;         /* read without the lock on the append path */
    struct broker_producer_state *producers; /* the idempotent producers' state */
};

struct broker_topic {
    char *name;
    uint8_t id[16]; /* the topic id (a UUID): persisted, new when a topic is re-created */
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
    /* metrics, read by broker_stats_visit: what clients wrote and read (batches as stored) */
    struct {
        metric_counter_t produce_bytes, produce_records, fetch_bytes, fetch_records;
    } m;
    broker_topic_t *hnext;  /* registry hash chain by name */
    broker_topic_t *idnext; /* registry hash chain by id */
};

void broker_topics_rdlock(broker_t *b);
void broker_topics_wrlock(broker_t *b);
void broker_topics_unlock(broker_t *b);

/* Lookups: the registry lock must be held. NULL if absent. */
broker_topic_t *broker_topic_find(broker_t *b, const char *name, size_t len);
broker_topic_t *broker_topic_find_id(broker_t *b, const uint8_t id[16]);
broker_partition_t *broker_partition_find(broker_t *b, const char *name, size_t len, int32_t idx);
/* All live topics, sorted by name (lock held; caller frees the array). */
broker_topic_t **broker_topics_list(broker_t *b, size_t *n);

void broker_topic_ref(broker_topic_t *t);
void broker_topic_unref(broker_topic_t *t);

/* Random bytes from the kernel (a clock-seeded generator if it has none). */
void broker_random_bytes(uint8_t *p, size_t n);

/* Fills err (the Kafka ErrorCode and a printf-style message) and returns rc. */
int broker_fail(broker_err_t *err, int rc, int16_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Topic configs given by name and value into overrides (checked and normalized): INVALID_CONFIG
 * naming the first bad one. */
int broker_topic_overrides_parse(broker_topic_overrides_t *o, const broker_config_kv_t *kv,
                                 size_t n, broker_err_t *err);
/* Creates a topic with these overrides (takes the write lock). nparts -1 = num.partitions. */
int broker_topic_create_with(broker_t *b, const char *name, int32_t nparts,
                             const broker_topic_overrides_t *over, bool validate_only,
                             broker_topic_created_t *out, broker_err_t *err);
/* Replaces the overrides of a topic. Takes the write lock. */
int broker_topic_set_configs(broker_t *b, const char *name, size_t len,
                             const broker_topic_overrides_t *over, bool validate_only,
                             broker_err_t *err);
/* Recomputes every topic's effective config after a broker setting changed (write lock held). */
void broker_topics_reconfigure(broker_t *b);

/* Writes dir/name atomically (a temporary file, fdatasync, rename, fsync of dir). */
int broker_write_file_atomic(const char *dir, const char *name, const buf_t *content);

/* Loads topics from the data dir at start; removes orphan partition directories. */
int broker_topics_load(broker_t *b);
/* Closes every log (clean shutdown) and frees the registry. */
void broker_topics_close(broker_t *b);

/* ================================= partitions and watches =====================================
 * A waiting fetch registers one watch per partition; the append path calls notify(owner) for
 * each, from the appending thread with p->watch_mu held, so notify must only post
 * (net_loop_post) and never block or take registry locks. */
typedef struct broker_watch {
    struct broker_watch *prev, *next;
    broker_partition_t *part; /* set while registered */
    void (*notify)(void *owner);
    void *owner;
} broker_watch_t;

void broker_watch_add(broker_partition_t *p, broker_watch_t *w);
void broker_watch_remove(broker_watch_t *w); /* no-op if not registered */
/* Calls notify for every watch of p (append path; lock-free when there is none). */
void broker_watches_notify(broker_partition_t *p);
/* Wakes every waiting fetch of every partition (stop). */
void broker_watches_notify_all(broker_t *b);

/* Partition offsets for responses (registry read lock held). */
int64_t broker_partition_hwm(broker_partition_t *p);
int64_t broker_partition_lso(broker_partition_t *p); /* = HWM until transactions exist */
int64_t broker_partition_log_start(broker_partition_t *p);
/* Bytes readable at offset without reading them (for min_bytes), 0 if none; -1 on error. */
int64_t broker_fetch_available(broker_partition_t *p, int64_t offset, size_t max_bytes);

/* A partition's producer state (p->producers), opened after its log, closed before it. */
void broker_partition_producers_open(broker_t *b, broker_partition_t *p, const char *dir);
void broker_partition_producers_close(broker_t *b, broker_partition_t *p, bool destroy);

/* Parked-request accounting for a clean stop (a waiting fetch or produce). */
void broker_parked_inc(broker_t *b);
void broker_parked_dec(broker_t *b);

/* Dynamic broker configs (AlterConfigs on the broker resource). value NULL = back to the
 * static value. replace (AlterConfigs) first resets every dynamic setting not listed. Checks
 * everything before changing anything; persists to <data>/dynamic.properties and reconfigures
 * every topic. */
typedef struct {
    int key;
    const char *value;
} broker_cfg_change_t;
int broker_dynamic_alter(broker_t *b, const broker_cfg_change_t *ch, size_t n, bool replace,
                         bool validate_only, broker_err_t *err);

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
    broker_topic_t **buckets;    /* by name */
    broker_topic_t **id_buckets; /* by id, as many buckets */
    size_t nbuckets, ntopics;

    _Atomic int parked;    /* requests waiting (fetch long polls, acks=-1 produces) */
    _Atomic bool stopping; /* set at stop: waiting fetches answer at once */

    struct broker_groups *groups;             /* the group coordinator's wiring (groups.c) */
    struct broker_producer_ids *producer_ids; /* InitProducerId (producers.c) */
    net_timer_t producer_timer;               /* loop 0: expiry and snapshots */
};

/* ======================= group coordinator and producer ids (groups.c) ========================
 * The coordinator runs on loop 0; see coord.h. */
int broker_groups_start(broker_t *b); /* after the loops run, before the listener opens */
void broker_groups_stop(broker_t *b); /* before the loops stop; idempotent, safe if not started */
void broker_groups_free(broker_t *b); /* after the loop threads were joined */

/* The idempotent producer's broker-wide parts (producers.c): producer ids and the timer. */
int broker_producers_start(broker_t *b); /* loops running */
void broker_producers_stop(broker_t *b); /* loops still running */
void broker_producers_free(broker_t *b);

#endif
