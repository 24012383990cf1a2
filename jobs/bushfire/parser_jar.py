"""The job's Java functions (``jobs/bushfire/jvm/*.java``) compiled into one jar when the package is built.

``setup.py`` runs :func:`build_jar` as a build step (``pip install .``, ``pip install -e .``, ``python -m
build``), so the jar ships as package data next to its sources and the job never compiles at start. The
jar records the SHA-256 of the sources it was built from: a jar older than the sources is refused at
job start instead of running old code. Every ``.java`` file of the folder goes in.

Only the standard library is imported here: ``setup.py`` loads this file on its own, before anything
of the project (or PyFlink) can be imported. ``python -m jobs.bushfire.parser_jar`` rebuilds the jar
in place, for a source tree whose Java files changed since it was installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Optional

JVM_DIR = Path(__file__).resolve().parent / "jvm"
JAR_NAME = "emberwatch-parse-reading.jar"
#: Flink 1.20 runs on Java 11 and 17 (EMR 7: 17); classes for 11 load on both.
JAVA_RELEASE = "11"
#: The jar entry holding the digest of the sources it was compiled from.
DIGEST_ENTRY = "META-INF/emberwatch-sources.sha256"
BUILD_HINT = (
    "build it with the package: `pip install -e .` (or `pip install .`) with a JDK's javac on PATH, or "
    "`python -m jobs.bushfire.parser_jar` in a source tree"
)
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # jar entries' timestamps: the same sources give the same bytes


class JarBuildError(Exception):
    """The jar cannot be built; the message says what is missing."""


class NoJdkError(JarBuildError):
    """No ``javac`` on PATH."""


def packaged_jar() -> Path:
    """Where the jar lives: next to its sources in the installed (or editable) package."""
    return JVM_DIR / JAR_NAME


def java_sources(jvm_dir: Path = JVM_DIR) -> list[Path]:
    """Every ``.java`` file of the folder, in a fixed order."""
    return sorted(jvm_dir.glob("*.java"))


def sources_digest(jvm_dir: Path = JVM_DIR) -> Optional[str]:
    """SHA-256 over the sources' names and bytes; None when the folder has no sources (e.g. stripped)."""
    sources = java_sources(jvm_dir)
    if not sources:
        return None
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def jar_digest(jar: Path) -> Optional[str]:
    """The sources' digest recorded in ``jar`` (None for a jar without one)."""
    with zipfile.ZipFile(jar) as archive:
        if DIGEST_ENTRY not in archive.namelist():
            return None
        return archive.read(DIGEST_ENTRY).decode().strip()


def is_current(jar: Path, jvm_dir: Path = JVM_DIR) -> bool:
    """True when ``jar`` was built from the sources now in ``jvm_dir`` (or the sources are not shipped)."""
    wanted = sources_digest(jvm_dir)
    return wanted is None or jar_digest(jar) == wanted


def flink_lib_dir() -> Path:
    """Flink's jars to compile against: $FLINK_HOME/lib on a Flink install, else PyFlink's own lib/."""
    home = os.environ.get("FLINK_HOME")
    if home and (Path(home) / "lib").is_dir():
        return Path(home) / "lib"
    spec = importlib.util.find_spec("pyflink")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "lib").is_dir():
            return Path(location) / "lib"
    raise JarBuildError(
        "Flink's jars are needed to compile the parser: install apache-flink (PyFlink) or set FLINK_HOME"
    )


def build_jar(target: Path, jvm_dir: Path = JVM_DIR, flink_lib: Optional[Path] = None) -> Path:
    """Compile every source of ``jvm_dir`` against Flink's jars into ``target`` (about two seconds).

    The jar is written next to ``target`` and renamed into place, so a reader never sees half a jar.
    """
    sources = java_sources(jvm_dir)
    if not sources:
        raise JarBuildError(f"no .java sources in {jvm_dir}")
    javac = shutil.which("javac")
    if javac is None:
        raise NoJdkError(
            "the parser's jar needs a JDK to build (no javac on PATH); install one (e.g. "
            "openjdk-17-jdk-headless or java-17-amazon-corretto-devel) and build again"
        )
    lib = flink_lib or flink_lib_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="emberwatch-javac-") as work:
        classes = Path(work) / "classes"
        command = [
            javac, "--release", JAVA_RELEASE, "-nowarn", "-encoding", "UTF-8",
            "-cp", str(lib / "*"), "-d", str(classes), *map(str, sources),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            names = ", ".join(path.name for path in sources)
            raise JarBuildError(f"compiling {names} failed:\n{result.stderr.strip()}")
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        with zipfile.ZipFile(partial, "w") as jar:
            _add(jar, DIGEST_ENTRY, (sources_digest(jvm_dir) or "") + "\n")
            for path in sorted(classes.rglob("*.class")):
                _add(jar, path.relative_to(classes).as_posix(), path.read_bytes())
        os.replace(partial, target)
    return target


def _add(jar: zipfile.ZipFile, name: str, data: bytes | str) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    jar.writestr(info, data)


def main() -> int:
    """Rebuild the packaged jar in place and print its path."""
    jar = packaged_jar()
    try:
        print(build_jar(jar, jar.parent))
    except JarBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
