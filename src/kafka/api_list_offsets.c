/*
 * ListOffsets (key 2), versions 1-10 (flexible from 6): -1 latest (the high watermark; for
 * read_committed the last stable offset), -2 earliest (the log start offset), -3 (v7+,
 * KIP-734) the record with the largest timestamp, -4 (v8+) the local log start (the log start:
 * Weir has no tiered storage), -5 (v9+) the latest tiered offset (-1: none), otherwise the
 * first record whose timestamp is >= the timestamp, through the time index (offset -1,
 * timestamp -1 when there is none; for read_committed also when it is at or past the LSO).
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

#define MAX_TOPICS     100000
#define MAX_PARTITIONS 1000000

typedef struct {
    int16_t err;
    int64_t offset, timestamp;
} lo_result_t;

static lo_result_t lookup(broker_t *b, int16_t v, wire_str_t topic, int32_t partition, int64_t ts,
                          int8_t isolation)
{
    lo_result_t res = {KAFKA_NONE, -1, -1};
    broker_watermarks_t wm;
    int rc = broker_partition_watermarks(b, topic.s, (size_t)topic.len, partition, &wm);
    if (rc < 0) {
        res.err = kafka_err_from(rc);
    } else if (ts == -1) {
        res.offset = isolation == 1 ? wm.last_stable_offset : wm.high_watermark;
    } else if (ts == -2 || (ts == -4 && v >= 8)) { /* -4: the local log start (KIP-405) */
        res.offset = wm.log_start_offset;
    } else if (ts == -5 && v >= 9) { /* the latest tiered offset (KIP-1005): no tiered storage */
        res.offset = -1;
    } else if (ts < 0 && !(ts == BROKER_TS_MAX && v >= 7)) {
        res.err = KAFKA_INVALID_REQUEST; /* -3 (max timestamp) needs v7 */
    } else {
        int64_t off, t;
        rc = broker_offset_for_time(b, topic.s, (size_t)topic.len, partition, ts, &off, &t);
        if (rc == 0 && isolation == 1 && off >= wm.last_stable_offset) {
            /* read_committed: an undecided record is not an answer yet (Kafka's filter) */
        } else if (rc == 0) {
            res.offset = off;
            res.timestamp = t;
        } else if (rc != -WEIR_ERANGE) {
            res.err = kafka_err_from(rc);
        }
    }
    return res;
}

int kafka_handle_list_offsets(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    wire_writer_t *w = &req->w;
    broker_t *b = req->b;
    int16_t v = req->hdr.api_version;
    (void)wire_read_i32(r); /* replica_id */
    int8_t isolation = v >= 2 ? wire_read_i8(r) : 0;
    int32_t n = wire_read_array(r, r->flexible ? 2 : 6, MAX_TOPICS);
    if (n < 0 || !wire_reader_ok(r))
        return -WEIR_EINVAL;
    /* The response is written as the request is read; on a decode error it is dropped and the
     * connection closed, and nothing was changed. */
    if (v >= 2)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_array_len(w, n);
    size_t min_part = 4 + 8 + (v >= 4 ? 4 : 0);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        wire_str_t name = wire_read_str(r);
        int32_t np = wire_read_array(r, min_part, MAX_PARTITIONS);
        if (np < 0)
            break;
        wire_write_view(w, name);
        wire_write_array_len(w, np);
        /* Kafka's check (authz.c): DESCRIBE on the topic. */
        bool denied = !kafka_authz_str(req, KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_OP_DESCRIBE);
        for (int32_t j = 0; j < np && wire_reader_ok(r); j++) {
            int32_t idx = wire_read_i32(r);
            if (v >= 4)
                (void)wire_read_i32(r); /* current_leader_epoch */
            int64_t ts = wire_read_i64(r);
            wire_read_tags(r);
            if (!wire_reader_ok(r))
                break;
            lo_result_t res = {KAFKA_TOPIC_AUTHORIZATION_FAILED, -1, -1};
            if (!denied)
                res = lookup(b, v, name, idx, ts, isolation);
            wire_write_i32(w, idx);
            wire_write_i16(w, res.err);
            wire_write_i64(w, res.timestamp);
            wire_write_i64(w, res.offset);
            if (v >= 4)
                wire_write_i32(w, res.err == KAFKA_NONE && res.offset >= 0 ? 0 : -1); /* epoch */
            wire_write_tags(w);
        }
        wire_read_tags(r);
        wire_write_tags(w);
    }
    if (v >= 10)
        (void)wire_read_i32(r); /* timeout_ms: for remote storage lookups, which Weir has none of */
    wire_read_tags(r);
    wire_write_tags(w);
    return wire_reader_ok(r) ? KAFKA_RESPOND : -WEIR_EINVAL;
}
