/*
 * Tasks: one sub-topology on one partition number. Each input partition has its own librdkafka
 * queue (fetched ahead within librdkafka's bounds); the task takes a batch from it into a ring
 * when the ring is empty, and processes records one at a time: with
 * one input in offset order, with several (a join) by smallest event time, waiting for an input
 * that has nothing buffered only while the broker has more of it (or up to max_task_idle_ms),
 * so a rerun sees the same order.
 *
 * Restoring: a new task first brings each of its store parts up to date from the changelog,
 * starting at the local checkpoint (or the beginning) and ending at the high watermark seen when
 * it began, leaving out records whose input offset the group never committed (weir.src). Only
 * then does it process records.
 */
#include "sdk/streams_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define ST_RING_MIN 256

st_task_t *st_task_new(weir_streams *s, st_sub_t *sub, int32_t partition)
{
    st_task_t *t = weir_calloc(1, sizeof(*t));
    t->sub = sub;
    t->partition = partition;
    t->state = ST_TASK_RESTORING;
    t->blocked_since_ms = -1;
    for (size_t k = 0; k < sub->ninputs; k++) {
        st_input_t *in = &t->in[k];
        in->topic = sub->inputs[k]->topic;
        in->partition = partition;
        in->head_ts = ST_TIME_NONE;
        in->position = -1;
        in->fetch_next = -1;
    }
    t->parts = weir_calloc(sub->nstores ? sub->nstores : 1, sizeof(*t->parts));
    for (size_t i = 0; i < sub->nstores; i++) {
        st_part_t *sp = &t->parts[i];
        sp->store = sub->stores[i];
        sp->task = t;
        sp->stream_time = sp->stream_time_saved = ST_TIME_NONE;
        sp->next_close = INT64_MAX;
        sp->src_offset = -1;
    }
    return t;
}

void st_task_free(weir_streams *s, st_task_t *t)
{
    for (size_t k = 0; k < t->sub->ninputs; k++) {
        st_input_t *in = &t->in[k];
        for (size_t i = 0; i < in->len; i++)
            rd_kafka_message_destroy(in->ring[(in->head + i) % in->cap]);
        free(in->ring);
        if (in->rkqu) {
            rd_kafka_queue_io_event_enable(in->rkqu, -1, NULL, 0);
            rd_kafka_queue_destroy(in->rkqu);
        }
    }
    free(t->parts);
    free(t);
}

st_task_t *st_task_find(weir_streams *s, const char *topic, int32_t partition, int *input)
{
    for (size_t i = 0; i < s->ntasks; i++) {
        st_task_t *t = s->tasks[i];
        if (t->partition != partition)
            continue;
        for (size_t k = 0; k < t->sub->ninputs; k++) {
            if (strcmp(t->in[k].topic, topic) == 0) {
                *input = (int)k;
                return t;
            }
        }
    }
    return NULL;
}

void st_task_queues(weir_streams *s, st_task_t *t)
{
    static const uint64_t one = 1;
    for (size_t k = 0; k < t->sub->ninputs; k++) {
        st_input_t *in = &t->in[k];
        if (in->rkqu)
            continue;
        in->rkqu = rd_kafka_queue_get_partition(s->consumer, in->topic, in->partition);
        if (!in->rkqu)
            continue;
        /* Not forwarded to the consumer's queue: librdkafka keeps fetching ahead for each
         * partition up to its own bounds, and the task takes from it when it has room. */
        rd_kafka_queue_forward(in->rkqu, NULL);
        rd_kafka_queue_io_event_enable(in->rkqu, s->wake_fd, &one, sizeof(one));
    }
}

void st_input_push(weir_streams *s, st_task_t *t, int input, rd_kafka_message_t *m)
{
    st_input_t *in = &t->in[input];
    if (in->len == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : ST_RING_MIN;
        rd_kafka_message_t **ring = weir_malloc(cap * sizeof(*ring));
        for (size_t i = 0; i < in->len; i++)
            ring[i] = in->ring[(in->head + i) % in->cap];
        free(in->ring);
        in->ring = ring;
        in->cap = cap;
        in->head = 0;
    }
    in->ring[(in->head + in->len) % in->cap] = m;
    in->len++;
    in->fetch_next = m->offset + 1;
}

