/*
 * AlterConfigs and IncrementalAlterConfigs, answered as Apache Kafka 4 answers them: for a
 * topic (its overrides), this broker (the dynamic per-broker layer, named by the node id, or the
 * cluster-wide default layer, named ""), and its loggers (IncrementalAlterConfigs only).
 *
 * Each request is checked whole on a scratch copy before anything changes, in Kafka's order and
 * with its codes and messages: duplicate keys and null values are INVALID_REQUEST; an unknown
 * topic config, a bad topic value or APPEND to a non-list is INVALID_CONFIG; a bad broker value
 * or a broker setting that cannot change at run time is INVALID_REQUEST; an operation code out
 * of range is UNKNOWN_SERVER_ERROR (without a message, as Kafka). A broker config name Kafka
 * does not define is accepted and kept (Kafka keeps it too), described as sensitive, except a
 * listener's own setting (listener.name.*), which Weir reads at start only: refused as a
 * setting that cannot change at run time.
 */
#include "broker/broker_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

static const char *op_name(int8_t op)
{
    return op == BROKER_CONFIG_APPEND     ? "APPEND"
           : op == BROKER_CONFIG_SUBTRACT ? "SUBTRACT"
                                          : "SET";
}

static bool op_valid(int8_t op)
{
    return op >= BROKER_CONFIG_SET && op <= BROKER_CONFIG_SUBTRACT;
}

static int duplicates(const broker_config_op_t *ops, size_t n, broker_err_t *err)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(ops[i].name, ops[j].name) == 0)
                return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                                   "Error due to duplicate config keys");
    return 0;
}

/* cur +/- the items of val, into out: APPEND adds the items not there yet, SUBTRACT removes
 * every occurrence (Kafka's list semantics). Items are trimmed, as a LIST parses them. */
static void list_op(const char *cur, const char *val, bool append, buf_t *out)
{
    char *items[2] = {weir_strdup(cur ? cur : ""), weir_strdup(val)};
    char **tok[2] = {NULL, NULL};
    size_t ntok[2] = {0, 0};
    for (int w = 0; w < 2; w++) {
        char *save = NULL;
        for (char *t = strtok_r(items[w], ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ' || *t == '\t')
                t++;
            size_t n = strlen(t);
            while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
                t[--n] = 0;
            if (!*t)
                continue;
            tok[w] = weir_realloc(tok[w], (ntok[w] + 1) * sizeof(char *));
            tok[w][ntok[w]++] = t;
        }
    }
    size_t written = 0;
    for (size_t i = 0; i < ntok[0]; i++) {
        bool in_val = false;
        for (size_t j = 0; j < ntok[1]; j++)
            in_val |= strcmp(tok[0][i], tok[1][j]) == 0;
        if (append || !in_val)
            buf_printf(out, "%s%s", written++ ? "," : "", tok[0][i]);
    }
    for (size_t j = 0; append && j < ntok[1]; j++) {
        bool have = false;
        for (size_t i = 0; i < ntok[0]; i++)
            have |= strcmp(tok[0][i], tok[1][j]) == 0;
        for (size_t k = 0; k < j; k++)
            have |= strcmp(tok[1][k], tok[1][j]) == 0;
        if (!have)
            buf_printf(out, "%s%s", written++ ? "," : "", tok[1][j]);
    }
    buf_append_u8(out, 0);
    out->len--;
    for (int w = 0; w < 2; w++) {
        free(items[w]);
        free(tok[w]);
    }
}

/* ---- topics ---------------------------------------------------------------------------------- */

/* The checks Kafka makes of each op before looking at names and values: a null value (only
 * DELETE may have one), the op code, APPEND/SUBTRACT on a non-list. */
static int topic_op_shape(const broker_config_op_t *op, int k, broker_err_t *err)
{
    broker_cfg_row_t tmp;
    if (op->op != BROKER_CONFIG_DELETE && !op->value)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Null value not supported for : %s", op->name);
    if (!op_valid(op->op))
        return broker_fail(err, -WEIR_EINVAL, KAFKA_UNKNOWN_SERVER_ERROR, "%s", "");
    if ((op->op == BROKER_CONFIG_APPEND || op->op == BROKER_CONFIG_SUBTRACT) &&
        (k < 0 || broker_topic_cfg_row(k, &tmp)->type != BCFG_T_LIST))
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG,
                           "Can't %s to key %s because its type is not LIST.", op_name(op->op),
                           op->name);
    return 0;
}

