/*
 * Times, durations and offset specs as the `weir` commands accept them: RFC 3339 times and
 * epoch milliseconds, relative times ("-1h"), durations ("1h30m"), and the consume / seek offset
 * grammar (start, end, N, +N, -N, @time). Pure functions: no I/O, no clock (callers pass now).
 *
 * Invariant: every parser either consumes its whole input and returns 0, or returns
 * -WEIR_EINVAL / -WEIR_ERANGE and leaves its output untouched.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

void cli_time_format(int64_t ms, char *out, size_t out_size)
{
    int64_t sec = ms / 1000, rem = ms % 1000;
    if (rem < 0) { /* floor for times before 1970 */
        rem += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, out_size, "%" PRId64, ms);
        return;
    }
    snprintf(out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
}

/* Reads exactly n digits at *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* The zone part of an RFC 3339 time: Z, or +HH:MM / -HH:MM; none means UTC. */
static bool parse_zone(const char **p, int64_t *offset_ms)
{
    *offset_ms = 0;
    if (**p == '\0')
        return true;
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        return true;
    }
    if (**p != '+' && **p != '-')
        return false;
    int sign = **p == '-' ? -1 : 1, hh, mm;
    (*p)++;
    if (!digits(p, 2, &hh) || !expect(p, ':') || !digits(p, 2, &mm) || hh > 23 || mm > 59)
        return false;
    *offset_ms = sign * ((int64_t)hh * 3600 + mm * 60) * 1000;
    return true;
}

static int parse_rfc3339(const char *s, int64_t *ms)
{
    const char *p = s;
    int Y, M, D, h = 0, m = 0, sec = 0, frac_ms = 0;
    if (!digits(&p, 4, &Y) || !expect(&p, '-') || !digits(&p, 2, &M) || !expect(&p, '-') ||
        !digits(&p, 2, &D))
        return -WEIR_EINVAL;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &m))
            return -WEIR_EINVAL;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return -WEIR_EINVAL;
            if (*p == '.') {
                p++;
                int n = 0, scale = 100;
                while (isdigit((unsigned char)*p)) {
                    frac_ms += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                    n++;
                }
                if (n == 0)
                    return -WEIR_EINVAL;
            }
        }
    }
    int64_t zone_ms;
    if (!parse_zone(&p, &zone_ms) || *p != '\0')
        return -WEIR_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -WEIR_ERANGE;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    /* timegm normalises 31 February into March: refuse dates that moved. */
    if (tm.tm_mday != D || tm.tm_mon != M - 1)
        return -WEIR_ERANGE;
    *ms = (int64_t)t * 1000 + frac_ms - zone_ms;
    return 0;
}

int cli_duration_parse(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return -WEIR_EINVAL;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -WEIR_EINVAL;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > INT64_MAX / 10 - 10)
                return -WEIR_ERANGE;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'm') {
            unit = 60 * 1000;
            p++;
        } else if (*p == 'h') {
            unit = 3600 * 1000;
            p++;
        } else if (*p == 'd') {
            unit = 24 * 3600 * 1000;
            p++;
        } else if (*p == 'w') {
            unit = 7 * 24 * 3600 * 1000LL;
            p++;
        } else {
            return -WEIR_EINVAL; /* a bare number is ambiguous: say the unit */
        }
        if (v > (INT64_MAX - total) / unit)
            return -WEIR_ERANGE;
        total += v * unit;
    }
    *ms = total;
    return 0;
}

int cli_time_parse(const char *s, int64_t now_ms, int64_t *ms)
{
    if (!s || !*s)
        return -WEIR_EINVAL;
    if (strcmp(s, "now") == 0) {
        *ms = now_ms;
        return 0;
    }
    if (s[0] == '-') {
        int64_t d;
        int rc = cli_duration_parse(s + 1, &d);
        if (rc != 0)
            return rc;
        *ms = now_ms - d;
        return 0;
    }
    bool all_digits = true;
    for (const char *p = s; *p; p++)
        all_digits = all_digits && isdigit((unsigned char)*p);
    if (all_digits)
        return cli_parse_i64(s, 0, INT64_MAX, ms);
    return parse_rfc3339(s, ms);
}

static bool is_count(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

int cli_offset_spec_parse(const char *s, int64_t now_ms, cli_offset_spec_t *spec)
{
    static const struct {
        const char *name;
        cli_offset_kind_t kind;
    } words[] = {{"start", CLI_OFF_START},  {"beginning", CLI_OFF_START},
                 {"oldest", CLI_OFF_START}, {"earliest", CLI_OFF_START},
                 {"end", CLI_OFF_END},      {"newest", CLI_OFF_END},
                 {"latest", CLI_OFF_END}};
    if (!s || !*s)
        return -WEIR_EINVAL;
    for (size_t i = 0; i < WEIR_ARRAY_LEN(words); i++) {
        if (strcmp(s, words[i].name) == 0) {
            *spec = (cli_offset_spec_t){words[i].kind, 0};
            return 0;
        }
    }
    cli_offset_kind_t kind;
    int64_t v;
    int rc;
    if (is_count(s)) {
        kind = CLI_OFF_EXACT;
        rc = cli_parse_i64(s, 0, INT64_MAX, &v);
    } else if ((s[0] == '+' || s[0] == '-') && is_count(s + 1)) {
        kind = s[0] == '+' ? CLI_OFF_FROM_START : CLI_OFF_FROM_END;
        rc = cli_parse_i64(s + 1, 0, INT64_MAX, &v);
    } else {
        kind = CLI_OFF_TIME;
        rc = cli_time_parse(s[0] == '@' ? s + 1 : s, now_ms, &v);
    }
    if (rc != 0)
        return rc;
    *spec = (cli_offset_spec_t){kind, v};
    return 0;
}

static int64_t clamp(int64_t v, int64_t low, int64_t high)
{
    return v < low ? low : v > high ? high : v;
}

int64_t cli_offset_spec_resolve(const cli_offset_spec_t *spec, int64_t low, int64_t high,
                                int64_t time_offset)
{
    switch (spec->kind) {
    case CLI_OFF_START:
        return low;
    case CLI_OFF_END:
        return high;
    case CLI_OFF_EXACT:
        return clamp(spec->value, low, high);
    case CLI_OFF_FROM_START:
        return spec->value > high - low ? high : low + spec->value;
    case CLI_OFF_FROM_END:
        return spec->value > high - low ? low : high - spec->value;
    case CLI_OFF_TIME:
        return time_offset < 0 ? high : clamp(time_offset, low, high);
    }
    return low;
}