/* Takes what the partition's queue has (up to ST_TAKE_MAX) into the ring, when it is empty. */
static void input_fill(weir_streams *s, st_task_t *t, int k)
{
    st_input_t *in = &t->in[k];
    if (in->len || !in->rkqu)
        return;
    rd_kafka_message_t *batch[ST_TAKE_MAX];
    ssize_t n = rd_kafka_consume_batch_queue(in->rkqu, 0, batch, ST_TAKE_MAX);
    for (ssize_t i = 0; i < n; i++) {
        if (batch[i]->err) {
            if (batch[i]->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                st_log(s, WEIR_LOG_WARN, "consume %s [%d]: %s", in->topic, (int)in->partition,
                       rd_kafka_message_errstr(batch[i]));
            rd_kafka_message_destroy(batch[i]);
            continue;
        }
        st_input_push(s, t, k, batch[i]);
    }
}

/* The record as callbacks see it; key and value copied to NUL-terminated scratch buffers. */
static void record_of(weir_streams *s, const rd_kafka_message_t *m, weir_record *r)
{
    memset(r, 0, sizeof(*r));
    if (m->key) {
        st_buf_set(&s->inkey, m->key, m->key_len);
        r->key = s->inkey.data;
        r->key_len = m->key_len;
    }
    if (m->payload) {
        st_buf_set(&s->inval, m->payload, m->len);
        r->value = s->inval.data;
        r->value_len = m->len;
    }
    r->topic = rd_kafka_topic_name(m->rkt);
    r->partition = m->partition;
    r->offset = m->offset;
    r->timestamp = rd_kafka_message_timestamp(m, NULL);
    if (!st_record_headers_window(m, &r->window_start, &r->window_end))
        r->window_start = r->window_end = -1;
}

static int64_t event_time(weir_stream *src, const weir_record *r)
{
    return src->ts_fn ? src->ts_fn(r, src->user) : r->timestamp;
}

static int64_t head_ts(weir_streams *s, st_task_t *t, size_t k)
{
    st_input_t *in = &t->in[k];
    if (in->head_ts == ST_TIME_NONE) {
        weir_record r;
        record_of(s, in->ring[in->head], &r);
        in->head_ts = event_time(t->sub->inputs[k], &r);
    }
    return in->head_ts;
}

/* Nothing more of this input on the broker than what was fetched (as of the last fetch). */
static bool caught_up(weir_streams *s, const st_input_t *in)
{
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(s->consumer, in->topic, in->partition, &lo, &hi) != 0 ||
        hi < 0)
        return false;
    int64_t next = in->fetch_next >= 0 ? in->fetch_next : in->committed;
    return next >= hi;
}

/* The input to take the next record from, or -1 to wait. */
static int pick_input(weir_streams *s, st_task_t *t)
{
    for (size_t k = 0; k < t->sub->ninputs; k++)
        input_fill(s, t, (int)k);
    if (t->sub->ninputs == 1)
        return t->in[0].len ? 0 : -1;
    int best = -1;
    int64_t best_ts = 0;
    bool waiting = false;
    for (size_t k = 0; k < t->sub->ninputs; k++) {
        if (!t->in[k].len) {
            waiting |= !caught_up(s, &t->in[k]);
            continue;
        }
        int64_t ts = head_ts(s, t, k);
        if (best < 0 || ts < best_ts) {
            best = (int)k;
            best_ts = ts;
        }
    }
    if (best < 0 || !waiting) {
        t->blocked_since_ms = -1;
        return best;
    }
    int64_t now = clock_mono_ms();
    if (t->blocked_since_ms < 0)
        t->blocked_since_ms = now;
    if (s->cfg.max_task_idle_ms > 0 && now - t->blocked_since_ms >= s->cfg.max_task_idle_ms)
        return best;
    return -1;
}

