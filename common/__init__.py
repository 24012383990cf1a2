"""What the simulator, the job and the deploy tooling share: the reading schema, the AWS client builder
and the declaration of command-line options (`common.options`).

This package is the bottom layer: it imports nothing of ours, so `jobs` and `infra` can depend on it
without pulling in the simulator (and the EMR package ships it instead of the simulator).
"""

from __future__ import annotations

from common.aws import AwsSetupError, build_client, retry_config
from common.readings import FIELDS, Field, Kind, Presence, is_valid_reading, reading_problem

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
