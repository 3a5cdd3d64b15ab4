/*
 * server: the composition root, the one place that knows every module. It implements the
 * embedding API (include/weir/embed.h): settings, the event loops and their threads, the
 * broker core on those loops, the Kafka listeners (listeners.c) wired to the protocol handlers,
 * and the HTTP listener with the routes of the modules that own them.
 *
 * Start order: settings -> loops (running) -> broker_open (data dir, topics, flusher, group
 * coordinator) -> Kafka listeners on loop 0 -> HTTP (its routes: health, /metrics, the trace
 * receiver, the schema registry's REST API). The schema registry itself is loaded before the
 * Kafka listeners open, and the broker's schema validation hook set on it, so no produce to a
 * validated topic arrives before its validators; the hook is removed before the registry is
 * freed. Stop is the reverse: HTTP stops
 * first (its routes read the listeners and post to loop 0, so both must still be there), the
 * listeners close so no new request arrives, broker_quiesce answers what is parked while the loops
 * still run, the loops stop and are joined, and broker_close writes the clean-shutdown markers.
 *
 * Invariant: several brokers can run in one process: all state hangs off weir_broker, nothing
 * is global except the log level.
 */
#include "server/server.h"
#include "server/http_auth.h"
#include "server/https_front.h"
#include "server/listeners.h"
#include "server/schemas_store.h"

#include "admin/admin.h"
#include "console/console.h"
#include "http/http.h"
#include "kafka/kafka.h"
#include "metrics/metrics.h"
#include "trace/trace.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* /metrics sums every Kafka listener's numbers. */
_Static_assert(SERVER_LISTENERS_MAX <= METRICS_LISTENERS_MAX, "/metrics holds every listener");

struct weir_broker {
    broker_t *broker;
    net_loop_t **loops;
    pthread_t *threads;
    int nloops;
    net_budget_t *budget;         /* the loops' buffers together (weir.memory.buffers.max.bytes) */
    server_listeners_t listeners; /* the Kafka listeners (on loop 0) and their contexts */
    bool listening;
    http_server_t *http;
    https_front_t *https;          /* the TLS front of an https:// HTTP address, else NULL */
    net_tls_ctx_t *https_tls;      /* its context (the ssl.* settings) */
    admin_t *admin;                /* the /api/v1/ routes */
    registry_store_t schemas;      /* the registry's store: the topic _schemas */
    registry_t *registry;          /* the schema registry (Confluent's REST API at the root) */
    char *http_token;              /* NULL: the HTTP API is open (or http_auth) */
    server_http_auth_t *http_auth; /* weir.http.authentication.methods; NULL: off */
    metrics_t *metrics;            /* GET /metrics */
    trace_store_t *traces;         /* spans from services (POST /v1/traces), journeys; NULL: off */
    char bootstrap[300];
    char http_addr[300];
};

/* ---- HTTP routes owned by the server -----------------------------------------------------------
 */

static void http_health(void *arg, const http_request_t *req, http_response_t *resp)
{
    weir_broker *s = arg;
    (void)req;
    buf_printf(
        &resp->body, "{\"status\":\"ok\",\"cluster_id\":\"%s\",\"node_id\":%d,\"topics\":%zu}\n",
        broker_cluster_id(s->broker), broker_node_id(s->broker), broker_topics_count(s->broker));
}

/* The auth hook (the security work extends it): with a token set, every route but the health
 * check and the console's static files (which hold no data) needs it. */
static bool http_auth(void *arg, http_request_t *req, http_response_t *resp)
{
    weir_broker *s = arg;
    const char *p = req->path;
    if (strcmp(p, "/health") == 0 || strcmp(p, "/") == 0 || strncmp(p, "/ui", 3) == 0 ||
        http_request_bearer_ok(req, s->http_token))
        return true;
    resp->status = 401;
    http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"weir\"");
    buf_append_str(&resp->body, "{\"error\":\"unauthorized\",\"message\":\"this HTTP API needs "
                                "'Authorization: Bearer <token>'\"}");
    return false;
}

