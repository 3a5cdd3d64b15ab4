# Shared by the tests/compat/test_*.sh tiers (sourced, not a test itself). Starts the broker
# under test on loopback with its own temp dir, and kills it when the test ends:
#
#   WEIR_COMPAT_TARGET=weir   (default) `$WEIR_BIN serve` on 127.0.0.1:0
#   WEIR_COMPAT_TARGET=kafka  Apache Kafka 4.x from the pinned jars (lib/kafka_oracle.sh), to
#                             check the test itself: every check must pass against Kafka.
#   WEIR_COMPAT_KEEP=1        keep the temp dir (logs, data) at exit, for a post-mortem
#
# TAP helpers print "ok N - name" / "not ok N - name" with evidence as "# " lines.
#
# Set before compat_start_broker (a test sets them for itself; the environment may too):
#   COMPAT_BROKER_SETTINGS="k=v k=v"  broker settings for both targets: `--set k=v` to
#                             `weir serve`, server.properties lines for Kafka (the same names)
#   COMPAT_KAFKA_FEATURES="f=level"   feature levels Kafka is formatted with (first start only),
#                             e.g. transaction.version=1 (Weir does not advertise 2)
# compat_require_api KEY WHY: the test skips ("1..0 # SKIP WHY", exit 0) when the target broker
# does not advertise API KEY: a real probe, so the test runs once the broker serves it.
set -euo pipefail
compat_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
compat_dir=$compat_top/tests/compat
COMPAT_TARGET=${WEIR_COMPAT_TARGET:-weir}
WEIR=${WEIR_BIN:-$compat_top/build/weir}
export PATH="$compat_dir/bin:$PATH"
compat_work=$(mktemp -d /tmp/weir-compat.XXXXXX)
compat_pids=()
n=0
fail=0
COMPAT_BROKER_SETTINGS=${COMPAT_BROKER_SETTINGS:-}
COMPAT_KAFKA_FEATURES=${COMPAT_KAFKA_FEATURES:-}
compat_required_api=
compat_required_why=

compat_cleanup() {
    local p
    for p in "${compat_pids[@]+"${compat_pids[@]}"}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${compat_pids[@]+"${compat_pids[@]}"}"; do
        wait "$p" 2>/dev/null || true
    done
    if [[ -n ${WEIR_COMPAT_KEEP:-} ]]; then
        echo "# kept $compat_work (WEIR_COMPAT_KEEP)"
    else
        rm -rf "$compat_work"
    fi
}
trap compat_cleanup EXIT

# compat_require_api KEY WHY: see the top. Call it before compat_start_broker.
compat_require_api() {
    compat_required_api=$1
    compat_required_why=$2
}

# compat_skip WHY: the whole test is skipped (TAP plan 1..0), exit 0.
compat_skip() {
    echo "1..0 # SKIP $1"
    exit 0
}

# compat_has_api ADDR KEY: 0 when the broker at ADDR advertises KEY, 1 when not, 2 on no answer.
compat_has_api() {
    /usr/bin/python3 "$compat_dir/lib/apiprobe.py" "$1" "$2"
}

compat_probe_required() { # ADDR
    [[ -n $compat_required_api ]] || return 0
    local rc=0
    compat_has_api "$1" "$compat_required_api" 2>/dev/null || rc=$?
    case $rc in
    0) compat_required_api= ;;
    1) compat_skip "$compat_required_why" ;;
    *) not_ok "the capability probe (ApiVersions) got no answer from $1"; exit 1 ;;
    esac
}

