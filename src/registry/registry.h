/*
 * registry: a schema registry with Confluent's REST API, kept in the compacted topic `_schemas`
 * with Confluent's key/value layout, for AVRO, JSON Schema and PROTOBUF schemas, with their
 * compatibility rules and with payload validation for the produce path.
 *
 * Ownership: a registry_t owns its schemas, subjects and configs. It writes through a
 * registry_store_t that the caller provides (the broker's internal-topic API in `weir serve`,
 * a file in tests) and that must outlive it.
 *
 * Threads: every function here may be called from any thread; the registry takes its own
 * locks (one rwlock over the state, one mutex that orders writes to the store). A handler that
 * writes returns only after the store said the record is durable, and what it wrote is visible
 * to every later request (the HTTP side reads its own writes).
 */
#ifndef WEIR_REGISTRY_H
#define WEIR_REGISTRY_H

#include "base/base.h"
#include "http/http.h"

typedef struct registry registry_t;

/* ---- the store: how the registry keeps its state durable ------------------------------------
 * One record = one Kafka record of `_schemas`: key and value are Confluent's JSON (see
 * docs/schemas.md), value NULL is a tombstone. The registry calls append() with its write
 * mutex held, so appends arrive one at a time, in the order their effects apply.
 *
 * append: returns 0 once the record is durable (acks=-1 semantics), or a negative code; on an
 *   error the registry changes nothing and answers 50001.
 * replay: called once by registry_new(); calls fn for every stored record in log order (after
 *   compaction, any subset that keeps the latest record of each key is fine) and returns 0, or
 *   the first non-zero fn returned, or its own negative code. */
typedef int (*registry_record_fn)(void *fn_arg, const uint8_t *key, size_t key_len,
                                  const uint8_t *value, size_t value_len);
typedef struct {
    void *arg;
    int (*append)(void *arg, const uint8_t *key, size_t key_len, const uint8_t *value,
                  size_t value_len);
    int (*replay)(void *arg, registry_record_fn fn, void *fn_arg);
} registry_store_t;

/* A test store: records appended to a file (length-prefixed, fdatasync per append) and read
 * back by replay. path NULL: in memory only. Not for production: it never compacts. */
typedef struct registry_file_store registry_file_store_t;
int registry_file_store_open(registry_file_store_t **out, const char *path);
void registry_file_store_close(registry_file_store_t *fs);
registry_store_t registry_file_store_iface(registry_file_store_t *fs);
/* Makes the next append fail with -WEIR_EIO (tests of the "nothing changes" rule). */
void registry_file_store_fail_next(registry_file_store_t *fs);

/* ---- bounds ------------------------------------------------------------------------------------
 * Every input is bounded; a bound hit is a 42201 (or 422xx) answer, never unbounded memory. */
typedef struct {
    size_t schema_bytes_max; /* schema text (default 1 MiB) */
    int depth_max;           /* nesting of a schema's structure (default 64) */
    int refs_max;            /* references of one schema (default 64) */
    int ref_depth_max;       /* references of references ... (default 16) */
    size_t subjects_max;     /* default 100000 */
    size_t versions_max;     /* per subject, default 10000 */
} registry_limits_t;

void registry_limits_default(registry_limits_t *lim);

/* ---- lifecycle ---------------------------------------------------------------------------------
 * registry_new replays the store into a fresh state; -WEIR_ECORRUPT if a stored record cannot
 * be understood (the registry then refuses to start, rather than serve a partial state).
 * lim may be NULL for the defaults. */
int registry_new(registry_t **out, const registry_store_t *store, const registry_limits_t *lim);
void registry_free(registry_t *r);

/* Which subjects GET /subjects and GET /schemas show to the request's principal (the server's ACLs,
 * server/http_auth.c); NULL: every subject. Set before the HTTP server starts. */
typedef bool (*registry_list_filter_fn)(void *arg, const http_request_t *req, const char *subject);
void registry_set_list_filter(registry_t *r, registry_list_filter_fn fn, void *arg);

/* ---- REST ---------------------------------------------------------------------------------------
 * registry_http serves one request of Confluent's API (paths at the root: /subjects, /schemas,
 * /config, /mode, /compatibility, /contexts). registry_http_routes registers those prefixes on
 * a server that has not started; the handler is registry_http. */
void registry_http(registry_t *r, const http_request_t *req, http_response_t *resp);
void registry_http_routes(registry_t *r, http_server_t *s);

/* ---- schema types ------------------------------------------------------------------------------
 */
typedef enum { REGISTRY_AVRO = 0, REGISTRY_JSON, REGISTRY_PROTOBUF } registry_type_t;

typedef enum {
    REGISTRY_COMPAT_NONE = 0,
    REGISTRY_COMPAT_BACKWARD,
    REGISTRY_COMPAT_BACKWARD_TRANSITIVE,
    REGISTRY_COMPAT_FORWARD,
    REGISTRY_COMPAT_FORWARD_TRANSITIVE,
    REGISTRY_COMPAT_FULL,
    REGISTRY_COMPAT_FULL_TRANSITIVE
} registry_compat_t;

