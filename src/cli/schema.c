/*
 * `weir schema`: list, get, register, delete, check, compat, config, mode. Each is one or a few
 * calls of the schema registry's REST API (Confluent's, served by `weir serve` or by any
 * Confluent-compatible registry) over libcurl. The registry is --registry URL, else
 * $WEIR_REGISTRY, else http://127.0.0.1:8081.
 *
 * `weir schema check FILE --subject S` is for contract tests in CI: exit 0 when FILE may be
 * registered under S, 4 when it is incompatible (the reasons on stderr), 1 on any other error.
 * The registry's answers are shown as they are: its messages name the rule that broke.
 */
#include "cli/cli.h"
#include "registry/registry.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

enum { CLI_INCOMPATIBLE = 4 };
#define REGISTRY_DEFAULT "http://127.0.0.1:8081"
#define CT_V1            "application/vnd.schemaregistry.v1+json"

enum {
    O_REGISTRY = 1,
    O_VERSION,
    O_ID,
    O_TYPE,
    O_REF,
    O_NORMALIZE,
    O_DELETED,
    O_PREFIX,
    O_PERMANENT,
    O_YES,
    O_SUBJECT,
    O_DELETE,
    O_FORCE,
    O_GLOBAL,
    O_COUNT
};

typedef struct {
    cli_global_t *g;
    const char *registry;
    const char *version, *id, *type, *prefix, *subject;
    char *refs[32];
    size_t nrefs;
    bool normalize, deleted, permanent, yes, del, force, global;
    char **pos;
    int npos;
} schema_args_t;

/* ---- HTTP ----------------------------------------------------------------------------------- */

typedef struct {
    long status;
    buf_t body;
    json_t *json; /* the body parsed, or NULL */
} reply_t;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    buf_t *b = arg;
    if (b->len + size * n > (64u << 20))
        return 0; /* a registry answer this large is not one */
    buf_append(b, p, size * n);
    return size * n;
}

/* One request; 0 with the reply (any status), or CLI_ERROR after saying why. */
static int call(schema_args_t *sa, const char *method, const char *path, const char *body,
                reply_t *rp)
{
    memset(rp, 0, sizeof(*rp));
    CURL *c = curl_easy_init();
    if (!c) {
        cli_err(sa->g, "cannot start libcurl");
        return CLI_ERROR;
    }
    buf_t url;
    buf_init(&url);
    const char *base = sa->registry;
    size_t bl = strlen(base);
    buf_append(&url, base, bl && base[bl - 1] == '/' ? bl - 1 : bl);
    buf_append_str(&url, path);
    buf_append_u8(&url, 0);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: " CT_V1);
    h = curl_slist_append(h, "Content-Type: " CT_V1);
    curl_easy_setopt(c, CURLOPT_URL, (char *)url.data);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &rp->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)sa->g->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc != CURLE_OK) {
        cli_err(sa->g, "cannot reach the schema registry at %s: %s", sa->registry,
                curl_easy_strerror(cc));
        rc = CLI_ERROR;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rp->status);
        rp->json = json_loadb((const char *)rp->body.data, rp->body.len, JSON_DECODE_ANY, NULL);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    buf_deinit(&url);
    return rc;
}

static void reply_free(reply_t *rp)
{
    buf_deinit(&rp->body);
    json_decref(rp->json);
}

/* A non-2xx answer in one line; exit 3 for "not found" answers, 1 otherwise. */
static int reply_error(schema_args_t *sa, reply_t *rp)
{
    const char *msg = json_string_value(json_object_get(rp->json, "message"));
    json_int_t code = json_integer_value(json_object_get(rp->json, "error_code"));
    if (msg)
        cli_err(sa->g, "%s (error %lld)", msg, (long long)code);
    else
        cli_err(sa->g, "the registry answered HTTP %ld", rp->status);
    return rp->status == 404 ? CLI_NOT_FOUND : CLI_ERROR;
}

