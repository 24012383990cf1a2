"""The recovery drill is its own step, in the job graph only when asked for (`--crash-after-alerts`).

That the drill really fails the job once and recovers without losing or repeating an alert is
`tests/jobs/test_job.py::test_a_failure_and_restart_loses_and_repeats_no_alert`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from jobs.bushfire.config import load_config
from jobs.bushfire.parsing import JvmParser
from jobs.bushfire.pipeline import build
from tests.support.flink import local_env

pytestmark = pytest.mark.pyflink


def _operators(tmp_path: Path, *extra: str) -> list[str]:
    cfg = load_config(["--source", "file", "--input", str(tmp_path / "in"), *extra], env={})
    env = local_env()
    build(env, cfg, JvmParser.SQL)
    nodes = json.loads(env.get_execution_plan())["nodes"]
    return [re.sub(r"^\[\d+\]:", "", node["contents"]) for node in nodes]  # without the table ids


def test_the_crash_drill_is_a_step_only_when_asked_for(tmp_path: Path) -> None:
    durable = ("--checkpoint-interval", "1s", "--checkpoint-dir", str(tmp_path / "ckpt"))
    plain = _operators(tmp_path, *durable)
    assert "alerts" in plain and "crash-drill" not in plain
    drill = _operators(tmp_path, *durable, "--crash-after-alerts", "3")
    assert drill.index("alerts") < drill.index("crash-drill") < drill.index("Sink: console")
    assert not [name for name in plain if name not in drill]  # nothing else goes
