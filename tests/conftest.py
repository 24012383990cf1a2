"""Fixtures shared by every suite. Suite-specific fixtures live in each folder's conftest.py."""

from __future__ import annotations

import os
import shutil
import sys
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
