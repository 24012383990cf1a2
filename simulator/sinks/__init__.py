"""Where the simulator's records go: stdout, a JSONL file, rolling files, Kinesis, AWS IoT Core."""

from __future__ import annotations

from simulator.sinks.base import Sink, SinkError, SinkStats
from simulator.sinks.file import JsonlFileSink, RollingDirectorySink
from simulator.sinks.iot import IotSink
from simulator.sinks.kinesis import KinesisSink
from simulator.sinks.stdout import StdoutSink

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
