/*
 * The streams app: its config, its four librdkafka clients (the group consumer that reads the
 * inputs, the producer of outputs and changelogs, a consumer that restores changelogs and one
 * that reads tables, neither of which joins the group), producing with delivery reports, the
 * counters, stop and signals.
 *
 * Delivery reports are served on the loop's thread (rd_kafka_poll / flush): a changelog
 * record's report moves its store part's acknowledged changelog offset, which becomes the
 * checkpoint at the next commit; any failed delivery makes the next commit fail, so nothing is
 * committed past an output the broker does not have.
 */
#include "sdk/streams_internal.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- logging and errors ---------------------------------------------------------------------- */

void st_log(weir_streams *s, int level, const char *fmt, ...)
{
    if (level < s->cfg.log_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s->cfg.log) {
        s->cfg.log(level, msg, s->cfg.log_user);
        return;
    }
    static const log_level_t map[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
    log_write(map[level < 0 ? 0 : level > 3 ? 3 : level], "weir-streams", "%s: %s", s->app_id, msg);
}

/* Formatted aside first: the arguments may include s->errmsg itself. */
__attribute__((format(printf, 2, 0))) static void set_error_v(weir_streams *s, const char *fmt,
                                                              va_list ap)
{
    char msg[sizeof(s->errmsg)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    pthread_mutex_lock(&s->err_lock);
    memcpy(s->errmsg, msg, sizeof(msg));
    pthread_mutex_unlock(&s->err_lock);
}

void st_set_error(weir_streams *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error_v(s, fmt, ap);
    va_end(ap);
}

void st_fatal(weir_streams *s, int err, const char *fmt, ...)
{
    int none = 0;
    if (!atomic_compare_exchange_strong(&s->fatal, &none, err))
        return;
    va_list ap;
    va_start(ap, fmt);
    set_error_v(s, fmt, ap);
    va_end(ap);
    st_log(s, WEIR_LOG_ERROR, "stopping: %s", s->errmsg);
    atomic_store(&s->stop, true);
}

const char *weir_streams_errmsg(const weir_streams *s)
{
    return s->errmsg;
}

/* ---- config ---------------------------------------------------------------------------------- */

void weir_streams_config_init(weir_streams_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->guarantee = WEIR_AT_LEAST_ONCE;
    cfg->commit_interval_ms = 100;
    cfg->session_timeout_ms = 10000;
    cfg->handle_signals = true;
    cfg->log_level = WEIR_LOG_WARN;
}

static int config_check(const weir_streams_config *c, char *err, size_t errlen)
{
    const char *why = NULL;
    if (!c->bootstrap || !c->bootstrap[0])
        why = "bootstrap is required";
    else if (!st_name_ok(c->application_id))
        why = "application_id is required: 1..100 letters, digits, '.', '_' or '-'";
    else if (!c->state_dir || !c->state_dir[0] || strlen(c->state_dir) > 3000)
        why = "state_dir is required";
    else if (c->guarantee != WEIR_AT_LEAST_ONCE && c->guarantee != WEIR_EXACTLY_ONCE)
        why = "guarantee must be WEIR_AT_LEAST_ONCE or WEIR_EXACTLY_ONCE";
    else if (c->commit_interval_ms < 1 || c->session_timeout_ms < 1)
        why = "commit_interval_ms and session_timeout_ms must be positive";
    else if (c->max_task_idle_ms < 0 || c->internal_partitions < 0 ||
             c->internal_partitions > ST_PARTITIONS_MAX)
        why = "max_task_idle_ms must not be negative, internal_partitions must be 0..4096";
    if (why) {
        snprintf(err, errlen, "%s", why);
        return -WEIR_EINVAL;
    }
    return 0;
}

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v, char *err, size_t errlen)
{
    return rd_kafka_conf_set(c, k, v, err, errlen) == RD_KAFKA_CONF_OK ? 0 : -WEIR_EINVAL;
}

/* The user's settings for a client of this kind ("consumer" or "producer"). */
static int conf_user(weir_streams *s, rd_kafka_conf_t *c, const char *which, char *err,
                     size_t errlen)
{
    size_t wlen = strlen(which);
    for (size_t i = 0; s->settings && s->settings[i]; i++) {
        const char *kv = s->settings[i], *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            snprintf(err, errlen, "setting '%s' is not key=value", kv);
            return -WEIR_EINVAL;
        }
        const char *key = kv;
        if (strncmp(kv, "consumer.", 9) == 0 || strncmp(kv, "producer.", 9) == 0) {
            if (strncmp(kv, which, wlen) != 0 || kv[wlen] != '.')
                continue;
            key = kv + wlen + 1;
        }
        char k[256], e[256];
        snprintf(k, sizeof(k), "%.*s", (int)(eq - key), key);
        if (conf_set(c, k, eq + 1, e, sizeof(e))) {
            snprintf(err, errlen, "setting '%s': %s", kv, e);
            return -WEIR_EINVAL;
        }
    }
    return 0;
}

