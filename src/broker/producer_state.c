/*
 * producer_state.c: idempotent-producer state per partition, and producer id allocation (see
 * producer_state.h).
 *
 * Per partition, a map from producer id to its entry: the current epoch and the last
 * BROKER_PRODUCER_BATCHES batches (first and last sequence, first offset, offset delta, max
 * timestamp), oldest first. A batch passes when its producer is new and it starts at sequence
 * 0, or its epoch is newer and it starts at 0, or it continues the last batch's sequence
 * (wrapping from INT32_MAX to 0); a batch equal to one of the cached ones is a duplicate.
 *
 * Invariant: the state reflects exactly the batches of the log below the offset it was last
 * updated at. A snapshot file records that offset; at open, a snapshot above the recovered log
 * end (the log lost its tail in a crash) is discarded, so the state never remembers a batch
 * the log does not hold.
 *
 * Transactions: a producer's open transaction in this partition is its entry's txn_first (the
 * offset of its first batch here); `open` lists the open ones by that offset, oldest first, so
 * the first unstable offset is open[0] (published in an atomic for lock-free readers, and to
 * the log for compaction). New transactions start at the log end, so they are appended to
 * `open` in order. A producer with an open transaction is never expired or evicted.
 *
 * Snapshot file (big-endian): "WPS2", crc32c u32 of everything after it, offset i64,
 * count u32, then per producer: pid i64, epoch i16, nbatches u8, txn_first i64,
 * coordinator_epoch i32, marker_ts i64, then nbatches times first_seq i32, last_seq i32,
 * first_offset i64, offset_delta i32, timestamp i64. "WPS1" files (no txn_first, coordinator_epoch)
 * still load. Before a snapshot is written, the log's aborted-transaction index is synced: the
 * snapshot says the markers below it need no replay, so their index entries must be on disk.
 */
#include "broker/producer_state.h"

#include "broker/kvmap.h"
#include "kafka/wire/wire.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int32_t first_seq, last_seq;
    int64_t first_offset;
    int32_t offset_delta;
    int64_t timestamp;
} pbatch_t;

typedef struct {
    int64_t pid;
    int16_t epoch;
    int nbatches;
    pbatch_t batches[BROKER_PRODUCER_BATCHES]; /* oldest first */
    int64_t txn_first;                         /* first offset of its open transaction here, -1 */
    int32_t coordinator_epoch;                 /* of its last marker, -1 */
    int64_t marker_ts;                         /* timestamp of its last marker, INT64_MIN if none */
} pentry_t;

typedef struct {
    int64_t first;
    int64_t pid;
} open_txn_t;

struct broker_producer_state {
    pthread_mutex_t mu;
    storage_io_t *io;
    storage_log_t *log;
    char *dir;
    open_txn_t *open; /* open transactions by first offset */
    size_t nopen, capopen;
    _Atomic int64_t first_unstable;
    broker_producer_state_config_t cfg;
    broker_kvmap_t producers; /* be64(pid) -> pentry_t */
    int64_t last_snapshot;    /* offset of the newest snapshot written or loaded, -1 */
    int64_t loaded_snapshot;
    uint64_t replayed;
};

enum { SNAP_HEADER = 4 + 4 + 8 + 4, SNAP_BATCH = 4 + 4 + 8 + 4 + 8 };
enum { SNAP_ENTRY_V1 = 8 + 2 + 1, SNAP_ENTRY = 8 + 2 + 1 + 8 + 4 + 8 };
enum { SNAP_KEEP = 2 }; /* snapshots kept on disk */
static const char SNAP_MAGIC[4] = {'W', 'P', 'S', '2'};
static const char SNAP_MAGIC_V1[4] = {'W', 'P', 'S', '1'};

void broker_producer_state_config_default(broker_producer_state_config_t *cfg)
{
    cfg->snapshot_interval_offsets = 100000;
    cfg->expiration_ms = 86400000;
    cfg->max_producers = 100000;
}

/* Sequences live in [0, INT32_MAX] and wrap to 0. */
static int32_t seq_add(int32_t seq, int64_t n)
{
    int64_t v = ((int64_t)seq + n) % ((int64_t)INT32_MAX + 1);
    return (int32_t)(v < 0 ? v + (int64_t)INT32_MAX + 1 : v);
}

static pentry_t *entry_find(broker_producer_state_t *ps, int64_t pid)
{
    uint8_t k[8];
    be64_write(k, (uint64_t)pid);
    return broker_kvmap_get(&ps->producers, k, 8);
}

