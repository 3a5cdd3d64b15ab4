/*
 * listeners: Kafka's listener settings turned into open listeners, each with the context its
 * connections see (kafka_listener_t: name, security protocol, advertised endpoint, SASL
 * mechanisms) and, for SSL and SASL_SSL, a TLS context.
 *
 * `listeners` is a list of NAME://HOST:PORT. NAME is a security protocol (PLAINTEXT, SSL,
 * SASL_PLAINTEXT, SASL_SSL) or a name that listener.security.protocol.map maps to one
 * ("INTERNAL:SASL_SSL,EXTERNAL:SSL"); names are unique. What a listener advertises is its
 * entry, by name, in advertised.listeners, else its own address (127.0.0.1 when it listens on
 * every address). A client is told, in Metadata and FindCoordinator, the endpoint of the listener
 * it connected to, as Kafka does.
 *
 * Security settings are shared by every listener unless a listener has its own, as in Kafka:
 * listener.name.<name lowercased>.ssl.* (keystore, truststore, client auth, protocols,
 * ciphers, principal mapping rules), .sasl.enabled.mechanisms and
 * .[<mechanism>.]connections.max.reauth.ms and .[oauthbearer.]sasl.oauthbearer.* (how its
 * OAUTHBEARER tokens are verified: a server_oauth_t of its own) override the shared setting for
 * that listener
 * (broker_settings_listener). A prefix that names no listener stops the start: it is a typo
 * that would otherwise leave a listener on the shared certificate. Each TLS listener has its
 * own TLS context, so its certificates reload on their own. Everything here runs at start and
 * stop only.
 */
#include "server/listeners.h"

#include <stdio.h>
#include <stdlib.h>

static const char *setting(broker_t *b, broker_cfg_key_t k)
{
    const char *v = broker_settings(b)->sval[k];
    return v ? v : "";
}

/* The listener's own value of k (listener.name.<listener>.<k>), else the shared one; listener
 * NULL: the shared one. NULL when neither is set. */
static const char *setting_of(broker_t *b, const char *listener, broker_cfg_key_t k)
{
    const broker_settings_t *set = broker_settings(b);
    const char *v = listener ? broker_settings_listener(set, listener, NULL, k) : NULL;
    return v ? v : set->sval[k];
}

static const char *setting_or_empty(broker_t *b, const char *listener, broker_cfg_key_t k)
{
    const char *v = setting_of(b, listener, k);
    return v ? v : "";
}

/* The next comma-separated item of *p (spaces trimmed) into out; false at the end. */
static bool next_item(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    while (*s == ' ' || *s == ',')
        s++;
    if (!*s)
        return false;
    const char *e = s;
    while (*e && *e != ',')
        e++;
    const char *t = e;
    while (t > s && t[-1] == ' ')
        t--;
    size_t n = WEIR_MIN((size_t)(t - s), cap - 1);
    memcpy(out, s, n);
    out[n] = '\0';
    *p = e;
    return true;
}

/* The security protocol of a listener name: the map's entry, else the name itself. */
static int protocol_of(broker_t *b, const char *name)
{
    const char *p = setting(b, BCFG_LISTENER_SECURITY_PROTOCOL_MAP);
    char item[160];
    size_t nl = strlen(name);
    while (next_item(&p, item, sizeof(item))) {
        char *colon = strchr(item, ':');
        if (colon && (size_t)(colon - item) == nl && strncmp(item, name, nl) == 0)
            return kafka_security_parse(colon + 1, strlen(colon + 1));
    }
    return kafka_security_parse(name, nl);
}

/* "NAME://host:port" (or "host:port": PLAINTEXT) into name, host, port. */
static int split_endpoint(const char *s, char *name, size_t name_cap, char *host, size_t host_cap,
                          uint16_t *port)
{
    const char *sep = strstr(s, "://");
    if (sep) {
        size_t n = (size_t)(sep - s);
        if (n == 0 || n >= name_cap)
            return -WEIR_EINVAL;
        memcpy(name, s, n);
        name[n] = '\0';
        s = sep + 3;
    } else {
        snprintf(name, name_cap, "PLAINTEXT");
    }
    return net_parse_hostport(s, host, host_cap, port);
}