static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    weir_streams *s = rd_kafka_opaque(rk);
    int l = level <= 3   ? WEIR_LOG_ERROR
            : level == 4 ? WEIR_LOG_WARN
            : level <= 6 ? WEIR_LOG_INFO
                         : WEIR_LOG_DEBUG;
    st_log(s, l, "rdkafka %s: %s", fac, buf);
}

static void rk_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    weir_streams *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        st_fatal(s, -WEIR_EIO, "client fatal error: %s", buf);
        return;
    }
    st_log(s, WEIR_LOG_WARN, "client error: %s: %s", rd_kafka_err2str((rd_kafka_resp_err_t)err),
           reason);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    weir_streams *s = opaque;
    if (m->err) {
        if (!s->produce_failed)
            snprintf(s->produce_err, sizeof(s->produce_err), "%s [%d]: %s",
                     rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2str(m->err));
        s->produce_failed = true;
        return;
    }
    st_part_t *sp = m->_private;
    if (sp && m->offset + 1 > sp->changelog_acked)
        sp->changelog_acked = m->offset + 1;
}

/* Common to the four clients. */
static rd_kafka_conf_t *conf_base(weir_streams *s, const char *role, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(c, s);
    rd_kafka_conf_set_log_cb(c, rk_log_cb);
    rd_kafka_conf_set_error_cb(c, rk_error_cb);
    char cid[300];
    snprintf(cid, sizeof(cid), "%s-%s-%s", s->app_id, s->instance_id, role);
    if (conf_set(c, "bootstrap.servers", s->bootstrap, err, errlen) ||
        conf_set(c, "client.id", cid, err, errlen)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    return c;
}

static rd_kafka_t *client_new(weir_streams *s, rd_kafka_type_t type, rd_kafka_conf_t *c,
                              const char *which, char *err, size_t errlen)
{
    if (conf_user(s, c, which, err, errlen)) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, err, errlen);
    if (!rk)
        rd_kafka_conf_destroy(c);
    return rk;
}

static int make_producer(weir_streams *s, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = conf_base(s, "producer", err, errlen);
    if (!c)
        return -WEIR_EINVAL;
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    bool eos = s->cfg.guarantee == WEIR_EXACTLY_ONCE;
    char txn[300];
    snprintf(txn, sizeof(txn), "%s-%s", s->app_id, s->instance_id);
    if (conf_set(c, "enable.idempotence", "true", err, errlen) ||
        conf_set(c, "partitioner", "murmur2_random", err, errlen) ||
        conf_set(c, "linger.ms", "5", err, errlen) ||
        (eos && (conf_set(c, "transactional.id", txn, err, errlen) ||
                 conf_set(c, "transaction.timeout.ms", "10000", err, errlen)))) {
        rd_kafka_conf_destroy(c);
        return -WEIR_EINVAL;
    }
    s->producer = client_new(s, RD_KAFKA_PRODUCER, c, "producer", err, errlen);
    return s->producer ? 0 : -WEIR_EINVAL;
}

