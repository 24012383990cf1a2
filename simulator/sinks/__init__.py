"""Where the simulator's records go: stdout, a JSONL file, rolling files, Kinesis, AWS IoT Core.

The AWS sinks are imported on first use (boto3 is slow to import and the file sinks don't need it).
"""

from __future__ import annotations

import importlib
from typing import Any

from simulator.sinks.base import Sink, SinkError, SinkStats
from simulator.sinks.file import JsonlFileSink, RollingDirectorySink
from simulator.sinks.stdout import StdoutSink

_LAZY = {"KinesisSink": "simulator.sinks.kinesis", "IotSink": "simulator.sinks.iot"}

__all__ = [
    "IotSink",
    "JsonlFileSink",
    "KinesisSink",
    "RollingDirectorySink",
    "Sink",
    "SinkError",
    "SinkStats",
    "StdoutSink",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
