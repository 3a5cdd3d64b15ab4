#!/usr/bin/env bash
# `weir acl create|list|delete` against a broker with the authorizer on, a PLAINTEXT listener
# (where the command talks; User:ANONYMOUS is the super user) and a SASL_PLAINTEXT one, checked
# with kcat (Debian's librdkafka) producing as alice and bob over SCRAM-SHA-256: exact exit
# codes, tables, JSON, error lines; the ACLs survive a restart.
. "$(dirname "$0")/cli_helpers.bash"

mkdir -p "$work/data"
start() {
    rm -f "$work/broker.out" # a restart must not read the previous broker's lines (see cli_helpers)
    "$WEIR" serve --data-dir "$work/data" --http-listen off \
        --set "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0" \
        --set "sasl.enabled.mechanisms=SCRAM-SHA-256" \
        --set "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" \
        --set "super.users=User:ANONYMOUS" >"$work/broker.out" 2>>"$work/broker.err" &
    broker_pid=$!
    for _ in $(seq 100); do
        grep -q '^listener SASL_PLAINTEXT' "$work/broker.out" 2>/dev/null && break
        sleep 0.1
    done
    PLAIN=$(sed -n 's|^listener PLAINTEXT://||p' "$work/broker.out")
    SASL=$(sed -n 's|^listener SASL_PLAINTEXT://||p' "$work/broker.out")
    if [[ -z $PLAIN || -z $SASL ]]; then
        echo "not ok 1 - broker did not start"
        sed 's/^/    # /' "$work/broker.err" | tail -20
        exit 1
    fi
    export WEIR_BROKERS=$PLAIN
}
start

produce_as() { # user topic: kcat -P of one record over SASL_PLAINTEXT
    echo "v" | timeout 20 kcat -P -b "$SASL" -t "$2" -X security.protocol=sasl_plaintext \
        -X sasl.mechanisms=SCRAM-SHA-256 -X "sasl.username=$1" -X "sasl.password=$1-pw" \
        >"$work/kcat.out" 2>&1
}

"$WEIR" user create alice --password alice-pw >/dev/null
"$WEIR" user create bob --password bob-pw >/dev/null
"$WEIR" topic create orders-eu >/dev/null
"$WEIR" topic create payments >/dev/null

expect_rc "acl create prefixed write+describe for alice" 0 "$WEIR" acl create \
    --allow-principal User:alice --operation write --operation describe --topic orders \
    --resource-pattern-type prefixed
check "  prints what it did" grep -qx 'created 2 ACL(s)' "$work/out"
expect_rc "acl create deny bob on two resources" 0 "$WEIR" acl create \
    --deny-principal User:bob --operation all --topic payments --group g1 --host 10.0.0.1
check "  two ACLs" grep -qx 'created 2 ACL(s)' "$work/out"
expect_rc "acl list" 0 "$WEIR" acl list
check "  the table" diff <(printf '%s\n' \
    'PRINCIPAL   HOST      RESOURCE-TYPE  RESOURCE-NAME  PATTERN   OPERATION  PERMISSION' \
    'User:alice  *         topic          orders         prefixed  write      allow' \
    'User:alice  *         topic          orders         prefixed  describe   allow' \
    'User:bob    10.0.0.1  topic          payments       literal   all        deny' \
    'User:bob    10.0.0.1  group          g1             literal   all        deny') "$work/out"
expect_rc "acl list --topic orders-eu --resource-pattern-type match -o json" 0 "$WEIR" acl list \
    --topic orders-eu --resource-pattern-type match -o json
jcheck "  the prefixed ACLs that apply to orders-eu" \
    'sorted(x["operation"] for x in d) == ["describe", "write"] and all(x["pattern"] == "prefixed" for x in d)'

check "alice writes orders-eu (prefixed ACL)" produce_as alice orders-eu
if produce_as alice payments; then not_ok "alice cannot write payments"; else
    ok "alice cannot write payments"; fi
check "  kcat saw TOPIC_AUTHORIZATION_FAILED" grep -q "Topic authorization failed" "$work/kcat.out"

expect_rc "bad principal: exit 2" 2 "$WEIR" acl create --allow-principal alice \
    --operation read --topic t
check "  says why" grep -qx "weir acl create: a principal is Type:name (User:alice), not 'alice' (see 'weir help acl create')" "$work/err"
expect_rc "bad operation: exit 2" 2 "$WEIR" acl create --allow-principal User:a \
    --operation frob --topic t
expect_rc "create without a resource: exit 2" 2 "$WEIR" acl create --allow-principal User:a \
    --operation read
expect_rc "create --resource-pattern-type match: exit 2" 2 "$WEIR" acl create \
    --allow-principal User:a --operation read --topic t --resource-pattern-type match
expect_rc "delete without a filter: exit 2" 2 "$WEIR" acl delete
expect_rc "--dry-run acl create" 0 "$WEIR" --dry-run acl create --allow-principal User:a \
    --operation read --topic t --topic u
check "  says what it would do" grep -qx 'would create 2 ACL(s) (dry run)' "$work/out"

kill "$broker_pid"
wait "$broker_pid" 2>/dev/null
start
expect_rc "after a restart: acl list --allow-principal User:alice" 0 "$WEIR" acl list \
    --allow-principal User:alice -o json
jcheck "  alice's two ACLs are back" 'len(d) == 2'

expect_rc "acl delete --deny-principal User:bob" 0 "$WEIR" acl delete --deny-principal User:bob
check "  deleted 2" grep -qx 'deleted 2 ACL(s)' "$work/out"
expect_rc "acl list after the delete" 0 "$WEIR" acl list -o json
jcheck "  only alice's left" 'len(d) == 2 and {x["principal"] for x in d} == {"User:alice"}'

expect_rc "acl list from the SASL listener as nobody (no SASL in the CLI): exit 1" 1 "$WEIR" \
    -b "$SASL" acl list
kill "$broker_pid"
wait "$broker_pid" 2>/dev/null
cli_finish
