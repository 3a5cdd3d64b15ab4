/*
 * https_front: TLS for the HTTP listener on the Kafka listeners' OpenSSL context (net/tls.c:
 * the same PEM files and ssl.* settings, mTLS, reload when the files change). It accepts on the
 * HTTPS port, does each connection's TLS and hands the decrypted stream to the HTTP server
 * (http_server_add_connection) through a socket pair. Internal to the server module.
 *
 * Threads: an accept thread and one thread per connection (at most HTTPS_FRONT_CONNS_MAX);
 * https_front_stop closes every connection and waits for the threads.
 */
#ifndef WEIR_SERVER_HTTPS_FRONT_H
#define WEIR_SERVER_HTTPS_FRONT_H

#include "http/http.h"
#include "net/net.h"

enum { HTTPS_FRONT_CONNS_MAX = 256 };

typedef struct https_front https_front_t;

/* Listens on host:port (port 0: a free one) for http, which was started with
 * http_server_start_fed; tls outlives the front. 0, -WEIR_EINVAL (a bad address), -WEIR_EIO. */
int https_front_start(const char *host, uint16_t port, net_tls_ctx_t *tls, http_server_t *http,
                      https_front_t **out);
uint16_t https_front_port(const https_front_t *f);
/* Stops accepting, closes every connection, waits for the threads and frees (NULL: nothing). */
void https_front_stop(https_front_t *f);

#endif
