"""RawEventIndexer and make_client through real opensearch-py HTTP against the OpenSearch fake."""

from __future__ import annotations

import base64

import boto3
import pytest

from jobs.bushfire.opensearch_sink import RawEventIndexer, make_client
from tests.jobs.sinks.opensearch_roundtrip import reading, run_round_trip
from tests.support.opensearch_fake import OpenSearchFake
from tests.support.servers import free_port

FAST = {"initial_backoff_s": 0.01, "max_backoff_s": 0.05}


def stored_ids(fake: OpenSearchFake) -> set[str]:
    return {doc_id for _, doc_id in fake.documents()}


def test_round_trip(opensearch_fake):
    run_round_trip(make_client(opensearch_fake.url), "sensor-readings")


def test_template_types_every_reading_field(opensearch_fake):
    client = make_client(opensearch_fake.url)
    RawEventIndexer(client).ensure_template()

    stored = client.indices.get_index_template(name="sensor-readings")["index_templates"][0]["index_template"]
    assert stored["index_patterns"] == ["sensor-readings-*"]
    assert stored["template"]["mappings"]["properties"] == {
        "event_id": {"type": "keyword"},
        "node": {"type": "keyword"},
        "region": {"type": "keyword"},
        "infectedBy": {"type": "keyword"},
        "ts": {"type": "date", "format": "epoch_millis"},
        "temperature": {"type": "float"},
        "battery": {"type": "float"},
        "lat": {"type": "float"},
        "lon": {"type": "float"},
        "location": {"type": "geo_point"},
    }


def test_fixed_index_mode_uses_one_index_and_an_exact_pattern(opensearch_fake):
    indexer = RawEventIndexer(make_client(opensearch_fake.url), "readings", daily_indices=False)
    indexer.ensure_template()

    result = indexer.index([reading(1), reading(2, ts=reading(2)["ts"] + 86_400_000 * 3)])

    assert result.ok
    assert {index for index, _ in opensearch_fake.documents()} == {"readings"}
    assert indexer.template_body()["index_patterns"] == ["readings"]


def test_daily_indices_follow_the_utc_day_of_ts(opensearch_fake):
    indexer = RawEventIndexer(make_client(opensearch_fake.url))
    next_day = reading(2, ts=1_790_035_200_000)  # 2026-09-22T00:00:00Z exactly

    assert indexer.index([reading(1), next_day]).ok

    assert {index for index, _ in opensearch_fake.documents()} == {
        "sensor-readings-2026.09.21",
        "sensor-readings-2026.09.22",
    }


def test_same_event_twice_is_one_document(opensearch_fake):
    indexer = RawEventIndexer(make_client(opensearch_fake.url))
    event = reading(7)

    first = indexer.index([event])
    second = indexer.index([event, dict(event)])

    assert first.indexed == (event["event_id"],) and second.ok
    assert list(opensearch_fake.documents().values()) == [indexer.to_document(event)]


def test_batches_by_count_and_by_bytes(opensearch_fake):
    client = make_client(opensearch_fake.url)
    events = [reading(n) for n in range(35)]

    by_count = RawEventIndexer(client, chunk_size=10).index(events)
    calls_by_count = opensearch_fake.bulk_calls
    by_bytes = RawEventIndexer(client, "other", max_chunk_bytes=1500).index(events)

    assert by_count.ok and by_bytes.ok
    assert calls_by_count == 4
    one_doc_bytes = len(client.transport.serializer.dumps(RawEventIndexer.to_document(events[0])))
    assert opensearch_fake.bulk_calls - calls_by_count >= 35 * one_doc_bytes // 1500
    assert (
        len(opensearch_fake.documents("other-*")) == len(opensearch_fake.documents("sensor-readings-*")) == 35
    )


@pytest.mark.parametrize(
    ("fault", "count"),
    [
        ("429", 3),  # whole request rejected: streaming_bulk backs off and re-sends
        ("503", 2),  # transport re-sends at once (retry_on_status)
        ("503", 9),  # longer than the transport's retries: our 5xx rounds with backoff
        ("items-429", 2),  # every item rejected inside a 200 answer
    ],
)
def test_transient_failures_are_retried_until_every_document_is_in(opensearch_fake, fault, count):
    if fault == "items-429":
        opensearch_fake.reject_items_next_bulk(count)
    else:
        opensearch_fake.fail_next_bulk(count, status=int(fault))
    events = [reading(n) for n in range(25)]

    result = RawEventIndexer(make_client(opensearch_fake.url), **FAST).index(events)

    assert result.ok, result.failed
    assert stored_ids(opensearch_fake) == {e["event_id"] for e in events}
    assert opensearch_fake.bulk_calls == count + 1


