"""Stateful test: snapshot + restore never changes what a `Matcher` emits, and windows empty it.

Two matchers run the same pattern side by side; one (with the engine's optimisation switches drawn
at random) is snapshotted and restored (onto a freshly built, equal pattern, as after a job
restart) at random points. After every step both must have
emitted the same matches and timeouts, and the matches so far must equal the reference's; after
time passes the window, both must be empty.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.cep.property.profiles import profile
from tests.cep.property.reference import NO_SKIP, canonical_from_engine, reference_matches
from tests.cep.property.strategies import (
    KINDS,
    MAX_EVENTS,
    build_pattern,
    event_id,
    matcher_options,
    pattern_specs,
)


class SnapshotRestoreMachine(RuleBasedStateMachine):
    @initialize(
        spec=pattern_specs(quantifiers=True, skip_strategies=True, require_window=True),
        declarative=st.booleans(),
        options=matcher_options,
    )
    def start(self, spec, declarative, options):
        from cep import Matcher

        self.spec, self.declarative, self.options = spec, declarative, options
        self.plain = Matcher(build_pattern(spec, declarative))
        self.restored = Matcher(build_pattern(spec, declarative), **options)
        self.events: list = []
        self.now = 0
        self.emitted: Counter = Counter()

    def _matches(self, matches) -> Counter:
        return Counter(canonical_from_engine(m, self.spec.names, event_id) for m in matches)

    def _timeouts(self, timeouts) -> Counter:
        return Counter((canonical_from_engine(m, self.spec.names, event_id), ts) for m, ts in timeouts)

    @precondition(lambda self: len(self.events) < MAX_EVENTS)
    @rule(kind=st.sampled_from(KINDS), v=st.integers(0, 2), step=st.integers(0, 3))
    def feed_event(self, kind, v, step):
        self.now += step
        event = {"id": len(self.events), "kind": kind, "v": v, "ts": self.now}
        self.events.append(event)
        plain = self._matches(self.plain.process(event, self.now))
        restored = self._matches(self.restored.process(dict(event), self.now))
        assert plain == restored
        self.emitted += plain

    def _advance(self, to_ms):
        self.now = to_ms
        plain_matches, plain_timeouts = self.plain.advance_time(to_ms)
        restored_matches, restored_timeouts = self.restored.advance_time(to_ms)
        assert self._matches(plain_matches) == self._matches(restored_matches)
        assert self._timeouts(plain_timeouts) == self._timeouts(restored_timeouts)
        self.emitted += self._matches(plain_matches)

    @rule(step=st.integers(0, 6))
    def advance_time(self, step):
        self._advance(self.now + step)

    @rule()
    def snapshot_and_restore(self):
        from cep import Matcher

        blob = self.restored.snapshot()
        assert isinstance(blob, bytes)
        self.restored = Matcher.restore(build_pattern(self.spec, self.declarative), blob, **self.options)

    @rule()
    def pass_the_window(self):
        self._advance(self.now + self.spec.within_ms)
        assert self.plain.is_empty()
        assert self.restored.is_empty()
        assert self.emitted == self._reference()

    def _reference(self) -> Counter:
        return reference_matches(self.spec, self.events, [e["ts"] for e in self.events], event_id)

    @invariant()
    def no_skip_emits_every_match_at_once(self):
        # Held-back matches make skip strategies emit late, so this holds step by step only for no_skip.
        if getattr(self, "spec", None) is not None and self.spec.skip == NO_SKIP:
            assert self.emitted == self._reference()


SnapshotRestoreMachine.TestCase.settings = profile(60, stateful_step_count=30)
TestSnapshotRestore = SnapshotRestoreMachine.TestCase
