/*
 * The registry's state machine. Every change is one record of `_schemas` in Confluent's layout
 * (keytype SCHEMA, CONFIG, MODE, DELETE_SUBJECT, NOOP); the state is exactly what applying the
 * stored records in order gives, at start (replay) as after each write.
 *
 * A write takes the writer mutex, decides under the read lock, appends its record(s) to the
 * store one at a time, and applies each record under the write lock right after the store said
 * it is durable. So an acknowledged write survives a restart, a failed append changes nothing,
 * readers never wait on the store, and two registrations of the same schema are serialized
 * (the second finds the first's id).
 */
#include "registry/registry_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void registry_limits_default(registry_limits_t *lim)
{
    *lim = (registry_limits_t){.schema_bytes_max = 1 << 20,
                               .depth_max = 64,
                               .refs_max = 64,
                               .ref_depth_max = 16,
                               .subjects_max = 100000,
                               .versions_max = 10000};
}

static const char *const mode_names[] = {"READWRITE", "READONLY", "IMPORT"};

const char *reg_mode_name(int mode)
{
    return mode >= 0 && mode < 3 ? mode_names[mode] : "?";
}

int reg_mode_parse(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, mode_names[i]) == 0)
            return i;
    return -1;
}

void reg_err_set(reg_err_t *e, int status, int code, const char *fmt, ...)
{
    e->status = status;
    e->error_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

int reg_version_parse(const char *s, int32_t *v)
{
    if (strcmp(s, "latest") == 0 || strcmp(s, "-1") == 0) {
        *v = -1;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || x < 1 || x > INT32_MAX)
        return -WEIR_EINVAL;
    *v = (int32_t)x;
    return 0;
}

/* ---- state lookups (lock held) ------------------------------------------------------------- */

reg_entry_t *reg_entry_by_id(const registry_t *r, int32_t id)
{
    char k[16];
    snprintf(k, sizeof(k), "%" PRId32, id);
    return reg_map_get(&r->by_id, k);
}

reg_subject_t *reg_subject_get(const registry_t *r, const char *name)
{
    return reg_map_get(&r->subjects, name);
}

bool reg_subject_live(const reg_subject_t *sub)
{
    for (size_t i = 0; sub && i < sub->n; i++)
        if (!sub->v[i].deleted)
            return true;
    return false;
}

reg_version_t *reg_version_get(reg_subject_t *sub, int32_t version)
{
    for (size_t i = 0; sub && i < sub->n; i++)
        if (sub->v[i].version == version)
            return &sub->v[i];
    return NULL;
}

reg_version_t *reg_version_latest(reg_subject_t *sub, bool deleted_ok)
{
    for (size_t i = sub ? sub->n : 0; i > 0; i--)
        if (deleted_ok || !sub->v[i - 1].deleted)
            return &sub->v[i - 1];
    return NULL;
}

int reg_subject_compat(const registry_t *r, const reg_subject_t *sub, const char *name)
{
    (void)name;
    if (sub && sub->compat >= 0)
        return sub->compat;
    return r->compat;
}

int reg_subject_mode(const registry_t *r, const char *name)
{
    const reg_subject_t *sub = name ? reg_subject_get(r, name) : NULL;
    if (sub && sub->mode >= 0)
        return sub->mode;
    return r->mode;
}

static reg_subject_t *subject_make(registry_t *r, const char *name)
{
    reg_subject_t *sub = reg_subject_get(r, name);
    if (sub)
        return sub;
    sub = weir_calloc(1, sizeof(*sub));
    sub->name = weir_strdup(name);
    sub->compat = -1;
    sub->mode = -1;
    reg_map_put(&r->subjects, name, sub);
    return sub;
}

static void subject_free(reg_subject_t *sub)
{
    free(sub->v);
    free(sub->name);
    free(sub);
}

/* Drops a subject that holds nothing any more (no version, no config, no mode). */
static void subject_gc(registry_t *r, reg_subject_t *sub)
{
    if (sub->n == 0 && sub->compat < 0 && sub->mode < 0) {
        reg_map_del(&r->subjects, sub->name);
        subject_free(sub);
    }
}

/* ---- entries ------------------------------------------------------------------------------- */

static void entry_key(buf_t *k, registry_type_t type, const char *canonical, const reg_ref_t *refs,
                      size_t nrefs)
{
    buf_printf(k, "%s\n%s", registry_type_name(type), canonical);
    for (size_t i = 0; i < nrefs; i++)
        buf_printf(k, "\n%s\t%s\t%" PRId32, refs[i].name, refs[i].subject, refs[i].version);
    buf_append_u8(k, 0);
}

static void refs_free(reg_ref_t *refs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(refs[i].name);
        free(refs[i].subject);
    }
    free(refs);
}

static void entry_free(reg_entry_t *e)
{
    registry_schema_free(e->s);
    refs_free(e->refs, e->nrefs);
    free(e->key);
    free(e);
}

