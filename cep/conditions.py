"""Conditions: plain callables `cond(event, ctx=None) -> bool` that can also describe themselves.

A declarative condition (built from `field(...)` comparisons with `&`, `|`, `~`) is
introspectable: the engine can read which field values an event needs (to reject it in O(1)),
and `to_sql()` renders it as a Flink SQL boolean expression so a job can push it into the JVM.
Lambdas stay fully supported; they are wrapped as opaque conditions. How conditions are run
(generated Python) and rendered (SQL literals) lives in `cep.condition_codegen`.

Over 450 lines for a reason: this is the condition language, one small class per kind of
condition (comparison, string match, membership, null test, and/or/not, opaque callable), each
with its Python code, SQL and repr side by side; split across files, a kind would be read in
pieces or the `&`/`|`/`~` operators of `Condition` would need import cycles.

Missing fields follow SQL's three-valued logic: a comparison involving a missing (or `None`)
field is *unknown*, `~unknown` is unknown, and an event passes only when the whole condition is
true. Python evaluation and the rendered SQL therefore keep exactly the same events.

Example
-------
>>> from cep import conditions as C
>>> hot = (C.field("temperature") >= 50) & (C.field("region") == "r1")
>>> hot({"temperature": 61.0, "region": "r1"})
True
>>> hot.to_sql()
"(`temperature` >= 50 AND `region` = 'r1')"
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, Callable

from cep.condition_codegen import CodeGen, like_escape, sql_ident, sql_literal
from cep.errors import CepError

__all__ = [
    "Condition",
    "Field",
    "Ref",
    "as_condition",
    "field",
    "false",
    "is_instance",
    "last",
    "true",
    "unseen",
]


class Condition:
    """Base of all conditions; call it as `cond(event)` or `cond(event, ctx)`."""

    #: True when the condition reads only the current event and can be rendered as SQL.
    declarative = False

    def __call__(self, event: Any, ctx: Any = None) -> bool:
        fn = self.__dict__.get("_fn")
        if fn is None:
            fn = self.compile()
        return fn(event, ctx)

    def compile(self) -> Callable[[Any, Any], bool]:
        """Return (and cache) a fast plain function `fn(event, ctx)` equivalent to this condition."""
        fn = self.__dict__.get("_fn")
        if fn is None:
            gen = CodeGen()
            expr = self._code(True, gen)
            # comparisons already give bools; only user callables need normalising
            body = expr if self.declarative else f"bool({expr})"
            src = f"def _cond(e, ctx=None):\n    return {body}\n"
            exec(compile(src, f"<condition {self!r:.60}>", "exec"), gen.namespace)
            fn = gen.namespace["_cond"]
            self.__dict__["_fn"] = fn
        return fn

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fn", None)  # generated code is rebuilt on demand after unpickling
        return state

    def _code(self, positive: bool, gen: CodeGen) -> str:
        """Python expression that is true iff this condition is TRUE (positive) or FALSE (not)."""
        raise NotImplementedError

    def to_sql(self) -> str:
        """Render as a Flink SQL boolean expression over columns named like the fields."""
        raise CepError(f"{self!r} cannot be rendered as SQL: only field comparisons can")

    def necessary(self) -> Condition | None:
        """A declarative condition every event satisfying this one also satisfies, or None."""
        return self if self.declarative else None

    def __and__(self, other: Any) -> Condition:
        return And((self, as_condition(other)))

    def __rand__(self, other: Any) -> Condition:
        return And((as_condition(other), self))

    def __or__(self, other: Any) -> Condition:
        return Or((self, as_condition(other)))

    def __ror__(self, other: Any) -> Condition:
        return Or((as_condition(other), self))

    def __invert__(self) -> Condition:
        return Not(self)


class Const(Condition):
    """Always true or always false."""

    declarative = True

    def __init__(self, value: bool) -> None:
        self.value = bool(value)

    def _code(self, positive: bool, gen: CodeGen) -> str:
        return "True" if self.value == positive else "False"

    def to_sql(self) -> str:
        return "TRUE" if self.value else "FALSE"

    def __repr__(self) -> str:
        return "C.true()" if self.value else "C.false()"


_OPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_SQL_OPS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class Ref:
    """A field of the last event already accepted for another pattern name (needs the context).

    Build it with `C.last("n1", "node")` and compare a field with it:
    `C.field("infectedBy") == C.last("n1", "node")`.
    """

    def __init__(self, pattern: str, name: str) -> None:
        self.pattern = pattern
        self.name = name

    def __repr__(self) -> str:
        return f"C.last({self.pattern!r}, {self.name!r})"

    def __eq__(self, other: Any) -> Condition:  # type: ignore[override]
        return _compare_reflected(other, "==", self)

    def __ne__(self, other: Any) -> Condition:  # type: ignore[override]
        return _compare_reflected(other, "!=", self)

    __hash__ = object.__hash__


def _compare_reflected(other: Any, op: str, ref: Ref) -> Condition:
    if isinstance(other, Field):
        return Compare(other.name, _MIRROR[op], ref)
    raise CepError(f"compare {ref!r} with C.field(...), not with {other!r}")


class Compare(Condition):
    """`field <op> value`, where value is a literal or a `Ref` to an earlier pattern's event."""

    def __init__(self, name: str, op: str, value: Any) -> None:
        if op not in _OPS:
            raise CepError(f"unknown comparison {op!r}")
        self.name = name
        self.op = op
        self.value = value
        self.declarative = not isinstance(value, Ref)

    def _code(self, positive: bool, gen: CodeGen) -> str:
        v = gen.var()
        if isinstance(self.value, Ref):
            other = f"_last(ctx, {gen.const(self.value.pattern)}, {gen.const(self.value.name)})"
            w = gen.var()
            cmp = f"{v} {_OPS[self.op]} {w}"
            test = f"(({v} := {gen.read(self.name)}) is not None and ({w} := {other}) is not None"
        else:
            cmp = f"{v} {_OPS[self.op]} {gen.const(self.value)}"
            test = f"(({v} := {gen.read(self.name)}) is not None"
        return f"{test} and {cmp if positive else 'not (' + cmp + ')'})"

    def to_sql(self) -> str:
        if isinstance(self.value, Ref):
            return super().to_sql()
        return f"{sql_ident(self.name)} {_SQL_OPS[self.op]} {sql_literal(self.value)}"

    def __repr__(self) -> str:
        return f"(C.field({self.name!r}) {self.op} {self.value!r})"


