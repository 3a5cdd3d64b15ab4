/*
 * log_internal: what the partition-log files of src/storage share (segment, index, log,
 * recovery, retention, compaction, flusher). Not for other modules: they use storage.h.
 *
 * Locks of one log, always taken in this order (a thread holding a later one never takes an
 * earlier one):
 *   maint_mu  serializes maintenance: retention, DeleteRecords, compaction, close
 *   flush_mu  serializes flushes, so durable_offset only moves forward and callbacks fire in order
 *   epoch_mu  the leader epochs and their file (epoch.c)
 *   ckpt_mu   serializes writes of the checkpoint file
 *   mu        the in-memory state: segment list, offsets, flags. Held for appends and for
 *             the short bookkeeping steps of everything else; never across an fdatasync.
 *   durable_mu   the durable callbacks. Kept apart from mu so that registering a durable callback
 *             (storage_log_on_durable, right after every acks=-1 append) does not queue
 *             behind other producers' appends, which hold mu for a whole pwrite.
 *             durable_offset and offline are written under both mu and durable_mu, so holding
 *             either one is enough to read them.
 * The flusher's own mutex (flusher.c) comes after mu: an append notifies it with mu held.
 */
#ifndef WEIR_STORAGE_LOG_INTERNAL_H
#define WEIR_STORAGE_LOG_INTERNAL_H

#include "storage/storage.h"

#include <stdatomic.h>

#define LOG_MOD             "storage"
#define SEG_NAME_DIGITS     20
#define CHECKPOINT_NAME     "weir.checkpoint"
#define CHECKPOINT_TMP_NAME "weir.checkpoint.tmp"
#define CLEAN_MARKER_NAME   "weir.clean-shutdown"
#define RECOVERY_POINT_NAME "weir.recovery-point"
#define EPOCH_NAME          "leader-epoch-checkpoint"
#define EPOCH_TMP_NAME      "leader-epoch-checkpoint.tmp"
#define PATH_MAX_LEN        4096

/* Kafka's on-disk index entries, big endian: .index = relative offset (4) + position (4);
 * .timeindex = timestamp (8) + relative offset (4). */
enum { INDEX_ENTRY_SIZE = 8, TIMEINDEX_ENTRY_SIZE = 12 };

typedef struct {
    uint32_t rel; /* offset - segment base */
    uint32_t pos; /* byte position of the batch in the .log */
} storage_index_entry_t;

typedef struct {
    int64_t ts;   /* the largest batch max timestamp up to and including this batch */
    uint32_t rel; /* relative base offset of the batch holding that timestamp */
} storage_time_entry_t;

/* An open .log file shared by the log and the slices handed to readers: the last reference
 * closes it, so a segment deleted while a fetch sends from it stays readable until then. */
struct storage_file {
    storage_io_t *io;
    int fd;
    atomic_int refs;
};

storage_file_t *storage_file_new(storage_io_t *io, int fd);
storage_file_t *storage_file_ref(storage_file_t *f);
void storage_file_unref(storage_file_t *f);

/* One segment: a .log of whole batches plus its sparse indexes, kept in memory and written to
 * .index / .timeindex when the segment stops being active (roll, close) or is rebuilt.
 * Invariant: size is the end of the last whole batch; idx and tidx entries increase strictly
 * (offsets, positions, timestamps) and point at batch starts below size. */
typedef struct {
    int64_t base;         /* base offset, the file name */
    int64_t next;         /* offset after the last batch (base if empty) */
    storage_file_t *file; /* the .log */
    uint64_t size;        /* bytes of whole batches */
    uint64_t synced;      /* bytes known to be fdatasynced */
    uint64_t alloc_end;   /* file size: >= size, the bytes past size preallocated (zeros) */
    storage_index_entry_t *idx;
    size_t nidx, capidx;
    storage_time_entry_t *tidx;
    size_t ntidx, captidx;
    uint64_t bytes_since_index;
    int64_t max_ts;        /* largest batch max timestamp, -1 if none */
    int64_t max_ts_offset; /* base offset of the batch holding it */
    int64_t roll_base_ms;  /* segment.ms counts from here (first append, or first batch's ts) */
    bool index_unsynced;   /* index files written but not yet fdatasynced */
    /* aborted transactions whose marker is in this segment (txnindex.c), in marker order */
    storage_aborted_txn_t *txns;
    size_t ntxns, captxns;
    size_t txns_synced; /* entries known to be fdatasynced in <base>.txnindex */
} storage_segment_t;

