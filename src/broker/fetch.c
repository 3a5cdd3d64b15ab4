/*
 * The fetch path: whole batches from a partition's log into a response buffer, the partition
 * watches that wake waiting fetches when data arrives, and the long-poll wait itself.
 *
 * Reading never parses records: storage_log_read gives a file range of whole batches starting
 * at the batch that holds the offset, storage_slice_pread copies it straight into the
 * response, and only batch headers are looked at (to continue into the next segment, to
 * stop before zstd batches for Fetch < v10, and to stop at the LSO for read_committed).
 *
 * Zero copy (weir.fetch.zero.copy, plaintext listeners): a range whose batches this process
 * has verified (storage's sendfile_ok) and that needs no cut (wholly below the LSO, no zstd
 * batch for an old client) is not copied: it becomes a file range of the response's slot,
 * which the connection sends with sendfile, holding the file open until then. Everything
 * else takes the copy, and storage_slice_pread verifies it, so a batch that fails its CRC is
 * still never served.
 *
 * read_committed: the last stable offset is the first offset of a transaction still open in
 * the partition (producer_state.c publishes it before the transaction's first batch is
 * appended), else the high watermark. Such a fetch returns only batches below it, with the
 * aborted transactions overlapping them (the log's aborted-transaction index), from which the
 * client drops aborted records. Markers wake waiting fetches like any append.
 *
 * Waiting: a fetch is answered at once when it has min_bytes of data, any partition error,
 * max_wait_ms <= 0, or the broker is stopping. Otherwise it registers a watch on each of its
 * partitions, looks once more (an append may have slipped in between), and waits for a wake
 * from the append path (broker_watches_notify -> wait_notify posts wait_on_wake to the
 * fetch's loop) or for its max_wait_ms timer, whichever comes first. It is never woken by
 * polling. A wait lives on its loop thread; wait_notify runs on appending threads with a
 * partition's watch_mu held and only posts; refs counts the posted wakes plus the wait's own
 * reference, and the wait is freed on its loop when they are all gone.
 *
 * Watches: p->watches is a list under p->watch_mu; p->nwatches mirrors its length so the
 * append path skips the lock when nobody waits. A watch registers (nwatches++, a full barrier)
 * and then looks at the log again; an appender appends and then (after a full barrier) reads
 * nwatches. One of the two sees the other, so no wake-up is lost.
 */
#include "broker/broker_internal.h"
#include "broker/producer_state.h"

#include <stdio.h>
#include <stdlib.h>

void broker_watch_add(broker_partition_t *p, broker_watch_t *w)
{
    WEIR_ASSERT(w->part == NULL);
    pthread_mutex_lock(&p->watch_mu);
    w->part = p;
    w->prev = NULL;
    w->next = p->watches;
    if (p->watches)
        p->watches->prev = w;
    p->watches = w;
    atomic_fetch_add(&p->nwatches, 1);
    pthread_mutex_unlock(&p->watch_mu);
}

void broker_watch_remove(broker_watch_t *w)
{
    broker_partition_t *p = w->part;
    if (!p)
        return;
    pthread_mutex_lock(&p->watch_mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        p->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->part = NULL;
    atomic_fetch_sub(&p->nwatches, 1);
    pthread_mutex_unlock(&p->watch_mu);
}

void broker_watches_notify(broker_partition_t *p)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&p->nwatches) == 0)
        return;
    pthread_mutex_lock(&p->watch_mu);
    for (broker_watch_t *w = p->watches; w; w = w->next)
        w->notify(w->owner);
    pthread_mutex_unlock(&p->watch_mu);
}

int64_t broker_partition_hwm(broker_partition_t *p)
{
    return p->log ? storage_log_end_offset(p->log) : -1;
}

