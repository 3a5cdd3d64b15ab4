/*
 * codec: the four compression codecs of Kafka record batches, over zlib, libsnappy, liblz4 and
 * libzstd. gzip is a gzip stream (zlib-wrapped and concatenated members are accepted too);
 * snappy is raw on write and raw or xerial-framed on read (kafka-python and the Java client
 * frame it); lz4 is the lz4 frame format; zstd is a zstd frame, read with the streaming decoder
 * so a frame without a content size still works.
 *
 * Invariant: decompression never produces more than max_out bytes and never allocates more
 * than about twice max_out for the output, whatever the input claims. Output grows by doubling
 * as bytes actually come out of the decoder; the only size taken from the input before decoding
 * is a snappy block's length, and that is checked against both the bound and what a snappy block
 * of that compressed size can possibly expand to. On any error the output buffer is left as it
 * was (len restored).
 *
 * Decoder contexts (zlib's inflate state, ZSTD_DCtx, LZ4F_dctx) are cached per thread: creating
 * them costs more than decoding a small batch. A context that grew large is dropped after use so
 * one big batch does not pin memory in every thread.
 */
#include "storage/storage.h"

#include <limits.h>
#include <lz4frame.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* ---- per-thread decoder contexts ------------------------------------------------------------ */

typedef struct {
    bool z_ready;
    z_stream z;
    ZSTD_DCtx *zstd;
    LZ4F_dctx *lz4;
} codec_cache_t;

/* A zstd context bigger than this after a call is freed (its window buffer stays allocated). */
#define CODEC_ZSTD_KEEP_BYTES (4u << 20)

static pthread_key_t codec_cache_key;
static pthread_once_t codec_cache_once = PTHREAD_ONCE_INIT;
/* Also kept in a TLS variable, so the pointer stays reachable (and fast to get) while the thread
 * lives; the key's destructor frees it when the thread exits. */
static _Thread_local codec_cache_t *codec_cache_tls;

static void codec_cache_free(void *arg)
{
    codec_cache_t *cache = arg;
    if (!cache)
        return;
    if (cache->z_ready)
        inflateEnd(&cache->z);
    ZSTD_freeDCtx(cache->zstd);
    if (cache->lz4)
        LZ4F_freeDecompressionContext(cache->lz4);
    free(cache);
    codec_cache_tls = NULL;
}

static void codec_cache_key_make(void)
{
    WEIR_ASSERT(pthread_key_create(&codec_cache_key, codec_cache_free) == 0);
}

static codec_cache_t *codec_cache(void)
{
    if (codec_cache_tls)
        return codec_cache_tls;
    pthread_once(&codec_cache_once, codec_cache_key_make);
    codec_cache_t *cache = weir_calloc(1, sizeof(*cache));
    WEIR_ASSERT(pthread_setspecific(codec_cache_key, cache) == 0);
    codec_cache_tls = cache;
    return cache;
}

/* ---- bounded output ---------------------------------------------------------------------------
 * Decoders write into out->data[out->len ..]. `limit` is max_out + 1, so that a stream holding
 * exactly max_out bytes passes and one byte more is seen as too big. */

static size_t codec_limit(size_t max_out)
{
    return max_out == SIZE_MAX ? SIZE_MAX : max_out + 1;
}

/* Room to write into, at most limit - produced; grows out (doubling what was produced so far,
 * starting from `hint`) when it is full. Returns 0 only when the limit is reached. */
static size_t codec_room(buf_t *out, size_t start, size_t limit, size_t hint)
{
    size_t produced = out->len - start;
    if (produced >= limit)
        return 0;
    size_t allowed = limit - produced;
    if (out->cap == out->len) {
        size_t want = WEIR_MAX(WEIR_MAX(hint, produced), (size_t)4096);
        buf_reserve(out, WEIR_MIN(want, allowed));
    }
    return WEIR_MIN(out->cap - out->len, allowed);
}

/* ---- gzip ------------------------------------------------------------------------------------ */

