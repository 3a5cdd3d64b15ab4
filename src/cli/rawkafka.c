/*
 * A synchronous Kafka protocol client for the `weir txn` commands (see rawkafka.h): TCP
 * connections with deadlines, request framing, ApiVersions on every connection, Metadata and
 * FindCoordinator. The transaction APIs themselves are in txn_api.c.
 *
 * Invariant: a connection is used for one request at a time and only after its ApiVersions
 * answer, so every request goes out at a version the broker said it serves; an answer is read
 * whole (size-capped) before a byte of it is decoded, and its correlation id must match.
 */
#include "cli/rawkafka.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *api_name(int16_t api)
{
    switch (api) {
    case KAFKA_API_API_VERSIONS:
        return "ApiVersions";
    case KAFKA_API_METADATA:
        return "Metadata";
    case KAFKA_API_FIND_COORDINATOR:
        return "FindCoordinator";
    case KAFKA_API_LIST_TRANSACTIONS:
        return "ListTransactions";
    case KAFKA_API_DESCRIBE_TRANSACTIONS:
        return "DescribeTransactions";
    case KAFKA_API_DESCRIBE_PRODUCERS:
        return "DescribeProducers";
    case KAFKA_API_WRITE_TXN_MARKERS:
        return "WriteTxnMarkers";
    case KAFKA_API_DESCRIBE_USER_SCRAM_CREDENTIALS:
        return "DescribeUserScramCredentials";
    case KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS:
        return "AlterUserScramCredentials";
    case KAFKA_API_DESCRIBE_ACLS:
        return "DescribeAcls";
    case KAFKA_API_CREATE_ACLS:
        return "CreateAcls";
    case KAFKA_API_DELETE_ACLS:
        return "DeleteAcls";
    default:
        return "request";
    }
}

bool cli_raw_flexible(int16_t api, int16_t version)
{
    switch (api) {
    case KAFKA_API_API_VERSIONS:
        return version >= 3;
    case KAFKA_API_METADATA:
        return version >= 9;
    case KAFKA_API_FIND_COORDINATOR:
        return version >= 3;
    case KAFKA_API_WRITE_TXN_MARKERS:
    case KAFKA_API_DESCRIBE_CLIENT_QUOTAS:
    case KAFKA_API_ALTER_CLIENT_QUOTAS:
        return version >= 1;
    case KAFKA_API_DESCRIBE_ACLS:
    case KAFKA_API_CREATE_ACLS:
    case KAFKA_API_DELETE_ACLS:
        return version >= 2;
    case KAFKA_API_LIST_TRANSACTIONS:
    case KAFKA_API_DESCRIBE_TRANSACTIONS:
    case KAFKA_API_DESCRIBE_PRODUCERS:
    case KAFKA_API_DESCRIBE_USER_SCRAM_CREDENTIALS:
    case KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS:
        return true;
    default:
        WEIR_ASSERT(!"cli_raw_flexible: an API this client does not send");
        return false;
    }
}

int cli_raw_exit(int16_t error)
{
    return error == KAFKA_UNKNOWN_TOPIC_OR_PARTITION || error == KAFKA_TRANSACTIONAL_ID_NOT_FOUND
               ? CLI_NOT_FOUND
               : CLI_ERROR;
}

int cli_raw_malformed(cli_raw_t *rk, const cli_raw_conn_t *c, const char *what)
{
    cli_err(rk->g, "%s: malformed answer from %s", what, c->addr);
    return CLI_ERROR;
}

/* ---- sockets with deadlines ------------------------------------------------------------------ */

