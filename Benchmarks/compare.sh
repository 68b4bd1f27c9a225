#!/usr/bin/env bash
# Measures custody against its peers on a page-cached corpus and checks the project's performance targets.
#
# usage: Benchmarks/compare.sh [SECTION...]      sections: hash (default: all)
# environment: N (repetitions, default 5), CUSTODY (a binary to measure; default: build .build/release/custody),
#              CUSTODY_BENCH_CORPUS (default /tmp/custody-corpus-1g.img),
#              CUSTODY_BENCH_SPARSE (default /tmp/custody-sparse-16g.img), CUSTODY_SKIP_BUILD=1
#
# Each section is a function `section_NAME` that measures with `measure` and states targets with `target`;
# add pack/unpack (vs pigz, ewfacquire), seal, age... the same way and list them in SECTIONS.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-5}
CORPUS=${CUSTODY_BENCH_CORPUS:-/tmp/custody-corpus-1g.img}
SPARSE=${CUSTODY_BENCH_SPARSE:-/tmp/custody-sparse-16g.img}
NONZERO=${CUSTODY_BENCH_NONZERO:-/tmp/custody-keystream-1g.img}
CORES=$(nproc)
CUSTODY_GIVEN=${CUSTODY:-}
CUSTODY=${CUSTODY:-"$ROOT/.build/release/custody"}
SECTIONS=(hash)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

declare -A SECONDS_OF RSS_OF
RESULTS=()
FAILURES=0

# --- helpers -------------------------------------------------------------------------------------------------

