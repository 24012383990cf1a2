"""The end of the soak benchmark's report: what went in, what the job cost, and each target met or missed.

The targets (issue 15 item 5, made measurable):

* **no growing backlog**: after warm-up (`--warm-up-s`, the job's start), the backlog (lines fed
  minus lines the job's source has read) has a least-squares trend of at most 1 % of the feed rate
  and stays below `--max-backlog-s` seconds of input, and it drains after the feed: every line read
  and every step's input watermark past the last reading;
* **memory flat after warm-up**: for the JVM, the job's client and its Python worker, the highest RSS
  in the second half of the feed after warm-up is at most `--max-memory-growth` (or 32 MiB, whichever
  is larger) above the highest in the first half. Warm-up here is `--memory-warm-up-s`, by default one
  event-hour (3600 / `--speedup` s): the job remembers event ids for an hour of event time (its
  ``--event-dedupe-ttl``), so its state grows for that long before it can level off; at most the
  first two thirds of the feed;
* **exact alerts**: every true path alerted once, nothing else;
* **every malformed line a dead letter**: malformed + invalid dead letters = malformed lines fed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

Check = tuple[str, bool, str]  # name, met, figures
Row = tuple[
    float, int, int, dict
]  # s since the feed began, lines fed, backlog (-1: unknown), RSS MiB by role
JOB_ROLES = ("JVM", "job client", "Python worker")
#: The backlog grows when its trend after warm-up exceeds this fraction of the feed rate (1 %: over a
#: 10-minute feed the job would fall 6 s further behind).
GROWTH_LIMIT = 0.01


def read_lines(path: Path) -> list[bytes]:
    """The non-blank lines of `path` (none when it does not exist)."""
    return [line for line in path.read_bytes().splitlines() if line.strip()] if path.exists() else []


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of backlog over time (lines per second); 0 for fewer than two points."""
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_b = sum(b for _, b in points) / len(points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (b - mean_b) for t, b in points) / var if var else 0.0


def backlog_check(rows: list[Row], warm: float, fed_s: float, rate: int, limit_s: float, fed: int,
                  figures: dict) -> Check:  # fmt: skip
    judged = [(t, backlog) for t, _fed, backlog, _rss in rows if warm <= t <= fed_s and backlog >= 0]
    worst = max((b for _t, b in judged), default=-1)
    read = figures.get("read_at_end")
    drained = read is not None and read >= fed and not figures.get("steps_behind")
    text = (
        f"after warm-up ({warm:.0f} s) the backlog peaked at {worst:,} lines ({worst / rate:.1f} s of input; "
        f"limit {limit_s:g} s), trend {slope(judged):+,.0f} lines/s (limit {GROWTH_LIMIT * rate:,.0f}); "
    )
    if drained:
        text += f"drained {figures['drain_s']:.0f} s after the feed"
    else:
        text += (
            f"NOT drained: {read} of {fed:,} lines read, steps behind the last reading "
            f"{figures.get('steps_behind')}, {figures.get('drain_s', 0):.0f} s after the feed"
        )
    growing = slope(judged) > GROWTH_LIMIT * rate
    return ("no growing backlog", bool(judged) and not growing and worst <= limit_s * rate and drained, text)


def memory_check(rows: list[Row], warm: float, fed_s: float, max_growth: float) -> Check:
    judged = [rss for t, _fed, _b, rss in rows if warm <= t <= fed_s]
    half = len(judged) // 2
    if not half:
        return (
            "memory flat after warm-up",
            False,
            f"not judged: fewer than two samples after warm-up ({warm:.0f} s)",
        )
    flat, parts = half > 0, []
    for role in JOB_ROLES:
        first = max((rss.get(role, 0) for rss in judged[:half]), default=0)
        second = max((rss.get(role, 0) for rss in judged[half:]), default=0)
        flat &= second - first <= max(max_growth * first, 32)
        parts.append(f"{role} {first} -> {second} MiB")
    return (
        "memory flat after warm-up",
        flat,
        f"highest RSS, 1st -> 2nd half after warm-up ({warm:.0f} s): " + ", ".join(parts),
    )


