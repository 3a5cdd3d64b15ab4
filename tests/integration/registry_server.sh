#!/usr/bin/env bash
# The schema registry test server itself (tests/integration/registry_server, which the other
# registry tests drive): it prints its address, serves, keeps its state in the store across a
# restart, stops cleanly on SIGTERM and SIGINT, and refuses bad flags and unusable stores.
# (The runner runs a .c program as a test unless a script of its name drives it: this one.)
. "$(dirname "$0")/cli_helpers.bash"
server=${WEIR_BUILD:-$top/build}/tests/integration/registry_server

start() {
    "$server" --store "$work/store" "$@" >"$work/server.out" 2>"$work/server.err" &
    broker_pid=$!
    for _ in $(seq 50); do
        grep -q '^http on ' "$work/server.out" 2>/dev/null && break
        sleep 0.1
    done
    url="http://$(sed -n 's/^http on //p' "$work/server.out")"
}

stop() { # signal
    kill "-$1" "$broker_pid"
    wait "$broker_pid"
    stopped=$?
    broker_pid=
}

start
check "prints 'http on HOST:PORT' first" grep -Eq '^http on 127\.0\.0\.1:[0-9]+$' \
    "$work/server.out"
run curl -sf "$url/health"
check "/health answers" test "$rc" == 0 -a "$(cat "$work/out")" == '{"status":"ok"}'
run curl -sf -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    -d '{"schema":"\"string\""}' "$url/subjects/s/versions"
check "registers" test "$(cat "$work/out")" == '{"id":1}'
stop TERM
check "SIGTERM: exit 0" test "$stopped" == 0
start
run curl -sf "$url/subjects/s/versions"
check "after a restart the store gives the state back" test "$(cat "$work/out")" == '[1]'
stop INT
check "SIGINT: exit 0" test "$stopped" == 0
expect_rc "a bad flag: exit 2" 2 "$server" --nope
expect_rc "a store that cannot be opened: exit 1" 1 "$server" --store /nonexistent/dir/store
cli_finish