static uint32_t parse_mechanisms(const char *list, char *bad, size_t bad_cap)
{
    uint32_t bits = 0;
    char item[64];
    const char *p = list;
    bad[0] = '\0';
    while (next_item(&p, item, sizeof(item))) {
        int m = auth_scram_mech_parse(item);
        if (strcmp(item, "PLAIN") == 0)
            bits |= KAFKA_SASL_PLAIN;
        else if (strcmp(item, "OAUTHBEARER") == 0)
            bits |= KAFKA_SASL_OAUTHBEARER;
        else if (m >= 0)
            bits |= 1u << (1 + m);
        else if (!bad[0])
            snprintf(bad, bad_cap, "%s", item);
    }
    return bits;
}

/* A TLS context from the listener's ssl.* settings (listener NULL: the shared ones). */
static int tls_ctx_of(broker_t *b, const char *listener, const char *what, net_tls_ctx_t **out)
{
    const broker_settings_t *set = broker_settings(b);
    const char *ks_type = setting_or_empty(b, listener, BCFG_SSL_KEYSTORE_TYPE);
    const char *ts_type = setting_or_empty(b, listener, BCFG_SSL_TRUSTSTORE_TYPE);
    if (strcasecmp(ks_type, "PEM") != 0 || strcasecmp(ts_type, "PEM") != 0) {
        log_error("server",
                  "%s: Weir reads PEM files only (ssl.keystore.type=%s, "
                  "ssl.truststore.type=%s)",
                  what, ks_type, ts_type);
        return -WEIR_EINVAL;
    }
    const char *ca = setting_or_empty(b, listener, BCFG_SSL_CLIENT_AUTH);
    const char *timeout = setting_of(b, listener, BCFG_SSL_HANDSHAKE_TIMEOUT_MS);
    net_tls_config_t tc = {
        .keystore_location = setting_of(b, listener, BCFG_SSL_KEYSTORE_LOCATION),
        .key_password = setting_of(b, listener, BCFG_SSL_KEY_PASSWORD),
        .truststore_location = setting_of(b, listener, BCFG_SSL_TRUSTSTORE_LOCATION),
        .client_auth = strcmp(ca, "required") == 0    ? NET_TLS_CLIENT_AUTH_REQUIRED
                       : strcmp(ca, "requested") == 0 ? NET_TLS_CLIENT_AUTH_REQUESTED
                                                      : NET_TLS_CLIENT_AUTH_NONE,
        .enabled_protocols = setting_of(b, listener, BCFG_SSL_ENABLED_PROTOCOLS),
        .cipher_suites = setting_of(b, listener, BCFG_SSL_CIPHER_SUITES),
        .handshake_timeout_ms = timeout ? strtoll(timeout, NULL, 10)
                                        : broker_settings_int(set, BCFG_SSL_HANDSHAKE_TIMEOUT_MS),
    };
    char err[512];
    int rc = net_tls_ctx_new(&tc, out, err, sizeof(err));
    if (rc < 0)
        log_error("server", "%s: %s", what, err);
    return rc;
}

int server_tls_ctx_new(broker_t *b, const char *what, net_tls_ctx_t **out)
{
    return tls_ctx_of(b, NULL, what, out);
}

static int make_tls(server_listener_t *l, broker_t *b)
{
    char what[300], err[512];
    snprintf(what, sizeof(what), "listener %s", l->kafka.name);
    const char *rules = setting_or_empty(b, l->kafka.name, BCFG_SSL_PRINCIPAL_MAPPING_RULES);
    int rc = auth_principal_map_parse(rules, &l->kafka.principal_map, err, sizeof(err));
    if (rc < 0) {
        log_error("server", "%s: %s", what, err);
        return rc;
    }
    return tls_ctx_of(b, l->kafka.name, what, &l->tls);
}

