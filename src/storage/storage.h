/*
 * storage: the partition log, and the Kafka v2 record batch format it stores.
 *
 * On disk, as Kafka lays it out: <data-dir>/<topic>-<partition>/<base offset, 20 digits>.log
 * holding v2 record batches verbatim (with the broker-assigned base offset), plus a sparse
 * .index (offset -> file position) and .timeindex (max timestamp -> offset) per segment.
 *
 * Durability. An append returns as soon as the bytes are written (page cache). A group-commit
 * flusher thread fdatasyncs dirty logs, advances each log's durable offset and fires the
 * callbacks registered with storage_log_on_durable(); many appends share one fdatasync. An
 * fdatasync error takes the log offline: it refuses appends and never reports durability past
 * the last good sync.
 *
 * Threads. A storage_log_t has its own mutex: append, read and the offset getters may be called
 * from any thread. Durable callbacks run on the flusher thread and must not block.
 *
 * All file I/O goes through storage_io_t, so tests can swap in the simulated disk
 * (storage_io_sim_*), which keeps written and synced bytes apart and, at a crash, drops, tears
 * or reorders what was not synced.
 *
 * This header has three parts: record batches (format, validation, compression), the I/O
 * interface, and the partition log.
 */
#ifndef WEIR_STORAGE_H
#define WEIR_STORAGE_H

#include "base/base.h"

#include <pthread.h>
#include <sys/types.h>

/* =================================== record batches ========================================== */

/* Byte offsets of the v2 record batch header (Kafka's DefaultRecordBatch). */
enum {
    BATCH_BASE_OFFSET = 0,
    BATCH_LENGTH = 8, /* bytes after this field */
    BATCH_LEADER_EPOCH = 12,
    BATCH_MAGIC = 16,
    BATCH_CRC = 17, /* CRC-32C of attributes .. end */
    BATCH_ATTRIBUTES = 21,
    BATCH_LAST_OFFSET_DELTA = 23,
    BATCH_BASE_TIMESTAMP = 27,
    BATCH_MAX_TIMESTAMP = 35,
    BATCH_PRODUCER_ID = 43,
    BATCH_PRODUCER_EPOCH = 51,
    BATCH_BASE_SEQUENCE = 53,
    BATCH_RECORD_COUNT = 57,
    BATCH_HEADER_SIZE = 61, /* records start here */
    BATCH_LOG_OVERHEAD = 12 /* base offset + length */
};

enum {
    BATCH_COMPRESSION_MASK = 0x07, /* 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd */
    BATCH_TIMESTAMP_LOG_APPEND = 0x08,
    BATCH_TRANSACTIONAL = 0x10,
    BATCH_CONTROL = 0x20,
    BATCH_DELETE_HORIZON = 0x40
};

typedef enum {
    CODEC_NONE = 0,
    CODEC_GZIP = 1,
    CODEC_SNAPPY = 2,
    CODEC_LZ4 = 3,
    CODEC_ZSTD = 4
} storage_codec_t;

/* The header fields of one batch, decoded (host byte order). */
typedef struct {
    int64_t base_offset;
    int32_t length; /* batchLength field */
    int32_t leader_epoch;
    int8_t magic;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
} storage_batch_header_t;

/* Reads the header of the batch at p[0..avail). Checks only that the header is present and the
 * length field is sane (>= BATCH_HEADER_SIZE - 12); returns the batch's total size
 * (length + 12) via *total. -WEIR_EAGAIN if avail is too short for the header or the batch.
 * -WEIR_ECORRUPT if the length field is impossible. Does not check magic or CRC. *total is set as
 * soon as the length field is read and sane, even with -WEIR_EAGAIN (so a reader knows how many
 * bytes the batch needs); *h is filled whenever avail holds the header. */
int storage_batch_header_read(const uint8_t *p, size_t avail, storage_batch_header_t *h,
                              size_t *total);

/* Full header validation, as append and recovery do it: length within avail, magic 2, CRC-32C
 * over attributes..end, record_count == last_offset_delta + 1 (and >= 0, except control
 * batches, which hold exactly one record). Returns 0, -WEIR_EAGAIN (batch runs past avail),
 * -WEIR_ECORRUPT (bad length or CRC) or -WEIR_EUNSUPPORTED (magic 0/1 or > 2).
 * Also -WEIR_ECORRUPT: an uncompressed batch whose record_count cannot fit in its bytes (7 bytes
 * a record at least). The magic byte is judged before the length, so an old v0/v1 message set
 * (magic at the same offset 16, but shorter than a v2 header) gives -WEIR_EUNSUPPORTED; a
 * zero-filled tail (length 0) gives -WEIR_ECORRUPT. The codec id is not checked here. */
