/*
 * coord_log.c: __consumer_offsets on the partition log (see coord.h).
 *
 * A write turns the coordinator's records into one v2 batch (storage_batch_build), appends it
 * to the group's partition (broker_coord_partition_for) and registers a durability callback for its
 * end offset. The callback comes on the storage flusher thread; it only posts the completion
 * to the coordinator thread, which is where the coordinator's done callback runs. So a commit
 * is acknowledged only once its record is fdatasynced, and the coordinator's state is touched
 * by its own thread only.
 *
 * Loading replays every record of every partition in log order through
 * broker_coord_replay_record: later records of a key replace earlier ones and tombstones delete,
 * which is the same result compaction leaves on disk.
 *
 * Invariant: every write calls `done` exactly once (an append that fails does so at once, with
 * the error); writes_pending counts the writes whose callback has not run yet.
 */
#include "broker/coord.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>

struct broker_coord_log {
    broker_coord_log_config_t cfg;
    _Atomic size_t pending;
};

typedef struct {
    broker_coord_log_t *ol;
    broker_coord_write_done_fn done;
    void *arg;
    int err;
} coord_log_write_t;

int broker_coord_log_new(const broker_coord_log_config_t *cfg, broker_coord_log_t **out)
{
    if ((!cfg->logs && !cfg->acquire) || cfg->count <= 0 || !cfg->post)
        return -WEIR_EINVAL;
    broker_coord_log_t *ol = weir_calloc(1, sizeof(*ol));
    ol->cfg = *cfg;
    ol->cfg.logs = NULL;
    if (cfg->logs) {
        ol->cfg.logs = weir_calloc((size_t)cfg->count, sizeof(*ol->cfg.logs));
        memcpy(ol->cfg.logs, cfg->logs, (size_t)cfg->count * sizeof(*cfg->logs));
    }
    if (!ol->cfg.max_decompressed_bytes)
        ol->cfg.max_decompressed_bytes = 64u << 20;
    atomic_init(&ol->pending, 0);
    *out = ol;
    return 0;
}

void broker_coord_log_free(broker_coord_log_t *ol)
{
    if (!ol)
        return;
    WEIR_ASSERT(atomic_load(&ol->pending) == 0);
    free(ol->cfg.logs);
    free(ol);
}

size_t broker_coord_log_writes_pending(broker_coord_log_t *ol)
{
    return atomic_load(&ol->pending);
}

/* On the coordinator thread. */
static void write_complete(void *arg)
{
    coord_log_write_t *w = arg;
    atomic_fetch_sub(&w->ol->pending, 1);
    w->done(w->arg, w->err);
    free(w);
}

/* On the flusher thread (or the appending thread if already durable): hand over. */
static void write_durable(void *arg, int err)
{
    coord_log_write_t *w = arg;
    w->err = err;
    w->ol->cfg.post(w->ol->cfg.ctx, write_complete, w);
}

static storage_log_t *log_acquire(broker_coord_log_t *ol, int32_t part)
{
    return ol->cfg.acquire ? ol->cfg.acquire(ol->cfg.ctx, part) : ol->cfg.logs[part];
}

static void log_release(broker_coord_log_t *ol)
{
    if (ol->cfg.release)
        ol->cfg.release(ol->cfg.ctx);
}

void broker_coord_log_write(void *ctx, const char *group_id, const broker_coord_record_t *recs,
                            size_t n, broker_coord_write_done_fn done, void *arg)
{
    broker_coord_log_write_batch(ctx, group_id, recs, n, NULL, done, arg);
}

void broker_coord_log_write_batch(broker_coord_log_t *ol, const char *group_id,
                                  const broker_coord_record_t *recs, size_t n,
                                  const storage_batch_opts_t *opts, broker_coord_write_done_fn done,
                                  void *arg)
{
    WEIR_ASSERT(n > 0);
    int32_t part = broker_coord_partition_for(group_id, ol->cfg.count);
    storage_log_t *log = log_acquire(ol, part);
    if (!log || storage_log_offline(log)) {
        log_release(ol);
        done(arg, -WEIR_EOFFLINE);
        return;
    }
    storage_record_in_t *in = weir_calloc(n, sizeof(*in));
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < n; i++)
        in[i] = (storage_record_in_t){.key = recs[i].key,
                                      .key_len = (int32_t)recs[i].key_len,
                                      .value = recs[i].value,
                                      .value_len = recs[i].value_len,
                                      .timestamp = now};
    buf_t batch = {0};
    storage_batch_build(&batch, in, n, opts);
    free(in);
    int64_t base;
    int rc = ol->cfg.append ? ol->cfg.append(ol->cfg.ctx, part, log, batch.data, batch.len, &base)
                            : storage_log_append(log, batch.data, batch.len, &base);
    buf_deinit(&batch);
    if (rc < 0) {
        log_release(ol);
        log_warn_limited("group", "append to %s-%d: %s",
                         ol->cfg.topic ? ol->cfg.topic : "__consumer_offsets", part,
                         weir_strerror(rc));
        done(arg, rc);
        return;
    }
    if (ol->cfg.appended)
        ol->cfg.appended(ol->cfg.ctx, part);
    coord_log_write_t *w = weir_calloc(1, sizeof(*w));
    w->ol = ol;
    w->done = done;
    w->arg = arg;
    atomic_fetch_add(&ol->pending, 1);
    storage_log_on_durable(log, base + (int64_t)n, write_durable, w);
    log_release(ol);
}

