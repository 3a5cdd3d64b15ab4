/*
 * A small blocking HTTP/1.1 client for the load generator: one keep-alive connection, requests
 * with Content-Length bodies, answers read by Content-Length (the order service always sends
 * one). Enough for a local demo; not a general client.
 */
#include "order_flow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define OF_HTTP_RESP_MAX (8u << 20)

int of_http_init(of_http_t *c, const char *url)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
    const char *colon = strchr(p, ':');
    size_t hlen = colon ? (size_t)(colon - p) : strcspn(p, "/");
    if (hlen == 0 || hlen >= sizeof(c->host))
        return -1;
    memcpy(c->host, p, hlen);
    c->host[hlen] = '\0';
    c->port = colon ? atoi(colon + 1) : 80;
    return c->port > 0 && c->port < 65536 ? 0 : -1;
}

static int http_connect(of_http_t *c)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)c->port);
    if (inet_pton(AF_INET, strcmp(c->host, "localhost") == 0 ? "127.0.0.1" : c->host,
                  &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

void of_http_close(of_http_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the header end and Content-Length body bytes; returns the status or -1. */
static int read_response(int fd, char **resp)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    size_t body_at = 0, body_len = 0;
    int status = -1;
    for (;;) {
        if (body_at && len >= body_at + body_len)
            break;
        if (len == cap) {
            if (cap >= OF_HTTP_RESP_MAX)
                goto fail;
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto fail;
        len += (size_t)r;
        buf[len] = '\0';
        if (!body_at) {
            char *end = strstr(buf, "\r\n\r\n");
            if (!end)
                continue;
            body_at = (size_t)(end - buf) + 4;
            if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
                goto fail;
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (!cl || cl > end)
                goto fail;
            long n = strtol(cl + 17, NULL, 10);
            if (n < 0 || (size_t)n > OF_HTTP_RESP_MAX)
                goto fail;
            body_len = (size_t)n;
        }
    }
    memmove(buf, buf + body_at, body_len);
    buf[body_len] = '\0';
    *resp = buf;
    return status;
fail:
    free(buf);
    return -1;
}

int of_http_request(of_http_t *c, const char *method, const char *path, const char *body,
                    char **resp)
{
    *resp = NULL;
    size_t blen = body ? strlen(body) : 0;
    char head[512];
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, c->host, c->port, blen);
    if (hn < 0 || (size_t)hn >= sizeof(head))
        return -1;
    /* One retry on a fresh connection: the server may have closed an idle keep-alive one. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && http_connect(c) != 0)
            return -1;
        if (write_all(c->fd, head, (size_t)hn) == 0 &&
            (blen == 0 || write_all(c->fd, body, blen) == 0)) {
            int st = read_response(c->fd, resp);
            if (st >= 0)
                return st;
        }
        of_http_close(c);
    }
    return -1;
}