/* The admin API serves the trace store's journeys and recent traces under /api/v1/traces. */
static int server_journey(void *arg, const char *trace_id, buf_t *json)
{
    return trace_store_journey_json(arg, trace_id, json);
}

static void server_traces(void *arg, size_t limit, buf_t *json)
{
    trace_store_recent_json(arg, limit, json);
}

/* The schema registry, loaded from _schemas before any Kafka listener opens, so a topic with
 * schema validation never sees a produce before its validators exist. */
static int start_registry(weir_broker *s)
{
    s->schemas = schemas_store(s->broker);
    int rc = registry_new(&s->registry, &s->schemas, NULL);
    if (rc < 0) {
        log_error("server", "the schema registry cannot load _schemas: %s", weir_strerror(rc));
        return rc;
    }
    broker_schema_hook_t hook = schemas_validation_hook(s->registry);
    broker_schema_hook_set(s->broker, &hook); /* topics' schema validation, on the registry */
    return 0;
}

static int start_admin(weir_broker *s, http_server_t *h)
{
    char bootstrap[300];
    const kafka_listener_t *k0 = &s->listeners.v[0].kafka;
    snprintf(bootstrap, sizeof(bootstrap), "%s:%d", k0->adv_host, k0->adv_port);
    registry_http_routes(s->registry, h);
    if (s->http_auth)
        registry_set_list_filter(s->registry, server_http_auth_may_subject, s->http_auth);
    int rc;
    admin_config_t ac = {.broker = s->broker,
                         .registry = s->registry,
                         .bootstrap = bootstrap,
                         .version = WEIR_VERSION,
                         .journey = s->traces ? server_journey : NULL,
                         .traces = s->traces ? server_traces : NULL,
                         .journey_arg = s->traces,
                         .metrics_path = "/metrics",
                         .may = s->http_auth ? server_http_auth_may : NULL,
                         .may_arg = s->http_auth};
    rc = admin_new(&ac, &s->admin);
    if (rc < 0)
        return rc;
    admin_routes(s->admin, h);
    console_routes(h);
    if (s->http_auth)
        http_server_set_auth(h, server_http_auth_check, s->http_auth);
    else if (s->http_token)
        http_server_set_auth(h, http_auth, s);
    return 0;
}

/* An HTTPS request's client certificate, for http_auth: s->https is set before the front
 * accepts its first connection. */
static bool server_peer_dn(void *arg, int fd, char *out, size_t cap)
{
    weir_broker *s = arg;
    return s->https && https_front_peer_dn(s->https, fd, out, cap);
}

/* HTTP authentication from weir.http.authentication.methods: s->http_auth, or nothing when the
 * setting is empty. The single --http-token is the other way in, not both. */
static int make_http_auth(weir_broker *s)
{
    const broker_settings_t *set = broker_settings(s->broker);
    unsigned methods;
    char err[256];
    if (server_http_auth_methods(set->sval[BCFG_HTTP_AUTHENTICATION_METHODS], &methods, err,
                                 sizeof(err)) < 0) {
        log_error("server", "%s", err);
        return -WEIR_EINVAL;
    }
    if (!methods)
        return 0;
    if (s->http_token) {
        log_error("server", "--http-token and weir.http.authentication.methods cannot be "
                            "combined: use one way of authenticating HTTP clients");
        return -WEIR_EINVAL;
    }
    if ((methods & SERVER_HTTP_AUTH_BEARER) && !s->listeners.oauth_on) {
        /* Bearer tokens are verified as OAUTHBEARER's: the same sasl.oauthbearer.* settings */
        if (server_oauth_init(&s->listeners.oauth, s->broker, NULL) < 0)
            return -WEIR_EINVAL;
        s->listeners.oauth_on = true;
    }
    s->http_auth = server_http_auth_new(s->broker, methods,
                                        broker_settings_int(set, BCFG_HTTP_METRICS_OPEN) == 1);
    server_http_auth_set_peer_dn(s->http_auth, server_peer_dn, s);
    /* HTTPS client certificates are mapped as the Kafka listeners' are (the shared rules). */
    auth_principal_map_t *pm;
    if (auth_principal_map_parse(set->sval[BCFG_SSL_PRINCIPAL_MAPPING_RULES]
                                     ? set->sval[BCFG_SSL_PRINCIPAL_MAPPING_RULES]
                                     : "",
                                 &pm, err, sizeof(err)) < 0) {
        log_error("server", "the HTTP listener: %s", err);
        return -WEIR_EINVAL;
    }
    server_http_auth_set_principal_map(s->http_auth, pm);
    if (methods & SERVER_HTTP_AUTH_BEARER)
        server_http_auth_set_jwt(s->http_auth, &s->listeners.oauth.jwt);
    return 0;
}

