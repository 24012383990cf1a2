"""The bushfire job end to end on PyFlink's mini-cluster: alerts equal the simulator's ground truth."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import pytest

from simulator import FaultConfig, FireConfig, SimulationConfig, TopologyConfig, simulate
from tests.jobs.jobrun import run_job, write_jsonl

pytestmark = pytest.mark.pyflink


def _branching(seed: int, faults: Optional[FaultConfig] = None) -> SimulationConfig:
    """Several regions of 6x6 grids, fires that spread fast and branch."""
    return SimulationConfig(
        topology=TopologyConfig(regions=4, nodes_per_region=36, grid_cols=6),
        fire=FireConfig(
            ignitions_per_region=1.0, ignition_horizon=0.5, spread_probability=0.3, burn_minutes=12
        ),
        faults=faults or FaultConfig(),
        minutes=40,
        seed=seed,
    )


def test_blog_11_yields_exactly_the_alert_1_to_5(tmp_path: Path) -> None:
    sim = simulate(SimulationConfig.preset("blog-11"))
    out = run_job(write_jsonl(sim.delivered(), tmp_path / "in.jsonl"), tmp_path)
    assert out.paths() == [("blog", ("1", "2", "3", "4", "5"))]
    alert = out.alerts[0]
    assert [r["node"] for r in alert["readings"]] == ["1", "2", "3", "4", "5"]
    assert alert["first_ts"] < alert["last_ts"] and alert["last_ts"] - alert["first_ts"] < 600_000
    assert out.dead_letters == []


def test_clean_branching_traffic_alerts_exactly_the_truth(tmp_path: Path) -> None:
    sim = simulate(_branching(seed=11))
    truth = sim.truth()
    assert len({region for region, _ in truth}) >= 3 and sim.branch_points  # several regions, branching
    out = run_job(write_jsonl(sim.delivered(), tmp_path / "in.jsonl"), tmp_path)
    assert Counter(out.paths()) == Counter(truth)  # every path once, nothing else
    assert out.dead_letters == []


@pytest.mark.parametrize("parser", ["java", "sql"])
def test_faulty_traffic_gives_no_false_or_repeated_alerts_and_keeps_dead_letters(
    tmp_path: Path, parser: str
) -> None:
    faults = FaultConfig(
        delay_rate=0.05,
        max_delay_ms=20_000,
        drop_rate=0.01,
        duplicate_rate=0.03,
        spike_rate=0.01,
        stuck_rate=0.02,
        malformed_rate=0.01,
    )
    sim = simulate(_branching(seed=5, faults=faults))
    truth = sim.truth()
    assert truth
    flags = ("--out-of-orderness", "30s", "--parser", parser)
    out = run_job(write_jsonl(sim.delivered(), tmp_path / "in.jsonl"), tmp_path, *flags)
    assert Counter(out.paths()) == Counter(truth)
    malformed = sum(isinstance(r, bytes) for r in sim.delivered())
    assert sum(d["reason"] in ("malformed", "invalid") for d in out.dead_letters) == malformed > 0
    assert all(d["raw"] for d in out.dead_letters)


def test_late_readings_go_to_the_dead_letters(tmp_path: Path) -> None:
    # A Python operator holds a watermark back until its current bundle is finished; bundles of one
    # record make "late" exact here (with the default bundles a reading is late only once the
    # watermark has passed it at the CEP operator, a little later than at the source).
    sim = simulate(SimulationConfig.preset("blog-11"))
    events = list(sim.events())
    late = dict(events[-1], event_id="late-one", ts=events[0]["ts"])  # 7 minutes behind the rest
    out = run_job(
        write_jsonl([*events, late], tmp_path / "in.jsonl"),
        tmp_path,
        "--threshold",
        "-100",
        "--chain-length",
        "2",
        flink_conf={"python.fn-execution.bundle.size": "1"},
    )
    assert [d["reason"] for d in out.dead_letters] == ["late"]
    assert '"late-one"' in out.dead_letters[0]["raw"]


def test_a_failure_and_restart_loses_and_repeats_no_alert(tmp_path: Path) -> None:
    sim = simulate(_branching(seed=11))
    truth = sim.truth()
    assert len(truth) > 3
    ckpt = tmp_path / "ckpt"
    out = run_job(
        write_jsonl(sim.delivered(), tmp_path / "in.jsonl"),
        tmp_path,
        "--checkpoint-interval",
        "100ms",
        "--checkpoint-dir",
        str(ckpt),
        "--crash-after-alerts",
        "2",
    )
    assert (ckpt / "crash-injected").exists()  # the job really failed once and recovered
    assert Counter(out.paths()) == Counter(truth)


def test_kinesis_without_the_connector_jar_says_which_jar_to_add() -> None:
    from jobs.bushfire.config import load_config
    from jobs.bushfire.errors import ConfigError
    from jobs.bushfire.parsing import JvmParser
    from jobs.bushfire.pipeline import build
    from tests.support.flink import local_env

    cfg = load_config(["--source", "kinesis", "--kinesis-stream", "readings"], env={})
    with pytest.raises(ConfigError, match="--connector-jars"):
        build(local_env(), cfg, JvmParser.SQL)


def test_without_early_alerts_the_same_paths_are_alerted_at_the_watermark(tmp_path: Path) -> None:
    sim = simulate(_branching(seed=11))
    out = run_job(write_jsonl(sim.delivered(), tmp_path / "in.jsonl"), tmp_path, "--no-early-alerts")
    assert Counter(out.paths()) == Counter(sim.truth())
    assert {alert["found"] for alert in out.alerts} == {"watermark"}


def test_early_alerts_say_so_and_how_long_after_their_last_reading(tmp_path: Path) -> None:
    sim = simulate(_branching(seed=11))
    out = run_job(write_jsonl(sim.delivered(), tmp_path / "in.jsonl"), tmp_path)
    assert Counter(out.paths()) == Counter(sim.truth())
    assert {alert["found"] for alert in out.alerts} == {"early"}
    assert all(0 <= alert["delay_ms"] < 60_000 for alert in out.alerts)
