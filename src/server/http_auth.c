/*
 * http_auth: authentication and authorization of the HTTP listener, in two tables read together.
 *
 * Authentication: the Authorization header's scheme picks one row of `schemes`: Basic checks
 * the user's password against the stored SCRAM credential (broker_user_check_password, the
 * check SASL PLAIN makes), so a user made with `weir user create` or AlterUserScramCredentials
 * logs in; Bearer checks a JWT with auth_jwt_verify against the configuration SASL OAUTHBEARER
 * uses (sasl.oauthbearer.*: the JWKS, issuer, audience, principal claim, clock skew), whose
 * principal claim names the user. The principal is Kafka's: "User:<name>"; on HTTPS with a
 * verified client certificate and no Authorization header, "User:<the name
 * ssl.principal.mapping.rules give its subject>", as on Kafka's SSL listeners (no rule
 * matching is a failed authentication: 401). A missing or wrong credential gets 401 with a
 * WWW-Authenticate challenge per enabled scheme.
 *
 * Authorization, when an authorizer is configured (broker_acl_enabled): the first row of
 * `rules` whose method and path match names what the route asks, as Kafka's own APIs ask it
 * (src/kafka/authz.c); every check of the row must pass, else 403 naming the operation and the
 * resource. A route without a row is for super users only (CLUSTER: ALTER), so a route added
 * later is closed until it gets its row. The schema registry's subjects map to the topic they
 * describe (Confluent's TopicNameStrategy: "orders-value" and "orders-key" are the topic
 * "orders"; another subject is the topic of its own name).
 *
 * Open: /health, the console's static files (they hold no data: its API calls are admin API
 * calls) and, with weir.http.metrics.open, GET /metrics.
 */
#include "server/http_auth.h"

#include "kafka/wire/wire.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

enum { CREDENTIAL_MAX = 1024, PW_CACHE_SLOTS = 64, PW_MAC_BYTES = 32 };

/* A password found right: PBKDF2 takes about 1.5 ms by design, and an HTTP client sends its
 * password with every request. The slot keeps HMAC(key, password), never the password, and the
 * user's StoredKeys as they were before the check: a credential changed or removed since then
 * does not match, so the slot is only a hit while the password is still right. */
typedef struct {
    bool used;
    char user[256];
    uint8_t mac[PW_MAC_BYTES];
    bool has[AUTH_SCRAM__COUNT];
    uint8_t stored[AUTH_SCRAM__COUNT][AUTH_KEY_MAX];
} pw_slot_t;

struct server_http_auth {
    broker_t *b;
    unsigned methods; /* SERVER_HTTP_AUTH_* */
    bool metrics_open;
    pthread_mutex_t cache_mu;       /* the slots */
    uint8_t cache_key[32];          /* random, per process */
    bool cache_on;                  /* false when no random key could be had */
    server_http_peer_dn_fn peer_dn; /* NULL: no client certificates (plain HTTP) */
    void *peer_dn_arg;
    auth_principal_map_t *principal_map; /* owned; NULL: the subject unchanged */
    const auth_jwt_config_t *jwt;        /* Bearer tokens; NULL: none accepted */
    pw_slot_t cache[PW_CACHE_SLOTS];
};

/* ---- authentication: one row per scheme ------------------------------------------------------
 */

/* Checks the credential (the header after "<scheme> "): 0 with the principal, or -1 with the
 * reason a client may be told. */
typedef int (*scheme_fn)(server_http_auth_t *a, const char *cred, char *principal, size_t pcap,
                         char *why, size_t wcap);

/* The user's credentials as they are now (their StoredKeys) into slot. */
static void creds_snapshot(server_http_auth_t *a, const char *user, pw_slot_t *slot)
{
    for (int m = 0; m < AUTH_SCRAM__COUNT; m++) {
        auth_scram_cred_t cred;
        slot->has[m] = broker_user_scram_get(a->b, user, (auth_mech_t)m, &cred) == 0;
        memset(slot->stored[m], 0, AUTH_KEY_MAX);
        if (slot->has[m])
            memcpy(slot->stored[m], cred.stored_key, auth_scram_key_len((auth_mech_t)m));
    }
}