static void entry_remove(broker_producer_state_t *ps, int64_t pid)
{
    uint8_t k[8];
    be64_write(k, (uint64_t)pid);
    free(broker_kvmap_del(&ps->producers, k, 8));
}

/* Its last activity: its newest batch or marker (INT64_MIN: none known). */
static int64_t entry_last_ts(const pentry_t *e)
{
    int64_t ts = e->nbatches ? e->batches[e->nbatches - 1].timestamp : INT64_MIN;
    return WEIR_MAX(ts, e->marker_ts);
}

/* At the bound, the producer idle longest is forgotten (its next batch, if any, then gets
 * UNKNOWN_PRODUCER_ID unless it starts a new sequence): memory stays bounded. */
static void evict_oldest(broker_producer_state_t *ps)
{
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &ps->producers);
    pentry_t *oldest = NULL;
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        pentry_t *x = e->value;
        if (x->txn_first >= 0)
            continue; /* its transaction must be ended by its marker */
        if (!oldest || entry_last_ts(x) < entry_last_ts(oldest))
            oldest = x;
    }
    if (oldest)
        entry_remove(ps, oldest->pid);
}

static pentry_t *entry_get_or_add(broker_producer_state_t *ps, int64_t pid, int16_t epoch)
{
    pentry_t *e = entry_find(ps, pid);
    if (e)
        return e;
    if (ps->producers.count >= ps->cfg.max_producers)
        evict_oldest(ps);
    e = weir_calloc(1, sizeof(*e));
    e->pid = pid;
    e->epoch = epoch;
    e->txn_first = -1;
    e->coordinator_epoch = -1;
    e->marker_ts = INT64_MIN;
    uint8_t k[8];
    be64_write(k, (uint64_t)pid);
    broker_kvmap_put(&ps->producers, k, 8, e);
    return e;
}

/* Applies one appended batch to the state (lock held). */
static void state_apply(broker_producer_state_t *ps, const storage_batch_header_t *h, int64_t base)
{
    pentry_t *e = entry_get_or_add(ps, h->producer_id, h->producer_epoch);
    if (h->producer_epoch != e->epoch) {
        e->epoch = h->producer_epoch;
        e->nbatches = 0;
    }
    if (e->nbatches == BROKER_PRODUCER_BATCHES) {
        memmove(&e->batches[0], &e->batches[1], (BROKER_PRODUCER_BATCHES - 1) * sizeof(pbatch_t));
        e->nbatches--;
    }
    e->batches[e->nbatches++] =
        (pbatch_t){.first_seq = h->base_sequence,
                   .last_seq = seq_add(h->base_sequence, h->last_offset_delta),
                   .first_offset = base,
                   .offset_delta = h->last_offset_delta,
                   .timestamp = h->max_timestamp};
}

/* ---- the check ----------------------------------------------------------------------------------
 */