typedef struct {
    broker_coord_log_t *ol;
    broker_coord_log_record_fn on_record;
    broker_coord_log_marker_fn on_marker;
    void *arg;
    int32_t part;
    storage_record_iter_t it;
    bool it_init;
    uint64_t records, bad;
} log_load_t;

static const char *topic_of(const broker_coord_log_t *ol)
{
    return ol->cfg.topic ? ol->cfg.topic : "__consumer_offsets";
}

static int load_batch(void *arg, const storage_batch_header_t *h, const uint8_t *batch,
                      size_t total)
{
    log_load_t *ld = arg;
    size_t max = ld->ol->cfg.max_decompressed_bytes;
    int rc = ld->it_init ? storage_record_iter_reset(&ld->it, batch, total, max)
                         : storage_record_iter_init(&ld->it, batch, total, max);
    ld->it_init = true;
    storage_record_t rec;
    if (h->attributes & BATCH_CONTROL) { /* a transaction marker */
        if (rc == 0 && storage_record_iter_next(&ld->it, &rec) == 1 && rec.key &&
            rec.key_len >= 4 && be16_read(rec.key) == 0 && ld->on_marker)
            ld->on_marker(ld->arg, h, (int16_t)be16_read((const uint8_t *)rec.key + 2));
        return 0;
    }
    while (rc == 0 && (rc = storage_record_iter_next(&ld->it, &rec)) == 1) {
        ld->records++;
        if (ld->on_record(ld->arg, h, &rec) < 0)
            ld->bad++;
        rc = 0;
    }
    if (rc < 0) {
        log_warn("group", "%s-%d: unreadable batch at offset %" PRId64 ": %s", topic_of(ld->ol),
                 ld->part, h->base_offset, weir_strerror(rc));
        ld->bad++;
    }
    return 0;
}

int broker_coord_log_replay(broker_coord_log_t *ol, broker_coord_log_record_fn on_record,
                            broker_coord_log_marker_fn on_marker, void *arg)
{
    uint64_t records = 0, bad = 0;
    for (int32_t i = 0; i < ol->cfg.count; i++) {
        storage_log_t *log = log_acquire(ol, i);
        if (!log) {
            log_release(ol);
            continue;
        }
        log_load_t ld = {
            .ol = ol, .on_record = on_record, .on_marker = on_marker, .arg = arg, .part = i};
        int rc = storage_log_scan(log, storage_log_start_offset(log), load_batch, &ld);
        log_release(ol);
        if (ld.it_init)
            storage_record_iter_deinit(&ld.it);
        records += ld.records;
        bad += ld.bad;
        if (rc < 0) {
            log_error("group", "%s-%d cannot be read: %s", topic_of(ol), i, weir_strerror(rc));
            return rc;
        }
    }
    if (bad)
        log_warn("group", "%s: %" PRIu64 " malformed records skipped", topic_of(ol), bad);
    log_info("group", "%s: replayed %" PRIu64 " records", topic_of(ol), records);
    return 0;
}

static int group_record(void *arg, const storage_batch_header_t *h, const storage_record_t *rec)
{
    size_t klen = rec->key_len < 0 ? 0 : (size_t)rec->key_len;
    if (h->producer_id >= 0 && (h->attributes & BATCH_TRANSACTIONAL))
        return broker_coord_replay_txn_record(arg, h->producer_id, rec->key, klen, rec->value,
                                              rec->value_len);
    return broker_coord_replay_record(arg, rec->key, klen, rec->value, rec->value_len);
}

/* A commit or abort marker: the producer's pending transactional offsets are decided. */
static void group_marker(void *arg, const storage_batch_header_t *h, int16_t type)
{
    if (type == 0 || type == 1)
        broker_coord_txn_complete(arg, h->producer_id, type == 1);
}

int broker_coord_log_load(broker_coord_log_t *ol, broker_coord_t *c)
{
    return broker_coord_log_replay(ol, group_record, group_marker, c);
}