static char *esc(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *out = weir_strdup(e ? e : "");
    curl_free(e);
    return out;
}

/* GET/DELETE/PUT/POST and a 2xx answer, or the exit code after saying why. */
static int call_ok(schema_args_t *sa, const char *method, const char *path, const char *body,
                   reply_t *rp)
{
    int rc = call(sa, method, path, body, rp);
    if (rc == 0 && (rp->status < 200 || rp->status > 299)) {
        rc = reply_error(sa, rp);
        reply_free(rp);
    }
    return rc;
}

/* ---- arguments ---------------------------------------------------------------------------- */

static int parse_args(schema_args_t *sa, cli_args_t *a)
{
    static const cli_opt_t opts[] = {{0, "registry", true, O_REGISTRY},
                                     {0, "version", true, O_VERSION},
                                     {0, "id", true, O_ID},
                                     {'t', "type", true, O_TYPE},
                                     {0, "ref", true, O_REF},
                                     {0, "normalize", false, O_NORMALIZE},
                                     {0, "deleted", false, O_DELETED},
                                     {0, "prefix", true, O_PREFIX},
                                     {0, "permanent", false, O_PERMANENT},
                                     {'y', "yes", false, O_YES},
                                     {'s', "subject", true, O_SUBJECT},
                                     {0, "delete", false, O_DELETE},
                                     {0, "force", false, O_FORCE},
                                     {0, "global", false, O_GLOBAL},
                                     {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        switch (id) {
        case CLI_OPT_HELP:
            return -1;
        case O_REGISTRY:
            sa->registry = arg;
            break;
        case O_VERSION:
            sa->version = arg;
            break;
        case O_ID:
            sa->id = arg;
            break;
        case O_TYPE:
            sa->type = arg;
            break;
        case O_REF:
            if (sa->nrefs >= WEIR_ARRAY_LEN(sa->refs))
                return cli_usage_err(sa->g, "at most 32 --ref");
            sa->refs[sa->nrefs++] = (char *)arg;
            break;
        case O_PREFIX:
            sa->prefix = arg;
            break;
        case O_SUBJECT:
            sa->subject = arg;
            break;
        case O_NORMALIZE:
            sa->normalize = true;
            break;
        case O_DELETED:
            sa->deleted = true;
            break;
        case O_PERMANENT:
            sa->permanent = true;
            break;
        case O_YES:
            sa->yes = true;
            break;
        case O_DELETE:
            sa->del = true;
            break;
        case O_FORCE:
            sa->force = true;
            break;
        case O_GLOBAL:
            sa->global = true;
            break;
        }
    }
    if (rc < 0)
        return CLI_USAGE;
    if (!sa->registry)
        sa->registry = cli_registry_default(sa->g);
    if (!sa->registry || !*sa->registry)
        sa->registry = REGISTRY_DEFAULT;
    sa->pos = a->pos;
    sa->npos = a->npos;
    return 0;
}

/* Runs fn with parsed arguments; handles --help and usage errors. */
static int with_args(cli_global_t *g, int argc, char **argv, int (*fn)(schema_args_t *sa))
{
    schema_args_t sa = {.g = g};
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = parse_args(&sa, &a);
    if (rc < 0)
        rc = cli_help_current(g);
    else if (rc == 0)
        rc = fn(&sa);
    cli_args_deinit(&a);
    return rc;
}

static int read_file(schema_args_t *sa, const char *path, buf_t *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_err(sa->g, "cannot read %s: %s", path, strerror(errno));
        return CLI_ERROR;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out->len + n > (16u << 20)) {
            cli_err(sa->g, "%s is larger than 16 MiB", path);
            if (f != stdin)
                fclose(f);
            return CLI_ERROR;
        }
        buf_append(out, chunk, n);
    }
    if (f != stdin)
        fclose(f);
    return 0;
}

