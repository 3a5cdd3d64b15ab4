/*
 * coord_internal: what the files of the group coordinator share (coord.c: groups, membership
 * and the rebalance, the records of __consumer_offsets and their writes; coord_commit.c: the
 * committed offsets). Nothing outside those files includes it.
 *
 * Threads: one, the coordinator thread (see coord.h).
 */
#ifndef WEIR_BROKER_COORD_INTERNAL_H
#define WEIR_BROKER_COORD_INTERNAL_H

#include "broker/coord.h"
#include "broker/kvmap.h"

#include <regex.h>

struct cgroup; /* a consumer group's own state (coord_consumer.c) */

typedef struct {
    char *name;
    uint8_t *meta;
    size_t meta_len;
} group_proto_t;

typedef struct group group_t;

typedef struct group_member {
    group_t *grp;
    char *id;
    char *instance_id; /* NULL: dynamic */
    char *client_id;
    char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    size_t proto_count;
    group_proto_t *protos;
    uint8_t *assignment;
    size_t assignment_len;
    void *join_waiter;
    void *sync_waiter;
    int32_t synced_generation; /* generation of its last SyncGroup, -1 */
    net_timer_t session_timer;
    struct group_member *prev, *next;
} group_member_t;

/* A member id handed out with MEMBER_ID_REQUIRED that has not joined yet. */
typedef struct {
    group_t *grp;
    char *id;
    net_timer_t timer;
} group_pending_t;

typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata; /* metadata_len bytes (may hold NULs), NUL-terminated for safety */
    size_t metadata_len;
    int64_t commit_ts_ms;
    int64_t expire_ts_ms;
    uint64_t order; /* the record's place in the group's log: the newer of two commits wins */
} group_offset_entry_t;

/* A producer's offsets written in its open transaction (TxnOffsetCommit): pending in the
 * group until the transaction's marker says commit (they become the committed offsets) or
 * abort (dropped). coord_txn.c. */
typedef struct {
    int64_t producer_id;
    broker_kvmap_t offsets; /* topic '\0' be32(partition) -> group_offset_entry_t */
} group_txn_t;

struct group {
    broker_coord_t *c;
    char *id;
    broker_group_state_t state;
    int32_t generation;
    char *protocol_type; /* NULL until a member joined once */
    char *protocol_name; /* NULL unless CompletingRebalance/Stable */
    char *leader_id;     /* NULL when there are no members */
    group_member_t *head, *tail;
    size_t member_count;
    size_t awaiting_join;
    broker_kvmap_t members; /* id -> member */
    broker_kvmap_t statics; /* instance id -> member */
    broker_kvmap_t pending; /* id -> group_pending_t */
    bool initial_join;      /* the join timer is group.initial.rebalance.delay.ms */
    bool new_member_added;
    int32_t initial_remaining_ms;
    bool leader_synced; /* the leader's assignments of this generation are being stored */
    net_timer_t join_timer;
    net_timer_t sync_timer;
    int64_t state_ts_ms;    /* wall clock of the last state change */
    broker_kvmap_t offsets; /* topic '\0' be32(partition) -> group_offset_entry_t */
    broker_kvmap_t txns;    /* be64(producer id) -> group_txn_t: pending transactional offsets */
    int refs;               /* the map's reference + one per write in flight */
    /* A consumer group (KIP-848, ConsumerGroupHeartbeat) rather than a classic one: cg holds
     * its members and assignments; state is Empty without members, else Stable, so the
     * offset code (expiry, deletion) treats both kinds alike. */
    struct cgroup *cg;
};

struct broker_coord {
    broker_coord_config_t cfg;
    broker_coord_env_t env;
    broker_kvmap_t groups; /* id -> group_t, never Dead */
    size_t writes_pending;
    net_timer_t expire_timer;
    /* topic name -> its one copy (char *), for consumer-group assignments: only names of
     * topics that existed when assigned, so the table is bounded by the topics ever created */
    broker_kvmap_t topic_names;
    /* be64(producer id) -> txn_groups_t: the groups holding its pending offsets (coord_txn.c) */
    broker_kvmap_t txn_groups;
    uint64_t order;     /* counts offset records stored or replayed, in log order */
    int64_t replay_pid; /* the producer id of the transactional batch being replayed, or -1 */
};

