/*
 * scram: SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) for the server, on OpenSSL's
 * PBKDF2, HMAC and digests; SASL PLAIN (RFC 4616); base64 from base/.
 *
 * The server keeps, per user and mechanism, salt, iterations, StoredKey and ServerKey. A
 * client proves it knows ClientKey: ClientKey = proof XOR HMAC(StoredKey, AuthMessage), and
 * H(ClientKey) must equal StoredKey. The comparison is CRYPTO_memcmp, so its time does not
 * depend on where the bytes differ.
 *
 * Invariant: the exchange moves only forward (WANT_CLIENT_FIRST -> WANT_CLIENT_FINAL -> DONE,
 * or FAILED from anywhere); a call in the wrong state fails and leaves FAILED.
 */
#include "auth/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- primitives ---------------------------------------------------------------------------- */

static const char *const mech_names[AUTH_SCRAM__COUNT] = {"SCRAM-SHA-256", "SCRAM-SHA-512"};

const char *auth_scram_mech_name(auth_mech_t m)
{
    WEIR_ASSERT(m < AUTH_SCRAM__COUNT);
    return mech_names[m];
}

int auth_scram_mech_parse(const char *name)
{
    for (int m = 0; m < AUTH_SCRAM__COUNT; m++)
        if (strcmp(name, mech_names[m]) == 0)
            return m;
    return -1;
}

int8_t auth_scram_mech_kafka_type(auth_mech_t m)
{
    return (int8_t)(m + 1);
}

int auth_scram_mech_from_kafka_type(int8_t t)
{
    return t == 1 || t == 2 ? t - 1 : -1;
}

size_t auth_scram_key_len(auth_mech_t m)
{
    return m == AUTH_SCRAM_SHA_512 ? 64 : 32;
}

static const EVP_MD *mech_md(auth_mech_t m)
{
    return m == AUTH_SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
}

static void hmac(auth_mech_t m, const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
                 uint8_t *out)
{
    unsigned int n = 0;
    uint8_t *r = HMAC(mech_md(m), key, (int)key_len, msg, msg_len, out, &n);
    WEIR_ASSERT(r && n == auth_scram_key_len(m));
}

static void digest(auth_mech_t m, const uint8_t *p, size_t n, uint8_t *out)
{
    unsigned int len = 0;
    int ok = EVP_Digest(p, n, out, &len, mech_md(m), NULL);
    WEIR_ASSERT(ok == 1 && len == auth_scram_key_len(m));
}

int auth_scram_salt_password(auth_mech_t m, const char *password, size_t password_len,
                             const uint8_t *salt, size_t salt_len, int32_t iterations, uint8_t *out)
{
    if (password_len > AUTH_PASSWORD_MAX || salt_len == 0 || salt_len > AUTH_SALT_MAX ||
        iterations < AUTH_SCRAM_ITER_MIN || iterations > AUTH_SCRAM_ITER_MAX)
        return -WEIR_EINVAL;
    if (PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len, iterations, mech_md(m),
                          (int)auth_scram_key_len(m), out) != 1)
        return -WEIR_EINVAL;
    return 0;
}

int auth_scram_cred_from_salted(auth_mech_t m, const uint8_t *salt, size_t salt_len,
                                int32_t iterations, const uint8_t *salted, size_t salted_len,
                                auth_scram_cred_t *out)
{
    size_t kl = auth_scram_key_len(m);
    if (salt_len == 0 || salt_len > AUTH_SALT_MAX || salted_len != kl ||
        iterations < AUTH_SCRAM_ITER_MIN || iterations > AUTH_SCRAM_ITER_MAX)
        return -WEIR_EINVAL;
    memset(out, 0, sizeof(*out));
    out->mech = m;
    out->iterations = iterations;
    out->salt_len = salt_len;
    memcpy(out->salt, salt, salt_len);
    uint8_t client_key[AUTH_KEY_MAX];
    hmac(m, salted, kl, "Client Key", 10, client_key);
    digest(m, client_key, kl, out->stored_key);
    hmac(m, salted, kl, "Server Key", 10, out->server_key);
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return 0;
}

