/*
 * `weir acl create|list|delete`: Kafka's ACLs with rpk-style flags, through CreateAcls,
 * DescribeAcls and DeleteAcls (versions 1-3), so they work against any Kafka 2.0+ broker as well
 * as Weir (docs/security.md, "Authorization (ACLs)").
 *
 *   weir acl create --allow-principal User:alice --operation read --operation describe \
 *       --topic orders --resource-pattern-type prefixed
 *   weir acl list [--topic orders] [--allow-principal User:alice] [-o json]
 *   weir acl delete --deny-principal User:bob --operation write --topic orders
 *
 * create adds every combination of the principals (--allow-principal, --deny-principal),
 * operations and resources (--topic, --group, --transactional-id, --cluster) given, on each
 * --host (default "*"). list and delete take the same flags as a filter: a flag not given
 * matches anything (--resource-pattern-type defaults to literal for create, any otherwise;
 * match is accepted too). Over the CLI's own protocol client (rawkafka.c), like `weir user`.
 */
#include "cli/rawkafka.h"

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#define ACL_FLAG_MAX   64      /* values of one repeated flag */
#define ACL_ANSWER_MAX 1000000 /* bindings in one answer */

enum {
    O_ALLOW = 1,
    O_DENY,
    O_OPERATION,
    O_TOPIC,
    O_GROUP,
    O_TXN,
    O_CLUSTER,
    O_HOST,
    O_PATTERN,
};

typedef struct {
    const char *v[ACL_FLAG_MAX];
    int n;
} flag_list_t;

typedef struct {
    flag_list_t allow, deny, ops, hosts;
    flag_list_t names;          /* resource names, in order */
    int8_t types[ACL_FLAG_MAX]; /* their resource types */
    int8_t pattern;             /* 0: not given */
} acl_args_t;

static const char *const op_names[] = {"unknown",
                                       "any",
                                       "all",
                                       "read",
                                       "write",
                                       "create",
                                       "delete",
                                       "alter",
                                       "describe",
                                       "cluster_action",
                                       "describe_configs",
                                       "alter_configs",
                                       "idempotent_write",
                                       "create_tokens",
                                       "describe_tokens"};
static const char *const type_names[] = {
    "unknown", "any", "topic", "group", "cluster", "transactional_id", "delegation_token", "user"};
static const char *const pattern_names[] = {"unknown", "any", "match", "literal", "prefixed"};

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++) {
        if (strcasecmp(names[i], s) == 0)
            return i;
        /* "describe-configs" as well as "describe_configs" */
        size_t k = strlen(names[i]);
        if (strlen(s) == k) {
            bool same = true;
            for (size_t j = 0; j < k && same; j++)
                same = (names[i][j] == '_' && s[j] == '-') ||
                       (char)tolower((unsigned char)s[j]) == names[i][j];
            if (same)
                return i;
        }
    }
    return -1;
}

static int push(cli_global_t *g, flag_list_t *l, const char *v, const char *flag)
{
    if (l->n == ACL_FLAG_MAX)
        return cli_usage_err(g, "at most %d %s", ACL_FLAG_MAX, flag);
    l->v[l->n++] = v;
    return 0;
}

