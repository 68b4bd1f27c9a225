#!/usr/bin/env bash
# Measures `custody disclose` and `custody verify` of a disclosure (issue 16), page-cached, interleaved round after
# round with the copy of the same bytes:
#   custody disclose COLLECTION --item P1 ... --item P10   vs  cp of those 10 payload files, then sync
#   custody disclose IMAGE-BUNDLE --range disk.img:8G-9G-1  vs  dd conv=fsync of those 1 GiB of payload
# (target <= 2.0x each; the peers sync because disclose makes its output durable before it reports it)
#   custody verify of each disclosure (its time should follow the disclosed bytes, not the bundle)
# The collection is make-tree --small with FILES files; the image is a 16 GiB sparse file whose GiB from 8 GiB is
# random (so the range is stored, not compressed), sealed as a collection of one file. Writes
# Benchmarks/RESULTS-disclose.md.
#
# usage: Benchmarks/disclose-compare.sh [RUNS] [FILES]      (default 3 runs, 100000 files)
# env:   TREE (default /tmp/custody-tree-small-FILES), IMAGE_DIR (default /tmp/custody-disclose-bench-src/image),
#        CUSTODY (default: build .build/release/custody), WORK (default /tmp/custody-disclose-bench)
set -euo pipefail

RUNS=${1:-3}
FILES=${2:-100000}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TREE=${TREE:-/tmp/custody-tree-small-$FILES}
IMAGE_DIR=${IMAGE_DIR:-/tmp/custody-disclose-bench-src/image}
WORK=${WORK:-/tmp/custody-disclose-bench}
RESULTS="$HERE/RESULTS-disclose.md"
CORPUS="$HERE/make-tree"

. "$HERE/lib.sh"
prepare python3 /usr/bin/time dd
python3 "$HERE/make-tree" --small "$TREE" "$FILES"
if [ ! -f "$IMAGE_DIR/disk.img" ]; then
    mkdir -p "$IMAGE_DIR"
    truncate -s 16G "$IMAGE_DIR/disk.img"
    dd if=/dev/urandom of="$IMAGE_DIR/disk.img" bs=4M seek=2048 count=256 conv=notrunc,sparse status=none
fi

"$CUSTODY" keygen --name fr --agency "Agency fr" --jurisdiction FR --out "$WORK/keys" --no-passphrase > /dev/null
"$CUSTODY" ledger init "$WORK/fr.ledger" --origin fr.example/custody --key "$WORK/keys/fr.key" > /dev/null
SEAL=("$CUSTODY" seal --ledger "$WORK/fr.ledger" --key "$WORK/keys/fr.key" --quiet --out)
echo "sealing the collection and the image (once)"
measure seal-collection "${SEAL[@]}" "$WORK/collection" "$TREE"
measure seal-image "${SEAL[@]}" "$WORK/image" "$IMAGE_DIR"
TREE_BASE=$(basename "$TREE")
IMAGE_BASE=$(basename "$IMAGE_DIR")

