/*
 * recovery: turns whatever a crash left in a partition directory into a consistent log, or
 * refuses loudly.
 *
 * Order of work in storage_log_recover():
 *   1. leftovers of interrupted work are removed (the .cleaned files, the checkpoints' tmp files,
 *      segments deleted (*.deleted) whose file.delete.delay.ms the broker did not live out)
 * and an interrupted compaction swap (<base>.log.swap) is finished: the swap file was complete and
 *      synced before it got that name, so the old segments it replaces are deleted and it takes
 *      its final name. Index files without a .log are deleted.
 *   2. the checkpoint gives the recovery point (rp) and the log start offset; the clean-shutdown
 *      marker says whether the last close finished.
 *   3. segments wholly below rp (all of them after a clean close) are trusted: their indexes are
 *      loaded and sanity-checked (rebuilt by a verifying scan if they fail), and only the tail
 *      after the last index entry is verified. In the others, the batches that end below rp
 *      are walked by their headers (fsynced and checked at append: only the index is rebuilt),
 *      and every batch from rp on is scanned: length, magic, CRC-32C, record count, offsets
 *      increasing and below the next segment.
 *   4. at the first bad batch, with E the offset it should have started at:
 *        E <  rp: that data was fsynced and acknowledged: -WEIR_ECORRUPT and a loud error;
 *        E >= rp: a torn tail: the file is cut there (logged with the byte count) and every
 *                 later segment is deleted, so offsets stay dense.
 *      A zero-filled tail is never mistaken for data: its length field reads 0, and no batch is
 *      shorter than its 61-byte header.
 *   5. sealed segments' rebuilt indexes are written and synced; what lies past rp and the
 *      directory are synced by the first flush, asked for at once (the durable offset starts
 *      at rp, as for appends not yet flushed); the checkpoint is rewritten when something
 *      changed on disk (a kill -9 that cut nothing leaves it as it was), and the clean marker
 *      is removed so a crash from now on is recovered again.
 */
#include "storage/log_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int64_t *v;
    size_t n, cap;
} i64_list_t;

static void list_add(i64_list_t *l, int64_t x)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = weir_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = x;
}

static bool list_has(const i64_list_t *l, int64_t x)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == x)
            return true;
    return false;
}

static void list_del(i64_list_t *l, int64_t x)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == x) {
            l->v[i] = l->v[--l->n];
            return;
        }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    storage_log_t *log;
    i64_list_t logs, swaps, indexes, txn_swaps;
    char **junk; /* names to delete */
    size_t njunk, capjunk;
    bool clean;
} listing_t;

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int listing_add(const char *name, void *arg)
{
    listing_t *l = arg;
    int64_t base;
    if (storage_segment_parse_name(name, ".log", &base)) {
        list_add(&l->logs, base);
    } else if (storage_segment_parse_name(name, ".log.swap", &base)) {
        list_add(&l->swaps, base);
    } else if (storage_segment_parse_name(name, ".txnindex.swap", &base)) {
        list_add(&l->txn_swaps, base);
    } else if (storage_segment_parse_name(name, ".index", &base) ||
               storage_segment_parse_name(name, ".timeindex", &base) ||
               storage_segment_parse_name(name, ".txnindex", &base)) {
        if (!list_has(&l->indexes, base))
            list_add(&l->indexes, base);
    } else if (has_suffix(name, ".cleaned") || has_suffix(name, ".swap") ||
               has_suffix(name, ".deleted") || strcmp(name, CHECKPOINT_TMP_NAME) == 0 ||
               strcmp(name, EPOCH_TMP_NAME) == 0) {
        if (l->njunk == l->capjunk) {
            l->capjunk = l->capjunk ? l->capjunk * 2 : 8;
            l->junk = weir_realloc(l->junk, l->capjunk * sizeof(*l->junk));
        }
        l->junk[l->njunk++] = weir_strdup(name);
    } else if (strcmp(name, CLEAN_MARKER_NAME) == 0) {
        l->clean = true;
    }
    return 0;
}

