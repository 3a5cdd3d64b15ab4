/*
 * libweir streams: what the streams files share (users include weir/streams.h only).
 *
 * Parts, one file each:
 *   streams_topo.c    the topology: nodes, sub-topologies, stores, validation
 *   streams_store.c   state in SQLite: store rows, checkpoints, tables, the changelog encoding
 *   streams_window.c  window arithmetic, aggregate values, number formatting (pure functions)
 *   streams_ops.c     processing a record through the nodes: operators, windows, joins, sinks
 *   streams_task.c    tasks: input buffers, timestamp order, restore from changelogs
 *   streams_app.c     the app: config, clients, producing, stats, signals
 *   streams_admin.c   topics: partition counts, internal and output topics, lost changelogs
 *   streams_run.c     the loop, rebalances, commits (at least once and exactly once)
 *   streams_table.c   tables from topics: bootstrap and updates
 *   streams_query.c   queries from other threads
 *
 * The words: a *node* is one operator of the topology; a *sub-topology* is a connected set of
 * nodes fed by input topics that are read together (cut at repartition topics); a *task* is a
 * sub-topology on one partition number, owning that partition of each input and of each store;
 * a *store part* is one store on one partition (its rows in SQLite, its changelog partition).
 *
 * Threads: everything here runs on the weir_streams_run() thread, except streams_query.c
 * (any thread, its own SQLite connection under s->query_lock) and the counters (atomics).
 */
#ifndef WEIR_SDK_STREAMS_INTERNAL_H
#define WEIR_SDK_STREAMS_INTERNAL_H

#include "base/base.h"
#include "weir/streams.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#define ST_NAME_MAX       100 /* store, table and application id names */
#define ST_INPUTS_MAX     4   /* input topics of one sub-topology */
#define ST_PARTITIONS_MAX 4096
#define ST_TAKE_MAX       500    /* records taken from a partition's queue at a time */
#define ST_COLLECT_MAX    100000 /* records one callback call may collect */
#define ST_DEPTH_MAX      64     /* nodes one record may pass through */
#define ST_SRC_HDR        "weir.src"
#define ST_META_HDR       "weir.meta"
#define ST_META_KEY       "\0weir.stream-time"
#define ST_META_KEY_LEN   17
#define ST_WSTART_HDR     "weir.window.start"
#define ST_WEND_HDR       "weir.window.end"
#define ST_TIME_NONE      INT64_MIN

typedef enum {
    ST_SOURCE = 0,
    ST_FILTER,
    ST_MAP,
    ST_MAP_VALUES,
    ST_FLAT_MAP,
    ST_REPART_SINK,
    ST_AGG,
    ST_JOIN_TABLE,
    ST_JOIN_SIDE,
    ST_SINK,
    ST_FOREACH
} st_kind_t;

typedef enum {
    ST_STORE_KV = 0,  /* one row per key: a = b = 0 */
    ST_STORE_WINDOW,  /* a = start, b = end, closes at t = end */
    ST_STORE_SESSION, /* a = first event, b = last event, closes at t = b + gap + 1 */
    ST_STORE_BUFFER   /* a join side: a = event time, b = offset * 1024 + n, expires at a + W + 1 */
} st_store_kind_t;

typedef struct st_sub st_sub_t;
typedef struct st_store st_store_t;

struct weir_stream {
    weir_streams *s;
    st_kind_t kind;
    int id;
    st_sub_t *sub;
    bool key_changed; /* records here may not be in their key's partition */
    struct weir_stream **children;
    size_t nchildren;
    struct weir_stream *parent; /* NULL for sources; the left input for a join's right side */
    char *topic;                /* source, sink, repartition sink */
    int input;                  /* source: its index among the sub-topology's inputs */
    bool internal;              /* source or sink of a repartition topic */
    weir_timestamp_fn ts_fn;
    weir_predicate pred;
    weir_mapper mapper;
    weir_joiner joiner;
    weir_foreach_fn each;
    void *user;
    st_store_t *store;        /* aggregate; a join side's own buffer */
    st_store_t *other;        /* a join side: the other side's buffer */
    bool right;               /* a join side: the right one */
    struct weir_stream *join; /* a join side: the node results go to (its children) */
    int table;                /* join_table: index into s->tables */
    bool left_join;
    weir_aggregate_options agg; /* strings owned by the store */
    int64_t join_window_ms, grace_ms;
    char *late_topic;
};

