"""End to end with SNS: the job publishes each alert to a topic on moto_server; an SQS queue receives it."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from simulator import SimulationConfig, simulate
from tests.jobs.jobrun import run_job, write_jsonl

pytestmark = pytest.mark.pyflink


def test_each_alert_reaches_an_sqs_queue_subscribed_to_the_topic(tmp_path: Path, moto_endpoint: str) -> None:
    sns = boto3.client("sns", endpoint_url=moto_endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    topic = sns.create_topic(Name="job-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="job-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )

    sim = simulate(SimulationConfig.preset("blog-11"))
    out = run_job(
        write_jsonl(sim.delivered(), tmp_path / "in.jsonl"),
        tmp_path,
        "--sns-topic-arn",
        topic,
        "--sns-endpoint",
        moto_endpoint,
    )
    assert out.paths() == [("blog", ("1", "2", "3", "4", "5"))]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)["Messages"]
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert body["alert_id"] == out.alerts[0]["alert_id"] and body["path"] == ["1", "2", "3", "4", "5"]
    assert not any(d["reason"] == "alert-delivery" for d in out.dead_letters)


def test_an_alert_sns_refuses_goes_to_the_dead_letters(tmp_path: Path, moto_endpoint: str) -> None:
    missing_topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    sim = simulate(SimulationConfig.preset("blog-11"))
    out = run_job(
        write_jsonl(sim.delivered(), tmp_path / "in.jsonl"),
        tmp_path,
        "--sns-topic-arn",
        missing_topic,
        "--sns-endpoint",
        moto_endpoint,
    )
    assert out.paths() == [("blog", ("1", "2", "3", "4", "5"))]  # still written to the file
    failed = [d for d in out.dead_letters if d["reason"] == "alert-delivery"]
    assert len(failed) == 1 and json.loads(failed[0]["raw"])["path"] == ["1", "2", "3", "4", "5"]
