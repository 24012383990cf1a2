"""Flink's own CEP scenarios (tests/cep/conformance/cases.json) and the emission-order scenarios
(tests/cep/conformance/emission_order.json) run through `cep.Matcher`."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.cep.conformance_cases import EMISSION_ORDER_PATH, WITHIN_PREVIOUS_PATH, load_cases, run_case

CASES = load_cases()
EMISSION_ORDER_CASES = load_cases(EMISSION_ORDER_PATH)
WITHIN_PREVIOUS_CASES = load_cases(WITHIN_PREVIOUS_PATH)

# Scenarios where this engine deviates from Flink, with the reason in docs/engine.md, Conformance.
DEVIATIONS: dict[str, str] = {}


def _params() -> list:
    return [
        pytest.param(c, id=c["id"], marks=pytest.mark.xfail(reason=DEVIATIONS[c["id"]], strict=True))
        if c["id"] in DEVIATIONS
        else pytest.param(c, id=c["id"])
        for c in CASES
    ]


@pytest.mark.parametrize("case", _params())
def test_flink_scenario(case: dict) -> None:
    matches, timeouts = run_case(case)
    assert matches == Counter(tuple(sorted(m)) for m in case["expected"])
    if "expected_timeouts" in case:
        assert timeouts == Counter(tuple(sorted(t)) for t in case["expected_timeouts"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_flink_scenario_without_shortcuts(case: dict) -> None:
    """The prefilter and the state shortcuts change nothing: same results with both switched off."""
    assert run_case(case, use_prefilter=False, use_shortcuts=False) == run_case(case)


def _check(case: dict, **options: bool) -> None:
    matches, timeouts = run_case(case, **options)
    assert matches == Counter(tuple(sorted(m)) for m in case["expected"])
    if "expected_timeouts" in case:
        assert timeouts == Counter(tuple(sorted(t)) for t in case["expected_timeouts"])


@pytest.mark.parametrize("case", EMISSION_ORDER_CASES, ids=[c["id"] for c in EMISSION_ORDER_CASES])
def test_emission_order_scenario(case: dict) -> None:
    """Which of several competing matches survives a skip strategy is the one Flink emits first."""
    _check(case)


@pytest.mark.parametrize("case", EMISSION_ORDER_CASES, ids=[c["id"] for c in EMISSION_ORDER_CASES])
def test_emission_order_scenario_without_shortcuts(case: dict) -> None:
    """The order comes from ranks, not from the order state buckets are walked in."""
    _check(case, use_prefilter=False, use_shortcuts=False)


@pytest.mark.parametrize("case", WITHIN_PREVIOUS_CASES, ids=[c["id"] for c in WITHIN_PREVIOUS_CASES])
def test_within_previous_and_current_scenario(case: dict) -> None:
    _check(case)


@pytest.mark.parametrize("case", WITHIN_PREVIOUS_CASES, ids=[c["id"] for c in WITHIN_PREVIOUS_CASES])
def test_within_previous_and_current_scenario_without_shortcuts(case: dict) -> None:
    _check(case, use_prefilter=False, use_shortcuts=False)