static void listing_free(listing_t *l)
{
    free(l->logs.v);
    free(l->swaps.v);
    free(l->indexes.v);
    free(l->txn_swaps.v);
    for (size_t i = 0; i < l->njunk; i++)
        free(l->junk[i]);
    free(l->junk);
}

/* ---- directory ------------------------------------------------------------------------------ */

static int ensure_dir(storage_log_t *log)
{
    storage_io_t *io = log->io;
    if (io->ops->exists(io, log->dir))
        return 0;
    int rc = io->ops->mkdir(io, log->dir);
    if (rc && rc != -WEIR_EEXIST)
        return rc;
    char parent[PATH_MAX_LEN];
    snprintf(parent, sizeof(parent), "%s", log->dir);
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof(parent), ".");
    else if (slash == parent)
        parent[1] = 0;
    else
        *slash = 0;
    return io->ops->fsync_dir(io, parent);
}

/* ---- scanning one segment ------------------------------------------------------------------- */

typedef struct {
    int64_t rp;     /* recovery point */
    bool gaps_ok;   /* a compaction output: offsets may skip anywhere */
    int64_t limit;  /* base of the next segment (INT64_MAX for the last) */
    bool truncated; /* the segment was cut: later segments must go */
    bool changed;   /* file or indexes differ from what was on disk */
} scan_ctx_t;

/* True if the file holds only zero bytes from pos on (up to 64 KiB looked at): space the log
 * preallocated ahead of its appends, not a torn batch. */
static bool zero_tail(storage_io_t *io, int fd, uint64_t pos, uint64_t file_size)
{
    uint8_t buf[4096];
    uint64_t end = WEIR_MIN(file_size, pos + (64u << 10));
    while (pos < end) {
        size_t want = (size_t)WEIR_MIN(sizeof(buf), end - pos), got;
        if (io->ops->pread(io, fd, buf, want, pos, &got) != 0 || got != want)
            return false;
        for (size_t i = 0; i < got; i++)
            if (buf[i])
                return false;
        pos += got;
    }
    return true;
}

/* Verifies the batches of seg from byte pos on (seg's bookkeeping must already describe
 * [0, pos)), appending to its indexes; cuts a torn tail, refuses corruption below rp. */
