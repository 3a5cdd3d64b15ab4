/*
 * The produce path: validate one partition's record batches, check them against the
 * idempotent producer's state, append them, and for acks=-1 wait until they are durable.
 *
 * Validation happens before any append, for every batch of the partition (a Produce carries
 * one RECORDS field per partition, which may hold several batches): magic 2 only
 * (UNSUPPORTED_FOR_MESSAGE_FORMAT for 0/1), the batch within the bytes sent, its size within
 * max.message.bytes, zstd only from Produce v7, no control batches from clients, then the CRC
 * (CORRUPT_MESSAGE) and every record parsed, decompressing once with a bound (INVALID_RECORD
 * with the reason from v8, CORRUPT_MESSAGE before). Then, under the partition's append_mu,
 * each batch gets partitionLeaderEpoch 0 and, for LogAppendTime, the broker's clock and a new
 * CRC, passes the idempotence check (a retried batch is answered with its original offset, a
 * gap or a zombie is refused) and is appended verbatim. A transactional batch must belong to
 * its producer's open transaction: the first one of a transaction in a partition is checked
 * with the transaction coordinator (broker_txn_verify: the partition was added with
 * AddPartitionsToTxn, INVALID_TXN_STATE otherwise), and opens the transaction in the
 * partition's producer state before it is appended, so the LSO covers it before anyone can
 * read it. The only per-record work is the
 * validation pass; nothing is copied (the batch is rewritten in place in the request frame and
 * written from there).
 *
 * Beyond Kafka's checks: on a topic with schema validation (schema_hook.c), every record's key
 * and/or value must pass the schema registry's check, else the batch is refused whole with
 * INVALID_RECORD naming the record and the rule, and nothing of the partition is appended. On a
 * topic with weir.key.index (conditional.c), a record's header weir.expected.offset is checked
 * against its key's latest offset under append_mu, after the idempotence check and before the
 * append; a mismatch refuses the batch with INVALID_RECORD naming key, expected and actual.
 *
 * acks=-1: once every partition is appended, a durability callback is registered with the
 * storage flusher for each partition's new end offset (group commit: many requests share one
 * fdatasync). Callbacks fire on the flusher thread (or at once) and only post to the request's
 * loop, so the wait's state is touched by that loop only; the request is done when every
 * partition is durable or timeout_ms passes (REQUEST_TIMED_OUT for the rest). The wait is freed
 * once it has answered and every callback has come back.
 *
 * Runs on the request's loop thread; takes the registry read lock.
 */
#include "broker/broker_internal.h"
#include "broker/producer_state.h"

#include <stdio.h>
#include <stdlib.h>

static void result_error(broker_produce_result_t *res, int16_t code, const char *msg)
{
    res->error_code = code;
    res->error_message = msg;
    res->base_offset = -1;
}

/* A batch that cannot be read as one: Kafka raises CorruptRecordException for it, whatever
 * the Produce version (CORRUPT_MESSAGE is also an invalid record's code before v8). */
static void result_corrupt(broker_produce_result_t *res, const char *msg)
{
    result_error(res, KAFKA_CORRUPT_MESSAGE, msg);
    res->unknown_append = true;
}

/* Kafka answers an append, done or refused, with the partition's log start offset, except when the
 * log raised CorruptRecordException, RecordTooLargeException, RecordBatchTooLargeException or
 * KafkaStorageException (ReplicaManager.appendToLocalLog), or the transaction's verification
 * refused the batch before the log saw it (UNKNOWN_LOG_APPEND_INFO): then the answer carries -1. */
static int64_t answer_log_start(const broker_partition_t *p, const broker_produce_result_t *res)
{
    switch (res->error_code) {
    case KAFKA_MESSAGE_TOO_LARGE:
    case KAFKA_RECORD_LIST_TOO_LARGE:
    case KAFKA_KAFKA_STORAGE_ERROR:
        return -1;
    default:
        return res->unknown_append ? -1 : storage_log_start_offset(p->log);
    }
}

/* The error for a record-level problem: INVALID_RECORD exists from Produce v8. */
static int16_t invalid_record(const broker_produce_req_t *ctx)
{
    return ctx->api_version >= 8 ? KAFKA_INVALID_RECORD : KAFKA_CORRUPT_MESSAGE;
}

