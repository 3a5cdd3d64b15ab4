/*
 * SaslHandshake (key 17) 0-1 and SaslAuthenticate (key 36) 0-2, the SASL gate that keeps a
 * SASL listener's connection to those requests until it authenticates, and the connection's
 * principal.
 *
 * Kafka's order on a SASL listener: ApiVersions (optional), SaslHandshake naming a mechanism,
 * then the mechanism's exchange: in SaslAuthenticate requests after SaslHandshake v1, or after
 * v0 as raw tokens (a 4-byte size and the token, no request header) answered the same way.
 * Mechanisms: PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802/7677), both checked against the
 * users' SCRAM credentials (broker/users.c), and OAUTHBEARER (RFC 7628): a JWT checked by
 * auth_jwt_verify against the listener's configuration; a refused token is answered, as Kafka
 * does, with the challenge {"status":"invalid_token"}, and once the client acknowledges it (a
 * lone \x01) with SASL_AUTHENTICATION_FAILED. Before authentication succeeds any other request
 * closes the connection, as Kafka does, and frames are bounded by Kafka's
 * sasl.server.max.receive.size (512 KiB) and tokens by AUTH_MSG_MAX. A failed authentication
 * answers SASL_AUTHENTICATION_FAILED with Kafka's message and closes once that is sent.
 *
 * Re-authentication (KIP-368): a session gets a lifetime when connections.max.reauth.ms is set or
 * its credential expires (an OAUTHBEARER token's exp), the shorter of the two, told to the client
 * in SaslAuthenticate v1+ (session_lifetime_ms). Before it ends the client may run SaslHandshake
 * v1 + SaslAuthenticate again on the open connection, with the same mechanism and principal (a
 * new password or token is fine); meanwhile its other requests go on under the session so far.
 * A connection whose session ended without that is closed at its next request, as Kafka does.
 *
 * Invariant: a session moves WANT_HANDSHAKE -> WANT_AUTH or WANT_RAW -> OPEN, and only a
 * re-authentication goes back (OPEN -> WANT_AUTH -> OPEN); its principal is set when it first
 * becomes OPEN (or at creation from a TLS client certificate on an SSL listener) and never
 * changes afterwards. Everything runs on the connection's loop
 * thread. PLAIN's check runs PBKDF2 there (milliseconds: 4096 to 16384 iterations); SCRAM's
 * exchange costs a few HMACs.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <assert.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>

#define SASL_MAX_RECEIVE_BYTES (512 * 1024) /* Kafka's sasl.server.max.receive.size */
#define MECH_PLAIN             (-1)
#define MECH_OAUTHBEARER       AUTH_SCRAM__COUNT /* after the SCRAM mechanisms */
#define OAUTH_WHY_MAX          320

enum {
    SESS_OPEN = 0,       /* no SASL on this listener, or authenticated */
    SESS_WANT_HANDSHAKE, /* SaslHandshake (or ApiVersions) next */
    SESS_WANT_AUTH,      /* SaslAuthenticate requests carry the exchange (handshake v1) */
    SESS_WANT_RAW,       /* raw tokens carry the exchange (handshake v0) */
    SESS_REFUSED         /* no principal for its client certificate: every frame closes */
};

struct kafka_session {
    int state;
    bool authed; /* authenticated once: an exchange now is a re-authentication */
    int mech;    /* MECH_PLAIN, MECH_OAUTHBEARER or an auth_mech_t */
    auth_scram_server_t scram;
    char *principal;         /* NULL: User:ANONYMOUS */
    int64_t lifetime_ms;     /* of the last authentication (session_lifetime_ms); 0: unbounded */
    int64_t expires_mono_ms; /* when the session ends without re-authentication; 0: never */
    int64_t cred_expires_ms; /* wall clock: the OAUTHBEARER token's exp; 0: none */
    bool oauth_refused;      /* the token was refused: the client's \x01 gets oauth_why */
    char oauth_why[OAUTH_WHY_MAX];
    struct delayed_failure *delayed; /* a failure answer waiting out its delay */
    struct delayed_close *closing;   /* a v0 failure: the close waiting out its delay */
};

