/*
 * Offset resets of a consumer group, as `kafka-consumer-groups --reset-offsets` does them: to
 * the earliest or latest offset, to an offset, to the first record at or after a time, or by a
 * shift from the committed offset; targets are clamped to [log start, high watermark]. A dry
 * run answers the plan and changes nothing; a real run needs the group to have no member
 * (Empty, or not yet known), commits the plan in one OffsetCommit and answers the same plan.
 */
#include "admin/admin_internal.h"

#include <stdlib.h>

typedef enum { TO_EARLIEST, TO_LATEST, TO_OFFSET, TO_TIMESTAMP, TO_SHIFT } reset_to_t;

typedef struct {
    reset_to_t to;
    int64_t value; /* offset, timestamp or shift */
} reset_spec_t;

static bool spec_parse(admin_req_t *r, json_t *body, reset_spec_t *sp)
{
    const char *to;
    if (!admin_get_str(r, body, "to", &to))
        return false;
    static const char *const names[] = {"earliest", "latest", "offset", "timestamp", "shift"};
    static const char *const value_of[] = {NULL, NULL, "offset", "timestamp", "shift"};
    for (int i = 0; to && i < 5; i++) {
        if (strcmp(to, names[i]) != 0)
            continue;
        sp->to = (reset_to_t)i;
        if (!value_of[i])
            return true;
        if (!json_is_integer(json_object_get(body, value_of[i]))) {
            admin_fail(r, 400, "bad_request", "to=%s needs an integer '%s'", to, value_of[i]);
            return false;
        }
        sp->value = json_integer_value(json_object_get(body, value_of[i]));
        return true;
    }
    admin_fail(r, 400, "bad_request",
               "'to' must be one of earliest, latest, offset, timestamp, shift");
    return false;
}

/* The offset the spec gives for one partition (previous: the committed offset or -1). */
static int target_of(broker_t *b, const char *topic, int32_t p, const reset_spec_t *sp,
                     int64_t previous, int64_t *out)
{
    broker_watermarks_t wm;
    int rc = broker_partition_watermarks(b, topic, strlen(topic), p, &wm);
    if (rc < 0)
        return rc;
    int64_t t = wm.log_start_offset;
    if (sp->to == TO_LATEST)
        t = wm.high_watermark;
    else if (sp->to == TO_OFFSET)
        t = sp->value;
    else if (sp->to == TO_SHIFT)
        t = (previous < 0 ? wm.log_start_offset : previous) + sp->value;
    else if (sp->to == TO_TIMESTAMP) {
        int64_t ts;
        if (broker_offset_for_time(b, topic, strlen(topic), p, sp->value, &t, &ts) < 0)
            t = wm.high_watermark; /* no record that late: the end, as Kafka's tool does */
    }
    *out = WEIR_MAX(wm.log_start_offset, WEIR_MIN(t, wm.high_watermark));
    return 0;
}

static int64_t previous_of(json_t *committed, const char *topic, int32_t p)
{
    size_t i;
    json_t *o;
    json_array_foreach(committed, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "topic")), topic) == 0 &&
            json_integer_value(json_object_get(o, "partition")) == p)
            return json_integer_value(json_object_get(o, "offset"));
    }
    return -1;
}

/* The partitions to reset: the body's topic (all its partitions, or the listed ones), or every
 * topic the group has committed offsets for. [{"topic", "partition"}] or NULL after an answer. */
static json_t *scope_of(admin_req_t *r, json_t *body, json_t *committed)
{
    const char *topic;
    json_t *parts = json_object_get(body, "partitions");
    if (!admin_get_str(r, body, "topic", &topic))
        return NULL;
    json_t *out = json_array();
    if (!topic) {
        size_t i;
        json_t *o;
        json_array_foreach(committed, i, o)
            json_array_append_new(out, json_pack("{s:O, s:O}", "topic", json_object_get(o, "topic"),
                                                 "partition", json_object_get(o, "partition")));
        if (parts)
            admin_fail(r, 400, "bad_request", "'partitions' needs a 'topic'");
        return parts ? (json_decref(out), NULL) : out;
    }
    broker_topic_desc_t d;
    if (broker_topic_describe(r->b, topic, strlen(topic), &d) < 0) {
        admin_fail(r, 404, "not_found", "no topic '%.200s'", topic);
        return json_decref(out), NULL;
    }
    int32_t np = d.partitions;
    broker_topic_desc_deinit(&d);
    if (parts && (!json_is_array(parts) || json_array_size(parts) > 10000)) {
        admin_fail(r, 400, "bad_request", "'partitions' must be an array of partition numbers");
        return json_decref(out), NULL;
    }
    for (int32_t p = 0; p < (parts ? (int32_t)json_array_size(parts) : np); p++) {
        json_t *v = parts ? json_array_get(parts, (size_t)p) : NULL;
        if (v &&
            (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= np)) {
            admin_fail(r, 400, "bad_request", "topic '%.200s' has partitions 0 to %d", topic,
                       np - 1);
            return json_decref(out), NULL;
        }
        json_array_append_new(out, json_pack("{s:s, s:I}", "topic", topic, "partition",
                                             (json_int_t)(v ? json_integer_value(v) : p)));
    }
    return out;
}

