/*
 * The values of broker settings and topic configs. A broker setting is set in layers, as
 * Kafka's are: the config file and --set (static), AlterConfigs on the cluster-wide default
 * (""), AlterConfigs on this broker (its node id); the effective value is the highest layer's,
 * else the default (Weir's where it differs, else Kafka's). A topic config is the topic's
 * override, else the broker setting it defaults from (in the units Kafka converts: retention
 * in ms, minutes or hours), else Kafka's default.
 *
 * Invariant: every layer value and every effective value has passed its row's checks; sval
 * holds the effective text and ival its parsed form for every key, at all times after
 * broker_settings_load. A number without a value (log.retention.ms left unset, as Kafka leaves
 * it) has ival BCFG_UNSET and sval NULL.
 */
#include "broker/broker_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const int layer_source[BCFG_LAYERS] = {
    CFG_SOURCE_STATIC_BROKER, CFG_SOURCE_DYNAMIC_DEFAULT_BROKER, CFG_SOURCE_DYNAMIC_BROKER};

/* Recomputes key's effective value from its layers. */
static void settle(broker_settings_t *s, int key)
{
    broker_cfg_row_t tmp;
    const broker_cfg_row_t *row = broker_cfg_row(key, &tmp);
    const char *v = row->def;
    int source = CFG_SOURCE_DEFAULT;
    for (int l = BCFG_LAYERS - 1; l >= 0; l--) {
        if (s->layer[l][key]) {
            v = s->layer[l][key];
            source = layer_source[l];
            break;
        }
    }
    char *copy = v ? weir_strdup(v) : NULL;
    free(s->sval[key]);
    s->sval[key] = copy;
    s->source[key] = source;
    int64_t ival = BCFG_UNSET;
    if (v) {
        char norm[BROKER_CFG_VALUE_MAX], err[256];
        /* Layers hold checked values; a default Kafka's own checks would refuse (an empty list
         * where one is required) just has no parsed form. */
        if (broker_cfg_parse(row, v, norm, sizeof(norm), &ival, err, sizeof(err)) < 0)
            ival = 0;
    }
    atomic_store(&s->ival[key], ival);
}

int broker_settings_layer_set(broker_settings_t *s, int layer, int key, const char *value,
                              char *err, size_t err_len)
{
    WEIR_ASSERT(layer >= 0 && layer < BCFG_LAYERS && key >= 0 && key < BCFG__COUNT);
    char *copy = NULL;
    if (value) {
        char norm[BROKER_CFG_VALUE_MAX];
        int rc = broker_cfg_check(key, value, norm, sizeof(norm), err, err_len);
        if (rc < 0)
            return rc;
        copy = weir_strdup(norm);
    }
    free(s->layer[layer][key]);
    s->layer[layer][key] = copy;
    settle(s, key);
    return 0;
}

