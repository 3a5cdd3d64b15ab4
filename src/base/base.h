/*
 * base: the vocabulary every other module speaks. Error codes, asserts, a growable byte buffer,
 * big-endian and varint codecs, CRC-32C, clocks and logging.
 *
 * Names here are short (buf_, crc32c, varint_, be32_, clock_, log_) because they are used on
 * nearly every line of the rest of the code, the way redis uses sds and librdkafka rd_.
 * Everything in this header is safe to call from any thread unless it says otherwise.
 */
#ifndef WEIR_BASE_H
#define WEIR_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- error codes ---------------------------------------------------------------------------
 * Internal functions return 0 or a negative code from this list. Kafka ErrorCodes are response
 * data and never travel as C return values. */
enum {
    WEIR_OK = 0,
    WEIR_EAGAIN = 1,       /* need more bytes / try again later */
    WEIR_EINVAL = 2,       /* bad argument or malformed input */
    WEIR_ENOMEM = 3,       /* allocation failed or a memory bound was hit */
    WEIR_EIO = 4,          /* an I/O call failed (errno logged where it happened) */
    WEIR_ECORRUPT = 5,     /* data failed a check (CRC, length, magic) */
    WEIR_ENOENT = 6,       /* no such thing */
    WEIR_EEXIST = 7,       /* already exists */
    WEIR_ERANGE = 8,       /* offset or value out of range */
    WEIR_ECLOSED = 9,      /* the object is closed or stopping */
    WEIR_ETIMEDOUT = 10,   /* a deadline passed */
    WEIR_ETOOBIG = 11,     /* a size bound was exceeded */
    WEIR_EOFFLINE = 12,    /* the log refuses service after corruption or a failed sync */
    WEIR_EUNSUPPORTED = 13 /* known but not implemented (codec, version) */
};
const char *weir_strerror(int err); /* accepts err or -err */

/* ---- asserts --------------------------------------------------------------------------------
 * WEIR_ASSERT stays on in release builds: it guards programmer errors, never bad input.
 * WEIR_DASSERT is for checks too costly for release. ALWAYS/NEVER (SQLite's) mark defensive
 * branches that "cannot happen": they assert in debug builds and stay safe in release. */
