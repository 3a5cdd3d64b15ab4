/*
 * The HTTP server on libmicrohttpd: routes, request bodies gathered up to HTTP_BODY_MAX, the
 * optional auth check, and responses built by the route handlers. libmicrohttpd runs a pool of
 * HTTP_THREADS threads, so a handler that waits holds up only its own connection.
 *
 * Invariant: a request's body buffer (the per-request context libmicrohttpd keeps for us) is
 * freed in the completion callback whatever happened, and never grows past HTTP_BODY_MAX.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>

#define MAX_ROUTES 64

typedef struct {
    const char *method;
    const char *path;
    bool prefix;
    http_handler_fn fn;
    void *arg;
} http_route_t;

struct http_server {
    struct MHD_Daemon *d;
    http_route_t routes[MAX_ROUTES];
    size_t nroutes;
    uint16_t port;
    http_auth_fn auth;
    void *auth_arg;
};

typedef struct {
    buf_t body;
    bool too_big;
} http_ctx_t;

int http_server_new(http_server_t **out)
{
    *out = weir_calloc(1, sizeof(**out));
    return 0;
}

void http_server_route(http_server_t *s, const char *method, const char *path, http_handler_fn fn,
                       void *arg)
{
    WEIR_ASSERT(s->d == NULL && s->nroutes < MAX_ROUTES);
    size_t n = strlen(path);
    s->routes[s->nroutes++] = (http_route_t){method, path, n > 1 && path[n - 1] == '/', fn, arg};
}

static const http_route_t *route_find(const http_server_t *s, const char *method, const char *path,
                                      bool *method_mismatch)
{
    *method_mismatch = false;
    for (size_t i = 0; i < s->nroutes; i++) {
        const http_route_t *r = &s->routes[i];
        bool match =
            r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0;
        if (!match)
            continue;
        if (r->method && strcmp(r->method, method) != 0) {
            *method_mismatch = true;
            continue;
        }
        return r;
    }
    return NULL;
}

const char *http_request_arg(const http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->mhd_conn,
                                       MHD_GET_ARGUMENT_KIND, name);
}

const char *http_request_header(const http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->mhd_conn, MHD_HEADER_KIND,
                                       name);
}

int http_request_fd(const http_request_t *req)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        (struct MHD_Connection *)req->mhd_conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? (int)ci->connect_fd : -1;
}

void http_request_peer_host(const http_request_t *req, char *out, size_t cap)
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        (struct MHD_Connection *)req->mhd_conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)cap);
}

bool http_request_bearer_ok(const http_request_t *req, const char *token)
{
    const char *h = http_request_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !token)
        return false;
    h += 7;
    size_t n = strlen(h), m = strlen(token);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < m; i++) /* the token's length, whatever was sent: no early exit */
        diff |= (unsigned)(token[i] ^ (i < n ? h[i] : 0));
    return diff == 0;
}

void http_response_header(http_response_t *resp, const char *name, const char *value)
{
    for (int i = 0; i < HTTP_RESP_HEADERS_MAX; i++) {
        if (!resp->hdr_name[i]) {
            resp->hdr_name[i] = weir_strdup(name);
            resp->hdr_value[i] = weir_strdup(value);
            return;
        }
    }
}

static void response_free_headers(http_response_t *resp)
{
    for (int i = 0; i < HTTP_RESP_HEADERS_MAX; i++) {
        free(resp->hdr_name[i]);
        free(resp->hdr_value[i]);
        resp->hdr_name[i] = resp->hdr_value[i] = NULL;
    }
}

static enum MHD_Result send_response(struct MHD_Connection *c, http_response_t *resp)
{
    struct MHD_Response *r;
    if (resp->static_body)
        r = MHD_create_response_from_buffer(resp->static_len, (void *)resp->static_body,
                                            MHD_RESPMEM_PERSISTENT);
    else
        r = MHD_create_response_from_buffer(
            resp->body.len, resp->body.data ? resp->body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type",
                            resp->content_type ? resp->content_type : "application/json");
    for (int i = 0; i < HTTP_RESP_HEADERS_MAX && resp->hdr_name[i]; i++)
        MHD_add_response_header(r, resp->hdr_name[i], resp->hdr_value[i]);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    buf_deinit(&resp->body);
    response_free_headers(resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server_t *s = cls;
    http_ctx_t *ctx = *con_cls;
    if (!ctx) { /* first call: headers only */
        *con_cls = weir_calloc(1, sizeof(http_ctx_t));
        return MHD_YES;
    }
    if (*upload_size) {
        if (ctx->body.len + *upload_size > HTTP_BODY_MAX)
            ctx->too_big = true;
        else
            buf_append(&ctx->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    http_response_t resp = {.status = 200};
    if (ctx->too_big) {
        resp.status = 413;
        buf_append_str(&resp.body, "{\"error\":\"payload_too_large\",\"message\":\"the request "
                                   "body is larger than 16 MiB\"}");
        return send_response(c, &resp);
    }
    bool wrong_method;
    const http_route_t *r = route_find(s, method, url, &wrong_method);
    if (!r) {
        resp.status = wrong_method ? 405 : 404;
        buf_append_str(&resp.body,
                       wrong_method
                           ? "{\"error\":\"method_not_allowed\",\"message\":\"method not allowed\"}"
                           : "{\"error\":\"not_found\",\"message\":\"no such path\"}");
        return send_response(c, &resp);
    }
    http_request_t req = {.method = method,
                          .path = url,
                          .body = ctx->body.data,
                          .body_len = ctx->body.len,
                          .mhd_conn = c};
    if (s->auth && !s->auth(s->auth_arg, &req, &resp)) {
        if (resp.status == 200)
            resp.status = 401;
        return send_response(c, &resp);
    }
    r->fn(r->arg, &req, &resp);
    return send_response(c, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    http_ctx_t *ctx = *con_cls;
    if (ctx) {
        buf_deinit(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

int http_listen_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, size_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)ss;
    const char *h = host && strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (!h || !*h) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof(*v6);
    } else {
        log_error("http", "cannot listen on '%s': an IPv4 or IPv6 address is needed", host);
        return -WEIR_EINVAL;
    }
    return 0;
}

int http_server_start(http_server_t *s, const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    size_t len;
    if (http_listen_addr(host, port, &ss, &len) < 0)
        return -WEIR_EINVAL;
    /* libmicrohttpd takes an IPv6 address only with MHD_USE_IPv6 set. */
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!s->d) {
        log_error("http", "cannot listen on %s:%u", host ? host : "", port);
        return -WEIR_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    return 0;
}

void http_server_set_auth(http_server_t *s, http_auth_fn fn, void *arg)
{
    WEIR_ASSERT(s->d == NULL);
    s->auth = fn;
    s->auth_arg = arg;
}

int http_server_start_fed(http_server_t *s)
{
    s->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL,
                            on_request, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!s->d) {
        log_error("http", "cannot start the HTTP server");
        return -WEIR_EIO;
    }
    return 0;
}

int http_server_add_connection(http_server_t *s, int fd, const struct sockaddr *peer,
                               size_t peer_len)
{
    /* libmicrohttpd owns fd from here, and closes it on failure too */
    return MHD_add_connection(s->d, fd, peer, (socklen_t)peer_len) == MHD_YES ? 0 : -WEIR_EIO;
}

uint16_t http_server_port(const http_server_t *s)
{
    return s->port;
}

void http_server_free(http_server_t *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d);
    free(s);
}
