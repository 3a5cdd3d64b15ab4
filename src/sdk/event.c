/*
 * The handler's view: weir_event accessors over a borrowed librdkafka message, the weir_ctx of
 * one handler call, and weir_emit. Emits of a plain route are held in the ctx and produced by
 * the worker only when the handler returns OK; emits of a transactional route (or a projection)
 * go straight into the outbox inside the handler's transaction, so they commit or roll back with
 * it.
 */
#include "sdk/sdk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void sdk_event_init(weir_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    buf_init(&ev->key_buf);
    buf_init(&ev->value_buf);
}

void sdk_event_deinit(weir_event *ev)
{
    buf_deinit(&ev->key_buf);
    buf_deinit(&ev->value_buf);
    ev->msg = NULL;
}

void sdk_event_set(weir_event *ev, const rd_kafka_message_t *msg)
{
    ev->msg = msg;
    ev->key_str = NULL;
    ev->value_ready = false;
    ev->ce_ready = false;
}

const sdk_ce_t *sdk_event_ce(weir_event *ev)
{
    if (!ev->ce_ready) {
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers(ev->msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
            h = NULL;
        sdk_ce_read(h, &ev->ce);
        ev->ce_ready = true;
    }
    return &ev->ce;
}

size_t sdk_msg_attr(const rd_kafka_message_t *m, const char *name, const char **val)
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h ||
        rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v || n == 0 ||
        n > SDK_CE_ATTR_MAX || memchr(v, '\0', n))
        return 0;
    *val = v;
    return n;
}

const char *weir_event_topic(const weir_event *ev)
{
    return rd_kafka_topic_name(ev->msg->rkt);
}

int32_t weir_event_partition(const weir_event *ev)
{
    return ev->msg->partition;
}

int64_t weir_event_offset(const weir_event *ev)
{
    return ev->msg->offset;
}

int64_t weir_event_timestamp(const weir_event *ev)
{
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(ev->msg, &tt);
    return tt == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
}

const void *weir_event_key(const weir_event *ev, size_t *len)
{
    if (len)
        *len = ev->msg->key ? ev->msg->key_len : 0;
    return ev->msg->key;
}

const char *weir_event_key_str(const weir_event *ev)
{
    weir_event *e = (weir_event *)ev; /* the cache is invisible to the caller */
    if (e->key_str)
        return e->key_str;
    const void *k = ev->msg->key;
    size_t n = ev->msg->key_len;
    if (!k || n > 4096 || memchr(k, '\0', n))
        return NULL;
    buf_reset(&e->key_buf);
    buf_append(&e->key_buf, k, n);
    buf_append_u8(&e->key_buf, 0);
    e->key_str = (char *)e->key_buf.data;
    return e->key_str;
}

const char *weir_event_value(const weir_event *ev, size_t *len)
{
    weir_event *e = (weir_event *)ev;
    if (!ev->msg->payload) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = ev->msg->len;
    /* librdkafka's payload is not NUL-terminated; copy once, on first use. */
    if (!e->value_ready) {
        buf_reset(&e->value_buf);
        buf_reserve(&e->value_buf, ev->msg->len + 1);
        buf_append(&e->value_buf, ev->msg->payload, ev->msg->len);
        buf_append_u8(&e->value_buf, 0);
        e->value_ready = true;
    }
    return (const char *)e->value_buf.data;
}

static const char *attr_or_null(const char *s)
{
    return s[0] ? s : NULL;
}

const char *weir_event_id(const weir_event *ev)
{
    return attr_or_null(sdk_event_ce((weir_event *)ev)->id);
}

const char *weir_event_type(const weir_event *ev)
{
    return attr_or_null(sdk_event_ce((weir_event *)ev)->type);
}

const char *weir_event_source(const weir_event *ev)
{
    return attr_or_null(sdk_event_ce((weir_event *)ev)->source);
}

const char *weir_event_time(const weir_event *ev)
{
    return attr_or_null(sdk_event_ce((weir_event *)ev)->time);
}

const char *weir_event_specversion(const weir_event *ev)
{
    return attr_or_null(sdk_event_ce((weir_event *)ev)->specversion);
}