/* Resolves the references of a request (lock held) and parses the schema against them. */
int reg_schema_resolve(registry_t *r, registry_type_t type, const char *text, size_t len,
                       const reg_ref_t *refs, size_t nrefs, bool normalize, registry_schema_t **out,
                       reg_err_t *e)
{
    if (nrefs > (size_t)r->lim.refs_max) {
        reg_err_set(e, 422, 42201, "Invalid schema: more than %d references", r->lim.refs_max);
        return -1;
    }
    const registry_schema_t **rs = weir_calloc(nrefs + 1, sizeof(*rs));
    const char **names = weir_calloc(nrefs + 1, sizeof(*names));
    int rc = -1;
    for (size_t i = 0; i < nrefs; i++) {
        reg_subject_t *sub = reg_subject_get(r, refs[i].subject);
        reg_version_t *v = refs[i].version == -1 ? reg_version_latest(sub, false)
                                                 : reg_version_get(sub, refs[i].version);
        if (!v) {
            reg_err_set(e, 422, 42201,
                        "Invalid schema: reference '%s' names subject '%s' version %" PRId32
                        ", which does not exist",
                        refs[i].name, refs[i].subject, refs[i].version);
            goto out;
        }
        if (v->e->s->type != type) {
            reg_err_set(e, 422, 42201, "Invalid schema: reference '%s' is a %s schema, not %s",
                        refs[i].name, registry_type_name(v->e->s->type), registry_type_name(type));
            goto out;
        }
        rs[i] = v->e->s;
        names[i] = refs[i].name;
    }
    reg_refs_t rr = {names, rs, nrefs};
    char err[900];
    int prc =
        reg_schema_parse_refs(type, text, len, &rr, normalize, &r->bounds, out, err, sizeof(err));
    if (prc == -WEIR_ETOOBIG)
        reg_err_set(e, 422, 42209, "Schema too large: %s", err);
    else if (prc)
        reg_err_set(e, 422, 42201, "Invalid schema: %s", err);
    else
        rc = 0;
out:
    free(rs);
    free(names);
    return rc;
}

/* How deep references go below these (a reference cycle cannot be registered, because a
 * reference names a version that exists, but a long chain is bounded too). */
static int refs_depth(const registry_t *r, const reg_ref_t *refs, size_t nrefs, int depth)
{
    if (depth > r->lim.ref_depth_max)
        return depth;
    int max = depth;
    for (size_t i = 0; i < nrefs; i++) {
        reg_subject_t *sub = reg_subject_get(r, refs[i].subject);
        reg_version_t *v = refs[i].version == -1 ? reg_version_latest(sub, false)
                                                 : reg_version_get(sub, refs[i].version);
        if (v)
            max = WEIR_MAX(max, refs_depth(r, v->e->refs, v->e->nrefs, depth + 1));
    }
    return max;
}

/* ---- records: building ---------------------------------------------------------------------- */

typedef struct {
    char *key;
    char *value; /* NULL: tombstone */
} reg_record_t;

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

static char *key_schema(const char *subject, int32_t version)
{
    return dump(json_pack("{s:s, s:s, s:i, s:i}", "keytype", "SCHEMA", "subject", subject,
                          "version", (json_int_t)version, "magic", 1));
}

static char *key_simple(const char *keytype, const char *subject)
{
    return dump(json_pack("{s:s, s:s?, s:i}", "keytype", keytype, "subject", subject, "magic", 0));
}

static json_t *refs_json(const reg_ref_t *refs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a,
                              json_pack("{s:s, s:s, s:i}", "name", refs[i].name, "subject",
                                        refs[i].subject, "version", (json_int_t)refs[i].version));
    return a;
}

static char *value_schema(const char *subject, int32_t version, const reg_entry_t *e,
                          registry_type_t type, const char *text, const reg_ref_t *refs,
                          size_t nrefs, int32_t id, bool deleted)
{
    if (e) {
        type = e->s->type;
        text = e->s->canonical;
        refs = e->refs;
        nrefs = e->nrefs;
        id = e->id;
    }
    json_t *v = json_pack("{s:s, s:i, s:i}", "subject", subject, "version", (json_int_t)version,
                          "id", (json_int_t)id);
    if (type != REGISTRY_AVRO)
        json_object_set_new(v, "schemaType", json_string(registry_type_name(type)));
    if (nrefs)
        json_object_set_new(v, "references", refs_json(refs, nrefs));
    json_object_set_new(v, "schema", json_string(text));
    json_object_set_new(v, "deleted", json_boolean(deleted));
    return dump(v);
}

/* ---- records: applying ---------------------------------------------------------------------- */

static int parse_refs_json(json_t *a, reg_ref_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return -1;
    size_t cnt = json_array_size(a);
    reg_ref_t *refs = weir_calloc(cnt + 1, sizeof(*refs));
    for (size_t i = 0; i < cnt; i++) {
        json_t *x = json_array_get(a, i);
        json_t *nm = json_object_get(x, "name"), *sb = json_object_get(x, "subject"),
               *vr = json_object_get(x, "version");
        if (!json_is_string(nm) || !json_is_string(sb) || !json_is_integer(vr) ||
            json_integer_value(vr) < -1 || json_integer_value(vr) > INT32_MAX ||
            json_integer_value(vr) == 0) {
            refs_free(refs, i);
            return -1;
        }
        refs[i] = (reg_ref_t){weir_strdup(json_string_value(nm)),
                              weir_strdup(json_string_value(sb)), (int32_t)json_integer_value(vr)};
    }
    *out = refs;
    *n = cnt;
    return 0;
}

