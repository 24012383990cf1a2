"""Keyed ValueState kept in memory per key by a function instance, and written through to Flink.

PyFlink empties its own state cache at every bundle (in practice at every watermark), after which
each read of a key's state is a round trip to the JVM. A function that reads a key's state for every
record pays that trip again and again; this mirror reads it once per key for the lifetime of the
function instance (a restore from a checkpoint always creates a new instance, so memory never
outlives the state it mirrors) and writes every change through, so checkpoints hold the truth.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Generic, TypeVar

#: How many keys a mirror keeps in memory (the least recently used are forgotten, not lost).
DEFAULT_CAPACITY = 16384

V = TypeVar("V")


class KeysInMemory(Generic[V]):
    """A value per key, the least recently used forgotten beyond `capacity`; `load` fills a miss."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._values: OrderedDict[Any, V] = OrderedDict()

    def get(self, key: Any, load: Callable[[], V]) -> V:
        """The key's value from memory, or `load()`'s (then remembered)."""
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        value = load()
        self.put(key, value)
        return value

    def values(self) -> list[V]:
        """The values held in memory now (for gauges: keys forgotten from memory are not in it)."""
        return list(self._values.values())

    def put(self, key: Any, value: V) -> None:
        self._values[key] = value
        self._values.move_to_end(key)
        if len(self._values) > self._capacity:
            self._values.popitem(last=False)


class MirroredValueState:
    """A `ValueState` with an in-memory copy per key; always pass the operator's current key.

    Example
    -------
    >>> seen = MirroredValueState(runtime_context.get_state(descriptor))
    >>> ids = seen.get(ctx.get_current_key()) or {}
    >>> ids[event_id] = ts
    >>> seen.put(ctx.get_current_key(), ids)
    """

    def __init__(self, state: Any, capacity: int = DEFAULT_CAPACITY) -> None:
        self._state = state
        self._memory: KeysInMemory[Any] = KeysInMemory(capacity)

    def get(self, key: Any) -> Any:
        """The current key's value (None when it has none)."""
        return self._memory.get(key, self._state.value)

    def put(self, key: Any, value: Any) -> None:
        """Set the current key's value (None clears it), in memory and in Flink state."""
        if value is None:
            self._state.clear()
        else:
            self._state.update(value)
        self._memory.put(key, value)
