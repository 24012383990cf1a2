"""`cep.flink` in event time on the mini-cluster: ordering, ties, late data, timeouts, ids, worker imports.

One job runs every pipeline below over the same out-of-order input (watermark = max timestamp − 5 ms,
emitted after every record, so which events are late depends only on the input order).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from pyflink.common import Types
from pyflink.datastream import OutputTag
from pyflink.datastream.state import ValueStateDescriptor

from cep import Pattern
from cep import conditions as C
from cep.flink import CEP, match_id
from tests.flink.harness import KEY_FIELD, Record, collect, keyed_events, new_env, write_records
from tests.support.flink import PROJECT_ROOT

pytestmark = pytest.mark.pyflink

MAX_WATERMARK = 2**63 - 1
BOUND_MS = 5


def named(name: str):
    return C.field("name") == name


def a_then_b(window_ms: int = 10) -> Pattern:
    return Pattern.begin("a").where(named("a")).followed_by("b").where(named("b")).within(window_ms)


def a_without_c(window_ms: int = 10) -> Pattern:
    return Pattern.begin("a").where(named("a")).not_followed_by("c").where(named("c")).within(window_ms)


def t_next_t() -> Pattern:
    return Pattern.begin("x").where(named("t")).next("y").where(named("t"))


def ev(key: str, ts: int, event_id: int, name: str) -> Record:
    return Record(key, ts, {"id": event_id, "name": name})


# Arrival order (watermark after each record: max timestamp so far − 5).
# "order": b@3 arrives before a@1 (within the bound) and still matches after a@1.
# "idle": a@2 gets no further event on its key. Its first watermark is 4 (after x@9), so its window
#         (ends at 12) closes only because other keys move the watermark to 15.
# "ties": two t@20 in arrival order 10, 11: strict contiguity pairs them in that order.
# "late": b@5 arrives when the watermark is 30 − 5 = 25, so it is late and a@4 never matches.
INPUT = [
    ev("order", 3, 1, "b"),
    ev("order", 1, 2, "a"),
    ev("idle", 2, 3, "a"),
    ev("late", 4, 4, "a"),
    ev("late", 9, 12, "x"),
    ev("ties", 20, 10, "t"),
    ev("ties", 20, 11, "t"),
    ev("late", 30, 5, "x"),
    ev("late", 5, 6, "b"),
    ev("order", 40, 7, "x"),
    ev("late", 41, 8, "a"),
    ev("late", 43, 9, "b"),
]


def ids(match: dict) -> tuple:
    return tuple(event["id"] for name in sorted(match) for event in match[name])


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    path = write_records(tmp_path_factory.mktemp("event-time") / "input.jsonl", INPUT)
    env = new_env()
    keyed = keyed_events(env, path, BOUND_MS)
    late_tag, timeout_tag = OutputTag("late"), OutputTag("timeouts")

    with_tags = CEP.pattern(keyed, a_then_b()).side_output_late_data(late_tag)
    matches = with_tags.process(
        lambda match, ctx: [(ctx.key, ctx.match_id, ctx.timestamp, ids(match))],
        timeout_tag=timeout_tag,
        timeout_fn=lambda partial, ts: (partial["a"][0][KEY_FIELD], ids(partial), ts),
    )
    untagged = CEP.pattern(keyed, a_then_b()).select(lambda match: (match["a"][0][KEY_FIELD], ids(match)))
    absences = CEP.pattern(keyed, a_without_c()).process(
        lambda match, ctx: [(ctx.key, ctx.timestamp, ids(match))]
    )
    strict = CEP.pattern(keyed, t_next_t()).select(ids)
    arrival = (
        CEP.pattern(keyed, a_then_b(window_ms=3_600_000))
        .in_processing_time()
        .select(lambda match: (match["a"][0][KEY_FIELD], ids(match)))
    )
    rich = CEP.pattern(keyed, a_then_b(window_ms=3_600_000)).process(CountMatchesPerKey())
    imports = keyed.map(lambda event: _worker_imports())
    return collect(
        {
            "matches": matches,
            "late": matches.get_side_output(late_tag),
            "timeouts": matches.get_side_output(timeout_tag),
            "untagged": untagged,
            "absences": absences,
            "strict": strict,
            "processing time": arrival,
            "imports": imports,
            "rich": rich,
        }
    )


class CountMatchesPerKey:
    """A rich match function: `open` creates keyed state, which each call sees for its match's key."""

    def open(self, runtime_context) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("matches-so-far", Types.INT()))

    def __call__(self, match: dict, ctx) -> list:
        count = (self.count.value() or 0) + 1
        self.count.update(count)
        return [(ctx.key, count)]


