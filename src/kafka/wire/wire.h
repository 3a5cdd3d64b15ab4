/*
 * wire: the Kafka wire codec alone. A reader and a writer for the protocol's primitive types
 * (both know the flexible encodings of KIP-482: compact strings and arrays, unsigned varints,
 * tagged fields), the request and response headers, Kafka's API keys and ErrorCodes with their
 * names. It depends on base only, so every layer above (the broker core, which encodes the
 * records of its internal topics, and the protocol handlers) can speak it.
 *
 * Bounds. Every read checks the bytes remaining; string, bytes and array lengths are checked
 * against the remaining bytes (arrays: count * minimum element size) and against a cap before
 * the caller allocates anything. A failed read sets a sticky error and returns zero values, so
 * a caller may read a whole structure and check wire_reader_ok() once at the end.
 *
 * Threads: stateless; a reader or writer belongs to the thread using it.
 */
#ifndef WEIR_KAFKA_WIRE_H
#define WEIR_KAFKA_WIRE_H

#include "base/base.h"

/* ---- API keys (Kafka's numbering) ------------------------------------------------------------
 * The client-facing APIs of Kafka 4.x (the broker-to-broker and KRaft ones are left out). */
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
    KAFKA_API_OFFSET_FOR_LEADER_EPOCH = 23,
    KAFKA_API_ADD_PARTITIONS_TO_TXN = 24,
    KAFKA_API_ADD_OFFSETS_TO_TXN = 25,
    KAFKA_API_END_TXN = 26,
    KAFKA_API_WRITE_TXN_MARKERS = 27,
    KAFKA_API_TXN_OFFSET_COMMIT = 28,
    KAFKA_API_DESCRIBE_ACLS = 29,
    KAFKA_API_CREATE_ACLS = 30,
    KAFKA_API_DELETE_ACLS = 31,
    KAFKA_API_DESCRIBE_CONFIGS = 32,
    KAFKA_API_ALTER_CONFIGS = 33,
    KAFKA_API_ALTER_REPLICA_LOG_DIRS = 34,
    KAFKA_API_DESCRIBE_LOG_DIRS = 35,
    KAFKA_API_SASL_AUTHENTICATE = 36,
    KAFKA_API_CREATE_PARTITIONS = 37,
    KAFKA_API_CREATE_DELEGATION_TOKEN = 38,
    KAFKA_API_RENEW_DELEGATION_TOKEN = 39,
    KAFKA_API_EXPIRE_DELEGATION_TOKEN = 40,
    KAFKA_API_DESCRIBE_DELEGATION_TOKEN = 41,
    KAFKA_API_DELETE_GROUPS = 42,
    KAFKA_API_ELECT_LEADERS = 43,
    KAFKA_API_INCREMENTAL_ALTER_CONFIGS = 44,
    KAFKA_API_ALTER_PARTITION_REASSIGNMENTS = 45,
    KAFKA_API_LIST_PARTITION_REASSIGNMENTS = 46,
    KAFKA_API_OFFSET_DELETE = 47,
    KAFKA_API_DESCRIBE_CLIENT_QUOTAS = 48,
    KAFKA_API_ALTER_CLIENT_QUOTAS = 49,
    KAFKA_API_DESCRIBE_USER_SCRAM_CREDENTIALS = 50,
    KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS = 51,
    KAFKA_API_UPDATE_FEATURES = 57,
    KAFKA_API_DESCRIBE_CLUSTER = 60,
    KAFKA_API_DESCRIBE_PRODUCERS = 61,
    KAFKA_API_DESCRIBE_TRANSACTIONS = 65,
    KAFKA_API_LIST_TRANSACTIONS = 66,
    KAFKA_API_CONSUMER_GROUP_HEARTBEAT = 68,
    KAFKA_API_CONSUMER_GROUP_DESCRIBE = 69,
    KAFKA_API_GET_TELEMETRY_SUBSCRIPTIONS = 71,
    KAFKA_API_PUSH_TELEMETRY = 72,
    KAFKA_API_LIST_CONFIG_RESOURCES = 74,
    KAFKA_API_DESCRIBE_TOPIC_PARTITIONS = 75,
    KAFKA_API_SHARE_GROUP_HEARTBEAT = 76,
    KAFKA_API_SHARE_GROUP_DESCRIBE = 77,
    KAFKA_API_SHARE_FETCH = 78,
    KAFKA_API_SHARE_ACKNOWLEDGE = 79,
    KAFKA_API_KEY_MAX = 127 /* keys above this are refused before any lookup */
};