/* role "group": the group member; "restore" and "tables": assigned by hand, never in a group. */
static rd_kafka_t *make_consumer(weir_streams *s, const char *role, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = conf_base(s, role, err, errlen);
    if (!c)
        return NULL;
    bool group = strcmp(role, "group") == 0;
    char gid[300], session[24], hb[24];
    snprintf(gid, sizeof(gid), group ? "%s" : "%s.%s", s->app_id, role);
    snprintf(session, sizeof(session), "%d", s->cfg.session_timeout_ms);
    snprintf(hb, sizeof(hb), "%d", WEIR_MAX(100, s->cfg.session_timeout_ms / 3));
    const char *iso = s->cfg.guarantee == WEIR_EXACTLY_ONCE ? "read_committed" : "read_uncommitted";
    int r = conf_set(c, "group.id", gid, err, errlen) ||
            conf_set(c, "enable.auto.commit", "false", err, errlen) ||
            conf_set(c, "enable.auto.offset.store", "false", err, errlen) ||
            conf_set(c, "auto.offset.reset", "earliest", err, errlen) ||
            conf_set(c, "isolation.level", iso, err, errlen) ||
            conf_set(c, "fetch.wait.max.ms", "50", err, errlen) ||
            conf_set(c, "enable.partition.eof", group ? "false" : "true", err, errlen);
    if (!r && group) {
        rd_kafka_conf_set_rebalance_cb(c, st_rebalance_cb);
        r = conf_set(c, "partition.assignment.strategy", "range", err, errlen) ||
            conf_set(c, "session.timeout.ms", session, err, errlen) ||
            conf_set(c, "heartbeat.interval.ms", hb, err, errlen);
    }
    if (r) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_t *rk = client_new(s, RD_KAFKA_CONSUMER, c, "consumer", err, errlen);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

static char *dup_or_null(const char *p)
{
    return p ? weir_strdup(p) : NULL;
}

int weir_streams_new(const weir_streams_config *cfg, weir_streams **out, char *errbuf,
                     size_t errlen)
{
    char dummy[8];
    if (!errbuf || !errlen) {
        errbuf = dummy;
        errlen = sizeof(dummy);
    }
    errbuf[0] = '\0';
    *out = NULL;
    int r = config_check(cfg, errbuf, errlen);
    if (r)
        return r;
    weir_streams *s = weir_calloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->bootstrap = weir_strdup(cfg->bootstrap);
    s->app_id = weir_strdup(cfg->application_id);
    s->state_dir = weir_strdup(cfg->state_dir);
    size_t n = strlen(s->state_dir) + strlen(s->app_id) + 8;
    s->db_path = weir_malloc(n);
    snprintf(s->db_path, n, "%s/%s.db", s->state_dir, s->app_id);
    size_t ns = 0;
    while (cfg->settings && cfg->settings[ns])
        ns++;
    s->settings = weir_calloc(ns + 1, sizeof(char *));
    for (size_t i = 0; i < ns; i++)
        s->settings[i] = dup_or_null(cfg->settings[i]);
    s->cfg.bootstrap = s->bootstrap;
    s->cfg.application_id = s->app_id;
    s->cfg.state_dir = s->state_dir;
    s->cfg.settings = (const char *const *)s->settings;
    pthread_mutex_init(&s->err_lock, NULL);
    pthread_mutex_init(&s->query_lock, NULL);
    if ((r = st_db_open(s, errbuf, errlen)) != 0)
        goto fail;
    r = make_producer(s, errbuf, errlen);
    if (!r && !((s->consumer = make_consumer(s, "group", errbuf, errlen)) &&
                (s->restorer = make_consumer(s, "restore", errbuf, errlen)) &&
                (s->tabler = make_consumer(s, "tables", errbuf, errlen))))
        r = -WEIR_EINVAL;
    if (r)
        goto fail;
    *out = s;
    return 0;
fail:
    weir_streams_free(s);
    return r;
}

void weir_streams_free(weir_streams *s)
{
    if (!s)
        return;
    WEIR_ASSERT(!atomic_load(&s->running));
    for (size_t i = 0; i < s->ntasks; i++)
        st_task_free(s, s->tasks[i]);
    free(s->tasks);
    if (s->producer) {
        rd_kafka_purge(s->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(s->producer, 0);
        rd_kafka_destroy(s->producer);
    }
    if (s->cgmd)
        rd_kafka_consumer_group_metadata_destroy(s->cgmd);
    rd_kafka_t *cs[] = {s->consumer, s->restorer, s->tabler};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(cs); i++)
        if (cs[i])
            rd_kafka_destroy(cs[i]);
    if (s->db)
        st_db_close(s);
    st_topology_free(s);
    for (size_t i = 0; i < s->nsinks; i++)
        free(s->sink_topics[i]);
    free(s->sink_topics);
    free(s->sink_parts);
    for (size_t i = 0; s->settings && s->settings[i]; i++)
        free(s->settings[i]);
    free(s->settings);
    free(s->bootstrap);
    free(s->app_id);
    free(s->state_dir);
    free(s->db_path);
    buf_deinit(&s->valbuf);
    buf_deinit(&s->inkey);
    buf_deinit(&s->inval);
    pthread_mutex_destroy(&s->err_lock);
    pthread_mutex_destroy(&s->query_lock);
    free(s);
}

int st_watermarks(weir_streams *s, rd_kafka_t *rk, const char *topic, int32_t part, int64_t *lo,
                  int64_t *hi)
{
    int64_t deadline = clock_mono_ms() + 15000;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, part, lo, hi, 10000);
        if (!e)
            return 0;
        /* A topic just created: its leader may not be known everywhere yet. */
        bool again = e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                     e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                     e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                     e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || e == RD_KAFKA_RESP_ERR__TRANSPORT;
        if (!again || clock_mono_ms() >= deadline || atomic_load(&s->stop)) {
            st_set_error(s, "%s [%d]: %s", topic, (int)part, rd_kafka_err2str(e));
            return -WEIR_EIO;
        }
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* ---- producing ------------------------------------------------------------------------------- */

int st_txn_ensure(weir_streams *s)
{
    if (s->cfg.guarantee != WEIR_EXACTLY_ONCE || s->txn_open)
        return 0;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(s->producer);
    if (e) {
        st_fatal(s, -WEIR_EIO, "begin_transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -WEIR_EIO;
    }
    s->txn_open = true;
    return 0;
}

int st_produce(weir_streams *s, const char *topic, int32_t partition, const void *key,
               ssize_t key_len, const void *value, ssize_t value_len, int64_t ts,
               rd_kafka_headers_t *hdrs, void *opaque)
{
    int r = st_txn_ensure(s);
    if (r) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return r;
    }
    const void *k = key_len < 0 ? NULL : key_len ? key : "";
    void *v = value_len < 0 ? NULL : value_len ? (void *)value : "";
    size_t klen = key_len < 0 ? 0 : (size_t)key_len, vlen = value_len < 0 ? 0 : (size_t)value_len;
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(k, klen),
                              RD_KAFKA_V_VALUE(v, vlen), RD_KAFKA_V_TIMESTAMP(ts >= 0 ? ts : 0),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(s->producer, 10);
            continue;
        }
        if (e) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            st_fatal(s, -WEIR_EIO, "produce to %s: %s", topic, rd_kafka_err2str(e));
            return -WEIR_EIO;
        }
        atomic_fetch_add_explicit(&s->stats.produced, 1, memory_order_relaxed);
        return 0;
    }
}