int storage_batch_validate_header(const uint8_t *p, size_t avail, size_t *total);

/* Recomputes and writes the CRC field after the broker changed attributes or timestamps. */
void storage_batch_crc_update(uint8_t *batch, size_t total);

/* One record of a batch, as views into the (decompressed) records bytes. */
typedef struct {
    int8_t attributes;
    int64_t timestamp_delta;
    int32_t offset_delta;
    const uint8_t *key; /* NULL if null */
    int32_t key_len;    /* -1 if null */
    const uint8_t *value;
    int32_t value_len;
    int32_t header_count;
    const uint8_t *headers; /* raw header bytes, header_count entries */
    size_t headers_len;
} storage_record_t;

/* Iterates the records of one batch. For a compressed batch the records are decompressed into
 * an internal buffer bounded by max_decompressed bytes (a bomb gives -WEIR_ETOOBIG). */
typedef struct {
    const uint8_t *p, *end; /* records bytes */
    int32_t remaining;      /* records not yet returned */
    buf_t scratch;          /* decompressed bytes */
    const char *why;        /* why the last call failed: a static string, or NULL */
} storage_record_iter_t;

/* total must be the batch's exact size (length field + 12). Checks the header fields iteration
 * relies on (length, magic, record count >= 0, codec) but not the CRC: validate first.
 * Returns 0, -WEIR_ECORRUPT, -WEIR_EUNSUPPORTED (magic != 2, codec 5-7), -WEIR_ETOOBIG or
 * -WEIR_ENOMEM. Whatever it returns, storage_record_iter_deinit must be called. Uncompressed
 * records are views into `batch`, which must outlive the iteration. */
int storage_record_iter_init(storage_record_iter_t *it, const uint8_t *batch, size_t total,
                             size_t max_decompressed);
/* Points an iterator that was initialised (and not yet deinitialised) at another batch, keeping
 * the memory of its scratch buffer: iterating many compressed batches allocates once. */
int storage_record_iter_reset(storage_record_iter_t *it, const uint8_t *batch, size_t total,
                              size_t max_decompressed);
/* Returns 1 and fills *rec, 0 at the end (after record_count records; bytes left over are not
 * checked here), or -WEIR_ECORRUPT with it->why set. */
int storage_record_iter_next(storage_record_iter_t *it, storage_record_t *rec);
void storage_record_iter_deinit(storage_record_iter_t *it);

/* Deep validation for Produce: header (as above) plus every record parsed (decompressing once,
 * bounded by max_decompressed): record count matches the header, offset deltas are 0..n-1 in
 * order, lengths consistent, no trailing bytes. Returns 0, -WEIR_ECORRUPT (with a reason in
 * *why, a static string), -WEIR_ETOOBIG or -WEIR_EUNSUPPORTED (unknown codec). */
int storage_batch_validate_records(const uint8_t *batch, size_t total, size_t max_decompressed,
                                   const char **why);
/* The same, with a check of each record by the caller (a compacted topic refusing records
 * without a key, say): check returns 0 to accept, or a negative code with a static reason in
 * *why, which fails the batch with that code; *bad_index (if not NULL) is then the record's
 * index in the batch (-1 when the batch failed for another reason). */
typedef int (*storage_record_check_fn)(void *arg, int32_t index, const storage_record_t *rec,
                                       const char **why);
/* What a check has proved for the rest of its batch, per side (0 key, 1 value): once ok[side]
 * is set, a record whose side begins with prefix[side] needs nothing more on that side (a
 * side that is not on never does). A record without headers that needs nothing on either side
 * is accepted without calling check, so a batch whose records repeat what was proved (a schema
 * id header, say) is judged in one loop with a 5-byte compare per record, inline, and with no
 * side on, only records with headers are checked (a check that looks at headers costs the
 * others one test). Records with headers are always checked. The check fills it; NULL means
 * every record is checked. */