/* ---- ErrorCodes (response data, never C return values) ---------------------------------------
 * Kafka's numbering and names (org.apache.kafka.common.protocol.Errors), one list for the enum
 * and for wire_err_name. */
#define WIRE_ERRORS(X)                                                                             \
    X(UNKNOWN_SERVER_ERROR, -1)                                                                    \
    X(NONE, 0)                                                                                     \
    X(OFFSET_OUT_OF_RANGE, 1)                                                                      \
    X(CORRUPT_MESSAGE, 2)                                                                          \
    X(UNKNOWN_TOPIC_OR_PARTITION, 3)                                                               \
    X(INVALID_FETCH_SIZE, 4)                                                                       \
    X(LEADER_NOT_AVAILABLE, 5)                                                                     \
    X(NOT_LEADER_OR_FOLLOWER, 6)                                                                   \
    X(REQUEST_TIMED_OUT, 7)                                                                        \
    X(BROKER_NOT_AVAILABLE, 8)                                                                     \
    X(REPLICA_NOT_AVAILABLE, 9)                                                                    \
    X(MESSAGE_TOO_LARGE, 10)                                                                       \
    X(STALE_CONTROLLER_EPOCH, 11)                                                                  \
    X(OFFSET_METADATA_TOO_LARGE, 12)                                                               \
    X(NETWORK_EXCEPTION, 13)                                                                       \
    X(COORDINATOR_LOAD_IN_PROGRESS, 14)                                                            \
    X(COORDINATOR_NOT_AVAILABLE, 15)                                                               \
    X(NOT_COORDINATOR, 16)                                                                         \
    X(INVALID_TOPIC_EXCEPTION, 17)                                                                 \
    X(RECORD_LIST_TOO_LARGE, 18)                                                                   \
    X(NOT_ENOUGH_REPLICAS, 19)                                                                     \
    X(NOT_ENOUGH_REPLICAS_AFTER_APPEND, 20)                                                        \
    X(INVALID_REQUIRED_ACKS, 21)                                                                   \
    X(ILLEGAL_GENERATION, 22)                                                                      \
    X(INCONSISTENT_GROUP_PROTOCOL, 23)                                                             \
    X(INVALID_GROUP_ID, 24)                                                                        \
    X(UNKNOWN_MEMBER_ID, 25)                                                                       \
    X(INVALID_SESSION_TIMEOUT, 26)                                                                 \
    X(REBALANCE_IN_PROGRESS, 27)                                                                   \
    X(INVALID_COMMIT_OFFSET_SIZE, 28)                                                              \
    X(TOPIC_AUTHORIZATION_FAILED, 29)                                                              \
    X(GROUP_AUTHORIZATION_FAILED, 30)                                                              \
    X(CLUSTER_AUTHORIZATION_FAILED, 31)                                                            \
    X(INVALID_TIMESTAMP, 32)                                                                       \
    X(UNSUPPORTED_SASL_MECHANISM, 33)                                                              \
    X(ILLEGAL_SASL_STATE, 34)                                                                      \
    X(UNSUPPORTED_VERSION, 35)                                                                     \
    X(TOPIC_ALREADY_EXISTS, 36)                                                                    \
    X(INVALID_PARTITIONS, 37)                                                                      \
    X(INVALID_REPLICATION_FACTOR, 38)                                                              \
    X(INVALID_REPLICA_ASSIGNMENT, 39)                                                              \
    X(INVALID_CONFIG, 40)                                                                          \
    X(NOT_CONTROLLER, 41)                                                                          \
    X(INVALID_REQUEST, 42)                                                                         \
    X(UNSUPPORTED_FOR_MESSAGE_FORMAT, 43)                                                          \
    X(POLICY_VIOLATION, 44)                                                                        \
    X(OUT_OF_ORDER_SEQUENCE_NUMBER, 45)                                                            \
    X(DUPLICATE_SEQUENCE_NUMBER, 46)                                                               \
    X(INVALID_PRODUCER_EPOCH, 47)                                                                  \
    X(INVALID_TXN_STATE, 48)                                                                       \
    X(INVALID_PRODUCER_ID_MAPPING, 49)                                                             \
    X(INVALID_TRANSACTION_TIMEOUT, 50)                                                             \
    X(CONCURRENT_TRANSACTIONS, 51)                                                                 \
    X(TRANSACTION_COORDINATOR_FENCED, 52)                                                          \
    X(TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 53)                                                   \
    X(SECURITY_DISABLED, 54)                                                                       \
    X(OPERATION_NOT_ATTEMPTED, 55)                                                                 \
    X(KAFKA_STORAGE_ERROR, 56)                                                                     \
    X(LOG_DIR_NOT_FOUND, 57)                                                                       \
    X(SASL_AUTHENTICATION_FAILED, 58)                                                              \
    X(UNKNOWN_PRODUCER_ID, 59)                                                                     \
    X(REASSIGNMENT_IN_PROGRESS, 60)                                                                \
    X(DELEGATION_TOKEN_AUTH_DISABLED, 61)                                                          \
    X(DELEGATION_TOKEN_NOT_FOUND, 62)                                                              \
    X(DELEGATION_TOKEN_OWNER_MISMATCH, 63)                                                         \
    X(DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, 64)                                                    \
    X(DELEGATION_TOKEN_AUTHORIZATION_FAILED, 65)                                                   \
    X(DELEGATION_TOKEN_EXPIRED, 66)                                                                \
    X(INVALID_PRINCIPAL_TYPE, 67)                                                                  \
    X(NON_EMPTY_GROUP, 68)                                                                         \
    X(GROUP_ID_NOT_FOUND, 69)                                                                      \
    X(FETCH_SESSION_ID_NOT_FOUND, 70)                                                              \
    X(INVALID_FETCH_SESSION_EPOCH, 71)                                                             \
    X(LISTENER_NOT_FOUND, 72)                                                                      \
    X(TOPIC_DELETION_DISABLED, 73)                                                                 \
    X(FENCED_LEADER_EPOCH, 74)                                                                     \
    X(UNKNOWN_LEADER_EPOCH, 75)                                                                    \
    X(UNSUPPORTED_COMPRESSION_TYPE, 76)                                                            \
    X(STALE_BROKER_EPOCH, 77)                                                                      \
    X(OFFSET_NOT_AVAILABLE, 78)                                                                    \
    X(MEMBER_ID_REQUIRED, 79)                                                                      \
    X(PREFERRED_LEADER_NOT_AVAILABLE, 80)                                                          \
    X(GROUP_MAX_SIZE_REACHED, 81)                                                                  \
    X(FENCED_INSTANCE_ID, 82)                                                                      \
    X(ELIGIBLE_LEADERS_NOT_AVAILABLE, 83)                                                          \
    X(ELECTION_NOT_NEEDED, 84)                                                                     \
    X(NO_REASSIGNMENT_IN_PROGRESS, 85)                                                             \
    X(GROUP_SUBSCRIBED_TO_TOPIC, 86)                                                               \
    X(INVALID_RECORD, 87)                                                                          \
    X(UNSTABLE_OFFSET_COMMIT, 88)                                                                  \
    X(THROTTLING_QUOTA_EXCEEDED, 89)                                                               \
    X(PRODUCER_FENCED, 90)                                                                         \
    X(RESOURCE_NOT_FOUND, 91)                                                                      \
    X(DUPLICATE_RESOURCE, 92)                                                                      \
    X(UNACCEPTABLE_CREDENTIAL, 93)                                                                 \
    X(INCONSISTENT_VOTER_SET, 94)                                                                  \
    X(INVALID_UPDATE_VERSION, 95)                                                                  \
    X(FEATURE_UPDATE_FAILED, 96)                                                                   \
    X(PRINCIPAL_DESERIALIZATION_FAILURE, 97)                                                       \
    X(SNAPSHOT_NOT_FOUND, 98)                                                                      \
    X(POSITION_OUT_OF_RANGE, 99)                                                                   \
    X(UNKNOWN_TOPIC_ID, 100)                                                                       \
    X(DUPLICATE_BROKER_REGISTRATION, 101)                                                          \
    X(BROKER_ID_NOT_REGISTERED, 102)                                                               \
    X(INCONSISTENT_TOPIC_ID, 103)                                                                  \
    X(INCONSISTENT_CLUSTER_ID, 104)                                                                \
    X(TRANSACTIONAL_ID_NOT_FOUND, 105)                                                             \
    X(FETCH_SESSION_TOPIC_ID_ERROR, 106)                                                           \
    X(INELIGIBLE_REPLICA, 107)                                                                     \
    X(NEW_LEADER_ELECTED, 108)                                                                     \
    X(OFFSET_MOVED_TO_TIERED_STORAGE, 109)                                                         \
    X(FENCED_MEMBER_EPOCH, 110)                                                                    \
    X(UNRELEASED_INSTANCE_ID, 111)                                                                 \
    X(UNSUPPORTED_ASSIGNOR, 112)                                                                   \
    X(STALE_MEMBER_EPOCH, 113)                                                                     \
    X(MISMATCHED_ENDPOINT_TYPE, 114)                                                               \
    X(UNSUPPORTED_ENDPOINT_TYPE, 115)                                                              \
    X(UNKNOWN_CONTROLLER_ID, 116)                                                                  \
    X(UNKNOWN_SUBSCRIPTION_ID, 117)                                                                \
    X(TELEMETRY_TOO_LARGE, 118)                                                                    \
    X(INVALID_REGISTRATION, 119)                                                                   \
    X(TRANSACTION_ABORTABLE, 120)                                                                  \
    X(INVALID_RECORD_STATE, 121)                                                                   \
    X(SHARE_SESSION_NOT_FOUND, 122)                                                                \
    X(INVALID_SHARE_SESSION_EPOCH, 123)                                                            \
    X(FENCED_STATE_EPOCH, 124)                                                                     \
    X(INVALID_VOTER_KEY, 125)                                                                      \
    X(DUPLICATE_VOTER, 126)                                                                        \
    X(VOTER_NOT_FOUND, 127)                                                                        \
    X(INVALID_REGULAR_EXPRESSION, 128)                                                             \
    X(REBOOTSTRAP_REQUIRED, 129)