static int acl_parse(cli_global_t *g, cli_args_t *a, acl_args_t *x)
{
    static const cli_opt_t opts[] = {{0, "allow-principal", true, O_ALLOW},
                                     {0, "deny-principal", true, O_DENY},
                                     {0, "operation", true, O_OPERATION},
                                     {0, "topic", true, O_TOPIC},
                                     {0, "group", true, O_GROUP},
                                     {0, "transactional-id", true, O_TXN},
                                     {0, "cluster", false, O_CLUSTER},
                                     {0, "host", true, O_HOST},
                                     {0, "resource-pattern-type", true, O_PATTERN},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        int8_t type = 0;
        switch (id) {
        case CLI_OPT_HELP:
            return -1;
        case O_ALLOW:
        case O_DENY:
            if (!strchr(arg, ':') || arg[0] == ':')
                return cli_usage_err(g, "a principal is Type:name (User:alice), not '%s'", arg);
            if ((rc = push(g, id == O_ALLOW ? &x->allow : &x->deny, arg, "principals")) != 0)
                return rc;
            break;
        case O_OPERATION: {
            int op = name_index(op_names, (int)WEIR_ARRAY_LEN(op_names), arg);
            if (op < KAFKA_ACL_OP_ALL)
                return cli_usage_err(g,
                                     "--operation is all, read, write, create, delete, alter, "
                                     "describe, cluster_action, describe_configs, "
                                     "alter_configs, idempotent_write, not '%s'",
                                     arg);
            if ((rc = push(g, &x->ops, op_names[op], "operations")) != 0)
                return rc;
            break;
        }
        case O_HOST:
            if ((rc = push(g, &x->hosts, arg, "hosts")) != 0)
                return rc;
            break;
        case O_PATTERN: {
            int p = name_index(pattern_names, (int)WEIR_ARRAY_LEN(pattern_names), arg);
            if (p < KAFKA_PATTERN_ANY)
                return cli_usage_err(
                    g, "--resource-pattern-type is literal, prefixed, match or any, not '%s'", arg);
            x->pattern = (int8_t)p;
            break;
        }
        case O_TOPIC:
            type = KAFKA_RESOURCE_TOPIC;
            break;
        case O_GROUP:
            type = KAFKA_RESOURCE_GROUP;
            break;
        case O_TXN:
            type = KAFKA_RESOURCE_TRANSACTIONAL_ID;
            break;
        case O_CLUSTER:
            type = KAFKA_RESOURCE_CLUSTER;
            arg = "kafka-cluster";
            break;
        }
        if (type) {
            if (!*arg)
                return cli_usage_err(g, "a resource name may not be empty");
            x->types[x->names.n] = type;
            if ((rc = push(g, &x->names, arg, "resources")) != 0)
                return rc;
        }
    }
    if (rc < 0)
        return CLI_USAGE;
    if (a->npos)
        return cli_usage_err(g, "takes flags only, not '%s'", a->pos[0]);
    return 0;
}

static int8_t op_code(const char *name)
{
    return (int8_t)name_index(op_names, (int)WEIR_ARRAY_LEN(op_names), name);
}

/* ---- the protocol -------------------------------------------------------------------------- */

typedef struct {
    int8_t type, pattern, op, perm;
    char *name, *principal, *host;
} binding_t;

static void bindings_free(binding_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].principal);
        free(v[i].host);
    }
    free(v);
}

static int16_t api_version(cli_raw_t *rk, int16_t api, const char *name)
{
    int16_t v = cli_raw_version(rk->boot, api, 1, 3);
    if (v < 0)
        cli_err(rk->g, "%s does not serve %s v1-3", rk->boot->addr, name);
    return v;
}

static void write_binding(wire_writer_t *w, const binding_t *b, bool filter)
{
    wire_write_i8(w, b->type);
    wire_write_cstr(w, b->name);
    wire_write_i8(w, b->pattern);
    (void)filter;
    wire_write_cstr(w, b->principal);
    wire_write_cstr(w, b->host);
    wire_write_i8(w, b->op);
    wire_write_i8(w, b->perm);
    wire_write_tags(w);
}

