"""Deterministic match ids, so sinks downstream of `cep.flink` can be idempotent after a replay.

A match id depends only on the key and on the events of the match (their ids, or their content when
they carry no id), never on processing time or arrival order, so a job that restarts from a checkpoint
and emits a match again emits it with the same id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Callable

EventIdFn = Callable[[Any], str]

#: Fields (or attributes) that name an event, looked up in this order by `default_event_id`.
ID_FIELDS = ("event_id", "id")


def default_event_id(event: Any) -> str:
    """Name an event: its ``event_id`` or ``id`` field/attribute, else its content as canonical JSON.

    Content serves as the name of events without an id: equal content means the same reading, which is
    what a replay produces.
    """
    for name in ID_FIELDS:
        value = _field(event, name)
        if value is not None:
            return str(value)
    return json.dumps(_plain(event), sort_keys=True, separators=(",", ":"), default=repr)


def match_id(key: Any, match: Mapping[str, list], event_id: EventIdFn = default_event_id) -> str:
    """Return ``"<key>:<digest>"`` for a match (stage name -> events), stable across runs.

    Example
    -------
    >>> match_id("r1", {"n1": [{"event_id": "a"}], "n2": [{"event_id": "b"}]})
    'r1:...'
    """
    digest = hashlib.sha256()
    digest.update(repr(key).encode())
    for name in sorted(match):
        digest.update(b"\x00" + name.encode() + b"\x00")
        for event in match[name]:
            digest.update(event_id(event).encode() + b"\x01")
    return f"{key}:{digest.hexdigest()[:32]}"


def _field(event: Any, name: str) -> Any:
    if isinstance(event, Mapping):
        return event.get(name)
    as_dict = getattr(event, "as_dict", None)  # pyflink Row
    if callable(as_dict):
        return as_dict().get(name)
    return getattr(event, name, None)


def _plain(event: Any) -> Any:
    as_dict = getattr(event, "as_dict", None)
    if callable(as_dict):
        return as_dict()
    if isinstance(event, Mapping):
        return dict(event)
    return getattr(event, "__dict__", None) or repr(event)
