/*
 * Broker settings and topic configs, by Kafka's names: the tables of every setting (type,
 * default, bounds, whether it may change at run time), the config file reader ("key = value"
 * lines, '#' and '!' comments) and the checks that AlterConfigs shares.
 *
 * Invariant: every value in broker_settings_t has passed its table row's checks; ival holds
 * the parsed value and sval the text, for every key, at all times after broker_settings_load.
 * An INT with no value (log.retention.ms left unset, as Kafka leaves it) has ival =
 * BCFG_UNSET and sval NULL.
 */
#include "broker/broker_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define BCFG_UNSET INT64_MIN
#define I32MAX     2147483647LL
#define I64MAX     INT64_MAX

#define ROW_INT(k, n, d, lo, hi, dyn, doc) [k] = {n, BCFG_TYPE_INT, d, lo, hi, NULL, dyn, -1, doc}
#define ROW_BOOL(k, n, d, dyn, doc)        [k] = {n, BCFG_TYPE_BOOL, d, 0, 1, NULL, dyn, -1, doc}
#define ROW_STR(k, n, d, doc)              [k] = {n, BCFG_TYPE_STRING, d, 0, 0, NULL, false, -1, doc}
#define ROW_ENUM(k, n, d, vals, dyn, doc)  [k] = {n, BCFG_TYPE_ENUM, d, 0, 0, vals, dyn, -1, doc}
#define ROW_ALIAS(k, n, of)                [k] = {n, BCFG_TYPE_STRING, NULL, 0, 0, NULL, false, of, NULL}

