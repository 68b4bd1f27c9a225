#!/usr/bin/env bash
# Measures collection bundles (issue 15) against the peers, page-cached, the tools interleaved round after round:
#   custody seal TREE                  vs  hashdeep -r -c md5,sha256 TREE            (target: seal <= 2.0x)
#   custody verify BUNDLE              vs  bagit.py --validate --processes 2 BUNDLE  (target: verify <= 1.0x)
#                                      and hashdeep -a -k KNOWN -r TREE              (target: verify <= 2.0x)
# with peak RSS (target <= 256 MiB), and writes medians and ratios to Benchmarks/RESULTS-collection.md. With
# MILLION=1, also seals, verifies, transfers and receives a 1,000,000-file tree of small files once each (time and
# peak RSS; make-tree --small, about 6 GB in /tmp).
#
# usage: Benchmarks/collection-compare.sh [RUNS] [FILES]      (default 3 runs, 100000 files)
# env:   TREE (default /tmp/custody-tree-FILES), CUSTODY (default: build .build/release/custody), WORK (scratch,
#        default /tmp/custody-collection-bench), MILLION=1, BIG_TREE (default /tmp/custody-tree-1m), KEEP=1
set -euo pipefail

RUNS=${1:-3}
FILES=${2:-100000}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TREE=${TREE:-/tmp/custody-tree-$FILES}
WORK=${WORK:-/tmp/custody-collection-bench}
RESULTS="$HERE/RESULTS-collection.md"
CORPUS="$HERE/make-tree"

. "$HERE/lib.sh"
prepare hashdeep bagit.py python3 /usr/bin/time age
python3 "$HERE/make-tree" "$TREE" "$FILES"
TREE_BYTES=$(du -sb --apparent-size "$TREE" | cut -f1)
find "$TREE" -type f -print0 | xargs -0 cat > /dev/null

# Two agencies: FR seals and sends, DE receives (keys without passphrases, in WORK).
for agency in fr de; do
    "$CUSTODY" keygen --name "$agency" --agency "Agency $agency" --jurisdiction "$(echo $agency | tr a-z A-Z)" \
        --out "$WORK/keys" --no-passphrase > /dev/null
    "$CUSTODY" ledger init "$WORK/$agency.ledger" --origin "$agency.example/custody" --key "$WORK/keys/$agency.key" \
        > /dev/null
done
"$CUSTODY" trust add "$WORK/fr-trust.json" de --key "$WORK/keys/de.pub" --jurisdiction DE --agency "Agency de" \
    --recipient "$(cat "$WORK/keys/de.recipient")" > /dev/null
"$CUSTODY" trust add "$WORK/de-trust.json" fr --key "$WORK/keys/fr.pub" --jurisdiction FR --agency "Agency fr" \
    > /dev/null
SEAL=("$CUSTODY" seal --ledger "$WORK/fr.ledger" --key "$WORK/keys/fr.key" --quiet --out)
hashdeep -r -c md5,sha256 "$TREE" > "$WORK/known.txt"

# A fresh output folder per round, the previous one deleted a round earlier: ext4 scans for recently deleted
# inodes when it creates files right after a mass deletion (recently_deleted in the kernel's profile).
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq 1 "$RUNS"); do
    echo "round $run of $RUNS"
    measure custody-seal "${SEAL[@]}" "$WORK/bundle-$run" "$TREE"
    measure hashdeep-md5-sha256 hashdeep -r -c md5,sha256 "$TREE"
    measure custody-verify "$CUSTODY" verify --quiet "$WORK/bundle-$run"
    measure bagit-validate bagit.py --validate --processes 2 "$WORK/bundle-$run"
    measure hashdeep-audit hashdeep -a -k "$WORK/known.txt" -r "$TREE"
    if [ "$run" -gt 1 ]; then rm -rf "$WORK/bundle-$((run - 1))"; fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

MILLION_LINES=""
if [ "${MILLION:-0}" = 1 ]; then
    rm -rf "$WORK"/bundle-*
    BIG="${BIG_TREE:-/tmp/custody-tree-1m}"
    echo "writing the 1,000,000-file tree (make-tree --small) in $BIG"
    python3 "$HERE/make-tree" --small "$BIG" 1000000
    BIG_BYTES=$(du -sb --apparent-size "$BIG" | cut -f1)
    TIMES_MAIN="$TIMES"
    TIMES="$WORK/times-million.tsv"
    : > "$TIMES"
    measure seal-1m "${SEAL[@]}" "$WORK/big" "$BIG"
    measure verify-1m "$CUSTODY" verify --quiet "$WORK/big"
    measure transfer-1m "$CUSTODY" transfer "$WORK/big" --to de --trust "$WORK/fr-trust.json" \
        --ledger "$WORK/fr.ledger" --key "$WORK/keys/fr.key" --out "$WORK/big.age" --quiet
    measure receive-1m "$CUSTODY" receive "$WORK/big.age" --identity "$WORK/keys/de.age" \
        --ledger "$WORK/de.ledger" --key "$WORK/keys/de.key" --out "$WORK/received" --trust "$WORK/de-trust.json" \
        --quiet
    measure hashdeep-1m hashdeep -r -c md5,sha256 "$BIG"
    MILLION_LINES="$(cat "$TIMES")
