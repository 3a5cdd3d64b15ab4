/*
 * libweir streams: stream processing on Kafka topics, with state in SQLite.
 *
 * An app declares a topology (sources, operators, sinks) and runs it. Instances of the same app
 * (the same application_id) share the input partitions through one consumer group; the state of
 * a partition moves with it, restored from the store's changelog topic.
 *
 *   weir_streams *s;
 *   weir_streams_config cfg;
 *   weir_streams_config_init(&cfg);
 *   cfg.bootstrap = "127.0.0.1:9092";
 *   cfg.application_id = "clicks";
 *   cfg.state_dir = "/var/lib/clicks";
 *   weir_streams_new(&cfg, &s, err, sizeof(err));
 *
 *   weir_aggregate_options per_minute;
 *   weir_aggregate_options_init(&per_minute, "per-minute", WEIR_AGG_COUNT);
 *   per_minute.window = weir_window_tumbling(60000, 5000);  // 1 min windows, 5 s grace
 *   per_minute.emit = WEIR_EMIT_FINAL;                       // one result per closed window
 *   weir_stream *clicks = weir_streams_source(s, "clicks", NULL, NULL);
 *   weir_stream_to(weir_stream_aggregate(clicks, &per_minute), "clicks-per-minute");
 *   int rc = weir_streams_run(s);     // until SIGINT/SIGTERM or weir_streams_stop()
 *   weir_streams_free(s);
 *
 * Records carry a key, a value (bytes; both may be null), and an event time in ms. An operator
 * that keeps state (aggregate, stream-stream join) groups by the record's key: after a key
 * change (map, flat_map, group_by) the SDK sends the records through a repartition topic first,
 * so that each key lands in one partition. Windows follow event time: the stream time of a
 * partition is the largest event time seen there, the watermark trails it by the grace period,
 * and records behind the watermark are late (to late_topic, or dropped and counted).
 *
 * Guarantees (docs/streams.md says more):
 *  - WEIR_AT_LEAST_ONCE: after a crash the records since the last commit are processed again,
 *    so outputs may repeat, but each record updates state once: a store remembers which input
 *    offsets it reflects (in SQLite and in every changelog record) and a restore leaves out what
 *    was never committed. A rerun is deterministic, so repeated outputs are copies.
 *  - WEIR_EXACTLY_ONCE: state (changelog), outputs and input offsets commit in one Kafka
 *    transaction (librdkafka's transactional producer); consumers with isolation.level=
 *    read_committed see each output once. Needs a broker that serves transactions.
 *
 * Threads: weir_streams_run() runs everything on the calling thread (one thread per instance;
 * run more instances to use more cores). Callbacks of the topology run on that thread and must be
 * pure functions of their arguments (a rerun must compute the same output). Queries
 * (weir_streams_get/scan) may come from any thread.
 */
#ifndef WEIR_STREAMS_H
#define WEIR_STREAMS_H

#include "weir/weir.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_streams weir_streams;     /* the app: topology, clients, state */
typedef struct weir_stream weir_stream;       /* a stream in the topology (owned by the app) */
typedef struct weir_collector weir_collector; /* where a callback puts the records it makes */

/* A record as the callbacks see it, valid during the call. key and value are followed by a NUL
 * byte that is not counted (text can be read as a C string); NULL means null. */
typedef struct weir_record {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp;    /* event time, ms since the epoch */
    int64_t window_start; /* results of a windowed aggregate: the window [start, end); else -1 */
    int64_t window_end;   /* (a session: its first and last event time, both included) */
    const char *topic;    /* the input record this one comes from */
    int32_t partition;
    int64_t offset;
} weir_record;

/* ---- the app --------------------------------------------------------------------------------- */
typedef enum weir_guarantee {
    WEIR_AT_LEAST_ONCE = 0, /* default */
    WEIR_EXACTLY_ONCE = 1
} weir_guarantee;

