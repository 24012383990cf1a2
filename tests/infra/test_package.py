"""The job package: what goes in, that it is reproducible, and the EMR scripts parse."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.errors import DeployError
from infra.package import EMR_SCRIPTS_DIR, build_package, read_pyproject, runtime_requirements

REPO_ROOT = Path(__file__).resolve().parents[2]


def _zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def test_package_holds_code_requirements_and_scripts_only(project_root: Path) -> None:
    package = build_package(project_root)
    names = set(_zip(package.data).namelist())
    assert {
        "cep/__init__.py",
        "common/__init__.py",
        "jobs/__init__.py",
        "jobs/bushfire/__main__.py",
    } <= names
    assert not [n for n in names if n.startswith("simulator/")]  # the job does not need the simulator
    assert "jobs/bushfire/patterns.yaml" in names  # package data travels with the code
    assert "jobs/bushfire/jvm/ParseReading.java" in names  # the jar is checked against it
    assert "jobs/bushfire/jvm/emberwatch-parse-reading.jar" in names  # built with the project, not on EMR
    assert not [
        n for n in names if "__pycache__" in n or n.endswith((".pyc", ".txt")) and n != "requirements.txt"
    ]
    assert {"requirements.txt", "MANIFEST.json", "emr/bootstrap.sh", "emr/savepoint.sh"} <= names
    assert package.s3_key == f"artifacts/emberwatch-0.1.0-{package.sha256[:12]}.zip"


def test_requirements_are_the_core_dependencies_plus_pyflink(project_root: Path) -> None:
    lines = _zip(build_package(project_root).data).read("requirements.txt").decode().split()
    project = read_pyproject(REPO_ROOT)["project"]
    assert lines == project["dependencies"] + project["optional-dependencies"]["flink"]
    assert any(line.startswith("apache-flink>=1.20") for line in lines)
    assert not any(line.startswith("emberwatch") for line in runtime_requirements(read_pyproject(REPO_ROOT)))


def test_same_source_gives_the_same_bytes_and_a_change_a_new_key(project_root: Path) -> None:
    first, second = build_package(project_root), build_package(project_root)
    assert first.data == second.data
    (project_root / "jobs" / "grid.py").write_text("SIZE = 10\n")
    assert build_package(project_root).s3_key != first.s3_key


def test_a_missing_or_stale_parser_jar_stops_the_build_saying_how_to_build_it(project_root: Path) -> None:
    jvm_dir = project_root / "jobs" / "bushfire" / "jvm"
    (jvm_dir / "ParseReading.java").write_text("class ParseReading { int changed; }\n")
    with pytest.raises(DeployError, match="older than the Java sources.*pip install -e"):
        build_package(project_root)
    (jvm_dir / "emberwatch-parse-reading.jar").unlink()
    with pytest.raises(DeployError, match="is missing.*pip install -e"):
        build_package(project_root)


def test_missing_packages_are_named(project_root: Path) -> None:
    (project_root / "jobs" / "__init__.py").unlink()
    with pytest.raises(DeployError, match="jobs not found"):
        build_package(project_root)


@pytest.mark.parametrize("script", sorted(EMR_SCRIPTS_DIR.glob("*.sh")), ids=lambda p: p.name)
def test_emr_scripts_are_valid_bash(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script.read_text()


def test_the_repository_packages_import_from_the_zip_alone(tmp_path: Path) -> None:
    """What `-pyfs` gives the Python workers: every job module importable from the zip itself,
    without the simulator (which is not in it)."""
    package = build_package(REPO_ROOT)
    archive = tmp_path / "emberwatch-job.zip"
    archive.write_bytes(package.data)
    modules = sorted(
        name[: -len(".py")].replace("/", ".").removesuffix(".__init__")
        for name in package.files
        if name.startswith("jobs/") and name.endswith(".py") and not name.endswith("__main__.py")
    )
    assert "jobs.bushfire.pipeline" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "assert 'simulator' not in loaded, 'a job module imports the simulator'\n"
        "import cep, common, jobs; print(cep.__file__); print(common.__file__); print(jobs.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(archive), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert all(line.startswith(str(archive)) for line in result.stdout.split())
