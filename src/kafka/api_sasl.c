/*
 * SaslHandshake (key 17) 0-1 and SaslAuthenticate (key 36) 0-2, the SASL gate that keeps a
 * SASL listener's connection to those requests until it authenticates, and the connection's
 * principal.
 *
 * Kafka's order on a SASL listener: ApiVersions (optional), SaslHandshake naming a mechanism,
 * then the mechanism's exchange: in SaslAuthenticate requests after SaslHandshake v1, or after
 * v0 as raw tokens (a 4-byte size and the token, no request header) answered the same way.
 * Mechanisms: PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802/7677), both checked against the
 * users' SCRAM credentials (broker/users.c). Before authentication succeeds any other request
 * closes the connection, as Kafka does, and frames are bounded by Kafka's
 * sasl.server.max.receive.size (512 KiB) and tokens by AUTH_MSG_MAX. A failed authentication
 * answers SASL_AUTHENTICATION_FAILED with Kafka's message and closes once that is sent; as in
 * Kafka (KIP-306) the answer waits connection.failed.authentication.delay.ms first, on a timer
 * of the loop (never blocking it), with the connection muted, so a password guesser gets one
 * try per delay and connection. At most AUTH_DELAYS_MAX answers wait per listener.
 *
 * Invariant: a session only moves forward (WANT_HANDSHAKE -> WANT_AUTH or WANT_RAW ->
 * AUTHENTICATED); its principal is set once, when it becomes AUTHENTICATED (or at creation
 * from a TLS client certificate on an SSL listener). Everything runs on the connection's loop
 * thread. PLAIN's check runs PBKDF2 there (milliseconds: 4096 to 16384 iterations); SCRAM's
 * exchange costs a few HMACs.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define SASL_MAX_RECEIVE_BYTES (512 * 1024) /* Kafka's sasl.server.max.receive.size */
#define MECH_PLAIN             (-1)
/* Failed authentications that may wait for connection.failed.authentication.delay.ms at once,
 * per listener: past it they are answered at once (the bound on the memory they hold: a record
 * and a response of a few hundred bytes each). */
#define AUTH_DELAYS_MAX 1024

enum {
    SESS_OPEN = 0,       /* no SASL on this listener, or authenticated */
    SESS_WANT_HANDSHAKE, /* SaslHandshake (or ApiVersions) next */
    SESS_WANT_AUTH,      /* SaslAuthenticate requests carry the exchange (handshake v1) */
    SESS_WANT_RAW,       /* raw tokens carry the exchange (handshake v0) */
    SESS_REFUSED         /* no principal for its client certificate: every frame closes */
};

struct kafka_session {
    int state;
    int mech; /* MECH_PLAIN or an auth_mech_t */
    auth_scram_server_t scram;
    char *principal; /* NULL: User:ANONYMOUS */
};

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
    return ks && ks->state == SESS_OPEN;
}

static const char *mech_name(int mech)
{
    return mech == MECH_PLAIN ? "PLAIN" : auth_scram_mech_name((auth_mech_t)mech);
}

/* ---- the exchange -------------------------------------------------------------------------- */

enum { STEP_CONTINUE, STEP_DONE, STEP_FAIL };

static void authenticated(net_conn_t *conn, kafka_session_t *ks, const char *user)
{
    buf_t p = {0};
    buf_printf(&p, "User:%s", user);
    buf_append_u8(&p, 0);
    free(ks->principal);
    ks->principal = (char *)p.data;
    ks->state = SESS_OPEN;
    log_info("kafka", "%s: authenticated as %s (SASL %s)", net_conn_peer(conn), ks->principal,
             mech_name(ks->mech));
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
    authenticated(conn, ks, user);
    rc = STEP_DONE;
out:
    OPENSSL_cleanse(password, AUTH_PASSWORD_MAX + 1);
    free(password);
    return rc;
}

static int scram_step(net_conn_t *conn, kafka_session_t *ks, const kafka_listener_t *lst,
                      const uint8_t *tok, size_t len, buf_t *out)
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
    authenticated(conn, ks, s->user);
    return STEP_DONE;
}

