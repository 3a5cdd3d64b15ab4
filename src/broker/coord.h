/*
 * coord: the group coordinator (Kafka's classic rebalance protocol) and its records in the
 * internal compacted topic __consumer_offsets. Internal to src/broker: the protocol layer
 * reaches it through broker_group_* (groups.c), which posts each request to the coordinator's
 * thread.
 *
 * The coordinator (coord.c, coord_commit.c) keeps every group in memory: its state (Empty,
 * PreparingRebalance, CompletingRebalance, Stable, Dead), generation, chosen protocol, leader,
 * members with their opaque subscription and assignment bytes, and the group's committed
 * offsets. It knows nothing of sockets or of the disk: what it needs from outside comes through
 * broker_coord_env_t (a clock, timers, a durable writer for __consumer_offsets records, topic
 * existence, and the completions of parked JoinGroup/SyncGroup/commit requests), so unit tests
 * drive it with a fake clock and fake timers.
 *
 * coord_records.c holds the record schemas of __consumer_offsets (Kafka's own key and value
 * layouts: key version 1 = offset commit [group, topic, partition], key version 2 = group
 * metadata; values versioned) and the replay that rebuilds the coordinator at start;
 * coord_log.c the writer that appends records to the topic's log and reports back once they
 * are durable.
 *
 * Threads. The coordinator is single-threaded: every broker_coord_* call, every timer it arms
 * and every env callback runs on one thread, the coordinator thread (in the broker: loop 0, to
 * which groups.c posts group requests). That keeps the state machine free of locks; group
 * requests are rare next to produce and fetch, so one thread is plenty.
 *
 * Callbacks. Each request handed to broker_coord_join / _sync / _commit / _delete /
 * _offset_delete with a `waiter` is completed exactly once through the env (join_done,
 * sync_done or done), possibly before the call returns. Env callbacks must not call back into
 * the coordinator.
 */
#ifndef WEIR_BROKER_COORD_H
#define WEIR_BROKER_COORD_H

#include "broker/broker.h"
#include "storage/storage.h"

typedef struct broker_coord broker_coord_t;

/* The server-side assignors of consumer groups (group.consumer.assignors, coord_assign.c). */
typedef enum { BROKER_ASSIGNOR_UNIFORM = 0, BROKER_ASSIGNOR_RANGE = 1 } broker_assignor_t;
/* By name ("uniform", "range") or by Kafka's class name: the assignor, or -1. */
int broker_coord_assignor_parse(const char *name, size_t len);
const char *broker_coord_assignor_name(broker_assignor_t a);

/* Broker settings, named as Kafka names them. */
typedef struct {
    int32_t min_session_timeout_ms;              /* group.min.session.timeout.ms, 6000 */
    int32_t max_session_timeout_ms;              /* group.max.session.timeout.ms, 1800000 */
    int32_t initial_rebalance_delay_ms;          /* group.initial.rebalance.delay.ms, 3000 */
    int32_t max_size;                            /* group.max.size, members per group, 1000 */
    int64_t offsets_retention_ms;                /* offsets.retention.minutes, 7 days */
    int64_t offsets_retention_check_interval_ms; /* offsets.retention.check.interval.ms, 600000 */
    int32_t offset_metadata_max_bytes;           /* offset.metadata.max.bytes, 4096 */
    /* consumer groups (KIP-848) */
    int32_t consumer_session_timeout_ms;    /* group.consumer.session.timeout.ms, 45000 */
    int32_t consumer_heartbeat_interval_ms; /* group.consumer.heartbeat.interval.ms, 5000 */
    int consumer_assignors[2];              /* group.consumer.assignors: the first is default */
    size_t consumer_assignor_count;         /* uniform, range */
    int32_t consumer_max_size;              /* group.consumer.max.size, members, INT32_MAX */
} broker_coord_config_t;

void broker_coord_config_default(broker_coord_config_t *cfg);

/* ---- records of __consumer_offsets ------------------------------------------------------------
 */

/* One record to append: key and value bytes (value_len -1 = tombstone). */
typedef struct {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    int32_t value_len;
} broker_coord_record_t;

/* Group metadata, as stored (what a restart needs to resume a Stable group). */
typedef struct {
    const char *member_id;
    const char *instance_id; /* NULL: dynamic */
    const char *client_id;
    const char *client_host;
    int32_t rebalance_timeout_ms;
    int32_t session_timeout_ms;
    const uint8_t *subscription; /* metadata of the chosen protocol */
    size_t subscription_len;
    const uint8_t *assignment;
    size_t assignment_len;
} broker_group_meta_member_t;

