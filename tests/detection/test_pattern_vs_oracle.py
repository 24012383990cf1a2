"""The job's pattern (`fire_chain`) run by the pure-Python `cep.Matcher` alerts exactly the oracle's paths.

One matcher per region, events in timestamp order (ties in feed order), distinct (region, path) of
the matches; compared with `simulator.find_paths` (itself checked against the literal definition in
test_oracle.py) on generated streams, simulator streams with faults, and the blog-11 preset; also
with every matcher snapshotted and restored at random points, and with watermarks in between.
Every match must also be a true witness: one reading per stage, satisfying every clause.
"""

from __future__ import annotations

import random
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep import Matcher
from jobs.bushfire.config import DetectionConfig
from jobs.bushfire.patterns import fire_chain
from simulator import (
    FaultConfig,
    FireConfig,
    SimulationConfig,
    TopologyConfig,
    TopologyKind,
    find_paths,
    is_valid_event,
    simulate,
)
from tests.detection.definition import literal_paths, violated_clauses
from tests.detection.harness import DetectionRun, run_fire_chain
from tests.detection.streams import (
    PROFILE,
    THRESHOLD,
    burning_streams,
    chain_lengths,
    free_streams,
    reading,
    small_windows,
)

MINUTE = 60_000
NODES_CHAIN = ("a", "b", "c", "d", "e", "f")


def assert_matches_are_witnesses(run: DetectionRun, detection: DetectionConfig) -> None:
    """Each match holds one reading per stage, and those readings satisfy the alert definition."""
    for region, match in run.matches:
        assert all(len(events) == 1 for events in match.values()), f"a stage took several readings: {match}"
        witness = run.witness(match)
        assert len(witness) == detection.chain_length, match
        broken = violated_clauses(witness, detection.window_ms, detection.threshold_c)
        assert not broken, f"match {witness} in region {region} breaks {broken}"
        assert all(e["region"] == region for e in witness)


def check_detection(
    events: list[dict],
    detection: DetectionConfig,
    truth: set,
    restart_before: frozenset = frozenset(),
    watermark_before: frozenset = frozenset(),
) -> DetectionRun:
    run = run_fire_chain(events, detection, restart_before, watermark_before)
    found = run.paths
    missed, false = sorted(truth - found), sorted(found - truth)
    assert not missed and not false, f"missed {missed}, false {false} (k={detection.chain_length}, " \
        f"window={detection.window_ms}, restarts before {sorted(restart_before)})"
    assert_matches_are_witnesses(run, detection)
    assert not run.leftover_regions, f"state left after every window passed: {run.leftover_regions}"
    return run


def detection_for(k: int, window: int) -> DetectionConfig:
    return DetectionConfig(threshold_c=THRESHOLD, chain_length=k, window_ms=window)


positions = st.frozensets(st.integers(0, 40), max_size=4)
any_stream = st.one_of(free_streams(), burning_streams())


# ---------------------------------------------------------------- generated streams
@settings(settings.get_profile(PROFILE))
@given(free_streams(), chain_lengths, small_windows)
def test_free_streams(events: list[dict], k: int, window: int) -> None:
    truth = find_paths(events, k, window, THRESHOLD)
    assert truth == literal_paths(events, k, window, THRESHOLD)
    check_detection(events, detection_for(k, window), truth)


@settings(settings.get_profile(PROFILE))
@given(burning_streams(), st.integers(2, 5), st.integers(1, 60))
def test_burning_streams(events: list[dict], k: int, window: int) -> None:
    check_detection(events, detection_for(k, window), find_paths(events, k, window, THRESHOLD))


@settings(settings.get_profile(PROFILE))
@given(any_stream, st.integers(2, 5), st.integers(1, 60), positions, positions)
def test_restarts_and_watermarks_change_nothing(events, k, window, restarts, watermarks) -> None:
    truth = find_paths(events, k, window, THRESHOLD)
    run = check_detection(events, detection_for(k, window), truth, restarts, watermarks)
    assert run.restarts == len([p for p in restarts if p < len(events)])


# ---------------------------------------------------------------- simulator streams
ALL_FAULTS = FaultConfig(
    delay_rate=0.05, drop_rate=0.02, duplicate_rate=0.05, skew_rate=0.1, max_skew_ms=90_000,
    stuck_rate=0.1, spike_rate=0.02, malformed_rate=0.01,
)


def _sim(kind: TopologyKind, regions: int, nodes: int, minutes: int, seed: int,
         faults: Optional[FaultConfig] = None) -> SimulationConfig:
    return SimulationConfig(
        topology=TopologyConfig(kind=kind, regions=regions, nodes_per_region=nodes),
        fire=FireConfig(
            ignitions_per_region=1.5, ignition_horizon=0.5, spread_probability=0.3, burn_minutes=8
        ),
        faults=faults or FaultConfig(),
        minutes=minutes,
        seed=seed,
    )


