#!/usr/bin/env bash
# Measures custody seal / verify against pigz -1, ewfacquire and ewfverify on the shared 1 GiB corpus, the
# tools interleaved round after round, and writes medians, ratios against the issue's targets and peak RSS to
# Benchmarks/RESULTS-bundle.md.
#
# usage: Benchmarks/seal-compare.sh [RUNS]        (default 3 runs of every tool)
# env:   CORPUS (default /tmp/custody-corpus-1g.img), CUSTODY (default: build .build/release/custody),
#        WORK (scratch directory, default /tmp/custody-seal-bench), LEVEL (seal --level, default: custody's)
set -euo pipefail

RUNS=${1:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CORPUS=${CORPUS:-/tmp/custody-corpus-1g.img}
WORK=${WORK:-/tmp/custody-seal-bench}
RESULTS="$HERE/RESULTS-bundle.md"
LEVEL_ARGS=()
if [ -n "${LEVEL:-}" ]; then LEVEL_ARGS=(--level "$LEVEL"); fi

. "$HERE/lib.sh"
prepare pigz igzip openssl ewfacquire ewfverify python3 /usr/bin/time
"$CUSTODY" keygen --name bench --agency "Benchmark" --jurisdiction FR --out "$WORK/keys" --no-passphrase >/dev/null
"$CUSTODY" ledger init "$WORK/bench.ledger" --origin bench.example/custody --key "$WORK/keys/bench.key" >/dev/null

# The seal's CPU bound (issue 17): the CPU its digests and its deflate need at their single-core rates, measured
# here: sha256 and sha512 from `openssl speed`, ISA-L's deflate from one igzip thread (`igzip -1 -T 1`).
speed() { openssl speed -evp "$1" -bytes 1048576 -seconds 3 -mr 2>/dev/null | awk -F: '/^\+F:/ { print $4 }' | tail -1; }
SHA256_RATE=$(speed sha256)
SHA512_RATE=$(speed sha512)
/usr/bin/time -f "%U %S" -o "$WORK/igzip-cpu.txt" sh -c "igzip -1 -T 1 -c '$CORPUS' > /dev/null"
IGZIP_CPU=$(awk '{ print $1 + $2 }' "$WORK/igzip-cpu.txt")

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq 1 "$RUNS"); do
    echo "round $run of $RUNS"
    rm -rf "$WORK/bundle" "$WORK/p.gz" "$WORK"/e.E*
    measure custody-seal "$CUSTODY" seal --ledger "$WORK/bench.ledger" --key "$WORK/keys/bench.key" \
        --out "$WORK/bundle" --quiet "${LEVEL_ARGS[@]}" "$CORPUS"
    measure pigz-1 sh -c "pigz -1 -c '$CORPUS' > '$WORK/p.gz'"
    measure ewfacquire sh -c "ewfacquire -u -q -c deflate:fast -d sha256 -t '$WORK/e' '$CORPUS'"
    # custody writes the payload with O_DIRECT (nothing left in the page cache), ewfacquire through the page cache:
    # both outputs are read once so that both verifiers start from the page cache.
    cat "$WORK"/bundle/data/* "$WORK"/e.E* > /dev/null
    measure custody-verify "$CUSTODY" verify "$WORK/bundle" --quiet
    measure custody-verify-fast "$CUSTODY" verify "$WORK/bundle" --quiet --fast
    measure ewfverify ewfverify -q -d sha256 "$WORK/e.E01"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
BUNDLE_SIZE=$(du -sb "$WORK/bundle" | cut -f1)
PIGZ_SIZE=$(stat -c %s "$WORK/p.gz")
E01_SIZE=$(du -cb "$WORK"/e.E* | tail -1 | cut -f1)
if command -v bagit.py >/dev/null; then
    bagit.py --validate --fast "$WORK/bundle" 2>&1 | tail -1
fi

BENCH_HERE="$HERE" python3 - "$TIMES" "$RESULTS" "$CORPUS" "$RUNS" "$BUNDLE_SIZE" "$PIGZ_SIZE" "$E01_SIZE" "$LOAD_BEFORE" \
    "$LOAD_AFTER" "$(uname -srm)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "$SHA256_RATE" "$SHA512_RATE" "$IGZIP_CPU" "$("$CUSTODY" --version | tail -1)" <<'EOF'
import os, sys, datetime
sys.path.insert(0, os.environ['BENCH_HERE'])
import benchstats
times, results, corpus, runs, bsize, psize, esize, load_before, load_after, system, cpu_model = sys.argv[1:12]
sha256_rate, sha512_rate, igzip_cpu, engines = float(sys.argv[12]), float(sys.argv[13]), float(sys.argv[14]), sys.argv[15]
bsize, psize, esize = int(bsize), int(psize), int(esize)
med, rss, cpu = benchstats.load(times)
size = os.path.getsize(corpus)
pairs = [
    ("custody seal vs pigz -1 -c", "pigz-1", "custody-seal", 3.5),
    ("custody seal vs ewfacquire -c deflate:fast -d sha256", "ewfacquire", "custody-seal", 8.0),
    ("custody verify (full) vs ewfverify -d sha256", "ewfverify", "custody-verify", 3.5),
]
out = benchstats.header("custody seal / verify benchmark", f"Benchmarks/seal-compare.sh {runs}", corpus, runs, load_before, load_after, machine=f"{system}, {cpu_model}")
out.append("Commands (one round):\n")
out.append("```")
out.append("custody seal --ledger L --key K --out BUNDLE --quiet CORPUS")
out.append("pigz -1 -c CORPUS > p.gz")
out.append("ewfacquire -u -q -c deflate:fast -d sha256 -t e CORPUS")
out.append("custody verify BUNDLE --quiet")
out.append("custody verify BUNDLE --quiet --fast")
out.append("ewfverify -q -d sha256 e.E01")
out.append("```\n")
out += benchstats.tool_table([(k, size) for k in ["custody-seal", "pigz-1", "ewfacquire", "custody-verify", "custody-verify-fast", "ewfverify"]], med, cpu, rss)
out.append("")
out += benchstats.speedup_table(pairs, med, cpu)
# The CPU bound: the content's tree and sha256, the packed bytes' sha256 and sha512 (the manifests), and the
# deflate, at the single-core rates measured in this run, over the cores.
packed = bsize
bound = (2 * size / sha256_rate + packed / sha256_rate + packed / sha512_rate + igzip_cpu) / os.cpu_count()
out.append(f"| custody seal wall / CPU bound ({bound:.2f} s) | {med['custody-seal'] / bound:.2f}x | | <= 1.3x | "
           f"{'yes' if med['custody-seal'] / bound <= 1.3 else 'NO'} |")
out.append("")
out.append(f"CPU bound: (2 x {size} B / sha256 {sha256_rate / 1e9:.2f} GB/s + {packed} B / sha256 + {packed} B / "
           f"sha512 {sha512_rate / 1e9:.2f} GB/s + igzip -1 -T 1 {igzip_cpu:.2f} CPU s) / {os.cpu_count()} cores = "
           f"{bound:.2f} s (`openssl speed -evp ALG -bytes 1048576`, one igzip thread over the corpus). "
           f"Engines (`custody --version`): {engines}.")
out.append("")
out.append(f"Sizes: bundle {bsize} bytes (payload, manifests, leaf lists, tag files), pigz -1 {psize}, E01 {esize}. "
           "custody seal packs (custody gzip, level 1), computes the tree digest and sha256 of the content and "
           "sha256 + sha512 of the packed bytes for the BagIt manifests in the same read, appends and signs ledger "
           "entries, writes the tag files and fsyncs the whole bag before renaming it into place; pigz and "
           "ewfacquire do not fsync. custody verify checks the manifests (sha256 + sha512 of every payload file), "
           "the tag manifests, the seal, the ledger excerpt and proofs, and decompresses every item and re-hashes "
           "it (tree + sha256); before the verify runs both outputs are read once (`cat > /dev/null`) so that both verifiers read from the page cache (custody writes its payload with O_DIRECT, which leaves nothing cached; the E01 is written through the cache); the manifest hashing and the unpacking of an item run concurrently (two reads of the payload file, the second from the page cache); `--fast` skips only the decompression.")
open(results, "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
