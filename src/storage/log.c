/*
 * log: the partition log's front door. Append, read, lookups by time, flush (group commit),
 * durability callbacks, the checkpoint file, and the open/close lifecycle (recovery itself is
 * recovery.c; retention, DeleteRecords and compaction are retention.c and compact.c).
 *
 * Invariants, all under log->mu:
 *   start_offset <= durable_offset <= end_offset (durable may trail start only when nothing
 *   has been written since DeleteRecords moved start; it never passes end);
 *   durable_offset only moves forward, and only after fdatasync of every byte below it and
 *   of the directory entries of every segment holding them succeeded;
 *   once offline, nothing is appended and durable_offset never moves again.
 * Appends write under mu (so offsets follow file order); fdatasync runs without mu, so new
 * appends gather for the next flush while one is on the disk: that is the group commit.
 */
#include "storage/log_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

void storage_log_config_default(storage_log_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->segment_bytes = 1ull << 30;
    cfg->segment_ms = 7ll * 24 * 3600 * 1000;
    cfg->retention_bytes = -1;
    cfg->retention_ms = 7ll * 24 * 3600 * 1000;
    cfg->cleanup_delete = true;
    cfg->cleanup_compact = false;
    cfg->delete_retention_ms = 24ll * 3600 * 1000;
    cfg->min_compaction_lag_ms = 0;
    cfg->index_interval_bytes = 4096;
    cfg->max_decompressed_bytes = 64u << 20;
    cfg->cleaner_map_bytes = 128u << 20;
    cfg->recovery_checkpoint_ms = 60000;
    cfg->recovery_point_ms = 1000;
    cfg->preallocate_bytes = 1u << 20;
    cfg->segment_jitter_ms = 0;
    cfg->min_cleanable_ratio = 0.5;
    cfg->max_compaction_lag_ms = INT64_MAX;
    cfg->file_delete_delay_ms = 0;
}

/* Bad settings are clamped, not refused: the broker validates topic configs for the user. */
static void config_sanitize(storage_log_config_t *cfg)
{
    if (cfg->segment_bytes < 64)
        cfg->segment_bytes = 64;
    if (cfg->segment_bytes > INT32_MAX)
        cfg->segment_bytes = INT32_MAX; /* index positions are 32 bits, as in Kafka */
    if (cfg->index_interval_bytes == 0)
        cfg->index_interval_bytes = 1;
    if (cfg->max_decompressed_bytes == 0)
        cfg->max_decompressed_bytes = 64u << 20;
    if (cfg->cleaner_map_bytes < 4096)
        cfg->cleaner_map_bytes = 4096;
    if (cfg->segment_jitter_ms < 0)
        cfg->segment_jitter_ms = 0;
    if (cfg->max_compaction_lag_ms <= 0)
        cfg->max_compaction_lag_ms = INT64_MAX;
    if (cfg->file_delete_delay_ms < 0)
        cfg->file_delete_delay_ms = 0;
}

void storage_log_path(storage_log_t *log, char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", log->dir, name);
    WEIR_ASSERT(n > 0 && (size_t)n < cap);
}

/* ---- segment list ---------------------------------------------------------------------------- */

void storage_log_segs_insert(storage_log_t *log, size_t at, storage_segment_t *seg)
{
    WEIR_ASSERT(at <= log->nsegs);
    if (log->nsegs == log->capsegs) {
        log->capsegs = log->capsegs ? log->capsegs * 2 : 8;
        log->segs = weir_realloc(log->segs, log->capsegs * sizeof(*log->segs));
    }
    memmove(log->segs + at + 1, log->segs + at, (log->nsegs - at) * sizeof(*log->segs));
    log->segs[at] = seg;
    log->nsegs++;
}

/* Removes (does not free) segs[at .. at+n). */
void storage_log_segs_remove(storage_log_t *log, size_t at, size_t n)
{
    WEIR_ASSERT(at + n <= log->nsegs);
    memmove(log->segs + at, log->segs + at + n, (log->nsegs - at - n) * sizeof(*log->segs));
    log->nsegs -= n;
}

size_t storage_log_seg_floor(storage_log_t *log, int64_t offset)
{
    size_t lo = 0, hi = log->nsegs; /* first seg with base > offset */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? 0 : lo - 1;
}

/* ---- durables ---------------------------------------------------------------------------------
 * Waiters live under durable_mu, not mu, so that registering one (right after an append) never
 * queues behind other producers' appends. They are fired without any lock held: a callback
 * may append again at once. */

typedef struct {
    storage_durable_t *v;
    size_t n;
    storage_durable_t local[16]; /* a group commit releases a handful: no malloc for those */
} durable_list_t;

/* Takes out the durables whose offset is <= upto (all of them if all), durable_mu held. */
static void durables_take(storage_log_t *log, int64_t upto, bool all, durable_list_t *out)
{
    out->v = out->local;
    out->n = 0;
    size_t k = 0, cap = sizeof(out->local) / sizeof(out->local[0]);
    for (size_t i = 0; i < log->ndurables; i++) {
        storage_durable_t *w = &log->durables[i];
        if (all || w->offset <= upto) {
            if (out->n == cap) {
                storage_durable_t *v = weir_malloc(log->ndurables * sizeof(*v));
                memcpy(v, out->v, out->n * sizeof(*v));
                out->v = v;
                cap = log->ndurables;
            }
            out->v[out->n++] = *w;
        } else {
            log->durables[k++] = *w;
        }
    }
    log->ndurables = k;
    atomic_store_explicit(&log->fl_waiting, (unsigned)k, memory_order_relaxed);
}

static void durables_fire(durable_list_t *wl, int err)
{
    for (size_t i = 0; i < wl->n; i++)
        wl->v[i].cb(wl->v[i].arg, err);
    if (wl->v != wl->local)
        free(wl->v);
    wl->v = NULL;
    wl->n = 0;
}

void storage_log_fail_durables(storage_log_t *log, int err)
{
    durable_list_t wl;
    pthread_mutex_lock(&log->durable_mu);
    durables_take(log, 0, true, &wl);
    pthread_mutex_unlock(&log->durable_mu);
    durables_fire(&wl, err);
}

