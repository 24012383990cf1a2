"""What the simulator, the job and the deploy tooling share: the reading schema, the AWS client builder
and the declaration of command-line options (`common.options`).

This package is the bottom layer: it imports nothing of ours, so `jobs` and `infra` can depend on it
without pulling in the simulator (and the EMR package ships it instead of the simulator).
"""

from __future__ import annotations

from typing import Any

from common.readings import FIELDS, Field, Kind, Presence, is_valid_reading, reading_problem

#: Names of `common.aws`, imported on first use: it imports boto3, about a second of start-up that
#: every ``import common.<module>`` (the job's options, read before its JVM starts) would pay.
_AWS_NAMES = ("AwsSetupError", "build_client", "retry_config")


def __getattr__(name: str) -> Any:
    if name in _AWS_NAMES:
        from common import aws

        return getattr(aws, name)
    raise AttributeError(f"module 'common' has no attribute {name!r}")

__all__ = [
    "FIELDS",
    "AwsSetupError",
    "Field",
    "Kind",
    "Presence",
    "build_client",
    "is_valid_reading",
    "reading_problem",
    "retry_config",
]