const char *registry_type_name(registry_type_t t);          /* "AVRO" */
int registry_type_parse(const char *s, registry_type_t *t); /* 0 or -WEIR_EINVAL */
const char *registry_compat_name(registry_compat_t c);      /* "BACKWARD" */
int registry_compat_parse(const char *s, registry_compat_t *c);

/* A parsed schema without references, for tools and tests (the CLI's `schema check`, fuzz
 * targets). registry_schema_parse checks the text (bounds, UTF-8, syntax, semantics) and keeps
 * its canonical form; err gets one line on failure. */
typedef struct registry_schema registry_schema_t;
int registry_schema_parse(registry_type_t type, const char *text, size_t len, bool normalize,
                          registry_schema_t **out, char *err, size_t err_size);
void registry_schema_free(registry_schema_t *s);
const char *registry_schema_canonical(const registry_schema_t *s); /* the stored form */
registry_type_t registry_schema_type(const registry_schema_t *s);
/* Avro's Parsing Canonical Form (AVRO only; NULL for the other types). */
const char *registry_schema_avro_pcf(const registry_schema_t *s);

/* Can data written with `writer` be read with `reader`? 0 = yes; otherwise the number of
 * incompatibilities, each described in msgs (one line each, Confluent's wording where it has
 * one) when msgs is not NULL. Both schemas must be of the same type. */
int registry_schema_compat(const registry_schema_t *reader, const registry_schema_t *writer,
                           buf_t *msgs);

/* Decodes one payload (no magic byte, no id) against the schema: Avro binary, a JSON document
 * checked against a JSON Schema, or a Protobuf message (msg_index: the message indexes, as
 * Confluent's wire format carries them; NULL/0 means the first message). 0, or -WEIR_EINVAL
 * with why. json (may be NULL) receives the value as JSON text. */
int registry_schema_decode(const registry_schema_t *s, const int32_t *msg_index, size_t nindex,
                           const uint8_t *p, size_t n, buf_t *json, char *why, size_t why_size);

/* ---- payload validation (the produce path) ------------------------------------------------------
 * A validator is made once per topic and side (key or value) and then checks records.
 * REGISTRY_VALIDATE_ID: magic byte 0, a 4-byte big-endian id, and that id is registered (not
 * deleted) under the subject the strategy names. REGISTRY_VALIDATE_FULL: also decodes the rest
 * against that schema (Protobuf: the message indexes first).
 *
 * registry_validator_check never allocates in id mode once an id has been seen: ids are cached
 * with the registry's generation number and looked up again only after the registry changed.
 * Thread-safe: many threads may check with one validator at once. */
typedef enum {
    REGISTRY_STRATEGY_TOPIC = 0,   /* "<topic>-key" / "<topic>-value" */
    REGISTRY_STRATEGY_RECORD,      /* the record's fully-qualified name */
    REGISTRY_STRATEGY_TOPIC_RECORD /* "<topic>-<record name>" */
} registry_strategy_t;
typedef enum { REGISTRY_VALIDATE_ID = 0, REGISTRY_VALIDATE_FULL } registry_validate_mode_t;

typedef struct registry_validator registry_validator_t;
int registry_validator_new(registry_validator_t **out, registry_t *r, const char *topic,
                           bool is_key, registry_strategy_t strategy,
                           registry_validate_mode_t mode);
void registry_validator_free(registry_validator_t *v);
/* 0 when the payload passes; -WEIR_EINVAL with why ("value: schema id 7 is not registered
 * under subject 'orders-value'") when it does not. p may be NULL for a null key/value, which
 * fails (a registry-encoded record is never null). */
int registry_validator_check(registry_validator_t *v, const uint8_t *p, size_t n, char *why,
                             size_t why_size);

/* Decodes a registry-encoded payload (wire header, Protobuf message indexes, body) with the
 * schema its id names, into JSON text appended to json. 0, or -WEIR_EINVAL/-WEIR_ENOENT and why.
 * For the console and tools; not for the hot path (it allocates). */
int registry_payload_decode(registry_t *r, const uint8_t *p, size_t n, buf_t *json, char *why,
                            size_t why_size);

/* Confluent's wire format: magic byte 0, then the schema id. 0 or -WEIR_EINVAL. */
int registry_wire_header(const uint8_t *p, size_t n, int32_t *id);
/* Protobuf's message indexes after the header, in [p, p+n): a zigzag count and that many
 * zigzag indexes, a count of 0 meaning [0]. Returns the bytes they take (> 0) and fills
 * idx[0..*nidx), or 0 if they are malformed or more than idx_max. */
size_t registry_wire_msg_indexes(const uint8_t *p, size_t n, int32_t *idx, size_t idx_max,
                                 size_t *nidx);

#endif
