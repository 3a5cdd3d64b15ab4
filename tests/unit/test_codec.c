/*
 * Tests for the record batch codecs (src/storage/codec.c): round trips of every codec, the
 * framings real clients write (xerial snappy, concatenated gzip members and frames, zstd frames
 * without a content size), the output bound (exact boundary and decompression bombs, with the
 * memory actually allocated checked), and malformed input.
 */
#include "storage/storage.h"
#include "test.h"

#include <lz4frame.h>
#include <pthread.h>
#include <zlib.h>
#include <zstd.h>

static const storage_codec_t all_codecs[] = {CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD};

/* Deterministic, partly compressible bytes. */
static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (i % 7 == 0) ? (uint8_t)(x >> 16) : (uint8_t)('a' + (i / 13) % 26);
    }
}

static void check_round_trip(storage_codec_t codec, const uint8_t *in, size_t n)
{
    buf_t c, d;
    buf_init(&c);
    buf_init(&d);
    CHECK_EQ(storage_codec_compress(codec, in, n, &c), 0);
    CHECK(c.len > 0);
    buf_append(&d, "prefix", 6); /* decompress appends */
    CHECK_EQ(storage_codec_decompress(codec, c.data, c.len, &d, n), 0);
    CHECK_EQ(d.len, n + 6);
    CHECK(memcmp(d.data, "prefix", 6) == 0);
    if (d.len == n + 6 && n)
        CHECK_MEM(d.data + 6, in, n);
    buf_deinit(&c);
    buf_deinit(&d);
}

TEST(round_trip_every_codec)
{
    static const size_t sizes[] = {0, 1, 100, 65536, 65537, 300000};
    uint8_t *in = weir_malloc(300000);
    for (size_t s = 0; s < WEIR_ARRAY_LEN(sizes); s++) {
        fill_pattern(in, sizes[s], (uint32_t)s);
        for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++)
            check_round_trip(all_codecs[c], in, sizes[s]);
    }
    free(in);
}

TEST(bound_is_exact)
{
    uint8_t in[5000];
    fill_pattern(in, sizeof(in), 9);
    for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        buf_t z, d;
        buf_init(&z);
        buf_init(&d);
        CHECK_EQ(storage_codec_compress(all_codecs[c], in, sizeof(in), &z), 0);
        /* exactly at the bound: fine */
        CHECK_EQ(storage_codec_decompress(all_codecs[c], z.data, z.len, &d, sizeof(in)), 0);
        CHECK_EQ(d.len, sizeof(in));
        /* one byte under: too big, and the output is left as it was */
        buf_reset(&d);
        buf_append(&d, "xy", 2);
        CHECK_EQ(storage_codec_decompress(all_codecs[c], z.data, z.len, &d, sizeof(in) - 1),
                 -WEIR_ETOOBIG);
        CHECK_EQ(d.len, 2);
        buf_deinit(&z);
        buf_deinit(&d);
    }
}

/* 1 MiB of zeros, bound 64 KiB: every codec stops with ETOOBIG, having allocated no more than
 * a small multiple of the bound. */
TEST(decompression_bomb)
{
    size_t n = 1 << 20;
    uint8_t *zeros = weir_calloc(1, n);
    for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        buf_t z, d;
        buf_init(&z);
        buf_init(&d);
        CHECK_EQ(storage_codec_compress(all_codecs[c], zeros, n, &z), 0);
        CHECK(z.len < n / 20);
        CHECK_EQ(storage_codec_decompress(all_codecs[c], z.data, z.len, &d, 64 << 10),
                 -WEIR_ETOOBIG);
        CHECK_EQ(d.len, 0);
        CHECK(d.cap <= 256 << 10);
        buf_deinit(&z);
        buf_deinit(&d);
    }
    free(zeros);
}

/* Streaming zstd writers (the Java client) leave the content size out of the frame header. */
static void zstd_compress_unknown_size(const uint8_t *in, size_t n, buf_t *out)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    WEIR_ASSERT(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
    size_t cap = ZSTD_compressBound(n) + 64;
    buf_reserve(out, cap);
    ZSTD_outBuffer ob = {out->data + out->len, cap, 0};
    ZSTD_inBuffer ib = {in, n, 0};
    size_t r;
    do
        r = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
    while (r != 0 && !ZSTD_isError(r));
    WEIR_ASSERT(r == 0);
    out->len += ob.pos;
    ZSTD_freeCCtx(cctx);
}

