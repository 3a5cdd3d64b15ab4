/*
 * W3C Trace Context "traceparent": parse what arrives on an event, format what we send, and
 * derive the handler's span (same trace id, new span id, flags kept). Parsing follows the
 * spec's rules for unknown versions so a newer producer's header still links the trace.
 */
#include "sdk/sdk.h"

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case is invalid in traceparent */
}

static int hex_decode(const uint8_t *s, uint8_t *out, size_t nbytes)
{
    for (size_t i = 0; i < nbytes; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -WEIR_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

int sdk_trace_parse(const void *src, size_t len, sdk_trace_t *out)
{
    const uint8_t *s = src;
    if (len < SDK_TRACEPARENT_LEN)
        return -WEIR_EINVAL;
    uint8_t version;
    if (hex_decode(s, &version, 1) != 0 || version == 0xff)
        return -WEIR_EINVAL;
    /* Version 00 is exactly 55 characters; a later version may append "-..." fields. */
    if (version == 0 && len != SDK_TRACEPARENT_LEN)
        return -WEIR_EINVAL;
    if (len > SDK_TRACEPARENT_LEN && s[SDK_TRACEPARENT_LEN] != '-')
        return -WEIR_EINVAL;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-')
        return -WEIR_EINVAL;
    sdk_trace_t t;
    if (hex_decode(s + 3, t.trace_id, 16) != 0 || hex_decode(s + 36, t.span_id, 8) != 0 ||
        hex_decode(s + 53, &t.flags, 1) != 0)
        return -WEIR_EINVAL;
    if (all_zero(t.trace_id, 16) || all_zero(t.span_id, 8))
        return -WEIR_EINVAL;
    *out = t;
    return 0;
}

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
}

void sdk_trace_format(const sdk_trace_t *t, char out[SDK_TRACEPARENT_LEN + 1])
{
    /* We always write version 00, whatever version we read. */
    memcpy(out, "00-", 3);
    hex_encode(t->trace_id, 16, out + 3);
    out[35] = '-';
    hex_encode(t->span_id, 8, out + 36);
    out[52] = '-';
    hex_encode(&t->flags, 1, out + 53);
    out[SDK_TRACEPARENT_LEN] = '\0';
}

static void random_nonzero(uint64_t *rng, uint8_t *p, size_t n)
{
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = sdk_rng_next(rng);
            memcpy(p + i, &r, WEIR_MIN(8, n - i));
        }
    } while (all_zero(p, n));
}

void sdk_trace_child(const sdk_trace_t *parent, uint64_t *rng, sdk_trace_t *child)
{
    if (parent) {
        memcpy(child->trace_id, parent->trace_id, 16);
        child->flags = parent->flags;
    } else {
        random_nonzero(rng, child->trace_id, 16);
        child->flags = 0x01; /* sampled: nothing upstream decided otherwise */
    }
    /* A new span id, also different from the parent's so the link is never a self-loop. */
    do
        random_nonzero(rng, child->span_id, 8);
    while (parent && memcmp(child->span_id, parent->span_id, 8) == 0);
}
