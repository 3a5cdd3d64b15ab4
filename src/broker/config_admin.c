/*
 * Configs as the admin APIs see them: DescribeConfigs (every config of a topic or of this
 * broker, with its value, source and synonyms), AlterConfigs (a resource's overrides replaced
 * as a whole) and IncrementalAlterConfigs (set, delete, append to or subtract from single keys;
 * append/subtract for list configs: cleanup.policy), and the parsing of the configs given with
 * CreateTopics. The tables themselves (names, defaults, bounds, docs) are in config.c.
 *
 * Topics are resource type 2, this broker type 4, named by its node id or "" for the cluster
 * default (the same thing on one node). Every change is checked completely before anything
 * changes, so a request with one bad entry changes nothing.
 */
#include "broker/broker_internal.h"

#include <stdio.h>
#include <stdlib.h>

int broker_topic_overrides_parse(broker_topic_overrides_t *o, const broker_config_kv_t *kv,
                                 size_t n, broker_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        int k = broker_topic_cfg_find(kv[i].key, strlen(kv[i].key));
        char norm[256], why[256];
        if (k < 0)
            return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG,
                               "Unknown topic config name: %s", kv[i].key);
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

/* ---- DescribeConfigs ----------------------------------------------------------------------------
 */

static bool broker_name_ok(const broker_t *b, const char *name, size_t len)
{
    char id[16];
    int n = snprintf(id, sizeof(id), "%d", b->node_id);
    return len == 0 || ((size_t)n == len && memcmp(name, id, len) == 0);
}

static void add_synonym(broker_config_entry_t *e, const char *name, const char *value,
                        int8_t source)
{
    WEIR_ASSERT(e->nsynonyms < WEIR_ARRAY_LEN(e->synonyms));
    broker_config_synonym_t *s = &e->synonyms[e->nsynonyms++];
    s->name = name;
    s->value = value ? weir_strdup(value) : NULL;
    s->source = source;
}

/* A topic's entries: the override (if any) hides the broker setting, which hides the default;
 * synonyms list the value and the ones it hides, most specific first. Read lock held. */
static void describe_topic(broker_t *b, const broker_topic_overrides_t *over,
                           broker_config_list_t *out)
{
    out->entries = weir_calloc(TCFG__COUNT, sizeof(*out->entries));
    for (int k = 0; k < TCFG__COUNT; k++) {
        const broker_topic_cfg_def_t *d = &broker_topic_cfg_defs[k];
        broker_config_entry_t *e = &out->entries[out->n++];
        char buf[64], dbuf[64];
        int source, bsource;
        const char *val = broker_topic_cfg_value(b, over, k, buf, sizeof(buf), &source);
        /* The broker-level value the override hides, for the synonym list. */
        const char *bval = broker_topic_cfg_value(b, NULL, k, dbuf, sizeof(dbuf), &bsource);
        const char *bname = d->broker_key >= 0 ? broker_cfg_defs[d->broker_key].name : NULL;
        e->name = d->name;
        e->value = weir_strdup(val);
        e->source = (int8_t)source;
        e->doc = d->doc;
        if (source == CFG_SOURCE_DYNAMIC_TOPIC) {
            add_synonym(e, d->name, val, (int8_t)source);
            add_synonym(e, bname ? bname : d->name, bval, CFG_SOURCE_DEFAULT);
        } else {
            if (source != CFG_SOURCE_DEFAULT && bname)
                add_synonym(e, bname, val, (int8_t)source);
            add_synonym(e, bname ? bname : d->name,
                        bname ? broker_cfg_defs[d->broker_key].def : d->def, CFG_SOURCE_DEFAULT);
        }
    }
}

/* The broker's entries (aliases left out). Read lock held: dynamic values change under the
 * write lock. */
