/*
 * txn: the transaction coordinator (Kafka's, KIP-98 and KIP-447) and its records in the internal
 * compacted topic __transaction_state. Internal to src/broker: the protocol layer reaches it
 * through broker_txn_* (transactions.c), which posts each request to the coordinator's thread.
 *
 * The coordinator (txn.c) keeps one entry per transactional.id: its producer id and epoch, the
 * previous ones (KIP-360 retries), the transaction timeout, the state (Kafka's: Empty, Ongoing,
 * PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Dead, PrepareEpochFence), the
 * partitions of the open transaction and its start time. Each change is written to
 * __transaction_state first and applied once durable, so an answer never promises what a crash
 * could take back; while a write is in flight the entry is `pending` and other requests for it
 * get CONCURRENT_TRANSACTIONS, as Kafka answers.
 *
 * Ending a transaction: EndTxn writes PrepareCommit/PrepareAbort and answers the client once
 * that is durable; the coordinator then has the markers written to every partition of the
 * transaction (env->write_markers: control batches, which close the transaction in each
 * partition and, in __consumer_offsets, publish or drop the transactional offsets), and once
 * they are all durable writes CompleteCommit/CompleteAbort. A restart finds a Prepare state in
 * the log and writes the markers again (a second marker for a closed transaction is harmless).
 * A transaction past its timeout is aborted with the producer's epoch bumped (the zombie is
 * fenced); InitProducerId on an open transaction does the same and answers
 * CONCURRENT_TRANSACTIONS, so the client retries and then gets a fresh epoch.
 *
 * txn_records.c holds the record layouts (Kafka's TransactionLogKey v0 and TransactionLogValue
 * v0/v1, so Kafka's tools can read the topic) and the replay that rebuilds the coordinator.
 *
 * Threads: one, the coordinator thread (loop 0 in the broker), like the group coordinator.
 * Every call, timer and env callback runs there.
 */
#ifndef WEIR_BROKER_TXN_H
#define WEIR_BROKER_TXN_H

#include "broker/broker.h"
#include "broker/coord.h"

typedef struct broker_txnc broker_txnc_t;

/* Kafka's TransactionStatus ids, as stored. */
typedef enum {
    TXN_EMPTY = 0,
    TXN_ONGOING = 1,
    TXN_PREPARE_COMMIT = 2,
    TXN_PREPARE_ABORT = 3,
    TXN_COMPLETE_COMMIT = 4,
    TXN_COMPLETE_ABORT = 5,
    TXN_DEAD = 6,
    TXN_PREPARE_EPOCH_FENCE = 7
} broker_txn_state_t;

const char *broker_txn_state_name(broker_txn_state_t s); /* Kafka's names, "Ongoing" ... */
int broker_txn_state_parse(const char *name);            /* -1 if unknown */

typedef struct {
    char *topic;
    int32_t partition;
} broker_txn_tp_t;

/* One transactional id's entry, as stored in the log (the record's value) and in memory. */
typedef struct {
    int64_t producer_id;
    int16_t epoch;
    int32_t timeout_ms;
    broker_txn_state_t state;
    broker_txn_tp_t *parts;
    size_t nparts;
    int64_t update_ms; /* wall clock */
    int64_t start_ms;  /* wall clock of the transaction's first partition, -1 */
} broker_txn_value_t;

/* ---- records (txn_records.c) ------------------------------------------------------------------
 */

void broker_txn_key_encode(buf_t *out, const char *transactional_id);
/* Writes TransactionLogValue v0 (what Kafka writes without transaction.version 2). */
void broker_txn_value_encode(buf_t *out, const broker_txn_value_t *v);
/* Decodes a key: the transactional id (malloc'd) or NULL for another record kind / garbage. */
char *broker_txn_key_decode(const uint8_t *p, size_t len);
/* Decodes a value v0 or v1 into v (parts malloc'd: broker_txn_value_free). -WEIR_ECORRUPT. */
int broker_txn_value_decode(const uint8_t *p, size_t len, broker_txn_value_t *v);
void broker_txn_value_free(broker_txn_value_t *v);

/* ---- environment --------------------------------------------------------------------------------
 */

typedef void (*broker_txn_done_fn)(void *arg, int err);

