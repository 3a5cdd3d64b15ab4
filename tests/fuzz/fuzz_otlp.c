/*
 * libFuzzer target for the OTLP/HTTP JSON receiver (src/trace): any bytes go through
 * trace_store_ingest_otlp_json into a small ring, then every kept trace's journey and the
 * recent list are built. Oracles: no crash or sanitizer report, the ring never holds more
 * than its capacity, and every journey the store answers is valid JSON (jansson parses it).
 * Seeds: tests/fuzz/corpus/otlp/.
 */
#include "trace/trace.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_json(const buf_t *b)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)b->data, b->len, 0, &err);
    if (!j) {
        fprintf(stderr, "invalid JSON out of the store: %s\n%.*s\n", err.text, (int)b->len,
                (const char *)b->data);
        abort();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trace_store_t *st;
    trace_store_new(8, &st);
    size_t accepted;
    char err[256];
    trace_store_ingest_otlp_json(st, data, size, &accepted, err, sizeof(err));
    if (trace_store_span_count(st) > 8)
        abort();
    buf_t recent = {0};
    trace_store_recent_json(st, 100, &recent);
    check_json(&recent);
    json_t *r = json_loadb((const char *)recent.data, recent.len, 0, NULL);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(r, "traces"), i, t)
    {
        buf_t j = {0};
        if (trace_store_journey_json(st, json_string_value(json_object_get(t, "trace_id")), &j) !=
            0)
            abort(); /* listed, so it must have a journey */
        check_json(&j);
        buf_deinit(&j);
    }
    json_decref(r);
    buf_deinit(&recent);
    trace_store_free(st);
    return 0;
}
