/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka record batches.
 * Two paths: SSE4.2's crc32 instruction, 8 bytes at a time (three interleaved chains on long
 * buffers, or carry-less multiply folding with AVX-512 VPCLMULQDQ where the CPU has it), and a
 * slicing-by-8 table fallback.
 * The choice is made once, on first use, from cpuid.
 */
#include "base/base.h"

#include <pthread.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static bool crc32c_have_hw;

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc32c_table[t][i] =
                (crc32c_table[t - 1][i] >> 8) ^ crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d))
        crc32c_have_hw = (c & bit_SSE4_2) != 0;
#endif
}

bool crc32c_hw_available(void)
{
    pthread_once(&crc32c_once, crc32c_init);
    return crc32c_have_hw;
}

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc32c_once, crc32c_init);
    const uint8_t *p = data;
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
              crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
              crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
              crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
/* The crc32 instruction has a latency of 3 cycles but can start one per cycle, so one chain of
 * crc32q runs at a third of what the core can do. Long buffers are therefore cut in three
 * blocks whose CRCs run interleaved, then joined: the raw CRC register is linear, so
 * crc(A || B) = crc(A advanced over len(B) zero bytes) ^ crc_from_0(B), and "advance over L
 * zero bytes" is a fixed linear map of 32 bits, kept as 4 tables of 256 entries per block size.
 * (Added for the partition log's append path, which checks every batch: it made CRC-32C about
 * three times faster on large batches.) */
enum { CRC32C_LONG = 8192, CRC32C_SHORT = 256 };
static uint32_t crc32c_shift_long[4][256], crc32c_shift_short[4][256];
static pthread_once_t crc32c_shift_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2"))) static uint32_t crc32c_zeros_raw(uint32_t c, size_t n)
{
    uint64_t x = c;
    for (size_t i = 0; i < n / 8; i++)
        x = __builtin_ia32_crc32di(x, 0);
    return (uint32_t)x;
}

static void crc32c_shift_table(uint32_t t[4][256], size_t n)
{
    uint32_t basis[32];
    for (int b = 0; b < 32; b++)
        basis[b] = crc32c_zeros_raw(1u << b, n);
    for (int k = 0; k < 4; k++)
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t r = 0;
            for (int b = 0; b < 8; b++)
                if (v >> b & 1)
                    r ^= basis[8 * k + b];
            t[k][v] = r;
        }
}

static void crc32c_shift_init(void)
{
    crc32c_shift_table(crc32c_shift_long, CRC32C_LONG);
    crc32c_shift_table(crc32c_shift_short, CRC32C_SHORT);
}

static inline uint32_t crc32c_shift(uint32_t t[4][256], uint32_t c)
{
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

/* Three interleaved chains over 3 * len bytes (len a multiple of 8). */
__attribute__((target("sse4.2"))) static uint64_t crc32c_3way(uint64_t c, const uint8_t *p,
                                                              size_t len, uint32_t t[4][256])
{
    uint64_t c0 = c, c1 = 0, c2 = 0;
    const uint8_t *a = p, *b = p + len, *d = p + 2 * len;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t wa, wb, wd;
        memcpy(&wa, a + i, 8);
        memcpy(&wb, b + i, 8);
        memcpy(&wd, d + i, 8);
        c0 = __builtin_ia32_crc32di(c0, wa);
        c1 = __builtin_ia32_crc32di(c1, wb);
        c2 = __builtin_ia32_crc32di(c2, wd);
    }
    c0 = crc32c_shift(t, (uint32_t)c0) ^ (uint32_t)c1;
    return crc32c_shift(t, (uint32_t)c0) ^ (uint32_t)c2;
}

/* On CPUs with AVX-512 VPCLMULQDQ, long buffers go faster still by folding: with the message
 * seen as a polynomial, a 128-bit chunk X = H x^64 + L that lies D bits before another chunk
 * contributes H (x^(D+64) mod P) + L (x^D mod P) to it, two carry-less multiplies of 64 by
 * 32 bits. Four zmm registers carry sixteen 128-bit chunks 256 bytes apart; at the end they
 * are folded into one chunk, whose CRC the crc32 instruction finishes. Operands are bit
 * reflected, and the product of reflected 64- and 32-bit operands comes out 33 bits short of
 * the chunk layout, hence the constants x^(D+31) and x^(D-33) (computed at start-up). */
static uint64_t crc32c_k2048[2], crc32c_k128[2];
static bool crc32c_have_vpclmul;
static pthread_once_t crc32c_vpclmul_once = PTHREAD_ONCE_INIT;

static uint32_t crc32c_xpow_mod(unsigned e) /* x^e mod P, normal bit order */
{
    uint64_t r = 1;
    for (unsigned i = 0; i < e; i++) {
        r <<= 1;
        if (r >> 32)
            r ^= 0x11EDC6F41ull;
    }
    return (uint32_t)r;
}

static uint64_t crc32c_reflect32(uint32_t v)
{
    uint32_t r = 0;
    for (int i = 0; i < 32; i++)
        if (v >> i & 1)
            r |= 1u << (31 - i);
    return r;
}