static int codec_gzip_decompress(const uint8_t *in, size_t in_len, buf_t *out, size_t limit)
{
    codec_cache_t *cache = codec_cache();
    z_stream *z = &cache->z;
    if (!cache->z_ready) {
        memset(z, 0, sizeof(*z));
        /* 15 + 32: a gzip or zlib header, detected automatically. */
        if (inflateInit2(z, 15 + 32) != Z_OK)
            return -WEIR_ENOMEM;
        cache->z_ready = true;
    } else if (inflateReset(z) != Z_OK) {
        return -WEIR_EINVAL;
    }
    size_t start = out->len, in_left = in_len;
    z->next_in = (Bytef *)in;
    z->avail_in = 0;
    for (;;) {
        if (z->avail_in == 0) {
            uInt chunk = (uInt)WEIR_MIN(in_left, (size_t)UINT_MAX);
            z->avail_in = chunk;
            in_left -= chunk;
        }
        size_t room = codec_room(out, start, limit, in_len * 4);
        if (room == 0)
            return -WEIR_ETOOBIG;
        uInt avail_out = (uInt)WEIR_MIN(room, (size_t)UINT_MAX);
        z->next_out = out->data + out->len;
        z->avail_out = avail_out;
        int zr = inflate(z, Z_NO_FLUSH);
        out->len += avail_out - z->avail_out;
        if (zr == Z_STREAM_END) {
            if (z->avail_in == 0 && in_left == 0)
                return 0;
            /* Another gzip member follows (gzip allows concatenation, as Java's reader does). */
            if (inflateReset(z) != Z_OK)
                return -WEIR_ECORRUPT;
            continue;
        }
        if (zr == Z_BUF_ERROR) {
            /* No progress: either the output is full (loop grows it) or the input ran out. */
            if (z->avail_out != 0 && in_left == 0)
                return -WEIR_ECORRUPT;
            continue;
        }
        if (zr != Z_OK)
            return zr == Z_MEM_ERROR ? -WEIR_ENOMEM : -WEIR_ECORRUPT;
        if (z->avail_in == 0 && in_left == 0 && z->avail_out != 0)
            return -WEIR_ECORRUPT; /* truncated stream: all input used, no end seen */
    }
}

static int codec_gzip_compress(const uint8_t *in, size_t in_len, buf_t *out, int level)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (level < 1 || level > 9)
        level = Z_DEFAULT_COMPRESSION;
    /* 15 + 16: a gzip header and trailer, as Kafka's gzip codec writes. */
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -WEIR_ENOMEM;
    WEIR_ASSERT(in_len <= UINT_MAX);
    size_t bound = deflateBound(&z, (uLong)in_len) + 32;
    buf_reserve(out, bound);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)in_len;
    z.next_out = out->data + out->len;
    z.avail_out = (uInt)WEIR_MIN(bound, (size_t)UINT_MAX);
    int zr = deflate(&z, Z_FINISH);
    size_t produced = (size_t)(z.next_out - (out->data + out->len));
    deflateEnd(&z);
    if (zr != Z_STREAM_END)
        return -WEIR_EINVAL;
    out->len += produced;
    return 0;
}

/* ---- snappy ---------------------------------------------------------------------------------- */

static const uint8_t codec_xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
enum { CODEC_XERIAL_HEADER = 16 }; /* magic, i32 version, i32 compatible version */

/* A snappy element expands at most 64 bytes from 3 (a copy with a 2-byte offset), so a block
 * can never hold more than 22 times its compressed size: a larger claim is a lie. */
static int codec_snappy_block(const uint8_t *in, size_t in_len, buf_t *out, size_t start,
                              size_t limit)
{
    size_t n;
    if (snappy_uncompressed_length((const char *)in, in_len, &n) != SNAPPY_OK)
        return -WEIR_ECORRUPT;
    if (n / 22 > in_len)
        return -WEIR_ECORRUPT;
    size_t produced = out->len - start;
    if (n >= limit - produced)
        return -WEIR_ETOOBIG; /* would reach limit = max_out + 1 */
    buf_reserve(out, n);
    char empty; /* an empty block still gets a valid destination pointer */
    char *dst = n ? (char *)out->data + out->len : &empty;
    size_t got = n;
    if (snappy_uncompress((const char *)in, in_len, dst, &got) != SNAPPY_OK || got != n)
        return -WEIR_ECORRUPT;
    out->len += n;
    return 0;
}

static int codec_snappy_decompress(const uint8_t *in, size_t in_len, buf_t *out, size_t limit)
{
    size_t start = out->len;
    if (in_len < CODEC_XERIAL_HEADER || memcmp(in, codec_xerial_magic, 8) != 0)
        return codec_snappy_block(in, in_len, out, start, limit);
    /* xerial: [magic][i32 version][i32 compatible version] then [i32 BE length][raw block]... */
    size_t pos = CODEC_XERIAL_HEADER;
    while (pos < in_len) {
        if (in_len - pos < 4)
            return -WEIR_ECORRUPT;
        int32_t blen = (int32_t)be32_read(in + pos);
        pos += 4;
        if (blen < 0 || (size_t)blen > in_len - pos)
            return -WEIR_ECORRUPT;
        int rc = codec_snappy_block(in + pos, (size_t)blen, out, start, limit);
        if (rc)
            return rc;
        pos += (size_t)blen;
    }
    return 0;
}