#define STORAGE_MEMO_PREFIX 5
typedef struct {
    bool on[2];
    bool ok[2];
    uint8_t prefix[2][STORAGE_MEMO_PREFIX];
} storage_record_memo_t;

static inline bool storage_record_memo_side(const storage_record_memo_t *m, int side,
                                            const uint8_t *p, int32_t n)
{
    return !m->on[side] || (m->ok[side] && n >= STORAGE_MEMO_PREFIX &&
                            memcmp(m->prefix[side], p, STORAGE_MEMO_PREFIX) == 0);
}

static inline bool storage_record_memo_hit(const storage_record_memo_t *m,
                                           const storage_record_t *rec)
{
    return storage_record_memo_side(m, 1, rec->value, rec->value_len) &&
           storage_record_memo_side(m, 0, rec->key, rec->key_len);
}

int storage_batch_validate_records_checked(const uint8_t *batch, size_t total,
                                           size_t max_decompressed, storage_record_check_fn check,
                                           void *arg, const storage_record_memo_t *memo,
                                           int32_t *bad_index, const char **why);
/* For a `why` from the functions above: true if it names a damaged batch (length field, CRC),
 * which Kafka answers with CORRUPT_MESSAGE; false if the batch is intact but its records are
 * invalid (INVALID_RECORD). */
bool storage_batch_why_corrupt(const char *why);

/* Codecs, as Kafka uses them: gzip stream, snappy raw or xerial-framed (both read; raw
 * written), lz4 frame, zstd frame. decompress appends to out and fails with -WEIR_ETOOBIG
 * past max_out bytes. Concatenated gzip members / lz4 frames / zstd frames decode as one.
 * Errors: -WEIR_ECORRUPT (bad or truncated data, trailing garbage), -WEIR_ETOOBIG,
 * -WEIR_EUNSUPPORTED (CODEC_NONE or ids 5-7); on error out->len is as it was. The output grows
 * only as bytes come out, to at most about 2 * max_out. Any thread may call (decoder contexts
 * are cached per thread). */
int storage_codec_decompress(storage_codec_t codec, const uint8_t *in, size_t in_len, buf_t *out,
                             size_t max_out);
int storage_codec_compress(storage_codec_t codec, const uint8_t *in, size_t in_len, buf_t *out);
/* The same at a level, as Kafka's compression.<codec>.level gives it: gzip 1-9 (else zlib's
 * default), lz4 1-17 (high compression, capped at liblz4's 12), zstd any of zstd's; 0 is the
 * codec's default; snappy has none. */
int storage_codec_compress_level(storage_codec_t codec, int level, const uint8_t *in, size_t in_len,
                                 buf_t *out);

/* compression.type on the broker (Kafka's LogValidator): the batch rebuilt with its records
 * compressed with codec (CODEC_NONE: uncompressed) at level, every header field kept but the
 * codec bits, the length and the CRC (base offset, leader epoch, timestamps and their type,
 * transactional bit, producer id, epoch and sequence, record count). Appends to out and
 * returns 1; returns 0 (out unchanged) when the batch already uses codec or is a control
 * batch; -WEIR_ECORRUPT when its records do not decompress, -WEIR_ETOOBIG past
 * max_decompressed, -WEIR_EUNSUPPORTED for an unknown codec. The batch must have passed
 * storage_batch_validate_records. */
int storage_batch_recompress(const uint8_t *batch, size_t total, storage_codec_t codec, int level,
                             size_t max_decompressed, buf_t *out);

/* message.timestamp.before/after.max.ms (Kafka's LogValidator): calls fn for every record whose
 * timestamp lies outside [lo, hi] (records without a timestamp, -1, are never outside), with
 * its index in the batch, its offset as the batch numbers it and its timestamp. Returns how
 * many there were, or a negative error for records that do not decode. */
typedef void (*storage_record_ts_fn)(void *arg, int32_t index, int64_t offset, int64_t timestamp);
int storage_batch_timestamps_outside(const uint8_t *batch, size_t total, size_t max_decompressed,
                                     int64_t lo, int64_t hi, storage_record_ts_fn fn, void *arg);

/* Builds a v2 batch from records (for the broker's own internal topics, compaction and tests),
 * with base offset 0, partition leader epoch -1, baseTimestamp = the first record's timestamp,
 * maxTimestamp = the largest, and a correct CRC. Keys/values NULL mean null. opts may be NULL:
 * producer id, epoch and base sequence -1, attributes 0, as a plain producer sends them.
 * Appends to out. */
