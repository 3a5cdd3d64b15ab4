/*
 * saga_participant: the calls a saga's participants and onlookers use without an orchestrator:
 * answering a command (weir_saga_reply) and reading a saga's stored state (weir_saga_query).
 * A reply's ce_id is derived from its command's, so a handler that runs again for the same
 * command (a retry, a redelivery) answers with the same id, and the orchestrator takes only
 * the first answer for the step it is at.
 */
#include "sdk/saga_internal.h"

#include <string.h>

int weir_saga_reply(weir_ctx *ctx, const weir_event *cmd, weir_saga_outcome outcome,
                    const char *json)
{
    weir_saga_command c;
    char reply_to[SDK_CE_ATTR_MAX + 1];
    const void *v;
    size_t n;
    if (!ctx || weir_saga_command_read(cmd, &c) != 0 || (unsigned)outcome > WEIR_SAGA_RETRY ||
        weir_event_header(cmd, "weir.saga.reply_to", &v, &n) != 0 || !v || n == 0 ||
        n >= sizeof(reply_to) || !weir_event_id(cmd))
        return -WEIR_EINVAL;
    memcpy(reply_to, v, n);
    reply_to[n] = '\0';
    if (json) {
        json_t *j = json_loads(json, 0, NULL);
        bool ok = json_is_object(j);
        json_decref(j);
        if (!ok)
            return -WEIR_EINVAL;
    }
    static const char *const outcomes[] = {"ok", "failed", "retry"};
    char id[SDK_CE_ATTR_MAX + 1], step[16], attempt[16];
    if ((size_t)snprintf(id, sizeof(id), "%s/reply", weir_event_id(cmd)) >= sizeof(id))
        return -WEIR_EINVAL;
    snprintf(step, sizeof(step), "%d", c.step);
    snprintf(attempt, sizeof(attempt), "%d", c.attempt);
    const char *const headers[] = {"weir.saga.id",
                                   c.saga_id,
                                   "weir.saga.name",
                                   c.saga_name,
                                   "weir.saga.step",
                                   step,
                                   "weir.saga.phase",
                                   c.compensation ? "compensation" : "action",
                                   "weir.saga.attempt",
                                   attempt,
                                   "weir.saga.outcome",
                                   outcomes[outcome],
                                   NULL};
    weir_message m;
    weir_message_init(&m);
    m.topic = reply_to;
    m.type = "SagaReply";
    m.key = c.saga_id;
    m.value = json ? json : "{}";
    m.id = id;
    m.headers = headers;
    return weir_emit_message(ctx, &m);
}

typedef struct {
    const char *id;
    json_t *latest; /* NULL: none, or deleted */
} saga_query_t;

static void query_record(const char *key, const char *value, size_t len, void *arg)
{
    saga_query_t *q = arg;
    if (strcmp(key, q->id) != 0)
        return;
    json_decref(q->latest);
    q->latest = value ? json_loadb(value, len, 0, NULL) : NULL;
}

int weir_saga_query(const char *brokers, const char *state_topic, const char *id, char **json,
                    char *errmsg, size_t errmsg_size)
{
    if (!brokers || !state_topic || !id || !json) {
        snprintf(errmsg, errmsg_size, "brokers, state topic, saga id and output are required");
        return -WEIR_EINVAL;
    }
    saga_query_t q = {id, NULL};
    int r = saga_io_read_all(brokers, state_topic, query_record, &q, errmsg, errmsg_size);
    if (!r && !q.latest) {
        snprintf(errmsg, errmsg_size, "no saga %s in %s", id, state_topic);
        r = -WEIR_ENOENT;
    }
    if (!r) {
        /* the stored fields the orchestrator keeps for itself are not part of the answer */
        json_object_del(q.latest, "waiting");
        json_object_del(q.latest, "notified");
        json_object_del(q.latest, "due_ms");
        *json = json_dumps(q.latest, JSON_COMPACT);
        r = *json ? 0 : -WEIR_ENOMEM;
    }
    json_decref(q.latest);
    return r;
}
