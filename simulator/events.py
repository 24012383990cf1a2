"""The sensor reading record (docs/simulator.md, "Event schema"): its fields, validation and wire encoding.

A reading is a plain `dict`::

    {"event_id": "r007-n042:17", "node": "r007-n042", "region": "r007", "ts": 1768436220000,
     "temperature": 23.41, "infectedBy": null, "lat": -33.7, "lon": 150.3, "battery": 97.3}

`delivered()` streams also carry malformed records as `bytes` (the exact payload sent).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Optional, Union

import orjson

Record = Union[dict, bytes]  # a reading, or a malformed payload

REQUIRED_FIELDS: dict[str, tuple[type, ...]] = {
    "event_id": (str,),
    "node": (str,),
    "region": (str,),
    "ts": (int,),
    "temperature": (float, int),
    "lat": (float, int),
    "lon": (float, int),
}
OPTIONAL_FIELDS: dict[str, tuple[type, ...]] = {"battery": (float, int)}


def event_id(node: str, step: int) -> str:
    """Stable, unique id of the reading a node takes at a step (duplicates reuse it)."""
    return f"{node}:{step}"


NOT_AN_OBJECT = "not a JSON object"


def reading_problem(record: Any) -> Optional[str]:
    """Why `record` is not a well-formed reading, or None when it is (the event schema).

    The one schema check of the project: the simulator's truth and the job's parser both use it, so
    what the job dead-letters is exactly what the truth ignores. Strings must be `str`, numbers
    `int`/`float` but not `bool`; `infectedBy` must be present and a string or null; `battery` is
    optional but, when present, a number.
    """
    if not isinstance(record, dict):
        return NOT_AN_OBJECT
    for name, types in REQUIRED_FIELDS.items():
        value = record.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            return f"missing or invalid {name}"
    if "infectedBy" not in record:
        return "missing infectedBy"
    by = record["infectedBy"]
    if by is not None and not isinstance(by, str):
        return "invalid infectedBy"
    battery = record.get("battery")
    if battery is not None and (not isinstance(battery, (float, int)) or isinstance(battery, bool)):
        return "invalid battery"
    return None


def is_valid_event(record: Any) -> bool:
    """True when `record` is a well-formed reading (see `reading_problem`)."""
    return reading_problem(record) is None


def encode(record: Record) -> bytes:
    """The wire form of a record (no trailing newline): JSON for readings, malformed bytes as they are."""
    if isinstance(record, bytes):
        return record
    return orjson.dumps(record)


def encode_lines(records: Iterable[Record]) -> Iterator[bytes]:
    """JSON Lines: each record's wire form followed by a newline."""
    nl = orjson.OPT_APPEND_NEWLINE
    for record in records:
        yield record + b"\n" if isinstance(record, bytes) else orjson.dumps(record, option=nl)


def decode_line(line: bytes) -> Record:
    """Parse one JSONL line back: a dict when it is a valid reading, else the raw bytes."""
    raw = line.rstrip(b"\n")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    return value if is_valid_event(value) else raw