static reg_entry_t *entry_for(registry_t *r, int32_t id, registry_type_t type, const char *text,
                              reg_ref_t *refs, size_t nrefs, registry_schema_t *preparsed)
{
    reg_entry_t *e = reg_entry_by_id(r, id);
    if (e) {
        refs_free(refs, nrefs);
        registry_schema_free(preparsed);
        return e;
    }
    registry_schema_t *s = preparsed;
    if (!s) {
        reg_err_t err;
        if (reg_schema_resolve(r, type, text, strlen(text), refs, nrefs, false, &s, &err)) {
            log_error("registry", "stored schema id %" PRId32 " does not parse: %s", id,
                      err.message);
            refs_free(refs, nrefs);
            return NULL;
        }
    }
    /* The stored text is the identity, whatever re-canonicalizing it would print. */
    free(s->canonical);
    s->canonical = weir_strdup(text);
    e = weir_calloc(1, sizeof(*e));
    e->id = id;
    e->s = s;
    e->refs = refs;
    e->nrefs = nrefs;
    buf_t k;
    buf_init(&k);
    entry_key(&k, type, text, refs, nrefs);
    e->key = (char *)k.data;
    char ks[16];
    snprintf(ks, sizeof(ks), "%" PRId32, id);
    reg_map_put(&r->by_id, ks, e);
    if (r->nids == r->ids_cap) {
        r->ids_cap = r->ids_cap ? 2 * r->ids_cap : 64;
        r->ids = weir_realloc(r->ids, r->ids_cap * sizeof(*r->ids));
    }
    r->ids[r->nids++] = e;
    r->max_id = WEIR_MAX(r->max_id, id);
    return e;
}

static void entry_use(registry_t *r, reg_entry_t *e, int delta)
{
    e->uses = (size_t)((long)e->uses + delta);
    if (e->uses == 0) {
        e->gone = true;
        if (reg_map_get(&r->by_key, e->key) == e)
            reg_map_del(&r->by_key, e->key);
    } else if (e->gone || !reg_map_get(&r->by_key, e->key)) {
        e->gone = false;
        reg_map_put(&r->by_key, e->key, e);
    }
}

static void version_remove(registry_t *r, reg_subject_t *sub, int32_t version)
{
    for (size_t i = 0; i < sub->n; i++) {
        if (sub->v[i].version != version)
            continue;
        entry_use(r, sub->v[i].e, -1);
        memmove(&sub->v[i], &sub->v[i + 1], (sub->n - i - 1) * sizeof(*sub->v));
        sub->n--;
        return;
    }
}

static int apply_schema(registry_t *r, json_t *key, json_t *val, registry_schema_t *preparsed)
{
    json_t *js = json_object_get(key, "subject"), *jv = json_object_get(key, "version");
    if (!json_is_string(js) || !json_is_integer(jv) || json_integer_value(jv) < 1 ||
        json_integer_value(jv) > INT32_MAX) {
        registry_schema_free(preparsed);
        return -WEIR_ECORRUPT;
    }
    const char *subject = json_string_value(js);
    int32_t version = (int32_t)json_integer_value(jv);
    if (!val) { /* permanent delete of one version */
        reg_subject_t *sub = reg_subject_get(r, subject);
        if (sub) {
            version_remove(r, sub, version);
            subject_gc(r, sub);
        }
        registry_schema_free(preparsed);
        return 0;
    }
    json_t *jid = json_object_get(val, "id"), *jtext = json_object_get(val, "schema");
    json_t *jtype = json_object_get(val, "schemaType");
    registry_type_t type = REGISTRY_AVRO;
    reg_ref_t *refs;
    size_t nrefs;
    if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
        json_integer_value(jid) > INT32_MAX || !json_is_string(jtext) ||
        (jtype && !json_is_null(jtype) && registry_type_parse(json_string_value(jtype), &type)) ||
        parse_refs_json(json_object_get(val, "references"), &refs, &nrefs)) {
        registry_schema_free(preparsed);
        return -WEIR_ECORRUPT;
    }
    bool deleted = json_is_true(json_object_get(val, "deleted"));
    reg_entry_t *e = entry_for(r, (int32_t)json_integer_value(jid), type, json_string_value(jtext),
                               refs, nrefs, preparsed);
    if (!e)
        return -WEIR_ECORRUPT;
    reg_subject_t *sub = subject_make(r, subject);
    reg_version_t *v = reg_version_get(sub, version);
    if (v) {
        if (v->e != e) {
            entry_use(r, v->e, -1);
            v->e = e;
            entry_use(r, e, +1);
        }
        v->deleted = deleted;
        return 0;
    }
    if (sub->n == sub->cap) {
        sub->cap = sub->cap ? 2 * sub->cap : 4;
        sub->v = weir_realloc(sub->v, sub->cap * sizeof(*sub->v));
    }
    size_t at = sub->n;
    while (at > 0 && sub->v[at - 1].version > version)
        at--;
    memmove(&sub->v[at + 1], &sub->v[at], (sub->n - at) * sizeof(*sub->v));
    sub->v[at] = (reg_version_t){version, e, deleted};
    sub->n++;
    entry_use(r, e, +1);
    return 0;
}

