/*
 * compact: log compaction (cleanup.policy=compact). Keeps the latest record of every key,
 * drops tombstones older than delete.retention.ms, never changes an offset.
 *
 * One pass:
 *   1. the cleanable prefix: inactive segments wholly below the durable offset (compaction never
 *      touches data a crash could still take away) and older than min.compaction.lag.ms;
 *   2. a key -> latest offset map over that prefix, bounded by cleaner_map_bytes (if it fills,
 *      only the segments mapped before it filled are cleaned; entries already made still point
 *      at real later records, so using them is safe);
 *   3. a counting pass decides which segments lose records; consecutive segments are grouped up
 *      to segment.bytes, and a group is rewritten if it loses records or merges segments;
 *   4. each group is written to <base>.log.cleaned (batches kept whole are copied verbatim; a
 *      batch that loses records becomes one uncompressed batch per run of consecutive kept
 *      offsets, so every batch still satisfies count == lastOffsetDelta + 1), its indexes to
 *      .index.cleaned / .timeindex.cleaned, all fdatasynced; then renamed to .log.swap and the
 *      directory fsynced: the commit point. Then the old segments are deleted, the directory
 *      fsynced, the indexes and the .log take their final names, the directory fsynced again.
 *      Recovery (recovery.c) deletes a .cleaned file and finishes a .swap, so a crash at any step
 *      leaves either the old segments or the new one, never a key without its latest value.
 * Groups are cleaned oldest first: a tombstone is only dropped after every older record of its
 * key has been dropped by an earlier (already committed) group or the same group.
 * Transactions, as Kafka's cleaner treats them: the cleanable prefix also stops below the first
 * offset of an undecided transaction (storage_log_set_first_unstable); a transactional batch that
 * the aborted-transaction index names is dropped whole and its keys never enter the map (aborted
 * data must not hide a committed value); committed transactional records are compacted like any
 * other and keep their batch's transactional flag when rewritten; control batches (the markers)
 * are kept as they are, and so is a batch that cannot be decoded. The .txnindex entries of merged
 * segments go to the output segment (<base>.txnindex.cleaned, then .txnindex.swap before the
 * commit point, its final name after).
 */
#include "storage/log_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- key -> latest offset map ------------------------------------------------------------- */

typedef struct {
    uint64_t hash;
    int64_t offset; /* -1: empty slot */
    uint32_t koff, klen;
} kmap_slot_t;

typedef struct {
    kmap_slot_t *slots;
    size_t cap, n;
    buf_t keys;
    size_t limit;
} kmap_t;

static uint64_t key_hash(const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void kmap_init(kmap_t *m, size_t limit)
{
    m->cap = 1024;
    m->n = 0;
    m->slots = weir_malloc(m->cap * sizeof(*m->slots));
    for (size_t i = 0; i < m->cap; i++)
        m->slots[i].offset = -1;
    buf_init(&m->keys);
    m->limit = limit;
}

static void kmap_deinit(kmap_t *m)
{
    free(m->slots);
    buf_deinit(&m->keys);
}

static kmap_slot_t *kmap_find(kmap_t *m, const uint8_t *k, size_t n, uint64_t h)
{
    size_t i = (size_t)h & (m->cap - 1);
    for (;;) {
        kmap_slot_t *s = &m->slots[i];
        if (s->offset < 0)
            return s;
        if (s->hash == h && s->klen == n && (n == 0 || memcmp(m->keys.data + s->koff, k, n) == 0))
            return s;
        i = (i + 1) & (m->cap - 1);
    }
}

static bool kmap_grow(kmap_t *m)
{
    size_t cap = m->cap * 2;
    if (cap * sizeof(kmap_slot_t) + m->keys.cap > m->limit)
        return false;
    kmap_slot_t *old = m->slots;
    size_t oldcap = m->cap;
    m->cap = cap;
    m->slots = weir_malloc(cap * sizeof(*m->slots));
    for (size_t i = 0; i < cap; i++)
        m->slots[i].offset = -1;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].offset < 0)
            continue;
        size_t j = (size_t)old[i].hash & (cap - 1);
        while (m->slots[j].offset >= 0)
            j = (j + 1) & (cap - 1);
        m->slots[j] = old[i];
    }
    free(old);
    return true;
}

