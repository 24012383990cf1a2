"""`implies(a, b)`: a conservative proof that every event satisfying condition `a` satisfies `b`.

Used to check that a pattern's pre-filter fits inside a filter applied upstream (say a SQL
``WHERE`` fixed when a job was built): if the pattern's pre-filter implies the upstream filter,
dropping what the upstream filter rejects cannot change the pattern's matches. True is a proof;
False means "not proven" (the rules below are few and syntactic).

Example
-------
>>> from cep import conditions as C
>>> implies(C.field("t") >= 60, C.field("t") >= 50)
True
>>> implies(C.field("t") >= 40, C.field("t") >= 50)
False
"""

from __future__ import annotations

from cep.conditions import And, Compare, Condition, Const, In, Or, Ref

__all__ = ["implies"]

_LOWER = (">", ">=")
_UPPER = ("<", "<=")


def implies(a: Condition, b: Condition) -> bool:
    """True when every event satisfying `a` provably satisfies `b` (three-valued: TRUE to TRUE)."""
    if repr(a) == repr(b):
        return True
    if isinstance(b, Const):
        return b.value
    if isinstance(a, Const):
        return not a.value
    if isinstance(a, Or):
        return all(implies(item, b) for item in a.items)
    if isinstance(b, And):
        return all(implies(a, item) for item in b.items)
    if isinstance(a, And) and any(implies(item, b) for item in a.items):
        return True
    if isinstance(b, Or):
        return any(implies(a, item) for item in b.items)
    return _compare_implies(a, b)


def _compare_implies(a: Condition, b: Condition) -> bool:
    """`field op x` implies `field op' y` for one field, literal numbers, bounds in the same direction."""
    if isinstance(a, Compare) and isinstance(b, In):
        return a.op == "==" and a.name == b.name and not isinstance(a.value, Ref) and a.value in b.values
    if not (isinstance(a, Compare) and isinstance(b, Compare)) or a.name != b.name:
        return False
    x, y = a.value, b.value
    if not (_number(x) and _number(y)):
        return False
    if a.op == "==":
        return _holds(x, b.op, y)
    if a.op in _LOWER and b.op in _LOWER:
        # a: t > x (or >=); b: t > y (or >=)
        return x > y or (x == y and (b.op == ">=" or a.op == ">"))
    if a.op in _UPPER and b.op in _UPPER:
        return x < y or (x == y and (b.op == "<=" or a.op == "<"))
    return False


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _holds(x: float, op: str, y: float) -> bool:
    return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