static int scan_from(storage_log_t *log, storage_segment_t *seg, uint64_t file_size, uint64_t pos,
                     int64_t expect, scan_ctx_t *cx)
{
    storage_scan_t sc;
    storage_scan_init(&sc, log->io, seg->file->fd, file_size, pos);
    const uint8_t *batch;
    size_t total;
    storage_batch_header_t h;
    int r;
    while ((r = storage_scan_next(&sc, true, &batch, &total, &h)) == 1) {
        int64_t last = h.base_offset + h.last_offset_delta;
        /* Base offsets are outside the CRC: where compaction never ran, they must be dense. */
        bool gap_ok = cx->gaps_ok || h.base_offset <= log->compacted_until;
        if (h.last_offset_delta < 0 || h.base_offset < expect ||
            (!gap_ok && h.base_offset != expect) || last >= cx->limit ||
            h.base_offset - seg->base > INT32_MAX || last - seg->base > INT32_MAX) {
            r = -WEIR_ECORRUPT; /* offsets going backwards or into the next segment */
            sc.pos -= total;
            break;
        }
        storage_segment_note_batch(seg, &h, total, log->cfg.index_interval_bytes);
        expect = last + 1;
    }
    uint64_t bad_pos = sc.pos;
    storage_scan_deinit(&sc);
    if (r == 0)
        return 0;
    if (r == -WEIR_EIO)
        return r;
    const char *why = r == -WEIR_EAGAIN         ? "batch cut short by the end of the file"
                      : r == -WEIR_EUNSUPPORTED ? "bad magic byte"
                                                : "bad length, CRC, count or offset";
    if (expect < cx->rp) {
        log_error(LOG_MOD,
                  "%s: segment %020" PRId64 ": bad batch at position %" PRIu64 " (offset %" PRId64
                  ") below the recovery point %" PRId64 " (%s): this data was fsynced, so the "
                  "disk or something else corrupted it; refusing to open the log",
                  log->dir, seg->base, bad_pos, expect, cx->rp, why);
        return -WEIR_ECORRUPT;
    }
    bool zeros = zero_tail(log->io, seg->file->fd, bad_pos, file_size);
    if (zeros && cx->limit == INT64_MAX) {
        /* the last segment's preallocated space: kept as such (open_active_file), so a crash
         * restart changes nothing on disk here */
        log_debug(LOG_MOD,
                  "%s: segment %020" PRId64 ": %" PRIu64 " bytes of preallocated zeros past "
                  "position %" PRIu64 " (offset %" PRId64 ")",
                  log->dir, seg->base, file_size - bad_pos, bad_pos, expect);
        return 0;
    }
    if (zeros)
        log_info(LOG_MOD,
                 "%s: segment %020" PRId64 ": cutting %" PRIu64
                 " bytes of zeros (preallocated space) at position %" PRIu64 " (offset %" PRId64
                 ")",
                 log->dir, seg->base, file_size - bad_pos, bad_pos, expect);
    else
        log_warn(LOG_MOD,
                 "%s: segment %020" PRId64 ": truncating %" PRIu64
                 " bytes of torn tail at position %" PRIu64 " (offset %" PRId64 "): %s",
                 log->dir, seg->base, file_size - bad_pos, bad_pos, expect, why);
    /* synced at once: a later recovery trusting this segment could not know the cut was
     * pending, and the bytes it removed would come back with a power loss */
    int rc = log->io->ops->ftruncate(log->io, seg->file->fd, bad_pos);
    if (rc == 0)
        rc = log->io->ops->fdatasync(log->io, seg->file->fd);
    if (rc)
        return rc;
    cx->truncated = true;
    cx->changed = true;
    return 0;
}

static int scan_all(storage_log_t *log, storage_segment_t *seg, uint64_t file_size, scan_ctx_t *cx)
{
    storage_segment_index_reset(seg);
    cx->changed = true; /* indexes rebuilt */
    return scan_from(log, seg, file_size, 0, seg->base, cx);
}

/* A batch that ends below the recovery point was checked when it was appended and fsynced
 * before rp moved past it, so recovery need not read it again: the walk reads batch headers
 * only (through a 64 KiB window, so a run of small batches costs one read and a large batch
 * one read of its header), notes each batch in the segment's indexes, and stops at the first
 * batch that reaches rp or at anything odd, where the verifying scan takes over and judges. */
static int walk_durable(storage_log_t *log, storage_segment_t *seg, uint64_t file_size,
                        const scan_ctx_t *cx, uint64_t *pos_out, int64_t *expect_out)
{
    enum { WINDOW = 64u << 10 };
    uint8_t *win = weir_malloc(WINDOW);
    uint64_t pos = 0, win_pos = 0;
    size_t win_len = 0;
    int64_t expect = seg->base;
    int rc = 0;
    while (file_size - pos >= BATCH_HEADER_SIZE) {
        if (pos + BATCH_HEADER_SIZE > win_pos + win_len) {
            size_t want = (size_t)WEIR_MIN((uint64_t)WINDOW, file_size - pos);
            if ((rc = log->io->ops->pread(log->io, seg->file->fd, win, want, pos, &win_len)) != 0)
                break;
            win_pos = pos;
            if (win_len < BATCH_HEADER_SIZE)
                break;
        }
        storage_batch_header_t h;
        size_t total;
        int r = storage_batch_header_read(win + (pos - win_pos), win_len - (size_t)(pos - win_pos),
                                          &h, &total);
        if (r != 0 && r != -WEIR_EAGAIN) /* EAGAIN: the batch runs past the window */
            break;
        int64_t last = h.base_offset + h.last_offset_delta;
        bool gap_ok = cx->gaps_ok || h.base_offset <= log->compacted_until;
        if (h.magic != 2 || h.last_offset_delta < 0 || last >= cx->rp || last >= cx->limit ||
            total > file_size - pos || h.base_offset < expect ||
            (!gap_ok && h.base_offset != expect) || h.base_offset - seg->base > INT32_MAX ||
            last - seg->base > INT32_MAX)
            break;
        storage_segment_note_batch(seg, &h, total, log->cfg.index_interval_bytes);
        expect = last + 1;
        pos += total;
    }
    free(win);
    *pos_out = pos;
    *expect_out = expect;
    return rc;
}

