/*
 * kafka: the Kafka protocol handlers. The table of implemented APIs, the dispatcher that runs
 * one handler per request, and one handler file per API family (api_<family>.c): each decodes
 * its request with the codec (kafka/wire), calls the broker's API and encodes the response.
 *
 * Adding an API is one handler file (src/kafka/api_<family>.c) plus one line in the table in
 * dispatch.c. ApiVersions answers from that table, so what is advertised is exactly what is
 * implemented. A flexible version of an API is a table change (first_flexible) as long as the
 * handler reads and writes through wire_read_* / wire_write_* and calls wire_read_tags /
 * wire_write_tags where the schema has its tagged-field sections: those calls switch
 * between the classic and the compact encoding by the reader's and writer's `flexible` flag.
 *
 * Threads. kafka_on_frame runs on the loop thread of the request's connection; so do the
 * handlers. A handler whose answer waits (long-poll Fetch, acks=-1 Produce, group requests)
 * parks it (kafka_park_t below) and completes it later, from its own loop or any thread.
 *
 * Bounds. Decoding goes through the codec, which checks every length and count against the
 * bytes present and a cap before anything is allocated; a request that fails to decode changes
 * nothing and closes the connection, as Kafka does.
 */
#ifndef WEIR_KAFKA_H
#define WEIR_KAFKA_H

#include "auth/auth.h"
#include "kafka/wire/wire.h"
#include "net/net.h"

/* ---- requests, handlers and the API table --------------------------------------------------- */
struct broker;

typedef struct kafka_fetch_sessions kafka_fetch_sessions_t;

/* ---- metrics of the protocol layer ------------------------------------------------------------
 * Per listener, lock-free (base's metric_*): requests, latency (from the frame's dispatch to the
 * response written, parked time included) and the ErrorCodes answered, per row of kafka_apis[];
 * requests refused by closing the connection, by reason; requests parked now. The errors are
 * those of Produce and Fetch partitions and the group APIs' answers. Any thread reads them. */
enum {
    KAFKA_STATS_APIS_MAX = 56,  /* rows of kafka_apis[] (asserted at init) */
    KAFKA_STATS_ERROR_MAX = 160 /* ErrorCodes -1 .. 158, at index code + 1 */
};
typedef enum {
    KAFKA_REFUSED_UNKNOWN_API,
    KAFKA_REFUSED_UNSUPPORTED_VERSION,
    KAFKA_REFUSED_MALFORMED,
    KAFKA_REFUSED__COUNT
} kafka_refused_t;
extern const char *const kafka_refused_names[KAFKA_REFUSED__COUNT];

typedef struct kafka_stats {
    metric_counter_t requests[KAFKA_STATS_APIS_MAX];
    metric_hist_t latency[KAFKA_STATS_APIS_MAX];
    metric_counter_t errors[KAFKA_STATS_APIS_MAX][KAFKA_STATS_ERROR_MAX];
    metric_counter_t refused[KAFKA_REFUSED__COUNT];
    metric_gauge_t parked;
} kafka_stats_t;

/* A listener's security protocol, Kafka's names. */
typedef enum {
    KAFKA_SEC_PLAINTEXT = 0,
    KAFKA_SEC_SSL,
    KAFKA_SEC_SASL_PLAINTEXT,
    KAFKA_SEC_SASL_SSL
} kafka_security_t;

const char *kafka_security_name(kafka_security_t sec);  /* "SASL_SSL" */
int kafka_security_parse(const char *name, size_t len); /* a kafka_security_t, or -1 */

/* sasl.enabled.mechanisms that Weir implements, as bits. */
enum {
    KAFKA_SASL_PLAIN = 1u << 0,
    KAFKA_SASL_SCRAM_SHA_256 = 1u << 1, /* 1u << (1 + AUTH_SCRAM_SHA_256) */
    KAFKA_SASL_SCRAM_SHA_512 = 1u << 2,
    KAFKA_SASL_OAUTHBEARER = 1u << 3,
    KAFKA_SASL_MECHS = 4 /* the number of bits above */
};

