/*
 * Argument parsing for the `weir` commands: a small getopt that knows the global flags
 * (-b, -X, -o, --timeout, -v) so they work before or after the command word, collects
 * positionals in order, and reports each mistake as one line on stderr with exit code 2.
 *
 * Invariant: cli_args_next() never prints more than one line and never exits; the command
 * decides what to do with -CLI_USAGE (it prints the help hint and returns 2).
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    GOPT_BROKERS = 2000,
    GOPT_X,
    GOPT_OUTPUT,
    GOPT_TIMEOUT,
    GOPT_PROFILE,
    GOPT_DRY_RUN,
    GOPT_VERBOSE
};

static const cli_opt_t global_opts[] = {
    {'b', "brokers", true, GOPT_BROKERS},
    {'X', NULL, true, GOPT_X},
    {'o', "output", true, GOPT_OUTPUT},
    {0, "timeout", true, GOPT_TIMEOUT},
    {0, "profile", true, GOPT_PROFILE},
    {0, "dry-run", false, GOPT_DRY_RUN},
    {'v', "verbose", false, GOPT_VERBOSE},
    {'h', "help", false, CLI_OPT_HELP},
    {0, NULL, false, 0},
};

void cli_global_init(cli_global_t *g)
{
    memset(g, 0, sizeof(*g));
    g->brokers = CLI_DEFAULT_BROKERS;
    g->output = CLI_OUT_TABLE;
    g->timeout_ms = 10000;
    g->cmd = NULL;
    const char *p = getenv("WEIR_PROFILE");
    g->profile = p && *p ? p : NULL;
}

void cli_global_deinit(cli_global_t *g)
{
    if (g->profiles)
        cli_profiles_free(g->profiles);
    free(g->profiles);
    g->profiles = NULL;
}

/* True when s names no host at all: empty, spaces and commas only. */
static bool brokers_empty(const char *s)
{
    return s[strspn(s, " ,\t")] == '\0';
}

/* The profile to use (named, or the file's current one): NULL when none applies. */
static int profile_pick(cli_global_t *g, const cli_profile_t **out)
{
    *out = NULL;
    g->profiles = weir_calloc(1, sizeof(*g->profiles));
    char err[600];
    int rc = cli_profiles_load(g->profiles, err, sizeof(err));
    if (rc == -WEIR_ENOENT && !g->profile)
        return 0; /* no file, none asked for */
    if (rc != 0) {
        cli_err(g, "profile %s: %s", g->profile ? g->profile : "", err);
        return CLI_ERROR;
    }
    const char *name = g->profile                ? g->profile
                       : g->profiles->current[0] ? g->profiles->current
                                                 : NULL;
    if (!name)
        return 0;
    *out = cli_profiles_find(g->profiles, name);
    if (!*out || !(*out)->brokers) {
        cli_err(g, "no profile '%s' with brokers in %s (see 'weir profile list')", name,
                g->profiles->path);
        return CLI_ERROR;
    }
    return 0;
}

int cli_global_resolve(cli_global_t *g)
{
    if (g->resolved)
        return 0;
    g->resolved = true;
    if (g->brokers_flag) {
        if (brokers_empty(g->brokers_flag))
            return cli_usage_err(g, "-b is empty: give HOST:PORT (is the variable you passed, "
                                    "e.g. $BROKER, set?)");
        g->brokers = g->brokers_flag;
    }
    const char *env = getenv("WEIR_BROKERS");
    if (!g->brokers_flag && env && !brokers_empty(env))
        g->brokers = env;
    bool need_profile = (!g->brokers_flag && !(env && !brokers_empty(env))) || g->profile;
    const cli_profile_t *p = NULL;
    int rc = need_profile ? profile_pick(g, &p) : 0;
    if (rc != 0 || !p)
        return rc;
    if (!g->brokers_flag && !(env && !brokers_empty(env)))
        g->brokers = p->brokers;
    g->registry = p->registry;
    /* The profile's settings go first, so -X given on the command line wins over them. */
    size_t n = WEIR_MIN(p->nsettings, (size_t)CLI_XCONF_MAX - g->xconf_len);
    memmove(g->xconf + n, g->xconf, g->xconf_len * sizeof(*g->xconf));
    for (size_t i = 0; i < n; i++)
        g->xconf[i] = p->settings[i];
    g->xconf_len += n;
    return 0;
}

