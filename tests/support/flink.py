"""PyFlink's local mini-cluster, set up the same way for every suite's mini-cluster tests.

The JVM (py4j gateway) starts once per test session and is reused, so each job costs only its own
run time. Every environment gets `python.executable` = this interpreter (PyFlink otherwise starts
`python` from PATH) and the project root on the Python workers' `sys.path` (so `cep`, `jobs` and
`simulator` import inside UDFs without shipping copies of the sources).
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: The environment before any job ran here. A job's loopback Python worker runs inside the test
#: process and leaves variables behind (PYFLINK_GATEWAY_DISABLED, the loopback server's address), and a
#: `python -m jobs.bushfire` started with those would refuse to launch its own JVM.
ENV_BEFORE_JOBS = dict(os.environ)


def worker_pythonpath() -> str:
    """The project root, then this interpreter's site-packages.

    Process mode starts workers with `python.executable`, which finds its own site-packages; thread
    mode embeds the base interpreter (pemja), which does not see a virtualenv's packages unless told.
    """
    return os.pathsep.join([str(PROJECT_ROOT), *site.getsitepackages()])


# Keep mini-cluster jobs light on the shared 2-core machine: small managed memory, few network buffers.
LOCAL_DEFAULTS = {
    "python.executable": sys.executable,
    "python.client.executable": sys.executable,
    "python.pythonpath": worker_pythonpath(),
    "taskmanager.memory.managed.size": "64m",
    "taskmanager.memory.network.min": "32m",
    "taskmanager.memory.network.max": "32m",
    "python.fn-execution.bundle.time": "50",
}


def local_env(parallelism: int = 1, **conf: str) -> StreamExecutionEnvironment:
    """Return a `StreamExecutionEnvironment` on the local mini-cluster, ready for Python UDFs.

    Parameters
    ----------
    parallelism:
        Default parallelism of the job's operators.
    **conf:
        Extra Flink options; dots in option names are written as `__` (e.g.
        ``execution__checkpointing__interval="200ms"``) or pass a literal name with ``**{"a.b": "c"}``.

    Example
    -------
    >>> env = local_env(**{"python.execution-mode": "thread"})
    """
    config = Configuration()
    for key, value in {**LOCAL_DEFAULTS, **{k.replace("__", "."): v for k, v in conf.items()}}.items():
        config.set_string(key, str(value))
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(parallelism)
    return env


def local_table_env(env: StreamExecutionEnvironment) -> StreamTableEnvironment:
    """A streaming `StreamTableEnvironment` over `env`, for jobs that read and parse input in the JVM."""
    return StreamTableEnvironment.create(env)
