"""The Flink execution environment for the job: runtime settings as Flink configuration."""

from __future__ import annotations

import sys
from pathlib import Path

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment

from jobs.bushfire.config import RuntimeConfig

#: Restart attempts (fixed delay) when checkpointing is on; without checkpoints a failure ends the job.
RESTART_ATTEMPTS = 3
RESTART_DELAY = "2 s"


def _as_url(path: str) -> str:
    return path if "://" in path else Path(path).resolve().as_uri()


def flink_configuration(runtime: RuntimeConfig) -> dict[str, str]:
    """Flink options for `runtime` (parallelism, Python, jars, checkpoints, restarts, restore)."""
    python = runtime.python_executable or sys.executable
    conf = {
        "pipeline.name": "emberwatch-bushfire",
        "parallelism.default": str(runtime.parallelism),
        "python.executable": python,
        "python.client.executable": python,
    }
    if runtime.connector_jars:
        conf["pipeline.jars"] = ";".join(_as_url(jar) for jar in runtime.connector_jars)
    if runtime.checkpoint_interval_ms:
        conf.update({
            "execution.checkpointing.interval": f"{runtime.checkpoint_interval_ms} ms",
            "execution.checkpointing.mode": "EXACTLY_ONCE",
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "restart-strategy.type": "fixed-delay",
            "restart-strategy.fixed-delay.attempts": str(RESTART_ATTEMPTS),
            "restart-strategy.fixed-delay.delay": RESTART_DELAY,
        })
        if runtime.checkpoint_dir:
            conf["state.checkpoints.dir"] = _as_url(runtime.checkpoint_dir)
    if runtime.restore_from:
        conf["execution.savepoint.path"] = _as_url(runtime.restore_from)
    return conf


def create_environment(runtime: RuntimeConfig, **extra: str) -> StreamExecutionEnvironment:
    """A `StreamExecutionEnvironment` configured for `runtime` (plus `extra` Flink options)."""
    config = Configuration()
    for key, value in {**flink_configuration(runtime), **extra}.items():
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(runtime.parallelism)
    return env
