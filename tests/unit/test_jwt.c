/*
 * auth/jwt.c: JWTs signed here with keys OpenSSL generates for each run (RSA 2048, P-256,
 * P-384), their JWKS written from the public halves, then every check the verifier makes:
 * each algorithm, the wrong key, an unknown kid, a flipped signature bit, exp/nbf with the clock
 * skew, issuer, audience (string and array), the principal claim, alg none with and without
 * permission, and malformed tokens, JWKS documents and OAUTHBEARER client messages.
 */
#include "test.h"

#include "auth/auth.h"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>

#define NOW_MS 1800000000000LL
/* For the helpers, which return values: a failed precondition ends the run. */
#define MUST(c)                                                                                    \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "  %s:%d: MUST(%s) failed\n", __FILE__, __LINE__, #c);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static EVP_PKEY *rsa1, *rsa2, *ec256, *ec384;

/* Fresh keys for the run, made on first use (process exit frees them). */
static void keys(void)
{
    if (rsa1)
        return;
    rsa1 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    MUST(rsa1 && rsa2 && ec256 && ec384);
}

static void b64url(const uint8_t *p, size_t n, buf_t *out)
{
    char *s = malloc(n * 4 / 3 + 4);
    size_t k = base64url_encode(p, n, s);
    buf_append(out, s, k);
    free(s);
}

static void bn_member(buf_t *out, const char *name, const BIGNUM *bn, int width)
{
    uint8_t raw[512];
    int n = width ? width : BN_num_bytes(bn);
    MUST(BN_bn2binpad(bn, raw, n) == n);
    buf_printf(out, "\"%s\":\"", name);
    b64url(raw, (size_t)n, out);
    buf_printf(out, "\"");
}

/* One JWK object for the public half of k. */
static void jwk(buf_t *out, EVP_PKEY *k, const char *kid)
{
    BIGNUM *a = NULL, *b = NULL;
    buf_printf(out, "{\"kid\":\"%s\",\"use\":\"sig\",", kid);
    if (EVP_PKEY_is_a(k, "RSA")) {
        MUST(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &a) == 1);
        MUST(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &b) == 1);
        buf_printf(out, "\"kty\":\"RSA\",");
        bn_member(out, "n", a, 0);
        buf_printf(out, ",");
        bn_member(out, "e", b, 0);
    } else {
        int w = EVP_PKEY_get_bits(k) / 8;
        MUST(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &a) == 1);
        MUST(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &b) == 1);
        buf_printf(out, "\"kty\":\"EC\",\"crv\":\"%s\",", w == 32 ? "P-256" : "P-384");
        bn_member(out, "x", a, w);
        buf_printf(out, ",");
        bn_member(out, "y", b, w);
    }
    buf_printf(out, "}");
    BN_free(a);
    BN_free(b);
}

static auth_jwks_t *jwks_of(EVP_PKEY *a, const char *kida, EVP_PKEY *b, const char *kidb)
{
    buf_t j = {0};
    buf_printf(&j, "{\"keys\":[");
    jwk(&j, a, kida);
    if (b) {
        buf_printf(&j, ",");
        jwk(&j, b, kidb);
    }
    buf_printf(&j, "]}");
    auth_jwks_t *ks = NULL;
    char err[256] = "";
    int rc = auth_jwks_parse((const char *)j.data, j.len, &ks, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "# jwks: %s\n", err);
    MUST(rc == 0);
    buf_deinit(&j);
    return ks;
}

/* header.payload.signature; kid NULL: no kid; key NULL: alg none. */
static char *sign(const char *alg, const char *kid, const char *claims, EVP_PKEY *key)
{
    buf_t t = {0}, h = {0};
    buf_printf(&h, "{\"alg\":\"%s\",\"typ\":\"JWT\"", alg);
    if (kid)
        buf_printf(&h, ",\"kid\":\"%s\"", kid);
    buf_printf(&h, "}");
    b64url(h.data, h.len, &t);
    buf_append(&t, ".", 1);
    b64url((const uint8_t *)claims, strlen(claims), &t);
    if (key) {
        const char *md = strstr(alg, "256") ? "SHA256" : strstr(alg, "384") ? "SHA384" : "SHA512";
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        MUST(EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, key, NULL) == 1);
        if (alg[0] == 'P') {
            MUST(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
            MUST(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1);
        }
        uint8_t sig[1024];
        size_t sl = sizeof(sig);
        MUST(EVP_DigestSign(ctx, sig, &sl, t.data, t.len) == 1);
        EVP_MD_CTX_free(ctx);
        if (alg[0] == 'E') { /* DER -> r || s */
            int w = EVP_PKEY_get_bits(key) / 8;
            const uint8_t *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
            MUST(es);
            uint8_t rs[96];
            BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, w);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + w, w);
            ECDSA_SIG_free(es);
            memcpy(sig, rs, (size_t)(2 * w));
            sl = (size_t)(2 * w);
        }
        buf_append(&t, ".", 1);
        b64url(sig, sl, &t);
    } else {
        buf_append(&t, ".", 1);
    }
    buf_append_u8(&t, 0);
    buf_deinit(&h);
    return (char *)t.data;
}

