"""`PatternStream.bounded` on the mini-cluster: per-key caps on buffered events and partial matches.

The watermark lags 1 s behind, so every event stays buffered until the end of the input; with
`max_buffered_events=2` a key of three events loses one before the matcher sees any. (Events the
pattern's prefilter rejects are never buffered, so every kind used here matters to the pattern.)
"""

from __future__ import annotations

import pytest

from cep import Matcher, Pattern
from cep import conditions as C
from cep.flink import CEP
from tests.cep.test_bounded import multiplying
from tests.flink.harness import Record, collect, keyed_events, new_env, write_records

pytestmark = pytest.mark.pyflink

BOUND_MS = 1_000


def a_then_b() -> Pattern:
    return Pattern.begin("a").where(C.field("k") == "a").followed_by("b").where(C.field("k") == "b")


def events(key: str, kinds: str) -> list[Record]:
    return [Record(key, ts + 1, {"k": kind, "id": f"{key}{ts}"}) for ts, kind in enumerate(kinds)]


INPUT = events("abb", "abb") + events("bab", "bab") + events("many", "abbbbc")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    path = write_records(tmp_path_factory.mktemp("bounded") / "input.jsonl", INPUT)
    env = new_env()
    keyed = keyed_events(env, path, BOUND_MS)

    def keys(pattern: Pattern, **bounds):
        stream = CEP.pattern(keyed, pattern)
        if bounds:
            stream = stream.bounded(**bounds)
        return stream.process(lambda match, ctx: [f"{ctx.key}:{_ids(match)}"])

    return collect(
        {
            "free": keys(a_then_b()),
            "oldest": keys(a_then_b(), max_buffered_events=2, on_overflow="drop_oldest"),
            "newest": keys(a_then_b(), max_buffered_events=2, on_overflow="drop_newest"),
            "pm capped": keys(multiplying(), max_partial_matches=2, on_overflow="drop_newest"),
            "pm free": keys(multiplying()),
        }
    )


def _ids(match: dict) -> str:
    return ",".join(event["id"] for name in sorted(match) for event in match[name])


def _keys(rows: list[str]) -> set[str]:
    return {row.split(":")[0] for row in rows}


def test_without_caps_every_key_matches(outputs):
    assert _keys(outputs["free"]) == {"abb", "bab", "many"}


def test_drop_oldest_evicts_the_earliest_buffered_event(outputs):
    # abb loses its `a`, many keeps only `b`, `c`; bab loses its first `b`
    assert _keys(outputs["oldest"]) == {"bab"}


def test_drop_newest_refuses_the_arriving_event(outputs):
    # abb and many keep their `a`, `b`; bab refuses its second `b`
    assert _keys(outputs["newest"]) == {"abb", "many"}


def test_partial_match_cap_reaches_the_matcher(outputs):
    expected = Matcher(multiplying(), max_partial_matches=2, on_overflow="drop_newest")
    found = []
    for rec in [r for r in INPUT if r.key == "many"]:
        found.extend(expected.process(rec.event, rec.ts))
    assert expected.evicted_partial_matches > 0
    capped = [row for row in outputs["pm capped"] if row.startswith("many:")]
    free = [row for row in outputs["pm free"] if row.startswith("many:")]
    assert len(capped) == len(found) < len(free)
