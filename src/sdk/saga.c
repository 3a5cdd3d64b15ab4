/*
 * saga: the orchestrator's state machine. A saga runs its steps' actions in order; a failed
 * step (an answer FAILED, or no success within its attempts) turns it to COMPENSATING, which runs
 * the compensations of the steps before it (and of the failed one when it may have acted: a
 * timeout) from the last to the first. Invariant: every change is stored in the state topic
 * before anything it leads to is sent, so after a crash the stored state says what to send
 * again, and a copy of a command or a reply can never move a saga twice (replies are taken only
 * for the step and phase the saga is at).
 */
#include "sdk/saga_internal.h"

#include <string.h>

static const char *const status_names[] = {"RUNNING", "COMPENSATING", "COMPLETED", "COMPENSATED"};

const char *saga_status_name(saga_status_t st)
{
    return status_names[st];
}

int saga_status_parse(const char *name, saga_status_t *out)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, status_names[i]) == 0) {
            *out = (saga_status_t)i;
            return 0;
        }
    return -WEIR_ECORRUPT;
}

static bool saga_active(const saga_rec_t *rec)
{
    return rec->status == SAGA_RUNNING || rec->status == SAGA_COMPENSATING;
}

/* ---- records and their JSON ------------------------------------------------------------------ */

json_t *saga_rec_json(const weir_saga *s, const saga_rec_t *rec)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:b, s:b, s:I, s:s?, s:O, s:O}", "saga",
                     s->name, "id", rec->id, "status", saga_status_name(rec->status), "step",
                     rec->step, "step_name", s->steps[rec->step].name, "phase",
                     rec->status == SAGA_COMPENSATING ? "compensation" : "action", "attempt",
                     rec->attempt, "waiting", rec->waiting, "notified", rec->notified, "due_ms",
                     (json_int_t)rec->due_ms, "reason", rec->reason, "data", rec->data, "history",
                     rec->history);
}

int saga_rec_load(const weir_saga *s, saga_rec_t *rec, json_t *j)
{
    const char *status = NULL;
    json_t *reason = NULL;
    int step = -1, attempt = 0, waiting = 0, notified = 0;
    json_int_t due = 0;
    json_t *data = NULL, *history = NULL;
    if (json_unpack(j, "{s:s, s:i, s:i, s:b, s:b, s:I, s?o, s:o, s:o}", "status", &status, "step",
                    &step, "attempt", &attempt, "waiting", &waiting, "notified", &notified,
                    "due_ms", &due, "reason", &reason, "data", &data, "history", &history) != 0 ||
        step < 0 || step >= s->nsteps || attempt < 1 || !json_is_object(data) ||
        !json_is_array(history) || (reason && !json_is_null(reason) && !json_is_string(reason)) ||
        saga_status_parse(status, &rec->status) != 0)
        return -WEIR_ECORRUPT;
    rec->step = step;
    rec->attempt = attempt;
    rec->waiting = waiting;
    rec->notified = notified;
    rec->due_ms = due;
    free(rec->reason);
    rec->reason = json_is_string(reason) ? strdup(json_string_value(reason)) : NULL;
    json_decref(rec->data);
    json_decref(rec->history);
    rec->data = json_incref(data);
    rec->history = json_incref(history);
    return 0;
}

/* A copy that later changes of the record leave alone (to restore it when a write fails). */
static json_t *saga_snapshot(const weir_saga *s, const saga_rec_t *rec)
{
    json_t *j = saga_rec_json(s, rec);
    json_t *copy = json_deep_copy(j);
    json_decref(j);
    return copy;
}

static void saga_rec_free(saga_rec_t *rec)
{
    free(rec->id);
    free(rec->reason);
    json_decref(rec->data);
    json_decref(rec->history);
    free(rec);
}

static void saga_history(weir_saga *s, saga_rec_t *rec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void saga_history(weir_saga *s, saga_rec_t *rec, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_array_append_new(rec->history,
                          json_pack("{s:I, s:s, s:s}", "t_ms", (json_int_t)clock_wall_ms(), "step",
                                    s->steps[rec->step].name, "event", text));
    while ((int)json_array_size(rec->history) > s->history_max)
        json_array_remove(rec->history, 0);
}

/* ---- the table ---------------------------------------------------------------------------- */

static size_t saga_hash(const char *id)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (uint8_t)*id) * 1099511628211ull;
    return (size_t)(h % SAGA_BUCKETS);
}