int64_t broker_partition_lso(broker_partition_t *p)
{
    /* The end first: an opening transaction is published before its batch moves the end. */
    int64_t hwm = broker_partition_hwm(p);
    int64_t first = p->producers ? broker_producer_state_first_unstable(p->producers) : -1;
    return first >= 0 && first < hwm ? first : hwm;
}

int64_t broker_partition_log_start(broker_partition_t *p)
{
    return p->log ? storage_log_start_offset(p->log) : -1;
}

int64_t broker_fetch_available(broker_partition_t *p, int64_t offset, size_t max_bytes,
                               bool read_committed)
{
    if (!p->log || storage_log_offline(p->log))
        return -1;
    if (read_committed && offset >= broker_partition_lso(p))
        return 0; /* (a slice below the LSO may reach past it: counted whole, answered early) */
    storage_slice_t s;
    if (storage_log_read(p->log, offset, max_bytes ? max_bytes : 1, &s) < 0)
        return -1;
    int64_t n = (int64_t)s.len;
    storage_slice_release(p->log, &s);
    return n;
}

/* Walks the batch headers of [p, p+len): the bytes up to the first zstd batch (all of them
 * when zstd is allowed) or the first batch at or past `upto`, the offset after the last batch
 * kept, and (added to *records) the records those batches hold. */
static size_t scan_batches(const uint8_t *p, size_t len, bool allow_zstd, int64_t upto,
                           int64_t *next, uint64_t *records)
{
    size_t off = 0;
    while (off < len) {
        storage_batch_header_t h;
        size_t total;
        if (storage_batch_header_read(p + off, len - off, &h, &total) < 0)
            break;
        if (!allow_zstd && (h.attributes & BATCH_COMPRESSION_MASK) == CODEC_ZSTD)
            break;
        if (h.base_offset >= upto)
            break;
        *next = h.base_offset + h.last_offset_delta + 1;
        *records += h.record_count > 0 ? (uint64_t)h.record_count : 0;
        off += total;
    }
    return off;
}

/* True when the slice may go from its file as it is: verified by this process (the guarantee
 * that a batch failing its CRC is never served rests on that check), all of it below `end`,
 * and no zstd batch the client cannot read. Anything else is copied and verified. */
static bool slice_sendable(const storage_slice_t *s, bool allow_zstd, int64_t end)
{
    return s->sendfile_ok && s->next_offset <= end && (allow_zstd || !s->compressed_zstd);
}

/* Hands the slice's file range, and its reference on the file, to the response's slot: sent
 * where the response's heap bytes reach `at`, released once sent. */
static void slice_to_slot(net_slot_t *slot, size_t at, storage_slice_t *s)
{
    int fd = s->fd;
    uint64_t pos = s->pos;
    size_t len = s->len;
    net_slot_add_file(slot, at, fd, pos, len, storage_file_release, storage_slice_take_file(s));
}

/* The slice at cur, up to budget bytes: *from_file when it may go from the file (zero copy),
 * else one that fits the memory left for copies (KIP-74's first batch whole in any case); an
 * empty one when nothing fits. */
static int next_slice(storage_log_t *log, int64_t cur, size_t budget, bool whole_first,
                      broker_zero_copy_t *zc, bool allow_zstd, int64_t end, storage_slice_t *s,
                      bool *from_file)
{
    *from_file = false;
    int rc = storage_log_read(log, cur, budget ? budget : 1, s);
    if (rc < 0 || s->len == 0 || !zc)
        return rc;
    if (zc->slot && slice_sendable(s, allow_zstd, end)) {
        *from_file = true;
        return 0;
    }
    if (s->len <= zc->copy_left)
        return 0;
    storage_slice_release(log, s); /* leaves it empty */
    zc->copy_short = true;
    if (zc->copy_left == 0 && !whole_first)
        return 0;
    rc = storage_log_read(log, cur, zc->copy_left ? zc->copy_left : 1, s);
    if (rc == 0 && s->len > zc->copy_left && !whole_first) /* its first batch alone is larger */
        storage_slice_release(log, s);
    return rc;
}