typedef struct {
    const void *key;
    int32_t key_len; /* -1 = null */
    const void *value;
    int32_t value_len; /* -1 = null */
    int64_t timestamp;
    const void *headers; /* raw encoded headers (count not included) */
    size_t headers_len;
    int32_t header_count;
} storage_record_in_t;

typedef struct {
    int64_t producer_id; /* -1 */
    int16_t producer_epoch;
    int32_t base_sequence;
    int16_t attributes; /* compression bits honoured: records are compressed with that codec */
} storage_batch_opts_t;

void storage_batch_build(buf_t *out, const storage_record_in_t *recs, size_t n,
                         const storage_batch_opts_t *opts);

/* ===================================== I/O interface ========================================= */

/* File operations the log needs, as a vtable. Return 0 or a negative WEIR_ code (the real
 * implementation logs errno). Offsets and sizes are bytes. */
typedef struct storage_io storage_io_t;
typedef struct storage_io_ops {
    int (*open)(storage_io_t *io, const char *path, int flags, int *fd); /* O_ flags */
    int (*close)(storage_io_t *io, int fd);
    int (*pwrite)(storage_io_t *io, int fd, const void *p, size_t n, uint64_t off);
    int (*pread)(storage_io_t *io, int fd, void *p, size_t n, uint64_t off, size_t *got);
    int (*fdatasync)(storage_io_t *io, int fd);
    int (*ftruncate)(storage_io_t *io, int fd, uint64_t size);
    /* Allocates [off, off+len) and extends the file to cover it; the new bytes read as zeros
     * (fallocate mode 0). -WEIR_EUNSUPPORTED if the file system cannot. */
    int (*preallocate)(storage_io_t *io, int fd, uint64_t off, uint64_t len);
    int (*fsize)(storage_io_t *io, int fd, uint64_t *size);
    int (*rename)(storage_io_t *io, const char *from, const char *to);
    int (*unlink)(storage_io_t *io, const char *path);
    int (*mkdir)(storage_io_t *io, const char *path);
    int (*rmdir)(storage_io_t *io, const char *path);
    int (*fsync_dir)(storage_io_t *io, const char *path);
    /* Lists names in dir (not . and ..), calling fn for each; stops early if fn returns != 0. */
    int (*list)(storage_io_t *io, const char *dir, int (*fn)(const char *name, void *arg),
                void *arg);
    bool (*exists)(storage_io_t *io, const char *path);
} storage_io_ops_t;

struct storage_io {
    const storage_io_ops_t *ops;
};

storage_io_t *storage_io_real(void); /* the process-wide real file system */

/* The simulated disk (for tests): an in-memory file system that tracks, per file, the bytes
 * written and the bytes synced, and per directory, whether entries are synced. */
typedef struct storage_io_sim storage_io_sim_t;
storage_io_sim_t *storage_io_sim_new(uint64_t seed);
void storage_io_sim_free(storage_io_sim_t *sim);
storage_io_t *storage_io_sim_io(storage_io_sim_t *sim);
/* Crash: every unsynced write is, by the seeded random choice, kept, dropped, torn (a prefix
 * kept) or applied out of order; unsynced directory changes may be lost. Open fds become
 * invalid. */
void storage_io_sim_crash(storage_io_sim_t *sim);
/* Makes the next fdatasync (after `after` more successful ones) fail with -WEIR_EIO. */
void storage_io_sim_fail_sync(storage_io_sim_t *sim, int after);
/* Kills the simulated machine after `ops` more mutating calls (writes, truncations, syncs,
 * creates, renames, unlinks): from then on they fail with -WEIR_EIO and change nothing, so a
 * test can stop the code at any point of a multi-step operation and then crash. */
void storage_io_sim_crash_after(storage_io_sim_t *sim, int64_t ops);
bool storage_io_sim_frozen(storage_io_sim_t *sim);
uint64_t storage_io_sim_sync_count(storage_io_sim_t *sim);     /* successful fdatasyncs */
uint64_t storage_io_sim_mutation_count(storage_io_sim_t *sim); /* mutating calls so far */

/* ===================================== partition log ========================================= */

typedef struct storage_log storage_log_t;

