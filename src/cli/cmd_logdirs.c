/*
 * `weir cluster logdirs`: the size of every partition in each broker's log directories, from
 * Kafka's DescribeLogDirs (API key 35). librdkafka 2.0 has no admin call for it, so this file
 * speaks the two requests it needs itself, over a plain TCP connection to each broker the
 * metadata names: ApiVersions v0 (is key 35 there?) and DescribeLogDirs v1 for all topics.
 * The codec half (cli_logdirs_request / cli_logdirs_parse) is pure and unit tested with golden
 * bytes.
 *
 * Invariant: nothing from the network is trusted: a response is read only up to its size
 * prefix (capped at CLI_LOGDIRS_RESPONSE_MAX), and every count is checked against the bytes
 * left before anything is allocated for it. Only PLAINTEXT listeners are reached (TLS and SASL
 * settings given with -X make it refuse, rather than send credentials nowhere).
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLI_LOGDIRS_RESPONSE_MAX (64u << 20)
#define API_VERSIONS             18
#define API_DESCRIBE_LOG_DIRS    35

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

/* ---- the wire ----------------------------------------------------------------------------------
 */

static int dial(const char *host, int port, int64_t timeout_ms)
{
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, ps, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

static bool io_all(int fd, void *p, size_t n, bool writing)
{
    for (size_t off = 0; off < n;) {
        ssize_t k = writing ? send(fd, (char *)p + off, n - off, MSG_NOSIGNAL)
                            : recv(fd, (char *)p + off, n - off, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        off += (size_t)k;
    }
    return true;
}

/* Sends a request and reads its whole response (without the size prefix) into resp. */
static int round_trip(int fd, const buf_t *req, buf_t *resp)
{
    uint8_t sz[4];
    if (!io_all(fd, req->data, req->len, true) || !io_all(fd, sz, 4, false))
        return -WEIR_EIO; /* Weir and Kafka close the connection on an API they lack */
    uint32_t n = be32_read(sz);
    if (n < 4 || n > CLI_LOGDIRS_RESPONSE_MAX)
        return -WEIR_ECORRUPT;
    buf_reset(resp);
    return io_all(fd, buf_extend(resp, n), n, false) ? 0 : -WEIR_EIO;
}

/* One broker's log dirs. 0, or an exit code after the message. */
static int broker_logdirs(cli_global_t *g, const rd_kafka_metadata_broker_t *b, cli_logdirs_t *out)
{
    int fd = dial(b->host, b->port, g->timeout_ms);
    if (fd < 0) {
        cli_err(g, "cannot connect to broker %" PRId32 " at %s:%d: %s", b->id, b->host, b->port,
                strerror(errno));
        return CLI_ERROR;
    }
    buf_t req = {0}, resp = {0};
    int16_t max = -1;
    int rc = 0;
    cli_api_versions_request(&req, 1);
    if (round_trip(fd, &req, &resp) != 0 ||
        !cli_api_versions_has(resp.data, resp.len, 1, API_DESCRIBE_LOG_DIRS, &max) || max < 1) {
        cli_err(g,
                "broker %" PRId32 " at %s:%d does not answer DescribeLogDirs (Kafka API 35, "
                "v1 or newer): it cannot tell log dir sizes",
                b->id, b->host, b->port);
        rc = CLI_ERROR;
    }
    buf_reset(&req);
    cli_logdirs_request(&req, 2);
    if (rc == 0 &&
        (round_trip(fd, &req, &resp) != 0 || cli_logdirs_parse(resp.data, resp.len, 2, out) != 0)) {
        cli_err(g, "broker %" PRId32 ": DescribeLogDirs failed or its answer is malformed", b->id);
        rc = CLI_ERROR;
    }
    close(fd);
    buf_deinit(&req);
    buf_deinit(&resp);
    return rc;
}

static bool wanted(char **topics, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(topics[i], name) == 0)
            return true;
    return n == 0;
}

static void logdirs_rows(int32_t broker, const cli_logdirs_t *l, char **topics, int ntopics,
                         cli_table_t *t, json_t *arr)
{
    for (size_t i = 0; i < l->ndirs; i++) {
        const cli_logdir_t *d = &l->dirs[i];
        json_t *jt = json_array();
        for (size_t j = 0; j < d->ntopics; j++) {
            const cli_logdir_topic_t *tp = &d->topics[j];
            if (!wanted(topics, ntopics, tp->name))
                continue;
            json_t *jp = json_array();
            for (size_t k = 0; k < tp->nparts; k++) {
                cli_table_addf(t, "%" PRId32 "\t%s\t%s\t%" PRId32 "\t%" PRId64, broker, d->path,
                               tp->name, tp->parts[k].partition, tp->parts[k].size);
                json_array_append_new(jp, json_pack("{s:i, s:I, s:I}", "partition",
                                                    tp->parts[k].partition, "size",
                                                    (json_int_t)tp->parts[k].size, "offset_lag",
                                                    (json_int_t)tp->parts[k].offset_lag));
            }
            json_array_append_new(jt, json_pack("{s:s, s:I, s:o}", "name", tp->name, "size",
                                                (json_int_t)tp->size, "partitions", jp));
        }
        json_array_append_new(arr, json_pack("{s:i, s:s, s:i, s:I, s:o}", "broker", broker,
                                             "log_dir", d->path ? d->path : "", "error", d->error,
                                             "size", (json_int_t)d->size, "topics", jt));
    }
}

int cli_cluster_logdirs(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_none(&a);
    cli_client_t c = {0};
    const rd_kafka_metadata_t *md = NULL;
    if (rc < 0) {
        cli_args_deinit(&a);
        return cli_help_current(g);
    }
    for (size_t i = 0; rc == 0 && i < g->xconf_len; i++)
        if (strncasecmp(g->xconf[i], "security.protocol=", 18) == 0 &&
            strcasecmp(g->xconf[i] + 18, "plaintext") != 0)
            rc = cli_usage_err(g, "logdirs reaches PLAINTEXT listeners only");
    if (rc != 0 || (rc = cli_admin_open(&c, g)) != 0 || (rc = cli_client_metadata(&c, &md)) != 0)
        goto out;
    static const char *const hdr[] = {"BROKER", "LOG-DIR", "TOPIC", "PARTITION", "SIZE"};
    cli_table_t t;
    cli_table_init(&t, 5, hdr);
    t.shrinkable = 1u << 1;
    json_t *arr = json_array();
    for (int i = 0; rc == 0 && i < md->broker_cnt; i++) {
        cli_logdirs_t l;
        if ((rc = broker_logdirs(g, &md->brokers[i], &l)) == 0) {
            logdirs_rows(md->brokers[i].id, &l, a.pos, a.npos, &t, arr);
            cli_logdirs_free(&l);
        }
    }
    if (rc == 0)
        cli_output_print(g, arr, &t);
    else {
        json_decref(arr);
        cli_table_deinit(&t);
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    cli_client_close(&c);
    cli_args_deinit(&a);
    return rc;
}