/* A SaslAuthenticate failure answered connection.failed.authentication.delay.ms later (Kafka's
 * brake on password guessing), without holding the loop: the response waits in a parked slot
 * and a timer sends it; the connection is already draining and closes once it is sent. */
typedef struct delayed_failure {
    kafka_park_t pk; /* first: a parked request */
    net_timer_t timer;
    kafka_session_t *ks;
} delayed_failure_t;

static void delayed_failure_send(void *arg)
{
    delayed_failure_t *df = arg;
    df->ks->delayed = NULL;
    kafka_park_finish(&df->pk); /* frees df */
}

/* A failed v0 raw-token exchange has no answer: its close waits out the delay instead, the
 * connection muted meanwhile (Kafka delays the channel's close the same way). */
typedef struct delayed_close {
    net_timer_t timer;
    net_conn_t *conn;
    net_slot_t *slot;
    kafka_session_t *ks;
} delayed_close_t;

static void delayed_close_fire(void *arg)
{
    delayed_close_t *dc = arg;
    dc->ks->closing = NULL;
    net_conn_close(dc->conn);
    net_slot_complete(dc->slot, NULL);
    free(dc);
}

static const char *const security_names[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};

const char *kafka_security_name(kafka_security_t sec)
{
    return security_names[sec];
}

int kafka_security_parse(const char *name, size_t len)
{
    for (int i = 0; i < (int)WEIR_ARRAY_LEN(security_names); i++)
        if (strlen(security_names[i]) == len && strncasecmp(name, security_names[i], len) == 0)
            return i;
    return -1;
}

static bool is_sasl(const kafka_listener_t *lst)
{
    return lst->security == KAFKA_SEC_SASL_PLAINTEXT || lst->security == KAFKA_SEC_SASL_SSL;
}

/* The principal of an SSL listener's client certificate: User:<the name the listener's
 * ssl.principal.mapping.rules give its subject>. false when no rule matches: Kafka fails
 * the authentication. */
static bool ssl_principal(net_conn_t *conn, const kafka_listener_t *lst, const char *dn, char **out)
{
    buf_t p = {0};
    buf_printf(&p, "User:");
    int rc = lst->principal_map ? auth_principal_map_apply(lst->principal_map, dn, &p) : 0;
    if (!lst->principal_map)
        buf_printf(&p, "%s", dn);
    if (rc < 0) {
        log_warn("kafka",
                 "%s: TLS client certificate '%.300s': %s, closing (failed authentication)",
                 net_conn_peer(conn), dn,
                 rc == -WEIR_ENOENT ? "no ssl.principal.mapping.rules rule matches its subject"
                                    : "its subject is too long to map");
        buf_deinit(&p);
        return false;
    }
    buf_append_u8(&p, 0);
    *out = (char *)p.data;
    log_info("kafka", "%s: TLS client certificate %s: principal %s", net_conn_peer(conn), dn, *out);
    return true;
}

static kafka_session_t *session_new(net_conn_t *conn, const kafka_listener_t *lst)
{
    kafka_session_t *ks = weir_calloc(1, sizeof(*ks));
    ks->state = is_sasl(lst) ? SESS_WANT_HANDSHAKE : SESS_OPEN;
    const char *dn = net_conn_tls_peer_dn(conn);
    if (lst->security == KAFKA_SEC_SSL && dn && !ssl_principal(conn, lst, dn, &ks->principal))
        ks->state = SESS_REFUSED;
    net_conn_set_session(conn, ks);
    return ks;
}

void kafka_on_close(net_conn_t *conn, void *user)
{
    (void)user;
    kafka_session_t *ks = net_conn_session(conn);
    if (!ks)
        return;
    if (ks->delayed) { /* the peer left before its answer: complete the slot now */
        net_timer_stop(net_conn_loop(conn), &ks->delayed->timer);
        delayed_failure_send(ks->delayed);
    }
    if (ks->closing) { /* the peer left first: the slot completes, nothing more to close */
        net_timer_stop(net_conn_loop(conn), &ks->closing->timer);
        net_slot_complete(ks->closing->slot, NULL);
        free(ks->closing);
        ks->closing = NULL;
    }
    auth_scram_server_deinit(&ks->scram);
    free(ks->principal);
    free(ks);
    net_conn_set_session(conn, NULL);
}

