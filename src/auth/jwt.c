/*
 * JSON Web Tokens (RFC 7519) signed with JWS (RFC 7515) and verified against a JSON Web Key Set
 * (RFC 7517): RS256/384/512 and PS256 with RSA keys, ES256/ES384 with EC keys on P-256/P-384, and
 * "alg":"none" only when the caller allows unsecured tokens. The claims checked are Kafka's
 * (its DefaultJwtValidator): exp required, nbf, iss, aud, and the principal claim ("sub").
 *
 * Every input comes from the network or a file: sizes are bounded before anything is decoded
 * (AUTH_JWT_MAX, AUTH_JWKS_MAX), every JSON member is type-checked, and a malformed token is
 * -WEIR_EINVAL with a one-line reason, never an assert. A parsed JWKS is immutable, so any
 * number of threads may verify against it at once.
 */
#include "auth/auth.h"

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define KID_MAX      128
#define SIG_MAX      1024 /* RSA 8192 bits */
#define RSA_BITS_MIN 2048
#define CLAIMS_MAX   (AUTH_JWT_MAX * 3 / 4)

typedef enum { KEY_RSA, KEY_EC } key_type_t;

typedef struct {
    key_type_t type;
    int ec_bytes; /* EC: 32 (P-256) or 48 (P-384) */
    char kid[KID_MAX + 1];
    bool has_kid;
    EVP_PKEY *pkey;
} jwk_t;

struct auth_jwks {
    size_t n;
    jwk_t keys[AUTH_JWKS_KEYS_MAX];
};

typedef struct {
    const char *name;
    key_type_t type;
    const char *digest;
    int ec_bytes; /* the curve an ES algorithm needs */
    bool pss;
} jws_alg_t;

static const jws_alg_t algs[] = {
    {"RS256", KEY_RSA, "SHA256", 0, false}, {"RS384", KEY_RSA, "SHA384", 0, false},
    {"RS512", KEY_RSA, "SHA512", 0, false}, {"PS256", KEY_RSA, "SHA256", 0, true},
    {"ES256", KEY_EC, "SHA256", 32, false}, {"ES384", KEY_EC, "SHA384", 48, false},
};

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cap)
        vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -WEIR_EINVAL;
}

/* A base64url member of a JWK into out: its decoded length, or -1. */
static int jwk_bytes(json_t *jwk, const char *name, uint8_t *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (!s)
        return -1;
    int n = base64url_decode(s, strlen(s), out, cap);
    return n > 0 ? n : -1;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static int rsa_key(json_t *jwk, jwk_t *k, char *err, size_t cap)
{
    uint8_t n[SIG_MAX], e[16];
    int nlen = jwk_bytes(jwk, "n", n, sizeof(n)), elen = jwk_bytes(jwk, "e", e, sizeof(e));
    if (nlen < 0 || elen < 0)
        return fail(err, cap, "RSA key '%s': n and e must be base64url numbers", k->kid);
    if (nlen * 8 < RSA_BITS_MIN)
        return fail(err, cap, "RSA key '%s': %d bits, under %d", k->kid, nlen * 8, RSA_BITS_MIN);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = BN_bin2bn(n, nlen, NULL), *be = BN_bin2bn(e, elen, NULL);
    if (bld && bn && be && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
        k->pkey = pkey_from_params("RSA", bld);
    BN_free(bn);
    BN_free(be);
    OSSL_PARAM_BLD_free(bld);
    k->type = KEY_RSA;
    return k->pkey ? 0 : fail(err, cap, "RSA key '%s' does not load", k->kid);
}

static int ec_key(json_t *jwk, jwk_t *k, char *err, size_t cap)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *group = NULL;
    if (crv && strcmp(crv, "P-256") == 0)
        group = "P-256", k->ec_bytes = 32;
    else if (crv && strcmp(crv, "P-384") == 0)
        group = "P-384", k->ec_bytes = 48;
    else
        return fail(err, cap, "EC key '%s': curve '%s' is not P-256 or P-384", k->kid,
                    crv ? crv : "");
    uint8_t pub[1 + 2 * 48];
    pub[0] = 0x04; /* uncompressed point: x then y */
    int xl = jwk_bytes(jwk, "x", pub + 1, 48), yl = jwk_bytes(jwk, "y", pub + 1 + k->ec_bytes, 48);
    if (xl != k->ec_bytes || yl != k->ec_bytes)
        return fail(err, cap, "EC key '%s': x and y must be %d bytes each", k->kid, k->ec_bytes);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                         1 + 2 * (size_t)k->ec_bytes) == 1)
        k->pkey = pkey_from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    k->type = KEY_EC;
    return k->pkey ? 0 : fail(err, cap, "EC key '%s' is not a point on %s", k->kid, group);
}