void storage_log_go_offline_locked(storage_log_t *log, const char *why)
{
    if (!log->offline)
        log_error(LOG_MOD, "%s: log taken offline: %s (durable offset stays %" PRId64 ")", log->dir,
                  why, log->durable_offset);
    pthread_mutex_lock(&log->durable_mu);
    log->offline = true;
    pthread_mutex_unlock(&log->durable_mu);
}

/* A durable callback is what makes the flusher sync a log now: appends nobody waits for are left to
 * the background pass (storage_flusher_start's interval), so acks=1 traffic costs no
 * fdatasync on its way. The durable callback counts towards the group the flusher gathers. */
void storage_log_on_durable(storage_log_t *log, int64_t offset, storage_durable_fn cb, void *arg)
{
    pthread_mutex_lock(&log->durable_mu);
    int err = 1;
    if (log->offline) {
        err = -WEIR_EOFFLINE;
    } else if (offset <= log->durable_offset) {
        err = 0;
    } else {
        if (log->ndurables == log->capdurables) {
            log->capdurables = log->capdurables ? log->capdurables * 2 : 16;
            log->durables = weir_realloc(log->durables, log->capdurables * sizeof(*log->durables));
        }
        log->durables[log->ndurables++] = (storage_durable_t){offset, cb, arg};
        atomic_store_explicit(&log->fl_waiting, (unsigned)log->ndurables, memory_order_relaxed);
        atomic_fetch_add_explicit(&log->fl_appends, 1, memory_order_relaxed);
        if (log->flusher)
            storage_flusher_notify(log->flusher, log);
    }
    pthread_mutex_unlock(&log->durable_mu);
    if (err != 1)
        cb(arg, err);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static void log_free(storage_log_t *log)
{
    for (size_t i = 0; i < log->nsegs; i++)
        storage_segment_free(log->segs[i]);
    free(log->segs);
    free(log->durables);
    free(log->deleted);
    storage_log_epochs_free(log);
    free(log->dir);
    pthread_mutex_destroy(&log->epoch_mu);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->flush_mu);
    pthread_mutex_destroy(&log->maint_mu);
    pthread_mutex_destroy(&log->ckpt_mu);
    pthread_mutex_destroy(&log->durable_mu);
    free(log);
}

/* ---- preallocation ---------------------------------------------------------------------------
 * The active segment's file runs ahead of its data by up to preallocate_bytes (see storage.h);
 * alloc_end is the file's size. Everything that reads a segment stops at seg->size, and
 * recovery cuts a zero tail like a torn one, so the space past the data is never served. A
 * segment is trimmed back to its data when it stops being active: a later segment must never
 * follow a zero tail (recovery would take it for the end of the log). */

static bool prealloc_on(const storage_log_t *log)
{
    uint64_t step = log->cfg.preallocate_bytes;
    return step > 0 && !log->prealloc_unsupported && log->cfg.segment_bytes / 4 >= step;
}

/* Makes room for len more bytes in the active segment's file. Failing to preallocate is not
 * an error: the append then extends the file itself. mu held. */
static void prealloc_room(storage_log_t *log, storage_segment_t *seg, size_t len)
{
    if (!prealloc_on(log) || seg->size + len <= seg->alloc_end)
        return;
    uint64_t from = WEIR_MAX(seg->alloc_end, seg->size);
    uint64_t to = WEIR_MAX(seg->size + len, from + log->cfg.preallocate_bytes);
    to = WEIR_MIN(to, WEIR_MAX(log->cfg.segment_bytes, seg->size + len));
    int rc = log->io->ops->preallocate(log->io, seg->file->fd, from, to - from);
    if (rc == 0) {
        seg->alloc_end = to;
        return;
    }
    if (rc == -WEIR_EUNSUPPORTED) {
        log_info(LOG_MOD, "%s: the file system cannot preallocate; appending without", log->dir);
        log->prealloc_unsupported = true;
    }
    uint64_t fsize; /* a failed fallocate may have allocated part of the range */
    if (log->io->ops->fsize(log->io, seg->file->fd, &fsize) == 0)
        seg->alloc_end = WEIR_MAX(fsize, seg->size);
}

/* Cuts the segment's file back to its data and syncs that, so no zero tail outlives its time
 * as the active segment. A failed sync takes the log offline. mu held. */
static int prealloc_trim(storage_log_t *log, storage_segment_t *seg)
{
    if (seg->alloc_end <= seg->size)
        return 0;
    int rc = log->io->ops->ftruncate(log->io, seg->file->fd, seg->size);
    if (rc)
        return rc;
    seg->alloc_end = seg->size;
    rc = log->io->ops->fdatasync(log->io, seg->file->fd);
    if (rc)
        storage_log_go_offline_locked(log, "fdatasync after trimming a segment failed");
    return rc ? -WEIR_EOFFLINE : 0;
}

/* After recovery: past the active segment's data there are only zeros (recovery cut any torn
 * tail; a clean close trimmed it), space preallocated before a crash: appends go on using it,
 * and trimming it waits for the roll or the close, as for space preallocated now. */
static int open_active_file(storage_log_t *log)
{
    storage_segment_t *seg = log_active(log);
    uint64_t fsize;
    int rc = log->io->ops->fsize(log->io, seg->file->fd, &fsize);
    seg->alloc_end = rc == 0 ? WEIR_MAX(fsize, seg->size) : seg->size;
    return rc;
}

