"""The raw-event round trip against a real OpenSearch, when one is given.

Set ``OPENSEARCH_URL`` (e.g. ``http://127.0.0.1:9200`` or an Amazon OpenSearch Service endpoint) and,
if needed, ``OPENSEARCH_AUTH`` (none | basic | sigv4), ``OPENSEARCH_USERNAME``, ``OPENSEARCH_PASSWORD``,
``OPENSEARCH_REGION``, ``OPENSEARCH_SERVICE`` (es | aoss), ``OPENSEARCH_VERIFY_CERTS`` (1 | 0).
The test writes a template and indices named ``emberwatch-it-<random>`` and deletes them afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest

from jobs.bushfire.opensearch_sink import make_client
from tests.jobs.sinks.opensearch_roundtrip import run_round_trip

OPENSEARCH_URL = os.environ.get("OPENSEARCH_URL")

pytestmark = [
    pytest.mark.opensearch,
    pytest.mark.skipif(
        not OPENSEARCH_URL, reason="OPENSEARCH_URL is not set: no real OpenSearch to test against"
    ),
]


def test_round_trip_against_a_real_opensearch():
    client = make_client(
        OPENSEARCH_URL,
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
