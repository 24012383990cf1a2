"""Pinned Maven Central downloads (the Kinesis connector, the OpenSearch distribution), fetched with
`mvn dependency:get` into the repository's ignored Maven cache and checked against a SHA-256.

``python -m emberwatch_local.artifacts NAME`` fetches one (if needed) and prints its path; setup.sh
calls it. A file already cached with the right digest is never fetched again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from jobs.bushfire import connector


class FetchError(RuntimeError):
    """A pinned download could not be had or did not match its digest (the message is one line)."""


@dataclass(frozen=True)
class Artifact:
    """One Maven artifact and the SHA-256 we pinned for it."""

    group: str
    artifact: str
    version: str
    sha256: str
    extension: str = "jar"

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}:{self.extension}"

    def path(self, env: Mapping[str, str]) -> Path:
        return connector.maven_path(
            connector.maven_repo(env), self.group, self.artifact, self.version, self.extension
        )


KINESIS_CONNECTOR = Artifact(
    connector.KINESIS_CONNECTOR_GROUP,
    connector.KINESIS_CONNECTOR_ARTIFACT,
    connector.KINESIS_CONNECTOR_VERSION,
    connector.KINESIS_CONNECTOR_SHA256,
)
#: OpenSearch's own test distribution: the server without plugins (no security plugin) and without a
#: bundled JDK (runs on the machine's Java 17).
OPENSEARCH = Artifact(
    "org.opensearch.distribution.integ-test-zip",
    "opensearch",
    "2.19.2",
    "6435a558719d5371768b1eb8253db633525e77c25b1f4a2069c708087fbde38b",
    extension="zip",
)
ARTIFACTS = {"kinesis-connector": KINESIS_CONNECTOR, "opensearch": OPENSEARCH}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(artifact: Artifact, env: Mapping[str, str] | None = None, log=None) -> Path:
    """The artifact's path in the Maven cache, fetched first if missing; raises FetchError."""
    env = os.environ if env is None else env
    path = artifact.path(env)
    if not path.is_file():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise FetchError(f"cannot fetch {artifact.coordinates}: mvn is not installed (Debian: maven)")
        started = time.monotonic()
        argv = [mvn, "-q", "-B", f"-Dmaven.repo.local={connector.maven_repo(env)}", "dependency:get",
                f"-Dartifact={artifact.coordinates}", "-Dtransitive=false"]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not path.is_file():
            why = next((line for line in done.stdout.splitlines() if "ERROR" in line), "no output")
            raise FetchError(f"download of {artifact.coordinates} failed: {why.strip()[:300]}")
        if log:
            size_mb = path.stat().st_size / 1e6
            log(f"fetched {artifact.coordinates} ({size_mb:.1f} MB) in {time.monotonic() - started:.0f} s")
    actual = sha256_of(path)
    if actual != artifact.sha256:
        path.unlink()
        raise FetchError(f"{path.name}: SHA-256 {actual} is not the pinned {artifact.sha256}; removed it")
    return path


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    if len(names) != 1 or names[0] not in ARTIFACTS:
        print(f"usage: python -m emberwatch_local.artifacts {{{','.join(ARTIFACTS)}}}", file=sys.stderr)
        return 2
    try:
        print(fetch(ARTIFACTS[names[0]], log=lambda text: print(f"[setup] {text}", file=sys.stderr)))
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
