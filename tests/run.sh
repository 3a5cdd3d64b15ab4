#!/usr/bin/env bash
# The test runner. Runs every tier against the release build, then again against the ASan+UBSan
# build, then the broker's unit and integration tests against the ThreadSanitizer build, then
# the fuzzers, and ends with one line "N passed, N failed".
#
# Each test is a program (tests/unit, tests/sim, tests/integration/*.c built by make) or a script
# (tests/integration/*.sh, *.py, *.mjs). Tests print TAP lines ("ok N - name", "not ok N - name");
# a program that exits non-zero without printing a "not ok" counts as one failure.
#
#   WEIR_TEST_PASSES="release asan tsan"   which builds to test (default all three)
#   WEIR_TEST_FILTER=regex            only tests whose path matches
#   WEIR_FUZZ_SECONDS=60              time per fuzz target, two targets at a time (0: none)
#   WEIR_TEST_TIMEOUT=300             seconds a test may run before it is killed and named as hung
#                                     (a test's first line may say "# timeout: N" to need more)
#   WEIR_COMPAT_TARGET=kafka          run tests/compat against Apache Kafka instead of Weir
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
passes=${WEIR_TEST_PASSES:-release asan tsan}
filter=${WEIR_TEST_FILTER:-.}
fuzz_seconds=${WEIR_FUZZ_SECONDS:-60}
test_timeout=${WEIR_TEST_TIMEOUT:-300}
tsan_tests='unit/test_(base|metric|trace|batch|codec|compact|consumer_group|epoch|flusher|group|io_sim|kafka|log|net|offsets|producer|segment)|sim/|integration/test_(admin_(protocol|client|api)|broker_(kcat|protocol|python|badinput|restart|retention)|group_(admin|static|kcat|crash|kafkajs|protocol)|console_browser|layers|metrics|tracing)'

logdir=$top/build/test-logs
mkdir -p "$logdir"
total_pass=0
total_fail=0
failed_names=()
hung_names=()

# The time a test may take: WEIR_TEST_TIMEOUT, or more if its source asks ("# timeout: N" in
# its first five lines), scaled for the slower sanitizer build.
limit_for() { # source file
    local n
    n=$(head -5 "$1" 2>/dev/null | sed -n 's/.*timeout: *\([0-9][0-9]*\).*/\1/p' | head -1)
    n=${n:-$test_timeout}
    ((n < test_timeout)) && n=$test_timeout
    [[ ${WEIR_PASS:-} == asan ]] && n=$((n * 2))
    [[ ${WEIR_PASS:-} == tsan ]] && n=$((n * 3))
    echo "$n"
}

# Runs one test, its output to its log and "rc seconds" to the log's .rc file (no counting: a
# test run in the background (the fuzzers) is counted afterwards by report_one).
exec_one() { # pass label, source file (for its time limit), command...
    local pass=$1 name=$2 src=$3
    shift 3
    local log="$logdir/$pass-$(echo "$name" | tr '/' '_').log"
    local t0=$SECONDS limit
    limit=$(limit_for "$src")
    # timeout runs it in a process group of its own and kills the whole group.
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1 </dev/null
    local rc=$?
    if ((rc == 124 || rc == 137)); then
        echo "not ok - $name HUNG: killed after ${limit}s (WEIR_TEST_TIMEOUT)" >>"$log"
        echo "# hung" >>"$log"
    fi
    echo "$rc $((SECONDS - t0))" >"$log.rc"
}

# Counts and prints what exec_one recorded for one test.
report_one() { # pass label, name
    local pass=$1 name=$2
    local log="$logdir/$pass-$(echo "$name" | tr '/' '_').log"
    local rc secs ok notok
    read -r rc secs <"$log.rc"
    ok=$(grep -cE '^ok [0-9]+' "$log")
    notok=$(grep -cE '^not ok [0-9]+' "$log")
    if grep -q '^not ok - .* HUNG: ' "$log"; then
        notok=$((notok + 1))
        hung_names+=("$pass:$name")
    fi
    if ((rc != 0 && notok == 0)); then notok=1; fi
    if ((ok == 0 && notok == 0)); then ok=1; fi
    total_pass=$((total_pass + ok))
    total_fail=$((total_fail + notok))
    local status=PASS
    if ((notok > 0)); then
        status=FAIL
        failed_names+=("$pass:$name")
    fi
    printf '%-4s %-7s %-50s %4d ok %3d failed %4ds\n' "$status" "$pass" "$name" "$ok" "$notok" \
        "$secs"
    if [[ $status == FAIL ]]; then
        grep -E '^not ok|failed|error|ERROR|Assertion|Sanitizer|runtime error' "$log" | head -20 |
            sed 's/^/     | /'
        echo "     | (full log: $log)"
    fi
}

