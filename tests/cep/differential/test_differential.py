"""Differential tests: the same cases through `cep.Matcher` and Flink 1.20's own CEP NFA.

The Java driver (tools/flink-nfa-driver) is first checked against every recorded Flink scenario,
then a fixed-seed batch of random cases must agree with Flink except for the documented known
deviations (tests/cep/differential/known_deviations.py, docs/differential-testing.md).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.cep.conformance_cases import load_cases
from tests.cep.differential import compare, flink_nfa, generator, known_deviations, runner

EMISSION_ORDER = Path(__file__).parents[1] / "conformance" / "emission_order.json"
DIVERGENCES = Path(__file__).parent / "cases" / "divergences.json"
FIXED = Path(__file__).parent / "cases" / "fixed.json"
SEED = 12
CASES = 400

pytestmark = pytest.mark.slow


def _expected(case: dict, key: str) -> Counter:
    return Counter(tuple(sorted(ids)) for ids in case[key])


def _scenarios() -> list[dict]:
    return load_cases() + json.loads(EMISSION_ORDER.read_text())


def test_driver_reproduces_every_recorded_flink_scenario() -> None:
    """The 95 suite scenarios and the 9 emission-order ones were produced by Flink's NFA: the driver
    must give the same matches (and timeouts where recorded), so it drives the NFA the same way."""
    scenarios = _scenarios()
    assert len(scenarios) == 104
    results = flink_nfa.run_cases(scenarios)
    wrong = []
    for case, result in zip(scenarios, results):
        ok = "error" not in result and Counter(map(tuple, result["matches"])) == _expected(case, "expected")
        if ok and "expected_timeouts" in case:
            ok = Counter(map(tuple, result["timeouts"])) == _expected(case, "expected_timeouts")
        if not ok:
            wrong.append((case["id"], result))
    assert wrong == []


def test_driver_reports_rejections_and_runs_on() -> None:
    """A malformed pattern gives Flink's exception for that case; the next case still runs."""
    bad = {"id": "bad", "pattern": [{"op": "begin", "name": "a"}, {"op": "times_or_more", "n": 0}],
           "skip": {"strategy": "no_skip"}, "events": []}  # fmt: skip
    good = {"id": "good", "pattern": [{"op": "begin", "name": "a"}], "skip": {"strategy": "no_skip"},
            "events": [{"id": 1, "name": "a", "price": 1.0, "type": "Event", "ts": 1}]}  # fmt: skip
    first, second = flink_nfa.run_cases([bad, good])
    assert first["error"]["stage"] == "build"
    assert second == {"id": "good", "matches": [[1]], "timeouts": []}


def test_random_cases_agree_with_flink_except_known_deviations() -> None:
    """A fixed-seed batch over the whole pattern API; any divergence not explained fails."""
    report = runner.run_batch(generator.generate(SEED, CASES))
    unexplained = [
        {"category": d.category, "case": d.case, "flink": compare.summarize(d.flink),
         "emberwatch": compare.summarize(d.emberwatch)}
        for d in report.divergences
        if known_deviations.explain(d) is None
    ]  # fmt: skip
    print(f"cases {report.cases}, agreed {report.agreed}, rejected by Flink {report.flink_rejected}, "
          f"divergences {dict(report.by_category())}")  # fmt: skip
    assert unexplained == []
    # the batch exercises what it claims: rejections and matches both occur, most cases agree
    assert report.flink_rejected >= CASES // 20
    assert report.agreed >= CASES * 0.9


def test_generator_covers_the_whole_api() -> None:
    """Every builder call, condition kind and skip strategy occurs in the CI batch."""
    ops, conds, skips = set(), set(), set()

    def walk(pattern: list[dict]) -> None:
        for op in pattern:
            ops.add(op["op"])
            walk(op.get("pattern", []))
            if "cond" in op:
                conds.add(next(iter(op["cond"])) if "iter" not in op["cond"] else op["cond"]["iter"])

    for case in generator.generate(SEED, CASES):
        walk(case["pattern"])
        skips.add(case["skip"]["strategy"])
    builder_calls = {"begin", "next", "followed_by", "followed_by_any", "not_next", "not_followed_by",
                     "begin_group", "next_group", "followed_by_group", "followed_by_any_group", "where",
                     "or_where", "until", "subtype", "times", "times_or_more", "one_or_more", "optional",
                     "greedy", "consecutive", "allow_combinations", "within"}  # fmt: skip
    assert ops == builder_calls
    assert {"field", "and", "or", "not", "true", "sum", "count", "any"} <= conds
    assert skips == set(generator.SKIPS)


def test_minimised_divergences_record_flink_and_stay_known() -> None:
    """Each stored minimal divergence (cases/divergences.json) records Flink's result and is still
    the known deviation it is filed under; one that now agrees with Flink must be removed (and its
    known deviation too when none is left). One batch, one JVM."""
    stored = json.loads(DIVERGENCES.read_text())
    assert stored
    for case, flink in zip(stored, flink_nfa.run_cases(stored)):
        if "expected_error" in case:
            assert flink["error"]["class"] == case["expected_error"]["class"], case["id"]
        else:
            assert Counter(map(tuple, flink["matches"])) == _expected(case, "expected"), case["id"]
            assert Counter(map(tuple, flink["timeouts"])) == _expected(case, "expected_timeouts"), case["id"]
    report = runner.run_batch(stored)
    filed = {d.case["id"]: known_deviations.explain(d) for d in report.divergences}
    now_agree = sorted(c["id"] for c in stored if c["id"] not in filed)
    assert now_agree == [], "these cases now agree with Flink: remove them from divergences.json"
    assert {i: k.name if k else None for i, k in filed.items()} == {c["id"]: c["deviation"] for c in stored}


def test_fixed_divergences_stay_fixed() -> None:
    """Minimal cases that once diverged (cases/fixed.json, with the deviation they were) and agree
    since the engine was fixed: Flink still gives the recorded result, and so does the engine."""
    fixed = json.loads(FIXED.read_text())
    assert fixed
    for case, flink in zip(fixed, flink_nfa.run_cases(fixed)):
        assert Counter(map(tuple, flink["matches"])) == _expected(case, "expected"), case["id"]
        assert Counter(map(tuple, flink["timeouts"])) == _expected(case, "expected_timeouts"), case["id"]
        ember = compare.run_emberwatch(case)
        assert compare.multiset(ember["matches"]) == _expected(case, "expected"), case["id"]
        assert compare.multiset(ember["timeouts"]) == _expected(case, "expected_timeouts"), case["id"]
