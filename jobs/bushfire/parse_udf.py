"""The `PARSE_READING` Java function: its jar, built from source on first use, and its registration.

Flink SQL's JSON functions parse a line again for every field they read; one streaming parse in Java
reads all fields at once and makes the job's JVM side about three times faster. The jar is compiled
here (``javac`` against Flink's own jars) rather than shipped as a binary, and cached under a name
that is the source's digest, so a changed source never runs an old jar. Without a JDK the job falls
back to the SQL parser (see `jobs.bushfire.parsing`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Optional

from pyflink.find_flink_home import _find_flink_home
from pyflink.table import StreamTableEnvironment

from jobs.bushfire.config import ParserChoice
from jobs.bushfire.errors import ConfigError
from jobs.bushfire.parsing import UDF_NAME, JvmParser

log = logging.getLogger(__name__)

CLASS_NAME = "emberwatch.flink.ParseReading"
SOURCE = Path(__file__).parent / "jvm" / "ParseReading.java"
#: Every Java source of the job (the parser and the ordered file source), compiled into one jar.
SOURCES = tuple(sorted(SOURCE.parent.glob("*.java")))
#: Flink 1.20 runs on Java 11 and 17 (EMR 7: 17); classes for 11 load on both.
JAVA_RELEASE = "11"
ENV_CACHE_DIR = "EMBERWATCH_CACHE_DIR"


class NoJdkError(ConfigError):
    """The jar is not built yet and there is no `javac` to build it."""


def cache_dir() -> Path:
    """Where built jars are kept: $EMBERWATCH_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache, /emberwatch."""
    configured = os.environ.get(ENV_CACHE_DIR)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "emberwatch"


def flink_lib_dir() -> Path:
    """Flink's lib/ folder: $FLINK_HOME/lib on a cluster (EMR: /usr/lib/flink), PyFlink's own locally."""
    return Path(_find_flink_home()) / "lib"


def jar_path(directory: Optional[Path] = None) -> Path:
    """The jar for the current source (its name carries the source's SHA-256)."""
    digest = hashlib.sha256(b"".join(source.read_bytes() for source in SOURCES)).hexdigest()[:16]
    return (directory or cache_dir()) / f"emberwatch-parse-reading-{digest}.jar"


def ensure_jar(directory: Optional[Path] = None) -> Path:
    """The jar, compiled now if it is not in the cache yet (about a second)."""
    target = jar_path(directory)
    if target.is_file():
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise NoJdkError(
            f"{UDF_NAME} needs a JDK to build once (no javac on PATH); install one "
            "(e.g. openjdk-17-jdk-headless or java-17-amazon-corretto-devel) or use --parser sql"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="emberwatch-javac-") as work:
        classes = Path(work) / "classes"
        command = [
            javac, "--release", JAVA_RELEASE, "-nowarn", "-encoding", "UTF-8",
            "-cp", str(flink_lib_dir() / "*"), "-d", str(classes), *map(str, SOURCES),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            names = ", ".join(source.name for source in SOURCES)
            raise ConfigError(f"compiling {names} failed:\n{result.stderr.strip()}")
        partial = target.with_name(f".{target.name}.{os.getpid()}")  # same folder: an atomic rename
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
        os.replace(partial, target)  # racing builds each rename a complete jar
    log.info("built %s", target)
    return target


def choose_parser(choice: ParserChoice) -> tuple[JvmParser, Optional[Path]]:
    """The JVM parser the job will use and the jar it needs: Java when asked, or when `auto` and a JDK
    is at hand (or the jar is built already); SQL otherwise, with a warning since it is slower.

    Choose before creating the execution environment: the jar must be on its class path (see
    `jobs.bushfire.environment.create_environment`).
    """
    if choice is ParserChoice.SQL:
        return JvmParser.SQL, None
    try:
        return JvmParser.JAVA, ensure_jar()
    except (NoJdkError, OSError) as exc:  # OSError: e.g. a read-only cache folder
        if choice is ParserChoice.JAVA:
            raise
        log.warning("%s; parsing with Flink SQL's JSON functions instead (slower)", exc)
        return JvmParser.SQL, None


def register_functions(t_env: StreamTableEnvironment, parser: JvmParser) -> None:
    """Declare the SQL functions `parser` uses in `t_env` (none for the SQL parser)."""
    if parser is JvmParser.JAVA:
        t_env.create_java_temporary_system_function(UDF_NAME, CLASS_NAME)


def main() -> None:
    """``python -m jobs.bushfire.parse_udf``: build the jar now (deployments do this once per node) and
    print its path; $EMBERWATCH_CACHE_DIR chooses the folder."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(ensure_jar())


if __name__ == "__main__":
    main()