def _worker_imports() -> dict[str, str]:
    """Where the Python worker finds the project's packages (those present in this checkout)."""
    names = [name for name in ("cep", "jobs", "simulator") if (PROJECT_ROOT / name).is_dir()]
    return {name: str(Path(importlib.import_module(name).__path__[0]).resolve()) for name in names}


def test_buffered_events_are_fed_in_timestamp_order(outputs):
    by_key = {key: match for key, _id, _ts, match in outputs["matches"]}
    assert by_key["order"] == (2, 1)  # a@1 then b@3, although b arrived first


def test_each_match_carries_key_deterministic_id_and_timestamp(outputs):
    assert len(outputs["matches"]) == 2
    for key, mid, _timestamp, (a_id, b_id) in outputs["matches"]:
        assert mid == match_id(key, {"a": [{"id": a_id}], "b": [{"id": b_id}]})
    timestamps = {key: ts for key, _id, ts, _m in outputs["matches"]}
    assert timestamps == {"order": 3, "late": 43}  # the timestamp of the event completing the match


def test_ties_are_fed_in_arrival_order(outputs):
    assert outputs["strict"] == [(10, 11)]


def test_late_events_go_to_the_late_output(outputs):
    assert [(event[KEY_FIELD], event["id"]) for event in outputs["late"]] == [("late", 6)]
    assert ("late", (4, 6)) not in outputs["untagged"]


def test_without_a_late_tag_late_events_are_left_out_and_matching_goes_on(outputs):
    expected = sorted((key, match) for key, _id, _ts, match in outputs["matches"])
    assert sorted(outputs["untagged"]) == expected


def test_timeouts_go_to_the_timeout_output_with_their_timestamps(outputs):
    # a@1 matched; a@2 ("idle") and a@4 ("late", its b was late) time out at start + 10.
    assert sorted(outputs["timeouts"]) == [("idle", (3,), 12), ("late", (4,), 14)]


def test_time_advances_with_the_watermark_for_keys_without_events(outputs):
    # a@2 on "idle" has no c within 10 ms: that match is decided when the watermark passes 12 (it
    # reaches 15), long before the end of input, whose final watermark is MAX_WATERMARK.
    by_key = {key: (ts, match) for key, ts, match in outputs["absences"]}
    ts, match = by_key["idle"]
    assert match == (3,)
    assert ts == 15 < MAX_WATERMARK


def test_in_processing_time_events_are_fed_in_arrival_order(outputs):
    # "order": b arrived before a, so no match; "late": b@5 is not late in processing time.
    assert sorted(outputs["processing time"]) == [("late", (4, 6)), ("late", (8, 9))]


def test_a_rich_match_function_keeps_keyed_state_of_the_match_key(outputs):
    # "late" matches twice (a@4 and a@41, each with b@43; b@5 was late), "order" once.
    assert sorted(outputs["rich"]) == [("late", 1), ("late", 2), ("order", 1)]


def test_python_workers_import_the_project(outputs):
    seen = outputs["imports"][0]
    assert "cep" in seen
    for name, location in seen.items():
        assert Path(location) == (PROJECT_ROOT / name).resolve()
