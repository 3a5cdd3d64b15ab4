/*
 * retention: deletes whole segments from the front of the log, by retention.ms,
 * retention.bytes and the log start offset (DeleteRecords), and drives maintenance (time
 * rolls, and the removal of *.deleted files once file.delete.delay.ms has passed).
 *
 * Invariants: only a prefix of the segment list is ever deleted, oldest first, so what
 * survives a crash in the middle is still a contiguous log; the active segment is never
 * deleted while it is active (when retention.ms has expired all of it, it is rolled first, as
 * Kafka does); the log start offset only moves forward and is persisted (with a flush before,
 * so it never points past what a crash leaves) when DeleteRecords moves it.
 */
#include "storage/log_internal.h"

#include <inttypes.h>
#include <stdlib.h>

/* How many leading segments retention and the start offset allow to delete, mu held. The
 * result can be nsegs: then the active segment expired too and must be rolled first. */
static size_t deletable_prefix(storage_log_t *log, int64_t now_ms, bool by_policy)
{
    size_t n = 0;
    const storage_log_config_t *cfg = &log->cfg;
    if (by_policy && cfg->retention_ms >= 0) {
        while (n < log->nsegs) {
            storage_segment_t *seg = log->segs[n];
            if (seg->size == 0 || seg->max_ts < 0 || seg->max_ts >= now_ms - cfg->retention_ms)
                break;
            n++;
        }
    }
    if (by_policy && cfg->retention_bytes >= 0) {
        int64_t excess = -cfg->retention_bytes;
        for (size_t i = 0; i < log->nsegs; i++)
            excess += (int64_t)log->segs[i]->size;
        for (size_t i = 0; i < n; i++)
            excess -= (int64_t)log->segs[i]->size;
        while (n + 1 < log->nsegs && excess - (int64_t)log->segs[n]->size >= 0) {
            excess -= (int64_t)log->segs[n]->size;
            n++;
        }
    }
    while (n + 1 < log->nsegs && log->segs[n + 1]->base <= log->start_offset)
        n++;
    return n;
}

/* Remembers a segment renamed to *.deleted (maint_mu held). */
static void deleted_push(storage_log_t *log, int64_t base, int64_t due_ms)
{
    if (log->ndeleted == log->capdeleted) {
        log->capdeleted = log->capdeleted ? log->capdeleted * 2 : 8;
        log->deleted = weir_realloc(log->deleted, log->capdeleted * sizeof(*log->deleted));
    }
    log->deleted[log->ndeleted++] = (struct storage_deleted){base, due_ms};
}

/* Deletes what deletable_prefix allows. maint_mu held. */
static int delete_prefix(storage_log_t *log, int64_t now_ms, bool by_policy)
{
    pthread_mutex_lock(&log->mu);
    if (log->offline) {
        pthread_mutex_unlock(&log->mu);
        return -WEIR_EOFFLINE;
    }
    size_t n = deletable_prefix(log, now_ms, by_policy);
    bool rolled = false;
    if (n == log->nsegs) {
        rolled = storage_log_roll_locked(log) == 0;
        if (!rolled)
            n--; /* keep the active one; try again next time */
    }
    if (n == 0) {
        pthread_mutex_unlock(&log->mu);
        return 0;
    }
    bool created = log->dir_dirty; /* a newer segment's entry may not be on disk yet */
    storage_segment_t **gone = weir_malloc(n * sizeof(*gone));
    memcpy(gone, log->segs, n * sizeof(*gone));
    storage_log_segs_remove(log, 0, n);
    if (log->segs[0]->base > log->start_offset)
        log->start_offset = log->segs[0]->base;
    int64_t start = log->start_offset;
    int64_t delay = log->cfg.file_delete_delay_ms, due = clock_wall_ms() + delay;
    pthread_mutex_unlock(&log->mu);

    /* One directory fsync per segment: without it a file system may persist a later unlink
     * before an earlier one, and a crash would leave a hole in the middle of the log. */
    /* Newer segments (a roll just now, or one not yet flushed) must exist on disk before
     * their predecessors go, or a crash could leave no segment to say where the log ends. */
    int rc = rolled || created ? log->io->ops->fsync_dir(log->io, log->dir) : 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += gone[i]->size;
        if (rc == 0 && delay > 0) { /* Kafka's file.delete.delay.ms: removed later */
            rc = storage_segment_rename_deleted(log->io, log->dir, gone[i]->base);
            if (rc == 0)
                deleted_push(log, gone[i]->base, due);
        } else if (rc == 0) {
            rc = storage_segment_unlink(log->io, log->dir, gone[i]->base);
        }
        if (rc == 0)
            rc = log->io->ops->fsync_dir(log->io, log->dir);
        storage_segment_free(gone[i]); /* readers' slices keep the file open */
    }
    free(gone);
    log_info(LOG_MOD, "%s: deleted %zu segment(s), %" PRIu64 " bytes; log start offset %" PRId64,
             log->dir, n, bytes, start);
    storage_log_epochs_truncate_start(log, start);
    return rc;
}

