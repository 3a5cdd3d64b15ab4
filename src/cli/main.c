/*
 * The `weir` command: reads the global flags (-b, -X, -o, --timeout, -v) and dispatches the
 * first word to its command family. `serve` runs the broker (cmd_serve.c) and gets its argv as it
 * came; the client commands (topic, produce, consume, group, cluster, schema, txn) live in their
 * own files.
 *
 * Exit codes, for every command: 0 ok, 1 error (one line on stderr saying what failed and why),
 * 2 usage (a bad flag or argument), 3 not found (unknown topic, group or partition).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(cli_global_t *g, int argc, char **argv);
} family_t;

static int version_main(cli_global_t *g, int argc, char **argv)
{
    if (g->output == CLI_OUT_JSON) {
        cli_json_print(
            json_pack("{s:s, s:s}", "version", CLI_VERSION, "librdkafka", rd_kafka_version_str()),
            stdout);
    } else {
        printf("weir %s (librdkafka %s)\n", CLI_VERSION, rd_kafka_version_str());
    }
    return CLI_OK;
}

static const family_t families[] = {
    {"topic", cli_topic_main},
    {"produce", cli_produce_main},
    {"consume", cli_consume_main},
    {"group", cli_group_main},
    {"cluster", cli_cluster_main},
    {"schema", cli_schema_main},
    {"user", cli_user_main},
    {"acl", cli_acl_main},
    {"quota", cli_quota_main},
    {"txn", cli_txn_main},
    {"completion", cli_completion_main},
    {"dlq", cli_dlq_main},
    {"saga", cli_saga_main},
    {"help", cli_help_main},
    {"profile", cli_profile_main},
    {"version", version_main},
};

static int run(cli_global_t *g, int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return cli_serve_main(argc - 1, argv + 1);

    cli_global_t g;
    cli_global_init(&g);
    int rc = run(&g, argc, argv);
    cli_global_deinit(&g);
    return rc;
}

/* Global flags, then the command word and its family. */
static int run(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    a.stop_at_positional = true;
    static const cli_opt_t opts[] = {{0, "version", false, 1}, {0, NULL, false, 0}};
    int id, rc;
    const char *arg;
    bool help = false, version = false;
    while ((rc = cli_args_next(&a, opts, &id, &arg)) == 1) {
        version = version || id == 1;
        help = help || id == CLI_OPT_HELP;
    }
    int first = a.i + 1; /* index in argv of the command word */
    cli_args_deinit(&a);
    if (version)
        return version_main(g, 0, NULL);
    if (rc < 0)
        return CLI_USAGE;
    if (first >= argc) {
        cli_help_overview(help ? stdout : stderr);
        return help ? CLI_OK : CLI_USAGE;
    }
    if (strcmp(argv[first], "serve") == 0)
        return cli_serve_main(argc - first, argv + first);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(families); i++) {
        if (strcmp(argv[first], families[i].name) == 0) {
            if (help) /* weir --help topic ...: argv[first - 1] stands in for "help" */
                return cli_help_main(g, argc - first + 1, argv + first - 1);
            return families[i].fn(g, argc - first, argv + first);
        }
    }
    fprintf(stderr, "weir: unknown command '%s' (see 'weir help')\n", argv[first]);
    return CLI_USAGE;
}
