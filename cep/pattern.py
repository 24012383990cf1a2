"""The fluent pattern builder: Flink CEP's Pattern API in snake_case.

Each chaining verb (`next`, `followed_by`, ...) appends a stage and returns it; the other verbs
(`where`, `one_or_more`, `within`, ...) configure the current stage and return it. An invalid
combination raises `MalformedPatternError` in the call that causes it, saying what to change;
what can only be checked on the whole pattern is checked when a `Matcher` compiles it.

Example
-------
>>> from cep import Pattern, conditions as C
>>> p = (Pattern.begin("a").where(C.field("kind") == "a")
...      .followed_by("b").where(lambda e: e["kind"] == "b")
...      .within(60_000))
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Hashable, Iterator
from typing import Any, Callable, Optional, Union

from cep.aftermatch import AfterMatchSkipStrategy
from cep.conditions import Condition, IsInstance, as_condition
from cep.errors import MalformedPatternError
from cep.quantifier import Contiguity, Property, Quantifier, Times

__all__ = ["END_STATE_NAME", "Pattern", "WithinType"]

END_STATE_NAME = "$endState$"


class WithinType(enum.Enum):
    """What a `within` window measures (Flink's `WithinType`, Flink 1.16+)."""

    FIRST_AND_LAST = "first_and_last"
    """From the first event of the match to the last (the default)."""
    PREVIOUS_AND_CURRENT = "previous_and_current"
    """From the previous event of the match to the one this stage waits for."""

NameOrGroup = Union[str, "Pattern"]


class Pattern:
    """One stage of a pattern sequence; the object you hold is the last stage added.

    Use `Pattern.begin(...)` to start; do not call the constructor directly.
    """

    def __init__(
        self,
        name: str,
        previous: Pattern | None,
        contiguity: Contiguity,
        skip_strategy: AfterMatchSkipStrategy,
        group: Pattern | None = None,
    ) -> None:
        self.name = name
        self.previous = previous
        self.quantifier = Quantifier(contiguity)
        self.condition: Optional[Condition] = None
        self.until_condition: Optional[Condition] = None
        self.repeat: Optional[Times] = None  # repetition bounds of a times/looping stage
        self.window_ms: Optional[int] = None  # WithinType.FIRST_AND_LAST
        self.previous_window_ms: Optional[int] = None  # WithinType.PREVIOUS_AND_CURRENT
        self.skip_strategy = skip_strategy
        self.group = group  # for a group stage: the last stage of the nested pattern
        self.dedupe_key: Optional[Callable[[Any], Hashable]] = None

    # ---------------------------------------------------------------- construction
    @staticmethod
    def begin(name_or_group: NameOrGroup, skip_strategy: AfterMatchSkipStrategy | None = None) -> Pattern:
        """Start a pattern with a named stage, or with a group (a nested `Pattern`)."""
        skip = skip_strategy if skip_strategy is not None else AfterMatchSkipStrategy.no_skip()
        if not isinstance(skip, AfterMatchSkipStrategy):
            raise MalformedPatternError(
                f"skip_strategy must be an AfterMatchSkipStrategy (e.g. AfterMatchSkipStrategy.no_skip()), "
                f"got {skip!r}"
            )
        return _new_stage(None, name_or_group, Contiguity.STRICT, skip)

    def next(self, name_or_group: NameOrGroup) -> Pattern:
        """Append a stage whose event must directly follow the previous stage's event."""
        return _new_stage(self, name_or_group, Contiguity.STRICT, self.skip_strategy)

    def followed_by(self, name_or_group: NameOrGroup) -> Pattern:
        """Append a stage matched by the first matching event after the previous stage (relaxed)."""
        return _new_stage(self, name_or_group, Contiguity.RELAXED, self.skip_strategy)

    def followed_by_any(self, name_or_group: NameOrGroup) -> Pattern:
        """Append a stage matched by every later matching event (non-deterministic relaxed)."""
        return _new_stage(self, name_or_group, Contiguity.NONDETERMINISTIC, self.skip_strategy)

    def not_next(self, name: str) -> Pattern:
        """Append a negated stage: the event right after the previous one must not match it."""
        self._check_negation_allowed("not_next")
        return _new_stage(self, name, Contiguity.NOT_NEXT, self.skip_strategy, allow_group=False)

    def not_followed_by(self, name: str) -> Pattern:
        """Append a negated stage: no matching event may occur between the neighbouring stages."""
        self._check_negation_allowed("not_followed_by")
        return _new_stage(self, name, Contiguity.NOT_FOLLOW, self.skip_strategy, allow_group=False)

    # ---------------------------------------------------------------- conditions
    def where(self, condition: Any) -> Pattern:
        """AND a condition `cond(event)` or `cond(event, ctx)` to this stage."""
        self._check_not_group("where")
        cond = as_condition(condition)
        self.condition = cond if self.condition is None else self.condition & cond
        return self

    def or_where(self, condition: Any) -> Pattern:
        """OR a condition to this stage's condition."""
        self._check_not_group("or_where")
        cond = as_condition(condition)
        self.condition = cond if self.condition is None else self.condition | cond
        return self

    def subtype(self, cls: type) -> Pattern:
        """Accept only events that are instances of `cls` (ANDed with the condition)."""
        self._check_not_group("subtype")
        cond = IsInstance(cls)
        self.condition = cond if self.condition is None else self.condition & cond
        return self

    def until(self, condition: Any) -> Pattern:
        """Stop a looping stage at the first event satisfying `condition` (that event is not taken)."""
        if self.until_condition is not None:
            raise MalformedPatternError(
                f"stage {self.name!r} already has an until() condition; combine both into one condition"
            )
        if not self.quantifier.has(Property.LOOPING):
            raise MalformedPatternError(
                f"until() applies only to looping stages: call one_or_more() or times_or_more(n) on "
                f"{self.name!r} before until()"
            )
        self.until_condition = as_condition(condition)
        return self

    # ---------------------------------------------------------------- quantifiers
    def one_or_more(self) -> Pattern:
        """This stage matches one or more events."""
        self._check_quantifiable("one_or_more")
        self._set_loop(Times.of(1))
        return self

    def times(self, low: int, high: int | None = None) -> Pattern:
        """This stage matches exactly `low` events, or between `low` and `high` events."""
        self._check_quantifiable("times")
        if high is None:
            if low <= 0:
                raise MalformedPatternError(f"times(n) needs n > 0, got {low}; use optional() for zero")
            times = Times.of(low)
            optional = False
        else:
            times = Times.of(low, high)
            optional = low == 0
            if optional:
                times = Times.of(1, high)
        quantifier = Quantifier(self.quantifier.contiguity, Property.TIMES)
        if optional:
            quantifier.make_optional()
        self.quantifier = quantifier
        self.repeat = times
        return self

    def times_or_more(self, low: int) -> Pattern:
        """This stage matches at least `low` events."""
        self._check_quantifiable("times_or_more")
        if low <= 0:
            raise MalformedPatternError(
                f"times_or_more(n) needs n > 0, got {low}; use one_or_more().optional() for zero or more"
            )
        self._set_loop(Times.of(low))
        return self

    def optional(self) -> Pattern:
        """This stage may also be skipped entirely."""
        prev = self.previous
        if prev is not None and prev.quantifier.has(Property.GREEDY):
            raise MalformedPatternError(
                f"stage {self.name!r} cannot be optional right after the greedy stage {prev.name!r}; "
                "drop greedy() there or optional() here"
            )
        self.quantifier.make_optional()
        return self

    def greedy(self) -> Pattern:
        """A looping/times stage takes as many events as possible."""
        self._check_not_negated("greedy")
        self._check_not_group("greedy")
        self.quantifier.make_greedy()
        return self

    def consecutive(self) -> Pattern:
        """Repetitions of a looping/times stage must be contiguous (strict inner contiguity)."""
        self.quantifier.make_consecutive()
        return self

    def allow_combinations(self) -> Pattern:
        """Repetitions of a looping/times stage use skip-till-any (every combination matches)."""
        self.quantifier.make_combinations()
        return self

    def within(
        self, window: int | float | datetime.timedelta, within_type: WithinType = WithinType.FIRST_AND_LAST
    ) -> Pattern:
        """A match must complete within `window` (ms or timedelta) of its first event.

        With `WithinType.PREVIOUS_AND_CURRENT` the window is instead the largest gap allowed
        between the event before this stage and the one this stage waits for. As in Flink, that
        holds only for a stage that takes one event (no `times`/`one_or_more`, which ignore it),
        the match still has to fit in any first-to-last window, which must be the larger one,
        and a pattern may end in `not_followed_by` with such a window on its last stage.
        """
        if not isinstance(within_type, WithinType):
            raise MalformedPatternError(f"within() takes a cep.WithinType, got {within_type!r}")
        if isinstance(window, datetime.timedelta):
            ms = int(window.total_seconds() * 1000)
        elif isinstance(window, (int, float)) and not isinstance(window, bool):
            ms = int(window)
        else:
            raise MalformedPatternError(
                f"within() takes milliseconds or a datetime.timedelta, got {window!r}"
            )
        if ms <= 0:
            raise MalformedPatternError(f"within() needs a positive window, got {window!r}")
        if within_type is WithinType.FIRST_AND_LAST:
            self.window_ms = ms
        else:
            self.previous_window_ms = ms
        return self

    # ---------------------------------------------------------------- Emberwatch extension
    def dedupe_runs(self, key: Callable[[Any], Hashable]) -> Pattern:
        """Emberwatch extension (not Flink): keep only non-dominated interchangeable partial matches.

        Partial matches waiting in the same NFA state whose accepted events have equal sequences
        of `(stage name, key(event))` are interchangeable when every condition depends only on
        those keys and on timestamps. Of such a group the matcher keeps only the partial matches
        not dominated by another (one with a later-or-equal first timestamp AND an
        earlier-or-equal last timestamp). The set of distinct key sequences of emitted matches is
        unchanged; duplicates and the timeouts of dropped partial matches are not reported.
        Meant for `followed_by_any` chains over nodes that report periodically, so that state
        stays bounded.
        """
        if not callable(key):
            raise MalformedPatternError(f"dedupe_runs(key) needs a callable key(event), got {key!r}")
        self.dedupe_key = key
        return self

    # ---------------------------------------------------------------- as data
    def to_dict(self) -> dict:
        """This pattern as a JSON-ready document (see `cep.serde`); refuses lambdas with a CepError."""
        from cep.serde import pattern_to_dict

        return pattern_to_dict(self)

    @staticmethod
    def from_dict(doc: Any) -> Pattern:
        """The pattern a `to_dict` document describes; MalformedPatternError names the bad field."""
        from cep.serde import pattern_from_dict

        return pattern_from_dict(doc)

    # ---------------------------------------------------------------- introspection
    @property
    def is_group(self) -> bool:
        return self.group is not None

    def stages(self) -> Iterator[Pattern]:
        """This stage and all previous ones, last first."""
        node: Pattern | None = self
        while node is not None:
            yield node
            node = node.previous

    def __repr__(self) -> str:
        names = [s.name for s in reversed(list(self.stages()))]
        return f"Pattern({' -> '.join(names)})"

    # ---------------------------------------------------------------- checks
    def _check_not_group(self, verb: str) -> None:
        if self.is_group:
            raise MalformedPatternError(
                f"{verb}() does not apply to a group stage; put it on a stage inside the group"
            )

    def _check_not_negated(self, verb: str) -> None:
        if self.quantifier.is_negation:
            raise MalformedPatternError(
                f"{verb}() does not apply to the negated stage {self.name!r} "
                "(not_next/not_followed_by stages match exactly one event)"
            )

    def _check_quantifiable(self, verb: str) -> None:
        self._check_not_negated(verb)
        if not self.quantifier.has(Property.SINGLE):
            raise MalformedPatternError(
                f"{verb}(): stage {self.name!r} already has a quantifier ({self.quantifier.describe()}); "
                "apply only one of one_or_more/times/times_or_more"
            )

    def _check_negation_allowed(self, verb: str) -> None:
        if self.quantifier.has(Property.OPTIONAL):
            raise MalformedPatternError(
                f"{verb}() cannot follow the optional stage {self.name!r}: an optional path into a "
                "negation is not supported; write two patterns, one with and one without that stage"
            )

    def _set_loop(self, times: Times) -> None:
        self.quantifier = Quantifier(self.quantifier.contiguity, Property.LOOPING)
        self.repeat = times


def _stage_names(last: Pattern | None) -> Iterator[str]:
    for stage in last.stages() if last is not None else ():
        if stage.group is not None:
            yield from _stage_names(stage.group)
        else:
            yield stage.name


def _new_stage(
    previous: Pattern | None,
    name_or_group: NameOrGroup,
    contiguity: Contiguity,
    skip: AfterMatchSkipStrategy,
    allow_group: bool = True,
) -> Pattern:
    existing = set(_stage_names(previous))
    if isinstance(name_or_group, Pattern):
        if not allow_group:
            raise MalformedPatternError("a negated stage takes a name, not a group pattern")
        group = name_or_group
        inner = list(_stage_names(group))
        clash = sorted(existing.intersection(inner))
        if clash:
            raise MalformedPatternError(
                f"duplicate pattern name(s) {clash}: every stage name must be unique, rename one"
            )
        label = "(" + " ".join(reversed(inner)) + ")"
        return Pattern(label, previous, contiguity, skip, group=group)
    name = name_or_group
    if not isinstance(name, str) or not name:
        raise MalformedPatternError(f"a stage name must be a non-empty str, got {name!r}")
    if name == END_STATE_NAME:
        raise MalformedPatternError(f"{END_STATE_NAME!r} is reserved; choose another stage name")
    if name in existing:
        raise MalformedPatternError(f"duplicate pattern name {name!r}: every stage name must be unique")
    return Pattern(name, previous, contiguity, skip)