/* Under s->lock. */
static saga_rec_t **saga_slot(weir_saga *s, const char *id)
{
    saga_rec_t **pp = &s->buckets[saga_hash(id)];
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

void saga_table_put(weir_saga *s, const char *id, json_t *j)
{
    pthread_mutex_lock(&s->lock);
    saga_rec_t **pp = saga_slot(s, id);
    saga_rec_t *rec = *pp;
    if (!j) {
        if (rec) {
            *pp = rec->next;
            saga_rec_free(rec);
            s->nrecs--;
        }
    } else {
        bool fresh = !rec;
        if (fresh) {
            rec = calloc(1, sizeof(*rec));
            rec->id = strdup(id);
        }
        if (saga_rec_load(s, rec, j) != 0) {
            sdk_app_log(s->app, WEIR_LOG_WARN, "saga %s %s: a stored state is damaged; skipped",
                        s->name, id);
            if (fresh)
                saga_rec_free(rec);
        } else {
            rec->resume = saga_active(rec) || !rec->notified;
            if (fresh) {
                rec->next = s->buckets[saga_hash(id)];
                s->buckets[saga_hash(id)] = rec;
                s->nrecs++;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* Takes the record's busy flag (waiting for another thread to drop it); NULL if unknown. */
static saga_rec_t *saga_acquire(weir_saga *s, const char *id)
{
    pthread_mutex_lock(&s->lock);
    saga_rec_t *rec;
    while ((rec = *saga_slot(s, id)) && rec->busy)
        pthread_cond_wait(&s->cond, &s->lock);
    if (rec)
        rec->busy = true;
    pthread_mutex_unlock(&s->lock);
    return rec;
}

static void saga_release(weir_saga *s, saga_rec_t *rec)
{
    pthread_mutex_lock(&s->lock);
    rec->busy = false;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* ---- transitions ---------------------------------------------------------------------------- */

static const weir_retry_policy *saga_policy(const weir_saga *s, int step)
{
    return &s->steps[step].retry;
}

static void saga_send_attempt(weir_saga *s, saga_rec_t *rec)
{
    rec->waiting = false;
    rec->due_ms = clock_wall_ms() + s->steps[rec->step].timeout_ms;
    saga_history(s, rec, "%s sent (attempt %d)",
                 rec->status == SAGA_COMPENSATING ? s->steps[rec->step].compensation
                                                  : s->steps[rec->step].action,
                 rec->attempt);
}

/* Compensates from step `from` down: the highest step at or below it that has a compensation. */
static void saga_compensate_from(weir_saga *s, saga_rec_t *rec, int from)
{
    int k = from;
    while (k >= 0 && !s->steps[k].compensation)
        k--;
    if (k < 0) {
        rec->status = SAGA_COMPENSATED;
        rec->due_ms = 0;
        rec->waiting = false;
        saga_history(s, rec, "saga compensated");
        return;
    }
    rec->status = SAGA_COMPENSATING;
    rec->step = k;
    rec->attempt = 1;
    saga_send_attempt(s, rec);
}

static void saga_fail(weir_saga *s, saga_rec_t *rec, const char *reason, bool may_have_acted)
{
    if (!rec->reason)
        rec->reason = strdup(reason);
    saga_history(s, rec, "failed: %s", reason);
    saga_compensate_from(s, rec, may_have_acted ? rec->step : rec->step - 1);
}

/* The current attempt did not succeed (RETRY answer or timeout): back off, or give up. */
static void saga_next_attempt(weir_saga *s, saga_rec_t *rec, const char *why)
{
    const weir_retry_policy *p = saga_policy(s, rec->step);
    bool comp = rec->status == SAGA_COMPENSATING;
    if (!comp && rec->attempt >= p->max_attempts) {
        char reason[300];
        snprintf(reason, sizeof(reason), "%s: %s after %d attempts", s->steps[rec->step].name, why,
                 rec->attempt);
        saga_fail(s, rec, reason, true);
        return;
    }
    int64_t d = sdk_backoff_ms(p, rec->attempt, sdk_rng_thread());
    if (comp && d > SAGA_COMP_BACKOFF)
        d = SAGA_COMP_BACKOFF;
    rec->waiting = true;
    rec->due_ms = clock_wall_ms() + d;
    saga_history(s, rec, "%s; next attempt in %lld ms", why, (long long)d);
}

static void saga_on_success(weir_saga *s, saga_rec_t *rec, json_t *body)
{
    const weir_saga_step *st = &s->steps[rec->step];
    if (rec->status == SAGA_COMPENSATING) {
        saga_history(s, rec, "%s done", st->compensation);
        saga_compensate_from(s, rec, rec->step - 1);
        return;
    }
    saga_history(s, rec, "%s done", st->action);
    if (body && json_object_size(body) > 0)
        json_object_set(rec->data, st->name, body);
    if (rec->step + 1 < s->nsteps) {
        rec->step++;
        rec->attempt = 1;
        saga_send_attempt(s, rec);
        return;
    }
    rec->status = SAGA_COMPLETED;
    rec->due_ms = 0;
    rec->waiting = false;
    saga_history(s, rec, "saga completed");
}

static void saga_notify(weir_saga *s, const saga_rec_t *rec, bool sent)
{
    if (s->on_change)
        s->on_change(rec->id, saga_status_name(rec->status), rec->step, sent, s->on_change_user);
}

/* Sends what a stored state leads to: the current command, or the outcome event of an ended
 * saga (then stores that it was sent). */
static void saga_send(weir_saga *s, saga_rec_t *rec)
{
    if (saga_active(rec) && !rec->waiting)
        saga_io_send_command(s, rec); /* lost: the timeout sends it again */
    if (!saga_active(rec) && !rec->notified && saga_io_send_outcome(s, rec) == 0) {
        rec->notified = true;
        if (saga_io_persist(s, rec) != 0)
            rec->resume = true; /* not stored: send it again (same ce_id) later */
    }
}

/* Stores the changed record (restoring `before` when that fails), then sends what it leads to.
 * on_change hears of both. */
static int saga_commit(weir_saga *s, saga_rec_t *rec, json_t *before)
{
    int r = saga_io_persist(s, rec);
    if (r) {
        saga_rec_load(s, rec, before);
        return r;
    }
    saga_notify(s, rec, false);
    saga_send(s, rec);
    saga_notify(s, rec, true);
    return 0;
}

/* ---- replies --------------------------------------------------------------------------------- */

static bool header_str(const weir_event *ev, const char *name, char *out, size_t cap)
{
    const void *v;
    size_t n;
    if (weir_event_header(ev, name, &v, &n) != 0 || !v || n == 0 || n >= cap || memchr(v, 0, n))
        return false;
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

static bool header_int(const weir_event *ev, const char *name, int *out)
{
    char buf[16], *end;
    if (!header_str(ev, name, buf, sizeof(buf)))
        return false;
    long v = strtol(buf, &end, 10);
    if (*end || v < 0 || v > 1000000)
        return false;
    *out = (int)v;
    return true;
}

int weir_saga_command_read(const weir_event *ev, weir_saga_command *out)
{
    static __thread char id[SAGA_ID_MAX + 1], name[SDK_CE_ATTR_MAX + 1];
    char phase[16];
    if (!ev || !out || !header_str(ev, "weir.saga.id", id, sizeof(id)) ||
        !header_str(ev, "weir.saga.name", name, sizeof(name)) ||
        !header_str(ev, "weir.saga.phase", phase, sizeof(phase)) ||
        !header_int(ev, "weir.saga.step", &out->step) ||
        !header_int(ev, "weir.saga.attempt", &out->attempt) ||
        (strcmp(phase, "action") != 0 && strcmp(phase, "compensation") != 0))
        return -WEIR_EINVAL;
    out->saga_id = id;
    out->saga_name = name;
    out->compensation = strcmp(phase, "compensation") == 0;
    return 0;
}

static const char *const outcome_names[] = {"ok", "failed", "retry"};

static int outcome_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, outcome_names[i]) == 0)
            return i;
    return -1;
}

/* Applies an answer to the saga's current step; one for another step or phase (a copy, a late
 * answer of an earlier attempt after the saga moved on) changes nothing. */
static weir_result saga_apply_reply(weir_saga *s, saga_rec_t *rec, const weir_saga_command *c,
                                    int outcome, json_t *body)
{
    if (!saga_active(rec) || c->step != rec->step ||
        c->compensation != (rec->status == SAGA_COMPENSATING))
        return WEIR_RESULT_OK;
    json_t *before = saga_snapshot(s, rec);
    const char *reason =
        json_is_object(body) ? json_string_value(json_object_get(body, "reason")) : NULL;
    char why[300];
    if (outcome == WEIR_SAGA_OK) {
        saga_on_success(s, rec, json_is_object(body) ? body : NULL);
    } else if (outcome == WEIR_SAGA_FAILED && !c->compensation) {
        snprintf(why, sizeof(why), "%s: %s", s->steps[rec->step].name, reason ? reason : "failed");
        saga_fail(s, rec, why, false);
    } else {
        if (rec->waiting) { /* already backing off after a timeout */
            json_decref(before);
            return WEIR_RESULT_OK;
        }
        snprintf(why, sizeof(why), "%s answered %s%s%s", s->steps[rec->step].name,
                 outcome_names[outcome], reason ? ": " : "", reason ? reason : "");
        saga_next_attempt(s, rec, why);
    }
    int r = saga_commit(s, rec, before);
    json_decref(before);
    return r ? WEIR_RESULT_RETRY : WEIR_RESULT_OK;
}

static weir_result saga_on_reply(weir_ctx *ctx, const weir_event *ev, void *user)
{
    weir_saga *s = user;
    weir_saga_command c;
    char outcome_s[16];
    int outcome;
    if (weir_saga_command_read(ev, &c) != 0 || strcmp(c.saga_name, s->name) != 0 ||
        c.step >= s->nsteps || !header_str(ev, "weir.saga.outcome", outcome_s, sizeof(outcome_s)) ||
        (outcome = outcome_parse(outcome_s)) < 0) {
        weir_ctx_set_error(ctx, "not a reply of saga %s (weir.saga.* headers)", s->name);
        return WEIR_RESULT_FAIL;
    }
    size_t n;
    const char *v = weir_event_value(ev, &n);
    json_t *body = v ? json_loadb(v, n, 0, NULL) : NULL;
    saga_rec_t *rec = saga_acquire(s, c.saga_id);
    weir_result res = WEIR_RESULT_OK;
    if (rec) {
        res = saga_apply_reply(s, rec, &c, outcome, body);
        saga_release(s, rec);
    } else {
        sdk_app_log(s->app, WEIR_LOG_INFO, "saga %s: a reply for unknown saga %s", s->name,
                    c.saga_id);
    }
    json_decref(body);
    return res;
}

/* ---- the timer: timeouts, backoffs, resends after a restart ------------------------------ */

static void saga_due(weir_saga *s, saga_rec_t *rec, int64_t now)
{
    json_t *before = saga_snapshot(s, rec);
    if (rec->resume) {
        /* Read back at start: the stored state is unchanged (no on_change); what it leads to
         * is sent again with the same ce_ids (the command, or the outcome not marked sent). */
        rec->resume = false;
        if (saga_active(rec) && !rec->waiting)
            rec->due_ms = now + s->steps[rec->step].timeout_ms;
        saga_send(s, rec);
    } else if (rec->waiting) {
        rec->attempt++;
        saga_send_attempt(s, rec);
        saga_commit(s, rec, before);
    } else {
        saga_next_attempt(s, rec, "timed out");
        saga_commit(s, rec, before);
    }
    json_decref(before);
}

#define SAGA_DUE_BATCH 256

/* When an ended saga ended: the time of its last history entry. */
static int64_t saga_ended_ms(const saga_rec_t *rec)
{
    json_t *last = json_array_get(rec->history, json_array_size(rec->history) - 1);
    return (int64_t)json_integer_value(json_object_get(last, "t_ms"));
}

/* Forgets ended sagas past ended_retention_ms: a tombstone in the state topic (compaction then
 * removes the saga there), then out of the table. */
static void saga_expire(weir_saga *s, int64_t now)
{
    saga_rec_t *old[SAGA_DUE_BATCH];
    int n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t b = 0; b < SAGA_BUCKETS && n < SAGA_DUE_BATCH; b++)
        for (saga_rec_t *rec = s->buckets[b]; rec && n < SAGA_DUE_BATCH; rec = rec->next)
            if (!rec->busy && !rec->resume && !saga_active(rec) && rec->notified &&
                saga_ended_ms(rec) + s->ended_retention_ms <= now) {
                rec->busy = true;
                old[n++] = rec;
            }
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < n; i++) {
        if (saga_io_tombstone(s, old[i]->id) != 0) {
            saga_release(s, old[i]);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        saga_rec_t **pp = saga_slot(s, old[i]->id);
        *pp = old[i]->next;
        s->nrecs--;
        pthread_cond_broadcast(&s->cond); /* a waiter for it looks again and finds none */
        pthread_mutex_unlock(&s->lock);
        saga_rec_free(old[i]);
    }
}

static void *saga_timer_main(void *arg)
{
    weir_saga *s = arg;
    int64_t expired_ms = 0;
    while (!atomic_load(&s->stop)) {
        int64_t now = clock_wall_ms();
        if (now - expired_ms >= 200) {
            saga_expire(s, now);
            expired_ms = now;
        }
        saga_rec_t *due[SAGA_DUE_BATCH];
        int n = 0;
        pthread_mutex_lock(&s->lock);
        for (size_t b = 0; b < SAGA_BUCKETS && n < SAGA_DUE_BATCH; b++)
            for (saga_rec_t *rec = s->buckets[b]; rec && n < SAGA_DUE_BATCH; rec = rec->next)
                if (!rec->busy &&
                    (rec->resume || (saga_active(rec) && rec->due_ms && rec->due_ms <= now))) {
                    rec->busy = true;
                    due[n++] = rec;
                }
        pthread_mutex_unlock(&s->lock);
        for (int i = 0; i < n; i++) {
            saga_due(s, due[i], now);
            saga_release(s, due[i]);
        }
        if (n < SAGA_DUE_BATCH) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* ---- the public calls ----------------------------------------------------------------------- */

void weir_saga_config_init(weir_saga_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->completed_type = "SagaCompleted";
    cfg->compensated_type = "SagaCompensated";
    cfg->partitions = 1;
    cfg->history_max = 64;
    cfg->ended_retention_ms = 7LL * 24 * 3600 * 1000;
    cfg->sagas_max = 1000000;
}

/* v, or "<prefix><name><suffix>" */
static char *dup_or(const char *v, const char *prefix, const char *name, const char *suffix)
{
    if (v)
        return strdup(v);
    char buf[300];
    snprintf(buf, sizeof(buf), "%s%s%s", prefix, name, suffix);
    return strdup(buf);
}

static const char *saga_config_check(const weir_saga_config *c)
{
    if (!c->name || !c->name[0] || strlen(c->name) > 100)
        return "a saga needs a name (1..100 bytes)";
    if (!c->steps || c->nsteps < 1 || c->nsteps > SAGA_STEPS_MAX)
        return "a saga needs 1..32 steps";
    if (c->partitions < 1 || c->history_max < 1 || c->ended_retention_ms < 1 || c->sagas_max < 1)
        return "partitions, history_max, ended_retention_ms and sagas_max must be positive";
    for (int i = 0; i < c->nsteps; i++) {
        const weir_saga_step *st = &c->steps[i];
        if (!st->name || !st->name[0] || !st->topic || !st->topic[0] || !st->action ||
            !st->action[0] || st->timeout_ms < 0)
            return "each step needs a name, a topic and an action (and timeout_ms >= 0)";
        if (st->retry.max_attempts != 0 && sdk_retry_policy_check(&st->retry) != 0)
            return "a step's retry policy is out of range";
        for (int k = 0; k < i; k++)
            if (strcmp(c->steps[k].name, st->name) == 0)
                return "two steps have the same name";
    }
    return NULL;
}

static void saga_copy_config(weir_saga *s, const weir_saga_config *cfg)
{
    s->name = strdup(cfg->name);
    s->state_topic = dup_or(cfg->state_topic, "", cfg->name, ".sagas");
    s->reply_topic = dup_or(cfg->reply_topic, "", cfg->name, ".replies");
    s->outcome_topic = cfg->outcome_topic ? strdup(cfg->outcome_topic) : NULL;
    s->completed_type = strdup(cfg->completed_type ? cfg->completed_type : "SagaCompleted");
    s->compensated_type = strdup(cfg->compensated_type ? cfg->compensated_type : "SagaCompensated");
    s->source = dup_or(NULL, "/weir/saga/", cfg->name, "");
    s->nsteps = cfg->nsteps;
    s->partitions = cfg->partitions;
    s->history_max = cfg->history_max;
    s->ended_retention_ms = cfg->ended_retention_ms;
    s->sagas_max = cfg->sagas_max;
    s->on_change = cfg->on_change;
    s->on_change_user = cfg->on_change_user;
    for (int i = 0; i < cfg->nsteps; i++) {
        weir_saga_step *st = &s->steps[i];
        *st = cfg->steps[i];
        st->name = strdup(st->name);
        st->topic = strdup(st->topic);
        st->action = strdup(st->action);
        st->compensation = st->compensation ? strdup(st->compensation) : NULL;
        if (st->timeout_ms == 0)
            st->timeout_ms = SAGA_TIMEOUT_MS;
        if (st->retry.max_attempts == 0)
            weir_retry_policy_init(&st->retry);
    }
}

static void saga_load_record(const char *key, const char *value, size_t len, void *arg)
{
    weir_saga *s = arg;
    json_t *j = value ? json_loadb(value, len, 0, NULL) : NULL;
    if (value && !j)
        sdk_app_log(s->app, WEIR_LOG_WARN, "saga %s %s: a stored state is not JSON; skipped",
                    s->name, key);
    else
        saga_table_put(s, key, j);
    json_decref(j);
}

int weir_saga_new(weir_app *app, const weir_saga_config *cfg, weir_saga **out, char *errbuf,
                  size_t errlen)
{
    *out = NULL;
    const char *why = app && cfg ? saga_config_check(cfg) : "no app or config";
    if (why) {
        snprintf(errbuf, errlen, "%s", why);
        return -WEIR_EINVAL;
    }
    weir_saga *s = calloc(1, sizeof(*s));
    s->app = app;
    saga_copy_config(s, cfg);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_mutex_init(&s->dr_lock, NULL);
    pthread_cond_init(&s->dr_cond, NULL);
    weir_route_options opt;
    weir_route_options_init(&opt);
    opt.dedup = false; /* a copy of a reply changes nothing anyway */
    int r = saga_io_open(s, errbuf, errlen);
    if (!r && pthread_create(&s->poller, NULL, saga_poller_main, s) != 0)
        r = -WEIR_ENOMEM;
    s->threads_started = r == 0;
    if (!r)
        r = saga_io_create_topics(s, errbuf, errlen);
    if (!r)
        r = saga_io_read_all(app->bootstrap, s->state_topic, saga_load_record, s, errbuf, errlen);
    if (!r && weir_app_route(app, s->reply_topic, "SagaReply", saga_on_reply, s, &opt) != 0) {
        snprintf(errbuf, errlen, "cannot route %s: %s", s->reply_topic, weir_app_errmsg(app));
        r = -WEIR_EINVAL;
    }
    if (!r && pthread_create(&s->timer, NULL, saga_timer_main, s) != 0)
        r = -WEIR_ENOMEM;
    s->timer_started = r == 0;
    if (r) {
        weir_saga_free(s);
        return r;
    }
    *out = s;
    return 0;
}

void weir_saga_free(weir_saga *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    if (s->timer_started)
        pthread_join(s->timer, NULL); /* the poller still reports the writes it waits for */
    atomic_store(&s->poll_stop, true);
    if (s->threads_started)
        pthread_join(s->poller, NULL);
    saga_io_close(s);
    for (size_t b = 0; b < SAGA_BUCKETS; b++)
        for (saga_rec_t *rec = s->buckets[b], *next; rec; rec = next) {
            next = rec->next;
            saga_rec_free(rec);
        }
    for (int i = 0; i < s->nsteps; i++) {
        free((char *)s->steps[i].name);
        free((char *)s->steps[i].topic);
        free((char *)s->steps[i].action);
        free((char *)s->steps[i].compensation);
    }
    free(s->name);
    free(s->state_topic);
    free(s->reply_topic);
    free(s->outcome_topic);
    free(s->completed_type);
    free(s->compensated_type);
    free(s->source);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->dr_lock);
    pthread_cond_destroy(&s->dr_cond);
    free(s);
}

static bool saga_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= SAGA_ID_MAX && !strchr(id, '/');
}

/* Inserts a new busy record for id; NULL and *err if the id is known or at the bound. */
static saga_rec_t *saga_insert(weir_saga *s, const char *id, json_t *data, int *err)
{
    pthread_mutex_lock(&s->lock);
    saga_rec_t **pp = saga_slot(s, id);
    saga_rec_t *rec = NULL;
    *err = *pp ? -WEIR_EEXIST : -WEIR_ENOMEM;
    if (!*pp && s->nrecs < s->sagas_max) {
        s->nrecs++;
        rec = calloc(1, sizeof(*rec));
        rec->id = strdup(id);
        rec->busy = true;
        rec->data = json_incref(data);
        rec->history = json_array();
        *pp = rec;
    }
    pthread_mutex_unlock(&s->lock);
    return rec;
}

int weir_saga_start(weir_saga *s, const char *id, const char *data_json)
{
    if (!s || !saga_id_ok(id) || !data_json)
        return -WEIR_EINVAL;
    json_t *data = json_loads(data_json, 0, NULL);
    if (!json_is_object(data)) {
        json_decref(data);
        return -WEIR_EINVAL;
    }
    int err;
    saga_rec_t *rec = saga_insert(s, id, data, &err);
    json_decref(data);
    if (!rec)
        return err;
    rec->status = SAGA_RUNNING;
    rec->attempt = 1;
    saga_history(s, rec, "saga started");
    saga_send_attempt(s, rec);
    json_t *before = saga_snapshot(s, rec);
    int r = saga_commit(s, rec, before);
    json_decref(before);
    if (r) { /* not stored: forget it, so that a later start can try again */
        pthread_mutex_lock(&s->lock);
        saga_rec_t **pp = saga_slot(s, id);
        *pp = rec->next;
        s->nrecs--;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        saga_rec_free(rec);
        return r;
    }
    saga_release(s, rec);
    return 0;
}

int weir_saga_get(weir_saga *s, const char *id, char **json)
{
    if (!s || !id || !json)
        return -WEIR_EINVAL;
    saga_rec_t *rec = saga_acquire(s, id);
    if (!rec)
        return -WEIR_ENOENT;
    json_t *j = saga_rec_json(s, rec);
    saga_release(s, rec);
    *json = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return *json ? 0 : -WEIR_ENOMEM;
}

void weir_saga_counts(weir_saga *s, uint64_t *running, uint64_t *completed, uint64_t *compensated)
{
    uint64_t n[4] = {0, 0, 0, 0};
    pthread_mutex_lock(&s->lock);
    for (size_t b = 0; b < SAGA_BUCKETS; b++)
        for (saga_rec_t *rec = s->buckets[b]; rec; rec = rec->next)
            n[rec->busy ? SAGA_RUNNING : rec->status]++; /* being changed: still running */
    pthread_mutex_unlock(&s->lock);
    if (running)
        *running = n[SAGA_RUNNING] + n[SAGA_COMPENSATING];
    if (completed)
        *completed = n[SAGA_COMPLETED];
    if (compensated)
        *compensated = n[SAGA_COMPENSATED];
}
