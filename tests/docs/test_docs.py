"""The docs agree with the repository: the job's options table matches its declarations, every link
in README.md and the docs reaches a file (and heading) that exists, and nothing cites a document
that is not in the repository."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.bushfire.config import OPTIONS

ROOT = Path(__file__).resolve().parents[2]
#: Folders that are not part of the repository's content (virtualenvs, caches, build output).
NOT_CONTENT = {
    ".git", ".venv", "node_modules", ".cache", "out", "build", "dist", "__pycache__", ".pytest_cache",
    ".ruff_cache", ".hypothesis", "demo-out",
}
TEXT_SUFFIXES = {".md", ".py", ".sh", ".java", ".yaml", ".yml", ".toml", ".html", ".json", ".ndjson"}
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
MD_MENTION = re.compile(r"(?<![\w/.-])([\w][\w./-]*\.md)\b")
#: How the missing documents were cited ("CONTRACTS §3", "CONTRACTS section 4").
MISSING_DOC_SECTION = re.compile(r"\bCONTRACTS\b|\bDESIGN\.md\b")


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_job_options", ROOT / "scripts" / "gen_job_options.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _is_content(path: Path) -> bool:
    parts = path.relative_to(ROOT).parts
    return not any(part in NOT_CONTENT or part.endswith(".egg-info") for part in parts)


def _repository_files() -> list[Path]:
    """The repository's files: git's view (tracked, or new and not ignored) when git is there, else a
    walk that skips virtualenvs, caches and build output."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout.decode("utf-8").split("\0")
        return [ROOT / name for name in listed if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        venvs = {cfg.parent for cfg in ROOT.rglob("pyvenv.cfg")}
        return [
            path for path in ROOT.rglob("*")
            if path.is_file() and not any(parent in venvs for parent in path.parents)
        ]


REPOSITORY_FILES = sorted(path.resolve() for path in _repository_files() if _is_content(path))
REPOSITORY_FILES_SET = set(REPOSITORY_FILES)


def _in_repository(path: Path) -> bool:
    """A repository file, or a folder holding one."""
    path = path.resolve()
    return path in REPOSITORY_FILES_SET or any(path in f.parents for f in REPOSITORY_FILES)


def content_files(suffixes: set[str]) -> Iterator[Path]:
    for path in REPOSITORY_FILES:
        if path.suffix in suffixes:
            yield path


def doc_files() -> list[Path]:
    """README.md and every Markdown file a reader is sent to."""
    return [path for path in content_files({".md"})]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", markdown.read_text(encoding="utf-8"), flags=re.S)
    return {github_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


# -- the options table ---------------------------------------------------------------------------------


def test_the_options_table_in_docs_job_md_is_generated_from_the_declarations():
    current = gen.JOB_DOC.read_text(encoding="utf-8")
    assert gen.with_table(current, gen.render_table()) == current, (
        "docs/job.md's options table is out of date: run python scripts/gen_job_options.py"
    )
    assert gen.main(["--check"]) == 0


def test_every_declared_option_has_a_row_with_its_environment_variable_and_default():
    table = gen.render_table()
    rows = [line for line in table.splitlines() if line.startswith("| `--")]
    assert len(rows) == len(OPTIONS) + 1  # and --config
    for option in OPTIONS:
        row = next(r for r in rows if re.match(rf"\| `{re.escape(option.flag)}[` ]", r))
        assert f"`{option.env}`" in row
        assert option.help in row.replace("\\|", "|")
    window = next(r for r in rows if r.startswith("| `--window`"))
    assert "| `10min` |" in window  # durations read back in a unit the flag accepts
    source = next(r for r in rows if r.startswith("| `--source "))
    assert "{kinesis,files,file}" in source and "| `files` |" in source


def test_the_simulators_options_table_has_every_option_with_its_environment_variable():
    from simulator.options import OPTIONS as SIMULATOR_OPTIONS

    document = gen.SIMULATOR_DOC.read_text(encoding="utf-8")
    assert gen.with_table(document, gen.render_table(SIMULATOR_OPTIONS)) == document
    rows = [line for line in gen.render_table(SIMULATOR_OPTIONS).splitlines() if line.startswith("| `--")]
    assert len(rows) == len(SIMULATOR_OPTIONS) + 1  # and --config
    for option in SIMULATOR_OPTIONS:
        row = next(r for r in rows if re.match(rf"\| `{re.escape(option.flag)}[` ]", r))
        assert f"`EMBERWATCH_SIM_{option.dest.upper()}`" in row
    assert any(r.startswith("| `--sink {stdout,file,dir,kinesis,iot}`") for r in rows)


def test_a_table_that_lost_a_row_is_reported_out_of_date():
    current = gen.JOB_DOC.read_text(encoding="utf-8")
    stale = "\n".join(line for line in current.splitlines() if not line.startswith("| `--window`")) + "\n"
    assert gen.with_table(stale, gen.render_table()) != stale


def test_the_generator_refuses_a_document_without_markers():
    with pytest.raises(ValueError, match="options:begin"):
        gen.with_table("# no markers here\n", gen.render_table())


# -- links and references ------------------------------------------------------------------------------


def test_the_docs_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in doc_files()}
    for name in ("README.md", "docs/engine.md", "docs/cep-flink.md", "docs/job.md", "docs/simulator.md",
                 "docs/deployment.md", "docs/benchmarks.md", "bench/results/README.md"):
        assert name in names


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_reaches_a_file_and_heading_in_the_repository(doc: Path):
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not _in_repository(path):
            broken.append(f"{target}: no such file in the repository")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_mentioned_markdown_file_exists():
    """A ``NAME.md`` written anywhere (code comments and docstrings included) names a repository file,
    from the repository root or from the mentioning file's folder."""
    here = Path(__file__).resolve()
    missing = []
    for path in content_files(TEXT_SUFFIXES):
        if path.resolve() == here:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".md":
            text = LINK.sub("", text)  # links are checked above, relative to their document
        for name in set(MD_MENTION.findall(text)):
            if not any(_in_repository(c) for c in (ROOT / name, path.parent / name)):
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, "documents that are not in the repository: " + ", ".join(sorted(missing))


def test_nothing_cites_the_contracts_or_design_documents_that_are_not_in_the_repository():
    here = Path(__file__).resolve()
    cited = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in content_files(TEXT_SUFFIXES)
        if path.resolve() != here
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if MISSING_DOC_SECTION.search(line)
    ]
    assert not cited, "cites CONTRACTS/DESIGN.md, which are not in the repository: " + ", ".join(cited)


