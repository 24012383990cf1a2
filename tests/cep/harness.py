"""One driver for the engine in tests: feed events, move event time, snapshot and restore.

Like Flink CEP's `NFATestHarness`, it runs a matcher without a cluster and collects what it reports,
so tests say *what* they feed and check, not how to loop over `process` and `advance_time`. Two
ways of feeding, both as Flink can see them:

- ``watermark_follows_events=True`` (default): before each event the watermark moves to its
  timestamp, as Flink's operator does with an in-order stream and a watermark per record (timeouts
  come out as soon as they are due, and the matcher prunes as it goes);
- ``watermark_follows_events=False``: events in timestamp order, time advanced only when asked
  (`advance_to`, `run(end=...)`), as with a watermark far behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, Optional

from cep import Matcher, Pattern


class NfaHarness:
    """Drives one matcher (a `cep.Matcher`, or a class with its API such as `cep.early.EarlyMatcher`).

    Attributes
    ----------
    matches : every match reported so far, in order.
    timeouts : every ``(partial match, timeout timestamp)`` reported so far, in order.
    """

    def __init__(
        self,
        pattern: Pattern,
        *,
        watermark_follows_events: bool = True,
        matcher_class: type = Matcher,
        timestamp: Callable[[Any], int] = lambda event: event["ts"],
        **options: Any,
    ) -> None:
        self.pattern = pattern
        self.watermark_follows_events = watermark_follows_events
        self.matcher_class = matcher_class
        self.timestamp = timestamp
        self.options = options
        self.matcher = matcher_class(pattern, **options)
        self.matches: list = []
        self.timeouts: list = []

    def feed(self, event: Any, timestamp: Optional[int] = None) -> list:
        """Process one event (at `timestamp`, default its ``ts``); return the matches it released."""
        ts = self.timestamp(event) if timestamp is None else timestamp
        released = self.advance_to(ts) if self.watermark_follows_events else []
        found = self.matcher.process(event, ts)
        self.matches.extend(found)
        return released + found

    def feed_all(self, events: Iterable[Any]) -> NfaHarness:
        """Process `events` in the order given."""
        for event in events:
            self.feed(event)
        return self

    def advance_to(self, timestamp: int) -> list:
        """Move event time to `timestamp`; return the matches it released (timeouts are collected)."""
        found, timed_out = self.matcher.advance_time(timestamp)
        self.matches.extend(found)
        self.timeouts.extend(timed_out)
        return found

    def restore(self) -> NfaHarness:
        """Continue on a matcher restored from a snapshot of this one (what a job restart does)."""
        self.matcher = self.matcher_class.restore(self.pattern, self.matcher.snapshot(), **self.options)
        return self

    def run(self, events: Iterable[Any], end: Optional[int] = None) -> tuple[list, list]:
        """Feed `events`, then advance to `end` when given; return (matches, timeouts)."""
        self.feed_all(events)
        if end is not None:
            self.advance_to(end)
        return self.matches, self.timeouts
