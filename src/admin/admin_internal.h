/*
 * admin_internal: what the files of src/admin share: the admin struct, one request's context,
 * JSON answers and errors, bounded argument and body parsing, waiting for the group
 * coordinator, and payload rendering (text, JSON, base64, registry-decoded).
 */
#ifndef WEIR_ADMIN_INTERNAL_H
#define WEIR_ADMIN_INTERNAL_H

#include "admin/admin.h"

#include <jansson.h>
#include <pthread.h>

struct admin {
    admin_config_t cfg;
    char *bootstrap, *version, *metrics_path;
    int64_t started_ms;
    pthread_mutex_t redrive_mu; /* one redrive at a time: progress is read, then advanced */
};

enum { ADMIN_SEGS_MAX = 6 };

/* One request: the path after /api/v1/ split on '/', and where the answer goes. */
typedef struct {
    admin_t *a;
    broker_t *b;
    const http_request_t *req;
    http_response_t *resp;
    size_t nseg;
    char *seg[ADMIN_SEGS_MAX];
} admin_req_t;

typedef void (*admin_handler_fn)(admin_req_t *r);

/* ---- answers (admin.c) ---- */
/* Answers json (a reference is taken over) with status. */
void admin_reply(admin_req_t *r, int status, json_t *json);
/* Answers {"error": word, "message": ...}. */
void admin_fail(admin_req_t *r, int status, const char *word, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answers a broker error: its Kafka ErrorCode picks the status (404, 409, 400 ...). */
void admin_fail_broker(admin_req_t *r, int rc, const broker_err_t *err);

/* ---- input (admin.c); each answers 400 itself and returns false on bad input ---- */
/* The body as a JSON object (ADMIN_BODY_MAX, ADMIN_JSON_DEPTH_MAX); an empty body is {}. */
bool admin_body(admin_req_t *r, json_t **out);
/* A query argument: NULL when absent; false when longer than ADMIN_ARG_MAX. */
bool admin_arg(admin_req_t *r, const char *name, const char **out);
/* An integer query argument in [min, max]; def when absent. */
bool admin_arg_int(admin_req_t *r, const char *name, int64_t def, int64_t min, int64_t max,
                   int64_t *out);
bool admin_arg_bool(admin_req_t *r, const char *name, bool *out);
/* Whether the request's principal may do op on the resource (admin_config_t.may): the lists
 * leave out what it may not DESCRIBE. True when no check is configured. */
bool admin_may(admin_req_t *r, int8_t rtype, const char *name, int8_t op);
/* Members of a body object, checked: absent gives def / NULL. */
bool admin_get_int(admin_req_t *r, json_t *o, const char *name, int64_t def, int64_t min,
                   int64_t max, int64_t *out);
bool admin_get_str(admin_req_t *r, json_t *o, const char *name, const char **out);
bool admin_get_bool(admin_req_t *r, json_t *o, const char *name, bool def, bool *out);

/* ---- the group coordinator (admin_groups.c) ----
 * Runs a broker_group_* / broker_offset_* call and waits for its callback; on_done(arg, op)
 * runs on loop 0 while results are valid and copies what it needs. */
typedef struct admin_wait admin_wait_t;
struct admin_wait {
    broker_group_op_t op;
    void (*on_done)(admin_wait_t *w);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};
void admin_wait_init(admin_wait_t *w, void (*on_done)(admin_wait_t *w), void *arg);
void admin_wait_for(admin_wait_t *w); /* blocks until on_done ran; then deinitialises w */

/* One group as {"error", "state", "protocol_type", "protocol", "generation", "members": [{
 * "member_id", "instance_id", "client_id", "client_host", "assignments"}]}. */
json_t *admin_group_describe(broker_t *b, const char *group);
/* Every committed offset of a group as [{"topic","partition","offset","metadata"}]; the group
 * level ErrorCode in *error. */
json_t *admin_group_offsets(broker_t *b, const char *group, int16_t *error);
/* Commits offsets for a group with no active member (as kafka-consumer-groups does): parts is
 * [{"topic","partition","offset"}]. 0, or an ErrorCode of the first failing part. */
int16_t admin_group_commit(broker_t *b, const char *group, json_t *parts);

/* ---- payloads (admin_messages.c) ---- */
/* Renders key, value or a header value: sets name (string or null), name_encoding
 * ("text", "json", "base64" or "registry") and, for json and registry, name_decoded. */
void admin_payload_render(admin_t *a, json_t *o, const char *name, const uint8_t *p, int32_t n,
                          bool try_registry);
/* Standard base64 (RFC 4648 with padding). decode: -WEIR_EINVAL on bad input. */
char *admin_b64_encode(const uint8_t *p, size_t n);
int admin_b64_decode(const char *s, size_t len, buf_t *out);
/* One record as the API shows it. */
json_t *admin_record_json(admin_t *a, const broker_record_t *rec);

/* ---- handlers, one file per resource ---- */
void admin_broker_get(admin_req_t *r);
void admin_topics_list(admin_req_t *r);
void admin_topics_create(admin_req_t *r);
void admin_topic_get(admin_req_t *r);
void admin_topic_delete(admin_req_t *r);
void admin_topic_configs_get(admin_req_t *r);
void admin_topic_configs_alter(admin_req_t *r);
void admin_topic_partitions_get(admin_req_t *r);
void admin_topic_partitions_add(admin_req_t *r);
void admin_topic_key_offset_get(admin_req_t *r);
void admin_topic_key_offsets_get(admin_req_t *r);
void admin_messages_get(admin_req_t *r);
void admin_messages_produce(admin_req_t *r);
void admin_groups_list(admin_req_t *r);
void admin_group_get(admin_req_t *r);
void admin_group_delete(admin_req_t *r);
void admin_group_reset(admin_req_t *r);
void admin_dlq_list(admin_req_t *r);
void admin_dlq_records(admin_req_t *r);
void admin_dlq_redrive(admin_req_t *r);
/* admin_sagas.c: the sagas libweir's orchestrators keep in their state topics */
void admin_sagas_list(admin_req_t *r);
void admin_saga_get(admin_req_t *r);
void admin_trace_get(admin_req_t *r);

/* The partitions of a topic with their watermarks and sizes, as a JSON array; -WEIR_ENOENT. */
int admin_partitions_json(broker_t *b, const char *topic, json_t **out, int64_t *messages,
                          uint64_t *bytes);

/* The embedded OpenAPI document (generated from src/admin/openapi.json at build time). */
typedef struct {
    const char *path;
    const uint8_t *data;
    size_t len;
} admin_file_t;
extern const admin_file_t admin_files[];
extern const size_t admin_files_count;

#endif
