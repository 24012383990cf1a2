"""Errors of the bushfire job."""

from __future__ import annotations


class JobError(Exception):
    """Base class of every error the bushfire job raises on purpose."""


class ConfigError(JobError):
    """A configuration value cannot be read or cannot work together; the message says what to change."""


class PreflightError(ConfigError):
    """Something the job needs before it starts (a path, an endpoint) is missing or unusable."""
