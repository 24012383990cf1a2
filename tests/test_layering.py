"""Dependencies between our top-level packages point one way: the simulator ships nowhere it is not run.

Checked on the source with `ast`, so an import inside a function (a lazy import) counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
OURS = frozenset(
    {"bench", "cep", "common", "heatmap", "infra", "jobs", "scripts", "simulator", "tests", "tools"}
)

#: What each production package may import of ours besides itself. `common` is the bottom layer;
#: the engine stands alone; the job and the deploy tooling never import the simulator (which is
#: therefore not in the EMR package).
ALLOWED = {
    "common": frozenset(),
    "cep": frozenset(),
    "simulator": frozenset({"common"}),
    "jobs": frozenset({"cep", "common"}),
    "infra": frozenset({"common", "jobs"}),  # it deploys the job: its module, its pinned connector jar
    "heatmap": frozenset(),  # a tool over the JSON Lines files; not shipped with the job
}
#: Files allowed more, and why. `python -m cep.examples` is a demo program that runs the project's
#: one fire-chain factory (jobs.bushfire.patterns) inside a function; nothing else in `cep` uses it.
EXCEPTIONS = {"cep/examples.py": frozenset({"jobs"})}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of the absolute imports in one file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_the_layers_below_it(package: str) -> None:
    files = sorted((REPO_ROOT / package).rglob("*.py"))
    assert files
    wrong = {
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in files
        for name in imported_packages(path) & OURS
        if name != package
        and name not in ALLOWED[package]
        and name not in EXCEPTIONS.get(path.relative_to(REPO_ROOT).as_posix(), ())
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from simulator.events import encode\n    import jobs.bushfire\n")
    assert imported_packages(module) == {"simulator", "jobs"}
