/*
 * broker_internal: what the files of src/broker share among themselves (and white-box tests):
 * the broker, topic and partition structs, the topic registry and its lock, topic configs, the
 * partition watch list that wakes waiting fetches, and the wiring of the group coordinator.
 * No other module includes this header; they use broker.h.
 *
 * Threads and locks.
 *  - io loops: one thread each (owned by the server). A request is handled on its connection's
 *    loop thread from decode to response. Loop 0 also runs the group coordinator (groups.c)
 *    and the maintenance timer (retention, segment.ms); the log cleaner thread (cleaner.c)
 *    compacts.
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

/* ======================================= config rows ==========================================
 * One config as Kafka defines it (config_kafka.c, generated) or as Weir adds it, for the broker
 * and for topics. Weir's differences from Kafka are applied by broker_cfg_row() and
 * broker_topic_cfg_row(), which every user of the tables goes through. */
enum {
    BCFG_T_UNKNOWN = 0,
    BCFG_T_BOOLEAN = 1,
    BCFG_T_STRING = 2,
    BCFG_T_INT = 3,
    BCFG_T_SHORT = 4,
    BCFG_T_LONG = 5,
    BCFG_T_DOUBLE = 6,
    BCFG_T_LIST = 7,
    BCFG_T_CLASS = 8,
    BCFG_T_PASSWORD = 9
};

enum {
    BCFG_F_DYNAMIC = 1 << 0,  /* may change at run time (AlterConfigs on the broker) */
    BCFG_F_INTERNAL = 1 << 1, /* Kafka's internal configs: accepted, never described */
    BCFG_F_NOCASE = 1 << 2,   /* `values` match case-insensitively */
    BCFG_F_NONEMPTY = 1 << 3, /* an empty value is refused */
    BCFG_F_REPLICAS = 1 << 4, /* "*" or "partition:broker,..." (throttled replicas) */
    BCFG_F_APPLIES = 1 << 5,  /* Weir honours it (else it is only stored and described) */
};

typedef struct {
    const char *name;
    int8_t type;         /* BCFG_T_*: Kafka's type */
    uint16_t flags;      /* BCFG_F_* */
    const char *def;     /* default as text; NULL: none (described as null) */
    const char *lo, *hi; /* bounds as Kafka writes them; NULL: the type's own */
    const char *alt;     /* one more accepted number outside [lo, hi] ("[1,...,9] or -1") */
    const char *values;  /* '|'-separated accepted values (items, for a LIST) */
    int16_t synonyms[3]; /* topic configs: the broker configs giving the default, -1 after */
    const char *doc;
} broker_cfg_row_t;

extern const broker_cfg_row_t broker_kafka_cfgs[BCFG__KAFKA_COUNT];
extern const broker_cfg_row_t broker_kafka_topic_cfgs[TCFG__KAFKA_COUNT];

/* A broker setting's or topic config's row with Weir's differences applied (into *scratch,
 * which is returned). */
const broker_cfg_row_t *broker_cfg_row(int key, broker_cfg_row_t *scratch);
const broker_cfg_row_t *broker_topic_cfg_row(int key, broker_cfg_row_t *scratch);
/* Kafka's synonyms of a broker setting (DynamicBrokerConfig.brokerConfigSynonyms): the chain
 * it belongs to, most specific first (log.retention.ms, .minutes, .hours), ending with -1. */
const int *broker_cfg_chain(int key, int one[2]);
/* The checks of broker_cfg_check on a row: 0 with norm and *ival (see broker_settings_t), or
 * -WEIR_EINVAL with Kafka's message. */
int broker_cfg_parse(const broker_cfg_row_t *row, const char *value, char *norm, size_t norm_len,
                     int64_t *ival, char *err, size_t err_len);

/* Java's Double.toString of d (the normalized text of a DOUBLE value). */
void broker_cfg_double_str(double d, char *out, size_t len);
#define BROKER_CFG_VALUE_MAX 4096 /* longest value text kept */

/* config_listener.c: one listener.name.<listener>.[<mechanism>.]<setting> line of the config
 * file or --set (key is the whole name); a later one for the same name replaces it. 0, or
 * -WEIR_EINVAL with a message in err. */
int broker_settings_listener_set(broker_settings_t *s, const char *key, const char *value,
                                 char *err, size_t err_len);