static int16_t check_entry(const pentry_t *e, const storage_batch_header_t *h, int32_t last,
                           broker_producer_check_t *out)
{
    if (h->producer_epoch < e->epoch)
        return KAFKA_INVALID_PRODUCER_EPOCH;
    if (h->producer_epoch > e->epoch || e->nbatches == 0)
        return h->base_sequence == 0 ? KAFKA_NONE : KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER;
    for (int i = 0; i < e->nbatches; i++) {
        const pbatch_t *b = &e->batches[i];
        if (b->first_seq == h->base_sequence && b->last_seq == last) {
            out->duplicate = true;
            out->dup_base_offset = b->first_offset;
            out->dup_last_offset = b->first_offset + b->offset_delta;
            out->dup_timestamp = b->timestamp;
            return KAFKA_NONE;
        }
    }
    int32_t next = seq_add(e->batches[e->nbatches - 1].last_seq, 1);
    return h->base_sequence == next ? KAFKA_NONE : KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

void broker_producer_state_check(broker_producer_state_t *ps, const storage_batch_header_t *h,
                                 broker_producer_check_t *out)
{
    *out = (broker_producer_check_t){
        .error = KAFKA_NONE, .dup_base_offset = -1, .dup_last_offset = -1, .dup_timestamp = -1};
    if (h->producer_id < 0)
        return;
    if (h->producer_epoch < 0 || h->base_sequence < 0 || h->last_offset_delta < 0) {
        out->error = KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER;
        return;
    }
    int32_t last = seq_add(h->base_sequence, h->last_offset_delta);
    pthread_mutex_lock(&ps->mu);
    const pentry_t *e = entry_find(ps, h->producer_id);
    if (!e)
        out->error = h->base_sequence == 0 ? KAFKA_NONE : KAFKA_UNKNOWN_PRODUCER_ID;
    else
        out->error = check_entry(e, h, last, out);
    if (out->error == KAFKA_NONE && !out->duplicate && e && e->txn_first >= 0 &&
        !(h->attributes & BATCH_TRANSACTIONAL) && h->producer_epoch == e->epoch)
        out->error = KAFKA_INVALID_TXN_STATE; /* Kafka: expected a transactional write */
    pthread_mutex_unlock(&ps->mu);
}

void broker_producer_state_update(broker_producer_state_t *ps, const storage_batch_header_t *h,
                                  int64_t base_offset, int64_t log_end)
{
    if (h->producer_id < 0 || (h->attributes & BATCH_CONTROL))
        return;
    pthread_mutex_lock(&ps->mu);
    state_apply(ps, h, base_offset);
    bool due = ps->cfg.snapshot_interval_offsets > 0 &&
               log_end - WEIR_MAX(ps->last_snapshot, 0) >= ps->cfg.snapshot_interval_offsets;
    pthread_mutex_unlock(&ps->mu);
    if (due)
        broker_producer_state_snapshot(ps, log_end, false);
}

/* ---- transactions -------------------------------------------------------------------------------
 */

/* Publishes the first unstable offset (mu held). */
static void open_publish(broker_producer_state_t *ps)
{
    int64_t first = ps->nopen ? ps->open[0].first : -1;
    atomic_store(&ps->first_unstable, first);
    if (ps->log)
        storage_log_set_first_unstable(ps->log, first);
}

/* Opens e's transaction at `first` (mu held). Kept sorted: a new one is normally the newest. */
static void open_add(broker_producer_state_t *ps, pentry_t *e, int64_t first)
{
    if (ps->nopen == ps->capopen) {
        ps->capopen = ps->capopen ? ps->capopen * 2 : 8;
        ps->open = weir_realloc(ps->open, ps->capopen * sizeof(*ps->open));
    }
    size_t at = ps->nopen;
    while (at > 0 && ps->open[at - 1].first > first)
        at--;
    memmove(&ps->open[at + 1], &ps->open[at], (ps->nopen - at) * sizeof(*ps->open));
    ps->open[at] = (open_txn_t){first, e->pid};
    ps->nopen++;
    e->txn_first = first;
    open_publish(ps);
}

static void open_remove(broker_producer_state_t *ps, pentry_t *e)
{
    for (size_t i = 0; i < ps->nopen; i++) {
        if (ps->open[i].pid == e->pid) {
            memmove(&ps->open[i], &ps->open[i + 1], (ps->nopen - i - 1) * sizeof(*ps->open));
            ps->nopen--;
            break;
        }
    }
    e->txn_first = -1;
    open_publish(ps);
}

bool broker_producer_state_txn_begin(broker_producer_state_t *ps, const storage_batch_header_t *h,
                                     int64_t base)
{
    if (h->producer_id < 0 || !(h->attributes & BATCH_TRANSACTIONAL) ||
        (h->attributes & BATCH_CONTROL))
        return false;
    pthread_mutex_lock(&ps->mu);
    pentry_t *e = entry_get_or_add(ps, h->producer_id, h->producer_epoch);
    bool opened = e->txn_first < 0;
    if (opened)
        open_add(ps, e, base);
    pthread_mutex_unlock(&ps->mu);
    return opened;
}

void broker_producer_state_txn_undo(broker_producer_state_t *ps, int64_t producer_id)
{
    pthread_mutex_lock(&ps->mu);
    pentry_t *e = entry_find(ps, producer_id);
    if (e && e->txn_first >= 0)
        open_remove(ps, e);
    pthread_mutex_unlock(&ps->mu);
}

bool broker_producer_state_txn_open(broker_producer_state_t *ps, int64_t producer_id, int16_t epoch)
{
    pthread_mutex_lock(&ps->mu);
    const pentry_t *e = entry_find(ps, producer_id);
    bool open = e && e->txn_first >= 0 && e->epoch == epoch;
    pthread_mutex_unlock(&ps->mu);
    return open;
}

int16_t broker_producer_state_check_marker(broker_producer_state_t *ps, int64_t producer_id,
                                           int16_t epoch)
{
    pthread_mutex_lock(&ps->mu);
    const pentry_t *e = entry_find(ps, producer_id);
    int16_t err = e && epoch < e->epoch ? KAFKA_INVALID_PRODUCER_EPOCH : KAFKA_NONE;
    pthread_mutex_unlock(&ps->mu);
    return err;
}

/* Applies a marker (mu held); an abort goes to the log's aborted-transaction index. */
static void end_txn_locked(broker_producer_state_t *ps, int64_t pid, int16_t epoch,
                           int32_t coordinator_epoch, bool commit, int64_t offset, int64_t ts)
{
    pentry_t *e = entry_get_or_add(ps, pid, epoch);
    e->marker_ts = WEIR_MAX(e->marker_ts, ts);
    if (epoch > e->epoch) { /* a fencing abort: the old epoch's sequences are over */
        e->epoch = epoch;
        e->nbatches = 0;
    }
    e->coordinator_epoch = coordinator_epoch;
    int64_t first = e->txn_first >= 0 ? e->txn_first : offset;
    if (e->txn_first >= 0)
        open_remove(ps, e);
    if (commit || !ps->log)
        return;
    storage_aborted_txn_t t = {.producer_id = pid,
                               .first_offset = first,
                               .last_offset = offset,
                               .last_stable_offset = ps->nopen ? ps->open[0].first : offset + 1};
    storage_log_aborted_add(ps->log, &t); /* a write error is logged there; memory has it */
}

void broker_producer_state_end_txn(broker_producer_state_t *ps, int64_t producer_id, int16_t epoch,
                                   int32_t coordinator_epoch, bool commit, int64_t offset,
                                   int64_t timestamp)
{
    pthread_mutex_lock(&ps->mu);
    end_txn_locked(ps, producer_id, epoch, coordinator_epoch, commit, offset, timestamp);
    pthread_mutex_unlock(&ps->mu);
}

int64_t broker_producer_state_first_unstable(broker_producer_state_t *ps)
{
    return atomic_load(&ps->first_unstable);
}

static int cmp_info(const void *a, const void *b)
{
    const broker_producer_desc_t *x = a, *y = b;
    return (x->producer_id > y->producer_id) - (x->producer_id < y->producer_id);
}

size_t broker_producer_state_list(broker_producer_state_t *ps, broker_producer_desc_t **out)
{
    pthread_mutex_lock(&ps->mu);
    size_t n = ps->producers.count;
    *out = weir_calloc(n ? n : 1, sizeof(**out));
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &ps->producers);
    size_t k = 0;
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        const pentry_t *x = e->value;
        const pbatch_t *last = x->nbatches ? &x->batches[x->nbatches - 1] : NULL;
        (*out)[k++] = (broker_producer_desc_t){
            .producer_id = x->pid,
            .epoch = x->epoch,
            .last_sequence = last ? last->last_seq : -1,
            .last_timestamp = entry_last_ts(x) == INT64_MIN ? -1 : entry_last_ts(x),
            .coordinator_epoch = x->coordinator_epoch,
            .txn_start_offset = x->txn_first};
    }
    pthread_mutex_unlock(&ps->mu);
    qsort(*out, n, sizeof(**out), cmp_info);
    return n;
}

