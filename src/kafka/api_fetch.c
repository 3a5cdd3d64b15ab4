/*
 * Fetch (key 1), versions 4-16, with long polling and incremental fetch sessions (KIP-227).
 *
 * The request names its partitions (by topic name, or by topic id from v13). Its session id and
 * epoch say what kind of fetch it is, as Kafka's FetchManager decides:
 *   epoch 0     a full fetch that opens a new session (closing the one named, if any): every
 *               requested partition is answered, and the answer carries the new session id;
 *   epoch -1    a full fetch without a session (closing the one named);
 *   epoch n > 0 an incremental fetch in session id: its partitions are added to or updated in
 *               the session, its forgotten topics removed, and the answer holds only the
 *               session's partitions with news (records, an error, or watermarks that moved
 *               since the client was last told); an unknown session is FETCH_SESSION_ID_NOT_FOUND,
 *               a wrong epoch INVALID_FETCH_SESSION_EPOCH, and a request by topic ids in a
 *               session opened by names (or the reverse) FETCH_SESSION_TOPIC_ID_ERROR.
 * Then broker_fetch_wait decides: answer now (min_bytes of data, any partition error,
 * max_wait_ms <= 0, or the broker stopping), or park until the broker calls back (an append
 * reached min_bytes, or max_wait_ms passed). The answer is written partition by partition with
 * broker_fetch_read, which copies whole batches from the log without parsing records, or, on
 * a plaintext connection with weir.fetch.zero.copy, hands the batches this process verified to
 * the response's slot as file ranges that the connection sends with sendfile (each partition's
 * records size still counts them; so do the frame's size prefix and the consumer quota).
 *
 * Sizes: the response holds at most min(max_bytes, fetch.max.bytes) bytes of records and each
 * partition at most its partition_max_bytes, and copies no more than the loops' memory budget
 * (weir.memory.buffers.max.bytes) has left (file ranges take none), except that the first
 * batch of the first partition with data is always whole (KIP-74), so a consumer always makes
 * progress. In a session, a partition that returned records moves to the end of the next
 * answer.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

#define MAX_TOPICS     100000
#define MAX_PARTITIONS 1000000

enum { SESSION_NONE, SESSION_NEW, SESSION_INCREMENTAL };

/* A partition of the answer: what to read, and what to write for it. */
typedef struct {
    broker_fetch_part_t fp;
    uint8_t topic_id[16];
    int16_t error;        /* known before reading: UNKNOWN_TOPIC_ID, leader epoch errors */
    size_t session_index; /* its place in the session (incremental answers), or SIZE_MAX */
    bool denied;          /* the authorizer refused READ on its topic */
} fetch_part_t;

typedef struct {
    kafka_park_t pk; /* first: parked while waiting */
    int32_t max_wait_ms, min_bytes, max_bytes;
    int8_t isolation;
    int32_t session_id, session_epoch;
    int kind;
    int16_t session_error;
    int32_t answer_session_id;
    size_t nparts;
    fetch_part_t *parts;
    broker_fetch_part_t *wait_parts; /* the same partitions, for broker_fetch_wait */
    const kafka_listener_t *lst;     /* its fetch sessions */
    char *quota_user, *quota_client; /* with a consumer_byte_rate quota: who is charged */
    net_conn_t *conn;                /* allocated while the request's slot is uncompleted */
    broker_zero_copy_t zc;           /* zc.slot: the slot, when verified batches go by sendfile */
} fetch_t;

/* A requested partition, as decoded (topic named or identified). */
typedef struct {
    wire_str_t topic;
    uint8_t topic_id[16];
    int32_t partition, current_leader_epoch, max_bytes;
    int64_t offset;
} req_part_t;

typedef struct {
    wire_str_t topic;
    uint8_t topic_id[16];
    int32_t partition;
} forgotten_t;

typedef struct {
    req_part_t *parts;
    size_t nparts, capparts;
    forgotten_t *forgotten;
    size_t nforgotten, capforgotten;
} fetch_req_t;

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    *cap = WEIR_MAX(*cap * 2, need);
    return weir_realloc(p, *cap * size);
}

