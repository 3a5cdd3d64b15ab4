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

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- error codes ---------------------------------------------------------------------------
 * Internal functions return 0 or a negative code from this list. Kafka ErrorCodes are response
 * data and never travel as C return values. */
enum {
    WEIR_OK = 0,
    WEIR_EAGAIN = 1,        /* need more bytes / try again later */
    WEIR_EINVAL = 2,        /* bad argument or malformed input */
    WEIR_ENOMEM = 3,        /* allocation failed or a memory bound was hit */
    WEIR_EIO = 4,           /* an I/O call failed (logged by the caller that knows the file) */
    WEIR_ECORRUPT = 5,      /* data failed a check (CRC, length, magic) */
    WEIR_ENOENT = 6,        /* no such thing */
    WEIR_EEXIST = 7,        /* already exists */
    WEIR_ERANGE = 8,        /* offset or value out of range */
    WEIR_ECLOSED = 9,       /* the object is closed or stopping */
    WEIR_ETIMEDOUT = 10,    /* a deadline passed */
    WEIR_ETOOBIG = 11,      /* a size bound was exceeded */
    WEIR_EOFFLINE = 12,     /* the log refuses service after corruption or a failed sync */
    WEIR_EUNSUPPORTED = 13, /* known but not implemented (codec, version) */
    WEIR_ENOSPC = 14        /* the file system is full (ENOSPC, EDQUOT) */
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

/* ---- base64 (RFC 4648 §4: standard alphabet, padded), as SASL/SCRAM carries bytes -------- */
size_t base64_encoded_len(size_t n);                         /* without the NUL */
size_t base64_encode(const uint8_t *p, size_t n, char *out); /* NUL-terminates; length */
/* Exactly base64 (padding required, no whitespace); the decoded length, or -WEIR_EINVAL, or
 * -WEIR_ETOOBIG past cap. */
int base64_decode(const char *s, size_t len, uint8_t *out, size_t cap);

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

/* ---- metrics: counters, gauges, histograms -----------------------------------------------------
 * Lock-free, for the hot paths: each update is one relaxed atomic add (a histogram: a bucket
 * search over at most METRIC_BUCKETS_MAX bounds and two adds), never a lock or an allocation.
 * The module that measures keeps its metrics in its own structs and lets readers copy them out
 * through accessor functions; any thread may update or read. Readers see each number whole, not
 * the set at one instant (a histogram's _count is the sum of its buckets as read, so the two
 * always agree). Building with -DWEIR_METRICS_OFF turns every update into nothing (the
 * benchmark's "metrics off" build); reads then return zeros. */
typedef struct {
    _Atomic uint64_t v;
} metric_counter_t;

typedef struct {
    _Atomic int64_t v;
} metric_gauge_t;

enum { METRIC_BUCKETS_MAX = 20 };

/* Upper bounds (inclusive, ascending) in the unit observed: ns for durations, a count for
 * sizes. `scale` turns the unit into the exposed base unit (1e-9 for ns -> seconds). */
typedef struct {
    size_t n;
    uint64_t le[METRIC_BUCKETS_MAX];
    double scale;
} metric_buckets_t;

extern const metric_buckets_t metric_buckets_latency; /* 25 us .. 10 s, in ns */
extern const metric_buckets_t metric_buckets_count;   /* 1, 2, 4 .. 4096 */

typedef struct {
    const metric_buckets_t *b;
    _Atomic uint64_t counts[METRIC_BUCKETS_MAX + 1]; /* per bucket, not cumulative; last: +Inf */
    _Atomic uint64_t sum;                            /* of the observed values, in their unit */
} metric_hist_t;

/* A histogram's numbers as read: cumulative bucket counts, as the exposition wants them. */
typedef struct {
    const metric_buckets_t *b;
    uint64_t cumulative[METRIC_BUCKETS_MAX + 1];
    uint64_t count;
    uint64_t sum;
} metric_hist_snap_t;

#ifdef WEIR_METRICS_OFF
#define METRIC_ON 0
#else
#define METRIC_ON 1
#endif

static inline void metric_counter_add(metric_counter_t *c, uint64_t n)
{
    if (METRIC_ON)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}
static inline uint64_t metric_counter_get(const metric_counter_t *c)
{
    return atomic_load_explicit(&((metric_counter_t *)c)->v, memory_order_relaxed);
}
static inline void metric_gauge_add(metric_gauge_t *g, int64_t n)
{
    if (METRIC_ON)
        atomic_fetch_add_explicit(&g->v, n, memory_order_relaxed);
}
static inline void metric_gauge_set(metric_gauge_t *g, int64_t v)
{
    if (METRIC_ON)
        atomic_store_explicit(&g->v, v, memory_order_relaxed);
}
static inline int64_t metric_gauge_get(const metric_gauge_t *g)
{
    return atomic_load_explicit(&((metric_gauge_t *)g)->v, memory_order_relaxed);
}
void metric_hist_init(metric_hist_t *h, const metric_buckets_t *b);
void metric_hist_observe(metric_hist_t *h, uint64_t v);
void metric_hist_read(const metric_hist_t *h, metric_hist_snap_t *out);
/* Adds src's numbers into acc (same buckets): the sum of several histograms, for exposition. */
void metric_hist_snap_add(metric_hist_snap_t *acc, const metric_hist_snap_t *src);

/* ---- metric exposition: the Prometheus text format 0.0.4 and OpenMetrics 1.0 ------------------
 * A writer appends families to a buffer. A family is its # HELP and # TYPE lines followed by
 * all its samples (callers must not interleave families). Counter families are named without
 * "_total"; the writer adds it where each format wants it. Label values are escaped. */
typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type_t;

typedef struct {
    buf_t *out;
    bool openmetrics;
    metric_type_t type; /* of the family being written */
    const char *name;
} metric_writer_t;

typedef struct {
    const char *name;
    const char *value;
} metric_label_t;

#define METRIC_CONTENT_TYPE_TEXT        "text/plain; version=0.0.4; charset=utf-8"
#define METRIC_CONTENT_TYPE_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

void metric_writer_init(metric_writer_t *w, buf_t *out, bool openmetrics);
/* True when an HTTP Accept header asks for OpenMetrics (application/openmetrics-text). */
bool metric_accept_openmetrics(const char *accept);
void metric_family(metric_writer_t *w, const char *name, metric_type_t type, const char *help);
/* One sample of the current family (counter or gauge); labels may be NULL when n is 0. */
void metric_sample_u64(metric_writer_t *w, const metric_label_t *labels, size_t n, uint64_t v);
void metric_sample_i64(metric_writer_t *w, const metric_label_t *labels, size_t n, int64_t v);
void metric_sample_f64(metric_writer_t *w, const metric_label_t *labels, size_t n, double v);
/* The _bucket, _sum and _count samples of one histogram of the current family. */
void metric_sample_hist(metric_writer_t *w, const metric_label_t *labels, size_t n,
                        const metric_hist_snap_t *h);
/* Ends the exposition ("# EOF" for OpenMetrics, nothing for text). */
void metric_writer_finish(metric_writer_t *w);
/* The process's own series (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_open_fds, process_max_fds, process_virtual_memory_bytes, process_start_time_seconds),
 * read from /proc/self. */
void metric_write_process(metric_writer_t *w);

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

/* A message that can repeat fast (a full disk refusing every append, a peer retrying a bad
 * request) is logged at most once per LOG_LIMIT_INTERVAL_MS per call site; the next line it
 * logs ends with how many were left out since the line before: "... (and 2774 more like this
 * in 12 s)". */
typedef struct {
    _Atomic int64_t next_ms;
    _Atomic uint64_t left_out;
} log_limit_t;
enum { LOG_LIMIT_INTERVAL_MS = 10000 };
void log_write_limited(log_limit_t *lim, log_level_t level, const char *module, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
#define log_limited(level, mod, ...)                                                               \
    do {                                                                                           \
        static log_limit_t log_limit_;                                                             \
        log_write_limited(&log_limit_, level, mod, __VA_ARGS__);                                   \
    } while (0)
#define log_warn_limited(mod, ...)  log_limited(LOG_WARN, mod, __VA_ARGS__)
#define log_error_limited(mod, ...) log_limited(LOG_ERROR, mod, __VA_ARGS__)

#endif
