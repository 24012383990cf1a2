"""The soak benchmark's producer (`bench/soak_stream.py`): the files it writes are exactly the simulated
delivery, the truth it computes is the simulator's for exactly those lines, and it runs ahead of the
feed by no more than its lead."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_stream import (
    batch_name,
    benchmark_ignitions_per_region_hour,
    delivered_lines,
    produce,
    soak_config,
    start_producer,
)

from simulator import SimulationConfig, decode_line, simulate


class Taken:
    """Stands in for the feeder's shared counter: everything taken, so the producer never waits."""

    value = 10**9


def small_config() -> SimulationConfig:
    # 600 readings/s at 10x: 36 regions; 3 feed minutes = 30 event-minutes; 4x the fires, so paths exist.
    return soak_config(rate=600, minutes=3, speedup=10, seed=3, fire_scale=4)


def test_the_network_matches_the_feed_rate_and_the_benchmarks_fire_density():
    cfg = soak_config(rate=20_000, minutes=10, speedup=10, seed=17)
    readings_per_wall_second = cfg.topology.regions * cfg.topology.nodes_per_region * 10 / 60
    assert readings_per_wall_second == 20_000
    assert cfg.minutes == 100
    per_region_hour = cfg.fire.ignitions_per_region / (cfg.minutes / 60)
    assert per_region_hour == pytest.approx(benchmark_ignitions_per_region_hour())
    assert benchmark_ignitions_per_region_hour() == pytest.approx(0.35 / 1.5)
    assert cfg.faults.any and cfg.fire.ignition_horizon == 1.0  # fires start until the end


def test_the_files_are_the_delivery_and_the_truth_is_the_simulators(tmp_path: Path):
    cfg = small_config()
    produce(cfg, tmp_path, per_batch=1_000, lead_batches=2, taken=Taken())
    meta = json.loads((tmp_path / "meta.json").read_text())
    files = [tmp_path / batch_name(i) for i in range(1, meta["batches"] + 1)]
    sizes = [len(f.read_bytes().splitlines()) for f in files]
    assert set(sizes[:-1]) == {1_000} and 0 < sizes[-1] <= 1_000
    assert not (tmp_path / batch_name(meta["batches"] + 1)).exists()

    fed = b"".join(f.read_bytes() for f in files)
    assert fed == b"".join(line for line, _bad, _hot in delivered_lines(cfg))
    records = [decode_line(line) for line in fed.splitlines()]
    assert meta["lines"] == len(records) == sum(sizes)
    assert meta["malformed_lines"] == sum(isinstance(r, bytes) for r in records) > 0
    assert meta["hot_lines"] == sum(isinstance(r, dict) and r["temperature"] >= 50.0 for r in records) > 0

    truth = {(p["region"], tuple(p["path"])) for p in json.loads((tmp_path / "truth.json").read_text())}
    assert truth == simulate(cfg).truth()
    assert meta["paths"] == len(truth) > 0
    assert json.loads((tmp_path / "produced.json").read_text())["lines"] == meta["lines"]


@pytest.mark.slow
def test_the_producer_runs_ahead_by_its_lead_and_no_more(tmp_path: Path):
    producer, taken = start_producer(small_config(), tmp_path, per_batch=1_000, lead_batches=3)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / batch_name(3)).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # time to overrun its lead, if it would
        assert sorted(p.name for p in tmp_path.glob("0*.jsonl")) == [batch_name(i) for i in (1, 2, 3)]
        taken.value = 2  # the feeder took two files: two more may come
        while not (tmp_path / batch_name(5)).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert (tmp_path / batch_name(5)).exists() and not (tmp_path / batch_name(6)).exists()
        taken.value = 10**9
        producer.join(timeout=120)
        assert producer.exitcode == 0 and (tmp_path / "meta.json").exists()
    finally:
        if producer.is_alive():
            producer.terminate()
            producer.join()
