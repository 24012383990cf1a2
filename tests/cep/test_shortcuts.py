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


def random_pattern(rnd: random.Random) -> Pattern:
    strategies = [
        AfterMatchSkipStrategy.no_skip(),
        AfterMatchSkipStrategy.no_skip(),
        AfterMatchSkipStrategy.skip_past_last_event(),
        AfterMatchSkipStrategy.skip_to_next(),
        AfterMatchSkipStrategy.skip_to_first("s0"),
    ]
    p = Pattern.begin("s0", skip_strategy=rnd.choice(strategies)).where(_cond(rnd, []))
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
            p = getattr(p, verb)(name).where(_cond(rnd, names))
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


def test_random_patterns_do_match() -> None:
    """Guard against a vacuous comparison: most random runs above produced matches."""
    if len(MATCH_COUNTS) < 300:
        for seed in range(100):
            test_shortcuts_change_nothing(seed)
    assert sum(1 for n in MATCH_COUNTS if n) > len(MATCH_COUNTS) // 3