/* CreateAcls of every binding: 0, or an exit code after naming each refused one. */
static int create_call(cli_raw_t *rk, const binding_t *v, size_t n)
{
    int16_t ver = api_version(rk, KAFKA_API_CREATE_ACLS, "CreateAcls");
    if (ver < 0)
        return CLI_ERROR;
    buf_t body;
    buf_init(&body);
    wire_writer_t w;
    wire_writer_init(&w, &body, cli_raw_flexible(KAFKA_API_CREATE_ACLS, ver));
    wire_write_array_len(&w, (int32_t)n);
    for (size_t i = 0; i < n; i++)
        write_binding(&w, &v[i], false);
    wire_write_tags(&w);
    wire_reader_t r;
    int rc = cli_raw_call(rk, rk->boot, KAFKA_API_CREATE_ACLS, ver, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        return rc;
    wire_read_i32(&r); /* ThrottleTimeMs */
    int32_t k = wire_read_array(&r, 3, ACL_ANSWER_MAX);
    for (int32_t i = 0; i < k && wire_reader_ok(&r); i++) {
        int16_t err = wire_read_i16(&r);
        wire_str_t msg = wire_read_nstr(&r);
        wire_read_tags(&r);
        if (!wire_reader_ok(&r) || err == 0 || (size_t)i >= n)
            continue;
        cli_err(rk->g, "%s %s %s on %s %s: %.*s (%s)",
                v[i].perm == KAFKA_ACL_PERM_ALLOW ? "allow" : "deny", v[i].principal,
                op_names[v[i].op], type_names[v[i].type], v[i].name, msg.len > 0 ? (int)msg.len : 0,
                msg.len > 0 ? msg.s : "", wire_err_name(err));
        rc = CLI_ERROR;
    }
    wire_read_tags(&r);
    if (!wire_reader_ok(&r) || k != (int32_t)n)
        return cli_raw_malformed(rk, rk->boot, "CreateAcls");
    return rc;
}

/* One binding of an answer (a heap copy). False once the reader failed. */
static bool read_entry(wire_reader_t *r, binding_t *b)
{
    wire_str_t principal = wire_read_str(r);
    wire_str_t host = wire_read_str(r);
    b->op = wire_read_i8(r);
    b->perm = wire_read_i8(r);
    wire_read_tags(r);
    if (!wire_reader_ok(r) || wire_str_has_nul(principal) || wire_str_has_nul(host))
        return false;
    b->principal = wire_str_dup(principal);
    b->host = wire_str_dup(host);
    return true;
}

/* DescribeAcls of one filter: *out (caller frees). */
static int describe_call(cli_raw_t *rk, const binding_t *f, binding_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    int16_t ver = api_version(rk, KAFKA_API_DESCRIBE_ACLS, "DescribeAcls");
    if (ver < 0)
        return CLI_ERROR;
    buf_t body;
    buf_init(&body);
    wire_writer_t w;
    wire_writer_init(&w, &body, cli_raw_flexible(KAFKA_API_DESCRIBE_ACLS, ver));
    binding_t one = *f;
    wire_write_i8(&w, one.type);
    wire_write_cstr(&w, one.name);
    wire_write_i8(&w, one.pattern);
    wire_write_cstr(&w, one.principal);
    wire_write_cstr(&w, one.host);
    wire_write_i8(&w, one.op);
    wire_write_i8(&w, one.perm);
    wire_write_tags(&w);
    wire_reader_t r;
    int rc = cli_raw_call(rk, rk->boot, KAFKA_API_DESCRIBE_ACLS, ver, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        return rc;
    wire_read_i32(&r);
    int16_t err = wire_read_i16(&r);
    wire_str_t msg = wire_read_nstr(&r);
    int32_t nres = wire_read_array(&r, 4, ACL_ANSWER_MAX);
    binding_t *v = NULL;
    size_t n = 0, cap = 0;
    for (int32_t i = 0; i < nres && wire_reader_ok(&r); i++) {
        int8_t type = wire_read_i8(&r);
        wire_str_t name = wire_read_str(&r);
        int8_t pattern = wire_read_i8(&r);
        int32_t na = wire_read_array(&r, 4, ACL_ANSWER_MAX);
        for (int32_t j = 0; j < na && wire_reader_ok(&r) && !wire_str_has_nul(name); j++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                v = weir_realloc(v, cap * sizeof(*v));
            }
            binding_t *b = &v[n];
            memset(b, 0, sizeof(*b));
            if (!read_entry(&r, b))
                break;
            b->type = type;
            b->pattern = pattern;
            b->name = wire_str_dup(name);
            n++;
        }
        wire_read_tags(&r);
    }
    wire_read_tags(&r);
    if (!wire_reader_ok(&r)) {
        bindings_free(v, n);
        return cli_raw_malformed(rk, rk->boot, "DescribeAcls");
    }
    if (err != 0) {
        cli_err(rk->g, "listing ACLs failed: %.*s (%s)", msg.len > 0 ? (int)msg.len : 0,
                msg.len > 0 ? msg.s : "", wire_err_name(err));
        bindings_free(v, n);
        return CLI_ERROR;
    }
    *out = v;
    *nout = n;
    return 0;
}

/* DeleteAcls of the filters: the bindings deleted (*out, caller frees). */
static int delete_call(cli_raw_t *rk, const binding_t *f, size_t nf, binding_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    int16_t ver = api_version(rk, KAFKA_API_DELETE_ACLS, "DeleteAcls");
    if (ver < 0)
        return CLI_ERROR;
    buf_t body;
    buf_init(&body);
    wire_writer_t w;
    wire_writer_init(&w, &body, cli_raw_flexible(KAFKA_API_DELETE_ACLS, ver));
    wire_write_array_len(&w, (int32_t)nf);
    for (size_t i = 0; i < nf; i++)
        write_binding(&w, &f[i], true);
    wire_write_tags(&w);
    wire_reader_t r;
    int rc = cli_raw_call(rk, rk->boot, KAFKA_API_DELETE_ACLS, ver, &body, &r);
    buf_deinit(&body);
    if (rc != 0)
        return rc;
    wire_read_i32(&r);
    int32_t nr = wire_read_array(&r, 4, ACL_ANSWER_MAX);
    binding_t *v = NULL;
    size_t n = 0, cap = 0;
    for (int32_t i = 0; i < nr && wire_reader_ok(&r); i++) {
        int16_t err = wire_read_i16(&r);
        wire_str_t msg = wire_read_nstr(&r);
        int32_t nm = wire_read_array(&r, 9, ACL_ANSWER_MAX);
        for (int32_t j = 0; j < nm && wire_reader_ok(&r); j++) {
            wire_read_i16(&r); /* per binding ErrorCode */
            wire_read_nstr(&r);
            int8_t type = wire_read_i8(&r);
            wire_str_t name = wire_read_str(&r);
            int8_t pattern = wire_read_i8(&r);
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                v = weir_realloc(v, cap * sizeof(*v));
            }
            binding_t *b = &v[n];
            memset(b, 0, sizeof(*b));
            if (wire_str_has_nul(name) || !read_entry(&r, b)) {
                wire_reader_fail(&r);
                break;
            }
            b->type = type;
            b->pattern = pattern;
            b->name = wire_str_dup(name);
            n++;
        }
        wire_read_tags(&r);
        if (wire_reader_ok(&r) && err != 0) {
            cli_err(rk->g, "deleting ACLs failed: %.*s (%s)", msg.len > 0 ? (int)msg.len : 0,
                    msg.len > 0 ? msg.s : "", wire_err_name(err));
            rc = CLI_ERROR;
        }
    }
    wire_read_tags(&r);
    if (!wire_reader_ok(&r)) {
        bindings_free(v, n);
        return cli_raw_malformed(rk, rk->boot, "DeleteAcls");
    }
    *out = v;
    *nout = n;
    return rc;
}

