/*
 * Window arithmetic and the built-in aggregates, as pure functions (tests/unit/test_streams.c).
 *
 * Time windows are aligned to the epoch: a tumbling window of size S holds [k*S, (k+1)*S), a
 * hopping window of size S and advance A holds [k*A, k*A + S), k >= 0, so a record belongs to
 * up to S/A windows. Built-in aggregates are kept as text, the way they are produced: COUNT as a
 * decimal integer, SUM/MIN/MAX as the shortest decimal that reads back as the same double.
 */
#include "sdk/streams_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define ST_WINDOWS_PER_RECORD_MAX 1000

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

size_t st_windows_for(const weir_window *w, int64_t ts, int64_t *starts, size_t max)
{
    if (ts < 0 || max == 0)
        return 0;
    if (w->kind == WEIR_WINDOW_TUMBLING) {
        starts[0] = ts - ts % w->size_ms;
        return 1;
    }
    if (w->kind != WEIR_WINDOW_HOPPING)
        return 0;
    int64_t k_last = ts / w->advance_ms;
    int64_t k_first = floor_div(ts - w->size_ms, w->advance_ms) + 1;
    if (k_first < 0)
        k_first = 0;
    size_t n = 0;
    for (int64_t k = k_first; k <= k_last && n < max; k++)
        starts[n++] = k * w->advance_ms;
    return n;
}

int st_window_check(const weir_window *w, weir_emit_mode emit, char *why, size_t whylen)
{
    const char *bad = NULL;
    switch (w->kind) {
    case WEIR_WINDOW_NONE:
        if (emit == WEIR_EMIT_FINAL)
            bad = "WEIR_EMIT_FINAL needs a window (a running aggregate never closes)";
        break;
    case WEIR_WINDOW_TUMBLING:
        if (w->size_ms <= 0)
            bad = "a tumbling window needs size_ms > 0";
        break;
    case WEIR_WINDOW_HOPPING:
        if (w->size_ms <= 0 || w->advance_ms <= 0 || w->advance_ms > w->size_ms)
            bad = "a hopping window needs 0 < advance_ms <= size_ms";
        else if (w->size_ms / w->advance_ms > ST_WINDOWS_PER_RECORD_MAX)
            bad = "a hopping window may put a record in at most 1000 windows (size/advance)";
        break;
    case WEIR_WINDOW_SESSION:
        if (w->gap_ms <= 0)
            bad = "a session window needs gap_ms > 0";
        break;
    default:
        bad = "unknown window kind";
    }
    if (!bad && w->grace_ms < 0)
        bad = "grace_ms must not be negative";
    if (bad) {
        snprintf(why, whylen, "%s", bad);
        return -WEIR_EINVAL;
    }
    return 0;
}

void weir_format_number(double v, char out[32])
{
    if (v == 0) {
        snprintf(out, 32, "%s", signbit(v) ? "-0" : "0");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

int st_parse_number(const void *p, size_t n, double *out)
{
    char tmp[64];
    if (!p || n == 0 || n >= sizeof(tmp))
        return -WEIR_EINVAL;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
        end++;
    if (end == tmp || *end || errno == ERANGE || !isfinite(v))
        return -WEIR_EINVAL;
    *out = v;
    return 0;
}

static int parse_count(const void *p, size_t n, int64_t *out)
{
    char tmp[32];
    if (!p || n == 0 || n >= sizeof(tmp))
        return -WEIR_EINVAL;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (*end || errno || v < 0)
        return -WEIR_EINVAL;
    *out = v;
    return 0;
}

int st_agg_builtin(weir_agg_kind kind, const void *agg, size_t agg_len, double x, char out[32])
{
    if (kind == WEIR_AGG_COUNT) {
        int64_t c = 0;
        if (agg && parse_count(agg, agg_len, &c) != 0)
            return -WEIR_EINVAL;
        snprintf(out, 32, "%lld", (long long)(c + 1));
        return 0;
    }
    double cur = x;
    if (agg) {
        if (st_parse_number(agg, agg_len, &cur) != 0)
            return -WEIR_EINVAL;
        if (kind == WEIR_AGG_SUM)
            cur += x;
        else if (kind == WEIR_AGG_MIN)
            cur = x < cur ? x : cur;
        else if (kind == WEIR_AGG_MAX)
            cur = x > cur ? x : cur;
        else
            return -WEIR_EINVAL;
    }
    weir_format_number(cur, out);
    return 0;
}

int st_agg_merge(weir_agg_kind kind, const void *a, size_t alen, const void *b, size_t blen,
                 char out[32])
{
    if (kind == WEIR_AGG_COUNT) {
        int64_t x, y;
        if (parse_count(a, alen, &x) != 0 || parse_count(b, blen, &y) != 0)
            return -WEIR_EINVAL;
        snprintf(out, 32, "%lld", (long long)(x + y));
        return 0;
    }
    double x, y;
    if (st_parse_number(a, alen, &x) != 0 || st_parse_number(b, blen, &y) != 0)
        return -WEIR_EINVAL;
    double v = kind == WEIR_AGG_SUM   ? x + y
               : kind == WEIR_AGG_MIN ? (x < y ? x : y)
                                      : (x > y ? x : y);
    weir_format_number(v, out);
    return 0;
}

weir_window weir_window_tumbling(int64_t size_ms, int64_t grace_ms)
{
    weir_window w = {WEIR_WINDOW_TUMBLING, size_ms, size_ms, 0, grace_ms};
    return w;
}

weir_window weir_window_hopping(int64_t size_ms, int64_t advance_ms, int64_t grace_ms)
{
    weir_window w = {WEIR_WINDOW_HOPPING, size_ms, advance_ms, 0, grace_ms};
    return w;
}

weir_window weir_window_session(int64_t gap_ms, int64_t grace_ms)
{
    weir_window w = {WEIR_WINDOW_SESSION, 0, 0, gap_ms, grace_ms};
    return w;
}