/* Applies one op to a topic's overrides in o (a scratch copy), checking the resulting value. */
static int topic_op(broker_t *b, broker_topic_overrides_t *o, const broker_config_op_t *op, int k,
                    broker_err_t *err)
{
    if (op->op == BROKER_CONFIG_DELETE) {
        if (k >= 0) {
            free(o->val[k]);
            o->val[k] = NULL;
        }
        return 0;
    }
    buf_t lv = {0};
    const char *check = op->value;
    if (op->op != BROKER_CONFIG_SET) {
        char cbuf[64];
        int src;
        const char *cur = broker_topic_cfg_value(b, o, k, cbuf, sizeof(cbuf), &src);
        list_op(cur, op->value, op->op == BROKER_CONFIG_APPEND, &lv);
        check = (const char *)lv.data;
    }
    char norm[BROKER_CFG_VALUE_MAX], why[512];
    int rc = broker_topic_cfg_check(k, check, norm, sizeof(norm), why, sizeof(why));
    buf_deinit(&lv);
    if (rc < 0)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG, "%s", why);
    free(o->val[k]);
    o->val[k] = weir_strdup(norm);
    return 0;
}

/* Kafka's order: every op's shape, then unknown names, then values, then whether the topic
 * exists. Values are checked against the topic's overrides (or none, for a topic that does not
 * exist: it gets UNKNOWN_TOPIC_OR_PARTITION once its values pass). */
static int topic_ops(broker_t *b, broker_topic_overrides_t *over, const broker_config_op_t *ops,
                     size_t n, broker_err_t *err)
{
    int *keys = weir_calloc(n + 1, sizeof(*keys));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        keys[i] = broker_topic_cfg_find(ops[i].name, strlen(ops[i].name));
        rc = topic_op_shape(&ops[i], keys[i], err);
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        if (keys[i] < 0 && ops[i].op == BROKER_CONFIG_SET)
            rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG,
                             "Unknown topic config name: %s", ops[i].name);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = topic_op(b, over, &ops[i], keys[i], err);
    free(keys);
    return rc;
}

static int alter_topic(broker_t *b, const char *name, size_t len, const broker_config_op_t *ops,
                       size_t n, bool incremental, bool validate_only, broker_err_t *err)
{
    if (len == 0)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Default topic resources are not allowed.");
    if (!broker_topic_name_check(name, len, err))
        return -WEIR_EINVAL;
    if (duplicates(ops, n, err) < 0)
        return -WEIR_EINVAL;
    broker_topic_overrides_t over;
    memset(&over, 0, sizeof(over));
    broker_topics_rdlock(b);
    broker_topic_t *t = broker_topic_find(b, name, len);
    if (t && incremental)
        broker_topic_overrides_copy(&over, &t->over);
    broker_topics_unlock(b);
    int rc = topic_ops(b, &over, ops, n, err);
    if (rc == 0 && !t)
        rc = broker_fail(err, -WEIR_ENOENT, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                         "The topic '%.*s' does not exist.", (int)len, name);
    if (rc == 0)
        rc = broker_topic_set_configs(b, name, len, &over, validate_only, err);
    broker_topic_overrides_free(&over);
    return rc;
}

/* ---- this broker ----------------------------------------------------------------------------- */

/* The layer a broker resource name stands for: "" the cluster-wide default, the node id this
 * broker. */
static int broker_layer(const broker_t *b, const char *name, size_t len, int *layer,
                        broker_err_t *err)
{
    if (len == 0) {
        *layer = BCFG_LAYER_DYNAMIC_DEFAULT;
        return 0;
    }
    char shown[80];
    snprintf(shown, sizeof(shown), "%.*s", (int)WEIR_MIN(len, 64), name);
    int32_t id = 0;
    bool num = len <= 11;
    for (size_t i = 0; i < len && num; i++)
        num = isdigit((unsigned char)name[i]) || (i == 0 && len > 1 && name[0] == '-');
    if (num)
        id = (int32_t)strtol(shown, NULL, 10);
    if (!num)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Node id must be an integer, but it is: %s", shown);
    if (id != b->node_id)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Unexpected broker id, expected %d, but received %s", b->node_id, shown);
    *layer = BCFG_LAYER_DYNAMIC_BROKER;
    return 0;
}

/* The checks of each op before settings are looked at: null values, op codes, APPEND and
 * SUBTRACT only on known lists. */