static int decode(wire_reader_t *r, fetch_t *f, fetch_req_t *q)
{
    int16_t v = f->pk.version;
    if (v <= 14)
        (void)wire_read_i32(r); /* replica_id (v15+: in a tagged field, followers only) */
    f->max_wait_ms = wire_read_i32(r);
    f->min_bytes = wire_read_i32(r);
    f->max_bytes = wire_read_i32(r);
    f->isolation = wire_read_i8(r);
    f->session_id = 0;
    f->session_epoch = -1;
    if (v >= 7) {
        f->session_id = wire_read_i32(r);
        f->session_epoch = wire_read_i32(r);
    }
#ifdef WEIR_FUZZ
    f->max_wait_ms = WEIR_MIN(f->max_wait_ms, 5); /* the fuzzer waits for every answer */
#endif
    int32_t n = wire_read_array(r, v >= 13 ? 16 + 1 : (r->flexible ? 2 : 6), MAX_TOPICS);
    if (n < 0)
        return -WEIR_EINVAL;
    size_t min_part = 4 + 8 + 4 + (v >= 9 ? 4 : 0) + (v >= 5 ? 8 : 0) + (v >= 12 ? 4 : 0);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        wire_str_t name = {"", 0};
        uint8_t id[16] = {0};
        if (v >= 13)
            wire_read_uuid(r, id);
        else
            name = wire_read_str(r);
        int32_t np = wire_read_array(r, min_part, MAX_PARTITIONS);
        if (np < 0)
            break;
        q->parts = grow(q->parts, &q->capparts, q->nparts + (size_t)np, sizeof(*q->parts));
        for (int32_t j = 0; j < np; j++) {
            req_part_t *rp = &q->parts[q->nparts++];
            rp->topic = name;
            memcpy(rp->topic_id, id, 16);
            rp->partition = wire_read_i32(r);
            rp->current_leader_epoch = v >= 9 ? wire_read_i32(r) : -1;
            rp->offset = wire_read_i64(r);
            if (v >= 12)
                (void)wire_read_i32(r); /* last_fetched_epoch (followers' truncation check) */
            if (v >= 5)
                (void)wire_read_i64(r); /* log_start_offset (followers only) */
            rp->max_bytes = wire_read_i32(r);
            wire_read_tags(r);
        }
        wire_read_tags(r);
    }
    if (v >= 7) { /* forgotten_topics_data */
        int32_t nf = wire_read_array(r, v >= 13 ? 16 + 1 : (r->flexible ? 2 : 6), MAX_TOPICS);
        for (int32_t i = 0; i < nf && wire_reader_ok(r); i++) {
            wire_str_t name = {"", 0};
            uint8_t id[16] = {0};
            if (v >= 13)
                wire_read_uuid(r, id);
            else
                name = wire_read_str(r);
            int32_t np = wire_read_array(r, 4, MAX_PARTITIONS);
            if (np < 0)
                break;
            q->forgotten = grow(q->forgotten, &q->capforgotten, q->nforgotten + (size_t)np,
                                sizeof(*q->forgotten));
            for (int32_t j = 0; j < np && wire_reader_ok(r); j++) {
                forgotten_t *fg = &q->forgotten[q->nforgotten++];
                fg->topic = name;
                memcpy(fg->topic_id, id, 16);
                fg->partition = wire_read_i32(r);
            }
            wire_read_tags(r);
        }
    }
    if (v >= 11)
        (void)wire_read_str(r); /* rack_id */
    wire_read_tags(r);
    return wire_reader_ok(r) ? 0 : -WEIR_EINVAL;
}

/* ---- the partitions to answer ------------------------------------------------------------------
 */

/* Fills one partition of the answer: the topic's name (resolved from its id for v13+), owned
 * by the park, and the errors known before reading. */