/* ---- counters, stop, signals ----------------------------------------------------------------- */

void weir_streams_stats(const weir_streams *s, weir_streams_counters *out)
{
    const st_stats_t *c = &s->stats;
    out->processed = atomic_load(&c->processed);
    out->produced = atomic_load(&c->produced);
    out->skipped = atomic_load(&c->skipped);
    out->late = atomic_load(&c->late);
    out->suppressed = atomic_load(&c->suppressed);
    out->commits = atomic_load(&c->commits);
    out->rebalances = atomic_load(&c->rebalances);
    out->tasks = atomic_load(&c->tasks);
    out->restored_records = atomic_load(&c->restored_records);
    out->restored_bytes = atomic_load(&c->restored_bytes);
    out->restore_ms = atomic_load(&c->restore_ms);
    out->table_updates = atomic_load(&c->table_updates);
}

void weir_streams_stop(weir_streams *s)
{
    atomic_store(&s->stop, true); /* an atomic store only: signal handlers call this */
}

bool weir_streams_ready(const weir_streams *s)
{
    return atomic_load(&((weir_streams *)s)->ready);
}

#define ST_SIG_APPS 16
static _Atomic(weir_streams *) sig_apps[ST_SIG_APPS];
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static int sig_users;
static struct sigaction sig_old_int, sig_old_term;

static void sig_handler(int sig)
{
    (void)sig;
    for (int i = 0; i < ST_SIG_APPS; i++) {
        weir_streams *s = atomic_load(&sig_apps[i]);
        if (s)
            atomic_store(&s->stop, true);
    }
}

void st_signals(weir_streams *s, bool install)
{
    pthread_mutex_lock(&sig_lock);
    for (int i = 0; i < ST_SIG_APPS; i++) {
        weir_streams *cur = atomic_load(&sig_apps[i]);
        if (install && !cur) {
            atomic_store(&sig_apps[i], s);
            break;
        }
        if (!install && cur == s)
            atomic_store(&sig_apps[i], NULL);
    }
    if (install && sig_users++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = sig_handler;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &sig_old_int);
        sigaction(SIGTERM, &sa, &sig_old_term);
    } else if (!install && --sig_users == 0) {
        sigaction(SIGINT, &sig_old_int, NULL);
        sigaction(SIGTERM, &sig_old_term, NULL);
    }
    pthread_mutex_unlock(&sig_lock);
}
