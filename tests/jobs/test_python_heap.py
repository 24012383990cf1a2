"""The CEP step settles its worker's heap when it opens (`jobs.bushfire.python_heap`): the objects alive
then (the imports) are frozen out of every later collection, and young collections come less often.
Run in a fresh interpreter: the settings are the process's own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_OPEN_THE_STEP = """
import gc, json
from jobs.bushfire import functions, patterns
from jobs.bushfire.config import load_config
from jobs.bushfire.python_heap import YOUNG_THRESHOLD
from tests.flink.stand_ins import Runtime

class Context(Runtime):
    def add_group(self, name):
        return self

before = {"frozen": gc.get_freeze_count(), "young": gc.get_threshold()[0]}
cfg = load_config([], env={})
stages = patterns.stage_names(cfg.detection.chain_length)
step = functions.CheckAndDetect(
    "bushfire-cep", 3_600_000, patterns.fire_chain(cfg.detection),
    functions.AlertOncePerPath(stages, 3_600_000), early_results=True,
)
tracked = len(gc.get_objects())
step.open(Context())
frozen_once = gc.get_freeze_count()
tracked_after = len(gc.get_objects())
functions.CheckAndDetect(
    "bushfire-cep", 3_600_000, patterns.fire_chain(cfg.detection),
    functions.AlertOncePerPath(stages, 3_600_000),
).open(Context())
print(json.dumps({
    "before": before, "frozen": frozen_once, "frozen_after_second_open": gc.get_freeze_count(),
    "young": gc.get_threshold()[0], "expected_young": YOUNG_THRESHOLD,
    "tracked_before_open": tracked, "tracked_after_open": tracked_after,
}))
"""


def test_opening_the_cep_step_freezes_the_start_up_heap_once_and_raises_the_young_threshold() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_THE_STEP],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == {"frozen": 0, "young": 700}  # CPython's defaults in a fresh interpreter
    # what was imported before the step opened is frozen, and no longer among the collected objects
    assert seen["frozen"] >= seen["tracked_before_open"] // 2 > 10_000
    assert seen["tracked_after_open"] < seen["tracked_before_open"] // 10
    assert seen["frozen_after_second_open"] == seen["frozen"]  # once per process
    assert seen["young"] == seen["expected_young"] > 700