/* The schema type: --type, else the file's extension, else AVRO. */
static const char *schema_type(schema_args_t *sa, const char *path)
{
    const char *t = sa->type;
    if (!t) {
        const char *dot = strrchr(path, '.');
        t = dot && strcasecmp(dot, ".proto") == 0  ? "PROTOBUF"
            : dot && strcasecmp(dot, ".json") == 0 ? "JSON"
                                                   : "AVRO";
    }
    if (strcasecmp(t, "avro") == 0)
        return "AVRO";
    if (strcasecmp(t, "json") == 0)
        return "JSON";
    if (strcasecmp(t, "protobuf") == 0 || strcasecmp(t, "proto") == 0)
        return "PROTOBUF";
    return NULL;
}

/* {"schema", "schemaType", "references"} from a file and --ref NAME=SUBJECT:VERSION. */
static int schema_body(schema_args_t *sa, const char *path, char **out)
{
    const char *type = schema_type(sa, path);
    if (!type)
        return cli_usage_err(sa->g, "--type wants avro, json or protobuf, got '%s'", sa->type);
    buf_t text;
    buf_init(&text);
    int rc = read_file(sa, path, &text);
    if (rc) {
        buf_deinit(&text);
        return rc;
    }
    json_t *j = json_pack("{s:s%, s:s}", "schema", text.len ? (char *)text.data : "", text.len,
                          "schemaType", type);
    buf_deinit(&text);
    if (!j) {
        cli_err(sa->g, "%s is not UTF-8 text", path);
        return CLI_ERROR;
    }
    json_t *refs = json_array();
    for (size_t i = 0; i < sa->nrefs; i++) {
        char *eq = strchr(sa->refs[i], '='), *colon = strrchr(sa->refs[i], ':');
        int64_t v;
        if (!eq || !colon || colon < eq || cli_parse_i64(colon + 1, 1, INT32_MAX, &v)) {
            json_decref(refs);
            json_decref(j);
            return cli_usage_err(sa->g, "--ref wants NAME=SUBJECT:VERSION, got '%s'", sa->refs[i]);
        }
        json_array_append_new(refs, json_pack("{s:s%, s:s%, s:I}", "name", sa->refs[i],
                                              (size_t)(eq - sa->refs[i]), "subject", eq + 1,
                                              (size_t)(colon - eq - 1), "version", (json_int_t)v));
    }
    if (json_array_size(refs))
        json_object_set_new(j, "references", refs);
    else
        json_decref(refs);
    *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return 0;
}

/* ---- subcommands
 * --------------------------------------------------------------------------------- */

static int do_list(schema_args_t *sa)
{
    if (sa->npos > 0)
        return cli_usage_err(sa->g, "takes no arguments");
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "/subjects?deleted=%s", sa->deleted ? "true" : "false");
    if (sa->prefix) {
        char *p = esc(sa->prefix);
        buf_printf(&path, "&subjectPrefix=%s", p);
        free(p);
    }
    buf_append_u8(&path, 0);
    reply_t rp;
    int rc = call_ok(sa, "GET", (char *)path.data, NULL, &rp);
    buf_deinit(&path);
    if (rc)
        return rc;
    json_t *out = json_array();
    static const char *const hdr[] = {"SUBJECT", "VERSION", "ID", "TYPE"};
    cli_table_t t;
    cli_table_init(&t, 4, hdr);
    t.shrinkable = 1;
    for (size_t i = 0; i < json_array_size(rp.json) && rc == 0; i++) {
        const char *s = json_string_value(json_array_get(rp.json, i));
        char *e = esc(s ? s : "");
        char p[2048];
        snprintf(p, sizeof(p), "/subjects/%s/versions/latest%s", e,
                 sa->deleted ? "?deleted=true" : "");
        free(e);
        reply_t v;
        if ((rc = call_ok(sa, "GET", p, NULL, &v)) != 0)
            break;
        const char *type = json_string_value(json_object_get(v.json, "schemaType"));
        json_int_t ver = json_integer_value(json_object_get(v.json, "version"));
        json_int_t id = json_integer_value(json_object_get(v.json, "id"));
        json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:s}", "subject", s, "version", ver,
                                             "id", id, "type", type ? type : "AVRO"));
        cli_table_addf(&t, "%s\t%lld\t%lld\t%s", s, (long long)ver, (long long)id,
                       type ? type : "AVRO");
        reply_free(&v);
    }
    reply_free(&rp);
    if (rc) {
        json_decref(out);
        cli_table_deinit(&t);
        return rc;
    }
    cli_output_print(sa->g, out, &t);
    return CLI_OK;
}