/* ---- segment.c ------------------------------------------------------------------------------ */

/* <dir>/<20-digit base><ext>, ext like ".log" or ".log.swap". */
void storage_segment_path(char *out, size_t cap, const char *dir, int64_t base, const char *ext);
/* Parses "<20 digits><ext>" exactly; false otherwise. */
bool storage_segment_parse_name(const char *name, const char *ext, int64_t *base);
/* Creates a new empty segment (.log, .index, .timeindex; an existing .log is truncated). */
int storage_segment_create(storage_io_t *io, const char *dir, int64_t base,
                           storage_segment_t **out);
/* Opens an existing .log (indexes are loaded or rebuilt by recovery). */
int storage_segment_open(storage_io_t *io, const char *dir, int64_t base, const char *ext,
                         storage_segment_t **out);
void storage_segment_free(storage_segment_t *seg);
/* Deletes the segment's three files (the .log first, so a half-deleted segment is clearly gone). */
int storage_segment_unlink(storage_io_t *io, const char *dir, int64_t base);
/* Renames them to *.deleted (the .log first), or unlinks those *.deleted files. */
int storage_segment_rename_deleted(storage_io_t *io, const char *dir, int64_t base);
int storage_segment_unlink_deleted(storage_io_t *io, const char *dir, int64_t base);

/* Bookkeeping for a batch just written at seg->size: offsets, timestamps, index entries. */
void storage_segment_note_batch(storage_segment_t *seg, const storage_batch_header_t *h,
                                size_t total, uint32_t index_interval_bytes);
/* Adds the final time index entry (max timestamp so far), as Kafka does on roll and close. */
void storage_segment_seal_timeindex(storage_segment_t *seg);
/* Byte position to start scanning for `offset`: the floor index entry, or 0. */
uint64_t storage_segment_index_floor(const storage_segment_t *seg, int64_t offset);
/* Byte position to start scanning for the first batch with max timestamp >= ts. */
uint64_t storage_segment_time_floor(const storage_segment_t *seg, int64_t ts);
/* Forgets the indexes and the batches' bookkeeping (before a rebuild by scanning). */
void storage_segment_index_reset(storage_segment_t *seg);

/* Writes .index and .timeindex from memory (no sync), or fdatasyncs them. The _as forms add
 * a suffix to the names (compaction writes ".cleaned" files first). */
int storage_segment_write_indexes(storage_io_t *io, const char *dir, storage_segment_t *seg);
int storage_segment_sync_indexes(storage_io_t *io, const char *dir, int64_t base);
int storage_segment_write_indexes_as(storage_io_t *io, const char *dir, storage_segment_t *seg,
                                     const char *suffix);
int storage_segment_sync_indexes_as(storage_io_t *io, const char *dir, int64_t base,
                                    const char *suffix);
/* A segment object over an already open fd (compaction's output). */
storage_segment_t *storage_segment_new(int64_t base, storage_file_t *file);
/* Loads the index files and checks them against the .log (size multiple of the entry, strictly
 * increasing, positions inside the file, the last entry naming a batch with that offset).
 * -WEIR_ECORRUPT or -WEIR_ENOENT means: rebuild by scanning. */
int storage_segment_load_indexes(storage_io_t *io, const char *dir, storage_segment_t *seg,
                                 uint64_t file_size);

/* ---- txnindex.c -------------------------------------------------------------------------- */

enum { TXNINDEX_ENTRY_SIZE = 34 };

/* Loads <base>.txnindex (absent = no entries). A bad file keeps its good prefix, is cut to it
 * and sets *damaged. */
int storage_txnindex_load(storage_io_t *io, const char *dir, storage_segment_t *seg, bool *damaged);
/* Writes seg->txns whole as <base><ext> (ext ".txnindex.cleaned" for compaction) and
 * fdatasyncs it; no file when there are no entries. */
int storage_txnindex_write_as(storage_io_t *io, const char *dir, const storage_segment_t *seg,
                              const char *ext);
/* The aborted entries of every segment, sorted by producer id then first offset (mu held):
 * compaction's test for aborted batches. */
size_t storage_txnindex_all(storage_log_t *log, storage_aborted_txn_t **out);
/* True when the batch (producer id, offset) lies in one of the sorted entries. */
bool storage_txnindex_aborted(const storage_aborted_txn_t *v, size_t n, int64_t producer_id,
                              int64_t offset);

