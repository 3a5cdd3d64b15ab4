/*
 * acl: the authorizer. Kafka's ACLs (resource pattern + principal, host, operation, ALLOW or
 * DENY), Kafka's decision rule, and their file <data>/acls.
 *
 * The decision (broker_acl_authorize) follows Kafka's StandardAuthorizer: a super user may do
 * anything; otherwise the ACLs that apply to the resource are the LITERAL ones on its name or
 * on "*" and the PREFIXED ones whose name starts the resource's name. Among those that match
 * the principal (or "User:*") and the host (or "*"), a DENY of the operation (or of ALL) wins;
 * else an ALLOW of the operation, of ALL, or of one that implies it (READ, WRITE, DELETE and
 * ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS) allows. When no ACL applies to
 * the resource at all, allow.everyone.if.no.acl.found decides.
 *
 * The table is kept sorted by (resource type, pattern type, name), so the ACLs of one resource
 * pattern are one run found by binary search: a check costs a few searches whatever the number
 * of ACLs (prefixed ones: a scan when they are few, else one search per prefix length).
 *
 * The file is text, one ACL a line (type, pattern, name, principal, host, operation,
 * permission; tab separated, the strings percent-escaped), after a first line "weir-acls 1
 * <crc32c of the lines that follow, hex>". Every change rewrites it whole (broker_file_replace:
 * temporary file, fdatasync, rename, directory fsync), so a crash leaves the old set or the new
 * one; a file that fails its check stops the broker from starting rather than run with ACLs
 * missing (which could allow what they deny).
 *
 * Invariant: lock guards the table; the file on disk holds what the table held after the last
 * change that returned 0. Checks take the read lock; changes the write lock.
 */
#include "broker/broker_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define ACLS_FILE       "acls"
#define ACLS_MAGIC      "weir-acls 1 "
#define ACLS_FILE_MAX   (256u << 20)
#define ACL_PREFIX_SCAN 32 /* prefixed ACLs of a type scanned one by one up to this many */
#define ACL_STR_MAX     4096

typedef struct {
    int8_t rtype, pattern, op, perm;
    char *name;
    size_t name_len;
    char *principal;
    char *host;
} acl_t;

struct broker_acls {
    pthread_rwlock_t lock;
    bool enabled;
    bool allow_everyone;
    char **supers;
    size_t nsupers;
    acl_t *v; /* sorted: acl_cmp */
    size_t n, cap;
    /* per resource type, the lengths of its PREFIXED names (bit k: some name of k bytes, up to
     * 255; plong: a longer one), so a check searches only prefixes that can match */
    uint64_t plen[8][4];
    bool plong[8];
    char *path, *dir;
};

/* ---- names ---------------------------------------------------------------------------------- */

static const char *const res_names[] = {
    "UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"};
static const char *const pat_names[] = {"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"};
static const char *const op_names[] = {"UNKNOWN",
                                       "ANY",
                                       "ALL",
                                       "READ",
                                       "WRITE",
                                       "CREATE",
                                       "DELETE",
                                       "ALTER",
                                       "DESCRIBE",
                                       "CLUSTER_ACTION",
                                       "DESCRIBE_CONFIGS",
                                       "ALTER_CONFIGS",
                                       "IDEMPOTENT_WRITE",
                                       "CREATE_TOKENS",
                                       "DESCRIBE_TOKENS"};
static const char *const perm_names[] = {"UNKNOWN", "ANY", "DENY", "ALLOW"};

#define NAME_OF(tab, v) ((v) >= 0 && (size_t)(v) < WEIR_ARRAY_LEN(tab) ? (tab)[v] : NULL)

const char *broker_acl_resource_name(int8_t v)
{
    return NAME_OF(res_names, v);
}
const char *broker_acl_pattern_name(int8_t v)
{
    return NAME_OF(pat_names, v);
}
const char *broker_acl_operation_name(int8_t v)
{
    return NAME_OF(op_names, v);
}
const char *broker_acl_permission_name(int8_t v)
{
    return NAME_OF(perm_names, v);
}

