"""Each fault does what it says, and the truth follows the delivered stream."""

from __future__ import annotations

from collections import Counter

import orjson

from simulator import FaultConfig, FireConfig, SimulationConfig, TopologyConfig, is_valid_event, simulate


def faulty(**rates) -> SimulationConfig:
    return SimulationConfig(
        topology=TopologyConfig(regions=4, nodes_per_region=36, grid_cols=6),
        fire=FireConfig(ignitions_per_region=1.5, spread_probability=0.3, burn_minutes=12),
        faults=FaultConfig(**rates),
        minutes=30,
        seed=5,
    )


def test_no_faults_delivers_the_events_unchanged():
    sim = simulate(faulty())
    assert list(sim.delivered()) == list(sim.events())
    assert sim.truth() == sim.event_truth()


def test_delay_reorders_within_the_bound_and_loses_nothing():
    sim = simulate(faulty(delay_rate=0.3, max_delay_ms=45_000))
    delivered = list(sim.delivered())
    assert Counter(e["event_id"] for e in delivered) == Counter(e["event_id"] for e in sim.events())
    ts = [e["ts"] for e in delivered]
    assert ts != sorted(ts), "nothing arrived out of order"
    # Arrival = send time + delay, so whatever arrives before a record was sent no later than
    # that record's send time + max_delay.
    latest_sent_before = ts[0]
    for t in ts:
        assert latest_sent_before - t <= 45_000
        latest_sent_before = max(latest_sent_before, t)


def test_drop_removes_readings_and_can_remove_paths():
    sim = simulate(faulty(drop_rate=0.2))
    delivered = list(sim.delivered())
    events = list(sim.events())
    assert 0.15 < 1 - len(delivered) / len(events) < 0.25
    assert {e["event_id"] for e in delivered} < {e["event_id"] for e in events}
    assert sim.truth() <= sim.event_truth()
    heavy = simulate(faulty(drop_rate=0.7))
    assert heavy.truth() < heavy.event_truth()


def test_duplicates_repeat_the_same_event_id_and_body():
    sim = simulate(faulty(duplicate_rate=0.1))
    by_id: dict[str, list[dict]] = {}
    for e in sim.delivered():
        by_id.setdefault(e["event_id"], []).append(e)
    dups = [v for v in by_id.values() if len(v) > 1]
    assert 0.07 < len(dups) / len(by_id) < 0.13
    assert all(len(v) == 2 and v[0] == v[1] for v in dups)
    assert sim.truth() == sim.event_truth()


def test_skew_shifts_a_sensor_clock_by_a_constant():
    sim = simulate(faulty(skew_rate=0.2, max_skew_ms=20_000))
    true_ts = {e["event_id"]: e["ts"] for e in sim.events()}
    shift: dict[str, set[int]] = {}
    for e in sim.delivered():
        shift.setdefault(e["node"], set()).add(e["ts"] - true_ts[e["event_id"]])
    assert all(len(s) == 1 for s in shift.values()), "a sensor's skew must be constant"
    skewed = {n: s.pop() for n, s in shift.items() if s != {0}}
    assert 0.1 * 144 < len(skewed) < 0.3 * 144
    assert all(0 < abs(v) <= 20_000 for v in skewed.values())


def test_stuck_sensor_repeats_one_temperature():
    sim = simulate(faulty(stuck_rate=0.2))
    original = {e["event_id"]: e["temperature"] for e in sim.events()}
    per_node: dict[str, list[tuple[float, float]]] = {}
    for e in sim.delivered():
        per_node.setdefault(e["node"], []).append((e["temperature"], original[e["event_id"]]))
    stuck = [readings for readings in per_node.values() if any(d != o for d, o in readings)]
    assert stuck
    for readings in stuck:
        first_changed = next(i for i, (d, o) in enumerate(readings) if d != o)
        tail = [d for d, _ in readings[first_changed - 1:]]
        assert len(set(tail)) == 1, "a stuck sensor keeps repeating the value it froze at"


def test_spikes_are_hot_without_infection_and_add_no_paths():
    sim = simulate(faulty(spike_rate=0.02))
    infected = {e["event_id"] for e in sim.events() if e["temperature"] >= 50}
    spikes = [e for e in sim.delivered() if e["temperature"] >= 50 and e["event_id"] not in infected]
    assert spikes and all(e["infectedBy"] is None for e in spikes)
    assert sim.truth() == sim.event_truth()


def test_malformed_records_are_bad_bytes_of_every_kind():
    sim = simulate(faulty(malformed_rate=0.05))
    bad = [r for r in sim.delivered() if isinstance(r, bytes)]
    assert bad and all(b"\n" not in r for r in bad)
    kinds = Counter()
    for raw in bad:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            kinds["garbled"] += 1
            continue
        assert not is_valid_event(value)
        kinds["missing" if any(f not in value for f in ("event_id", "node", "region", "ts", "temperature",
                                                          "infectedBy")) else "wrong_type"] += 1
    assert set(kinds) == {"garbled", "missing", "wrong_type"}
    assert sim.truth() <= sim.event_truth()


def test_delivered_is_deterministic_per_seed():
    cfg = SimulationConfig.demo()
    assert list(simulate(cfg).delivered()) == list(simulate(cfg).delivered())
