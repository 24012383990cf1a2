"""`--rules` while the job runs: a rules file replaced by rename takes effect within seconds, a bad
one is refused whole (dead letter) and the rules before it keep running.

The job watches a directory; each step drops a file holding one fire chain of three nodes in its own
region, then a cold reading well ahead in event time, so the watermark passes the chain and the
chain reaches the matchers (the ``--rules`` path alerts at the watermark).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.jobs.watched import watched_job
from tests.support.flink_rest import wait_until

pytestmark = pytest.mark.pyflink

T0 = 1_790_000_000_000
MINUTE = 60_000


def chain(region: str, start_ms: int) -> list[dict]:
    """Three hot readings n1 -> n2 -> n3 a minute apart, and a cold one 15 minutes later elsewhere."""
    readings = []
    for i in (1, 2, 3):
        readings.append({
            "event_id": f"{region}-{i}", "node": f"{region}-n{i}", "region": region,
            "ts": start_ms + i * MINUTE, "temperature": 80.0,
            "infectedBy": f"{region}-n{max(i - 1, 1)}", "lat": -37.0, "lon": 145.0,
        })  # fmt: skip
    readings.append({
        "event_id": f"{region}-tick", "node": "tick", "region": "ticks", "ts": start_ms + 15 * MINUTE,
        "temperature": 10.0, "infectedBy": "tick", "lat": -37.0, "lon": 145.0,
    })  # fmt: skip
    return readings


def replace_rules(path: Path, text: str) -> None:
    hidden = path.with_name(".rules.tmp")
    hidden.write_text(text)
    os.replace(hidden, path)


def rule(rule_id: str, threshold: float, severity: str) -> dict:
    return {"id": rule_id, "regions": ["*"], "threshold": threshold, "chain_length": 3, "window": "10m",
            "severity": severity}  # fmt: skip


def read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_replaced_rules_file_takes_effect_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps([rule("first", 50, "watch")]))
    alerts_file = tmp_path / "out" / "alerts.jsonl"
    dead_file = tmp_path / "out" / "dead-letters.jsonl"

    def alerts_of(rule_id: str) -> list[dict]:
        return [a for a in read_lines(alerts_file) if a["rule_id"] == rule_id]

    flags = ("--rules", str(rules_file), "--out-of-orderness", "1s")
    with watched_job(tmp_path, *flags) as job:
        job.drop(chain("ra", T0), "a.jsonl")
        first = wait_until(lambda: alerts_of("first"), bool, 90)
        assert [(a["region"], a["severity"]) for a in first] == [("ra", "watch")], job.tail()

        replace_rules(rules_file, json.dumps([rule("second", 60, "emergency")]))
        changed_at = time.monotonic()
        second: list[dict] = []
        for step in range(30):  # a fresh region each attempt, until the new rule alerts one
            job.drop(chain(f"rb{step}", T0 + (step + 1) * 20 * MINUTE), f"b{step}.jsonl")
            second = wait_until(lambda: alerts_of("second"), bool, 2)
            if second:
                break
        took_s = time.monotonic() - changed_at
        assert second, job.tail()
        assert second[0]["severity"] == "emergency"

        replace_rules(rules_file, '[{"id": "broken"')
        letters = wait_until(lambda: read_lines(dead_file), bool, 30)
        assert [d["reason"] for d in letters] == ["rules"], job.tail()
        assert letters[0]["raw"] == '[{"id": "broken"' and "not JSON" in letters[0]["error"]

        job.drop(chain("rc", T0 + 900 * MINUTE), "c.jsonl")  # the second rule still runs
        last = wait_until(lambda: [a for a in alerts_of("second") if a["region"] == "rc"], bool, 60)
        assert last, job.tail()
    by_rule = {(a["rule_id"], a["region"]) for a in read_lines(alerts_file)}
    assert ("first", "rc") not in by_rule, "the removed rule kept running"
    assert len(read_lines(alerts_file)) == len(by_rule), "an alert was repeated"
    print(f"the replaced rules file alerted {took_s:.1f} s after the rename")
