"""How a pattern stage consumes events: contiguity, quantifier properties and repetition counts."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cep.errors import MalformedPatternError

__all__ = ["Contiguity", "Quantifier", "Times"]


class Contiguity(enum.Enum):
    """How a stage relates to the event accepted before it (Flink's ConsumingStrategy)."""

    STRICT = "next"  # the very next event
    RELAXED = "followed_by"  # skip till next: ignore events until the first match
    NONDETERMINISTIC = "followed_by_any"  # skip till any: every later match branches
    NOT_NEXT = "not_next"
    NOT_FOLLOW = "not_followed_by"


class Property(enum.Enum):
    SINGLE = "single"
    LOOPING = "looping"
    TIMES = "times"
    OPTIONAL = "optional"
    GREEDY = "greedy"


@dataclass(frozen=True)
class Times:
    """At least `low`, at most `high` repetitions."""

    low: int
    high: int

    @staticmethod
    def of(low: int, high: int | None = None) -> Times:
        high = low if high is None else high
        if low < 0:
            raise MalformedPatternError(f"times: the lower bound must be >= 0, got {low}")
        if high < low:
            raise MalformedPatternError(f"times: the upper bound {high} must be >= the lower bound {low}")
        if low == 0 and high == 0:
            raise MalformedPatternError("times: the bounds must not both be 0")
        return Times(low, high)


class Quantifier:
    """Mutable while the pattern is being built, like Flink's; read-only once compiled."""

    def __init__(self, contiguity: Contiguity, kind: Property = Property.SINGLE) -> None:
        self.contiguity = contiguity
        self.inner = Contiguity.RELAXED  # between repetitions of a looping/times stage
        self.properties = {kind}

    def has(self, prop: Property) -> bool:
        return prop in self.properties

    @property
    def is_negation(self) -> bool:
        return self.contiguity in (Contiguity.NOT_NEXT, Contiguity.NOT_FOLLOW)

    def describe(self) -> str:
        props = ", ".join(sorted(p.value for p in self.properties))
        return f"{self.contiguity.value} [{props}], inner {self.inner.value}"

    def make_optional(self) -> None:
        if self.has(Property.OPTIONAL):
            raise MalformedPatternError("optional() is already applied to this stage; call it once")
        if self.is_negation:
            raise MalformedPatternError(
                "a not_next/not_followed_by stage cannot be optional; drop optional() or the negation"
            )
        self.properties.add(Property.OPTIONAL)

    def make_greedy(self) -> None:
        if self.inner is Contiguity.NONDETERMINISTIC:
            raise MalformedPatternError(
                "greedy() cannot be combined with allow_combinations(); drop one of them"
            )
        if self.has(Property.SINGLE):
            raise MalformedPatternError(
                "greedy() applies only to looping or times stages: call one_or_more(), times(...) "
                "or times_or_more(...) before greedy()"
            )
        self.properties.add(Property.GREEDY)

    def make_consecutive(self) -> None:
        if not (self.has(Property.LOOPING) or self.has(Property.TIMES)):
            raise MalformedPatternError(
                "consecutive() applies only to looping or times stages: call one_or_more(), "
                "times(...) or times_or_more(...) first"
            )
        if self.inner is Contiguity.NONDETERMINISTIC:
            raise MalformedPatternError("use either allow_combinations() or consecutive(), not both")
        if self.inner is Contiguity.STRICT:
            raise MalformedPatternError("consecutive() is already applied to this stage; call it once")
        self.inner = Contiguity.STRICT

    def make_combinations(self) -> None:
        if self.has(Property.SINGLE):
            raise MalformedPatternError(
                "allow_combinations() applies only to looping or times stages: call one_or_more(), "
                "times(...) or times_or_more(...) first"
            )
        if self.inner is Contiguity.STRICT:
            raise MalformedPatternError("use either allow_combinations() or consecutive(), not both")
        if self.inner is Contiguity.NONDETERMINISTIC:
            raise MalformedPatternError("allow_combinations() is already applied to this stage; call it once")
        self.inner = Contiguity.NONDETERMINISTIC