enum { OFFSET_KEY_MAX = 512 }; /* topic names are at most 249 bytes */

/* A set of records being prepared for one write; pointers are materialised only at the end
 * because the byte buffer moves as it grows. */
typedef struct {
    buf_t bytes;
    size_t n, cap;
    struct {
        size_t koff, klen, voff;
        int32_t vlen;
    } * r;
} recset_t;

/* A write in flight: holds a reference on its group. */
typedef enum {
    W_PLAIN,
    W_COMMIT,
    W_SYNC,
    W_STATIC_JOIN,
    W_DELETE,
    W_OFFSET_DELETE,
    W_CONSUMER_HEARTBEAT,
    W_CLASSIC_JOIN,
    W_TXN_COMMIT /* TxnOffsetCommit: a transactional batch (env.write_txn) */
} write_kind_t;

struct group_multi;

typedef struct group_write {
    broker_coord_t *c;
    group_t *grp;
    write_kind_t kind;
    void *waiter;
    int32_t generation;
    broker_commit_req_t *commit;
    char *member_id;         /* W_STATIC_JOIN: the new member id */
    char *leader_id;         /* W_STATIC_JOIN: the leader before the replacement */
    bool skip_assignment_ok; /* W_STATIC_JOIN: the JoinGroup was v9+ (KIP-814) */
    int16_t *error_out;      /* W_DELETE, W_OFFSET_DELETE: where a failed write is reported */
    struct group_multi *multi;
    broker_consumer_heartbeat_req_t *heartbeat; /* W_CONSUMER_HEARTBEAT: answered once durable */
    char *protocol_name; /* W_CLASSIC_JOIN: the answer (with member_id, generation) */
} group_write_t;

/* DeleteGroups spans several groups (maybe several partitions): done when all are. */
typedef struct group_multi {
    void *waiter;
    size_t left;
} group_multi_t;

void broker_coord_group_commit_stored(group_t *g, broker_commit_req_t *req, int err);
/* Committed offsets (coord_commit.c): order 0 stamps the next place in the log. */
group_offset_entry_t *broker_coord_offset_find(group_t *g, const char *topic, int32_t partition);
void broker_coord_offset_put(group_t *g, const char *topic, int32_t partition,
                             const broker_committed_t *o, uint64_t order);
void broker_coord_offset_entry_free(group_offset_entry_t *e);
/* Transactional offsets (coord_txn.c). */
void broker_coord_txn_stored(group_t *g, broker_commit_req_t *req, int err);
void broker_coord_txn_load(group_t *g, int64_t producer_id, const char *topic, int32_t partition,
                           const broker_committed_t *o);
bool broker_coord_txn_pending(group_t *g, const char *topic, int32_t partition);
void broker_coord_txn_group_free(group_t *g);
void broker_coord_txn_index_free(broker_coord_t *c);
group_t *broker_coord_group_create(broker_coord_t *c, const char *id);
group_t *broker_coord_group_get(broker_coord_t *c, const char *id);
void broker_coord_group_maybe_drop(group_t *g);
void broker_coord_group_remove(group_t *g, int16_t error);
bool broker_coord_member_fenced(group_t *g, const char *member_id, const char *instance_id);
group_member_t *broker_coord_member_find(group_t *g, const char *id);
void broker_coord_member_touch(group_member_t *m);
size_t broker_coord_offset_key(uint8_t *out, size_t cap, const char *topic, int32_t partition);
void broker_coord_recset_add_group(recset_t *rs, group_t *g, bool tombstone);
void broker_coord_recset_add_offset(recset_t *rs, const char *group, const char *topic,
                                    int32_t part, const broker_committed_t *o);
void broker_coord_recset_deinit(recset_t *rs);
/* One record by hand: begin, append the key to rs->bytes, value, append the value (nothing for a
 * tombstone), end. */
