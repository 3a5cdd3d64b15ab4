/*
 * bench_common.h: what every benchmark driver shares (bench/bench_weir.c, bench/bench_limits.c and
 * the peer drivers in bench/peers/). Header-only on purpose: the Makefile links each bench/NAME.c
 * as a program of its own, and the peer drivers are built without libweir, so there is no shared
 * object file to put this in. Everything is static inline, so a driver that does not use a helper
 * pays nothing and the compiler does not warn.
 *
 * The contract with the runner (bench/harness.py):
 *   - a driver is called as `driver <workload> --key value ...`; unknown keys are an error;
 *   - it prints lines starting with "# " for humans (settings, progress) and exactly one line
 *     "RESULT {json}" when it is done, even when it stopped early at its deadline;
 *   - it exits 0 when every message it sent was acknowledged and every message it expected was
 *     received once, in order; non-zero otherwise (the RESULT line says what went wrong).
 *
 * Payloads: every message is msg_bytes long and starts with a 16-byte header, the sequence number
 * (u64, little endian) and the send time (CLOCK_MONOTONIC ns, u64), so a consumer can check order
 * and measure end-to-end latency without a side channel. The rest is a fixed pseudo-random fill
 * (compression is off everywhere, so its content does not matter, only that it is not all zero).
 */
#ifndef WEIR_BENCH_COMMON_H
#define WEIR_BENCH_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_HDR_BYTES     16
#define BENCH_MSG_BYTES_MAX (16 << 20)
#define BENCH_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define BENCH_MAX(a, b)     ((a) > (b) ? (a) : (b))
#define BENCH_ARRAY_LEN(a)  (sizeof(a) / sizeof((a)[0]))

/* ---- clocks ------------------------------------------------------------------------------- */
static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps until the absolute monotonic time t_ns. Timer slack is lowered once so a 100 us pacing
 * interval is not rounded up to the default 50 us slack on top of the wakeup cost. */
static inline void bench_sleep_until_ns(int64_t t_ns)
{
    static bool slack_set;
    if (!slack_set) {
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        slack_set = true;
    }
    struct timespec ts = {.tv_sec = t_ns / 1000000000, .tv_nsec = t_ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* ---- fatal errors --------------------------------------------------------------------------- */
static inline void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stdout);
    exit(2);
}

static inline void *bench_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        bench_die("out of memory (%zu bytes)", n);
    return p;
}

/* ---- arguments ----------------------------------------------------------------------------
 * Options are "--name value" pairs after the workload word. Each driver lists the names it
 * knows; bench_args_check() rejects anything else so a typo in the runner cannot silently fall
 * back to a default. */
typedef struct {
    int argc;
    char **argv;
} bench_args_t;

static inline const char *bench_arg_str(const bench_args_t *a, const char *name, const char *def)
{
    for (int i = 2; i + 1 < a->argc; i += 2)
        if (strcmp(a->argv[i], name) == 0)
            return a->argv[i + 1];
    return def;
}

static inline int64_t bench_arg_i64(const bench_args_t *a, const char *name, int64_t def)
{
    const char *s = bench_arg_str(a, name, NULL);
    if (!s)
        return def;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        bench_die("option %s: '%s' is not an integer", name, s);
    return v;
}

static inline double bench_arg_f64(const bench_args_t *a, const char *name, double def)
{
    const char *s = bench_arg_str(a, name, NULL);
    if (!s)
        return def;
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s)
        bench_die("option %s: '%s' is not a number", name, s);
    return v;
}

/* known: NULL-terminated list of accepted option names. */
static inline void bench_args_check(const bench_args_t *a, const char *const *known)
{
    if ((a->argc - 2) % 2 != 0)
        bench_die("options come in '--name value' pairs");
    for (int i = 2; i < a->argc; i += 2) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok = ok || strcmp(a->argv[i], *k) == 0;
        if (!ok)
            bench_die("unknown option %s", a->argv[i]);
    }
}

/* ---- payloads ----------------------------------------------------------------------------- */
static inline void bench_le64_write(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t bench_le64_read(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Fills a whole payload template once (xorshift, fixed seed). */
static inline void bench_payload_init(uint8_t *p, size_t n)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static inline void bench_payload_stamp(uint8_t *p, uint64_t seq, int64_t t_ns)
{
    bench_le64_write(p, seq);
    bench_le64_write(p + 8, (uint64_t)t_ns);
}

static inline uint64_t bench_payload_seq(const uint8_t *p)
{
    return bench_le64_read(p);
}

static inline int64_t bench_payload_time(const uint8_t *p)
{
    return (int64_t)bench_le64_read(p + 8);
}

/* ---- latency samples ---------------------------------------------------------------------
 * Every sample is kept (a run has at most a few hundred thousand), sorted once at the end, and
 * read by nearest rank: no histogram bucketing error in the tail. */
typedef struct {
    int64_t *ns;
    size_t n, cap;
} bench_lat_t;

static inline void bench_lat_add(bench_lat_t *l, int64_t ns)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        int64_t *p = realloc(l->ns, l->cap * sizeof(*p));
        if (!p)
            bench_die("out of memory for latency samples");
        l->ns = p;
    }
    l->ns[l->n++] = ns;
}