/* A segment at or past the recovery point: the durable part walked, the rest verified. */
static int scan_past_rp(storage_log_t *log, storage_segment_t *seg, uint64_t file_size,
                        scan_ctx_t *cx)
{
    storage_segment_index_reset(seg);
    cx->changed = true; /* indexes rebuilt */
    uint64_t pos;
    int64_t expect;
    int rc = walk_durable(log, seg, file_size, cx, &pos, &expect);
    if (rc)
        return rc;
    return scan_from(log, seg, file_size, pos, expect, cx);
}

/* A segment below the recovery point: trust its indexes if they pass the checks, verify the
 * tail after the last entry. */
static int load_trusted(storage_log_t *log, storage_segment_t *seg, uint64_t file_size,
                        scan_ctx_t *cx)
{
    int rc = storage_segment_load_indexes(log->io, log->dir, seg, file_size);
    if (rc == -WEIR_ENOENT || rc == -WEIR_ECORRUPT) {
        log_info(LOG_MOD, "%s: segment %020" PRId64 ": index missing or inconsistent, rebuilding",
                 log->dir, seg->base);
        return scan_all(log, seg, file_size, cx);
    }
    if (rc)
        return rc;
    uint64_t pos = seg->nidx ? seg->idx[seg->nidx - 1].pos : 0;
    int64_t expect = seg->nidx ? seg->base + seg->idx[seg->nidx - 1].rel : seg->base;
    seg->size = pos;
    seg->bytes_since_index = 0;
    rc = scan_from(log, seg, file_size, pos, expect, cx);
    if (rc)
        return rc;
    if (seg->ntidx > 0 && seg->base + seg->tidx[seg->ntidx - 1].rel >= seg->next) {
        log_info(LOG_MOD, "%s: segment %020" PRId64 ": time index points past the data, rebuilding",
                 log->dir, seg->base);
        return scan_all(log, seg, file_size, cx);
    }
    return 0;
}

/* ---- interrupted compaction ------------------------------------------------------------ */