# -- examples ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", ["README.md", "docs/engine.md"])
def test_the_first_cep_example_runs_and_finds_the_tiny_fires_paths(doc: str, capsys: pytest.CaptureFixture):
    text = (ROOT / doc).read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    exec(compile(code, doc, "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    paths = {tuple(ast.literal_eval(line)) for line in printed if line.startswith("[")}
    assert ("1", "2", "3", "4", "5") in paths
    assert all(len(set(path)) == 5 for path in paths)  # no sensor twice on a path


# -- benchmark figures ---------------------------------------------------------------------------------

RATE = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?(k|M)?(?:\s?events/s|/s\b|\s?readings/s)")
NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?(k|M)?\b")
SCALE = {None: 1.0, "k": 1e3, "M": 1e6}


def _value(number: str, unit: str | None) -> float:
    return float(number.replace(",", "")) * SCALE[unit]


def test_every_rate_the_docs_quote_is_recorded_in_bench_results():
    """A rate in README.md or docs/ (``56.6k events/s``, ``1.68M events/s``) rounds a figure recorded
    in bench/results/, so the docs only quote measured, dated figures."""
    recorded = {
        _value(m.group(1), m.group(2))
        for path in (ROOT / "bench" / "results").glob("*.md")
        for m in NUMBER.finditer(path.read_text(encoding="utf-8"))
    }
    unrecorded = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for m in RATE.finditer(doc.read_text(encoding="utf-8")):
            number, unit = m.group(1), m.group(2)
            decimals = len(number.split(".")[1]) if "." in number else 0
            half_step = SCALE[unit] / 10**decimals / 2
            if not any(abs(value - _value(number, unit)) <= half_step for value in recorded):
                unrecorded.append(f"{doc.relative_to(ROOT)}: {m.group(0)}")
    assert not unrecorded, "rates not in bench/results/: " + ", ".join(unrecorded)
