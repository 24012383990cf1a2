"""The raw-event round trip run against the fake and, when OPENSEARCH_URL is set, a real OpenSearch."""

from __future__ import annotations

from typing import Any

from opensearchpy import OpenSearch

from jobs.bushfire.opensearch_sink import RawEventIndexer

DAY_TS = 1_790_000_000_000  # 2026-09-21T14:13:20Z


def reading(number: int, **overrides: Any) -> dict[str, Any]:
    """A valid reading (docs/simulator.md, "Event schema") for node r001-n<number>."""
    event = {
        "event_id": f"r001-n{number:03d}-{DAY_TS + number}",
        "node": f"r001-n{number:03d}",
        "region": "r001",
        "ts": DAY_TS + number * 1000,
        "temperature": 20.0 + number,
        "infectedBy": None,
        "lat": -33.8 + number * 0.001,
        "lon": 151.2 + number * 0.001,
        "battery": 0.9,
    }
    event.update(overrides)
    return event


def run_round_trip(client: OpenSearch, prefix: str) -> None:
    """Template, bulk with a duplicate and a reading the mapping refuses, then read everything back."""
    indexer = RawEventIndexer(client, prefix, initial_backoff_s=0.05)
    indexer.ensure_template()
    template = client.indices.get_index_template(name=prefix)["index_templates"][0]["index_template"]
    assert template["index_patterns"] == [f"{prefix}-*"]
    properties = template["template"]["mappings"]["properties"]
    assert properties["location"]["type"] == "geo_point"
    assert properties["ts"] == {"type": "date", "format": "epoch_millis"}

    events = [reading(n) for n in range(20)]
    bad = reading(99, temperature="very hot")
    duplicate = dict(events[3])
    result = indexer.index([*events, bad, duplicate])

    assert [f.event_id for f in result.failed] == [bad["event_id"]]
    failure = result.failed[0]
    assert failure.status == 400 and failure.error_type == "mapper_parsing_exception"
    assert "temperature" in failure.reason
    assert failure.document == bad
    assert sorted(result.indexed) == sorted(e["event_id"] for e in events)  # a repeat in one call: sent once
    assert indexer.index([duplicate]).indexed == (duplicate["event_id"],)

    index = f"{prefix}-2026.09.21"
    client.indices.refresh(index=f"{prefix}-*")
    assert client.count(index=f"{prefix}-*")["count"] == len(events)
    stored = client.get(index=index, id=events[3]["event_id"])
    assert stored["_version"] == 2  # indexed again under one id: overwritten
    assert stored["_source"]["location"] == {"lat": events[3]["lat"], "lon": events[3]["lon"]}
    assert stored["_source"]["temperature"] == events[3]["temperature"]
