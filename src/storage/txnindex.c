/*
 * txnindex: the aborted transactions of a log (see storage.h), one <base>.txnindex per segment
 * in Kafka's layout, and in memory on the segment (seg->txns) so a read_committed fetch never
 * reads a file. An entry lives in the segment that holds its abort marker, so entries are in
 * marker order inside a segment and across segments, and they leave with their segment.
 *
 * Durability: an entry is written to its file at once (no fdatasync); storage_log_aborted_sync
 * syncs the files with unsynced entries. Recovery loads every file and checks each entry
 * (version 0, first <= last, the marker inside the segment's offsets); a bad entry ends the
 * file there, and the log reports itself damaged so its owner rebuilds the entries.
 */
#include "storage/log_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static void entry_encode(uint8_t *p, const storage_aborted_txn_t *t)
{
    be16_write(p, 0);
    be64_write(p + 2, (uint64_t)t->producer_id);
    be64_write(p + 10, (uint64_t)t->first_offset);
    be64_write(p + 18, (uint64_t)t->last_offset);
    be64_write(p + 26, (uint64_t)t->last_stable_offset);
}

static void seg_push(storage_segment_t *seg, const storage_aborted_txn_t *t)
{
    if (seg->ntxns == seg->captxns) {
        seg->captxns = seg->captxns ? seg->captxns * 2 : 4;
        seg->txns = weir_realloc(seg->txns, seg->captxns * sizeof(*seg->txns));
    }
    seg->txns[seg->ntxns++] = *t;
}

int storage_txnindex_load(storage_io_t *io, const char *dir, storage_segment_t *seg, bool *damaged)
{
    char path[PATH_MAX_LEN];
    storage_segment_path(path, sizeof(path), dir, seg->base, ".txnindex");
    seg->ntxns = seg->txns_synced = 0;
    if (!io->ops->exists(io, path))
        return 0;
    int fd;
    int rc = io->ops->open(io, path, O_RDWR, &fd);
    if (rc)
        return rc;
    uint64_t size = 0;
    rc = io->ops->fsize(io, fd, &size);
    uint8_t *p = NULL;
    size_t got = 0;
    if (rc == 0 && size > 0) {
        if (size > (uint64_t)1 << 30) {
            size = 0; /* no sane index is this large: treat it as damaged */
            *damaged = true;
        }
        p = weir_malloc(size ? (size_t)size : 1);
        if (size)
            rc = io->ops->pread(io, fd, p, (size_t)size, 0, &got);
        if (rc == 0 && got != size)
            rc = -WEIR_EIO;
    }
    size_t good = 0;
    for (size_t off = 0; rc == 0 && off + TXNINDEX_ENTRY_SIZE <= got; off += TXNINDEX_ENTRY_SIZE) {
        const uint8_t *e = p + off;
        storage_aborted_txn_t t = {.producer_id = (int64_t)be64_read(e + 2),
                                   .first_offset = (int64_t)be64_read(e + 10),
                                   .last_offset = (int64_t)be64_read(e + 18),
                                   .last_stable_offset = (int64_t)be64_read(e + 26)};
        bool ok = be16_read(e) == 0 && t.producer_id >= 0 && t.first_offset >= 0 &&
                  t.first_offset <= t.last_offset && t.last_offset >= seg->base &&
                  t.last_stable_offset >= 0 &&
                  (seg->ntxns == 0 || seg->txns[seg->ntxns - 1].last_offset < t.last_offset);
        if (!ok)
            break;
        seg_push(seg, &t);
        good = off + TXNINDEX_ENTRY_SIZE;
    }
    if (rc == 0 && good != size) {
        log_warn(LOG_MOD,
                 "%s: %020" PRId64 ".txnindex: %" PRIu64 " bytes past its %zu good entries are "
                 "damaged; cutting them (the entries are rebuilt from the log)",
                 dir, seg->base, size - good, seg->ntxns);
        *damaged = true;
        rc = io->ops->ftruncate(io, fd, good);
        if (rc == 0)
            rc = io->ops->fdatasync(io, fd);
    }
    seg->txns_synced = seg->ntxns;
    io->ops->close(io, fd);
    free(p);
    return rc;
}