/* ---- commands ------------------------------------------------------------------------------ */

static int cmp_binding(const void *x, const void *y)
{
    const binding_t *a = x, *b = y;
    int c = a->type - b->type;
    if (!c)
        c = strcmp(a->name, b->name);
    if (!c)
        c = a->pattern - b->pattern;
    if (!c)
        c = strcmp(a->principal, b->principal);
    if (!c)
        c = strcmp(a->host, b->host);
    if (!c)
        c = a->op - b->op;
    return c ? c : a->perm - b->perm;
}

static const char *safe_name(const char *const *names, size_t n, int8_t v)
{
    return v >= 0 && (size_t)v < n ? names[v] : "unknown";
}

static void print_bindings(cli_global_t *g, binding_t *v, size_t n)
{
    if (n)
        qsort(v, n, sizeof(*v), cmp_binding);
    static const char *const hdr[] = {"PRINCIPAL", "HOST",      "RESOURCE-TYPE", "RESOURCE-NAME",
                                      "PATTERN",   "OPERATION", "PERMISSION"};
    cli_table_t t;
    cli_table_init(&t, 7, hdr);
    json_t *j = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *type = safe_name(type_names, WEIR_ARRAY_LEN(type_names), v[i].type);
        const char *pat = safe_name(pattern_names, WEIR_ARRAY_LEN(pattern_names), v[i].pattern);
        const char *op = safe_name(op_names, WEIR_ARRAY_LEN(op_names), v[i].op);
        const char *perm = v[i].perm == KAFKA_ACL_PERM_ALLOW  ? "allow"
                           : v[i].perm == KAFKA_ACL_PERM_DENY ? "deny"
                                                              : "unknown";
        cli_table_addf(&t, "%s\t%s\t%s\t%s\t%s\t%s\t%s", v[i].principal, v[i].host, type, v[i].name,
                       pat, op, perm);
        json_array_append_new(j, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "principal",
                                           v[i].principal, "host", v[i].host, "resource_type", type,
                                           "resource_name", v[i].name, "pattern", pat, "operation",
                                           op, "permission", perm));
    }
    cli_output_print(g, j, &t);
}