typedef struct {
    uint64_t segment_bytes;        /* segment.bytes, default 1 GiB */
    int64_t segment_ms;            /* segment.ms, default 7 days */
    int64_t retention_bytes;       /* retention.bytes, default -1 (unlimited) */
    int64_t retention_ms;          /* retention.ms, default 7 days; -1 unlimited */
    bool cleanup_delete;           /* cleanup.policy contains delete (default) */
    bool cleanup_compact;          /* cleanup.policy contains compact */
    int64_t delete_retention_ms;   /* delete.retention.ms, default 1 day */
    int64_t min_compaction_lag_ms; /* min.compaction.lag.ms, default 0 */
    uint32_t index_interval_bytes; /* index.interval.bytes, default 4096 */
    size_t max_decompressed_bytes; /* bound for compaction's decompression, default 64 MiB */
    size_t cleaner_map_bytes;      /* bound for compaction's key map, default 128 MiB */
    /* The recovery-point checkpoint is rewritten after a flush once this many ms have passed
     * since the last write, or when the durable offset has crossed into a newer segment;
     * 0 = after every flush. Default 60 s (Kafka's log.flush.offset.checkpoint.interval.ms;
     * recovery_point_ms keeps the recovery point fresher). A lagging checkpoint only means a longer
     * scan at the next unclean start, never lost data. */
    int64_t recovery_checkpoint_ms;
    /* Between checkpoints, the recovery point alone is written this often after a flush (to
     * weir.recovery-point, in place, with a CRC and without a sync: a claim about data
     * already synced, so a lost or torn write only means a longer scan), keeping what a crash
     * restart must verify to about this many ms of writes. 0 = after every flush, -1 = never.
     * Default 1 s. */
    int64_t recovery_point_ms;
    /* The active segment's file is extended this many bytes at a time, ahead of the appends
     * (fallocate; the space reads as zeros), so an append overwrites allocated space and the
     * fdatasync after it writes the data without the file's size and extent map (measured on
     * ext4: 86 instead of 128 us for 170 bytes, 96 instead of 195 us for 16 KiB). 0 = off;
     * only used when segment_bytes is at least 4 times as large. A segment is cut back to its
     * data (and synced) when it stops being active, and at close; recovery cuts a zero tail.
     * Default 1 MiB. */
    uint64_t preallocate_bytes;
    /* Kafka's segment.jitter.ms: each segment rolls a random 0..jitter ms (below segment.ms)
     * early, so many partitions created together do not all roll at once. Default 0. */
    int64_t segment_jitter_ms;
    /* Compaction scheduling (Kafka's cleaner): a compacted log is cleaned when its dirty part
     * (bytes written since it was last cleaned, in cleanable segments) is more than
     * min_cleanable_ratio of the cleanable log (min.cleanable.dirty.ratio, default 0.5), or
     * when a dirty segment is older than max_compaction_lag_ms (max.compaction.lag.ms, default
     * INT64_MAX: never); the active segment of a compacted log also rolls by then. */
    double min_cleanable_ratio;
    int64_t max_compaction_lag_ms;
    /* Kafka's file.delete.delay.ms: segments retention deletes are renamed to *.deleted and
     * removed this much later (readers holding them are unaffected either way). 0 (the
     * default here; the broker passes the topic's, 60 s by Kafka's default) removes them at
     * once. */
    int64_t file_delete_delay_ms;
} storage_log_config_t;

void storage_log_config_default(storage_log_config_t *cfg);

/* Opens (creating if needed) the log in dir and recovers it: past the recovery point, batches
 * are scanned and verified; a torn tail is truncated (and logged); a bad batch below the
 * recovery point gives -WEIR_ECORRUPT (the partition must stay offline). Missing or
 * inconsistent indexes are rebuilt. */
int storage_log_open(storage_io_t *io, const char *dir, const storage_log_config_t *cfg,
                     storage_log_t **out);
/* Flushes, writes the recovery point and the clean-shutdown marker, frees. */
void storage_log_close(storage_log_t *log);
/* Closes without flushing or marking clean (simulates a crash in tests; frees memory). */
void storage_log_abandon(storage_log_t *log);
/* Closes and removes the directory and all its files (topic deletion). */
int storage_log_destroy(storage_log_t *log);

void storage_log_set_config(storage_log_t *log, const storage_log_config_t *cfg);

