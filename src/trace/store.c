/*
 * The span store: a ring of fixed-size spans (the newest max_spans), filled from OTLP JSON
 * export requests, and the journey of a trace built from it.
 *
 * Invariant: the ring never grows: a new span takes the oldest one's slot; every string field
 * is cut to its slot's size on the way in, so a span from the network costs no allocation and
 * a lookup is one pass over the ring under the mutex (10,000 spans: well under a millisecond).
 */
#include "trace/trace_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void trace_store_new(size_t max_spans, trace_store_t **out)
{
    trace_store_t *st = weir_calloc(1, sizeof(*st));
    st->cap = WEIR_MAX(max_spans, (size_t)1);
    st->ring = weir_calloc(st->cap, sizeof(*st->ring));
    pthread_mutex_init(&st->mu, NULL);
    *out = st;
}

void trace_store_free(trace_store_t *st)
{
    if (!st)
        return;
    pthread_mutex_destroy(&st->mu);
    free(st->ring);
    free(st);
}

size_t trace_store_span_count(trace_store_t *st)
{
    pthread_mutex_lock(&st->mu);
    size_t n = st->len;
    pthread_mutex_unlock(&st->mu);
    return n;
}

void trace_store_add(trace_store_t *st, const trace_span_t *s)
{
    pthread_mutex_lock(&st->mu);
    st->ring[(st->head + st->len) % st->cap] = *s;
    if (st->len < st->cap)
        st->len++;
    else
        st->head = (st->head + 1) % st->cap;
    pthread_mutex_unlock(&st->mu);
}

int trace_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (!s || len != 2 * n)
        return -WEIR_EINVAL;
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0)
                return -WEIR_EINVAL;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
        nonzero |= v != 0;
    }
    return nonzero ? 0 : -WEIR_EINVAL; /* all zeros is not an id (W3C, OTLP) */
}

void trace_hex_append(buf_t *b, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        buf_append_u8(b, (uint8_t)digits[p[i] >> 4]);
        buf_append_u8(b, (uint8_t)digits[p[i] & 15]);
    }
}

void trace_time_append(buf_t *b, int64_t unix_ns)
{
    time_t sec = (time_t)(unix_ns / 1000000000);
    int ms = (int)(unix_ns % 1000000000 / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* Copies of the spans of one trace, sorted by start (then end) time. Caller frees. */
static int span_start_cmp(const void *a, const void *b)
{
    const trace_span_t *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return (x->end_ns > y->end_ns) - (x->end_ns < y->end_ns);
}

/* Clocks of different services, and millisecond record timestamps, can put a child a hair
 * before its parent: move each parent in front of its first child (a journey reads in causal
 * order). Bounded: a parent moves at most once per span. */
static void parents_first(trace_span_t *v, size_t n)
{
    for (size_t guard = 0, i = 0; i < n && guard < n * n; guard++) {
        size_t p = n;
        for (size_t j = i + 1; v[i].has_parent && j < n; j++)
            if (memcmp(v[j].span_id, v[i].parent_id, 8) == 0) {
                p = j;
                break;
            }
        if (p == n) {
            i++;
            continue;
        }
        trace_span_t parent = v[p];
        memmove(&v[i + 1], &v[i], (p - i) * sizeof(*v));
        v[i] = parent; /* look at the moved parent's own parent next */
    }
}

size_t trace_store_collect(trace_store_t *st, const uint8_t trace_id[16], trace_span_t **out)
{
    pthread_mutex_lock(&st->mu);
    size_t n = 0;
    for (size_t i = 0; i < st->len; i++)
        n += memcmp(st->ring[(st->head + i) % st->cap].trace_id, trace_id, 16) == 0;
    trace_span_t *v = weir_calloc(n + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < st->len && k < n; i++) {
        const trace_span_t *s = &st->ring[(st->head + i) % st->cap];
        if (memcmp(s->trace_id, trace_id, 16) == 0)
            v[k++] = *s;
    }
    pthread_mutex_unlock(&st->mu);
    qsort(v, k, sizeof(*v), span_start_cmp);
    parents_first(v, k);
    *out = v;
    return k;
}
