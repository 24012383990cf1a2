"""How many lines, readings and re-delivered readings a bounded input held, for the run summary.

Judging every line again in Python costs about 10 s per million lines, which the user would wait for
after the job has finished. The job has already judged them: every line is exactly one reading, one
re-delivery or one line-level dead letter (malformed, invalid, oversized). So the summary takes the
dead-letter counts from the run's dead-letter file, counts lines at C speed, and judges again only
the lines that can be re-deliveries: those whose `event_id` occurs more than once in the input. A line
whose id a plain scan cannot be trusted to find (escapes, bytes that are not UTF-8) is parsed for its id
and judged again; only without a dead-letter file is every line judged.

A line is a duplicate when it is a valid reading whose `event_id` an earlier reading of its region
had, at most the dedupe TTL of event time apart. (The job forgets ids as newer readings of the
region arrive, which gives the same answer for re-deliveries that come soon after the original.)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

#: Dead-letter reasons given to a line instead of a reading.
LINE_REASONS = ("malformed", "invalid", "oversized")
_EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([^"\\]*)"')


@dataclass
class InputCounts:
    """A bounded input's lines, its distinct readings and its re-delivered ones (duplicates)."""

    lines: int = 0
    readings: int = 0
    duplicates: int = 0


def count_input(files: list[Path], ttl_ms: int, line_dead_letters: Optional[int]) -> InputCounts:
    """Counts over `files` in the order the source reads them. `line_dead_letters`: how many of their
    lines the run dead-lettered as malformed, invalid or oversized (None: not known, judge every line).
    Reads each file twice (once to find the repeated ids) rather than holding the input in memory."""
    if line_dead_letters is None:
        return _judge_every_line(files, ttl_ms)
    return with_dead_letters(scan_input(files, ttl_ms), line_dead_letters)


def scan_input(files: list[Path], ttl_ms: int) -> InputCounts:
    """The quick scan: lines and duplicates of `files` (readings not known yet: they need the run's
    line-level dead letters, see `with_dead_letters`). Needs nothing from the run, so a bounded run does
    it while the job runs. A file the plain scan can read whole (the usual case) is scanned at C speed;
    in another, each line it cannot read plainly is parsed (a few malformed lines do not make the whole
    file slow)."""
    ids: Counter[bytes] = Counter()
    plain_files: list[bool] = []  # per file: could the plain scan read it whole?
    for path in files:
        data = path.read_bytes()
        plain_files.append(_scannable(data))
        if plain_files[-1]:
            ids.update(_EVENT_ID.findall(data))
        else:
            for line in _lines(data):
                ids.update(_ids_of(line))
    repeated = {event_id for event_id, times in ids.items() if times > 1}
    counts = InputCounts()
    seen: dict[str, dict[str, int]] = {}
    for path, plain in zip(files, plain_files):
        data = path.read_bytes()
        counts.lines += _line_count(data)
        if repeated:
            candidates = (
                line
                for line in _lines(data)
                if (not plain and not _scannable(line)) or _has_any(line, repeated)
            )
            counts.duplicates += _judge(candidates, ttl_ms, seen).duplicates
    return counts


def _ids_of(line: bytes) -> list[bytes]:
    """The event ids the scan counts for one line: found plainly, or parsed when it cannot be."""
    if _scannable(line):
        return _EVENT_ID.findall(line)
    from jobs.bushfire.parsing import parse_line

    reading = parse_line(line.decode("utf-8", "replace"), "summary")
    return [reading["event_id"].encode("utf-8")] if isinstance(reading, dict) else []


def with_dead_letters(scan: InputCounts, line_dead_letters: int) -> InputCounts:
    """`scan` with its readings: every line is one reading, one duplicate or one line dead letter."""
    readings = scan.lines - line_dead_letters - scan.duplicates
    return InputCounts(lines=scan.lines, readings=readings, duplicates=scan.duplicates)


def _scannable(data: bytes) -> bool:
    """True when the plain scan sees every `event_id` of `data` (a file or a line) as the JSON parser
    will: no escapes, valid UTF-8 (undecodable bytes all read as U+FFFD, so different bytes could name
    the same id)."""
    if b"\\" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _has_any(line: bytes, repeated: set[bytes]) -> bool:
    return any(match in repeated for match in _EVENT_ID.findall(line))


def _line_count(data: bytes) -> int:
    """Lines as the source splits them: at each '\\n', plus a last line without one."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    return lines[:-1] if data.endswith(b"\n") or not data else lines


def _judge_every_line(files: list[Path], ttl_ms: int) -> InputCounts:
    counts = InputCounts()
    seen: dict[str, dict[str, int]] = {}
    for path in files:
        judged = _judge(_lines(path.read_bytes()), ttl_ms, seen)
        counts.lines += judged.lines
        counts.readings += judged.readings
        counts.duplicates += judged.duplicates
    return counts


def _judge(lines: Iterable[bytes], ttl_ms: int, seen: dict[str, dict[str, int]]) -> InputCounts:
    """The job's verdict (`parse_line`) and the duplicate rule (module docstring) for each line, in
    order; `seen` (region -> event_id -> ts) carries on across files."""
    from jobs.bushfire.parsing import parse_line

    counts = InputCounts()
    for raw in lines:
        counts.lines += 1
        reading = parse_line(raw.decode("utf-8", "replace"), "summary")
        if not isinstance(reading, dict):
            continue
        ids = seen.setdefault(reading["region"], {})
        earlier = ids.get(reading["event_id"])
        if earlier is not None and abs(reading["ts"] - earlier) <= ttl_ms:
            counts.duplicates += 1
            continue
        counts.readings += 1
        ids[reading["event_id"]] = reading["ts"]
    return counts