static void crc32c_vpclmul_init(void)
{
    unsigned a, b, c, d;
    bool ok = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_PCLMUL) && (c & bit_OSXSAVE);
    ok = ok && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX512F) && (c & (1u << 10));
    if (ok) {
        unsigned lo, hi; /* the OS must save the zmm state: XCR0 bits 1, 2, 5, 6, 7 */
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        ok = (lo & 0xe6) == 0xe6;
    }
    crc32c_k2048[0] = crc32c_reflect32(crc32c_xpow_mod(2048 + 31));
    crc32c_k2048[1] = crc32c_reflect32(crc32c_xpow_mod(2048 - 33));
    crc32c_k128[0] = crc32c_reflect32(crc32c_xpow_mod(128 + 31));
    crc32c_k128[1] = crc32c_reflect32(crc32c_xpow_mod(128 - 33));
    crc32c_have_vpclmul = ok;
}

__attribute__((target("pclmul,sse4.2"))) static __m128i crc32c_fold128(__m128i x, __m128i k,
                                                                       __m128i next)
{
    __m128i a = _mm_clmulepi64_si128(x, k, 0x00);
    __m128i b = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(a, b), next);
}

/* The raw state after c and the n >= 256 bytes at p. */
__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2"))) static uint32_t
crc32c_vpclmul(uint32_t c, const uint8_t *p, size_t n)
{
    __m512i z0 = _mm512_loadu_si512((const void *)p),
            z1 = _mm512_loadu_si512((const void *)(p + 64));
    __m512i z2 = _mm512_loadu_si512((const void *)(p + 128));
    __m512i z3 = _mm512_loadu_si512((const void *)(p + 192));
    z0 = _mm512_xor_si512(z0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)c)));
    p += 256;
    n -= 256;
    __m512i k = _mm512_broadcast_i32x4(
        _mm_set_epi64x((long long)crc32c_k2048[1], (long long)crc32c_k2048[0]));
#define CRC32C_FOLD512(z, off)                                                                     \
    z = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z, k, 0x00),                            \
                                  _mm512_clmulepi64_epi128(z, k, 0x11),                            \
                                  _mm512_loadu_si512((const void *)(p + (off))), 0x96)
    while (n >= 256) {
        CRC32C_FOLD512(z0, 0);
        CRC32C_FOLD512(z1, 64);
        CRC32C_FOLD512(z2, 128);
        CRC32C_FOLD512(z3, 192);
        p += 256;
        n -= 256;
    }
#undef CRC32C_FOLD512
    __m128i k1 = _mm_set_epi64x((long long)crc32c_k128[1], (long long)crc32c_k128[0]);
    __m128i x = _mm512_extracti32x4_epi32(z0, 0);
    x = crc32c_fold128(x, k1, _mm512_extracti32x4_epi32(z0, 1));
    x = crc32c_fold128(x, k1, _mm512_extracti32x4_epi32(z0, 2));
    x = crc32c_fold128(x, k1, _mm512_extracti32x4_epi32(z0, 3));
    const __m512i zs[3] = {z1, z2, z3};
    for (int i = 0; i < 3; i++) {
        x = crc32c_fold128(x, k1, _mm512_extracti32x4_epi32(zs[i], 0));
        x = crc32c_fold128(x, k1, _mm512_extracti32x4_epi32(zs[i], 1));
        x = crc32c_fold128(x, k1, _mm512_extracti32x4_epi32(zs[i], 2));
        x = crc32c_fold128(x, k1, _mm512_extracti32x4_epi32(zs[i], 3));
    }
    for (; n >= 16; p += 16, n -= 16)
        x = crc32c_fold128(x, k1, _mm_loadu_si128((const __m128i *)p));
    uint64_t v = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(x));
    v = __builtin_ia32_crc32di(v, (uint64_t)_mm_extract_epi64(x, 1));
    while (n--)
        v = __builtin_ia32_crc32qi((uint32_t)v, *p++);
    return (uint32_t)v;
}

__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        n--;
    }
    if (n >= 4096) {
        pthread_once(&crc32c_vpclmul_once, crc32c_vpclmul_init);
        if (crc32c_have_vpclmul)
            return ~crc32c_vpclmul((uint32_t)c, p, n);
    }
    if (n >= 3 * CRC32C_SHORT)
        pthread_once(&crc32c_shift_once, crc32c_shift_init);
    while (n >= 3 * CRC32C_LONG) {
        c = crc32c_3way(c, p, CRC32C_LONG, crc32c_shift_long);
        p += 3 * CRC32C_LONG;
        n -= 3 * CRC32C_LONG;
    }
    while (n >= 3 * CRC32C_SHORT) {
        c = crc32c_3way(c, p, CRC32C_SHORT, crc32c_shift_short);
        p += 3 * CRC32C_SHORT;
        n -= 3 * CRC32C_SHORT;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    while (n--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#else
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t n)
{
    return crc32c_sw(crc, data, n);
}
#endif

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    if (crc32c_hw_available())
        return crc32c_hw(crc, p, n);
    return crc32c_sw(crc, p, n);
}
