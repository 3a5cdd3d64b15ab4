/*
 * auth: the pieces of authentication that are pure computation, with no I/O and no state
 * outside the caller's structs: SCRAM-SHA-256/512 (RFC 5802, RFC 7677) credentials and the
 * server side of its exchange, the SASL PLAIN token (RFC 4616), and standard base64 (RFC 4648
 * section 4, with padding), which SCRAM speaks; JSON Web Tokens (RFC 7519) checked against a
 * JSON Web Key Set (RFC 7517) and the SASL OAUTHBEARER client message (RFC 7628) that carries one.
 *
 * Everything here is given bytes from the network: every input is bounded (AUTH_MSG_MAX and
 * the field bounds below) and checked before anything is kept; malformed input is
 * -WEIR_EINVAL, never an assert. Secrets are compared in constant time (CRYPTO_memcmp).
 *
 * Threads: no shared state; any thread may call anything on its own structs.
 */
#ifndef WEIR_AUTH_H
#define WEIR_AUTH_H

#include "base/base.h"

#define AUTH_MSG_MAX        8192 /* a SCRAM message or PLAIN token, in bytes */
#define AUTH_USER_MAX       255  /* user name bytes */
#define AUTH_PASSWORD_MAX   1024 /* password bytes */
#define AUTH_KEY_MAX        64   /* SHA-512 */
#define AUTH_SALT_MAX       128  /* salt bytes (clients may choose theirs) */
#define AUTH_NONCE_MAX      256  /* a client nonce, in characters */
#define AUTH_SCRAM_ITER_MIN 4096 /* Kafka's bounds on SCRAM iterations */
#define AUTH_SCRAM_ITER_MAX 16384

/* ---- SCRAM credentials --------------------------------------------------------------------- */
typedef enum { AUTH_SCRAM_SHA_256 = 0, AUTH_SCRAM_SHA_512 = 1, AUTH_SCRAM__COUNT } auth_mech_t;

const char *auth_scram_mech_name(auth_mech_t m); /* "SCRAM-SHA-256" */
int auth_scram_mech_parse(const char *name);     /* a mechanism, or -1 */
/* Kafka's ScramMechanism enum in DescribeUserScramCredentials / AlterUserScramCredentials:
 * 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512. */
int8_t auth_scram_mech_kafka_type(auth_mech_t m);
int auth_scram_mech_from_kafka_type(int8_t t); /* a mechanism, or -1 */
size_t auth_scram_key_len(auth_mech_t m);      /* 32 or 64 */

/* What the server keeps: never the password, nor the salted password. */
typedef struct {
    auth_mech_t mech;
    int32_t iterations;
    size_t salt_len;
    uint8_t salt[AUTH_SALT_MAX];
    uint8_t stored_key[AUTH_KEY_MAX]; /* H(HMAC(SaltedPassword, "Client Key")) */
    uint8_t server_key[AUTH_KEY_MAX]; /* HMAC(SaltedPassword, "Server Key") */
} auth_scram_cred_t;

/* From a salted password (what AlterUserScramCredentials carries). -WEIR_EINVAL when a length
 * or the iteration count is out of bounds. */
int auth_scram_cred_from_salted(auth_mech_t m, const uint8_t *salt, size_t salt_len,
                                int32_t iterations, const uint8_t *salted, size_t salted_len,
                                auth_scram_cred_t *out);
/* From a password: PBKDF2 (Hi) with a fresh random salt when salt is NULL. */
int auth_scram_cred_from_password(auth_mech_t m, const char *password, size_t password_len,
                                  const uint8_t *salt, size_t salt_len, int32_t iterations,
                                  auth_scram_cred_t *out);
/* The salted password Hi(password, salt, i): key_len bytes into out. */
int auth_scram_salt_password(auth_mech_t m, const char *password, size_t password_len,
                             const uint8_t *salt, size_t salt_len, int32_t iterations,
                             uint8_t *out);
/* Whether password matches cred (SASL PLAIN against a SCRAM credential). Constant time in
 * the compared keys. */
bool auth_scram_cred_check_password(const auth_scram_cred_t *cred, const char *password,
                                    size_t password_len);

/* ---- the server side of a SCRAM exchange ----------------------------------------------------
 * client-first -> (look the user up) -> server-first -> client-final -> server-final.
 * The struct is caller storage; auth_scram_server_deinit frees what it holds. */
typedef enum {
    AUTH_SCRAM_WANT_CLIENT_FIRST = 0,
    AUTH_SCRAM_WANT_CLIENT_FINAL,
    AUTH_SCRAM_DONE,
    AUTH_SCRAM_FAILED
} auth_scram_state_t;

typedef struct {
    auth_mech_t mech;
    auth_scram_state_t state;
    char user[AUTH_USER_MAX + 1]; /* decoded saslname */
    char *gs2_header;             /* "n,," or "y,,": what c= must encode */
    char *client_first_bare;      /* "n=...,r=..." */
    char *server_first;           /* "r=...,s=...,i=..." */
    char *nonce;                  /* client nonce + server nonce */
    auth_scram_cred_t cred;
} auth_scram_server_t;

void auth_scram_server_init(auth_scram_server_t *s, auth_mech_t m);
void auth_scram_server_deinit(auth_scram_server_t *s);
/* Parses client-first-message; on success s->user names the user. -WEIR_EINVAL: malformed,
 * a channel binding asked for, or an extension Weir does not support (tokenauth). */
int auth_scram_client_first(auth_scram_server_t *s, const uint8_t *msg, size_t len);
/* With the user's credential: writes server-first-message into out (appended). A fresh
 * server nonce from the OS's random source. test_nonce (tests only) replaces it when not
 * NULL. */