/* ---- scanning batches in a file ---------------------------------------------------------- */

/* A buffered reader over one .log, for recovery and compaction: returns whole verified batches. */
typedef struct {
    storage_io_t *io;
    int fd;
    uint64_t file_size;
    uint64_t pos; /* next batch starts here */
    buf_t buf;    /* holds [buf_pos, buf_pos + buf.len) of the file */
    uint64_t buf_pos;
} storage_scan_t;

void storage_scan_init(storage_scan_t *sc, storage_io_t *io, int fd, uint64_t file_size,
                       uint64_t pos);
void storage_scan_deinit(storage_scan_t *sc);
/* The next batch: 1 with *batch, *total and *h set (valid until the next call), 0 at a clean end of
 * file, or a negative code: -WEIR_EAGAIN (a batch runs past the end: torn), -WEIR_ECORRUPT
 * (impossible length, bad CRC or count), -WEIR_EUNSUPPORTED (bad magic), -WEIR_EIO.
 * With verify false only the length is checked (headers of already verified data). */
int storage_scan_next(storage_scan_t *sc, bool verify, const uint8_t **batch, size_t *total,
                      storage_batch_header_t *h);

/* ---- the log ------------------------------------------------------------------------------- */

typedef struct {
    int64_t offset;
    storage_durable_fn cb;
    void *arg;
} storage_durable_t;

struct storage_log {
    storage_io_t *io;
    char *dir;
    storage_log_config_t cfg;
    pthread_mutex_t mu, flush_mu, maint_mu, ckpt_mu;

    storage_segment_t **segs; /* sorted by base; the last one is active */
    size_t nsegs, capsegs;
    int64_t start_offset;   /* log start offset */
    int64_t end_offset;     /* next offset to assign */
    int64_t durable_offset; /* everything below is fdatasynced */
    /* Every batch at or past this offset was checked (length, magic, CRC) by this process: at
     * append, by recovery's scan, or by a verifying read (storage_slice_pread) that reached it.
     * Only such batches may be sent straight from the file (storage_slice_t.sendfile_ok). mu. */
    int64_t verified_from;
    int64_t recovery_point; /* as last written to the checkpoint */
    int64_t ckpt_seg_base;  /* base of the segment holding recovery_point at that write */
    int64_t ckpt_mono_ms;   /* when the checkpoint was last written */
    int64_t rpfile_offset;  /* the recovery point in weir.recovery-point, as last written */
    int64_t rpfile_mono_ms; /* when weir.recovery-point was last written */
    bool offline;
    bool prealloc_unsupported; /* the file system refused fallocate: append without it */
    bool dir_dirty;      /* a segment was created, renamed or deleted since the last fsync_dir */
    int64_t compact_end; /* cleanable end offset at the last compaction pass, -1 never */
    bool compact_tombstones; /* that pass kept tombstones that will expire later */
    int64_t compacted_until; /* compaction may have left offset gaps below this (checkpointed) */
    bool txn_damaged;        /* a .txnindex was cut at open (storage_log_aborted_damaged) */
    bool txn_dir_dirty;      /* a .txnindex was created since the last aborted sync */
    _Atomic int64_t first_unstable; /* compaction stops below it; -1 none */
    int64_t compact_tombstone_ts;   /* earliest kept tombstone of the last pass, INT64_MAX none */
    int64_t roll_jitter_ms;         /* the active segment's segment.jitter.ms draw */
    uint64_t rand_state;            /* xorshift state for the jitter */

    /* Segments renamed to *.deleted, removed once due (file.delete.delay.ms); maint_mu. */
    struct storage_deleted {
        int64_t base;
        int64_t due_ms;
    } * deleted;
    size_t ndeleted, capdeleted;

    /* Leader epochs (epoch.c), under epoch_mu: taken after maint_mu, before mu. */
    pthread_mutex_t epoch_mu;
    struct storage_epoch_entry {
        int32_t epoch;
        int64_t start;
    } * epochs;
    size_t nepochs, capepochs;

    pthread_mutex_t durable_mu;
    storage_durable_t *durables; /* under durable_mu, in registration order */
    size_t ndurables, capdurables;