typedef struct weir_streams_config {
    const char *bootstrap;      /* required */
    const char *application_id; /* required: the consumer group, the prefix of internal topics
                                   (<id>-<name>-changelog, <id>-<name>-repartition); letters,
                                   digits, '.', '_', '-', at most 100 bytes */
    const char *state_dir;      /* required: this instance's own directory (created if missing);
                                   the store is <state_dir>/<application_id>.db (SQLite, WAL) */
    weir_guarantee guarantee;
    int commit_interval_ms;      /* default 100 */
    int session_timeout_ms;      /* group session timeout; default 10000 */
    int max_task_idle_ms;        /* a join waits this long for its other input before going on by
                                    timestamp without it; default 0 (only while that input has records
                                    on the broker not yet fetched) */
    int internal_partitions;     /* partitions of repartition topics; default: those of the input */
    bool rebuild_lost_state;     /* a store whose changelog topic is gone: rebuild it from its input
                                    (reprocessing without producing outputs again); default false:
                                    weir_streams_run() fails and says so */
    bool handle_signals;         /* default true: SIGINT/SIGTERM stop weir_streams_run() */
    const char *const *settings; /* librdkafka "key=value", NULL-terminated; "consumer." /
                                    "producer." prefixes target one client */
    weir_log_fn log;             /* default: WARN and ERROR lines on stderr */
    void *log_user;
    int log_level;
} weir_streams_config;

/* Any thread. */
void weir_streams_config_init(weir_streams_config *cfg);
/* Any thread. Opens the store and creates the clients; strings are copied. On error *out is
 * NULL and errbuf says why. */
int weir_streams_new(const weir_streams_config *cfg, weir_streams **out, char *errbuf,
                     size_t errlen);
/* The creating thread, after weir_streams_run() returned (or was never called). */
void weir_streams_free(weir_streams *s);

/* ---- building the topology (before weir_streams_run, on the creating thread) ------------------
 * Every function that makes a stream returns NULL on a bad argument and records why; a NULL
 * input gives NULL again, so a whole chain can be written and checked once: weir_streams_run()
 * then fails with -WEIR_ERR_INVAL and weir_streams_errmsg() names the first mistake. */

/* The event time of a source record; a negative result skips it (counted in stats.skipped).
 * NULL: the Kafka record's timestamp. */
typedef int64_t (*weir_timestamp_fn)(const weir_record *r, void *user);
typedef bool (*weir_predicate)(const weir_record *r, void *user);
/* Makes records with weir_collect*(); returning non-zero skips the input record (logged and
 * counted in stats.skipped; what was already collected stays). */
typedef int (*weir_mapper)(const weir_record *r, weir_collector *out, void *user);

weir_stream *weir_streams_source(weir_streams *s, const char *topic, weir_timestamp_fn ts,
                                 void *user);
weir_stream *weir_stream_filter(weir_stream *in, weir_predicate fn, void *user);
/* Exactly one record per input (the key may change; collecting none drops the record). */
weir_stream *weir_stream_map(weir_stream *in, weir_mapper fn, void *user);
/* Like map, but the key stays: weir_collect_value() only. No repartition follows. */
weir_stream *weir_stream_map_values(weir_stream *in, weir_mapper fn, void *user);
/* Zero or more records per input; keys may change. */
weir_stream *weir_stream_flat_map(weir_stream *in, weir_mapper fn, void *user);
/* Re-keys each record with fn (one record out, as map) and sends the stream through the topic
 * <application_id>-<name>-repartition, so a stateful operator after it sees every record of a
 * key in one partition. Stateful operators do this by themselves after a key change; group_by
 * names the topic and makes it explicit. */
weir_stream *weir_stream_group_by(weir_stream *in, const char *name, weir_mapper fn, void *user);

/* Collectors: key and value are copied; NULL is null; len 0 with a non-NULL pointer is an empty
 * byte string. The record keeps the input's event time and window. */
int weir_collect(weir_collector *out, const void *key, size_t key_len, const void *value,
                 size_t value_len);
int weir_collect_str(weir_collector *out, const char *key, const char *value);
int weir_collect_value(weir_collector *out, const void *value, size_t value_len); /* same key */
/* Changes the event time of the next collected record (map and flat_map only). */
void weir_collect_timestamp(weir_collector *out, int64_t timestamp);

