/*
 * Consumer groups: list (state, members, lag), describe (members with their decoded
 * assignments, committed offsets against end offsets), delete, and offset resets (to earliest,
 * latest, an offset, a time or a shift) with a dry run. Group calls run on the coordinator's
 * thread (loop 0); a handler posts the call and waits on its own condition variable, which the
 * HTTP pool allows. Results are copied into JSON inside the callback, where they are valid.
 *
 * A reset is what `kafka-consumer-groups --reset-offsets` does: a commit as a standalone
 * consumer, which the coordinator accepts only while the group has no member (Empty), so a
 * running consumer never has its position moved under it.
 */
#include "admin/admin_internal.h"

#include <stdlib.h>

/* ---- waiting for the coordinator --------------------------------------------------------------
 */

static void wait_cb(broker_group_op_t *op)
{
    admin_wait_t *w = WEIR_CONTAINER_OF(op, admin_wait_t, op);
    if (w->on_done)
        w->on_done(w);
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void admin_wait_init(admin_wait_t *w, void (*on_done)(admin_wait_t *w), void *arg)
{
    memset(w, 0, sizeof(*w));
    w->op.on_done = wait_cb;
    w->on_done = on_done;
    w->arg = arg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

void admin_wait_for(admin_wait_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

/* ---- committed offsets
 * ---------------------------------------------------------------------------
 */

typedef struct {
    json_t *out;
    int16_t error;
} fetch_ctx_t;

static void fetch_done(admin_wait_t *w)
{
    fetch_ctx_t *fc = w->arg;
    broker_offset_fetch_req_t *req = w->op.req;
    fc->error = req->error;
    for (size_t i = 0; i < req->all_count; i++) {
        const broker_offset_fetch_part_t *p = &req->all_parts[i];
        json_array_append_new(fc->out, json_pack("{s:s, s:i, s:I, s:s}", "topic", p->topic,
                                                 "partition", (int)p->partition, "offset",
                                                 (json_int_t)p->committed.offset, "metadata",
                                                 p->committed.metadata));
    }
}

json_t *admin_group_offsets(broker_t *b, const char *group, int16_t *error)
{
    fetch_ctx_t fc = {json_array(), 0};
    broker_offset_fetch_req_t req = {.group_id = group, .member_epoch = -1, .all = true};
    admin_wait_t w;
    admin_wait_init(&w, fetch_done, &fc);
    broker_offset_fetch(b, &req, &w.op);
    admin_wait_for(&w);
    *error = fc.error;
    return fc.out;
}

static void commit_done(admin_wait_t *w)
{
    (void)w; /* the parts' errors are in the request, which the caller keeps */
}

int16_t admin_group_commit(broker_t *b, const char *group, json_t *parts)
{
    size_t n = json_array_size(parts);
    if (n == 0)
        return 0;
    broker_commit_part_t *cp = weir_calloc(n, sizeof(*cp));
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(parts, i);
        cp[i] = (broker_commit_part_t){
            .topic = json_string_value(json_object_get(p, "topic")),
            .partition = (int32_t)json_integer_value(json_object_get(p, "partition")),
            .offset = json_integer_value(json_object_get(p, "offset")),
            .leader_epoch = -1,
            .metadata = "",
            .commit_ts_ms = -1};
    }
    broker_commit_req_t req = {.group_id = group,
                               .generation_id = -1,
                               .member_id = "",
                               .retention_ms = -1,
                               .part_count = n,
                               .parts = cp};
    admin_wait_t w;
    admin_wait_init(&w, commit_done, NULL);
    broker_offset_commit(b, &req, &w.op);
    admin_wait_for(&w);
    int16_t err = 0;
    for (size_t i = 0; i < n && !err; i++)
        err = cp[i].error;
    free(cp);
    return err;
}

/* ---- describe
 * ------------------------------------------------------------------------------------
 */

/* ConsumerProtocolAssignment: version, [topic, [partition]], user data. Bounded reads. */
static json_t *assignment_json(const uint8_t *p, size_t n)
{
    json_t *arr = json_array();
    const uint8_t *end = p + n;
    if (n < 6)
        return arr;
    p += 2;
    int32_t nt = (int32_t)be32_read(p);
    p += 4;
    for (int32_t i = 0; i < nt && i < 10000; i++) {
        if (end - p < 2)
            break;
        int16_t len = (int16_t)be16_read(p);
        p += 2;
        if (len < 0 || end - p < len + 4)
            break;
        json_t *t = json_pack("{s:s%, s:[]}", "topic", (const char *)p, (size_t)len, "partitions");
        p += len;
        int32_t np = (int32_t)be32_read(p);
        p += 4;
        for (int32_t j = 0; j < np && end - p >= 4; j++, p += 4)
            json_array_append_new(json_object_get(t, "partitions"),
                                  json_integer((int32_t)be32_read(p)));
        json_array_append_new(arr, t);
    }
    return arr;
}

typedef struct {
    json_t *out; /* the group object */
} describe_ctx_t;

static void describe_done(admin_wait_t *w)
{
    describe_ctx_t *dc = w->arg;
    broker_group_describe_req_t *req = w->op.req;
    const broker_group_summary_t *s = &req->summaries[0];
    json_t *members = json_array();
    bool consumer = strcmp(s->protocol_type, "consumer") == 0;
    for (size_t i = 0; i < s->member_count; i++) {
        const broker_group_member_summary_t *m = &s->members[i];
        json_array_append_new(
            members,
            json_pack("{s:s, s:s?, s:s, s:s, s:o}", "member_id", m->member_id, "instance_id",
                      m->instance_id, "client_id", m->client_id, "client_host", m->client_host,
                      "assignments",
                      consumer ? assignment_json(m->assignment, m->assignment_len) : json_array()));
    }
    dc->out =
        json_pack("{s:i, s:s, s:s, s:s, s:i, s:o}", "error", (int)s->error, "state",
                  broker_group_state_name(s->state), "protocol_type", s->protocol_type, "protocol",
                  s->protocol_name, "generation", (int)s->generation, "members", members);
}

/* A consumer group (KIP-848) in the same shape: protocol is its assignor, generation its
 * epoch, a member's assignments the partitions it owns now. */
static void consumer_describe_done(admin_wait_t *w)
{
    describe_ctx_t *dc = w->arg;
    broker_consumer_describe_req_t *req = w->op.req;
    const broker_cg_desc_t *d = &req->groups[0];
    if (d->error)
        return; /* not a consumer group: the classic answer stands */
    json_t *members = json_array();
    for (size_t i = 0; i < d->nmembers; i++) {
        const broker_cg_member_desc_t *m = &d->members[i];
        json_t *asg = json_array();
        for (size_t k = 0; k < m->nassigned; k++) {
            json_t *parts = json_array();
            for (size_t j = 0; j < m->assigned[k].count; j++)
                json_array_append_new(parts, json_integer(m->assigned[k].partitions[j]));
            json_array_append_new(
                asg, json_pack("{s:s, s:o}", "topic", m->assigned[k].topic, "partitions", parts));
        }
        json_array_append_new(members,
                              json_pack("{s:s, s:s?, s:s, s:s, s:o}", "member_id", m->member_id,
                                        "instance_id", m->instance_id, "client_id", m->client_id,
                                        "client_host", m->client_host, "assignments", asg));
    }
    json_decref(dc->out);
    dc->out = json_pack("{s:i, s:s, s:s, s:s, s:i, s:o}", "error", 0, "state", d->state,
                        "protocol_type", "consumer", "protocol", d->assignor, "generation",
                        (int)d->group_epoch, "members", members);
}

json_t *admin_group_describe(broker_t *b, const char *group)
{
    const char *ids[1] = {group};
    broker_group_summary_t sum[1];
    broker_group_describe_req_t req = {.count = 1, .group_ids = ids, .summaries = sum};
    describe_ctx_t dc = {NULL};
    admin_wait_t w;
    admin_wait_init(&w, describe_done, &dc);
    broker_group_describe(b, &req, &w.op);
    admin_wait_for(&w);
    if (json_integer_value(json_object_get(dc.out, "error")) != 0 ||
        strcmp(json_string_value(json_object_get(dc.out, "state")), "Dead") != 0)
        return dc.out;
    /* DescribeGroups answers Dead for a consumer group, as Kafka does */
    broker_consumer_describe_req_t creq = {.count = 1, .group_ids = ids};
    admin_wait_init(&w, consumer_describe_done, &dc);
    broker_consumer_describe(b, &creq, &w.op);
    admin_wait_for(&w);
    return dc.out;
}

/* Whether an assignment list ([{"topic", "partitions"}]) holds topic/partition. */
static bool assigned(json_t *assignments, const char *topic, int64_t partition)
{
    size_t j, k;
    json_t *a, *p;
    json_array_foreach(assignments, j, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "topic")), topic) != 0)
            continue;
        json_array_foreach(json_object_get(a, "partitions"), k, p)
        {
            if (json_integer_value(p) == partition)
                return true;
        }
    }
    return false;
}

