/*
 * Tests of the span store (src/trace): OTLP JSON in (ids, times as strings or numbers, int
 * attributes, service.name), the ring keeping the newest spans, the journey's causal order and
 * its JSON, the recent list, and refusals (bad documents, bad or all-zero ids).
 */
#include "test.h"
#include "trace/trace.h"

#include <jansson.h>

static const char *span(char *out, size_t cap, const char *tid, const char *sid, const char *pid,
                        const char *name, long long start_ns, const char *topic, int offset)
{
    snprintf(out, cap,
             "{\"traceId\":\"%s\",\"spanId\":\"%s\"%s%s%s,\"name\":\"%s\",\"kind\":5,"
             "\"startTimeUnixNano\":\"%lld\",\"endTimeUnixNano\":%lld,\"attributes\":["
             "{\"key\":\"messaging.destination.name\",\"value\":{\"stringValue\":\"%s\"}},"
             "{\"key\":\"messaging.kafka.message.offset\",\"value\":{\"intValue\":\"%d\"}},"
             "{\"key\":\"messaging.kafka.destination.partition\",\"value\":{\"intValue\":2}},"
             "{\"key\":\"messaging.operation\",\"value\":{\"stringValue\":\"process\"}}]}",
             tid, sid, pid ? ",\"parentSpanId\":\"" : "", pid ? pid : "", pid ? "\"" : "", name,
             start_ns, start_ns + 1000000, topic, offset);
    return out;
}

static int ingest(trace_store_t *st, const char *service, const char *spans, size_t *acc)
{
    char doc[8192], err[256];
    snprintf(doc, sizeof(doc),
             "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
             "\"value\":{\"stringValue\":\"%s\"}}]},\"scopeSpans\":[{\"spans\":[%s]}]}]}",
             service, spans);
    return trace_store_ingest_otlp_json(st, doc, strlen(doc), acc, err, sizeof(err));
}

#define T1 "0102030405060708090a0b0c0d0e0f10"

TEST(journey_in_causal_order)
{
    trace_store_t *st;
    trace_store_new(100, &st);
    char a[1024], b[1024], c[1024], all[4096];
    /* the child starts 1 ms "before" its parent (clocks of two services) */
    span(a, sizeof(a), T1, "00000000000000aa", NULL, "create orders", 2000000000, "orders", 0);
    span(b, sizeof(b), T1, "00000000000000bb", "00000000000000aa", "process orders", 1999000000,
         "orders", 7);
    span(c, sizeof(c), T1, "00000000000000cc", "00000000000000bb", "publish payments", 2005000000,
         "payments", 3);
    snprintf(all, sizeof(all), "%s,%s", c, b);
    size_t acc;
    CHECK_EQ(ingest(st, "svc-b", all, &acc), 0);
    CHECK_EQ(acc, 2);
    CHECK_EQ(ingest(st, "svc-a", a, &acc), 0);
    buf_t out = {0};
    REQUIRE(trace_store_journey_json(st, T1, &out) == 0);
    json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
    REQUIRE(j != NULL);
    json_t *hops = json_object_get(j, "hops");
    CHECK_EQ(json_array_size(hops), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(hops, 0), "span_id")),
              "00000000000000aa");
    CHECK_STR(json_string_value(json_object_get(json_array_get(hops, 1), "span_id")),
              "00000000000000bb");
    CHECK_STR(json_string_value(json_object_get(json_array_get(hops, 0), "service")), "svc-a");
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(hops, 1), "offset")), 7);
    CHECK_EQ(json_integer_value(json_object_get(json_array_get(hops, 1), "partition")), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(hops, 0), "name")), "create orders");
    CHECK_STR(json_string_value(json_object_get(json_array_get(hops, 1), "operation")), "process");
    CHECK_STR(json_string_value(json_array_get(json_object_get(j, "topics"), 1)), "payments");
    CHECK(json_real_value(json_object_get(j, "duration_ms")) == 7.0);
    json_decref(j);
    buf_deinit(&out);
    trace_store_free(st);
}

TEST(ring_keeps_the_newest)
{
    trace_store_t *st;
    trace_store_new(3, &st);
    for (int i = 0; i < 5; i++) {
        char tid[33], s[1024];
        snprintf(tid, sizeof(tid), "%032x", i + 1);
        span(s, sizeof(s), tid, "0000000000000001", NULL, "process t", 1000000000LL * (i + 1), "t",
             i);
        size_t acc;
        CHECK_EQ(ingest(st, "svc", s, &acc), 0);
    }
    CHECK_EQ(trace_store_span_count(st), 3);
    buf_t out = {0};
    CHECK_EQ(trace_store_journey_json(st, "00000000000000000000000000000001", &out), -WEIR_ENOENT);
    CHECK_EQ(trace_store_journey_json(st, "00000000000000000000000000000005", &out), 0);
    buf_reset(&out);
    trace_store_recent_json(st, 2, &out);
    json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
    json_t *tr = json_object_get(j, "traces");
    CHECK_EQ(json_array_size(tr), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tr, 0), "trace_id")),
              "00000000000000000000000000000005");
    json_decref(j);
    buf_deinit(&out);
    trace_store_free(st);
}

TEST(refusals)
{
    trace_store_t *st;
    trace_store_new(10, &st);
    size_t acc = 99;
    char err[256];
    CHECK_EQ(trace_store_ingest_otlp_json(st, "[1,2]", 5, &acc, err, sizeof(err)), -WEIR_EINVAL);
    CHECK_EQ(trace_store_ingest_otlp_json(st, "{", 1, &acc, err, sizeof(err)), -WEIR_EINVAL);
    char s[1024];
    span(s, sizeof(s), "00000000000000000000000000000000", "0000000000000001", NULL, "x", 1, "t",
         0);
    CHECK_EQ(ingest(st, "svc", s, &acc), 0);
    CHECK_EQ(acc, 0); /* an all-zero trace id is no id */
    span(s, sizeof(s), T1, "zz00000000000001", NULL, "x", 1, "t", 0);
    CHECK_EQ(ingest(st, "svc", s, &acc), 0);
    CHECK_EQ(acc, 0);
    buf_t out = {0};
    CHECK_EQ(trace_store_journey_json(st, "0102", &out), -WEIR_EINVAL);
    CHECK_EQ(trace_store_journey_json(st, NULL, &out), -WEIR_EINVAL);
    CHECK_EQ(trace_store_span_count(st), 0);
    buf_deinit(&out);
    trace_store_free(st);
}

TEST_MAIN()