/* ---- windows and aggregations -----------------------------------------------------------------
 */
typedef enum weir_window_kind {
    WEIR_WINDOW_NONE = 0, /* one running aggregate per key */
    WEIR_WINDOW_TUMBLING, /* [k*size, (k+1)*size) */
    WEIR_WINDOW_HOPPING,  /* [k*advance, k*advance + size): a record is in size/advance windows */
    WEIR_WINDOW_SESSION   /* records of a key less than gap apart form one session */
} weir_window_kind;

typedef struct weir_window {
    weir_window_kind kind;
    int64_t size_ms;
    int64_t advance_ms;
    int64_t gap_ms;
    int64_t grace_ms; /* how far behind stream time a record may be and still count */
} weir_window;

weir_window weir_window_tumbling(int64_t size_ms, int64_t grace_ms);
weir_window weir_window_hopping(int64_t size_ms, int64_t advance_ms, int64_t grace_ms);
weir_window weir_window_session(int64_t gap_ms, int64_t grace_ms);

typedef enum weir_agg_kind {
    WEIR_AGG_COUNT = 0, /* records */
    WEIR_AGG_SUM,       /* of a number per record (see number below) */
    WEIR_AGG_MIN,
    WEIR_AGG_MAX,
    WEIR_AGG_REDUCE /* a reducer of your own */
} weir_agg_kind;

typedef enum weir_emit_mode {
    WEIR_EMIT_UPDATES = 0, /* the new aggregate after every record (a changelog stream) */
    WEIR_EMIT_FINAL = 1    /* windows only: one result per window, when it closes */
} weir_emit_mode;

/* The number a record adds to a SUM/MIN/MAX; non-zero skips the record. NULL: the value read as
 * a decimal number (records whose value is not one are skipped). */
typedef int (*weir_number_fn)(const weir_record *r, double *out, void *user);
/* A custom aggregate: agg is the current one (NULL, 0 for a new key or window); write the next
 * with weir_collect_value(). Collecting nothing leaves the aggregate as it is. */
typedef int (*weir_reducer)(const void *agg, size_t agg_len, const weir_record *r,
                            weir_collector *out, void *user);
/* Session windows with WEIR_AGG_REDUCE: two sessions joined by a record become one; combine
 * their aggregates (a is the earlier) with weir_collect_value(). */
typedef int (*weir_merger)(const void *a, size_t a_len, const void *b, size_t b_len,
                           weir_collector *out, void *user);

typedef struct weir_aggregate_options {
    const char *name; /* the store: queries, and its changelog <application_id>-<name>-changelog;
                         letters, digits, '.', '_', '-'; unique in the app */
    weir_agg_kind kind;
    weir_number_fn number;
    weir_reducer reduce;
    weir_merger merge;
    void *user; /* passed to number, reduce and merge */
    weir_window window;
    weir_emit_mode emit;
    const char *late_topic; /* late records go here unchanged; NULL: dropped (stats.late) */
} weir_aggregate_options;

void weir_aggregate_options_init(weir_aggregate_options *opt, const char *name, weir_agg_kind kind);

/* Aggregates per key (and window). Results are records keyed by the group key whose value is
 * the aggregate: COUNT as a decimal integer ("42"), SUM/MIN/MAX as the shortest decimal that
 * reads back as the same double ("12.5"), REDUCE as your bytes. Windowed results carry
 * window_start/window_end, written by weir_stream_to() as the headers weir.window.start and
 * weir.window.end; their event time is the triggering record's (updates) or the window's last
 * millisecond (final). In updates mode a session that was merged into another is retracted: a
 * result with a null value for the old session's window. */
weir_stream *weir_stream_aggregate(weir_stream *in, const weir_aggregate_options *opt);

/* ---- tables and joins ----------------------------------------------------------------------- */
/* A table materialized from a (compacted) topic: the latest value per key, null values delete.
 * Every instance holds all of it (like Kafka Streams' GlobalKTable), in the store with the
 * topic offsets it reflects, so a restart resumes where it was and a lost store is rebuilt from
 * the topic. weir_streams_run() reads it to the end before processing streams. */
