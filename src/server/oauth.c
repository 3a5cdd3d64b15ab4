/*
 * oauth: what a SASL listener needs to verify OAUTHBEARER tokens, from Kafka's settings:
 * sasl.oauthbearer.jwks.endpoint.url (the signing keys), expected.issuer, expected.audience,
 * sub.claim.name and clock.skew.seconds, and Weir's weir.sasl.oauthbearer.unsecured.enable for
 * unsecured ("alg":"none") tokens in tests. Kafka's broker falls back to unsecured tokens when no
 * JWKS is configured; Weir refuses to start instead unless the switch says so explicitly.
 *
 * The JWKS is read at start from a file:// URL or over HTTP or HTTPS from a loopback address
 * (127.0.0.0/8, ::1, localhost): an identity provider's keys reached through a local proxy or a
 * test server; HTTPS verifies the server's certificate and name against
 * weir.sasl.oauthbearer.jwks.endpoint.ca.location (else the system's CAs). Tokens must carry
 * the scopes of weir.sasl.oauthbearer.required.scopes in their sasl.oauthbearer.scope.claim.name
 * claim. A thread reads it again every sasl.oauthbearer.jwks.endpoint.refresh.ms (at
 * least 1 s) so rotated keys are picked up without a restart; a document that fails to load
 * keeps the previous keys (logged). A token naming a kid the keys do not hold brings the next
 * read forward, as in Kafka, but never to less than REFRESH_MIN_MS after the previous one. A new
 * set replaces the live one with an atomic exchange, and the replaced set is freed only when the
 * next one replaces it, at least a refresh interval later: a verification (microseconds) that
 * loaded the old pointer is long done by then.
 */
#include "server/listeners.h"

#include <curl/curl.h>
#include <errno.h>
#include <time.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define JWKS_FETCH_TIMEOUT_MS 5000
#define REFRESH_MIN_MS        1000 /* between two reads; also a replaced set's grace period */

/* The setting's value for the listener (listener.name.<l>.oauthbearer.<k>, then
 * listener.name.<l>.<k>), else the shared one; listener NULL: the shared one. */
static const char *setting_of(broker_t *b, const char *listener, broker_cfg_key_t k)
{
    const broker_settings_t *set = broker_settings(b);
    const char *v = listener ? broker_settings_listener(set, listener, "OAUTHBEARER", k) : NULL;
    return v ? v : set->sval[k];
}

static char *dup_setting(broker_t *b, const char *listener, broker_cfg_key_t k)
{
    const char *v = setting_of(b, listener, k);
    return v && *v ? weir_strdup(v) : NULL;
}

/* A number or boolean setting for the listener (checked text: "true" is 1). */
static int64_t int_setting(broker_t *b, const char *listener, broker_cfg_key_t k)
{
    const char *v =
        listener ? broker_settings_listener(broker_settings(b), listener, "OAUTHBEARER", k) : NULL;
    if (!v)
        return broker_settings_int(broker_settings(b), k);
    return strcmp(v, "true") == 0 ? 1 : strcmp(v, "false") == 0 ? 0 : strtoll(v, NULL, 10);
}

static const broker_cfg_key_t oauth_keys[] = {
    BCFG_SASL_OAUTHBEARER_EXPECTED_ISSUER,
    BCFG_SASL_OAUTHBEARER_EXPECTED_AUDIENCE,
    BCFG_SASL_OAUTHBEARER_SUB_CLAIM_NAME,
    BCFG_SASL_OAUTHBEARER_SCOPE_CLAIM_NAME,
    BCFG_SASL_OAUTHBEARER_CLOCK_SKEW_SECONDS,
    BCFG_SASL_OAUTHBEARER_JWKS_ENDPOINT_URL,
    BCFG_SASL_OAUTHBEARER_JWKS_ENDPOINT_REFRESH_MS,
    BCFG_OAUTHBEARER_UNSECURED_ENABLE,
    BCFG_OAUTHBEARER_REQUIRED_SCOPES,
    BCFG_OAUTHBEARER_JWKS_CA_LOCATION,
};

bool server_oauth_setting(int key)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(oauth_keys); i++)
        if (oauth_keys[i] == key)
            return true;
    return false;
}

bool server_oauth_listener_has_own(broker_t *b, const char *listener)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(oauth_keys); i++)
        if (broker_settings_listener(broker_settings(b), listener, "OAUTHBEARER", oauth_keys[i]))
            return true;
    return false;
}

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    buf_t *body = user;
    if (body->len + size * n > AUTH_JWKS_MAX)
        return 0; /* curl fails the transfer: the bound is logged by the caller */
    buf_append(body, p, size * n);
    return size * n;
}