static int broker_op_shape(const broker_config_op_t *op, const broker_cfg_row_t *row,
                           broker_err_t *err)
{
    if (op->op != BROKER_CONFIG_DELETE && !op->value)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Null value not supported for : %s", op->name);
    if (!op_valid(op->op))
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST, "Unknown operations type %d",
                           op->op);
    if (op->op != BROKER_CONFIG_APPEND && op->op != BROKER_CONFIG_SUBTRACT)
        return 0;
    if (!row)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG, "Unknown config name: %s",
                           op->name);
    if (row->type != BCFG_T_LIST)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG,
                           "Config value %s is not allowed for config key: %s",
                           op->op == BROKER_CONFIG_APPEND ? "append" : "subtract", op->name);
    return 0;
}

/* Turns one checked op into a change (the value normalized into val). */
static int broker_op(broker_t *b, const broker_config_op_t *op, broker_cfg_change_t *ch, char *val,
                     broker_err_t *err)
{
    ch->name = op->name;
    ch->value = NULL;
    if (ch->key < 0) { /* a name Kafka does not define: kept as given */
        if (strlen(op->name) > 255 || (op->value && strlen(op->value) >= BROKER_CFG_VALUE_MAX))
            return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                               "Config name or value too long: %.64s", op->name);
        if (op->op != BROKER_CONFIG_DELETE) {
            snprintf(val, BROKER_CFG_VALUE_MAX, "%s", op->value);
            ch->value = val;
        }
        return 0;
    }
    if (op->op == BROKER_CONFIG_DELETE)
        return 0;
    buf_t lv = {0};
    const char *v = op->value;
    if (op->op != BROKER_CONFIG_SET) {
        broker_topics_rdlock(b);
        list_op(b->set.sval[ch->key], op->value, op->op == BROKER_CONFIG_APPEND, &lv);
        broker_topics_unlock(b);
        v = (const char *)lv.data;
    }
    char why[512];
    int rc = broker_cfg_check(ch->key, v, val, BROKER_CFG_VALUE_MAX, why, sizeof(why));
    buf_deinit(&lv);
    if (rc < 0)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST, "%s", why);
    ch->value = val;
    return 0;
}

/* Kafka 4 keeps a cluster-wide min.insync.replicas while eligible leader replicas are on (from
 * the cluster's creation): these changes to the cluster default would drop it. */
static bool removes_min_isr(broker_t *b, const broker_cfg_change_t *ch, size_t n, bool replace)
{
    broker_topics_rdlock(b);
    bool have = b->set.layer[BCFG_LAYER_DYNAMIC_DEFAULT][BCFG_MIN_INSYNC_REPLICAS] != NULL;
    broker_topics_unlock(b);
    bool kept = !replace;
    for (size_t i = 0; i < n; i++)
        if (ch[i].key == BCFG_MIN_INSYNC_REPLICAS)
            kept = ch[i].value != NULL;
    return have && !kept;
}

/* Kafka's order: duplicates, the resource name, each op's shape, the settings that cannot
 * change at run time (all named at once; deleting one is allowed), then the values. */
static int alter_broker(broker_t *b, const char *name, size_t len, const broker_config_op_t *ops,
                        size_t n, bool incremental, bool validate_only, broker_err_t *err)
{
    int layer = BCFG_LAYER_DYNAMIC_BROKER;
    if (duplicates(ops, n, err) < 0 || broker_layer(b, name, len, &layer, err) < 0)
        return -WEIR_EINVAL;
    broker_cfg_change_t *ch = weir_calloc(n + 1, sizeof(*ch));
    char *vals = weir_malloc((n + 1) * BROKER_CFG_VALUE_MAX);
    buf_t nondynamic = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        broker_cfg_row_t tmp;
        ch[i].key = broker_cfg_find(ops[i].name, strlen(ops[i].name));
        const broker_cfg_row_t *row = ch[i].key >= 0 ? broker_cfg_row(ch[i].key, &tmp) : NULL;
        rc = broker_op_shape(&ops[i], row, err);
        /* A listener's own settings are read at start only (config_listener.c): kept without
         * effect, a listener.name.*.ssl.client.auth would only look applied. */
        bool fixed =
            row ? !(row->flags & BCFG_F_DYNAMIC) : strncmp(ops[i].name, "listener.name.", 14) == 0;
        if (rc == 0 && fixed && ops[i].op != BROKER_CONFIG_DELETE)
            buf_printf(&nondynamic, "%s%s", nondynamic.len ? ", " : "", ops[i].name);
    }
    if (rc == 0 && nondynamic.len)
        rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                         "Cannot update these configs dynamically: [%.*s]", (int)nondynamic.len,
                         (const char *)nondynamic.data);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = broker_op(b, &ops[i], &ch[i], vals + i * BROKER_CFG_VALUE_MAX, err);
    if (rc == 0 && layer == BCFG_LAYER_DYNAMIC_DEFAULT && removes_min_isr(b, ch, n, !incremental))
        rc = broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG,
                         "Cluster-level min.insync.replicas cannot be removed while ELR is "
                         "enabled.");
    if (rc == 0 && !validate_only)
        rc = broker_dynamic_alter(b, layer, ch, n, !incremental, err);
    buf_deinit(&nondynamic);
    free(vals);
    free(ch);
    return rc;
}

