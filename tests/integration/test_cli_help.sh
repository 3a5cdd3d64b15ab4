#!/usr/bin/env bash
# `weir help`, --help on every command, `weir version` and `weir completion bash`: every page
# exists with examples and fits 100 columns; the completion script is valid bash, completes
# commands, subcommands, flags and (asking the broker) topic and group names, and every flag it
# offers is one the command accepts.
. "$(dirname "$0")/cli_helpers.bash"
cli_start_broker

pages=("topic" "topic create" "topic list" "topic describe" "topic delete" "topic alter-config"
    "topic add-partitions" "topic trim" "produce" "consume" "group" "group list"
    "group describe" "group seek" "group delete" "cluster" "cluster info" "cluster health"
    "cluster logdirs" "cluster config" "profile" "profile list" "completion" "completion bash"
    "completion zsh" "completion fish" "schema" "schema list" "schema get" "schema register" "schema delete"
    "schema check" "schema compat" "schema config" "schema mode" "user" "user create" "user passwd"
    "user delete" "user list" "txn" "txn list" "txn describe" "txn producers" "txn find-hanging"
    "txn abort" "topic export" "topic import" "dlq" "dlq list" "dlq show" "dlq redrive" "saga"
    "saga list" "saga show" "quota" "quota alter" "quota describe")
for p in "${pages[@]}"; do
    # shellcheck disable=SC2086
    run "$WEIR" help $p
    if [[ $rc == 0 ]] && grep -q '^Examples:' "$work/out" && grep -q '^usage: weir' "$work/out" &&
        awk 'length($0) > 100 {exit 1}' "$work/out"; then
        ok "weir help $p: usage, examples, <= 100 columns"
    else
        not_ok "weir help $p" "rc $rc" "$(head -5 "$work/out")" "$(cat "$work/err")"
    fi
    cp "$work/out" "$work/help.txt"
    # shellcheck disable=SC2086
    run "$WEIR" $p --help
    check "  weir $p --help prints the same page" cmp "$work/out" "$work/help.txt"
done
run "$WEIR" help
check "weir help: the overview, exit 0" test "$rc" == 0 -a "$(grep -c '^  [a-z]' "$work/out")" -ge 10
run "$WEIR" --help
check "weir --help: the same" test "$rc" == 0 -a -s "$work/out"
run "$WEIR" group -h
check "weir group -h: the group page" grep -q '^usage: weir group' "$work/out"
run "$WEIR" consume orders --from start -h
check "weir consume ... -h among other flags: the consume page" grep -q '^usage: weir consume' \
    "$work/out"
expect_rc "weir help nope: exit 2" 2 "$WEIR" help nope
expect_rc "weir help topic nope: exit 2" 2 "$WEIR" help topic nope
expect_rc "weir version" 0 "$WEIR" version
check "  ... weir and librdkafka versions" grep -Eq '^weir [0-9.]+ \(librdkafka [0-9.]+\)$' \
    "$work/out"
expect_rc "weir version -o json" 0 "$WEIR" -o json version
jcheck "  ... fields" 'set(d) == {"version", "librdkafka"}'

# ---- completion -----------------------------------------------------------------------------
expect_rc "weir completion bash" 0 "$WEIR" completion bash
cp "$work/out" "$work/completion.bash"
check "  ... is valid bash" bash -n "$work/completion.bash"
"$WEIR" topic create orders >/dev/null
"$WEIR" topic create payments >/dev/null
echo y | "$WEIR" produce orders
"$WEIR" consume orders -g billing -n 1 >/dev/null