/* One member of "keys": 1 when kept, 0 when skipped (an encryption key, another kty). */
static int jwk_parse(json_t *jwk, jwk_t *k, char *err, size_t cap)
{
    memset(k, 0, sizeof(*k));
    if (!json_is_object(jwk))
        return fail(err, cap, "a member of \"keys\" is not an object");
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    json_t *kid = json_object_get(jwk, "kid");
    if (kid && (!json_is_string(kid) || json_string_length(kid) > KID_MAX))
        return fail(err, cap, "a key's \"kid\" is not a string of at most %d bytes", KID_MAX);
    if (kid) {
        snprintf(k->kid, sizeof(k->kid), "%s", json_string_value(kid));
        k->has_kid = true;
    }
    if (!kty)
        return fail(err, cap, "key '%s' has no \"kty\"", k->kid);
    if (use && strcmp(use, "sig") != 0)
        return 0;
    int rc;
    if (strcmp(kty, "RSA") == 0)
        rc = rsa_key(jwk, k, err, cap);
    else if (strcmp(kty, "EC") == 0)
        rc = ec_key(jwk, k, err, cap);
    else
        return 0; /* "oct", "OKP": not algorithms Weir verifies */
    return rc < 0 ? rc : 1;
}

int auth_jwks_parse(const char *json, size_t len, auth_jwks_t **out, char *err, size_t cap)
{
    *out = NULL;
    if (len > AUTH_JWKS_MAX)
        return fail(err, cap, "JWKS of %zu bytes (bound %d)", len, AUTH_JWKS_MAX);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(err, cap, "JWKS is not JSON: %s (line %d)", jerr.text, jerr.line);
    json_t *arr = json_object_get(root, "keys");
    int rc = 0;
    if (!json_is_array(arr)) {
        rc = fail(err, cap, "JWKS has no \"keys\" array");
        goto out_root;
    }
    if (json_array_size(arr) > AUTH_JWKS_KEYS_MAX) {
        rc = fail(err, cap, "JWKS has %zu keys (bound %d)", json_array_size(arr),
                  AUTH_JWKS_KEYS_MAX);
        goto out_root;
    }
    auth_jwks_t *ks = weir_calloc(1, sizeof(*ks));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        rc = jwk_parse(json_array_get(arr, i), &ks->keys[ks->n], err, cap);
        if (rc < 0) {
            auth_jwks_free(ks);
            goto out_root;
        }
        ks->n += (size_t)rc;
    }
    if (ks->n == 0) {
        auth_jwks_free(ks);
        rc = fail(err, cap, "JWKS has no RSA or EC signing key");
        goto out_root;
    }
    *out = ks;
    rc = 0;
out_root:
    json_decref(root);
    return rc;
}

void auth_jwks_free(auth_jwks_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        EVP_PKEY_free(k->keys[i].pkey);
    free(k);
}

size_t auth_jwks_count(const auth_jwks_t *k)
{
    return k ? k->n : 0;
}

/* ---- signatures ---------------------------------------------------------------------------- */

/* JWS carries an ECDSA signature as r || s of fixed width; OpenSSL verifies DER. */
static int ec_sig_to_der(const uint8_t *sig, size_t len, int width, uint8_t *der, size_t cap)
{
    if (len != 2 * (size_t)width)
        return -1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, width, NULL), *s = BN_bin2bn(sig + width, width, NULL);
    int n = -1;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* es owns them */
        if ((size_t)i2d_ECDSA_SIG(es, NULL) <= cap) {
            uint8_t *p = der;
            n = i2d_ECDSA_SIG(es, &p);
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return n;
}

