/*
 * Config values as Kafka's ConfigDef reads them: the text of a value is trimmed, parsed by the
 * config's type (BOOLEAN, INT, SHORT, LONG, DOUBLE, STRING, LIST, CLASS, PASSWORD), checked
 * against its bounds or accepted values, and normalized the way Kafka prints a value back in
 * DescribeConfigs ("TRUE" -> "true", " 5" -> "5", "a , b" -> "a,b", ".5" -> "0.5"). A bad
 * value gets Kafka's own message: "Invalid value x for configuration k: Not a number of type
 * INT", "... Value must be at least 1048576", "... String must be one of: compact, delete".
 *
 * Invariant: a value that passes broker_cfg_parse parses again to the same normalized text.
 */
#include "broker/broker_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* Java's String.trim(): every char <= ' ' at either end. */
static void trim_span(const char *v, const char **start, size_t *len)
{
    size_t n = strlen(v);
    while (n && (unsigned char)*v <= ' ')
        v++, n--;
    while (n && (unsigned char)v[n - 1] <= ' ')
        n--;
    *start = v;
    *len = n;
}

static void bad(char *err, size_t err_len, const char *name, const char *shown, const char *why)
{
    snprintf(err, err_len, "Invalid value %s for configuration %s: %s", shown, name, why);
}

/* Integer.parseInt / Long.parseLong: an optional sign and decimal digits, in the type's range. */
static bool parse_java_int(const char *p, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
    size_t i = (n && (p[0] == '+' || p[0] == '-')) ? 1 : 0;
    if (i == n)
        return false;
    for (size_t j = i; j < n; j++)
        if (!isdigit((unsigned char)p[j]))
            return false;
    char tmp[32];
    if (n >= sizeof(tmp))
        return false;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    errno = 0;
    long long x = strtoll(tmp, NULL, 10);
    if (errno || x < lo || x > hi)
        return false;
    *out = x;
    return true;
}

/* Double.parseDouble, near enough: what strtod takes, plus Java's d/f suffix and its names. */
static bool parse_java_double(const char *p, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    if (strcmp(tmp, "NaN") == 0 || strcmp(tmp, "Infinity") == 0 || strcmp(tmp, "+Infinity") == 0 ||
        strcmp(tmp, "-Infinity") == 0) {
        *out = tmp[0] == 'N' ? NAN : tmp[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (strchr("dDfF", tmp[n - 1]))
        tmp[--n] = 0;
    for (size_t i = 0; i < n; i++) /* C's "inf", "nan" and the like are not Java's */
        if (!strchr("0123456789+-.eExXabcdefABCDEFpP", tmp[i]))
            return false;
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end == tmp || *end)
        return false;
    *out = d;
    return true;
}

/* Double.toString: the shortest digits that read back to d, as 123.45 when 1e-3 <= |d| < 1e7
 * and as 1.2345E8 otherwise; always a digit after the point. */
void broker_cfg_double_str(double d, char *out, size_t len)
{
    if (isnan(d) || isinf(d)) {
        snprintf(out, len, "%s", isnan(d) ? "NaN" : d < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (d == 0) {
        snprintf(out, len, "%s", signbit(d) ? "-0.0" : "0.0");
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e is [-]D[.DDD]e[+-]XX: split into the digits and the exponent. */
    const char *p = e;
    bool neg = *p == '-';
    p += neg;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p))
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    double a = fabs(d);
    buf_t b = {0};
    if (neg)
        buf_append_u8(&b, '-');
    if (a >= 1e-3 && a < 1e7) {
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++)
                buf_append_u8(&b, (size_t)i < nd ? (uint8_t)digits[i] : '0');
            buf_append_u8(&b, '.');
            if ((size_t)exp + 1 < nd)
                buf_append(&b, digits + exp + 1, nd - (size_t)exp - 1);
            else
                buf_append_u8(&b, '0');
        } else {
            buf_append_str(&b, "0.");
            for (int i = 0; i < -exp - 1; i++)
                buf_append_u8(&b, '0');
            buf_append(&b, digits, nd);
        }
    } else {
        buf_append_u8(&b, (uint8_t)digits[0]);
        buf_append_u8(&b, '.');
        if (nd > 1)
            buf_append(&b, digits + 1, nd - 1);
        else
            buf_append_u8(&b, '0');
        buf_printf(&b, "E%d", exp);
    }
    snprintf(out, len, "%.*s", (int)b.len, (const char *)b.data);
    buf_deinit(&b);
}

