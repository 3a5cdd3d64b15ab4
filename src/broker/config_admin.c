/*
 * Configs as the admin APIs see them, answered as Apache Kafka answers them: DescribeConfigs
 * (every config of a topic, of this broker, or of its loggers, with value, source, synonyms,
 * type and documentation), AlterConfigs (a resource's dynamic configs replaced as a whole) and
 * IncrementalAlterConfigs (set, delete, append to or subtract from single keys), and the
 * parsing of the configs given with CreateTopics. The tables are config_kafka.c and config.c.
 *
 * Synonyms follow Kafka's ConfigHelper: for a broker setting, the values of its chain (the
 * same value in other units: log.retention.ms, .minutes, .hours) from every layer, the dynamic
 * per-broker ones first, then the dynamic defaults, the static ones, the defaults; leading
 * entries of other names are dropped. A topic config lists its override, then that list for
 * the broker setting it defaults from. The source is the first synonym's, else the default.
 *
 * Every change is checked completely before anything changes, so a request with one bad entry
 * changes nothing. Error codes and messages are Kafka's (the differential tests compare them):
 * a bad topic value is INVALID_CONFIG, a bad broker value INVALID_REQUEST, as Kafka 4 says.
 */
#include "broker/broker_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

int broker_topic_overrides_parse(broker_topic_overrides_t *o, const broker_config_kv_t *kv,
                                 size_t n, broker_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        int k = broker_topic_cfg_find(kv[i].key, strlen(kv[i].key));
        char norm[BROKER_CFG_VALUE_MAX], why[512];
        if (k < 0)
            return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG,
                               "Unknown topic config name: %s", kv[i].key);
        if (!kv[i].value)
            return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                               "Null value not supported for topic configs: %s", kv[i].key);
        if (broker_topic_cfg_check(k, kv[i].value, norm, sizeof(norm), why, sizeof(why)) < 0)
            return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG, "%s", why);
        free(o->val[k]);
        o->val[k] = weir_strdup(norm);
    }
    return 0;
}

int broker_topic_configs_validate(const broker_config_kv_t *configs, size_t nconfigs,
                                  broker_err_t *err)
{
    broker_topic_overrides_t o;
    memset(&o, 0, sizeof(o));
    int rc = broker_topic_overrides_parse(&o, configs, nconfigs, err);
    broker_topic_overrides_free(&o);
    return rc;
}

/* ---- names ------------------------------------------------------------------------------------
 */

/* Kafka's Topic.validate, with its messages. */
bool broker_topic_name_check(const char *name, size_t len, broker_err_t *err)
{
    const char *why;
    if (broker_topic_name_valid(name, len, &why))
        return true;
    char shown[260];
    snprintf(shown, sizeof(shown), "%.*s", (int)WEIR_MIN(len, 255), name);
    for (char *p = shown; *p; p++)
        *p = isprint((unsigned char)*p) ? *p : '?';
    if (len == 0)
        broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_TOPIC_EXCEPTION,
                    "Topic name is invalid: the empty string is not allowed");
    else if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_TOPIC_EXCEPTION,
                    "Topic name is invalid: '%s' is not allowed", shown);
    else if (len > 249)
        broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_TOPIC_EXCEPTION,
                    "Topic name is invalid: the length of '%s' is longer than the max allowed "
                    "length 249",
                    shown);
    else
        broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_TOPIC_EXCEPTION,
                    "Topic name is invalid: '%s' contains one or more characters other than "
                    "ASCII alphanumerics, '.', '_' and '-'",
                    shown);
    return false;
}

/* A node id as Kafka reads it (Integer.parseInt): 0 and *id, or -1. */
static int node_id_parse(const char *name, size_t len, int32_t *id)
{
    size_t i = len && (name[0] == '-' || name[0] == '+');
    if (i == len || len > 11)
        return -1;
    long long v = 0;
    for (size_t j = i; j < len; j++) {
        if (!isdigit((unsigned char)name[j]))
            return -1;
        v = v * 10 + (name[j] - '0');
    }
    v = name[0] == '-' ? -v : v;
    if (v < INT32_MIN || v > INT32_MAX)
        return -1;
    *id = (int32_t)v;
    return 0;
}

