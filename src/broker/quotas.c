/*
 * quotas: Kafka's client quotas. The stored values (AlterClientQuotas, kafka-configs.sh
 * --entity-type users/clients/ips) per entity, Kafka's precedence to find the one that applies
 * to a (user, client id), and the windowed rates that turn a quota into a throttle time.
 *
 * An entity is up to three components, user, client-id and ip, each named or the default. The
 * store is a table of entities with their values, indexed by a canonical byte key, in memory
 * and in <data>/client-quotas: a first line "weir-client-quotas 1 <crc32c of the rest, hex>",
 * then one value a line ("<user> TAB <client-id> TAB <ip> TAB <key> TAB <value>", a component
 * being "-" absent, "d" default or "n" and its name in base64). Every change rewrites the file
 * whole with broker_file_replace (temporary file, fdatasync, rename, directory fsync), so a
 * crash leaves the old set or the new; a file that fails its check stops the broker from
 * starting rather than run with quotas missing.
 *
 * Rates are Kafka's: per quota key and metric tags (the user and/or client id the matching
 * entity names, so a default quota applies to each user or client id separately, as in
 * Kafka's DefaultQuotaCallback), quota.window.num samples of quota.window.size.seconds; the
 * rate is the samples' sum over their span (at least num - 1 whole windows), and a rate over
 * the bound gives throttle = (rate - bound) / bound * span ms, capped at the whole window.
 *
 * Invariant: mu guards the table and the rates; the file holds what the table held after the
 * last change that returned 0; nset[k] counts the entities with key k, so a broker with no
 * quota pays one relaxed load per request.
 */
#include "broker/broker_internal.h"
#include "broker/kvmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define QUOTAS_FILE       "client-quotas"
#define QUOTAS_MAGIC      "weir-client-quotas 1 "
#define QUOTAS_MAX        100000
#define QUOTAS_FILE_MAX   (64u << 20)
#define QUOTA_NAME_MAX    1024
#define QUOTA_SAMPLES_MAX 100
#define QUOTA_SENSORS_MAX 100000

const char *const broker_quota_key_names[BROKER_QUOTA__COUNT] = {
    "producer_byte_rate", "consumer_byte_rate", "request_percentage", "controller_mutation_rate",
    "connection_creation_rate"};
const char *const broker_qe_type_names[BROKER_QE__COUNT] = {"user", "client-id", "ip"};

/* Whether a key's values must be whole numbers (Kafka's LONG and INT quota configs). */
static const bool key_integral[BROKER_QUOTA__COUNT] = {true, true, false, false, true};

typedef struct {
    broker_qe_state_t state[BROKER_QE__COUNT];
    char *name[BROKER_QE__COUNT];
    double value[BROKER_QUOTA__COUNT]; /* NAN: not set */
} quota_ent_t;

typedef struct {
    int n;
    int cur;
    int64_t window_ms;
    int64_t start_ms[QUOTA_SAMPLES_MAX];
    double val[QUOTA_SAMPLES_MAX];
} quota_rate_t;

struct broker_quotas {
    pthread_mutex_t mu;
    quota_ent_t **v;
    size_t n, cap;
    broker_kvmap_t index;   /* canonical entity key -> quota_ent_t */
    broker_kvmap_t sensors; /* key index + metric tags -> quota_rate_t */
    _Atomic int nset[BROKER_QUOTA__COUNT];
    char *path;
    char *dir;
};

int broker_quota_key_parse(const char *name)
{
    for (int k = 0; k < BROKER_QUOTA__COUNT; k++)
        if (strcmp(name, broker_quota_key_names[k]) == 0)
            return k;
    return -1;
}

/* The canonical key: per component its state letter, its name and a NUL. */
static void entity_key(const broker_qe_state_t *state, const char *const *name, buf_t *out)
{
    for (int c = 0; c < BROKER_QE__COUNT; c++) {
        buf_append_u8(out, (uint8_t) "-dn"[state[c]]);
        if (state[c] == BROKER_QE_NAMED)
            buf_append(out, name[c], strlen(name[c]));
        buf_append_u8(out, 0);
    }
}

