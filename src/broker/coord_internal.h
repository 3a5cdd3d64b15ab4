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

/* Kafka ErrorCodes kafka.h does not list (yet). */
enum { OFFSET_METADATA_TOO_LARGE = 12, GROUP_SUBSCRIBED_TO_TOPIC = 86 };

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
} group_offset_entry_t;

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
    int refs;               /* the map's reference + one per write in flight */
};

struct broker_coord {
    broker_coord_config_t cfg;
    broker_coord_env_t env;
    broker_kvmap_t groups; /* id -> group_t, never Dead */
    size_t writes_pending;
    net_timer_t expire_timer;
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
typedef enum { W_PLAIN, W_COMMIT, W_SYNC, W_STATIC_JOIN, W_DELETE, W_OFFSET_DELETE } write_kind_t;

struct group_multi;

typedef struct group_write {
    broker_coord_t *c;
    group_t *grp;
    write_kind_t kind;
    void *waiter;
    int32_t generation;
    broker_commit_req_t *commit;
    char *member_id;    /* W_STATIC_JOIN: the new member id */
    char *leader_id;    /* W_STATIC_JOIN: the leader before the replacement */
    int16_t *error_out; /* W_DELETE, W_OFFSET_DELETE: where a failed write is reported */
    struct group_multi *multi;
} group_write_t;

/* DeleteGroups spans several groups (maybe several partitions): done when all are. */
typedef struct group_multi {
    void *waiter;
    size_t left;
} group_multi_t;

void broker_coord_group_commit_stored(group_t *g, broker_commit_req_t *req, int err);
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
void broker_coord_recset_init(recset_t *rs);
void broker_coord_recset_write(broker_coord_t *c, recset_t *rs, group_write_t *w);
void broker_coord_replace_str(char **dst, const char *src);
bool broker_coord_str_eq(const char *a, const char *b);
void broker_coord_timer_start(broker_coord_t *c, net_timer_t *t, int64_t delay_ms);
int16_t broker_coord_write_err_code(int err);
group_write_t *broker_coord_write_new(broker_coord_t *c, group_t *g, write_kind_t kind,
                                      void *waiter);

/* The offsets-expiry timer (coord_commit.c), armed by broker_coord_new. */
void broker_coord_expire_timer_fired(void *arg);

#endif