static void part_set(fetch_t *f, fetch_part_t *out, const char *topic, size_t topic_len,
                     const uint8_t id[16], int32_t partition, int64_t offset, int32_t max_bytes,
                     int32_t leader_epoch)
{
    memset(out, 0, sizeof(*out));
    out->session_index = SIZE_MAX;
    memcpy(out->topic_id, id, 16);
    char name[256] = "";
    if (f->pk.version >= 13) {
        if (broker_topic_name_of(f->pk.b, id, name, sizeof(name)) < 0)
            out->error = KAFKA_UNKNOWN_TOPIC_ID;
        topic = name;
        topic_len = strlen(name);
    }
    wire_bytes_t copy = {(const uint8_t *)topic, (int32_t)topic_len};
    out->fp.topic = (const char *)kafka_park_bytes(&f->pk, copy);
    out->fp.topic_len = topic_len;
    out->fp.partition = partition;
    out->fp.offset = offset;
    out->fp.max_bytes = max_bytes;
    out->fp.read_committed = f->isolation == 1;
    /* One node, leader epoch 0 (Metadata says so): a client ahead of it has a newer leader
     * than exists, a client behind it an older one. */
    if (!out->error && leader_epoch > 0)
        out->error = KAFKA_UNKNOWN_LEADER_EPOCH;
}

/* A full fetch: every requested partition, in request order. */
static void plan_full(fetch_t *f, const fetch_req_t *q, kafka_fetch_session_t *s)
{
    f->parts = weir_calloc(q->nparts + 1, sizeof(*f->parts));
    f->nparts = q->nparts;
    for (size_t i = 0; i < q->nparts; i++) {
        const req_part_t *rp = &q->parts[i];
        part_set(f, &f->parts[i], rp->topic.s, (size_t)rp->topic.len, rp->topic_id, rp->partition,
                 rp->offset, rp->max_bytes, rp->current_leader_epoch);
        if (s) {
            kafka_fetch_session_part_t *sp =
                kafka_fetch_session_part(s, f->parts[i].fp.topic, f->parts[i].fp.topic_len,
                                         rp->topic_id, rp->partition, true);
            sp->fetch_offset = rp->offset;
            sp->max_bytes = rp->max_bytes;
        }
    }
}

/* An incremental fetch: the request updates the session, and every partition of the session
 * is looked at (only those with news are answered). Sessions lock held. */
static void plan_incremental(fetch_t *f, const fetch_req_t *q, kafka_fetch_session_t *s)
{
    for (size_t i = 0; i < q->nforgotten; i++) {
        const forgotten_t *fg = &q->forgotten[i];
        kafka_fetch_session_part_t *sp = kafka_fetch_session_part(
            s, fg->topic.s, (size_t)fg->topic.len, fg->topic_id, fg->partition, false);
        if (sp)
            kafka_fetch_session_forget(s, sp);
    }
    for (size_t i = 0; i < q->nparts; i++) {
        const req_part_t *rp = &q->parts[i];
        kafka_fetch_session_part_t *sp = kafka_fetch_session_part(
            s, rp->topic.s, (size_t)rp->topic.len, rp->topic_id, rp->partition, true);
        sp->fetch_offset = rp->offset;
        sp->max_bytes = rp->max_bytes;
    }
    f->parts = weir_calloc(s->n + 1, sizeof(*f->parts));
    f->nparts = s->n;
    for (size_t i = 0; i < s->n; i++) {
        const kafka_fetch_session_part_t *sp = &s->parts[i];
        part_set(f, &f->parts[i], sp->topic, sp->topic_len, sp->topic_id, sp->partition,
                 sp->fetch_offset, sp->max_bytes, -1);
        f->parts[i].session_index = i;
    }
}

