#!/usr/bin/env bash
# Runs a real single-node Apache Kafka 4.x (KRaft, combined broker + controller) from the jars
# that `make deps` put in ~/.m2, with the same interface as `weir serve`: it prints
# "listening on 127.0.0.1:PORT" as its first line once the broker answers, then stays in the
# foreground until it gets SIGTERM/SIGINT, its parent process dies, or its time limit runs out;
# Kafka goes with it in every case. Everything lives in one directory (default: a fresh temp dir,
# removed at exit; with --dir the caller owns it and a second run on it restarts the same node).
#
#   tests/compat/lib/kafka_oracle.sh [--dir DIR] [--port N] [--controller-port N]
#                                    [--max-seconds S] [--set key=value]...
#                                    [--feature name=level]...
#
#   --dir DIR          data, logs and config here (kept). A dir that is already formatted is
#                      started as it is (a broker restart), on the ports it had unless given.
#   --port N           the client listener's port (default: a free ephemeral port)
#   --max-seconds S    hard limit on the broker's life (default 1800)
#   --set k=v          extra server.properties lines (e.g. --set log.flush.interval.messages=1)
#   --feature f=level  a feature level for the first format (kafka-storage format --feature), e.g.
#                      --feature transaction.version=1: Kafka 4.4 formats a new cluster at
#                      transaction.version 2 (KIP-890 part 2), which Weir does not advertise
#
# Environment: WEIR_KAFKA_CLASSPATH (default build/compat/kafka.classpath, written by
# scripts/deps-compat.sh), JAVA (default: java on PATH), WEIR_KAFKA_HEAP (default 768m).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cpfile=${WEIR_KAFKA_CLASSPATH:-$top/build/compat/kafka.classpath}
java=${JAVA:-java}
heap=${WEIR_KAFKA_HEAP:-768m}
dir=
own_dir=0
port=
cport=
max_seconds=1800
extra=()
features=()
while (($#)); do
    case $1 in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --controller-port) cport=$2; shift 2 ;;
    --max-seconds) max_seconds=$2; shift 2 ;;
    --set) extra+=("$2"); shift 2 ;;
    --feature) features+=(--feature "$2"); shift 2 ;;
    *) echo "kafka_oracle: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [[ ! -s $cpfile ]]; then
    echo "kafka_oracle: $cpfile missing: run 'make deps' (scripts/deps-compat.sh) first" >&2
    exit 2
fi
cp=$(<"$cpfile")
if [[ -z $dir ]]; then
    dir=$(mktemp -d /tmp/weir-kafka-oracle.XXXXXX)
    own_dir=1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

free_port() { # a port the kernel hands out for 127.0.0.1:0 (closed again at once)
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# A restart keeps the ports of the first start unless told otherwise: clients reconnect there.
if [[ -f $dir/ports ]]; then
    read -r old_port old_cport <"$dir/ports"
    port=${port:-$old_port}
    cport=${cport:-$old_cport}
fi
port=${port:-$(free_port)}
cport=${cport:-$(free_port)}
while [[ $cport == "$port" ]]; do cport=$(free_port); done
echo "$port $cport" >"$dir/ports"

cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
metadata.log.dir=$dir/meta
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
for kv in "${extra[@]+"${extra[@]}"}"; do echo "$kv" >>"$dir/server.properties"; done

cat >"$dir/log4j2.properties" <<'PROPS'
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:weir.oracle.log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
PROPS

jvm=("$java" "-Xms128m" "-Xmx$heap" "-XX:+UseG1GC" "-XX:MaxGCPauseMillis=20"
    "-XX:TieredStopAtLevel=1" "-Xshare:auto" "-Djava.awt.headless=true"
    "-Dlog4j2.configurationFile=$dir/log4j2.properties" "-Dweir.oracle.log=$dir/server.log"
    -cp "$cp")
# TieredStopAtLevel=1 (C1 only) starts faster and is ample for tests; the benchmark drops it
# (WEIR_KAFKA_JIT=full) so the peer runs with the JIT it ships with.
if [[ ${WEIR_KAFKA_JIT:-} == full ]]; then
    jvm=("${jvm[@]/-XX:TieredStopAtLevel=1/-XX:+TieredCompilation}")
fi

if [[ ! -f $dir/meta/meta.properties ]]; then
    "${jvm[@]}" kafka.tools.StorageTool format --ignore-formatted \
        -t "$(/usr/bin/python3 -c 'import base64, uuid
while True:  # as Kafka'"'"'s Uuid.randomUuid: never one that starts with "-"
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        break
print(s)')" \
        -c "$dir/server.properties" "${features[@]+"${features[@]}"}" >"$dir/format.log" 2>&1 || {
        echo "kafka_oracle: formatting the storage failed:" >&2
        tail -20 "$dir/format.log" >&2
        exit 1
    }
fi

kafka_pid=
parent=$PPID
cleanup() {
    local rc=$?
    trap - EXIT
    if [[ -n $kafka_pid ]] && kill -0 "$kafka_pid" 2>/dev/null; then
        kill -TERM "$kafka_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$kafka_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$kafka_pid" 2>/dev/null || true
        wait "$kafka_pid" 2>/dev/null || true
    fi
    if [[ -n ${watch_pid:-} ]]; then kill "$watch_pid" 2>/dev/null || true; fi
    if ((own_dir)); then rm -rf "$dir"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# setpriv: Kafka gets SIGKILL if this script dies without cleaning up (kill -9).
setpriv --pdeathsig KILL "${jvm[@]}" kafka.Kafka "$dir/server.properties" \
    >"$dir/stdout.log" 2>&1 &
kafka_pid=$!

# Ready when the client port answers an ApiVersions request.
ready=0
for _ in $(seq 600); do
    if ! kill -0 "$kafka_pid" 2>/dev/null; then break; fi
    if /usr/bin/python3 - "$port" <<'PY' 2>/dev/null; then ready=1; break; fi
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
cid = b"oracle"
req = struct.pack(">hhih", 18, 0, 1, len(cid)) + cid
s.sendall(struct.pack(">i", len(req)) + req)
n = struct.unpack(">i", s.recv(4))[0]
body = b""
while len(body) < n:
    body += s.recv(n - len(body))
sys.exit(0 if struct.unpack(">ih", body[:6])[1] == 0 else 1)
PY
    sleep 0.2
done
if ((!ready)); then
    echo "kafka_oracle: Apache Kafka did not start (log: $dir/server.log)" >&2
    tail -30 "$dir/stdout.log" "$dir/server.log" >&2 2>/dev/null || true
    own_dir=0
    exit 1
fi
echo "listening on 127.0.0.1:$port"
echo "controller on 127.0.0.1:$cport"
echo "data dir $dir"

# Ends with the parent (the test) or the time limit, whichever comes first.
(
    end=$((SECONDS + max_seconds))
    while kill -0 "$parent" 2>/dev/null && ((SECONDS < end)); do sleep 1; done
    kill -TERM $$ 2>/dev/null
) &
watch_pid=$!
wait "$kafka_pid" || true
kafka_pid=
echo "kafka_oracle: Apache Kafka exited (log: $dir/server.log)" >&2
exit 1