/* One token of the exchange: out gets the answer's token; *why Kafka's message on failure. */
static int sasl_step(net_conn_t *conn, kafka_session_t *ks, const kafka_listener_t *lst,
                     const uint8_t *tok, size_t len, buf_t *out, const char **why)
{
    static char scram_why[2][128];
    if (ks->mech != MECH_PLAIN && !scram_why[ks->mech][0])
        snprintf(scram_why[ks->mech], sizeof(scram_why[0]),
                 "Authentication failed during authentication due to invalid credentials with "
                 "SASL mechanism %s",
                 mech_name(ks->mech));
    *why = ks->mech == MECH_PLAIN ? "Authentication failed" : scram_why[ks->mech];
    if (len > AUTH_MSG_MAX) {
        log_warn("kafka", "%s: SASL token of %zu bytes (bound %d), closing", net_conn_peer(conn),
                 len, AUTH_MSG_MAX);
        return STEP_FAIL;
    }
    if (ks->mech == MECH_PLAIN)
        return plain_step(conn, ks, lst, tok, len, why);
    return scram_step(conn, ks, lst, tok, len, out);
}

/* ---- connection.failed.authentication.delay.ms -------------------------------------------- */

typedef struct auth_delay {
    net_timer_t timer;
    struct kafka_auth_delays *owner;
    net_conn_t *conn; /* stays allocated while slot is not completed, even once closed */
    net_slot_t *slot;
    buf_t resp; /* the finished answer; empty: close without one (after SaslHandshake v0) */
    struct auth_delay *prev, *next;
} auth_delay_t;

struct kafka_auth_delays {
    pthread_mutex_t mu; /* guards head and n: every loop of the listener adds its own */
    auth_delay_t *head;
    int n;
    int64_t delay_ms;
};

void kafka_auth_delays_new(kafka_listener_t *lst)
{
    struct kafka_auth_delays *ds = weir_calloc(1, sizeof(*ds));
    pthread_mutex_init(&ds->mu, NULL);
    if (lst->b)
        ds->delay_ms = broker_settings_int(broker_settings(lst->b),
                                           BCFG_CONNECTION_FAILED_AUTHENTICATION_DELAY_MS);
    lst->auth_delays = ds;
}

/* After the loops are freed (they freed the slots and timers' heaps): the records are ours. */
void kafka_auth_delays_free(kafka_listener_t *lst)
{
    struct kafka_auth_delays *ds = lst->auth_delays;
    if (!ds)
        return;
    while (ds->head) {
        auth_delay_t *d = ds->head;
        ds->head = d->next;
        buf_deinit(&d->resp);
        free(d);
    }
    pthread_mutex_destroy(&ds->mu);
    free(ds);
    lst->auth_delays = NULL;
}

int kafka_auth_delays_pending(const kafka_listener_t *lst)
{
    struct kafka_auth_delays *ds = lst->auth_delays;
    if (!ds)
        return 0;
    pthread_mutex_lock(&ds->mu);
    int n = ds->n;
    pthread_mutex_unlock(&ds->mu);
    return n;
}

static void auth_delay_expired(void *arg)
{
    auth_delay_t *d = arg;
    struct kafka_auth_delays *ds = d->owner;
    pthread_mutex_lock(&ds->mu);
    if (d->prev)
        d->prev->next = d->next;
    else
        ds->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    ds->n--;
    pthread_mutex_unlock(&ds->mu);
    /* Closing first: completing the slot of a closed connection may free it. */
    net_conn_close_after_flush(d->conn);
    net_slot_complete(d->slot, d->resp.len ? &d->resp : NULL);
    buf_deinit(&d->resp);
    free(d);
}

/* Answers a failed authentication after the listener's delay: resp (finished; NULL for none)
 * goes out then and the connection closes once it is sent; meanwhile the connection reads
 * nothing. false when it must be answered at once instead: no delay is set, or
 * AUTH_DELAYS_MAX answers already wait. */
