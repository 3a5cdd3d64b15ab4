/*
 * Fetch (key 1), versions 4-11, with long polling.
 *
 * A fetch is answered at once when it has min_bytes of data, any partition error, max_wait_ms
 * <= 0, or the broker is stopping. Otherwise it parks: it registers a waiter on each of its
 * partitions, looks once more (an append may have slipped in between), and waits for a wake
 * from the append path (broker_waiters_notify -> fetch_notify posts fetch_on_wake to this
 * loop) or for its max_wait_ms timer, whichever comes first. It is never woken by polling.
 *
 * Sizes: the response holds at most min(max_bytes, fetch.max.bytes) bytes of records and each
 * partition at most its partition_max_bytes, except that the first batch of the first
 * partition with data is always whole (KIP-74), so a consumer always makes progress.
 * Fetch sessions (KIP-227) are not kept: session_id 0 answers every full fetch and an
 * incremental one gets FETCH_SESSION_ID_NOT_FOUND, after which clients fall back to full
 * fetches.
 *
 * Threads: a fetch lives on its connection's loop thread. fetch_notify runs on appending
 * threads with a partition's wait_mu held and only posts; refs counts the posted wakes plus
 * the fetch's own reference, and the fetch is freed on its loop when they are all gone.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

#define MAX_TOPICS     100000
#define MAX_PARTITIONS 1000000

typedef struct fetch fetch_t;

typedef struct {
    int32_t index;
    int64_t offset;
    int32_t max_bytes;
    broker_waiter_t waiter;
} fetch_part_t;

typedef struct {
    char *name; /* may hold NULs (then no topic matches it) */
    size_t name_len;
    broker_topic_t *t; /* referenced while parked */
    int32_t nparts;
    fetch_part_t *parts;
} fetch_topic_t;

struct fetch {
    broker_t *b;
    net_slot_t *slot;
    net_loop_t *loop;
    buf_t resp;
    int16_t version;
    bool flexible;
    int32_t max_wait_ms, min_bytes, max_bytes;
    int8_t isolation;
    int16_t session_error;
    int32_t ntopics;
    fetch_topic_t *topics;
    net_timer_t timer;
    _Atomic bool wake_pending;
    _Atomic int refs;
    bool parked, done;
};

static void fetch_free(fetch_t *f)
{
    for (int32_t i = 0; i < f->ntopics; i++) {
        WEIR_ASSERT(f->topics[i].t == NULL);
        free(f->topics[i].name);
        free(f->topics[i].parts);
    }
    free(f->topics);
    buf_deinit(&f->resp);
    free(f);
}

static void fetch_unref(fetch_t *f)
{
    if (atomic_fetch_sub(&f->refs, 1) == 1)
        fetch_free(f);
}

static int decode(wire_reader_t *r, fetch_t *f)
{
    int16_t v = f->version;
    (void)wire_read_i32(r); /* replica_id */
    f->max_wait_ms = wire_read_i32(r);
    f->min_bytes = wire_read_i32(r);
    f->max_bytes = wire_read_i32(r);
    f->isolation = wire_read_i8(r);
    int32_t session_id = 0, epoch = -1;
    if (v >= 7) {
        session_id = wire_read_i32(r);
        epoch = wire_read_i32(r);
    }
    if (session_id != 0 || epoch > 0)
        f->session_error = KAFKA_FETCH_SESSION_ID_NOT_FOUND;
#ifdef WEIR_FUZZ
    f->max_wait_ms = WEIR_MIN(f->max_wait_ms, 5); /* the fuzzer waits for every answer */
#endif
    int32_t n = wire_read_array(r, r->flexible ? 2 : 6, MAX_TOPICS);
    if (n < 0)
        return -WEIR_EINVAL;
    f->topics = weir_calloc((size_t)n + 1, sizeof(*f->topics));
    f->ntopics = 0;
    size_t min_part = 4 + 8 + 4 + (v >= 9 ? 4 : 0) + (v >= 5 ? 8 : 0);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        fetch_topic_t *ft = &f->topics[i];
        wire_str_t name = wire_read_str(r);
        int32_t np = wire_read_array(r, min_part, MAX_PARTITIONS);
        if (np < 0)
            break;
        ft->name = wire_str_dup(name);
        ft->name_len = (size_t)name.len;
        ft->parts = weir_calloc((size_t)np + 1, sizeof(*ft->parts));
        ft->nparts = np;
        f->ntopics = i + 1;
        for (int32_t j = 0; j < np; j++) {
            fetch_part_t *fp = &ft->parts[j];
            fp->index = wire_read_i32(r);
            if (v >= 9)
                (void)wire_read_i32(r); /* current_leader_epoch */
            fp->offset = wire_read_i64(r);
            if (v >= 5)
                (void)wire_read_i64(r); /* log_start_offset (followers only) */
            fp->max_bytes = wire_read_i32(r);
            wire_read_tags(r);
        }
        wire_read_tags(r);
    }
    if (v >= 7) { /* forgotten_topics_data: meaningful only with sessions */
        int32_t nf = wire_read_array(r, r->flexible ? 2 : 6, MAX_TOPICS);
        for (int32_t i = 0; i < nf && wire_reader_ok(r); i++) {
            (void)wire_read_str(r);
            int32_t np = wire_read_array(r, 4, MAX_PARTITIONS);
            for (int32_t j = 0; j < np && wire_reader_ok(r); j++)
                (void)wire_read_i32(r);
            wire_read_tags(r);
        }
    }
    if (v >= 11)
        (void)wire_read_str(r); /* rack_id */
    wire_read_tags(r);
    return wire_reader_ok(r) ? 0 : -WEIR_EINVAL;
}