const char *kafka_conn_principal(const net_conn_t *conn)
{
    const kafka_session_t *ks = net_conn_session(conn);
    return ks && ks->principal ? ks->principal : "User:ANONYMOUS";
}

bool kafka_conn_authenticated(const net_conn_t *conn)
{
    const kafka_session_t *ks = net_conn_session(conn);
    const kafka_listener_t *lst = net_conn_user(conn);
    if (!is_sasl(lst))
        return true;
    return ks && (ks->state == SESS_OPEN || ks->authed);
}

static const char *mech_name(int mech)
{
    if (mech == MECH_OAUTHBEARER)
        return "OAUTHBEARER";
    return mech == MECH_PLAIN ? "PLAIN" : auth_scram_mech_name((auth_mech_t)mech);
}

/* ---- the exchange -------------------------------------------------------------------------- */

enum { STEP_CONTINUE, STEP_DONE, STEP_FAIL };

/* The session's lifetime as Kafka computes it: the credential's remaining life, bounded by
 * connections.max.reauth.ms when that is positive; -1 when neither bounds it. */
static int64_t session_lifetime_ms(const kafka_session_t *ks, const kafka_listener_t *lst)
{
    int64_t own = lst->reauth_ms[1 + ks->mech]; /* MECH_PLAIN is -1: bit 0 */
    int64_t max =
        own >= 0 ? own
                 : broker_settings_int(broker_settings(lst->b), BCFG_CONNECTIONS_MAX_REAUTH_MS);
    int64_t life = -1;
    if (ks->cred_expires_ms)
        life = WEIR_MAX(ks->cred_expires_ms - clock_wall_ms(), 0);
    if (max > 0)
        life = life < 0 ? max : WEIR_MIN(life, max);
    return life;
}

/* The exchange succeeded for user: the session opens (or, re-authenticating, goes on with the
 * same principal and a new lifetime). STEP_FAIL when a re-authentication names someone else. */
static int authenticated(net_conn_t *conn, kafka_session_t *ks, const kafka_listener_t *lst,
                         const char *user, const char **why)
{
    buf_t p = {0};
    buf_printf(&p, "User:%s", user);
    buf_append_u8(&p, 0);
    if (ks->authed && strcmp(ks->principal, (const char *)p.data) != 0) {
        log_warn("kafka", "%s: re-authentication as %s refused: the connection is %s",
                 net_conn_peer(conn), (const char *)p.data, ks->principal);
        buf_deinit(&p);
        *why = "Cannot change principals during re-authentication";
        return STEP_FAIL;
    }
    free(ks->principal);
    ks->principal = (char *)p.data;
    ks->state = SESS_OPEN;
    int64_t life = session_lifetime_ms(ks, lst);
    ks->lifetime_ms = life < 0 ? 0 : life;
    ks->expires_mono_ms = life < 0 ? 0 : clock_mono_ms() + life;
    log_info("kafka", "%s: %s as %s (SASL %s, session lifetime %" PRId64 " ms)",
             net_conn_peer(conn), ks->authed ? "re-authenticated" : "authenticated", ks->principal,
             mech_name(ks->mech), ks->lifetime_ms);
    ks->authed = true;
    return STEP_DONE;
}

static int plain_step(net_conn_t *conn, kafka_session_t *ks, const kafka_listener_t *lst,
                      const uint8_t *tok, size_t len, const char **why)
{
    char authzid[AUTH_USER_MAX + 1], user[AUTH_USER_MAX + 1];
    char *password = weir_malloc(AUTH_PASSWORD_MAX + 1);
    int rc = STEP_FAIL;
    if (auth_plain_parse(tok, len, authzid, user, password) < 0) {
        *why = "Authentication failed: Invalid SASL/PLAIN token";
        goto out;
    }
    if (authzid[0] && strcmp(authzid, user) != 0) {
        *why = "Authentication failed: Client requested an authorization id that is different "
               "from username";
        goto out;
    }
    int ok = broker_user_check_password(lst->b, user, password, strlen(password));
    if (ok < 0) {
        *why = "Authentication failed: Invalid username or password";
        log_warn("kafka", "%s: SASL PLAIN authentication failed for user '%s': %s",
                 net_conn_peer(conn), user, ok == -WEIR_ENOENT ? "unknown user" : "wrong password");
        goto out;
    }
    rc = authenticated(conn, ks, lst, user, why);
out:
    OPENSSL_cleanse(password, AUTH_PASSWORD_MAX + 1);
    free(password);
    return rc;
}