int weir_streams_table(weir_streams *s, const char *name, const char *topic);

/* Joins: right is NULL in a left join without a match. Collect the joined records (their event
 * time: the stream record's, or the later of the two in a stream-stream join). */
typedef int (*weir_joiner)(const weir_record *left, const weir_record *right, weir_collector *out,
                           void *user);
/* Each record of in is looked up in the table by its key, as the table is at that moment. */
weir_stream *weir_stream_join_table(weir_stream *in, const char *table, weir_joiner fn, void *user,
                                    bool left_join);

typedef struct weir_join_options {
    const char *name;  /* its two stores: <name>-left and <name>-right */
    int64_t window_ms; /* records join when their event times are at most this far apart */
    int64_t grace_ms;
    weir_joiner fn;
    void *user;
    const char *late_topic;
} weir_join_options;

/* An inner join of two streams on the key, within a time window. Both inputs must have the
 * same number of partitions (they are read as one task per partition). */
weir_stream *weir_stream_join(weir_stream *left, weir_stream *right, const weir_join_options *opt);

/* ---- sinks ---------------------------------------------------------------------------------- */
/* Produces every record to topic (created when missing, with the input's partitions), by key. */
int weir_stream_to(weir_stream *in, const char *topic);
/* Calls fn for every record: side effects outside Kafka are at least once in both modes. */
typedef void (*weir_foreach_fn)(const weir_record *r, void *user);
int weir_stream_foreach(weir_stream *in, weir_foreach_fn fn, void *user);

/* ---- running -------------------------------------------------------------------------------- */
/* Creates the internal topics, reads the tables, joins the group, restores the state of the
 * partitions it gets and processes until weir_streams_stop(), a signal, or a fatal error.
 * Returns 0 after a clean stop (last commit done, group left) or a negative code. */
int weir_streams_run(weir_streams *s);
void weir_streams_stop(weir_streams *s);        /* any thread, also a signal handler */
bool weir_streams_ready(const weir_streams *s); /* any thread: running, state restored */
const char *weir_streams_errmsg(const weir_streams *s);

typedef struct weir_streams_counters {
    uint64_t processed;        /* input records processed */
    uint64_t produced;         /* records produced to sinks, repartition and late topics */
    uint64_t skipped;          /* records a callback or the timestamp refused */
    uint64_t late;             /* records behind the watermark */
    uint64_t suppressed;       /* outputs not produced while rebuilding lost state */
    uint64_t commits;          /* commits (or transactions) completed */
    uint64_t rebalances;       /* assignments received */
    uint64_t tasks;            /* tasks (partitions) this instance runs now */
    uint64_t restored_records; /* changelog and table records read to restore state */
    uint64_t restored_bytes;   /* their keys and values */
    uint64_t restore_ms;       /* time spent restoring */
    uint64_t table_updates;    /* table records applied after the start */
} weir_streams_counters;

void weir_streams_stats(const weir_streams *s, weir_streams_counters *out); /* any thread */

/* ---- queries (any thread; the state as of the last commit, of this instance's partitions) ---- */
/* A row as weir_streams_scan() passes it, valid during the call (key and value are not
 * NUL-terminated). */
typedef struct weir_row {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t window_start, window_end; /* -1 unless windowed */
    int32_t partition;
} weir_row;

/* A table or a non-windowed aggregate: 0 and a malloc'd copy of the value (NUL-terminated, free()
 * it), -WEIR_ERR_NOENT when the key is absent. */
int weir_streams_get(weir_streams *s, const char *store, const void *key, size_t key_len,
                     void **value, size_t *value_len);
/* Every row of a table or store, in key order; fn returns non-zero to stop. */
typedef int (*weir_row_fn)(const weir_row *row, void *user);
int weir_streams_scan(weir_streams *s, const char *store, weir_row_fn fn, void *user);

/* The shortest decimal text that reads back as the same double ("12.5", "3", "-0.1"); out has
 * room for 32 bytes. */
void weir_format_number(double v, char out[32]);

#ifdef __cplusplus
}
#endif
#endif