static int verify(const auth_jwt_config_t *c, const char *tok, char *who, int64_t *exp, char *err)
{
    return auth_jwt_verify(c, tok, strlen(tok), NOW_MS, who, 256, exp, err, 256);
}

static const char *const GOOD = "{\"sub\":\"alice\",\"iss\":\"https://idp.test\","
                                "\"aud\":\"weir\",\"exp\":1800000600,\"iat\":1800000000}";

TEST(jwt_every_algorithm_verifies)
{
    keys();
    auth_jwks_t *ks = jwks_of(rsa1, "r1", ec256, "e1");
    auth_jwks_t *ks384 = jwks_of(ec384, "e3", NULL, NULL);
    auth_jwt_config_t c = {.keys = ks, .issuer = "https://idp.test", .audience = "weir"};
    const char *rsa_algs[] = {"RS256", "RS384", "RS512", "PS256"};
    char who[256], err[256];
    int64_t exp = 0;
    for (size_t i = 0; i < 4; i++) {
        char *t = sign(rsa_algs[i], "r1", GOOD, rsa1);
        CHECK_EQ(verify(&c, t, who, &exp, err), 0);
        CHECK_STR(who, "alice");
        CHECK_EQ(exp, 1800000600000LL);
        free(t);
    }
    char *t = sign("ES256", "e1", GOOD, ec256);
    CHECK_EQ(verify(&c, t, who, &exp, err), 0);
    free(t);
    t = sign("ES256", NULL, GOOD, ec256); /* no kid: any key of the type */
    CHECK_EQ(verify(&c, t, who, &exp, err), 0);
    free(t);
    c.keys = ks384;
    t = sign("ES384", "e3", GOOD, ec384);
    CHECK_EQ(verify(&c, t, who, &exp, err), 0);
    CHECK_STR(who, "alice");
    free(t);
    auth_jwks_free(ks);
    auth_jwks_free(ks384);
}