/* ---- loggers --------------------------------------------------------------------------------
 * Weir has one logger, "root": the process-wide log level. */

static const char *const log_levels[] = {"DEBUG", "ERROR", "FATAL", "INFO", "TRACE", "WARN"};

const char *broker_log_level_name(void)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    log_level_t l = log_get_level();
    return (size_t)l < WEIR_ARRAY_LEN(names) ? names[l] : "INFO";
}

static int logger_op(const broker_config_op_t *op, int *level, broker_err_t *err)
{
    if (op->op != BROKER_CONFIG_DELETE && !op->value)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Null value not supported for : %s", op->name);
    if (op->op == BROKER_CONFIG_APPEND || op->op == BROKER_CONFIG_SUBTRACT)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "%s operation is not allowed for the BROKER_LOGGER resource",
                           op_name(op->op));
    if (!op_valid(op->op))
        return broker_fail(err, -WEIR_EINVAL, KAFKA_UNKNOWN_SERVER_ERROR, "%s", "");
    if (strcmp(op->name, "root") != 0)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG, "Logger %s does not exist!",
                           op->name);
    if (op->op == BROKER_CONFIG_DELETE)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Removing the log level of the root logger is not allowed");
    for (size_t i = 0; op->value && i < WEIR_ARRAY_LEN(log_levels); i++) {
        if (strcmp(op->value, log_levels[i]) == 0) {
            *level = strcmp(op->value, "TRACE") == 0 ? LOG_DEBUG : log_level_parse(op->value);
            return 0;
        }
    }
    return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_CONFIG,
                       "Cannot set the log level of root to %.64s as it is not a supported log "
                       "level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN",
                       op->value ? op->value : "null");
}

static int alter_loggers(broker_t *b, const char *name, size_t len, const broker_config_op_t *ops,
                         size_t n, bool validate_only, broker_err_t *err)
{
    char shown[80];
    snprintf(shown, sizeof(shown), "%.*s", (int)WEIR_MIN(len, 64), name);
    bool num = len > 0 && len <= 11;
    for (size_t i = 0; i < len && num; i++)
        num = isdigit((unsigned char)name[i]);
    if (!num)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Node id must be an integer, but it is: %s", shown);
    if (strtol(shown, NULL, 10) != b->node_id)
        return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST,
                           "Unexpected node id. Expected %d, but received %s", b->node_id, shown);
    if (duplicates(ops, n, err) < 0)
        return -WEIR_EINVAL;
    int level = -1;
    for (size_t i = 0; i < n; i++)
        if (logger_op(&ops[i], &level, err) < 0)
            return -WEIR_EINVAL;
    if (!validate_only && level >= 0) {
        log_set_level((log_level_t)level);
        log_info("broker", "log level set to %s", broker_log_level_name());
    }
    return 0;
}

int broker_configs_alter(broker_t *b, int8_t type, const char *name, size_t len,
                         const broker_config_op_t *ops, size_t n, bool incremental,
                         bool validate_only, broker_err_t *err)
{
    err->code = KAFKA_NONE;
    err->message[0] = 0;
    if (type == BROKER_RESOURCE_TOPIC)
        return alter_topic(b, name, len, ops, n, incremental, validate_only, err);
    if (type == BROKER_RESOURCE_BROKER)
        return alter_broker(b, name, len, ops, n, incremental, validate_only, err);
    if (type == BROKER_RESOURCE_BROKER_LOGGER && incremental)
        return alter_loggers(b, name, len, ops, n, validate_only, err);
    return broker_fail(err, -WEIR_EINVAL, KAFKA_INVALID_REQUEST, "Unknown resource type %d", type);
}
