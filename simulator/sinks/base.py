"""What every sink shares: the `Sink` interface, its counters, and its error type."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.events import Record, decode_line, encode_lines


class SinkError(RuntimeError):
    """A sink could not deliver records; the message says how many and why."""


@dataclass
class SinkStats:
    """Counters a sink keeps while it runs (for the CLI summary and tests)."""

    records: int = 0  # records accepted by the destination
    bytes: int = 0
    retried: int = 0  # record re-sends after a per-record failure
    calls: int = 0  # API calls / file writes


class Sink(abc.ABC):
    """A destination for records (readings as dicts, malformed records as bytes).

    Use as a context manager so buffered records are flushed and files closed.
    """

    def __init__(self) -> None:
        self.stats = SinkStats()

    @abc.abstractmethod
    def write(self, records: Sequence[Record]) -> None:
        """Deliver `records` in order (a sink may buffer; `flush()` forces delivery)."""

    def write_jsonl(self, chunk: bytes, count: int) -> None:
        """Deliver a pre-encoded JSON Lines chunk of `count` records (file sinks override this)."""
        self.write([decode_line(line) for line in chunk.splitlines()])

    def flush(self) -> None:  # noqa: B027 - a no-op by default: unbuffered sinks have nothing to do
        """Deliver anything buffered."""

    def on_idle(self) -> None:
        """The source pauses (paced output): deliver what a reader is waiting for.

        Network sinks send their partial batch; file sinks make written data visible.
        """
        self.flush()

    def close(self) -> None:
        """Flush and release resources."""
        self.flush()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def jsonl(records: Sequence[Record]) -> bytes:
    """Records as one JSON Lines chunk."""
    return b"".join(encode_lines(records))
