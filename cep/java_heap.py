"""A binary heap that breaks ties between equal keys the way `java.util.PriorityQueue` does.

Flink's NFA keeps completed matches in a `java.util.PriorityQueue` ordered only by the match's
first event. Among matches with the same first event, which one leaves the queue first depends on
the heap's sift operations (not on insertion order), and that decides which match survives an
after-match skip strategy. This class reproduces the queue's array exactly, so it gives up items
in the same order: `offer` sifts up, `poll` moves the last item to the root and sifts it down, and
`remove_if` (what `removeAll`/`removeIf` do since JDK 9) compacts the survivors in array order and
rebuilds the heap bottom-up (Floyd's method), but only when it removed something.

Keys are compared with Python's `<` / `<=` (tuples here); equal keys compare as Java's `0`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

__all__ = ["JavaPriorityQueue"]


class JavaPriorityQueue:
    """`offer` / `peek` / `poll` / `remove_if` over `(key, item)` pairs, with Java's tie-breaking."""

    __slots__ = ("items", "keys")

    def __init__(self) -> None:
        self.keys: list = []
        self.items: list = []

    def __len__(self) -> int:
        return len(self.keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def copy(self) -> JavaPriorityQueue:
        """An independent queue with the same array (keys and items themselves are shared)."""
        other = JavaPriorityQueue()
        other.keys = self.keys[:]
        other.items = self.items[:]
        return other

    def __iter__(self) -> Iterator[Any]:
        """The items in array order (what Java's iterator visits), not in priority order."""
        return iter(self.items)

    def offer(self, key: Any, item: Any) -> None:
        """Append at the end of the array and sift up while strictly smaller than the parent."""
        keys, items = self.keys, self.items
        k = len(keys)
        keys.append(key)
        items.append(item)
        while k > 0:
            parent = (k - 1) >> 1
            pkey = keys[parent]
            if not key < pkey:
                break
            keys[k] = pkey
            items[k] = items[parent]
            k = parent
        keys[k] = key
        items[k] = item

    def peek_key(self) -> Any:
        return self.keys[0]

    def peek(self) -> Any:
        return self.items[0]

    def poll(self) -> Any:
        """Remove the root; the last item takes its place and sifts down."""
        keys, items = self.keys, self.items
        result = items[0]
        last_key = keys.pop()
        last_item = items.pop()
        if keys:
            self._sift_down(0, last_key, last_item, len(keys))
        return result

    def remove_if(self, doomed: Callable[[Any], bool]) -> bool:
        """Drop every item for which `doomed(item)` holds; True when something was dropped."""
        items = self.items
        n = len(items)
        first = 0
        while first < n and not doomed(items[first]):
            first += 1
        if first == n:
            return False  # nothing removed: Java leaves the array untouched
        keep = [i for i in range(first + 1, n) if not doomed(items[i])]
        keys = self.keys
        self.keys = keys[:first] + [keys[i] for i in keep]
        self.items = items[:first] + [items[i] for i in keep]
        self._heapify()
        return True

    def _heapify(self) -> None:
        n = len(self.keys)
        for i in range((n >> 1) - 1, -1, -1):
            self._sift_down(i, self.keys[i], self.items[i], n)

    def _sift_down(self, k: int, key: Any, item: Any, n: int) -> None:
        """Move `key` down from slot `k` while a child is strictly smaller (the left child on ties)."""
        keys, items = self.keys, self.items
        half = n >> 1
        while k < half:
            child = 2 * k + 1
            ckey = keys[child]
            right = child + 1
            if right < n and ckey > keys[right]:
                child = right
                ckey = keys[right]
            if key <= ckey:
                break
            keys[k] = ckey
            items[k] = items[child]
            k = child
        keys[k] = key
        items[k] = item