class Unseen(Condition):
    """`field` differs from that field of every event already accepted in the partial match."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _code(self, positive: bool, gen: CodeGen) -> str:
        v = gen.var()
        seen = f"_seen(ctx, {v}, {gen.const(self.name)})"
        return f"(({v} := {gen.read(self.name)}) is not None and {'not ' if positive else ''}{seen})"

    def __repr__(self) -> str:
        return f"C.unseen({self.name!r})"


class StrMatch(Condition):
    """`field` starts with / contains a text (SQL `LIKE`)."""

    declarative = True

    def __init__(self, name: str, op: str, text: str) -> None:
        if op not in ("startswith", "contains"):
            raise CepError(f"unknown string match {op!r}")
        if not isinstance(text, str):
            raise CepError(f"{op} needs a str, got {text!r}")
        self.name = name
        self.op = op
        self.text = text

    def _code(self, positive: bool, gen: CodeGen) -> str:
        v = gen.var()
        t = gen.const(self.text)
        test = f"{v}.startswith({t})" if self.op == "startswith" else f"{t} in {v}"
        if not positive:
            test = f"not {test}"
        return f"(({v} := {gen.read(self.name)}) is not None and {test})"

    def to_sql(self) -> str:
        body = like_escape(self.text)
        like = f"{body}%" if self.op == "startswith" else f"%{body}%"
        return f"{sql_ident(self.name)} LIKE {sql_literal(like)} ESCAPE '\\'"

    def __repr__(self) -> str:
        return f"C.field({self.name!r}).{self.op}({self.text!r})"


class In(Condition):
    """`field` is one of a fixed set of literals (SQL `IN`)."""

    declarative = True

    def __init__(self, name: str, values: Iterable[Any]) -> None:
        self.name = name
        self.values = tuple(values)
        if not self.values:
            raise CepError("isin() needs at least one value")

    def _code(self, positive: bool, gen: CodeGen) -> str:
        v = gen.var()
        s = gen.const(frozenset(self.values))
        test = f"{v} in {s}" if positive else f"{v} not in {s}"
        return f"(({v} := {gen.read(self.name)}) is not None and {test})"

    def to_sql(self) -> str:
        return f"{sql_ident(self.name)} IN ({', '.join(sql_literal(x) for x in self.values)})"

    def __repr__(self) -> str:
        return f"C.field({self.name!r}).isin({list(self.values)!r})"


class IsNull(Condition):
    """`field` is missing or None (never unknown)."""

    declarative = True

    def __init__(self, name: str) -> None:
        self.name = name

    def _code(self, positive: bool, gen: CodeGen) -> str:
        return f"({gen.read(self.name)} is {'' if positive else 'not '}None)"

    def to_sql(self) -> str:
        return f"{sql_ident(self.name)} IS NULL"

    def __repr__(self) -> str:
        return f"C.field({self.name!r}).is_null()"


class And(Condition):
    """All of the items are true (Kleene AND)."""

    def __init__(self, items: Iterable[Condition]) -> None:
        flat: list[Condition] = []
        for item in items:
            flat.extend(item.items if isinstance(item, And) else (item,))
        self.items = tuple(flat)
        self.declarative = all(i.declarative for i in self.items)

    def _code(self, positive: bool, gen: CodeGen) -> str:
        joiner = " and " if positive else " or "
        return "(" + joiner.join(i._code(positive, gen) for i in self.items) + ")"

    def to_sql(self) -> str:
        return "(" + " AND ".join(i.to_sql() for i in self.items) + ")"

    def necessary(self) -> Condition | None:
        parts = [p for p in (i.necessary() for i in self.items) if p is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else And(parts)

    def __repr__(self) -> str:
        return "(" + " & ".join(repr(i) for i in self.items) + ")"


class Or(Condition):
    """Any of the items is true (Kleene OR)."""

    def __init__(self, items: Iterable[Condition]) -> None:
        flat: list[Condition] = []
        for item in items:
            flat.extend(item.items if isinstance(item, Or) else (item,))
        self.items = tuple(flat)
        self.declarative = all(i.declarative for i in self.items)

    def _code(self, positive: bool, gen: CodeGen) -> str:
        joiner = " or " if positive else " and "
        return "(" + joiner.join(i._code(positive, gen) for i in self.items) + ")"

    def to_sql(self) -> str:
        return "(" + " OR ".join(i.to_sql() for i in self.items) + ")"

    def necessary(self) -> Condition | None:
        parts = [i.necessary() for i in self.items]
        if any(p is None for p in parts):
            return None
        return Or(parts)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return "(" + " | ".join(repr(i) for i in self.items) + ")"


class Not(Condition):
    """Negation in three-valued logic: `~unknown` stays unknown (as SQL's NOT)."""

    def __init__(self, item: Condition) -> None:
        self.item = item
        self.declarative = item.declarative

    def _code(self, positive: bool, gen: CodeGen) -> str:
        return self.item._code(not positive, gen)

    def to_sql(self) -> str:
        return f"NOT {self.item.to_sql()}"

    def __repr__(self) -> str:
        return f"~{self.item!r}"


class Negate(Condition):
    """Two-valued negation (`not cond(...)`), as Flink's NotCondition; used by the NFA compiler."""

    def __init__(self, item: Condition) -> None:
        self.item = item

    def _code(self, positive: bool, gen: CodeGen) -> str:
        inner = self.item._code(True, gen)
        return f"(not {inner})" if positive else inner

    def __repr__(self) -> str:
        return f"negate({self.item!r})"


class Opaque(Condition):
    """A user callable `fn(event)` or `fn(event, ctx)`; nothing about it is known."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise CepError(f"a condition must be callable, got {fn!r}")
        self.fn = fn
        self.arity = _arity(fn)

    def _code(self, positive: bool, gen: CodeGen) -> str:
        f = gen.const(self.fn)
        call = f"{f}(e)" if self.arity == 1 else f"{f}(e, ctx)"
        return call if positive else f"(not {call})"

    def __repr__(self) -> str:
        # no memory addresses: the repr goes into snapshot fingerprints, which must be stable
        name = getattr(self.fn, "__qualname__", None) or type(self.fn).__qualname__
        return f"opaque({name!r})"


class IsInstance(Condition):
    """The event is an instance of a class (Flink's `subtype`)."""

    def __init__(self, cls: type) -> None:
        if not isinstance(cls, type):
            raise CepError(f"subtype() needs a class, got {cls!r}")
        self.cls = cls

    def _code(self, positive: bool, gen: CodeGen) -> str:
        test = f"_isinstance(e, {gen.const(self.cls)})"
        return test if positive else f"(not {test})"

    def __repr__(self) -> str:
        return f"is_instance({self.cls.__name__})"


def _arity(fn: Callable[..., Any]) -> int:
    """1 when `fn` takes only the event, 2 when it also takes the context."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 1  # builtins without a signature (e.g. operator.itemgetter) take the event only
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return 2 if len(positional) >= 2 else 1


class Field:
    """A named field of the current event; compare it to build a declarative condition."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise CepError(f"a field name must be a non-empty str, got {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"C.field({self.name!r})"

    def _cmp(self, op: str, value: Any) -> Condition:
        if isinstance(value, Field):
            raise CepError("comparing two fields of the same event is not supported; use a lambda")
        if value is None:
            if op == "==":
                return IsNull(self.name)
            if op == "!=":
                return Not(IsNull(self.name))
            raise CepError(f"cannot order-compare {self!r} with None")
        return Compare(self.name, op, value)

    def __eq__(self, value: Any) -> Condition:  # type: ignore[override]
        return self._cmp("==", value)

    def __ne__(self, value: Any) -> Condition:  # type: ignore[override]
        return self._cmp("!=", value)

    def __lt__(self, value: Any) -> Condition:
        return self._cmp("<", value)

    def __le__(self, value: Any) -> Condition:
        return self._cmp("<=", value)

    def __gt__(self, value: Any) -> Condition:
        return self._cmp(">", value)

    def __ge__(self, value: Any) -> Condition:
        return self._cmp(">=", value)

    __hash__ = object.__hash__

    def startswith(self, text: str) -> Condition:
        return StrMatch(self.name, "startswith", text)

    def contains(self, text: str) -> Condition:
        return StrMatch(self.name, "contains", text)

    def isin(self, values: Iterable[Any]) -> Condition:
        return In(self.name, values)

    def is_null(self) -> Condition:
        return IsNull(self.name)

    def not_null(self) -> Condition:
        return Not(IsNull(self.name))


def field(name: str) -> Field:
    """The field `name` of the current event (`event[name]`, or `getattr` for objects)."""
    return Field(name)


def last(pattern: str, name: str) -> Ref:
    """Field `name` of the last event accepted so far for `pattern` in this partial match."""
    return Ref(pattern, name)


def unseen(name: str) -> Condition:
    """The event's `name` differs from `name` of every event already in this partial match.

    E.g. `C.unseen("node")` keeps a fire chain's nodes pairwise distinct. Needs the matcher's
    context (it is not a single-event condition, so it never becomes part of a prefilter).
    """
    return Unseen(name)


def true() -> Condition:
    """A condition every event satisfies."""
    return Const(True)


def false() -> Condition:
    """A condition no event satisfies."""
    return Const(False)


def is_instance(cls: type) -> Condition:
    """The event is an instance of `cls` (what `Pattern.subtype(cls)` adds)."""
    return IsInstance(cls)


def referenced_stages(cond: Condition) -> set[str]:
    """Stage names that `C.last(...)` references inside `cond` point to."""
    if isinstance(cond, Compare) and isinstance(cond.value, Ref):
        return {cond.value.pattern}
    if isinstance(cond, (And, Or)):
        return set().union(*(referenced_stages(i) for i in cond.items))
    if isinstance(cond, (Not, Negate)):
        return referenced_stages(cond.item)
    return set()


def as_condition(cond: Any) -> Condition:
    """Wrap a plain callable as an (opaque) condition; conditions are returned unchanged."""
    if isinstance(cond, Condition):
        return cond
    if isinstance(cond, bool):
        return Const(cond)
    return Opaque(cond)
