/*
 * kafka: the Kafka wire protocol. A reader and a writer for the protocol's primitive types
 * (both know the flexible encodings of KIP-482: compact strings and arrays, unsigned varints,
 * tagged fields), the request and response headers, the table of implemented APIs and the
 * dispatcher that runs one handler per request.
 *
 * Adding an API is one handler file (src/kafka/<family>.c) plus one line in the table in
 * api.c. ApiVersions answers from that table, so what is advertised is exactly what is
 * implemented. A flexible version of an API is a table change (first_flexible) as long as the
 * handler reads and writes through wire_read_* / wire_write_* and calls wire_read_tags /
 * wire_write_tags where the schema has its tagged-field sections: those calls switch
 * between the classic and the compact encoding by the reader's and writer's `flexible` flag.
 *
 * Threads. kafka_on_frame runs on the loop thread of the request's connection; so do the
 * handlers. A handler that parks its request (long-poll Fetch, acks=-1 Produce, JoinGroup)
 * takes the response buffer and the slot with it and completes them later, from its own
 * loop (net_slot_complete) or any thread (net_slot_complete_async).
 *
 * Bounds. Every read checks the bytes remaining; string, bytes and array lengths are checked
 * against the remaining bytes (arrays: count * minimum element size) and against a cap before
 * the caller allocates anything. A failed read sets a sticky error and returns zero values, so
 * a handler may read a whole structure and check wire_reader_ok() once at the end.
 */
#ifndef WEIR_KAFKA_H
#define WEIR_KAFKA_H

#include "kafka/wire/wire.h"
#include "net/net.h"

/* ---- requests, handlers and the API table --------------------------------------------------- */
struct broker;

/* One Kafka listener's context (the `user` of its connections): the broker it serves and the
 * address it advertises in Metadata and FindCoordinator. Owned by the server. */
typedef struct kafka_listener {
    struct broker *b;
    char adv_host[256];
    int32_t adv_port;
} kafka_listener_t;

typedef struct kafka_req {
    struct broker *b;
    const kafka_listener_t *lst; /* the listener the request came in on */
    net_conn_t *conn;
    net_slot_t *slot;
    wire_req_header_t hdr; /* hdr.client_id is valid only during the handler call */
    bool flexible;
    wire_reader_t r; /* the request body */
    buf_t resp;      /* response so far: size placeholder + response header */
    wire_writer_t w; /* writes into resp */
} kafka_req_t;

/* What a handler returns. Negative WEIR_ codes mean the request could not be decoded: the
 * connection is closed, as Kafka does. */
enum {
    KAFKA_RESPOND = 0,     /* req->resp holds the whole response: send it */
    KAFKA_NO_RESPONSE = 1, /* complete the slot empty (Produce acks=0) */
    KAFKA_PARKED = 2       /* the handler took req->slot and req->resp and completes later */
};

typedef int (*kafka_handler_fn)(kafka_req_t *req);

typedef struct {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
    int16_t first_flexible; /* INT16_MAX: no flexible version implemented */
    kafka_handler_fn handler;
    const char *name;
} kafka_api_t;

/* The implemented APIs, sorted by key. */
extern const kafka_api_t kafka_apis[];
extern const size_t kafka_apis_count;
const kafka_api_t *kafka_api_find(int16_t key);

/* The connection's frame callback (net_frame_fn): decodes the header and runs the handler.
 * `user` is the connection's kafka_listener_t. */
void kafka_on_frame(net_conn_t *conn, net_slot_t *slot, uint8_t *frame, size_t len, void *user);

/* Handler helpers. */
/* Moves a parked request's response buffer out of req (so the handler's own struct owns it). */
void kafka_req_take_resp(kafka_req_t *req, buf_t *out);
/* Completes a parked request: fills the size and completes the slot (loop thread when
 * `async` is false, any thread otherwise). */
void kafka_parked_complete(net_slot_t *slot, buf_t *resp, bool async);

/* ---- handlers (one file per API family) ------------------------------------------------------ */
int kafka_handle_api_versions(kafka_req_t *req);              /* api_versions.c */
int kafka_handle_metadata(kafka_req_t *req);                  /* metadata.c */
int kafka_handle_produce(kafka_req_t *req);                   /* produce.c */
int kafka_handle_fetch(kafka_req_t *req);                     /* fetch.c */
int kafka_handle_list_offsets(kafka_req_t *req);              /* list_offsets.c */
int kafka_handle_create_topics(kafka_req_t *req);             /* admin_topics.c */
int kafka_handle_delete_topics(kafka_req_t *req);             /* admin_topics.c */
int kafka_handle_create_partitions(kafka_req_t *req);         /* admin_topics.c */
int kafka_handle_delete_records(kafka_req_t *req);            /* admin_topics.c */
int kafka_handle_describe_configs(kafka_req_t *req);          /* configs.c */
int kafka_handle_alter_configs(kafka_req_t *req);             /* configs.c */
int kafka_handle_incremental_alter_configs(kafka_req_t *req); /* configs.c */

/* the groups/idempotence work (issue 4) */
int kafka_handle_find_coordinator(kafka_req_t *req); /* api_group.c */
int kafka_handle_join_group(kafka_req_t *req);       /* api_group.c */
int kafka_handle_sync_group(kafka_req_t *req);       /* api_group.c */
int kafka_handle_heartbeat(kafka_req_t *req);        /* api_group.c */
int kafka_handle_leave_group(kafka_req_t *req);      /* api_group.c */
int kafka_handle_list_groups(kafka_req_t *req);      /* api_group.c */
int kafka_handle_describe_groups(kafka_req_t *req);  /* api_group.c */
int kafka_handle_delete_groups(kafka_req_t *req);    /* api_group.c */
int kafka_handle_offset_commit(kafka_req_t *req);    /* api_offset.c */
int kafka_handle_offset_fetch(kafka_req_t *req);     /* api_offset.c */
int kafka_handle_offset_delete(kafka_req_t *req);    /* api_offset.c */
int kafka_handle_init_producer_id(kafka_req_t *req); /* api_producer.c */

/* Writes the ApiVersions response body for `version` from the table (tests use it too). */
void kafka_api_versions_write(wire_writer_t *w, int16_t version, int16_t error_code);

#endif