# complete WORDS...: what bash completion offers for the last word (PATH has weir first).
mkdir -p "$work/bin"
ln -sf "$WEIR" "$work/bin/weir"
complete_words() {
    PATH="$work/bin:$PATH" bash -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _weir; printf "%s\n" "${COMPREPLY[@]}" | sort | xargs' _ "$work/completion.bash" "$@"
}
for c in "weir t|topic txn" "weir topic de|delete describe" "weir topic describe |orders payments" \
    "weir consume p|payments" "weir group |delete describe list seek" \
    "weir group describe |billing" "weir cluster |config health info logdirs" \
    "weir -o |json table" "weir consume orders --end|--end-offset --end-time" \
    "weir completion |bash fish zsh" "weir --pro|--profile" \
    "weir produce orders --acks |0 1 all" "weir consume orders --gr|--group" \
    "weir produce orders -z |gzip lz4 none snappy zstd" "weir group seek billing --ex|--execute" \
    "weir txn |abort describe find-hanging list producers" "weir txn producers o|orders" \
    "weir txn list --state On|Ongoing" "weir txn abort --start|--start-offset" \
    "weir user |create delete list passwd" "weir user create alice --mech|--mechanism" \
    "weir user passwd alice --mechanism |SCRAM-SHA-256 SCRAM-SHA-512"; do
    words=${c%%|*}
    want=${c#*|}
    read -ra arr <<<"$words"
    [[ $words == *' ' ]] && arr+=("") # completing an empty word
    got=$(complete_words "${arr[@]}")
    if [[ $got == "$want" ]]; then
        ok "completion of '$words': $want"
    else
        not_ok "completion of '$words'" "got '$got', want '$want'"
    fi
done

# Every flag completion offers is accepted by its command (with a plausible value).
value_for() { # flag command
    case $1 in
    -c | --config | -s | --set | -H | --header | -X) echo a=b ;;
    -z | --compression) echo lz4 ;;
    --timeout) echo 1s ;;
    -o | --output) echo json ;;
    --from | --end-offset) echo start ;;
    --end-time) echo -1h ;;
    --to) echo start ;;
    --state) echo Ongoing ;;
    --mechanism) echo SCRAM-SHA-256 ;;
    --iterations) echo 4096 ;;
    --name) echo user=alice ;;
    --add) echo producer_byte_rate=1024 ;;
    --default | --any) echo client-id ;;
    -f | --format) echo '%v' ;;
    *) echo 1 ;;
    esac
}
takes_value() { # flag command
    case $1 in
    --if-not-exists | --internal | -q | --quiet | -y | --yes | -e | --exit | --execute | -v | \
        --verbose | -h | --help | --dry-run | --dynamic | --decode | --strict) return 1 ;;
    -p | --partitions) [[ $2 == "topic describe" ]] && return 1 || return 0 ;;
    esac
    return 0
}
bad=()
for cmd in "topic create" "topic list" "topic describe" "topic delete" "topic alter-config" \
    "topic add-partitions" "topic trim" "produce" "consume" "group list" "group describe" \
    "group seek" "group delete" "cluster info" "cluster health" "cluster logdirs" \
    "cluster config set" "profile list" "txn list" "txn describe" "txn producers" \
    "txn find-hanging" "txn abort" "user create" "user passwd" "user delete" "user list" \
    "quota alter" "quota describe"; do
    # shellcheck disable=SC2086
    flags=$(complete_words weir $cmd x -)
    for f in $flags; do
        args=("$f")
        takes_value "$f" "$cmd" && args+=("$(value_for "$f" "$cmd")")
        # shellcheck disable=SC2086
        if ! "$WEIR" $cmd x "${args[@]}" --help >/dev/null 2>"$work/flag.err"; then
            bad+=("$cmd ${args[*]}: $(cat "$work/flag.err")")
        fi
    done
done
if ((${#bad[@]} == 0)); then
    ok "every flag offered by completion is accepted"
else
    not_ok "every flag offered by completion is accepted" "${bad[@]}"
fi

# zsh and fish: the same table, so the scripts parse, and fish (which can be asked) offers the
# same words as bash.
expect_rc "weir completion zsh" 0 "$WEIR" completion zsh
check "  ... is valid zsh" zsh -n "$work/out"
expect_rc "weir completion fish" 0 "$WEIR" completion fish
cp "$work/out" "$work/completion.fish"
check "  ... is valid fish" fish -n "$work/completion.fish"
fish_words() { # a command line: what fish offers for its last word
    PATH="$work/bin:$PATH" fish -c "source $work/completion.fish; complete -C '$1'" |
        cut -f1 | sort | xargs
}
for c in "weir cluster |config health info logdirs" "weir topic describe |orders payments" \
    "weir produce orders --acks |0 1 all" "weir group seek billing --ex|--execute" \
    "weir user |create delete list passwd" \
    "weir user create alice --mechanism |SCRAM-SHA-256 SCRAM-SHA-512"; do
    got=$(fish_words "${c%%|*}")
    if [[ $got == "${c#*|}" ]]; then
        ok "fish completion of '${c%%|*}': ${c#*|}"
    else
        not_ok "fish completion of '${c%%|*}'" "got '$got', want '${c#*|}'"
    fi
done

cli_finish
