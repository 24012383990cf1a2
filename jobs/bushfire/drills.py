"""Recovery drills: a step that fails the job once, added to the pipeline only when asked for.

``--crash-after-alerts N`` (with checkpoints) puts `CrashOnce` after the alert delivery: once N
alerts have been delivered, it writes a marker file and raises, so Flink restarts the job from its
last checkpoint and the drill shows that no alert is lost or repeated. The marker makes it fail only
once. Without the option this module is not used: the production steps hold no fault injection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyflink.common import Types
from pyflink.datastream import DataStream, ProcessFunction, RuntimeContext

from jobs.bushfire.config import RuntimeConfig

#: File, in the checkpoint directory, that says the drill has already failed the job.
MARKER_NAME = "crash-injected"


class CrashOnce(ProcessFunction):
    """Passes lines through; fails the job at the `after`-th line unless `marker` exists (then writes it)."""

    def __init__(self, after: int, marker: str) -> None:
        self.after = after
        self.marker = marker

    def open(self, runtime_context: RuntimeContext) -> None:
        self.count = 0

    def process_element(self, line: Any, ctx: ProcessFunction.Context):
        self.count += 1
        if self.count >= self.after:
            marker = Path(self.marker)
            if not marker.exists():
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text("crashed once\n", encoding="utf-8")
                raise RuntimeError(f"injected failure after {self.count} alerts (--crash-after-alerts)")
        yield line


def crash_once(step_id: str, delivered: DataStream, runtime: RuntimeConfig) -> DataStream:
    """The drill step after the delivery (one instance, so it counts every alert); needs
    ``runtime.crash_after_alerts`` and ``runtime.checkpoint_dir`` (the config checks both are set)."""
    marker = f"{str(runtime.checkpoint_dir).removeprefix('file://')}/{MARKER_NAME}"
    crash = CrashOnce(runtime.crash_after_alerts, marker)
    return delivered.process(crash, Types.STRING()).name(step_id).uid(step_id).set_parallelism(1)