void broker_coord_recset_begin(recset_t *rs);
void broker_coord_recset_value(recset_t *rs);
void broker_coord_recset_end(recset_t *rs, bool tombstone);
void broker_coord_recset_init(recset_t *rs);
void broker_coord_recset_write(broker_coord_t *c, recset_t *rs, group_write_t *w);
void broker_coord_replace_str(char **dst, const char *src);
bool broker_coord_str_eq(const char *a, const char *b);
void broker_coord_timer_start(broker_coord_t *c, net_timer_t *t, int64_t delay_ms);
int16_t broker_coord_write_err_code(int err);
group_write_t *broker_coord_write_new(broker_coord_t *c, group_t *g, write_kind_t kind,
                                      void *waiter);

/* A member of a classic group made from a consumer group's classic member (the online
 * downgrade, coord_consumer_classic.c). */
typedef struct {
    const char *id, *instance_id, *client_id, *client_host;
    int32_t session_timeout_ms, rebalance_timeout_ms;
    const broker_group_protocol_t *protocols;
    size_t protocol_count;
    const uint8_t *assignment;
    size_t assignment_len;
} classic_member_spec_t;

/* Makes g (no kind: its consumer state already freed) a classic group of these members at
 * generation, Stable with protocol, its record added to rs, and starts a rebalance so that the
 * members rejoin. */
void broker_coord_group_become_classic(group_t *g, const classic_member_spec_t *v, size_t n,
                                       int32_t generation, const char *protocol, recset_t *rs);

/* The offsets-expiry timer (coord_commit.c), armed by broker_coord_new. */
void broker_coord_expire_timer_fired(void *arg);

/* ---- consumer groups (coord_consumer*.c, coord_assign.c) ------------------------------------ */

/* A topic partition, the topic named by an interned string (broker_coord_intern). In a
 * member's assigned set, epoch is the member epoch at which it got the partition (Kafka's
 * assignment epoch: a commit from an older epoch is accepted for it from there on). */
typedef struct {
    const char *topic;
    int32_t partition;
    int32_t epoch;
} tp_t;

/* A set of topic partitions, sorted by topic name then partition, no duplicates. */
typedef struct {
    tp_t *v;
    size_t n, cap;
} tpset_t;

void tpset_add(tpset_t *s, const char *topic, int32_t partition); /* keeps it sorted */
void tpset_add_epoch(tpset_t *s, const char *topic, int32_t partition, int32_t epoch);
bool tpset_has(const tpset_t *s, const char *topic, int32_t partition);
const tp_t *tpset_find(const tpset_t *s, const char *topic, int32_t partition); /* or NULL */
void tpset_clear(tpset_t *s);
void tpset_free(tpset_t *s);
void tpset_copy(tpset_t *dst, const tpset_t *src);
bool tpset_eq(const tpset_t *a, const tpset_t *b);

/* The one copy of a topic name the consumer-group state points to; lives as long as c. */
const char *broker_coord_intern(broker_coord_t *c, const char *topic);

/* Assignors (coord_assign.c). Each member lists the topics it is subscribed to (resolved:
 * names and regex matches that exist), sorted; topics give their partition counts. The result
 * is one set per member (out[i] for members[i], cleared first); prev[i] is the member's
 * previous target, which the uniform assignor keeps where it can (sticky). */
typedef struct {
    const char *id;
    const char *const *topics; /* interned, sorted by strcmp */
    size_t ntopics;
} assign_member_t;

typedef struct {
    const char *topic; /* interned */
    int32_t partitions;
} assign_topic_t;

void broker_coord_assign(broker_assignor_t a, const assign_member_t *members, size_t nmembers,
                         const assign_topic_t *topics, size_t ntopics, const tpset_t *prev,
                         tpset_t *out);

/* A member's state toward its target (Kafka's MemberState numbering, stored in records). */
enum { CM_STABLE = 0, CM_UNREVOKED = 1, CM_UNRELEASED = 2 };

