/*
 * A schema registry on its own, for tests: the HTTP listener, the registry and the file store.
 * `registry_server [--store FILE] [--listen HOST:PORT]` prints "http on HOST:PORT" as its first
 * line and serves until SIGTERM or SIGINT. Port 0 (the default) picks a free port.
 *
 * It stands in for `weir serve` until the registry is wired into the broker; the tests that
 * drive it (test_registry_rest.py, test_registry_clients.py, test_registry_kafkajs.mjs,
 * test_cli_schema.sh, test_docs.sh) only need an address; registry_server.sh tests it itself.
 *
 * Test-only routes, so tests can run real serializers' bytes through the produce-path
 * validator and the decoder: POST /_weir/validate?topic=T&side=key|value&mode=id|full
 * &strategy=topic|record|topic_record with the record's bytes as the body answers
 * {"ok":true} or {"ok":false,"why":"..."}; POST /_weir/decode answers the payload as JSON.
 */
#include "http/http.h"
#include "registry/registry.h"

#include <jansson.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void health(void *arg, const http_request_t *req, http_response_t *resp)
{
    (void)arg;
    (void)req;
    buf_append_str(&resp->body, "{\"status\":\"ok\"}");
}

static registry_strategy_t strategy_arg(const char *s)
{
    if (s && strcmp(s, "record") == 0)
        return REGISTRY_STRATEGY_RECORD;
    if (s && strcmp(s, "topic_record") == 0)
        return REGISTRY_STRATEGY_TOPIC_RECORD;
    return REGISTRY_STRATEGY_TOPIC;
}

static void validate(void *arg, const http_request_t *req, http_response_t *resp)
{
    const char *topic = http_request_arg(req, "topic");
    const char *side = http_request_arg(req, "side");
    const char *mode = http_request_arg(req, "mode");
    registry_validator_t *v;
    if (!topic ||
        registry_validator_new(&v, arg, topic, side && strcmp(side, "key") == 0,
                               strategy_arg(http_request_arg(req, "strategy")),
                               mode && strcmp(mode, "full") == 0 ? REGISTRY_VALIDATE_FULL
                                                                 : REGISTRY_VALIDATE_ID)) {
        resp->status = 400;
        buf_append_str(&resp->body, "{\"error\":\"topic=... is needed\"}");
        return;
    }
    char why[512];
    if (registry_validator_check(v, req->body, req->body_len, why, sizeof(why)) == 0) {
        buf_append_str(&resp->body, "{\"ok\":true}");
    } else {
        json_t *j = json_pack("{s:b, s:s}", "ok", 0, "why", why);
        char *s = json_dumps(j, JSON_COMPACT);
        buf_append_str(&resp->body, s);
        free(s);
        json_decref(j);
    }
    registry_validator_free(v);
}

static void decode(void *arg, const http_request_t *req, http_response_t *resp)
{
    char why[512];
    if (registry_payload_decode(arg, req->body, req->body_len, &resp->body, why, sizeof(why))) {
        resp->status = 422;
        json_t *j = json_pack("{s:s}", "why", why);
        char *s = json_dumps(j, JSON_COMPACT);
        buf_append_str(&resp->body, s);
        free(s);
        json_decref(j);
    }
}

int main(int argc, char **argv)
{
    const char *store_path = NULL, *listen = "127.0.0.1:0";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            store_path = argv[++i];
        else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else {
            fprintf(stderr, "usage: registry_server [--store FILE] [--listen HOST:PORT]\n");
            return 2;
        }
    }
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
        fprintf(stderr, "registry_server: --listen wants HOST:PORT\n");
        return 2;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    int port = atoi(colon + 1);

    registry_file_store_t *fs;
    if (registry_file_store_open(&fs, store_path))
        return 1;
    registry_store_t st = registry_file_store_iface(fs);
    registry_t *r;
    int rc = registry_new(&r, &st, NULL);
    if (rc) {
        fprintf(stderr, "registry_server: cannot load the store: %s\n", weir_strerror(rc));
        return 1;
    }
    http_server_t *srv;
    http_server_new(&srv);
    http_server_route(srv, "GET", "/health", health, NULL);
    http_server_route(srv, "POST", "/_weir/validate", validate, r);
    http_server_route(srv, "POST", "/_weir/decode", decode, r);
    registry_http_routes(r, srv);
    if (http_server_start(srv, host, (uint16_t)port))
        return 1;
    printf("http on %s:%u\n", host, http_server_port(srv));
    fflush(stdout);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    while (!stop)
        pause();
    http_server_free(srv);
    registry_free(r);
    registry_file_store_close(fs);
    return 0;
}
