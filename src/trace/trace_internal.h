/*
 * trace_internal: the span as the store keeps it, the store, and the helpers the files of
 * src/trace share (store.c, otlp.c, journey.c).
 */
#ifndef WEIR_TRACE_INTERNAL_H
#define WEIR_TRACE_INTERNAL_H

#include "trace/trace.h"

#include <pthread.h>

typedef enum { TRACE_OP_OTHER = 0, TRACE_OP_CREATE, TRACE_OP_PUBLISH, TRACE_OP_PROCESS } trace_op_t;

/* One span, strings cut to their slots (NUL-terminated). */
typedef struct {
    uint8_t trace_id[16], span_id[8], parent_id[8];
    bool has_parent;
    bool error; /* status code 2 */
    trace_op_t op;
    int64_t start_ns, end_ns; /* since the epoch */
    int32_t partition;        /* -1: none */
    int64_t offset;           /* -1: none */
    char name[96];
    char service[64];
    char topic[250];
    char group[96];
    char event_type[96];
    char event_id[64];
    char result[12];
} trace_span_t;

struct trace_store {
    pthread_mutex_t mu;
    trace_span_t *ring;
    size_t cap, head, len;
};

void trace_store_add(trace_store_t *st, const trace_span_t *s);
/* The kept spans of a trace, sorted by start time, into a new array (caller frees). */
size_t trace_store_collect(trace_store_t *st, const uint8_t trace_id[16], trace_span_t **out);

/* n bytes from exactly 2n hex digits; -WEIR_EINVAL otherwise or when all are zero. */
int trace_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);
void trace_hex_append(buf_t *b, const uint8_t *p, size_t n);
void trace_time_append(buf_t *b, int64_t unix_ns); /* a quoted RFC 3339 UTC time, ms */

#endif
