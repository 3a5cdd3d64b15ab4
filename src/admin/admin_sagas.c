/*
 * Sagas as libweir's orchestrator stores them: each saga's latest state is a record keyed by
 * saga id in its state topic ("<name>.sagas" by default, compacted; an ended saga's tombstone
 * removes it), a JSON object {"saga","id","status","step","step_name","phase","attempt",
 * "reason","data","history":[{"t_ms","step","event"}],...} (src/sdk/saga.c). GET /sagas lists
 * them and GET /sagas/{id} shows one with its history, read from the log as it is now: the last
 * record of each key wins, whatever compaction has or has not removed yet.
 *
 * Without ?topic=, every topic whose name ends in ".sagas" that the principal may READ is read.
 */
#include "admin/admin_internal.h"

#include <stdlib.h>

#define SAGAS_SUFFIX ".sagas"

enum { SAGAS_READ_BYTES = 4 << 20 };

static bool is_saga_topic(const char *name)
{
    size_t n = strlen(name), k = strlen(SAGAS_SUFFIX);
    return n > k && strcmp(name + n - k, SAGAS_SUFFIX) == 0;
}

/* One record: the latest state of its key ({id: state}); a tombstone forgets the saga. */
static int saga_record(void *arg, const broker_record_t *rec)
{
    json_t *latest = arg;
    if (!rec->key || rec->key_len <= 0)
        return 0;
    char *id = strndup((const char *)rec->key, (size_t)rec->key_len);
    json_t *state =
        rec->value ? json_loadb((const char *)rec->value, (size_t)rec->value_len, 0, NULL) : NULL;
    if (!rec->value)
        json_object_del(latest, id);
    else if (json_is_object(state))
        json_object_set(latest, id, state);
    json_decref(state);
    free(id);
    return 0;
}

/* Every partition of topic from its log start to its end: {id: state}. NULL: no such topic. */
static json_t *sagas_read(broker_t *b, const char *topic)
{
    broker_topic_desc_t d;
    if (broker_topic_describe(b, topic, strlen(topic), &d) < 0)
        return NULL;
    json_t *latest = json_object();
    for (int32_t p = 0; p < d.partitions; p++) {
        broker_watermarks_t wm;
        if (broker_partition_watermarks(b, topic, strlen(topic), p, &wm) < 0)
            continue;
        int64_t off = wm.log_start_offset, next = off;
        while (off < wm.high_watermark &&
               broker_records_read(b, topic, strlen(topic), p, off, SAGAS_READ_BYTES, saga_record,
                                   latest, &next) == 0 &&
               next > off)
            off = next;
    }
    broker_topic_desc_deinit(&d);
    return latest;
}

static json_t *history_time(json_t *state, bool last)
{
    json_t *h = json_object_get(state, "history");
    size_t n = json_array_size(h);
    json_t *t = n ? json_object_get(json_array_get(h, last ? n - 1 : 0), "t_ms") : NULL;
    return json_is_integer(t) ? json_incref(t) : json_null();
}

/* What a list shows of one saga. */
static json_t *saga_summary(const char *topic, const char *id, json_t *state)
{
    static const char *const fields[] = {"saga",  "status",  "step",  "step_name",
                                         "phase", "attempt", "reason"};
    json_t *o = json_pack("{s:s, s:s}", "topic", topic, "id", id);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(fields); i++) {
        json_t *v = json_object_get(state, fields[i]);
        json_object_set_new(o, fields[i], v ? json_incref(v) : json_null());
    }
    json_object_set_new(o, "started_ms", history_time(state, false));
    json_object_set_new(o, "updated_ms", history_time(state, true));
    return o;
}

/* ?topic=T (it must exist, and be readable), else every readable *.sagas topic: the names. */
static bool saga_topics(admin_req_t *r, json_t **names)
{
    const char *topic = NULL;
    if (!admin_arg(r, "topic", &topic))
        return false;
    *names = json_array();
    if (topic) {
        broker_topic_desc_t d;
        if (broker_topic_describe(r->b, topic, strlen(topic), &d) < 0) {
            admin_fail(r, 404, "not_found", "no topic '%s'", topic);
            goto fail;
        }
        broker_topic_desc_deinit(&d);
        if (!admin_may(r, KAFKA_RESOURCE_TOPIC, topic, KAFKA_ACL_OP_READ)) {
            admin_fail(r, 403, "forbidden", "not allowed to READ topic '%s'", topic);
            goto fail;
        }
        json_array_append_new(*names, json_string(topic));
        return true;
    }
    broker_topic_desc_t *ts;
    size_t n;
    broker_topics_describe(r->b, &ts, &n);
    for (size_t i = 0; i < n; i++)
        if (is_saga_topic(ts[i].name) &&
            admin_may(r, KAFKA_RESOURCE_TOPIC, ts[i].name, KAFKA_ACL_OP_READ))
            json_array_append_new(*names, json_string(ts[i].name));
    broker_topic_descs_free(ts, n);
    return true;
fail:
    json_decref(*names);
    *names = NULL;
    return false;
}

/* GET sagas[?topic=T][&status=S]: every saga known, by topic then id. */
void admin_sagas_list(admin_req_t *r)
{
    const char *status = NULL;
    json_t *names;
    if (!admin_arg(r, "status", &status) || !saga_topics(r, &names))
        return;
    json_t *out = json_array();
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name)
    {
        const char *topic = json_string_value(name);
        json_t *latest = sagas_read(r->b, topic);
        const char *id;
        json_t *state;
        json_object_foreach(latest, id, state)
        {
            const char *st = json_string_value(json_object_get(state, "status"));
            if (!status || (st && strcmp(st, status) == 0))
                json_array_append_new(out, saga_summary(topic, id, state));
        }
        json_decref(latest);
    }
    json_decref(names);
    admin_reply(r, 200, json_pack("{s:o}", "sagas", out));
}

/* GET sagas/{id}[?topic=T]: the saga's state and history; 404 when no topic holds it. */
void admin_saga_get(admin_req_t *r)
{
    const char *id = r->seg[1];
    json_t *names;
    if (!saga_topics(r, &names))
        return;
    json_t *found = NULL;
    size_t i;
    json_t *name;
    json_array_foreach(names, i, name)
    {
        json_t *latest = sagas_read(r->b, json_string_value(name));
        json_t *state = json_object_get(latest, id);
        if (state && !found) {
            found = json_deep_copy(state);
            /* what the orchestrator keeps for itself is not part of the answer */
            json_object_del(found, "waiting");
            json_object_del(found, "notified");
            json_object_del(found, "due_ms");
            json_object_set(found, "topic", name);
            json_object_set_new(found, "started_ms", history_time(state, false));
            json_object_set_new(found, "updated_ms", history_time(state, true));
        }
        json_decref(latest);
    }
    if (found)
        admin_reply(r, 200, found);
    else if (json_array_size(names) == 1)
        admin_fail(r, 404, "not_found", "no saga '%s' in %s", id,
                   json_string_value(json_array_get(names, 0)));
    else
        admin_fail(r, 404, "not_found", "no saga '%s' in any *.sagas topic", id);
    json_decref(names);
}
