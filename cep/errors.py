"""Errors raised by the cep engine: one small hierarchy, so callers can catch `CepError`."""

from __future__ import annotations

__all__ = ["BufferStateError", "CepError", "ConditionError", "MalformedPatternError"]


class CepError(Exception):
    """Base class of every error the cep engine raises on purpose."""


class MalformedPatternError(CepError, ValueError):
    """A pattern that Flink CEP would reject; the message says what to change."""


class ConditionError(CepError):
    """A user condition (or `dedupe_runs` key) raised on an event; the matcher state is unchanged."""


class BufferStateError(CepError):
    """A snapshot that cannot be restored (corrupt, or taken with a different pattern)."""