/* ---- the sorted table ----------------------------------------------------------------------- */

static int key_cmp(int8_t rtype, int8_t pattern, const char *name, size_t len, const acl_t *a)
{
    if (rtype != a->rtype)
        return rtype < a->rtype ? -1 : 1;
    if (pattern != a->pattern)
        return pattern < a->pattern ? -1 : 1;
    size_t m = len < a->name_len ? len : a->name_len;
    int c = m ? memcmp(name, a->name, m) : 0;
    if (c)
        return c;
    return len == a->name_len ? 0 : len < a->name_len ? -1 : 1;
}

static int acl_cmp(const void *x, const void *y)
{
    const acl_t *a = x, *b = y;
    int c = key_cmp(a->rtype, a->pattern, a->name, a->name_len, b);
    if (c)
        return c;
    if ((c = strcmp(a->principal, b->principal)) != 0)
        return c;
    if ((c = strcmp(a->host, b->host)) != 0)
        return c;
    if (a->op != b->op)
        return a->op < b->op ? -1 : 1;
    return a->perm == b->perm ? 0 : a->perm < b->perm ? -1 : 1;
}

/* The run [*lo, *hi) of ACLs on exactly this resource pattern. */
static void run_find(const struct broker_acls *t, int8_t rtype, int8_t pattern, const char *name,
                     size_t len, size_t *lo, size_t *hi)
{
    size_t a = 0, b = t->n;
    while (a < b) { /* first >= key */
        size_t mid = a + (b - a) / 2;
        if (key_cmp(rtype, pattern, name, len, &t->v[mid]) > 0)
            a = mid + 1;
        else
            b = mid;
    }
    *lo = a;
    while (a < t->n && key_cmp(rtype, pattern, name, len, &t->v[a]) == 0)
        a++;
    *hi = a;
}

/* The run of every ACL of one resource type and pattern type. */
static void run_of_type(const struct broker_acls *t, int8_t rtype, int8_t pattern, size_t *lo,
                        size_t *hi)
{
    size_t a = 0, b = t->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        const acl_t *m = &t->v[mid];
        if (m->rtype < rtype || (m->rtype == rtype && m->pattern < pattern))
            a = mid + 1;
        else
            b = mid;
    }
    *lo = a;
    b = t->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        const acl_t *m = &t->v[mid];
        if (m->rtype < rtype || (m->rtype == rtype && m->pattern <= pattern))
            a = mid + 1;
        else
            b = mid;
    }
    *hi = a;
}

/* ---- the decision --------------------------------------------------------------------------- */

typedef struct {
    const char *principal;
    const char *host;
    int8_t op;
    bool found; /* some ACL applies to the resource */
    bool allow, deny;
} verdict_t;

static bool op_implies(int8_t granted, int8_t op)
{
    if (granted == op || granted == KAFKA_ACL_OP_ALL)
        return true;
    if (op == KAFKA_ACL_OP_DESCRIBE)
        return granted == KAFKA_ACL_OP_READ || granted == KAFKA_ACL_OP_WRITE ||
               granted == KAFKA_ACL_OP_DELETE || granted == KAFKA_ACL_OP_ALTER;
    return op == KAFKA_ACL_OP_DESCRIBE_CONFIGS && granted == KAFKA_ACL_OP_ALTER_CONFIGS;
}

static void judge(const acl_t *a, verdict_t *vd)
{
    vd->found = true;
    if (strcmp(a->principal, vd->principal) != 0 && strcmp(a->principal, "User:*") != 0)
        return;
    if (strcmp(a->host, "*") != 0 && strcmp(a->host, vd->host) != 0)
        return;
    if (a->perm == KAFKA_ACL_PERM_DENY) /* a DENY is not widened by implication, as in Kafka */
        vd->deny |= a->op == vd->op || a->op == KAFKA_ACL_OP_ALL;
    else
        vd->allow |= op_implies(a->op, vd->op);
}

