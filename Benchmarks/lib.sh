# Shared helpers for the *-compare.sh benchmark scripts; source it after setting ROOT, CORPUS and WORK.

# prepare TOOL...: stops (exit 2) naming the first TOOL not installed; writes the corpus if it is missing; builds
# custody unless CUSTODY names a binary; empties WORK and the timing file TIMES (WORK/times.tsv).
prepare() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$(basename "$0" .sh): $tool is not installed" >&2; exit 2; }
    done
    if [ ! -f "$CORPUS" ]; then
        python3 "$ROOT/../shared/bench/make-corpus" "$CORPUS" 1G
    fi
    if [ -z "${CUSTODY:-}" ]; then
        (cd "$ROOT" && swift build -c release --product custody >/dev/null)
        CUSTODY="$ROOT/.build/release/custody"
    fi
    rm -rf "$WORK"
    mkdir -p "$WORK"
    TIMES="$WORK/times.tsv"
    : > "$TIMES"
}

# measure NAME COMMAND...: runs COMMAND under /usr/bin/time (output discarded) after a sync, appends
# "NAME wall_s maxrss_kb user_s sys_s" to $TIMES and prints it; a failing command stops the script (exit 2).
measure() {
    local name=$1
    shift
    sync
    /usr/bin/time -f "%e %M %U %S" -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || {
        echo "$(basename "$0" .sh): $name failed:" >&2
        cat "$WORK/stderr.txt" >&2
        exit 2
    }
    echo "$name $(tail -1 "$WORK/time.txt")" >> "$TIMES"
    echo "  $name: $(tail -1 "$WORK/time.txt") (wall s, KB, user s, sys s)"
}
