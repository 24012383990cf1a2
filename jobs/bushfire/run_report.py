"""What a run tells its user: a console that shows only what matters, and a summary line at the end.

The summary is read from what the run wrote (the alerts and dead-letter files, from the size they had
when the run started) and, for a bounded file run, from its input (every line was read when the job
ended), so it needs no access to Flink's metrics. It counts each output line once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Optional

from jobs.bushfire.config import BushfireConfig, SourceKind
from jobs.bushfire.input_counts import LINE_REASONS, InputCounts, count_input, scan_input, with_dead_letters

log = logging.getLogger(__name__)


class _NotLibraryWarnings(logging.Filter):
    """Drops Python's warnings about libraries (e.g. setuptools' pkg_resources deprecation in Beam)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "py.warnings"


def configure_logging(log_file: Optional[str], debug: bool) -> None:
    """Our own lines (logger ``jobs``) on the console and in the log file; the libraries' lines in the
    log file, and on the console only when they are errors (every line with `debug`).

    The ``jobs`` logger keeps its own handlers: PyFlink's loopback Python worker replaces the root
    logger's handlers when it starts (its lines then go to the JVM's log), which would silence ours.
    """
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = None
    if log_file:
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
            file_handler.setFormatter(formatter)
        except OSError as exc:
            sys.stderr.write(
                f"warning: cannot write the log file {log_file} ({exc}); library logs are dropped\n"
            )
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    own = logging.getLogger("jobs")
    own.setLevel(logging.DEBUG if debug else logging.INFO)
    own.propagate = False
    own.handlers = [console] + ([file_handler] if file_handler else [])
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    library_console = logging.StreamHandler(sys.stderr)
    library_console.setFormatter(formatter)
    if not debug:
        library_console.setLevel(logging.ERROR)
        library_console.addFilter(_NotLibraryWarnings())
    root.handlers = [library_console] + ([file_handler] if file_handler else [])
    logging.captureWarnings(True)  # warnings become log lines: in the log file, off the console


@dataclass
class _Tail:
    """New lines of an append-only JSONL file since `start` (its size when the run began)."""

    path: Path
    start: int = 0

    @classmethod
    def at_end_of(cls, path: Optional[str]) -> Optional[_Tail]:
        if not path:
            return None
        file = Path(path)
        return cls(file, file.stat().st_size if file.exists() else 0)

    def lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as data:
            data.seek(self.start)
            return [line.decode("utf-8", "replace") for line in data.read().splitlines() if line.strip()]


def _input_files(root: Path) -> list[Path]:
    """The files the job's source reads under `root`, in its order (names, digit runs by value);
    Flink's file source skips hidden names (starting with '.' or '_')."""
    if root.is_file():
        return [root]
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))]
    return sorted(files, key=_name_order)


def _name_order(path: Path) -> list:
    """A sort key comparing runs of digits by value (part-2 before part-10), as OrderedFiles.java."""
    return [int(part) if part.isdigit() else part for part in _DIGIT_RUNS.split(str(path))]


_DIGIT_RUNS = re.compile(r"(\d+)")


