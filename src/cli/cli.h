/*
 * cli: the `weir` command. main.c dispatches the first word to a command's entry point; each
 * command lives in its own file and returns the process exit code:
 * 0 ok, 1 error (one clear line on stderr), 2 usage, 3 not found.
 */
#ifndef WEIR_CLI_H
#define WEIR_CLI_H

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2, CLI_NOT_FOUND = 3 };

int cli_serve_main(int argc, char **argv); /* serve.c: the broker */

#endif
