/*
 * CloudEvents over Kafka headers (the binary binding): reading an event's attributes, adding
 * them to a record we produce, and the blob the outbox stores a record's headers in.
 *
 * Header bytes come from other programs: every length is checked, values are copied only when
 * they fit, and a blob read back from the store is validated field by field before anything is
 * allocated from it.
 */
#include "sdk/sdk.h"

#include <strings.h>
#include <time.h>

static void attr_copy(char *dst, const void *val, size_t size)
{
    /* Too long, or with a NUL inside: treat as absent rather than cut it (two different ids
     * must never become one). */
    if (!val || size > SDK_CE_ATTR_MAX || memchr(val, '\0', size)) {
        dst[0] = '\0';
        return;
    }
    memcpy(dst, val, size);
    dst[size] = '\0';
}

void sdk_ce_read(const rd_kafka_headers_t *h, sdk_ce_t *ce)
{
    ce->specversion[0] = ce->id[0] = ce->type[0] = ce->source[0] = '\0';
    ce->time[0] = ce->subject[0] = ce->content_type[0] = ce->traceparent[0] = '\0';
    ce->has_trace = false;
    if (!h)
        return;
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++) {
        if (strncmp(name, "ce_", 3) == 0) {
            const char *a = name + 3;
            char *dst = NULL;
            if (strcmp(a, "id") == 0)
                dst = ce->id;
            else if (strcmp(a, "type") == 0)
                dst = ce->type;
            else if (strcmp(a, "source") == 0)
                dst = ce->source;
            else if (strcmp(a, "specversion") == 0)
                dst = ce->specversion;
            else if (strcmp(a, "time") == 0)
                dst = ce->time;
            else if (strcmp(a, "subject") == 0)
                dst = ce->subject;
            if (dst)
                attr_copy(dst, val, size);
        } else if (strcasecmp(name, "content-type") == 0) {
            attr_copy(ce->content_type, val, size);
        } else if (strcasecmp(name, "traceparent") == 0) {
            ce->has_trace = val && sdk_trace_parse(val, size, &ce->trace) == 0;
            if (ce->has_trace)
                sdk_trace_format(&ce->trace, ce->traceparent);
            else
                ce->traceparent[0] = '\0';
        }
    }
}

bool sdk_ce_valid(const sdk_ce_t *ce)
{
    return ce->specversion[0] == '1' && ce->specversion[1] == '.' && ce->id[0] && ce->source[0] &&
           ce->type[0];
}

void sdk_time_format(int64_t ms, char out[32])
{
    if (ms < 0)
        ms = 0;
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    /* The compiler cannot see that the fields are in range; format wide, then cut at 31. */
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    snprintf(out, 32, "%.31s", tmp);
}

static bool attr_ok(const char *s, bool required)
{
    if (!s)
        return !required;
    size_t n = strlen(s);
    return (n > 0 || !required) && n <= SDK_CE_ATTR_MAX;
}