static int codec_snappy_compress(const uint8_t *in, size_t in_len, buf_t *out)
{
    size_t n = snappy_max_compressed_length(in_len);
    buf_reserve(out, n);
    if (snappy_compress((const char *)in, in_len, (char *)out->data + out->len, &n) != SNAPPY_OK)
        return -WEIR_EINVAL;
    out->len += n;
    return 0;
}

/* ---- lz4 frame ------------------------------------------------------------------------------- */

static int codec_lz4_run(LZ4F_dctx *dctx, const uint8_t *in, size_t in_len, buf_t *out,
                         size_t limit)
{
    size_t start = out->len, pos = 0, ret = 1;
    while (pos < in_len) {
        size_t room = codec_room(out, start, limit, in_len * 4);
        if (room == 0)
            return -WEIR_ETOOBIG;
        size_t src_n = in_len - pos, dst_n = room;
        ret = LZ4F_decompress(dctx, out->data + out->len, &dst_n, in + pos, &src_n, NULL);
        if (LZ4F_isError(ret)) {
            LZ4F_resetDecompressionContext(dctx);
            return -WEIR_ECORRUPT;
        }
        if (src_n == 0 && dst_n == 0) {
            LZ4F_resetDecompressionContext(dctx);
            return -WEIR_ECORRUPT; /* no progress: cannot happen with input and room */
        }
        pos += src_n;
        out->len += dst_n;
        /* ret == 0: a frame ended; another may follow (the loop goes on while input remains). */
    }
    /* Input used up: the last frame must have ended and everything been flushed. */
    while (ret != 0) {
        size_t room = codec_room(out, start, limit, in_len * 4);
        if (room == 0)
            return -WEIR_ETOOBIG;
        size_t src_n = 0, dst_n = room;
        ret = LZ4F_decompress(dctx, out->data + out->len, &dst_n, in + pos, &src_n, NULL);
        if (LZ4F_isError(ret) || dst_n == 0) {
            LZ4F_resetDecompressionContext(dctx);
            return -WEIR_ECORRUPT; /* truncated frame */
        }
        out->len += dst_n;
    }
    return 0;
}

/* The block size a frame asks for (its BD byte): 4 (64 KiB) .. 7 (4 MiB); 0 if not a frame. */
static int codec_lz4_block_id(const uint8_t *in, size_t in_len)
{
    static const uint8_t magic[4] = {0x04, 0x22, 0x4d, 0x18}; /* 0x184D2204, little endian */
    if (in_len < 6 || memcmp(in, magic, 4) != 0)
        return 0;
    return (in[5] >> 4) & 7;
}

static int codec_lz4_decompress(const uint8_t *in, size_t in_len, buf_t *out, size_t limit)
{
    codec_cache_t *cache = codec_cache();
    if (!cache->lz4) {
        if (LZ4F_isError(LZ4F_createDecompressionContext(&cache->lz4, LZ4F_VERSION))) {
            cache->lz4 = NULL;
            return -WEIR_ENOMEM;
        }
    }
    LZ4F_resetDecompressionContext(cache->lz4);
    int rc = codec_lz4_run(cache->lz4, in, in_len, out, limit);
    /* A context that decoded 1 MiB or 4 MiB blocks keeps buffers that large: drop it. */
    if (codec_lz4_block_id(in, in_len) >= 6) {
        LZ4F_freeDecompressionContext(cache->lz4);
        cache->lz4 = NULL;
    }
    return rc;
}

static int codec_lz4_compress(const uint8_t *in, size_t in_len, buf_t *out, int level)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    /* Kafka's levels (1-17, default 9) are lz4's high-compression ones; liblz4 stops at 12. */
    prefs.compressionLevel = level > 0 ? WEIR_MIN(level, 12) : 0;
    prefs.frameInfo.blockSizeID = LZ4F_max64KB; /* as Kafka's own lz4 writer uses */
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentSize = in_len;
    size_t bound = LZ4F_compressFrameBound(in_len, &prefs);
    buf_reserve(out, bound);
    size_t n = LZ4F_compressFrame(out->data + out->len, bound, in, in_len, &prefs);
    if (LZ4F_isError(n))
        return -WEIR_EINVAL;
    out->len += n;
    return 0;
}

/* ---- zstd ------------------------------------------------------------------------------------ */

/* The largest window a frame may ask for: no more than the output bound needs, but at least
 * 8 MiB (the window every zstd decoder is expected to support, and what streaming writers such
 * as the Java client's use), and at most zstd's default limit of 128 MiB. */