/* The bindings (create) or filters (list, delete) the flags describe: the cross product of
 * principals x operations x resources x hosts. */
static binding_t *expand(const acl_args_t *x, bool filter, size_t *n)
{
    typedef struct {
        const char *p;
        int8_t perm;
    } who_t;
    who_t who[2 * ACL_FLAG_MAX + 1];
    int nwho = 0;
    for (int i = 0; i < x->allow.n; i++)
        who[nwho++] = (who_t){x->allow.v[i], KAFKA_ACL_PERM_ALLOW};
    for (int i = 0; i < x->deny.n; i++)
        who[nwho++] = (who_t){x->deny.v[i], KAFKA_ACL_PERM_DENY};
    if (!nwho)
        who[nwho++] = (who_t){NULL, KAFKA_ACL_PERM_ANY};
    int nops = x->ops.n ? x->ops.n : 1, nres = x->names.n ? x->names.n : 1;
    int nhosts = x->hosts.n ? x->hosts.n : 1;
    size_t total = (size_t)nwho * (size_t)nops * (size_t)nres * (size_t)nhosts;
    binding_t *v = weir_calloc(total, sizeof(*v));
    size_t k = 0;
    int8_t pattern = x->pattern ? x->pattern : filter ? KAFKA_PATTERN_ANY : KAFKA_PATTERN_LITERAL;
    for (int a = 0; a < nwho; a++)
        for (int o = 0; o < nops; o++)
            for (int r = 0; r < nres; r++)
                for (int h = 0; h < nhosts; h++) {
                    binding_t *b = &v[k++];
                    b->perm = who[a].perm;
                    b->principal = who[a].p ? weir_strdup(who[a].p) : NULL;
                    b->op = x->ops.n ? op_code(x->ops.v[o]) : KAFKA_ACL_OP_ANY;
                    b->type = x->names.n ? x->types[r] : KAFKA_RESOURCE_ANY;
                    b->name = x->names.n ? weir_strdup(x->names.v[r]) : NULL;
                    b->pattern = pattern;
                    b->host = x->hosts.n ? weir_strdup(x->hosts.v[h])
                              : filter   ? NULL
                                         : weir_strdup("*");
                }
    *n = k;
    return v;
}

