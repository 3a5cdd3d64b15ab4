/*
 * Produce (key 0), versions 0-8. Versions 0-2 carry message sets of magic 0/1, which Weir does
 * not store: their partitions get UNSUPPORTED_FOR_MESSAGE_FORMAT. They are advertised anyway
 * because librdkafka up to 2.11 enables gzip, snappy and lz4 only for a broker whose Produce
 * range includes v0 (rd_kafka_msgset_writer_select_MsgVersion); real clients then send v3+.
 * Decodes the whole request first (so a malformed request
 * appends nothing), appends partition by partition through broker_produce_partition, then
 * answers by acks:
 *   acks=0   no response at all (and the connection is closed if any partition failed, as
 *            Kafka does, so the client notices);
 *   acks=1   the response right after the appends (page cache);
 *   acks=-1  the request parks until the flusher has made every appended partition durable
 *            up to its new end offset (storage_log_on_durable), or timeout_ms passes
 *            (REQUEST_TIMED_OUT for the partitions not yet durable).
 * acks outside {-1, 0, 1}: INVALID_REQUIRED_ACKS for every partition.
 *
 * Threads: everything runs on the connection's loop thread. Durable callbacks fire on the
 * flusher thread (or at once, on this thread) and only post to the loop, so a parked
 * request's state is touched by one thread only. It is freed once it has answered and every
 * registered callback has come back.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

#define MAX_TOPICS     100000
#define MAX_PARTITIONS 1000000

typedef struct produce_wait produce_wait_t;

typedef struct {
    int32_t index;
    wire_bytes_t records;
    broker_produce_result_t res;
    /* acks=-1 */
    produce_wait_t *wait;
    bool durable_pending;
} pp_part_t;

typedef struct {
    wire_str_t name; /* into the frame, or into produce_wait_t.names once parked */
    int32_t nparts;
    pp_part_t *parts;
} pp_topic_t;

struct produce_wait {
    broker_t *b;
    net_slot_t *slot;
    net_loop_t *loop;
    buf_t resp;
    int16_t version;
    bool flexible;
    int32_t ntopics;
    pp_topic_t *topics;
    char *names;     /* the topic names, copied out of the frame */
    int outstanding; /* durable callbacks not yet back (loop thread only) */
    bool answered;
    net_timer_t timer;
};

static void topics_free(pp_topic_t *topics, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        free(topics[i].parts);
    free(topics);
}

static int decode(wire_reader_t *r, int32_t *ntopics, pp_topic_t **out)
{
    int32_t n = wire_read_array(r, r->flexible ? 2 : 6, MAX_TOPICS);
    if (n < 0)
        return -WEIR_EINVAL;
    pp_topic_t *topics = weir_calloc((size_t)n + 1, sizeof(*topics));
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        topics[i].name = wire_read_str(r);
        int32_t np = wire_read_array(r, r->flexible ? 5 : 8, MAX_PARTITIONS);
        if (np < 0)
            break;
        topics[i].nparts = np;
        topics[i].parts = weir_calloc((size_t)np + 1, sizeof(pp_part_t));
        for (int32_t j = 0; j < np; j++) {
            topics[i].parts[j].index = wire_read_i32(r);
            topics[i].parts[j].records = wire_read_nbytes(r);
            wire_read_tags(r);
        }
        wire_read_tags(r);
    }
    wire_read_tags(r);
    *ntopics = n;
    *out = topics;
    if (!wire_reader_ok(r)) {
        topics_free(topics, n);
        *out = NULL;
        return -WEIR_EINVAL;
    }
    return 0;
}

static void write_response(wire_writer_t *w, int16_t v, const pp_topic_t *topics, int32_t n)
{
    wire_write_array_len(w, n);
    for (int32_t i = 0; i < n; i++) {
        wire_write_view(w, topics[i].name);
        wire_write_array_len(w, topics[i].nparts);
        for (int32_t j = 0; j < topics[i].nparts; j++) {
            const pp_part_t *pp = &topics[i].parts[j];
            wire_write_i32(w, pp->index);
            wire_write_i16(w, pp->res.error_code);
            wire_write_i64(w, pp->res.base_offset);
            if (v >= 2)
                wire_write_i64(w, pp->res.log_append_time);
            if (v >= 5)
                wire_write_i64(w, pp->res.log_start_offset);
            if (v >= 8) {
                wire_write_array_len(w, 0); /* record_errors */
                wire_write_cstr(w, pp->res.error_code ? pp->res.error_message : NULL);
            }
            wire_write_tags(w);
        }
        wire_write_tags(w);
    }
    if (v >= 1)
        wire_write_i32(w, 0); /* throttle_time_ms */
    wire_write_tags(w);
}