static pw_slot_t *cache_slot(server_http_auth_t *a, const char *user)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = user; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &a->cache[h % PW_CACHE_SLOTS];
}

/* Whether password was found right for user, whose credentials have not changed since. */
static bool cache_hit(server_http_auth_t *a, const char *user, const uint8_t *mac)
{
    pw_slot_t seen, now;
    pthread_mutex_lock(&a->cache_mu);
    seen = *cache_slot(a, user);
    pthread_mutex_unlock(&a->cache_mu);
    if (!seen.used || strcmp(seen.user, user) != 0 ||
        CRYPTO_memcmp(seen.mac, mac, PW_MAC_BYTES) != 0)
        return false;
    creds_snapshot(a, user, &now);
    return memcmp(seen.has, now.has, sizeof(now.has)) == 0 &&
           memcmp(seen.stored, now.stored, sizeof(now.stored)) == 0;
}

/* The password check, through the cache. 0, -WEIR_ENOENT (unknown user), -WEIR_EINVAL. */
static int check_password(server_http_auth_t *a, const char *user, const char *password)
{
    uint8_t mac[PW_MAC_BYTES] = {0};
    unsigned mac_len = 0;
    if (a->cache_on)
        HMAC(EVP_sha256(), a->cache_key, sizeof(a->cache_key), (const uint8_t *)password,
             strlen(password), mac, &mac_len);
    if (mac_len == PW_MAC_BYTES && cache_hit(a, user, mac))
        return 0;
    pw_slot_t fresh = {.used = true};
    snprintf(fresh.user, sizeof(fresh.user), "%.255s", user);
    memcpy(fresh.mac, mac, PW_MAC_BYTES);
    creds_snapshot(a, user, &fresh); /* before the check: a change in between only misses */
    int rc = broker_user_check_password(a->b, user, password, strlen(password));
    if (rc == 0 && mac_len == PW_MAC_BYTES) {
        pthread_mutex_lock(&a->cache_mu);
        *cache_slot(a, user) = fresh;
        pthread_mutex_unlock(&a->cache_mu);
    }
    return rc;
}

/* "Basic base64(user:password)" (RFC 7617), checked against the user's SCRAM credential. */
static int scheme_basic(server_http_auth_t *a, const char *cred, char *principal, size_t pcap,
                        char *why, size_t wcap)
{
    uint8_t raw[CREDENTIAL_MAX];
    size_t n = strlen(cred);
    int len = n < CREDENTIAL_MAX ? base64_decode(cred, n, raw, sizeof(raw) - 1) : -WEIR_ETOOBIG;
    if (len < 0) {
        snprintf(why, wcap, "the Basic credential is not base64 of 'user:password'");
        return -1;
    }
    raw[len] = '\0';
    char *colon = memchr(raw, ':', (size_t)len);
    if (!colon || memchr(raw, '\0', (size_t)len)) {
        snprintf(why, wcap, "the Basic credential is not base64 of 'user:password'");
        return -1;
    }
    *colon = '\0';
    const char *user = (const char *)raw, *password = colon + 1;
    int rc = broker_user_name_ok(user) ? check_password(a, user, password) : -WEIR_ENOENT;
    OPENSSL_cleanse(colon + 1, strlen(password)); /* the password goes no further */
    if (rc < 0) {
        log_warn("http", "HTTP Basic authentication failed for user '%.64s': %s", user,
                 rc == -WEIR_ENOENT ? "unknown user" : "wrong password");
        snprintf(why, wcap, "authentication failed: unknown user or wrong password");
        return -1;
    }
    snprintf(principal, pcap, "User:%s", user);
    return 0;
}

/* "Bearer <JWT>": verified as SASL OAUTHBEARER's tokens are; the principal claim names the
 * user. */
