"""A real OpenSearch 2.19 node from the distribution Maven Central serves, run on the machine's JDK.

The node listens on 127.0.0.1 only (so OpenSearch skips its production bootstrap checks), as a single
node, with its own config, data and log folders under `instance_dir`. OpenSearch refuses to run as
root, so as root it runs as ``nobody`` (setpriv, util-linux) and its folders are handed to that user.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from emberwatch_local.artifacts import OPENSEARCH, fetch
from jobs.bushfire.connector import maven_repo

#: Heap of the local node: enough for the demo and the tests, small for a shared 2-core machine.
HEAP = "512m"
UNPRIVILEGED_USER = "nobody"


class NoJdkError(RuntimeError):
    """No Java runtime to run OpenSearch on."""


def java_home() -> Path:
    """JAVA_HOME, else the JDK that `java` on PATH belongs to."""
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    if java is None:
        raise NoJdkError("no JDK: install Java 17 (Debian: openjdk-17-jdk-headless) or set JAVA_HOME")
    return Path(java).resolve().parents[1]


def others_can_enter(path: Path) -> bool:
    """Whether another user (``nobody``) can reach `path`: every folder above it is o+x."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in [*path.resolve().parents][:-1])


def unprivileged_folder(preferred: Path) -> Path:
    """`preferred`, unless we are root and ``nobody`` could not reach it (a clone in a private folder):
    then a folder of the same name under the system's temporary folder."""
    if os.geteuid() != 0 or others_can_enter(preferred):
        return preferred
    return Path(tempfile.gettempdir()) / "emberwatch-opensearch" / preferred.name


def distribution(env: Mapping[str, str] | None = None) -> Path:
    """The unpacked distribution (fetched once into the Maven cache, unpacked once next to it)."""
    archive = fetch(OPENSEARCH, env)
    cache = maven_repo(os.environ if env is None else env).parent / "opensearch"  # .cache/opensearch
    home = unprivileged_folder(cache) / f"opensearch-{OPENSEARCH.version}"
    if not (home / "bin" / "opensearch").is_file():
        staging = home.parent / f".unpacking-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(staging)
        for script in (staging / home.name / "bin").iterdir():
            script.chmod(0o755)  # zipfile does not keep the executable bits
        home.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(home, ignore_errors=True)
        (staging / home.name).rename(home)
        shutil.rmtree(staging, ignore_errors=True)
    return home


def command(
    home: Path, instance_dir: Path, port: int, transport_port: int, settings: Mapping[str, str] = ()
) -> tuple[list[str], dict[str, str]]:
    """argv and environment that start a node of `home` on 127.0.0.1:`port` with its files in
    `instance_dir` (made here) and extra node `settings` (``-E key=value``)."""
    config, data, logs = instance_dir / "config", instance_dir / "data", instance_dir / "logs"
    if not config.exists():
        shutil.copytree(home / "config", config)
        options = (config / "jvm.options").read_text()
        options = options.replace("logs/", f"{logs}/").replace("HeapDumpPath=data", f"HeapDumpPath={data}")
        (config / "jvm.options").write_text(options)
    data.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    node_settings = {
        "cluster.name": "emberwatch-local",
        "node.name": "local",
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.port": str(port),
        "transport.port": str(transport_port),
        "path.data": str(data),
        "path.logs": str(logs),
        "action.auto_create_index": "true",
        **dict(settings),
    }
    argv = [str(home / "bin" / "opensearch")]
    for key, value in node_settings.items():
        argv += ["-E", f"{key}={value}"]
    env = {
        **os.environ,
        "OPENSEARCH_JAVA_HOME": str(java_home()),
        "OPENSEARCH_PATH_CONF": str(config),
        "OPENSEARCH_JAVA_OPTS": f"-Xms{HEAP} -Xmx{HEAP}",
    }
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{UNPRIVILEGED_USER}:", str(instance_dir)], check=True)
        argv = ["setpriv", f"--reuid={UNPRIVILEGED_USER}", f"--regid={_group_of(UNPRIVILEGED_USER)}",
                "--clear-groups", *argv]
    return argv, env


def _group_of(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid
