# Shared helpers for the *-compare.sh benchmark scripts; source it after setting WORK and TIMES.

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
