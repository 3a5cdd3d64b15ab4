/*
 * Unit tests of the CLI's pure parsers: times (RFC 3339, epoch ms, relative), durations, offset
 * specs and their resolution against watermarks, and the argument parser with global flags.
 */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include "../../src/cli/args.c"
#include "../../src/cli/profile.c"
#include "../../src/cli/help.c"
#include "../../src/cli/spec.c"

#define NOW 1714564800000LL /* 2024-05-01T12:00:00Z */

static const char *fmt_time(int64_t ms)
{
    static char out[40];
    cli_time_format(ms, out, sizeof(out));
    return out;
}

TEST(time_format)
{
    CHECK_STR(fmt_time(0), "1970-01-01T00:00:00.000Z");
    CHECK_STR(fmt_time(NOW + 123), "2024-05-01T12:00:00.123Z");
    CHECK_STR(fmt_time(-1), "1969-12-31T23:59:59.999Z");
    CHECK_STR(fmt_time(951782400000LL), "2000-02-29T00:00:00.000Z");
}

TEST(time_parse)
{
    int64_t ms = 0;
    CHECK_EQ(cli_time_parse("2024-05-01T12:00:00Z", 0, &ms), 0);
    CHECK_EQ(ms, NOW);
    CHECK_EQ(cli_time_parse("2024-05-01t12:00:00.5z", 0, &ms), 0);
    CHECK_EQ(ms, NOW + 500);
    CHECK_EQ(cli_time_parse("2024-05-01T12:00:00.123456+02:00", 0, &ms), 0);
    CHECK_EQ(ms, NOW + 123 - 2 * 3600 * 1000);
    CHECK_EQ(cli_time_parse("2024-05-01T12:00:00-01:30", 0, &ms), 0);
    CHECK_EQ(ms, NOW + 90 * 60 * 1000);
    CHECK_EQ(cli_time_parse("2024-05-01 12:00", 0, &ms), 0);
    CHECK_EQ(ms, NOW);
    CHECK_EQ(cli_time_parse("2024-05-01", 0, &ms), 0);
    CHECK_EQ(ms, NOW - 12 * 3600 * 1000);
    CHECK_EQ(cli_time_parse("1714564800000", 0, &ms), 0);
    CHECK_EQ(ms, NOW);
    CHECK_EQ(cli_time_parse("-1h", NOW, &ms), 0);
    CHECK_EQ(ms, NOW - 3600 * 1000);
    CHECK_EQ(cli_time_parse("now", NOW, &ms), 0);
    CHECK_EQ(ms, NOW);
    ms = 7;
    CHECK_EQ(cli_time_parse("2024-02-30T00:00:00Z", 0, &ms), -WEIR_ERANGE);
    CHECK_EQ(cli_time_parse("2024-13-01", 0, &ms), -WEIR_ERANGE);
    CHECK_EQ(cli_time_parse("2024-05-01T25:00:00Z", 0, &ms), -WEIR_ERANGE);
    CHECK_EQ(cli_time_parse("2024-05-01T12:00:00.Z", 0, &ms), -WEIR_EINVAL);
    CHECK_EQ(cli_time_parse("2024-05-01T12:00:00+0200", 0, &ms), -WEIR_EINVAL);
    CHECK_EQ(cli_time_parse("yesterday", 0, &ms), -WEIR_EINVAL);
    CHECK_EQ(cli_time_parse("", 0, &ms), -WEIR_EINVAL);
    CHECK_EQ(cli_time_parse("-1", NOW, &ms), -WEIR_EINVAL);
    CHECK_EQ(ms, 7); /* untouched on error */
}