SIM_CASES = [  # (id, config, chain length, window)
    ("grid-1x16-k3-1min", _sim(TopologyKind.GRID, 1, 16, 20, 0), 3, 1 * MINUTE),
    ("grid-1x16-k4-5min", _sim(TopologyKind.GRID, 1, 16, 20, 2), 4, 5 * MINUTE),
    ("grid-3x12-k5-10min-faults", _sim(TopologyKind.GRID, 3, 12, 20, 3, ALL_FAULTS), 5, 10 * MINUTE),
    ("random-2x20-k3-3min", _sim(TopologyKind.RANDOM, 2, 20, 20, 4), 3, 3 * MINUTE),
    ("random-2x20-k5-20min-faults", _sim(TopologyKind.RANDOM, 2, 20, 20, 5, ALL_FAULTS), 5, 20 * MINUTE),
    ("random-3x16-k6-15min-faults", _sim(TopologyKind.RANDOM, 3, 16, 25, 4, ALL_FAULTS), 6, 15 * MINUTE),
    ("grid-3x16-k6-20min", _sim(TopologyKind.GRID, 3, 16, 25, 2), 6, 20 * MINUTE),
    ("grid-2x16-k4-7min-faults", _sim(TopologyKind.GRID, 2, 16, 20, 8, ALL_FAULTS), 4, 7 * MINUTE),
    ("demo-preset-k5-10min", SimulationConfig.preset("demo"), 5, 10 * MINUTE),
]


def usable_readings(delivered: list) -> list[dict]:
    """What a correct detector works on: well-formed readings, each event_id once (first arrival)."""
    seen: set[str] = set()
    out = []
    for record in delivered:
        if is_valid_event(record) and record["event_id"] not in seen:
            seen.add(record["event_id"])
            out.append(record)
    return out


@pytest.mark.parametrize(("config", "k", "window"), [c[1:] for c in SIM_CASES], ids=[c[0] for c in SIM_CASES])
def test_simulator_streams(config: SimulationConfig, k: int, window: int) -> None:
    sim = simulate(config)
    delivered = list(sim.delivered())
    readings = usable_readings(delivered)
    truth = find_paths(readings, k, window, THRESHOLD)
    assert truth == sim.truth(k, window, THRESHOLD), "the simulator's truth uses other validity/de-dup rules"
    assert truth, "the scenario should alert at least one path"
    if config.faults.any:
        assert len(readings) < len(delivered), "faulty delivery should hold duplicates or malformed records"
    restarts = frozenset(random.Random(k * window).sample(range(len(readings)), 3))
    check_detection(readings, detection_for(k, window), truth)
    check_detection(readings, detection_for(k, window), truth, restart_before=restarts)


def test_blog_11_preset() -> None:
    sim = simulate(SimulationConfig.preset("blog-11"))
    events = list(sim.events())
    for k in (2, 3, 4, 5):
        truth = find_paths(events, k, 10 * MINUTE, THRESHOLD)
        run = check_detection(events, detection_for(k, 10 * MINUTE), truth)
        assert run.paths == {("blog", tuple(str(n) for n in range(i, i + k))) for i in range(1, 7 - k)}
    restarts = frozenset(range(0, len(events), 7))
    run = check_detection(events, DetectionConfig(), sim.truth(), restart_before=restarts)
    assert run.paths == {("blog", ("1", "2", "3", "4", "5"))}


# ---------------------------------------------------------------- state stays bounded
@pytest.mark.parametrize("k", [3, 5])
def test_state_of_a_long_burning_chain_stays_linear_in_the_window(k: int) -> None:
    # k nodes in a chain, each burning from minute i on and reporting every minute for two hours.
    # Without dedupe_runs the partial matches of followed_by_any grow like W^(k-1) (W = window in
    # report intervals); with it, each sub-chain keeps about one partial match per start minute,
    # i.e. at most W * (2 + 3 + ... + k) live partial matches, however long the fire burns.
    nodes, window_minutes = NODES_CHAIN[:k], 10
    detection = detection_for(k, window_minutes * MINUTE)
    events = [
        reading(node, minute * MINUTE + i * 1_000, node if i == 0 else nodes[i - 1])
        for minute in range(120)
        for i, node in enumerate(nodes)
        if minute >= i
    ]
    matcher = Matcher(fire_chain(detection))
    peak = 0
    for event in events:
        matcher.process(event, event["ts"])
        peak = max(peak, matcher.partial_match_count())
    assert peak <= window_minutes * (k * (k + 1) // 2 - 1), peak
    truth = find_paths(events, k, detection.window_ms, THRESHOLD)
    assert truth == {("r", tuple(nodes))}
    check_detection(events, detection, truth)