void broker_producer_state_expire(broker_producer_state_t *ps, int64_t now_wall_ms)
{
    pthread_mutex_lock(&ps->mu);
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &ps->producers);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        pentry_t *x = e->value;
        /* (compared without a subtraction that could overflow on INT64_MIN) */
        if (x->txn_first < 0 && entry_last_ts(x) < now_wall_ms - ps->cfg.expiration_ms)
            entry_remove(ps, x->pid);
    }
    pthread_mutex_unlock(&ps->mu);
}

size_t broker_producer_state_count(broker_producer_state_t *ps)
{
    pthread_mutex_lock(&ps->mu);
    size_t n = ps->producers.count;
    pthread_mutex_unlock(&ps->mu);
    return n;
}

int64_t broker_producer_state_loaded_snapshot(broker_producer_state_t *ps)
{
    return ps->loaded_snapshot;
}

uint64_t broker_producer_state_replayed_batches(broker_producer_state_t *ps)
{
    return ps->replayed;
}

/* ---- snapshots ----------------------------------------------------------------------------------
 */

static void snap_path(const broker_producer_state_t *ps, char *out, size_t cap, int64_t offset,
                      const char *ext)
{
    snprintf(out, cap, "%s/%020" PRId64 ".snapshot%s", ps->dir, offset, ext);
}