int auth_scram_server_first(auth_scram_server_t *s, const auth_scram_cred_t *cred,
                            const char *test_nonce, buf_t *out);
/* Parses client-final-message and checks the proof. Returns -WEIR_EINVAL when the message is
 * malformed or its channel binding or nonce differs from the first messages'; otherwise 0,
 * with *proof_ok telling whether the proof is right and, when it is, server-final-message
 * appended to out. */
int auth_scram_client_final(auth_scram_server_t *s, const uint8_t *msg, size_t len, buf_t *out,
                            bool *proof_ok);

/* ---- SASL PLAIN ----------------------------------------------------------------------------
 * "[authzid] NUL authcid NUL passwd". Fills the three (NUL-terminated, bounded) fields;
 * -WEIR_EINVAL when malformed, a field holds a NUL, or a bound is passed. */
int auth_plain_parse(const uint8_t *tok, size_t len, char authzid[AUTH_USER_MAX + 1],
                     char user[AUTH_USER_MAX + 1], char password[AUTH_PASSWORD_MAX + 1]);

/* ---- ssl.principal.mapping.rules (principal_map.c) ------------------------------------------
 * Kafka's rules from a TLS client certificate's subject to a principal's name: DEFAULT and
 * RULE:pattern/replacement/[LU], on a subset of Java's regular expressions (docs/security.md).
 * A map is read-only once parsed; any thread may apply it. */
#define AUTH_PRINCIPAL_DN_MAX 2048 /* a longer subject matches no rule */
typedef struct auth_principal_map auth_principal_map_t;
/* 0, or -WEIR_EINVAL with the reason (which rule, what is wrong or not supported) in err. */
int auth_principal_map_parse(const char *rules, auth_principal_map_t **out, char *err,
                             size_t err_len);
void auth_principal_map_free(auth_principal_map_t *pm);
/* Appends the name the first matching rule gives dn to out; -WEIR_ENOENT when no rule matches
 * (Kafka fails the authentication), -WEIR_EINVAL when dn is over AUTH_PRINCIPAL_DN_MAX. */
int auth_principal_map_apply(const auth_principal_map_t *pm, const char *dn, buf_t *out);

/* ---- JSON Web Tokens (jwt.c) -----------------------------------------------------------------
 * A JWKS holds RSA keys (RS256/384/512, PS256) and EC keys on P-256 (ES256) and P-384 (ES384).
 * Keys with "use":"enc" are left out. Bounded: AUTH_JWKS_MAX bytes, AUTH_JWKS_KEYS_MAX keys. */
#define AUTH_JWT_MAX       8192         /* a token's bytes (the SASL token bound) */
#define AUTH_JWKS_MAX      (256 * 1024) /* a JWKS document's bytes */
#define AUTH_JWKS_KEYS_MAX 64

typedef struct auth_jwks auth_jwks_t; /* parsed JWKS: RSA and EC keys; immutable once parsed */

/* Parses a JWKS document ({"keys":[...]}); *out owns its keys. -WEIR_EINVAL with a message in
 * err when the document or a key is malformed, or no key is usable. */
int auth_jwks_parse(const char *json, size_t len, auth_jwks_t **out, char *err, size_t cap);
void auth_jwks_free(auth_jwks_t *k);
size_t auth_jwks_count(const auth_jwks_t *k); /* usable keys */

typedef struct {
    const auth_jwks_t *keys; /* NULL: no signed token verifies */
    /* When set, read instead of keys: the current set, replaced by another thread (a refresh);
     * the replacer keeps a replaced set alive long enough for verifications that loaded it. */
    _Atomic(auth_jwks_t *) const *keys_live;
    /* When set, called (on the verifying thread) when a token names a kid no key has: a hint
     * that the provider rotated its keys. */
    void (*on_unknown_kid)(void *arg);
    void *on_unknown_kid_arg;
    bool allow_unsecured;        /* accept "alg":"none" (tests and development only) */
    const char *issuer;          /* NULL or "": iss not checked */
    const char *audience;        /* comma-separated; NULL or "": aud not checked */
    const char *principal_claim; /* NULL: "sub" */
    /* The scopes a token must carry, comma separated (NULL or "": none), in its scope claim
     * (scope_claim, NULL: "scope"): a space-separated string (RFC 8693) or an array of them. */
    const char *required_scopes;
    const char *scope_claim;
    int64_t clock_skew_ms; /* allowed on exp and nbf */
} auth_jwt_config_t;

/* Verifies token (header.payload.signature, base64url) at now_ms: the signature by the key its
 * kid names (or, without kid, any key of the algorithm's type), exp (required), nbf, iss and aud.
 * On success principal holds the principal claim (a non-empty string of at most pcap-1 bytes)
 * and *expires_ms the token's exp in ms since the epoch. 0, or -WEIR_EINVAL with a one-line
 * reason in err ("the token expired at ...", "unknown key id 'k1'", "bad signature").
 * Any thread: c and its keys are only read. */
int auth_jwt_verify(const auth_jwt_config_t *c, const char *token, size_t len, int64_t now_ms,
                    char *principal, size_t pcap, int64_t *expires_ms, char *err, size_t ecap);

/* ---- SASL OAUTHBEARER (RFC 7628) -------------------------------------------------------------
 * The client's first message: "n,[a=authzid],\x01auth=Bearer <token>\x01[key=value\x01...]\x01".
 * Points *token into msg (not NUL-terminated) and copies the authzid (empty when none). Kafka's
 * SASL extensions (other key=value pairs) are accepted and ignored. -WEIR_EINVAL when
 * malformed, with the reason in err. */
int auth_oauthbearer_parse(const uint8_t *msg, size_t len, const char **token, size_t *token_len,
                           char authzid[AUTH_USER_MAX + 1], char *err, size_t ecap);

#endif
