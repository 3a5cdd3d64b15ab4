/*
 * The OTLP/HTTP JSON receiver's parsing: an ExportTraceServiceRequest
 * ({"resourceSpans":[{"resource":{"attributes":[...]}, "scopeSpans":[{"spans":[...]}]}]}) into
 * trace_span_t. Ids are hex (OTLP's JSON encoding), times are decimal strings or numbers of
 * nanoseconds, int attributes strings or numbers, kind an int or its enum name.
 *
 * Invariant: nothing from the request is trusted: every field is type-checked, every string
 * cut to its slot; spans without valid ids are skipped, never half-stored.
 */
#include "trace/trace_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static void copy_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

/* An int64 given as a JSON integer or a decimal string; def otherwise. */
static int64_t json_i64(const json_t *v, int64_t def)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v)) {
        char *end;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (*end == '\0' && end != json_string_value(v))
            return x;
    }
    return def;
}

/* The value of an attribute {"key":..., "value":{"stringValue"|"intValue":...}} list, as text
 * (str_out) or an integer (int_out); false when the key is absent. */
static bool attr_find(const json_t *attrs, const char *key, char *str_out, size_t cap,
                      int64_t *int_out)
{
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        const char *k = json_string_value(json_object_get(a, "key"));
        if (!k || strcmp(k, key) != 0)
            continue;
        json_t *v = json_object_get(a, "value");
        json_t *sv = json_object_get(v, "stringValue");
        json_t *iv = json_object_get(v, "intValue");
        if (str_out && json_is_string(sv))
            copy_str(str_out, cap, json_string_value(sv));
        if (int_out && iv)
            *int_out = json_i64(iv, -1);
        else if (int_out && json_is_string(sv))
            *int_out = json_i64(sv, -1);
        return true;
    }
    return false;
}

static trace_op_t op_of(const json_t *span, const json_t *attrs)
{
    char op[32] = "";
    attr_find(attrs, "messaging.operation", op, sizeof(op), NULL);
    const char *name = json_string_value(json_object_get(span, "name"));
    if (strcmp(op, "process") == 0 || strcmp(op, "receive") == 0)
        return TRACE_OP_PROCESS;
    if (name && strncmp(name, "create ", 7) == 0)
        return TRACE_OP_CREATE;
    if (strcmp(op, "publish") == 0 || strcmp(op, "create") == 0)
        return TRACE_OP_PUBLISH;
    json_t *kind = json_object_get(span, "kind");
    int64_t k = json_i64(kind, -1);
    const char *ks = json_string_value(kind);
    if (k == 5 || (ks && strcmp(ks, "SPAN_KIND_CONSUMER") == 0))
        return TRACE_OP_PROCESS;
    if (k == 4 || (ks && strcmp(ks, "SPAN_KIND_PRODUCER") == 0))
        return TRACE_OP_PUBLISH;
    return TRACE_OP_OTHER;
}

static bool span_parse(const json_t *j, const char *service, trace_span_t *s)
{
    memset(s, 0, sizeof(*s));
    const char *tid = json_string_value(json_object_get(j, "traceId"));
    const char *sid = json_string_value(json_object_get(j, "spanId"));
    const char *pid = json_string_value(json_object_get(j, "parentSpanId"));
    if (!tid || !sid || trace_hex_decode(tid, strlen(tid), s->trace_id, 16) != 0 ||
        trace_hex_decode(sid, strlen(sid), s->span_id, 8) != 0)
        return false;
    s->has_parent = pid && *pid && trace_hex_decode(pid, strlen(pid), s->parent_id, 8) == 0;
    copy_str(s->name, sizeof(s->name), json_string_value(json_object_get(j, "name")));
    copy_str(s->service, sizeof(s->service), service);
    s->start_ns = json_i64(json_object_get(j, "startTimeUnixNano"), 0);
    s->end_ns = json_i64(json_object_get(j, "endTimeUnixNano"), s->start_ns);
    if (s->end_ns < s->start_ns)
        s->end_ns = s->start_ns;
    s->error = json_i64(json_object_get(json_object_get(j, "status"), "code"), 0) == 2;
    const json_t *attrs = json_object_get(j, "attributes");
    s->op = op_of(j, attrs);
    s->partition = -1;
    s->offset = -1;
    int64_t v = -1;
    if (attr_find(attrs, "messaging.kafka.destination.partition", NULL, 0, &v) && v >= 0 &&
        v <= INT32_MAX)
        s->partition = (int32_t)v;
    v = -1;
    if (attr_find(attrs, "messaging.kafka.message.offset", NULL, 0, &v) && v >= 0)
        s->offset = v;
    attr_find(attrs, "messaging.destination.name", s->topic, sizeof(s->topic), NULL);
    attr_find(attrs, "messaging.consumer.group.name", s->group, sizeof(s->group), NULL);
    attr_find(attrs, "messaging.message.id", s->event_id, sizeof(s->event_id), NULL);
    attr_find(attrs, "weir.event.type", s->event_type, sizeof(s->event_type), NULL);
    attr_find(attrs, "weir.result", s->result, sizeof(s->result), NULL);
    return true;
}

int trace_store_ingest_otlp_json(trace_store_t *st, const void *body, size_t len, size_t *accepted,
                                 char *err, size_t errlen)
{
    *accepted = 0;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *rs = root ? json_object_get(root, "resourceSpans") : NULL;
    if (!json_is_array(rs)) {
        snprintf(err, errlen, "not an OTLP JSON trace export: %s",
                 root ? "no resourceSpans array" : jerr.text);
        json_decref(root);
        return -WEIR_EINVAL;
    }
    size_t i, k, m;
    json_t *r, *ss, *sp;
    json_array_foreach(rs, i, r)
    {
        char service[64] = "unknown";
        attr_find(json_object_get(json_object_get(r, "resource"), "attributes"), "service.name",
                  service, sizeof(service), NULL);
        json_array_foreach(json_object_get(r, "scopeSpans"), k, ss)
        {
            json_array_foreach(json_object_get(ss, "spans"), m, sp)
            {
                trace_span_t s;
                if (span_parse(sp, service, &s)) {
                    trace_store_add(st, &s);
                    (*accepted)++;
                }
            }
        }
    }
    json_decref(root);
    return 0;
}