typedef struct {
    const char *protocol_type; /* "" for a group that only stores offsets */
    int32_t generation;
    const char *protocol_name; /* NULL when Empty */
    const char *leader_id;     /* NULL when Empty */
    int64_t state_ts_ms;       /* wall clock of the last state change */
    size_t member_count;
    const broker_group_meta_member_t *members;
} broker_group_meta_t;

/* coord_records.c: encoders append to out. */
void broker_coord_key_offset_encode(buf_t *out, const char *group, const char *topic, int32_t part);
void broker_coord_key_group_encode(buf_t *out, const char *group);
void broker_coord_value_offset_encode(buf_t *out, const broker_committed_t *o);
void broker_coord_value_group_encode(buf_t *out, const broker_group_meta_t *m);

/* Applies one record of __consumer_offsets (key, value; value NULL with len -1 = tombstone)
 * to a coordinator being loaded. Unknown key versions are skipped (a later Weir may write
 * more kinds); malformed records give -WEIR_ECORRUPT and change nothing. */
int broker_coord_replay_record(broker_coord_t *c, const uint8_t *key, size_t key_len,
                               const uint8_t *value, int32_t value_len);
/* The same for a record of a transactional batch of producer_id: an offset commit there is
 * pending until the producer's marker is replayed (broker_coord_txn_complete). */
int broker_coord_replay_txn_record(broker_coord_t *c, int64_t producer_id, const uint8_t *key,
                                   size_t key_len, const uint8_t *value, int32_t value_len);

/* Kafka's partition for a group: abs(Java String.hashCode(group)) % partitions. */
int32_t broker_coord_partition_for(const char *group, int32_t partitions);

/* ---- environment ------------------------------------------------------------------------------
 */

typedef void (*broker_coord_write_done_fn)(void *arg, int err);

typedef struct broker_coord_env {
    void *ctx;
    int64_t (*now_ms)(void *ctx); /* monotonic */
    void (*timer_init)(void *ctx, net_timer_t *t, net_fn fn, void *arg);
    void (*timer_start)(void *ctx, net_timer_t *t, int64_t delay_ms);
    void (*timer_stop)(void *ctx, net_timer_t *t);
    /* Appends recs (for group_id's partition of __consumer_offsets) and calls done(arg, err)
     * on the coordinator thread once they are durable (err 0) or failed (negative WEIR_ code),
     * possibly before returning. */
    void (*write)(void *ctx, const char *group_id, const broker_coord_record_t *recs, size_t n,
                  broker_coord_write_done_fn done, void *arg);
    /* The same as one transactional batch of the producer (TxnOffsetCommit). */
    void (*write_txn)(void *ctx, const char *group_id, const broker_coord_record_t *recs, size_t n,
                      int64_t producer_id, int16_t producer_epoch, broker_coord_write_done_fn done,
                      void *arg);
    /* OffsetCommit's UNKNOWN_TOPIC_OR_PARTITION check. */
    bool (*partition_exists)(void *ctx, const char *topic, int32_t partition);
    /* Topics, for consumer groups: a topic's partition count (-1: no such topic), its topic id
     * (false: no such topic), the name of a topic id (false: none), and every topic that is
     * not internal. */
    int32_t (*topic_partitions)(void *ctx, const char *topic);
    bool (*topic_id)(void *ctx, const char *topic, uint8_t id[16]);
    bool (*topic_by_id)(void *ctx, const uint8_t id[16], char *name, size_t cap);
    void (*topics_foreach)(void *ctx, void (*fn)(void *arg, const char *topic), void *arg);
    void (*join_done)(void *ctx, void *waiter, const broker_group_join_result_t *res);
    /* res is valid only during the call */
    void (*sync_done)(void *ctx, void *waiter, const broker_group_sync_result_t *res);
    /* commit / delete / offset-delete finished: results are in the caller's request struct */
    void (*done)(void *ctx, void *waiter);
} broker_coord_env_t;

/* ---- the coordinator ----------------------------------------------------------------------------
 */

int broker_coord_new(const broker_coord_config_t *cfg, const broker_coord_env_t *env,
                     broker_coord_t **out);