/* The member holding topic/partition, or NULL. */
static const char *owner_of(json_t *members, const char *topic, int64_t partition)
{
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m)
    {
        if (assigned(json_object_get(m, "assignments"), topic, partition))
            return json_string_value(json_object_get(m, "member_id"));
    }
    return NULL;
}

static int by_topic_partition(const void *x, const void *y)
{
    json_t *const *a = x, *const *b = y;
    int c = strcmp(json_string_value(json_object_get(*a, "topic")),
                   json_string_value(json_object_get(*b, "topic")));
    if (c)
        return c;
    int64_t pa = json_integer_value(json_object_get(*a, "partition"));
    int64_t pb = json_integer_value(json_object_get(*b, "partition"));
    return pa < pb ? -1 : pa > pb;
}

/* The array sorted by topic and partition (a new array; the old one is released). */
static json_t *sorted_offsets(json_t *arr)
{
    size_t n = json_array_size(arr), i;
    json_t **v = weir_calloc(n + 1, sizeof(*v));
    json_t *o;
    json_array_foreach(arr, i, o) v[i] = o;
    qsort(v, n, sizeof(*v), by_topic_partition);
    json_t *out = json_array();
    for (i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(arr);
    return out;
}

/* Adds "offsets" (committed vs end, lag, owner) and "lag" to a described group. */
static void group_add_lag(broker_t *b, const char *group, json_t *g)
{
    int16_t err;
    json_t *offs = sorted_offsets(admin_group_offsets(b, group, &err));
    json_t *members = json_object_get(g, "members");
    int64_t total = 0;
    size_t i;
    json_t *o;
    json_array_foreach(offs, i, o)
    {
        const char *t = json_string_value(json_object_get(o, "topic"));
        int32_t p = (int32_t)json_integer_value(json_object_get(o, "partition"));
        int64_t off = json_integer_value(json_object_get(o, "offset"));
        broker_watermarks_t wm;
        json_t *lag = json_null(), *end = json_null();
        if (broker_partition_watermarks(b, t, strlen(t), p, &wm) == 0) {
            int64_t l = off < 0 ? wm.high_watermark - wm.log_start_offset
                                : WEIR_MAX(0, wm.high_watermark - WEIR_MAX(off, 0));
            total += l;
            lag = json_integer(l);
            end = json_integer(wm.high_watermark);
            json_object_set_new(o, "log_start_offset", json_integer(wm.log_start_offset));
        }
        json_object_set_new(o, "log_end_offset", end);
        json_object_set_new(o, "lag", lag);
        const char *owner = owner_of(members, t, p);
        json_object_set_new(o, "member_id", owner ? json_string(owner) : json_null());
    }
    json_object_set_new(g, "offsets", offs);
    json_object_set_new(g, "lag", json_integer(total));
}

void admin_group_get(admin_req_t *r)
{
    const char *group = r->seg[1];
    json_t *g = admin_group_describe(r->b, group);
    int16_t err = (int16_t)json_integer_value(json_object_get(g, "error"));
    if (err) {
        broker_err_t be = {err, ""};
        snprintf(be.message, sizeof(be.message), "group '%.200s'", group);
        json_decref(g);
        admin_fail_broker(r, -WEIR_EINVAL, &be);
        return;
    }
    json_object_del(g, "error");
    if (strcmp(json_string_value(json_object_get(g, "state")), "Dead") == 0) {
        json_decref(g);
        admin_fail(r, 404, "not_found", "no group '%s'", group);
        return;
    }
    json_object_set_new(g, "group_id", json_string(group));
    group_add_lag(r->b, group, g);
    admin_reply(r, 200, g);
}

/* ---- list
 * ----------------------------------------------------------------------------------------
 */

static void list_done(admin_wait_t *w)
{
    json_t *out = w->arg;
    broker_group_list_req_t *req = w->op.req;
    for (size_t i = 0; i < req->count; i++) {
        const broker_group_listing_t *g = &req->groups[i];
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "group_id", g->group_id,
                                             "protocol_type", g->protocol_type, "state", g->state));
    }
}

