/*
 * trace: the broker's span store and an event's journey. Services (libweir apps, or anything
 * that speaks OpenTelemetry) export spans to the broker's HTTP listener as OTLP/HTTP JSON
 * (POST /v1/traces); the store keeps the most recent ones in a bounded ring; the journey of a
 * trace is every hop its event made (which service created, published or processed it, on
 * which topic, partition and offset, when and for how long, with what result), in time order.
 *
 * This module knows neither the broker nor the SDK: spans are plain data. The server owns the
 * store and hands trace_store_journey_json() and trace_store_recent_json() to the admin API,
 * which serves them with the rest of /api/v1/ (its errors, its OpenAPI document):
 *   GET  /api/v1/traces           recent traces, newest first (?limit=, default 50)
 *   GET  /api/v1/traces/<id>      the journey of one trace (32 hex digits)
 * The route this module registers itself (trace_routes):
 *   POST /v1/traces               the OTLP/HTTP receiver (JSON encoding; protobuf gets 415)
 *
 * Span attributes read (OpenTelemetry's messaging conventions, as libweir sets them):
 * messaging.destination.name, messaging.kafka.destination.partition,
 * messaging.kafka.message.offset, messaging.consumer.group.name, messaging.message.id,
 * messaging.operation, weir.event.type, weir.result; service.name from the resource.
 *
 * Threads: every function may be called from any thread; the store has its own mutex.
 */
#ifndef WEIR_TRACE_H
#define WEIR_TRACE_H

#include "base/base.h"
#include "http/http.h"

typedef struct trace_store trace_store_t;

/* A store that keeps the newest max_spans spans (each a few hundred bytes). */
void trace_store_new(size_t max_spans, trace_store_t **out);
void trace_store_free(trace_store_t *st);

/* Adds the spans of one OTLP JSON export request ({"resourceSpans": [...]}). Spans without a
 * valid trace and span id are skipped. 0 (and *accepted), or -WEIR_EINVAL with a message in err
 * when the body is not such a document. */
int trace_store_ingest_otlp_json(trace_store_t *st, const void *body, size_t len, size_t *accepted,
                                 char *err, size_t errlen);

/* The journey of a trace as JSON:
 *   {"trace_id", "started_at" (RFC 3339), "duration_ms", "services": [...in order of first
 *    appearance], "topics": [...], "hops": [{"service", "operation" (create|publish|process),
 *    "name", "topic", "partition", "offset", "group", "event_type", "event_id", "result",
 *    "error", "start" (RFC 3339), "at_ms" (since the first hop), "duration_ms", "span_id",
 *    "parent_span_id"}...]}   hops sorted by start time.
 * 0, -WEIR_EINVAL (not 32 hex digits) or -WEIR_ENOENT (no span of that trace kept). */
int trace_store_journey_json(trace_store_t *st, const char *trace_id, buf_t *out);

/* The newest traces, newest first, at most limit:
 *   {"traces": [{"trace_id", "started_at", "duration_ms", "spans", "services": [...],
 *    "first_event_type"}]} */
void trace_store_recent_json(trace_store_t *st, size_t limit, buf_t *out);

size_t trace_store_span_count(trace_store_t *st);

/* Registers the OTLP receiver (POST /v1/traces). Before the HTTP server starts. */
void trace_routes(trace_store_t *st, http_server_t *h);

#endif
