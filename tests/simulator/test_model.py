"""The network and fire models: topologies, SI invariants, readings, determinism, presets."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import (
    FaultConfig,
    FireConfig,
    NetworkError,
    SimulationConfig,
    TopologyConfig,
    TopologyKind,
    build_network,
    find_paths,
    is_valid_event,
    load_topology_file,
    simulate,
)


def small(**fire) -> SimulationConfig:
    return SimulationConfig(
        topology=TopologyConfig(regions=3, nodes_per_region=36, grid_cols=6),
        fire=FireConfig(**{"ignitions_per_region": 1.5, "spread_probability": 0.3, "burn_minutes": 12,
                           **fire}),
        minutes=40,
        seed=11,
    )


def test_grid_links_four_neighbours_within_a_region():
    net = build_network(TopologyConfig(regions=2, nodes_per_region=9, grid_cols=3))
    assert len(net) == 18 and set(net.regions) == {"r000", "r001"}
    assert net.neighbours["r000-n004"] == ("r000-n001", "r000-n003", "r000-n005", "r000-n007")
    assert net.neighbours["r000-n000"] == ("r000-n001", "r000-n003")
    assert all(net.by_id[a].region == net.by_id[b].region for a, b in net.edges)
    assert len(net.edges) == 2 * 12  # a 3x3 grid has 12 links


def test_random_geometric_links_only_close_nodes_and_is_seeded():
    cfg = TopologyConfig(kind=TopologyKind.RANDOM, regions=2, nodes_per_region=40, radius=0.3)
    a, b = build_network(cfg, seed=1), build_network(cfg, seed=1)
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() != build_network(cfg, seed=2).to_dict()
    assert 0 < len(a.edges) < 40 * 39
    lat = [n.lat for n in a.nodes]
    assert max(lat) != min(lat)


def test_topology_file_round_trips_and_rejects_bad_links(tmp_path):
    net = build_network(TopologyConfig(regions=2, nodes_per_region=4, grid_cols=2))
    path = tmp_path / "net.json"
    path.write_bytes(orjson.dumps(net.to_dict()))
    again = load_topology_file(path)
    assert again.to_dict() == net.to_dict()
    doc = net.to_dict()
    doc["edges"].append(["r000-n000", "r001-n000"])
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(NetworkError, match="crosses regions"):
        load_topology_file(path)
    doc["edges"][-1] = ["r000-n000", "nowhere"]
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(NetworkError, match="unknown node 'nowhere'"):
        load_topology_file(path)


def test_every_sensor_reports_every_interval_in_event_time_order():
    sim = simulate(small())
    events = list(sim.events())
    cfg = sim.config
    assert len(events) == len(sim.network) * cfg.steps
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    per_node: dict[str, list[int]] = {}
    for e in events:
        assert is_valid_event(e)
        per_node.setdefault(e["node"], []).append((e["ts"] - cfg.start_ms) // cfg.interval_ms)
    assert all(steps == list(range(cfg.steps)) for steps in per_node.values())
    assert len({e["event_id"] for e in events}) == len(events)


def test_si_invariants_infected_by_fixed_ignitions_self_referencing():
    sim = simulate(small())
    seen: dict[str, str | None] = {}
    for e in sim.events():
        node, by = e["node"], e["infectedBy"]
        if node in seen and seen[node] is not None:
            assert by == seen[node], "infectedBy changed after infection"
        seen[node] = by if by is not None else seen.get(node)
        if by is None:
            assert e["temperature"] < 50.0
    ignitions = [i for i in sim.infections.values() if i.is_ignition]
    assert ignitions and all(seen[i.node] == i.node for i in ignitions)
    for inf in sim.infections.values():
        if not inf.is_ignition:
            parent = sim.infections[inf.infected_by]
            assert parent.step < inf.step
            assert inf.infected_by in sim.network.neighbours[inf.node]


def test_burning_reads_hot_then_cools_below_threshold():
    sim = simulate(small())
    burn = sim.config.fire.burn_minutes
    for e in sim.events():
        inf = sim.infections.get(e["node"])
        step = (e["ts"] - sim.config.start_ms) // sim.config.interval_ms
        burning = inf is not None and inf.step <= step < inf.step + burn
        assert (e["temperature"] >= 50.0) == burning


def test_branching_fires_occur():
    sim = simulate(small())
    assert sim.branch_points
    node, kids = next(iter(sim.branch_points.items()))
    assert len(kids) >= 2 and all(sim.infections[k].infected_by == node for k in kids)


def test_deterministic_per_seed():
    a, b = simulate(small()), simulate(small())
    assert list(a.events()) == list(b.events())
    other = simulate(small().replace(seed=12))
    assert list(other.events()) != list(a.events())


def test_jsonl_fast_path_decodes_to_the_events():
    sim = simulate(small())
    lines = [orjson.loads(line) for chunk in sim.jsonl_chunks() for line in chunk.splitlines()]
    assert lines == list(sim.events())


def test_wind_pushes_the_fire_downwind():
    def moves(bias: float) -> tuple[int, int]:
        cfg = small(wind_direction_deg=90.0, wind_bias=bias, spread_probability=0.25)
        cfg = cfg.replace(topology=TopologyConfig(regions=20, nodes_per_region=36, grid_cols=6))
        sim = simulate(cfg)
        bearings = [sim.network.bearing_deg(i.infected_by, i.node) for i in sim.infections.values()
                    if not i.is_ignition]
        return sum(1 for b in bearings if 45 < b < 135), sum(1 for b in bearings if 225 < b < 315)

    east, west = moves(0.9)
    assert east > 3 * west
    east, west = moves(0.0)
    assert 0.5 < east / west < 2


def test_blog_11_gives_exactly_the_article_path():
    sim = simulate(SimulationConfig.preset("blog-11"))
    assert sorted(n.id for n in sim.network.nodes) == sorted(str(i) for i in range(1, 12))
    assert sim.truth() == {("blog", ("1", "2", "3", "4", "5"))}
    events = list(sim.events())
    first_step = [e for e in events if e["ts"] < sim.config.start_ms + sim.config.interval_ms]
    assert len(first_step) == 11 and all(e["temperature"] < 50 for e in first_step)
    hot_nodes = {e["node"] for e in events if e["temperature"] >= 50}
    assert hot_nodes == {"1", "2", "3", "4", "5"}
    first_hot = {}
    for e in events:
        if e["temperature"] >= 50:
            first_hot.setdefault(e["node"], (e["ts"], e["infectedBy"]))
    assert [first_hot[n][1] for n in "12345"] == ["1", "1", "2", "3", "4"]
    assert [first_hot[n][0] for n in "12345"] == sorted(first_hot[n][0] for n in "12345")


def test_benchmark_preset_stats():
    cfg = SimulationConfig.benchmark()
    sim = simulate(cfg)
    assert len(sim.network) == 10_000 and cfg.steps == 100 and len(sim.network.regions) == 100
    hot = list(sim.hot_events())
    assert 0.015 < len(hot) / 1_000_000 < 0.025, "about 2 % hot readings"
    paths = find_paths(hot)
    assert 500 <= len(paths) <= 2_000, "a healthy number of distinct 5-node paths in 10 minutes"
    assert len(sim.branch_points) > 100
    assert any(a[1][:2] == b[1][:2] and a[1][2] != b[1][2] for a, b in zip(sorted(paths), sorted(paths)[1:]))


def test_hot_events_are_the_hot_part_of_events():
    sim = simulate(small())
    assert list(sim.hot_events()) == [e for e in sim.events() if e["temperature"] >= 50.0]


def test_truth_of_a_small_run_matches_find_paths_over_events():
    sim = simulate(small())
    assert sim.truth() == find_paths(sim.events())
    assert sim.truth(chain_length=3)


def test_settings_out_of_range_are_refused_with_the_setting_named():
    with pytest.raises(ValueError, match="spread_probability must be between 0 and 1"):
        FireConfig(spread_probability=1.2)
    with pytest.raises(ValueError, match="drop_rate must be between 0 and 1"):
        FaultConfig(drop_rate=-0.1)
    with pytest.raises(ValueError, match="minutes and interval_ms must be at least 1"):
        SimulationConfig(minutes=0)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    kind=st.sampled_from([TopologyKind.GRID, TopologyKind.RANDOM]),
    spread=st.floats(0.05, 0.9),
    burn=st.one_of(st.none(), st.integers(1, 8)),
)
def test_si_invariants_hold_for_any_seed_and_topology(seed, kind, spread, burn):
    cfg = SimulationConfig(
        topology=TopologyConfig(kind=kind, regions=2, nodes_per_region=16),
        fire=FireConfig(ignitions_per_region=1.5, spread_probability=spread, burn_minutes=burn),
        minutes=10,
        seed=seed,
    )
    sim = simulate(cfg)
    first_by: dict[str, str] = {}
    counts: dict[str, int] = {}
    for e in sim.events():
        counts[e["node"]] = counts.get(e["node"], 0) + 1
        by = e["infectedBy"]
        if by is not None:
            assert first_by.setdefault(e["node"], by) == by
        elif e["node"] in first_by:
            raise AssertionError("a node went back to infectedBy null")
    assert set(counts.values()) == {10} and len(counts) == 32
    for node, by in first_by.items():
        assert by == node or by in sim.network.neighbours[node]
    assert sim.truth(chain_length=2) == find_paths(sim.events(), chain_length=2)