/* Decides the kind of fetch and which partitions it answers (KIP-227's rules, above). */
static void plan(fetch_t *f, const fetch_req_t *q, const kafka_listener_t *lst)
{
    kafka_fetch_sessions_t *c = lst->fetch_sessions;
    f->kind = SESSION_NONE;
    if (f->pk.version < 7) {
        plan_full(f, q, NULL);
        goto out;
    }
    kafka_fetch_sessions_lock(c);
    if (f->session_epoch == 0 || f->session_epoch == -1) {
        if (f->session_id != 0)
            kafka_fetch_session_remove(c, f->session_id);
        kafka_fetch_session_t *s = NULL;
        if (f->session_epoch == 0)
            s = kafka_fetch_session_create(c, f->pk.version >= 13, net_loop_now_ms(f->pk.loop));
        if (s) {
            f->kind = SESSION_NEW;
            f->answer_session_id = s->id;
            s->busy = true;
        }
        plan_full(f, q, s);
    } else {
        kafka_fetch_session_t *s = kafka_fetch_session_find(c, f->session_id);
        if (!s) {
            f->session_error = KAFKA_FETCH_SESSION_ID_NOT_FOUND;
        } else if (s->busy || s->epoch != f->session_epoch) {
            f->session_error = KAFKA_INVALID_FETCH_SESSION_EPOCH;
        } else if (s->uses_ids != (f->pk.version >= 13)) {
            /* A session opened by names (v12-) cannot be continued by ids (v13+) or back:
             * matched by the other key, one partition's offset would land on another's. The
             * client opens a new session (Kafka's FetchManager does the same). */
            f->session_error = KAFKA_FETCH_SESSION_TOPIC_ID_ERROR;
        } else {
            f->kind = SESSION_INCREMENTAL;
            f->answer_session_id = s->id;
            s->busy = true;
            s->epoch = kafka_fetch_session_next_epoch(s->epoch);
            s->last_used_ms = net_loop_now_ms(f->pk.loop);
            plan_incremental(f, q, s);
        }
    }
    kafka_fetch_sessions_unlock(c);
out:
    f->wait_parts = weir_calloc(f->nparts + 1, sizeof(*f->wait_parts));
    for (size_t i = 0; i < f->nparts; i++)
        f->wait_parts[i] = f->parts[i].fp;
}

/* ---- the answer --------------------------------------------------------------------------------
 */

/* Incremental answers: does the partition have news for the client? */
static bool has_news(fetch_t *f, const fetch_part_t *p, const kafka_fetch_session_part_t *sp)
{
    if (p->error)
        return true;
    broker_watermarks_t wm;
    bool data;
    int rc = broker_partition_peek(f->pk.b, p->fp.topic, p->fp.topic_len, p->fp.partition,
                                   p->fp.offset, p->fp.read_committed, &wm, &data);
    return rc < 0 || data || wm.high_watermark != sp->sent_hwm ||
           wm.last_stable_offset != sp->sent_lso || wm.log_start_offset != sp->sent_log_start;
}

/* Replaces the empty aborted_transactions array written at `at` with the real one (moving the
 * file ranges placed after it with the bytes). */
static void insert_aborted(fetch_t *f, wire_writer_t *w, size_t at, const broker_fetch_info_t *info)
{
    buf_t arr = {0};
    wire_writer_t aw;
    wire_writer_init(&aw, &arr, w->flexible);
    wire_write_array_len(&aw, (int32_t)info->naborted);
    for (size_t i = 0; i < info->naborted; i++) {
        wire_write_i64(&aw, info->aborted[i].producer_id);
        wire_write_i64(&aw, info->aborted[i].first_offset);
        wire_write_tags(&aw);
    }
    size_t old = w->flexible ? 1 : 4; /* the empty array's encoding */
    buf_t *b = w->b;
    size_t tail = b->len - at - old;
    buf_extend(b, arr.len - old);
    memmove(b->data + at + arr.len, b->data + at + old, tail);
    memcpy(b->data + at, arr.data, arr.len);
    if (f->zc.slot)
        net_slot_files_shift(f->zc.slot, at + old, (ptrdiff_t)arr.len - (ptrdiff_t)old);
    buf_deinit(&arr);
}

/* Writes one partition: the header, the records, then the fields known only after reading.
 * Returns the records' size (in the response's bytes or in its file ranges). */
