/*
 * auth: SCRAM against RFC 7677's SCRAM-SHA-256 example (and RFC 5802's exchange shape with
 * SHA-512 by round trip), base64, SASL PLAIN, and the hostile inputs the parsers must refuse.
 */
#include "test.h"

#include "auth/auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* RFC 7677 section 3. */
static const char *const RFC_CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
static const char *const RFC_SNONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
static const char *const RFC_SALT64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
static const char *const RFC_SERVER_FIRST =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char *const RFC_CLIENT_FINAL =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char *const RFC_SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

static auth_scram_cred_t rfc_cred(void)
{
    uint8_t salt[32];
    int n = base64_decode(RFC_SALT64, strlen(RFC_SALT64), salt, sizeof(salt));
    auth_scram_cred_t c;
    int rc =
        auth_scram_cred_from_password(AUTH_SCRAM_SHA_256, "pencil", 6, salt, (size_t)n, 4096, &c);
    CHECK_EQ(rc, 0);
    return c;
}

static int run(auth_scram_server_t *s, const auth_scram_cred_t *c, const char *first,
               const char *snonce, const char *final, buf_t *sf, buf_t *sfin, bool *ok)
{
    int rc = auth_scram_client_first(s, (const uint8_t *)first, strlen(first));
    if (rc < 0)
        return rc;
    rc = auth_scram_server_first(s, c, snonce, sf);
    if (rc < 0)
        return rc;
    return auth_scram_client_final(s, (const uint8_t *) final, strlen(final), sfin, ok);
}

TEST(scram_sha256_rfc7677_vector)
{
    auth_scram_cred_t c = rfc_cred();
    auth_scram_server_t s;
    auth_scram_server_init(&s, AUTH_SCRAM_SHA_256);
    buf_t sf = {0}, fin = {0};
    bool ok = false;
    CHECK_EQ(run(&s, &c, RFC_CLIENT_FIRST, RFC_SNONCE, RFC_CLIENT_FINAL, &sf, &fin, &ok), 0);
    buf_append_u8(&sf, 0);
    buf_append_u8(&fin, 0);
    CHECK_STR((char *)sf.data, RFC_SERVER_FIRST);
    CHECK(ok);
    CHECK_STR((char *)fin.data, RFC_SERVER_FINAL);
    CHECK_STR(s.user, "user");
    CHECK_EQ(s.state, AUTH_SCRAM_DONE);
    auth_scram_server_deinit(&s);
    buf_deinit(&sf);
    buf_deinit(&fin);
}

TEST(scram_wrong_proof_and_tampering)
{
    auth_scram_cred_t c = rfc_cred();
    /* A proof one bit off, a nonce that differs, a channel binding that differs. */
    const char *finals[] = {
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU=",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",
    };
    const int want_rc[] = {0, -WEIR_EINVAL, -WEIR_EINVAL, -WEIR_EINVAL, -WEIR_EINVAL};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(finals); i++) {
        auth_scram_server_t s;
        auth_scram_server_init(&s, AUTH_SCRAM_SHA_256);
        buf_t sf = {0}, fin = {0};
        bool ok = true;
        CHECK_EQ(run(&s, &c, RFC_CLIENT_FIRST, RFC_SNONCE, finals[i], &sf, &fin, &ok), want_rc[i]);
        CHECK(!ok);
        CHECK_EQ(fin.len, 0);
        CHECK_EQ(s.state, AUTH_SCRAM_FAILED);
        auth_scram_server_deinit(&s);
        buf_deinit(&sf);
        buf_deinit(&fin);
    }
}

