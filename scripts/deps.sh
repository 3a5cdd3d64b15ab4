#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are missing, the npm packages
# pinned in tests/package.json and (scripts/deps-compat.sh) the pinned Maven, Go and PyPI set of
# the tests (PyPI: tests/python/requirements.txt into the venv build/compat/venv). Idempotent
# and quiet when everything is already there.
set -euo pipefail
missing=()
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    # rabbitmq-server and nats-server would start system services; keep them stopped.
    printf '#!/bin/sh\nexit 101\n' > /tmp/weir-policy-rc.d && chmod +x /tmp/weir-policy-rc.d
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        "${sudo_cmd[@]}" cp /tmp/weir-policy-rc.d /usr/sbin/policy-rc.d
        trap '"${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
top=$(cd "$(dirname "$0")/.." && pwd)
if [[ -f "$top/tests/package.json" && ( ! -d "$top/tests/node_modules" ||
    "$top/tests/package.json" -nt "$top/tests/node_modules/.package-lock.json" ) ]]; then
    echo "deps: npm install in tests/"
    (cd "$top/tests" && npm install --no-audit --no-fund --silent >/dev/null)
fi
# The pinned Maven, Go and PyPI set of the compatibility tiers, the registry's client tests and
# the Kafka benchmark peer.
"$top/scripts/deps-compat.sh"