static size_t write_part(fetch_t *f, wire_writer_t *w, fetch_part_t *p, size_t *remaining,
                         bool *first, broker_fetch_info_t *info)
{
    int16_t v = f->pk.version;
    buf_t *resp = w->b;
    wire_write_i32(w, p->fp.partition);
    size_t head = resp->len;
    wire_write_i16(w, 0); /* error_code, filled below */
    wire_write_i64(w, 0); /* high_watermark */
    wire_write_i64(w, 0); /* last_stable_offset */
    if (v >= 5)
        wire_write_i64(w, 0); /* log_start_offset */
    size_t aborted_at = resp->len;
    wire_write_array_len(w, f->isolation == 1 ? 0 : -1); /* aborted_transactions */
    if (v >= 11)
        wire_write_i32(w, -1); /* preferred_read_replica */
    size_t at = wire_write_bytes_len_reserve(w);
    size_t got = 0;
    info->naborted = 0;
    info->aborted = NULL;
    if (p->error) {
        info->error_code = p->error;
        info->wm = (broker_watermarks_t){-1, -1, -1};
    } else {
        size_t pmax = p->fp.max_bytes > 0 ? WEIR_MIN((size_t)p->fp.max_bytes, *remaining) : 0;
        broker_fetch_read(f->pk.b, &p->fp, pmax, *first, v >= 10, &f->zc, resp, &got, info);
    }
    wire_write_bytes_len_fill(w, at, got);
    if (info->naborted) /* known only now: inserted in front of what follows the list */
        insert_aborted(f, w, aborted_at, info);
    free(info->aborted);
    info->aborted = NULL;
    uint8_t *hp = resp->data + head;
    if (info->error_code) {
        /* Kafka answers an unknown topic or partition, found in its metadata before any log is
         * read, with an empty list, and an error the log read raises (OFFSET_OUT_OF_RANGE, a
         * leader epoch) with null, whatever the isolation level. */
        bool unknown = info->error_code == KAFKA_UNKNOWN_TOPIC_OR_PARTITION ||
                       info->error_code == KAFKA_UNKNOWN_TOPIC_ID;
        if (w->flexible)
            resp->data[aborted_at] = unknown ? 1 : 0; /* compact length + 1; 0 is null */
        else
            be32_write(resp->data + aborted_at, unknown ? 0 : UINT32_MAX);
    }
    be16_write(hp, (uint16_t)info->error_code);
    kafka_park_count_error(&f->pk, info->error_code);
    be64_write(hp + 2, (uint64_t)info->wm.high_watermark);
    be64_write(hp + 10, (uint64_t)info->wm.last_stable_offset);
    if (v >= 5)
        be64_write(hp + 18, (uint64_t)info->wm.log_start_offset);
    if (got) {
        *first = false;
        *remaining = got < *remaining ? *remaining - got : 0;
    }
    wire_write_tags(w);
    return got;
}

/* The partitions to write, grouped by topic in order of first appearance: the topic of each
 * answered partition gets an index; partitions are then written topic by topic. */
static void write_topics(fetch_t *f, wire_writer_t *w, const bool *answer, kafka_fetch_session_t *s,
                         size_t remaining)
{
    int16_t v = f->pk.version;
    size_t n = f->nparts, ntopics = 0;
    size_t *topic_of = weir_calloc(n + 1, sizeof(*topic_of)),
           *first_of = weir_calloc(n + 1, sizeof(*first_of));
    for (size_t i = 0; i < n; i++) {
        if (!answer[i])
            continue;
        size_t t = 0;
        for (; t < ntopics; t++) {
            const fetch_part_t *x = &f->parts[first_of[t]];
            if (v >= 13 ? memcmp(x->topic_id, f->parts[i].topic_id, 16) == 0
                        : x->fp.topic_len == f->parts[i].fp.topic_len &&
                              memcmp(x->fp.topic, f->parts[i].fp.topic, x->fp.topic_len) == 0)
                break;
        }
        if (t == ntopics)
            first_of[ntopics++] = i;
        topic_of[i] = t;
    }
    bool first = true;
    size_t *returned = weir_calloc(n + 1, sizeof(*returned)), nreturned = 0;
    wire_write_array_len(w, (int32_t)ntopics);
    for (size_t t = 0; t < ntopics; t++) {
        const fetch_part_t *tp = &f->parts[first_of[t]];
        if (v >= 13)
            wire_write_uuid(w, tp->topic_id);
        else
            wire_write_str(w, tp->fp.topic, tp->fp.topic_len);
        int32_t np = 0;
        for (size_t i = first_of[t]; i < n; i++)
            np += answer[i] && topic_of[i] == t;
        wire_write_array_len(w, np);
        for (size_t i = first_of[t]; i < n; i++) {
            if (!answer[i] || topic_of[i] != t)
                continue;
            broker_fetch_info_t info;
            size_t got = write_part(f, w, &f->parts[i], &remaining, &first, &info);
            if (s && f->parts[i].session_index != SIZE_MAX) {
                kafka_fetch_session_part_t *sp = &s->parts[f->parts[i].session_index];
                sp->sent_hwm = info.wm.high_watermark;
                sp->sent_lso = info.wm.last_stable_offset;
                sp->sent_log_start = info.wm.log_start_offset;
            }
            if (got) /* returned records: goes last next time */
                returned[nreturned++] = f->parts[i].session_index;
        }
        wire_write_tags(w);
    }
    /* Rotate from the highest index down, so earlier indexes stay valid. */
    for (size_t k = nreturned; s && k-- > 0;)
        if (returned[k] != SIZE_MAX)
            kafka_fetch_session_rotate(s, returned[k]);
    free(returned);
    free(topic_of);
    free(first_of);
}