int storage_log_open(storage_io_t *io, const char *dir, const storage_log_config_t *cfg,
                     storage_log_t **out)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 0 || n > PATH_MAX_LEN - 64)
        return -WEIR_EINVAL;
    storage_log_t *log = weir_calloc(1, sizeof(*log));
    log->io = io;
    log->dir = weir_strndup(dir, n);
    log->compact_end = -1;
    atomic_init(&log->first_unstable, -1);
    log->compact_tombstone_ts = INT64_MAX;
    log->rand_state = (uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)log ^ 0x9e3779b97f4a7c15ull;
    if (cfg)
        log->cfg = *cfg;
    else
        storage_log_config_default(&log->cfg);
    config_sanitize(&log->cfg);
    /* Appenders hold mu for one pwrite: spinning briefly before sleeping saves a context
     * switch per append when several producers append at once (glibc's adaptive mutex). */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&log->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&log->flush_mu, NULL);
    pthread_mutex_init(&log->maint_mu, NULL);
    pthread_mutex_init(&log->ckpt_mu, NULL);
    pthread_mutex_init(&log->durable_mu, NULL);
    pthread_mutex_init(&log->epoch_mu, NULL);
    int rc = storage_log_recover(log);
    if (rc == 0)
        rc = open_active_file(log);
    if (rc == 0)
        rc = storage_log_epochs_load(log);
    storage_log_new_jitter(log);
    if (rc) {
        log_free(log);
        return rc;
    }
    *out = log;
    return 0;
}

static void log_detach_flusher(storage_log_t *log)
{
    pthread_mutex_lock(&log->mu);
    storage_flusher_t *f = log->flusher;
    pthread_mutex_unlock(&log->mu);
    if (f)
        storage_flusher_detach(f, log);
}

/* Writes and syncs the active segment's indexes, the checkpoint and the clean marker. */
static int log_close_clean(storage_log_t *log)
{
    pthread_mutex_lock(&log->mu);
    storage_segment_t *seg = log_active(log);
    int rc = prealloc_trim(log, seg);
    storage_segment_seal_timeindex(seg);
    pthread_mutex_unlock(&log->mu);
    if (rc)
        return rc;
    rc = storage_segment_write_indexes(log->io, log->dir, seg);
    if (rc == 0)
        rc = storage_segment_sync_indexes(log->io, log->dir, seg->base);
    if (rc == 0)
        rc = storage_log_checkpoint_write(log);
    if (rc)
        return rc;
    char path[PATH_MAX_LEN];
    storage_log_path(log, path, sizeof(path), CLEAN_MARKER_NAME);
    int fd;
    rc = log->io->ops->open(log->io, path, O_CREAT | O_RDWR | O_TRUNC, &fd);
    if (rc == 0) {
        log->io->ops->close(log->io, fd);
        rc = log->io->ops->fsync_dir(log->io, log->dir);
    }
    return rc;
}

void storage_log_close(storage_log_t *log)
{
    if (!log)
        return;
    log_detach_flusher(log);
    pthread_mutex_lock(&log->maint_mu);
    int rc = storage_log_flush(log);
    if (rc == 0)
        rc = log_close_clean(log);
    if (rc)
        log_warn(LOG_MOD,
                 "%s: closed without a clean-shutdown marker (%s): the next open "
                 "recovers",
                 log->dir, weir_strerror(rc));
    storage_log_fail_durables(log, storage_log_offline(log) ? -WEIR_EOFFLINE : -WEIR_ECLOSED);
    pthread_mutex_unlock(&log->maint_mu);
    log_free(log);
}

void storage_log_abandon(storage_log_t *log)
{
    if (!log)
        return;
    log_detach_flusher(log);
    pthread_mutex_lock(&log->maint_mu);
    storage_log_fail_durables(log, -WEIR_ECLOSED);
    pthread_mutex_unlock(&log->maint_mu);
    log_free(log);
}

static int destroy_one(const char *name, void *arg)
{
    storage_log_t *log = arg;
    char path[PATH_MAX_LEN];
    storage_log_path(log, path, sizeof(path), name);
    log->io->ops->unlink(log->io, path);
    return 0;
}

int storage_log_destroy(storage_log_t *log)
{
    log_detach_flusher(log);
    pthread_mutex_lock(&log->maint_mu);
    storage_log_fail_durables(log, -WEIR_ECLOSED);
    pthread_mutex_unlock(&log->maint_mu);
    storage_io_t *io = log->io;
    for (size_t i = 0; i < log->nsegs; i++)
        storage_segment_free(log->segs[i]);
    log->nsegs = 0;
    int rc = io->ops->list(io, log->dir, destroy_one, log);
    if (rc == 0)
        rc = io->ops->rmdir(io, log->dir);
    if (rc == 0) {
        char parent[PATH_MAX_LEN];
        snprintf(parent, sizeof(parent), "%s", log->dir);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent)
            *slash = 0;
        else
            snprintf(parent, sizeof(parent), slash ? "/" : ".");
        rc = io->ops->fsync_dir(io, parent);
    }
    log_free(log);
    return rc;
}

void storage_log_set_config(storage_log_t *log, const storage_log_config_t *cfg)
{
    pthread_mutex_lock(&log->mu);
    log->cfg = *cfg;
    config_sanitize(&log->cfg);
    pthread_mutex_unlock(&log->mu);
}

/* ---- getters --------------------------------------------------------------------------------- */

#define LOG_GETTER(type, name, expr)                                                               \
    type name(storage_log_t *log)                                                                  \
    {                                                                                              \
        pthread_mutex_lock(&log->mu);                                                              \
        type v = (expr);                                                                           \
        pthread_mutex_unlock(&log->mu);                                                            \
        return v;                                                                                  \
    }

LOG_GETTER(int64_t, storage_log_start_offset, log->start_offset)
LOG_GETTER(int64_t, storage_log_end_offset, log->end_offset)
LOG_GETTER(int64_t, storage_log_durable_offset, log->durable_offset)
LOG_GETTER(bool, storage_log_offline, log->offline)

uint64_t storage_log_size_bytes(storage_log_t *log)
{
    pthread_mutex_lock(&log->mu);
    uint64_t n = 0;
    for (size_t i = 0; i < log->nsegs; i++)
        n += log->segs[i]->size;
    pthread_mutex_unlock(&log->mu);
    return n;
}

/* ---- append ---------------------------------------------------------------------------------- */

