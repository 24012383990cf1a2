"""A class-data sharing (CDS) archive for PyFlink's local JVM: about two seconds less start-up.

A local run (``python -m jobs.bushfire``: the demo, the benchmark) starts PyFlink's gateway JVM,
which loads some 18,000 classes (Flink, Calcite, Beam) before the job does anything. The JDK can map
them from an archive instead (AppCDS). The first run asks its JVM to record the archive when it exits,
under a temporary name; a later run checks that file with a separate ``java -Xshare:on
-XX:+VerifySharedSpaces`` (a truncated archive would crash the JVM that maps it) and only then adopts
it. Under ``flink run`` no gateway JVM is started here, so nothing changes. ``EMBERWATCH_CDS=0`` turns
it off; the archive (~130 MB) lives in the same cache folder as the parser's jar, which keeps only
what is in use (`tidy_cache`).

The same local gateway JVM also compiles with C1 only (`use_quick_jit`): see `QUICK_JIT`.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from pyflink import pyflink_gateway_server as gateway_server

from jobs.bushfire.parse_udf import cache_dir

log = logging.getLogger(__name__)

ENV_SWITCH = "EMBERWATCH_CDS"
#: JIT option of the local gateway JVM: C1 only, no C2. On the 2-core benchmark machine the job is
#: CPU-bound on both cores, and C2 spent ~8 s of CPU per run (JVM CPU for the 1M-reading benchmark,
#: 2026-12-02: 20.7 s with C2, 12.6 s without) recompiling Flink, Calcite and Beam code that a run
#: leaves soon after, while the Python worker waited for a core. The JVM's per-line work (read, parse,
#: filter) is a few µs with C1 code too. JVM_ARGS of your own come after it, so
#: ``JVM_ARGS=-XX:TieredStopAtLevel=4`` brings C2 back; ``EMBERWATCH_QUICK_JIT=0`` leaves it out.
QUICK_JIT = "-XX:TieredStopAtLevel=1"
ENV_QUICK_JIT = "EMBERWATCH_QUICK_JIT"
#: A recording is adopted only once its file has not changed for this long (its JVM has finished).
SETTLED_S = 30
#: Archives (and recordings) of other class paths or JDKs not used for this long are removed.
UNUSED_DAYS = 7
ARCHIVE_PREFIX = "pyflink-gateway-"
_VERIFY_TIMEOUT_S = 120


def gateway_java_and_classpath() -> tuple[Optional[str], str]:
    """The java and class path PyFlink uses for its local gateway JVM (lib/*.jar, flink-python, Hadoop's)."""
    env = dict(os.environ)
    gateway_server.prepare_environment_variables(env)
    classpath = os.pathsep.join(
        [gateway_server.construct_flink_classpath(env), gateway_server.construct_hadoop_classpath(env)]
    )
    return shutil.which(gateway_server.find_java_executable()), classpath


def archive_path(java: str, classpath: str, directory: Optional[Path] = None) -> Path:
    """The archive for this JDK and class path (a new JDK or PyFlink gets a new archive)."""
    java_real = os.path.realpath(java)
    parts = [java_real, str(os.stat(java_real).st_mtime_ns)]
    for entry in classpath.split(os.pathsep):
        for jar in sorted(glob.glob(entry)) if entry else []:
            parts.append(f"{jar}:{os.stat(jar).st_size}")
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return (directory or cache_dir()) / f"{ARCHIVE_PREFIX}{digest}.jsa"


def verified(java: str, classpath: str, archive: Path) -> bool:
    """Whether a JVM with `classpath` maps `archive` cleanly (checked in a separate process)."""
    command = [
        java, f"-XX:SharedArchiveFile={archive}", "-Xshare:on", "-XX:+VerifySharedSpaces",
        "-cp", classpath, "-version",
    ]  # fmt: skip
    # A broken archive makes that JVM crash on purpose, and it leaves its crash report (hs_err_pid*.log)
    # in its working directory: a throwaway one.
    with tempfile.TemporaryDirectory(prefix="emberwatch-cds-check-") as scratch:
        try:
            done = subprocess.run(
                command, cwd=scratch, capture_output=True, timeout=_VERIFY_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0


def adopt_recording(java: str, classpath: str, archive: Path) -> bool:
    """Check a finished recording of `archive` and move it into place; drop it if it is broken."""
    for recording in sorted(archive.parent.glob(archive.name + ".*.recording")):
        if time.time() - recording.stat().st_mtime < SETTLED_S:
            continue  # perhaps still being written by the JVM that recorded it
        if verified(java, classpath, recording):
            os.replace(recording, archive)
            log.info("class-data sharing archive ready: %s", archive)
            return True
        log.info("dropping an unusable class-data sharing recording: %s", recording)
        recording.unlink(missing_ok=True)
    return False


def jvm_args(java: str, classpath: str, archive: Path) -> list[str]:
    """Options for the gateway JVM: map the archive, or record one when none is ready or pending."""
    quiet = "-Xlog:cds=off"  # recording lists every class it skips; mapping needs no comment either
    if archive.is_file() or adopt_recording(java, classpath, archive):
        tidy_cache(archive)
        return [quiet, f"-XX:SharedArchiveFile={archive}"]
    if any(archive.parent.glob(archive.name + ".*.recording")):
        return []  # a recording is on its way; do not start another one
    archive.parent.mkdir(parents=True, exist_ok=True)
    return [quiet, f"-XX:ArchiveClassesAtExit={archive}.{os.getpid()}.recording"]


def tidy_cache(archive: Path, now: Optional[float] = None) -> None:
    """Remove the archives' files nobody needs any more (each is ~130-150 MB), `archive` being in use:

    * its other recordings, once finished: JVMs that started together (parallel tests, two jobs) each
      recorded one, and only one was adopted;
    * other archives and recordings not used for `UNUSED_DAYS` (another JDK or PyFlink, or a
      virtualenv since deleted, has its own class path and so its own archive).

    Using an archive refreshes its time stamp. A file another JVM still maps stays readable to it
    after removal (Linux keeps an open file until it is closed)."""
    now = time.time() if now is None else now
    with contextlib.suppress(OSError):
        os.utime(archive, (now, now))
    for path in archive.parent.glob(ARCHIVE_PREFIX + "*"):
        if path == archive or not path.name.endswith((".jsa", ".recording")):
            continue
        try:
            age = now - path.stat().st_mtime
            if (path.name.startswith(archive.name + ".") and age > SETTLED_S) or age > UNUSED_DAYS * 86_400:
                path.unlink()
        except OSError:  # gone meanwhile, or not ours to remove: leave it
            continue


def use_class_data_sharing() -> None:
    """Add the CDS options to ``JVM_ARGS`` before PyFlink starts its local gateway JVM."""
    if os.environ.get(ENV_SWITCH, "1") == "0" or "PYFLINK_GATEWAY_PORT" in os.environ:
        return  # off, or a gateway already exists (flink run)
    try:
        java, classpath = gateway_java_and_classpath()
        if java is None:
            return
        options = jvm_args(java, classpath, archive_path(java, classpath))
    except OSError as exc:  # e.g. a read-only cache folder: start as usual
        log.info("no class-data sharing: %s", exc)
        return
    os.environ["JVM_ARGS"] = " ".join([os.environ.get("JVM_ARGS", ""), *options]).strip()


def use_quick_jit() -> None:
    """Put `QUICK_JIT` in ``JVM_ARGS`` ahead of what is there, before PyFlink starts its local JVM."""
    if os.environ.get(ENV_QUICK_JIT, "1") == "0" or "PYFLINK_GATEWAY_PORT" in os.environ:
        return  # off, or a gateway already exists (flink run)
    os.environ["JVM_ARGS"] = " ".join([QUICK_JIT, os.environ.get("JVM_ARGS", "")]).strip()