static int acl_begin(cli_global_t *g, int argc, char **argv, acl_args_t *x, cli_raw_t *rk)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = acl_parse(g, &a, x);
    cli_args_deinit(&a);
    if (rc < 0)
        return -1;
    if (rc == 0)
        rc = cli_raw_open(rk, g);
    return rc;
}

static int acl_create(cli_global_t *g, int argc, char **argv)
{
    acl_args_t x = {0};
    cli_raw_t rk = {0};
    int rc = acl_begin(g, argc, argv, &x, &rk);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    if (!x.allow.n && !x.deny.n)
        rc = cli_usage_err(g, "whose ACL? give --allow-principal or --deny-principal");
    else if (!x.ops.n)
        rc = cli_usage_err(g, "which operation? give --operation");
    else if (!x.names.n)
        rc = cli_usage_err(g, "on what? give --topic, --group, --transactional-id or --cluster");
    else if (x.pattern && x.pattern != KAFKA_PATTERN_LITERAL && x.pattern != KAFKA_PATTERN_PREFIXED)
        rc = cli_usage_err(g, "an ACL's --resource-pattern-type is literal or prefixed");
    size_t n = 0;
    binding_t *v = rc == 0 ? expand(&x, false, &n) : NULL;
    if (rc == 0 && g->dry_run) {
        printf("would create %zu ACL(s) (dry run)\n", n);
    } else if (rc == 0 && (rc = create_call(&rk, v, n)) == 0) {
        printf("created %zu ACL(s)\n", n);
    }
    bindings_free(v, n);
    cli_raw_close(&rk);
    return rc;
}

static int acl_list(cli_global_t *g, int argc, char **argv)
{
    acl_args_t x = {0};
    cli_raw_t rk = {0};
    int rc = acl_begin(g, argc, argv, &x, &rk);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    size_t nf = 0;
    binding_t *f = expand(&x, true, &nf);
    binding_t *all = NULL;
    size_t nall = 0;
    for (size_t i = 0; i < nf && rc == 0; i++) {
        binding_t *v;
        size_t n;
        if ((rc = describe_call(&rk, &f[i], &v, &n)) != 0)
            break;
        all = weir_realloc(all, (nall + n + 1) * sizeof(*all));
        for (size_t k = 0; k < n; k++) { /* filters may overlap: each binding once */
            bool dup = false;
            for (size_t m = 0; m < nall && !dup; m++)
                dup = cmp_binding(&all[m], &v[k]) == 0;
            if (dup) {
                free(v[k].name);
                free(v[k].principal);
                free(v[k].host);
            } else {
                all[nall++] = v[k];
            }
        }
        free(v);
    }
    if (rc == 0)
        print_bindings(g, all, nall);
    bindings_free(all, nall);
    bindings_free(f, nf);
    cli_raw_close(&rk);
    return rc;
}

static int acl_delete(cli_global_t *g, int argc, char **argv)
{
    acl_args_t x = {0};
    cli_raw_t rk = {0};
    int rc = acl_begin(g, argc, argv, &x, &rk);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    if (!x.allow.n && !x.deny.n && !x.ops.n && !x.names.n && !x.hosts.n) {
        cli_raw_close(&rk);
        return cli_usage_err(g, "delete what? give at least one filter flag");
    }
    size_t nf = 0;
    binding_t *f = expand(&x, true, &nf);
    binding_t *v = NULL;
    size_t n = 0;
    if (g->dry_run) {
        printf("would delete the ACLs matching %zu filter(s) (dry run)\n", nf);
    } else if ((rc = delete_call(&rk, f, nf, &v, &n)) == 0) {
        if (g->output == CLI_OUT_JSON)
            print_bindings(g, v, n); /* the deleted bindings */
        else
            printf("deleted %zu ACL(s)\n", n);
    }
    bindings_free(v, n);
    bindings_free(f, nf);
    cli_raw_close(&rk);
    return rc;
}

int cli_acl_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {
        {"create", acl_create}, {"list", acl_list}, {"delete", acl_delete}};
    return cli_dispatch(g, "acl", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