int sdk_ce_headers_add(rd_kafka_headers_t *h, const weir_message *m, const char *id,
                       const char *source, const char *traceparent, int64_t now_ms)
{
    if (!attr_ok(m->type, true) || !attr_ok(id, true) || !attr_ok(source, true) ||
        !attr_ok(m->subject, false) || !attr_ok(m->content_type, false))
        return -WEIR_EINVAL;
    if (traceparent) {
        sdk_trace_t t;
        if (sdk_trace_parse(traceparent, strlen(traceparent), &t) != 0)
            return -WEIR_EINVAL;
    }
    if (m->headers) {
        for (size_t i = 0; m->headers[i]; i += 2) {
            size_t nlen = strlen(m->headers[i]);
            if (nlen == 0 || nlen > SDK_CE_ATTR_MAX)
                return -WEIR_EINVAL;
            if (m->headers[i + 1] && strlen(m->headers[i + 1]) > SDK_HDRBLOB_BYTES_MAX / 2)
                return -WEIR_ETOOBIG;
            if (i / 2 >= SDK_MSG_HEADERS_MAX)
                return -WEIR_ETOOBIG;
            /* A name without its value slot is a NULL value, and also the end of the list. */
            if (!m->headers[i + 1])
                break;
        }
    }
    char tbuf[32];
    sdk_time_format(now_ms, tbuf);
    rd_kafka_header_add(h, "ce_specversion", -1, SDK_CE_SPECVERSION, -1);
    rd_kafka_header_add(h, "ce_id", -1, id, -1);
    rd_kafka_header_add(h, "ce_type", -1, m->type, -1);
    rd_kafka_header_add(h, "ce_source", -1, source, -1);
    rd_kafka_header_add(h, "ce_time", -1, tbuf, -1);
    if (m->subject)
        rd_kafka_header_add(h, "ce_subject", -1, m->subject, -1);
    rd_kafka_header_add(h, "content-type", -1, m->content_type ? m->content_type : SDK_CE_JSON, -1);
    if (traceparent)
        rd_kafka_header_add(h, "traceparent", -1, traceparent, -1);
    if (m->headers) {
        for (size_t i = 0; m->headers[i]; i += 2) {
            const char *v = m->headers[i + 1];
            rd_kafka_header_add(h, m->headers[i], -1, v, v ? -1 : 0);
            if (!v)
                break;
        }
    }
    return 0;
}

/* ---- header blob ---------------------------------------------------------------------------- */

void sdk_hdrblob_encode(const rd_kafka_headers_t *h, buf_t *out)
{
    size_t count = h ? rd_kafka_header_cnt(h) : 0;
    WEIR_ASSERT(count <= SDK_HDRBLOB_HEADERS_MAX); /* callers build them; a bug if not */
    buf_append_u8(out, 'W');
    buf_append_u8(out, 1);
    buf_append_be16(out, (uint16_t)count);
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; i < count && rd_kafka_header_get_all(h, i, &name, &val, &size) == 0; i++) {
        size_t nlen = strlen(name);
        WEIR_ASSERT(nlen <= UINT16_MAX);
        buf_append_be16(out, (uint16_t)nlen);
        buf_append(out, name, nlen);
        if (!val) {
            buf_append_be32(out, UINT32_MAX);
        } else {
            WEIR_ASSERT(size < UINT32_MAX);
            buf_append_be32(out, (uint32_t)size);
            buf_append(out, val, size);
        }
    }
}

int sdk_hdrblob_decode(const void *src, size_t n, rd_kafka_headers_t **out)
{
    const uint8_t *p = src, *end = p + n;
    *out = NULL;
    if (n > SDK_HDRBLOB_BYTES_MAX || n < 4 || p[0] != 'W' || p[1] != 1)
        return -WEIR_ECORRUPT;
    size_t count = be16_read(p + 2);
    p += 4;
    if (count > SDK_HDRBLOB_HEADERS_MAX)
        return -WEIR_ECORRUPT;
    rd_kafka_headers_t *h = rd_kafka_headers_new(count);
    char name[1024];
    for (size_t i = 0; i < count; i++) {
        if (end - p < 2)
            goto corrupt;
        size_t nlen = be16_read(p);
        p += 2;
        if (nlen == 0 || nlen >= sizeof(name) || (size_t)(end - p) < nlen + 4)
            goto corrupt;
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        if (memchr(name, '\0', nlen))
            goto corrupt;
        p += nlen;
        uint32_t vlen = be32_read(p);
        p += 4;
        if (vlen == UINT32_MAX) {
            rd_kafka_header_add(h, name, (ssize_t)nlen, NULL, 0);
            continue;
        }
        if ((size_t)(end - p) < vlen)
            goto corrupt;
        rd_kafka_header_add(h, name, (ssize_t)nlen, p, (ssize_t)vlen);
        p += vlen;
    }
    if (p != end)
        goto corrupt;
    *out = h;
    return 0;
corrupt:
    rd_kafka_headers_destroy(h);
    return -WEIR_ECORRUPT;
}