/* false when the map is full (its memory bound would be passed). */
static bool kmap_put(kmap_t *m, const uint8_t *k, size_t n, int64_t offset)
{
    uint64_t h = key_hash(k, n);
    kmap_slot_t *s = kmap_find(m, k, n, h);
    if (s->offset >= 0) {
        if (offset > s->offset)
            s->offset = offset;
        return true;
    }
    if ((m->n + 1) * 2 > m->cap) {
        if (!kmap_grow(m))
            return false;
        s = kmap_find(m, k, n, h);
    }
    if (m->keys.len + n > UINT32_MAX || m->cap * sizeof(kmap_slot_t) + m->keys.len + n > m->limit)
        return false;
    s->hash = h;
    s->offset = offset;
    s->koff = (uint32_t)m->keys.len;
    s->klen = (uint32_t)n;
    buf_append(&m->keys, k, n);
    m->n++;
    return true;
}

static int64_t kmap_get(kmap_t *m, const uint8_t *k, size_t n)
{
    return kmap_find(m, k, n, key_hash(k, n))->offset;
}

/* ---- the cleanable segments ---------------------------------------------------------------- */

typedef struct {
    int64_t base, next;
    uint64_t size;
    storage_file_t *file;
    size_t removable; /* records the counting pass would drop */
} cseg_t;

typedef struct {
    storage_log_t *log;
    kmap_t map;
    int64_t horizon_ms;             /* tombstones with a timestamp below this go */
    storage_aborted_txn_t *aborted; /* every .txnindex entry, sorted (storage_txnindex_all) */
    size_t naborted;
    bool tombstones_pending;
    int64_t tombstone_min_ts; /* the earliest tombstone kept, INT64_MAX none */
    /* output, when writing */
    storage_segment_t *out;
    buf_t wbuf;
    uint64_t written;
    /* scratch */
    storage_record_in_t *keep;
    int32_t *keep_delta;
    size_t nkeep, capkeep;
    buf_t built;
} cleaner_t;

static bool batch_opaque(const storage_batch_header_t *h)
{
    return (h->attributes & BATCH_CONTROL) != 0;
}

static bool batch_aborted(const cleaner_t *c, const storage_batch_header_t *h)
{
    return (h->attributes & BATCH_TRANSACTIONAL) && !(h->attributes & BATCH_CONTROL) &&
           storage_txnindex_aborted(c->aborted, c->naborted, h->producer_id, h->base_offset);
}

static int64_t record_ts(const storage_batch_header_t *h, const storage_record_t *r)
{
    if (h->attributes & BATCH_TIMESTAMP_LOG_APPEND)
        return h->max_timestamp;
    return (int64_t)((uint64_t)h->base_timestamp + (uint64_t)r->timestamp_delta); /* no UB */
}

/* Offset deltas must increase inside [0, lastOffsetDelta]: rewritten batches take their base
 * offsets from them. Append checks only the header, so a batch that breaks this is kept whole
 * rather than trusted. */
static bool delta_ok(const storage_batch_header_t *h, int32_t *prev, const storage_record_t *r)
{
    if (r->offset_delta <= *prev || r->offset_delta > h->last_offset_delta)
        return false;
    *prev = r->offset_delta;
    return true;
}

static void keep_reserve(cleaner_t *c)
{
    if (c->nkeep == c->capkeep) {
        c->capkeep = c->capkeep ? c->capkeep * 2 : 64;
        c->keep = weir_realloc(c->keep, c->capkeep * sizeof(*c->keep));
        c->keep_delta = weir_realloc(c->keep_delta, c->capkeep * sizeof(*c->keep_delta));
    }
}

/* Starts iterating a batch's records; false for batches kept whole without looking inside
 * (control, or not decodable). The iterator must be deinit'ed either way. */
