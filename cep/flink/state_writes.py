"""Whether a key's matcher changed since it was last written to Flink state, without pickling it.

Flink's CEP operator writes a key's NFA state back only when the NFA marked it changed (its
``NFAState`` carries a changed flag, set where partial matches are added, moved or dropped).
`CepFunction` does the same with a flag per key, set from what the matcher was asked to do:

* `Matcher.process` on an event its pre-filter admits always changes the snapshot (at least the
  event sequence number it holds moves on). `CepFunction` feeds the matcher only such events.
* `Matcher.advance_time` changes it only by taking things out: partial matches that expired or
  completed (``not_followed_by`` at the end), matches held back for ordering, and timeouts kept
  from `process` until reported. It does nothing before `Matcher.next_deadline`; after it, what it
  took out is either returned (matches, timeouts) or shows as fewer live partial matches.

`advance_time` below derives the flag that way, for any matcher with the `Matcher` protocol
(``next_deadline``, ``partial_match_count``). A matcher that knows better (`MultiMatcher`, whose
rule changes also drop state) offers ``advance_time_changed`` instead. tests/flink/test_state_writes.py
checks the derivation against snapshot comparison on random patterns and streams.
"""

from __future__ import annotations

from typing import Any


def advance_time(matcher: Any, timestamp: int) -> tuple[list, list, bool]:
    """``matcher.advance_time(timestamp)``, and whether it changed what the matcher's snapshot holds."""
    own = getattr(matcher, "advance_time_changed", None)
    if own is not None:
        return own(timestamp)
    deadline = matcher.next_deadline
    if deadline is None or timestamp < deadline:  # nothing due: at most timeouts kept from `process`
        matches, timeouts = matcher.advance_time(timestamp)
        return matches, timeouts, bool(matches or timeouts)
    live = matcher.partial_match_count()
    matches, timeouts = matcher.advance_time(timestamp)
    return matches, timeouts, bool(matches or timeouts) or matcher.partial_match_count() != live
