"""JSON Lines into one file, or into rolling files in a directory that a reader can watch."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from simulator.events import Record
from simulator.sinks.base import Sink, jsonl


class JsonlFileSink(Sink):
    """All records into one JSON Lines file (truncated first)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, records: Sequence[Record]) -> None:
        self.write_jsonl(jsonl(records), len(records))

    def write_jsonl(self, chunk: bytes, count: int) -> None:
        self._file.write(chunk)
        self.stats.records += count
        self.stats.bytes += len(chunk)
        self.stats.calls += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class RollingDirectorySink(Sink):
    """JSON Lines files `events-000001.jsonl`, `events-000002.jsonl`, ... in `directory`.

    A file is written under a hidden temporary name (`.events-000001.jsonl.inprogress`; Flink's
    file source skips names starting with `.` or `_`) and renamed into place when complete, with
    `os.replace` on the same filesystem, so a watching reader never sees half a file. A file is
    completed after exactly `records_per_file` records, or when a write finds it `roll_interval_s`
    seconds old.
    """

    def __init__(
        self,
        directory: str | Path,
        records_per_file: int = 100_000,
        roll_interval_s: float | None = 5.0,
        prefix: str = "events",
    ) -> None:
        super().__init__()
        if records_per_file < 1:
            raise ValueError("records_per_file must be at least 1")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.records_per_file = records_per_file
        self.roll_interval_s = roll_interval_s
        self.prefix = prefix
        self.completed: list[Path] = []
        self._seq = 0
        self._file = None
        self._tmp: Path | None = None
        self._count = 0
        self._opened_at = 0.0

    def _open(self) -> None:
        self._seq += 1
        self._tmp = self.directory / f".{self._final_name(self._seq)}.inprogress"
        self._file = open(self._tmp, "wb")  # noqa: SIM115 - closed in _complete()
        self._count = 0
        self._opened_at = time.monotonic()

    def _final_name(self, seq: int) -> str:
        return f"{self.prefix}-{seq:06d}.jsonl"

    def _complete(self) -> None:
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self.directory / self._final_name(self._seq)
        os.replace(self._tmp, final)
        self.completed.append(final)
        self._file = None

    def write(self, records: Sequence[Record]) -> None:
        start = 0
        while start < len(records):
            if self._file is None:
                self._open()
            room = self.records_per_file - self._count
            part = records[start:start + room]
            self._write_chunk(jsonl(part), len(part))
            start += len(part)

    def write_jsonl(self, chunk: bytes, count: int) -> None:
        if self._file is None:
            self._open()
        room = self.records_per_file - self._count
        if count <= room:
            self._write_chunk(chunk, count)
            return
        lines = chunk.splitlines(keepends=True)  # split only when a file boundary falls inside
        start = 0
        while start < len(lines):
            if self._file is None:
                self._open()
            room = self.records_per_file - self._count
            part = lines[start:start + room]
            self._write_chunk(b"".join(part), len(part))
            start += len(part)

    def _write_chunk(self, chunk: bytes, count: int) -> None:
        self._file.write(chunk)
        self._count += count
        self.stats.records += count
        self.stats.bytes += len(chunk)
        self.stats.calls += 1
        too_old = (self.roll_interval_s is not None
                   and time.monotonic() - self._opened_at >= self.roll_interval_s)
        if self._count >= self.records_per_file or too_old:
            self._complete()

    def flush(self) -> None:
        if self._file is not None and self._count:
            self._complete()

    def on_idle(self) -> None:
        """Complete the current file only once it is `roll_interval_s` old (not at every pause)."""
        too_old = (self.roll_interval_s is not None and self._file is not None
                   and time.monotonic() - self._opened_at >= self.roll_interval_s)
        if too_old and self._count:
            self._complete()

    def close(self) -> None:
        self.flush()
        if self._file is not None:  # opened but empty: leave nothing behind
            self._file.close()
            self._tmp.unlink()
            self._file = None
