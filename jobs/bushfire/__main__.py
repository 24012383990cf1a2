"""Run the bushfire job: ``python -m jobs.bushfire --help`` locally, or on a Flink cluster
``flink run -py jobs/bushfire/__main__.py -pyfs <project dirs or zip> -- ...`` (see the README).
"""

from __future__ import annotations

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
    from jobs.bushfire.environment import create_environment  # pyflink imports: after --help
    from jobs.bushfire.parse_udf import choose_parser
    from jobs.bushfire.pipeline import build

    try:
        parser, jar = choose_parser(cfg.runtime.parser)
        env = create_environment(cfg.runtime, jars=[jar] if jar else [])
        build(env, cfg, parser)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run(env, cfg.runtime.max_runtime_ms)
    return 0


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
