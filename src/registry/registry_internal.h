/*
 * The registry's parts as they see each other: the schema object shared by the three types,
 * the per-type entry points (avro.c, jsonschema.c, protobuf.c), a small string map, and the
 * helpers for errors and compatibility messages. Nothing outside src/registry includes this.
 */
#ifndef WEIR_REGISTRY_INTERNAL_H
#define WEIR_REGISTRY_INTERNAL_H

#include "registry/registry.h"

#include <jansson.h>

/* ---- a string-keyed hash map (chained, grows by doubling) -------------------------------------
 * Keys are copied; values are the caller's. Iteration order is unspecified. */
typedef struct reg_map_ent {
    char *key;
    void *val;
    uint64_t hash;
    struct reg_map_ent *next;
} reg_map_ent_t;
typedef struct {
    reg_map_ent_t **slots;
    size_t nslots, count;
} reg_map_t;

uint64_t reg_hash(const void *p, size_t n);
void reg_map_init(reg_map_t *m);
void reg_map_deinit(reg_map_t *m); /* frees keys, not values */
void *reg_map_get(const reg_map_t *m, const char *key);
void reg_map_put(reg_map_t *m, const char *key, void *val); /* replaces */
void *reg_map_del(reg_map_t *m, const char *key);           /* returns the old value */
/* Calls fn on each entry; stops when fn returns non-zero. */
void reg_map_each(const reg_map_t *m, int (*fn)(void *arg, const char *key, void *val), void *arg);

/* ---- references, as a parser sees them --------------------------------------------------------
 * The schemas a schema refers to, already parsed (with their own references). `names` are the
 * reference names of the request (Avro: ignored; JSON: the $ref URL; Protobuf: the import). */
typedef struct {
    const char *const *names;
    const registry_schema_t *const *schemas;
    size_t count;
} reg_refs_t;

typedef struct {
    size_t schema_bytes_max;
    int depth_max;
} reg_bounds_t;

struct registry_schema {
    registry_type_t type;
    char *canonical; /* the stored form: compact, comments and whitespace gone */
    char *pcf;       /* Avro Parsing Canonical Form */
    void *model;     /* avro_schema_t-like tree, json_t, or the protobuf file */
    reg_refs_t refs; /* arrays owned here, schemas owned by the registry */
};

/* Parses a schema of any type with its references (schema.c): checks size and UTF-8, copies the
 * reference arrays, dispatches. 0, or a negative code with err. */
int reg_schema_parse_refs(registry_type_t type, const char *text, size_t len,
                          const reg_refs_t *refs, bool normalize, const reg_bounds_t *b,
                          registry_schema_t **out, char *err, size_t err_size);

/* Parses text of the given type against its references. On success fills s (type, canonical,
 * pcf, model) and returns 0; otherwise -WEIR_EINVAL and err. normalize: the canonical form is
 * the normalized one (Confluent's normalize=true). */
int reg_avro_parse(registry_schema_t *s, const char *text, size_t len, const reg_refs_t *refs,
                   bool normalize, const reg_bounds_t *b, char *err, size_t err_size);
int reg_json_parse(registry_schema_t *s, const char *text, size_t len, const reg_refs_t *refs,
                   bool normalize, const reg_bounds_t *b, char *err, size_t err_size);
int reg_proto_parse(registry_schema_t *s, const char *text, size_t len, const reg_refs_t *refs,
                    bool normalize, const reg_bounds_t *b, char *err, size_t err_size);
void reg_avro_free(void *model);
void reg_json_free(void *model);
void reg_proto_free(void *model);

/* registry_schema_compat with messages separated by REG_MSG_SEP. */
int reg_schema_compat(const registry_schema_t *reader, const registry_schema_t *writer,
                      buf_t *msgs);
/* Compatibility of one pair, reader against writer: appends one JSON-ish line per problem to
 * msgs (may be NULL) and returns the number of problems. */
int reg_avro_compat(const registry_schema_t *reader, const registry_schema_t *writer, buf_t *msgs);
int reg_json_compat(const registry_schema_t *reader, const registry_schema_t *writer, buf_t *msgs);
int reg_proto_compat(const registry_schema_t *reader, const registry_schema_t *writer, buf_t *msgs);

/* Payload decoding (see registry_schema_decode). */
int reg_avro_decode(const registry_schema_t *s, const uint8_t *p, size_t n, buf_t *json, char *why,
                    size_t why_size);
int reg_json_decode(const registry_schema_t *s, const uint8_t *p, size_t n, buf_t *json, char *why,
                    size_t why_size);
int reg_proto_decode(const registry_schema_t *s, const int32_t *idx, size_t nidx, const uint8_t *p,
                     size_t n, buf_t *json, char *why, size_t why_size);

/* The name RecordNameStrategy uses: Avro's record full name, a JSON Schema's "title", the
 * Protobuf message at msg index [idx] with its package. NULL when there is none. */
const char *reg_avro_record_name(const registry_schema_t *s);
const char *reg_json_record_name(const registry_schema_t *s);
int reg_proto_message_name(const registry_schema_t *s, const int32_t *idx, size_t nidx, char *out,
                           size_t out_size);
/* Protobuf: the serialized FileDescriptorProto, for GET /schemas/ids/{id}?format=serialized. */
void reg_proto_descriptor(const registry_schema_t *s, buf_t *out);

/* ---- shared helpers ------------------------------------------------------------------------- */
bool reg_utf8_valid(const uint8_t *p, size_t n);
void reg_errf(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends one incompatibility as Confluent prints it: "{errorType:'T', description:'D',
 * additionalInfo:'I'}" and REG_MSG_SEP, the separator of messages in a buffer (not a newline:
 * a Protobuf schema quoted in a message holds newlines). */
