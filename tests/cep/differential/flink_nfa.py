"""Flink's own CEP NFA as an oracle: the Java driver in tools/flink-nfa-driver, built and run from Python.

The driver is compiled with ``javac`` against the flink-cep and flink-dist jars that ship in PyFlink's
``lib`` folder, and the class files are cached under ``.cache/flink-nfa-driver/<source digest>`` in
the repository (ignored by git), so a changed source never runs stale classes. One JVM runs a whole
batch of cases (JSON lines in, JSON lines out), so hundreds of cases take seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from pyflink.find_flink_home import _find_flink_home

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "tools" / "flink-nfa-driver" / "FlinkNfaDriver.java"
MAIN_CLASS = "emberwatch.difftest.FlinkNfaDriver"
JARS = ("flink-cep-*.jar", "flink-dist-*.jar")
CACHE = ROOT / ".cache" / "flink-nfa-driver"


class DriverError(RuntimeError):
    """The driver could not be built or did not answer for every case."""


def flink_classpath() -> list[Path]:
    """flink-cep and flink-dist from PyFlink's lib folder: the NFA and the core classes it needs."""
    lib = Path(_find_flink_home()) / "lib"
    found = [path for pattern in JARS for path in sorted(lib.glob(pattern))]
    if len(found) != len(JARS):
        raise DriverError(f"expected flink-cep and flink-dist jars in {lib}, found {found}")
    return found


def ensure_classes() -> Path:
    """The folder of compiled driver classes for the current source, compiled now if missing."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    target = CACHE / digest
    if target.is_dir():
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise DriverError("the Flink NFA driver needs a JDK (javac); run scripts/setup.sh's ensure_javac")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=CACHE))
    classpath = os.pathsep.join(str(p) for p in flink_classpath())
    command = [javac, "--release", "11", "-nowarn", "-encoding", "UTF-8", "-cp", classpath,
               "-d", str(work), str(SOURCE)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise DriverError(f"compiling {SOURCE.name} failed:\n{result.stderr.strip()}")
    try:
        work.rename(target)  # atomic: a racing build leaves one complete folder
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return target


def run_cases(cases: Iterable[dict], timeout: float = 600.0) -> list[dict]:
    """Run cases through Flink's NFA in one JVM; one result per case, in order.

    A result has ``matches`` and ``timeouts`` (lists of sorted id lists, in the order Flink released
    them), or ``error`` with ``stage`` (build, compile, run) and the exception's ``class``/``message``.
    """
    cases = list(cases)
    if not cases:
        return []
    classpath = os.pathsep.join([str(ensure_classes())] + [str(p) for p in flink_classpath()])
    java = shutil.which("java")
    if java is None:
        raise DriverError("no java on PATH")
    payload = "".join(json.dumps(case) + "\n" for case in cases)
    result = subprocess.run(
        [java, "-Xss8m", "-cp", classpath, MAIN_CLASS],
        input=payload, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or len(lines) != len(cases):
        raise DriverError(
            f"driver exited {result.returncode} with {len(lines)} of {len(cases)} results:\n"
            f"{result.stderr.strip()[-2000:]}"
        )
    return [json.loads(line) for line in lines]
