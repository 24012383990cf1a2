"""The runtime's shortcuts (prefilter, wake conditions, indexes, in-place updates) change nothing.

Random patterns over all builder features run on random streams with the shortcuts on and off;
matches and timeouts must be identical.
"""

from __future__ import annotations

import random

import pytest

from cep import AfterMatchSkipStrategy, MalformedPatternError, Pattern
from cep import conditions as C
from tests.cep.harness import NfaHarness
from tests.cep.streams import ids

LETTERS = "abcd"


def _cond(rnd: random.Random, names: list[str]) -> C.Condition:
    atom = C.field("name") == rnd.choice(LETTERS)
    roll = rnd.random()
    if roll < 0.2 and names:
        return atom & (C.field("key") == C.last(rnd.choice(names), "key"))
    if roll < 0.3:
        return atom | (C.field("name") == rnd.choice(LETTERS))
    if roll < 0.4:
        return atom & (lambda e: e["v"] != 2)
    if roll < 0.5:
        return atom & ~(C.field("v") == 0)
    return atom


def _opaque_cond(rnd: random.Random, names: list[str]) -> object:
    """A plain (event, ctx) function that reads the context for some events only, as users write
    them: the runtime may share an answer given without the context among a state's partial
    matches, and must not share one that read it."""
    wanted = rnd.choice(LETTERS)
    if not names:
        return lambda e, ctx: e["name"] == wanted
    ref = rnd.choice(names)
    if rnd.random() < 0.5:

        def linked(e: dict, ctx: object) -> bool:
            if e["name"] != wanted:
                return False
            earlier = ctx.get_events_for_pattern(ref)  # type: ignore[attr-defined]
            return not earlier or earlier[-1]["key"] == e["key"]

        return linked

    def timed(e: dict, ctx: object) -> bool:  # reads only the timestamp: the same for all
        return e["name"] == wanted or (e["v"] == 2 and ctx.timestamp() % 2 == 0)  # type: ignore[attr-defined]

    return timed


def random_pattern(rnd: random.Random, make_cond=_cond) -> Pattern:
    strategies = [
        AfterMatchSkipStrategy.no_skip(),
        AfterMatchSkipStrategy.no_skip(),
        AfterMatchSkipStrategy.skip_past_last_event(),
        AfterMatchSkipStrategy.skip_to_next(),
        AfterMatchSkipStrategy.skip_to_first("s0"),
    ]
    p = Pattern.begin("s0", skip_strategy=rnd.choice(strategies)).where(make_cond(rnd, []))
    names = ["s0"]
    for i in range(1, rnd.randint(2, 4)):
        verb = rnd.choice(
            [
                "next",
                "followed_by",
                "followed_by",
                "followed_by_any",
                "followed_by_any",
                "not_next",
                "not_followed_by",
            ]
        )
        name = f"s{i}"
        try:
            p = getattr(p, verb)(name).where(make_cond(rnd, names))
        except MalformedPatternError:
            continue
        if verb.startswith("not"):
            continue
        names.append(name)
        roll = rnd.random()
        if roll < 0.15:
            p = p.one_or_more()
            if rnd.random() < 0.3:
                p = p.until(C.field("name") == rnd.choice(LETTERS))
        elif roll < 0.25:
            p = p.times(rnd.randint(1, 2), rnd.randint(2, 3))
        elif roll < 0.35:
            p = p.optional()
    if rnd.random() < 0.7 or p.quantifier.is_negation:
        p = p.within(rnd.randint(3, 12))
    return p


