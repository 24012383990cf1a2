"""Minimise a diverging case: drop events, stages, builder calls and conditions while the engines
still diverge in the same category. Each round tries every one-step simplification in one batch (one
JVM), keeps the first that still diverges, and stops when none does."""

from __future__ import annotations

import copy
from collections.abc import Iterator

from tests.cep.differential import runner

STAGE_OPENERS = ("begin", "next", "followed_by", "followed_by_any", "not_next", "not_followed_by")
TRUE = {"true": True}


def _is_opener(op: dict) -> bool:
    return op["op"] in STAGE_OPENERS or op["op"].endswith("_group")


def _stage_spans(ops: list[dict]) -> list[tuple[int, int]]:
    starts = [i for i, op in enumerate(ops) if _is_opener(op)] + [len(ops)]
    return list(zip(starts, starts[1:]))


def _pattern_variants(ops: list[dict]) -> Iterator[list[dict]]:
    """Patterns one step simpler: a stage fewer (not the first), a call fewer, a condition true, a
    nested group simpler."""
    spans = _stage_spans(ops)
    for start, end in spans[1:]:
        yield ops[:start] + ops[end:]
    for i, op in enumerate(ops):
        if not _is_opener(op):
            yield ops[:i] + ops[i + 1 :]
        if "cond" in op and op["cond"] != TRUE:
            yield ops[:i] + [{**op, "cond": TRUE}] + ops[i + 1 :]
        if "pattern" in op:
            for inner in _pattern_variants(op["pattern"]):
                yield ops[:i] + [{**op, "pattern": inner}] + ops[i + 1 :]
        if op["op"] == "times" and op["to"] > op["from"]:
            yield ops[:i] + [{**op, "to": op["to"] - 1}] + ops[i + 1 :]
        if op["op"] == "times" and op["from"] > 1:
            yield ops[:i] + [{**op, "from": op["from"] - 1, "to": op["to"] - 1}] + ops[i + 1 :]


def _variants(case: dict) -> Iterator[dict]:
    events = case["events"]
    for i in range(len(events)):
        yield {**case, "events": events[:i] + events[i + 1 :]}
    if "advance_to" in case:
        yield {k: v for k, v in case.items() if k != "advance_to"}
    for ops in _pattern_variants(case["pattern"]):
        yield {**case, "pattern": ops}
    if case["skip"]["strategy"] not in ("no_skip", "skip_to_next"):
        yield {**case, "skip": {"strategy": "skip_to_next"}}


def shrink(case: dict, category: str, max_rounds: int = 60) -> dict:
    """The smallest case found that still diverges in `category`."""
    current = copy.deepcopy(case)
    for _ in range(max_rounds):
        candidates = [dict(c, id=f"{case['id']}~{n}") for n, c in enumerate(_variants(current))]
        if not candidates:
            break
        report = runner.run_batch(candidates)
        same = {d.case["id"] for d in report.divergences if d.category == category}
        chosen = next((c for c in candidates if c["id"] in same), None)
        if chosen is None:
            break
        current = chosen
    current["id"] = case["id"]
    return current