static bool sig_ok(const jws_alg_t *a, const jwk_t *k, const char *signed_part, size_t signed_len,
                   const uint8_t *sig, size_t sig_len)
{
    uint8_t der[2 * 48 + 16];
    if (a->type == KEY_EC) {
        int n = ec_sig_to_der(sig, sig_len, a->ec_bytes, der, sizeof(der));
        if (n < 0)
            return false;
        sig = der;
        sig_len = (size_t)n;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = md && EVP_DigestVerifyInit_ex(md, &pctx, a->digest, NULL, NULL, k->pkey, NULL) == 1;
    if (ok && a->pss)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(md, sig, sig_len, (const uint8_t *)signed_part, signed_len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* Checks the signature with the key kid names, or any key of the algorithm's type. */
static int verify_signature(const auth_jwt_config_t *c, const auth_jwks_t *keys, const jws_alg_t *a,
                            const char *kid, const char *tok, size_t signed_len, const char *sig64,
                            size_t sig64_len, char *err, size_t ecap)
{
    uint8_t sig[SIG_MAX];
    int sl = base64url_decode(sig64, sig64_len, sig, sizeof(sig));
    if (sl <= 0)
        return fail(err, ecap, "the signature is not base64url");
    bool candidate = false;
    for (size_t i = 0; keys && i < keys->n; i++) {
        const jwk_t *k = &keys->keys[i];
        if (kid && (!k->has_kid || strcmp(k->kid, kid) != 0))
            continue;
        if (k->type != a->type || (a->type == KEY_EC && k->ec_bytes != a->ec_bytes)) {
            if (kid)
                return fail(err, ecap, "key '%s' is not a key for %s", kid, a->name);
            continue;
        }
        candidate = true;
        if (sig_ok(a, k, tok, signed_len, sig, (size_t)sl))
            return 0;
    }
    if (!candidate && kid && c->on_unknown_kid)
        c->on_unknown_kid(c->on_unknown_kid_arg);
    if (!candidate && kid)
        return fail(err, ecap, "unknown key id '%s'", kid);
    if (!candidate)
        return fail(err, ecap, "no key for %s in the JWKS", a->name);
    return fail(err, ecap, "bad signature (%s)", a->name);
}

/* ---- claims -------------------------------------------------------------------------------- */

static json_t *decode_json(const char *s, size_t len)
{
    uint8_t *raw = weir_malloc(CLAIMS_MAX);
    int n = base64url_decode(s, len, raw, CLAIMS_MAX);
    json_t *j =
        n > 0 ? json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* A NumericDate claim in ms; false when absent. -1 in *ms when present but not a number. */
static bool claim_time_ms(json_t *claims, const char *name, int64_t *ms)
{
    json_t *v = json_object_get(claims, name);
    if (!v)
        return false;
    double secs = json_number_value(v);
    *ms = json_is_number(v) && secs >= 0 && secs < 1e13 ? (int64_t)(secs * 1000.0) : -1;
    return true;
}

static bool audience_ok(json_t *aud, const char *expected)
{
    char item[256];
    for (const char *p = expected; *p;) {
        size_t n = strcspn(p, ",");
        size_t b = 0, e = n;
        while (b < e && p[b] == ' ')
            b++;
        while (e > b && p[e - 1] == ' ')
            e--;
        if (e - b >= sizeof(item)) { /* longer than any audience Weir compares: no match */
            p += n + (p[n] == ',');
            continue;
        }
        snprintf(item, sizeof(item), "%.*s", (int)(e - b), p + b);
        if (json_is_string(aud) && item[0] && strcmp(json_string_value(aud), item) == 0)
            return true;
        for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud); i++) {
            const char *a = json_string_value(json_array_get(aud, i));
            if (a && item[0] && strcmp(a, item) == 0)
                return true;
        }
        p += n + (p[n] == ',');
    }
    return false;
}

/* Whether the scope claim v (a space-separated string, or an array of scope strings) holds
 * scope (n bytes). */
static bool scope_held(json_t *v, const char *scope, size_t n)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *s = json_array_get(v, i);
            if (json_is_string(s) && json_string_length(s) == n &&
                memcmp(json_string_value(s), scope, n) == 0)
                return true;
        }
        return false;
    }
    const char *p = json_string_value(v);
    while (p && *p) {
        size_t m = strcspn(p, " ");
        if (m == n && memcmp(p, scope, n) == 0)
            return true;
        p += m + (p[m] == ' ');
    }
    return false;
}