/* Waits for fd to be ready for events until deadline: 0, or -WEIR_ETIMEDOUT / -WEIR_EIO. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - clock_mono_ms();
        if (left <= 0)
            return -WEIR_ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)WEIR_MIN(left, INT32_MAX));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -WEIR_EIO;
    }
}

static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline_ms)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            int rc = wait_fd(fd, POLLOUT, deadline_ms);
            if (rc < 0)
                return rc;
        } else {
            return -WEIR_EIO;
        }
    }
    return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n, int64_t deadline_ms)
{
    while (n > 0) {
        ssize_t k = recv(fd, p, n, 0);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k == 0) {
            return -WEIR_ECLOSED;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            int rc = wait_fd(fd, POLLIN, deadline_ms);
            if (rc < 0)
                return rc;
        } else {
            return -WEIR_EIO;
        }
    }
    return 0;
}

/* One non-blocking connect within deadline: the socket, or -1 with *why set. */
static int connect_one(const struct addrinfo *ai, int64_t deadline_ms, const char **why)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        *why = strerror(errno);
        close(fd);
        return -1;
    }
    int rc = wait_fd(fd, POLLOUT, deadline_ms), err = 0;
    socklen_t len = sizeof(err);
    if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return fd;
    }
    *why = rc == -WEIR_ETIMEDOUT ? NULL : strerror(err ? err : errno);
    close(fd);
    return -1;
}