static bool loopback_http(const char *url)
{
    static const char *const hosts[] = {"127.", "localhost:", "localhost/", "[::1]"};
    const char *rest = strncasecmp(url, "http://", 7) == 0    ? url + 7
                       : strncasecmp(url, "https://", 8) == 0 ? url + 8
                                                              : NULL;
    for (size_t i = 0; rest && i < WEIR_ARRAY_LEN(hosts); i++)
        if (strncasecmp(rest, hosts[i], strlen(hosts[i])) == 0)
            return true;
    return false;
}

/* A file of at most AUTH_JWKS_MAX bytes into body. */
static int read_file(const char *path, buf_t *body, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
        return -WEIR_EINVAL;
    }
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (body->len + n > AUTH_JWKS_MAX) {
            snprintf(err, cap, "%s is over 256 KiB", path);
            rc = -WEIR_EINVAL;
            break;
        }
        buf_append(body, chunk, n);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
        rc = -WEIR_EINVAL;
    }
    fclose(f);
    return rc;
}

/* The JWKS document at url into body; an https:// server's certificate is verified against
 * the PEM CAs in ca (NULL: the system's) and its name. 0, or -WEIR_EINVAL with the reason in
 * err. */
static int jwks_fetch(const char *url, const char *ca, buf_t *body, char *err, size_t cap)
{
    if (strncmp(url, "file://", 7) == 0)
        return read_file(url + 7, body, err, cap);
    if (!loopback_http(url)) {
        snprintf(err, cap,
                 "'%s': Weir reads a JWKS from a file:// URL or http:// or https:// on a "
                 "loopback address",
                 url);
        return -WEIR_EINVAL;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, cap, "curl_easy_init failed");
        return -WEIR_EINVAL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)JWKS_FETCH_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK || status != 200) {
        snprintf(err, cap, "GET %s: %s", url,
                 cc == CURLE_WRITE_ERROR ? "the document is over 256 KiB"
                 : cc != CURLE_OK        ? curl_easy_strerror(cc)
                                         : "an HTTP status other than 200");
        return -WEIR_EINVAL;
    }
    return 0;
}

/* One refresh: a changed document that loads replaces the live set. Refresher thread. */
static void refresh_once(server_oauth_t *o)
{
    buf_t body = {0};
    char err[512];
    auth_jwks_t *ks = NULL;
    if (jwks_fetch(o->url, o->ca, &body, err, sizeof(err)) < 0 ||
        (!(body.len == o->doc.len && memcmp(body.data, o->doc.data, body.len) == 0) &&
         auth_jwks_parse((const char *)body.data, body.len, &ks, err, sizeof(err)) < 0)) {
        log_warn("server", "OAUTHBEARER: JWKS refresh failed, keeping the previous keys: %s", err);
        buf_deinit(&body);
        return;
    }
    if (!ks) { /* unchanged */
        buf_deinit(&body);
        return;
    }
    auth_jwks_free(o->retired); /* replaced a refresh interval ago: nobody holds it */
    o->retired = atomic_exchange_explicit(&o->live, ks, memory_order_acq_rel);
    buf_deinit(&o->doc);
    o->doc = body;
    log_info("server", "OAUTHBEARER: signing keys refreshed from %s: %zu keys", o->url,
             auth_jwks_count(ks));
}

static struct timespec realtime_after(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    int64_t ns = t.tv_nsec + (ms % 1000) * 1000000;
    t.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return t;
}