enum {
#define WIRE_ERROR_ENUM(name, code) KAFKA_##name = code,
    WIRE_ERRORS(WIRE_ERROR_ENUM)
#undef WIRE_ERROR_ENUM
};
const char *wire_err_name(int16_t code);

/* ---- ACL resource types and operations (Kafka's ResourceType and AclOperation codes) ----------
 */
enum {
    KAFKA_RESOURCE_UNKNOWN = 0,
    KAFKA_RESOURCE_ANY = 1,
    KAFKA_RESOURCE_TOPIC = 2,
    KAFKA_RESOURCE_GROUP = 3,
    KAFKA_RESOURCE_CLUSTER = 4,
    KAFKA_RESOURCE_TRANSACTIONAL_ID = 5,
    KAFKA_RESOURCE_DELEGATION_TOKEN = 6,
    KAFKA_RESOURCE_USER = 7
};
enum {
    KAFKA_ACL_OP_UNKNOWN = 0,
    KAFKA_ACL_OP_ANY = 1,
    KAFKA_ACL_OP_ALL = 2,
    KAFKA_ACL_OP_READ = 3,
    KAFKA_ACL_OP_WRITE = 4,
    KAFKA_ACL_OP_CREATE = 5,
    KAFKA_ACL_OP_DELETE = 6,
    KAFKA_ACL_OP_ALTER = 7,
    KAFKA_ACL_OP_DESCRIBE = 8,
    KAFKA_ACL_OP_CLUSTER_ACTION = 9,
    KAFKA_ACL_OP_DESCRIBE_CONFIGS = 10,
    KAFKA_ACL_OP_ALTER_CONFIGS = 11,
    KAFKA_ACL_OP_IDEMPOTENT_WRITE = 12,
    KAFKA_ACL_OP_CREATE_TOKENS = 13,
    KAFKA_ACL_OP_DESCRIBE_TOKENS = 14
};
/* PatternType and AclPermissionType (CreateAcls, DescribeAcls, DeleteAcls). */
enum {
    KAFKA_PATTERN_UNKNOWN = 0,
    KAFKA_PATTERN_ANY = 1,
    KAFKA_PATTERN_MATCH = 2,
    KAFKA_PATTERN_LITERAL = 3,
    KAFKA_PATTERN_PREFIXED = 4
};
enum {
    KAFKA_ACL_PERM_UNKNOWN = 0,
    KAFKA_ACL_PERM_ANY = 1,
    KAFKA_ACL_PERM_DENY = 2,
    KAFKA_ACL_PERM_ALLOW = 3
};
/* The bitfield (1 << operation) of every operation Kafka supports on a resource type: what
 * authorized-operations fields carry when no authorizer restricts anything (KIP-430). */