def random_stream(rnd: random.Random, n: int = 30) -> list[dict]:
    return [
        {
            "name": rnd.choice(LETTERS),
            "key": rnd.randrange(3),
            "v": rnd.randrange(3),
            "event_id": str(i),
            "ts": i // 2,
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("seed", range(300))
def test_shortcuts_change_nothing(seed: int) -> None:
    rnd = random.Random(seed)
    pattern = random_pattern(rnd)
    for _ in range(3):
        events = random_stream(rnd)
        a = NfaHarness(pattern).run(events, end=1000)
        b = NfaHarness(pattern, use_prefilter=False, use_shortcuts=False).run(events, end=1000)
        assert [ids(m) for m in a[0]] == [ids(m) for m in b[0]]
        assert sorted((ids(t), ts) for t, ts in a[1]) == sorted((ids(t), ts) for t, ts in b[1])
        MATCH_COUNTS.append(len(b[0]))


MATCH_COUNTS: list[int] = []


@pytest.mark.parametrize("seed", range(150))
def test_shared_answers_of_opaque_conditions_change_nothing(seed: int) -> None:
    """Plain (event, ctx) lambdas: an answer given without reading the partial match is shared
    by the state's partial matches (a shortcut), which must give what asking each one gives."""
    rnd = random.Random(10_000 + seed)
    pattern = random_pattern(rnd, _opaque_cond)
    for _ in range(3):
        events = random_stream(rnd)
        a = NfaHarness(pattern).run(events, end=1000)
        b = NfaHarness(pattern, use_prefilter=False, use_shortcuts=False).run(events, end=1000)
        assert [ids(m) for m in a[0]] == [ids(m) for m in b[0]]
        assert sorted((ids(t), ts) for t, ts in a[1]) == sorted((ids(t), ts) for t, ts in b[1])


def _counting_chain(reads_clock: bool) -> tuple[Pattern, list]:
    calls: list = []

    def second(e: dict, ctx: object) -> bool:
        calls.append(e["event_id"])
        if reads_clock:
            ctx.current_processing_time()  # type: ignore[attr-defined]
        if e["name"] != "b":
            return False
        return ctx.get_events_for_pattern("a")[-1]["key"] == e["key"]  # type: ignore[attr-defined]

    pattern = Pattern.begin("a").where(lambda e: e["name"] == "a").followed_by("b").where(second)
    return pattern.within(100), calls


@pytest.mark.parametrize("reads_clock", [False, True])
def test_an_answer_without_the_context_is_asked_once_per_state(reads_clock: bool) -> None:
    starts = [{"name": "a", "key": k, "v": 0, "event_id": f"a{k}", "ts": k} for k in range(5)]
    cold = [{"name": "x", "key": 0, "v": 0, "event_id": f"x{i}", "ts": 10 + i} for i in range(4)]
    hit = [{"name": "b", "key": 3, "v": 0, "event_id": "b", "ts": 20}]
    results = {}
    for shortcuts in (True, False):
        pattern, calls = _counting_chain(reads_clock)
        matches, _timeouts = NfaHarness(pattern, use_shortcuts=shortcuts).run(starts + cold + hit, end=50)
        results[shortcuts] = ([ids(m) for m in matches], calls)
    (with_shortcut, calls_with), (without, calls_without) = results[True], results[False]
    assert with_shortcut == without == [(("a", "a3"), ("b", "b"))]
    # without shortcuts every partial match waiting in "b" is asked (twice: TAKE and IGNORE)
    assert len(calls_without) == 2 * (1 + 2 + 3 + 4 + 5 * len(cold) + 5)
    # with them: 1..4 partial matches wait during a1..a4, 5 during the cold events and the hit
    per_match = [f"a{k}" for k in range(1, 5) for _ in range(k)]
    per_match += [e["event_id"] for e in cold for _ in range(5)]
    per_event = [f"a{k}" for k in range(1, 5)] + [e["event_id"] for e in cold]
    if reads_clock:  # the clock counts as reading the context: each partial match is asked
        assert calls_with == per_match + ["b"] * 5
    else:  # the "a" and "x" events are refused without the context: once per event
        assert calls_with == per_event + ["b"] * 5


def test_random_patterns_do_match() -> None:
    """Guard against a vacuous comparison: most random runs above produced matches."""
    if len(MATCH_COUNTS) < 300:
        for seed in range(100):
            test_shortcuts_change_nothing(seed)
    assert sum(1 for n in MATCH_COUNTS if n) > len(MATCH_COUNTS) // 3


@pytest.mark.parametrize("seed", range(40))
def test_one_wake_answer_for_stages_with_the_same_guard_changes_nothing(seed: int) -> None:
    """Every stage starts with the same guard (as the stress benchmark's `hot`): the start state's
    wake answer serves every state (`start_wake_serves_all`), which must give what asking each
    state's wake condition, or no shortcut at all, gives."""
    rnd = random.Random(20_000 + seed)
    pattern = _stress_shape(rnd.choice((3, 6, 20)))
    assert NfaHarness(pattern).matcher._run.start_wake_serves_all
    for _ in range(3):
        events = random_stream(rnd)
        a = NfaHarness(pattern).run(events, end=1000)
        b = NfaHarness(pattern, use_prefilter=False, use_shortcuts=False).run(events, end=1000)
        assert [ids(m) for m in a[0]] == [ids(m) for m in b[0]]
        assert sorted((ids(t), ts) for t, ts in a[1]) == sorted((ids(t), ts) for t, ts in b[1])


def _stress_shape(window: int) -> Pattern:
    """The stress benchmark's shape: a looping `followed_by_any` stage that proceeds to `end`."""
    guard = C.field("v") != 2
    return (
        Pattern.begin("start")
        .where(guard)
        .followed_by_any("spread")
        .where(guard & (C.field("key") == C.last("start", "key")))
        .one_or_more()
        .followed_by("end")
        .where(guard & (C.field("name") == C.last("start", "name")))
        .within(window)
    )


@pytest.mark.parametrize("seed", range(40))
def test_shared_ignore_forks_keep_flinks_successors_and_order(seed: int, monkeypatch) -> None:
    """A state whose edges, decided by the event alone, are IGNOREs only (the looping stage moving
    on and forking into `end`) updates all its partial matches by one `_fork_plan` instead of a
    `_step` each: the same matches and timeouts, in the same order (ranks), as without shortcuts."""
    import cep.runtime

    forks = []
    real_fork = cep.runtime._fork

    def counting_fork(pms, plan, new, kept):
        forks.append(len(plan))
        return real_fork(pms, plan, new, kept)

    monkeypatch.setattr(cep.runtime, "_fork", counting_fork)
    rnd = random.Random(30_000 + seed)
    pattern = _stress_shape(rnd.choice((3, 6, 20)))
    for _ in range(3):
        events = random_stream(rnd, 40)
        a = NfaHarness(pattern).run(events, end=1000)
        b = NfaHarness(pattern, use_prefilter=False, use_shortcuts=False).run(events, end=1000)
        assert [ids(m) for m in a[0]] == [ids(m) for m in b[0]]
        assert [(ids(t), ts) for t, ts in a[1]] == [(ids(t), ts) for t, ts in b[1]]
    assert forks and set(forks) == {2}  # the partial match moves on and forks into `end`


def test_a_value_not_equal_to_itself_is_not_taken_through_the_index() -> None:
    """An indexed state asks only the rest of its TAKE condition of the partial matches found
    under the event's value (`index_residual`); a bucket lookup finds NaN by identity although
    `NaN == NaN` is false, so there the whole condition is asked, as without shortcuts."""
    nan = float("nan")
    pattern = Pattern.begin("a").where(C.field("name") == "a").followed_by("b").where(
        (C.field("name") == "b") & (C.field("key") == C.last("a", "key"))
    )
    events = [
        {"name": "a", "key": nan, "v": 0, "event_id": "a0", "ts": 1},
        {"name": "a", "key": 1, "v": 0, "event_id": "a1", "ts": 2},
        {"name": "b", "key": nan, "v": 0, "event_id": "b0", "ts": 3},
        {"name": "b", "key": 1, "v": 0, "event_id": "b1", "ts": 4},
    ]
    harness = NfaHarness(pattern)
    assert harness.matcher._run.infos[1].index == ("key", "a", "key")  # the lookup is used
    with_index = harness.run(events, end=100)
    without = NfaHarness(pattern, use_prefilter=False, use_shortcuts=False).run(events, end=100)
    assert [ids(m) for m in with_index[0]] == [ids(m) for m in without[0]] == [(("a", "a1"), ("b", "b1"))]