static quota_ent_t *ent_find(struct broker_quotas *q, const broker_qe_state_t *state,
                             const char *const *name)
{
    buf_t k = {0};
    entity_key(state, name, &k);
    quota_ent_t *e = broker_kvmap_get(&q->index, k.data, k.len);
    buf_deinit(&k);
    return e;
}

static quota_ent_t *ent_get_or_add(struct broker_quotas *q, const broker_qe_state_t *state,
                                   const char *const *name)
{
    quota_ent_t *e = ent_find(q, state, name);
    if (e)
        return e;
    e = weir_calloc(1, sizeof(*e));
    for (int c = 0; c < BROKER_QE__COUNT; c++) {
        e->state[c] = state[c];
        e->name[c] = state[c] == BROKER_QE_NAMED ? weir_strdup(name[c]) : NULL;
    }
    for (int k = 0; k < BROKER_QUOTA__COUNT; k++)
        e->value[k] = NAN;
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 8;
        q->v = weir_realloc(q->v, q->cap * sizeof(*q->v));
    }
    q->v[q->n++] = e;
    buf_t k = {0};
    entity_key(e->state, (const char *const *)e->name, &k);
    broker_kvmap_put(&q->index, k.data, k.len, e);
    buf_deinit(&k);
    return e;
}

static void ent_free(quota_ent_t *e)
{
    for (int c = 0; c < BROKER_QE__COUNT; c++)
        free(e->name[c]);
    free(e);
}

/* Drops entities left with no value. */
static void ents_compact(struct broker_quotas *q)
{
    size_t j = 0;
    for (size_t i = 0; i < q->n; i++) {
        quota_ent_t *e = q->v[i];
        bool any = false;
        for (int k = 0; k < BROKER_QUOTA__COUNT; k++)
            any = any || !isnan(e->value[k]);
        if (any) {
            q->v[j++] = e;
            continue;
        }
        buf_t key = {0};
        entity_key(e->state, (const char *const *)e->name, &key);
        broker_kvmap_del(&q->index, key.data, key.len);
        buf_deinit(&key);
        ent_free(e);
    }
    q->n = j;
}

static void nset_recount(struct broker_quotas *q)
{
    for (int k = 0; k < BROKER_QUOTA__COUNT; k++) {
        int cnt = 0;
        for (size_t i = 0; i < q->n; i++)
            cnt += !isnan(q->v[i]->value[k]);
        atomic_store_explicit(&q->nset[k], cnt, memory_order_relaxed);
    }
}

/* ---- the file ------------------------------------------------------------------------------ */

static void quotas_serialize(struct broker_quotas *q, buf_t *out)
{
    buf_t body = {0};
    for (size_t i = 0; i < q->n; i++) {
        const quota_ent_t *e = q->v[i];
        for (int k = 0; k < BROKER_QUOTA__COUNT; k++) {
            if (isnan(e->value[k]))
                continue;
            for (int c = 0; c < BROKER_QE__COUNT; c++) {
                if (e->state[c] != BROKER_QE_NAMED) {
                    buf_printf(&body, "%c\t", e->state[c] == BROKER_QE_DEFAULT ? 'd' : '-');
                    continue;
                }
                size_t len = strlen(e->name[c]);
                char *b64 = weir_malloc(base64_encoded_len(len) + 1);
                base64_encode((const uint8_t *)e->name[c], len, b64);
                buf_printf(&body, "n%s\t", b64);
                free(b64);
            }
            buf_printf(&body, "%s\t%.17g\n", broker_quota_key_names[k], e->value[k]);
        }
    }
    broker_file_lines_head(out, QUOTAS_MAGIC, &body);
    buf_deinit(&body);
}