/* Reads whole batches of p from offset into out, below `upto` (the LSO for read_committed);
 * *next is the offset after the last batch read (registry read lock held). With a zero_copy
 * slot, verified batches become file ranges of that slot instead of bytes in out. */
static int16_t read_partition(broker_partition_t *p, int64_t offset, size_t max_bytes, bool first,
                              bool allow_zstd, int64_t upto, broker_zero_copy_t *zero_copy,
                              buf_t *out, size_t *got, int64_t *next_out)
{
    *got = 0;
    *next_out = offset;
    storage_log_t *log = p->log;
    if (!log || storage_log_offline(log))
        return KAFKA_KAFKA_STORAGE_ERROR;
    int64_t start = storage_log_start_offset(log), end = storage_log_end_offset(log);
    if (offset < start || offset > end)
        return KAFKA_OFFSET_OUT_OF_RANGE;
    end = WEIR_MIN(end, upto);
    int16_t err = KAFKA_NONE;
    size_t total = 0;
    uint64_t records = 0;
    int64_t cur = offset;
    while (cur < end) {
        size_t budget = max_bytes > total ? max_bytes - total : 0;
        bool whole_first = first && total == 0;
        if (budget == 0 && !whole_first)
            break;
        storage_slice_t s;
        bool from_file;
        int rc =
            next_slice(log, cur, budget, whole_first, zero_copy, allow_zstd, end, &s, &from_file);
        if (rc < 0) { /* retention moved the start past cur meanwhile */
            if (total == 0)
                err = rc == -WEIR_ERANGE ? KAFKA_OFFSET_OUT_OF_RANGE : KAFKA_KAFKA_STORAGE_ERROR;
            break;
        }
        if (s.len == 0 || (s.len > budget && !whole_first)) {
            storage_slice_release(log, &s);
            break;
        }
        if (from_file) {
            *next_out = cur = s.next_offset;
            total += s.len;
            records += s.records;
            slice_to_slot(zero_copy->slot, out->len, &s);
            continue;
        }
        size_t slen = s.len; /* release clears the slice */
        uint8_t *dst = buf_extend(out, slen);
        rc = storage_slice_pread(log, &s, dst);
        storage_slice_release(log, &s);
        if (rc < 0) {
            out->len -= slen;
            if (total == 0)
                err = KAFKA_KAFKA_STORAGE_ERROR;
            break;
        }
        int64_t next = cur;
        size_t kept = scan_batches(dst, slen, allow_zstd, end, &next, &records);
        out->len -= slen - kept;
        total += kept;
        if (zero_copy)
            zero_copy->copy_left -= WEIR_MIN(kept, zero_copy->copy_left);
        if (kept)
            *next_out = next;
        if (kept == 0) {
            if (total == 0 && !allow_zstd)
                err = KAFKA_UNSUPPORTED_COMPRESSION_TYPE;
            break;
        }
        if (kept < slen || next <= cur)
            break;
        cur = next;
    }
    *got = total;
    metric_counter_add(&p->topic->m.fetch_bytes, total);
    metric_counter_add(&p->topic->m.fetch_records, records);
    return err;
}

static void watermarks_of(broker_partition_t *p, broker_watermarks_t *wm)
{
    /* One read of the end for both: the LSO never passes the HWM it is reported with. */
    int64_t hwm = broker_partition_hwm(p);
    int64_t first = p->producers ? broker_producer_state_first_unstable(p->producers) : -1;
    wm->high_watermark = hwm;
    wm->last_stable_offset = first >= 0 && first < hwm ? first : hwm;
    wm->log_start_offset = broker_partition_log_start(p);
}

