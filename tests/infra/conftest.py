"""Fixtures for the deploy tooling tests: AWS clients on moto_server, a small project tree, a stack."""

from __future__ import annotations

import itertools
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.aws import make_client
from jobs.bushfire import parser_jar
from tests.infra.moto_template import moto_template_body

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
_stack_numbers = itertools.count()


@pytest.fixture(scope="session")
def aws(moto_endpoint: str):
    """Build clients for moto_server the same way the CLI does."""

    def client(service: str):
        return make_client(service, region=REGION, endpoint_url=moto_endpoint)

    return client


@pytest.fixture(scope="session")
def cli_common(moto_endpoint: str) -> list[str]:
    """Arguments every CLI call in the tests takes: moto's endpoint and a region."""
    return ["--region", REGION, "--endpoint-url", moto_endpoint]


@pytest.fixture(scope="session")
def moto_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("templates") / "emberwatch-moto.json"
    path.write_text(moto_template_body(), encoding="utf-8")
    return path


def write_parser_jar(root: Path) -> Path:
    """A stand-in for the jar the install builds: it records the digest of the sources beside it."""
    jvm_dir = root / "jobs" / "bushfire" / "jvm"
    jar = jvm_dir / parser_jar.JAR_NAME
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr(parser_jar.DIGEST_ENTRY, f"{parser_jar.sources_digest(jvm_dir)}\n")
    return jar


def make_project(root: Path) -> Path:
    """Write a project tree shaped like ours: the real pyproject.toml and three small packages."""
    root.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    for package in ("cep", "common", "jobs"):
        (root / package).mkdir()
        (root / package / "__init__.py").write_text(f'"""{package}"""\n')
    (root / "jobs" / "bushfire").mkdir()
    (root / "jobs" / "bushfire" / "__main__.py").write_text("print('bushfire')\n")
    (root / "jobs" / "bushfire" / "patterns.yaml").write_text("threshold: 50\n")
    (root / "jobs" / "bushfire" / "jvm").mkdir()
    (root / "jobs" / "bushfire" / "jvm" / "ParseReading.java").write_text("class ParseReading {}\n")
    write_parser_jar(root)
    (root / "cep" / "__pycache__").mkdir()
    (root / "cep" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "common" / "notes.txt").write_text("not package data\n")
    return root


@pytest.fixture()
def project_root(tmp_path: Path) -> Path:
    """A project tree of our shape that the test may change."""
    return make_project(tmp_path / "project")


@pytest.fixture()
def stack_name() -> Iterator[str]:
    """A fresh stack name per test (all tests share one moto_server)."""
    yield f"ew-test-{next(_stack_numbers)}"