/* Index of [p, p+n) in a '|'-separated list, or -1. */
static int value_index(const char *values, const char *p, size_t n, bool nocase)
{
    int i = 0;
    for (const char *v = values; *v; i++) {
        const char *bar = strchr(v, '|');
        size_t len = bar ? (size_t)(bar - v) : strlen(v);
        if (len == n && (nocase ? strncasecmp(v, p, n) : memcmp(v, p, n)) == 0)
            return i;
        if (!bar)
            break;
        v = bar + 1;
    }
    return -1;
}

/* "String must be one of: a, b, c" */
static void one_of(const broker_cfg_row_t *row, char *why, size_t len)
{
    int n = snprintf(why, len, "String must be one of%s: ",
                     (row->flags & BCFG_F_NOCASE) ? " (case insensitive)" : "");
    for (const char *v = row->values; *v && n > 0 && (size_t)n < len; v++)
        n += snprintf(why + n, len - (size_t)n, *v == '|' ? ", " : "%c", *v);
}

static int check_number(const broker_cfg_row_t *row, double x, const char *shown, char *err,
                        size_t err_len)
{
    double lo = row->lo ? strtod(row->lo, NULL) : -INFINITY;
    double hi = row->hi ? strtod(row->hi, NULL) : INFINITY;
    if (row->alt) {
        if ((x < lo || x > hi) && x != strtod(row->alt, NULL)) {
            char why[128];
            snprintf(why, sizeof(why), "Value must be between %s and %s or equal to %s", row->lo,
                     row->hi, row->alt);
            bad(err, err_len, row->name, shown, why);
            return -WEIR_EINVAL;
        }
        return 0;
    }
    char why[128];
    if (x < lo)
        snprintf(why, sizeof(why), "Value must be at least %s", row->lo);
    else if (x > hi)
        snprintf(why, sizeof(why), "Value must be no more than %s", row->hi);
    else
        return 0;
    bad(err, err_len, row->name, shown, why);
    return -WEIR_EINVAL;
}

static int parse_integer(const broker_cfg_row_t *row, const char *raw, const char *p, size_t n,
                         char *norm, size_t norm_len, int64_t *ival, char *err, size_t err_len)
{
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    const char *tname = "LONG";
    if (row->type == BCFG_T_INT)
        lo = INT32_MIN, hi = INT32_MAX, tname = "INT";
    else if (row->type == BCFG_T_SHORT)
        lo = INT16_MIN, hi = INT16_MAX, tname = "SHORT";
    int64_t x;
    if (!parse_java_int(p, n, lo, hi, &x)) {
        char why[40];
        snprintf(why, sizeof(why), "Not a number of type %s", tname);
        bad(err, err_len, row->name, raw, why);
        return -WEIR_EINVAL;
    }
    snprintf(norm, norm_len, "%lld", (long long)x);
    /* Bounds are exact for every integer up to 2^53; the tables' bounds are all far inside. */
    int64_t blo = row->lo ? strtoll(row->lo, NULL, 10) : INT64_MIN;
    int64_t bhi = row->hi ? strtoll(row->hi, NULL, 10) : INT64_MAX;
    if (row->alt ? ((x < blo || x > bhi) && x != strtoll(row->alt, NULL, 10))
                 : (x < blo || x > bhi))
        return check_number(row, x < blo ? -INFINITY : INFINITY, norm, err, err_len);
    *ival = x;
    return 0;
}

