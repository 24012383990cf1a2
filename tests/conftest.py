"""Fixtures shared by every suite. Suite-specific fixtures live in each folder's conftest.py."""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import free_port, running_server

# Fake credentials so boto3 never looks for real ones; every client in the tests names an endpoint.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

# --- Running in parallel (pytest-xdist: `-n 2 --dist loadgroup`, what scripts/test.sh runs) ---------
# A file's tests stay in one worker: several files share one job run between their tests through a
# module-scoped fixture, which a second worker would run again. Files using a costly session server
# are grouped further, so that only one worker starts it. The workers hand out the costliest work
# first, so that the run does not end with one worker on a long Kinesis job while the other waits.
# (Not xdist_group marks: xdist 3.8 records a mark's group in `item._nodeid`, which pytest 9.2 no
# longer reads, so the groups would be lost.)

#: Session fixtures costly enough that every file naming one runs in the same worker (the group name).
ONE_WORKER_FIXTURES = {"opensearch_url": "opensearch-node"}


def _work_unit(root: Path, nodeid: str) -> str:
    """What one worker runs together: the group of a shared-server fixture the test's file names,
    else the file. Read from the file's text, since the scheduler sees node ids only."""
    return _file_unit(root, nodeid.split("::", 1)[0])


@functools.cache
def _file_unit(root: Path, path: str) -> str:
    try:
        text = (root / path).read_text(encoding="utf-8")
    except OSError:
        return path
    return next((group for fixture, group in ONE_WORKER_FIXTURES.items() if fixture in text), path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, order the work units costliest first: Kinesis files and shared-server
    groups, then files with mini-cluster jobs, then the rest (a plain run keeps the collection order)."""
    if not hasattr(config, "workerinput"):
        return

    def unit(item: pytest.Item) -> str:
        return _work_unit(config.rootpath, item.nodeid)

    rank: dict[str, int] = {}
    for item in items:
        if item.get_closest_marker("kinesis") or unit(item) in ONE_WORKER_FIXTURES.values():
            cost = 0
        elif item.get_closest_marker("pyflink"):
            cost = 1
        else:
            cost = 2
        rank[unit(item)] = min(rank.get(unit(item), cost), cost)
    first_seen = {name: index for index, name in reversed(list(enumerate(map(unit, items))))}
    items.sort(key=lambda item: (rank[unit(item)], first_seen[unit(item)]))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` as the work units above, handed out in the workers' (costliest first) order."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _work_unit(config.rootpath, nodeid)

    config.option.loadscopereorder = False  # xdist would put the units with most tests first
    return WorkUnitScheduling(config, log)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `moto_server` on 127.0.0.1 (SNS, SQS, S3, CloudFormation, EMR, ... over real HTTP)."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        pytest.fail("moto_server not found: install the test extra (pip install -e '.[test]')")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with running_server([exe, "-H", "127.0.0.1", "-p", str(port)], port, log_path=log):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def opensearch_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenSearch 2.19 node on 127.0.0.1, started once per session (about 30 s), or the cluster
    at ``OPENSEARCH_URL`` when that is set. Fails (never skips) when the node cannot start."""
    if os.environ.get("OPENSEARCH_URL"):
        yield os.environ["OPENSEARCH_URL"]
        return
    from emberwatch_local import opensearch
    from emberwatch_local.services import SERVICES

    try:
        home = opensearch.distribution()
    except Exception as exc:
        pytest.fail(f"no OpenSearch distribution (run scripts/setup.sh's ensure_opensearch): {exc}")
    port, transport_port = free_port(), free_port()
    # Not under pytest's temporary folder: as root the node runs as `nobody`, who cannot enter it.
    folder = Path(tempfile.mkdtemp(prefix="emberwatch-opensearch-"))
    folder.chmod(0o755)
    argv, env = opensearch.command(home, folder / "node", port, transport_port)
    url = f"http://127.0.0.1:{port}"
    with running_server(argv, port, env=env, log_path=folder / "opensearch.log", timeout_s=180):
        healthy = SERVICES["opensearch"].healthy
        for _ in range(240):
            if healthy(url):
                break
            time.sleep(0.5)
        else:
            log = (folder / "opensearch.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"OpenSearch did not become healthy: {log}")
        yield url
    shutil.rmtree(folder, ignore_errors=True)