static const char why_keyless[] = "Compacted topic cannot accept message without key";

static const char why_schema[] = "schema validation";

static const char why_expected[] = "conditional append";

/* What each record of a topic's batch must satisfy, beyond being well formed. */
typedef struct {
    const broker_topic_t *t;
    bool compacted;
    bool schema_on;             /* t->schema_on, read once per batch */
    storage_record_memo_t memo; /* what the batch's earlier records proved */
    broker_keys_found_t *keys;  /* weir.key.index: the keyed records, for the append path */
    char why[256];              /* schema validation's or the expected offset's reason */
} record_check_t;

/* Compacted topics: every record needs a key (Kafka's LogValidator). Topics with schema
 * validation: the key and/or value checked through the hook (schema_hook.c). */
static int check_record(void *arg, int32_t index, const storage_record_t *rec, const char **why)
{
    record_check_t *c = arg;
    if (c->compacted && rec->key_len < 0) {
        *why = why_keyless;
        return -WEIR_EINVAL;
    }
    int64_t expected = -1;
    int has = rec->header_count > 0
                  ? broker_record_expected(c->t, rec, &expected, c->why, sizeof(c->why))
                  : 0;
    if (has < 0) {
        *why = why_expected;
        return -WEIR_EINVAL;
    }
    if (c->keys)
        broker_keys_found_record(c->keys, index, rec, has == 1, expected);
    if (c->schema_on && !storage_record_memo_hit(&c->memo, rec) &&
        broker_topic_schema_check(c->t, &c->memo, rec, c->why, sizeof(c->why)) < 0) {
        *why = why_schema;
        return -WEIR_EINVAL;
    }
    return 0;
}

/* A batch refused by schema validation: INVALID_RECORD, the record's index in record_errors,
 * and a message naming the record and the rule, as the partition's error_message too. Clients
 * before Produce v8 cannot receive the message, so the broker logs it (rate-limited: a
 * misconfigured producer must not flood the log). */
static void schema_refused(broker_produce_result_t *res, const broker_produce_req_t *ctx,
                           broker_partition_t *p, int32_t bad, const char *why)
{
    broker_topic_t *t = p->topic;
    result_error(res, invalid_record(ctx), res->record_error_message);
    res->record_error_index = bad;
    snprintf(res->record_error_message, sizeof(res->record_error_message), "record %d: %s", bad,
             why);
    metric_counter_add(&t->m.schema_refused, 1);
    log_limited(LOG_INFO, "broker", "%s-%d: a batch refused by schema validation: %s", t->name,
                p->index, res->record_error_message);
}

/* A batch refused by a record's weir.expected.offset (conditional.c): a bad header, or a key
 * whose latest offset is not the one expected. INVALID_RECORD, the record in record_errors and
 * the reason as the partition's message too; logged at debug level only (a conflict is an
 * answer the writer asked for, not a fault). */
static void expected_refused(broker_produce_result_t *res, const broker_produce_req_t *ctx,
                             int32_t bad, const char *why)
{
    result_error(res, invalid_record(ctx), res->record_error_message);
    res->record_error_index = bad;
    snprintf(res->record_error_message, sizeof(res->record_error_message), "record %d: %s", bad,
             why);
}

/* Checks one batch at p[0..avail); on success *total is its size. */
/* message.timestamp.before/after.max.ms: the first record out of bounds is the one the answer's
 * record_errors names (Kafka names each; the answer has room for one). */
static void ts_refused(void *arg, int32_t index, const char *message)
{
    broker_produce_result_t *res = arg;
    if (res->record_error_index >= 0)
        return;
    res->record_error_index = index;
    snprintf(res->record_error_message, sizeof(res->record_error_message), "%s", message);
}