/* The records' room: min(max_bytes, fetch.max.bytes), as far as the memory budget grants it
 * (held from here until the response is written; the completed response then counts itself). */
static size_t fetch_reserve(fetch_t *f, size_t *want)
{
    int64_t limit = WEIR_MIN((int64_t)f->max_bytes,
                             broker_settings_int(broker_settings(f->pk.b), BCFG_FETCH_MAX_BYTES));
    *want = limit > 0 ? (size_t)limit : 0;
    return net_budget_reserve(net_loop_budget(f->pk.loop), *want);
}

/* Writes the whole response body into resp through w. */
static void fetch_write_body(fetch_t *f, buf_t *resp, wire_writer_t *w,
                             const kafka_listener_t *lst);

static size_t fetch_file_bytes(const fetch_t *f)
{
    return f->zc.slot ? net_slot_file_bytes(f->zc.slot) : 0;
}

/* Writes the whole response body into resp through w; with a consumer_byte_rate quota, charges
 * its size and fills in throttle_time_ms (KIP-219; unlike Kafka, the data is still sent, and
 * the mute that follows brings the rate back to the quota). */
static void fetch_write(fetch_t *f, buf_t *resp, wire_writer_t *w, const kafka_listener_t *lst)
{
    size_t at = resp->len;
    fetch_write_body(f, resp, w, lst);
    if (!f->quota_user)
        return;
    int32_t ms = kafka_quota_charge(f->pk.b, net_conn_closed(f->conn) ? NULL : f->conn,
                                    BROKER_QUOTA_CONSUMER_BYTE_RATE, f->quota_user, f->quota_client,
                                    (double)(resp->len - at + fetch_file_bytes(f)));
    be32_write(resp->data + at, (uint32_t)ms);
}

static void fetch_write_body(fetch_t *f, buf_t *resp, wire_writer_t *w, const kafka_listener_t *lst)
{
    int16_t v = f->pk.version;
    wire_write_i32(w, 0); /* throttle_time_ms, filled in by fetch_write */
    if (v >= 7) {
        wire_write_i16(w, f->session_error);
        wire_write_i32(w, f->session_error ? 0 : f->answer_session_id);
    }
    if (f->session_error) {
        wire_write_array_len(w, 0);
        wire_write_tags(w);
        return;
    }
    size_t want, granted = fetch_reserve(f, &want);
    /* Zero copy leaves the records in the files: the heap holds headers, so the large kept
     * buffer would only be pinned by a slow reader. */
    net_loop_take_buf(f->pk.loop, resp, f->zc.slot ? 0 : granted);
    bool *answer = weir_calloc(f->nparts + 1, sizeof(*answer));
    kafka_fetch_session_t *s = NULL;
    if (f->kind != SESSION_NONE) {
        kafka_fetch_sessions_lock(lst->fetch_sessions);
        s = kafka_fetch_session_find(lst->fetch_sessions, f->answer_session_id);
    }
    for (size_t i = 0; i < f->nparts; i++)
        answer[i] = f->kind != SESSION_INCREMENTAL ||
                    (s && has_news(f, &f->parts[i], &s->parts[f->parts[i].session_index]));
    /* A new session remembers what it answered, as an incremental one does. */
    if (s && f->kind == SESSION_NEW)
        for (size_t i = 0; i < f->nparts; i++)
            f->parts[i].session_index = i < s->n ? i : SIZE_MAX;
    /* max_bytes bounds the answer, the budget's grant only what is copied into it: file ranges
     * (zero copy) take no memory. */
    f->zc.copy_left = granted;
    f->zc.copy_short = false;
    write_topics(f, w, answer, s, want);
    net_budget_t *bud = net_loop_budget(f->pk.loop);
    if (f->zc.copy_short) /* it stopped at the budget's grant, not at max_bytes */
        net_budget_note_shrunk(bud);
    net_budget_release(bud, granted);
    if (s) {
        s->busy = false;
        s->last_used_ms = net_loop_now_ms(f->pk.loop);
    }
    if (f->kind != SESSION_NONE)
        kafka_fetch_sessions_unlock(lst->fetch_sessions);
    free(answer);
    wire_write_tags(w);
}