/* Connects to host:port; on failure prints nothing and leaves the one-line reason in why. */
static int tcp_connect(cli_raw_t *rk, const char *host, const char *port, char *why,
                       size_t why_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(why, why_size, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int64_t deadline = clock_mono_ms() + rk->g->timeout_ms;
    const char *reason = NULL;
    int fd = -1;
    for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = connect_one(ai, deadline, &reason);
    freeaddrinfo(res);
    if (fd >= 0)
        return fd;
    if (reason)
        snprintf(why, why_size, "%s", reason);
    else
        snprintf(why, why_size, "no answer within %" PRId64 " ms", rk->g->timeout_ms);
    return -1;
}

/* ---- requests -------------------------------------------------------------------------------- */

int16_t cli_raw_version(const cli_raw_conn_t *c, int16_t api, int16_t lo, int16_t hi)
{
    if (api < 0 || api > KAFKA_API_KEY_MAX || c->max_version[api] < 0)
        return -1;
    int16_t v = WEIR_MIN(hi, c->max_version[api]);
    return v >= lo && v >= c->min_version[api] ? v : -1;
}

static void frame_build(buf_t *out, cli_raw_conn_t *c, int16_t api, int16_t version,
                        const buf_t *body)
{
    wire_writer_t w;
    wire_writer_init(&w, out, false); /* the header's client_id is classic in every version */
    size_t at = out->len;
    wire_write_i32(&w, 0);
    wire_write_i16(&w, api);
    wire_write_i16(&w, version);
    wire_write_i32(&w, ++c->correlation_id);
    wire_write_cstr(&w, "weir-cli");
    if (cli_raw_flexible(api, version))
        buf_append_uvarint(out, 0); /* request header v2: no tagged fields */
    buf_append(out, body->data, body->len);
    be32_write(out->data + at, (uint32_t)(out->len - at - 4));
}

static int call_fail(cli_raw_t *rk, cli_raw_conn_t *c, int16_t api, int rc)
{
    if (rc == -WEIR_ETIMEDOUT)
        cli_err(rk->g, "%s: no answer from %s within %" PRId64 " ms", api_name(api), c->addr,
                rk->g->timeout_ms);
    else if (rc == -WEIR_ECLOSED)
        cli_err(rk->g, "%s: %s closed the connection", api_name(api), c->addr);
    else if (rc == -WEIR_ECORRUPT)
        cli_err(rk->g, "%s: %s answered with a frame too short to be one", api_name(api), c->addr);
    else if (rc == -WEIR_ETOOBIG)
        cli_err(rk->g, "%s: the answer from %s is larger than %d bytes", api_name(api), c->addr,
                CLI_RAW_FRAME_MAX);
    else
        cli_err(rk->g, "%s: talking to %s failed: %s", api_name(api), c->addr, strerror(errno));
    close(c->fd); /* the stream is out of step now: never reuse it */
    c->fd = -1;
    return CLI_ERROR;
}

int cli_raw_call(cli_raw_t *rk, cli_raw_conn_t *c, int16_t api, int16_t version, const buf_t *body,
                 wire_reader_t *r)
{
    if (c->fd < 0) {
        cli_err(rk->g, "%s: the connection to %s was lost earlier", api_name(api), c->addr);
        return CLI_ERROR;
    }
    buf_reset(&rk->frame);
    frame_build(&rk->frame, c, api, version, body);
    int64_t deadline = clock_mono_ms() + rk->g->timeout_ms;
    int rc = send_all(c->fd, rk->frame.data, rk->frame.len, deadline);
    uint8_t size_be[4];
    if (rc == 0)
        rc = recv_all(c->fd, size_be, 4, deadline);
    int32_t size = rc == 0 ? (int32_t)be32_read(size_be) : 0;
    if (rc == 0 && (size < 4 || size > CLI_RAW_FRAME_MAX))
        rc = size < 4 ? -WEIR_ECORRUPT : -WEIR_ETOOBIG;
    if (rc == 0) {
        buf_reset(&rk->frame);
        rc = recv_all(c->fd, buf_extend(&rk->frame, (size_t)size), (size_t)size, deadline);
    }
    if (rc != 0)
        return call_fail(rk, c, api, rc);
    /* Response header v0 (correlation id), v1 for flexible versions (plus tagged fields), but
     * ApiVersions answers with v0 always so a client can read it before knowing versions. */
    bool flexible = cli_raw_flexible(api, version);
    wire_reader_init(r, rk->frame.data, rk->frame.len, false);
    int32_t corr = wire_read_i32(r);
    r->flexible = flexible;
    if (flexible && api != KAFKA_API_API_VERSIONS)
        wire_read_tags(r);
    if (corr != c->correlation_id || !wire_reader_ok(r)) {
        cli_err(rk->g, "%s: %s answered out of step (correlation id %" PRId32 ", sent %" PRId32 ")",
                api_name(api), c->addr, corr, c->correlation_id);
        close(c->fd);
        c->fd = -1;
        return CLI_ERROR;
    }
    return 0;
}

/* ---- ApiVersions ----------------------------------------------------------------------------- */

/* Reads the ApiKeys array into c's tables. */
static void versions_read(wire_reader_t *r, cli_raw_conn_t *c)
{
    int32_t n = wire_read_array(r, 6, CLI_RAW_COUNT_MAX);
    for (int32_t i = 0; i < n && wire_reader_ok(r); i++) {
        int16_t api = wire_read_i16(r), lo = wire_read_i16(r), hi = wire_read_i16(r);
        wire_read_tags(r);
        if (api >= 0 && api <= KAFKA_API_KEY_MAX && lo >= 0 && hi >= lo) {
            c->min_version[api] = lo;
            c->max_version[api] = hi;
        }
    }
}

/* ApiVersions v3; a broker that does not know v3 answers in the v0 layout with
 * UNSUPPORTED_VERSION and its list, which is all this needs. */
static int api_versions(cli_raw_t *rk, cli_raw_conn_t *c)
{
    for (int api = 0; api <= KAFKA_API_KEY_MAX; api++)
        c->min_version[api] = c->max_version[api] = -1;
    c->max_version[KAFKA_API_API_VERSIONS] = 3; /* until the broker says */
    c->min_version[KAFKA_API_API_VERSIONS] = 0;
    buf_t body;
    buf_init(&body);
    wire_writer_t w;
    wire_writer_init(&w, &body, true);
    wire_write_cstr(&w, "weir-cli");
    wire_write_cstr(&w, CLI_VERSION);
    wire_write_tags(&w);
    wire_reader_t r;
    int rc = cli_raw_call(rk, c, KAFKA_API_API_VERSIONS, 3, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        return rc;
    c->max_version[KAFKA_API_API_VERSIONS] = -1;
    int16_t err = wire_read_i16(&r);
    if (err == KAFKA_UNSUPPORTED_VERSION)
        r.flexible = false;
    else if (err != KAFKA_NONE) {
        cli_err(rk->g, "ApiVersions: %s answered %s", c->addr, wire_err_name(err));
        return CLI_ERROR;
    }
    versions_read(&r, c);
    if (!wire_reader_ok(&r))
        return cli_raw_malformed(rk, c, "ApiVersions");
    return 0;
}

/* ---- connections ----------------------------------------------------------------------------- */

/* Opens a connection and asks ApiVersions. On failure either *said is true (the failure was
 * printed) or why holds the reason for the caller to print. */
static int conn_open(cli_raw_t *rk, const char *host, int32_t port, int32_t node_id, char *why,
                     size_t why_size, bool *said, cli_raw_conn_t **out)
{
    *said = false;
    if (rk->nconns >= CLI_RAW_CONNS_MAX) {
        snprintf(why, why_size, "too many brokers (at most %d connections)", CLI_RAW_CONNS_MAX);
        return CLI_ERROR;
    }
    char port_s[16];
    snprintf(port_s, sizeof(port_s), "%" PRId32, port);
    int fd = tcp_connect(rk, host, port_s, why, why_size);
    if (fd < 0)
        return CLI_ERROR;
    cli_raw_conn_t *c = weir_calloc(1, sizeof(*c));
    c->fd = fd;
    c->node_id = node_id;
    snprintf(c->addr, sizeof(c->addr), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port_s);
    rk->conns[rk->nconns++] = c;
    int rc = api_versions(rk, c);
    if (rc != 0) {
        *said = true;
        return rc;
    }
    *out = c;
    return 0;
}

int cli_raw_node_at(cli_raw_t *rk, int32_t id, const char *host, int32_t port, cli_raw_conn_t **out)
{
    char addr[320];
    snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%" PRId32 : "%s:%" PRId32, host, port);
    for (size_t i = 0; i < rk->nconns; i++) {
        cli_raw_conn_t *c = rk->conns[i];
        if (c->node_id == id || (c->node_id < 0 && strcmp(c->addr, addr) == 0)) {
            c->node_id = id;
            *out = c;
            return 0;
        }
    }
    char why[512];
    bool said;
    int rc = conn_open(rk, host, port, id, why, sizeof(why), &said, out);
    if (rc != 0 && !said)
        cli_err(rk->g, "cannot connect to broker %" PRId32 " at %s: %s", id, addr, why);
    return rc;
}

int cli_raw_node(cli_raw_t *rk, int32_t id, cli_raw_conn_t **out)
{
    for (size_t i = 0; i < rk->nnodes; i++)
        if (rk->nodes[i].id == id)
            return cli_raw_node_at(rk, id, rk->nodes[i].host, rk->nodes[i].port, out);
    cli_err(rk->g, "broker %" PRId32 " is not in the cluster's metadata", id);
    return CLI_ERROR;
}

/* "host:port" or "[v6]:port" -> host (heap) and port. */
static int split_server(const char *s, char **host, int32_t *port)
{
    const char *colon = s[0] == '[' ? strstr(s, "]:") : strrchr(s, ':');
    if (!colon)
        return -WEIR_EINVAL;
    const char *p = colon + (s[0] == '[' ? 2 : 1);
    int64_t v;
    if (cli_parse_i64(p, 1, 65535, &v) != 0)
        return -WEIR_EINVAL;
    *host = s[0] == '[' ? weir_strndup(s + 1, (size_t)(colon - s - 1))
                        : weir_strndup(s, (size_t)(colon - s));
    *port = (int32_t)v;
    return 0;
}

/* The -X settings through librdkafka's checks, so a typo is the same usage error as in the
 * other commands; then the one setting this client must honour, security.protocol. */
static int check_xconf(cli_global_t *g)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < g->xconf_len; i++) {
        char *k, *v, errstr[256];
        if (cli_kv_split(g->xconf[i], &k, &v) != 0)
            return cli_usage_err(g, "-X wants key=value, got '%s'", g->xconf[i]);
        if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            rc = cli_usage_err(g, "bad -X %s=%s: %s", k, v, errstr);
        free(k);
        free(v);
    }
    char proto[64] = "";
    size_t len = sizeof(proto);
    if (rc == 0 && rd_kafka_conf_get(conf, "security.protocol", proto, &len) == RD_KAFKA_CONF_OK &&
        strcasecmp(proto, "plaintext") != 0) {
        cli_err(g, "security.protocol=%s is not supported by weir %s (plaintext only)", proto,
                g->family ? g->family : "txn");
        rc = CLI_ERROR;
    }
    rd_kafka_conf_destroy(conf);
    return rc;
}

