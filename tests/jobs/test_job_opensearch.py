"""End to end with OpenSearch (the HTTP fake): every valid reading indexed once, failures dead-lettered."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import FaultConfig, SimulationConfig, simulate
from tests.jobs.jobrun import run_job, write_jsonl
from tests.jobs.watched import watched_job
from tests.support.flink_rest import total, wait_until
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


def test_documents_buffered_at_a_checkpoint_survive_a_failure(tmp_path: Path) -> None:
    """The writer holds documents in keyed state until its bulk interval (30 s) is up. A checkpoint
    completes with the first file's documents in that state and the source past their lines; then the
    job fails (after its first alert) and restarts from that checkpoint. The documents still arrive."""
    sim = simulate(SimulationConfig.preset("blog-11"))
    readings = list(sim.valid_delivered())
    last_link = min(r["ts"] for r in readings if r["node"] == "5" and r["temperature"] >= 50)
    before = [r for r in readings if r["ts"] < last_link - 61_000]  # no alert yet, and nothing late after
    after = [r for r in readings if r["ts"] >= last_link - 61_000]
    ckpt = tmp_path / "ckpt"
    durable = ("--checkpoint-interval", "200ms", "--checkpoint-dir", str(ckpt), "--crash-after-alerts", "1")
    with OpenSearchFake() as fake, watched_job(
        tmp_path, "--opensearch-url", fake.url, "--bulk-size", "10000", "--bulk-interval", "30s", *durable
    ) as job:

        def checkpoints() -> dict[str, int]:
            return job.rest.checkpoint_counts(job.job_id)

        job.drop(before, "part-1.jsonl")
        def readings_in() -> float:
            # the raw-event path's own check step (the CEP step counts its hot readings apart)
            return total(job.metrics("bushfire.readings"), "check-readings.bushfire.readings")

        assert wait_until(readings_in, lambda n: n == len(before), 60) == len(before), job.tail()
        completed = checkpoints()["completed"]
        counts = wait_until(checkpoints, lambda c: c["completed"] >= completed + 2, 60)  # one began after
        assert counts["completed"] >= completed + 2, job.tail()
        assert not fake.documents("sensor-readings*")  # all still buffered in state
        job.drop(after, "part-2.jsonl")
        all_ids = {r["event_id"] for r in readings}

        def indexed() -> set[str]:
            return {doc_id for (_index, doc_id) in fake.documents("sensor-readings*")}

        got = wait_until(indexed, lambda ids: ids == all_ids, 90)
        restored = checkpoints()["restored"]
    assert (ckpt / "crash-injected").exists() and restored >= 1, job.tail()  # it failed and restored
    assert got == all_ids