struct st_store {
    char *name;
    char *changelog;
    char *late_topic;
    st_store_kind_t kind;
    st_sub_t *sub;
    int index;                 /* in s->stores */
    weir_stream *node;         /* the aggregate or join side that writes it */
    int64_t gap_ms, window_ms; /* session gap; join window */
    bool windowed;             /* rows close (t is set) */
    /* Prepared on the writer's connection by st_store_prepare(). */
    sqlite3_stmt *st_get, *st_put, *st_del, *st_range, *st_close, *st_min, *st_wipe, *st_purge;
    int sub_index; /* in its sub-topology's stores */
    int64_t grace_ms;
};

struct st_sub {
    int index;
    weir_stream *inputs[ST_INPUTS_MAX];
    size_t ninputs;
    int partitions; /* of every input (checked at start) */
    st_store_t **stores;
    size_t nstores;
    bool *rebuild; /* per partition: its stores were lost, rebuild at the next assignment */
};

typedef struct st_table {
    char *name;
    char *topic;
    int partitions;
    int64_t *next; /* per partition: the next offset to read, as in the store */
    bool *eof;     /* bootstrap: partition read to its end */
    sqlite3_stmt *st_get, *st_put, *st_del;
} st_table_t;

/* ---- tasks ---------------------------------------------------------------------------------- */
typedef struct st_input {
    char *topic;
    int32_t partition;
    rd_kafka_queue_t *rkqu;    /* the partition's own librdkafka queue (not forwarded) */
    rd_kafka_message_t **ring; /* taken from rkqu, not processed yet */
    size_t head, len, cap;
    int64_t head_ts;        /* event time of ring[head] (extracted once); ST_TIME_NONE: not yet */
    int64_t position;       /* next offset to process; -1: from the committed one */
    int64_t fetch_next;     /* offset after the last record fetched; -1: none yet */
    int64_t committed;      /* the group's committed offset at assignment; 0 if none */
    int64_t suppress_below; /* rebuilding: outputs of offsets below this are not produced */
} st_input_t;

typedef struct st_part {
    st_store_t *store;
    struct st_task *task;
    int64_t changelog_next;    /* checkpoint: the changelog offset the rows reflect up to */
    int64_t changelog_acked;   /* highest acknowledged changelog offset + 1 (delivery reports) */
    int64_t stream_time;       /* largest event time seen by this store on this partition */
    int64_t stream_time_saved; /* as last written to the changelog */
    int64_t next_close;        /* smallest t of its rows; INT64_MAX when none */
    int src_input;             /* the input record that last moved stream_time */
    int64_t src_offset;
    /* restoring */
    bool restoring;
    int64_t restore_end; /* the changelog's high watermark when the restore began */
} st_part_t;

typedef enum { ST_TASK_RESTORING = 0, ST_TASK_RUNNING } st_task_state_t;

typedef struct st_task {
    st_sub_t *sub;
    int32_t partition;
    st_task_state_t state;
    st_input_t in[ST_INPUTS_MAX];
    st_part_t *parts;         /* one per store of the sub-topology */
    int64_t blocked_since_ms; /* waiting for an empty input (timestamp order); -1: not */
    bool rebuild;             /* its stores were lost and are rebuilt from the inputs */
} st_task_t;

/* What is being processed now: the input record every produced row and output comes from. */
typedef struct st_ctx {
    st_task_t *task;
    int input;
    int64_t offset;
    bool suppress; /* rebuilding below the old committed offset: no outputs */
    unsigned seq;  /* records buffered by a join for this input record */
    int depth;
} st_ctx_t;

struct weir_collector {
    weir_streams *s;
    weir_stream *node;     /* whose children get the records */
    const weir_record *in; /* the record being mapped */
    bool value_only;       /* map_values, reducers, joiners: the key stays */
    bool single;           /* map: one record at most */
    bool hold;             /* reducers and mergers: keep the value in held, forward nothing */
    buf_t held;
    bool held_set;
    size_t count;
    int64_t next_ts;
    bool next_ts_set;
    int err;
};

typedef struct st_stats {
    _Atomic uint64_t processed, produced, skipped, late, suppressed, commits, rebalances, tasks,
        restored_records, restored_bytes, restore_ms, table_updates;
} st_stats_t;

struct weir_streams {
    weir_streams_config cfg;
    char *bootstrap, *app_id, *state_dir, *db_path, **settings;
    char instance_id[40];