int auth_scram_cred_from_password(auth_mech_t m, const char *password, size_t password_len,
                                  const uint8_t *salt, size_t salt_len, int32_t iterations,
                                  auth_scram_cred_t *out)
{
    uint8_t fresh[32];
    if (!salt) {
        if (RAND_bytes(fresh, sizeof(fresh)) != 1)
            return -WEIR_EIO;
        salt = fresh;
        salt_len = sizeof(fresh);
    }
    uint8_t salted[AUTH_KEY_MAX];
    int rc =
        auth_scram_salt_password(m, password, password_len, salt, salt_len, iterations, salted);
    if (rc == 0)
        rc = auth_scram_cred_from_salted(m, salt, salt_len, iterations, salted,
                                         auth_scram_key_len(m), out);
    OPENSSL_cleanse(salted, sizeof(salted));
    return rc;
}

bool auth_scram_cred_check_password(const auth_scram_cred_t *cred, const char *password,
                                    size_t password_len)
{
    auth_scram_cred_t probe;
    if (auth_scram_cred_from_password(cred->mech, password, password_len, cred->salt,
                                      cred->salt_len, cred->iterations, &probe) != 0)
        return false;
    bool ok =
        CRYPTO_memcmp(probe.stored_key, cred->stored_key, auth_scram_key_len(cred->mech)) == 0;
    OPENSSL_cleanse(&probe, sizeof(probe));
    return ok;
}

/* ---- the exchange -------------------------------------------------------------------------- */

void auth_scram_server_init(auth_scram_server_t *s, auth_mech_t m)
{
    memset(s, 0, sizeof(*s));
    s->mech = m;
}

void auth_scram_server_deinit(auth_scram_server_t *s)
{
    free(s->gs2_header);
    free(s->client_first_bare);
    free(s->server_first);
    free(s->nonce);
    OPENSSL_cleanse(&s->cred, sizeof(s->cred));
    memset(s, 0, sizeof(*s));
}

/* A printable nonce: %x21-7E except ',' (RFC 5802's "printable"). */
static bool nonce_ok(const char *p, size_t n)
{
    if (n == 0 || n > AUTH_NONCE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
            return false;
    return true;
}

/* saslname -> name: "=2C" is ',', "=3D" is '='; any other '=' is an error. */
static int saslname_decode(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\0' || c == ',')
            return -WEIR_EINVAL;
        if (c == '=') {
            if (i + 2 >= n)
                return -WEIR_EINVAL;
            if (p[i + 1] == '2' && p[i + 2] == 'C')
                c = ',';
            else if (p[i + 1] == '3' && p[i + 2] == 'D')
                c = '=';
            else
                return -WEIR_EINVAL;
            i += 2;
        }
        if (o + 1 >= cap)
            return -WEIR_EINVAL;
        out[o++] = c;
    }
    if (o == 0)
        return -WEIR_EINVAL;
    out[o] = '\0';
    return 0;
}

/* The next ','-separated attribute "x=value" of msg[*off..len): its letter and value. */
static int next_attr(const char *msg, size_t len, size_t *off, char *letter, const char **val,
                     size_t *val_len)
{
    if (*off >= len)
        return -WEIR_EINVAL;
    const char *p = msg + *off;
    const char *end = memchr(p, ',', len - *off);
    size_t n = end ? (size_t)(end - p) : len - *off;
    if (n < 2 || p[1] != '=')
        return -WEIR_EINVAL;
    *letter = p[0];
    *val = p + 2;
    *val_len = n - 2;
    *off += n + (end ? 1 : 0);
    if (end && *off == len) /* a trailing comma */
        return -WEIR_EINVAL;
    return 0;
}

static int scram_fail(auth_scram_server_t *s)
{
    s->state = AUTH_SCRAM_FAILED;
    return -WEIR_EINVAL;
}