static void snap_encode(broker_producer_state_t *ps, int64_t offset, buf_t *b)
{
    buf_append(b, SNAP_MAGIC, 4);
    buf_append_be32(b, 0); /* crc, filled below */
    buf_append_be64(b, (uint64_t)offset);
    buf_append_be32(b, (uint32_t)ps->producers.count);
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &ps->producers);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));) {
        const pentry_t *x = e->value;
        buf_append_be64(b, (uint64_t)x->pid);
        buf_append_be16(b, (uint16_t)x->epoch);
        buf_append_u8(b, (uint8_t)x->nbatches);
        buf_append_be64(b, (uint64_t)x->txn_first);
        buf_append_be32(b, (uint32_t)x->coordinator_epoch);
        buf_append_be64(b, (uint64_t)x->marker_ts);
        for (int i = 0; i < x->nbatches; i++) {
            const pbatch_t *y = &x->batches[i];
            buf_append_be32(b, (uint32_t)y->first_seq);
            buf_append_be32(b, (uint32_t)y->last_seq);
            buf_append_be64(b, (uint64_t)y->first_offset);
            buf_append_be32(b, (uint32_t)y->offset_delta);
            buf_append_be64(b, (uint64_t)y->timestamp);
        }
    }
    be32_write(b->data + 4, crc32c(0, b->data + 8, b->len - 8));
}

static int write_all(storage_io_t *io, const char *path, const buf_t *b, bool sync)
{
    int fd;
    int rc = io->ops->open(io, path, O_CREAT | O_RDWR | O_TRUNC, &fd);
    if (rc < 0)
        return rc;
    rc = io->ops->pwrite(io, fd, b->data, b->len, 0);
    if (rc == 0 && sync)
        rc = io->ops->fdatasync(io, fd);
    io->ops->close(io, fd);
    return rc;
}

typedef struct {
    int64_t offs[64];
    size_t n;
    broker_producer_state_t *ps;
} snap_list_t;

static int snap_list_one(const char *name, void *arg)
{
    snap_list_t *l = arg;
    size_t len = strlen(name);
    static const char ext[] = ".snapshot";
    if (len == 20 + sizeof(ext) - 1 && strcmp(name + 20, ext) == 0) {
        char *end;
        long long off = strtoll(name, &end, 10);
        if (end == name + 20 && off >= 0 && l->n < WEIR_ARRAY_LEN(l->offs))
            l->offs[l->n++] = off;
    } else if (len > 4 && strcmp(name + len - 4, ".tmp") == 0 && strstr(name, ".snapshot")) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", l->ps->dir, name);
        l->ps->io->ops->unlink(l->ps->io, path); /* an interrupted snapshot */
    }
    return 0;
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void snap_list(broker_producer_state_t *ps, snap_list_t *l)
{
    l->n = 0;
    l->ps = ps;
    ps->io->ops->list(ps->io, ps->dir, snap_list_one, l);
    qsort(l->offs, l->n, sizeof(l->offs[0]), cmp_desc);
}

int broker_producer_state_snapshot(broker_producer_state_t *ps, int64_t log_end, bool sync)
{
    /* The snapshot tells the next open that markers below log_end need no replay: their
     * aborted-transaction entries must be on disk first. */
    int irc = ps->log ? storage_log_aborted_sync(ps->log) : 0;
    if (irc < 0) {
        log_warn("producer", "%s: syncing the aborted-transaction index failed: %s; no snapshot",
                 ps->dir, weir_strerror(irc));
        return irc;
    }
    buf_t b = {0};
    pthread_mutex_lock(&ps->mu);
    snap_encode(ps, log_end, &b);
    ps->last_snapshot = log_end;
    pthread_mutex_unlock(&ps->mu);
    char tmp[4096], path[4096];
    snap_path(ps, tmp, sizeof(tmp), log_end, ".tmp");
    snap_path(ps, path, sizeof(path), log_end, "");
    int rc = write_all(ps->io, tmp, &b, sync);
    if (rc == 0)
        rc = ps->io->ops->rename(ps->io, tmp, path);
    if (rc == 0 && sync)
        rc = ps->io->ops->fsync_dir(ps->io, ps->dir);
    buf_deinit(&b);
    if (rc < 0) {
        log_warn("producer", "%s: snapshot at %" PRId64 " failed: %s", ps->dir, log_end,
                 weir_strerror(rc));
        ps->io->ops->unlink(ps->io, tmp);
        return rc;
    }
    snap_list_t l;
    snap_list(ps, &l);
    for (size_t i = SNAP_KEEP; i < l.n; i++) {
        snap_path(ps, path, sizeof(path), l.offs[i], "");
        ps->io->ops->unlink(ps->io, path);
    }
    return 0;
}