const broker_cfg_def_t broker_cfg_defs[BCFG__COUNT] = {
    ROW_INT(BCFG_NODE_ID, "node.id", "1", 0, I32MAX, false,
            "this broker's id in Metadata, FindCoordinator and controller_id"),
    ROW_ALIAS(BCFG_BROKER_ID, "broker.id", BCFG_NODE_ID),
    ROW_STR(BCFG_LOG_DIRS, "log.dirs", "./data", "data directory (--data-dir wins)"),
    ROW_ALIAS(BCFG_LOG_DIR, "log.dir", BCFG_LOG_DIRS),
    ROW_STR(BCFG_LISTENERS, "listeners", "PLAINTEXT://127.0.0.1:9092",
            "Kafka listener, PLAINTEXT://HOST:PORT (--listen wins)"),
    ROW_STR(BCFG_ADVERTISED_LISTENERS, "advertised.listeners", "",
            "address given to clients, PLAINTEXT://HOST:PORT (--advertise wins); empty = listener"),
    ROW_INT(BCFG_NUM_IO_THREADS, "num.io.threads", "0", 0, 64, false,
            "event loop threads; 0 = one per core"),
    ROW_INT(BCFG_NUM_PARTITIONS, "num.partitions", "1", 1, 10000, true,
            "partitions of auto-created topics and of CreateTopics with -1"),
    ROW_INT(BCFG_DEFAULT_REPLICATION_FACTOR, "default.replication.factor", "1", 1, 1, false,
            "always 1: one node"),
    ROW_BOOL(BCFG_AUTO_CREATE_TOPICS_ENABLE, "auto.create.topics.enable", "true", false,
             "create topics on Metadata requests for unknown names"),
    ROW_BOOL(BCFG_DELETE_TOPIC_ENABLE, "delete.topic.enable", "true", false, "allow DeleteTopics"),
    ROW_INT(BCFG_LOG_RETENTION_MS, "log.retention.ms", NULL, -1, I64MAX, true,
            "retention time; unset = log.retention.minutes, then hours; -1 = forever"),
    ROW_INT(BCFG_LOG_RETENTION_MINUTES, "log.retention.minutes", NULL, -1, I32MAX, false,
            "retention time in minutes (if log.retention.ms is unset)"),
    ROW_INT(BCFG_LOG_RETENTION_HOURS, "log.retention.hours", "168", -1, I32MAX, false,
            "retention time in hours (if ms and minutes are unset)"),
    ROW_INT(BCFG_LOG_RETENTION_BYTES, "log.retention.bytes", "-1", -1, I64MAX, true,
            "maximum bytes per partition before old segments are deleted; -1 = no limit"),
    ROW_INT(BCFG_LOG_SEGMENT_BYTES, "log.segment.bytes", "1073741824", 100, I32MAX, true,
            "segment file size"),
    ROW_INT(BCFG_LOG_ROLL_MS, "log.roll.ms", NULL, 1, I64MAX, true,
            "roll a segment after this age; unset = log.roll.hours"),
    ROW_INT(BCFG_LOG_ROLL_HOURS, "log.roll.hours", "168", 1, I32MAX, false,
            "roll a segment after this many hours"),
    ROW_ENUM(BCFG_LOG_CLEANUP_POLICY, "log.cleanup.policy", "delete", "delete|compact", true,
             "delete, compact, or both (comma-separated)"),
    ROW_INT(BCFG_LOG_CLEANER_DELETE_RETENTION_MS, "log.cleaner.delete.retention.ms", "86400000", 0,
            I64MAX, true, "how long compaction keeps tombstones"),
    ROW_INT(BCFG_LOG_CLEANER_MIN_COMPACTION_LAG_MS, "log.cleaner.min.compaction.lag.ms", "0", 0,
            I64MAX, true, "minimum age of a record before compaction may remove it"),
    ROW_INT(BCFG_LOG_INDEX_INTERVAL_BYTES, "log.index.interval.bytes", "4096", 0, I32MAX, true,
            "bytes between offset index entries"),
    ROW_ENUM(BCFG_LOG_MESSAGE_TIMESTAMP_TYPE, "log.message.timestamp.type", "CreateTime",
             "CreateTime|LogAppendTime", true, "CreateTime or LogAppendTime"),
    ROW_INT(BCFG_LOG_RETENTION_CHECK_INTERVAL_MS, "log.retention.check.interval.ms", "300000", 1,
            I64MAX, false, "how often retention, segment.ms and compaction run"),
    ROW_INT(BCFG_LOG_FLUSH_INTERVAL_MS, "log.flush.interval.ms", "1000", 1, I32MAX, false,
            "acks=0/1 data is fsynced once it has waited this long (acks=-1: before the ack)"),
    ROW_INT(BCFG_LOG_PREALLOCATE_BYTES, "weir.log.preallocate.bytes", "1048576", 0, I32MAX, false,
            "the active segment's file is extended this far ahead of its data (0: off)"),
    ROW_INT(BCFG_MESSAGE_MAX_BYTES, "message.max.bytes", "1048588", 0, I32MAX, true,
            "largest record batch accepted (MESSAGE_TOO_LARGE above)"),
    ROW_INT(BCFG_FETCH_MAX_BYTES, "fetch.max.bytes", "57671680", 1024, I32MAX, false,
            "largest Fetch response (soft: the first batch is always whole)"),
    ROW_INT(BCFG_SOCKET_REQUEST_MAX_BYTES, "socket.request.max.bytes", "104857600", 64, I32MAX,
            false, "largest request frame; bigger frames close the connection"),
    ROW_INT(BCFG_CONNECTIONS_MAX_IDLE_MS, "connections.max.idle.ms", "600000", 0, I64MAX, false,
            "close connections idle this long; 0 = never"),
    ROW_INT(BCFG_MAX_CONNECTIONS, "max.connections", "2147483647", 1, I32MAX, false,
            "most client connections at once; more are closed at accept"),
    ROW_INT(BCFG_QUEUED_MAX_REQUESTS, "queued.max.requests", "500", 1, 1000000, false,
            "requests in flight per connection before it stops being read"),
    ROW_INT(BCFG_MAX_DECOMPRESSED_BYTES, "weir.max.decompressed.bytes", "134217728", 1024, I32MAX,
            false, "bound on a batch's decompressed size during validation"),
    ROW_INT(BCFG_GROUP_MIN_SESSION_TIMEOUT_MS, "group.min.session.timeout.ms", "6000", 0, I32MAX,
            false, "smallest session timeout a group member may ask for"),
    ROW_INT(BCFG_GROUP_MAX_SESSION_TIMEOUT_MS, "group.max.session.timeout.ms", "1800000", 0, I32MAX,
            false, "largest session timeout a group member may ask for"),
    ROW_INT(BCFG_GROUP_INITIAL_REBALANCE_DELAY_MS, "group.initial.rebalance.delay.ms", "3000", 0,
            I32MAX, false, "how long the first rebalance of an empty group waits for members"),
    ROW_INT(BCFG_GROUP_MAX_SIZE, "group.max.size", "1000", 1, I32MAX, false,
            "most members in one consumer group"),
    ROW_INT(BCFG_OFFSETS_RETENTION_MINUTES, "offsets.retention.minutes", "10080", 1, I32MAX, false,
            "committed offsets of an empty group expire after this"),
    ROW_INT(BCFG_OFFSETS_RETENTION_CHECK_INTERVAL_MS, "offsets.retention.check.interval.ms",
            "600000", 1, I64MAX, false, "how often expired offsets are removed"),
    ROW_INT(BCFG_OFFSET_METADATA_MAX_BYTES, "offset.metadata.max.bytes", "4096", 0, I32MAX, false,
            "largest metadata string of an offset commit"),
    ROW_INT(BCFG_OFFSETS_TOPIC_NUM_PARTITIONS, "offsets.topic.num.partitions", "1", 1, 1000, false,
            "partitions of __consumer_offsets when it is created (fixed afterwards)"),
    ROW_INT(BCFG_PRODUCER_ID_EXPIRATION_MS, "producer.id.expiration.ms", "86400000", 1, I64MAX,
            false, "forget an idempotent producer's sequences after this long without a batch"),
    ROW_INT(BCFG_TRANSACTION_MAX_TIMEOUT_MS, "transaction.max.timeout.ms", "900000", 1, I32MAX,
            false, "largest transaction.timeout.ms InitProducerId accepts"),
    ROW_INT(BCFG_PRODUCER_SNAPSHOT_INTERVAL_OFFSETS, "weir.producer.snapshot.interval.offsets",
            "100000", 0, I64MAX, false,
            "offsets between producer-state snapshots (a shorter scan after a crash); 0 = never"),
    ROW_BOOL(BCFG_METRICS_PARTITION_LABELS, "weir.metrics.partition.labels", "true", true,
             "/metrics has series per partition (offsets, size, consumer lag); false: per topic "
             "and group only"),
    ROW_INT(BCFG_METRICS_PARTITION_MAX, "weir.metrics.partition.max", "20000", 0, I32MAX, true,
            "partitions with their own series in /metrics, in topic order; past it a scrape "
            "leaves the rest out and logs a warning"),
    ROW_BOOL(BCFG_METRICS_CONSUMERGROUP_SUMS, "weir.metrics.consumergroup.sums", "true", true,
             "/metrics has kafka_exporter's kafka_consumergroup_lag_sum and "
             "kafka_consumergroup_current_offset_sum (promtool's linter objects to their names)"),
    ROW_INT(BCFG_TRACE_SPANS_MAX, "weir.trace.spans.max", "10000", 0, 10000000, false,
            "spans the broker keeps from services' OTLP exports (POST /v1/traces) for event "
            "journeys (GET /api/v1/traces/<id>); about 1 KiB each; 0 = no receiver"),
};