bytes $BIG_BYTES"
    TIMES="$TIMES_MAIN"
    rm -rf "$WORK/big" "$WORK/big.age" "$WORK/received"
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$BIG"; fi
fi

BENCH_HERE="$HERE" python3 - "$TIMES" "$RESULTS" "$TREE" "$FILES" "$TREE_BYTES" "$RUNS" "$LOAD_BEFORE" \
    "$LOAD_AFTER" "$(uname -srm)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "$MILLION_LINES" "$("$CUSTODY" --version | head -1)" <<'EOF'
import datetime
import os
import sys
sys.path.insert(0, os.environ['BENCH_HERE'])
import benchstats
times, results, tree, files, tree_bytes, runs, load_before, load_after, system, cpu_model, million, version = \
    sys.argv[1:13]
files, tree_bytes = int(files), int(tree_bytes)
med, rss, cpu = benchstats.load(times)
out = [f"# Collection bundles benchmark (issue 15)\n",
       f"Generated by `Benchmarks/collection-compare.sh {runs} {files}` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} "
       f"UTC; {system}, {cpu_model}, {os.cpu_count()} CPUs; `{version}` (release build); tree `{tree}` from "
       f"`Benchmarks/make-tree {tree} {files}` ({files} files, {tree_bytes} bytes, page-cached); median of {runs} "
       f"interleaved runs; wall-clock seconds, CPU seconds (user + sys), peak RSS from `/usr/bin/time -f %M`. Load "
       f"average (1, 5, 15 min) before: {load_before}; after: {load_after}.\n",
       "Commands (one round):\n", "```",
       "custody seal --ledger L --key K --quiet --out BUNDLE TREE",
       "hashdeep -r -c md5,sha256 TREE",
       "custody verify --quiet BUNDLE",
       "bagit.py --validate --processes 2 BUNDLE",
       "hashdeep -a -k KNOWN -r TREE",
       "```\n",
       "| tool | median wall s | files/s | MB/s | median CPU s | peak RSS KiB |",
       "|---|---:|---:|---:|---:|---:|"]
for name in ["custody-seal", "hashdeep-md5-sha256", "custody-verify", "bagit-validate", "hashdeep-audit"]:
    out.append(f"| {name} | {med[name]:.2f} | {files / med[name]:.0f} | {tree_bytes / med[name] / 1e6:.0f} | "
               f"{cpu[name]:.2f} | {rss[name]} |")
out.append("")
out.append("| target | custody / peer (wall) | custody / peer (CPU) | target | met |")
out.append("|---|---:|---:|---:|---|")
for label, mine, peer, target in [("seal vs hashdeep -r -c md5,sha256", "custody-seal", "hashdeep-md5-sha256", 2.0),
                                  ("verify vs bagit.py --validate --processes 2", "custody-verify", "bagit-validate", 1.0),
                                  ("verify vs hashdeep -a", "custody-verify", "hashdeep-audit", 2.0)]:
    ratio = med[mine] / med[peer]
    out.append(f"| {label} | {ratio:.2f}x | {cpu[mine] / cpu[peer]:.2f}x | <= {target}x | "
               f"{'yes' if ratio <= target else 'NO'} |")
peak = max(rss["custody-seal"], rss["custody-verify"])
out.append(f"| custody peak RSS | {peak} KiB | | <= 262144 KiB | {'yes' if peak <= 262144 else 'NO'} |")
if million.strip():
    lines = million.strip().splitlines()
    big_bytes = int(lines[-1].split()[1])
    out.append("")
    out.append(f"One run each over a 1,000,000-file tree of small files (`make-tree --small`, {big_bytes} bytes):\n")
    out.append("| step | wall s | files/s | CPU s | peak RSS KiB | within 256 MiB |")
    out.append("|---|---:|---:|---:|---:|---|")
    for line in lines[:-1]:
        name, wall, peak_rss, user, system_s = line.split()
        out.append(f"| {name} | {float(wall):.2f} | {1e6 / float(wall):.0f} | {float(user) + float(system_s):.2f} | "
                   f"{peak_rss} | {'yes' if int(peak_rss) <= 262144 else 'NO'} |")
open(results, "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
