/*
 * `weir serve`: runs the broker in the foreground. A thin wrapper over weir_broker_start /
 * weir_broker_stop: flags to a weir_broker_config, the two address lines on stdout (the first
 * `listening on HOST:PORT`, the second `http on HOST:PORT`, flushed at once so scripts can wait
 * for them), then it waits for SIGTERM or SIGINT and stops cleanly: no more accepts, parked
 * requests answered, logs flushed and marked clean, exit 0. Logs go to stderr.
 */
#include "cli/cli.h"

#include "weir/embed.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: weir serve [--config FILE] [--data-dir DIR] [--listen HOST:PORT]\n"
            "                  [--advertise HOST:PORT] [--http-listen [https://]HOST:PORT|off]\n"
            "                  [--set KEY=VALUE]... [--log-level debug|info|warn|error]\n"
            "\n"
            "Runs the Kafka-protocol broker in the foreground until SIGTERM or SIGINT.\n"
            "\n"
            "  --config FILE         settings file: 'key = value' lines, Kafka's names\n"
            "  --data-dir DIR        where the logs live (default ./data)\n"
            "  --listen HOST:PORT    Kafka listener (default 127.0.0.1:9092; port 0 = any free)\n"
            "  --advertise HOST:PORT address given to clients (default: the listener's)\n"
            "  --http-listen ADDR    health and admin HTTP (default 127.0.0.1:8081; 'off';\n"
            "                        https://HOST:PORT: TLS with ssl.keystore.location)\n"
            "  --http-token TOKEN    the HTTP API needs 'Authorization: Bearer TOKEN' (default: "
            "open)\n"
            "  --set KEY=VALUE       one setting, e.g. --set num.partitions=6 (repeatable)\n"
            "  --log-level LEVEL     debug, info (default), warn or error\n"
            "\n"
            "Prints 'listening on HOST:PORT' then 'http on HOST:PORT' on stdout once ready\n"
            "(with several listeners, then a line 'listener NAME://HOST:PORT' for each).\n"
            "Settings and APIs: docs/broker.md.\n");
}

/* The flag's value: "--flag value" or "--flag=value". */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != 0)
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "weir serve: %s needs a value\n", name);
        exit(CLI_USAGE);
    }
    return argv[++*i];
}

int cli_serve_main(int argc, char **argv)
{
    weir_broker_config cfg;
    weir_broker_config_init(&cfg);
    const char **settings = calloc((size_t)argc + 1, sizeof(*settings));
    size_t nset = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            serve_usage(stdout);
            free(settings);
            return CLI_OK;
        } else if ((v = flag_value(argc, argv, &i, "--config"))) {
            cfg.config_file = v;
        } else if ((v = flag_value(argc, argv, &i, "--data-dir"))) {
            cfg.data_dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--listen"))) {
            cfg.listen = v;
        } else if ((v = flag_value(argc, argv, &i, "--advertise"))) {
            cfg.advertise = v;
        } else if ((v = flag_value(argc, argv, &i, "--http-listen"))) {
            cfg.http_listen = strcmp(v, "off") == 0 ? NULL : v;
        } else if ((v = flag_value(argc, argv, &i, "--http-token"))) {
            cfg.http_token = v;
        } else if ((v = flag_value(argc, argv, &i, "--set"))) {
            if (!strchr(v, '=')) {
                fprintf(stderr, "weir serve: --set needs KEY=VALUE, got '%s'\n", v);
                free(settings);
                return CLI_USAGE;
            }
            settings[nset++] = v;
        } else if ((v = flag_value(argc, argv, &i, "--log-level"))) {
            int lvl = log_level_parse(v);
            if (lvl < 0) {
                fprintf(stderr, "weir serve: unknown log level '%s'\n", v);
                free(settings);
                return CLI_USAGE;
            }
            log_set_level((log_level_t)lvl);
        } else {
            fprintf(stderr, "weir serve: unknown argument '%s' (see 'weir serve --help')\n",
                    argv[i]);
            free(settings);
            return CLI_USAGE;
        }
    }
    cfg.settings = settings;

    /* Block the stop signals before any broker thread exists, so only sigwait sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    weir_broker *b;
    int rc = weir_broker_start(&cfg, &b);
    free(settings);
    if (rc < 0) {
        fprintf(stderr, "weir serve: cannot start the broker: %s\n", weir_broker_strerror(rc));
        return CLI_ERROR;
    }
    printf("listening on %s\n", weir_broker_bootstrap(b));
    const char *http = weir_broker_http_address(b);
    printf("http on %s\n", http ? http : "off");
    /* With several listeners, one line each (NAME://HOST:PORT, the bound port). */
    size_t nl = weir_broker_listener_count(b);
    for (size_t i = 0; nl > 1 && i < nl; i++) {
        char l[400];
        if (weir_broker_listener(b, i, l, sizeof(l)) == 0)
            printf("listener %s\n", l);
    }
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    log_info("serve", "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    weir_broker_stop(b);
    return CLI_OK;
}
