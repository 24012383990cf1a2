"""Reading a JSON document field by field, each error naming the JSON path of the offending value.

`cep.serde` reads pattern documents with it: ``$.stages[1].where.value: expected ...``. Kept apart
from the schema itself so that the schema module holds only what the document means.
"""

from __future__ import annotations

import json
import math
from typing import Any

from cep.errors import CepError, MalformedPatternError

#: What a condition may compare with: JSON's scalars.
LITERAL_TYPES = (str, int, float, bool)
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "an integer", bool: "true or false"}


class JsonObject:
    """A JSON object being read: typed field access that names the path, and a check for leftovers."""

    def __init__(self, raw: Any, path: str) -> None:
        if not isinstance(raw, dict):
            raise MalformedPatternError(f"{path}: expected an object, got {shown(raw)}")
        self.raw = raw
        self.path = path
        self._read: set = set()

    def take(self, key: str, kind: type, default: Any = ...) -> Any:
        self._read.add(key)
        if key not in self.raw:
            if default is ...:
                raise MalformedPatternError(f"{self.path}.{key}: required, missing")
            return default
        value = self.raw[key]
        wrong_bool = kind is int and isinstance(value, bool)
        if not isinstance(value, kind) or wrong_bool:
            raise MalformedPatternError(
                f"{self.path}.{key}: expected {_JSON_TYPES[kind]}, got {shown(value)}"
            )
        return value

    def take_field(self) -> str:
        name = self.take("field", str)
        if not name:
            raise MalformedPatternError(f"{self.path}.field: a field name must not be empty")
        return name

    def take_literal(self, key: str) -> Any:
        self._read.add(key)
        if key not in self.raw:
            raise MalformedPatternError(f"{self.path}.{key}: required, missing")
        return self.literal(self.raw[key], f"{self.path}.{key}")

    @staticmethod
    def literal(value: Any, path: str) -> Any:
        if not isinstance(value, LITERAL_TYPES) or (isinstance(value, float) and not math.isfinite(value)):
            raise MalformedPatternError(
                f"{path}: expected a string, finite number or boolean, got {shown(value)}"
            )
        return value

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self._read)
        if unknown:
            raise MalformedPatternError(f"{self.path}.{unknown[0]}: unknown field")

    def builder_errors(self) -> PathPrefix:
        return PathPrefix(self.path)


class PathPrefix:
    """Prefix a builder's own `MalformedPatternError` (e.g. greedy after allow_combinations) with a path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, MalformedPatternError) and not str(exc).startswith("$"):
            raise MalformedPatternError(f"{self.path}: {exc}") from exc
        if isinstance(exc, CepError) and not isinstance(exc, MalformedPatternError):
            raise MalformedPatternError(f"{self.path}: {exc}") from exc
        return False


def shown(value: Any) -> str:
    """A value as JSON, cut to 60 characters for an error message."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."
