"""Soak benchmark for bounded per-key state: a pattern whose partial matches multiply, capped and not.

The pattern is ``a -> followed_by_any b+ -> c within --window-ms``: every `b` inside the window
forks every partial match waiting for more `b`s, so one key's partial matches grow without bound
(Flink's FLINK-19970 / -23314 / -32701 / -33538 class of problems). The stream is one key, one
event per millisecond of event time, kinds drawn at random (`--mix`).

1. Caps on (``Matcher(max_partial_matches=--cap, on_overflow=--policy)``): runs all `--events`,
   printing every `--report-every` events the live partial matches, evictions so far, current and
   peak RSS, and the rate.
2. Caps off: the same stream until it ends or the resident memory grows past `--max-rss-mb`
   over its start (or `--max-seconds` pass), printing the same rows: how far it grows.

RSS: current from /proc/self/statm (Linux), peak from ``resource.getrusage`` (psutil is not a
dependency). The machine may be shared: say so with the figures.

    python bench/soak_state.py [--events 10000000] [--cap 200] [--policy drop_oldest]
        [--skip-capped | --skip-uncapped] [--max-seconds 300] [--max-rss-mb 1024]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cep import Matcher, Pattern  # noqa: E402
from cep import conditions as C  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def multiplying(window_ms: int) -> Pattern:
    return (
        Pattern.begin("a")
        .where(C.field("k") == "a")
        .followed_by_any("b")
        .where(C.field("k") == "b")
        .one_or_more()
        .followed_by("c")
        .where(C.field("k") == "c")
        .within(window_ms)
    )


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def events(n: int, mix: str, seed: int):
    rnd = random.Random(seed)
    kinds = list(mix)
    for ts in range(n):
        yield {"k": rnd.choice(kinds)}, ts


def run(label: str, matcher: Matcher, args: argparse.Namespace, bounded: bool) -> None:
    print(f"\n== {label}")
    print(f"{'events':>10} {'live pms':>9} {'evicted':>10} {'rss MB':>8} {'peak MB':>8} {'ev/s':>8} matches")
    start_rss = rss_mb()
    started = time.perf_counter()
    found = 0
    done = 0
    stop = ""
    for event, ts in events(args.events, args.mix, args.seed):
        found += len(matcher.process(event, ts))
        done += 1
        if done % args.report_every == 0 or done == args.events:
            elapsed = time.perf_counter() - started
            print(
                f"{done:>10} {matcher.partial_match_count():>9} {matcher.evicted_partial_matches:>10} "
                f"{rss_mb():>8.0f} {peak_rss_mb():>8.0f} {done / elapsed:>8.0f} {found}",
                flush=True,
            )
        if not bounded and done % 100 == 0:
            if rss_mb() - start_rss > args.max_rss_mb:
                stop = f"stopped: RSS grew more than {args.max_rss_mb} MB"
            elif time.perf_counter() - started > args.max_seconds:
                stop = f"stopped: more than {args.max_seconds} s"
            if stop:
                print(
                    f"{done:>10} {matcher.partial_match_count():>9} {matcher.evicted_partial_matches:>10} "
                    f"{rss_mb():>8.0f} {peak_rss_mb():>8.0f} {done / (time.perf_counter() - started):>8.0f} "
                    f"{found}  <- {stop}",
                    flush=True,
                )
                return
    print(f"done: {done} events in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--cap", type=int, default=200, help="max_partial_matches in the capped run")
    parser.add_argument("--policy", default="drop_oldest", choices=("drop_oldest", "drop_newest"))
    parser.add_argument("--window-ms", type=int, default=2_000)
    parser.add_argument("--mix", default="abxxxxxxxxxxxxxxxxxc", help="kinds drawn uniformly (one per char)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report-every", type=int, default=100_000)
    parser.add_argument("--max-rss-mb", type=float, default=1024, help="uncapped run: stop past this growth")
    parser.add_argument("--max-seconds", type=float, default=300, help="uncapped run: stop after this long")
    parser.add_argument("--skip-uncapped", action="store_true")
    parser.add_argument("--skip-capped", action="store_true", help="only the uncapped run (e.g. alongside)")
    args = parser.parse_args()
    print(
        f"pattern: a -> followed_by_any b+ -> c within {args.window_ms} ms; {args.events} events, "
        f"1 per ms, kinds {args.mix!r}; uncapped run stops past +{args.max_rss_mb} MB RSS "
        f"or {args.max_seconds} s"
    )
    pattern = multiplying(args.window_ms)
    if not args.skip_capped:
        run(
            f"caps on: max_partial_matches={args.cap}, on_overflow={args.policy}",
            Matcher(pattern, max_partial_matches=args.cap, on_overflow=args.policy),
            args,
            bounded=True,
        )
    if not args.skip_uncapped:
        run("caps off", Matcher(pattern), args, bounded=False)


if __name__ == "__main__":
    main()
