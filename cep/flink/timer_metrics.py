"""Counters incremented in ``on_timer`` reach Flink's metrics too.

PyFlink 1.20's Python worker calls ``process_element`` inside its step's Beam metrics scope, but
calls ``on_timer`` outside it (its ``process_timer`` skips the ``scoped_process_state`` that
``process`` enters). A counter a function increments in a timer callback, say a match found when
the watermark passes, is then written to no container and silently lost.

:class:`StepMetricsScope` remembers the step's scope while an element is processed and enters it
again around a timer callback. Until the step has seen an element (a timer restored from a
checkpoint can fire first) it cannot know the scope, and the increments stay lost as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional


def _current_state() -> Optional[Any]:
    """The worker's current Beam state scope, or None outside a Beam worker.

    Imported here, not at module level: the job imports this module while another thread may still be
    importing Beam (`jobs.bushfire.__main__` warms it up), and Beam does not survive two importers.
    """
    try:
        from apache_beam.runners.worker.statesampler import get_current_tracker
    except ImportError:  # pragma: no cover - PyFlink always ships Beam
        return None
    tracker = get_current_tracker()
    return tracker.current_state() if tracker is not None else None


class StepMetricsScope:
    """Call :meth:`remember` in ``process_element``; wrap the body of ``on_timer`` in :meth:`entered`."""

    def __init__(self) -> None:
        self._step: Optional[Any] = None
        self._looked = False

    def remember(self) -> None:
        """Keep the scope the worker runs ``process_element`` in. It is the same every time, so only
        the first call looks (and finds none in thread mode, where there is no Beam worker)."""
        if not self._looked:
            self._looked = True
            state = _current_state()
            if state is not None and getattr(state, "metrics_container", None) is not None:
                self._step = state

    @contextmanager
    def entered(self) -> Iterator[None]:
        """Run the block in the remembered step scope (as it is already in ``process_element``)."""
        if self._step is None or _current_state() is self._step:
            yield
            return
        with self._step:
            yield