TEST(scram_client_first_hostile)
{
    const char *bad[] = {
        "",
        "n,,",
        "p=tls-server-end-point,,n=user,r=abc", /* channel binding asked for */
        "n,,r=abc,n=user",                      /* attributes out of order */
        "n,,n=,r=abc",                          /* empty name */
        "n,,n=us=4Cer,r=abc",                   /* a bad escape */
        "n,,n=user,r=",                         /* empty nonce */
        "n,,n=user,r=a,b",                      /* ',' ends the nonce, then junk */
        "n,,n=user,r=abc,m=ext",                /* a mandatory extension */
        "n,,n=user,r=abc,tokenauth=true",       /* Kafka delegation tokens */
        "n,a=other,n=user,r=abc",               /* authzid not the user */
        "n,,n=user,r=abc,",                     /* trailing comma */
        "x,,n=user,r=abc",
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(bad); i++) {
        auth_scram_server_t s;
        auth_scram_server_init(&s, AUTH_SCRAM_SHA_256);
        int rc = auth_scram_client_first(&s, (const uint8_t *)bad[i], strlen(bad[i]));
        if (rc != -WEIR_EINVAL)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK_EQ(rc, -WEIR_EINVAL);
        auth_scram_server_deinit(&s);
    }
    /* A NUL inside, and an oversized message. */
    auth_scram_server_t s;
    auth_scram_server_init(&s, AUTH_SCRAM_SHA_256);
    CHECK_EQ(auth_scram_client_first(&s, (const uint8_t *)"n,,n=u\0x,r=abc", 15), -WEIR_EINVAL);
    auth_scram_server_deinit(&s);
    char *big = malloc(AUTH_MSG_MAX + 100);
    memset(big, 'a', AUTH_MSG_MAX + 100);
    memcpy(big, "n,,n=user,r=", 12);
    auth_scram_server_init(&s, AUTH_SCRAM_SHA_256);
    CHECK_EQ(auth_scram_client_first(&s, (const uint8_t *)big, AUTH_MSG_MAX + 100), -WEIR_EINVAL);
    auth_scram_server_deinit(&s);
    free(big);
    /* Escapes decode; 'y' (client supports binding, thinks we do not) is accepted. */
    const char *good = "y,,n=a=2Cb=3Dc,r=abc";
    auth_scram_server_init(&s, AUTH_SCRAM_SHA_256);
    CHECK_EQ(auth_scram_client_first(&s, (const uint8_t *)good, strlen(good)), 0);
    CHECK_STR(s.user, "a,b=c");
    auth_scram_server_deinit(&s);
}

TEST(scram_iteration_bounds)
{
    auth_scram_cred_t c;
    uint8_t salt[16] = {1};
    uint8_t salted[32] = {2};
    CHECK_EQ(auth_scram_cred_from_salted(AUTH_SCRAM_SHA_256, salt, 16, 4095, salted, 32, &c),
             -WEIR_EINVAL);
    CHECK_EQ(auth_scram_cred_from_salted(AUTH_SCRAM_SHA_256, salt, 16, 16385, salted, 32, &c),
             -WEIR_EINVAL);
    CHECK_EQ(auth_scram_cred_from_salted(AUTH_SCRAM_SHA_256, salt, 16, INT32_MAX, salted, 32, &c),
             -WEIR_EINVAL);
    CHECK_EQ(auth_scram_cred_from_salted(AUTH_SCRAM_SHA_256, salt, 16, 4096, salted, 31, &c),
             -WEIR_EINVAL);
    CHECK_EQ(auth_scram_cred_from_salted(AUTH_SCRAM_SHA_256, salt, 0, 4096, salted, 32, &c),
             -WEIR_EINVAL);
    CHECK_EQ(auth_scram_cred_from_salted(AUTH_SCRAM_SHA_256, salt, 16, 16384, salted, 32, &c), 0);
    CHECK_EQ(auth_scram_cred_from_password(AUTH_SCRAM_SHA_512, "pw", 2, NULL, 0, 1000000, &c),
             -WEIR_EINVAL);
}

