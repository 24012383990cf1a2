"""The sensor reading schema (docs/simulator.md, "Event schema"): one table, and the checks built from it.

A reading is a plain `dict`::

    {"event_id": "r007-n042:17", "node": "r007-n042", "region": "r007", "ts": 1768436220000,
     "temperature": 23.41, "infectedBy": null, "lat": -33.7, "lon": 150.3, "battery": 97.3}

`FIELDS` is the contract between the simulator that writes readings and the job that reads them.
Everything else that knows the fields comes from it or is tested against it: the exact Python check
below (the simulator's ground truth and the job's parser both use it), the SQL parser's field list and
types (`jobs.bushfire.parsing`), the Java parser's row (`jobs/bushfire/jvm/ParseReading.java`, checked by
tests/common/test_readings.py) and the OpenSearch mapping (`opensearch_properties`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional


class Kind(Enum):
    """The JSON type of a field's value."""

    TEXT = "text"  # a JSON string (ids and names: matched exactly, never searched as prose)
    EPOCH_MS = "epoch_ms"  # a JSON integer: milliseconds since the Unix epoch, UTC
    NUMBER = "number"  # a JSON integer or float

    @property
    def python_types(self) -> tuple[type, ...]:
        """The types `orjson.loads` gives a valid value (never `bool`, which Python counts as an int)."""
        return _PYTHON_TYPES[self]

    @property
    def sql_type(self) -> str:
        """The Flink SQL type the JVM parsers give the field."""
        return _SQL_TYPES[self]

    @property
    def opensearch(self) -> dict[str, str]:
        """The OpenSearch mapping of a field of this kind in the raw-event index."""
        return dict(_OPENSEARCH[self])


_PYTHON_TYPES = {Kind.TEXT: (str,), Kind.EPOCH_MS: (int,), Kind.NUMBER: (float, int)}
_SQL_TYPES = {Kind.TEXT: "STRING", Kind.EPOCH_MS: "BIGINT", Kind.NUMBER: "DOUBLE"}
_OPENSEARCH = {
    Kind.TEXT: {"type": "keyword"},
    Kind.EPOCH_MS: {"type": "date", "format": "epoch_millis"},
    Kind.NUMBER: {"type": "float"},
}


class Presence(Enum):
    """Whether a field must be in a reading, and whether it may be null."""

    REQUIRED = "required"  # present and a value of its kind
    NULLABLE = "nullable"  # present, and null or a value of its kind
    OPTIONAL = "optional"  # absent, null, or a value of its kind


@dataclass(frozen=True)
class Field:
    """One field of a reading."""

    name: str
    kind: Kind
    presence: Presence

    def has_valid_type(self, value: Any) -> bool:
        """True when `value` is of this field's kind (booleans are not numbers)."""
        return isinstance(value, self.kind.python_types) and not isinstance(value, bool)


#: The reading's fields, in the order of the JVM parsers' row.
FIELDS: tuple[Field, ...] = (
    Field("event_id", Kind.TEXT, Presence.REQUIRED),
    Field("node", Kind.TEXT, Presence.REQUIRED),
    Field("region", Kind.TEXT, Presence.REQUIRED),
    Field("ts", Kind.EPOCH_MS, Presence.REQUIRED),
    Field("temperature", Kind.NUMBER, Presence.REQUIRED),
    Field("infectedBy", Kind.TEXT, Presence.NULLABLE),  # the node that spread the fire; null: ignition
    Field("lat", Kind.NUMBER, Presence.REQUIRED),
    Field("lon", Kind.NUMBER, Presence.REQUIRED),
    Field("battery", Kind.NUMBER, Presence.OPTIONAL),
)
FIELDS_BY_NAME: dict[str, Field] = {field.name: field for field in FIELDS}
#: Fields that must hold a value of their kind.
REQUIRED: tuple[Field, ...] = tuple(f for f in FIELDS if f.presence is Presence.REQUIRED)
#: The order problems are looked for (and the first one named): required fields, then the others.
CHECK_ORDER: tuple[Field, ...] = REQUIRED + tuple(f for f in FIELDS if f.presence is not Presence.REQUIRED)

NOT_AN_OBJECT = "not a JSON object"


def reading_problem(record: Any) -> Optional[str]:
    """Why `record` is not a well-formed reading, or None when it is.

    The one exact schema check of the project: the simulator's ground truth and the job's parser both
    use it, so what the job dead-letters is exactly what the truth ignores. The first problem found is
    named: a required field missing or of the wrong kind, then a nullable field absent or of the wrong
    kind, then an optional field of the wrong kind. Unknown fields are allowed.
    """
    if not isinstance(record, dict):
        return NOT_AN_OBJECT
    for field in CHECK_ORDER:
        value = record.get(field.name)
        if field.presence is Presence.REQUIRED:
            if not field.has_valid_type(value):
                return f"missing or invalid {field.name}"
        elif field.presence is Presence.NULLABLE and field.name not in record:
            return f"missing {field.name}"
        elif value is not None and not field.has_valid_type(value):
            return f"invalid {field.name}"
    return None


def is_valid_reading(record: Any) -> bool:
    """True when `record` is a well-formed reading (see `reading_problem`)."""
    return reading_problem(record) is None


def opensearch_properties() -> dict[str, dict[str, str]]:
    """The OpenSearch mapping of each field, for the raw-event index template."""
    return {field.name: field.kind.opensearch for field in FIELDS}
