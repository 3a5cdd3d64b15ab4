/*
 * Metadata (key 3), versions 0-13: this node as the only broker and the controller, the
 * cluster id, and the requested topics (all of them for a v0 empty list or a v1+ null list),
 * named or, from v10, identified by topic id, creating unknown named ones when
 * auto.create.topics.enable (and, v4+, allow_auto_topic_creation) say so. With
 * include_topic_authorized_operations (v8+) each topic carries the operations a client may
 * perform on it: every topic operation while no authorizer is configured, as Kafka answers.
 *
 * Invariant: the node id, host and port written here are the ones FindCoordinator and
 * controller_id use (broker_node_id and the listener's advertised address), so clients see
 * one broker. Topics are created before the response is written: a topic created here
 * appears whole at once.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

#define MAX_TOPICS_PER_REQUEST 100000

/* A requested topic: by id when one is given (v10+; clients leave the name empty or null
 * then), else by name. */
typedef struct {
    wire_str_t name;
    uint8_t id[16];
    bool by_id;
    bool denied; /* auto-creation was refused by the authorizer */
} md_topic_t;

static void write_partition(wire_writer_t *w, int16_t v, int32_t node, int32_t idx, bool offline)
{
    wire_write_i16(w, offline ? KAFKA_KAFKA_STORAGE_ERROR : KAFKA_NONE);
    wire_write_i32(w, idx);
    wire_write_i32(w, node); /* leader */
    if (v >= 7)
        wire_write_i32(w, 0); /* leader_epoch */
    wire_write_array_len(w, 1);
    wire_write_i32(w, node); /* replicas */
    wire_write_array_len(w, offline ? 0 : 1);
    if (!offline)
        wire_write_i32(w, node); /* isr */
    if (v >= 5) {
        wire_write_array_len(w, offline ? 1 : 0);
        if (offline)
            wire_write_i32(w, node);
    }
    wire_write_tags(w);
}

/* One topic of the response. name NULL (v12+): a topic asked for by an unknown id. */
static void write_topic(kafka_req_t *req, bool with_ops, int16_t err, const char *name,
                        size_t name_len, const uint8_t id[16], const broker_topic_desc_t *t)
{
    static const uint8_t zero[16];
    wire_writer_t *w = &req->w;
    int16_t v = req->hdr.api_version;
    wire_write_i16(w, err);
    if (name)
        wire_write_str(w, name, name_len);
    else
        wire_write_cstr(w, NULL);
    if (v >= 10)
        wire_write_uuid(w, t ? t->id : id ? id : zero);
    if (v >= 1)
        wire_write_bool(w, t ? t->internal : false);
    int32_t n = t ? t->partitions : 0;
    wire_write_array_len(w, n);
    for (int32_t i = 0; i < n; i++)
        write_partition(w, v, broker_node_id(req->b), i, t->offline[i]);
    if (v >= 8)
        wire_write_i32(w, with_ops && t ? kafka_authz_ops(req, KAFKA_RESOURCE_TOPIC, name, name_len)
                                        : INT32_MIN);
    wire_write_tags(w);
}

static void write_head(kafka_req_t *req)
{
    wire_writer_t *w = &req->w;
    broker_t *b = req->b;
    int16_t v = req->hdr.api_version;
    if (v >= 3)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, 1);
    wire_write_i32(w, broker_node_id(b));
    wire_write_cstr(w, req->lst->adv_host);
    wire_write_i32(w, req->lst->adv_port);
    if (v >= 1)
        wire_write_cstr(w, NULL); /* rack */
    wire_write_tags(w);
    if (v >= 2)
        wire_write_cstr(w, broker_cluster_id(b));
    if (v >= 1)
        wire_write_i32(w, broker_node_id(b)); /* controller_id */
}

