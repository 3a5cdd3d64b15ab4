/*
 * saga_io: the orchestrator's side of Kafka. States go to the compacted state topic with the
 * idempotent producer at acks=all and each write is waited for, so a command never leaves before
 * the state that sent it is stored; commands and outcome events are handed to the same producer
 * without waiting (a crash before they leave is repaired by the resend at start). Reading the
 * state topic back takes every partition from its start to its end as it is now.
 */
#include "sdk/saga_internal.h"

#include <string.h>

typedef struct {
    bool done;
    rd_kafka_resp_err_t err;
} saga_wait_t;

static void saga_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    weir_saga *s = opaque;
    saga_wait_t *w = m->_private;
    if (!w) {
        if (m->err)
            sdk_app_log(s->app, WEIR_LOG_WARN, "saga %s: a command to %s was not sent: %s", s->name,
                        rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        return;
    }
    pthread_mutex_lock(&s->dr_lock);
    w->err = m->err;
    w->done = true;
    pthread_cond_broadcast(&s->dr_cond);
    pthread_mutex_unlock(&s->dr_lock);
}

int saga_io_open(weir_saga *s, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, saga_dr);
    char cid[300];
    snprintf(cid, sizeof(cid), "weir-saga-%s", s->name);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", s->app->bootstrap, err, errlen) ||
        rd_kafka_conf_set(conf, "client.id", cid, err, errlen) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        rd_kafka_conf_set(conf, "linger.ms", "1", err, errlen) ||
        /* a state write the broker does not take within this fails (and is tried again by
         * the timer), rather than holding the saga for librdkafka's default of 5 minutes */
        rd_kafka_conf_set(conf, "message.timeout.ms", "15000", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return -WEIR_EINVAL;
    }
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        return -WEIR_EIO;
    }
    return 0;
}

void saga_io_close(weir_saga *s)
{
    if (!s->rk)
        return;
    rd_kafka_flush(s->rk, SAGA_WAIT_MS);
    rd_kafka_destroy(s->rk);
    s->rk = NULL;
}

void *saga_poller_main(void *arg)
{
    weir_saga *s = arg;
    while (!atomic_load(&s->poll_stop))
        rd_kafka_poll(s->rk, 100);
    return NULL;
}

