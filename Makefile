# Weir build. Plain GNU make: two entry points for people (`make run`, `make test`), the rest
# for developers. Every source file is found by wildcard, so adding a file to a module or a test
# to a tier needs no edit here.
#
#   build/            release build (-O2 -g): build/weir, build/libweir-broker.a, build/libweir.{a,so}
#   build/asan/       the same built by clang with ASan+UBSan, used by the second test pass
#   build/fuzz/       libFuzzer targets (clang)

SHELL := /bin/bash
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
SAN ?= 0
CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

# Debian packages the build, the tests and `make run` need. `make deps` installs only what is
# missing and says nothing when all is there.
DEB_BUILD := build-essential clang llvm libclang-rt-14-dev clang-format pkg-config \
	librdkafka-dev zlib1g-dev liblz4-dev libzstd-dev libsnappy-dev libssl-dev libjansson-dev \
	libsqlite3-dev sqlite3 libmicrohttpd-dev libavro-dev libcurl4-openssl-dev
DEB_TEST := kcat python3 python3-kafka python3-confluent-kafka nodejs curl procps psmisc jq \
	prometheus zsh fish chromium chromium-driver
DEB_BENCH := redis-server nats-server rabbitmq-server libhiredis-dev libnats-dev librabbitmq-dev \
	gnuplot-nox
# The peers' C clients link only into bench/peers/*.c, which only `make bench` builds, so
# `make build` and `make test` never need the peer packages.
PEER_LIBS := -lhiredis -lnats -lrabbitmq

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wvla -Wimplicit-fallthrough -Wno-unused-parameter
CSTD := -std=c11 -D_GNU_SOURCE
INC := -Iinclude -Isrc
ifeq ($(SAN),1)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else ifeq ($(SAN),thread)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
else
OPT := -O2 -g
endif
CFLAGS_ALL = $(CSTD) $(WARN) $(OPT) -fPIC -MMD -MP $(INC) $(EXTRA_CFLAGS)
LDFLAGS_ALL = $(OPT) $(EXTRA_LDFLAGS)
# libweir.so needs only these (no broker inside it); its soname is libweir.so.$(SDK_ABI).
SDK_ABI := 0
SDK_LINK := -lrdkafka -lsqlite3 -ljansson -lmicrohttpd -lcurl -lavro -lpthread -lm
LIBS := -lrdkafka -lz -llz4 -lzstd -lsnappy -lssl -lcrypto -ljansson -lsqlite3 -lmicrohttpd \
	-lavro -lcurl -lpthread -lm

