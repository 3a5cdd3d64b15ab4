/*
 * producer_state: the idempotent producer. Internal to src/broker and src/kafka.
 *
 * Two parts:
 *  - broker_producer_state_t, one per partition: for each producer id its epoch and the sequence
 *    ranges and offsets of its last 5 batches (a client has at most 5 requests in flight), so
 *    a retried batch is answered with its original offset instead of being written twice, and
 *    a gap or a zombie is refused. For transactional producers also the first offset of the
 *    transaction they have open in this partition: the earliest of those is the partition's
 *    first unstable offset, which bounds its last stable offset (LSO) and compaction. A commit
 *    or abort marker closes the producer's transaction; an abort is recorded in the log's
 *    aborted-transaction index (storage_log_aborted_add), which read_committed fetches use. Rebuilt
 * at open from the newest valid snapshot file
 *    (<partition dir>/<offset, 20 digits>.snapshot) plus a scan of the batch headers after it,
 *    so it is exact after kill -9 too; snapshots are written every snapshot_interval offsets
 *    (without fsync: a torn or lost snapshot only means a longer scan) and at a clean close.
 *  - broker_producer_ids_t, one per broker: the producer ids InitProducerId hands out (the
 *    transaction coordinator too). Ids never repeat across restarts: a block of ids is made
 *    durable (<data dir>/producer-ids) before any id of it is handed out.
 *
 * Threads. broker_producer_state_t has its own mutex, so the check, the update and a snapshot may
 * come from any thread; in the broker the check and the update run with the partition's append lock
 * held, which is what makes check-then-append atomic. broker_producer_ids_t has its own mutex.
 */
#ifndef WEIR_BROKER_PRODUCER_STATE_H
#define WEIR_BROKER_PRODUCER_STATE_H

#include "base/base.h"
#include "broker/broker.h"
#include "storage/storage.h"

typedef struct broker_producer_state broker_producer_state_t;

enum { BROKER_PRODUCER_BATCHES = 5 };

typedef struct {
    int64_t snapshot_interval_offsets; /* weir.producer.snapshot.interval.offsets, 100000 */
    int64_t expiration_ms;             /* producer.id.expiration.ms, 1 day */
    size_t max_producers;              /* weir.producer.state.max.producers, per partition */
} broker_producer_state_config_t;

void broker_producer_state_config_default(broker_producer_state_config_t *cfg);

/* Opens the state of the partition whose log is `log` in directory `dir`: loads the newest
 * snapshot at or below the log end (older or later ones are ignored, bad ones skipped) and
 * replays the batch headers from there to the end. */
int broker_producer_state_open(storage_io_t *io, const char *dir, storage_log_t *log,
                               const broker_producer_state_config_t *cfg,
                               broker_producer_state_t **out);
/* Writes a final snapshot at the log end (fsynced) unless one is there already, then frees:
 * a clean restart loads it and scans nothing. */
void broker_producer_state_close(broker_producer_state_t *ps, storage_log_t *log);
/* Frees without writing anything (crash simulation, deleted partition). */
void broker_producer_state_free(broker_producer_state_t *ps);

/* The answer of the check for one batch. */
typedef struct {
    int16_t error;  /* Kafka ErrorCode; NONE = append it (unless duplicate) */
    bool duplicate; /* already in the log: answer with its original offsets */
    int64_t dup_base_offset;
    int64_t dup_last_offset;
    int64_t dup_timestamp; /* its max timestamp (Kafka answers it as the log append time) */
} broker_producer_check_t;

/* Checks a batch (before it is appended). Batches without a producer id always pass. A
 * producer with a transaction open here may only write transactional batches
 * (INVALID_TXN_STATE). */
void broker_producer_state_check(broker_producer_state_t *ps, const storage_batch_header_t *h,
                                 broker_producer_check_t *out);
/* Before a checked transactional batch is appended at `base` (the log end, held by the
 * caller's append lock): opens the producer's transaction there if none is open, so the first
 * unstable offset covers the batch before any reader can see it. Returns true if it opened one
 * (undo it with broker_producer_state_txn_undo if the append then fails). */
bool broker_producer_state_txn_begin(broker_producer_state_t *ps, const storage_batch_header_t *h,
                                     int64_t base);