static int by_group_id(const void *x, const void *y)
{
    json_t *const *a = x, *const *b = y;
    return strcmp(json_string_value(json_object_get(*a, "group_id")),
                  json_string_value(json_object_get(*b, "group_id")));
}

void admin_groups_list(admin_req_t *r)
{
    json_t *arr = json_array();
    broker_group_list_req_t req = {0};
    admin_wait_t w;
    admin_wait_init(&w, list_done, arr);
    broker_group_list(r->b, &req, &w.op);
    admin_wait_for(&w);
    size_t n = json_array_size(arr), i;
    json_t **v = weir_calloc(n + 1, sizeof(*v));
    json_t *g;
    size_t kept = 0;
    json_array_foreach(arr, i, g)
    {
        const char *id = json_string_value(json_object_get(g, "group_id"));
        if (admin_may(r, KAFKA_RESOURCE_GROUP, id ? id : "", KAFKA_ACL_OP_DESCRIBE))
            v[kept++] = json_incref(g);
    }
    n = kept;
    qsort(v, n, sizeof(*v), by_group_id);
    json_t *out = json_array();
    for (i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(v[i], "group_id"));
        json_t *d = admin_group_describe(r->b, id);
        json_object_set_new(
            v[i], "members",
            json_integer((json_int_t)json_array_size(json_object_get(d, "members"))));
        json_decref(d);
        json_t *tmp = json_pack("{s:[]}", "members");
        group_add_lag(r->b, id, tmp);
        json_object_set(v[i], "lag", json_object_get(tmp, "lag"));
        json_t *topics = json_array();
        size_t k;
        json_t *o;
        json_array_foreach(json_object_get(tmp, "offsets"), k, o)
        {
            json_t *t = json_object_get(o, "topic");
            bool seen = false;
            size_t q;
            json_t *x;
            json_array_foreach(topics, q, x) seen |= json_equal(x, t);
            if (!seen)
                json_array_append(topics, t);
        }
        json_object_set_new(v[i], "topics", topics);
        json_decref(tmp);
        json_array_append_new(out, v[i]);
    }
    free(v);
    json_decref(arr);
    admin_reply(r, 200, json_pack("{s:o}", "groups", out));
}

/* ---- delete
 * ----------------------------------------------------------------------------------------
 */

void admin_group_delete(admin_req_t *r)
{
    broker_group_delete_item_t item = {r->seg[1], 0};
    broker_group_delete_req_t req = {1, &item};
    admin_wait_t w;
    admin_wait_init(&w, commit_done, NULL);
    broker_group_delete(r->b, &req, &w.op);
    admin_wait_for(&w);
    if (item.error) {
        broker_err_t be = {item.error, ""};
        snprintf(be.message, sizeof(be.message), "group '%.200s'", r->seg[1]);
        admin_fail_broker(r, -WEIR_EINVAL, &be);
        return;
    }
    admin_reply(r, 200, json_pack("{s:s}", "deleted", r->seg[1]));
}