int cli_raw_open(cli_raw_t *rk, cli_global_t *g)
{
    memset(rk, 0, sizeof(*rk));
    rk->g = g;
    buf_init(&rk->frame);
    int rc = cli_global_resolve(g); /* -b, $WEIR_BROKERS, the profile, the default */
    if (rc == 0)
        rc = check_xconf(g);
    if (rc != 0)
        return rc;
    char *list = weir_strdup(g->brokers), *save = NULL, why[512] = "no broker given";
    bool said = false;
    rc = CLI_ERROR;
    for (char *s = strtok_r(list, ",", &save); s && rc != 0; s = strtok_r(NULL, ",", &save)) {
        char *host;
        int32_t port;
        while (*s == ' ')
            s++;
        if (split_server(s, &host, &port) != 0) {
            rc = cli_usage_err(g, "bad broker address '%s' (want host:port)", s);
            break;
        }
        rc = conn_open(rk, host, port, -1, why, sizeof(why), &said, &rk->boot);
        free(host);
        if (rc != 0 && said)
            break; /* it answered, then failed: already said */
    }
    if (rc != 0 && rc != CLI_USAGE && !said)
        cli_err(g, "cannot connect to %s: %s", g->brokers, why);
    free(list);
    static char *const no_topics[1] = {NULL};
    if (rc == 0)
        rc = cli_raw_metadata(rk, no_topics, 0); /* the brokers alone */
    if (rc != 0)
        cli_raw_close(rk);
    return rc;
}