/* Completes every parked request with COORDINATOR_NOT_AVAILABLE and frees everything. Writes
 * still in flight must have called back first (broker_coord_writes_pending() == 0). */
void broker_coord_free(broker_coord_t *c);
size_t broker_coord_writes_pending(const broker_coord_t *c);
size_t broker_coord_group_count(const broker_coord_t *c);
void broker_coord_set_config(broker_coord_t *c, const broker_coord_config_t *cfg);

/* Loading (before serving): broker_coord_replay_record calls these; broker_coord_load_finish
 * then makes groups with members Stable (their session timers start now) and starts the
 * offsets-expiry timer. */
void broker_coord_load_offset(broker_coord_t *c, const char *group, const char *topic,
                              int32_t partition, const broker_committed_t *o); /* o NULL: delete */
void broker_coord_load_group(broker_coord_t *c, const char *group,
                             const broker_group_meta_t *m); /* m NULL: delete */
void broker_coord_load_finish(broker_coord_t *c);

/* Runs the offsets-expiry pass now (the timer runs it every check interval). */
void broker_coord_expire_offsets(broker_coord_t *c);

/* ---- requests
 * ------------------------------------------------------------------------------------ */

void broker_coord_join(broker_coord_t *c, const broker_group_join_req_t *req, void *waiter);

void broker_coord_sync(broker_coord_t *c, const broker_group_sync_req_t *req, void *waiter);

int16_t broker_coord_heartbeat(broker_coord_t *c, const char *group_id, int32_t generation_id,
                               const char *member_id, const char *instance_id);

/* LeaveGroup: v0-2 leave one member; v3+ a batch, each identified by member id and/or
 * instance id. Fills each member's error; returns the group-level error. */

int16_t broker_coord_leave(broker_coord_t *c, const char *group_id,
                           broker_group_leave_member_t *members, size_t n);

void broker_coord_commit(broker_coord_t *c, broker_commit_req_t *req, void *waiter);

/* OffsetFetch of one partition: offset -1 and metadata "" when nothing is committed. Returns
 * the group-level error (only INVALID_GROUP_ID / COORDINATOR_NOT_AVAILABLE). */
int16_t broker_coord_offset_fetch(broker_coord_t *c, const char *group_id, const char *topic,
                                  int32_t partition, broker_committed_t *out);
/* Every committed offset of a group (OffsetFetch with null topics), in no set order. */
typedef void (*broker_coord_offset_fn)(void *arg, const char *topic, int32_t partition,
                                       const broker_committed_t *o);
void broker_coord_offset_foreach(broker_coord_t *c, const char *group_id, broker_coord_offset_fn fn,
                                 void *arg);

/* ListGroups. */
typedef void (*broker_coord_list_fn)(void *arg, const broker_group_listing_t *g);
void broker_coord_list(broker_coord_t *c, broker_coord_list_fn fn, void *arg);

/* DescribeGroups: fills a summary valid until the next coordinator call. Members carry their
 * metadata and assignment only in the Stable state, as Kafka does. An unknown group is
 * described as Dead with no error. */

void broker_coord_describe(broker_coord_t *c, const char *group_id, broker_group_summary_t *out);
void broker_group_summary_deinit(broker_group_summary_t *s);

void broker_coord_delete(broker_coord_t *c, broker_group_delete_req_t *req, void *waiter);

void broker_coord_offset_delete(broker_coord_t *c, broker_offset_delete_req_t *req, void *waiter);

/* ---- consumer groups (KIP-848, coord_consumer.c) -------------------------------------------
 * ConsumerGroupHeartbeat: fills the request's out fields and calls env->done(waiter), once the
 * records it wrote are durable (or at once when it wrote none). The out fields point into
 * memory held by req->priv: the caller frees it with broker_coord_heartbeat_free after done. */
void broker_coord_consumer_heartbeat(broker_coord_t *c, broker_consumer_heartbeat_req_t *req,
                                     void *waiter);
void broker_coord_heartbeat_free(broker_consumer_heartbeat_req_t *req);
/* ConsumerGroupDescribe: fills req->groups (valid until broker_coord_consumer_describe_free). */
void broker_coord_consumer_describe(broker_coord_t *c, broker_consumer_describe_req_t *req);
void broker_coord_consumer_describe_free(broker_consumer_describe_req_t *req);
/* Transactions: a producer's transaction ended (its marker in __consumer_offsets is durable
 * or replayed): its pending offsets become the groups' committed offsets (commit; an offset a
 * later plain commit replaced stays replaced) or are dropped (abort). */