/* ---- DescribeConfigs ---------------------------------------------------------------------- */

static void add_synonym(broker_config_entry_t *e, const char *name, const char *value,
                        int8_t source, bool sensitive)
{
    if (e->nsynonyms == WEIR_ARRAY_LEN(e->synonyms))
        return;
    broker_config_synonym_t *s = &e->synonyms[e->nsynonyms++];
    s->name = name;
    s->value = value && !sensitive ? weir_strdup(value) : NULL;
    s->source = source;
}

/* Kafka's configSynonyms(name, brokerSynonyms(name)) for broker setting key; only the
 * dynamic-default ones unless per_broker. */
static void broker_synonyms(const broker_t *b, broker_config_entry_t *e, int key, bool per_broker,
                            bool sensitive)
{
    static const int8_t layer_src[BCFG_LAYERS] = {
        CFG_SOURCE_STATIC_BROKER, CFG_SOURCE_DYNAMIC_DEFAULT_BROKER, CFG_SOURCE_DYNAMIC_BROKER};
    int one[2];
    const int *chain = broker_cfg_chain(key, one);
    bool started = false;
    for (int pass = 0; pass <= BCFG_LAYERS; pass++) {
        /* passes: dynamic broker, dynamic default, static, default */
        int l = BCFG_LAYERS - 1 - pass;
        for (const int *c = chain; *c >= 0; c++) {
            broker_cfg_row_t tmp;
            const broker_cfg_row_t *row = broker_cfg_row(*c, &tmp);
            const char *v = l >= 0 ? b->set.layer[l][*c] : row->def;
            int8_t src = l >= 0 ? layer_src[l] : CFG_SOURCE_DEFAULT;
            if (!v)
                continue;
            started = started || *c == key;
            if (started && (per_broker || src == CFG_SOURCE_DYNAMIC_DEFAULT_BROKER))
                add_synonym(e, row->name, v, src, sensitive);
        }
    }
}

static bool sensitive_type(int8_t type)
{
    return type == BCFG_T_PASSWORD || type == BCFG_T_UNKNOWN;
}

static broker_config_entry_t *entry_add(broker_config_list_t *out, size_t cap)
{
    WEIR_ASSERT(out->n < cap);
    return &out->entries[out->n++];
}

/* A topic's entries, for the overrides over. Read lock held. The configs Weir adds to Kafka's
 * (schema validation) are listed only where the topic sets them: a topic without them is
 * described exactly as Kafka describes it. */
static void describe_topic(broker_t *b, const broker_topic_overrides_t *over,
                           broker_config_list_t *out)
{
    out->entries = weir_calloc(TCFG__COUNT, sizeof(*out->entries));
    for (int k = 0; k < TCFG__COUNT; k++) {
        broker_cfg_row_t tmp;
        const broker_cfg_row_t *row = broker_topic_cfg_row(k, &tmp);
        if ((row->flags & BCFG_F_INTERNAL) || (k >= TCFG__KAFKA_COUNT && !(over && over->val[k])))
            continue;
        broker_config_entry_t *e = entry_add(out, TCFG__COUNT);
        char buf[64];
        int source;
        const char *val = broker_topic_cfg_value(b, over, k, buf, sizeof(buf), &source);
        e->name = row->name;
        e->sensitive = sensitive_type(row->type);
        e->value = val && !e->sensitive ? weir_strdup(val) : NULL;
        e->type = row->type;
        e->doc = row->doc;
        if (source == CFG_SOURCE_DYNAMIC_TOPIC)
            add_synonym(e, row->name, val, CFG_SOURCE_DYNAMIC_TOPIC, e->sensitive);
        if (row->synonyms[0] >= 0)
            broker_synonyms(b, e, row->synonyms[0], true, e->sensitive);
        e->source = e->nsynonyms ? e->synonyms[0].source : CFG_SOURCE_DEFAULT;
    }
}

