/*
 * segment: one <base>.log file of whole v2 batches and its sparse indexes, plus the buffered
 * scanner that recovery and compaction use to walk a .log batch by batch.
 *
 * Invariant: seg->size is the end of the last whole batch that was written (or verified on
 * open), and the in-memory indexes only name batch starts below seg->size, with offsets and
 * positions strictly increasing. The scanner never allocates more than the bytes the file
 * actually holds: a length field is checked against the file size before any read or buffer.
 */
#include "storage/log_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- shared file references ----------------------------------------------------------------- */

storage_file_t *storage_file_new(storage_io_t *io, int fd)
{
    storage_file_t *f = weir_malloc(sizeof(*f));
    f->io = io;
    f->fd = fd;
    atomic_init(&f->refs, 1);
    return f;
}

storage_file_t *storage_file_ref(storage_file_t *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void storage_file_unref(storage_file_t *f)
{
    if (!f)
        return;
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        f->io->ops->close(f->io, f->fd);
        free(f);
    }
}

/* ---- names ------------------------------------------------------------------------------------
 */

void storage_segment_path(char *out, size_t cap, const char *dir, int64_t base, const char *ext)
{
    int n = snprintf(out, cap, "%s/%020" PRId64 "%s", dir, base, ext);
    WEIR_ASSERT(n > 0 && (size_t)n < cap);
}

