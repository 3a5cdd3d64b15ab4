#!/usr/bin/env bash
# `weir quota alter|describe` (AlterClientQuotas / DescribeClientQuotas): exact outputs, exit
# codes and error lines, --dry-run storing nothing; then, on a broker with Kafka's authorizer,
# the cluster DESCRIBE_CONFIGS / ALTER_CONFIGS checks of both APIs (CLUSTER_AUTHORIZATION_FAILED
# when denied, the answer once an ACL allows it).
. "$(dirname "$0")/cli_helpers.bash"

cli_start_broker
expect_rc "quota alter user=alice" 0 "$WEIR" quota alter --name user=alice \
    --add producer_byte_rate=1024 --add consumer_byte_rate=2048
check "  prints what it did" grep -qx 'altered the quotas of user=alice' "$work/out"
expect_rc "quota alter default client-id" 0 "$WEIR" quota alter --default client-id \
    --add request_percentage=12.5
expect_rc "quota alter user=alice,client-id=app" 0 "$WEIR" quota alter --name user=alice \
    --name client-id=app --add producer_byte_rate=100
expect_rc "quota alter ip" 0 "$WEIR" quota alter --name ip=10.0.0.1 \
    --add connection_creation_rate=7
expect_rc "quota alter --dry-run" 0 "$WEIR" quota alter --name user=bob \
    --add producer_byte_rate=5 --dry-run
check "  says it stored nothing" grep -qx 'would alter (dry run) the quotas of user=bob' "$work/out"
expect_rc "quota describe" 0 "$WEIR" quota describe
check "  the table, in the order stored" diff - "$work/out" <<'T'
ENTITY                    QUOTAS
user=alice                producer_byte_rate=1024,consumer_byte_rate=2048
client-id=<default>       request_percentage=12.5
user=alice,client-id=app  producer_byte_rate=100
ip=10.0.0.1               connection_creation_rate=7
T
expect_rc "quota describe --name user=alice --strict -o json" 0 "$WEIR" quota describe \
    --name user=alice --strict -o json
jcheck "  one entity, its two quotas" \
    'd == [{"entity": [{"type": "user", "name": "alice"}], "quotas": {"producer_byte_rate": 1024.0, "consumer_byte_rate": 2048.0}}]'
expect_rc "quota describe --any client-id" 0 "$WEIR" quota describe --any client-id -o json
jcheck "  the two entities with a client id" 'len(d) == 2'
expect_rc "quota describe --name user=bob: nothing (dry run stored nothing)" 0 "$WEIR" quota \
    describe --name user=bob -o json
jcheck "  empty" 'd == []'
expect_rc "negative value: exit 1" 1 "$WEIR" quota alter --name user=alice \
    --add producer_byte_rate=-1
check "  Kafka's message" grep -qx 'weir quota alter: Quota producer_byte_rate must be greater than 0 (INVALID_REQUEST)' "$work/err"
expect_rc "unknown key: exit 1" 1 "$WEIR" quota alter --name user=alice --add nope=1
check "  Kafka's message" grep -qx 'weir quota alter: Invalid configuration key nope (INVALID_REQUEST)' "$work/err"
expect_rc "ip and user together: exit 1" 1 "$WEIR" quota alter --name user=alice \
    --name ip=10.0.0.1 --add producer_byte_rate=1
expect_rc "entity type group: exit 2" 2 "$WEIR" quota alter --name group=g --add producer_byte_rate=1
expect_rc "alter without --add: exit 2" 2 "$WEIR" quota alter --name user=alice
expect_rc "--add not a number: exit 2" 2 "$WEIR" quota alter --name user=alice --add producer_byte_rate=x
expect_rc "quota alter --delete" 0 "$WEIR" quota alter --name user=alice --delete consumer_byte_rate
expect_rc "  then describe" 0 "$WEIR" quota describe --name user=alice --strict
check "  the one left" grep -qx 'user=alice  *producer_byte_rate=1024' "$work/out"
kill "$broker_pid"
wait "$broker_pid" 2>/dev/null
rm -rf "$work/data"

# The authorizer: ANONYMOUS (the PLAINTEXT listener) may alter ACLs and describe configs only.
cli_start_broker --set authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer \
    --set allow.everyone.if.no.acl.found=true
expect_rc "acl: ANONYMOUS may ALTER and DESCRIBE_CONFIGS the cluster" 0 "$WEIR" acl create \
    --allow-principal User:ANONYMOUS --operation alter --operation describe_configs --cluster
expect_rc "quota describe with DESCRIBE_CONFIGS" 0 "$WEIR" quota describe
expect_rc "quota alter without ALTER_CONFIGS: exit 1" 1 "$WEIR" quota alter --name user=a \
    --add producer_byte_rate=1
check "  CLUSTER_AUTHORIZATION_FAILED" grep -q '(CLUSTER_AUTHORIZATION_FAILED)$' "$work/err"
expect_rc "acl: ALTER_CONFIGS too" 0 "$WEIR" acl create --allow-principal User:ANONYMOUS \
    --operation alter_configs --cluster
expect_rc "quota alter with ALTER_CONFIGS" 0 "$WEIR" quota alter --name user=a \
    --add producer_byte_rate=1
expect_rc "acl: DENY DESCRIBE_CONFIGS" 0 "$WEIR" acl create --deny-principal User:ANONYMOUS \
    --operation describe_configs --cluster
expect_rc "quota describe denied: exit 1" 1 "$WEIR" quota describe
check "  CLUSTER_AUTHORIZATION_FAILED" grep -q '(CLUSTER_AUTHORIZATION_FAILED)$' "$work/err"
cli_finish
