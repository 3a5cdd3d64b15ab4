#!/usr/bin/env bash
# The pinned third-party set of the compatibility tiers (tests/compat) and of the Apache Kafka
# peer in `make bench`; called by scripts/deps.sh (so by `make deps`, `make run`, `make test`,
# `make bench`), never by `make build`. Idempotent, quiet when all is there, and offline then:
#
#   tests/java/pom.xml          Apache Kafka 4.x jars (server, tools, clients, streams) into
#                               ~/.m2; their class path -> build/compat/kafka.classpath
#   tests/go/go.mod + go.sum    franz-go (kgo, kadm, kmsg) and Sarama into ~/go/pkg/mod
#   tests/python/requirements.txt  confluent-kafka (bundled librdkafka 2.1x) and aiokafka into
#                               the venv build/compat/venv (pip's cache: ~/.cache/pip)
#
# WEIR_DEPS_COMPAT=0 skips all of it (e.g. a machine that only builds).
set -euo pipefail
[[ ${WEIR_DEPS_COMPAT:-1} == 0 ]] && exit 0
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/compat
mkdir -p "$out"

# The toolchains, from Debian when missing (the polyglot machines have them already).
need=()
command -v java >/dev/null || need+=(default-jdk-headless)
command -v javac >/dev/null || need+=(default-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
command -v go >/dev/null || need+=(golang-go)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
    WEIR_DEPS_COMPAT=0 "$top/scripts/deps.sh" $(printf '%s\n' "${need[@]}" | sort -u)
fi

# Maven: resolve once per pom change; the class path file names the jars in ~/.m2.
cpfile=$out/kafka.classpath
pom=$top/tests/java/pom.xml
cp_ok() {
    [[ -s $cpfile && $cpfile -nt $pom ]] || return 1
    local j
    for j in $(tr ':' ' ' <"$cpfile"); do [[ -f $j ]] || return 1; done
}
if ! cp_ok; then
    echo "deps: Apache Kafka jars (Maven, tests/java/pom.xml)"
    mvn -B -q -f "$pom" dependency:build-classpath -Dmdep.includeScope=runtime \
        -Dmdep.outputFile="$cpfile.tmp" >"$out/mvn.log" 2>&1 || {
        tail -30 "$out/mvn.log" >&2
        exit 1
    }
    mv "$cpfile.tmp" "$cpfile"
fi

# Go: the module cache; GOTOOLCHAIN=auto lets an older go fetch the toolchain go.mod names.
gostamp=$out/go-mod.stamp
if [[ ! -f $gostamp || $top/tests/go/go.sum -nt $gostamp ]] || ! (cd "$top/tests/go" &&
    GOFLAGS=-mod=mod GOPROXY=off go list -m all >/dev/null 2>&1); then
    echo "deps: Go modules (tests/go/go.mod)"
    (cd "$top/tests/go" && GOTOOLCHAIN=${GOTOOLCHAIN:-auto} go mod download)
    touch "$gostamp"
fi

# Python: a venv of its own, so the Debian python3-confluent-kafka tier stays as it is.
venv=$out/venv
req=$top/tests/python/requirements.txt
if [[ ! -x $venv/bin/python || ! -f $venv/.stamp || $req -nt $venv/.stamp ]]; then
    echo "deps: Python venv (tests/python/requirements.txt)"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    touch "$venv/.stamp"
fi