/* The settings a listener may have its own value of; a mechanism prefix only for the reauth
 * bound and the OAUTHBEARER settings. The other listener.name.* settings Kafka defines are accepted
 * and logged as not applied per listener. */
static bool applied_per_listener(int key, bool with_mechanism)
{
    static const int keys[] = {
        BCFG_SSL_KEYSTORE_TYPE,        BCFG_SSL_KEYSTORE_LOCATION,
        BCFG_SSL_KEY_PASSWORD,         BCFG_SSL_TRUSTSTORE_TYPE,
        BCFG_SSL_TRUSTSTORE_LOCATION,  BCFG_SSL_CLIENT_AUTH,
        BCFG_SSL_ENABLED_PROTOCOLS,    BCFG_SSL_CIPHER_SUITES,
        BCFG_SSL_HANDSHAKE_TIMEOUT_MS, BCFG_SSL_PRINCIPAL_MAPPING_RULES,
        BCFG_SASL_ENABLED_MECHANISMS,
    };
    if (key == BCFG_CONNECTIONS_MAX_REAUTH_MS || server_oauth_setting(key))
        return true;
    for (size_t i = 0; !with_mechanism && i < WEIR_ARRAY_LEN(keys); i++)
        if (keys[i] == key)
            return true;
    return false;
}

/* Every listener.name.<name>. prefix must name a listener: one that does not is a typo (or a
 * listener left out of `listeners`) that would silently leave the shared settings in place. */
static int check_prefixes(const server_listeners_t *ls, broker_t *b)
{
    const broker_settings_t *set = broker_settings(b);
    for (size_t i = 0; i < set->per_listener_n; i++) {
        const broker_listener_setting_t *e = &set->per_listener[i];
        bool found = false;
        for (int j = 0; j < ls->n && !found; j++)
            found = strcasecmp(ls->v[j].kafka.name, e->listener) == 0;
        char full[300];
        snprintf(full, sizeof(full), "listener.name.%s.%s%s%s", e->listener, e->mechanism,
                 e->mechanism[0] ? "." : "", broker_cfg_name(e->key));
        if (!found) {
            buf_t names = {0};
            server_listeners_describe(ls, false, &names);
            buf_append_u8(&names, 0);
            log_error("server", "%s: there is no listener named %s (listeners: %s)", full,
                      e->listener, (const char *)names.data);
            buf_deinit(&names);
            return -WEIR_EINVAL;
        }
        if (!applied_per_listener(e->key, e->mechanism[0] != '\0'))
            log_warn("server", "%s: Weir does not apply this setting per listener (ignored)", full);
    }
    return 0;
}

/* The listener's own connections.max.reauth.ms per mechanism, -1 where the shared (dynamic)
 * setting applies. */
static void set_reauth(kafka_listener_t *k, broker_t *b)
{
    static const char *const mechs[KAFKA_SASL_MECHS] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512",
                                                        "OAUTHBEARER"};
    for (int m = 0; m < KAFKA_SASL_MECHS; m++) {
        const char *v = broker_settings_listener(broker_settings(b), k->name, mechs[m],
                                                 BCFG_CONNECTIONS_MAX_REAUTH_MS);
        k->reauth_ms[m] = v ? strtoll(v, NULL, 10) : -1;
    }
}

/* How the listener verifies OAUTHBEARER tokens: its own settings when it has any
 * (listener.name.<l>.[oauthbearer.]sasl.oauthbearer.*), else the shared verification, made once. */
static int use_oauth(server_listeners_t *ls, server_listener_t *l, broker_t *b)
{
    if (server_oauth_listener_has_own(b, l->kafka.name)) {
        l->own_oauth = weir_calloc(1, sizeof(*l->own_oauth));
        if (server_oauth_init(l->own_oauth, b, l->kafka.name) < 0)
            return -WEIR_EINVAL;
        l->kafka.jwt = &l->own_oauth->jwt;
        return 0;
    }
    if (!ls->oauth_on && server_oauth_init(&ls->oauth, b, NULL) < 0)
        return -WEIR_EINVAL;
    ls->oauth_on = true;
    l->kafka.jwt = &ls->oauth.jwt;
    return 0;
}