static void process_message(weir_streams *s, st_task_t *t, int k, const rd_kafka_message_t *m)
{
    st_input_t *in = &t->in[k];
    weir_stream *src = t->sub->inputs[k];
    weir_record r;
    record_of(s, m, &r);
    r.timestamp = event_time(src, &r);
    in->position = m->offset + 1;
    s->dirty = true;
    atomic_fetch_add_explicit(&s->stats.processed, 1, memory_order_relaxed);
    if (r.timestamp < 0) {
        atomic_fetch_add_explicit(&s->stats.skipped, 1, memory_order_relaxed);
        return;
    }
    s->ctx.task = t;
    s->ctx.input = k;
    s->ctx.offset = m->offset;
    s->ctx.suppress = m->offset < in->suppress_below;
    s->ctx.seq = 0;
    s->ctx.depth = 0;
    st_process(s, src, &r);
    st_task_close_windows(s, t);
    s->ctx.task = NULL;
}

bool st_task_step(weir_streams *s, st_task_t *t)
{
    if (t->state != ST_TASK_RUNNING)
        return false;
    int k = pick_input(s, t);
    if (k < 0)
        return false;
    st_input_t *in = &t->in[k];
    rd_kafka_message_t *m = in->ring[in->head];
    in->head = (in->head + 1) % in->cap;
    in->len--;
    in->head_ts = ST_TIME_NONE;
    process_message(s, t, k, m);
    rd_kafka_message_destroy(m);
    return true;
}

/* ---- restoring ------------------------------------------------------------------------------- */

/* The restore consumer's assignment: every store part still restoring, from where it is. */
static void restorer_assign(weir_streams *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < s->ntasks; i++) {
        st_task_t *t = s->tasks[i];
        for (size_t j = 0; j < t->sub->nstores; j++) {
            st_part_t *sp = &t->parts[j];
            if (sp->restoring)
                rd_kafka_topic_partition_list_add(l, sp->store->changelog, t->partition)->offset =
                    sp->changelog_next;
        }
    }
    rd_kafka_assign(s->restorer, l);
    s->restoring = l->cnt > 0;
    rd_kafka_topic_partition_list_destroy(l);
}

static void task_running(weir_streams *s, st_task_t *t)
{
    for (size_t j = 0; j < t->sub->nstores; j++) {
        st_part_t *sp = &t->parts[j];
        /* Rows that were closed before are back from the changelog (closing writes no
         * tombstone): they go again, silently. */
        if (sp->store->windowed && sp->stream_time != ST_TIME_NONE)
            st_part_purge_closed(s, sp, sp->stream_time - sp->store->grace_ms);
        else
            st_part_next_close(s, sp);
        sp->stream_time_saved = sp->stream_time;
        st_ckpt_put(s, sp->store->name, t->partition, sp->changelog_next, sp->stream_time);
    }
    t->state = ST_TASK_RUNNING;
    s->dirty = true;
}

/* Where the restore of sp starts, from its checkpoint and the changelog's offsets. */
static int part_restore_start(weir_streams *s, st_part_t *sp, int64_t *start, int64_t *end)
{
    st_task_t *t = sp->task;
    int64_t next = -1, stime = ST_TIME_NONE, lo = 0, hi = 0;
    int g = st_ckpt_get(s, sp->store->name, t->partition, &next, &stime);
    if (g && g != -WEIR_ENOENT)
        return g;
    int r = st_watermarks(s, s->restorer, sp->store->changelog, t->partition, &lo, &hi);
    if (r)
        return r;
    /* No checkpoint, or one the changelog cannot continue (recreated, truncated): start over. */
    if (g == -WEIR_ENOENT || t->rebuild || next < lo || next > hi) {
        if (g == 0 && !t->rebuild)
            st_log(s, WEIR_LOG_WARN,
                   "store %s [%d]: checkpoint at %lld is outside the changelog's %lld..%lld: "
                   "restoring from the beginning",
                   sp->store->name, (int)t->partition, (long long)next, (long long)lo,
                   (long long)hi);
        r = st_part_wipe(s, sp->store, t->partition);
        if (r)
            return r;
        next = lo;
        stime = ST_TIME_NONE;
    }
    sp->stream_time = stime;
    sp->changelog_next = next;
    *start = next;
    *end = hi;
    return 0;
}