run_one() { # pass label, source file (for its time limit), command...
    exec_one "$@"
    report_one "$1" "$2"
}

for pass in $passes; do
    case $pass in
    release) build=$top/build ;;
    asan) build=$top/build/asan ;;
    tsan) build=$top/build/tsan ;;
    *) echo "unknown pass $pass"; exit 2 ;;
    esac
    export WEIR_BUILD=$build WEIR_BIN=$build/weir WEIR_PASS=$pass
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
    pass_filter=.
    # ThreadSanitizer: the broker's own threads. Tests that run librdkafka inside the test
    # process are left out (librdkafka is not instrumented, and TSan crashes in its threads).
    [[ $pass == tsan ]] && pass_filter=${WEIR_TSAN_FILTER:-$tsan_tests}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    for t in "$build"/tests/unit/* "$build"/tests/sim/*; do
        [[ -x $t && ! -d $t ]] || continue
        name=${t#"$build"/}
        [[ $name =~ $filter && $name =~ $pass_filter ]] || continue
        run_one "$pass" "$name" "$name.c" "$t"
    done
    for t in tests/integration/*; do
        name=$t
        [[ $name =~ $filter && $name =~ $pass_filter ]] || continue
        case $t in
        *.sh) run_one "$pass" "$name" "$t" bash "$t" ;;
        *.py) run_one "$pass" "$name" "$t" /usr/bin/python3 "$t" ;;
        *.mjs) run_one "$pass" "$name" "$t" node "$t" ;;
        *.c)
            # A C program is a test of its own unless a script of the same name drives it.
            base=${t%.c}
            [[ -e $base.sh || -e $base.py || -e $base.mjs ]] && continue
            run_one "$pass" "$name" "$t" "$build/tests/integration/$(basename "$base")"
            ;;
        esac
    done
    # tests/compat: Kafka 4.x's own clients, tools and Streams, franz-go, Sarama, the newest
    # librdkafka, and the differential run against Apache Kafka. JVM, Go and venv clients find
    # nothing more under ASan than in the release pass, so they run in the release pass only.
    [[ $pass == release || -n ${WEIR_COMPAT_ALL_PASSES:-} ]] || continue
    for t in tests/compat/test_*; do
        name=$t
        [[ $name =~ $filter ]] || continue
        case $t in
        *.sh) run_one "$pass" "$name" "$t" bash "$t" ;;
        *.py) run_one "$pass" "$name" "$t" "$top/build/compat/venv/bin/python" "$t" ;;
        esac
    done
done

# The fuzzers, two at a time (one per core), each for fuzz_seconds.
fuzz_one() { # fuzz/fuzz_x
    local name=$1 corpus work
    corpus=tests/fuzz/corpus/${name#fuzz/fuzz_}
    work=$(mktemp -d)
    [[ -d $corpus ]] && cp -r "$corpus"/. "$work"/ 2>/dev/null
    exec_one fuzz "$name" "tests/$name.c" "build/$name" -max_total_time="$fuzz_seconds" \
        -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 -print_final_stats=1 "$work"
    rm -rf "$work"
}
if ((fuzz_seconds > 0)); then
    fuzzers=()
    for f in build/fuzz/fuzz_*; do
        [[ -x $f ]] || continue
        name=${f#build/}
        [[ $name =~ $filter ]] && fuzzers+=("$name")
    done
    for ((i = 0; i < ${#fuzzers[@]}; i += 2)); do
        fuzz_one "${fuzzers[i]}" &
        [[ -n ${fuzzers[i + 1]:-} ]] && fuzz_one "${fuzzers[i + 1]}" &
        wait
        report_one fuzz "${fuzzers[i]}"
        [[ -n ${fuzzers[i + 1]:-} ]] && report_one fuzz "${fuzzers[i + 1]}"
    done
fi

if ((${#failed_names[@]})); then
    echo "failed: ${failed_names[*]}"
fi
if ((${#hung_names[@]})); then
    echo "hung (killed at their time limit): ${hung_names[*]}"
fi
echo "$total_pass passed, $total_fail failed"
((total_fail == 0))