TEST(jwt_signature_and_key_failures)
{
    keys();
    auth_jwks_t *ks = jwks_of(rsa1, "r1", ec256, "e1");
    auth_jwt_config_t c = {.keys = ks};
    char who[256], err[256];
    int64_t exp;
    char *t = sign("RS256", "r1", GOOD, rsa2); /* signed by a key the JWKS does not hold */
    CHECK_EQ(verify(&c, t, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "bad signature (RS256)");
    free(t);
    t = sign("RS256", "nope", GOOD, rsa1);
    CHECK_EQ(verify(&c, t, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "unknown key id 'nope'");
    free(t);
    t = sign("ES256", "r1", GOOD, ec256); /* kid of an RSA key */
    CHECK_EQ(verify(&c, t, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "key 'r1' is not a key for ES256");
    free(t);
    t = sign("RS256", "r1", GOOD, rsa1);
    size_t n = strlen(t);
    t[n - 3] = t[n - 3] == 'A' ? 'B' : 'A'; /* one signature bit */
    CHECK_EQ(verify(&c, t, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "bad signature (RS256)");
    free(t);
    t = sign("HS256", NULL, GOOD, NULL);
    CHECK_EQ(verify(&c, t, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "algorithm 'HS256' is not supported");
    free(t);
    /* a payload changed after signing */
    t = sign("RS256", "r1", GOOD, rsa1);
    char *u = sign("none", NULL, "{\"sub\":\"mallory\",\"exp\":1800000600}", NULL);
    buf_t m = {0};
    buf_append(&m, t, (size_t)(strchr(t, '.') - t));
    buf_append(&m, strchr(u, '.'), strlen(strchr(u, '.')) - 1);
    buf_append(&m, strrchr(t, '.'), strlen(strrchr(t, '.')));
    buf_append_u8(&m, 0);
    CHECK_EQ(verify(&c, (const char *)m.data, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "bad signature (RS256)");
    buf_deinit(&m);
    free(t);
    free(u);
    auth_jwks_free(ks);
}

TEST(jwt_claims)
{
    keys();
    auth_jwks_t *ks = jwks_of(rsa1, "r1", NULL, NULL);
    auth_jwt_config_t c = {.keys = ks, .clock_skew_ms = 30000};
    char who[256], err[256];
    int64_t exp;
    struct {
        const char *claims, *issuer, *audience, *claim, *want_err, *want_who;
    } rows[] = {
        {"{\"sub\":\"a\",\"exp\":1800000020}", NULL, NULL, NULL, NULL, "a"}, /* within skew */
        {"{\"sub\":\"a\",\"exp\":1799999970}", NULL, NULL, NULL,
         "the token expired at 1799999970 (now 1800000000)", NULL},
        {"{\"sub\":\"a\"}", NULL, NULL, NULL, "the token has no exp claim", NULL},
        {"{\"sub\":\"a\",\"exp\":\"soon\"}", NULL, NULL, NULL, "the token's exp is not a time",
         NULL},
        {"{\"sub\":\"a\",\"exp\":1800000600,\"nbf\":1800000100}", NULL, NULL, NULL,
         "the token is not valid before 1800000100", NULL},
        {"{\"sub\":\"a\",\"exp\":1800000600,\"nbf\":1800000020}", NULL, NULL, NULL, NULL, "a"},
        {GOOD, "https://other", NULL, NULL,
         "issuer 'https://idp.test' is not the expected 'https://other'", NULL},
        {GOOD, "https://idp.test", "kafka, weir", NULL, NULL, "alice"},
        {GOOD, NULL, "kafka", NULL, "the token's audience is not one of 'kafka'", NULL},
        {"{\"sub\":\"a\",\"aud\":[\"x\",\"weir\"],\"exp\":1800000600}", NULL, "weir", NULL, NULL,
         "a"},
        {"{\"sub\":\"a\",\"exp\":1800000600}", NULL, "weir", NULL,
         "the token's audience is not one of 'weir'", NULL},
        {"{\"sub\":\"a\",\"client_id\":\"svc-7\",\"exp\":1800000600}", NULL, NULL, "client_id",
         NULL, "svc-7"},
        {"{\"exp\":1800000600}", NULL, NULL, NULL,
         "the token's sub claim is not a non-empty string of at most 255 bytes", NULL},
        {"{\"sub\":\"\",\"exp\":1800000600}", NULL, NULL, NULL,
         "the token's sub claim is not a non-empty string of at most 255 bytes", NULL},
        {"{\"sub\":\"a\\nb\",\"exp\":1800000600}", NULL, NULL, NULL,
         "the token's sub claim holds a control character", NULL},
        {"{\"sub\":\"a\\u0000b\",\"exp\":1800000600}", NULL, NULL, NULL,
         "the token's payload is not base64url JSON", NULL}, /* jansson refuses \u0000 */
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(rows); i++) {
        c.issuer = rows[i].issuer;
        c.audience = rows[i].audience;
        c.principal_claim = rows[i].claim;
        char *t = sign("RS256", "r1", rows[i].claims, rsa1);
        err[0] = '\0';
        int rc = verify(&c, t, who, &exp, err);
        if (rows[i].want_err) {
            CHECK_EQ(rc, -WEIR_EINVAL);
            CHECK_STR(err, rows[i].want_err);
        } else {
            CHECK_EQ(rc, 0);
            CHECK_STR(who, rows[i].want_who);
        }
        free(t);
    }
    auth_jwks_free(ks);
}

/* weir.sasl.oauthbearer.required.scopes: every listed scope in the scope claim, a
 * space-separated string (RFC 8693) or an array, under sasl.oauthbearer.scope.claim.name. */
TEST(jwt_required_scopes)
{
    keys();
    auth_jwks_t *ks = jwks_of(rsa1, "r1", NULL, NULL);
    auth_jwt_config_t c = {.keys = ks};
    char who[256], err[256];
    int64_t exp;
    struct {
        const char *claims, *scopes, *claim, *want_err;
    } rows[] = {
        {"{\"sub\":\"a\",\"exp\":1800000600}", NULL, NULL, NULL},
        {"{\"sub\":\"a\",\"exp\":1800000600}", "", NULL, NULL},
        {"{\"sub\":\"a\",\"exp\":1800000600,\"scope\":\"kafka.write kafka.read\"}",
         "kafka.read, kafka.write", NULL, NULL},
        {"{\"sub\":\"a\",\"exp\":1800000600,\"scope\":\"kafka.read\"}", "kafka.read,kafka.write",
         NULL, "the token's scope claim lacks the required scope 'kafka.write'"},
        {"{\"sub\":\"a\",\"exp\":1800000600,\"scope\":\"kafka.readonly\"}", "kafka.read", NULL,
         "the token's scope claim lacks the required scope 'kafka.read'"}, /* whole words */
        {"{\"sub\":\"a\",\"exp\":1800000600}", "kafka", NULL,
         "the token's scope claim lacks the required scope 'kafka'"},
        {"{\"sub\":\"a\",\"exp\":1800000600,\"scp\":[\"kafka\",\"other\"]}", "kafka", "scp", NULL},
        {"{\"sub\":\"a\",\"exp\":1800000600,\"scp\":[\"other\",7]}", "kafka", "scp",
         "the token's scp claim lacks the required scope 'kafka'"},
        {"{\"sub\":\"a\",\"exp\":1800000600,\"scope\":42}", "kafka", NULL,
         "the token's scope claim lacks the required scope 'kafka'"},
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(rows); i++) {
        c.required_scopes = rows[i].scopes;
        c.scope_claim = rows[i].claim;
        char *t = sign("RS256", "r1", rows[i].claims, rsa1);
        err[0] = '\0';
        int rc = verify(&c, t, who, &exp, err);
        if (rows[i].want_err) {
            CHECK_EQ(rc, -WEIR_EINVAL);
            CHECK_STR(err, rows[i].want_err);
        } else {
            CHECK_EQ(rc, 0);
            CHECK_STR(who, "a");
        }
        free(t);
    }
    auth_jwks_free(ks);
}

TEST(jwt_unsecured_only_when_allowed)
{
    keys();
    auth_jwt_config_t c = {0};
    char who[256], err[256];
    int64_t exp;
    char *t = sign("none", NULL, "{\"sub\":\"dev\",\"exp\":1800000600.5}", NULL);
    CHECK_EQ(verify(&c, t, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "unsecured token (alg none) and unsecured tokens are not allowed");
    c.allow_unsecured = true;
    CHECK_EQ(verify(&c, t, who, &exp, err), 0);
    CHECK_STR(who, "dev");
    CHECK_EQ(exp, 1800000600500LL);
    free(t);
    /* alg none with a signature is refused, as is a signed token without keys */
    t = sign("RS256", "r1", GOOD, rsa1);
    CHECK_EQ(verify(&c, t, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "unknown key id 'r1'");
    *strchr(t, '.') = '\0';
    free(t);
    char *n = sign("none", NULL, GOOD, NULL);
    buf_t m = {0};
    buf_printf(&m, "%sAAAA", n);
    buf_append_u8(&m, 0);
    CHECK_EQ(verify(&c, (const char *)m.data, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "an unsecured token (alg none) must have an empty signature");
    buf_deinit(&m);
    free(n);
}

TEST(jwt_malformed_tokens)
{
    auth_jwt_config_t c = {.allow_unsecured = true};
    char who[256], err[256];
    int64_t exp;
    const char *bad[] = {"",
                         "abc",
                         "a.b",
                         "a.b.c.d",
                         "!!.e30.",
                         "e30.e30.",
                         "W10.e30.",
                         "eyJhbGciOiJub25lIn0.!!.",
                         "eyJhbGciOiJub25lIn0.W10."};
    const char *why[] = {"the token is not three base64url parts separated by dots",
                         "the token is not three base64url parts separated by dots",
                         "the token is not three base64url parts separated by dots",
                         "the token is not three base64url parts separated by dots",
                         "the token's header is not base64url JSON",
                         "algorithm '' is not supported",
                         "the token's header is not base64url JSON",
                         "the token's payload is not base64url JSON",
                         "the token's payload is not base64url JSON"};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++) {
        CHECK_EQ(verify(&c, bad[i], who, &exp, err), -WEIR_EINVAL);
        CHECK_STR(err, why[i]);
    }
    char *big = malloc(AUTH_JWT_MAX + 2);
    memset(big, 'a', AUTH_JWT_MAX + 1);
    big[AUTH_JWT_MAX + 1] = '\0';
    CHECK_EQ(verify(&c, big, who, &exp, err), -WEIR_EINVAL);
    CHECK_STR(err, "token of 8193 bytes (bound 8192)");
    free(big);
}

TEST(jwks_malformed_documents)
{
    keys();
    const char *docs[] = {
        "",
        "[]",
        "{\"keys\":{}}",
        "{\"keys\":[]}",
        "{\"keys\":[1]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}",
        "{\"keys\":[{\"kid\":7,\"kty\":\"RSA\"}]}",
    };
    const char *why[] = {
        "JWKS is not JSON: '[' or '{' expected near end of file (line 1)",
        "JWKS has no \"keys\" array",
        "JWKS has no \"keys\" array",
        "JWKS has no RSA or EC signing key",
        "a member of \"keys\" is not an object",
        "RSA key '': 24 bits, under 2048",
        "EC key '': curve 'P-521' is not P-256 or P-384",
        "EC key '': x and y must be 32 bytes each",
        "JWKS has no RSA or EC signing key",
        "a key's \"kid\" is not a string of at most 128 bytes",
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(docs); i++) {
        auth_jwks_t *ks = (auth_jwks_t *)1;
        char err[256] = "";
        CHECK_EQ(auth_jwks_parse(docs[i], strlen(docs[i]), &ks, err, sizeof(err)), -WEIR_EINVAL);
        CHECK(ks == NULL);
        CHECK_STR(err, why[i]);
    }
    /* an EC point that is not on the curve */
    buf_t j = {0};
    buf_printf(&j, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"");
    uint8_t ones[32];
    memset(ones, 1, sizeof(ones));
    b64url(ones, 32, &j);
    buf_printf(&j, "\",\"y\":\"");
    b64url(ones, 32, &j);
    buf_printf(&j, "\"}]}");
    auth_jwks_t *ks = NULL;
    char err[256];
    CHECK_EQ(auth_jwks_parse((const char *)j.data, j.len, &ks, err, sizeof(err)), -WEIR_EINVAL);
    CHECK_STR(err, "EC key '' is not a point on P-256");
    buf_deinit(&j);
    ks = jwks_of(rsa1, "a", ec256, "b");
    CHECK_EQ(auth_jwks_count(ks), 2);
    auth_jwks_free(ks);
}

TEST(oauthbearer_client_message)
{
    const char *tok;
    size_t tl = 0;
    char az[AUTH_USER_MAX + 1], err[256];
    const char ok1[] = "n,,\x01"
                       "auth=Bearer abc.def.\x01\x01";
    CHECK_EQ(auth_oauthbearer_parse((const uint8_t *)ok1, sizeof(ok1) - 1, &tok, &tl, az, err,
                                    sizeof(err)),
             0);
    CHECK_EQ(tl, 8);
    CHECK_MEM(tok, "abc.def.", 8);
    CHECK_STR(az, "");
    const char ok2[] = "n,a=alice,\x01"
                       "host=h\x01"
                       "auth=bearer T\x01"
                       "traceId=1\x01\x01";
    CHECK_EQ(auth_oauthbearer_parse((const uint8_t *)ok2, sizeof(ok2) - 1, &tok, &tl, az, err,
                                    sizeof(err)),
             0);
    CHECK_EQ(tl, 1);
    CHECK_STR(az, "alice");
    struct {
        const char *m;
        const char *why;
    } bad[] = {
        {"y,,\x01"
         "auth=Bearer t\x01\x01",
         "not an OAUTHBEARER client message (it starts with \"n,\")"},
        {"n,\x01"
         "auth=Bearer t\x01\x01",
         "the GS2 header has no second comma"},
        {"n,b=x,\x01"
         "auth=Bearer t\x01\x01",
         "the GS2 header's authzid is malformed"},
        {"n,,auth=Bearer t\x01\x01",
         "the key-value pairs are not framed by \\x01 and end with two"},
        {"n,,\x01"
         "auth=Bearer t\x01",
         "the key-value pairs are not framed by \\x01 and end with two"},
        {"n,,\x01"
         "auth=Basic xyz\x01\x01",
         "the auth value is not \"Bearer <token>\""},
        {"n,,\x01"
         "auth=Bearer \x01\x01",
         "the auth value is not \"Bearer <token>\""},
        {"n,,\x01"
         "host=x\x01\x01",
         "no auth=Bearer value"},
        {"n,,\x01"
         "=x\x01\x01",
         "a key-value pair without a key"},
        {"n,,\x01"
         "auth=Bearer a\x01"
         "auth=Bearer b\x01\x01",
         "two auth values"},
        {"n,,\x01\x01\x01", "a key-value pair without a key"},
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        CHECK_EQ(auth_oauthbearer_parse((const uint8_t *)bad[i].m, strlen(bad[i].m), &tok, &tl, az,
                                        err, sizeof(err)),
                 -WEIR_EINVAL);
        CHECK_STR(err, bad[i].why);
    }
}

TEST_MAIN()