void broker_coord_txn_complete(broker_coord_t *c, int64_t producer_id, bool commit);
/* OffsetFetch with require_stable: true while a transaction holds an offset of the partition
 * pending (UNSTABLE_OFFSET_COMMIT). */
bool broker_coord_offset_unstable(broker_coord_t *c, const char *group_id, const char *topic,
                                  int32_t partition);
/* OffsetFetch v9 from a consumer group member: UNKNOWN_MEMBER_ID / STALE_MEMBER_EPOCH. */
int16_t broker_coord_offset_fetch_check(broker_coord_t *c, const char *group_id,
                                        const char *member_id, int32_t member_epoch);
/* Replays one consumer-group record (key versions 3-8) into a coordinator being loaded. */
int broker_coord_cgroup_replay(broker_coord_t *c, int16_t key_version, const uint8_t *key,
                               size_t key_len, const uint8_t *value, int32_t value_len);

/* ---- __consumer_offsets on the partition log (coord_log.c) ----------------------------------
 */

typedef struct broker_coord_log broker_coord_log_t;

typedef struct {
    storage_log_t **logs; /* the partitions of __consumer_offsets, in order (or acquire) */
    int32_t count;
    /* Optional, instead of logs: returns partition part's log (NULL if unavailable) with
     * whatever lock keeps it alive held until release(ctx). */
    storage_log_t *(*acquire)(void *ctx, int32_t part);
    void (*release)(void *ctx);
    /* Runs fn(arg) on the coordinator thread (the broker: net_loop_post to its loop). Called
     * from the storage flusher thread when records become durable. */
    void (*post)(void *ctx, net_fn fn, void *arg);
    /* Optional: records were appended to partition `part` (the broker wakes fetchers); runs
     * before release. */
    void (*appended)(void *ctx, int32_t part);
    /* Optional: appends a built batch to partition part's log (between acquire and release)
     * instead of storage_log_append, so the broker can keep the partition's producer state
     * (transactional batches: the last stable offset of __consumer_offsets). */
    int (*append)(void *ctx, int32_t part, storage_log_t *log, uint8_t *batch, size_t len,
                  int64_t *base);
    void *ctx;
    size_t max_decompressed_bytes; /* bound when reading compressed batches back, 64 MiB */
    const char *topic;             /* for messages: NULL = __consumer_offsets */
} broker_coord_log_config_t;

int broker_coord_log_new(const broker_coord_log_config_t *cfg, broker_coord_log_t **out);
/* Every write must have called back first (flush the logs, run the posted callbacks). */
void broker_coord_log_free(broker_coord_log_t *ol);
/* broker_coord_env_t.write with ctx = the broker_coord_log_t: one batch per call, appended to the
 * group's partition, reported once durable (through cfg->post). */
void broker_coord_log_write(void *ol, const char *group_id, const broker_coord_record_t *recs,
                            size_t n, broker_coord_write_done_fn done, void *arg);
/* The same with the batch's producer fields (transactional offset commits). opts NULL: none. */
void broker_coord_log_write_batch(broker_coord_log_t *ol, const char *group_id,
                                  const broker_coord_record_t *recs, size_t n,
                                  const storage_batch_opts_t *opts, broker_coord_write_done_fn done,
                                  void *arg);
/* Replays every partition into c (then call broker_coord_load_finish). Malformed records are
 * logged and skipped; returns a storage error only if a log cannot be read. */
int broker_coord_log_load(broker_coord_log_t *ol, broker_coord_t *c);
/* Replays every record of every partition in log order through on_record (< 0: counted as
 * malformed) and every transaction marker through on_marker (type 0 abort, 1 commit). */
typedef int (*broker_coord_log_record_fn)(void *arg, const storage_batch_header_t *h,
                                          const storage_record_t *rec);
typedef void (*broker_coord_log_marker_fn)(void *arg, const storage_batch_header_t *h,
                                           int16_t type);
int broker_coord_log_replay(broker_coord_log_t *ol, broker_coord_log_record_fn on_record,
                            broker_coord_log_marker_fn on_marker, void *arg);
size_t broker_coord_log_writes_pending(broker_coord_log_t *ol);

#endif