static bool iter_start(cleaner_t *c, storage_record_iter_t *it, const uint8_t *batch, size_t total,
                       const storage_batch_header_t *h)
{
    memset(it, 0, sizeof(*it));
    if (batch_opaque(h))
        return false;
    return storage_record_iter_init(it, batch, total, c->log->cfg.max_decompressed_bytes) == 0;
}

/* Pass 1: adds a batch's keys to the map; false when the map is full. A batch whose records
 * do not all decode is kept whole later, so none of its keys count. */
static bool map_batch(cleaner_t *c, const uint8_t *batch, size_t total,
                      const storage_batch_header_t *h)
{
    storage_record_iter_t it;
    bool ok = true;
    if (batch_aborted(c, h))
        return true; /* its keys must not hide committed values */
    if (iter_start(c, &it, batch, total, h)) {
        storage_record_t r;
        int rc;
        c->nkeep = 0;
        int32_t prev = -1;
        while ((rc = storage_record_iter_next(&it, &r)) == 1) {
            if (!delta_ok(h, &prev, &r)) {
                rc = -WEIR_ECORRUPT;
                break;
            }
            if (r.key_len < 0 || !r.key)
                continue;
            keep_reserve(c);
            c->keep[c->nkeep] = (storage_record_in_t){.key = r.key, .key_len = r.key_len};
            c->keep_delta[c->nkeep++] = r.offset_delta;
        }
        for (size_t i = 0; rc == 0 && i < c->nkeep && ok; i++)
            ok = kmap_put(&c->map, c->keep[i].key, (size_t)c->keep[i].key_len,
                          h->base_offset + c->keep_delta[i]);
    }
    storage_record_iter_deinit(&it);
    return ok;
}

static void keep_push(cleaner_t *c, const storage_batch_header_t *h, const storage_record_t *r)
{
    keep_reserve(c);
    c->keep[c->nkeep] = (storage_record_in_t){
        .key = r->key,
        .key_len = r->key ? r->key_len : -1,
        .value = r->value,
        .value_len = r->value ? r->value_len : -1,
        .timestamp = record_ts(h, r),
        .headers = r->headers,
        .headers_len = r->headers_len,
        .header_count = r->header_count,
    };
    c->keep_delta[c->nkeep++] = r->offset_delta;
}

static int out_flush(cleaner_t *c)
{
    if (c->wbuf.len == 0)
        return 0;
    storage_io_t *io = c->log->io;
    int rc = io->ops->pwrite(io, c->out->file->fd, c->wbuf.data, c->wbuf.len, c->written);
    c->written += c->wbuf.len;
    buf_reset(&c->wbuf);
    return rc;
}

static int out_batch(cleaner_t *c, const uint8_t *batch, size_t total)
{
    storage_batch_header_t h;
    size_t t;
    int rc = storage_batch_validate_header(batch, total, &t);
    if (rc == 0 && t != total)
        rc = -WEIR_ECORRUPT;
    if (rc == 0)
        rc = storage_batch_header_read(batch, total, &h, &t);
    if (rc) {
        log_error(LOG_MOD, "%s: compaction produced an invalid batch (%s)", c->log->dir,
                  weir_strerror(rc));
        return -WEIR_ECORRUPT;
    }
    buf_append(&c->wbuf, batch, total);
    storage_segment_note_batch(c->out, &h, total, c->log->cfg.index_interval_bytes);
    return c->wbuf.len >= (1u << 20) ? out_flush(c) : 0;
}

