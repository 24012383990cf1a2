"""The job's metrics, read the way an operator reads them: Flink's REST API of a running job.

`python -m jobs.bushfire` runs as a user would run it, on a watched directory, with `--flink-option`
giving the local mini-cluster a REST port. Known bad input goes in (a malformed line, an invalid
reading, a re-delivered reading, a late reading, a document OpenSearch refuses, an alert SNS refuses);
each counter must show exactly its share while the job runs. Then SIGTERM cancels the job.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from simulator import SimulationConfig, simulate
from tests.jobs.watched import watched_job
from tests.support.flink_rest import total, wait_until
from tests.support.opensearch_fake import OpenSearchFake

pytestmark = pytest.mark.pyflink

def test_every_counter_shows_its_share_of_known_bad_input(tmp_path: Path, moto_endpoint: str) -> None:
    sim = simulate(SimulationConfig.preset("blog-11"))
    readings = list(sim.valid_delivered())
    assert len(readings) == len(list(sim.delivered()))  # the preset has no faults of its own
    hottest = max(readings, key=lambda r: r["temperature"])
    first_file = [
        *readings,
        b'{"event_id": "broken", "node": ',  # malformed
        {**hottest, "event_id": "no-temperature", "temperature": "hot"},  # invalid
        dict(hottest),  # re-delivered: a duplicate
    ]
    late = {**hottest, "event_id": "late-1", "ts": min(r["ts"] for r in readings) - 3_600_000}
    refused = readings[0]["event_id"]
    sns = boto3.client("sns", endpoint_url=moto_endpoint)
    missing_topic = sns.create_topic(Name="metrics")["TopicArn"] + "-gone"
    lines_read = len(first_file) + 1
    hot = sum(r["temperature"] >= 50 for r in readings)
    cep, raw = "bushfire-cep.bushfire.", "check-readings.bushfire."  # the two steps that read rows
    expected = {  # metric id suffix -> value
        # the CEP step: rows the JVM flagged, and hot readings (the duplicate and the late one are hot)
        cep + "rowsIntoPython": 2 + hot + 2,
        cep + "malformed": 1,
        cep + "invalid": 1,
        cep + "duplicates": 1,
        cep + "readings": hot + 1,  # the late reading is valid and new
        # the raw-event path to OpenSearch: every line the JVM read as valid
        raw + "rowsIntoPython": len(readings) + 2,
        raw + "duplicates": 1,
        raw + "readings": len(readings) + 1,
        "bushfire.late": 1,
        "bushfire.alerts": len(sim.truth()),
        "bushfire.earlyAlerts": len(sim.truth()),  # each found when its last reading arrived
        "bushfire.alertFailures": len(sim.truth()),
        "bushfire.alertsDelivered": 0,
        "bushfire.documentsIndexed": len(readings),  # all valid ones, the late one too, minus the refused
        "bushfire.indexFailures": 1,
        "bushfire.deadLetters": 5,  # malformed, invalid, late, the refused alert, the refused document
        "Source__sensor_lines.numRecordsOut": lines_read,  # events in (sources.FILES_STEP)
        "cep.lateEvents": 1,
    }

    def every_match(metrics: dict[str, float]) -> float:
        return total(metrics, "bushfire.alerts") + total(metrics, "bushfire.repeatedMatches")

    with OpenSearchFake() as fake:
        fake.mapping_error_ids.add(refused)
        sinks = ("--opensearch-url", fake.url, "--bulk-size", "20", "--bulk-interval", "200ms",
                 "--sns-topic-arn", missing_topic, "--sns-endpoint", moto_endpoint)
        with watched_job(tmp_path, *sinks) as job:

            def read() -> dict[str, float]:
                return job.metrics("bushfire.", "cep.", "Watermark", "Source__")

            job.drop(first_file, "part-1.jsonl")
            # the late reading goes in once the CEP operator's watermark has passed it
            watermark = "bushfire-cep.currentInputWatermark"
            seen = wait_until(read, lambda m: total(m, watermark) > late["ts"], 90)
            assert total(seen, watermark) > late["ts"], job.tail()
            job.drop([late], "part-2.jsonl")

            def reached(metrics: dict[str, float]) -> bool:
                # each metric is fetched on its own schedule: wait for all of them, not the first few
                counted = all(total(metrics, name) >= want for name, want in expected.items())
                return counted and total(metrics, "cep.matches") >= every_match(metrics)

            metrics = wait_until(read, reached, 90)

    assert {name: total(metrics, name) for name in expected} == expected, job.tail()
    assert total(metrics, "cep.matches") == every_match(metrics) > 0  # each match is alerted or a repeat
    assert job.process.returncode == 0, job.tail()
