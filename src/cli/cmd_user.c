/*
 * `weir user create|passwd|delete|list`: SASL/SCRAM users, rpk-style flags (--password,
 * --mechanism), through Kafka's AlterUserScramCredentials and DescribeUserScramCredentials, so
 * they work against any Kafka 2.7+ broker as well as Weir.
 *
 * Why not librdkafka, as the other client commands: Debian's librdkafka (2.0) predates its SCRAM
 * admin API (2.2). The two requests are small, so this file speaks them itself over one TCP
 * connection to the first bootstrap broker: a PLAINTEXT listener (the local administration
 * listener Kafka deployments keep on loopback); -X security.protocol other than plaintext is
 * refused with that reason. The password never leaves this process: the salt is drawn here and
 * only the salted password (PBKDF2, RFC 5802's Hi) is sent, as Kafka's own tools do.
 *
 * Every length read from the broker is checked against the bytes received.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define USER_ITER_DEFAULT 4096
#define USER_RESP_MAX     (16u << 20)

enum { O_PASSWORD = 1, O_MECHANISM, O_ITERATIONS, O_COUNT };

static const char *const mech_names[] = {"SCRAM-SHA-256", "SCRAM-SHA-512"}; /* Kafka types 1, 2 */

static int mech_parse(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (strcasecmp(s, mech_names[i]) == 0)
            return i + 1;
    return -1;
}

/* ---- the wire: flexible (v0 of both APIs), header v2 ---------------------------------------- */

static void put_cstr(buf_t *b, const char *s)
{
    size_t n = strlen(s);
    buf_append_uvarint(b, n + 1);
    buf_append(b, s, n);
}

static void put_request_header(buf_t *b, int16_t key, int32_t corr)
{
    buf_append_be32(b, 0); /* size, filled in by the sender */
    buf_append_be16(b, (uint16_t)key);
    buf_append_be16(b, 0); /* version 0 */
    buf_append_be32(b, (uint32_t)corr);
    buf_append_be16(b, 4);
    buf_append(b, "weir", 4);
    buf_append_uvarint(b, 0); /* tags */
}

typedef struct {
    const uint8_t *p, *end;
    bool bad;
} rd_t;

static bool rd_need(rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n)
        r->bad = true;
    return !r->bad;
}
static int64_t rd_int(rd_t *r, int bytes)
{
    if (!rd_need(r, (size_t)bytes))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | r->p[i];
    r->p += bytes;
    if (bytes == 1)
        return (int8_t)v;
    if (bytes == 2)
        return (int16_t)v;
    return (int32_t)v;
}
static uint64_t rd_uvarint(rd_t *r)
{
    uint64_t v = 0;
    size_t n = r->bad ? 0 : varint_decode_u64(r->p, r->end, &v);
    if (n == 0)
        r->bad = true;
    else
        r->p += n;
    return v;
}
/* A compact (nullable) string as a heap copy; NULL for null. */
static char *rd_cstr(rd_t *r)
{
    uint64_t n = rd_uvarint(r);
    if (n == 0 || r->bad)
        return NULL;
    if (!rd_need(r, n - 1))
        return NULL;
    char *s = weir_strndup((const char *)r->p, n - 1);
    r->p += n - 1;
    return s;
}
static void rd_tags(rd_t *r)
{
    uint64_t n = rd_uvarint(r);
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        rd_uvarint(r);
        uint64_t len = rd_uvarint(r);
        if (rd_need(r, len))
            r->p += len;
    }
}

