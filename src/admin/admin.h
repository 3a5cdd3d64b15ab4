/*
 * admin: the JSON admin API under /api/v1/ (topics, partitions, configs, consumer groups with
 * lag, offset resets with a dry run, messages read and produced, broker info, dead-letter
 * topics and their redrive, the event journey), described by the OpenAPI document it serves at
 * /api/v1/openapi.json (src/admin/openapi.json, embedded at build time). The web console
 * (src/console) is its main client.
 *
 * Errors are JSON {"error": word, "message": text} with the HTTP status that fits; every input
 * is bounded (ADMIN_BODY_MAX, ADMIN_JSON_DEPTH_MAX, ADMIN_ARG_MAX) and a bad one changes
 * nothing.
 *
 * Threads: handlers run on the HTTP server's pool and may wait for the group coordinator
 * (loop 0) or a durable write; the admin keeps no state of its own but the redrive mutex (one
 * redrive at a time). The broker and registry outlive it.
 */
#ifndef WEIR_ADMIN_H
#define WEIR_ADMIN_H

#include "base/base.h"
#include "broker/broker.h"
#include "http/http.h"
#include "registry/registry.h"

typedef struct admin admin_t;

enum {
    ADMIN_BODY_MAX = 1 << 20,  /* request bodies */
    ADMIN_JSON_DEPTH_MAX = 16, /* nesting of a request's JSON */
    ADMIN_ARG_MAX = 512,       /* a query argument or path segment */
};

/* The event journey of one trace (the trace module provides it: trace_store_journey_json):
 * appends to json an object {"trace_id", "started_at", "duration_ms", "services", "topics",
 * "hops": [{"service", "operation", "name", "topic", "partition", "offset", "group",
 * "event_type", "event_id", "result", "error", "start", "at_ms", "duration_ms", "span_id",
 * "parent_span_id"}]} and returns 0, -WEIR_EINVAL when trace_id is not 32 hex digits, or
 * -WEIR_ENOENT when no span of the trace is kept. Called on the HTTP pool's threads. */
typedef int (*admin_journey_fn)(void *arg, const char *trace_id, buf_t *json);
/* The newest traces, newest first, at most limit (trace_store_recent_json): appends
 * {"traces": [{"trace_id", "started_at", "duration_ms", "spans", "services",
 * "first_event_type"}]}. Same threads. */
typedef void (*admin_traces_fn)(void *arg, size_t limit, buf_t *json);

/* Whether the request's principal may do op (KAFKA_ACL_OP_*) on the resource (KAFKA_RESOURCE_*
 * name): the lists show only what it may DESCRIBE, as Kafka's Metadata and ListGroups do. The
 * server's HTTP authorizer (server/http_auth.c) provides it. */
typedef bool (*admin_may_fn)(void *arg, const http_request_t *req, int8_t rtype, const char *name,
                             int8_t op);

typedef struct {
    broker_t *broker;
    registry_t *registry;     /* NULL: registry-encoded payloads are shown as bytes */
    const char *bootstrap;    /* the advertised Kafka address (for kcat commands) */
    const char *version;      /* Weir's version */
    admin_journey_fn journey; /* NULL without tracing (weir.trace.spans.max=0): 501 */
    admin_traces_fn traces;   /* NULL with journey NULL */
    void *journey_arg;        /* for both */
    const char *metrics_path; /* where Prometheus metrics are served ("/metrics"), or NULL
                                 while there are none: the console shows "not available" */
    admin_may_fn may;         /* NULL: everything is listed */
    void *may_arg;
} admin_config_t;

int admin_new(const admin_config_t *cfg, admin_t **out);
/* Registers /api/v1/ on a server that has not started. */
void admin_routes(admin_t *a, http_server_t *s);
void admin_free(admin_t *a);

#endif
