/*
 * group_req: the parked request shared by the group and offset handlers (api_group.c,
 * api_offset.c). Internal to src/kafka.
 *
 * A group request is decoded on its connection's loop into a kafka_greq_t that owns copies of
 * everything it needs (the frame is gone once the handler returns), then runs on the
 * coordinator thread (loop 0, see broker/group.h), which writes the response into g->w and
 * completes the slot: directly when the connection lives on loop 0, else through
 * net_slot_complete_async. Every greq is finished (or discarded before parking) exactly once.
 */
#ifndef WEIR_KAFKA_GROUP_REQ_H
#define WEIR_KAFKA_GROUP_REQ_H

#include "kafka/kafka.h"

#include "broker/broker.h"
#include "broker/group.h"

typedef struct kafka_greq kafka_greq_t;
/* Runs on the coordinator thread; c is NULL when the coordinator is not available. */
typedef void (*kafka_greq_run_fn)(kafka_greq_t *g, broker_coord_t *c);

struct kafka_greq {
    broker_group_op_t gw; /* first: the coordinator completes through it */
    broker_t *b;
    net_slot_t *slot;
    buf_t resp;
    wire_writer_t w;
    int16_t version;
    bool bad; /* a string held a NUL: the request is refused */
    kafka_greq_run_fn run;
    void **owned; /* copies freed with the request */
    size_t nowned, capowned;
};

/* Allocates a zeroed request of `size` bytes (a struct whose first member is kafka_greq_t). */
void *kafka_greq_new(kafka_req_t *req, size_t size, kafka_greq_run_fn run);
/* Owned copies: a C string (NULL for a null string), bytes (never NULL), zeroed memory. */
char *kafka_greq_str(kafka_greq_t *g, wire_str_t s);
uint8_t *kafka_greq_bytes(kafka_greq_t *g, wire_bytes_t b);
void *kafka_greq_alloc(kafka_greq_t *g, size_t n);
/* Hands the decoded request to the coordinator: takes req's response buffer and slot. Returns
 * KAFKA_PARKED, or a negative code (the request is discarded) if decoding failed. */
int kafka_greq_park(kafka_req_t *req, kafka_greq_t *g);
/* Sends g->resp (written through g->w) and frees g. Coordinator thread. */
void kafka_greq_finish(kafka_greq_t *g);

#endif