static bool validate_batch(broker_t *b, broker_partition_t *part, const broker_produce_req_t *ctx,
                           int64_t max_message, const uint8_t *p, size_t avail, size_t *total,
                           broker_keys_found_t *keys, broker_produce_result_t *res)
{
    if (avail < BATCH_MAGIC + 1) {
        result_corrupt(res, "truncated record batch");
        return false;
    }
    int8_t magic = (int8_t)p[BATCH_MAGIC]; /* at byte 16 in message sets v0/v1 as well */
    if (magic == 0 || magic == 1) {
        result_error(res, KAFKA_UNSUPPORTED_FOR_MESSAGE_FORMAT,
                     "message format v0/v1 is not supported; use record batches (magic 2)");
        return false;
    }
    if (magic != 2) {
        result_corrupt(res, "unknown record batch magic");
        return false;
    }
    if (avail < BATCH_HEADER_SIZE) {
        result_corrupt(res, "truncated record batch header");
        return false;
    }
    int32_t blen = (int32_t)be32_read(p + BATCH_LENGTH);
    if (blen < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
        (uint64_t)blen + BATCH_LOG_OVERHEAD > avail) {
        result_corrupt(res, "record batch length out of bounds");
        return false;
    }
    *total = (size_t)blen + BATCH_LOG_OVERHEAD;
    if ((int64_t)*total > max_message) {
        result_error(res, KAFKA_MESSAGE_TOO_LARGE, "record batch larger than max.message.bytes");
        return false;
    }
    int16_t attrs = (int16_t)be16_read(p + BATCH_ATTRIBUTES);
    int codec = attrs & BATCH_COMPRESSION_MASK;
    if (codec > CODEC_ZSTD || (codec == CODEC_ZSTD && ctx->api_version < 7)) {
        result_error(res, KAFKA_UNSUPPORTED_COMPRESSION_TYPE,
                     codec == CODEC_ZSTD ? "zstd needs Produce v7 or later"
                                         : "unknown compression codec");
        return false;
    }
    if (attrs & BATCH_CONTROL) {
        result_error(res, invalid_record(ctx), "clients may not write control batches");
        return false;
    }
    if ((attrs & BATCH_TRANSACTIONAL) && !ctx->transactional_id) {
        /* Kafka authorizes transactional writes by the request's transactional id */
        result_error(res, KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                     "transactional records need the request's transactional id");
        res->unknown_append = true; /* Kafka refuses the whole request before any log */
        return false;
    }
    if ((attrs & BATCH_TRANSACTIONAL) && (int64_t)be64_read(p + BATCH_PRODUCER_ID) < 0) {
        result_error(res, invalid_record(ctx), "a transactional batch needs a producer id");
        return false;
    }
    /* One pass checks the header and CRC and parses every record (decompressing once). */
    const char *why = NULL;
    int32_t bad = -1;
    record_check_t rc_ctx = {.t = part->topic,
                             .compacted = part->topic->log_cfg.cleanup_compact,
                             .schema_on = part->topic->schema_on,
                             .keys = keys};
    if (rc_ctx.schema_on)
        broker_schema_memo_init(&rc_ctx.memo, part->topic);
    if (keys) /* a compressed batch's keys would point into validation's scratch buffer */
        broker_keys_found_batch(keys, codec == CODEC_NONE);
    /* A record with headers always goes to check_record (a header weir.expected.offset is
     * refused on a topic without key index and checked where there is one). One without
     * headers goes there only where the topic checks records and the memo has not proved it
     * already (a repeated schema id header); a compacted topic must see every record's key, and
     * a key-indexed one collects them, so those get no memo (check_record still asks the memo
     * before the schema check). */
    const storage_record_memo_t *memo = rc_ctx.compacted || keys ? NULL : &rc_ctx.memo;
    int rc = storage_batch_validate_records_checked(
        p, *total, (size_t)broker_settings_int(&b->set, BCFG_MAX_DECOMPRESSED_BYTES), check_record,
        &rc_ctx, memo, &bad, &why);
    if (rc < 0 && why == why_schema) {
        schema_refused(res, ctx, part, bad, rc_ctx.why);
        return false;
    }
    if (rc < 0 && why == why_expected) {
        expected_refused(res, ctx, bad, rc_ctx.why);
        return false;
    }
    if (rc < 0 && why == why_keyless) {
        result_error(res, invalid_record(ctx), "One or more records have been rejected");
        res->record_error_index = bad;
        snprintf(res->record_error_message, sizeof(res->record_error_message),
                 "%s in topic partition %s-%d.", why_keyless, part->topic->name, part->index);
        return false;
    }
    if (rc == -WEIR_EUNSUPPORTED) {
        result_error(res, KAFKA_UNSUPPORTED_COMPRESSION_TYPE, "unsupported compression codec");
        return false;
    }
    if (rc == -WEIR_ETOOBIG) {
        result_error(res, invalid_record(ctx),
                     "batch decompresses past weir.max.decompressed.bytes");
        return false;
    }
    if (rc < 0) {
        if (why && storage_batch_why_corrupt(why))
            result_corrupt(res, why);
        else
            result_error(res, invalid_record(ctx), why ? why : "invalid records");
        return false;
    }
    if (broker_produce_check_timestamps(b, part->topic, p, *total, clock_wall_ms(), ts_refused,
                                        res) > 0) {
        result_error(res, KAFKA_INVALID_TIMESTAMP, BROKER_INVALID_TIMESTAMP_MSG);
        return false;
    }
    return true;
}