/* The aborted transactions overlapping [from, upper) (registry read lock held). */
static void collect_aborted(broker_partition_t *p, int64_t from, int64_t upper,
                            broker_fetch_info_t *info)
{
    storage_aborted_txn_t *v;
    size_t n = storage_log_aborted_collect(p->log, from, upper, &v);
    if (n == 0)
        return;
    info->aborted = weir_malloc(n * sizeof(*info->aborted));
    for (size_t i = 0; i < n; i++)
        info->aborted[i] = (broker_aborted_txn_t){v[i].producer_id, v[i].first_offset};
    info->naborted = n;
    free(v);
}

void broker_fetch_read(broker_t *b, const broker_fetch_part_t *part, size_t max_bytes, bool first,
                       bool allow_zstd, broker_zero_copy_t *zero_copy, buf_t *out, size_t *got,
                       broker_fetch_info_t *info)
{
    *got = 0;
    info->naborted = 0;
    info->aborted = NULL;
    broker_topics_rdlock(b);
    broker_partition_t *p = broker_partition_find(b, part->topic, part->topic_len, part->partition);
    if (!p) {
        info->error_code = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
        info->wm = (broker_watermarks_t){-1, -1, -1};
    } else {
        watermarks_of(p, &info->wm);
        int64_t upto = part->read_committed ? info->wm.last_stable_offset : INT64_MAX;
        int64_t next;
        info->error_code = read_partition(p, part->offset, max_bytes, first, allow_zstd, upto,
                                          zero_copy, out, got, &next);
        if (info->error_code) /* Kafka answers -1 watermarks with a partition error */
            info->wm = (broker_watermarks_t){-1, -1, -1};
        else if (part->read_committed && *got)
            collect_aborted(p, part->offset, next, info);
    }
    broker_topics_unlock(b);
}

int broker_partition_peek(broker_t *b, const char *topic, size_t len, int32_t partition,
                          int64_t offset, bool read_committed, broker_watermarks_t *out,
                          bool *has_data)
{
    int rc = 0;
    *has_data = false;
    broker_topics_rdlock(b);
    broker_partition_t *p = broker_partition_find(b, topic, len, partition);
    if (!p) {
        rc = -WEIR_ENOENT;
    } else if (!p->log || storage_log_offline(p->log)) {
        rc = -WEIR_EOFFLINE;
    } else {
        watermarks_of(p, out);
        /* < 0: an error to answer */
        *has_data = broker_fetch_available(p, offset, 1, read_committed) != 0;
    }
    broker_topics_unlock(b);
    return rc;
}

int broker_topic_name_of(broker_t *b, const uint8_t id[16], char *out, size_t cap)
{
    broker_topics_rdlock(b);
    broker_topic_t *t = broker_topic_find_id(b, id);
    if (t)
        snprintf(out, cap, "%s", t->name);
    broker_topics_unlock(b);
    return t ? 0 : -WEIR_ENOENT;
}

int broker_partition_watermarks(broker_t *b, const char *topic, size_t len, int32_t partition,
                                broker_watermarks_t *out)
{
    int rc = 0;
    broker_topics_rdlock(b);
    broker_partition_t *p = broker_partition_find(b, topic, len, partition);
    if (!p)
        rc = -WEIR_ENOENT;
    else if (!p->log || storage_log_offline(p->log))
        rc = -WEIR_EOFFLINE;
    else
        watermarks_of(p, out);
    broker_topics_unlock(b);
    return rc;
}

/* Kafka answers a time lookup with the exact record: the first batch (in offset order) whose
 * max timestamp reaches ts, then the first record in it whose own timestamp does. The time
 * index finds the batch; the records of that one batch are read here. */
/* From the batch at *offset (whose max timestamp is *timestamp), the first record at or past
 * *offset whose own timestamp reaches ts. Without a readable batch, the batch-level answer
 * stands: it is still a correct lower bound. */