int broker_producer_state_maybe_snapshot(broker_producer_state_t *ps, int64_t log_end,
                                         int64_t interval)
{
    pthread_mutex_lock(&ps->mu);
    int64_t last = ps->last_snapshot;
    pthread_mutex_unlock(&ps->mu);
    if (interval <= 0 || log_end == last || log_end - WEIR_MAX(last, 0) < interval)
        return 0;
    return broker_producer_state_snapshot(ps, log_end, false);
}

/* Reads and checks a whole snapshot file; loads it only if every byte checks out. */
static int snap_load(broker_producer_state_t *ps, int64_t offset)
{
    char path[4096];
    snap_path(ps, path, sizeof(path), offset, "");
    storage_io_t *io = ps->io;
    int fd;
    int rc = io->ops->open(io, path, O_RDONLY, &fd);
    if (rc < 0)
        return rc;
    uint64_t size = 0;
    rc = io->ops->fsize(io, fd, &size);
    if (rc == 0 && (size < SNAP_HEADER || size > (uint64_t)64 << 20))
        rc = -WEIR_ECORRUPT;
    uint8_t *p = NULL;
    size_t got = 0;
    if (rc == 0) {
        p = weir_malloc((size_t)size);
        rc = io->ops->pread(io, fd, p, (size_t)size, 0, &got);
        if (rc == 0 && got != size)
            rc = -WEIR_ECORRUPT;
    }
    io->ops->close(io, fd);
    bool v1 = rc == 0 && memcmp(p, SNAP_MAGIC_V1, 4) == 0;
    if (rc == 0 && ((!v1 && memcmp(p, SNAP_MAGIC, 4) != 0) ||
                    be32_read(p + 4) != crc32c(0, p + 8, (size_t)size - 8) ||
                    (int64_t)be64_read(p + 8) != offset))
        rc = -WEIR_ECORRUPT;
    size_t entry_size = v1 ? SNAP_ENTRY_V1 : SNAP_ENTRY;
    size_t off = SNAP_HEADER;
    uint32_t count = rc == 0 ? be32_read(p + 16) : 0;
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        if (size - off < entry_size) {
            rc = -WEIR_ECORRUPT;
            break;
        }
        pentry_t e = {.pid = (int64_t)be64_read(p + off),
                      .epoch = (int16_t)be16_read(p + off + 8),
                      .nbatches = p[off + 10],
                      .txn_first = v1 ? -1 : (int64_t)be64_read(p + off + 11),
                      .coordinator_epoch = v1 ? -1 : (int32_t)be32_read(p + off + 19),
                      .marker_ts = v1 ? INT64_MIN : (int64_t)be64_read(p + off + 23)};
        off += entry_size;
        if (e.txn_first < -1 || e.txn_first >= offset) {
            rc = -WEIR_ECORRUPT;
            break;
        }
        if (e.nbatches > BROKER_PRODUCER_BATCHES || size - off < (size_t)e.nbatches * SNAP_BATCH) {
            rc = -WEIR_ECORRUPT;
            break;
        }
        for (int j = 0; j < e.nbatches; j++, off += SNAP_BATCH)
            e.batches[j] = (pbatch_t){.first_seq = (int32_t)be32_read(p + off),
                                      .last_seq = (int32_t)be32_read(p + off + 4),
                                      .first_offset = (int64_t)be64_read(p + off + 8),
                                      .offset_delta = (int32_t)be32_read(p + off + 16),
                                      .timestamp = (int64_t)be64_read(p + off + 20)};
        pentry_t *x = entry_get_or_add(ps, e.pid, e.epoch);
        *x = e;
        if (e.txn_first >= 0) {
            x->txn_first = -1;
            open_add(ps, x, e.txn_first);
        }
    }
    free(p);
    if (rc < 0) { /* a half-loaded snapshot must not leak into the state */
        broker_kvmap_iter_t it;
        broker_kvmap_iter_init(&it, &ps->producers);
        for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
            entry_remove(ps, ((pentry_t *)e->value)->pid);
        ps->nopen = 0;
        open_publish(ps);
    }
    return rc;
}

/* ---- open / close
 * -------------------------------------------------------------------------------- */