static void judge_run(const struct broker_acls *t, size_t lo, size_t hi, verdict_t *vd)
{
    for (size_t i = lo; i < hi && !vd->deny; i++)
        judge(&t->v[i], vd);
}

static bool has_prefix_len(const struct broker_acls *t, int8_t rtype, size_t k)
{
    if (rtype < 0 || rtype >= 8)
        return true;
    return k < 256 ? (t->plen[rtype][k >> 6] >> (k & 63)) & 1 : t->plong[rtype];
}

/* Recomputes plen and plong after a change (write lock held, or before sharing). */
static void index_prefix_lengths(struct broker_acls *t)
{
    memset(t->plen, 0, sizeof(t->plen));
    memset(t->plong, 0, sizeof(t->plong));
    for (size_t i = 0; i < t->n; i++) {
        const acl_t *a = &t->v[i];
        if (a->pattern != KAFKA_PATTERN_PREFIXED || a->rtype < 0 || a->rtype >= 8)
            continue;
        if (a->name_len < 256)
            t->plen[a->rtype][a->name_len >> 6] |= 1ull << (a->name_len & 63);
        else
            t->plong[a->rtype] = true;
    }
}

static void judge_prefixed(const struct broker_acls *t, int8_t rtype, const char *name, size_t len,
                           verdict_t *vd)
{
    size_t lo, hi;
    run_of_type(t, rtype, KAFKA_PATTERN_PREFIXED, &lo, &hi);
    if (hi - lo <= ACL_PREFIX_SCAN) {
        for (size_t i = lo; i < hi && !vd->deny; i++)
            if (t->v[i].name_len <= len && memcmp(t->v[i].name, name, t->v[i].name_len) == 0)
                judge(&t->v[i], vd);
        return;
    }
    for (size_t k = 1; k <= len && !vd->deny; k++) {
        if (!has_prefix_len(t, rtype, k))
            continue;
        size_t a, b;
        run_find(t, rtype, KAFKA_PATTERN_PREFIXED, name, k, &a, &b);
        judge_run(t, a, b, vd);
    }
}

static bool is_super(const struct broker_acls *t, const char *principal)
{
    for (size_t i = 0; i < t->nsupers; i++)
        if (strcmp(t->supers[i], principal) == 0)
            return true;
    return false;
}

bool broker_acl_enabled(const broker_t *b)
{
    return b->acls && b->acls->enabled;
}

bool broker_acl_authorize(broker_t *b, const char *principal, const char *host, int8_t rtype,
                          const char *name, size_t name_len, int8_t op)
{
    struct broker_acls *t = b->acls;
    if (!t || !t->enabled || is_super(t, principal))
        return true;
    verdict_t vd = {.principal = principal, .host = host, .op = op};
    pthread_rwlock_rdlock(&t->lock);
    size_t lo, hi;
    run_find(t, rtype, KAFKA_PATTERN_LITERAL, name, name_len, &lo, &hi);
    judge_run(t, lo, hi, &vd);
    if (!(name_len == 1 && name[0] == '*')) {
        run_find(t, rtype, KAFKA_PATTERN_LITERAL, "*", 1, &lo, &hi);
        judge_run(t, lo, hi, &vd);
    }
    if (!vd.deny)
        judge_prefixed(t, rtype, name, name_len, &vd);
    pthread_rwlock_unlock(&t->lock);
    if (vd.deny)
        return false;
    if (vd.allow)
        return true;
    return !vd.found && t->allow_everyone;
}