int server_listeners_init(server_listeners_t *ls, broker_t *b, const char *list)
{
    memset(ls, 0, sizeof(*ls));
    char item[400], bad[64];
    const char *p = list;
    while (next_item(&p, item, sizeof(item))) {
        if (ls->n == SERVER_LISTENERS_MAX) {
            log_error("server", "more than %d listeners", SERVER_LISTENERS_MAX);
            return -WEIR_EINVAL;
        }
        server_listener_t *l = &ls->v[ls->n];
        kafka_listener_init(&l->kafka, b);
        ls->n++;
        if (split_endpoint(item, l->kafka.name, sizeof(l->kafka.name), l->host, sizeof(l->host),
                           &l->port) < 0) {
            log_error("server", "listener '%s': expected NAME://HOST:PORT", item);
            return -WEIR_EINVAL;
        }
        for (int i = 0; i < ls->n - 1; i++) {
            if (strcmp(ls->v[i].kafka.name, l->kafka.name) == 0) {
                log_error("server", "listener name %s is used twice", l->kafka.name);
                return -WEIR_EINVAL;
            }
        }
        int sec = protocol_of(b, l->kafka.name);
        if (sec < 0) {
            log_error("server",
                      "listener %s: no security protocol (PLAINTEXT, SSL, "
                      "SASL_PLAINTEXT, SASL_SSL) for that name in "
                      "listener.security.protocol.map",
                      l->kafka.name);
            return -WEIR_EINVAL;
        }
        l->kafka.security = (kafka_security_t)sec;
        bool sasl = sec == KAFKA_SEC_SASL_PLAINTEXT || sec == KAFKA_SEC_SASL_SSL;
        uint32_t mechs = parse_mechanisms(
            setting_or_empty(b, l->kafka.name, BCFG_SASL_ENABLED_MECHANISMS), bad, sizeof(bad));
        if (sasl && (bad[0] || !mechs)) {
            log_error("server",
                      "listener %s: sasl.enabled.mechanisms: '%s' is not supported "
                      "(Weir has PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)",
                      l->kafka.name, bad[0] ? bad : "");
            return -WEIR_EINVAL;
        }
        l->kafka.sasl_mechs = sasl ? mechs : 0;
        set_reauth(&l->kafka, b);
        if (sasl && (mechs & KAFKA_SASL_OAUTHBEARER)) {
            int rc = use_oauth(ls, l, b);
            if (rc < 0)
                return rc;
        }
        if (sec == KAFKA_SEC_SSL || sec == KAFKA_SEC_SASL_SSL) {
            int rc = make_tls(l, b);
            if (rc < 0)
                return rc;
        }
    }
    if (ls->n == 0) {
        log_error("server", "no listener in '%s'", list);
        return -WEIR_EINVAL;
    }
    return check_prefixes(ls, b);
}

/* The advertised endpoint of l: its entry in advertised.listeners, else its own address. */
static int advertise(server_listener_t *l, broker_t *b, const char *adv_flag)
{
    kafka_listener_t *k = &l->kafka;
    char item[400], name[64], host[256];
    uint16_t port;
    if (adv_flag) {
        if (net_parse_hostport(adv_flag, k->adv_host, sizeof(k->adv_host), &port) < 0 &&
            split_endpoint(adv_flag, name, sizeof(name), k->adv_host, sizeof(k->adv_host), &port) <
                0) {
            log_error("server", "bad --advertise '%s': expected HOST:PORT", adv_flag);
            return -WEIR_EINVAL;
        }
        k->adv_port = port ? port : l->port;
        return 0;
    }
    const char *p = setting(b, BCFG_ADVERTISED_LISTENERS);
    while (next_item(&p, item, sizeof(item))) {
        if (split_endpoint(item, name, sizeof(name), host, sizeof(host), &port) < 0) {
            log_error("server", "advertised.listeners: bad entry '%s'", item);
            return -WEIR_EINVAL;
        }
        if (strcmp(name, k->name) == 0) {
            snprintf(k->adv_host, sizeof(k->adv_host), "%s", host);
            k->adv_port = port ? port : l->port;
            return 0;
        }
    }
    bool any = !l->host[0] || strcmp(l->host, "0.0.0.0") == 0;
    if (any)
        log_warn("server",
                 "listener %s listens on all addresses: advertising 127.0.0.1; set "
                 "advertised.listeners (or --advertise) to an address clients can reach",
                 k->name);
    snprintf(k->adv_host, sizeof(k->adv_host), "%s", any ? "127.0.0.1" : l->host);
    k->adv_port = l->port;
    return 0;
}

