/*
 * `weir completion bash|zsh|fish`: prints a completion script for the shell. The three are
 * generated from one table here (commands, subcommands, flags, and the values some flags take),
 * so they cannot drift apart; topic, group and transactional-id names are asked of the broker at
 * completion time (`weir topic list -q`, `weir group list -q`, `weir txn list -q`, with the
 * -b / -X / --profile flags already typed and a short timeout, so a broker that is down only
 * means no names).
 *
 * Invariant: the table mirrors the parsers in cmd_*.c (test_cli_help.sh checks that every flag
 * a completion offers is accepted by its command, and that each script parses in its shell).
 */
#include "cli/cli.h"

typedef struct {
    const char *family;
    const char *subs;       /* space-separated; NULL: none */
    const char *names;      /* what positionals are: "topic", "group", "txn" or NULL */
    const char *topic_subs; /* subcommands whose positional is a topic instead; NULL: none */
} comp_family_t;

typedef struct {
    const char *cmd;   /* "topic create"; "consume"; "produce" */
    const char *flags; /* space-separated */
} comp_flags_t;

typedef struct {
    const char *flags; /* space-separated flags that take these values */
    const char *values;
} comp_values_t;

static const comp_family_t families[] = {
    {"topic", "create list describe delete alter-config add-partitions trim export import", "topic",
     NULL},
    {"dlq", "list show redrive", "topic", NULL},
    {"saga", "list show", NULL, NULL},
    {"produce", NULL, "topic", NULL},
    {"consume", NULL, "topic", NULL},
    {"group", "list describe seek delete", "group", NULL},
    {"cluster", "info health logdirs config", NULL, NULL},
    {"schema", "list get register delete check compat config mode", NULL, NULL},
    {"user", "create passwd delete list", NULL, NULL},
    {"acl", "create list delete", NULL, NULL},
    {"quota", "alter describe", NULL, NULL},
    {"txn", "list describe producers find-hanging abort", "txn", "producers"},
    {"profile", "list", NULL, NULL},
    {"completion", "bash zsh fish", NULL, NULL},
    {"serve", NULL, NULL, NULL},
    {"help", NULL, NULL, NULL},
    {"version", NULL, NULL, NULL},
};

static const comp_flags_t flag_table[] = {
    {"quota alter", "--name --default --add --delete"},
    {"quota describe", "--name --default --any --strict"},
    {"topic create", "-p --partitions -r --replicas -c --config --if-not-exists"},
    {"topic list", "--internal -q --quiet"},
    {"topic describe", "-p --partitions"},
    {"topic delete", "-y --yes"},
    {"topic alter-config", "-s --set -d --delete"},
    {"topic add-partitions", "-n --num"},
    {"topic trim", "--before -p --partition -y --yes"},
    {"topic export", "--from --to -p --partition"},
    {"dlq show", "-n --num --error"},
    {"dlq redrive", "--to --error"},
    {"saga list", "--topic --status"},
    {"saga show", "--topic"},
    {"produce", "-k --key -H --header -p --partition -f --format --acks -z --compression"},
    {"consume", "--from --end-offset --end-time -n --num -g --group -f --format -e --exit -p "
                "--partition --decode --registry"},
    {"group list", "-q --quiet"},
    {"group seek", "--to -t --topics --execute"},
    {"group delete", "-y --yes"},
    {"cluster config", "--broker --dynamic -d --delete"},
    {"txn list", "--state --producer-id --older-than -q --quiet"},
    {"txn producers", "-p --partition"},
    {"txn find-hanging", "-t --topic -p --partition --max-timeout"},
    {"txn abort", "-t --topic -p --partition --start-offset --producer-id --producer-epoch "
                  "--coordinator-epoch -y --yes"},
    {"schema", "--registry --version --id -t --type --ref --normalize --deleted --prefix "
               "--permanent -y --yes -s --subject --delete --force --global"},
    {"user create", "-p --password --mechanism --iterations"},
    {"user passwd", "-p --password --mechanism --iterations"},
    {"user delete", "--mechanism"},
    {"acl", "--allow-principal --deny-principal --operation --topic --group --transactional-id "
            "--cluster --host --resource-pattern-type"},
};

#define GLOBAL_FLAGS                                                                               \
    "-b --brokers -X -o --output --timeout --profile --dry-run -v --verbose -h --help"