int storage_txnindex_write_as(storage_io_t *io, const char *dir, const storage_segment_t *seg,
                              const char *ext)
{
    if (seg->ntxns == 0)
        return 0;
    char path[PATH_MAX_LEN];
    storage_segment_path(path, sizeof(path), dir, seg->base, ext);
    int fd;
    int rc = io->ops->open(io, path, O_CREAT | O_RDWR | O_TRUNC, &fd);
    if (rc)
        return rc;
    size_t n = seg->ntxns * TXNINDEX_ENTRY_SIZE;
    uint8_t *p = weir_malloc(n);
    for (size_t i = 0; i < seg->ntxns; i++)
        entry_encode(p + i * TXNINDEX_ENTRY_SIZE, &seg->txns[i]);
    rc = io->ops->pwrite(io, fd, p, n, 0);
    if (rc == 0)
        rc = io->ops->fdatasync(io, fd);
    io->ops->close(io, fd);
    free(p);
    return rc;
}

int storage_log_aborted_add(storage_log_t *log, const storage_aborted_txn_t *t)
{
    pthread_mutex_lock(&log->mu);
    if (t->last_offset < log->start_offset || t->last_offset >= log->end_offset ||
        t->first_offset > t->last_offset) {
        pthread_mutex_unlock(&log->mu);
        return -WEIR_EINVAL;
    }
    storage_segment_t *seg = log->segs[storage_log_seg_floor(log, t->last_offset)];
    seg_push(seg, t);
    size_t at = seg->ntxns - 1;
    /* A file write under mu: aborts are rare, and this keeps the file in step with memory. */
    char path[PATH_MAX_LEN];
    storage_segment_path(path, sizeof(path), log->dir, seg->base, ".txnindex");
    storage_io_t *io = log->io;
    if (at == 0)
        log->txn_dir_dirty = true;
    uint8_t e[TXNINDEX_ENTRY_SIZE];
    entry_encode(e, t);
    int fd;
    int rc = io->ops->open(io, path, O_CREAT | O_RDWR, &fd);
    if (rc == 0) {
        rc = io->ops->pwrite(io, fd, e, sizeof(e), (uint64_t)at * TXNINDEX_ENTRY_SIZE);
        io->ops->close(io, fd);
    }
    pthread_mutex_unlock(&log->mu);
    if (rc)
        log_warn(LOG_MOD, "%s: writing %020" PRId64 ".txnindex: %s", log->dir, seg->base,
                 weir_strerror(rc));
    return rc;
}

size_t storage_log_aborted_collect(storage_log_t *log, int64_t from, int64_t upper,
                                   storage_aborted_txn_t **out)
{
    *out = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&log->mu);
    bool complete = false;
    for (size_t i = storage_log_seg_floor(log, from); i < log->nsegs && !complete; i++) {
        const storage_segment_t *seg = log->segs[i];
        for (size_t k = 0; k < seg->ntxns; k++) {
            const storage_aborted_txn_t *t = &seg->txns[k];
            if (t->last_offset < from)
                continue;
            if (t->first_offset < upper) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 4;
                    *out = weir_realloc(*out, cap * sizeof(**out));
                }
                (*out)[n++] = *t;
            }
            if (t->last_stable_offset >= upper) {
                complete = true;
                break;
            }
        }
    }
    pthread_mutex_unlock(&log->mu);
    return n;
}

