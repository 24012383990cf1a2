"""Checkpoints carry the adapter's state: a job that fails once mid-stream finds exactly the same matches.

The failing job checkpoints every 200 ms, restarts on failure, and has an operator that raises once,
two checkpoints after the anchor event passed it (so the restored state must hold the anchor). The
match that starts with the anchor completes only after the failure, from events the restarted attempt
reads after the restored source position: it is found only if the matcher's state was restored.
Matches go to an idempotent sink (one file per match id), as a replay-safe sink would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cep import Matcher, Pattern
from cep import conditions as C
from cep.flink import CEP, match_id
from tests.flink.harness import (
    FailOnce,
    Record,
    WriteById,
    discard,
    events_seen_per_attempt,
    new_env,
    read_by_id,
    read_events,
    record_key,
    write_records,
)

pytestmark = pytest.mark.pyflink

KEYS = ("k0", "k1", "k2", "k3")
ANCHOR_ID = 4  # the first event of the match that spans the failure
CLOSING_ID = 156  # the event that completes it
END_OF_INPUT = 2**63 - 1


def a_then_b() -> Pattern:
    return (
        Pattern.begin("a")
        .where(C.field("name") == "a")
        .followed_by("b")
        .where(C.field("name") == "b")
        .within(100_000)
    )


def stream() -> list[Record]:
    """k0: the anchor a, then only x until its b at the end; k1-k3: a and b in turn, many matches."""
    records = []
    for i in range(160):
        key = KEYS[i % len(KEYS)]
        if i == ANCHOR_ID:
            name = "a"
        elif i == CLOSING_ID:
            name = "b"
        elif key == "k0":
            name = "x"
        else:
            name = "a" if (i // len(KEYS)) % 2 == 0 else "b"
        records.append(Record(key, 10 * i, {"id": i, "name": name}))
    return records


def run(work: Path, input_path: Path, fail: bool) -> dict[str, list]:
    """Run the job; return its matches by id."""
    (work / "out").mkdir(parents=True)
    conf = {}
    if fail:
        conf = {
            "execution.checkpointing.interval": "200ms",
            "state.checkpoints.dir": (work / "checkpoints").as_uri(),
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": "2",
            "restart-strategy.fixed-delay.delay": "100ms",
        }
    env = new_env(**conf)
    events = read_events(env, input_path, 5)
    if fail:
        events = events.map(FailOnce(str(work), ANCHOR_ID, delay_s=0.01))
    matches = CEP.pattern(events.key_by(record_key), a_then_b()).process(
        lambda match, ctx: [(ctx.match_id, sorted(e["id"] for es in match.values() for e in es))]
    )
    discard(matches.map(WriteById(str(work / "out"))))
    env.execute("cep-flink-recovery" + ("-with-failure" if fail else ""))
    return read_by_id(work / "out")


def reference_ids(records: list[Record]) -> set[str]:
    ids = set()
    for key in KEYS:
        matcher = Matcher(a_then_b())
        for rec in (r for r in records if r.key == key):
            ids.update(match_id(key, m) for m in matcher.advance_time(rec.ts)[0])
            ids.update(match_id(key, m) for m in matcher.process({**rec.event, "_key": key}, rec.ts))
        ids.update(match_id(key, m) for m in matcher.advance_time(END_OF_INPUT)[0])
    return ids


def test_a_failure_after_a_checkpoint_loses_no_match(tmp_path):
    records = stream()
    input_path = write_records(tmp_path / "input.jsonl", records)

    with_failure = run(tmp_path / "failing", input_path, fail=True)
    without_failure = run(tmp_path / "clean", input_path, fail=False)

    attempts = events_seen_per_attempt(tmp_path / "failing")
    assert (tmp_path / "failing" / "failed-once").exists(), "the failure was never injected"
    assert len(attempts) == 2
    assert ANCHOR_ID in attempts[0] and ANCHOR_ID not in attempts[1], "restart replayed the anchor"
    assert attempts[1][0] > 0, "the restarted attempt read the input from the start"

    spanning = match_id("k0", {"a": [{"id": ANCHOR_ID}], "b": [{"id": CLOSING_ID}]})
    assert spanning in with_failure
    assert set(with_failure) == set(without_failure) == reference_ids(records)
    assert len(without_failure) > 30
