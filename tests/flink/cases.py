"""Build the conformance scenarios (``tests/cep/conformance/cases.json``) as `cep` patterns and events.

The scenarios come from Flink's own CEP tests (see that folder's README for the format). Here they run
through the `cep.flink` adapter, so the events must survive pickling into the Python worker: `Event`
and `SubEvent` are module-level classes, and the conditions are `cep.conditions` or module-level
functions bound with `functools.partial`.
"""

from __future__ import annotations

import functools
import json
import operator
from pathlib import Path
from typing import Any, Callable

from cep import AfterMatchSkipStrategy, Pattern
from cep import conditions as C

CASES_PATH = Path(__file__).resolve().parents[1] / "cep" / "conformance" / "cases.json"

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "startswith": lambda text, prefix: text.startswith(prefix),
    "contains": lambda text, part: part in text,
}
_STRUCTURE_OPS = ("begin", "next", "followed_by", "followed_by_any", "not_next", "not_followed_by")
_NO_ARGUMENT_OPS = ("one_or_more", "optional", "greedy", "consecutive", "allow_combinations")


class Event:
    """A scenario event, as Flink's test `Event` (id, name, price); `key` says which scenario it is in."""

    def __init__(self, id: int, name: str, price: float, key: str = "") -> None:
        self.id = id
        self.name = name
        self.price = price
        self.key = key

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__!r})"


class SubEvent(Event):
    """Flink's test `SubEvent`: an `Event` with a volume."""

    def __init__(self, id: int, name: str, price: float, volume: float, key: str = "") -> None:
        super().__init__(id, name, price, key)
        self.volume = volume


def load_cases() -> list[dict]:
    return json.loads(CASES_PATH.read_text(encoding="utf-8"))


def make_event(spec: dict, key: str = "") -> Event:
    if spec.get("type") == "SubEvent":
        return SubEvent(spec["id"], spec["name"], spec["price"], spec["volume"], key)
    return Event(spec["id"], spec["name"], spec["price"], key)


def build_pattern(case: dict) -> Pattern:
    """The case's builder calls, in order, with its after-match skip strategy."""
    return _build(case["pattern"], _skip_strategy(case["skip"]))


def _build(ops: list[dict], skip: AfterMatchSkipStrategy | None) -> Pattern:
    pattern: Any = None
    for op in ops:
        kind = op["op"]
        if kind == "begin":
            pattern = Pattern.begin(op["name"], skip_strategy=skip)
        elif kind == "begin_group":
            pattern = Pattern.begin(_build(op["pattern"], None), skip_strategy=skip)
        elif kind in _STRUCTURE_OPS:
            pattern = getattr(pattern, kind)(op["name"])
        elif kind.endswith("_group"):
            pattern = getattr(pattern, kind[: -len("_group")])(_build(op["pattern"], None))
        elif kind in ("where", "or_where", "until"):
            pattern = getattr(pattern, kind)(condition(op["cond"]))
        elif kind == "subtype":
            pattern = pattern.subtype(SubEvent if op["type"] == "SubEvent" else Event)
        elif kind == "times":
            low, high = op["from"], op["to"]
            pattern = pattern.times(low) if low == high else pattern.times(low, high)
        elif kind == "times_or_more":
            pattern = pattern.times_or_more(op["n"])
        elif kind == "within":
            pattern = pattern.within(op["ms"])
        elif kind in _NO_ARGUMENT_OPS:
            pattern = getattr(pattern, kind)()
        else:
            raise ValueError(f"unknown pattern op {kind!r} in a conformance case")
    return pattern


def _skip_strategy(spec: dict) -> AfterMatchSkipStrategy:
    strategy = spec["strategy"]
    if strategy in ("skip_to_first", "skip_to_last"):
        return getattr(AfterMatchSkipStrategy, strategy)(spec["name"])
    return getattr(AfterMatchSkipStrategy, strategy)()


def condition(spec: dict) -> Any:
    """A `cep.conditions` condition where the spec is declarative, a context-reading function otherwise."""
    if "iter" in spec:
        return functools.partial(_ITERATIVE[spec["iter"]], spec)
    if spec.get("true"):
        return C.true()
    if "and" in spec:
        return functools.reduce(operator.and_, (condition(part) for part in spec["and"]))
    if "or" in spec:
        return functools.reduce(operator.or_, (condition(part) for part in spec["or"]))
    if "not" in spec:
        return ~condition(spec["not"])
    if spec["op"] in ("startswith", "contains"):
        return functools.partial(_text_condition, spec)
    return _COMPARE[spec["op"]](C.field(spec["field"]), spec["value"])


def _text_condition(spec: dict, event: Any) -> bool:
    value = getattr(event, spec["field"], None)
    return value is not None and _COMPARE[spec["op"]](value, spec["value"])


def _values(spec: dict, event: Any, ctx: Any) -> list:
    previous = [getattr(seen, spec["field"], None) for seen in ctx.get_events_for_pattern(spec["pattern"])]
    if spec.get("include_current"):
        previous.append(getattr(event, spec["field"], None))
    return [value for value in previous if value is not None]


def _iter_sum(spec: dict, event: Any, ctx: Any) -> bool:
    return _COMPARE[spec["op"]](sum(_values(spec, event, ctx)), spec["value"])


def _iter_count(spec: dict, event: Any, ctx: Any) -> bool:
    return _COMPARE[spec["op"]](len(_values(spec, event, ctx)), spec["value"])


def _iter_any(spec: dict, event: Any, ctx: Any) -> bool:
    rel = spec["cond_rel"]
    mine = getattr(event, rel["field"], None)
    return mine is not None and any(
        (theirs := getattr(seen, rel["other_field"], None)) is not None and _COMPARE[rel["op"]](mine, theirs)
        for seen in ctx.get_events_for_pattern(spec["pattern"])
    )


_ITERATIVE = {"sum": _iter_sum, "count": _iter_count, "any": _iter_any}