int storage_log_roll_locked(storage_log_t *log)
{
    storage_segment_t *old = log_active(log);
    if (old->size == 0)
        return 0;
    int rc = prealloc_trim(log, old);
    if (rc)
        return rc;
    storage_segment_seal_timeindex(old);
    rc = storage_segment_write_indexes(log->io, log->dir, old);
    if (rc)
        return rc;
    storage_segment_t *seg;
    rc = storage_segment_create(log->io, log->dir, log->end_offset, &seg);
    if (rc)
        return rc;
    old->index_unsynced = true;
    storage_log_segs_insert(log, log->nsegs, seg);
    storage_log_new_jitter(log);
    log->dir_dirty = true;
    log_debug(LOG_MOD, "%s: rolled segment at offset %" PRId64, log->dir, seg->base);
    return 0;
}

void storage_log_new_jitter(storage_log_t *log)
{
    int64_t j = WEIR_MIN(log->cfg.segment_jitter_ms, log->cfg.segment_ms);
    uint64_t x = log->rand_state;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    log->rand_state = x;
    log->roll_jitter_ms = j > 0 ? (int64_t)(x % (uint64_t)j) : 0;
}

int64_t storage_log_roll_age_ms(const storage_log_t *log)
{
    int64_t ms = log->cfg.segment_ms;
    if (ms < 0)
        return -1;
    if (log->cfg.cleanup_compact && log->cfg.max_compaction_lag_ms < ms)
        ms = log->cfg.max_compaction_lag_ms; /* Kafka: a dirty segment must become cleanable */
    return WEIR_MAX(ms - log->roll_jitter_ms, 0);
}

static bool need_roll(storage_log_t *log, const storage_segment_t *seg, size_t len,
                      int32_t last_delta, int64_t now_ms)
{
    if (seg->size == 0)
        return false;
    if (seg->size + len > log->cfg.segment_bytes || seg->size + len > UINT32_MAX)
        return true;
    if (log->end_offset + last_delta - seg->base > INT32_MAX)
        return true; /* relative offsets in the index are 32 bits */
    int64_t roll_ms = storage_log_roll_age_ms(log);
    return roll_ms >= 0 && seg->roll_base_ms >= 0 && now_ms - seg->roll_base_ms >= roll_ms;
}