static int apply_config_mode(registry_t *r, json_t *key, json_t *val, bool mode)
{
    json_t *js = json_object_get(key, "subject");
    int x = -1;
    if (val) {
        json_t *jx = json_object_get(val, mode ? "mode" : "compatibilityLevel");
        registry_compat_t c;
        if (!json_is_string(jx))
            return -WEIR_ECORRUPT;
        if (mode)
            x = reg_mode_parse(json_string_value(jx));
        else
            x = registry_compat_parse(json_string_value(jx), &c) ? -1 : (int)c;
        if (x < 0)
            return -WEIR_ECORRUPT;
    }
    if (!js || json_is_null(js)) {
        if (mode)
            r->mode = x < 0 ? REG_MODE_READWRITE : x;
        else
            r->compat = x < 0 ? REGISTRY_COMPAT_BACKWARD : x;
        return 0;
    }
    if (!json_is_string(js))
        return -WEIR_ECORRUPT;
    reg_subject_t *sub =
        x < 0 ? reg_subject_get(r, json_string_value(js)) : subject_make(r, json_string_value(js));
    if (!sub)
        return 0;
    if (mode)
        sub->mode = x;
    else
        sub->compat = x;
    subject_gc(r, sub);
    return 0;
}

static int apply_delete_subject(registry_t *r, json_t *val)
{
    json_t *js = json_object_get(val, "subject"), *jv = json_object_get(val, "version");
    if (!json_is_string(js) || !json_is_integer(jv))
        return -WEIR_ECORRUPT;
    reg_subject_t *sub = reg_subject_get(r, json_string_value(js));
    for (size_t i = 0; sub && i < sub->n; i++)
        if (sub->v[i].version <= json_integer_value(jv))
            sub->v[i].deleted = true;
    return 0;
}

/* Applies one stored record (write lock held). preparsed: the schema of a SCHEMA record when
 * the caller has it parsed already (taken either way). */
static int apply(registry_t *r, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
                 registry_schema_t *preparsed)
{
    json_error_t je;
    json_t *key = json_loadb((const char *)k, klen, 0, &je);
    json_t *val = v ? json_loadb((const char *)v, vlen, JSON_DECODE_ANY, &je) : NULL;
    int rc = -WEIR_ECORRUPT;
    const char *kt = json_string_value(json_object_get(key, "keytype"));
    if (!key || !kt || (v && !val)) {
        registry_schema_free(preparsed);
        goto out;
    }
    if (json_is_null(val)) {
        json_decref(val);
        val = NULL;
    }
    if (strcmp(kt, "SCHEMA") == 0) {
        rc = apply_schema(r, key, val, preparsed);
        preparsed = NULL;
    } else if (strcmp(kt, "CONFIG") == 0) {
        rc = apply_config_mode(r, key, val, false);
    } else if (strcmp(kt, "MODE") == 0) {
        rc = apply_config_mode(r, key, val, true);
    } else if (strcmp(kt, "DELETE_SUBJECT") == 0) {
        rc = val ? apply_delete_subject(r, val) : 0;
    } else if (strcmp(kt, "NOOP") == 0) {
        json_t *m = json_object_get(val, "maxId");
        if (json_is_integer(m) && json_integer_value(m) <= INT32_MAX)
            r->max_id = WEIR_MAX(r->max_id, (int32_t)json_integer_value(m));
        rc = 0;
    } else {
        log_warn("registry", "ignoring a _schemas record of keytype %s", kt);
        rc = 0;
    }
    registry_schema_free(preparsed);
    atomic_fetch_add(&r->gen, 1);
out:
    json_decref(key);
    json_decref(val);
    return rc;
}

/* Appends one record and applies it (writer mutex held). */
static int commit(registry_t *r, reg_record_t *rec, registry_schema_t *preparsed, reg_err_t *e)
{
    int rc = r->store.append(r->store.arg, (const uint8_t *)rec->key, strlen(rec->key),
                             (const uint8_t *)rec->value, rec->value ? strlen(rec->value) : 0);
    if (rc == 0) {
        pthread_rwlock_wrlock(&r->lock);
        rc = apply(r, (const uint8_t *)rec->key, strlen(rec->key), (const uint8_t *)rec->value,
                   rec->value ? strlen(rec->value) : 0, preparsed);
        pthread_rwlock_unlock(&r->lock);
        if (rc)
            log_error("registry", "a record just written does not apply: %s", rec->key);
    } else {
        registry_schema_free(preparsed);
        log_error("registry", "store append failed: %s", weir_strerror(rc));
    }
    free(rec->key);
    free(rec->value);
    rec->key = rec->value = NULL;
    if (rc)
        reg_err_set(e, 500, 50001, "Error while storing the schema registry's record: %s",
                    weir_strerror(rc));
    return rc ? -1 : 0;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static int replay_one(void *arg, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
    registry_t *r = arg;
    int rc = apply(r, k, klen, v, vlen, NULL);
    if (rc)
        log_error("registry", "cannot apply stored record %.*s", (int)WEIR_MIN(klen, 200),
                  (const char *)k);
    return rc;
}

int registry_new(registry_t **out, const registry_store_t *store, const registry_limits_t *lim)
{
    registry_t *r = weir_calloc(1, sizeof(*r));
    if (lim)
        r->lim = *lim;
    else
        registry_limits_default(&r->lim);
    r->bounds = (reg_bounds_t){r->lim.schema_bytes_max, r->lim.depth_max};
    r->store = *store;
    r->compat = REGISTRY_COMPAT_BACKWARD;
    r->mode = REG_MODE_READWRITE;
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->wlock, NULL);
    reg_map_init(&r->subjects);
    reg_map_init(&r->by_key);
    reg_map_init(&r->by_id);
    int rc = store->replay ? store->replay(store->arg, replay_one, r) : 0;
    if (rc) {
        registry_free(r);
        *out = NULL;
        return rc < 0 ? rc : -WEIR_ECORRUPT;
    }
    *out = r;
    return 0;
}

