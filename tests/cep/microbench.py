"""Development micro-benchmark of the cep engine (prints figures; not a test, no assertions).

Synthetic bushfire stream: `regions` x 100 sensors on 10x10 grids, one reading per sensor per
minute for 100 minutes, fires spreading between neighbours (~2.4 % hot readings); one
`Matcher` per region, events fed in timestamp order. The project's `bench/` scripts are the
reference measurement; this one is for quick checks while changing the engine.

    python -m tests.cep.microbench --pattern decl lambda any --regions 100
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from cep import Matcher, Pattern
from cep import conditions as C

MINUTE = 60_000


def synthetic_stream(regions: int, side: int = 10, minutes: int = 100, seed: int = 1) -> list[dict]:
    rnd = random.Random(seed)
    events = []
    for r in range(regions):
        region = f"r{r:03d}"
        lit: dict[int, tuple[int, int]] = {}
        for _ in range(2):
            n = rnd.randrange(side * side)
            lit[n] = (rnd.randrange(minutes), n)
        for minute in range(minutes):
            for n, (start, _src) in list(lit.items()):
                if start <= minute < start + 25:
                    x, y = divmod(n, side)
                    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                        nx, ny = x + dx, y + dy
                        nn = nx * side + ny
                        if 0 <= nx < side and 0 <= ny < side and nn not in lit and rnd.random() < 0.02:
                            lit[nn] = (minute + 1, n)
            for n in range(side * side):
                fire = lit.get(n)
                hot = fire is not None and fire[0] <= minute < fire[0] + 25
                events.append(
                    {
                        "node": f"{region}-n{n:03d}",
                        "region": region,
                        "ts": minute * MINUTE + n * 100,
                        "temperature": 60.0 + rnd.random() * 20 if hot else 20.0 + rnd.random() * 10,
                        "infectedBy": f"{region}-n{fire[1]:03d}" if hot else None,
                    }
                )
    events.sort(key=lambda e: e["ts"])
    return events


def declarative_chain(any_: bool = False) -> Pattern:
    p = Pattern.begin("n1").where(C.field("temperature") >= 50)
    for i in range(2, 6):
        cond = (C.field("temperature") >= 50) & (C.field("infectedBy") == C.last(f"n{i - 1}", "node"))
        p = (p.followed_by_any if any_ else p.followed_by)(f"n{i}").where(cond)
    p = p.within(10 * MINUTE)
    return p.dedupe_runs(lambda e: e["node"]) if any_ else p


def lambda_chain() -> Pattern:
    p = Pattern.begin("n1").where(lambda e: e["temperature"] >= 50)
    for i in range(2, 6):

        def cond(e: dict, ctx: Any, prev: str = f"n{i - 1}") -> bool:
            return e["temperature"] >= 50 and e["infectedBy"] == ctx.get_events_for_pattern(prev)[-1]["node"]

        p = p.followed_by(f"n{i}").where(cond)
    return p.within(10 * MINUTE)


PATTERNS = {
    "decl": ("followed_by chain, declarative conditions", lambda: declarative_chain()),
    "lambda": ("followed_by chain, lambda conditions", lambda_chain),
    "any": ("followed_by_any chain + dedupe_runs(node)", lambda: declarative_chain(any_=True)),
}


def run(pattern: Pattern, events: list[dict]) -> tuple[float, float, int]:
    matchers: dict[str, Matcher] = {}
    matches = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for e in events:
        m = matchers.get(e["region"])
        if m is None:
            m = matchers[e["region"]] = Matcher(pattern)
        matches += len(m.process(e, e["ts"]))
    return time.perf_counter() - wall, time.process_time() - cpu, matches


def main() -> None:
    parser = argparse.ArgumentParser(description="cep engine micro-benchmark")
    parser.add_argument("--regions", type=int, default=100)
    parser.add_argument("--pattern", nargs="+", choices=sorted(PATTERNS), default=["decl"])
    args = parser.parse_args()
    events = synthetic_stream(args.regions)
    hot = sum(e["temperature"] >= 50 for e in events) / len(events)
    print(f"{len(events):,} events, {hot:.1%} hot, {args.regions} regions")
    for name in args.pattern:
        label, make = PATTERNS[name]
        wall, cpu, matches = run(make(), events)
        print(
            f"{label}: {len(events) / cpu:,.0f} events/s of CPU time "
            f"({len(events) / wall:,.0f}/s wall), {matches:,} matches"
        )


if __name__ == "__main__":
    main()
