/*
 * kafka: the Kafka wire protocol. A reader and a writer for the protocol's primitive types
 * (both know the flexible encodings of KIP-482: compact strings and arrays, unsigned varints,
 * tagged fields), the request and response headers, the table of implemented APIs and the
 * dispatcher that runs one handler per request.
 *
 * Adding an API is one handler file (src/kafka/<family>.c) plus one line in the table in
 * api.c. ApiVersions answers from that table, so what is advertised is exactly what is
 * implemented. A flexible version of an API is a table change (first_flexible) as long as the
 * handler reads and writes through kafka_read_* / kafka_write_* and calls kafka_read_tags /
 * kafka_write_tags where the schema has its tagged-field sections: those calls switch
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
 * a handler may read a whole structure and check kafka_reader_ok() once at the end.
 */
#ifndef WEIR_KAFKA_H
#define WEIR_KAFKA_H

#include "base/base.h"
#include "net/net.h"

/* ---- API keys (Kafka's numbering) ------------------------------------------------------------ */
enum {
    KAFKA_API_PRODUCE = 0,
    KAFKA_API_FETCH = 1,
    KAFKA_API_LIST_OFFSETS = 2,
    KAFKA_API_METADATA = 3,
    KAFKA_API_OFFSET_COMMIT = 8,
    KAFKA_API_OFFSET_FETCH = 9,
    KAFKA_API_FIND_COORDINATOR = 10,
    KAFKA_API_JOIN_GROUP = 11,
    KAFKA_API_HEARTBEAT = 12,
    KAFKA_API_LEAVE_GROUP = 13,
    KAFKA_API_SYNC_GROUP = 14,
    KAFKA_API_DESCRIBE_GROUPS = 15,
    KAFKA_API_LIST_GROUPS = 16,
    KAFKA_API_SASL_HANDSHAKE = 17,
    KAFKA_API_API_VERSIONS = 18,
    KAFKA_API_CREATE_TOPICS = 19,
    KAFKA_API_DELETE_TOPICS = 20,
    KAFKA_API_DELETE_RECORDS = 21,
    KAFKA_API_INIT_PRODUCER_ID = 22,
    KAFKA_API_ADD_PARTITIONS_TO_TXN = 24,
    KAFKA_API_ADD_OFFSETS_TO_TXN = 25,
    KAFKA_API_END_TXN = 26,
    KAFKA_API_TXN_OFFSET_COMMIT = 28,
    KAFKA_API_DESCRIBE_ACLS = 29,
    KAFKA_API_CREATE_ACLS = 30,
    KAFKA_API_DELETE_ACLS = 31,
    KAFKA_API_DESCRIBE_CONFIGS = 32,
    KAFKA_API_ALTER_CONFIGS = 33,
    KAFKA_API_SASL_AUTHENTICATE = 36,
    KAFKA_API_CREATE_PARTITIONS = 37,
    KAFKA_API_DELETE_GROUPS = 42,
    KAFKA_API_INCREMENTAL_ALTER_CONFIGS = 44,
    KAFKA_API_OFFSET_DELETE = 47,
    KAFKA_API_KEY_MAX = 127 /* keys above this are refused before any lookup */
};