static int scram_step(net_conn_t *conn, kafka_session_t *ks, const kafka_listener_t *lst,
                      const uint8_t *tok, size_t len, buf_t *out, const char **why)
{
    auth_scram_server_t *s = &ks->scram;
    if (s->state == AUTH_SCRAM_WANT_CLIENT_FIRST) {
        if (auth_scram_client_first(s, tok, len) < 0) {
            log_warn("kafka", "%s: SASL %s: malformed client-first message", net_conn_peer(conn),
                     mech_name(ks->mech));
            return STEP_FAIL;
        }
        auth_scram_cred_t cred;
        if (broker_user_scram_get(lst->b, s->user, s->mech, &cred) < 0) {
            log_warn("kafka", "%s: SASL %s authentication failed for user '%s': unknown user",
                     net_conn_peer(conn), mech_name(ks->mech), s->user);
            return STEP_FAIL;
        }
        int rc = auth_scram_server_first(s, &cred, NULL, out);
        memset(&cred, 0, sizeof(cred));
        return rc < 0 ? STEP_FAIL : STEP_CONTINUE;
    }
    bool ok = false;
    if (auth_scram_client_final(s, tok, len, out, &ok) < 0 || !ok) {
        log_warn("kafka", "%s: SASL %s authentication failed for user '%s': %s",
                 net_conn_peer(conn), mech_name(ks->mech), s->user,
                 ok ? "malformed client-final message" : "wrong password (invalid proof)");
        return STEP_FAIL;
    }
    return authenticated(conn, ks, lst, s->user, why);
}

/* OAUTHBEARER: the client's first message carries the token. A refused token is answered with
 * Kafka's challenge; the client then sends a lone \x01 and gets the failure with the reason. */
static int oauth_step(net_conn_t *conn, kafka_session_t *ks, const kafka_listener_t *lst,
                      const uint8_t *tok, size_t len, buf_t *out, const char **why)
{
    if (ks->oauth_refused) {
        *why = ks->oauth_why;
        return STEP_FAIL;
    }
    const char *jwt = NULL;
    size_t jwt_len = 0;
    char authzid[AUTH_USER_MAX + 1], user[AUTH_USER_MAX + 1], err[256];
    if (auth_oauthbearer_parse(tok, len, &jwt, &jwt_len, authzid, err, sizeof(err)) < 0) {
        log_warn("kafka", "%s: SASL OAUTHBEARER: malformed client message: %s", net_conn_peer(conn),
                 err);
        snprintf(ks->oauth_why, sizeof(ks->oauth_why),
                 "Authentication failed: invalid OAUTHBEARER client message: %s", err);
        *why = ks->oauth_why;
        return STEP_FAIL;
    }
    int64_t exp_ms = 0;
    int rc = lst->jwt ? auth_jwt_verify(lst->jwt, jwt, jwt_len, clock_wall_ms(), user, sizeof(user),
                                        &exp_ms, err, sizeof(err))
                      : -WEIR_EINVAL;
    if (rc == 0 && authzid[0] && strcmp(authzid, user) != 0) {
        snprintf(err, sizeof(err), "the authorization id '%.64s' is not the token's principal",
                 authzid);
        rc = -WEIR_EINVAL;
    }
    if (rc < 0) {
        log_warn("kafka", "%s: SASL OAUTHBEARER authentication failed: %s", net_conn_peer(conn),
                 err);
        snprintf(ks->oauth_why, sizeof(ks->oauth_why), "Authentication failed: invalid_token: %s",
                 err);
        ks->oauth_refused = true;
        buf_append(out, "{\"status\":\"invalid_token\"}", 26);
        return STEP_CONTINUE;
    }
    ks->cred_expires_ms = exp_ms;
    return authenticated(conn, ks, lst, user, why);
}