int storage_log_append(storage_log_t *log, uint8_t *batch, size_t len, int64_t *base_offset)
{
    size_t total;
    int rc = storage_batch_validate_header(batch, len, &total);
    if (rc)
        return rc;
    if (total != len)
        return -WEIR_EINVAL; /* exactly one batch */
    storage_batch_header_t h;
    if ((rc = storage_batch_header_read(batch, len, &h, &total)) != 0)
        return rc;
    if (h.last_offset_delta < 0)
        return -WEIR_EINVAL; /* an empty batch would own no offset */
    int64_t now_ms = clock_wall_ms();
    pthread_mutex_lock(&log->mu);
    if (log->offline) {
        rc = -WEIR_EOFFLINE;
        goto out_unlock;
    }
    storage_segment_t *seg = log_active(log);
    if (need_roll(log, seg, len, h.last_offset_delta, now_ms)) {
        if ((rc = storage_log_roll_locked(log)) != 0)
            goto out_unlock;
        seg = log_active(log);
    }
    h.base_offset = log->end_offset;
    be64_write(batch + BATCH_BASE_OFFSET, (uint64_t)h.base_offset);
    prealloc_room(log, seg, len);
    rc = log->io->ops->pwrite(log->io, seg->file->fd, batch, len, seg->size);
    if (rc) {
        /* Nothing is accounted; a partial write past seg->size is overwritten by the next
         * append or cut by recovery. */
        log->io->ops->ftruncate(log->io, seg->file->fd, seg->size);
        seg->alloc_end = seg->size;
        goto out_unlock;
    }
    storage_segment_note_batch(seg, &h, len, log->cfg.index_interval_bytes);
    seg->alloc_end = WEIR_MAX(seg->alloc_end, seg->size);
    if (seg->roll_base_ms < 0)
        seg->roll_base_ms = now_ms;
    log->end_offset = seg->next;
    if (atomic_load_explicit(&log->dirty_since_ms, memory_order_relaxed) == 0)
        atomic_store_explicit(&log->dirty_since_ms, clock_mono_ms(), memory_order_relaxed);
    /* Someone waits for an offset this append may have reached (a durable callback can register
     * before its data is appended): the sync must not wait for the background pass. */
    if (log->flusher && atomic_load_explicit(&log->fl_waiting, memory_order_relaxed) > 0)
        storage_flusher_notify(log->flusher, log);
    *base_offset = h.base_offset;
out_unlock:
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------- */

/* The header fields reads need, from the first BATCH_HEADER_SIZE bytes (or fewer: only what
 * is asked for must be present). */
typedef struct {
    int64_t base, last, max_ts;
    uint64_t total;
    int32_t records;
    int16_t attributes;
} hdr_t;

/* Reads the header of the batch at pos (below size) of a segment file. */
static int hdr_at(storage_io_t *io, int fd, uint64_t pos, uint64_t size, hdr_t *h)
{
    uint8_t p[BATCH_HEADER_SIZE];
    if (pos + sizeof(p) > size)
        return -WEIR_ECORRUPT;
    size_t got;
    int rc = io->ops->pread(io, fd, p, sizeof(p), pos, &got);
    if (rc)
        return rc;
    if (got != sizeof(p))
        return -WEIR_ECORRUPT;
    int32_t len = (int32_t)be32_read(p + BATCH_LENGTH);
    int32_t delta = (int32_t)be32_read(p + BATCH_LAST_OFFSET_DELTA);
    if (len < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD || delta < 0 ||
        pos + BATCH_LOG_OVERHEAD + (uint64_t)len > size)
        return -WEIR_ECORRUPT;
    h->base = (int64_t)be64_read(p + BATCH_BASE_OFFSET);
    h->last = h->base + delta;
    h->max_ts = (int64_t)be64_read(p + BATCH_MAX_TIMESTAMP);
    h->total = BATCH_LOG_OVERHEAD + (uint64_t)len;
    h->records = (int32_t)be32_read(p + BATCH_RECORD_COUNT);
    h->attributes = (int16_t)be16_read(p + BATCH_ATTRIBUTES);
    return 0;
}

/* Adds the batch to the slice being built (its first when none yet). */
static void slice_add_batch(storage_slice_t *out, uint64_t pos, const hdr_t *h)
{
    if (out->len == 0) {
        out->pos = pos;
        out->first_offset = h->base;
    }
    out->len += (size_t)h->total;
    out->next_offset = h->last + 1;
    out->records += h->records > 0 ? (uint64_t)h->records : 0;
    if ((h->attributes & BATCH_COMPRESSION_MASK) == CODEC_ZSTD)
        out->compressed_zstd = true;
}

typedef struct {
    storage_file_t *file;
    uint64_t size, pos;
    int64_t base;
} seg_snap_t;

/* Snapshot of the first segment at or after index i for reading from `offset`, mu held. */
static void snap_take(storage_log_t *log, size_t i, int64_t offset, seg_snap_t *s)
{
    storage_segment_t *seg = log->segs[i];
    s->file = storage_file_ref(seg->file);
    s->size = seg->size;
    s->pos = storage_segment_index_floor(seg, offset);
    s->base = seg->base;
}

/* Moves the snapshot to the segment after s->base; false if there is none. */
static bool snap_next(storage_log_t *log, seg_snap_t *s)
{
    storage_file_unref(s->file);
    s->file = NULL;
    pthread_mutex_lock(&log->mu);
    size_t i = storage_log_seg_floor(log, s->base);
    while (i < log->nsegs && log->segs[i]->base <= s->base)
        i++;
    bool ok = i < log->nsegs;
    if (ok)
        snap_take(log, i, log->segs[i]->base, s);
    pthread_mutex_unlock(&log->mu);
    return ok;
}

static int corrupt_read(storage_log_t *log, int64_t base, uint64_t pos)
{
    pthread_mutex_lock(&log->mu);
    char why[160];
    snprintf(why, sizeof(why), "bad batch header at position %" PRIu64 " of segment %020" PRId64,
             pos, base);
    storage_log_go_offline_locked(log, why);
    pthread_mutex_unlock(&log->mu);
    storage_log_fail_durables(log, -WEIR_EOFFLINE);
    return -WEIR_ECORRUPT;
}

int storage_log_read(storage_log_t *log, int64_t offset, size_t max_bytes, storage_slice_t *out)
{
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    pthread_mutex_lock(&log->mu);
    if (log->offline) {
        pthread_mutex_unlock(&log->mu);
        return -WEIR_EOFFLINE;
    }
    if (offset < log->start_offset || offset > log->end_offset) {
        pthread_mutex_unlock(&log->mu);
        return -WEIR_ERANGE;
    }
    if (offset == log->end_offset) {
        pthread_mutex_unlock(&log->mu);
        return 0;
    }
    seg_snap_t s;
    snap_take(log, storage_log_seg_floor(log, offset), offset, &s);
    int64_t verified_from = log->verified_from; /* it only moves down: a stale one is safe */
    pthread_mutex_unlock(&log->mu);
    do {
        uint64_t pos = s.pos;
        while (pos < s.size) {
            hdr_t h;
            int rc = hdr_at(log->io, s.file->fd, pos, s.size, &h);
            if (rc) {
                storage_file_unref(s.file);
                memset(out, 0, sizeof(*out));
                out->fd = -1;
                return rc == -WEIR_ECORRUPT ? corrupt_read(log, s.base, pos) : rc;
            }
            if (out->len == 0 ? h.last >= offset : out->len + h.total <= max_bytes)
                slice_add_batch(out, pos, &h);
            else if (out->len)
                break;
            pos += h.total;
        }
        if (out->len) {
            out->file = s.file;
            out->fd = s.file->fd;
            out->sendfile_ok = out->first_offset >= verified_from && log->io == storage_io_real();
            return 0;
        }
        /* Compaction may have emptied the rest of this segment: the batch is further on. */
    } while (snap_next(log, &s));
    return 0;
}

int storage_slice_pread(storage_log_t *log, const storage_slice_t *s, uint8_t *dst)
{
    if (s->len == 0)
        return 0;
    size_t got;
    int rc = log->io->ops->pread(log->io, s->fd, dst, s->len, s->pos, &got);
    if (rc)
        return rc;
    if (got != s->len)
        return -WEIR_EIO;
    /* Check right after reading back (TIGER_STYLE): a batch that fails its CRC is never
     * served, even if the disk rotted it after recovery verified it. */
    size_t off = 0;
    while (off < s->len) {
        size_t t;
        rc = storage_batch_validate_header(dst + off, s->len - off, &t);
        if (rc) {
            log_error(LOG_MOD,
                      "%s: batch at file position %" PRIu64 " fails verification on "
                      "read (%s)",
                      log->dir, s->pos + off, weir_strerror(rc));
            pthread_mutex_lock(&log->mu);
            storage_log_go_offline_locked(log, "corrupt batch read back");
            pthread_mutex_unlock(&log->mu);
            storage_log_fail_durables(log, -WEIR_EOFFLINE);
            return -WEIR_ECORRUPT;
        }
        off += t;
    }
    /* Checked now: when the slice reaches the verified part, that part starts at the slice. */
    pthread_mutex_lock(&log->mu);
    if (s->first_offset < log->verified_from && s->next_offset >= log->verified_from)
        log->verified_from = s->first_offset;
    pthread_mutex_unlock(&log->mu);
    return 0;
}

void storage_slice_release(storage_log_t *log, storage_slice_t *s)
{
    (void)log;
    storage_file_unref(storage_slice_take_file(s));
}

storage_file_t *storage_slice_take_file(storage_slice_t *s)
{
    storage_file_t *f = s->file;
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    return f;
}

void storage_file_release(void *file)
{
    storage_file_unref(file);
}

int storage_log_offset_for_time(storage_log_t *log, int64_t ts, int64_t *offset, int64_t *timestamp)
{
    pthread_mutex_lock(&log->mu);
    if (log->offline) {
        pthread_mutex_unlock(&log->mu);
        return -WEIR_EOFFLINE;
    }
    size_t i = 0;
    while (i < log->nsegs && log->segs[i]->max_ts < ts)
        i++;
    if (i == log->nsegs) {
        pthread_mutex_unlock(&log->mu);
        return -WEIR_ENOENT;
    }
    seg_snap_t s;
    snap_take(log, i, 0, &s);
    s.pos = storage_segment_time_floor(log->segs[i], ts);
    int64_t start = log->start_offset;
    pthread_mutex_unlock(&log->mu);
    do {
        for (uint64_t pos = s.pos; pos < s.size;) {
            hdr_t h;
            int rc = hdr_at(log->io, s.file->fd, pos, s.size, &h);
            if (rc) {
                storage_file_unref(s.file);
                return rc == -WEIR_ECORRUPT ? corrupt_read(log, s.base, pos) : rc;
            }
            if (h.max_ts >= ts && h.last >= start) {
                storage_file_unref(s.file);
                *offset = WEIR_MAX(h.base, start);
                *timestamp = h.max_ts;
                return 0;
            }
            pos += h.total;
        }
    } while (snap_next(log, &s));
    return -WEIR_ENOENT;
}

int storage_log_max_timestamp(storage_log_t *log, int64_t *batch_offset, int64_t *timestamp)
{
    pthread_mutex_lock(&log->mu);
    if (log->offline) {
        pthread_mutex_unlock(&log->mu);
        return -WEIR_EOFFLINE;
    }
    int64_t best = -1, at = -1;
    for (size_t i = 0; i < log->nsegs; i++) {
        const storage_segment_t *seg = log->segs[i];
        if (seg->max_ts > best && seg->max_ts_offset >= log->start_offset) {
            best = seg->max_ts;
            at = seg->max_ts_offset;
        }
    }
    pthread_mutex_unlock(&log->mu);
    if (at < 0)
        return -WEIR_ENOENT;
    *batch_offset = at;
    *timestamp = best;
    return 0;
}

int storage_log_scan(storage_log_t *log, int64_t from_offset, storage_scan_fn cb, void *arg)
{
    pthread_mutex_lock(&log->mu);
    if (log->offline) {
        pthread_mutex_unlock(&log->mu);
        return -WEIR_EOFFLINE;
    }
    if (from_offset < log->start_offset)
        from_offset = log->start_offset;
    if (from_offset >= log->end_offset) {
        pthread_mutex_unlock(&log->mu);
        return 0;
    }
    seg_snap_t s;
    snap_take(log, storage_log_seg_floor(log, from_offset), from_offset, &s);
    pthread_mutex_unlock(&log->mu);
    int rc = 0;
    do {
        storage_scan_t sc;
        storage_scan_init(&sc, log->io, s.file->fd, s.size, s.pos);
        const uint8_t *batch;
        size_t total;
        storage_batch_header_t h;
        while ((rc = storage_scan_next(&sc, true, &batch, &total, &h)) == 1) {
            if (h.base_offset + h.last_offset_delta < from_offset)
                continue;
            if (cb(arg, &h, batch, total) != 0)
                break;
        }
        storage_scan_deinit(&sc);
        if (rc < 0) {
            storage_file_unref(s.file);
            return corrupt_read(log, s.base, sc.pos);
        }
        if (rc == 1) {
            storage_file_unref(s.file);
            return 0;
        }
    } while (snap_next(log, &s));
    return 0;
}

/* ---- flush (group commit) ----------------------------------------------------------------- */

typedef struct {
    storage_file_t *file;
    uint64_t size;
} sync_item_t;

static void flush_mark_synced(storage_log_t *log, sync_item_t *items, size_t n, int64_t *bases,
                              size_t nb)
{
    for (size_t i = 0; i < log->nsegs; i++) {
        storage_segment_t *seg = log->segs[i];
        for (size_t k = 0; k < n; k++)
            if (items[k].file == seg->file && items[k].size > seg->synced)
                seg->synced = items[k].size;
        for (size_t k = 0; k < nb; k++)
            if (bases[k] == seg->base)
                seg->index_unsynced = false;
    }
}

/* The recovery point alone, between checkpoints: due when it moved and recovery_point_ms
 * passed. mu held. */
static bool recovery_point_due(storage_log_t *log)
{
    if (log->cfg.recovery_point_ms < 0 ||
        log->durable_offset <= WEIR_MAX(log->recovery_point, log->rpfile_offset))
        return false;
    return clock_mono_ms() - log->rpfile_mono_ms >= log->cfg.recovery_point_ms;
}

static bool checkpoint_due(storage_log_t *log)
{
    if (log->durable_offset <= log->recovery_point)
        return false;
    if (log->cfg.recovery_checkpoint_ms == 0)
        return true;
    if (log->segs[storage_log_seg_floor(log, log->durable_offset)]->base > log->ckpt_seg_base)
        return true;
    return clock_mono_ms() - log->ckpt_mono_ms >= log->cfg.recovery_checkpoint_ms;
}

/* Moves durable_offset to target and takes out the durables that are now durable, or, after a
 * failed sync, takes the log offline and takes out every durable callback. mu held. Returns how
 * many appends arrived after the snapshot (not covered), and restarts that count. */
static uint32_t flush_settle_locked(storage_log_t *log, int rc, int64_t target, durable_list_t *wl)
{
    uint32_t stragglers = atomic_exchange_explicit(&log->fl_appends, 0, memory_order_relaxed);
    if (rc == 0 && target >= log->end_offset)
        atomic_store_explicit(&log->dirty_since_ms, 0, memory_order_relaxed);
    else if (rc == 0)
        atomic_store_explicit(&log->dirty_since_ms, clock_mono_ms(), memory_order_relaxed);
    if (rc) {
        storage_log_go_offline_locked(log, "fdatasync failed");
        pthread_mutex_lock(&log->durable_mu);
        durables_take(log, 0, true, wl);
    } else {
        pthread_mutex_lock(&log->durable_mu);
        if (target > log->durable_offset)
            log->durable_offset = target;
        durables_take(log, log->durable_offset, false, wl);
    }
    pthread_mutex_unlock(&log->durable_mu);
    return stragglers;
}

int storage_log_flush(storage_log_t *log)
{
    return storage_log_flush_ex(log, NULL);
}

enum { FLUSH_LOCAL_ITEMS = 4 };

int storage_log_flush_ex(storage_log_t *log, storage_flush_result_t *res)
{
    if (res)
        *res = (storage_flush_result_t){0, 0, 0, 0};
    pthread_mutex_lock(&log->flush_mu);
    pthread_mutex_lock(&log->mu);
    if (log->offline) {
        pthread_mutex_unlock(&log->mu);
        pthread_mutex_unlock(&log->flush_mu);
        return -WEIR_EOFFLINE;
    }
    /* The snapshot: everything written so far (appends write under mu) is covered by the
     * syncs below, which all start after this point. */
    int64_t target = log->end_offset;
    sync_item_t items_local[FLUSH_LOCAL_ITEMS], *items = items_local;
    int64_t bases_local[FLUSH_LOCAL_ITEMS], *bases = bases_local;
    if (log->nsegs > FLUSH_LOCAL_ITEMS) {
        items = weir_malloc(log->nsegs * sizeof(*items));
        bases = weir_malloc(log->nsegs * sizeof(*bases));
    }
    size_t n = 0, nb = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < log->nsegs; i++) {
        storage_segment_t *seg = log->segs[i];
        if (seg->synced < seg->size) {
            items[n++] = (sync_item_t){storage_file_ref(seg->file), seg->size};
            bytes += seg->size - seg->synced;
        }
        if (seg->index_unsynced)
            bases[nb++] = seg->base;
    }
    bool dir = log->dir_dirty;
    log->dir_dirty = false;
    atomic_store_explicit(&log->fl_appends, 0, memory_order_relaxed);
    pthread_mutex_unlock(&log->mu);

    int64_t t0 = clock_mono_ns();
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        rc = log->io->ops->fdatasync(log->io, items[k].file->fd);
    for (size_t k = 0; k < nb && rc == 0; k++) {
        rc = storage_segment_sync_indexes(log->io, log->dir, bases[k]);
        if (rc == -WEIR_ENOENT)
            rc = 0; /* deleted by retention meanwhile */
    }
    if (dir && rc == 0)
        rc = log->io->ops->fsync_dir(log->io, log->dir);
    int64_t sync_ns = n || nb || dir ? clock_mono_ns() - t0 : 0;

    pthread_mutex_lock(&log->mu);
    durable_list_t wl;
    bool ckpt = false;
    if (rc)
        log->dir_dirty = log->dir_dirty || dir;
    else
        flush_mark_synced(log, items, n, bases, nb);
    uint32_t stragglers = flush_settle_locked(log, rc, target, &wl);
    bool rpfile = false;
    int64_t rp = log->durable_offset;
    if (rc == 0)
        ckpt = checkpoint_due(log);
    if (rc == 0 && !ckpt)
        rpfile = recovery_point_due(log);
    pthread_mutex_unlock(&log->mu);
    if (res)
        *res = (storage_flush_result_t){(uint32_t)wl.n, stragglers, sync_ns, bytes};
    durables_fire(&wl, rc ? -WEIR_EOFFLINE : 0);
    for (size_t k = 0; k < n; k++)
        storage_file_unref(items[k].file);
    if (items != items_local) {
        free(items);
        free(bases);
    }
    /* A checkpoint that cannot be written is logged (and a failed sync there takes the log
     * offline) but does not undo this flush: the data is on disk. */
    if (ckpt)
        storage_log_checkpoint_write(log);
    else if (rpfile)
        storage_log_recovery_point_write(log, rp);
    pthread_mutex_unlock(&log->flush_mu);
    return rc ? -WEIR_EOFFLINE : 0;
}