typedef struct cmember {
    group_t *grp;
    char *id;
    char *instance_id; /* NULL: dynamic */
    char *rack_id;
    char *client_id;
    char *client_host;
    char **subs; /* subscribed topic names, as the member sent them */
    size_t nsubs;
    char *regex; /* subscribed topic regex, or NULL (none, or "") */
    regex_t re;
    bool has_re;    /* regex compiled */
    char *assignor; /* the server assignor it asked for, or NULL */
    int32_t rebalance_timeout_ms;
    int32_t epoch;         /* -2: a static member away for a while */
    int32_t prev_epoch;    /* a heartbeat with this epoch is still accepted (a lost answer) */
    int8_t state;          /* CM_* */
    tpset_t assigned;      /* partitions it owns */
    tpset_t revoking;      /* partitions it must give up before it moves on */
    tpset_t target;        /* its share of the target assignment */
    const char **resolved; /* interned topics it is subscribed to that exist, sorted */
    size_t nresolved;
    bool loaded; /* replay: its member record was read */
    net_timer_t session_timer;
    net_timer_t rebalance_timer; /* armed while it must revoke */
    /* A member that uses the classic protocol (JoinGroup/SyncGroup/Heartbeat) inside a
     * consumer group (coord_consumer_classic.c): its session timeout and protocols. */
    bool classic;
    int32_t session_timeout_ms;
    size_t nprotos;
    group_proto_t *protos;
    net_timer_t classic_timer; /* armed from JoinGroup to SyncGroup, and while it must rejoin */
    struct cmember *prev, *next;
} cmember_t;

typedef struct cgroup {
    int32_t epoch;              /* the group epoch */
    int32_t assignment_epoch;   /* the epoch the target assignment was computed for */
    broker_assignor_t assignor; /* the one that computed it */
    uint64_t topics_hash;       /* of the subscribed topics and their partition counts */
    cmember_t *head, *tail;     /* in join order */
    size_t count;
    broker_kvmap_t members; /* id -> cmember_t */
    broker_kvmap_t statics; /* instance id -> cmember_t */
    broker_kvmap_t owners;  /* topic '\0' be32(partition) -> cmember_t owning it */
} cgroup_t;

/* coord_consumer.c: the state machine. */
cgroup_t *broker_coord_cgroup_new(group_t *g);
void broker_coord_cgroup_free(group_t *g);
/* The group record's tombstone on replay: the consumer group is gone (its offsets stay). */
void broker_coord_cgroup_drop(group_t *g);
cmember_t *broker_coord_cmember_add(group_t *g, const char *id);
cmember_t *broker_coord_cmember_find(group_t *g, const char *id);
void broker_coord_cmember_unload(cmember_t *m);
/* Replay of a member record: takes every string (NULL for null). */
void broker_coord_cmember_load_meta(cmember_t *m, char *instance_id, char *rack_id, char *client_id,
                                    char *client_host, char **subs, size_t nsubs, char *regex,
                                    int32_t rebalance_timeout_ms, char *assignor);
/* Replay of a current-assignment record. */
void broker_coord_cmember_load_current(cmember_t *m, int32_t epoch, int32_t prev_epoch,
                                       int8_t state, const tpset_t *assigned,
                                       const tpset_t *revoking);
/* The end of a load (after every record): owners, session timer, rebalance timer. */
void broker_coord_cmember_loaded(cmember_t *m);
const char *broker_coord_cgroup_state_name(const group_t *g);
/* The assignor of the next target: the one the members ask for most, else the default. */
broker_assignor_t broker_coord_cgroup_assignor(group_t *g);
bool broker_coord_cgroup_empty(const group_t *g);
void broker_coord_heartbeat_stored(broker_consumer_heartbeat_req_t *req, int err);
void broker_coord_cgroup_list(group_t *g, broker_group_listing_t *out);
void broker_coord_cgroup_tombstones(recset_t *rs, group_t *g);
void broker_coord_cgroup_load_finish(group_t *g);
bool broker_coord_cgroup_subscribed(group_t *g, const char *topic);
/* A JoinGroup (classic) to a consumer group: an empty one becomes classic again (true). */
bool broker_coord_cgroup_to_classic(group_t *g);
/* A classic group with no classic state left (its members removed, their parked requests
 * answered with error; generation 0). */
