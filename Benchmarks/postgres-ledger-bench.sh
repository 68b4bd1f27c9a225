#!/usr/bin/env bash
# PostgreSQL ledger store benchmark (issue 18): builds Benchmarks/PostgresLedgerBench in release, starts a
# throw-away PostgreSQL cluster (initdb in a temporary folder, as the postgres user when run as root; Unix socket
# only; fsync and synchronous_commit on, the defaults), runs the benchmark for ENTRIES entries (default 200000) with
# SECONDS per append run (default 20) and writes the figures, the machine and the command to RESULTS-postgres.md.
set -euo pipefail
cd "$(dirname "$0")"
entries=${1:-200000}
seconds=${2:-20}
(cd PostgresLedgerBench && swift build -c release >/dev/null)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir=$(mktemp -d /tmp/custody-pg-bench.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$dir"
trap 'as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-c listen_addresses='' -k $dir -c max_connections=100" \
    start >/dev/null </dev/null
url="postgres://postgres@/postgres?host=$dir"
work=$(mktemp -d)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
output=$(PostgresLedgerBench/.build/release/PostgresLedgerBench "$url" "$entries" "$seconds" "$work")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$work"
{
    echo "# PostgreSQL ledger store benchmark results"
    echo
    echo "Measured $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs,"
    echo "$("$pg_bin/postgres" --version), server and benchmark on the same machine (Unix socket). Load average before:"
    echo "$load_before, after: $load_after (other jobs shared the machine)."
    echo
    echo "Command: \`Benchmarks/postgres-ledger-bench.sh $entries $seconds\`"
    echo
    echo '```'
    echo "$output"
    echo '```'
} > RESULTS-postgres.md
cat RESULTS-postgres.md
