/*
 * `weir quota alter|describe`: Kafka's client quotas (producer_byte_rate, consumer_byte_rate,
 * request_percentage, controller_mutation_rate per user and/or client id, connection_creation_rate
 * per ip) through AlterClientQuotas and DescribeClientQuotas, with rpk-style flags:
 *
 *   weir quota alter --name user=alice --add producer_byte_rate=1048576
 *   weir quota alter --default client-id --add consumer_byte_rate=2097152
 *   weir quota describe --name user=alice
 *
 * As `weir user` and `weir acl`, over rawkafka.c (Debian's librdkafka has no client-quota admin
 * API) to the first bootstrap broker; every answer is decoded with the kafka/wire codec.
 */
#include "cli/rawkafka.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#define QUOTA_FLAGS_MAX 16
#define QUOTA_COUNT_MAX 1000000

enum { O_NAME = 1, O_DEFAULT, O_ANY, O_ADD, O_DELETE, O_STRICT };

typedef struct {
    const char *type[QUOTA_FLAGS_MAX];
    const char *name[QUOTA_FLAGS_MAX]; /* NULL: the default */
    int8_t match[QUOTA_FLAGS_MAX];     /* describe: 0 exact, 1 default, 2 any */
    size_t n;
    const char *key[QUOTA_FLAGS_MAX];
    double value[QUOTA_FLAGS_MAX];
    bool remove[QUOTA_FLAGS_MAX];
    size_t nops;
    bool strict;
    char split[2 * QUOTA_FLAGS_MAX][256]; /* the TYPE=NAME and KEY=VALUE halves */
} quota_args_t;

static bool type_ok(const char *t)
{
    return strcmp(t, "user") == 0 || strcmp(t, "client-id") == 0 || strcmp(t, "ip") == 0;
}

/* "a=b" into two strings kept in qa->split. */
static int split_eq(cli_global_t *g, quota_args_t *qa, const char *flag, const char *arg,
                    const char **left, const char **right)
{
    const char *eq = strchr(arg, '=');
    size_t i = (qa->n + qa->nops) * 2;
    if (!eq || eq == arg || strlen(arg) >= sizeof(qa->split[0]) || i + 1 >= 2 * QUOTA_FLAGS_MAX)
        return cli_usage_err(g, "%s takes %s, not '%s'", flag,
                             strcmp(flag, "--name") == 0 ? "TYPE=NAME" : "KEY=VALUE", arg);
    snprintf(qa->split[i], sizeof(qa->split[i]), "%.*s", (int)(eq - arg), arg);
    snprintf(qa->split[i + 1], sizeof(qa->split[i + 1]), "%s", eq + 1);
    *left = qa->split[i];
    *right = qa->split[i + 1];
    return 0;
}

static int add_entity(cli_global_t *g, quota_args_t *qa, const char *type, const char *name,
                      int8_t match)
{
    if (!type_ok(type))
        return cli_usage_err(g, "entity type is user, client-id or ip, not '%s'", type);
    if (qa->n >= QUOTA_FLAGS_MAX)
        return cli_usage_err(g, "too many entity flags");
    qa->type[qa->n] = type;
    qa->name[qa->n] = name;
    qa->match[qa->n++] = match;
    return 0;
}

static int quota_parse(cli_global_t *g, cli_args_t *a, quota_args_t *qa, bool alter)
{
    static const cli_opt_t opts[] = {
        {0, "name", true, O_NAME}, {0, "default", true, O_DEFAULT}, {0, "any", true, O_ANY},
        {0, "add", true, O_ADD},   {0, "delete", true, O_DELETE},   {0, "strict", false, O_STRICT},
        {0, NULL, false, 0}};
    int id, rc;
    const char *arg, *l, *r;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        int e = 0;
        if (id == CLI_OPT_HELP)
            return -1;
        if (id == O_NAME && (e = split_eq(g, qa, "--name", arg, &l, &r)) == 0)
            e = add_entity(g, qa, l, r, 0);
        else if (id == O_NAME)
            ;
        else if (id == O_DEFAULT)
            e = add_entity(g, qa, arg, NULL, 1);
        else if ((id == O_ANY || id == O_STRICT) && alter)
            e = cli_usage_err(g, "--any and --strict are flags of describe");
        else if (id == O_ANY)
            e = add_entity(g, qa, arg, NULL, 2);
        else if (id == O_STRICT)
            qa->strict = true;
        else if (!alter)
            e = cli_usage_err(g, "--add and --delete are flags of alter");
        else if (qa->nops >= QUOTA_FLAGS_MAX)
            e = cli_usage_err(g, "too many --add/--delete flags");
        else if (id == O_DELETE)
            qa->key[qa->nops] = arg, qa->remove[qa->nops++] = true;
        else if ((e = split_eq(g, qa, "--add", arg, &l, &r)) == 0) {
            char *end;
            qa->value[qa->nops] = strtod(r, &end);
            if (*end || !*r)
                e = cli_usage_err(g, "--add %s: '%s' is not a number", l, r);
            qa->key[qa->nops++] = l;
        }
        if (e)
            return e;
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos)
        return cli_usage_err(g, "takes no arguments");
    if (alter && (!qa->n || !qa->nops))
        return cli_usage_err(g, "alter needs an entity (--name, --default) and --add or --delete");
    return 0;
}