static int free_subject_cb(void *arg, const char *key, void *val)
{
    (void)arg;
    (void)key;
    subject_free(val);
    return 0;
}

void registry_free(registry_t *r)
{
    if (!r)
        return;
    reg_map_each(&r->subjects, free_subject_cb, NULL);
    reg_map_deinit(&r->subjects);
    reg_map_deinit(&r->by_key);
    reg_map_deinit(&r->by_id);
    /* entries in reverse order: a referencing schema goes before the ones it references */
    for (size_t i = r->nids; i > 0; i--)
        entry_free(r->ids[i - 1]);
    free(r->ids);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->wlock);
    free(r);
}

/* ---- compatibility against a subject's history -------------------------------------------- */

/* Confluent words a FORWARD problem from the old schema's side: swap "new"/"old". */
static void swap_new_old(buf_t *msgs, size_t from)
{
    for (size_t i = from; i + 10 <= msgs->len; i++) {
        char *p = (char *)msgs->data + i;
        if (memcmp(p, "new schema", 10) == 0) {
            memcpy(p, "old", 3);
            i += 9;
        } else if (memcmp(p, "old schema", 10) == 0) {
            memcpy(p, "new", 3);
            i += 9;
        }
    }
}

static int compat_pair(const registry_schema_t *newer, const registry_schema_t *older, int level,
                       buf_t *msgs)
{
    int n = 0;
    bool back = level == REGISTRY_COMPAT_BACKWARD || level == REGISTRY_COMPAT_BACKWARD_TRANSITIVE ||
                level == REGISTRY_COMPAT_FULL || level == REGISTRY_COMPAT_FULL_TRANSITIVE;
    bool fwd = level == REGISTRY_COMPAT_FORWARD || level == REGISTRY_COMPAT_FORWARD_TRANSITIVE ||
               level == REGISTRY_COMPAT_FULL || level == REGISTRY_COMPAT_FULL_TRANSITIVE;
    if (back)
        n += reg_schema_compat(newer, older, msgs);
    if (fwd) {
        size_t from = msgs ? msgs->len : 0;
        n += reg_schema_compat(older, newer, msgs);
        if (msgs)
            swap_new_old(msgs, from);
    }
    return n;
}

int reg_check_compat(registry_t *r, reg_subject_t *sub, reg_version_t *only,
                     const registry_schema_t *s, int level, buf_t *msgs)
{
    if (level == REGISTRY_COMPAT_NONE)
        return 0;
    bool transitive = level == REGISTRY_COMPAT_BACKWARD_TRANSITIVE ||
                      level == REGISTRY_COMPAT_FORWARD_TRANSITIVE ||
                      level == REGISTRY_COMPAT_FULL_TRANSITIVE;
    int problems = 0;
    for (size_t i = sub ? sub->n : 0; i > 0; i--) {
        reg_version_t *v = &sub->v[i - 1];
        if (only ? v != only : v->deleted)
            continue;
        int n = compat_pair(s, v->e->s, level, msgs);
        if (n && msgs) {
            buf_printf(msgs, "{oldSchemaVersion: %" PRId32 "}%c", v->version, REG_MSG_SEP);
            buf_printf(msgs, "{oldSchema: '%s'}%c", v->e->s->canonical, REG_MSG_SEP);
            buf_printf(msgs, "{validateFields: 'false', compatibility: '%s'}%c",
                       registry_compat_name((registry_compat_t)level), REG_MSG_SEP);
        }
        problems += n;
        if (only || !transitive || n)
            break;
    }
    return problems;
}

/* ---- registration ---------------------------------------------------------------------------- */

reg_version_t *reg_lookup(registry_t *r, reg_subject_t *sub, const registry_schema_t *s,
                          const reg_ref_t *refs, size_t nrefs, bool deleted_ok)
{
    buf_t k;
    buf_init(&k);
    entry_key(&k, s->type, s->canonical, refs, nrefs);
    reg_entry_t *e = reg_map_get(&r->by_key, (char *)k.data);
    buf_deinit(&k);
    for (size_t i = sub && e ? sub->n : 0; i > 0; i--)
        if (sub->v[i - 1].e == e && (deleted_ok || !sub->v[i - 1].deleted))
            return &sub->v[i - 1];
    return NULL;
}