    /* topology */
    weir_stream **nodes;
    size_t nnodes;
    st_sub_t **subs;
    size_t nsubs;
    st_store_t **stores;
    size_t nstores;
    st_table_t **tables;
    size_t ntables;
    char **sink_topics; /* created when missing */
    int *sink_parts;
    size_t nsinks;
    bool topo_error;
    bool built; /* sub-topologies computed */

    /* clients */
    rd_kafka_t *consumer, *producer, *restorer, *tabler;
    rd_kafka_queue_t *cq; /* the group consumer's queue: rebalances, errors */
    rd_kafka_queue_t *tq; /* the tables consumer's */
    int wake_fd;          /* eventfd librdkafka writes when one of our queues gets something */
    rd_kafka_consumer_group_metadata_t *cgmd;
    bool txn_open;
    bool produce_failed;
    char produce_err[256];

    /* state */
    sqlite3 *db;
    bool db_txn;
    sqlite3_stmt *st_ckpt_get, *st_ckpt_put, *st_ckpt_del, *st_tab_off_get, *st_tab_off_put;
    pthread_mutex_t query_lock;
    sqlite3 *qdb;

    /* tasks */
    st_task_t **tasks;
    size_t ntasks;
    size_t rr;
    bool dirty; /* processed or restored since the last commit */
    int64_t next_commit_ms;
    bool restoring; /* some task is restoring */
    int64_t restore_started_ns;

    /* processing */
    st_ctx_t ctx;
    buf_t valbuf;       /* scratch for store reads */
    buf_t inkey, inval; /* the input record, NUL-terminated */

    atomic_bool stop, ready, running;
    atomic_int fatal;
    st_stats_t stats;
    pthread_mutex_t err_lock;
    char errmsg[512];
};