const char *cli_registry_default(cli_global_t *g)
{
    const char *env = getenv("WEIR_REGISTRY");
    if (env && *env)
        return env;
    if (cli_global_resolve(g) != 0)
        return NULL;
    return g->registry;
}

void cli_err(const cli_global_t *g, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "weir%s%s: ", g && g->cmd ? " " : "", g && g->cmd ? g->cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage_err(const cli_global_t *g, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "weir%s%s: ", g && g->cmd ? " " : "", g && g->cmd ? g->cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'weir help%s%s')\n", g && g->cmd ? " " : "", g && g->cmd ? g->cmd : "");
    return CLI_USAGE;
}

int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return -WEIR_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || end == s)
        return -WEIR_EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -WEIR_ERANGE;
    *out = v;
    return 0;
}

int cli_kv_split(const char *s, char **key, char **value)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return -WEIR_EINVAL;
    *key = weir_strndup(s, (size_t)(eq - s));
    *value = weir_strdup(eq + 1);
    return 0;
}

void cli_kv_free(char **keys, char **values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(values[i]);
    }
}

void cli_args_init(cli_args_t *a, cli_global_t *g, int argc, char **argv)
{
    memset(a, 0, sizeof(*a));
    a->argc = argc;
    a->argv = argv;
    a->i = 0;
    a->g = g;
    a->pos = weir_calloc((size_t)argc + 1, sizeof(char *));
}

void cli_args_deinit(cli_args_t *a)
{
    free(a->pos);
    a->pos = NULL;
}

static const cli_opt_t *opt_find_short(const cli_opt_t *opts, char c)
{
    for (const cli_opt_t *o = opts; o && o->id; o++)
        if (o->short_name == c)
            return o;
    return NULL;
}

static const cli_opt_t *opt_find_long(const cli_opt_t *opts, const char *name, size_t n)
{
    for (const cli_opt_t *o = opts; o && o->id; o++)
        if (o->long_name && strlen(o->long_name) == n && strncmp(o->long_name, name, n) == 0)
            return o;
    return NULL;
}

/* A global flag the command did not claim: apply it. Returns 0, or -CLI_USAGE. */
static int global_apply(cli_args_t *a, int id, const char *arg)
{
    cli_global_t *g = a->g;
    int64_t ms;
    switch (id) {
    case GOPT_BROKERS:
        g->brokers_flag = arg;
        return 0;
    case GOPT_PROFILE:
        g->profile = arg;
        return 0;
    case GOPT_DRY_RUN:
        g->dry_run = true;
        return 0;
    case GOPT_X:
        if (!strchr(arg, '=') || arg[0] == '=')
            return -cli_usage_err(g, "-X wants key=value, got '%s'", arg);
        if (g->xconf_len >= CLI_XCONF_MAX)
            return -cli_usage_err(g, "too many -X settings (at most %d)", CLI_XCONF_MAX);
        g->xconf[g->xconf_len++] = arg;
        return 0;
    case GOPT_OUTPUT:
        if (strcmp(arg, "table") == 0 || strcmp(arg, "text") == 0)
            g->output = CLI_OUT_TABLE;
        else if (strcmp(arg, "json") == 0)
            g->output = CLI_OUT_JSON;
        else if (g->family && strcmp(g->family, "consume") == 0)
            return -cli_usage_err(g,
                                  "-o is the output format (table or json), got '%s'; the "
                                  "offset to start at is --from (e.g. --from start)",
                                  arg);
        else
            return -cli_usage_err(g, "-o wants table or json, got '%s'", arg);
        g->output_set = true;
        return 0;
    case GOPT_TIMEOUT:
        if (cli_duration_parse(arg, &ms) != 0 || ms <= 0)
            return -cli_usage_err(g, "--timeout wants a duration like 10s or 500ms, got '%s'", arg);
        g->timeout_ms = ms;
        return 0;
    case GOPT_VERBOSE:
        g->verbose = true;
        return 0;
    }
    return -cli_usage_err(g, "internal: unknown global flag");
}

