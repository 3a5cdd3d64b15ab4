/*
 * clean_state: when a compacted log is due for cleaning, as Kafka's LogCleanerManager decides
 * it. The log has a clean part (everything below the first dirty offset: what the last pass
 * cleaned) and a dirty part (cleanable segments from there: inactive, wholly durable, and older
 * than min.compaction.lag.ms). A pass runs when the dirty part is more than
 * min.cleanable.dirty.ratio of both together, when the oldest dirty segment has waited longer
 * than max.compaction.lag.ms, or when a tombstone kept by the last pass has become old enough
 * (delete.retention.ms) to go. The broker's cleaner thread asks every log_cleaner.backoff.ms.
 *
 * The first dirty offset is where the last pass ended (in memory); after a restart, the
 * checkpointed compacted-until offset, so the first pass after a restart may find more dirty
 * bytes than there are (one extra pass, never a missed one).
 */
#include "storage/log_internal.h"

/* Fills out (mu held). */
static void clean_state_locked(storage_log_t *log, int64_t now_ms, storage_clean_state_t *out)
{
    memset(out, 0, sizeof(*out));
    const storage_log_config_t *cfg = &log->cfg;
    int64_t first_dirty = log->compact_end >= 0 ? log->compact_end : log->compacted_until;
    int64_t lag = cfg->min_compaction_lag_ms;
    int64_t oldest_dirty_ts = -1;
    for (size_t i = 0; i + 1 < log->nsegs; i++) {
        const storage_segment_t *seg = log->segs[i];
        if (seg->next <= first_dirty) {
            out->clean_bytes += seg->size;
            continue;
        }
        if (seg->next > log->durable_offset || seg->synced < seg->size)
            break; /* not durable yet: compaction never touches what a crash may take away */
        if (lag > 0 && seg->max_ts >= 0 && seg->max_ts > now_ms - lag)
            break;
        out->dirty_bytes += seg->size;
        if (oldest_dirty_ts < 0)
            oldest_dirty_ts = seg->roll_base_ms >= 0 ? seg->roll_base_ms : seg->max_ts;
    }
    uint64_t total = out->clean_bytes + out->dirty_bytes;
    out->dirty_ratio = total ? (double)out->dirty_bytes / (double)total : 0;
    int64_t max_lag = cfg->max_compaction_lag_ms;
    if (oldest_dirty_ts >= 0 && max_lag < INT64_MAX)
        out->overdue_ms = now_ms - oldest_dirty_ts - max_lag;
    int64_t drm = cfg->delete_retention_ms;
    out->tombstones_due = log->compact_tombstones && log->compact_tombstone_ts < INT64_MAX &&
                          drm >= 0 && log->compact_tombstone_ts <= now_ms - drm;
    out->due = cfg->cleanup_compact &&
               ((out->dirty_bytes > 0 &&
                 (out->dirty_ratio > cfg->min_cleanable_ratio || out->overdue_ms > 0)) ||
                out->tombstones_due);
}

int storage_log_clean_state(storage_log_t *log, int64_t now_ms, storage_clean_state_t *out)
{
    pthread_mutex_lock(&log->mu);
    int rc = log->offline ? -WEIR_EOFFLINE : 0;
    clean_state_locked(log, now_ms, out);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int storage_log_clean(storage_log_t *log, int64_t now_ms)
{
    pthread_mutex_lock(&log->maint_mu);
    storage_clean_state_t st;
    int rc = storage_log_clean_state(log, now_ms, &st);
    if (rc == 0 && st.due) {
        rc = storage_log_compact_locked(log, now_ms);
        rc = rc == 0 ? 1 : rc;
    }
    pthread_mutex_unlock(&log->maint_mu);
    return rc;
}