static bool subject_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 1024 || !reg_utf8_valid((const uint8_t *)s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Decides a registration (lock held for reading): the id and version it gets, or an error. */
static int register_decide(registry_t *r, const reg_register_req_t *req, registry_schema_t *s,
                           int32_t *id, int32_t *version, bool *exists, reg_err_t *e)
{
    int mode = reg_subject_mode(r, req->subject);
    reg_subject_t *sub = reg_subject_get(r, req->subject);
    if (mode == REG_MODE_READONLY) {
        reg_err_set(e, 422, 42205, "Subject %s is in read-only mode", req->subject);
        return -1;
    }
    if (req->id >= 0 && mode != REG_MODE_IMPORT) {
        reg_err_set(e, 422, 42205, "Subject %s is not in import mode", req->subject);
        return -1;
    }
    reg_version_t *same = reg_lookup(r, sub, s, req->refs, req->nrefs, false);
    if (same && (req->id < 0 || req->id == same->e->id)) {
        *id = same->e->id;
        *exists = true;
        return 0;
    }
    if (!sub && r->subjects.count >= r->lim.subjects_max) {
        reg_err_set(e, 422, 42205, "the registry holds %zu subjects, its limit",
                    r->lim.subjects_max);
        return -1;
    }
    if (sub && sub->n >= r->lim.versions_max) {
        reg_err_set(e, 422, 42205, "subject %s holds %zu versions, its limit", req->subject,
                    r->lim.versions_max);
        return -1;
    }
    if (mode != REG_MODE_IMPORT) {
        buf_t msgs;
        buf_init(&msgs);
        int level = reg_subject_compat(r, sub, req->subject);
        if (reg_check_compat(r, sub, NULL, s, level, &msgs)) {
            /* Confluent's message: the details as a list, one problem per item */
            buf_t list;
            buf_init(&list);
            const char *p = (const char *)msgs.data, *end = p + msgs.len;
            while (p < end) {
                const char *nl = memchr(p, REG_MSG_SEP, (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
                buf_printf(&list, "%s%.*s", list.len ? ", " : "", (int)n, p);
                p += n + 1;
            }
            buf_append_u8(&list, 0);
            reg_err_set(e, 409, 409,
                        "Schema being registered is incompatible with an earlier schema for "
                        "subject \"%s\", details: [%s]",
                        req->subject, (char *)list.data);
            buf_deinit(&list);
            buf_deinit(&msgs);
            return -1;
        }
        buf_deinit(&msgs);
    }
    buf_t k;
    buf_init(&k);
    entry_key(&k, s->type, s->canonical, req->refs, req->nrefs);
    reg_entry_t *ent = reg_map_get(&r->by_key, (char *)k.data);
    buf_deinit(&k);
    if (req->id >= 0) {
        reg_entry_t *at = reg_entry_by_id(r, req->id);
        if (at && (at->gone || !ent || at != ent)) {
            reg_err_set(e, 422, 42207, "Overwrite new schema with id %" PRId32 " is not permitted.",
                        req->id);
            return -1;
        }
        if (ent && ent->id != req->id) {
            reg_err_set(e, 422, 42207,
                        "Schema already registered with id %" PRId32
                        " instead of input id %" PRId32,
                        ent->id, req->id);
            return -1;
        }
        *id = req->id;
    } else if (ent) {
        *id = ent->id;
    } else {
        if (r->max_id == INT32_MAX) {
            reg_err_set(e, 500, 50001, "schema ids are exhausted");
            return -1;
        }
        *id = r->max_id + 1;
    }
    reg_version_t *last = reg_version_latest(sub, true);
    if (req->version > 0) {
        if (reg_version_get(sub, req->version)) {
            reg_err_set(e, 422, 42202, "Version %" PRId32 " already exists under subject %s",
                        req->version, req->subject);
            return -1;
        }
        *version = req->version;
    } else {
        if (last && last->version == INT32_MAX) {
            reg_err_set(e, 422, 42202, "subject %s has no version number left", req->subject);
            return -1;
        }
        *version = last ? last->version + 1 : 1;
    }
    *exists = false;
    return 0;
}

int reg_register(registry_t *r, const reg_register_req_t *req, int32_t *id_out, reg_err_t *e)
{
    if (!subject_name_valid(req->subject)) {
        reg_err_set(e, 422, 42208, "The specified subject is not a valid subject name");
        return -1;
    }
    pthread_mutex_lock(&r->wlock);
    pthread_rwlock_rdlock(&r->lock);
    registry_schema_t *s = NULL;
    int32_t id = -1, version = 0;
    bool exists = false;
    int rc = -1;
    if (refs_depth(r, req->refs, req->nrefs, 0) > r->lim.ref_depth_max) {
        reg_err_set(e, 422, 42201, "Invalid schema: references nest deeper than %d",
                    r->lim.ref_depth_max);
    } else if (reg_schema_resolve(r, req->type, req->schema, req->schema_len, req->refs, req->nrefs,
                                  req->normalize, &s, e) == 0) {
        rc = register_decide(r, req, s, &id, &version, &exists, e);
    }
    pthread_rwlock_unlock(&r->lock);
    if (rc == 0 && !exists) {
        reg_record_t rec = {key_schema(req->subject, version), NULL};
        rec.value = value_schema(req->subject, version, NULL, s->type, s->canonical, req->refs,
                                 req->nrefs, id, false);
        rc = commit(r, &rec, s, e);
        s = NULL;
    }
    registry_schema_free(s);
    pthread_mutex_unlock(&r->wlock);
    if (rc == 0)
        *id_out = id;
    return rc;
}

/* ---- deletes ------------------------------------------------------------------------------------
 */

/* Is subject/version referenced by a live schema? (lock held) */
static bool referenced(const registry_t *r, const char *subject, int32_t version)
{
    for (size_t i = 0; i < r->nids; i++) {
        const reg_entry_t *e = r->ids[i];
        if (e->gone)
            continue;
        for (size_t k = 0; k < e->nrefs; k++)
            if (strcmp(e->refs[k].subject, subject) == 0 && e->refs[k].version == version)
                return true;
    }
    return false;
}

static char *value_noop(int32_t max_id)
{
    return dump(json_pack("{s:i}", "maxId", (json_int_t)max_id));
}

/* Whether a subject may be deleted (lock held): 0, or -1 with e. */
static int delete_subject_check(registry_t *r, reg_subject_t *sub, const char *subject,
                                bool permanent, reg_err_t *e)
{
    bool has_live = reg_subject_live(sub);
    if (!sub || sub->n == 0) {
        reg_err_set(e, 404, 40401, "Subject '%s' not found.", subject);
    } else if (reg_subject_mode(r, subject) == REG_MODE_READONLY) {
        reg_err_set(e, 422, 42205, "Subject %s is in read-only mode", subject);
    } else if (!permanent && !has_live) {
        reg_err_set(e, 404, 40404,
                    "Subject '%s' was soft deleted.Set permanent=true to delete permanently",
                    subject);
    } else if (permanent && has_live) {
        reg_err_set(e, 404, 40405,
                    "Subject '%s' was not deleted first before being permanently deleted", subject);
    } else {
        for (size_t i = 0; i < sub->n; i++) {
            if (referenced(r, subject, sub->v[i].version)) {
                reg_err_set(e, 422, 42206,
                            "One or more references exist to the schema "
                            "{magic=1,keytype=SCHEMA,subject=%s,version=%" PRId32 "}.",
                            subject, sub->v[i].version);
                return -1;
            }
        }
        return 0;
    }
    return -1;
}

/* The permanent delete's records (writer mutex held): a tombstone per version, read back in
 * chunks until none is left, then the subject's config and mode, then the highest id. */
static int delete_subject_purge(registry_t *r, const char *subject, bool cfg, bool md, reg_err_t *e)
{
    int32_t versions[256];
    int rc = 0;
    for (;;) {
        size_t nv = 0;
        pthread_rwlock_rdlock(&r->lock);
        reg_subject_t *sub = reg_subject_get(r, subject);
        for (size_t i = 0; sub && i < sub->n && nv < WEIR_ARRAY_LEN(versions); i++)
            versions[nv++] = sub->v[i].version;
        pthread_rwlock_unlock(&r->lock);
        if (nv == 0)
            break;
        for (size_t i = 0; i < nv && rc == 0; i++) {
            reg_record_t rec = {key_schema(subject, versions[i]), NULL};
            rc = commit(r, &rec, NULL, e);
        }
        if (rc)
            return rc;
    }
    if (cfg) {
        reg_record_t rec = {key_simple("CONFIG", subject), NULL};
        if ((rc = commit(r, &rec, NULL, e)))
            return rc;
    }
    if (md) {
        reg_record_t rec = {key_simple("MODE", subject), NULL};
        if ((rc = commit(r, &rec, NULL, e)))
            return rc;
    }
    reg_record_t rec = {key_simple("NOOP", NULL), value_noop(r->max_id)};
    return commit(r, &rec, NULL, e);
}

int reg_delete_subject(registry_t *r, const char *subject, bool permanent, buf_t *out, reg_err_t *e)
{
    pthread_mutex_lock(&r->wlock);
    pthread_rwlock_rdlock(&r->lock);
    reg_subject_t *sub = reg_subject_get(r, subject);
    int rc = delete_subject_check(r, sub, subject, permanent, e);
    int32_t last = 0;
    bool cfg = false, md = false;
    if (rc == 0) {
        bool first = true;
        for (size_t i = 0; i < sub->n; i++) {
            if (permanent || !sub->v[i].deleted) {
                buf_printf(out, "%s%" PRId32, first ? "" : ",", sub->v[i].version);
                first = false;
            }
        }
        last = sub->v[sub->n - 1].version;
        cfg = sub->compat >= 0;
        md = sub->mode >= 0;
    }
    pthread_rwlock_unlock(&r->lock);
    if (rc == 0 && !permanent) {
        reg_record_t rec = {
            key_simple("DELETE_SUBJECT", subject),
            dump(json_pack("{s:s, s:i}", "subject", subject, "version", (json_int_t)last))};
        rc = commit(r, &rec, NULL, e);
    } else if (rc == 0) {
        rc = delete_subject_purge(r, subject, cfg, md, e);
    }
    pthread_mutex_unlock(&r->wlock);
    return rc;
}

int reg_delete_version(registry_t *r, const char *subject, const char *version, bool permanent,
                       int32_t *deleted, reg_err_t *e)
{
    int32_t vn;
    if (reg_version_parse(version, &vn)) {
        reg_err_set(e, 422, 42202,
                    "The specified version '%s' is not a valid version id. Allowed values are "
                    "between [1, 2^31-1] and the string \"latest\"",
                    version);
        return -1;
    }
    pthread_mutex_lock(&r->wlock);
    pthread_rwlock_rdlock(&r->lock);
    reg_subject_t *sub = reg_subject_get(r, subject);
    reg_version_t *v = NULL;
    int rc = -1;
    if (!sub || sub->n == 0)
        reg_err_set(e, 404, 40401, "Subject '%s' not found.", subject);
    else if (!(v = vn == -1 ? reg_version_latest(sub, permanent) : reg_version_get(sub, vn)))
        reg_err_set(e, 404, 40402, "Version %s not found.", version);
    else if (reg_subject_mode(r, subject) == REG_MODE_READONLY)
        reg_err_set(e, 422, 42205, "Subject %s is in read-only mode", subject);
    else if (!permanent && v->deleted)
        reg_err_set(e, 404, 40406,
                    "Subject '%s' Version %" PRId32
                    " was soft deleted.Set permanent=true to delete permanently",
                    subject, v->version);
    else if (permanent && !v->deleted)
        reg_err_set(e, 404, 40407,
                    "Subject '%s' Version %" PRId32
                    " was not deleted first before being permanently deleted",
                    subject, v->version);
    else if (referenced(r, subject, v->version))
        reg_err_set(e, 422, 42206,
                    "One or more references exist to the schema "
                    "{magic=1,keytype=SCHEMA,subject=%s,version=%" PRId32 "}.",
                    subject, v->version);
    else
        rc = 0;
    reg_record_t rec = {0};
    if (rc == 0) {
        *deleted = v->version;
        rec.key = key_schema(subject, v->version);
        rec.value =
            permanent ? NULL : value_schema(subject, v->version, v->e, 0, NULL, NULL, 0, 0, true);
    }
    int32_t max_id = r->max_id;
    pthread_rwlock_unlock(&r->lock);
    if (rc == 0)
        rc = commit(r, &rec, NULL, e);
    if (rc == 0 && permanent) {
        reg_record_t noop = {key_simple("NOOP", NULL), value_noop(max_id)};
        rc = commit(r, &noop, NULL, e);
    }
    pthread_mutex_unlock(&r->wlock);
    return rc;
}

/* ---- config and mode ------------------------------------------------------------------------- */

int reg_set_config(registry_t *r, const char *subject, int compat, int *prev, reg_err_t *e)
{
    pthread_mutex_lock(&r->wlock);
    pthread_rwlock_rdlock(&r->lock);
    reg_subject_t *sub = subject ? reg_subject_get(r, subject) : NULL;
    *prev = subject ? (sub ? sub->compat : -1) : r->compat;
    bool known = !subject || (sub && (sub->n || sub->compat >= 0 || sub->mode >= 0));
    pthread_rwlock_unlock(&r->lock);
    int rc = 0;
    if (subject && !subject_name_valid(subject)) {
        reg_err_set(e, 422, 42208, "The specified subject is not a valid subject name");
        rc = -1;
    } else if (compat < 0 && subject && !known) {
        reg_err_set(e, 404, 40401, "Subject '%s' not found.", subject);
        rc = -1;
    } else {
        reg_record_t rec = {key_simple("CONFIG", subject), NULL};
        if (compat >= 0)
            rec.value = dump(json_pack("{s:s}", "compatibilityLevel",
                                       registry_compat_name((registry_compat_t)compat)));
        rc = commit(r, &rec, NULL, e);
    }
    pthread_mutex_unlock(&r->wlock);
    return rc;
}

int reg_set_mode(registry_t *r, const char *subject, int mode, bool force, int *prev, reg_err_t *e)
{
    pthread_mutex_lock(&r->wlock);
    pthread_rwlock_rdlock(&r->lock);
    reg_subject_t *sub = subject ? reg_subject_get(r, subject) : NULL;
    *prev = subject ? (sub ? sub->mode : -1) : r->mode;
    bool known = !subject || (sub && (sub->n || sub->compat >= 0 || sub->mode >= 0));
    bool has_schemas = subject ? reg_subject_live(sub) : r->by_key.count > 0;
    pthread_rwlock_unlock(&r->lock);
    int rc = -1;
    if (subject && !subject_name_valid(subject))
        reg_err_set(e, 422, 42208, "The specified subject is not a valid subject name");
    else if (mode < 0 && subject && !known)
        reg_err_set(e, 404, 40401, "Subject '%s' not found.", subject);
    else if (mode == REG_MODE_IMPORT && has_schemas && !force)
        reg_err_set(e, 422, 42205, "Cannot import since found existing subjects");
    else
        rc = 0;
    if (rc == 0) {
        reg_record_t rec = {key_simple("MODE", subject), NULL};
        if (mode >= 0)
            rec.value = dump(json_pack("{s:s}", "mode", reg_mode_name(mode)));
        rc = commit(r, &rec, NULL, e);
    }
    pthread_mutex_unlock(&r->wlock);
    return rc;
}