const char *weir_event_content_type(const weir_event *ev)
{
    return attr_or_null(sdk_event_ce((weir_event *)ev)->content_type);
}

const char *weir_event_traceparent(const weir_event *ev)
{
    return attr_or_null(sdk_event_ce((weir_event *)ev)->traceparent);
}

int weir_event_header(const weir_event *ev, const char *name, const void **value, size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(ev->msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h)
        return -WEIR_ENOENT;
    const void *v;
    size_t n;
    if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -WEIR_ENOENT;
    if (value)
        *value = v;
    if (len)
        *len = n;
    return 0;
}

/* ---- ctx ------------------------------------------------------------------------------------ */

int weir_ctx_attempt(const weir_ctx *ctx)
{
    return ctx->attempt;
}

int weir_ctx_max_attempts(const weir_ctx *ctx)
{
    return ctx->route->opt.retry.max_attempts;
}

const char *sdk_ctx_span(weir_ctx *ctx)
{
    if (!ctx->traceparent[0]) {
        const sdk_ce_t *ce = sdk_event_ce(ctx->ev);
        sdk_trace_t child;
        sdk_trace_child(ce->has_trace ? &ce->trace : NULL, sdk_rng_thread(), &child);
        sdk_trace_format(&child, ctx->traceparent);
    }
    return ctx->traceparent;
}

const char *weir_ctx_traceparent(const weir_ctx *ctx)
{
    return sdk_ctx_span((weir_ctx *)ctx); /* made on first use; the cache is invisible */
}

const char *weir_ctx_group(const weir_ctx *ctx)
{
    return ctx->app->group ? ctx->app->group : ctx->app->projection;
}

weir_app *weir_ctx_app(weir_ctx *ctx)
{
    return ctx->app;
}

sqlite3 *weir_ctx_db(weir_ctx *ctx)
{
    return ctx->db ? ctx->db->db : NULL;
}

void weir_ctx_set_error(weir_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
    va_end(ap);
}

static void emit_deinit(sdk_emit_t *e)
{
    free(e->topic);
    buf_deinit(&e->key);
    buf_deinit(&e->value);
    if (e->headers)
        rd_kafka_headers_destroy(e->headers);
    memset(e, 0, sizeof(*e));
}

void sdk_ctx_reset(weir_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nemits; i++)
        emit_deinit(&ctx->emits[i]);
    ctx->nemits = 0;
    ctx->outboxed = 0;
    ctx->error[0] = '\0';
    ctx->traceparent[0] = '\0';
}

void sdk_ctx_deinit(weir_ctx *ctx)
{
    sdk_ctx_reset(ctx);
    free(ctx->emits);
    ctx->emits = NULL;
    ctx->emits_cap = 0;
}

void weir_message_init(weir_message *m)
{
    memset(m, 0, sizeof(*m));
    m->partition = -1;
}

