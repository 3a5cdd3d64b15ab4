/*
 * http: the one HTTP listener (libmicrohttpd, with a pool of HTTP_THREADS threads). Modules
 * register routes before the server starts; a route is a method and a path (exact, or a prefix
 * ending in '/'), and its handler fills a response. The owners: the server (/health), the admin
 * API (/api/v1/), the console (/ui/), the schema registry, /metrics.
 *
 * Threads: handlers run on the pool's threads, one request at a time per connection, several
 * connections at once: a handler must lock what it shares, and may wait (for the group
 * coordinator, a durable write) without stopping the other requests. Routes and the auth check
 * are fixed once the server has started.
 *
 * Auth: an optional check runs before every route (http_server_set_auth); it is off unless the
 * server installs one (server/http_auth.c: HTTP Basic against the SCRAM users, Bearer, the
 * ACLs of each route; or the single --http-token).
 *
 * TLS: not here; the server puts a TLS front (OpenSSL, the Kafka listeners' context) before a
 * server started with http_server_start_fed.
 */
#ifndef WEIR_HTTP_H
#define WEIR_HTTP_H

#include "base/base.h"

struct sockaddr;
struct sockaddr_storage;

typedef struct http_server http_server_t;

enum { HTTP_PRINCIPAL_MAX = 320 };

typedef struct {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const uint8_t *body;
    size_t body_len;
    void *mhd_conn; /* for http_request_arg */
    /* who is asking, as the auth check found ("User:alice"); "" without authentication */
    char principal[HTTP_PRINCIPAL_MAX];
} http_request_t;

enum { HTTP_RESP_HEADERS_MAX = 4 };

typedef struct {
    int status;               /* default 200 */
    const char *content_type; /* default "application/json" */
    buf_t body;
    /* extra headers (http_response_header): owned copies, freed with the response */
    char *hdr_name[HTTP_RESP_HEADERS_MAX], *hdr_value[HTTP_RESP_HEADERS_MAX];
    /* a static body sent without a copy (the console's embedded files); body is then unused */
    const uint8_t *static_body;
    size_t static_len;
} http_response_t;

typedef void (*http_handler_fn)(void *arg, const http_request_t *req, http_response_t *resp);

enum { HTTP_BODY_MAX = 16 << 20 }; /* bigger request bodies get 413 */
enum { HTTP_THREADS = 4 };         /* requests served at once */

/* An auth check: true lets the request through (having set req->principal, if it knows one);
 * false answers with what it put in resp (401 or 403 and a JSON error). Runs on the pool's
 * threads before the route's handler. */
typedef bool (*http_auth_fn)(void *arg, http_request_t *req, http_response_t *resp);

int http_server_new(http_server_t **out);
/* method NULL matches every method; a path ending in '/' matches as a prefix. */
void http_server_route(http_server_t *s, const char *method, const char *path, http_handler_fn fn,
                       void *arg);
/* The address host:port names ("" every IPv4 address, "localhost" 127.0.0.1, an IPv4 or an
 * IPv6 address such as ::1, written [::1]:8081 where a port follows) into ss, its size in
 * *len: 0, or -WEIR_EINVAL with the reason logged. */
int http_listen_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, size_t *len);
/* Starts listening on host:port (port 0: a free one). */
int http_server_start(http_server_t *s, const char *host, uint16_t port);
uint16_t http_server_port(const http_server_t *s);
/* Installs the auth check (before http_server_start; NULL removes it). */
void http_server_set_auth(http_server_t *s, http_auth_fn fn, void *arg);

/* Starts without a listening socket of its own: connections arrive by
 * http_server_add_connection (the HTTPS front, server/https_front.c, hands over each decrypted
 * stream). */
int http_server_start_fed(http_server_t *s);
/* Hands a connected stream socket to the started server, which owns it from here (and closes
 * it on failure), with the client's address (what http_request_peer_host reports). 0 or
 * -WEIR_EIO. Any thread. */
int http_server_add_connection(http_server_t *s, int fd, const struct sockaddr *peer,
                               size_t peer_len);
void http_server_free(http_server_t *s); /* stops it first */

/* A query-string argument, or NULL. During the handler only. */
const char *http_request_arg(const http_request_t *req, const char *name);
/* A request header (name case-insensitive), or NULL. During the handler only. */
const char *http_request_header(const http_request_t *req, const char *name);
/* The connection's socket number as the server holds it (for the HTTPS front's peer
 * certificates), or -1. */
int http_request_fd(const http_request_t *req);
/* The client's IP ("127.0.0.1", "::1"), what a host in an ACL names; "" when unknown. */
void http_request_peer_host(const http_request_t *req, char *out, size_t cap);
/* True when the request carries "Authorization: Bearer <token>" (compared in constant time). */
bool http_request_bearer_ok(const http_request_t *req, const char *token);
/* Adds a response header (copied); at most HTTP_RESP_HEADERS_MAX, later ones are dropped. */
void http_response_header(http_response_t *resp, const char *name, const char *value);

#endif