static int scheme_bearer(server_http_auth_t *a, const char *cred, char *principal, size_t pcap,
                         char *why, size_t wcap)
{
    if (!a->jwt) {
        snprintf(why, wcap, "bearer tokens are not configured");
        return -1;
    }
    char name[AUTH_USER_MAX + 1], err[256];
    int64_t expires_ms;
    if (auth_jwt_verify(a->jwt, cred, strlen(cred), clock_wall_ms(), name, sizeof(name),
                        &expires_ms, err, sizeof(err)) < 0) {
        log_warn_limited("http", "HTTP Bearer authentication failed: %s", err);
        snprintf(why, wcap, "invalid bearer token: %s", err);
        return -1;
    }
    snprintf(principal, pcap, "User:%s", name);
    return 0;
}

static const struct {
    const char *name; /* as in the header, matched case-insensitively */
    const char *method_name;
    unsigned bit;
    scheme_fn fn;
} schemes[] = {
    {"Basic", "BASIC", SERVER_HTTP_AUTH_BASIC, scheme_basic},
    {"Bearer", "BEARER", SERVER_HTTP_AUTH_BEARER, scheme_bearer},
};

int server_http_auth_methods(const char *list, unsigned *out, char *err, size_t err_len)
{
    *out = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n == 0)
            break;
        size_t i = 0;
        while (i < WEIR_ARRAY_LEN(schemes) && (strlen(schemes[i].method_name) != n ||
                                               strncasecmp(p, schemes[i].method_name, n) != 0))
            i++;
        if (i == WEIR_ARRAY_LEN(schemes)) {
            snprintf(err, err_len,
                     "weir.http.authentication.methods: '%.*s' is not BASIC or BEARER", (int)n, p);
            return -WEIR_EINVAL;
        }
        *out |= schemes[i].bit;
        p += n;
    }
    return 0;
}

/* ---- authorization: one row per route ----------------------------------------------------------
 */

/* Where a check's resource name comes from. */
enum {
    NAME_CLUSTER,    /* kafka-cluster */
    NAME_SEG,        /* the path's first '*' segment */
    NAME_SUBJECT,    /* that segment, a registry subject: its topic */
    NAME_REDRIVE,    /* that segment's redrive progress group "weir-redrive.<dlq>" */
    NAME_BODY_TOPIC, /* the JSON body's "name" (a topic to create) */
};

typedef struct {
    int8_t rtype;    /* KAFKA_RESOURCE_*; 0 ends the list */
    int8_t op;       /* KAFKA_ACL_OP_* */
    uint8_t name;    /* NAME_* */
    bool or_cluster; /* also passes with op on the cluster (Kafka's CreateTopics) */
} authz_check_t;

enum { CHECKS_MAX = 3 };

typedef struct {
    const char *method;  /* NULL: any */
    const char *pattern; /* segments; "*" is one (the first is the name), a final "**" the rest */
    authz_check_t checks[CHECKS_MAX]; /* none: any authenticated principal */
} authz_rule_t;

#define TOPIC(op, name)                                                                            \
    {                                                                                              \
        KAFKA_RESOURCE_TOPIC, KAFKA_ACL_OP_##op, name, false                                       \
    }
#define GROUP(op, name)                                                                            \
    {                                                                                              \
        KAFKA_RESOURCE_GROUP, KAFKA_ACL_OP_##op, name, false                                       \
    }
#define CLUSTER(op)                                                                                \
    {                                                                                              \
        KAFKA_RESOURCE_CLUSTER, KAFKA_ACL_OP_##op, NAME_CLUSTER, false                             \
    }