static int finish_swap(storage_log_t *log, listing_t *l, int64_t base)
{
    storage_io_t *io = log->io;
    storage_segment_t *seg;
    int rc = storage_segment_open(io, log->dir, base, ".log.swap", &seg);
    if (rc)
        return rc;
    uint64_t size;
    rc = io->ops->fsize(io, seg->file->fd, &size);
    scan_ctx_t cx = {.rp = INT64_MAX, .gaps_ok = true, .limit = INT64_MAX};
    if (rc == 0)
        rc = scan_from(log, seg, size, 0, base, &cx); /* any bad batch: rp = max refuses */
    int64_t end = seg->next;
    storage_segment_free(seg);
    if (rc) {
        log_error(LOG_MOD, "%s: compaction swap file for segment %020" PRId64 " is unreadable",
                  log->dir, base);
        return rc;
    }
    /* The swap replaces its own name and every segment that started inside its range. */
    size_t replaced = 0;
    for (size_t i = 0; i < l->logs.n;) {
        int64_t b = l->logs.v[i];
        if (b == base || (b > base && b < end)) {
            if ((rc = storage_segment_unlink(io, log->dir, b)) != 0)
                return rc;
            list_del(&l->logs, b);
            list_del(&l->indexes, b);
            replaced++;
        } else {
            i++;
        }
    }
    if ((rc = storage_segment_unlink(io, log->dir, base)) != 0) /* stale indexes of base */
        return rc;
    list_del(&l->indexes, base);
    if ((rc = io->ops->fsync_dir(io, log->dir)) != 0)
        return rc;
    char from[PATH_MAX_LEN], to[PATH_MAX_LEN];
    storage_segment_path(from, sizeof(from), log->dir, base, ".log.swap");
    storage_segment_path(to, sizeof(to), log->dir, base, ".log");
    if ((rc = io->ops->rename(io, from, to)) != 0)
        return rc;
    if ((rc = io->ops->fsync_dir(io, log->dir)) != 0)
        return rc;
    list_add(&l->logs, base);
    if (list_has(&l->txn_swaps, base)) { /* the merged aborted-transaction index */
        storage_segment_path(from, sizeof(from), log->dir, base, ".txnindex.swap");
        storage_segment_path(to, sizeof(to), log->dir, base, ".txnindex");
        if ((rc = io->ops->rename(io, from, to)) != 0 ||
            (rc = io->ops->fsync_dir(io, log->dir)) != 0)
            return rc;
        list_del(&l->txn_swaps, base);
    }
    log_warn(LOG_MOD,
             "%s: finished an interrupted compaction: segment %020" PRId64
             " replaces %zu old segment(s)",
             log->dir, base, replaced);
    return 0;
}

static int clean_leftovers(storage_log_t *log, listing_t *l)
{
    storage_io_t *io = log->io;
    bool changed = l->njunk > 0;
    for (size_t i = 0; i < l->njunk; i++) {
        char path[PATH_MAX_LEN];
        storage_log_path(log, path, sizeof(path), l->junk[i]);
        log_info(LOG_MOD, "%s: removing leftover %s", log->dir, l->junk[i]);
        int rc = io->ops->unlink(io, path);
        if (rc && rc != -WEIR_ENOENT)
            return rc;
    }
    if (l->swaps.n > 1)
        qsort(l->swaps.v, l->swaps.n, sizeof(int64_t), cmp_i64);
    for (size_t i = 0; i < l->swaps.n; i++) {
        int rc = finish_swap(log, l, l->swaps.v[i]);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < l->txn_swaps.n; i++) { /* a compaction that never committed */
        char path[PATH_MAX_LEN];
        storage_segment_path(path, sizeof(path), log->dir, l->txn_swaps.v[i], ".txnindex.swap");
        int rc = io->ops->unlink(io, path);
        if (rc && rc != -WEIR_ENOENT)
            return rc;
        changed = true;
    }
    for (size_t i = 0; i < l->indexes.n; i++) {
        if (list_has(&l->logs, l->indexes.v[i]))
            continue;
        changed = true;
        int rc = storage_segment_unlink(io, log->dir, l->indexes.v[i]);
        if (rc)
            return rc;
    }
    return changed ? io->ops->fsync_dir(io, log->dir) : 0;
}

/* ---- loading the segments ------------------------------------------------------------------ */

static void drop_segments_from(storage_log_t *log, size_t from)
{
    for (size_t i = from; i < log->nsegs; i++) {
        storage_segment_t *seg = log->segs[i];
        log_warn(LOG_MOD,
                 "%s: deleting segment %020" PRId64 " (%" PRIu64 " bytes) after a truncated one",
                 log->dir, seg->base, seg->size);
        storage_segment_unlink(log->io, log->dir, seg->base);
        storage_segment_free(seg);
    }
    log->nsegs = from;
    log->dir_dirty = true;
}