void broker_settings_listener_free(broker_settings_t *s);

/* ====================================== topic configs =========================================
 * A topic's overrides: text values, NULL = not set (the broker setting applies). */
int broker_topic_cfg_find(const char *name, size_t len); /* key or -1 */
/* Checks one value for a topic config, normalizing it into out (256 bytes). */
int broker_topic_cfg_check(int key, const char *value, char *out, size_t out_len, char *err,
                           size_t err_len);

typedef struct {
    char *val[TCFG__COUNT];
} broker_topic_overrides_t;

void broker_topic_overrides_free(broker_topic_overrides_t *o);
void broker_topic_overrides_copy(broker_topic_overrides_t *dst,
                                 const broker_topic_overrides_t *src);
/* The effective value of a topic config as text (override, else the broker settings it
 * defaults from, else Kafka's default) and its source; buf holds 64 bytes. */
const char *broker_topic_cfg_value(const broker_t *b, const broker_topic_overrides_t *o, int key,
                                   char *buf, size_t len, int *source);
/* The effective value parsed: numbers as they are, BOOLEAN 0/1, a choice its index, a list a
 * bitmask; _double for DOUBLE configs. */
int64_t broker_topic_cfg_int(const broker_t *b, const broker_topic_overrides_t *o, int key);
double broker_topic_cfg_double(const broker_t *b, const broker_topic_overrides_t *o, int key);

/* ================================== topics and partitions ===================================== */

/* The leader epoch of every partition: one node leads all of them, always (the produce path
 * stamps it on every batch). Kept in each partition's leader-epoch-checkpoint. */
#define BROKER_LEADER_EPOCH 0

struct broker_partition {
    broker_topic_t *topic;
    int32_t index;
    storage_log_t *log;           /* NULL once the topic is deleted (under the write lock) */
    pthread_mutex_t append_mu;    /* the idempotence check + append, atomically */
    pthread_mutex_t watch_mu;     /* the watch list */
    struct broker_watch *watches; /* under watch_mu: waiting fetches */
    _Atomic int nwatches;         /* read without the lock on the append path */
    struct broker_producer_state *producers; /* the idempotent producers' state */
    /* weir.key.index (conditional.c): key -> latest offset, under append_mu; NULL when the
     * topic has no key index. keys_full: a bound was hit, conditional appends are refused */
    struct broker_keyindex *keys;
    bool keys_full;
    /* the key chain (conditional.c), under append_mu: for offset o of a keyed record,
     * chain[o - chain_base] is o minus the offset of the key's record before it (0: none), so a
     * key's records are found from its latest offset without reading the log */
    uint32_t *chain;
    int64_t chain_base;
    size_t chain_len, chain_cap;
    int64_t keys_saved_end; /* the log end the last snapshot of the index covered (-1: none) */
    char *dir;              /* the partition's directory (its log and the files beside it) */
};