/* ---- ErrorCodes (response data, never C return values) --------------------------------------- */
enum {
    KAFKA_UNKNOWN_SERVER_ERROR = -1,
    KAFKA_NONE = 0,
    KAFKA_OFFSET_OUT_OF_RANGE = 1,
    KAFKA_CORRUPT_MESSAGE = 2,
    KAFKA_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KAFKA_INVALID_FETCH_SIZE = 4,
    KAFKA_LEADER_NOT_AVAILABLE = 5,
    KAFKA_NOT_LEADER_OR_FOLLOWER = 6,
    KAFKA_REQUEST_TIMED_OUT = 7,
    KAFKA_MESSAGE_TOO_LARGE = 10,
    KAFKA_COORDINATOR_LOAD_IN_PROGRESS = 14,
    KAFKA_COORDINATOR_NOT_AVAILABLE = 15,
    KAFKA_NOT_COORDINATOR = 16,
    KAFKA_INVALID_TOPIC_EXCEPTION = 17,
    KAFKA_RECORD_LIST_TOO_LARGE = 18,
    KAFKA_INVALID_REQUIRED_ACKS = 21,
    KAFKA_ILLEGAL_GENERATION = 22,
    KAFKA_INCONSISTENT_GROUP_PROTOCOL = 23,
    KAFKA_INVALID_GROUP_ID = 24,
    KAFKA_UNKNOWN_MEMBER_ID = 25,
    KAFKA_INVALID_SESSION_TIMEOUT = 26,
    KAFKA_REBALANCE_IN_PROGRESS = 27,
    KAFKA_INVALID_COMMIT_OFFSET_SIZE = 28,
    KAFKA_TOPIC_AUTHORIZATION_FAILED = 29,
    KAFKA_GROUP_AUTHORIZATION_FAILED = 30,
    KAFKA_CLUSTER_AUTHORIZATION_FAILED = 31,
    KAFKA_INVALID_TIMESTAMP = 32,
    KAFKA_UNSUPPORTED_SASL_MECHANISM = 33,
    KAFKA_ILLEGAL_SASL_STATE = 34,
    KAFKA_UNSUPPORTED_VERSION = 35,
    KAFKA_TOPIC_ALREADY_EXISTS = 36,
    KAFKA_INVALID_PARTITIONS = 37,
    KAFKA_INVALID_REPLICATION_FACTOR = 38,
    KAFKA_INVALID_REPLICA_ASSIGNMENT = 39,
    KAFKA_INVALID_CONFIG = 40,
    KAFKA_NOT_CONTROLLER = 41,
    KAFKA_INVALID_REQUEST = 42,
    KAFKA_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KAFKA_POLICY_VIOLATION = 44,
    KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    KAFKA_DUPLICATE_SEQUENCE_NUMBER = 46,
    KAFKA_INVALID_PRODUCER_EPOCH = 47,
    KAFKA_INVALID_TXN_STATE = 48,
    KAFKA_INVALID_PRODUCER_ID_MAPPING = 49,
    KAFKA_INVALID_TRANSACTION_TIMEOUT = 50,
    KAFKA_CONCURRENT_TRANSACTIONS = 51,
    KAFKA_TRANSACTION_COORDINATOR_FENCED = 52,
    KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
    KAFKA_SECURITY_DISABLED = 54,
    KAFKA_OPERATION_NOT_ATTEMPTED = 55,
    KAFKA_KAFKA_STORAGE_ERROR = 56,
    KAFKA_LOG_DIR_NOT_FOUND = 57,
    KAFKA_SASL_AUTHENTICATION_FAILED = 58,
    KAFKA_UNKNOWN_PRODUCER_ID = 59,
    KAFKA_REASSIGNMENT_IN_PROGRESS = 60,
    KAFKA_NON_EMPTY_GROUP = 68,
    KAFKA_GROUP_ID_NOT_FOUND = 69,
    KAFKA_FETCH_SESSION_ID_NOT_FOUND = 70,
    KAFKA_INVALID_FETCH_SESSION_EPOCH = 71,
    KAFKA_TOPIC_DELETION_DISABLED = 73,
    KAFKA_FENCED_LEADER_EPOCH = 74,
    KAFKA_UNKNOWN_LEADER_EPOCH = 75,
    KAFKA_UNSUPPORTED_COMPRESSION_TYPE = 76,
    KAFKA_OFFSET_NOT_AVAILABLE = 78,
    KAFKA_MEMBER_ID_REQUIRED = 79,
    KAFKA_GROUP_MAX_SIZE_REACHED = 81,
    KAFKA_FENCED_INSTANCE_ID = 82,
    KAFKA_INVALID_RECORD = 87,
    KAFKA_UNSTABLE_OFFSET_COMMIT = 88,
    KAFKA_THROTTLING_QUOTA_EXCEEDED = 89,
    KAFKA_PRODUCER_FENCED = 90
};
const char *kafka_err_name(int16_t code); /* "UNKNOWN_TOPIC_OR_PARTITION", or "UNKNOWN" */

/* ---- reader ------------------------------------------------------------------------------------
 */
typedef struct {
    const uint8_t *p, *end;
    bool flexible; /* compact strings/arrays and tagged fields */
    int err;       /* sticky: 0, or -WEIR_EINVAL once a read ran past the end or a bound */
} kafka_reader_t;

/* A view into the request bytes (valid while the frame is); len -1 = null. Not NUL-terminated. */
typedef struct {
    const char *s;
    int32_t len;
} kafka_str_t;

typedef struct {
    const uint8_t *p;
    int32_t len;
} kafka_bytes_t;

void kafka_reader_init(kafka_reader_t *r, const uint8_t *p, size_t n, bool flexible);
static inline bool kafka_reader_ok(const kafka_reader_t *r)
{
    return r->err == 0;
}
static inline size_t kafka_reader_left(const kafka_reader_t *r)
{
    return (size_t)(r->end - r->p);
}
void kafka_reader_fail(kafka_reader_t *r);