/* Deletes the listed segments from index k on, plus log->segs[from..]. */
static void drop_listed_from(storage_log_t *log, listing_t *l, size_t k, size_t from)
{
    for (; k < l->logs.n; k++) {
        storage_segment_t *later;
        if (storage_segment_open(log->io, log->dir, l->logs.v[k], ".log", &later) == 0) {
            log->io->ops->fsize(log->io, later->file->fd, &later->size);
            storage_log_segs_insert(log, log->nsegs, later);
        }
    }
    drop_segments_from(log, from);
}

/* Reads the first batch's max timestamp: segment.ms counts from it, as in Kafka. */
static void set_roll_base(storage_log_t *log, storage_segment_t *seg)
{
    seg->roll_base_ms = -1;
    if (seg->size == 0)
        return;
    uint8_t h[BATCH_PRODUCER_ID];
    size_t got;
    int64_t now = clock_wall_ms();
    if (log->io->ops->pread(log->io, seg->file->fd, h, sizeof(h), 0, &got) == 0 &&
        got == sizeof(h)) {
        int64_t ts = (int64_t)be64_read(h + BATCH_MAX_TIMESTAMP);
        seg->roll_base_ms = ts >= 0 && ts <= now ? ts : now;
    } else {
        seg->roll_base_ms = now;
    }
}

static int load_segments(storage_log_t *log, listing_t *l, int64_t rp, bool clean, bool *changed)
{
    if (l->logs.n > 1)
        qsort(l->logs.v, l->logs.n, sizeof(int64_t), cmp_i64);
    for (size_t i = 0; i < l->logs.n; i++) {
        int64_t base = l->logs.v[i];
        storage_segment_t *seg;
        int rc = storage_segment_open(log->io, log->dir, base, ".log", &seg);
        if (rc)
            return rc;
        storage_log_segs_insert(log, log->nsegs, seg);
        uint64_t size;
        if ((rc = log->io->ops->fsize(log->io, seg->file->fd, &size)) != 0)
            return rc;
        if (i > 0 && log->segs[i - 1]->next > base) {
            log_error(LOG_MOD, "%s: segment %020" PRId64 " overlaps the one before it", log->dir,
                      base);
            return -WEIR_ECORRUPT;
        }
        if (i > 0 && log->segs[i - 1]->next < base && base > log->compacted_until) {
            /* Where compaction never ran offsets are dense: a gap means a segment went missing. */
            int64_t gap = log->segs[i - 1]->next;
            if (gap < rp) {
                log_error(LOG_MOD,
                          "%s: offsets %" PRId64 "..%" PRId64 " are missing (a segment "
                          "was lost) below the recovery point %" PRId64
                          "; refusing to open the log",
                          log->dir, gap, base - 1, rp);
                return -WEIR_ECORRUPT;
            }
            log_warn(LOG_MOD,
                     "%s: offsets %" PRId64 "..%" PRId64 " are missing past the recovery "
                     "point: dropping the segments after the gap",
                     log->dir, gap, base - 1);
            drop_listed_from(log, l, i + 1, i);
            *changed = true;
            break;
        }
        scan_ctx_t cx = {.rp = rp, .limit = i + 1 < l->logs.n ? l->logs.v[i + 1] : INT64_MAX};
        bool trusted = clean || (i + 1 < l->logs.n && l->logs.v[i + 1] <= rp);
        rc = trusted ? load_trusted(log, seg, size, &cx) : scan_past_rp(log, seg, size, &cx);
        if (rc)
            return rc;
        log_debug(LOG_MOD,
                  "%s: segment %020" PRId64 " %s: %" PRIu64 " bytes, offsets up to %" PRId64
                  " (recovery point %" PRId64 ")",
                  log->dir, base, trusted ? "trusted" : "verified", seg->size, seg->next, rp);
        /* 0: recovery syncs it below. Even a file whose bytes were all below rp: what recovery
         * read may include a change the kernel had not written yet (a trim whose sync failed,
         * say), and recovery must make what it accepted durable. */
        seg->synced = cx.changed ? 0 : seg->size;
        seg->index_unsynced = cx.changed;
        /* the last segment's indexes live in memory until it rolls or the log closes (and a
         * crash walks it again), so walking it changes nothing on disk */
        bool last = i + 1 == l->logs.n && !trusted;
        *changed = *changed || cx.truncated || (cx.changed && !last);
        if (cx.truncated && i + 1 < l->logs.n) {
            drop_listed_from(log, l, i + 1, i + 1); /* their offsets would leave a gap */
            break;
        }
    }
    return 0;
}