int st_task_restore_begin(weir_streams *s, st_task_t *t)
{
    bool any = false;
    for (size_t j = 0; j < t->sub->nstores; j++) {
        st_part_t *sp = &t->parts[j];
        int64_t start, end;
        int r = part_restore_start(s, sp, &start, &end);
        if (r)
            return r;
        sp->restore_end = end;
        sp->restoring = !t->rebuild && start < end;
        any |= sp->restoring;
    }
    if (!any) {
        task_running(s, t);
        return 0;
    }
    if (!s->restore_started_ns)
        s->restore_started_ns = clock_mono_ns();
    restorer_assign(s);
    return 0;
}

static st_part_t *restoring_part(weir_streams *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->ntasks; i++) {
        st_task_t *t = s->tasks[i];
        if (t->partition != partition || t->state != ST_TASK_RESTORING)
            continue;
        for (size_t j = 0; j < t->sub->nstores; j++)
            if (t->parts[j].restoring && strcmp(t->parts[j].store->changelog, topic) == 0)
                return &t->parts[j];
    }
    return NULL;
}

/* A store part is restored: when all of its task's are, the task runs. */
static bool part_done(weir_streams *s, st_part_t *sp)
{
    sp->restoring = false;
    st_task_t *t = sp->task;
    for (size_t j = 0; j < t->sub->nstores; j++)
        if (t->parts[j].restoring)
            return false;
    task_running(s, t);
    st_log(s, WEIR_LOG_INFO, "task %d_%d restored", t->sub->index, (int)t->partition);
    return true;
}

static int restore_message(weir_streams *s, rd_kafka_message_t *m, st_part_t **cache, bool *changed)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    st_part_t *sp = *cache;
    if (!sp || sp->task->partition != m->partition || !sp->restoring ||
        strcmp(sp->store->changelog, topic) != 0)
        sp = *cache = restoring_part(s, topic, m->partition);
    if (!sp)
        return 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->offset > sp->changelog_next)
            sp->changelog_next = m->offset;
        *changed |= part_done(s, sp);
        *cache = NULL;
        return 0;
    }
    if (m->err) {
        st_set_error(s, "restoring %s [%d]: %s", topic, (int)m->partition,
                     rd_kafka_message_errstr(m));
        return m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? -WEIR_ENOENT : -WEIR_EIO;
    }
    bool skipped;
    int r = st_restore_apply(s, sp, m, &skipped);
    if (r)
        return r;
    sp->changelog_next = m->offset + 1;
    atomic_fetch_add_explicit(&s->stats.restored_records, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->stats.restored_bytes, m->key_len + m->len, memory_order_relaxed);
    s->dirty = true;
    if (sp->changelog_next >= sp->restore_end) {
        *changed |= part_done(s, sp);
        *cache = NULL;
    }
    return 0;
}

int st_restore_poll(weir_streams *s, int budget_ms)
{
    if (!s->restoring)
        return 0;
    int64_t deadline = clock_mono_ms() + budget_ms;
    st_part_t *cache = NULL;
    bool changed = false;
    int r = 0;
    while (!r && !changed && clock_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->restorer, 10);
        if (!m)
            continue;
        r = restore_message(s, m, &cache, &changed);
        rd_kafka_message_destroy(m);
    }
    if (changed)
        restorer_assign(s);
    if (!s->restoring && s->restore_started_ns) {
        atomic_fetch_add_explicit(&s->stats.restore_ms,
                                  (uint64_t)((clock_mono_ns() - s->restore_started_ns) / 1000000),
                                  memory_order_relaxed);
        s->restore_started_ns = 0;
    }
    return r;
}