    /* The flusher this log is attached to: written under mu and durable_mu (appends read it
     * under mu, new durables under durable_mu). */
    storage_flusher_t *flusher;
    /* Guarded by the flusher's own mutex: the log's place in its queue, and the group being
     * gathered: after a flush released fl_gather (> 1) durables, the next sync waits until
     * that many appends have come back or fl_gather_until_ns passes (see flusher.c). */
    bool fl_queued;
    struct storage_log *fl_next;
    uint32_t fl_gather;
    int64_t fl_gather_until_ns;
    int64_t fl_sync_ns; /* moving average of this log's sync time, 0 before the first */
    /* Whether its producers wait for syncs (closed loop) or append at their own pace (open
     * loop): moving averages of the appends that came during a sync, of the durables a sync
     * released, and of the time from one flush to the next (fl_plan_ns: the last one's end). */
    double fl_stragglers_avg, fl_released_avg;
    int64_t fl_cycle_ns, fl_plan_ns;
    /* Waiters registered since the last flush released its durables (or, between a flush's
     * snapshot and its release, since that snapshot): the flusher gathers these. Written
     * under durable_mu or mu, read by the flusher without either. */
    atomic_uint fl_appends;
    /* Waiters not yet released; an append notifies the flusher only while this is non-zero
     * (data nobody waits for is synced in the background). Under durable_mu; read without. */
    atomic_uint fl_waiting;
    /* Monotonic ms of the oldest append not yet synced, 0 when the log is clean: the
     * flusher's background pass syncs logs dirty for longer than its interval. Written under
     * mu, read by the flusher without it. */
    atomic_int_fast64_t dirty_since_ms;
};

static inline storage_segment_t *log_active(storage_log_t *log)
{
    return log->segs[log->nsegs - 1];
}

/* log.c */
void storage_log_path(storage_log_t *log, char *out, size_t cap, const char *name);
int storage_log_roll_locked(storage_log_t *log); /* mu held */
void storage_log_segs_insert(storage_log_t *log, size_t at, storage_segment_t *seg);
void storage_log_segs_remove(storage_log_t *log, size_t at, size_t n);
size_t storage_log_seg_floor(storage_log_t *log, int64_t offset); /* last seg with base <= off */
int storage_log_checkpoint_write(storage_log_t *log);
/* weir.recovery-point: the recovery point alone, written between checkpoints without a sync.
 * read returns 0 with *rp, -WEIR_ENOENT, or -WEIR_ECORRUPT (torn or garbled: ignore it). */
void storage_log_recovery_point_write(storage_log_t *log, int64_t rp);
int storage_log_recovery_point_read(storage_io_t *io, const char *dir, int64_t *rp);
int storage_log_checkpoint_read(storage_io_t *io, const char *dir, int64_t *recovery_point,
                                int64_t *start_offset, int64_t *compacted_until);
/* Marks the log offline (mu held) and returns its durables to be failed by the caller. */
void storage_log_go_offline_locked(storage_log_t *log, const char *why);
void storage_log_fail_durables(storage_log_t *log, int err); /* mu NOT held */

/* The roll age of the active segment: segment.ms (for a compacted log at most
 * max.compaction.lag.ms) less the segment's jitter; mu held. */
int64_t storage_log_roll_age_ms(const storage_log_t *log);
void storage_log_new_jitter(storage_log_t *log); /* a new active segment's draw; mu held */

/* epoch.c */
int storage_log_epochs_load(storage_log_t *log); /* at open, after recovery */
void storage_log_epochs_truncate_start(storage_log_t *log, int64_t start_offset);
void storage_log_epochs_free(storage_log_t *log);

/* recovery.c: loads segments from disk into an empty log (during open). */
int storage_log_recover(storage_log_t *log);

/* retention.c */
int storage_log_retention(storage_log_t *log, int64_t now_ms);

/* compact.c */
int storage_log_compact_locked(storage_log_t *log, int64_t now_ms); /* maint_mu held */

/* What one flush did, for the flusher's group-commit decisions. */
typedef struct {
    uint32_t released;   /* durables it told their offset is durable */
    uint32_t stragglers; /* appends that arrived while it was syncing (not covered by it) */
    int64_t sync_ns;     /* time in fdatasync, 0 if there was nothing to sync */
    uint64_t bytes;      /* bytes of segment data it synced */
} storage_flush_result_t;

/* storage_log_flush, reporting what it did (res may be NULL). */
int storage_log_flush_ex(storage_log_t *log, storage_flush_result_t *res);

/* flusher.c: called by append (mu held) to queue the log for the next group commit. */
void storage_flusher_notify(storage_flusher_t *f, storage_log_t *log);

#endif
