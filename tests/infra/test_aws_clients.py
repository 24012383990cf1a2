"""`make_client`: retry settings, and errors that say how to provide credentials or a region."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from infra.aws import make_client
from infra.cli import main
from infra.errors import DeployError


@pytest.fixture()
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An environment with no AWS credentials or region anywhere (env, files, instance metadata)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_REGION", "AWS_REGION"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)


def test_clients_retry_in_standard_or_adaptive_mode() -> None:
    s3 = make_client("s3", region="us-east-1")
    emr = make_client("emr", region="us-east-1")
    assert s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 8}
    assert emr.meta.config.retries["mode"] == "adaptive"


def test_a_given_client_is_used_as_is() -> None:
    client = boto3.client("sns", region_name="us-east-1")
    assert make_client("sns", boto3_client=client) is client


@pytest.mark.usefixtures("no_aws_config")
def test_missing_region_says_how_to_set_one() -> None:
    with pytest.raises(DeployError, match="--region.*AWS_REGION"):
        make_client("cloudformation")


@pytest.mark.usefixtures("no_aws_config")
def test_missing_credentials_say_how_to_provide_them(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(DeployError, match="aws configure"):
        make_client("cloudformation", region="us-east-1")
    assert main(["status", "--region", "us-east-1"]) == 2
    assert "No AWS credentials found" in capsys.readouterr().err