/* Writes the kept records of a batch as one new batch per run of consecutive offsets. */
static int out_runs(cleaner_t *c, const storage_batch_header_t *h)
{
    for (size_t i = 0; i < c->nkeep;) {
        size_t j = i + 1;
        while (j < c->nkeep && c->keep_delta[j] == c->keep_delta[j - 1] + 1)
            j++;
        storage_batch_opts_t opts = {
            .producer_id = h->producer_id,
            .producer_epoch = h->producer_epoch,
            .base_sequence = h->base_sequence >= 0 ? h->base_sequence + c->keep_delta[i] : -1,
            .attributes =
                (int16_t)(h->attributes & (BATCH_TIMESTAMP_LOG_APPEND | BATCH_TRANSACTIONAL)),
        };
        buf_reset(&c->built);
        storage_batch_build(&c->built, c->keep + i, j - i, &opts);
        if (c->built.len < BATCH_HEADER_SIZE)
            return -WEIR_ECORRUPT;
        /* Neither field is covered by the CRC. */
        be64_write(c->built.data + BATCH_BASE_OFFSET,
                   (uint64_t)(h->base_offset + c->keep_delta[i]));
        be32_write(c->built.data + BATCH_LEADER_EPOCH, (uint32_t)h->leader_epoch);
        int rc = out_batch(c, c->built.data, c->built.len);
        if (rc)
            return rc;
        i = j;
    }
    return 0;
}

/* Passes 2 and 3: decides record by record; writes when c->out is set. Adds the number of
 * records dropped to *removed. */
static int clean_batch(cleaner_t *c, const uint8_t *batch, size_t total,
                       const storage_batch_header_t *h, size_t *removed)
{
    size_t dropped = 0;
    if (batch_aborted(c, h)) { /* dropped whole */
        *removed += (size_t)WEIR_MAX(h->record_count, 1);
        return 0;
    }
    storage_record_iter_t it;
    bool decoded = iter_start(c, &it, batch, total, h);
    c->nkeep = 0;
    if (decoded) {
        storage_record_t r;
        int rc;
        bool pending = false;
        int32_t prev = -1;
        while ((rc = storage_record_iter_next(&it, &r)) == 1) {
            if (!delta_ok(h, &prev, &r)) {
                rc = -WEIR_ECORRUPT;
                break;
            }
            int64_t off = h->base_offset + r.offset_delta;
            bool keep = true;
            if (r.key && r.key_len >= 0) {
                int64_t latest = kmap_get(&c->map, r.key, (size_t)r.key_len);
                if (latest > off)
                    keep = false;
                else if (!r.value || r.value_len < 0)
                    keep = !(record_ts(h, &r) < c->horizon_ms);
                if (keep && (!r.value || r.value_len < 0)) {
                    pending = true;
                    c->tombstone_min_ts = WEIR_MIN(c->tombstone_min_ts, record_ts(h, &r));
                }
            }
            if (keep)
                keep_push(c, h, &r);
            else
                dropped++;
        }
        if (rc != 0)
            decoded = false, dropped = 0; /* kept whole, as in the map pass */
        c->tombstones_pending = c->tombstones_pending || (decoded && pending);
    }
    int rc = 0;
    if (c->out)
        rc = !decoded || dropped == 0 ? out_batch(c, batch, total) : out_runs(c, h);
    storage_record_iter_deinit(&it);
    *removed += dropped;
    return rc;
}

typedef bool (*batch_visit_fn)(cleaner_t *c, const uint8_t *batch, size_t total,
                               const storage_batch_header_t *h, void *arg);

/* Walks every verified batch of one cleanable segment. */
static int walk_segment(cleaner_t *c, const cseg_t *s, batch_visit_fn fn, void *arg)
{
    storage_scan_t sc;
    storage_scan_init(&sc, c->log->io, s->file->fd, s->size, 0);
    const uint8_t *batch;
    size_t total;
    storage_batch_header_t h;
    int rc;
    while ((rc = storage_scan_next(&sc, true, &batch, &total, &h)) == 1)
        if (!fn(c, batch, total, &h, arg))
            break;
    storage_scan_deinit(&sc);
    if (rc < 0) {
        log_error(LOG_MOD,
                  "%s: compaction found a bad batch in segment %020" PRId64 " at position %" PRIu64
                  " (%s)",
                  c->log->dir, s->base, sc.pos, weir_strerror(rc));
        return -WEIR_ECORRUPT;
    }
    return rc == 1 ? 1 : 0; /* 1: stopped early */
}