static int parse_list(const broker_cfg_row_t *row, const char *p, size_t n, char *norm,
                      size_t norm_len, int64_t *ival, char *err, size_t err_len)
{
    buf_t out = {0}, shown = {0};
    int64_t mask = 0;
    int rc = 0;
    bool star = false;
    size_t items = 0;
    for (size_t i = 0; n > 0 && i <= n; items++) { /* "" is the empty list */
        size_t j = i;
        while (j < n && p[j] != ',')
            j++;
        const char *item = p + i;
        size_t ilen = j - i;
        while (ilen && (unsigned char)*item <= ' ')
            item++, ilen--;
        while (ilen && (unsigned char)item[ilen - 1] <= ' ')
            ilen--;
        buf_printf(&out, "%s%.*s", items ? "," : "", (int)ilen, item);
        buf_printf(&shown, "%s%.*s", items ? ", " : "", (int)ilen, item);
        if (row->values && rc == 0) {
            int idx = value_index(row->values, item, ilen, row->flags & BCFG_F_NOCASE);
            if (idx < 0) {
                char why[256], v[256];
                one_of(row, why, sizeof(why));
                snprintf(v, sizeof(v), "%.*s", (int)WEIR_MIN(ilen, 200), item);
                bad(err, err_len, row->name, v, why);
                rc = -WEIR_EINVAL;
            }
            mask |= idx >= 0 ? (int64_t)1 << idx : 0;
        }
        if (row->flags & BCFG_F_REPLICAS) {
            star |= ilen == 1 && item[0] == '*';
            size_t colon = 0, k;
            for (k = 0; k < ilen && (isdigit((unsigned char)item[k]) || item[k] == ':'); k++)
                colon += item[k] == ':';
            if (!(ilen == 0 ||
                  (k == ilen && colon == 1 && item[0] != ':' && item[ilen - 1] != ':')))
                rc = rc ? rc : 1; /* decided once every item is read */
        }
        i = j + 1;
    }
    if (rc == 1 && !(star && items == 1)) {
        char why[300], v[600];
        snprintf(why, sizeof(why),
                 "%s must be the literal '*' or a list of replicas in the following format: "
                 "[partitionId]:[brokerId],[partitionId]:[brokerId],...",
                 row->name);
        snprintf(v, sizeof(v), "[%.*s]", (int)shown.len, shown.data ? (char *)shown.data : "");
        bad(err, err_len, row->name, v, why);
        rc = -WEIR_EINVAL;
    } else if (rc == 1) {
        rc = 0;
    }
    if (rc == 0 && items == 0 && (row->flags & BCFG_F_NONEMPTY)) {
        bad(err, err_len, row->name, "[]", "Empty list not allowed");
        rc = -WEIR_EINVAL;
    }
    if (rc == 0 && out.len >= norm_len) {
        bad(err, err_len, row->name, "(long)", "value too long");
        rc = -WEIR_EINVAL;
    }
    if (rc == 0) {
        snprintf(norm, norm_len, "%.*s", (int)out.len, out.data ? (char *)out.data : "");
        *ival = mask;
    }
    buf_deinit(&out);
    buf_deinit(&shown);
    return rc;
}

static int parse_text(const broker_cfg_row_t *row, const char *p, size_t n, char *norm,
                      size_t norm_len, int64_t *ival, char *err, size_t err_len)
{
    if (n >= norm_len) {
        bad(err, err_len, row->name, "(long)", "value too long");
        return -WEIR_EINVAL;
    }
    snprintf(norm, norm_len, "%.*s", (int)n, p);
    *ival = 0;
    if (row->values) {
        int idx = value_index(row->values, p, n, row->flags & BCFG_F_NOCASE);
        if (idx < 0) {
            char why[256];
            one_of(row, why, sizeof(why));
            bad(err, err_len, row->name, norm, why);
            return -WEIR_EINVAL;
        }
        *ival = idx;
    } else if (n == 0 && (row->flags & BCFG_F_NONEMPTY)) {
        bad(err, err_len, row->name, "", "String must be non-empty");
        return -WEIR_EINVAL;
    }
    return 0;
}

