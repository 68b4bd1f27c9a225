#!/usr/bin/env bash
# custody serve benchmark (issue 18): appends from 16 concurrent clients for DURATION s, tile reads with wrk, two
# servers on one ledger file, and kill -9 under load. Needs the release binary (swift build -c release --product
# custody in the package root), wrk, python3 with cryptography. Prints the figures; RESULTS-serve.md records them.
# usage: Benchmarks/ServeBench/serve-bench.sh [DURATION=60] [BODIES=240000] [WORK=$TMPDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
custody=${CUSTODY:-$root/.build/release/custody}
duration=${1:-60}
bodies=${2:-240000}
work=$(mktemp -d "${3:-${TMPDIR:-/tmp}}/serve-bench.XXXXXX")
origin=bench.example/log
officers=()
cd "$work"
echo "work: $work; binary: $custody"
"$custody" keygen --name logkey --agency Bench --jurisdiction FR --out keys --no-passphrase >/dev/null
for i in $(seq 0 15); do
    "$custody" keygen --name "officer$i" --agency Bench --jurisdiction FR --out keys --no-passphrase >/dev/null
    "$custody" trust add trust.json "officer$i" --key "keys/officer$i.identity.json" >/dev/null
    officers+=("officer$i")
done

start_server() { # LEDGER -> sets url, pid
    "$custody" serve --ledger "$1" --listen 127.0.0.1:0 --key keys/logkey.key --trust trust.json \
        --officer-rate 100000 --officer-burst 100000 > "serve-$$-$RANDOM.out" 2>/dev/null &
    pid=$!
    local out
    for _ in $(seq 100); do
        out=$(cat serve-$$-*.out 2>/dev/null | grep -o 'http://[0-9.:]*' | tail -1 || true)
        [ -n "$out" ] && break
        sleep 0.1
    done
    rm -f serve-$$-*.out
    url=$out
}

check_log() { # LEDGER ACKED_FILES... : every acknowledged nonce is in the log; verify passes
    local ledger=$1; shift
    "$custody" ledger export "$ledger" | grep -o '"nonce":"[0-9a-f]*"' | cut -d'"' -f4 | sort > in-log.txt
    cat "$@" | sort > acked.txt
    echo "entries in the log: $(wc -l < in-log.txt); acknowledged: $(wc -l < acked.txt);" \
        "acknowledged but missing: $(comm -23 acked.txt in-log.txt | wc -l);" \
        "duplicates in the log: $(uniq -d in-log.txt | wc -l)"
    "$custody" ledger verify "$ledger" --trust trust.json | tail -1
}

echo "== pre-signing $bodies submissions with python cryptography"
python3 "$here/presign.py" "$origin" bodies 2 "$bodies" keys "${officers[@]}"

echo "== appends: 16 connections (clients), $duration s, one serve process"
"$custody" ledger init one.ledger --origin "$origin" --key keys/logkey.key >/dev/null
start_server one.ledger
wrk -t2 -c16 -d"${duration}s" --timeout 10s --latency -s "$here/add.lua" "$url" -- bodies acked-one | \
    grep -E 'Requests/sec|Latency|thread|p50|Non-2xx|Socket errors|requests in'
kill "$pid"; wait "$pid" || true
check_log one.ledger acked-one-*.txt

echo "== tile reads: wrk 2 threads, 64 connections, 20 s: a full level-0 tile, a full entry bundle, the checkpoint"
start_server one.ledger
wrk -t2 -c64 -d20s --latency "$url/tile/0/000" | grep -E 'Requests/sec|Latency|Non-2xx|requests in'
wrk -t2 -c64 -d20s --latency "$url/tile/entries/000" | grep -E 'Requests/sec|Latency|Non-2xx|requests in'
wrk -t2 -c64 -d10s "$url/checkpoint" | grep -E 'Requests/sec|Non-2xx'
kill "$pid"; wait "$pid" || true

echo "== two serve processes on one ledger file, 8 connections each, $duration s"
python3 "$here/presign.py" "$origin" bodies-a 1 "$((bodies / 2))" keys "${officers[@]:0:8}"
python3 "$here/presign.py" "$origin" bodies-b 1 "$((bodies / 2))" keys "${officers[@]:8:8}"
"$custody" ledger init two.ledger --origin "$origin" --key keys/logkey.key >/dev/null
start_server two.ledger; url_a=$url; pid_a=$pid
start_server two.ledger; url_b=$url; pid_b=$pid
wrk -t1 -c8 -d"${duration}s" --timeout 10s --latency -s "$here/add.lua" "$url_a" -- bodies-a acked-a > wrk-a.txt &
wrk_a=$!
wrk -t1 -c8 -d"${duration}s" --timeout 10s --latency -s "$here/add.lua" "$url_b" -- bodies-b acked-b > wrk-b.txt
wait "$wrk_a" || true
grep -E 'Requests/sec|thread|p50|Non-2xx' wrk-a.txt wrk-b.txt
kill "$pid_a" "$pid_b"; wait "$pid_a" "$pid_b" || true
check_log two.ledger acked-a-*.txt acked-b-*.txt

echo "== kill -9 of serve in the middle of the load"
python3 "$here/presign.py" "$origin" bodies-k 2 "$bodies" keys "${officers[@]}"
"$custody" ledger init kill.ledger --origin "$origin" --key keys/logkey.key >/dev/null
start_server kill.ledger
wrk -t2 -c16 -d"${duration}s" --timeout 2s -s "$here/add.lua" "$url" -- bodies-k acked-k > wrk-k.txt 2>&1 &
wrk_pid=$!
sleep "$((duration / 2))"
kill -9 "$pid"
echo "killed serve (pid $pid) with SIGKILL after $((duration / 2)) s"
wait "$wrk_pid" || true
start_server kill.ledger
curl -s "$url/checkpoint" | head -2 | tr '\n' ' '; echo "(checkpoint after restart)"
kill "$pid"; wait "$pid" || true
check_log kill.ledger acked-k-*.txt
rm -rf "$work"
