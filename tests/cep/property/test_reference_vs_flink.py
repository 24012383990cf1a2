"""The brute-force reference agrees with Apache Flink on every Flink scenario inside its subset.

`tests/cep/conformance/cases.json` holds scenarios from Flink's own CEP test suite with the
matches Flink 1.20.3's NFA produces; those whose patterns fall inside the subset defined in
`reference.py` are run through the reference here. This checks the reference itself, engine-free:
its definitions of relaxed contiguity, optional stages, ``times(n)`` and skip_past_last_event are
Flink's observed behaviour, not only our reading of the docs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.cep.property import reference as R

ALL_CASES = json.loads((Path(__file__).parents[1] / "conformance" / "cases.json").read_text())
VERBS = {"begin": R.RELAXED, "next": R.STRICT, "followed_by": R.RELAXED, "followed_by_any": R.ANY}
OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "startswith": lambda a, b: a.startswith(b),
    "contains": lambda a, b: b in a,
}


def predicate(cond: dict):
    """A conformance-case condition (the simple, non-iterative kinds) as a Python predicate."""
    if cond.get("true"):
        return lambda e: True
    if "and" in cond:
        parts = [predicate(c) for c in cond["and"]]
        return lambda e: all(p(e) for p in parts)
    if "or" in cond:
        parts = [predicate(c) for c in cond["or"]]
        return lambda e: any(p(e) for p in parts)
    if "not" in cond:
        inner = predicate(cond["not"])
        return lambda e: not inner(e)
    name, op, value = cond["field"], OPS[cond["op"]], cond["value"]
    return lambda e: name in e and op(e[name], value)


def spec_of(case: dict) -> R.PatternSpec:
    stages, current, within = [], None, None
    for call in case["pattern"]:
        op = call["op"]
        if op in VERBS:
            if current:
                stages.append(R.Stage(**current))
            current = {"name": call["name"], "condition": lambda e: True, "contiguity": VERBS[op]}
        elif op == "where":
            given, extra = current["condition"], predicate(call["cond"])
            current["condition"] = lambda e, a=given, b=extra: a(e) and b(e)
        elif op == "subtype":
            given, kind = current["condition"], call["type"]
            current["condition"] = lambda e, a=given, k=kind: a(e) and (k == "Event" or e["type"] == k)
        elif op == "times":
            assert call["from"] == call["to"], "times(n, m) is outside the subset"
            current["times"] = call["from"]
        elif op == "optional":
            current["optional"] = True
        elif op in ("consecutive", "allow_combinations"):
            current["inner"] = R.STRICT if op == "consecutive" else R.ANY
        elif op == "within":
            within = call["ms"]
        else:
            raise AssertionError(f"{op} is outside the subset")
    stages.append(R.Stage(**current))
    return R.PatternSpec(tuple(stages), within_ms=within, skip=case["skip"]["strategy"])


def _in_subset(case: dict) -> bool:
    try:
        spec_of(case)
    except (AssertionError, KeyError, ValueError):  # a verb, condition or strategy outside the subset
        return False
    return True


CASES = [case for case in ALL_CASES if _in_subset(case)]


def test_the_cases_cover_the_subset():
    assert len(CASES) >= 20
    ops = {call["op"] for case in CASES for call in case["pattern"]}
    assert {"next", "followed_by", "followed_by_any", "times", "optional", "within"} <= ops
    assert {"consecutive", "allow_combinations"} <= ops
    assert {case["skip"]["strategy"] for case in CASES} == {"no_skip", "skip_past_last_event"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_reference_matches_flink(case):
    events = case["events"]
    found = R.reference_matches(spec_of(case), events, [e["ts"] for e in events], lambda e: e["id"])
    as_id_sets = Counter(tuple(sorted(i for _, ids in match for i in ids)) for match in found.elements())
    assert as_id_sets == Counter(tuple(sorted(m)) for m in case["expected"])