static void fetch_free(fetch_t *f)
{
    free(f->quota_user);
    free(f->quota_client);
    free(f->parts);
    free(f->wait_parts);
    kafka_park_free(&f->pk);
}

/* On the request's loop, once the broker says the fetch can be answered. */
static void fetch_done(void *arg)
{
    fetch_t *f = arg;
    fetch_write(f, &f->pk.resp, &f->pk.w, f->lst);
    free(f->quota_user);
    free(f->quota_client);
    free(f->parts);
    free(f->wait_parts);
    kafka_park_finish(&f->pk);
}

/* Kafka's check (authz.c): READ on each topic, else TOPIC_AUTHORIZATION_FAILED for its
 * partitions (nothing read). One answer per run of partitions of the same topic. */
static void authorize(const kafka_req_t *req, fetch_t *f)
{
    if (!broker_acl_enabled(req->b))
        return;
    for (size_t i = 0; i < f->nparts; i++) {
        fetch_part_t *p = &f->parts[i];
        const fetch_part_t *prev = i ? &f->parts[i - 1] : NULL;
        bool same = prev && prev->fp.topic_len == p->fp.topic_len &&
                    memcmp(prev->fp.topic, p->fp.topic, p->fp.topic_len) == 0;
        bool denied = same ? prev->denied
                           : !kafka_authz(req, KAFKA_RESOURCE_TOPIC, p->fp.topic, p->fp.topic_len,
                                          KAFKA_ACL_OP_READ);
        p->denied = denied;
        if (denied)
            p->error = KAFKA_TOPIC_AUTHORIZATION_FAILED;
    }
}

int kafka_handle_fetch(kafka_req_t *req)
{
    fetch_t *f = kafka_park_new(req, sizeof(*f));
    fetch_req_t q = {0};
    int rc = decode(&req->r, f, &q);
    if (rc == 0)
        plan(f, &q, req->lst);
    free(q.parts);
    free(q.forgotten);
    if (rc < 0) {
        fetch_free(f);
        return -WEIR_EINVAL;
    }
    f->lst = req->lst;
    f->conn = req->conn;
    /* TLS keeps the copy: the bytes must pass through OpenSSL (no kTLS here). */
    if (!net_conn_is_tls(req->conn) &&
        broker_settings_int(broker_settings(req->b), BCFG_FETCH_ZERO_COPY))
        f->zc.slot = req->slot;
    kafka_quota_identity(req, BROKER_QUOTA_CONSUMER_BYTE_RATE, &f->quota_user, &f->quota_client);
    authorize(req, f);
    bool error_first = false;
    for (size_t i = 0; i < f->nparts && !error_first; i++)
        error_first = f->parts[i].error != 0;
    broker_fetch_wait_req_t wr = {.min_bytes = f->min_bytes,
                                  .max_wait_ms =
                                      f->session_error || error_first ? 0 : f->max_wait_ms,
                                  .nparts = f->nparts,
                                  .parts = f->wait_parts,
                                  .loop = f->pk.loop,
                                  .done = fetch_done,
                                  .arg = f};
    if (!broker_fetch_wait(req->b, &wr))
        return kafka_park_take(req, &f->pk); /* fetch_done answers */
    fetch_write(f, &req->resp, &req->w, req->lst);
    fetch_free(f);
    return KAFKA_RESPOND;
}