static int quotas_add_line(struct broker_quotas *q, char *line)
{
    char *f[5];
    if (broker_file_fields(line, f, 5) != 5)
        return -WEIR_ECORRUPT;
    broker_qe_state_t state[BROKER_QE__COUNT];
    char names[BROKER_QE__COUNT][QUOTA_NAME_MAX + 1];
    const char *name[BROKER_QE__COUNT] = {NULL, NULL, NULL};
    for (int c = 0; c < BROKER_QE__COUNT; c++) {
        if (strcmp(f[c], "-") == 0 || strcmp(f[c], "d") == 0) {
            state[c] = f[c][0] == 'd' ? BROKER_QE_DEFAULT : BROKER_QE_ABSENT;
            continue;
        }
        if (f[c][0] != 'n')
            return -WEIR_ECORRUPT;
        int len = base64_decode(f[c] + 1, strlen(f[c] + 1), (uint8_t *)names[c], QUOTA_NAME_MAX);
        if (len <= 0 || memchr(names[c], 0, (size_t)len))
            return -WEIR_ECORRUPT;
        names[c][len] = '\0';
        state[c] = BROKER_QE_NAMED;
        name[c] = names[c];
    }
    int k = broker_quota_key_parse(f[3]);
    char *end;
    double v = strtod(f[4], &end);
    if (k < 0 || *end || !(v > 0) || (!ent_find(q, state, name) && q->n >= QUOTAS_MAX))
        return -WEIR_ECORRUPT;
    ent_get_or_add(q, state, name)->value[k] = v;
    return 0;
}

static int quotas_line(void *arg, char *line)
{
    return quotas_add_line(arg, line);
}

static int quotas_parse(struct broker_quotas *q, char *p, size_t len)
{
    return broker_file_lines_parse(p, len, QUOTAS_MAGIC, quotas_line, q);
}

static void quotas_clear(struct broker_quotas *q)
{
    for (size_t i = 0; i < q->n; i++)
        ent_free(q->v[i]);
    free(q->v);
    q->v = NULL;
    q->n = q->cap = 0;
    broker_kvmap_deinit(&q->index);
    broker_kvmap_init(&q->index);
}

/* Rewrites the file from the table, after checking that what goes to disk parses back. */
static int quotas_persist(struct broker_quotas *q)
{
    buf_t b = {0};
    quotas_serialize(q, &b);
    struct broker_quotas probe = {0};
    broker_kvmap_init(&probe.index);
    buf_t copy = {0};
    buf_append(&copy, b.data, b.len);
    int rc = quotas_parse(&probe, (char *)copy.data, copy.len);
    size_t stored = 0; /* entities with a value: the one alter_apply emptied is not written */
    for (size_t i = 0; i < q->n; i++)
        for (int k = 0; k < BROKER_QUOTA__COUNT; k++)
            if (!isnan(q->v[i]->value[k])) {
                stored++;
                break;
            }
    WEIR_ASSERT(rc == 0 && probe.n == stored);
    quotas_clear(&probe);
    broker_kvmap_deinit(&probe.index);
    buf_deinit(&copy);
    rc = broker_file_replace(q->dir, q->path, b.data, b.len);
    buf_deinit(&b);
    return rc;
}