/* One token of the exchange: out gets the answer's token; *why Kafka's message on failure. */
static int sasl_step(net_conn_t *conn, kafka_session_t *ks, const kafka_listener_t *lst,
                     const uint8_t *tok, size_t len, buf_t *out, const char **why)
{
    static char scram_why[AUTH_SCRAM__COUNT][128];
    if (ks->mech >= 0 && ks->mech < AUTH_SCRAM__COUNT && !scram_why[ks->mech][0])
        snprintf(scram_why[ks->mech], sizeof(scram_why[0]),
                 "Authentication failed during authentication due to invalid credentials with "
                 "SASL mechanism %s",
                 mech_name(ks->mech));
    *why = ks->mech == MECH_PLAIN || ks->mech == MECH_OAUTHBEARER ? "Authentication failed"
                                                                  : scram_why[ks->mech];
    if (len > AUTH_MSG_MAX) {
        log_warn("kafka", "%s: SASL token of %zu bytes (bound %d), closing", net_conn_peer(conn),
                 len, AUTH_MSG_MAX);
        return STEP_FAIL;
    }
    if (ks->mech == MECH_PLAIN)
        return plain_step(conn, ks, lst, tok, len, why);
    if (ks->mech == MECH_OAUTHBEARER)
        return oauth_step(conn, ks, lst, tok, len, out, why);
    return scram_step(conn, ks, lst, tok, len, out, why);
}

/* ---- the gate ------------------------------------------------------------------------------ */

static void gate_close(net_conn_t *conn, net_slot_t *slot, const char *why, int16_t key)
{
    log_warn("kafka", "%s: %s (api key %d) before SASL authentication, closing",
             net_conn_peer(conn), why, key);
    net_slot_complete(slot, NULL);
    net_conn_close(conn);
}

/* After SaslHandshake v0: the frame is a raw token, answered by a raw token. */
static void raw_token(net_conn_t *conn, net_slot_t *slot, kafka_session_t *ks,
                      const kafka_listener_t *lst, const uint8_t *frame, size_t len)
{
    buf_t tok = {0};
    const char *why;
    int st = sasl_step(conn, ks, lst, frame, len, &tok, &why);
    if (st == STEP_FAIL) { /* v0 has no way to say why: Kafka closes too, after the delay */
        buf_deinit(&tok);
        int64_t delay_ms = broker_settings_int(broker_settings(lst->b),
                                               BCFG_CONNECTION_FAILED_AUTHENTICATION_DELAY_MS);
        if (delay_ms <= 0 || ks->closing) {
            net_slot_complete(slot, NULL);
            net_conn_close(conn);
            return;
        }
        delayed_close_t *dc = weir_calloc(1, sizeof(*dc));
        *dc = (delayed_close_t){.conn = conn, .slot = slot, .ks = ks};
        ks->closing = dc;
        net_timer_init(&dc->timer, delayed_close_fire, dc);
        net_timer_start(net_conn_loop(conn), &dc->timer, delay_ms);
        net_conn_mute(conn, delay_ms);
        return;
    }
    buf_t resp = {0};
    buf_append_be32(&resp, (uint32_t)tok.len);
    buf_append(&resp, tok.data, tok.len);
    buf_deinit(&tok);
    net_slot_complete(slot, &resp);
}

/* An authenticated session (SASL, or re-authenticating): every request passes until the
 * session's lifetime ends; then the next one closes the connection, unless it is the
 * SaslAuthenticate that finishes a re-authentication begun in time. */
static bool authed_gate(net_conn_t *conn, net_slot_t *slot, kafka_session_t *ks,
                        const uint8_t *frame, size_t len)
{
    int16_t key = len >= 2 ? (int16_t)be16_read(frame) : -1;
    if (!ks->expires_mono_ms || clock_mono_ms() < ks->expires_mono_ms ||
        (ks->state == SESS_WANT_AUTH && key == KAFKA_API_SASL_AUTHENTICATE))
        return false;
    log_warn("kafka",
             "%s: %s's SASL session ended (after %" PRId64
             " ms) without re-authentication, closing at its next request (api key %d)",
             net_conn_peer(conn), ks->principal, ks->lifetime_ms, key);
    net_slot_complete(slot, NULL);
    net_conn_close(conn);
    return true;
}