/* One request, one response (its body after the header) into resp. */
static int roundtrip(cli_global_t *g, buf_t *req, buf_t *resp)
{
    int rc = cli_global_resolve(g); /* -b, $WEIR_BROKERS, the profile, the default */
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < g->xconf_len; i++) {
        const char *kv = g->xconf[i];
        if (strncmp(kv, "security.protocol=", 18) == 0 && strcasecmp(kv + 18, "plaintext") != 0) {
            cli_err(g,
                    "this command speaks to a PLAINTEXT listener only (%s given): point -b "
                    "at the broker's local administration listener",
                    kv);
            return CLI_USAGE;
        }
    }
    char first[300];
    snprintf(first, sizeof(first), "%s", g->brokers);
    char *comma = strchr(first, ',');
    if (comma)
        *comma = '\0';
    char *colon = strrchr(first, ':');
    if (!colon) {
        cli_err(g, "bad broker address '%s': expected HOST:PORT", first);
        return CLI_USAGE;
    }
    *colon = '\0';
    const char *host = first[0] == '[' ? first + 1 : first;
    if (first[0] == '[' && colon > first && colon[-1] == ']')
        colon[-1] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
        cli_err(g, "cannot resolve %s", g->brokers);
        return CLI_ERROR;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = {.tv_sec = g->timeout_ms / 1000,
                             .tv_usec = (g->timeout_ms % 1000) * 1000};
        if (fd >= 0) {
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        }
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        cli_err(g, "cannot connect to %s: %s", g->brokers, strerror(errno));
        return CLI_ERROR;
    }
    be32_write(req->data, (uint32_t)(req->len - 4));
    rc = CLI_ERROR;
    if (send(fd, req->data, req->len, MSG_NOSIGNAL) != (ssize_t)req->len) {
        cli_err(g, "sending to %s: %s", g->brokers, strerror(errno));
        goto out;
    }
    uint8_t hdr[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t n = recv(fd, hdr + got, 4 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    uint32_t size = got == 4 ? be32_read(hdr) : 0;
    if (got < 4 || size < 5 || size > USER_RESP_MAX) {
        cli_err(g,
                "%s closed the connection or answered badly (does it support the SCRAM "
                "credential APIs on this listener?)",
                g->brokers);
        goto out;
    }
    uint8_t *p = buf_extend(resp, size);
    for (got = 0; got < size;) {
        ssize_t n = recv(fd, p + got, size - got, 0);
        if (n <= 0) {
            cli_err(g, "%s: short answer", g->brokers);
            goto out;
        }
        got += (size_t)n;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

/* ---- describe ------------------------------------------------------------------------------ */

typedef struct {
    char *name;
    int16_t err;
    char *msg;
    int32_t iterations[3]; /* by Kafka's mechanism type; 0: none */
} user_desc_t;

static void descs_free(user_desc_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].name);
        free(d[i].msg);
    }
    free(d);
}

/* DescribeUserScramCredentials for name (NULL: every user). */
static int describe(cli_global_t *g, const char *name, user_desc_t **out, size_t *nout)
{
    buf_t req = {0}, resp = {0};
    put_request_header(&req, 50, 1);
    if (name) {
        buf_append_uvarint(&req, 2);
        put_cstr(&req, name);
        buf_append_uvarint(&req, 0);
    } else {
        buf_append_uvarint(&req, 0); /* null: everyone */
    }
    buf_append_uvarint(&req, 0);
    int rc = roundtrip(g, &req, &resp);
    buf_deinit(&req);
    *out = NULL;
    *nout = 0;
    if (rc != 0)
        return rc;
    rd_t r = {resp.data, resp.data + resp.len, false};
    rd_int(&r, 4); /* correlation id */
    rd_tags(&r);
    rd_int(&r, 4); /* throttle */
    int16_t err = (int16_t)rd_int(&r, 2);
    char *msg = rd_cstr(&r);
    uint64_t n = rd_uvarint(&r);
    n = n ? n - 1 : 0;
    if (n > resp.len)
        r.bad = true;
    user_desc_t *d = weir_calloc(r.bad ? 1 : n + 1, sizeof(*d));
    size_t k = 0;
    for (; k < n && !r.bad; k++) {
        d[k].name = rd_cstr(&r);
        d[k].err = (int16_t)rd_int(&r, 2);
        d[k].msg = rd_cstr(&r);
        uint64_t ni = rd_uvarint(&r);
        for (uint64_t j = 1; j < ni && !r.bad; j++) {
            int8_t m = (int8_t)rd_int(&r, 1);
            int32_t it = (int32_t)rd_int(&r, 4);
            rd_tags(&r);
            if (m == 1 || m == 2)
                d[k].iterations[m] = it;
        }
        rd_tags(&r);
        if (!d[k].name)
            r.bad = true;
    }
    buf_deinit(&resp);
    if (r.bad) {
        cli_err(g, "a malformed DescribeUserScramCredentials answer from %s", g->brokers);
        free(msg);
        descs_free(d, k);
        return CLI_ERROR;
    }
    if (err != 0) {
        cli_err(g, "describing users failed: error %d: %s", err, msg ? msg : "");
        free(msg);
        descs_free(d, k);
        return CLI_ERROR;
    }
    free(msg);
    *out = d;
    *nout = k;
    return 0;
}

/* ---- alter --------------------------------------------------------------------------------- */

