"""The Flink execution environment for the job: runtime settings as Flink configuration."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway
from pyflink.util.java_utils import (
    add_jars_to_context_class_loader,
    get_j_env_configuration,
    is_local_deployment,
)

from jobs.bushfire.config import PythonWorkers, RuntimeConfig
from jobs.bushfire.errors import ConfigError

#: Restart attempts (fixed delay) when checkpointing is on; without checkpoints a failure ends the job.
RESTART_ATTEMPTS = 3
RESTART_DELAY = "2 s"


def _as_url(path: str) -> str:
    return path if "://" in path else Path(path).resolve().as_uri()


#: PyFlink state objects cached per Python worker: five states for each of the 16,384 keys the CEP step
#: keeps in memory (`cep.flink.operator.KEYS_IN_MEMORY`). An entry is one key's handle on one state; the
#: soak (bench/soak.py) prints what the Python processes hold with it.
PYTHON_STATE_CACHE_ENTRIES = 5 * 16384


def flink_configuration(runtime: RuntimeConfig) -> dict[str, str]:
    """Flink options for `runtime` (parallelism, Python, jars, checkpoints, restarts, restore, and the
    user's own `--flink-option` values)."""
    python = runtime.python_executable or sys.executable
    conf = {
        "pipeline.name": "emberwatch-bushfire",
        "parallelism.default": str(runtime.parallelism),
        "python.executable": python,
        "python.client.executable": python,
        # Chained JVM operators hand records on without copying them: the SQL operators are written for
        # it, and the Python operators serialize what they receive.
        "pipeline.object-reuse": "true",
        # Python bundles of up to 1M elements instead of Flink's 100k. Every bundle ends with their state
        # written back to the JVM and waited for, so a bounded run wants long ones (10 s) and a live
        # one short ones (100 ms: alerts within a second or two);
        # `RuntimeConfig.bundle_time_ms` says which (config.LIVE_BUNDLE_MS, BOUNDED_BUNDLE_MS).
        "python.fn-execution.bundle.size": "1000000",
        "python.fn-execution.bundle.time": str(runtime.bundle_time_ms),
        # PyFlink keeps a key's state objects in an LRU of `python.state.cache-size` entries (Flink's
        # default 1,000), one entry per state per key: the CEP step has five states, so only 200 keys
        # fit. Past that, every change of key evicts one and waits for its write to the JVM. With
        # 1,200 regions (the soak) that cost the Python step 40 % of its CPU (docs/robustness.md).
        "python.state.cache-size": str(PYTHON_STATE_CACHE_ENTRIES),
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
    conf.update(runtime.flink_options)  # the user's --flink-option values have the last word
    return conf


def create_environment(
    runtime: RuntimeConfig, jars: Sequence[Path] = (), **extra: str
) -> StreamExecutionEnvironment:
    """A `StreamExecutionEnvironment` configured for `runtime` (plus `extra` Flink options) that ships
    `jars` (the parser's UDF jar) with the job, besides the connector jars.

    On a local mini-cluster the environment's class loader must see the jars too: with checkpoints on,
    Flink compiles the SQL operators' generated code, which names the UDF class, while it builds the
    job graph (FLINK-28897), and a local environment would use the JVM's own class path. Under
    ``flink run`` the context environment's class loader comes from ``--jarfile``/``-C`` instead.
    """
    options = flink_configuration(runtime)
    urls = [_as_url(str(jar)) for jar in jars]
    if urls:
        options["pipeline.jars"] = ";".join(filter(None, [options.get("pipeline.jars"), *urls]))
    config = Configuration()
    for key, value in {**options, **extra}.items():
        config.set_string(key, value)
    os.environ.pop(PYFLINK_WORKER_MODE, None)  # PyFlink's own choice, whatever an earlier job asked
    env = StreamExecutionEnvironment.get_execution_environment(config)
    if urls and _is_local(env):  # the connector jars too: py4j builds the Kinesis consumer through it
        env = _local_environment_seeing(options["pipeline.jars"].split(";"), config)
    env.set_parallelism(runtime.parallelism)
    _choose_python_workers(env, python_worker_mode(runtime, _runs_on_a_mini_cluster(env)))
    return env


def _choose_python_workers(env: StreamExecutionEnvironment, mode: Optional[str]) -> None:
    """Tell PyFlink where the Python operators run. It reads `PYFLINK_WORKER_MODE` when it builds an
    environment (this one, and the table environment built on it later), and a local one has by then
    started a loopback worker and named it in the configuration: for worker processes that name goes."""
    if mode is None:
        return
    os.environ[PYFLINK_WORKER_MODE] = mode
    if mode == "process":
        Configuration(
            j_configuration=get_j_env_configuration(env._j_stream_execution_environment)
        ).remove_config(LOOPBACK_ADDRESS)


#: The environment variable PyFlink reads when it starts a job (`StreamExecutionEnvironment._open`):
#: "loopback" runs a local job's Python operators in this process, "process" in worker processes.
PYFLINK_WORKER_MODE = "_python_worker_execution_mode"
#: Where a local environment's loopback worker listens; with it set, Python operators run there.
LOOPBACK_ADDRESS = "python.loopback-server.address"


def python_worker_mode(runtime: RuntimeConfig, local: bool) -> Optional[str]:
    """The worker mode to ask PyFlink for, or None to leave its choice (loopback on a mini-cluster).

    In loopback mode every subtask's Python operators share the client process and its GIL, so a
    parallelism of 2 gives the Python steps no second core; worker processes do (as on a cluster).
    """
    if not local:
        if runtime.python_workers is PythonWorkers.LOOPBACK:
            raise ConfigError(
                "--python-workers loopback works on a local run only: a cluster runs Python in "
                "worker processes; drop the flag or use auto/process"
            )
        return None
    if runtime.python_workers is PythonWorkers.AUTO:
        return "process" if runtime.parallelism > 1 else None
    return runtime.python_workers.value


def _runs_on_a_mini_cluster(env: StreamExecutionEnvironment) -> bool:
    """PyFlink's own test for starting a loopback worker (deployment target local or minicluster)."""
    return bool(is_local_deployment(get_j_env_configuration(env._j_stream_execution_environment)))


def _is_local(env: StreamExecutionEnvironment) -> bool:
    return env._j_stream_execution_environment.getClass().getSimpleName() == "LocalStreamEnvironment"


def _local_environment_seeing(urls: list[str], config: Configuration) -> StreamExecutionEnvironment:
    """A local environment whose user class loader also loads `urls` (what LocalStreamEnvironment is,
    built through the public constructor that takes a class loader)."""
    add_jars_to_context_class_loader(urls)
    jvm = get_gateway().jvm
    config.set_string("execution.target", "local")
    config.set_string("execution.attached", "true")
    loader = jvm.Thread.currentThread().getContextClassLoader()
    j_env = jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment(
        config._j_configuration, loader
    )
    return StreamExecutionEnvironment(j_env)