/* Appends one v2 batch. Validates its header (storage_batch_validate_header), assigns the base
 * offset by writing bytes 0..7 of `batch` in place, and writes it. On success *base_offset is
 * the first offset and the end offset has advanced by last_offset_delta + 1. The batch is in
 * the page cache when this returns; storage_log_on_durable() says when it is on disk.
 * Errors: those of storage_batch_validate_header, -WEIR_EINVAL (bytes after the batch, or a
 * batch without records), -WEIR_EOFFLINE if the log is offline, -WEIR_EIO. */
int storage_log_append(storage_log_t *log, uint8_t *batch, size_t len, int64_t *base_offset);

int64_t storage_log_start_offset(storage_log_t *log);   /* first readable offset */
int64_t storage_log_end_offset(storage_log_t *log);     /* next offset to assign (HWM) */
int64_t storage_log_durable_offset(storage_log_t *log); /* everything below is fsynced */
uint64_t storage_log_size_bytes(storage_log_t *log);
bool storage_log_offline(storage_log_t *log);

/* A byte range of one segment file, holding a reference on that file so it stays open while
 * the range is sent (retention may delete the segment meanwhile). */
typedef struct storage_file storage_file_t;
typedef struct {
    storage_file_t *file;
    int fd;
    uint64_t pos;
    size_t len;           /* 0: nothing at this offset yet */
    int64_t first_offset; /* the base offset of its first batch */
    int64_t next_offset;  /* the offset after its last batch */
    uint64_t records;     /* the records its batches hold (their headers' counts) */
    bool compressed_zstd; /* one of its batches is zstd-compressed */
    /* Every batch in it was checked by this process (at append, by recovery's scan or by a
     * verifying read) and fd is an OS file descriptor (the real I/O, not the simulated disk):
     * it may be sent from the file (sendfile) without storage_slice_pread's check. */
    bool sendfile_ok;
} storage_slice_t;

/* The range of whole batches starting at the batch that contains `offset`, up to max_bytes
 * (at least one whole batch, even if larger, as Kafka does). Only the segment holding
 * `offset` is read; the caller asks again for the rest. offset == end offset gives an empty
 * slice; offset outside [start, end] gives -WEIR_ERANGE; an offline log -WEIR_EOFFLINE. If
 * compaction removed `offset`, the slice starts at the next batch after it. */
int storage_log_read(storage_log_t *log, int64_t offset, size_t max_bytes, storage_slice_t *out);
/* Copies a slice's bytes into dst (which must have slice->len bytes) and verifies every batch
 * in it (length, magic, CRC): a batch that fails is never served; -WEIR_ECORRUPT, and the log
 * goes offline with an error logged. A verified slice that reaches the log's verified part
 * extends it down to the slice's start, so the next read of it may use sendfile. A caller that
 * sends the slice with sendfile instead skips this check, only when s->sendfile_ok. */
int storage_slice_pread(storage_log_t *log, const storage_slice_t *s, uint8_t *dst);
void storage_slice_release(storage_log_t *log, storage_slice_t *s);
/* Takes the slice's file reference away from it (the slice is left empty): the caller owns it
 * until storage_file_release, which has the shape of a release callback. */
storage_file_t *storage_slice_take_file(storage_slice_t *s);
void storage_file_release(void *file);

/* The first offset whose batch max timestamp >= ts (and that batch's max timestamp), through
 * the time index. -WEIR_ENOENT if no such batch. */
int storage_log_offset_for_time(storage_log_t *log, int64_t ts, int64_t *offset,
                                int64_t *timestamp);
/* The largest batch max timestamp of the log (KIP-734's -3) and the base offset of the first
 * batch that holds it (the earliest segment wins a tie). -WEIR_ENOENT when no batch has a
 * timestamp. */
int storage_log_max_timestamp(storage_log_t *log, int64_t *batch_offset, int64_t *timestamp);

/* Flushes now (fdatasync of the active segment and the directory if needed) and advances the
 * durable offset, then fires the callbacks now durable. The flusher calls this; tests may too.
 * A failed sync takes the log offline: -WEIR_EOFFLINE, and every durable callback gets
 * -WEIR_EOFFLINE. */
int storage_log_flush(storage_log_t *log);

