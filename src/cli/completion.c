/*
 * `weir completion bash`: prints a bash completion script. It completes commands,
 * subcommands and flags from a table kept here, and topic, group and transactional-id names by
 * asking the broker (`weir topic list -q`, `weir group list -q`, `weir txn list -q`, with the
 * -b / -X flags already typed and a short timeout, so a broker that is down only means no names).
 *
 * Invariant: the command and flag lists mirror the parsers in cmd_topic.c, cmd_produce.c,
 * cmd_consume.c, cmd_group.c, cmd_cluster.c and cmd_txn.c (test_cli_help.sh checks each
 * completed flag is accepted).
 */
#include "cli/cli.h"

static const char script[] =
    "# bash completion for weir. Load with: source <(weir completion bash)\n"
    "_weir_names() {\n"
    "    local i conn=()\n"
    "    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do\n"
    "        case ${COMP_WORDS[i]} in\n"
    "        -b | --brokers | -X) conn+=(\"${COMP_WORDS[i]}\" \"${COMP_WORDS[i + 1]}\") ;;\n"
    "        esac\n"
    "    done\n"
    "    weir \"${conn[@]}\" --timeout 2s \"$1\" list -q 2>/dev/null\n"
    "}\n"
    "_weir() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
    "    local i cmd='' sub='' words=()\n"
    "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "        case ${COMP_WORDS[i]} in\n"
    "        -b | --brokers | -X | -o | --output | --timeout) ((i++)) ;;\n"
    "        -*) ;;\n"
    "        *) if [[ -z $cmd ]]; then cmd=${COMP_WORDS[i]}\n"
    "           elif [[ -z $sub ]]; then sub=${COMP_WORDS[i]}; fi ;;\n"
    "        esac\n"
    "    done\n"
    "    local global='-b --brokers -X -o --output --timeout -v --verbose -h --help'\n"
    "    [[ $cmd == consume ]] && global='-b --brokers -X --timeout -v --verbose -h --help'\n"
    "    case $prev in\n"
    "    -o | --output) [[ $cmd != consume ]] && { COMPREPLY=($(compgen -W 'table json' -- "
    "\"$cur\")); return; } ;;\n"
    "    --acks) COMPREPLY=($(compgen -W '0 1 all' -- \"$cur\")); return ;;\n"
    "    -z | --compression) COMPREPLY=($(compgen -W 'none gzip snappy lz4 zstd' -- \"$cur\")); "
    "return ;;\n"
    "    --to) COMPREPLY=($(compgen -W 'start end -1h -1d' -- \"$cur\")); return ;;\n"
    "    -t | --topics | --topic) COMPREPLY=($(compgen -W \"$(_weir_names topic)\" -- \"$cur\")); "
    "return ;;\n"
    "    --state) COMPREPLY=($(compgen -W 'Empty Ongoing PrepareCommit PrepareAbort CompleteCommit "
    "CompleteAbort PrepareEpochFence' -- \"$cur\")); return ;;\n"
    "    -p) [[ $cmd/$sub != topic/describe ]] && return ;;\n"
    "    -b | --brokers | -X | --timeout | -k | --key | -H | --header | --partition | -f | \\\n"
    "    --format | -n | --num | -c | --config | --set | -s | --delete | -d | --before | -r | \\\n"
    "    --replicas | --partitions | -g | --group | --start-offset | --producer-id | \\\n"
    "    --producer-epoch | --coordinator-epoch | --older-than | --max-timeout) return ;;\n"
    "    esac\n"
    "    if [[ $cmd == consume && ( $prev == -o || $prev == --offset ) ]]; then\n"
    "        COMPREPLY=($(compgen -W 'start end -10 @-1h' -- \"$cur\")); return\n"
    "    fi\n"
    "    local flags=''\n"
    "    case $cmd/$sub in\n"
    "    topic/create) flags='-p --partitions -r --replicas -c --config --if-not-exists' ;;\n"
    "    topic/list | topic/ls) flags='--internal -q --quiet' ;;\n"
    "    topic/describe) flags='-p --partitions' ;;\n"
    "    topic/delete) flags='-y --yes' ;;\n"
    "    topic/alter-config) flags='-s --set -d --delete' ;;\n"
    "    topic/add-partitions) flags='-n --num' ;;\n"
    "    topic/trim) flags='--before -p --partition -y --yes' ;;\n"
    "    produce/*) flags='-k --key -H --header -p --partition -f --format --acks -z "
    "--compression' ;;\n"
    "    consume/*) flags='-o --offset -n --num -g --group -f --format -e --exit -p --partition "
    "--decode --registry' ;;\n"
    "    group/list | group/ls) flags='-q --quiet' ;;\n"
    "    group/seek) flags='--to -t --topics --execute' ;;\n"
    "    group/delete) flags='-y --yes' ;;\n"
    "    schema/*) flags='--registry --version --id -t --type --ref --normalize --deleted "
    "--prefix --permanent -y --yes -s --subject --delete --force --global' ;;\n"
    "    txn/list | txn/ls) flags='--state --producer-id --older-than -q --quiet' ;;\n"
    "    txn/producers) flags='-p --partition' ;;\n"
    "    txn/find-hanging) flags='-t --topic -p --partition --max-timeout' ;;\n"
    "    txn/abort) flags='-t --topic -p --partition --start-offset --producer-id "
    "--producer-epoch --coordinator-epoch -y --yes' ;;\n"
    "    esac\n"
    "    if [[ $cur == -* ]]; then\n"
    "        COMPREPLY=($(compgen -W \"$flags $global\" -- \"$cur\")); return\n"
    "    fi\n"
    "    case $cmd in\n"
    "    '') COMPREPLY=($(compgen -W 'serve topic produce consume group cluster schema txn "
    "completion help version' -- \"$cur\")) ;;\n"
    "    topic) if [[ -z $sub ]]; then\n"
    "            COMPREPLY=($(compgen -W 'create list describe delete alter-config add-partitions "
    "trim' -- \"$cur\"))\n"
    "        elif [[ $sub != create && $sub != list ]]; then\n"
    "            COMPREPLY=($(compgen -W \"$(_weir_names topic)\" -- \"$cur\"))\n"
    "        fi ;;\n"
    "    produce | consume) COMPREPLY=($(compgen -W \"$(_weir_names topic)\" -- \"$cur\")) ;;\n"
    "    group) if [[ -z $sub ]]; then\n"
    "            COMPREPLY=($(compgen -W 'list describe seek delete' -- \"$cur\"))\n"
    "        elif [[ $sub != list ]]; then\n"
    "            COMPREPLY=($(compgen -W \"$(_weir_names group)\" -- \"$cur\"))\n"
    "        fi ;;\n"
    "    cluster) [[ -z $sub ]] && COMPREPLY=($(compgen -W 'info' -- \"$cur\")) ;;\n"
    "    schema) [[ -z $sub ]] && COMPREPLY=($(compgen -W 'list get register delete check compat "
    "config mode' -- \"$cur\")) ;;\n"
    "    txn) if [[ -z $sub ]]; then\n"
    "            COMPREPLY=($(compgen -W 'list describe producers find-hanging abort' -- "
    "\"$cur\"))\n"
    "        elif [[ $sub == producers ]]; then\n"
    "            COMPREPLY=($(compgen -W \"$(_weir_names topic)\" -- \"$cur\"))\n"
    "        elif [[ $sub == describe ]]; then\n"
    "            COMPREPLY=($(compgen -W \"$(_weir_names txn)\" -- \"$cur\"))\n"
    "        fi ;;\n"
    "    completion) [[ -z $sub ]] && COMPREPLY=($(compgen -W 'bash' -- \"$cur\")) ;;\n"
    "    help) COMPREPLY=($(compgen -W 'topic produce consume group cluster schema txn completion "
    "version' -- \"$cur\")) ;;\n"
    "    esac\n"
    "}\n"
    "complete -F _weir weir\n";

static int completion_bash(cli_global_t *g, int argc, char **argv)
{
    cli_args_t a;
    cli_args_init(&a, g, argc - 1, argv + 1);
    int rc = cli_args_none(&a);
    cli_args_deinit(&a);
    if (rc < 0)
        return cli_help_current(g);
    if (rc != 0)
        return rc;
    fputs(script, stdout);
    return CLI_OK;
}

int cli_completion_main(cli_global_t *g, int argc, char **argv)
{
    static const cli_sub_t subs[] = {{"bash", completion_bash}};
    return cli_dispatch(g, "completion", subs, WEIR_ARRAY_LEN(subs), argc, argv);
}