#define TROW(k, n, bk, t, d, lo, hi, vals, list, doc) [k] = {n, bk, t, d, lo, hi, vals, list, doc}

const broker_topic_cfg_def_t broker_topic_cfg_defs[TCFG__COUNT] = {
    TROW(TCFG_RETENTION_MS, "retention.ms", BCFG_LOG_RETENTION_MS, BCFG_TYPE_INT, NULL, -1, I64MAX,
         NULL, false, "delete segments older than this; -1 = forever"),
    TROW(TCFG_RETENTION_BYTES, "retention.bytes", BCFG_LOG_RETENTION_BYTES, BCFG_TYPE_INT, NULL, -1,
         I64MAX, NULL, false, "delete old segments above this size; -1 = no limit"),
    TROW(TCFG_SEGMENT_BYTES, "segment.bytes", BCFG_LOG_SEGMENT_BYTES, BCFG_TYPE_INT, NULL, 100,
         I32MAX, NULL, false, "segment file size"),
    TROW(TCFG_SEGMENT_MS, "segment.ms", BCFG_LOG_ROLL_MS, BCFG_TYPE_INT, NULL, 1, I64MAX, NULL,
         false, "roll the active segment after this age"),
    TROW(TCFG_CLEANUP_POLICY, "cleanup.policy", BCFG_LOG_CLEANUP_POLICY, BCFG_TYPE_ENUM, NULL, 0, 0,
         "delete|compact", true, "delete, compact, or both"),
    TROW(TCFG_MAX_MESSAGE_BYTES, "max.message.bytes", BCFG_MESSAGE_MAX_BYTES, BCFG_TYPE_INT, NULL,
         0, I32MAX, NULL, false, "largest record batch accepted"),
    TROW(TCFG_MESSAGE_TIMESTAMP_TYPE, "message.timestamp.type", BCFG_LOG_MESSAGE_TIMESTAMP_TYPE,
         BCFG_TYPE_ENUM, NULL, 0, 0, "CreateTime|LogAppendTime", false,
         "CreateTime or LogAppendTime"),
    TROW(TCFG_DELETE_RETENTION_MS, "delete.retention.ms", BCFG_LOG_CLEANER_DELETE_RETENTION_MS,
         BCFG_TYPE_INT, NULL, 0, I64MAX, NULL, false, "how long compaction keeps tombstones"),
    TROW(TCFG_MIN_COMPACTION_LAG_MS, "min.compaction.lag.ms",
         BCFG_LOG_CLEANER_MIN_COMPACTION_LAG_MS, BCFG_TYPE_INT, NULL, 0, I64MAX, NULL, false,
         "minimum age before compaction"),
    TROW(TCFG_INDEX_INTERVAL_BYTES, "index.interval.bytes", BCFG_LOG_INDEX_INTERVAL_BYTES,
         BCFG_TYPE_INT, NULL, 0, I32MAX, NULL, false, "bytes between offset index entries"),
    TROW(TCFG_MIN_INSYNC_REPLICAS, "min.insync.replicas", -1, BCFG_TYPE_INT, "1", 1, I32MAX, NULL,
         false, "accepted, no effect (one node)"),
    TROW(TCFG_COMPRESSION_TYPE, "compression.type", -1, BCFG_TYPE_ENUM, "producer", 0, 0,
         "producer", false, "only 'producer': batches are stored as they arrive"),
    TROW(TCFG_UNCLEAN_LEADER_ELECTION_ENABLE, "unclean.leader.election.enable", -1, BCFG_TYPE_BOOL,
         "false", 0, 1, NULL, false, "accepted, no effect (one node)"),
    TROW(TCFG_FLUSH_MESSAGES, "flush.messages", -1, BCFG_TYPE_INT, "9223372036854775807", 1, I64MAX,
         NULL, false, "accepted, no effect (group commit flushes)"),
    TROW(TCFG_FLUSH_MS, "flush.ms", -1, BCFG_TYPE_INT, "9223372036854775807", 0, I64MAX, NULL,
         false, "accepted, no effect (group commit flushes)"),
};