int32_t wire_acl_ops_all(int8_t resource_type); /* "UNKNOWN_TOPIC_OR_PARTITION", or "UNKNOWN" */

/* ---- reader ------------------------------------------------------------------------------------
 */
typedef struct {
    const uint8_t *p, *end;
    bool flexible; /* compact strings/arrays and tagged fields */
    int err;       /* sticky: 0, or -WEIR_EINVAL once a read ran past the end or a bound */
} wire_reader_t;

/* A view into the request bytes (valid while the frame is); len -1 = null. Not NUL-terminated. */
typedef struct {
    const char *s;
    int32_t len;
} wire_str_t;

typedef struct {
    const uint8_t *p;
    int32_t len;
} wire_bytes_t;

void wire_reader_init(wire_reader_t *r, const uint8_t *p, size_t n, bool flexible);
static inline bool wire_reader_ok(const wire_reader_t *r)
{
    return r->err == 0;
}
static inline size_t wire_reader_left(const wire_reader_t *r)
{
    return (size_t)(r->end - r->p);
}
void wire_reader_fail(wire_reader_t *r);

int8_t wire_read_i8(wire_reader_t *r);
bool wire_read_bool(wire_reader_t *r);
int16_t wire_read_i16(wire_reader_t *r);
int32_t wire_read_i32(wire_reader_t *r);
int64_t wire_read_i64(wire_reader_t *r);
uint32_t wire_read_uvarint(wire_reader_t *r);
void wire_read_uuid(wire_reader_t *r, uint8_t out[16]); /* zeros when past the end */
/* STRING (or COMPACT_STRING when flexible); null is a decode error. */
wire_str_t wire_read_str(wire_reader_t *r);
/* NULLABLE_STRING (or COMPACT_NULLABLE_STRING). */
wire_str_t wire_read_nstr(wire_reader_t *r);
/* The classic i16-length NULLABLE_STRING whatever the flexibility (request header client_id). */
wire_str_t wire_read_nstr_classic(wire_reader_t *r);
/* BYTES / NULLABLE_BYTES / RECORDS (compact when flexible); null allowed. */
wire_bytes_t wire_read_nbytes(wire_reader_t *r);
wire_bytes_t wire_read_bytes(wire_reader_t *r); /* null is a decode error */
/* An array's element count: -1 for a null array, else 0..max_count with
 * count * min_elem_bytes <= bytes left. Anything else fails the reader (returns -1 then too,
 * so callers must check wire_reader_ok before trusting a -1). */
