#!/usr/bin/env bash
# `make install`: copies what `make build` made into PREFIX (under DESTDIR when packaging) and
# writes the pkg-config files, then says how to use them. Never builds, never touches the tree.
#
#   scripts/install.sh DESTDIR PREFIX BUILD SDK_ABI "SDK_LINK" "BROKER_LIBS"
set -euo pipefail
destdir=$1 prefix=$2 build=$3 abi=$4 sdk_link=$5 broker_libs=$6
root=$destdir$prefix
lib=$root/lib
install -d "$root/bin" "$lib/pkgconfig" "$root/include/weir"
install -m 755 "$build/weir" "$root/bin/weir"
install -m 644 "$build/libweir.a" "$build/libweir-broker.a" "$build/libweir-testbroker.a" "$lib/"
install -m 755 "$build/libweir.so" "$lib/libweir.so.$abi"
ln -sf "libweir.so.$abi" "$lib/libweir.so"
install -m 644 include/weir/weir.h include/weir/embed.h "$root/include/weir/"
version=$(sed -n 's/^#define CLI_VERSION *"\(.*\)"/\1/p' src/cli/cli.h)
# Libs.private: what a static link (pkg-config --static) needs besides libweir itself.
cat >"$lib/pkgconfig/weir.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: weir
Description: libweir, the C SDK for event-driven services on Kafka-compatible brokers
Version: $version
Requires.private: rdkafka sqlite3 jansson libmicrohttpd libcurl
Libs: -L\${libdir} -lweir
Libs.private: ${sdk_link}
Cflags: -I\${includedir}
PC
cat >"$lib/pkgconfig/weir-testbroker.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: weir-testbroker
Description: a whole Weir broker inside a test process (weir_test_broker_start), static
Version: $version
Requires: weir
Libs: -L\${libdir} -lweir-testbroker -lweir-broker ${broker_libs}
Cflags: -I\${includedir}
PC
cat <<MSG
installed into $root:
  $root/bin/weir
  $lib/libweir.{a,so} (soname libweir.so.$abi), libweir-broker.a, libweir-testbroker.a
  $root/include/weir/{weir.h,embed.h}
  $lib/pkgconfig/{weir,weir-testbroker}.pc
To use them:
  export PATH="$prefix/bin:\$PATH"                      # weir on the PATH
  export PKG_CONFIG_PATH="$lib/pkgconfig:\${PKG_CONFIG_PATH:-}"
  cc app.c \$(pkg-config --cflags --libs weir) -Wl,-rpath,$prefix/lib
The -rpath lets the program find libweir.so at run time without LD_LIBRARY_PATH when $prefix/lib
is not a system library directory; a static link instead: pkg-config --static --libs weir
with -l:libweir.a.
MSG