/* ---- value parsing --------------------------------------------------------------------------- */

static int parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    if (!*v)
        return -WEIR_EINVAL;
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return -WEIR_EINVAL;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, int64_t *out)
{
    if (strcasecmp(v, "true") == 0)
        *out = 1;
    else if (strcasecmp(v, "false") == 0)
        *out = 0;
    else
        return -WEIR_EINVAL;
    return 0;
}

/* Index of token [p, p+n) in a '|'-separated list, or -1. */
static int enum_index(const char *values, const char *p, size_t n)
{
    int i = 0;
    for (const char *v = values; *v; i++) {
        const char *bar = strchr(v, '|');
        size_t len = bar ? (size_t)(bar - v) : strlen(v);
        if (len == n && memcmp(v, p, n) == 0)
            return i;
        if (!bar)
            break;
        v = bar + 1;
    }
    return -1;
}

/* A list value ("compact,delete") as a bitmask of enum indexes; an ENUM as its index. */
static int parse_enum(const char *values, bool list, const char *v, int64_t *out)
{
    if (!list) {
        int i = enum_index(values, v, strlen(v));
        if (i < 0)
            return -WEIR_EINVAL;
        *out = i;
        return 0;
    }
    int64_t mask = 0;
    const char *p = v;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && p[n - 1] == ' ')
            n--;
        int i = enum_index(values, p, n);
        if (i < 0)
            return -WEIR_EINVAL;
        mask |= (int64_t)1 << i;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = mask;
    return 0;
}

