/*
 * Broker-side schema validation: what a topic's configs ask (Confluent's
 * confluent.{key,value}.schema.validation and .subject.name.strategy, Weir's
 * weir.{key,value}.schema.validation=none|id|full), and the checkers that answer it.
 *
 * The schema registry sits above the broker (docs/architecture.md), so the broker never calls
 * it: the server sets a hook (broker_schema_hook_t) and the broker asks the hook for one
 * checker per topic side. Checkers are made and closed under the registry write lock (a config
 * change, a topic deleted, the hook set or removed), and used by the produce path under the
 * read lock, so a checker is never closed while a batch is being checked with it.
 *
 * Cost: a topic without validation pays one bool test per batch. With it, each record's key
 * or value goes to the hook, except that in id mode with TopicNameStrategy (where the verdict
 * depends on the schema id alone) a record whose header repeats the last one the batch
 * accepted passes at once, compared inline by the storage layer's validation loop with no
 * call (storage_record_memo_t): a batch is judged against the registry as it was at its first
 * record of each id.
 *
 * Invariant: a topic with validation on never takes a record nobody checked: without a hook,
 * or when the hook could not make a checker, every batch is refused.
 */
#include "broker/broker_internal.h"

#include <stdio.h>

/* The stronger of Confluent's flag (true = id) and Weir's mode. */
static broker_schema_mode_t side_mode(const broker_t *b, const broker_topic_overrides_t *o,
                                      int confluent_key, int weir_key)
{
    int64_t weir = broker_topic_cfg_int(b, o, weir_key); /* none|id|full */
    broker_schema_mode_t m = weir == 2   ? BROKER_SCHEMA_FULL
                             : weir == 1 ? BROKER_SCHEMA_ID
                                         : BROKER_SCHEMA_NONE;
    if (m == BROKER_SCHEMA_NONE && broker_topic_cfg_int(b, o, confluent_key))
        m = BROKER_SCHEMA_ID;
    return m;
}

void broker_topic_schema_close(broker_topic_t *t)
{
    for (int side = 0; side < 2; side++) {
        broker_topic_schema_t *s = &t->schema[side];
        if (s->checker && s->close)
            s->close(s->checker);
        s->checker = NULL;
        s->check = NULL;
        s->close = NULL;
    }
}

void broker_topic_schema_update(broker_t *b, broker_topic_t *t)
{
    static const int keys[2][3] = {
        {TCFG_CONFLUENT_KEY_SCHEMA_VALIDATION, TCFG_WEIR_KEY_SCHEMA_VALIDATION,
         TCFG_CONFLUENT_KEY_SUBJECT_NAME_STRATEGY},
        {TCFG_CONFLUENT_VALUE_SCHEMA_VALIDATION, TCFG_WEIR_VALUE_SCHEMA_VALIDATION,
         TCFG_CONFLUENT_VALUE_SUBJECT_NAME_STRATEGY},
    };
    broker_topic_schema_close(t);
    const broker_topic_overrides_t *o = &t->over;
    const broker_schema_hook_t *h = &b->schema_hook;
    t->schema_on = false;
    for (int side = 0; side < 2; side++) {
        broker_topic_schema_t *s = &t->schema[side];
        s->mode = side_mode(b, o, keys[side][0], keys[side][1]);
        /* the strategy's index in the config's values: Topic, Record, TopicRecord */
        s->strategy = (broker_subject_strategy_t)broker_topic_cfg_int(b, o, keys[side][2]);
        if (s->mode == BROKER_SCHEMA_NONE)
            continue;
        t->schema_on = true;
        if (!h->open)
            continue;
        int rc = h->open(h->arg, t->name, side == 0, s->strategy, s->mode, &s->checker);
        if (rc < 0) {
            log_warn("broker", "topic %s: no %s schema checker (%s): every batch is refused",
                     t->name, side == 0 ? "key" : "value", weir_strerror(rc));
            s->checker = NULL;
            continue;
        }
        s->check = h->check;
        s->close = h->close;
    }
}

void broker_schema_hook_set(broker_t *b, const broker_schema_hook_t *hook)
{
    pthread_mutex_lock(&b->topics_admin_mu); /* a writer of topics_lock: see broker_internal.h */
    broker_topics_wrlock(b);
    for (size_t i = 0; i < b->nbuckets; i++)
        for (broker_topic_t *t = b->buckets[i]; t; t = t->hnext)
            broker_topic_schema_close(t);
    if (hook)
        b->schema_hook = *hook;
    else
        memset(&b->schema_hook, 0, sizeof(b->schema_hook));
    for (size_t i = 0; i < b->nbuckets; i++)
        for (broker_topic_t *t = b->buckets[i]; t; t = t->hnext)
            broker_topic_schema_update(b, t);
    broker_topics_unlock(b);
    pthread_mutex_unlock(&b->topics_admin_mu);
}

int broker_topic_schema_check(const broker_topic_t *t, storage_record_memo_t *memo,
                              const storage_record_t *rec, char *why, size_t why_size)
{
    for (int side = 0; side < 2; side++) {
        const broker_topic_schema_t *s = &t->schema[side];
        if (s->mode == BROKER_SCHEMA_NONE)
            continue;
        if (!s->checker) {
            snprintf(why, why_size,
                     "%s: schema validation is on for this topic but no schema registry is "
                     "there to check it",
                     side == 0 ? "key" : "value");
            return -WEIR_EINVAL;
        }
        const uint8_t *p = side == 0 ? rec->key : rec->value;
        int32_t n = side == 0 ? rec->key_len : rec->value_len;
        if (n < 0)
            p = NULL;
        if (memo->ok[side] && storage_record_memo_side(memo, side, p, n))
            continue;
        if (s->check(s->checker, p, n < 0 ? 0 : (size_t)n, why, why_size) < 0)
            return -WEIR_EINVAL;
        /* it passed, so p holds a header; remember it where the id alone decides */
        if (s->mode == BROKER_SCHEMA_ID && s->strategy == BROKER_SUBJECT_TOPIC &&
            n >= STORAGE_MEMO_PREFIX) {
            memcpy(memo->prefix[side], p, STORAGE_MEMO_PREFIX);
            memo->ok[side] = true;
        }
    }
    return 0;
}
