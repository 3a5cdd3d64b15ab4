#!/usr/bin/env bash
# Exit codes and error lines of every `weir` client command: usage errors (2), a broker that
# refuses connections and one that accepts but never answers (1, one clear stderr line, bounded
# time), and the connection settings (-b, WEIR_BROKERS, -X).
. "$(dirname "$0")/cli_helpers.bash"

# ---- usage errors: exit 2, one line ---------------------------------------------------------
expect_rc "unknown command" 2 "$WEIR" frobnicate
expect_rc "unknown subcommand" 2 "$WEIR" topic frobnicate
expect_rc "missing subcommand" 2 "$WEIR" group
expect_rc "unknown flag" 2 "$WEIR" topic list --bogus
expect_rc "unknown short flag" 2 "$WEIR" consume t -Q
expect_rc "flag without its value" 2 "$WEIR" consume t -o
expect_rc "-o yaml" 2 "$WEIR" -o yaml topic list
expect_rc "-X without =" 2 "$WEIR" -X nothing topic list
expect_rc "--timeout without a unit" 2 "$WEIR" --timeout 10 topic list
check "  ... the line names the command and the help" grep -q "^weir: --timeout .*(see 'weir help')" \
    "$work/err"
run "$WEIR"
check "no command: exit 2 and the overview on stderr" test "$rc" == 2 -a -s "$work/err"

# ---- a broker that refuses connections: exit 1 fast, for every command -------------------------
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
down=127.0.0.1:$port
cmds=("topic list" "topic create x" "topic describe x" "topic delete x --yes"
    "topic alter-config x --set a=b" "topic add-partitions x -n 1" "topic trim x --before 1 --yes"
    "consume x -e" "consume x -g g" "group list" "group describe g" "group seek g --to start"
    "group delete g --yes" "cluster info")
for c in "${cmds[@]}"; do
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    expect_rc "broker down: weir $c" 1 "$WEIR" -b "$down" $c
    ms=$((($(date +%s%N) - t0) / 1000000))
    if grep -q "cannot connect to $down: Connection refused" "$work/err" && ((ms < 5000)); then
        ok "  ... says 'cannot connect to $down: Connection refused' in $ms ms"
    else
        not_ok "  ... says why, in under 5 s" "$ms ms: $(cat "$work/err")"
    fi
done
expect_rc "broker down: produce" 1 bash -c "echo x | '$WEIR' -b $down produce x"
check "  ... says cannot connect" grep -q "cannot connect to $down" "$work/err"

# WEIR_BROKERS is used when -b is not given; -b wins over it.
expect_rc "WEIR_BROKERS is the default" 1 env WEIR_BROKERS="$down" "$WEIR" topic list
check "  ... it was tried" grep -q "$down" "$work/err"
expect_rc "-b wins over WEIR_BROKERS" 1 env WEIR_BROKERS=127.0.0.1:1 "$WEIR" topic list -b "$down"
check "  ... -b was tried" grep -q "$down" "$work/err"

# ---- a broker that accepts but never answers: --timeout bounds the wait ------------------------
$PY - >"$work/mute.port" <<'EOF' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
conns = []
t = time.time()
while time.time() - t < 60:
    c, _ = s.accept(); conns.append(c)
EOF
mute_pid=$!
for _ in $(seq 50); do [[ -s $work/mute.port ]] && break; sleep 0.1; done
mute=127.0.0.1:$(cat "$work/mute.port")
t0=$(date +%s%N)
expect_rc "a mute broker: exit 1" 1 "$WEIR" -b "$mute" --timeout 1500ms topic list
ms=$((($(date +%s%N) - t0) / 1000000))
check "  ... after --timeout 1500ms, not much later ($ms ms)" test $ms -ge 1400 -a $ms -lt 4000
check "  ... says no answer" grep -q "no answer from $mute within 1500 ms" "$work/err"
kill $mute_pid 2>/dev/null
wait $mute_pid 2>/dev/null

# ---- a broker that does not create topics on first use -------------------------------------
cli_start_broker --set auto.create.topics.enable=false
expect_rc "produce to a topic the broker does not create: exit 3" 3 bash -c \
    "echo x | '$WEIR' produce never-created"
check "  ... says so" grep -q "topic 'never-created' not found" "$work/err"

# ---- -X reaches librdkafka ------------------------------------------------------------------
expect_rc "-X with an unknown setting: exit 2" 2 "$WEIR" -X no.such.setting=1 topic list
check "  ... librdkafka's reason" grep -q 'No such configuration property' "$work/err"
expect_rc "-X with a bad value: exit 2" 2 "$WEIR" -X socket.timeout.ms=abc topic list
expect_rc "-X client.id=... is applied" 0 "$WEIR" -X client.id=from-x -X debug=broker -v topic list
check "  ... librdkafka logged with it" grep -q 'from-x' "$work/err"
expect_rc "-X security.protocol=ssl against a plain listener fails (exit 1)" 1 "$WEIR" \
    -X security.protocol=ssl --timeout 2s topic list

cli_finish
