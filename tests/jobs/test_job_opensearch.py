"""End to end with OpenSearch (the HTTP fake): every valid reading indexed once, failures dead-lettered."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import FaultConfig, SimulationConfig, simulate
from tests.jobs.jobrun import run_job, write_jsonl
from tests.support.opensearch_fake import OpenSearchFake

pytestmark = pytest.mark.pyflink


def test_raw_readings_are_indexed_by_event_id_and_alerts_still_match_the_truth(tmp_path: Path) -> None:
    cfg = SimulationConfig.preset("blog-11").replace(
        faults=FaultConfig(duplicate_rate=0.2, malformed_rate=0.05)
    )
    sim = simulate(cfg)
    valid_ids = {r["event_id"] for r in sim.valid_delivered()}
    refused = sorted(valid_ids)[0]
    with OpenSearchFake() as fake:
        fake.mapping_error_ids.add(refused)
        out = run_job(
            write_jsonl(sim.delivered(), tmp_path / "in.jsonl"),
            tmp_path,
            "--opensearch-url",
            fake.url,
            "--bulk-size",
            "20",
            "--bulk-interval",
            "200ms",
        )
        indexed = {doc_id for (_index, doc_id) in fake.documents("sensor-readings*")}
    assert indexed == valid_ids - {refused}  # each valid reading once (ids are event ids), none lost
    failed = [d for d in out.dead_letters if d["reason"] == "index-failure"]
    assert len(failed) == 1 and refused in failed[0]["raw"]
    assert set(out.paths()) == sim.truth() and len(out.paths()) == len(sim.truth())