/* ---- the checkpoint file ------------------------------------------------------------------
 * Text, so people can read it, with a CRC so a damaged one is not believed:
 *   weir-log-checkpoint 1
 *   recovery-point <offset>
 *   log-start-offset <offset>
 *   compacted-until <offset>     (compaction may have left offset gaps below it)
 *   crc32c <8 hex digits over the lines above>
 * Written to a temporary name, fdatasynced, renamed over, and the directory fsynced. */

int storage_log_checkpoint_write(storage_log_t *log)
{
    pthread_mutex_lock(&log->ckpt_mu);
    pthread_mutex_lock(&log->mu);
    int64_t rp = log->durable_offset, so = log->start_offset, cu = log->compacted_until;
    int64_t seg_base = log->segs[storage_log_seg_floor(log, rp)]->base;
    pthread_mutex_unlock(&log->mu);

    char text[256];
    int n = snprintf(text, sizeof(text),
                     "weir-log-checkpoint 1\nrecovery-point %" PRId64 "\nlog-start-offset %" PRId64
                     "\ncompacted-until %" PRId64 "\n",
                     rp, so, cu);
    uint32_t crc = crc32c(0, text, (size_t)n);
    n += snprintf(text + n, sizeof(text) - (size_t)n, "crc32c %08x\n", crc);

    char tmp[PATH_MAX_LEN], final[PATH_MAX_LEN];
    storage_log_path(log, tmp, sizeof(tmp), CHECKPOINT_TMP_NAME);
    storage_log_path(log, final, sizeof(final), CHECKPOINT_NAME);
    storage_io_t *io = log->io;
    int fd;
    bool sync_failed = false;
    int rc = io->ops->open(io, tmp, O_CREAT | O_RDWR | O_TRUNC, &fd);
    if (rc == 0) {
        rc = io->ops->pwrite(io, fd, text, (size_t)n, 0);
        if (rc == 0) {
            rc = io->ops->fdatasync(io, fd);
            sync_failed = rc != 0;
        }
        io->ops->close(io, fd);
    }
    if (rc == 0)
        rc = io->ops->rename(io, tmp, final);
    if (rc == 0) {
        rc = io->ops->fsync_dir(io, log->dir);
        sync_failed = rc != 0;
    }
    pthread_mutex_lock(&log->mu);
    if (rc == 0) {
        if (rp > log->recovery_point)
            log->recovery_point = rp;
        log->ckpt_seg_base = seg_base;
        log->ckpt_mono_ms = clock_mono_ms();
    } else if (sync_failed) {
        storage_log_go_offline_locked(log, "fdatasync of the checkpoint failed");
    } else {
        log_warn(LOG_MOD, "%s: could not write the checkpoint: %s", log->dir, weir_strerror(rc));
    }
    pthread_mutex_unlock(&log->mu);
    if (sync_failed)
        storage_log_fail_durables(log, -WEIR_EOFFLINE);
    pthread_mutex_unlock(&log->ckpt_mu);
    return rc;
}