static const authz_rule_t rules[] = {
    /* the admin API (docs/admin-api.md), and through it the console */
    {"GET", "/api/v1/openapi.json", {{0}}},
    {"GET", "/api/v1/broker", {CLUSTER(DESCRIBE)}},
    {"GET", "/api/v1/topics", {{0}}}, /* lists what the principal may DESCRIBE (admin_may) */
    {"POST",
     "/api/v1/topics",
     {{KAFKA_RESOURCE_TOPIC, KAFKA_ACL_OP_CREATE, NAME_BODY_TOPIC, true}}},
    {"GET", "/api/v1/topics/*", {TOPIC(DESCRIBE, NAME_SEG)}},
    {"DELETE", "/api/v1/topics/*", {TOPIC(DELETE, NAME_SEG)}},
    {"GET", "/api/v1/topics/*/configs", {TOPIC(DESCRIBE_CONFIGS, NAME_SEG)}},
    {"PATCH", "/api/v1/topics/*/configs", {TOPIC(ALTER_CONFIGS, NAME_SEG)}},
    {"GET", "/api/v1/topics/*/partitions", {TOPIC(DESCRIBE, NAME_SEG)}},
    {"POST", "/api/v1/topics/*/partitions", {TOPIC(ALTER, NAME_SEG)}},
    {"GET", "/api/v1/topics/*/messages", {TOPIC(READ, NAME_SEG)}},
    /* the event store's reads (docs/event-store.md): a key's versions and records */
    {"GET", "/api/v1/topics/*/key-offset", {TOPIC(READ, NAME_SEG)}},
    {"GET", "/api/v1/topics/*/key-offsets", {TOPIC(READ, NAME_SEG)}},
    {"GET", "/api/v1/topics/*/key-records", {TOPIC(READ, NAME_SEG)}},
    {"POST", "/api/v1/topics/*/messages", {TOPIC(WRITE, NAME_SEG)}},
    {"GET", "/api/v1/groups", {{0}}}, /* lists the groups it may DESCRIBE */
    {"GET", "/api/v1/groups/*", {GROUP(DESCRIBE, NAME_SEG)}},
    {"DELETE", "/api/v1/groups/*", {GROUP(DELETE, NAME_SEG)}},
    /* and READ on each topic it resets, checked by the handler (admin_may) */
    {"POST", "/api/v1/groups/*/offsets/reset", {GROUP(READ, NAME_SEG)}},
    {"GET", "/api/v1/dlq", {{0}}}, /* lists the DLQ topics it may DESCRIBE */
    {"GET", "/api/v1/dlq/*/records", {TOPIC(READ, NAME_SEG)}},
    /* and WRITE on each record's origin topic, checked by the redrive (admin_may) */
    {"POST", "/api/v1/dlq/*/redrive", {TOPIC(READ, NAME_SEG), GROUP(READ, NAME_REDRIVE)}},
    /* read the saga state topics it may READ (admin_may): ?topic=T is refused otherwise */
    {"GET", "/api/v1/sagas", {{0}}},
    {"GET", "/api/v1/sagas/*", {{0}}},
    {"GET", "/api/v1/traces/**", {CLUSTER(DESCRIBE)}},
    /* the metrics and the OTLP receiver (spans are telemetry: any authenticated service) */
    {"GET", "/metrics", {CLUSTER(DESCRIBE)}},
    {"POST", "/v1/traces", {{0}}},
    /* the schema registry (docs/schemas.md) */
    {"GET", "/subjects", {{0}}}, /* lists the subjects of topics it may DESCRIBE */
    {"GET", "/subjects/*/**", {TOPIC(DESCRIBE, NAME_SUBJECT)}},
    {"POST", "/subjects/*/versions", {TOPIC(WRITE, NAME_SUBJECT)}},
    {"POST", "/subjects/*", {TOPIC(DESCRIBE, NAME_SUBJECT)}},
    {"DELETE", "/subjects/*/**", {TOPIC(ALTER, NAME_SUBJECT)}},
    {"POST", "/compatibility/subjects/*/**", {TOPIC(DESCRIBE, NAME_SUBJECT)}},
    {"GET", "/schemas", {{0}}},    /* lists the schemas of subjects of topics it may DESCRIBE */
    {"GET", "/schemas/**", {{0}}}, /* by id; lists of its subjects filtered as /subjects */
    {"GET", "/config", {CLUSTER(DESCRIBE_CONFIGS)}},
    {"GET", "/mode", {CLUSTER(DESCRIBE_CONFIGS)}},
    {"GET", "/config/*", {TOPIC(DESCRIBE_CONFIGS, NAME_SUBJECT)}},
    {"GET", "/mode/*", {TOPIC(DESCRIBE_CONFIGS, NAME_SUBJECT)}},
    {NULL, "/config/*", {TOPIC(ALTER_CONFIGS, NAME_SUBJECT)}},
    {NULL, "/mode/*", {TOPIC(ALTER_CONFIGS, NAME_SUBJECT)}},
    {NULL, "/config", {CLUSTER(ALTER_CONFIGS)}},
    {NULL, "/mode", {CLUSTER(ALTER_CONFIGS)}},
    {"GET", "/contexts", {CLUSTER(DESCRIBE)}},
    /* anything else: super users only */
    {NULL, "/**", {CLUSTER(ALTER)}},
};