TEST(zstd_frame_without_content_size)
{
    uint8_t in[100000];
    fill_pattern(in, sizeof(in), 3);
    buf_t z, d;
    buf_init(&z);
    buf_init(&d);
    zstd_compress_unknown_size(in, sizeof(in), &z);
    CHECK_EQ(ZSTD_getFrameContentSize(z.data, z.len), ZSTD_CONTENTSIZE_UNKNOWN);
    CHECK_EQ(storage_codec_decompress(CODEC_ZSTD, z.data, z.len, &d, sizeof(in)), 0);
    CHECK_EQ(d.len, sizeof(in));
    CHECK_MEM(d.data, in, sizeof(in));
    /* and as a bomb: no content size to reject early, the bound still holds */
    buf_deinit(&d);
    CHECK_EQ(storage_codec_decompress(CODEC_ZSTD, z.data, z.len, &d, 1000), -WEIR_ETOOBIG);
    CHECK(d.cap <= 64 << 10);
    buf_deinit(&z);
    buf_deinit(&d);
}

/* Concatenations: gzip members, lz4 frames and zstd frames back to back decode as one. */
TEST(concatenated_frames)
{
    const uint8_t a[] = "first part, ", b[] = "second part";
    storage_codec_t codecs[] = {CODEC_GZIP, CODEC_LZ4, CODEC_ZSTD};
    for (size_t c = 0; c < WEIR_ARRAY_LEN(codecs); c++) {
        buf_t z, d;
        buf_init(&z);
        buf_init(&d);
        CHECK_EQ(storage_codec_compress(codecs[c], a, sizeof(a) - 1, &z), 0);
        CHECK_EQ(storage_codec_compress(codecs[c], b, sizeof(b) - 1, &z), 0);
        CHECK_EQ(storage_codec_decompress(codecs[c], z.data, z.len, &d, 1000), 0);
        CHECK_EQ(d.len, sizeof(a) + sizeof(b) - 2);
        CHECK(d.len == 23 && memcmp(d.data, "first part, second part", 23) == 0);
        buf_deinit(&z);
        buf_deinit(&d);
    }
}

/* Writers other than ours may use big lz4 blocks (up to 4 MiB) and linked blocks. */
TEST(lz4_big_linked_blocks)
{
    size_t n = 3 << 20;
    uint8_t *in = weir_malloc(n);
    fill_pattern(in, n, 21);
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max4MB;
    prefs.frameInfo.blockMode = LZ4F_blockLinked;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    size_t cap = LZ4F_compressFrameBound(n, &prefs);
    uint8_t *z = weir_malloc(cap);
    size_t zn = LZ4F_compressFrame(z, cap, in, n, &prefs);
    REQUIRE(!LZ4F_isError(zn));
    for (int round = 0; round < 2; round++) { /* the second call gets a fresh context */
        buf_t d;
        buf_init(&d);
        CHECK_EQ(storage_codec_decompress(CODEC_LZ4, z, zn, &d, n), 0);
        CHECK(d.len == n && memcmp(d.data, in, n) == 0);
        buf_deinit(&d);
    }
    z[zn - 2] ^= 1; /* the content checksum catches a flipped byte */
    buf_t d;
    buf_init(&d);
    CHECK_EQ(storage_codec_decompress(CODEC_LZ4, z, zn, &d, n), -WEIR_ECORRUPT);
    buf_deinit(&d);
    free(z);
    free(in);
}

TEST(gzip_accepts_zlib_wrapping)
{
    const char *msg = "zlib wrapped, not gzip";
    uint8_t z[128];
    uLongf zlen = sizeof(z);
    REQUIRE(compress2(z, &zlen, (const Bytef *)msg, strlen(msg), 6) == Z_OK);
    buf_t d;
    buf_init(&d);
    CHECK_EQ(storage_codec_decompress(CODEC_GZIP, z, zlen, &d, 100), 0);
    CHECK(d.len == strlen(msg) && memcmp(d.data, msg, d.len) == 0);
    buf_deinit(&d);
}

