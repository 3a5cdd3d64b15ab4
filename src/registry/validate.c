/*
 * Payload validation for the produce path: a record's key or value must carry Confluent's wire
 * header (magic byte 0, a 4-byte schema id) with an id registered under the subject the
 * strategy names, and in full mode must also decode against that schema.
 *
 * Cost: a validator keeps a small cache of ids it has judged, stamped with the registry's
 * generation number (bumped by every change); a hit costs one uncontended mutex and a scan of
 * at most VALIDATOR_CACHE entries, and allocates nothing. A miss takes the registry's read lock.
 * Schemas are never freed before the registry, so a cached schema pointer stays valid.
 */
#include "registry/registry_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

enum { VALIDATOR_CACHE = 64, VALIDATOR_SUBJECT_MAX = 512, VALIDATOR_INDEXES_MAX = 16 };

typedef struct {
    int32_t id;
    bool ok;
    const registry_schema_t *s;
} vcache_t;

struct registry_validator {
    registry_t *r;
    char *topic;
    bool is_key;
    registry_strategy_t strategy;
    registry_validate_mode_t mode;
    char subject[VALIDATOR_SUBJECT_MAX]; /* TopicNameStrategy's, fixed */
    pthread_mutex_t mu;
    uint64_t gen;
    vcache_t cache[VALIDATOR_CACHE];
    size_t ncache, next;
};

int registry_validator_new(registry_validator_t **out, registry_t *r, const char *topic,
                           bool is_key, registry_strategy_t strategy, registry_validate_mode_t mode)
{
    if (!topic || strlen(topic) + 8 > VALIDATOR_SUBJECT_MAX)
        return -WEIR_EINVAL;
    registry_validator_t *v = weir_calloc(1, sizeof(*v));
    v->r = r;
    v->topic = weir_strdup(topic);
    v->is_key = is_key;
    v->strategy = strategy;
    v->mode = mode;
    snprintf(v->subject, sizeof(v->subject), "%s-%s", topic, is_key ? "key" : "value");
    pthread_mutex_init(&v->mu, NULL);
    v->gen = UINT64_MAX;
    *out = v;
    return 0;
}

void registry_validator_free(registry_validator_t *v)
{
    if (!v)
        return;
    pthread_mutex_destroy(&v->mu);
    free(v->topic);
    free(v);
}

size_t registry_wire_msg_indexes(const uint8_t *p, size_t n, int32_t *idx, size_t idx_max,
                                 size_t *nidx)
{
    const uint8_t *end = p + n;
    int64_t count;
    size_t used = varint_decode_i64(p, end, &count);
    if (!used || count < 0 || (uint64_t)count > idx_max || idx_max == 0)
        return 0;
    if (count == 0) {
        idx[0] = 0;
        *nidx = 1;
        return used;
    }
    for (int64_t i = 0; i < count; i++) {
        int64_t x;
        size_t k = varint_decode_i64(p + used, end, &x);
        if (!k || x < 0 || x > INT32_MAX)
            return 0;
        idx[i] = (int32_t)x;
        used += k;
    }
    *nidx = (size_t)count;
    return used;
}

static size_t read_indexes(const uint8_t *p, const uint8_t *end, int32_t *idx, size_t *nidx)
{
    return registry_wire_msg_indexes(p, (size_t)(end - p), idx, VALIDATOR_INDEXES_MAX, nidx);
}

/* The subject the strategy names for a schema (read lock held). */
static int subject_for(const registry_validator_t *v, const registry_schema_t *s,
                       const int32_t *idx, size_t nidx, char *out, size_t out_size)
{
    if (v->strategy == REGISTRY_STRATEGY_TOPIC) {
        snprintf(out, out_size, "%s", v->subject);
        return 0;
    }
    char name[VALIDATOR_SUBJECT_MAX];
    const char *rn = NULL;
    if (s->type == REGISTRY_AVRO)
        rn = reg_avro_record_name(s);
    else if (s->type == REGISTRY_JSON)
        rn = reg_json_record_name(s);
    else if (reg_proto_message_name(s, idx, nidx, name, sizeof(name)) == 0)
        rn = name;
    if (!rn)
        return -1;
    int w = v->strategy == REGISTRY_STRATEGY_RECORD
                ? snprintf(out, out_size, "%s", rn)
                : snprintf(out, out_size, "%s-%s", v->topic, rn);
    return w < 0 || (size_t)w >= out_size ? -1 : 0;
}

static bool registered_under(registry_t *r, const char *subject, const reg_entry_t *e)
{
    reg_subject_t *sub = reg_subject_get(r, subject);
    for (size_t i = 0; sub && i < sub->n; i++)
        if (sub->v[i].e == e && !sub->v[i].deleted)
            return true;
    return false;
}

/* Judges an id against the registry (takes the read lock). */
static bool judge(registry_validator_t *v, int32_t id, const int32_t *idx, size_t nidx,
                  const registry_schema_t **s, char *why, size_t why_size)
{
    registry_t *r = v->r;
    const char *side = v->is_key ? "key" : "value";
    char subject[VALIDATOR_SUBJECT_MAX];
    bool ok = false;
    pthread_rwlock_rdlock(&r->lock);
    reg_entry_t *e = reg_entry_by_id(r, id);
    *s = NULL;
    if (!e || e->gone) {
        reg_errf(why, why_size, "%s: schema id %" PRId32 " is not registered", side, id);
    } else if (subject_for(v, e->s, idx, nidx, subject, sizeof(subject))) {
        reg_errf(why, why_size, "%s: schema id %" PRId32 " has no record name for the %s", side, id,
                 v->strategy == REGISTRY_STRATEGY_RECORD ? "RecordNameStrategy"
                                                         : "TopicRecordNameStrategy");
    } else if (!registered_under(r, subject, e)) {
        reg_errf(why, why_size, "%s: schema id %" PRId32 " is not registered under subject '%s'",
                 side, id, subject);
    } else {
        ok = true;
        *s = e->s;
    }
    pthread_rwlock_unlock(&r->lock);
    return ok;
}