int broker_marker_type(const uint8_t *batch, size_t total)
{
    storage_record_iter_t it;
    int type = -1;
    if (storage_record_iter_init(&it, batch, total, 4096) == 0) {
        storage_record_t rec;
        if (storage_record_iter_next(&it, &rec) == 1 && rec.key && rec.key_len >= 4 &&
            be16_read(rec.key) == 0) {
            int16_t t = (int16_t)be16_read((const uint8_t *)rec.key + 2);
            type = t == 0 || t == 1 ? t : -1;
        }
    }
    storage_record_iter_deinit(&it);
    return type;
}

static int replay_batch(void *arg, const storage_batch_header_t *h, const uint8_t *batch,
                        size_t total)
{
    broker_producer_state_t *ps = arg;
    if (h->producer_id < 0)
        return 0;
    if (h->attributes & BATCH_CONTROL) {
        int type = broker_marker_type(batch, total);
        if (type >= 0) {
            int32_t coordinator_epoch = -1;
            storage_record_iter_t it;
            if (storage_record_iter_init(&it, batch, total, 4096) == 0) {
                storage_record_t rec;
                if (storage_record_iter_next(&it, &rec) == 1 && rec.value && rec.value_len >= 6)
                    coordinator_epoch = (int32_t)be32_read((const uint8_t *)rec.value + 2);
            }
            storage_record_iter_deinit(&it);
            end_txn_locked(ps, h->producer_id, h->producer_epoch, coordinator_epoch, type == 1,
                           h->base_offset, h->max_timestamp);
        }
        return 0;
    }
    if (h->attributes & BATCH_TRANSACTIONAL) {
        pentry_t *e = entry_get_or_add(ps, h->producer_id, h->producer_epoch);
        if (e->txn_first < 0)
            open_add(ps, e, h->base_offset);
    }
    state_apply(ps, h, h->base_offset);
    ps->replayed++;
    return 0;
}

int broker_producer_state_open(storage_io_t *io, const char *dir, storage_log_t *log,
                               const broker_producer_state_config_t *cfg,
                               broker_producer_state_t **out)
{
    broker_producer_state_t *ps = weir_calloc(1, sizeof(*ps));
    pthread_mutex_init(&ps->mu, NULL);
    ps->io = io;
    ps->log = log;
    ps->dir = weir_strdup(dir);
    ps->cfg = *cfg;
    atomic_init(&ps->first_unstable, -1);
    ps->last_snapshot = -1;
    ps->loaded_snapshot = -1;
    broker_kvmap_init(&ps->producers);
    int64_t end = storage_log_end_offset(log);
    int64_t from = storage_log_start_offset(log);
    snap_list_t l;
    snap_list(ps, &l);
    bool damaged = storage_log_aborted_damaged(log);
    if (damaged) /* rebuild every aborted-transaction entry: replay the whole log */
        log_warn("producer", "%s: the aborted-transaction index was damaged: replaying the log",
                 dir);
    for (size_t i = 0; i < l.n && !damaged; i++) {
        if (l.offs[i] > end) { /* the log lost its tail after this snapshot was taken */
            char path[4096];
            snap_path(ps, path, sizeof(path), l.offs[i], "");
            io->ops->unlink(io, path);
            continue;
        }
        if (snap_load(ps, l.offs[i]) == 0) {
            ps->loaded_snapshot = ps->last_snapshot = l.offs[i];
            from = WEIR_MAX(from, l.offs[i]);
            break;
        }
        log_warn("producer", "%s: snapshot %" PRId64 " is unreadable, trying an older one", dir,
                 l.offs[i]);
    }
    /* Entries of markers at or past `from` come back from the replay. */
    int rc = storage_log_aborted_truncate(log, from);
    if (rc == 0 && from < end)
        rc = storage_log_scan(log, from, replay_batch, ps);
    if (rc < 0) {
        broker_producer_state_free(ps);
        return rc;
    }
    if (ps->replayed > 0 || ps->loaded_snapshot >= 0)
        log_info("producer",
                 "%s: %zu producers (snapshot %" PRId64 ", %" PRIu64 " batches replayed)", dir,
                 ps->producers.count, ps->loaded_snapshot, ps->replayed);
    *out = ps;
    return 0;
}

void broker_producer_state_free(broker_producer_state_t *ps)
{
    if (!ps)
        return;
    broker_kvmap_iter_t it;
    broker_kvmap_iter_init(&it, &ps->producers);
    for (broker_kvmap_entry_t *e; (e = broker_kvmap_iter_next(&it));)
        free(e->value);
    broker_kvmap_deinit(&ps->producers);
    pthread_mutex_destroy(&ps->mu);
    free(ps->open);
    free(ps->dir);
    free(ps);
}