/* One broker setting's entry. */
static void broker_entry(broker_t *b, broker_config_entry_t *e, int k, bool per_broker)
{
    broker_cfg_row_t tmp;
    const broker_cfg_row_t *row = broker_cfg_row(k, &tmp);
    const char *v = per_broker ? b->set.sval[k] : b->set.layer[BCFG_LAYER_DYNAMIC_DEFAULT][k];
    e->name = row->name;
    e->sensitive = sensitive_type(row->type);
    e->value = v && !e->sensitive ? weir_strdup(v) : NULL;
    e->read_only = !(row->flags & BCFG_F_DYNAMIC);
    e->type = row->type;
    e->doc = row->doc;
    broker_synonyms(b, e, k, per_broker, e->sensitive);
    e->source = e->nsynonyms ? e->synonyms[0].source : CFG_SOURCE_DEFAULT;
}

/* A name Kafka does not define, kept as given: described as Kafka does, type unknown and so
 * sensitive, value hidden. */
static void extra_entry(broker_config_entry_t *e, const broker_cfg_extra_t *x)
{
    int8_t src = x->layer == BCFG_LAYER_DYNAMIC_BROKER ? CFG_SOURCE_DYNAMIC_BROKER
                                                       : CFG_SOURCE_DYNAMIC_DEFAULT_BROKER;
    e->name = weir_strdup(x->name);
    e->name_owned = true;
    e->sensitive = true;
    e->read_only = false;
    e->source = src;
    add_synonym(e, e->name, NULL, src, true);
}

/* A listener's own setting (listener.name.<l>.[<mechanism>.]<key>), as Kafka describes the
 * listener-prefixed names among its settings: the type and sensitivity of the setting it
 * overrides (a listener's ssl.key.password is hidden too), static, read-only (Weir reads them
 * at start only). */
static void listener_entry(broker_config_entry_t *e, const broker_listener_setting_t *x)
{
    broker_cfg_row_t tmp;
    const broker_cfg_row_t *row = broker_cfg_row(x->key, &tmp);
    buf_t name = {0};
    buf_printf(&name, "listener.name.%s.%s%s%s", x->listener, x->mechanism,
               x->mechanism[0] ? "." : "", row->name);
    buf_append_u8(&name, 0);
    e->name = (char *)name.data;
    e->name_owned = true;
    e->sensitive = sensitive_type(row->type);
    e->value = e->sensitive ? NULL : weir_strdup(x->value);
    e->read_only = true;
    e->type = row->type;
    e->doc = row->doc;
    e->source = CFG_SOURCE_STATIC_BROKER;
    add_synonym(e, e->name, x->value, CFG_SOURCE_STATIC_BROKER, e->sensitive);
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const broker_config_entry_t *)a)->name,
                  ((const broker_config_entry_t *)b)->name);
}

/* The broker's entries: every setting (per_broker), or only the cluster-wide dynamic defaults.
 * Read lock held: dynamic values change under the write lock. */
static void describe_broker(broker_t *b, bool per_broker, broker_config_list_t *out)
{
    size_t cap = BCFG__COUNT + b->ncfg_extra + b->set.per_listener_n;
    out->entries = weir_calloc(cap, sizeof(*out->entries));
    for (int k = 0; k < BCFG__COUNT; k++) {
        broker_cfg_row_t tmp;
        const broker_cfg_row_t *row = broker_cfg_row(k, &tmp);
        if (row->flags & BCFG_F_INTERNAL)
            continue;
        if (!per_broker && !b->set.layer[BCFG_LAYER_DYNAMIC_DEFAULT][k])
            continue;
        broker_entry(b, entry_add(out, cap), k, per_broker);
    }
    for (size_t i = 0; i < b->ncfg_extra; i++) {
        const broker_cfg_extra_t *x = &b->cfg_extra[i];
        if (!per_broker && x->layer != BCFG_LAYER_DYNAMIC_DEFAULT)
            continue;
        bool shadowed = false; /* the per-broker value of the same name wins */
        for (size_t j = 0; j < b->ncfg_extra && per_broker; j++)
            shadowed |= j != i && x->layer == BCFG_LAYER_DYNAMIC_DEFAULT &&
                        strcmp(b->cfg_extra[j].name, x->name) == 0;
        if (!shadowed)
            extra_entry(entry_add(out, cap), x);
    }
    for (size_t i = 0; per_broker && i < b->set.per_listener_n; i++)
        listener_entry(entry_add(out, cap), &b->set.per_listener[i]);
}