/* id mode, through the cache. Returns ok and the schema. */
static bool check_id(registry_validator_t *v, int32_t id, const int32_t *idx, size_t nidx,
                     const registry_schema_t **s, char *why, size_t why_size)
{
    bool cacheable = true;
    uint64_t gen = atomic_load(&v->r->gen);
    pthread_mutex_lock(&v->mu);
    if (v->gen != gen) {
        v->ncache = v->next = 0;
        v->gen = gen;
    }
    for (size_t i = 0; cacheable && i < v->ncache; i++) {
        if (v->cache[i].id == id && v->cache[i].ok) {
            *s = v->cache[i].s;
            pthread_mutex_unlock(&v->mu);
            return true;
        }
    }
    pthread_mutex_unlock(&v->mu);
    bool ok = judge(v, id, idx, nidx, s, why, why_size);
    if (ok && cacheable) {
        pthread_mutex_lock(&v->mu);
        if (v->gen == gen) {
            v->cache[v->next] = (vcache_t){id, true, *s};
            v->next = (v->next + 1) % VALIDATOR_CACHE;
            v->ncache = WEIR_MIN(v->ncache + 1, (size_t)VALIDATOR_CACHE);
        }
        pthread_mutex_unlock(&v->mu);
    }
    return ok;
}

int registry_validator_check(registry_validator_t *v, const uint8_t *p, size_t n, char *why,
                             size_t why_size)
{
    const char *side = v->is_key ? "key" : "value";
    int32_t id;
    if (!p) {
        reg_errf(why, why_size, "%s: null, where a schema-registry-encoded %s is required", side,
                 side);
        return -WEIR_EINVAL;
    }
    if (registry_wire_header(p, n, &id)) {
        reg_errf(why, why_size,
                 "%s: no schema registry wire header (magic byte 0 and a 4-byte schema id)", side);
        return -WEIR_EINVAL;
    }
    int32_t idx[VALIDATOR_INDEXES_MAX];
    size_t nidx = 0, used = 0;
    const registry_schema_t *s = NULL;
    bool proto;
    if (v->strategy == REGISTRY_STRATEGY_TOPIC) {
        if (!check_id(v, id, idx, 0, &s, why, why_size))
            return -WEIR_EINVAL;
        proto = s->type == REGISTRY_PROTOBUF;
    } else {
        /* a Protobuf record name depends on the message indexes: judged per record, the
         * other types by id through the cache */
        pthread_rwlock_rdlock(&v->r->lock);
        reg_entry_t *e = reg_entry_by_id(v->r, id);
        proto = e && e->s->type == REGISTRY_PROTOBUF;
        pthread_rwlock_unlock(&v->r->lock);
    }
    if (proto) {
        used = read_indexes(p + 5, p + n, idx, &nidx);
        if (!used) {
            reg_errf(why, why_size, "%s: bad Protobuf message indexes after schema id %" PRId32,
                     side, id);
            return -WEIR_EINVAL;
        }
    }
    if (v->strategy != REGISTRY_STRATEGY_TOPIC) {
        bool ok = proto ? judge(v, id, idx, nidx, &s, why, why_size)
                        : check_id(v, id, idx, 0, &s, why, why_size);
        if (!ok)
            return -WEIR_EINVAL;
    }
    if (v->mode == REGISTRY_VALIDATE_ID)
        return 0;
    char inner[400];
    if (registry_schema_decode(s, idx, nidx, p + 5 + used, n - 5 - used, NULL, inner,
                               sizeof(inner))) {
        reg_errf(why, why_size, "%s: does not decode with schema id %" PRId32 ": %s", side, id,
                 inner);
        return -WEIR_EINVAL;
    }
    return 0;
}

int registry_payload_decode(registry_t *r, const uint8_t *p, size_t n, buf_t *json, char *why,
                            size_t why_size)
{
    int32_t id;
    if (registry_wire_header(p, n, &id)) {
        reg_errf(why, why_size, "no schema registry wire header");
        return -WEIR_EINVAL;
    }
    pthread_rwlock_rdlock(&r->lock);
    reg_entry_t *e = reg_entry_by_id(r, id);
    const registry_schema_t *s = e && !e->gone ? e->s : NULL;
    pthread_rwlock_unlock(&r->lock);
    if (!s) {
        reg_errf(why, why_size, "schema id %" PRId32 " is not registered", id);
        return -WEIR_ENOENT;
    }
    int32_t idx[VALIDATOR_INDEXES_MAX];
    size_t nidx = 0, used = 0;
    if (s->type == REGISTRY_PROTOBUF && !(used = read_indexes(p + 5, p + n, idx, &nidx))) {
        reg_errf(why, why_size, "bad Protobuf message indexes");
        return -WEIR_EINVAL;
    }
    size_t before = json->len;
    int rc = registry_schema_decode(s, idx, nidx, p + 5 + used, n - 5 - used, json, why, why_size);
    if (rc)
        json->len = before;
    return rc;
}