TEST(duration_parse)
{
    int64_t ms = 0;
    CHECK_EQ(cli_duration_parse("500ms", &ms), 0);
    CHECK_EQ(ms, 500);
    CHECK_EQ(cli_duration_parse("10s", &ms), 0);
    CHECK_EQ(ms, 10000);
    CHECK_EQ(cli_duration_parse("1h30m", &ms), 0);
    CHECK_EQ(ms, 90 * 60 * 1000);
    CHECK_EQ(cli_duration_parse("2d", &ms), 0);
    CHECK_EQ(ms, 2 * 86400 * 1000LL);
    CHECK_EQ(cli_duration_parse("1w", &ms), 0);
    CHECK_EQ(ms, 7 * 86400 * 1000LL);
    CHECK_EQ(cli_duration_parse("5", &ms), -WEIR_EINVAL);
    CHECK_EQ(cli_duration_parse("", &ms), -WEIR_EINVAL);
    CHECK_EQ(cli_duration_parse("1x", &ms), -WEIR_EINVAL);
    CHECK_EQ(cli_duration_parse("h", &ms), -WEIR_EINVAL);
    CHECK_EQ(cli_duration_parse("99999999999999999999d", &ms), -WEIR_ERANGE);
}

static cli_offset_spec_t spec(const char *s)
{
    cli_offset_spec_t sp = {CLI_OFF_START, -99};
    CHECK_EQ(cli_offset_spec_parse(s, NOW, &sp), 0);
    return sp;
}

TEST(offset_spec_parse)
{
    static const char *const starts[] = {"start", "beginning", "oldest", "earliest"};
    for (size_t i = 0; i < WEIR_ARRAY_LEN(starts); i++)
        CHECK_EQ(spec(starts[i]).kind, CLI_OFF_START);
    CHECK_EQ(spec("end").kind, CLI_OFF_END);
    CHECK_EQ(spec("newest").kind, CLI_OFF_END);
    CHECK_EQ(spec("latest").kind, CLI_OFF_END);
    cli_offset_spec_t s = spec("42");
    CHECK(s.kind == CLI_OFF_EXACT && s.value == 42);
    s = spec("+5");
    CHECK(s.kind == CLI_OFF_FROM_START && s.value == 5);
    s = spec("-5");
    CHECK(s.kind == CLI_OFF_FROM_END && s.value == 5);
    s = spec("@1714564800000");
    CHECK(s.kind == CLI_OFF_TIME && s.value == NOW);
    s = spec("@-1h");
    CHECK(s.kind == CLI_OFF_TIME && s.value == NOW - 3600000);
    s = spec("-30m");
    CHECK(s.kind == CLI_OFF_TIME && s.value == NOW - 1800000);
    s = spec("2024-05-01T12:00:00Z");
    CHECK(s.kind == CLI_OFF_TIME && s.value == NOW);
    s = spec("@2024-05-01T12:00:00.250Z");
    CHECK(s.kind == CLI_OFF_TIME && s.value == NOW + 250);
    cli_offset_spec_t bad = {CLI_OFF_END, 1};
    CHECK(cli_offset_spec_parse("json", NOW, &bad) != 0);
    CHECK(cli_offset_spec_parse("", NOW, &bad) != 0);
    CHECK(cli_offset_spec_parse("+", NOW, &bad) != 0);
    CHECK(cli_offset_spec_parse("@", NOW, &bad) != 0);
    CHECK(cli_offset_spec_parse("12a", NOW, &bad) != 0);
    CHECK(cli_offset_spec_parse("99999999999999999999", NOW, &bad) != 0);
    CHECK(bad.kind == CLI_OFF_END && bad.value == 1);
}

TEST(offset_spec_resolve)
{
    /* A partition holding offsets [10, 20). */
    struct {
        cli_offset_spec_t s;
        int64_t time_off, want;
    } cases[] = {
        {{CLI_OFF_START, 0}, -1, 10},
        {{CLI_OFF_END, 0}, -1, 20},
        {{CLI_OFF_EXACT, 15}, -1, 15},
        {{CLI_OFF_EXACT, 3}, -1, 10},
        {{CLI_OFF_EXACT, 99}, -1, 20},
        {{CLI_OFF_FROM_START, 4}, -1, 14},
        {{CLI_OFF_FROM_START, 50}, -1, 20},
        {{CLI_OFF_FROM_END, 3}, -1, 17},
        {{CLI_OFF_FROM_END, 50}, -1, 10},
        {{CLI_OFF_FROM_END, INT64_MAX}, -1, 10},
        {{CLI_OFF_FROM_START, INT64_MAX}, -1, 20},
        {{CLI_OFF_TIME, NOW}, 12, 12},
        {{CLI_OFF_TIME, NOW}, -1, 20},
        {{CLI_OFF_TIME, NOW}, 5, 10},
    };
    for (size_t i = 0; i < WEIR_ARRAY_LEN(cases); i++) {
        int64_t got = cli_offset_spec_resolve(&cases[i].s, 10, 20, cases[i].time_off);
        if (got != cases[i].want)
            fprintf(stderr, "  case %zu: got %" PRId64 " want %" PRId64 "\n", i, got,
                    cases[i].want);
        CHECK_EQ(got, cases[i].want);
    }
}