static const comp_values_t value_table[] = {
    {"-o --output", "table json"},
    {"--resource-pattern-type", "literal prefixed match any"},
    {"--operation", "all read write create delete alter describe cluster_action describe_configs "
                    "alter_configs idempotent_write"},
    {"--acks", "0 1 all"},
    {"-z --compression", "none gzip snappy lz4 zstd"},
    {"--to", "start end -1h -1d"},
    {"--from", "start end -10 @-1h"},
    {"--end-offset", "end -10 +100"},
    {"--end-time", "-1h -10m @0"},
    {"--state", "Empty Ongoing PrepareCommit PrepareAbort CompleteCommit CompleteAbort "
                "PrepareEpochFence"},
    {"--mechanism", "SCRAM-SHA-256 SCRAM-SHA-512"},
};

/* Flags that take a value nobody can guess (so completion offers nothing for it). */
#define FREE_VALUE_FLAGS                                                                           \
    "-b --brokers -X --timeout --profile -k --key -H --header --partition -f --format -n --num "   \
    "-c --config --set -s --delete -d --before -r --replicas -g --group --broker --registry "      \
    "--version --id --type --ref --prefix --subject --password --iterations --error"

/* "a b c" as "a | b | c" (a shell case pattern). */
static void alternatives(FILE *f, const char *words)
{
    for (const char *p = words; *p; p++) {
        if (*p == ' ')
            fputs(" | ", f);
        else
            fputc(*p, f);
    }
}

/* ---- bash and zsh ---------------------------------------------------------------------------
 * One function body for both: they differ in how words are indexed and how candidates are
 * offered (compgen into COMPREPLY, or compadd, which filters by the typed prefix itself). */
typedef struct {
    bool zsh;
} dialect_t;

static void offer_words(FILE *f, const dialect_t *d, const char *words)
{
    if (d->zsh)
        fprintf(f, "compadd -- %s", words);
    else
        fprintf(f, "COMPREPLY=($(compgen -W '%s' -- \"$cur\"))", words);
}

static void offer_names(FILE *f, const dialect_t *d, const char *kind)
{
    if (d->zsh)
        fprintf(f, "compadd -- ${(f)\"$(_weir_names %s)\"}", kind);
    else
        fprintf(f, "COMPREPLY=($(compgen -W \"$(_weir_names %s)\" -- \"$cur\"))", kind);
}

static void sh_prologue(FILE *f, const dialect_t *d)
{
    if (d->zsh)
        fputs("#compdef weir\n"
              "# zsh completion for weir. Load with: source <(weir completion zsh)\n"
              "(( $+functions[compdef] )) || { autoload -Uz compinit && compinit; }\n",
              f);
    else
        fputs("# bash completion for weir. Load with: source <(weir completion bash)\n", f);
    const char *w = d->zsh ? "words" : "COMP_WORDS";
    fprintf(f,
            "_weir_names() {\n"
            "    local i conn=()\n"
            "    for ((i = %d; i < %s - 1; i++)); do\n"
            "        case ${%s[i]} in\n"
            "        -b | --brokers | -X | --profile) conn+=(\"${%s[i]}\" \"${%s[i + 1]}\") ;;\n"
            "        esac\n"
            "    done\n"
            "    weir \"${conn[@]}\" --timeout 2s \"$1\" list -q 2>/dev/null\n"
            "}\n"
            "_weir() {\n"
            "    local cur=${%s[%s]} prev=${%s[%s - 1]}\n"
            "    local i cmd='' sub=''\n"
            "    for ((i = %d; i < %s; i++)); do\n"
            "        case ${%s[i]} in\n"
            "        -b | --brokers | -X | -o | --output | --timeout | --profile) ((i++)) ;;\n"
            "        -*) ;;\n"
            "        *) if [[ -z $cmd ]]; then cmd=${%s[i]}\n"
            "           elif [[ -z $sub ]]; then sub=${%s[i]}; fi ;;\n"
            "        esac\n"
            "    done\n",
            d->zsh ? 2 : 1, d->zsh ? "CURRENT" : "${#COMP_WORDS[@]}", w, w, w, w,
            d->zsh ? "CURRENT" : "COMP_CWORD", w, d->zsh ? "CURRENT" : "COMP_CWORD", d->zsh ? 2 : 1,
            d->zsh ? "CURRENT" : "COMP_CWORD", w, w, w);
}