void storage_log_purge_deleted(storage_log_t *log, int64_t now_ms)
{
    pthread_mutex_lock(&log->maint_mu);
    size_t kept = 0;
    for (size_t i = 0; i < log->ndeleted; i++) {
        if (log->deleted[i].due_ms > now_ms) {
            log->deleted[kept++] = log->deleted[i];
            continue;
        }
        int rc = storage_segment_unlink_deleted(log->io, log->dir, log->deleted[i].base);
        if (rc < 0) /* the next start removes *.deleted files too */
            log_warn(LOG_MOD, "%s: removing deleted segment %" PRId64 ": %s", log->dir,
                     log->deleted[i].base, weir_strerror(rc));
    }
    log->ndeleted = kept;
    pthread_mutex_unlock(&log->maint_mu);
}

int storage_log_retention(storage_log_t *log, int64_t now_ms)
{
    return delete_prefix(log, now_ms, true);
}

int storage_log_maintain(storage_log_t *log, int64_t now_ms)
{
    /* A compaction pass may hold maint_mu for long: the next maintenance does this log then,
     * rather than the caller (an event loop) waiting. */
    if (pthread_mutex_trylock(&log->maint_mu) != 0)
        return 0;
    pthread_mutex_lock(&log->mu);
    int rc = log->offline ? -WEIR_EOFFLINE : 0;
    storage_segment_t *seg = log_active(log);
    int64_t roll_ms = storage_log_roll_age_ms(log);
    if (rc == 0 && seg->size > 0 && roll_ms >= 0 && seg->roll_base_ms >= 0 &&
        now_ms - seg->roll_base_ms >= roll_ms)
        rc = storage_log_roll_locked(log);
    bool del = log->cfg.cleanup_delete;
    pthread_mutex_unlock(&log->mu);
    if (rc == 0)
        rc = delete_prefix(log, now_ms, del);
    pthread_mutex_unlock(&log->maint_mu);
    storage_log_purge_deleted(log, now_ms);
    return rc;
}

int storage_log_delete_records(storage_log_t *log, int64_t before_offset)
{
    pthread_mutex_lock(&log->maint_mu);
    pthread_mutex_lock(&log->mu);
    int rc = 0;
    if (log->offline)
        rc = -WEIR_EOFFLINE;
    else if (before_offset < 0 || before_offset > log->end_offset)
        rc = -WEIR_ERANGE;
    bool noop = rc == 0 && before_offset <= log->start_offset;
    pthread_mutex_unlock(&log->mu);
    if (rc || noop)
        goto out;
    /* Durable first: a persisted start offset must never point past what a crash leaves. */
    if ((rc = storage_log_flush(log)) != 0)
        goto out;
    pthread_mutex_lock(&log->mu);
    if (before_offset > log->start_offset)
        log->start_offset = before_offset;
    pthread_mutex_unlock(&log->mu);
    if ((rc = storage_log_checkpoint_write(log)) != 0)
        goto out;
    storage_log_epochs_truncate_start(log, before_offset);
    rc = delete_prefix(log, 0, false);
out:
    pthread_mutex_unlock(&log->maint_mu);
    return rc;
}

int storage_log_compact(storage_log_t *log, int64_t now_ms)
{
    pthread_mutex_lock(&log->maint_mu);
    int rc = storage_log_compact_locked(log, now_ms);
    pthread_mutex_unlock(&log->maint_mu);
    return rc;
}
