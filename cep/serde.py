"""Patterns as data: a pattern of declarative conditions to a JSON document and back, exactly.

`pattern_to_dict(pattern)` describes every stage (name, contiguity, condition, quantifier, until,
window, run key) and the skip strategy in plain JSON types; `pattern_from_dict(doc)` rebuilds the
same pattern with the public builder verbs, so every check the builder makes applies to documents
too. Only what can be written down converts: a lambda condition, a `subtype` class or a run key
that is not a field getter raises `CepError` saying which stage holds it. An invalid document
raises `MalformedPatternError` whose message starts with the JSON path of the offending field,
e.g. ``$.stages[1].where.value: ...``.

The schema (``"version": 1``) is described in docs/rules.md. Readers refuse any other version, so
a document written by a newer Emberwatch is never half understood.

Example
-------
>>> from cep import Pattern, conditions as C
>>> p = Pattern.begin("hot").where(C.field("t") >= 50).followed_by("hotter").where(C.field("t") >= 60)
>>> doc = pattern_to_dict(p.within(60_000))
>>> pattern_to_dict(pattern_from_dict(doc)) == doc
True
"""

from __future__ import annotations

import json
import math
import operator
from typing import Any, Callable, Optional

from cep.aftermatch import SKIP_KINDS, SKIP_TO_FIRST, SKIP_TO_LAST, AfterMatchSkipStrategy
from cep.conditions import (
    And,
    Compare,
    Condition,
    Const,
    In,
    IsNull,
    Not,
    Or,
    Ref,
    StrMatch,
    Unseen,
)
from cep.errors import CepError, MalformedPatternError
from cep.json_fields import LITERAL_TYPES, JsonObject
from cep.pattern import Pattern
from cep.quantifier import Contiguity, Property

__all__ = [
    "SCHEMA_VERSION",
    "condition_from_dict",
    "condition_to_dict",
    "pattern_from_dict",
    "pattern_from_json",
    "pattern_to_dict",
    "pattern_to_json",
]

SCHEMA_VERSION = 1

_CONTIGUITY = {
    Contiguity.STRICT: "next",
    Contiguity.RELAXED: "followed_by",
    Contiguity.NONDETERMINISTIC: "followed_by_any",
    Contiguity.NOT_NEXT: "not_next",
    Contiguity.NOT_FOLLOW: "not_followed_by",
}
_INNER = {Contiguity.RELAXED: "relaxed", Contiguity.STRICT: "consecutive", Contiguity.NONDETERMINISTIC: "any"}
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


# ------------------------------------------------------------------------------------- writing


def pattern_to_dict(pattern: Pattern) -> dict:
    """The JSON-ready document of `pattern` (the last stage, as the builder returns it).

    Raises
    ------
    CepError
        When a stage holds something that is not data: a lambda or other opaque condition, a
        `subtype`, or a `dedupe_runs` key other than ``operator.itemgetter("field", ...)``.
    """
    if not isinstance(pattern, Pattern):
        raise CepError(f"pattern_to_dict needs a Pattern, got {pattern!r}")
    doc: dict = {"version": SCHEMA_VERSION}
    doc.update(_sequence_to_dict(pattern))
    return doc


def _sequence_to_dict(last: Pattern) -> dict:
    stages = list(reversed(list(last.stages())))
    return {
        "skip": _skip_to_dict(stages[0].skip_strategy),
        "stages": [_stage_to_dict(stage, first=(i == 0)) for i, stage in enumerate(stages)],
    }


def _skip_to_dict(skip: AfterMatchSkipStrategy) -> dict:
    out: dict = {"kind": skip.kind}
    if skip.pattern_name is not None:
        out["stage"] = skip.pattern_name
        out["throw_on_miss"] = skip.throw_on_miss
    return out


