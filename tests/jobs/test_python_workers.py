"""Where a local run's Python operators run (`--python-workers`): with parallelism > 1 (auto) in
worker processes, so subtasks use separate cores; with parallelism 1, in the client (loopback).
A mini-cluster job reports the process ids its Python map ran in."""

from __future__ import annotations

import os

import pytest

from jobs.bushfire.config import load_config
from jobs.bushfire.environment import PYFLINK_WORKER_MODE


def _pids_of_python_map(argv: list[str]) -> set[int]:
    from pyflink.common import Types

    from jobs.bushfire.environment import create_environment

    env = create_environment(load_config(["--source", "file", "--input", "unused", *argv], env={}).runtime)
    numbers = env.from_collection(list(range(64)), type_info=Types.INT()).rebalance()
    pids = numbers.map(lambda _: os.getpid(), output_type=Types.INT())
    with pids.execute_and_collect() as results:
        return set(results)


@pytest.fixture
def restore_worker_mode():
    before = os.environ.get(PYFLINK_WORKER_MODE)
    yield
    if before is None:
        os.environ.pop(PYFLINK_WORKER_MODE, None)
    else:
        os.environ[PYFLINK_WORKER_MODE] = before


def test_parallelism_2_runs_python_operators_in_two_worker_processes(restore_worker_mode) -> None:
    pids = _pids_of_python_map(["--parallelism", "2"])
    assert os.getpid() not in pids and len(pids) == 2


def test_parallelism_1_runs_them_in_this_process(restore_worker_mode) -> None:
    assert _pids_of_python_map([]) == {os.getpid()}