/* Looks at the data: true if the fetch should be answered now. Registry read lock held. */
static bool fetch_ready(fetch_t *f)
{
    broker_t *b = f->b;
    if (f->session_error || f->max_wait_ms <= 0 || atomic_load(&b->stopping))
        return true;
    int64_t avail = 0;
    for (int32_t i = 0; i < f->ntopics; i++) {
        fetch_topic_t *ft = &f->topics[i];
        for (int32_t j = 0; j < ft->nparts; j++) {
            fetch_part_t *fp = &ft->parts[j];
            broker_partition_t *p = broker_partition_find(b, ft->name, ft->name_len, fp->index);
            if (!p)
                return true; /* an error to report */
            int64_t n = broker_fetch_available(p, fp->offset,
                                               fp->max_bytes > 0 ? (size_t)fp->max_bytes : 1);
            if (n < 0)
                return true;
            avail += n;
            if (avail >= f->min_bytes && avail > 0)
                return true;
        }
    }
    return f->min_bytes <= 0;
}

/* Writes the whole response body. Registry read lock held. */
static void fetch_write(fetch_t *f)
{
    broker_t *b = f->b;
    int16_t v = f->version;
    net_loop_take_buf(f->loop, &f->resp, f->max_bytes > 0 ? (size_t)f->max_bytes : 0);
    wire_writer_t w;
    wire_writer_init(&w, &f->resp, f->flexible);
    wire_write_i32(&w, 0); /* throttle_time_ms */
    if (v >= 7) {
        wire_write_i16(&w, f->session_error);
        wire_write_i32(&w, 0); /* session_id: none kept */
    }
    if (f->session_error) {
        wire_write_array_len(&w, 0);
        wire_write_tags(&w);
        return;
    }
    int64_t limit =
        WEIR_MIN((int64_t)f->max_bytes, broker_settings_int(&b->set, BCFG_FETCH_MAX_BYTES));
    size_t remaining = limit > 0 ? (size_t)limit : 0;
    bool first = true;
    wire_write_array_len(&w, f->ntopics);
    for (int32_t i = 0; i < f->ntopics; i++) {
        fetch_topic_t *ft = &f->topics[i];
        wire_write_str(&w, ft->name, ft->name_len);
        wire_write_array_len(&w, ft->nparts);
        for (int32_t j = 0; j < ft->nparts; j++) {
            fetch_part_t *fp = &ft->parts[j];
            broker_partition_t *p = broker_partition_find(b, ft->name, ft->name_len, fp->index);
            wire_write_i32(&w, fp->index);
            size_t err_at = f->resp.len;
            wire_write_i16(&w, p ? KAFKA_NONE : KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
            wire_write_i64(&w, p ? broker_partition_hwm(p) : -1);
            wire_write_i64(&w, p ? broker_partition_lso(p) : -1);
            if (v >= 5)
                wire_write_i64(&w, p ? broker_partition_log_start(p) : -1);
            wire_write_array_len(&w, f->isolation == 1 ? 0 : -1); /* aborted_transactions */
            if (v >= 11)
                wire_write_i32(&w, -1); /* preferred_read_replica */
            if (!p) {
                wire_write_bytes_len(&w, 0);
            } else {
                size_t pmax = fp->max_bytes > 0 ? WEIR_MIN((size_t)fp->max_bytes, remaining) : 0;
                size_t got;
                int16_t err = broker_fetch_partition(b, p, fp->offset, pmax, first, v >= 10,
                                                     &f->resp, f->flexible, &got);
                if (err)
                    be16_write(f->resp.data + err_at, (uint16_t)err);
                if (got) {
                    first = false;
                    remaining = got < remaining ? remaining - got : 0;
                }
            }
            wire_write_tags(&w);
        }
        wire_write_tags(&w);
    }
    wire_write_tags(&w);
}

/* Answers now (loop thread). */
static void fetch_answer(fetch_t *f)
{
    broker_topics_rdlock(f->b);
    fetch_write(f);
    broker_topics_unlock(f->b);
    kafka_parked_complete(f->slot, &f->resp, false);
}

/* ---- parking -----------------------------------------------------------------------------------
 */

static void fetch_on_wake(void *arg);

/* Appending thread, p->wait_mu held: one posted wake at a time per fetch. */
static void fetch_notify(void *owner)
{
    fetch_t *f = owner;
    if (atomic_exchange(&f->wake_pending, true))
        return;
    atomic_fetch_add(&f->refs, 1);
    net_loop_post(f->loop, fetch_on_wake, f);
}

static void fetch_unpark(fetch_t *f)
{
    for (int32_t i = 0; i < f->ntopics; i++) {
        fetch_topic_t *ft = &f->topics[i];
        for (int32_t j = 0; j < ft->nparts; j++)
            broker_waiter_remove(&ft->parts[j].waiter);
        if (ft->t) {
            broker_topic_unref(ft->t);
            ft->t = NULL;
        }
    }
    net_timer_stop(f->loop, &f->timer);
}

static void fetch_finish(fetch_t *f)
{
    f->done = true;
    fetch_unpark(f);
    fetch_answer(f);
    broker_parked_dec(f->b);
    fetch_unref(f);
}

static void fetch_on_wake(void *arg)
{
    fetch_t *f = arg;
    atomic_store(&f->wake_pending, false);
    if (!f->done) {
        broker_topics_rdlock(f->b);
        bool ready = fetch_ready(f);
        broker_topics_unlock(f->b);
        if (ready)
            fetch_finish(f);
    }
    fetch_unref(f);
}

static void fetch_on_timeout(void *arg)
{
    fetch_t *f = arg;
    if (!f->done)
        fetch_finish(f);
}

/* Registers waiters on every partition (registry read lock held). */
static void fetch_park(fetch_t *f)
{
    broker_t *b = f->b;
    for (int32_t i = 0; i < f->ntopics; i++) {
        fetch_topic_t *ft = &f->topics[i];
        broker_topic_t *t = broker_topic_find(b, ft->name, ft->name_len);
        if (!t)
            continue;
        broker_topic_ref(t);
        ft->t = t;
        for (int32_t j = 0; j < ft->nparts; j++) {
            fetch_part_t *fp = &ft->parts[j];
            if (fp->index < 0 || fp->index >= t->npart)
                continue;
            fp->waiter.notify = fetch_notify;
            fp->waiter.owner = f;
            broker_waiter_add(t->parts[fp->index], &fp->waiter);
        }
    }
}

int kafka_handle_fetch(kafka_req_t *req)
{
    fetch_t *f = weir_calloc(1, sizeof(*f));
    f->b = req->b;
    f->version = req->hdr.api_version;
    f->flexible = req->flexible;
    atomic_init(&f->refs, 1);
    atomic_init(&f->wake_pending, false);
    if (decode(&req->r, f) < 0) {
        fetch_free(f);
        return -WEIR_EINVAL;
    }
    f->slot = req->slot;
    f->loop = net_conn_loop(req->conn);
    kafka_req_take_resp(req, &f->resp);
    net_timer_init(&f->timer, fetch_on_timeout, f);

    broker_t *b = f->b;
    broker_topics_rdlock(b);
    bool ready = fetch_ready(f);
    if (!ready) {
        fetch_park(f);
        ready = fetch_ready(f); /* an append between the two looks is not lost */
        if (ready)
            fetch_unpark(f);
    }
    broker_topics_unlock(b);
    if (ready) {
        f->done = true; /* a wake posted meanwhile finds it done */
        fetch_answer(f);
        fetch_unref(f);
        return KAFKA_PARKED;
    }
    f->parked = true;
    broker_parked_inc(b);
    net_timer_start(f->loop, &f->timer, f->max_wait_ms);
    return KAFKA_PARKED;
}
