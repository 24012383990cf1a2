"""What early results cost per reading when the buffered-events cap evicts (and when it does not).

One key, one reading per millisecond of event time, kinds drawn at random (`--mix`), through the
monotone pattern ``a -> followed_by_any b -> followed_by_any c within --window-ms``. Readings arrive
in order, or shuffled inside blocks of `--shuffle` ms; the watermark trails the newest reading by
`--lag-ms` and moves every `--watermark-every` readings, so about `--lag-ms` readings wait in the
key's buffer. A `max_buffered_events` cap below that evicts on almost every reading from then on.

The runs drive `cep.flink.operator.CepFunction` (early results on) directly, with the in-memory
stand-ins for Flink state, timers and metrics of `tests/flink/stand_ins.py`, so what is measured is
the operator's own code path: `process_element` (the early matcher) and `on_timer` (the event-time
pass). Figures are CPU time of this process (`time.process_time`), per reading:

    python bench/early_caps.py [--readings 20000] [--lag-ms 1000] [--caps none,5000,200]
        [--policies drop_oldest,drop_newest] [--shuffle 0,8]

Each row: cap, policy, shuffle, evicted buffered events, early rebuilds (out-of-order arrivals),
early matches, matches at the watermark, then microseconds per reading in `process_element`, in
`on_timer` and in total. The machine may be shared: say so with the figures.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cep import Pattern  # noqa: E402
from cep import conditions as C  # noqa: E402
from cep.flink.operator import CepFunction  # noqa: E402
from tests.flink.stand_ins import Ctx, Runtime, Timers  # noqa: E402


def chain(window_ms: int) -> Pattern:
    return (
        Pattern.begin("a")
        .where(C.field("k") == "a")
        .followed_by_any("b")
        .where(C.field("k") == "b")
        .followed_by_any("c")
        .where(C.field("k") == "c")
        .within(window_ms)
    )


def readings(count: int, mix: str, shuffle: int, seed: int) -> list[tuple[int, dict]]:
    """(timestamp, event) in arrival order: event time 1 ms apart, shuffled inside `shuffle`-ms blocks."""
    rng = random.Random(seed)
    stream = [(ts, {"id": ts, "k": rng.choice(mix)}) for ts in range(1, count + 1)]
    if shuffle > 1:
        for start in range(0, count, shuffle):
            block = stream[start : start + shuffle]
            rng.shuffle(block)
            stream[start : start + shuffle] = block
    return stream


def run(
    stream: list, window_ms: int, lag_ms: int, watermark_every: int, cap: Optional[int], policy: str
) -> dict:
    function = CepFunction(
        chain(window_ms),
        lambda match, ctx: [ctx.found_early],
        early_results=True,
        max_buffered_events=cap,
        on_overflow=policy,
    )
    runtime = Runtime()
    function.open(runtime)
    timers = Timers()
    ctx = Ctx(timers)
    early = final = 0
    in_process = in_timer = 0.0
    newest = 0
    for i, (ts, event) in enumerate(stream, 1):
        ctx.ts = ts
        started = time.process_time()
        found = list(function.process_element(event, ctx))
        in_process += time.process_time() - started
        early += len(found)
        newest = max(newest, ts)
        if i % watermark_every == 0 or i == len(stream):
            watermark = newest - lag_ms if i < len(stream) else newest + window_ms + 1
            if watermark <= timers.watermark:
                continue
            timers.watermark = watermark
            started = time.process_time()
            for due in sorted(t for t in timers.registered if t <= watermark):
                timers.registered.remove(due)
                outs = list(function.on_timer(due, ctx))
                final += sum(1 for found_early in outs if not found_early)
            in_timer += time.process_time() - started
    n = len(stream)
    return {
        "evicted": runtime.counters["evictedBufferedEvents"].count,
        "rebuilds": runtime.counters["earlyRebuilds"].count,
        "early": early,
        "final": final,
        "process_us": in_process / n * 1e6,
        "timer_us": in_timer / n * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--window-ms", type=int, default=50)
    parser.add_argument("--lag-ms", type=int, default=1_000, help="watermark = newest timestamp - this")
    parser.add_argument("--watermark-every", type=int, default=100, help="readings between watermarks")
    parser.add_argument("--caps", default="none,5000,200", help="max_buffered_events values ('none': no cap)")
    parser.add_argument("--policies", default="drop_oldest,drop_newest")
    parser.add_argument("--shuffle", default="0,8", help="shuffle block sizes in ms (0: in order)")
    parser.add_argument("--mix", default="abcxxxxxxx", help="kinds drawn per reading")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"pattern: a -> any b -> any c within {args.window_ms} ms; {args.readings} readings, 1 per ms, "
        f"kinds {args.mix!r}; watermark = newest - {args.lag_ms} ms every {args.watermark_every} readings"
    )
    print(
        f"{'cap':>6} {'policy':>11} {'shuffle':>7} {'evicted':>8} {'rebuilds':>8} {'early':>7} "
        f"{'final':>6} {'us/rd process':>13} {'us/rd timer':>11} {'us/rd total':>11}"
    )
    warm = readings(min(args.readings, 2_000), args.mix, 0, args.seed)
    run(warm, args.window_ms, args.lag_ms, args.watermark_every, None, "drop_oldest")  # imports, codegen
    for shuffle in (int(s) for s in args.shuffle.split(",")):
        stream = readings(args.readings, args.mix, shuffle, args.seed)
        for cap_text in args.caps.split(","):
            cap = None if cap_text == "none" else int(cap_text)
            for policy in args.policies.split(",") if cap is not None else ["-"]:
                gc.collect()  # the previous run's state is garbage now: do not let it slow this one
                row = run(
                    stream, args.window_ms, args.lag_ms, args.watermark_every, cap,
                    policy if cap is not None else "drop_oldest",
                )
                print(
                    f"{cap_text:>6} {policy:>11} {shuffle:>7} {row['evicted']:>8} {row['rebuilds']:>8} "
                    f"{row['early']:>7} {row['final']:>6} {row['process_us']:>13.1f} "
                    f"{row['timer_us']:>11.1f} {row['process_us'] + row['timer_us']:>11.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