/* Every scope of c->required_scopes is in the token's scope claim; else the first missing. */
static int check_scopes(const auth_jwt_config_t *c, json_t *claims, char *err, size_t ecap)
{
    const char *name = c->scope_claim && c->scope_claim[0] ? c->scope_claim : "scope";
    json_t *v = json_object_get(claims, name);
    for (const char *p = c->required_scopes; p && *p;) {
        size_t n = strcspn(p, ",");
        size_t b = 0, e = n;
        while (b < e && p[b] == ' ')
            b++;
        while (e > b && p[e - 1] == ' ')
            e--;
        if (e > b && !scope_held(v, p + b, e - b))
            return fail(err, ecap, "the token's %s claim lacks the required scope '%.*s'", name,
                        (int)WEIR_MIN(e - b, 100), p + b);
        p += n + (p[n] == ',');
    }
    return 0;
}

static int check_claims(const auth_jwt_config_t *c, json_t *claims, int64_t now_ms, char *principal,
                        size_t pcap, int64_t *expires_ms, char *err, size_t ecap)
{
    int64_t exp, nbf;
    if (!claim_time_ms(claims, "exp", &exp))
        return fail(err, ecap, "the token has no exp claim");
    if (exp < 0)
        return fail(err, ecap, "the token's exp is not a time");
    if (now_ms - c->clock_skew_ms >= exp)
        return fail(err, ecap, "the token expired at %" PRId64 " (now %" PRId64 ")", exp / 1000,
                    now_ms / 1000);
    if (claim_time_ms(claims, "nbf", &nbf) && (nbf < 0 || now_ms + c->clock_skew_ms < nbf))
        return fail(err, ecap, "the token is not valid before %" PRId64, nbf / 1000);
    if (c->issuer && c->issuer[0]) {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        if (!iss || strcmp(iss, c->issuer) != 0)
            return fail(err, ecap, "issuer '%.100s' is not the expected '%.100s'", iss ? iss : "",
                        c->issuer);
    }
    if (c->audience && c->audience[0] && !audience_ok(json_object_get(claims, "aud"), c->audience))
        return fail(err, ecap, "the token's audience is not one of '%.200s'", c->audience);
    if (check_scopes(c, claims, err, ecap) < 0)
        return -WEIR_EINVAL;
    const char *pname = c->principal_claim && c->principal_claim[0] ? c->principal_claim : "sub";
    json_t *pv = json_object_get(claims, pname);
    const char *p = json_string_value(pv);
    size_t plen = p ? json_string_length(pv) : 0;
    if (!p || plen == 0 || plen >= pcap || strlen(p) != plen)
        return fail(err, ecap,
                    "the token's %s claim is not a non-empty string of at most %zu bytes", pname,
                    pcap ? pcap - 1 : 0);
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return fail(err, ecap, "the token's %s claim holds a control character", pname);
    memcpy(principal, p, plen + 1);
    *expires_ms = exp;
    return 0;
}

/* The header's alg, and kid when it has one (copied into kid, else kid[0] = 0). */
static int read_header(const char *s, size_t len, const jws_alg_t **alg, bool *none,
                       char kid[KID_MAX + 1], char *err, size_t ecap)
{
    json_t *h = decode_json(s, len);
    if (!h)
        return fail(err, ecap, "the token's header is not base64url JSON");
    const char *a = json_string_value(json_object_get(h, "alg"));
    json_t *k = json_object_get(h, "kid");
    int rc = 0;
    *alg = NULL;
    *none = a && strcmp(a, "none") == 0;
    for (size_t i = 0; a && i < WEIR_ARRAY_LEN(algs); i++)
        if (strcmp(a, algs[i].name) == 0)
            *alg = &algs[i];
    kid[0] = '\0';
    if (!*alg && !*none)
        rc = fail(err, ecap, "algorithm '%.32s' is not supported", a ? a : "");
    else if (k &&
             (!json_is_string(k) || json_string_length(k) > KID_MAX || json_string_length(k) == 0))
        rc = fail(err, ecap, "the token's kid is not a string of 1 to %d bytes", KID_MAX);
    else if (k)
        snprintf(kid, KID_MAX + 1, "%s", json_string_value(k));
    json_decref(h);
    return rc;
}