def alerts_check(alerts_file: Path, truth_file: Path) -> Check:
    truth = {(p["region"], tuple(p["path"])) for p in json.loads(truth_file.read_text())}
    alerts = [json.loads(line) for line in read_lines(alerts_file)]
    lines = Counter((a["region"], tuple(a["path"])) for a in alerts)
    found = set(lines)
    missed, false = len(truth - found), len(found - truth)
    duplicates = sum(n - 1 for n in lines.values())
    text = (
        f"{len(alerts):,} alert lines for {len(truth):,} true paths: found {len(found & truth):,}, "
        f"missed {missed:,}, false {false:,}, duplicates {duplicates:,}"
    )
    return ("exact alerts", not (missed or false or duplicates), text)


def dead_letter_check(dead_file: Path, malformed_fed: int) -> Check:
    dead = Counter(json.loads(line).get("reason", "?") for line in read_lines(dead_file))
    bad = dead.get("malformed", 0) + dead.get("invalid", 0)
    text = (
        f"{malformed_fed:,} malformed lines fed, {bad:,} malformed/invalid dead letters; "
        f"dead letters by reason: {dict(sorted(dead.items()))}"
    )
    return ("every malformed line a dead letter", bad == malformed_fed, text)


def print_input(meta: dict) -> None:
    lines = meta["lines"]
    print(
        f"input: {lines:,} lines, {meta['malformed_lines']:,} malformed "
        f"({meta['malformed_lines'] / lines:.2%}), "
        f"{meta['hot_lines']:,} hot ({meta['hot_lines'] / lines:.2%}), "
        f"truth {meta['paths']:,} paths ({meta['paths'] / lines * 1e6:,.0f} per 1M readings); "
        f"producer CPU {meta['producer_cpu_s']} s"
    )


def print_cost(peaks: dict[str, int], cpu: dict, lines: int, fed_s: float) -> None:
    """Peak RSS of every process, and CPU seconds while fed by role (the job's per line its source read
    while fed: a job that falls behind has not read every line fed; and in cores)."""
    print("peak RSS (VmHWM) MiB: " + ", ".join(f"{k} {v}" for k, v in sorted(peaks.items())))
    by_role: dict[str, float] = {}
    for role, seconds in cpu.values():
        by_role[role] = by_role.get(role, 0.0) + seconds
    job = sum(v for k, v in by_role.items() if k in JOB_ROLES)
    print(
        "CPU seconds while fed: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(by_role.items()))
        + f"; the job's {job:.1f} s = {job / max(1, lines) * 1e6:.1f} us per line read while fed ({lines:,})"
        + f" = {job / fed_s:.2f} cores"
    )  # fmt: skip


def verdict(
    args, out: Path, staging: Path, rows: list[Row], peaks: dict[str, int], fed: int, figures: dict
) -> int:
    """Print the report's end and judge the targets; returns the exit status (0 met, 1 missed, 2 none)."""
    if not (staging / "meta.json").exists():
        print("the producer did not finish: no truth to compare with", flush=True)
        return 2
    meta = json.loads((staging / "meta.json").read_text())
    fed_s = figures["seconds"]
    warm = min(args.warm_up_s, fed_s / 3)
    memory_warm = min(args.memory_warm_up_s or 3600 / args.speedup, fed_s * 2 / 3)
    print_input(meta)
    print_cost(peaks, figures.get("cpu", {}), figures.get("read_while_fed") or figures["lines"], fed_s)
    summary = [line for line in read_lines(out / "job.log") if b"summary:" in line]
    if summary:
        print("job's own summary:" + summary[-1].decode(errors="replace").split("summary:", 1)[1])
    checks = [
        backlog_check(rows, warm, fed_s, args.rate, args.max_backlog_s, fed, figures),
        memory_check(rows, memory_warm, fed_s, args.max_memory_growth),
        alerts_check(out / "alerts.jsonl", staging / "truth.json"),
        dead_letter_check(out / "dead-letters.jsonl", meta["malformed_lines"]),
    ]
    for name, met, text in checks:
        print(f"{'MET   ' if met else 'MISSED'} {name}: {text}")
    missed = sum(not met for _name, met, _text in checks)
    print("all targets met" if not missed else f"{missed} target(s) missed", flush=True)
    return 1 if missed else 0