void broker_producer_state_close(broker_producer_state_t *ps, storage_log_t *log)
{
    if (!ps)
        return;
    int64_t end = log ? storage_log_end_offset(log) : 0;
    if (end > 0 && end != ps->last_snapshot)
        broker_producer_state_snapshot(ps, end, true);
    broker_producer_state_free(ps);
}

/* ---- producer ids
 * --------------------------------------------------------------------------------- */

struct broker_producer_ids {
    pthread_mutex_t mu;
    storage_io_t *io;
    char *dir;
    int64_t next;      /* the next id to hand out */
    int64_t block_end; /* ids below this are durable as "used" */
};

static const char IDS_FILE[] = "producer-ids";

int broker_io_write_atomic(storage_io_t *io, const char *dir, const char *name,
                           const char *tmp_name, const buf_t *b, bool sync)
{
    char tmp[4096], path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (tmp_name)
        snprintf(tmp, sizeof(tmp), "%s/%s", dir, tmp_name);
    else
        snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    int rc = write_all(io, tmp, b, sync);
    if (rc == 0)
        rc = io->ops->rename(io, tmp, path);
    if (rc == 0 && sync)
        rc = io->ops->fsync_dir(io, dir);
    return rc;
}

int broker_io_read_checked(storage_io_t *io, const char *dir, const char *name, size_t max_bytes,
                           buf_t *out)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!io->ops->exists(io, path))
        return -WEIR_ENOENT;
    int fd;
    int rc = io->ops->open(io, path, O_RDONLY, &fd);
    if (rc < 0)
        return rc;
    uint64_t size = 0;
    rc = io->ops->fsize(io, fd, &size);
    if (rc == 0 && (size < 4 || size > max_bytes))
        rc = -WEIR_ECORRUPT;
    size_t got = 0;
    if (rc == 0) {
        uint8_t *p = buf_extend(out, (size_t)size);
        rc = io->ops->pread(io, fd, p, (size_t)size, 0, &got);
        if (rc == 0 && (got != size || be32_read(p) != crc32c(0, p + 4, (size_t)size - 4)))
            rc = -WEIR_ECORRUPT;
    }
    io->ops->close(io, fd);
    return rc;
}

static int ids_persist_block(broker_producer_ids_t *p, int64_t block_end)
{
    buf_t b = {0};
    buf_append_be32(&b, 0);
    buf_append_be64(&b, (uint64_t)block_end);
    be32_write(b.data, crc32c(0, b.data + 4, b.len - 4));
    int rc = broker_io_write_atomic(p->io, p->dir, IDS_FILE, NULL, &b, true);
    buf_deinit(&b);
    if (rc == 0)
        p->block_end = block_end;
    return rc;
}

int broker_producer_ids_open(storage_io_t *io, const char *data_dir, broker_producer_ids_t **out)
{
    broker_producer_ids_t *p = weir_calloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    p->io = io;
    p->dir = weir_strdup(data_dir);
    buf_t b = {0};
    int rc = broker_io_read_checked(io, data_dir, IDS_FILE, (size_t)256 << 20, &b);
    if (rc == 0 && b.len == 12)
        p->next = p->block_end = (int64_t)be64_read(b.data + 4);
    else if (rc != -WEIR_ENOENT)
        rc = rc < 0 ? rc : -WEIR_ECORRUPT;
    else
        rc = 0;
    buf_deinit(&b);
    if (rc < 0) {
        /* Handing out ids that may repeat would let two producers share sequences: refuse. */
        log_error("producer", "%s/%s is unreadable: %s", data_dir, IDS_FILE, weir_strerror(rc));
        broker_producer_ids_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

void broker_producer_ids_close(broker_producer_ids_t *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p->dir);
    free(p);
}

/* The next never-used id (mutex held). */
static int ids_next(broker_producer_ids_t *p, int64_t *pid)
{
    if (p->next >= p->block_end) {
        int rc = ids_persist_block(p, p->next + BROKER_PRODUCER_IDS_BLOCK);
        if (rc < 0)
            return rc;
    }
    *pid = p->next++;
    return 0;
}

int broker_producer_ids_next(broker_producer_ids_t *p, int64_t *pid)
{
    pthread_mutex_lock(&p->mu);
    int rc = ids_next(p, pid);
    pthread_mutex_unlock(&p->mu);
    return rc;
}