int32_t wire_read_array(wire_reader_t *r, size_t min_elem_bytes, int32_t max_count);
/* Skips a tagged-field section (flexible only; a no-op otherwise). */
void wire_read_tags(wire_reader_t *r);

/* True if the view equals the C string. */
bool wire_str_eq(wire_str_t s, const char *c);
/* Copies a view into a fresh NUL-terminated string (caller frees); NULL for null. Embedded
 * NULs are copied too: a caller that goes on with C-string functions must first refuse names
 * for which wire_str_has_nul is true (a "nul\0x" topic must never become "nul"). */
char *wire_str_dup(wire_str_t s);
bool wire_str_has_nul(wire_str_t s);

/* ---- writer ------------------------------------------------------------------------------------
 */
typedef struct {
    buf_t *b;
    bool flexible;
} wire_writer_t;

static inline void wire_writer_init(wire_writer_t *w, buf_t *b, bool flexible)
{
    w->b = b;
    w->flexible = flexible;
}
void wire_write_i8(wire_writer_t *w, int8_t v);
void wire_write_bool(wire_writer_t *w, bool v);
void wire_write_i16(wire_writer_t *w, int16_t v);
void wire_write_i32(wire_writer_t *w, int32_t v);
void wire_write_i64(wire_writer_t *w, int64_t v);
void wire_write_uvarint(wire_writer_t *w, uint32_t v);
void wire_write_uuid(wire_writer_t *w, const uint8_t id[16]);
void wire_write_str(wire_writer_t *w, const char *s, size_t len);     /* non-null */
void wire_write_cstr(wire_writer_t *w, const char *s);                /* NULL writes null */
void wire_write_view(wire_writer_t *w, wire_str_t s);                 /* len -1 writes null */
void wire_write_nbytes(wire_writer_t *w, const void *p, int32_t len); /* len -1 = null */
/* The length prefix of a BYTES/RECORDS field whose len bytes the caller appends next. */
void wire_write_bytes_len(wire_writer_t *w, int32_t len);
/* A BYTES/RECORDS length prefix written before the length is known: reserve its room, append
 * the bytes, then fill it with their count (at most INT32_MAX - 1). */
size_t wire_write_bytes_len_reserve(wire_writer_t *w);
void wire_write_bytes_len_fill(wire_writer_t *w, size_t at, size_t len);
void wire_write_array_len(wire_writer_t *w, int32_t n); /* -1 = null */
void wire_write_tags(wire_writer_t *w);                 /* an empty tagged-field section */

/* ---- request and response headers
 * ---------------------------------------------------------------- */
typedef struct {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    wire_str_t client_id;
} wire_req_header_t;

/* Reads request header v1 (v2 when flexible: plus a tagged-field section). */
int wire_req_header_read(wire_reader_t *r, wire_req_header_t *h);

/* Starts a response buffer: reserves the 4-byte size, writes the correlation id and, for
 * response header v1, an empty tagged-field section. */
void wire_resp_begin(buf_t *b, int32_t correlation_id, bool header_v1);
/* Fills the reserved size. */
void wire_resp_finish(buf_t *b);

#endif