/* A client's side of SCRAM-SHA-512, written here from RFC 5802's formulas, against the server. */
TEST(scram_sha512_round_trip_and_plain_check)
{
    auth_scram_cred_t c;
    CHECK_EQ(auth_scram_cred_from_password(AUTH_SCRAM_SHA_512, "s3cret", 6, NULL, 0, 4096, &c), 0);
    CHECK_EQ(c.salt_len, 32);
    CHECK(auth_scram_cred_check_password(&c, "s3cret", 6));
    CHECK(!auth_scram_cred_check_password(&c, "s3creT", 6));
    CHECK(!auth_scram_cred_check_password(&c, "", 0));

    auth_scram_server_t s;
    auth_scram_server_init(&s, AUTH_SCRAM_SHA_512);
    const char *first = "n,,n=bob,r=clientnonce";
    CHECK_EQ(auth_scram_client_first(&s, (const uint8_t *)first, strlen(first)), 0);
    buf_t sf = {0};
    CHECK_EQ(auth_scram_server_first(&s, &c, NULL, &sf), 0);
    buf_append_u8(&sf, 0);
    const char *nonce = (char *)sf.data + 2;
    const char *comma = strchr(nonce, ',');
    REQUIRE(comma);
    CHECK_EQ(comma - nonce, 11 + 32); /* the client's nonce then 32 characters of the server's */
    buf_t fwp = {0};
    buf_printf(&fwp, "c=biws,r=%.*s", (int)(comma - nonce), nonce);
    uint8_t salted[64], ck[64], sk[64], sig[64], proof[64];
    CHECK_EQ(
        auth_scram_salt_password(AUTH_SCRAM_SHA_512, "s3cret", 6, c.salt, c.salt_len, 4096, salted),
        0);
    unsigned int n;
    HMAC(EVP_sha512(), salted, 64, (const uint8_t *)"Client Key", 10, ck, &n);
    EVP_Digest(ck, 64, sk, &n, EVP_sha512(), NULL);
    buf_t am = {0};
    buf_printf(&am, "n=bob,r=clientnonce,%s,%.*s", (char *)sf.data, (int)fwp.len, (char *)fwp.data);
    HMAC(EVP_sha512(), sk, 64, am.data, am.len, sig, &n);
    for (int i = 0; i < 64; i++)
        proof[i] = ck[i] ^ sig[i];
    char p64[100];
    base64_encode(proof, 64, p64);
    buf_printf(&fwp, ",p=%s", p64);
    buf_t fin = {0};
    bool ok = false;
    CHECK_EQ(auth_scram_client_final(&s, fwp.data, fwp.len, &fin, &ok), 0);
    CHECK(ok);
    CHECK_EQ(fin.len, 2 + 88);
    /* Replaying the final message on the finished exchange fails. */
    CHECK_EQ(auth_scram_client_final(&s, fwp.data, fwp.len, &fin, &ok), -WEIR_EINVAL);
    auth_scram_server_deinit(&s);
    buf_deinit(&sf);
    buf_deinit(&fwp);
    buf_deinit(&am);
    buf_deinit(&fin);
}

TEST(base64_strict)
{
    uint8_t out[16];
    char enc[32];
    CHECK_EQ(base64_encode((const uint8_t *)"ab", 2, enc), 4);
    CHECK_STR(enc, "YWI=");
    CHECK_EQ(base64_decode("YWI=", 4, out, sizeof(out)), 2);
    CHECK_MEM(out, "ab", 2);
    CHECK_EQ(base64_decode("YWJj", 4, out, sizeof(out)), 3);
    CHECK_EQ(base64_decode("YW==", 4, out, sizeof(out)), 1);
    CHECK_EQ(base64_decode("YWI", 3, out, sizeof(out)), -WEIR_EINVAL);
    CHECK_EQ(base64_decode("Y=I=", 4, out, sizeof(out)), -WEIR_EINVAL);
    CHECK_EQ(base64_decode("YWI=YWI=", 8, out, sizeof(out)), -WEIR_EINVAL);
    CHECK_EQ(base64_decode("YW-=", 4, out, sizeof(out)), -WEIR_EINVAL);
    CHECK_EQ(base64_decode("YWJjYWJj", 8, out, 5), -WEIR_ETOOBIG);
}

TEST(plain_token)
{
    char z[AUTH_USER_MAX + 1], u[AUTH_USER_MAX + 1], p[AUTH_PASSWORD_MAX + 1];
    CHECK_EQ(auth_plain_parse((const uint8_t *)"\0alice\0pw", 9, z, u, p), 0);
    CHECK_STR(z, "");
    CHECK_STR(u, "alice");
    CHECK_STR(p, "pw");
    CHECK_EQ(auth_plain_parse((const uint8_t *)"admin\0alice\0pw", 14, z, u, p), 0);
    CHECK_STR(z, "admin");
    CHECK_EQ(auth_plain_parse((const uint8_t *)"alice\0pw", 8, z, u, p), -WEIR_EINVAL);
    CHECK_EQ(auth_plain_parse((const uint8_t *)"\0\0pw", 4, z, u, p), -WEIR_EINVAL);
    CHECK_EQ(auth_plain_parse((const uint8_t *)"\0alice\0", 7, z, u, p), -WEIR_EINVAL);
    CHECK_EQ(auth_plain_parse((const uint8_t *)"\0alice\0p\0w", 10, z, u, p), -WEIR_EINVAL);
    uint8_t big[AUTH_USER_MAX + 10];
    memset(big, 'u', sizeof(big));
    big[0] = 0;
    big[sizeof(big) - 3] = 0;
    CHECK_EQ(auth_plain_parse(big, sizeof(big), z, u, p), -WEIR_EINVAL); /* user too long */
}

TEST_MAIN()
