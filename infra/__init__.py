"""Emberwatch's AWS deployment: CloudFormation, EMR bootstrap and steps, dashboards, deploy CLI."""

from __future__ import annotations

from infra.aws import make_client
from infra.errors import DeployError

__all__ = ["DeployError", "make_client"]