static int do_get(schema_args_t *sa)
{
    char path[2048];
    if (sa->id && sa->npos == 0) {
        int64_t id;
        if (cli_parse_i64(sa->id, 1, INT32_MAX, &id))
            return cli_usage_err(sa->g, "--id wants a schema id, got '%s'", sa->id);
        snprintf(path, sizeof(path), "/schemas/ids/%lld", (long long)id);
    } else if (sa->npos == 1 && !sa->id) {
        char *e = esc(sa->pos[0]);
        char *v = esc(sa->version ? sa->version : "latest");
        snprintf(path, sizeof(path), "/subjects/%s/versions/%s%s", e, v,
                 sa->deleted ? "?deleted=true" : "");
        free(e);
        free(v);
    } else {
        return cli_usage_err(sa->g, "give a subject, or --id N");
    }
    reply_t rp;
    int rc = call_ok(sa, "GET", path, NULL, &rp);
    if (rc)
        return rc;
    if (sa->g->output == CLI_OUT_JSON) {
        cli_json_print(json_incref(rp.json), stdout);
    } else {
        const char *s = json_string_value(json_object_get(rp.json, "schema"));
        fputs(s ? s : "", stdout);
        if (s && *s && s[strlen(s) - 1] != '\n')
            fputc('\n', stdout);
    }
    reply_free(&rp);
    return CLI_OK;
}

static int do_check(schema_args_t *sa);

static int do_register(schema_args_t *sa)
{
    if (sa->npos != 2)
        return cli_usage_err(sa->g, "give a subject and a schema file");
    if (sa->g->dry_run) { /* --dry-run: would it be accepted? the compatibility check says */
        schema_args_t c = *sa;
        c.subject = sa->pos[0];
        c.pos = sa->pos + 1;
        c.npos = 1;
        return do_check(&c);
    }
    char *body = NULL;
    int rc = schema_body(sa, sa->pos[1], &body);
    if (rc)
        return rc;
    char *e = esc(sa->pos[0]);
    char path[2048];
    snprintf(path, sizeof(path), "/subjects/%s/versions%s", e,
             sa->normalize ? "?normalize=true" : "");
    free(e);
    reply_t rp;
    rc = call_ok(sa, "POST", path, body, &rp);
    free(body);
    if (rc)
        return rc;
    json_int_t id = json_integer_value(json_object_get(rp.json, "id"));
    if (sa->g->output == CLI_OUT_JSON)
        cli_json_print(json_pack("{s:s, s:I}", "subject", sa->pos[0], "id", id), stdout);
    else
        printf("%lld\n", (long long)id);
    reply_free(&rp);
    return CLI_OK;
}