int8_t kafka_read_i8(kafka_reader_t *r);
bool kafka_read_bool(kafka_reader_t *r);
int16_t kafka_read_i16(kafka_reader_t *r);
int32_t kafka_read_i32(kafka_reader_t *r);
int64_t kafka_read_i64(kafka_reader_t *r);
uint32_t kafka_read_uvarint(kafka_reader_t *r);
/* STRING (or COMPACT_STRING when flexible); null is a decode error. */
kafka_str_t kafka_read_str(kafka_reader_t *r);
/* NULLABLE_STRING (or COMPACT_NULLABLE_STRING). */
kafka_str_t kafka_read_nstr(kafka_reader_t *r);
/* The classic i16-length NULLABLE_STRING whatever the flexibility (request header client_id). */
kafka_str_t kafka_read_nstr_classic(kafka_reader_t *r);
/* BYTES / NULLABLE_BYTES / RECORDS (compact when flexible); null allowed. */
kafka_bytes_t kafka_read_nbytes(kafka_reader_t *r);
kafka_bytes_t kafka_read_bytes(kafka_reader_t *r); /* null is a decode error */
/* An array's element count: -1 for a null array, else 0..max_count with
 * count * min_elem_bytes <= bytes left. Anything else fails the reader (returns -1 then too,
 * so callers must check kafka_reader_ok before trusting a -1). */
int32_t kafka_read_array(kafka_reader_t *r, size_t min_elem_bytes, int32_t max_count);
/* Skips a tagged-field section (flexible only; a no-op otherwise). */
void kafka_read_tags(kafka_reader_t *r);

/* True if the view equals the C string. */
bool kafka_str_eq(kafka_str_t s, const char *c);
/* Copies a view into a fresh NUL-terminated string (caller frees); NULL for null. Embedded
 * NULs are copied too: a caller that goes on with C-string functions must first refuse names
 * for which kafka_str_has_nul is true (a "nul\0x" topic must never become "nul"). */
char *kafka_str_dup(kafka_str_t s);
bool kafka_str_has_nul(kafka_str_t s);

/* ---- writer ------------------------------------------------------------------------------------
 */
typedef struct {
    buf_t *b;
    bool flexible;
} kafka_writer_t;

static inline void kafka_writer_init(kafka_writer_t *w, buf_t *b, bool flexible)
{
    w->b = b;
    w->flexible = flexible;
}
void kafka_write_i8(kafka_writer_t *w, int8_t v);
void kafka_write_bool(kafka_writer_t *w, bool v);
void kafka_write_i16(kafka_writer_t *w, int16_t v);
void kafka_write_i32(kafka_writer_t *w, int32_t v);
void kafka_write_i64(kafka_writer_t *w, int64_t v);
void kafka_write_uvarint(kafka_writer_t *w, uint32_t v);
void kafka_write_str(kafka_writer_t *w, const char *s, size_t len);     /* non-null */
void kafka_write_cstr(kafka_writer_t *w, const char *s);                /* NULL writes null */
void kafka_write_view(kafka_writer_t *w, kafka_str_t s);                /* len -1 writes null */
void kafka_write_nbytes(kafka_writer_t *w, const void *p, int32_t len); /* len -1 = null */
/* The length prefix of a BYTES/RECORDS field whose len bytes the caller appends next. */
void kafka_write_bytes_len(kafka_writer_t *w, int32_t len);
void kafka_write_array_len(kafka_writer_t *w, int32_t n); /* -1 = null */
void kafka_write_tags(kafka_writer_t *w);                 /* an empty tagged-field section */

/* ---- request and response headers
 * ---------------------------------------------------------------- */
typedef struct {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    kafka_str_t client_id;
} kafka_req_header_t;

/* Reads request header v1 (v2 when flexible: plus a tagged-field section). */
int kafka_req_header_read(kafka_reader_t *r, kafka_req_header_t *h);

/* Starts a response buffer: reserves the 4-byte size, writes the correlation id and, for
 * response header v1, an empty tagged-field section. */
void kafka_resp_begin(buf_t *b, int32_t correlation_id, bool header_v1);
/* Fills the reserved size. */
void kafka_resp_finish(buf_t *b);

/* ---- requests, handlers and the API table --------------------------------------------------- */
struct broker;

typedef struct kafka_req {
    struct broker *b;
    net_conn_t *conn;
    net_slot_t *slot;
    kafka_req_header_t hdr; /* hdr.client_id is valid only during the handler call */
    bool flexible;
    kafka_reader_t r; /* the request body */
    buf_t resp;       /* response so far: size placeholder + response header */
    kafka_writer_t w; /* writes into resp */
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
 * `user` is the struct broker. */
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
void kafka_api_versions_write(kafka_writer_t *w, int16_t version, int16_t error_code);

#endif
