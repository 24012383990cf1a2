"""The demos' SNS inbox against moto_server over HTTP: what SNS publishes reaches the queue, once."""

from __future__ import annotations

import boto3

from emberwatch_local.inbox import drain, main, subscribe


def test_published_alerts_are_counted_once_and_the_inbox_is_left_empty(moto_endpoint, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    topic = subscribe(moto_endpoint)
    sns = boto3.client("sns", endpoint_url=moto_endpoint)
    for i in range(13):  # more than one receive batch of 10
        sns.publish(TopicArn=topic, Message=f"alert {i}")
    assert drain(moto_endpoint) == 13
    assert drain(moto_endpoint) == 0


def test_the_command_line_refuses_an_unknown_command(capsys) -> None:
    assert main(["publish", "http://127.0.0.1:1"]) == 2
    assert "usage" in capsys.readouterr().err
