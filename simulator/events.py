"""The simulator's records on the wire: readings (``dict``) or malformed payloads (``bytes``), as JSON Lines.

The reading's fields and their check live in `common.readings`, the contract the job reads by;
`delivered()` streams also carry malformed records as `bytes` (the exact payload sent).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Union

import orjson

# The simulator calls a well-formed reading a valid event; the check itself is the shared schema's.
from common.readings import is_valid_reading as is_valid_event

__all__ = ["Record", "decode_line", "encode", "encode_lines", "event_id", "is_valid_event"]

Record = Union[dict, bytes]  # a reading, or a malformed payload


def event_id(node: str, step: int) -> str:
    """Stable, unique id of the reading a node takes at a step (duplicates reuse it)."""
    return f"{node}:{step}"


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
