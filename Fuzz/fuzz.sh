#!/usr/bin/env bash
# custody's fuzz targets (README.md here and RESULTS.md).
#
#   fuzz.sh list                                 the targets, one a line
#   fuzz.sh build [--debug]                      build the fuzz binary (release by default)
#   fuzz.sh run [--seconds N] [--debug] [TARGET...]
#                                                build, then fuzz each target (all when none named) for N seconds
#                                                (default 60); print executions, coverage and findings per target;
#                                                exit 1 on any crash, hang (-timeout, 10 s) or out-of-memory (2 GB)
#   fuzz.sh repro TARGET FILE...                 run the target once on each file (a crash, a regression input)
#
# Inputs worth keeping go to .work/TARGET/corpus (not checked in); findings to .work/TARGET/findings/.
# Seeds are Corpus/TARGET (checked in, rebuilt by make-seeds.sh); dictionaries Dictionaries/TARGET.dict.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

configuration=release
seconds=60
command=${1:-}
[ $# -gt 0 ] && shift

# libFuzzer without its main: the binary's Swift `main` calls LLVMFuzzerRunDriver (README.md says why).
swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
fuzzer_lib=$(ls "$swift_bin"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1)

build() {
    if [ -z "$fuzzer_lib" ]; then
        echo "fuzz.sh: libclang_rt.fuzzer_no_main-x86_64.a not found beside $swift_bin" >&2
        exit 2
    fi
    # Re-plan every time: a cached build plan misses files added to the root package (its path dependency).
    swift build -c "$configuration" --disable-build-manifest-caching \
        -Xswiftc -sanitize=address \
        -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table \
        -Xswiftc -use-ld=lld \
        -Xlinker "$fuzzer_lib" -Xlinker -lstdc++ \
        2>&1 | grep -v -e 'Cannot export local symbol' -e '^\[' >&2 || true
    binary="$here/.build/$configuration/CustodyFuzz"
    if [ ! -x "$binary" ] || [ -n "$(find Sources ../Sources -name '*.swift' -newer "$binary" | head -1)" ]; then
        echo "fuzz.sh: the build failed (swift build -c $configuration above)" >&2
        exit 2
    fi
}

# The Swift runtime's backtracer would catch a crash first and wait on the dying process: let ASan and libFuzzer
# report it. Leak checks stay on (ASan's default on Linux).
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}

targets() { "$binary" --list | cut -f1; }

case "$command" in
list)
    binary="$here/.build/$configuration/CustodyFuzz"
    [ -x "$binary" ] || build
    targets
    ;;
build)
    [ "${1:-}" = "--debug" ] && configuration=debug
    build
    ;;
repro)
    build
    target=$1; shift
    "$binary" --target="$target" -runs=1 "$@"
    ;;
run)
    named=()
    while [ $# -gt 0 ]; do
        case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --seconds=*) seconds=${1#--seconds=}; shift ;;
        --debug) configuration=debug; shift ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) named+=("$1"); shift ;;
        esac
    done
    build
    known=$(targets)
    [ ${#named[@]} -eq 0 ] && mapfile -t named <<< "$known"
    for target in "${named[@]}"; do
        grep -qx -- "$target" <<< "$known" || { echo "fuzz.sh: no target named $target (fuzz.sh list)" >&2; exit 2; }
    done
    failed=0
    printf '%-22s %12s %8s %8s %8s %9s  %s\n' target executions exec/s cov ft corpus findings
    for target in "${named[@]}"; do
        work=".work/$target"
        mkdir -p "$work/corpus" "$work/findings"
        dictionary=()
        [ -f "Dictionaries/$target.dict" ] && dictionary=(-dict="Dictionaries/$target.dict")
        before=$(ls "$work/findings" | wc -l)
        status=0
        "$binary" --target="$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/findings/" \
            "${dictionary[@]}" "$work/corpus" "Corpus/$target" > "$work/last.log" 2>&1 || status=$?
        executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/last.log" | tail -1)
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/last.log" | tail -1)
        progress=$(grep -E '^#[0-9]+' "$work/last.log" | tail -1)
        cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$progress")
        ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$progress")
        corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<< "$progress")
        found=$(( $(ls "$work/findings" | wc -l) - before ))
        verdict=none
        if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
            failed=1
            verdict="$(grep -m1 -E '^SUMMARY|^==[0-9]+== ERROR|invariant broken|ERROR: libFuzzer' "$work/last.log" \
                || echo "exit status $status")"
            verdict="$verdict; input in $work/findings, log $work/last.log"
        fi
        printf '%-22s %12s %8s %8s %8s %9s  %s\n' "$target" "${executions:-?}" "${speed:-?}" "${cov:-?}" \
            "${ft:-?}" "${corpus:-?}" "$verdict"
    done
    exit $failed
    ;;
*)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
