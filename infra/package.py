"""Build the job package: `cep`, `common`, `jobs` (with the parser's jar) and the requirements the EMR
nodes install.

The simulator stays out: the job depends only on the engine and the shared schema (`common`). The
parser's jar is the one the project's install built (`jobs.bushfire.parser_jar`), so the nodes need no
JDK; a missing or stale jar stops the build with what to do.

The zip is deterministic (sorted entries, fixed timestamps), so its SHA-256 names it: the same source
gives the same S3 key and an upload is skipped when the key already exists. The same zip is the
bootstrap action's install source and the job's `-pyfs` (Python workers import straight from it).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra.errors import DeployError
from jobs.bushfire import parser_jar

PACKAGES = ("cep", "common", "jobs")
# Files of the packages that belong in the zip (code plus the package data pyproject declares).
INCLUDED_SUFFIXES = frozenset({".py", ".yaml", ".json", ".html", ".sh", ".java", ".jar"})
PARSER_JVM_DIR = Path("jobs") / "bushfire" / "jvm"
# Extras of pyproject.toml the job needs on the cluster besides the core dependencies.
RUNTIME_EXTRAS = ("flink",)
EMR_SCRIPTS_DIR = Path(__file__).parent / "emr"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class JobPackage:
    """A built package: its bytes, digest and the S3 key it is stored under."""

    data: bytes
    sha256: str
    version: str
    files: tuple[str, ...]

    @property
    def s3_key(self) -> str:
        return f"artifacts/emberwatch-{self.version}-{self.sha256[:12]}.zip"


def read_pyproject(root: Path) -> dict:
    """Parse the project's pyproject.toml (tomllib on 3.11+, tomli before)."""
    try:
        import tomllib  # type: ignore[import-not-found]
    except ModuleNotFoundError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError as exc:
            raise DeployError("Reading pyproject.toml needs Python 3.11+ or `pip install tomli`.") from exc
    path = root / "pyproject.toml"
    if not path.is_file():
        raise DeployError(f"No pyproject.toml in {root}: run emberwatch-deploy from the repository root.")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def runtime_requirements(pyproject: dict) -> list[str]:
    """Requirement lines for the cluster: core dependencies plus the runtime extras."""
    project = pyproject["project"]
    lines = list(project.get("dependencies", []))
    for extra in RUNTIME_EXTRAS:
        lines.extend(project.get("optional-dependencies", {}).get(extra, []))
    return [line for line in lines if not line.startswith(project["name"])]


def _source_files(root: Path) -> list[tuple[str, Path]]:
    missing = [name for name in PACKAGES if not (root / name / "__init__.py").is_file()]
    if missing:
        raise DeployError(
            f"Package(s) {', '.join(missing)} not found under {root}: run emberwatch-deploy from the "
            "repository root (or pass --project-root)."
        )
    found = []
    for name in PACKAGES:
        for path in sorted((root / name).rglob("*")):
            if path.is_file() and path.suffix in INCLUDED_SUFFIXES and "__pycache__" not in path.parts:
                found.append((path.relative_to(root).as_posix(), path))
    return found


def check_parser_jar(root: Path) -> Path:
    """The parser's jar in the tree, built from the sources beside it."""
    jvm_dir = root / PARSER_JVM_DIR
    jar = jvm_dir / parser_jar.JAR_NAME
    if not jar.is_file():
        raise DeployError(f"{jar} is missing, and the EMR nodes run the job with it: {parser_jar.BUILD_HINT}")
    if not parser_jar.is_current(jar, jvm_dir):
        raise DeployError(f"{jar} is older than the Java sources beside it: {parser_jar.BUILD_HINT}")
    return jar


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_package(root: Path) -> JobPackage:
    """Zip the job's packages, its requirements and the EMR helper scripts.

    Raises
    ------
    DeployError
        When the project root lacks pyproject.toml or one of the packages.
    """
    pyproject = read_pyproject(root)
    version = pyproject["project"]["version"]
    sources = _source_files(root)
    check_parser_jar(root)
    requirements = "\n".join(runtime_requirements(pyproject)) + "\n"
    scripts = sorted(EMR_SCRIPTS_DIR.glob("*.sh"))
    names = [name for name, _ in sources] + ["requirements.txt"] + [f"emr/{p.name}" for p in scripts]
    manifest = {"name": "emberwatch", "version": version, "files": names}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in sources:
            _add(archive, name, path.read_bytes())
        _add(archive, "requirements.txt", requirements.encode())
        for path in scripts:
            _add(archive, f"emr/{path.name}", path.read_bytes(), mode=0o755)
        _add(archive, "MANIFEST.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    data = buffer.getvalue()
    return JobPackage(data, hashlib.sha256(data).hexdigest(), version, tuple(names))


def bootstrap_script() -> bytes:
    """The EMR bootstrap action, uploaded next to the packages."""
    return (EMR_SCRIPTS_DIR / "bootstrap.sh").read_bytes()
