/*
 * `weir user create|passwd|delete|list`: SASL/SCRAM users, rpk-style flags (--password,
 * --mechanism), through Kafka's AlterUserScramCredentials and DescribeUserScramCredentials, so
 * they work against any Kafka 2.7+ broker as well as Weir.
 *
 * Why not librdkafka, as the other client commands: Debian's librdkafka (2.0) predates its SCRAM
 * admin API (2.2). The two requests go over rawkafka.c, the CLI's own small protocol client (as
 * `weir txn`'s do): to the first bootstrap broker that answers, after its ApiVersions, over
 * PLAINTEXT (the local administration listener Kafka deployments keep on loopback); -X
 * security.protocol other than plaintext is refused with that reason. The password never leaves
 * this process: the salt is drawn here and only the salted password (PBKDF2, RFC 5802's Hi) is
 * sent, as Kafka's own tools do.
 *
 * Every answer is decoded with the kafka/wire codec, which checks each length and count against
 * the bytes received.
 */
#include "cli/rawkafka.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <strings.h>

#define USER_ITER_DEFAULT 4096
#define USER_COUNT_MAX    1000000 /* users in one answer */

enum { O_PASSWORD = 1, O_MECHANISM, O_ITERATIONS, O_COUNT };

static const char *const mech_names[] = {"SCRAM-SHA-256", "SCRAM-SHA-512"}; /* Kafka types 1, 2 */

static int mech_parse(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (strcasecmp(s, mech_names[i]) == 0)
            return i + 1;
    return -1;
}

/* Both APIs exist at v0 only (Kafka 4.x too). */
static int scram_api_check(cli_raw_t *rk, int16_t api, const char *name)
{
    if (cli_raw_version(rk->boot, api, 0, 0) == 0)
        return 0;
    cli_err(rk->g, "%s does not serve %s v0 (Kafka 2.7+ does; on Weir, a listener without SASL)",
            rk->boot->addr, name);
    return CLI_ERROR;
}

/* ---- describe ------------------------------------------------------------------------------ */

typedef struct {
    char *name;
    int32_t iterations[3]; /* by Kafka's mechanism type; 0: none */
} user_desc_t;

static void descs_free(user_desc_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(d[i].name);
    free(d);
}

/* One result of the answer into d (its name a heap copy). False once the reader failed. */
static bool describe_result(wire_reader_t *r, user_desc_t *d)
{
    wire_str_t name = wire_read_str(r);
    wire_read_i16(r);  /* ErrorCode: per user only when users were named */
    wire_read_nstr(r); /* ErrorMessage */
    int32_t ni = wire_read_array(r, 6, 16);
    for (int32_t j = 0; j < ni && wire_reader_ok(r); j++) {
        int8_t mech = wire_read_i8(r);
        int32_t it = wire_read_i32(r);
        wire_read_tags(r);
        if (mech == 1 || mech == 2)
            d->iterations[mech] = it;
    }
    wire_read_tags(r);
    if (wire_reader_ok(r) && wire_str_has_nul(name))
        wire_reader_fail(r);
    if (!wire_reader_ok(r))
        return false;
    d->name = wire_str_dup(name);
    return true;
}

/* DescribeUserScramCredentials v0 of every user: *out (caller frees with descs_free). */
static int describe(cli_raw_t *rk, user_desc_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    int rc = scram_api_check(rk, KAFKA_API_DESCRIBE_USER_SCRAM_CREDENTIALS,
                             "DescribeUserScramCredentials");
    if (rc != 0)
        return rc;
    buf_t body;
    buf_init(&body);
    wire_writer_t w;
    wire_writer_init(&w, &body, true);
    wire_write_array_len(&w, -1); /* null: every user */
    wire_write_tags(&w);
    wire_reader_t r;
    rc = cli_raw_call(rk, rk->boot, KAFKA_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        return rc;
    wire_read_i32(&r); /* ThrottleTimeMs */
    int16_t err = wire_read_i16(&r);
    wire_str_t msg = wire_read_nstr(&r);
    int32_t n = wire_read_array(&r, 6, USER_COUNT_MAX);
    size_t cap = n > 0 ? (size_t)n : 0;
    user_desc_t *d = weir_calloc(cap + 1, sizeof(*d));
    for (size_t i = 0; i < cap && describe_result(&r, &d[i]);)
        i++;
    wire_read_tags(&r);
    if (!wire_reader_ok(&r)) {
        descs_free(d, cap);
        return cli_raw_malformed(rk, rk->boot, "DescribeUserScramCredentials");
    }
    if (err != 0) {
        cli_err(rk->g, "describing users failed: %.*s (%s)", msg.len > 0 ? (int)msg.len : 0,
                msg.len > 0 ? msg.s : "", wire_err_name(err));
        descs_free(d, cap);
        return CLI_ERROR;
    }
    *out = d;
    *nout = cap;
    return 0;
}

/* ---- alter --------------------------------------------------------------------------------- */

/* The upsertion of name's credential for mech: a fresh salt and the salted password. */
static int write_upsertion(cli_raw_t *rk, wire_writer_t *w, const char *name, const char *password,
                           int mech, int32_t iterations)
{
    uint8_t salt[32], salted[64];
    int klen = mech == 2 ? 64 : 32;
    if (RAND_bytes(salt, sizeof(salt)) != 1 ||
        PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), iterations,
                          mech == 2 ? EVP_sha512() : EVP_sha256(), klen, salted) != 1) {
        cli_err(rk->g, "cannot derive the salted password");
        return CLI_ERROR;
    }
    wire_write_array_len(w, 1);
    wire_write_cstr(w, name);
    wire_write_i8(w, (int8_t)mech);
    wire_write_i32(w, iterations);
    wire_write_nbytes(w, salt, (int32_t)sizeof(salt));
    wire_write_nbytes(w, salted, klen);
    wire_write_tags(w);
    OPENSSL_cleanse(salted, sizeof(salted));
    return 0;
}

