/*
 * The Weir broker as a library: start a complete Kafka-protocol broker inside another process
 * (tests, the SDK's test support, embedded use) and stop it again.
 *
 *   weir_broker_config cfg;
 *   weir_broker_config_init(&cfg);
 *   cfg.data_dir = "/tmp/x";
 *   cfg.listen = "127.0.0.1:0";            // port 0: a free port
 *   weir_broker *b;
 *   if (weir_broker_start(&cfg, &b) == 0) {
 *       printf("%s\n", weir_broker_bootstrap(b));   // "127.0.0.1:40123"
 *       ...
 *       weir_broker_stop(b);
 *   }
 *
 * Errors are negative codes; weir_broker_strerror() names them. The broker runs on its own
 * threads; these calls may come from any thread but not concurrently for one broker.
 */
#ifndef WEIR_EMBED_H
#define WEIR_EMBED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_broker weir_broker;

typedef struct weir_broker_config {
    const char *data_dir;        /* default "./data" */
    const char *listen;          /* Kafka listener, default "127.0.0.1:9092" */
    const char *advertise;       /* advertised host:port, default = listen (with the real port) */
    const char *http_listen;     /* HTTP (health, metrics, admin), default "127.0.0.1:8081";
                                    "https://host:port" for TLS (ssl.keystore.location);
                                    NULL or "" disables it */
    const char *config_file;     /* optional "key = value" file, Kafka's names */
    const char *const *settings; /* optional NULL-terminated "key=value" overrides */
    int io_threads;              /* event loops; 0 = one per core */
    const char *http_token;      /* when set, the HTTP API (admin, registry, metrics) needs
                                    "Authorization: Bearer <token>"; NULL (default): open, as
                                    fits the default 127.0.0.1 listener; users and ACLs:
                                    weir.http.authentication.methods instead */
} weir_broker_config;

#define WEIR_VERSION "0.1.0"

void weir_broker_config_init(weir_broker_config *cfg);
int weir_broker_start(const weir_broker_config *cfg, weir_broker **out);
/* Stops accepting, answers in-flight requests, flushes every log, writes the clean-shutdown
 * markers and frees the broker. */
void weir_broker_stop(weir_broker *b);
const char *weir_broker_bootstrap(const weir_broker *b); /* "host:port" of the Kafka listener */
/* The Kafka listeners (`listeners`: several, each NAME://HOST:PORT), the first being the one
 * weir_broker_bootstrap names. weir_broker_listener writes "NAME://HOST:PORT" with the bound
 * port; 0 or -1 past the last. */
size_t weir_broker_listener_count(const weir_broker *b);
int weir_broker_listener(const weir_broker *b, size_t i, char *out, size_t out_len);
const char *weir_broker_http_address(const weir_broker *b); /* "host:port" or NULL */
const char *weir_broker_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