static bool auth_delay_start(net_conn_t *conn, net_slot_t *slot, const kafka_listener_t *lst,
                             buf_t *resp)
{
    struct kafka_auth_delays *ds = lst->auth_delays;
    if (!ds || ds->delay_ms <= 0)
        return false;
    pthread_mutex_lock(&ds->mu);
    bool full = ds->n >= AUTH_DELAYS_MAX;
    auth_delay_t *d = NULL;
    if (!full) {
        d = weir_calloc(1, sizeof(*d));
        d->next = ds->head;
        if (ds->head)
            ds->head->prev = d;
        ds->head = d;
        ds->n++;
    }
    pthread_mutex_unlock(&ds->mu);
    if (full) {
        log_warn("kafka", "%s: %d failed authentications already wait, answering at once",
                 net_conn_peer(conn), AUTH_DELAYS_MAX);
        return false;
    }
    d->owner = ds;
    d->conn = conn;
    d->slot = slot;
    if (resp) {
        d->resp = *resp;
        buf_init(resp);
    }
    net_timer_init(&d->timer, auth_delay_expired, d);
    net_timer_start(net_conn_loop(conn), &d->timer, ds->delay_ms);
    net_conn_mute(conn, ds->delay_ms);
    return true;
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
    if (st == STEP_FAIL) {
        buf_deinit(&tok);
        ks->state = SESS_REFUSED;
        if (auth_delay_start(conn, slot, lst, NULL))
            return;
        net_slot_complete(slot, NULL);
        net_conn_close(conn); /* v0 has no way to say why: Kafka closes too */
        return;
    }
    buf_t resp = {0};
    buf_append_be32(&resp, (uint32_t)tok.len);
    buf_append(&resp, tok.data, tok.len);
    buf_deinit(&tok);
    net_slot_complete(slot, &resp);
}

bool kafka_sasl_gate(net_conn_t *conn, net_slot_t *slot, uint8_t *frame, size_t len,
                     kafka_listener_t *lst)
{
    kafka_session_t *ks = net_conn_session(conn);
    if (!ks)
        ks = session_new(conn, lst);
    if (ks->state == SESS_OPEN)
        return false;
    if (ks->state == SESS_REFUSED) {
        net_slot_complete(slot, NULL);
        net_conn_close(conn);
        return true;
    }
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

int kafka_handle_sasl_handshake(kafka_req_t *req)
{
    wire_str_t mech = wire_read_str(&req->r);
    if (!wire_reader_ok(&req->r))
        return -WEIR_EINVAL;
    const kafka_listener_t *lst = req->lst;
    kafka_session_t *ks = net_conn_session(req->conn);
    int16_t err = KAFKA_NONE;
    bool close_after = false;
    if (!ks || ks->state != SESS_WANT_HANDSHAKE) {
        err = KAFKA_ILLEGAL_SASL_STATE; /* after authentication, or not a SASL listener */
    } else {
        int m = -2;
        char name[32];
        if (mech.len > 0 && (size_t)mech.len < sizeof(name)) {
            memcpy(name, mech.s, (size_t)mech.len);
            name[mech.len] = '\0';
            m = strcmp(name, "PLAIN") == 0 ? MECH_PLAIN : auth_scram_mech_parse(name);
            if (m == -1 && strcmp(name, "PLAIN") != 0)
                m = -2;
        }
        if (m == -2 || !(lst->sasl_mechs & mech_bit(m))) {
            err = KAFKA_UNSUPPORTED_SASL_MECHANISM;
            close_after = true; /* as Kafka: the answer lists what is enabled, then closes */
            log_warn("kafka", "%s: SASL mechanism '%.*s' is not enabled, closing",
                     net_conn_peer(req->conn), (int)WEIR_MIN(mech.len, 64), mech.s);
        } else {
            ks->mech = m;
            if (m != MECH_PLAIN)
                auth_scram_server_init(&ks->scram, (auth_mech_t)m);
            ks->state = req->hdr.api_version == 0 ? SESS_WANT_RAW : SESS_WANT_AUTH;
        }
    }
    wire_writer_t *w = &req->w;
    wire_write_i16(w, err);
    int32_t n = 0;
    for (int m = MECH_PLAIN; m < AUTH_SCRAM__COUNT; m++)
        n += (lst->sasl_mechs & mech_bit(m)) && is_sasl(lst) ? 1 : 0;
    wire_write_array_len(w, n);
    for (int m = MECH_PLAIN; m < AUTH_SCRAM__COUNT; m++)
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
    bool failed = false;
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
            ks->state = SESS_REFUSED;
            failed = true;
        }
    }
    wire_writer_t *w = &req->w;
    wire_write_i16(w, err);
    wire_write_cstr(w, msg);
    wire_write_nbytes(w, out.data ? out.data : (const uint8_t *)"", (int32_t)out.len);
    if (req->hdr.api_version >= 1)
        wire_write_i64(w, 0); /* session_lifetime_ms: no re-authentication (KIP-368) */
    wire_write_tags(w);
    buf_deinit(&out);
    if (failed) {
        wire_resp_finish(&req->resp);
        if (auth_delay_start(req->conn, req->slot, req->lst, &req->resp))
            return KAFKA_PARKED;
        net_conn_close_after_flush(req->conn);
    }
    return KAFKA_RESPOND;
}