/* Whether path matches pattern; *seg (not NUL-terminated, *seg_len bytes) is the first '*'. */
static bool path_match(const char *pattern, const char *path, const char **seg, size_t *seg_len)
{
    *seg = NULL;
    *seg_len = 0;
    const char *p = pattern, *s = path;
    while (*p == '/' && *s == '/') {
        p++;
        s++;
        size_t pn = strcspn(p, "/"), sn = strcspn(s, "/");
        if (pn == 2 && p[0] == '*' && p[1] == '*')
            return true; /* the rest, whatever it is */
        if (pn == 1 && p[0] == '*') {
            if (sn == 0)
                return false;
            if (!*seg) {
                *seg = s;
                *seg_len = sn;
            }
        } else if (pn != sn || memcmp(p, s, pn) != 0) {
            return false;
        }
        p += pn;
        s += sn;
    }
    /* a final double star also matches nothing more; a trailing slash is ignored */
    return (*p == '\0' && (*s == '\0' || (s[0] == '/' && s[1] == '\0'))) ||
           (*s == '\0' && strcmp(p, "/**") == 0);
}

static const authz_rule_t *rule_find(const http_request_t *req, const char **seg, size_t *seg_len)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(rules); i++)
        if ((!rules[i].method || strcmp(rules[i].method, req->method) == 0) &&
            path_match(rules[i].pattern, req->path, seg, seg_len))
            return &rules[i];
    WEIR_ASSERT(false); /* the last rule matches every path */
    return NULL;
}

/* A registry subject's topic, in place: Confluent's TopicNameStrategy names "<topic>-value" and
 * "<topic>-key"; another subject is the topic of its own name. */
static void subject_topic(char *name)
{
    static const char *const suffixes[] = {"-value", "-key"};
    size_t n = strlen(name);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(suffixes); i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0) {
            name[n - k] = '\0';
            return;
        }
    }
}

/* The check's resource name into out (NUL-terminated, truncated at cap). */
static void check_name(const authz_check_t *c, const http_request_t *req, const char *seg,
                       size_t seg_len, char *out, size_t cap)
{
    size_t n = WEIR_MIN(seg_len, cap - 1);
    out[0] = '\0';
    switch (c->name) {
    case NAME_CLUSTER:
        snprintf(out, cap, "%s", BROKER_ACL_CLUSTER_NAME);
        return;
    case NAME_REDRIVE:
        snprintf(out, cap, "weir-redrive.%.*s", (int)seg_len, seg);
        return;
    case NAME_BODY_TOPIC: {
        json_t *body = json_loadb((const char *)req->body, req->body_len, 0, NULL);
        const char *name = json_string_value(json_object_get(body, "name"));
        snprintf(out, cap, "%s", name ? name : "");
        json_decref(body);
        return;
    }
    default:
        break;
    }
    memcpy(out, seg, n);
    out[n] = '\0';
    if (c->name == NAME_SUBJECT)
        subject_topic(out);
}

/* True when every check of the request's rule passes; else *denied says which did not and
 * name holds its resource. */
static bool authorize(server_http_auth_t *a, const http_request_t *req, const char *principal,
                      const authz_check_t **denied, char *name, size_t cap)
{
    if (!broker_acl_enabled(a->b))
        return true;
    char host[64];
    http_request_peer_host(req, host, sizeof(host));
    const char *seg;
    size_t seg_len;
    const authz_rule_t *r = rule_find(req, &seg, &seg_len);
    const char *cluster = BROKER_ACL_CLUSTER_NAME;
    for (int i = 0; i < CHECKS_MAX && r->checks[i].rtype; i++) {
        const authz_check_t *c = &r->checks[i];
        if (c->or_cluster && broker_acl_authorize(a->b, principal, host, KAFKA_RESOURCE_CLUSTER,
                                                  cluster, strlen(cluster), c->op))
            continue;
        check_name(c, req, seg, seg_len, name, cap);
        if (!broker_acl_authorize(a->b, principal, host, c->rtype, name, strlen(name), c->op)) {
            *denied = c;
            return false;
        }
    }
    return true;
}

