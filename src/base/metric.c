/*
 * Metrics: the histogram half of the lock-free vocabulary (counters and gauges are inline in
 * base.h), and the exposition writer every /metrics endpoint shares (the broker's and libweir's):
 * the Prometheus text format 0.0.4, or OpenMetrics 1.0 when the scraper asks for it.
 *
 * Invariant: an update never blocks and never allocates; the writer produces lines that
 * `promtool check metrics` accepts: one # HELP and # TYPE per family, its samples together,
 * label values escaped (backslash, double quote, newline), counters ending in _total, histogram
 * buckets cumulative and ending with le="+Inf" equal to _count.
 */
#include "base/base.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

const metric_buckets_t metric_buckets_latency = {
    .n = 18,
    .le = {25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
           50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000,
           10000000000},
    .scale = 1e-9,
};

const metric_buckets_t metric_buckets_count = {
    .n = 13,
    .le = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096},
    .scale = 1,
};

void metric_hist_init(metric_hist_t *h, const metric_buckets_t *b)
{
    WEIR_ASSERT(b->n <= METRIC_BUCKETS_MAX);
    memset(h, 0, sizeof(*h));
    h->b = b;
}

void metric_hist_observe(metric_hist_t *h, uint64_t v)
{
    if (!METRIC_ON)
        return;
    const metric_buckets_t *b = h->b;
    size_t lo = 0, hi = b->n; /* the first bound >= v, or n (+Inf) */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b->le[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

void metric_hist_read(const metric_hist_t *h, metric_hist_snap_t *out)
{
    memset(out, 0, sizeof(*out));
    out->b = h->b;
    uint64_t run = 0;
    for (size_t i = 0; h->b && i <= h->b->n; i++) {
        run += atomic_load_explicit(&((metric_hist_t *)h)->counts[i], memory_order_relaxed);
        out->cumulative[i] = run;
    }
    out->count = run;
    out->sum = atomic_load_explicit(&((metric_hist_t *)h)->sum, memory_order_relaxed);
}

void metric_hist_snap_add(metric_hist_snap_t *acc, const metric_hist_snap_t *src)
{
    if (!acc->b)
        acc->b = src->b;
    WEIR_ASSERT(acc->b == src->b);
    for (size_t i = 0; i <= acc->b->n; i++)
        acc->cumulative[i] += src->cumulative[i];
    acc->count += src->count;
    acc->sum += src->sum;
}

/* ---- the writer --------------------------------------------------------------------------------
 */

void metric_writer_init(metric_writer_t *w, buf_t *out, bool openmetrics)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->openmetrics = openmetrics;
}

bool metric_accept_openmetrics(const char *accept)
{
    return accept && strstr(accept, "application/openmetrics-text") != NULL;
}

/* HELP text: backslash and newline escaped (both formats). */
static void append_help(buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_append_str(b, "\\\\");
        else if (*s == '\n')
            buf_append_str(b, "\\n");
        else
            buf_append_u8(b, (uint8_t)*s);
    }
}

void metric_family(metric_writer_t *w, const char *name, metric_type_t type, const char *help)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    w->type = type;
    w->name = name;
    /* Text 0.0.4 names a counter family by its samples (x_total); OpenMetrics by the base. */
    const char *suffix = type == METRIC_COUNTER && !w->openmetrics ? "_total" : "";
    buf_printf(w->out, "# HELP %s%s ", name, suffix);
    append_help(w->out, help);
    buf_printf(w->out, "\n# TYPE %s%s %s\n", name, suffix, types[type]);
}

/* A label value with backslash, double quote and newline escaped; runs without them (topic
 * names never have any) are copied whole: a scrape of 10,000 partitions writes ~100,000 of
 * these, and printf-style formatting was most of its time. */
static void append_label_value(buf_t *b, const char *s)
{
    for (;;) {
        size_t run = strcspn(s, "\\\"\n");
        buf_append(b, s, run);
        s += run;
        if (!*s)
            return;
        buf_append_str(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\");
        s++;
    }
}

static void append_labels(buf_t *b, const metric_label_t *labels, size_t n, const char *le)
{
    if (n == 0 && !le)
        return;
    buf_append_u8(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_append_u8(b, ',');
        buf_append_str(b, labels[i].name);
        buf_append(b, "=\"", 2);
        append_label_value(b, labels[i].value);
        buf_append_u8(b, '"');
    }
    if (le) {
        buf_append_str(b, n ? ",le=\"" : "le=\"");
        buf_append_str(b, le);
        buf_append_u8(b, '"');
    }
    buf_append_u8(b, '}');
}

/* Decimal digits of v and a newline, without printf. */
static void append_u64_line(buf_t *b, uint64_t v, bool negative)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    tmp[--i] = '\n';
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (negative)
        tmp[--i] = '-';
    buf_append(b, tmp + i, sizeof(tmp) - i);
}

static void sample_start(metric_writer_t *w, const char *suffix, const metric_label_t *labels,
                         size_t n, const char *le)
{
    buf_append_str(w->out, w->name);
    buf_append_str(w->out, suffix);
    append_labels(w->out, labels, n, le);
    buf_append_u8(w->out, ' ');
}

static const char *value_suffix(const metric_writer_t *w)
{
    return w->type == METRIC_COUNTER ? "_total" : "";
}