/* The idempotence check of one batch with a producer id (append_mu held): 0 to append it, a
 * Kafka ErrorCode to refuse it; a duplicate sets *dup and its original offsets. A
 * transactional batch that would open a transaction here must belong to the producer's open
 * transaction at the coordinator. */
static int16_t check_producer(broker_t *b, broker_partition_t *p, const storage_batch_header_t *h,
                              bool *dup, int64_t *dup_base, int64_t *dup_ts, bool *verify)
{
    if (!p->producers)
        return KAFKA_KAFKA_STORAGE_ERROR;
    broker_producer_check_t ck;
    broker_producer_state_check(p->producers, h, &ck);
    if (ck.error == KAFKA_NONE && ck.duplicate) {
        *dup = true;
        *dup_base = ck.dup_base_offset;
        *dup_ts = ck.dup_timestamp;
        return KAFKA_NONE;
    }
    if (ck.error == KAFKA_NONE && (h->attributes & BATCH_TRANSACTIONAL) &&
        !broker_producer_state_txn_open(p->producers, h->producer_id, h->producer_epoch)) {
        *verify = true;
        return broker_txn_verify(b, h->producer_id, h->producer_epoch, p->topic->name,
                                 strlen(p->topic->name), p->index);
    }
    return ck.error;
}

/* weir.key.index (append_mu held): checks the batch's expected offsets and indexes its keys at
 * the offsets the append is about to give them. False after setting the error (nothing
 * indexed); true with *st to undo if the append fails, and to deinit. */
static bool stage_keys(broker_t *b, broker_partition_t *p, const broker_produce_req_t *req,
                       broker_produce_part_t *pp, broker_keys_found_t *kf, const uint8_t *batch,
                       size_t total, broker_keys_stage_t *st)
{
    char why[280];
    int32_t bad = -1;
    if (broker_keys_stage(b, p, kf, batch, total, storage_log_end_offset(p->log), st, &bad, why,
                          sizeof(why)) == 0)
        return true;
    broker_keys_stage_deinit(st);
    expected_refused(&pp->res, req, bad, why);
    log_debug("broker", "%s-%d: a conditional append refused: %s", p->topic->name, p->index,
              pp->res.record_error_message);
    return false;
}