#define REG_MSG_SEP '\x1e'
void reg_compat_msg(buf_t *msgs, const char *type, const char *info, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void reg_base64_encode(buf_t *out, const uint8_t *p, size_t n);
int reg_base64_decode(buf_t *out, const char *p, size_t n); /* 0 or -WEIR_EINVAL */
/* JSON string escaping into out (adds the quotes). */
void reg_json_quote(buf_t *out, const char *s, size_t n);

/* ---- the registry's state (registry.c), read by rest.c and validate.c under r->lock --------- */
#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    char *name;
    char *subject;
    int32_t version;
} reg_ref_t;

/* One schema id: a schema text of one type with its references. Entries are never freed
 * before the registry (validators and referrers may hold them); `gone` marks an id whose last
 * version was permanently deleted. */
typedef struct reg_entry {
    int32_t id;
    registry_schema_t *s;
    reg_ref_t *refs;
    size_t nrefs;
    char *key;   /* type, canonical text and references: equal keys = the same schema */
    size_t uses; /* versions (deleted or not) pointing here; 0 = gone */
    bool gone;
} reg_entry_t;

typedef struct {
    int32_t version;
    reg_entry_t *e;
    bool deleted; /* soft-deleted */
} reg_version_t;

typedef struct {
    char *name;
    reg_version_t *v; /* sorted by version */
    size_t n, cap;
    int compat; /* registry_compat_t, or -1: not set */
    int mode;   /* reg_mode_t, or -1: not set */
} reg_subject_t;

typedef enum { REG_MODE_READWRITE = 0, REG_MODE_READONLY, REG_MODE_IMPORT } reg_mode_t;
const char *reg_mode_name(int mode);
int reg_mode_parse(const char *s);

struct registry {
    pthread_rwlock_t lock; /* the state below */
    pthread_mutex_t wlock; /* one writer at a time: store order = apply order */
    registry_store_t store;
    registry_limits_t lim;
    reg_bounds_t bounds;
    reg_map_t subjects; /* name -> reg_subject_t */
    reg_map_t by_key;   /* entry key -> reg_entry_t (live entries) */
    reg_map_t by_id;    /* decimal id -> reg_entry_t (every entry) */
    reg_entry_t **ids;  /* every entry ever made, by order of creation */
    size_t nids, ids_cap;
    int32_t max_id;
    int compat; /* global; registry_compat_t */
    int mode;   /* global; reg_mode_t */
    bool compat_set;
    atomic_uint_fast64_t gen;            /* bumped by every applied record */
    registry_list_filter_fn list_filter; /* GET /subjects, /schemas: what it may see */
    void *list_filter_arg;
};

reg_entry_t *reg_entry_by_id(const registry_t *r, int32_t id); /* live or gone, or NULL */
reg_subject_t *reg_subject_get(const registry_t *r, const char *name);
bool reg_subject_live(const reg_subject_t *sub); /* has a version not soft-deleted */
reg_version_t *reg_version_get(reg_subject_t *sub, int32_t version);
reg_version_t *reg_version_latest(reg_subject_t *sub, bool deleted_ok);
int reg_subject_compat(const registry_t *r, const reg_subject_t *sub, const char *name);
int reg_subject_mode(const registry_t *r, const char *name);

/* Answers of the write operations: 0, or an HTTP status with a Confluent error code and a
 * message filled in. */
typedef struct {
    int status;
    int error_code;
    char message[8192];
} reg_err_t;

typedef struct {
    const char *subject;
    const char *schema;
    size_t schema_len;
    registry_type_t type;
    const reg_ref_t *refs;
    size_t nrefs;
    int32_t id;      /* import mode: explicit id, else -1 */
    int32_t version; /* import mode: explicit version, else -1 */
    bool normalize;
} reg_register_req_t;

/* Parses a request's schema with its references resolved in the registry (lock held for
 * reading). 0 and *out, or e filled. */
int reg_schema_resolve(registry_t *r, registry_type_t type, const char *text, size_t len,
                       const reg_ref_t *refs, size_t nrefs, bool normalize, registry_schema_t **out,
                       reg_err_t *e);
int reg_register(registry_t *r, const reg_register_req_t *req, int32_t *id_out, reg_err_t *e);
/* Version of `s` under subject that equals the schema (lookup), with lock held for reading. */
reg_version_t *reg_lookup(registry_t *r, reg_subject_t *sub, const registry_schema_t *s,
                          const reg_ref_t *refs, size_t nrefs, bool deleted_ok);
/* Compatibility of schema s against the subject's versions as its level says (or one
 * version); appends messages; returns the number of problems. Lock held for reading. */
int reg_check_compat(registry_t *r, reg_subject_t *sub, reg_version_t *only,
                     const registry_schema_t *s, int level, buf_t *msgs);
/* deletes: versions deleted appended to out (JSON array items) */
int reg_delete_subject(registry_t *r, const char *subject, bool permanent, buf_t *out,
                       reg_err_t *e);
int reg_delete_version(registry_t *r, const char *subject, const char *version, bool permanent,
                       int32_t *deleted, reg_err_t *e);
/* config/mode: subject NULL = global; value -1 = delete. prev gets the old value (-1: none). */
int reg_set_config(registry_t *r, const char *subject, int compat, int *prev, reg_err_t *e);
int reg_set_mode(registry_t *r, const char *subject, int mode, bool force, int *prev, reg_err_t *e);
void reg_err_set(reg_err_t *e, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Parses "latest", "-1" or 1..2^31-1. 0 and *v (-1 for latest), or -WEIR_EINVAL. */
int reg_version_parse(const char *s, int32_t *v);

#endif
