/*
 * The DescribeLogDirs half of `weir cluster logdirs` that touches no socket: ApiVersions v0 and
 * DescribeLogDirs v1 requests, and their responses decoded (cmd_logdirs.c sends and receives).
 * Pure, so the unit tests check it against golden bytes.
 *
 * Invariant: every length and count is checked against the bytes present before it is used or
 * anything is allocated for it; a response that runs short is -WEIR_ECORRUPT, never a guess.
 */
#include "cli/cli.h"

#include <stdlib.h>

#define API_VERSIONS          18
#define API_DESCRIBE_LOG_DIRS 35

/* ---- the codec ---------------------------------------------------------------------------------
 */

static void put_header(buf_t *b, int16_t key, int16_t version, int32_t corr)
{
    buf_append_be32(b, 0); /* size, filled in at the end */
    buf_append_be16(b, (uint16_t)key);
    buf_append_be16(b, (uint16_t)version);
    buf_append_be32(b, (uint32_t)corr);
    buf_append_be16(b, 8);
    buf_append(b, "weir-cli", 8);
}

static void put_size(buf_t *b)
{
    be32_write(b->data, (uint32_t)(b->len - 4));
}

void cli_api_versions_request(buf_t *out, int32_t corr)
{
    put_header(out, API_VERSIONS, 0, corr);
    put_size(out);
}

void cli_logdirs_request(buf_t *out, int32_t corr)
{
    put_header(out, API_DESCRIBE_LOG_DIRS, 1, corr);
    buf_append_be32(out, 0xffffffffu); /* topics: null = every topic */
    put_size(out);
}

typedef struct {
    const uint8_t *p, *end;
    bool bad;
} rd_t;

static bool need(rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n)
        r->bad = true;
    return !r->bad;
}
static int16_t get16(rd_t *r)
{
    if (!need(r, 2))
        return 0;
    int16_t v = (int16_t)be16_read(r->p);
    r->p += 2;
    return v;
}
static int32_t get32(rd_t *r)
{
    if (!need(r, 4))
        return 0;
    int32_t v = (int32_t)be32_read(r->p);
    r->p += 4;
    return v;
}
static int64_t get64(rd_t *r)
{
    if (!need(r, 8))
        return 0;
    int64_t v = (int64_t)be64_read(r->p);
    r->p += 8;
    return v;
}
/* A STRING into a new C string; NULL (and bad) when it runs past the end. */
static char *getstr(rd_t *r)
{
    int16_t n = get16(r);
    if (n < 0 || !need(r, (size_t)n))
        return r->bad = true, NULL;
    char *s = weir_strndup((const char *)r->p, (size_t)n);
    r->p += n;
    return s;
}
/* An array count, checked against the bytes left (each element at least min bytes). */
static int32_t getcount(rd_t *r, size_t min)
{
    int32_t n = get32(r);
    if (n < 0 || (size_t)n > (size_t)(r->end - r->p) / min)
        return r->bad = true, 0;
    return n;
}

bool cli_api_versions_has(const uint8_t *p, size_t n, int32_t corr, int16_t key, int16_t *max)
{
    rd_t r = {p, p + n, false};
    if (get32(&r) != corr || get16(&r) != 0)
        return false;
    int32_t cnt = getcount(&r, 6);
    for (int32_t i = 0; i < cnt && !r.bad; i++) {
        int16_t k = get16(&r), lo = get16(&r), hi = get16(&r);
        (void)lo;
        if (k == key && !r.bad) {
            *max = hi;
            return true;
        }
    }
    return false;
}

static void partitions_parse(rd_t *r, cli_logdir_topic_t *t)
{
    int32_t np = getcount(r, 21);
    t->parts = weir_calloc((size_t)np + 1, sizeof(*t->parts));
    for (int32_t k = 0; k < np && !r->bad; k++) {
        cli_logdir_part_t *p = &t->parts[t->nparts++];
        p->partition = get32(r);
        p->size = get64(r);
        p->offset_lag = get64(r);
        p->is_future = need(r, 1) && *r->p++ != 0;
        t->size += p->size;
    }
}

int cli_logdirs_parse(const uint8_t *p, size_t n, int32_t corr, cli_logdirs_t *out)
{
    memset(out, 0, sizeof(*out));
    rd_t r = {p, p + n, false};
    if (get32(&r) != corr)
        return -WEIR_ECORRUPT;
    get32(&r); /* throttle_time_ms */
    int32_t nd = getcount(&r, 8);
    out->dirs = weir_calloc((size_t)nd + 1, sizeof(*out->dirs));
    for (int32_t i = 0; i < nd && !r.bad; i++) {
        cli_logdir_t *d = &out->dirs[out->ndirs++];
        d->error = get16(&r);
        d->path = getstr(&r);
        int32_t nt = getcount(&r, 6);
        d->topics = weir_calloc((size_t)nt + 1, sizeof(*d->topics));
        for (int32_t j = 0; j < nt && !r.bad; j++) {
            cli_logdir_topic_t *t = &d->topics[d->ntopics++];
            t->name = getstr(&r);
            partitions_parse(&r, t);
            d->size += t->size;
        }
    }
    if (r.bad) {
        cli_logdirs_free(out);
        return -WEIR_ECORRUPT;
    }
    return 0;
}

void cli_logdirs_free(cli_logdirs_t *l)
{
    for (size_t i = 0; i < l->ndirs; i++) {
        for (size_t j = 0; j < l->dirs[i].ntopics; j++) {
            free(l->dirs[i].topics[j].name);
            free(l->dirs[i].topics[j].parts);
        }
        free(l->dirs[i].topics);
        free(l->dirs[i].path);
    }
    free(l->dirs);
    memset(l, 0, sizeof(*l));
}