static int parse_value(broker_cfg_type_t type, int64_t lo, int64_t hi, const char *values,
                       bool list, const char *v, int64_t *out)
{
    switch (type) {
    case BCFG_TYPE_INT:
        return parse_int(v, lo, hi, out);
    case BCFG_TYPE_BOOL:
        return parse_bool(v, out);
    case BCFG_TYPE_ENUM:
        return parse_enum(values, list, v, out);
    case BCFG_TYPE_STRING:
        *out = 0;
        return 0;
    }
    return -WEIR_EINVAL;
}

static bool broker_key_is_list(int key)
{
    return key == BCFG_LOG_CLEANUP_POLICY;
}

/* ---- broker settings ------------------------------------------------------------------------- */

int broker_cfg_find(const char *name, size_t len)
{
    for (int k = 0; k < BCFG__COUNT; k++) {
        const broker_cfg_def_t *d = &broker_cfg_defs[k];
        if (strlen(d->name) == len && memcmp(d->name, name, len) == 0)
            return d->alias_of >= 0 ? d->alias_of : k;
    }
    return -1;
}

static void range_msg(char *err, size_t err_len, const char *name, const char *value,
                      broker_cfg_type_t type, int64_t lo, int64_t hi, const char *values)
{
    switch (type) {
    case BCFG_TYPE_INT:
        snprintf(err, err_len, "invalid value '%s' for %s: an integer in [%lld, %lld]", value, name,
                 (long long)lo, (long long)hi);
        break;
    case BCFG_TYPE_BOOL:
        snprintf(err, err_len, "invalid value '%s' for %s: true or false", value, name);
        break;
    default:
        snprintf(err, err_len, "invalid value '%s' for %s: one of %s", value, name, values);
        break;
    }
}

int broker_settings_set(broker_settings_t *s, int key, const char *value, int source, char *err,
                        size_t err_len)
{
    WEIR_ASSERT(key >= 0 && key < BCFG__COUNT);
    const broker_cfg_def_t *d = &broker_cfg_defs[key];
    int64_t v = BCFG_UNSET;
    if (value) {
        if (parse_value(d->type, d->min, d->max, d->values, broker_key_is_list(key), value, &v) <
            0) {
            range_msg(err, err_len, d->name, value, d->type, d->min, d->max, d->values);
            return -WEIR_EINVAL;
        }
    }
    atomic_store(&s->ival[key], v);
    free(s->sval[key]);
    s->sval[key] = value ? weir_strdup(value) : NULL;
    s->source[key] = source;
    return 0;
}

