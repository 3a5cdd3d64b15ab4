/*
 * park.c: the parked request, the one mechanism by which a handler answers later (see
 * kafka.h), and the mapping of the broker's bare WEIR_ codes to Kafka ErrorCodes.
 *
 * A parked request owns copies of everything it decoded (the frame is gone once the handler
 * returns), its response buffer and its slot. It is finished exactly once: the completion
 * writes the response and calls kafka_park_finish, which completes the slot on the
 * connection's loop directly, or through net_slot_complete_async from any other thread (the
 * group coordinator's, say).
 */
#include "kafka/kafka.h"

#include "broker/broker.h"

#include <stdlib.h>

void *kafka_park_new(kafka_req_t *req, size_t size)
{
    WEIR_ASSERT(size >= sizeof(kafka_park_t));
    kafka_park_t *pk = weir_calloc(1, size);
    pk->b = req->b;
    pk->version = req->hdr.api_version;
    pk->flexible = req->flexible;
    pk->loop = net_conn_loop(req->conn);
    pk->stats = req->lst ? req->lst->stats : NULL;
    pk->api_row = req->api_row;
    pk->start_ns = req->start_ns;
    return pk;
}

void kafka_park_count_error(const kafka_park_t *pk, int16_t code)
{
    kafka_stats_count_error(pk->stats, pk->api_row, code);
}

static void *park_own(kafka_park_t *pk, void *p)
{
    if (pk->nowned == pk->capowned) {
        pk->capowned = pk->capowned ? pk->capowned * 2 : 16;
        pk->owned = weir_realloc(pk->owned, pk->capowned * sizeof(*pk->owned));
    }
    pk->owned[pk->nowned++] = p;
    return p;
}

void *kafka_park_alloc(kafka_park_t *pk, size_t n)
{
    return park_own(pk, weir_calloc(1, n ? n : 1));
}

char *kafka_park_str(kafka_park_t *pk, wire_str_t s)
{
    if (s.len < 0)
        return NULL;
    if (memchr(s.s, 0, (size_t)s.len))
        pk->bad = true; /* ids become C strings: two wire ids must never map to one */
    return park_own(pk, wire_str_dup(s));
}

uint8_t *kafka_park_bytes(kafka_park_t *pk, wire_bytes_t b)
{
    size_t n = b.len > 0 ? (size_t)b.len : 0;
    uint8_t *p = park_own(pk, weir_malloc(n ? n : 1));
    if (n)
        memcpy(p, b.p, n);
    return p;
}

void kafka_park_free(kafka_park_t *pk)
{
    for (size_t i = 0; i < pk->nowned; i++)
        free(pk->owned[i]);
    free(pk->owned);
    buf_deinit(&pk->resp);
    free(pk);
}

int kafka_park_take(kafka_req_t *req, kafka_park_t *pk)
{
    if (!wire_reader_ok(&req->r) || pk->bad) {
        kafka_park_free(pk);
        return -WEIR_EINVAL;
    }
    pk->resp = req->resp; /* the response so far: size placeholder + header */
    buf_init(&req->resp);
    wire_writer_init(&pk->w, &pk->resp, req->flexible);
    pk->slot = req->slot;
    if (pk->stats) {
        metric_gauge_add(&pk->stats->parked, 1);
        pk->taken = true;
    }
    return KAFKA_PARKED;
}

void kafka_park_finish(kafka_park_t *pk)
{
    if (pk->stats && pk->taken) {
        metric_hist_observe(&pk->stats->latency[pk->api_row],
                            (uint64_t)(clock_mono_ns() - pk->start_ns));
        metric_gauge_add(&pk->stats->parked, -1);
    }
    kafka_resp_finish(pk->slot, &pk->resp);
    if (net_loop_is_current(pk->loop))
        net_slot_complete(pk->slot, &pk->resp);
    else
        net_slot_complete_async(pk->slot, &pk->resp);
    kafka_park_free(pk);
}

int16_t kafka_err_from(int rc)
{
    switch (-rc) {
    case WEIR_OK:
        return KAFKA_NONE;
    case WEIR_ENOENT:
        return KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
    case WEIR_ERANGE:
        return KAFKA_OFFSET_OUT_OF_RANGE;
    case WEIR_EIO:
    case WEIR_EOFFLINE:
    case WEIR_ECORRUPT:
        return KAFKA_KAFKA_STORAGE_ERROR;
    case WEIR_EINVAL:
        return KAFKA_INVALID_REQUEST;
    case WEIR_ECLOSED:
        return KAFKA_COORDINATOR_NOT_AVAILABLE;
    case WEIR_ETIMEDOUT:
        return KAFKA_REQUEST_TIMED_OUT;
    case WEIR_EUNSUPPORTED:
        return KAFKA_UNSUPPORTED_VERSION;
    default:
        return KAFKA_UNKNOWN_SERVER_ERROR;
    }
}