int server_listeners_open(server_listeners_t *ls, net_loop_t **loops, int nloops,
                          const char *adv_flag)
{
    for (int i = 0; i < ls->n; i++) {
        server_listener_t *l = &ls->v[i];
        broker_t *b = l->kafka.b;
        const broker_settings_t *set = broker_settings(b);
        net_conn_handler_t h;
        memset(&h, 0, sizeof(h));
        h.on_frame = kafka_on_frame;
        h.on_close = kafka_on_close;
        h.on_open = kafka_on_open;
        h.user = &l->kafka;
        h.tls = l->tls;
        net_conn_limits_default(&h.limits);
        h.limits.max_frame_bytes = (size_t)broker_settings_int(set, BCFG_SOCKET_REQUEST_MAX_BYTES);
        h.limits.max_inflight = (size_t)broker_settings_int(set, BCFG_QUEUED_MAX_REQUESTS);
        h.limits.idle_timeout_ms = broker_settings_int(set, BCFG_CONNECTIONS_MAX_IDLE_MS);
        int64_t stall_ms = broker_settings_int(set, BCFG_REQUEST_STALL_TIMEOUT_MS);
        h.limits.stall_timeout_ms = stall_ms > 0 ? stall_ms : -1; /* 0 = never */
        int rc = net_listener_open(loops[0], loops, (size_t)nloops, l->host, l->port, &h,
                                   (size_t)broker_settings_int(set, BCFG_MAX_CONNECTIONS), &l->net);
        if (rc < 0) {
            log_error("server", "cannot listen on %s:%u (%s): %s", l->host, l->port, l->kafka.name,
                      weir_strerror(rc));
            return rc;
        }
        l->port = net_listener_port(l->net);
        /* Set here, on the listener's loop, before that loop can accept a connection: every
         * connection (handed to other loops by a post) sees it. */
        rc = advertise(l, b, i == 0 ? adv_flag : NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void server_listeners_close(server_listeners_t *ls)
{
    for (int i = 0; i < ls->n; i++) {
        net_listener_close(ls->v[i].net);
        ls->v[i].net = NULL;
    }
}

void server_listeners_free(server_listeners_t *ls)
{
    for (int i = 0; i < ls->n; i++) {
        kafka_listener_deinit(&ls->v[i].kafka);
        net_tls_ctx_free(ls->v[i].tls);
        if (ls->v[i].own_oauth) {
            server_oauth_free(ls->v[i].own_oauth);
            free(ls->v[i].own_oauth);
        }
    }
    ls->n = 0;
    server_oauth_free(&ls->oauth);
    ls->oauth_on = false;
}

void server_listeners_describe(const server_listeners_t *ls, bool advertised, buf_t *out)
{
    for (int i = 0; i < ls->n; i++) {
        const server_listener_t *l = &ls->v[i];
        if (i)
            buf_append_u8(out, ',');
        if (advertised)
            buf_printf(out, "%s://%s:%d", l->kafka.name, l->kafka.adv_host, l->kafka.adv_port);
        else
            buf_printf(out, "%s://%s:%u", l->kafka.name, l->host, l->port);
    }
}
