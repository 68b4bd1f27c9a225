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


def tool_table(rows, med, cpu, rss, heading="tool"):
    """Markdown lines: one row per (name, bytes processed or 0) measured, with wall s, MB/s, CPU s, peak RSS."""
    out = [f"| {heading} | median wall s | MB/s | median CPU s | peak RSS KiB |", "|---|---:|---:|---:|---:|"]
    for name, size in rows:
        if name not in med:
            continue
        rate = f"{size / med[name] / 1e6:.0f}" if size else ""
        out.append(f"| {name} | {med[name]:.2f} | {rate} | {cpu[name]:.2f} | {rss[name] or ''} |")
    return out


def speedup_table(pairs, med, cpu):
    """Markdown lines: for each (label, peer, ours, target), how many times faster ours is than the peer."""
    out = ["| comparison | wall speed-up | CPU-time ratio | target | met (wall) |", "|---|---:|---:|---:|:---:|"]
    for label, peer, ours, target in pairs:
        ratio = med[peer] / med[ours]
        out.append(f"| {label} | {ratio:.2f}x | {cpu[peer] / cpu[ours]:.2f}x | {target}x | "
                   f"{'yes' if ratio >= target else 'NO'} |")
    return out