def test_a_mapping_error_fails_that_document_only_and_is_not_retried(opensearch_fake):
    events = [reading(n) for n in range(10)]
    opensearch_fake.mapping_error_ids.add(events[4]["event_id"])
    events[6]["location_hint"] = "ignored by the template"  # unmapped fields are fine
    off_the_globe = reading(50, lat=123.0)  # geo_point latitude out of range

    indexer = RawEventIndexer(make_client(opensearch_fake.url), **FAST)
    indexer.ensure_template()

    result = indexer.index([*events, off_the_globe])

    assert {f.event_id: (f.status, f.error_type) for f in result.failed} == {
        events[4]["event_id"]: (400, "mapper_parsing_exception"),
        off_the_globe["event_id"]: (400, "mapper_parsing_exception"),
    }
    assert stored_ids(opensearch_fake) == {e["event_id"] for i, e in enumerate(events) if i != 4}
    assert opensearch_fake.bulk_calls == 1


def test_a_lasting_outage_comes_back_as_failures_not_an_exception(opensearch_fake):
    opensearch_fake.fail_next_bulk(1000, status=503)
    events = [reading(n) for n in range(3)]

    result = RawEventIndexer(make_client(opensearch_fake.url), server_error_rounds=2, **FAST).index(events)

    assert [f.event_id for f in result.failed] == [e["event_id"] for e in events]
    assert {f.status for f in result.failed} == {503}
    assert all("503" in f.reason for f in result.failed)
    assert opensearch_fake.bulk_calls == 3 * 4  # 3 rounds, each 1 + 3 transport retries


def test_an_unreachable_cluster_comes_back_as_failures(opensearch_fake):
    client = make_client(f"http://127.0.0.1:{free_port()}", max_retries=0, timeout_s=2)

    result = RawEventIndexer(client, server_error_rounds=1, **FAST).index([reading(1)])

    assert [(f.event_id, f.status, f.error_type) for f in result.failed] == [
        (reading(1)["event_id"], None, "ConnectionError")
    ]


def test_readings_that_cannot_be_indexed_are_failures_with_the_reading(opensearch_fake):
    no_id = reading(1)
    del no_id["event_id"]
    bad_ts = reading(2, ts="yesterday")
    unserialisable = reading(3, battery=object())

    result = RawEventIndexer(make_client(opensearch_fake.url)).index(
        [no_id, bad_ts, unserialisable, reading(4)]
    )

    assert result.indexed == (reading(4)["event_id"],)
    assert [f.error_type for f in result.failed] == ["invalid_document"] * 3
    assert [f.document for f in result.failed] == [no_id, bad_ts, unserialisable]


def test_basic_auth_sends_the_authorization_header(opensearch_fake):
    client = make_client(opensearch_fake.url, auth="basic", username="admin", password="s3cret")

    RawEventIndexer(client).index([reading(1)])

    expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert opensearch_fake.requests and all(
        r.headers.get("authorization") == expected for r in opensearch_fake.requests
    )


@pytest.mark.parametrize("service", ["es", "aoss"])
def test_sigv4_signs_every_request(opensearch_fake, service):
    session = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1"
    )
    client = make_client(
        opensearch_fake.url, auth="sigv4", region="ap-southeast-2", service=service, boto3_session=session
    )
    indexer = RawEventIndexer(client)

    indexer.ensure_template()
    assert indexer.index([reading(1)]).ok

    assert len(opensearch_fake.requests) == 2
    for request in opensearch_fake.requests:
        authorization = request.headers["authorization"]
        assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert f"/ap-southeast-2/{service}/aws4_request" in authorization
        assert "Signature=" in authorization
        assert request.headers["x-amz-date"]


def test_make_client_says_what_is_missing():
    with pytest.raises(ValueError, match="username and password"):
        make_client("http://127.0.0.1:9", auth="basic", username="admin")
    with pytest.raises(ValueError, match="auth must be one of"):
        make_client("http://127.0.0.1:9", auth="kerberos")
    with pytest.raises(ValueError, match="service must be one of"):
        make_client("http://127.0.0.1:9", auth="sigv4", region="us-east-1", service="s3")