typedef struct {
    void *ctx;
    int64_t (*now_ms)(void *ctx); /* wall clock: timeouts and the stored times */
    void (*timer_init)(void *ctx, net_timer_t *t, net_fn fn, void *arg);
    void (*timer_start)(void *ctx, net_timer_t *t, int64_t delay_ms);
    void (*timer_stop)(void *ctx, net_timer_t *t);
    /* A producer id never used before; 0 or a negative WEIR_ code. */
    int (*next_producer_id)(void *ctx, int64_t *pid);
    /* Appends one record (value NULL = tombstone) to transactional_id's partition of
     * __transaction_state; done(arg, err) on the coordinator thread once durable. */
    void (*write)(void *ctx, const char *transactional_id, const uint8_t *key, size_t key_len,
                  const uint8_t *value, int32_t value_len, broker_txn_done_fn done, void *arg);
    /* Writes the markers of a transaction to its partitions (a partition that no longer exists
     * is skipped) and calls done(arg, err) once they are all durable; on a failure the
     * coordinator tries again later. */
    void (*write_markers)(void *ctx, int64_t producer_id, int16_t epoch, bool commit,
                          const broker_txn_tp_t *parts, size_t nparts, broker_txn_done_fn done,
                          void *arg);
    /* Tells the produce path about a transactional producer id: its current epoch and the
     * partitions of its open transaction (nparts 0: none open); epoch -1: the id is no longer
     * a transactional one. The produce path accepts transactional batches only for the
     * partitions of the open transaction, with that epoch. */
    void (*publish)(void *ctx, int64_t producer_id, int16_t epoch, const broker_txn_tp_t *parts,
                    size_t nparts);
} broker_txn_env_t;

typedef struct {
    int32_t max_timeout_ms;       /* transaction.max.timeout.ms, 900000 */
    int64_t id_expiration_ms;     /* transactional.id.expiration.ms, 7 days */
    int64_t abort_check_ms;       /* transaction.abort.timed.out.transaction.cleanup.interval.ms */
    int64_t expire_check_ms;      /* transaction.remove.expired.transaction.cleanup.interval.ms */
    size_t max_transactional_ids; /* weir.transactional.id.max.count: memory bound */
} broker_txn_config_t;

void broker_txn_config_default(broker_txn_config_t *cfg);

int broker_txnc_new(const broker_txn_config_t *cfg, const broker_txn_env_t *env,
                    broker_txnc_t **out);
/* Answers nothing more; callbacks in flight must have run (the broker flushes first). */
void broker_txnc_free(broker_txnc_t *c);
/* Applies one record of __transaction_state (value NULL / -1 = tombstone) while loading. */
int broker_txnc_replay(broker_txnc_t *c, const uint8_t *key, size_t key_len, const uint8_t *value,
                       int32_t value_len);
/* After the replay: resumes the markers of transactions left in a Prepare state, publishes the
 * open ones and arms the timers. */
void broker_txnc_load_finish(broker_txnc_t *c);
size_t broker_txnc_writes_pending(broker_txnc_t *c);
size_t broker_txnc_count(broker_txnc_t *c);

/* The requests: each fills its result and calls done(arg) exactly once (possibly before it
 * returns). Errors are Kafka's, before any version mapping (PRODUCER_FENCED). */
typedef void (*broker_txn_reply_fn)(void *arg);

void broker_txnc_init_producer_id(broker_txnc_t *c, broker_txn_init_req_t *req,
                                  broker_txn_reply_fn done, void *arg);
/* AddPartitionsToTxn / AddOffsetsToTxn (the group's offsets partition is one of parts). Each
 * part's error is set. verify_only answers whether each partition is in the transaction. */
void broker_txnc_add_partitions(broker_txnc_t *c, broker_txn_add_req_t *req,
                                broker_txn_reply_fn done, void *arg);
void broker_txnc_end(broker_txnc_t *c, broker_txn_end_req_t *req, broker_txn_reply_fn done,
                     void *arg);
/* DescribeTransactions of one id into item (partitions valid until the next coordinator call). */
void broker_txnc_describe(broker_txnc_t *c, broker_txn_describe_item_t *item);
/* ListTransactions: fills req->txns (valid until the next coordinator call). */
void broker_txnc_list(broker_txnc_t *c, broker_txn_list_req_t *req);
/* True when producer_id (with this epoch) has an open transaction that includes the partition
 * (TxnOffsetCommit's check that AddOffsetsToTxn came first). */
int16_t broker_txnc_check_partition(broker_txnc_t *c, const char *transactional_id,
                                    int64_t producer_id, int16_t epoch, const char *topic,
                                    int32_t partition);

#endif
