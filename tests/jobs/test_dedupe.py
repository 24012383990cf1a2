"""The re-delivery dedupe (`jobs.bushfire.dedupe.SeenEventIds`) over in-memory stand-ins of keyed state."""

from __future__ import annotations

from jobs.bushfire.dedupe import SEEN_STATE, SeenEventIds
from tests.flink.stand_ins import Runtime

MINUTE = 60_000


def test_a_redelivery_within_the_ttl_is_not_the_first_time() -> None:
    seen = SeenEventIds(Runtime(), ttl_ms=10 * MINUTE)
    assert seen.first_time("r1", "n1:1", 1 * MINUTE)
    assert not seen.first_time("r1", "n1:1", 1 * MINUTE)
    assert seen.first_time("r1", "n1:2", 2 * MINUTE)


def test_flink_state_holds_one_entry_per_id_and_loses_those_past_the_ttl() -> None:
    runtime = Runtime()
    seen = SeenEventIds(runtime, ttl_ms=10 * MINUTE)
    for minute in range(15):
        assert seen.first_time("r1", f"n1:{minute}", minute * MINUTE)
    # at minute 14 the horizon is minute 4: minutes 0-3 are forgotten, in memory and in Flink state
    assert runtime.maps[SEEN_STATE] == {f"n1:{minute}": minute * MINUTE for minute in range(4, 15)}
    assert seen.first_time("r1", "n1:0", 14 * MINUTE)  # forgotten: counted as new again
    assert not seen.first_time("r1", "n1:4", 14 * MINUTE)


def test_a_restored_instance_knows_the_ids_and_forgets_the_oldest_first() -> None:
    runtime = Runtime()
    before = SeenEventIds(runtime, ttl_ms=10 * MINUTE)
    for minute in (5, 3, 9, 1, 7):  # arrival order is not event-time order
        before.first_time("r1", f"n1:{minute}", minute * MINUTE)
    stored = runtime.maps[SEEN_STATE]
    runtime.maps[SEEN_STATE] = type(stored)(reversed(list(stored.items())))  # no order to rely on
    restored = SeenEventIds(runtime, ttl_ms=10 * MINUTE)  # a new instance reads Flink state (a restore)
    assert not restored.first_time("r1", "n1:7", 7 * MINUTE)
    assert restored.first_time("r1", "n1:14", 14 * MINUTE)  # horizon minute 4: 1 and 3 go, 5 stays
    assert sorted(runtime.maps[SEEN_STATE]) == ["n1:14", "n1:5", "n1:7", "n1:9"]
    assert restored.first_time("r1", "n1:1", 14 * MINUTE)