/* Appends one validated batch (append_mu held). Returns false after setting an error. */
static bool append_batch(broker_t *b, broker_partition_t *p, const broker_produce_req_t *req,
                         broker_produce_part_t *pp, broker_keys_found_t *kf, uint8_t *batch,
                         size_t total, int64_t now, bool first)
{
    broker_produce_result_t *res = &pp->res;
    be32_write(batch + BATCH_LEADER_EPOCH, 0);
    if (now >= 0) { /* LogAppendTime: the broker's clock, and a new CRC */
        uint16_t attrs = be16_read(batch + BATCH_ATTRIBUTES);
        be16_write(batch + BATCH_ATTRIBUTES, attrs | BATCH_TIMESTAMP_LOG_APPEND);
        be64_write(batch + BATCH_MAX_TIMESTAMP, (uint64_t)now);
        storage_batch_crc_update(batch, total);
    }
    storage_batch_header_t h;
    size_t t2;
    int rc = storage_batch_header_read(batch, total, &h, &t2);
    WEIR_ASSERT(rc == 0); /* validated above */
    if (h.producer_id >= 0) {
        bool dup = false, verify = false;
        int64_t dup_base = -1, dup_ts = -1;
        int16_t err = check_producer(b, p, &h, &dup, &dup_base, &dup_ts, &verify);
        if (err) {
            result_error(res, err, NULL);
            res->unknown_append = verify;
            return false;
        }
        if (dup) {
            if (first) { /* the original's offsets, and its timestamp as the append time */
                res->base_offset = dup_base;
                res->log_append_time = dup_ts;
            }
            /* acks=-1 answers a retried batch only once its original is durable */
            pp->end_offset = WEIR_MAX(pp->end_offset, dup_base + h.last_offset_delta + 1);
            broker_keys_found_skip(kf);
            return true;
        }
    }
    /* weir.key.index: the expected offsets checked and the keys indexed, before the append */
    broker_keys_stage_t st;
    bool staged = p->topic->key_index;
    if (staged && !stage_keys(b, p, req, pp, kf, batch, total, &st))
        return false;
    int64_t predicted = storage_log_end_offset(p->log);
    /* A transaction opening here is published before its first batch is readable. */
    bool opened = h.producer_id >= 0 && p->producers &&
                  broker_producer_state_txn_begin(p->producers, &h, storage_log_end_offset(p->log));
    int64_t base;
    rc = storage_log_append(p->log, batch, total, &base);
    if (staged) {
        if (rc < 0)
            broker_keys_stage_undo(p, &st);
        else
            broker_keys_stage_commit(p, &st, base, h.last_offset_delta + 1);
        broker_keys_stage_deinit(&st);
        WEIR_ASSERT(rc < 0 || base == predicted); /* append_mu: nobody appended in between */
    }
    if (rc < 0) {
        if (opened)
            broker_producer_state_txn_undo(p->producers, h.producer_id);
        log_warn_limited("broker", "append to %s-%d: %s", p->topic->name, p->index,
                         weir_strerror(rc));
        if (rc == -WEIR_ECORRUPT)
            result_corrupt(res, NULL);
        else
            result_error(res, KAFKA_KAFKA_STORAGE_ERROR, NULL);
        return false;
    }
    if (first)
        res->base_offset = base;
    pp->end_offset = base + h.last_offset_delta + 1;
    metric_counter_add(&p->topic->m.produce_bytes, total);
    metric_counter_add(&p->topic->m.produce_records, (uint64_t)h.record_count);
    if (h.producer_id >= 0 && p->producers)
        broker_producer_state_update(p->producers, &h, base, storage_log_end_offset(p->log));
    return true;
}

/* compression.type other than "producer": every batch rebuilt with the topic's codec into out
 * (left empty when no batch needed it). A rebuilt batch past max.message.bytes is refused as
 * Kafka refuses it after recompression. */
static bool recompress_all(broker_t *b, broker_topic_t *t, const uint8_t *records, size_t len,
                           int64_t max_message, buf_t *out, broker_produce_result_t *res)
{
    if (atomic_load(&t->compression_codec) < 0)
        return true;
    bool changed = false;
    for (size_t off = 0, total; off < len; off += total) {
        total = (size_t)be32_read(records + off + BATCH_LENGTH) + BATCH_LOG_OVERHEAD;
        size_t before = out->len;
        int rc = broker_produce_recompress(b, t, records + off, total, out);
        if (rc < 0) {
            result_error(res, rc == -WEIR_ETOOBIG ? KAFKA_MESSAGE_TOO_LARGE : KAFKA_CORRUPT_MESSAGE,
                         "the batch could not be recompressed with the topic's compression.type");
            return false;
        }
        if (rc == 0)
            buf_append(out, records + off, total);
        else if ((int64_t)(out->len - before) > max_message) {
            result_error(res, KAFKA_MESSAGE_TOO_LARGE,
                         "record batch larger than max.message.bytes after recompression");
            return false;
        }
        changed = changed || rc == 1;
    }
    if (!changed)
        out->len = 0; /* appended as they came */
    return true;
}

