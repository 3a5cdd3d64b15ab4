/*
 * base64 (RFC 4648), two forms:
 *  - base64url: the URL-safe alphabet without padding, as Kafka prints its ids (cluster ids and
 *    topic ids are 16 bytes, 22 characters);
 *  - base64: the standard alphabet with padding, as SASL/SCRAM carries salts, nonces and proofs.
 * Decoding refuses anything else: a character outside the alphabet, misplaced or missing
 * padding, or a length that cannot come from whole bytes.
 */
#include "base/base.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t base64url_encode(const uint8_t *p, size_t n, char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | p[i];
        bits += 8;
        while (bits >= 6) {
            out[k++] = alphabet[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits)
        out[k++] = alphabet[(acc << (6 - bits)) & 63];
    out[k] = 0;
    return k;
}

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int base64url_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 == 1)
        return -WEIR_EINVAL;
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        int v = value_of(s[i]);
        if (v < 0)
            return -WEIR_EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            if (k == cap)
                return -WEIR_ETOOBIG;
            out[k++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    if (bits && (acc & ((1u << bits) - 1)) != 0)
        return -WEIR_EINVAL; /* leftover bits must be zero: one string per byte sequence */
    return (int)k;
}

/* ---- base64 (RFC 4648 §4, padded), as SCRAM carries salts and proofs ------------------- */

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t base64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = std_alphabet[(v >> 18) & 63];
        out[o++] = std_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? std_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? std_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

static int std_value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int base64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 != 0)
        return -WEIR_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i + (size_t)k];
            if (c == '=' && last && k >= 2) {
                pad++;
                v[k] = 0;
                continue;
            }
            if (pad > 0) /* a character after padding */
                return -WEIR_EINVAL;
            v[k] = std_value_of(c);
            if (v[k] < 0)
                return -WEIR_EINVAL;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t nout = 3 - (size_t)pad;
        if (o + nout > cap)
            return -WEIR_ETOOBIG;
        out[o++] = (uint8_t)(w >> 16);
        if (nout > 1)
            out[o++] = (uint8_t)(w >> 8);
        if (nout > 2)
            out[o++] = (uint8_t)w;
    }
    return (int)o;
}
