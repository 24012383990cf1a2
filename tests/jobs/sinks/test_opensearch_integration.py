"""The raw-event round trip against a real OpenSearch: a local 2.19 node the session starts, or
the cluster at ``OPENSEARCH_URL``.

Set ``OPENSEARCH_URL`` (e.g. ``http://127.0.0.1:9200`` or an Amazon OpenSearch Service endpoint) and,
if needed, ``OPENSEARCH_AUTH`` (none | basic | sigv4), ``OPENSEARCH_USERNAME``, ``OPENSEARCH_PASSWORD``,
``OPENSEARCH_REGION``, ``OPENSEARCH_SERVICE`` (es | aoss), ``OPENSEARCH_VERIFY_CERTS`` (1 | 0).
The test writes a template and indices named ``emberwatch-it-<random>`` and deletes them afterwards.
"""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from jobs.bushfire.opensearch_sink import RawEventIndexer, make_client
from tests.jobs.sinks.opensearch_roundtrip import reading, run_round_trip

pytestmark = pytest.mark.opensearch


def test_round_trip_against_a_real_opensearch(opensearch_url):
    client = make_client(
        opensearch_url,
        auth=os.environ.get("OPENSEARCH_AUTH", "none"),
        username=os.environ.get("OPENSEARCH_USERNAME"),
        password=os.environ.get("OPENSEARCH_PASSWORD"),
        region=os.environ.get("OPENSEARCH_REGION"),
        service=os.environ.get("OPENSEARCH_SERVICE", "es"),
        verify_certs=os.environ.get("OPENSEARCH_VERIFY_CERTS", "1") != "0",
    )
    prefix = f"emberwatch-it-{uuid.uuid4().hex[:10]}"
    try:
        run_round_trip(client, prefix)
    finally:
        client.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        client.indices.delete_index_template(name=prefix, ignore=[404])


@pytest.fixture()
def real_client(opensearch_url):
    return make_client(opensearch_url)


@pytest.fixture()
def prefix(real_client):
    name = f"emberwatch-it-{uuid.uuid4().hex[:10]}"
    yield name
    real_client.indices.delete(index=f"{name}-*", ignore_unavailable=True)
    real_client.indices.delete_index_template(name=name, ignore=[404])


def test_geo_point_answers_a_distance_query_and_a_replay_keeps_the_count(real_client, prefix):
    indexer = RawEventIndexer(real_client, prefix, initial_backoff_s=0.05)
    indexer.ensure_template()
    events = [reading(n) for n in range(50)]
    assert len(indexer.index(events).indexed) == 50
    # A restored job replays what it sent since its last checkpoint: same ids, so no new documents.
    assert len(indexer.index(events[10:]).indexed) == 40
    real_client.indices.refresh(index=f"{prefix}-*")
    assert real_client.count(index=f"{prefix}-*")["count"] == 50
    here = {"lat": events[0]["lat"], "lon": events[0]["lon"]}
    near = {"geo_distance": {"distance": "200m", "location": here}}
    hits = real_client.search(index=f"{prefix}-*", body={"query": near, "size": 50})["hits"]["hits"]
    assert {h["_id"] for h in hits} == {e["event_id"] for e in events[:2]}  # ~140 m apart per step


def _in_flight_limit(client, limit):
    client.cluster.put_settings(body={"transient": {"network.breaker.inflight_requests.limit": limit}})


def _in_flight_trips(client) -> int:
    nodes = client.nodes.stats(metric="breaker")["nodes"].values()
    return sum(node["breakers"]["in_flight_requests"]["tripped"] for node in nodes)


def test_bulk_requests_the_server_rejects_with_429_are_retried_until_accepted(real_client, prefix):
    """The node's in-flight request breaker is squeezed to 1 byte, so it really answers every bulk
    request with 429 (circuit_breaking_exception); it is relaxed 1.5 s later. The indexer backs off,
    retries, and every document arrives exactly once."""
    indexer = RawEventIndexer(real_client, prefix, initial_backoff_s=0.2, max_backoff_s=1.0, max_retries=8)
    indexer.ensure_template()
    events = [reading(n) for n in range(30)]
    trips_before = _in_flight_trips(real_client)
    _in_flight_limit(real_client, "1b")
    relax = threading.Timer(1.5, _in_flight_limit, (make_client(_url(real_client)), None))
    relax.start()
    try:
        result = indexer.index(events)
    finally:
        relax.join()
        _in_flight_limit(real_client, None)
    assert result.ok and sorted(result.indexed) == sorted(e["event_id"] for e in events)
    assert _in_flight_trips(real_client) > trips_before, "the server really rejected requests"
    real_client.indices.refresh(index=f"{prefix}-*")
    assert real_client.count(index=f"{prefix}-*")["count"] == 30


def _url(client) -> str:
    host = client.transport.hosts[0]
    return f"http://{host['host']}:{host['port']}"
