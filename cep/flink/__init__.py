"""Run `cep` patterns inside PyFlink: ``CEP.pattern(keyed_stream, pattern).select(fn)``.

The only module of `cep` that imports pyflink. See docs/cep-flink.md.
"""

from __future__ import annotations

from cep.flink.keyed_memory import MirroredValueState
from cep.flink.match_ids import default_event_id, match_id
from cep.flink.operator import CepFunction, MatchContext
from cep.flink.pattern_stream import CEP, PatternStream
from cep.flink.timer_metrics import StepMetricsScope

__all__ = [
    "CEP",
    "CepFunction",
    "MatchContext",
    "MirroredValueState",
    "PatternStream",
    "StepMetricsScope",
    "default_event_id",
    "match_id",
]