/* ---- argument parsing ------------------------------------------------------------------------ */

enum { T_P = 1, T_YES, T_SET };
static const cli_opt_t topts[] = {{'p', "partitions", true, T_P},
                                  {'y', "yes", false, T_YES},
                                  {0, "set", true, T_SET},
                                  {0, NULL, false, 0}};

typedef struct {
    int ids[16];
    const char *args[16];
    int n, rc;
} seen_t;

static seen_t run_args(cli_global_t *g, cli_args_t *a, int argc, char **argv)
{
    seen_t s = {0};
    cli_args_init(a, g, argc, argv);
    int id;
    const char *arg;
    while ((s.rc = cli_args_next(a, topts, &id, &arg)) == 1 && s.n < 16) {
        s.ids[s.n] = id;
        s.args[s.n++] = arg;
    }
    return s;
}

TEST(args_forms)
{
    cli_global_t g;
    cli_global_init(&g);
    cli_args_t a;
    char *argv[] = {"t1",           "-p", "3",   "-p4",   "--partitions=5",
                    "--partitions", "6",  "-yv", "--set", "a=b",
                    "t2",           "--", "-p",  NULL};
    seen_t s = run_args(&g, &a, 13, argv);
    CHECK_EQ(s.rc, 0);
    CHECK_EQ(s.n, 6);
    CHECK_STR(s.args[0], "3");
    CHECK_STR(s.args[1], "4");
    CHECK_STR(s.args[2], "5");
    CHECK_STR(s.args[3], "6");
    CHECK_EQ(s.ids[4], T_YES);
    CHECK_EQ(s.ids[5], T_SET);
    CHECK_STR(s.args[5], "a=b");
    CHECK(g.verbose); /* -v inside the -yv cluster is the global flag */
    CHECK_EQ(a.npos, 3);
    CHECK_STR(a.pos[0], "t1");
    CHECK_STR(a.pos[1], "t2");
    CHECK_STR(a.pos[2], "-p");
    cli_args_deinit(&a);
}

TEST(args_globals_anywhere)
{
    cli_global_t g;
    cli_global_init(&g);
    cli_args_t a;
    char *argv[] = {"-b", "h:1",           "x", "-X", "linger.ms=1", "-o", "json", "--timeout",
                    "3s", "--brokers=h:2", NULL};
    seen_t s = run_args(&g, &a, 10, argv);
    CHECK_EQ(s.rc, 0);
    CHECK_EQ(s.n, 0);
    CHECK_STR(g.brokers_flag, "h:2"); /* the last -b wins; cli_global_resolve settles it */
    CHECK_EQ(g.xconf_len, 1);
    CHECK_STR(g.xconf[0], "linger.ms=1");
    CHECK_EQ(g.output, CLI_OUT_JSON);
    CHECK_EQ(g.timeout_ms, 3000);
    CHECK_EQ(a.npos, 1);
    cli_args_deinit(&a);
}

