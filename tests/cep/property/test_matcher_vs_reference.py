"""`cep.Matcher` against the brute-force reference on random patterns and random streams.

The subset and its exact semantics are defined in `reference.py`; matches are compared as
multisets of ``(stage name, event ids)`` tuples.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.cep.property.profiles import profile
from tests.cep.property.reference import reference_matches
from tests.cep.property.strategies import event_id, matcher_options, pattern_specs, run_engine, streams


def _check(spec, events, declarative, options):
    expected = reference_matches(spec, events, [e["ts"] for e in events], event_id)
    got = run_engine(spec, events, declarative, options)
    assert got == expected, (
        f"\nspec = {spec!r}\nevents = {events!r}\noptions = {options!r}\n"
        f"missing = {sorted((expected - got).elements())}\nextra = {sorted((got - expected).elements())}"
    )


@profile(300)
@given(spec=pattern_specs(), events=streams, declarative=st.booleans(), options=matcher_options)
def test_single_event_stages_with_every_contiguity(spec, events, declarative, options):
    _check(spec, events, declarative, options)


@profile(300)
@given(
    spec=pattern_specs(quantifiers=True, skip_strategies=True),
    events=streams,
    declarative=st.booleans(),
    options=matcher_options,
)
def test_times_optional_and_skip_past_last_event(spec, events, declarative, options):
    _check(spec, events, declarative, options)
