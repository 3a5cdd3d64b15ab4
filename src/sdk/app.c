/*
 * The app: its config, routes, the consumer loop, rebalances, offset commits, pause/resume and
 * the stop sequence. weir_app_run() is the consumer loop; it is the only thread that talks to
 * the consumer (poll, assign, pause, resume, commit) and the only one that creates or frees
 * partitions. Workers (worker.c) take events from the partitions' queues.
 *
 * Invariant (at least once): the offset committed for a partition never passes an event that
 * has not finished (handler OK, skipped, or dead-lettered) or whose emitted records or dead
 * letter the broker has not acknowledged; sdk_part_committable() computes that bound under
 * app->lock and it is the only value ever committed.
 */
#include "sdk/sdk.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* The public codes are the base codes negated; keep them in step. */
_Static_assert(WEIR_ERR_AGAIN == -WEIR_EAGAIN, "codes");
_Static_assert(WEIR_ERR_INVAL == -WEIR_EINVAL, "codes");
_Static_assert(WEIR_ERR_NOMEM == -WEIR_ENOMEM, "codes");
_Static_assert(WEIR_ERR_IO == -WEIR_EIO, "codes");
_Static_assert(WEIR_ERR_CORRUPT == -WEIR_ECORRUPT, "codes");
_Static_assert(WEIR_ERR_NOENT == -WEIR_ENOENT, "codes");
_Static_assert(WEIR_ERR_EXIST == -WEIR_EEXIST, "codes");
_Static_assert(WEIR_ERR_RANGE == -WEIR_ERANGE, "codes");
_Static_assert(WEIR_ERR_CLOSED == -WEIR_ECLOSED, "codes");
_Static_assert(WEIR_ERR_TIMEDOUT == -WEIR_ETIMEDOUT, "codes");
_Static_assert(WEIR_ERR_TOOBIG == -WEIR_ETOOBIG, "codes");
_Static_assert(WEIR_ERR_UNSUPPORTED == -WEIR_EUNSUPPORTED, "codes");

#define SDK_POLL_MS  50
#define SDK_FLUSH_MS 30000

/* ---- logging and errors --------------------------------------------------------------------- */

void sdk_app_log(weir_app *app, int level, const char *fmt, ...)
{
    if (level < app->cfg.log_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (app->cfg.log) {
        app->cfg.log(level, msg, app->cfg.log_user);
        return;
    }
    static const log_level_t map[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
    log_write(map[level < 0   ? 0
                  : level > 3 ? 3
                              : level],
              "weir-sdk", "%s: %s", app->client_id, msg);
}

/* final: the message of the error that stops the app; it stays what weir_app_errmsg() says,
 * whatever a thread that failed because of it sets after. */
__attribute__((format(printf, 3, 0))) static void app_set_error_v(weir_app *app, bool final,
                                                                  const char *fmt, va_list ap)
{
    pthread_mutex_lock(&app->err_lock);
    if (!app->errmsg_final || final)
        vsnprintf(app->errmsg, sizeof(app->errmsg), fmt, ap);
    app->errmsg_final |= final;
    pthread_mutex_unlock(&app->err_lock);
}

void sdk_app_set_error(weir_app *app, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    app_set_error_v(app, false, fmt, ap);
    va_end(ap);
}

void sdk_app_fatal(weir_app *app, int err, const char *fmt, ...)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&app->fatal, &expected, err))
        return; /* the first error is the one to report */
    va_list ap;
    va_start(ap, fmt);
    app_set_error_v(app, true, fmt, ap);
    va_end(ap);
    sdk_app_log(app, WEIR_LOG_ERROR, "stopping: %s", app->errmsg);
    atomic_store(&app->stop, true);
    sdk_app_wake(app);
}

const char *weir_app_errmsg(const weir_app *app)
{
    return app->errmsg;
}

void sdk_app_wake(weir_app *app)
{
    if (app->cq)
        rd_kafka_queue_yield(app->cq);
}

/* ---- config --------------------------------------------------------------------------------- */

void weir_app_config_init(weir_app_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->dedup_ttl_ms = 7LL * 24 * 3600 * 1000;
    cfg->max_in_flight = 1000;
    cfg->workers = 1;
    cfg->batch_max = 64;
    cfg->commit_interval_ms = 500;
    cfg->session_timeout_ms = 10000;
    cfg->outbox_poll_ms = 200;
    cfg->handle_signals = true;
    cfg->log_level = WEIR_LOG_WARN;
}

void weir_route_options_init(weir_route_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    weir_retry_policy_init(&opt->retry);
    opt->dedup = true;
}

static char *dup_or_null(const char *s)
{
    return s ? weir_strdup(s) : NULL;
}