/* streams_run.c */
void st_log(weir_streams *s, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void st_set_error(weir_streams *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void st_fatal(weir_streams *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Produces one record; key_len/value_len -1: null. A produce that fails to queue is fatal. */
int st_produce(weir_streams *s, const char *topic, int32_t partition, const void *key,
               ssize_t key_len, const void *value, ssize_t value_len, int64_t ts,
               rd_kafka_headers_t *hdrs, void *opaque);
int st_txn_ensure(weir_streams *s); /* EOS: a transaction is open before anything is produced */
void st_signals(weir_streams *s, bool install);
/* Watermarks of a partition, retrying for a while on a topic too new for every broker. */
int st_watermarks(weir_streams *s, rd_kafka_t *rk, const char *topic, int32_t part, int64_t *lo,
                  int64_t *hi);
void st_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                     rd_kafka_topic_partition_list_t *parts, void *opaque); /* streams_run.c */

/* streams_admin.c */
int st_topics_prepare(weir_streams *s);
int st_broker_has_transactions(weir_streams *s); /* 1 yes, 0 no, -1 cannot tell */

/* streams_topo.c */
int st_topology_build(weir_streams *s); /* sub-topologies, inputs, stores; once */
void st_topology_free(weir_streams *s);
bool st_name_ok(const char *name);
st_store_t *st_store_find(weir_streams *s, const char *name);
st_table_t *st_table_find(weir_streams *s, const char *name, int *index);
st_sub_t *st_sub_of_topic(weir_streams *s, const char *topic, int *input);

/* streams_store.c */
void st_buf_set(buf_t *b, const void *p, size_t n); /* the bytes and a NUL that is not counted */
int st_db_open(weir_streams *s, char *err, size_t errlen);
void st_db_close(weir_streams *s);
int st_db_begin(weir_streams *s);
int st_db_commit(weir_streams *s);
void st_db_rollback(weir_streams *s);
int st_store_prepare(weir_streams *s, st_store_t *st);
int st_table_prepare(weir_streams *s, st_table_t *t);
/* A row of st: 0 and the value in *val (a scratch buffer, valid until the next call), or
 * -WEIR_ENOENT. */
int st_row_get(weir_streams *s, st_store_t *st, int32_t part, const void *key, size_t klen,
               int64_t a, int64_t b, const void **val, size_t *vlen);
/* Writes (value) or deletes (value NULL) a row and, unless restoring, its changelog record. */
int st_row_put(weir_streams *s, st_part_t *sp, const void *key, size_t klen, int64_t a, int64_t b,
               const void *val, ssize_t vlen, bool changelog);
int st_part_next_close(weir_streams *s, st_part_t *sp);
/* Deletes the rows closed at watermark wm (no changelog record) and finds the next close. */
int st_part_purge_closed(weir_streams *s, st_part_t *sp, int64_t wm);
int st_part_wipe(weir_streams *s, st_store_t *st, int32_t part);
int st_ckpt_get(weir_streams *s, const char *store, int32_t part, int64_t *changelog_next,
                int64_t *stream_time); /* -WEIR_ENOENT when none */
int st_ckpt_put(weir_streams *s, const char *store, int32_t part, int64_t changelog_next,
                int64_t stream_time);
int st_ckpt_del(weir_streams *s, const char *store, int32_t part);
/* Every (store, part) checkpoint the store holds, for dropping unowned partitions. */
typedef int (*st_ckpt_fn)(const char *store, int32_t part, void *user);
int st_ckpt_each(weir_streams *s, st_ckpt_fn fn, void *user);
int64_t st_store_t_of(const st_store_t *st, int64_t a, int64_t b);
/* The changelog key of a row: key, then a and b big-endian unless the store is KV. */
void st_changelog_key(const st_store_t *st, const void *key, size_t klen, int64_t a, int64_t b,
                      buf_t *out);
int st_changelog_key_parse(const st_store_t *st, const void *ck, size_t cklen, size_t *klen,
                           int64_t *a, int64_t *b); /* -WEIR_ECORRUPT */
/* Applies one changelog record read while restoring; *skipped when it was not committed. */
int st_restore_apply(weir_streams *s, st_part_t *sp, const rd_kafka_message_t *m, bool *skipped);
int st_table_apply(weir_streams *s, st_table_t *t, const rd_kafka_message_t *m);
int st_table_offsets_load(weir_streams *s, st_table_t *t);
int st_table_offset_put(weir_streams *s, st_table_t *t, int32_t part, int64_t next);
int st_table_get(weir_streams *s, st_table_t *t, const void *key, size_t klen, const void **val,
                 size_t *vlen, int64_t *ts);

/* streams_window.c: pure functions, unit tested */
/* Windows [start, start + size) of a time-window store that contain ts, oldest first; returns
 * how many (at most max). */
size_t st_windows_for(const weir_window *w, int64_t ts, int64_t *starts, size_t max);
int st_window_check(const weir_window *w, weir_emit_mode emit, char *why, size_t whylen);
/* The next aggregate for kind COUNT/SUM/MIN/MAX from the current one (NULL: none) and the
 * record's number; -WEIR_EINVAL if the current aggregate does not parse. */
int st_agg_builtin(weir_agg_kind kind, const void *agg, size_t agg_len, double x, char out[32]);
/* Two aggregates of kind COUNT/SUM/MIN/MAX combined (session merges). */
int st_agg_merge(weir_agg_kind kind, const void *a, size_t alen, const void *b, size_t blen,
                 char out[32]);
int st_parse_number(const void *p, size_t n, double *out); /* the whole text, finite */

/* streams_ops.c */
void st_process(weir_streams *s, weir_stream *n, const weir_record *r);
/* After a record: closes windows past the watermark and expires join buffers. */
void st_task_close_windows(weir_streams *s, st_task_t *t);
/* EOS/ALOS commit point: the stream times of stores that moved, to their changelogs. */
int st_task_save_stream_times(weir_streams *s, st_task_t *t);
bool st_record_headers_window(const rd_kafka_message_t *m, int64_t *start, int64_t *end);

/* streams_task.c */
st_task_t *st_task_new(weir_streams *s, st_sub_t *sub, int32_t partition);
/* Reads the task's input partitions from their own queues (after the assignment). */
void st_task_queues(weir_streams *s, st_task_t *t);
void st_task_free(weir_streams *s, st_task_t *t);
st_task_t *st_task_find(weir_streams *s, const char *topic, int32_t partition, int *input);
int st_task_restore_begin(weir_streams *s, st_task_t *t);
/* Reads what the restore consumer has (up to a time budget). */
int st_restore_poll(weir_streams *s, int budget_ms);
/* Takes one record of the task in timestamp order and processes it; false when none may go. */
bool st_task_step(weir_streams *s, st_task_t *t);
void st_input_push(weir_streams *s, st_task_t *t, int input, rd_kafka_message_t *m);

/* streams_table.c */
int st_tables_bootstrap(weir_streams *s);
int st_tables_poll(weir_streams *s);

#endif