TEST(args_errors)
{
    cli_global_t g;
    cli_global_init(&g);
    cli_args_t a;
    char *bad1[] = {"-z", NULL};
    CHECK_EQ(run_args(&g, &a, 1, bad1).rc, -CLI_USAGE);
    cli_args_deinit(&a);
    char *bad2[] = {"-p", NULL};
    CHECK_EQ(run_args(&g, &a, 1, bad2).rc, -CLI_USAGE);
    cli_args_deinit(&a);
    char *bad3[] = {"--yes=1", NULL};
    CHECK_EQ(run_args(&g, &a, 1, bad3).rc, -CLI_USAGE);
    cli_args_deinit(&a);
    char *bad4[] = {"-o", "yaml", NULL};
    CHECK_EQ(run_args(&g, &a, 2, bad4).rc, -CLI_USAGE);
    cli_args_deinit(&a);
    char *bad5[] = {"-X", "novalue", NULL};
    CHECK_EQ(run_args(&g, &a, 2, bad5).rc, -CLI_USAGE);
    cli_args_deinit(&a);
    char *bad6[] = {"--timeout", "10", NULL};
    CHECK_EQ(run_args(&g, &a, 2, bad6).rc, -CLI_USAGE);
    cli_args_deinit(&a);
    char *bad7[] = {"--nope", NULL};
    CHECK_EQ(run_args(&g, &a, 1, bad7).rc, -CLI_USAGE);
    cli_args_deinit(&a);
}

TEST(args_stop_at_command_word)
{
    cli_global_t g;
    cli_global_init(&g);
    cli_args_t a;
    char *argv[] = {"-b", "h:9", "topic", "-p", "3", NULL};
    cli_args_init(&a, &g, 5, argv);
    a.stop_at_positional = true;
    int id;
    const char *arg;
    CHECK_EQ(cli_args_next(&a, topts, &id, &arg), 0);
    CHECK_EQ(a.i, 2);
    CHECK_STR(g.brokers_flag, "h:9");
    cli_args_deinit(&a);
}

TEST(parse_numbers_and_kv)
{
    int64_t v = 0;
    CHECK_EQ(cli_parse_i64("12", 0, 100, &v), 0);
    CHECK_EQ(v, 12);
    CHECK_EQ(cli_parse_i64("-3", -5, 5, &v), 0);
    CHECK_EQ(v, -3);
    CHECK_EQ(cli_parse_i64("101", 0, 100, &v), -WEIR_ERANGE);
    CHECK_EQ(cli_parse_i64("1 ", 0, 100, &v), -WEIR_EINVAL);
    CHECK_EQ(cli_parse_i64("", 0, 100, &v), -WEIR_EINVAL);
    char *k, *val;
    CHECK_EQ(cli_kv_split("a=b=c", &k, &val), 0);
    CHECK_STR(k, "a");
    CHECK_STR(val, "b=c");
    free(k);
    free(val);
    CHECK_EQ(cli_kv_split("a=", &k, &val), 0);
    CHECK_STR(val, "");
    free(k);
    free(val);
    CHECK_EQ(cli_kv_split("=b", &k, &val), -WEIR_EINVAL);
    CHECK_EQ(cli_kv_split("ab", &k, &val), -WEIR_EINVAL);
}

TEST(help_pages_exist)
{
    static const char *const subs[][2] = {
        {"topic", NULL},
        {"topic", "create"},
        {"topic", "list"},
        {"topic", "describe"},
        {"topic", "delete"},
        {"topic", "alter-config"},
        {"topic", "add-partitions"},
        {"topic", "trim"},
        {"produce", NULL},
        {"consume", NULL},
        {"group", NULL},
        {"group", "list"},
        {"group", "describe"},
        {"group", "seek"},
        {"group", "delete"},
        {"cluster", NULL},
        {"cluster", "info"},
        {"completion", "bash"},
    };
    FILE *f = fopen("/dev/null", "w");
    for (size_t i = 0; i < WEIR_ARRAY_LEN(subs); i++)
        CHECK_EQ(cli_help_print(f, subs[i][0], subs[i][1]), 0);
    CHECK_EQ(cli_help_print(f, "topic", "nope"), -WEIR_ENOENT);
    CHECK_EQ(cli_help_print(f, "nope", NULL), -WEIR_ENOENT);
    fclose(f);
    /* Every help line fits 100 columns. */
    for (size_t i = 0; i < WEIR_ARRAY_LEN(pages); i++) {
        const char *p = pages[i].text;
        while (p && *p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            if (n > 100)
                fprintf(stderr, "  long help line: %.*s\n", (int)n, p);
            CHECK(n <= 100);
            p = nl ? nl + 1 : p + n;
        }
    }
}

