"""Run the bushfire job: ``python -m jobs.bushfire --help`` locally, or on a Flink cluster
``flink run -py jobs/bushfire/__main__.py -pyfs <project dirs or zip> -- ...`` (see docs/job.md).
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

if not __package__:  # run as a file (`flink run -py .../jobs/bushfire/__main__.py`): make `jobs` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv: Optional[list[str]] = None) -> int:
    """Load the configuration, build the pipeline, run it until it ends (bounded) or is cancelled."""
    from jobs.bushfire.config import load_config
    from jobs.bushfire.errors import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    warm_up = _import_in_background(PYTHON_WORKER_MODULE)  # while the JVM starts
    from jobs.bushfire.environment import create_environment  # pyflink imports: after --help
    from jobs.bushfire.jvm_startup import use_class_data_sharing
    from jobs.bushfire.parse_udf import choose_parser
    from jobs.bushfire.pipeline import build

    use_class_data_sharing()  # before PyFlink starts its JVM
    try:
        parser, jar = choose_parser(cfg.runtime.parser)
        env = create_environment(cfg.runtime, jars=[jar] if jar else [])
        build(env, cfg, parser)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    warm_up.join()
    run(env, cfg.runtime.max_runtime_ms)
    return 0


#: What a local run's Python worker imports first (PyFlink's loopback worker, Apache Beam): about two
#: seconds of imports that can overlap with the JVM's start instead of following it.
PYTHON_WORKER_MODULE = "pyflink.fn_execution.beam.beam_worker_pool_service"


def _import_in_background(module: str) -> threading.Thread:
    """Start importing `module` in a thread (Python's import lock makes a later import wait for it)."""
    thread = threading.Thread(target=importlib.import_module, args=(module,), name="warm-up", daemon=True)
    thread.start()
    return thread


def run(env, max_runtime_ms: Optional[int]) -> None:
    """Run the job to its end; cancel it after `max_runtime_ms` or on SIGTERM (outputs stay as far as
    they got: alerts already written remain, pending matches are not flushed)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client = env.execute_async("emberwatch-bushfire")
    result = client.get_job_execution_result()
    deadline = None if max_runtime_ms is None else time.monotonic() + max_runtime_ms / 1000
    while not result.done():
        if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
            why = "SIGTERM" if stop.is_set() else "--max-runtime reached"
            logging.getLogger(__name__).info("%s: cancelling the job", why)
            client.cancel().result()
            return
        time.sleep(0.2)
    result.result()  # raises if the job failed


if __name__ == "__main__":
    sys.exit(main())