static void nodes_free(cli_raw_node_t *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(nodes[i].host);
    free(nodes);
}

static void topics_free(cli_raw_topic_t *topics, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(topics[i].name);
        free(topics[i].parts);
    }
    free(topics);
}

void cli_raw_close(cli_raw_t *rk)
{
    for (size_t i = 0; i < rk->nconns; i++) {
        if (rk->conns[i]->fd >= 0)
            close(rk->conns[i]->fd);
        free(rk->conns[i]);
    }
    rk->nconns = 0;
    rk->boot = NULL;
    nodes_free(rk->nodes, rk->nnodes);
    topics_free(rk->topics, rk->ntopics);
    rk->nodes = NULL;
    rk->topics = NULL;
    rk->nnodes = rk->ntopics = 0;
    buf_deinit(&rk->frame);
}

/* ---- Metadata (v9-13: the flexible versions Kafka 4.x serves) -------------------------------- */

static void metadata_request(buf_t *body, int16_t v, char *const *topics, size_t n)
{
    static const uint8_t zero_id[16];
    wire_writer_t w;
    wire_writer_init(&w, body, true);
    wire_write_array_len(&w, topics ? (int32_t)n : -1);
    for (size_t i = 0; topics && i < n; i++) {
        if (v >= 10)
            wire_write_uuid(&w, zero_id);
        wire_write_cstr(&w, topics[i]);
        wire_write_tags(&w);
    }
    wire_write_bool(&w, false); /* allow_auto_topic_creation: asking never creates */
    if (v <= 10)
        wire_write_bool(&w, false); /* include_cluster_authorized_operations */
    wire_write_bool(&w, false);     /* include_topic_authorized_operations */
    wire_write_tags(&w);
}