bool storage_segment_parse_name(const char *name, const char *ext, int64_t *base)
{
    size_t n = strlen(name), e = strlen(ext);
    if (n != SEG_NAME_DIGITS + e || strcmp(name + SEG_NAME_DIGITS, ext) != 0)
        return false;
    int64_t v = 0;
    for (int i = 0; i < SEG_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        if (v > (INT64_MAX - (name[i] - '0')) / 10)
            return false;
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return true;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

storage_segment_t *storage_segment_new(int64_t base, storage_file_t *file)
{
    storage_segment_t *seg = weir_calloc(1, sizeof(*seg));
    seg->base = base;
    seg->next = base;
    seg->file = file;
    seg->max_ts = -1;
    seg->max_ts_offset = -1;
    seg->roll_base_ms = -1;
    return seg;
}

static int touch_empty(storage_io_t *io, const char *path)
{
    int fd;
    int rc = io->ops->open(io, path, O_CREAT | O_RDWR | O_TRUNC, &fd);
    if (rc == 0)
        io->ops->close(io, fd);
    return rc;
}

int storage_segment_create(storage_io_t *io, const char *dir, int64_t base, storage_segment_t **out)
{
    char path[PATH_MAX_LEN];
    storage_segment_path(path, sizeof(path), dir, base, ".log");
    int fd;
    int rc = io->ops->open(io, path, O_CREAT | O_RDWR | O_TRUNC, &fd);
    if (rc)
        return rc;
    storage_segment_path(path, sizeof(path), dir, base, ".index");
    if ((rc = touch_empty(io, path)) == 0) {
        storage_segment_path(path, sizeof(path), dir, base, ".timeindex");
        rc = touch_empty(io, path);
    }
    if (rc) {
        io->ops->close(io, fd);
        return rc;
    }
    *out = storage_segment_new(base, storage_file_new(io, fd));
    return 0;
}

int storage_segment_open(storage_io_t *io, const char *dir, int64_t base, const char *ext,
                         storage_segment_t **out)
{
    char path[PATH_MAX_LEN];
    storage_segment_path(path, sizeof(path), dir, base, ext);
    int fd;
    int rc = io->ops->open(io, path, O_RDWR, &fd);
    if (rc)
        return rc;
    *out = storage_segment_new(base, storage_file_new(io, fd));
    return 0;
}

void storage_segment_free(storage_segment_t *seg)
{
    if (!seg)
        return;
    storage_file_unref(seg->file);
    free(seg->idx);
    free(seg->tidx);
    free(seg->txns);
    free(seg);
}

int storage_segment_unlink(storage_io_t *io, const char *dir, int64_t base)
{
    static const char *const exts[] = {".log", ".index", ".timeindex", ".txnindex"};
    int rc = 0;
    for (size_t i = 0; i < WEIR_ARRAY_LEN(exts); i++) {
        char path[PATH_MAX_LEN];
        storage_segment_path(path, sizeof(path), dir, base, exts[i]);
        int r = io->ops->unlink(io, path);
        if (r && r != -WEIR_ENOENT && rc == 0)
            rc = r;
    }
    return rc;
}

int storage_segment_rename_deleted(storage_io_t *io, const char *dir, int64_t base)
{
    static const char *const exts[] = {".log", ".index", ".timeindex", ".txnindex"};
    int rc = 0;
    for (size_t i = 0; i < WEIR_ARRAY_LEN(exts) && rc == 0; i++) {
        char from[PATH_MAX_LEN], to[PATH_MAX_LEN], ext[32];
        storage_segment_path(from, sizeof(from), dir, base, exts[i]);
        snprintf(ext, sizeof(ext), "%s.deleted", exts[i]);
        storage_segment_path(to, sizeof(to), dir, base, ext);
        rc = io->ops->rename(io, from, to);
        if (rc == -WEIR_ENOENT && i > 0)
            rc = 0; /* indexes not written yet, or no aborted transactions */
    }
    return rc;
}

int storage_segment_unlink_deleted(storage_io_t *io, const char *dir, int64_t base)
{
    static const char *const exts[] = {".log.deleted", ".index.deleted", ".timeindex.deleted",
                                       ".txnindex.deleted"};
    int rc = 0;
    for (size_t i = 0; i < WEIR_ARRAY_LEN(exts); i++) {
        char path[PATH_MAX_LEN];
        storage_segment_path(path, sizeof(path), dir, base, exts[i]);
        int r = io->ops->unlink(io, path);
        if (r && r != -WEIR_ENOENT && rc == 0)
            rc = r;
    }
    return rc;
}

/* ---- in-memory indexes --------------------------------------------------------------------- */

static void idx_push(storage_segment_t *seg, uint32_t rel, uint32_t pos)
{
    if (seg->nidx == seg->capidx) {
        seg->capidx = seg->capidx ? seg->capidx * 2 : 16;
        seg->idx = weir_realloc(seg->idx, seg->capidx * sizeof(*seg->idx));
    }
    seg->idx[seg->nidx++] = (storage_index_entry_t){rel, pos};
}

static void tidx_push(storage_segment_t *seg, int64_t ts, uint32_t rel)
{
    if (seg->ntidx == seg->captidx) {
        seg->captidx = seg->captidx ? seg->captidx * 2 : 16;
        seg->tidx = weir_realloc(seg->tidx, seg->captidx * sizeof(*seg->tidx));
    }
    seg->tidx[seg->ntidx++] = (storage_time_entry_t){ts, rel};
}

static void tidx_maybe_push(storage_segment_t *seg)
{
    if (seg->max_ts < 0)
        return;
    if (seg->ntidx > 0 && seg->tidx[seg->ntidx - 1].ts >= seg->max_ts)
        return;
    tidx_push(seg, seg->max_ts, (uint32_t)(seg->max_ts_offset - seg->base));
}

void storage_segment_note_batch(storage_segment_t *seg, const storage_batch_header_t *h,
                                size_t total, uint32_t index_interval_bytes)
{
    WEIR_ASSERT(h->base_offset >= seg->base && h->base_offset - seg->base <= INT32_MAX);
    if (h->max_timestamp > seg->max_ts) {
        seg->max_ts = h->max_timestamp;
        seg->max_ts_offset = h->base_offset;
    }
    /* As Kafka: an entry for the batch that starts once more than index.interval.bytes were
     * written since the last one, so lookups scan at most about that many bytes. */
    if (seg->size > 0 && seg->bytes_since_index >= index_interval_bytes) {
        idx_push(seg, (uint32_t)(h->base_offset - seg->base), (uint32_t)seg->size);
        tidx_maybe_push(seg);
        seg->bytes_since_index = 0;
    }
    seg->bytes_since_index += total;
    seg->size += total;
    seg->next = h->base_offset + h->last_offset_delta + 1;
}

void storage_segment_seal_timeindex(storage_segment_t *seg)
{
    tidx_maybe_push(seg);
}

void storage_segment_index_reset(storage_segment_t *seg)
{
    seg->nidx = seg->ntidx = 0;
    seg->bytes_since_index = 0;
    seg->size = 0;
    seg->next = seg->base;
    seg->max_ts = -1;
    seg->max_ts_offset = -1;
}

uint64_t storage_segment_index_floor(const storage_segment_t *seg, int64_t offset)
{
    if (offset < seg->base)
        return 0;
    int64_t rel = offset - seg->base;
    size_t lo = 0, hi = seg->nidx; /* first entry with rel > target */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((int64_t)seg->idx[mid].rel <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? 0 : seg->idx[lo - 1].pos;
}

uint64_t storage_segment_time_floor(const storage_segment_t *seg, int64_t ts)
{
    /* Entry k says every batch up to offset tidx[k].rel has max timestamp <= tidx[k].ts; the
     * last entry below ts therefore bounds where the first batch >= ts can start. */
    size_t lo = 0, hi = seg->ntidx; /* first entry with ts >= target */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg->tidx[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    return storage_segment_index_floor(seg, seg->base + seg->tidx[lo - 1].rel);
}

/* ---- index files ---------------------------------------------------------------------------- */

static int write_file(storage_io_t *io, const char *path, const uint8_t *p, size_t n)
{
    int fd;
    int rc = io->ops->open(io, path, O_CREAT | O_RDWR | O_TRUNC, &fd);
    if (rc)
        return rc;
    if (n)
        rc = io->ops->pwrite(io, fd, p, n, 0);
    io->ops->close(io, fd);
    return rc;
}

int storage_segment_write_indexes(storage_io_t *io, const char *dir, storage_segment_t *seg)
{
    return storage_segment_write_indexes_as(io, dir, seg, "");
}

int storage_segment_write_indexes_as(storage_io_t *io, const char *dir, storage_segment_t *seg,
                                     const char *suffix)
{
    char path[PATH_MAX_LEN], ext[64];
    buf_t b;
    buf_init(&b);
    for (size_t i = 0; i < seg->nidx; i++) {
        buf_append_be32(&b, seg->idx[i].rel);
        buf_append_be32(&b, seg->idx[i].pos);
    }
    snprintf(ext, sizeof(ext), ".index%s", suffix);
    storage_segment_path(path, sizeof(path), dir, seg->base, ext);
    int rc = write_file(io, path, b.data, b.len);
    if (rc == 0) {
        buf_reset(&b);
        for (size_t i = 0; i < seg->ntidx; i++) {
            buf_append_be64(&b, (uint64_t)seg->tidx[i].ts);
            buf_append_be32(&b, seg->tidx[i].rel);
        }
        snprintf(ext, sizeof(ext), ".timeindex%s", suffix);
        storage_segment_path(path, sizeof(path), dir, seg->base, ext);
        rc = write_file(io, path, b.data, b.len);
    }
    buf_deinit(&b);
    return rc;
}

static int sync_path(storage_io_t *io, const char *path)
{
    int fd;
    int rc = io->ops->open(io, path, O_RDWR, &fd);
    if (rc)
        return rc;
    rc = io->ops->fdatasync(io, fd);
    io->ops->close(io, fd);
    return rc;
}

int storage_segment_sync_indexes(storage_io_t *io, const char *dir, int64_t base)
{
    return storage_segment_sync_indexes_as(io, dir, base, "");
}

int storage_segment_sync_indexes_as(storage_io_t *io, const char *dir, int64_t base,
                                    const char *suffix)
{
    char path[PATH_MAX_LEN], ext[64];
    snprintf(ext, sizeof(ext), ".index%s", suffix);
    storage_segment_path(path, sizeof(path), dir, base, ext);
    int rc = sync_path(io, path);
    if (rc == 0) {
        snprintf(ext, sizeof(ext), ".timeindex%s", suffix);
        storage_segment_path(path, sizeof(path), dir, base, ext);
        rc = sync_path(io, path);
    }
    return rc;
}

/* Reads a whole small file, refusing one larger than max (indexes are bounded by the .log). */
static int read_file(storage_io_t *io, const char *path, uint64_t max, buf_t *out)
{
    int fd;
    int rc = io->ops->open(io, path, O_RDONLY, &fd);
    if (rc)
        return rc;
    uint64_t size;
    rc = io->ops->fsize(io, fd, &size);
    if (rc == 0 && size > max)
        rc = -WEIR_ECORRUPT;
    if (rc == 0 && size > 0) {
        size_t got;
        uint8_t *p = buf_extend(out, (size_t)size);
        rc = io->ops->pread(io, fd, p, (size_t)size, 0, &got);
        if (rc == 0 && got != size)
            rc = -WEIR_ECORRUPT;
    }
    io->ops->close(io, fd);
    return rc;
}

/* Is there a batch starting at pos in the .log whose base offset is `offset`? */
static bool batch_at(storage_io_t *io, int fd, uint64_t file_size, uint64_t pos, int64_t offset)
{
    uint8_t h[BATCH_LOG_OVERHEAD];
    size_t got;
    if (pos + sizeof(h) > file_size)
        return false;
    if (io->ops->pread(io, fd, h, sizeof(h), pos, &got) != 0 || got != sizeof(h))
        return false;
    int32_t len = (int32_t)be32_read(h + BATCH_LENGTH);
    return (int64_t)be64_read(h) == offset && len >= BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD &&
           pos + BATCH_LOG_OVERHEAD + (uint64_t)len <= file_size;
}

static int load_offset_index(storage_io_t *io, const char *dir, storage_segment_t *seg,
                             uint64_t file_size)
{
    char path[PATH_MAX_LEN];
    storage_segment_path(path, sizeof(path), dir, seg->base, ".index");
    buf_t b;
    buf_init(&b);
    /* At most one entry per batch, and a batch is at least 61 bytes. */
    uint64_t max = (file_size / BATCH_HEADER_SIZE + 1) * INDEX_ENTRY_SIZE;
    int rc = read_file(io, path, max, &b);
    if (rc == 0 && b.len % INDEX_ENTRY_SIZE != 0)
        rc = -WEIR_ECORRUPT;
    for (size_t i = 0; rc == 0 && i < b.len / INDEX_ENTRY_SIZE; i++) {
        uint32_t rel = be32_read(b.data + i * INDEX_ENTRY_SIZE);
        uint32_t pos = be32_read(b.data + i * INDEX_ENTRY_SIZE + 4);
        bool ok = pos > 0 && pos < file_size && rel <= INT32_MAX;
        if (seg->nidx > 0)
            ok = ok && rel > seg->idx[seg->nidx - 1].rel && pos > seg->idx[seg->nidx - 1].pos;
        if (!ok)
            rc = -WEIR_ECORRUPT;
        else
            idx_push(seg, rel, pos);
    }
    buf_deinit(&b);
    if (rc == 0 && seg->nidx > 0) {
        /* The first and last entries must name real batches (a stale or torn index does not). */
        const storage_index_entry_t *f = &seg->idx[0], *l = &seg->idx[seg->nidx - 1];
        if (!batch_at(io, seg->file->fd, file_size, f->pos, seg->base + f->rel) ||
            !batch_at(io, seg->file->fd, file_size, l->pos, seg->base + l->rel))
            rc = -WEIR_ECORRUPT;
    }
    return rc;
}

static int load_time_index(storage_io_t *io, const char *dir, storage_segment_t *seg,
                           uint64_t file_size)
{
    char path[PATH_MAX_LEN];
    storage_segment_path(path, sizeof(path), dir, seg->base, ".timeindex");
    buf_t b;
    buf_init(&b);
    uint64_t max = (file_size / BATCH_HEADER_SIZE + 2) * TIMEINDEX_ENTRY_SIZE;
    int rc = read_file(io, path, max, &b);
    if (rc == 0 && b.len % TIMEINDEX_ENTRY_SIZE != 0)
        rc = -WEIR_ECORRUPT;
    for (size_t i = 0; rc == 0 && i < b.len / TIMEINDEX_ENTRY_SIZE; i++) {
        int64_t ts = (int64_t)be64_read(b.data + i * TIMEINDEX_ENTRY_SIZE);
        uint32_t rel = be32_read(b.data + i * TIMEINDEX_ENTRY_SIZE + 8);
        bool ok = ts >= 0 && rel <= INT32_MAX;
        if (seg->ntidx > 0)
            ok = ok && ts > seg->tidx[seg->ntidx - 1].ts && rel >= seg->tidx[seg->ntidx - 1].rel;
        if (!ok)
            rc = -WEIR_ECORRUPT;
        else
            tidx_push(seg, ts, rel);
    }
    buf_deinit(&b);
    return rc;
}

int storage_segment_load_indexes(storage_io_t *io, const char *dir, storage_segment_t *seg,
                                 uint64_t file_size)
{
    storage_segment_index_reset(seg);
    int rc = load_offset_index(io, dir, seg, file_size);
    if (rc == 0)
        rc = load_time_index(io, dir, seg, file_size);
    if (rc == 0 && seg->ntidx > 0) {
        seg->max_ts = seg->tidx[seg->ntidx - 1].ts;
        seg->max_ts_offset = seg->base + seg->tidx[seg->ntidx - 1].rel;
    }
    if (rc)
        storage_segment_index_reset(seg);
    return rc;
}

/* ---- the scanner ------------------------------------------------------------------------------
 */

enum { SCAN_CHUNK = 256 * 1024 };

void storage_scan_init(storage_scan_t *sc, storage_io_t *io, int fd, uint64_t file_size,
                       uint64_t pos)
{
    sc->io = io;
    sc->fd = fd;
    sc->file_size = file_size;
    sc->pos = pos;
    buf_init(&sc->buf);
    sc->buf_pos = 0;
}

void storage_scan_deinit(storage_scan_t *sc)
{
    buf_deinit(&sc->buf);
}

/* Makes [pos, pos + n) available; the caller has checked it lies inside the file. */
static int scan_fill(storage_scan_t *sc, uint64_t pos, size_t n, const uint8_t **p)
{
    if (pos >= sc->buf_pos && pos + n <= sc->buf_pos + sc->buf.len) {
        *p = sc->buf.data + (pos - sc->buf_pos);
        return 0;
    }
    size_t want = WEIR_MAX(n, (size_t)SCAN_CHUNK);
    want = (size_t)WEIR_MIN((uint64_t)want, sc->file_size - pos);
    buf_reset(&sc->buf);
    buf_reserve(&sc->buf, want);
    size_t got;
    int rc = sc->io->ops->pread(sc->io, sc->fd, sc->buf.data, want, pos, &got);
    if (rc)
        return rc;
    sc->buf.len = got;
    sc->buf_pos = pos;
    if (got < n)
        return -WEIR_EAGAIN; /* the file shrank under us */
    *p = sc->buf.data;
    return 0;
}

int storage_scan_next(storage_scan_t *sc, bool verify, const uint8_t **batch, size_t *total,
                      storage_batch_header_t *h)
{
    if (sc->pos >= sc->file_size)
        return 0;
    uint64_t left = sc->file_size - sc->pos;
    if (left < BATCH_LOG_OVERHEAD)
        return -WEIR_EAGAIN;
    const uint8_t *p;
    int rc = scan_fill(sc, sc->pos, BATCH_LOG_OVERHEAD, &p);
    if (rc)
        return rc;
    int32_t len = (int32_t)be32_read(p + BATCH_LENGTH);
    /* A zero-filled tail reads as length 0; no real batch is shorter than its header. */
    if (len < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD)
        return -WEIR_ECORRUPT;
    uint64_t n = BATCH_LOG_OVERHEAD + (uint64_t)len;
    if (n > left)
        return -WEIR_EAGAIN;
    if ((rc = scan_fill(sc, sc->pos, (size_t)n, &p)) != 0)
        return rc;
    size_t t = (size_t)n;
    if (verify) {
        rc = storage_batch_validate_header(p, (size_t)n, &t);
        if (rc)
            return rc;
        if (t != n)
            return -WEIR_ECORRUPT;
    }
    if ((rc = storage_batch_header_read(p, (size_t)n, h, &t)) != 0)
        return rc < 0 ? rc : -WEIR_ECORRUPT;
    *batch = p;
    *total = (size_t)n;
    sc->pos += n;
    return 1;
}