int broker_quotas_open(broker_t *b)
{
    struct broker_quotas *q = weir_calloc(1, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
    broker_kvmap_init(&q->index);
    broker_kvmap_init(&q->sensors);
    q->dir = weir_strdup(b->data_dir);
    buf_t path = {0};
    buf_printf(&path, "%s/%s", b->data_dir, QUOTAS_FILE);
    buf_append_u8(&path, 0);
    q->path = (char *)path.data;
    b->quotas = q;
    buf_t data = {0};
    int rc = broker_file_read(q->path, QUOTAS_FILE_MAX, &data);
    if (rc == -WEIR_ENOENT) {
        buf_deinit(&data);
        return 0;
    }
    if (rc == 0)
        rc = quotas_parse(q, (char *)data.data, data.len);
    buf_deinit(&data);
    if (rc < 0)
        log_error("broker", "%s fails its check (%s): refusing to start without its quotas",
                  q->path, weir_strerror(rc));
    else if (q->n)
        log_info("broker", "client quotas of %zu entit%s loaded", q->n, q->n == 1 ? "y" : "ies");
    nset_recount(q);
    return rc;
}

static void sensors_clear(struct broker_quotas *q)
{
    for (size_t i = 0; i < q->sensors.bucket_count; i++)
        for (broker_kvmap_entry_t *e = q->sensors.buckets[i]; e; e = e->next)
            free(e->value);
    broker_kvmap_deinit(&q->sensors);
    broker_kvmap_init(&q->sensors);
}

void broker_quotas_free(broker_t *b)
{
    struct broker_quotas *q = b->quotas;
    if (!q)
        return;
    quotas_clear(q);
    broker_kvmap_deinit(&q->index);
    sensors_clear(q);
    broker_kvmap_deinit(&q->sensors);
    free(q->path);
    free(q->dir);
    pthread_mutex_destroy(&q->mu);
    free(q);
    b->quotas = NULL;
}

/* ---- alter and list ------------------------------------------------------------------------ */

static int invalid(broker_err_t *err, const char *msg, const char *arg)
{
    err->code = KAFKA_INVALID_REQUEST;
    snprintf(err->message, sizeof(err->message), "%s%s", msg, arg ? arg : "");
    return -WEIR_EINVAL;
}

/* Kafka's ClientQuotaControlManager checks: the entity, then each key and value. */
static int alter_check(const broker_quota_entity_t *e, const broker_quota_op_t *ops, size_t nops,
                       broker_err_t *err)
{
    bool has_ip = e->state[BROKER_QE_IP] != BROKER_QE_ABSENT;
    bool has_uc = e->state[BROKER_QE_USER] != BROKER_QE_ABSENT ||
                  e->state[BROKER_QE_CLIENT] != BROKER_QE_ABSENT;
    if (!has_ip && !has_uc)
        return invalid(err, "Invalid empty client quota entity", NULL);
    if (has_ip && has_uc)
        return invalid(err,
                       "Invalid quota entity combination, IP entity should not be combined with "
                       "User or ClientId",
                       NULL);
    for (int c = 0; c < BROKER_QE__COUNT; c++)
        if (e->state[c] == BROKER_QE_NAMED &&
            (!e->name[c][0] || strlen(e->name[c]) > QUOTA_NAME_MAX))
            return invalid(err, "Invalid entity name for ", broker_qe_type_names[c]);
    for (size_t i = 0; i < nops; i++) {
        const broker_quota_op_t *op = &ops[i];
        const char *name = broker_quota_key_names[op->key];
        bool ip_key = op->key == BROKER_QUOTA_CONNECTION_CREATION_RATE;
        if (ip_key != has_ip)
            return invalid(err, "Invalid configuration key ", name);
        for (size_t j = 0; j < i; j++)
            if (ops[j].key == op->key)
                return invalid(err, "Duplicate quota key ", name);
        if (op->remove)
            continue;
        char msg[160];
        if (!(op->value > 0)) {
            snprintf(msg, sizeof(msg), "Quota %s must be greater than 0", name);
            return invalid(err, msg, NULL);
        }
        if (key_integral[op->key] && op->value > (op->key == BROKER_QUOTA_CONNECTION_CREATION_RATE
                                                      ? (double)INT32_MAX
                                                      : 9.2233720368547758e18)) {
            snprintf(msg, sizeof(msg), "Proposed value for %s is too large for a %s.", name,
                     op->key == BROKER_QUOTA_CONNECTION_CREATION_RATE ? "INT" : "LONG");
            return invalid(err, msg, NULL);
        }
        if (key_integral[op->key] && fabs(fmod(op->value, 1.0)) > 1e-6) {
            snprintf(msg, sizeof(msg), "%s cannot be a fractional value.", name);
            return invalid(err, msg, NULL);
        }
    }
    return 0;
}

int broker_quota_alter(broker_t *b, const broker_quota_entity_t *e, const broker_quota_op_t *ops,
                       size_t nops, bool validate_only, broker_err_t *err)
{
    int rc = alter_check(e, ops, nops, err);
    if (rc < 0 || validate_only)
        return rc;
    struct broker_quotas *q = b->quotas;
    pthread_mutex_lock(&q->mu);
    quota_ent_t *ent = ent_find(q, e->state, e->name);
    if (!ent && q->n >= QUOTAS_MAX) {
        pthread_mutex_unlock(&q->mu);
        return invalid(err, "Too many client quota entities", NULL);
    }
    if (!ent)
        ent = ent_get_or_add(q, e->state, e->name);
    double old[BROKER_QUOTA__COUNT];
    memcpy(old, ent->value, sizeof(old));
    for (size_t i = 0; i < nops; i++)
        ent->value[ops[i].key] = ops[i].remove ? NAN : ops[i].value;
    rc = quotas_persist(q);
    if (rc < 0) {
        memcpy(ent->value, old, sizeof(old));
        err->code = KAFKA_UNKNOWN_SERVER_ERROR;
        snprintf(err->message, sizeof(err->message), "cannot write the quotas file");
    }
    ents_compact(q);
    nset_recount(q);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

size_t broker_quotas_list(broker_t *b, broker_quota_entry_t **out)
{
    struct broker_quotas *q = b->quotas;
    pthread_mutex_lock(&q->mu);
    size_t n = q->n;
    broker_quota_entry_t *v = n ? weir_calloc(n, sizeof(*v)) : NULL;
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < BROKER_QE__COUNT; c++) {
            v[i].state[c] = q->v[i]->state[c];
            v[i].name[c] = q->v[i]->name[c] ? weir_strdup(q->v[i]->name[c]) : NULL;
        }
        memcpy(v[i].value, q->v[i]->value, sizeof(v[i].value));
    }
    pthread_mutex_unlock(&q->mu);
    *out = v;
    return n;
}

