/*
 * buf: a growable byte buffer. Invariant: len <= cap, and data is NULL only when cap is 0.
 */
#include "base/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void buf_init(buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_deinit(buf_t *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reserve(buf_t *b, size_t n)
{
    WEIR_ASSERT(b->len + n >= b->len);
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n)
        cap *= 2;
    b->data = weir_realloc(b->data, cap);
    b->cap = cap;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
}

uint8_t *buf_extend(buf_t *b, size_t n)
{
    buf_reserve(b, n);
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void buf_append(buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(buf_extend(b, n), p, n);
}

void buf_append_u8(buf_t *b, uint8_t v)
{
    *buf_extend(b, 1) = v;
}

void buf_append_be16(buf_t *b, uint16_t v)
{
    be16_write(buf_extend(b, 2), v);
}

void buf_append_be32(buf_t *b, uint32_t v)
{
    be32_write(buf_extend(b, 4), v);
}

void buf_append_be64(buf_t *b, uint64_t v)
{
    be64_write(buf_extend(b, 8), v);
}

void buf_append_uvarint(buf_t *b, uint64_t v)
{
    buf_reserve(b, 10);
    b->len += varint_encode_u64(b->data + b->len, v);
}

void buf_append_varint(buf_t *b, int64_t v)
{
    buf_append_uvarint(b, zigzag_encode(v));
}

void buf_append_str(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    WEIR_ASSERT(n >= 0);
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_consume(buf_t *b, size_t n)
{
    WEIR_ASSERT(n <= b->len);
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