static int codec_zstd_window_log(size_t max_out)
{
    int log = 23;
    while (log < 27 && ((size_t)1 << log) < max_out)
        log++;
    return log;
}

static int codec_zstd_decompress(const uint8_t *in, size_t in_len, buf_t *out, size_t max_out,
                                 size_t limit)
{
    codec_cache_t *cache = codec_cache();
    if (!cache->zstd && !(cache->zstd = ZSTD_createDCtx()))
        return -WEIR_ENOMEM;
    ZSTD_DCtx *dctx = cache->zstd;
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(
            ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, codec_zstd_window_log(max_out))))
        return -WEIR_EINVAL;
    /* With the frame's content size known and within the bound, room for all of it lets zstd
     * decode in one pass without its own window buffer. */
    size_t hint = in_len * 4;
    unsigned long long csize = ZSTD_getFrameContentSize(in, in_len);
    if (csize != ZSTD_CONTENTSIZE_UNKNOWN && csize != ZSTD_CONTENTSIZE_ERROR && csize <= max_out)
        hint = (size_t)csize + 1;
    size_t start = out->len, ret = 1;
    ZSTD_inBuffer ib = {in, in_len, 0};
    int rc = 0;
    while (ib.pos < ib.size || ret != 0) {
        size_t room = codec_room(out, start, limit, hint);
        if (room == 0) {
            rc = -WEIR_ETOOBIG;
            break;
        }
        ZSTD_outBuffer ob = {out->data + out->len, room, 0};
        size_t in_before = ib.pos;
        ret = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(ret)) {
            rc = ZSTD_getErrorCode(ret) == ZSTD_error_memory_allocation ? -WEIR_ENOMEM
                                                                        : -WEIR_ECORRUPT;
            break;
        }
        out->len += ob.pos;
        if (ret != 0 && ob.pos == 0 && ib.pos == in_before && ib.pos == ib.size) {
            rc = -WEIR_ECORRUPT; /* truncated frame: no input left and nothing comes out */
            break;
        }
    }
    if (ZSTD_sizeof_DCtx(dctx) > CODEC_ZSTD_KEEP_BYTES) {
        ZSTD_freeDCtx(dctx);
        cache->zstd = NULL;
    }
    return rc;
}

static int codec_zstd_compress(const uint8_t *in, size_t in_len, buf_t *out, int level)
{
    size_t bound = ZSTD_compressBound(in_len);
    buf_reserve(out, bound);
    if (level == 0)
        level = ZSTD_CLEVEL_DEFAULT;
    size_t n = ZSTD_compress(out->data + out->len, bound, in, in_len, level);
    if (ZSTD_isError(n))
        return -WEIR_EINVAL;
    out->len += n;
    return 0;
}

/* ---- entry points ---------------------------------------------------------------------------- */

int storage_codec_decompress(storage_codec_t codec, const uint8_t *in, size_t in_len, buf_t *out,
                             size_t max_out)
{
    size_t start = out->len, limit = codec_limit(max_out);
    if (codec < CODEC_GZIP || codec > CODEC_ZSTD)
        return -WEIR_EUNSUPPORTED;
    if (in_len == 0)
        return -WEIR_ECORRUPT; /* no codec has an empty encoding */
    int rc;
    switch (codec) {
    case CODEC_GZIP:
        rc = codec_gzip_decompress(in, in_len, out, limit);
        break;
    case CODEC_SNAPPY:
        rc = codec_snappy_decompress(in, in_len, out, limit);
        break;
    case CODEC_LZ4:
        rc = codec_lz4_decompress(in, in_len, out, limit);
        break;
    case CODEC_ZSTD:
        rc = codec_zstd_decompress(in, in_len, out, max_out, limit);
        break;
    default:
        return -WEIR_EUNSUPPORTED;
    }
    if (rc == 0 && out->len - start > max_out)
        rc = -WEIR_ETOOBIG;
    if (rc)
        out->len = start;
    return rc;
}

int storage_codec_compress_level(storage_codec_t codec, int level, const uint8_t *in, size_t in_len,
                                 buf_t *out)
{
    switch (codec) {
    case CODEC_GZIP:
        return codec_gzip_compress(in, in_len, out, level);
    case CODEC_SNAPPY:
        return codec_snappy_compress(in, in_len, out);
    case CODEC_LZ4:
        return codec_lz4_compress(in, in_len, out, level);
    case CODEC_ZSTD:
        return codec_zstd_compress(in, in_len, out, level);
    default:
        return -WEIR_EUNSUPPORTED;
    }
}

int storage_codec_compress(storage_codec_t codec, const uint8_t *in, size_t in_len, buf_t *out)
{
    return storage_codec_compress_level(codec, 0, in, in_len, out);
}
