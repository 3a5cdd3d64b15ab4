/*
 * epoch: a partition's leader epochs and the offset each began at, as Kafka's
 * LeaderEpochFileCache keeps them, for OffsetForLeaderEpoch (a consumer after a rebalance, or a
 * follower, asks where an epoch ended to detect lost or diverging data).
 *
 * On disk: <dir>/leader-epoch-checkpoint in Kafka's own format, a version line "0", the number
 * of entries, then one "<epoch> <start offset>" line each:
 *     0
 *     1
 *     0 0
 * It is rewritten whole whenever the entries change: written to leader-epoch-checkpoint.tmp,
 * fdatasynced, renamed over the old file, the directory fsynced. So a crash leaves the old or
 * the new file, never a mix; a tmp file left by a crash is removed by recovery.
 *
 * Invariants (under epoch_mu): epochs strictly increase and start offsets never decrease from
 * one entry to the next; no entry starts past the log end (recovery cuts those) and the first
 * starts no earlier than the log start (retention and DeleteRecords move it up). A missing or
 * damaged file is rebuilt from the epoch stamped on the first batch of the log.
 */
#include "storage/log_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static void epochs_push(storage_log_t *log, int32_t epoch, int64_t start)
{
    if (log->nepochs == STORAGE_EPOCH_MAX) { /* the oldest goes: the log rarely reaches it */
        memmove(log->epochs, log->epochs + 1, (log->nepochs - 1) * sizeof(*log->epochs));
        log->nepochs--;
    }
    if (log->nepochs == log->capepochs) {
        log->capepochs = log->capepochs ? log->capepochs * 2 : 4;
        log->epochs = weir_realloc(log->epochs, log->capepochs * sizeof(*log->epochs));
    }
    log->epochs[log->nepochs++] = (struct storage_epoch_entry){epoch, start};
}

/* Writes the file from the entries (epoch_mu held). */
static int epochs_write(storage_log_t *log)
{
    buf_t text = {0};
    buf_printf(&text, "0\n%zu\n", log->nepochs);
    for (size_t i = 0; i < log->nepochs; i++)
        buf_printf(&text, "%d %" PRId64 "\n", log->epochs[i].epoch, log->epochs[i].start);
    char tmp[PATH_MAX_LEN], final[PATH_MAX_LEN];
    storage_log_path(log, tmp, sizeof(tmp), EPOCH_TMP_NAME);
    storage_log_path(log, final, sizeof(final), EPOCH_NAME);
    storage_io_t *io = log->io;
    int fd;
    int rc = io->ops->open(io, tmp, O_CREAT | O_RDWR | O_TRUNC, &fd);
    if (rc == 0) {
        rc = io->ops->pwrite(io, fd, text.data, text.len, 0);
        if (rc == 0)
            rc = io->ops->fdatasync(io, fd);
        io->ops->close(io, fd);
    }
    if (rc == 0)
        rc = io->ops->rename(io, tmp, final);
    if (rc == 0)
        rc = io->ops->fsync_dir(io, log->dir);
    buf_deinit(&text);
    if (rc)
        log_warn(LOG_MOD, "%s: cannot write %s: %s", log->dir, EPOCH_NAME, weir_strerror(rc));
    return rc;
}

/* Parses the file into the entries; -WEIR_ENOENT if there is none, -WEIR_ECORRUPT if it is
 * not what Kafka's format allows. */
static int epochs_read(storage_log_t *log)
{
    char path[PATH_MAX_LEN];
    storage_log_path(log, path, sizeof(path), EPOCH_NAME);
    storage_io_t *io = log->io;
    int fd;
    int rc = io->ops->open(io, path, O_RDONLY, &fd);
    if (rc)
        return rc;
    uint64_t size = 0;
    rc = io->ops->fsize(io, fd, &size);
    char *text = NULL;
    size_t got = 0;
    if (rc == 0 && size > (uint64_t)STORAGE_EPOCH_MAX * 40 + 64)
        rc = -WEIR_ECORRUPT;
    if (rc == 0) {
        text = weir_malloc(size + 1);
        rc = io->ops->pread(io, fd, text, size, 0, &got);
    }
    io->ops->close(io, fd);
    if (rc) {
        free(text);
        return rc;
    }
    text[got] = 0;
    const char *p = text;
    int version = -1, used = 0;
    long long count = -1;
    rc = -WEIR_ECORRUPT;
    if (sscanf(p, "%d\n%lld\n%n", &version, &count, &used) == 2 && used > 0 && version == 0 &&
        count >= 0 && count <= STORAGE_EPOCH_MAX) {
        p += used;
        long long i = 0;
        for (; i < count; i++) {
            int32_t e;
            int64_t start;
            if (sscanf(p, "%" SCNd32 " %" SCNd64 "\n%n", &e, &start, &used) != 2 || used == 0 ||
                e < 0 || start < 0)
                break;
            if (log->nepochs && (e <= log->epochs[log->nepochs - 1].epoch ||
                                 start < log->epochs[log->nepochs - 1].start))
                break;
            epochs_push(log, e, start);
            p += used;
        }
        if (i == count && *p == 0)
            rc = 0;
    }
    free(text);
    if (rc)
        log->nepochs = 0;
    return rc;
}

