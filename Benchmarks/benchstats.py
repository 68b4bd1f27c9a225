"""Shared by the *-compare.sh scripts: reads the "NAME wall maxrss user sys" lines `measure` writes."""
import statistics


def load(times):
    """Returns (median wall s, peak RSS KiB, median CPU s = user + sys), each a dict keyed by name."""
    data = {}
    for line in open(times):
        name, seconds, rss, user, system = line.split()
        data.setdefault(name, []).append((float(seconds), int(rss), float(user) + float(system)))
    med = {k: statistics.median(s for s, _, _ in v) for k, v in data.items()}
    rss = {k: max(r for _, r, _ in v) for k, v in data.items()}
    cpu = {k: statistics.median(c for _, _, c in v) for k, v in data.items()}
    return med, rss, cpu