static void write_all_topics(kafka_req_t *req, bool with_ops)
{
    size_t n;
    broker_topic_desc_t *all;
    broker_topics_describe(req->b, &all, &n);
    /* With an authorizer only the topics the principal may DESCRIBE are listed, as Kafka. */
    bool *shown = weir_calloc(n + 1, sizeof(*shown));
    int32_t nshown = 0;
    for (size_t i = 0; i < n; i++)
        nshown += shown[i] = kafka_authz(req, KAFKA_RESOURCE_TOPIC, all[i].name,
                                         strlen(all[i].name), KAFKA_ACL_OP_DESCRIBE);
    wire_write_array_len(&req->w, nshown);
    for (size_t i = 0; i < n; i++)
        if (shown[i])
            write_topic(req, with_ops, KAFKA_NONE, all[i].name, strlen(all[i].name), NULL, &all[i]);
    free(shown);
    broker_topic_descs_free(all, n);
}

static void write_one_topic(kafka_req_t *req, bool with_ops, const md_topic_t *mt)
{
    broker_t *b = req->b;
    broker_topic_desc_t t;
    if (mt->by_id) {
        bool found = broker_topic_describe_id(b, mt->id, &t) == 0;
        if (found && !kafka_authz(req, KAFKA_RESOURCE_TOPIC, t.name, strlen(t.name),
                                  KAFKA_ACL_OP_DESCRIBE)) {
            write_topic(req, with_ops, KAFKA_TOPIC_AUTHORIZATION_FAILED, NULL, 0, mt->id, NULL);
            broker_topic_desc_deinit(&t);
            return;
        }
        write_topic(req, with_ops, found ? KAFKA_NONE : KAFKA_UNKNOWN_TOPIC_ID,
                    found ? t.name : NULL, found ? strlen(t.name) : 0, mt->id, found ? &t : NULL);
        broker_topic_desc_deinit(&t);
        return;
    }
    const char *why;
    bool found = broker_topic_describe(b, mt->name.s, (size_t)mt->name.len, &t) == 0;
    int16_t err = KAFKA_NONE;
    if (mt->denied ||
        !kafka_authz_str(req, KAFKA_RESOURCE_TOPIC, mt->name, KAFKA_ACL_OP_DESCRIBE)) {
        write_topic(req, with_ops, KAFKA_TOPIC_AUTHORIZATION_FAILED, mt->name.s,
                    (size_t)mt->name.len, NULL, NULL);
        broker_topic_desc_deinit(&t);
        return;
    }
    if (!found)
        err = broker_topic_name_valid(mt->name.s, (size_t)mt->name.len, &why)
                  ? KAFKA_UNKNOWN_TOPIC_OR_PARTITION
                  : KAFKA_INVALID_TOPIC_EXCEPTION;
    write_topic(req, with_ops, err, mt->name.s, (size_t)mt->name.len, NULL, found ? &t : NULL);
    broker_topic_desc_deinit(&t);
}

static bool topic_exists(broker_t *b, wire_str_t name)
{
    broker_topic_desc_t t;
    bool found = broker_topic_describe(b, name.s, (size_t)name.len, &t) == 0;
    broker_topic_desc_deinit(&t);
    return found;
}