int auth_scram_client_first(auth_scram_server_t *s, const uint8_t *msg_bytes, size_t len)
{
    const char *msg = (const char *)msg_bytes;
    if (s->state != AUTH_SCRAM_WANT_CLIENT_FIRST || len < 3 || len > AUTH_MSG_MAX ||
        memchr(msg, '\0', len))
        return scram_fail(s);
    /* gs2-header: gs2-cbind-flag "," [authzid] ",". 'n': the client does not support channel
     * binding; 'y': it does but thinks we do not. 'p' (binding required) we cannot honour. */
    if ((msg[0] != 'n' && msg[0] != 'y') || msg[1] != ',')
        return scram_fail(s);
    const char *c2 = memchr(msg + 2, ',', len - 2);
    if (!c2)
        return scram_fail(s);
    size_t gs2_len = (size_t)(c2 - msg) + 1;
    if (gs2_len > 2 + 2 + AUTH_USER_MAX * 3 + 1)
        return scram_fail(s);
    if (gs2_len > 3 && (msg[2] != 'a' || msg[3] != '=')) /* authzid is "a=saslname" */
        return scram_fail(s);
    const char *bare = msg + gs2_len;
    size_t bare_len = len - gs2_len;
    size_t off = 0;
    char letter;
    const char *v;
    size_t vl;
    if (next_attr(bare, bare_len, &off, &letter, &v, &vl) < 0 || letter != 'n' ||
        saslname_decode(v, vl, s->user, sizeof(s->user)) < 0)
        return scram_fail(s);
    if (gs2_len > 3) { /* an authzid must name the same user, as Kafka requires */
        char authzid[AUTH_USER_MAX + 1];
        if (saslname_decode(msg + 4, gs2_len - 5, authzid, sizeof(authzid)) < 0 ||
            strcmp(authzid, s->user) != 0)
            return scram_fail(s);
    }
    if (next_attr(bare, bare_len, &off, &letter, &v, &vl) < 0 || letter != 'r' || !nonce_ok(v, vl))
        return scram_fail(s);
    const char *cnonce = v;
    size_t cnonce_len = vl;
    /* Extensions: one-letter attributes the server does not know are ignored, as RFC 5802
     * allows; a mandatory one ('m') is refused. Kafka's "tokenauth=true" (delegation tokens,
     * not supported) is not a one-letter attribute and so is refused as malformed. */
    while (off < bare_len) {
        if (next_attr(bare, bare_len, &off, &letter, &v, &vl) < 0 || letter == 'm')
            return scram_fail(s);
    }
    s->gs2_header = weir_strndup(msg, gs2_len);
    s->client_first_bare = weir_strndup(bare, bare_len);
    s->nonce = weir_strndup(cnonce, cnonce_len);
    s->state = AUTH_SCRAM_WANT_CLIENT_FINAL;
    return 0;
}

int auth_scram_server_first(auth_scram_server_t *s, const auth_scram_cred_t *cred,
                            const char *test_nonce, buf_t *out)
{
    if (s->state != AUTH_SCRAM_WANT_CLIENT_FINAL || s->server_first || cred->mech != s->mech)
        return scram_fail(s);
    char snonce[AUTH_NONCE_MAX + 1];
    if (test_nonce) {
        snprintf(snonce, sizeof(snonce), "%s", test_nonce);
    } else {
        uint8_t rnd[24];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            return scram_fail(s);
        base64_encode(rnd, sizeof(rnd), snonce); /* 32 characters, no ',' */
    }
    s->cred = *cred;
    buf_t nonce = {0};
    buf_printf(&nonce, "%s%s", s->nonce, snonce);
    buf_append_u8(&nonce, 0);
    free(s->nonce);
    s->nonce = (char *)nonce.data;
    char salt64[AUTH_SALT_MAX / 3 * 4 + 8];
    base64_encode(cred->salt, cred->salt_len, salt64);
    buf_t sf = {0};
    buf_printf(&sf, "r=%s,s=%s,i=%d", s->nonce, salt64, cred->iterations);
    buf_append_u8(&sf, 0);
    s->server_first = (char *)sf.data;
    buf_append_str(out, s->server_first);
    return 0;
}