/* xerial framing written by hand: magic, versions 1/1, then [i32 length][raw snappy block]. */
static void xerial_append_block(buf_t *x, const char *s)
{
    buf_t raw;
    buf_init(&raw);
    WEIR_ASSERT(storage_codec_compress(CODEC_SNAPPY, (const uint8_t *)s, strlen(s), &raw) == 0);
    buf_append_be32(x, (uint32_t)raw.len);
    buf_append(x, raw.data, raw.len);
    buf_deinit(&raw);
}

static void xerial_header(buf_t *x)
{
    static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    buf_append(x, magic, 8);
    buf_append_be32(x, 1);
    buf_append_be32(x, 1);
}

TEST(snappy_xerial_framing)
{
    buf_t x, d;
    buf_init(&x);
    buf_init(&d);
    xerial_header(&x);
    CHECK_EQ(storage_codec_decompress(CODEC_SNAPPY, x.data, x.len, &d, 100), 0); /* no blocks */
    CHECK_EQ(d.len, 0);
    xerial_append_block(&x, "hello, ");
    xerial_append_block(&x, "xerial world");
    CHECK_EQ(storage_codec_decompress(CODEC_SNAPPY, x.data, x.len, &d, 100), 0);
    CHECK(d.len == 19 && memcmp(d.data, "hello, xerial world", 19) == 0);
    /* the bound counts across blocks */
    buf_reset(&d);
    CHECK_EQ(storage_codec_decompress(CODEC_SNAPPY, x.data, x.len, &d, 18), -WEIR_ETOOBIG);
    CHECK_EQ(d.len, 0);
    /* a block length past the end, a negative one, a cut length field */
    be32_write(x.data + 16, 1000);
    CHECK_EQ(storage_codec_decompress(CODEC_SNAPPY, x.data, x.len, &d, 100), -WEIR_ECORRUPT);
    be32_write(x.data + 16, 0x80000000u);
    CHECK_EQ(storage_codec_decompress(CODEC_SNAPPY, x.data, x.len, &d, 100), -WEIR_ECORRUPT);
    x.len = 0;
    xerial_header(&x);
    xerial_append_block(&x, "abc");
    buf_append(&x, "\0\0", 2);
    CHECK_EQ(storage_codec_decompress(CODEC_SNAPPY, x.data, x.len, &d, 100), -WEIR_ECORRUPT);
    CHECK_EQ(d.len, 0);
    buf_deinit(&x);
    buf_deinit(&d);
}

/* A raw snappy block whose length preamble claims far more than its size can expand to is
 * refused before anything is allocated for it. */
TEST(snappy_impossible_length_claim)
{
    /* varint 1 GiB, then a few bytes */
    const uint8_t lie[] = {0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x01, 0x02};
    buf_t d;
    buf_init(&d);
    CHECK_EQ(storage_codec_decompress(CODEC_SNAPPY, lie, sizeof(lie), &d, (size_t)2 << 30),
             -WEIR_ECORRUPT);
    CHECK_EQ(d.cap, 0);
    /* a true length beyond the bound is ETOOBIG, also without allocating */
    uint8_t as[400];
    memset(as, 'a', sizeof(as));
    buf_t z;
    buf_init(&z);
    CHECK_EQ(storage_codec_compress(CODEC_SNAPPY, as, sizeof(as), &z), 0);
    CHECK_EQ(storage_codec_decompress(CODEC_SNAPPY, z.data, z.len, &d, 100), -WEIR_ETOOBIG);
    CHECK_EQ(d.cap, 0);
    buf_deinit(&z);
    buf_deinit(&d);
}

