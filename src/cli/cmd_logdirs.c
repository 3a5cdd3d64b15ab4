/*
 * `weir cluster logdirs`: the size of every partition in each broker's log directories, from
 * Kafka's DescribeLogDirs (API key 35). librdkafka 2.0 has no admin call for it, so this file
 * speaks the two requests it needs itself, over a plain TCP connection to each broker the
 * metadata names: ApiVersions v0 (is key 35 there?) and DescribeLogDirs v1 for all topics.
 * The codec (requests and responses, no socket) is in logdirs.c, unit tested with golden bytes.
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
#define API_DESCRIBE_LOG_DIRS    35

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
