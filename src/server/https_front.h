/*
 * https_front: TLS for the HTTP listener on the Kafka listeners' OpenSSL context (net/tls.c:
 * the same PEM files and ssl.* settings, mTLS, reload when the files change). It accepts on the
 * HTTPS port, does each connection's TLS and hands the decrypted stream to the HTTP server
 * (http_server_add_connection) through a socket pair. Internal to the server module.
 *
 * Threads: an accept thread and one thread per connection (at most HTTPS_FRONT_CONNS_MAX);
 * https_front_stop closes every connection and waits for the threads; https_front_free after
 * the HTTP server is freed.
 */
#ifndef WEIR_SERVER_HTTPS_FRONT_H
#define WEIR_SERVER_HTTPS_FRONT_H

#include "http/http.h"
#include "net/net.h"

enum { HTTPS_FRONT_CONNS_MAX = 256 };

typedef struct https_front https_front_t;

/* Listens on host:port (port 0: a free one) for http, which was started with
 * http_server_start_fed; tls outlives the front. *out is set before the first connection is
 * accepted. 0, -WEIR_EINVAL (a bad address), -WEIR_EIO. */
int https_front_start(const char *host, uint16_t port, net_tls_ctx_t *tls, http_server_t *http,
                      https_front_t **out);
uint16_t https_front_port(const https_front_t *f);
/* The verified client certificate's subject (RFC 2253) of the connection the HTTP server knows
 * as http_fd (http_request_fd): true with it in out; false without a certificate. Any thread. */
bool https_front_peer_dn(https_front_t *f, int http_fd, char *out, size_t cap);
/* Stops accepting, closes every connection and waits for the threads (NULL: nothing); the HTTP
 * server's threads may still ask https_front_peer_dn until it is freed, after them. */
void https_front_stop(https_front_t *f);
void https_front_free(https_front_t *f);

#endif