/* HTTPS (an "https://" HTTP address): the HTTP server without a socket of its own, behind the
 * TLS front on the Kafka listeners' ssl.* settings. */
static int start_https(weir_broker *s, http_server_t *h, const char *host, uint16_t port)
{
    int rc = server_tls_ctx_new(s->broker, "the HTTPS listener", &s->https_tls);
    if (rc == 0)
        rc = http_server_start_fed(h);
    if (rc == 0)
        rc = https_front_start(host, port, s->https_tls, h, &s->https);
    return rc;
}

static void stop_http(weir_broker *s)
{
    https_front_stop(s->https); /* first: it hands connections to the HTTP server */
    http_server_free(s->http);
    s->http = NULL;
    https_front_free(s->https); /* after: a request in flight may ask for its peer's DN */
    s->https = NULL;
    net_tls_ctx_free(s->https_tls);
    s->https_tls = NULL;
}

static int start_http(weir_broker *s, const char *addr)
{
    char host[256];
    uint16_t port;
    bool https = strncmp(addr, "https://", 8) == 0;
    if (https)
        addr += 8;
    else if (strncmp(addr, "http://", 7) == 0)
        addr += 7;
    int rc = make_http_auth(s);
    if (rc < 0)
        return rc;
    if (net_parse_hostport(addr, host, sizeof(host), &port) < 0) {
        log_error("server", "bad HTTP address '%s'", addr);
        return -WEIR_EINVAL;
    }
    http_server_t *h;
    http_server_new(&h);
    http_server_route(h, "GET", "/health", http_health, s);
    const kafka_listener_t *k0 = &s->listeners.v[0].kafka;
    char adv[300];
    snprintf(adv, sizeof(adv), "%s:%d", k0->adv_host, k0->adv_port);
    metrics_sources_t ms = {.broker = s->broker,
                            .loops = s->loops,
                            .nloops = s->nloops,
                            .budget = s->budget,
                            .advertised = adv};
    for (int i = 0; i < s->listeners.n; i++) {
        ms.listeners[i].kafka = &s->listeners.v[i].kafka;
        ms.listeners[i].net = s->listeners.v[i].net;
    }
    ms.nlisteners = (size_t)s->listeners.n;
    metrics_new(&ms, &s->metrics);
    metrics_route(s->metrics, h);
    int64_t spans = broker_settings_int(broker_settings(s->broker), BCFG_TRACE_SPANS_MAX);
    if (spans > 0) {
        trace_store_new((size_t)spans, &s->traces);
        trace_routes(s->traces, h);
    }
    s->http = h;
    rc = start_admin(s, h);
    if (rc == 0)
        rc = https ? start_https(s, h, host, port) : http_server_start(h, host, port);
    if (rc < 0) {
        stop_http(s);
        return rc;
    }
    bool v6 = strchr(host, ':') != NULL; /* printed [::1]:8081, as it is written */
    snprintf(s->http_addr, sizeof(s->http_addr), "%s%s%s:%u", v6 ? "[" : "",
             host[0] ? host : "0.0.0.0", v6 ? "]" : "",
             s->https ? https_front_port(s->https) : http_server_port(h));
    return 0;
}

/* ---- loops -------------------------------------------------------------------------------------
 */

static void *loop_main(void *arg)
{
    net_loop_run(arg);
    return NULL;
}

/* The loops' memory budget: the setting, or the machine's default; never below the largest
 * request allowed, which reserves its whole size before it is read. */
