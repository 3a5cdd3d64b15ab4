/*
 * txn_records.c: the records of __transaction_state, in Kafka's layouts (see txn.h).
 *
 * Key (classic encoding): version i16 = 0, transactional_id string.
 * Value, version i16 first:
 *   v0: producer_id i64, producer_epoch i16, timeout_ms i32, status i8,
 *       partitions nullable array of [topic string, partition_ids array of i32],
 *       last_update_ms i64, start_ms i64
 *   v1: the same fields in the compact (flexible) encoding, then a tagged-field section
 *       (PreviousProducerId, NextProducerId, ClientTransactionVersion: not used here).
 * Kafka writes v0 without transaction.version 2, and so does Weir; both are read. A null value
 * is a tombstone (an expired transactional id). Decoding checks every count against the
 * bytes present before allocating (wire_read_array), and a record that fails changes nothing.
 */
#include "broker/txn.h"

#include <stdlib.h>

enum { MAX_TXN_PARTS = 1000000 };

void broker_txn_key_encode(buf_t *out, const char *transactional_id)
{
    wire_writer_t w;
    wire_writer_init(&w, out, false);
    wire_write_i16(&w, 0);
    wire_write_cstr(&w, transactional_id);
}

char *broker_txn_key_decode(const uint8_t *p, size_t len)
{
    wire_reader_t r;
    wire_reader_init(&r, p, len, false);
    int16_t version = wire_read_i16(&r);
    wire_str_t id = wire_read_str(&r);
    if (!wire_reader_ok(&r) || version != 0 || wire_reader_left(&r) != 0 || wire_str_has_nul(id))
        return NULL;
    return wire_str_dup(id);
}

/* Topics in the order of their first partition; a topic's partitions in the order given. */
void broker_txn_value_encode(buf_t *out, const broker_txn_value_t *v)
{
    wire_writer_t w;
    wire_writer_init(&w, out, false);
    wire_write_i16(&w, 0);
    wire_write_i64(&w, v->producer_id);
    wire_write_i16(&w, v->epoch);
    wire_write_i32(&w, v->timeout_ms);
    wire_write_i8(&w, (int8_t)v->state);
    if (v->state == TXN_EMPTY) {
        wire_write_array_len(&w, -1);
    } else {
        bool *done = weir_calloc(v->nparts ? v->nparts : 1, sizeof(*done));
        size_t ntopics = 0;
        for (size_t i = 0; i < v->nparts; i++) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = strcmp(v->parts[j].topic, v->parts[i].topic) == 0;
            ntopics += !seen;
        }
        wire_write_array_len(&w, (int32_t)ntopics);
        for (size_t i = 0; i < v->nparts; i++) {
            if (done[i])
                continue;
            size_t n = 0;
            for (size_t j = i; j < v->nparts; j++)
                n += strcmp(v->parts[j].topic, v->parts[i].topic) == 0;
            wire_write_cstr(&w, v->parts[i].topic);
            wire_write_array_len(&w, (int32_t)n);
            for (size_t j = i; j < v->nparts; j++) {
                if (!done[j] && strcmp(v->parts[j].topic, v->parts[i].topic) == 0) {
                    wire_write_i32(&w, v->parts[j].partition);
                    done[j] = true;
                }
            }
        }
        free(done);
    }
    wire_write_i64(&w, v->update_ms);
    wire_write_i64(&w, v->start_ms);
}

void broker_txn_value_free(broker_txn_value_t *v)
{
    for (size_t i = 0; i < v->nparts; i++)
        free(v->parts[i].topic);
    free(v->parts);
    v->parts = NULL;
    v->nparts = 0;
}

int broker_txn_value_decode(const uint8_t *p, size_t len, broker_txn_value_t *v)
{
    memset(v, 0, sizeof(*v));
    wire_reader_t r;
    wire_reader_init(&r, p, len, false);
    int16_t version = wire_read_i16(&r);
    if (!wire_reader_ok(&r) || version < 0 || version > 1)
        return -WEIR_ECORRUPT;
    r.flexible = version >= 1;
    v->producer_id = wire_read_i64(&r);
    v->epoch = wire_read_i16(&r);
    v->timeout_ms = wire_read_i32(&r);
    int8_t status = wire_read_i8(&r);
    int32_t nt = wire_read_array(&r, 2 + 4, MAX_TXN_PARTS);
    size_t cap = 0;
    for (int32_t i = 0; i < nt && wire_reader_ok(&r); i++) {
        wire_str_t topic = wire_read_str(&r);
        int32_t np = wire_read_array(&r, 4, MAX_TXN_PARTS);
        if (!wire_reader_ok(&r) || wire_str_has_nul(topic) ||
            v->nparts + (size_t)(np > 0 ? np : 0) > MAX_TXN_PARTS) {
            wire_reader_fail(&r);
            break;
        }
        for (int32_t j = 0; j < np && wire_reader_ok(&r); j++) {
            int32_t part = wire_read_i32(&r);
            if (v->nparts == cap) {
                cap = cap ? cap * 2 : 4;
                v->parts = weir_realloc(v->parts, cap * sizeof(*v->parts));
            }
            v->parts[v->nparts++] = (broker_txn_tp_t){wire_str_dup(topic), part};
        }
        wire_read_tags(&r);
    }
    v->update_ms = wire_read_i64(&r);
    v->start_ms = wire_read_i64(&r);
    wire_read_tags(&r);
    v->state = (broker_txn_state_t)status;
    if (!wire_reader_ok(&r) || status < TXN_EMPTY || status > TXN_PREPARE_EPOCH_FENCE ||
        v->producer_id < 0) {
        broker_txn_value_free(v);
        return -WEIR_ECORRUPT;
    }
    return 0;
}

static const char *const state_names[] = {"Empty",        "Ongoing",          "PrepareCommit",
                                          "PrepareAbort", "CompleteCommit",   "CompleteAbort",
                                          "Dead",         "PrepareEpochFence"};

const char *broker_txn_state_name(broker_txn_state_t s)
{
    return (unsigned)s < WEIR_ARRAY_LEN(state_names) ? state_names[s] : "Unknown";
}

int broker_txn_state_parse(const char *name)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(state_names); i++)
        if (strcmp(state_names[i], name) == 0)
            return (int)i;
    return -1;
}