int sdk_message_headers(weir_app *app, const weir_message *m, const char *traceparent,
                        rd_kafka_headers_t **out, char *err, size_t errlen)
{
    char id[37];
    if (!m->id)
        weir_uuid(id);
    char tp[SDK_TRACEPARENT_LEN + 1];
    if (!traceparent) {
        sdk_trace_t t;
        sdk_trace_child(NULL, sdk_rng_thread(), &t);
        sdk_trace_format(&t, tp);
        traceparent = tp;
        weir_message root = *m;
        root.id = m->id ? m->id : id;
        sdk_obs_new_trace(app, &root, &t); /* the trace's first span */
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    int r = sdk_ce_headers_add(h, m, m->id ? m->id : id, m->source ? m->source : app->source,
                               traceparent, clock_wall_ms());
    if (r) {
        snprintf(err, errlen,
                 "event for %s: type, id and source are required, at most %d bytes each; "
                 "traceparent must be valid; at most %d extra headers",
                 m->topic ? m->topic : "(no topic)", SDK_CE_ATTR_MAX, SDK_MSG_HEADERS_MAX);
        rd_kafka_headers_destroy(h);
        return r;
    }
    *out = h;
    return 0;
}

static ssize_t msg_len(const void *p, size_t n)
{
    if (!p)
        return -1;
    return (ssize_t)(n ? n : strlen(p));
}

static int message_check(const weir_message *m)
{
    if (!m || !m->topic || !m->topic[0] || strlen(m->topic) > 249 || !m->type)
        return -WEIR_EINVAL;
    if (m->partition < -1)
        return -WEIR_EINVAL;
    return 0;
}

int weir_emit_message(weir_ctx *ctx, const weir_message *m)
{
    if (!ctx || message_check(m) != 0)
        return -WEIR_EINVAL;
    rd_kafka_headers_t *h;
    char err[SDK_ERRMSG_MAX];
    int r = sdk_message_headers(ctx->app, m, m->traceparent ? m->traceparent : sdk_ctx_span(ctx),
                                &h, err, sizeof(err));
    if (r) {
        sdk_app_set_error(ctx->app, "weir_emit: %s", err);
        return r;
    }
    ssize_t klen = msg_len(m->key, m->key_len), vlen = msg_len(m->value, m->value_len);
    if (ctx->db) {
        buf_t blob;
        buf_init(&blob);
        sdk_hdrblob_encode(h, &blob);
        rd_kafka_headers_destroy(h);
        r = sdk_outbox_put(ctx->db, m->topic, m->partition, m->key, klen, m->value, vlen, &blob,
                           clock_wall_ms());
        buf_deinit(&blob);
        if (r) {
            sdk_app_set_error(ctx->app, "weir_emit: %s", ctx->db->err);
            return r;
        }
        ctx->outboxed++;
        return 0;
    }
    if (ctx->nemits >= SDK_EMITS_MAX) {
        rd_kafka_headers_destroy(h);
        sdk_app_set_error(ctx->app, "weir_emit: more than %d events from one handler call",
                          SDK_EMITS_MAX);
        return -WEIR_ETOOBIG;
    }
    if (ctx->nemits == ctx->emits_cap) {
        ctx->emits_cap = ctx->emits_cap ? ctx->emits_cap * 2 : 4;
        ctx->emits = weir_realloc(ctx->emits, ctx->emits_cap * sizeof(*ctx->emits));
    }
    sdk_emit_t *e = &ctx->emits[ctx->nemits++];
    memset(e, 0, sizeof(*e));
    e->topic = weir_strdup(m->topic);
    e->partition = m->partition;
    e->key_null = klen < 0;
    e->value_null = vlen < 0;
    if (klen > 0)
        buf_append(&e->key, m->key, (size_t)klen);
    if (vlen > 0)
        buf_append(&e->value, m->value, (size_t)vlen);
    e->headers = h;
    return 0;
}

int weir_emit(weir_ctx *ctx, const char *topic, const char *type, const char *key, const char *json)
{
    weir_message m;
    weir_message_init(&m);
    m.topic = topic;
    m.type = type;
    m.key = key;
    m.key_len = key ? strlen(key) : 0;
    m.value = json;
    m.value_len = json ? strlen(json) : 0;
    return weir_emit_message(ctx, &m);
}

int weir_outbox_add(weir_app *app, sqlite3 *db, const weir_message *m)
{
    if (!app || !db || message_check(m) != 0)
        return -WEIR_EINVAL;
    if (app->eos) {
        sdk_app_set_error(app, "weir_outbox_add: an exactly-once app has no outbox relay");
        return -WEIR_EUNSUPPORTED;
    }
    rd_kafka_headers_t *h;
    char err[SDK_ERRMSG_MAX];
    int r = sdk_message_headers(app, m, m->traceparent, &h, err, sizeof(err));
    if (r) {
        sdk_app_set_error(app, "weir_outbox_add: %s", err);
        return r;
    }
    buf_t blob;
    buf_init(&blob);
    sdk_hdrblob_encode(h, &blob);
    rd_kafka_headers_destroy(h);
    sdk_db_t d;
    sdk_db_wrap(&d, db);
    r = sdk_outbox_put(&d, m->topic, m->partition, m->key, msg_len(m->key, m->key_len), m->value,
                       msg_len(m->value, m->value_len), &blob, clock_wall_ms());
    buf_deinit(&blob);
    if (r)
        sdk_app_set_error(app, "weir_outbox_add: %s", d.err);
    sdk_db_close(&d);
    return r;
}
