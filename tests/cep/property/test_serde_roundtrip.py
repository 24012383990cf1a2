"""Random declarative patterns survive the trip to JSON text and back exactly.

Patterns are drawn as random sequences of builder calls over every feature the schema covers
(contiguities, negations, quantifiers, optional, greedy, inner contiguity, until, groups, windows,
skip strategies, run keys); a call the builder rejects is left out, as a user would. The rebuilt
pattern must give the same document, the same compiled NFA, and the same matches and timeouts
on a random stream.
"""

from __future__ import annotations

import json
import operator
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from cep import AfterMatchSkipStrategy, MalformedPatternError, Matcher, Pattern
from cep import conditions as C
from cep.serde import pattern_from_json, pattern_to_dict, pattern_to_json
from tests.cep.property.profiles import profile
from tests.cep.property.strategies import event_rows, make_events

KINDS = ("a", "b", "c")
#: Short streams: loops with skip-till-any over long streams have exponentially many matches.
streams = st.lists(event_rows, max_size=5).map(make_events)


def leaf_conditions(names: list) -> st.SearchStrategy:
    literal_cmp = st.builds(
        lambda op, v: getattr(C.field("v"), op)(v),
        st.sampled_from(("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__")),
        st.integers(0, 2) | st.sampled_from((0.5, 1.5)),
    )
    leaves = [
        literal_cmp,
        st.sampled_from(KINDS).map(lambda k: C.field("kind") == k),
        st.lists(st.sampled_from(KINDS), min_size=1, max_size=2).map(lambda ks: C.field("kind").isin(ks)),
        st.sampled_from(KINDS).map(lambda k: C.field("kind").startswith(k)),
        st.sampled_from(KINDS).map(lambda k: C.field("kind").contains(k)),
        st.just(C.field("missing").is_null()),
        st.sampled_from((C.true(), C.false())),
        st.just(C.unseen("id")),
    ]
    if names:
        leaves.append(st.sampled_from(names).map(lambda n: C.field("kind") != C.last(n, "kind")))
    return st.one_of(leaves)


def condition_trees(names: list) -> st.SearchStrategy:
    return st.recursive(
        leaf_conditions(names),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: p[0] & p[1]),
            st.tuples(inner, inner).map(lambda p: p[0] | p[1]),
            inner.map(lambda c: ~c),
        ),
        max_leaves=4,
    )


def attempt(stage: Pattern, verb: str, *args: Any) -> Pattern:
    """Apply a builder call, or leave it out when the builder rejects it."""
    try:
        return getattr(stage, verb)(*args)
    except MalformedPatternError:
        return stage


@st.composite
def configured(draw: Any, stage: Pattern, names: list) -> Pattern:
    """Conditions, quantifier, optional, greedy, inner contiguity, until and window on one stage."""
    if not stage.is_group and draw(st.booleans()):
        stage = attempt(stage, "where", draw(condition_trees(names)))
        if draw(st.booleans()):
            stage = attempt(stage, "or_where", draw(condition_trees(names)))
    quantifier = draw(st.sampled_from(("none", "none", "times", "range", "one_or_more", "times_or_more")))
    if quantifier == "times":
        stage = attempt(stage, "times", draw(st.integers(1, 3)))
    elif quantifier == "range":
        low = draw(st.integers(0, 2))
        stage = attempt(stage, "times", low, low + draw(st.integers(0, 2)))
    elif quantifier == "one_or_more":
        stage = attempt(stage, "one_or_more")
    elif quantifier == "times_or_more":
        stage = attempt(stage, "times_or_more", draw(st.integers(1, 2)))
    for verb in draw(st.lists(st.sampled_from(("optional", "greedy", "consecutive", "allow_combinations")))):
        stage = attempt(stage, verb)
    if draw(st.booleans()):
        stage = attempt(stage, "until", draw(condition_trees(names)))
    if draw(st.integers(0, 3)) == 0:
        stage = attempt(stage, "within", draw(st.integers(1, 10)))
    return stage


@st.composite
def sequences(draw: Any, prefix: str, depth: int, skip: AfterMatchSkipStrategy) -> Pattern:
    n = draw(st.integers(1, 3))
    pattern: Any = None
    names: list = []
    for i in range(n):
        name = f"{prefix}{i}"
        verb = "begin" if pattern is None else draw(
            st.sampled_from(("next", "followed_by", "followed_by_any", "not_next", "not_followed_by"))
        )
        target: Any = name
        if depth > 0 and not verb.startswith("not") and draw(st.integers(0, 4)) == 0:
            target = draw(sequences(f"{name}g", depth - 1, AfterMatchSkipStrategy.no_skip()))
        if pattern is None:
            pattern = Pattern.begin(target, skip_strategy=skip)
        else:
            grown = attempt(pattern, verb, target)
            if grown is pattern:
                continue
            pattern = grown
        if isinstance(target, str):
            names.append(name)
        pattern = draw(configured(pattern, names))
    return pattern


@st.composite
def patterns(draw: Any) -> Pattern:
    kinds = ("no_skip", "skip_to_next", "skip_past_last_event", "skip_to_first", "skip_to_last")
    kind = draw(st.sampled_from(kinds))
    if kind in ("skip_to_first", "skip_to_last"):
        skip = getattr(AfterMatchSkipStrategy, kind)(draw(st.sampled_from(("s0", "s1", "s2"))))
        if draw(st.booleans()):
            skip = skip.throw_exception_on_miss()
    else:
        skip = getattr(AfterMatchSkipStrategy, kind)()
    pattern = draw(sequences("s", 1, skip))
    if draw(st.booleans()):
        pattern = attempt(pattern, "within", draw(st.integers(1, 10)))
        if draw(st.booleans()):
            pattern = pattern.dedupe_runs(operator.itemgetter("kind"))
    try:
        Matcher(pattern)
    except MalformedPatternError:
        assume(False)  # only the compiler can tell (e.g. a skip strategy naming a missing stage)
    return pattern


def run(pattern: Pattern, events: list) -> tuple:
    """Every match and timeout, as event ids, or the error the run raised."""
    matcher = Matcher(pattern)
    out: list = []
    try:
        for event in events:
            out.append(("m", [_ids(m) for m in matcher.process(event, event["ts"])]))
        matches, timeouts = matcher.advance_time((events[-1]["ts"] if events else 0) + 20)
    except Exception as exc:  # e.g. throw_exception_on_miss: both must raise alike
        return out, repr(exc)
    out.append(("m", [_ids(m) for m in matches]))
    out.append(("t", sorted((json.dumps(_ids(p)), ts) for p, ts in timeouts)))
    return out, None


def _ids(match: dict) -> dict:
    return {name: [e["id"] for e in events] for name, events in match.items()}


@profile(150)
@given(patterns(), streams)
def test_random_patterns_round_trip_exactly(pattern: Pattern, events: list) -> None:
    doc = pattern_to_dict(pattern)
    again = pattern_from_json(pattern_to_json(pattern))
    assert pattern_to_dict(again) == doc
    assert Matcher(again).nfa.fingerprint() == Matcher(pattern).nfa.fingerprint()
    assert run(again, events) == run(pattern, events)