static bool visit_map(cleaner_t *c, const uint8_t *batch, size_t total,
                      const storage_batch_header_t *h, void *arg)
{
    (void)arg;
    return map_batch(c, batch, total, h);
}

typedef struct {
    size_t removed;
    int rc;
} count_arg_t;

static bool visit_clean(cleaner_t *c, const uint8_t *batch, size_t total,
                        const storage_batch_header_t *h, void *arg)
{
    count_arg_t *a = arg;
    a->rc = clean_batch(c, batch, total, h, &a->removed);
    return a->rc == 0;
}

/* ---- rewriting one group ------------------------------------------------------------------ */

/* After the commit point a failure leaves the disk ahead of memory: recovery on the next open
 * finishes the swap, so until then the log must not serve. */
static int after_commit_failed(storage_log_t *log, int rc)
{
    pthread_mutex_lock(&log->mu);
    storage_log_go_offline_locked(log, "compaction failed after its commit point; reopen "
                                       "finishes it");
    pthread_mutex_unlock(&log->mu);
    storage_log_fail_durables(log, -WEIR_EOFFLINE);
    return rc;
}

static void discard_cleaned(storage_log_t *log, int64_t base)
{
    static const char *const exts[] = {".log.cleaned", ".index.cleaned", ".timeindex.cleaned",
                                       ".txnindex.cleaned", ".txnindex.swap"};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(exts); i++) {
        char path[PATH_MAX_LEN];
        storage_segment_path(path, sizeof(path), log->dir, base, exts[i]);
        log->io->ops->unlink(log->io, path);
    }
}

static int rename_ext(storage_log_t *log, int64_t base, const char *from_ext, const char *to_ext)
{
    char from[PATH_MAX_LEN], to[PATH_MAX_LEN];
    storage_segment_path(from, sizeof(from), log->dir, base, from_ext);
    storage_segment_path(to, sizeof(to), log->dir, base, to_ext);
    return log->io->ops->rename(log->io, from, to);
}

/* The output segment takes the aborted-transaction entries of the segments it replaces (they
 * are in marker order already). Their markers are control batches, which are never removed. */
static int group_txns(cleaner_t *c, const cseg_t *g, size_t ng)
{
    storage_log_t *log = c->log;
    pthread_mutex_lock(&log->mu);
    size_t at = storage_log_seg_floor(log, g[0].base);
    for (size_t i = 0; i < ng && at + i < log->nsegs; i++) {
        const storage_segment_t *seg = log->segs[at + i];
        if (seg->base != g[i].base)
            break;
        for (size_t k = 0; k < seg->ntxns; k++) {
            storage_segment_t *o = c->out;
            if (o->ntxns == o->captxns) {
                o->captxns = o->captxns ? o->captxns * 2 : 4;
                o->txns = weir_realloc(o->txns, o->captxns * sizeof(*o->txns));
            }
            o->txns[o->ntxns++] = seg->txns[k];
        }
    }
    pthread_mutex_unlock(&log->mu);
    c->out->txns_synced = c->out->ntxns;
    return 0;
}