int broker_cfg_parse(const broker_cfg_row_t *row, const char *value, char *norm, size_t norm_len,
                     int64_t *ival, char *err, size_t err_len)
{
    WEIR_ASSERT(value);
    const char *p;
    size_t n;
    trim_span(value, &p, &n);
    switch (row->type) {
    case BCFG_T_BOOLEAN:
        if (n == 4 && strncasecmp(p, "true", 4) == 0)
            *ival = 1;
        else if (n == 5 && strncasecmp(p, "false", 5) == 0)
            *ival = 0;
        else {
            bad(err, err_len, row->name, value, "Expected value to be either true or false");
            return -WEIR_EINVAL;
        }
        snprintf(norm, norm_len, "%s", *ival ? "true" : "false");
        return 0;
    case BCFG_T_INT:
    case BCFG_T_SHORT:
    case BCFG_T_LONG:
        return parse_integer(row, value, p, n, norm, norm_len, ival, err, err_len);
    case BCFG_T_DOUBLE: {
        double d;
        if (!parse_java_double(p, n, &d)) {
            bad(err, err_len, row->name, value, "Not a number of type DOUBLE");
            return -WEIR_EINVAL;
        }
        broker_cfg_double_str(d, norm, norm_len);
        if (check_number(row, d, norm, err, err_len) < 0)
            return -WEIR_EINVAL;
        memcpy(ival, &d, sizeof(d));
        return 0;
    }
    case BCFG_T_LIST:
        return parse_list(row, p, n, norm, norm_len, ival, err, err_len);
    case BCFG_T_PASSWORD: /* kept exactly as given (and never described) */
        return parse_text(row, value, strlen(value), norm, norm_len, ival, err, err_len);
    default:
        return parse_text(row, p, n, norm, norm_len, ival, err, err_len);
    }
}

/* group.consumer.assignors: a comma-separated list of uniform and range (by name or by Kafka's
 * class name), at least one. */
static bool assignors_valid(const char *list)
{
    static const char *const names[] = {
        "uniform", "org.apache.kafka.coordinator.group.assignor.UniformAssignor", "range",
        "org.apache.kafka.coordinator.group.assignor.RangeAssignor"};
    size_t count = 0;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ", ");
        if (n == 0)
            break;
        bool known = false;
        for (size_t i = 0; i < WEIR_ARRAY_LEN(names) && !known; i++)
            known = strlen(names[i]) == n && memcmp(names[i], p, n) == 0;
        if (!known)
            return false;
        count++;
        p += n;
    }
    return count > 0;
}

int broker_cfg_check(int key, const char *value, char *norm, size_t norm_len, char *err,
                     size_t err_len)
{
    broker_cfg_row_t tmp;
    int64_t ival;
    const broker_cfg_row_t *row = broker_cfg_row(key, &tmp);
    int rc = broker_cfg_parse(row, value, norm, norm_len, &ival, err, err_len);
    if (rc == 0 && key == BCFG_GROUP_CONSUMER_ASSIGNORS && !assignors_valid(norm)) {
        snprintf(err, err_len,
                 "Invalid value %s for configuration %s: the supported assignors are uniform and "
                 "range",
                 value, row->name);
        return -WEIR_EINVAL;
    }
    return rc;
}

int broker_topic_cfg_check(int key, const char *value, char *out, size_t out_len, char *err,
                           size_t err_len)
{
    broker_cfg_row_t tmp;
    int64_t ival;
    if (!value) {
        snprintf(err, err_len, "Null value not supported for : %s",
                 broker_topic_cfg_row(key, &tmp)->name);
        return -WEIR_EINVAL;
    }
    return broker_cfg_parse(broker_topic_cfg_row(key, &tmp), value, out, out_len, &ival, err,
                            err_len);
}