static int config_check(const weir_app_config *c, char *err, size_t errlen)
{
    const char *why = NULL;
    if (!c->bootstrap || !c->bootstrap[0])
        why = "bootstrap is required";
    else if (!c->group == !c->projection)
        why = "set exactly one of group and projection";
    else if (c->projection && !c->db_path)
        why = "a projection needs db_path (its offsets live in the store)";
    else if (c->workers < 1 || c->workers > 64)
        why = "workers must be 1..64";
    else if (c->max_in_flight < 1 || c->max_in_flight > 1000000)
        why = "max_in_flight must be 1..1000000";
    else if (c->batch_max < 1 || c->batch_max > 10000)
        why = "batch_max must be 1..10000";
    else if (c->commit_interval_ms < 1 || c->session_timeout_ms < 1 || c->outbox_poll_ms < 1)
        why = "commit_interval_ms, session_timeout_ms and outbox_poll_ms must be positive";
    else if (c->dedup_ttl_ms < 0)
        why = "dedup_ttl_ms must not be negative";
    else if (c->create_topic_partitions < 0 || c->create_topic_partitions > 100000)
        why = "create_topic_partitions must be 0..100000";
    if (why) {
        snprintf(err, errlen, "%s", why);
        return -WEIR_EINVAL;
    }
    return 0;
}

/* librdkafka's syslog levels to ours. */
static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    weir_app *app = rd_kafka_opaque(rk);
    int l = level <= 3   ? WEIR_LOG_ERROR
            : level == 4 ? WEIR_LOG_WARN
            : level <= 6 ? WEIR_LOG_INFO
                         : WEIR_LOG_DEBUG;
    sdk_app_log(app, l, "rdkafka %s: %s", fac, buf);
}

void sdk_client_fatal(weir_app *app, rd_kafka_t *rk)
{
    char buf[512];
    rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk, buf, sizeof(buf));
    if (app->eos && rk == app->producer)
        sdk_eos_fatal(app, code, buf);
    else
        sdk_app_fatal(app, -WEIR_EIO, "client fatal error: %s", buf);
}

static void rk_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    weir_app *app = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        sdk_client_fatal(app, rk);
        return;
    }
    /* Transient: librdkafka retries by itself (all brokers down, a connection refused). */
    sdk_app_log(app, WEIR_LOG_WARN, "client error: %s: %s",
                rd_kafka_err2str((rd_kafka_resp_err_t)err), reason);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    if (rd_kafka_conf_set(conf, k, v, err, errlen) != RD_KAFKA_CONF_OK)
        return -WEIR_EINVAL;
    return 0;
}