static void describe_broker(broker_t *b, broker_config_list_t *out)
{
    out->entries = weir_calloc(BCFG__COUNT, sizeof(*out->entries));
    for (int k = 0; k < BCFG__COUNT; k++) {
        const broker_cfg_def_t *d = &broker_cfg_defs[k];
        if (d->alias_of >= 0)
            continue;
        broker_config_entry_t *e = &out->entries[out->n++];
        int8_t source = (int8_t)b->set.source[k];
        e->name = d->name;
        e->value = b->set.sval[k] ? weir_strdup(b->set.sval[k]) : NULL;
        e->read_only = !d->dynamic;
        e->source = source;
        e->doc = d->doc;
        if (source != CFG_SOURCE_DEFAULT)
            add_synonym(e, d->name, b->set.sval[k], source);
        add_synonym(e, d->name, d->def, CFG_SOURCE_DEFAULT);
    }
}

int broker_configs_describe(broker_t *b, int8_t type, const char *name, size_t len,
                            broker_config_list_t *out, broker_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (type == BROKER_RESOURCE_BROKER) {
        if (!broker_name_ok(b, name, len))
            return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST, "Unknown broker id");
        broker_topics_rdlock(b);
        describe_broker(b, out);
        broker_topics_unlock(b);
        return 0;
    }
    if (type != BROKER_RESOURCE_TOPIC)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST, "Unsupported resource type");
    int rc = 0;
    broker_topics_rdlock(b);
    broker_topic_t *t = memchr(name, 0, len) ? NULL : broker_topic_find(b, name, len);
    if (t)
        describe_topic(b, &t->over, out);
    else
        rc = broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                         "Topic does not exist");
    broker_topics_unlock(b);
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
    }
    broker_topic_overrides_free(&over);
    return rc;
}

void broker_config_list_deinit(broker_config_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->entries[i].value);
        for (size_t j = 0; j < l->entries[i].nsynonyms; j++)
            free(l->entries[i].synonyms[j].value);
    }
    free(l->entries);
    memset(l, 0, sizeof(*l));
}

/* ---- AlterConfigs and IncrementalAlterConfigs ---------------------------------------------------
 */

/* cur +/- the comma-separated tokens of val, into out (a list config's APPEND/SUBTRACT). */
static void list_op(const char *cur, const char *val, bool append, char *out, size_t out_len)
{
    buf_t res = {0};
    char *c = weir_strdup(cur ? cur : ""), *save = NULL;
    for (char *tok = strtok_r(c, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        bool in_val = false;
        char *v = weir_strdup(val), *s2 = NULL;
        for (char *t2 = strtok_r(v, ", ", &s2); t2; t2 = strtok_r(NULL, ", ", &s2))
            in_val |= strcmp(tok, t2) == 0;
        free(v);
        if (append || !in_val)
            buf_printf(&res, "%s%s", res.len ? "," : "", tok);
    }
    free(c);
    if (append) {
        char *v = weir_strdup(val), *s2 = NULL;
        for (char *t2 = strtok_r(v, ", ", &s2); t2; t2 = strtok_r(NULL, ", ", &s2)) {
            buf_append_u8(&res, 0);
            res.len--;
            bool have = false;
            char *c2 = weir_strdup((char *)res.data), *s3 = NULL;
            for (char *t3 = strtok_r(c2, ",", &s3); t3; t3 = strtok_r(NULL, ",", &s3))
                have |= strcmp(t3, t2) == 0;
            free(c2);
            if (!have)
                buf_printf(&res, "%s%s", res.len ? "," : "", t2);
        }
        free(v);
    }
    snprintf(out, out_len, "%.*s", (int)res.len, res.data ? (char *)res.data : "");
    buf_deinit(&res);
}

static int append_not_allowed(broker_err_t *err, const char *name)
{
    return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG,
                       "Config value append/subtract is not allowed for config key: %s", name);
}