static int cmp_part(const void *a, const void *b)
{
    const cli_raw_part_t *x = a, *y = b;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

static void metadata_read_topic(wire_reader_t *r, int16_t v, cli_raw_topic_t *t)
{
    uint8_t id[16];
    t->error = wire_read_i16(r);
    wire_str_t name = v >= 12 ? wire_read_nstr(r) : wire_read_str(r);
    t->name = wire_str_has_nul(name) ? NULL : wire_str_dup(name);
    if (v >= 10)
        wire_read_uuid(r, id);
    t->internal = wire_read_bool(r);
    int32_t np = wire_read_array(r, 2 + 4 + 4 + 4 + 3, CLI_RAW_COUNT_MAX);
    t->parts = weir_calloc((size_t)WEIR_MAX(np, 0) + 1, sizeof(*t->parts));
    for (int32_t j = 0; j < np && wire_reader_ok(r); j++) {
        cli_raw_part_t *p = &t->parts[t->nparts++];
        p->error = wire_read_i16(r);
        p->partition = wire_read_i32(r);
        p->leader = wire_read_i32(r);
        wire_read_i32(r);             /* leader_epoch */
        for (int k = 0; k < 3; k++) { /* replicas, isr, offline replicas */
            int32_t ni = wire_read_array(r, 4, CLI_RAW_COUNT_MAX);
            for (int32_t x = 0; x < ni; x++)
                wire_read_i32(r);
        }
        wire_read_tags(r);
    }
    qsort(t->parts, t->nparts, sizeof(*t->parts), cmp_part);
    wire_read_i32(r); /* topic_authorized_operations */
    wire_read_tags(r);
}

static void metadata_read(wire_reader_t *r, int16_t v, cli_raw_t *rk)
{
    wire_read_i32(r); /* throttle_time_ms */
    int32_t nb = wire_read_array(r, 4 + 1 + 4 + 1 + 1, CLI_RAW_COUNT_MAX);
    rk->nodes = weir_calloc((size_t)WEIR_MAX(nb, 0) + 1, sizeof(*rk->nodes));
    for (int32_t i = 0; i < nb && wire_reader_ok(r); i++) {
        cli_raw_node_t *nd = &rk->nodes[rk->nnodes++];
        nd->id = wire_read_i32(r);
        wire_str_t host = wire_read_str(r);
        nd->host = wire_str_has_nul(host) ? weir_strdup("") : wire_str_dup(host);
        nd->port = wire_read_i32(r);
        wire_read_nstr(r); /* rack */
        wire_read_tags(r);
    }
    wire_read_nstr(r); /* cluster_id */
    wire_read_i32(r);  /* controller_id */
    int32_t nt = wire_read_array(r, 2 + 1 + 1 + 1 + 4 + 1, CLI_RAW_COUNT_MAX);
    rk->topics = weir_calloc((size_t)WEIR_MAX(nt, 0) + 1, sizeof(*rk->topics));
    for (int32_t i = 0; i < nt && wire_reader_ok(r); i++)
        metadata_read_topic(r, v, &rk->topics[rk->ntopics++]);
    if (v <= 10)
        wire_read_i32(r); /* cluster_authorized_operations */
    if (v >= 13 && wire_read_i16(r) != KAFKA_NONE)
        wire_reader_fail(r); /* a top-level error: no topics to trust */
    wire_read_tags(r);
    for (size_t i = 0; i < rk->ntopics; i++)
        if (!rk->topics[i].name)
            rk->topics[i].name = weir_strdup(""); /* a topic named only by id: never matched */
}

int cli_raw_metadata(cli_raw_t *rk, char *const *topics, size_t n)
{
    cli_raw_conn_t *c = rk->boot;
    int16_t v = cli_raw_version(c, KAFKA_API_METADATA, 9, 13);
    if (v < 0) {
        cli_err(rk->g, "%s does not serve Metadata v9 or later (a broker older than Kafka 2.4)",
                c->addr);
        return CLI_ERROR;
    }
    buf_t body;
    buf_init(&body);
    metadata_request(&body, v, topics, n);
    wire_reader_t r;
    int rc = cli_raw_call(rk, c, KAFKA_API_METADATA, v, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        return rc;
    nodes_free(rk->nodes, rk->nnodes);
    topics_free(rk->topics, rk->ntopics);
    rk->nodes = NULL;
    rk->topics = NULL;
    rk->nnodes = rk->ntopics = 0;
    metadata_read(&r, v, rk);
    return wire_reader_ok(&r) ? 0 : cli_raw_malformed(rk, c, "Metadata");
}

const cli_raw_topic_t *cli_raw_topic(const cli_raw_t *rk, const char *name)
{
    for (size_t i = 0; i < rk->ntopics; i++)
        if (strcmp(rk->topics[i].name, name) == 0 &&
            rk->topics[i].error != KAFKA_UNKNOWN_TOPIC_OR_PARTITION)
            return &rk->topics[i];
    return NULL;
}

/* ---- FindCoordinator ------------------------------------------------------------------------- */

/* v1-3: one key. */
static int find_one(cli_raw_t *rk, int16_t v, int8_t key_type, const char *key,
                    cli_raw_coord_t *out)
{
    buf_t body;
    buf_init(&body);
    wire_writer_t w;
    wire_writer_init(&w, &body, cli_raw_flexible(KAFKA_API_FIND_COORDINATOR, v));
    wire_write_cstr(&w, key);
    wire_write_i8(&w, key_type);
    wire_write_tags(&w);
    wire_reader_t r;
    int rc = cli_raw_call(rk, rk->boot, KAFKA_API_FIND_COORDINATOR, v, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        return rc;
    wire_read_i32(&r); /* throttle_time_ms */
    out->error = wire_read_i16(&r);
    wire_read_nstr(&r); /* error_message */
    out->node_id = wire_read_i32(&r);
    wire_str_t host = wire_read_str(&r);
    out->port = wire_read_i32(&r);
    wire_read_tags(&r);
    if (!wire_reader_ok(&r) || wire_str_has_nul(host))
        return cli_raw_malformed(rk, rk->boot, "FindCoordinator");
    out->host = wire_str_dup(host);
    return 0;
}

/* v4+: every key in one request; the answer names each key. */
static int find_batch(cli_raw_t *rk, int16_t v, int8_t key_type, char *const *keys, size_t n,
                      cli_raw_coord_t *out)
{
    buf_t body;
    buf_init(&body);
    wire_writer_t w;
    wire_writer_init(&w, &body, true);
    wire_write_i8(&w, key_type);
    wire_write_array_len(&w, (int32_t)n);
    for (size_t i = 0; i < n; i++)
        wire_write_cstr(&w, keys[i]);
    wire_write_tags(&w);
    wire_reader_t r;
    int rc = cli_raw_call(rk, rk->boot, KAFKA_API_FIND_COORDINATOR, v, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        return rc;
    wire_read_i32(&r); /* throttle_time_ms */
    int32_t nc = wire_read_array(&r, 1 + 4 + 1 + 4 + 2 + 1 + 1, CLI_RAW_COUNT_MAX);
    for (int32_t i = 0; i < nc && wire_reader_ok(&r); i++) {
        wire_str_t key = wire_read_str(&r);
        cli_raw_coord_t c = {.node_id = wire_read_i32(&r)};
        wire_str_t host = wire_read_str(&r);
        c.port = wire_read_i32(&r);
        c.error = wire_read_i16(&r);
        wire_read_nstr(&r); /* error_message */
        wire_read_tags(&r);
        for (size_t k = 0; k < n && wire_reader_ok(&r) && !wire_str_has_nul(host); k++) {
            if (out[k].host || !wire_str_eq(key, keys[k]))
                continue;
            c.host = wire_str_dup(host);
            out[k] = c;
            break;
        }
    }
    wire_read_tags(&r);
    return wire_reader_ok(&r) ? 0 : cli_raw_malformed(rk, rk->boot, "FindCoordinator");
}

int cli_raw_find_coordinators(cli_raw_t *rk, int8_t key_type, char *const *keys, size_t n,
                              cli_raw_coord_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (cli_raw_coord_t){KAFKA_COORDINATOR_NOT_AVAILABLE, -1, NULL, -1};
    int16_t v = cli_raw_version(rk->boot, KAFKA_API_FIND_COORDINATOR, 1, 6);
    if (v < 0) {
        cli_err(rk->g, "%s does not serve FindCoordinator v1 or later", rk->boot->addr);
        return CLI_ERROR;
    }
    if (v >= 4)
        return find_batch(rk, v, key_type, keys, n, out);
    for (size_t i = 0; i < n; i++) {
        int rc = find_one(rk, v, key_type, keys[i], &out[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}
