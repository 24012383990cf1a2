"""Errors of the deploy tooling. Each message says what to change, not only what failed."""

from __future__ import annotations


class DeployError(Exception):
    """A deployment step failed; the message names the fix (credentials, region, a parameter...)."""
