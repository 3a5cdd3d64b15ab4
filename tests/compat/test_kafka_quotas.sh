#!/usr/bin/env bash
# Client quotas with Kafka 4.x's kafka-configs (from the pinned jars), as an operator types
# them: --entity-type users / clients / users+clients / ips, --entity-default, --add-config,
# --delete-config, --describe; a bad value refused with Kafka's InvalidRequestException and
# message; the quotas still there after kill -9 and a restart. Exact output lines.
#   WEIR_COMPAT_TARGET=kafka   the same commands against Apache Kafka (checks the test)
source "$(dirname "$0")/lib/compat.bash"
compat_start_broker quotas
B=$BROKER

kc() { kafka-configs.sh --bootstrap-server "$B" "$@" 2>&1 || true; }

out=$(kc --alter --add-config 'producer_byte_rate=1024,consumer_byte_rate=2048' \
    --entity-type users --entity-name alice)
expect_eq "users alice --add-config" "Completed updating config for user alice." "$out"
out=$(kc --alter --add-config producer_byte_rate=4096 --entity-type clients --entity-name app)
expect_eq "clients app --add-config" "Completed updating config for client app." "$out"
out=$(kc --alter --add-config request_percentage=50 --entity-type users --entity-default)
expect_eq "users --entity-default --add-config" \
    "Completed updating default config for users in the cluster." "$out"
out=$(kc --alter --add-config producer_byte_rate=100 --entity-type users --entity-name alice \
    --entity-type clients --entity-name app)
expect_eq "users alice + clients app --add-config" "Completed updating config for user alice." "$out"
out=$(kc --alter --add-config connection_creation_rate=10 --entity-type ips --entity-name 127.0.0.1)
expect_eq "ips 127.0.0.1 --add-config" "Completed updating config for ip 127.0.0.1." "$out"

describe_all() {
    kc --describe --entity-type users --entity-name alice
    kc --describe --entity-type clients --entity-name app
    kc --describe --entity-type users --entity-default
    kc --describe --entity-type users --entity-name alice --entity-type clients --entity-name app
    kc --describe --entity-type ips --entity-name 127.0.0.1
}
want="Quota configs for user-principal 'alice' are consumer_byte_rate=2048.0, producer_byte_rate=1024.0
Quota configs for client-id 'app' are producer_byte_rate=4096.0
Quota configs for the default user-principal are request_percentage=50.0
Quota configs for user-principal 'alice', client-id 'app' are producer_byte_rate=100.0
Quota configs for ip '127.0.0.1' are connection_creation_rate=10.0"
expect_eq "--describe each entity" "$want" "$(describe_all)"

out=$(kc --alter --add-config producer_byte_rate=-5 --entity-type users --entity-name bob)
if grep -q 'InvalidRequestException: Quota producer_byte_rate must be greater than 0' <<<"$out"; then
    ok "a negative quota is refused with InvalidRequestException and Kafka's message"
else
    not_ok "a negative quota is refused with InvalidRequestException and Kafka's message" "$out"
fi
out=$(kc --describe --entity-type users --entity-name bob)
expect_eq "nothing stored for the refused change (kafka-configs prints nothing)" "" "$out"

compat_kill_broker
compat_start_broker quotas
B=$BROKER
expect_eq "after kill -9 and a restart: the same quotas" "$want" "$(describe_all)"

out=$(kc --alter --delete-config consumer_byte_rate --entity-type users --entity-name alice)
expect_eq "--delete-config" "Completed updating config for user alice." "$out"
out=$(kc --describe --entity-type users --entity-name alice)
expect_eq "--describe after --delete-config" \
    "Quota configs for user-principal 'alice' are producer_byte_rate=1024.0" "$out"
compat_done