static void sh_values(FILE *f, const dialect_t *d)
{
    fputs("    case $prev in\n", f);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(value_table); i++) {
        fputs("    ", f);
        alternatives(f, value_table[i].flags);
        fputs(") ", f);
        offer_words(f, d, value_table[i].values);
        fputs("; return ;;\n", f);
    }
    fputs("    -t | --topics) ", f);
    offer_names(f, d, "topic");
    fputs("; return ;;\n    -p) [[ $cmd/$sub != topic/describe ]] && return ;;\n    ", f);
    alternatives(f, FREE_VALUE_FLAGS);
    fputs(") return ;;\n    esac\n", f);
}

static void sh_flags(FILE *f, const dialect_t *d)
{
    fputs("    local flags=''\n    case \"$cmd $sub\" in\n", f);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(flag_table); i++) {
        bool family_only = !strchr(flag_table[i].cmd, ' ');
        fprintf(f, "    \"%s%s\"%s) flags='%s' ;;\n", flag_table[i].cmd, family_only ? " " : "",
                family_only ? "*" : "", flag_table[i].flags);
    }
    fputs("    esac\n    if [[ $cur == -* ]]; then\n        ", f);
    if (d->zsh)
        fputs("compadd -- ${=flags} " GLOBAL_FLAGS, f);
    else
        fputs("COMPREPLY=($(compgen -W \"$flags " GLOBAL_FLAGS "\" -- \"$cur\"))", f);
    fputs("; return\n    fi\n", f);
}

static void sh_words(FILE *f, const dialect_t *d)
{
    fputs("    case $cmd in\n    '') ", f);
    char all[512] = "";
    for (size_t i = 0; i < WEIR_ARRAY_LEN(families); i++)
        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", i ? " " : "",
                 families[i].family);
    offer_words(f, d, all);
    fputs(" ;;\n", f);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(families); i++) {
        const comp_family_t *fa = &families[i];
        if (!fa->subs && !fa->names)
            continue;
        fprintf(f, "    %s) if ", fa->family);
        if (fa->subs) {
            fputs("[[ -z $sub ]]; then ", f);
            offer_words(f, d, fa->subs);
        }
        for (const char *t = fa->topic_subs; t && *t;) { /* "a b": one branch each */
            size_t n = strcspn(t, " ");
            fprintf(f, "\n        elif [[ $sub == %.*s ]]; then ", (int)n, t);
            offer_names(f, d, "topic");
            t += n + (t[n] == ' ');
        }
        if (fa->names) {
            fputs(fa->subs ? "\n        elif " : "", f);
            fputs("[[ $sub != create && $sub != list ]]; then ", f);
            offer_names(f, d, fa->names);
        }
        fputs("; fi ;;\n", f);
    }
    fputs("    help) ", f);
    offer_words(
        f, d, "topic produce consume group cluster schema user acl txn profile completion version");
    fputs(" ;;\n    esac\n}\n", f);
    fputs(d->zsh ? "compdef _weir weir\n" : "complete -F _weir weir\n", f);
}

static void sh_script(FILE *f, bool zsh)
{
    dialect_t d = {zsh};
    sh_prologue(f, &d);
    sh_values(f, &d);
    sh_flags(f, &d);
    sh_words(f, &d);
}

/* ---- fish ----------------------------------------------------------------------------------- */

static const char fish_prologue[] =
    "# fish completion for weir. Load with: weir completion fish | source\n"
    "function __weir_words --description 'the command words typed so far'\n"
    "    set -l skip 0\n"
    "    for t in (commandline -opc)[2..-1]\n"
    "        if test $skip = 1\n"
    "            set skip 0\n"
    "            continue\n"
    "        end\n"
    "        switch $t\n"
    "            case -b --brokers -X -o --output --timeout --profile\n"
    "                set skip 1\n"
    "            case '-*'\n"
    "            case '*'\n"
    "                echo $t\n"
    "        end\n"
    "    end\n"
    "end\n"
    "function __weir_is --description 'the command words start with these, and N more'\n"
    "    set -l w (__weir_words)\n"
    "    set -l more $argv[1]\n"
    "    set -e argv[1]\n"
    "    test (count $w) -eq (math (count $argv) + $more); or return 1\n"
    "    for i in (seq (count $argv))\n"
    "        test \"$w[$i]\" = \"$argv[$i]\"; or return 1\n"
    "    end\n"
    "end\n"
    "function __weir_at --description 'the command words start with these'\n"
    "    set -l w (__weir_words)\n"
    "    test (count $w) -ge (count $argv); or return 1\n"
    "    for i in (seq (count $argv))\n"
    "        test \"$w[$i]\" = \"$argv[$i]\"; or return 1\n"
    "    end\n"
    "end\n"
    "function __weir_names\n"
    "    weir --timeout 2s $argv[1] list -q 2>/dev/null\n"
    "end\n"
    "complete -c weir -f\n";

