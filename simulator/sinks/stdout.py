"""Print records as JSON Lines to a binary stream (stdout by default)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import BinaryIO

from simulator.events import Record
from simulator.sinks.base import Sink, jsonl


class StdoutSink(Sink):
    """JSON Lines to `stream` (default `sys.stdout.buffer`); flushed per write so pipes see it."""

    def __init__(self, stream: BinaryIO | None = None) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stdout.buffer

    def write(self, records: Sequence[Record]) -> None:
        self.write_jsonl(jsonl(records), len(records))

    def write_jsonl(self, chunk: bytes, count: int) -> None:
        self.stream.write(chunk)
        self.stream.flush()
        self.stats.records += count
        self.stats.bytes += len(chunk)
        self.stats.calls += 1