/* Applies the user's settings meant for this client ("consumer." / "producer." or plain). */
static int conf_apply_settings(weir_app *app, rd_kafka_conf_t *conf, const char *which, char *err,
                               size_t errlen)
{
    size_t wlen = strlen(which);
    for (size_t i = 0; app->settings && app->settings[i]; i++) {
        const char *s = app->settings[i];
        const char *eq = strchr(s, '=');
        if (!eq || eq == s) {
            snprintf(err, errlen, "setting '%s' is not key=value", s);
            return -WEIR_EINVAL;
        }
        const char *key = s;
        if (strncmp(s, "consumer.", 9) == 0 || strncmp(s, "producer.", 9) == 0) {
            if (strncmp(s, which, wlen) != 0 || s[wlen] != '.')
                continue;
            key = s + wlen + 1;
        }
        char k[256];
        snprintf(k, sizeof(k), "%.*s", (int)(eq - key), key);
        char e[256];
        if (conf_set(conf, k, eq + 1, e, sizeof(e)) != 0) {
            snprintf(err, errlen, "setting '%s': %s", s, e);
            return -WEIR_EINVAL;
        }
    }
    return 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

static int app_make_producer(weir_app *app, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(conf, app);
    rd_kafka_conf_set_log_cb(conf, rk_log_cb);
    rd_kafka_conf_set_error_cb(conf, rk_error_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, sdk_dr_cb);
    if (conf_set(conf, "bootstrap.servers", app->bootstrap, err, errlen) ||
        conf_set(conf, "client.id", app->client_id, err, errlen) ||
        conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        conf_set(conf, "linger.ms", "2", err, errlen) ||
        (app->eos && sdk_eos_conf(app, conf, true, err, errlen)) ||
        conf_apply_settings(app, conf, "producer", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -WEIR_EINVAL;
    }
    app->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!app->producer) {
        rd_kafka_conf_destroy(conf);
        return -WEIR_EINVAL;
    }
    return 0;
}

static int app_make_consumer(weir_app *app, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(conf, app);
    rd_kafka_conf_set_log_cb(conf, rk_log_cb);
    rd_kafka_conf_set_error_cb(conf, rk_error_cb);
    char session[32], heartbeat[32];
    snprintf(session, sizeof(session), "%d", app->cfg.session_timeout_ms);
    snprintf(heartbeat, sizeof(heartbeat), "%d", WEIR_MAX(100, app->cfg.session_timeout_ms / 3));
    int r = conf_set(conf, "bootstrap.servers", app->bootstrap, err, errlen) ||
            conf_set(conf, "client.id", app->client_id, err, errlen) ||
            conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
            conf_set(conf, "enable.auto.offset.store", "false", err, errlen) ||
            conf_set(conf, "auto.offset.reset", "earliest", err, errlen) ||
            conf_set(conf, "enable.partition.eof", "false", err, errlen) ||
            conf_set(conf, "fetch.wait.max.ms", "100", err, errlen);
    if (!r && app->group) {
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        r = conf_set(conf, "group.id", app->group, err, errlen) ||
            conf_set(conf, "session.timeout.ms", session, err, errlen) ||
            conf_set(conf, "heartbeat.interval.ms", heartbeat, err, errlen);
    } else if (!r) {
        /* librdkafka's assign() needs a group id even when nothing joins or commits; a
         * projection never subscribes, so the id only names the client's offsets scope. */
        char gid[300];
        snprintf(gid, sizeof(gid), "weir-projection-%s", app->projection);
        r = conf_set(conf, "group.id", gid, err, errlen);
    }
    if (!r && app->eos)
        r = sdk_eos_conf(app, conf, false, err, errlen);
    if (r || conf_apply_settings(app, conf, "consumer", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -WEIR_EINVAL;
    }
    app->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!app->consumer) {
        rd_kafka_conf_destroy(conf);
        return -WEIR_EINVAL;
    }
    /* One queue for everything the consumer loop serves: messages, rebalances, commit results,
     * logs and errors. */
    rd_kafka_poll_set_consumer(app->consumer);
    app->cq = rd_kafka_queue_get_consumer(app->consumer);
    return 0;
}

int weir_app_new(const weir_app_config *cfg, weir_app **out, char *errbuf, size_t errlen)
{
    char dummy[8];
    if (!errbuf || errlen == 0) {
        errbuf = dummy;
        errlen = sizeof(dummy);
    }
    errbuf[0] = '\0';
    *out = NULL;
    int r = config_check(cfg, errbuf, errlen);
    if (r)
        return r;
    weir_app *app = weir_calloc(1, sizeof(*app));
    app->cfg = *cfg;
    app->bootstrap = weir_strdup(cfg->bootstrap);
    app->group = dup_or_null(cfg->group);
    app->projection = dup_or_null(cfg->projection);
    app->client_id = weir_strdup(cfg->client_id ? cfg->client_id
                                 : cfg->group   ? cfg->group
                                                : cfg->projection);
    if (cfg->source) {
        app->source = weir_strdup(cfg->source);
    } else {
        app->source = weir_malloc(strlen(app->client_id) + 7);
        sprintf(app->source, "/weir/%s", app->client_id);
    }
    app->db_path = dup_or_null(cfg->db_path);
    size_t ns = 0;
    while (cfg->settings && cfg->settings[ns])
        ns++;
    app->settings = weir_calloc(ns + 1, sizeof(char *));
    for (size_t i = 0; i < ns; i++)
        app->settings[i] = weir_strdup(cfg->settings[i]);
    /* The copies are what the app reads from now on. */
    app->cfg.bootstrap = app->bootstrap;
    app->cfg.group = app->group;
    app->cfg.projection = app->projection;
    app->cfg.client_id = app->client_id;
    app->cfg.source = app->source;
    app->cfg.db_path = app->db_path;
    app->cfg.settings = (const char *const *)app->settings;
    pthread_mutex_init(&app->lock, NULL);
    pthread_cond_init(&app->cond, NULL);
    pthread_mutex_init(&app->err_lock, NULL);
    pthread_mutex_init(&app->relay_lock, NULL);
    pthread_cond_init(&app->relay_cond, NULL);
    pthread_mutex_init(&app->topics_lock, NULL);

    if (cfg->exactly_once && (r = sdk_eos_new(app, errbuf, errlen)) != 0)
        goto fail;
    if (app->db_path && (r = sdk_db_open(app->db_path, &app->db)) != 0) {
        snprintf(errbuf, errlen, "%s", app->db.err);
        goto fail;
    }
    if ((r = app_make_producer(app, errbuf, errlen)) != 0 ||
        (r = app_make_consumer(app, errbuf, errlen)) != 0 ||
        (r = sdk_obs_start(app, errbuf, errlen)) != 0)
        goto fail;
    *out = app;
    return 0;
fail:
    weir_app_free(app);
    return r;
}

void weir_app_free(weir_app *app)
{
    if (!app)
        return;
    WEIR_ASSERT(!atomic_load(&app->running));
    /* The producer goes first: its last delivery reports still point into the partitions'
     * pending lists. */
    if (app->producer) {
        rd_kafka_purge(app->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(app->producer, 0);
        rd_kafka_destroy(app->producer);
        app->producer = NULL;
    }
    /* Its last spans came with those delivery reports; its /metrics reads the partitions. */
    sdk_obs_stop(app);
    /* Every message must be gone before its consumer is destroyed. */
    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; i < app->nparts; i++)
        sdk_part_free(app->parts[i]);
    free(app->parts);
    app->parts = NULL;
    app->nparts = 0;
    pthread_mutex_unlock(&app->lock);
    if (app->cq)
        rd_kafka_queue_destroy(app->cq);
    if (app->consumer)
        rd_kafka_destroy(app->consumer);
    sdk_db_close(&app->db);
    for (size_t i = 0; i < app->nroutes; i++) {
        free(app->routes[i].topic);
        free(app->routes[i].type);
        free(app->routes[i].dlq_topic);
    }
    free(app->routes);
    for (size_t i = 0; app->settings && app->settings[i]; i++)
        free(app->settings[i]);
    free(app->settings);
    free(app->bootstrap);
    free(app->group);
    free(app->projection);
    free(app->client_id);
    free(app->source);
    free(app->db_path);
    sdk_eos_free(app);
    pthread_mutex_destroy(&app->lock);
    pthread_cond_destroy(&app->cond);
    pthread_mutex_destroy(&app->err_lock);
    pthread_mutex_destroy(&app->relay_lock);
    pthread_cond_destroy(&app->relay_cond);
    for (size_t i = 0; i < app->ntopics; i++)
        free(app->topics[i]);
    pthread_mutex_destroy(&app->topics_lock);
    free(app);
}

int weir_app_route(weir_app *app, const char *topic, const char *type, weir_handler fn, void *user,
                   const weir_route_options *opt)
{
    if (!app || !topic || !topic[0] || strlen(topic) > 245 || !fn) {
        if (app)
            sdk_app_set_error(app, "weir_app_route: topic (at most 245 bytes) and handler "
                                   "are required");
        return -WEIR_EINVAL;
    }
    if (atomic_load(&app->running)) {
        sdk_app_set_error(app, "weir_app_route: the app is already running");
        return -WEIR_EINVAL;
    }
    weir_route_options o;
    if (opt)
        o = *opt;
    else
        weir_route_options_init(&o);
    if (app->eos && sdk_eos_route_check(app, &o) != 0)
        return -WEIR_EINVAL;
    if (sdk_retry_policy_check(&o.retry) != 0) {
        sdk_app_set_error(app, "weir_app_route: retry policy out of range (max_attempts >= 1, "
                               "backoffs >= 0, multiplier 1..1000, jitter 0..1)");
        return -WEIR_EINVAL;
    }
    for (size_t i = 0; i < app->nroutes; i++) {
        const sdk_route_t *r = &app->routes[i];
        if (strcmp(r->topic, topic) == 0 && !r->type == !type &&
            (!type || strcmp(r->type, type) == 0)) {
            sdk_app_set_error(app, "weir_app_route: %s/%s is already routed", topic,
                              type ? type : "*");
            return -WEIR_EEXIST;
        }
    }
    app->routes = weir_realloc(app->routes, (app->nroutes + 1) * sizeof(*app->routes));
    sdk_route_t *r = &app->routes[app->nroutes++];
    memset(r, 0, sizeof(*r));
    r->topic = weir_strdup(topic);
    r->type = dup_or_null(type);
    metric_hist_init(&r->latency, &metric_buckets_latency);
    if (o.dlq_topic) {
        r->dlq_topic = weir_strdup(o.dlq_topic);
    } else {
        r->dlq_topic = weir_malloc(strlen(topic) + 5);
        sprintf(r->dlq_topic, "%s.dlq", topic);
    }
    o.dlq_topic = r->dlq_topic;
    /* A projection's offsets are its exactly-once; dedup by id would make a replay from 0
     * skip everything. */
    if (app->projection)
        o.dedup = false;
    if (!app->db_path)
        o.dedup = o.transactional = false;
    r->fn = fn;
    r->user = user;
    r->opt = o;
    return 0;
}

const sdk_route_t *sdk_app_route_match(const weir_app *app, const char *topic, const char *type)
{
    const sdk_route_t *any = NULL;
    for (size_t i = 0; i < app->nroutes; i++) {
        const sdk_route_t *r = &app->routes[i];
        if (strcmp(r->topic, topic) != 0)
            continue;
        if (!r->type)
            any = r;
        else if (type && type[0] && strcmp(r->type, type) == 0)
            return r;
    }
    return any;
}

const sdk_route_t *sdk_app_route_for(const weir_app *app, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    const sdk_route_t *any = NULL;
    const char *type = NULL;
    size_t tlen = 0;
    bool type_read = false;
    for (size_t i = 0; i < app->nroutes; i++) {
        const sdk_route_t *r = &app->routes[i];
        if (strcmp(r->topic, topic) != 0)
            continue;
        if (!r->type) {
            any = r;
            continue;
        }
        /* The type is read only when some route of the topic asks for one. */
        if (!type_read) {
            tlen = sdk_msg_attr(m, "ce_type", &type);
            type_read = true;
        }
        if (tlen && strlen(r->type) == tlen && memcmp(r->type, type, tlen) == 0)
            return r;
    }
    return any;
}

bool weir_app_ready(const weir_app *app)
{
    return atomic_load(&((weir_app *)app)->ready);
}

void weir_app_stop(weir_app *app)
{
    /* Only an atomic store: this may run in a signal handler. The loop polls at least every
     * SDK_POLL_MS. */
    atomic_store(&app->stop, true);
}

void weir_app_stats(const weir_app *app, weir_stats *out)
{
    const sdk_stats_t *s = &app->stats;
    out->received = atomic_load(&s->received);
    out->handled = atomic_load(&s->handled);
    out->handler_calls = atomic_load(&s->handler_calls);
    out->retried = atomic_load(&s->retried);
    out->dead_lettered = atomic_load(&s->dead_lettered);
    out->deduplicated = atomic_load(&s->deduplicated);
    out->unrouted = atomic_load(&s->unrouted);
    out->emitted = atomic_load(&s->emitted);
    out->outbox_published = atomic_load(&s->outbox_published);
    out->commits = atomic_load(&s->commits);
    out->offsets_committed = atomic_load(&s->offsets_committed);
    out->paused = atomic_load(&s->paused);
    out->rebalances = atomic_load(&s->rebalances);
    out->fetched_ahead_max = atomic_load(&s->fetched_ahead_max);
    out->transactions = atomic_load(&s->transactions);
    out->aborts = atomic_load(&s->aborts);
}

int weir_app_db_open(weir_app *app, sqlite3 **out)
{
    *out = NULL;
    if (!app->db_path)
        return -WEIR_ENOENT;
    sqlite3 *db;
    if (sqlite3_open_v2(app->db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        sdk_app_set_error(app, "store %s: %s", app->db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return -WEIR_EIO;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    *out = db;
    return 0;
}

/* ---- topics --------------------------------------------------------------------------------- */

static int create_topic_rf(weir_app *app, const char *topic, int partitions, int rf, int *kerr)
{
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, rf, errstr, sizeof(errstr));
    if (!nt) {
        sdk_app_set_error(app, "create topic %s: %s", topic, errstr);
        return -WEIR_EINVAL;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(app->producer);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(app->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, 10000, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(app->producer, &nt, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    int r = 0;
    *kerr = 0;
    if (!ev) {
        sdk_app_set_error(app, "create topic %s: timed out", topic);
        r = -WEIR_ETIMEDOUT;
    } else if (rd_kafka_event_error(ev)) {
        *kerr = rd_kafka_event_error(ev);
        sdk_app_set_error(app, "create topic %s: %s", topic, rd_kafka_event_error_string(ev));
        r = -WEIR_EIO;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                *kerr = e;
                sdk_app_set_error(app, "create topic %s: %s", topic,
                                  rd_kafka_topic_result_error_string(tr[i])
                                      ? rd_kafka_topic_result_error_string(tr[i])
                                      : rd_kafka_err2str(e));
                r = -WEIR_EIO;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return r;
}

int weir_app_create_topic(weir_app *app, const char *topic, int partitions)
{
    if (!topic || !topic[0] || partitions < 1)
        return -WEIR_EINVAL;
    int kerr;
    /* -1: the broker's default replication (KIP-464), right on any cluster size; brokers older
     * than that want a number, and one replica is all a single node has. */
    int r = create_topic_rf(app, topic, partitions, -1, &kerr);
    if (r == -WEIR_EIO && (kerr == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR ||
                           kerr == RD_KAFKA_RESP_ERR_INVALID_REQUEST ||
                           kerr == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION))
        r = create_topic_rf(app, topic, partitions, 1, &kerr);
    return r;
}

static void app_create_topics(weir_app *app)
{
    int n = app->cfg.create_topic_partitions;
    for (size_t i = 0; i < app->nroutes; i++) {
        const sdk_route_t *r = &app->routes[i];
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= strcmp(app->routes[j].topic, r->topic) == 0 &&
                    strcmp(app->routes[j].dlq_topic, r->dlq_topic) == 0;
        if (seen)
            continue;
        if (weir_app_create_topic(app, r->topic, n) != 0 ||
            weir_app_create_topic(app, r->dlq_topic, n) != 0)
            sdk_app_log(app, WEIR_LOG_WARN, "%s (continuing)", app->errmsg);
    }
}

/* ---- partitions ----------------------------------------------------------------------------- */

sdk_part_t *sdk_part_find(weir_app *app, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < app->nparts; i++) {
        sdk_part_t *p = app->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    }
    return NULL;
}

static sdk_part_t *part_add(weir_app *app, const char *topic, int32_t partition)
{
    sdk_part_t *p = sdk_part_find(app, topic, partition);
    if (p) {
        /* Back after a revoke whose deliveries never all landed: start over from what the
         * coordinator has; the old pending entries still hold commits back. */
        p->done = p->committed = p->commit_sent = -1;
        return p;
    }
    p = weir_calloc(1, sizeof(*p));
    p->topic = weir_strdup(topic);
    p->partition = partition;
    /* Spread partitions over the workers; all of one partition's events go to one worker. */
    uint32_t h = crc32c(0, topic, strlen(topic)) ^ (uint32_t)partition * 2654435761u;
    p->worker = (int)(h % (uint32_t)app->cfg.workers);
    p->done = -1;
    p->committed = -1;
    p->commit_sent = -1;
    app->parts = weir_realloc(app->parts, (app->nparts + 1) * sizeof(*app->parts));
    app->parts[app->nparts++] = p;
    return p;
}

static void part_remove(weir_app *app, sdk_part_t *p)
{
    for (size_t i = 0; i < app->nparts; i++) {
        if (app->parts[i] == p) {
            app->parts[i] = app->parts[--app->nparts];
            break;
        }
    }
}

/* ---- commits -------------------------------------------------------------------------------- */

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    weir_app *app = opaque;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    uint64_t moved = 0;
    pthread_mutex_lock(&app->lock);
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        sdk_part_t *p = sdk_part_find(app, tp->topic, tp->partition);
        if (!p)
            continue;
        if (err || tp->err) {
            /* Send it again at the next interval. */
            if (p->commit_sent <= tp->offset)
                p->commit_sent = p->committed;
            continue;
        }
        if (tp->offset > p->committed) {
            p->committed = tp->offset;
            moved++;
        }
    }
    pthread_mutex_unlock(&app->lock);
    if (err) {
        sdk_app_log(app, WEIR_LOG_WARN, "offset commit failed: %s", rd_kafka_err2str(err));
        return;
    }
    atomic_fetch_add(&app->stats.commits, 1);
    atomic_fetch_add(&app->stats.offsets_committed, moved);
}

/* Commits what may be committed. sync: waits for the answer (rebalance, stop). */
static void app_commit(weir_app *app, bool sync)
{
    if (app->projection)
        return; /* a projection's offsets are written with its read model */
    if (app->eos) {
        sdk_eos_end(app, false, false); /* offsets go in the transaction */
        return;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; i < app->nparts; i++) {
        sdk_part_t *p = app->parts[i];
        int64_t c = sdk_part_committable(p);
        if (c > p->commit_sent) {
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = c;
            p->commit_sent = c;
        }
    }
    pthread_mutex_unlock(&app->lock);
    if (list->cnt > 0) {
        rd_kafka_resp_err_t err =
            rd_kafka_commit_queue(app->consumer, list, sync ? NULL : app->cq, commit_cb, app);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            sdk_app_log(app, WEIR_LOG_WARN, "offset commit: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* ---- rebalances ----------------------------------------------------------------------------- */

/* New partitions: each gets its state and its own queue, read by its worker, before the
 * consumer is told to fetch them, so no event of theirs lands anywhere else. */
static void app_assign(weir_app *app, rd_kafka_topic_partition_list_t *list)
{
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < list->cnt; i++) {
        sdk_part_t *p = part_add(app, list->elems[i].topic, list->elems[i].partition);
        p->revoked = false;
        if (!p->rkqu) {
            /* Its own queue, not forwarded to the consumer's: librdkafka's fetch-ahead bounds
             * then apply per partition, and the worker is woken through its eventfd. */
            p->rkqu = rd_kafka_queue_get_partition(app->consumer, p->topic, p->partition);
            if (p->rkqu) {
                static const uint64_t one = 1;
                rd_kafka_queue_forward(p->rkqu, NULL);
                rd_kafka_queue_io_event_enable(p->rkqu, app->workers[p->worker].evfd, &one,
                                               sizeof(one));
            }
        }
    }
    pthread_mutex_unlock(&app->lock);
    atomic_fetch_add(&app->stats.rebalances, 1);
    atomic_store(&app->ready, true);
}

/* Takes partitions away: parks the workers between batches, drops what waits in the
 * partitions' stashes, waits for their records to be acknowledged, commits (unless the
 * assignment was lost), and frees them. */
static void app_revoke(weir_app *app, rd_kafka_topic_partition_list_t *list, bool lost)
{
    sdk_workers_hold(app);
    rd_kafka_topic_partition_list_t *resume = rd_kafka_topic_partition_list_new(4);
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < list->cnt; i++) {
        sdk_part_t *p = sdk_part_find(app, list->elems[i].topic, list->elems[i].partition);
        if (!p)
            continue;
        p->revoked = true;
        sdk_part_stash_clear(p);
        /* A paused partition stays paused in librdkafka across assignments: resume it now so
         * that it flows again when it comes back. */
        if (p->paused) {
            rd_kafka_topic_partition_list_add(resume, p->topic, p->partition);
            p->paused = false;
        }
    }
    pthread_mutex_unlock(&app->lock);

    if (resume->cnt)
        rd_kafka_resume_partitions(app->consumer, resume);
    rd_kafka_topic_partition_list_destroy(resume);
    if (app->eos) {
        /* Commit the transaction while the partitions are ours; abort it if they are lost. */
        sdk_eos_end(app, lost, true);
    } else if (!lost) {
        if (rd_kafka_flush(app->producer, SDK_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
            sdk_app_log(app, WEIR_LOG_WARN, "revoke: records still unacknowledged after %d ms",
                        SDK_FLUSH_MS);
        app_commit(app, true);
    }

    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; i < app->nparts;) {
        sdk_part_t *p = app->parts[i];
        if (p->revoked && !p->pend_head) {
            part_remove(app, p);
            sdk_part_free(p);
        } else {
            i++; /* still waiting for deliveries: freed with the app */
        }
    }
    pthread_mutex_unlock(&app->lock);
    sdk_workers_release(app);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    weir_app *app = opaque;
    /* NULL when the callback comes from rd_kafka_consumer_close() (an assignment that arrived
     * while the app was stopping, right after its start): answered as an eager one. */
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    bool cooperative = protocol && strcmp(protocol, "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        app_assign(app, parts);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
        sdk_app_log(app, WEIR_LOG_INFO, "assigned %d partitions", parts->cnt);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        app_revoke(app, parts, rd_kafka_assignment_lost(rk));
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        sdk_app_log(app, WEIR_LOG_INFO, "revoked %d partitions", parts->cnt);
        return;
    }
    sdk_app_log(app, WEIR_LOG_WARN, "rebalance error: %s", rd_kafka_err2str(err));
    rd_kafka_assign(rk, NULL);
}

/* ---- projections: every partition, offsets from the store ----------------------------------- */

static int topic_partition_count(weir_app *app, const char *topic, int *count)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(app->consumer, topic, NULL);
    int64_t deadline = clock_mono_ms() + 10000;
    int r = -WEIR_ENOENT;
    while (clock_mono_ms() < deadline && !atomic_load(&app->stop)) {
        const struct rd_kafka_metadata *md;
        if (rd_kafka_metadata(app->consumer, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            bool ok = md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0;
            if (ok)
                *count = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
            if (ok) {
                r = 0;
                break;
            }
        }
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
    rd_kafka_topic_destroy(rkt);
    return r;
}

static int app_projection_assign(weir_app *app)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    int r = 0;
    for (size_t i = 0; i < app->nroutes && !r; i++) {
        const char *topic = app->routes[i].topic;
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= strcmp(app->routes[j].topic, topic) == 0;
        int n = 0;
        if (seen)
            continue;
        if ((r = topic_partition_count(app, topic, &n)) != 0) {
            sdk_app_set_error(app, "projection %s: topic %s not found", app->projection, topic);
            break;
        }
        for (int p = 0; p < n; p++) {
            int64_t next = RD_KAFKA_OFFSET_BEGINNING;
            int g = sdk_offset_get(&app->db, app->projection, topic, p, &next);
            if (g && g != -WEIR_ENOENT) {
                sdk_app_set_error(app, "%s", app->db.err);
                r = g;
                break;
            }
            rd_kafka_topic_partition_list_add(list, topic, p)->offset = next;
        }
    }
    if (!r) {
        app_assign(app, list);
        rd_kafka_resp_err_t e = rd_kafka_assign(app->consumer, list);
        if (e) {
            sdk_app_set_error(app, "projection assign: %s", rd_kafka_err2str(e));
            r = -WEIR_EIO;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    return r;
}

static int app_subscribe(weir_app *app)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)app->nroutes);
    for (size_t i = 0; i < app->nroutes; i++)
        if (!rd_kafka_topic_partition_list_find(list, app->routes[i].topic, RD_KAFKA_PARTITION_UA))
            rd_kafka_topic_partition_list_add(list, app->routes[i].topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(app->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e) {
        sdk_app_set_error(app, "subscribe: %s", rd_kafka_err2str(e));
        return -WEIR_EIO;
    }
    return 0;
}

/* ---- the consumer loop ---------------------------------------------------------------------- */

/* Events normally go from the partition queues straight to the workers; one that comes
 * through the consumer queue instead joins its partition's stash, in order. */
static void app_enqueue(weir_app *app, rd_kafka_message_t *m)
{
    pthread_mutex_lock(&app->lock);
    sdk_part_t *p = sdk_part_find(app, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p || p->revoked) {
        pthread_mutex_unlock(&app->lock);
        rd_kafka_message_destroy(m);
        return;
    }
    atomic_fetch_add_explicit(&app->stats.received, 1, memory_order_relaxed);
    bool pause = sdk_part_stash(app, p, m);
    pthread_mutex_unlock(&app->lock);
    if (pause)
        sdk_part_pause(app, p, true);
}

static void app_consumer_error(weir_app *app, rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t e = m->err;
    if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "-";
    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];
        rd_kafka_fatal_error(app->consumer, buf, sizeof(buf));
        sdk_app_fatal(app, -WEIR_EIO, "consumer fatal error: %s", buf);
        return;
    }
    /* A topic that does not exist (yet) is normal while services start in any order. */
    sdk_app_log(app, e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? WEIR_LOG_INFO : WEIR_LOG_WARN,
                "consume %s [%d]: %s", topic, m->partition, rd_kafka_message_errstr(m));
}

/* SIGINT/SIGTERM: apps registered here are told to stop. The handler only does atomic
 * stores. */
#define SDK_SIG_APPS 16
static _Atomic(weir_app *) sig_apps[SDK_SIG_APPS];
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static int sig_users;
static struct sigaction sig_old_int, sig_old_term;

static void sig_handler(int sig)
{
    (void)sig;
    for (int i = 0; i < SDK_SIG_APPS; i++) {
        weir_app *a = atomic_load(&sig_apps[i]);
        if (a)
            atomic_store(&a->stop, true);
    }
}

static void sig_install(weir_app *app)
{
    pthread_mutex_lock(&sig_lock);
    for (int i = 0; i < SDK_SIG_APPS; i++) {
        if (!atomic_load(&sig_apps[i])) {
            atomic_store(&sig_apps[i], app);
            break;
        }
    }
    if (sig_users++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = sig_handler;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &sig_old_int);
        sigaction(SIGTERM, &sa, &sig_old_term);
    }
    pthread_mutex_unlock(&sig_lock);
}

static void sig_uninstall(weir_app *app)
{
    pthread_mutex_lock(&sig_lock);
    for (int i = 0; i < SDK_SIG_APPS; i++)
        if (atomic_load(&sig_apps[i]) == app)
            atomic_store(&sig_apps[i], NULL);
    if (--sig_users == 0) {
        sigaction(SIGINT, &sig_old_int, NULL);
        sigaction(SIGTERM, &sig_old_term, NULL);
    }
    pthread_mutex_unlock(&sig_lock);
}

static void app_loop(weir_app *app)
{
    int64_t next_commit = clock_mono_ms() + app->cfg.commit_interval_ms;
    while (!atomic_load(&app->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(app->consumer, SDK_POLL_MS);
        if (m) {
            if (m->err) {
                app_consumer_error(app, m);
                rd_kafka_message_destroy(m);
            } else {
                app_enqueue(app, m);
            }
        }
        int64_t now = clock_mono_ms();
        /* A doomed transaction is aborted at once: its workers are parked until then. */
        if (now >= next_commit || (app->eos && sdk_eos_doomed(app))) {
            app_commit(app, false);
            next_commit = now + app->cfg.commit_interval_ms;
        }
    }
}

/* The stop sequence: no more fetching, running handlers finish, the relay publishes what it
 * holds, the producer is flushed, offsets are committed, the group is left. */
static void app_shutdown(weir_app *app)
{
    atomic_store(&app->ready, false);
    sdk_workers_stop(app);
    sdk_relay_stop(app);
    if (rd_kafka_flush(app->producer, SDK_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        sdk_app_log(app, WEIR_LOG_WARN, "stop: records still unacknowledged after %d ms",
                    SDK_FLUSH_MS);
    app_commit(app, true);
    sdk_dr_thread_stop(app); /* from here on only this thread serves the producer */
    /* librdkafka wants every queue handle of the consumer gone before it closes. */
    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; i < app->nparts; i++) {
        sdk_part_t *p = app->parts[i];
        if (p->rkqu) {
            rd_kafka_queue_io_event_enable(p->rkqu, -1, NULL, 0);
            rd_kafka_queue_destroy(p->rkqu);
            p->rkqu = NULL;
        }
    }
    pthread_mutex_unlock(&app->lock);
    rd_kafka_queue_t *cq = app->cq;
    app->cq = NULL;
    rd_kafka_queue_destroy(cq);
    if (app->group) {
        /* Leaves the group; our rebalance callback runs for the last revoke. */
        rd_kafka_consumer_close(app->consumer);
    } else {
        rd_kafka_assign(app->consumer, NULL);
    }
    /* Drop whatever is still held so no message outlives the run. */
    pthread_mutex_lock(&app->lock);
    for (size_t i = 0; i < app->nparts; i++)
        sdk_part_stash_clear(app->parts[i]);
    pthread_mutex_unlock(&app->lock);
    sdk_workers_free(app);
}

int weir_app_run(weir_app *app)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&app->running, &expected, true)) {
        sdk_app_set_error(app, "weir_app_run: already running");
        return -WEIR_EINVAL;
    }
    if (app->nroutes == 0) {
        sdk_app_set_error(app, "weir_app_run: no routes");
        atomic_store(&app->running, false);
        return -WEIR_EINVAL;
    }
    if (app->consumer_closed) {
        sdk_app_set_error(app, "weir_app_run: an app runs once");
        atomic_store(&app->running, false);
        return -WEIR_EINVAL;
    }
    atomic_store(&app->routes_fixed, true); /* /metrics may read the routes from now on */
    if (app->cfg.handle_signals)
        sig_install(app);
    if (app->cfg.create_topic_partitions > 0)
        app_create_topics(app);
    int r = sdk_dr_thread_start(app);
    if (!r)
        r = sdk_workers_start(app);
    if (!r && app->db_path && !app->eos)
        r = sdk_relay_start(app);
    if (!r && app->eos)
        r = sdk_eos_start(app); /* before subscribing: fences our older selves first */
    if (!r)
        r = app->projection ? app_projection_assign(app) : app_subscribe(app);
    if (!r) {
        app_loop(app);
    } else {
        int none = 0;
        atomic_compare_exchange_strong(&app->fatal, &none, r);
        sdk_app_log(app, WEIR_LOG_ERROR, "cannot start: %s", app->errmsg);
    }
    app_shutdown(app);
    app->consumer_closed = true;
    if (app->cfg.handle_signals)
        sig_uninstall(app);
    atomic_store(&app->running, false);
    return atomic_load(&app->fatal);
}
