"""`common.aws.build_client`: the one AWS client builder of the simulator, the job and the deploy CLI."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from common.aws import AwsSetupError, build_client
from jobs.bushfire.sns_alerts import build_sns_client
from simulator.sinks.kinesis import KinesisSink

REGION = "ap-southeast-2"


@pytest.fixture()
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS credentials or region anywhere (env, files, instance metadata)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _session() -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name=REGION)


def test_every_client_starts_from_the_same_retry_settings() -> None:
    kinesis = build_client("kinesis", boto3_session=_session())
    assert kinesis.meta.config.retries == {"mode": "standard", "total_max_attempts": 8}
    assert kinesis.meta.region_name == REGION
    assert build_client("cloudformation", boto3_session=_session()).meta.config.retries["mode"] == "adaptive"
    sink = KinesisSink("readings", boto3_session=_session(), endpoint_url="http://127.0.0.1:9")
    assert sink.client.meta.config.retries == kinesis.meta.config.retries
    assert sink.client.meta.endpoint_url == "http://127.0.0.1:9"


def test_a_callers_config_is_merged_over_the_defaults() -> None:
    client = build_client("sqs", boto3_session=_session(), config=Config(read_timeout=3))
    assert client.meta.config.read_timeout == 3
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 8}
    sns = build_sns_client(boto3_session=_session())  # the alert path: fewer attempts, short timeouts
    assert sns.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 5}
    assert (sns.meta.config.connect_timeout, sns.meta.config.read_timeout) == (5, 10)


def test_a_given_client_is_used_as_is() -> None:
    client = _session().client("sns")
    assert build_client("sns", boto3_client=client) is client


@pytest.mark.usefixtures("no_aws_config")
def test_missing_region_or_credentials_say_how_to_provide_them() -> None:
    with pytest.raises(AwsSetupError, match="No AWS region for kinesis: set AWS_REGION"):
        KinesisSink("readings")
    with pytest.raises(AwsSetupError, match="aws configure"):
        build_client("sns", region=REGION)
    assert issubclass(AwsSetupError, ValueError)  # the simulator CLI reports ValueErrors as usage errors