void weir_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define WEIR_ASSERT(c) ((c) ? (void)0 : weir_assert_fail(#c, __FILE__, __LINE__))
#ifdef NDEBUG
#define WEIR_DASSERT(c) ((void)0)
#define ALWAYS(x)       (x)
#define NEVER(x)        (x)
#else
#define WEIR_DASSERT(c) WEIR_ASSERT(c)
#define ALWAYS(x)       ((x) ? 1 : (weir_assert_fail(#x, __FILE__, __LINE__), 0))
#define NEVER(x)        ((x) ? (weir_assert_fail(#x, __FILE__, __LINE__), 1) : 0)
#endif
#define WEIR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The struct of type `type` whose member `member` is at ptr. */
#define WEIR_CONTAINER_OF(ptr, type, member)                                                       \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define WEIR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define WEIR_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Allocation that never returns NULL: running out of memory for a bounded structure is not a
 * condition the broker can serve through, so it aborts with a message. Sizes from the wire must
 * be checked against their bounds *before* they reach these. */
void *weir_malloc(size_t n);
void *weir_calloc(size_t n, size_t size);
void *weir_realloc(void *p, size_t n);
char *weir_strdup(const char *s);
char *weir_strndup(const char *s, size_t n);

/* ---- buf: growable byte buffer ---------------------------------------------------------------
 * Owns data[0..len). Appends grow by doubling. A zeroed buf_t is a valid empty buffer. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} buf_t;

void buf_init(buf_t *b);
void buf_deinit(buf_t *b);            /* frees data, leaves an empty buffer */
void buf_reserve(buf_t *b, size_t n); /* room for n more bytes */
void buf_reset(buf_t *b);             /* len = 0, keeps capacity */
void buf_append(buf_t *b, const void *p, size_t n);
void buf_append_u8(buf_t *b, uint8_t v);
void buf_append_be16(buf_t *b, uint16_t v);
void buf_append_be32(buf_t *b, uint32_t v);
void buf_append_be64(buf_t *b, uint64_t v);
void buf_append_uvarint(buf_t *b, uint64_t v);
void buf_append_varint(buf_t *b, int64_t v); /* zigzag */
void buf_append_str(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint8_t *buf_extend(buf_t *b, size_t n); /* len += n, returns pointer to the new n bytes */
void buf_consume(buf_t *b, size_t n);    /* drops the first n bytes (memmove) */

/* ---- big endian ------------------------------------------------------------------------------ */
static inline uint16_t be16_read(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t be32_read(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64_read(const uint8_t *p)
{
    return (uint64_t)be32_read(p) << 32 | be32_read(p + 4);
}
static inline void be16_write(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void be32_write(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void be64_write(uint8_t *p, uint64_t v)
{
    be32_write(p, (uint32_t)(v >> 32));
    be32_write(p + 4, (uint32_t)v);
}

/* ---- varints (Kafka / protobuf encoding) -----------------------------------------------------
 * Decoders take [p, end) and return the number of bytes used, or 0 if the varint is
 * unterminated within the bytes present or longer than its type allows (5 bytes for 32-bit,
 * 10 for 64-bit). Encoders write at most 10 bytes and return the count. */
size_t varint_decode_u64(const uint8_t *p, const uint8_t *end, uint64_t *out);
size_t varint_decode_u32(const uint8_t *p, const uint8_t *end, uint32_t *out);
size_t varint_decode_i64(const uint8_t *p, const uint8_t *end, int64_t *out); /* zigzag */
size_t varint_decode_i32(const uint8_t *p, const uint8_t *end, int32_t *out); /* zigzag */
size_t varint_encode_u64(uint8_t *p, uint64_t v);
size_t varint_encode_i64(uint8_t *p, int64_t v); /* zigzag */
size_t varint_size_u64(uint64_t v);
size_t varint_size_i64(int64_t v);
static inline uint64_t zigzag_encode(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t zigzag_decode(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- base64url (RFC 4648 §5, no padding), as Kafka prints cluster and topic ids ---------------
 * encode writes ceil(n*8/6) characters and a NUL into out; decode returns the byte count or
 * -WEIR_EINVAL for a string that is not exactly base64url, -WEIR_ETOOBIG past cap. */
size_t base64url_encode(const uint8_t *p, size_t n, char *out);
int base64url_decode(const char *s, size_t len, uint8_t *out, size_t cap);

/* ---- CRC-32C (Castagnoli), as Kafka record batches use ----------------------------------------
 * crc32c() picks the SSE4.2 path when the CPU has it. `crc` is the running value: pass 0 to
 * start. The two paths are exported so tests can check them against each other. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n);
uint32_t crc32c_hw(uint32_t crc, const void *p, size_t n); /* only if crc32c_hw_available() */
bool crc32c_hw_available(void);

/* ---- clocks ----------------------------------------------------------------------------------
 * Monotonic for timeouts and durations, wall clock for record timestamps (Kafka: ms since the
 * epoch). Tests can replace the wall clock with clock_wall_set_override(). */
int64_t clock_mono_ns(void);
int64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);
void clock_wall_set_override(int64_t ms); /* -1 restores the real clock */

/* ---- logging ---------------------------------------------------------------------------------
 * One line per event on stderr: "2026-11-26T14:00:00.123Z INFO  storage: message". */
typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL } log_level_t;
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
int log_level_parse(const char *name); /* "debug".."fatal" -> level, or -1 */
void log_write(log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_debug(mod, ...)                                                                        \
    do {                                                                                           \
        if (log_get_level() <= LOG_DEBUG)                                                          \
            log_write(LOG_DEBUG, mod, __VA_ARGS__);                                                \
    } while (0)
#define log_info(mod, ...)  log_write(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_write(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_ERROR, mod, __VA_ARGS__)

#endif
