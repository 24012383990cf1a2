"""The Kinesis connector jar the job runs with: one pinned version and SHA-256, one place to find it.

`scripts/setup.sh` (``ensure_kinesis_connector``) fetches it with Maven into the repository's ignored
Maven cache (``.cache/m2``) and checks the digest; the EMR bootstrap pins the same version and digest
(tests/infra check they agree). With ``--source kinesis`` and no ``--connector-jars``, the job uses the
cached jar when it is there, so a local run needs no flag.

Why 4.0.0-1.16 and not a 5.x-1.20 release: the registry this project builds from serves only
4.0.0-1.16 (and 1.16.1) of ``flink-sql-connector-kinesis``; 5.0.0-1.20, 5.1.0-1.20 and 5.0.0-1.19 are
refused. Its legacy ``FlinkKinesisConsumer`` (the class PyFlink 1.20 wraps) runs on Flink 1.20's
``SourceFunction`` API, which the tests show end to end against kinesis-local.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

KINESIS_CONNECTOR_GROUP = "org.apache.flink"
KINESIS_CONNECTOR_ARTIFACT = "flink-sql-connector-kinesis"
KINESIS_CONNECTOR_VERSION = "4.0.0-1.16"
KINESIS_CONNECTOR_SHA256 = "8ce0499c6fc3e7c7c4b17c138c152a2a4d6ee3095e374aaf7503265f112b4261"
KINESIS_CONNECTOR_JAR = f"{KINESIS_CONNECTOR_ARTIFACT}-{KINESIS_CONNECTOR_VERSION}.jar"

#: Where the Maven cache lives (default: ``.cache/m2`` in the repository).
ENV_MAVEN_REPO = "EMBERWATCH_MAVEN_REPO"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def maven_repo(env: Mapping[str, str]) -> Path:
    """The local Maven repository the project's downloads go to."""
    return Path(env.get(ENV_MAVEN_REPO) or PROJECT_ROOT / ".cache" / "m2")


def maven_path(repo: Path, group: str, artifact: str, version: str, extension: str = "jar") -> Path:
    """Where Maven puts `group:artifact:version` in the local repository `repo`."""
    return repo.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.{extension}")


def kinesis_connector_jar(env: Mapping[str, str]) -> Path:
    """The pinned connector jar's path in the Maven cache (it may not be there yet)."""
    return maven_path(
        maven_repo(env), KINESIS_CONNECTOR_GROUP, KINESIS_CONNECTOR_ARTIFACT, KINESIS_CONNECTOR_VERSION
    )


def default_connector_jars(reads_kinesis: bool, env: Mapping[str, str]) -> tuple[str, ...]:
    """The cached connector jar when the job reads Kinesis and it was fetched; else nothing (on EMR
    the steps pass ``--connector-jars``)."""
    if not reads_kinesis:
        return ()
    jar = kinesis_connector_jar(env)
    return (str(jar),) if jar.is_file() else ()