/* After a clean close: makes everything recovery accepted durable (normally nothing is left to
 * sync), so durable_offset can start at the end. After a crash it syncs only the rebuilt
 * indexes of sealed segments (with their data); the active segment's data past rp and the
 * directory (the names of files recovery accepted may not be durable yet) are left to the
 * first flush, which the log asks for at once: until then the durable offset stays at rp, as
 * for appends not yet flushed, so nothing past it is acknowledged before it is on disk. The
 * active segment's indexes live in memory until it rolls or the log closes. */
static int recovery_sync(storage_log_t *log, bool lazy)
{
    for (size_t i = 0; i < log->nsegs; i++) {
        storage_segment_t *seg = log->segs[i];
        bool active = i + 1 == log->nsegs;
        bool index = seg->index_unsynced && !active;
        int rc;
        seg->index_unsynced = false;
        if ((seg->synced < seg->size && !lazy) || index) {
            if ((rc = log->io->ops->fdatasync(log->io, seg->file->fd)) != 0)
                return rc;
            seg->synced = seg->size;
        }
        if (index && ((rc = storage_segment_write_indexes(log->io, log->dir, seg)) != 0 ||
                      (rc = storage_segment_sync_indexes(log->io, log->dir, seg->base)) != 0))
            return rc;
    }
    return 0;
}

static int read_checkpoint(storage_log_t *log, bool have_segments, int64_t *rp, int64_t *so)
{
    *rp = 0;
    *so = 0;
    int rc = storage_log_checkpoint_read(log->io, log->dir, rp, so, &log->compacted_until);
    if (rc == -WEIR_ECORRUPT) {
        log_warn(LOG_MOD,
                 "%s: checkpoint file is damaged: ignoring it and verifying every "
                 "segment",
                 log->dir);
    } else if (rc == -WEIR_ENOENT) {
        if (have_segments)
            log_warn(LOG_MOD, "%s: no checkpoint file: verifying every segment", log->dir);
    } else if (rc) {
        return rc;
    }
    if (rc) {
        /* Without the checkpoint the log's history is unknown: accept offset gaps (compaction
         * may have made them) rather than cut data at one; from the end on, they are checked. */
        *rp = 0;
        *so = 0;
        log->compacted_until = have_segments ? INT64_MAX : 0;
    }
    return rc == 0 ? 1 : 0;
}

/* The offsets once the segments are in place. */
static int settle_offsets(storage_log_t *log, int64_t rp, int64_t so)
{
    if (log->nsegs == 0) {
        storage_segment_t *seg;
        int rc = storage_segment_create(log->io, log->dir, so, &seg);
        if (rc)
            return rc;
        storage_log_segs_insert(log, 0, seg);
        log->dir_dirty = true;
    }
    storage_segment_t *last = log_active(log);
    log->end_offset = last->next;
    if (log->end_offset < rp && rp > log->compacted_until) {
        log_error(LOG_MOD,
                  "%s: the log ends at offset %" PRId64 ", below its recovery point %" PRId64
                  ": fsynced data is missing; refusing to open the log",
                  log->dir, log->end_offset, rp);
        return -WEIR_ECORRUPT;
    }
    log->start_offset = WEIR_MAX(so, log->segs[0]->base);
    if (log->start_offset > log->end_offset) {
        /* DeleteRecords flushes before it persists the start offset, so this takes damage
         * from outside; Kafka's answer is the same: an empty log at the start offset. */
        log_warn(LOG_MOD,
                 "%s: log start offset %" PRId64 " is past the end %" PRId64
                 ": starting empty there",
                 log->dir, log->start_offset, log->end_offset);
        drop_segments_from(log, 0);
        storage_segment_t *seg;
        int rc = storage_segment_create(log->io, log->dir, log->start_offset, &seg);
        if (rc)
            return rc;
        storage_log_segs_insert(log, 0, seg);
        log->end_offset = log->start_offset;
    }
    set_roll_base(log, log_active(log));
    return 0;
}

