/*
 * InitProducerId (key 22), versions 0-1: a producer id and epoch for an idempotent producer.
 *
 * Without a transactional id every call gets a fresh id with epoch 0: ids come from blocks
 * made durable before use (producer_state.c), so they never repeat across restarts and a
 * restarted producer can never be mistaken for an old one. With a transactional id the id is
 * kept and the epoch goes up, fencing the previous incarnation; it is stored for the
 * transactions work, which is not advertised yet. Answered at once on the request's loop
 * (broker_producer_ids_t has its own lock; a new block costs one fsync per 1000 ids).
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

int kafka_handle_init_producer_id(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    wire_str_t tid = wire_read_nstr(r);
    int32_t timeout_ms = wire_read_i32(r);
    if (!wire_reader_ok(r))
        return -WEIR_EINVAL;
    int64_t pid = -1;
    int16_t epoch = -1;
    broker_err_t err = {KAFKA_NONE, ""};
    if (tid.len >= 0 && memchr(tid.s, 0, (size_t)tid.len)) {
        err.code = KAFKA_INVALID_REQUEST;
    } else {
        char *t = wire_str_dup(tid); /* NULL for a null (or absent) transactional id */
        broker_init_producer_id(req->b, t && *t ? t : NULL, timeout_ms, &pid, &epoch, &err);
        free(t);
    }
    wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_i16(w, err.code);
    wire_write_i64(w, pid);
    wire_write_i16(w, epoch);
    return KAFKA_RESPOND;
}
