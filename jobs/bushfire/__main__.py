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
    """Load the configuration, check it, build the pipeline, run it until it ends or is stopped.

    Exit codes: 0 done, 2 a mistake in the configuration or its paths/endpoints (one line says what to
    do), 1 the job failed while running (its root cause on one line, the trace in the log file).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    try:
        return _main(args)
    except Exception as exc:
        from jobs.bushfire.errors import ConfigError
        from jobs.bushfire.run_report import root_cause

        log.debug("the job failed", exc_info=True)  # the log file keeps the whole trace
        if debug:
            raise
        if isinstance(exc, ConfigError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"error: the job failed: {root_cause(exc)}", file=sys.stderr)
        print("(the full trace is in the --log-file; run with --debug to see it here)", file=sys.stderr)
        return 1


def _main(args: list[str]) -> int:
    from jobs.bushfire.config import load_config
    from jobs.bushfire.preflight import check_all
    from jobs.bushfire.run_report import RunReport, configure_logging

    cfg = load_config(args)
    configure_logging(cfg.runtime.log_file, cfg.runtime.debug)
    check_all(cfg)
    report = RunReport(cfg)
    report.create_outputs()
    report.scan_input_meanwhile()  # the summary's input counts, while the JVM starts and the job runs
    warm_up = _import_in_background(PYTHON_WORKER_MODULE)  # while the JVM starts
    from jobs.bushfire.environment import create_environment  # pyflink imports: after --help
    from jobs.bushfire.jvm_startup import use_class_data_sharing, use_quick_jit
    from jobs.bushfire.parse_udf import choose_parser
    from jobs.bushfire.pipeline import build

    use_quick_jit()  # before PyFlink starts its JVM
    use_class_data_sharing()
    parser, jar = choose_parser(cfg.runtime.parser)
    env = create_environment(cfg.runtime, jars=[jar] if jar else [])
    build(env, cfg, parser)
    warm_up.join()
    how = run(env, cfg.runtime.max_runtime_ms, report, cfg.runtime.progress_interval_ms)
    log.info("%s", report.summary(how))
    return 0


#: What a local run's Python worker imports first (PyFlink's loopback worker, Apache Beam): about two
#: seconds of imports that can overlap with the JVM's start instead of following it.
PYTHON_WORKER_MODULE = "pyflink.fn_execution.beam.beam_worker_pool_service"


def _import_in_background(module: str) -> threading.Thread:
    """Start importing `module` in a thread (Python's import lock makes a later import wait for it)."""
    thread = threading.Thread(target=importlib.import_module, args=(module,), name="warm-up", daemon=True)
    thread.start()
    return thread


def run(env, max_runtime_ms: Optional[int], report=None, progress_interval_ms: Optional[int] = None) -> str:
    """Run the job to its end; cancel it after `max_runtime_ms` or on SIGTERM/SIGINT (outputs stay as
    far as they got: alerts already written remain, pending matches are not flushed). Logs a progress
    line every `progress_interval_ms`. Returns how the run ended ("finished", "stopped by SIGTERM"...)."""
    stop: list[str] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: stop.append(signal.Signals(number).name))
    client = env.execute_async("emberwatch-bushfire")
    result = client.get_job_execution_result()
    deadline = None if max_runtime_ms is None else time.monotonic() + max_runtime_ms / 1000
    every = (progress_interval_ms or 0) / 1000
    next_progress = time.monotonic() + every
    while not result.done():
        if stop or (deadline is not None and time.monotonic() >= deadline):
            why = f"stopped by {stop[0]}" if stop else "stopped at --max-runtime"
            log.info("%s: cancelling the job", why)
            client.cancel().result()
            return why
        if report is not None and every and time.monotonic() >= next_progress:
            log.info("%s", report.progress())
            next_progress += every
        time.sleep(0.2)
    result.result()  # raises if the job failed
    return "finished"


log = logging.getLogger("jobs.bushfire.run")


if __name__ == "__main__":
    sys.exit(main())