static int do_delete(schema_args_t *sa)
{
    if (sa->npos != 1)
        return cli_usage_err(sa->g, "give one subject");
    char action[1200];
    snprintf(action, sizeof(action), "%sdelete subject %s%s%s", sa->permanent ? "permanently " : "",
             sa->pos[0], sa->version ? " version " : "", sa->version ? sa->version : "");
    int rc = sa->g->dry_run ? 0 : cli_confirm(sa->g, sa->yes, action);
    if (rc)
        return rc;
    char *e = esc(sa->pos[0]);
    char path[2048];
    if (sa->g->dry_run) { /* --dry-run: it must exist; say what would go */
        snprintf(path, sizeof(path), "/subjects/%s/versions", e);
        free(e);
        reply_t rp;
        if ((rc = call_ok(sa, "GET", path, NULL, &rp)) != 0)
            return rc;
        reply_free(&rp);
        printf("would %s (dry run)\n", action);
        return CLI_OK;
    }
    if (sa->version) {
        char *v = esc(sa->version);
        snprintf(path, sizeof(path), "/subjects/%s/versions/%s?permanent=%s", e, v,
                 sa->permanent ? "true" : "false");
        free(v);
    } else {
        snprintf(path, sizeof(path), "/subjects/%s?permanent=%s", e,
                 sa->permanent ? "true" : "false");
    }
    free(e);
    reply_t rp;
    if ((rc = call_ok(sa, "DELETE", path, NULL, &rp)) != 0)
        return rc;
    if (sa->g->output == CLI_OUT_JSON) {
        cli_json_print(json_pack("{s:s, s:O}", "subject", sa->pos[0], "deleted", rp.json), stdout);
    } else {
        char *s = json_dumps(rp.json, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("deleted %s version%s %s\n", sa->pos[0], json_is_array(rp.json) ? "s" : "", s);
        free(s);
    }
    reply_free(&rp);
    return CLI_OK;
}

static int do_check(schema_args_t *sa)
{
    if (sa->npos != 1 || !sa->subject)
        return cli_usage_err(sa->g, "give a schema file and --subject S");
    char *body = NULL;
    int rc = schema_body(sa, sa->pos[0], &body);
    if (rc)
        return rc;
    char *e = esc(sa->subject);
    char path[2048];
    if (sa->version) {
        char *v = esc(sa->version);
        snprintf(path, sizeof(path), "/compatibility/subjects/%s/versions/%s?verbose=true", e, v);
        free(v);
    } else {
        snprintf(path, sizeof(path), "/compatibility/subjects/%s/versions?verbose=true", e);
    }
    free(e);
    reply_t rp;
    rc = call_ok(sa, "POST", path, body, &rp);
    free(body);
    if (rc)
        return rc;
    bool ok = json_is_true(json_object_get(rp.json, "is_compatible"));
    json_t *msgs = json_object_get(rp.json, "messages");
    if (sa->g->output == CLI_OUT_JSON) {
        cli_json_print(json_incref(rp.json), stdout);
    } else if (ok) {
        printf("compatible: %s may be registered under %s\n", sa->pos[0], sa->subject);
    } else {
        fprintf(stderr, "weir schema check: %s is incompatible with subject %s:\n", sa->pos[0],
                sa->subject);
        for (size_t i = 0; i < json_array_size(msgs); i++)
            fprintf(stderr, "  %s\n", json_string_value(json_array_get(msgs, i)));
    }
    reply_free(&rp);
    return ok ? CLI_OK : CLI_INCOMPATIBLE;
}

/* compat and mode share a shape: [SUBJECT|--global] [VALUE] [--delete] */
static int get_set(schema_args_t *sa, const char *what, const char *key_get, const char *key_put)
{
    if (sa->npos > 2 || (sa->global && sa->npos > 1))
        return cli_usage_err(sa->g, "give [SUBJECT|--global] [VALUE]");
    const char *subject = sa->global ? NULL : sa->npos > 0 ? sa->pos[0] : NULL;
    const char *value = sa->global     ? (sa->npos ? sa->pos[0] : NULL)
                        : sa->npos > 1 ? sa->pos[1]
                                       : NULL;
    char path[2048];
    char *e = subject ? esc(subject) : NULL;
    snprintf(path, sizeof(path), "/%s%s%s%s", what, e ? "/" : "", e ? e : "",
             value || sa->del ? (sa->force ? "?force=true" : "")
                              : (e ? "?defaultToGlobal=true" : ""));
    free(e);
    reply_t rp;
    int rc;
    if ((value || sa->del) && sa->g->dry_run) { /* --dry-run: the value now, and the change */
        char now[2048];
        snprintf(now, sizeof(now), "%.*s%s", (int)strcspn(path, "?"), path,
                 subject ? "?defaultToGlobal=true" : "");
        if ((rc = call_ok(sa, "GET", now, NULL, &rp)) != 0)
            return rc;
        const char *cur = json_string_value(json_object_get(rp.json, key_get));
        printf("would %s %s of %s: %s -> %s (dry run)\n", sa->del ? "remove" : "set",
               strcmp(what, "config") == 0 ? "the compatibility level" : "the mode",
               subject ? subject : "the registry", cur ? cur : "-", value ? value : "(global)");
        reply_free(&rp);
        return CLI_OK;
    }
    if (value) {
        json_t *b = json_pack("{s:s}", key_put, value);
        char *body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        rc = call_ok(sa, "PUT", path, body, &rp);
        free(body);
    } else {
        rc = call_ok(sa, sa->del ? "DELETE" : "GET", path, NULL, &rp);
    }
    if (rc)
        return rc;
    const char *got = json_string_value(json_object_get(rp.json, value ? key_put : key_get));
    if (sa->g->output == CLI_OUT_JSON)
        cli_json_print(json_pack("{s:s?, s:s, s:b}", "subject", subject, what, got ? got : "",
                                 "deleted", sa->del),
                       stdout);
    else
        printf("%s%s\n", sa->del ? "removed; it was " : "", got ? got : "");
    reply_free(&rp);
    return CLI_OK;
}

static int do_compat(schema_args_t *sa)
{
    return get_set(sa, "config", "compatibilityLevel", "compatibility");
}

static int do_mode(schema_args_t *sa)
{
    return get_set(sa, "mode", "mode", "mode");
}

/* Both settings of a subject (or the global ones), resolved as the registry applies them. */
static int do_config(schema_args_t *sa)
{
    if (sa->npos > 1)
        return cli_usage_err(sa->g, "give at most one subject");
    const char *subject = sa->npos ? sa->pos[0] : NULL;
    char *e = subject ? esc(subject) : NULL;
    char p1[2048], p2[2048];
    snprintf(p1, sizeof(p1), "/config%s%s%s", e ? "/" : "", e ? e : "",
             e ? "?defaultToGlobal=true" : "");
    snprintf(p2, sizeof(p2), "/mode%s%s%s", e ? "/" : "", e ? e : "",
             e ? "?defaultToGlobal=true" : "");
    free(e);
    reply_t c, m;
    int rc = call_ok(sa, "GET", p1, NULL, &c);
    if (rc)
        return rc;
    if ((rc = call_ok(sa, "GET", p2, NULL, &m)) != 0) {
        reply_free(&c);
        return rc;
    }
    const char *level = json_string_value(json_object_get(c.json, "compatibilityLevel"));
    const char *mode = json_string_value(json_object_get(m.json, "mode"));
    if (sa->g->output == CLI_OUT_JSON)
        cli_json_print(json_pack("{s:s?, s:s?, s:s?}", "subject", subject, "compatibility", level,
                                 "mode", mode),
                       stdout);
    else
        printf("compatibility  %s\nmode           %s\n", level ? level : "?", mode ? mode : "?");
    reply_free(&c);
    reply_free(&m);
    return CLI_OK;
}

/* ---- consume --decode
 * ---------------------------------------------------------------------------- */

enum { DECODER_CACHE = 64 };

struct cli_decoder {
    schema_args_t sa;
    struct {
        int32_t id;
        registry_schema_t *s; /* NULL: the id could not be used (why kept) */
        char why[200];
    } cache[DECODER_CACHE];
    size_t n;
};

cli_decoder_t *cli_decoder_new(cli_global_t *g, const char *registry)
{
    cli_decoder_t *d = weir_calloc(1, sizeof(*d));
    d->sa.g = g;
    d->sa.registry = registry ? registry : cli_registry_default(g);
    if (!d->sa.registry || !*d->sa.registry)
        d->sa.registry = REGISTRY_DEFAULT;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return d;
}

void cli_decoder_free(cli_decoder_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        registry_schema_free(d->cache[i].s);
    free(d);
    curl_global_cleanup();
}

/* Fetches and parses schema id (no references: those are not resolved here). */
static void decoder_fetch(cli_decoder_t *d, int32_t id, registry_schema_t **s, char *why,
                          size_t why_size)
{
    char path[64];
    snprintf(path, sizeof(path), "/schemas/ids/%d", id);
    reply_t rp;
    *s = NULL;
    if (call(&d->sa, "GET", path, NULL, &rp) != 0) {
        snprintf(why, why_size, "the registry at %s cannot be reached", d->sa.registry);
        return;
    }
    const char *text = json_string_value(json_object_get(rp.json, "schema"));
    const char *tn = json_string_value(json_object_get(rp.json, "schemaType"));
    registry_type_t type = REGISTRY_AVRO;
    if (rp.status != 200 || !text)
        snprintf(why, why_size, "schema id %d: the registry answered HTTP %ld", id, rp.status);
    else if (json_array_size(json_object_get(rp.json, "references")))
        snprintf(why, why_size, "schema id %d has references, which --decode does not resolve", id);
    else if (tn && registry_type_parse(tn, &type))
        snprintf(why, why_size, "schema id %d has an unknown type %s", id, tn);
    else if (registry_schema_parse(type, text, strlen(text), false, s, why, why_size))
        *s = NULL;
    reply_free(&rp);
}

int cli_decoder_decode(cli_decoder_t *d, const void *p, size_t n, buf_t *out, char *why,
                       size_t why_size)
{
    int32_t id;
    if (!p || registry_wire_header(p, n, &id))
        return 0;
    size_t i = 0;
    while (i < d->n && d->cache[i].id != id)
        i++;
    if (i == d->n) {
        if (d->n == DECODER_CACHE) { /* full: forget the oldest */
            registry_schema_free(d->cache[0].s);
            memmove(&d->cache[0], &d->cache[1], (DECODER_CACHE - 1) * sizeof(d->cache[0]));
            d->n--;
            i = d->n;
        }
        d->cache[i].id = id;
        decoder_fetch(d, id, &d->cache[i].s, d->cache[i].why, sizeof(d->cache[i].why));
        d->n++;
    }
    if (!d->cache[i].s) {
        snprintf(why, why_size, "%s", d->cache[i].why);
        return -1;
    }
    /* Protobuf: the message indexes after the id */
    const uint8_t *b = p;
    int32_t idx[16];
    size_t nidx = 0, used = 5;
    if (registry_schema_type(d->cache[i].s) == REGISTRY_PROTOBUF) {
        size_t k = registry_wire_msg_indexes(b + used, n - used, idx, 16, &nidx);
        if (!k) {
            snprintf(why, why_size, "bad Protobuf message indexes");
            return -1;
        }
        used += k;
    }
    size_t before = out->len;
    if (registry_schema_decode(d->cache[i].s, idx, nidx, b + used, n - used, out, why, why_size)) {
        out->len = before;
        return -1;
    }
    return 1;
}

#define SUB(name, fn)                                                                              \
    static int schema_##name(cli_global_t *g, int argc, char **argv)                               \
    {                                                                                              \
        return with_args(g, argc, argv, fn);                                                       \
    }
SUB(list, do_list)
SUB(get, do_get)
SUB(register, do_register)
SUB(delete, do_delete)
SUB(check, do_check)
SUB(compat, do_compat)
SUB(config, do_config)
SUB(mode, do_mode)

int cli_schema_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {
        {"list", schema_list},         {"ls", schema_list},       {"get", schema_get},
        {"register", schema_register}, {"delete", schema_delete}, {"check", schema_check},
        {"compat", schema_compat},     {"config", schema_config}, {"mode", schema_mode},
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cli_dispatch(g, "schema", subs, WEIR_ARRAY_LEN(subs), argc, argv);
    curl_global_cleanup();
    return rc;
}