void broker_quotas_list_free(broker_quota_entry_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < BROKER_QE__COUNT; c++)
            free(v[i].name[c]);
    free(v);
}

/* ---- precedence and rates ------------------------------------------------------------------ */

/* Kafka's order (DefaultQuotaCallback): user and client-id states, most specific first. */
static const broker_qe_state_t precedence[8][2] = {
    {BROKER_QE_NAMED, BROKER_QE_NAMED},     {BROKER_QE_NAMED, BROKER_QE_DEFAULT},
    {BROKER_QE_NAMED, BROKER_QE_ABSENT},    {BROKER_QE_DEFAULT, BROKER_QE_NAMED},
    {BROKER_QE_DEFAULT, BROKER_QE_DEFAULT}, {BROKER_QE_DEFAULT, BROKER_QE_ABSENT},
    {BROKER_QE_ABSENT, BROKER_QE_NAMED},    {BROKER_QE_ABSENT, BROKER_QE_DEFAULT},
};

/* connection_creation_rate: the IP's own quota, else the default IP's. 0 or 1 (whether the
 * named one matched), or -1. */
static int resolve_ip_locked(struct broker_quotas *q, const char *ip, double *value)
{
    for (int i = 0; i < 2; i++) {
        broker_qe_state_t state[BROKER_QE__COUNT] = {BROKER_QE_ABSENT, BROKER_QE_ABSENT,
                                                     i == 0 ? BROKER_QE_NAMED : BROKER_QE_DEFAULT};
        const char *name[BROKER_QE__COUNT] = {NULL, NULL, ip};
        quota_ent_t *e = ent_find(q, state, name);
        if (e && !isnan(e->value[BROKER_QUOTA_CONNECTION_CREATION_RATE])) {
            *value = e->value[BROKER_QUOTA_CONNECTION_CREATION_RATE];
            return i;
        }
    }
    return -1;
}

/* The matching entity's row of precedence[], or -1; under mu. */
static int resolve_locked(struct broker_quotas *q, broker_quota_key_t key, const char *user,
                          const char *client_id, double *value)
{
    if (key == BROKER_QUOTA_CONNECTION_CREATION_RATE) /* user is the IP; rated per IP */
        return resolve_ip_locked(q, user, value) < 0 ? -1 : 2;
    for (int i = 0; i < 8; i++) {
        broker_qe_state_t state[BROKER_QE__COUNT] = {precedence[i][0], precedence[i][1],
                                                     BROKER_QE_ABSENT};
        const char *name[BROKER_QE__COUNT] = {user, client_id, NULL};
        quota_ent_t *e = ent_find(q, state, name);
        if (e && !isnan(e->value[key])) {
            *value = e->value[key];
            return i;
        }
    }
    return -1;
}

double broker_quota_resolve(broker_t *b, broker_quota_key_t key, const char *user,
                            const char *client_id)
{
    struct broker_quotas *q = b->quotas;
    double v = NAN;
    pthread_mutex_lock(&q->mu);
    resolve_locked(q, key, user, client_id, &v);
    pthread_mutex_unlock(&q->mu);
    return v;
}

