"""The fire-chain pattern, run by the pure-Python Matcher, finds exactly `simulator.find_paths`."""

from __future__ import annotations

from collections import defaultdict

import pytest

from cep import Matcher
from cep.analysis import prefilter
from jobs.bushfire.config import DetectionConfig
from jobs.bushfire.patterns import fire_chain, stage_names
from simulator import FireConfig, SimulationConfig, TopologyConfig, find_paths, simulate


def detect_paths(events: list[dict], detection: DetectionConfig) -> list[tuple[str, tuple[str, ...]]]:
    """Distinct (region, path) of every match, one Matcher per region, events in timestamp order."""
    pattern = fire_chain(detection)
    matchers: dict[str, Matcher] = defaultdict(lambda: Matcher(pattern))
    names = stage_names(detection.chain_length)
    found = set()
    for event in sorted(events, key=lambda e: e["ts"]):
        for match in matchers[event["region"]].process(event, event["ts"]):
            found.add((event["region"], tuple(match[name][-1]["node"] for name in names)))
    return sorted(found)


def _random_branching(seed: int) -> SimulationConfig:
    return SimulationConfig(
        topology=TopologyConfig(regions=3, nodes_per_region=25, grid_cols=5),
        fire=FireConfig(
            ignitions_per_region=1.2, ignition_horizon=0.6, spread_probability=0.35, burn_minutes=8
        ),
        minutes=30,
        seed=seed,
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "detection",
    [
        DetectionConfig(),
        DetectionConfig(chain_length=3, window_ms=240_000),
        DetectionConfig(threshold_c=60.0),
    ],
    ids=["defaults", "k3-4min", "60C"],
)
def test_matcher_finds_exactly_the_oracle_paths(seed: int, detection: DetectionConfig) -> None:
    sim = simulate(_random_branching(seed))
    events = list(sim.events())
    truth = find_paths(events, detection.chain_length, detection.window_ms, detection.threshold_c)
    assert detect_paths(events, detection) == sorted(truth)


def test_the_streams_really_branch_and_alert() -> None:
    sim = simulate(_random_branching(0))
    assert sim.branch_points and len(sim.truth()) >= 5


def test_blog_11_has_one_path() -> None:
    events = list(simulate(SimulationConfig.preset("blog-11")).events())
    assert detect_paths(events, DetectionConfig()) == [("blog", ("1", "2", "3", "4", "5"))]


def test_the_prefilter_is_the_threshold_and_renders_as_sql() -> None:
    hot = prefilter(fire_chain(DetectionConfig(threshold_c=55.0)))
    assert hot is not None
    assert hot({"temperature": 55.0}) and not hot({"temperature": 54.9})
    assert "temperature" in hot.to_sql() and "55" in hot.to_sql()
