/*
 * cli: the `weir` command. main.c reads the global flags and dispatches the first word to a
 * command family (topic, produce, consume, group, cluster, completion, help, version, serve);
 * each family lives in its own file and returns the process exit code:
 * 0 ok, 1 error (one clear line on stderr), 2 usage, 3 not found.
 *
 * The client commands are built on librdkafka (admin API, producer, consumer), so they work
 * against any Kafka-compatible broker, not only Weir; `txn` needs Kafka APIs librdkafka 2.0
 * lacks and speaks them itself (rawkafka.h, on the codec of src/kafka/wire). Pure parts (format
 * strings, offset specs, times, tables, JSON escaping) have no librdkafka dependency and are unit
 * tested on their own.
 *
 * Everything here runs on the main thread of a short-lived process; nothing is thread safe
 * unless it says so.
 */
#ifndef WEIR_CLI_H
#define WEIR_CLI_H

#include "base/base.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2, CLI_NOT_FOUND = 3 };

#define CLI_VERSION         "0.1.0"
#define CLI_DEFAULT_BROKERS "127.0.0.1:9092"
#define CLI_TABLE_WIDTH_MAX 100

int cli_serve_main(int argc, char **argv); /* serve.c: the broker */

/* ---- global options (main.c, args.c) ---------------------------------------------------------
 * Read before the command word and again among each command's own flags, so both
 * `weir -b h:p topic list` and `weir topic list -b h:p` work. */
typedef enum { CLI_OUT_TABLE = 0, CLI_OUT_JSON } cli_output_t;

#define CLI_XCONF_MAX 64

/* ---- profiles (profile.c): named brokers in ~/.config/weir/weir.yaml ------------------------ */
#define CLI_PROFILES_MAX 64
typedef struct {
    char name[128];
    char *brokers;                 /* owned; NULL: none given */
    char *registry;                /* owned; NULL */
    char *settings[CLI_XCONF_MAX]; /* "key=value", applied before -X */
    size_t nsettings;
} cli_profile_t;

typedef struct {
    char path[512];
    char current[128]; /* `current:` of the file, or "" */
    cli_profile_t items[CLI_PROFILES_MAX];
    size_t n;
} cli_profiles_t;

/* $WEIR_CONFIG, else $XDG_CONFIG_HOME/weir/weir.yaml, else ~/.config/weir/weir.yaml (NULL
 * without a home). */
const char *cli_profile_path(char *buf, size_t cap);
/* 0, -WEIR_ENOENT (no file; err says where it was looked for) or another error with err. */
int cli_profiles_load(cli_profiles_t *all, char *err, size_t cap);
const cli_profile_t *cli_profiles_find(const cli_profiles_t *all, const char *name);
void cli_profile_free(cli_profile_t *p);
void cli_profiles_free(cli_profiles_t *all);

typedef struct {
    const char *brokers;              /* resolved by cli_global_resolve: -b, else $WEIR_BROKERS,
                                         else the profile's, else 127.0.0.1:9092 */
    const char *xconf[CLI_XCONF_MAX]; /* -X key=value, in order given */
    size_t xconf_len;
    cli_output_t output;      /* -o table|json */
    int64_t timeout_ms;       /* --timeout: each broker round trip */
    bool verbose;             /* -v: librdkafka logs on stderr */
    bool output_set;          /* -o seen (consume rejects it with a hint) */
    bool dry_run;             /* --dry-run: commands that change state say what they would do */
    const char *brokers_flag; /* -b as given (may be empty: an unset $BROKER) */
    const char *profile;      /* --profile, else $WEIR_PROFILE */
    const char *registry;     /* the profile's schema registry, or NULL (after resolve) */
    bool resolved;
    cli_profiles_t *profiles; /* loaded by cli_global_resolve when one is used */
    const char *cmd;          /* "topic create", for messages */
    const char *family;       /* "topic" */
    const char *sub;          /* "create", or NULL */
    char cmd_buf[64];
} cli_global_t;

void cli_global_init(cli_global_t *g);
/* Settles where the brokers come from (and adds the profile's settings before the -X ones).
 * 0, or an exit code after one line on stderr: CLI_USAGE at once for an empty -b ("" from an
 * unset shell variable) instead of librdkafka's wait on no address; CLI_ERROR for a profile
 * that is named but missing. Called by cli_client_open; idempotent. */