bool kafka_sasl_gate(net_conn_t *conn, net_slot_t *slot, uint8_t *frame, size_t len,
                     kafka_listener_t *lst)
{
    kafka_session_t *ks = net_conn_session(conn);
    if (!ks)
        ks = session_new(conn, lst);
    if (ks->state == SESS_OPEN && !ks->expires_mono_ms)
        return false; /* no SASL on this listener, or a session without end */
    if (ks->state == SESS_REFUSED) {
        net_slot_complete(slot, NULL);
        net_conn_close(conn);
        return true;
    }
    if (ks->authed)
        return authed_gate(conn, slot, ks, frame, len);
    if (len > SASL_MAX_RECEIVE_BYTES) {
        gate_close(conn, slot, "a frame over sasl.server.max.receive.size", -1);
        return true;
    }
    if (ks->state == SESS_WANT_RAW) {
        raw_token(conn, slot, ks, lst, frame, len);
        return true;
    }
    if (len < 8)
        return false; /* the dispatcher refuses it */
    int16_t key = (int16_t)be16_read(frame);
    if (key == KAFKA_API_API_VERSIONS || key == KAFKA_API_SASL_HANDSHAKE)
        return false;
    if (key == KAFKA_API_SASL_AUTHENTICATE && ks->state == SESS_WANT_AUTH)
        return false;
    gate_close(conn, slot,
               key == KAFKA_API_SASL_AUTHENTICATE ? "SaslAuthenticate before SaslHandshake"
                                                  : "a request",
               key);
    return true;
}

/* ---- handlers ------------------------------------------------------------------------------ */

static uint32_t mech_bit(int mech)
{
    return mech == MECH_PLAIN ? KAFKA_SASL_PLAIN : 1u << (1 + mech);
}
static_assert(1u << (1 + MECH_OAUTHBEARER) == KAFKA_SASL_OAUTHBEARER, "mechanism bits");

/* SaslHandshake's mechanism name: MECH_*, an auth_mech_t, or -2 when unknown. */
static int mech_parse(wire_str_t mech)
{
    char name[32];
    if (mech.len <= 0 || (size_t)mech.len >= sizeof(name))
        return -2;
    memcpy(name, mech.s, (size_t)mech.len);
    name[mech.len] = '\0';
    if (strcmp(name, "PLAIN") == 0)
        return MECH_PLAIN;
    if (strcmp(name, "OAUTHBEARER") == 0)
        return MECH_OAUTHBEARER;
    int m = auth_scram_mech_parse(name);
    return m < 0 ? -2 : m;
}

/* Starts an exchange with mechanism m (a first one, or a re-authentication). */
static void exchange_begin(kafka_session_t *ks, int m, int16_t version)
{
    ks->mech = m;
    auth_scram_server_deinit(&ks->scram);
    memset(&ks->scram, 0, sizeof(ks->scram));
    if (m >= 0 && m < AUTH_SCRAM__COUNT)
        auth_scram_server_init(&ks->scram, (auth_mech_t)m);
    ks->oauth_refused = false;
    ks->cred_expires_ms = 0;
    ks->state = version == 0 ? SESS_WANT_RAW : SESS_WANT_AUTH;
}

