"""Fixtures shared by every suite. Suite-specific fixtures live in each folder's conftest.py."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import free_port, running_server

# Fake credentials so boto3 never looks for real ones; every client in the tests names an endpoint.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


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
