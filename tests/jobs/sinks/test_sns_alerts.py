"""AlertPublisher against moto_server over real HTTP: SNS topics fanned out to SQS queues (and HTTP)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config

from jobs.bushfire.alert_format import JSON_MARKER, SUBJECT_MAX_CHARS
from jobs.bushfire.sns_alerts import PUBLISH_BATCH_MAX_BYTES, PUBLISH_BATCH_MAX_ENTRIES, AlertPublisher
from tests.jobs.sinks.alerts_data import make_alert

REGION = "us-east-1"


@pytest.fixture()
def sns(moto_endpoint: str) -> Any:
    return boto3.client("sns", region_name=REGION, endpoint_url=moto_endpoint)


@pytest.fixture()
def sqs(moto_endpoint: str) -> Any:
    return boto3.client("sqs", region_name=REGION, endpoint_url=moto_endpoint)


def publisher_for(topic_arn: str, endpoint: str) -> AlertPublisher:
    return AlertPublisher(topic_arn, endpoint_url=endpoint, boto3_session=boto3.Session(region_name=REGION))


def topic_with_queue(sns: Any, sqs: Any, *, raw: bool, fifo: bool = False) -> tuple[str, str]:
    """A new topic with a new queue subscribed to it; returns (topic ARN, queue URL)."""
    name = f"alerts-{uuid.uuid4().hex[:12]}"
    suffix = ".fifo" if fifo else ""
    topic_attrs = {"FifoTopic": "true"} if fifo else {}
    topic_arn = sns.create_topic(Name=name + suffix, Attributes=topic_attrs)["TopicArn"]
    queue_attrs = {"FifoQueue": "true"} if fifo else {}
    queue_url = sqs.create_queue(QueueName=name + suffix, Attributes=queue_attrs)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true" if raw else "false"},
    )
    return topic_arn, queue_url


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message now in the queue (moto delivers synchronously during Publish)."""
    messages: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return messages
        messages += got
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )


def test_envelope_delivery_carries_subject_json_text_and_attributes(sns, sqs, moto_endpoint):
    topic_arn, queue_url = topic_with_queue(sns, sqs, raw=False)
    alert = make_alert(hottest=72.5)
    publisher = publisher_for(topic_arn, moto_endpoint)

    result = publisher.publish(alert)

    assert result.ok, result
    assert result.alert_id == alert["alert_id"]
    [message] = drain(sqs, queue_url)
    envelope = json.loads(message["Body"])
    assert envelope["MessageId"] == result.message_id
    assert envelope["Subject"] == (
        "Bushfire alert [HIGH] region r007: r007-n001 -> r007-n002 -> r007-n003 -> r007-n004 -> r007-n005"
    )
    body = json.loads(envelope["Message"])  # the sqs variant: the alert JSON plus severity/subject/text
    assert {k: body[k] for k in alert} == alert
    assert body["severity"] == "high"
    assert "r007-n001 → r007-n002 → r007-n003 → r007-n004 → r007-n005" in body["text"]
    assert "region r007" in body["text"]
    attributes = {k: v["Value"] for k, v in envelope["MessageAttributes"].items()}
    assert attributes == {
        "region": "r007",
        "severity": "high",
        "path_length": "5",
        "alert_id": alert["alert_id"],
        "max_temperature": "72.5",
    }


def test_raw_delivery_gives_the_alert_json_and_sqs_message_attributes(sns, sqs, moto_endpoint):
    topic_arn, queue_url = topic_with_queue(sns, sqs, raw=True)
    alert = make_alert(region="r042", hottest=95.0)
    publisher = publisher_for(topic_arn, moto_endpoint)

    assert publisher.publish(alert).ok

    [message] = drain(sqs, queue_url)
    body = json.loads(message["Body"])
    assert body["path"] == alert["path"] and body["region"] == "r042" and body["severity"] == "critical"
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["region"] == "r042"
    assert attributes["severity"] == "critical"
    assert message["MessageAttributes"]["path_length"]["DataType"] == "Number"


class _Collector(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.received.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def http_subscriber() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_default_variant_is_readable_text_then_json(sns, moto_endpoint, http_subscriber):
    """HTTP (like e-mail) subscribers get the `default` text: what a person reads in the alert e-mail."""
    url, received = http_subscriber
    topic_arn = sns.create_topic(Name=f"alerts-{uuid.uuid4().hex[:12]}")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=url)
    alert = make_alert()
    publisher = publisher_for(topic_arn, moto_endpoint)

    assert publisher.publish(alert).ok

    [notification] = received
    text, _, json_part = notification["Message"].partition(f"\n\n{JSON_MARKER}\n")
    assert "Potential bushfire in region r007 (severity: warning)." in text
    assert "Fire path (5 sensors): r007-n001 → r007-n002 → r007-n003 → r007-n004 → r007-n005" in text
    assert "First reading: 2026-09-21T14:13:20.000Z" in text
    assert "Last reading:  2026-09-21T14:17:20.000Z" in text
    assert "r007-n005      2026-09-21T14:17:20.000Z      63.5  -33.84000, 151.24000" in text
    assert json.loads(json_part) == alert


def test_fifo_topic_sets_group_and_dedup_ids_and_delivers_a_resent_alert_once(sns, sqs, moto_endpoint):
    topic_arn, queue_url = topic_with_queue(sns, sqs, raw=True, fifo=True)
    publisher = publisher_for(topic_arn, moto_endpoint)
    alert = make_alert(region="r003")
    other = make_alert(region="r003", start_node=20)

    results = [publisher.publish(alert), publisher.publish(alert), publisher.publish(other)]
    results += publisher.publish_batch([other, alert])  # after a restart: re-sent as a batch

    assert all(r.ok for r in results), results
    messages = drain(sqs, queue_url)
    assert [json.loads(m["Body"])["alert_id"] for m in messages] == [alert["alert_id"], other["alert_id"]]
    assert messages[0]["Attributes"]["MessageGroupId"] == "r003"
    assert messages[0]["Attributes"]["MessageDeduplicationId"] == alert["alert_id"]