double broker_settings_double(const broker_settings_t *s, broker_cfg_key_t k)
{
    int64_t bits = broker_settings_int(s, k);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* ---- the config file ----------------------------------------------------------------------- */

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
    if (k < 0 && strncmp(key, "listener.name.", 14) == 0) {
        char msg[300];
        if (broker_settings_listener_set(s, key, val, msg, sizeof(msg)) < 0) {
            snprintf(err, err_len, "%s: %s", where, msg);
            return -WEIR_EINVAL;
        }
        return 0;
    }
    if (k < 0) {
        snprintf(err, err_len, "%s: unknown setting '%s'", where, key);
        return -WEIR_EINVAL;
    }
    char msg[200];
    if (broker_settings_layer_set(s, BCFG_LAYER_STATIC, k, val, msg, sizeof(msg)) < 0) {
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
    char line[BROKER_CFG_VALUE_MAX + 256];
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

/* node.id and broker.id name one id: either one sets the other, as Kafka's KRaft mode does. */
static int settings_ids(broker_settings_t *s, char *err, size_t err_len)
{
    const char *node = s->layer[BCFG_LAYER_STATIC][BCFG_NODE_ID];
    const char *bid = s->layer[BCFG_LAYER_STATIC][BCFG_BROKER_ID];
    if (node && bid && strcmp(node, bid) != 0) {
        snprintf(err, err_len, "broker.id (%s) and node.id (%s) must be the same", bid, node);
        return -WEIR_EINVAL;
    }
    char id[32];
    if (bid && !node)
        return broker_settings_layer_set(s, BCFG_LAYER_STATIC, BCFG_NODE_ID, bid, err, err_len);
    snprintf(id, sizeof(id), "%lld", (long long)broker_settings_int(s, BCFG_NODE_ID));
    return broker_settings_layer_set(s, BCFG_LAYER_STATIC, BCFG_BROKER_ID, id, err, err_len);
}

int broker_settings_load(broker_settings_t *s, const char *config_file,
                         const char *const *overrides, char *err, size_t err_len)
{
    memset(s, 0, sizeof(*s));
    for (int k = 0; k < BCFG__COUNT; k++)
        settle(s, k);
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
    return settings_ids(s, err, err_len);
}

void broker_settings_free(broker_settings_t *s)
{
    for (int k = 0; k < BCFG__COUNT; k++) {
        free(s->sval[k]);
        s->sval[k] = NULL;
        for (int l = 0; l < BCFG_LAYERS; l++) {
            free(s->layer[l][k]);
            s->layer[l][k] = NULL;
        }
    }
    broker_settings_listener_free(s);
}

/* ---- resolved broker settings -------------------------------------------------------------- */

/* The first of a chain of settings in different units (ms per unit given) that has a value. */
static int64_t chain_ms(const broker_settings_t *s, const int *keys, const int64_t *unit_ms)
{
    for (size_t i = 0; keys[i] >= 0; i++) {
        int64_t v = broker_settings_int(s, keys[i]);
        if (v == BCFG_UNSET)
            continue;
        if (v < 0)
            return -1;
        return v > INT64_MAX / unit_ms[i] ? INT64_MAX : v * unit_ms[i];
    }
    return -1;
}

int64_t broker_settings_retention_ms(const broker_settings_t *s)
{
    static const int keys[] = {BCFG_LOG_RETENTION_MS, BCFG_LOG_RETENTION_MINUTES,
                               BCFG_LOG_RETENTION_HOURS, -1};
    static const int64_t units[] = {1, 60000, 3600000};
    return chain_ms(s, keys, units);
}

int64_t broker_settings_roll_ms(const broker_settings_t *s)
{
    static const int keys[] = {BCFG_LOG_ROLL_MS, BCFG_LOG_ROLL_HOURS, -1};
    static const int64_t units[] = {1, 3600000};
    return chain_ms(s, keys, units);
}

int64_t broker_settings_roll_jitter_ms(const broker_settings_t *s)
{
    static const int keys[] = {BCFG_LOG_ROLL_JITTER_MS, BCFG_LOG_ROLL_JITTER_HOURS, -1};
    static const int64_t units[] = {1, 3600000};
    int64_t v = chain_ms(s, keys, units);
    return v < 0 ? 0 : v;
}

const char *broker_settings_data_dir(const broker_settings_t *s)
{
    const char *dirs = s->sval[BCFG_LOG_DIRS];
    if (s->source[BCFG_LOG_DIRS] == CFG_SOURCE_DEFAULT &&
        s->source[BCFG_LOG_DIR] != CFG_SOURCE_DEFAULT)
        dirs = s->sval[BCFG_LOG_DIR];
    return dirs && *dirs ? dirs : "./data";
}

/* ---- topic configs ------------------------------------------------------------------------- */

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
    broker_cfg_row_t tmp;
    const broker_cfg_row_t *row = broker_topic_cfg_row(key, &tmp);
    if (o && o->val[key]) {
        *source = CFG_SOURCE_DYNAMIC_TOPIC;
        return o->val[key];
    }
    *source = CFG_SOURCE_DEFAULT;
    const broker_settings_t *s = &b->set;
    int64_t ms = BCFG_UNSET;
    if (key == TCFG_RETENTION_MS)
        ms = broker_settings_retention_ms(s);
    else if (key == TCFG_SEGMENT_MS)
        ms = broker_settings_roll_ms(s);
    else if (key == TCFG_SEGMENT_JITTER_MS)
        ms = broker_settings_roll_jitter_ms(s);
    else if (key == TCFG_FLUSH_MS && !s->sval[BCFG_LOG_FLUSH_INTERVAL_MS])
        ms = broker_settings_int(s, BCFG_LOG_FLUSH_SCHEDULER_INTERVAL_MS);
    if (ms != BCFG_UNSET) {
        snprintf(buf, len, "%lld", (long long)ms);
        return buf;
    }
    if (row->synonyms[0] >= 0 && s->sval[row->synonyms[0]])
        return s->sval[row->synonyms[0]];
    return row->def ? row->def : "";
}

static int64_t topic_parsed(const broker_t *b, const broker_topic_overrides_t *o, int key)
{
    char buf[64], norm[BROKER_CFG_VALUE_MAX], err[256];
    int source;
    broker_cfg_row_t tmp;
    const char *text = broker_topic_cfg_value(b, o, key, buf, sizeof(buf), &source);
    int64_t v = 0;
    if (broker_cfg_parse(broker_topic_cfg_row(key, &tmp), text, norm, sizeof(norm), &v, err,
                         sizeof(err)) < 0) {
        /* A broker setting in bounds of its own but not of the topic config's (Weir's looser
         * bounds never do that): the topic's default. */
        log_warn("broker", "topic config %s: %s", tmp.name, err);
        text = tmp.def ? tmp.def : "0";
        if (broker_cfg_parse(&tmp, text, norm, sizeof(norm), &v, err, sizeof(err)) < 0)
            v = 0;
    }
    return v;
}

int64_t broker_topic_cfg_int(const broker_t *b, const broker_topic_overrides_t *o, int key)
{
    return topic_parsed(b, o, key);
}

double broker_topic_cfg_double(const broker_t *b, const broker_topic_overrides_t *o, int key)
{
    int64_t bits = topic_parsed(b, o, key);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* ---- a topic's effective settings ------------------------------------------------------------ */

/* compression.type's values, in Kafka's order, as codecs (-1: the producer's). */
static const int codec_of_type[] = {CODEC_NONE,   CODEC_ZSTD, CODEC_LZ4,
                                    CODEC_SNAPPY, CODEC_GZIP, -1};

static int codec_level(const broker_t *b, const broker_topic_overrides_t *o, int codec)
{
    switch (codec) {
    case CODEC_GZIP:
        return (int)broker_topic_cfg_int(b, o, TCFG_COMPRESSION_GZIP_LEVEL);
    case CODEC_LZ4:
        return (int)broker_topic_cfg_int(b, o, TCFG_COMPRESSION_LZ4_LEVEL);
    case CODEC_ZSTD:
        return (int)broker_topic_cfg_int(b, o, TCFG_COMPRESSION_ZSTD_LEVEL);
    default:
        return 0;
    }
}

void broker_topic_effective(broker_t *b, broker_topic_t *t)
{
    storage_log_config_t *c = &t->log_cfg;
    storage_log_config_default(c);
    const broker_topic_overrides_t *o = &t->over;
    int seg_key =
        o->val[TCFG_INTERNAL_SEGMENT_BYTES] ? TCFG_INTERNAL_SEGMENT_BYTES : TCFG_SEGMENT_BYTES;
    c->segment_bytes = (uint64_t)broker_topic_cfg_int(b, o, seg_key);
    c->segment_ms = broker_topic_cfg_int(b, o, TCFG_SEGMENT_MS);
    c->segment_jitter_ms = broker_topic_cfg_int(b, o, TCFG_SEGMENT_JITTER_MS);
    c->retention_bytes = broker_topic_cfg_int(b, o, TCFG_RETENTION_BYTES);
    c->retention_ms = broker_topic_cfg_int(b, o, TCFG_RETENTION_MS);
    int64_t policy = broker_topic_cfg_int(b, o, TCFG_CLEANUP_POLICY); /* [compact, delete] */
    c->cleanup_compact = (policy & 1) != 0;
    c->cleanup_delete = (policy & 2) != 0;
    c->delete_retention_ms = broker_topic_cfg_int(b, o, TCFG_DELETE_RETENTION_MS);
    c->min_compaction_lag_ms = broker_topic_cfg_int(b, o, TCFG_MIN_COMPACTION_LAG_MS);
    c->max_compaction_lag_ms = broker_topic_cfg_int(b, o, TCFG_MAX_COMPACTION_LAG_MS);
    c->min_cleanable_ratio = broker_topic_cfg_double(b, o, TCFG_MIN_CLEANABLE_DIRTY_RATIO);
    c->file_delete_delay_ms = broker_topic_cfg_int(b, o, TCFG_FILE_DELETE_DELAY_MS);
    c->index_interval_bytes = (uint32_t)broker_topic_cfg_int(b, o, TCFG_INDEX_INTERVAL_BYTES);
    c->cleaner_map_bytes =
        (size_t)broker_settings_int(&b->set, BCFG_LOG_CLEANER_DEDUPE_BUFFER_SIZE);
    c->max_decompressed_bytes = (size_t)broker_settings_int(&b->set, BCFG_MAX_DECOMPRESSED_BYTES);
    c->preallocate_bytes = (uint64_t)broker_settings_int(&b->set, BCFG_LOG_PREALLOCATE_BYTES);
    atomic_store(&t->max_message_bytes, broker_topic_cfg_int(b, o, TCFG_MAX_MESSAGE_BYTES));
    atomic_store(&t->log_append_time, broker_topic_cfg_int(b, o, TCFG_MESSAGE_TIMESTAMP_TYPE) == 1);
    atomic_store(&t->ts_before_max_ms,
                 broker_topic_cfg_int(b, o, TCFG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS));
    atomic_store(&t->ts_after_max_ms,
                 broker_topic_cfg_int(b, o, TCFG_MESSAGE_TIMESTAMP_AFTER_MAX_MS));
    int64_t type = broker_topic_cfg_int(b, o, TCFG_COMPRESSION_TYPE);
    int codec =
        type >= 0 && type < (int64_t)WEIR_ARRAY_LEN(codec_of_type) ? codec_of_type[type] : -1;
    atomic_store(&t->compression_codec, codec);
    atomic_store(&t->compression_level, codec_level(b, o, codec));
    broker_topic_schema_update(b, t);
    t->key_index = broker_topic_cfg_int(b, o, TCFG_WEIR_KEY_INDEX) != 0;
}
