"""Benchmark: three rules side by side in one job (``--rules``) against three single-rule jobs.

Runs the bushfire job over the 1M-reading benchmark stream (bounded file, parallelism 1, SNS and
OpenSearch off) once with a rules file of three rules (``watch`` 3 nodes in 5 min, ``warning`` 5 in
10, ``emergency`` 8 in 20, all at 50 °C) and then once per rule with that rule alone in the file
(the same dynamic-pattern path, so only the number of rules differs). Prints each wall-clock time
(start-up included), the sum of the three single-rule runs, the ratio, and the alerts per rule of the
three-rule run against those of its single-rule run (they must be equal).

    python bench/rules.py [--events-file PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bushfire_job import benchmark_events  # noqa: E402

RULES = [
    {"id": "watch", "regions": ["*"], "threshold": 50, "chain_length": 3, "window": "5m",
     "severity": "watch"},
    {"id": "warning", "regions": ["*"], "threshold": 50, "chain_length": 5, "window": "10m",
     "severity": "warning"},
    {"id": "emergency", "regions": ["*"], "threshold": 50, "chain_length": 8, "window": "20m",
     "severity": "emergency"},
]  # fmt: skip


def run_job(events_file: Path, out: Path, rules: list[dict], name: str) -> tuple[float, Counter]:
    """Run the job with `rules`; returns (wall-clock seconds, alerts per rule id)."""
    rules_file = out / f"rules-{name}.json"
    rules_file.write_text(json.dumps(rules))
    alerts_file, dead_file = out / f"alerts-{name}.jsonl", out / f"dead-letters-{name}.jsonl"
    for stale in (alerts_file, dead_file):
        stale.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "jobs.bushfire", "--source", "file", "--input", str(events_file),
        "--alerts-out", str(alerts_file), "--dead-letters", str(dead_file), "--console", "false",
        "--parallelism", "1", "--rules", str(rules_file),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    per_rule: Counter = Counter()
    for line in alerts_file.read_text().splitlines():
        if line.strip():
            per_rule[json.loads(line)["rule_id"]] += 1
    return seconds, per_rule


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-file", default=str(ROOT / "out" / "bench" / "benchmark-1m.jsonl"))
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "rules"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    events_file = Path(args.events_file)
    events = benchmark_events(events_file)

    together, together_alerts = run_job(events_file, out, RULES, "three")
    print(f"three rules in one job: {together:.1f} s -> {events / together:,.0f} events/s; "
          f"alerts {dict(together_alerts)}", flush=True)  # fmt: skip
    singles = []
    same = True
    for rule in RULES:
        seconds, alerts = run_job(events_file, out, [rule], rule["id"])
        singles.append(seconds)
        same = same and alerts[rule["id"]] == together_alerts[rule["id"]]
        print(f"  {rule['id']} alone: {seconds:.1f} s; alerts {alerts[rule['id']]}", flush=True)
    total = sum(singles)
    print(
        f"events: {events:,}; three single-rule jobs: {total:.1f} s in all; one three-rule job: "
        f"{together:.1f} s ({together / total:.2f} of the three jobs' time); "
        f"alerts per rule equal: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