TEST(truncated_and_garbage_input)
{
    uint8_t in[20000];
    fill_pattern(in, sizeof(in), 5);
    const uint8_t garbage[] = "this is not compressed data at all, whatever the codec";
    for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        buf_t z, d;
        buf_init(&z);
        buf_init(&d);
        CHECK_EQ(storage_codec_compress(all_codecs[c], in, sizeof(in), &z), 0);
        size_t cuts[] = {0, 1, z.len / 2, z.len - 1};
        for (size_t k = 0; k < WEIR_ARRAY_LEN(cuts); k++) {
            buf_append(&d, "keep", 4);
            int rc = storage_codec_decompress(all_codecs[c], z.data, cuts[k], &d, sizeof(in));
            if (rc != -WEIR_ECORRUPT)
                fprintf(stderr, "  codec %d cut at %zu of %zu: rc %d\n", all_codecs[c], cuts[k],
                        z.len, rc);
            CHECK_EQ(rc, -WEIR_ECORRUPT);
            CHECK_EQ(d.len, 4);
            buf_reset(&d);
        }
        CHECK_EQ(storage_codec_decompress(all_codecs[c], garbage, sizeof(garbage), &d, 1 << 20),
                 -WEIR_ECORRUPT);
        /* trailing garbage after a complete stream */
        buf_append(&z, "junk", 4);
        CHECK_EQ(storage_codec_decompress(all_codecs[c], z.data, z.len, &d, sizeof(in)),
                 -WEIR_ECORRUPT);
        CHECK_EQ(d.len, 0);
        buf_deinit(&z);
        buf_deinit(&d);
    }
}

/* Regression (fuzzer): an empty snappy block into a buffer with no memory yet used a null
 * destination pointer. Every codec's empty stream decodes into an empty, unallocated buffer. */
TEST(empty_stream_into_empty_buffer)
{
    for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++) {
        buf_t z, d;
        buf_init(&z);
        buf_init(&d);
        CHECK_EQ(storage_codec_compress(all_codecs[c], NULL, 0, &z), 0);
        CHECK_EQ(storage_codec_decompress(all_codecs[c], z.data, z.len, &d, 0), 0);
        CHECK_EQ(d.len, 0);
        buf_deinit(&z);
        buf_deinit(&d);
    }
}

TEST(unknown_codecs)
{
    buf_t d;
    buf_init(&d);
    for (int c = 5; c <= 7; c++) {
        CHECK_EQ(storage_codec_decompress((storage_codec_t)c, (const uint8_t *)"x", 1, &d, 10),
                 -WEIR_EUNSUPPORTED);
        CHECK_EQ(storage_codec_compress((storage_codec_t)c, (const uint8_t *)"x", 1, &d),
                 -WEIR_EUNSUPPORTED);
    }
    CHECK_EQ(storage_codec_decompress(CODEC_NONE, (const uint8_t *)"x", 1, &d, 10),
             -WEIR_EUNSUPPORTED);
    for (size_t c = 0; c < WEIR_ARRAY_LEN(all_codecs); c++) /* no codec encodes as nothing */
        CHECK_EQ(storage_codec_decompress(all_codecs[c], NULL, 0, &d, 10), -WEIR_ECORRUPT);
    CHECK_EQ(d.len, 0);
    buf_deinit(&d);
}

/* Decoder contexts are cached per thread: several threads decoding at once must not share. */
static void *codec_thread(void *arg)
{
    int *failures = arg;
    uint8_t in[30000];
    fill_pattern(in, sizeof(in), 11);
    buf_t z[4], d;
    buf_init(&d);
    for (size_t c = 0; c < 4; c++) {
        buf_init(&z[c]);
        WEIR_ASSERT(storage_codec_compress(all_codecs[c], in, sizeof(in), &z[c]) == 0);
    }
    for (int i = 0; i < 200; i++) {
        size_t c = (size_t)i % 4;
        buf_reset(&d);
        if (storage_codec_decompress(all_codecs[c], z[c].data, z[c].len, &d, sizeof(in)) != 0 ||
            d.len != sizeof(in) || memcmp(d.data, in, sizeof(in)) != 0)
            (*failures)++;
    }
    for (size_t c = 0; c < 4; c++)
        buf_deinit(&z[c]);
    buf_deinit(&d);
    return NULL;
}

TEST(threads_decode_independently)
{
    pthread_t t[4];
    int failures[4] = {0};
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&t[i], NULL, codec_thread, &failures[i]) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ(failures[i], 0);
    }
}

TEST_MAIN()