/* Applies one op to a topic's overrides in o (a scratch copy). */
static int topic_op(broker_t *b, broker_topic_overrides_t *o, const broker_config_op_t *op,
                    broker_err_t *err)
{
    int k = broker_topic_cfg_find(op->name, strlen(op->name));
    if (k < 0)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG, "Unknown topic config name: %s",
                           op->name);
    char norm[256], why[256], lbuf[256];
    const char *check = op->value;
    switch (op->op) {
    case BROKER_CONFIG_DELETE:
        free(o->val[k]);
        o->val[k] = NULL;
        return 0;
    case BROKER_CONFIG_APPEND:
    case BROKER_CONFIG_SUBTRACT: {
        if (!broker_topic_cfg_defs[k].is_list || !op->value)
            return append_not_allowed(err, op->name);
        char cbuf[64];
        int src;
        const char *cur = broker_topic_cfg_value(b, o, k, cbuf, sizeof(cbuf), &src);
        list_op(cur, op->value, op->op == BROKER_CONFIG_APPEND, lbuf, sizeof(lbuf));
        check = lbuf;
        break;
    }
    case BROKER_CONFIG_SET:
        break;
    default:
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Unknown config operation for %s", op->name);
    }
    if (broker_topic_cfg_check(k, check, norm, sizeof(norm), why, sizeof(why)) < 0)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG, "%s", why);
    free(o->val[k]);
    o->val[k] = weir_strdup(norm);
    return 0;
}

static int alter_topic(broker_t *b, const char *name, size_t len, const broker_config_op_t *ops,
                       size_t n, bool incremental, bool validate_only, broker_err_t *err)
{
    broker_topic_overrides_t over;
    memset(&over, 0, sizeof(over));
    if (incremental) {
        broker_topics_rdlock(b);
        broker_topic_t *t = memchr(name, 0, len) ? NULL : broker_topic_find(b, name, len);
        if (t)
            broker_topic_overrides_copy(&over, &t->over);
        broker_topics_unlock(b);
        if (!t)
            return broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                               "Topic does not exist: %.*s", (int)len, name);
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = topic_op(b, &over, &ops[i], err);
    if (rc == 0)
        rc = broker_topic_set_configs(b, name, len, &over, validate_only, err);
    broker_topic_overrides_free(&over);
    return rc;
}

static int alter_broker(broker_t *b, const broker_config_op_t *ops, size_t n, bool incremental,
                        bool validate_only, broker_err_t *err)
{
    broker_cfg_change_t *ch = weir_calloc(n + 1, sizeof(*ch));
    char(*vals)[256] = weir_calloc(n + 1, 256);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const broker_config_op_t *op = &ops[i];
        int k = broker_cfg_find(op->name, strlen(op->name));
        if (k < 0) {
            rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG,
                             "Unknown broker config name: %s", op->name);
            break;
        }
        ch[i].key = k;
        if (op->op == BROKER_CONFIG_DELETE) {
            ch[i].value = NULL;
            continue;
        }
        if (!op->value || strlen(op->value) >= 256) {
            rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG, "Bad value for %s", op->name);
            break;
        }
        snprintf(vals[i], 256, "%s", op->value);
        if (op->op == BROKER_CONFIG_APPEND || op->op == BROKER_CONFIG_SUBTRACT) {
            if (k != BCFG_LOG_CLEANUP_POLICY) {
                rc = append_not_allowed(err, op->name);
                break;
            }
            char out[256];
            broker_topics_rdlock(b);
            list_op(b->set.sval[k], vals[i], op->op == BROKER_CONFIG_APPEND, out, sizeof(out));
            broker_topics_unlock(b);
            snprintf(vals[i], 256, "%s", out);
        } else if (op->op != BROKER_CONFIG_SET) {
            rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                             "Unknown config operation for %s", op->name);
            break;
        }
        ch[i].value = vals[i];
    }
    if (rc == 0)
        rc = broker_dynamic_alter(b, ch, n, !incremental, validate_only, err);
    free(vals);
    free(ch);
    return rc;
}

int broker_configs_alter(broker_t *b, int8_t type, const char *name, size_t len,
                         const broker_config_op_t *ops, size_t n, bool incremental,
                         bool validate_only, broker_err_t *err)
{
    if (type == BROKER_RESOURCE_TOPIC)
        return alter_topic(b, name, len, ops, n, incremental, validate_only, err);
    if (type == BROKER_RESOURCE_BROKER) {
        if (!broker_name_ok(b, name, len))
            return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST, "Unknown broker id %.*s",
                               (int)len, name);
        return alter_broker(b, ops, n, incremental, validate_only, err);
    }
    return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                       "Unsupported resource type for %.*s", (int)len, name);
}