/* Validates and appends the batches of one partition (registry read lock held). */
static void produce_partition(broker_t *b, broker_partition_t *p, const broker_produce_req_t *req,
                              broker_produce_part_t *pp)
{
    broker_produce_result_t *res = &pp->res;
    uint8_t *records = pp->records;
    size_t len = pp->len;
    if (p->topic->internal) { /* the broker writes those itself; clients may not (Kafka) */
        result_error(res, KAFKA_INVALID_TOPIC_EXCEPTION, "Cannot append to internal topic");
        return;
    }
    if (!p->log || storage_log_offline(p->log)) {
        result_error(res, KAFKA_KAFKA_STORAGE_ERROR, "the partition's log is offline");
        return;
    }
    if (!records || len == 0) {
        result_error(res, invalid_record(req), "no record batches");
        return;
    }
    broker_topic_t *t = p->topic;
    int64_t max_message = atomic_load(&t->max_message_bytes);
    broker_keys_found_t found = {0}, *kf = t->key_index ? &found : NULL;
    buf_t rebuilt = {0}; /* the batches in the topic's compression.type, when it names one */
    size_t off = 0, total;
    while (off < len) {
        if (!validate_batch(b, p, req, max_message, records + off, len - off, &total, kf, res))
            goto out_refused;
        off += total;
    }
    if (!recompress_all(b, t, records, len, max_message, &rebuilt, res))
        goto out_refused;
    if (rebuilt.len > 0) {
        records = rebuilt.data;
        len = rebuilt.len;
        kf = NULL; /* other batches: the append path parses them */
    }

    pthread_mutex_lock(&p->append_mu);
    int64_t now = atomic_load(&t->log_append_time) ? clock_wall_ms() : -1;
    bool appended = false;
    for (off = 0; off < len; off += total) {
        total = (size_t)be32_read(records + off + BATCH_LENGTH) + BATCH_LOG_OVERHEAD;
        if (!append_batch(b, p, req, pp, kf, records + off, total, now, off == 0))
            break;
        appended = true;
    }
    pthread_mutex_unlock(&p->append_mu);
    res->log_start_offset = answer_log_start(p, res);
    if (res->error_code == KAFKA_NONE && res->log_append_time < 0)
        res->log_append_time = now;
    buf_deinit(&rebuilt);
    broker_keys_found_deinit(&found);
    if (appended)
        broker_watches_notify(p);
    return;

out_refused:
    res->log_start_offset = answer_log_start(p, res);
    buf_deinit(&rebuilt);
    broker_keys_found_deinit(&found);
}

/* ---- acks=-1 ------------------------------------------------------------------------------------
 */

typedef struct {
    broker_t *b;
    net_loop_t *loop;          /* the request's; immutable, read by the flusher thread */
    broker_produce_req_t *req; /* NULL once answered: the caller may free it then */
    int outstanding;           /* durable callbacks not yet back (loop thread only) */
    net_timer_t timer;
} produce_wait_t;

typedef struct {
    produce_wait_t *pw;
    broker_produce_part_t *pp;
    int err;
} durable_msg_t;

static void wait_answer(produce_wait_t *pw)
{
    broker_produce_req_t *req = pw->req;
    pw->req = NULL;
    net_timer_stop(pw->loop, &pw->timer);
    broker_parked_dec(pw->b);
    req->done(req->arg);
}

static void wait_maybe_free(produce_wait_t *pw)
{
    if (!pw->req && pw->outstanding == 0)
        free(pw);
}

static bool all_durable(const broker_produce_req_t *req)
{
    for (int32_t i = 0; i < req->ntopics; i++)
        for (int32_t j = 0; j < req->topics[i].nparts; j++)
            if (req->topics[i].parts[j].durable_pending)
                return false;
    return true;
}

static void durable_on_loop(void *arg)
{
    durable_msg_t *m = arg;
    produce_wait_t *pw = m->pw;
    if (pw->req && m->pp->durable_pending) {
        m->pp->durable_pending = false;
        if (m->err < 0)
            m->pp->res.error_code = KAFKA_KAFKA_STORAGE_ERROR;
    }
    free(m);
    pw->outstanding--;
    if (pw->req && all_durable(pw->req))
        wait_answer(pw);
    wait_maybe_free(pw);
}

