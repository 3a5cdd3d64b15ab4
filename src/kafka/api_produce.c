/*
 * Produce (key 0), versions 0-11 (flexible from 9; 10 and 11 only add tagged fields Weir leaves
 * empty). Versions 0-2 are advertised, as Kafka 4 does, because librdkafka up to 2.11 enables
 * gzip, snappy and lz4 only for a broker whose Produce range includes v0
 * (rd_kafka_msgset_writer_select_MsgVersion), but a request at v0-2 is refused as Kafka 4
 * refuses it: the connection is closed and nothing is appended.
 *
 * Decodes the whole request first (so a malformed request appends nothing), then hands it to
 * broker_produce, which validates, appends and, for acks=-1, waits until every appended
 * partition is durable. Answers by acks:
 *   acks=0   no response at all (and the connection is closed if any partition failed, as
 *            Kafka does, so the client notices);
 *   acks=1   the response right after the appends (page cache);
 *   acks=-1  the request parks until the broker calls back (durable, or timeout_ms passed:
 *            REQUEST_TIMED_OUT for the partitions not yet durable).
 * acks outside {-1, 0, 1}: INVALID_REQUIRED_ACKS for every partition.
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

#define MAX_TOPICS     100000
#define MAX_PARTITIONS 1000000

typedef struct {
    kafka_park_t pk; /* first: parked for acks=-1 */
    broker_produce_req_t req;
    char *names;         /* acks=-1: the topic names, copied out of the frame */
    int32_t throttle_ms; /* producer_byte_rate's, KIP-219 */
} produce_t;

static void produce_free(produce_t *pr)
{
    for (int32_t i = 0; pr->req.topics && i < pr->req.ntopics; i++)
        free(pr->req.topics[i].parts);
    free(pr->req.topics);
    free(pr->names);
    kafka_park_free(&pr->pk);
}

static int decode(wire_reader_t *r, broker_produce_req_t *req)
{
    int32_t n = wire_read_array(r, r->flexible ? 2 : 6, MAX_TOPICS);
    if (n < 0)
        return -WEIR_EINVAL;
    req->topics = weir_calloc((size_t)n + 1, sizeof(*req->topics));
    req->ntopics = n;
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        broker_produce_topic_t *t = &req->topics[i];
        wire_str_t name = wire_read_str(r);
        t->name = name.s;
        t->name_len = name.len > 0 ? (size_t)name.len : 0;
        int32_t np = wire_read_array(r, r->flexible ? 5 : 8, MAX_PARTITIONS);
        if (np < 0)
            break;
        t->nparts = np;
        t->parts = weir_calloc((size_t)np + 1, sizeof(*t->parts));
        for (int32_t j = 0; j < np; j++) {
            t->parts[j].index = wire_read_i32(r);
            wire_bytes_t rec = wire_read_nbytes(r);
            t->parts[j].records = (uint8_t *)rec.p;
            t->parts[j].len = rec.len > 0 ? (size_t)rec.len : 0;
            wire_read_tags(r);
        }
        wire_read_tags(r);
    }
    wire_read_tags(r);
    return wire_reader_ok(r) ? 0 : -WEIR_EINVAL;
}

static void write_response(wire_writer_t *w, int16_t v, const broker_produce_req_t *req,
                           int32_t throttle_ms)
{
    wire_write_array_len(w, req->ntopics);
    for (int32_t i = 0; i < req->ntopics; i++) {
        const broker_produce_topic_t *t = &req->topics[i];
        wire_write_str(w, t->name, t->name_len);
        wire_write_array_len(w, t->nparts);
        for (int32_t j = 0; j < t->nparts; j++) {
            const broker_produce_part_t *pp = &t->parts[j];
            wire_write_i32(w, pp->index);
            wire_write_i16(w, pp->res.error_code);
            wire_write_i64(w, pp->res.base_offset);
            if (v >= 2)
                wire_write_i64(w, pp->res.log_append_time);
            if (v >= 5)
                wire_write_i64(w, pp->res.log_start_offset);
            if (v >= 8) {
                bool rec = pp->res.record_error_index >= 0;
                wire_write_array_len(w, rec ? 1 : 0); /* record_errors */
                if (rec) {
                    wire_write_i32(w, pp->res.record_error_index);
                    wire_write_cstr(w, pp->res.record_error_message);
                    wire_write_tags(w);
                }
                wire_write_cstr(w, pp->res.error_code ? pp->res.error_message : NULL);
            }
            wire_write_tags(w);
        }
        wire_write_tags(w);
    }
    if (v >= 1)
        wire_write_i32(w, throttle_ms);
    wire_write_tags(w);
}

/* Metrics: the ErrorCodes of the answer, one per partition that failed. */
static void count_errors(const produce_t *pr)
{
    for (int32_t i = 0; i < pr->req.ntopics; i++)
        for (int32_t j = 0; j < pr->req.topics[i].nparts; j++)
            kafka_park_count_error(&pr->pk, pr->req.topics[i].parts[j].res.error_code);
}