bool broker_acl_authorize_any(broker_t *b, const char *principal, const char *host, int8_t rtype,
                              int8_t op)
{
    struct broker_acls *t = b->acls;
    if (!t || !t->enabled || is_super(t, principal))
        return true;
    verdict_t vd = {.principal = principal, .host = host, .op = op};
    pthread_rwlock_rdlock(&t->lock);
    size_t lo, hi;
    run_find(t, rtype, KAFKA_PATTERN_LITERAL, "*", 1, &lo, &hi);
    judge_run(t, lo, hi, &vd); /* a DENY on every resource of the type */
    bool wildcard_deny = vd.deny;
    bool any = false;
    for (int8_t pat = KAFKA_PATTERN_LITERAL;
         pat <= KAFKA_PATTERN_PREFIXED && !wildcard_deny && !any; pat++) {
        run_of_type(t, rtype, pat, &lo, &hi);
        for (size_t i = lo; i < hi && !any; i++) {
            verdict_t one = {.principal = principal, .host = host, .op = op};
            judge(&t->v[i], &one);
            any = one.allow;
        }
    }
    bool none_at_all = t->n == 0;
    pthread_rwlock_unlock(&t->lock);
    if (wildcard_deny)
        return false;
    return any || (none_at_all && t->allow_everyone);
}

/* ---- checks and filters --------------------------------------------------------------------- */

static bool str_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= ACL_STR_MAX;
}

int16_t broker_acl_check(const broker_acl_t *a, const char **msg)
{
    if (a->resource_type <= KAFKA_RESOURCE_ANY || a->resource_type > KAFKA_RESOURCE_USER) {
        *msg = "Invalid resourceType";
        return KAFKA_INVALID_REQUEST;
    }
    if (a->pattern_type != KAFKA_PATTERN_LITERAL && a->pattern_type != KAFKA_PATTERN_PREFIXED) {
        *msg = "Invalid patternType";
        return KAFKA_INVALID_REQUEST;
    }
    if (a->operation <= KAFKA_ACL_OP_ANY || a->operation > KAFKA_ACL_OP_DESCRIBE_TOKENS) {
        *msg = "Invalid operation";
        return KAFKA_INVALID_REQUEST;
    }
    if (a->permission != KAFKA_ACL_PERM_ALLOW && a->permission != KAFKA_ACL_PERM_DENY) {
        *msg = "Invalid permissionType";
        return KAFKA_INVALID_REQUEST;
    }
    if (!a->resource_name || !str_ok(a->resource_name)) {
        *msg = "Resource name should not be empty";
        return KAFKA_INVALID_REQUEST;
    }
    const char *colon = a->principal ? strchr(a->principal, ':') : NULL;
    if (!colon || colon == a->principal || !colon[1] || !str_ok(a->principal)) {
        *msg = "Could not parse principal from `principal` (expected Type:name)";
        return KAFKA_INVALID_REQUEST;
    }
    if (!a->host || !str_ok(a->host)) {
        *msg = "Invalid null host";
        return KAFKA_INVALID_REQUEST;
    }
    return KAFKA_NONE;
}

static bool filter_matches_pattern(const broker_acl_t *f, const acl_t *a)
{
    if (f->resource_type != KAFKA_RESOURCE_ANY && f->resource_type != a->rtype)
        return false;
    if (f->pattern_type == KAFKA_PATTERN_MATCH) {
        if (!f->resource_name)
            return true;
        size_t len = strlen(f->resource_name);
        if (a->pattern == KAFKA_PATTERN_LITERAL)
            return strcmp(a->name, f->resource_name) == 0 || strcmp(a->name, "*") == 0;
        return a->name_len <= len && memcmp(a->name, f->resource_name, a->name_len) == 0;
    }
    if (f->pattern_type != KAFKA_PATTERN_ANY && f->pattern_type != a->pattern)
        return false;
    return !f->resource_name || strcmp(f->resource_name, a->name) == 0;
}

static bool filter_matches(const broker_acl_t *f, const acl_t *a)
{
    return filter_matches_pattern(f, a) &&
           (!f->principal || strcmp(f->principal, a->principal) == 0) &&
           (!f->host || strcmp(f->host, a->host) == 0) &&
           (f->operation == KAFKA_ACL_OP_ANY || f->operation == a->op) &&
           (f->permission == KAFKA_ACL_PERM_ANY || f->permission == a->perm);
}

