/*
 * Logging: one line per event on stderr, RFC 3339 UTC time, level, module, message. A single
 * write(2) per line keeps lines from different threads whole. log_write_limited lets a call
 * site that can fire thousands of times a second (a full disk) log once per interval, with a
 * count of what it left out.
 */
#include "base/base.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = LOG_INFO;
static const char *const log_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"};

void log_set_level(log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

log_level_t log_get_level(void)
{
    return (log_level_t)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(log_names); i++)
        if (strcasecmp(name, log_names[i]) == 0)
            return (int)i;
    if (strcasecmp(name, "warning") == 0)
        return LOG_WARN;
    return -1;
}

/* One line: the prefix, the message, and `suffix` (may be empty). */
static void log_vwrite(log_level_t level, const char *module, const char *suffix, const char *fmt,
                       va_list ap) __attribute__((format(printf, 4, 0)));
static void log_vwrite(log_level_t level, const char *module, const char *suffix, const char *fmt,
                       va_list ap)
{
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, log_names[level], module);
    size_t room = sizeof(line) - 1; /* the newline's byte */
    size_t len = (size_t)n;
    int m = vsnprintf(line + len, room - len, fmt, ap);
    len += m < 0 ? 0 : WEIR_MIN((size_t)m, room - len - 1);
    m = snprintf(line + len, room - len, "%s", suffix);
    len += m < 0 ? 0 : WEIR_MIN((size_t)m, room - len - 1);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_write(log_level_t level, const char *module, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, module, "", fmt, ap);
    va_end(ap);
}

void log_write_limited(log_limit_t *lim, log_level_t level, const char *module, const char *fmt,
                       ...)
{
    if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    int64_t now = clock_mono_ms();
    int64_t next = atomic_load_explicit(&lim->next_ms, memory_order_relaxed);
    /* One thread wins the interval; the others only count. */
    if (now < next ||
        !atomic_compare_exchange_strong(&lim->next_ms, &next, now + LOG_LIMIT_INTERVAL_MS)) {
        atomic_fetch_add_explicit(&lim->left_out, 1, memory_order_relaxed);
        return;
    }
    uint64_t left_out = atomic_exchange(&lim->left_out, 0);
    char suffix[96] = "";
    if (left_out > 0) /* next: when the line before this one was logged, plus the interval */
        snprintf(suffix, sizeof(suffix), " (and %" PRIu64 " more like this in %" PRId64 " s)",
                 left_out, (now - (next - LOG_LIMIT_INTERVAL_MS) + 500) / 1000);
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, module, suffix, fmt, ap);
    va_end(ap);
}
