#!/usr/bin/env bash
# Compares custody's age v1 implementation with the age command on the same 1 GiB corpus, in the same run:
# encryption and decryption, medians of 3 runs each, interleaved (custody, age, custody, age...).
# Output files go to OUTDIR (default /tmp), removed and `sync`ed before every run so that each tool starts
# from the same page-cache state. Target (issue 6): custody >= 1.5x age's throughput for both directions.
#
# usage: Benchmarks/age-compare.sh [CORPUS] [RUNS]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
corpus="${1:-/tmp/custody-corpus-1g.img}"
runs="${2:-3}"
outdir="${OUTDIR:-/tmp}"
work="$(mktemp -d "$outdir/custody-age-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

command -v age >/dev/null || { echo "age-compare: the age command is not installed (apt install age)" >&2; exit 2; }
if [ ! -f "$corpus" ]; then
    python3 "$here/../../shared/bench/make-corpus" "$corpus" 1G
fi

if ! build_log=$(cd "$here/age-bench" && swift build -c release 2>&1); then
    echo "$build_log" >&2
    exit 2
fi
bench="$here/age-bench/.build/release/age-bench"
"$bench" keygen "$work/id.age" "$work/id.recipient"
recipient="$(cat "$work/id.recipient")"
size=$(stat -c %s "$corpus")

# Prints the wall-clock seconds of one command; its CPU time (user + system) goes to $work/cpu.log.
seconds() {
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -a -o "$work/cpu.log" "$@" 2>/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

fresh() { rm -f "$@"; sync; }

declare -a ce=() ae=() cd=() ad=()
# Reference ciphertexts, so each decryption reads a file of its own tool.
fresh "$work/ref-custody.age" "$work/ref-age.age"
"$bench" encrypt "$work/id.recipient" "$corpus" "$work/ref-custody.age" 2>/dev/null
age -r "$recipient" -o "$work/ref-age.age" "$corpus"
for i in $(seq "$runs"); do
    fresh "$work/out.age"; ce+=("$(seconds "$bench" encrypt "$work/id.recipient" "$corpus" "$work/out.age")")
    fresh "$work/out.age"; ae+=("$(seconds age -r "$recipient" -o "$work/out.age" "$corpus")")
    fresh "$work/out.bin"; cd+=("$(seconds "$bench" decrypt "$work/id.age" "$work/ref-custody.age" "$work/out.bin")")
    fresh "$work/out.bin"; ad+=("$(seconds age -d -i "$work/id.age" -o "$work/out.bin" "$work/ref-age.age")")
done
# Cross-check: each tool's output opens with the other tool and gives back the corpus.
cmp -s <(age -d -i "$work/id.age" "$work/ref-custody.age") "$corpus" || { echo "age cannot open custody's file" >&2; exit 1; }
fresh "$work/out.bin"
"$bench" decrypt "$work/id.age" "$work/ref-age.age" "$work/out.bin" 2>/dev/null
cmp -s "$work/out.bin" "$corpus" || { echo "custody cannot open age's file" >&2; exit 1; }

report() {
    local name="$1" ours="$2" theirs="$3"
    local ours_rate theirs_rate ratio
    ours_rate=$(echo "$size / $ours / 1048576" | bc -l)
    theirs_rate=$(echo "$size / $theirs / 1048576" | bc -l)
    ratio=$(echo "$theirs / $ours" | bc -l)
    printf '| %s | %.3f s (%.0f MiB/s) | %.3f s (%.0f MiB/s) | %.2fx | %s |\n' "$name" "$ours" "$ours_rate" \
        "$theirs" "$theirs_rate" "$ratio" "$(echo "$ratio >= 1.5" | bc -l | sed 's/1/met/;s/0/NOT met/')"
}

echo "corpus: $corpus ($size bytes), $runs runs each, medians; outputs in $outdir"
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average at end:" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "all runs (s): custody encrypt ${ce[*]} | age encrypt ${ae[*]} | custody decrypt ${cd[*]} | age decrypt ${ad[*]}"
echo "CPU seconds (user system) per run, in the order custody-enc age-enc custody-dec age-dec:" \
    "$(tr '\n' ',' < "$work/cpu.log")"
echo
echo "| operation | custody | age $(age --version) | speed-up | target 1.5x |"
echo "| --- | --- | --- | --- | --- |"
report encrypt "$(median "${ce[@]}")" "$(median "${ae[@]}")"
report decrypt "$(median "${cd[@]}")" "$(median "${ad[@]}")"