have() { command -v "$1" >/dev/null 2>&1; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure NAME COMMAND...: runs COMMAND N times (stdout discarded); records the median wall time in seconds and
# the median peak RSS in KiB (from /usr/bin/time -f %M).
measure() {
    local name=$1; shift
    local times=() rss=() i start end
    for ((i = 0; i < N; i++)); do
        start=$(date +%s%N)
        /usr/bin/time -f %M -o "$WORK/rss" "$@" >/dev/null
        end=$(date +%s%N)
        times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
        rss+=("$(tail -1 "$WORK/rss")")
    done
    SECONDS_OF[$name]=$(printf '%s\n' "${times[@]}" | median)
    RSS_OF[$name]=$(printf '%s\n' "${rss[@]}" | median)
    printf '  %-34s %8.3f s  %8.2f GB/s  %7d KiB RSS\n' "$name" "${SECONDS_OF[$name]}" \
        "$(rate "$name" "${MEASURE_FILE:-$CORPUS}")" "${RSS_OF[$name]}"
}

size_of() { stat -c %s "$1"; }

# rate NAME [FILE]: GB/s (10^9 bytes) of a measured run over FILE (default the corpus).
rate() { awk -v s="$(size_of "${2:-$CORPUS}")" -v t="${SECONDS_OF[$1]}" 'BEGIN { printf "%.3f", s / t / 1e9 }'; }

# target DESCRIPTION VALUE OP LIMIT: records PASS/FAIL for VALUE OP LIMIT (OP is >= or <=).
target() {
    local description=$1 value=$2 op=$3 limit=$4 verdict
    if awk -v v="$value" -v l="$limit" -v op="$op" 'BEGIN { exit !((op == ">=") ? v >= l : v <= l) }'; then
        verdict=PASS
    else
        verdict=FAIL
        FAILURES=$((FAILURES + 1))
    fi
    RESULTS+=("$(printf '| %-62s | %10s | %2s %-10s | %s |' "$description" "$value" "$op" "$limit" "$verdict")")
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# --- setup ---------------------------------------------------------------------------------------------------

build_custody() {
    if [[ ${CUSTODY_SKIP_BUILD:-0} != 1 && -z $CUSTODY_GIVEN ]]; then
        (cd "$ROOT" && swift build -c release --product custody >/dev/null)
    fi
    [[ -x $CUSTODY ]] || { echo "compare.sh: $CUSTODY missing (swift build -c release)" >&2; exit 2; }
}

make_inputs() {
    if [[ ! -f $CORPUS ]]; then
        python3 "$ROOT/../shared/bench/make-corpus" "$CORPUS" 1G
    fi
    if [[ ! -f $NONZERO ]]; then
        head -c 1073741824 /dev/zero \
            | openssl enc -aes-128-ctr -nosalt -K 00112233445566778899aabbccddeeff -iv 0 > "$NONZERO"
    fi
    if [[ ! -f $SPARSE ]]; then
        truncate -s 16G "$SPARSE"
    fi
}

warm_cache() {
    cat "$CORPUS" >/dev/null
    cat "$CORPUS" >/dev/null
    cat "$NONZERO" >/dev/null
}

machine() {
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cores:   $CORES"
    echo "cpu:     $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "sha ext: $(grep -o -m1 -w -e sha_ni -e sha /proc/cpuinfo | head -1 || echo none)"
    echo "openssl: $(openssl version)"
    echo "load:    $(cut -d" " -f1-3 /proc/loadavg) (1, 5, 15 min load average when the run started)"
    echo "corpus:  $CORPUS ($(size_of "$CORPUS") bytes), sparse: $SPARSE ($(size_of "$SPARSE") bytes), N=$N"
}

# --- sections ------------------------------------------------------------------------------------------------

section_hash() {
    echo "== hash: custody hash vs openssl, sha256sum, b3sum, hashdeep (medians of $N)"
    local single_rate
    single_rate=$(openssl speed -evp sha256 -bytes 1048576 -seconds 3 -mr 2>/dev/null \
        | awk -F: '/^\+F:/ { print $4 }' | tail -1)
    printf '  %-34s %8.3f GB/s per core, x %d cores = %.3f GB/s\n' "openssl speed -evp sha256 (1 MiB)" \
        "$(awk -v r="$single_rate" 'BEGIN { print r / 1e9 }')" "$CORES" \
        "$(awk -v r="$single_rate" -v c="$CORES" 'BEGIN { print r * c / 1e9 }')"

    local algorithm
    for algorithm in tree sha256 md5 sha1 sha512; do
        measure "custody -a $algorithm" "$CUSTODY" hash -q -a "$algorithm" "$CORPUS"
    done
    measure "custody -a all five" "$CUSTODY" hash -q -a tree,md5,sha1,sha256,sha512 "$CORPUS"
    measure "openssl dgst -sha256" openssl dgst -sha256 "$CORPUS"
    measure "sha256sum" sha256sum "$CORPUS"
    if have b3sum; then measure "b3sum" b3sum "$CORPUS"; fi
    if have hashdeep; then measure "hashdeep -c sha256" hashdeep -c sha256 "$CORPUS"; fi

    # The corpus has 229 all-zero chunks, whose leaf hash is known without hashing; the same measure on input
    # with no zero chunk (deterministic AES-CTR keystream) shows the engine on hashing alone.
    MEASURE_FILE=$NONZERO measure "custody -a tree, no zero chunks" "$CUSTODY" hash -q -a tree "$NONZERO"
    local nonzero_rate
    nonzero_rate=$(rate "custody -a tree, no zero chunks" "$NONZERO")
    echo "  tree alone without zero chunks: $(ratio "$nonzero_rate" \
        "$(awk -v r="$single_rate" -v c="$CORES" 'BEGIN { printf "%.3f", r * c / 1e9 }')") of the limit (information)"

    local limit tree_rate sum slowest expected all
    limit=$(awk -v r="$single_rate" -v c="$CORES" 'BEGIN { printf "%.3f", r * c / 1e9 }')
    tree_rate=$(rate "custody -a tree")
    target "tree alone / (cores x openssl speed sha256)" "$(ratio "$tree_rate" "$limit")" ">=" 0.85
    target "sha256 alone / openssl dgst -sha256 throughput" \
        "$(ratio "${SECONDS_OF[openssl dgst -sha256]}" "${SECONDS_OF[custody -a sha256]}")" ">=" 0.95
    target "sha256 alone / sha256sum throughput" \
        "$(ratio "${SECONDS_OF[sha256sum]}" "${SECONDS_OF[custody -a sha256]}")" ">=" 4
    sum=0
    slowest=0
    for algorithm in tree md5 sha1 sha256 sha512; do
        sum=$(awk -v a="$sum" -v b="${SECONDS_OF[custody -a $algorithm]}" 'BEGIN { print a + b }')
        slowest=$(awk -v a="$slowest" -v b="${SECONDS_OF[custody -a $algorithm]}" 'BEGIN { print (b > a) ? b : a }')
    done
    expected=$(awk -v s="$sum" -v m="$slowest" -v c="$CORES" 'BEGIN { x = s / c; printf "%.4f", (m > x) ? m : x }')
    all=${SECONDS_OF[custody -a all five]}
    echo "  all five in one pass: ${all} s; max(slowest single ${slowest} s, sum ${sum} s / ${CORES}) = ${expected} s"
    target "all five wall / max(slowest single, sum of singles / cores)" "$(ratio "$all" "$expected")" "<=" 1.2

    local bound_kib=$(((64 + 4 * 1 * CORES) * 1024))
    target "peak RSS KiB, all five, 1 GiB corpus (64M + 4 x 1M x cores)" "${RSS_OF[custody -a all five]}" "<=" \
        "$bound_kib"
    local saved=$N
    N=1
    # The default algorithms (tree,sha256): the buffer pool is the same whatever is computed, and all five over
    # 16 GiB would take minutes.
    MEASURE_FILE=$SPARSE measure "custody (tree,sha256), 16 GiB sparse" "$CUSTODY" hash -q "$SPARSE"
    N=$saved
    target "peak RSS KiB, tree+sha256, 16 GiB sparse (64M + 4 x 1M x cores)" \
        "${RSS_OF[custody (tree,sha256), 16 GiB sparse]}" "<=" "$bound_kib"
}

# --- main ----------------------------------------------------------------------------------------------------

main() {
    local requested=("$@")
    [[ ${#requested[@]} -gt 0 ]] || requested=("${SECTIONS[@]}")
    build_custody
    make_inputs
    warm_cache
    machine
    local section
    for section in "${requested[@]}"; do
        "section_$section"
    done
    echo
    printf '| %-62s | %10s | %-13s | %s |\n' "target" "measured" "required" "verdict"
    printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..64})" "$(printf -- '-%.0s' {1..12})" \
        "$(printf -- '-%.0s' {1..15})" "---------"
    printf '%s\n' "${RESULTS[@]}"
    echo
    echo "$FAILURES target(s) failed"
    [[ $FAILURES -eq 0 ]]
}

main "$@"
