/* Placeholder until the broker lands: `weir serve` (owned by the broker work). */
#include "cli/cli.h"

#include <stdio.h>

int cli_serve_main(int argc, char **argv)
{
    fprintf(stderr, "weir serve: not built yet\n");
    return CLI_ERROR;
}