/* One user's upsertion (password != NULL) or deletions (mechs: bit per Kafka type). */
static int alter(cli_global_t *g, const char *name, const char *password, int mech,
                 int32_t iterations, unsigned del_mechs)
{
    buf_t req = {0}, resp = {0};
    put_request_header(&req, 51, 2);
    int ndel = (del_mechs & 2 ? 1 : 0) + (del_mechs & 4 ? 1 : 0);
    buf_append_uvarint(&req, (uint64_t)ndel + 1);
    for (int m = 1; m <= 2; m++) {
        if (!(del_mechs & (1u << m)))
            continue;
        put_cstr(&req, name);
        buf_append_u8(&req, (uint8_t)m);
        buf_append_uvarint(&req, 0);
    }
    if (password) {
        uint8_t salt[32], salted[64];
        int klen = mech == 2 ? 64 : 32;
        if (RAND_bytes(salt, sizeof(salt)) != 1 ||
            PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), iterations,
                              mech == 2 ? EVP_sha512() : EVP_sha256(), klen, salted) != 1) {
            cli_err(g, "cannot derive the salted password");
            buf_deinit(&req);
            return CLI_ERROR;
        }
        buf_append_uvarint(&req, 2);
        put_cstr(&req, name);
        buf_append_u8(&req, (uint8_t)mech);
        buf_append_be32(&req, (uint32_t)iterations);
        buf_append_uvarint(&req, sizeof(salt) + 1);
        buf_append(&req, salt, sizeof(salt));
        buf_append_uvarint(&req, (uint64_t)klen + 1);
        buf_append(&req, salted, (size_t)klen);
        buf_append_uvarint(&req, 0);
    } else {
        buf_append_uvarint(&req, 1); /* no upsertions */
    }
    buf_append_uvarint(&req, 0);
    int rc = roundtrip(g, &req, &resp);
    buf_deinit(&req);
    if (rc != 0)
        return rc;
    rd_t r = {resp.data, resp.data + resp.len, false};
    rd_int(&r, 4);
    rd_tags(&r);
    rd_int(&r, 4);
    uint64_t n = rd_uvarint(&r);
    rc = CLI_ERROR;
    for (uint64_t i = 1; i < n && !r.bad; i++) {
        char *u = rd_cstr(&r);
        int16_t err = (int16_t)rd_int(&r, 2);
        char *msg = rd_cstr(&r);
        rd_tags(&r);
        if (!r.bad && u && strcmp(u, name) == 0) {
            if (err == 0)
                rc = CLI_OK;
            else
                cli_err(g, "user %s: %s (error %d)", name, msg ? msg : "", err);
            if (err == 91) /* RESOURCE_NOT_FOUND */
                rc = CLI_NOT_FOUND;
        }
        free(u);
        free(msg);
    }
    if (r.bad)
        cli_err(g, "a malformed AlterUserScramCredentials answer from %s", g->brokers);
    buf_deinit(&resp);
    return rc;
}

/* ---- commands ------------------------------------------------------------------------------ */

typedef struct {
    const char *password;
    int mech; /* Kafka type; 0: not given */
    int64_t iterations;
} user_args_t;

static int user_parse(cli_global_t *g, cli_args_t *a, user_args_t *ua, bool want_password)
{
    static const cli_opt_t opts[] = {{'p', "password", true, O_PASSWORD},
                                     {0, "mechanism", true, O_MECHANISM},
                                     {0, "iterations", true, O_ITERATIONS},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    ua->iterations = USER_ITER_DEFAULT;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        switch (id) {
        case CLI_OPT_HELP:
            return -1;
        case O_PASSWORD:
            ua->password = arg;
            break;
        case O_MECHANISM:
            if ((ua->mech = mech_parse(arg)) < 0)
                return cli_usage_err(g, "--mechanism is SCRAM-SHA-256 or SCRAM-SHA-512, not '%s'",
                                     arg);
            break;
        case O_ITERATIONS:
            if (cli_parse_i64(arg, 4096, 16384, &ua->iterations) != 0)
                return cli_usage_err(g, "--iterations is 4096..16384 (Kafka's bounds), not '%s'",
                                     arg);
            break;
        }
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos != 1)
        return cli_usage_err(g, "which user? give one name");
    if (want_password && (!ua->password || !*ua->password))
        return cli_usage_err(g, "--password is required");
    if (!want_password && ua->password)
        return cli_usage_err(g, "takes no --password");
    return 0;
}