def _stage_to_dict(stage: Pattern, first: bool) -> dict:
    where = f"stage {stage.name!r}"
    out: dict = {}
    if stage.group is not None:
        out["group"] = _sequence_to_dict(stage.group)
    else:
        out["name"] = stage.name
    q = stage.quantifier
    if not first:
        out["contiguity"] = _CONTIGUITY[q.contiguity]
    if stage.condition is not None:
        out["where"] = _condition_to_dict(stage.condition, where)
    if q.has(Property.LOOPING):
        out["quantifier"] = {"kind": "times_or_more", "min": stage.repeat.low}
    elif q.has(Property.TIMES):
        out["quantifier"] = {"kind": "times", "min": stage.repeat.low, "max": stage.repeat.high}
    if "quantifier" in out:
        out["quantifier"]["inner"] = _INNER[q.inner]
        if q.has(Property.GREEDY):
            out["quantifier"]["greedy"] = True
    if q.has(Property.OPTIONAL):
        out["optional"] = True
    if stage.until_condition is not None:
        out["until"] = _condition_to_dict(stage.until_condition, f"the until() of {where}")
    if stage.window_ms is not None:
        out["within_ms"] = stage.window_ms
    if stage.dedupe_key is not None:
        out["dedupe_runs"] = {"fields": _key_fields(stage.dedupe_key, where)}
    return out


def _key_fields(key: Callable[[Any], Any], where: str) -> list:
    """The field names of an ``operator.itemgetter`` of str fields (the only run key that is data)."""
    if isinstance(key, operator.itemgetter):
        _cls, fields = key.__reduce__()
        if fields and all(isinstance(f, str) for f in fields):
            return list(fields)
    raise CepError(
        f"the dedupe_runs key of {where} ({key!r}) cannot be written as data: use "
        'operator.itemgetter("field") (or several str fields) as the run key'
    )


def condition_to_dict(cond: Condition) -> dict:
    """The JSON-ready document of one declarative condition (`C.last`/`C.unseen` included)."""
    return _condition_to_dict(cond, "the condition")


def _condition_to_dict(cond: Condition, where: str) -> dict:
    if isinstance(cond, Const):
        return {"op": "true" if cond.value else "false"}
    if isinstance(cond, (And, Or)):
        return {
            "op": "and" if isinstance(cond, And) else "or",
            "items": [_condition_to_dict(i, where) for i in cond.items],
        }
    if isinstance(cond, Not):
        return {"op": "not", "item": _condition_to_dict(cond.item, where)}
    if isinstance(cond, Compare):
        out: dict = {"op": cond.op, "field": cond.name}
        if isinstance(cond.value, Ref):
            out["last"] = {"stage": cond.value.pattern, "field": cond.value.name}
        else:
            out["value"] = _literal(cond.value, where)
        return out
    if isinstance(cond, In):
        return {"op": "in", "field": cond.name, "values": [_literal(v, where) for v in cond.values]}
    if isinstance(cond, IsNull):
        return {"op": "is_null", "field": cond.name}
    if isinstance(cond, StrMatch):
        return {"op": cond.op, "field": cond.name, "text": cond.text}
    if isinstance(cond, Unseen):
        return {"op": "unseen", "field": cond.name}
    raise CepError(
        f"the condition {cond!r} of {where} cannot be written as data: only declarative conditions "
        "(cep.conditions: field comparisons, isin, startswith, contains, is_null, C.last, C.unseen, "
        "combined with & | ~) can; a lambda or subtype() has no document form"
    )


def _literal(value: Any, where: str) -> Any:
    if not isinstance(value, LITERAL_TYPES):
        raise CepError(f"the value {value!r} in {where} is not a JSON literal (str, int, float, bool)")
    if isinstance(value, float) and not math.isfinite(value):
        raise CepError(f"the value {value!r} in {where} is not a finite number; JSON cannot hold it")
    return value


def pattern_to_json(pattern: Pattern, **dumps_options: Any) -> str:
    """`pattern_to_dict` as JSON text (strict JSON: no NaN or Infinity)."""
    return json.dumps(pattern_to_dict(pattern), allow_nan=False, **dumps_options)