/* Looks a flag up among the command's options first, then the global ones. */
static const cli_opt_t *opt_lookup(const cli_opt_t *opts, char c, const char *name, size_t n)
{
    const cli_opt_t *o = c ? opt_find_short(opts, c) : opt_find_long(opts, name, n);
    if (!o)
        o = c ? opt_find_short(global_opts, c) : opt_find_long(global_opts, name, n);
    return o;
}

static int deliver(cli_args_t *a, const cli_opt_t *o, const char *arg, int *id, const char **out)
{
    if (o->id >= GOPT_BROKERS && o->id <= GOPT_VERBOSE) {
        int rc = global_apply(a, o->id, arg);
        return rc < 0 ? rc : 2; /* 2: consumed, keep going */
    }
    *id = o->id;
    *out = arg;
    return 1;
}

static int next_short(cli_args_t *a, const cli_opt_t *opts, int *id, const char **arg)
{
    char c = *a->cluster++;
    const cli_opt_t *o = opt_lookup(opts, c, NULL, 0);
    if (!o)
        return -cli_usage_err(a->g, "unknown flag '-%c'", c);
    const char *val = NULL;
    if (o->has_arg) {
        if (*a->cluster) {
            val = a->cluster;
        } else if (a->i < a->argc) {
            val = a->argv[a->i++];
        } else {
            return -cli_usage_err(a->g, "flag '-%c' needs a value", c);
        }
        a->cluster = NULL;
    } else if (!*a->cluster) {
        a->cluster = NULL;
    }
    return deliver(a, o, val, id, arg);
}

static int next_long(cli_args_t *a, const char *s, const cli_opt_t *opts, int *id, const char **arg)
{
    const char *eq = strchr(s, '=');
    size_t n = eq ? (size_t)(eq - s) : strlen(s);
    const cli_opt_t *o = opt_lookup(opts, 0, s, n);
    if (!o)
        return -cli_usage_err(a->g, "unknown flag '--%.*s'", (int)n, s);
    const char *val = NULL;
    if (o->has_arg) {
        if (eq)
            val = eq + 1;
        else if (a->i < a->argc)
            val = a->argv[a->i++];
        else
            return -cli_usage_err(a->g, "flag '--%s' needs a value", o->long_name);
    } else if (eq) {
        return -cli_usage_err(a->g, "flag '--%s' takes no value", o->long_name);
    }
    return deliver(a, o, val, id, arg);
}

int cli_args_next(cli_args_t *a, const cli_opt_t *opts, int *id, const char **arg)
{
    for (;;) {
        int rc;
        if (a->cluster && *a->cluster) {
            rc = next_short(a, opts, id, arg);
        } else {
            a->cluster = NULL;
            if (a->i >= a->argc)
                return 0;
            char *s = a->argv[a->i];
            if (a->stop_at_positional && (s[0] != '-' || s[1] == '\0'))
                return 0;
            a->i++;
            if (strcmp(s, "--") == 0) {
                while (a->i < a->argc)
                    a->pos[a->npos++] = a->argv[a->i++];
                return 0;
            }
            if (s[0] == '-' && s[1] == '-') {
                rc = next_long(a, s + 2, opts, id, arg);
            } else if (s[0] == '-' && s[1] != '\0') {
                a->cluster = s + 1;
                rc = next_short(a, opts, id, arg);
            } else {
                a->pos[a->npos++] = s;
                continue;
            }
        }
        if (rc == 2)
            continue;
        return rc;
    }
}

