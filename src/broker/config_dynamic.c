/*
 * Dynamic broker configs: the two layers AlterConfigs changes on the broker resource, this
 * broker's (named by its node id) and the cluster-wide default (named ""), and what Kafka
 * keeps beside them: config names it does not define. Each layer lives in its own file in the
 * data dir, "key=value" lines written atomically (temporary file, fdatasync, rename), read back
 * at start over the static settings, so a change survives a restart.
 *
 * Invariant: the files hold exactly the layers in memory once broker_dynamic_alter returns 0;
 * every value in them passed its setting's checks when it was set (a file edited by hand is
 * checked again at start and a bad line refuses the start).
 */
#include "broker/broker_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const layer_file[BCFG_LAYERS] = {NULL, "dynamic-default.properties",
                                                    "dynamic.properties"};

static int extra_find(const broker_t *b, int layer, const char *name)
{
    for (size_t i = 0; i < b->ncfg_extra; i++)
        if (b->cfg_extra[i].layer == layer && strcmp(b->cfg_extra[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void extra_remove(broker_t *b, size_t i)
{
    free(b->cfg_extra[i].name);
    free(b->cfg_extra[i].value);
    b->cfg_extra[i] = b->cfg_extra[--b->ncfg_extra];
}

/* Sets (value) or removes (NULL) a name Kafka does not define. */
static int extra_set(broker_t *b, int layer, const char *name, const char *value)
{
    int i = extra_find(b, layer, name);
    if (i >= 0 && !value) {
        extra_remove(b, (size_t)i);
        return 0;
    }
    if (!value)
        return 0;
    if (i < 0) {
        if (b->ncfg_extra >= BROKER_CFG_EXTRA_MAX)
            return -WEIR_ETOOBIG;
        b->cfg_extra = weir_realloc(b->cfg_extra, (b->ncfg_extra + 1) * sizeof(*b->cfg_extra));
        i = (int)b->ncfg_extra++;
        b->cfg_extra[i] = (broker_cfg_extra_t){layer, weir_strdup(name), NULL};
    }
    free(b->cfg_extra[i].value);
    b->cfg_extra[i].value = weir_strdup(value);
    return 0;
}

static int layer_save(broker_t *b, int layer)
{
    buf_t c = {0};
    buf_printf(&c, "# broker configs changed at run time (AlterConfigs on %s)\n",
               layer == BCFG_LAYER_DYNAMIC_BROKER ? "this broker" : "the cluster default");
    for (int k = 0; k < BCFG__COUNT; k++)
        if (b->set.layer[layer][k])
            buf_printf(&c, "%s=%s\n", broker_cfg_name(k), b->set.layer[layer][k]);
    for (size_t i = 0; i < b->ncfg_extra; i++)
        if (b->cfg_extra[i].layer == layer)
            buf_printf(&c, "%s=%s\n", b->cfg_extra[i].name, b->cfg_extra[i].value);
    int rc = broker_write_file_atomic(b->data_dir, layer_file[layer], &c);
    buf_deinit(&c);
    return rc;
}

int broker_dynamic_alter(broker_t *b, int layer, const broker_cfg_change_t *ch, size_t n,
                         bool replace, broker_err_t *err)
{
    WEIR_ASSERT(layer == BCFG_LAYER_DYNAMIC_BROKER || layer == BCFG_LAYER_DYNAMIC_DEFAULT);
    int rc = 0;
    pthread_mutex_lock(&b->topics_admin_mu); /* a writer of topics_lock: see broker_internal.h */
    broker_topics_wrlock(b);
    size_t extras = 0; /* the room the new unknown names need */
    for (size_t i = 0; i < n; i++)
        extras += ch[i].key < 0 && ch[i].value && extra_find(b, layer, ch[i].name) < 0;
    if (b->ncfg_extra + extras > BROKER_CFG_EXTRA_MAX) {
        rc = broker_fail(err, -WEIR_ETOOBIG, KAFKA_INVALID_REQUEST,
                         "Too many config names this broker does not know (at most %d)",
                         BROKER_CFG_EXTRA_MAX);
        goto out_unlock;
    }
    if (replace) {
        for (int k = 0; k < BCFG__COUNT; k++)
            if (b->set.layer[layer][k])
                broker_settings_layer_set(&b->set, layer, k, NULL, err->message,
                                          sizeof(err->message));
        for (size_t i = b->ncfg_extra; i-- > 0;)
            if (b->cfg_extra[i].layer == layer)
                extra_remove(b, i);
    }
    for (size_t i = 0; i < n; i++) {
        if (ch[i].key < 0) {
            extra_set(b, layer, ch[i].name, ch[i].value); /* room checked above */
        } else if (broker_settings_layer_set(&b->set, layer, ch[i].key, ch[i].value, err->message,
                                             sizeof(err->message)) < 0) {
            WEIR_ASSERT(!"a dynamic config was not checked before it was applied");
        }
    }
    if (layer_save(b, layer) < 0)
        rc = broker_fail(err, -WEIR_EIO, KAFKA_KAFKA_STORAGE_ERROR,
                         "cannot persist dynamic configs");
    broker_topics_reconfigure(b);
    int64_t flush_ms = broker_settings_int(&b->set, BCFG_LOG_FLUSH_INTERVAL_MS);
    storage_flusher_set_interval(b->flusher,
                                 flush_ms == BCFG_UNSET ? BROKER_FLUSH_INTERVAL_MS : flush_ms);
    log_info("broker", "dynamic broker configs changed (%s)",
             layer == BCFG_LAYER_DYNAMIC_BROKER ? "this broker" : "cluster default");
out_unlock:
    broker_topics_unlock(b);
    pthread_mutex_unlock(&b->topics_admin_mu);
    if (rc == 0)
        broker_cleaner_wake(b); /* log.cleaner.* changes take effect now, not after a backoff */
    return rc;
}

/* ---- at start ----------------------------------------------------------------------------------
 */

static int layer_load(broker_t *b, int layer)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", b->data_dir, layer_file[layer]);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : -WEIR_EIO;
    char line[BROKER_CFG_VALUE_MAX + 300];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        *eq = 0;
        int k = broker_cfg_find(line, strlen(line));
        char err[512];
        broker_cfg_row_t tmp;
        if (k < 0) {
            rc = extra_set(b, layer, line, eq + 1);
        } else if (!(broker_cfg_row(k, &tmp)->flags & BCFG_F_DYNAMIC)) {
            log_error("broker", "%s: '%s' is not a dynamic broker setting", path, line);
            rc = -WEIR_EINVAL;
        } else if (broker_settings_layer_set(&b->set, layer, k, eq + 1, err, sizeof(err)) < 0) {
            log_error("broker", "%s: %s", path, err);
            rc = -WEIR_EINVAL;
        }
    }
    fclose(f);
    return rc;
}

int broker_dynamic_load(broker_t *b)
{
    int rc = layer_load(b, BCFG_LAYER_DYNAMIC_DEFAULT);
    return rc < 0 ? rc : layer_load(b, BCFG_LAYER_DYNAMIC_BROKER);
}

void broker_dynamic_free(broker_t *b)
{
    while (b->ncfg_extra)
        extra_remove(b, b->ncfg_extra - 1);
    free(b->cfg_extra);
    b->cfg_extra = NULL;
}
