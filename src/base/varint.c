/*
 * Unsigned LEB128 varints and their zigzag signed form, as Kafka record batches and flexible
 * protocol versions encode them. Decoders never read past `end` and refuse over-long encodings.
 */
#include "base/base.h"

static size_t varint_decode_max(const uint8_t *p, const uint8_t *end, uint64_t *out,
                                size_t max_bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < max_bytes && p + i < end; i++) {
        uint8_t byte = p[i];
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

size_t varint_decode_u64(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    return varint_decode_max(p, end, out, 10);
}

size_t varint_decode_u32(const uint8_t *p, const uint8_t *end, uint32_t *out)
{
    uint64_t v;
    size_t n = varint_decode_max(p, end, &v, 5);
    if (n == 0 || v > UINT32_MAX)
        return 0;
    *out = (uint32_t)v;
    return n;
}

size_t varint_decode_i64(const uint8_t *p, const uint8_t *end, int64_t *out)
{
    uint64_t v;
    size_t n = varint_decode_max(p, end, &v, 10);
    if (n)
        *out = zigzag_decode(v);
    return n;
}

size_t varint_decode_i32(const uint8_t *p, const uint8_t *end, int32_t *out)
{
    uint32_t v;
    size_t n = varint_decode_u32(p, end, &v);
    if (n)
        *out = (int32_t)((v >> 1) ^ -(v & 1));
    return n;
}

size_t varint_encode_u64(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t varint_encode_i64(uint8_t *p, int64_t v)
{
    return varint_encode_u64(p, zigzag_encode(v));
}

size_t varint_size_u64(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t varint_size_i64(int64_t v)
{
    return varint_size_u64(zigzag_encode(v));
}
