/*
 * The `weir` command: dispatches the first word to its command. Client commands (topic,
 * produce, consume, group, cluster) are added by the CLI module; `serve` runs the broker.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: weir <command> [args]\n\n"
               "commands:\n"
               "  serve     run the broker\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "serve") == 0)
        return cli_serve_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    fprintf(stderr, "weir: unknown command '%s' (try 'weir help')\n", argv[1]);
    return CLI_USAGE;
}
