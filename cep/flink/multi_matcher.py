"""One key's matching in `cep.flink.dynamic`: a `cep.Matcher` per active pattern, following the rule set.

`MultiMatcher` offers the matcher protocol `cep.flink.operator.CepFunction` drives (process,
advance_time, next_deadline, snapshot/restore, the pre-filter), so the dynamic operator reuses
`CepFunction`'s event time, state and metrics unchanged.

Bounded state: `max_partial_matches` / `on_overflow` go to each pattern's matcher, so the cap holds
per key *and pattern*. A pattern whose partial matches multiply then evicts only its own, never those
of the other rules the key runs; a key holds at most the cap times the active patterns.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any, Optional

from cep.errors import StateLimitError
from cep.flink import state_writes
from cep.flink.rules import RuleSet
from cep.matcher import OVERFLOW_POLICIES, Matcher

__all__ = ["MultiMatcher", "PatternMatch"]


class PatternMatch(dict):
    """A match (stage name -> events) that knows which pattern found it."""

    def __init__(self, pattern_id: str, match: Mapping[str, list]) -> None:
        super().__init__(match)
        self.pattern_id = pattern_id

    def __reduce__(self) -> tuple:
        return (PatternMatch, (self.pattern_id, dict(self)))


class MultiMatcher:
    """The matcher protocol `CepFunction` drives, over one `cep.Matcher` per active pattern.

    It looks at the `RuleSet` before each step and follows it: a removed pattern's matcher is dropped,
    a replaced one restarts empty, a new one starts empty.
    """

    def __init__(
        self, rules: RuleSet, *, max_partial_matches: Optional[int] = None, on_overflow: str = "drop_oldest"
    ) -> None:
        self._rules = rules
        self._epoch = -1
        self._matchers: dict[str, tuple[int, Matcher]] = {}
        self._caps: dict = {}
        if max_partial_matches is not None:  # checked now: the matchers come later, with the patterns
            if max_partial_matches < 0:
                raise ValueError(f"max_partial_matches must be >= 0 or None, got {max_partial_matches}")
            if on_overflow not in OVERFLOW_POLICIES:
                raise ValueError(f"on_overflow must be one of {OVERFLOW_POLICIES}, got {on_overflow!r}")
            self._caps = {"max_partial_matches": max_partial_matches, "on_overflow": on_overflow}
        #: partial matches the caps evicted, over every pattern, since this object was built or restored
        self.evicted_partial_matches = 0

    # -- what CepFunction reads once, at open ---------------------------------------------------------

    @property
    def prefilter(self) -> RuleSet:
        return self._rules

    @property
    def nfa(self) -> Any:
        return _NoWindow

    # -- the matcher protocol -----------------------------------------------------------------------

    def process(self, event: Any, timestamp: int) -> list:
        self._follow_rules()
        out: list = []
        if self._caps:
            return self._process_capped(event, timestamp, out)
        for pattern_id, (_revision, matcher) in self._matchers.items():
            for match in matcher.process(event, timestamp):
                out.append(PatternMatch(pattern_id, match))
        return out

    def _process_capped(self, event: Any, timestamp: int, out: list) -> list:
        """`process` with caps: count evictions; under ``"fail"``, feed every pattern, then raise."""
        over: list[StateLimitError] = []
        for pattern_id, (_revision, matcher) in self._matchers.items():
            evicted = matcher.evicted_partial_matches
            try:
                found = matcher.process(event, timestamp)
            except StateLimitError as exc:  # the matcher kept the event's effects; so do the others
                over.append(exc)
                found = exc.matches
            self.evicted_partial_matches += matcher.evicted_partial_matches - evicted
            out.extend(PatternMatch(pattern_id, match) for match in found)
        if over:
            raise StateLimitError(
                "; ".join(str(exc) for exc in over),
                limit=over[0].limit,
                count=max(exc.count for exc in over),
                matches=out,
            )
        return out

    def advance_time(self, timestamp: int) -> tuple[list, list]:
        matches, timeouts, _changed = self.advance_time_changed(timestamp)
        return matches, timeouts

    def advance_time_changed(self, timestamp: int) -> tuple[list, list, bool]:
        """`advance_time`, and whether it (or a rule change it followed) changed the snapshot
        (see `cep.flink.state_writes`)."""
        changed = self._follow_rules()
        matches: list = []
        timeouts: list = []
        for pattern_id, (_revision, matcher) in self._matchers.items():
            done, expired, moved = state_writes.advance_time(matcher, timestamp)
            matches.extend(PatternMatch(pattern_id, m) for m in done)
            timeouts.extend((PatternMatch(pattern_id, p), ts) for p, ts in expired)
            changed = changed or moved
        return matches, timeouts, changed

    @property
    def next_deadline(self) -> Optional[int]:
        deadlines = [m.next_deadline for _r, m in self._matchers.values()]
        due = [d for d in deadlines if d is not None]
        return min(due) if due else None

    def is_empty(self) -> bool:
        return all(m.is_empty() for _r, m in self._matchers.values())

    def partial_match_count(self) -> int:
        """Live partial matches over every active pattern (for `CepFunction`'s gauge)."""
        return sum(m.partial_match_count() for _r, m in self._matchers.values())

    def snapshot(self) -> bytes:
        """Each pattern's matcher snapshot with its revision; empty matchers are left out."""
        state = {pid: (rev, m.snapshot()) for pid, (rev, m) in self._matchers.items() if not m.is_empty()}
        return pickle.dumps(state, protocol=4)

    @classmethod
    def restore(cls, rules: RuleSet, blob: bytes, **caps: Any) -> MultiMatcher:
        """Matchers of the patterns still active at the same revision; the others are dropped."""
        multi = cls(rules, **caps)
        multi._follow_rules()
        for pattern_id, (revision, snapshot) in pickle.loads(blob).items():
            active = rules.active.get(pattern_id)
            if active is not None and active.revision == revision:
                matcher = Matcher.restore(active.pattern, snapshot, **multi._caps)
                multi._matchers[pattern_id] = (revision, matcher)
        return multi

    def _follow_rules(self) -> bool:
        """Follow the rule set's changes; True when that dropped a matcher that held something."""
        rules = self._rules
        if self._epoch == rules.epoch:
            return False
        current = {}
        for pattern_id, active in rules.active.items():
            kept = self._matchers.get(pattern_id)
            if kept is not None and kept[0] == active.revision:
                current[pattern_id] = kept
            else:
                current[pattern_id] = (active.revision, Matcher(active.pattern, **self._caps))
        dropped = any(
            not matcher.is_empty()
            for pattern_id, (revision, matcher) in self._matchers.items()
            if current.get(pattern_id, (None,))[0] != revision
        )
        self._matchers = current
        self._epoch = rules.epoch
        return dropped


class _NoWindow:
    """`CepFunction` reads ``nfa.window_ms`` for processing-time timers only, which this never uses."""

    window_ms = 0


class MultiMatcherType:
    """`CepFunction`'s ``matcher_type`` for the dynamic operator: its "pattern" is the `RuleSet`."""

    def __new__(cls, rules: RuleSet, **caps: Any) -> MultiMatcher:  # type: ignore[misc]
        return MultiMatcher(rules, **caps)

    @staticmethod
    def restore(rules: RuleSet, blob: bytes, **caps: Any) -> MultiMatcher:
        return MultiMatcher.restore(rules, blob, **caps)