/* ---- the recovery-point file ----------------------------------------------------------------
 * Fixed size, so each write overwrites the whole of the last one in place:
 *   weir-recovery-point 1
 *   recovery-point <20 digits>
 *   crc32c <8 hex digits over the lines above>
 * No sync: the offset it names was synced before it was written, so the file only ever claims
 * the truth, and one that is lost, torn or garbled by a crash fails its CRC and is ignored
 * (recovery then starts from the checkpoint's recovery point). Called under flush_mu. */

enum { RPFILE_BODY = 22 + 36, RPFILE_SIZE = RPFILE_BODY + 16 };

static bool parse_i64_line(const char **p, const char *key, int64_t *v);

void storage_log_recovery_point_write(storage_log_t *log, int64_t rp)
{
    char text[RPFILE_SIZE + 1];
    int n =
        snprintf(text, sizeof(text), "weir-recovery-point 1\nrecovery-point %020" PRId64 "\n", rp);
    WEIR_ASSERT(n == RPFILE_BODY);
    snprintf(text + n, sizeof(text) - (size_t)n, "crc32c %08x\n", crc32c(0, text, (size_t)n));
    char path[PATH_MAX_LEN];
    storage_log_path(log, path, sizeof(path), RECOVERY_POINT_NAME);
    storage_io_t *io = log->io;
    int fd;
    int rc = io->ops->open(io, path, O_CREAT | O_RDWR, &fd);
    if (rc == 0) {
        rc = io->ops->pwrite(io, fd, text, RPFILE_SIZE, 0);
        io->ops->close(io, fd);
    }
    pthread_mutex_lock(&log->mu);
    log->rpfile_mono_ms = clock_mono_ms();
    if (rc == 0)
        log->rpfile_offset = rp;
    pthread_mutex_unlock(&log->mu);
    if (rc)
        log_warn_limited(LOG_MOD, "%s: could not write %s: %s", log->dir, RECOVERY_POINT_NAME,
                         weir_strerror(rc));
}