/* ---- the hook -----------------------------------------------------------------------------------
 */

static bool is_open(const server_http_auth_t *a, const http_request_t *req)
{
    const char *p = req->path;
    return strcmp(p, "/health") == 0 || strcmp(p, "/") == 0 || strcmp(p, "/ui") == 0 ||
           strncmp(p, "/ui/", 4) == 0 || (a->metrics_open && strcmp(p, "/metrics") == 0);
}

static bool is_registry_path(const char *p)
{
    static const char *const roots[] = {"/subjects", "/schemas",       "/config",
                                        "/mode",     "/compatibility", "/contexts"};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(roots); i++) {
        size_t n = strlen(roots[i]);
        if (strncmp(p, roots[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
            return true;
    }
    return false;
}

/* 401 or 403 in the shape of the path's owner: the registry's {"error_code","message"}
 * (Confluent's 40101 / 40301), the admin API's {"error","message"}. */
static void refuse(const http_request_t *req, http_response_t *resp, int status, const char *msg)
{
    resp->status = status;
    json_t *j = is_registry_path(req->path)
                    ? json_pack("{s:i, s:s}", "error_code", status * 100 + 1, "message", msg)
                    : json_pack("{s:s, s:s}", "error", status == 401 ? "unauthorized" : "forbidden",
                                "message", msg);
    char *s = json_dumps(j, JSON_COMPACT);
    buf_reset(&resp->body);
    buf_append_str(&resp->body, s ? s : "{}");
    buf_append_str(&resp->body, "\n");
    free(s);
    json_decref(j);
}

static bool unauthorized(server_http_auth_t *a, const http_request_t *req, http_response_t *resp,
                         const char *msg)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(schemes); i++) {
        if (!(a->methods & schemes[i].bit))
            continue;
        char challenge[64];
        snprintf(challenge, sizeof(challenge), "%s realm=\"weir\"", schemes[i].name);
        http_response_header(resp, "WWW-Authenticate", challenge);
    }
    refuse(req, resp, 401, msg);
    return false;
}

/* The principal of a verified client certificate's subject dn, as on Kafka's SSL listeners:
 * User:<the name the mapping rules give it>. 0, or -1 with the 401 answered when no rule
 * matches (Kafka fails the authentication) or the name is too long for a principal. */
static int cert_principal(server_http_auth_t *a, const http_request_t *req, http_response_t *resp,
                          const char *dn, char *principal, size_t pcap)
{
    buf_t p = {0};
    buf_printf(&p, "User:");
    int rc = a->principal_map ? auth_principal_map_apply(a->principal_map, dn, &p) : 0;
    if (!a->principal_map)
        buf_printf(&p, "%s", dn);
    if (rc == 0 && p.len >= pcap)
        rc = -WEIR_EINVAL;
    if (rc < 0) {
        char host[64];
        http_request_peer_host(req, host, sizeof(host));
        log_warn("http", "%s: TLS client certificate '%.300s': %s (failed authentication)", host,
                 dn,
                 rc == -WEIR_ENOENT ? "no ssl.principal.mapping.rules rule matches its subject"
                                    : "its subject or mapped name is too long");
        buf_deinit(&p);
        unauthorized(a, req, resp,
                     rc == -WEIR_ENOENT ? "no ssl.principal.mapping.rules rule matches the "
                                          "client certificate's subject"
                                        : "the client certificate's subject is too long");
        return -1;
    }
    memcpy(principal, p.data, p.len);
    principal[p.len] = '\0';
    buf_deinit(&p);
    return 0;
}

