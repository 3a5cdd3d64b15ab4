/*
 * `weir profile list`: the named brokers of ~/.config/weir/weir.yaml (profile.c reads it), with
 * the one in use marked: --profile, $WEIR_PROFILE, else the file's `current`.
 *
 * Invariant: listing never contacts a broker and never changes the file.
 */
#include "cli/cli.h"

static int profile_list(cli_global_t *g, int argc, char **argv)
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
    cli_profiles_t all;
    char err[600];
    rc = cli_profiles_load(&all, err, sizeof(err));
    if (rc != 0 && rc != -WEIR_ENOENT) {
        cli_err(g, "%s", err);
        cli_profiles_free(&all);
        return CLI_ERROR;
    }
    if (rc == -WEIR_ENOENT)
        fprintf(stderr,
                "weir profile list: no profiles yet: %s does not exist (see 'weir help "
                "profile')\n",
                all.path[0] ? all.path : "~/.config/weir/weir.yaml");
    const char *using = g->profile ? g->profile : all.current;
    static const char *const hdr[] = {"NAME", "BROKERS", "REGISTRY", "CURRENT"};
    cli_table_t t;
    cli_table_init(&t, 4, hdr);
    t.shrinkable = 1u << 1;
    json_t *j = json_array();
    for (size_t i = 0; i < all.n; i++) {
        const cli_profile_t *p = &all.items[i];
        bool cur = strcmp(p->name, using) == 0;
        cli_table_addf(&t, "%s\t%s\t%s\t%s", p->name, p->brokers ? p->brokers : "-",
                       p->registry ? p->registry : "-", cur ? "*" : "");
        json_array_append_new(j, json_pack("{s:s, s:s?, s:s?, s:b}", "name", p->name, "brokers",
                                           p->brokers, "registry", p->registry, "current", cur));
    }
    cli_output_print(g, j, &t);
    cli_profiles_free(&all);
    return CLI_OK;
}

int cli_profile_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {{"list", profile_list}};
    return cli_dispatch(g, "profile", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