/* One Kafka listener's context (the `user` of its connections): the broker it serves, its
 * name and security protocol, the address it advertises in Metadata and FindCoordinator (a
 * client sees the endpoint of the listener it connected to, as in Kafka), the SASL mechanisms
 * it accepts, the fetch sessions of its clients and its stats. Owned by the server
 * (kafka_listener_init / _deinit); read-only once its listener accepts. */
typedef struct kafka_listener {
    struct broker *b;
    /* "PLAINTEXT", "SASL_SSL", or the name given in listener.security.protocol.map */
    char name[64];
    kafka_security_t security;
    uint32_t sasl_mechs; /* KAFKA_SASL_* bits; used on SASL_* listeners */
    /* listener.name.<name>.[<mechanism>.]connections.max.reauth.ms per mechanism (indexed by
     * its KAFKA_SASL_* bit number); -1: the shared connections.max.reauth.ms applies */
    int64_t reauth_ms[KAFKA_SASL_MECHS];
    /* How OAUTHBEARER tokens are verified (the JWKS, issuer, audience...): set, and owned, by
     * the server when OAUTHBEARER is enabled; NULL otherwise. */
    const auth_jwt_config_t *jwt;
    char adv_host[256];
    int32_t adv_port;
    kafka_fetch_sessions_t *fetch_sessions;
    kafka_stats_t *stats; /* owned; any thread reads it */
    /* SSL listeners: ssl.principal.mapping.rules (owned; NULL: DEFAULT) */
    auth_principal_map_t *principal_map;
} kafka_listener_t;

void kafka_listener_init(kafka_listener_t *lst, struct broker *b);
void kafka_listener_deinit(kafka_listener_t *lst); /* after its connections are gone */