/* ---- acks=-1 ------------------------------------------------------------------------------------
 */

static void wait_maybe_free(produce_wait_t *pw)
{
    if (!pw->answered || pw->outstanding > 0)
        return;
    net_timer_stop(pw->loop, &pw->timer);
    topics_free(pw->topics, pw->ntopics);
    free(pw->names);
    buf_deinit(&pw->resp);
    broker_parked_dec(pw->b);
    free(pw);
}

static void wait_answer(produce_wait_t *pw)
{
    wire_writer_t w;
    wire_writer_init(&w, &pw->resp, pw->flexible);
    write_response(&w, pw->version, pw->topics, pw->ntopics);
    kafka_parked_complete(pw->slot, &pw->resp, false);
    pw->answered = true;
    net_timer_stop(pw->loop, &pw->timer);
}

typedef struct {
    pp_part_t *pp;
    int err;
} durable_msg_t;

static void durable_on_loop(void *arg)
{
    durable_msg_t *m = arg;
    pp_part_t *pp = m->pp;
    produce_wait_t *pw = pp->wait;
    if (pp->durable_pending && !pw->answered) {
        pp->durable_pending = false;
        if (m->err < 0)
            pp->res.error_code = KAFKA_KAFKA_STORAGE_ERROR;
    }
    free(m);
    pw->outstanding--;
    if (!pw->answered) {
        bool all = true;
        for (int32_t i = 0; i < pw->ntopics && all; i++)
            for (int32_t j = 0; j < pw->topics[i].nparts && all; j++)
                all = !pw->topics[i].parts[j].durable_pending;
        if (all)
            wait_answer(pw);
    }
    wait_maybe_free(pw);
}

/* Flusher thread (or this loop, at once): hand over to the loop. */
static void durable_cb(void *arg, int err)
{
    pp_part_t *pp = arg;
    durable_msg_t *m = weir_malloc(sizeof(*m));
    m->pp = pp;
    m->err = err;
    net_loop_post(pp->wait->loop, durable_on_loop, m);
}

static void wait_timeout(void *arg)
{
    produce_wait_t *pw = arg;
    if (pw->answered)
        return;
    for (int32_t i = 0; i < pw->ntopics; i++)
        for (int32_t j = 0; j < pw->topics[i].nparts; j++) {
            pp_part_t *pp = &pw->topics[i].parts[j];
            if (pp->durable_pending) {
                pp->durable_pending = false;
                pp->res.error_code = KAFKA_REQUEST_TIMED_OUT;
            }
        }
    wait_answer(pw);
    wait_maybe_free(pw);
}

/* Parks the request until every appended partition is durable. Registry read lock held (the
 * logs stay valid while callbacks are registered). */