/* The principal of the request's credential: 0, or -1 with the 401 answered. */
static int authenticate(server_http_auth_t *a, const http_request_t *req, http_response_t *resp,
                        char *principal, size_t pcap)
{
    const char *h = http_request_header(req, "Authorization");
    char why[256];
    for (size_t i = 0; h && i < WEIR_ARRAY_LEN(schemes); i++) {
        size_t n = strlen(schemes[i].name);
        if (strncasecmp(h, schemes[i].name, n) != 0 || h[n] != ' ')
            continue;
        if (!(a->methods & schemes[i].bit)) {
            snprintf(why, sizeof(why), "the %s scheme is not enabled on this listener",
                     schemes[i].name);
        } else {
            const char *cred = h + n;
            while (*cred == ' ')
                cred++;
            if (schemes[i].fn(a, cred, principal, pcap, why, sizeof(why)) == 0)
                return 0;
        }
        unauthorized(a, req, resp, why);
        return -1;
    }
    char dn[AUTH_PRINCIPAL_DN_MAX];
    if (!h && a->peer_dn && a->peer_dn(a->peer_dn_arg, http_request_fd(req), dn, sizeof(dn)))
        return cert_principal(a, req, resp, dn, principal, pcap);
    unauthorized(a, req, resp,
                 h ? "unsupported authorization scheme"
                   : "authentication required: send an Authorization header");
    return -1;
}

bool server_http_auth_check(void *arg, http_request_t *req, http_response_t *resp)
{
    server_http_auth_t *a = arg;
    if (is_open(a, req))
        return true;
    char *principal = req->principal;
    if (authenticate(a, req, resp, principal, sizeof(req->principal)) < 0)
        return false;
    const authz_check_t *denied = NULL;
    char name[512];
    if (authorize(a, req, principal, &denied, name, sizeof(name)))
        return true;
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s is not authorized to %s %s '%s' (%s %.200s)", principal,
             broker_acl_operation_name(denied->op), broker_acl_resource_name(denied->rtype), name,
             req->method, req->path);
    refuse(req, resp, 403, msg);
    return false;
}

bool server_http_auth_may(void *arg, const http_request_t *req, int8_t rtype, const char *name,
                          int8_t op)
{
    server_http_auth_t *a = arg;
    if (!a || !req->principal[0] || !broker_acl_enabled(a->b))
        return true;
    char host[64];
    http_request_peer_host(req, host, sizeof(host));
    return broker_acl_authorize(a->b, req->principal, host, rtype, name, strlen(name), op);
}

bool server_http_auth_may_subject(void *arg, const http_request_t *req, const char *subject)
{
    char topic[512];
    snprintf(topic, sizeof(topic), "%s", subject ? subject : "");
    subject_topic(topic);
    return server_http_auth_may(arg, req, KAFKA_RESOURCE_TOPIC, topic, KAFKA_ACL_OP_DESCRIBE);
}

server_http_auth_t *server_http_auth_new(broker_t *b, unsigned methods, bool metrics_open)
{
    server_http_auth_t *a = weir_calloc(1, sizeof(*a));
    pthread_mutex_init(&a->cache_mu, NULL);
    a->cache_on = RAND_bytes(a->cache_key, sizeof(a->cache_key)) == 1; /* else no cache */
    a->b = b;
    a->methods = methods;
    a->metrics_open = metrics_open;
    return a;
}

void server_http_auth_set_jwt(server_http_auth_t *a, const auth_jwt_config_t *jwt)
{
    a->jwt = jwt;
}

void server_http_auth_set_peer_dn(server_http_auth_t *a, server_http_peer_dn_fn fn, void *arg)
{
    a->peer_dn = fn;
    a->peer_dn_arg = arg;
}

void server_http_auth_set_principal_map(server_http_auth_t *a, auth_principal_map_t *pm)
{
    auth_principal_map_free(a->principal_map);
    a->principal_map = pm;
}

void server_http_auth_free(server_http_auth_t *a)
{
    if (!a)
        return;
    auth_principal_map_free(a->principal_map);
    pthread_mutex_destroy(&a->cache_mu);
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
}