void broker_coord_group_clear_classic(group_t *g, int16_t error);
/* OffsetCommit / OffsetFetch to a consumer group: Kafka's member and epoch checks. A commit
 * passes the group check, then each partition's (an older epoch is fine for a partition the
 * member has held since then). */
int16_t broker_coord_cgroup_commit_check(group_t *g, const broker_commit_req_t *req);
int16_t broker_coord_cgroup_commit_part_check(group_t *g, const broker_commit_req_t *req,
                                              const char *topic, int32_t partition);
int16_t broker_coord_cgroup_fetch_check(group_t *g, const char *member_id, int32_t member_epoch);

/* coord_consumer_classic.c: classic members in a consumer group, and the online upgrade of a
 * classic group with members (group.consumer.migration.policy=upgrade in Kafka's terms). */
bool broker_coord_cgroup_upgradable(const group_t *g);
/* Kafka's online downgrade: when only classic members are left (a consumer-protocol member
 * just left or was removed), the group becomes a classic group again; true if it did. */
bool broker_coord_cgroup_maybe_downgrade(group_t *g, recset_t *rs);
void broker_coord_cgroup_upgrade(group_t *g, recset_t *rs);
void broker_coord_cgroup_classic_join(group_t *g, const broker_group_join_req_t *req, void *waiter);
void broker_coord_cgroup_classic_sync(group_t *g, const broker_group_sync_req_t *req, void *waiter);
int16_t broker_coord_cgroup_classic_heartbeat(group_t *g, int32_t generation, const char *member_id,
                                              const char *instance_id);
/* LeaveGroup of several members; one epoch bump for all. */
void broker_coord_cgroup_classic_leave(group_t *g, broker_group_leave_member_t *members, size_t n);
void broker_coord_cgroup_classic_join_stored(group_write_t *w, int err);
void broker_coord_cmember_set_protos(cmember_t *m, const group_proto_t *protos, size_t n);
void broker_coord_cmember_free_protos(cmember_t *m);
/* The end of a classic member's join or sync deadline, or its session: it is removed. */
void broker_coord_cmember_classic_expired(void *arg);
/* Shared with coord_consumer.c. */
char *broker_coord_cmember_id_new(void);
void broker_coord_cgroup_upgraded(group_t *g, recset_t *rs);
void broker_coord_cmember_touch(cmember_t *m);
void broker_coord_cmember_resolve(cmember_t *m);
bool broker_coord_cmember_reconcile(cmember_t *m, const tpset_t *owned);
void broker_coord_cmember_remove(cmember_t *m, recset_t *rs, const char *why, bool bump);
void broker_coord_cmember_set_instance(cmember_t *m, const char *instance_id);
void broker_coord_cmember_set_current(cmember_t *m, const tpset_t *assigned,
                                      const tpset_t *revoking);
/* Bumps the group epoch when a member's subscription (or the topics) changed, then computes
 * the target when due. */
void broker_coord_cgroup_advance(group_t *g, recset_t *rs, bool sub_changed, bool created);

/* coord_consumer_records.c: records in Kafka's layouts; each adds one record (or its
 * tombstone) to rs. */
void broker_coord_crec_group(recset_t *rs, group_t *g, bool tombstone);
void broker_coord_crec_member(recset_t *rs, group_t *g, const cmember_t *m, bool tombstone);
void broker_coord_crec_target_member(recset_t *rs, group_t *g, const cmember_t *m, bool tombstone);
void broker_coord_crec_target_meta(recset_t *rs, group_t *g, bool tombstone);
void broker_coord_crec_current(recset_t *rs, group_t *g, const cmember_t *m, bool tombstone);

/* A set as the wire wants it, per topic its id, name and partitions (caller frees both);
 * topics that no longer exist are left out. */
size_t broker_coord_tpset_topics(broker_coord_t *c, const tpset_t *s,
                                 broker_cg_topic_parts_t **topics, int32_t **parts);

#endif
