/*
 * The schema registry's store in `weir serve`: the compacted topic `_schemas` (one partition,
 * Confluent's layout), written through the broker's record API with acks=all and replayed at
 * start. The topic is made on the first write, so a broker that never registers a schema has
 * no `_schemas` topic.
 *
 * Invariant: append returns only once the record is durable (the registry answers after it),
 * and replay gives every record of the log in order, so the registry's state after a restart
 * is what it answered before.
 */
#include "server/schemas_store.h"

#include <stdlib.h>

#define SCHEMAS_TOPIC "_schemas"

static int topic_ensure(broker_t *b)
{
    broker_topic_desc_t d;
    if (broker_topic_describe(b, SCHEMAS_TOPIC, strlen(SCHEMAS_TOPIC), &d) == 0) {
        broker_topic_desc_deinit(&d);
        return 0;
    }
    broker_config_kv_t cfg[] = {{"cleanup.policy", "compact"}};
    broker_err_t err = {0};
    int rc = broker_topic_create(b, SCHEMAS_TOPIC, 1, cfg, 1, false, NULL, &err);
    if (rc < 0 && err.code != KAFKA_TOPIC_ALREADY_EXISTS) {
        log_error("server", "cannot create %s: %s", SCHEMAS_TOPIC, err.message);
        return rc;
    }
    return 0;
}

static int store_append(void *arg, const uint8_t *key, size_t key_len, const uint8_t *value,
                        size_t value_len)
{
    broker_t *b = arg;
    int rc = topic_ensure(b);
    if (rc < 0)
        return rc;
    broker_record_t rec = {.timestamp = -1,
                           .key = key,
                           .key_len = (int32_t)key_len,
                           .value = value,
                           .value_len = value ? (int32_t)value_len : -1};
    broker_err_t err = {0};
    int64_t off;
    rc = broker_records_append(b, SCHEMAS_TOPIC, strlen(SCHEMAS_TOPIC), 0, &rec, 1, true, &off,
                               &err);
    if (rc < 0)
        log_error("server", "schema registry: writing to %s failed: %s", SCHEMAS_TOPIC,
                  err.message);
    return rc;
}

typedef struct {
    registry_record_fn fn;
    void *fn_arg;
    int rc;
} replay_t;

static int replay_one(void *arg, const broker_record_t *rec)
{
    replay_t *r = arg;
    if (!rec->key)
        return 0; /* not a registry record */
    r->rc = r->fn(r->fn_arg, rec->key, (size_t)rec->key_len, rec->value,
                  rec->value ? (size_t)rec->value_len : 0);
    return r->rc != 0 ? -1 : 0;
}

static int store_replay(void *arg, registry_record_fn fn, void *fn_arg)
{
    broker_t *b = arg;
    replay_t r = {fn, fn_arg, 0};
    int64_t next = 0;
    for (;;) {
        broker_watermarks_t wm;
        if (broker_partition_watermarks(b, SCHEMAS_TOPIC, strlen(SCHEMAS_TOPIC), 0, &wm) < 0 ||
            next >= wm.high_watermark)
            return 0; /* no topic yet, or read to the end */
        int64_t from = next;
        int rc = broker_records_read(b, SCHEMAS_TOPIC, strlen(SCHEMAS_TOPIC), 0, from, 64 << 20,
                                     replay_one, &r, &next);
        if (r.rc != 0)
            return r.rc;
        if (rc < 0)
            return rc;
        if (next <= from)
            return 0;
    }
}

registry_store_t schemas_store(broker_t *b)
{
    return (registry_store_t){.arg = b, .append = store_append, .replay = store_replay};
}

/* ---- the produce path's schema validation ----------------------------------------------------
 * The broker cannot include the registry (it sits below it): it checks records through these,
 * one registry validator per topic side. */

static int validation_open(void *arg, const char *topic, bool is_key,
                           broker_subject_strategy_t strategy, broker_schema_mode_t mode,
                           void **out)
{
    registry_strategy_t st = strategy == BROKER_SUBJECT_RECORD ? REGISTRY_STRATEGY_RECORD
                             : strategy == BROKER_SUBJECT_TOPIC_RECORD
                                 ? REGISTRY_STRATEGY_TOPIC_RECORD
                                 : REGISTRY_STRATEGY_TOPIC;
    registry_validate_mode_t m =
        mode == BROKER_SCHEMA_FULL ? REGISTRY_VALIDATE_FULL : REGISTRY_VALIDATE_ID;
    registry_validator_t *v;
    int rc = registry_validator_new(&v, arg, topic, is_key, st, m);
    if (rc == 0)
        *out = v;
    return rc;
}

static int validation_check(void *checker, const uint8_t *p, size_t n, char *why, size_t why_size)
{
    return registry_validator_check(checker, p, n, why, why_size);
}

static void validation_close(void *checker)
{
    registry_validator_free(checker);
}

broker_schema_hook_t schemas_validation_hook(registry_t *r)
{
    return (broker_schema_hook_t){
        .arg = r, .open = validation_open, .check = validation_check, .close = validation_close};
}
