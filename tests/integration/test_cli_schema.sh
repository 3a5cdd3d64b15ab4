#!/usr/bin/env bash
# `weir schema` against the registry (the test server until `weir serve` carries it): register,
# list, get, check (exit 0 compatible, 4 incompatible with the broken rule on stderr), compat,
# mode, config, delete, and the errors (unknown subject exit 3, registry down exit 1, bad flags
# exit 2).
. "$(dirname "$0")/cli_helpers.bash"
server=${WEIR_BUILD:-$top/build}/tests/integration/registry_server
"$server" --store "$work/store" >"$work/server.out" 2>"$work/server.err" &
broker_pid=$!
for _ in $(seq 50); do
    grep -q '^http on ' "$work/server.out" 2>/dev/null && break
    sleep 0.1
done
export WEIR_REGISTRY="http://$(sed -n 's/^http on //p' "$work/server.out")"
cd "$work" || exit 1
cat >order.avsc <<'AVSC'
{"type": "record", "name": "Order", "namespace": "shop",
 "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "long"}]}
AVSC
cat >order-v2.avsc <<'AVSC'
{"type": "record", "name": "Order", "namespace": "shop",
 "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "long"},
            {"name": "channel", "type": "string", "default": "web"}]}
AVSC
cat >order-bad.avsc <<'AVSC'
{"type": "record", "name": "Order", "namespace": "shop",
 "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "int"}]}
AVSC
cat >sensor.proto <<'PROTO'
syntax = "proto3";
package iot;
message Reading { string device = 1; double celsius = 2; }
PROTO

expect_rc "register --dry-run: checks, registers nothing" 0 "$WEIR" schema register orders-value \
    order.avsc --dry-run
expect_rc "  ... the subject is not there" 3 "$WEIR" schema get orders-value
run "$WEIR" schema register orders-value order.avsc
check "register prints the id" test "$rc" == 0 -a "$(cat "$work/out")" == 1
run "$WEIR" schema register orders-value order-bad.avsc --dry-run
check "register an incompatible schema --dry-run: exit 4, the rules on stderr" test "$rc" == 4 \
    -a "$(grep -c TYPE_MISMATCH "$work/err")" -ge 1
expect_rc "compat FULL --dry-run" 0 "$WEIR" schema compat orders-value FULL --dry-run
check "  ... says the change" grep -q "BACKWARD -> FULL (dry run)" "$work/out"
expect_rc "delete --dry-run" 0 "$WEIR" schema delete orders-value --dry-run
expect_rc "  ... nothing changed: level and subject as before" 0 "$WEIR" schema compat orders-value
check "  ... BACKWARD" test "$(cat "$work/out")" == BACKWARD
expect_rc "  ... the subject still there" 0 "$WEIR" schema get orders-value
run "$WEIR" schema register orders-value order.avsc
check "registering again: the same id" test "$rc" == 0 -a "$(cat "$work/out")" == 1
run "$WEIR" schema register sensors-value sensor.proto
check "a .proto file registers as PROTOBUF" test "$rc" == 0 -a "$(cat "$work/out")" == 2
run "$WEIR" schema check order-v2.avsc --subject orders-value
check "check: a compatible change exits 0" test "$rc" == 0
check "  ... and says so" grep -q '^compatible: order-v2.avsc may be registered under orders-value$' \
    "$work/out"
run "$WEIR" schema check order-bad.avsc --subject orders-value
check "check: an incompatible change exits 4" test "$rc" == 4
check "  ... naming the broken rule" grep -q "errorType:'TYPE_MISMATCH'" "$work/err"
run "$WEIR" schema check order.avsc --subject new-subject
check "check against a subject with no versions: compatible" test "$rc" == 0
run "$WEIR" schema register orders-value order-bad.avsc
check "register of an incompatible schema: exit 1 with the registry's message" \
    test "$rc" == 1 -a "$(wc -l <"$work/err")" == 1
check "  ... which is Confluent's 409" grep -q 'incompatible with an earlier schema.*(error 409)' \
    "$work/err"
run "$WEIR" schema list
cat >"$work/want" <<'TXT'
SUBJECT        VERSION  ID  TYPE
orders-value   1        1   AVRO
sensors-value  1        2   PROTOBUF
TXT
check "list: a table of subjects" diff "$work/want" "$work/out"
run "$WEIR" schema list -o json
check "list -o json" test "$(jq -c . "$work/out")" == \
    '[{"subject":"orders-value","version":1,"id":1,"type":"AVRO"},{"subject":"sensors-value","version":1,"id":2,"type":"PROTOBUF"}]'
run "$WEIR" schema get orders-value
check "get prints the stored schema" test "$(cat "$work/out")" == \
    '{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"cents","type":"long"}]}'
run "$WEIR" schema get --id 2 -o json
check "get --id -o json: the registry's answer" test "$(jq -r .schemaType "$work/out")" == PROTOBUF
expect_rc "get of an unknown subject: exit 3" 3 "$WEIR" schema get nosuch
check "  ... with Confluent's message" grep -q "Subject 'nosuch' not found. (error 40401)" \
    "$work/err"
run "$WEIR" schema compat
check "compat: the global level" test "$(cat "$work/out")" == BACKWARD
run "$WEIR" schema compat orders-value FULL
check "compat SUBJECT LEVEL sets it" test "$rc" == 0 -a "$(cat "$work/out")" == FULL
run "$WEIR" schema config orders-value
check "config: level and mode that apply" test "$(tr -s ' ' <"$work/out")" == \
    "$(printf 'compatibility FULL\nmode READWRITE')"
run "$WEIR" schema compat orders-value SIDEWAYS
check "compat with a bad level: exit 1, Confluent's 42203" grep -q '(error 42203)' "$work/err"
run "$WEIR" schema mode --global READONLY
check "mode --global READONLY" test "$(cat "$work/out")" == READONLY
run "$WEIR" schema register orders-value order-v2.avsc
check "registering in READONLY: refused (42205)" grep -q '(error 42205)' "$work/err"
run "$WEIR" schema mode --global READWRITE
run "$WEIR" schema register orders-value order-v2.avsc
check "registering after READWRITE again" test "$rc" == 0 -a "$(cat "$work/out")" == 3
expect_rc "delete without --yes and no terminal: exit 2" 2 "$WEIR" schema delete orders-value
run "$WEIR" schema delete orders-value --version 1 --yes
check "delete one version" test "$rc" == 0 -a "$(cat "$work/out")" == "deleted orders-value version 1"
run "$WEIR" schema delete orders-value --yes
check "delete a subject (soft)" test "$(cat "$work/out")" == "deleted orders-value versions [2]"
run "$WEIR" schema delete orders-value --permanent --yes
check "delete a subject (permanent)" test "$(cat "$work/out")" == \
    "deleted orders-value versions [1,2]"
expect_rc "a bad flag: exit 2" 2 "$WEIR" schema list --nope
expect_rc "check without --subject: exit 2" 2 "$WEIR" schema check order.avsc
WEIR_REGISTRY=http://127.0.0.1:1 run "$WEIR" schema list
check "registry down: exit 1, one line" test "$rc" == 1 -a "$(wc -l <"$work/err")" == 1
kill -TERM "$broker_pid"
wait "$broker_pid"
src=$?
broker_pid=
check "the server stopped cleanly (no sanitizer report)" test "$src" == 0
[[ $src == 0 ]] || sed 's/^/    # /' "$work/server.err" | tail -20
cli_finish
