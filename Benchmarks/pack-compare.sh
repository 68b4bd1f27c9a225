#!/usr/bin/env bash
# Measures custody pack / unpack against pigz -1, gzip -dc | sha256sum, ewfacquire and ewfverify on the
# shared 1 GiB corpus, in one run (the tools interleaved, round after round), and writes the medians, the
# ratios against the issue's targets and peak RSS to Benchmarks/RESULTS-pack.md.
#
# usage: Benchmarks/pack-compare.sh [RUNS]        (default 3 runs of every tool)
# env:   CORPUS (default /tmp/custody-corpus-1g.img), CUSTODY (default: build .build/release/custody),
#        WORK (scratch directory, default /tmp/custody-pack-bench)
set -euo pipefail

RUNS=${1:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CORPUS=${CORPUS:-/tmp/custody-corpus-1g.img}
WORK=${WORK:-/tmp/custody-pack-bench}
RESULTS="$HERE/RESULTS-pack.md"

. "$HERE/lib.sh"
prepare pigz igzip gzip sha256sum ewfacquire ewfverify python3 /usr/bin/time

SHA=$(sha256sum "$CORPUS" | cut -d' ' -f1)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq 1 "$RUNS"); do
    echo "round $run of $RUNS"
    rm -f "$WORK/c.gz" "$WORK/z.gz" "$WORK/p.gz" "$WORK/i.gz" "$WORK"/e.E01
    measure custody-pack "$CUSTODY" pack "$CORPUS" "$WORK/c.gz" --quiet
    measure custody-pack-zlib env CUSTODY_ZLIB_ONLY=1 "$CUSTODY" pack "$CORPUS" "$WORK/z.gz" --quiet
    measure pigz-1 sh -c "pigz -1 -c '$CORPUS' > '$WORK/p.gz'"
    measure igzip-1-T2 sh -c "igzip -1 -T 2 -c '$CORPUS' > '$WORK/i.gz'"
    measure ewfacquire sh -c "ewfacquire -u -q -c deflate:fast -d sha256 -t '$WORK/e' '$CORPUS'"
    TREE=$("$CUSTODY" hash -a tree --format json "$CORPUS" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree"])')
    # custody writes with O_DIRECT (nothing left in the page cache), ewfacquire through the page cache: both outputs
    # are read once so that every reader below starts from the page cache.
    cat "$WORK/c.gz" "$WORK"/e.E* > /dev/null
    measure custody-unpack "$CUSTODY" unpack "$WORK/c.gz" /dev/null --quiet --expect-sha256 "$SHA" --expect-tree "$TREE"
    measure custody-unpack-zlib env CUSTODY_ZLIB_ONLY=1 "$CUSTODY" unpack "$WORK/c.gz" /dev/null --quiet \
        --expect-sha256 "$SHA" --expect-tree "$TREE"
    measure gzip-dc-sha256sum sh -c "gzip -dc '$WORK/c.gz' | sha256sum"
    measure ewfverify ewfverify -q -d sha256 "$WORK/e.E01"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
CUSTODY_SIZE=$(stat -c %s "$WORK/c.gz")
PIGZ_SIZE=$(stat -c %s "$WORK/p.gz")
IGZIP_SIZE=$(stat -c %s "$WORK/i.gz")
E01_SIZE=$(du -cb "$WORK"/e.E* | tail -1 | cut -f1)
gzip -t "$WORK/c.gz"
[ "$(gzip -dc "$WORK/c.gz" | sha256sum | cut -d' ' -f1)" = "$SHA" ] || { echo "gzip -dc digest differs" >&2; exit 1; }

BENCH_HERE="$HERE" python3 - "$TIMES" "$RESULTS" "$CORPUS" "$RUNS" "$CUSTODY_SIZE" "$PIGZ_SIZE" "$E01_SIZE" "$LOAD_BEFORE" \
    "$LOAD_AFTER" "$IGZIP_SIZE" "$("$CUSTODY" --version | tail -1)" <<'EOF'
import os, sys, datetime
sys.path.insert(0, os.environ['BENCH_HERE'])
import benchstats
times, results, corpus, runs, csize, psize, esize, load_before, load_after, isize, engines = sys.argv[1:12]
csize, psize, esize, isize = int(csize), int(psize), int(esize), int(isize)
med, rss, cpu = benchstats.load(times)
size = os.path.getsize(corpus)
pairs = [
    ("custody pack (level 1, tree + sha256) vs pigz -1", "pigz-1", "custody-pack", 4.0),
    ("custody pack vs igzip -1 -T 2", "igzip-1-T2", "custody-pack", 1.0),
    ("custody pack vs ewfacquire -c deflate:fast -d sha256", "ewfacquire", "custody-pack", 4.0),
    ("custody pack (ISA-L) vs custody pack (zlib)", "custody-pack-zlib", "custody-pack", 1.0),
    ("custody unpack (verified) vs ewfverify -d sha256", "ewfverify", "custody-unpack", 2.0),
    ("custody unpack (verified) vs gzip -dc \\| sha256sum", "gzip-dc-sha256sum", "custody-unpack", 1.5),
]
out = benchstats.header("custody pack / unpack benchmark", f"Benchmarks/pack-compare.sh {runs}", corpus, runs, load_before, load_after)
out += benchstats.tool_table([(k, size) for k in ["custody-pack", "custody-pack-zlib", "pigz-1", "igzip-1-T2", "ewfacquire", "custody-unpack", "custody-unpack-zlib", "gzip-dc-sha256sum", "ewfverify"]], med, cpu, rss)
out.append("")
out += benchstats.speedup_table(pairs, med, cpu)
ratio = csize / psize
out.append(f"| output size custody / pigz -1 ({csize} / {psize} bytes) | {ratio:.3f} | | <= 1.0 | "
           f"{'yes' if ratio <= 1.0 else 'NO'} |")
out.append("")
out.append(f"Engines (`custody --version`): {engines}. igzip -1 -T 2 output: {isize} bytes.")
out.append("")
out.append(f"E01 size: {esize} bytes. custody pack writes and fsyncs its output; pigz and ewfacquire do not fsync.")
out.append("Before the reading runs, custody's output and the E01 are read once (`cat > /dev/null`): custody writes "
           "with O_DIRECT, which leaves nothing in the page cache, where the E01 is written through it.")
out.append("custody unpack writes to /dev/null and checks CRC-32, ISIZE, every member header, the leaf hashes "
           "(tree digest) and the sha256 against --expect-tree / --expect-sha256.")
open(results, "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