# ------------------------------------------------------------------------------------- reading


def pattern_from_json(text: str) -> Pattern:
    """`pattern_from_dict` of JSON text; text that is not JSON raises `MalformedPatternError` at ``$``."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise MalformedPatternError(f"$: not a JSON document: {exc}") from exc
    return pattern_from_dict(doc)


def pattern_from_dict(doc: Any) -> Pattern:
    """Build the pattern a `pattern_to_dict` document describes (its last stage).

    Raises
    ------
    MalformedPatternError
        The message starts with the JSON path of the field at fault (``$.stages[2].quantifier.min``).
    """
    obj = JsonObject(doc, "$")
    version = obj.take("version", int)
    if version != SCHEMA_VERSION:
        raise MalformedPatternError(
            f"$.version: this Emberwatch reads pattern documents of version {SCHEMA_VERSION}, got {version!r}"
        )
    pattern = _sequence_from(obj)
    obj.done()
    return pattern


def _sequence_from(obj: JsonObject) -> Pattern:
    skip = _skip_from(JsonObject(obj.take("skip", dict), f"{obj.path}.skip"))
    stages = obj.take("stages", list)
    if not stages:
        raise MalformedPatternError(f"{obj.path}.stages: a pattern needs at least one stage")
    pattern: Optional[Pattern] = None
    for i, raw in enumerate(stages):
        pattern = _stage_from(JsonObject(raw, f"{obj.path}.stages[{i}]"), pattern, skip)
    assert pattern is not None
    return pattern


def _skip_from(obj: JsonObject) -> AfterMatchSkipStrategy:
    kind = obj.take("kind", str)
    if kind not in SKIP_KINDS:
        raise MalformedPatternError(
            f"{obj.path}.kind: unknown skip strategy {kind!r}; one of {list(SKIP_KINDS)}"
        )
    if kind in (SKIP_TO_FIRST, SKIP_TO_LAST):
        skip = getattr(AfterMatchSkipStrategy, kind)(obj.take("stage", str))
        if obj.take("throw_on_miss", bool, default=False):
            skip = skip.throw_exception_on_miss()
    else:
        skip = getattr(AfterMatchSkipStrategy, kind)()
    obj.done()
    return skip


_VERBS = {name: name for name in _CONTIGUITY.values()}


def _stage_from(obj: JsonObject, previous: Optional[Pattern], skip: AfterMatchSkipStrategy) -> Pattern:
    with obj.builder_errors():
        if "group" in obj.raw:
            target: Any = _sequence_from(JsonObject(obj.take("group", dict), f"{obj.path}.group"))
        else:
            target = obj.take("name", str)
        if previous is None:
            if "contiguity" in obj.raw:
                raise MalformedPatternError(f"{obj.path}.contiguity: the first stage has no contiguity")
            stage = Pattern.begin(target, skip_strategy=skip)
        else:
            verb = obj.take("contiguity", str)
            if verb not in _VERBS:
                raise MalformedPatternError(
                    f"{obj.path}.contiguity: unknown contiguity {verb!r}; one of {sorted(_VERBS)}"
                )
            stage = getattr(previous, verb)(target)
        if "where" in obj.raw:
            stage.where(_condition_from(obj.take("where", dict), f"{obj.path}.where"))
        optional = obj.take("optional", bool, default=False)
        if "quantifier" in obj.raw:
            quantifier = JsonObject(obj.take("quantifier", dict), f"{obj.path}.quantifier")
            optional = _quantifier_from(quantifier, stage, optional)
        if optional:
            stage.optional()
        if "until" in obj.raw:
            stage.until(_condition_from(obj.take("until", dict), f"{obj.path}.until"))
        if "within_ms" in obj.raw:
            stage.within(obj.take("within_ms", int))
        if "dedupe_runs" in obj.raw:
            runs = JsonObject(obj.take("dedupe_runs", dict), f"{obj.path}.dedupe_runs")
            fields = runs.take("fields", list)
            if not fields or not all(isinstance(f, str) and f for f in fields):
                raise MalformedPatternError(f"{runs.path}.fields: a non-empty list of field names")
            runs.done()
            stage.dedupe_runs(operator.itemgetter(*fields))
        obj.done()
    return stage


def _quantifier_from(obj: JsonObject, stage: Pattern, optional: bool) -> bool:
    """Apply the quantifier; returns whether `optional()` is still to be called.

    An optional ``times`` from 1 is built as ``times(0, max)``, which the builder accepts even right
    after a greedy stage, where ``times(1, max).optional()`` is refused; both give the same stage.
    """
    kind = obj.take("kind", str)
    low = obj.take("min", int)
    if kind == "times_or_more":
        stage.times_or_more(low)
    elif kind == "times":
        high = obj.take("max", int)
        if low < 1:
            raise MalformedPatternError(f'{obj.path}.min: must be >= 1 (write zero as "optional": true)')
        if optional and low == 1:
            stage.times(0, high)
            optional = False
        else:
            stage.times(low, high)
    else:
        raise MalformedPatternError(f"{obj.path}.kind: unknown quantifier {kind!r}; times or times_or_more")
    if obj.take("greedy", bool, default=False):
        stage.greedy()
    inner = obj.take("inner", str, default="relaxed")
    if inner == "consecutive":
        stage.consecutive()
    elif inner == "any":
        stage.allow_combinations()
    elif inner != "relaxed":
        raise MalformedPatternError(
            f"{obj.path}.inner: unknown inner contiguity {inner!r}; one of {list(_INNER.values())}"
        )
    obj.done()
    return optional


def condition_from_dict(doc: Any) -> Condition:
    """The condition a `condition_to_dict` document describes."""
    return _condition_from(doc, "$")


def _condition_from(raw: Any, path: str) -> Condition:
    obj = JsonObject(raw, path)
    op = obj.take("op", str)
    cond: Condition
    if op in ("true", "false"):
        cond = Const(op == "true")
    elif op in ("and", "or"):
        items = obj.take("items", list)
        if len(items) < 2:
            raise MalformedPatternError(f"{path}.items: {op} needs at least two items")
        parts = [_condition_from(item, f"{path}.items[{i}]") for i, item in enumerate(items)]
        cond = (And if op == "and" else Or)(parts)
        if len(cond.items) != len(parts):  # type: ignore[attr-defined]
            raise MalformedPatternError(f"{path}.items: write a nested {op} inline (it is flattened)")
    elif op == "not":
        cond = Not(_condition_from(obj.take("item", dict), f"{path}.item"))
    elif op in _COMPARISONS:
        name = obj.take_field()
        if "last" in obj.raw:
            ref = JsonObject(obj.take("last", dict), f"{path}.last")
            cond = Compare(name, op, Ref(ref.take("stage", str), ref.take_field()))
            ref.done()
        else:
            cond = Compare(name, op, obj.take_literal("value"))
    elif op == "in":
        name = obj.take_field()
        values = obj.take("values", list)
        if not values:
            raise MalformedPatternError(f"{path}.values: in needs at least one value")
        cond = In(name, [JsonObject.literal(v, f"{path}.values[{i}]") for i, v in enumerate(values)])
    elif op == "is_null":
        cond = IsNull(obj.take_field())
    elif op in ("startswith", "contains"):
        cond = StrMatch(obj.take_field(), op, obj.take("text", str))
    elif op == "unseen":
        cond = Unseen(obj.take_field())
    else:
        known = [
            "true",
            "false",
            "and",
            "or",
            "not",
            *_COMPARISONS,
            "in",
            "is_null",
            "startswith",
            "contains",
            "unseen",
        ]
        raise MalformedPatternError(f"{path}.op: unknown operator {op!r}; one of {known}")
    obj.done()
    return cond
