"""The one place boto3 clients are built, so retries, region and credential checks are uniform.

Follows the Powertools convention: callers may pass a ready `boto3_client`, a `boto3_session`, or a
botocore `config`; otherwise a default session is used. Missing credentials or region become a
`DeployError` that says how to provide them, before any API call is attempted.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from infra.errors import DeployError

DEFAULT_MAX_ATTEMPTS = 8  # the first call included
# Services whose control-plane APIs throttle hard; adaptive mode adds client-side rate limiting.
ADAPTIVE_SERVICES = frozenset({"emr", "cloudformation"})


def retry_config(service: str, total_max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Config:
    """botocore retry settings: standard mode, adaptive for throttled control planes."""
    mode = "adaptive" if service in ADAPTIVE_SERVICES else "standard"
    return Config(retries={"mode": mode, "total_max_attempts": total_max_attempts})


def make_client(
    service: str,
    *,
    boto3_client: Any = None,
    boto3_session: boto3.session.Session | None = None,
    config: Config | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Any:
    """Return a boto3 client for `service`, reusing `boto3_client` when one is given.

    Parameters
    ----------
    service
        boto3 service name, e.g. ``"cloudformation"``.
    boto3_client
        A ready client; returned unchanged (tests and callers that manage their own clients).
    boto3_session
        Session to build the client from (profile, credentials); default session when None.
    config
        botocore config merged over the retry defaults.
    region
        Region name; falls back to the session's (AWS_REGION, AWS_DEFAULT_REGION, profile).
    endpoint_url
        Alternative endpoint (moto_server, LocalStack); botocore also honours AWS_ENDPOINT_URL.

    Raises
    ------
    DeployError
        When no region or no credentials can be found.
    """
    if boto3_client is not None:
        return boto3_client
    session = boto3_session or boto3.session.Session()
    region_name = region or session.region_name
    if not region_name:
        raise DeployError(
            "No AWS region: pass --region, or set AWS_REGION (or a region in your AWS profile)."
        )
    if session.get_credentials() is None:
        raise DeployError(
            "No AWS credentials found: run `aws configure` or `aws sso login`, set AWS_PROFILE, or export "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
        )
    merged = retry_config(service).merge(config) if config else retry_config(service)
    return session.client(service, region_name=region_name, endpoint_url=endpoint_url, config=merged)
