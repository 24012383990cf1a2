"""`PatternStream.early_results()` on the mini-cluster: shuffled arrival, each match once, early.

The input is a chain pattern's events shuffled within the out-of-orderness bound (watermark = max
timestamp seen − bound, after every record). With early results every match is emitted when its last
event arrives: downstream, the watermark is still below the match's last timestamp. Without, the same
matches come when the watermark has passed them (emitted by the CEP operator's timer, before it
forwards that watermark, so downstream cannot see it). Both pipelines run in one job over the same input.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction

from cep import MalformedPatternError, Matcher, Pattern
from cep import conditions as C
from cep.flink import CEP, match_id
from tests.flink.harness import Record, collect, keyed_events, new_env, shuffle_within_bound, write_records

pytestmark = pytest.mark.pyflink

BOUND_MS = 50
KEYS = ("r0", "r1", "r2")


def chain() -> Pattern:
    pattern = Pattern.begin("a").where(C.field("name") == "a")
    pattern = pattern.followed_by_any("b").where(C.field("name") == "b")
    return pattern.followed_by_any("c").where(C.field("name") == "c").within(150)


def stream() -> list[Record]:
    rng = random.Random("early-results")
    records = []
    for i in range(240):
        key = KEYS[i % len(KEYS)]
        name = rng.choice("abcx")
        records.append(Record(key, 5 * i, {"id": i, "name": name, "ts": 5 * i}))
    return records


class WatermarkAtArrival(KeyedProcessFunction):
    """Tags each match with the watermark the next operator had when the match reached it."""

    def process_element(self, value, ctx: KeyedProcessFunction.Context):
        yield (*value, ctx.timer_service().current_watermark())


def run_both(path: Path) -> dict[str, list[tuple]]:
    """One job, two pipelines over the same keyed input: with early results ("early") and without
    ("watermark only"). Each match is tagged with the watermark its next operator had when it arrived."""
    env = new_env()
    keyed = keyed_events(env, path, BOUND_MS)

    def matches_of(early: bool):
        patterns = CEP.pattern(keyed, chain())
        if early:
            patterns = patterns.early_results()
        matches = patterns.process(
            lambda match, ctx: [
                (ctx.match_id, ctx.found_early, max(e["ts"] for es in match.values() for e in es))
            ]
        )
        return matches.key_by(lambda m: m[0], Types.STRING()).process(WatermarkAtArrival())

    return collect({"early": matches_of(early=True), "watermark only": matches_of(early=False)})


def reference_ids(records: list[Record]) -> set[str]:
    ids = set()
    for key in KEYS:
        matcher = Matcher(chain())
        for rec in sorted((r for r in records if r.key == key), key=lambda r: r.ts):
            ids.update(match_id(key, m) for m in matcher.process({**rec.event, "_key": key}, rec.ts))
    return ids


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    records = shuffle_within_bound(stream(), BOUND_MS, seed="early")
    outputs = run_both(write_records(tmp_path_factory.mktemp("early") / "input.jsonl", records))
    return reference_ids(records), outputs["early"], outputs["watermark only"]


def test_early_results_emit_every_match_once_before_the_watermark(runs):
    expected, early, _ = runs
    ids = [mid for mid, _found, _last, _wm in early]
    assert len(expected) > 20
    assert sorted(ids) == sorted(expected), "every match, each once"
    for _mid, found_early, last_ts, watermark in early:
        assert found_early
        assert watermark < last_ts, "emitted when the last event arrived, not at the watermark"


def test_without_early_results_the_same_matches_wait_for_the_watermark(runs):
    expected, _, watermark_only = runs
    assert sorted(mid for mid, *_ in watermark_only) == sorted(expected)
    assert not any(found_early for _mid, found_early, *_ in watermark_only)


def test_unsound_patterns_are_refused_when_the_job_is_built(tmp_path):
    env = new_env()
    keyed = keyed_events(env, write_records(tmp_path / "in.jsonl", stream()[:3]), BOUND_MS)
    relaxed = Pattern.begin("a").where(C.field("name") == "a").followed_by("b").where(C.field("name") == "b")
    with pytest.raises(MalformedPatternError, match="followed_by"):
        CEP.pattern(keyed, relaxed).early_results()