int storage_log_aborted_truncate(storage_log_t *log, int64_t from)
{
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    for (size_t i = log->nsegs; i-- > 0;) {
        storage_segment_t *seg = log->segs[i];
        size_t keep = seg->ntxns;
        while (keep > 0 && seg->txns[keep - 1].last_offset >= from)
            keep--;
        if (keep == seg->ntxns) {
            if (seg->next <= from)
                break; /* entries of earlier segments are all below from */
            continue;
        }
        seg->ntxns = keep;
        seg->txns_synced = WEIR_MIN(seg->txns_synced, keep);
        char path[PATH_MAX_LEN];
        storage_segment_path(path, sizeof(path), log->dir, seg->base, ".txnindex");
        int fd;
        int r = log->io->ops->open(log->io, path, O_RDWR, &fd);
        if (r == 0) {
            r = log->io->ops->ftruncate(log->io, fd, (uint64_t)keep * TXNINDEX_ENTRY_SIZE);
            if (r == 0)
                r = log->io->ops->fdatasync(log->io, fd);
            log->io->ops->close(log->io, fd);
        }
        if (r && r != -WEIR_ENOENT && rc == 0)
            rc = r;
    }
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int storage_log_aborted_sync(storage_log_t *log)
{
    int64_t bases[64];
    size_t counts[64];
    size_t n = 0;
    pthread_mutex_lock(&log->mu);
    bool dir = log->txn_dir_dirty;
    log->txn_dir_dirty = false;
    for (size_t i = log->nsegs; i-- > 0 && n < WEIR_ARRAY_LEN(bases);) {
        storage_segment_t *seg = log->segs[i];
        if (seg->txns_synced < seg->ntxns) {
            bases[n] = seg->base;
            counts[n++] = seg->ntxns;
        }
    }
    pthread_mutex_unlock(&log->mu);
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        char path[PATH_MAX_LEN];
        storage_segment_path(path, sizeof(path), log->dir, bases[k], ".txnindex");
        int fd;
        rc = log->io->ops->open(log->io, path, O_RDWR, &fd);
        if (rc == -WEIR_ENOENT) { /* its segment went away meanwhile */
            rc = 0;
            counts[k] = 0;
            continue;
        }
        if (rc == 0) {
            rc = log->io->ops->fdatasync(log->io, fd);
            log->io->ops->close(log->io, fd);
        }
    }
    if (rc == 0 && dir)
        rc = log->io->ops->fsync_dir(log->io, log->dir);
    pthread_mutex_lock(&log->mu);
    if (rc) {
        log->txn_dir_dirty = log->txn_dir_dirty || dir;
    } else {
        for (size_t k = 0; k < n; k++) {
            for (size_t i = 0; i < log->nsegs; i++)
                if (log->segs[i]->base == bases[k])
                    log->segs[i]->txns_synced = WEIR_MAX(log->segs[i]->txns_synced,
                                                         WEIR_MIN(counts[k], log->segs[i]->ntxns));
        }
    }
    pthread_mutex_unlock(&log->mu);
    if (rc == 0 && n == WEIR_ARRAY_LEN(bases))
        return storage_log_aborted_sync(log); /* more than one batch of files */
    return rc;
}

bool storage_log_aborted_damaged(storage_log_t *log)
{
    pthread_mutex_lock(&log->mu);
    bool d = log->txn_damaged;
    pthread_mutex_unlock(&log->mu);
    return d;
}

void storage_log_set_first_unstable(storage_log_t *log, int64_t offset)
{
    atomic_store(&log->first_unstable, offset);
}

/* ---- compaction's view ---------------------------------------------------------------------- */

static int cmp_txn(const void *a, const void *b)
{
    const storage_aborted_txn_t *x = a, *y = b;
    if (x->producer_id != y->producer_id)
        return x->producer_id < y->producer_id ? -1 : 1;
    return (x->first_offset > y->first_offset) - (x->first_offset < y->first_offset);
}

size_t storage_txnindex_all(storage_log_t *log, storage_aborted_txn_t **out)
{
    size_t n = 0;
    for (size_t i = 0; i < log->nsegs; i++)
        n += log->segs[i]->ntxns;
    *out = n ? weir_malloc(n * sizeof(**out)) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < log->nsegs; i++) {
        if (log->segs[i]->ntxns == 0)
            continue; /* *out may be NULL, and so may txns */
        memcpy(*out + k, log->segs[i]->txns, log->segs[i]->ntxns * sizeof(**out));
        k += log->segs[i]->ntxns;
    }
    if (n > 1)
        qsort(*out, n, sizeof(**out), cmp_txn);
    return n;
}

bool storage_txnindex_aborted(const storage_aborted_txn_t *v, size_t n, int64_t producer_id,
                              int64_t offset)
{
    /* The last entry of this producer with first_offset <= offset: a producer's transactions
     * in one partition never overlap. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const storage_aborted_txn_t *t = &v[mid];
        if (t->producer_id < producer_id ||
            (t->producer_id == producer_id && t->first_offset <= offset))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return false;
    const storage_aborted_txn_t *t = &v[lo - 1];
    return t->producer_id == producer_id && t->first_offset <= offset && offset <= t->last_offset;
}