static void acl_copy_out(const acl_t *a, broker_acl_t *o)
{
    o->resource_type = a->rtype;
    o->pattern_type = a->pattern;
    o->resource_name = weir_strdup(a->name);
    o->principal = weir_strdup(a->principal);
    o->host = weir_strdup(a->host);
    o->operation = a->op;
    o->permission = a->perm;
}

void broker_acls_free(broker_acl_t *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free((char *)v[i].resource_name);
        free((char *)v[i].principal);
        free((char *)v[i].host);
    }
    free(v);
}

static void acl_deinit(acl_t *a)
{
    free(a->name);
    free(a->principal);
    free(a->host);
}

static void acl_from(const broker_acl_t *in, acl_t *a)
{
    a->rtype = in->resource_type;
    a->pattern = in->pattern_type;
    a->op = in->operation;
    a->perm = in->permission;
    a->name = weir_strdup(in->resource_name);
    a->name_len = strlen(a->name);
    a->principal = weir_strdup(in->principal);
    a->host = weir_strdup(in->host);
}

/* ---- the file ------------------------------------------------------------------------------- */

static void put_escaped(buf_t *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x21 || c == '%' || c == 0x7f)
            buf_printf(out, "%%%02x", c);
        else
            buf_append_u8(out, c);
    }
}

static int unescape(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p != '%') {
            *w++ = *p;
            continue;
        }
        unsigned v;
        if (!p[1] || !p[2] || sscanf(p + 1, "%2x", &v) != 1 || v == 0)
            return -WEIR_ECORRUPT;
        *w++ = (char)v;
        p += 2;
    }
    *w = '\0';
    return 0;
}

static void acls_serialize(const struct broker_acls *t, buf_t *out)
{
    buf_t body = {0};
    for (size_t i = 0; i < t->n; i++) {
        const acl_t *a = &t->v[i];
        buf_printf(&body, "%d\t%d\t", a->rtype, a->pattern);
        put_escaped(&body, a->name);
        buf_append_u8(&body, '\t');
        put_escaped(&body, a->principal);
        buf_append_u8(&body, '\t');
        put_escaped(&body, a->host);
        buf_printf(&body, "\t%d\t%d\n", a->op, a->perm);
    }
    broker_file_lines_head(out, ACLS_MAGIC, &body);
    buf_deinit(&body);
}

static int acls_add_line(struct broker_acls *t, char *line)
{
    char *f[7];
    if (broker_file_fields(line, f, 7) != 7 || unescape(f[2]) < 0 || unescape(f[3]) < 0 ||
        unescape(f[4]) < 0)
        return -WEIR_ECORRUPT;
    broker_acl_t in = {.resource_type = (int8_t)atoi(f[0]),
                       .pattern_type = (int8_t)atoi(f[1]),
                       .resource_name = f[2],
                       .principal = f[3],
                       .host = f[4],
                       .operation = (int8_t)atoi(f[5]),
                       .permission = (int8_t)atoi(f[6])};
    const char *msg;
    if (broker_acl_check(&in, &msg) != KAFKA_NONE || t->n >= BROKER_ACLS_MAX)
        return -WEIR_ECORRUPT;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = weir_realloc(t->v, t->cap * sizeof(*t->v));
    }
    acl_from(&in, &t->v[t->n++]);
    return 0;
}

static int acls_line(void *arg, char *line)
{
    return acls_add_line(arg, line);
}

static int acls_parse(struct broker_acls *t, char *p, size_t len)
{
    int rc = broker_file_lines_parse(p, len, ACLS_MAGIC, acls_line, t);
    if (rc < 0)
        return rc;
    if (t->n)
        qsort(t->v, t->n, sizeof(*t->v), acl_cmp);
    index_prefix_lengths(t);
    return 0;
}

