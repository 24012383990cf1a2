"""The one place boto3 clients are built, so retries, region and credential checks are the same everywhere.

Follows the Powertools convention: callers may pass a ready `boto3_client`, a `boto3_session`, or a
botocore `config`; otherwise a default session is used. Every client starts from `retry_config`
(botocore's ``standard`` mode, ``adaptive`` for control planes that throttle hard); a caller with a
reason to differ passes a `config` that is merged over it (the job's SNS publisher: fewer attempts and
short timeouts, so a hung endpoint cannot stall the alert operator). Missing credentials or region
become an `AwsSetupError` that says how to provide them, before any API call is attempted.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

__all__ = ["ADAPTIVE_SERVICES", "DEFAULT_TOTAL_MAX_ATTEMPTS", "AwsSetupError", "build_client", "retry_config"]

#: Attempts per API call, the first one included, before botocore gives up.
DEFAULT_TOTAL_MAX_ATTEMPTS = 8
#: Services whose control-plane APIs throttle hard; adaptive mode adds client-side rate limiting.
ADAPTIVE_SERVICES = frozenset({"emr", "cloudformation"})
#: How to give a region, for the error message; command lines add their own flag in front.
SET_REGION = "set AWS_REGION (or a region in your AWS profile)"


class AwsSetupError(ValueError):
    """No region or no credentials for an AWS client; the message says how to provide them."""


def retry_config(service: str, total_max_attempts: int = DEFAULT_TOTAL_MAX_ATTEMPTS) -> Config:
    """botocore retry settings: standard mode (backoff with jitter), adaptive for throttled control planes."""
    mode = "adaptive" if service in ADAPTIVE_SERVICES else "standard"
    return Config(retries={"mode": mode, "total_max_attempts": total_max_attempts})


def build_client(
    service: str,
    *,
    boto3_client: Any = None,
    boto3_session: boto3.session.Session | None = None,
    config: Config | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    how_to_set_region: str = SET_REGION,
) -> Any:
    """Return a boto3 client for `service`, reusing `boto3_client` when one is given.

    Parameters
    ----------
    service
        boto3 service name, e.g. ``"kinesis"``.
    boto3_client
        A ready client; returned unchanged (tests and callers that manage their own clients).
    boto3_session
        Session to build the client from (profile, credentials, region); default session when None.
    config
        botocore config merged over `retry_config(service)`.
    region
        Region name; falls back to the session's (AWS_REGION, AWS_DEFAULT_REGION, profile).
    endpoint_url
        Alternative endpoint (an emulator such as moto_server); botocore also honours AWS_ENDPOINT_URL.
    how_to_set_region
        The advice in the missing-region error (a command line names its flag).

    Raises
    ------
    AwsSetupError
        When no region or no credentials can be found.
    """
    if boto3_client is not None:
        return boto3_client
    session = boto3_session or boto3.session.Session()
    region_name = region or session.region_name
    if not region_name:
        raise AwsSetupError(f"No AWS region for {service}: {how_to_set_region}.")
    if session.get_credentials() is None:
        raise AwsSetupError(
            "No AWS credentials found: run `aws configure` or `aws sso login`, set AWS_PROFILE, or export "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
        )
    merged = retry_config(service).merge(config) if config is not None else retry_config(service)
    return session.client(service, region_name=region_name, endpoint_url=endpoint_url, config=merged)