static size_t budget_bytes(const broker_settings_t *set)
{
    int64_t want = broker_settings_int(set, BCFG_MEMORY_BUFFERS_MAX_BYTES);
    size_t frame = (size_t)broker_settings_int(set, BCFG_SOCKET_REQUEST_MAX_BYTES);
    size_t bytes = want > 0 ? (size_t)want : net_budget_default_bytes();
    if (bytes < frame) {
        if (want > 0)
            log_warn("server",
                     "weir.memory.buffers.max.bytes %zu is below socket.request.max.bytes %zu: "
                     "using %zu, so that the largest request allowed can be read",
                     bytes, frame, frame);
        bytes = frame;
    }
    return bytes;
}

static int start_loops(weir_broker *s, int n, size_t budget)
{
    net_budget_new(budget, &s->budget);
    if (n <= 0)
        n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    n = WEIR_MAX(1, WEIR_MIN(n, 64));
    s->loops = weir_calloc((size_t)n, sizeof(*s->loops));
    s->threads = weir_calloc((size_t)n, sizeof(*s->threads));
    for (int i = 0; i < n; i++) {
        int rc = net_loop_new(&s->loops[i]);
        if (rc < 0)
            return rc;
        s->nloops = i + 1;
        net_loop_set_budget(s->loops[i], s->budget);
        if (pthread_create(&s->threads[i], NULL, loop_main, s->loops[i]) != 0) {
            net_loop_free(s->loops[i]);
            s->loops[i] = NULL;
            s->nloops = i;
            return -WEIR_ENOMEM;
        }
    }
    return 0;
}

static void stop_loops(weir_broker *s)
{
    for (int i = 0; i < s->nloops; i++)
        net_loop_stop(s->loops[i]);
    for (int i = 0; i < s->nloops; i++)
        pthread_join(s->threads[i], NULL);
}

static void free_loops(weir_broker *s)
{
    for (int i = 0; i < s->nloops; i++)
        net_loop_free(s->loops[i]);
    free(s->loops);
    free(s->threads);
    s->loops = NULL;
    s->nloops = 0;
    net_budget_free(s->budget); /* after the loops, which give their buffers back */
    s->budget = NULL;
}

/* ---- the Kafka listeners ----------------------------------------------------------------------
 */

typedef struct {
    weir_broker *s;
    const char *advertise; /* --advertise, or NULL */
    int rc;
} listen_call_t;

static void listen_on_loop0(void *arg)
{
    listen_call_t *lc = arg;
    lc->s->listening = true;
    lc->rc = server_listeners_open(&lc->s->listeners, lc->s->loops, lc->s->nloops, lc->advertise);
}

static void unlisten_on_loop0(void *arg)
{
    weir_broker *s = arg;
    server_listeners_close(&s->listeners);
    s->listening = false;
}

/* ---- start and stop ----------------------------------------------------------------------------
 */

void weir_broker_config_init(weir_broker_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->http_listen = "127.0.0.1:8081";
}

static void server_free(weir_broker *s)
{
    /* HTTP first: a request in flight may wait for a loop (a group call, a durable write) and
     * its routes read the broker, so the loops run until the HTTP threads are done. */
    stop_http(s);
    if (s->broker)
        broker_quiesce(s->broker);
    stop_loops(s);
    admin_free(s->admin);
    if (s->broker && s->registry)
        broker_schema_hook_set(s->broker, NULL); /* the validators go before their registry */
    registry_free(s->registry);
    free(s->http_token);
    server_http_auth_free(s->http_auth);
    metrics_free(s->metrics);
    s->metrics = NULL;
    trace_store_free(s->traces);
    s->traces = NULL;
    broker_close(s->broker);
    free_loops(s);
    /* After the loops: a completion still queued runs at net_loop_free and may count its
     * answer in its listener's stats, and a TLS connection reads its listener's context. */
    server_listeners_free(&s->listeners);
    free(s);
}