static json_t *plan_of(admin_req_t *r, json_t *scope, json_t *committed, const reset_spec_t *sp)
{
    json_t *plan = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(scope, i, o)
    {
        const char *t = json_string_value(json_object_get(o, "topic"));
        int32_t p = (int32_t)json_integer_value(json_object_get(o, "partition"));
        int64_t prev = previous_of(committed, t, p), to;
        if (target_of(r->b, t, p, sp, prev, &to) < 0) {
            admin_fail(r, 503, "unavailable", "partition %s-%d is offline", t, p);
            json_decref(plan);
            return NULL;
        }
        json_array_append_new(
            plan, json_pack("{s:s, s:i, s:o, s:I}", "topic", t, "partition", (int)p, "previous",
                            prev < 0 ? json_null() : json_integer(prev), "offset", (json_int_t)to));
    }
    return plan;
}

/* Kafka's OffsetCommit asks READ on each topic as well as on the group (the route's ACL row):
 * true, or false with the 403 answered. */
static bool plan_allowed(admin_req_t *r, const char *group, json_t *plan)
{
    size_t i;
    json_t *o;
    json_array_foreach(plan, i, o)
    {
        const char *t = json_string_value(json_object_get(o, "topic"));
        if (t && !admin_may(r, KAFKA_RESOURCE_TOPIC, t, KAFKA_ACL_OP_READ)) {
            admin_fail(r, 403, "forbidden",
                       "%s is not authorized to READ TOPIC '%.200s' (offsets of group '%.200s')",
                       r->req->principal, t, group);
            return false;
        }
    }
    return true;
}

void admin_group_reset(admin_req_t *r)
{
    const char *group = r->seg[1];
    json_t *body, *committed = NULL, *scope = NULL, *plan = NULL, *g = NULL;
    if (!admin_body(r, &body))
        return;
    reset_spec_t sp = {0};
    bool dry;
    if (!admin_get_bool(r, body, "dry_run", false, &dry) || !spec_parse(r, body, &sp))
        goto out;
    g = admin_group_describe(r->b, group);
    int16_t err = (int16_t)json_integer_value(json_object_get(g, "error"));
    if (!err)
        committed = admin_group_offsets(r->b, group, &err);
    if (err) {
        broker_err_t be = {err, ""};
        snprintf(be.message, sizeof(be.message), "group '%.200s'", group);
        admin_fail_broker(r, -WEIR_EINVAL, &be);
        goto out;
    }
    if (!(scope = scope_of(r, body, committed)) || !(plan = plan_of(r, scope, committed, &sp)) ||
        !plan_allowed(r, group, plan))
        goto out;
    const char *state = json_string_value(json_object_get(g, "state"));
    size_t members = json_array_size(json_object_get(g, "members"));
    bool inactive = members == 0;
    if (!dry && !inactive) {
        admin_fail(r, 409, "conflict",
                   "group '%.200s' is %s with %zu member(s): offsets can be reset only while "
                   "no consumer of the group runs",
                   group, state, members);
        goto out;
    }
    if (!dry && json_array_size(plan) > 0) {
        int16_t cerr = admin_group_commit(r->b, group, plan);
        if (cerr) {
            broker_err_t be = {cerr, ""};
            snprintf(be.message, sizeof(be.message), "committing the new offsets of '%.200s'",
                     group);
            admin_fail_broker(r, -WEIR_EINVAL, &be);
            goto out;
        }
    }
    admin_reply(r, 200,
                json_pack("{s:s, s:b, s:s, s:b, s:O}", "group_id", group, "dry_run", dry, "state",
                          state, "applicable", inactive, "changes", plan));
out:
    json_decref(plan);
    json_decref(scope);
    json_decref(committed);
    json_decref(g);
    json_decref(body);
}