int cli_global_resolve(cli_global_t *g);
void cli_global_deinit(cli_global_t *g);
/* The schema registry when --registry is not given: $WEIR_REGISTRY, else the profile's, else
 * NULL (the caller's default). */
const char *cli_registry_default(cli_global_t *g);

/* ---- argument parsing (args.c) ----------------------------------------------------------------
 * A small getopt: short flags (-p 3, -p3, clustered -ey), long flags (--yes, --set k=v,
 * --set=k=v), `--` ends flags; everything else is collected as a positional argument in order.
 * Global flags are handled inside cli_args_next() unless the command claims the same letter. */
typedef struct {
    char short_name;       /* 0 if none */
    const char *long_name; /* NULL if none */
    bool has_arg;
    int id; /* > 0, returned by cli_args_next */
} cli_opt_t;

enum { CLI_OPT_HELP = 1000 }; /* -h/--help: every command gets it */

typedef struct {
    int argc;
    char **argv;
    int i;               /* next argv index */
    const char *cluster; /* rest of a clustered short flag group, or NULL */
    char **pos;          /* positionals (pointers into argv) */
    int npos;
    bool stop_at_positional; /* main.c: stop at the command word, leaving a->i on it */
    cli_global_t *g;
} cli_args_t;

void cli_args_init(cli_args_t *a, cli_global_t *g, int argc, char **argv);
void cli_args_deinit(cli_args_t *a);
/* Returns 1 and sets *id and *arg for a command flag, 0 when argv is done, or -CLI_USAGE after
 * printing one line on stderr. */
int cli_args_next(cli_args_t *a, const cli_opt_t *opts, int *id, const char **arg);
/* The flags of a command whose own flags take no value (--quiet, --yes): seen[id] is set for
 * each one given (seen has an element for every id in opts). Stops at --help. Returns 0,
 * CLI_USAGE after the one-line message, or -1 for --help. */
int cli_args_switches(cli_args_t *a, const cli_opt_t *opts, bool *seen);
/* The flags of a command with none of its own. Returns -1 for --help (even when a bad flag
 * follows it, which is still reported), 0, or CLI_USAGE after the one-line message. */
int cli_args_none(cli_args_t *a);

/* A family's subcommands: cli_dispatch() picks one by argv[1], sets g->cmd, and runs it with
 * argv[0] = the subcommand's name. Handles a missing or unknown subcommand and --help. */
typedef struct {
    const char *name;
    int (*fn)(cli_global_t *g, int argc, char **argv);
} cli_sub_t;
int cli_dispatch(cli_global_t *g, const char *family, const cli_sub_t *subs, size_t nsubs, int argc,
                 char **argv);
/* Prints the help page of the current command (g->family, g->sub) and returns CLI_OK. */
int cli_help_current(const cli_global_t *g);
/* Sets g->family / g->sub / g->cmd. */
void cli_set_cmd(cli_global_t *g, const char *family, const char *sub);

