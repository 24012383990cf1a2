"""Errors raised by the cep engine: one small hierarchy, so callers can catch `CepError`."""

from __future__ import annotations

from typing import Optional

__all__ = ["BufferStateError", "CepError", "ConditionError", "MalformedPatternError", "StateLimitError"]


class CepError(Exception):
    """Base class of every error the cep engine raises on purpose."""


class MalformedPatternError(CepError, ValueError):
    """A pattern that Flink CEP would reject; the message says what to change."""


class ConditionError(CepError):
    """A user condition (or `dedupe_runs` key) raised on an event; the matcher state is unchanged."""


class BufferStateError(CepError):
    """A snapshot that cannot be restored (corrupt, or taken with a different pattern)."""


class StateLimitError(CepError):
    """A per-key state cap (`max_partial_matches`, buffered events) was exceeded under `on_overflow="fail"`.

    `limit` is the cap, `count` what there would have been; `matches` holds the matches the
    offending event completed (they are not lost: the caller decides what to do with them).
    """

    def __init__(self, message: str, limit: int, count: int, matches: Optional[list] = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.count = count
        self.matches = matches if matches is not None else []
