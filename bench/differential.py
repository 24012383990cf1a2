"""Long differential run: random cases through `cep.Matcher` and Flink 1.20's own NFA; prints figures.

Prints the cases run, how many agreed, how many Flink rejected (compared too), and the divergences
by category with the known deviation each one is (see docs/differential-testing.md). The first
divergences of every category are minimised and written as conformance-format JSON cases (with
Flink's result as `expected`) to the output folder.

Usage::

    python bench/differential.py --cases 100000 --seed 7
    python bench/differential.py --cases 2000 --seed 1 --out /tmp/divergences --shrink 3

Exits 1 when a divergence is not a known deviation (`tests/cep/differential/known_deviations.py`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: `tests` is a package

from tests.cep.differential import compare, flink_nfa, generator, known_deviations, runner, shrink

BATCH = 2000


def as_case(divergence: runner.Divergence, minimal: dict, deviation: str) -> dict:
    """A minimised divergence as a conformance case that records Flink's result."""
    flink = flink_nfa.run_cases([minimal])[0]
    case = {**minimal, "category": divergence.category, "deviation": deviation}
    if "error" in flink:
        case["expected_error"] = {"stage": flink["error"]["stage"], "class": flink["error"]["class"]}
    else:
        case["expected"] = flink["matches"]
        case["expected_timeouts"] = flink["timeouts"]
    case["emberwatch"] = compare.summarize(compare.run_emberwatch(minimal))
    return case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("out/differential"),
                        help="folder for minimised divergences (default out/differential)")  # fmt: skip
    parser.add_argument("--shrink", type=int, default=2, help="how many divergences to minimise per category")
    args = parser.parse_args(argv)

    total = runner.Report()
    started = time.monotonic()
    for start in range(0, args.cases, BATCH):
        cases = generator.generate(args.seed, min(BATCH, args.cases - start), start)
        total.add(runner.run_batch(cases))
        took = time.monotonic() - started
        print(f"  {total.cases} cases, {total.agreed} agreed ({took:.0f} s)", flush=True)
    elapsed = time.monotonic() - started

    known = Counter()
    for d in total.divergences:
        entry = known_deviations.explain(d)
        known[(d.category, entry.name if entry else "NEW")] += 1
    print(f"\nseed {args.seed}: {total.cases} cases in {elapsed:.0f} s")
    print(f"agreed      {total.agreed} ({100 * total.agreed / max(total.cases, 1):.2f} %)")
    print(f"  of which both engines rejected the pattern: {total.both_rejected}")
    print(f"diverged    {len(total.divergences)}")
    for (category, name), count in sorted(known.items(), key=lambda kv: -kv[1]):
        print(f"  {count:6d}  {category:36s} {name}")

    args.out.mkdir(parents=True, exist_ok=True)
    written = Counter()
    for d in total.divergences:
        if written[d.category] >= args.shrink:
            continue
        written[d.category] += 1
        minimal = shrink.shrink(d.case, d.category)
        again = runner.run_batch([minimal]).divergences  # the shrinker kept only diverging cases
        entry = known_deviations.explain(again[0]) if again else None
        case = as_case(d, minimal, entry.name if entry else "NEW")
        path = args.out / f"{case['id']}.json"
        path.write_text(json.dumps(case, indent=1) + "\n")
        print(f"minimised {d.category} -> {path}", flush=True)
    return 1 if any(name == "NEW" for _category, name in known) else 0


if __name__ == "__main__":
    sys.exit(main())