int auth_jwt_verify(const auth_jwt_config_t *c, const char *token, size_t len, int64_t now_ms,
                    char *principal, size_t pcap, int64_t *expires_ms, char *err, size_t ecap)
{
    if (len > AUTH_JWT_MAX)
        return fail(err, ecap, "token of %zu bytes (bound %d)", len, AUTH_JWT_MAX);
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return fail(err, ecap, "the token is not three base64url parts separated by dots");
    size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - token);
    const jws_alg_t *alg = NULL;
    bool none = false;
    char kid[KID_MAX + 1];
    int rc = read_header(token, hlen, &alg, &none, kid, err, ecap);
    if (rc < 0)
        return rc;
    if (none && !c->allow_unsecured)
        return fail(err, ecap, "unsecured token (alg none) and unsecured tokens are not allowed");
    if (none && slen != 0)
        return fail(err, ecap, "an unsecured token (alg none) must have an empty signature");
    if (!none) {
        const auth_jwks_t *keys =
            c->keys_live ? atomic_load_explicit(c->keys_live, memory_order_acquire) : c->keys;
        rc = verify_signature(c, keys, alg, kid[0] ? kid : NULL, token, (size_t)(dot2 - token),
                              dot2 + 1, slen, err, ecap);
        if (rc < 0)
            return rc;
    }
    json_t *claims = decode_json(dot1 + 1, plen);
    if (!claims)
        return fail(err, ecap, "the token's payload is not base64url JSON");
    rc = check_claims(c, claims, now_ms, principal, pcap, expires_ms, err, ecap);
    json_decref(claims);
    return rc;
}

/* ---- the OAUTHBEARER client message -------------------------------------------------------- */

int auth_oauthbearer_parse(const uint8_t *msg, size_t len, const char **token, size_t *token_len,
                           char authzid[AUTH_USER_MAX + 1], char *err, size_t ecap)
{
    const char *s = (const char *)msg, *end = s + len;
    authzid[0] = '\0';
    if (len > AUTH_MSG_MAX || len < 4 || memcmp(s, "n,", 2) != 0)
        return fail(err, ecap, "not an OAUTHBEARER client message (it starts with \"n,\")");
    const char *comma = memchr(s + 2, ',', len - 2);
    if (!comma)
        return fail(err, ecap, "the GS2 header has no second comma");
    if (comma > s + 2) { /* "a=authzid" */
        size_t n = (size_t)(comma - s - 4);
        if (s[2] != 'a' || s[3] != '=' || comma < s + 4 || n > AUTH_USER_MAX ||
            memchr(s + 4, '\0', n))
            return fail(err, ecap, "the GS2 header's authzid is malformed");
        memcpy(authzid, s + 4, n);
        authzid[n] = '\0';
    }
    const char *p = comma + 1;
    if (p >= end || *p != '\x01' || end[-1] != '\x01' || end - p < 2 || end[-2] != '\x01')
        return fail(err, ecap, "the key-value pairs are not framed by \\x01 and end with two");
    *token = NULL;
    for (p++; p < end - 1;) { /* each "key=value\x01"; the last \x01 ends the list */
        const char *e = memchr(p, '\x01', (size_t)(end - p));
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (!eq || eq == p)
            return fail(err, ecap, "a key-value pair without a key");
        if ((size_t)(eq - p) == 4 && memcmp(p, "auth", 4) == 0) {
            if (*token)
                return fail(err, ecap, "two auth values");
            const char *v = eq + 1;
            if (e - v < 8 || strncasecmp(v, "Bearer ", 7) != 0)
                return fail(err, ecap, "the auth value is not \"Bearer <token>\"");
            *token = v + 7;
            *token_len = (size_t)(e - v - 7);
        }
        p = e + 1;
    }
    if (!*token)
        return fail(err, ecap, "no auth=Bearer value");
    return 0;
}