int auth_scram_client_final(auth_scram_server_t *s, const uint8_t *msg_bytes, size_t len,
                            buf_t *out, bool *proof_ok)
{
    const char *msg = (const char *)msg_bytes;
    *proof_ok = false;
    if (s->state != AUTH_SCRAM_WANT_CLIENT_FINAL || !s->server_first || len > AUTH_MSG_MAX ||
        memchr(msg, '\0', len))
        return scram_fail(s);
    size_t off = 0;
    char letter;
    const char *v;
    size_t vl;
    /* c=: base64 of the gs2 header, exactly. */
    char cb[2 * (AUTH_USER_MAX * 3 + 8) + 8];
    size_t gl = strlen(s->gs2_header);
    if (base64_encoded_len(gl) >= sizeof(cb))
        return scram_fail(s);
    base64_encode((const uint8_t *)s->gs2_header, gl, cb);
    if (next_attr(msg, len, &off, &letter, &v, &vl) < 0 || letter != 'c' || vl != strlen(cb) ||
        memcmp(v, cb, vl) != 0)
        return scram_fail(s);
    /* r=: RFC 5802 wants exactly the combined nonce. librdkafka sends its own nonce again in
     * front of it, and Kafka accepts that (its check is "ends with the server-first nonce"),
     * so Weir checks what Kafka checks. The proof covers the message as sent either way. */
    size_t nl = strlen(s->nonce);
    if (next_attr(msg, len, &off, &letter, &v, &vl) < 0 || letter != 'r' || vl < nl ||
        vl > nl + AUTH_NONCE_MAX || memcmp(v + vl - nl, s->nonce, nl) != 0 ||
        (vl > nl && !nonce_ok(v, vl - nl)))
        return scram_fail(s);
    /* Extensions, then p= last. */
    size_t without_proof = 0;
    const char *proof64 = NULL;
    size_t proof64_len = 0;
    while (off < len) {
        size_t start = off;
        if (next_attr(msg, len, &off, &letter, &v, &vl) < 0)
            return scram_fail(s);
        if (letter == 'p') {
            if (off != len)
                return scram_fail(s);
            without_proof = start - 1; /* before the ',' */
            proof64 = v;
            proof64_len = vl;
        }
    }
    if (!proof64)
        return scram_fail(s);
    size_t kl = auth_scram_key_len(s->mech);
    uint8_t proof[AUTH_KEY_MAX + 3];
    int n = base64_decode(proof64, proof64_len, proof, sizeof(proof));
    if (n < 0 || (size_t)n != kl)
        return scram_fail(s);

    /* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
    buf_t am = {0};
    buf_append_str(&am, s->client_first_bare);
    buf_append_u8(&am, ',');
    buf_append_str(&am, s->server_first);
    buf_append_u8(&am, ',');
    buf_append(&am, msg, without_proof);
    uint8_t client_sig[AUTH_KEY_MAX], client_key[AUTH_KEY_MAX], stored[AUTH_KEY_MAX];
    hmac(s->mech, s->cred.stored_key, kl, am.data, am.len, client_sig);
    for (size_t i = 0; i < kl; i++)
        client_key[i] = proof[i] ^ client_sig[i];
    digest(s->mech, client_key, kl, stored);
    *proof_ok = CRYPTO_memcmp(stored, s->cred.stored_key, kl) == 0;
    if (*proof_ok) {
        uint8_t server_sig[AUTH_KEY_MAX];
        char sig64[AUTH_KEY_MAX / 3 * 4 + 8];
        hmac(s->mech, s->cred.server_key, kl, am.data, am.len, server_sig);
        base64_encode(server_sig, kl, sig64);
        buf_append_str(out, "v=");
        buf_append_str(out, sig64);
        s->state = AUTH_SCRAM_DONE;
    } else {
        s->state = AUTH_SCRAM_FAILED;
    }
    OPENSSL_cleanse(client_key, sizeof(client_key));
    buf_deinit(&am);
    return 0;
}

/* ---- PLAIN --------------------------------------------------------------------------------- */

static int plain_field(const uint8_t *p, size_t n, char *out, size_t cap)
{
    if (n >= cap)
        return -WEIR_EINVAL;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int auth_plain_parse(const uint8_t *tok, size_t len, char authzid[AUTH_USER_MAX + 1],
                     char user[AUTH_USER_MAX + 1], char password[AUTH_PASSWORD_MAX + 1])
{
    if (len > AUTH_MSG_MAX)
        return -WEIR_EINVAL;
    const uint8_t *z1 = memchr(tok, 0, len);
    if (!z1)
        return -WEIR_EINVAL;
    const uint8_t *u = z1 + 1;
    size_t rest = len - (size_t)(u - tok);
    const uint8_t *z2 = memchr(u, 0, rest);
    if (!z2)
        return -WEIR_EINVAL;
    const uint8_t *pw = z2 + 1;
    size_t pw_len = len - (size_t)(pw - tok);
    if (memchr(pw, 0, pw_len)) /* a third NUL */
        return -WEIR_EINVAL;
    size_t user_len = (size_t)(z2 - u);
    if (user_len == 0 || pw_len == 0)
        return -WEIR_EINVAL;
    if (plain_field(tok, (size_t)(z1 - tok), authzid, AUTH_USER_MAX + 1) < 0 ||
        plain_field(u, user_len, user, AUTH_USER_MAX + 1) < 0 ||
        plain_field(pw, pw_len, password, AUTH_PASSWORD_MAX + 1) < 0)
        return -WEIR_EINVAL;
    return 0;
}