/* Profiles: the YAML subset of ~/.config/weir/weir.yaml, and where the brokers come from. */
static void write_config(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

TEST(profiles_parse_and_pick)
{
    char path[] = "/tmp/weir-test-profile-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    write_config(path, "# my clusters\n"
                       "current: local\n"
                       "profiles:\n"
                       "  local:\n"
                       "    brokers: 127.0.0.1:9092   # the laptop\n"
                       "    registry: http://127.0.0.1:8081\n"
                       "  prod:\n"
                       "    brokers: \"k1:9092,k2:9092\"\n"
                       "    settings:\n"
                       "      security.protocol: SASL_SSL\n"
                       "      sasl.mechanism: 'SCRAM-SHA-256'\n"
                       "  nobrokers:\n"
                       "    registry: x\n");
    setenv("WEIR_CONFIG", path, 1);
    cli_profiles_t all;
    char err[600];
    REQUIRE(cli_profiles_load(&all, err, sizeof(err)) == 0);
    CHECK_EQ(all.n, 3);
    CHECK_STR(all.current, "local");
    const cli_profile_t *p = cli_profiles_find(&all, "prod");
    REQUIRE(p != NULL);
    CHECK_STR(p->brokers, "k1:9092,k2:9092");
    CHECK_EQ(p->nsettings, 2);
    CHECK_STR(p->settings[1], "sasl.mechanism=SCRAM-SHA-256");
    CHECK_STR(cli_profiles_find(&all, "local")->registry, "http://127.0.0.1:8081");
    cli_profiles_free(&all);

    unsetenv("WEIR_BROKERS");
    unsetenv("WEIR_PROFILE");
    cli_global_t g;
    cli_global_init(&g); /* the file's current profile */
    CHECK_EQ(cli_global_resolve(&g), 0);
    CHECK_STR(g.brokers, "127.0.0.1:9092");
    CHECK_STR(g.registry, "http://127.0.0.1:8081");
    cli_global_deinit(&g);
    cli_global_init(&g); /* --profile, and -X over the profile's settings */
    g.profile = "prod";
    g.xconf[g.xconf_len++] = "security.protocol=PLAINTEXT";
    CHECK_EQ(cli_global_resolve(&g), 0);
    CHECK_STR(g.brokers, "k1:9092,k2:9092");
    CHECK_EQ(g.xconf_len, 3);
    CHECK_STR(g.xconf[0], "security.protocol=SASL_SSL");
    CHECK_STR(g.xconf[2], "security.protocol=PLAINTEXT"); /* applied last: it wins */
    cli_global_deinit(&g);
    setenv("WEIR_BROKERS", "env:1", 1); /* $WEIR_BROKERS over the profile */
    cli_global_init(&g);
    CHECK_EQ(cli_global_resolve(&g), 0);
    CHECK_STR(g.brokers, "env:1");
    cli_global_deinit(&g);
    cli_global_init(&g); /* -b over everything; an empty -b is a usage error at once */
    g.brokers_flag = "";
    CHECK_EQ(cli_global_resolve(&g), CLI_USAGE);
    cli_global_deinit(&g);
    unsetenv("WEIR_BROKERS");
    cli_global_init(&g);
    g.profile = "nobrokers";
    CHECK_EQ(cli_global_resolve(&g), CLI_ERROR);
    cli_global_deinit(&g);
    write_config(path, "profiles:\n\tlocal:\n");
    CHECK_EQ(cli_profiles_load(&all, err, sizeof(err)), -WEIR_EINVAL);
    CHECK(strstr(err, "line 2") != NULL);
    cli_profiles_free(&all);
    unlink(path);
    unsetenv("WEIR_CONFIG");
}

TEST_MAIN()