/* Writes, syncs and commits the cleaned group (steps up to the .swap rename). */
static int write_cleaned(cleaner_t *c, const cseg_t *g, size_t ng)
{
    storage_log_t *log = c->log;
    storage_io_t *io = log->io;
    int64_t base = g[0].base;
    char path[PATH_MAX_LEN];
    storage_segment_path(path, sizeof(path), log->dir, base, ".log.cleaned");
    int fd;
    int rc = io->ops->open(io, path, O_CREAT | O_RDWR | O_TRUNC, &fd);
    if (rc)
        return rc;
    c->out = storage_segment_new(base, storage_file_new(io, fd));
    c->written = 0;
    buf_reset(&c->wbuf);
    for (size_t i = 0; i < ng && rc == 0; i++) {
        count_arg_t a = {0, 0};
        rc = walk_segment(c, &g[i], visit_clean, &a);
        if (rc == 0)
            rc = a.rc;
    }
    if (rc == 0)
        rc = out_flush(c);
    storage_segment_seal_timeindex(c->out);
    if (rc == 0)
        rc = io->ops->fdatasync(io, fd);
    if (rc == 0)
        rc = storage_segment_write_indexes_as(io, log->dir, c->out, ".cleaned");
    if (rc == 0)
        rc = storage_segment_sync_indexes_as(io, log->dir, base, ".cleaned");
    if (rc == 0)
        rc = group_txns(c, g, ng);
    if (rc == 0 && c->out->ntxns > 0) {
        rc = storage_txnindex_write_as(io, log->dir, c->out, ".txnindex.cleaned");
        if (rc == 0)
            rc = rename_ext(log, base, ".txnindex.cleaned", ".txnindex.swap");
    }
    if (rc == 0) {
        /* Recovery must know offsets may skip below here, even if the policy changes later;
         * saying so before the commit point is harmless if the compaction does not finish. */
        pthread_mutex_lock(&log->mu);
        bool raise = g[ng - 1].next > log->compacted_until;
        if (raise)
            log->compacted_until = g[ng - 1].next;
        pthread_mutex_unlock(&log->mu);
        if (raise)
            rc = storage_log_checkpoint_write(log);
    }
    if (rc == 0)
        rc = rename_ext(log, base, ".log.cleaned", ".log.swap");
    return rc;
}

static int clean_group(cleaner_t *c, const cseg_t *g, size_t ng)
{
    storage_log_t *log = c->log;
    storage_io_t *io = log->io;
    int64_t base = g[0].base;
    int rc = write_cleaned(c, g, ng);
    if (rc) {
        discard_cleaned(log, base);
        storage_segment_free(c->out);
        c->out = NULL;
        return rc;
    }
    /* The commit point: once this fsync returns, recovery finishes the swap. */
    rc = io->ops->fsync_dir(io, log->dir);
    for (size_t i = 0; i < ng && rc == 0; i++)
        rc = storage_segment_unlink(io, log->dir, g[i].base);
    if (rc == 0)
        rc = io->ops->fsync_dir(io, log->dir);
    if (rc == 0)
        rc = rename_ext(log, base, ".index.cleaned", ".index");
    if (rc == 0)
        rc = rename_ext(log, base, ".timeindex.cleaned", ".timeindex");
    if (rc == 0 && c->out->ntxns > 0)
        rc = rename_ext(log, base, ".txnindex.swap", ".txnindex");
    if (rc == 0)
        rc = rename_ext(log, base, ".log.swap", ".log");
    if (rc == 0)
        rc = io->ops->fsync_dir(io, log->dir);
    storage_segment_t *seg = c->out;
    c->out = NULL;
    if (rc) {
        storage_segment_free(seg);
        return after_commit_failed(log, rc);
    }
    seg->synced = seg->size;
    pthread_mutex_lock(&log->mu);
    size_t at = storage_log_seg_floor(log, base);
    WEIR_ASSERT(log->segs[at]->base == base && at + ng < log->nsegs);
    for (size_t i = 0; i < ng; i++) {
        WEIR_ASSERT(log->segs[at + i]->base == g[i].base);
        storage_segment_free(log->segs[at + i]);
    }
    storage_log_segs_remove(log, at, ng);
    storage_log_segs_insert(log, at, seg);
    pthread_mutex_unlock(&log->mu);
    uint64_t before = 0;
    for (size_t i = 0; i < ng; i++)
        before += g[i].size;
    log_info(LOG_MOD,
             "%s: compacted %zu segment(s) at %020" PRId64 ": %" PRIu64 " -> %" PRIu64 " bytes",
             log->dir, ng, base, before, seg->size);
    return 0;
}

/* ---- one pass ------------------------------------------------------------------------------- */