int kafka_handle_sasl_handshake(kafka_req_t *req)
{
    wire_str_t mech = wire_read_str(&req->r);
    if (!wire_reader_ok(&req->r))
        return -WEIR_EINVAL;
    const kafka_listener_t *lst = req->lst;
    kafka_session_t *ks = net_conn_session(req->conn);
    int16_t err = KAFKA_NONE;
    bool close_after = false;
    /* KIP-368: a session with a lifetime may re-authenticate, with SaslHandshake v1+ */
    bool reauth = ks && ks->state == SESS_OPEN && ks->authed && ks->expires_mono_ms &&
                  req->hdr.api_version >= 1;
    if (!ks || (ks->state != SESS_WANT_HANDSHAKE && !reauth)) {
        err = KAFKA_ILLEGAL_SASL_STATE; /* after authentication, or not a SASL listener */
    } else {
        int m = mech_parse(mech);
        if (m != -2 && reauth && m != ks->mech) {
            err = KAFKA_ILLEGAL_SASL_STATE;
            close_after = true;
            log_warn("kafka", "%s: re-authentication with %s refused: the session used %s, closing",
                     net_conn_peer(req->conn), mech_name(m), mech_name(ks->mech));
        } else if (m == -2 || !(lst->sasl_mechs & mech_bit(m))) {
            err = KAFKA_UNSUPPORTED_SASL_MECHANISM;
            close_after = true; /* as Kafka: the answer lists what is enabled, then closes */
            log_warn("kafka", "%s: SASL mechanism '%.*s' is not enabled, closing",
                     net_conn_peer(req->conn), (int)WEIR_MIN(mech.len, 64), mech.s);
        } else {
            exchange_begin(ks, m, req->hdr.api_version);
        }
    }
    wire_writer_t *w = &req->w;
    wire_write_i16(w, err);
    int32_t n = 0;
    for (int m = MECH_PLAIN; m <= MECH_OAUTHBEARER; m++)
        n += (lst->sasl_mechs & mech_bit(m)) && is_sasl(lst) ? 1 : 0;
    wire_write_array_len(w, n);
    for (int m = MECH_PLAIN; m <= MECH_OAUTHBEARER; m++)
        if ((lst->sasl_mechs & mech_bit(m)) && is_sasl(lst))
            wire_write_cstr(w, mech_name(m));
    if (close_after)
        net_conn_close_after_flush(req->conn);
    return KAFKA_RESPOND;
}

int kafka_handle_sasl_authenticate(kafka_req_t *req)
{
    wire_bytes_t tok = wire_read_bytes(&req->r);
    wire_read_tags(&req->r);
    if (!wire_reader_ok(&req->r))
        return -WEIR_EINVAL;
    kafka_session_t *ks = net_conn_session(req->conn);
    int16_t err = KAFKA_NONE;
    const char *msg = NULL;
    buf_t out = {0};
    if (!ks || ks->state != SESS_WANT_AUTH) {
        err = KAFKA_ILLEGAL_SASL_STATE;
        msg = "SaslAuthenticate request received after successful authentication";
    } else {
        const char *why = NULL;
        int st = sasl_step(req->conn, ks, req->lst, tok.p, (size_t)tok.len, &out, &why);
        if (st == STEP_FAIL) {
            err = KAFKA_SASL_AUTHENTICATION_FAILED;
            msg = why;
            buf_reset(&out);
            net_conn_close_after_flush(req->conn);
        }
    }
    wire_writer_t *w = &req->w;
    wire_write_i16(w, err);
    wire_write_cstr(w, msg);
    wire_write_nbytes(w, out.data ? out.data : (const uint8_t *)"", (int32_t)out.len);
    if (req->hdr.api_version >= 1) /* KIP-368: re-authenticate within this, or be closed */
        wire_write_i64(w, err == KAFKA_NONE && ks->state == SESS_OPEN ? ks->lifetime_ms : 0);
    wire_write_tags(w);
    buf_deinit(&out);
    int64_t delay_ms = broker_settings_int(broker_settings(req->lst->b),
                                           BCFG_CONNECTION_FAILED_AUTHENTICATION_DELAY_MS);
    if (err != KAFKA_SASL_AUTHENTICATION_FAILED || delay_ms <= 0 || ks->delayed)
        return KAFKA_RESPOND;
    delayed_failure_t *df = kafka_park_new(req, sizeof(*df));
    int rc = kafka_park_take(req, &df->pk);
    if (rc != KAFKA_PARKED)
        return rc;
    df->ks = ks;
    ks->delayed = df;
    net_timer_init(&df->timer, delayed_failure_send, df);
    net_timer_start(net_conn_loop(req->conn), &df->timer, delay_ms);
    return KAFKA_PARKED;
}
