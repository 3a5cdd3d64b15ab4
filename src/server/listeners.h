/*
 * listeners: the server's Kafka listeners (listeners.c), from Kafka's settings: `listeners`
 * (several NAME://HOST:PORT entries), `listener.security.protocol.map`, `advertised.listeners`,
 * the ssl.* settings of TLS listeners and sasl.enabled.mechanisms of SASL ones, and the
 * OAUTHBEARER token verification (oauth.c) they share. Internal to the server module.
 */
#ifndef WEIR_SERVER_LISTENERS_H
#define WEIR_SERVER_LISTENERS_H

#include "broker/broker.h"
#include "kafka/kafka.h"
#include "net/net.h"

#include <pthread.h>

#define SERVER_LISTENERS_MAX 8

typedef struct {
    char host[256];
    uint16_t port;       /* as configured (0: any free port), then as bound */
    net_listener_t *net; /* on loop 0 while open */
    net_tls_ctx_t *tls;  /* SSL and SASL_SSL */
    /* its own OAUTHBEARER verification, when listener.name.<l>.[oauthbearer.]sasl.oauthbearer.*
     * settings give it one (owned); NULL: the shared one */
    struct server_oauth *own_oauth;
    kafka_listener_t kafka;
} server_listener_t;

/* How OAUTHBEARER tokens are verified, from Kafka's sasl.oauthbearer.* settings and Weir's
 * switch for unsecured tokens; shared, read-only, by every SASL listener. */
typedef struct server_oauth {
    auth_jwt_config_t jwt;
    /* from sasl.oauthbearer.jwks.endpoint.url (NULL: none set), replaced by the refresher */
    _Atomic(auth_jwks_t *) live;
    auth_jwks_t *retired; /* the set live replaced, freed when the next one replaces it */
    buf_t doc;            /* the JWKS document live was parsed from */
    char *url, *issuer, *audience, *claim;
    char *scopes, *scope_claim; /* weir.sasl.oauthbearer.required.scopes, its claim's name */
    char *ca;                   /* weir.sasl.oauthbearer.jwks.endpoint.ca.location */
    int64_t refresh_ms;
    pthread_t thread; /* the refresher, when running */
    bool running, stop;
    bool kicked; /* a token named an unknown kid: refresh soon */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} server_oauth_t;

/* Reads the settings (the listener's own where it has them, listener NULL: the shared ones) and
 * the JWKS (a file:// URL, or http:// or https:// on a loopback address), and starts a thread
 * that reads it again every sasl.oauthbearer.jwks.endpoint.refresh.ms. 0, or -WEIR_EINVAL with
 * the reason logged (no way to verify a token, a JWKS that does not load). */
int server_oauth_init(server_oauth_t *o, broker_t *b, const char *listener);
/* Whether key is one of the settings server_oauth_init reads, and whether the listener has its
 * own value of one (listener.name.<l>.[oauthbearer.]<setting>). */
bool server_oauth_setting(int key);
bool server_oauth_listener_has_own(broker_t *b, const char *listener);
void server_oauth_free(server_oauth_t *o);

typedef struct {
    server_listener_t v[SERVER_LISTENERS_MAX];
    int n;
    server_oauth_t oauth; /* set when a SASL listener enables OAUTHBEARER (or HTTP Bearer) */
    bool oauth_on;        /* oauth was initialized */
} server_listeners_t;

/* Reads the settings (list: `listeners`, or the --listen flag, which replaces it) into ls and
 * makes the TLS contexts. 0 or -WEIR_EINVAL with the reason logged. */
int server_listeners_init(server_listeners_t *ls, broker_t *b, const char *list);
/* Opens every listener on loop 0 (call there) and sets what each advertises: its entry of
 * advertised.listeners (adv_flag, --advertise, replaces the first one's), else its own
 * address. */
int server_listeners_open(server_listeners_t *ls, net_loop_t **loops, int nloops,
                          const char *adv_flag);
void server_listeners_close(server_listeners_t *ls); /* loop 0; stops accepting */
void server_listeners_free(server_listeners_t *ls);  /* once no connection is left */
/* A TLS context from the ssl.* settings (PEM keystore and truststore, ssl.client.auth,
 * protocols, ciphers; reloaded when the files change), for a Kafka listener or the HTTPS front;
 * what names it in the error logged. 0 or -WEIR_EINVAL. */
int server_tls_ctx_new(broker_t *b, const char *what, net_tls_ctx_t **out);
/* "NAME://HOST:PORT,..." of the bound and of the advertised addresses. */
void server_listeners_describe(const server_listeners_t *ls, bool advertised, buf_t *out);

#endif