/* acks=-1, on the request's loop: every partition durable or timed out. */
static void produce_done(void *arg)
{
    produce_t *pr = arg;
    count_errors(pr);
    write_response(&pr->pk.w, pr->pk.version, &pr->req, pr->throttle_ms);
    broker_produce_req_t req = pr->req;
    char *names = pr->names;
    kafka_park_finish(&pr->pk); /* frees pr */
    for (int32_t i = 0; i < req.ntopics; i++)
        free(req.topics[i].parts);
    free(req.topics);
    free(names);
}

/* The frame goes away when the handler returns: a waiting request keeps its own names. */
static void copy_names(produce_t *pr)
{
    size_t total = 1;
    for (int32_t i = 0; i < pr->req.ntopics; i++)
        total += pr->req.topics[i].name_len;
    pr->names = weir_malloc(total);
    char *np = pr->names;
    for (int32_t i = 0; i < pr->req.ntopics; i++) {
        broker_produce_topic_t *t = &pr->req.topics[i];
        if (t->name_len) /* a null name (length 0) has no bytes to copy */
            memcpy(np, t->name, t->name_len);
        t->name = np;
        np += t->name_len;
    }
}

/* Kafka's checks (authz.c): WRITE on the transactional id for a transactional request (else
 * every partition answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED), WRITE on each topic. */
static void authorize(const kafka_req_t *req, broker_produce_req_t *pq)
{
    if (!broker_acl_enabled(req->b))
        return;
    bool txn_ok = !pq->transactional_id ||
                  kafka_authz(req, KAFKA_RESOURCE_TRANSACTIONAL_ID, pq->transactional_id,
                              pq->transactional_id_len, KAFKA_ACL_OP_WRITE);
    for (int32_t i = 0; i < pq->ntopics; i++) {
        broker_produce_topic_t *t = &pq->topics[i];
        if (!txn_ok)
            t->refused = KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        else if (!kafka_authz(req, KAFKA_RESOURCE_TOPIC, t->name, t->name_len, KAFKA_ACL_OP_WRITE))
            t->refused = KAFKA_TOPIC_AUTHORIZATION_FAILED;
    }
}

int kafka_handle_produce(kafka_req_t *req)
{
    wire_reader_t *r = &req->r;
    if (req->hdr.api_version < 3) {
        /* Kafka 4 keeps v0-2 in ApiVersions for librdkafka's sake (KAFKA-18659) but closes the
         * connection on them. */
        return -WEIR_EUNSUPPORTED;
    }
    produce_t *pr = kafka_park_new(req, sizeof(*pr));
    broker_produce_req_t *pq = &pr->req;
    wire_str_t txn_id = {NULL, -1};
    if (req->hdr.api_version >= 3)
        txn_id = wire_read_nstr(r);
    pq->acks = wire_read_i16(r);
    pq->timeout_ms = wire_read_i32(r);
    if (!wire_reader_ok(r) || decode(r, pq) < 0) {
        produce_free(pr);
        return -WEIR_EINVAL;
    }
    pq->api_version = req->hdr.api_version;
    char *quser, *qclient;
    if (kafka_quota_identity(req, BROKER_QUOTA_PRODUCER_BYTE_RATE, &quser, &qclient)) {
        pr->throttle_ms = kafka_quota_charge(req->b, req->conn, BROKER_QUOTA_PRODUCER_BYTE_RATE,
                                             quser, qclient, (double)req->frame_len);
        free(quser);
        free(qclient);
    }
    pq->transactional_id = txn_id.len >= 0 ? txn_id.s : NULL;
    pq->transactional_id_len = txn_id.len >= 0 ? (size_t)txn_id.len : 0;
    pq->loop = pr->pk.loop;
    pq->done = produce_done;
    pq->arg = pr;
    authorize(req, pq);
    if (pq->acks == -1)
        copy_names(pr);
    if (!broker_produce(req->b, pq)) { /* waits for durability: produce_done answers */
        int rc = kafka_park_take(req, &pr->pk);
        WEIR_ASSERT(rc == KAFKA_PARKED);
        return rc;
    }
    count_errors(pr);
    if (pq->acks == 0) {
        bool any_error = false;
        for (int32_t i = 0; i < pq->ntopics; i++)
            for (int32_t j = 0; j < pq->topics[i].nparts; j++)
                any_error |= pq->topics[i].parts[j].res.error_code != KAFKA_NONE;
        produce_free(pr);
        if (any_error) {
            log_debug("kafka", "acks=0 produce failed: closing %s", net_conn_peer(req->conn));
            net_conn_close(req->conn);
        }
        return KAFKA_NO_RESPONSE;
    }
    write_response(&req->w, req->hdr.api_version, pq, pr->throttle_ms);
    produce_free(pr);
    return KAFKA_RESPOND;
}
