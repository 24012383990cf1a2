"""The fire-chain pattern, run by the pure-Python Matcher, finds exactly `simulator.find_paths`."""

from __future__ import annotations

from collections import defaultdict

import pytest

from cep import Matcher
from cep.analysis import prefilter
from jobs.bushfire.config import DetectionConfig
from jobs.bushfire.patterns import ALERT, ORIGINAL_2018, ChainVariant, fire_chain, stage_names
from simulator import FireConfig, SimulationConfig, TopologyConfig, find_paths, simulate
from tests.cep.harness import NfaHarness
from tests.cep.streams import MINUTE, fire_stream, ids, node_path


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


VARIANTS = {
    "alert": ALERT,
    "original-2018": ORIGINAL_2018,
    "any-distinct": ALERT.replace(strictly_later=False, dedupe_runs=False),
    "followed-by-later": ORIGINAL_2018.replace(strictly_later=True, distinct_nodes=True),
}


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_each_variant_matches_the_same_with_lambdas_as_declared(variant: ChainVariant) -> None:
    """The lambda form of every variant is the same pattern, only opaque to the engine."""
    events = fire_stream(side=4, minutes=30, seed=3)
    detection = DetectionConfig(chain_length=4, window_ms=6 * MINUTE)
    declared = NfaHarness(fire_chain(detection, variant))
    opaque = NfaHarness(fire_chain(detection, variant.replace(lambdas=True)))
    assert declared.matcher.prefilter is not None and opaque.matcher.prefilter is None
    found, _ = declared.run(events, end=10**12)
    assert len(found) > 3
    assert [ids(m) for m in opaque.run(events, end=10**12)[0]] == [ids(m) for m in found]


def test_the_variants_differ_as_declared() -> None:
    """ALERT's paths have distinct nodes, and `dedupe_runs` prunes runs, never paths; ORIGINAL_2018
    (`infectedBy` only) also reports paths through a node twice."""
    events = fire_stream(side=4, minutes=30, seed=3)
    detection = DetectionConfig(chain_length=3, window_ms=6 * MINUTE)

    def run(variant: ChainVariant) -> tuple[int, set]:
        found, _ = NfaHarness(fire_chain(detection, variant)).run(events, end=10**12)
        return len(found), {node_path(m) for m in found}

    alert_matches, alert_paths = run(ALERT)
    all_runs, same_paths = run(ALERT.replace(dedupe_runs=False))
    assert same_paths == alert_paths and len(alert_paths) >= 5
    assert alert_matches < all_runs / 2
    assert all(len(set(path)) == 3 for path in alert_paths)
    _, original_paths = run(ORIGINAL_2018)
    assert any(len(set(path)) < 3 for path in original_paths)