int cli_args_switches(cli_args_t *a, const cli_opt_t *opts, bool *seen)
{
    int id, rc;
    const char *arg;
    while ((rc = cli_args_next(a, opts, &id, &arg)) == 1) {
        if (id == CLI_OPT_HELP)
            return -1;
        seen[id] = true;
    }
    return rc < 0 ? CLI_USAGE : 0;
}

int cli_args_none(cli_args_t *a)
{
    static const cli_opt_t none[] = {{0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    bool help = false;
    while ((rc = cli_args_next(a, none, &id, &arg)) == 1)
        help = true;
    if (help)
        return -1;
    return rc < 0 ? CLI_USAGE : 0;
}

int cli_confirm_names(const cli_global_t *g, bool yes, const char *verb, const char *noun,
                      char *const *names, int n, const char *tail_one, const char *tail_many)
{
    buf_t q;
    buf_init(&q);
    buf_printf(&q, "%s %s%s", verb, noun, n > 1 ? "s" : "");
    for (int i = 0; i < n; i++)
        buf_printf(&q, "%s %s", i ? "," : "", names[i]);
    buf_append_str(&q, n > 1 ? tail_many : tail_one);
    buf_append_u8(&q, '\0');
    int rc = cli_confirm(g, yes, (const char *)q.data);
    buf_deinit(&q);
    return rc;
}

int cli_confirm(const cli_global_t *g, bool yes, const char *action)
{
    if (yes)
        return 0;
    if (!isatty(STDIN_FILENO)) {
        cli_err(g, "refusing to %s without --yes (stdin is not a terminal to ask)", action);
        return CLI_USAGE;
    }
    fprintf(stderr, "%s? [y/N] ", action);
    fflush(stderr);
    char line[64];
    if (fgets(line, sizeof(line), stdin) && (line[0] == 'y' || line[0] == 'Y'))
        return 0;
    cli_err(g, "aborted, nothing changed");
    return CLI_ERROR;
}

void cli_set_cmd(cli_global_t *g, const char *family, const char *sub)
{
    g->family = family;
    g->sub = sub;
    snprintf(g->cmd_buf, sizeof(g->cmd_buf), "%s%s%s", family, sub ? " " : "", sub ? sub : "");
    g->cmd = g->cmd_buf;
}

int cli_help_current(const cli_global_t *g)
{
    if (cli_help_print(stdout, g->family, g->sub) != 0)
        cli_help_print(stdout, g->family, NULL);
    return CLI_OK;
}

int cli_dispatch(cli_global_t *g, const char *family, const cli_sub_t *subs, size_t nsubs, int argc,
                 char **argv)
{
    cli_set_cmd(g, family, NULL);
    /* Global flags may come between the family and the subcommand: weir topic -b h:p list. */
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    a.stop_at_positional = true;
    static const cli_opt_t none[] = {{0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    bool help = false;
    while ((rc = cli_args_next(&a, none, &id, &arg)) == 1)
        help = help || id == CLI_OPT_HELP;
    int at = a.i + 1;
    cli_args_deinit(&a);
    if (rc < 0)
        return CLI_USAGE;
    if (at >= argc || strcmp(argv[at], "help") == 0) {
        if (help || at < argc)
            return cli_help_current(g);
        return cli_usage_err(g, "missing subcommand");
    }
    for (size_t i = 0; i < nsubs; i++) {
        if (strcmp(argv[at], subs[i].name) == 0) {
            cli_set_cmd(g, family, subs[i].name);
            if (help)
                return cli_help_current(g);
            return subs[i].fn(g, argc - at, argv + at);
        }
    }
    return cli_usage_err(g, "unknown subcommand '%s'", argv[at]);
}
