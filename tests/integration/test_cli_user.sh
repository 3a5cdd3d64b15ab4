#!/usr/bin/env bash
# `weir user create|passwd|delete|list` against a broker with a PLAINTEXT listener (where the
# command talks) and a SASL_PLAINTEXT one, checked with kcat (Debian's librdkafka) logging in
# with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN: exact exit codes, outputs and error lines.
. "$(dirname "$0")/cli_helpers.bash"

mkdir -p "$work/data"
"$WEIR" serve --data-dir "$work/data" --http-listen off \
    --set "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0" \
    --set "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" \
    >"$work/broker.out" 2>"$work/broker.err" &
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

login() { # mechanism user password: kcat -L over SASL_PLAINTEXT
    timeout 20 kcat -L -m 4 -b "$SASL" -X security.protocol=sasl_plaintext \
        -X "sasl.mechanisms=$1" -X "sasl.username=$2" -X "sasl.password=$3" >"$work/kcat.out" \
        2>&1 && grep -q "broker 1 at $SASL" "$work/kcat.out"
}

expect_rc "user create alice" 0 "$WEIR" user create alice --password pw-one
check "  prints what it did" grep -qx 'created user alice (SCRAM-SHA-256)' "$work/out"
expect_rc "user create alice SCRAM-SHA-512 8192 iterations" 0 "$WEIR" user create alice \
    -p pw-one --mechanism scram-sha-512 --iterations 8192
expect_rc "user create alice again: exit 1" 1 "$WEIR" user create alice --password x
check "  says why" grep -qx 'weir user create: user alice already has a SCRAM-SHA-256 credential (weir user passwd changes it)' "$work/err"
expect_rc "user create without --password: exit 2" 2 "$WEIR" user create bob
expect_rc "user create --iterations 100: exit 2" 2 "$WEIR" user create bob -p x --iterations 100
expect_rc "user create --mechanism GSSAPI: exit 2" 2 "$WEIR" user create bob -p x \
    --mechanism GSSAPI
expect_rc "--dry-run user create carol" 0 "$WEIR" --dry-run user create carol -p x
check "  says what it would do" grep -qx 'would create user carol (SCRAM-SHA-256) (dry run)' \
    "$work/out"
expect_rc "--dry-run user create alice: exit 1 (she has one)" 1 "$WEIR" --dry-run user create \
    alice -p x
expect_rc "user list" 0 "$WEIR" user list
check "  the table" diff <(printf 'NAME   MECHANISMS\nalice  SCRAM-SHA-256(4096),SCRAM-SHA-512(8192)\n') "$work/out"
expect_rc "user list -o json" 0 "$WEIR" user list -o json
jcheck "  the JSON" 'd == [{"name": "alice", "mechanisms": [{"mechanism": "SCRAM-SHA-256", "iterations": 4096}, {"mechanism": "SCRAM-SHA-512", "iterations": 8192}]}]'

check "kcat logs in with SCRAM-SHA-256" login SCRAM-SHA-256 alice pw-one
check "kcat logs in with SCRAM-SHA-512" login SCRAM-SHA-512 alice pw-one
check "kcat logs in with PLAIN" login PLAIN alice pw-one
if login SCRAM-SHA-256 alice pw-two; then not_ok "a wrong password is refused"; else
    ok "a wrong password is refused"; fi

expect_rc "user passwd alice" 0 "$WEIR" user passwd alice --password pw-two
check "kcat logs in with the new password" login SCRAM-SHA-256 alice pw-two
if login SCRAM-SHA-256 alice pw-one; then not_ok "the old password is refused"; else
    ok "the old password is refused"; fi
expect_rc "user passwd of nobody: exit 3" 3 "$WEIR" user passwd nobody --password x

expect_rc "user delete alice --mechanism SCRAM-SHA-256" 0 "$WEIR" user delete alice \
    --mechanism SCRAM-SHA-256
if login SCRAM-SHA-256 alice pw-two; then not_ok "  SCRAM-SHA-256 is gone"; else
    ok "  SCRAM-SHA-256 is gone"; fi
check "  SCRAM-SHA-512 still works" login SCRAM-SHA-512 alice pw-one
expect_rc "--dry-run user delete alice" 0 "$WEIR" --dry-run user delete alice
check "  says what it would do" grep -qx 'would delete user alice (dry run)' "$work/out"
expect_rc "user delete alice" 0 "$WEIR" user delete alice
check "  prints what it did" grep -qx 'deleted user alice' "$work/out"
expect_rc "user delete alice again: exit 3" 3 "$WEIR" user delete alice
expect_rc "user list: empty" 0 "$WEIR" user list
check "  only the header" diff <(printf 'NAME  MECHANISMS\n') "$work/out"
expect_rc "user list on the SASL listener: exit 1" 1 "$WEIR" -b "$SASL" user list
expect_rc "user list with -X security.protocol=ssl (plaintext only): exit 1" 1 "$WEIR" \
    -X security.protocol=ssl user list
check "no password in the credentials file" bash -c "! grep -q pw- '$work/data/scram-credentials'"
cli_finish
