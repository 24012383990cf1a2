"""AWS clients for the deploy tooling: `common.aws.build_client`, with setup problems as `DeployError`."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from common.aws import AwsSetupError, build_client
from infra.errors import DeployError


def make_client(
    service: str,
    *,
    boto3_client: Any = None,
    boto3_session: boto3.session.Session | None = None,
    config: Config | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Any:
    """A client built by `common.aws.build_client` (see there); a missing region or credentials
    become a `DeployError`, which the deploy CLI reports with its fix."""
    try:
        return build_client(
            service,
            boto3_client=boto3_client,
            boto3_session=boto3_session,
            config=config,
            region=region,
            endpoint_url=endpoint_url,
            how_to_set_region="pass --region, or set AWS_REGION (or a region in your AWS profile)",
        )
    except AwsSetupError as exc:
        raise DeployError(str(exc)) from exc