int kafka_handle_metadata(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    broker_t *b = req->b;
    int16_t v = req->hdr.api_version;
    int32_t n = wire_read_array(r, v >= 10 ? 16 + 1 : 2, MAX_TOPICS_PER_REQUEST);
    if (!wire_reader_ok(r) || (n < 0 && v == 0))
        return -WEIR_EINVAL;
    md_topic_t *topics = n > 0 ? weir_calloc((size_t)n, sizeof(*topics)) : NULL;
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        if (v >= 10)
            wire_read_uuid(r, topics[i].id);
        topics[i].name = v >= 10 ? wire_read_nstr(r) : wire_read_str(r);
        wire_read_tags(r);
        static const uint8_t zero[16];
        topics[i].by_id = v >= 10 && memcmp(topics[i].id, zero, 16) != 0;
        if (!topics[i].by_id && topics[i].name.len < 0)
            topics[i].name = (wire_str_t){"", 0}; /* neither: an invalid (empty) name */
    }
    bool allow_auto = v >= 4 ? wire_read_bool(r) : true;
    bool cluster_ops = v >= 8 && v <= 10 ? wire_read_bool(r) : false;
    bool topic_ops = v >= 8 ? wire_read_bool(r) : false;
    wire_read_tags(r);
    if (!wire_reader_ok(r)) {
        free(topics);
        return -WEIR_EINVAL;
    }
    bool all = (v == 0 && n == 0) || n < 0;
    bool create =
        allow_auto && broker_settings_int(broker_settings(b), BCFG_AUTO_CREATE_TOPICS_ENABLE);
    for (int32_t i = 0; !all && create && i < n; i++) {
        if (topics[i].by_id)
            continue;
        /* Kafka creates only with CREATE on the cluster or the topic; an unknown topic the
         * principal may not create answers TOPIC_AUTHORIZATION_FAILED. */
        if (broker_acl_enabled(b) && !topic_exists(b, topics[i].name) &&
            !kafka_authz_cluster(req, KAFKA_ACL_OP_CREATE) &&
            !kafka_authz_str(req, KAFKA_RESOURCE_TOPIC, topics[i].name, KAFKA_ACL_OP_CREATE)) {
            topics[i].denied = true;
            continue;
        }
        (void)broker_topic_auto_create(b, topics[i].name.s, (size_t)topics[i].name.len);
    }

    write_head(req);
    if (all) {
        write_all_topics(req, topic_ops);
    } else {
        wire_write_array_len(&req->w, n);
        for (int32_t i = 0; i < n; i++)
            write_one_topic(req, topic_ops, &topics[i]);
    }
    if (v >= 8 && v <= 10)
        wire_write_i32(&req->w, cluster_ops ? kafka_authz_ops(req, KAFKA_RESOURCE_CLUSTER,
                                                              BROKER_ACL_CLUSTER_NAME,
                                                              strlen(BROKER_ACL_CLUSTER_NAME))
                                            : INT32_MIN);
    if (v >= 13)
        wire_write_i16(&req->w, KAFKA_NONE); /* error_code (KIP-1102: rebootstrap) */
    wire_write_tags(&req->w);
    free(topics);
    return KAFKA_RESPOND;
}

/* ---- DescribeTopicPartitions (key 75, v0, KIP-966)
 * ------------------------------------------------ The requested topics (all of them for an empty
 * list), sorted by name, paged by response_partition_limit (at most
 * max.request.partition.size.limit, 2000) with a cursor. */

enum { DTP_PARTITION_LIMIT_MAX = 2000 };

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const broker_topic_desc_t *)a)->name, ((const broker_topic_desc_t *)b)->name);
}

static void dtp_write_topic(const kafka_req_t *req, wire_writer_t *w, int32_t node,
                            const broker_topic_desc_t *t, int16_t err, const char *name,
                            int32_t first, int32_t count)
{
    static const uint8_t zero[16];
    wire_write_i16(w, err);
    wire_write_cstr(w, name);
    wire_write_uuid(w, t ? t->id : zero);
    wire_write_bool(w, t ? t->internal : false);
    wire_write_array_len(w, count);
    for (int32_t i = first; i < first + count; i++) {
        bool off = t->offline[i];
        wire_write_i16(w, off ? KAFKA_KAFKA_STORAGE_ERROR : KAFKA_NONE);
        wire_write_i32(w, i);
        wire_write_i32(w, node); /* leader */
        wire_write_i32(w, 0);    /* leader epoch */
        wire_write_array_len(w, 1);
        wire_write_i32(w, node); /* replicas */
        wire_write_array_len(w, off ? 0 : 1);
        if (!off)
            wire_write_i32(w, node); /* isr */
        /* Eligible leader replicas (KIP-966): empty on one node. The fields are nullable, but
         * Kafka's own broker sends empty lists and the Java admin client relies on that. */
        wire_write_array_len(w, 0);
        wire_write_array_len(w, 0); /* last known ELR */
        wire_write_array_len(w, off ? 1 : 0);
        if (off)
            wire_write_i32(w, node);
        wire_write_tags(w);
    }
    wire_write_i32(w,
                   t ? kafka_authz_ops(req, KAFKA_RESOURCE_TOPIC, name, strlen(name)) : INT32_MIN);
    wire_write_tags(w);
}

