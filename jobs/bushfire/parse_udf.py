"""The `PARSE_READING` Java function: finding its jar, choosing the parser, and its registration.

Flink SQL's JSON functions parse a line again for every field they read; one streaming parse in Java
reads all fields at once and makes the job's JVM side about three times faster. Its jar is built with
the package (`jobs.bushfire.parser_jar`, run by setup.py), never at job start; without it the job
parses with SQL (`--parser auto`) or stops, saying how to build it (`--parser java`).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import os
import zipimport
from pathlib import Path
from typing import Optional

from pyflink.table import StreamTableEnvironment

from jobs.bushfire import parser_jar
from jobs.bushfire.config import ParserChoice
from jobs.bushfire.errors import ConfigError
from jobs.bushfire.parsing import UDF_NAME, JvmParser

log = logging.getLogger(__name__)

CLASS_NAME = "emberwatch.flink.ParseReading"
ENV_CACHE_DIR = "EMBERWATCH_CACHE_DIR"


class MissingJarError(ConfigError):
    """The package was built without the parser's jar (no JDK at build time)."""


class StaleJarError(ConfigError):
    """The jar was built from other sources than the ones installed next to it."""


def cache_dir() -> Path:
    """Where the job keeps what it builds at run time (the JVM's class-data archive):
    $EMBERWATCH_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache, /emberwatch."""
    configured = os.environ.get(ENV_CACHE_DIR)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "emberwatch"


def packaged_jar() -> Path:
    """The jar built with the package. Imported from a zip (``flink run -pyfs job.zip`` puts the zip
    ahead of site-packages on the client's PYTHONPATH), the package's jar is copied out of the zip into
    `cache_dir`, named by its digest, since the JVM needs a file."""
    jar = parser_jar.packaged_jar()
    if jar.is_file() or not isinstance(__loader__, zipimport.zipimporter):
        return jar
    resource = importlib.resources.files("jobs.bushfire") / "jvm" / parser_jar.JAR_NAME
    if not resource.is_file():
        return jar  # missing: find_jar says how to build it
    data = resource.read_bytes()
    target = cache_dir() / f"emberwatch-parse-reading-{hashlib.sha256(data).hexdigest()[:16]}.jar"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_bytes(data)
        os.replace(partial, target)  # racing copies each rename a complete jar
    return target


def find_jar(jar: Optional[Path] = None) -> Path:
    """The parser's jar built with the package, checked against the sources installed next to it."""
    jar = jar or packaged_jar()
    if not jar.is_file():
        hint = parser_jar.BUILD_HINT
        raise MissingJarError(f"{UDF_NAME}'s jar {jar} is missing: {hint}; or use --parser sql")
    if not parser_jar.is_current(jar, jar.parent):
        hint = parser_jar.BUILD_HINT
        raise StaleJarError(f"{jar} was built from other Java sources than those in {jar.parent}: {hint}")
    return jar


def choose_parser(choice: ParserChoice, jar: Optional[Path] = None) -> tuple[JvmParser, Optional[Path]]:
    """The JVM parser the job will use and the jar it needs: Java when asked, or when `auto` and the
    package was built with its jar; SQL otherwise, with a warning since it is slower. A jar older than
    its sources is an error either way: it would run code the tree no longer holds.

    Choose before creating the execution environment: the jar must be on its class path (see
    `jobs.bushfire.environment.create_environment`).
    """
    if choice is ParserChoice.SQL:
        return JvmParser.SQL, None
    try:
        return JvmParser.JAVA, find_jar(jar)
    except MissingJarError as exc:
        if choice is ParserChoice.JAVA:
            raise
        log.warning("%s; parsing with Flink SQL's JSON functions instead (slower)", exc)
        return JvmParser.SQL, None


def register_functions(t_env: StreamTableEnvironment, parser: JvmParser) -> None:
    """Declare the SQL functions `parser` uses in `t_env` (none for the SQL parser)."""
    if parser is JvmParser.JAVA:
        t_env.create_java_temporary_system_function(UDF_NAME, CLASS_NAME)
