#!/usr/bin/env bash
# Ledger benchmark (issue 4): builds Benchmarks/LedgerBench in release, runs it for N entries (default 1,000,000)
# and writes the figures, the machine and the commands to Benchmarks/RESULTS-ledger.md.
set -euo pipefail
cd "$(dirname "$0")"
entries=${1:-1000000}
work=${2:-${TMPDIR:-/tmp}}
(cd LedgerBench && swift build -c release >/dev/null)
cores=$(nproc)
speed=$(openssl speed -seconds 5 ed25519 2>/dev/null | awk '/Ed25519/ {print $(NF)}')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log=$(mktemp)
LedgerBench/.build/release/LedgerBench "$entries" "$work" | tee "$log"
output=$(cat "$log")
rm -f "$log"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
result=$(echo "$output" | grep '^RESULT')
verify_seconds=$(echo "$result" | sed 's/.*verify_seconds=\([0-9.]*\).*/\1/')
budget=$(awk -v n="$entries" -v s="$speed" -v c="$cores" 'BEGIN { printf "%.2f", n / (s * c) }')
ratio=$(awk -v v="$verify_seconds" -v b="$budget" 'BEGIN { printf "%.2f", v / b }')
{
    echo "# Ledger benchmark results"
    echo
    echo "Measured $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $cores CPUs,"
    echo "$(free -g | awk '/Mem:/ {print $2}') GiB RAM, work directory $work ($(df -h "$work" | awk 'NR==2 {print $1}')). Load average before: $load_before, after: $load_after"
    echo "(other jobs shared the machine)."
    echo
    echo "Commands: \`Benchmarks/ledger-bench.sh $entries $work\` (runs \`openssl speed -seconds 5 ed25519\` and"
    echo "\`Benchmarks/LedgerBench/.build/release/LedgerBench $entries $work\`, all through the library in one process)."
    echo
    echo '```'
    echo "$output"
    echo "openssl speed ed25519: $speed verify/s per core x $cores cores"
    echo "verify budget ($entries / (openssl verify/s x cores)): $budget s; measured $verify_seconds s = ${ratio}x"
    echo '```'
} > RESULTS-ledger.md
cat RESULTS-ledger.md
