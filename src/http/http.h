/*
 * http: the one HTTP listener (libmicrohttpd, on its own thread). Modules register routes
 * before the server starts; a route is a method and a path (exact, or a prefix ending in '/'),
 * and its handler fills a response. This issue serves only GET /health; the admin API,
 * /metrics and the schema registry add routes here.
 *
 * Threads: handlers run on libmicrohttpd's thread, one request at a time per connection,
 * possibly several connections at once: a handler must lock what it shares. Routes are fixed
 * once the server has started.
 */
#ifndef WEIR_HTTP_H
#define WEIR_HTTP_H

#include "base/base.h"

typedef struct http_server http_server_t;

typedef struct {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const uint8_t *body;
    size_t body_len;
    void *mhd_conn; /* for http_request_arg */
} http_request_t;

typedef struct {
    int status;               /* default 200 */
    const char *content_type; /* default "application/json" */
    buf_t body;
} http_response_t;

typedef void (*http_handler_fn)(void *arg, const http_request_t *req, http_response_t *resp);

enum { HTTP_BODY_MAX = 16 << 20 }; /* bigger request bodies get 413 */

int http_server_new(http_server_t **out);
/* method NULL matches every method; a path ending in '/' matches as a prefix. */
void http_server_route(http_server_t *s, const char *method, const char *path, http_handler_fn fn,
                       void *arg);
/* Starts listening on host:port (port 0: a free one). */
int http_server_start(http_server_t *s, const char *host, uint16_t port);
uint16_t http_server_port(const http_server_t *s);
void http_server_free(http_server_t *s); /* stops it first */

/* A query-string argument, or NULL. During the handler only. */
const char *http_request_arg(const http_request_t *req, const char *name);
/* A request header (name case-insensitive), or NULL. During the handler only. */
const char *http_request_header(const http_request_t *req, const char *name);

#endif
