"""Building boto3 clients the house way: passed in, or built from a session/config/endpoint."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

DEFAULT_MAX_ATTEMPTS = 8


def build_client(
    service: str,
    boto3_client: Any = None,
    boto3_session: boto3.session.Session | None = None,
    config: Config | None = None,
    endpoint_url: str | None = None,
    retry_mode: str = "standard",
) -> Any:
    """Return `boto3_client` if given, else a client from `boto3_session` (or a new session).

    botocore's retry mode (standard: exponential backoff with jitter on throttling and 5xx) is the
    base config; a `config` passed in overrides it. `endpoint_url` points at an emulator.
    """
    if boto3_client is not None:
        return boto3_client
    base = Config(retries={"mode": retry_mode, "max_attempts": DEFAULT_MAX_ATTEMPTS})
    merged = base.merge(config) if config is not None else base
    session = boto3_session or boto3.session.Session()
    return session.client(service, config=merged, endpoint_url=endpoint_url)