/* Calls cb(arg, err) once `offset` (an end offset, exclusive) is durable, from the flusher
 * thread, or at once (on the caller's thread) if it already is. err is 0, or -WEIR_EOFFLINE if
 * the log went offline, or -WEIR_ECLOSED if the log was closed first. */
typedef void (*storage_durable_fn)(void *arg, int err);
void storage_log_on_durable(storage_log_t *log, int64_t offset, storage_durable_fn cb, void *arg);

/* Deletes whole segments past retention.bytes / retention.ms, rolls a segment past
 * segment.ms (less its jitter; for a compacted log at most max.compaction.lag.ms), removes
 * deleted files whose file.delete.delay.ms has passed. Call it periodically (Kafka's
 * log.retention.check.interval.ms is 5 minutes). Compaction is storage_log_clean's. Returns at
 * once, doing nothing, while a compaction pass runs on the log. */
int storage_log_maintain(storage_log_t *log, int64_t now_ms);
/* Removes the files of deleted segments whose file.delete.delay.ms has passed. */
void storage_log_purge_deleted(storage_log_t *log, int64_t now_ms);

/* What Kafka's cleaner knows of a compacted log: the clean part (below the first dirty offset)
 * and the dirty part (from there to the first uncleanable offset: the active segment, data not
 * yet durable, or segments younger than min.compaction.lag.ms), their ratio, and whether a
 * dirty segment is older than max.compaction.lag.ms. */
typedef struct {
    uint64_t clean_bytes;
    uint64_t dirty_bytes;
    double dirty_ratio;  /* dirty / (clean + dirty), 0 when both are 0 */
    int64_t overdue_ms;  /* how long past max.compaction.lag.ms, <= 0 when not */
    bool tombstones_due; /* a kept tombstone has passed delete.retention.ms */
    bool due;            /* a cleaning pass should run now */
} storage_clean_state_t;

int storage_log_clean_state(storage_log_t *log, int64_t now_ms, storage_clean_state_t *out);
/* Runs one compaction pass if the log is compacted and due (dirty ratio above
 * min.cleanable.dirty.ratio, overdue, or tombstones to drop). 1 if it ran, 0 if not due, or a
 * negative error. */
int storage_log_clean(storage_log_t *log, int64_t now_ms);
/* Advances the log start offset (DeleteRecords); whole segments below it are deleted. The log
 * is flushed and the new start offset checkpointed before this returns, so it survives a
 * restart. -WEIR_ERANGE past the end offset; an offset at or below the start is a no-op. */
int storage_log_delete_records(storage_log_t *log, int64_t before_offset);
/* Runs one compaction pass now. */
int storage_log_compact(storage_log_t *log, int64_t now_ms);

/* ---- leader epochs ------------------------------------------------------------------------------
 * The partition's leader epochs and the offset at which each began, as Kafka keeps them
 * (LeaderEpochFileCache): <dir>/leader-epoch-checkpoint, Kafka's format ("0", the number of
 * entries, then "<epoch> <start offset>" lines), rewritten atomically (temporary file,
 * fdatasync, rename, directory fsync) whenever it changes. Entries before the log start are
 * cut as the start moves (retention, DeleteRecords); entries past the end after recovery. A
 * missing or damaged file is rebuilt from the first batch's epoch. Any thread. */
#define STORAGE_EPOCH_MAX 4096 /* entries kept; older ones go first */

/* Records that epoch begins at start_offset; a no-op when epoch is not above the latest. */
int storage_log_epoch_assign(storage_log_t *log, int32_t epoch, int64_t start_offset);
int32_t storage_log_epoch_latest(storage_log_t *log); /* -1: none */
/* Kafka's endOffsetFor: the latest epoch gives the log end offset; an older one the start of
 * the next epoch with the largest epoch not above it; below every epoch the first epoch's
 * start (with the requested epoch; -5 is such an epoch too); -1 or above every epoch gives epoch
 * -1 and offset -1. */
void storage_log_epoch_end_offset(storage_log_t *log, int32_t requested, int32_t *epoch,
                                  int64_t *end_offset);

/* Visits every batch header from `from_offset` (recovery of producer state, offsets topic
 * replay). cb returns 0 to go on, != 0 to stop. The batch bytes are valid during the call. */
typedef int (*storage_scan_fn)(void *arg, const storage_batch_header_t *h, const uint8_t *batch,
                               size_t total);