static void refine_to_record(broker_t *b, broker_partition_t *p, int64_t ts, int64_t *offset,
                             int64_t *timestamp)
{
    int64_t off = *offset;
    storage_slice_t s;
    if (storage_log_read(p->log, off, 1, &s) < 0 || s.len == 0)
        return;
    uint8_t *batch = weir_malloc(s.len);
    size_t slen = s.len;
    int rc = storage_slice_pread(p->log, &s, batch);
    storage_slice_release(p->log, &s);
    storage_batch_header_t h;
    size_t total;
    if (rc < 0 || storage_batch_header_read(batch, slen, &h, &total) < 0 ||
        (h.attributes & BATCH_TIMESTAMP_LOG_APPEND)) {
        free(batch); /* LogAppendTime: every record has the batch's time */
        return;
    }
    storage_record_iter_t it;
    if (storage_record_iter_init(
            &it, batch, total, (size_t)broker_settings_int(&b->set, BCFG_MAX_DECOMPRESSED_BYTES)) ==
        0) {
        storage_record_t rec;
        while (storage_record_iter_next(&it, &rec) == 1) {
            int64_t roff = h.base_offset + rec.offset_delta;
            int64_t rts = h.base_timestamp + rec.timestamp_delta;
            if (roff >= off && rts >= ts) {
                *offset = roff;
                *timestamp = rts;
                break;
            }
        }
    }
    storage_record_iter_deinit(&it);
    free(batch);
}

/* Kafka answers a time lookup with the exact record: the first batch (in offset order) whose
 * max timestamp reaches ts, then the first record in it whose own timestamp does; for -3
 * (KIP-734), the first record with the largest timestamp. The time index finds the batch. */
static int offset_for_time(broker_t *b, broker_partition_t *p, int64_t ts, int64_t *offset,
                           int64_t *timestamp)
{
    int rc = ts == BROKER_TS_MAX ? storage_log_max_timestamp(p->log, offset, timestamp)
                                 : storage_log_offset_for_time(p->log, ts, offset, timestamp);
    if (rc == 0)
        refine_to_record(b, p, ts == BROKER_TS_MAX ? *timestamp : ts, offset, timestamp);
    return rc;
}

int broker_offset_for_time(broker_t *b, const char *topic, size_t len, int32_t partition,
                           int64_t ts, int64_t *offset, int64_t *timestamp)
{
    int rc;
    broker_topics_rdlock(b);
    broker_partition_t *p = broker_partition_find(b, topic, len, partition);
    if (!p)
        rc = -WEIR_ENOENT;
    else if (!p->log || storage_log_offline(p->log))
        rc = -WEIR_EOFFLINE;
    else
        rc = offset_for_time(b, p, ts, offset, timestamp);
    broker_topics_unlock(b);
    return rc == -WEIR_ENOENT && p ? -WEIR_ERANGE : rc;
}

/* ---- waiting fetches ---------------------------------------------------------------------------
 */

struct broker_fetch_wait {
    broker_t *b;
    broker_fetch_wait_req_t req;
    broker_topic_t **topics; /* per part: referenced while waiting (NULL if unknown) */
    broker_watch_t *watches; /* per part */
    net_timer_t timer;
    _Atomic bool wake_pending;
    _Atomic int refs; /* the wait's own reference + posted wakes */
    bool done;
};

/* True if the fetch should be answered now. Registry read lock held. */
static bool fetch_ready(broker_t *b, const broker_fetch_wait_req_t *req)
{
    if (req->max_wait_ms <= 0 || atomic_load(&b->stopping))
        return true;
    int64_t avail = 0;
    for (size_t i = 0; i < req->nparts; i++) {
        const broker_fetch_part_t *fp = &req->parts[i];
        broker_partition_t *p = broker_partition_find(b, fp->topic, fp->topic_len, fp->partition);
        if (!p)
            return true; /* an error to report */
        int64_t n = broker_fetch_available(
            p, fp->offset, fp->max_bytes > 0 ? (size_t)fp->max_bytes : 1, fp->read_committed);
        if (n < 0)
            return true;
        avail += n;
        if (avail >= req->min_bytes && avail > 0)
            return true;
    }
    return req->min_bytes <= 0;
}