static void describe_loggers(broker_config_list_t *out)
{
    out->entries = weir_calloc(1, sizeof(*out->entries));
    broker_config_entry_t *e = entry_add(out, 1);
    e->name = "root";
    e->value = weir_strdup(broker_log_level_name());
    e->source = CFG_SOURCE_DYNAMIC_BROKER_LOGGER;
    e->doc = "";
}

static int describe_broker_resource(broker_t *b, int8_t type, const char *name, size_t len,
                                    broker_config_list_t *out, broker_err_t *err)
{
    int32_t id;
    bool logger = type == BROKER_RESOURCE_BROKER_LOGGER;
    if (len == 0 && logger)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST, "Broker id must not be empty");
    if (len > 0 && node_id_parse(name, len, &id) < 0)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Broker id must be an integer, but it is: %.*s", (int)WEIR_MIN(len, 64),
                           name);
    if (len > 0 && id != b->node_id)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           logger ? "Unexpected broker id, expected %d but received %.*s"
                                  : "Unexpected broker id, expected %d or empty string, but "
                                    "received %.*s",
                           b->node_id, (int)len, name);
    if (logger) {
        describe_loggers(out);
        return 0;
    }
    broker_topics_rdlock(b);
    describe_broker(b, len > 0, out);
    broker_topics_unlock(b);
    return 0;
}

int broker_configs_describe(broker_t *b, int8_t type, const char *name, size_t len,
                            broker_config_list_t *out, broker_err_t *err)
{
    memset(out, 0, sizeof(*out));
    err->code = KAFKA_NONE;
    err->message[0] = 0;
    int rc = 0;
    if (type == BROKER_RESOURCE_BROKER || type == BROKER_RESOURCE_BROKER_LOGGER) {
        rc = describe_broker_resource(b, type, name, len, out, err);
    } else if (type != BROKER_RESOURCE_TOPIC) {
        rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                         "This most likely occurs because of a request being malformed by the "
                         "client library or the message was sent to an incompatible broker. See "
                         "the broker logs for more details.");
    } else if (broker_topic_name_check(name, len, err)) {
        broker_topics_rdlock(b);
        broker_topic_t *t = broker_topic_find(b, name, len);
        if (t)
            describe_topic(b, &t->over, out);
        else
            rc = broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION, "%s", "");
        broker_topics_unlock(b);
    } else {
        rc = -WEIR_EINVAL;
    }
    if (out->n > 1)
        qsort(out->entries, out->n, sizeof(*out->entries), entry_cmp);
    return rc;
}

int broker_configs_describe_new_topic(broker_t *b, const broker_config_kv_t *configs,
                                      size_t nconfigs, broker_config_list_t *out, broker_err_t *err)
{
    memset(out, 0, sizeof(*out));
    broker_topic_overrides_t over;
    memset(&over, 0, sizeof(over));
    int rc = broker_topic_overrides_parse(&over, configs, nconfigs, err);
    if (rc == 0) {
        broker_topics_rdlock(b);
        describe_topic(b, &over, out);
        broker_topics_unlock(b);
        if (out->n > 1)
            qsort(out->entries, out->n, sizeof(*out->entries), entry_cmp);
    }
    broker_topic_overrides_free(&over);
    return rc;
}

void broker_config_list_deinit(broker_config_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        broker_config_entry_t *e = &l->entries[i];
        free(e->value);
        if (e->name_owned)
            free((char *)e->name);
        for (size_t j = 0; j < e->nsynonyms; j++)
            free(e->synonyms[j].value);
    }
    free(l->entries);
    memset(l, 0, sizeof(*l));
}
