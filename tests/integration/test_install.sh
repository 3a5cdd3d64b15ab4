#!/usr/bin/env bash
# `make install PREFIX=...` (scripts/install.sh on the build under test): the weir command, libweir
# with its soname and pkg-config file, the headers; a program built with `pkg-config weir` and
# the -rpath the install advises runs without LD_LIBRARY_PATH; a second install over the first
# works. TAP.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$top/build # the release build: a sanitizer's libweir.so needs its runtime preloaded
if [[ ${WEIR_PASS:-release} != release ]]; then
    echo "ok 1 - # SKIP install is checked in the release pass"
    echo "1..1"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
fail=0
t() { # name, command...
    local name=$1
    shift
    n=$((n + 1))
    if "$@" >"$work/t.out" 2>&1; then
        echo "ok $n - $name"
    else
        fail=$((fail + 1))
        echo "not ok $n - $name"
        sed 's/^/    # /' "$work/t.out" | tail -15
    fi
}
sdk_link=$(sed -n 's/^SDK_LINK := //p' "$top/Makefile")
libs=$(sed -n '/^LIBS := /,/[^\\]$/p' "$top/Makefile" | sed 's/^LIBS := //; s/\\$//' | xargs)
prefix=$work/prefix
cd "$top"
t "install into a prefix" scripts/install.sh "" "$prefix" "$build" 0 "$sdk_link" "$libs"
t "  ... bin/weir runs" "$prefix/bin/weir" version
t "  ... libweir.so is a link to its soname" test "$(readlink "$prefix/lib/libweir.so")" == \
    libweir.so.0
t "  ... the soname is libweir.so.0" bash -c \
    "readelf -d '$prefix/lib/libweir.so.0' | grep -q 'SONAME.*libweir.so.0'"
t "  ... headers" test -f "$prefix/include/weir/weir.h" -a -f "$prefix/include/weir/embed.h"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
t "pkg-config knows weir" pkg-config --exists weir weir-testbroker
t "  ... its flags point into the prefix" bash -c \
    "pkg-config --cflags --libs weir | grep -q -- '-I$prefix/include' && pkg-config --libs weir | grep -q -- '-L$prefix/lib -lweir'"
cat >"$work/app.c" <<'C'
#include <stdio.h>
#include <weir/weir.h>
int main(void)
{
    weir_app_config cfg;
    weir_app_config_init(&cfg);
    printf("%s %d\n", weir_strerror(WEIR_ERR_TIMEDOUT), cfg.workers);
    return 0;
}
C
# shellcheck disable=SC2046
t "a program builds with pkg-config and the advised rpath" cc -o "$work/app" "$work/app.c" \
    $(pkg-config --cflags --libs weir) -Wl,-rpath,"$prefix/lib"
t "  ... and runs without LD_LIBRARY_PATH, on the installed libweir.so" bash -c \
    "env -u LD_LIBRARY_PATH '$work/app' | grep -qx '.* 1' && ldd '$work/app' | grep -q '$prefix/lib/libweir.so.0'"
t "installing again over it works" scripts/install.sh "" "$prefix" "$build" 0 "$sdk_link" "$libs"
echo "1..$n"
((fail == 0))
