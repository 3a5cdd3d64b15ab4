/*
 * libFuzzer target for SASL OAUTHBEARER and JWTs (src/auth/jwt.c). The first byte picks the
 * parser: 'k' parses the rest as a JWKS document (auth_jwks_parse); anything else parses it as
 * an OAUTHBEARER client message (auth_oauthbearer_parse) and verifies its token
 * (auth_jwt_verify) against a fixed JWKS of one RSA and one P-256 key, with and without
 * unsecured tokens allowed. Oracles: no crash or sanitizer report; a message that parses points
 * its token inside the input; a token that verifies yields a non-empty principal without control
 * characters and an exp after the fuzzing clock minus the skew; every refusal says why. Seeds:
 * tests/fuzz/corpus/oauth/ (tokens signed with the keys below, made once with Python's
 * cryptography; the private keys were not kept).
 */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS  1800000000000LL
#define SKEW_MS 30000

static const char JWKS[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"n\":\"-MrBOHvffqZXFSG1t9_"
    "ayacai0xQ1ewt7H1swSdAabQPS6hLuy"
    "Bu6C3Eb56hRWV3VKb9U5QhL0KaR4M4teELg4kAQ11zeQlAM3Adl3jaBdy87nhUyZZf1vzUKn94-_iLWePeiqGKKH"
    "Qiiptq2uUgRf6Gh8ogfLR_EEYIpVvrcZ7dtrvc-iolqnBOtDoNQ5QphgV8YH-PtAnR0f7UZhCdyoOgHZrd1_iesW"
    "ev8BkQRu9zLSw4rugX3T8wul4uSZxMWTNsQ30q3z4kDFgtMfp_Yg-WhZbCD-hAIO7iZBAoMILNnbstkc3N9YjN8i"
    "NmEIHCVcH756BcusbleL47YpowGw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-"
    "256\",\"x\":\"B4Ue"
    "hpjhoJNIvpe2Hvp32BMsXNGEc-Ni2eJBRypgEQI\",\"y\":\"ZeRe1c4ttmMwvSO363ENIsOj90FX34UMug6CU_CnUb"
    "A\"}]}";

static auth_jwks_t *keys(void)
{
    static auth_jwks_t *ks;
    char err[256];
    if (!ks && auth_jwks_parse(JWKS, sizeof(JWKS) - 1, &ks, err, sizeof(err)) != 0) {
        fprintf(stderr, "the fixed JWKS does not parse: %s\n", err);
        abort();
    }
    return ks;
}

static void verify(const char *tok, size_t len, bool unsecured)
{
    auth_jwt_config_t c = {.keys = keys(),
                           .allow_unsecured = unsecured,
                           .issuer = "https://idp",
                           .audience = "weir,kafka",
                           .clock_skew_ms = SKEW_MS};
    char who[AUTH_USER_MAX + 1], err[256] = "";
    int64_t exp = 0;
    int rc = auth_jwt_verify(&c, tok, len, NOW_MS, who, sizeof(who), &exp, err, sizeof(err));
    if (rc != 0) {
        if (rc != -WEIR_EINVAL || !err[0])
            abort(); /* a refusal always says why */
        return;
    }
    size_t n = strnlen(who, sizeof(who));
    if (n == 0 || n == sizeof(who) || exp <= NOW_MS - SKEW_MS)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)who[i] < 0x20)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char err[256];
    if (data[0] == 'k') {
        auth_jwks_t *ks = NULL;
        if (auth_jwks_parse((const char *)data + 1, size - 1, &ks, err, sizeof(err)) == 0 &&
            auth_jwks_count(ks) == 0)
            abort();
        auth_jwks_free(ks);
        return 0;
    }
    const char *tok = NULL;
    size_t len = 0;
    char authzid[AUTH_USER_MAX + 1];
    if (auth_oauthbearer_parse(data + 1, size - 1, &tok, &len, authzid, err, sizeof(err)) != 0)
        return 0;
    if (tok < (const char *)data + 1 || tok + len > (const char *)data + size)
        abort();
    verify(tok, len, false);
    verify(tok, len, true);
    return 0;
}
