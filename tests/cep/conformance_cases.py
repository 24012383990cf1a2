"""Builds Flink conformance scenarios (tests/cep/conformance/cases.json) through the public API."""

from __future__ import annotations

import json
import operator
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from cep import AfterMatchSkipStrategy, Matcher, Pattern, WithinType
from cep import conditions as C

CASES_PATH = Path(__file__).parent / "conformance" / "cases.json"
# scenarios where several matches compete under a skip strategy: Flink's emission order decides
EMISSION_ORDER_PATH = Path(__file__).parent / "conformance" / "emission_order.json"
# within(..., WithinType.PREVIOUS_AND_CURRENT) scenarios (a `within` op with "type": "previous")
WITHIN_PREVIOUS_PATH = Path(__file__).parent / "conformance" / "within_previous.json"

_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


class Event:
    """The scenarios' event type (Flink's test Event): id, name, price."""

    def __init__(self, id: int, name: str, price: float) -> None:
        self.id = id
        self.name = name
        self.price = price

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id}, {self.name!r}, {self.price})"


class SubEvent(Event):
    """A subclass with an extra field, for `subtype`."""

    def __init__(self, id: int, name: str, price: float, volume: float) -> None:
        super().__init__(id, name, price)
        self.volume = volume


def load_cases(path: Path = CASES_PATH) -> list[dict]:
    return json.loads(path.read_text())


def make_event(raw: dict) -> Event:
    if raw["type"] == "SubEvent":
        return SubEvent(raw["id"], raw["name"], raw["price"], raw["volume"])
    return Event(raw["id"], raw["name"], raw["price"])


def build_condition(spec: dict) -> Any:
    """Declarative specs become `cep.conditions`; iterative ones become context lambdas."""
    if "and" in spec:
        parts = [build_condition(s) for s in spec["and"]]
        return _combine(parts, all)
    if "or" in spec:
        parts = [build_condition(s) for s in spec["or"]]
        return _combine(parts, any)
    if "not" in spec:
        inner = build_condition(spec["not"])
        if isinstance(inner, C.Condition):
            return ~inner
        return lambda e, ctx: not inner(e, ctx)
    if "true" in spec:
        return C.true()
    if "iter" in spec:
        return _iterative(spec)
    f = C.field(spec["field"])
    op, value = spec["op"], spec["value"]
    if op == "startswith":
        return f.startswith(value)
    if op == "contains":
        return f.contains(value)
    return {
        "eq": f == value,
        "ne": f != value,
        "lt": f < value,
        "le": f <= value,
        "gt": f > value,
        "ge": f >= value,
    }[op]


def _combine(parts: list, how: Callable) -> Any:
    if all(isinstance(p, C.Condition) for p in parts):
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if how is all else (out | p)
        return out
    wrapped = [C.as_condition(p) for p in parts]
    return lambda e, ctx: how(w(e, ctx) for w in wrapped)


def _iterative(spec: dict) -> Callable[[Any, Any], bool]:
    kind, pattern = spec["iter"], spec["pattern"]
    if kind in ("sum", "count"):
        cmp, value = _CMP[spec["op"]], spec["value"]

        def aggregate(e: Any, ctx: Any) -> bool:
            prev = ctx.get_events_for_pattern(pattern)
            if kind == "sum":
                total = sum(getattr(p, spec["field"]) for p in prev)
                if spec.get("include_current"):
                    total += getattr(e, spec["field"])
            else:
                total = len(prev) + (1 if spec.get("include_current") else 0)
            return cmp(total, value)

        return aggregate
    rel = spec["cond_rel"]
    cmp = _CMP[rel["op"]]

    def any_previous(e: Any, ctx: Any) -> bool:
        return any(
            cmp(getattr(e, rel["field"]), getattr(p, rel["other_field"]))
            for p in ctx.get_events_for_pattern(pattern)
        )

    return any_previous


def build_pattern(ops: list[dict], skip: AfterMatchSkipStrategy | None = None) -> Pattern:
    """Replay the recorded builder calls on the public `Pattern` API."""
    p: Any = None
    for op in ops:
        name = op["op"]
        if name == "begin":
            p = Pattern.begin(op["name"], skip_strategy=skip)
        elif name == "begin_group":
            p = Pattern.begin(build_pattern(op["pattern"]), skip_strategy=skip)
        elif name.endswith("_group"):
            p = getattr(p, name[: -len("_group")])(build_pattern(op["pattern"]))
        elif name in ("next", "followed_by", "followed_by_any", "not_next", "not_followed_by"):
            p = getattr(p, name)(op["name"])
        elif name in ("where", "or_where", "until"):
            p = getattr(p, name)(build_condition(op["cond"]))
        elif name == "subtype":
            p = p.subtype({"Event": Event, "SubEvent": SubEvent}[op["type"]])
        elif name == "times":
            p = p.times(op["from"], op["to"]) if op["from"] != op["to"] else p.times(op["from"])
        elif name == "times_or_more":
            p = p.times_or_more(op["n"])
        elif name == "within":
            previous = op.get("type") == "previous"
            p = p.within(op["ms"], WithinType.PREVIOUS_AND_CURRENT) if previous else p.within(op["ms"])
        else:
            p = getattr(p, name)()
    return p


def build_skip(spec: dict) -> AfterMatchSkipStrategy:
    strategy = spec["strategy"]
    if strategy in ("skip_to_first", "skip_to_last"):
        return getattr(AfterMatchSkipStrategy, strategy)(spec["name"])
    return getattr(AfterMatchSkipStrategy, strategy)()


def ids_of(match: dict) -> list[int]:
    return sorted(e.id for events in match.values() for e in events)


def run_case(case: dict, **matcher_options: Any) -> tuple[Counter, Counter]:
    """Drive a case as Flink's operator does; returns (matches, timeouts) as multisets of id tuples."""
    matcher = Matcher(build_pattern(case["pattern"], build_skip(case["skip"])), **matcher_options)
    matches: list = []
    timeouts: list = []
    for raw in case["events"]:
        got, timed_out = matcher.advance_time(raw["ts"])
        matches += got
        timeouts += timed_out
        matches += matcher.process(make_event(raw), raw["ts"])
    if "advance_to" in case:
        got, timed_out = matcher.advance_time(case["advance_to"])
        matches += got
        timeouts += timed_out
    return (
        Counter(tuple(ids_of(m)) for m in matches),
        Counter(tuple(ids_of(t)) for t, _ts in timeouts),
    )