/* The values a flag takes (value_table), or NULL. */
static const char *flag_values(const char *flag)
{
    for (size_t i = 0; i < WEIR_ARRAY_LEN(value_table); i++) {
        const char *p = strstr(value_table[i].flags, flag);
        size_t n = strlen(flag);
        if (p && (p == value_table[i].flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return value_table[i].values;
    }
    return NULL;
}

static bool flag_free(const char *flag)
{
    static const char free_flags[] = FREE_VALUE_FLAGS;
    const char *p = strstr(free_flags, flag);
    size_t n = strlen(flag);
    return p && (p == free_flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0');
}

/* One `complete` line per flag of a space-separated list, under a condition (NULL: always).
 * With topics, -t / --topics take topic names (group seek). */
static void fish_flags(FILE *f, const char *cond, const char *flags, bool topics)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", flags);
    char *save = NULL;
    for (char *fl = strtok_r(buf, " ", &save); fl; fl = strtok_r(NULL, " ", &save)) {
        fputs("complete -c weir", f);
        if (cond)
            fprintf(f, " -n '%s'", cond);
        fprintf(f, fl[1] == '-' ? " -l %s" : " -s %s", fl + (fl[1] == '-' ? 2 : 1));
        const char *v = flag_values(fl);
        if (topics && (strcmp(fl, "-t") == 0 || strcmp(fl, "--topics") == 0))
            fputs(" -x -a '(__weir_names topic)'", f);
        else if (v)
            fprintf(f, " -x -a '%s'", v);
        else if (flag_free(fl) || strcmp(fl, "-p") == 0)
            fputs(" -r", f);
        fputc('\n', f);
    }
}

static void fish_script(FILE *f)
{
    fputs(fish_prologue, f);
    fputs("complete -c weir -n '__weir_is 0' -a '", f);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(families); i++)
        fprintf(f, "%s%s", i ? " " : "", families[i].family);
    fputs("'\n", f);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(families); i++) {
        const comp_family_t *fa = &families[i];
        if (fa->subs)
            fprintf(f, "complete -c weir -n '__weir_is 0 %s' -a '%s'\n", fa->family, fa->subs);
        for (const char *t = fa->topic_subs; t && *t;) {
            size_t n = strcspn(t, " ");
            fprintf(f, "complete -c weir -n '__weir_at %s %.*s' -a '(__weir_names topic)'\n",
                    fa->family, (int)n, t);
            t += n + (t[n] == ' ');
        }
        if (fa->names) {
            fprintf(f, "complete -c weir -n '__weir_at %s; and not __weir_is 0 %s", fa->family,
                    fa->subs ? fa->family : "__none__");
            for (const char *t = fa->topic_subs; t && *t;) {
                size_t n = strcspn(t, " ");
                fprintf(f, "; and not __weir_at %s %.*s", fa->family, (int)n, t);
                t += n + (t[n] == ' ');
            }
            fprintf(f, "' -a '(__weir_names %s)'\n", fa->names);
        }
    }
    fputs("complete -c weir -n '__weir_is 0 help' -a 'topic produce consume group cluster schema "
          "user acl txn profile completion version'\n",
          f);
    for (size_t i = 0; i < WEIR_ARRAY_LEN(flag_table); i++) {
        char cond[96];
        snprintf(cond, sizeof(cond), "__weir_at %s", flag_table[i].cmd);
        fish_flags(f, cond, flag_table[i].flags, strcmp(flag_table[i].cmd, "group seek") == 0);
    }
    fish_flags(f, NULL, GLOBAL_FLAGS, false);
}

static int completion_print(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_none(&a);
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    if (strcmp(argv[0], "fish") == 0)
        fish_script(stdout);
    else
        sh_script(stdout, strcmp(argv[0], "zsh") == 0);
    return CLI_OK;
}

int cli_completion_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {
        {"bash", completion_print}, {"zsh", completion_print}, {"fish", completion_print}};
    return cli_dispatch(g, "completion", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