void broker_settings_reset(broker_settings_t *s, int key)
{
    char err[256];
    int rc =
        broker_settings_set(s, key, broker_cfg_defs[key].def, CFG_SOURCE_DEFAULT, err, sizeof(err));
    WEIR_ASSERT(rc == 0); /* defaults pass their own checks */
}

static char *trim(char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    size_t n = strlen(p);
    while (n && isspace((unsigned char)p[n - 1]))
        p[--n] = 0;
    return p;
}

/* One "key = value" (or "key=value") line; where is "file:line" for messages. */
static int settings_apply_line(broker_settings_t *s, char *line, const char *where, char *err,
                               size_t err_len)
{
    char *eq = strchr(line, '=');
    if (!eq) {
        snprintf(err, err_len, "%s: expected key = value", where);
        return -WEIR_EINVAL;
    }
    *eq = 0;
    char *key = trim(line), *val = trim(eq + 1);
    int k = broker_cfg_find(key, strlen(key));
    if (k < 0) {
        snprintf(err, err_len, "%s: unknown setting '%s'", where, key);
        return -WEIR_EINVAL;
    }
    char msg[200];
    if (broker_settings_set(s, k, val, CFG_SOURCE_STATIC_BROKER, msg, sizeof(msg)) < 0) {
        snprintf(err, err_len, "%s: %s", where, msg);
        return -WEIR_EINVAL;
    }
    return 0;
}

static int settings_load_file(broker_settings_t *s, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot open config file %s: %s", path, strerror(errno));
        return -WEIR_EIO;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *p = trim(line);
        if (!*p || *p == '#' || *p == '!')
            continue;
        char where[300];
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        rc = settings_apply_line(s, p, where, err, err_len);
        if (rc < 0)
            break;
    }
    fclose(f);
    return rc;
}