int kafka_handle_describe_topic_partitions(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    broker_t *b = req->b;
    int32_t n = wire_read_array(r, 2, MAX_TOPICS_PER_REQUEST);
    wire_str_t *names = n > 0 ? weir_calloc((size_t)n, sizeof(*names)) : NULL;
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        names[i] = wire_read_str(r);
        wire_read_tags(r);
    }
    int32_t limit = wire_read_i32(r);
    int8_t has_cursor = wire_read_i8(r);
    wire_str_t ctopic = {"", 0};
    int32_t cpart = 0;
    if (has_cursor >= 0) {
        ctopic = wire_read_str(r);
        cpart = wire_read_i32(r);
        wire_read_tags(r);
    }
    wire_read_tags(r);
    if (!wire_reader_ok(r) || n < 0) {
        free(names);
        return -WEIR_EINVAL;
    }
    if (limit <= 0 || limit > DTP_PARTITION_LIMIT_MAX)
        limit = DTP_PARTITION_LIMIT_MAX;
    /* The topics to describe, sorted; unknown names kept with no description. */
    size_t count = 0;
    broker_topic_desc_t *all = NULL;
    if (n == 0) {
        broker_topics_describe(b, &all, &count);
    } else {
        all = weir_calloc((size_t)n, sizeof(*all));
        for (int32_t i = 0; i < n; i++) {
            if (broker_topic_describe(b, names[i].s, (size_t)names[i].len, &all[count]) < 0) {
                all[count].name = wire_str_dup(names[i]); /* unknown: partitions stay 0 */
                all[count].partitions = -1;
            }
            count++;
        }
        qsort(all, count, sizeof(*all), name_cmp);
    }
    char *cur = wire_str_dup(ctopic);
    wire_write_i32(w, 0); /* throttle_time_ms */
    size_t at = w->b->len, ntopics = 0;
    wire_write_array_len(w, 0); /* rewritten below (classic i32 or compact varint: 1 byte) */
    int32_t left = limit, next_part = -1;
    const char *next_topic = NULL;
    for (size_t i = 0; i < count; i++) {
        broker_topic_desc_t *t = &all[i];
        if (has_cursor >= 0 && strcmp(t->name, cur) < 0)
            continue;
        int32_t first = has_cursor >= 0 && strcmp(t->name, cur) == 0 ? WEIR_MAX(cpart, 0) : 0;
        /* Kafka's check (authz.c): DESCRIBE on the topic; listing all, the others are left out */
        if (!kafka_authz(req, KAFKA_RESOURCE_TOPIC, t->name, strlen(t->name),
                         KAFKA_ACL_OP_DESCRIBE)) {
            if (n == 0)
                continue;
            dtp_write_topic(req, w, broker_node_id(b), NULL, KAFKA_TOPIC_AUTHORIZATION_FAILED,
                            t->name, 0, 0);
            ntopics++;
            continue;
        }
        if (t->partitions < 0) {
            dtp_write_topic(req, w, broker_node_id(b), NULL, KAFKA_UNKNOWN_TOPIC_OR_PARTITION,
                            t->name, 0, 0);
            ntopics++;
            continue;
        }
        if (left == 0) {
            next_topic = t->name;
            next_part = first;
            break;
        }
        int32_t take = WEIR_MIN(t->partitions - first, left);
        take = WEIR_MAX(take, 0);
        dtp_write_topic(req, w, broker_node_id(b), t, KAFKA_NONE, t->name, first, take);
        ntopics++;
        left -= take;
        if (first + take < t->partitions) {
            next_topic = t->name;
            next_part = first + take;
            break;
        }
    }
    /* The array length, now known: compact arrays count n+1 in a varint. */
    buf_t tail = {0};
    buf_append(&tail, w->b->data + at + 1, w->b->len - at - 1);
    w->b->len = at;
    wire_write_array_len(w, (int32_t)ntopics);
    buf_append(w->b, tail.data, tail.len);
    buf_deinit(&tail);
    if (next_topic) {
        wire_write_i8(w, 1);
        wire_write_cstr(w, next_topic);
        wire_write_i32(w, next_part);
        wire_write_tags(w);
    } else {
        wire_write_i8(w, -1);
    }
    wire_write_tags(w);
    free(cur);
    free(names);
    broker_topic_descs_free(all, count);
    return KAFKA_RESPOND;
}