# The broker and everything it is made of (the server composes the modules); the SDK is
# libweir on the base vocabulary and librdkafka only; the embedded test broker is its own small
# library on top of the broker's.
BASE_SRC := $(wildcard src/base/*.c)
# The console's pages (ui/) and the admin API's OpenAPI document are embedded in the binary as
# generated C arrays (scripts/embed_files.c, a build tool compiled here: nothing is installed).
EMBED := $(BUILD)/tools/embed_files
UI_FILES := $(sort $(shell find ui -type f 2>/dev/null))
GEN_SRC := $(BUILD)/gen/console_files.c $(BUILD)/gen/admin_files.c
BROKER_SRC := $(BASE_SRC) $(wildcard src/storage/*.c src/net/*.c src/auth/*.c src/kafka/wire/*.c \
	src/broker/*.c src/kafka/*.c src/http/*.c src/registry/*.c src/admin/*.c src/console/*.c \
	src/metrics/*.c src/trace/*.c src/server/*.c) $(GEN_SRC)
CLI_SRC := $(wildcard src/cli/*.c)
SDK_SRC := $(wildcard src/sdk/*.c)
TESTBROKER_SRC := $(wildcard src/testbroker/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
SIM_SRC := $(wildcard tests/sim/*.c)
ITEST_SRC := $(wildcard tests/integration/*.c)
BENCH_SRC := $(wildcard bench/*.c)
EXAMPLE_SRC := $(wildcard examples/order-flow/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# Quiet by default ("  CC  src/x.c"); V=1 shows the full command lines.
V ?= 0
ifeq ($(V),1)
quiet =
else
quiet = @printf '  %-4s %s\n' $(1) $(2);
endif

BROKER_LIB := $(BUILD)/libweir-broker.a
SDK_LIB := $(BUILD)/libweir.a
SDK_SO := $(BUILD)/libweir.so
TESTBROKER_LIB := $(BUILD)/libweir-testbroker.a
# What a test or benchmark program links: the SDK, the embedded test broker and the broker.
TEST_LIBS := $(SDK_LIB) $(TESTBROKER_LIB) $(BROKER_LIB)
WEIR := $(BUILD)/weir
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
SIM_BIN := $(patsubst tests/sim/%.c,$(BUILD)/tests/sim/%,$(SIM_SRC))
ITEST_BIN := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(ITEST_SRC))
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
# Each examples/order-flow/<name>.c with a main() is a program; shared code lives in *_lib.c.
EXAMPLE_MAIN := $(filter-out %_lib.c,$(EXAMPLE_SRC))
EXAMPLE_LIBSRC := $(filter %_lib.c,$(EXAMPLE_SRC))
EXAMPLE_BIN := $(patsubst examples/order-flow/%.c,$(BUILD)/examples/%,$(EXAMPLE_MAIN))
# The streams examples: examples/<name>/<name>.c, one program each (build/examples/<name>).
STREAMS_EXAMPLES := fraud-detection iot-telemetry leaderboard
STREAMS_EXAMPLE_BIN := $(patsubst %,$(BUILD)/examples/%,$(STREAMS_EXAMPLES))

.PHONY: all build deps deps-bench run test test-fast bench format format-check clean fuzz asan tsan tsan-binaries \
	demo-load install uninstall

all: build

.SECONDARY:

# `make build` installs nothing: `make deps` (also run by `make run`, `make test` and `make bench`)
# does, from Debian, npm, Maven Central, the Go module proxy and PyPI (scripts/deps*.sh).
build:
	@$(MAKE) --no-print-directory -j$(JOBS) binaries

binaries: $(WEIR) $(BROKER_LIB) $(SDK_LIB) $(SDK_SO) $(TESTBROKER_LIB) $(UNIT_BIN) $(SIM_BIN) $(ITEST_BIN) \
	$(BENCH_BIN) $(EXAMPLE_BIN) $(STREAMS_EXAMPLE_BIN)

deps:
	@scripts/deps.sh $(DEB_BUILD) $(DEB_TEST)

deps-bench:
	@scripts/deps.sh $(DEB_BUILD) $(DEB_TEST) $(DEB_BENCH)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(EMBED): scripts/embed_files.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CSTD) $(WARN) -O1 -o $@ $<

$(BUILD)/gen/console_files.c: $(EMBED) $(UI_FILES)
	@mkdir -p $(dir $@)
	$(call quiet,GEN,$@)$(EMBED) $@ console/console.h console_file_t console_files ui $(UI_FILES)

$(BUILD)/gen/admin_files.c: $(EMBED) src/admin/openapi.json
	@mkdir -p $(dir $@)
	$(call quiet,GEN,$@)$(EMBED) $@ admin/admin_internal.h admin_file_t admin_files src/admin \
		src/admin/openapi.json

$(BROKER_LIB): $(call obj,$(BROKER_SRC))
	@mkdir -p $(dir $@)
	@rm -f $@
	$(call quiet,AR,$@)ar rcs $@ $^

$(SDK_LIB): $(call obj,$(SDK_SRC)) $(call obj,$(BASE_SRC))
	@mkdir -p $(dir $@)
	@rm -f $@
	$(call quiet,AR,$@)ar rcs $@ $^

$(SDK_SO): $(call obj,$(SDK_SRC)) $(call obj,$(BASE_SRC))
	@mkdir -p $(dir $@)
	$(call quiet,LD,$@)$(CC) -shared $(LDFLAGS_ALL) -Wl,-soname,libweir.so.$(SDK_ABI) -o $@ $^ \
		$(SDK_LINK)

$(TESTBROKER_LIB): $(call obj,$(TESTBROKER_SRC))
	@mkdir -p $(dir $@)
	@rm -f $@
	$(call quiet,AR,$@)ar rcs $@ $^

$(WEIR): $(call obj,$(CLI_SRC)) $(BROKER_LIB)
	@mkdir -p $(dir $@)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS_ALL) -o $@ $(call obj,$(CLI_SRC)) $(BROKER_LIB) $(LIBS)

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS_ALL) -o $@ $< $(TEST_LIBS) $(LIBS)

$(BUILD)/tests/sim/%: $(BUILD)/obj/tests/sim/%.o $(BROKER_LIB)
	@mkdir -p $(dir $@)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS_ALL) -o $@ $< $(BROKER_LIB) $(LIBS)

$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS_ALL) -o $@ $< $(TEST_LIBS) $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS_ALL) -o $@ $< $(TEST_LIBS) $(LIBS) $(BENCH_LIBS)

PEER_BIN := $(patsubst bench/peers/%.c,$(BUILD)/bench/peers/%,$(wildcard bench/peers/*.c))
$(BUILD)/bench/peers/%: $(BUILD)/obj/bench/peers/%.o
	@mkdir -p $(dir $@)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS_ALL) -o $@ $< $(PEER_LIBS) -lpthread

$(BUILD)/examples/%: $(BUILD)/obj/examples/order-flow/%.o $(call obj,$(EXAMPLE_LIBSRC)) $(SDK_LIB)
	@mkdir -p $(dir $@)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS_ALL) -o $@ $< $(call obj,$(EXAMPLE_LIBSRC)) $(SDK_LIB) $(LIBS)

define streams_example
$(BUILD)/examples/$(1): $(BUILD)/obj/examples/$(1)/$(1).o $(SDK_LIB)
	@mkdir -p $$(dir $$@)
	$$(call quiet,LD,$$@)$$(CC) $$(LDFLAGS_ALL) -o $$@ $$< $$(SDK_LIB) $$(LIBS)
endef
$(foreach e,$(STREAMS_EXAMPLES),$(eval $(call streams_example,$(e))))

# The ASan+UBSan build: same sources, clang, its own tree.
asan:
	@$(MAKE) --no-print-directory -j$(JOBS) binaries BUILD=build/asan SAN=1 CC=clang

# The ThreadSanitizer build: the broker, its unit tests and the one integration test program
# the TSan pass runs (tests/run.sh's tsan_tests; the others run librdkafka in the test process,
# which TSan cannot follow). Benchmarks, examples and the single-threaded simulations are left
# out: they add time, not threads of the broker.
tsan:
	@$(MAKE) --no-print-directory -j$(JOBS) tsan-binaries BUILD=build/tsan SAN=thread CC=clang

tsan-binaries: $(WEIR) $(UNIT_BIN) $(BUILD)/tests/integration/test_sdk_schemas

# libFuzzer targets: tests/fuzz/fuzz_<name>.c, each linked with the broker sources.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
# The broker's sources are compiled once, with libFuzzer's coverage instrumentation, and each
# target is linked with those objects (compiling them again per target took most of the build).
FUZZ_CFLAGS := $(CSTD) $(WARN) -O1 -g -fno-omit-frame-pointer $(INC) \
	-fsanitize=address,undefined -fno-sanitize-recover=all -DWEIR_FUZZ=1
FUZZ_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(BROKER_SRC))
fuzz: $(FUZZ_BIN)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(call quiet,FUZZ,$@)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LIBS)
-include $(shell find build/fuzz/obj -name '*.d' 2>/dev/null)

run: deps
	@$(MAKE) --no-print-directory build
	@scripts/run.sh

demo-load: deps
	@$(MAKE) --no-print-directory build
	@scripts/demo-load.sh $(RATE) $(COUNT)

# Every tier against the release build, then ASan+UBSan, then ThreadSanitizer (the broker's
# unit and integration tests), then the fuzzers. Ends with one line "N passed, N failed" for
# the whole run.
test: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory tsan
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz
	@WEIR_TEST_JOBS=$${WEIR_TEST_JOBS:-2} tests/run.sh

# One pass over the release build only (for quick local iteration).
test-fast: deps
	@$(MAKE) --no-print-directory build
	@WEIR_TEST_PASSES=release WEIR_FUZZ_SECONDS=0 tests/run.sh

# `make bench PROFILE=sustained|tail-latency|steady` runs the steady-state profiles instead of
# the comparison (docs/bench.md); QUICK=1 shortens either.
bench: deps-bench
	@$(MAKE) --no-print-directory binaries $(PEER_BIN)
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build/nometrics EXTRA_CFLAGS=-DWEIR_METRICS_OFF \
		build/nometrics/weir
	@QUICK=$(QUICK) bench/run.sh $(if $(PROFILE),--$(PROFILE))

# `make install PREFIX=~/.local` (default /usr/local; DESTDIR for packaging): the weir command,
# libweir (static and shared, with the pkg-config file weir.pc), the embedded test broker
# (libweir-testbroker.a + libweir-broker.a, weir-testbroker.pc) and the public headers. It builds
# what is missing first; only this target (and deps/run/test) writes outside the tree.
PREFIX ?= /usr/local
INSTALL_LIBDIR = $(DESTDIR)$(PREFIX)/lib
install: build
	@scripts/install.sh "$(DESTDIR)" "$(PREFIX)" "$(BUILD)" "$(SDK_ABI)" "$(SDK_LINK)" "$(LIBS)"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/weir $(INSTALL_LIBDIR)/libweir.a \
		$(INSTALL_LIBDIR)/libweir.so $(INSTALL_LIBDIR)/libweir.so.$(SDK_ABI) \
		$(INSTALL_LIBDIR)/libweir-broker.a $(INSTALL_LIBDIR)/libweir-testbroker.a \
		$(INSTALL_LIBDIR)/pkgconfig/weir.pc $(INSTALL_LIBDIR)/pkgconfig/weir-testbroker.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/weir

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
