"""One case through both engines, and the verdict: agreed, or the category of the divergence."""

from __future__ import annotations

from collections import Counter
from typing import Any, Optional

from cep import Matcher
from cep.errors import CepError
from tests.cep.conformance_cases import build_pattern, build_skip, ids_of, make_event


def run_emberwatch(case: dict) -> dict:
    """Run a case through `cep.Matcher`; the result has the driver's shape (see flink_nfa.run_cases)."""
    try:
        skip = build_skip(case["skip"])
        if case["skip"].get("throw_on_miss"):
            skip = skip.throw_exception_on_miss()
        pattern = build_pattern(case["pattern"], skip)
    except CepError as exc:
        return {"error": _describe(exc, "build")}
    try:
        matcher = Matcher(pattern)
    except CepError as exc:
        return {"error": _describe(exc, "compile")}
    matches: list[list[int]] = []
    timeouts: list[list[int]] = []

    def advance(ts: int) -> None:
        got, timed_out = matcher.advance_time(ts)
        matches.extend(ids_of(m) for m in got)
        timeouts.extend(ids_of(t) for t, _ts in timed_out)

    try:
        for raw in case["events"]:
            advance(raw["ts"])
            matches.extend(ids_of(m) for m in matcher.process(make_event(raw), raw["ts"]))
        if "advance_to" in case:
            advance(case["advance_to"])
    except CepError as exc:
        return {"error": _describe(exc, "run")}
    return {"matches": matches, "timeouts": timeouts}


def _describe(exc: Exception, stage: str) -> dict:
    return {"stage": stage, "class": type(exc).__name__, "message": str(exc)}


def multiset(lists: list[list[int]]) -> Counter:
    return Counter(tuple(sorted(ids)) for ids in lists)


def _rejected(result: dict) -> bool:
    error = result.get("error")
    return error is not None and error["stage"] in ("build", "compile")


def verdict(ember: dict, flink: dict) -> Optional[str]:
    """None when both engines agree; else the kind of divergence.

    Agreement: both reject the pattern (at build or compile: where each engine checks a rule differs
    and does not matter), both fail at run time, or both run with the same matches and timeouts as
    multisets of sorted id lists.
    """
    if flink.get("error", {}).get("stage") == "driver":
        raise RuntimeError(f"the Flink driver failed on a case: {flink['error']}")
    if _rejected(ember) or _rejected(flink):
        if _rejected(ember) and _rejected(flink):
            return None
        return "rejected-by-emberwatch-only" if _rejected(ember) else "rejected-by-flink-only"
    if "error" in ember or "error" in flink:
        if "error" in ember and "error" in flink:
            return None
        return "run-error-emberwatch-only" if "error" in ember else "run-error-flink-only"
    if multiset(ember["matches"]) != multiset(flink["matches"]):
        return "matches"
    if multiset(ember["timeouts"]) != multiset(flink["timeouts"]):
        return "timeouts"
    return None


def with_skip(case: dict, strategy: str) -> dict:
    """The case under another skip strategy."""
    return {**case, "skip": {"strategy": strategy}, "id": f"{case['id']}@{strategy}"}


def refine(kind: str, case: dict, agrees_without_skip: Optional[bool]) -> str:
    """The category of a divergence: its kind, and for results under a skip strategy whether the
    engines agree once the skip is taken away (then only the skip's choice among competing matches,
    i.e. emission order, differs)."""
    strategy = case["skip"]["strategy"]
    if kind in ("matches", "timeouts") and strategy != "no_skip" and agrees_without_skip:
        return f"skip-order/{strategy}"
    if kind in ("matches", "timeouts"):
        return f"{kind}/{strategy}"
    return kind


def summarize(result: dict) -> Any:
    """A short printable form of a result."""
    if "error" in result:
        error = result["error"]
        return {"error": f"{error['stage']}: {error['class']}: {error['message']}"}
    return {key: sorted(map(sorted, result[key])) for key in ("matches", "timeouts")}
