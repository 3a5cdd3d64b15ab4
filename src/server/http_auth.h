/*
 * http_auth: who may call the HTTP listener, and what each route asks the authorizer (the HTTP
 * side of issue 16). The server installs server_http_auth_check as the HTTP server's auth hook
 * when weir.http.authentication.methods names a scheme.
 *
 * Threads: the check runs on the HTTP pool's threads; the object is read-only after _new.
 */
#ifndef WEIR_SERVER_HTTP_AUTH_H
#define WEIR_SERVER_HTTP_AUTH_H

#include "broker/broker.h"
#include "http/http.h"

typedef struct server_http_auth server_http_auth_t;

enum {
    SERVER_HTTP_AUTH_BASIC = 1 << 0,  /* Authorization: Basic (a SCRAM user) */
    SERVER_HTTP_AUTH_BEARER = 1 << 1, /* Authorization: Bearer (a JWT, as OAUTHBEARER's) */
};

/* Parses weir.http.authentication.methods ("BASIC,BEARER", any case) into SERVER_HTTP_AUTH_*
 * bits; -WEIR_EINVAL with the bad item in err. */
int server_http_auth_methods(const char *list, unsigned *out, char *err, size_t err_len);

/* methods: SERVER_HTTP_AUTH_* bits (not 0); metrics_open: GET /metrics needs no credential. */
server_http_auth_t *server_http_auth_new(broker_t *b, unsigned methods, bool metrics_open);
void server_http_auth_free(server_http_auth_t *a);
/* The verified client certificate's subject of the request's connection (by its socket
 * number, http_request_fd), or false: the principal of a request without an Authorization
 * header, as on Kafka's SSL listeners. Set before the server starts. */
typedef bool (*server_http_peer_dn_fn)(void *arg, int fd, char *out, size_t cap);
void server_http_auth_set_peer_dn(server_http_auth_t *a, server_http_peer_dn_fn fn, void *arg);
/* ssl.principal.mapping.rules for client certificates (owned by a from here; NULL: the subject
 * unchanged, Kafka's DEFAULT). Set before the server starts. */
void server_http_auth_set_principal_map(server_http_auth_t *a, auth_principal_map_t *pm);
/* How Bearer tokens are verified: the same configuration as SASL OAUTHBEARER's (the JWKS,
 * issuer, audience, principal claim, clock skew), which must outlive a. */
void server_http_auth_set_jwt(server_http_auth_t *a, const auth_jwt_config_t *jwt);

/* The http_auth_fn: true lets the request through; false has filled resp with 401 (and
 * WWW-Authenticate) or 403, in the registry's error shape on its paths. */
bool server_http_auth_check(void *arg, http_request_t *req, http_response_t *resp);
/* Whether the request's principal may do op on the resource, for a handler that filters what
 * it lists (the admin API's lists): true without authentication or without an authorizer. */
bool server_http_auth_may(void *arg, const http_request_t *req, int8_t rtype, const char *name,
                          int8_t op);
/* The registry's GET /subjects filter: DESCRIBE on the subject's topic (TopicNameStrategy). */
bool server_http_auth_may_subject(void *arg, const http_request_t *req, const char *subject);

#endif
