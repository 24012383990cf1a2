"""`CEP.pattern(keyed_stream, pattern)` and the `PatternStream` it returns, shaped like Flink's CEP API."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from pyflink.common.typeinfo import TypeInformation
from pyflink.datastream import DataStream, KeyedStream, OutputTag

from cep.flink.match_ids import EventIdFn, default_event_id
from cep.flink.operator import CepFunction, MatchContext


class CEP:
    """Entry point, as Flink's `CEP` class: ``CEP.pattern(keyed_stream, pattern)``."""

    @staticmethod
    def pattern(
        keyed_stream: KeyedStream, pattern: Any, *, event_id: EventIdFn = default_event_id
    ) -> PatternStream:
        """Run `pattern` over each key of `keyed_stream` (event time unless `in_processing_time()`).

        Parameters
        ----------
        keyed_stream:
            A PyFlink `KeyedStream` whose records carry event-time timestamps and watermarks.
        pattern:
            A `cep.Pattern`.
        event_id:
            Names an event inside match ids (default: its ``event_id``/``id`` field, else its content).
        """
        if not isinstance(keyed_stream, KeyedStream):
            msg = (
                f"CEP.pattern needs a KeyedStream, got {type(keyed_stream).__name__}: "
                "call .key_by(...) on the stream first"
            )
            raise TypeError(msg)
        return PatternStream(keyed_stream, pattern, event_id=event_id)


@dataclass(frozen=True)
class PatternStream:
    """A pattern applied to a keyed stream; `select` or `process` turns it into a `DataStream`.

    Configuration methods return a new `PatternStream`, so a pattern stream can be shared safely.
    """

    keyed_stream: KeyedStream
    pattern: Any
    late_tag: Optional[OutputTag] = None
    processing_time: bool = False
    event_id: EventIdFn = default_event_id
    matcher_type: Any = None  # the matcher class; None means `cep.Matcher`
    early: bool = False
    bounds: tuple = (None, None, "drop_oldest")  # max_partial_matches, max_buffered_events, on_overflow
    pass_every_ms: Optional[int] = None

    def bounded(
        self,
        max_partial_matches: Optional[int] = None,
        max_buffered_events: Optional[int] = None,
        on_overflow: str = "drop_oldest",
    ) -> PatternStream:
        """Cap each key's live partial matches and events buffered until the watermark.

        Beyond a cap, `on_overflow` drops the oldest (default) or the newest, or raises
        `cep.StateLimitError` (the job fails). Evictions are counted in the ``cep`` metric group
        (``evictedPartialMatches``, ``evictedBufferedEvents``). See docs/bounded-state.md.
        """
        from cep.matcher import OVERFLOW_POLICIES

        if on_overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"on_overflow must be one of {OVERFLOW_POLICIES}, got {on_overflow!r}")
        return replace(self, bounds=(max_partial_matches, max_buffered_events, on_overflow))

    def side_output_late_data(self, late_tag: OutputTag) -> PatternStream:
        """Send late events (timestamp at or below the watermark) to `late_tag` instead of dropping them."""
        return replace(self, late_tag=late_tag)

    def early_results(self) -> PatternStream:
        """Emit each match as soon as its last event arrives, in any order above the watermark, instead
        of when the watermark passes it; the pass at the watermark emits only what was not found early.

        Only for monotone patterns (stages joined by `followed_by_any`, `no_skip`, no negation, no
        quantifiers: see `cep.early`); others raise `MalformedPatternError` saying which part is unsound.
        """
        from cep.early import check_early_results

        check_early_results(self.pattern)
        return replace(self, early=True)

    def pass_every(self, every_ms: int) -> PatternStream:
        """Run each key's event-time pass only when the watermark reaches a multiple of `every_ms`.

        The pass (which writes the key's matcher to Flink state) then runs at most once per `every_ms`
        of event time per key instead of at every watermark that makes one of its events due: the
        same results and timeouts, up to `every_ms` later. Worth it with `early_results()`, whose
        matches do not wait for the pass; event time only.
        """
        if every_ms < 1:
            raise ValueError(f"pass_every needs every_ms >= 1, got {every_ms}")
        return replace(self, pass_every_ms=every_ms)

    def in_processing_time(self) -> PatternStream:
        """Feed events as they arrive, stamped with the processing time (no buffering, no late data)."""
        return replace(self, processing_time=True)

    def select(
        self,
        fn: Callable[[dict], Any],
        output_type: Optional[TypeInformation] = None,
        timeout_tag: Optional[OutputTag] = None,
        timeout_fn: Optional[Callable[[dict, int], Any]] = None,
    ) -> DataStream:
        """One output per match: ``fn(match)``, where a match maps stage names to lists of events.

        Timed-out partial matches go to `timeout_tag` as ``timeout_fn(partial_match, timeout_timestamp)``
        (default: the pair itself).
        """

        def one_output(match: dict, ctx: MatchContext) -> Iterable[Any]:
            return (fn(match),)

        return self.process(one_output, output_type, timeout_tag, timeout_fn)

    def process(
        self,
        fn: Callable[[dict, MatchContext], Iterable[Any]],
        output_type: Optional[TypeInformation] = None,
        timeout_tag: Optional[OutputTag] = None,
        timeout_fn: Optional[Callable[[dict, int], Any]] = None,
    ) -> DataStream:
        """Any number of outputs per match: ``fn(match, ctx)`` with ``ctx.key``, ``ctx.match_id``,
        ``ctx.timestamp``; timeouts as in `select`.
        """
        if timeout_fn is not None and timeout_tag is None:
            raise ValueError("timeout_fn needs a timeout_tag: the side output its results go to")
        if timeout_tag is not None and timeout_fn is None:
            timeout_fn = _timeout_pair
        function = CepFunction(
            self.pattern,
            fn,
            late_tag=self.late_tag,
            timeout_tag=timeout_tag,
            timeout_fn=timeout_fn,
            processing_time=self.processing_time,
            event_id=self.event_id,
            matcher_type=self.matcher_type,
            early_results=self.early,
            max_partial_matches=self.bounds[0],
            max_buffered_events=self.bounds[1],
            on_overflow=self.bounds[2],
            pass_every_ms=self.pass_every_ms,
        )
        return self.keyed_stream.process(function, output_type)


def _timeout_pair(partial_match: dict, timeout_timestamp: int) -> tuple[dict, int]:
    return partial_match, timeout_timestamp