void broker_producer_state_txn_undo(broker_producer_state_t *ps, int64_t producer_id);
/* True when the producer has a transaction open here with this epoch (its later batches need
 * no check with the coordinator). */
bool broker_producer_state_txn_open(broker_producer_state_t *ps, int64_t producer_id,
                                    int16_t epoch);
/* Checks a transaction marker before it is appended: INVALID_PRODUCER_EPOCH if the producer
 * already writes with a newer epoch, else NONE. */
int16_t broker_producer_state_check_marker(broker_producer_state_t *ps, int64_t producer_id,
                                           int16_t epoch);
/* A marker appended at `offset` (the caller holds the append lock): closes the producer's
 * transaction; an abort goes to the aborted-transaction index with the LSO after it. */
void broker_producer_state_end_txn(broker_producer_state_t *ps, int64_t producer_id, int16_t epoch,
                                   int32_t coordinator_epoch, bool commit, int64_t offset,
                                   int64_t timestamp);
/* The first offset of an open transaction in this partition, -1 if none. Lock-free: an
 * opening is published before its batch is appended, so a reader that reads the log end
 * first and this second never sees an undecided batch as stable. */
int64_t broker_producer_state_first_unstable(broker_producer_state_t *ps);

/* Every producer of the partition (*out, caller frees), by producer id. */
size_t broker_producer_state_list(broker_producer_state_t *ps, broker_producer_desc_t **out);
/* Records a batch that was appended at base_offset; log_end is the log's end offset after it
 * (a snapshot is written when snapshot_interval offsets passed since the last one). */
void broker_producer_state_update(broker_producer_state_t *ps, const storage_batch_header_t *h,
                                  int64_t base_offset, int64_t log_end);
/* Forgets producers idle for expiration_ms (by their batches' timestamps). */
void broker_producer_state_expire(broker_producer_state_t *ps, int64_t now_wall_ms);
/* Writes a snapshot of the state as of log_end now; with sync, fsynced. The caller makes
 * sure no append runs meanwhile (the partition's append lock). */
int broker_producer_state_snapshot(broker_producer_state_t *ps, int64_t log_end, bool sync);
/* The same when the log end moved at least interval offsets since the last snapshot (also
 * with no producers: it bounds the scan after a crash for any partition). */
int broker_producer_state_maybe_snapshot(broker_producer_state_t *ps, int64_t log_end,
                                         int64_t interval);
size_t broker_producer_state_count(broker_producer_state_t *ps);
/* The offset of the snapshot loaded at open (-1: none) and the batches replayed after it. */
int64_t broker_producer_state_loaded_snapshot(broker_producer_state_t *ps);
uint64_t broker_producer_state_replayed_batches(broker_producer_state_t *ps);

/* ---- InitProducerId ---------------------------------------------------------------------------
 */

typedef struct broker_producer_ids broker_producer_ids_t;

enum { BROKER_PRODUCER_IDS_BLOCK = 1000 };

int broker_producer_ids_open(storage_io_t *io, const char *data_dir, broker_producer_ids_t **out);
void broker_producer_ids_close(broker_producer_ids_t *p);

/* A producer id never handed out before (InitProducerId): ids are made durable in blocks before
 * any of them is used. 0, or an I/O error (the caller answers COORDINATOR_NOT_AVAILABLE). */
int broker_producer_ids_next(broker_producer_ids_t *p, int64_t *pid);

/* The type of a control batch's marker: 0 abort, 1 commit, -1 not a transaction marker. */
int broker_marker_type(const uint8_t *batch, size_t total);

/* Files beside a partition's log, through io (so the simulated disk sees them): written as
 * dir/tmp_name (NULL: name.tmp) then renamed (with sync: fdatasync before, the directory
 * fsynced after); read
 * whole with the "crc32c u32 of the rest, then the body" framing checked (-WEIR_ENOENT if
 * absent, -WEIR_ECORRUPT past max_bytes or on a CRC mismatch). */
int broker_io_write_atomic(storage_io_t *io, const char *dir, const char *name,
                           const char *tmp_name, const buf_t *b, bool sync);
int broker_io_read_checked(storage_io_t *io, const char *dir, const char *name, size_t max_bytes,
                           buf_t *out);

#endif
