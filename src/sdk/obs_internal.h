/*
 * obs_internal: what obs_metrics.c and obs_trace.c share: the app's observability state (the
 * /metrics listener, the span queue and its exporter thread).
 */
#ifndef WEIR_SDK_OBS_INTERNAL_H
#define WEIR_SDK_OBS_INTERNAL_H

#include "sdk/sdk.h"

#define SDK_SPAN_QUEUE_MAX 2048 /* spans waiting for export; more are dropped */
#define SDK_SPAN_BATCH_MAX 256  /* spans per POST */
#define SDK_SPAN_FLUSH_MS  500  /* a partial batch waits at most this long */

struct MHD_Daemon;

struct sdk_obs {
    struct MHD_Daemon *mhd; /* GET /metrics, or NULL */
    char metrics_addr[80];

    char *traces_url; /* <otlp endpoint>/v1/traces, or NULL: no export */
    char *service_name;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sdk_span_t *queue; /* a ring of SDK_SPAN_QUEUE_MAX */
    size_t head, len;
    bool stop;
    _Atomic uint64_t exported, dropped;
};

int sdk_obs_metrics_start(weir_app *app, sdk_obs_t *o, const char *listen, char *err,
                          size_t errlen);
void sdk_obs_metrics_stop(sdk_obs_t *o);
void sdk_obs_trace_handled(weir_app *app, weir_ctx *ctx, const rd_kafka_message_t *m,
                           weir_result result, int attempt, int64_t start_wall_ns, int64_t dur_ns);

#endif