# compat_start_broker NAME [--port N]: starts the target broker with data in
# $compat_work/NAME (a second call with the same NAME restarts it on the same data and port).
# Sets BROKER (host:port) and BROKER_PID.
compat_start_broker() {
    local name=$1
    shift
    local dir=$compat_work/$name port= kv sets=() feats=()
    if [[ ${1:-} == --port ]]; then port=$2; fi
    for kv in $COMPAT_BROKER_SETTINGS; do sets+=(--set "$kv"); done
    for kv in $COMPAT_KAFKA_FEATURES; do feats+=(--feature "$kv"); done
    if [[ -n $compat_required_api && $COMPAT_TARGET == weir && ${#sets[@]} -gt 0 ]]; then
        # Weir refuses settings it does not know, and the settings of a feature are unknown
        # until the feature lands: probe a bare Weir first, so a missing feature skips.
        compat_probe_bare_weir
    fi
    mkdir -p "$dir"
    : >"$dir/out"
    if [[ $COMPAT_TARGET == kafka ]]; then
        [[ -z $port && -f $dir/port ]] && port=$(<"$dir/port")
        "$compat_dir/lib/kafka_oracle.sh" --dir "$dir/kafka" --max-seconds 1200 \
            ${port:+--port "$port"} "${sets[@]+"${sets[@]}"}" "${feats[@]+"${feats[@]}"}" \
            >"$dir/out" 2>"$dir/err" &
    else
        [[ -z $port && -f $dir/port ]] && port=$(<"$dir/port")
        setpriv --pdeathsig TERM "$WEIR" serve --data-dir "$dir/data" \
            --listen "127.0.0.1:${port:-0}" --http-listen 127.0.0.1:0 \
            --set group.initial.rebalance.delay.ms=0 "${sets[@]+"${sets[@]}"}" \
            >"$dir/out" 2>"$dir/err" &
    fi
    BROKER_PID=$!
    compat_pids+=("$BROKER_PID")
    local i
    # Up to 3 minutes: a JVM broker on a loaded 2-core machine can take more than one.
    for i in $(seq 1800); do
        grep -q '^listening on ' "$dir/out" 2>/dev/null && break
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    BROKER=$(sed -n 's/^listening on //p' "$dir/out" | head -1)
    if [[ -z $BROKER ]]; then
        not_ok "$COMPAT_TARGET broker '$name' did not start" "$(tail -20 "$dir/err")"
        exit 1
    fi
    echo "${BROKER##*:}" >"$dir/port"
    echo "# $COMPAT_TARGET broker '$name' on $BROKER (pid $BROKER_PID)"
    compat_probe_required "$BROKER"
}

compat_probe_bare_weir() {
    local dir=$compat_work/apiprobe addr= pid i
    mkdir -p "$dir"
    setpriv --pdeathsig TERM "$WEIR" serve --data-dir "$dir/data" --listen 127.0.0.1:0 \
        --http-listen 127.0.0.1:0 >"$dir/out" 2>"$dir/err" &
    pid=$!
    compat_pids+=("$pid")
    for i in $(seq 300); do
        addr=$(sed -n 's/^listening on //p' "$dir/out" 2>/dev/null | head -1)
        [[ -n $addr ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -z $addr ]]; then
        not_ok "weir (bare, for the capability probe) did not start" "$(tail -5 "$dir/err")"
        exit 1
    fi
    compat_probe_required "$addr"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# compat_stop_broker: stops the broker started last (SIGTERM, waits).
compat_stop_broker() {
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
}

# compat_kill_broker: SIGKILL to the broker started last (Kafka: to the JVM, which the oracle
# script started; the script goes with it), and waits until the port is closed. A crash, for
# recovery tests: compat_start_broker NAME again restarts it on the same data and port.
compat_kill_broker() {
    local jvm
    if [[ $COMPAT_TARGET == kafka ]]; then
        for jvm in $(pgrep -P "$BROKER_PID" 2>/dev/null || true); do
            [[ $(cat "/proc/$jvm/comm" 2>/dev/null) == java ]] && kill -KILL "$jvm" 2>/dev/null || true
        done
    fi
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    local i
    for i in $(seq 100); do
        /usr/bin/python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' \
            "${BROKER##*:}" 2>/dev/null || return 0
        sleep 0.1
    done
}

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}

not_ok() { # name, evidence lines...
    n=$((n + 1))
    fail=$((fail + 1))
    echo "not ok $n - $1"
    shift
    local l
    for l in "$@"; do
        printf '%s\n' "$l" | sed 's/^/    # /'
    done
}

# check NAME COMMAND...: ok when the command exits 0; its output is the evidence otherwise.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$name"
    else
        not_ok "$name" "$(printf '%s\n' "$out" | tail -15)"
    fi
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
    if [[ $2 == "$3" ]]; then
        ok "$1"
    else
        not_ok "$1" "expected: $(head -c 1500 <<<"$2")" "actual:   $(head -c 1500 <<<"$3")"
    fi
}

compat_done() {
    echo "1..$n"
    ((fail == 0))
}

# The JVM tiers compile tests/java/src with javac against the Kafka class path once per source
# change, into build/compat/java.
compat_java_classes() {
    local out=$compat_top/build/compat/java src=$compat_top/tests/java/src
    local cpfile=$compat_top/build/compat/kafka.classpath
    [[ -s $cpfile ]] || { echo "build/compat/kafka.classpath missing: run make deps" >&2; return 2; }
    local stamp=$out/.stamp
    # One test at a time compiles (tests may run in parallel: WEIR_TEST_JOBS).
    (
        flock 9
        if [[ ! -f $stamp ]] || [[ -n $(find "$src" -newer "$stamp" -name '*.java' | head -1) ]]; then
            rm -rf "$out"
            mkdir -p "$out"
            javac -nowarn -d "$out" -cp "$(<"$cpfile")" $(find "$src" -name '*.java') >&2
            touch "$stamp"
        fi
    ) 9>"$compat_top/build/compat/.java.lock"
    JAVA_CP="$out:$(<"$cpfile")"
}

# The Go tiers build tests/go/cmd/* into build/compat/go (offline: the modules come from the
# cache `make deps` filled; go's own build cache makes a rebuild cheap).
compat_go_build() {
    local out=$compat_top/build/compat/go
    mkdir -p "$out"
    (
        flock 9
        cd "$compat_top/tests/go" && GOFLAGS=-mod=readonly GOPROXY=off go build -o "$out/" ./cmd/...
    ) 9>"$compat_top/build/compat/.go.lock" >&2
    GO_BIN=$out
}