/* Messages, all prefixed "weir <cmd>: ". */
void cli_err(const cli_global_t *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_err(const cli_global_t *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Number and key=value parsing. 0 or -WEIR_EINVAL / -WEIR_ERANGE. */
int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int cli_kv_split(const char *s, char **key, char **value); /* heap copies; '=' required */
void cli_kv_free(char **keys, char **values, size_t n);    /* what n cli_kv_split calls made */

/* Destructive commands: 0 when --yes was given, or stdin is a terminal and the user typed y
 * to "<action>? [y/N]". Otherwise it prints why and returns the exit code: CLI_USAGE without a
 * terminal and without --yes, CLI_ERROR when the user said no. action: "delete topic t". */
int cli_confirm(const cli_global_t *g, bool yes, const char *action);
/* cli_confirm for an action on n named things: "<verb>[s] a, b<tail>", where noun is "topic" and
 * tail is " and all its records" for one name, tail_many (" and all their records") for more. */
int cli_confirm_names(const cli_global_t *g, bool yes, const char *verb, const char *noun,
                      char *const *names, int n, const char *tail_one, const char *tail_many);

/* ---- times and offsets (spec.c, pure) ---------------------------------------------------------
 */
/* "2024-05-01T12:00:00.123Z" (UTC, always milliseconds). out needs 32 bytes. */
void cli_time_format(int64_t ms, char *out, size_t out_size);
/* RFC 3339 ("2024-05-01T12:00:00Z", "...:00.5+02:00", "2024-05-01"), epoch ms ("1714564800000"),
 * or relative to now_ms ("-1h", "-90s", "-1h30m", "-2d"). */
int cli_time_parse(const char *s, int64_t now_ms, int64_t *ms);
/* "500ms", "10s", "5m", "1h30m", "2d" -> ms. */
int cli_duration_parse(const char *s, int64_t *ms);

typedef enum {
    CLI_OFF_START = 0,  /* start / beginning / oldest: the log start offset */
    CLI_OFF_END,        /* end / newest: the high watermark */
    CLI_OFF_EXACT,      /* N */
    CLI_OFF_FROM_START, /* +N: N after the log start */
    CLI_OFF_FROM_END,   /* -N: N before the high watermark */
    CLI_OFF_TIME        /* @ms, @RFC3339, @-1h, or a bare RFC 3339 time / -1h */
} cli_offset_kind_t;

typedef struct {
    cli_offset_kind_t kind;
    int64_t value; /* offset, count or ms since the epoch */
} cli_offset_spec_t;

int cli_offset_spec_parse(const char *s, int64_t now_ms, cli_offset_spec_t *spec);
/* The absolute offset a spec names in a partition [low, high), clamped to [low, high]. For
 * CLI_OFF_TIME, time_offset is what ListOffsets answered for the time (-1: none, i.e. high). */
int64_t cli_offset_spec_resolve(const cli_offset_spec_t *spec, int64_t low, int64_t high,
                                int64_t time_offset);

/* ---- records and format strings (format.c, pure) ----------------------------------------------
 * One record as the formatter sees it. Lengths are -1 for a null key or value. */
typedef struct {
    const char *name;
    size_t name_len;
    const void *value;
    ssize_t value_len;
} cli_header_t;

typedef struct {
    const char *topic;
    size_t topic_len;
    int32_t partition;               /* -1: unset (produce: let the partitioner choose) */
    bool key_is_json, value_is_json; /* consume --decode: key/value hold JSON text */
    int64_t offset;
    int64_t timestamp_ms; /* -1: unset */
    const void *key;
    ssize_t key_len;
    const void *value;
    ssize_t value_len;
    const cli_header_t *headers;
    size_t header_count;
} cli_record_t;

typedef enum {
    CLI_TOK_LITERAL = 0,
    CLI_TOK_TOPIC,        /* %t */
    CLI_TOK_PARTITION,    /* %p */
    CLI_TOK_OFFSET,       /* %o */
    CLI_TOK_KEY,          /* %k */
    CLI_TOK_KEY_LEN,      /* %K: -1 for null */
    CLI_TOK_VALUE,        /* %v, kcat's %s */
    CLI_TOK_VALUE_LEN,    /* %V, kcat's %S: -1 for null */
    CLI_TOK_HEADERS,      /* %h: k=v,k=v */
    CLI_TOK_HEADER_COUNT, /* %H */
    CLI_TOK_TIMESTAMP,    /* %T: ms since the epoch */
    CLI_TOK_TIME          /* %d: RFC 3339 */
} cli_tok_kind_t;

typedef enum { CLI_ENC_RAW = 0, CLI_ENC_HEX, CLI_ENC_BASE64 } cli_enc_t;

typedef struct {
    cli_tok_kind_t kind;
    cli_enc_t enc;  /* %k{hex}, %v{base64} */
    size_t lit_off; /* literal bytes in fmt->lit */
    size_t lit_len;
} cli_tok_t;

#define CLI_FORMAT_TOKENS_MAX 64
typedef struct {
    cli_tok_t toks[CLI_FORMAT_TOKENS_MAX];
    size_t ntoks;
    buf_t lit; /* unescaped literal bytes */
} cli_format_t;

/* Parses a format string (tokens above, escapes \n \t \r \0 \\ \xHH, %%). `for_input` checks
 * that the format can be parsed back (produce -f): each variable-length field must be followed
 * by a literal or be last, or have its length given by %K / %V before it. */
int cli_format_parse(cli_format_t *fmt, const char *src, bool for_input, char *err,
                     size_t err_size);
void cli_format_deinit(cli_format_t *fmt);
void cli_format_render(const cli_format_t *fmt, const cli_record_t *rec, buf_t *out);

/* The default consume output: one JSON object and a newline. Field names are stable. */
void cli_record_render_json(const cli_record_t *rec, buf_t *out);

/* Byte helpers used by the renderers (and tests). */
bool cli_utf8_valid(const void *p, size_t n);
void cli_json_escape(buf_t *out, const void *p, size_t n); /* adds the quotes */
void cli_base64_encode(buf_t *out, const void *p, size_t n);
int cli_base64_decode(buf_t *out, const void *p, size_t n);
void cli_hex_encode(buf_t *out, const void *p, size_t n);
/* "name":value for a key, value or header value: a JSON string when the bytes are UTF-8, base64
 * with a "<name>_encoding":"base64" field after it when not, null for n < 0. */
void cli_json_bytes_field(buf_t *out, const char *name, const void *p, ssize_t n);
int cli_hex_decode(buf_t *out, const void *p, size_t n);

/* Streaming input for produce: a reader holds at most one record (bounded by max_record_bytes)
 * plus one read chunk. Records parsed from it point into its buffer until the next call. */
typedef ssize_t (*cli_read_fn)(void *ctx, void *p, size_t n);
typedef struct {
    cli_read_fn read;
    void *ctx;
    buf_t buf;
    size_t pos; /* start of the unparsed bytes in buf */
    bool eof;
    size_t max_record_bytes;
    buf_t decoded; /* hex/base64-decoded fields, reset per record */
    cli_header_t headers[64];
} cli_reader_t;

void cli_reader_init(cli_reader_t *r, cli_read_fn read, void *ctx, size_t max_record_bytes);
void cli_reader_deinit(cli_reader_t *r);
ssize_t cli_read_fd(void *ctx, void *p, size_t n); /* ctx: (int *) fd */
/* 1: a record; 0: clean end of input; <0: error, err says which record byte and why. The topic
 * and partition of rec stay as the caller set them unless the format has %t / %p. */
int cli_format_read(const cli_format_t *fmt, cli_reader_t *r, cli_record_t *rec, char *err,
                    size_t err_size);

/* ---- output (output.c, pure) -------------------------------------------------------------------
 * Tables: left-aligned columns two spaces apart, headers in capitals, no trailing spaces, fit in
 * max_width columns by shortening the widest shrinkable columns with "…". */
typedef struct {
    size_t ncols;
    const char *headers[16];
    char **cells; /* nrows * ncols owned strings */
    size_t nrows, cap;
    uint32_t shrinkable; /* bit per column that may be shortened */
} cli_table_t;

void cli_table_init(cli_table_t *t, size_t ncols, const char *const *headers);
void cli_table_deinit(cli_table_t *t);
void cli_table_add(cli_table_t *t, const char *const *cells); /* ncols cells, copied */
/* Cells separated by tabs in the formatted text. */
void cli_table_addf(cli_table_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_table_render(const cli_table_t *t, size_t max_width, buf_t *out);
void cli_table_print(const cli_table_t *t, FILE *f);
size_t cli_text_width(const char *s); /* display columns (UTF-8 code points) */

/* A listing of names with one status each ("would be deleted"): a NOUN/STATUS table, or JSON
 * [{"name", "status"}]. */
void cli_print_status(const cli_global_t *g, const char *noun, char *const *names, int n,
                      const char *status);
/* Prints a JSON document (2-space indent, keys in insertion order) and a newline; takes j. */
void cli_json_print(json_t *j, FILE *f);
/* A command that builds both forms of its answer prints the one -o asks for on stdout: j (with
 * -o json) or the table t. Takes j and deinits t either way. */
void cli_output_print(const cli_global_t *g, json_t *j, cli_table_t *t);

/* ---- librdkafka clients (client.c) -------------------------------------------------------------
 * One client per command: the bootstrap servers and -X settings applied, librdkafka's own log
 * lines kept off stderr unless -v, and the last connection error remembered so a failure can be
 * told in one line ("cannot connect to 127.0.0.1:9092: Connection refused"). */
typedef struct {
    rd_kafka_t *rk;
    cli_global_t *g;
    rd_kafka_queue_t *q;           /* admin results */
    rd_kafka_AdminOptions_t *opts; /* of the last admin request (cli_admin_options) */
    char last_error[512];
    int all_down; /* times librdkafka said all brokers are down */
} cli_client_t;

/* kv: extra settings as key, value, ..., NULL (the command's defaults; -X wins over them).
 * Returns 0 or an exit code after printing why. */
int cli_client_open(cli_client_t *c, cli_global_t *g, rd_kafka_type_t type, rd_kafka_conf_t *conf,
                    const char *const *kv);
/* The client of the admin commands (topic, group, cluster): opened and connected, and set never
 * to create a topic by asking about it. 0, or an exit code after printing why (c is closed). */
int cli_admin_open(cli_client_t *c, cli_global_t *g);
/* Safe on a zeroed or already closed client. */
void cli_client_close(cli_client_t *c);
/* One metadata round trip within --timeout; fails fast when the brokers refuse connections. */
int cli_client_connect(cli_client_t *c);
int cli_client_metadata(cli_client_t *c, const rd_kafka_metadata_t **md); /* all topics */
const rd_kafka_metadata_topic_t *cli_metadata_topic(const rd_kafka_metadata_t *md,
                                                    const char *name);
bool cli_topic_internal(const char *name); /* "__consumer_offsets" and the like */
/* Options for one admin request of kind op, with --timeout: owned by c and valid until the next
 * call or cli_client_close(), so they can be passed straight into the request (librdkafka reads
 * them when the request is made). */
rd_kafka_AdminOptions_t *cli_admin_options(cli_client_t *c, rd_kafka_admin_op_t op);
/* Waits for the admin result on c->q. 0 and *ev, or an exit code after printing why. */
int cli_admin_result(cli_client_t *c, const char *what, rd_kafka_event_t **ev);
int cli_kafka_exit(rd_kafka_resp_err_t err); /* CLI_NOT_FOUND for unknown topic/group/partition */
int cli_watermarks(cli_client_t *c, const char *topic, int32_t partition, int64_t *low,
                   int64_t *high);
/* Sets each element's offset to the absolute offset spec names (see cli_offset_spec_resolve).
 * low/high: optional arrays (parts->cnt) receiving the watermarks. */
int cli_offsets_resolve(cli_client_t *c, rd_kafka_topic_partition_list_t *parts,
                        const cli_offset_spec_t *spec, int64_t *low, int64_t *high);

/* Ctrl-C / SIGTERM: the first sets cli_stop (reads return EINTR), the second kills. */
extern volatile sig_atomic_t cli_stop;
void cli_signals_install(void);

/* ---- client commands ------------------------------------------------------------------------- */
int cli_topic_main(cli_global_t *g, int argc, char **argv);
int cli_produce_main(cli_global_t *g, int argc, char **argv);
int cli_consume_main(cli_global_t *g, int argc, char **argv);
int cli_group_main(cli_global_t *g, int argc, char **argv);
int cli_cluster_main(cli_global_t *g, int argc, char **argv);
int cli_cluster_health(cli_global_t *g, int argc, char **argv);  /* cmd_cluster_ops.c */
int cli_cluster_config(cli_global_t *g, int argc, char **argv);  /* cmd_cluster_ops.c */
int cli_cluster_logdirs(cli_global_t *g, int argc, char **argv); /* cmd_logdirs.c */
int cli_topic_export(cli_global_t *g, int argc, char **argv);    /* cmd_topic_io.c */
int cli_topic_import(cli_global_t *g, int argc, char **argv);    /* cmd_topic_io.c */
int cli_dlq_main(cli_global_t *g, int argc, char **argv);        /* cmd_dlq.c */
int cli_saga_main(cli_global_t *g, int argc, char **argv);       /* cmd_saga.c */

/* Reading a range of one topic's partitions in order (scan.c): each partition from start[i]
 * (absolute) up to end[i] (exclusive), one partition after the other, so the order of what fn
 * sees is fixed: by partition, then offset. fn returns 0 to go on, 1 to stop, or an exit code
 * (> 1) to stop with it. Returns 0 or an exit code after printing why. */
typedef int (*cli_scan_fn)(void *arg, const rd_kafka_message_t *m);
int cli_scan(cli_global_t *g, const rd_kafka_topic_partition_list_t *parts, const int64_t *end,
             cli_scan_fn fn, void *arg);
/* The partitions of topic (all, or only `partition` when >= 0), sorted, each with its offset
 * set to the log start, and their watermarks (*low, *high: heap arrays of parts->cnt). 0, or an
 * exit code after printing why (CLI_NOT_FOUND for no such topic or partition). */
int cli_topic_parts(cli_client_t *c, const char *topic, int64_t partition,
                    rd_kafka_topic_partition_list_t **parts, int64_t **low, int64_t **high);

/* Writing records back (scan.c): an idempotent producer with acks=all. A length of -1 is a
 * null key or value; send takes hdrs (NULL: none) whatever it returns. flush waits for every
 * delivery: 0 when all were written, else CLI_ERROR after naming the first failure. */
typedef struct {
    cli_client_t c;
    int64_t delivered, failed;
    rd_kafka_resp_err_t first_err;
    char first_why[512];
} cli_sender_t;
int cli_sender_open(cli_sender_t *s, cli_global_t *g);
int cli_sender_send(cli_sender_t *s, const char *topic, int32_t partition, const void *key,
                    ssize_t key_len, const void *value, ssize_t value_len, int64_t ts,
                    rd_kafka_headers_t *hdrs);
int cli_sender_flush(cli_sender_t *s);
void cli_sender_close(cli_sender_t *s);

/* DescribeLogDirs (cmd_logdirs.c): the requests and the v1 response, pure. */
typedef struct {
    int32_t partition;
    int64_t size, offset_lag;
    bool is_future;
} cli_logdir_part_t;
typedef struct {
    char *name;
    int64_t size; /* of its partitions */
    cli_logdir_part_t *parts;
    size_t nparts;
} cli_logdir_topic_t;
typedef struct {
    int16_t error;
    char *path;
    int64_t size;
    cli_logdir_topic_t *topics;
    size_t ntopics;
} cli_logdir_t;
typedef struct {
    cli_logdir_t *dirs;
    size_t ndirs;
} cli_logdirs_t;
void cli_api_versions_request(buf_t *out, int32_t corr); /* ApiVersions v0, size-prefixed */
void cli_logdirs_request(buf_t *out, int32_t corr);      /* DescribeLogDirs v1, every topic */
/* The ApiVersions v0 response (without its size): true when it lists key (max version out). */
bool cli_api_versions_has(const uint8_t *p, size_t n, int32_t corr, int16_t key, int16_t *max);
/* The DescribeLogDirs v1 response (without its size): 0 or -WEIR_ECORRUPT. */
int cli_logdirs_parse(const uint8_t *p, size_t n, int32_t corr, cli_logdirs_t *out);
void cli_logdirs_free(cli_logdirs_t *l);
int cli_user_main(cli_global_t *g, int argc, char **argv);  /* cmd_user.c: SCRAM users */
int cli_quota_main(cli_global_t *g, int argc, char **argv); /* cmd_quota.c: client quotas */
int cli_acl_main(cli_global_t *g, int argc, char **argv);   /* cmd_acl.c: ACLs */
int cli_completion_main(cli_global_t *g, int argc, char **argv);
int cli_profile_main(cli_global_t *g, int argc, char **argv); /* `weir profile list` */
int cli_schema_main(cli_global_t *g, int argc, char **argv);  /* schema.c: the registry's REST */
int cli_txn_main(cli_global_t *g, int argc, char **argv);     /* cmd_txn.c: over rawkafka.c */

/* consume --decode (schema.c): registry-encoded payloads (magic byte 0, schema id) decoded to
 * JSON with the schema fetched from the registry once per id. decode returns 1 and appends the
 * JSON, 0 when the payload is not registry-encoded, -1 with why when it does not decode. */
typedef struct cli_decoder cli_decoder_t;
cli_decoder_t *cli_decoder_new(cli_global_t *g, const char *registry);
int cli_decoder_decode(cli_decoder_t *d, const void *p, size_t n, buf_t *out, char *why,
                       size_t why_size);
void cli_decoder_free(cli_decoder_t *d);

/* ---- help (help.c) ------------------------------------------------------------------------------
 * Help pages for "topic", "topic create", ...; printed by `weir help <words>` and --help. */
int cli_help_print(FILE *f, const char *family, const char *sub); /* 0 or -WEIR_ENOENT */
int cli_help_main(cli_global_t *g, int argc, char **argv);
void cli_help_overview(FILE *f);

#endif