int storage_log_scan(storage_log_t *log, int64_t from_offset, storage_scan_fn cb, void *arg);

/* ---- aborted transactions (Kafka's .txnindex) ---------------------------------------------------
 * One entry per aborted transaction, kept where Kafka keeps it: in <base>.txnindex next to the
 * segment that holds the transaction's abort marker (34 bytes each, big endian: version 0 i16,
 * producer id, first offset, last offset, last stable offset). read_committed fetches ask for
 * the entries overlapping what they return; compaction drops the aborted data they name. The
 * entries go with their segment (retention, DeleteRecords, compaction merges them). Writes
 * are not synced one by one: storage_log_aborted_sync makes them durable, and the owner of the
 * transactional state (the broker's producer state) syncs before it records that it needs no
 * replay below an offset, and at open drops and rebuilds the entries past where it replays. */
typedef struct {
    int64_t producer_id;
    int64_t first_offset;       /* the transaction's first offset in this partition */
    int64_t last_offset;        /* its abort marker's offset */
    int64_t last_stable_offset; /* the partition's LSO right after the marker */
} storage_aborted_txn_t;

/* Records an aborted transaction (in the segment that holds last_offset, which must be below
 * the end offset). -WEIR_EINVAL for an offset outside the log; I/O errors take nothing back
 * from memory (the entry is served) and are returned. */
int storage_log_aborted_add(storage_log_t *log, const storage_aborted_txn_t *t);
/* The entries with last_offset >= from and first_offset < upper, oldest marker first, into a
 * new array (*out, caller frees; NULL when none). Stops after the first entry whose
 * last_stable_offset reaches upper: no later one can start below upper. */
size_t storage_log_aborted_collect(storage_log_t *log, int64_t from, int64_t upper,
                                   storage_aborted_txn_t **out);
/* Forgets the entries with last_offset >= from (their markers are about to be replayed). */
int storage_log_aborted_truncate(storage_log_t *log, int64_t from);
/* Makes every entry durable (fdatasync of the .txnindex files written since the last sync). */
int storage_log_aborted_sync(storage_log_t *log);
/* True when a .txnindex file was damaged at open (its entries past the damage were dropped):
 * the owner must rebuild the entries from the start of the log. */
bool storage_log_aborted_damaged(storage_log_t *log);
/* The first offset of a transaction not yet decided (-1: none). Compaction never cleans at or
 * past it: the fate of those records is not known yet. */
void storage_log_set_first_unstable(storage_log_t *log, int64_t offset);

/* ---- the group-commit flusher ------------------------------------------------------------------
 * One thread. storage_log_on_durable wakes it for the durable callback's log; it syncs that log,
 * then fires its durable callbacks. While a sync runs, new durable callbacks gather for the next,
 * so the number of fdatasync calls adapts to the load (group commit); when the last sync released
 * several durables, it waits (at most one sync's time) for them to come back before the next sync.
 * Appends nobody waits for are synced by a background pass every interval_ms (logs dirty for
 * that long), so they are on disk within about two intervals. Closing a log detaches it; a log
 * still attached when the flusher stops just stops being flushed automatically. */
typedef struct storage_flusher storage_flusher_t;
int storage_flusher_start(storage_flusher_t **out, int64_t interval_ms);
void storage_flusher_stop(storage_flusher_t *f); /* flushes what is dirty, joins the thread */
/* Changes the background pass period; the next pass is interval_ms from now. */
void storage_flusher_set_interval(storage_flusher_t *f, int64_t interval_ms);
/* Attaches a log: from then on its appends are flushed by this flusher. */
void storage_flusher_attach(storage_flusher_t *f, storage_log_t *log);
void storage_flusher_detach(storage_flusher_t *f, storage_log_t *log);
/* What the flusher did since it started, for metrics. Any thread. */
typedef struct {
    uint64_t syncs;                  /* fdatasyncs of a log's data */
    uint64_t synced_bytes;           /* segment bytes they made durable */
    metric_hist_snap_t sync_seconds; /* time in each fdatasync (ns observed) */
    metric_hist_snap_t group_size;   /* durable waits released by each sync (group commit) */
    uint64_t gathers;                /* syncs that waited for a group to gather first */
} storage_flusher_stats_t;
void storage_flusher_stats(const storage_flusher_t *f, storage_flusher_stats_t *st);

#endif