static int park(kafka_req_t *req, pp_topic_t *topics, int32_t n, int32_t timeout_ms)
{
    produce_wait_t *pw = weir_calloc(1, sizeof(*pw));
    pw->b = req->b;
    pw->slot = req->slot;
    pw->loop = net_conn_loop(req->conn);
    pw->version = req->hdr.api_version;
    pw->flexible = req->flexible;
    pw->ntopics = n;
    pw->topics = topics;
    kafka_req_take_resp(req, &pw->resp);
    size_t total = 0;
    for (int32_t i = 0; i < n; i++)
        total += (size_t)topics[i].name.len + 1;
    pw->names = weir_malloc(total + 1);
    char *np = pw->names;
    for (int32_t i = 0; i < n; i++) { /* the frame goes away when the handler returns */
        memcpy(np, topics[i].name.s, (size_t)topics[i].name.len);
        topics[i].name.s = np;
        np += topics[i].name.len + 1;
    }
    net_timer_init(&pw->timer, wait_timeout, pw);
    broker_parked_inc(req->b);
    pw->outstanding = 1; /* held by this function until every callback is registered */
    for (int32_t i = 0; i < n; i++) {
        for (int32_t j = 0; j < topics[i].nparts; j++) {
            pp_part_t *pp = &topics[i].parts[j];
            pp->records = (wire_bytes_t){NULL, 0};
            if (pp->res.error_code || pp->res.end_offset < 0)
                continue;
            broker_partition_t *p = broker_partition_find(req->b, topics[i].name.s,
                                                          (size_t)topics[i].name.len, pp->index);
            if (!p || !p->log)
                continue;
            pp->wait = pw;
            pp->durable_pending = true;
            pw->outstanding++;
            storage_log_on_durable(p->log, pp->res.end_offset, durable_cb, pp);
        }
    }
    net_timer_start(pw->loop, &pw->timer, timeout_ms > 0 ? timeout_ms : 0);
    /* Callbacks (even immediate ones) arrive through the loop, after this returns. */
    pw->outstanding--;
    if (pw->outstanding == 0) /* nothing to wait for after all */
        wait_answer(pw);
    wait_maybe_free(pw);
    return KAFKA_PARKED;
}

/* ---- the handler --------------------------------------------------------------------------------
 */

int kafka_handle_produce(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    broker_t *b = req->b;
    wire_str_t txn_id = {NULL, -1};
    if (req->hdr.api_version >= 3)
        txn_id = wire_read_nstr(r);
    int16_t acks = wire_read_i16(r);
    int32_t timeout_ms = wire_read_i32(r);
    int32_t n;
    pp_topic_t *topics;
    if (!wire_reader_ok(r) || decode(r, &n, &topics) < 0)
        return -WEIR_EINVAL;

    broker_produce_ctx_t ctx = {
        .transactional_id = txn_id.len >= 0 ? txn_id.s : NULL,
        .transactional_id_len = txn_id.len >= 0 ? (size_t)txn_id.len : 0,
        .api_version = req->hdr.api_version,
        .acks = acks,
    };
    bool any_error = false, any_appended = false;
    bool acks_ok = acks == -1 || acks == 0 || acks == 1;
    broker_topics_rdlock(b);
    for (int32_t i = 0; i < n; i++) {
        for (int32_t j = 0; j < topics[i].nparts; j++) {
            pp_part_t *pp = &topics[i].parts[j];
            broker_produce_result_t *res = &pp->res;
            broker_partition_t *p =
                acks_ok ? broker_partition_find(b, topics[i].name.s, (size_t)topics[i].name.len,
                                                pp->index)
                        : NULL;
            if (!acks_ok || !p) {
                *res = (broker_produce_result_t){.error_code =
                                                     acks_ok ? KAFKA_UNKNOWN_TOPIC_OR_PARTITION
                                                             : KAFKA_INVALID_REQUIRED_ACKS,
                                                 .base_offset = -1,
                                                 .end_offset = -1,
                                                 .log_append_time = -1,
                                                 .log_start_offset = -1};
            } else {
                broker_produce_partition(b, p, &ctx, (uint8_t *)pp->records.p,
                                         pp->records.len > 0 ? (size_t)pp->records.len : 0, res);
            }
            any_error |= res->error_code != KAFKA_NONE;
            any_appended |= res->end_offset >= 0;
        }
    }
    int rc;
#ifdef WEIR_FUZZ
    timeout_ms = WEIR_MIN(timeout_ms, 50); /* the fuzzer waits for every answer */
#endif
    if (acks == -1 && any_appended) {
        rc = park(req, topics, n, timeout_ms);
        broker_topics_unlock(b);
        return rc;
    }
    broker_topics_unlock(b);
    if (acks == 0) {
        topics_free(topics, n);
        if (any_error) {
            log_debug("kafka", "acks=0 produce failed: closing %s", net_conn_peer(req->conn));
            net_conn_close(req->conn);
        }
        return KAFKA_NO_RESPONSE;
    }
    write_response(&req->w, req->hdr.api_version, topics, n);
    topics_free(topics, n);
    return KAFKA_RESPOND;
}