@dataclass
class RunReport:
    """Counts what a run wrote: `progress()` while it runs, `summary()` at its end."""

    cfg: BushfireConfig
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.alerts = _Tail.at_end_of(self.cfg.alerts.alerts_out)
        self.dead_letters = _Tail.at_end_of(self.cfg.dead_letters.path)
        self._scan: Optional[Connection] = None  # where the scan's process sends its counts

    def scan_input_meanwhile(self) -> None:
        """For a bounded file run with a dead-letter file: start the input's quick scan
        (`input_counts.scan_input`, about 1 s of CPU per million lines) in a process of its own now,
        while the JVM starts, instead of after the job when the user waits for the summary. Call it
        before other threads start (the process is spawned, not forked, all the same)."""
        if not self._counts_input() or self.dead_letters is None:
            return
        files = _input_files(Path(self.cfg.source.input_path))
        spawn = multiprocessing.get_context("spawn")
        self._scan, send = spawn.Pipe(duplex=False)
        ttl_ms = self.cfg.detection.event_dedupe_ttl_ms
        # a daemon: a run that stops or fails does not wait for the scan when it exits
        spawn.Process(target=_scan_into, args=(send, files, ttl_ms), name="input-scan", daemon=True).start()
        send.close()  # the child holds its end: when it ends without sending, recv() raises EOFError

    def create_outputs(self) -> None:
        """Create the output files now, so a run with nothing to report leaves them empty, not absent."""
        for tail in (self.alerts, self.dead_letters):
            if tail is not None:
                tail.path.parent.mkdir(parents=True, exist_ok=True)
                tail.path.touch()

    def counts(self) -> dict[str, object]:
        reasons: Counter[str] = Counter()
        for line in self.dead_letters.lines() if self.dead_letters else []:
            try:
                reasons[json.loads(line).get("reason", "?")] += 1
            except ValueError:
                reasons["unreadable"] += 1
        alerts = len(self.alerts.lines()) if self.alerts else None
        return {"alerts": alerts, "dead_letters": dict(sorted(reasons.items()))}

    def progress(self) -> str:
        counts = self.counts()
        return f"progress: {self._alerts(counts)}, {self._dead(counts)}, {self._seconds()}"

    def summary(self, how: str) -> str:
        """One line: lines read, readings and duplicates (bounded file runs), dead letters by reason,
        alerts, seconds."""
        counts = self.counts()
        parts = [f"run {how}"]
        finished = how == "finished" and self._counts_input()
        read = self._input_counts(counts["dead_letters"]) if finished else None
        if read is not None:
            parts.append(
                f"{read.lines} lines read, {read.readings} readings, "
                f"{read.duplicates} duplicates (re-delivered event ids, dropped)"
            )
        parts += [self._dead(counts), self._alerts(counts), self._seconds()]
        return "summary: " + ", ".join(parts)

    def _counts_input(self) -> bool:
        return self.cfg.source.bounded and self.cfg.source.kind is not SourceKind.KINESIS

    def _input_counts(self, dead_letters: dict[str, int]) -> InputCounts:
        """What the bounded input held (every line was read once the job finished), in the order the
        source reads its files; `dead_letters`: this run's, by reason (see `input_counts`)."""
        line_level = None  # not known without a dead-letter file
        if self.dead_letters is not None:
            line_level = sum(dead_letters.get(reason, 0) for reason in LINE_REASONS)
        if self._scan is not None and line_level is not None:
            try:
                scan = self._scan.recv()
            except (EOFError, OSError):  # the scan's process died without counts: count here instead
                log.warning("the input scan's process ended without counts; counting after the run")
            else:
                return with_dead_letters(scan, line_level)
        files = _input_files(Path(self.cfg.source.input_path))
        return count_input(files, self.cfg.detection.event_dedupe_ttl_ms, line_level)

    @staticmethod
    def _dead(counts: dict) -> str:
        reasons = counts["dead_letters"]
        detail = " (" + ", ".join(f"{k} {v}" for k, v in reasons.items()) + ")" if reasons else ""
        return f"{sum(reasons.values())} dead letters{detail}"

    @staticmethod
    def _alerts(counts: dict) -> str:
        return "alerts not written to a file" if counts["alerts"] is None else f"{counts['alerts']} alerts"

    def _seconds(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s"


def _scan_into(send: Connection, files: list[Path], ttl_ms: int) -> None:
    """The scan's process: gives way to the job's processes where the scheduler lets it, scans, sends."""
    with contextlib.suppress(OSError):
        os.nice(10)
    send.send(scan_input(files, ttl_ms))


def root_cause(exc: BaseException) -> str:
    """The innermost 'Caused by:' of a Java exception's text (Py4J puts the Java trace in the message),
    or the exception's own first line."""
    text = str(exc)
    causes = [
        line.strip()[len("Caused by: ") :]
        for line in text.splitlines()
        if line.strip().startswith("Caused by: ")
    ]
    if causes:
        return causes[-1]
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first
