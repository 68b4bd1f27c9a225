#!/usr/bin/env bash
# Sorts the ThreadSanitizer reports in a test log (README, development section): a report whose two accesses are
# both in code inside a Synchronization.Mutex withLock closure (the nearest enclosing `withLock {` in the source,
# at most 12 lines above the reported line) is the contended-Mutex false positive that tsan-mutex-contention.swift
# reproduces; any other report is printed whole and makes the exit status 1.
set -euo pipefail
log=${1:?usage: tsan-triage.sh TEST-LOG}
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 - "$log" "$root" <<'PY'
import re, sys
log, root = sys.argv[1], sys.argv[2]
text = open(log, errors="replace").read()
reports = re.split(r"^WARNING: ThreadSanitizer: ", text, flags=re.M)[1:]
def in_with_lock(stack):
    for path, line in re.findall(r"(/\S+/(?:Sources|Tests)/\S+\.swift):(\d+)", stack):
        try:
            lines = open(path, errors="replace").read().split("\n")
        except OSError:
            return False
        start = int(line) - 1
        return any("withLock" in lines[i] for i in range(max(0, start - 12), start + 1))
    return False
explained, unexplained = 0, []
for report in reports:
    body = re.split(r"^  (?:Location is|Mutex |Thread T|SUMMARY)", report, flags=re.M)[0]
    parts = re.split(r"^  Previous ", body, flags=re.M)
    if len(parts) == 2 and in_with_lock(parts[0]) and in_with_lock(parts[1]):
        explained += 1
    else:
        unexplained.append(report[:3000])
print(f"{len(reports)} ThreadSanitizer reports: {explained} on state inside Mutex.withLock on both sides "
      f"(the contended-Mutex false positive), {len(unexplained)} other")
for report in unexplained:
    print("WARNING: ThreadSanitizer: " + report)
sys.exit(1 if unexplained else 0)
PY