static int user_set(cli_global_t *g, int argc, char **argv, bool create)
{
    cli_args_t a;
    user_args_t ua = {0};
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = user_parse(g, &a, &ua, true);
    const char *name = a.npos ? a.pos[0] : NULL;
    if (rc < 0) {
        cli_args_deinit(&a);
        return cli_help_current(g);
    }
    if (rc != 0)
        goto out;
    int mech = ua.mech ? ua.mech : 1;
    user_desc_t *d;
    size_t n;
    if ((rc = describe(g, NULL, &d, &n)) != 0)
        goto out;
    const user_desc_t *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].name, name) == 0)
            found = &d[i];
    if (create && found && found->iterations[mech]) {
        cli_err(g, "user %s already has a %s credential (weir user passwd changes it)", name,
                mech_names[mech - 1]);
        rc = CLI_ERROR;
    } else if (!create && !found) {
        cli_err(g, "no user %s", name);
        rc = CLI_NOT_FOUND;
    }
    descs_free(d, n);
    if (rc == 0 && g->dry_run) { /* checked against the broker's users; nothing is sent */
        printf("would %s user %s (%s) (dry run)\n", create ? "create" : "change the password of",
               name, mech_names[mech - 1]);
        goto out;
    }
    if (rc == 0)
        rc = alter(g, name, ua.password, mech, (int32_t)ua.iterations, 0);
    if (rc == 0)
        printf("%s user %s (%s)\n", create ? "created" : "changed the password of", name,
               mech_names[mech - 1]);
out:
    cli_args_deinit(&a);
    return rc;
}

static int user_create(cli_global_t *g, int argc, char **argv)
{
    return user_set(g, argc, argv, true);
}

static int user_passwd(cli_global_t *g, int argc, char **argv)
{
    return user_set(g, argc, argv, false);
}

static int user_delete(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    user_args_t ua = {0};
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = user_parse(g, &a, &ua, false);
    const char *name = a.npos ? a.pos[0] : NULL;
    if (rc < 0) {
        cli_args_deinit(&a);
        return cli_help_current(g);
    }
    if (rc != 0)
        goto out;
    unsigned del = 0;
    if (ua.mech) {
        del = 1u << ua.mech;
    } else { /* every credential the user has */
        user_desc_t *d;
        size_t n;
        if ((rc = describe(g, NULL, &d, &n)) != 0)
            goto out;
        for (size_t i = 0; i < n; i++)
            for (int m = 1; m <= 2; m++)
                if (strcmp(d[i].name, name) == 0 && d[i].iterations[m])
                    del |= 1u << m;
        descs_free(d, n);
        if (!del) {
            cli_err(g, "no user %s", name);
            rc = CLI_NOT_FOUND;
            goto out;
        }
    }
    if (g->dry_run) {
        printf("would delete user %s (dry run)\n", name);
        goto out;
    }
    rc = alter(g, name, NULL, 0, 0, del);
    if (rc == 0)
        printf("deleted user %s\n", name);
out:
    cli_args_deinit(&a);
    return rc;
}

static int cmp_desc(const void *x, const void *y)
{
    return strcmp(((const user_desc_t *)x)->name, ((const user_desc_t *)y)->name);
}

static int user_list(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_none(&a);
    int npos = a.npos;
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    if (npos)
        return cli_usage_err(g, "takes no arguments");
    user_desc_t *d;
    size_t n;
    if ((rc = describe(g, NULL, &d, &n)) != 0)
        return rc;
    qsort(d, n, sizeof(*d), cmp_desc);
    static const char *const hdr[] = {"NAME", "MECHANISMS"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    json_t *j = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *mechs = json_array();
        buf_t b = {0};
        for (int m = 1; m <= 2; m++) {
            if (!d[i].iterations[m])
                continue;
            buf_printf(&b, "%s%s(%d)", b.len ? "," : "", mech_names[m - 1], d[i].iterations[m]);
            json_array_append_new(mechs, json_pack("{s:s, s:i}", "mechanism", mech_names[m - 1],
                                                   "iterations", d[i].iterations[m]));
        }
        buf_append_u8(&b, 0);
        cli_table_addf(&t, "%s\t%s", d[i].name, (char *)b.data);
        json_array_append_new(j, json_pack("{s:s, s:o}", "name", d[i].name, "mechanisms", mechs));
        buf_deinit(&b);
    }
    cli_output_print(g, j, &t);
    descs_free(d, n);
    return CLI_OK;
}

int cli_user_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {{"create", user_create},
                                     {"passwd", user_passwd},
                                     {"delete", user_delete},
                                     {"list", user_list}};
    return cli_dispatch(g, "user", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