static int acls_persist(struct broker_acls *t)
{
    buf_t b = {0};
    acls_serialize(t, &b);
    int rc = broker_file_replace(t->dir, t->path, b.data, b.len);
    buf_deinit(&b);
    return rc;
}

/* ---- settings and life ---------------------------------------------------------------------- */

static int parse_settings(broker_t *b, struct broker_acls *t)
{
    const char *cls = b->set.sval[BCFG_AUTHORIZER_CLASS_NAME];
    if (cls && *cls) {
        if (strcmp(cls, "org.apache.kafka.metadata.authorizer.StandardAuthorizer") != 0 &&
            strcmp(cls, "kafka.security.authorizer.AclAuthorizer") != 0) {
            log_error("broker",
                      "authorizer.class.name=%s: Weir's authorizer answers to "
                      "org.apache.kafka.metadata.authorizer.StandardAuthorizer or "
                      "kafka.security.authorizer.AclAuthorizer only",
                      cls);
            return -WEIR_EINVAL;
        }
        t->enabled = true;
    }
    t->allow_everyone = broker_settings_int(&b->set, BCFG_ALLOW_EVERYONE_IF_NO_ACL_FOUND) == 1;
    const char *su = b->set.sval[BCFG_SUPER_USERS];
    for (const char *p = su; p && *p;) {
        const char *e = strchr(p, ';');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n) {
            t->supers = weir_realloc(t->supers, (t->nsupers + 1) * sizeof(*t->supers));
            char *s = weir_malloc(n + 1);
            memcpy(s, p, n);
            s[n] = '\0';
            t->supers[t->nsupers++] = s;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

int broker_acls_open(broker_t *b)
{
    struct broker_acls *t = weir_calloc(1, sizeof(*t));
    pthread_rwlock_init(&t->lock, NULL);
    t->dir = weir_strdup(b->data_dir);
    buf_t path = {0};
    buf_printf(&path, "%s/%s", b->data_dir, ACLS_FILE);
    buf_append_u8(&path, 0);
    t->path = (char *)path.data;
    b->acls = t;
    int rc = parse_settings(b, t);
    if (rc < 0)
        return rc;
    buf_t data = {0};
    rc = broker_file_read(t->path, ACLS_FILE_MAX, &data);
    if (rc == 0)
        rc = acls_parse(t, (char *)data.data, data.len);
    buf_deinit(&data);
    if (rc == -WEIR_ENOENT)
        rc = 0;
    if (rc < 0)
        log_error("broker",
                  "%s fails its check (%s): refusing to start without the ACLs it should hold",
                  t->path, weir_strerror(rc));
    else if (t->enabled)
        log_info("broker", "authorizer on: %zu ACL(s), %zu super user(s)", t->n, t->nsupers);
    return rc;
}

void broker_acls_free_all(broker_t *b)
{
    struct broker_acls *t = b->acls;
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        acl_deinit(&t->v[i]);
    free(t->v);
    for (size_t i = 0; i < t->nsupers; i++)
        free(t->supers[i]);
    free(t->supers);
    free(t->path);
    free(t->dir);
    pthread_rwlock_destroy(&t->lock);
    free(t);
    b->acls = NULL;
}

/* ---- changes -------------------------------------------------------------------------------- */

static bool table_has(const struct broker_acls *t, const acl_t *a)
{
    return t->n && bsearch(a, t->v, t->n, sizeof(*t->v), acl_cmp) != NULL;
}

int broker_acls_create(broker_t *b, const broker_acl_t *acls, size_t n)
{
    struct broker_acls *t = b->acls;
    /* The new bindings sorted, without duplicates among themselves or with the table's (Kafka
     * answers success for a binding that exists): O(n log n) for a request of many. */
    acl_t *add = weir_calloc(n ? n : 1, sizeof(*add));
    for (size_t i = 0; i < n; i++)
        acl_from(&acls[i], &add[i]);
    if (n)
        qsort(add, n, sizeof(*add), acl_cmp);
    pthread_rwlock_wrlock(&t->lock);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if ((k && acl_cmp(&add[k - 1], &add[i]) == 0) || table_has(t, &add[i]))
            acl_deinit(&add[i]);
        else
            add[k++] = add[i];
    }
    int rc = 0;
    if (t->n + k > BROKER_ACLS_MAX) {
        rc = -WEIR_ETOOBIG;
    } else if (k) {
        acl_t *old = t->v;
        acl_t *v = weir_malloc((t->n + k) * sizeof(*v));
        if (t->n)
            memcpy(v, old, t->n * sizeof(*v));
        memcpy(v + t->n, add, k * sizeof(*v));
        qsort(v, t->n + k, sizeof(*v), acl_cmp);
        t->v = v;
        t->n += k;
        t->cap = t->n;
        rc = acls_persist(t);
        if (rc < 0) { /* the table keeps matching the file */
            t->v = old;
            t->n -= k;
            t->cap = t->n;
            free(v);
        } else {
            free(old);
        }
        index_prefix_lengths(t);
    }
    pthread_rwlock_unlock(&t->lock);
    if (rc < 0)
        for (size_t i = 0; i < k; i++)
            acl_deinit(&add[i]);
    free(add);
    return rc;
}

size_t broker_acls_describe(broker_t *b, const broker_acl_t *filter, broker_acl_t **out)
{
    struct broker_acls *t = b->acls;
    pthread_rwlock_rdlock(&t->lock);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += filter_matches(filter, &t->v[i]);
    broker_acl_t *v = weir_calloc(n ? n : 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (filter_matches(filter, &t->v[i]))
            acl_copy_out(&t->v[i], &v[k++]);
    pthread_rwlock_unlock(&t->lock);
    *out = v;
    return n;
}

int broker_acls_delete(broker_t *b, const broker_acl_t *filters, size_t nf, broker_acl_t **out,
                       size_t *nout)
{
    struct broker_acls *t = b->acls;
    pthread_rwlock_wrlock(&t->lock);
    bool *gone = weir_calloc(t->n ? t->n : 1, sizeof(*gone));
    size_t ngone = 0;
    for (size_t f = 0; f < nf; f++) {
        size_t k = 0;
        for (size_t i = 0; i < t->n; i++)
            k += filter_matches(&filters[f], &t->v[i]);
        out[f] = weir_calloc(k ? k : 1, sizeof(**out));
        nout[f] = 0;
        for (size_t i = 0; i < t->n; i++) {
            if (!filter_matches(&filters[f], &t->v[i]))
                continue;
            acl_copy_out(&t->v[i], &out[f][nout[f]++]);
            ngone += !gone[i];
            gone[i] = true;
        }
    }
    int rc = 0;
    if (ngone) {
        acl_t *kept = weir_malloc((t->n - ngone + 1) * sizeof(*kept));
        size_t nk = 0;
        for (size_t i = 0; i < t->n; i++)
            if (!gone[i])
                kept[nk++] = t->v[i];
        acl_t *old = t->v;
        size_t old_n = t->n;
        t->v = kept;
        t->n = nk;
        t->cap = nk + 1;
        rc = acls_persist(t);
        if (rc < 0) {
            free(kept);
            t->v = old;
            t->n = t->cap = old_n;
        } else {
            for (size_t i = 0; i < old_n; i++)
                if (gone[i])
                    acl_deinit(&old[i]);
            free(old);
        }
        index_prefix_lengths(t);
    }
    free(gone);
    pthread_rwlock_unlock(&t->lock);
    if (rc < 0)
        for (size_t f = 0; f < nf; f++) {
            broker_acls_free(out[f], nout[f]);
            out[f] = NULL;
            nout[f] = 0;
        }
    return rc;
}