/* Kafka's Rate over a SampledStat: the span the samples cover, at least n - 1 whole windows. */
static int64_t rate_span_ms(const quota_rate_t *r, int64_t now_ms)
{
    int64_t oldest = now_ms;
    for (int i = 0; i < r->n; i++)
        oldest = WEIR_MIN(oldest, r->start_ms[i]);
    int64_t elapsed = now_ms - oldest;
    int64_t full = elapsed / r->window_ms, min_full = r->n - 1;
    if (full < min_full)
        elapsed += (min_full - full) * r->window_ms;
    return WEIR_MAX(elapsed, (int64_t)1);
}

static double rate_record(quota_rate_t *r, double amount, int64_t now_ms)
{
    if (now_ms - r->start_ms[r->cur] >= r->window_ms) {
        r->cur = (r->cur + 1) % r->n;
        r->start_ms[r->cur] = now_ms;
        r->val[r->cur] = 0;
    }
    r->val[r->cur] += amount;
    double total = 0;
    for (int i = 0; i < r->n; i++) {
        if (now_ms - r->start_ms[i] >= (int64_t)r->n * r->window_ms) { /* obsolete */
            r->start_ms[i] = now_ms;
            r->val[i] = 0;
        }
        total += r->val[i];
    }
    return total;
}

static quota_rate_t *sensor_get(broker_t *b, struct broker_quotas *q, const buf_t *key,
                                int64_t now_ms)
{
    quota_rate_t *r = broker_kvmap_get(&q->sensors, key->data, key->len);
    if (r)
        return r;
    if (q->sensors.count >= QUOTA_SENSORS_MAX) /* client ids are the clients' to choose */
        sensors_clear(q);
    r = weir_calloc(1, sizeof(*r));
    r->n = (int)WEIR_MIN(WEIR_MAX(broker_settings_int(&b->set, BCFG_QUOTA_WINDOW_NUM), (int64_t)1),
                         (int64_t)QUOTA_SAMPLES_MAX);
    r->window_ms =
        WEIR_MAX(broker_settings_int(&b->set, BCFG_QUOTA_WINDOW_SIZE_SECONDS), (int64_t)1) * 1000;
    for (int i = 0; i < r->n; i++)
        r->start_ms[i] = now_ms;
    broker_kvmap_put(&q->sensors, key->data, key->len, r);
    return r;
}

bool broker_quota_active(broker_t *b, broker_quota_key_t key)
{
    return atomic_load_explicit(&b->quotas->nset[key], memory_order_relaxed) > 0;
}

int32_t broker_quota_record(broker_t *b, broker_quota_key_t key, const char *user,
                            const char *client_id, double amount, int64_t now_ms)
{
    struct broker_quotas *q = b->quotas;
    if (atomic_load_explicit(&q->nset[key], memory_order_relaxed) == 0)
        return 0;
    pthread_mutex_lock(&q->mu);
    double bound = NAN;
    int row = resolve_locked(q, key, user, client_id, &bound);
    int32_t throttle_ms = 0;
    if (row >= 0) {
        /* The metric tags: the user and/or client id the matching entity names. */
        buf_t k = {0};
        buf_append_u8(&k, (uint8_t)key);
        if (precedence[row][0] != BROKER_QE_ABSENT)
            buf_append(&k, user, strlen(user));
        buf_append_u8(&k, 0);
        if (precedence[row][1] != BROKER_QE_ABSENT)
            buf_append(&k, client_id, strlen(client_id));
        quota_rate_t *r = sensor_get(b, q, &k, now_ms);
        buf_deinit(&k);
        double total = rate_record(r, amount, now_ms);
        int64_t span_ms = rate_span_ms(r, now_ms);
        double rate = total * 1000.0 / (double)span_ms;
        if (rate > bound) {
            double t = (rate - bound) / bound * (double)span_ms;
            throttle_ms = (int32_t)WEIR_MIN(t + 0.5, (double)r->n * (double)r->window_ms);
#ifdef WEIR_FUZZ
            /* The fuzzer waits at most 10 s for an answer: a mute must end well before. */
            throttle_ms = WEIR_MIN(throttle_ms, 100);
#endif
        }
    }
    pthread_mutex_unlock(&q->mu);
    return throttle_ms;
}