static void wait_unref(broker_fetch_wait_t *fw)
{
    if (atomic_fetch_sub(&fw->refs, 1) != 1)
        return;
    free(fw->topics);
    free(fw->watches);
    free(fw);
}

static void wait_on_wake(void *arg);

/* Appending thread, p->watch_mu held: one posted wake at a time per wait. */
static void wait_notify(void *owner)
{
    broker_fetch_wait_t *fw = owner;
    if (atomic_exchange(&fw->wake_pending, true))
        return;
    atomic_fetch_add(&fw->refs, 1);
    net_loop_post(fw->req.loop, wait_on_wake, fw);
}

/* Registers a watch on every known partition (registry read lock held). */
static void wait_watch(broker_fetch_wait_t *fw)
{
    broker_t *b = fw->b;
    for (size_t i = 0; i < fw->req.nparts; i++) {
        const broker_fetch_part_t *fp = &fw->req.parts[i];
        broker_topic_t *t = broker_topic_find(b, fp->topic, fp->topic_len);
        if (!t || fp->partition < 0 || fp->partition >= t->npart)
            continue;
        broker_topic_ref(t);
        fw->topics[i] = t;
        fw->watches[i].notify = wait_notify;
        fw->watches[i].owner = fw;
        broker_watch_add(t->parts[fp->partition], &fw->watches[i]);
    }
}

static void wait_unwatch(broker_fetch_wait_t *fw)
{
    for (size_t i = 0; i < fw->req.nparts; i++) {
        broker_watch_remove(&fw->watches[i]);
        if (fw->topics[i]) {
            broker_topic_unref(fw->topics[i]);
            fw->topics[i] = NULL;
        }
    }
}

/* Loop thread: stop waiting and hand the fetch back. */
static void wait_finish(broker_fetch_wait_t *fw)
{
    fw->done = true;
    wait_unwatch(fw);
    net_timer_stop(fw->req.loop, &fw->timer);
    broker_parked_dec(fw->b);
    fw->req.done(fw->req.arg);
    wait_unref(fw);
}

static void wait_on_wake(void *arg)
{
    broker_fetch_wait_t *fw = arg;
    atomic_store(&fw->wake_pending, false);
    if (!fw->done) {
        broker_topics_rdlock(fw->b);
        bool ready = fetch_ready(fw->b, &fw->req);
        broker_topics_unlock(fw->b);
        if (ready)
            wait_finish(fw);
    }
    wait_unref(fw);
}

static void wait_on_timeout(void *arg)
{
    broker_fetch_wait_t *fw = arg;
    if (!fw->done)
        wait_finish(fw);
}

bool broker_fetch_wait(broker_t *b, const broker_fetch_wait_req_t *req)
{
    broker_topics_rdlock(b);
    if (fetch_ready(b, req)) {
        broker_topics_unlock(b);
        return true;
    }
    broker_fetch_wait_t *fw = weir_calloc(1, sizeof(*fw));
    fw->b = b;
    fw->req = *req;
    fw->topics = weir_calloc(req->nparts + 1, sizeof(*fw->topics));
    fw->watches = weir_calloc(req->nparts + 1, sizeof(*fw->watches));
    atomic_init(&fw->refs, 1);
    atomic_init(&fw->wake_pending, false);
    net_timer_init(&fw->timer, wait_on_timeout, fw);
    wait_watch(fw);
    bool ready = fetch_ready(b, req); /* an append between the two looks is not lost */
    if (ready)
        wait_unwatch(fw);
    broker_topics_unlock(b);
    if (ready) {
        fw->done = true; /* a wake posted meanwhile finds it done */
        wait_unref(fw);
        return true;
    }
    broker_parked_inc(b);
    net_timer_start(req->loop, &fw->timer, req->max_wait_ms);
    return false;
}