/* Creates topic (no error if it exists); compact: cleanup.policy=compact. */
static int create_topic(weir_saga *s, const char *topic, bool compact, char *err, size_t errlen)
{
    char why[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, s->partitions, -1, why, sizeof(why));
    if (!nt) {
        snprintf(err, errlen, "create topic %s: %s", topic, why);
        return -WEIR_EINVAL;
    }
    if (compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(s->rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(s->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, SAGA_WAIT_MS, why, sizeof(why));
    rd_kafka_CreateTopics(s->rk, &nt, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, SAGA_WAIT_MS + 1000);
    int r = 0;
    if (!ev || rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "create topic %s: %s", topic,
                 ev ? rd_kafka_event_error_string(ev) : "timed out");
        r = -WEIR_EIO;
    } else {
        size_t n;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(err, errlen, "create topic %s: %s", topic, rd_kafka_err2str(e));
                r = -WEIR_EIO;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return r;
}

int saga_io_create_topics(weir_saga *s, char *err, size_t errlen)
{
    int r = create_topic(s, s->state_topic, true, err, errlen);
    if (!r)
        r = create_topic(s, s->reply_topic, false, err, errlen);
    if (!r && s->outcome_topic)
        r = create_topic(s, s->outcome_topic, false, err, errlen);
    for (int i = 0; !r && i < s->nsteps; i++)
        r = create_topic(s, s->steps[i].topic, false, err, errlen);
    return r;
}

/* Waits for the delivery report of the record w was given to; its error, or 0. */
static rd_kafka_resp_err_t saga_wait(weir_saga *s, saga_wait_t *w)
{
    pthread_mutex_lock(&s->dr_lock);
    while (!w->done)
        pthread_cond_wait(&s->dr_cond, &s->dr_lock); /* the producer's timeout ends every wait */
    pthread_mutex_unlock(&s->dr_lock);
    return w->err;
}

int saga_io_persist(weir_saga *s, const saga_rec_t *rec)
{
    json_t *j = saga_rec_json(s, rec);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        return -WEIR_ENOMEM;
    saga_wait_t w = {false, 0};
    rd_kafka_resp_err_t e = rd_kafka_producev(
        s->rk, RD_KAFKA_V_TOPIC(s->state_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_KEY(rec->id, strlen(rec->id)), RD_KAFKA_V_VALUE(text, strlen(text)),
        RD_KAFKA_V_OPAQUE(&w), RD_KAFKA_V_END);
    if (e) {
        free(text);
        sdk_app_log(s->app, WEIR_LOG_WARN, "saga %s %s: state not stored: %s", s->name, rec->id,
                    rd_kafka_err2str(e));
        return -WEIR_EIO;
    }
    if (saga_wait(s, &w)) {
        sdk_app_log(s->app, WEIR_LOG_WARN, "saga %s %s: state not stored: %s", s->name, rec->id,
                    rd_kafka_err2str(w.err));
        return -WEIR_EIO;
    }
    return 0;
}

int saga_io_tombstone(weir_saga *s, const char *id)
{
    saga_wait_t w = {false, 0};
    rd_kafka_resp_err_t e =
        rd_kafka_producev(s->rk, RD_KAFKA_V_TOPIC(s->state_topic), RD_KAFKA_V_KEY(id, strlen(id)),
                          RD_KAFKA_V_VALUE(NULL, 0), RD_KAFKA_V_OPAQUE(&w), RD_KAFKA_V_END);
    if (e || saga_wait(s, &w)) {
        sdk_app_log(s->app, WEIR_LOG_WARN, "saga %s %s: tombstone not stored: %s", s->name, id,
                    rd_kafka_err2str(e ? e : w.err));
        return -WEIR_EIO;
    }
    return 0;
}

/* Produces one CloudEvent keyed by saga id; w NULL: without waiting, else w hears of its
 * delivery. */
static int saga_produce(weir_saga *s, const char *topic, const char *type, const char *ce_id,
                        const char *key, const char *value, const char *const *headers,
                        saga_wait_t *w)
{
    weir_message m;
    weir_message_init(&m);
    m.topic = topic;
    m.type = type;
    m.headers = headers;
    rd_kafka_headers_t *h = rd_kafka_headers_new(16);
    int r = sdk_ce_headers_add(h, &m, ce_id, s->source, NULL, clock_wall_ms());
    if (r) {
        rd_kafka_headers_destroy(h);
        return r;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        s->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, strlen(value)),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        sdk_app_log(s->app, WEIR_LOG_WARN, "saga %s %s: %s not sent: %s", s->name, key, type,
                    rd_kafka_err2str(e));
        return -WEIR_EIO;
    }
    return 0;
}

int saga_io_send_command(weir_saga *s, const saga_rec_t *rec)
{
    const weir_saga_step *st = &s->steps[rec->step];
    bool comp = rec->status == SAGA_COMPENSATING;
    const char *phase = comp ? "compensation" : "action";
    char ce_id[SDK_CE_ATTR_MAX + 1], step[16], attempt[16];
    snprintf(ce_id, sizeof(ce_id), "%s/%s/%s/%s/%d", s->name, rec->id, st->name, phase,
             rec->attempt);
    snprintf(step, sizeof(step), "%d", rec->step);
    snprintf(attempt, sizeof(attempt), "%d", rec->attempt);
    const char *const headers[] = {"weir.saga.id",
                                   rec->id,
                                   "weir.saga.name",
                                   s->name,
                                   "weir.saga.step",
                                   step,
                                   "weir.saga.phase",
                                   phase,
                                   "weir.saga.attempt",
                                   attempt,
                                   "weir.saga.reply_to",
                                   s->reply_topic,
                                   NULL};
    char *value = json_dumps(rec->data, JSON_COMPACT);
    if (!value)
        return -WEIR_ENOMEM;
    int r = saga_produce(s, st->topic, comp ? st->compensation : st->action, ce_id, rec->id, value,
                         headers, NULL);
    free(value);
    return r;
}

int saga_io_send_outcome(weir_saga *s, const saga_rec_t *rec)
{
    if (!s->outcome_topic)
        return 0;
    json_t *v = json_deep_copy(rec->data);
    json_object_set_new(v, "saga_status", json_string(saga_status_name(rec->status)));
    if (rec->status == SAGA_COMPENSATED)
        json_object_set_new(v, "reason", json_string(rec->reason ? rec->reason : "failed"));
    char *value = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (!value)
        return -WEIR_ENOMEM;
    char ce_id[SDK_CE_ATTR_MAX + 1];
    snprintf(ce_id, sizeof(ce_id), "%s/%s/%s", s->name, rec->id, saga_status_name(rec->status));
    const char *const headers[] = {"weir.saga.id", rec->id, "weir.saga.name", s->name, NULL};
    /* Waited for: only a delivered outcome may be stored as sent. */
    saga_wait_t w = {false, 0};
    int r = saga_produce(s, s->outcome_topic,
                         rec->status == SAGA_COMPLETED ? s->completed_type : s->compensated_type,
                         ce_id, rec->id, value, headers, &w);
    free(value);
    if (!r && saga_wait(s, &w)) {
        sdk_app_log(s->app, WEIR_LOG_WARN, "saga %s %s: outcome not sent: %s", s->name, rec->id,
                    rd_kafka_err2str(w.err));
        r = -WEIR_EIO;
    }
    return r;
}

typedef struct {
    saga_io_record_fn fn;
    void *arg;
} saga_read_t;

static void saga_record(const rd_kafka_message_t *m, void *arg)
{
    saga_read_t *r = arg;
    char key[SAGA_ID_MAX + 1];
    if (!m->key || m->key_len == 0 || m->key_len > SAGA_ID_MAX)
        return; /* not a saga's: ids are 1..SAGA_ID_MAX bytes */
    memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    r->fn(key, m->payload, m->payload ? m->len : 0, r->arg);
}

int saga_io_read_all(const char *brokers, const char *topic, saga_io_record_fn fn, void *arg,
                     char *err, size_t errlen)
{
    saga_read_t r = {fn, arg};
    return sdk_topic_read(brokers, topic, saga_record, &r, err, errlen);
}