/* One side (key or value) of a topic's schema validation. */
typedef struct {
    broker_schema_mode_t mode; /* BROKER_SCHEMA_NONE: not checked */
    broker_subject_strategy_t strategy;
    void *checker; /* the hook's; NULL without a hook (every batch refused) */
    /* the hook's functions, kept with the checker (close runs at the topic's last unref) */
    int (*check)(void *checker, const uint8_t *p, size_t n, char *why, size_t why_size);
    void (*close)(void *checker);
} broker_topic_schema_t;

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
    /* message.timestamp.before/after.max.ms (CreateTime only): INT64_MAX = no bound */
    _Atomic int64_t ts_before_max_ms, ts_after_max_ms;
    /* compression.type: the codec batches are stored with (storage_codec_t), or -1 to keep
     * the producer's; and its compression.<codec>.level */
    _Atomic int compression_codec;
    _Atomic int compression_level;
    /* schema validation (schema_hook.c): [0] the key, [1] the value; changed under the write
     * lock only, so the produce path reads them under its read lock */
    bool schema_on;
    broker_topic_schema_t schema[2];
    bool key_index; /* weir.key.index; changed under the write lock only */
    /* metrics, read by broker_stats_visit: what clients wrote and read (batches as stored) */
    struct {
        metric_counter_t produce_bytes, produce_records, fetch_bytes, fetch_records;
        metric_counter_t schema_refused; /* batches refused by schema validation */
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
/* Recomputes a topic's effective settings (log config, produce-path atomics) from its overrides
 * and the broker's settings (write lock held, or the topic not yet visible). */
void broker_topic_effective(broker_t *b, broker_topic_t *t);
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
/* The last stable offset: the first offset of an open transaction, else the HWM. */
int64_t broker_partition_lso(broker_partition_t *p);
int64_t broker_partition_log_start(broker_partition_t *p);
/* Bytes readable at offset without reading them (for min_bytes), 0 if none; -1 on error.
 * read_committed counts only what lies below the LSO. */
int64_t broker_fetch_available(broker_partition_t *p, int64_t offset, size_t max_bytes,
                               bool read_committed);

/* A partition's producer state (p->producers), opened after its log, closed before it. */
void broker_partition_producers_open(broker_t *b, broker_partition_t *p, const char *dir);
void broker_partition_producers_close(broker_t *b, broker_partition_t *p, bool destroy);

/* ====================================== produce policy ========================================
 * What a topic's configs ask of a client's batch (produce_policy.c), for broker/produce.c to
 * call once per batch, after validate_batch and before append_batch, registry read lock held.
 *
 * message.timestamp.before/after.max.ms (KIP-937): on a CreateTime topic, the number of records
 * whose timestamp lies too far from now_ms (0: append), each reported to fn with its index in
 * the batch and Kafka's message. When it is not 0, the partition's answer is INVALID_TIMESTAMP
 * with BROKER_INVALID_TIMESTAMP_MSG and those record errors (Produce v8+), nothing appended. */
typedef void (*broker_record_error_fn)(void *arg, int32_t batch_index, const char *message);
#define BROKER_INVALID_TIMESTAMP_MSG                                                               \
    "One or more records have been rejected due to invalid timestamp"
int broker_produce_check_timestamps(broker_t *b, broker_topic_t *t, const uint8_t *batch,
                                    size_t total, int64_t now_ms, broker_record_error_fn fn,
                                    void *arg);
/* compression.type: 0 when the batch is appended as it is (compression.type=producer, or it
 * already has the topic's codec); 1 when the batch rebuilt with the topic's codec and level was
 * appended to out: append that instead (its length is out->len - the length before; check it
 * against max.message.bytes as Kafka does after recompression); negative (-WEIR_ECORRUPT,
 * -WEIR_ETOOBIG) for records that do not decompress, answered as validation answers them. */
int broker_produce_recompress(broker_t *b, broker_topic_t *t, const uint8_t *batch, size_t total,
                              buf_t *out);

/* ===================================== conditional append =====================================
 * conditional.c: the event store's key index (weir.key.index) per partition and the header
 * weir.expected.offset (docs/event-store.md). */
#define BROKER_EXPECTED_HEADER "weir.expected.offset"
/* The snapshot of a partition's key index and chain, in its directory. */
#define BROKER_KEYS_FILE "weir.key-index"
/* Opens p->keys when the topic has a key index (at open, or when the config is turned on:
 * write lock held); frees it, and removes its snapshot, when it has none. */
void broker_partition_keys_sync(broker_t *b, broker_partition_t *p);
void broker_partition_keys_close(broker_partition_t *p);
/* The index and chain of p (p->log, p->dir, p->topic set; p->keys NULL): loaded from the
 * snapshot BROKER_KEYS_FILE when it matches the log, plus the records after the offset it
 * covers; else rebuilt from the whole log, and why in `why` (missing, stale: it covers more
 * than the log holds after a torn tail was cut, corrupt, a compacted topic). The snapshot is
 * removed once read, so one that a later crash made stale is never read again. 1 loaded, 0
 * rebuilt, or a negative error with p->keys_full set (no index: conditional appends refused). */
int broker_keys_open(storage_io_t *io, broker_partition_t *p, size_t max_decompressed, char *why,
                     size_t why_size);
/* Writes the snapshot of p's index and chain as of the log end (append_mu held, or no appends
 * possible): temporary file, rename (fsynced with sync). Nothing for a compacted topic, whose
 * cleaner changes what a rebuild finds. 0, or a negative error (logged). */
int broker_keys_save(storage_io_t *io, broker_partition_t *p, bool sync);
/* The offsets of key's records still in the log, newest first (at most max), from its latest
 * offset along the key chain (append_mu held, p->keys not NULL). */
size_t broker_partition_key_walk(broker_partition_t *p, const uint8_t *key, size_t len, size_t max,
                                 int64_t *out);
/* The checkpoint (the producer tick, loop 0): a snapshot once the log end moved
 * BROKER_KEYS_CHECKPOINT_OFFSETS past the last one, so a crash restart replays at most that. */
#define BROKER_KEYS_CHECKPOINT_OFFSETS 1000000
void broker_partition_keys_checkpoint(broker_t *b, broker_partition_t *p);
/* The record's weir.expected.offset: 0 when it has none, 1 with *expected (-1 or an offset),
 * -WEIR_EINVAL with the reason in why when the header is bad or may not be there (no key, a
 * topic without key index). Called by validation, outside any lock. */
int broker_record_expected(const broker_topic_t *t, const storage_record_t *rec, int64_t *expected,
                           char *why, size_t why_size);
/* The keyed records of one partition's batches, found by validation (outside any lock) so the
 * append path does not parse them again: validation calls found_batch for each batch (collect:
 * false for a compressed one, whose keys would point into a buffer validation reuses) and
 * found_record for each of its records; the keys point into the request's batches. */
typedef struct {
    struct broker_key_op *ops; /* the collected batches' keyed records, in order */
    size_t nops, capops;
    struct broker_keys_span *spans; /* per batch: its ops */
    size_t nspans, capspans;
    size_t next; /* the batch broker_keys_stage takes next */
} broker_keys_found_t;
void broker_keys_found_batch(broker_keys_found_t *kf, bool collect);
/* has_expected and expected: what broker_record_expected answered for the record. */
void broker_keys_found_record(broker_keys_found_t *kf, int32_t index, const storage_record_t *rec,
                              bool has_expected, int64_t expected);
void broker_keys_found_deinit(broker_keys_found_t *kf);
/* One batch's changes to the key index, kept until the append is known to have happened. */
typedef struct {
    storage_record_iter_t it; /* the records, when the batch was parsed here (keys into it) */
    bool it_live;
    struct broker_key_op *ops; /* its keyed records */
    bool borrowed;             /* ops belong to a broker_keys_found_t */
    size_t nops, napplied;
} broker_keys_stage_t;
/* Under append_mu, before appending batch at offset base: checks every record's expected offset
 * against the index (earlier records of the batch count) and applies the batch's keys. kf
 * (may be NULL: the batch is parsed again) gives the batch's records as validation found them;
 * each batch of the partition must be staged in order, or skipped with broker_keys_found_skip.
 * 0, or -WEIR_EINVAL with nothing changed, *bad the record's index and why naming the key, the
 * expected and the actual offset. Then either broker_keys_stage_undo (the append failed) or
 * nothing; broker_keys_stage_deinit in both cases. */
int broker_keys_stage(broker_t *b, broker_partition_t *p, broker_keys_found_t *kf,
                      const uint8_t *batch, size_t total, int64_t base, broker_keys_stage_t *st,
                      int32_t *bad, char *why, size_t why_size);
/* A batch that is not staged (a retried batch of an idempotent producer): its ops passed over. */
void broker_keys_found_skip(broker_keys_found_t *kf);
void broker_keys_stage_undo(broker_partition_t *p, broker_keys_stage_t *st);
/* After the staged batch was appended at base with count offsets: its records in the chain. */
void broker_keys_stage_commit(broker_partition_t *p, broker_keys_stage_t *st, int64_t base,
                              int64_t count);
void broker_keys_stage_deinit(broker_keys_stage_t *st);

/* ===================================== schema validation ======================================
 * schema_hook.c: a topic's schema settings from its configs, its checkers from the hook. */
/* Recomputes t->schema from the topic's configs and remakes its checkers (write lock held, or
 * a topic nobody else sees yet); called by broker_topic_effective. */
void broker_topic_schema_update(broker_t *b, broker_topic_t *t);
/* Closes the topic's checkers (write lock held, or the topic's last reference). */
void broker_topic_schema_close(broker_topic_t *t);
/* What one batch's earlier records proved (storage_record_memo_t), per side: the last wire
 * header (magic byte and schema id) accepted where the verdict depends on the id alone (id
 * mode, TopicNameStrategy). A record with the same header passes without asking the hook
 * again, and without a call at all: the storage layer's validation loop compares it inline. A
 * batch's records mostly share one id, so a batch costs one lookup. Made per batch by
 * broker_schema_memo_init, which copies which sides are checked. */
static inline void broker_schema_memo_init(storage_record_memo_t *memo, const broker_topic_t *t)
{
    memset(memo, 0, sizeof(*memo));
    memo->on[0] = t->schema[0].mode != BROKER_SCHEMA_NONE;
    memo->on[1] = t->schema[1].mode != BROKER_SCHEMA_NONE;
}

/* One record of a topic with t->schema_on: 0, or -WEIR_EINVAL with one line in why naming the
 * side and the rule. Read lock held. */
int broker_topic_schema_check(const broker_topic_t *t, storage_record_memo_t *memo,
                              const storage_record_t *rec, char *why, size_t why_size);

/* Parked-request accounting for a clean stop (a waiting fetch or produce). */
void broker_parked_inc(broker_t *b);
void broker_parked_dec(broker_t *b);

/* ===================================== dynamic configs ========================================
 * Broker configs changed at run time (AlterConfigs on the broker resource), kept in
 * <data>/dynamic.properties (this broker) and <data>/dynamic-default.properties (the
 * cluster-wide default), each "key=value" lines. */
typedef struct {
    int key;           /* -1: a name Kafka does not define (kept as given, as Kafka does) */
    const char *name;  /* the name as requested */
    const char *value; /* checked and normalized; NULL: removed from the layer */
} broker_cfg_change_t;

/* A config name Kafka does not define, set dynamically in one layer. */
typedef struct {
    int layer;
    char *name;
    char *value;
} broker_cfg_extra_t;

#define BROKER_CFG_EXTRA_MAX 1000

/* acks=0/1 data is fdatasynced once it has waited this long when log.flush.interval.ms is
 * unset (Kafka's default: then the OS alone decides when it reaches the disk). */
#define BROKER_FLUSH_INTERVAL_MS 1000

/* Applies checked changes to one dynamic layer (BCFG_LAYER_DYNAMIC_DEFAULT or _BROKER); replace
 * (AlterConfigs) first clears the layer. Takes the write lock, persists the layer and
 * reconfigures every topic. */
int broker_dynamic_alter(broker_t *b, int layer, const broker_cfg_change_t *ch, size_t n,
                         bool replace, broker_err_t *err);
int broker_dynamic_load(broker_t *b); /* at open, after the static settings */
void broker_dynamic_free(broker_t *b);

/* Kafka's Topic.validate with its messages (INVALID_TOPIC_EXCEPTION). */
bool broker_topic_name_check(const char *name, size_t len, broker_err_t *err);
/* The root logger's level, as Kafka names it ("INFO"). */
const char *broker_log_level_name(void);

/* ======================================== broker ============================================== */

struct broker {
    broker_settings_t set;
    broker_cfg_extra_t *cfg_extra; /* dynamic configs Kafka does not define (under topics_lock) */
    size_t ncfg_extra;
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
    /* Serializes changes to the topic table (create, delete, add partitions, topic configs).
     * Their disk work (files written and fsynced, partition logs created) runs under it with
     * only the read lock of topics_lock, so produces and fetches of other topics go on; the
     * write lock is taken just to publish the change. Order: topics_admin_mu, then topics_lock. */
    pthread_mutex_t topics_admin_mu;
    broker_schema_hook_t schema_hook; /* under topics_lock; open NULL: none */
    broker_topic_t **buckets;         /* by name */
    broker_topic_t **id_buckets;      /* by id, as many buckets */
    size_t nbuckets, ntopics;

    bool new_cluster;      /* meta.properties was written by this start */
    _Atomic int parked;    /* requests waiting (fetch long polls, acks=-1 produces) */
    _Atomic bool stopping; /* set at stop: waiting fetches answer at once */

    struct broker_cleaner *cleaner;           /* compaction and delayed deletes (cleaner.c) */
    struct broker_groups *groups;             /* the group coordinator's wiring (groups.c) */
    struct broker_producer_ids *producer_ids; /* InitProducerId (producers.c) */
    net_timer_t producer_timer;               /* loop 0: expiry and snapshots */
    struct broker_txns *txns;                 /* the transaction coordinator (transactions.c) */
    struct broker_users *users;               /* SCRAM credentials (users.c) */
    struct broker_acls *acls;                 /* the authorizer's ACLs (acl.c) */
    struct broker_quotas *quotas;             /* client quotas and their rates (quotas.c) */
};

/* users.c: load <data>/scram-credentials (an empty table when absent); free. */
int broker_users_open(broker_t *b);
void broker_users_free(broker_t *b);
/* quotas.c: load <data>/client-quotas (none when absent); free. */
int broker_quotas_open(broker_t *b);
void broker_quotas_free(broker_t *b);
/* acl.c: load <data>/acls and the authorizer's settings; free. */
int broker_acls_open(broker_t *b);
void broker_acls_free_all(broker_t *b);
/* A small file replaced durably: <path>.tmp written, fdatasync, renamed over path, the
 * directory fsynced (a crash leaves the old file or the new one). 0 or -WEIR_EIO (logged). */
int broker_file_replace(const char *dir, const char *path, const uint8_t *p, size_t n);
/* The small text files of users, ACLs and quotas: a first line "<magic><crc32c of the rest, 8
 * hex digits>", then lines. _head writes that line and body into out; _parse checks it and calls
 * line_fn with each line NUL-terminated (a NUL inside a line, a missing last newline or a wrong
 * CRC: -WEIR_ECORRUPT), stopping at its first error. */
void broker_file_lines_head(buf_t *out, const char *magic, const buf_t *body);
int broker_file_lines_parse(char *p, size_t len, const char *magic,
                            int (*line_fn)(void *arg, char *line), void *arg);
/* Splits a line of those files at its tabs, in place: f[0..n) and n, or max + 1 when the line
 * has more than max fields (a damaged line). */
int broker_file_fields(char *line, char **f, int max);
/* Appends a whole file to out: 0, -WEIR_ENOENT, -WEIR_EIO, -WEIR_ECORRUPT past max_bytes. */
int broker_file_read(const char *path, size_t max_bytes, buf_t *out);

/* The log cleaner thread (cleaner.c): compaction on Kafka's schedule, delayed file deletes. */
int broker_cleaner_start(broker_t *b); /* after the topics are loaded */
void broker_cleaner_stop(broker_t *b); /* joins it; idempotent */
void broker_cleaner_wake(broker_t *b); /* runs the next round now (tests, config changes) */
uint64_t broker_cleaner_passes(broker_t *b);

/* ======================= group coordinator and producer ids (groups.c) ========================
 * The coordinator runs on loop 0; see coord.h. */
int broker_groups_start(broker_t *b); /* after the loops run, before the listener opens */
void broker_groups_stop(broker_t *b); /* before the loops stop; idempotent, safe if not started */
void broker_groups_free(broker_t *b); /* after the loop threads were joined */

/* ====================== transaction coordinator (transactions.c) ==============================
 * On loop 0 like the group coordinator; see txn.h. */
int broker_txns_start(broker_t *b); /* after the producers and the groups */
void broker_txns_stop(broker_t *b); /* before the groups stop (markers reach the groups) */
void broker_txns_free(broker_t *b);
/* The produce path's check for the first transactional batch of a transaction in a partition:
 * NONE if the producer's open transaction includes it; INVALID_PRODUCER_ID_MAPPING for a
 * producer id no transactional id owns, INVALID_PRODUCER_EPOCH for another epoch than its
 * current one, else INVALID_TXN_STATE (Kafka's answers). Any thread. */
int16_t broker_txn_verify(broker_t *b, int64_t producer_id, int16_t epoch, const char *topic,
                          size_t len, int32_t partition);
/* TxnOffsetCommit's check (loop 0): the group's offsets partition is in the producer's open
 * transaction (AddOffsetsToTxn came first). */
int16_t broker_txn_check_offsets(broker_t *b, const char *transactional_id, int64_t producer_id,
                                 int16_t epoch, int32_t offsets_partition);
/* Markers in __consumer_offsets are durable (loop 0): the group coordinator publishes the
 * producer's transactional offsets (commit) or drops them (abort). */
void broker_groups_txn_complete(broker_t *b, int64_t producer_id, bool commit);

/* The idempotent producer's broker-wide parts (producers.c): producer ids and the timer. */
int broker_producers_start(broker_t *b); /* loops running */
void broker_producers_stop(broker_t *b); /* loops still running */
void broker_producers_free(broker_t *b);

#endif