int storage_log_recover(storage_log_t *log)
{
    storage_io_t *io = log->io;
    int rc = ensure_dir(log);
    if (rc)
        return rc;
    listing_t l = {.log = log};
    if ((rc = io->ops->list(io, log->dir, listing_add, &l)) != 0)
        goto out;
    if ((rc = clean_leftovers(log, &l)) != 0)
        goto out;
    int64_t rp, so;
    rc = read_checkpoint(log, l.logs.n > 0, &rp, &so);
    if (rc < 0)
        goto out;
    bool have_ckpt = rc == 1;
    bool clean = l.clean && have_ckpt;
    int64_t file_rp;
    if (have_ckpt && !clean && storage_log_recovery_point_read(io, log->dir, &file_rp) == 0 &&
        file_rp > rp) {
        log_debug(LOG_MOD, "%s: recovery point %" PRId64 " (%s; the checkpoint says %" PRId64 ")",
                  log->dir, file_rp, RECOVERY_POINT_NAME, rp);
        rp = file_rp;
    }
    bool changed = false; /* something on disk changed: the checkpoint is rewritten */
    if ((rc = load_segments(log, &l, rp, clean, &changed)) != 0)
        goto out;
    if ((rc = settle_offsets(log, rp, so)) != 0)
        goto out;
    for (size_t i = 0; i < log->nsegs && rc == 0; i++)
        rc = storage_txnindex_load(io, log->dir, log->segs[i], &log->txn_damaged);
    if (rc)
        goto out;
    /* After a crash that cut nothing (kill -9 leaves the page cache whole) the old checkpoint
     * still holds: rp stays where it was, and the first flush syncs the rest (recovery_sync). */
    bool ckpt =
        changed || !have_ckpt || log->start_offset != so || (clean && rp != log->end_offset);
    if ((rc = recovery_sync(log, !clean)) != 0)
        goto out;
    log->dir_dirty = !clean;
    log->durable_offset =
        clean ? log->end_offset : WEIR_MIN(WEIR_MAX(rp, log->start_offset), log->end_offset);
    /* Recovery scanned (CRC included) exactly what lies past the durable point; what lies below
     * was only walked by its headers or trusted: it is checked when first read. */
    log->verified_from = log->durable_offset;
    if (!clean)
        atomic_store_explicit(&log->dirty_since_ms, clock_mono_ms(), memory_order_relaxed);
    log->recovery_point = rp;
    if (log->compacted_until == INT64_MAX)
        log->compacted_until = log->end_offset;
    if (ckpt) {
        if ((rc = storage_log_checkpoint_write(log)) != 0)
            goto out;
    } else {
        log->ckpt_mono_ms = clock_mono_ms();
        log->ckpt_seg_base = log_active(log)->base;
    }
    if (l.clean) {
        char path[PATH_MAX_LEN];
        storage_log_path(log, path, sizeof(path), CLEAN_MARKER_NAME);
        if ((rc = io->ops->unlink(io, path)) == 0)
            rc = io->ops->fsync_dir(io, log->dir);
        if (rc)
            goto out;
    }
    log_info(LOG_MOD, "%s: opened (%s): %zu segment(s), offsets [%" PRId64 ", %" PRId64 ")",
             log->dir,
             clean                   ? "clean"
             : l.logs.n || have_ckpt ? "recovered"
                                     : "new",
             log->nsegs, log->start_offset, log->end_offset);
out:
    listing_free(&l);
    return rc;
}