static inline int bench_i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Percentile p in [0,1] in microseconds; sorts the samples (call after the run). -1 if empty. */
static inline double bench_lat_pct_us(bench_lat_t *l, double p)
{
    if (l->n == 0)
        return -1;
    qsort(l->ns, l->n, sizeof(int64_t), bench_i64_cmp);
    size_t rank = (size_t)(p * (double)l->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > l->n)
        rank = l->n;
    return (double)l->ns[rank - 1] / 1000.0;
}

static inline void bench_lat_free(bench_lat_t *l)
{
    free(l->ns);
    memset(l, 0, sizeof(*l));
}

/* ---- results ------------------------------------------------------------------------------
 * One RESULT line per run, a flat JSON object the runner parses. */
typedef struct {
    const char *workload;
    const char *config; /* settings that matter for the reading, human words */
    int64_t expected;   /* messages the run was asked for */
    int64_t msgs;       /* messages sent and acknowledged, or received and verified */
    int64_t errors;     /* failed deliveries, gaps, duplicates, bad payloads */
    int64_t msg_bytes;
    int partitions;
    double secs;          /* wall time of the measured part */
    bool capped;          /* stopped by the deadline before `expected` */
    bench_lat_t *lat;     /* the run's latency (ack or end to end), may be NULL */
    bench_lat_t *ack_lat; /* latency_e2e runs: publish->ack at the same time, may be NULL */
    const char *extra;    /* extra "key":value pairs, already JSON, may be NULL */
} bench_result_t;

static inline void bench_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static inline void bench_result_print(const bench_result_t *r)
{
    double secs = r->secs > 0 ? r->secs : 1e-9;
    double rate = (double)r->msgs / secs;
    printf("RESULT {\"workload\":");
    bench_json_str(stdout, r->workload);
    printf(",\"config\":");
    bench_json_str(stdout, r->config);
    printf(",\"expected\":%" PRId64 ",\"msgs\":%" PRId64 ",\"errors\":%" PRId64
           ",\"msg_bytes\":%" PRId64 ",\"partitions\":%d,\"secs\":%.6f,\"capped\":%s"
           ",\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f",
           r->expected, r->msgs, r->errors, r->msg_bytes, r->partitions, r->secs,
           r->capped ? "true" : "false", rate, rate * (double)r->msg_bytes / 1e6);
    if (r->lat && r->lat->n) {
        double p50 = bench_lat_pct_us(r->lat, 0.50), p99 = bench_lat_pct_us(r->lat, 0.99);
        double p999 = bench_lat_pct_us(r->lat, 0.999);
        printf(",\"samples\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f",
               r->lat->n, p50, p99, p999, (double)r->lat->ns[r->lat->n - 1] / 1000.0);
    }
    if (r->ack_lat && r->ack_lat->n) {
        double p50 = bench_lat_pct_us(r->ack_lat, 0.50), p99 = bench_lat_pct_us(r->ack_lat, 0.99);
        double p999 = bench_lat_pct_us(r->ack_lat, 0.999);
        printf(",\"ack_samples\":%zu,\"ack_p50_us\":%.1f,\"ack_p99_us\":%.1f,\"ack_p999_us\":%.1f",
               r->ack_lat->n, p50, p99, p999);
    }
    if (r->extra && *r->extra)
        printf(",%s", r->extra);
    printf("}\n");
    fflush(stdout);
}

/* Exit status of a run: 0 only if everything asked for arrived intact. A capped run that lost
 * nothing is still a success: the deadline is the runner's choice, not a fault. */
static inline int bench_result_status(const bench_result_t *r)
{
    if (r->errors)
        return 1;
    if (!r->capped && r->msgs != r->expected)
        return 1;
    return 0;
}

/* ---- order checking for consumers ---------------------------------------------------------
 * Producers send sequence numbers 0..n-1, message i to partition i % P. A consumer therefore
 * expects, on partition p, exactly p, p+P, p+2P, ... in that order. */
typedef struct {
    int partitions;
    uint64_t next[64];
    int64_t bad;
} bench_order_t;

static inline void bench_order_init(bench_order_t *o, int partitions)
{
    if (partitions < 1 || partitions > 64)
        bench_die("partitions must be 1..64");
    memset(o, 0, sizeof(*o));
    o->partitions = partitions;
    for (int p = 0; p < partitions; p++)
        o->next[p] = (uint64_t)p;
}

/* Returns true if seq is the next expected one on partition p. */
static inline bool bench_order_check(bench_order_t *o, int p, uint64_t seq)
{
    if (p < 0 || p >= o->partitions || seq != o->next[p]) {
        if (o->bad < 5)
            fprintf(stderr, "bench: partition %d: got seq %" PRIu64 ", expected %" PRIu64 "\n", p,
                    seq, p >= 0 && p < o->partitions ? o->next[p] : 0);
        o->bad++;
        return false;
    }
    o->next[p] += (uint64_t)o->partitions;
    return true;
}

/* Many loopback connections need more than the default 1024 descriptors. */
static inline void bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* "host:port" -> host (static buffer) and port. */
static inline void bench_split_addr(const char *addr, char *host, size_t host_cap, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= host_cap)
        bench_die("address '%s' is not host:port", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    *port = atoi(colon + 1);
    if (*port <= 0 || *port > 65535)
        bench_die("bad port in '%s'", addr);
}

#endif