int storage_log_recovery_point_read(storage_io_t *io, const char *dir, int64_t *rp)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "%s/%s", dir, RECOVERY_POINT_NAME);
    int fd;
    int rc = io->ops->open(io, path, O_RDONLY, &fd);
    if (rc)
        return rc;
    char text[RPFILE_SIZE + 1];
    size_t got = 0;
    rc = io->ops->pread(io, fd, text, RPFILE_SIZE, 0, &got);
    io->ops->close(io, fd);
    if (rc)
        return rc;
    if (got != RPFILE_SIZE)
        return -WEIR_ECORRUPT;
    text[got] = 0;
    const char *p = text;
    const char *magic = "weir-recovery-point 1\n";
    unsigned int c;
    int used = 0;
    if (strncmp(p, magic, strlen(magic)) != 0)
        return -WEIR_ECORRUPT;
    p += strlen(magic);
    if (!parse_i64_line(&p, "recovery-point", rp) || p != text + RPFILE_BODY ||
        sscanf(p, "crc32c %8x\n%n", &c, &used) != 1 || used != 16 ||
        c != crc32c(0, text, RPFILE_BODY))
        return -WEIR_ECORRUPT;
    return 0;
}

static bool parse_i64_line(const char **p, const char *key, int64_t *v)
{
    size_t k = strlen(key);
    if (strncmp(*p, key, k) != 0 || (*p)[k] != ' ')
        return false;
    const char *q = *p + k + 1;
    char *end;
    long long x = strtoll(q, &end, 10);
    if (end == q || *end != '\n' || x < 0)
        return false;
    *v = x;
    *p = end + 1;
    return true;
}

int storage_log_checkpoint_read(storage_io_t *io, const char *dir, int64_t *recovery_point,
                                int64_t *start_offset, int64_t *compacted_until)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "%s/%s", dir, CHECKPOINT_NAME);
    int fd;
    int rc = io->ops->open(io, path, O_RDONLY, &fd);
    if (rc)
        return rc;
    char text[257];
    size_t got = 0;
    rc = io->ops->pread(io, fd, text, sizeof(text) - 1, 0, &got);
    io->ops->close(io, fd);
    if (rc)
        return rc;
    text[got] = 0;
    const char *p = text;
    const char *magic = "weir-log-checkpoint 1\n";
    if (strncmp(p, magic, strlen(magic)) != 0)
        return -WEIR_ECORRUPT;
    p += strlen(magic);
    int64_t rp, so, cu = 0, crc;
    if (!parse_i64_line(&p, "recovery-point", &rp) || !parse_i64_line(&p, "log-start-offset", &so))
        return -WEIR_ECORRUPT;
    if (strncmp(p, "compacted-until ", 16) == 0 && !parse_i64_line(&p, "compacted-until", &cu))
        return -WEIR_ECORRUPT;
    size_t body = (size_t)(p - text);
    unsigned int c;
    int used = 0;
    if (sscanf(p, "crc32c %8x\n%n", &c, &used) != 1 || used == 0 || p[used] != 0)
        return -WEIR_ECORRUPT;
    crc = c;
    if ((uint32_t)crc != crc32c(0, text, body))
        return -WEIR_ECORRUPT;
    *recovery_point = rp;
    *start_offset = so;
    *compacted_until = cu;
    return 0;
}