/* Flusher thread (or this loop, at once): hand over to the loop. */
static void durable_cb(void *arg, int err)
{
    durable_msg_t *m = arg;
    m->err = err;
    net_loop_post(m->pw->loop, durable_on_loop, m);
}

static void wait_timeout(void *arg)
{
    produce_wait_t *pw = arg;
    broker_produce_req_t *req = pw->req;
    if (!req)
        return;
    for (int32_t i = 0; i < req->ntopics; i++)
        for (int32_t j = 0; j < req->topics[i].nparts; j++) {
            broker_produce_part_t *pp = &req->topics[i].parts[j];
            if (pp->durable_pending) {
                pp->durable_pending = false;
                pp->res.error_code = KAFKA_REQUEST_TIMED_OUT;
            }
        }
    wait_answer(pw);
    wait_maybe_free(pw);
}

/* Registers a durability callback for every appended partition (registry read lock held: the
 * logs stay valid while callbacks are registered). False when there is nothing to wait for. */
static bool wait_durable(broker_t *b, broker_produce_req_t *req)
{
    produce_wait_t *pw = weir_calloc(1, sizeof(*pw));
    pw->b = b;
    pw->loop = req->loop;
    pw->req = req;
    net_timer_init(&pw->timer, wait_timeout, pw);
    pw->outstanding = 1; /* held by this function until every callback is registered */
    for (int32_t i = 0; i < req->ntopics; i++) {
        broker_produce_topic_t *t = &req->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            broker_produce_part_t *pp = &t->parts[j];
            if (pp->res.error_code || pp->end_offset < 0)
                continue;
            broker_partition_t *p = broker_partition_find(b, t->name, t->name_len, pp->index);
            if (!p || !p->log)
                continue;
            pp->durable_pending = true;
            pw->outstanding++;
            durable_msg_t *m = weir_calloc(1, sizeof(*m));
            m->pw = pw;
            m->pp = pp;
            storage_log_on_durable(p->log, pp->end_offset, durable_cb, m);
        }
    }
    pw->outstanding--;
    if (pw->outstanding == 0) { /* nothing to wait for after all */
        free(pw);
        return false;
    }
    int32_t timeout_ms = req->timeout_ms;
#ifdef WEIR_FUZZ
    timeout_ms = WEIR_MIN(timeout_ms, 50); /* the fuzzer waits for every answer */
#endif
    broker_parked_inc(b);
    /* Callbacks (even immediate ones) arrive through the loop, after this returns. */
    net_timer_start(pw->loop, &pw->timer, timeout_ms > 0 ? timeout_ms : 0);
    return true;
}

/* ---- the request --------------------------------------------------------------------------------
 */

bool broker_produce(broker_t *b, broker_produce_req_t *req)
{
    bool acks_ok = req->acks == -1 || req->acks == 0 || req->acks == 1;
    /* Kafka 4 keeps Produce v0-2 in ApiVersions for librdkafka's sake but refuses them. */
    int16_t refuse = req->api_version < 3 ? KAFKA_UNSUPPORTED_VERSION
                     : !acks_ok           ? KAFKA_INVALID_REQUIRED_ACKS
                                          : KAFKA_NONE;
    bool any_appended = false;
    broker_topics_rdlock(b);
    for (int32_t i = 0; i < req->ntopics; i++) {
        broker_produce_topic_t *t = &req->topics[i];
        for (int32_t j = 0; j < t->nparts; j++) {
            broker_produce_part_t *pp = &t->parts[j];
            pp->res = (broker_produce_result_t){.error_code = KAFKA_NONE,
                                                .base_offset = -1,
                                                .log_append_time = -1,
                                                .log_start_offset = -1,
                                                .record_error_index = -1};
            pp->end_offset = -1;
            pp->durable_pending = false;
            int16_t why = refuse ? refuse : t->refused;
            broker_partition_t *p =
                why ? NULL : broker_partition_find(b, t->name, t->name_len, pp->index);
            if (why)
                pp->res.error_code = why;
            else if (!p)
                pp->res.error_code = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
            else
                produce_partition(b, p, req, pp);
            any_appended |= pp->end_offset >= 0;
        }
    }
    bool waiting = req->acks == -1 && any_appended && wait_durable(b, req);
    broker_topics_unlock(b);
    return !waiting;
}