# Ten stored files spread over the collection, by their record's path and payload.
python3 - "$WORK/collection/custody/items.jsonl" "$WORK/picked.txt" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
files = [r for r in records if "payload" in r and "path" in r]
picked = [files[i * len(files) // 10] for i in range(10)]
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for r in picked:
        out.write(r["path"] + "\t" + r["payload"] + "\n")
PY
ITEMS=()
PAYLOADS=()
while IFS=$'\t' read -r item payload; do
    ITEMS+=(--item "$item")
    PAYLOADS+=("$WORK/collection/$payload")
done < "$WORK/picked.txt"
TEN_BYTES=$(cat "${PAYLOADS[@]}" | wc -c)

# The stored bytes of the range: members 8192..9215 of the image payload (1 MiB chunks), found by hopping headers.
read -r RANGE_OFFSET RANGE_LENGTH < <(python3 - "$WORK/image/data/$IMAGE_BASE/disk.img.gz" <<'PY'
import struct, sys
offset, index, start = 0, 0, None
with open(sys.argv[1], "rb") as f:
    while True:
        f.seek(offset)
        header = f.read(32)
        size, = struct.unpack("<I", header[20:24])
        if index == 8192:
            start = offset
        if index == 9216:
            print(start, offset - start)
            break
        offset += size
        index += 1
PY
)
DISCLOSE=("$CUSTODY" disclose --ledger "$WORK/fr.ledger" --key "$WORK/keys/fr.key" --quiet)
# Everything the rounds read, in the page cache first (as for the peers).
cat "$WORK/collection/custody/items.jsonl" "$WORK/collection/manifest-sha256.txt" > /dev/null
dd if="$WORK/image/data/$IMAGE_BASE/disk.img.gz" bs=4M iflag=skip_bytes,count_bytes skip="$RANGE_OFFSET" \
    count="$RANGE_LENGTH" of=/dev/null status=none

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq 1 "$RUNS"); do
    echo "round $run of $RUNS"
    measure disclose-10-items "${DISCLOSE[@]}" "$WORK/collection" --out "$WORK/ten-$run" "${ITEMS[@]}"
    mkdir -p "$WORK/cp-$run"
    measure cp-10-payloads sh -c 'cp "$@" && sync -f "$0"' "$WORK/cp-$run" "${PAYLOADS[@]}" "$WORK/cp-$run/"
    measure verify-10-items "$CUSTODY" verify --quiet "$WORK/ten-$run"
    measure disclose-1g-range "${DISCLOSE[@]}" "$WORK/image" --out "$WORK/range-$run" \
        --range "$IMAGE_BASE/disk.img:8589934592-9663676415"
    measure dd-1g-payload dd if="$WORK/image/data/$IMAGE_BASE/disk.img.gz" of="$WORK/dd-$run" bs=4M \
        iflag=skip_bytes,count_bytes skip="$RANGE_OFFSET" count="$RANGE_LENGTH" conv=fsync status=none
    measure verify-1g-range "$CUSTODY" verify --quiet "$WORK/range-$run"
    rm -rf "$WORK/ten-$run" "$WORK/cp-$run" "$WORK/range-$run" "$WORK/dd-$run"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
COLLECTION_VERIFY=""
if [ "${FULL_VERIFY:-1}" = 1 ]; then
    measure verify-whole-collection "$CUSTODY" verify --quiet "$WORK/collection"
fi

BENCH_HERE="$HERE" python3 - "$TIMES" "$RESULTS" "$TREE" "$FILES" "$RUNS" "$LOAD_BEFORE" "$LOAD_AFTER" \
    "$(uname -srm)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "$("$CUSTODY" --version | head -1)" "$TEN_BYTES" "$RANGE_LENGTH" <<'PY'
import datetime, os, sys
sys.path.insert(0, os.environ['BENCH_HERE'])
import benchstats
(times, results, tree, files, runs, load_before, load_after, system, cpu_model, version, ten_bytes,
 range_bytes) = sys.argv[1:13]
med, rss, cpu = benchstats.load(times)
out = ["# Disclosure benchmark (issue 16)\n",
       f"Generated by `Benchmarks/disclose-compare.sh {runs} {files}` on {datetime.datetime.utcnow():%Y-%m-%d %H:%M} "
       f"UTC; {system}, {cpu_model}, {os.cpu_count()} CPUs; `{version}` (release build). Collection: `make-tree "
       f"--small {tree} {files}` sealed once; image: a 16 GiB sparse file whose GiB from 8 GiB is random, sealed once "
       f"(as a collection of one file, 1 MiB chunks). Page-cached; median of {runs} interleaved runs; wall-clock "
       f"seconds, CPU seconds (user + sys), peak RSS from `/usr/bin/time -f %M`. Load average before: "
       f"{load_before}; after: {load_after}.\n",
       "Commands (one round):\n", "```",
       "custody disclose COLLECTION --out SUB --item P1 ... --item P10 --ledger L --key K --quiet",
       "cp PAYLOAD1 ... PAYLOAD10 DIR/ && sync -f DIR   (the same 10 payload files, "
       f"{int(ten_bytes)} bytes)",
       "custody verify --quiet SUB",
       "custody disclose IMAGE --out SUB --range image/disk.img:8589934592-9663676415 --ledger L --key K --quiet",
       f"dd if=PAYLOAD of=OUT bs=4M iflag=skip_bytes,count_bytes skip=OFFSET count={int(range_bytes)} conv=fsync   "
       "(the covering members)",
       "custody verify --quiet SUB",
       "```\n",
       "| step | median wall s | median CPU s | peak RSS KiB |", "|---|---:|---:|---:|"]
for name in ["seal-collection", "seal-image", "disclose-10-items", "cp-10-payloads", "verify-10-items",
             "disclose-1g-range", "dd-1g-payload", "verify-1g-range", "verify-whole-collection"]:
    if name in med:
        out.append(f"| {name} | {med[name]:.3f} | {cpu[name]:.2f} | {rss[name]} |")
out += ["", "| target | ratio | target | met |", "|---|---:|---:|---|"]
for label, mine, peer in [("disclose 10 items vs cp of their payloads", "disclose-10-items", "cp-10-payloads"),
                          ("disclose 1 GiB range vs dd of its members", "disclose-1g-range", "dd-1g-payload")]:
    if med[peer] < 0.01:
        out.append(f"| {label} | {med[mine]:.2f} s vs < 0.01 s | <= 2.0x | NO |")
        continue
    ratio = med[mine] / med[peer]
    out.append(f"| {label} | {ratio:.2f}x | <= 2.0x | {'yes' if ratio <= 2.0 else 'NO'} |")
if "verify-whole-collection" in med:
    out.append(f"| verify of the 10-item disclosure vs verify of the whole collection | "
               f"{med['verify-10-items'] / med['verify-whole-collection']:.4f}x | proportional to the disclosed bytes "
               f"| |")
open(results, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