static int server_open_broker(weir_broker *s, const weir_broker_config *cfg)
{
    broker_settings_t set;
    char err[512] = "";
    int rc = broker_settings_load(&set, cfg->config_file, cfg->settings, err, sizeof(err));
    if (rc < 0) {
        log_error("server", "%s", err);
        broker_settings_free(&set);
        return rc;
    }
    int n =
        cfg->io_threads > 0 ? cfg->io_threads : (int)broker_settings_int(&set, BCFG_NUM_IO_THREADS);
    rc = start_loops(s, n, budget_bytes(&set));
    if (rc == 0) {
        broker_open_args_t a = {
            .settings = &set, .data_dir = cfg->data_dir, .loops = s->loops, .nloops = s->nloops};
        rc = broker_open(&a, &s->broker);
    }
    broker_settings_free(&set); /* a no-op once broker_open took it */
    return rc;
}

int weir_broker_start(const weir_broker_config *cfg, weir_broker **out)
{
    weir_broker *s = weir_calloc(1, sizeof(*s));
    int rc = server_open_broker(s, cfg);
    if (rc < 0)
        goto out_fail;
    const broker_settings_t *set = broker_settings(s->broker);
    rc = server_listeners_init(&s->listeners, s->broker,
                               cfg->listen ? cfg->listen : set->sval[BCFG_LISTENERS]);
    if (rc < 0)
        goto out_fail;
    if (cfg->http_token && *cfg->http_token)
        s->http_token = weir_strdup(cfg->http_token);
    bool http = cfg->http_listen && *cfg->http_listen;
    if (http && (rc = start_registry(s)) < 0)
        goto out_fail;
    listen_call_t lc = {s, cfg->advertise, 0};
    net_loop_call(s->loops[0], listen_on_loop0, &lc);
    if ((rc = lc.rc) < 0)
        goto out_fail;
    const server_listener_t *l0 = &s->listeners.v[0];
    snprintf(s->bootstrap, sizeof(s->bootstrap), "%s:%u", l0->host[0] ? l0->host : "0.0.0.0",
             l0->port);
    if (http && (rc = start_http(s, cfg->http_listen)) < 0)
        goto out_fail;
    buf_t lst = {0}, adv = {0};
    server_listeners_describe(&s->listeners, false, &lst);
    server_listeners_describe(&s->listeners, true, &adv);
    buf_append_u8(&lst, 0);
    buf_append_u8(&adv, 0);
    log_info("server", "Kafka on %s (advertised %s), %d io thread(s)", (char *)lst.data,
             (char *)adv.data, s->nloops);
    broker_settings_observed(s->broker, BCFG_LISTENERS, (char *)lst.data);
    broker_settings_observed(s->broker, BCFG_ADVERTISED_LISTENERS, (char *)adv.data);
    buf_deinit(&lst);
    buf_deinit(&adv);
    *out = s;
    return 0;

out_fail:
    if (rc >= 0)
        rc = -WEIR_EINVAL;
    if (s->listening)
        net_loop_call(s->loops[0], unlisten_on_loop0, s);
    server_free(s);
    return rc;
}

void weir_broker_stop(weir_broker *s)
{
    if (!s)
        return;
    log_info("broker", "stopping");
    /* HTTP first: /metrics reads the Kafka listeners, which close next. */
    stop_http(s);
    net_loop_call(s->loops[0], unlisten_on_loop0, s);
    server_free(s);
    log_info("broker", "stopped");
}

const char *weir_broker_bootstrap(const weir_broker *s)
{
    return s->bootstrap;
}

size_t weir_broker_listener_count(const weir_broker *s)
{
    return (size_t)s->listeners.n;
}

int weir_broker_listener(const weir_broker *s, size_t i, char *out, size_t out_len)
{
    if (i >= (size_t)s->listeners.n)
        return -WEIR_ENOENT;
    const server_listener_t *l = &s->listeners.v[i];
    snprintf(out, out_len, "%s://%s:%u", l->kafka.name, l->host[0] ? l->host : "0.0.0.0", l->port);
    return 0;
}

const char *weir_broker_http_address(const weir_broker *s)
{
    return s->http ? s->http_addr : NULL;
}

broker_t *server_broker(weir_broker *s)
{
    return s->broker;
}

const char *weir_broker_strerror(int err)
{
    return weir_strerror(err);
}