/* ---- alter --------------------------------------------------------------------------------- */

static int quota_alter(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_raw_t rk = {0};
    quota_args_t qa;
    memset(&qa, 0, sizeof(qa));
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = quota_parse(g, &a, &qa, true);
    if (rc < 0) {
        cli_args_deinit(&a);
        return cli_help_current(g);
    }
    if (rc != 0 || (rc = cli_raw_open(&rk, g)) != 0)
        goto out;
    int16_t v = cli_raw_version(rk.boot, KAFKA_API_ALTER_CLIENT_QUOTAS, 0, 1);
    if (v < 0) {
        cli_err(g, "%s does not serve AlterClientQuotas", rk.boot->addr);
        rc = CLI_ERROR;
        goto out;
    }
    buf_t body = {0};
    wire_writer_t w;
    wire_writer_init(&w, &body, cli_raw_flexible(KAFKA_API_ALTER_CLIENT_QUOTAS, v));
    wire_write_array_len(&w, 1);
    wire_write_array_len(&w, (int32_t)qa.n);
    for (size_t i = 0; i < qa.n; i++) {
        wire_write_cstr(&w, qa.type[i]);
        wire_write_cstr(&w, qa.name[i]);
        wire_write_tags(&w);
    }
    wire_write_array_len(&w, (int32_t)qa.nops);
    for (size_t i = 0; i < qa.nops; i++) {
        uint64_t bits;
        memcpy(&bits, &qa.value[i], sizeof(bits));
        wire_write_cstr(&w, qa.key[i]);
        wire_write_i64(&w, (int64_t)bits);
        wire_write_bool(&w, qa.remove[i]);
        wire_write_tags(&w);
    }
    wire_write_tags(&w);
    wire_write_bool(&w, g->dry_run); /* validate_only */
    wire_write_tags(&w);
    wire_reader_t r;
    rc = cli_raw_call(&rk, rk.boot, KAFKA_API_ALTER_CLIENT_QUOTAS, v, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        goto out;
    wire_read_i32(&r); /* throttle_time_ms */
    int32_t n = wire_read_array(&r, 4, QUOTA_COUNT_MAX);
    int16_t err = n == 1 ? wire_read_i16(&r) : -1;
    wire_str_t msg = wire_read_nstr(&r);
    if (!wire_reader_ok(&r) || n != 1) {
        rc = cli_raw_malformed(&rk, rk.boot, "AlterClientQuotas");
        goto out;
    }
    if (err != 0) {
        cli_err(g, "%.*s (%s)", msg.len > 0 ? (int)msg.len : 0, msg.len > 0 ? msg.s : "",
                wire_err_name(err));
        rc = CLI_ERROR;
        goto out;
    }
    printf("%s the quotas of", g->dry_run ? "would alter (dry run)" : "altered");
    for (size_t i = 0; i < qa.n; i++)
        printf("%s%s=%s", i ? "," : " ", qa.type[i], qa.name[i] ? qa.name[i] : "<default>");
    printf("\n");
out:
    cli_raw_close(&rk);
    cli_args_deinit(&a);
    return rc;
}

/* ---- describe ------------------------------------------------------------------------------ */

/* One answer entry into the table and the JSON array; false when malformed. */
static bool describe_entry(wire_reader_t *r, cli_table_t *t, json_t *j)
{
    buf_t ent = {0}, vals = {0};
    json_t *je = json_array(), *jv = json_object();
    int32_t nc = wire_read_array(r, 2, QUOTA_COUNT_MAX);
    for (int32_t c = 0; c < nc && wire_reader_ok(r); c++) {
        wire_str_t type = wire_read_str(r), name = wire_read_nstr(r);
        wire_read_tags(r);
        buf_printf(&ent, "%s%.*s=%.*s", c ? "," : "", (int)WEIR_MAX(type.len, 0), type.s,
                   name.len >= 0 ? (int)name.len : 9, name.len >= 0 ? name.s : "<default>");
        char *ts = wire_str_dup(type), *ns = wire_str_dup(name);
        json_array_append_new(je, json_pack("{s:s?, s:s?}", "type", ts, "name", ns));
        free(ts), free(ns);
    }
    int32_t nv = wire_read_array(r, 9, QUOTA_COUNT_MAX);
    for (int32_t i = 0; i < nv && wire_reader_ok(r); i++) {
        wire_str_t key = wire_read_str(r);
        uint64_t bits = (uint64_t)wire_read_i64(r);
        wire_read_tags(r);
        double v;
        memcpy(&v, &bits, sizeof(v));
        buf_printf(&vals, "%s%.*s=%.15g", i ? "," : "", (int)WEIR_MAX(key.len, 0), key.s, v);
        char *ks = wire_str_dup(key);
        if (ks)
            json_object_set_new(jv, ks, json_real(v));
        free(ks);
    }
    wire_read_tags(r);
    buf_append_u8(&ent, 0);
    buf_append_u8(&vals, 0);
    bool ok = wire_reader_ok(r);
    if (ok) {
        cli_table_addf(t, "%s\t%s", (char *)ent.data, (char *)vals.data);
        json_array_append_new(j, json_pack("{s:o, s:o}", "entity", je, "quotas", jv));
    } else {
        json_decref(je), json_decref(jv);
    }
    buf_deinit(&ent);
    buf_deinit(&vals);
    return ok;
}

static int quota_describe(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_raw_t rk = {0};
    quota_args_t qa;
    memset(&qa, 0, sizeof(qa));
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = quota_parse(g, &a, &qa, false);
    if (rc < 0) {
        cli_args_deinit(&a);
        return cli_help_current(g);
    }
    if (rc != 0 || (rc = cli_raw_open(&rk, g)) != 0)
        goto out;
    int16_t v = cli_raw_version(rk.boot, KAFKA_API_DESCRIBE_CLIENT_QUOTAS, 0, 1);
    if (v < 0) {
        cli_err(g, "%s does not serve DescribeClientQuotas", rk.boot->addr);
        rc = CLI_ERROR;
        goto out;
    }
    buf_t body = {0};
    wire_writer_t w;
    wire_writer_init(&w, &body, cli_raw_flexible(KAFKA_API_DESCRIBE_CLIENT_QUOTAS, v));
    wire_write_array_len(&w, (int32_t)qa.n);
    for (size_t i = 0; i < qa.n; i++) {
        wire_write_cstr(&w, qa.type[i]);
        wire_write_i8(&w, qa.match[i]);
        wire_write_cstr(&w, qa.name[i]);
        wire_write_tags(&w);
    }
    wire_write_bool(&w, qa.strict);
    wire_write_tags(&w);
    wire_reader_t r;
    rc = cli_raw_call(&rk, rk.boot, KAFKA_API_DESCRIBE_CLIENT_QUOTAS, v, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        goto out;
    wire_read_i32(&r); /* throttle_time_ms */
    int16_t err = wire_read_i16(&r);
    wire_str_t msg = wire_read_nstr(&r);
    if (wire_reader_ok(&r) && err != 0) {
        cli_err(g, "%.*s (%s)", msg.len > 0 ? (int)msg.len : 0, msg.len > 0 ? msg.s : "",
                wire_err_name(err));
        rc = CLI_ERROR;
        goto out;
    }
    static const char *const hdr[] = {"ENTITY", "QUOTAS"};
    cli_table_t t;
    cli_table_init(&t, 2, hdr);
    json_t *j = json_array();
    int32_t n = wire_read_array(&r, 2, QUOTA_COUNT_MAX);
    bool ok = wire_reader_ok(&r);
    for (int32_t i = 0; i < n && ok; i++)
        ok = describe_entry(&r, &t, j);
    if (!ok) {
        json_decref(j);
        cli_table_deinit(&t);
        rc = cli_raw_malformed(&rk, rk.boot, "DescribeClientQuotas");
        goto out;
    }
    cli_output_print(g, j, &t);
out:
    cli_raw_close(&rk);
    cli_args_deinit(&a);
    return rc;
}

int cli_quota_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {{"alter", quota_alter}, {"describe", quota_describe}};
    return cli_dispatch(g, "quota", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
