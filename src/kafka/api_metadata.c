/*
 * Metadata (key 3), versions 0-8: this node as the only broker and the controller, the
 * cluster id, and the requested topics (all of them for a v0 empty list or a v1+ null list),
 * creating unknown ones when auto.create.topics.enable (and, v4+, allow_auto_topic_creation)
 * say so.
 *
 * Invariant: the node id, host and port written here are the ones FindCoordinator and
 * controller_id use (broker_node_id, req->lst->adv_host, req->lst->adv_port), so clients see one
 * broker. Topics are created before the response is written, under the registry's write lock, then
 * the response is written under the read lock: a topic created here appears whole at once.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

#define MAX_TOPICS_PER_REQUEST 100000

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

static void write_topic(wire_writer_t *w, int16_t v, int32_t node, int16_t err, const char *name,
                        size_t name_len, const broker_topic_desc_t *t)
{
    wire_write_i16(w, err);
    wire_write_str(w, name, name_len);
    if (v >= 1)
        wire_write_bool(w, t ? t->internal : false);
    int32_t n = t ? t->partitions : 0;
    wire_write_array_len(w, n);
    for (int32_t i = 0; i < n; i++)
        write_partition(w, v, node, i, t->offline[i]);
    if (v >= 8)
        wire_write_i32(w, INT32_MIN); /* topic_authorized_operations: not requested/supported */
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

static void write_all_topics(kafka_req_t *req)
{
    broker_t *b = req->b;
    size_t n;
    broker_topic_desc_t *all;
    broker_topics_describe(b, &all, &n);
    wire_write_array_len(&req->w, (int32_t)n);
    for (size_t i = 0; i < n; i++)
        write_topic(&req->w, req->hdr.api_version, broker_node_id(b), KAFKA_NONE, all[i].name,
                    strlen(all[i].name), &all[i]);
    broker_topic_descs_free(all, n);
}

int kafka_handle_metadata(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    broker_t *b = req->b;
    int16_t v = req->hdr.api_version;
    int32_t n = wire_read_array(r, 2, MAX_TOPICS_PER_REQUEST);
    if (!wire_reader_ok(r) || (n < 0 && v == 0))
        return -WEIR_EINVAL;
    wire_str_t *names = n > 0 ? weir_calloc((size_t)n, sizeof(*names)) : NULL;
    for (int32_t i = 0; i < n; i++) {
        names[i] = wire_read_str(r);
        wire_read_tags(r);
    }
    bool allow_auto = true;
    if (v >= 4)
        allow_auto = wire_read_bool(r);
    if (v >= 8) {
        (void)wire_read_bool(r); /* include_cluster_authorized_operations */
        (void)wire_read_bool(r); /* include_topic_authorized_operations */
    }
    wire_read_tags(r);
    if (!wire_reader_ok(r)) {
        free(names);
        return -WEIR_EINVAL;
    }
    bool all = (v == 0 && n == 0) || n < 0;
    bool create =
        allow_auto && broker_settings_int(broker_settings(b), BCFG_AUTO_CREATE_TOPICS_ENABLE);
    for (int32_t i = 0; !all && create && i < n; i++)
        (void)broker_topic_auto_create(b, names[i].s, (size_t)names[i].len);

    write_head(req);
    if (all) {
        write_all_topics(req);
    } else {
        wire_write_array_len(&req->w, n);
        for (int32_t i = 0; i < n; i++) {
            const char *why;
            broker_topic_desc_t t;
            bool found = broker_topic_describe(b, names[i].s, (size_t)names[i].len, &t) == 0;
            int16_t err = KAFKA_NONE;
            if (!found)
                err = broker_topic_name_valid(names[i].s, (size_t)names[i].len, &why)
                          ? KAFKA_UNKNOWN_TOPIC_OR_PARTITION
                          : KAFKA_INVALID_TOPIC_EXCEPTION;
            write_topic(&req->w, v, broker_node_id(b), err, names[i].s, (size_t)names[i].len,
                        found ? &t : NULL);
            broker_topic_desc_deinit(&t);
        }
    }
    if (v >= 8)
        wire_write_i32(&req->w, INT32_MIN); /* cluster_authorized_operations */
    wire_write_tags(&req->w);
    free(names);
    return KAFKA_RESPOND;
}