typedef struct kafka_req {
    struct broker *b;
    const kafka_listener_t *lst; /* the listener the request came in on */
    net_conn_t *conn;
    net_slot_t *slot;
    wire_req_header_t hdr; /* hdr.client_id is valid only during the handler call */
    bool flexible;
    wire_reader_t r;  /* the request body */
    buf_t resp;       /* response so far: size placeholder + response header */
    wire_writer_t w;  /* writes into resp */
    int api_row;      /* the request's row of kafka_apis[] (metrics) */
    int64_t start_ns; /* when dispatch began (metrics) */
    size_t frame_len; /* the request's size in bytes (quotas) */
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
/* Writes the response's size prefix: its bytes after the prefix plus the file ranges its slot
 * sends between them (a zero-copy Fetch). */
void kafka_resp_finish(const net_slot_t *slot, buf_t *resp);
/* The connection's open callback (net_open_fn): a new connection from an IP over its
 * connection_creation_rate quota is closed at once (api_quotas.c). */
void kafka_on_open(net_conn_t *conn, void *user);
/* The connection's close callback (net_close_fn): frees its session. */
void kafka_on_close(net_conn_t *conn, void *user);

/* ---- sessions and principals (api_sasl.c) ------------------------------------------------------
 * The per-connection state of the security protocols, in net_conn_session(): where SASL
 * authentication stands and who the client is. A PLAINTEXT connection has none.
 *
 * The principal, Kafka's KafkaPrincipal as text, is what the authorizer will check:
 *   "User:<name>"       after SASL (PLAIN or SCRAM) on a SASL_PLAINTEXT or SASL_SSL listener;
 *   "User:<subject DN>" on an SSL listener with a verified client certificate (mTLS), the DN as
 *                       RFC 2253 text, e.g. "User:CN=alice,O=Example" (Kafka's DEFAULT rule);
 *   "User:ANONYMOUS"    otherwise (PLAINTEXT, SSL without a client certificate, and before
 *                       authentication, when only ApiVersions and the SASL requests pass).
 * Loop thread of the connection; the string is valid until the connection closes. */
const char *kafka_conn_principal(const net_conn_t *conn);
/* Whether the connection may send any request: true on PLAINTEXT and SSL listeners, and on
 * SASL listeners once authentication succeeded. Loop thread. */
bool kafka_conn_authenticated(const net_conn_t *conn);

typedef struct kafka_session kafka_session_t;
/* Called by kafka_on_frame for a connection of a listener other than PLAINTEXT: the frame is
 * handled here when the session is not yet authenticated (the SASL gate: ApiVersions,
 * SaslHandshake, SaslAuthenticate and v0's raw tokens pass, anything else closes the
 * connection). Returns true when it took the frame. */
bool kafka_sasl_gate(net_conn_t *conn, net_slot_t *slot, uint8_t *frame, size_t len,
                     kafka_listener_t *lst);

/* ---- parked requests
 * ----------------------------------------------------------------------------- The one mechanism
 * for a request answered later (a long-poll Fetch, an acks=-1 Produce, every group request): the
 * handler allocates its own struct with a kafka_park_t as its first member, decodes into memory the
 * park owns (the frame is gone once the handler returns), hands the work to the broker and returns
 * kafka_park_take(); the broker's completion writes the response through pk->w and calls
 * kafka_park_finish, from the connection's loop or any other thread. */
typedef struct kafka_park {
    struct broker *b;
    net_slot_t *slot;
    net_loop_t *loop; /* the connection's */
    buf_t resp;
    wire_writer_t w; /* writes into resp */
    int16_t version;
    bool flexible;
    bool bad;     /* a string held a NUL: the request is refused */
    void **owned; /* copies freed with the request */
    size_t nowned, capowned;
    kafka_stats_t *stats; /* the listener's: the answer is counted when it is sent */
    int api_row;
    int64_t start_ns;
    bool taken; /* counted among the parked */
} kafka_park_t;

/* A zeroed struct of `size` bytes whose first member is a kafka_park_t, for req. */
void *kafka_park_new(kafka_req_t *req, size_t size);
/* Owned copies: a C string (NULL for a null string; a NUL inside marks the request bad), bytes
 * (never NULL), zeroed memory. */
char *kafka_park_str(kafka_park_t *pk, wire_str_t s);
uint8_t *kafka_park_bytes(kafka_park_t *pk, wire_bytes_t b);
void *kafka_park_alloc(kafka_park_t *pk, size_t n);
/* Takes req's response buffer and slot: returns KAFKA_PARKED. If the request failed to decode
 * (or is bad), frees pk and returns a negative code instead, so the connection is closed. */
int kafka_park_take(kafka_req_t *req, kafka_park_t *pk);
/* Sends pk->resp (written through pk->w) and frees pk. Any thread. */
void kafka_park_finish(kafka_park_t *pk);
/* Frees pk without answering (only before kafka_park_take). */
void kafka_park_free(kafka_park_t *pk);
/* Counts an ErrorCode the parked request answers (0 counts nothing). Any thread. */
void kafka_park_count_error(const kafka_park_t *pk, int16_t code);
void kafka_stats_count_error(kafka_stats_t *st, int api_row, int16_t code);

/* ---- fetch sessions (KIP-227, fetch_session.c) ------------------------------------------------
 * The cache is the listener's; every call below needs kafka_fetch_sessions_lock held. */
typedef struct {
    char *topic; /* owned, NUL-terminated; topic_len bytes */
    size_t topic_len;
    uint8_t topic_id[16]; /* sessions opened with Fetch v13+ name topics by id */
    int32_t partition;
    int64_t fetch_offset;
    int32_t max_bytes;
    int64_t sent_hwm, sent_lso, sent_log_start; /* last told to the client; -2: never */
} kafka_fetch_session_part_t;

typedef struct kafka_fetch_session {
    int32_t id;
    int32_t epoch; /* the epoch the next request must carry */
    bool uses_ids;
    bool busy; /* a fetch using it is waiting */
    int64_t last_used_ms;
    kafka_fetch_session_part_t *parts; /* in answer order (rotated: fairness) */
    size_t n, cap;
} kafka_fetch_session_t;

void kafka_fetch_sessions_new(kafka_fetch_sessions_t **out);
void kafka_fetch_sessions_free(kafka_fetch_sessions_t *c);
void kafka_fetch_sessions_lock(kafka_fetch_sessions_t *c);
void kafka_fetch_sessions_unlock(kafka_fetch_sessions_t *c);
kafka_fetch_session_t *kafka_fetch_session_find(kafka_fetch_sessions_t *c, int32_t id);
/* NULL when the cache is full of sessions in use (the fetch goes on without a session). */
kafka_fetch_session_t *kafka_fetch_session_create(kafka_fetch_sessions_t *c, bool uses_ids,
                                                  int64_t now_ms);
void kafka_fetch_session_remove(kafka_fetch_sessions_t *c, int32_t id);
/* The session's entry for a partition (by name, or by id for sessions that use ids); with add,
 * a new entry when there is none. */
kafka_fetch_session_part_t *kafka_fetch_session_part(kafka_fetch_session_t *s, const char *topic,
                                                     size_t topic_len, const uint8_t id[16],
                                                     int32_t partition, bool add);
void kafka_fetch_session_forget(kafka_fetch_session_t *s, kafka_fetch_session_part_t *p);
/* Moves entry i to the end (a partition that just returned data goes last next time). */
void kafka_fetch_session_rotate(kafka_fetch_session_t *s, size_t i);
int32_t kafka_fetch_session_next_epoch(int32_t epoch);

/* ---- authorization (authz.c) -----------------------------------------------------------------
 * Whether the request's principal, from its host, may do op (KAFKA_ACL_OP_*) on the resource
 * (KAFKA_RESOURCE_*, broker/broker.h); true when no authorizer is configured. authz.c's table says
 * what each API checks. Loop thread of the request. */
bool kafka_authz(const kafka_req_t *req, int8_t rtype, const char *name, size_t len, int8_t op);
bool kafka_authz_str(const kafka_req_t *req, int8_t rtype, wire_str_t name, int8_t op);
bool kafka_authz_cluster(const kafka_req_t *req, int8_t op);
/* The connection's peer IP as ACL hosts name it ("127.0.0.1", "::1"). */
void kafka_conn_host(const net_conn_t *conn, char *out, size_t cap);
/* KIP-430's authorized operations of one resource: the bitfield (1 << op) of what is allowed. */
int32_t kafka_authz_ops(const kafka_req_t *req, int8_t rtype, const char *name, size_t len);
/* op on some resource of rtype (Kafka's authorizeByResourceType). */
bool kafka_authz_any(const kafka_req_t *req, int8_t rtype, int8_t op);

/* The Kafka ErrorCode for a bare WEIR_ code from the broker. */
int16_t kafka_err_from(int rc);

/* ---- handlers (one file per API family) ------------------------------------------------------ */
int kafka_handle_api_versions(kafka_req_t *req);                    /* dispatch.c */
int kafka_handle_metadata(kafka_req_t *req);                        /* api_metadata.c */
int kafka_handle_describe_topic_partitions(kafka_req_t *req);       /* api_metadata.c */
int kafka_handle_produce(kafka_req_t *req);                         /* api_produce.c */
int kafka_handle_fetch(kafka_req_t *req);                           /* api_fetch.c */
int kafka_handle_list_offsets(kafka_req_t *req);                    /* api_list_offsets.c */
int kafka_handle_create_topics(kafka_req_t *req);                   /* api_topics.c */
int kafka_handle_delete_topics(kafka_req_t *req);                   /* api_topics.c */
int kafka_handle_create_partitions(kafka_req_t *req);               /* api_topics.c */
int kafka_handle_delete_records(kafka_req_t *req);                  /* api_topics.c */
int kafka_handle_describe_configs(kafka_req_t *req);                /* api_configs.c */
int kafka_handle_alter_configs(kafka_req_t *req);                   /* api_configs.c */
int kafka_handle_incremental_alter_configs(kafka_req_t *req);       /* api_configs.c */
int kafka_handle_find_coordinator(kafka_req_t *req);                /* api_groups.c */
int kafka_handle_join_group(kafka_req_t *req);                      /* api_groups.c */
int kafka_handle_sync_group(kafka_req_t *req);                      /* api_groups.c */
int kafka_handle_heartbeat(kafka_req_t *req);                       /* api_groups.c */
int kafka_handle_leave_group(kafka_req_t *req);                     /* api_groups.c */
int kafka_handle_list_groups(kafka_req_t *req);                     /* api_groups.c */
int kafka_handle_describe_groups(kafka_req_t *req);                 /* api_groups.c */
int kafka_handle_delete_groups(kafka_req_t *req);                   /* api_groups.c */
int kafka_handle_offset_commit(kafka_req_t *req);                   /* api_commit.c */
int kafka_handle_txn_offset_commit(kafka_req_t *req);               /* api_commit.c */
int kafka_handle_offset_fetch(kafka_req_t *req);                    /* api_commit.c */
int kafka_handle_offset_delete(kafka_req_t *req);                   /* api_commit.c */
int kafka_handle_consumer_group_heartbeat(kafka_req_t *req);        /* api_consumer_groups.c */
int kafka_handle_consumer_group_describe(kafka_req_t *req);         /* api_consumer_groups.c */
int kafka_handle_init_producer_id(kafka_req_t *req);                /* api_txn.c */
int kafka_handle_add_partitions_to_txn(kafka_req_t *req);           /* api_txn.c */
int kafka_handle_add_offsets_to_txn(kafka_req_t *req);              /* api_txn.c */
int kafka_handle_end_txn(kafka_req_t *req);                         /* api_txn.c */
int kafka_handle_write_txn_markers(kafka_req_t *req);               /* api_txn.c */
int kafka_handle_describe_transactions(kafka_req_t *req);           /* api_txn.c */
int kafka_handle_list_transactions(kafka_req_t *req);               /* api_txn.c */
int kafka_handle_describe_producers(kafka_req_t *req);              /* api_txn.c */
int kafka_handle_describe_cluster(kafka_req_t *req);                /* api_admin.c */
int kafka_handle_describe_log_dirs(kafka_req_t *req);               /* api_admin.c */
int kafka_handle_elect_leaders(kafka_req_t *req);                   /* api_admin.c */
int kafka_handle_alter_partition_reassignments(kafka_req_t *req);   /* api_admin.c */
int kafka_handle_list_partition_reassignments(kafka_req_t *req);    /* api_admin.c */
int kafka_handle_offset_for_leader_epoch(kafka_req_t *req);         /* api_admin.c */
int kafka_handle_sasl_handshake(kafka_req_t *req);                  /* api_sasl.c */
int kafka_handle_sasl_authenticate(kafka_req_t *req);               /* api_sasl.c */
int kafka_handle_describe_user_scram_credentials(kafka_req_t *req); /* api_scram_users.c */
int kafka_handle_alter_user_scram_credentials(kafka_req_t *req);    /* api_scram_users.c */
int kafka_handle_describe_acls(kafka_req_t *req);                   /* api_acls.c */
int kafka_handle_create_acls(kafka_req_t *req);                     /* api_acls.c */
int kafka_handle_delete_acls(kafka_req_t *req);                     /* api_acls.c */
int kafka_handle_describe_client_quotas(kafka_req_t *req);          /* api_quotas.c */
int kafka_handle_alter_client_quotas(kafka_req_t *req);             /* api_quotas.c */

/* ---- quota enforcement (api_quotas.c) ----------------------------------------------------------
 * When some entity has a quota of `key` (a broker_quota_key_t), copies the request's quota
 * identity, the principal's user name ("alice" of "User:alice") and the header's client id
 * ("" when null), into *user and *client_id (caller frees) and returns true; else false and
 * nothing is allocated: a broker without quotas pays one relaxed load. Loop thread. */
bool kafka_quota_identity(const kafka_req_t *req, int key, char **user, char **client_id);
/* Records amount against the quota and, when over it, mutes conn (if not NULL) for the throttle
 * time it returns (KIP-219), which the caller writes as the response's throttle_time_ms. Loop
 * thread of conn. */
int32_t kafka_quota_charge(struct broker *b, net_conn_t *conn, int key, const char *user,
                           const char *client_id, double amount);

/* Writes the ApiVersions response body for `version` from the table (tests use it too). */
void kafka_api_versions_write(wire_writer_t *w, int16_t version, int16_t error_code);

#endif