/* Reads the JWKS every refresh_ms, or REFRESH_MIN_MS after the last read once kicked. */
static void *refresher_main(void *arg)
{
    server_oauth_t *o = arg;
    pthread_mutex_lock(&o->mu);
    while (!o->stop) {
        struct timespec due = realtime_after(o->refresh_ms);
        struct timespec soonest = realtime_after(REFRESH_MIN_MS);
        int rc = 0;
        while (!o->stop && rc != ETIMEDOUT) {
            rc = pthread_cond_timedwait(&o->cv, &o->mu, o->kicked ? &soonest : &due);
        }
        if (o->stop)
            break;
        o->kicked = false;
        pthread_mutex_unlock(&o->mu);
        refresh_once(o);
        pthread_mutex_lock(&o->mu);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

/* auth_jwt_verify's hint, on a loop thread: wakes the refresher. */
static void on_unknown_kid(void *arg)
{
    server_oauth_t *o = arg;
    pthread_mutex_lock(&o->mu);
    if (!o->kicked) {
        o->kicked = true;
        pthread_cond_signal(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
}

int server_oauth_init(server_oauth_t *o, broker_t *b, const char *listener)
{
    memset(o, 0, sizeof(*o));
    o->issuer = dup_setting(b, listener, BCFG_SASL_OAUTHBEARER_EXPECTED_ISSUER);
    o->audience = dup_setting(b, listener, BCFG_SASL_OAUTHBEARER_EXPECTED_AUDIENCE);
    o->claim = dup_setting(b, listener, BCFG_SASL_OAUTHBEARER_SUB_CLAIM_NAME);
    o->jwt.issuer = o->issuer;
    o->jwt.audience = o->audience;
    o->jwt.principal_claim = o->claim;
    o->scopes = dup_setting(b, listener, BCFG_OAUTHBEARER_REQUIRED_SCOPES);
    o->scope_claim = dup_setting(b, listener, BCFG_SASL_OAUTHBEARER_SCOPE_CLAIM_NAME);
    o->ca = dup_setting(b, listener, BCFG_OAUTHBEARER_JWKS_CA_LOCATION);
    o->jwt.required_scopes = o->scopes;
    o->jwt.scope_claim = o->scope_claim;
    o->jwt.clock_skew_ms =
        int_setting(b, listener, BCFG_SASL_OAUTHBEARER_CLOCK_SKEW_SECONDS) * 1000;
    o->jwt.allow_unsecured = int_setting(b, listener, BCFG_OAUTHBEARER_UNSECURED_ENABLE) != 0;
    const char *url = setting_of(b, listener, BCFG_SASL_OAUTHBEARER_JWKS_ENDPOINT_URL);
    if (!url || !*url) {
        if (o->jwt.allow_unsecured) {
            log_warn("server", "OAUTHBEARER accepts unsecured tokens (alg none): "
                               "weir.sasl.oauthbearer.unsecured.enable=true, for tests only");
            return 0;
        }
        log_error("server", "OAUTHBEARER (sasl.enabled.mechanisms, or BEARER in "
                            "weir.http.authentication.methods) but no way to verify a "
                            "token: set sasl.oauthbearer.jwks.endpoint.url (or, for tests, "
                            "weir.sasl.oauthbearer.unsecured.enable=true)");
        return -WEIR_EINVAL;
    }
    char err[512];
    auth_jwks_t *ks = NULL;
    int rc = jwks_fetch(url, o->ca, &o->doc, err, sizeof(err));
    if (rc == 0)
        rc = auth_jwks_parse((const char *)o->doc.data, o->doc.len, &ks, err, sizeof(err));
    if (rc < 0) {
        log_error("server", "sasl.oauthbearer.jwks.endpoint.url: %s", err);
        return rc;
    }
    atomic_store_explicit(&o->live, ks, memory_order_release);
    o->jwt.keys_live = &o->live;
    o->jwt.on_unknown_kid = on_unknown_kid;
    o->jwt.on_unknown_kid_arg = o;
    o->url = weir_strdup(url);
    o->refresh_ms = int_setting(b, listener, BCFG_SASL_OAUTHBEARER_JWKS_ENDPOINT_REFRESH_MS);
    log_info("server", "OAUTHBEARER: %zu signing keys from %s (read again every %" PRId64 " ms)",
             auth_jwks_count(ks), url, o->refresh_ms);
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    if (pthread_create(&o->thread, NULL, refresher_main, o) != 0) {
        log_error("server", "OAUTHBEARER: cannot start the JWKS refresher thread");
        return -WEIR_EINVAL;
    }
    o->running = true;
    return 0;
}

void server_oauth_free(server_oauth_t *o)
{
    if (o->running) {
        pthread_mutex_lock(&o->mu);
        o->stop = true;
        pthread_cond_signal(&o->cv);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->thread, NULL);
    }
    if (o->url) {
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
    }
    auth_jwks_free(atomic_load(&o->live));
    auth_jwks_free(o->retired);
    buf_deinit(&o->doc);
    free(o->url);
    free(o->issuer);
    free(o->scopes);
    free(o->scope_claim);
    free(o->ca);
    free(o->audience);
    free(o->claim);
    memset(o, 0, sizeof(*o));
}
