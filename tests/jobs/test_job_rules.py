"""The bushfire job with `--rules` on the mini-cluster: several rules side by side, each exact."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from simulator import simulate
from tests.jobs.jobrun import run_job, write_jsonl
from tests.jobs.test_job import _branching

pytestmark = pytest.mark.pyflink


def test_several_rules_over_one_region_each_alert_their_own_paths_once(tmp_path: Path) -> None:
    sim = simulate(_branching(seed=11))
    regions = sorted({region for region, _ in sim.truth()})
    rules = [
        {"id": "warning", "regions": ["*"], "threshold": 50, "chain_length": 5, "window": "10m",
         "severity": "warning"},
        {"id": "watch", "regions": ["*"], "threshold": 50, "chain_length": 3, "window": "5m",
         "severity": "watch"},
        {"id": "one-region", "regions": [regions[0]], "threshold": 50, "chain_length": 4, "window": "10m",
         "severity": "emergency"},
    ]  # fmt: skip
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps(rules))
    out = run_job(write_jsonl(sim.delivered(), tmp_path / "in.jsonl"), tmp_path, "--rules", str(rules_file))

    by_rule: dict[str, Counter] = {rule["id"]: Counter() for rule in rules}
    for alert in out.alerts:
        by_rule[alert["rule_id"]][(alert["region"], tuple(alert["path"]))] += 1
        assert alert["severity"] == next(r["severity"] for r in rules if r["id"] == alert["rule_id"])
    assert by_rule["warning"] == Counter(sim.truth(chain_length=5, window_ms=600_000))
    assert by_rule["watch"] == Counter(sim.truth(chain_length=3, window_ms=300_000))
    expected_one = {p for p in sim.truth(chain_length=4, window_ms=600_000) if p[0] == regions[0]}
    assert by_rule["one-region"] == Counter(expected_one)
    assert len(expected_one) > 0 and len(by_rule["watch"]) > len(by_rule["warning"]) > 0
    assert len({a["alert_id"] for a in out.alerts}) == len(out.alerts)
    assert out.dead_letters == []


def test_a_bad_rules_file_stops_the_job_before_it_runs(tmp_path: Path) -> None:
    from jobs.bushfire.rules import RulesError

    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps([{"id": "x", "regions": ["*"], "threshold": 50}]))
    with pytest.raises(RulesError, match="missing field 'chain_length'"):
        run_job(write_jsonl([], tmp_path / "in.jsonl"), tmp_path, "--rules", str(rules_file))


def test_a_rule_below_the_declared_floor_is_refused_at_start(tmp_path: Path) -> None:
    from jobs.bushfire.errors import ConfigError

    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps([{"id": "cold", "regions": ["*"], "threshold": 30, "chain_length": 3,
                                       "window": "5m", "severity": "watch"}]))  # fmt: skip
    with pytest.raises((ConfigError, Exception), match="upstream filter"):
        run_job(
            write_jsonl([], tmp_path / "in.jsonl"), tmp_path,
            "--rules", str(rules_file), "--rules-min-threshold", "40",
        )  # fmt: skip
