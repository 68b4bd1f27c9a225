#!/usr/bin/env bash
# Read-path overhead of acquisition: custody bench stages with the bad-sector layer (ResilientReader) on and
# off, and custody hash (plain reader) for reference, on the 1 GiB corpus and a 16 GiB sparse file.
#
# usage: Benchmarks/acquire-compare.sh [WORKDIR]
#   env: CUSTODY=path/to/custody (default: builds .build/release/custody)
#        REPS=3 (runs per mode, alternated; best and median reported)
#        STAGES=read,tree,sha256,seal (corpus)   SPARSE_STAGES=read,tree,sha256 (sparse file)
#        CORPUS_SIZE=1G  SPARSE_SIZE=16G   SKIP_SPARSE=1 to skip the sparse file
# Inputs are read once beforehand so every mode reads from the page cache (this measures CPU-side overhead,
# which is what the layer could add; device speed is the same for both modes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-${TMPDIR:-/tmp}/custody-acquire-bench}
reps=${REPS:-3}
stages=${STAGES:-read,tree,sha256,seal}
mkdir -p "$work"

if [[ -z "${CUSTODY:-}" ]]; then
    (cd "$here" && swift build -c release --product custody >/dev/null)
    CUSTODY="$here/.build/release/custody"
fi

corpus="$work/corpus-${CORPUS_SIZE:-1G}.img"
if [[ ! -s "$corpus" ]]; then
    make_corpus="$here/../shared/bench/make-corpus"
    [[ -x "$make_corpus" ]] || { echo "missing $make_corpus" >&2; exit 2; }
    "$make_corpus" "$corpus" "${CORPUS_SIZE:-1G}"
fi
inputs=("$corpus")
if [[ -z "${SKIP_SPARSE:-}" ]]; then
    sparse="$work/sparse-${SPARSE_SIZE:-16G}.img"
    [[ -e "$sparse" ]] || truncate -s "${SPARSE_SIZE:-16G}" "$sparse"
    inputs+=("$sparse")
fi

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
"$CUSTODY" bench --synthetic 1M --stages read --json | python3 -c '
import json, sys; m = json.load(sys.stdin)["machine"]
print("machine: %s cores, %s (%s), features %s" % (m["cores"], m.get("cpuModel"), m["architecture"], ",".join(m["features"])))'
echo "custody: $CUSTODY; $reps runs per mode, alternated; load average: $(cut -d' ' -f1-3 /proc/loadavg)"

for input in "${inputs[@]}"; do
    input_stages=$stages
    [[ "$input" == "$corpus" ]] || input_stages=${SPARSE_STAGES:-read,tree,sha256}
    cat "$input" > /dev/null
    results="$work/results-$(basename "$input").jsonl"
    : > "$results"
    for ((i = 0; i < reps; i++)); do
        for mode in resilient plain; do
            flag=(); [[ $mode == plain ]] && flag=(--plain-reader)
            "$CUSTODY" bench "$input" --stages "$input_stages" --seconds 0 --json --quiet "${flag[@]}" \
                | python3 -c 'import json,sys; d=json.load(sys.stdin); d["mode"]=sys.argv[1]; print(json.dumps(d))' "$mode" \
                >> "$results"
        done
        start=$(date +%s.%N)
        "$CUSTODY" hash -a tree,sha256 --quiet "$input" > /dev/null
        end=$(date +%s.%N)
        python3 -c 'import json,sys; print(json.dumps({"mode":"hash","seconds":float(sys.argv[1])-float(sys.argv[2]),"size":int(sys.argv[3])}))' \
            "$end" "$start" "$(stat -c %s "$input")" >> "$results"
    done
    python3 - "$results" "$input" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print()
print("input: %s" % sys.argv[2])
print("| stage | resilient MB/s best (median) | plain MB/s best (median) | difference of best |")
print("|---|---:|---:|---:|")
stages = [s["stage"] for s in rows[0]["stages"]]
for stage in stages:
    best, median = {}, {}
    for mode in ("resilient", "plain"):
        values = [s["bytesPerSecond"] / 1e6 for r in rows if r["mode"] == mode for s in r["stages"]
                  if s["stage"] == stage]
        best[mode], median[mode] = max(values), statistics.median(values)
    diff = (best["resilient"] - best["plain"]) / best["plain"] * 100
    print("| %s | %.1f (%.1f) | %.1f (%.1f) | %+.1f%% |" % (stage, best["resilient"], median["resilient"],
                                                          best["plain"], median["plain"], diff))
hashes = [r["size"] / r["seconds"] / 1e6 for r in rows if r["mode"] == "hash"]
print("| custody hash -a tree,sha256 (plain reader, whole process) | | %.1f (%.1f) | |"
      % (max(hashes), statistics.median(hashes)))
PY
done