/* One user's upsertion (password != NULL) or deletions (del_mechs: a bit per Kafka type). */
static int alter(cli_raw_t *rk, const char *name, const char *password, int mech,
                 int32_t iterations, unsigned del_mechs)
{
    int rc =
        scram_api_check(rk, KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS, "AlterUserScramCredentials");
    if (rc != 0)
        return rc;
    buf_t body;
    buf_init(&body);
    wire_writer_t w;
    wire_writer_init(&w, &body, true);
    wire_write_array_len(&w, (del_mechs & 2 ? 1 : 0) + (del_mechs & 4 ? 1 : 0));
    for (int m = 1; m <= 2; m++) {
        if (!(del_mechs & (1u << m)))
            continue;
        wire_write_cstr(&w, name);
        wire_write_i8(&w, (int8_t)m);
        wire_write_tags(&w);
    }
    if (password)
        rc = write_upsertion(rk, &w, name, password, mech, iterations);
    else
        wire_write_array_len(&w, 0);
    wire_write_tags(&w);
    wire_reader_t r;
    if (rc == 0)
        rc = cli_raw_call(rk, rk->boot, KAFKA_API_ALTER_USER_SCRAM_CREDENTIALS, 0, &body, &r);
    OPENSSL_cleanse(body.data, body.len); /* it held the salted password */
    buf_deinit(&body);
    if (rc != 0)
        return rc;
    wire_read_i32(&r); /* ThrottleTimeMs */
    int32_t n = wire_read_array(&r, 5, USER_COUNT_MAX);
    bool answered = false;
    for (int32_t i = 0; i < n && wire_reader_ok(&r); i++) {
        wire_str_t user = wire_read_str(&r);
        int16_t err = wire_read_i16(&r);
        wire_str_t msg = wire_read_nstr(&r);
        wire_read_tags(&r);
        if (!wire_reader_ok(&r) || !wire_str_eq(user, name))
            continue;
        answered = true;
        if (err == 0)
            continue;
        cli_err(rk->g, "user %s: %.*s (%s)", name, msg.len > 0 ? (int)msg.len : 0,
                msg.len > 0 ? msg.s : "", wire_err_name(err));
        rc = err == KAFKA_RESOURCE_NOT_FOUND ? CLI_NOT_FOUND : CLI_ERROR;
    }
    wire_read_tags(&r);
    if (!wire_reader_ok(&r))
        return cli_raw_malformed(rk, rk->boot, "AlterUserScramCredentials");
    if (!answered) {
        cli_err(rk->g, "%s did not answer for user %s", rk->boot->addr, name);
        return CLI_ERROR;
    }
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
    cli_raw_t rk = {0};
    user_args_t ua = {0};
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = user_parse(g, &a, &ua, true);
    const char *name = a.npos ? a.pos[0] : NULL;
    if (rc < 0) {
        cli_args_deinit(&a);
        return cli_help_current(g);
    }
    if (rc != 0 || (rc = cli_raw_open(&rk, g)) != 0)
        goto out;
    int mech = ua.mech ? ua.mech : 1;
    user_desc_t *d;
    size_t n;
    if ((rc = describe(&rk, &d, &n)) != 0)
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
        rc = alter(&rk, name, ua.password, mech, (int32_t)ua.iterations, 0);
    if (rc == 0)
        printf("%s user %s (%s)\n", create ? "created" : "changed the password of", name,
               mech_names[mech - 1]);
out:
    cli_raw_close(&rk);
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
    cli_raw_t rk = {0};
    user_args_t ua = {0};
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = user_parse(g, &a, &ua, false);
    const char *name = a.npos ? a.pos[0] : NULL;
    if (rc < 0) {
        cli_args_deinit(&a);
        return cli_help_current(g);
    }
    if (rc != 0 || (rc = cli_raw_open(&rk, g)) != 0)
        goto out;
    unsigned del = 0;
    if (ua.mech) {
        del = 1u << ua.mech;
    } else { /* every credential the user has */
        user_desc_t *d;
        size_t n;
        if ((rc = describe(&rk, &d, &n)) != 0)
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
    rc = alter(&rk, name, NULL, 0, 0, del);
    if (rc == 0)
        printf("deleted user %s\n", name);
out:
    cli_raw_close(&rk);
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
    cli_raw_t rk;
    if ((rc = cli_raw_open(&rk, g)) != 0)
        return rc;
    user_desc_t *d;
    size_t n;
    rc = describe(&rk, &d, &n);
    cli_raw_close(&rk);
    if (rc != 0)
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