def test_missing_topic_is_a_failed_result_not_an_exception(moto_endpoint):
    missing = f"arn:aws:sns:{REGION}:123456789012:no-such-topic-{uuid.uuid4().hex[:8]}"
    publisher = publisher_for(missing, moto_endpoint)

    result = publisher.publish(make_alert())

    assert not result.ok
    assert result.error_code == "NotFound"
    assert "not exist" in result.reason.lower()
    assert not result.retryable


def test_malformed_alert_is_a_failed_result(sns, moto_endpoint):
    topic_arn = sns.create_topic(Name=f"alerts-{uuid.uuid4().hex[:12]}")["TopicArn"]
    publisher = publisher_for(topic_arn, moto_endpoint)

    result = publisher.publish({"alert_id": "x", "region": "r1"})  # no path, no times

    assert not result.ok and result.error_code == "MalformedAlert" and "path" in result.reason


def test_publish_batch_chunks_and_reads_per_entry_failures(sns, sqs, moto_endpoint):
    topic_arn, queue_url = topic_with_queue(sns, sqs, raw=True)
    alerts = [make_alert(start_node=10 * i) for i in range(23)]
    too_big = make_alert(start_node=900)
    too_big["readings"] = too_big["readings"] * 80  # > 256 KiB: SNS rejects this entry only
    alerts.insert(7, too_big)
    alerts.insert(15, {"alert_id": "broken"})
    publisher = publisher_for(topic_arn, moto_endpoint)

    results = publisher.publish_batch(alerts)

    assert [r.alert_id for r in results] == [str(a.get("alert_id")) for a in alerts]
    failed = {r.alert_id: r for r in results if not r.ok}
    assert set(failed) == {too_big["alert_id"], "broken"}
    assert failed[too_big["alert_id"]].error_code == "InvalidParameter"
    assert "too long" in failed[too_big["alert_id"]].reason
    assert failed["broken"].error_code == "MalformedAlert"
    delivered = {json.loads(m["Body"])["alert_id"] for m in drain(sqs, queue_url)}
    assert delivered == {r.alert_id for r in results if r.ok}
    assert len(delivered) == 23 > PUBLISH_BATCH_MAX_ENTRIES * 2


def test_subject_stays_within_the_sns_limit_for_long_paths(sns, sqs, moto_endpoint):
    topic_arn, queue_url = topic_with_queue(sns, sqs, raw=False)
    alert = make_alert(region="region-with-a-long-name", nodes=12)
    publisher = publisher_for(topic_arn, moto_endpoint)

    assert publisher.publish(alert).ok

    envelope = json.loads(drain(sqs, queue_url)[0]["Body"])
    assert len(envelope["Subject"]) <= SUBJECT_MAX_CHARS
    assert envelope["Subject"].startswith("Bushfire alert [CRITICAL] region region-with-a-long-name: ")
    assert envelope["Subject"].endswith("...")
    assert " → ".join(alert["path"]) in json.loads(envelope["Message"])["text"]


# -- retries: a tiny SNS endpoint that throttles, to see botocore's retry config at work ------------

_PUBLISH_OK = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId>"
    "</ResponseMetadata></PublishResponse>"
)
_THROTTLED = (
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
    "<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"
)


class _Throttler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server = self.server
        server.calls += 1  # type: ignore[attr-defined]
        throttle = server.calls <= server.throttle_first  # type: ignore[attr-defined]
        body = (_THROTTLED if throttle else _PUBLISH_OK).encode()
        self.send_response(400 if throttle else 200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def throttling_sns() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttler)
    server.calls = 0  # type: ignore[attr-defined]
    server.throttle_first = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("throttle_first", "ok", "calls"), [(2, True, 3), (10, False, 3)])
def test_throttling_is_retried_by_botocore_then_reported(throttling_sns, throttle_first, ok, calls):
    throttling_sns.throttle_first = throttle_first
    endpoint = f"http://127.0.0.1:{throttling_sns.server_address[1]}"
    publisher = AlertPublisher(
        f"arn:aws:sns:{REGION}:123456789012:alerts",
        boto3_session=boto3.Session(region_name=REGION),
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
        endpoint_url=endpoint,
    )

    result = publisher.publish(make_alert())

    assert throttling_sns.calls == calls
    assert result.ok is ok
    if not ok:
        assert result.error_code == "Throttling" and result.retryable and result.reason == "Rate exceeded"


def test_publish_batch_keeps_each_call_under_the_byte_limit(sns, sqs, moto_endpoint):
    topic_arn, queue_url = topic_with_queue(sns, sqs, raw=True)
    alerts = []
    for i in range(12):
        big = make_alert(start_node=10 * i)
        big["readings"] = big["readings"] * 40  # ~40 KiB per message: 6 fit in 256 KiB, not 10
        alerts.append(big)
    publisher = publisher_for(topic_arn, moto_endpoint)
    calls: list[list[dict[str, Any]]] = []
    publisher.client.meta.events.register(
        "provide-client-params.sns.PublishBatch",
        lambda params, **_: calls.append(params["PublishBatchRequestEntries"]),
    )

    results = publisher.publish_batch(alerts)

    assert all(r.ok for r in results)
    assert len(drain(sqs, queue_url)) == 12
    assert len(calls) >= 3
    for entries in calls:
        assert len(entries) <= PUBLISH_BATCH_MAX_ENTRIES
        assert sum(len(e["Message"].encode()) for e in entries) <= PUBLISH_BATCH_MAX_BYTES