void metric_sample_u64(metric_writer_t *w, const metric_label_t *labels, size_t n, uint64_t v)
{
    sample_start(w, value_suffix(w), labels, n, NULL);
    append_u64_line(w->out, v, false);
}

void metric_sample_i64(metric_writer_t *w, const metric_label_t *labels, size_t n, int64_t v)
{
    sample_start(w, value_suffix(w), labels, n, NULL);
    append_u64_line(w->out, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0);
}

/* A float as both formats read it: integers without a fraction, NaN and infinities by name. */
static void append_f64(buf_t *b, double v)
{
    if (isnan(v))
        buf_append_str(b, "NaN");
    else if (isinf(v))
        buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        buf_printf(b, "%.0f", v);
    else
        buf_printf(b, "%.15g", v);
}

/* A bucket bound for le="...": plain decimals (0.000025, not 2.5e-05), "1.0" style for
 * OpenMetrics, which wants floats there. */
static void format_le(char *out, size_t cap, double v, bool openmetrics)
{
    int n = snprintf(out, cap, "%.9f", v);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
    if (openmetrics && !strchr(out, '.'))
        snprintf(out + n, cap - (size_t)n, ".0");
}

void metric_sample_f64(metric_writer_t *w, const metric_label_t *labels, size_t n, double v)
{
    sample_start(w, value_suffix(w), labels, n, NULL);
    append_f64(w->out, v);
    buf_append_u8(w->out, '\n');
}

void metric_sample_hist(metric_writer_t *w, const metric_label_t *labels, size_t n,
                        const metric_hist_snap_t *h)
{
    const metric_buckets_t *b = h->b;
    for (size_t i = 0; i <= b->n; i++) {
        char le[40];
        if (i == b->n) {
            snprintf(le, sizeof(le), "+Inf");
        } else {
            format_le(le, sizeof(le), (double)b->le[i] * b->scale, w->openmetrics);
        }
        sample_start(w, "_bucket", labels, n, le);
        append_u64_line(w->out, h->cumulative[i], false);
    }
    sample_start(w, "_sum", labels, n, NULL);
    append_f64(w->out, (double)h->sum * b->scale);
    buf_append_u8(w->out, '\n');
    sample_start(w, "_count", labels, n, NULL);
    append_u64_line(w->out, h->count, false);
}

void metric_writer_finish(metric_writer_t *w)
{
    if (w->openmetrics)
        buf_append_str(w->out, "# EOF\n");
}

/* ---- the process -------------------------------------------------------------------------------
 */

typedef struct {
    double cpu_s, start_s;
    uint64_t vsize, rss;
    bool ok;
} proc_stat_t;

/* /proc/self/stat: utime (14), stime (15), starttime (22), vsize (23), rss pages (24). The
 * command name (field 2) may hold spaces, so fields are counted after its closing ')'. */
static void proc_stat_read(proc_stat_t *ps)
{
    memset(ps, 0, sizeof(*ps));
    char text[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strrchr(text, ')');
    if (!p)
        return;
    unsigned long long utime, stime, start, vsize;
    long long rss;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime cutime cutime priority nice threads itrealvalue starttime(22) vsize rss */
    int got = sscanf(p + 1,
                     " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d"
                     " %*d %llu %llu %lld",
                     &utime, &stime, &start, &vsize, &rss);
    if (got != 5)
        return;
    double hz = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    ps->cpu_s = (double)(utime + stime) / hz;
    ps->vsize = vsize;
    ps->rss = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
    /* starttime counts clock ticks since boot; the boot time is in /proc/stat (btime). */
    f = fopen("/proc/stat", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f)) {
            unsigned long long btime;
            if (sscanf(line, "btime %llu", &btime) == 1) {
                ps->start_s = (double)btime + (double)start / hz;
                break;
            }
        }
        fclose(f);
    }
    ps->ok = true;
}

static uint64_t proc_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
}

void metric_write_process(metric_writer_t *w)
{
    proc_stat_t ps;
    proc_stat_read(&ps);
    if (ps.ok) {
        metric_family(w, "process_cpu_seconds", METRIC_COUNTER,
                      "Total user and system CPU time spent in seconds.");
        metric_sample_f64(w, NULL, 0, ps.cpu_s);
        metric_family(w, "process_resident_memory_bytes", METRIC_GAUGE,
                      "Resident memory size in bytes.");
        metric_sample_u64(w, NULL, 0, ps.rss);
        metric_family(w, "process_virtual_memory_bytes", METRIC_GAUGE,
                      "Virtual memory size in bytes.");
        metric_sample_u64(w, NULL, 0, ps.vsize);
        metric_family(w, "process_start_time_seconds", METRIC_GAUGE,
                      "Start time of the process since unix epoch in seconds.");
        metric_sample_f64(w, NULL, 0, ps.start_s);
    }
    metric_family(w, "process_open_fds", METRIC_GAUGE, "Number of open file descriptors.");
    metric_sample_u64(w, NULL, 0, proc_open_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        metric_family(w, "process_max_fds", METRIC_GAUGE,
                      "Maximum number of open file descriptors.");
        metric_sample_u64(w, NULL, 0, rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur);
    }
}