/* The cleanable prefix, mu held. */
static size_t collect_cleanable(storage_log_t *log, int64_t now_ms, cseg_t **out)
{
    cseg_t *v = weir_malloc(log->nsegs * sizeof(*v));
    size_t n = 0;
    int64_t lag = log->cfg.min_compaction_lag_ms;
    int64_t unstable = atomic_load(&log->first_unstable);
    for (size_t i = 0; i + 1 < log->nsegs; i++) {
        storage_segment_t *seg = log->segs[i];
        if (seg->next > log->durable_offset || seg->synced < seg->size)
            break;
        if (unstable >= 0 && seg->next > unstable)
            break; /* undecided transactions: their records' fate is not known yet */
        if (lag > 0 && seg->max_ts >= 0 && seg->max_ts > now_ms - lag)
            break;
        v[n++] = (cseg_t){seg->base, seg->next, seg->size, storage_file_ref(seg->file), 0};
    }
    *out = v;
    return n;
}

static int compact_pass(cleaner_t *c, cseg_t *cs, size_t n, size_t *mapped)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int r = walk_segment(c, &cs[i], visit_map, NULL);
        if (r < 0)
            return r;
        if (r == 1)
            break; /* the map filled inside segment i */
        m = i + 1;
    }
    *mapped = m;
    if (m == 0) {
        log_warn(LOG_MOD, "%s: compaction key map (%zu bytes) too small for one segment",
                 c->log->dir, c->map.limit);
        return 0;
    }
    for (size_t i = 0; i < m; i++) {
        count_arg_t a = {0, 0};
        int r = walk_segment(c, &cs[i], visit_clean, &a);
        if (r < 0)
            return r;
        cs[i].removable = a.removed;
    }
    uint64_t seg_bytes = c->log->cfg.segment_bytes;
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        uint64_t sum = cs[i].size;
        bool dirty = cs[i].removable > 0;
        while (j < m && sum + cs[j].size <= seg_bytes && cs[j].next - 1 - cs[i].base <= INT32_MAX) {
            sum += cs[j].size;
            dirty = dirty || cs[j].removable > 0;
            j++;
        }
        if (dirty || j - i > 1) {
            int rc = clean_group(c, cs + i, j - i);
            if (rc)
                return rc;
        }
        i = j;
    }
    return 0;
}

int storage_log_compact_locked(storage_log_t *log, int64_t now_ms)
{
    pthread_mutex_lock(&log->mu);
    if (log->offline) {
        pthread_mutex_unlock(&log->mu);
        return -WEIR_EOFFLINE;
    }
    cseg_t *cs;
    size_t n = collect_cleanable(log, now_ms, &cs);
    int64_t end = n ? cs[n - 1].next : -1;
    bool skip = n == 0 || (end == log->compact_end && !log->compact_tombstones);
    int64_t drm = log->cfg.delete_retention_ms;
    size_t limit = log->cfg.cleaner_map_bytes;
    pthread_mutex_unlock(&log->mu);
    int rc = 0;
    if (!skip) {
        cleaner_t c;
        memset(&c, 0, sizeof(c));
        c.log = log;
        kmap_init(&c.map, limit);
        c.horizon_ms = drm < 0 ? INT64_MIN : now_ms - drm;
        pthread_mutex_lock(&log->mu);
        c.naborted = storage_txnindex_all(log, &c.aborted);
        pthread_mutex_unlock(&log->mu);
        c.tombstone_min_ts = INT64_MAX;
        size_t mapped = 0;
        rc = compact_pass(&c, cs, n, &mapped);
        if (rc == 0) {
            pthread_mutex_lock(&log->mu);
            log->compact_end = mapped == n ? end : -1;
            log->compact_tombstones = c.tombstones_pending;
            log->compact_tombstone_ts = c.tombstones_pending ? c.tombstone_min_ts : INT64_MAX;
            pthread_mutex_unlock(&log->mu);
        }
        kmap_deinit(&c.map);
        buf_deinit(&c.wbuf);
        buf_deinit(&c.built);
        free(c.keep);
        free(c.keep_delta);
        free(c.aborted);
    }
    for (size_t i = 0; i < n; i++)
        storage_file_unref(cs[i].file);
    free(cs);
    return rc;
}