int broker_settings_load(broker_settings_t *s, const char *config_file,
                         const char *const *overrides, char *err, size_t err_len)
{
    memset(s, 0, sizeof(*s));
    for (int k = 0; k < BCFG__COUNT; k++)
        if (broker_cfg_defs[k].alias_of < 0)
            broker_settings_reset(s, k);
    if (config_file && *config_file) {
        int rc = settings_load_file(s, config_file, err, err_len);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; overrides && overrides[i]; i++) {
        char *line = weir_strdup(overrides[i]);
        char where[64];
        snprintf(where, sizeof(where), "--set #%zu", i + 1);
        int rc = settings_apply_line(s, line, where, err, err_len);
        free(line);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void broker_settings_free(broker_settings_t *s)
{
    for (int k = 0; k < BCFG__COUNT; k++) {
        free(s->sval[k]);
        s->sval[k] = NULL;
    }
}

int64_t broker_settings_retention_ms(const broker_settings_t *s)
{
    int64_t v = broker_settings_int(s, BCFG_LOG_RETENTION_MS);
    if (v != BCFG_UNSET)
        return v;
    v = broker_settings_int(s, BCFG_LOG_RETENTION_MINUTES);
    if (v != BCFG_UNSET)
        return v < 0 ? -1 : v * 60000;
    v = broker_settings_int(s, BCFG_LOG_RETENTION_HOURS);
    return v < 0 ? -1 : v * 3600000;
}

int64_t broker_settings_roll_ms(const broker_settings_t *s)
{
    int64_t v = broker_settings_int(s, BCFG_LOG_ROLL_MS);
    if (v != BCFG_UNSET)
        return v;
    return broker_settings_int(s, BCFG_LOG_ROLL_HOURS) * 3600000;
}

/* ---- topic configs -----------------------------------------------------------------------------
 */

int broker_topic_cfg_find(const char *name, size_t len)
{
    for (int k = 0; k < TCFG__COUNT; k++)
        if (strlen(broker_topic_cfg_defs[k].name) == len &&
            memcmp(broker_topic_cfg_defs[k].name, name, len) == 0)
            return k;
    return -1;
}

int broker_topic_cfg_check(int key, const char *value, char *out, size_t out_len, char *err,
                           size_t err_len)
{
    const broker_topic_cfg_def_t *d = &broker_topic_cfg_defs[key];
    int64_t v;
    if (!value) {
        snprintf(err, err_len, "null value not supported for %s", d->name);
        return -WEIR_EINVAL;
    }
    if (parse_value(d->type, d->min, d->max, d->values, d->is_list, value, &v) < 0) {
        range_msg(err, err_len, d->name, value, d->type, d->min, d->max, d->values);
        return -WEIR_EINVAL;
    }
    if (d->type == BCFG_TYPE_BOOL)
        snprintf(out, out_len, "%s", v ? "true" : "false");
    else
        snprintf(out, out_len, "%s", value);
    return 0;
}

void broker_topic_overrides_free(broker_topic_overrides_t *o)
{
    for (int k = 0; k < TCFG__COUNT; k++) {
        free(o->val[k]);
        o->val[k] = NULL;
    }
}

void broker_topic_overrides_copy(broker_topic_overrides_t *dst, const broker_topic_overrides_t *src)
{
    for (int k = 0; k < TCFG__COUNT; k++)
        dst->val[k] = src && src->val[k] ? weir_strdup(src->val[k]) : NULL;
}

const char *broker_topic_cfg_value(const broker_t *b, const broker_topic_overrides_t *o, int key,
                                   char *buf, size_t len, int *source)
{
    const broker_topic_cfg_def_t *d = &broker_topic_cfg_defs[key];
    if (o && o->val[key]) {
        *source = CFG_SOURCE_DYNAMIC_TOPIC;
        return o->val[key];
    }
    if (d->broker_key < 0) {
        *source = CFG_SOURCE_DEFAULT;
        return d->def;
    }
    const broker_settings_t *s = &b->set;
    *source = s->source[d->broker_key];
    /* The synonym chains Kafka resolves (ms > minutes > hours) give one number. */
    if (key == TCFG_RETENTION_MS) {
        snprintf(buf, len, "%lld", (long long)broker_settings_retention_ms(s));
        if (s->source[BCFG_LOG_RETENTION_MS] == CFG_SOURCE_DEFAULT)
            *source = s->source[BCFG_LOG_RETENTION_MINUTES] != CFG_SOURCE_DEFAULT
                          ? s->source[BCFG_LOG_RETENTION_MINUTES]
                          : s->source[BCFG_LOG_RETENTION_HOURS];
        return buf;
    }
    if (key == TCFG_SEGMENT_MS) {
        snprintf(buf, len, "%lld", (long long)broker_settings_roll_ms(s));
        if (s->source[BCFG_LOG_ROLL_MS] == CFG_SOURCE_DEFAULT)
            *source = s->source[BCFG_LOG_ROLL_HOURS];
        return buf;
    }
    return s->sval[d->broker_key] ? s->sval[d->broker_key] : "";
}

int64_t broker_topic_cfg_int(const broker_t *b, const broker_topic_overrides_t *o, int key)
{
    const broker_topic_cfg_def_t *d = &broker_topic_cfg_defs[key];
    int64_t v = 0;
    const char *text = o ? o->val[key] : NULL;
    if (!text && d->broker_key >= 0) {
        if (key == TCFG_RETENTION_MS)
            return broker_settings_retention_ms(&b->set);
        if (key == TCFG_SEGMENT_MS)
            return broker_settings_roll_ms(&b->set);
        return broker_settings_int(&b->set, (broker_cfg_key_t)d->broker_key);
    }
    if (!text)
        text = d->def;
    if (parse_value(d->type, d->min, d->max, d->values, d->is_list, text, &v) < 0)
        WEIR_ASSERT(!"a stored topic config failed its own check");
    return v;
}