static int first_batch_epoch(void *arg, const storage_batch_header_t *h, const uint8_t *batch,
                             size_t total)
{
    (void)batch;
    (void)total;
    *(int32_t *)arg = h->leader_epoch;
    return 1;
}

int storage_log_epochs_load(storage_log_t *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t start = log->start_offset, end = log->end_offset;
    pthread_mutex_unlock(&log->mu);
    pthread_mutex_lock(&log->epoch_mu);
    int rc = epochs_read(log);
    bool dirty = false;
    if (rc == -WEIR_ECORRUPT)
        log_warn(LOG_MOD, "%s: %s is damaged: rebuilt from the log", log->dir, EPOCH_NAME);
    if (rc) {
        /* No file (a partition older than leader epochs, or a damaged one): the first batch
         * says which epoch the log starts in. An empty log starts without one. */
        int32_t epoch = -1;
        if (end > start)
            storage_log_scan(log, start, first_batch_epoch, &epoch);
        if (epoch >= 0)
            epochs_push(log, epoch, start);
        dirty = true;
    }
    /* Recovery may have cut the tail: no epoch starts past the end. */
    while (log->nepochs && log->epochs[log->nepochs - 1].start > end) {
        log->nepochs--;
        dirty = true;
    }
    pthread_mutex_unlock(&log->epoch_mu);
    storage_log_epochs_truncate_start(log, start);
    rc = 0;
    if (dirty) {
        pthread_mutex_lock(&log->epoch_mu);
        rc = epochs_write(log);
        pthread_mutex_unlock(&log->epoch_mu);
    }
    return rc == -WEIR_EIO ? rc : 0;
}

void storage_log_epochs_truncate_start(storage_log_t *log, int64_t start_offset)
{
    pthread_mutex_lock(&log->epoch_mu);
    size_t before = 0; /* entries wholly before the new start */
    while (before < log->nepochs && log->epochs[before].start < start_offset)
        before++;
    bool change = before > 0;
    if (before > 0 && (before == log->nepochs || log->epochs[before].start > start_offset)) {
        /* The last epoch begun before the start now begins at it (Kafka's truncateFromStart). */
        log->epochs[before - 1].start = start_offset;
        before--;
    }
    if (before > 0) {
        memmove(log->epochs, log->epochs + before, (log->nepochs - before) * sizeof(*log->epochs));
        log->nepochs -= before;
    }
    if (change)
        epochs_write(log);
    pthread_mutex_unlock(&log->epoch_mu);
}

int storage_log_epoch_assign(storage_log_t *log, int32_t epoch, int64_t start_offset)
{
    if (epoch < 0 || start_offset < 0)
        return -WEIR_EINVAL;
    pthread_mutex_lock(&log->epoch_mu);
    int rc = 0;
    bool newer = !log->nepochs || (epoch > log->epochs[log->nepochs - 1].epoch &&
                                   start_offset >= log->epochs[log->nepochs - 1].start);
    if (newer) {
        epochs_push(log, epoch, start_offset);
        rc = epochs_write(log);
        if (rc) /* what the file does not say, memory must not say either */
            log->nepochs--;
    }
    pthread_mutex_unlock(&log->epoch_mu);
    return rc;
}

int32_t storage_log_epoch_latest(storage_log_t *log)
{
    pthread_mutex_lock(&log->epoch_mu);
    int32_t e = log->nepochs ? log->epochs[log->nepochs - 1].epoch : -1;
    pthread_mutex_unlock(&log->epoch_mu);
    return e;
}

void storage_log_epoch_end_offset(storage_log_t *log, int32_t requested, int32_t *epoch,
                                  int64_t *end_offset)
{
    int64_t leo = storage_log_end_offset(log);
    pthread_mutex_lock(&log->epoch_mu);
    *epoch = -1;
    *end_offset = -1;
    size_t n = log->nepochs;
    if (requested == -1 || n == 0) {
        /* undefined (only -1 is: another negative epoch is just below every epoch) */
    } else if (log->epochs[n - 1].epoch == requested) {
        *epoch = requested; /* the current epoch ends at the log end */
        *end_offset = leo;
    } else if (requested < log->epochs[n - 1].epoch) {
        size_t higher = 0; /* the first entry with a larger epoch */
        while (log->epochs[higher].epoch <= requested)
            higher++;
        *epoch = higher == 0 ? requested : log->epochs[higher - 1].epoch;
        *end_offset = log->epochs[higher].start;
    }
    pthread_mutex_unlock(&log->epoch_mu);
}

void storage_log_epochs_free(storage_log_t *log)
{
    free(log->epochs);
    log->epochs = NULL;
    log->nepochs = log->capepochs = 0;
}
